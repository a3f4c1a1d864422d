//! The ST-GCN spatial unit (1×1 conv to K·Cout channels, then the K adjacency products) as one node that
//! keeps no K·Cout-channel tensor for the backward.
//!
//! The official order is c = W·x + b, out = Σ_k c_k·A_k. By linearity the same out is
//! Σ_k W_k·(x·A_k) + Σ_k b_k ⊗ s_k with s_k = the column sums of A_k: the graph products run on the Cin
//! input channels (u = [x·A_1; …; x·A_K], a (K·Cin) × (B·T·V) matrix), then one GEMM with W'
//! (Cout × K·Cin, W'[co, k·Cin + ci] = W[k·Cout + co, ci]) accumulates onto the bias rows. The forward makes
//! u block by block in cache for that GEMM ([`super::matmul::gemm_blocked_b`], the products by the row kernel of
//! [`super::adjacency`]), never whole. The node keeps only its inputs; the backward recomputes u whole (K
//! products over V joints, a few % of a block's work):
//!   ∂W' = ∂y·uᵀ,  ∂u = W'ᵀ·∂y,  ∂x = Σ_k ∂u_k·A_kᵀ,  ∂A_k = xᵀ·∂u_k + 1 ⊗ (b_kᵀ·g),  ∂b_k = g·s_k,
//! with g (Cout × V) = ∂y summed over (B, T).

use super::adjacency::Padded;
use super::batchnorm::affine;
use super::matmul::{gemm_blocked_b, gemm_into, gemm_new, repeated_rows, with_scratch, View};
use super::{contiguous_f32, cpu_f32};
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

#[derive(Clone, Copy)]
struct Dims {
    k: usize,
    cin: usize,
    cout: usize,
    /// B·T: rows of one channel
    rows: usize,
    v: usize,
}

impl Dims {
    fn plane(&self) -> usize {
        self.rows * self.v
    }
    fn weights(&self) -> usize {
        self.k * self.cout * self.cin
    }

    /// W' (Cout × K·Cin) from the conv weight (K·Cout, Cin).
    fn packed_weight(&self, w: &[f32]) -> Vec<f32> {
        let Dims { k, cin, cout, .. } = *self;
        let mut wp = vec![0f32; cout * k * cin];
        for kk in 0..k {
            for co in 0..cout {
                let src = &w[(kk * cout + co) * cin..][..cin];
                wp[co * k * cin + kk * cin..][..cin].copy_from_slice(src);
            }
        }
        wp
    }

    /// Column sums s_k[w] = Σ_v A_k[v, w], (K × V).
    fn col_sums(&self, a: &[f32]) -> Vec<f32> {
        let v = self.v;
        let mut s = vec![0f32; self.k * v];
        for (kk, s_k) in s.chunks_mut(v).enumerate() {
            for row in a[kk * v * v..][..v * v].chunks(v) {
                for (s, &x) in s_k.iter_mut().zip(row) {
                    *s += x;
                }
            }
        }
        s
    }

    /// The K adjacency matrices as the row kernel reads them, transposed for the input gradient.
    fn adjacency(&self, a: &[f32], transpose: bool) -> Vec<Padded> {
        let v = self.v;
        a.chunks_exact(v * v)
            .take(self.k)
            .map(|m| Padded::new(m, v, transpose))
            .collect()
    }

    /// u = [x·A_1; …; x·A_K] into `u` ((K·Cin) × (B·T·V)), rows in parallel; every element written.
    fn graph_products(&self, x: &[f32], adj: &[Padded], u: &mut [f32]) {
        let (cin, plane) = (self.cin, self.plane());
        u.par_chunks_mut(plane.max(1))
            .enumerate()
            .for_each(|(q, row)| {
                adj[q / cin].rows_times(&x[(q % cin) * plane..][..plane], row, false)
            });
    }

    /// Columns j0..j0 + w of u (column r·V + j of u holds joint j of row r, as in x) as a row-major
    /// ((K·Cin) × w) block, every element written: the right operand of the blocked product, made in cache.
    fn graph_products_block(
        &self,
        x: &[f32],
        adj: &[Padded],
        j0: usize,
        w: usize,
        out: &mut [f32],
    ) {
        let (v, plane) = (self.v, self.plane());
        // Whole rows of joints inside the block, then the first and last rows if the block cuts them.
        let (ra, rb) = (j0.div_ceil(v), (j0 + w) / v);
        let (first, last) = (j0 / v, (j0 + w - 1) / v);
        let cut_row = |r: usize| r * v < j0 || r * v + v > j0 + w;
        let mut cut: Vec<usize> = [first, last].into_iter().filter(|&r| cut_row(r)).collect();
        cut.dedup();
        let (mut cut_x, mut cut_u) = (vec![0f32; cut.len() * v], vec![0f32; cut.len() * v]);
        for ci in 0..self.cin {
            let xc = &x[ci * plane..][..plane];
            for (&r, dst) in cut.iter().zip(cut_x.chunks_exact_mut(v)) {
                dst.copy_from_slice(&xc[r * v..][..v]);
            }
            for (kk, m) in adj.iter().enumerate() {
                let dst = &mut out[(kk * self.cin + ci) * w..][..w];
                if rb > ra {
                    m.rows_times(
                        &xc[ra * v..rb * v],
                        &mut dst[ra * v - j0..rb * v - j0],
                        false,
                    );
                }
                m.rows_times(&cut_x, &mut cut_u, false);
                for (&r, row) in cut.iter().zip(cut_u.chunks_exact(v)) {
                    let (from, to) = (j0.max(r * v), (j0 + w).min(r * v + v));
                    dst[from - j0..to - j0].copy_from_slice(&row[from - r * v..to - r * v]);
                }
            }
        }
    }
}

