//! NumPy `.npy` files (format versions 1–3): 2-D arrays of f32 or f64, C or Fortran order.

use super::Dataset;
use crate::error::{Error, Result};
use crate::io::write_atomic;
use std::io::Read;
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";

/// Finds `'key': value` in the header dictionary and returns the value text up to the next key.
fn header_field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let start = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header[start..].trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}']).unwrap_or(rest.len())
    };
    Some(rest[..end].trim())
}

/// Reads a 2-D `.npy` array of little- or big-endian f32/f64 as a dataset.
///
/// The body is decoded block by block straight into the dataset's values, so the file is never
/// held in memory twice.
pub fn read_npy(path: impl AsRef<Path>) -> Result<Dataset> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    decode(path, std::io::BufReader::with_capacity(BLOCK, file), len)
}

/// Parses the bytes of a `.npy` file; `path` names it in messages.
pub(crate) fn parse_npy(path: &Path, bytes: &[u8]) -> Result<Dataset> {
    decode(path, bytes, bytes.len() as u64)
}

/// Bytes decoded per read of the body.
const BLOCK: usize = 1 << 16;

/// Decodes a `.npy` stream of `len` bytes in all; `path` names it in messages.
fn decode(path: &Path, mut r: impl Read, len: u64) -> Result<Dataset> {
    let bad = |message: String| Error::Format {
        path: path.into(),
        message,
    };
    let failed = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => bad("truncated file".into()),
        _ => Error::io(path, e),
    };
    let mut preamble = [0u8; 12];
    if len < 10 {
        return Err(bad("not a NumPy .npy file (bad magic)".into()));
    }
    r.read_exact(&mut preamble[..10]).map_err(failed)?;
    if &preamble[..6] != MAGIC {
        return Err(bad("not a NumPy .npy file (bad magic)".into()));
    }
    let (header_len, header_start) = match preamble[6] {
        1 => (u16::from_le_bytes([preamble[8], preamble[9]]) as u64, 10u64),
        2 | 3 if len >= 12 => {
            r.read_exact(&mut preamble[10..]).map_err(failed)?;
            let l = u32::from_le_bytes([preamble[8], preamble[9], preamble[10], preamble[11]]);
            (l as u64, 12)
        }
        v => return Err(bad(format!("unsupported .npy format version {v}"))),
    };
    let header_end = header_start
        .checked_add(header_len)
        .filter(|&e| e <= len)
        .ok_or_else(|| bad("truncated header".into()))?;
    let mut header = vec![0u8; header_len as usize];
    r.read_exact(&mut header).map_err(failed)?;
    let header = std::str::from_utf8(&header).map_err(|_| bad("header is not text".into()))?;
    let descr = header_field(header, "descr").ok_or_else(|| bad("header lacks 'descr'".into()))?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let fortran = match header_field(header, "fortran_order") {
        Some("True") => true,
        Some("False") => false,
        _ => return Err(bad("header lacks 'fortran_order'".into())),
    };
    let shape_text =
        header_field(header, "shape").ok_or_else(|| bad("header lacks 'shape'".into()))?;
    let shape: Vec<usize> = shape_text
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| bad(format!("bad shape {shape_text}")))
        })
        .collect::<Result<_>>()?;
    let [n, dim] = shape[..] else {
        return Err(bad(format!(
            "expected a 2-D array, found shape {shape_text}"
        )));
    };
    if n == 0 || dim == 0 {
        return Err(bad(format!(
            "shape {shape_text} has no data: need at least one row and one column"
        )));
    }
    let (size, little) = match descr {
        "<f8" | "=f8" | "|f8" => (8, true),
        ">f8" => (8, false),
        "<f4" | "=f4" | "|f4" => (4, true),
        ">f4" => (4, false),
        other => return Err(bad(format!("unsupported dtype '{other}' (need f4 or f8)"))),
    };
    // the data must be as long as the shape says: nothing is allocated for a shape it cannot fill
    let needed = n
        .checked_mul(dim)
        .and_then(|count| count.checked_mul(size))
        .ok_or_else(|| bad(format!("shape {shape_text} of {descr} overflows")))?;
    let count = n * dim;
    let body = len - header_end;
    if body != needed as u64 {
        return Err(bad(format!(
            "data holds {body} bytes, shape {shape_text} of {descr} needs {needed}",
        )));
    }
    // one loop per dtype, so each decodes with fixed-size chunks (a plain copy for native f8)
    fn decode<const N: usize>(bytes: &[u8], flat: &mut Vec<f64>, value: fn([u8; N]) -> f64) {
        flat.extend(
            bytes
                .chunks_exact(N)
                .map(|c| value(c.try_into().expect("chunks of N bytes"))),
        );
    }
    let mut flat: Vec<f64> = Vec::with_capacity(count);
    let mut block = vec![0u8; BLOCK.min(needed)];
    while flat.len() < count {
        let take = ((count - flat.len()) * size).min(block.len());
        r.read_exact(&mut block[..take]).map_err(failed)?;
        let bytes = &block[..take];
        match (size, little) {
            (8, true) => decode(bytes, &mut flat, f64::from_le_bytes),
            (8, false) => decode(bytes, &mut flat, f64::from_be_bytes),
            (_, true) => decode(bytes, &mut flat, |b| f32::from_le_bytes(b).into()),
            (_, false) => decode(bytes, &mut flat, |b| f32::from_be_bytes(b).into()),
        }
    }
    // a stream longer than its length said (a file that grew while it was read)
    if r.read(&mut [0u8]).map_err(failed)? != 0 {
        return Err(bad(format!(
            "data holds more bytes than shape {shape_text} of {descr} needs ({needed})"
        )));
    }
    let values = if fortran {
        // column-major on disk: element (i, j) sits at j·n + i
        (0..count).map(|k| flat[(k % dim) * n + k / dim]).collect()
    } else {
        flat
    };
    if let Some(k) = values.iter().position(|v: &f64| !v.is_finite()) {
        return Err(bad(format!(
            "non-finite value at row {}, column {}",
            k / dim + 1,
            k % dim + 1
        )));
    }
    // every value was checked just above, with the file's name in the message
    Ok(Dataset { values, n, dim })
}

