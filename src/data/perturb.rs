//! Robustness perturbations of model inputs (docs/protocols.md, "Occlusion and jitter"), applied to every channel of the
//! (N, C, T, V, M) input after preprocessing, as the RA-GCN evaluation does:
//! `part:NAME` zeroes a body part in every frame; `frames:N` zeroes N frames of a 100-frame reference,
//! scaled to the input length and centred; `random:p` zeroes a Bernoulli(p) set of (t, v, m) cells;
//! `jitter:p,sigma` adds one N(0, σ²) value per selected cell to all its channels. Random patterns are drawn
//! once per run from the seed and applied identically to every sample.

use crate::data::Layout;
use crate::rng::{normal, rng_for, streams};
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use rand::RngExt;

#[derive(Debug, Clone, PartialEq)]
pub enum Perturbation {
    Part(String),
    Frames(usize),
    Random(f32),
    Jitter(f32, f32),
}

impl Perturbation {
    /// `part:NAME`, `frames:N`, `random:p` (for `--occlude`) or `p,sigma` (for `--jitter`).
    pub fn parse_occlusion(s: &str) -> Result<Self> {
        let bad = || {
            Error::usage(format!(
                "occlusion {s}: use part:NAME, frames:N (0 <= N <= 100, frames of a 100-frame reference) or \
                 random:P (0 <= P <= 1)"
            ))
        };
        let (kind, arg) = s.split_once(':').ok_or_else(bad)?;
        match kind {
            "part" if !arg.is_empty() => Ok(Perturbation::Part(arg.to_string())),
            "frames" => match arg.parse::<usize>() {
                Ok(n) if n <= 100 => Ok(Perturbation::Frames(n)),
                _ => Err(bad()),
            },
            "random" => match arg.parse::<f32>() {
                Ok(p) if (0.0..=1.0).contains(&p) => Ok(Perturbation::Random(p)),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }

    pub fn parse_jitter(s: &str) -> Result<Self> {
        let bad = || {
            Error::usage(format!(
                "jitter {s}: use P,SIGMA, e.g. 0.02,0.1 (0 <= P <= 1, 0 <= SIGMA <= 10 in units of the \
                 skeleton's RMS radius)"
            ))
        };
        let (p, sigma) = s.split_once(',').ok_or_else(bad)?;
        match (p.trim().parse::<f32>(), sigma.trim().parse::<f32>()) {
            (Ok(p), Ok(sg)) if (0.0..=1.0).contains(&p) && (0.0..=10.0).contains(&sg) => {
                Ok(Perturbation::Jitter(p, sg))
            }
            _ => Err(bad()),
        }
    }

    pub fn label(&self) -> String {
        match self {
            Perturbation::Part(p) => format!("part:{p}"),
            Perturbation::Frames(n) => format!("frames:{n}"),
            Perturbation::Random(p) => format!("random:{p}"),
            Perturbation::Jitter(p, s) => format!("jitter:{p},{s}"),
        }
    }

    /// The perturbation as (multiplier, addend), each (1, 1, T, V, M), drawn once from `seed`.
    pub fn pattern(
        &self,
        layout: &Layout,
        t: usize,
        m: usize,
        seed: u64,
    ) -> Result<(Tensor, Tensor)> {
        let v = layout.num_joints();
        let mut keep = vec![1f32; t * v * m];
        let mut add = vec![0f32; t * v * m];
        let at = |ti: usize, vi: usize, mi: usize| (ti * v + vi) * m + mi;
        match self {
            Perturbation::Part(name) => {
                for &j in layout.part(name)? {
                    for ti in 0..t {
                        for mi in 0..m {
                            keep[at(ti, j, mi)] = 0.0;
                        }
                    }
                }
            }
            Perturbation::Frames(n) => {
                let (start, len) = centred_frames(*n, t);
                for ti in start..start + len {
                    for vi in 0..v {
                        for mi in 0..m {
                            keep[at(ti, vi, mi)] = 0.0;
                        }
                    }
                }
            }
            Perturbation::Random(p) => {
                let mut r = rng_for(seed, streams::OCCLUDE);
                for k in keep.iter_mut() {
                    if r.random::<f32>() < *p {
                        *k = 0.0;
                    }
                }
            }
            Perturbation::Jitter(p, sigma) => {
                let mut r = rng_for(seed, streams::JITTER);
                for a in add.iter_mut() {
                    let pick = r.random::<f32>() < *p;
                    let noise = normal(&mut r) * sigma;
                    if pick {
                        *a = noise;
                    }
                }
            }
        }
        let dev = Device::Cpu;
        Ok((
            Tensor::from_vec(keep, (1, 1, t, v, m), &dev)?,
            Tensor::from_vec(add, (1, 1, t, v, m), &dev)?,
        ))
    }
}

/// Frames zeroed by `frames:N`: N frames of a 100-frame reference scaled to `t`, centred (the RA-GCN protocol
/// zeroes frames [50 − N/2, 50 + N/2) of its first 100 frames).
pub fn centred_frames(n: usize, t: usize) -> (usize, usize) {
    let len = ((n as f64 / 100.0) * t as f64).round() as usize;
    let len = len.min(t);
    ((t - len) / 2, len)
}

/// Apply a (multiplier, addend) pattern to a batch (N, C, T, V, M).
pub fn apply(x: &Tensor, pattern: &(Tensor, Tensor)) -> Result<Tensor> {
    Ok(x.broadcast_mul(&pattern.0)?.broadcast_add(&pattern.1)?)
}

/// The pattern of an optional perturbation for a run's input size (`None` for clean data).
pub fn pattern_for(
    p: Option<&Perturbation>,
    layout: &Layout,
    t: usize,
    m: usize,
    seed: u64,
) -> Result<Option<(Tensor, Tensor)>> {
    p.map(|p| p.pattern(layout, t, m, seed)).transpose()
}
