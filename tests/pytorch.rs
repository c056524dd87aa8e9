//! PyTorch checkpoints: the committed fixtures of tests/fixtures/make_fixtures.py (made with
//! PyTorch, which CI does not need) against the scores and spectra PyTorch computed; broken and
//! hostile files; the `inspect-model` and `convert` commands; the new-user check.

mod common;
use common::{json_of, scoregeo};

use candle_core::Device;
use faer::Mat;
use predicates::prelude::*;
use scoregeo::id::NormalBundle;
use scoregeo::linalg::singular_values_via_gram;
use scoregeo::score::mlp::{MlpScoreNet, Prediction};
use scoregeo::score::pytorch::{self, Description, Overrides, SkipMlpScoreNet};
use scoregeo::score::{Loader, ScoreModel};
use scoregeo::sde::SdeKind;
use scoregeo::{Dataset, Sde};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pytorch")
        .join(name)
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("expected_scores.json")).unwrap())
        .unwrap()
}

fn matrix(v: &Value) -> Mat<f64> {
    let rows = v.as_array().unwrap();
    let d = rows[0].as_array().unwrap().len();
    Mat::from_fn(rows.len(), d, |i, j| rows[i][j].as_f64().unwrap())
}

/// The flags a fixture's scores were computed with.
fn overrides(v: &Value) -> Overrides {
    let f = |k: &str| v.get(k).and_then(Value::as_f64);
    Overrides {
        sde: v
            .get("sde")
            .and_then(Value::as_str)
            .map(|s| s.parse::<SdeKind>().unwrap()),
        sigma_min: f("sigma_min"),
        sigma_max: f("sigma_max"),
        beta_min: f("beta_min"),
        beta_max: f("beta_max"),
        time_scale: f("time_scale"),
        prediction: None,
    }
}

/// Largest relative error ‖a_i − b_i‖/‖b_i‖ over rows.
fn max_row_error(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    assert_eq!((a.nrows(), a.ncols()), (b.nrows(), b.ncols()));
    (0..a.nrows())
        .map(|i| {
            let diff: f64 = (0..a.ncols())
                .map(|j| (a[(i, j)] - b[(i, j)]).powi(2))
                .sum::<f64>()
                .sqrt();
            let norm: f64 = (0..a.ncols())
                .map(|j| b[(i, j)].powi(2))
                .sum::<f64>()
                .sqrt();
            diff / norm
        })
        .fold(0.0, f64::max)
}

/// Checks `model` against the scores PyTorch stored under `key` of fixture `case`.
fn assert_scores(model: &dyn ScoreModel, case: &Value, key: &str, tol: f64) {
    let x = matrix(&case["inputs"]);
    for (k, t) in case["times"].as_array().unwrap().iter().enumerate() {
        let t = t.as_f64().unwrap();
        let got = model.score(x.as_ref(), t).unwrap();
        let want = matrix(&case[key][k]);
        let err = max_row_error(&got, &want);
        assert!(
            err < tol,
            "{}: t = {t}: relative error {err:e} ({key})",
            case["file"]
        );
    }
}

#[test]
fn every_layout_and_container_reproduces_the_pytorch_scores() {
    let all = expected();
    for (name, case) in all.as_object().unwrap() {
        let path = fixture(case["file"].as_str().unwrap());
        let model = pytorch::load(&path, &overrides(&case["overrides"]), &Device::Cpu).unwrap();
        assert_scores(&model, case, "scores", 1e-5);
        let weights = model.inspection().weights.clone().unwrap();
        let ema = case["weights"] == "ema";
        assert_eq!(weights.starts_with("EMA"), ema, "{name}: {weights}");
        assert!(
            model.describe().contains(case["file"].as_str().unwrap()),
            "{}",
            model.describe()
        );
    }
    // the cases cover both layouts, every container and every EMA form
    for name in [
        "fcn_state_dict",
        "fcn_epoch",
        "fcn_module",
        "fcn_lightning",
        "unet_state_dict",
        "unet_lightning",
    ] {
        assert!(all.get(name).is_some(), "{name}");
    }
}

