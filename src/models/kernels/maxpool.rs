//! Max-pooling with padding on channel-first activations (C, N, H, W), with a backward (candle's max-pool
//! has none for a 3×3/stride-2 window and no padding argument). Padding counts as −∞, as in PyTorch; the
//! gradient goes to the first maximum of each window in row-major order.
//!
//! The forward keeps nothing: per output row it takes the elementwise maximum of the window's input rows
//! (a vectorised pass), then the maximum of each window's columns of that. The backward finds each window's
//! first element equal to its output (the first maximum) from the input and output that autograd keeps anyway.

use super::contiguous_f32;
use candle_core::{CpuStorage, CustomOp1, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;
use std::ops::Range;

#[derive(Clone, Copy, Debug)]
struct Pool {
    planes: usize,
    h: usize,
    w: usize,
    k: usize,
    stride: usize,
    pad: usize,
}

impl Pool {
    fn out_hw(&self) -> (usize, usize) {
        (
            (self.h + 2 * self.pad - self.k) / self.stride + 1,
            (self.w + 2 * self.pad - self.k) / self.stride + 1,
        )
    }

    /// The input indices along an axis of length `len` covered by window `o` (never empty: pad ≤ k/2).
    fn window(&self, o: usize, len: usize) -> Range<usize> {
        let first = (o * self.stride) as isize - self.pad as isize;
        let end = (first + self.k as isize).min(len as isize) as usize;
        first.max(0) as usize..end
    }
}

/// Larger of two values, written so that it compiles to one vector max instruction.
#[inline(always)]
fn larger(a: f32, b: f32) -> f32 {
    if b > a {
        b
    } else {
        a
    }
}

struct MaxPool(Pool);

/// Backward (arguments: ∂L/∂y, x, y): ∂L/∂y of each window to its first element equal to y.
struct MaxPoolGrad(Pool);

impl CustomOp1 for MaxPool {
    fn name(&self) -> &'static str {
        "maxpool2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let p = self.0;
        let x = contiguous_f32(s, l, "maxpool2d")?;
        let (ho, wo) = p.out_hw();
        // SAFETY: the closure writes every element of its piece (write_all checks the count).
        let (out, _) = unsafe {
            super::par_init(p.planes * ho * wo, 0, ho * wo, |pl, dst| {
                let plane = &x[pl * p.h * p.w..][..p.h * p.w];
                let mut rows = vec![0f32; p.w];
                for (oy, dst) in dst.chunks_mut(wo).enumerate() {
                    let ys = p.window(oy, p.h);
                    rows.copy_from_slice(&plane[ys.start * p.w..][..p.w]);
                    for y in ys.skip(1) {
                        for (m, &v) in rows.iter_mut().zip(&plane[y * p.w..][..p.w]) {
                            *m = larger(*m, v);
                        }
                    }
                    super::write_all(
                        dst,
                        (0..wo).map(|ox| {
                            let xs = p.window(ox, p.w);
                            rows[xs].iter().copied().fold(f32::NEG_INFINITY, larger)
                        }),
                    );
                }
            })
        };
        Ok((CpuStorage::F32(out), Shape::from((p.planes, ho, wo))))
    }

    fn bwd(&self, x: &Tensor, y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad.detach().contiguous()?;
        Ok(Some(grad.apply_op3_no_bwd(
            &x.detach(),
            &y.detach(),
            &MaxPoolGrad(self.0),
        )?))
    }
}

impl CustomOp3 for MaxPoolGrad {
    fn name(&self) -> &'static str {
        "maxpool2d-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let p = self.0;
        let name = "maxpool2d-grad";
        let (gy, x, y) = (
            contiguous_f32(s1, l1, name)?,
            contiguous_f32(s2, l2, name)?,
            contiguous_f32(s3, l3, name)?,
        );
        let (ho, wo) = p.out_hw();
        if gy.len() != p.planes * ho * wo || y.len() != gy.len() || x.len() != p.planes * p.h * p.w
        {
            candle_core::bail!("{name}: gradient, input and output sizes do not match the pool");
        }
        let mut out = super::zeros(p.planes * p.h * p.w);
        out.par_chunks_mut(p.h * p.w)
            .zip(x.par_chunks(p.h * p.w))
            .zip(gy.par_chunks(ho * wo).zip(y.par_chunks(ho * wo)))
            .for_each(|((dst, plane), (g, y))| {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let (best, xs) = (y[oy * wo + ox], p.window(ox, p.w));
                        let first = p.window(oy, p.h).find_map(|r| {
                            let row = r * p.w;
                            xs.clone()
                                .find(|&c| plane[row + c] == best)
                                .map(|c| row + c)
                        });
                        if let Some(i) = first {
                            dst[i] += g[oy * wo + ox];
                        }
                    }
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((p.planes, p.h, p.w))))
    }
}

/// k×k max-pool with stride and padding over the last two dimensions of a 4-D tensor, differentiable.
pub fn max_pool2d(x: &Tensor, k: usize, stride: usize, pad: usize) -> Result<Tensor> {
    let (a, b, h, w) = x.dims4()?;
    if stride == 0 || pad * 2 > k || h + 2 * pad < k || w + 2 * pad < k {
        candle_core::bail!(
            "max_pool2d: window {k} (stride {stride}, padding {pad}) does not fit {h}x{w}"
        );
    }
    let p = Pool {
        planes: a * b,
        h,
        w,
        k,
        stride,
        pad,
    };
    let (ho, wo) = p.out_hw();
    if !crate::models::fast_kernels() {
        return reference_max_pool2d(x, k, stride, pad);
    }
    x.contiguous()?
        .reshape((a * b, h, w))?
        .apply_op1(MaxPool(p))?
        .reshape((a, b, ho, wo))
}

/// Plain candle ops (`SKELCAM_KERNELS=candle`): pad with a very negative value, take the k² shifted strided
/// windows and their elementwise maximum (differentiable, but k² full-size copies).
pub fn reference_max_pool2d(x: &Tensor, k: usize, s: usize, pad: usize) -> Result<Tensor> {
    let (a, b, h, w) = x.dims4()?;
    let (ho, wo) = ((h + 2 * pad - k) / s + 1, (w + 2 * pad - k) / s + 1);
    let neg = |hh: usize, ww: usize| Tensor::ones((a, b, hh, ww), x.dtype(), x.device())? * -1e30;
    let xp = Tensor::cat(&[&neg(h, pad)?, x, &neg(h, pad + s)?], 3)?;
    let xp = Tensor::cat(
        &[
            &neg(pad, w + 2 * pad + s)?,
            &xp,
            &neg(pad + s, w + 2 * pad + s)?,
        ],
        2,
    )?;
    let mut out: Option<Tensor> = None;
    for dy in 0..k {
        for dx in 0..k {
            let win = xp
                .narrow(2, dy, ho * s)?
                .narrow(3, dx, wo * s)?
                .reshape((a, b, ho, s, wo * s))?
                .narrow(3, 0, 1)?
                .reshape((a, b, ho, wo, s))?
                .narrow(4, 0, 1)?
                .reshape((a, b, ho, wo))?;
            out = Some(match out {
                None => win,
                Some(o) => o.maximum(&win)?,
            });
        }
    }
    out.ok_or_else(|| candle_core::Error::Msg("empty pooling window".into()))
}
