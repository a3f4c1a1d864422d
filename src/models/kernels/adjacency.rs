//! The graph products of the spatial unit, rows of joints times a (V × V) adjacency matrix, as a register-
//! blocked kernel: the `gemm` crate ran them as (·) × 25 × 25 products, every tile a masked 32-row one with a
//! 25-long reduction (7 % of ST-GCN inference), and their (K·Cin)-row result went through memory once more.
//!
//! out (n × V) (+)= inp (n × V) · M (V × V), both row-major and contiguous: with AVX-512 eight rows at a time
//! in 16 registers of 16 lanes (V ≤ 32; the last lane vector stored under a mask), else one single-threaded
//! call of the crate (its AVX2/FMA kernels, as before).

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
        self.rows_times_crate(inp, out, accumulate)
    }

    /// Without AVX-512 (or for V > 32): the `gemm` crate's own kernels, as before this kernel existed.
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

    #[test]
    fn rows_times_a_padded_matrix_equal_the_definition() {
        // V of one lane vector, of a full and a partial second one, and beyond the SIMD path (33); row
        // counts below, at and past the 8-row blocks; the AVX-512 kernel where the CPU has it and the crate's.
        for v in [5, 16, 20, 25, 32, 33] {
            for n in [1, 7, 8, 19] {
                let (m, x, old) = (values(v * v, 1), values(n * v, 2), values(n * v, 3));
                for transpose in [false, true] {
                    let p = Padded::new(&m, v, transpose);
                    for (accumulate, crate_only) in
                        [(false, false), (true, false), (false, true), (true, true)]
                    {
                        let mut out = old.clone();
                        if crate_only {
                            p.rows_times_crate(&x, &mut out, accumulate);
                        } else {
                            p.rows_times(&x, &mut out, accumulate);
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
                                    "V {v}, {n} rows, transpose {transpose}, accumulate {accumulate}, crate {crate_only}: \
                                     ({i}, {j}) is {got}, expected {e}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
