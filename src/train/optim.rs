//! Optimisers with saveable state: SGD with (Nesterov) momentum and weight decay, and AdamW.
//! candle's SGD has no momentum and its AdamW state cannot be checkpointed, hence our own.

use candle_core::{backprop::GradStore, Result, Tensor, Var};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OptimKind {
    /// SGD, momentum 0.9, Nesterov, weight decay (the ST-GCN recipe).
    Sgd,
    /// AdamW (decoupled weight decay).
    Adamw,
}

pub struct Optimizer {
    kind: OptimKind,
    params: Vec<(String, Var)>,
    momentum: f64,
    weight_decay: f64,
    /// SGD: momentum buffer; AdamW: first moment.
    m: Vec<Option<Vec<f32>>>,
    /// AdamW: second moment.
    v: Vec<Option<Vec<f32>>>,
    pub steps: u64,
}

/// Elements per parallel work item of the fused update loops.
const CHUNK: usize = 1 << 15;

fn values(t: &Tensor) -> Result<Vec<f32>> {
    t.flatten_all()?.to_vec1::<f32>()
}

impl Optimizer {
    pub fn new(
        kind: OptimKind,
        params: Vec<(String, Var)>,
        momentum: f64,
        weight_decay: f64,
    ) -> Self {
        let n = params.len();
        Optimizer {
            kind,
            params,
            momentum,
            weight_decay,
            m: vec![None; n],
            v: vec![None; n],
            steps: 0,
        }
    }

    /// One update of every parameter that has a gradient, as one fused pass over its values (the same
    /// arithmetic as the textbook tensor formulas, without a temporary tensor per operation).
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        self.steps += 1;
        let (lr, wd, mu) = (lr as f32, self.weight_decay as f32, self.momentum as f32);
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        let t = self.steps as i32;
        let (c1, c2) = (1.0 - 0.9f64.powi(t), 1.0 - 0.999f64.powi(t));
        let (c1, c2) = (c1 as f32, c2 as f32);
        for (i, (_, var)) in self.params.iter().enumerate() {
            let Some(g) = grads.get(var) else { continue };
            let g = values(g)?;
            let mut p = values(var.as_tensor())?;
            let fresh = self.m[i].is_none();
            let m = self.m[i].get_or_insert_with(|| vec![0.0; p.len()]);
            match self.kind {
                OptimKind::Sgd => {
                    p.par_chunks_mut(CHUNK)
                        .zip(m.par_chunks_mut(CHUNK))
                        .zip(g.par_chunks(CHUNK))
                        .for_each(|((p, m), g)| {
                            for ((p, m), &g) in p.iter_mut().zip(m.iter_mut()).zip(g) {
                                let g = g + *p * wd;
                                *m = if fresh { g } else { *m * mu + g };
                                // Nesterov: step along g + μ·buf.
                                *p -= (g + *m * mu) * lr;
                            }
                        });
                }
                OptimKind::Adamw => {
                    let v = self.v[i].get_or_insert_with(|| vec![0.0; p.len()]);
                    p.par_chunks_mut(CHUNK)
                        .zip(m.par_chunks_mut(CHUNK))
                        .zip(v.par_chunks_mut(CHUNK))
                        .zip(g.par_chunks(CHUNK))
                        .for_each(|(((p, m), v), g)| {
                            for (((p, m), v), &g) in
                                p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g)
                            {
                                *m = *m * b1 + g * (1.0 - b1);
                                *v = *v * b2 + g * g * (1.0 - b2);
                                let upd = (*m / c1) / ((*v / c2).sqrt() + eps);
                                *p = *p * (1.0 - lr * wd) - upd * lr;
                            }
                        });
                }
            }
            var.set(&Tensor::from_vec(p, var.shape(), var.device())?)?;
        }
        Ok(())
    }

    /// Optimiser state as named tensors (for checkpoints).
    pub fn state(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for (i, (name, var)) in self.params.iter().enumerate() {
            for (key, buf) in [("m", &self.m[i]), ("v", &self.v[i])] {
                if let Some(b) = buf {
                    let t = Tensor::from_vec(b.clone(), var.shape(), var.device())
                        .expect("state has the parameter's size");
                    out.insert(format!("optim.{key}.{name}"), t);
                }
            }
        }
        out
    }

    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>, steps: u64) {
        for (i, (name, _)) in self.params.iter().enumerate() {
            let get = |k: &str| {
                tensors
                    .get(&format!("optim.{k}.{name}"))
                    .and_then(|t| values(t).ok())
            };
            self.m[i] = get("m");
            self.v[i] = get("v");
        }
        self.steps = steps;
    }
}
