//! Training: a learned score recovers the ID of a line, runs are bit-reproducible (also across
//! thread counts), checkpoints round-trip and resume exactly, the default model is cached, and
//! the `train` command rejects bad flags.

mod common;
use common::{fails_with, scoregeo, success_stderr};

use assert_cmd::Command;
use scoregeo::id::{NormalBundle, PointSelection};
use scoregeo::score::mlp::{default_device, MlpScoreNet};
use scoregeo::train::{
    default_model, read_state, Budget, CacheOptions, DefaultModel, Provenance, SaveMode, Session,
    TrainParams,
};
use scoregeo::{Dataset, ScoreModel};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// n points on the line c + s·u with s ~ N(0, 1) (seeded), in ℝ³: a 1-D affine subspace without
/// boundary (at a segment's ends the diffused score has a genuine tangential part).
fn line(n: usize) -> Dataset {
    use rand_distr::{Distribution, StandardNormal};
    let u = [1.0 / 6f64.sqrt(), 2.0 / 6f64.sqrt(), -1.0 / 6f64.sqrt()];
    let c = [0.5, -1.0, 2.0];
    let mut rng = scoregeo::rng::stream(11, 0);
    let rows: Vec<Vec<f64>> = (0..n)
        .map(|_| {
            let s: f64 = StandardNormal.sample(&mut rng);
            (0..3).map(|j| c[j] + s * u[j]).collect()
        })
        .collect();
    Dataset::from_rows(&rows).unwrap()
}

fn small() -> TrainParams {
    TrainParams::default()
        .hidden(32)
        .depth(2)
        .batch(64)
        .eval_every(10)
}

