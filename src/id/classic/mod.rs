//! Classic intrinsic-dimension estimators: MLE, TwoNN, local PCA.
//!
//! Baselines that need no model, only the exact k nearest neighbours of [`crate::knn`]:
//! - [`Mle`]: Levina & Bickel (NeurIPS 2004), with the MacKay–Ghahramani average of inverses;
//! - [`TwoNn`]: Facco, d'Errico, Rodriguez & Laio (Sci. Rep. 2017), maximum-likelihood and
//!   linear-fit forms;
//! - [`LocalPca`]: Fukunaga & Olsen (IEEE Trans. Comput. 1971), eigenvalues of local covariances.
//!
//! Each follows the same pattern: `Estimator::params()` gives a builder, `check()` validates it
//! once, and `fit(&data)` returns an [`IdEstimate`](crate::id::IdEstimate) with one local
//! estimate per row and every setting used.
//!
//! # Duplicate points
//! All three are functions of distances to *other* points, and an exact duplicate is at distance
//! 0, where log r and r₂/r₁ are undefined. The rule: rows are grouped by exact equality of their
//! coordinates (−0 = +0); each estimator runs on the distinct points, every copy receives the local
//! estimate of its group, and global summaries count each distinct point once. Settings report
//! `distinct_points` and `duplicate_rows`. Distinct points whose squared distance underflows to 0
//! (coordinates closer than about 10⁻¹⁵⁴) are rejected with an error instead of giving NaN.
//!
//! ```
//! use rand::Rng;
//! use scoregeo::id::classic::{LocalPca, Mle, TwoNn};
//! use scoregeo::Dataset;
//! // 500 random points on a spiral in the plane z = 1 of ℝ³ (a 1-manifold), every row twice.
//! let mut rng = scoregeo::rng::stream(1, 0);
//! let mut rows = Vec::new();
//! for _ in 0..500 {
//!     let t: f64 = 8.0 * rng.random::<f64>();
//!     let row = vec![t.cos() * (1.0 + t), t.sin() * (1.0 + t), 1.0];
//!     rows.push(row.clone());
//!     rows.push(row);
//! }
//! let data = Dataset::from_rows(&rows).unwrap();
//! let mle = Mle::params().k(10).check().unwrap().fit(&data).unwrap();
//! assert!((mle.global_id() - 1.0).abs() < 0.15, "{}", mle.global_id());
//! assert_eq!(mle.settings().duplicate_rows, Some(500));
//! let twonn = TwoNn::params().check().unwrap().fit(&data).unwrap();
//! assert!((twonn.global_id() - 1.0).abs() < 0.15, "{}", twonn.global_id());
//! let lpca = LocalPca::params().k(8).check().unwrap().fit(&data).unwrap();
//! assert!((lpca.global_id() - 1.0).abs() < 0.05, "{}", lpca.global_id());
//! ```

mod lpca;
mod mle;
mod twonn;

pub use lpca::{LocalPca, LocalPcaParams};
pub use mle::{Mle, MleParams};
pub use twonn::{TwoNn, TwoNnForm, TwoNnParams};

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::id::{LocalEstimate, MethodSettings, Settings};
use crate::knn::{k_nearest, Neighbours};
use std::borrow::Cow;
use std::cmp::Ordering;

/// The distinct points of a dataset and the group of every row.
struct Distinct<'a> {
    /// The distinct points, each represented by its first row, in row order.
    points: Cow<'a, Dataset>,
    /// For every row, the position of its group in `points`.
    group: Vec<usize>,
}

impl<'a> Distinct<'a> {
    fn new(data: &'a Dataset) -> Self {
        // Adding 0.0 maps −0 to +0, so the total order equates them like `==` does.
        let cmp = |a: &usize, b: &usize| -> Ordering {
            let (ra, rb) = (data.row(*a), data.row(*b));
            ra.iter()
                .zip(rb)
                .map(|(x, y)| (x + 0.0).total_cmp(&(y + 0.0)))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        };
        // The first coordinate's place in that order as an integer (the bit trick of
        // `total_cmp`), so most comparisons touch no row; equal keys fall back to the rows, and
        // the index last makes the order total: the first row of every run of equal rows is the
        // one with the smallest index.
        let lead: Vec<i64> = (0..data.len())
            .map(|i| {
                let bits = (data.row(i).first().copied().unwrap_or(0.0) + 0.0).to_bits() as i64;
                bits ^ (((bits >> 63) as u64) >> 1) as i64
            })
            .collect();
        let mut order: Vec<usize> = (0..data.len()).collect();
        order.sort_unstable_by(|a, b| {
            lead[*a]
                .cmp(&lead[*b])
                .then_with(|| cmp(a, b))
                .then(a.cmp(b))
        });
        let mut first_of = vec![0; data.len()];
        for w in 0..order.len() {
            first_of[order[w]] = if w > 0 && cmp(&order[w - 1], &order[w]).is_eq() {
                first_of[order[w - 1]]
            } else {
                order[w]
            };
        }
        let representatives: Vec<usize> = (0..data.len()).filter(|&i| first_of[i] == i).collect();
        let mut position = vec![0; data.len()];
        for (p, &r) in representatives.iter().enumerate() {
            position[r] = p;
        }
        let group = first_of.iter().map(|&r| position[r]).collect();
        let points = if representatives.len() == data.len() {
            Cow::Borrowed(data)
        } else {
            Cow::Owned(data.select(&representatives))
        };
        Self { points, group }
    }

