//! The geometry property battery, for checking any [`Metric`] or [`Diffeomorphism`], the
//! crate's or a user's own (feature `testing`).
//!
//! On every sample it checks what a Riemannian metric must satisfy: d(x, x) = 0, symmetry
//! d(x, y) = d(y, x), the triangle inequality d(x, z) ≤ d(x, y) + d(y, z), exp_x(log_x(y)) = y,
//! ‖log_x(y)‖_x = d(x, y), geodesic endpoints γ(0) = x and γ(1) = y, and that parallel transport
//! keeps the norm; and for a diffeomorphism φ⁻¹∘φ = id, φ∘φ⁻¹ = id and that the pull-back
//! inverts the push-forward. The first property that fails comes back as a [`Failure`] naming
//! the [`Property`], the points and the amount by which it failed; a pass returns a [`Report`]
//! with the worst error of each property relative to its bound.
//!
//! Exact metrics pass with tolerances near rounding ([`MetricTolerances::EXACT`]); discrete
//! ones (a solver on N nodes) need their discretisation error.
//!
//! ```
//! use faer::Mat;
//! use scoregeo::geometry::testing::{check_diffeomorphism, check_metric, DiffeoTolerances, MetricTolerances};
//! use scoregeo::geometry::{PullbackMetric, Shear};
//!
//! let metric = PullbackMetric::closed_form(Shear::banana(2).unwrap(), &[0.1, 2.0]).unwrap();
//! // consecutive rows form the triples (x, y, z); the tangents are the vectors v
//! let points = Mat::from_fn(8, 2, |i, j| ((3 * i + 5 * j) % 7) as f64 - 3.0);
//! let tangents = Mat::from_fn(8, 2, |i, j| ((i + 2 * j) % 3) as f64 - 1.0);
//! let report = check_metric(&metric, points.as_ref(), tangents.as_ref(), &MetricTolerances::EXACT).unwrap();
//! assert_eq!(report.cases, 8);
//! let phi = Shear::banana(2).unwrap();
//! let tol = DiffeoTolerances { position: 1e-12, tangent: 1e-12 };
//! check_diffeomorphism(&phi, points.as_ref(), tangents.as_ref(), &tol).unwrap();
//! ```

use super::{row, Diffeomorphism, Metric};
use crate::error::{Error, Result};
use crate::linalg::euclidean_distance as dist;
use faer::{Mat, MatRef};
use std::fmt;

/// A property the battery checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Property {
    /// d(x, x) = 0.
    SelfDistance,
    /// d(x, y) = d(y, x).
    Symmetry,
    /// d(x, z) ≤ d(x, y) + d(y, z).
    TriangleInequality,
    /// exp_x(log_x(y)) = y.
    ExpLog,
    /// ‖log_x(y)‖_x = d(x, y).
    LogNorm,
    /// γ(0) = x and γ(1) = y.
    GeodesicEndpoints,
    /// ‖PT_{x→y}(v)‖_y = ‖v‖_x.
    TransportNorm,
    /// φ⁻¹(φ(x)) = x.
    InverseForward,
    /// φ(φ⁻¹(x)) = x.
    ForwardInverse,
    /// Dφ(x)⁻¹(Dφ(x)v) = v.
    PullBackPushForward,
}

impl fmt::Display for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Property::SelfDistance => "d(x, x) = 0",
            Property::Symmetry => "symmetry d(x, y) = d(y, x)",
            Property::TriangleInequality => "triangle inequality d(x, z) ≤ d(x, y) + d(y, z)",
            Property::ExpLog => "exp_x(log_x(y)) = y",
            Property::LogNorm => "‖log_x(y)‖_x = d(x, y)",
            Property::GeodesicEndpoints => "geodesic endpoints γ(0) = x, γ(1) = y",
            Property::TransportNorm => "parallel transport keeps the norm",
            Property::InverseForward => "φ⁻¹∘φ = id",
            Property::ForwardInverse => "φ∘φ⁻¹ = id",
            Property::PullBackPushForward => "pull-back∘push-forward = id",
        })
    }
}

