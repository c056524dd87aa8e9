//! Riemannian metrics on ℝ^D: the [`Metric`] trait, the (diagonally weighted) [`Euclidean`]
//! metric, and the [`PullbackMetric`] of an image metric through a [`Diffeomorphism`].
//!
//! The closed-form geometry of Diepeveen, Batzolis, Shumaylov & Schönlieb (2024, Thm. 3.4) is
//! the pullback of ℓ² through x ↦ A⁻¹φ(x), A = diag(a): [`PullbackMetric::closed_form`] builds
//! it as φ pulled back onto the Euclidean metric with weights a⁻², so that
//! g_x(v, w) = (Dφ v)ᵀA⁻²(Dφ w), d(x, y) = ‖A⁻¹(φ(x) − φ(y))‖₂,
//! γ(t) = φ⁻¹((1 − t)φ(x) + tφ(y)), exp_x(v) = φ⁻¹(φ(x) + Dφ(x)v),
//! log_x(y) = Dφ(x)⁻¹[φ(y) − φ(x)], PT_{x→y}(v) = Dφ(y)⁻¹[Dφ(x)v] and the barycentre
//! φ⁻¹(mean φ(xᵢ)).

use super::diffeo::Diffeomorphism;
use super::{check_points, row, single};
use crate::check::check_dim;
use crate::error::{Error, Result};
use faer::{Mat, MatRef};
use std::sync::Arc;

/// Iterations of the default Karcher-mean fixed point in [`Metric::barycentre`].
const KARCHER_MAX_ITERS: usize = 100;

/// A Riemannian metric on ℝ^D with its geodesic calculus.
///
/// Points and tangent vectors are slices of length D; curves are matrices with one point per
/// row. Every operation is fallible: numeric metrics solve optimisation problems.
pub trait Metric: Send + Sync {
    /// The dimension D.
    fn dim(&self) -> usize;

    /// The inner product g_x(v, w) of two tangent vectors at x.
    fn inner_product(&self, x: &[f64], v: &[f64], w: &[f64]) -> Result<f64>;

    /// The norm ‖v‖_x = √g_x(v, v).
    fn norm(&self, x: &[f64], v: &[f64]) -> Result<f64> {
        Ok(self.inner_product(x, v, v)?.max(0.0).sqrt())
    }

    /// The geodesic distance d(x, y). The default is ‖log_x(y)‖_x.
    fn distance(&self, x: &[f64], y: &[f64]) -> Result<f64> {
        let v = self.log(x, y)?;
        self.norm(x, &v)
    }

    /// The geodesic γ from γ(0) = x to γ(1) = y, sampled at `times` (one row per time).
    fn geodesic(&self, x: &[f64], y: &[f64], times: &[f64]) -> Result<Mat<f64>>;

    /// The exponential map exp_x(v) = γ(1) for the geodesic with γ(0) = x, γ′(0) = v.
    fn exp(&self, x: &[f64], v: &[f64]) -> Result<Vec<f64>>;

    /// The logarithm log_x(y): the initial velocity of the geodesic from x to y.
    fn log(&self, x: &[f64], y: &[f64]) -> Result<Vec<f64>>;

    /// Parallel transport of the tangent vector v at x to y along the geodesic between them.
    fn parallel_transport(&self, x: &[f64], y: &[f64], v: &[f64]) -> Result<Vec<f64>>;

