//! Image CAM on plain arrays: the class map of a (C, h, w) feature map and every method of the CAM family
//! through [`super::methods`], bilinear upsampling to the photo and min-max scaling that survives a flat map; and a whole
//! picture explained by an image model ([`explain_picture`]).

use super::methods::method_map;
use super::probes::{channels, upsample_corners, NetProbe};
use super::skeleton::{argmax, ClassChoice};
use crate::data::augment::{batch_tensor, eval_view, Jitter};
use crate::models::{Ctx, ImageModel};
use candle_core::Tensor;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

/// How a picture is explained (the same methods as for skeletons).
pub use super::methods::CamMethod as ImageCamMethod;

/// Σ_k w[k] · a[k, p] for activations a (C, P) and channel weights w (C).
pub fn weighted_sum(a: ArrayView2<f32>, w: ArrayView1<f32>) -> Array1<f32> {
    w.dot(&a)
}

/// Bilinear resize of a map to (h, w), pixel centres aligned as PyTorch's `align_corners=False`.
pub fn upsample_bilinear(map: &Array2<f32>, h: usize, w: usize) -> Array2<f32> {
    let (sh, sw) = map.dim();
    let coord = |o: usize, n_out: usize, n_in: usize| -> (usize, usize, f32) {
        let x = ((o as f32 + 0.5) * n_in as f32 / n_out as f32 - 0.5).clamp(0.0, (n_in - 1) as f32);
        let x0 = x.floor() as usize;
        (x0, (x0 + 1).min(n_in - 1), x - x0 as f32)
    };
    let cols: Vec<(usize, usize, f32)> = (0..w).map(|x| coord(x, w, sw)).collect();
    Array2::from_shape_fn((h, w), |(y, x)| {
        let (y0, y1, fy) = coord(y, h, sh);
        let (x0, x1, fx) = cols[x];
        let top = map[[y0, x0]] * (1.0 - fx) + map[[y0, x1]] * fx;
        let bottom = map[[y1, x0]] * (1.0 - fx) + map[[y1, x1]] * fx;
        top * (1.0 - fy) + bottom * fy
    })
}

/// Min-max to [0, 1]; a flat (or non-finite) map gives zeros and `true` instead of NaN.
pub fn minmax2(map: &Array2<f32>) -> (Array2<f32>, bool) {
    let (lo, hi) = map
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &x| {
            (l.min(x), h.max(x))
        });
    let range = hi - lo;
    if !(range.is_finite() && range > 1e-12 * (1.0 + hi.abs().max(lo.abs()))) {
        return (Array2::zeros(map.dim()), true);
    }
    (map.mapv(|x| (x - lo) / range), false)
}

/// The map of one picture's features (1, C, h, w) for `class` by `method`, at feature resolution, plus
/// the raw CAM (always computed: it carries the identity mean(raw) + bias = logit).
#[allow(clippy::too_many_arguments)]
pub fn explain(
    model: &ImageModel,
    input: &Tensor,
    features: &Tensor,
    class_weights: ArrayView1<f32>,
    class: usize,
    score: f32,
    method: ImageCamMethod,
    batch: usize,
) -> crate::Result<(Array2<f32>, Array2<f32>)> {
    let (_, _, h, w) = features.dims4()?;
    let side = input.dim(3)?;
    let a = channels(features)?;
    let raw = weighted_sum(a.view(), class_weights);
    let to_map = |v: Array1<f32>| v.into_shape_with_order((h, w)).expect("h·w values");
    let map = match method {
        ImageCamMethod::Cam => raw.clone(),
        _ => {
            let net = &model.net;
            let head = |f: &Tensor| net.head(f);
            let forward = |x: &Tensor| net.forward(x, &mut Ctx::eval());
            let upsample = |m: &[f32]| upsample_corners(m, h, w, side);
            let probe = NetProbe {
                features,
                input,
                head: &head,
                forward: &forward,
                upsample: &upsample,
                class,
                batch,
            };
            method_map(method, &a, &class_weights.to_owned(), score, &probe)?
        }
    };
    Ok((to_map(raw), to_map(map)))
}

/// One explained picture.
pub struct PictureCam {
    pub class: usize,
    pub probs: Vec<f32>,
    pub logit: f32,
    pub bias: f32,
    /// Raw CAM at feature resolution.
    pub raw: Array2<f32>,
    /// The chosen method's map at feature resolution.
    pub map: Array2<f32>,
}

/// Explain a (resized, normalised) picture batch of one, (1, 3, S, S), for `choice`.
pub fn explain_picture(
    model: &ImageModel,
    x: &candle_core::Tensor,
    choice: &ClassChoice,
    method: ImageCamMethod,
    batch: usize,
) -> crate::Result<PictureCam> {
    Ok(explain_picture_classes(model, x, std::slice::from_ref(choice), method, batch)?.remove(0))
}

/// One forward pass, then the map of every class in `choices` (for `auto`, the predicted class).
pub fn explain_picture_classes(
    model: &ImageModel,
    x: &candle_core::Tensor,
    choices: &[ClassChoice],
    method: ImageCamMethod,
    batch: usize,
) -> crate::Result<Vec<PictureCam>> {
    let net = &model.net;
    let feats = net.features(x, &mut Ctx::eval())?;
    let out = net.head(&feats)?;
    let logits: Vec<f32> = out.squeeze(0)?.to_vec1()?;
    let probs: Vec<f32> = candle_nn::ops::softmax_last_dim(&out)?
        .squeeze(0)?
        .to_vec1()?;
    let (w, b) = net.head_params();
    choices
        .iter()
        .map(|choice| {
            let class = match choice {
                ClassChoice::Auto => argmax(&logits),
                ClassChoice::Index(i) => *i,
            };
            let wc: Vec<f32> = w.get(class)?.to_vec1()?;
            let (raw, map) = explain(
                model,
                x,
                &feats,
                Array1::from(wc).view(),
                class,
                logits[class],
                method,
                batch,
            )?;
            Ok(PictureCam {
                class,
                probs: probs.clone(),
                logit: logits[class],
                bias: b.get(class)?.to_scalar()?,
                raw,
                map,
            })
        })
        .collect()
}

/// A photo as a model input (1, 3, S, S).
pub fn photo_input(photo: &image::RgbImage, size: u32) -> crate::Result<Tensor> {
    batch_tensor(&[(eval_view(photo, size), Jitter::NONE)], size)
}
