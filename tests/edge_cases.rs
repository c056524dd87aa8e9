//! Numerical edge cases through the command line: every estimator gives a finite answer or a
//! clear error (exit 1 or 2 naming the problem), never NaN or Inf, on data scaled by 10⁻⁸ or
//! 10⁸, constant columns, duplicated points, n ≤ k, n = 1, D = 1, and models whose scores are
//! all zero or non-finite.

mod common;
use common::scoregeo;

use scoregeo::score::mlp::{save_safetensors, MlpConfig, Prediction, TimeInput};
use scoregeo::{Dataset, Sde};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const METHODS: [&str; 7] = ["all", "nb", "jacobian", "flipd", "mle", "twonn", "lpca"];

/// What one run gave.
#[derive(Debug)]
enum Outcome {
    /// The global ID of every method run (one for a single method).
    Ids(Vec<(String, f64)>),
    /// A clear error: the message.
    Refused(String),
}

/// Every number in a JSON value, with its path; `null` where a number belongs is a NaN.
fn numbers(v: &Value, at: &str, out: &mut Vec<(String, Option<f64>)>) {
    match v {
        Value::Number(n) => out.push((at.to_string(), n.as_f64())),
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                numbers(x, &format!("{at}[{i}]"), out);
            }
        }
        Value::Object(map) => {
            for (k, x) in map {
                numbers(x, &format!("{at}.{k}"), out);
            }
        }
        _ => {}
    }
}

