//! Interrupted work: SIGINT or SIGTERM during `train`, `train-flow` and a long `id-estimate`
//! leaves every output complete or absent, no temporary file behind, and the last training
//! checkpoint resumable; two processes filling the model cache for the same data at once leave
//! one valid model. Each test runs real processes: the `scoregeo` binary, or this test binary
//! re-run in a child role.
#![cfg(unix)]

mod common;
use common::scoregeo;

use scoregeo::train::{
    default_model, read_state, CacheOptions, DefaultModel, Provenance, TrainParams,
};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Environment variable that puts this test binary in a child role.
const ROLE: &str = "SCOREGEO_TEST_CHILD_ROLE";

fn binary() -> PathBuf {
    assert_cmd::cargo::cargo_bin("scoregeo")
}

/// Leftovers of atomic writes (`.scoregeo-*.tmp` files, `.scoregeo-plot-*` directories).
fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".scoregeo-"))
        .collect()
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{name} failed");
}

/// Waits for the child to exit, killing it after `limit`.
fn wait(child: &mut Child, limit: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("the child did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Polls until `ready` holds (or `limit` passes), every millisecond.
fn wait_until(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

fn generate(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let path = dir.join(name);
    scoregeo()
        .args(["-q", "generate"])
        .args(args)
        .arg("-o")
        .arg(&path)
        .assert()
        .success();
    path
}

fn spawn(args: &[&str], dir: &Path) -> Child {
    Command::new(binary())
        .args(args)
        .current_dir(dir)
        .env("SCOREGEO_CACHE", dir.join("cache"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_killed_training_run_leaves_a_resumable_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(
        d,
        "s.csv",
        &["sphere", "--n", "300", "--dim", "2", "--ambient", "3"],
    );
    let model = d.join("m.safetensors");
    for sig in ["TERM", "INT"] {
        let _ = std::fs::remove_file(&model);
        let train = [
            "-q",
            "train",
            "s.csv",
            "-o",
            "m.safetensors",
            "--steps",
            "1000000",
            "--hidden",
            "16",
            "--depth",
            "1",
            "--batch",
            "16",
        ];
        let mut child = spawn(&train, d);
        // the first checkpoint is written after 500 steps; stop it in the middle of later ones
        assert!(wait_until(Duration::from_secs(120), || model.exists()));
        wait_until(Duration::from_millis(700), || !temporaries(d).is_empty());
        signal(&child, sig);
        let status = wait(&mut child, Duration::from_secs(30));
        let code = if sig == "TERM" { 143 } else { 130 };
        assert_eq!(status.code(), Some(code), "{sig}: {status:?}");
        assert_eq!(temporaries(d), Vec::<String>::new(), "{sig}");

        let (_, state) = read_state(&model).unwrap();
        let state = state.unwrap();
        assert!(
            state.resumable && state.step >= 500 && state.step % 500 == 0,
            "{state:?}"
        );
        let next = (state.step + 20).to_string();
        scoregeo()
            .current_dir(d)
            .args([
                "-q",
                "train",
                "s.csv",
                "-o",
                "m.safetensors",
                "--resume",
                "--steps",
            ])
            .arg(&next)
            .assert()
            .success();
        let (_, resumed) = read_state(&model).unwrap();
        assert_eq!(resumed.unwrap().step, state.step + 20, "{sig}");
    }
}

#[test]
fn a_killed_flow_training_or_estimate_leaves_outputs_complete_or_absent() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(
        d,
        "s.csv",
        &["sphere", "--n", "3000", "--dim", "2", "--ambient", "6"],
    );
    let runs: [(&[&str], &str); 2] = [
        (
            &[
                "-q",
                "train-flow",
                "s.csv",
                "-o",
                "f.safetensors",
                "--steps",
                "100000",
            ],
            "f.safetensors",
        ),
        (
            &[
                "-q",
                "id-estimate",
                "s.csv",
                "--model",
                "mixture",
                "--method",
                "nb",
                "--format",
                "json",
                "-o",
                "id.json",
                "--plot",
                "spectra.png",
            ],
            "id.json",
        ),
    ];
    for (args, output) in runs {
        let mut interrupted = 0;
        for (sig, after) in [("TERM", 300), ("INT", 1500)] {
            let mut child = spawn(args, d);
            std::thread::sleep(Duration::from_millis(after));
            signal(&child, sig);
            let status = wait(&mut child, Duration::from_secs(30));
            assert!(
                matches!(status.code(), Some(0 | 130 | 143)),
                "{args:?} {sig}: {status:?}"
            );
            assert_eq!(temporaries(d), Vec::<String>::new(), "{args:?} {sig}");
            let path = d.join(output);
            if status.code() != Some(0) {
                interrupted += 1;
                assert!(
                    !path.exists(),
                    "{args:?} {sig}: a killed run wrote {output}"
                );
            }
        }
        assert!(interrupted > 0, "{args:?} finished before every signal");
    }
}

/// A child role: an atomic write stalls half-way while the process is asked to abandon its
/// partial outputs, as the CLI's signal handler does.
#[test]
#[ignore = "child role of partial_outputs_are_removed_when_the_process_is_abandoned"]
fn child_abandons_a_write_in_progress() {
    let Ok(dir) = std::env::var(ROLE.to_string() + "_DIR") else {
        return;
    };
    let out = Path::new(&dir).join("out.csv");
    std::thread::spawn(move || {
        scoregeo::io::write_atomic(&out, |w| {
            w.write_all(b"x1,x2\n1,")?;
            w.flush()?;
            std::thread::sleep(Duration::from_secs(600));
            Ok(())
        })
    });
    let dir = PathBuf::from(dir);
    assert!(wait_until(Duration::from_secs(10), || !temporaries(&dir).is_empty()));
    scoregeo::io::exit_abandoning_partial_outputs(7);
}

#[test]
fn partial_outputs_are_removed_when_the_process_is_abandoned() {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "child_abandons_a_write_in_progress"])
        .env(ROLE.to_string() + "_DIR", dir.path())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(7));
    assert_eq!(temporaries(dir.path()), Vec::<String>::new());
    assert!(!dir.path().join("out.csv").exists());
}

/// The tiny recipe both cache-filling processes train.
fn tiny_recipe() -> TrainParams {
    TrainParams::default()
        .hidden(8)
        .depth(1)
        .batch(16)
        .steps(300)
}

/// A child role: fills the model cache in `$ROLE_DIR` for the data in `$ROLE_DATA`.
#[test]
#[ignore = "child role of two_processes_filling_the_cache_at_once_leave_one_valid_model"]
fn child_fills_the_cache() {
    let (Ok(dir), Ok(data)) = (
        std::env::var(ROLE.to_string() + "_DIR"),
        std::env::var(ROLE.to_string() + "_DATA"),
    ) else {
        return;
    };
    let data = scoregeo::Dataset::read(data).unwrap();
    let options = CacheOptions {
        dir: Some(dir.into()),
        shipped: Vec::new(),
        recipe: tiny_recipe(),
        ..CacheOptions::default()
    };
    let DefaultModel {
        model: net,
        path,
        provenance,
    } = default_model(&data, &options).unwrap();
    assert_eq!(net.config().dim, 3);
    println!("{} {provenance:?}", path.display());
}

#[test]
fn two_processes_filling_the_cache_at_once_leave_one_valid_model() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let data = generate(
        dir.path(),
        "s.csv",
        &["sphere", "--n", "400", "--dim", "2", "--ambient", "3"],
    );
    let fill = || {
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "child_fills_the_cache",
                "--nocapture",
            ])
            .env(ROLE.to_string() + "_DIR", &cache)
            .env(ROLE.to_string() + "_DATA", &data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let children = [fill(), fill()];
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let files: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let dataset = scoregeo::Dataset::read(&data).unwrap();
    let (_, state) = read_state(&files[0]).unwrap();
    let state = state.unwrap();
    assert_eq!(state.data_hash, dataset.content_hash());
    assert_eq!(state.params, tiny_recipe());
    let options = CacheOptions {
        dir: Some(cache.clone()),
        shipped: Vec::new(),
        recipe: tiny_recipe(),
        ..CacheOptions::default()
    };
    let DefaultModel {
        path, provenance, ..
    } = default_model(&dataset, &options).unwrap();
    assert_eq!((path, provenance), (files[0].clone(), Provenance::Cached));
}
