//! `scoregeo geodesic` and `scoregeo distance` through the real binary: paths that follow the
//! data, symmetric distances, the closed form of a trained flow, and bad input.

mod common;
use common::{scoregeo, success_json};

use predicates::prelude::*;
use scoregeo::geometry::{AnisotropicFlow, Metric, PullbackMetric};
use std::path::{Path, PathBuf};

/// Ambient dimension of the circle dataset.
const D: usize = 10;
/// Points on the circle.
const N: usize = 200;

/// The plane of the circle: orthonormal u (odd coordinates) and w (even coordinates) of ℝ^10,
/// and its centre (0.5, …).
fn plane() -> ([f64; D], [f64; D], [f64; D]) {
    let s = 1.0 / (D as f64 / 2.0).sqrt();
    let u = std::array::from_fn(|j| if j % 2 == 0 { s } else { 0.0 });
    let w = std::array::from_fn(|j| if j % 2 == 1 { s } else { 0.0 });
    (u, w, [0.5; D])
}

/// N equally spaced points on the unit circle in a tilted plane of ℝ^10, as CSV with a header.
fn circle_csv(dir: &Path) -> PathBuf {
    let (u, w, c) = plane();
    let header: Vec<String> = (1..=D).map(|j| format!("c{j}")).collect();
    let mut s = header.join(",") + "\n";
    for k in 0..N {
        let a = 2.0 * std::f64::consts::PI * k as f64 / N as f64;
        let row: Vec<String> = (0..D)
            .map(|j| (c[j] + a.cos() * u[j] + a.sin() * w[j]).to_string())
            .collect();
        s += &(row.join(",") + "\n");
    }
    let p = dir.join("circle.csv");
    std::fs::write(&p, s).unwrap();
    p
}

/// Euclidean distance from x to the unit circle of [`plane`].
fn distance_to_circle(x: &[f64]) -> f64 {
    let (u, w, c) = plane();
    let r: Vec<f64> = (0..D).map(|j| x[j] - c[j]).collect();
    let (a, b) = (
        (0..D).map(|j| r[j] * u[j]).sum::<f64>(),
        (0..D).map(|j| r[j] * w[j]).sum::<f64>(),
    );
    let off: f64 = (0..D).map(|j| (r[j] - a * u[j] - b * w[j]).powi(2)).sum();
    (((a * a + b * b).sqrt() - 1.0).powi(2) + off).sqrt()
}

/// The score-pullback geodesic of the mixture oracle along a quarter of the circle: every node
/// within 0.1 of the circle (the chord's midpoint is 0.29 inside), the CSV has a header and one
/// row per node with the coordinates last, and the metric length is far below the chord's.
#[test]
fn mixture_geodesic_follows_a_circle_in_r10() {
    let dir = tempfile::tempdir().unwrap();
    let data = circle_csv(dir.path());
    let csv = dir.path().join("path.csv");
    let fig = dir.path().join("path.svg");
    let nodes = 24;
    let v = success_json(
        scoregeo()
            .args([
                "-q",
                "geodesic",
                data.to_str().unwrap(),
                "--model",
                "mixture",
            ])
            .args(["--from", "0", "--to", "50", "--nodes", &nodes.to_string()])
            .args(["-o", csv.to_str().unwrap(), "--plot", fig.to_str().unwrap()])
            .args(["--format", "json"]),
    );
    assert_eq!(v["method"], "score-pullback");
    assert_eq!(v["nodes"], nodes);
    assert_eq!(v["converged"], true, "{v}");
    assert!(v["initialisation"]
        .as_str()
        .unwrap()
        .starts_with("shortest path in the k-NN graph"));
    let length = v["length"].as_f64().unwrap();
    let chord = v["euclidean_distance"].as_f64().unwrap();
    assert!((chord - 2f64.sqrt()).abs() < 1e-12);
    // moving along the data costs √λ ≈ 0.03 per unit, leaving it about 1
    assert!(length > 0.0 && length < 0.2 * chord, "length {length}");
    assert!(v["energy"].as_f64().unwrap() >= length * length * (1.0 - 1e-9));
    for key in ["lambda", "score_scale", "t0", "sigma", "seed"] {
        assert!(v["settings"][key].is_number(), "settings.{key}: {v}");
    }

    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), nodes + 1, "a header and one row per node");
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(header.len(), 2 + D);
    assert_eq!(&header[..3], &["node", "t", "x1"]);
    assert_eq!(header[1 + D], format!("x{D}"));
    let rows: Vec<Vec<f64>> = lines[1..]
        .iter()
        .map(|l| l.split(',').map(|x| x.parse().unwrap()).collect())
        .collect();
    let data_rows: Vec<Vec<f64>> = std::fs::read_to_string(&data)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|x| x.parse().unwrap()).collect())
        .collect();
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0], i as f64);
        assert!((r[1] - i as f64 / (nodes - 1) as f64).abs() < 1e-15);
        let x = &r[2..];
        assert!(
            distance_to_circle(x) < 0.1,
            "node {i} is {} from the circle",
            distance_to_circle(x)
        );
    }
    assert_eq!(&rows[0][2..], data_rows[0].as_slice());
    assert_eq!(&rows[nodes - 1][2..], data_rows[50].as_slice());
    // the JSON path is the CSV path
    assert_eq!(v["path"][5][3].as_f64().unwrap(), rows[5][5]);
    let svg = std::fs::read_to_string(&fig).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("score-pullback geodesic"));
}

