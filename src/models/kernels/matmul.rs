//! A safe, bounds-checked front to the `gemm` crate (the GEMM candle itself uses) for the fused kernels:
//! strided operands, per-thread scratch buffers, an optional accumulate into the destination, and no zero-filled output buffer.

use std::cell::RefCell;

/// A row-major view of a matrix inside a slice: element (i, j) is `data[i·rs + j·cs]`.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl<'a> View<'a> {
    /// A contiguous row-major (rows × cols) matrix.
    pub fn rows(data: &'a [f32], cols: usize) -> View<'a> {
        View {
            data,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose of a contiguous row-major (rows × cols) matrix, read in place.
    pub fn transposed(data: &'a [f32], cols: usize) -> View<'a> {
        View {
            data,
            rs: 1,
            cs: cols,
        }
    }

    fn check(&self, rows: usize, cols: usize, what: &str) {
        if rows > 0 && cols > 0 {
            let last = (rows - 1) * self.rs + (cols - 1) * self.cs;
            assert!(
                last < self.data.len(),
                "gemm: {what} ({rows}x{cols}) lies outside its buffer"
            );
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// Run `f` on a scratch buffer of `len` floats (contents unspecified: `f` must write before it reads),
/// kept per thread between calls so large temporaries are not page-faulted in again at every op.
pub(crate) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    let mut buf = SCRATCH.with(|s| s.borrow_mut().pop()).unwrap_or_default();
    if buf.len() < len {
        buf = vec![0f32; len];
    }
    let out = f(&mut buf[..len]);
    SCRATCH.with(|s| s.borrow_mut().push(buf));
    out
}

/// A (rows × cols) row-major buffer whose row r is `row(r)` repeated (cols / pattern length) times, written
/// once in parallel without zero-filling first (the starting value of a GEMM that accumulates onto a bias).
pub(crate) fn repeated_rows(
    rows: usize,
    cols: usize,
    row: impl Fn(usize) -> Vec<f32> + Sync,
) -> Vec<f32> {
    use rayon::prelude::*;
    let mut out: Vec<f32> = Vec::with_capacity(rows * cols);
    out.spare_capacity_mut()[..rows * cols]
        .par_chunks_mut(cols.max(1))
        .enumerate()
        .for_each(|(r, dst)| {
            let pattern = row(r);
            assert!(
                !pattern.is_empty() && cols % pattern.len() == 0,
                "row pattern does not tile"
            );
            for (d, &v) in dst.iter_mut().zip(pattern.iter().cycle()) {
                d.write(v);
            }
        });
    // SAFETY: the chunks cover all rows·cols slots and each was written above (zip stops at dst's end,
    // and the cycled pattern never ends first).
    unsafe { out.set_len(rows * cols) };
    out
}

fn parallelism() -> gemm::Parallelism {
    match rayon::current_num_threads() {
        0 | 1 => gemm::Parallelism::None,
        n => gemm::Parallelism::Rayon(n),
    }
}

/// dst (m × n, row-major, contiguous) = a (m × k) · b (k × n), plus dst's old value when `accumulate`.
pub(crate) fn gemm_into(
    dst: &mut [f32],
    accumulate: bool,
    m: usize,
    n: usize,
    k: usize,
    a: View,
    b: View,
) {
    assert_eq!(dst.len(), m * n, "gemm: destination is not {m}x{n}");
    // SAFETY: dst is an initialised, exclusively borrowed m×n buffer.
    unsafe { gemm_raw(dst.as_mut_ptr(), accumulate, m, n, k, a, b) }
}

/// a (m × k) · b (k × n) into a fresh row-major buffer that is written once by the GEMM, never zero-filled
/// first (zero-filling fresh outputs was a measurable share of every training step).
pub(crate) fn gemm_new(m: usize, n: usize, k: usize, a: View, b: View) -> Vec<f32> {
    let mut out: Vec<f32> = Vec::with_capacity(m * n);
    // SAFETY: the capacity holds m×n floats; with accumulate = false the GEMM writes every one of them
    // (or the k = 0 branch fills them) without reading, so all are initialised before set_len.
    unsafe {
        gemm_raw(out.as_mut_ptr(), false, m, n, k, a, b);
        out.set_len(m * n);
    }
    out
}

/// # Safety
/// `dst` must be valid for writes of m·n floats (and for reads if `accumulate`) and must not alias a or b.
unsafe fn gemm_raw(
    dst: *mut f32,
    accumulate: bool,
    m: usize,
    n: usize,
    k: usize,
    a: View,
    b: View,
) {
    a.check(m, k, "left operand");
    b.check(k, n, "right operand");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            std::ptr::write_bytes(dst, 0, m * n);
        }
        return;
    }
    // The operands' every index was bounds-checked above (their last element).
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        n as isize,
        accumulate,
        a.data.as_ptr(),
        a.cs as isize,
        a.rs as isize,
        b.data.as_ptr(),
        b.cs as isize,
        b.rs as isize,
        1.0,
        1.0,
        false,
        false,
        false,
        parallelism(),
    )
}
