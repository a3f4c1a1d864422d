//! The forward of a stride-2 9×1 convolution (the ST-GCN's temporal one where a stage halves the frames) by
//! Winograd F(4, 5) over pairs of frames: 8 products per four output rows, each reducing over 2·C, where the
//! direct form takes 36 reducing over C (16/36 of its multiply-adds).
//!
//! With x' the zero-padded input, output row t is Σ_k w[k] · x'[2t + k] (k = 0..9). Pair the frames,
//! z[s] = (x'[2s], x'[2s + 1]), and the taps, W_i = (w[2i], w[2i + 1]) with w[9] = 0: then
//! y[t] = Σ_i W_i · z[t + i] (i = 0..5), a stride-1 5-tap correlation over a signal of 2·C channels.
//! Winograd's F(4, 5) (points 0, ±1, ±2, ±½ and ∞) computes four outputs of it from eight pairs as
//! Aᵀ[(G W) ⊙ (Bᵀ z)], so with D_p[τ] = Σ_u Bᵀ[p, u] · z[4τ + u] (input rows 8τ .. 8τ + 15) and
//! U_p = Σ_i G[p, i] · W_i, the eight products M_p = U_p · D_p are GEMMs of the same blocked kind as every
//! other convolution here, and y[4τ + r] = bias + Σ_p Aᵀ[r, p] · M_p[τ]. The matrices are the Toom–Cook
//! ones: G and Aᵀ evaluate the taps and the outputs at the points, Bᵀ is the transposed inverse of the
//! eight points' Vandermonde matrix (the exact fractions, rounded to f32). The tests bound each output
//! against the exact sum. Only the forward: the input gradient of a stride-2 convolution stays direct.

use super::conv2d::{Geometry2d, Run};
use super::matmul::{gemm_single, Shared, View};
use super::winograd::{tiled_output, Tiling};

/// G: row p turns the five (paired) taps into point p's weight: the taps' polynomial at the point (its
/// leading coefficient at ∞).
const G: [[f32; 5]; 8] = [
    [1.0, 0.0, 0.0, 0.0, 0.0],
    [1.0, 1.0, 1.0, 1.0, 1.0],
    [1.0, -1.0, 1.0, -1.0, 1.0],
    [1.0, 2.0, 4.0, 8.0, 16.0],
    [1.0, -2.0, 4.0, -8.0, 16.0],
    [1.0, 0.5, 0.25, 0.125, 0.0625],
    [1.0, -0.5, 0.25, -0.125, 0.0625],
    [0.0, 0.0, 0.0, 0.0, 1.0],
];
/// Bᵀ: row p of the input transform, point p's value from eight pairs of frames.
const BT: [[f32; 8]; 8] = [
    [1.0, 0.0, -21.0 / 4.0, 0.0, 21.0 / 4.0, 0.0, -1.0, 0.0],
    [
        0.0,
        -2.0 / 9.0,
        -2.0 / 9.0,
        17.0 / 18.0,
        17.0 / 18.0,
        -2.0 / 9.0,
        -2.0 / 9.0,
        0.0,
    ],
    [
        0.0,
        2.0 / 9.0,
        -2.0 / 9.0,
        -17.0 / 18.0,
        17.0 / 18.0,
        2.0 / 9.0,
        -2.0 / 9.0,
        0.0,
    ],
    [
        0.0,
        1.0 / 180.0,
        1.0 / 360.0,
        -1.0 / 36.0,
        -1.0 / 72.0,
        1.0 / 45.0,
        1.0 / 90.0,
        0.0,
    ],
    [
        0.0,
        -1.0 / 180.0,
        1.0 / 360.0,
        1.0 / 36.0,
        -1.0 / 72.0,
        -1.0 / 45.0,
        1.0 / 90.0,
        0.0,
    ],
    [
        0.0,
        64.0 / 45.0,
        128.0 / 45.0,
        -16.0 / 9.0,
        -32.0 / 9.0,
        16.0 / 45.0,
        32.0 / 45.0,
        0.0,
    ],
    [
        0.0,
        -64.0 / 45.0,
        128.0 / 45.0,
        16.0 / 9.0,
        -32.0 / 9.0,
        -16.0 / 45.0,
        32.0 / 45.0,
        0.0,
    ],
    [0.0, -1.0, 0.0, 21.0 / 4.0, 0.0, -21.0 / 4.0, 0.0, 1.0],
];
/// Aᵀ: output row r of a tile from the eight points' products (the point to the power r; ∞ in the last).
const AT: [[f32; 8]; 4] = [
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
    [0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 0.0],
    [0.0, 1.0, 1.0, 4.0, 4.0, 0.25, 0.25, 0.0],
    [0.0, 1.0, -1.0, 8.0, -8.0, 0.125, -0.125, 1.0],
];

