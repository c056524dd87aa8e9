//! Timing helpers shared by the benches: every throughput is reported as a ratio to a plain faer
//! GEMM timed in the same run, because these machines are noisy.
// each bench uses its own subset
#![allow(dead_code)]

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use std::time::Instant;

/// The fastest of `reps` runs of `f`, in seconds.
pub fn best_of<T>(reps: usize, mut f: impl FnMut() -> T) -> f64 {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// GFLOP/s of a plain faer f32 GEMM of one hidden layer's shape, (rows × h)·(h × h), on every
/// rayon thread: the best of 5 runs of `reps` products each.
pub fn layer_gemm_gflops(rows: usize, h: usize, reps: usize) -> f64 {
    let a = Mat::<f32>::from_fn(rows, h, |i, j| ((i + j) % 7) as f32 * 0.1);
    let b = Mat::<f32>::from_fn(h, h, |i, j| ((i * j) % 5) as f32 * 0.1);
    let mut c = Mat::<f32>::zeros(rows, h);
    let t = best_of(5, || {
        for _ in 0..reps {
            matmul(
                c.as_mut(),
                Accum::Replace,
                a.as_ref(),
                b.as_ref(),
                1.0,
                Par::rayon(0),
            );
        }
    }) / reps as f64;
    2.0 * (rows * h * h) as f64 / t / 1e9
}
