//! The forward of a stride-1 (kh×kw) "same" convolution with kh a multiple of 3 (the ST-GCN's 9×1 temporal
//! convolution, the ResNet's 3×3 ones) by nested 1-D Winograd F(3, 3) along H: 5 products per 3 output rows
//! and tap group instead of 9; the kw taps along W stay direct.
//!
//! Split the kh taps into q = kh/3 groups of three and the output rows into tiles of three. With x' the
//! zero-padded input (x'[u] = x[u − pad]), output row 3τ + r is Σ_j Σ_s W[3j + s] · x'[3(τ + j) + r + s]:
//! for each group j a 3-tap correlation over the five rows of input tile τ + j. Winograd's F(3, 3) (points
//! 0, 1, −1, 2, ∞) computes such a correlation as Aᵀ[(G w) ⊙ (Bᵀ d)], so with D_p[τ'] = (Bᵀ d_τ')_p and
//! U_p[j] = Σ_s G[p, s] · W[3j + s], the five products M_p[τ] = Σ_j U_p[j] · D_p[τ + j] are q-tap
//! convolutions over the tiles, each one GEMM of the same blocked kind as every other convolution here, and
//! y[3τ + r] = Σ_p Aᵀ[r, p] · M_p[τ]. With kw > 1 each (j, c) row of D_p comes kw times, shifted along W
//! (zero past the edges), and U_p holds the matching taps. The GEMMs do 5/9 of the direct form's
//! multiply-adds; the transforms read and write each activation a few times. Both gradients go the same way
//! ([`super::winograd_grad`]); the tests bound each result against the exact sum. 9×1 convolutions with 128
//! or more input channels apply F(3, 3) once more along the tiles ([`super::winograd_nested`]). Stride-2 9×1 ones
//! with 128 or more go by F(4, 5) over pairs of frames ([`super::winograd_s2`]).

use super::conv2d::{runs, Geometry2d, Run};
use super::matmul::{gemm_single, par_gemm_blocks, par_gemm_blocks_of, with_scratch, Shared, View};

/// G: row p turns three taps into point p's weight (the Vandermonde rows at 0, 1, −1, 2, ∞ over the scale
/// of the input transform's row p, see `tests::BT`).
pub(super) const G: [[f32; 3]; 5] = [
    [0.5, 0.0, 0.0],
    [0.5, 0.5, 0.5],
    [1.0 / 6.0, -1.0 / 6.0, 1.0 / 6.0],
    [1.0 / 6.0, 2.0 / 6.0, 4.0 / 6.0],
    [0.0, 0.0, 1.0],
];
/// A 3×3 convolution's smallest input width for [`conv`]. Measured on a 2-core AMD Zen 2 against the direct
/// form, forward and backward of a batch of 16 (`c@w`: c channels in and out on w × w pictures): from 28 on
/// it wins both ways (forward and backward: 64@56 0.57–0.63 and 0.60–0.69 of the time, 64@28 0.73–0.86
/// and 0.51–0.92, 128@28 0.81–0.97 and 0.61–0.78, 256@28 0.73–0.82 and 0.66–0.69; four to six timings
/// each); below, the short rows make short copies and the forward loses (128@20 0.90–1.2, 128@14 1.2–1.4,
/// 256@14 1.1–1.2, 256@7 and 256@10 1.4–2.4 as long), while the backward still gains at 20 and 14. At 24
/// (the demo's 96-px pictures, 64 channels) a whole training run took as long either way.
const MIN_WIDTH: usize = 28;

/// Whether [`conv`] computes this convolution: (3q×kw) taps, stride 1, "same" padding along W ((kw − 1)/2,
/// so kw is odd and the output is as wide as the input), and at least two output tiles (shorter outputs are
/// not worth the transforms). Where kw > 1 (an image model's 3×3), only on inputs at least
/// [`MIN_WIDTH`] wide.
pub(super) fn applies(g: &Geometry2d) -> bool {
    if g.kw > 1 && g.w < MIN_WIDTH {
        return false;
    }
    2 * g.pad.1 + 1 == g.kw
        && g.kh.is_multiple_of(3)
        && g.stride == (1, 1)
        && g.out_hw().0 >= 6
        && g.n * g.w > 0
}

