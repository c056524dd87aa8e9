//! Helpers shared by the integration tests that drive the real binary.
// each test crate uses its own subset
#![allow(dead_code)]

use assert_cmd::Command;
use std::path::{Path, PathBuf};

/// The `scoregeo` binary built for this test run.
pub fn scoregeo() -> Command {
    Command::cargo_bin("scoregeo").unwrap()
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Parses a command's stdout as JSON.
pub fn json_of(out: &[u8]) -> serde_json::Value {
    serde_json::from_slice(out).unwrap()
}

/// Runs a command that must succeed and parses its stdout as JSON.
pub fn success_json(cmd: &mut Command) -> serde_json::Value {
    json_of(&cmd.assert().success().get_output().stdout)
}

/// Runs a command that must succeed and returns its stdout as text.
pub fn success_stdout(cmd: &mut Command) -> String {
    String::from_utf8(cmd.assert().success().get_output().stdout.clone()).unwrap()
}

/// Runs a command that must succeed and returns its stderr as text.
pub fn success_stderr(cmd: &mut Command) -> String {
    String::from_utf8(cmd.assert().success().get_output().stderr.clone()).unwrap()
}

/// Runs a command that must exit with `code` and whose stderr names every one of `needles`;
/// returns the stderr.
pub fn fails_with(cmd: &mut Command, code: i32, needles: &[&str]) -> String {
    let out = cmd.assert().code(code).get_output().clone();
    let err = String::from_utf8(out.stderr).unwrap();
    for needle in needles {
        assert!(err.contains(needle), "stderr lacks {needle:?}: {err}");
    }
    err
}

/// `scoregeo id-estimate DATA ARGS…`.
pub fn id_estimate(data: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Command {
    let mut cmd = scoregeo();
    cmd.arg("id-estimate").arg(data).args(args);
    cmd
}

/// Runs `f` on a rayon pool of `threads` threads.
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}
