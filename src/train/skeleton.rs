//! Skeleton training and inference: data preparation, batching, the epoch loop with atomic per-epoch
//! checkpoints and exact resume, evaluation, and the run directory contract
//! (`config.json`, `checkpoint.safetensors`, `model.safetensors`, `metrics.json`, `curves.png`, `confusion.png`).

use super::checkpoint;
use super::metrics::{evaluate, Evaluation};
use super::optim::Optimizer;
use super::run::{crash_for_testing, finite_loss, log_epoch, restore, save_checkpoint, TrainState};
use super::schedule::Schedule;
use crate::config::SkeletonTrainConfig;
use crate::data::preprocess::{normalize, prepare, with_motion};
use crate::data::{self, split, Dataset, Layout, LoadOptions};
use crate::models::{init, Ctx, Stgcn, StgcnConfig};
use crate::rng::{permutation, rng_for};
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// What `config.json` of a skeleton run holds: enough to rebuild the model and its data pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunConfig {
    pub skelcam_version: String,
    pub train: SkeletonTrainConfig,
    pub model: StgcnConfig,
    pub layout: Layout,
    pub classes: Vec<String>,
    pub persons: usize,
    /// Present for an RA-GCN run (several streams).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ragcn: Option<crate::models::ragcn::RagcnConfig>,
}

/// A built ST-GCN (or the streams of an RA-GCN) with its variables.
pub struct SkeletonModel {
    pub varmap: VarMap,
    /// The network; for an RA-GCN run, stream 1 (the one that sees the whole skeleton).
    pub net: Stgcn,
    /// RA-GCN streams 2..S (empty for a plain ST-GCN).
    pub extra: Vec<Stgcn>,
    /// RA-GCN official mode: the stored input mask (T, V, M) of streams 2..S.
    pub masks: Vec<candle_core::Var>,
    pub run: RunConfig,
}

