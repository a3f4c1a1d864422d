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
        drop(std::mem::take(&mut buf)); // free the smaller buffer before the larger one is allocated
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
                !pattern.is_empty() && cols.is_multiple_of(pattern.len()),
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

/// [`gemm_into`] as one single-threaded call of the crate, for small products inside tasks that already run
/// in parallel.
pub(crate) fn gemm_single(
    dst: &mut [f32],
    accumulate: bool,
    (m, n, k): (usize, usize, usize),
    a: View,
    b: View,
) {
    assert_eq!(dst.len(), m * n, "gemm: destination is not {m}x{n}");
    a.check(m, k, "left operand");
    b.check(k, n, "right operand");
    // SAFETY: dst is an initialised, exclusively borrowed m×n buffer, all of it one column block; a and b
    // were bounds-checked.
    unsafe {
        if !empty_product(dst.as_mut_ptr(), accumulate, (m, n, k)) {
            let out = Shared(dst.as_mut_ptr());
            column_block(out, n, 0, accumulate, (m, n, k), a, b.data.as_ptr(), b)
        }
    }
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

/// dst (m × n, row-major) = a (m × k) · b (k × n) (+ dst's old value when `accumulate`) where b is never
/// materialised whole: `fill(j0, w, block)` writes b's columns j0..j0 + w as a row-major (k × w) block into a
/// per-thread scratch buffer, and each block is multiplied by one single-threaded GEMM, blocks in parallel.
/// A block is sized to stay in the core's L2 cache and is read by the GEMM as it lies, without the copy
/// into the crate's panel layout that a whole patch matrix needs (that copy and the patch matrix's own
/// write were a quarter of ResNet inference). With `then`, `then(row, j0, values)` runs on each row's part of a
/// column block as soon as the block is computed, while it is still in cache: an element-wise epilogue (say
/// eval-mode batch norm) without a second pass over the output, bit for bit the same as applying it after.
pub(crate) fn gemm_blocked_b(
    dst: &mut [f32],
    accumulate: bool,
    shape: (usize, usize, usize),
    a: View,
    fill: impl Fn(usize, usize, &mut [f32]) + Sync,
    then: Option<Epilogue>,
) {
    assert_eq!(
        dst.len(),
        shape.0 * shape.1,
        "gemm: destination is not {}x{}",
        shape.0,
        shape.1
    );
    // SAFETY: dst is an initialised, exclusively borrowed m×n buffer.
    unsafe { blocked_raw(dst.as_mut_ptr(), accumulate, shape, a, fill, then) }
}

/// An element-wise step applied to finished output values in cache: `(row, first column, values)`.
pub(crate) type Epilogue<'a> = &'a (dyn Fn(usize, usize, &mut [f32]) + Sync);

/// [`gemm_blocked_b`] into a fresh buffer that the GEMMs write once, never zero-filled first.
pub(crate) fn gemm_blocked_new(
    shape: (usize, usize, usize),
    a: View,
    fill: impl Fn(usize, usize, &mut [f32]) + Sync,
) -> Vec<f32> {
    let len = shape.0 * shape.1;
    let mut out: Vec<f32> = Vec::with_capacity(len);
    // SAFETY: the capacity holds m×n floats; without accumulate every block's GEMM writes all m rows of
    // its columns without reading (k = 0: filled with zeros), and the blocks cover all n columns.
    unsafe {
        blocked_raw(out.as_mut_ptr(), false, shape, a, fill, None);
        out.set_len(len);
    }
    out
}

/// # Safety
/// `dst` must be valid for writes of m·n floats (and for reads if `accumulate`) and must not alias a.
unsafe fn blocked_raw(
    dst: *mut f32,
    accumulate: bool,
    (m, n, k): (usize, usize, usize),
    a: View,
    fill: impl Fn(usize, usize, &mut [f32]) + Sync,
    then: Option<Epilogue>,
) {
    a.check(m, k, "left operand");
    if empty_product(dst, accumulate, (m, n, k)) {
        return;
    }
    let _unpacked = UnpackedBlocks::new();
    let out = Shared(dst);
    par_column_blocks(n, block_width(k, n), |j0, w| {
        with_scratch(k * w, |block| {
            fill(j0, w, block);
            let b = View::rows(block, w);
            b.check(k, w, "right operand block");
            // SAFETY: dst (out) is valid for the m×n product and the caller's contract on reads holds; a
            // was checked for (m × k) and the block for (k × w).
            unsafe { column_block(out, n, j0, accumulate, (m, w, k), a, b.data.as_ptr(), b) };
            if let Some(then) = then {
                for r in 0..m {
                    // SAFETY: columns j0..j0 + w of every row belong to this block alone, now written.
                    then(r, j0, unsafe {
                        std::slice::from_raw_parts_mut(out.get().add(r * n + j0), w)
                    });
                }
            }
        })
    });
}

/// `f(j0, w)` for column blocks of an n-column product whose right operand has k rows, sized as
/// [`gemm_blocked_b`]'s, in parallel, while the crate's single-threaded GEMMs read their left operand in
/// place: for kernels that build their own operand blocks and multiply them with [`gemm_single`].
pub(crate) fn par_gemm_blocks(k: usize, n: usize, f: impl Fn(usize, usize) + Sync) {
    par_gemm_blocks_of(n, block_width(k, n), f)
}

/// [`par_gemm_blocks`] with blocks of `width` columns chosen by the caller (whose scratch per column is
/// not the right operand's k alone).
pub(crate) fn par_gemm_blocks_of(n: usize, width: usize, f: impl Fn(usize, usize) + Sync) {
    let _unpacked = UnpackedBlocks::new();
    par_column_blocks(n, width, f)
}

/// Blocks of `width` columns of 0..n (the last may be narrower), `f(j0, w)` for each, in parallel.
fn par_column_blocks(n: usize, width: usize, f: impl Fn(usize, usize) + Sync) {
    use rayon::prelude::*;
    (0..n.div_ceil(width)).into_par_iter().for_each(|i| {
        let j0 = i * width;
        f(j0, width.min(n - j0))
    });
}

/// Columns j0..j0 + w of the m×n row-major destination (+)= a (m × k) · the (k × w) operand at `bp` with
/// b's strides, as one single-threaded GEMM: the body of the column-split products, each task touching
/// only its own columns.
///
/// # Safety
/// `dst` must be valid for the m×n product (and initialised if `accumulate`); no other task may touch
/// columns j0..j0 + w meanwhile; a and the operand at `bp` must lie inside their buffers.
#[allow(clippy::too_many_arguments)]
unsafe fn column_block(
    dst: Shared,
    n: usize,
    j0: usize,
    accumulate: bool,
    (m, w, k): (usize, usize, usize),
    a: View,
    bp: *const f32,
    b: View,
) {
    let (ap, none) = (a.data.as_ptr(), gemm::Parallelism::None);
    call(
        dst.get().add(j0),
        (n, 1),
        accumulate,
        (m, w, k),
        ap,
        a,
        bp,
        b,
        none,
    )
}

/// While alive, the crate's single-threaded GEMMs read their (transposed) left operand in place instead of
/// copying it into panels first: right for [`gemm_blocked_b`]'s cache-resident blocks (ResNet inference
/// +4–6 % over packing them), wrong for the large operands of other products, so it is restored on drop.
/// The threshold is a process-wide atomic; a GEMM running meanwhile on another thread only changes speed,
/// never results (packing copies the operand, the arithmetic and its order stay the same).
struct UnpackedBlocks(usize);

impl UnpackedBlocks {
    fn new() -> Self {
        static DEFAULT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        let default = *DEFAULT.get_or_init(gemm::get_lhs_packing_threshold_single_thread);
        gemm::set_lhs_packing_threshold_single_thread(256);
        UnpackedBlocks(default)
    }
}

impl Drop for UnpackedBlocks {
    fn drop(&mut self) {
        gemm::set_lhs_packing_threshold_single_thread(self.0);
    }
}

/// Whether the product is empty and so already done: no output (m or n is 0), or a reduction over nothing
/// (k = 0), whose result is zero.
///
/// # Safety
/// As for [`gemm_raw`]: `dst` valid for writes of m·n floats.
unsafe fn empty_product(dst: *mut f32, accumulate: bool, (m, n, k): (usize, usize, usize)) -> bool {
    if m == 0 || n == 0 {
        return true;
    }
    if k == 0 && !accumulate {
        std::ptr::write_bytes(dst, 0, m * n);
    }
    k == 0
}

/// Columns per block of [`gemm_blocked_b`]: about 512 KiB of block (a quarter of the 2 MiB L2 here), but at
/// least 128, at most a quarter of each thread's share, and a multiple of 64: the crate's kernels fill
/// 64-row panels of the transposed product, and 16-column blocks of the deep layers, or a 48-row rest
/// panel in every block, ran far below peak.
fn block_width(k: usize, n: usize) -> usize {
    let by_cache = ((128 * 1024) / k.max(1)).max(128);
    let by_threads = n.div_ceil(4 * rayon::current_num_threads().max(1));
    by_cache.min(by_threads).next_multiple_of(64)
}

/// A raw pointer that parallel tasks may share: each writes a disjoint part of what it points to.
#[derive(Clone, Copy)]
pub(crate) struct Shared(pub(crate) *mut f32);
// SAFETY: only used to hand disjoint parts of one destination to rayon tasks.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Shared {
    /// The pointer (a method, so that closures capture the whole `Shared`, not its raw field).
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}

