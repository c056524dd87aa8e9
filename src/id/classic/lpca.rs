//! Local PCA estimator of Fukunaga & Olsen (IEEE Trans. Comput. C-20, 1971).
//!
//! Around each point x, take the neighbourhood of x and its k nearest neighbours (m = k + 1
//! points), form their covariance about the neighbourhood mean, and count the eigenvalues
//! λ₁ ≥ λ₂ ≥ … above α·λ₁ (α = 0.05 by default). The global estimate is the mean of the local
//! counts; the median is reported in the settings (`median_id`).
//!
//! The neighbourhood must hold clearly more than d points for the d-th eigenvalue of a
//! d-dimensional neighbourhood to clear α·λ₁ (the sample covariance of m points spreads its
//! eigenvalues, roughly as the Marchenko–Pastur law with ratio d/m). On uniform 8-balls with
//! n = 4000 the default k = 20 gives a mean of 7.93 (k = 10 only 6.56); larger d needs a larger k.
//! On curved manifolds a large k lets curvature add directions, so k should stay small against the
//! radius of curvature.
//!
//! The covariance is D×D; when m ≤ D the m×m Gram matrix of the centred neighbourhood, which has
//! the same non-zero eigenvalues, is decomposed instead. Each point's spectrum (descending, length
//! min(m, D)) is kept in its [`LocalEstimate`](crate::id::LocalEstimate).

use super::{local, Distinct};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::id::{median, IdEstimate, LocalEstimate, Method, MethodSettings, PointDetail};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use rayon::prelude::*;

/// Unchecked settings of the [`LocalPca`] estimator (a builder).
#[derive(Clone, Debug, PartialEq)]
pub struct LocalPcaParams {
    k: usize,
    alpha: f64,
}

impl Default for LocalPcaParams {
    fn default() -> Self {
        Self { k: 20, alpha: 0.05 }
    }
}

impl LocalPcaParams {
    /// Number of neighbours k; the neighbourhood is the point and its k neighbours (default 20).
    pub fn k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }

    /// Eigenvalues above α·λ₁ count as dimensions (default 0.05, in (0, 1)).
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }

    /// Validates the settings.
    pub fn check(self) -> Result<LocalPca> {
        if self.k == 0 {
            return Err(Error::param("k", "must be at least 1"));
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(Error::param(
                "alpha",
                format!("must lie in (0, 1), got {}", self.alpha),
            ));
        }
        Ok(LocalPca {
            k: self.k,
            alpha: self.alpha,
        })
    }
}

/// The Fukunaga–Olsen local PCA estimator with checked settings.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalPca {
    k: usize,
    alpha: f64,
}

impl LocalPca {
    /// Default settings, to adjust and [`LocalPcaParams::check`].
    pub fn params() -> LocalPcaParams {
        LocalPcaParams::default()
    }

    /// Number of neighbours k.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The eigenvalue threshold α (relative to λ₁).
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// Estimates the intrinsic dimension of `data` (method `"lpca"`).
    pub fn fit(&self, data: &Dataset) -> Result<IdEstimate> {
        let distinct = Distinct::new(data);
        let nn = distinct.neighbours(self.k, "k")?;
        let per_point = (0..distinct.len())
            .into_par_iter()
            .map(|p| {
                let rows: Vec<&[f64]> = std::iter::once(p)
                    .chain(nn.indices(p).iter().copied())
                    .map(|i| distinct.points.row(i))
                    .collect();
                Ok(self.count(local_spectrum(&rows)?))
            })
            .collect::<Result<Vec<_>>>()?;
        let ids: Vec<f64> = per_point.iter().map(|l| l.local_id).collect();
        let global_id = crate::id::mean(&ids);
        let settings = distinct.settings(MethodSettings::Lpca {
            k: self.k,
            alpha: self.alpha,
            median_id: median(&ids),
        });
        Ok(IdEstimate::new(
            Method::Lpca,
            data.dim(),
            global_id,
            distinct.broadcast(per_point),
            settings,
        ))
    }

    /// The Fukunaga–Olsen count of a descending spectrum.
    fn count(&self, spectrum: Vec<f64>) -> LocalEstimate {
        let threshold = self.alpha * spectrum[0];
        let count = spectrum.iter().filter(|&&l| l > threshold).count();
        LocalEstimate {
            spectrum: Some(spectrum),
            detail: Some(PointDetail::LocalPca { threshold }),
            ..local(count as f64)
        }
    }
}

