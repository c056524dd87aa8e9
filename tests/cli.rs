//! The real binary on good and bad input: outputs, exit codes, and error messages.

mod common;
use common::{fails_with, id_estimate, scoregeo, success_json, write};

use predicates::prelude::*;
use scoregeo::score::mlp::{MlpConfig, MlpScoreNet};
use scoregeo::Sde;
use std::path::{Path, PathBuf};

/// Points at seeded random positions on a line segment in ℝ³ (ID 1), as CSV with a header.
fn line_csv(dir: &Path) -> PathBuf {
    let mut s = String::from("x,y,z\n");
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..400 {
        // xorshift: uneven gaps, unlike a lattice (where r₂ = r₁ and TwoNN is undefined)
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let t = (state >> 11) as f64 / (1u64 << 53) as f64;
        s += &format!("{},{},{}\n", t, 2.0 * t, -t);
    }
    write(dir, "line.csv", &s)
}

fn tiny_model(dir: &Path, dim: usize) -> PathBuf {
    let (net, vm) = MlpScoreNet::init(
        MlpConfig::new(dim, 8, 1, Sde::vp_default()),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let p = dir.join(format!("m{dim}.safetensors"));
    net.save(&vm, &p).unwrap();
    p
}

#[test]
fn mixture_oracle_estimates_a_line_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let data = line_csv(dir.path());
    let v = success_json(&mut id_estimate(
        &data,
        &[
            "--model",
            "mixture",
            "--points",
            "10",
            "--format",
            "json",
            "--spectra",
        ],
    ));
    assert_eq!(v["method"], "nb");
    assert_eq!(v["ambient_dim"], 3);
    // a random sample is lumpy at scale σ: a point by a large gap or an end of the segment can read 0
    assert_eq!(v["median_local_id"], 1.0);
    assert!(
        (v["global_id"].as_f64().unwrap() - 1.0).abs() <= 0.2,
        "{}",
        v["global_id"]
    );
    let points = v["points"].as_array().unwrap();
    assert_eq!(points.len(), 10);
    assert!(points
        .iter()
        .all(|p| p["spectrum"].as_array().unwrap().len() == 3));
    assert_eq!(v["settings"]["samples"], 64, "K = max(4·D, 64)");
    assert_eq!(v["settings"]["rule"], "maxgap");
}

#[test]
fn seed_fixes_output_across_thread_counts() {
    let dir = tempfile::tempdir().unwrap();
    let data = line_csv(dir.path());
    let model = tiny_model(dir.path(), 3);
    let run = |threads: &str| {
        scoregeo()
            .env("RAYON_NUM_THREADS", threads)
            .args([
                "id-estimate",
                data.to_str().unwrap(),
                "--model",
                model.to_str().unwrap(),
                "--points",
                "30",
                "--seed",
                "5",
                "--format",
                "csv",
                "--spectra",
            ])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone()
    };
    let one = run("1");
    assert_eq!(one, run("2"));
    assert!(String::from_utf8(one)
        .unwrap()
        .starts_with("index,local_id,s1,s2,s3\n"));
}

#[test]
fn output_file_and_table() {
    let dir = tempfile::tempdir().unwrap();
    let data = line_csv(dir.path());
    let out = dir.path().join("res.json");
    id_estimate(
        &data,
        &[
            "-m",
            "mixture",
            "--points",
            "5",
            "--format",
            "json",
            "-o",
            out.to_str().unwrap(),
        ],
    )
    .assert()
    .success()
    .stdout(predicate::str::is_empty());
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(v["points"].as_array().unwrap().len(), 5);
    id_estimate(&data, &["-m", "mixture", "--points", "5"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("global ID").and(predicate::str::contains("ambient D    3")),
        );
}

#[test]
fn ragged_csv_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "ragged.csv", "1,2,3\n4,5\n");
    fails_with(
        &mut id_estimate(&p, &["-m", "mixture"]),
        1,
        &["ragged.csv:2", "ragged row"],
    );
}

#[test]
fn nan_names_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "nan.csv", "a,b\n1,2\n3,nan\n");
    fails_with(
        &mut id_estimate(&p, &["-m", "mixture"]),
        1,
        &["nan.csv:3:2", "non-finite"],
    );
}

#[test]
fn missing_file_is_a_runtime_error() {
    fails_with(
        &mut id_estimate("/nonexistent/data.csv", &["-m", "mixture"]),
        1,
        &["/nonexistent/data.csv"],
    );
}

#[test]
fn model_dimension_must_match_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = line_csv(dir.path());
    let model = tiny_model(dir.path(), 5);
    fails_with(
        &mut id_estimate(&data, &["--model", model.to_str().unwrap()]),
        1,
        &["expects 5, found 3"],
    );
}

#[test]
fn corrupt_safetensors_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = line_csv(dir.path());
    let model = tiny_model(dir.path(), 3);
    let mut bytes = std::fs::read(&model).unwrap();
    bytes.truncate(bytes.len() / 2);
    let broken = dir.path().join("broken.safetensors");
    std::fs::write(&broken, bytes).unwrap();
    fails_with(
        &mut id_estimate(&data, &["--model", broken.to_str().unwrap()]),
        1,
        &["broken.safetensors"],
    );
}

