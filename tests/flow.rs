//! The trained anisotropic flow: exact inverse, storage, determinism, learned anisotropy, and the
//! `train-flow` / `rae` commands.

mod common;
use common::{fails_with, scoregeo, success_json, success_stdout};

use assert_cmd::Command;
use std::path::Path;

use faer::Mat;
use rand::Rng;
use rand_distr::StandardNormal;
use scoregeo::data::Dataset;
use scoregeo::geometry::{AnisotropicFlow, Diffeomorphism, FlowTrainParams, FlowTrainReport};

/// n points of a 2-D Gaussian with variances (4, 0.01) along axes rotated by 30°.
fn tilted_gaussian(n: usize, seed: u64) -> Dataset {
    let mut rng = scoregeo::rng::stream(seed, 0);
    let (s, c) = (30f64.to_radians()).sin_cos();
    let rows: Vec<Vec<f64>> = (0..n)
        .map(|_| {
            let u: f64 = 2.0 * rng.sample::<f64, _>(StandardNormal);
            let v: f64 = 0.1 * rng.sample::<f64, _>(StandardNormal);
            vec![1.0 + c * u - s * v, -2.0 + s * u + c * v]
        })
        .collect();
    Dataset::from_rows(&rows).unwrap()
}

fn quick(steps: usize, seed: u64) -> FlowTrainParams {
    FlowTrainParams::default()
        .steps(steps)
        .batch(128)
        .hidden(16)
        .layers(4)
        .seed(seed)
}

/// Trains a flow with settings that must pass their checks.
fn train(data: &scoregeo::Dataset, params: FlowTrainParams) -> (AnisotropicFlow, FlowTrainReport) {
    params.check().unwrap().fit(data).unwrap()
}

/// `scoregeo rae FLOW ARGS…`.
fn rae(flow: &Path, args: &[&str]) -> Command {
    let mut cmd = scoregeo();
    cmd.arg("rae").arg(flow).args(args);
    cmd
}

fn max_abs_diff(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    let mut m: f64 = 0.0;
    for i in 0..a.nrows() {
        for j in 0..a.ncols() {
            m = m.max((a[(i, j)] - b[(i, j)]).abs());
        }
    }
    m
}

#[test]
fn trained_flow_inverts_exactly_on_random_inputs() {
    let data = tilted_gaussian(500, 1);
    let (flow, _) = train(&data, quick(50, 3));
    let mut rng = scoregeo::rng::stream(9, 0);
    let x = Mat::from_fn(200, 2, |_, _| 3.0 * rng.sample::<f64, _>(StandardNormal));
    let z = flow.forward(x.as_ref()).unwrap();
    assert!(
        max_abs_diff(&z, &x) > 1e-3,
        "training moved φ away from the identity"
    );
    let back = flow.inverse(z.as_ref()).unwrap();
    assert!(
        max_abs_diff(&back, &x) < 1e-5,
        "{}",
        max_abs_diff(&back, &x)
    );
    let fwd = flow
        .forward(flow.inverse(x.as_ref()).unwrap().as_ref())
        .unwrap();
    assert!(max_abs_diff(&fwd, &x) < 1e-5);
}

#[test]
fn save_load_round_trip_and_seeded_determinism() {
    let data = tilted_gaussian(400, 2);
    let (a, report_a) = train(&data, quick(30, 7));
    let (b, report_b) = train(&data, quick(30, 7));
    assert_eq!(
        a.parameters().unwrap(),
        b.parameters().unwrap(),
        "one seed, one set of weights"
    );
    assert_eq!(report_a.losses, report_b.losses);
    let (c, _) = train(&data, quick(30, 8));
    assert_ne!(
        a.parameters().unwrap(),
        c.parameters().unwrap(),
        "another seed differs"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flow.safetensors");
    a.save(&path).unwrap();
    let loaded = AnisotropicFlow::load(&path).unwrap();
    assert_eq!(loaded.config(), a.config());
    assert_eq!(loaded.parameters().unwrap(), a.parameters().unwrap());
    assert_eq!(loaded.variances().unwrap(), a.variances().unwrap());
    let x = data.to_mat();
    assert_eq!(
        loaded.forward(x.as_ref()).unwrap(),
        a.forward(x.as_ref()).unwrap()
    );
    let z = a.forward(x.as_ref()).unwrap();
    assert_eq!(
        loaded.inverse(z.as_ref()).unwrap(),
        a.inverse(z.as_ref()).unwrap()
    );

    // a file that is not a flow is refused with a reason
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"not a model").unwrap();
    assert!(AnisotropicFlow::load(&junk).is_err());
}

#[test]
fn learns_the_anisotropy_of_a_tilted_gaussian() {
    let data = tilted_gaussian(2000, 3);
    let params = quick(300, 1).lr(3e-3);
    let start = std::time::Instant::now();
    let (flow, report) = train(&data, params);
    let mut a = flow.variances().unwrap();
    a.sort_by(|x, y| y.total_cmp(x));
    eprintln!(
        "a = {a:?}, final loss {:?}, {:.2}s",
        report.final_loss,
        start.elapsed().as_secs_f64()
    );
    assert!(a[0] / a[1] > 20.0, "clear anisotropy: {a:?}");
    assert!(
        a[0] > 1.0 && a[0] < 16.0,
        "the large variance near 4: {a:?}"
    );
    assert!(a[1] < 0.2, "the small variance near 0.01: {a:?}");
    let first = report.losses[..20].iter().sum::<f64>() / 20.0;
    assert!(report.final_loss.total < first, "the loss fell");
    let rae = flow.autoencoder(0.05).unwrap();
    assert_eq!(rae.latent_dim(), 1);
}

