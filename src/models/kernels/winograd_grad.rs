//! The backward of the stride-1 (kh×kw) convolutions that [`super::winograd`] runs forward, by the same
//! nested F(3, 3), so both gradients also take 5/9 of the direct form's multiply-adds.
//!
//! Input gradient: ∂L/∂x[c, u] = Σ_co Σ_s w[co, c, s] · ∂L/∂y[co, u + p − s] (and likewise along W) is the
//! forward convolution of ∂L/∂y, padded by kh − 1 − p (along W by kw − 1 − pad, the same "same" padding),
//! with the kernels flipped along both axes and the channels transposed.
//!
//! Weight gradient: with f(w, d)[r] = Σ_s w[s] · d[r + s] the 3-tap correlation that F(3, 3) computes as
//! Aᵀ[(G w) ⊙ (Bᵀ d)], tap 3j + s of the gradient is Σ_τ Σ_r ∂y[3τ + r] · x'[3(τ + j) + r + s] =
//! Σ_τ f(∂y_τ, d_τ+j)[s], the same bilinear form with ∂L/∂y's tile in the weights' place. So with
//! E_p = (G ∂y)_p over the output tiles and D_p the forward's transformed input, the five products
//! M_p[co, (j, c, t)] = Σ_(n, τ, v) E_p[co, ·] · D_p[(j, c, t), ·] give ∂L/∂w[co, c, 3j + s, t] =
//! Σ_p Aᵀ[s, p] · M_p (t the tap along W).
//! Their long reduction runs in [`PARTS`] fixed slices of columns summed in order, so the result does not
//! depend on the thread count.

use super::conv2d::{Geometry2d, Run};
use super::matmul::{gemm_single, with_scratch, View};
use super::winograd::{applies, conv, output_row, Tiling, G};

/// ∂L/∂x (C, N, H, W) from ∂L/∂y (Co, N, Ho, W) and w (Co, C, kh, kw), or `None` where the convolution or
/// its transposed form does not [`applies`] (the caller then runs the direct form).
pub(super) fn input_grad(g: &Geometry2d, co: usize, w: &[f32], dy: &[f32]) -> Option<Vec<f32>> {
    let (ho, wd) = g.out_hw();
    if !applies(g) || g.pad.0 > g.kh - 1 {
        return None;
    }
    let gt = Geometry2d {
        c: co,
        n: g.n,
        h: ho,
        w: wd,
        kh: g.kh,
        kw: g.kw,
        stride: (1, 1),
        pad: (g.kh - 1 - g.pad.0, g.kw - 1 - g.pad.1),
    };
    if !applies(&gt) {
        return None;
    }
    debug_assert_eq!(
        gt.out_hw(),
        (g.h, g.w),
        "stride 1 and pad ≤ kh − 1 give x's size back"
    );
    let taps = g.kh * g.kw;
    let mut flipped = vec![0f32; w.len()];
    for o in 0..co {
        for c in 0..g.c {
            // (kh, kw) row-major reversed whole is the kernel flipped along both axes.
            let src = &w[(o * g.c + c) * taps..][..taps];
            let dst = &mut flipped[(c * co + o) * taps..][..taps];
            dst.iter_mut()
                .zip(src.iter().rev())
                .for_each(|(d, s)| *d = *s);
        }
    }
    Some(conv(&gt, g.c, &flipped, dy, None))
}

/// Slices of the weight gradient's reduction, each summed by one task: fixed, so that the order of the sum
/// does not depend on the thread count.
const PARTS: usize = 4;

/// ∂L/∂w (Co, C, kh, kw) from ∂L/∂y (Co, N, Ho, W) and x (C, N, H, W) of a convolution that [`applies`].
pub(super) fn weight_grad(g: &Geometry2d, co: usize, dy: &[f32], x: &[f32]) -> Vec<f32> {
    use rayon::prelude::*;
    let (ho, wd) = g.out_hw();
    let (q, tiles) = (g.kh / 3, ho.div_ceil(3));
    let (cols, k) = (g.n * tiles * wd, g.c * q * g.kw);
    let t = Tiling { g: *g, ho, tiles };
    // Blocks of about 512 KiB of operands (D_p and E_p), a multiple of 64 columns.
    let width = ((128 * 1024) / (k + co)).max(128).next_multiple_of(64);
    let blocks = cols.div_ceil(width);
    let parts: Vec<Vec<f32>> = (0..PARTS)
        .into_par_iter()
        .map(|part| {
            let mut m = vec![0f32; 5 * co * k];
            for blk in blocks * part / PARTS..blocks * (part + 1) / PARTS {
                let j0 = blk * width;
                let w = width.min(cols - j0);
                let pieces = t.pieces(j0, w);
                with_scratch((k + co) * w, |buf| {
                    let (d, e) = buf.split_at_mut(k * w);
                    for p in 0..5 {
                        t.fill(x, p, &pieces, w, d);
                        fill_dy(&t, dy, co, p, &pieces, w, e);
                        gemm_single(
                            &mut m[p * co * k..][..co * k],
                            true,
                            (co, k, w),
                            View::rows(e, w),
                            View::transposed(d, w),
                        );
                    }
                });
            }
            m
        })
        .collect();
    let mut parts = parts.into_iter();
    let mut m = parts.next().expect("PARTS > 0");
    for part in parts {
        m.iter_mut().zip(&part).for_each(|(a, b)| *a += b);
    }
    // ∂L/∂w[o, c, 3j + s, t] = Σ_p Aᵀ[s, p] · M_p[o, (j·C + c)·kw + t]: the forward's output rows over
    // (j, c, t).
    let (kh, kw) = (g.kh, g.kw);
    let mut dw = vec![0f32; co * g.c * kh * kw];
    let mut rows = vec![0f32; 3 * k];
    for o in 0..co {
        let mp: [&[f32]; 5] = std::array::from_fn(|p| &m[(p * co + o) * k..][..k]);
        for (s, row) in rows.chunks_exact_mut(k).enumerate() {
            output_row(s, 0.0, &mp, row);
        }
        for j in 0..q {
            for c in 0..g.c {
                for s in 0..3 {
                    for t in 0..kw {
                        dw[((o * g.c + c) * kh + 3 * j + s) * kw + t] =
                            rows[s * k + (j * g.c + c) * kw + t];
                    }
                }
            }
        }
    }
    dw
}

