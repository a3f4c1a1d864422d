//! `ragcn train` and `ragcn cam`: RA-GCN streams trained from a baseline run through the one training loop,
//! and one sequence explained stream by stream beside the mask each stream received.

use super::skeleton_data;
use super::train::{train_skeleton_run, Start};
use crate::cam::core::{class_activation, minmax, TimeMap};
use crate::cam::gradcam::to_array4;
use crate::cam::skeleton::Method;
use crate::cam::skeleton::{argmax, model_input, probed_map};
use crate::config::DataSource;
use crate::models::ragcn::{LossKind, MaskUnit, Mode, RagcnConfig};
use crate::models::{Ctx, SkeletonModel, SkeletonRunConfig};
use crate::plot::animation::SkeletonAnimation;
use crate::plot::heatmap::HeatmapFigure;
use crate::plot::save_figure;
use crate::run_dir::RunDir;
use crate::train::skeleton::{load_dataset, load_options};
use crate::train::Metrics;
use crate::{Error, Result};
use ndarray::{Array2, Array3, Axis};
use serde_json::json;
use std::path::PathBuf;

/// How an RA-GCN is trained from a baseline run.
#[derive(Debug, Clone)]
pub struct RagcnTrainOptions {
    /// A finished single-stream run: architecture, data pipeline and every stream's initial weights.
    pub baseline: PathBuf,
    pub data: DataSource,
    pub streams: usize,
    pub mode: Mode,
    /// Mask units whose normalised CAM is at least this.
    pub threshold: Option<f32>,
    /// Mask this fraction of units with the highest CAM (0.2 when neither is given).
    pub top_fraction: Option<f32>,
    pub mask_unit: MaskUnit,
    pub loss: LossKind,
    pub epochs: Option<usize>,
    pub lr: Option<f64>,
    pub seed: Option<u64>,
    /// Mixup's α for the streams; none: off, whatever the baseline used.
    pub mixup: Option<f64>,
}

/// The most streams a run may have: each is a whole ST-GCN.
pub const MAX_STREAMS: usize = 16;

pub fn ragcn_train(start: &Start<RagcnTrainOptions>) -> Result<Metrics> {
    let (a, out, force) = match start {
        Start::New { config, out, force } => (config, out, *force),
        Start::Resume(dir) => return super::train::skeleton_train(&Start::Resume(dir.clone())),
    };
    if !(1..=MAX_STREAMS).contains(&a.streams) {
        return Err(Error::invalid(
            "streams",
            a.streams,
            format!("between 1 and {MAX_STREAMS}"),
        ));
    }
    let base_dir = RunDir::open(&a.baseline, "a skeleton").map_err(|e| match e {
        Error::NotARun { why, .. } => Error::invalid(
            "baseline",
            a.baseline.display(),
            format!("a finished `skeleton train` run (not a skeleton run: {why})"),
        ),
        e => e,
    })?;
    let base: SkeletonRunConfig = base_dir.read_config().map_err(|e| {
        Error::invalid(
            "baseline",
            a.baseline.display(),
            format!("a finished `skeleton train` run (not a skeleton run: {e})"),
        )
    })?;
    if base.ragcn.is_some() || base.ensemble.is_some() {
        return Err(Error::invalid(
            "baseline",
            a.baseline.display(),
            "a single-stream `skeleton train` run, not an RA-GCN run or an ensemble",
        ));
    }
    if !base_dir.is_finished() {
        return Err(Error::UnfinishedRun {
            path: a.baseline.clone(),
            resume: format!("skelcam skeleton train --resume {}", a.baseline.display()),
        });
    }
    let mut cfg = base.train.clone();
    a.data.apply(&mut cfg);
    cfg.epochs = a.epochs.unwrap_or(cfg.epochs);
    cfg.lr = a.lr.unwrap_or(cfg.lr);
    cfg.seed = a.seed.unwrap_or(cfg.seed);
    cfg.mixup = a.mixup.unwrap_or(0.0);
    cfg.validate()?;
    let top_fraction = match (a.threshold, a.top_fraction) {
        (None, None) => Some(0.2),
        (_, q) => q,
    };
    for (name, v) in [("threshold", a.threshold), ("top_fraction", top_fraction)] {
        if let Some(v) = v {
            if !(0.0..=1.0).contains(&v) {
                return Err(Error::invalid(name, v, "in [0, 1]"));
            }
        }
    }
    let dir = RunDir::create(out, force)?;
    let mut ds = load_dataset(&load_options(&cfg))?;
    ds.match_classes(&base.classes, "the data")?;
    let run = SkeletonRunConfig {
        train: cfg,
        ragcn: Some(RagcnConfig {
            mode: a.mode,
            streams: a.streams,
            threshold: a.threshold,
            top_fraction: if a.threshold.is_some() {
                None
            } else {
                top_fraction
            },
            unit: a.mask_unit,
            loss: a.loss,
            baseline: std::fs::canonicalize(&a.baseline)
                .unwrap_or(a.baseline.clone())
                .to_string_lossy()
                .into_owned(),
        }),
        ..base
    };
    dir.write_config(&run)?;
    train_skeleton_run(&run, &ds, &dir)
}

/// One sequence explained by every stream of an RA-GCN run.
#[derive(Debug, Clone)]
pub struct RagcnCamOptions {
    pub run: PathBuf,
    /// One sequence file; without it, the first test sample.
    pub input: Option<PathBuf>,
    pub data: DataSource,
    pub out: PathBuf,
    /// Write one animated skeleton per stream (`skeleton_stream{s}.gif`).
    pub gif: bool,
    /// The explanation method of every stream.
    pub method: Method,
    /// Score-CAM's masked inputs and Ablation-CAM's feature maps per forward pass.
    pub batch: usize,
}

