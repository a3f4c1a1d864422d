//! Data: labelled image sets (`images`, `augment`, `synth_images`) and skeleton data: the in-memory sequence type, dataset loading for every supported format, and its submodules.
//!
//! A sequence holds its coordinates as an `ndarray` of shape **(C, T, V, M)**: channels (x, y, z),
//! frames, joints, persons. Batches given to the models are **(N, C, T, V, M)**.

pub mod augment;
pub mod csv;
pub mod ctrgcn_npz;
pub mod images;
pub mod kinetics;
pub mod layout;
pub mod mix;
pub mod modality;
pub mod msr;
pub mod ntu;
pub mod perturb;
pub mod pickle;
pub mod prenorm3d;
pub mod preprocess;
pub mod pyskl;
pub mod split;
pub mod stgcn_npy;
pub mod synth;
pub mod synth_images;
pub mod synth_scene;
pub mod text;

pub use layout::Layout;

use crate::{Error, Result};
use ndarray::Array4;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The skeleton data formats skelcam reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// NTU RGB+D `.skeleton` files (S001C001P001R001A001.skeleton).
    Ntu,
    /// MSR Action3D `aAA_sSS_eEE_skeleton3D.txt` files.
    Msr,
    /// The generic documented format: `labels.csv` + one CSV per sequence.
    Csv,
    /// The built-in synthetic generator (no files needed).
    Synthetic,
    /// ST-GCN / 2s-AGCN preprocessed files: `{train,val}_data.npy` and `{train,val}_label.pkl`.
    #[serde(rename = "stgcn-npy")]
    StgcnNpy,
    /// A pyskl / mmaction2 annotation pickle (`split` and `annotations`, or a bare list).
    Pyskl,
    /// CTR-GCN's NTU archive: `x_train`/`x_test` N × T × 150 and one-hot `y_train`/`y_test`.
    #[serde(rename = "ctrgcn-npz")]
    CtrgcnNpz,
    /// Kinetics-skeleton JSON: `kinetics_{train,val}/` and `kinetics_{train,val}_label.json`.
    #[serde(rename = "kinetics-json")]
    KineticsJson,
}

impl Format {
    pub fn default_layout(self) -> &'static str {
        match self {
            Format::Ntu | Format::StgcnNpy | Format::CtrgcnNpz => "ntu25",
            Format::Pyskl => "ntu25-pyskl",
            Format::KineticsJson => "openpose18",
            Format::Msr => "msr20",
            Format::Csv | Format::Synthetic => "kinect20",
        }
    }
}

/// One skeleton sequence as read from disk (or generated).
#[derive(Debug, Clone)]
pub struct Sequence {
    /// File stem or generated id, unique within a dataset.
    pub name: String,
    pub label: usize,
    pub subject: u32,
    pub camera: Option<u32>,
    pub setup: Option<u32>,
    /// Coordinates, shape (C, T, V, M). Absent persons / frames are all zero.
    pub data: Array4<f32>,
}

impl Sequence {
    /// A sequence with a name and a label only (no subject, camera or setup: files of other tools).
    pub fn labelled(name: String, label: usize, data: Array4<f32>) -> Self {
        Sequence {
            name,
            label,
            subject: 0,
            camera: None,
            setup: None,
            data,
        }
    }

    pub fn frames(&self) -> usize {
        self.data.shape()[1]
    }
    /// Whether person `m` has any non-zero coordinate in frame `t`.
    pub fn present(&self, t: usize, m: usize) -> bool {
        let s = self.data.shape();
        (0..s[0]).any(|c| (0..s[2]).any(|v| self.data[[c, t, v, m]] != 0.0))
    }
}

/// A loaded dataset: class names, layout, sequences, and what was skipped on the way.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub classes: Vec<String>,
    pub layout: Layout,
    pub samples: Vec<Sequence>,
    /// Files that could not be used, with the reason (only with `--skip-bad`, or empty-skeleton files).
    pub skipped: Vec<(PathBuf, String)>,
    /// Non-fatal remarks (e.g. empty frames dropped).
    pub warnings: Vec<String>,
    /// For synthetic data: the ground-truth discriminative joints of each class.
    pub gt_joints: Option<Vec<Vec<usize>>>,
    /// Named parts of the samples, for formats whose files come split (`train` / `val` files, the `split`
    /// lists of a pyskl pickle); empty for formats split by subject or camera.
    pub parts: BTreeMap<String, Vec<usize>>,
    /// For data loaded as an index (`LoadOptions::keep_data` false, formats of one file per sequence): the
    /// file of each sample, whose coordinates [`read_file`] reads again when the sample is needed. Empty
    /// when every sample's coordinates are in memory.
    pub files: Vec<PathBuf>,
}