impl SkeletonModel {
    pub fn build(run: &RunConfig) -> Result<Self> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let l = &run.layout;
        let streams = run.ragcn.as_ref().map(|r| r.streams).unwrap_or(1);
        let mut nets = Vec::new();
        for s in 0..streams {
            let vbs = if run.ragcn.is_some() {
                vb.pp(format!("stream{s}"))
            } else {
                vb.clone()
            };
            nets.push(Stgcn::new(
                &run.model,
                l.num_joints(),
                &l.edges,
                l.center,
                vbs,
            )?);
        }
        let mut masks = Vec::new();
        if let Some(r) = run
            .ragcn
            .as_ref()
            .filter(|r| r.mode == crate::models::ragcn::Mode::Official)
        {
            for s in 1..r.streams {
                let shape = (run.train.frames, l.num_joints(), run.persons);
                let t = vb.pp(format!("stream{s}")).get_with_hints(
                    shape,
                    "input_mask",
                    candle_nn::Init::Const(1.0),
                )?;
                masks.push(candle_core::Var::from_tensor(&t)?);
            }
        }
        init::seeded_init(&varmap, run.train.seed)?;
        let net = nets.remove(0);
        Ok(SkeletonModel {
            varmap,
            net,
            extra: nets,
            masks,
            run: run.clone(),
        })
    }

    pub fn streams(&self) -> Vec<&Stgcn> {
        std::iter::once(&self.net)
            .chain(self.extra.iter())
            .collect()
    }

    /// Fused logits (the sum over streams for RA-GCN; test-time masks from each stream's prediction).
    pub fn logits(&self, x: &Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        match &self.run.ragcn {
            None => Ok(self.net.forward(x, ctx)?),
            Some(r) => Ok(sum_all(&self.ragcn_forward(r, x, None, ctx)?.logits)?),
        }
    }

    /// Training loss, fused logits and (RA-GCN) the fraction of the input hidden from each stream.
    pub fn train_loss(
        &self,
        x: &Tensor,
        y: &[usize],
        ctx: &mut Ctx,
    ) -> Result<(Tensor, Tensor, Vec<f64>)> {
        let yt = Tensor::from_vec(
            y.iter().map(|&l| l as u32).collect::<Vec<_>>(),
            y.len(),
            &Device::Cpu,
        )?;
        match &self.run.ragcn {
            None => {
                let logits = self.net.forward(x, ctx)?;
                Ok((
                    candle_nn::loss::cross_entropy(&logits, &yt)?,
                    logits,
                    vec![],
                ))
            }
            Some(r) => {
                let out = self.ragcn_forward(r, x, Some(y), ctx)?;
                let fused = sum_all(&out.logits)?;
                let mut loss = candle_nn::loss::cross_entropy(&fused, &yt)?;
                if r.loss == crate::models::ragcn::LossKind::V2 {
                    for l in &out.logits {
                        loss = (loss + candle_nn::loss::cross_entropy(l, &yt)?)?;
                    }
                }
                Ok((loss, fused, out.masked_fraction))
            }
        }
    }

    /// The streams' outputs in the run's mode (official mode updates the stored masks when `y` is given).
    pub fn ragcn_forward(
        &self,
        r: &crate::models::ragcn::RagcnConfig,
        x: &Tensor,
        y: Option<&[usize]>,
        ctx: &mut Ctx,
    ) -> Result<crate::models::ragcn::StreamsOutput> {
        use crate::models::ragcn::{forward, forward_official, Mode};
        Ok(match r.mode {
            Mode::PerSample => forward(&self.streams(), r, x, y, ctx)?,
            Mode::Official => forward_official(&self.streams(), r, &self.masks, x, y, ctx)?,
        })
    }

    /// Initialise every RA-GCN stream with the weights of a `skeleton train` run.
    pub fn load_baseline(&self, dir: &Path) -> Result<()> {
        let path = dir.join("model.safetensors");
        let (tensors, _) = checkpoint::load(&path)?;
        // "streamS.X" takes the baseline's "X"; official-mode mask buffers are not in a baseline.
        checkpoint::load_mapped(&self.varmap, &tensors, &path, |name| {
            let (_, rest) = name.split_once('.')?;
            (name.starts_with("stream") && !name.ends_with("input_mask")).then(|| rest.to_string())
        })
    }

    /// Load a finished (or checkpointed) run directory for inference.
    pub fn load(run_dir: &Path) -> Result<Self> {
        let cfg_path = run_dir.join("config.json");
        if !cfg_path.is_file() {
            return Err(Error::usage(format!(
                "{} is not a skeleton run directory (no config.json)",
                run_dir.display()
            )));
        }
        let run: RunConfig = crate::io::read_json(&cfg_path)?;
        let m = Self::build(&run)?;
        let (path, prefix) = if run_dir.join("model.safetensors").is_file() {
            (run_dir.join("model.safetensors"), "")
        } else if run_dir.join("checkpoint.safetensors").is_file() {
            (run_dir.join("checkpoint.safetensors"), "model.")
        } else {
            return Err(Error::usage(format!(
                "{} holds no model.safetensors or checkpoint yet",
                run_dir.display()
            )));
        };
        let (tensors, _) = checkpoint::load(&path)?;
        checkpoint::load_into(&m.varmap, &tensors, prefix, &path)?;
        Ok(m)
    }

    pub fn num_params(&self) -> usize {
        init::num_trainable(&self.varmap)
    }
}

/// Load, normalise and report a dataset.
pub fn load_dataset(opts: &LoadOptions) -> Result<Dataset> {
    let mut ds = data::load(opts)?;
    for w in ds.warnings.iter().take(5) {
        eprintln!("warning: {w}");
    }
    if ds.warnings.len() > 5 {
        eprintln!(
            "warning: ... and {} more such warnings",
            ds.warnings.len() - 5
        );
    }
    if !ds.skipped.is_empty() {
        eprintln!("skipped {} file(s):", ds.skipped.len());
        for (p, why) in &ds.skipped {
            eprintln!("  {}: {why}", p.display());
        }
    }
    if ds.samples.is_empty() {
        return Err(Error::usage("no usable sequence was loaded"));
    }
    let layout = ds.layout.clone();
    for s in ds.samples.iter_mut() {
        normalize(s, &layout);
    }
    Ok(ds)
}

pub fn load_options(cfg: &SkeletonTrainConfig) -> LoadOptions {
    LoadOptions {
        format: cfg.format,
        data: cfg.data.clone(),
        layout: cfg.layout.clone(),
        skip_bad: cfg.skip_bad,
        max_persons: cfg.persons.unwrap_or(2),
        seed: cfg.seed,
    }
}

