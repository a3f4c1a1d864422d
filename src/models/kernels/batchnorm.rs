//! Training-mode batch normalisation (optionally followed by ReLU) on channel-first activations (C, ...) as
//! one op: two passes forward, two backward, instead of a dozen broadcast ops and their temporaries.
//!
//! Forward per channel c over its n values: μ, σ² (biased), x̂ = (x − μ)/√(σ² + ε), y = γ·x̂ + β (then ReLU).
//! Backward with g = ∂L/∂y (masked by y > 0 after a ReLU): ∂β = Σg, ∂γ = Σg·x̂,
//! ∂x = γ/(n·√(σ² + ε)) · (n·g − ∂β − x̂·∂γ). The batch statistics are handed back for the running averages.
//! Dropout after it can run in the same node ([`batch_norm_train_dropout`]): the output is masked and so is
//! the incoming gradient, and the normalised tensor before dropout is never kept.

use super::contiguous_f32;
use super::dropout::DropMask;
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use std::sync::{Arc, Mutex};

/// Per-channel batch mean and biased variance of the last forward.
pub type BatchStats = Arc<Mutex<Option<(Vec<f32>, Vec<f32>)>>>;

struct BnTrain {
    eps: f64,
    relu: bool,
    stats: BatchStats,
    /// (mean, 1/√(var + eps)) per channel from the forward, so the backward need not recompute them.
    saved: Mutex<Vec<(f32, f32)>>,
    /// Dropout applied to the output inside the same node (and to the incoming gradient).
    mask: Option<DropMask>,
}

struct BnTrainGrad {
    relu: bool,
    saved: Vec<(f32, f32)>,
}

/// x·scale + shift, then ReLU if `relu`.
#[inline(always)]
pub(super) fn affine(x: f32, scale: f32, shift: f32, relu: bool) -> f32 {
    let v = x * scale + shift;
    if relu {
        v.max(0.0)
    } else {
        v
    }
}

/// Statistics of one channel and the affine map they give: y = x·scale + shift.
struct Moments {
    mean: f32,
    inv_std: f32,
    var: f32,
    scale: f32,
    shift: f32,
}

impl Moments {
    fn of(x: &[f32], eps: f64, w: f32, b: f32) -> Moments {
        let n = x.len().max(1) as f64;
        let mean = sum2(x, x, |v, _| (v, 0.0)).0 / n;
        let m = mean as f32;
        let var = sum2(x, x, |v, _| ((v - m) * (v - m), 0.0)).0 / n;
        Self::affine(
            mean as f32,
            (1.0 / (var + eps).sqrt()) as f32,
            var as f32,
            w,
            b,
        )
    }

    fn affine(mean: f32, inv_std: f32, var: f32, w: f32, b: f32) -> Moments {
        Moments {
            mean,
            inv_std,
            var,
            scale: w * inv_std,
            shift: b - mean * w * inv_std,
        }
    }
}

impl CustomOp3 for BnTrain {
    fn name(&self) -> &'static str {
        "batchnorm-train"
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
        let x = contiguous_f32(s1, l1, "batchnorm")?;
        let (w, b) = (
            contiguous_f32(s2, l2, "batchnorm")?,
            contiguous_f32(s3, l3, "batchnorm")?,
        );
        let c = w.len();
        let n = x.len() / c;
        // SAFETY: the closure writes every element of its piece (write_all checks the count).
        let (y, stats) = unsafe {
            super::par_init(x.len(), 0, n, |ch, y| {
                let x = &x[ch * n..][..y.len()];
                let m = Moments::of(x, self.eps, w[ch], b[ch]);
                let y =
                    super::write_all(y, x.iter().map(|&x| affine(x, m.scale, m.shift, self.relu)));
                if let Some(mask) = &self.mask {
                    mask.apply_at(ch * n, y);
                }
                m
            })
        };
        *self.saved.lock().expect("saved lock") =
            stats.iter().map(|m| (m.mean, m.inv_std)).collect();
        *self.stats.lock().expect("stats lock") =
            Some(stats.iter().map(|m| (m.mean, m.var)).unzip());
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<Grads3> {
        let op = BnTrainGrad {
            relu: self.relu,
            saved: self.saved.lock().expect("saved lock").clone(),
        };
        // One op returns [∂x | ∂γ | ∂β] packed, split here; the ReLU mask is recomputed from x
        // with the forward's per-channel statistics.
        let wb = Tensor::cat(&[w.flatten_all()?, b.flatten_all()?], 0)?;
        let grad = grad.contiguous()?;
        let grad = match &self.mask {
            Some(mask) => grad.apply_op1_no_bwd(&mask.op())?,
            None => grad,
        };
        let packed = x.contiguous()?.apply_op3_no_bwd(&grad, &wb, &op)?;
        unpack(&packed, x, w)
    }
}

