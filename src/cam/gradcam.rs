//! Grad-CAM (Selvaraju et al., 2017) through a leaf variable at the feature map: candle keeps no gradients
//! of intermediate tensors, so the features are detached into a `Var` and only the head is re-run on it.
//!
//! α_k = mean over positions of ∂y_c/∂F_k, map = ReLU(Σ_k α_k F_k). For a GAP + linear head
//! ∂y_c/∂F_k = w_c[k] / Z everywhere, so Grad-CAM = ReLU(CAM) / Z (a test checks it).

use candle_core::{Result, Tensor, Var};
use ndarray::{Array1, Array3, Array4};

/// Grad-CAM of class `class` for one sample's features (1, C', T', V, M) under `head` (features → logits).
/// Returns the map (T', V, M) and the channel weights α (C').
pub fn gradcam(
    features: &Tensor,
    head: impl Fn(&Tensor) -> Result<Tensor>,
    class: usize,
) -> Result<(Array3<f32>, Array1<f32>)> {
    let g = logit_gradient(features, head, class)?;
    let (_, c, t, v, m) = g.dims5()?;
    let alpha: Vec<f32> = g.squeeze(0)?.reshape((c, t * v * m))?.mean(1)?.to_vec1()?;
    let f = to_array4(&features.squeeze(0)?)?;
    let mut map = Array3::<f32>::zeros((t, v, m));
    for (k, a) in alpha.iter().enumerate() {
        map.scaled_add(*a, &f.index_axis(ndarray::Axis(0), k));
    }
    map.mapv_inplace(|x| x.max(0.0));
    Ok((map, Array1::from(alpha)))
}

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

/// Grad-CAM++ channel weights (Chattopadhay et al. 2018, eq. 19 with the exponential closed form) from the
/// activations A and gradients g = ∂S_c/∂A, both (C, P) over P positions:
/// a = g² / (2g² + Σ_P A · g³) (0 where g = 0), w_k = Σ_P a · ReLU(g).
pub fn gradcam_pp_weights(a: ndarray::ArrayView2<f32>, g: ndarray::ArrayView2<f32>) -> Array1<f32> {
    let c = a.nrows();
    Array1::from_shape_fn(c, |k| {
        let sum_a: f64 = a.row(k).iter().map(|&x| x as f64).sum();
        g.row(k)
            .iter()
            .map(|&gv| {
                let g = gv as f64;
                let denom = 2.0 * g * g + sum_a * g * g * g;
                let alpha = if g == 0.0 || denom == 0.0 {
                    0.0
                } else {
                    g * g / denom
                };
                alpha * g.max(0.0)
            })
            .sum::<f64>() as f32
    })
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
