//! Perturbation metrics of a skeleton explanation at the model input (C, T, V, M):
//!
//! - **ROAD** (Rong et al. 2022): remove the q most relevant (MoRF) or least relevant (LeRF) cells (frame,
//!   joint, present person) for q = 10 … 90 %, fill each removed cell from its neighbours (the joint's
//!   neighbours in the layout's graph at the same frame, and the same joint at t ± 1) so that the removal
//!   carries no information in the shape of the hole, and track the class probability. Combined =
//!   (LeRF − MoRF)/2, averaged over q: higher is better.
//! - **Average Drop / Increase in Confidence** (Chattopadhay et al. 2018): the input multiplied by the map
//!   min-max normalised to [0, 1]; Drop = max(0, p − p_masked)/p, Increase = p_masked > p.
//!
//! The imputer is the linear one of ROAD: removed cells take the mean of their neighbours, solved by
//! Jacobi sweeps from zero (kept cells fixed), all input channels alike.

use ndarray::{Array3, Array4};

/// The removal fractions of ROAD.
pub const ROAD_FRACTIONS: [f64; 9] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
const SWEEPS: usize = 30;

/// Cells (t, v, m) of present persons, most relevant first, by `map` (T, V, M) at the input's frames.
pub fn cell_ranking(map: &Array3<f32>, present: &[bool]) -> Vec<(usize, usize, usize)> {
    let mut cells: Vec<((usize, usize, usize), f32)> = map
        .indexed_iter()
        .filter(|((_, _, m), _)| present.get(*m) == Some(&true))
        .map(|(i, &v)| (i, if v.is_finite() { v } else { f32::NEG_INFINITY }))
        .collect();
    // Stable: ties keep the array order, so the ranking is reproducible.
    cells.sort_by(|a, b| b.1.total_cmp(&a.1));
    cells.into_iter().map(|(i, _)| i).collect()
}

/// The input with `removed` cells imputed from their graph and time neighbours.
pub fn impute(x: &Array4<f32>, removed: &Array3<bool>, neighbours: &[Vec<usize>]) -> Array4<f32> {
    let (c_n, t_n, v_n, m_n) = x.dim();
    let mut out = x.clone();
    let holes: Vec<(usize, usize, usize)> = removed
        .indexed_iter()
        .filter(|(_, &r)| r)
        .map(|(i, _)| i)
        .collect();
    for &(t, v, m) in &holes {
        for c in 0..c_n {
            out[[c, t, v, m]] = 0.0;
        }
    }
    // Each hole's neighbours (graph at the same frame, then t − 1 and t + 1), found once for all sweeps.
    let around: Vec<Vec<(usize, usize)>> = holes
        .iter()
        .map(|&(t, v, _)| {
            let mut a: Vec<(usize, usize)> = neighbours[v].iter().map(|&u| (t, u)).collect();
            if t > 0 {
                a.push((t - 1, v));
            }
            if t + 1 < t_n {
                a.push((t + 1, v));
            }
            a
        })
        .collect();
    for _ in 0..SWEEPS {
        let prev = out.clone();
        for (&(t, v, m), near) in holes.iter().zip(&around) {
            if near.is_empty() {
                continue;
            }
            for c in 0..c_n {
                let s: f32 = near.iter().map(|&(tt, u)| prev[[c, tt, u, m]]).sum();
                out[[c, t, v, m]] = s / near.len() as f32;
            }
        }
    }
    debug_assert!(v_n == neighbours.len() && m_n == removed.dim().2);
    out
}

/// A picture (3 × s × s, C order) with `removed` pixels (s × s) imputed, ROAD's noisy linear imputer
/// approximated: each removed pixel starts at the mean of the kept ones, takes the mean of its 4-neighbours
/// over [`SWEEPS`] Jacobi sweeps (kept pixels fixed), then gets N(0, `noise`²) added.
pub fn impute_picture(
    x: &[f32],
    removed: &[bool],
    s: usize,
    noise: f32,
    rng: &mut rand::rngs::StdRng,
) -> Vec<f32> {
    let hw = s * s;
    let mut out = x.to_vec();
    let holes: Vec<usize> = (0..hw).filter(|&p| removed[p]).collect();
    let kept = hw - holes.len();
    for c in 0..3 {
        let plane = &mut out[c * hw..(c + 1) * hw];
        let mean = if kept > 0 {
            (0..hw)
                .filter(|&p| !removed[p])
                .map(|p| plane[p])
                .sum::<f32>()
                / kept as f32
        } else {
            0.0
        };
        for &p in &holes {
            plane[p] = mean;
        }
        for _ in 0..SWEEPS {
            let prev = plane.to_vec();
            for &p in &holes {
                let (y, x) = (p / s, p % s);
                let mut sum = 0.0;
                let mut n = 0.0;
                for (dy, dx) in [(-1i64, 0i64), (1, 0), (0, -1), (0, 1)] {
                    let (yy, xx) = (y as i64 + dy, x as i64 + dx);
                    if yy >= 0 && xx >= 0 && (yy as usize) < s && (xx as usize) < s {
                        sum += prev[yy as usize * s + xx as usize];
                        n += 1.0;
                    }
                }
                plane[p] = sum / n;
            }
        }
        for &p in &holes {
            plane[p] += noise * crate::rng::normal(rng);
        }
    }
    out
}

