//! Gradients at the feature map for the gradient methods of the CAM family: candle keeps no gradients of
//! intermediate tensors, so the features are detached into a `Var` and only the head is re-run on it. For a
//! GAP + linear head ∂y_c/∂F_k = w_c[k] / Z everywhere (tests check the closed forms that follow).

use candle_core::{Result, Tensor, Var};
use ndarray::Array4;

/// ∂ logit_class / ∂ features, through a leaf variable made from the (detached) features.
fn logit_gradient(
    features: &Tensor,
    head: impl Fn(&Tensor) -> Result<Tensor>,
    class: usize,
) -> Result<Tensor> {
    let fv = Var::from_tensor(&features.detach())?;
    let logits = head(fv.as_tensor())?;
    let grads = logits.narrow(1, class, 1)?.sum_all()?.backward()?;
    grads
        .get(&fv)
        .cloned()
        .ok_or_else(|| candle_core::Error::Msg("no gradient at the feature map".into()))
}

/// A 4-D candle tensor as an ndarray.
pub fn to_array4(t: &Tensor) -> Result<Array4<f32>> {
    let (a, b, c, d) = t.dims4()?;
    let v: Vec<f32> = t.flatten_all()?.to_vec1()?;
    Array4::from_shape_vec((a, b, c, d), v).map_err(|e| candle_core::Error::Msg(e.to_string()))
}

/// Gradient of logit `class` at the features (any shape (1, C, ...)) under `head`, as (C, P) arrays of
/// the activations and the gradients.
pub fn feature_gradients(
    features: &Tensor,
    head: impl Fn(&Tensor) -> Result<Tensor>,
    class: usize,
) -> Result<(ndarray::Array2<f32>, ndarray::Array2<f32>)> {
    let g = logit_gradient(features, head, class)?;
    let c = features.dim(1)?;
    let flat = |t: &Tensor| -> Result<ndarray::Array2<f32>> {
        let v: Vec<f32> = t.flatten_all()?.to_vec1()?;
        let p = v.len() / c;
        ndarray::Array2::from_shape_vec((c, p), v)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))
    };
    Ok((flat(features)?, flat(&g)?))
}
