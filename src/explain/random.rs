//! Uniform random scores from a seeded generator (ERASER's "Random" baseline row).

use crate::models::Encoded;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One uniform [0, 1) score per dataset token.
pub fn explain(enc: &Encoded, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..enc.n_words).map(|_| rng.gen::<f32>()).collect()
}