    /// The barycentre (Fréchet/Karcher mean) of the rows of `points`.
    ///
    /// The default runs the fixed point x ← exp_x(mean log_x(pᵢ)) from the Euclidean mean until
    /// ‖mean log_x(pᵢ)‖_x ≤ 10⁻¹⁰ times the mean distance (at most 100 iterations).
    fn barycentre(&self, points: MatRef<'_, f64>) -> Result<Vec<f64>> {
        let mut x = euclidean_mean(self.dim(), points)?;
        let (n, d) = (points.nrows(), self.dim());
        let mut scale = None;
        for _ in 0..KARCHER_MAX_ITERS {
            let mut mean_log = vec![0.0; d];
            let mut mean_dist = 0.0;
            for i in 0..n {
                let v = self.log(&x, &row(points, i))?;
                mean_dist += self.norm(&x, &v)? / n as f64;
                for (m, vj) in mean_log.iter_mut().zip(&v) {
                    *m += vj / n as f64;
                }
            }
            let scale = *scale.get_or_insert(mean_dist);
            if self.norm(&x, &mean_log)? <= 1e-10 * scale {
                return Ok(x);
            }
            x = self.exp(&x, &mean_log)?;
        }
        Err(Error::Numerical(format!(
            "the Karcher mean did not converge in {KARCHER_MAX_ITERS} iterations"
        )))
    }
}

/// The Euclidean mean of the rows of `points` (in ℝ^`dim`): the Euclidean barycentre, and where
/// the Karcher iteration starts.
fn euclidean_mean(dim: usize, points: MatRef<'_, f64>) -> Result<Vec<f64>> {
    check_points(dim, points, "barycentre")?;
    let n = points.nrows();
    if n == 0 {
        return Err(Error::InvalidData(
            "the barycentre of no points is undefined".into(),
        ));
    }
    Ok((0..dim)
        .map(|j| (0..n).map(|i| points[(i, j)]).sum::<f64>() / n as f64)
        .collect())
}

macro_rules! forward_metric {
    ($($ptr:ty),*) => {$(
        impl<T: Metric + ?Sized> Metric for $ptr {
            fn dim(&self) -> usize {
                (**self).dim()
            }
            fn inner_product(&self, x: &[f64], v: &[f64], w: &[f64]) -> Result<f64> {
                (**self).inner_product(x, v, w)
            }
            fn norm(&self, x: &[f64], v: &[f64]) -> Result<f64> {
                (**self).norm(x, v)
            }
            fn distance(&self, x: &[f64], y: &[f64]) -> Result<f64> {
                (**self).distance(x, y)
            }
            fn geodesic(&self, x: &[f64], y: &[f64], times: &[f64]) -> Result<Mat<f64>> {
                (**self).geodesic(x, y, times)
            }
            fn exp(&self, x: &[f64], v: &[f64]) -> Result<Vec<f64>> {
                (**self).exp(x, v)
            }
            fn log(&self, x: &[f64], y: &[f64]) -> Result<Vec<f64>> {
                (**self).log(x, y)
            }
            fn parallel_transport(&self, x: &[f64], y: &[f64], v: &[f64]) -> Result<Vec<f64>> {
                (**self).parallel_transport(x, y, v)
            }
            fn barycentre(&self, points: MatRef<'_, f64>) -> Result<Vec<f64>> {
                (**self).barycentre(points)
            }
        }
    )*};
}

forward_metric!(&T, Box<T>, Arc<T>);

/// Fails unless each slice has length `dim`.
pub(crate) fn check_lengths(dim: usize, slices: &[&[f64]], context: &str) -> Result<()> {
    slices
        .iter()
        .try_for_each(|s| check_dim(dim, s.len(), context))
}

/// The weighted Euclidean metric g(v, w) = Σ_k ω_k v_k w_k (ω = 1: the standard ℓ² metric).
///
/// Geodesics are straight lines, exp/log are addition and subtraction, parallel transport is
/// the identity and the barycentre is the arithmetic mean.
#[derive(Clone, Debug, PartialEq)]
pub struct Euclidean {
    weights: Vec<f64>,
}

impl Euclidean {
    /// The standard metric of ℝ^D.
    pub fn standard(dim: usize) -> Result<Self> {
        Self::weighted(vec![1.0; dim])
    }

    /// The metric with positive finite weights ω (one per coordinate).
    pub fn weighted(weights: Vec<f64>) -> Result<Self> {
        if weights.is_empty() {
            return Err(Error::param("weights", "need at least one coordinate"));
        }
        if let Some(w) = weights.iter().find(|w| !(w.is_finite() && **w > 0.0)) {
            return Err(Error::param(
                "weights",
                format!("weights must be positive and finite, got {w}"),
            ));
        }
        Ok(Self { weights })
    }

