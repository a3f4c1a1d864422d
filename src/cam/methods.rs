//! The CAM family, one implementation for joints and pixels. A method sees the last feature map as
//! activations A (C channels × P positions: T′·V·M for a skeleton, h·w for a picture), the class row w of
//! the head, and a [`Probe`] into the model for what needs more than that (gradients at the feature map by
//! autograd, the head re-run on ablated features, the whole model re-run on masked inputs).
//!
//! | method | map (before the final ReLU, except CAM and HiResCAM which stay signed) |
//! |---|---|
//! | `cam` | Σ_k w_k A_k |
//! | `hirescam` | Σ_k g_k ⊙ A_k, g = ∂y_c/∂A |
//! | `gradcam` | ReLU(Σ_k ᾱ_k A_k), ᾱ_k = mean_P g_k |
//! | `xgradcam` | ReLU(Σ_k α_k A_k), α_k = Σ_P g_k A_k / (Σ_P A_k + 1e-7) |
//! | `gradcam++` | ReLU(Σ_k α_k A_k), α_k = Σ_P a·ReLU(g_k), a = g²/(2g² + Σ_P A_k·g³ + 1e-6) (0 where g = 0) |
//! | `layercam` | ReLU(Σ_k ReLU(g_k) ⊙ A_k) |
//! | `scorecam` | ReLU(Σ_k s_k A_k), s = softmax over k of y_c(input ⊙ norm(up(A_k))) |
//! | `ablationcam` | ReLU(Σ_k d_k A_k), d_k = (y_c − y_c(A with channel k zeroed)) / y_c |
//! | `eigencam` | ReLU(projection of the centred A onto its first principal component) |
//! | `random` | uniform [0, 1) per position from a fixed seed (a baseline) |
//!
//! The constants 1e-7 and 1e-6 are pytorch-grad-cam's (1.5), so that the same name gives the same map.

use crate::Result;
use ndarray::{Array1, Array2, Axis};
use rand::{RngExt, SeedableRng};
use serde::Serialize;

/// An explanation method.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum CamMethod {
    /// Class weights × last features (Zhou et al. 2016); signed, exact: mean(map) + bias = logit.
    Cam,
    /// Gradient ⊙ features summed over channels (Draelos & Carin 2020); signed.
    Hirescam,
    /// Gradient-weighted (Selvaraju et al. 2017).
    Gradcam,
    /// Axiom-based Grad-CAM (Fu et al. 2020).
    Xgradcam,
    /// Grad-CAM++ (Chattopadhay et al. 2018).
    #[value(name = "gradcam++")]
    #[serde(rename = "gradcam++")]
    GradcamPp,
    /// Position-wise positive gradients (Jiang et al. 2021).
    Layercam,
    /// Channel maps as input masks, weighted by the softmax of the class score (Wang et al. 2020).
    Scorecam,
    /// The score drop of zeroing each channel (Desai & Ramaswamy 2020).
    Ablationcam,
    /// First principal component of the features (Muhammad & Yeasin 2020); class-agnostic.
    Eigencam,
    /// A seeded random map: the baseline every method should beat.
    Random,
}

impl CamMethod {
    /// The method's name in titles.
    pub fn label(self) -> &'static str {
        match self {
            CamMethod::Cam => "CAM",
            CamMethod::Hirescam => "HiResCAM",
            CamMethod::Gradcam => "Grad-CAM",
            CamMethod::Xgradcam => "XGrad-CAM",
            CamMethod::GradcamPp => "Grad-CAM++",
            CamMethod::Layercam => "LayerCAM",
            CamMethod::Scorecam => "Score-CAM",
            CamMethod::Ablationcam => "Ablation-CAM",
            CamMethod::Eigencam => "Eigen-CAM",
            CamMethod::Random => "random",
        }
    }

    /// The name on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            CamMethod::Cam => "cam",
            CamMethod::Hirescam => "hirescam",
            CamMethod::Gradcam => "gradcam",
            CamMethod::Xgradcam => "xgradcam",
            CamMethod::GradcamPp => "gradcam++",
            CamMethod::Layercam => "layercam",
            CamMethod::Scorecam => "scorecam",
            CamMethod::Ablationcam => "ablationcam",
            CamMethod::Eigencam => "eigencam",
            CamMethod::Random => "random",
        }
    }

    /// Every method, in the order of the table above.
    pub const ALL: [CamMethod; 10] = [
        CamMethod::Cam,
        CamMethod::Hirescam,
        CamMethod::Gradcam,
        CamMethod::Xgradcam,
        CamMethod::GradcamPp,
        CamMethod::Layercam,
        CamMethod::Scorecam,
        CamMethod::Ablationcam,
        CamMethod::Eigencam,
        CamMethod::Random,
    ];
}

/// What a method may ask of the model beyond the features and the class row.
pub trait Probe {
    /// ∂y_c/∂A at the feature map (C × P), by autograd through the head.
    fn gradients(&self) -> Result<Array2<f32>>;
    /// y_c of the head on the features with channel k zeroed, for every k.
    fn ablated_scores(&self) -> Result<Vec<f32>>;
    /// y_c of the model on the input masked by each channel's map (C × P at feature resolution), brought
    /// to the input's resolution and min-max normalised by the domain.
    fn masked_scores(&self, maps: &Array2<f32>) -> Result<Vec<f32>>;
}

