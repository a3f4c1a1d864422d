//! Skeleton training and inference on a dataset: loading and normalising it, batches (N, C, T, V, M),
//! eval-mode predictions and metrics (optionally under an occlusion or jitter), and the [`SkeletonTask`]
//! that the one training loop runs for ST-GCN and RA-GCN runs.

use super::learner::{Step, Task};
use super::metrics::{evaluate, Evaluation};
use crate::config::{SkeletonTrainConfig, GRAPH_OFFSET_DECAY};
use crate::data::mix::Mixup;
use crate::data::preprocess::prepare;
use crate::data::{self, split, Dataset, LoadOptions};
use crate::models::skeleton::{SkeletonModel, SkeletonRunConfig};
use crate::models::{Ctx, StgcnConfig};
use crate::run_dir::RunDir;
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use rand::rngs::StdRng;

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
    // Samples loaded as an index have no coordinates yet: they are normalised when they are read again.
    for s in ds.samples.iter_mut().filter(|s| s.frames() > 0) {
        let place = opts.data.as_deref().unwrap_or("the data");
        opts.preprocess
            .apply(s, &layout)
            .map_err(|why| Error::data(place, format!("sequence '{}': {why}", s.name)))?;
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
        preprocess: cfg.preprocess,
        keep_data: true,
    }
}