/// `skelcam ragcn cam`: for one sequence, each stream's CAM (for its own prediction, on the input it saw)
/// beside the mask it received, as joint × frame panels of the first present person (`ragcn_cam.png`), and
/// the numbers in `ragcn_cam.json`.
pub fn ragcn_cam(a: &RagcnCamOptions) -> Result<()> {
    let model = SkeletonModel::load(&a.run)?;
    let r = model.run.ragcn.clone().ok_or_else(|| Error::NotARun {
        path: a.run.clone(),
        kind: "an RA-GCN",
        why: "it has a single stream".into(),
    })?;
    let seq = match &a.input {
        Some(p) => {
            skeleton_data::read_input(p, a.data.format.unwrap_or(model.run.train.format), &model)?
        }
        None => {
            let (ds, test) = skeleton_data::load_test(&model, &a.data)?;
            let first = *test
                .first()
                .ok_or_else(|| Error::usage("the test split is empty"))?;
            ds.samples[first].clone()
        }
    };
    let (x, _, _) = model_input(&model, &seq)?;
    let out = model.ragcn_forward(&r, &x, None, &mut Ctx::eval())?;
    let (_, _, t_in, v, m) = x.dims5()?;
    let resampled = model.run.train.length_mode == crate::data::preprocess::LengthMode::Resample;
    let frames = if resampled {
        seq.frames()
    } else {
        seq.frames().min(t_in)
    };
    let present: Vec<bool> = (0..m)
        .map(|p| {
            x.narrow(4, p, 1)
                .and_then(|t| t.abs()?.sum_all()?.to_scalar::<f32>())
                .unwrap_or(0.0)
                > 0.0
        })
        .collect();
    let person = present.iter().position(|&p| p).unwrap_or(0);
    let coords = seq.data.slice_axis(Axis(1), (0..frames).into()).to_owned();
    std::fs::create_dir_all(&a.out).map_err(|e| Error::io(&a.out, e))?;
    let keep = vec![true; m];
    let mut panels: Vec<(String, Array2<f32>)> = Vec::new();
    let mut doc = Vec::new();
    for (s, net) in model.streams().iter().enumerate() {
        let xs = match &out.masks[s] {
            Some(k) => x.broadcast_mul(k)?,
            None => x.clone(),
        };
        let f = net.features(&xs, &mut Ctx::eval())?;
        let logits: Vec<f32> = out.logits[s].squeeze(0)?.to_vec1()?;
        let class = argmax(&logits);
        let (w, _) = net.head_params()?;
        let w_c = ndarray::Array1::from(w.narrow(0, class, 1)?.squeeze(0)?.to_vec1::<f32>()?);
        let mut cam = class_activation(to_array4(&f.squeeze(0)?)?.view(), w_c.view());
        let tf = cam.dim().0;
        if a.method != Method::Cam {
            let target = (class, logits[class]);
            cam = probed_map(net, &xs, &f, &w_c, target, a.method, a.batch)?;
        }
        let time = TimeMap {
            frames,
            input_frames: t_in,
            feature_frames: tf,
            stride: t_in / tf,
            resampled,
        };
        let shown = minmax(&time.to_frames(&cam), &keep).0;
        if let Some(k) = &out.masks[s] {
            let hidden: Vec<f32> = k.squeeze(0)?.squeeze(0)?.flatten_all()?.to_vec1()?;
            let arr =
                Array3::from_shape_vec((t_in, v, m), hidden.iter().map(|h| 1.0 - h).collect())
                    .map_err(|e| Error::Other(e.to_string()))?;
            let mt = TimeMap {
                frames,
                input_frames: t_in,
                feature_frames: t_in,
                stride: 1,
                resampled,
            };
            panels.push((
                format!("stream {}: hidden input", s + 1),
                mt.to_frames(&arr).index_axis(Axis(2), person).to_owned(),
            ));
        }
        panels.push((
            format!(
                "stream {}: {}, {}",
                s + 1,
                a.method.label(),
                model.run.classes[class]
            ),
            shown.index_axis(Axis(2), person).to_owned(),
        ));
        if a.gif {
            SkeletonAnimation {
                layout: &model.run.layout,
                coords: &coords,
                importance: &shown,
                persons_present: &present,
                label: format!("stream {}: {}", s + 1, model.run.classes[class]),
                delay_ms: crate::plot::animation::FRAME_MS,
            }
            .write(&a.out.join(format!("skeleton_stream{}.gif", s + 1)))?;
        }
        doc.push(json!({"stream": s + 1, "predicted_class": model.run.classes[class], "masked_fraction": out.masked_fraction[s]}));
    }
    let fig = HeatmapFigure {
        title: format!("{}: RA-GCN streams (person {})", seq.name, person + 1),
        joints: model.run.layout.joints.clone(),
        panels,
        range: (0.0, 1.0),
        bar_label: "CAM (min-max) / hidden (1)".into(),
        x_desc: "frame".into(),
    };
    save_figure(&fig, &a.out.join("ragcn_cam.png"), None)?;
    crate::io::write_json(
        &a.out.join("ragcn_cam.json"),
        &json!({"schema_version": super::SCHEMA_VERSION, "sample": seq.name, "streams": doc}),
    )?;
    println!(
        "wrote ragcn_cam.png and ragcn_cam.json to {}",
        a.out.display()
    );
    Ok(())
}