impl CustomOp3 for BnTrainGrad {
    fn name(&self) -> &'static str {
        "batchnorm-train-grad"
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
        let x = contiguous_f32(s1, l1, "batchnorm grad")?;
        let g = contiguous_f32(s2, l2, "batchnorm grad")?;
        let (w, b) =
            contiguous_f32(s3, l3, "batchnorm grad")?.split_at(l3.shape().elem_count() / 2);
        let (c, numel) = (w.len(), g.len());
        let n = numel / c;
        // SAFETY: the closure writes every element of its piece (write_all checks the count).
        let (mut out, per_channel) = unsafe {
            super::par_init(numel, 2 * c, n, |ch, dx| {
                let r = ch * n..(ch + 1) * n;
                let (x, g) = (&x[r.clone()], &g[r]);
                let (mean, inv) = self.saved[ch];
                let m = Moments::affine(mean, inv, 0.0, w[ch], b[ch]);
                // Two instances, so that the ReLU test is no branch inside the vectorised loops.
                super::wide(
                    #[inline(always)]
                    || {
                        if self.relu {
                            grad_channel::<true>(x, g, dx, &m, w[ch])
                        } else {
                            grad_channel::<false>(x, g, dx, &m, w[ch])
                        }
                    },
                )
            })
        };
        let (dw, db): (Vec<f32>, Vec<f32>) = per_channel.into_iter().unzip();
        out.extend(dw);
        out.extend(db);
        Ok((CpuStorage::F32(out), Shape::from(numel + 2 * c)))
    }
}

/// One channel of the batch-norm backward: writes ∂x into `dx` and returns (∂γ, ∂β). With `RELU` the
/// incoming gradient is first masked where the forward's output x·scale + shift was ≤ 0.
#[inline(always)]
fn grad_channel<const RELU: bool>(
    x: &[f32],
    g: &[f32],
    dx: &mut [std::mem::MaybeUninit<f32>],
    m: &Moments,
    weight: f32,
) -> (f32, f32) {
    let (mean, inv, n) = (m.mean, m.inv_std, x.len());
    // dx first holds the (masked) incoming gradient: three plain loops the compiler vectorises, where one
    // fused loop with the mask inside stayed scalar.
    let gm = super::write_all(
        dx,
        x.iter().zip(g).map(|(&xi, &gi)| {
            if RELU && xi * m.scale + m.shift <= 0.0 {
                0.0
            } else {
                gi
            }
        }),
    );
    let (db, dw) = sum2(x, gm, |xi, gi| (gi, gi * (xi - mean) * inv));
    // ∂x = γ·inv·(g − ∂β/n − x̂·∂γ/n)
    let k = weight * inv;
    let (kb, kw) = ((db / n as f64) as f32 * k, (dw / n as f64) as f32 * k);
    for (d, &xi) in gm.iter_mut().zip(x) {
        *d = k * *d - kb - kw * (xi - mean) * inv;
    }
    (dw as f32, db as f32)
}