/// Runs `id-estimate DATA --model MODEL --method METHOD --format json` and checks the outcome:
/// success with only finite numbers and a numeric global and local ID everywhere, or exit 1/2
/// with a one-line message and no panic.
fn run(data: &Path, model: &str, method: &str, extra: &[&str]) -> Outcome {
    let out = scoregeo()
        .args(["-q", "id-estimate"])
        .arg(data)
        .args(["--model", model, "--method", method, "--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let what = format!("{} --model {model} --method {method}", data.display());
    if !out.status.success() {
        assert!(
            matches!(out.status.code(), Some(1 | 2)),
            "{what}: {:?} {stderr}",
            out.status
        );
        let message = stderr
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or("");
        assert!(
            !message.is_empty() && !stderr.contains("panicked") && !message.contains("NaN"),
            "{what}: {stderr}"
        );
        return Outcome::Refused(message.to_string());
    }
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut all = Vec::new();
    numbers(&v, "", &mut all);
    for (at, n) in &all {
        assert!(n.is_some_and(f64::is_finite), "{what}: {at} = {n:?}");
    }
    let global = |e: &Value| {
        let g = e["global_id"].as_f64();
        assert!(
            g.is_some_and(f64::is_finite),
            "{what}: global_id {}",
            e["global_id"]
        );
        for p in e["points"].as_array().unwrap() {
            assert!(
                p["local_id"].as_f64().is_some_and(f64::is_finite),
                "{what}: {p}"
            );
        }
        g.unwrap()
    };
    Outcome::Ids(match v["results"].as_array() {
        Some(results) => results
            .iter()
            .map(|e| (e["method"].as_str().unwrap().to_string(), global(e)))
            .collect(),
        None => vec![(method.to_string(), global(&v))],
    })
}

/// The global IDs of every method on `data` (all, then each alone), which must all succeed.
fn ids(data: &Path, model: &str, extra: &[&str]) -> HashMap<String, f64> {
    let mut found = HashMap::new();
    for method in METHODS {
        match run(data, model, method, extra) {
            Outcome::Ids(ids) => found.extend(ids),
            Outcome::Refused(m) => panic!("{} --method {method}: {m}", data.display()),
        }
    }
    found
}

/// n points of a 2-sphere of radius 1 in ℝ³ (seeded), through the generator.
fn sphere(dir: &Path, n: usize) -> Dataset {
    let path = dir.join(format!("sphere{n}.csv"));
    scoregeo()
        .args([
            "-q",
            "generate",
            "sphere",
            "--dim",
            "2",
            "--ambient",
            "3",
            "--n",
        ])
        .arg(n.to_string())
        .arg("-o")
        .arg(&path)
        .assert()
        .success();
    Dataset::read(&path).unwrap()
}

fn save(dir: &Path, name: &str, rows: Vec<Vec<f64>>) -> PathBuf {
    let path = dir.join(name);
    Dataset::from_rows(&rows).unwrap().write(&path).unwrap();
    path
}

fn near(ids: &HashMap<String, f64>, methods: &[&str], truth: f64, tol: f64, what: &str) {
    for m in methods {
        let id = ids[*m];
        assert!(
            (id - truth).abs() <= tol,
            "{what}: {m} reads {id}, truth {truth}"
        );
    }
}

#[test]
fn scaled_data_reads_the_same_dimension() {
    let dir = tempfile::tempdir().unwrap();
    let data = sphere(dir.path(), 400);
    for scale in [1e-8, 1e8] {
        let rows = data
            .rows()
            .map(|r| r.iter().map(|v| v * scale).collect())
            .collect();
        let path = save(dir.path(), &format!("scaled{scale:e}.csv"), rows);
        let found = ids(&path, "mixture", &[]);
        near(
            &found,
            &["mle", "twonn", "lpca", "nb", "jacobian"],
            2.0,
            0.6,
            &format!("×{scale:e}"),
        );
    }
}

#[test]
fn constant_columns_and_duplicates_keep_the_dimension() {
    let dir = tempfile::tempdir().unwrap();
    let data = sphere(dir.path(), 400);
    let padded = data
        .rows()
        .map(|r| [r, &[5.0, -3.0][..]].concat())
        .collect();
    let path = save(dir.path(), "constant.csv", padded);
    near(
        &ids(&path, "mixture", &[]),
        &["mle", "twonn", "lpca", "nb"],
        2.0,
        0.6,
        "constant columns",
    );
    let doubled = data
        .rows()
        .chain(data.rows())
        .map(<[f64]>::to_vec)
        .collect();
    let path = save(dir.path(), "doubled.csv", doubled);
    near(
        &ids(&path, "mixture", &[]),
        &["mle", "twonn", "lpca", "nb"],
        2.0,
        0.6,
        "duplicates",
    );
}

#[test]
fn tiny_and_one_dimensional_data_give_answers_or_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = sphere(d, 400);
    // n ≤ k: 12 points with the default k = 20
    let few = save(
        d,
        "few.csv",
        data.rows().take(12).map(<[f64]>::to_vec).collect(),
    );
    // n = 1, and every point the same
    let one = save(d, "one.csv", vec![vec![0.5, 1.0, 2.0]]);
    let same = save(d, "same.csv", vec![vec![0.5, 1.0, 2.0]; 30]);
    // D = 1: uniform points of a segment
    let line = d.join("line.csv");
    scoregeo()
        .args([
            "-q",
            "generate",
            "affine",
            "--dim",
            "1",
            "--ambient",
            "1",
            "--n",
            "300",
            "-o",
        ])
        .arg(&line)
        .assert()
        .success();
    for path in [&few, &one, &same, &line] {
        for method in METHODS {
            run(path, "mixture", method, &[]);
        }
    }
    near(
        &ids(&line, "mixture", &[]),
        &["mle", "twonn", "lpca"],
        1.0,
        0.3,
        "D = 1",
    );
    let Outcome::Refused(m) = run(&one, "mixture", "mle", &[]) else {
        panic!("one point has no neighbours")
    };
    assert!(m.contains("point"), "{m}");
}

#[test]
fn data_beyond_the_range_of_f64_squared_distances_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = sphere(d, 60);
    let model = constant_model(d, "zero.safetensors", 3, 0.0);
    // 10²⁰⁰ and 10⁻²⁰⁰: the points are distinct and finite, but their squared distances
    // overflow or underflow; every estimator must say so instead of reading garbage
    for (scale, verdict) in [(1e200, "large"), (1e-200, "small")] {
        let rows = data
            .rows()
            .map(|r| r.iter().map(|v| v * scale).collect())
            .collect();
        let path = save(d, &format!("scaled{scale:e}.csv"), rows);
        for model in ["mixture", model.to_str().unwrap()] {
            for method in METHODS {
                let Outcome::Refused(m) = run(&path, model, method, &[]) else {
                    panic!("×{scale:e} {model} {method}: read a dimension")
                };
                assert!(m.contains("rescale the data"), "×{scale:e} {method}: {m}");
                let classic = matches!(method, "mle" | "twonn" | "lpca");
                assert!(
                    classic || m.contains(verdict),
                    "×{scale:e} {model} {method}: {m}"
                );
            }
        }
    }
}