#[test]
fn unknown_config_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = line_csv(dir.path());
    let model = tiny_model(dir.path(), 3);
    // the same tensors without embedded config, and a side-car config with a stray key
    let tensors = candle_core::safetensors::load(&model, &candle_core::Device::Cpu).unwrap();
    let bare = dir.path().join("bare.safetensors");
    candle_core::safetensors::save(&tensors, &bare).unwrap();
    let mut cfg = serde_json::to_value(MlpConfig::new(3, 8, 1, Sde::vp_default())).unwrap();
    cfg["learning_rate"] = serde_json::json!(0.1);
    std::fs::write(bare.with_extension("json"), cfg.to_string()).unwrap();
    fails_with(
        &mut id_estimate(&data, &["--model", bare.to_str().unwrap()]),
        1,
        &["unknown field `learning_rate`", "bare.safetensors"],
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let data = line_csv(dir.path());
    let d = data.to_str().unwrap();
    fails_with(
        &mut id_estimate(d, &["-m", "mixture", "--rule", "median"]),
        2,
        &["unknown rule"],
    );
    fails_with(
        &mut id_estimate(d, &["-m", "mixture", "--points", "0"]),
        2,
        &[],
    );
    fails_with(
        &mut id_estimate(d, &["-m", "mixture", "--t0=-1"]),
        2,
        &["t0"],
    );
    scoregeo().args(["id-estimate"]).assert().code(2);
}

#[test]
fn every_method_runs_and_all_compares_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = line_csv(dir.path());
    let d = data.to_str().unwrap();
    for (method, tol) in [
        ("jacobian", 0.1),
        ("flipd", 0.35),
        ("mle", 0.15),
        ("twonn", 0.15),
        ("lpca", 0.0),
    ] {
        let v = success_json(&mut id_estimate(
            d,
            &[
                "-m", "mixture", "--method", method, "--points", "20", "--format", "json",
            ],
        ));
        assert_eq!(v["method"], method);
        let id = v["global_id"].as_f64().unwrap();
        assert!((id - 1.0).abs() <= tol, "{method}: {id}");
    }
    let v = success_json(&mut id_estimate(
        d,
        &[
            "-m", "mixture", "--method", "all", "--points", "10", "--format", "json",
        ],
    ));
    let names: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["method"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["nb", "jacobian", "flipd", "mle", "twonn", "lpca"]);
    assert!(v["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["seconds"].as_f64().unwrap() >= 0.0));
    // without a model, every method runs on the embedded default (here the shipped one)
    let sphere = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/sphere4_r16.csv");
    scoregeo()
        .env("SCOREGEO_CACHE", dir.path())
        .args([
            "id-estimate",
            sphere.to_str().unwrap(),
            "--method",
            "all",
            "--points",
            "10",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("lpca").and(predicate::str::contains("nb ")))
        .stderr(predicate::str::contains("shipped pre-trained model"));
}

#[test]
fn t0_sweep_reports_plateau_and_curves() {
    let dir = tempfile::tempdir().unwrap();
    let data = line_csv(dir.path());
    let v = success_json(&mut id_estimate(
        &data,
        &[
            "-m",
            "mixture",
            "--method",
            "jacobian",
            "--t0",
            "0.1:0.5:5",
            "--points",
            "8",
            "--format",
            "json",
        ],
    ));
    assert_eq!(v["sweep"]["t0"].as_array().unwrap().len(), 5);
    assert_eq!(v["points"][0]["lid_curve"].as_array().unwrap().len(), 5);
    let plateau = &v["settings"]["plateau"];
    assert!(plateau["how"].as_str().unwrap().contains("flattest"));
    assert_eq!(v["settings"]["t0"], plateau["t0"]);
    fails_with(
        &mut id_estimate(&data, &["-m", "mixture", "--t0", "0.5:0.1:5"]),
        2,
        &["a:b:n"],
    );
}

#[test]
fn figures_are_written_and_decode() {
    let dir = tempfile::tempdir().unwrap();
    let data = line_csv(dir.path());
    let d = data.to_str().unwrap();
    let spec = dir.path().join("spec.png");
    scoregeo()
        .args([
            "spectrum",
            d,
            "-m",
            "mixture",
            "--points",
            "10",
            "-o",
            spec.to_str().unwrap(),
        ])
        .assert()
        .success();
    let (hist, lid) = (dir.path().join("h.svg"), dir.path().join("lid.png"));
    id_estimate(
        d,
        &[
            "-m",
            "mixture",
            "--method",
            "flipd",
            "--t0",
            "0.1:0.5:4",
            "--points",
            "6",
            "--plot",
            lid.to_str().unwrap(),
            "--histogram",
            hist.to_str().unwrap(),
        ],
    )
    .assert()
    .success();
    for png in [&spec, &lid] {
        let img = image::open(png).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (900, 600));
        let dark = img
            .pixels()
            .filter(|p| p.0.iter().map(|&c| c as u32).sum::<u32>() < 600)
            .count();
        assert!(
            dark > 2000,
            "{}: only {dark} non-background pixels",
            png.display()
        );
    }
    let svg = std::fs::read_to_string(&hist).unwrap();
    assert!(
        svg.contains("<svg") && svg.contains("flipd"),
        "the histogram names its method"
    );
    scoregeo()
        .args([
            "spectrum",
            d,
            "-m",
            "mixture",
            "-o",
            dir.path().join("x.gif").to_str().unwrap(),
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(".png or .svg"));
}