fn tensors(path: &Path) -> HashMap<String, Vec<f32>> {
    candle_core::safetensors::load(path, &candle_core::Device::Cpu)
        .unwrap()
        .into_iter()
        .map(|(k, t)| (k, t.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
        .collect()
}

#[test]
fn trained_model_finds_the_line_is_one_dimensional() {
    let data = line(1000);
    // the default recipe's SDE, loss and read-out σ on a smaller network
    let session = TrainParams::default()
        .hidden(64)
        .depth(2)
        .batch(128)
        .steps(5000)
        .check()
        .unwrap()
        .fit(&data)
        .unwrap();
    let report = session.report();
    assert_eq!(report.steps, 5000);
    assert_eq!((report.n_train, report.n_val), (900, 100));
    let model = session.model().unwrap();
    // the oracle: a 1-D affine subspace in ℝ³ has local ID 1 everywhere
    let estimate = NormalBundle::params()
        .points(PointSelection::Count(20))
        .seed(1)
        .check()
        .unwrap()
        .fit(&model, &data)
        .unwrap();
    // (a learned score may miss at a rare point; the estimate may not)
    let ids = estimate.local_ids();
    assert_eq!(estimate.median_local_id(), 1.0, "{ids:?}");
    assert!(ids.iter().filter(|&&k| k == 1.0).count() >= 19, "{ids:?}");
    assert!((estimate.global_id() - 1.0).abs() <= 0.1, "{ids:?}");
    // the validation loss kept falling after the first evaluation
    let h = session.history();
    assert!(
        h.last().unwrap().val_loss.unwrap() < 0.9 * h[0].val_loss.unwrap(),
        "{h:?}"
    );
}

#[test]
fn one_seed_gives_bit_identical_weights() {
    let data = line(300);
    let run = |seed: u64| {
        small()
            .steps(30)
            .seed(seed)
            .check()
            .unwrap()
            .fit(&data)
            .unwrap()
    };
    let (a, b, c) = (run(5), run(5), run(6));
    assert_eq!(a.raw_weights(), b.raw_weights());
    assert_eq!(a.ema_weights(), b.ema_weights());
    assert_eq!(
        a.history().last().unwrap().val_loss,
        b.history().last().unwrap().val_loss
    );
    assert_ne!(a.raw_weights(), c.raw_weights());
}

#[test]
fn weights_do_not_depend_on_the_thread_count() {
    // large enough that candle's matmul and element-wise kernels go parallel (≥ 64k elements)
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<Vec<f64>> = (0..600)
        .map(|i| {
            (0..20)
                .map(|j| ((i * 7 + j * 13) % 29) as f64 / 29.0)
                .collect()
        })
        .collect();
    let data = dir.path().join("d.csv");
    Dataset::from_rows(&rows).unwrap().write(&data).unwrap();
    let train = |threads: &str| -> HashMap<String, Vec<f32>> {
        let out = dir.path().join(format!("m{threads}.safetensors"));
        Command::cargo_bin("scoregeo")
            .unwrap()
            .env("RAYON_NUM_THREADS", threads)
            .args(["train", data.to_str().unwrap(), "-o", out.to_str().unwrap()])
            .args([
                "--hidden", "512", "--depth", "2", "--steps", "8", "--batch", "256", "-q",
            ])
            .assert()
            .success();
        tensors(&out)
    };
    let (one, two) = (train("1"), train("2"));
    assert_eq!(
        one.len(),
        5 * 6,
        "raw, EMA, two moments and the best EMA of three layers"
    );
    assert_eq!(one, two);
}

#[test]
fn checkpoint_round_trips_into_the_ema_model() {
    let data = line(200);
    let session = small().steps(25).check().unwrap().fit(&data).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    session.save(&path, SaveMode::Resumable).unwrap();
    let stored = tensors(&path);
    for (name, w) in session.ema_weights() {
        assert_eq!(stored[&format!("ema.{name}")], w, "{name}");
    }
    for (name, w) in session.raw_weights() {
        assert_eq!(stored[name], w, "{name}");
    }
    // the loaded model is the EMA model, in config and scores
    let loaded = MlpScoreNet::load(&path, &default_device()).unwrap();
    assert_eq!(loaded.config(), session.config());
    let x = data.select(&[0, 50, 100]).to_mat();
    assert_eq!(
        loaded.score(x.as_ref(), 0.01).unwrap(),
        session.model().unwrap().score(x.as_ref(), 0.01).unwrap()
    );
    let (_, state) = read_state(&path).unwrap();
    let state = state.unwrap();
    assert_eq!((state.step, state.resumable), (25, true));
    assert_eq!(state.data_hash, data.content_hash());
    assert_eq!(&state.params, session.params());

    // a slim file loads the same model but cannot be resumed
    let slim = dir.path().join("slim.safetensors");
    session.save(&slim, SaveMode::EmaOnly).unwrap();
    assert_eq!(tensors(&slim).len(), session.ema_weights().len());
    let again = MlpScoreNet::load(&slim, &default_device()).unwrap();
    assert_eq!(
        again.score(x.as_ref(), 0.01).unwrap(),
        loaded.score(x.as_ref(), 0.01).unwrap()
    );
    let e = Session::resume(&slim, &data).err().unwrap().to_string();
    assert!(
        e.contains("slim.safetensors") && e.contains("cannot be resumed"),
        "{e}"
    );
    // nor resumed on other data
    let e = Session::resume(&path, &line(201))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("other data"), "{e}");
}

#[test]
fn resuming_continues_exactly() {
    let data = line(300);
    let trainer = small().steps(40).check().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let straight = dir.path().join("straight.safetensors");
    let mut s = trainer.start(&data).unwrap();
    s.run(Some(&straight)).unwrap();

    let halves = dir.path().join("halves.safetensors");
    let mut first = trainer.start(&data).unwrap();
    // interrupted half-way: the checkpoint holds step 20
    assert!(!first.run_for(20, Some(&halves)).unwrap());
    drop(first);
    let mut second = Session::resume(&halves, &data).unwrap();
    assert_eq!(second.step(), 20);
    assert!(second.run_for(u64::MAX, Some(&halves)).unwrap());

    // raw and EMA weights and both Adam moments agree bit for bit
    assert_eq!(tensors(&straight), tensors(&halves));
    let val = |s: &Session| {
        s.history()
            .iter()
            .map(|h| (h.step, h.val_loss))
            .collect::<Vec<_>>()
    };
    assert_eq!(val(&s), val(&second));
}

#[test]
fn the_head_pilot_trains_on_with_the_lower_fidelity_head_exactly() {
    use scoregeo::score::mlp::Prediction;
    let data = line(300);
    let recipe = small().steps(60).head_pilot(Some(20));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("piloted.safetensors");
    let mut s = recipe.clone().check().unwrap().start(&data).unwrap();
    let pilot = s.head_pilot().expect("the default head pilots");
    assert_eq!((s.step(), pilot.steps), (20, 20));
    s.run(Some(&path)).unwrap();
    // each candidate is the start of a plain run with its head: same losses at step 20, and
    // the chosen one's weights at the end
    let plain = |head: Prediction| {
        recipe
            .clone()
            .head_pilot(None)
            .prediction(head)
            .check()
            .unwrap()
            .fit(&data)
            .unwrap()
    };
    let at_pilot = |s: &Session| {
        s.history()
            .iter()
            .find(|h| h.step == 20)
            .and_then(|h| h.fidelity_loss)
            .unwrap()
    };
    let preconditioned = plain(Prediction::Preconditioned {
        sigma_data: scoregeo::train::DEFAULT_SIGMA_DATA,
    });
    let data_head = plain(Prediction::Data);
    assert_eq!(pilot.preconditioned, at_pilot(&preconditioned));
    assert_eq!(pilot.data, at_pilot(&data_head));
    assert_ne!(pilot.preconditioned, pilot.data);
    let expected = if pilot.data < pilot.preconditioned {
        &data_head
    } else {
        &preconditioned
    };
    assert_eq!(
        pilot.chose_data(),
        expected.config().prediction == Prediction::Data
    );
    assert_eq!(s.config().prediction, expected.config().prediction);
    assert_eq!(s.ema_weights(), expected.ema_weights());
    // the record is kept in the checkpoint, and a resumed run keeps it
    let (_, state) = read_state(&path).unwrap();
    assert_eq!(state.unwrap().head_pilot, Some(pilot));
    assert_eq!(
        Session::resume(&path, &data).unwrap().head_pilot(),
        Some(pilot)
    );
    // no pilot where the budget ends first, or where it is turned off
    for r in [recipe.clone().steps(20), recipe.clone().head_pilot(None)] {
        let s = r.check().unwrap().start(&data).unwrap();
        assert_eq!((s.step(), s.head_pilot()), (0, None));
    }
}

#[test]
fn time_budget_stops_on_time() {
    let data = line(200);
    let budget = std::time::Duration::from_millis(300);
    let mut s = small()
        .time_budget(budget)
        .check()
        .unwrap()
        .start(&data)
        .unwrap();
    let t = std::time::Instant::now();
    s.run(None).unwrap();
    assert_eq!(s.params().budget(), Budget::Duration(budget));
    assert!(s.step() > 0);
    assert!(t.elapsed().as_secs_f64() < 5.0);
    assert!(s.report().elapsed.as_secs_f64() >= 0.3);
}

#[test]
fn default_model_is_cached_and_reused() {
    let data = line(200);
    let cache = tempfile::tempdir().unwrap();
    let opts = CacheOptions {
        dir: Some(cache.path().into()),
        shipped: vec![],
        recipe: small().steps(20),
        ..CacheOptions::default()
    };
    let DefaultModel {
        path: first_path,
        provenance: p1,
        ..
    } = default_model(&data, &opts).unwrap();
    assert!(
        matches!(p1, Provenance::Trained(ref r) if r.steps == 20),
        "{p1:?}"
    );
    assert!(first_path.starts_with(cache.path()));
    let DefaultModel {
        model: net,
        path: second_path,
        provenance: p2,
    } = default_model(&data, &opts).unwrap();
    assert_eq!(p2, Provenance::Cached);
    assert_eq!(second_path, first_path);
    assert_eq!(net.config().dim, 3);
    // another recipe is another cache entry
    let other = CacheOptions {
        recipe: small().steps(21),
        ..opts.clone()
    };
    let DefaultModel {
        path: third_path,
        provenance: p3,
        ..
    } = default_model(&data, &other).unwrap();
    assert!(matches!(p3, Provenance::Trained(_)));
    assert_ne!(third_path, first_path);
    // a shipped model named by the content hash wins over the cache
    let shipped = tempfile::tempdir().unwrap();
    std::fs::copy(
        &first_path,
        shipped
            .path()
            .join(format!("{}.safetensors", data.content_hash())),
    )
    .unwrap();
    let with_shipped = CacheOptions {
        shipped: vec![PathBuf::from("/nonexistent"), shipped.path().into()],
        ..opts
    };
    let DefaultModel {
        path,
        provenance: p4,
        ..
    } = default_model(&data, &with_shipped).unwrap();
    assert_eq!(p4, Provenance::Shipped);
    assert!(path.starts_with(shipped.path()));
}

fn line_file(dir: &Path) -> PathBuf {
    let p = dir.join("line.csv");
    line(200).write(&p).unwrap();
    p
}

#[test]
fn train_command_writes_a_model_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let data = line_file(dir.path());
    let model = dir.path().join("m.safetensors");
    let args = |steps: &str| -> Vec<String> {
        [
            "train",
            data.to_str().unwrap(),
            "-o",
            model.to_str().unwrap(),
            "--hidden",
            "16",
            "--depth",
            "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(["--steps".into(), steps.into()])
        .collect()
    };
    let err = success_stderr(scoregeo().args(args("12")));
    assert!(
        err.contains("trained 12 steps")
            && err.contains("validation loss")
            && err.contains("m.safetensors"),
        "{err}"
    );
    let mut more = args("20");
    more.push("--resume".into());
    let err = success_stderr(scoregeo().args(&more));
    assert!(
        err.contains("resuming") && err.contains("trained 20 steps (8 this run)"),
        "{err}"
    );
    assert_eq!(read_state(&model).unwrap().1.unwrap().step, 20);
    // changing the architecture of a resumed run is a usage error
    let mut changed = args("30");
    changed.extend(["--resume".into(), "--batch".into(), "32".into()]);
    scoregeo()
        .args(&changed)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "--batch differs from the settings saved in",
        ));
}