/// y (Co, N, Ho, W) = conv(x, w) (+ bias per output channel): x (C, N, H, W) and w (Co, C, kh, kw),
/// contiguous.
///
/// The products' columns are the (n, τ, v) of the output tiles. Each block of columns is done by one task
/// in cache: for each point, its operand block (rows (j, c, s): D_p[c, n, τ + j, v + s − pad]) is
/// transformed from x straight into scratch and multiplied by U_p; then the five products become the
/// block's output rows. A 9×1 convolution that [`super::winograd_nested::applies`] to goes there instead
/// (the input gradient's too, which comes here).
pub(super) fn conv(
    g: &Geometry2d,
    co: usize,
    w: &[f32],
    x: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    if super::winograd_nested::applies(g) {
        return super::winograd_nested::conv(g, co, w, x, bias);
    }
    let (ho, wd) = g.out_hw();
    let q = g.kh / 3;
    let tiles = ho.div_ceil(3);
    let (cols, k) = (g.n * tiles * wd, g.c * q * g.kw);
    let u: Vec<Vec<f32>> = {
        use rayon::prelude::*;
        (0..5)
            .into_par_iter()
            .map(|p| point_weights(w, co, g, p))
            .collect()
    };
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

/// U_p (Co, q·C·kw) row-major, column (j·C + c)·kw + s: Σ_r G[p, r] · w[co, c, 3j + r, s].
fn point_weights(w: &[f32], co: usize, g: &Geometry2d, p: usize) -> Vec<f32> {
    let (c, kh, kw) = (g.c, g.kh, g.kw);
    let mut u = Vec::with_capacity(co * c * kh / 3 * kw);
    for o in 0..co {
        for j in 0..kh / 3 {
            for ci in 0..c {
                u.extend((0..kw).map(|s| {
                    let tap = |r: usize| w[((o * c + ci) * kh + 3 * j + r) * kw + s];
                    G[p][0] * tap(0) + G[p][1] * tap(1) + G[p][2] * tap(2)
                }));
            }
        }
    }
    u
}

/// dst = Σ_u Bᵀ[p, u] · rows[u], element by element, with Bᵀ's entries (`tests::BT`) written out so that
/// each point costs only its non-zero terms.
#[inline(always)]
pub(super) fn transform_row(p: usize, rows: &[&[f32]; 5], dst: &mut [f32]) {
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

/// The `len` outputs of a form that works in output tiles ([`super::winograd_nested`],
/// [`super::winograd_s2`]), made block by block: `block(pieces, width, scratch, y)` for each block of
/// `width` (n, tile, v) columns, in parallel, with `per_col` floats of scratch per column (about 1 MiB a
/// block).
///
/// # Safety
/// Each call of `block` must write, through `y`, every output whose tile lies in its `pieces`, and no other;
/// every one of the `len` outputs must lie in some tile.
pub(super) unsafe fn tiled_output(
    t: &Tiling,
    len: usize,
    per_col: usize,
    block: impl Fn(&[Run], usize, &mut [f32], Shared) + Sync,
) -> Vec<f32> {
    let g = &t.g;
    let cols = g.n * t.tiles * g.w;
    let mut y: Vec<f32> = Vec::with_capacity(len);
    let out = Shared(y.as_mut_ptr());
    let width = ((1 << 18) / per_col).clamp(64, 512).next_multiple_of(64);
    par_gemm_blocks_of(cols, width, |j0, width| {
        let pieces = t.pieces(j0, width);
        with_scratch(per_col * width, |buf| block(&pieces, width, buf, out))
    });
    // SAFETY: every output lies in some tile (the caller's contract); the blocks cover all columns, and
    // each wrote the outputs of its columns' tiles, so all `len` floats are written.
    unsafe { y.set_len(len) };
    y
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

    /// Point p's operand block (q·C·kw × width), row (j·C + c)·kw + s: D_p[c, n, τ + j, v + s − pad] over
    /// the block's columns (zero past W's edges), every element written. Per run of columns within one n and
    /// per channel, the whole tiles they and their q − 1 successors need are transformed once into `drow`
    /// (rows with zero margins where kw > 1), and each (group, tap) row is a shifted copy: one for the whole
    /// run where kw = 1, as the run's tile rows then lie end to end, else one per tile row.
    pub(super) fn fill(&self, x: &[f32], p: usize, pieces: &[Run], width: usize, b: &mut [f32]) {
        super::wide(
            #[inline(always)]
            || self.fill_wide(x, p, pieces, width, b),
        )
    }

    #[inline(always)]
    fn fill_wide(&self, x: &[f32], p: usize, pieces: &[Run], width: usize, b: &mut [f32]) {
        let g = &self.g;
        let (wd, c, q, kw) = (g.w, g.c, g.kh / 3, g.kw);
        let wp = wd + kw - 1; // a row of drow: pad.1 zeros, the W transformed values, pad.1 zeros
        let zeros = vec![0f32; wd];
        let mut drow = Vec::new();
        for run in pieces.chunk_by(|a, b| a.1 == b.1) {
            let (pos, n, tau0, v0, _) = run[0];
            let &(last, _, tau1, _, len) = run.last().expect("chunks are not empty");
            let cols = last + len - pos; // the run's columns, from (τ0, v0) on
            let tiles = tau1 + q - tau0; // the tiles they read
            drow.clear();
            drow.resize(tiles * wp, 0.0);
            for ci in 0..c {
                let plane = &x[(ci * g.n + n) * g.h * wd..][..g.h * wd];
                for (i, dst) in drow.chunks_exact_mut(wp).enumerate() {
                    let rows: [&[f32]; 5] = std::array::from_fn(|u| {
                        let row = (3 * (tau0 + i) + u) as isize - g.pad.0 as isize;
                        match (0..g.h as isize).contains(&row) {
                            true => &plane[row as usize * wd..][..wd],
                            false => &zeros,
                        }
                    });
                    transform_row(p, &rows, &mut dst[g.pad.1..][..wd]);
                }
                for j in 0..q {
                    let row = (j * c + ci) * kw;
                    if kw == 1 {
                        b[row * width + pos..][..cols]
                            .copy_from_slice(&drow[j * wd + v0..][..cols]);
                        continue;
                    }
                    for s in 0..kw {
                        let dst = &mut b[(row + s) * width..][..width];
                        for &(at, _, tau, v, len) in run {
                            dst[at..][..len]
                                .copy_from_slice(&drow[(tau - tau0 + j) * wp + v + s..][..len]);
                        }
                    }
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

    /// Every (o, c, i, s, n, t, v) whose input (row t·stride.0 + i − pad.0, column v·stride.1 + s − pad.1) lies
    /// inside x: (index into w, into y, into x), the terms of the convolution's sum and of both its gradients;
    /// the outputs are as wide as the input.
    pub(in super::super) fn terms(g: &Geometry2d, co: usize) -> Vec<(usize, usize, usize)> {
        let ho = g.out_hw().0;
        let inside = |a: usize, pad: usize, len: usize| {
            let u = a as isize - pad as isize;
            (0..len as isize).contains(&u).then_some(u as usize)
        };
        let mut out = Vec::new();
        for o in 0..co {
            for c in 0..g.c {
                for i in 0..g.kh {
                    for s in 0..g.kw {
                        for n in 0..g.n {
                            for t in 0..ho {
                                let Some(u) = inside(t * g.stride.0 + i, g.pad.0, g.h) else {
                                    continue;
                                };
                                for v in 0..g.w {
                                    let Some(x) = inside(v * g.stride.1 + s, g.pad.1, g.w) else {
                                        continue;
                                    };
                                    out.push((
                                        ((o * g.c + c) * g.kh + i) * g.kw + s,
                                        ((o * g.n + n) * ho + t) * g.w + v,
                                        ((c * g.n + n) * g.h + u) * g.w + x,
                                    ));
                                }
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// (c, n, h, w, kh, kw, pad, co): channels, images, rows, columns, taps along H and W, padding along H,
    /// output channels.
    pub(in super::super) type Case = (usize, usize, usize, usize, usize, usize, usize, usize);

    /// The test geometries: 9×1 and 3×1 "same" convolutions, outputs not a multiple of 3 long, padding
    /// wider than the kernel's half and none, one joint and many; 3×3, 3×5 and 6×3 ones as an image
    /// model's, at least [`MIN_WIDTH`] wide.
    pub(in super::super) const GEOMETRIES: [Case; 8] = [
        (5, 2, 16, 7, 9, 1, 4, 6),
        (3, 3, 11, 1, 9, 1, 4, 4),
        (4, 1, 10, 5, 3, 1, 1, 3),
        (2, 2, 14, 3, 9, 1, 0, 5),
        (3, 2, 8, 4, 6, 1, 3, 2),
        (4, 2, 7, 28, 3, 3, 1, 5),
        (3, 1, 12, 29, 3, 5, 2, 2),
        (2, 2, 9, 30, 6, 3, 2, 3),
    ];

    /// The stride-1 (kh×kw) convolution of (c, n, h, w) inputs padded by `pad` rows and (kw − 1)/2
    /// columns, which [`applies`].
    pub(in super::super) fn same_width(
        (c, n, h, w): (usize, usize, usize, usize),
        (kh, kw): (usize, usize),
        pad: usize,
    ) -> Geometry2d {
        let g = Geometry2d {
            c,
            n,
            h,
            w,
            kh,
            kw,
            stride: (1, 1),
            pad: (pad, (kw - 1) / 2),
        };
        assert!(applies(&g), "{g:?}");
        g
    }

    /// (c, n, h, w, pad, co): a 9×1 temporal convolution's input (channels, images, frames, joints), its
    /// padding along H and its output channels.
    pub(in super::super) type TemporalCase = (usize, usize, usize, usize, usize, usize);

    /// 9×1 convolutions for the nested and the stride-2 forms: at stride 1 from 16 output frames to several
    /// outer tiles, a last tile barely used and one full; at stride 2 from 6 output frames (a tile partly
    /// used) to 75, over even and odd lengths; padding none, "same" and wider; fewer channels than either
    /// form asks for (the arithmetic does not depend on them), and enough columns for two blocks.
    pub(in super::super) const TEMPORAL_CASES: [TemporalCase; 7] = [
        (5, 2, 16, 7, 4, 6),
        (3, 3, 12, 1, 4, 4),
        (4, 1, 27, 5, 4, 3),
        (2, 2, 28, 3, 0, 5),
        (3, 2, 19, 25, 6, 2),
        (6, 1, 64, 2, 4, 7),
        (16, 2, 150, 25, 4, 16),
    ];

    /// Each of `cases` as a 9×1 convolution at `stride` along H, through `conv` and checked by
    /// [`assert_matches_definition`], after `admit` has seen its geometry.
    pub(in super::super) fn check_temporal(
        cases: &[TemporalCase],
        stride: usize,
        seed: u64,
        admit: fn(&Geometry2d) -> bool,
        conv: Forward,
    ) {
        let mut rng = crate::rng::rng_for(seed, 0);
        for &case in cases {
            let g = temporal(case, stride);
            assert!(admit(&g), "{g:?}");
            assert_matches_definition(&g, case.5, &mut rng, conv);
        }
    }

    /// The 9×1 convolution at `stride` along H of a [`TemporalCase`] (its Co aside).
    pub(in super::super) fn temporal(
        (c, n, h, w, pad, _): TemporalCase,
        stride: usize,
    ) -> Geometry2d {
        Geometry2d {
            c,
            n,
            h,
            w,
            kh: 9,
            kw: 1,
            stride: (stride, 1),
            pad: (pad, 0),
        }
    }

    /// `len` values drawn uniformly from [−1, 1].
    pub(in super::super) fn draw(rng: &mut rand::rngs::StdRng, len: usize) -> Vec<f32> {
        (0..len)
            .map(|_| crate::rng::uniform(rng, -1.0, 1.0))
            .collect()
    }

    /// Every element of `got` within `bound` of the exact `want`.
    pub(in super::super) fn assert_close(g: &Geometry2d, got: &[f32], want: &[f64], bound: f64) {
        assert_eq!(got.len(), want.len(), "{g:?}");
        let worst = got
            .iter()
            .zip(want)
            .map(|(&a, &e)| (a as f64 - e).abs())
            .fold(0.0, f64::max);
        assert!(worst < bound, "{g:?}: off by {worst}");
    }

    /// A forward convolution's signature: (geometry, Co, w, x, bias) to y.
    pub(in super::super) type Forward =
        fn(&Geometry2d, usize, &[f32], &[f32], Option<&[f32]>) -> Vec<f32>;

    /// `conv` on values drawn uniformly from [−1, 1] gives every output within a few f32 ulps of the exact
    /// sum (2e-5 per term it adds).
    pub(in super::super) fn assert_matches_definition(
        g: &Geometry2d,
        co: usize,
        rng: &mut rand::rngs::StdRng,
        conv: Forward,
    ) {
        let (c, taps) = (g.c, g.kh * g.kw);
        let (x, wt, b) = (
            draw(rng, c * g.n * g.h * g.w),
            draw(rng, co * c * taps),
            draw(rng, co),
        );
        let got = conv(g, co, &wt, &x, Some(&b));
        let plane = g.n * g.out_hw().0 * g.w;
        let mut want: Vec<f64> = b
            .iter()
            .flat_map(|&bo| std::iter::repeat_n(bo as f64, plane))
            .collect();
        for (iw, iy, ix) in terms(g, co) {
            want[iy] += wt[iw] as f64 * x[ix] as f64;
        }
        assert_close(g, &got, &want, 2e-5 * (c * taps) as f64);
    }

    /// Every output of the [`GEOMETRIES`] within a few f32 ulps of the exact sum.
    #[test]
    fn matches_the_direct_convolution() {
        let mut rng = crate::rng::rng_for(3, 0);
        for (c, n, h, w, kh, kw, pad, co) in GEOMETRIES {
            let g = same_width((c, n, h, w), (kh, kw), pad);
            assert_matches_definition(&g, co, &mut rng, conv);
        }
    }
}
