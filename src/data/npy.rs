//! NumPy `.npy` files (format versions 1–3): 2-D arrays of f32 or f64, C or Fortran order.

use super::Dataset;
use crate::error::{Error, Result};
use crate::io::write_atomic;
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
pub fn read_npy(path: impl AsRef<Path>) -> Result<Dataset> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_npy(path, &bytes)
}

/// Parses the bytes of a `.npy` file; `path` names it in messages.
pub(crate) fn parse_npy(path: &Path, bytes: &[u8]) -> Result<Dataset> {
    let bad = |message: String| Error::Format {
        path: path.into(),
        message,
    };
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad("not a NumPy .npy file (bad magic)".into()));
    }
    let (header_len, header_start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(format!("unsupported .npy format version {v}"))),
    };
    let header_end = header_start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| bad("truncated header".into()))?;
    let header = std::str::from_utf8(&bytes[header_start..header_end])
        .map_err(|_| bad("header is not text".into()))?;
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
    let body = &bytes[header_end..];
    if body.len() != needed {
        return Err(bad(format!(
            "data holds {} bytes, shape {shape_text} of {descr} needs {needed}",
            body.len(),
        )));
    }
    let flat: Vec<f64> = body
        .chunks_exact(size)
        .map(|c| match (size, little) {
            (8, true) => f64::from_le_bytes(c.try_into().unwrap()),
            (8, false) => f64::from_be_bytes(c.try_into().unwrap()),
            (_, true) => f32::from_le_bytes(c.try_into().unwrap()) as f64,
            (_, false) => f32::from_be_bytes(c.try_into().unwrap()) as f64,
        })
        .collect();
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
    Dataset::from_row_major(values, n, dim)
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
    fn round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.npy");
        let d = Dataset::from_rows(&[vec![0.1, 2.0, -1.0], vec![3.0, 4.5, 1e10]]).unwrap();
        write_npy(&d, &p).unwrap();
        assert_eq!(read_npy(&p).unwrap(), d);
    }
}