/// What went wrong with a property at one sample.
#[derive(Debug)]
pub enum Breach {
    /// The property's error exceeded its bound.
    Exceeded {
        /// The measured error (a distance, or a difference of lengths).
        error: f64,
        /// The bound it had to stay under at these points.
        bound: f64,
    },
    /// An operation the property needs returned an error.
    Failed(Error),
}

/// The first property that failed, where, and by how much.
#[derive(Debug)]
pub struct Failure {
    /// The property.
    pub property: Property,
    /// The sample's points (x, y, z for a metric; x for a diffeomorphism) and its tangent v.
    pub points: Vec<Vec<f64>>,
    /// The error against its bound, or the error an operation returned.
    pub breach: Breach,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} fails at {:?}: ", self.property, self.points)?;
        match &self.breach {
            Breach::Exceeded { error, bound } => write!(f, "error {error:e} > bound {bound:e}"),
            Breach::Failed(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Failure {}

/// A passed battery: how many samples, and each property's worst error over its bound (≤ 1).
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Samples checked.
    pub cases: usize,
    /// The largest error/bound ratio seen for each property checked, in [`Property`] order.
    pub worst: Vec<(Property, f64)>,
}

/// Tolerances of the metric battery.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetricTolerances {
    /// Absolute bound on d(x, x).
    pub self_distance: f64,
    /// Relative bound for symmetry, the triangle inequality and the transported norm.
    pub relative: f64,
    /// Bound on ‖exp_x(log_x(y)) − y‖ and the geodesic endpoints, relative to 1 + ‖x − y‖.
    pub position: f64,
    /// Relative bound on |‖log_x(y)‖_x − d(x, y)| (a discrete log carries an O(1/N²) error).
    pub log_norm: f64,
}

impl MetricTolerances {
    /// For metrics with exact formulas: rounding only.
    pub const EXACT: MetricTolerances = MetricTolerances {
        self_distance: 1e-12,
        relative: 1e-9,
        position: 1e-9,
        log_norm: 1e-9,
    };
}

/// Tolerances of the diffeomorphism battery (absolute, in the coordinates of the samples).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DiffeoTolerances {
    /// Bound on ‖φ⁻¹(φ(x)) − x‖ and ‖φ(φ⁻¹(x)) − x‖.
    pub position: f64,
    /// Bound on ‖Dφ(x)⁻¹(Dφ(x)v) − v‖.
    pub tangent: f64,
}

/// Records each property's worst error/bound ratio and stops at the first breach.
struct Battery {
    points: Vec<Vec<f64>>,
    worst: Vec<(Property, f64)>,
}

impl Battery {
    fn new() -> Self {
        Battery {
            points: Vec::new(),
            worst: Vec::new(),
        }
    }

    fn fail(&self, property: Property, breach: Breach) -> Failure {
        Failure {
            property,
            points: self.points.clone(),
            breach,
        }
    }

    /// The value of an operation `property` needs, or its error as a failure of `property`.
    fn get<T>(&self, property: Property, value: Result<T>) -> std::result::Result<T, Failure> {
        value.map_err(|e| self.fail(property, Breach::Failed(e)))
    }

    /// Checks error ≤ bound (a NaN error fails).
    fn within(
        &mut self,
        property: Property,
        error: f64,
        bound: f64,
    ) -> std::result::Result<(), Failure> {
        if error.is_nan() || error > bound {
            return Err(self.fail(property, Breach::Exceeded { error, bound }));
        }
        let ratio = if bound > 0.0 { error / bound } else { 0.0 };
        match self.worst.iter_mut().find(|(p, _)| *p == property) {
            Some((_, w)) => *w = w.max(ratio),
            None => self.worst.push((property, ratio)),
        }
        Ok(())
    }

    fn report(mut self, cases: usize) -> Report {
        self.worst.sort_by_key(|w| w.0);
        Report {
            cases,
            worst: self.worst,
        }
    }
}

