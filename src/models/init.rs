//! Seeded parameter initialisation (candle's own CPU RNG cannot be seeded).
//!
//! Rules by name and rank, in sorted name order from one seeded generator: conv/linear weights
//! U(±1/√fan_in) (PyTorch's default), biases 0, batch-norm γ 1 and β 0, running mean 0 / var 1,
//! edge importance 1.

use crate::rng::{rng_for, streams, uniform};
use candle_core::{Result, Tensor};
use candle_nn::VarMap;

/// Non-trainable state saved with the model: batch-norm statistics and RA-GCN's official-mode input masks.
pub fn is_buffer(name: &str) -> bool {
    name.ends_with("running_mean") || name.ends_with("running_var") || name.ends_with("input_mask")
}

/// Learnt state: the trainable variables and the batch-norm statistics (not the input masks, which are set).
pub fn is_learnt(name: &str) -> bool {
    !is_buffer(name) || name.ends_with("running_mean") || name.ends_with("running_var")
}

/// The (name, var) pairs whose name passes `keep`, sorted by name.
pub fn vars_where(varmap: &VarMap, keep: impl Fn(&str) -> bool) -> Vec<(String, candle_core::Var)> {
    let data = varmap.data().lock().expect("varmap lock");
    let mut v: Vec<(String, candle_core::Var)> = data
        .iter()
        .filter(|(n, _)| keep(n))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Trainable (name, var) pairs sorted by name (running statistics excluded).
pub fn trainable(varmap: &VarMap) -> Vec<(String, candle_core::Var)> {
    vars_where(varmap, |n| !is_buffer(n))
}

pub fn num_trainable(varmap: &VarMap) -> usize {
    trainable(varmap).iter().map(|(_, v)| v.elem_count()).sum()
}

pub fn seeded_init(varmap: &VarMap, seed: u64) -> Result<()> {
    let data = varmap.data().lock().expect("varmap lock");
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let mut rng = rng_for(seed, streams::INIT);
    for name in names {
        let var = &data[name];
        let shape = var.shape().clone();
        let dims = shape.dims();
        let value = if name.ends_with("running_var")
            || name.contains("edge_importance")
            || name.ends_with("input_mask")
        {
            Tensor::ones(&shape, var.dtype(), var.device())?
        } else if dims.len() >= 2 && name.ends_with("weight") {
            let fan_in: usize = dims[1..].iter().product();
            let bound = 1.0 / (fan_in as f32).sqrt();
            let vals: Vec<f32> = (0..shape.elem_count())
                .map(|_| uniform(&mut rng, -bound, bound))
                .collect();
            Tensor::from_vec(vals, &shape, var.device())?
        } else if dims.len() == 1 && name.ends_with("weight") {
            Tensor::ones(&shape, var.dtype(), var.device())?
        } else {
            Tensor::zeros(&shape, var.dtype(), var.device())?
        };
        var.set(&value)?;
    }
    Ok(())
}

/// torchvision's ResNet initialisation for every 4-D convolution weight: N(0, 2 / fan_out) with
/// fan_out = Cout·kh·kw (Kaiming, ReLU gain), from its own seeded stream; other variables keep [`seeded_init`]'s values.
pub fn kaiming_conv_init(varmap: &VarMap, seed: u64) -> Result<()> {
    let data = varmap.data().lock().expect("varmap lock");
    let mut names: Vec<&String> = data
        .keys()
        .filter(|n| n.ends_with("weight") && data[*n].dims().len() == 4)
        .collect();
    names.sort();
    let mut rng = rng_for(seed, streams::INIT_CONV);
    for name in names {
        let var = &data[name];
        let dims = var.dims().to_vec();
        let std = (2.0 / (dims[0] * dims[2] * dims[3]) as f32).sqrt();
        let vals: Vec<f32> = (0..var.elem_count())
            .map(|_| crate::rng::normal(&mut rng) * std)
            .collect();
        var.set(&Tensor::from_vec(vals, dims, var.device())?)?;
    }
    Ok(())
}