/// Reduction lengths at least this long are split when the output is small enough: weight gradients,
/// (Co × K) summed over N·Ho·Wo, up to 4 M outputs (512 × 4,608 over 1,568 columns: 305 -> 330 GFLOP/s),
/// other products up to 1 M (the deep layers' convolutions, 512 × 784 over 4,608: 325 -> 350; at
/// 128 × 12,544 outputs the split no longer paid: 270 -> 269).
const SPLIT_K_MIN: usize = 1024;
/// Parts of a split reduction: fixed, so that the sum's order does not depend on the thread count.
const SPLIT_K_PARTS: usize = 4;

/// # Safety
/// `dst` must be valid for writes of m·n floats (and for reads if `accumulate`) and must not alias a or b;
/// a and b must have been bounds-checked for (m × k) and (k × n).
///
/// The `gemm` crate parallelises over 64-row panels of the output, so a GEMM with few rows ran on one
/// core: a 64-channel convolution reached 116 GFLOP/s of the machine's ~300, a weight gradient (64 × 576
/// summed over 50,176 columns) 57. Such products are split here instead: into column blocks (each one
/// single-threaded GEMM, the same arithmetic per element), or, for long reductions, into 4 parts of the
/// reduction summed at the end (224 and 288 GFLOP/s; measured with the crate alone, 2 threads).
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
    if empty_product(dst, accumulate, (m, n, k)) {
        return;
    }
    let threads = rayon::current_num_threads();
    if k >= SPLIT_K_MIN
        && k >= m.min(n)
        && m * n <= if reads_b_along_k(b) { 1 << 22 } else { 1 << 20 }
    {
        split_k(dst, accumulate, m, n, k, a, b);
    } else if threads > 1 && m < 64 * threads && n >= 512 * threads {
        split_columns(dst, accumulate, m, n, k, a, b, threads);
    } else {
        let par = match threads {
            0 | 1 => gemm::Parallelism::None,
            t => gemm::Parallelism::Rayon(t),
        };
        call(
            dst,
            (n, 1),
            accumulate,
            (m, n, k),
            a.data.as_ptr(),
            a,
            b.data.as_ptr(),
            b,
            par,
        );
    }
}

