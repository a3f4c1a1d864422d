//! The forward of a stride-1 9×1 convolution (the ST-GCN's temporal one) by F(3, 3) nested in F(3, 3): 25
//! products per nine output rows where [`super::winograd`] takes 45 and the direct form 81.
//!
//! [`super::winograd`] splits the nine taps into three groups of three and computes each group's 3-tap
//! correlation by F(3, 3); what remains, M_p[τ] = Σ_j U_p[j] · D_p[τ + j] over the tiles τ of three output
//! rows, is itself a 3-tap correlation along τ whose taps are (Co × C) matrices. F(3, 3) computes that one
//! too. With σ the tiles of nine output rows (three inner tiles each):
//! E_pp'[σ] = Σ_u Bᵀ[p', u] · D_p[3σ + u] (u = 0..5, so rows 9σ .. 9σ + 17 of the padded input),
//! V_pp' = Σ_j G[p', j] · U_p[j], the 25 GEMMs N_pp'[σ] = V_pp' · E_pp'[σ] with C-long reductions,
//! M_p[3σ + ρ] = Σ_p' Aᵀ[ρ, p'] · N_pp'[σ] and y[9σ + 3ρ + r] = bias + Σ_p Aᵀ[r, p] · M_p[3σ + ρ].
//! The transforms are [`super::winograd`]'s rows, applied twice; the tests bound each output against the
//! exact sum.

use super::conv2d::{Geometry2d, Run};
use super::matmul::{gemm_single, Shared, View};
use super::winograd::{output_row, tiled_output, transform_row, Tiling, G};

/// Input channels (the GEMMs' reduction length) a convolution needs for the nested form. Its reductions are
/// a third as long as [`super::winograd`]'s and its transforms twice as many; measured on a 2-core AMD Zen 2
/// (`skelcam bench`, ST-GCN inference, alternated): with 128 and 256 channels it is 13 % faster over the
/// whole model, with 64 no faster, and with 32 (`stgcn-small`) 1.5 % slower.
const MIN_CHANNELS: usize = 128;
/// Output rows a convolution needs for the nested form: one outer tile holds nine, and the shortest
/// measured, 16 (the ST-GCN's last stage at 64 frames, 18 rows computed), gains most (8 % of the model).
const MIN_ROWS: usize = 12;

/// Whether [`conv`] computes this convolution, given that [`super::winograd::applies`]: nine taps along H,
/// one along W, at least [`MIN_CHANNELS`] input channels and [`MIN_ROWS`] output rows.
pub(super) fn applies(g: &Geometry2d) -> bool {
    g.kh == 9 && g.kw == 1 && g.c >= MIN_CHANNELS && g.out_hw().0 >= MIN_ROWS
}

/// V_pp' (Co, C) row-major for point pair (p, p'), at 5p + p' of 25 such matrices end to end:
/// Σ_j G[p', j] · Σ_s G[p, s] · w[·, ·, 3j + s]. The 25 are made in parallel: made serially at every call,
/// they cost 4 % of the whole ST-GCN's inference on the Zen 2 (the same values, in the same order).
fn pair_weights(w: &[f32], co: usize, c: usize) -> Vec<f32> {
    use rayon::prelude::*;
    let mut v = vec![0f32; 25 * co * c];
    v.par_chunks_mut(co * c).enumerate().for_each(|(pp, vp)| {
        let (gp, gq) = (G[pp / 5], G[pp % 5]);
        for (d, taps) in vp.iter_mut().zip(w.chunks_exact(9)) {
            let u = |j: usize| (0..3).map(|s| gp[s] * taps[3 * j + s]).sum::<f32>();
            *d = (0..3).map(|j| gq[j] * u(j)).sum();
        }
    });
    v
}

/// y (Co, N, Ho, W) = conv(x, w) (+ bias per output channel) for a geometry that [`applies`]: x (C, N, H, W)
/// and w (Co, C, 9, 1), contiguous. The columns are the (n, σ, v) of the outer tiles; each block of them is
/// done by one task: for each p, the five operands E_pp' are transformed from x into scratch and multiplied;
/// then the 25 products become the block's output rows.
pub(super) fn conv(
    g: &Geometry2d,
    co: usize,
    w: &[f32],
    x: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let ho = g.out_hw().0;
    // The (n, σ, v) columns: the output in tiles of nine rows.
    let t = Tiling {
        g: *g,
        ho,
        tiles: ho.div_ceil(9),
    };
    let c = g.c;
    let v = pair_weights(w, co, c);
    // Five operands and 25 products per column.
    let per_col = 5 * c + 25 * co;
    let block = |pieces: &[Run], width: usize, buf: &mut [f32], out: Shared| {
        let (b, m) = buf.split_at_mut(5 * c * width);
        for p in 0..5 {
            fill(g, x, p, pieces, width, b);
            for q in 0..5 {
                gemm_single(
                    &mut m[(5 * p + q) * co * width..][..co * width],
                    false,
                    (co, width, c),
                    View::rows(&v[(5 * p + q) * co * c..][..co * c], c),
                    View::rows(&b[q * c * width..][..c * width], width),
                );
            }
        }
        // SAFETY: y has room for all Co·N·Ho·W outputs; this block writes exactly those of its own
        // columns' outer tiles (each (n, σ, v) belongs to one block), nothing else writes them.
        unsafe { write(g, ho, co, width, pieces, m, bias, out) };
    };
    // SAFETY: each block writes exactly the outputs of its own columns' outer tiles (`write`).
    unsafe { tiled_output(&t, co * g.n * ho * g.w, per_col, block) }
}

