//! The forward of a stride-1 (kh×1) convolution with kh a multiple of 3 (the ST-GCN's 9×1 temporal
//! convolution) by nested 1-D Winograd F(3, 3): 5 products per 3 outputs and tap group instead of 9.
//!
//! Split the kh taps into q = kh/3 groups of three and the output rows into tiles of three. With x' the
//! zero-padded input (x'[u] = x[u − pad]), output row 3τ + r is Σ_j Σ_s W[3j + s] · x'[3(τ + j) + r + s]:
//! for each group j a 3-tap correlation over the five rows of input tile τ + j. Winograd's F(3, 3) (points
//! 0, 1, −1, 2, ∞) computes such a correlation as Aᵀ[(G w) ⊙ (Bᵀ d)], so with D_p[τ'] = (Bᵀ d_τ')_p and
//! U_p[j] = Σ_s G[p, s] · W[3j + s], the five products M_p[τ] = Σ_j U_p[j] · D_p[τ + j] are q-tap
//! convolutions over the tiles, each one GEMM of the same blocked kind as every other convolution here, and
//! y[3τ + r] = Σ_p Aᵀ[r, p] · M_p[τ]. The GEMMs do 5/9 of the direct form's multiply-adds; the transforms
//! read and write each activation a few times. Both gradients go the same way ([`super::winograd_grad`]);
//! the tests bound each result against the exact sum.

use super::conv2d::{runs, Geometry2d, Run};
use super::matmul::{gemm_single, par_gemm_blocks, with_scratch, Shared, View};

/// G: row p turns three taps into point p's weight (the Vandermonde rows at 0, 1, −1, 2, ∞ over the scale
/// of the input transform's row p, see `tests::BT`).
pub(super) const G: [[f32; 3]; 5] = [
    [0.5, 0.0, 0.0],
    [0.5, 0.5, 0.5],
    [1.0 / 6.0, -1.0 / 6.0, 1.0 / 6.0],
    [1.0 / 6.0, 2.0 / 6.0, 4.0 / 6.0],
    [0.0, 0.0, 1.0],
];
/// Whether [`conv`] computes this convolution: (3q×1) taps, stride 1, no padding along W, and at least two
/// output tiles (shorter outputs are not worth the transforms).
pub(super) fn applies(g: &Geometry2d) -> bool {
    g.kw == 1
        && g.kh.is_multiple_of(3)
        && g.stride == (1, 1)
        && g.pad.1 == 0
        && g.out_hw().0 >= 6
        && g.n * g.w > 0
}

/// y (Co, N, Ho, W) = conv(x, w) (+ bias per output channel): x (C, N, H, W) and w (Co, C, kh, 1) contiguous.
///
/// The products' columns are the (n, τ, v) of the output tiles. Each block of columns is done by one task
/// in cache: for each point, its operand block (rows (j, c): D_p[c, n, τ + j, v]) is transformed from x
/// straight into scratch and multiplied by U_p; then the five products become the block's output rows.
pub(super) fn conv(
    g: &Geometry2d,
    co: usize,
    w: &[f32],
    x: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let (ho, wd) = g.out_hw();
    let q = g.kh / 3;
    let tiles = ho.div_ceil(3);
    let (cols, k) = (g.n * tiles * wd, g.c * q);
    let u: Vec<Vec<f32>> = (0..5).map(|p| point_weights(w, co, g.c, q, p)).collect();
    let len = co * g.n * ho * wd;
    let mut y: Vec<f32> = Vec::with_capacity(len);
    let out = Shared(y.as_mut_ptr());
    let t = Tiling { g: *g, ho, tiles };
    par_gemm_blocks(k, cols, |j0, width| {
        let pieces = t.pieces(j0, width);
        with_scratch((k + 5 * co) * width, |buf| {
            let (b, m) = buf.split_at_mut(k * width);
            for (p, up) in u.iter().enumerate() {
                t.fill(x, p, &pieces, width, b);
                let mp = &mut m[p * co * width..][..co * width];
                gemm_single(
                    mp,
                    false,
                    (co, width, k),
                    View::rows(up, k),
                    View::rows(b, width),
                );
            }
            // SAFETY: y has capacity for all Co·N·Ho·W outputs; this block writes exactly those of its
            // own columns' tiles (each (n, τ, v) belongs to one block), nothing else writes them.
            unsafe { t.write(co, width, &pieces, m, bias, out) };
        })
    });
    // SAFETY: every output (co, n, t, v) lies in tile τ = t / 3 of column (n, τ, v), and the blocks cover
    // all columns, so every one of the `len` floats was written above.
    unsafe { y.set_len(len) };
    y
}

