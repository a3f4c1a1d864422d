//! An exponential moving average of the model's weights and batch-norm statistics (Polyak averaging):
//! after every optimiser step `avg ← d·avg + (1 − d)·w` with `d = min(decay, (1 + t)/(10 + t))` at step t,
//! so the first steps are not frozen into the average. Evaluation and the saved model use the average;
//! training continues on the raw weights. Its state is part of the checkpoint, so `--resume` stays exact.

use crate::models::init::{is_learnt, vars_where};
use candle_core::{Result, Tensor, Var};
use candle_nn::VarMap;
use std::collections::HashMap;

pub struct Ema {
    decay: f64,
    /// Every variable the average covers (trainable weights and batch-norm statistics), sorted by name.
    vars: Vec<(String, Var)>,
    avg: Vec<Tensor>,
}

impl Ema {
    /// An average that starts at the variables' current values.
    pub fn new(varmap: &VarMap, decay: f64) -> Result<Self> {
        let vars = vars_where(varmap, is_learnt);
        let avg = vars
            .iter()
            .map(|(_, v)| v.as_tensor().copy())
            .collect::<Result<_>>()?;
        Ok(Ema { decay, vars, avg })
    }

    /// The decay used after optimiser step `step` (counting from 1).
    fn decay_at(&self, step: u64) -> f64 {
        self.decay.min((1.0 + step as f64) / (10.0 + step as f64))
    }

    /// Fold the variables' current values into the average, after optimiser step `step`.
    pub fn update(&mut self, step: u64) -> Result<()> {
        let d = self.decay_at(step);
        for ((_, var), avg) in self.vars.iter().zip(self.avg.iter_mut()) {
            *avg = (avg.affine(d, 0.0)? + var.as_tensor().affine(1.0 - d, 0.0)?)?;
        }
        Ok(())
    }

    /// Exchange the variables' values with the average: call once to evaluate the average, again to go
    /// back to training.
    pub fn swap(&mut self) -> Result<()> {
        for ((_, var), avg) in self.vars.iter().zip(self.avg.iter_mut()) {
            let raw = var.as_tensor().copy()?;
            var.set(avg)?;
            *avg = raw;
        }
        Ok(())
    }

    /// The average for the checkpoint, as `ema.NAME`.
    pub fn state(&self) -> HashMap<String, Tensor> {
        self.vars
            .iter()
            .zip(&self.avg)
            .map(|((n, _), a)| (format!("ema.{n}"), a.clone()))
            .collect()
    }

    /// Take the average from a checkpoint's tensors; `false` when it holds none (the average then
    /// restarts from the current weights).
    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>) -> Result<bool> {
        let mut found = true;
        for ((name, var), avg) in self.vars.iter().zip(self.avg.iter_mut()) {
            match tensors.get(&format!("ema.{name}")) {
                Some(t) if t.shape() == var.shape() => *avg = t.copy()?,
                _ => found = false,
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    fn one_var(value: f64) -> (VarMap, Var) {
        let varmap = VarMap::new();
        varmap
            .get(
                2,
                "w",
                candle_nn::Init::Const(value),
                DType::F32,
                &Device::Cpu,
            )
            .unwrap();
        let var = varmap.data().lock().unwrap()["w"].clone();
        (varmap, var)
    }

    #[test]
    fn the_average_follows_the_closed_form_and_swapping_twice_restores_the_raw_weights() {
        let (varmap, var) = one_var(0.0);
        let mut ema = Ema::new(&varmap, 0.5).unwrap();
        // Steps 1 and 2 use min(0.5, 2/11) and min(0.5, 3/12).
        let mut expect = 0.0f64;
        for (step, w) in [(1u64, 1.0f64), (2, 3.0)] {
            var.set(&Tensor::new(&[w as f32, w as f32], &Device::Cpu).unwrap())
                .unwrap();
            ema.update(step).unwrap();
            let d = 0.5f64.min((1.0 + step as f64) / (10.0 + step as f64));
            expect = d * expect + (1.0 - d) * w;
        }
        ema.swap().unwrap();
        let avg = var.as_tensor().to_vec1::<f32>().unwrap();
        assert!((avg[0] as f64 - expect).abs() < 1e-6, "{avg:?} vs {expect}");
        ema.swap().unwrap();
        assert_eq!(var.as_tensor().to_vec1::<f32>().unwrap(), vec![3.0, 3.0]);
    }

    #[test]
    fn the_checkpointed_average_comes_back_and_a_missing_one_is_reported() {
        let (varmap, var) = one_var(2.0);
        let mut ema = Ema::new(&varmap, 0.9).unwrap();
        var.set(&Tensor::new(&[4f32, 4.0], &Device::Cpu).unwrap())
            .unwrap();
        ema.update(100).unwrap();
        let saved = ema.state();
        let mut fresh = Ema::new(&varmap, 0.9).unwrap();
        assert!(fresh.load_state(&saved).unwrap());
        fresh.swap().unwrap();
        let got = var.as_tensor().to_vec1::<f32>().unwrap();
        assert!((got[0] - (0.9 * 2.0 + 0.1 * 4.0)).abs() < 1e-6, "{got:?}");
        assert!(!fresh.load_state(&HashMap::new()).unwrap());
    }
}
