//! Normal-bundle throughput at D = 100, K = 400, MLP width 512, depth 4.
//!
//! Prints points/s, the network's GFLOP/s as a ratio to a same-run faer f32 GEMM of the shape of
//! one hidden layer on the same batch, the share of time spent on singular values, and the
//! per-point cost of the Jacobian and FLIPD estimators relative to nb on the same model.
//! Run: `cargo bench --bench normal_bundle` (set `NB_POINTS` to change the number of points).

mod common;
use common::best_of;
use scoregeo::progress::Progress::Hidden;

use faer::Mat;
use scoregeo::data::Dataset;
use scoregeo::id::{Derivative, Flipd, JacobianSpectrum, NormalBundle, PointSelection};
use scoregeo::linalg::singular_values_via_gram;
use scoregeo::score::mlp::{MlpConfig, MlpScoreNet};
use scoregeo::score::ScoreModel;
use scoregeo::Sde;

fn main() {
    let (d, k, h, depth) = (100, 400, 512, 4);
    let n_points: usize = common::env_or("NB_POINTS", 80);
    let config = MlpConfig::new(d, h, depth, Sde::vp_default());
    let flops_per_row = config.flops_per_point();
    // fixed weights, as a loaded model has them, so the fused engine serves the network
    let (_, vm) = MlpScoreNet::init(config.clone(), &candle_core::Device::Cpu).unwrap();
    let tensors: std::collections::HashMap<String, candle_core::Tensor> = vm
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().detach()))
        .collect();
    let vb = candle_nn::VarBuilder::from_tensors(
        tensors,
        candle_core::DType::F32,
        &candle_core::Device::Cpu,
    );
    let net = MlpScoreNet::new(config, vb).unwrap();
    let data = Dataset::from_row_major(
        (0..n_points * d)
            .map(|i| ((i * 37 % 101) as f64 / 50.0) - 1.0)
            .collect(),
        n_points,
        d,
    )
    .unwrap();
    let batch_rows = 16_000; // 40 points of K = 400

    // 1. the whole estimator
    let nb = NormalBundle::params()
        .progress(Hidden)
        .samples(k)
        .batch_rows(batch_rows)
        .points(PointSelection::All)
        .check()
        .unwrap();
    let total = best_of(2, || nb.fit(&net, &data).unwrap());
    let points_per_s = n_points as f64 / total;

    // 2. the network alone on one batch
    let x = Mat::from_fn(batch_rows, d, |i, j| ((i * 13 + j * 7) % 17) as f64 / 17.0);
    let t_net = best_of(3, || net.score(x.as_ref(), 1e-3).unwrap());
    let net_gflops = batch_rows as f64 * flops_per_row / t_net / 1e9;

    // 3. a plain faer f32 GEMM of one hidden layer's shape: (rows × H)·(H × H)
    let gemm_gflops = common::layer_gemm_gflops(batch_rows, h, 3);

    // 4. singular values of every point's K×D score block
    let s = net.score(x.as_ref(), 1e-3).unwrap();
    let blocks = batch_rows / k;
    let t_svd = best_of(3, || {
        use rayon::prelude::*;
        (0..blocks)
            .into_par_iter()
            .map(|p| singular_values_via_gram(s.as_ref().subrows(p * k, k)).unwrap())
            .collect::<Vec<_>>()
    });
    let svd_share = t_svd * (n_points as f64 / blocks as f64) / total;

    // 5. the faster relatives on the same model and points (issue 5: flipd ≥ 20× cheaper than nb)
    let jac = JacobianSpectrum::params().progress(Hidden).check().unwrap();
    let t_jac = best_of(2, || jac.fit(&net, &data).unwrap());
    let flipd = Flipd::params().progress(Hidden).check().unwrap();
    let t_flipd = best_of(2, || flipd.fit(&net, &data).unwrap());
    let flipd_vjp = Flipd::params()
        .progress(Hidden)
        .derivative(Derivative::Autodiff)
        .check()
        .unwrap();
    let t_flipd_vjp = best_of(2, || flipd_vjp.fit(&net, &data).unwrap());

    println!("normal bundle, D = {d}, K = {k}, MLP width {h} depth {depth}, {n_points} points, {} threads", rayon::current_num_threads());
    println!("  throughput            {points_per_s:.2} points/s ({total:.3} s)");
    println!(
        "  network               {net_gflops:.1} GFLOP/s ({:.1} MFLOP per point)",
        flops_per_row * k as f64 / 1e6
    );
    println!("  faer f32 GEMM         {gemm_gflops:.1} GFLOP/s ({batch_rows}×{h}·{h}×{h})");
    println!("  network / GEMM        {:.2}", net_gflops / gemm_gflops);
    println!(
        "  singular-value share  {:.2}% of the total",
        100.0 * svd_share
    );
    println!(
        "  jacobian              {:.2}× cheaper per point than nb ({t_jac:.3} s)",
        total / t_jac
    );
    println!(
        "  flipd (8 probes, central differences) {:.2}× cheaper per point than nb ({t_flipd:.3} s)",
        total / t_flipd
    );
    println!(
        "  flipd (8 probes, VJP)                 {:.2}× cheaper per point than nb ({t_flipd_vjp:.3} s)",
        total / t_flipd_vjp
    );
}