/// y = x·scale[c] + shift[c] per channel of channel-first x (then ReLU if `relu`): eval-mode batch norm with
/// its per-channel factors folded, one pass instead of two broadcast ops (and a ReLU).
struct ChannelAffine {
    relu: bool,
}

/// Backward of [`ChannelAffine`] (arguments x, ∂L/∂y, y): [∂x | ∂scale | ∂shift] packed.
struct ChannelAffineGrad {
    relu: bool,
    scale: Vec<f32>,
}

impl CustomOp3 for ChannelAffine {
    fn name(&self) -> &'static str {
        "channel-affine"
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
        let x = contiguous_f32(s1, l1, "channel affine")?;
        let scale = contiguous_f32(s2, l2, "channel affine")?;
        let shift = contiguous_f32(s3, l3, "channel affine")?;
        let n = x.len() / scale.len().max(1);
        // SAFETY: the closure writes every element of its piece (write_all checks the count).
        let (y, _) = unsafe {
            super::par_init(x.len(), 0, n, |ch, y| {
                let (a, b) = (scale[ch], shift[ch]);
                let x = &x[ch * n..][..y.len()];
                super::write_all(y, x.iter().map(|&x| affine(x, a, b, self.relu)));
            })
        };
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        scale: &Tensor,
        _shift: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<Grads3> {
        let op = ChannelAffineGrad {
            relu: self.relu,
            scale: scale.flatten_all()?.to_vec1()?,
        };
        let packed = x.detach().contiguous()?.apply_op3_no_bwd(
            &grad.detach().contiguous()?,
            &res.detach(),
            &op,
        )?;
        unpack(&packed, x, scale)
    }
}

impl CustomOp3 for ChannelAffineGrad {
    fn name(&self) -> &'static str {
        "channel-affine-grad"
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
        let x = contiguous_f32(s1, l1, "channel affine grad")?;
        let g = contiguous_f32(s2, l2, "channel affine grad")?;
        let y = contiguous_f32(s3, l3, "channel affine grad")?;
        let (c, numel) = (self.scale.len(), x.len());
        let n = numel / c.max(1);
        // SAFETY: the closure writes every element of its piece (write_all checks the count).
        let (mut out, sums) = unsafe {
            super::par_init(numel, 2 * c, n, |ch, dx| {
                let r = ch * n..(ch + 1) * n;
                let (x, g, y) = (&x[r.clone()], &g[r.clone()], &y[r]);
                // dx first holds the ReLU-masked g, which gives ∂shift = Σ g and ∂scale = Σ g·x; then g·scale.
                let masked = g
                    .iter()
                    .zip(y)
                    .map(|(&gi, &yi)| if self.relu && yi <= 0.0 { 0.0 } else { gi });
                let dx = super::write_all(dx, masked);
                let (dshift, dscale) = sum2(dx, x, |gi, xi| (gi, gi * xi));
                let a = self.scale[ch];
                dx.iter_mut().for_each(|d| *d *= a);
                (dscale as f32, dshift as f32)
            })
        };
        let (ds, dsh): (Vec<f32>, Vec<f32>) = sums.into_iter().unzip();
        out.extend(ds);
        out.extend(dsh);
        Ok((CpuStorage::F32(out), Shape::from(numel + 2 * c)))
    }
}

/// x·scale + shift per channel of channel-first x (C, ...) with scale/shift (C), then ReLU if `relu`: one
/// differentiable node (gradients for x, scale and shift).
pub fn channel_affine(x: &Tensor, scale: &Tensor, shift: &Tensor, relu: bool) -> Result<Tensor> {
    let c = x.dim(0)?;
    if scale.elem_count() != c || shift.elem_count() != c {
        candle_core::bail!(
            "channel affine: {c} channels but {} factors",
            scale.elem_count()
        );
    }
    x.contiguous()?.apply_op3(
        &scale.flatten_all()?.contiguous()?,
        &shift.flatten_all()?.contiguous()?,
        ChannelAffine { relu },
    )
}

