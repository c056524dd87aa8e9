//! Geometry timings, each also as a ratio to a reference measured in the same run:
//!
//! 1. the closed-form pullback geodesic γ(t) = φ⁻¹((1 − t)φ(x) + tφ(y)) sampled at 100 times in
//!    D = 20 (φ = banana ∘ a random affine map), against one batched φ⁻¹ of 100 points and a
//!    faer GEMM of the same data (100×20 · 20×20);
//! 2. the numeric score-pullback geodesic with 64 nodes in D = 100 on an analytic score model
//!    (the river density exp(−½ φᵀA⁻¹φ) with φ = river ∘ a random rotation), against one
//!    batched score evaluation and one batched score VJP of the 62 interior nodes;
//! 3. the same on a Gaussian mixture (200 centres on a circle in ℝ¹⁰⁰), whose VJP goes through
//!    the D×D Jacobians of the trait's default.
//!
//! Run: `cargo bench --bench geometry`.

mod common;
use common::best_of;

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use scoregeo::geometry::{
    Affine, Composition, Diffeomorphism, FlowDensity, Metric, Preconditioner, PullbackMetric,
    ScorePullback, Shear,
};
use scoregeo::score::analytic::GaussianMixture;
use scoregeo::score::ScoreModel;
use scoregeo::{Dataset, Sde};

/// The fastest of `reps` runs, in seconds.
/// A seeded random orthogonal D×D matrix (Q of a Gaussian matrix).
fn rotation(d: usize, seed: u64) -> Mat<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Mat::from_fn(d, d, |_, _| rng.random_range(-1.0..1.0))
        .qr()
        .compute_Q()
}

fn closed_form() {
    let d = 20;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let linear = Mat::from_fn(d, d, |i, j| {
        if i == j {
            1.0
        } else {
            rng.random_range(-0.2..0.2)
        }
    });
    let shift: Vec<f64> = (0..d).map(|_| rng.random_range(-1.0..1.0)).collect();
    let phi = Composition::new(
        Affine::new(linear, shift).unwrap(),
        Shear::banana(d).unwrap(),
    )
    .unwrap();
    let variances: Vec<f64> = (0..d).map(|k| if k == 0 { 0.05 } else { 1.0 }).collect();
    let metric = PullbackMetric::closed_form(phi.clone(), &variances).unwrap();
    let x: Vec<f64> = (0..d).map(|_| rng.random_range(-2.0..2.0)).collect();
    let y: Vec<f64> = (0..d).map(|_| rng.random_range(-2.0..2.0)).collect();
    let times: Vec<f64> = (0..100).map(|k| k as f64 / 99.0).collect();
    let reps = 2000;
    let t_geodesic = best_of(reps, || metric.geodesic(&x, &y, &times).unwrap());
    let z = Mat::from_fn(100, d, |i, j| (1.0 - times[i]) * x[j] + times[i] * y[j]);
    let t_inverse = best_of(reps, || phi.inverse(z.as_ref()).unwrap());
    let b = Mat::from_fn(d, d, |i, j| ((i * 7 + j * 3) % 11) as f64 / 11.0);
    let mut c = Mat::zeros(100, d);
    let t_gemm = best_of(reps, || {
        matmul(
            c.as_mut(),
            Accum::Replace,
            z.as_ref(),
            b.as_ref(),
            1.0,
            Par::Seq,
        )
    });
    println!("closed-form geodesic, D = {d}, 100 points (φ = banana ∘ affine)");
    println!("  time per geodesic       {:.2} µs", 1e6 * t_geodesic);
    println!(
        "  / one batched φ⁻¹       {:.2} (φ⁻¹ of 100 points: {:.2} µs)",
        t_geodesic / t_inverse,
        1e6 * t_inverse
    );
    println!(
        "  / faer GEMM 100×20·20×20 {:.1} ({:.2} µs)",
        t_geodesic / t_gemm,
        1e6 * t_gemm
    );
}

