//! The skeleton model of a run: an ST-GCN, or the streams of an RA-GCN, built from the run's
//! `config.json`, initialised from the run's seed, and loaded from its weights.

use super::weights;
use super::{init, Ctx, Stgcn, StgcnConfig};
use crate::config::SkeletonTrainConfig;
use crate::data::Layout;
use crate::run_dir::RunDir;
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What `config.json` of a skeleton run holds: enough to rebuild the model and its data pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SkeletonRunConfig {
    pub skelcam_version: String,
    pub train: SkeletonTrainConfig,
    pub model: StgcnConfig,
    pub layout: Layout,
    pub classes: Vec<String>,
    pub persons: usize,
    /// Present for an RA-GCN run (several streams).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ragcn: Option<super::ragcn::RagcnConfig>,
    /// Present for a run made by `skeleton ensemble`: the members, their weights and inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensemble: Option<super::ensemble::EnsembleConfig>,
    /// Present for a run made by `skeleton import` from another tool's checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<ImportInfo>,
}

impl SkeletonRunConfig {
    /// Checks what a `config.json` states before anything is built: the layout, sizes within the limits,
    /// one class name per model output, and each network's configuration.
    pub fn check(&self) -> Result<()> {
        self.layout
            .validate()
            .map_err(|why| Error::invalid("layout", &self.layout.name, why))?;
        crate::limits::FRAMES.check("train.frames", self.train.frames as u64)?;
        crate::limits::PERSONS.check("persons", self.persons as u64)?;
        if self.persons == 0 {
            return Err(Error::invalid("persons", 0, "at least 1"));
        }
        let v = self.layout.num_joints();
        let nets: Vec<&StgcnConfig> = match &self.ensemble {
            Some(e) => e.members.iter().map(|m| &m.model).collect(),
            None => vec![&self.model],
        };
        for m in nets {
            m.check(v)?;
            let input = (m.in_channels as u64)
                .saturating_mul(self.train.frames as u64)
                .saturating_mul(v as u64)
                .saturating_mul(self.persons as u64);
            crate::limits::SAMPLE_ELEMENTS.check("input C·T·V·M", input)?;
            if m.num_class != self.classes.len() {
                return Err(Error::invalid(
                    "classes",
                    self.classes.len(),
                    format!("one name per class of the model ({})", m.num_class),
                ));
            }
        }
        if let Some(r) = &self.ragcn {
            if !(1..=16).contains(&r.streams) {
                return Err(Error::invalid(
                    "ragcn.streams",
                    r.streams,
                    "between 1 and 16",
                ));
            }
        }
        Ok(())
    }

    /// The network's input (C′, T, V, M) from fixed-length coordinates (C, T, V, M): the run's modality, or
    /// for an ensemble its members' inputs one after the other along C′.
    pub fn input(&self, coords: &ndarray::Array4<f32>) -> ndarray::Array4<f32> {
        // The layout's tree only for bone inputs: this runs for every sample of every batch.
        let bones = match &self.ensemble {
            None => self.train.modality.uses_bones(),
            Some(e) => e.members.iter().any(|m| m.modality.uses_bones()),
        };
        let parents = if bones {
            self.layout.parents()
        } else {
            Vec::new()
        };
        match &self.ensemble {
            None => self
                .train
                .modality
                .input(coords, self.train.motion, &parents),
            Some(e) => {
                let parts: Vec<_> = e
                    .members
                    .iter()
                    .map(|m| m.modality.input(coords, m.motion, &parents))
                    .collect();
                let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
                ndarray::concatenate(ndarray::Axis(0), &views).expect("members share T, V, M")
            }
        }
    }
}

/// Where an imported run's weights came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImportInfo {
    pub source: super::import::Source,
    /// The safetensors file, as given.
    pub weights: String,
    /// Whether the adjacency is the checkpoint's own (else rebuilt from the layout).
    pub adjacency_from_file: bool,
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
    pub run: SkeletonRunConfig,
}

impl SkeletonModel {
    pub fn build(run: &SkeletonRunConfig) -> Result<Self> {
        run.check()?;
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let l = &run.layout;
        // An ensemble has members instead of streams.
        let streams = match (&run.ensemble, &run.ragcn) {
            (Some(_), _) => 0,
            (None, r) => r.as_ref().map(|r| r.streams).unwrap_or(1),
        };
        let mut nets = Vec::new();
        // An ensemble's members under `member{i}.`; otherwise the streams (one for a plain ST-GCN).
        let members = run.ensemble.iter().flat_map(|e| e.members.iter());
        for (i, m) in members.enumerate() {
            let vbm = vb.pp(format!("member{i}"));
            nets.push(Stgcn::new(
                &m.model,
                l.num_joints(),
                &l.edges,
                l.center,
                vbm,
            )?);
        }
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
            .filter(|r| r.mode == super::ragcn::Mode::Official)
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
        init::seeded_init(&varmap, run.train.training_seed())?;
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

    /// Fused logits (the sum over streams for RA-GCN, with test-time masks from each stream's prediction;
    /// the weighted sum over members for an ensemble).
    pub fn logits(&self, x: &Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        if self.run.ensemble.is_some() {
            let mut parts = Vec::new();
            for (net, xi, w) in self.parts(x)? {
                parts.push((net.forward(&xi, ctx)? * w as f64)?);
            }
            return Ok(sum_all(&parts)?);
        }
        match &self.run.ragcn {
            None => Ok(self.net.forward(x, ctx)?),
            Some(r) => Ok(sum_all(&self.ragcn_forward(r, x, None, ctx)?.logits)?),
        }
    }

    /// The networks whose weighted logits make the prediction, each with its part of the input `x`: the
    /// members of an ensemble; otherwise the network itself with weight 1 (for RA-GCN, stream 1).
    pub fn parts<'m>(&'m self, x: &Tensor) -> Result<Vec<(&'m Stgcn, Tensor, f32)>> {
        match &self.run.ensemble {
            None => Ok(vec![(&self.net, x.clone(), 1.0)]),
            Some(e) => self
                .streams()
                .into_iter()
                .zip(e.channel_ranges())
                .zip(&e.members)
                .map(|((net, r), m)| Ok((net, x.narrow(1, r.start, r.len())?, m.weight)))
                .collect(),
        }
    }