/// d(A, B) = d(B, A) up to the solver tolerance, and d(x, x) = 0, with row indices and
/// coordinates mixed.
#[test]
fn distance_is_symmetric_and_vanishes_on_the_diagonal() {
    let dir = tempfile::tempdir().unwrap();
    let data = circle_csv(dir.path());
    let d = data.to_str().unwrap();
    let length = |from: &str, to: &str| -> f64 {
        let out = scoregeo()
            .args(["-q", "distance", d, "--model", "mixture", "--nodes", "16"])
            .args(["--from", from, "--to", to])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        String::from_utf8(out).unwrap().trim().parse().unwrap()
    };
    let there = length("10", "40");
    let back = length("40", "10");
    assert!(there > 0.0);
    assert!(
        (there - back).abs() <= 1e-4 * there,
        "d(A, B) = {there}, d(B, A) = {back}"
    );
    assert_eq!(length("7", "7"), 0.0);
    // row 7 written out as coordinates is the same point
    let row7 = std::fs::read_to_string(&data)
        .unwrap()
        .lines()
        .nth(8)
        .unwrap()
        .to_string();
    assert_eq!(length(&row7, "7"), 0.0);
}

/// Trains a tiny flow with `scoregeo train-flow` on a noisy parabola in ℝ².
fn tiny_flow(dir: &Path) -> (PathBuf, PathBuf) {
    let mut s = String::from("x,y\n");
    for k in 0..120 {
        let t = -1.5 + 3.0 * k as f64 / 119.0;
        s += &format!("{},{}\n", t, 0.5 * t * t + 0.05 * (7.3 * k as f64).sin());
    }
    let data = dir.join("parabola.csv");
    std::fs::write(&data, s).unwrap();
    let flow = dir.join("flow.safetensors");
    scoregeo()
        .args(["-q", "train-flow", data.to_str().unwrap()])
        .args(["-o", flow.to_str().unwrap()])
        .args([
            "--steps", "25", "--hidden", "8", "--layers", "2", "--batch", "64",
        ])
        .assert()
        .success();
    (data, flow)
}