impl Dataset {
    /// A dataset whose files come split: the named parts in order, classes numbered up to the largest label.
    pub(crate) fn from_parts(
        layout: &Layout,
        parts: Vec<(&str, Vec<Sequence>)>,
        warnings: Vec<String>,
    ) -> Self {
        let mut ds = Dataset {
            classes: vec![],
            layout: layout.clone(),
            samples: vec![],
            skipped: vec![],
            warnings,
            gt_joints: None,
            parts: BTreeMap::new(),
            files: vec![],
        };
        for (name, samples) in parts {
            let start = ds.samples.len();
            ds.samples.extend(samples);
            ds.parts
                .insert(name.to_string(), (start..ds.samples.len()).collect());
        }
        let classes = ds.samples.iter().map(|s| s.label + 1).max().unwrap_or(0);
        ds.classes = (0..classes).map(|i| i.to_string()).collect();
        ds
    }

    /// Check that the data has the model's `classes`. Files that number their classes (0, 1, …, as the Python
    /// tools' files do) take the model's names, as long as every number is one of its classes; named classes
    /// map onto the model's by name (any order, any subset), and a name the model lacks is an error.
    pub fn match_classes(&mut self, classes: &[String], what: &str) -> Result<()> {
        let numbered = self
            .classes
            .iter()
            .enumerate()
            .all(|(i, c)| *c == i.to_string());
        if numbered && self.classes.len() <= classes.len() {
            self.classes = classes.to_vec();
        }
        // Named classes in another order, or some of the model's classes only: labels follow the names.
        let by_name = (!numbered)
            .then(|| images::class_map(&self.classes, classes))
            .flatten();
        if let Some(index) = by_name {
            for s in &mut self.samples {
                s.label = index[s.label];
            }
            if let Some(gt) = self.gt_joints.take() {
                let mut by_model = vec![vec![]; classes.len()];
                for (i, joints) in gt.into_iter().enumerate() {
                    by_model[index[i]] = joints;
                }
                self.gt_joints = Some(by_model);
            }
            self.classes = classes.to_vec();
        }
        if self.classes != classes {
            return Err(Error::ClassMismatch {
                what: what.into(),
                data: self.classes.clone(),
                model: classes.to_vec(),
            });
        }
        Ok(())
    }
}

/// What to load and how.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub format: Format,
    /// A folder (ntu, msr, csv) or a synthetic preset name.
    pub data: Option<String>,
    /// Layout name or JSON path; `None` means the format's default.
    pub layout: Option<String>,
    pub skip_bad: bool,
    /// Maximum persons per sequence (M).
    pub max_persons: usize,
    /// Seed for the synthetic generator.
    pub seed: u64,
    /// What is done to each sequence once it is read.
    pub preprocess: preprocess::Preprocess,
    /// False: formats of one file per sequence (msr, ntu, csv) are read and checked file by file as usual,
    /// but each sample keeps only its name, label and ids (no frames) and its file in [`Dataset::files`], so
    /// memory does not grow with the dataset. Other formats are always read whole.
    pub keep_data: bool,
}

/// How the per-file readers treat files: skip bad ones or stop, keep coordinates or only the index.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    pub skip_bad: bool,
    pub keep_data: bool,
}

/// Outcome of reading one file: a sequence, or a file with no skeleton in it (skipped with a warning).
pub enum ReadOutcome {
    Sequence(Sequence, Vec<String>),
    NoSkeleton(String),
}

pub fn load(opts: &LoadOptions) -> Result<Dataset> {
    let layout = Layout::resolve(
        opts.layout
            .as_deref()
            .unwrap_or(opts.format.default_layout()),
    )?;
    if opts.format == Format::Synthetic {
        let preset = opts.data.as_deref().unwrap_or("default");
        return synth::generate(&synth::SynthConfig::preset(preset, opts.seed)?, &layout);
    }
    let dir = PathBuf::from(opts.data.as_deref().ok_or_else(|| {
        Error::invalid(
            "data",
            "nothing",
            format!("a dataset folder for the {:?} format", opts.format).to_lowercase(),
        )
    })?);
    if matches!(opts.format, Format::Pyskl | Format::CtrgcnNpz) {
        if !dir.is_file() {
            return Err(Error::invalid(
                "data",
                dir.display(),
                "a data file (.pkl or .npz)",
            ));
        }
    } else if !dir.is_dir() {
        return Err(Error::invalid(
            "data",
            dir.display(),
            "an existing dataset folder",
        ));
    }
    let how = Reading {
        skip_bad: opts.skip_bad,
        keep_data: opts.keep_data,
    };
    match opts.format {
        Format::Msr => msr::load_dir(&dir, &layout, how),
        Format::Ntu => ntu::load_dir(&dir, &layout, how, opts.max_persons),
        Format::Csv => csv::load_dir(&dir, &layout, how, opts.max_persons),
        Format::StgcnNpy => stgcn_npy::load_dir(&dir, &layout, opts.max_persons),
        Format::Pyskl => pyskl::load_file(&dir, &layout, opts.max_persons),
        Format::CtrgcnNpz => ctrgcn_npz::load_file(&dir, &layout, opts.max_persons),
        Format::KineticsJson => kinetics::load_dir(&dir, &layout, opts.max_persons),
        Format::Synthetic => unreachable!(),
    }
}