/// Gradients for (x, per-channel a, per-channel b) from one backward op's packed output [∂x | ∂a | ∂b].
type Grads3 = (Option<Tensor>, Option<Tensor>, Option<Tensor>);
fn unpack(packed: &Tensor, x: &Tensor, per_channel: &Tensor) -> Result<Grads3> {
    let (numel, c) = (x.elem_count(), per_channel.elem_count());
    let part = |from: usize| packed.narrow(0, from, c)?.reshape(per_channel.shape());
    Ok((
        Some(packed.narrow(0, 0, numel)?.reshape(x.shape())?),
        Some(part(numel)?),
        Some(part(numel + c)?),
    ))
}

/// (Σ f(x_i, g_i).0, Σ f(x_i, g_i).1) over paired slices, in 8 f32 lanes within blocks of 1024 elements
/// (so the compiler vectorises it) and the blocks' partial sums added in f64 (so long channels keep precision).
#[inline(always)]
fn sum2(x: &[f32], g: &[f32], f: impl Fn(f32, f32) -> (f32, f32)) -> (f64, f64) {
    const LANES: usize = 8;
    let (mut s0, mut s1) = (0f64, 0f64);
    for (xb, gb) in x.chunks(1024).zip(g.chunks(1024)) {
        let (mut a, mut b) = ([0f32; LANES], [0f32; LANES]);
        let (xc, gc) = (xb.chunks_exact(LANES), gb.chunks_exact(LANES));
        let (xr, gr) = (xc.remainder(), gc.remainder());
        for (xs, gs) in xc.zip(gc) {
            let (xs, gs): (&[f32; LANES], &[f32; LANES]) = (
                xs.try_into().expect("exact chunk"),
                gs.try_into().expect("exact chunk"),
            );
            for l in 0..LANES {
                let (p, q) = f(xs[l], gs[l]);
                a[l] += p;
                b[l] += q;
            }
        }
        for (&xv, &gv) in xr.iter().zip(gr) {
            let (p, q) = f(xv, gv);
            a[0] += p;
            b[0] += q;
        }
        s0 += a.iter().map(|&v| v as f64).sum::<f64>();
        s1 += b.iter().map(|&v| v as f64).sum::<f64>();
    }
    (s0, s1)
}

/// Training-mode batch norm of channel-first `x` (C, ...) with weight/bias (C), followed by ReLU if `relu`;
/// returns the output and the batch (mean, biased variance) per channel.
pub fn batch_norm_train(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
    relu: bool,
) -> Result<(Tensor, Vec<f32>, Vec<f32>)> {
    batch_norm_train_dropout(x, weight, bias, eps, relu, None)
}

/// [`batch_norm_train`] with dropout (`mask`, over x's elements in order) applied to its output in the
/// same node, so the normalised tensor before dropout is never kept.
pub fn batch_norm_train_dropout(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
    relu: bool,
    mask: Option<DropMask>,
) -> Result<(Tensor, Vec<f32>, Vec<f32>)> {
    let c = x.dim(0)?;
    if let Some(m) = &mask {
        if m.len() != x.elem_count() {
            candle_core::bail!(
                "batch norm: dropout mask of {} for {} elements",
                m.len(),
                x.elem_count()
            );
        }
    }
    if weight.elem_count() != c || bias.elem_count() != c {
        candle_core::bail!(
            "batch norm: {c} channels but {} weights",
            weight.elem_count()
        );
    }
    let stats: BatchStats = Arc::new(Mutex::new(None));
    let op = BnTrain {
        eps,
        relu,
        stats: stats.clone(),
        saved: Mutex::new(Vec::new()),
        mask,
    };
    let y = x.contiguous()?.apply_op3(weight, bias, op)?;
    let (mean, var) = stats
        .lock()
        .expect("stats lock")
        .take()
        .ok_or_else(|| candle_core::Error::Msg("batch norm statistics missing".into()))?;
    Ok((y, mean, var))
}
