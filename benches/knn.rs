//! Exact k-NN of n × 100 points against a same-run faer GEMM of exactly the same distance blocks.
//!
//! `cargo bench --bench knn [-- N]` (or `SCOREGEO_KNN_N=N`; default N = 100 000). Both sides use the
//! same [`Blocking`] (default, or `SCOREGEO_KNN_BLOCKS=QxR`), rayon over query blocks and faer `Par::Seq` inside, so the ratio
//! k-NN time / GEMM time is the price of screening, selection and exact recomputation on top of
//! the inner products; a ratio is stable on a noisy machine where an absolute time is not.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use scoregeo::knn::{k_nearest_with, Blocking};
use scoregeo::Dataset;
use std::time::{Duration, Instant};

const DIM: usize = 100;
const K: usize = 20;

/// The distance GEMMs alone: the same blocks, threads and faer settings as `k_nearest_with`.
fn gemm_blocks(data: &Dataset, blocking: Blocking) -> f64 {
    let n = data.len();
    let all = data.as_mat();
    let starts: Vec<usize> = (0..n).step_by(blocking.queries).collect();
    starts
        .par_iter()
        .map(|&start| {
            let rows = blocking.queries.min(n - start);
            let queries: MatRef<'_, f64> = all.subrows(start, rows);
            let ref_block = blocking.references.min(n);
            let mut gram = Mat::<f64>::zeros(ref_block, rows);
            let mut checksum = 0.0;
            for r0 in (0..n).step_by(ref_block) {
                let m = ref_block.min(n - r0);
                let dst = gram.as_mut().subrows_mut(0, m);
                matmul(
                    dst,
                    Accum::Replace,
                    all.subrows(r0, m),
                    queries.transpose(),
                    1.0,
                    Par::Seq,
                );
                // Reading one entry keeps the product from being optimised away.
                checksum += gram[(0, 0)];
            }
            checksum
        })
        .sum()
}

fn size() -> usize {
    let arg = std::env::args().skip(1).find_map(|a| a.parse().ok());
    let env = std::env::var("SCOREGEO_KNN_N")
        .ok()
        .and_then(|v| v.parse().ok());
    arg.or(env).unwrap_or(100_000)
}

/// `SCOREGEO_KNN_BLOCKS=QxR` overrides the default blocking (for tuning it).
fn blocking() -> Blocking {
    let parse = |v: String| {
        let (q, r) = v.split_once('x')?;
        Some(Blocking {
            queries: q.parse().ok()?,
            references: r.parse().ok()?,
        })
    };
    std::env::var("SCOREGEO_KNN_BLOCKS")
        .ok()
        .and_then(parse)
        .unwrap_or_default()
}

fn time<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let start = Instant::now();
    let out = f();
    (start.elapsed(), out)
}

fn main() {
    let n = size();
    let mut rng = scoregeo::rng::stream(2024, 0);
    let values = (0..n * DIM)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    let data = Dataset::from_row_major(values, n, DIM).expect("finite Gaussian data");
    let blocking = blocking();
    // Alternate the two so that drift in machine load hits both; keep the best of each.
    let reps = if n <= 30_000 { 3 } else { 1 };
    let (mut best_gemm, mut best_knn) = (Duration::MAX, Duration::MAX);
    let mut checksum = 0.0;
    for _ in 0..reps {
        let (t, c) = time(|| gemm_blocks(&data, blocking));
        best_gemm = best_gemm.min(t);
        checksum += c;
        let (t, nn) = time(|| k_nearest_with(&data, K, blocking).expect("k < n"));
        best_knn = best_knn.min(t);
        checksum += nn.distances(0)[0];
    }
    let flops = 2.0 * (n as f64) * (n as f64) * DIM as f64;
    println!(
        "knn bench: n = {n}, D = {DIM}, k = {K}, blocks {}×{}, {} rayon threads, best of {reps} (checksum {checksum:.3e})",
        blocking.queries,
        blocking.references,
        rayon::current_num_threads()
    );
    println!(
        "  distance GEMM  {:>9.3} s   {:>7.2} GFLOP/s",
        best_gemm.as_secs_f64(),
        flops / best_gemm.as_secs_f64() / 1e9
    );
    println!("  exact k-NN     {:>9.3} s", best_knn.as_secs_f64());
    println!(
        "  ratio k-NN / GEMM = {:.3}",
        best_knn.as_secs_f64() / best_gemm.as_secs_f64()
    );
}
