//! Riemannian geometry from score models: diffeomorphisms, pullback metrics, geodesics, and the
//! Riemannian autoencoder.
//!
//! Two routes (DESIGN §2):
//!
//! 1. **Closed form** (Diepeveen, Batzolis, Shumaylov & Schönlieb, *Score-based pullback
//!    Riemannian geometry*, 2024). For p(x) ∝ exp(−½ φ(x)ᵀA⁻¹φ(x)) with a [`Diffeomorphism`] φ
//!    and A = diag(a), the metric is the pullback of ℓ² through x ↦ A⁻¹φ(x) and every operation
//!    has a formula: d(x, y) = ‖A⁻¹(φ(x) − φ(y))‖₂, γ(t) = φ⁻¹((1 − t)φ(x) + tφ(y)),
//!    exp_x(v) = φ⁻¹(φ(x) + Dφ(x)v), log_x(y) = Dφ(x)⁻¹[φ(y) − φ(x)],
//!    PT_{x→y}(v) = Dφ(y)⁻¹Dφ(x)v, barycentre φ⁻¹(mean φ(xᵢ)). See
//!    [`PullbackMetric::closed_form`] and the [`RiemannianAutoencoder`] (d_ε, encode, decode).
//! 2. **Any score model**: the pullback of ℓ² through F(x) = (√λ·x, c·s(x, t₀)), with discrete
//!    geodesics minimising E = N Σ‖F(c_{i+1}) − F(cᵢ)‖² by L-BFGS, initialised from k-NN graph
//!    shortest paths: [`ScorePullback`] and the generic [`discrete`] calculus over an
//!    [`Immersion`].
//!
//! Points are rows (batched traits) or slices (the [`Metric`] trait). Hand-built flows with
//! known inverses ([`Affine`], the banana and river [`Shear`]s) and their densities
//! ([`FlowDensity`], a [`ScoreModel`](crate::score::ScoreModel)) are the oracles.
//!
//! ```
//! use scoregeo::geometry::{Metric, PullbackMetric, Shear};
//!
//! // the banana: φ(x) = (x₁ − x₂²/9, x₂), A = diag(0.1, 2)
//! let metric = PullbackMetric::closed_form(Shear::banana(2).unwrap(), &[0.1, 2.0]).unwrap();
//! let (x, y) = ([1.0, 3.0], [1.0, -3.0]);
//! // φ(x) = (0, 3), φ(y) = (0, −3): d = ‖A⁻¹(0, 6)‖ = 3, and the geodesic follows x₁ = x₂²/9
//! assert!((metric.distance(&x, &y).unwrap() - 3.0).abs() < 1e-12);
//! let mid = metric.geodesic(&x, &y, &[0.5]).unwrap();
//! assert!((mid[(0, 0)] - 0.0).abs() < 1e-12 && mid[(0, 1)].abs() < 1e-12);
//! let v = metric.log(&x, &y).unwrap();
//! let back = metric.exp(&x, &v).unwrap();
//! assert!((back[0] - y[0]).abs() < 1e-12 && (back[1] - y[1]).abs() < 1e-12);
//! ```

pub mod densities;
pub mod diffeo;
pub mod discrete;
pub mod flow;
pub mod geodesic;
pub mod graph;
pub mod metric;
pub mod rae;
pub mod score_pullback;
#[cfg(feature = "testing")]
pub mod testing;

pub use densities::FlowDensity;
pub use diffeo::{Affine, Composition, Diffeomorphism, SecondDerivatives, Shear, ShearProfile};
pub use discrete::{
    DiscreteGeodesic, DiscreteMetric, GeodesicSolver, GeodesicSolverParams, Immersion,
    Initialisation, Preconditioner,
};
pub use flow::{
    AnisotropicFlow, FlowConfig, FlowLoss, FlowTrainParams, FlowTrainReport, FlowTrainer,
};
pub use geodesic::{Geodesic, SolverRun};
pub use graph::KnnGraph;
pub use metric::{Euclidean, Metric, PullbackMetric};
pub use rae::{rae_dim, RiemannianAutoencoder, VarianceProfile};
pub use score_pullback::{ScoreImmersion, ScorePullback, ScorePullbackMetric, ScorePullbackParams};

use crate::check::check_dim;
use crate::error::Result;
use faer::MatRef;

/// One point as a 1×D matrix view.
fn single(x: &[f64]) -> MatRef<'_, f64> {
    MatRef::from_row_major_slice(x, 1, x.len())
}

/// Row i of a matrix as a vector.
fn row(m: MatRef<'_, f64>, i: usize) -> Vec<f64> {
    (0..m.ncols()).map(|j| m[(i, j)]).collect()
}

/// Fails unless the rows of `x` have `dim` coordinates.
fn check_points(dim: usize, x: MatRef<'_, f64>, context: &str) -> Result<()> {
    check_dim(dim, x.ncols(), context)
}

/// Fails unless `a` and `b` have the same shape (a point and a tangent vector per row).
fn check_same_shape(a: MatRef<'_, f64>, b: MatRef<'_, f64>, context: &str) -> Result<()> {
    check_dim(a.nrows(), b.nrows(), &format!("{context} (rows)"))?;
    check_dim(a.ncols(), b.ncols(), &format!("{context} (columns)"))
}