/// U_p (Co, q·C) row-major, column j·C + c: Σ_s G[p, s] · w[co, c, 3j + s].
fn point_weights(w: &[f32], co: usize, c: usize, q: usize, p: usize) -> Vec<f32> {
    let kh = 3 * q;
    let mut u = Vec::with_capacity(co * q * c);
    for o in 0..co {
        for j in 0..q {
            u.extend((0..c).map(|ci| {
                let taps = &w[(o * c + ci) * kh + 3 * j..][..3];
                G[p][0] * taps[0] + G[p][1] * taps[1] + G[p][2] * taps[2]
            }));
        }
    }
    u
}

/// dst = Σ_u Bᵀ[p, u] · rows[u], element by element, with Bᵀ's entries (`tests::BT`) written out so that
/// each point costs only its non-zero terms.
#[inline(always)]
fn transform_row(p: usize, rows: &[&[f32]; 5], dst: &mut [f32]) {
    let [r0, r1, r2, r3, r4] = rows;
    let n = dst.len();
    let (r0, r1, r2, r3, r4) = (&r0[..n], &r1[..n], &r2[..n], &r3[..n], &r4[..n]);
    let d = dst.iter_mut().enumerate();
    match p {
        0 => d.for_each(|(i, d)| *d = 2.0 * (r0[i] - r2[i]) + r3[i] - r1[i]),
        1 => d.for_each(|(i, d)| *d = 2.0 * r1[i] + r2[i] - r3[i]),
        2 => d.for_each(|(i, d)| *d = 3.0 * r2[i] - 2.0 * r1[i] - r3[i]),
        3 => d.for_each(|(i, d)| *d = r3[i] - r1[i]),
        _ => d.for_each(|(i, d)| *d = 2.0 * (r1[i] - r3[i]) - r2[i] + r4[i]),
    }
}

/// dst = bias + Σ_p Aᵀ[r, p] · m[p], with Aᵀ's entries (`tests::AT`) written out.
#[inline(always)]
pub(super) fn output_row(r: usize, bias: f32, m: &[&[f32]; 5], dst: &mut [f32]) {
    let n = dst.len();
    let [m0, m1, m2, m3, m4] = m;
    let (m0, m1, m2, m3, m4) = (&m0[..n], &m1[..n], &m2[..n], &m3[..n], &m4[..n]);
    let d = dst.iter_mut().enumerate();
    match r {
        0 => d.for_each(|(i, d)| *d = bias + m0[i] + m1[i] + m2[i] + m3[i]),
        1 => d.for_each(|(i, d)| *d = bias + m1[i] - m2[i] + 2.0 * m3[i]),
        _ => d.for_each(|(i, d)| *d = bias + m1[i] + m2[i] + 4.0 * m3[i] + m4[i]),
    }
}

/// The convolution's shape as output tiles.
pub(super) struct Tiling {
    pub(super) g: Geometry2d,
    pub(super) ho: usize,
    pub(super) tiles: usize,
}

impl Tiling {
    /// Columns j0..j0 + width (which run (n, τ, v), v fastest) as runs within one tile row: conv2d's
    /// [`runs`] over the grid of output tiles.
    pub(super) fn pieces(&self, j0: usize, width: usize) -> Vec<Run> {
        let grid = Geometry2d {
            h: self.tiles,
            kh: 1,
            kw: 1,
            stride: (1, 1),
            pad: (0, 0),
            ..self.g
        };
        runs(&grid, j0, width)
    }

    /// Point p's operand block (q·C × width), row j·C + c: D_p[c, n, τ + j, v] over the block's columns,
    /// every element written. Per run of columns within one n and per channel, the whole tiles they and
    /// their q − 1 successors need are transformed once into `drow`, and each group's row is a shifted copy.
    pub(super) fn fill(&self, x: &[f32], p: usize, pieces: &[Run], width: usize, b: &mut [f32]) {
        super::wide(
            #[inline(always)]
            || self.fill_wide(x, p, pieces, width, b),
        )
    }

