//! Temporal unfold (im2col over time) for the (kt×1) temporal convolution of channel-first activations.
//!
//! Forward: x (C, B, T, V) → u (kt·C, B, T', V) with u[k·C + c, b, t', v] = x[c, b, t'·s + k − p, v]
//! (zero outside 0..T), T' = T / s. Backward (fold): the adjoint, scatter-adding every tap back.
//! Replaces pad + kt narrows + subsampling + cat, whose backward allocates kt zero-padded copies of x.

use super::contiguous_f32;
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

#[derive(Clone, Copy, Debug)]
struct Geometry {
    c: usize,
    b: usize,
    t: usize,
    v: usize,
    kt: usize,
    stride: usize,
}

impl Geometry {
    fn t_out(&self) -> usize {
        self.t / self.stride
    }
    /// Source frame of output frame `to` for tap `k`, if inside the sequence.
    fn src(&self, to: usize, k: usize) -> Option<usize> {
        let t = (to * self.stride + k) as isize - ((self.kt - 1) / 2) as isize;
        (t >= 0 && (t as usize) < self.t).then_some(t as usize)
    }
}

struct Unfold(Geometry);
struct Fold(Geometry);

impl CustomOp1 for Unfold {
    fn name(&self) -> &'static str {
        "temporal-unfold"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = self.0;
        let x = contiguous_f32(s, l, "temporal unfold")?;
        let (to_n, v) = (g.t_out(), g.v);
        let plane = g.b * to_n * v; // one output channel row
        let mut out = vec![0f32; g.kt * g.c * plane];
        out.par_chunks_mut(plane)
            .enumerate()
            .for_each(|(row, dst)| {
                let (k, c) = (row / g.c, row % g.c);
                for b in 0..g.b {
                    for to in 0..to_n {
                        if let Some(t) = g.src(to, k) {
                            let s0 = ((c * g.b + b) * g.t + t) * v;
                            let d0 = (b * to_n + to) * v;
                            dst[d0..d0 + v].copy_from_slice(&x[s0..s0 + v]);
                        }
                    }
                }
            });
        Ok((
            CpuStorage::F32(out),
            Shape::from((g.kt * g.c, g.b, to_n, v)),
        ))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(&Fold(self.0))?))
    }
}

impl CustomOp1 for Fold {
    fn name(&self) -> &'static str {
        "temporal-fold"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = self.0;
        let u = contiguous_f32(s, l, "temporal unfold")?;
        let (to_n, v) = (g.t_out(), g.v);
        let plane_in = g.b * to_n * v;
        let plane_out = g.b * g.t * v;
        let mut out = vec![0f32; g.c * plane_out];
        out.par_chunks_mut(plane_out)
            .enumerate()
            .for_each(|(c, dst)| {
                for k in 0..g.kt {
                    let src = &u[(k * g.c + c) * plane_in..(k * g.c + c + 1) * plane_in];
                    for b in 0..g.b {
                        for to in 0..to_n {
                            if let Some(t) = g.src(to, k) {
                                let s0 = (b * to_n + to) * v;
                                let d0 = (b * g.t + t) * v;
                                for (d, s) in dst[d0..d0 + v].iter_mut().zip(&src[s0..s0 + v]) {
                                    *d += s;
                                }
                            }
                        }
                    }
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((g.c, g.b, g.t, v))))
    }
}

/// Unfold channel-first x (C, B, T, V) into the kt taps of a (kt×1) convolution with zero padding
/// (kt−1)/2 and temporal stride `stride` (T must be a multiple of it): (kt·C, B, T/stride, V), tap-major.
pub fn temporal_unfold(x: &Tensor, kt: usize, stride: usize) -> Result<Tensor> {
    let (c, b, t, v) = x.dims4()?;
    if kt % 2 == 0 || stride == 0 || t % stride != 0 {
        candle_core::bail!(
            "temporal unfold: kernel {kt} must be odd and T={t} a multiple of stride {stride}"
        );
    }
    x.contiguous()?.apply_op1(Unfold(Geometry {
        c,
        b,
        t,
        v,
        kt,
        stride,
    }))
}
