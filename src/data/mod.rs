//! Datasets: n points in ℝ^D as rows, stored row-major in f64.
//!
//! Readers for CSV ([`read_csv`]) and NumPy `.npy` ([`read_npy`]) reject ragged rows, non-numeric
//! cells and non-finite values with the file, line and column at fault; writers go through
//! [`write_atomic`](crate::io::write_atomic), so a failed run never leaves half a file.

mod csv;
mod npy;
pub mod synthetic;

pub(crate) use self::csv::parse_csv_bytes;
pub use self::csv::{read_csv, write_csv};
pub(crate) use self::npy::parse_npy;
pub use self::npy::{read_npy, write_npy};

use crate::error::{Error, Result};
use faer::{Mat, MatRef};
use std::path::Path;

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

    /// Checks that f64 squared distances can measure these points: the largest deviation δ of a
    /// coordinate from its mean must satisfy 4D·δ² ≤ MAX/8 (every squared distance, at most
    /// D·(2δ)², stays finite with room for sums of them) and δ² ≥ 2⁵³·MIN_POSITIVE (differences
    /// keep full precision instead of underflowing towards 0). Identical points pass: whether
    /// they are an error is the caller's to say.
    ///
    /// ```
    /// use scoregeo::data::Dataset;
    /// let ok = Dataset::from_rows(&[vec![0.0, 1.0], vec![2.0, 3.0]]).unwrap();
    /// assert!(ok.check_spread().is_ok());
    /// let huge = Dataset::from_rows(&[vec![0.0], vec![1e200]]).unwrap();
    /// assert!(huge.check_spread().unwrap_err().to_string().contains("rescale"));
    /// ```
    pub fn check_spread(&self) -> Result<()> {
        let n = self.n as f64;
        let mut mean = vec![0.0; self.dim];
        for row in self.rows() {
            // summing x/n cannot overflow where the values themselves are finite
            mean.iter_mut().zip(row).for_each(|(m, x)| *m += x / n);
        }
        let deviation = self
            .rows()
            .flat_map(|row| row.iter().zip(&mean).map(|(x, m)| (x - m).abs()))
            .fold(0.0, f64::max);
        if deviation == 0.0 {
            return Ok(());
        }
        let largest = (f64::MAX / (32.0 * self.dim as f64)).sqrt();
        let smallest = (f64::MIN_POSITIVE * 2f64.powi(53)).sqrt();
        // an infinite deviation (x − m overflowed) is too large as well
        let verdict = if deviation.is_nan() || deviation > largest {
            "too large"
        } else if deviation < smallest {
            "too small"
        } else {
            return Ok(());
        };
        Err(Error::InvalidData(format!(
            "the points deviate from their mean by up to {deviation:.3e}, {verdict} for f64 squared \
             distances (the range is {smallest:.0e} to {largest:.0e} in ℝ^{}); rescale the data",
            self.dim
        )))
    }
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
}
