//! The peer benchmark: scoregeo against the PyTorch reference code on the same CPU, in one run.
//!
//! `cargo run --release --example peer_bench` (inside `flock /work/cpu.lock …` on a shared
//! machine). With a Python that has torch (`PEER_PYTHON`, default `python3`), it
//!
//! 1. has `benches/peer/peer.py make` write the reference FCN of the official ID code (D = 100,
//!    H = 512, 3 hidden layers, PyTorch's default initialisation) as a `.pth` with its description
//!    file, and loads it through scoregeo's PyTorch loader, checking that both sides compute the
//!    same scores;
//! 2. times scoregeo: the normal bundle at fixed K = 400 (the reference loop's K), the score
//!    Jacobian with its singular values, FLIPD (8 Hutchinson probes), DSM training of the default
//!    recipe, the network's GFLOP/s and the best f32 GEMM (2048², faer or gemm, all threads);
//! 3. has `peer.py bench` time the same in PyTorch, and prints both with their ratios.
//!
//! Without torch it says so, builds the same architecture with seeded weights natively and prints
//! scoregeo's own figures. `PEER_POINTS` sets the normal-bundle points (default 200),
//! `PEER_TRAIN_STEPS` the timed training steps (default 300). To compare another normal-bundle
//! setting (an adaptive sample count, say), add it to `nb_variants` below.

use candle_core::Device;
use faer::Mat;
use rayon::prelude::*;
use scoregeo::id::{Derivative, Flipd, JacobianSpectrum, NormalBundle, PointSelection};
use scoregeo::linalg::singular_values_via_gram;
use scoregeo::progress::Progress::Hidden;
use scoregeo::score::mlp::{Activation, MlpConfig, Prediction, TimeInput};
use scoregeo::score::{Loader, ScoreModel};
use scoregeo::train::TrainParams;
use scoregeo::{Dataset, Sde};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

// the benches' timing, seeded-weight and environment helpers
#[path = "../benches/common/mod.rs"]
mod bench_common;
use bench_common::{best_of, env_or};

type Res<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const D: usize = 100;
const H: usize = 512;
const K: usize = 400;
const T0: f64 = 1e-3;

/// Seeded n × D points with entries in [−1, 1).
fn points(n: usize, seed: u64) -> Dataset {
    bench_common::uniform_points(n, D, seed)
}

/// The reference FCN's configuration as scoregeo loads it (ELU, 999·t, noise, VE 0.01…4).
fn reference_config() -> MlpConfig {
    MlpConfig {
        activation: Activation::Elu,
        time_input: TimeInput::Scaled { factor: 999.0 },
        prediction: Prediction::Noise,
        ..MlpConfig::new(
            D,
            H,
            4,
            Sde::Ve {
                sigma_min: 0.01,
                sigma_max: 4.0,
            },
        )
    }
}

/// The reference architecture with seeded U(±1/√fan_in) weights, for runs without torch.
fn native_reference() -> Res<Box<dyn ScoreModel>> {
    Ok(Box::new(bench_common::seeded_mlp(reference_config(), 7)))
}

/// The best f32 GEMM of two 2048² matrices on all threads: faer's or gemm's, GFLOP/s.
fn gemm_peak() -> f64 {
    let n = 2048;
    let a = Mat::<f32>::from_fn(n, n, |i, j| ((i + j) % 7) as f32 * 0.1);
    let b = Mat::<f32>::from_fn(n, n, |i, j| ((i * j) % 5) as f32 * 0.1);
    let mut c = Mat::<f32>::zeros(n, n);
    let faer_t = best_of(5, || {
        faer::linalg::matmul::matmul(
            c.as_mut(),
            faer::Accum::Replace,
            a.as_ref(),
            b.as_ref(),
            1.0,
            faer::Par::rayon(0),
        )
    });
    let mut cv = vec![0f32; n * n];
    let (av, bv): (Vec<f32>, Vec<f32>) = (
        (0..n * n).map(|k| (k % 7) as f32 * 0.1).collect(),
        (0..n * n).map(|k| (k % 5) as f32 * 0.1).collect(),
    );
    let gemm_t = best_of(5, || {
        // SAFETY: all three buffers hold n × n row-major f32 and do not overlap
        unsafe {
            gemm::gemm(
                n,
                n,
                n,
                cv.as_mut_ptr(),
                1,
                n as isize,
                false,
                av.as_ptr(),
                1,
                n as isize,
                bv.as_ptr(),
                1,
                n as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::Rayon(0),
            )
        }
    });
    2.0 * (n as f64).powi(3) / faer_t.min(gemm_t) / 1e9
}