/// The parts of a ranking of `n` cells (most relevant first) that ROAD removes: the top q for each
/// fraction (MoRF), then the bottom q (LeRF).
pub fn road_ranges(n: usize) -> Vec<std::ops::Range<usize>> {
    let take = |q: f64| ((q * n as f64).round() as usize).min(n);
    let morf = ROAD_FRACTIONS.iter().map(|&q| 0..take(q));
    let lerf = ROAD_FRACTIONS.iter().map(|&q| n - take(q)..n);
    morf.chain(lerf).collect()
}

/// The removal masks of ROAD for a ranking over a (T, V, M) grid: MoRF for each fraction, then LeRF.
pub fn road_masks(
    order: &[(usize, usize, usize)],
    dim: (usize, usize, usize),
) -> Vec<Array3<bool>> {
    road_ranges(order.len())
        .into_iter()
        .map(|r| {
            let mut m = Array3::from_elem(dim, false);
            for &i in &order[r] {
                m[i] = true;
            }
            m
        })
        .collect()
}

/// (MoRF mean, LeRF mean, combined) from the probabilities of [`road_masks`]' inputs.
pub fn road_scores(p: &[f64]) -> (f64, f64, f64) {
    let k = ROAD_FRACTIONS.len();
    let morf = p[..k].iter().sum::<f64>() / k as f64;
    let lerf = p[k..2 * k].iter().sum::<f64>() / k as f64;
    (morf, lerf, (lerf - morf) / 2.0)
}

/// The input multiplied cell-wise by `map` (T, V, M) min-max normalised over present persons.
pub fn masked_by_map(x: &Array4<f32>, map: &Array3<f32>, present: &[bool]) -> Array4<f32> {
    let (norm, _) = super::core::minmax(map, present);
    let mut out = x.clone();
    for ((_, t, v, m), val) in out.indexed_iter_mut() {
        *val *= norm[[t, v, m]];
    }
    out
}

/// The joints next to each joint in the layout's edges.
pub fn neighbours(edges: &[[usize; 2]], joints: usize) -> Vec<Vec<usize>> {
    let mut n = vec![Vec::new(); joints];
    for &[a, b] in edges {
        if a < joints && b < joints && a != b {
            n[a].push(b);
            n[b].push(a);
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removed_cell_takes_the_mean_of_its_kept_neighbours() {
        // A chain 0–1–2 over 3 frames; remove joint 1 at frame 1: neighbours (1,0), (1,2), (0,1), (2,1).
        let x = Array4::from_shape_fn((1, 3, 3, 1), |(_, t, v, _)| (10 * t + v) as f32);
        let mut removed = Array3::from_elem((3, 3, 1), false);
        removed[[1, 1, 0]] = true;
        let y = impute(&x, &removed, &neighbours(&[[0, 1], [1, 2]], 3));
        assert!((y[[0, 1, 1, 0]] - (10.0 + 12.0 + 1.0 + 21.0) / 4.0).abs() < 1e-5);
        assert_eq!(y[[0, 0, 0, 0]], 0.0);
        // MoRF removes the top cells, LeRF the bottom ones.
        let map = Array3::from_shape_fn((3, 3, 1), |(t, v, _)| (3 * t + v) as f32);
        let order = cell_ranking(&map, &[true]);
        let masks = road_masks(&order, (3, 3, 1));
        assert!(masks[0][[2, 2, 0]] && !masks[0][[0, 0, 0]]);
        assert!(masks[9][[0, 0, 0]] && !masks[9][[2, 2, 0]]);
        let (m, l, c) = road_scores(
            &[0.2; 9]
                .iter()
                .chain(&[0.8; 9])
                .copied()
                .collect::<Vec<_>>(),
        );
        assert!((m - 0.2).abs() < 1e-12 && (l - 0.8).abs() < 1e-12 && (c - 0.3).abs() < 1e-12);
    }
}