/// The map of `method` over the P positions, from activations `a` (C × P), class row `w` (C) and the score
/// y_c of the unaltered input.
pub fn method_map(
    method: CamMethod,
    a: &Array2<f32>,
    w: &Array1<f32>,
    score: f32,
    probe: &dyn Probe,
) -> Result<Array1<f32>> {
    let relu = |m: Array1<f32>| m.mapv(|x| x.max(0.0));
    let weighted = |k: &Array1<f32>| k.dot(a);
    Ok(match method {
        CamMethod::Cam => weighted(w),
        CamMethod::Hirescam => (&probe.gradients()? * a).sum_axis(Axis(0)),
        CamMethod::Gradcam => {
            let g = probe.gradients()?;
            relu(weighted(&g.mean_axis(Axis(1)).expect("positions")))
        }
        CamMethod::Xgradcam => {
            let g = probe.gradients()?;
            let num = (&g * a).sum_axis(Axis(1));
            let den = a.sum_axis(Axis(1)).mapv(|s| s + 1e-7);
            relu(weighted(&(num / den)))
        }
        CamMethod::GradcamPp => relu(weighted(&gradcam_pp_weights(a, &probe.gradients()?))),
        CamMethod::Layercam => {
            let g = probe.gradients()?.mapv(|x| x.max(0.0));
            relu((&g * a).sum_axis(Axis(0)))
        }
        CamMethod::Scorecam => {
            let s = probe.masked_scores(a)?;
            let top = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let e: Vec<f64> = s.iter().map(|&x| ((x - top) as f64).exp()).collect();
            let z: f64 = e.iter().sum();
            relu(weighted(&e.iter().map(|x| (x / z) as f32).collect()))
        }
        CamMethod::Ablationcam => {
            let s = probe.ablated_scores()?;
            let d: Array1<f32> = s.iter().map(|&y| (score - y) / score).collect();
            relu(weighted(&d))
        }
        CamMethod::Eigencam => relu(first_component(a)),
        CamMethod::Random => {
            let mut rng = rand::rngs::StdRng::seed_from_u64(RANDOM_SEED);
            (0..a.ncols()).map(|_| rng.random::<f32>()).collect()
        }
    })
}

/// Score-CAM's masked inputs and Ablation-CAM's ablated feature maps per forward pass, unless `--batch`
/// says otherwise.
pub const DEFAULT_BATCH: usize = 16;

/// The seed of the `random` method's map.
pub const RANDOM_SEED: u64 = 1;

/// Grad-CAM++ channel weights from activations A and gradients g (both C × P), with pytorch-grad-cam's
/// 1e-6 in the denominator.
pub fn gradcam_pp_weights(a: &Array2<f32>, g: &Array2<f32>) -> Array1<f32> {
    Array1::from_shape_fn(a.nrows(), |k| {
        let sum_a: f64 = a.row(k).iter().map(|&x| x as f64).sum();
        g.row(k)
            .iter()
            .map(|&gv| {
                let g = gv as f64;
                if g == 0.0 {
                    return 0.0;
                }
                let alpha = g * g / (2.0 * g * g + sum_a * g * g * g + 1e-6);
                alpha * g.max(0.0)
            })
            .sum::<f64>() as f32
    })
}

/// The projection of the position-centred activations (P × C after transposing A) onto their first
/// principal direction, signed so that it correlates positively with the channel sum Σ_k A_k (an SVD's
/// sign is arbitrary; this makes the map point at where the features are strong).
pub fn first_component(a: &Array2<f32>) -> Array1<f32> {
    let (c, p) = a.dim();
    let x: Array2<f64> = a.t().mapv(f64::from); // P × C
    let mean = x.mean_axis(Axis(0)).expect("positions");
    let xc = &x - &mean;
    // The top eigenvector of the smaller Gram matrix, by power iteration.
    let proj: Array1<f64> = if p <= c {
        let g = xc.dot(&xc.t()); // P × P
        let u = top_eigenvector(&g);
        let lambda = u.dot(&g.dot(&u)).max(0.0);
        u * lambda.sqrt()
    } else {
        let g = xc.t().dot(&xc); // C × C
        xc.dot(&top_eigenvector(&g))
    };
    let strength = a.sum_axis(Axis(0)).mapv(f64::from);
    let sign = if proj.dot(&strength) < 0.0 { -1.0 } else { 1.0 };
    proj.mapv(|v| (sign * v) as f32)
}

/// The unit eigenvector of the largest eigenvalue of a symmetric positive semi-definite matrix.
fn top_eigenvector(g: &Array2<f64>) -> Array1<f64> {
    let n = g.nrows();
    let mut v = Array1::from_shape_fn(n, |i| 1.0 + (i as f64 * 0.618_033_988_7).fract());
    v /= v.dot(&v).sqrt().max(f64::MIN_POSITIVE);
    for _ in 0..5000 {
        let mut next = g.dot(&v);
        let norm = next.dot(&next).sqrt();
        if norm == 0.0 {
            return v;
        }
        next /= norm;
        let change = (&next - &v).mapv(f64::abs).sum();
        v = next;
        if change < 1e-13 * n as f64 {
            break;
        }
    }
    v
}