/// Times one discrete geodesic from x to y (k-NN graph initialisation when `data` is given).
fn numeric<M: ScoreModel>(
    name: &str,
    model: &M,
    (x, y): (&[f64], &[f64]),
    data: Option<&Dataset>,
    pullback: &ScorePullback,
    reps: usize,
) {
    let nodes = pullback.solver().nodes();
    let metric = pullback.metric(model).unwrap();
    let from = MatRef::from_row_major_slice(x, 1, x.len());
    let to = MatRef::from_row_major_slice(y, 1, y.len());
    let mut path = None;
    let t_geodesic = best_of(reps, || {
        path = metric.solve_pairs(from, to, data).unwrap().pop();
    });
    let path = path.unwrap();
    let interior = path.nodes().subrows(1, nodes - 2).to_owned();
    let t0 = pullback.t0();
    let t_score = best_of(3 * reps, || model.score(interior.as_ref(), t0).unwrap());
    let v = model.score(interior.as_ref(), t0).unwrap();
    let t_vjp = best_of(3 * reps, || {
        model.score_vjp(interior.as_ref(), t0, v.as_ref()).unwrap()
    });
    let t_jacobians = best_of(reps, || {
        model.score_jacobians(interior.as_ref(), t0).unwrap()
    });
    let passes = path.forward_passes() + path.backward_passes();
    println!(
        "numeric score-pullback geodesic, D = {}, {nodes} nodes: {name}",
        model.dim()
    );
    println!("  time per geodesic       {:.1} ms", 1e3 * t_geodesic);
    println!(
        "  L-BFGS iterations       {} ({} forward + {} backward passes; converged {}, \
         relative gradient {:.1e}; {:?})",
        path.iterations(),
        path.forward_passes(),
        path.backward_passes(),
        path.converged(),
        path.gradient_norm(),
        path.initialisation()
    );
    println!(
        "  / one batched score     {:.0} (score of {} points: {:.3} ms; VJP {:.3} ms)",
        t_geodesic / t_score,
        nodes - 2,
        1e3 * t_score,
        1e3 * t_vjp
    );
    println!(
        "  per pass / mean(score, VJP) {:.2} (above 1: set-up, preconditioning, L-BFGS)",
        t_geodesic / passes as f64 / (0.5 * (t_score + t_vjp))
    );
    if pullback.solver().preconditioner() == Preconditioner::Metric {
        println!(
            "  score Jacobians at the {} interior nodes {:.1} ms (the metric preconditioner's set-up, \
             once per 50 iterations)",
            nodes - 2,
            1e3 * t_jacobians
        );
    }
}

fn main() {
    closed_form();

    let d = 100;
    let phi = Composition::new(
        Affine::new(rotation(d, 2), vec![0.0; d]).unwrap(),
        Shear::river(d).unwrap(),
    )
    .unwrap();
    let variances: Vec<f64> = (0..d)
        .map(|k| match k {
            0 => 0.05,
            1 => 4.0,
            _ => 1.0,
        })
        .collect();
    let river = FlowDensity::new(phi, variances).unwrap();
    let ends = river.sample(2, 3).unwrap();
    // c = a_min for a time-independent density (see geometry::score_pullback)
    let pullback = ScorePullback::params()
        .nodes(64)
        .score_scale(0.05)
        .check()
        .unwrap();
    numeric(
        "river density ∘ rotation (exact VJP)",
        &river,
        (ends.row(0), ends.row(1)),
        None,
        &pullback,
        3,
    );
    let laplacian = ScorePullback::params()
        .nodes(64)
        .score_scale(0.05)
        .preconditioner(Preconditioner::Laplacian)
        .check()
        .unwrap();
    numeric(
        "the same, Laplacian preconditioner (no Jacobians)",
        &river,
        (ends.row(0), ends.row(1)),
        None,
        &laplacian,
        3,
    );

    let q = rotation(d, 4);
    let centres: Vec<Vec<f64>> = (0..200)
        .map(|k| {
            let a = 2.0 * std::f64::consts::PI * k as f64 / 200.0;
            (0..d)
                .map(|j| a.cos() * q[(j, 0)] + a.sin() * q[(j, 1)])
                .collect()
        })
        .collect();
    let data = Dataset::from_rows(&centres).unwrap();
    let mixture = GaussianMixture::new(data.clone(), 0.0, Sde::ve(2.0)).unwrap();
    // σ(t₀) = 0.05 = 0.01·200^t₀, above the spacing 2π/200 of the centres
    let pullback = ScorePullback::params()
        .nodes(64)
        .t0(5f64.ln() / 200f64.ln())
        .check()
        .unwrap();
    numeric(
        "Gaussian mixture, 200 centres on a circle (default VJP)",
        &mixture,
        (&centres[0], &centres[70]),
        Some(&data),
        &pullback,
        1,
    );
}
