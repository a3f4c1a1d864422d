//! Preprocessing and augmentation of skeleton sequences into the fixed-size model input (N, C, T, V, M).
//!
//! Normalisation (once, at load): translate so the layout's centre joint of person 0 is at the origin on
//! average, and scale so the RMS joint distance from that centre is 1. Absent persons/frames stay zero.
//! Fixed length: `resample` stretches the (cropped) sequence linearly to T frames; `pad` keeps the first T
//! frames and zero-pads. Augmentation (training only): rotation about the vertical axis, scale, shift and
//! a random temporal crop.

use super::{Layout, Sequence};
use crate::rng::{normal, uniform};
use ndarray::{Array4, Axis};
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LengthMode {
    /// Linear resampling of the whole (or cropped) sequence to T frames.
    Resample,
    /// First T frames, zero-padded at the end.
    Pad,
}

/// What is done to a sequence once, when it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum Preprocess {
    /// Centre on the layout's centre joint and scale to unit RMS radius (skelcam's own models).
    #[default]
    Normalize,
    /// The coordinates exactly as stored (models trained by other tools on their own files, such as the
    /// official ST-GCN's raw camera coordinates).
    Raw,
    /// pyskl's `PreNormalize3D` (pyskl and mmaction2 3-D models): see [`super::prenorm3d`].
    #[value(name = "pyskl-3d")]
    #[serde(rename = "pyskl-3d")]
    Pyskl3d,
}

impl Preprocess {
    pub fn is_normalize(&self) -> bool {
        *self == Preprocess::Normalize
    }

    /// Apply to a sequence that was just read; the error says why the sequence cannot take it.
    pub fn apply(self, seq: &mut Sequence, layout: &Layout) -> std::result::Result<(), String> {
        match self {
            Preprocess::Normalize => normalize(seq, layout),
            Preprocess::Raw => {}
            Preprocess::Pyskl3d => super::prenorm3d::pyskl_prenormalize_3d(seq)?,
        }
        Ok(())
    }
}

/// A `--config` file's `augment` object may set any of these; the fields it leaves out keep the defaults.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Augment {
    /// Max rotation about the vertical (y) axis, degrees.
    pub rotate_deg: f32,
    /// Scale factor drawn from [1 - scale, 1 + scale].
    pub scale: f32,
    /// Shift per axis drawn from [-shift, shift] (normalised units).
    pub shift: f32,
    /// Temporal crop keeps a random window of at least this fraction of the frames (1 = no crop).
    pub crop_min: f32,
    /// Max tilt about each horizontal axis (x, then z), degrees, after the turn about y (0 = none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tilt_deg: f32,
    /// Each axis scaled by its own further factor from [1 - axis_scale, 1 + axis_scale] (0 = none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub axis_scale: f32,
    /// Standard deviation of independent Gaussian noise on every coordinate of every present joint and
    /// frame, in normalised units (0 = none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub jitter: f32,
}

fn is_zero(x: &f32) -> bool {
    *x == 0.0
}

impl Augment {
    /// Refuse values that would turn the augmentation into something else (a negative scale mirrors the
    /// body, a crop of less than nothing keeps nothing), naming the `augment` field.
    pub fn validate(&self) -> crate::Result<()> {
        let fields: [(&str, f32, f32, f32, &str); 7] = [
            (
                "rotate_deg",
                self.rotate_deg,
                0.0,
                180.0,
                "degrees in [0, 180]",
            ),
            (
                "scale",
                self.scale,
                0.0,
                0.99,
                "in [0, 0.99] (factors 1 ± scale)",
            ),
            (
                "shift",
                self.shift,
                0.0,
                10.0,
                "in [0, 10] normalised units",
            ),
            (
                "crop_min",
                self.crop_min,
                0.01,
                1.0,
                "a fraction in [0.01, 1] (1: no crop)",
            ),
            ("tilt_deg", self.tilt_deg, 0.0, 90.0, "degrees in [0, 90]"),
            (
                "axis_scale",
                self.axis_scale,
                0.0,
                0.99,
                "in [0, 0.99] (factors 1 ± axis_scale)",
            ),
            (
                "jitter",
                self.jitter,
                0.0,
                1.0,
                "a standard deviation in [0, 1] normalised units",
            ),
        ];
        for (name, value, lo, hi, expected) in fields {
            if !(lo..=hi).contains(&value) {
                let field = format!("augment.{name}");
                return Err(crate::Error::invalid(field, value, expected));
            }
        }
        Ok(())
    }
}

