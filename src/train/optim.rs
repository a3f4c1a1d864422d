//! Optimisers with saveable state: SGD with (Nesterov) momentum and weight decay, and AdamW.
//! candle's SGD has no momentum and its AdamW state cannot be checkpointed, hence our own.

use candle_core::{backprop::GradStore, Result, Tensor, Var};
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
    m: Vec<Option<Tensor>>,
    /// AdamW: second moment.
    v: Vec<Option<Tensor>>,
    pub steps: u64,
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

    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        self.steps += 1;
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
        for (i, (_, var)) in self.params.iter().enumerate() {
            let Some(g) = grads.get(var) else { continue };
            let p = var.as_tensor();
            match self.kind {
                OptimKind::Sgd => {
                    let g = if self.weight_decay > 0.0 {
                        (g + (p * self.weight_decay)?)?
                    } else {
                        g.clone()
                    };
                    let buf = match &self.m[i] {
                        Some(b) => ((b * self.momentum)? + &g)?,
                        None => g.clone(),
                    };
                    // Nesterov: step along g + μ·buf.
                    let d = (&g + (&buf * self.momentum)?)?;
                    var.set(&(p - (d * lr)?)?)?;
                    self.m[i] = Some(buf);
                }
                OptimKind::Adamw => {
                    let m = match &self.m[i] {
                        Some(m) => ((m * b1)? + (g * (1.0 - b1))?)?,
                        None => (g * (1.0 - b1))?,
                    };
                    let v = match &self.v[i] {
                        Some(v) => ((v * b2)? + (g.sqr()? * (1.0 - b2))?)?,
                        None => (g.sqr()? * (1.0 - b2))?,
                    };
                    let t = self.steps as i32;
                    let mhat = (&m / (1.0 - b1.powi(t)))?;
                    let vhat = (&v / (1.0 - b2.powi(t)))?;
                    let upd = (mhat / (vhat.sqrt()? + eps)?)?;
                    let decayed = (p * (1.0 - lr * self.weight_decay))?;
                    var.set(&(decayed - (upd * lr)?)?)?;
                    self.m[i] = Some(m);
                    self.v[i] = Some(v);
                }
            }
        }
        Ok(())
    }

    /// Optimiser state as named tensors (for checkpoints).
    pub fn state(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for (i, (name, _)) in self.params.iter().enumerate() {
            if let Some(m) = &self.m[i] {
                out.insert(format!("optim.m.{name}"), m.clone());
            }
            if let Some(v) = &self.v[i] {
                out.insert(format!("optim.v.{name}"), v.clone());
            }
        }
        out
    }

    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>, steps: u64) {
        for (i, (name, _)) in self.params.iter().enumerate() {
            self.m[i] = tensors.get(&format!("optim.m.{name}")).cloned();
            self.v[i] = tensors.get(&format!("optim.v.{name}")).cloned();
        }
        self.steps = steps;
    }
}