    #[inline(always)]
    fn fill_wide(&self, x: &[f32], p: usize, pieces: &[Run], width: usize, b: &mut [f32]) {
        let g = &self.g;
        let (wd, c, q) = (g.w, g.c, g.kh / 3);
        let zeros = vec![0f32; wd];
        let mut drow = Vec::new();
        for run in pieces.chunk_by(|a, b| a.1 == b.1) {
            let (pos, n, tau0, v0, _) = run[0];
            let &(last, _, tau1, _, len) = run.last().expect("chunks are not empty");
            let cols = last + len - pos; // the run's columns, from (τ0, v0) on
            let tiles = tau1 + q - tau0; // the tiles they read
            drow.clear();
            drow.resize(tiles * wd, 0.0);
            for ci in 0..c {
                let plane = &x[(ci * g.n + n) * g.h * wd..][..g.h * wd];
                for (i, dst) in drow.chunks_exact_mut(wd).enumerate() {
                    let rows: [&[f32]; 5] = std::array::from_fn(|u| {
                        let row = (3 * (tau0 + i) + u) as isize - g.pad.0 as isize;
                        match (0..g.h as isize).contains(&row) {
                            true => &plane[row as usize * wd..][..wd],
                            false => &zeros,
                        }
                    });
                    transform_row(p, &rows, dst);
                }
                for j in 0..q {
                    b[(j * c + ci) * width + pos..][..cols]
                        .copy_from_slice(&drow[j * wd + v0..][..cols]);
                }
            }
        }
    }