/// The node; with `eval_affine` (inference only, no backward) the packed parameters carry eval-mode batch
/// norm factors after [W; b] and each output block is normalised (then ReLU if `true`) while in cache,
/// bit for bit what [`super::batchnorm::channel_affine`] gives on the unfused output.
struct SpatialGcn {
    d: Dims,
    eval_affine: Option<bool>,
}

impl CustomOp3 for SpatialGcn {
    fn name(&self) -> &'static str {
        "spatial-gcn"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        as_: &CpuStorage,
        al: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let d = self.d;
        let x = contiguous_f32(xs, xl, "spatial gcn")?;
        let wb = contiguous_f32(ws, wl, "spatial gcn")?;
        let a = contiguous_f32(as_, al, "spatial gcn")?;
        let (w, rest) = wb.split_at(d.weights());
        let (b, factors) = rest.split_at(d.k * d.cout);
        let (plane, s) = (d.plane(), d.col_sums(a));
        // Bias rows: y[co, r, w] starts at Σ_k b_k[co]·s_k[w] for every r.
        let mut y = repeated_rows(d.cout, plane, |co| {
            (0..d.v)
                .map(|j| {
                    (0..d.k)
                        .map(|kk| b[kk * d.cout + co] * s[kk * d.v + j])
                        .sum()
                })
                .collect()
        });
        let (wp, kc, adj) = (d.packed_weight(w), d.k * d.cin, d.adjacency(a, false));
        let (shape, wv) = ((d.cout, plane, kc), View::rows(&wp, kc));
        let fill = |j0, width, block: &mut [f32]| d.graph_products_block(x, &adj, j0, width, block);
        match self.eval_affine {
            None => gemm_blocked_b(&mut y, true, shape, wv, fill, None),
            Some(relu) => {
                let (scale, shift) = factors.split_at(d.cout);
                let then = |co: usize, _: usize, vals: &mut [f32]| {
                    let (s, t) = (scale[co], shift[co]);
                    super::wide(
                        #[inline(always)]
                        || vals.iter_mut().for_each(|v| *v = affine(*v, s, t, relu)),
                    )
                };
                gemm_blocked_b(&mut y, true, shape, wv, fill, Some(&then));
            }
        }
        Ok((CpuStorage::F32(y), Shape::from((d.cout, d.rows, d.v))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        wb: &Tensor,
        a: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let d = self.d;
        if self.eval_affine.is_some() {
            candle_core::bail!(
                "spatial gcn with eval batch norm is for inference only: no backward"
            );
        }
        let dy = dy.detach().contiguous()?;
        let op = "spatial gcn backward";
        let guards = [x, wb, a, &dy].map(|t| t.storage_and_layout());
        let [x_, wb_, a_, dy_] = guards.each_ref().map(|(s, l)| cpu_f32(s, l, op));
        let (dx, dwb, da) = backward(d, x_?, wb_?, a_?, dy_?);
        let dev = x.device();
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), dev)?),
            Some(Tensor::from_vec(dwb, wb.shape(), dev)?),
            Some(Tensor::from_vec(da, a.shape(), dev)?),
        ))
    }
}