#[test]
fn train_command_rejects_bad_flags() {
    let dir = tempfile::tempdir().unwrap();
    let data = line_file(dir.path());
    let out = dir.path().join("m.safetensors");
    let run = |extra: &[&str]| {
        let mut c = scoregeo();
        c.args(["train", data.to_str().unwrap(), "-o", out.to_str().unwrap()])
            .args(extra);
        c.assert()
    };
    run(&["--steps", "0"])
        .code(2)
        .stderr(predicates::str::contains("`steps`"));
    run(&["--hidden", "0"])
        .code(2)
        .stderr(predicates::str::contains("`hidden`"));
    run(&["--lr=-1"])
        .code(2)
        .stderr(predicates::str::contains("`lr`"));
    run(&["--time-budget=-3"])
        .code(2)
        .stderr(predicates::str::contains("positive number of seconds"));
    run(&["--steps", "5", "--time-budget", "3"])
        .code(2)
        .stderr(predicates::str::contains("cannot be used with"));
    run(&["--sde", "xx"])
        .code(2)
        .stderr(predicates::str::contains("ve"));
    assert!(!out.exists(), "no model file after a rejected command");
    scoregeo()
        .args([
            "train",
            "/nonexistent/data.csv",
            "-o",
            out.to_str().unwrap(),
        ])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("/nonexistent/data.csv"));
}