    /// y[co, n, 3τ + r, v] = bias[co] + Σ_p Aᵀ[r, p] · M_p[co, column] for the block's columns, 3τ + r < Ho.
    ///
    /// # Safety
    /// `y` must be valid for writes of Co·N·Ho·W floats, none of which another thread touches meanwhile
    /// at this block's columns.
    unsafe fn write(
        &self,
        co: usize,
        width: usize,
        pieces: &[Run],
        m: &[f32],
        bias: Option<&[f32]>,
        y: Shared,
    ) {
        let g = &self.g;
        super::wide(
            #[inline(always)]
            || {
                for o in 0..co {
                    let b0 = bias.map_or(0.0, |b| b[o]);
                    let mp: [&[f32]; 5] =
                        std::array::from_fn(|p| &m[(p * co + o) * width..][..width]);
                    for &(pos, n, tau, v0, len) in pieces {
                        for r in 0..3 {
                            let t = 3 * tau + r;
                            if t >= self.ho {
                                break;
                            }
                            let at_ = ((o * g.n + n) * self.ho + t) * g.w + v0;
                            // SAFETY: (o, n, t, v0..v0 + len) is inside y and belongs to this block's
                            // columns (the caller's contract).
                            let dst =
                                unsafe { std::slice::from_raw_parts_mut(y.get().add(at_), len) };
                            let m: [&[f32]; 5] = std::array::from_fn(|p| &mp[p][pos..][..len]);
                            output_row(r, b0, &m, dst);
                        }
                    }
                }
            },
        )
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Bᵀ with its rows scaled to integers (the scale moved into [`G`]): row p of the input transform, as
    /// [`transform_row`] writes it out.
    const BT: [[f32; 5]; 5] = [
        [2.0, -1.0, -2.0, 1.0, 0.0],
        [0.0, 2.0, 1.0, -1.0, 0.0],
        [0.0, -2.0, 3.0, -1.0, 0.0],
        [0.0, -1.0, 0.0, 1.0, 0.0],
        [0.0, 2.0, -1.0, -2.0, 1.0],
    ];
    /// Aᵀ: output row r of a tile from the five points' products, as [`output_row`] writes it out.
    const AT: [[f32; 5]; 3] = [
        [1.0, 1.0, 1.0, 1.0, 0.0],
        [0.0, 1.0, -1.0, 2.0, 0.0],
        [0.0, 1.0, 1.0, 4.0, 1.0],
    ];

    /// The written-out transforms are the matrices (on rows of ramps, exact in f32).
    #[test]
    fn the_written_out_transforms_are_the_matrices() {
        let rows: Vec<Vec<f32>> = (0..5)
            .map(|u| (0..7).map(|i| (i * 5 + u * 3) as f32 - 9.0).collect())
            .collect();
        let r: [&[f32]; 5] = std::array::from_fn(|u| rows[u].as_slice());
        for (p, bt) in BT.iter().enumerate() {
            let mut got = vec![f32::NAN; 7];
            transform_row(p, &r, &mut got);
            let want: Vec<f32> = (0..7)
                .map(|i| bt.iter().zip(&rows).map(|(b, row)| b * row[i]).sum())
                .collect();
            assert_eq!(got, want, "input transform, point {p}");
        }
        for (row, at) in AT.iter().enumerate() {
            let mut got = vec![f32::NAN; 7];
            output_row(row, 0.5, &r, &mut got);
            let want: Vec<f32> = (0..7)
                .map(|i| 0.5 + at.iter().zip(&rows).map(|(a, m)| a * m[i]).sum::<f32>())
                .collect();
            assert_eq!(got, want, "output transform, row {row}");
        }
    }

    /// The convolution straight from its definition, in f64.
    fn direct(g: &Geometry2d, co: usize, w: &[f32], x: &[f32], bias: &[f32]) -> Vec<f64> {
        let (ho, _) = g.out_hw();
        let mut y = vec![0f64; co * g.n * ho * g.w];
        for o in 0..co {
            for n in 0..g.n {
                for t in 0..ho {
                    for v in 0..g.w {
                        let mut s = bias[o] as f64;
                        for c in 0..g.c {
                            for i in 0..g.kh {
                                let r = (t + i) as isize - g.pad.0 as isize;
                                if (0..g.h as isize).contains(&r) {
                                    let xv = x[((c * g.n + n) * g.h + r as usize) * g.w + v];
                                    s += w[(o * g.c + c) * g.kh + i] as f64 * xv as f64;
                                }
                            }
                        }
                        y[((o * g.n + n) * ho + t) * g.w + v] = s;
                    }
                }
            }
        }
        y
    }

    /// The test geometries: 9×1 and 3×1 "same" convolutions, outputs not a multiple of 3 long, padding
    /// wider than the kernel's half and none, one joint and many; (c, n, h, w, kh, pad, co).
    pub(in super::super) const GEOMETRIES: [(usize, usize, usize, usize, usize, usize, usize); 5] = [
        (5, 2, 16, 7, 9, 4, 6),
        (3, 3, 11, 1, 9, 4, 4),
        (4, 1, 10, 5, 3, 1, 3),
        (2, 2, 14, 3, 9, 0, 5),
        (3, 2, 8, 4, 6, 3, 2),
    ];

    /// The stride-1 (kh×1) convolution of (c, n, h, w) inputs padded by `pad` rows, which [`applies`].
    pub(in super::super) fn temporal(
        c: usize,
        n: usize,
        h: usize,
        w: usize,
        kh: usize,
        pad: usize,
    ) -> Geometry2d {
        let g = Geometry2d {
            c,
            n,
            h,
            w,
            kh,
            kw: 1,
            stride: (1, 1),
            pad: (pad, 0),
        };
        assert!(applies(&g), "{g:?}");
        g
    }

    /// Every output of the [`GEOMETRIES`] within a few f32 ulps of the exact sum.
    #[test]
    fn matches_the_direct_convolution() {
        let mut rng = crate::rng::rng_for(3, 0);
        for (c, n, h, w, kh, pad, co) in GEOMETRIES {
            let g = temporal(c, n, h, w, kh, pad);
            let mut draw = |len: usize| -> Vec<f32> {
                (0..len)
                    .map(|_| crate::rng::uniform(&mut rng, -1.0, 1.0))
                    .collect()
            };
            let (x, wt, b) = (draw(c * n * h * w), draw(co * c * kh), draw(co));
            let got = conv(&g, co, &wt, &x, Some(&b));
            let want = direct(&g, co, &wt, &x, &b);
            assert_eq!(got.len(), want.len());
            let worst = got
                .iter()
                .zip(&want)
                .map(|(&a, &e)| (a as f64 - e).abs())
                .fold(0.0, f64::max);
            assert!(worst < 2e-5 * (c * kh) as f64, "{g:?}: off by {worst}");
        }
    }
}