#[test]
fn a_description_file_selects_the_raw_weights() {
    let all = expected();
    let dir = tempfile::tempdir().unwrap();
    for name in ["fcn_lightning", "unet_lightning"] {
        let case = &all[name];
        let file = case["file"].as_str().unwrap();
        let path = dir.path().join(file);
        std::fs::copy(fixture(file), &path).unwrap();
        std::fs::write(Description::path_for(&path), r#"{"weights": "raw"}"#).unwrap();
        let model = pytorch::load(&path, &overrides(&case["overrides"]), &Device::Cpu).unwrap();
        assert!(model
            .inspection()
            .weights
            .as_deref()
            .unwrap()
            .starts_with("raw"));
        assert_scores(&model, case, "raw_scores", 1e-5);
    }
}

#[test]
fn hyper_parameters_supply_the_sde_and_time_and_flags_override_them() {
    let case = &expected()["fcn_lightning"];
    let path = fixture("fcn_lightning.ckpt");
    let report = pytorch::inspect(&path, &Overrides::default()).unwrap();
    assert!(report.is_ready(), "{report}");
    let text = report.to_string();
    for want in [
        "reference fully connected score net",
        "D = 3, H = 16, 1 hidden layer;",
        "EMA weights from `ema/shadow_params`, keys `score_model.*`",
        "(also found: raw weights from `state_dict`, keys `score_model.*`)",
        "999·t (checkpoint hyper-parameters)",
        "VE (checkpoint hyper-parameters), σ_min = 0.01 (checkpoint hyper-parameters), σ_max = 4 (checkpoint hyper-parameters)",
        "noise ε̂, s = −ε̂/σ(t) (layout convention)",
        "status          ready",
    ] {
        assert!(text.contains(want), "missing `{want}` in\n{text}");
    }
    // a flag wins over the hyper-parameters and changes the scores
    let ov = Overrides {
        sigma_max: Some(8.0),
        ..Default::default()
    };
    let model = pytorch::load(&path, &ov, &Device::Cpu).unwrap();
    assert_eq!(
        *model.sde(),
        Sde::Ve {
            sigma_min: 0.01,
            sigma_max: 8.0
        }
    );
    let x = matrix(&case["inputs"]);
    let t = case["times"][2].as_f64().unwrap();
    let ratio =
        model.score(x.as_ref(), t).unwrap()[(0, 0)] / case["scores"][2][0][0].as_f64().unwrap();
    // s = −ε̂/σ(t) with σ(t) = 0.01·(σ_max/0.01)^t
    assert!((ratio - 0.5f64.powf(t)).abs() < 1e-5, "{ratio}");
}

#[test]
fn missing_settings_are_listed_with_their_parameters() {
    let path = fixture("fcn_epoch.pth");
    let report = pytorch::inspect(&path, &Overrides::default()).unwrap();
    assert!(!report.is_ready());
    let text = report.to_string();
    assert!(text.contains("model_state_dict: 8 tensors"), "{text}");
    assert!(
        text.contains("mlp.3.weight") && text.contains("[16, 16]") && text.contains("float32"),
        "{text}"
    );
    assert!(
        text.contains("a dict with keys epoch (41), model_state_dict (a dict of 8), loss (0.731)"),
        "{text}"
    );
    assert!(
        text.contains("SDE σ_max unknown: pass `sde` ve `sigma_max`"),
        "{text}"
    );
    assert!(
        text.contains("`time_scale` 1") && text.contains("`time_scale` 999"),
        "{text}"
    );
    let e = pytorch::load(&path, &Overrides::default(), &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("fcn_epoch.pth") && e.contains("`sigma_max`") && e.contains("`time_scale`"),
        "{e}"
    );
    // the skip MLP's reference code fixes everything but says nothing in the file: its defaults apply
    let report = pytorch::inspect(fixture("unet_state_dict.pth"), &Overrides::default()).unwrap();
    assert!(report.is_ready(), "{report}");
    assert!(
        report
            .to_string()
            .contains("sinusoidal embedding of 8 features"),
        "{report}"
    );
}

#[test]
fn converted_models_load_natively_and_agree() {
    let all = expected();
    let dir = tempfile::tempdir().unwrap();
    for (name, native) in [
        ("fcn_lightning", "MlpScoreNet"),
        ("unet_state_dict", "SkipMlpScoreNet"),
    ] {
        let case = &all[name];
        let path = fixture(case["file"].as_str().unwrap());
        let ov = overrides(&case["overrides"]);
        let out = dir.path().join(format!("{name}.safetensors"));
        let done = pytorch::convert(&path, &ov, &out).unwrap();
        assert_eq!(done.native_type, native);
        let model = Loader::new(&out).device(Device::Cpu).load().unwrap();
        assert_scores(model.as_ref(), case, "scores", 1e-5);
        let direct = pytorch::load(&path, &ov, &Device::Cpu).unwrap();
        let x = matrix(&case["inputs"]);
        assert_eq!(
            model.score(x.as_ref(), 0.3).unwrap(),
            direct.score(x.as_ref(), 0.3).unwrap()
        );
        // flags are for checkpoints: a native file fixes its own settings
        let e = Loader::new(&out).time_scale(2.0).device(Device::Cpu).load();
        assert!(e.err().unwrap().to_string().contains("native model"));
    }
    assert!(MlpScoreNet::load(dir.path().join("fcn_lightning.safetensors"), &Device::Cpu).is_ok());
    assert!(
        SkipMlpScoreNet::load(dir.path().join("unet_state_dict.safetensors"), &Device::Cpu).is_ok()
    );
}

#[test]
fn imported_models_differentiate_like_their_scores() {
    let case = &expected()["unet_lightning"];
    let model = pytorch::load(
        fixture("unet_lightning.ckpt"),
        &overrides(&case["overrides"]),
        &Device::Cpu,
    )
    .unwrap();
    let x = matrix(&case["inputs"]);
    let t = 0.1;
    let jac = model.score_jacobians(x.as_ref(), t).unwrap();
    let h = 1e-3;
    for b in 0..4 {
        let (mut xp, mut xm) = (x.clone(), x.clone());
        xp[(2, b)] += h;
        xm[(2, b)] -= h;
        let (sp, sm) = (
            model.score(xp.as_ref(), t).unwrap(),
            model.score(xm.as_ref(), t).unwrap(),
        );
        for a in 0..4 {
            let fd = (sp[(2, a)] - sm[(2, a)]) / (2.0 * h);
            assert!(
                (fd - jac[2][(a, b)]).abs() < 1e-2 * (1.0 + fd.abs()),
                "{a}{b}: {fd} vs {}",
                jac[2][(a, b)]
            );
        }
    }
}

fn load_err(path: &Path) -> String {
    let ov = Overrides {
        sde: Some(SdeKind::Ve),
        sigma_max: Some(4.0),
        time_scale: Some(1.0),
        ..Default::default()
    };
    match pytorch::load(path, &ov, &Device::Cpu) {
        Ok(_) => "loaded".into(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn truncated_files_are_reported_at_every_length() {
    let bytes = std::fs::read(fixture("fcn_epoch.pth")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.pth");
    for len in (0..bytes.len())
        .step_by(97)
        .chain([bytes.len() - 1, bytes.len() / 2])
    {
        std::fs::write(&path, &bytes[..len]).unwrap();
        let e = load_err(&path);
        assert!(e.contains("cut.pth"), "length {len}: {e}");
        if len >= 4 {
            assert!(e.contains("truncated"), "length {len}: {e}");
        }
    }
}

/// Offset of the contents of archive entry `name` (from its local header).
fn entry_offset(bytes: &[u8], name: &str) -> usize {
    let at = bytes
        .windows(name.len())
        .position(|w| w == name.as_bytes())
        .unwrap();
    let header = at - 30;
    assert_eq!(&bytes[header..header + 4], b"PK\x03\x04");
    let extra = u16::from_le_bytes([bytes[header + 28], bytes[header + 29]]) as usize;
    at + name.len() + extra
}

#[test]
fn bit_flips_are_caught_by_the_checksums() {
    let bytes = std::fs::read(fixture("fcn_epoch.pth")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flip.pth");
    let flip = |at: usize| {
        let mut b = bytes.clone();
        b[at] ^= 0x10;
        std::fs::write(&path, &b).unwrap();
        load_err(&path)
    };
    let pkl = entry_offset(&bytes, "fcn_epoch/data.pkl");
    let e = flip(pkl + 40);
    assert!(
        e.contains("entry `fcn_epoch/data.pkl` is corrupted: CRC-32"),
        "{e}"
    );
    let storage = entry_offset(&bytes, "fcn_epoch/data/2");
    let e = flip(storage + 5);
    assert!(e.contains("entry `fcn_epoch/data/2` is corrupted"), "{e}");
    // anywhere else: an error or an unchanged model, never a panic
    for at in (0..bytes.len()).step_by(7) {
        let e = flip(at);
        assert!(
            e == "loaded" || e.contains("flip.pth") || e.contains("tensor"),
            "byte {at}: {e}"
        );
    }
}

#[test]
fn wrong_layouts_name_the_tensor_at_fault() {
    let e = load_err(&fixture("wrong_layout.pth"));
    assert!(
        e.contains("no supported layout") && e.contains("`mlp.0.weight`"),
        "{e}"
    );
    let e = load_err(&fixture("shape_mismatch.pth"));
    assert!(
        e.contains("tensor `mlp.3.weight` has shape [16, 15], the layout needs [16, 16]"),
        "{e}"
    );
    let e = load_err(&fixture("missing_key.pth"));
    assert!(e.contains("missing tensor `mlp.3.bias`"), "{e}");
    let report = pytorch::inspect(fixture("wrong_layout.pth"), &Overrides::default())
        .unwrap()
        .to_string();
    assert!(
        report.contains("0.weight")
            && report.contains("[4, 1, 3, 3]")
            && report.contains("not recognised"),
        "{report}"
    );
}

#[test]
fn hostile_pickles_are_refused_without_running_anything() {
    let e = load_err(&fixture("unsupported_opcode.pth"));
    assert!(
        e.contains("data.pkl: offset 2: unsupported pickle opcode 0x82 (EXT1)"),
        "{e}"
    );
    let e = load_err(&fixture("huge_string.pth"));
    assert!(
        e.contains("offset 2") && e.contains("needs 4294967280 bytes but only 4 remain"),
        "{e}"
    );
    let e = load_err(&fixture("huge_storage.pth"));
    assert!(
        e.contains("tensor `mlp.0.weight`")
            && e.contains("holds 64 bytes, the pickle declares 1000000000000 elements"),
        "{e}"
    );
    let marker = Path::new("scoregeo_pickle_was_executed");
    let e = load_err(&fixture("exec_payload.pth"));
    assert!(
        e.contains("no tensors found")
            && e.contains("model_state_dict (a call to posix.system (not executed))"),
        "{e}"
    );
    assert!(!marker.exists());
}

fn spectrum_fixture() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("patch8d_spectrum.json")).unwrap())
        .unwrap()
}

fn patch_model() -> pytorch::ImportedModel {
    let ov = Overrides {
        sde: Some(SdeKind::Ve),
        sigma_min: Some(0.01),
        sigma_max: Some(4.0),
        time_scale: Some(999.0),
        prediction: Some(Prediction::Noise),
        ..Default::default()
    };
    pytorch::load(fixture("patch8d_model.pth"), &ov, &Device::Cpu).unwrap()
}

#[test]
fn the_normal_bundle_spectrum_on_stored_noise_matches_pytorch() {
    let spec = spectrum_fixture();
    let model = patch_model();
    let data = Dataset::read(fixture("patch8d.csv")).unwrap();
    let sigma = spec["sigma_t0"].as_f64().unwrap();
    let t0 = spec["t0"].as_f64().unwrap();
    assert!((model.kernel(t0).std - sigma).abs() < 1e-12 * sigma);
    for p in spec["fixed_noise"].as_array().unwrap() {
        let x0 = data.row(p["index"].as_u64().unwrap() as usize);
        let z = matrix(&p["noise"]);
        let x = Mat::from_fn(z.nrows(), z.ncols(), |i, j| x0[j] + sigma * z[(i, j)]);
        let got = singular_values_via_gram(model.score(x.as_ref(), t0).unwrap().as_ref()).unwrap();
        let want: Vec<f64> = p["singular_values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() < 1e-4 * want[0] + 1e-4 * w,
                "{got:?} vs {want:?}"
            );
        }
        // six normal directions of the flat 2-D patch in ℝ⁸
        assert!(want[5] > 20.0 * want[6], "{want:?}");
    }
}

#[test]
fn id_estimate_reproduces_the_pytorch_spectrum_with_its_own_noise() {
    let spec = spectrum_fixture();
    let many = &spec["many_samples"];
    let k = many["samples"].as_u64().unwrap() as usize;
    let data = Dataset::read(fixture("patch8d.csv")).unwrap();
    let indices: Vec<usize> = many["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["index"].as_u64().unwrap() as usize)
        .collect();
    let model = patch_model();
    // the reference code stacks the raw scores of K samples: compare with the uncentred
    // estimator at that fixed K
    let params = NormalBundle::params()
        .t0(spec["t0"].as_f64().unwrap())
        .samples(k)
        .adaptive(false)
        .seed(3);
    let estimator = params.clone().centred(false).check().unwrap();
    let estimate = estimator.fit(&model, &data.select(&indices)).unwrap();
    assert_eq!(estimate.global_id(), 2.0);
    // the default (centred) read-out gives the same dimension
    let centred = params
        .check()
        .unwrap()
        .fit(&model, &data.select(&indices))
        .unwrap();
    assert_eq!(centred.global_id(), 2.0);
    for (i, p) in many["points"].as_array().unwrap().iter().enumerate() {
        let want: Vec<f64> = p["singular_values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let got = estimate.spectrum(i).unwrap();
        // K = 4096 independent draws on each side: singular values agree to a few per cent
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() < 0.06 * w + 0.01 * want[0],
                "point {i}: {got:?} vs {want:?}"
            );
        }
    }
}

#[test]
fn new_user_check_reference_model_on_a_patch_gives_id_2() {
    let data = fixture("patch8d.csv");
    let model = fixture("patch8d_model.pth");
    let out = scoregeo()
        .args([
            "id-estimate",
            data.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
        ])
        .args([
            "--sde",
            "ve",
            "--sigma-min",
            "0.01",
            "--sigma-max",
            "4",
            "--time-scale",
            "999",
            "--format",
            "json",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "raw weights from `model_state_dict`",
        ))
        .get_output()
        .stdout
        .clone();
    let v = json_of(&out);
    assert_eq!(v["ambient_dim"], 8);
    assert_eq!(v["global_id"], 2.0);
    assert_eq!(v["points"].as_array().unwrap().len(), 200);
    assert!(
        v["settings"]["model"]
            .as_str()
            .unwrap()
            .contains("patch8d_model.pth"),
        "{}",
        v["settings"]["model"]
    );
}

#[test]
fn cli_inspect_convert_and_errors() {
    let model = fixture("patch8d_model.pth");
    let model = model.to_str().unwrap();
    scoregeo()
        .args(["inspect-model", model])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("D = 8, H = 64, 2 hidden layers;")
                .and(predicate::str::contains("not usable yet"))
                .and(predicate::str::contains("--time-scale 999")),
        );
    scoregeo()
        .args([
            "inspect-model",
            model,
            "--sigma-max",
            "4",
            "--time-scale",
            "999",
        ])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("σ_max = 4 (flag)")
                .and(predicate::str::contains("status          ready")),
        );
    // using it before it is complete: the message names the flags, exit 1
    let data = fixture("patch8d.csv");
    scoregeo()
        .args([
            "id-estimate",
            data.to_str().unwrap(),
            "--model",
            model,
            "--points",
            "3",
        ])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("--sigma-max").and(predicate::str::contains("--time-scale")),
        );
    // a flag that is not a number is a usage error
    scoregeo()
        .args([
            "convert",
            model,
            "-o",
            "x.safetensors",
            "--sigma-max",
            "big",
        ])
        .assert()
        .code(2);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("patch.safetensors");
    scoregeo()
        .args([
            "convert",
            model,
            "-o",
            out.to_str().unwrap(),
            "--sigma-max",
            "4",
            "--time-scale",
            "999",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains("MlpScoreNet"));
    scoregeo()
        .args(["inspect-model", out.to_str().unwrap()])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("layers.3.weight")
                .and(predicate::str::contains("\"factor\":999.0")),
        );
    let json = |m: &str| {
        let o = scoregeo()
            .args([
                "id-estimate",
                data.to_str().unwrap(),
                "--model",
                m,
                "--points",
                "20",
                "--format",
                "json",
                "--spectra",
            ])
            .args(if m.ends_with(".pth") {
                vec!["--sigma-max", "4", "--time-scale", "999"]
            } else {
                vec![]
            })
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let v: serde_json::Value = serde_json::from_slice(&o).unwrap();
        (v["global_id"].clone(), v["points"].clone())
    };
    assert_eq!(json(model), json(out.to_str().unwrap()));
    scoregeo()
        .args([
            "inspect-model",
            fixture("huge_string.pth").to_str().unwrap(),
        ])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("huge_string.pth").and(predicate::str::contains("offset 2")),
        );
}
