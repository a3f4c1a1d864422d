//! The stride-2 9×1 convolution (the ST-GCN's temporal one where a stage halves the frames), forward and
//! input gradient, by Winograd F(4, 5) over pairs of frames: 8 products per four output rows, each reducing
//! over twice the channels, where the direct form takes 36 (16/36 of its multiply-adds).
//!
//! With x' the zero-padded input, output row t is Σ_k w[k] · x'[2t + k] (k = 0..9). Pair the frames,
//! z[s] = (x'[2s], x'[2s + 1]), and the taps, W_i = (w[2i], w[2i + 1]) with w[9] = 0: then
//! y[t] = Σ_i W_i · z[t + i] (i = 0..5), a stride-1 5-tap correlation over a signal of 2·C channels.
//! Winograd's F(4, 5) (points 0, ±1, ±2, ±½ and ∞) computes four outputs of it from eight pairs as
//! Aᵀ[(G W) ⊙ (Bᵀ z)], so with D_p[τ] = Σ_u Bᵀ[p, u] · z[4τ + u] (input rows 8τ .. 8τ + 15) and
//! U_p = Σ_i G[p, i] · W_i, the eight products M_p = U_p · D_p are GEMMs of the same blocked kind as every
//! other convolution here, and y[4τ + r] = bias + Σ_p Aᵀ[r, p] · M_p[τ]. The input gradient is the same
//! correlation the other way: the pair ∂L/∂z[s] = Σ_i W_iᵀ · ∂L/∂y[s − i] = Σ_j W_{4−j}ᵀ · ∂L/∂y[s − 4 + j],
//! a 5-tap correlation over ∂L/∂y (Co channels) that gives 2·C, computed by the same F(4, 5) and scattered
//! back to the frames. The matrices are the Toom–Cook ones: G and Aᵀ evaluate the taps and the outputs at
//! the points, Bᵀ is the transposed inverse of the eight points' Vandermonde matrix (the exact fractions,
//! rounded to f32). The tests bound each result against the exact sum.

use super::conv2d::{Geometry2d, Run};
use super::matmul::{gemm_single, Shared, View};
use super::winograd::{tiled_output, Tiling};

/// G: row p turns the five (paired) taps into point p's weight: the taps' polynomial at the point (its
/// leading coefficient at ∞).
#[rustfmt::skip]
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
#[rustfmt::skip]
const BT: [[f32; 8]; 8] = [
    [1.0, 0.0, -21.0 / 4.0, 0.0, 21.0 / 4.0, 0.0, -1.0, 0.0],
    [0.0, -2.0 / 9.0, -2.0 / 9.0, 17.0 / 18.0, 17.0 / 18.0, -2.0 / 9.0, -2.0 / 9.0, 0.0],
    [0.0, 2.0 / 9.0, -2.0 / 9.0, -17.0 / 18.0, 17.0 / 18.0, 2.0 / 9.0, -2.0 / 9.0, 0.0],
    [0.0, 1.0 / 180.0, 1.0 / 360.0, -1.0 / 36.0, -1.0 / 72.0, 1.0 / 45.0, 1.0 / 90.0, 0.0],
    [0.0, -1.0 / 180.0, 1.0 / 360.0, 1.0 / 36.0, -1.0 / 72.0, -1.0 / 45.0, 1.0 / 90.0, 0.0],
    [0.0, 64.0 / 45.0, 128.0 / 45.0, -16.0 / 9.0, -32.0 / 9.0, 16.0 / 45.0, 32.0 / 45.0, 0.0],
    [0.0, -64.0 / 45.0, 128.0 / 45.0, 16.0 / 9.0, -32.0 / 9.0, -16.0 / 45.0, 32.0 / 45.0, 0.0],
    [0.0, -1.0, 0.0, 21.0 / 4.0, 0.0, -21.0 / 4.0, 0.0, 1.0],
];
/// Aᵀ: output row r of a tile from the eight points' products (the point to the power r; ∞ in the last).
#[rustfmt::skip]
const AT: [[f32; 8]; 4] = [
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
    [0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 0.0],
    [0.0, 1.0, 1.0, 4.0, 4.0, 0.25, 0.25, 0.0],
    [0.0, 1.0, -1.0, 8.0, -8.0, 0.125, -0.125, 1.0],
];

