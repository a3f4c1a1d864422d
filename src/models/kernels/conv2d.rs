//! 2-D convolution on channel-first activations (C, N, H, W) as one GEMM over unfolded patches.
//!
//! im2col turns x into cols (C·kh·kw, N·Ho·Wo) with row (c·kh + i)·kw + j holding
//! x[c, n, ho·sh + i − ph, wo·sw + j − pw] (zero outside). A conv is W (Co, C·kh·kw) · cols; its weight gradient
//! is dY · colsᵀ and its input gradient col2im(Wᵀ · dY): three GEMMs, where candle's own conv2d backward runs a
//! direct conv-transpose loop. The forward never builds cols whole: each thread unfolds a cache-sized block
//! of columns and multiplies it in place ([`super::matmul::gemm_blocked_b`]). [`conv2d_cf`] is one autograd node whose patches live in a reused scratch
//! buffer; [`conv2d_cf_bias`] adds a per-channel bias inside the same node (the GEMM accumulates onto the
//! bias rows), so no second output-sized tensor is made and kept for the backward. Separate H/W strides and
//! paddings make the ST-GCN's (kt×1) temporal convolution the same kernel; at stride 1 its forward and both
//! gradients go through [`super::winograd`] and [`super::winograd_grad`], with 5/9 of the multiply-adds (the
//! forward and input gradient with 128 or more channels in, 25/81), as do stride-1 3×3 convolutions on inputs
//! at least 28 wide (a ResNet's early stages). At stride 2 with 128 or more channels in, the temporal
//! convolution's forward and input gradient go through [`super::winograd_s2`] (16/36 of the multiply-adds).

use super::contiguous_f32;
use super::matmul::{
    gemm_blocked_b, gemm_blocked_new, gemm_into, gemm_new, repeated_rows, with_scratch, View,
};
use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Geometry2d {
    pub c: usize,
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    /// (along H, along W)
    pub stride: (usize, usize),
    /// Zero padding on both sides (along H, along W).
    pub pad: (usize, usize),
}

impl Geometry2d {
    pub fn out_hw(&self) -> (usize, usize) {
        (
            (self.h + 2 * self.pad.0 - self.kh) / self.stride.0 + 1,
            (self.w + 2 * self.pad.1 - self.kw) / self.stride.1 + 1,
        )
    }

    /// For output row `o` and tap `i`, the source row, if inside the image.
    fn src_row(&self, o: usize, i: usize) -> Option<usize> {
        let y = (o * self.stride.0 + i) as isize - self.pad.0 as isize;
        (y >= 0 && (y as usize) < self.h).then_some(y as usize)
    }

    /// Output columns whose source column for tap `j` lies inside 0..w, as (first, count): those o with
    /// 0 ≤ o·s + j − pad < w (closed form: im2col asks once per patch row and block).
    fn valid_cols(&self, j: usize, wo: usize) -> (usize, usize) {
        let (s, pad) = (self.stride.1, self.pad.1);
        let first = pad.saturating_sub(j).div_ceil(s);
        let end = if self.w + pad > j {
            ((self.w - 1 + pad - j) / s + 1).min(wo)
        } else {
            0
        };
        if end > first {
            (first, end - first)
        } else {
            (0, 0)
        }
    }
}

/// dst[t] = src[t·stride]: for stride 2 as whole pairs (the compiler turns pairs into vector shuffles, where
/// `step_by` stayed one scalar load and store per element: 5 % of a ResNet training step, mostly the stem).
fn gather_strided(dst: &mut [f32], src: &[f32], stride: usize) {
    let Some(last) = dst.len().checked_sub(1) else {
        return;
    };
    if stride == 2 {
        for (v, pair) in dst[..last].iter_mut().zip(src.chunks_exact(2)) {
            *v = pair[0];
        }
    } else {
        for (v, &x) in dst[..last].iter_mut().zip(src.iter().step_by(stride)) {
            *v = x;
        }
    }
    dst[last] = src[last * stride];
}

/// im2col into `out` (C·kh·kw · N·Ho·Wo floats), every element written (zeros outside the image), so a
/// reused scratch buffer needs no clearing. Rows in parallel.
fn im2col_into(g: &Geometry2d, x: &[f32], out: &mut [f32]) {
    let plane = g.out_len();
    let rows = RowFill::new(g, 0, plane);
    out.par_chunks_mut(plane.max(1))
        .enumerate()
        .for_each(|(row, dst)| rows.fill(g, x, row, dst));
}

