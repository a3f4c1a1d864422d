//! Small layers for channel-first activations (C, ...): batch norm with running statistics, 1×1 conv as
//! one GEMM, and dropout with seeded masks. Parameter names and shapes follow PyTorch.

use super::Ctx;
use candle_core::{Result, Tensor, Var, D};
use candle_nn::{Init, VarBuilder};

/// Batch normalisation over every dimension but the first (channels first), PyTorch semantics:
/// biased variance to normalise, unbiased variance in the running estimate, momentum 0.1.
pub struct Bn {
    weight: Tensor,
    bias: Tensor,
    running_mean: Var,
    running_var: Var,
    eps: f64,
    momentum: f64,
}

fn var_of(vb: &VarBuilder, shape: usize, name: &str, v: f64) -> Result<Var> {
    let t = vb.get_with_hints(shape, name, Init::Const(v))?;
    Var::from_tensor(&t)
}

impl Bn {
    pub fn new(c: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Bn {
            weight: vb.get_with_hints(c, "weight", Init::Const(1.0))?,
            bias: vb.get_with_hints(c, "bias", Init::Const(0.0))?,
            running_mean: var_of(&vb, c, "running_mean", 0.0)?,
            running_var: var_of(&vb, c, "running_var", 1.0)?,
            eps: 1e-5,
            momentum: 0.1,
        })
    }

    /// Batch norm followed by ReLU (one fused op in training mode).
    pub fn forward_relu(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        if super::fast_kernels() {
            return self.forward_kernel(x, ctx, true);
        }
        self.forward(x, ctx)?.relu()
    }

    /// The own kernels: fused batch statistics in training, the folded per-channel affine in eval.
    fn forward_kernel(&self, x: &Tensor, ctx: &Ctx, relu: bool) -> Result<Tensor> {
        if ctx.train {
            self.forward_fused(x, relu, None)
        } else {
            self.forward_eval(x, relu)
        }
    }

    /// Eval mode with the running statistics folded into one per-channel affine op (+ ReLU).
    fn forward_eval(&self, x: &Tensor, relu: bool) -> Result<Tensor> {
        let (scale, shift) = self.eval_factors()?;
        super::kernels::batchnorm::channel_affine(x, &scale, &shift, relu)
    }

    /// The running statistics folded into y = x·scale + shift: (scale, shift), each (C).
    pub(crate) fn eval_factors(&self) -> Result<(Tensor, Tensor)> {
        let scale = (&self.weight / (self.running_var.as_tensor() + self.eps)?.sqrt()?)?;
        let shift = (&self.bias - (self.running_mean.as_tensor() * &scale)?)?;
        Ok((scale, shift))
    }

    /// Whether batch norms may run inside the kernels around them ([`Bn::add_relu_eval`], the spatial unit's
    /// output): inference with the own kernels (running statistics, no dropout, no gradient asked for).
    pub fn fuses_eval(ctx: &Ctx) -> bool {
        super::fast_kernels() && !ctx.train && ctx.no_grad
    }

    /// ReLU(self(z) + skip) in eval mode, bit for bit `add_relu(&self.forward(z)?, &skip)` with the skip's own
    /// batch norm applied first if it has one, in one pass and without the normalised tensors; only where
    /// [`Bn::fuses_eval`] holds (the node has no backward).
    pub fn add_relu_eval(&self, z: &Tensor, skip: Skip) -> Result<Tensor> {
        let (s, t) = self.eval_factors()?;
        match skip {
            Skip::Plain(x) => super::kernels::eval_bn_add_relu(z, (&s, &t), x, None),
            Skip::Normed(r, bn) => {
                let (s2, t2) = bn.eval_factors()?;
                super::kernels::eval_bn_add_relu(z, (&s, &t), r, Some((&s2, &t2)))
            }
        }
    }

    /// Batch norm then dropout with probability `p` (as `dropout(&self.forward(x, ctx)?, p, ctx)`, the same
    /// mask drawn from the same RNG); in training with the own kernels one node that keeps no
    /// pre-dropout tensor.
    pub fn forward_dropout(&self, x: &Tensor, p: f32, ctx: &mut Ctx) -> Result<Tensor> {
        if !(super::fast_kernels() && ctx.train && p > 0.0 && p < 1.0) {
            return dropout(&self.forward(x, ctx)?, p, ctx);
        }
        let Some(rng) = ctx.rng.as_deref_mut() else {
            return self.forward(x, ctx);
        };
        let mask =
            super::kernels::dropout::DropMask::draw(x.elem_count(), p, rand::Rng::next_u64(rng))?;
        self.forward_fused(x, false, Some(mask))
    }

    fn forward_fused(
        &self,
        x: &Tensor,
        relu: bool,
        mask: Option<super::kernels::dropout::DropMask>,
    ) -> Result<Tensor> {
        let (y, mean, var) = super::kernels::batchnorm::batch_norm_train_dropout(
            x,
            &self.weight,
            &self.bias,
            self.eps,
            relu,
            mask,
        )?;
        let n = (x.elem_count() / x.dim(0)?) as f32;
        let m = self.momentum as f32;
        let unbias = n / (n - 1.0).max(1.0);
        let update = |run: &Var, batch: &[f32], f: f32| -> Result<()> {
            let old: Vec<f32> = run.as_tensor().to_vec1()?;
            let new: Vec<f32> = old
                .iter()
                .zip(batch)
                .map(|(o, b)| o * (1.0 - m) + b * f * m)
                .collect();
            run.set(&Tensor::from_vec(new, old.len(), x.device())?)
        };
        update(&self.running_mean, &mean, 1.0)?;
        update(&self.running_var, &var, unbias)?;
        Ok(y)
    }

    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        if super::fast_kernels() {
            return self.forward_kernel(x, ctx, false);
        }
        let shape = x.shape().clone();
        let c = x.dim(0)?;
        let x2 = x.reshape((c, ()))?;
        let (mean, var) = if ctx.train {
            let n = x2.dim(1)? as f64;
            let mean = x2.mean_keepdim(1)?;
            let var = x2.broadcast_sub(&mean)?.sqr()?.mean_keepdim(1)?;
            let m = self.momentum;
            let rm = ((self.running_mean.as_tensor() * (1.0 - m))?
                + (mean.detach().flatten_all()? * m)?)?;
            let rv = ((self.running_var.as_tensor() * (1.0 - m))?
                + (var.detach().flatten_all()? * (m * n / (n - 1.0).max(1.0)))?)?;
            self.running_mean.set(&rm)?;
            self.running_var.set(&rv)?;
            (mean, var)
        } else {
            (
                self.running_mean.as_tensor().reshape((c, 1))?,
                self.running_var.as_tensor().reshape((c, 1))?,
            )
        };
        // y = (x - mean) * (w / sqrt(var + eps)) + b, with the per-channel factors folded first.
        let scale = (self.weight.reshape((c, 1))? / (var + self.eps)?.sqrt()?)?;
        let shift = (self.bias.reshape((c, 1))? - (&mean * &scale)?)?;
        x2.broadcast_mul(&scale)?
            .broadcast_add(&shift)?
            .reshape(shape)
    }
}