#[test]
fn id_estimate_uses_a_cached_or_shipped_default_model() {
    let dir = tempfile::tempdir().unwrap();
    let data_path = line_file(dir.path());
    let data = Dataset::read(&data_path).unwrap();
    // a cache entry made with the default recipe (briefly trained, to keep the test fast)
    let cache = dir.path().join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let recipe = TrainParams::default();
    let mut session = recipe
        .clone()
        .check()
        .unwrap()
        .start_without_pilot(&data)
        .unwrap();
    session.run_for(3, None).unwrap();
    let entry = cache.join(scoregeo::train::cache_file_name(
        &data.content_hash(),
        &recipe,
    ));
    session.save(&entry, SaveMode::EmaOnly).unwrap();
    let estimate = |cwd: &Path| {
        scoregeo()
            .current_dir(cwd)
            .env("SCOREGEO_CACHE", &cache)
            .args([
                "id-estimate",
                data_path.to_str().unwrap(),
                "--model",
                "default",
                "--points",
                "3",
                "-q",
            ])
            .assert()
            .success()
            .get_output()
            .stderr
            .clone()
    };
    let err = String::from_utf8(estimate(dir.path())).unwrap();
    assert!(
        err.contains("cached default model")
            && err.contains(entry.file_name().unwrap().to_str().unwrap()),
        "{err}"
    );
    // a model shipped under ./datasets/models/<hash>.safetensors comes first
    let shipped = dir.path().join("datasets").join("models");
    std::fs::create_dir_all(&shipped).unwrap();
    std::fs::copy(
        &entry,
        shipped.join(format!("{}.safetensors", data.content_hash())),
    )
    .unwrap();
    let err = String::from_utf8(estimate(dir.path())).unwrap();
    assert!(err.contains("shipped pre-trained model"), "{err}");
}

