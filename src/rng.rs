//! Seeded random streams that do not depend on the thread count.
//!
//! Every unit of work (a point, a probe) draws from its own stream, derived from the user's seed
//! and the unit's index, so results are identical whichever thread runs it.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The random stream of unit `index` under `seed` (independent streams via ChaCha's stream id).
pub fn stream(seed: u64, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    rng
}

/// Picks `m` distinct indices of `0..n` (all of them, in order, when m ≥ n), seeded.
pub fn choose_indices(n: usize, m: usize, seed: u64) -> Vec<usize> {
    if m >= n {
        return (0..n).collect();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x05ee_d1d5);
    let mut picked = rand::seq::index::sample(&mut rng, n, m).into_vec();
    picked.sort_unstable();
    picked
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn streams_are_distinct_and_reproducible() {
        let a: u64 = stream(7, 0).random();
        let b: u64 = stream(7, 1).random();
        assert_ne!(a, b);
        assert_eq!(a, stream(7, 0).random::<u64>());
        let idx = choose_indices(100, 10, 3);
        assert_eq!(idx.len(), 10);
        assert_eq!(idx, choose_indices(100, 10, 3));
        assert!(idx.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(choose_indices(3, 10, 0), vec![0, 1, 2]);
    }
}