/// Input channels a convolution needs for this form: the ST-GCN's stages of 128 and 256 channels, so the
/// smaller skeleton presets (`stgcn-small`, `stgcn-tiny`, at most 64) keep their direct path and bits.
const MIN_CHANNELS: usize = 128;

/// Whether [`conv`] computes this convolution: nine taps along H with stride 2, one along W with stride 1
/// and no padding, and at least [`MIN_CHANNELS`] input channels.
pub(super) fn applies(g: &Geometry2d) -> bool {
    g.kh == 9
        && g.kw == 1
        && g.stride == (2, 1)
        && g.pad.1 == 0
        && g.c >= MIN_CHANNELS
        && g.n * g.w > 0
}

/// U_p (Co, 2·C) row-major for point p, column 2c + φ: Σ_i G[p, i] · w[·, c, 2i + φ] (w[9] = 0); the eight
/// made in parallel.
fn point_weights(w: &[f32], co: usize, c: usize) -> Vec<f32> {
    use rayon::prelude::*;
    let mut u = vec![0f32; 8 * co * 2 * c];
    u.par_chunks_mut(co * 2 * c)
        .enumerate()
        .for_each(|(p, up)| {
            for (d, taps) in up.chunks_exact_mut(2).zip(w.chunks_exact(9)) {
                for (phase, d) in d.iter_mut().enumerate() {
                    *d = (0..5)
                        .filter(|i| 2 * i + phase < 9)
                        .map(|i| G[p][i] * taps[2 * i + phase])
                        .sum();
                }
            }
        });
    u
}

/// dst[i] = bias + Σ_u coef[u] · rows[u][i], the terms added in order.
#[inline(always)]
fn combine(coef: &[f32; 8], rows: &[&[f32]; 8], bias: f32, dst: &mut [f32]) {
    let n = dst.len();
    let rows: [&[f32]; 8] = std::array::from_fn(|u| &rows[u][..n]);
    for (i, d) in dst.iter_mut().enumerate() {
        let mut s = bias;
        for (c, row) in coef.iter().zip(&rows) {
            s += c * row[i];
        }
        *d = s;
    }
}

/// y (Co, N, Ho, W) = conv(x, w) (+ bias per output channel) for a geometry that [`applies`]: x (C, N, H, W)
/// and w (Co, C, 9, 1), contiguous. The columns are the (n, τ, v) of the output tiles of four rows; each
/// block of them is done by one task: for each point, its operand is transformed from x into scratch and
/// multiplied by U_p; then the eight products become the block's output rows.
pub(super) fn conv(
    g: &Geometry2d,
    co: usize,
    w: &[f32],
    x: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let ho = g.out_hw().0;
    let t = Tiling {
        g: *g,
        ho,
        tiles: ho.div_ceil(4),
    };
    let k = 2 * g.c;
    let u = point_weights(w, co, g.c);
    // One point's operand and the eight products per column.
    let per_col = k + 8 * co;
    let block = |pieces: &[Run], width: usize, buf: &mut [f32], out: Shared| {
        let (b, m) = buf.split_at_mut(k * width);
        for p in 0..8 {
            fill(g, x, p, pieces, width, b);
            gemm_single(
                &mut m[p * co * width..][..co * width],
                false,
                (co, width, k),
                View::rows(&u[p * co * k..][..co * k], k),
                View::rows(b, width),
            );
        }
        // SAFETY: y has room for all Co·N·Ho·W outputs; this block writes exactly those of its own
        // columns' tiles (each (n, τ, v) belongs to one block), nothing else writes them.
        unsafe { write(g, ho, co, width, pieces, m, bias, out) };
    };
    // SAFETY: each block writes exactly the outputs of its own columns' tiles (`write`).
    unsafe { tiled_output(&t, co, per_col, block) }
}

