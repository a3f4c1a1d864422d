//! Max-pooling with padding on channel-first activations (C, N, H, W), with a backward (candle's max-pool
//! has none for a 3×3/stride-2 window and no padding argument). Padding counts as −∞, as in PyTorch; the
//! gradient goes to the first maximum of each window in row-major order.

use super::contiguous_f32;
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;
use std::sync::Mutex;

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

    /// Index (within the plane) of the first maximum of output cell (oy, ox).
    fn argmax(&self, plane: &[f32], oy: usize, ox: usize) -> usize {
        let (mut best, mut at) = (f32::NEG_INFINITY, usize::MAX);
        let y0 = (oy * self.stride) as isize - self.pad as isize;
        let x0 = (ox * self.stride) as isize - self.pad as isize;
        for dy in 0..self.k as isize {
            let y = y0 + dy;
            if y < 0 || y >= self.h as isize {
                continue;
            }
            for dx in 0..self.k as isize {
                let x = x0 + dx;
                if x < 0 || x >= self.w as isize {
                    continue;
                }
                let i = y as usize * self.w + x as usize;
                if at == usize::MAX || plane[i] > best {
                    best = plane[i];
                    at = i;
                }
            }
        }
        at
    }
}

/// The pool; the forward keeps each output cell's argmax (index within its plane) for the backward.
struct MaxPool {
    p: Pool,
    argmax: Mutex<Vec<u32>>,
}

/// Backward: scatter ∂L/∂y to the saved argmax of each window.
struct MaxPoolGrad {
    p: Pool,
    argmax: Vec<u32>,
}

impl CustomOp1 for MaxPool {
    fn name(&self) -> &'static str {
        "maxpool2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let p = self.p;
        let x = contiguous_f32(s, l, "maxpool2d")?;
        let (ho, wo) = p.out_hw();
        let mut out = super::zeros(p.planes * ho * wo);
        let mut idx = vec![0u32; p.planes * ho * wo];
        out.par_chunks_mut(ho * wo)
            .zip(idx.par_chunks_mut(ho * wo))
            .enumerate()
            .for_each(|(pl, (dst, at))| {
                let plane = &x[pl * p.h * p.w..][..p.h * p.w];
                for oy in 0..ho {
                    for ox in 0..wo {
                        let i = p.argmax(plane, oy, ox);
                        dst[oy * wo + ox] = plane[i];
                        at[oy * wo + ox] = i as u32;
                    }
                }
            });
        *self.argmax.lock().expect("argmax lock") = idx;
        Ok((CpuStorage::F32(out), Shape::from((p.planes, ho, wo))))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let op = MaxPoolGrad {
            p: self.p,
            argmax: self.argmax.lock().expect("argmax lock").clone(),
        };
        Ok(Some(grad.detach().contiguous()?.apply_op1_no_bwd(&op)?))
    }
}

impl CustomOp1 for MaxPoolGrad {
    fn name(&self) -> &'static str {
        "maxpool2d-grad"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let p = self.p;
        let gy = contiguous_f32(s, l, "maxpool2d-grad")?;
        let (ho, wo) = p.out_hw();
        if self.argmax.len() != gy.len() {
            candle_core::bail!(
                "maxpool2d-grad: {} gradients for {} windows",
                gy.len(),
                self.argmax.len()
            );
        }
        let mut out = super::zeros(p.planes * p.h * p.w);
        out.par_chunks_mut(p.h * p.w)
            .zip(gy.par_chunks(ho * wo).zip(self.argmax.par_chunks(ho * wo)))
            .for_each(|(dst, (g, at))| {
                for (&g, &i) in g.iter().zip(at) {
                    dst[i as usize] += g;
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
        .apply_op1(MaxPool {
            p,
            argmax: Mutex::new(Vec::new()),
        })?
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