/// E_p (Co × width) for the block's columns (n, τ, v): Σ_r G[p, r] · ∂L/∂y[co, n, 3τ + r, v], rows past
/// Ho counting as zero.
fn fill_dy(
    t: &Tiling,
    dy: &[f32],
    co: usize,
    p: usize,
    pieces: &[Run],
    width: usize,
    e: &mut [f32],
) {
    let (n_all, wd) = (t.g.n, t.g.w);
    let [g0, g1, g2] = G[p];
    let zeros = vec![0f32; wd];
    for o in 0..co {
        let row = &mut e[o * width..][..width];
        for &(pos, n, tau, v0, len) in pieces {
            let plane = &dy[(o * n_all + n) * t.ho * wd..][..t.ho * wd];
            let [a, b, c]: [&[f32]; 3] = std::array::from_fn(|r| {
                let tr = 3 * tau + r;
                match tr < t.ho {
                    true => &plane[tr * wd + v0..][..len],
                    false => &zeros[..len],
                }
            });
            for (i, d) in row[pos..][..len].iter_mut().enumerate() {
                *d = g0 * a[i] + g1 * b[i] + g2 * c[i];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::models::kernels::winograd::tests::{draw, same_width, terms, GEOMETRIES};

    /// `each(g, co, ∂L/∂y, x, w)` for the forward's test geometries and one whose weight gradient has two
    /// blocks of columns, in two of the [`PARTS`], with values drawn uniformly from [−1, 1].
    fn cases(mut each: impl FnMut(&Geometry2d, usize, &[f32], &[f32], &[f32])) {
        let mut rng = crate::rng::rng_for(4, 0);
        let more = [(2, 4, 300, 120, 3, 1, 1, 2)];
        for (c, n, h, w, kh, kw, pad, co) in GEOMETRIES.into_iter().chain(more) {
            let g = same_width((c, n, h, w), (kh, kw), pad);
            let ho = g.out_hw().0;
            let (dy, x, wt) = (
                draw(&mut rng, co * n * ho * w),
                draw(&mut rng, c * n * h * w),
                draw(&mut rng, co * c * kh * kw),
            );
            each(&g, co, &dy, &x, &wt);
        }
    }

    /// The largest |got − want| / Σ|terms| over the elements: the f32 result's error against the exact sum,
    /// relative to the magnitude of what it adds (a lost or doubled term, tap or block is of order 1 there).
    fn worst(got: &[f32], want: &[(f64, f64)]) -> f64 {
        assert_eq!(got.len(), want.len());
        got.iter()
            .zip(want)
            .map(|(&a, &(e, mag))| (a as f64 - e).abs() / mag.max(1e-30))
            .fold(0.0, f64::max)
    }

    /// ∂L/∂x[c, n, u, x] = Σ w[co, c, i, s] · ∂L/∂y[co, n, t, v] over the terms with t + i − p = u and
    /// v + s − (kw − 1)/2 = x.
    #[test]
    fn the_input_gradient_matches_its_definition() {
        cases(|g, co, dy, x, wt| {
            let mut want = vec![(0f64, 0f64); x.len()];
            for (iw, iy, ix) in terms(g, co) {
                let t = wt[iw] as f64 * dy[iy] as f64;
                want[ix] = (want[ix].0 + t, want[ix].1 + t.abs());
            }
            let got = input_grad(g, co, wt, dy).expect("applies");
            let off = worst(&got, &want);
            assert!(off < 1e-5, "{g:?}: off by {off} of the terms' magnitude");
        });
    }

    /// ∂L/∂w[co, c, i, s] = Σ ∂L/∂y[co, n, t, v] · x[c, n, t + i − p, v + s − (kw − 1)/2] over (n, t, v).
    #[test]
    fn the_weight_gradient_matches_its_definition() {
        cases(|g, co, dy, x, wt| {
            let mut want = vec![(0f64, 0f64); wt.len()];
            for (iw, iy, ix) in terms(g, co) {
                let t = dy[iy] as f64 * x[ix] as f64;
                want[iw] = (want[iw].0 + t, want[iw].1 + t.abs());
            }
            let got = weight_grad(g, co, dy, x);
            let off = worst(&got, &want);
            assert!(off < 1e-5, "{g:?}: off by {off} of the terms' magnitude");
        });
    }
}