/// A native model of `dim` inputs whose every weight is `w`.
fn constant_model(dir: &Path, name: &str, dim: usize, w: f32) -> PathBuf {
    let mut config = MlpConfig::new(dim, 8, 1, Sde::ve(4.0));
    config.time_input = TimeInput::Raw;
    config.prediction = Prediction::Noise;
    let device = candle_core::Device::Cpu;
    let tensors: HashMap<String, candle_core::Tensor> = config
        .weight_shapes()
        .into_iter()
        .flat_map(|(layer, (o, i))| {
            [
                (format!("{layer}.weight"), vec![o, i]),
                (format!("{layer}.bias"), vec![o]),
            ]
        })
        .map(|(k, shape)| {
            let t = candle_core::Tensor::full(w, shape.as_slice(), &device).unwrap();
            (k, t)
        })
        .collect();
    let path = dir.join(name);
    save_safetensors(&tensors, &config, &path).unwrap();
    path
}

#[test]
fn models_with_zero_or_non_finite_scores() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = sphere(d, 200);
    let path = save(d, "s.csv", data.rows().map(<[f64]>::to_vec).collect());
    let zero = constant_model(d, "zero.safetensors", 3, 0.0);
    // a zero score has no normal direction: every score-based estimator reads the full D
    for method in ["nb", "jacobian", "flipd"] {
        match run(&path, zero.to_str().unwrap(), method, &[]) {
            Outcome::Ids(ids) => assert_eq!(ids[0].1, 3.0, "{method}"),
            Outcome::Refused(m) => panic!("zero scores, {method}: {m}"),
        }
    }
    let huge = constant_model(d, "huge.safetensors", 3, 3e38);
    for method in METHODS {
        let Outcome::Refused(m) = run(&path, huge.to_str().unwrap(), method, &[]) else {
            if ["mle", "twonn", "lpca"].contains(&method) {
                continue; // these need no model
            }
            panic!("non-finite scores, {method}: an answer");
        };
        assert!(
            m.contains("non-finite") || m.contains("finite"),
            "{method}: {m}"
        );
    }
}

#[test]
fn a_tiny_trained_model_on_awkward_data() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = sphere(d, 300);
    let rows = data
        .rows()
        .map(|r| r.iter().map(|v| v * 1e-8).collect())
        .collect();
    let path = save(d, "small.csv", rows);
    let model = d.join("m.safetensors");
    scoregeo()
        .args(["-q", "train"])
        .arg(&path)
        .arg("-o")
        .arg(&model)
        .args(["--steps", "50", "--hidden", "16", "--depth", "1"])
        .assert()
        .success();
    for method in ["all", "nb", "jacobian", "flipd"] {
        run(&path, model.to_str().unwrap(), method, &["--points", "20"]);
    }
    // a σ outside the model's range is reported with the range in data units (here ~10⁻⁸)
    let Outcome::Refused(m) = run(&path, model.to_str().unwrap(), "nb", &["--sigma", "0.01"])
    else {
        panic!("σ = 0.01 is a million times the data's size")
    };
    let range: Vec<f64> = m
        .split(['[', ']', ','])
        .filter_map(|t| t.trim().parse().ok())
        .collect();
    assert!(
        m.contains("σ = 0.01 lies outside") && m.contains("in data units") && range.len() == 2,
        "{m}"
    );
    assert!(range[0] < range[1] && range[1] < 1e-6, "{m}");
}