/// Input channels a convolution needs for this form: the ST-GCN's stages of 128 and 256 channels, so the
/// smaller skeleton presets (`stgcn-small`, `stgcn-tiny`, at most 64) keep their direct path and bits.
const MIN_CHANNELS: usize = 128;

/// Whether [`conv`] and [`input_grad`] compute this convolution: nine taps along H with stride 2, one along W with stride 1
/// and no padding, and at least [`MIN_CHANNELS`] input channels.
pub(super) fn applies(g: &Geometry2d) -> bool {
    g.kh == 9
        && g.kw == 1
        && g.stride == (2, 1)
        && g.pad.1 == 0
        && g.c >= MIN_CHANNELS
        && g.n * g.w > 0
}

/// The eight U_p (rows × 2·C or rows × Co, row-major) end to end, made in parallel: point p's weight for
/// pair i is Σ_i G[p, i] · `tap(i, o, c, φ)` = w[o, c, 2i + φ] for the forward (rows o, columns 2c + φ) and
/// w[o, c, 8 − 2i + φ] for the input gradient (rows 2c + φ, columns o); taps past the ninth are zero.
fn point_weights(w: &[f32], co: usize, c: usize, transposed: bool) -> Vec<f32> {
    use rayon::prelude::*;
    let mut u = vec![0f32; 8 * co * 2 * c];
    u.par_chunks_mut(co * 2 * c)
        .enumerate()
        .for_each(|(p, up)| {
            let weight = |o: usize, c2: usize| -> f32 {
                let (taps, phase) = (&w[(o * c + c2 / 2) * 9..][..9], c2 % 2);
                let tap = |j: usize| match transposed {
                    false => 2 * j + phase,
                    true => 8 - 2 * j + phase,
                };
                (0..5)
                    .filter(|&j| tap(j) < 9)
                    .map(|j| G[p][j] * taps[tap(j)])
                    .sum()
            };
            let (rows, cols) = if transposed { (2 * c, co) } else { (co, 2 * c) };
            for (r, row) in up.chunks_exact_mut(cols).enumerate().take(rows) {
                for (q, d) in row.iter_mut().enumerate() {
                    *d = if transposed {
                        weight(q, r)
                    } else {
                        weight(r, q)
                    };
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

/// What the correlation reads: operand row k's signal at position z is row `step`·z + k % `per` + `offset`
/// of plane k / `per` (planes (channel, n), each `h` rows of `w`; zero outside the rows).
struct Source<'a> {
    data: &'a [f32],
    n: usize,
    h: usize,
    w: usize,
    per: usize,
    step: usize,
    offset: isize,
}

/// Where the correlation's results go: output row k at position σ of image n is written at the returned
/// offset (a row of W floats), or nowhere.
type Target<'a> = &'a (dyn Fn(usize, usize, usize) -> Option<usize> + Sync);

/// The F(4, 5) correlation of `src` (k operand rows) with the eight point weights `u` (rows × k each) at
/// `outputs` positions, written by `target` with `bias` per output row, into `len` floats every one of which
/// `target` names once. The columns are the (n, τ, v) of the output tiles; each block of them is done by one
/// task: for each point, its operand is transformed into scratch and multiplied by U_p; then the eight
/// products become the block's outputs.
#[allow(clippy::too_many_arguments)]
fn correlate(
    g: &Geometry2d,
    src: &Source,
    k: usize,
    u: &[f32],
    rows: usize,
    outputs: usize,
    len: usize,
    bias: Option<&[f32]>,
    target: Target,
) -> Vec<f32> {
    let t = Tiling {
        g: *g,
        ho: outputs,
        tiles: outputs.div_ceil(4),
    };
    // One point's operand and the eight products per column.
    let per_col = k + 8 * rows;
    let block = |pieces: &[Run], width: usize, buf: &mut [f32], out: Shared| {
        let (b, m) = buf.split_at_mut(k * width);
        for p in 0..8 {
            fill(src, k, p, pieces, width, b);
            gemm_single(
                &mut m[p * rows * width..][..rows * width],
                false,
                (rows, width, k),
                View::rows(&u[p * rows * k..][..rows * k], k),
                View::rows(b, width),
            );
        }
        // SAFETY: the output has room for `len` floats; this block writes exactly those of its own columns'
        // tiles (each (n, τ, v) belongs to one block, and `target` names each float once), nothing else
        // writes them.
        unsafe { write(outputs, rows, width, pieces, m, bias, target, out) };
    };
    // SAFETY: each block writes exactly the outputs of its own columns' tiles (`write`), and every one of
    // the `len` floats is some tile's (the caller's contract on `target`).
    unsafe { tiled_output(&t, len, per_col, block) }
}

/// y (Co, N, Ho, W) = conv(x, w) (+ bias per output channel) for a geometry that [`applies`]: x (C, N, H, W)
/// and w (Co, C, 9, 1), contiguous; operand row 2c + φ reads the frames 2z + φ − pad of channel c.
pub(super) fn conv(
    g: &Geometry2d,
    co: usize,
    w: &[f32],
    x: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let ho = g.out_hw().0;
    let src = Source {
        data: x,
        n: g.n,
        h: g.h,
        w: g.w,
        per: 2,
        step: 2,
        offset: -(g.pad.0 as isize),
    };
    let target = |o: usize, n: usize, t: usize| Some(((o * g.n + n) * ho + t) * g.w);
    let u = point_weights(w, co, g.c, false);
    let len = co * g.n * ho * g.w;
    correlate(g, &src, 2 * g.c, &u, co, ho, len, bias, &target)
}

/// ∂L/∂x (C, N, H, W) from ∂L/∂y (Co, N, Ho, W) for a geometry that [`applies`], w (Co, C, 9, 1). The pairs
/// s of the padded frames that hold x's H frames, from pad/2 on, are the correlation's outputs; output row
/// 2c + φ of pair s is frame 2s + φ − pad of channel c, where inside x; operand row o reads ∂L/∂y's frames
/// z + pad/2 − 4.
pub(super) fn input_grad(g: &Geometry2d, co: usize, w: &[f32], dy: &[f32]) -> Vec<f32> {
    let (ho, pad, h) = (g.out_hw().0, g.pad.0, g.h);
    let first = pad / 2;
    let pairs = (pad + h - 1) / 2 + 1 - first;
    let src = Source {
        data: dy,
        n: g.n,
        h: ho,
        w: g.w,
        per: 1,
        step: 1,
        offset: first as isize - 4,
    };
    let target = |row: usize, n: usize, s: usize| {
        let frame = (2 * (first + s) + row % 2).checked_sub(pad)?;
        (frame < h).then(|| ((row / 2 * g.n + n) * h + frame) * g.w)
    };
    let u = point_weights(w, co, g.c, true);
    let len = g.c * g.n * h * g.w;
    correlate(g, &src, co, &u, 2 * g.c, pairs, len, None, &target)
}

/// Point p's operand (k × width): D_p over the block's columns. Per run of columns within one n and per
/// operand row, the whole tiles the run touches are transformed from the source (signal positions 4τ + u)
/// into rows that lie end to end as the run's columns do, and copied in one piece.
fn fill(src: &Source, k: usize, p: usize, pieces: &[Run], width: usize, b: &mut [f32]) {
    super::wide(
        #[inline(always)]
        || {
            let wd = src.w;
            let zeros = vec![0f32; wd];
            let mut d = Vec::new();
            for run in pieces.chunk_by(|a, b| a.1 == b.1) {
                let (pos, n, tau0, v0, _) = run[0];
                let &(last, _, tau1, _, len) = run.last().expect("chunks are not empty");
                let cols = last + len - pos;
                let tiles = tau1 + 1 - tau0;
                d.clear();
                d.resize(tiles * wd, 0.0);
                for row in 0..k {
                    let plane = &src.data[(row / src.per * src.n + n) * src.h * wd..][..src.h * wd];
                    let first = (row % src.per) as isize + src.offset;
                    for (i, di) in d.chunks_exact_mut(wd).enumerate() {
                        let top = 4 * (tau0 + i);
                        let rows: [&[f32]; 8] = std::array::from_fn(|u| {
                            let at = (src.step * (top + u)) as isize + first;
                            match (0..src.h as isize).contains(&at) {
                                true => &plane[at as usize * wd..][..wd],
                                false => &zeros,
                            }
                        });
                        combine(&BT[p], &rows, 0.0, di);
                    }
                    b[row * width + pos..][..cols].copy_from_slice(&d[v0..][..cols]);
                }
            }
        },
    )
}

/// For the block's columns, output row k at position 4τ + r (below `outputs`) = bias[k] + Σ_p Aᵀ[r, p] ·
/// M_p[k, column], at the offset `target` gives (if any).
///
/// # Safety
/// `y` must be valid for writes at every offset `target` gives (W floats each), none of which another
/// thread touches meanwhile.
#[allow(clippy::too_many_arguments)]
unsafe fn write(
    outputs: usize,
    rows: usize,
    width: usize,
    pieces: &[Run],
    m: &[f32],
    bias: Option<&[f32]>,
    target: Target,
    y: Shared,
) {
    super::wide(
        #[inline(always)]
        || {
            for k in 0..rows {
                let b0 = bias.map_or(0.0, |b| b[k]);
                for &(pos, n, tau, v0, len) in pieces {
                    let mp: [&[f32]; 8] =
                        std::array::from_fn(|p| &m[(p * rows + k) * width + pos..][..len]);
                    for (r, at_r) in AT.iter().enumerate() {
                        let z = 4 * tau + r;
                        if z >= outputs {
                            break;
                        }
                        let Some(at) = target(k, n, z) else {
                            continue;
                        };
                        // SAFETY: the row at `at` is inside y and belongs to this block's columns (the
                        // caller's contract).
                        let dst =
                            unsafe { std::slice::from_raw_parts_mut(y.get().add(at + v0), len) };
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
    use crate::models::kernels::winograd::tests::{
        assert_close, check_temporal, draw, temporal, terms, TemporalCase, TEMPORAL_CASES,
    };

    const ONE_TILE: [TemporalCase; 1] = [(3, 3, 9, 1, 0, 4)];

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
        check_temporal(&ONE_TILE, 2, 12, any_channels, conv);
    }

    /// ∂L/∂x[c, n, u, v] = Σ w[o, c, i] · ∂L/∂y[o, n, t, v] over 2t + i − pad = u: every element of the same
    /// cases within a few f32 ulps of the exact sum (2e-5 per term it could add, as the forward's bound;
    /// the frames that no output reads, an even length's last without padding, come within it of zero).
    #[test]
    fn the_input_gradient_matches_its_definition() {
        let mut rng = crate::rng::rng_for(13, 0);
        for case in TEMPORAL_CASES.into_iter().chain(ONE_TILE) {
            let (g, co) = (temporal(case, 2), case.5);
            let dy = draw(&mut rng, co * g.n * g.out_hw().0 * g.w);
            let wt = draw(&mut rng, co * g.c * 9);
            let mut want = vec![0f64; g.c * g.n * g.h * g.w];
            for (iw, iy, ix) in terms(&g, co) {
                want[ix] += wt[iw] as f64 * dy[iy] as f64;
            }
            let got = input_grad(&g, co, &wt, &dy);
            assert_close(&g, &got, &want, 2e-5 * (co * 9) as f64);
        }
    }
}
