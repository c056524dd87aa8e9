//! Memory is bounded by the real size of the input: files whose headers claim terabytes are
//! refused with a clear error by a process whose address space is capped at 3 GiB (`ulimit -v`),
//! so nothing was allocated for what they claim.
#![cfg(target_os = "linux")]

use scoregeo::fuzzing::stored_zip;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Address-space cap of the reading process, KiB (the binary itself needs well under 1 GiB).
const CAP_KIB: u64 = 3 << 20;

/// Runs `scoregeo ARGS` under the cap; returns (exit code, stderr).
fn capped(args: &[&str], dir: &Path) -> (Option<i32>, String) {
    let bin = assert_cmd::cargo::cargo_bin("scoregeo");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {CAP_KIB} && exec \"$0\" \"$@\""))
        .arg(bin)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn refused(args: &[&str], dir: &Path, file: &str, says: &str) {
    let (code, stderr) = capped(args, dir);
    assert_eq!(code, Some(1), "{args:?}: {stderr}");
    assert!(
        stderr.contains(file) && stderr.contains(says) && !stderr.contains("panicked"),
        "{args:?}: {stderr}"
    );
}

/// A safetensors file whose header declares `shape` of f32 over `offsets`, followed by `body`.
fn safetensors(shape: &str, offsets: &str, metadata: &str, body: &[u8]) -> Vec<u8> {
    let mut header = format!(
        r#"{{"__metadata__":{metadata},"layers.0.weight":{{"dtype":"F32","shape":{shape},"data_offsets":{offsets}}}}}"#
    )
    .into_bytes();
    while header.len() % 8 != 0 {
        header.push(b' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header);
    out.extend(body);
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn headers_that_claim_more_than_the_file_holds_are_refused_in_small_memory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "data.csv", b"1,2\n3,4\n5,7\n");

    // .npy: 10^16 elements claimed, 16 bytes present
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (100000000, 100000000), }\n";
    npy.extend((header.len() as u16).to_le_bytes());
    npy.extend(header.as_bytes());
    npy.extend([0u8; 16]);
    write(d, "huge.npy", &npy);
    refused(
        &["id-estimate", "huge.npy", "--method", "mle"],
        d,
        "huge.npy",
        "needs",
    );

    // safetensors: a header length of 2^40 bytes, and a tensor of 10^12 floats over 16 bytes
    let mut long = (1u64 << 40).to_le_bytes().to_vec();
    long.extend(b"{}");
    write(d, "long.safetensors", &long);
    let config = r#"{"scoregeo_config":"{}"}"#;
    let big = safetensors("[1000000,1000000]", "[0,4000000000000]", config, &[0; 16]);
    write(d, "big.safetensors", &big);
    for file in ["long.safetensors", "big.safetensors"] {
        refused(
            &["id-estimate", "data.csv", "--model", file],
            d,
            file,
            "safetensors",
        );
    }
    // a flow file with the same tensor
    let flow = safetensors(
        "[1000000,1000000]",
        "[0,4000000000000]",
        r#"{"scoregeo_flow_config":"{}"}"#,
        &[0; 16],
    );
    write(d, "flow.safetensors", &flow);
    refused(
        &["rae", "flow.safetensors", "--epsilon", "0.1"],
        d,
        "flow.safetensors",
        "safetensors",
    );

    // a pickle whose string claims 2^40 bytes, inside a valid zip archive
    let mut program = vec![0x80, 2, 0x8d];
    program.extend((1u64 << 40).to_le_bytes());
    program.extend(b"abc.");
    let zip = stored_zip(&[("archive/data.pkl", &program)]);
    write(d, "string.pth", &zip);
    refused(
        &["inspect-model", "string.pth"],
        d,
        "string.pth",
        "1099511627776 bytes but only",
    );

    // a zip whose directory claims a data.pkl of 2^40 bytes (zip64 sizes)
    let mut zip = stored_zip(&[
        ("archive/data/0", &[0; 8]),
        ("archive/data.pkl", b"\x80\x02N."),
    ]);
    let central = zip
        .windows(4)
        .rposition(|w| w == b"PK\x01\x02")
        .expect("a central record");
    zip[central + 24..central + 28].copy_from_slice(&u32::MAX.to_le_bytes());
    let name_len = u16::from_le_bytes([zip[central + 28], zip[central + 29]]) as usize;
    // move the name forward to make room for a zip64 extra field of one 8-byte size
    let name_at = central + 46;
    let name: Vec<u8> = zip[name_at..name_at + name_len].to_vec();
    let mut extra = vec![1u8, 0, 8, 0];
    extra.extend((1u64 << 40).to_le_bytes());
    zip[central + 30..central + 32].copy_from_slice(&(extra.len() as u16).to_le_bytes());
    let tail = zip.split_off(name_at + name_len);
    zip.truncate(name_at);
    zip.extend(&name);
    zip.extend(&extra);
    zip.extend(&tail);
    // the end record's directory size grows by the extra field
    let eocd = zip.len() - 22;
    let size =
        u32::from_le_bytes(zip[eocd + 12..eocd + 16].try_into().unwrap()) + extra.len() as u32;
    zip[eocd + 12..eocd + 16].copy_from_slice(&size.to_le_bytes());
    write(d, "entry.pth", &zip);
    refused(
        &["inspect-model", "entry.pth"],
        d,
        "entry.pth",
        "needs 1099511627776 bytes",
    );
}