/// A batch (N, C, T, V, M) and its labels; augmented when `aug_rng` is given.
pub fn make_batch(
    ds: &Dataset,
    idx: &[usize],
    run: &RunConfig,
    mut aug_rng: Option<&mut rand::rngs::StdRng>,
) -> Result<(Tensor, Vec<usize>)> {
    let t = &run.train;
    let mut buf = Vec::new();
    let mut labels = Vec::with_capacity(idx.len());
    let mut shape = (0, 0, 0, 0);
    for &i in idx {
        let s = &ds.samples[i];
        let aug = match (&t.augment, aug_rng.as_deref_mut()) {
            (Some(a), Some(r)) => Some((a, r)),
            _ => None,
        };
        let (arr, _) = prepare(s, t.frames, run.persons, t.length_mode, aug);
        let arr = if t.motion { with_motion(&arr) } else { arr };
        shape = arr.dim();
        buf.extend(arr.iter().copied());
        labels.push(s.label);
    }
    let x = Tensor::from_vec(
        buf,
        (idx.len(), shape.0, shape.1, shape.2, shape.3),
        &Device::Cpu,
    )?;
    Ok((x, labels))
}

/// Eval-mode logits for the samples `idx`, in batches.
pub fn predict(
    model: &SkeletonModel,
    ds: &Dataset,
    idx: &[usize],
) -> Result<(Vec<Vec<f32>>, Vec<usize>, f64)> {
    predict_perturbed(model, ds, idx, None)
}

/// [`predict`] with an input perturbation (multiplier, addend) applied to every batch.
pub fn predict_perturbed(
    model: &SkeletonModel,
    ds: &Dataset,
    idx: &[usize],
    pattern: Option<&(Tensor, Tensor)>,
) -> Result<(Vec<Vec<f32>>, Vec<usize>, f64)> {
    let mut logits = Vec::new();
    let mut labels = Vec::new();
    let mut loss_sum = 0f64;
    for chunk in idx.chunks(64) {
        let (x, y) = make_batch(ds, chunk, &model.run, None)?;
        let x = match pattern {
            Some(p) => crate::data::perturb::apply(&x, p)?,
            None => x,
        };
        let out = model.logits(&x, &mut Ctx::eval())?;
        let yt = Tensor::from_vec(
            y.iter().map(|&l| l as u32).collect::<Vec<_>>(),
            y.len(),
            &Device::Cpu,
        )?;
        loss_sum +=
            candle_nn::loss::cross_entropy(&out, &yt)?.to_scalar::<f32>()? as f64 * y.len() as f64;
        logits.extend(out.to_vec2::<f32>()?);
        labels.extend(y);
    }
    Ok((logits, labels, loss_sum / idx.len().max(1) as f64))
}

pub fn evaluate_split(model: &SkeletonModel, ds: &Dataset, idx: &[usize]) -> Result<Evaluation> {
    evaluate_perturbed(model, ds, idx, None)
}

pub fn evaluate_perturbed(
    model: &SkeletonModel,
    ds: &Dataset,
    idx: &[usize],
    pattern: Option<&(Tensor, Tensor)>,
) -> Result<Evaluation> {
    let (logits, labels, loss) = predict_perturbed(model, ds, idx, pattern)?;
    Ok(evaluate(&logits, &labels, model.run.classes.len(), loss))
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EpochRecord {
    pub epoch: usize,
    pub lr: f64,
    pub train_loss: f64,
    pub train_top1: f64,
    pub test_loss: Option<f64>,
    pub test_top1: Option<f64>,
    pub test_top5: Option<f64>,
    pub seconds: f64,
    /// RA-GCN: mean fraction of the input hidden from each stream during this epoch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masked_fraction: Vec<f64>,
}

/// The contents of `metrics.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metrics {
    pub test_top1: f64,
    pub test_top5: f64,
    pub test_loss: f64,
    pub train_top1: f64,
    pub epochs: usize,
    pub classes: Vec<String>,
    pub seconds: f64,
    pub params: usize,
    pub train_samples: usize,
    pub test_samples: usize,
    pub per_class: Vec<Option<f64>>,
    pub confusion: Vec<Vec<usize>>,
    pub skipped_files: Vec<String>,
    pub history: Vec<EpochRecord>,
    /// RA-GCN: test top-1 of each stream alone (its logits only; its input masked by the earlier streams).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streams_top1: Option<Vec<f64>>,
}

