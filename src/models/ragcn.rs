//! RA-GCN (Song et al., TCSVT 2020; docs/protocols.md, "RA-GCN masking") in skelcam's `per-sample` design:
//! S ST-GCN streams; stream 1 sees the whole skeleton; each later stream sees the input with what earlier streams'
//! CAMs rated high masked out; the logits are summed. The CAM of stream s is computed per sample for the
//! ground-truth class in training and for stream s's own prediction at test, ReLU'd and min-max normalised
//! over the present persons; the joints (or joint-frame cells) above τ, or the top fraction q, are masked.
//! Masks of earlier streams multiply; they are plain tensors built from detached values, so no gradient
//! flows through a mask and masks are not parameters.

use super::{Ctx, Stgcn};
use candle_core::{Device, Result, Tensor};
use ndarray::Array4;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum MaskUnit {
    /// Mask whole joints (in every frame): CAM summed over time decides.
    Joint,
    /// Mask (feature step, joint, person) cells, i.e. `stride` frames of one joint.
    Cell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LossKind {
    /// Cross-entropy of the summed logits.
    V1,
    /// v1 plus the cross-entropy of every stream.
    V2,
}

/// How masks are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// skelcam's design: per-sample CAMs, masks in the same forward pass.
    #[default]
    PerSample,
    /// The authors' released code: batch-mean CAM, 1 − softmax over all cells, v1/v2 threshold, masks
    /// written after the forward pass (used from the next batch on) and frozen at test time.
    Official,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RagcnConfig {
    #[serde(default)]
    pub mode: Mode,
    pub streams: usize,
    /// Mask units whose normalised CAM is at least this (exclusive with `top_fraction`).
    pub threshold: Option<f32>,
    /// Mask this fraction of units with the highest CAM.
    pub top_fraction: Option<f32>,
    pub unit: MaskUnit,
    pub loss: LossKind,
    /// The `skeleton train` run every stream was initialised from.
    pub baseline: String,
}

/// Per-sample CAM (N, T', V, M) of features (N, C', T', V, M) for one class per sample.
pub fn class_maps(features: &Tensor, weights: &Tensor, classes: &[usize]) -> Result<Array4<f32>> {
    let (n, c, t, v, m) = features.dims5()?;
    let idx = Tensor::from_vec(
        classes.iter().map(|&k| k as u32).collect::<Vec<_>>(),
        n,
        &Device::Cpu,
    )?;
    let w = weights.index_select(&idx, 0)?.reshape((n, 1, c))?; // (N, 1, C')
    let cam = w.matmul(&features.detach().reshape((n, c, t * v * m))?)?; // (N, 1, T'V M)
    let vals: Vec<f32> = cam.flatten_all()?.to_vec1()?;
    Array4::from_shape_vec((n, t, v, m), vals).map_err(|e| candle_core::Error::Msg(e.to_string()))
}

/// Keep-mask (1 keep, 0 masked) per sample from its CAM, for the present persons only.
pub fn per_sample_mask(cam: &Array4<f32>, present: &[Vec<bool>], cfg: &RagcnConfig) -> Array4<f32> {
    let (n, t, v, m) = cam.dim();
    let mut keep = Array4::<f32>::ones((n, t, v, m));
    for i in 0..n {
        // Units: (t', v, p) cells, or joints (v, p) with the CAM summed over time.
        let units: Vec<(Vec<usize>, usize, usize, f32)> = (0..m)
            .filter(|&p| present[i][p])
            .flat_map(|p| {
                (0..v).flat_map(move |j| match cfg.unit {
                    MaskUnit::Cell => (0..t)
                        .map(|tt| (vec![tt], j, p, cam[[i, tt, j, p]].max(0.0)))
                        .collect::<Vec<_>>(),
                    MaskUnit::Joint => vec![(
                        (0..t).collect(),
                        j,
                        p,
                        (0..t).map(|tt| cam[[i, tt, j, p]].max(0.0)).sum(),
                    )],
                })
            })
            .collect();
        if units.is_empty() {
            continue;
        }
        let lo = units.iter().map(|u| u.3).fold(f32::INFINITY, f32::min);
        let hi = units.iter().map(|u| u.3).fold(f32::NEG_INFINITY, f32::max);
        if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
            continue; // a flat map singles nothing out
        }
        let norm: Vec<f32> = units.iter().map(|u| (u.3 - lo) / (hi - lo)).collect();
        let masked: Vec<bool> = match (cfg.threshold, cfg.top_fraction) {
            (Some(tau), _) => norm.iter().map(|&x| x >= tau).collect(),
            (None, Some(q)) => {
                let k = ((q * units.len() as f32).round() as usize).min(units.len());
                let mut order: Vec<usize> = (0..units.len()).collect();
                order.sort_by(|&a, &b| norm[b].total_cmp(&norm[a]).then(a.cmp(&b)));
                let mut sel = vec![false; units.len()];
                for &o in &order[..k] {
                    sel[o] = true;
                }
                sel
            }
            (None, None) => vec![false; units.len()],
        };
        for ((ts, j, p, _), hide) in units.iter().zip(masked) {
            if hide {
                for &tt in ts {
                    keep[[i, tt, *j, *p]] = 0.0;
                }
            }
        }
    }
    keep
}

