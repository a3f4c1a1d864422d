//! 2-D convolution on channel-first activations (C, N, H, W) as one GEMM over unfolded patches.
//!
//! `unfold2d` (im2col) turns x into cols (C·kh·kw, N, Ho, Wo) with row (c·kh + i)·kw + j holding
//! x[c, n, ho·s + i − p, wo·s + j − p] (zero outside); its backward is the adjoint fold (col2im). A conv is then
//! W (Co, C·kh·kw) @ cols: forward, weight gradient (dY @ colsᵀ) and input gradient (Wᵀ @ dY, then fold) are
//! all GEMMs, where candle's own conv2d backward runs a direct conv-transpose loop.

use super::contiguous_f32;
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Geometry2d {
    pub c: usize,
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
}

impl Geometry2d {
    pub fn out_hw(&self) -> (usize, usize) {
        (
            (self.h + 2 * self.pad - self.kh) / self.stride + 1,
            (self.w + 2 * self.pad - self.kw) / self.stride + 1,
        )
    }

    /// For output column `o` and tap `j`, the source column, if inside the image.
    fn src(&self, o: usize, j: usize, len: usize) -> Option<usize> {
        let x = (o * self.stride + j) as isize - self.pad as isize;
        (x >= 0 && (x as usize) < len).then_some(x as usize)
    }

    /// Output columns whose source column for tap `j` lies inside 0..w, as (first, count).
    fn valid_cols(&self, j: usize, wo: usize) -> (usize, usize) {
        let first = (0..wo).find(|&o| self.src(o, j, self.w).is_some());
        match first {
            None => (0, 0),
            Some(f) => {
                let last = (f..wo)
                    .rev()
                    .find(|&o| self.src(o, j, self.w).is_some())
                    .unwrap_or(f);
                (f, last + 1 - f)
            }
        }
    }
}

struct Unfold2d(Geometry2d);
struct Fold2d(Geometry2d);

impl CustomOp1 for Unfold2d {
    fn name(&self) -> &'static str {
        "unfold2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = self.0;
        let x = contiguous_f32(s, l, "unfold2d")?;
        let (ho, wo) = g.out_hw();
        let plane = g.n * ho * wo;
        let mut out = vec![0f32; g.c * g.kh * g.kw * plane];
        out.par_chunks_mut(plane)
            .enumerate()
            .for_each(|(row, dst)| {
                let (c, i, j) = (row / (g.kh * g.kw), (row / g.kw) % g.kh, row % g.kw);
                let (o0, cnt) = g.valid_cols(j, wo);
                if cnt == 0 {
                    return;
                }
                for n in 0..g.n {
                    for oy in 0..ho {
                        let Some(y) = g.src(oy, i, g.h) else { continue };
                        let src = &x[((c * g.n + n) * g.h + y) * g.w..][..g.w];
                        let d = &mut dst[(n * ho + oy) * wo..][..wo];
                        if g.stride == 1 {
                            let s0 = o0 + j - g.pad;
                            d[o0..o0 + cnt].copy_from_slice(&src[s0..s0 + cnt]);
                        } else {
                            for o in o0..o0 + cnt {
                                d[o] = src[o * g.stride + j - g.pad];
                            }
                        }
                    }
                }
            });
        let shape = Shape::from((g.c * g.kh * g.kw, g.n, ho, wo));
        Ok((CpuStorage::F32(out), shape))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(&Fold2d(self.0))?))
    }
}

impl CustomOp1 for Fold2d {
    fn name(&self) -> &'static str {
        "fold2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = self.0;
        let u = contiguous_f32(s, l, "fold2d")?;
        let (ho, wo) = g.out_hw();
        let plane_in = g.n * ho * wo;
        let plane_out = g.n * g.h * g.w;
        let mut out = vec![0f32; g.c * plane_out];
        out.par_chunks_mut(plane_out)
            .enumerate()
            .for_each(|(c, dst)| {
                for i in 0..g.kh {
                    for j in 0..g.kw {
                        let row = (c * g.kh + i) * g.kw + j;
                        let src = &u[row * plane_in..(row + 1) * plane_in];
                        let (o0, cnt) = g.valid_cols(j, wo);
                        for n in 0..g.n {
                            for oy in 0..ho {
                                let Some(y) = g.src(oy, i, g.h) else { continue };
                                let s = &src[(n * ho + oy) * wo..][..wo];
                                let d = &mut dst[(n * g.h + y) * g.w..][..g.w];
                                for o in o0..o0 + cnt {
                                    d[o * g.stride + j - g.pad] += s[o];
                                }
                            }
                        }
                    }
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((g.c, g.n, g.h, g.w))))
    }
}

/// im2col of channel-first x (C, N, H, W) for a kh×kw kernel with stride and zero padding:
/// (C·kh·kw, N, Ho, Wo), differentiable (the backward is the matching col2im).
pub fn unfold2d(x: &Tensor, kh: usize, kw: usize, stride: usize, pad: usize) -> Result<Tensor> {
    let (c, n, h, w) = x.dims4()?;
    if stride == 0 || h + 2 * pad < kh || w + 2 * pad < kw {
        candle_core::bail!(
            "unfold2d: kernel {kh}x{kw} (padding {pad}, stride {stride}) does not fit a {h}x{w} input"
        );
    }
    let g = Geometry2d {
        c,
        n,
        h,
        w,
        kh,
        kw,
        stride,
        pad,
    };
    x.contiguous()?.apply_op1(Unfold2d(g))
}

/// Convolution of channel-first x (C, N, H, W) with a PyTorch-layout weight (Co, C, kh, kw), no bias:
/// (Co, N, Ho, Wo). 1×1/stride-1 convolutions skip the unfold. `SKELCAM_KERNELS=candle` uses candle's conv2d.
pub fn conv2d_cf(x: &Tensor, weight: &Tensor, stride: usize, pad: usize) -> Result<Tensor> {
    let (co, ci, kh, kw) = weight.dims4()?;
    let (c, n, h, w) = x.dims4()?;
    if c != ci {
        candle_core::bail!("conv2d: input has {c} channels, the weight expects {ci}");
    }
    if !crate::models::fast_kernels() {
        // Reference path: candle's own conv2d in (N, C, H, W).
        let y = x
            .transpose(0, 1)?
            .contiguous()?
            .conv2d(weight, pad, stride, 1, 1)?;
        return y.transpose(0, 1)?.contiguous();
    }
    let w2 = weight.reshape((co, ci * kh * kw))?;
    if kh == 1 && kw == 1 && stride == 1 && pad == 0 {
        return w2
            .matmul(&x.reshape((c, n * h * w))?)?
            .reshape((co, n, h, w));
    }
    let cols = unfold2d(x, kh, kw, stride, pad)?;
    let (_, _, ho, wo) = cols.dims4()?;
    w2.matmul(&cols.reshape((ci * kh * kw, n * ho * wo))?)?
        .reshape((co, n, ho, wo))
}