/// Resolve the run configuration (model preset, persons) for a loaded dataset.
pub fn resolve_run(cfg: &SkeletonTrainConfig, ds: &Dataset) -> Result<RunConfig> {
    let persons = cfg.persons.unwrap_or_else(|| {
        ds.samples
            .iter()
            .map(|s| s.data.shape()[3])
            .max()
            .unwrap_or(1)
            .clamp(1, 2)
    });
    let mut model =
        StgcnConfig::preset(&cfg.model, if cfg.motion { 6 } else { 3 }, ds.classes.len())
            .map_err(Error::usage)?;
    if let Some(p) = cfg.dropout {
        model.dropout = p;
    }
    let stride = model.temporal_stride();
    if cfg.frames % stride != 0 {
        return Err(Error::usage(format!(
            "frames = {} must be a multiple of model {}'s temporal stride {stride}",
            cfg.frames, cfg.model
        )));
    }
    Ok(RunConfig {
        skelcam_version: env!("CARGO_PKG_VERSION").into(),
        train: cfg.clone(),
        model,
        layout: ds.layout.clone(),
        classes: ds.classes.clone(),
        persons,
        ragcn: None,
    })
}

/// Train from scratch into `out` (which must be new or empty, unless `force`).
pub fn train(cfg: &SkeletonTrainConfig, out: &Path, force: bool) -> Result<Metrics> {
    cfg.validate()?;
    crate::io::prepare_out_dir(out, force)?;
    let ds = load_dataset(&load_options(cfg))?;
    let run = resolve_run(cfg, &ds)?;
    crate::io::write_json(&out.join("config.json"), &run)?;
    let _ = std::fs::remove_file(out.join("checkpoint.safetensors"));
    run_training(&run, &ds, out)
}

/// Continue an interrupted run from its last checkpoint; the result is identical to an uninterrupted run.
pub fn resume(out: &Path) -> Result<Metrics> {
    let run: RunConfig = crate::io::read_json(&out.join("config.json"))
        .map_err(|e| Error::usage(format!("cannot resume {}: {e}", out.display())))?;
    let ds = load_dataset(&load_options(&run.train))?;
    if ds.classes != run.classes {
        return Err(Error::usage(format!(
            "the data at {:?} no longer has the classes this run was trained on",
            run.train.data
        )));
    }
    run_training(&run, &ds, out)
}

