//! `skelcam skeleton import`: an ST-GCN trained in PyTorch (the official code, pyskl or mmaction2), its
//! state dict converted to safetensors, turned into a run directory that every skeleton command accepts.
//! The run records the input the model expects (raw coordinates, T frames zero-padded, M persons, no motion
//! channels) and every command feeds it that.

use crate::config::SkeletonTrainConfig;
use crate::data::preprocess::{LengthMode, Preprocess};
use crate::data::{Format, Layout};
use crate::graph::Partition;
use crate::models::import::{convert, Source};
use crate::models::skeleton::ImportInfo;
use crate::models::{weights, SkeletonModel, SkeletonRunConfig};
use crate::run_dir::RunDir;
use crate::{Error, Result};
use std::path::PathBuf;

/// What `skeleton import` reads and writes.
#[derive(Debug, Clone)]
pub struct SkeletonImportOptions {
    /// The state dict saved with safetensors.
    pub weights: PathBuf,
    /// Layout name or JSON file: the joints the model was trained on.
    pub layout: String,
    pub from: Source,
    /// Class names: a count, a comma-separated list, or a file with one name per line.
    pub classes: Option<String>,
    pub strategy: Partition,
    /// Input length T the model is fed; `None`: by source (see [`Defaults`]).
    pub frames: Option<usize>,
    pub length_mode: Option<LengthMode>,
    /// Person slots M.
    pub persons: usize,
    pub preprocess: Option<Preprocess>,
    pub out: PathBuf,
    pub force: bool,
}

/// The class names `spec` gives for a head with `n` rows.
fn class_names(spec: Option<&str>, n: usize) -> Result<Vec<String>> {
    let names: Vec<String> = match spec {
        None => (0..n).map(|i| i.to_string()).collect(),
        Some(s) if s.parse::<usize>().is_ok() => (0..s.parse::<usize>().unwrap_or(0))
            .map(|i| i.to_string())
            .collect(),
        Some(s) if std::path::Path::new(s).is_file() => std::fs::read_to_string(s)
            .map_err(|e| Error::io(s, e))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
        Some(s) => s.split(',').map(|c| c.trim().to_string()).collect(),
    };
    if names.len() != n {
        return Err(Error::invalid(
            "classes",
            spec.unwrap_or(""),
            format!("{n} names, one per row of the checkpoint's classifier"),
        ));
    }
    Ok(names)
}

/// The input each tool's models were trained on, used where the options leave it open.
struct Defaults {
    frames: usize,
    length_mode: LengthMode,
    preprocess: Preprocess,
}

impl Defaults {
    /// The official ST-GCN reads raw coordinates zero-padded to 300 frames; pyskl and mmaction2 3-D models
    /// (25 joints) pre-normalise and sample 100-frame clips over the whole action; their 2-D models read
    /// the stored coordinates.
    fn of(source: Source, joints: usize) -> Defaults {
        match source {
            Source::Pyskl | Source::Mmaction2 => Defaults {
                frames: 100,
                length_mode: LengthMode::Resample,
                preprocess: if joints == 25 {
                    Preprocess::Pyskl3d
                } else {
                    Preprocess::Raw
                },
            },
            Source::Stgcn | Source::Auto => Defaults {
                frames: 300,
                length_mode: LengthMode::Pad,
                preprocess: Preprocess::Raw,
            },
        }
    }
}

pub fn skeleton_import(a: &SkeletonImportOptions) -> Result<()> {
    let layout = Layout::resolve(&a.layout)?;
    let (tensors, _) = weights::load(&a.weights)?;
    let imp = convert(tensors, &a.weights, a.from, layout.num_joints(), a.strategy)?;
    let classes = class_names(a.classes.as_deref(), imp.config.num_class)?;
    let defaults = Defaults::of(imp.source, layout.num_joints());
    let frames = a.frames.unwrap_or(defaults.frames);
    let length_mode = a.length_mode.unwrap_or(defaults.length_mode);
    let preprocess = a.preprocess.unwrap_or(defaults.preprocess);
    let train = SkeletonTrainConfig {
        data: None,
        format: Format::Csv,
        layout: Some(a.layout.clone()),
        model: "imported".into(),
        dropout: Some(imp.config.dropout),
        frames,
        length_mode,
        motion: false,
        persons: Some(a.persons),
        augment: None,
        preprocess,
        ..SkeletonTrainConfig::default()
    };
    let stride = imp.config.temporal_stride();
    if !frames.is_multiple_of(stride) {
        return Err(Error::invalid(
            "frames",
            frames,
            format!("a multiple of the model's temporal stride {stride}"),
        ));
    }
    let run = SkeletonRunConfig {
        skelcam_version: env!("CARGO_PKG_VERSION").into(),
        train,
        model: imp.config.clone(),
        layout,
        classes,
        persons: a.persons,
        ragcn: None,
        ensemble: None,
        imported: Some(ImportInfo {
            source: imp.source,
            weights: a.weights.display().to_string(),
            adjacency_from_file: imp.adjacency_from_file,
        }),
    };
    let model = SkeletonModel::build(&run)?;
    weights::load_into(&model.varmap, &imp.tensors, "", &a.weights)?;
    // Every tensor of the file must have found its parameter.
    let names: Vec<String> = model
        .varmap
        .data()
        .lock()
        .expect("varmap lock")
        .keys()
        .cloned()
        .collect();
    let mut unused: Vec<&String> = imp.tensors.keys().filter(|k| !names.contains(k)).collect();
    unused.sort();
    if let Some(k) = unused.first() {
        return Err(Error::data(
            &a.weights,
            format!(
                "'{k}' (shape {:?}) has no place in the inferred network ({} blocks); is --from right?",
                imp.tensors[*k].dims(),
                imp.config.blocks.len()
            ),
        ));
    }
    let dir = RunDir::create(&a.out, a.force)?;
    dir.write_config(&run)?;
    weights::save(&dir.model(), &weights::varmap_tensors(&model.varmap), None)?;
    eprintln!(
        "imported {} ({:?} checkpoint, {} parameters, {} classes, {} blocks, adjacency {}; input {preprocess:?}, \
         T = {frames} ({length_mode:?}), M = {}) into {}",
        a.weights.display(),
        imp.source,
        model.num_params(),
        run.classes.len(),
        imp.config.blocks.len(),
        if imp.adjacency_from_file {
            "from the file"
        } else {
            "rebuilt from the layout"
        },
        a.persons,
        a.out.display()
    );
    if !imp.ignored.is_empty() {
        eprintln!(
            "ignored {} counter(s) such as {}",
            imp.ignored.len(),
            imp.ignored[0]
        );
    }
    Ok(())
}
