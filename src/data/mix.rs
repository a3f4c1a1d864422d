//! Batch-level regularisation for image training: CutMix (Yun et al. 2019; a rectangle of another picture of
//! the batch is pasted in, and the targets mix in proportion to the areas) and label smoothing, expressed as
//! soft target rows for a cross-entropy against log-softmax.

use image::RgbImage;
use rand::rngs::StdRng;
use rand::RngExt;

/// Paste into each view a rectangle of view `perm[i]` with probability `p`; returns each view's own-label weight λ.
/// The rectangle covers 1 − u of the area for u ~ U(0, 1) (Beta(1, 1), as the paper), clipped at the borders.
pub fn cutmix(views: &mut [RgbImage], perm: &[usize], p: f64, rng: &mut StdRng) -> Vec<f32> {
    let originals: Vec<RgbImage> = views.to_vec();
    let mut lambdas = vec![1.0f32; views.len()];
    for (i, view) in views.iter_mut().enumerate() {
        if rng.random::<f64>() >= p || perm[i] == i {
            continue;
        }
        let (w, h) = (view.width() as f64, view.height() as f64);
        let cut = (1.0 - rng.random::<f64>()).sqrt();
        let (cw, ch) = (w * cut, h * cut);
        let (cx, cy) = (rng.random::<f64>() * w, rng.random::<f64>() * h);
        let x0 = (cx - cw / 2.0).clamp(0.0, w) as u32;
        let x1 = (cx + cw / 2.0).clamp(0.0, w) as u32;
        let y0 = (cy - ch / 2.0).clamp(0.0, h) as u32;
        let y1 = (cy + ch / 2.0).clamp(0.0, h) as u32;
        let src = &originals[perm[i]];
        for y in y0..y1 {
            for x in x0..x1 {
                view.put_pixel(x, y, *src.get_pixel(x, y));
            }
        }
        lambdas[i] = 1.0 - ((x1 - x0) * (y1 - y0)) as f32 / (w * h) as f32;
    }
    lambdas
}

/// Soft targets (N × K, row-major): λ on the own label, 1 − λ on the partner's, smoothed by ε (ε/K everywhere).
/// A label `None` (a picture without any object) spreads its weight evenly over the K classes.
pub fn soft_targets(
    labels: &[Option<usize>],
    partners: &[Option<usize>],
    lambdas: &[f32],
    classes: usize,
    smoothing: f32,
) -> Vec<f32> {
    let mut t = vec![smoothing / classes as f32; labels.len() * classes];
    for (i, (&y, &lam)) in labels.iter().zip(lambdas).enumerate() {
        let row = &mut t[i * classes..(i + 1) * classes];
        for (label, weight) in [(y, lam), (partners[i], 1.0 - lam)] {
            let weight = (1.0 - smoothing) * weight;
            match label {
                Some(c) => row[c] += weight,
                None => row.iter_mut().for_each(|v| *v += weight / classes as f32),
            }
        }
    }
    t
}