    /// The weights ω.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }
}

impl Metric for Euclidean {
    fn dim(&self) -> usize {
        self.weights.len()
    }

    fn inner_product(&self, x: &[f64], v: &[f64], w: &[f64]) -> Result<f64> {
        check_lengths(self.dim(), &[x, v, w], "Euclidean metric")?;
        Ok(self
            .weights
            .iter()
            .zip(v.iter().zip(w))
            .map(|(o, (a, b))| o * a * b)
            .sum())
    }

    fn distance(&self, x: &[f64], y: &[f64]) -> Result<f64> {
        check_lengths(self.dim(), &[x, y], "Euclidean metric")?;
        Ok(self
            .weights
            .iter()
            .zip(x.iter().zip(y))
            .map(|(o, (a, b))| o * (a - b) * (a - b))
            .sum::<f64>()
            .sqrt())
    }

    fn geodesic(&self, x: &[f64], y: &[f64], times: &[f64]) -> Result<Mat<f64>> {
        check_lengths(self.dim(), &[x, y], "Euclidean metric")?;
        Ok(Mat::from_fn(times.len(), self.dim(), |k, j| {
            (1.0 - times[k]) * x[j] + times[k] * y[j]
        }))
    }

    fn exp(&self, x: &[f64], v: &[f64]) -> Result<Vec<f64>> {
        check_lengths(self.dim(), &[x, v], "Euclidean metric")?;
        Ok(x.iter().zip(v).map(|(a, b)| a + b).collect())
    }

    fn log(&self, x: &[f64], y: &[f64]) -> Result<Vec<f64>> {
        check_lengths(self.dim(), &[x, y], "Euclidean metric")?;
        Ok(y.iter().zip(x).map(|(a, b)| a - b).collect())
    }

    fn parallel_transport(&self, x: &[f64], y: &[f64], v: &[f64]) -> Result<Vec<f64>> {
        check_lengths(self.dim(), &[x, y, v], "Euclidean metric")?;
        Ok(v.to_vec())
    }

    fn barycentre(&self, points: MatRef<'_, f64>) -> Result<Vec<f64>> {
        euclidean_mean(self.dim(), points)
    }
}

/// The pullback φ*h of an image metric h through a diffeomorphism φ:
/// g_x(v, w) = h_{φ(x)}(Dφ(x)v, Dφ(x)w).
///
/// Every operation is delegated to the image metric through φ (geomstats' `PullbackDiffeoMetric`):
/// d(x, y) = d_h(φ(x), φ(y)), γ = φ⁻¹∘γ_h, exp_x(v) = φ⁻¹(exp_h(φ(x), Dφ(x)v)),
/// log_x(y) = Dφ(x)⁻¹ log_h(φ(x), φ(y)), PT_{x→y}(v) = Dφ(y)⁻¹ PT_h(Dφ(x)v) and the
/// barycentre φ⁻¹(bary_h(φ(xᵢ))).
#[derive(Clone, Debug)]
pub struct PullbackMetric<P, M> {
    phi: P,
    image: M,
}

impl<P: Diffeomorphism, M: Metric> PullbackMetric<P, M> {
    /// The pullback of `image` through `phi`; their dimensions must agree.
    pub fn new(phi: P, image: M) -> Result<Self> {
        check_dim(phi.dim(), image.dim(), "image metric")?;
        Ok(Self { phi, image })
    }

    /// The diffeomorphism φ.
    pub fn diffeomorphism(&self) -> &P {
        &self.phi
    }

    /// The image metric h.
    pub fn image_metric(&self) -> &M {
        &self.image
    }

    /// φ at one point.
    fn phi_at(&self, x: &[f64]) -> Result<Vec<f64>> {
        Ok(row(self.phi.forward(single(x))?.as_ref(), 0))
    }
}

