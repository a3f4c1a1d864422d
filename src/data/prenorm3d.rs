//! pyskl's 3-D pre-normalisation (`PreNormalize3D`, after 2s-AGCN), the input pyskl and mmaction2 3-D
//! skeleton models were trained on: frames without the main person dropped, the main body's spine centre of
//! its first frame moved to the origin, then the body turned so its first-frame spine points along +z and
//! its shoulders along +x.
//!
//! The rules, as pyskl applies them to an (M, T, V, 3) array:
//! - an all-zero sum leaves the sequence as it is;
//! - a frame belongs to a person when any coordinate has |x| > 1e-8; with two persons, the one present in
//!   more frames becomes person 0 (ties keep the order) and only its frames are kept;
//! - the centre is joint 1 of person 0 in the first kept frame (25 joints) or the last joint otherwise; it is
//!   subtracted from every joint that has a non-zero coordinate (absent joints stay zero);
//! - the bone from joint 0 to joint 1 of that frame is rotated onto +z, then (after that rotation) the bone
//!   from joint 4 to joint 8 onto +x, each by the rotation about their cross product (none when either
//!   vector sums to under 1e-6 in absolute value, or the angle is under 1e-6).
//!
//! Arithmetic is in f64 and stored as f32.

use super::Sequence;
use ndarray::{Array4, Axis};

/// Joints whose bone is turned onto +z (bottom, top) and onto +x (right shoulder, left shoulder).
const Z_AXIS: (usize, usize) = (0, 1);
const X_AXIS: (usize, usize) = (8, 4);

type V3 = [f64; 3];

