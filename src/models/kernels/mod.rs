//! Hand-written CPU kernels behind candle's `CustomOp` interface, each with a backward, where candle's
//! composition of generic ops is slow (measured by `skelcam bench`, checked against the generic path by tests).

pub mod batchnorm;
pub mod conv2d;
pub mod dropout;
pub mod gcn;
pub(crate) mod matmul;
pub mod maxpool;
pub mod residual;

pub use batchnorm::batch_norm_train;
pub use conv2d::{conv2d_cf, conv2d_cf_bias, conv2d_cf_hw, conv2d_cf_reference};
pub use dropout::dropout_bits;
pub use gcn::spatial_gcn;
pub use maxpool::max_pool2d;
pub use residual::add_relu;

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
/// i-th `chunk`-float piece (the last may be shorter) and must write every element of it, e.g. with
/// [`write_all`]; outputs that a kernel overwrites completely need no memset pass.
pub(crate) fn par_init(
    len: usize,
    chunk: usize,
    f: impl Fn(usize, &mut [std::mem::MaybeUninit<f32>]) + Sync + Send,
) -> Vec<f32> {
    use rayon::prelude::*;
    let mut out: Vec<f32> = Vec::with_capacity(len);
    out.spare_capacity_mut()[..len]
        .par_chunks_mut(chunk.max(1))
        .enumerate()
        .for_each(|(i, piece)| f(i, piece));
    // SAFETY: the pieces cover all len slots and `f` writes every element of its piece (its contract).
    unsafe { out.set_len(len) };
    out
}

/// Write `values` into every slot of `dst` (panics if they are fewer) and return it as initialised floats.
pub(crate) fn write_all(
    dst: &mut [std::mem::MaybeUninit<f32>],
    values: impl IntoIterator<Item = f32>,
) -> &mut [f32] {
    let mut values = values.into_iter();
    for d in dst.iter_mut() {
        d.write(values.next().expect("write_all: fewer values than slots"));
    }
    // SAFETY: every slot of dst was written above (the loop covers all of them or panicked).
    unsafe { &mut *(dst as *mut [std::mem::MaybeUninit<f32>] as *mut [f32]) }
}
