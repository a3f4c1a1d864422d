//! The graph products of the spatial unit, rows of joints times a (V × V) adjacency matrix, as a register-
//! blocked kernel: the `gemm` crate ran them as (·) × 25 × 25 products, every tile a masked 32-row one with a
//! 25-long reduction (7 % of ST-GCN inference), and their (K·Cin)-row result went through memory once more.
//!
//! out (n × V) (+)= inp (n × V) · M (V × V), both row-major and contiguous: with AVX-512 eight rows at a time
//! in 16 registers of 16 lanes (V ≤ 32; the last lane vector stored under a mask); with AVX2 and FMA only
//! (AMD EPYCs whose hypervisor hides AVX-512) the same loop in 8-lane vectors, two to eight rows at a time;
//! else one single-threaded call of the crate. Both SIMD kernels add each output's V products in the same
//! order, one fused multiply-add at a time, so they give the same bits.

use super::matmul::{gemm_single, View};

/// A (V × V) matrix with its rows padded to whole 16-lane vectors (zeros), as the kernel reads it.
pub(crate) struct Padded {
    v: usize,
    /// floats per padded row: V rounded up to 16
    lanes: usize,
    data: Vec<f32>,
}

impl Padded {
    /// `m` (V × V, row-major), or its transpose when `transpose`.
    pub fn new(m: &[f32], v: usize, transpose: bool) -> Self {
        assert_eq!(m.len(), v * v, "adjacency: {} values for {v}x{v}", m.len());
        let lanes = v.next_multiple_of(16).max(16);
        let mut data = vec![0f32; v * lanes];
        for i in 0..v {
            for j in 0..v {
                data[i * lanes + j] = if transpose {
                    m[j * v + i]
                } else {
                    m[i * v + j]
                };
            }
        }
        Padded { v, lanes, data }
    }

