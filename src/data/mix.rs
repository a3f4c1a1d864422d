//! Batch-level regularisation: CutMix for pictures (Yun et al. 2019; a rectangle of another picture of the
//! batch is pasted in, and the targets mix in proportion to the areas), mixup for skeleton sequences (Zhang et
//! al. 2018; the whole batch is blended with a shuffled copy of itself), and label smoothing, expressed as soft
//! target rows for a cross-entropy against log-softmax.

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

/// How a batch is blended with a shuffled copy of itself: sample i becomes λ·x_i + (1 − λ)·x_partners[i].
#[derive(Debug, Clone, PartialEq)]
pub struct Mixup {
    pub partners: Vec<usize>,
    pub lambda: f32,
}

impl Mixup {
    /// Partners by a random permutation of the n samples and λ ~ Beta(α, α) folded onto [0.5, 1], so that
    /// each sample's own label keeps the larger weight (α in (0, 1]: Jöhnk's method, exact for these α).
    pub fn draw(rng: &mut StdRng, n: usize, alpha: f64) -> Mixup {
        let partners = crate::rng::permutation(rng, n);
        let lambda = loop {
            let (u, v): (f64, f64) = (rng.random(), rng.random());
            let (p, q) = (u.powf(1.0 / alpha), v.powf(1.0 / alpha));
            if p + q > 1.0 || (u == 0.0 && v == 0.0) {
                continue;
            }
            if p + q > 0.0 {
                break p / (p + q);
            }
            // Both powers underflowed (α near 0): the same ratio from their logarithms.
            break 1.0 / (1.0 + ((v.ln() - u.ln()) / alpha).exp());
        };
        Mixup {
            partners,
            lambda: lambda.max(1.0 - lambda) as f32,
        }
    }

    /// The partners' labels, for [`soft_targets`].
    pub fn partner_labels(&self, labels: &[Option<usize>]) -> Vec<Option<usize>> {
        self.partners.iter().map(|&j| labels[j]).collect()
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_for;

    /// Folded λ against closed forms: Beta(1, 1) folded onto [0.5, 1] is uniform there (mean 0.75, variance
    /// 1/48); for Beta(½, ½) (the arcsine law, CDF (2/π)·asin(√x)), P(λ > 0.9) = 2·(1 − (2/π)·asin(√0.9)).
    #[test]
    fn mixup_weights_follow_the_folded_beta_law_and_partners_are_a_permutation() {
        let mut rng = rng_for(3, 0);
        let n = 40_000;
        let draw = |rng: &mut StdRng, alpha| -> Vec<f64> {
            (0..n)
                .map(|_| Mixup::draw(rng, 1, alpha).lambda as f64)
                .collect()
        };
        let u = draw(&mut rng, 1.0);
        let mean = u.iter().sum::<f64>() / n as f64;
        let var = u.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(
            (mean - 0.75).abs() < 0.003 && (var - 1.0 / 48.0).abs() < 0.001,
            "{mean} {var}"
        );
        assert!(u.iter().all(|&l| (0.5..=1.0).contains(&l)));
        let a = draw(&mut rng, 0.5);
        let above = a.iter().filter(|&&l| l > 0.9).count() as f64 / n as f64;
        let want = 2.0 * (1.0 - 2.0 / std::f64::consts::PI * 0.9f64.sqrt().asin());
        assert!((above - want).abs() < 0.01, "{above} against {want}");
        // A vanishing α draws λ at 0 or 1 and returns (no endless loop on underflowing powers).
        let tiny = draw(&mut rng, 1e-12);
        assert!(
            tiny.iter().all(|&l| (0.5..=1.0).contains(&l))
                && tiny.iter().sum::<f64>() > 0.99 * n as f64
        );
        let m = Mixup::draw(&mut rng, 16, 0.2);
        let mut p = m.partners.clone();
        p.sort();
        assert_eq!(p, (0..16).collect::<Vec<_>>());
        let labels: Vec<Option<usize>> = (0..16).map(|i| Some(i % 3)).collect();
        let t = soft_targets(&labels, &m.partner_labels(&labels), &[m.lambda; 16], 3, 0.0);
        for (i, row) in t.chunks(3).enumerate() {
            let mut want = [0f32; 3];
            want[i % 3] += m.lambda;
            want[m.partners[i] % 3] += 1.0 - m.lambda;
            assert_eq!(row, want, "row {i}");
        }
    }
}