/// Column blocks of the output, one single-threaded GEMM each, in parallel.
#[allow(clippy::too_many_arguments)]
unsafe fn split_columns(
    dst: *mut f32,
    accumulate: bool,
    m: usize,
    n: usize,
    k: usize,
    a: View,
    b: View,
    threads: usize,
) {
    let width = (n / (threads * 8)).clamp(256, 2048).next_multiple_of(64);
    let out = Shared(dst);
    par_column_blocks(n, width, |j0, w| {
        // SAFETY: the caller's contract for dst, a and b; b's columns from j0 lie inside b (checked for
        // all n columns by the caller), and each block touches only its own columns.
        unsafe {
            column_block(
                out,
                n,
                j0,
                accumulate,
                (m, w, k),
                a,
                b.data.as_ptr().add(j0 * b.cs),
                b,
            )
        }
    });
}

/// The reduction in [`SPLIT_K_PARTS`] slices, each one single-threaded GEMM into its own buffer, in
/// parallel, then summed into dst in order (in 64×64 tiles). When b is read along k with unit stride (the
/// transposed patch matrix of a weight gradient) the parts are column-major, which the crate runs ~1.3-1.9×
/// faster for such operands (a 64 × 576 weight gradient over 25,600 columns: 149 -> 288 GFLOP/s).
unsafe fn split_k(dst: *mut f32, accumulate: bool, m: usize, n: usize, k: usize, a: View, b: View) {
    use rayon::prelude::*;
    let slice = k.div_ceil(SPLIT_K_PARTS);
    let col_major = reads_b_along_k(b);
    let (rs, cs) = if col_major { (1, m) } else { (n, 1) };
    let partials: Vec<Vec<f32>> = (0..SPLIT_K_PARTS)
        .into_par_iter()
        .map(|p| {
            let k0 = (p * slice).min(k);
            let kk = slice.min(k - k0);
            if kk == 0 {
                return vec![0f32; m * n];
            }
            let mut part: Vec<f32> = Vec::with_capacity(m * n);
            // SAFETY: slice p reads a's columns and b's rows k0..k0 + kk (inside the checked operands) and
            // writes every element of its own m×n buffer (kk > 0, no accumulate) before set_len.
            unsafe {
                let (ap, bp) = (
                    a.data.as_ptr().add(k0 * a.cs),
                    b.data.as_ptr().add(k0 * b.rs),
                );
                let par = gemm::Parallelism::None;
                call(
                    part.as_mut_ptr(),
                    (rs, cs),
                    false,
                    (m, n, kk),
                    ap,
                    a,
                    bp,
                    b,
                    par,
                );
                part.set_len(m * n);
            }
            part
        })
        .collect();
    const TILE: usize = 64;
    let (ti, tj) = (m.div_ceil(TILE), n.div_ceil(TILE));
    let out = Shared(dst);
    (0..ti * tj).into_par_iter().for_each(|t| {
        let (i0, j0) = (t / tj * TILE, t % tj * TILE);
        for i in i0..(i0 + TILE).min(m) {
            for j in j0..(j0 + TILE).min(n) {
                // SAFETY: tile t alone touches dst's elements (i, j) of its tile, all inside m×n; dst is
                // read only when `accumulate` (then it is initialised, the caller's contract).
                unsafe {
                    let d = out.get().add(i * n + j);
                    let mut sum = if accumulate { *d } else { 0.0 };
                    for part in &partials {
                        sum += part[i * rs + j * cs];
                    }
                    *d = sum;
                }
            }
        }
    });
}