/// The five operands E_pp' (p' = 0..5, each C × width, row c) of point p over the block's columns. Per run
/// of columns within one n and per channel, the D_p rows of every inner tile the run's outer tiles read are
/// transformed from x once (neighbouring outer tiles share two), then E_pp' from them, into rows that lie
/// end to end as the run's columns do, and copied in one piece.
fn fill(g: &Geometry2d, x: &[f32], p: usize, pieces: &[Run], width: usize, b: &mut [f32]) {
    super::wide(
        #[inline(always)]
        || {
            let (wd, c) = (g.w, g.c);
            let zeros = vec![0f32; wd];
            let (mut d, mut e) = (Vec::new(), Vec::new());
            for run in pieces.chunk_by(|a, b| a.1 == b.1) {
                let (pos, n, s0, v0, _) = run[0];
                let &(last, _, s1, _, len) = run.last().expect("chunks are not empty");
                let cols = last + len - pos;
                let tiles = s1 + 1 - s0;
                e.clear();
                e.resize(5 * tiles * wd, 0.0);
                d.clear();
                d.resize((3 * tiles + 2) * wd, 0.0);
                let top = 9 * s0 as isize - g.pad.0 as isize;
                for ci in 0..c {
                    let plane = &x[(ci * g.n + n) * g.h * wd..][..g.h * wd];
                    // inner tile k of the run: D_p over padded rows top + 3k .. top + 3k + 5
                    for (k, dk) in d.chunks_exact_mut(wd).enumerate() {
                        let rows: [&[f32]; 5] = std::array::from_fn(|r| {
                            let row = top + (3 * k + r) as isize;
                            match (0..g.h as isize).contains(&row) {
                                true => &plane[row as usize * wd..][..wd],
                                false => &zeros,
                            }
                        });
                        transform_row(p, &rows, dk);
                    }
                    for i in 0..tiles {
                        let rows: [&[f32]; 5] =
                            std::array::from_fn(|u| &d[(3 * i + u) * wd..][..wd]);
                        for q in 0..5 {
                            transform_row(q, &rows, &mut e[(q * tiles + i) * wd..][..wd]);
                        }
                    }
                    for q in 0..5 {
                        b[(q * c + ci) * width + pos..][..cols]
                            .copy_from_slice(&e[q * tiles * wd + v0..][..cols]);
                    }
                }
            }
        },
    )
}

/// y[o, n, 9σ + 3ρ + r, v] = bias[o] + Σ_p Aᵀ[r, p] · Σ_p' Aᵀ[ρ, p'] · N_pp'[o, column] for the block's
/// columns, rows below Ho.
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
            let mut inner = vec![0f32; 15 * g.w];
            for o in 0..co {
                let b0 = bias.map_or(0.0, |b| b[o]);
                for &(pos, n, s, v0, len) in pieces {
                    // inner row 3p + ρ: M_p[3σ + ρ] over the run's columns
                    for p in 0..5 {
                        let np: [&[f32]; 5] = std::array::from_fn(|q| {
                            &m[((5 * p + q) * co + o) * width + pos..][..len]
                        });
                        for rho in 0..3 {
                            output_row(rho, 0.0, &np, &mut inner[(3 * p + rho) * len..][..len]);
                        }
                    }
                    for rho in 0..3 {
                        let mp: [&[f32]; 5] =
                            std::array::from_fn(|p| &inner[(3 * p + rho) * len..][..len]);
                        for r in 0..3 {
                            let t = 9 * s + 3 * rho + r;
                            if t >= ho {
                                break;
                            }
                            let at = ((o * g.n + n) * ho + t) * g.w + v0;
                            // SAFETY: (o, n, t, v0..v0 + len) is inside y and belongs to this block's
                            // columns (the caller's contract).
                            let dst =
                                unsafe { std::slice::from_raw_parts_mut(y.get().add(at), len) };
                            output_row(r, b0, &mp, dst);
                        }
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

    /// Every output of the shared cases at stride 1 within a few f32 ulps of the exact sum.
    #[test]
    fn matches_the_direct_convolution() {
        let admitted = |g: &Geometry2d| {
            super::super::winograd::applies(g)
                && applies(&Geometry2d {
                    c: MIN_CHANNELS,
                    ..*g
                })
        };
        check_temporal(&TEMPORAL_CASES, 1, 7, admitted, conv);
    }
}
