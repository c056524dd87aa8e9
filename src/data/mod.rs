//! Datasets: n points in ℝ^D as rows, stored row-major in f64.
//!
//! Readers for CSV ([`read_csv`]) and NumPy `.npy` ([`read_npy`]) reject ragged rows, non-numeric
//! cells and non-finite values with the file, line and column at fault. [`write_atomic`] writes any
//! output through a temporary file and a rename, so a failed run never leaves half a file.

mod csv;
mod npy;
pub mod synthetic;

pub(crate) use self::csv::parse_csv_bytes;
pub use self::csv::{read_csv, write_csv};
pub(crate) use self::npy::parse_npy;
pub use self::npy::{read_npy, write_npy};

use crate::error::{Error, Result};
use faer::{Mat, MatRef};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// A finite point cloud of `n` points in ℝ^D (rows are points).
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    values: Vec<f64>,
    n: usize,
    dim: usize,
}

impl Dataset {
    /// Builds a dataset from row-major values; fails on a shape mismatch or a non-finite value.
    pub fn from_row_major(values: Vec<f64>, n: usize, dim: usize) -> Result<Self> {
        if dim == 0 {
            return Err(Error::InvalidData(
                "points must have at least one coordinate".into(),
            ));
        }
        if values.len() != n * dim {
            return Err(Error::InvalidData(format!(
                "{} values cannot form {n} rows of {dim} coordinates",
                values.len()
            )));
        }
        if let Some(k) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidData(format!(
                "non-finite value {} at row {}, column {}",
                values[k],
                k / dim + 1,
                k % dim + 1
            )));
        }
        Ok(Self { values, n, dim })
    }

    /// Builds a dataset from rows of equal length.
    pub fn from_rows(rows: &[Vec<f64>]) -> Result<Self> {
        let dim = rows.first().map_or(0, Vec::len);
        if let Some(i) = rows.iter().position(|r| r.len() != dim) {
            return Err(Error::InvalidData(format!(
                "row {} has {} coordinates, the first row has {dim}",
                i + 1,
                rows[i].len()
            )));
        }
        Self::from_row_major(rows.concat(), rows.len(), dim)
    }

    /// Copies the rows of a matrix.
    pub fn from_mat(m: MatRef<'_, f64>) -> Result<Self> {
        let (n, dim) = (m.nrows(), m.ncols());
        let values = (0..n)
            .flat_map(|i| (0..dim).map(move |j| m[(i, j)]))
            .collect();
        Self::from_row_major(values, n, dim)
    }

    /// Reads a dataset, choosing the format by extension (`.npy`, otherwise CSV).
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("npy") => read_npy(path),
            _ => read_csv(path),
        }
    }

    /// Writes the dataset atomically, choosing the format by extension (`.npy`, otherwise CSV).
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("npy") => write_npy(self, path),
            _ => write_csv(self, path, None),
        }
    }

    /// Number of points n.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True when the dataset has no points.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Ambient dimension D.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The i-th point.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }

    /// Iterates over the points.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = &[f64]> + '_ {
        self.values.chunks_exact(self.dim)
    }

    /// All values, row-major.
    pub fn as_slice(&self) -> &[f64] {
        &self.values
    }

    /// A zero-copy n×D matrix view.
    pub fn as_mat(&self) -> MatRef<'_, f64> {
        MatRef::from_row_major_slice(&self.values, self.n, self.dim)
    }

    /// An owned n×D matrix.
    pub fn to_mat(&self) -> Mat<f64> {
        self.as_mat().to_owned()
    }

    /// The subset of rows with the given indices, in that order.
    pub fn select(&self, indices: &[usize]) -> Self {
        let values = indices
            .iter()
            .flat_map(|&i| self.row(i).iter().copied())
            .collect();
        Self {
            values,
            n: indices.len(),
            dim: self.dim,
        }
    }

    /// SHA-256 of the shape and values, as lowercase hex: a content key for caches.
    pub fn content_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update((self.n as u64).to_le_bytes());
        h.update((self.dim as u64).to_le_bytes());
        for v in &self.values {
            h.update(v.to_le_bytes());
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Temporary files and directories of outputs being written, by registration number: what
/// [`exit_abandoning_partial_outputs`] removes when the process is interrupted.
static PARTIAL: Mutex<Vec<(u64, PathBuf)>> = Mutex::new(Vec::new());
static NEXT_PARTIAL: AtomicU64 = AtomicU64::new(0);

fn partial_outputs() -> MutexGuard<'static, Vec<(u64, PathBuf)>> {
    // the list stays valid whatever a panicking holder was doing
    PARTIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A temporary file or directory registered as part of an output being written; dropping the
/// guard forgets it (the temporary itself is removed or renamed by its owner).
pub(crate) struct PartialOutput(u64);

impl PartialOutput {
    /// Registers `path` for removal should the process be interrupted before it is done.
    pub(crate) fn register(path: &Path) -> Self {
        let id = NEXT_PARTIAL.fetch_add(1, Ordering::Relaxed);
        partial_outputs().push((id, path.to_path_buf()));
        Self(id)
    }

    fn forget_in(&self, list: &mut Vec<(u64, PathBuf)>) {
        list.retain(|(id, _)| *id != self.0);
    }
}

impl Drop for PartialOutput {
    fn drop(&mut self) {
        self.forget_in(&mut partial_outputs());
    }
}

/// Removes the temporary files of every output still being written and exits with `code`,
/// letting no rename happen after: every output is then complete (renamed before) or absent.
/// For signal handlers (the CLI calls it on SIGINT, SIGTERM and SIGHUP).
pub fn exit_abandoning_partial_outputs(code: i32) -> ! {
    let list = partial_outputs();
    for (_, path) in list.iter() {
        if path.is_dir() {
            let _ = std::fs::remove_dir_all(path);
        } else {
            let _ = std::fs::remove_file(path);
        }
    }
    // exit holding the lock, so that no atomic write completes a rename meanwhile
    std::process::exit(code)
}

/// Writes `path` atomically: the bytes go to a temporary file beside it, which is then renamed.
/// The temporary file is removed on failure and by [`exit_abandoning_partial_outputs`].
pub fn write_atomic(
    path: impl AsRef<Path>,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let path = path.as_ref();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".scoregeo-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io(path, e))?;
    let partial = PartialOutput::register(tmp.path());
    {
        let mut buf = std::io::BufWriter::new(tmp.as_file_mut());
        write(&mut buf).map_err(|e| Error::io(path, e))?;
        buf.flush().map_err(|e| Error::io(path, e))?;
    }
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    #[cfg(unix)]
    {
        // temporary files are private (0600); outputs get the usual rw-r--r--
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|e| Error::io(path, e))?;
    }
    // rename under the lock: an interruption finds the output renamed or its temporary listed
    let mut list = partial_outputs();
    let persisted = tmp.persist(path).map_err(|e| Error::io(path, e.error));
    partial.forget_in(&mut list);
    persisted.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_finite_with_position() {
        let err = Dataset::from_row_major(vec![0.0, 1.0, f64::NAN, 2.0], 2, 2).unwrap_err();
        assert!(err.to_string().contains("row 2, column 1"), "{err}");
    }

    #[test]
    fn rejects_ragged_rows() {
        let err = Dataset::from_rows(&[vec![1.0, 2.0], vec![3.0]]).unwrap_err();
        assert!(err.to_string().contains("row 2"), "{err}");
    }

    #[test]
    fn views_agree_with_rows() {
        let d = Dataset::from_rows(&[vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0]]).unwrap();
        let m = d.as_mat();
        assert_eq!(m[(1, 2)], 6.0);
        assert_eq!(d.row(1), &[4.0, 5.0, 6.0]);
        assert_eq!(d.select(&[1, 0]).row(0), d.row(1));
        assert_ne!(d.content_hash(), d.select(&[1, 0]).content_hash());
    }

    #[test]
    fn atomic_write_leaves_no_file_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let err = write_atomic(&path, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("boom"))
        });
        assert!(err.is_err());
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        write_atomic(&path, |w| w.write_all(b"ok")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644);
        }
    }
}