/// Eigenvalues of the covariance of `rows` about their mean, descending (length min(m, D)).
fn local_spectrum(rows: &[&[f64]]) -> Result<Vec<f64>> {
    let (m, dim) = (rows.len(), rows[0].len());
    let mut mean = vec![0.0; dim];
    for row in rows {
        mean.iter_mut().zip(*row).for_each(|(s, x)| *s += x);
    }
    mean.iter_mut().for_each(|s| *s /= m as f64);
    let centred = Mat::from_fn(m, dim, |r, c| rows[r][c] - mean[c]);
    let size = m.min(dim);
    let mut cov = Mat::<f64>::zeros(size, size);
    let scale = 1.0 / (m - 1) as f64;
    // XXᵀ (m×m) and XᵀX (D×D) share their non-zero eigenvalues: decompose the smaller.
    if m <= dim {
        matmul(
            cov.as_mut(),
            Accum::Replace,
            centred.as_ref(),
            centred.transpose(),
            scale,
            Par::Seq,
        );
    } else {
        matmul(
            cov.as_mut(),
            Accum::Replace,
            centred.transpose(),
            centred.as_ref(),
            scale,
            Par::Seq,
        );
    }
    // descending, as the count above α·λ₁ reads them
    crate::linalg::symmetric_eigenvalues(cov.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_rejects_k_zero() {
        let err = LocalPca::params().k(0).check().unwrap_err();
        assert!(
            matches!(err, Error::InvalidParameter { name: "k", .. }),
            "{err}"
        );
        assert_eq!(LocalPca::params().check().unwrap().k(), 20);
    }

    #[test]
    fn check_rejects_alpha_outside_open_unit_interval() {
        for bad in [0.0, 1.0, -0.5, f64::NAN] {
            let err = LocalPca::params().alpha(bad).check().unwrap_err();
            assert!(
                matches!(err, Error::InvalidParameter { name: "alpha", .. }),
                "{err}"
            );
        }
        assert_eq!(LocalPca::params().check().unwrap().alpha(), 0.05);
    }

    fn square_and_centre(stretch: f64) -> Dataset {
        // (±1, ±stretch, 0) and the origin in ℝ³: covariance diag(1, stretch², 0) exactly.
        let rows = [
            [1.0, 1.0],
            [1.0, -1.0],
            [-1.0, 1.0],
            [-1.0, -1.0],
            [0.0, 0.0],
        ]
        .iter()
        .map(|[a, b]| vec![*a, stretch * b, 0.0])
        .collect::<Vec<_>>();
        Dataset::from_rows(&rows).unwrap()
    }

    #[test]
    fn hand_checked_planar_neighbourhood() {
        // k = 4 makes every neighbourhood the whole set: Σ (±1)² / (5 − 1) = 1 per axis.
        let est = LocalPca::params()
            .k(4)
            .check()
            .unwrap()
            .fit(&square_and_centre(1.0))
            .unwrap();
        assert_eq!(est.global_id(), 2.0);
        let spectrum = est.spectrum(0).unwrap();
        assert_eq!(spectrum.len(), 3);
        for (got, want) in spectrum.iter().zip([1.0, 1.0, 0.0]) {
            assert!((got - want).abs() < 1e-12, "{spectrum:?}");
        }
        assert_eq!(est.method(), Method::Lpca);
        assert!(matches!(
            est.settings().options,
            Some(MethodSettings::Lpca { median_id, .. }) if median_id == 2.0
        ));
    }

    #[test]
    fn alpha_decides_whether_a_thin_direction_counts() {
        // λ₂/λ₁ = 0.2² = 0.04: below α = 0.05, above α = 0.03.
        let data = square_and_centre(0.2);
        let fit = |alpha| {
            LocalPca::params()
                .k(4)
                .alpha(alpha)
                .check()
                .unwrap()
                .fit(&data)
                .unwrap()
        };
        assert_eq!(fit(0.05).global_id(), 1.0);
        assert_eq!(fit(0.03).global_id(), 2.0);
    }

    #[test]
    fn gram_and_covariance_routes_agree() {
        // m = 5 points in D = 3 (covariance route), the same padded to D = 7 (Gram route).
        let low = square_and_centre(0.7);
        let wide: Vec<Vec<f64>> = low.rows().map(|r| [r, &[0.0; 4][..]].concat()).collect();
        let a = local_spectrum(&low.rows().collect::<Vec<_>>()).unwrap();
        let b = local_spectrum(&wide.iter().map(Vec::as_slice).collect::<Vec<_>>()).unwrap();
        assert_eq!((a.len(), b.len()), (3, 5));
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-12, "{a:?} vs {b:?}");
        }
        assert!(b[3..].iter().all(|l| l.abs() < 1e-12));
    }
}