/// A (N, T', V, M) keep-mask repeated `stride` times in time: (N, 1, T'·stride, V, M).
pub fn mask_tensor(keep: &Array4<f32>, stride: usize) -> Result<Tensor> {
    let (n, t, v, m) = keep.dim();
    let mut out = Vec::with_capacity(n * t * stride * v * m);
    for i in 0..n {
        for tt in 0..t {
            for _ in 0..stride {
                for j in 0..v {
                    for p in 0..m {
                        out.push(keep[[i, tt, j, p]]);
                    }
                }
            }
        }
    }
    Tensor::from_vec(out, (n, 1, t * stride, v, m), &Device::Cpu)
}

/// Which persons of each sample are present (any non-zero input).
pub fn present_persons(x: &Tensor) -> Result<Vec<Vec<bool>>> {
    let (n, c, t, v, m) = x.dims5()?;
    let vals: Vec<f32> = x.abs()?.flatten_all()?.to_vec1()?;
    Ok((0..n)
        .map(|i| {
            (0..m)
                .map(|p| {
                    (0..c).any(|ch| {
                        (0..t).any(|tt| {
                            (0..v).any(|j| vals[(((i * c + ch) * t + tt) * v + j) * m + p] != 0.0)
                        })
                    })
                })
                .collect()
        })
        .collect())
}

/// Output of one multi-stream forward pass.
pub struct StreamsOutput {
    /// Logits of every stream (N, classes).
    pub logits: Vec<Tensor>,
    /// Fraction of the present input cells hidden from each stream (0 for stream 1).
    pub masked_fraction: Vec<f64>,
    /// The combined keep-mask each stream saw (None for stream 1), (N, 1, T, V, M).
    pub masks: Vec<Option<Tensor>>,
}

/// Run the streams in order, masking each later stream's input by the earlier streams' CAMs.
/// `classes`: ground-truth labels in training; `None` at test (each stream's own prediction).
pub fn forward(
    streams: &[&Stgcn],
    cfg: &RagcnConfig,
    x: &Tensor,
    classes: Option<&[usize]>,
    ctx: &mut Ctx,
) -> Result<StreamsOutput> {
    let present = present_persons(x)?;
    let (_, _, t, v, _) = x.dims5()?;
    let cells: usize = present
        .iter()
        .map(|p| p.iter().filter(|&&b| b).count() * t * v)
        .sum();
    let mut keep: Option<Tensor> = None;
    let mut out = StreamsOutput {
        logits: Vec::new(),
        masked_fraction: Vec::new(),
        masks: Vec::new(),
    };
    for (s, net) in streams.iter().enumerate() {
        let xs = match &keep {
            Some(k) => x.broadcast_mul(k)?,
            None => x.clone(),
        };
        let features = net.features(&xs, ctx)?;
        let logits = net.head(&features)?;
        // Masks only ever hide cells of present persons, so this is the hidden share of the real input.
        let fraction = match &keep {
            Some(k) => {
                (k.ones_like()? - k)?.sum_all()?.to_scalar::<f32>()? as f64 / cells.max(1) as f64
            }
            None => 0.0,
        };
        out.masked_fraction.push(fraction);
        out.masks.push(keep.clone());
        if s + 1 < streams.len() {
            let cls: Vec<usize> = match classes {
                Some(c) => c.to_vec(),
                None => logits
                    .argmax(1)?
                    .to_vec1::<u32>()?
                    .into_iter()
                    .map(|c| c as usize)
                    .collect(),
            };
            let (w, _) = net.head_params()?;
            let cam = class_maps(&features, &w, &cls)?;
            let stride = t / cam.dim().1;
            let mask = mask_tensor(&per_sample_mask(&cam, &present, cfg), stride)?;
            keep = Some(match keep {
                Some(k) => (k * mask)?,
                None => mask,
            });
        }
        out.logits.push(logits);
    }
    Ok(out)
}

