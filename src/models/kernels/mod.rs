//! Hand-written CPU kernels behind candle's `CustomOp` interface, each with a backward, where candle's
//! composition of generic ops is slow (measured by `skelcam bench`, checked against the generic path by tests).

pub(crate) mod adjacency;
pub mod batchnorm;
pub mod conv2d;
pub mod dropout;
pub mod gcn;
pub(crate) mod matmul;
pub mod maxpool;
pub mod residual;
mod winograd;
mod winograd_grad;
mod winograd_nested;
mod winograd_s2;

pub use batchnorm::batch_norm_train;
pub use conv2d::{conv2d_cf, conv2d_cf_bias, conv2d_cf_hw, conv2d_cf_reference};
pub use dropout::dropout_bits;
pub use gcn::{spatial_gcn, spatial_gcn_eval_bn};
pub use maxpool::max_pool2d;
pub use residual::{add_relu, eval_bn_add_relu};

use candle_core::{CpuStorage, Layout, Result};

/// The f32 slice behind a contiguous CPU tensor, or an error naming the op.
pub(crate) fn contiguous_f32<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [f32]> {
    let data = match s {
        CpuStorage::F32(d) => d.as_slice(),
        _ => candle_core::bail!("{op} supports f32 only"),
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("{op} needs a contiguous input"),
    }
}

/// The f32 slice behind a contiguous CPU tensor's storage (from `Tensor::storage_and_layout`), or an error
/// naming the op.
pub(crate) fn cpu_f32<'a>(s: &'a candle_core::Storage, l: &Layout, op: &str) -> Result<&'a [f32]> {
    match s {
        candle_core::Storage::Cpu(cs) => contiguous_f32(cs, l, op),
        _ => candle_core::bail!("{op} runs on the CPU only"),
    }
}

/// `len` zeros, written by the rayon threads in parallel chunks: the allocator's zeroing of a reused block
/// is otherwise one serial memset on the calling thread while the other cores wait (2–3 % of a training step).
pub(crate) fn zeros(len: usize) -> Vec<f32> {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 16;
    if len < CHUNK {
        return vec![0f32; len];
    }
    let mut out: Vec<f32> = Vec::with_capacity(len);
    out.spare_capacity_mut()[..len]
        .par_chunks_mut(CHUNK)
        .for_each(|c| {
            c.iter_mut().for_each(|v| {
                v.write(0.0);
            })
        });
    // SAFETY: the chunks cover all len slots and every one was written above.
    unsafe { out.set_len(len) };
    out
}

/// A `len`-float vector written by the rayon threads without zero-filling it first: `f(i, piece)` gets the
/// i-th `chunk`-float piece (the last may be shorter), must write every element of it (e.g. with
/// [`write_all`]) and returns a value per piece; outputs that a kernel overwrites completely need no memset
/// pass. The vector has room for `spare` more floats, so a kernel can append a tail without reallocating.
///
/// # Safety
/// `f` must initialise every element of each piece it is given (write_all panics otherwise).
pub(crate) unsafe fn par_init<R: Send>(
    len: usize,
    spare: usize,
    chunk: usize,
    f: impl Fn(usize, &mut [std::mem::MaybeUninit<f32>]) -> R + Sync + Send,
) -> (Vec<f32>, Vec<R>) {
    use rayon::prelude::*;
    let mut out: Vec<f32> = Vec::with_capacity(len + spare);
    let per_piece = out.spare_capacity_mut()[..len]
        .par_chunks_mut(chunk.max(1))
        .enumerate()
        .map(|(i, piece)| f(i, piece))
        .collect();
    // SAFETY: the pieces cover all len slots and `f` writes every element of its piece (its contract).
    unsafe { out.set_len(len) };
    (out, per_piece)
}

/// Write `values` into the slots of `dst`, one each (panics unless there are exactly as many), and return
/// them as initialised floats. The loop runs in [`wide`] over a zip of exact-size iterators, so a map over
/// slices compiles to AVX2 code (a per-element `next()` loop with the count check inside stayed scalar:
/// eval-mode batch norm alone was 6 % of ResNet inference).
pub(crate) fn write_all<I>(dst: &mut [std::mem::MaybeUninit<f32>], values: I) -> &mut [f32]
where
    I: IntoIterator<Item = f32>,
    I::IntoIter: ExactSizeIterator,
{
    let values = values.into_iter();
    let given = values.len();
    let written = wide(
        #[inline(always)]
        || {
            let mut written = 0;
            for (d, v) in dst.iter_mut().zip(values) {
                d.write(v);
                written += 1;
            }
            written
        },
    );
    assert!(
        written == dst.len() && given == dst.len(),
        "write_all: {given} values for {} slots",
        dst.len()
    );
    // SAFETY: all dst.len() slots were written above (counted as they were written).
    unsafe { &mut *(dst as *mut [std::mem::MaybeUninit<f32>] as *mut [f32]) }
}

/// Run `f` compiled for AVX2 and FMA when the CPU has them (the crate's own code is otherwise built for
/// baseline x86-64, 4-lane SSE2, where the compiler leaves masked loops such as ReLU's scalar), else as is.
/// Mark the closure `#[inline(always)]` (and the functions it calls) so that it is inlined into the
/// feature-enabled frame and the loops it contains get the wider instructions.
#[inline(always)]
pub(crate) fn wide<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn run<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports the features `run` is compiled for (checked just above).
            return unsafe { run(f) };
        }
    }
    f()
}
