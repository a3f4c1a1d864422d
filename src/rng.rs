//! Seeded random numbers. candle's CPU RNG cannot be seeded, so every random draw in skelcam comes from here.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// A seeded generator for one purpose: the same (seed, stream) always gives the same numbers.
pub fn rng_for(seed: u64, stream: u64) -> StdRng {
    // SplitMix64-style mixing so that nearby (seed, stream) pairs give unrelated generators.
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    StdRng::seed_from_u64(z ^ (z >> 31))
}

/// Uniform in [lo, hi).
pub fn uniform(rng: &mut StdRng, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * rng.random::<f32>()
}

/// Standard normal sample (Box-Muller).
pub fn normal(rng: &mut StdRng) -> f32 {
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

/// A random permutation of 0..n (Fisher-Yates).
pub fn permutation(rng: &mut StdRng, n: usize) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        p.swap(i, j);
    }
    p
}