/// Checks that `points` and `tangents` have the same rows and `dim` columns, and at least one row.
fn check_samples(dim: usize, points: MatRef<'_, f64>, tangents: MatRef<'_, f64>) -> Result<()> {
    if points.nrows() == 0 {
        return Err(Error::param(
            "points",
            "the battery needs at least one point",
        ));
    }
    for (name, m) in [("points", points), ("tangents", tangents)] {
        if m.ncols() != dim {
            return Err(Error::param(
                name,
                format!("need {dim} columns (the dimension), got {}", m.ncols()),
            ));
        }
    }
    if tangents.nrows() != points.nrows() {
        return Err(Error::param(
            "tangents",
            format!(
                "need one tangent per point ({}), got {}",
                points.nrows(),
                tangents.nrows()
            ),
        ));
    }
    Ok(())
}

/// Runs the metric battery on the triple (x, y, z) and the tangent vector v at x.
pub fn check_metric_case<M: Metric + ?Sized>(
    metric: &M,
    (x, y, z): (&[f64], &[f64], &[f64]),
    v: &[f64],
    tol: &MetricTolerances,
) -> std::result::Result<(), Failure> {
    let mut b = Battery::new();
    b.points = vec![x.to_vec(), y.to_vec(), z.to_vec(), v.to_vec()];
    metric_case(metric, (x, y, z), v, tol, &mut b)
}

fn metric_case<M: Metric + ?Sized>(
    metric: &M,
    (x, y, z): (&[f64], &[f64], &[f64]),
    v: &[f64],
    tol: &MetricTolerances,
    b: &mut Battery,
) -> std::result::Result<(), Failure> {
    use Property::*;
    let dxx = b.get(SelfDistance, metric.distance(x, x))?;
    b.within(SelfDistance, dxx.abs(), tol.self_distance)?;
    let dxy = b.get(Symmetry, metric.distance(x, y))?;
    let dyx = b.get(Symmetry, metric.distance(y, x))?;
    b.within(Symmetry, (dxy - dyx).abs(), tol.relative * dxy.max(1e-300))?;
    let dxz = b.get(TriangleInequality, metric.distance(x, z))?;
    let dyz = b.get(TriangleInequality, metric.distance(y, z))?;
    b.within(TriangleInequality, dxz, (dxy + dyz) * (1.0 + tol.relative))?;
    let scale = 1.0 + dist(x, y);
    let log = b.get(ExpLog, metric.log(x, y))?;
    let back = b.get(ExpLog, metric.exp(x, &log))?;
    b.within(ExpLog, dist(&back, y), tol.position * scale)?;
    let n = b.get(LogNorm, metric.norm(x, &log))?;
    b.within(
        LogNorm,
        (n - dxy).abs(),
        tol.log_norm * dxy.max(1e-300) + 1e-12,
    )?;
    let ends = b.get(GeodesicEndpoints, metric.geodesic(x, y, &[0.0, 1.0]))?;
    let end_error = dist(&row(ends.as_ref(), 0), x).max(dist(&row(ends.as_ref(), 1), y));
    b.within(GeodesicEndpoints, end_error, tol.position * scale)?;
    let moved = b.get(TransportNorm, metric.parallel_transport(x, y, v))?;
    let before = b.get(TransportNorm, metric.norm(x, v))?;
    let after = b.get(TransportNorm, metric.norm(y, &moved))?;
    b.within(
        TransportNorm,
        (before - after).abs(),
        tol.relative * before + 1e-12,
    )
}