/// A batch (N, C, T, V, M) and its labels; augmented when `aug_rng` is given.
pub fn make_batch(
    ds: &Dataset,
    idx: &[usize],
    run: &SkeletonRunConfig,
    mut aug_rng: Option<&mut StdRng>,
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
        let arr = run.input(&arr);
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

/// Resolve the run configuration (model preset, persons) for a loaded dataset.
pub fn resolve_run(cfg: &SkeletonTrainConfig, ds: &Dataset) -> Result<SkeletonRunConfig> {
    let present: std::collections::BTreeSet<usize> = ds.samples.iter().map(|s| s.label).collect();
    if present.len() < 2 {
        return Err(Error::data(
            cfg.data.as_deref().unwrap_or("the data"),
            format!(
                "the sequences belong to {} class(es) only ({}): a classifier needs at least two",
                present.len(),
                present
                    .iter()
                    .map(|&c| ds.classes[c].as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let persons = cfg.persons.unwrap_or_else(|| {
        ds.samples
            .iter()
            .map(|s| s.data.shape()[3])
            .max()
            .unwrap_or(1)
            .clamp(1, 2)
    });
    let mut model = StgcnConfig::preset(
        &cfg.model,
        cfg.modality.channels(3, cfg.motion),
        ds.classes.len(),
    )
    .map_err(Error::usage)?;
    if let Some(p) = cfg.dropout {
        model.dropout = p;
    }
    model.temporal_kernel = cfg.temporal_kernel.unwrap_or(model.temporal_kernel);
    model.max_hop = cfg.max_hop.unwrap_or(model.max_hop);
    model.partition = cfg.strategy;
    model.adaptive = cfg.adaptive_graph;
    let mut train = cfg.clone();
    if train.adaptive_graph {
        train.graph_offset_decay.get_or_insert(GRAPH_OFFSET_DECAY);
    }
    let stride = model.temporal_stride();
    if !cfg.frames.is_multiple_of(stride) {
        return Err(Error::invalid(
            "frames",
            cfg.frames,
            format!(
                "a multiple of model {}'s temporal stride {stride}",
                cfg.model
            ),
        ));
    }
    Ok(SkeletonRunConfig {
        skelcam_version: env!("CARGO_PKG_VERSION").into(),
        train,
        model,
        layout: ds.layout.clone(),
        classes: ds.classes.clone(),
        persons,
        ragcn: None,
        ensemble: None,
        imported: None,
    })
}

/// Test top-1 of each RA-GCN stream (test-time masks from each stream's prediction) or each ensemble
/// member on its own logits; empty for a single network.
pub fn stream_accuracies(model: &SkeletonModel, ds: &Dataset, idx: &[usize]) -> Result<Vec<f64>> {
    let n = match (&model.run.ragcn, &model.run.ensemble) {
        (Some(r), _) => r.streams,
        (None, Some(e)) => e.members.len(),
        (None, None) => return Ok(vec![]),
    };
    let mut hits = vec![0usize; n];
    for chunk in idx.chunks(64) {
        let (x, y) = make_batch(ds, chunk, &model.run, None)?;
        let logits = match &model.run.ragcn {
            Some(r) => model.ragcn_forward(r, &x, None, &mut Ctx::eval())?.logits,
            None => model
                .parts(&x)?
                .into_iter()
                .map(|(net, xi, _)| net.forward(&xi, &mut Ctx::eval()))
                .collect::<candle_core::Result<_>>()?,
        };
        for (s, l) in logits.iter().enumerate() {
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

/// A skeleton run's training: its model (ST-GCN or RA-GCN streams), its data and split.
pub struct SkeletonTask<'a> {
    pub model: SkeletonModel,
    ds: &'a Dataset,
    train_idx: Vec<usize>,
    test_idx: Vec<usize>,
}

impl<'a> SkeletonTask<'a> {
    /// Build the run's model; an RA-GCN run that has no checkpoint yet starts from its baseline's weights.
    pub fn new(run: &SkeletonRunConfig, ds: &'a Dataset, dir: &RunDir) -> Result<Self> {
        let cfg = &run.train;
        let (train_idx, test_idx) = split::split_parts(
            ds,
            cfg.format,
            cfg.split,
            cfg.train_subjects.as_deref(),
            cfg.part_names(),
        )?;
        let model = SkeletonModel::build(run)?;
        if let (Some(r), false) = (&run.ragcn, dir.checkpoint().is_file()) {
            model.load_baseline(&RunDir::open(
                std::path::Path::new(&r.baseline),
                "a skeleton",
            )?)?;
        }
        Ok(SkeletonTask {
            model,
            ds,
            train_idx,
            test_idx,
        })
    }
}

/// λ·x_i + (1 − λ)·x_partner(i) for every sample i of a batch (N, ...).
fn blend(x: &Tensor, m: &Mixup) -> Result<Tensor> {
    let idx: Vec<u32> = m.partners.iter().map(|&j| j as u32).collect();
    let idx = Tensor::from_vec(idx, m.partners.len(), x.device())?;
    let lam = m.lambda as f64;
    Ok(((x * lam)? + (x.index_select(&idx, 0)? * (1.0 - lam))?)?)
}

impl Task for SkeletonTask<'_> {
    fn varmap(&self) -> &VarMap {
        &self.model.varmap
    }
    fn train_items(&self) -> &[usize] {
        &self.train_idx
    }
    fn step(&self, _epoch: usize, batch: &[usize], rng: &mut StdRng) -> Result<Step> {
        let (x, y) = make_batch(self.ds, batch, &self.model.run, Some(&mut *rng))?;
        let alpha = self.model.run.train.mixup;
        let mix = (alpha > 0.0).then(|| Mixup::draw(rng, y.len(), alpha));
        let x = match &mix {
            Some(m) => blend(&x, m)?,
            None => x,
        };
        let (loss, logits, masked) =
            self.model
                .train_loss(&x, &y, mix.as_ref(), &mut Ctx::train(rng))?;
        Ok(Step {
            loss,
            logits,
            labels: y.into_iter().map(Some).collect(),
            masked,
        })
    }
    fn evaluate(&self) -> Result<Evaluation> {
        evaluate_split(&self.model, self.ds, &self.test_idx)
    }
    fn describe(&self, params: usize) -> String {
        let run = &self.model.run;
        format!(
            "training {} ({params} parameters) on {} train / {} test samples, {} classes, T={} M={}",
            run.train.model,
            self.train_idx.len(),
            self.test_idx.len(),
            run.classes.len(),
            run.train.frames,
            run.persons
        )
    }
    fn classes(&self) -> &[String] {
        &self.model.run.classes
    }
    fn test_len(&self) -> usize {
        self.test_idx.len()
    }
    fn skipped_files(&self) -> Vec<String> {
        self.ds
            .skipped
            .iter()
            .map(|(p, w)| format!("{}: {w}", p.display()))
            .collect()
    }
    fn streams_top1(&self) -> Result<Option<Vec<f64>>> {
        Ok(match &self.model.run.ragcn {
            Some(_) => Some(stream_accuracies(&self.model, self.ds, &self.test_idx)?),
            None => None,
        })
    }
}