/// n points of a flat 2-D Gaussian in ℝ¹⁰: variances (4, 1) on the first two axes, 10⁻⁴ on the
/// eight others.
fn flat_plane(n: usize, seed: u64) -> Dataset {
    let mut rng = scoregeo::rng::stream(seed, 0);
    let sd = [2.0, 1.0, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01];
    let rows: Vec<Vec<f64>> = (0..n)
        .map(|_| {
            sd.iter()
                .map(|s| s * rng.sample::<f64, _>(StandardNormal))
                .collect()
        })
        .collect();
    Dataset::from_rows(&rows).unwrap()
}

/// The isometry penalty ‖DφᵀDφ − I‖²_F keeps φ near an isometry in D = 10, so the base
/// variances stay those of the data (4 and 1 on the plane, tiny off it) and the Jacobian's
/// singular values stay near 1. A penalty that only controls the mean ‖Dφv‖ over random unit
/// probes lets NLL training shrink the two occupied directions and stretch the eight empty
/// ones, which moves the variances away from (4, 1).
#[test]
fn stays_near_isometric_on_a_flat_plane_in_ten_dimensions() {
    let data = flat_plane(1000, 5);
    let params = quick(300, 2).lr(3e-3);
    let (flow, report) = train(&data, params);
    let mut a = flow.variances().unwrap();
    a.sort_by(|x, y| y.total_cmp(x));
    eprintln!("a = {a:?}, final loss {:?}", report.final_loss);
    assert!(a[0] > 2.5 && a[0] < 6.0, "the variance 4 kept: {a:?}");
    assert!(a[1] > 0.6 && a[1] < 1.6, "the variance 1 kept: {a:?}");
    assert!(a[2] < 0.01, "the empty directions stay empty: {a:?}");
    assert_eq!(flow.autoencoder(0.05).unwrap().latent_dim(), 2);
    let x = data.select(&(0..50).collect::<Vec<_>>()).to_mat();
    for j in flow.jacobians(x.as_ref()).unwrap() {
        let g = j.transpose() * &j;
        let e = g.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
        for v in e {
            let s = v.sqrt();
            assert!(s > 0.6 && s < 1.6, "singular value {s} of Dφ");
        }
    }
}

#[test]
fn cli_trains_reports_encodes_and_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("gauss.csv");
    tilted_gaussian(600, 4).write(&data).unwrap();
    let flow = dir.path().join("flow.safetensors");
    let text = success_stdout(
        scoregeo()
            .args([
                "-q",
                "train-flow",
                data.to_str().unwrap(),
                "-o",
                flow.to_str().unwrap(),
            ])
            .args([
                "--steps", "200", "--seed", "3", "--hidden", "16", "--layers", "4", "--lr", "0.003",
            ]),
    );
    assert!(text.starts_with("final loss "), "{text}");

    let v = success_json(&mut rae(&flow, &["--epsilon", "0.05", "--format", "json"]));
    assert_eq!(v["dim"], 2);
    assert_eq!(v["rae_dim"], 1, "{v}");
    let a: Vec<f64> = v["variances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert!(a[0] >= a[1] && a[0] / a[1] > 20.0, "{a:?}");
    assert_eq!(v["explained"][1].as_f64().unwrap(), 1.0);

    let table = dir.path().join("report.txt");
    rae(&flow, &["--epsilon", "0.05", "-o", table.to_str().unwrap()])
        .assert()
        .success();
    assert!(std::fs::read_to_string(&table)
        .unwrap()
        .starts_with("rae_dim (d_ε) = 1 of D = 2"));

    let codes = dir.path().join("codes.csv");
    let decoded = dir.path().join("decoded.csv");
    rae(
        &flow,
        &["--epsilon", "0.05", "--encode", data.to_str().unwrap()],
    )
    .args(["-o", codes.to_str().unwrap()])
    .assert()
    .success()
    .stderr(predicates::str::contains(
        "encoded 600 points to 1 coordinates",
    ));
    let c = Dataset::read(&codes).unwrap();
    assert_eq!((c.len(), c.dim()), (600, 1));
    rae(
        &flow,
        &["--epsilon", "0.05", "--decode", codes.to_str().unwrap()],
    )
    .args(["-o", decoded.to_str().unwrap()])
    .assert()
    .success();
    let x = Dataset::read(&decoded).unwrap();
    let orig = Dataset::read(&data).unwrap();
    assert_eq!((x.len(), x.dim()), (600, 2));
    // decoding drops the 0.01-variance direction: errors of order 0.1, far below the data spread 2
    let err = (0..600)
        .map(|i| {
            (0..2)
                .map(|j| (x.row(i)[j] - orig.row(i)[j]).powi(2))
                .sum::<f64>()
                .sqrt()
        })
        .sum::<f64>()
        / 600.0;
    assert!(err < 0.3, "mean reconstruction error {err}");

    // usage errors: ε out of range exits 2; a score model is not a flow
    fails_with(&mut rae(&flow, &["--epsilon", "1.5"]), 2, &[]);
    fails_with(&mut rae(&data, &["--epsilon", "0.1"]), 1, &[]);
}