impl<P: Diffeomorphism> PullbackMetric<P, Euclidean> {
    /// The closed-form score-based pullback metric of p(x) ∝ exp(−½ φ(x)ᵀA⁻¹φ(x)),
    /// A = diag(`variances`): the pullback of ℓ² through x ↦ A⁻¹φ(x) (Diepeveen et al. 2024,
    /// Thm. 3.4), i.e. φ pulled back onto the Euclidean metric with weights a_k⁻².
    pub fn closed_form(phi: P, variances: &[f64]) -> Result<Self> {
        if let Some(a) = variances.iter().find(|a| !(a.is_finite() && **a > 0.0)) {
            return Err(Error::param(
                "variances",
                format!("the diagonal of A must be positive and finite, got {a}"),
            ));
        }
        let weights = variances.iter().map(|a| 1.0 / (a * a)).collect();
        Self::new(phi, Euclidean::weighted(weights)?)
    }
}

impl<P: Diffeomorphism, M: Metric> Metric for PullbackMetric<P, M> {
    fn dim(&self) -> usize {
        self.phi.dim()
    }

    fn inner_product(&self, x: &[f64], v: &[f64], w: &[f64]) -> Result<f64> {
        check_lengths(self.dim(), &[x, v, w], "pullback metric")?;
        let d = self.dim();
        let base = Mat::from_fn(2, d, |_, j| x[j]);
        let vw = Mat::from_fn(2, d, |i, j| if i == 0 { v[j] } else { w[j] });
        let pushed = self.phi.push_forward(base.as_ref(), vw.as_ref())?;
        self.image.inner_product(
            &self.phi_at(x)?,
            &row(pushed.as_ref(), 0),
            &row(pushed.as_ref(), 1),
        )
    }

    fn distance(&self, x: &[f64], y: &[f64]) -> Result<f64> {
        check_lengths(self.dim(), &[x, y], "pullback metric")?;
        self.image.distance(&self.phi_at(x)?, &self.phi_at(y)?)
    }

    fn geodesic(&self, x: &[f64], y: &[f64], times: &[f64]) -> Result<Mat<f64>> {
        check_lengths(self.dim(), &[x, y], "pullback metric")?;
        let curve = self
            .image
            .geodesic(&self.phi_at(x)?, &self.phi_at(y)?, times)?;
        self.phi.inverse(curve.as_ref())
    }

    fn exp(&self, x: &[f64], v: &[f64]) -> Result<Vec<f64>> {
        check_lengths(self.dim(), &[x, v], "pullback metric")?;
        let pushed = self.phi.push_forward(single(x), single(v))?;
        let z = self.image.exp(&self.phi_at(x)?, &row(pushed.as_ref(), 0))?;
        Ok(row(self.phi.inverse(single(&z))?.as_ref(), 0))
    }

    fn log(&self, x: &[f64], y: &[f64]) -> Result<Vec<f64>> {
        check_lengths(self.dim(), &[x, y], "pullback metric")?;
        let w = self.image.log(&self.phi_at(x)?, &self.phi_at(y)?)?;
        Ok(row(self.phi.pull_back(single(x), single(&w))?.as_ref(), 0))
    }

    fn parallel_transport(&self, x: &[f64], y: &[f64], v: &[f64]) -> Result<Vec<f64>> {
        check_lengths(self.dim(), &[x, y, v], "pullback metric")?;
        let pushed = self.phi.push_forward(single(x), single(v))?;
        let moved = self.image.parallel_transport(
            &self.phi_at(x)?,
            &self.phi_at(y)?,
            &row(pushed.as_ref(), 0),
        )?;
        Ok(row(
            self.phi.pull_back(single(y), single(&moved))?.as_ref(),
            0,
        ))
    }