    /// out (n × V) (+)= inp (n × V) · self for n = inp.len() / V.
    pub fn rows_times(&self, inp: &[f32], out: &mut [f32], accumulate: bool) {
        let v = self.v;
        assert!(
            inp.len() == out.len() && inp.len().is_multiple_of(v),
            "adjacency: {} input and {} output values for rows of {v}",
            inp.len(),
            out.len()
        );
        #[cfg(target_arch = "x86_64")]
        if self.lanes <= 32 && std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked); the slices hold n whole rows (checked above).
            unsafe { avx512::rows_times(self, inp, out, accumulate) };
            return;
        }
        if !self.rows_times_avx2(inp, out, accumulate) {
            self.rows_times_crate(inp, out, accumulate)
        }
    }

    /// The AVX2/FMA kernel when the CPU has both and V ≤ 32 (false, and nothing written, otherwise).
    fn rows_times_avx2(&self, inp: &[f32], out: &mut [f32], accumulate: bool) -> bool {
        #[cfg(target_arch = "x86_64")]
        if self.lanes <= 32
            && std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA (checked); V ≤ 32; the caller checked the slices hold whole rows.
            unsafe { avx2::rows_times(self, inp, out, accumulate) };
            return true;
        }
        let _ = (inp, out, accumulate);
        false
    }

    /// Without AVX2 (or for V > 32): the `gemm` crate's own kernels, as before this kernel existed.
    fn rows_times_crate(&self, inp: &[f32], out: &mut [f32], accumulate: bool) {
        let (v, lanes) = (self.v, self.lanes);
        let m = View {
            data: &self.data,
            rs: lanes,
            cs: 1,
        };
        gemm_single(
            out,
            accumulate,
            (inp.len() / v, v, v),
            View::rows(inp, v),
            m,
        );
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::Padded;
    use std::arch::x86_64::*;

    /// Rows per register block: 8 rows × 2 lane vectors = 16 accumulators of the 32 registers.
    const ROWS: usize = 8;

    /// # Safety
    /// AVX-512F must be available; inp and out hold the same whole number of V-float rows; V ≤ 32.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn rows_times(m: &Padded, inp: &[f32], out: &mut [f32], accumulate: bool) {
        let v = m.v;
        let n = inp.len() / v;
        let (ip, op) = (inp.as_ptr(), out.as_mut_ptr());
        if m.lanes == 16 {
            blocks::<1>(m, ip, op, n, accumulate);
        } else {
            blocks::<2>(m, ip, op, n, accumulate);
        }
    }

    /// Rows in blocks of 8, the rest in blocks of 4, 2 and 1 (one row alone is a chain of dependent FMAs,
    /// a quarter of the speed of a block of 8).
    ///
    /// # Safety
    /// As for [`rows_times`], with 16·L = m.lanes.
    #[target_feature(enable = "avx512f")]
    unsafe fn blocks<const L: usize>(
        m: &Padded,
        ip: *const f32,
        op: *mut f32,
        n: usize,
        acc: bool,
    ) {
        let v = m.v;
        let mut i = 0;
        // SAFETY (all calls): rows i..i + R of both buffers lie inside them (i + R ≤ n).
        while i + ROWS <= n {
            block::<L, ROWS>(m, ip.add(i * v), op.add(i * v), acc);
            i += ROWS;
        }
        if i + 4 <= n {
            block::<L, 4>(m, ip.add(i * v), op.add(i * v), acc);
            i += 4;
        }
        if i + 2 <= n {
            block::<L, 2>(m, ip.add(i * v), op.add(i * v), acc);
            i += 2;
        }
        if i < n {
            block::<L, 1>(m, ip.add(i * v), op.add(i * v), acc);
        }
    }

    /// R consecutive rows with L lane vectors each (16·L = m.lanes); the last vector of a row under the mask
    /// of its V − 16·(L − 1) valid lanes, so nothing beyond a row's V floats is read or written.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn block<const L: usize, const R: usize>(
        m: &Padded,
        inp: *const f32,
        out: *mut f32,
        accumulate: bool,
    ) {
        let v = m.v;
        let tail: __mmask16 = ((1u32 << (v - 16 * (L - 1))) - 1) as __mmask16;
        let mask = |l: usize| if l + 1 == L { tail } else { !0 };
        let mut acc = [[_mm512_setzero_ps(); L]; R];
        if accumulate {
            for (r, acc_r) in acc.iter_mut().enumerate() {
                for (l, a) in acc_r.iter_mut().enumerate() {
                    *a = _mm512_maskz_loadu_ps(mask(l), out.add(r * v + 16 * l));
                }
            }
        }
        let mp = m.data.as_ptr();
        for j in 0..v {
            let mut row = [_mm512_setzero_ps(); L];
            for (l, x) in row.iter_mut().enumerate() {
                *x = _mm512_loadu_ps(mp.add(j * m.lanes + 16 * l));
            }
            for (r, acc_r) in acc.iter_mut().enumerate() {
                let x = _mm512_set1_ps(*inp.add(r * v + j));
                for (a, &mv) in acc_r.iter_mut().zip(&row) {
                    *a = _mm512_fmadd_ps(x, mv, *a);
                }
            }
        }
        for (r, acc_r) in acc.iter().enumerate() {
            for (l, &a) in acc_r.iter().enumerate() {
                _mm512_mask_storeu_ps(out.add(r * v + 16 * l), mask(l), a);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::Padded;
    use std::arch::x86_64::*;

    /// # Safety
    /// AVX2 and FMA must be available; inp and out hold the same whole number of V-float rows; V ≤ 32.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn rows_times(m: &Padded, inp: &[f32], out: &mut [f32], accumulate: bool) {
        let n = inp.len() / m.v;
        let (ip, op) = (inp.as_ptr(), out.as_mut_ptr());
        // L lane vectors per row, R rows per block: R·L accumulators + L matrix vectors + 1 broadcast ≤ 16.
        match m.v.div_ceil(8) {
            1 => blocks::<1, 8>(m, ip, op, n, accumulate),
            2 => blocks::<2, 4>(m, ip, op, n, accumulate),
            3 => blocks::<3, 3>(m, ip, op, n, accumulate),
            _ => blocks::<4, 2>(m, ip, op, n, accumulate),
        }
    }

    /// Rows in blocks of R, the rest one at a time.
    ///
    /// # Safety
    /// As for [`rows_times`], with 8·(L − 1) < V ≤ 8·L.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn blocks<const L: usize, const R: usize>(
        m: &Padded,
        ip: *const f32,
        op: *mut f32,
        n: usize,
        acc: bool,
    ) {
        let v = m.v;
        let mut i = 0;
        // SAFETY (both calls): rows i..i + R (or i) of both buffers lie inside them.
        while i + R <= n {
            block::<L, R>(m, ip.add(i * v), op.add(i * v), acc);
            i += R;
        }
        while i < n {
            block::<L, 1>(m, ip.add(i * v), op.add(i * v), acc);
            i += 1;
        }
    }

    /// R consecutive rows with L lane vectors each; the last vector of a row loaded and stored under the mask
    /// of its V − 8·(L − 1) valid lanes, so nothing beyond a row's V floats is read or written (the padded
    /// matrix rows hold at least 8·L floats).
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn block<const L: usize, const R: usize>(
        m: &Padded,
        inp: *const f32,
        out: *mut f32,
        accumulate: bool,
    ) {
        let v = m.v;
        let valid = _mm256_set1_epi32((v - 8 * (L - 1)) as i32);
        let tail = _mm256_cmpgt_epi32(valid, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        let mut acc = [[_mm256_setzero_ps(); L]; R];
        if accumulate {
            for (r, acc_r) in acc.iter_mut().enumerate() {
                for (l, a) in acc_r.iter_mut().enumerate() {
                    let p = out.add(r * v + 8 * l);
                    *a = if l + 1 == L {
                        _mm256_maskload_ps(p, tail)
                    } else {
                        _mm256_loadu_ps(p)
                    };
                }
            }
        }
        let mp = m.data.as_ptr();
        for j in 0..v {
            let mut row = [_mm256_setzero_ps(); L];
            for (l, x) in row.iter_mut().enumerate() {
                *x = _mm256_loadu_ps(mp.add(j * m.lanes + 8 * l));
            }
            for (r, acc_r) in acc.iter_mut().enumerate() {
                let x = _mm256_set1_ps(*inp.add(r * v + j));
                for (a, &mv) in acc_r.iter_mut().zip(&row) {
                    *a = _mm256_fmadd_ps(x, mv, *a);
                }
            }
        }
        for (r, acc_r) in acc.iter().enumerate() {
            for (l, &a) in acc_r.iter().enumerate() {
                let p = out.add(r * v + 8 * l);
                if l + 1 == L {
                    _mm256_maskstore_ps(p, tail, a);
                } else {
                    _mm256_storeu_ps(p, a);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: u64) -> Vec<f32> {
        (0..len)
            .map(|i| {
                let h = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    ^ seed.wrapping_mul(0xD1B5_4A32_D192_ED03);
                ((h >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect()
    }

    /// Which kernel a test runs: the dispatch (AVX-512 where the CPU has it), the AVX2 one, the crate's.
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Path {
        Best,
        Avx2,
        Crate,
    }

    fn run(p: &Padded, path: Path, x: &[f32], out: &mut [f32], accumulate: bool) -> bool {
        match path {
            Path::Best => p.rows_times(x, out, accumulate),
            Path::Avx2 => return p.rows_times_avx2(x, out, accumulate),
            Path::Crate => p.rows_times_crate(x, out, accumulate),
        }
        true
    }

    #[test]
    fn rows_times_a_padded_matrix_equal_the_definition() {
        // V of one lane vector (AVX2's and AVX-512's), of a full and a partial second one, of three and four
        // 8-lane vectors, and beyond the SIMD paths (33); row counts below, at and past every row block; each
        // kernel this CPU can run.
        for v in [5, 8, 16, 20, 25, 32, 33] {
            for n in [1, 2, 3, 7, 8, 19] {
                let (m, x, old) = (values(v * v, 1), values(n * v, 2), values(n * v, 3));
                for transpose in [false, true] {
                    let p = Padded::new(&m, v, transpose);
                    for (accumulate, path) in [false, true]
                        .into_iter()
                        .flat_map(|a| [Path::Best, Path::Avx2, Path::Crate].map(|p| (a, p)))
                    {
                        let mut out = old.clone();
                        if !run(&p, path, &x, &mut out, accumulate) {
                            assert!(out == old, "{path:?} declined but wrote");
                            continue;
                        }
                        for i in 0..n {
                            for j in 0..v {
                                let mut e: f64 = if accumulate {
                                    old[i * v + j] as f64
                                } else {
                                    0.0
                                };
                                for t in 0..v {
                                    let mtj = if transpose {
                                        m[j * v + t]
                                    } else {
                                        m[t * v + j]
                                    };
                                    e += x[i * v + t] as f64 * mtj as f64;
                                }
                                let got = out[i * v + j] as f64;
                                assert!(
                                    (got - e).abs() < 1e-5 * (1.0 + e.abs()),
                                    "V {v}, {n} rows, transpose {transpose}, accumulate {accumulate}, {path:?}: \
                                     ({i}, {j}) is {got}, expected {e}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_avx2_kernel_gives_the_dispatched_kernels_bits() {
        // A model trained where AVX-512 is hidden (or absent) rounds its graph products as one trained where it
        // is not: both SIMD kernels add the V products of an output in the same order. Where the CPU has no
        // AVX2 there is nothing to compare.
        for v in [7, 18, 25, 32] {
            let (m, x, old) = (values(v * v, 4), values(21 * v, 5), values(21 * v, 6));
            let p = Padded::new(&m, v, false);
            for accumulate in [false, true] {
                let (mut best, mut avx2) = (old.clone(), old.clone());
                p.rows_times(&x, &mut best, accumulate);
                if p.rows_times_avx2(&x, &mut avx2, accumulate) {
                    let same = best
                        .iter()
                        .zip(&avx2)
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(
                        same,
                        "V {v}, accumulate {accumulate}: the AVX2 kernel rounds differently"
                    );
                }
            }
        }
    }
}