/// The default augmentation (chosen on MSR Action3D with seeds 1–3 and checked on the synthetic `all`
/// preset, see benches/README.md): stronger than the earlier 15°, ±10 % and 80 % crops, which let the small
/// network reach 99 % training accuracy and overfit.
impl Default for Augment {
    fn default() -> Self {
        Augment {
            rotate_deg: 30.0,
            scale: 0.15,
            shift: 0.1,
            crop_min: 0.6,
            tilt_deg: 0.0,
            axis_scale: 0.0,
            jitter: 0.0,
        }
    }
}

fn present(data: &Array4<f32>, t: usize, m: usize) -> bool {
    let s = data.shape();
    (0..s[0]).any(|c| (0..s[2]).any(|v| data[[c, t, v, m]] != 0.0))
}

/// Centre on the layout's centre joint and scale to unit RMS radius (in place).
pub fn normalize(seq: &mut Sequence, layout: &Layout) {
    let data = &mut seq.data;
    let (c_n, t_n, v_n, m_n) = data.dim();
    let pres: Vec<Vec<bool>> = (0..t_n)
        .map(|t| (0..m_n).map(|m| present(data, t, m)).collect())
        .collect();
    let frames0: Vec<usize> = (0..t_n).filter(|&t| pres[t][0]).collect();
    if frames0.is_empty() {
        return;
    }
    let origin: Vec<f32> = (0..c_n)
        .map(|c| {
            frames0
                .iter()
                .map(|&t| data[[c, t, layout.center, 0]])
                .sum::<f32>()
                / frames0.len() as f32
        })
        .collect();
    let mut sq = 0f64;
    let mut n = 0usize;
    for &t in &frames0 {
        for v in 0..v_n {
            let d2: f32 = (0..c_n)
                .map(|c| (data[[c, t, v, 0]] - data[[c, t, layout.center, 0]]).powi(2))
                .sum();
            sq += d2 as f64;
            n += 1;
        }
    }
    let mut rms = ((sq / n as f64).sqrt() as f32).max(1e-6);
    let mut origin = origin;
    if !rms.is_finite() || origin.iter().any(|x| !x.is_finite()) {
        // Coordinates so large that their squares overflow f32 (1e20 and up): the same statistics in f64,
        // so that the sequence keeps its shape instead of collapsing to zero.
        (origin, rms) = centre_and_radius_f64(data, &frames0, layout.center);
    }
    for t in 0..t_n {
        for m in 0..m_n {
            if !pres[t][m] {
                continue;
            }
            for v in 0..v_n {
                for c in 0..c_n {
                    data[[c, t, v, m]] = (data[[c, t, v, m]] - origin[c]) / rms;
                }
            }
        }
    }
}

/// The mean centre-joint position of person 0 over `frames` and the RMS joint distance from the centre, in f64.
fn centre_and_radius_f64(data: &Array4<f32>, frames: &[usize], center: usize) -> (Vec<f32>, f32) {
    let (c_n, _, v_n, _) = data.dim();
    let n = frames.len() as f64;
    let origin: Vec<f64> = (0..c_n)
        .map(|c| {
            frames
                .iter()
                .map(|&t| data[[c, t, center, 0]] as f64)
                .sum::<f64>()
                / n
        })
        .collect();
    let mut sq = 0f64;
    for &t in frames {
        for v in 0..v_n {
            for c in 0..c_n {
                sq += (data[[c, t, v, 0]] as f64 - data[[c, t, center, 0]] as f64).powi(2);
            }
        }
    }
    let rms = (sq / (n * v_n as f64)).sqrt().max(1e-6);
    (origin.iter().map(|&x| x as f32).collect(), rms as f32)
}

/// A window `[start, start + len)` of the sequence, drawn at random when `rng` is given.
pub fn crop_window(len: usize, crop_min: f32, rng: Option<&mut StdRng>) -> (usize, usize) {
    match rng {
        Some(r) if crop_min < 1.0 && len > 2 => {
            let frac = uniform(r, crop_min, 1.0);
            let w = ((len as f32 * frac).round() as usize).clamp(2, len);
            let start = (uniform(r, 0.0, 1.0) * (len - w + 1) as f32) as usize;
            (start.min(len - w), w)
        }
        _ => (0, len),
    }
}