/// scoregeo's figures on `model`.
struct Figures {
    nb: Vec<(String, f64)>,
    /// Points where the adaptive reading equals the fixed-K one, of all.
    nb_same_ids: (usize, usize),
    gram_share: f64,
    network_gflops: f64,
    jacobian_ms: f64,
    flipd_jvp_ms: f64,
    flipd_fd_ms: f64,
    flipd_vjp_ms: f64,
    train_steps_per_s: f64,
    gemm_gflops: f64,
}

fn measure(model: &dyn ScoreModel, nb_points: usize, train_steps: usize) -> Res<Figures> {
    let config = reference_config();
    let flops_per_row = config.flops_per_point();

    // 1. the normal bundle at the reference loop's fixed K; further variants go here
    let data = points(nb_points, 2);
    let nb_with = |adaptive: bool| {
        NormalBundle::params()
            .progress(Hidden)
            .samples(K)
            .adaptive(adaptive)
            .points(PointSelection::All)
            .keep_spectra(false)
            .check()
    };
    // the seeded weights resolve no manifold, so adaptive points rarely stop at K/2: the
    // second row shows what the decision costs when it does not pay
    let nb_variants: Vec<(String, NormalBundle)> = vec![
        (
            format!("normal bundle, K = {K} fixed, {nb_points} points"),
            nb_with(false)?,
        ),
        (
            format!("normal bundle, K ≤ {K} adaptive (the default)"),
            nb_with(true)?,
        ),
    ];
    let mut nb = Vec::new();
    let mut nb_fixed_s = 0.0;
    for (label, est) in &nb_variants {
        est.fit(model, &data.select(&[0, 1]))?; // warm-up
        let t = best_of(2, || est.fit(model, &data).expect("nb runs"));
        if nb.is_empty() {
            nb_fixed_s = t;
        }
        nb.push((label.clone(), nb_points as f64 / t));
    }
    // the savings must keep the answers: the adaptive local IDs against the fixed K's
    let ids = |est: &NormalBundle| est.fit(model, &data).map(|e| e.local_ids());
    let (fixed_ids, adaptive_ids) = (ids(&nb_variants[0].1)?, ids(&nb_variants[1].1)?);
    let same = fixed_ids
        .iter()
        .zip(&adaptive_ids)
        .filter(|(a, b)| a == b)
        .count();
    let nb_same_ids = (same, fixed_ids.len());

    // 2. the Gram/eigen step alone on one batch of 40 points' scores, as a share of nb
    let per_batch = 16_384 / K;
    let x = Mat::from_fn(per_batch * K, D, |i, j| {
        data.row((i / K) % nb_points)[j] + 0.02 * (((i * 31 + j * 17) % 13) as f64 - 6.0) / 6.0
    });
    let s = model.score(x.as_ref(), T0)?;
    let t_gram = best_of(3, || {
        (0..per_batch)
            .into_par_iter()
            .map(|p| singular_values_via_gram(s.as_ref().subrows(p * K, K)).expect("gram"))
            .collect::<Vec<_>>()
    });
    let gram_share = t_gram / per_batch as f64 / (nb_fixed_s / nb_points as f64);

    // 3. the network alone
    let rows = Mat::from_fn(16_000, D, |i, j| {
        ((i * 13 + j * 7) % 17) as f64 / 17.0 - 0.5
    });
    model.score(rows.as_ref(), T0)?;
    let t_net = best_of(3, || model.score(rows.as_ref(), T0).expect("score"));
    let network_gflops = 16_000.0 * flops_per_row / t_net / 1e9;

    // 4. Jacobian spectra and FLIPD per point
    let jac_data = points(128, 3);
    let jac = JacobianSpectrum::params().progress(Hidden).check()?;
    let jacobian_ms = best_of(2, || jac.fit(model, &jac_data).expect("jacobian")) / 128.0 * 1e3;
    let flipd_data = points(1024, 4);
    // one σ on both sides, as the reference computes it (the default's 2σ stability read is off)
    let one_sigma = Flipd::params().progress(Hidden).scale_check(false);
    let flipd = one_sigma.clone().check()?;
    let flipd_jvp_ms = best_of(2, || flipd.fit(model, &flipd_data).expect("flipd")) / 1024.0 * 1e3;
    let flipd = one_sigma
        .clone()
        .derivative(Derivative::Difference)
        .check()?;
    let flipd_fd_ms = best_of(2, || flipd.fit(model, &flipd_data).expect("flipd")) / 1024.0 * 1e3;
    let flipd = one_sigma.derivative(Derivative::Autodiff).check()?;
    let flipd_vjp_ms = best_of(2, || flipd.fit(model, &flipd_data).expect("flipd")) / 1024.0 * 1e3;

    // 5. DSM training of the default recipe on 5000 points in ℝ¹⁰⁰
    let train_data = points(5000, 5);
    let mut session = TrainParams::default()
        .steps(1_000_000)
        .eval_every(1_000_000)
        .check()?
        .start(&train_data)?;
    session.set_progress(Hidden);
    session.run_for(20, None)?;
    let t = Instant::now();
    session.run_for(train_steps as u64, None)?;
    let train_steps_per_s = train_steps as f64 / t.elapsed().as_secs_f64();

    Ok(Figures {
        nb,
        nb_same_ids,
        gram_share,
        network_gflops,
        jacobian_ms,
        flipd_jvp_ms,
        flipd_fd_ms,
        flipd_vjp_ms,
        train_steps_per_s,
        gemm_gflops: gemm_peak(),
    })
}

