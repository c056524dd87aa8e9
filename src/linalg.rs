//! Dense linear algebra in f64 with faer, single-threaded inside (callers parallelise over points):
//! the spectra the estimators read and the generators check.

use crate::error::{Error, Result};
use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{self_adjoint_evd, self_adjoint_evd_scratch, ComputeEigenvectors};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};

/// The Euclidean distance ‖a − b‖ of two points given as slices of equal length.
pub fn euclidean_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// The mean row of `rows` (n rows of length `d`, n ≥ 1) and their covariance matrix
/// (1/n)·Σ (xᵢ − m)(xᵢ − m)ᵀ, single-threaded.
pub fn mean_and_covariance(rows: &[&[f64]], d: usize) -> (Vec<f64>, Mat<f64>) {
    let n = rows.len();
    let mean: Vec<f64> = (0..d)
        .map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n as f64)
        .collect();
    let centred = Mat::from_fn(n, d, |i, j| rows[i][j] - mean[j]);
    let mut cov = Mat::<f64>::zeros(d, d);
    matmul(
        cov.as_mut(),
        Accum::Replace,
        centred.transpose(),
        centred.as_ref(),
        1.0 / n as f64,
        Par::Seq,
    );
    (mean, cov)
}

/// Eigenvalues of a symmetric matrix (lower triangle read), descending.
pub fn symmetric_eigenvalues(a: MatRef<'_, f64>) -> Result<Vec<f64>> {
    let n = a.nrows();
    let mut s = Diag::<f64>::zeros(n);
    let mut mem = MemBuffer::new(self_adjoint_evd_scratch::<f64>(
        n,
        ComputeEigenvectors::No,
        Par::Seq,
        Default::default(),
    ));
    self_adjoint_evd(
        a,
        s.as_mut(),
        None,
        Par::Seq,
        MemStack::new(&mut mem),
        Default::default(),
    )
    .map_err(|e| Error::Numerical(format!("symmetric eigensolver: {e:?}")))?;
    let mut v: Vec<f64> = s.column_vector().iter().copied().collect();
    v.reverse();
    Ok(v)
}

/// Singular values of a K×D matrix S (descending), as √λ of the D×D Gram matrix SᵀS.
///
/// The Gram route costs K·D² + D³ instead of a K×D SVD; its relative accuracy on the small
/// values (≈ √ε·s₁ ≈ 10⁻⁸·s₁) is ample to locate a spectral gap.
pub fn singular_values_via_gram(s: MatRef<'_, f64>) -> Result<Vec<f64>> {
    let d = s.ncols();
    let mut gram = Mat::<f64>::zeros(d, d);
    matmul(
        gram.as_mut(),
        Accum::Replace,
        s.transpose(),
        s,
        1.0,
        Par::Seq,
    );
    Ok(symmetric_eigenvalues(gram.as_ref())?
        .into_iter()
        .map(|l| l.max(0.0).sqrt())
        .collect())
}

/// Singular values of a square matrix (descending), by faer's SVD, single-threaded.
pub fn singular_values(a: MatRef<'_, f64>) -> Result<Vec<f64>> {
    // the Gram route squares the condition number; Jacobians are small, so use the SVD
    let n = a.nrows().min(a.ncols());
    let mut s = Diag::<f64>::zeros(n);
    let par = Par::Seq;
    let mut mem = MemBuffer::new(faer::linalg::svd::svd_scratch::<f64>(
        a.nrows(),
        a.ncols(),
        faer::linalg::svd::ComputeSvdVectors::No,
        faer::linalg::svd::ComputeSvdVectors::No,
        par,
        Default::default(),
    ));
    faer::linalg::svd::svd(
        a,
        s.as_mut(),
        None,
        None,
        par,
        MemStack::new(&mut mem),
        Default::default(),
    )
    .map_err(|e| Error::Numerical(format!("SVD: {e:?}")))?;
    Ok(s.column_vector().iter().copied().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gram_route_matches_svd() {
        let a = Mat::from_fn(12, 4, |i, j| {
            ((i * 7 + j * 3) % 5) as f64 - 2.0 + 0.1 * j as f64
        });
        let fast = singular_values_via_gram(a.as_ref()).unwrap();
        let exact = a.singular_values().unwrap();
        for (f, e) in fast.iter().zip(&exact) {
            assert!((f - e).abs() < 1e-8 * exact[0], "{f} vs {e}");
        }
        let direct = singular_values(a.as_ref()).unwrap();
        for (f, e) in direct.iter().zip(&exact) {
            assert!((f - e).abs() < 1e-12 * exact[0]);
        }
    }

    #[test]
    fn eigenvalues_descend() {
        let a = Mat::from_fn(3, 3, |i, j| if i == j { [1.0, 3.0, 2.0][i] } else { 0.0 });
        assert_eq!(
            symmetric_eigenvalues(a.as_ref()).unwrap(),
            vec![3.0, 2.0, 1.0]
        );
    }
}