/// The sequence brought to exactly `frames` frames; also returns how many output frames hold real data.
pub fn to_length(
    data: &Array4<f32>,
    frames: usize,
    mode: LengthMode,
    window: (usize, usize),
) -> (Array4<f32>, usize) {
    let (c_n, _, v_n, m_n) = data.dim();
    let src = data.slice_axis(Axis(1), (window.0..window.0 + window.1).into());
    let len = window.1;
    let mut out = Array4::<f32>::zeros((c_n, frames, v_n, m_n));
    match mode {
        LengthMode::Pad => {
            let n = len.min(frames);
            out.slice_axis_mut(Axis(1), (0..n).into())
                .assign(&src.slice_axis(Axis(1), (0..n).into()));
            (out, n)
        }
        LengthMode::Resample => {
            for t in 0..frames {
                let pos = if frames > 1 {
                    t as f32 * (len - 1) as f32 / (frames - 1) as f32
                } else {
                    0.0
                };
                let i0 = (pos.floor() as usize).min(len - 1);
                let i1 = (i0 + 1).min(len - 1);
                let w = pos - i0 as f32;
                for m in 0..m_n {
                    // Never blend a present frame with an absent one: take the nearer present neighbour.
                    let (p0, p1) = (present_view(&src, i0, m), present_view(&src, i1, m));
                    let (a, b, w) = match (p0, p1) {
                        (true, true) => (i0, i1, w),
                        (true, false) => (i0, i0, 0.0),
                        (false, true) => (i1, i1, 0.0),
                        (false, false) => continue,
                    };
                    for v in 0..v_n {
                        for c in 0..c_n {
                            out[[c, t, v, m]] =
                                src[[c, a, v, m]] * (1.0 - w) + src[[c, b, v, m]] * w;
                        }
                    }
                }
            }
            (out, frames)
        }
    }
}

fn present_view(d: &ndarray::ArrayView4<f32>, t: usize, m: usize) -> bool {
    let s = d.shape();
    (0..s[0]).any(|c| (0..s[2]).any(|v| d[[c, t, v, m]] != 0.0))
}

/// Random rotation about y (then tilts about x and z when `tilt_deg` is set), scale and shift, applied to
/// present persons/frames only (in place).
pub fn augment_spatial(data: &mut Array4<f32>, aug: &Augment, rng: &mut StdRng) {
    let (c_n, t_n, v_n, m_n) = data.dim();
    let theta = uniform(rng, -aug.rotate_deg, aug.rotate_deg).to_radians();
    let scale = uniform(rng, 1.0 - aug.scale, 1.0 + aug.scale);
    let shift: Vec<f32> = (0..c_n)
        .map(|_| uniform(rng, -aug.shift, aug.shift))
        .collect();
    let rot = rotation(theta, aug.tilt_deg, rng);
    // No draws when an option is off, so runs without it repeat the earlier ones exactly.
    let axis: Vec<f32> = (0..c_n)
        .map(|_| match aug.axis_scale > 0.0 {
            true => scale * uniform(rng, 1.0 - aug.axis_scale, 1.0 + aug.axis_scale),
            false => scale,
        })
        .collect();
    for t in 0..t_n {
        for m in 0..m_n {
            if !present(data, t, m) {
                continue;
            }
            for v in 0..v_n {
                if c_n >= 3 {
                    let p = [data[[0, t, v, m]], data[[1, t, v, m]], data[[2, t, v, m]]];
                    for (i, row) in rot.iter().enumerate() {
                        data[[i, t, v, m]] = row[0] * p[0] + row[1] * p[1] + row[2] * p[2];
                    }
                }
                for ch in 0..c_n {
                    data[[ch, t, v, m]] = data[[ch, t, v, m]] * axis[ch] + shift[ch];
                    if aug.jitter > 0.0 {
                        data[[ch, t, v, m]] += aug.jitter * normal(rng);
                    }
                }
            }
        }
    }
}