/// The largest |scoregeo − PyTorch| over the largest |PyTorch| on the check points.
fn check_scores(model: &dyn ScoreModel, check: &Path) -> Res<f64> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(check)?)?;
    let t = v["t"].as_f64().ok_or("check.json: t")?;
    let rows = |key: &str| -> Res<Vec<Vec<f64>>> { Ok(serde_json::from_value(v[key].clone())?) };
    let (x, want) = (rows("x")?, rows("scores")?);
    let got = model.score(Dataset::from_rows(&x)?.as_mat(), t)?;
    let (mut diff, mut size) = (0f64, 0f64);
    for (i, row) in want.iter().enumerate() {
        for (j, w) in row.iter().enumerate() {
            diff = diff.max((got[(i, j)] - w).abs());
            size = size.max(w.abs());
        }
    }
    Ok(diff / size)
}

fn python() -> String {
    std::env::var("PEER_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn has_torch(py: &str) -> bool {
    Command::new(py)
        .args(["-c", "import torch"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run_python(py: &str, args: &[&str]) -> Res<String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/peer/peer.py");
    let out = Command::new(py).arg(script).args(args).output()?;
    if !out.status.success() {
        return Err(format!(
            "peer.py {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8(out.stdout)?)
}

fn main() -> Res<()> {
    let nb_points = env_or("PEER_POINTS", 200);
    let train_steps = env_or("PEER_TRAIN_STEPS", 300);
    let py = python();
    let threads = rayon::current_num_threads();
    if !has_torch(&py) {
        println!("PyTorch not found (`{py} -c 'import torch'` failed; set PEER_PYTHON to a Python with torch).");
        println!("scoregeo's own figures on the reference FCN architecture with seeded weights, {threads} threads:\n");
        let model = native_reference()?;
        let f = measure(model.as_ref(), nb_points, train_steps)?;
        for (label, pps) in &f.nb {
            println!("{label:<52} {pps:>10.1} points/s");
        }
        println!(
            "{:<52} {:>10} of {}",
            "adaptive local IDs equal to the fixed K's", f.nb_same_ids.0, f.nb_same_ids.1
        );
        println!(
            "{:<52} {:>10.1} %",
            "Gram/eigen share of nb",
            100.0 * f.gram_share
        );
        println!(
            "{:<52} {:>10.3} ms/point",
            "score Jacobian + singular values", f.jacobian_ms
        );
        println!(
            "{:<52} {:>10.4} ms/point",
            "FLIPD, 8 probes, JVPs (the default)", f.flipd_jvp_ms
        );
        println!(
            "{:<52} {:>10.4} ms/point",
            "FLIPD, 8 probes, central differences", f.flipd_fd_ms
        );
        println!(
            "{:<52} {:>10.4} ms/point",
            "FLIPD, 8 probes, VJPs", f.flipd_vjp_ms
        );
        println!(
            "{:<52} {:>10.1} steps/s",
            "DSM training, default recipe (D = 100)", f.train_steps_per_s
        );
        println!(
            "{:<52} {:>10.1} GFLOP/s ({:.2} of the GEMM)",
            "network (16 000 rows)",
            f.network_gflops,
            f.network_gflops / f.gemm_gflops
        );
        println!(
            "{:<52} {:>10.1} GFLOP/s",
            "best f32 GEMM 2048²", f.gemm_gflops
        );
        return Ok(());
    }

    let dir = tempfile::tempdir()?;
    let d = dir.path().to_str().ok_or("temporary path")?;
    run_python(&py, &["make", "--dir", d])?;
    let model = Loader::new(dir.path().join("fcn.pth"))
        .device(Device::Cpu)
        .load()?;
    let agreement = check_scores(model.as_ref(), &dir.path().join("check.json"))?;
    let f = measure(model.as_ref(), nb_points, train_steps)?;
    let torch: serde_json::Value = serde_json::from_str(&run_python(
        &py,
        &[
            "bench",
            "--dir",
            d,
            "--points",
            &nb_points.to_string(),
            "--train-steps",
            &train_steps.to_string(),
        ],
    )?)?;
    let tf = |key: &str| torch[key].as_f64().unwrap_or(f64::NAN);

    println!(
        "peer benchmark, one run: scoregeo ({threads} rayon threads) vs PyTorch {} ({} threads)",
        torch["torch"].as_str().unwrap_or("?"),
        torch["threads"]
    );
    println!("model: {}", model.describe());
    println!(
        "same weights: scores agree to {agreement:.1e} (max relative difference, 64 points)\n"
    );
    println!("| work | scoregeo | PyTorch | ratio |");
    println!("|---|---|---|---|");
    let (label, pps) = &f.nb[0];
    println!(
        "| {label} | {pps:.1} points/s | {:.1} points/s (plain loop, svdvals) | {:.2}× |",
        tf("nb_points_per_s"),
        pps / tf("nb_points_per_s")
    );
    for (label, pps) in &f.nb[1..] {
        println!(
            "| {label} | {pps:.1} points/s | (fixed K: {:.1}) | {:.2}× |",
            tf("nb_points_per_s"),
            pps / tf("nb_points_per_s")
        );
    }
    println!(
        "| score Jacobian + singular values, per point | {:.3} ms | {:.3} ms (vmap(jacrev)) | {:.2}× |",
        f.jacobian_ms,
        tf("jacobian_ms_per_point"),
        tf("jacobian_ms_per_point") / f.jacobian_ms
    );
    println!(
        "| FLIPD, 8 Hutchinson probes, per point | {:.4} ms (forward-mode JVPs, the default) | {:.4} ms (VJPs) | {:.2}× |",
        f.flipd_jvp_ms,
        tf("flipd_ms_per_point"),
        tf("flipd_ms_per_point") / f.flipd_jvp_ms
    );
    println!(
        "| FLIPD, central differences, per point | {:.4} ms | {:.4} ms (VJPs) | {:.2}× |",
        f.flipd_fd_ms,
        tf("flipd_ms_per_point"),
        tf("flipd_ms_per_point") / f.flipd_fd_ms
    );
    println!(
        "| FLIPD with VJPs, per point | {:.4} ms | {:.4} ms | {:.2}× |",
        f.flipd_vjp_ms,
        tf("flipd_ms_per_point"),
        tf("flipd_ms_per_point") / f.flipd_vjp_ms
    );
    println!(
        "| DSM training, default architecture, batch 256 | {:.1} steps/s | {:.1} steps/s | {:.2}× |",
        f.train_steps_per_s,
        tf("train_steps_per_s"),
        f.train_steps_per_s / tf("train_steps_per_s")
    );
    println!(
        "| f32 GEMM 2048² | {:.1} GFLOP/s | {:.1} GFLOP/s | {:.2}× |",
        f.gemm_gflops,
        tf("sgemm_gflops"),
        f.gemm_gflops / tf("sgemm_gflops")
    );
    println!(
        "| network (reference FCN, 16 000 rows) | {:.1} GFLOP/s = {:.2} of the GEMM | {:.1} GFLOP/s = {:.2} of its sgemm | {:.2}× |",
        f.network_gflops,
        f.network_gflops / f.gemm_gflops,
        tf("network_gflops"),
        tf("network_gflops") / tf("sgemm_gflops"),
        f.network_gflops / tf("network_gflops")
    );
    println!(
        "\nGram/eigen step: {:.1} % of scoregeo's normal-bundle time",
        100.0 * f.gram_share
    );
    println!(
        "adaptive normal bundle: the fixed K's local ID at {} of {} points",
        f.nb_same_ids.0, f.nb_same_ids.1
    );
    Ok(())
}
