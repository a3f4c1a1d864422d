//! CAM arithmetic on plain arrays, independent of any framework.
//!
//! For features f (C', T', V, M) of one sample and a head with class weights w_c (C') and bias b_c,
//! the raw map is M_c(t', v, m) = Σ_k w_c[k] f_k(t', v, m). With global average pooling over (T', V, M)
//! followed by the linear layer, mean(M_c) + b_c = logit_c exactly: [`identity_error`] checks it.

use ndarray::{Array3, ArrayView1, ArrayView4, Axis};
use serde::{Deserialize, Serialize};

/// Raw CAM (T', V, M) = Σ_k w[k] · features[k, t', v, m].
pub fn class_activation(features: ArrayView4<f32>, w: ArrayView1<f32>) -> Array3<f32> {
    let (c, t, v, m) = features.dim();
    assert_eq!(
        c,
        w.len(),
        "class weights must have one entry per feature channel"
    );
    let mut out = Array3::<f32>::zeros((t, v, m));
    for (k, wk) in w.iter().enumerate() {
        out.scaled_add(*wk, &features.index_axis(Axis(0), k));
    }
    out
}

/// |mean(raw) + bias − logit|, the exactness check of a GAP + linear head.
pub fn identity_error(raw: &Array3<f32>, bias: f32, logit: f32) -> f64 {
    let mean = raw.iter().map(|&x| x as f64).sum::<f64>() / raw.len().max(1) as f64;
    (mean + bias as f64 - logit as f64).abs()
}

/// The tolerance we accept for [`identity_error`]: float32 rounding of sums over the feature map.
pub fn identity_tolerance(logit: f32) -> f64 {
    1e-4 * (1.0 + logit.abs() as f64)
}

/// How a map is scaled for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Normalization {
    /// Raw values.
    None,
    /// Per sample: (x − min) / (max − min) over present persons; a flat map becomes all zeros.
    Minmax,
    /// Per dataset: x / max|x| over the whole evaluated split, so samples are comparable.
    Dataset,
}

/// Min-max to [0, 1] over the entries where `keep` is true; others become 0. Returns (map, flat?).
/// A flat map (max − min below 1e-12 of the scale) gives all zeros and `true`, never NaN.
pub fn minmax(map: &Array3<f32>, keep: &[bool]) -> (Array3<f32>, bool) {
    let vals = map
        .indexed_iter()
        .filter(|((_, _, m), _)| keep[*m])
        .map(|(_, &x)| x);
    let (lo, hi) = vals.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), x| {
        (lo.min(x), hi.max(x))
    });
    let range = hi - lo;
    let flat = !(range.is_finite() && range > 1e-12 * (1.0 + hi.abs().max(lo.abs())));
    let out = Array3::from_shape_fn(map.dim(), |(t, v, m)| {
        if !keep[m] || flat {
            0.0
        } else {
            (map[[t, v, m]] - lo) / range
        }
    });
    (out, flat)
}

/// Scale by a dataset-wide maximum absolute value (0 where `keep` is false).
pub fn scale_by(map: &Array3<f32>, keep: &[bool], max_abs: f32) -> Array3<f32> {
    let s = if max_abs > 0.0 && max_abs.is_finite() {
        1.0 / max_abs
    } else {
        0.0
    };
    Array3::from_shape_fn(
        map.dim(),
        |(t, v, m)| if keep[m] { map[[t, v, m]] * s } else { 0.0 },
    )
}

/// How the model's input frames relate to the original sequence and to the feature map's time axis.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimeMap {
    /// Frames of the original sequence shown in the output (padding dropped).
    pub frames: usize,
    /// Model input length T.
    pub input_frames: usize,
    /// Feature-map length T'.
    pub feature_frames: usize,
    /// Real temporal stride of the network (T / T').
    pub stride: usize,
    /// `true` when the sequence was linearly resampled to T; `false` when cropped/padded.
    pub resampled: bool,
}

impl TimeMap {
    /// Feature index of original frame `f`.
    pub fn feature_index(&self, f: usize) -> usize {
        let input_pos = if self.resampled && self.frames > 1 {
            (f as f64 * (self.input_frames - 1) as f64 / (self.frames - 1) as f64).round() as usize
        } else {
            f
        };
        (input_pos / self.stride).min(self.feature_frames - 1)
    }

    /// A (T', V, M) map brought to the original frames: (frames, V, M).
    pub fn to_frames(&self, map: &Array3<f32>) -> Array3<f32> {
        let (_, v, m) = map.dim();
        Array3::from_shape_fn((self.frames, v, m), |(f, j, p)| {
            map[[self.feature_index(f), j, p]]
        })
    }
}

/// Per-joint importance: the map (T, V, M) summed over time and over the persons marked present (V).
pub fn joint_importance(map: &Array3<f32>, present: &[bool]) -> Vec<f32> {
    let per_person = map.sum_axis(Axis(0));
    per_person
        .outer_iter()
        .map(|row| {
            row.iter()
                .zip(present)
                .filter(|(_, &p)| p)
                .map(|(x, _)| x)
                .sum()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array4;

    #[test]
    fn class_activation_is_the_weighted_channel_sum() {
        let f = Array4::from_shape_fn((3, 2, 4, 1), |(c, t, v, _)| (c * 10 + t * 4 + v) as f32);
        let w = ndarray::arr1(&[0.5f32, -1.0, 2.0]);
        let cam = class_activation(f.view(), w.view());
        for t in 0..2 {
            for v in 0..4 {
                let want = 0.5 * f[[0, t, v, 0]] - f[[1, t, v, 0]] + 2.0 * f[[2, t, v, 0]];
                assert_eq!(cam[[t, v, 0]], want);
            }
        }
        // mean(CAM) + b = w · mean(f) + b: the logit of a GAP + linear head.
        let logit = (0..3)
            .map(|c| w[c] * f.index_axis(ndarray::Axis(0), c).mean().unwrap())
            .sum::<f32>()
            + 0.3;
        assert!(identity_error(&cam, 0.3, logit) < 1e-5);
    }
}
