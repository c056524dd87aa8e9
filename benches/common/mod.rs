//! Timing helpers shared by the benches: every throughput is reported as a ratio to a plain faer
//! GEMM timed in the same run, because these machines are noisy.
// each bench uses its own subset
#![allow(dead_code)]

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use rand::Rng;
use scoregeo::score::mlp::{MlpConfig, MlpScoreNet};
use scoregeo::Dataset;
use std::collections::HashMap;
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

/// The value of the environment variable `name`, or `default` when it is unset or does not parse.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Seeded n × d points with entries in [−1, 1).
pub fn uniform_points(n: usize, d: usize, seed: u64) -> Dataset {
    let mut rng = scoregeo::rng::stream(seed, 0);
    let v = (0..n * d).map(|_| rng.random_range(-1.0..1.0)).collect();
    Dataset::from_row_major(v, n, d).expect("finite points")
}

/// The network of `config` with seeded U(±1/√fan_in) weights (PyTorch's default
/// initialisation), fixed as a loaded model's are, so the fused engine serves it.
pub fn seeded_mlp(config: MlpConfig, seed: u64) -> MlpScoreNet {
    let mut rng = scoregeo::rng::stream(seed, 0);
    let mut tensors = HashMap::new();
    for (name, (out, inp)) in config.weight_shapes() {
        let bound = 1.0 / (inp as f32).sqrt();
        let mut draw =
            |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-bound..bound)).collect() };
        let w = Tensor::from_vec(draw(out * inp), (out, inp), &Device::Cpu).expect("weight shape");
        let b = Tensor::from_vec(draw(out), out, &Device::Cpu).expect("bias shape");
        tensors.insert(format!("{name}.weight"), w);
        tensors.insert(format!("{name}.bias"), b);
    }
    let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
    MlpScoreNet::new(config, vb).expect("the weights match the configuration")
}
