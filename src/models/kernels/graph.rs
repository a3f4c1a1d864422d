//! The ST-GCN spatial graph convolution as one autograd node of K GEMMs, with no transposed copies.
//!
//! y (K·C, B, T, V) holds K blocks, block k a contiguous (C·B·T) × V matrix Y_k; a (K, V, W) holds the K
//! (normalised, edge-weighted) adjacency matrices. out = Σ_k Y_k · A_k, a (C·B·T) × W matrix = (C, B, T, W).
//! Backward: ∂Y_k = ∂out · A_kᵀ, ∂A_k = Y_kᵀ · ∂out.

use super::contiguous_f32;
use super::matmul::{gemm_into, gemm_new, View};
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

#[derive(Clone, Copy)]
struct Dims {
    k: usize,
    /// C·B·T rows per block
    rows: usize,
    v: usize,
    w: usize,
}

struct GraphConv {
    d: Dims,
    out_shape: (usize, usize, usize, usize),
}
struct GraphConvGradY(Dims);
struct GraphConvGradA(Dims);

impl CustomOp2 for GraphConv {
    fn name(&self) -> &'static str {
        "graph-conv"
    }

    fn cpu_fwd(
        &self,
        ys: &CpuStorage,
        yl: &Layout,
        as_: &CpuStorage,
        al: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let Dims { k, rows, v, w } = self.d;
        let (y, a) = (
            contiguous_f32(ys, yl, "graph conv")?,
            contiguous_f32(as_, al, "graph conv")?,
        );
        let block = |i: usize| View::rows(&y[i * rows * v..(i + 1) * rows * v], v);
        let adj = |i: usize| View::rows(&a[i * v * w..(i + 1) * v * w], w);
        let mut out = gemm_new(rows, w, v, block(0), adj(0));
        for i in 1..k {
            gemm_into(&mut out, true, rows, w, v, block(i), adj(i));
        }
        Ok((CpuStorage::F32(out), Shape::from(self.out_shape)))
    }

    fn bwd(
        &self,
        y: &Tensor,
        a: &Tensor,
        _out: &Tensor,
        dout: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dout = dout.detach().contiguous()?;
        let dy = dout
            .apply_op2_no_bwd(&a.detach(), &GraphConvGradY(self.d))?
            .reshape(y.shape())?;
        let da = dout
            .apply_op2_no_bwd(&y.detach(), &GraphConvGradA(self.d))?
            .reshape(a.shape())?;
        Ok((Some(dy), Some(da)))
    }
}

impl CustomOp2 for GraphConvGradY {
    fn name(&self) -> &'static str {
        "graph-conv-grad-y"
    }

    fn cpu_fwd(
        &self,
        ds: &CpuStorage,
        dl: &Layout,
        as_: &CpuStorage,
        al: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let Dims { k, rows, v, w } = self.0;
        let (dout, a) = (
            contiguous_f32(ds, dl, "graph conv backward")?,
            contiguous_f32(as_, al, "graph conv backward")?,
        );
        let mut dy = super::zeros(k * rows * v);
        for (i, dy_k) in dy.chunks_mut(rows * v).enumerate() {
            // ∂Y_k (rows × V) = ∂out (rows × W) · A_kᵀ (W × V)
            let adj_t = View::transposed(&a[i * v * w..(i + 1) * v * w], w);
            gemm_into(dy_k, false, rows, v, w, View::rows(dout, w), adj_t);
        }
        Ok((CpuStorage::F32(dy), Shape::from(k * rows * v)))
    }
}

impl CustomOp2 for GraphConvGradA {
    fn name(&self) -> &'static str {
        "graph-conv-grad-a"
    }

    fn cpu_fwd(
        &self,
        ds: &CpuStorage,
        dl: &Layout,
        ys: &CpuStorage,
        yl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let Dims { k, rows, v, w } = self.0;
        let (dout, y) = (
            contiguous_f32(ds, dl, "graph conv backward")?,
            contiguous_f32(ys, yl, "graph conv backward")?,
        );
        let mut da = vec![0f32; k * v * w];
        for (i, da_k) in da.chunks_mut(v * w).enumerate() {
            // ∂A_k (V × W) = Y_kᵀ (V × rows) · ∂out (rows × W)
            let block_t = View::transposed(&y[i * rows * v..(i + 1) * rows * v], v);
            gemm_into(da_k, false, v, w, rows, block_t, View::rows(dout, w));
        }
        Ok((CpuStorage::F32(da), Shape::from(k * v * w)))
    }
}

/// Σ_k y_k · a_k for y (K·C, B, T, V) and a (K, V, W): (C, B, T, W). One node; see the module docs.
pub fn graph_conv(y: &Tensor, a: &Tensor) -> Result<Tensor> {
    let (kc, b, t, v) = y.dims4()?;
    let (k, av, w) = a.dims3()?;
    if k == 0 || kc % k != 0 || av != v {
        candle_core::bail!(
            "graph conv: {kc} channels and {v} joints do not fit {k} adjacency matrices of {av}x{w}"
        );
    }
    let c = kc / k;
    let d = Dims {
        k,
        rows: c * b * t,
        v,
        w,
    };
    let op = GraphConv {
        d,
        out_shape: (c, b, t, w),
    };
    y.contiguous()?.apply_op2(&a.contiguous()?, op)
}