/// Columns j0..j0 + w of the patch matrix (rows as in [`im2col_into`]) as a row-major (C·kh·kw × w)
/// block, every element written.
fn im2col_block(g: &Geometry2d, x: &[f32], j0: usize, w: usize, out: &mut [f32]) {
    let rows = RowFill::new(g, j0, w);
    for (row, dst) in out.chunks_exact_mut(w).enumerate() {
        rows.fill(g, x, row, dst);
    }
}

/// How the patch rows over output positions j0..j0 + w are filled: for stride-1 same-size convolutions
/// one shifted copy per image ([`fill_shifted`]), otherwise one copy per [`Run`] ([`fill_patch_row`]).
enum RowFill {
    Shifted { j0: usize },
    Runs(Vec<Run>),
}

impl RowFill {
    fn new(g: &Geometry2d, j0: usize, w: usize) -> Self {
        if g.same_size_stride1() {
            RowFill::Shifted { j0 }
        } else {
            RowFill::Runs(runs(g, j0, w))
        }
    }

    /// Patch row `row` (tap (c, i, j)) into `dst`, every element written (zeros where the tap reads padding).
    fn fill(&self, g: &Geometry2d, x: &[f32], row: usize, dst: &mut [f32]) {
        let tap = (row / (g.kh * g.kw), (row / g.kw) % g.kh, row % g.kw);
        match self {
            RowFill::Shifted { j0 } => fill_shifted(g, x, tap, *j0, dst),
            RowFill::Runs(runs) => fill_patch_row(g, x, tap, runs, dst),
        }
    }
}

/// Consecutive output columns of one image row: (offset in the range, image, output row, first output
/// column, length).
pub(super) type Run = (usize, usize, usize, usize, usize);

/// Output positions j0..j0 + w (which run (n, ho, wo), wo fastest) as [`Run`]s.
pub(super) fn runs(g: &Geometry2d, j0: usize, w: usize) -> Vec<Run> {
    let (ho, wo) = g.out_hw();
    let mut runs = Vec::with_capacity(w / wo.max(1) + 2);
    let mut q = j0;
    while q < j0 + w {
        let (img, r) = (q / (ho * wo), q % (ho * wo));
        let (oy, ox) = (r / wo, r % wo);
        let len = (wo - ox).min(j0 + w - q);
        runs.push((q - j0, img, oy, ox, len));
        q += len;
    }
    runs
}

/// Tap (c, i, j)'s patch row over the positions of `runs` into `dst`, zeros where the tap reads padding.
fn fill_patch_row(
    g: &Geometry2d,
    x: &[f32],
    (c, i, j): (usize, usize, usize),
    runs: &[Run],
    dst: &mut [f32],
) {
    let (v0, vn) = g.valid_cols(j, g.out_hw().1);
    for &(at, img, oy, ox, len) in runs {
        let d = &mut dst[at..at + len];
        let Some(y) = g.src_row(oy, i).filter(|_| vn > 0) else {
            d.fill(0.0);
            continue;
        };
        let src = &x[((c * g.n + img) * g.h + y) * g.w..][..g.w];
        // output columns ox..ox + len that read inside the image: [lo, hi)
        let (lo, hi) = (v0.max(ox), (v0 + vn).min(ox + len));
        if lo >= hi {
            d.fill(0.0);
            continue;
        }
        d[..lo - ox].fill(0.0);
        d[hi - ox..].fill(0.0);
        let first = lo * g.stride.1 + j - g.pad.1;
        let mid = &mut d[lo - ox..hi - ox];
        if g.stride.1 == 1 {
            mid.copy_from_slice(&src[first..first + mid.len()]);
        } else {
            gather_strided(mid, &src[first..], g.stride.1);
        }
    }
}