/// Whether b (k × n) has unit stride along k (a transposed row-major matrix).
fn reads_b_along_k(b: View) -> bool {
    b.rs == 1 && b.cs != 1
}

/// One `gemm` call: dst (strides (rows, columns)) = a·b (+ dst if `accumulate`), a and b starting at
/// `ap`/`bp` with the strides of their views.
#[allow(clippy::too_many_arguments)]
unsafe fn call(
    dst: *mut f32,
    (rs_dst, cs_dst): (usize, usize),
    accumulate: bool,
    (m, n, k): (usize, usize, usize),
    ap: *const f32,
    a: View,
    bp: *const f32,
    b: View,
    par: gemm::Parallelism,
) {
    gemm::gemm(
        m,
        n,
        k,
        dst,
        cs_dst as isize,
        rs_dst as isize,
        accumulate,
        ap,
        a.cs as isize,
        a.rs as isize,
        bp,
        b.cs as isize,
        b.rs as isize,
        1.0,
        1.0,
        false,
        false,
        false,
        par,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::rng::rng_for(seed, 0);
        (0..len)
            .map(|_| crate::rng::uniform(&mut rng, -0.5, 0.5))
            .collect()
    }

    /// dst (+)= a·b in f64, a row-major (m × k), b given transposed ((n × k) row-major).
    fn reference(
        dst: &[f32],
        accumulate: bool,
        m: usize,
        n: usize,
        k: usize,
        a: &[f32],
        bt: &[f32],
    ) -> Vec<f64> {
        (0..m * n)
            .map(|idx| {
                let (i, j) = (idx / n, idx % n);
                let dot: f64 = (0..k)
                    .map(|p| a[i * k + p] as f64 * bt[j * k + p] as f64)
                    .sum();
                dot + if accumulate { dst[idx] as f64 } else { 0.0 }
            })
            .collect()
    }

    fn assert_close(got: &[f32], expect: &[f64], what: &str) {
        assert_eq!(got.len(), expect.len(), "{what}: length");
        for (got, want) in got.iter().zip(expect) {
            assert!(
                (*got as f64 - want).abs() < 1e-4 * (1.0 + want.abs()),
                "{what}: {got} vs {want}"
            );
        }
    }

    fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(f)
    }

    #[test]
    fn split_products_equal_the_plain_product() {
        // (m, n, k): few rows and many columns (split into column blocks on 2 threads), a long reduction
        // (split into parts), and an ordinary product.
        for (case, &(m, n, k)) in [(5, 2100, 30), (3, 7, 3000), (70, 60, 50)]
            .iter()
            .enumerate()
        {
            let a = values(m * k, 1 + case as u64);
            let bt = values(n * k, 11 + case as u64);
            let start = values(m * n, 21 + case as u64);
            // b as a row-major (k × n) matrix too: split reductions use either layout for their parts.
            let b: Vec<f32> = (0..k * n).map(|i| bt[(i % n) * k + i / n]).collect();
            for (accumulate, b_rows) in [(false, false), (true, false), (false, true), (true, true)]
            {
                let expect = reference(&start, accumulate, m, n, k, &a, &bt);
                let bv = if b_rows {
                    View::rows(&b, n)
                } else {
                    View::transposed(&bt, k)
                };
                let mut results = Vec::new();
                for threads in [1, 2] {
                    let mut dst = start.clone();
                    in_pool(threads, || {
                        gemm_into(&mut dst, accumulate, m, n, k, View::rows(&a, k), bv)
                    });
                    assert_close(
                        &dst,
                        &expect,
                        &format!(
                            "{m}x{n}x{k} accumulate {accumulate} b rows {b_rows} threads {threads}"
                        ),
                    );
                    results.push(dst);
                }
                // Column blocks compute each element as the whole product does; the reduction parts are
                // fixed in number: either way the thread count does not change a bit.
                assert_eq!(
                    results[0], results[1],
                    "{m}x{n}x{k}: 1 and 2 threads differ"
                );
            }
        }
    }

    #[test]
    fn a_product_with_b_made_block_by_block_equals_the_plain_product() {
        // Many columns (several blocks, a short last one), a reduction longer than a block is wide.
        for (case, &(m, n, k)) in [(6, 1000, 40), (70, 300, 700)].iter().enumerate() {
            let a = values(m * k, 31 + case as u64);
            let bt = values(n * k, 41 + case as u64);
            let start = values(m * n, 51 + case as u64);
            let fill = |j0: usize, w: usize, block: &mut [f32]| {
                for (r, row) in block.chunks_exact_mut(w).enumerate() {
                    for (j, v) in row.iter_mut().enumerate() {
                        *v = bt[(j0 + j) * k + r];
                    }
                }
            };
            for accumulate in [false, true] {
                let expect = reference(&start, accumulate, m, n, k, &a, &bt);
                let mut results = Vec::new();
                for threads in [1, 2] {
                    let dst = in_pool(threads, || {
                        if accumulate {
                            let mut dst = start.clone();
                            gemm_blocked_b(
                                &mut dst,
                                true,
                                (m, n, k),
                                View::rows(&a, k),
                                fill,
                                None,
                            );
                            dst
                        } else {
                            gemm_blocked_new((m, n, k), View::rows(&a, k), fill)
                        }
                    });
                    assert_close(
                        &dst,
                        &expect,
                        &format!("{m}x{n}x{k} accumulate {accumulate} threads {threads}"),
                    );
                    results.push(dst);
                }
                assert_eq!(
                    results[0], results[1],
                    "{m}x{n}x{k}: 1 and 2 threads differ"
                );
            }
        }
    }
}
