//! Optimisers with saveable state: SGD with (Nesterov) momentum and weight decay, and AdamW.
//! candle's SGD has no momentum and its AdamW state cannot be checkpointed, hence our own.

use candle_core::{backprop::GradStore, CpuStorage, InplaceOp2, Layout, Result, Tensor, Var};
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::Mutex;

pub use crate::config::OptimKind;

pub struct Optimizer {
    kind: OptimKind,
    params: Vec<(String, Var)>,
    momentum: f64,
    /// The weight decay of each parameter (the common one unless `decay_for` set another).
    decay: Vec<f64>,
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

#[derive(Clone, Copy)]
struct Hyper {
    kind: OptimKind,
    lr: f32,
    wd: f32,
    mu: f32,
    /// AdamW bias corrections 1 − β₁ᵗ, 1 − β₂ᵗ
    c1: f32,
    c2: f32,
}

/// The in-place update of one parameter from its gradient; the state (SGD momentum buffer, or AdamW's
/// two moments) is borrowed for the call.
struct Update<'a> {
    hyper: Hyper,
    /// No momentum yet (SGD starts its buffer at the first gradient, as PyTorch does).
    fresh: bool,
    state: Mutex<(&'a mut [f32], Option<&'a mut [f32]>)>,
}

impl InplaceOp2 for Update<'_> {
    fn name(&self) -> &'static str {
        "optimizer-step"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<()> {
        let (p, g) = match (s1, s2) {
            (CpuStorage::F32(p), CpuStorage::F32(g)) => (p, g),
            _ => candle_core::bail!("optimizer: parameters and gradients must be f32"),
        };
        let (Some((pa, pb)), Some((ga, gb))) = (l1.contiguous_offsets(), l2.contiguous_offsets())
        else {
            candle_core::bail!("optimizer: parameter or gradient is not contiguous");
        };
        let (p, g) = (&mut p[pa..pb], &g[ga..gb]);
        let mut state = self.state.lock().expect("optimizer state lock");
        let (m, v) = &mut *state;
        if p.len() != g.len() || m.len() != p.len() {
            candle_core::bail!(
                "optimizer: {} values, {} gradients, {} state",
                p.len(),
                g.len(),
                m.len()
            );
        }
        let Hyper {
            kind,
            lr,
            wd,
            mu,
            c1,
            c2,
        } = self.hyper;
        let fresh = self.fresh;
        match (kind, v) {
            (OptimKind::Sgd, _) => p
                .par_chunks_mut(CHUNK)
                .zip(m.par_chunks_mut(CHUNK))
                .zip(g.par_chunks(CHUNK))
                .for_each(|((p, m), g)| {
                    for ((p, m), &g) in p.iter_mut().zip(m.iter_mut()).zip(g) {
                        let g = g + *p * wd;
                        *m = if fresh { g } else { *m * mu + g };
                        // Nesterov: step along g + μ·buf.
                        *p -= (g + *m * mu) * lr;
                    }
                }),
            (OptimKind::Adamw, Some(v)) => {
                let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
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
                    })
            }
            (OptimKind::Adamw, None) => {
                candle_core::bail!("optimizer: AdamW without its second moment")
            }
        }
        Ok(())
    }
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
            decay: vec![weight_decay; n],
            m: vec![None; n],
            v: vec![None; n],
            steps: 0,
        }
    }

    /// Decay the parameters whose names end with `suffix` by `weight_decay` instead of the common rate (the
    /// adaptive graph's offset, which a strong decay keeps near the skeleton's own graph).
    pub fn decay_for(mut self, suffix: &str, weight_decay: f64) -> Self {
        for (d, (name, _)) in self.decay.iter_mut().zip(&self.params) {
            if name.ends_with(suffix) {
                *d = weight_decay;
            }
        }
        self
    }

    /// One update of every parameter that has a gradient, as one fused pass over its values done in place in
    /// the parameter's storage (the same arithmetic as the textbook tensor formulas, without a temporary
    /// tensor per operation or a copy of the parameter).
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        self.steps += 1;
        let t = self.steps as i32;
        let hyper = Hyper {
            kind: self.kind,
            lr: lr as f32,
            wd: 0.0,
            mu: self.momentum as f32,
            c1: (1.0 - 0.9f64.powi(t)) as f32,
            c2: (1.0 - 0.999f64.powi(t)) as f32,
        };
        for (i, (_, var)) in self.params.iter().enumerate() {
            let Some(g) = grads.get(var) else { continue };
            let n = var.elem_count();
            let fresh = self.m[i].is_none();
            let m = self.m[i].get_or_insert_with(|| vec![0.0; n]);
            let v = match self.kind {
                OptimKind::Adamw => {
                    Some(self.v[i].get_or_insert_with(|| vec![0.0; n]).as_mut_slice())
                }
                OptimKind::Sgd => None,
            };
            let op = Update {
                hyper: Hyper {
                    wd: self.decay[i] as f32,
                    ..hyper
                },
                fresh,
                state: Mutex::new((m.as_mut_slice(), v)),
            };
            var.as_tensor().inplace_op2(&g.contiguous()?, &op)?;
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