/// `path` with its stored training parameter `name` set to `value` (JSON), written to `out`.
fn tamper(path: &Path, out: &Path, name: &str, value: serde_json::Value) {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let key = scoregeo::train::TRAIN_STATE_KEY;
    let mut state: serde_json::Value =
        serde_json::from_str(header["__metadata__"][key].as_str().unwrap()).unwrap();
    assert!(state["params"].get(name).is_some(), "no stored `{name}`");
    state["params"][name] = value;
    header["__metadata__"][key] = state.to_string().into();
    let mut text = header.to_string();
    // the header stays 8-byte aligned, as safetensors writes it
    while text.len() % 8 != 0 {
        text.push(' ');
    }
    let mut file = (text.len() as u64).to_le_bytes().to_vec();
    file.extend(text.as_bytes());
    file.extend(&bytes[8 + n..]);
    std::fs::write(out, file).unwrap();
}

#[test]
fn resuming_rejects_every_tampered_stored_parameter() {
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();
    let data = line_file(dir.path());
    let model = dir.path().join("m.safetensors");
    let train = |file: &Path| {
        let mut c = scoregeo();
        c.args([
            "train",
            data.to_str().unwrap(),
            "-o",
            file.to_str().unwrap(),
        ])
        .args(["--hidden", "8", "--depth", "1", "--batch", "16"]);
        c
    };
    train(&model).args(["--steps", "2"]).assert().success();
    // every stored setting, each with a value that the checks (or the types) reject
    let cases = [
        ("sde", json!("subvp")),
        ("sigma_min", json!(0.0)),
        ("beta_min", json!(-1.0)),
        ("beta_max", json!(-5.0)),
        ("t_min", json!(1.0)),
        ("time_sampling", json!("sideways")),
        ("hidden", json!(0)),
        ("depth", json!(0)),
        ("residual", json!("yes")),
        ("activation", json!("sigmoidish")),
        ("prediction", json!("banana")),
        ("budget", json!("soon")),
        ("batch", json!(0)),
        ("lr", json!(-1.0)),
        ("warmup", json!(-3)),
        ("schedule", json!("zigzag")),
        ("grad_clip", json!(0.0)),
        ("ema_decay", json!(1.5)),
        ("weight_decay", json!(-0.5)),
        ("val_fraction", json!(2.0)),
        ("max_val", json!("many")),
        ("eval_every", json!(0)),
        (
            "early_stop",
            json!({"tolerance": 0.0, "patience": 2, "min_steps": 0}),
        ),
        ("seed", json!(-1)),
        ("head_pilot", json!(0)),
    ];
    let stored: serde_json::Value =
        serde_json::to_value(read_state(&model).unwrap().1.unwrap().params).unwrap();
    assert_eq!(
        stored.as_object().unwrap().len(),
        cases.len(),
        "a stored parameter is not tampered with"
    );
    for (name, value) in cases {
        let bad = dir.path().join(format!("bad_{name}.safetensors"));
        tamper(&model, &bad, name, value);
        let err = fails_with(train(&bad).args(["--resume", "--steps", "4"]), 1, &[]);
        assert!(
            err.contains(name) && err.contains(&format!("bad_{name}.safetensors")),
            "`{name}`: {err}"
        );
        assert!(!err.contains("panicked"), "`{name}`: {err}");
    }
}