/// (∂x, ∂[W; b], ∂A) from ∂y; see the module docs.
fn backward(
    d: Dims,
    x: &[f32],
    wb: &[f32],
    a: &[f32],
    dy: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let Dims {
        k,
        cin,
        cout,
        rows,
        v,
    } = d;
    let (plane, kc) = (d.plane(), k * cin);
    let (w, b) = wb.split_at(d.weights());
    // g[co, j] = Σ_r ∂y[co, r, j]
    let g: Vec<f32> = dy
        .par_chunks(plane.max(1))
        .flat_map_iter(|row| {
            let mut acc = vec![0f32; v];
            for r in row.chunks(v) {
                for (s, &x) in acc.iter_mut().zip(r) {
                    *s += x;
                }
            }
            acc
        })
        .collect();
    let s = d.col_sums(a);
    // ∂W' = ∂y·uᵀ (u recomputed), unpacked to the conv layout (K·Cout, Cin), then ∂b.
    let dwp = with_scratch(kc * plane, |u| {
        d.graph_products(x, &d.adjacency(a, false), u);
        gemm_new(
            cout,
            kc,
            plane,
            View::rows(dy, plane),
            View::transposed(u, plane),
        )
    });
    let mut dwb = vec![0f32; wb.len()];
    for kk in 0..k {
        for co in 0..cout {
            dwb[(kk * cout + co) * cin..][..cin].copy_from_slice(&dwp[co * kc + kk * cin..][..cin]);
            dwb[d.weights() + kk * cout + co] = (0..v).map(|j| g[co * v + j] * s[kk * v + j]).sum();
        }
    }
    // ∂u = W'ᵀ·∂y, then ∂x and ∂A from it.
    let wp = d.packed_weight(w);
    let (dx, da) = with_scratch(kc * plane, |du| {
        gemm_into(
            du,
            false,
            kc,
            plane,
            cout,
            View::transposed(&wp, kc),
            View::rows(dy, plane),
        );
        let n = cin * plane;
        // ∂x[ci] = Σ_k ∂u_k[ci]·A_kᵀ, channels in parallel, k in order.
        let adj_t = d.adjacency(a, true);
        let mut dx = super::zeros(n);
        dx.par_chunks_mut(plane.max(1))
            .enumerate()
            .for_each(|(ci, dst)| {
                for (kk, m) in adj_t.iter().enumerate() {
                    m.rows_times(&du[kk * n + ci * plane..][..plane], dst, kk > 0);
                }
            });
        let mut da = vec![0f32; k * v * v];
        for kk in 0..k {
            let du_k = &du[kk * n..][..n];
            let da_k = &mut da[kk * v * v..][..v * v];
            gemm_into(
                da_k,
                false,
                v,
                v,
                cin * rows,
                View::transposed(x, v),
                View::rows(du_k, v),
            );
            // bias term: ∂A_k[i, j] += Σ_co b_k[co]·g[co, j], the same for every row i
            let bias_row: Vec<f32> = (0..v)
                .map(|j| (0..cout).map(|co| b[kk * cout + co] * g[co * v + j]).sum())
                .collect();
            for row in da_k.chunks_mut(v) {
                for (t, &x) in row.iter_mut().zip(&bias_row) {
                    *t += x;
                }
            }
        }
        (dx, da)
    });
    (dx, dwb, da)
}

/// out[co, b, t, j] = Σ_k Σ_v (W·x + bias)[k·Cout + co, b, t, v] · a[k, v, j] for x (Cin, B, T, V), a conv
/// weight (K·Cout, Cin, 1, 1), its bias (K·Cout) and a (K, V, V): (Cout, B, T, V), one node.
pub fn spatial_gcn(x: &Tensor, weight: &Tensor, bias: &Tensor, a: &Tensor) -> Result<Tensor> {
    spatial_gcn_node(x, weight, bias, a, None)
}

/// [`spatial_gcn`] followed by eval-mode batch norm y·scale + shift per output channel (then ReLU if `relu`),
/// applied to each output block in cache: bit for bit `channel_affine(spatial_gcn(..), ..)` in one pass, for
/// inference only (the node has no backward).
pub fn spatial_gcn_eval_bn(
    x: &Tensor,
    (weight, bias, a): (&Tensor, &Tensor, &Tensor),
    (scale, shift): (&Tensor, &Tensor),
    relu: bool,
) -> Result<Tensor> {
    let cout = weight.dim(0)? / a.dim(0)?.max(1);
    if scale.elem_count() != cout || shift.elem_count() != cout {
        candle_core::bail!(
            "spatial gcn: {cout} output channels but {} batch-norm factors",
            scale.elem_count()
        );
    }
    let factors = Tensor::cat(&[scale.flatten_all()?, shift.flatten_all()?], 0)?;
    spatial_gcn_node(
        x,
        &weight.detach(),
        &bias.detach(),
        &a.detach(),
        Some((&factors, relu)),
    )
}

fn spatial_gcn_node(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    a: &Tensor,
    eval_bn: Option<(&Tensor, bool)>,
) -> Result<Tensor> {
    let (cin, bsz, t, v) = x.dims4()?;
    let (kcout, wcin, _, _) = weight.dims4()?;
    let (k, av, aw) = a.dims3()?;
    if wcin != cin || k == 0 || kcout % k != 0 || av != v || aw != v || bias.dims() != [kcout] {
        candle_core::bail!(
            "spatial gcn: input ({cin}, {bsz}, {t}, {v}), weight {:?}, bias {:?} and adjacency {:?} do not fit",
            weight.dims(),
            bias.dims(),
            a.dims()
        );
    }
    let d = Dims {
        k,
        cin,
        cout: kcout / k,
        rows: bsz * t,
        v,
    };
    let mut parts = vec![weight.flatten_all()?, bias.clone()];
    parts.extend(eval_bn.map(|(f, _)| f.detach()));
    let wb = Tensor::cat(&parts, 0)?;
    let op = SpatialGcn {
        d,
        eval_affine: eval_bn.map(|(_, relu)| relu),
    };
    let y = match op.eval_affine {
        None => x.contiguous()?.apply_op3(&wb, &a.contiguous()?, op)?,
        Some(_) => x
            .detach()
            .contiguous()?
            .apply_op3_no_bwd(&wb, &a.contiguous()?, &op)?,
    };
    y.reshape((d.cout, bsz, t, v))
}
