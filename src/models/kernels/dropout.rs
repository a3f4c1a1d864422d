//! Inverted dropout as one node that holds its keep-mask as bits (1 bit per element where a mask tensor
//! costs 32), drawn in parallel: chunk i of the mask comes from generator (seed, i), with the seed one
//! draw of the caller's RNG, so the mask depends on the run's seed and not on the thread count.

use super::contiguous_f32;
use crate::rng::rng_for;
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rand::Rng;
use rayon::prelude::*;
use std::sync::Arc;

/// Mask words per parallel work item (65,536 elements).
const WORDS: usize = 1 << 10;

/// A keep-mask as bits, with the inverted-dropout factor 1/(1 − p).
#[derive(Clone)]
pub struct DropMask {
    bits: Arc<Vec<u64>>,
    len: usize,
    scale: f32,
}

impl DropMask {
    /// Each of `len` elements is dropped with probability `p` in (0, 1) (to 2⁻³² resolution): two 32-bit
    /// decisions per 64-bit draw, chunk i of the mask from generator (seed, i).
    pub fn draw(len: usize, p: f32, seed: u64) -> Result<DropMask> {
        if !(p > 0.0 && p < 1.0) {
            candle_core::bail!("dropout: probability {p} is not in (0, 1)");
        }
        let threshold = (p as f64 * 4_294_967_296.0).round() as u64;
        let mut bits = vec![0u64; len.div_ceil(64)];
        bits.par_chunks_mut(WORDS)
            .enumerate()
            .for_each(|(chunk, words)| {
                let mut rng = rng_for(seed, crate::rng::streams::item(chunk));
                for word in words {
                    let mut w = 0u64;
                    for pair in 0..32 {
                        let r = rng.next_u64();
                        w |= u64::from((r & 0xFFFF_FFFF) >= threshold) << (2 * pair);
                        w |= u64::from((r >> 32) >= threshold) << (2 * pair + 1);
                    }
                    *word = w;
                }
            });
        Ok(DropMask {
            bits: Arc::new(bits),
            len,
            scale: 1.0 / (1.0 - p),
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Multiply `y`, the elements starting at flat index `offset`, by scale where kept and 0 where dropped.
    pub fn apply_at(&self, offset: usize, y: &mut [f32]) {
        for (i, v) in y.iter_mut().enumerate() {
            let at = offset + i;
            *v *= self.scale * ((self.bits[at / 64] >> (at % 64)) & 1) as f32;
        }
    }

    /// The mask as a node: y = x · scale · bit. The same map is its own backward.
    pub fn op(&self) -> impl CustomOp1 + Send + Sync + 'static {
        Dropout(self.clone())
    }
}

/// y = x · scale where the mask bit is set, 0 elsewhere. The same map is its own backward (∂L/∂x =
/// ∂L/∂y · scale · bit), so the node applies itself to the incoming gradient.
struct Dropout(DropMask);

impl CustomOp1 for Dropout {
    fn name(&self) -> &'static str {
        "dropout-bits"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (m, x) = (&self.0, contiguous_f32(s, l, "dropout")?);
        if x.len() != m.len {
            candle_core::bail!(
                "dropout: mask for {} elements applied to {}",
                m.len,
                x.len()
            );
        }
        // SAFETY: the closure writes every element of its piece (write_all checks the count).
        let (out, _) = unsafe {
            super::par_init(x.len(), 0, 64 * WORDS, |i, o| {
                let start = i * 64 * WORDS;
                let o = super::write_all(o, x[start..start + o.len()].iter().copied());
                m.apply_at(start, o);
            })
        };
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(dy.detach().contiguous()?.apply_op1_no_bwd(self)?))
    }
}

/// Inverted dropout of an f32 tensor with drop probability `p` in (0, 1), the mask drawn from generators
/// seeded by `seed` (one node; its mask costs len/8 bytes).
pub fn dropout_bits(x: &Tensor, p: f32, seed: u64) -> Result<Tensor> {
    let mask = DropMask::draw(x.elem_count(), p, seed)?;
    x.contiguous()?.apply_op1(Dropout(mask))
}
