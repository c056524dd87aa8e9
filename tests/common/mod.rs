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