fn run_training(run: &RunConfig, ds: &Dataset, out: &Path) -> Result<Metrics> {
    let cfg = &run.train;
    let (train_idx, test_idx) =
        split::split(ds, cfg.format, cfg.split, cfg.train_subjects.as_deref())?;
    let model = SkeletonModel::build(run)?;
    if let (Some(r), false) = (&run.ragcn, out.join("checkpoint.safetensors").is_file()) {
        model.load_baseline(Path::new(&r.baseline))?;
    }
    let mut opt = Optimizer::new(
        cfg.optimizer,
        init::trainable(&model.varmap),
        cfg.momentum,
        cfg.weight_decay,
    );
    let ckpt_path = out.join("checkpoint.safetensors");
    let mut state = restore(&model.varmap, &mut opt, &ckpt_path, cfg.epochs)?;
    eprintln!(
        "training {} ({} parameters) on {} train / {} test samples, {} classes, T={} M={}",
        cfg.model,
        model.num_params(),
        train_idx.len(),
        test_idx.len(),
        run.classes.len(),
        cfg.frames,
        run.persons
    );
    let schedule = Schedule {
        kind: cfg.schedule,
        base_lr: cfg.lr,
        warmup_epochs: cfg.warmup_epochs,
        milestones: cfg.milestones.clone(),
        epochs: cfg.epochs,
    };
    let batches_per_epoch = train_idx.len().div_ceil(cfg.batch_size);
    for epoch in state.epochs_done..cfg.epochs {
        let started = Instant::now();
        let mut rng = rng_for(cfg.seed, 100 + epoch as u64);
        let order: Vec<usize> = permutation(&mut rng, train_idx.len())
            .into_iter()
            .map(|i| train_idx[i])
            .collect();
        let bar = super::progress::bar(batches_per_epoch as u64, &format!("epoch {}", epoch + 1));
        let (mut loss_sum, mut correct, mut seen) = (0f64, 0usize, 0usize);
        let (mut masked_sum, mut batches) = (Vec::<f64>::new(), 0usize);
        let mut lr = cfg.lr;
        for (b, chunk) in order.chunks(cfg.batch_size).enumerate() {
            if chunk.len() < 2 {
                continue; // batch norm needs two samples
            }
            lr = schedule.lr(epoch as f64 + b as f64 / batches_per_epoch as f64);
            let (x, y) = make_batch(ds, chunk, run, Some(&mut rng))?;
            let (loss, logits, masked) = model.train_loss(&x, &y, &mut Ctx::train(&mut rng))?;
            if masked_sum.len() < masked.len() {
                masked_sum.resize(masked.len(), 0.0);
            }
            for (acc, m) in masked_sum.iter_mut().zip(&masked) {
                *acc += m;
            }
            batches += 1;
            let loss_v = finite_loss(&loss, epoch, cfg.lr)?;
            let grads = loss.backward()?;
            opt.step(&grads, lr)?;
            let pred = logits.argmax(1)?.to_vec1::<u32>()?;
            correct += pred
                .iter()
                .zip(&y)
                .filter(|(p, l)| **p as usize == **l)
                .count();
            seen += y.len();
            loss_sum += loss_v * y.len() as f64;
            bar.set_message(format!("loss {:.3}", loss_sum / seen as f64));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let last = epoch + 1 == cfg.epochs;
        let test = if last || (epoch + 1) % cfg.eval_every == 0 {
            Some(evaluate_split(&model, ds, &test_idx)?)
        } else {
            None
        };
        let secs = started.elapsed().as_secs_f64();
        let rec = EpochRecord {
            epoch: epoch + 1,
            lr,
            train_loss: loss_sum / seen.max(1) as f64,
            train_top1: correct as f64 / seen.max(1) as f64,
            test_loss: test.as_ref().map(|t| t.loss),
            test_top1: test.as_ref().map(|t| t.top1),
            test_top5: test.as_ref().map(|t| t.top5),
            seconds: secs,
            masked_fraction: masked_sum
                .iter()
                .map(|m| m / batches.max(1) as f64)
                .collect(),
        };
        log_epoch(&rec, cfg.epochs);
        state.history.push(rec);
        state.epochs_done = epoch + 1;
        state.steps = opt.steps;
        state.seconds += secs;
        save_checkpoint(&model.varmap, &opt, &state, &ckpt_path)?;
        crate::plot::curves::draw(&out.join("curves.png"), &state.history)?;
        if run.ragcn.is_some() {
            crate::plot::curves::draw_masks(&out.join("masks.png"), &state.history)?;
        }
        crash_for_testing(epoch + 1);
    }
    finish(run, &model, ds, &train_idx, &test_idx, &state, out)
}

fn finish(
    run: &RunConfig,
    model: &SkeletonModel,
    ds: &Dataset,
    train_idx: &[usize],
    test_idx: &[usize],
    state: &TrainState,
    out: &Path,
) -> Result<Metrics> {
    let test = evaluate_split(model, ds, test_idx)?;
    checkpoint::save(
        &out.join("model.safetensors"),
        &checkpoint::varmap_tensors(&model.varmap),
        None,
    )?;
    let last = state.history.last();
    let metrics = Metrics {
        test_top1: test.top1,
        test_top5: test.top5,
        test_loss: test.loss,
        train_top1: last.map(|r| r.train_top1).unwrap_or(0.0),
        epochs: state.epochs_done,
        classes: run.classes.clone(),
        seconds: state.seconds,
        params: model.num_params(),
        train_samples: train_idx.len(),
        test_samples: test_idx.len(),
        per_class: test.per_class.clone(),
        confusion: test.confusion.clone(),
        skipped_files: ds
            .skipped
            .iter()
            .map(|(p, w)| format!("{}: {w}", p.display()))
            .collect(),
        history: state.history.clone(),
        streams_top1: match &run.ragcn {
            Some(_) => Some(stream_accuracies(model, ds, test_idx)?),
            None => None,
        },
    };
    crate::io::write_json(&out.join("metrics.json"), &metrics)?;
    crate::plot::curves::draw(&out.join("curves.png"), &state.history)?;
    crate::plot::confusion::draw(
        &out.join("confusion.png"),
        &test.confusion,
        &run.classes,
        "test split",
    )?;
    eprintln!(
        "done: test top-1 {:.3}, top-5 {:.3} after {} epochs ({:.0} s); wrote {}",
        test.top1,
        test.top5,
        state.epochs_done,
        state.seconds,
        out.display()
    );
    Ok(metrics)
}

fn sum_all(ts: &[Tensor]) -> candle_core::Result<Tensor> {
    let mut acc = ts[0].clone();
    for t in &ts[1..] {
        acc = (acc + t)?;
    }
    Ok(acc)
}

/// Test top-1 of each RA-GCN stream on its own logits (test-time masks from each stream's prediction).
pub fn stream_accuracies(model: &SkeletonModel, ds: &Dataset, idx: &[usize]) -> Result<Vec<f64>> {
    let Some(r) = &model.run.ragcn else {
        return Ok(vec![]);
    };
    let mut hits = vec![0usize; r.streams];
    for chunk in idx.chunks(64) {
        let (x, y) = make_batch(ds, chunk, &model.run, None)?;
        let out = model.ragcn_forward(r, &x, None, &mut Ctx::eval())?;
        for (s, l) in out.logits.iter().enumerate() {
            let pred = l.argmax(1)?.to_vec1::<u32>()?;
            hits[s] += pred
                .iter()
                .zip(&y)
                .filter(|(p, t)| **p as usize == **t)
                .count();
        }
    }
    Ok(hits
        .iter()
        .map(|&h| h as f64 / idx.len().max(1) as f64)
        .collect())
}

/// Train an RA-GCN from a baseline run into a new run directory.
pub fn train_ragcn(a: &crate::cli::RagcnTrainArgs) -> Result<Metrics> {
    use crate::models::ragcn::RagcnConfig;
    if a.streams < 1 {
        return Err(Error::usage("--streams must be at least 1"));
    }
    let base_dir = a.baseline.as_ref().expect("clap requires --baseline");
    let base: RunConfig = crate::io::read_json(&base_dir.join("config.json")).map_err(|e| {
        Error::usage(format!(
            "--baseline {}: not a skeleton run ({e})",
            base_dir.display()
        ))
    })?;
    if base.ragcn.is_some() {
        return Err(Error::usage(
            "--baseline must be a single-stream `skeleton train` run",
        ));
    }
    if !base_dir.join("model.safetensors").is_file() {
        return Err(Error::usage(format!(
            "--baseline {} has no model.safetensors (unfinished run?)",
            base_dir.display()
        )));
    }
    let mut cfg = base.train.clone();
    a.data.apply(&mut cfg);
    if let Some(e) = a.epochs {
        cfg.epochs = e;
    }
    if let Some(lr) = a.lr {
        cfg.lr = lr;
    }
    if let Some(s) = a.seed {
        cfg.seed = s;
    }
    cfg.validate()?;
    let top_fraction = match (a.threshold, a.top_fraction) {
        (None, None) => Some(0.2),
        (_, q) => q,
    };
    for (name, v) in [
        ("--threshold", a.threshold),
        ("--top-fraction", top_fraction),
    ] {
        if let Some(v) = v {
            if !(0.0..=1.0).contains(&v) {
                return Err(Error::usage(format!("{name} must be in [0, 1], got {v}")));
            }
        }
    }
    let out = a.out.as_ref().expect("clap requires --out");
    crate::io::prepare_out_dir(out, a.force)?;
    let ds = load_dataset(&load_options(&cfg))?;
    if ds.classes != base.classes {
        return Err(Error::usage(
            "the data's classes differ from the baseline's",
        ));
    }
    let run = RunConfig {
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
            baseline: std::fs::canonicalize(base_dir)
                .unwrap_or(base_dir.clone())
                .to_string_lossy()
                .into_owned(),
        }),
        ..base
    };
    crate::io::write_json(&out.join("config.json"), &run)?;
    let _ = std::fs::remove_file(out.join("checkpoint.safetensors"));
    run_training(&run, &ds, out)
}