/// Runs the metric battery on every row i of `points`: the triple (pᵢ, pᵢ₊₁, pᵢ₊₂) (indices
/// wrap around) with the tangent vector `tangents` row i at pᵢ.
///
/// Returns the [`Report`] when every property holds, else the first [`Failure`]; samples of the
/// wrong shape fail as [`Breach::Failed`] of [`Property::SelfDistance`].
pub fn check_metric<M: Metric + ?Sized>(
    metric: &M,
    points: MatRef<'_, f64>,
    tangents: MatRef<'_, f64>,
    tol: &MetricTolerances,
) -> std::result::Result<Report, Failure> {
    let n = points.nrows();
    each_row(
        metric.dim(),
        points,
        tangents,
        Property::SelfDistance,
        |i, b| {
            let (x, y, z) = (
                row(points, i),
                row(points, (i + 1) % n),
                row(points, (i + 2) % n),
            );
            let v = row(tangents, i);
            b.points = vec![x.clone(), y.clone(), z.clone(), v.clone()];
            metric_case(metric, (&x, &y, &z), &v, tol, b)
        },
    )
}

/// Runs the diffeomorphism battery on the point x and the tangent vector v at x.
pub fn check_diffeomorphism_case<P: Diffeomorphism + ?Sized>(
    phi: &P,
    x: &[f64],
    v: &[f64],
    tol: &DiffeoTolerances,
) -> std::result::Result<(), Failure> {
    let mut b = Battery::new();
    b.points = vec![x.to_vec(), v.to_vec()];
    diffeo_case(phi, x, v, tol, &mut b)
}

fn diffeo_case<P: Diffeomorphism + ?Sized>(
    phi: &P,
    x: &[f64],
    v: &[f64],
    tol: &DiffeoTolerances,
    b: &mut Battery,
) -> std::result::Result<(), Failure> {
    use Property::*;
    let d = x.len();
    let xm = MatRef::from_row_major_slice(x, 1, d);
    let vm = MatRef::from_row_major_slice(v, 1, d);
    let there = b.get(InverseForward, phi.forward(xm))?;
    let back: Mat<f64> = b.get(InverseForward, phi.inverse(there.as_ref()))?;
    b.within(
        InverseForward,
        dist(&row(back.as_ref(), 0), x),
        tol.position,
    )?;
    let pre = b.get(ForwardInverse, phi.inverse(xm))?;
    let again = b.get(ForwardInverse, phi.forward(pre.as_ref()))?;
    b.within(
        ForwardInverse,
        dist(&row(again.as_ref(), 0), x),
        tol.position,
    )?;
    let pushed = b.get(PullBackPushForward, phi.push_forward(xm, vm))?;
    let pulled = b.get(PullBackPushForward, phi.pull_back(xm, pushed.as_ref()))?;
    b.within(
        PullBackPushForward,
        dist(&row(pulled.as_ref(), 0), v),
        tol.tangent,
    )
}

/// Runs the diffeomorphism battery on every row of `points` with the tangent vector of the same
/// row of `tangents`; returns the [`Report`] or the first [`Failure`] (samples of the wrong
/// shape fail as [`Breach::Failed`] of [`Property::InverseForward`]).
pub fn check_diffeomorphism<P: Diffeomorphism + ?Sized>(
    phi: &P,
    points: MatRef<'_, f64>,
    tangents: MatRef<'_, f64>,
    tol: &DiffeoTolerances,
) -> std::result::Result<Report, Failure> {
    each_row(
        phi.dim(),
        points,
        tangents,
        Property::InverseForward,
        |i, b| {
            let (x, v) = (row(points, i), row(tangents, i));
            b.points = vec![x.clone(), v.clone()];
            diffeo_case(phi, &x, &v, tol, b)
        },
    )
}

/// Runs `case` on every row index of `points` after checking the samples' shape (a bad shape
/// fails as `first`, the battery's first property).
fn each_row(
    dim: usize,
    points: MatRef<'_, f64>,
    tangents: MatRef<'_, f64>,
    first: Property,
    mut case: impl FnMut(usize, &mut Battery) -> std::result::Result<(), Failure>,
) -> std::result::Result<Report, Failure> {
    let mut b = Battery::new();
    b.get(first, check_samples(dim, points, tangents))?;
    for i in 0..points.nrows() {
        case(i, &mut b)?;
    }
    Ok(b.report(points.nrows()))
}