/// Writes a dataset as a little-endian f64 C-order `.npy` file, atomically.
pub fn write_npy(data: &Dataset, path: impl AsRef<Path>) -> Result<()> {
    let mut header = format!(
        "{{'descr': '<f8', 'fortran_order': False, 'shape': ({}, {}), }}",
        data.len(),
        data.dim()
    );
    // pad so that the data starts on a 64-byte boundary, ending with a newline
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    write_atomic(path, |w| {
        w.write_all(MAGIC)?;
        w.write_all(&[1, 0])?;
        w.write_all(&(header.len() as u16).to_le_bytes())?;
        w.write_all(header.as_bytes())?;
        for v in data.as_slice() {
            w.write_all(&v.to_le_bytes())?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, fortran: bool, shape: &str, body: &[u8]) -> Vec<u8> {
        let header = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}\n",
            if fortran { "True" } else { "False" }
        );
        let mut out = MAGIC.to_vec();
        out.extend([1, 0]);
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(body);
        out
    }

    #[test]
    fn reads_f32_fortran_order() {
        let vals: [f32; 6] = [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]; // columns of [[1,2,3],[4,5,6]]
        let body: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        let d = parse_npy(Path::new("a.npy"), &npy("<f4", true, "(2, 3)", &body)).unwrap();
        assert_eq!(d.row(0), &[1.0, 2.0, 3.0]);
        assert_eq!(d.row(1), &[4.0, 5.0, 6.0]);
    }

    #[test]
    fn rejects_bad_files() {
        let p = Path::new("a.npy");
        assert!(parse_npy(p, b"hello")
            .unwrap_err()
            .to_string()
            .contains("magic"));
        let e = parse_npy(p, &npy("<f8", false, "(2, 3)", &[0; 40]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("a.npy") && e.contains("needs 48"), "{e}");
        let e = parse_npy(p, &npy("<i8", false, "(1, 1)", &[0; 8]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("dtype"), "{e}");
        let e = parse_npy(p, &npy("<f8", false, "(3,)", &[0; 24]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("2-D"), "{e}");
        for shape in ["(3, 0)", "(0, 3)"] {
            let e = parse_npy(p, &npy("<f8", false, shape, &[]))
                .unwrap_err()
                .to_string();
            assert!(e.contains("a.npy") && e.contains("no data"), "{e}");
        }
        let nan: Vec<u8> = [1.0f64, f64::NAN]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let e = parse_npy(p, &npy("<f8", false, "(1, 2)", &nan))
            .unwrap_err()
            .to_string();
        assert!(e.contains("row 1, column 2"), "{e}");
    }

    #[test]
    fn a_stream_longer_or_shorter_than_its_length_is_refused() {
        let p = Path::new("a.npy");
        let body: Vec<u8> = (0..6).flat_map(|v| (v as f64).to_le_bytes()).collect();
        let full = npy("<f8", false, "(2, 3)", &body);
        // a file that grew while it was read: its length said 48 data bytes, 56 came
        let mut grown = full.clone();
        grown.extend(7f64.to_le_bytes());
        let e = decode(p, &grown[..], full.len() as u64)
            .unwrap_err()
            .to_string();
        assert!(e.contains("a.npy") && e.contains("more bytes"), "{e}");
        // and one that shrank: the read ends early
        let e = decode(p, &full[..full.len() - 8], full.len() as u64)
            .unwrap_err()
            .to_string();
        assert!(e.contains("a.npy") && e.contains("truncated"), "{e}");
        let d = decode(p, &full[..], full.len() as u64).unwrap();
        assert_eq!(d.row(1), &[3.0, 4.0, 5.0]);
    }

    #[test]
    fn reads_a_file_of_many_blocks() {
        // 10 000 × 9 f64 is 720 000 bytes, eleven blocks and a partial one
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.npy");
        let rows: Vec<Vec<f64>> = (0..10_000)
            .map(|i| (0..9).map(|j| (i * 9 + j) as f64 * 0.25 - 3.0).collect())
            .collect();
        let d = Dataset::from_rows(&rows).unwrap();
        write_npy(&d, &p).unwrap();
        assert_eq!(read_npy(&p).unwrap(), d);
    }

    #[test]
    fn round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.npy");
        let d = Dataset::from_rows(&[vec![0.1, 2.0, -1.0], vec![3.0, 4.5, 1e10]]).unwrap();
        write_npy(&d, &p).unwrap();
        assert_eq!(read_npy(&p).unwrap(), d);
    }
}