/// The 3 × 3 rotation: `theta` about y, then (when `tilt_deg` > 0) random tilts about x and z drawn from
/// `rng` (no draw at 0, so runs without tilt repeat the earlier ones exactly).
fn rotation(theta: f32, tilt_deg: f32, rng: &mut StdRng) -> [[f32; 3]; 3] {
    let (s, c) = theta.sin_cos();
    let ry = [[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]];
    if tilt_deg <= 0.0 {
        return ry;
    }
    let (sa, ca) = uniform(rng, -tilt_deg, tilt_deg).to_radians().sin_cos();
    let (sb, cb) = uniform(rng, -tilt_deg, tilt_deg).to_radians().sin_cos();
    let rx = [[1.0, 0.0, 0.0], [0.0, ca, -sa], [0.0, sa, ca]];
    let rz = [[cb, -sb, 0.0], [sb, cb, 0.0], [0.0, 0.0, 1.0]];
    matmul3(&rz, &matmul3(&rx, &ry))
}

fn matmul3(a: &[[f32; 3]; 3], b: &[[f32; 3]; 3]) -> [[f32; 3]; 3] {
    let mut out = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            out[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    out
}

/// Model input for one sequence: cropped (training), fixed length, augmented (training), and with
/// `persons` person slots (extra slots zero, surplus persons dropped). Returns (C, T, V, M) and valid frames.
pub fn prepare(
    seq: &Sequence,
    frames: usize,
    persons: usize,
    mode: LengthMode,
    train_aug: Option<(&Augment, &mut StdRng)>,
) -> (Array4<f32>, usize) {
    let len = seq.frames();
    let (mut out, valid) = match train_aug {
        Some((aug, rng)) => {
            let window = crop_window(len, aug.crop_min, Some(&mut *rng));
            let (mut o, valid) = to_length(&seq.data, frames, mode, window);
            augment_spatial(&mut o, aug, rng);
            (o, valid)
        }
        None => to_length(&seq.data, frames, mode, (0, len)),
    };
    let m_have = out.shape()[3];
    if m_have != persons {
        let mut fixed = Array4::<f32>::zeros((out.shape()[0], frames, out.shape()[2], persons));
        let n = m_have.min(persons);
        fixed
            .slice_axis_mut(Axis(3), (0..n).into())
            .assign(&out.slice_axis(Axis(3), (0..n).into()));
        out = fixed;
    }
    (out, valid)
}

/// Append motion channels: for each coordinate channel c, x[t+1] − x[t] (zero at the last frame and wherever
/// either frame is absent). (C, T, V, M) → (2C, T, V, M).
pub fn with_motion(data: &Array4<f32>) -> Array4<f32> {
    let (c_n, t_n, v_n, m_n) = data.dim();
    let mut out = Array4::<f32>::zeros((2 * c_n, t_n, v_n, m_n));
    out.slice_axis_mut(Axis(0), (0..c_n).into()).assign(data);
    for m in 0..m_n {
        for t in 0..t_n.saturating_sub(1) {
            if !present(data, t, m) || !present(data, t + 1, m) {
                continue;
            }
            for v in 0..v_n {
                for c in 0..c_n {
                    out[[c_n + c, t, v, m]] = data[[c, t + 1, v, m]] - data[[c, t, v, m]];
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_coordinates_normalise_to_the_same_shape_instead_of_zero() {
        let layout = Layout::resolve("kinect20").unwrap();
        let mut small = Array4::<f32>::zeros((3, 3, 20, 1));
        for (i, v) in small.iter_mut().enumerate() {
            *v = ((i * 7919 % 97) as f32) / 10.0 + 1.0;
        }
        let seq = |data: Array4<f32>| Sequence::labelled("s".into(), 0, data);
        let (mut a, mut b) = (seq(small.clone()), seq(small.mapv(|x| x * 1e25)));
        normalize(&mut a, &layout);
        normalize(&mut b, &layout);
        assert!(b.data.iter().any(|&x| x != 0.0));
        for (x, y) in a.data.iter().zip(b.data.iter()) {
            assert!((x - y).abs() < 1e-4, "{x} vs {y}");
        }
    }

    /// An augmentation that changes nothing, for tests to switch on one part at a time.
    fn still() -> Augment {
        Augment {
            rotate_deg: 0.0,
            scale: 0.0,
            shift: 0.0,
            crop_min: 1.0,
            tilt_deg: 0.0,
            axis_scale: 0.0,
            jitter: 0.0,
        }
    }

    /// Distances from the origin of every joint of person 0.
    fn radii(d: &Array4<f32>) -> Vec<f32> {
        let (_, t_n, v_n, _) = d.dim();
        (0..t_n)
            .flat_map(|t| (0..v_n).map(move |v| (t, v)))
            .map(|(t, v)| (0..3).map(|c| d[[c, t, v, 0]].powi(2)).sum::<f32>().sqrt())
            .collect()
    }

    #[test]
    fn tilts_turn_the_body_rigidly_and_no_tilt_leaves_the_height_alone() {
        let mut data = Array4::<f32>::zeros((3, 4, 5, 1));
        for (i, v) in data.iter_mut().enumerate() {
            *v = ((i * 37 % 23) as f32) / 7.0 - 1.5;
        }
        let rigid = |tilt: f32, seed: u64| {
            let aug = Augment {
                rotate_deg: 40.0,
                tilt_deg: tilt,
                ..still()
            };
            let mut out = data.clone();
            augment_spatial(&mut out, &aug, &mut crate::rng::rng_for(seed, 0));
            out
        };
        for seed in 0..5 {
            // A turn about y alone keeps every height; with tilts the heights change but no distance does.
            let flat = rigid(0.0, seed);
            assert_eq!(flat.index_axis(Axis(0), 1), data.index_axis(Axis(0), 1));
            let tilted = rigid(20.0, seed);
            assert_ne!(tilted.index_axis(Axis(0), 1), data.index_axis(Axis(0), 1));
            for (a, b) in radii(&tilted).iter().zip(radii(&data)) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn axis_scales_stretch_each_axis_alone_and_jitter_has_the_asked_spread_on_present_joints_only()
    {
        let (t_n, v_n) = (50, 20);
        let mut data = Array4::<f32>::zeros((3, t_n, v_n, 2));
        for t in 0..t_n {
            for v in 0..v_n {
                for c in 0..3 {
                    data[[c, t, v, 0]] = 0.5 + (t * 7 + v * 3 + c) as f32 % 11.0 / 10.0;
                }
            }
        }
        let run = |axis_scale: f32, jitter: f32| {
            let aug = Augment {
                axis_scale,
                jitter,
                ..still()
            };
            let mut out = data.clone();
            augment_spatial(&mut out, &aug, &mut crate::rng::rng_for(3, 0));
            out
        };
        assert_eq!(run(0.0, 0.0), data);
        // One factor per axis, within bounds, and the three not all equal.
        let stretched = run(0.2, 0.0);
        let factors: Vec<f32> = (0..3)
            .map(|c| stretched[[c, 0, 0, 0]] / data[[c, 0, 0, 0]])
            .collect();
        for (c, f) in factors.iter().enumerate() {
            assert!((0.8..=1.2).contains(f), "axis {c}: {f}");
            for (a, b) in stretched
                .index_axis(Axis(0), c)
                .iter()
                .zip(data.index_axis(Axis(0), c))
            {
                assert!((a - b * f).abs() < 1e-5, "axis {c}: {a} vs {b} × {f}");
            }
        }
        assert!(factors[0] != factors[1] || factors[1] != factors[2]);
        // Noise of standard deviation 0.05 on person 0; the absent person stays zero.
        let noisy = run(0.0, 0.05);
        let diffs: Vec<f64> = (&noisy - &data)
            .index_axis(Axis(3), 0)
            .iter()
            .map(|&d| d as f64)
            .collect();
        let n = diffs.len() as f64;
        let mean = diffs.iter().sum::<f64>() / n;
        let sd = (diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!(
            mean.abs() < 0.005 && (sd - 0.05).abs() < 0.004,
            "mean {mean}, sd {sd}"
        );
        assert!(noisy.index_axis(Axis(3), 1).iter().all(|&x| x == 0.0));
    }

    #[test]
    fn an_augment_object_that_sets_one_field_keeps_the_defaults_of_the_others() {
        let a: Augment = serde_json::from_str(r#"{"jitter": 0.01}"#).unwrap();
        let want = Augment {
            jitter: 0.01,
            ..Augment::default()
        };
        assert_eq!(a, want);
        assert!(a.validate().is_ok());
        let bad = Augment {
            crop_min: 0.0,
            ..Augment::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("augment.crop_min"));
    }
}