/// [`fill_patch_row`] for a stride-1 convolution whose output has the input's size (3×3 with padding 1, the
/// (9×1) temporal conv): within one image the tap reads the flat input shifted by (i − ph)·W + (j − pw), so
/// each image's part of the row is one contiguous copy, then zeros on the rows and columns that read padding
/// (one copy per output row of 7 to 56 values was a sixth of ResNet inference, mostly call overhead).
fn fill_shifted(
    g: &Geometry2d,
    x: &[f32],
    (c, i, j): (usize, usize, usize),
    j0: usize,
    dst: &mut [f32],
) {
    let hw = g.h * g.w;
    let tap = ShiftedTap::of(g, i, j);
    let mut q = j0;
    let end = j0 + dst.len();
    while q < end {
        let (img, p0) = (q / hw, q % hw);
        let p1 = hw.min(p0 + (end - q));
        let seg = &mut dst[q - j0..q - j0 + (p1 - p0)];
        let src = &x[(c * g.n + img) * hw..][..hw];
        let (lo, hi) = (tap.lo.clamp(p0, p1), tap.hi.clamp(p0, p1));
        if hi > lo {
            seg[..lo - p0].fill(0.0);
            seg[hi - p0..].fill(0.0);
            let from = (lo as isize + tap.shift) as usize;
            seg[lo - p0..hi - p0].copy_from_slice(&src[from..from + (hi - lo)]);
            tap.zero_padded_columns(g.w, seg, p0, (lo, hi));
        } else {
            seg.fill(0.0);
        }
        q += p1 - p0;
    }
}

/// Where one tap (i, j) of a stride-1 same-size convolution reads within an image: output position p (flat,
/// y·W + x) reads input position p + shift; positions in [lo, hi) read inside the image, except, in each
/// row, the columns [clo, chi), which read padding.
struct ShiftedTap {
    shift: isize,
    lo: usize,
    hi: usize,
    clo: usize,
    chi: usize,
}

impl ShiftedTap {
    fn of(g: &Geometry2d, i: usize, j: usize) -> Self {
        let (h, w) = (g.h as isize, g.w as isize);
        let (dy, dx) = (i as isize - g.pad.0 as isize, j as isize - g.pad.1 as isize);
        let shift = dy * w + dx;
        // output rows whose source row lies inside the image
        let (ylo, yhi) = ((-dy).clamp(0, h), (h - dy).clamp(0, h));
        let (clo, chi) = if dx < 0 {
            (0, (-dx).min(w))
        } else {
            (w - dx.min(w), w)
        };
        ShiftedTap {
            shift,
            lo: (ylo * w).max(-shift).max(0) as usize,
            hi: (yhi * w).min(h * w - shift).max(0) as usize,
            clo: clo as usize,
            chi: chi as usize,
        }
    }

    /// Zero the padding columns among positions [lo, hi) of `buf`, which holds positions from `base` on.
    fn zero_padded_columns(
        &self,
        w: usize,
        buf: &mut [f32],
        base: usize,
        (lo, hi): (usize, usize),
    ) {
        if self.chi <= self.clo || hi <= lo {
            return;
        }
        for oy in lo / w..hi.div_ceil(w) {
            let (a, b) = ((oy * w + self.clo).max(lo), (oy * w + self.chi).min(hi));
            if b > a {
                buf[a - base..b - base].fill(0.0);
            }
        }
    }
}

/// col2im, the adjoint of [`im2col_into`]: scatter-add (C·kh·kw, N·Ho·Wo) patches back into (C, N, H, W).
/// `u` is a scratch matrix: for stride-1 same-size convolutions its entries at padded positions are zeroed
/// first so that each image's tap adds as one shifted range (see [`add_shifted`]).
fn col2im(g: &Geometry2d, u: &mut [f32]) -> Vec<f32> {
    let (ho, wo) = g.out_hw();
    let plane_in = g.n * ho * wo;
    let plane_out = g.n * g.h * g.w;
    let taps = g.kh * g.kw;
    let mut out = super::zeros(g.c * plane_out);
    out.par_chunks_mut(plane_out.max(1))
        .zip(u.par_chunks_mut((taps * plane_in).max(1)))
        .for_each(|(dst, rows)| {
            for i in 0..g.kh {
                for j in 0..g.kw {
                    let src = &mut rows[(i * g.kw + j) * plane_in..][..plane_in];
                    if g.same_size_stride1() {
                        add_shifted(g, (i, j), src, dst);
                        continue;
                    }
                    let (o0, cnt) = g.valid_cols(j, wo);
                    if cnt == 0 {
                        continue; // this tap only ever reads padding
                    }
                    for n in 0..g.n {
                        for oy in 0..ho {
                            let Some(y) = g.src_row(oy, i) else { continue };
                            let s = &src[(n * ho + oy) * wo + o0..][..cnt];
                            let d = &mut dst[(n * g.h + y) * g.w..][..g.w];
                            let first = o0 * g.stride.1 + j - g.pad.1;
                            if g.stride.1 == 1 {
                                for (d, &s) in d[first..first + cnt].iter_mut().zip(s) {
                                    *d += s;
                                }
                            } else {
                                for (d, &s) in d[first..].iter_mut().step_by(g.stride.1).zip(s) {
                                    *d += s;
                                }
                            }
                        }
                    }
                }
            }
        });
    out
}