/// Point p's operand (2·C × width, row 2c + φ): D_p over the block's columns. Per run of columns within one
/// n, per channel and phase, the whole tiles the run touches are transformed from x (rows 8τ + 2u + φ of
/// the padded input) into rows that lie end to end as the run's columns do, and copied in one piece.
fn fill(g: &Geometry2d, x: &[f32], p: usize, pieces: &[Run], width: usize, b: &mut [f32]) {
    super::wide(
        #[inline(always)]
        || {
            let wd = g.w;
            let zeros = vec![0f32; wd];
            let mut d = Vec::new();
            for run in pieces.chunk_by(|a, b| a.1 == b.1) {
                let (pos, n, tau0, v0, _) = run[0];
                let &(last, _, tau1, _, len) = run.last().expect("chunks are not empty");
                let cols = last + len - pos;
                let tiles = tau1 + 1 - tau0;
                d.clear();
                d.resize(tiles * wd, 0.0);
                for ci in 0..g.c {
                    let plane = &x[(ci * g.n + n) * g.h * wd..][..g.h * wd];
                    for phase in 0..2 {
                        for (i, di) in d.chunks_exact_mut(wd).enumerate() {
                            let top = 8 * (tau0 + i) + phase;
                            let rows: [&[f32]; 8] = std::array::from_fn(|u| {
                                let row = (top + 2 * u) as isize - g.pad.0 as isize;
                                match (0..g.h as isize).contains(&row) {
                                    true => &plane[row as usize * wd..][..wd],
                                    false => &zeros,
                                }
                            });
                            combine(&BT[p], &rows, 0.0, di);
                        }
                        b[(2 * ci + phase) * width + pos..][..cols]
                            .copy_from_slice(&d[v0..][..cols]);
                    }
                }
            }
        },
    )
}

/// y[o, n, 4τ + r, v] = bias[o] + Σ_p Aᵀ[r, p] · M_p[o, column] for the block's columns, rows below Ho.
///
/// # Safety
/// `y` must be valid for writes of Co·N·Ho·W floats, none of which another thread touches meanwhile at this
/// block's columns.
#[allow(clippy::too_many_arguments)]
unsafe fn write(
    g: &Geometry2d,
    ho: usize,
    co: usize,
    width: usize,
    pieces: &[Run],
    m: &[f32],
    bias: Option<&[f32]>,
    y: Shared,
) {
    super::wide(
        #[inline(always)]
        || {
            for o in 0..co {
                let b0 = bias.map_or(0.0, |b| b[o]);
                for &(pos, n, tau, v0, len) in pieces {
                    let mp: [&[f32]; 8] =
                        std::array::from_fn(|p| &m[(p * co + o) * width + pos..][..len]);
                    for (r, at_r) in AT.iter().enumerate() {
                        let t = 4 * tau + r;
                        if t >= ho {
                            break;
                        }
                        let at = ((o * g.n + n) * ho + t) * g.w + v0;
                        // SAFETY: (o, n, t, v0..v0 + len) is inside y and belongs to this block's columns
                        // (the caller's contract).
                        let dst = unsafe { std::slice::from_raw_parts_mut(y.get().add(at), len) };
                        combine(at_r, &mp, b0, dst);
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::kernels::winograd::tests::{check_temporal, TEMPORAL_CASES};

    /// Every output of the shared cases at stride 2, and of one whose single tile is partly used, within a
    /// few f32 ulps of the exact sum.
    #[test]
    fn matches_the_direct_convolution() {
        let any_channels = |g: &Geometry2d| {
            applies(&Geometry2d {
                c: MIN_CHANNELS,
                ..*g
            })
        };
        check_temporal(&TEMPORAL_CASES, 2, 11, any_channels, conv);
        check_temporal(&[(3, 3, 9, 1, 0, 4)], 2, 12, any_channels, conv);
    }
}