    fn barycentre(&self, points: MatRef<'_, f64>) -> Result<Vec<f64>> {
        check_points(self.dim(), points, "barycentre")?;
        let images = self.phi.forward(points)?;
        let z = self.image.barycentre(images.as_ref())?;
        Ok(row(self.phi.inverse(single(&z))?.as_ref(), 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::diffeo::Shear;

    #[test]
    fn euclidean_rejects_bad_weights() {
        assert!(Euclidean::weighted(vec![]).is_err());
        assert!(Euclidean::weighted(vec![1.0, 0.0]).is_err());
        assert!(Euclidean::weighted(vec![f64::INFINITY]).is_err());
        let e = Euclidean::weighted(vec![4.0, 1.0]).unwrap();
        assert_eq!(e.distance(&[0.0, 0.0], &[1.0, 1.0]).unwrap(), 5f64.sqrt());
    }

    #[test]
    fn closed_form_rejects_bad_variances_and_dimensions() {
        let b = Shear::banana(2).unwrap();
        assert!(PullbackMetric::closed_form(b, &[1.0, -1.0]).is_err());
        assert!(PullbackMetric::closed_form(b, &[1.0, 1.0, 1.0]).is_err());
        let m = PullbackMetric::closed_form(b, &[0.5, 2.0]).unwrap();
        assert!(m.distance(&[0.0, 0.0], &[1.0]).is_err());
    }

    /// d(x, y) = ‖A⁻¹(φ(x) − φ(y))‖ written out for the banana.
    #[test]
    fn closed_form_distance_is_the_paper_formula() {
        let m = PullbackMetric::closed_form(Shear::banana(2).unwrap(), &[0.5, 2.0]).unwrap();
        let (x, y) = ([1.0, 3.0], [-0.5, -1.5]);
        let phi = |p: [f64; 2]| [p[0] - p[1] * p[1] / 9.0, p[1]];
        let (px, py) = (phi(x), phi(y));
        let want = (((px[0] - py[0]) / 0.5).powi(2) + ((px[1] - py[1]) / 2.0).powi(2)).sqrt();
        assert!((m.distance(&x, &y).unwrap() - want).abs() < 1e-14);
        // the default distance through log agrees with the delegated one
        let v = m.log(&x, &y).unwrap();
        assert!((m.norm(&x, &v).unwrap() - want).abs() < 1e-12);
    }

    /// The default Karcher iteration against the closed-form barycentre φ⁻¹(mean φ).
    #[test]
    fn karcher_default_matches_closed_form_barycentre() {
        struct Through<'a>(&'a PullbackMetric<Shear, Euclidean>);
        impl Metric for Through<'_> {
            fn dim(&self) -> usize {
                2
            }
            fn inner_product(&self, x: &[f64], v: &[f64], w: &[f64]) -> Result<f64> {
                self.0.inner_product(x, v, w)
            }
            fn geodesic(&self, x: &[f64], y: &[f64], t: &[f64]) -> Result<Mat<f64>> {
                self.0.geodesic(x, y, t)
            }
            fn exp(&self, x: &[f64], v: &[f64]) -> Result<Vec<f64>> {
                self.0.exp(x, v)
            }
            fn log(&self, x: &[f64], y: &[f64]) -> Result<Vec<f64>> {
                self.0.log(x, y)
            }
            fn parallel_transport(&self, x: &[f64], y: &[f64], v: &[f64]) -> Result<Vec<f64>> {
                self.0.parallel_transport(x, y, v)
            }
        }
        let m = PullbackMetric::closed_form(Shear::river(2).unwrap(), &[0.3, 1.5]).unwrap();
        let pts = Mat::from_fn(5, 2, |i, j| ((i * 2 + j) as f64 * 1.3).sin() * 2.0);
        let exact = m.barycentre(pts.as_ref()).unwrap();
        let karcher = Through(&m).barycentre(pts.as_ref()).unwrap();
        for j in 0..2 {
            assert!(
                (exact[j] - karcher[j]).abs() < 1e-8,
                "{exact:?} vs {karcher:?}"
            );
        }
        assert!(Through(&m)
            .barycentre(Mat::<f64>::zeros(0, 2).as_ref())
            .is_err());
    }
}