/// One tap's patch row `src` (N·H·W) added back into one channel `dst` (N·H·W) of a stride-1 same-size
/// convolution: per image, the entries that read padding columns are zeroed, then dst[p + shift] += src[p]
/// over the rows that read inside the image, one vectorised range (per output row, 7 to 56 values, the
/// loop's overhead was 5 % of a ResNet training step).
fn add_shifted(g: &Geometry2d, (i, j): (usize, usize), src: &mut [f32], dst: &mut [f32]) {
    let hw = g.h * g.w;
    let tap = ShiftedTap::of(g, i, j);
    let (lo, hi) = (tap.lo, tap.hi);
    if hi <= lo {
        return;
    }
    let to = (lo as isize + tap.shift) as usize;
    for (s, d) in src.chunks_exact_mut(hw).zip(dst.chunks_exact_mut(hw)) {
        tap.zero_padded_columns(g.w, s, 0, (lo, hi));
        super::wide(
            #[inline(always)]
            || {
                for (d, &s) in d[to..to + (hi - lo)].iter_mut().zip(&s[lo..hi]) {
                    *d += s;
                }
            },
        );
    }
}

fn geometry(
    x: &Tensor,
    (kh, kw): (usize, usize),
    stride: (usize, usize),
    pad: (usize, usize),
) -> Result<Geometry2d> {
    let (c, n, h, w) = x.dims4()?;
    if stride.0 == 0 || stride.1 == 0 || h + 2 * pad.0 < kh || w + 2 * pad.1 < kw {
        candle_core::bail!(
            "conv2d: kernel {kh}x{kw} (padding {pad:?}, stride {stride:?}) does not fit a {h}x{w} input"
        );
    }
    Ok(Geometry2d {
        c,
        n,
        h,
        w,
        kh,
        kw,
        stride,
        pad,
    })
}

/// The whole convolution as one autograd node: y = W·im2col(x). The patches live only inside the forward
/// and are rebuilt for the weight gradient, so no (C·kh·kw)-times-larger tensor is kept for the backward
/// and candle's backprop never zero-fills and accumulates gradients of the patches or of reshapes.
struct Conv2d {
    g: Geometry2d,
    co: usize,
}

/// ∂L/∂W = ∂L/∂y · im2col(x)ᵀ (arguments: dy, x).
struct Conv2dGradWeight(Geometry2d);
/// ∂L/∂x = col2im(Wᵀ · ∂L/∂y) (arguments: dy, W).
struct Conv2dGradInput(Geometry2d);

impl Geometry2d {
    /// Stride 1 and an output the size of the input (padding (kh − 1)/2, (kw − 1)/2 for odd kernels).
    fn same_size_stride1(&self) -> bool {
        self.stride == (1, 1) && self.out_hw() == (self.h, self.w)
    }
    fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == (1, 1) && self.pad == (0, 0)
    }
    fn patch_len(&self) -> usize {
        self.c * self.kh * self.kw
    }
    fn out_len(&self) -> usize {
        let (ho, wo) = self.out_hw();
        self.n * ho * wo
    }
    /// Run `f` on the whole patch matrix of x (the weight gradient's operand): x itself for a 1×1/stride-1
    /// conv, else im2col in a reused per-thread scratch buffer (the largest temporary of a step).
    fn with_patches<R>(&self, x: &[f32], f: impl FnOnce(&[f32]) -> R) -> R {
        if self.pointwise() {
            return f(x);
        }
        with_scratch(self.patch_len() * self.out_len(), |cols| {
            im2col_into(self, x, cols);
            f(cols)
        })
    }
}