/// A trained flow gives the closed form: the printed distance is the library's
/// ‖A⁻¹(φ(x) − φ(y))‖ and the path's nodes are φ⁻¹ of equally spaced latent points.
#[test]
fn flow_distance_and_geodesic_are_the_closed_form() {
    let dir = tempfile::tempdir().unwrap();
    let (data, flow_path) = tiny_flow(dir.path());
    let flow = AnisotropicFlow::load(&flow_path).unwrap();
    let metric = PullbackMetric::closed_form(&flow, &flow.variances().unwrap()).unwrap();
    let rows = scoregeo::Dataset::read(&data).unwrap();
    let (x, y) = (rows.row(3).to_vec(), rows.row(100).to_vec());
    let exact = metric.distance(&x, &y).unwrap();

    let printed: f64 = String::from_utf8(
        scoregeo()
            .args(["distance", data.to_str().unwrap()])
            .args(["--model", flow_path.to_str().unwrap()])
            .args(["--from", "3", "--to", "100"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone(),
    )
    .unwrap()
    .trim()
    .parse()
    .unwrap();
    assert!(
        (printed - exact).abs() <= 1e-12 * exact,
        "{printed} vs {exact}"
    );

    // without DATA, the same points as coordinates
    let coords = |p: &[f64]| format!("{},{}", p[0], p[1]);
    let csv = dir.path().join("flow_path.csv");
    let v = success_json(
        scoregeo()
            .args(["geodesic", "--model", flow_path.to_str().unwrap()])
            .args(["--from", &coords(&x), "--to", &coords(&y), "--nodes", "5"])
            .args(["-o", csv.to_str().unwrap(), "--format", "json"]),
    );
    assert_eq!(v["method"], "closed-form flow");
    assert!((v["length"].as_f64().unwrap() - exact).abs() <= 1e-12 * exact);
    let want = metric
        .geodesic(&x, &y, &[0.0, 0.25, 0.5, 0.75, 1.0])
        .unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    for (i, line) in text.lines().skip(1).enumerate() {
        let r: Vec<f64> = line.split(',').map(|s| s.parse().unwrap()).collect();
        for j in 0..2 {
            assert!((r[2 + j] - want[(i, j)]).abs() < 1e-12, "node {i}");
        }
    }

    // numeric-solver flags do not apply to a flow
    scoregeo()
        .args(["distance", "--model", flow_path.to_str().unwrap()])
        .args(["--from", "0,0", "--to", "1,1", "--lambda", "0.1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--lambda").and(predicate::str::contains("flow")));
}

/// Bad endpoints and models: usage errors exit 2, runtime errors 1, each naming the problem.
#[test]
fn bad_input_names_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let data = circle_csv(dir.path());
    let d = data.to_str().unwrap();
    let run = |args: &[&str]| scoregeo().arg("geodesic").args(args).assert();

    run(&[d, "-m", "mixture", "--from", "0", "--to", "200"])
        .code(2)
        .stderr(
            predicate::str::contains("row 200 is out of range")
                .and(predicate::str::contains("200 rows, indices 0 to 199"))
                .and(predicate::str::contains("circle.csv")),
        );
    run(&[d, "-m", "mixture", "--from", "0.5,1", "--to", "3"])
        .code(2)
        .stderr(
            predicate::str::contains("`from`").and(predicate::str::contains(
                "has 2 coordinates, the points live in R^10",
            )),
        );
    let with_nan = format!("1,2,3,4,nan,6,7,8,9,{}", 10);
    run(&[d, "-m", "mixture", "--from", "3", "--to", &with_nan])
        .code(2)
        .stderr(predicate::str::contains(
            "coordinate 5 of `1,2,3,4,nan,6,7,8,9,10` (`nan`) is not a finite number",
        ));
    run(&[
        d,
        "-m",
        "/nonexistent/model.safetensors",
        "--from",
        "0",
        "--to",
        "1",
    ])
    .code(1)
    .stderr(predicate::str::contains("/nonexistent/model.safetensors"));
    run(&["--from", "0,0", "--to", "1,1"])
        .code(2)
        .stderr(predicate::str::contains(
            "without DATA there is no default or mixture model",
        ));
    run(&["-m", "mixture", "--from", "0,0", "--to", "1,1"])
        .code(2)
        .stderr(predicate::str::contains("without DATA"));
    run(&[
        d, "-m", "mixture", "--from", "0", "--to", "1", "--plot", "fig.jpg",
    ])
    .code(2)
    .stderr(predicate::str::contains("fig.jpg").and(predicate::str::contains(".png or .svg")));
    run(&[
        d, "-m", "mixture", "--from", "0", "--to", "1", "--nodes", "1",
    ])
    .code(2)
    .stderr(predicate::str::contains("nodes"));
    scoregeo()
        .args(["distance", d, "-m", "mixture", "--from", "0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--to"));
}