/// The second summand of a residual block's end: the input as it is, or a projection with its batch norm
/// still to apply.
pub enum Skip<'a> {
    Plain(&'a Tensor),
    Normed(&'a Tensor, &'a Bn),
}

/// A 1×1 convolution on channel-first activations as one GEMM: (Cout, Cin) @ (Cin, rest).
/// The weight is stored as PyTorch's (Cout, Cin, 1, 1).
pub struct Conv1x1 {
    weight: Tensor,
    bias: Option<Tensor>,
    cout: usize,
}

impl Conv1x1 {
    pub fn new(cin: usize, cout: usize, bias: bool, vb: VarBuilder) -> Result<Self> {
        let weight = vb.get_with_hints((cout, cin, 1, 1), "weight", Init::Const(0.0))?;
        let bias = if bias {
            Some(vb.get_with_hints(cout, "bias", Init::Const(0.0))?)
        } else {
            None
        };
        Ok(Conv1x1 { weight, bias, cout })
    }

    /// The weight (Cout, Cin, 1, 1) and the bias, if any.
    pub fn params(&self) -> (&Tensor, Option<&Tensor>) {
        (&self.weight, self.bias.as_ref())
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if x.rank() == 4 && super::fast_kernels() {
            // The fused conv kernel: one node with the bias inside, no reshapes.
            return super::kernels::conv2d_cf_bias(
                x,
                &self.weight,
                self.bias.as_ref(),
                (1, 1),
                (0, 0),
            );
        }
        let mut dims = x.dims().to_vec();
        let cin = dims[0];
        let w = self.weight.reshape((self.cout, cin))?;
        let y = w.matmul(&x.reshape((cin, ()))?)?;
        let y = match &self.bias {
            Some(b) => y.broadcast_add(&b.reshape((self.cout, 1))?)?,
            None => y,
        };
        dims[0] = self.cout;
        y.reshape(dims)
    }
}

/// Inverted dropout with a mask drawn from the context's seeded RNG; identity in eval mode or p = 0.
/// The fast path is one node holding the mask as bits ([`super::kernels::dropout_bits`], seeded by one draw
/// of the RNG); `SKELCAM_KERNELS=candle` multiplies by an f32 mask tensor drawn element by element.
pub fn dropout(x: &Tensor, p: f32, ctx: &mut Ctx) -> Result<Tensor> {
    if !ctx.train || p <= 0.0 {
        return Ok(x.clone());
    }
    let rng = match ctx.rng.as_deref_mut() {
        Some(r) => r,
        None => return Ok(x.clone()),
    };
    if p >= 1.0 {
        return x.zeros_like();
    }
    if super::fast_kernels() {
        return super::kernels::dropout_bits(x, p, rand::Rng::next_u64(rng));
    }
    use rand::RngExt;
    let keep = 1.0 / (1.0 - p);
    let mask: Vec<f32> = (0..x.elem_count())
        .map(|_| if rng.random::<f32>() < p { 0.0 } else { keep })
        .collect();
    x.mul(&Tensor::from_vec(mask, x.shape(), x.device())?)
}

/// Mean over every dimension from `from` on.
pub fn mean_from(x: &Tensor, from: usize) -> Result<Tensor> {
    let dims = x.dims();
    let keep: Vec<usize> = dims[..from].to_vec();
    x.reshape([keep.as_slice(), &[dims[from..].iter().product::<usize>()]].concat())?
        .mean(D::Minus1)
}