/// Read one sequence file of a format with a file per sequence (msr, ntu, csv). A CSV sequence's label and
/// subject are in `labels.csv`, not in the file: both are 0 here.
pub fn read_file(
    path: &Path,
    format: Format,
    layout: &Layout,
    max_persons: usize,
) -> Result<ReadOutcome> {
    match format {
        Format::Msr => msr::read_file(path, layout),
        Format::Ntu => ntu::read_file(path, layout, max_persons),
        Format::Csv => csv::read_file(path, layout, max_persons),
        other => Err(Error::invalid(
            "format",
            format!("{other:?}").to_lowercase(),
            "a format with one file per sequence (msr, ntu or csv)",
        )),
    }
}

/// Shared loop for per-file readers: read every file, keep good sequences (or, without `keep_data`, their
/// index entries), and either fail on the first bad file or (with `skip_bad`) record it and go on.
pub(crate) fn collect_files<F>(files: Vec<PathBuf>, how: Reading, mut read: F) -> Result<Collected>
where
    F: FnMut(&Path) -> Result<ReadOutcome>,
{
    let mut out = Collected::default();
    let bar = crate::progress::bar(files.len() as u64, "reading");
    for f in files {
        match read(&f) {
            Ok(ReadOutcome::Sequence(mut s, w)) => {
                out.warnings.extend(w);
                if !how.keep_data {
                    let d = s.data.shape();
                    s.data = Array4::zeros((d[0], 0, d[2], d[3]));
                    out.files.push(f);
                }
                out.samples.push(s);
            }
            Ok(ReadOutcome::NoSkeleton(why)) => {
                out.warnings
                    .push(format!("{}: skipped: {why}", f.display()));
                out.skipped.push((f, why));
            }
            Err(e) if how.skip_bad => out.skipped.push((f, e.to_string())),
            Err(e) => return Err(e),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(out)
}

#[derive(Default)]
pub(crate) struct Collected {
    pub samples: Vec<Sequence>,
    /// Each sample's file, when the coordinates were not kept.
    pub files: Vec<PathBuf>,
    pub skipped: Vec<(PathBuf, String)>,
    pub warnings: Vec<String>,
}

/// Files in `dir` whose name satisfies `keep`, sorted; an error naming the folder if there are none.
pub(crate) fn list_files(
    dir: &Path,
    what: &str,
    keep: impl Fn(&str) -> bool,
) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        // Named like a data file but not a regular file (a folder, a FIFO, a device, a broken link): kept, so
        // that reading it fails with its name (or lists it with --skip-bad) instead of dropping it unseen.
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(&keep))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::data(
            dir,
            format!("no {what} found in this folder; check --data and --format"),
        ));
    }
    Ok(files)
}

/// Parse a float field, rejecting non-numbers and NaN/Inf with the file, line and field named.
pub(crate) fn parse_coord(tok: &str, path: &Path, line: usize, field: &str) -> Result<f32> {
    let v: f32 = tok
        .parse()
        .map_err(|_| Error::at_field(path, line, field, format!("'{tok}' is not a number")))?;
    if !v.is_finite() {
        return Err(Error::at_field(
            path,
            line,
            field,
            format!("'{tok}' is not a finite coordinate (NaN/Inf)"),
        ));
    }
    Ok(v)
}

/// Drop frames in which no person is present; returns the kept data and how many frames were dropped.
pub(crate) fn drop_empty_frames(data: Array4<f32>) -> (Array4<f32>, usize) {
    let t = data.shape()[1];
    let keep: Vec<usize> = (0..t)
        .filter(|&i| {
            data.index_axis(ndarray::Axis(1), i)
                .iter()
                .any(|&x| x != 0.0)
        })
        .collect();
    let dropped = t - keep.len();
    if dropped == 0 {
        return (data, 0);
    }
    (data.select(ndarray::Axis(1), &keep), dropped)
}
