//! Replays every input of the fuzz targets (fuzz/seeds, the minimised fuzz/corpus and the
//! crashes kept in fuzz/regressions) through the same entry points the fuzzer drives, without
//! the fuzzer: a panic fails the test. Seeds known to be valid must load, so the harnesses are
//! shown to reach past the first check.

use scoregeo::fuzzing;
use std::path::{Path, PathBuf};

type Entry = fn(&[u8]) -> Result<usize, String>;

fn lib(r: scoregeo::Result<usize>) -> Result<usize, String> {
    r.map_err(|e| e.to_string())
}

/// (target, entry point) for every fuzz target.
const TARGETS: [(&str, Entry); 9] = [
    ("csv", |b| lib(fuzzing::csv(b).map(|d| d.len()))),
    ("npy", |b| lib(fuzzing::npy(b).map(|d| d.len()))),
    ("zip", |b| lib(fuzzing::zip(b))),
    ("pickle", fuzzing::pickle),
    ("pytorch", |b| lib(fuzzing::pytorch(b))),
    ("native_model", |b| lib(fuzzing::native_model(b))),
    ("train_checkpoint", |b| lib(fuzzing::train_checkpoint(b))),
    ("flow", |b| lib(fuzzing::flow(b))),
    ("manifest", |b| lib(fuzzing::manifest(b))),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Every file under fuzz/{seeds,corpus,regressions}/`target`.
fn inputs(target: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for kind in ["seeds", "corpus", "regressions"] {
        if let Ok(dir) = std::fs::read_dir(fuzz_dir().join(kind).join(target)) {
            files.extend(dir.map(|e| e.unwrap().path()).filter(|p| p.is_file()));
        }
    }
    files.sort();
    files
}

fn entry(target: &str) -> Entry {
    TARGETS.iter().find(|(t, _)| *t == target).unwrap().1
}

#[test]
fn every_corpus_input_is_read_without_a_panic() {
    let mut total = 0;
    for (target, run) in TARGETS {
        let files = inputs(target);
        assert!(!files.is_empty(), "no inputs for fuzz target {target}");
        for path in &files {
            let bytes = std::fs::read(path).unwrap();
            if let Err(message) = run(&bytes) {
                assert!(
                    !message.trim().is_empty(),
                    "{}: empty error",
                    path.display()
                );
            }
        }
        total += files.len();
    }
    eprintln!("replayed {total} fuzz inputs");
}

#[test]
fn valid_seeds_load_so_the_harnesses_reach_deep() {
    let seed = |target: &str, name: &str| {
        let path = fuzz_dir().join("seeds").join(target).join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let ok = |target: &str, name: &str| {
        entry(target)(&seed(target, name)).unwrap_or_else(|e| panic!("{target}/{name}: {e}"))
    };
    assert_eq!(ok("csv", "semicolon.csv"), 2);
    assert_eq!(ok("npy", "f4_fortran.npy"), 2);
    assert!(ok("zip", "fcn_state_dict.pth") > 0);
    assert!(ok("pickle", "fcn_lightning.pkl") > 0);
    // the state dict needs flags (both plans), the Lightning checkpoint names its SDE (both)
    assert_eq!(ok("pytorch", "fcn_state_dict.pkl"), 1);
    assert_eq!(ok("pytorch", "fcn_lightning.pkl"), 2);
    assert_eq!(ok("native_model", "slim.safetensors"), 2);
    assert_eq!(ok("native_model", "sidecar.safetensors"), 2);
    assert_eq!(ok("native_model", "skip.safetensors"), 4);
    assert_eq!(ok("train_checkpoint", "resumable.safetensors"), 3);
    assert_eq!(ok("flow", "flow.safetensors"), 2);
    assert_eq!(ok("manifest", "lollipop.manifest.json"), 3);
}

/// Reads a kept crash input through the public reader a user would run on such a file (named
/// with the right extension) and returns its error message.
fn public_error(target: &str, name: &str) -> String {
    let bytes = std::fs::read(fuzz_dir().join("regressions").join(target).join(name)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let at = |file: &str| {
        let p = dir.path().join(file);
        std::fs::write(&p, &bytes).unwrap();
        p
    };
    let err = match target {
        "csv" => scoregeo::Dataset::read(at("data.csv")).map(drop),
        "npy" => scoregeo::Dataset::read(at("data.npy")).map(drop),
        "train_checkpoint" => {
            scoregeo::train::Session::resume(at("ckpt.safetensors"), &fuzzing::checkpoint_data())
                .map(drop)
        }
        other => panic!("no public reader wired for {other}"),
    };
    err.expect_err("a kept crash input must be refused")
        .to_string()
}

#[test]
fn every_kept_crash_gets_a_clear_error_from_the_public_reader() {
    // (target, input, what the message must say); each line is a crash the fuzzer found
    let cases = [
        (
            "npy",
            "shape_bytes_overflow.npy",
            "data.npy: shape (0004306466688538014151, 3) of <f4 overflows",
        ),
        // the stored settings are checked on resume, naming the value (once a division by zero)
        (
            "train_checkpoint",
            "val_fraction_1.1.safetensors",
            "the fraction (val_fraction) must lie in [0, 0.5], got 1.1",
        ),
    ];
    for (target, name, says) in cases {
        let message = public_error(target, name);
        assert!(message.contains(says), "{target}/{name}: {message}");
    }
    let kept: usize = TARGETS
        .iter()
        .map(|(t, _)| {
            std::fs::read_dir(fuzz_dir().join("regressions").join(t)).map_or(0, |d| d.count())
        })
        .sum();
    assert_eq!(kept, cases.len(), "every kept crash input has a case here");
}