/// Official mode, one stream's map: the batch mean over samples of the signed CAM (N, T', V, M), then
/// 1 − softmax over all T'·V·M cells, then the v1 threshold (values ≤ 0.1 → 0, others kept) or the v2 one
/// (1 where > 0.3, else 0). Returns (T', V, M).
pub fn official_map(cam: &Array4<f32>, version: LossKind) -> ndarray::Array3<f32> {
    let mean = cam.mean_axis(ndarray::Axis(0)).expect("non-empty batch");
    let max = mean.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp = mean.mapv(|x| ((x - max) as f64).exp());
    let z: f64 = exp.sum();
    exp.mapv(|e| {
        let inv = (1.0 - e / z) as f32;
        match version {
            LossKind::V1 => {
                if inv > 0.1 {
                    inv
                } else {
                    0.0
                }
            }
            LossKind::V2 => (inv > 0.3) as u8 as f32,
        }
    })
}

/// (T', V, M) repeated `stride` times in time: (T'·stride, V, M) as a tensor.
pub fn repeat_time(map: &ndarray::Array3<f32>, stride: usize) -> Result<Tensor> {
    let (t, v, m) = map.dim();
    let a = map.clone().insert_axis(ndarray::Axis(0));
    let as4 = a
        .into_shape_with_order((1, t, v, m))
        .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    mask_tensor(&as4, stride)?.reshape((t * stride, v, m))
}

/// Official-mode forward: stream s ≥ 2 sees x ⊙ its stored mask (from the previous training batch, frozen
/// at test). In training (`classes` given), the masks for the next batch are computed from this batch and
/// written into `masks[s]` (the product of the maps of streams 1..s).
pub fn forward_official(
    streams: &[&Stgcn],
    cfg: &RagcnConfig,
    masks: &[candle_core::Var],
    x: &Tensor,
    classes: Option<&[usize]>,
    ctx: &mut Ctx,
) -> Result<StreamsOutput> {
    let t = x.dim(2)?;
    let mut out = StreamsOutput {
        logits: Vec::new(),
        masked_fraction: Vec::new(),
        masks: Vec::new(),
    };
    let mut maps = Vec::new();
    for (s, net) in streams.iter().enumerate() {
        // A copy: the stored mask is overwritten after this pass, and the batch must keep the one it used.
        let mask = if s == 0 {
            None
        } else {
            Some(
                masks[s - 1]
                    .as_tensor()
                    .copy()?
                    .unsqueeze(0)?
                    .unsqueeze(0)?,
            )
        };
        let xs = match &mask {
            Some(k) => x.broadcast_mul(k)?,
            None => x.clone(),
        };
        let features = net.features(&xs, ctx)?;
        let logits = net.head(&features)?;
        // The stored mask is shared by every sample: its hidden share of (T, V, M).
        let fraction = match &mask {
            Some(k) => {
                (k.ones_like()? - k)?.sum_all()?.to_scalar::<f32>()? as f64 / k.elem_count() as f64
            }
            None => 0.0,
        };
        out.masked_fraction.push(fraction);
        out.masks.push(mask);
        if let (Some(c), true) = (classes, s + 1 < streams.len()) {
            let (w, _) = net.head_params()?;
            maps.push(official_map(&class_maps(&features, &w, c)?, cfg.loss));
        }
        out.logits.push(logits);
    }
    // Write the masks for the next batch: stream s+1 gets the product of the maps of streams 1..s.
    let mut product: Option<ndarray::Array3<f32>> = None;
    for (s, map) in maps.iter().enumerate() {
        product = Some(match product {
            Some(p) => p * map,
            None => map.clone(),
        });
        let p = product.as_ref().expect("just set");
        masks[s].set(&repeat_time(p, t / p.dim().0)?)?;
    }
    Ok(out)
}