fn sub(a: V3, b: V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
fn dot(a: V3, b: V3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
fn cross(a: V3, b: V3) -> V3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}
fn abs_sum(a: V3) -> f64 {
    a.iter().map(|x| x.abs()).sum()
}

/// The angle between two vectors; 0 when either is (nearly) zero.
fn angle(a: V3, b: V3) -> f64 {
    if abs_sum(a) < 1e-6 || abs_sum(b) < 1e-6 {
        return 0.0;
    }
    let cos = dot(a, b) / (dot(a, a).sqrt() * dot(b, b).sqrt());
    cos.clamp(-1.0, 1.0).acos()
}

/// The matrix R with R·x the Euler–Rodrigues rotation of x by `theta` about `axis` (identity when
/// either is (nearly) zero). The quaternion's vector part is −axis·sin(θ/2), as in 2s-AGCN.
fn rotation(axis: V3, theta: f64) -> [V3; 3] {
    if abs_sum(axis) < 1e-6 || theta.abs() < 1e-6 {
        return [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    }
    let n = dot(axis, axis).sqrt();
    let (s, a) = ((theta / 2.0).sin(), (theta / 2.0).cos());
    let [b, c, d] = [-axis[0] / n * s, -axis[1] / n * s, -axis[2] / n * s];
    [
        [
            a * a + b * b - c * c - d * d,
            2.0 * (b * c + a * d),
            2.0 * (b * d - a * c),
        ],
        [
            2.0 * (b * c - a * d),
            a * a + c * c - b * b - d * d,
            2.0 * (c * d + a * b),
        ],
        [
            2.0 * (b * d + a * c),
            2.0 * (c * d - a * b),
            a * a + d * d - b * b - c * c,
        ],
    ]
}

/// Whether person `m` is in frame `t` of a (C, T, V, M) array.
fn in_frame(data: &Array4<f64>, t: usize, m: usize) -> bool {
    data.index_axis(Axis(3), m)
        .index_axis(Axis(1), t)
        .iter()
        .any(|x| x.abs() > 1e-8)
}

fn joint(data: &Array4<f64>, v: usize) -> V3 {
    [data[[0, 0, v, 0]], data[[1, 0, v, 0]], data[[2, 0, v, 0]]]
}

/// Rotate every joint by `r` (in place).
fn rotate(data: &mut Array4<f64>, r: &[V3; 3]) {
    let (_, t_n, v_n, m_n) = data.dim();
    for t in 0..t_n {
        for v in 0..v_n {
            for m in 0..m_n {
                let x = [data[[0, t, v, m]], data[[1, t, v, m]], data[[2, t, v, m]]];
                for (k, row) in r.iter().enumerate() {
                    data[[k, t, v, m]] = dot(*row, x);
                }
            }
        }
    }
}

/// Apply pyskl's 3-D pre-normalisation to a sequence (in place). Refuses what pyskl refuses: other than
/// three coordinates, more than two persons, or fewer than nine joints.
pub fn pyskl_prenormalize_3d(seq: &mut Sequence) -> std::result::Result<(), String> {
    let (c_n, _, v_n, m_n) = seq.data.dim();
    if c_n != 3 || !(1..=2).contains(&m_n) || v_n < 9 {
        return Err(format!(
            "pyskl-3d pre-normalisation needs x, y, z of 1 or 2 persons and at least 9 joints \
             (the NTU layout); this sequence has {c_n} channels, {m_n} persons, {v_n} joints \
             (use --preprocess raw for other data)"
        ));
    }
    let mut data = seq.data.mapv(f64::from);
    if data.sum() == 0.0 {
        return Ok(());
    }
    let frames_of = |m: usize| -> Vec<usize> {
        (0..data.dim().1)
            .filter(|&t| in_frame(&data, t, m))
            .collect()
    };
    let mut keep = frames_of(0);
    if m_n == 2 {
        let other = frames_of(1);
        if keep.len() < other.len() {
            keep = other;
            data.invert_axis(Axis(3));
        }
    }
    if keep.is_empty() {
        return Ok(());
    }
    let mut data = data.select(Axis(1), &keep);
    let centre_joint = if v_n == 25 { 1 } else { v_n - 1 };
    let centre = joint(&data, centre_joint);
    for mut cell in data.lanes_mut(Axis(0)) {
        if cell.iter().any(|&x| x != 0.0) {
            for (x, c) in cell.iter_mut().zip(centre) {
                *x -= c;
            }
        }
    }
    let z = sub(joint(&data, Z_AXIS.1), joint(&data, Z_AXIS.0));
    let to_z = rotation(cross(z, [0.0, 0.0, 1.0]), angle(z, [0.0, 0.0, 1.0]));
    rotate(&mut data, &to_z);
    let x = sub(joint(&data, X_AXIS.0), joint(&data, X_AXIS.1));
    let to_x = rotation(cross(x, [1.0, 0.0, 0.0]), angle(x, [1.0, 0.0, 0.0]));
    rotate(&mut data, &to_x);
    seq.data = data.mapv(|x| x as f32);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array4;

    /// A tilted two-person sequence with distinct, non-degenerate joints.
    fn tilted() -> Sequence {
        let data = Array4::from_shape_fn((3, 4, 25, 2), |(c, t, v, m)| {
            let base = [
                0.3 * v as f32 - 2.0,
                0.1 * (v * v % 7) as f32,
                2.0 + 0.05 * v as f32,
            ];
            if m == 1 && t == 0 {
                0.0
            } else {
                base[c] + 0.01 * (t + m) as f32 * (c + 1) as f32
            }
        });
        Sequence::labelled("s".into(), 0, data)
    }

    #[test]
    fn the_first_frame_is_centred_and_the_shoulders_point_along_x() {
        let mut s = tilted();
        pyskl_prenormalize_3d(&mut s).unwrap();
        let d = &s.data;
        for c in 0..3 {
            assert!(d[[c, 0, 1, 0]].abs() < 1e-5, "centre joint at the origin");
        }
        // The shoulder bone (joint 4 to joint 8) lies on +x.
        let x: Vec<f32> = (0..3).map(|c| d[[c, 0, 8, 0]] - d[[c, 0, 4, 0]]).collect();
        assert!(
            x[0] > 0.0 && x[1].abs() < 1e-5 && x[2].abs() < 1e-5,
            "{x:?}"
        );
        // Rotations keep lengths: the spine bone is as long as before.
        let t = tilted();
        let len = |a: &Array4<f32>| -> f32 {
            (0..3)
                .map(|c| (a[[c, 2, 1, 0]] - a[[c, 2, 0, 0]]).powi(2))
                .sum::<f32>()
                .sqrt()
        };
        assert!((len(&t.data) - len(d)).abs() < 1e-5);
        // The person absent from frame 0 stays absent there.
        assert!((0..3).all(|c| (0..25).all(|v| d[[c, 0, v, 1]] == 0.0)));
    }

    #[test]
    fn other_shapes_are_refused_with_the_reason() {
        let mut s = Sequence::labelled("s".into(), 0, Array4::ones((2, 4, 25, 1)));
        let e = pyskl_prenormalize_3d(&mut s).unwrap_err();
        assert!(
            e.contains("2 channels") && e.contains("--preprocess raw"),
            "{e}"
        );
    }
}
