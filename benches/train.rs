//! Training throughput at D = 100, MLP width 512, depth 4, batch 256.
//!
//! Prints samples/s of whole training steps (batch draw, forward, backward, Adam, EMA) and their
//! GFLOP/s as a ratio to a same-run faer f32 GEMM of one hidden layer's shape on the same batch.
//!
//! How FLOPs are counted: a forward pass costs 2·Σ(fan_in·fan_out) per sample over the L + 1
//! linear layers ([`MlpConfig::flops_per_point`]); the backward pass computes the gradients of
//! the weights and of the layer inputs, two GEMMs of the same size per layer, so a training step
//! costs ≈ 3× the forward FLOPs per sample. Element-wise work (activations, Adam, EMA) is not
//! counted. Run: `cargo bench --bench train` (`TRAIN_STEPS` sets the measured steps, default 30).

mod common;

use scoregeo::data::Dataset;
use scoregeo::train::TrainParams;
use std::time::Instant;

fn main() {
    let (d, h, depth, batch) = (100, 512, 4, 256);
    let steps: u64 = common::env_or("TRAIN_STEPS", 30);
    let n = 5000;
    let data = Dataset::from_row_major(
        (0..n * d)
            .map(|i| ((i * 37 % 101) as f64 / 50.0) - 1.0)
            .collect(),
        n,
        d,
    )
    .unwrap();
    let params = TrainParams::default()
        .hidden(h)
        .depth(depth)
        .batch(batch)
        .steps(1_000_000)
        .eval_every(1_000_000);
    let mut session = params.check().unwrap().start(&data).unwrap();
    session.set_progress(scoregeo::progress::Progress::Hidden);
    let flops_per_sample = 3.0 * session.config().flops_per_point();

    // warm-up (allocations, page faults), then the timed steps
    session.run_for(3, None).unwrap();
    let t = Instant::now();
    session.run_for(steps, None).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let samples_per_s = (steps as usize * batch) as f64 / secs;
    let train_gflops = samples_per_s * flops_per_sample / 1e9;

    // a plain faer f32 GEMM of one hidden layer's shape on the batch: (B × H)·(H × H)
    let gemm_gflops = common::layer_gemm_gflops(batch, h, 200);

    println!(
        "training, D = {d}, MLP width {h} depth {depth}, batch {batch}, {steps} steps, {} rayon threads, RAYON_NUM_THREADS={}",
        rayon::current_num_threads(),
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "unset".into())
    );
    println!(
        "  throughput          {samples_per_s:.0} samples/s ({:.1} ms per step)",
        1e3 * secs / steps as f64
    );
    println!(
        "  training FLOPs      {:.2} MFLOP per sample (3 × forward)",
        flops_per_sample / 1e6
    );
    println!("  training            {train_gflops:.1} GFLOP/s");
    println!("  faer f32 GEMM       {gemm_gflops:.1} GFLOP/s ({batch}×{h}·{h}×{h})");
    println!("  training / GEMM     {:.2}", train_gflops / gemm_gflops);
}