impl Conv2d {
    /// y = W·im2col(x) (+ bias[co] on every output of channel co), as a (Co, N, Ho, Wo) storage.
    fn run(
        &self,
        (xs, xl): (&CpuStorage, &Layout),
        (ws, wl): (&CpuStorage, &Layout),
        bias: Option<&[f32]>,
    ) -> Result<(CpuStorage, Shape)> {
        let g = self.g;
        let w = contiguous_f32(ws, wl, "conv2d")?;
        let (k, p) = (g.patch_len(), g.out_len());
        let x = contiguous_f32(xs, xl, "conv2d")?;
        if let Some(b) = bias {
            if b.len() != self.co {
                candle_core::bail!("conv2d: {} bias values for {} channels", b.len(), self.co);
            }
        }
        let (a, shape) = (View::rows(w, k), (self.co, p, k));
        let patches =
            |j0: usize, width: usize, block: &mut [f32]| im2col_block(&g, x, j0, width, block);
        let y = match (bias, g.pointwise()) {
            _ if super::winograd::applies(&g) => super::winograd::conv(&g, self.co, w, x, bias),
            _ if super::winograd_s2::applies(&g) => {
                super::winograd_s2::conv(&g, self.co, w, x, bias)
            }
            (None, true) => gemm_new(self.co, p, k, a, View::rows(x, p)),
            (None, false) => gemm_blocked_new(shape, a, patches),
            (Some(b), pointwise) => {
                let mut y = repeated_rows(self.co, p, |r| vec![b[r]]);
                if pointwise {
                    gemm_into(&mut y, true, self.co, p, k, a, View::rows(x, p));
                } else {
                    gemm_blocked_b(&mut y, true, shape, a, patches, None);
                }
                y
            }
        };
        let (ho, wo) = g.out_hw();
        Ok((CpuStorage::F32(y), Shape::from((self.co, g.n, ho, wo))))
    }

    /// ∂L/∂x and ∂L/∂W from ∂L/∂y; ∂L/∂x only when x is tracked by autograd (not for the network's input,
    /// where the input gradient of the first convolution was a GEMM and a col2im spent for nothing).
    fn grads(&self, x: &Tensor, w: &Tensor, dy: &Tensor) -> Result<(Option<Tensor>, Tensor)> {
        let dx = if x.track_op() {
            Some(dy.apply_op2_no_bwd(&w.detach(), &Conv2dGradInput(self.g))?)
        } else {
            None
        };
        let dw = dy.apply_op2_no_bwd(&x.detach(), &Conv2dGradWeight(self.g))?;
        Ok((dx, dw))
    }
}

impl CustomOp2 for Conv2d {
    fn name(&self) -> &'static str {
        "conv2d-gemm"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.run((xs, xl), (ws, wl), None)
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw) = self.grads(x, w, &dy.detach().contiguous()?)?;
        Ok((dx, Some(dw)))
    }
}

/// The same node with a bias (arguments: x, W, b); ∂L/∂b is ∂L/∂y summed over (N, Ho, Wo).
impl CustomOp3 for Conv2d {
    fn name(&self) -> &'static str {
        "conv2d-gemm-bias"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let b = contiguous_f32(bs, bl, "conv2d bias")?;
        self.run((xs, xl), (ws, wl), Some(b))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dy = dy.detach().contiguous()?;
        let (dx, dw) = self.grads(x, w, &dy)?;
        let db = dy.reshape((self.co, ()))?.sum(1)?;
        Ok((dx, Some(dw), Some(db)))
    }
}

impl CustomOp2 for Conv2dGradWeight {
    fn name(&self) -> &'static str {
        "conv2d-grad-weight"
    }

    fn cpu_fwd(
        &self,
        ds: &CpuStorage,
        dl: &Layout,
        xs: &CpuStorage,
        xl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = self.0;
        let (k, p) = (g.patch_len(), g.out_len());
        let dy = contiguous_f32(ds, dl, "conv2d backward")?;
        let co = dy.len() / p.max(1);
        let x = contiguous_f32(xs, xl, "conv2d backward")?;
        let dw = if super::winograd::applies(&g) {
            super::winograd_grad::weight_grad(&g, co, dy, x)
        } else {
            g.with_patches(x, |cols| {
                gemm_new(co, k, p, View::rows(dy, p), View::transposed(cols, p))
            })
        };
        Ok((CpuStorage::F32(dw), Shape::from((co, g.c, g.kh, g.kw))))
    }
}

