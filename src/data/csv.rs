//! CSV and whitespace-separated text: header detected, `#` comments and blank lines skipped.

use super::Dataset;
use crate::error::{Error, Result};
use crate::io::write_atomic;
use std::path::Path;

/// How the fields of a line are separated.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Separator {
    Byte(char),
    Whitespace,
}

impl Separator {
    /// Chooses the separator from the first data line: comma, then semicolon, then tab, else blanks.
    fn detect(line: &str) -> Self {
        [',', ';', '\t']
            .into_iter()
            .find(|&c| line.contains(c))
            .map_or(Separator::Whitespace, Separator::Byte)
    }

    fn split<'a>(self, line: &'a str) -> Box<dyn Iterator<Item = &'a str> + 'a> {
        match self {
            Separator::Byte(c) => Box::new(line.split(c).map(str::trim)),
            Separator::Whitespace => Box::new(line.split_whitespace()),
        }
    }
}

/// Parses one cell; quoted numbers are accepted, the words NaN/inf are parsed so they can be rejected by name.
fn parse_cell(cell: &str) -> Option<f64> {
    cell.trim_matches('"').trim().parse::<f64>().ok()
}

/// Reads a numeric table from CSV or whitespace-separated text.
///
/// The first line is a header when any of its cells is not a number. Every row must have as many
/// cells as the first; a ragged row, a non-numeric cell, NaN or ±Inf is an error naming the line
/// and column.
pub fn read_csv(path: impl AsRef<Path>) -> Result<Dataset> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_csv_bytes(path, &bytes)
}

/// Parses the bytes of a CSV file; `path` names it in messages.
pub(crate) fn parse_csv_bytes(path: &Path, bytes: &[u8]) -> Result<Dataset> {
    let text = std::str::from_utf8(bytes).map_err(|e| Error::Format {
        path: path.into(),
        message: format!(
            "not UTF-8 text (byte {}); is this a binary file?",
            e.valid_up_to()
        ),
    })?;
    parse_csv(path, text)
}

fn parse_csv(path: &Path, text: &str) -> Result<Dataset> {
    let parse_err = |line: usize, column: usize, message: String| Error::Parse {
        path: path.into(),
        line,
        column,
        message,
    };
    let mut sep = None;
    let mut dim = 0;
    let mut values = Vec::new();
    let mut n = 0;
    for (k, raw) in text.lines().enumerate() {
        let lineno = k + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let sep = *sep.get_or_insert_with(|| Separator::detect(line));
        let cells: Vec<&str> = sep.split(line).collect();
        if n == 0 && dim == 0 {
            dim = cells.len();
            if cells.iter().any(|c| parse_cell(c).is_none()) {
                continue; // header line
            }
        }
        if cells.len() != dim {
            return Err(parse_err(
                lineno,
                0,
                format!("ragged row: {} fields, expected {dim}", cells.len()),
            ));
        }
        for (j, cell) in cells.iter().enumerate() {
            match parse_cell(cell) {
                Some(v) if v.is_finite() => values.push(v),
                Some(v) => {
                    return Err(parse_err(lineno, j + 1, format!("non-finite value `{v}`")));
                }
                None => {
                    return Err(parse_err(lineno, j + 1, format!("not a number: `{cell}`")));
                }
            }
        }
        n += 1;
    }
    if n == 0 {
        return Err(Error::Format {
            path: path.into(),
            message: "no data rows".into(),
        });
    }
    Dataset::from_row_major(values, n, dim)
}

/// Writes a dataset as CSV with an optional header (default `x1,…,xD`), atomically.
pub fn write_csv(data: &Dataset, path: impl AsRef<Path>, header: Option<&[String]>) -> Result<()> {
    let default: Vec<String> = (1..=data.dim()).map(|j| format!("x{j}")).collect();
    let header = header.unwrap_or(&default);
    write_atomic(path, |w| {
        writeln!(w, "{}", header.join(","))?;
        for row in data.rows() {
            let cells: Vec<String> = row.iter().map(|v| format!("{v}")).collect();
            writeln!(w, "{}", cells.join(","))?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Dataset> {
        parse_csv(Path::new("t.csv"), text)
    }

    #[test]
    fn detects_header_and_separators() {
        let d = parse("a,b\n1,2\n3,4\n").unwrap();
        assert_eq!((d.len(), d.dim()), (2, 2));
        let d = parse("# comment\n1 2  3\n\n4\t5 6\n").unwrap();
        assert_eq!(
            d.row(1),
            &[4.0, 5.0, 6.0],
            "blanks and tabs mix in whitespace mode"
        );
        let d = parse("1 2  3\n4 5 6\n").unwrap();
        assert_eq!(d.row(1), &[4.0, 5.0, 6.0]);
        let d = parse("\"x\";\"y\"\n1.5;-2e-3\n").unwrap();
        assert_eq!(d.row(0), &[1.5, -2e-3]);
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = parse("1,2\n3,4,5\n").unwrap_err().to_string();
        assert!(e.contains("t.csv:2:0") && e.contains("ragged"), "{e}");
        let e = parse("1,2\n3,NaN\n").unwrap_err().to_string();
        assert!(e.contains("t.csv:2:2") && e.contains("non-finite"), "{e}");
        let e = parse("x,y\n1,2\n3,abc\n").unwrap_err().to_string();
        assert!(e.contains("t.csv:3:2") && e.contains("abc"), "{e}");
        let e = parse("x,y\n").unwrap_err().to_string();
        assert!(e.contains("no data rows"), "{e}");
        let e = parse("").unwrap_err().to_string();
        assert!(e.contains("no data rows"), "{e}");
    }

    #[test]
    fn round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.csv");
        let d = Dataset::from_rows(&[vec![0.1, 1e-300], vec![-3.25, 7.0]]).unwrap();
        write_csv(&d, &p, None).unwrap();
        assert_eq!(read_csv(&p).unwrap(), d);
    }
}