    /// Number of distinct points.
    fn len(&self) -> usize {
        self.points.len()
    }

    /// The k nearest distinct neighbours of every distinct point, all at positive distance.
    fn neighbours(&self, k: usize, name: &'static str) -> Result<Neighbours> {
        let m = self.len();
        if k >= m {
            return Err(Error::param(
                name,
                format!(
                    "{k} neighbours need at least {} distinct points, the data have {m}",
                    k + 1
                ),
            ));
        }
        let nn = k_nearest(&self.points, k)?;
        if let Some(p) = (0..m).find(|&p| nn.distances(p)[0] == 0.0) {
            return Err(Error::InvalidData(format!(
                "rows {} and {} differ but are too close for f64 distances (their squared \
                 distance underflows to 0); rescale the data",
                self.row_of(p) + 1,
                self.row_of(nn.indices(p)[0]) + 1
            )));
        }
        Ok(nn)
    }

    /// The first dataset row of distinct point p.
    fn row_of(&self, p: usize) -> usize {
        self.group.iter().position(|&g| g == p).unwrap_or(p)
    }

    /// One local estimate per dataset row, copied from the row's distinct point (moved, when
    /// every row is distinct).
    fn broadcast(&self, mut per_point: Vec<LocalEstimate>) -> Vec<LocalEstimate> {
        if per_point.len() == self.group.len() {
            // distinct points are the rows in row order
            per_point
                .iter_mut()
                .enumerate()
                .for_each(|(row, p)| p.index = row);
            return per_point;
        }
        self.group
            .iter()
            .enumerate()
            .map(|(row, &g)| LocalEstimate {
                index: row,
                ..per_point[g].clone()
            })
            .collect()
    }

    /// The settings every classic estimator reports, with the method's `options`.
    fn settings(&self, options: MethodSettings) -> Settings {
        let n = self.group.len();
        Settings {
            distinct_points: Some(self.len()),
            duplicate_rows: Some(n - self.len()),
            options: Some(options),
            ..Settings::default()
        }
    }
}

/// A local estimate of a distinct point (its index is set by [`Distinct::broadcast`]).
fn local(local_id: f64) -> LocalEstimate {
    LocalEstimate::new(0, local_id)
}

/// The classic estimators read the data alone: the model is ignored.
macro_rules! reads_the_data_alone {
    ($($estimator:ident => $method:ident),* $(,)?) => {$(
        impl crate::id::IdEstimator for $estimator {
            fn method(&self) -> crate::id::Method {
                crate::id::Method::$method
            }

            fn fit(
                &self,
                data: &Dataset,
                _model: Option<&dyn crate::score::ScoreModel>,
            ) -> Result<crate::id::IdEstimate> {
                $estimator::fit(self, data)
            }
        }
    )*};
}

reads_the_data_alone!(Mle => Mle, TwoNn => TwoNn, LocalPca => Lpca);

/// The corners (±1, 0), (0, ±1) of a square: every point has two nearest neighbours at the
/// same distance √2, a lattice the distance-ratio estimators must refuse.
#[cfg(test)]
fn square_corners() -> Dataset {
    let corners = [
        vec![1.0, 0.0],
        vec![0.0, 1.0],
        vec![-1.0, 0.0],
        vec![0.0, -1.0],
    ];
    Dataset::from_rows(&corners).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_exact_duplicates_and_signed_zeros() {
        let rows = vec![
            vec![1.0, 0.0],
            vec![2.0, 2.0],
            vec![1.0, -0.0],
            vec![0.0, 1.0],
            vec![2.0, 2.0],
            vec![1.0, 1e-300],
        ];
        let data = Dataset::from_rows(&rows).unwrap();
        let d = Distinct::new(&data);
        assert_eq!(d.len(), 4);
        assert_eq!(d.group, vec![0, 1, 0, 2, 1, 3]);
        assert_eq!(d.points.row(3), &[1.0, 1e-300]);
        assert_eq!(d.row_of(1), 1);
        assert_eq!(
            d.settings(MethodSettings::Mle { k: 2 }).duplicate_rows,
            Some(2)
        );
    }

    #[test]
    fn borrows_data_without_duplicates() {
        let data = Dataset::from_rows(&[vec![0.0], vec![1.0]]).unwrap();
        assert!(matches!(Distinct::new(&data).points, Cow::Borrowed(_)));
    }

    #[test]
    fn rejects_distances_that_underflow() {
        let data = Dataset::from_rows(&[vec![0.0], vec![1e-170], vec![1.0]]).unwrap();
        let err = Distinct::new(&data).neighbours(1, "k").unwrap_err();
        assert!(matches!(err, Error::InvalidData(_)), "{err}");
        assert!(err.to_string().contains("rows 1 and 2 differ"), "{err}");
    }

    #[test]
    fn needs_more_distinct_points_than_neighbours() {
        let data = Dataset::from_rows(&[vec![0.0], vec![0.0], vec![1.0]]).unwrap();
        let err = Distinct::new(&data).neighbours(2, "k").unwrap_err();
        assert!(
            err.to_string()
                .contains("3 distinct points, the data have 2"),
            "{err}"
        );
    }
}