impl CustomOp2 for Conv2dGradInput {
    fn name(&self) -> &'static str {
        "conv2d-grad-input"
    }

    fn cpu_fwd(
        &self,
        ds: &CpuStorage,
        dl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = self.0;
        let (k, p) = (g.patch_len(), g.out_len());
        let dy = contiguous_f32(ds, dl, "conv2d backward")?;
        let w = contiguous_f32(ws, wl, "conv2d backward")?;
        let co = dy.len() / p.max(1);
        let winograd = match super::winograd_s2::applies(&g) {
            true => Some(super::winograd_s2::input_grad(&g, co, w, dy)),
            false => super::winograd_grad::input_grad(&g, co, w, dy),
        };
        let (wt, dy) = (View::transposed(w, k), View::rows(dy, p));
        let dx = if let Some(dx) = winograd {
            dx
        } else if g.pointwise() {
            gemm_new(k, p, co, wt, dy)
        } else {
            with_scratch(k * p, |dcols| {
                gemm_into(dcols, false, k, p, co, wt, dy);
                col2im(&g, dcols)
            })
        };
        Ok((CpuStorage::F32(dx), Shape::from((g.c, g.n, g.h, g.w))))
    }
}

/// Convolution of channel-first x (C, N, H, W) with a PyTorch-layout weight (Co, C, kh, kw), no bias:
/// (Co, N, Ho, Wo), one fused GEMM node ([`Conv2d`]). `SKELCAM_KERNELS=candle` uses candle's conv2d.
pub fn conv2d_cf(x: &Tensor, weight: &Tensor, stride: usize, pad: usize) -> Result<Tensor> {
    conv2d_cf_bias(x, weight, None, (stride, stride), (pad, pad))
}

/// [`conv2d_cf`] with separate (H, W) strides and paddings, e.g. a (kt×1) temporal convolution over
/// (C, B, T, V) with stride (s, 1) and padding ((kt−1)/2, 0).
pub fn conv2d_cf_hw(
    x: &Tensor,
    weight: &Tensor,
    stride: (usize, usize),
    pad: (usize, usize),
) -> Result<Tensor> {
    conv2d_cf_bias(x, weight, None, stride, pad)
}

/// [`conv2d_cf_hw`] plus an optional per-output-channel bias (Co,), added inside the same node.
pub fn conv2d_cf_bias(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    stride: (usize, usize),
    pad: (usize, usize),
) -> Result<Tensor> {
    let (co, ci, kh, kw) = weight.dims4()?;
    let c = x.dim(0)?;
    if c != ci {
        candle_core::bail!("conv2d: input has {c} channels, the weight expects {ci}");
    }
    if let Some(b) = bias {
        if b.dims() != [co] {
            candle_core::bail!(
                "conv2d: bias of shape {:?} for {co} output channels",
                b.dims()
            );
        }
    }
    let g = geometry(x, (kh, kw), stride, pad)?;
    if !crate::models::fast_kernels() {
        let y = conv2d_cf_reference(x, weight, stride, pad)?;
        return match bias {
            Some(b) => y.broadcast_add(&b.reshape((co, 1, 1, 1))?),
            None => Ok(y),
        };
    }
    let (x, weight) = (x.contiguous()?, weight.contiguous()?);
    match bias {
        None => x.apply_op2(&weight, Conv2d { g, co }),
        Some(b) => x.apply_op3(&weight, &b.contiguous()?, Conv2d { g, co }),
    }
}

