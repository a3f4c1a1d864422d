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

/// A seed of its own for one purpose, drawn from (seed, stream): for trainings that must not share the
/// random numbers of another run with the same `--seed`.
pub fn derived_seed(seed: u64, stream: u64) -> u64 {
    rng_for(seed, stream).random::<u64>()
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

/// Every named random stream of skelcam in one table. A draw is `rng_for(seed, stream)`: the same seed and
/// stream always give the same numbers, and each purpose has its own stream, so adding a draw in one place
/// never shifts the numbers of another.
pub mod streams {
    /// Uniform fan-in initialisation of every parameter (`models::init`).
    pub const INIT: u64 = 0x1217;
    /// Kaiming initialisation of the ResNet convolutions.
    pub const INIT_CONV: u64 = 0x4a1;
    /// Epoch `e`'s shuffling, batch augmentation and dropout seeds: `EPOCH + e`.
    pub const EPOCH: u64 = 100;
    /// A fixed random occlusion pattern (`--occlude random:P`).
    pub const OCCLUDE: u64 = 0x0cc1;
    /// A fixed joint-jitter pattern (`--jitter P,SIGMA`).
    pub const JITTER: u64 = 0x717e;
    /// The held-out test part of an image folder without `test/`.
    pub const IMAGE_SPLIT: u64 = 0x1a6e;
    /// Synthetic picture `i`: `PICTURE + i`.
    pub const PICTURE: u64 = 0x5e00_0000;
    /// Whether synthetic training picture `picture_view(e, i)` is shown without its object:
    /// `EMPTY_PICTURE + picture_view(e, i)`.
    pub const EMPTY_PICTURE: u64 = 0x0e00_0000_0000_0000;
    /// Synthetic skeleton subject `s` (body proportions, speed): `SUBJECT + s`.
    pub const SUBJECT: u64 = 1_000;
    /// The random pixel order that localisation's deletion/insertion compares against, for a map of
    /// `n` × `n`: `LOCALIZE_RANDOM + n`.
    pub const LOCALIZE_RANDOM: u64 = 0xde1;
    /// The training seed of a skeleton model of input modality `k` (0 = joints, which keep `--seed`
    /// itself): `MODALITY + k` (see [`super::derived_seed`]).
    pub const MODALITY: u64 = 0x3d0d;
    /// Benchmark inputs and labels.
    pub const BENCH_INPUT: u64 = 77;
    pub const BENCH_LABELS: u64 = 78;

    /// The augmented view of training picture `item` in epoch `epoch`: its own stream, so a batch does not
    /// depend on which thread made which view.
    pub fn picture_view(epoch: usize, item: usize) -> u64 {
        ((epoch as u64) << 32) | item as u64
    }

    /// Synthetic training picture `item` drawn anew for `epoch` (added to [`PICTURE`]; far above the fixed
    /// set's streams).
    pub fn fresh_picture(epoch: usize, item: usize) -> u64 {
        ((epoch as u64 + 1) << 40) | item as u64
    }

    /// Synthetic sequence `rep` of `class` by `subject`.
    pub fn sequence(subject: u64, class: u64, rep: u64) -> u64 {
        (subject << 32) | (class << 16) | rep
    }

    /// Item `i` of a per-item stream (a dropout mask chunk, a faithfulness sample's random ranking).
    pub fn item(i: usize) -> u64 {
        i as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn the_same_seed_and_stream_repeat_and_others_differ() {
        let draw = |seed, stream| {
            let mut r = rng_for(seed, stream);
            (0..4).map(|_| r.random::<u64>()).collect::<Vec<_>>()
        };
        assert_eq!(draw(1, streams::EPOCH), draw(1, streams::EPOCH));
        assert_ne!(draw(1, streams::EPOCH), draw(1, streams::EPOCH + 1));
        assert_ne!(draw(1, streams::EPOCH), draw(2, streams::EPOCH));
    }

    #[test]
    fn permutations_uniform_and_normal_draws_are_what_they_claim() {
        let mut r = rng_for(7, 0);
        let mut p = permutation(&mut r, 50);
        p.sort_unstable();
        assert_eq!(p, (0..50).collect::<Vec<_>>());
        assert!((0..1000).all(|_| (-2.0..3.0).contains(&uniform(&mut r, -2.0, 3.0))));
        let xs: Vec<f32> = (0..20_000).map(|_| normal(&mut r)).collect();
        let mean = xs.iter().sum::<f32>() / xs.len() as f32;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / xs.len() as f32;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }

    #[test]
    fn composite_streams_keep_their_parts_apart() {
        assert_ne!(streams::picture_view(1, 0), streams::picture_view(0, 1));
        assert_ne!(streams::sequence(0, 1, 0), streams::sequence(0, 0, 1));
        assert_ne!(streams::sequence(1, 0, 0), streams::sequence(0, 1, 0));
    }
}