    /// Training loss, fused logits and (RA-GCN) the fraction of the input hidden from each stream.
    pub fn train_loss(
        &self,
        x: &Tensor,
        y: &[usize],
        mix: Option<&crate::data::mix::Mixup>,
        ctx: &mut Ctx,
    ) -> Result<(Tensor, Tensor, Vec<f64>)> {
        let yt = Tensor::from_vec(
            y.iter().map(|&l| l as u32).collect::<Vec<_>>(),
            y.len(),
            &Device::Cpu,
        )?;
        if self.run.ensemble.is_some() {
            return Err(Error::usage(
                "an ensemble is not trained: train its members with `skeleton train`, then combine them",
            ));
        }
        let eps = self.run.train.label_smoothing;
        let ce = |logits: &Tensor| -> Result<Tensor> {
            if eps == 0.0 && mix.is_none() {
                return Ok(candle_nn::loss::cross_entropy(logits, &yt)?);
            }
            let k = logits.dim(1)?;
            let y: Vec<Option<usize>> = y.iter().map(|&c| Some(c)).collect();
            let (partners, lambdas) = match mix {
                Some(m) => (m.partner_labels(&y), vec![m.lambda; y.len()]),
                None => (y.clone(), vec![1.0; y.len()]),
            };
            let t = crate::data::mix::soft_targets(&y, &partners, &lambdas, k, eps as f32);
            let t = Tensor::from_vec(t, (y.len(), k), &Device::Cpu)?;
            Ok((candle_nn::ops::log_softmax(logits, 1)? * t)?
                .sum(1)?
                .mean(0)?
                .neg()?)
        };
        match &self.run.ragcn {
            None => {
                let logits = self.net.forward(x, ctx)?;
                Ok((ce(&logits)?, logits, vec![]))
            }
            Some(r) => {
                let out = self.ragcn_forward(r, x, Some(y), ctx)?;
                let fused = sum_all(&out.logits)?;
                let mut loss = ce(&fused)?;
                if r.loss == super::ragcn::LossKind::V2 {
                    for l in &out.logits {
                        loss = (loss + ce(l)?)?;
                    }
                }
                Ok((loss, fused, out.masked_fraction))
            }
        }
    }

    /// The streams' outputs in the run's mode (official mode updates the stored masks when `y` is given).
    pub fn ragcn_forward(
        &self,
        r: &super::ragcn::RagcnConfig,
        x: &Tensor,
        y: Option<&[usize]>,
        ctx: &mut Ctx,
    ) -> Result<super::ragcn::StreamsOutput> {
        use super::ragcn::{forward, forward_official, Mode};
        Ok(match r.mode {
            Mode::PerSample => forward(&self.streams(), r, x, y, ctx)?,
            Mode::Official => forward_official(&self.streams(), r, &self.masks, x, y, ctx)?,
        })
    }

    /// Initialise every RA-GCN stream with the final weights of a single-stream run.
    pub fn load_baseline(&self, baseline: &RunDir) -> Result<()> {
        let path = baseline.model();
        let (tensors, _) = weights::load(&path)?;
        // "streamS.X" takes the baseline's "X"; official-mode mask buffers are not in a baseline.
        weights::load_mapped(&self.varmap, &tensors, &path, |name| {
            let (_, rest) = name.split_once('.')?;
            (name.starts_with("stream") && !name.ends_with("input_mask")).then(|| rest.to_string())
        })
    }

    /// Load a run for inference: its final weights, or those of its last checkpoint while it trains.
    pub fn load(run_dir: &Path) -> Result<Self> {
        let dir = RunDir::open(run_dir, "a skeleton")?;
        let run: SkeletonRunConfig = dir.read_config()?;
        let m = Self::build(&run)?;
        let (path, prefix) = if dir.is_finished() {
            (dir.model(), "")
        } else if dir.checkpoint().is_file() {
            (dir.checkpoint(), "model.")
        } else {
            return Err(Error::UnfinishedRun {
                path: run_dir.to_path_buf(),
                resume: format!("skelcam skeleton train --resume {}", run_dir.display()),
            });
        };
        let (tensors, _) = weights::load(&path)?;
        weights::load_into(&m.varmap, &tensors, prefix, &path)?;
        Ok(m)
    }

    pub fn num_params(&self) -> usize {
        init::num_trainable(&self.varmap)
    }
}

pub(crate) fn sum_all(ts: &[Tensor]) -> candle_core::Result<Tensor> {
    let mut acc = ts[0].clone();
    for t in &ts[1..] {
        acc = (acc + t)?;
    }
    Ok(acc)
}