/// candle's own ops in (N, C, H, W) (conv2d has one stride/padding for both axes, so an asymmetric
/// geometry pads explicitly and subsamples): the reference the fused kernel is tested against.
pub fn conv2d_cf_reference(
    x: &Tensor,
    weight: &Tensor,
    stride: (usize, usize),
    pad: (usize, usize),
) -> Result<Tensor> {
    let xn = x.transpose(0, 1)?.contiguous()?;
    let y = if stride.0 == stride.1 && pad.0 == pad.1 {
        xn.conv2d(weight, pad.0, stride.0, 1, 1)?
    } else {
        let xp = xn
            .pad_with_zeros(2, pad.0, pad.0)?
            .pad_with_zeros(3, pad.1, pad.1)?;
        let y = xp.conv2d(weight, 0, 1, 1, 1)?;
        let (_, _, h1, w1) = y.dims4()?;
        let rows: Vec<u32> = (0..h1).step_by(stride.0).map(|i| i as u32).collect();
        let cols: Vec<u32> = (0..w1).step_by(stride.1).map(|i| i as u32).collect();
        let dev = y.device();
        y.index_select(&Tensor::new(rows.as_slice(), dev)?, 2)?
            .index_select(&Tensor::new(cols.as_slice(), dev)?, 3)?
    };
    y.transpose(0, 1)?.contiguous()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The input position that entry `idx` of the (C·kh·kw × p) patch matrix reads by the definition (module
    /// docs), or None where it reads padding.
    fn source_of(g: &Geometry2d, idx: usize) -> Option<usize> {
        let (ho, wo) = g.out_hw();
        let p = g.n * ho * wo;
        let (row, q) = (idx / p, idx % p);
        let (c, i, j) = (row / (g.kh * g.kw), (row / g.kw) % g.kh, row % g.kw);
        let (img, oy, ox) = (q / (ho * wo), q / wo % ho, q % wo);
        let y = (oy * g.stride.0 + i) as isize - g.pad.0 as isize;
        let xx = (ox * g.stride.1 + j) as isize - g.pad.1 as isize;
        ((0..g.h as isize).contains(&y) && (0..g.w as isize).contains(&xx))
            .then(|| ((c * g.n + img) * g.h + y as usize) * g.w + xx as usize)
    }

    /// The patch matrix straight from its definition.
    fn naive_patches(g: &Geometry2d, x: &[f32]) -> Vec<f32> {
        (0..g.patch_len() * g.out_len())
            .map(|idx| source_of(g, idx).map_or(0.0, |s| x[s]))
            .collect()
    }

    /// Blocks that start and end mid-row, span image rows and images, at strides 1 and 2, with padding
    /// wider than some taps reach: the 7x7 stem, 3x3, the (9x1) temporal conv at strides 2 and 1, a (3x1), a
    /// strided 1x1; 5x5 and 3x3 "same" convolutions of images narrower than the kernel.
    fn test_geometries() -> Vec<Geometry2d> {
        [
            (3, 2, 11, 9, 7, 7, (2, 2), (3, 3)),
            (2, 3, 5, 4, 3, 3, (1, 1), (1, 1)),
            (2, 2, 12, 5, 9, 1, (2, 1), (4, 0)),
            (2, 3, 7, 4, 9, 1, (1, 1), (4, 0)),
            (3, 2, 6, 5, 3, 1, (1, 1), (1, 0)),
            (3, 2, 6, 6, 1, 1, (2, 2), (0, 0)),
            (1, 2, 2, 3, 5, 5, (1, 1), (2, 2)),
            (2, 3, 3, 1, 3, 3, (1, 1), (1, 1)),
        ]
        .into_iter()
        .map(|(c, n, h, w, kh, kw, stride, pad)| Geometry2d {
            c,
            n,
            h,
            w,
            kh,
            kw,
            stride,
            pad,
        })
        .collect()
    }

    #[test]
    fn whole_patch_matrices_and_blocks_of_it_match_the_definition() {
        for (gi, g) in test_geometries().into_iter().enumerate() {
            let x: Vec<f32> = (0..g.c * g.n * g.h * g.w).map(|i| i as f32 + 1.0).collect();
            let (k, p) = (g.patch_len(), g.out_len());
            let expect = naive_patches(&g, &x);
            let mut whole = vec![f32::NAN; k * p];
            im2col_into(&g, &x, &mut whole);
            assert_eq!(whole, expect, "geometry {gi}: whole matrix");
            for width in [1, 5, 16, p] {
                for j0 in (0..p).step_by(width) {
                    let wd = width.min(p - j0);
                    let mut block = vec![f32::NAN; k * wd];
                    im2col_block(&g, &x, j0, wd, &mut block);
                    for r in 0..k {
                        assert_eq!(
                            &block[r * wd..(r + 1) * wd],
                            &expect[r * p + j0..r * p + j0 + wd],
                            "geometry {gi}, row {r}, columns {j0}..{}",
                            j0 + wd
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn col2im_adds_each_patch_entry_back_to_the_pixel_it_was_read_from() {
        // The adjoint of im2col: entry (row, q) goes to the pixel the definition reads, entries that read
        // padding go nowhere. Small integers, so every sum is exact in any order.
        for (gi, g) in test_geometries().into_iter().enumerate() {
            let (k, p) = (g.patch_len(), g.out_len());
            let u: Vec<f32> = (0..k * p)
                .map(|i| ((i * 5 + 1) % 13) as f32 - 6.0)
                .collect();
            let mut expect = vec![0f32; g.c * g.n * g.h * g.w];
            for (idx, &val) in u.iter().enumerate() {
                if let Some(s) = source_of(&g, idx) {
                    expect[s] += val;
                }
            }
            assert_eq!(col2im(&g, &mut u.clone()), expect, "geometry {gi}");
        }
    }
}
