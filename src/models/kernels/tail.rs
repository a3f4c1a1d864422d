//! Inference's end of a residual block as one node: the last convolution (+ bias), eval-mode batch norm, the
//! skip (as it is, or with its own batch norm), the sum and ReLU, applied to each piece of the convolution's
//! output as soon as it is computed, while in cache. Every value is rounded as by the separate ops
//! (`conv2d_cf_bias`, `channel_affine`, `add_relu`), so the result is theirs bit for bit; there is no backward.

use super::batchnorm::affine;
use super::contiguous_f32;
use super::conv2d::{geometry, Conv2d};
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

/// What follows the convolution: its batch norm's eval (scale, shift), the skip (the shape of the output)
/// and the skip's own batch norm, if any.
pub struct Tail<'a> {
    pub bn: (&'a Tensor, &'a Tensor),
    pub skip: &'a Tensor,
    pub skip_bn: Option<(&'a Tensor, &'a Tensor)>,
}

/// Arguments x, [W; bias?; scale; shift; skip scale?; skip shift?], skip.
struct ConvTail {
    conv: Conv2d,
    bias: bool,
    normed_skip: bool,
}

impl CustomOp3 for ConvTail {
    fn name(&self) -> &'static str {
        "conv2d-bn-add-relu"
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
        let op = self.name();
        let (x, packed, skip) = (
            contiguous_f32(s1, l1, op)?,
            contiguous_f32(s2, l2, op)?,
            contiguous_f32(s3, l3, op)?,
        );
        let (co, g) = (self.conv.co, self.conv.g);
        let (w, rest) = packed.split_at((co * g.c * g.kh * g.kw).min(packed.len()));
        let (bias, f) = rest.split_at(if self.bias { co.min(rest.len()) } else { 0 });
        if f.len() != co * if self.normed_skip { 4 } else { 2 } || skip.len() != co * g.out_len() {
            candle_core::bail!(
                "{op}: {} factors and {} skip values for {co} channels",
                f.len(),
                skip.len()
            );
        }
        let then = |ch: usize, at: usize, vals: &mut [f32]| {
            let (s, t) = (f[ch], f[co + ch]);
            let r = &skip[at..][..vals.len()];
            let pairs = vals.iter_mut().zip(r);
            if self.normed_skip {
                let (s2, t2) = (f[2 * co + ch], f[3 * co + ch]);
                super::wide(
                    #[inline(always)]
                    || {
                        pairs.for_each(|(v, &r)| {
                            *v = (affine(*v, s, t, false) + affine(r, s2, t2, false)).max(0.0)
                        })
                    },
                )
            } else {
                super::wide(
                    #[inline(always)]
                    || pairs.for_each(|(v, &r)| *v = (affine(*v, s, t, false) + r).max(0.0)),
                )
            }
        };
        self.conv
            .run_then(x, w, self.bias.then_some(bias), Some(&then))
    }
}

/// ReLU(bn(conv(x) + bias) + skip') for channel-first x (C, N, H, W) and a PyTorch-layout weight, where skip'
/// is `tail.skip` or its own batch norm of it: one pass over the output, for inference only (no backward).
pub fn conv2d_eval_tail(
    x: &Tensor,
    (weight, bias): (&Tensor, Option<&Tensor>),
    (stride, pad): ((usize, usize), (usize, usize)),
    tail: Tail,
) -> Result<Tensor> {
    let (co, ci, kh, kw) = weight.dims4()?;
    if x.dim(0)? != ci {
        candle_core::bail!(
            "conv2d: input has {} channels, the weight expects {ci}",
            x.dim(0)?
        );
    }
    let g = geometry(x, (kh, kw), stride, pad)?;
    let (ho, wo) = g.out_hw();
    if tail.skip.dims() != [co, g.n, ho, wo] {
        candle_core::bail!(
            "conv2d tail: skip {:?} for an output ({co}, {}, {ho}, {wo})",
            tail.skip.dims(),
            g.n
        );
    }
    let mut parts = vec![weight.flatten_all()?];
    parts.extend(bias.cloned());
    parts.extend([tail.bn.0, tail.bn.1].map(Tensor::clone));
    parts.extend(
        tail.skip_bn
            .iter()
            .flat_map(|(s, t)| [(*s).clone(), (*t).clone()]),
    );
    if parts[1..].iter().any(|p| p.dims() != [co]) {
        candle_core::bail!("conv2d tail: bias and batch-norm factors must each hold {co} values");
    }
    let packed = Tensor::cat(&parts, 0)?.detach();
    let op = ConvTail {
        conv: Conv2d { g, co },
        bias: bias.is_some(),
        normed_skip: tail.skip_bn.is_some(),
    };
    x.detach()
        .contiguous()?
        .apply_op3_no_bwd(&packed, &tail.skip.detach().contiguous()?, &op)
}