/// Early stopping ends the run at the first rise of the held-out fidelity (a zero-tolerance
/// rule), keeps the EMA weights of its minimum, and a resumed run stays stopped.
#[test]
fn early_stopping_keeps_the_weights_of_the_best_fidelity() {
    use scoregeo::train::EarlyStop;
    let data = line(400);
    let rule = EarlyStop {
        tolerance: 1e-12,
        patience: 1,
        min_steps: 0,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let mut s = small()
        .steps(2000)
        .lr(3e-3)
        .eval_every(5)
        .early_stop(Some(rule))
        .check()
        .unwrap()
        .start(&data)
        .unwrap();
    s.run(Some(&path)).unwrap();
    let r = s.report();
    let (stop, best) = (r.stopped_at.expect("stopped"), r.best_step.unwrap());
    assert!(best < stop && stop < 2000, "best {best}, stop {stop}");
    assert_eq!(r.steps, stop);
    let h = s.history();
    let min = h
        .iter()
        .filter_map(|e| e.fidelity_loss)
        .fold(f64::INFINITY, f64::min);
    let at_best = h.iter().find(|e| e.step == best).unwrap();
    assert_eq!(at_best.fidelity_loss, Some(min));
    assert!(h.last().unwrap().fidelity_loss.unwrap() > min);
    // the saved EMA weights are those of the best step: their fidelity loss is the minimum
    let resumed = Session::resume(&path, &data).unwrap();
    assert_eq!(resumed.report().stopped_at, Some(stop));
    assert_eq!(resumed.ema_weights(), s.ema_weights());
    let mut resumed = resumed;
    assert!(
        resumed.run_for(100, None).unwrap(),
        "a stopped run stays stopped"
    );
    assert_eq!(resumed.step(), stop);
    // without early stopping the same run trains to its budget
    let mut full = small()
        .steps(60)
        .eval_every(5)
        .early_stop(None)
        .check()
        .unwrap()
        .start(&data)
        .unwrap();
    full.run(None).unwrap();
    assert_eq!((full.report().steps, full.report().stopped_at), (60, None));
    assert!(full.history().iter().all(|e| e.fidelity_loss.is_none()));
}

/// `train --no-early-stop` stores the choice, and a resumed run keeps it.
#[test]
fn no_early_stop_flag_is_stored_and_kept_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    let data = line_file(dir.path());
    let model = dir.path().join("m.safetensors");
    let train = || {
        let mut c = scoregeo();
        c.args([
            "train",
            data.to_str().unwrap(),
            "-o",
            model.to_str().unwrap(),
        ])
        .args(["--hidden", "8", "--depth", "1", "--batch", "16", "-q"]);
        c
    };
    train()
        .args(["--steps", "4", "--no-early-stop"])
        .assert()
        .success();
    let stored = read_state(&model).unwrap().1.unwrap().params;
    let json = serde_json::to_value(&stored).unwrap();
    assert!(json["early_stop"].is_null(), "{json}");
    // the default recipe stops early
    let default = serde_json::to_value(TrainParams::default()).unwrap();
    assert!(default["early_stop"].is_object());
    // a resumed run keeps the stored settings, with or without the flag
    train()
        .args(["--resume", "--steps", "8"])
        .assert()
        .success();
    let state = read_state(&model).unwrap().1.unwrap();
    assert_eq!(state.step, 8);
    assert!(serde_json::to_value(&state.params).unwrap()["early_stop"].is_null());
}
