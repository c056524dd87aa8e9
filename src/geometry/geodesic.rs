//! One result for every geodesic between two points: the closed form of a flow
//! ([`PullbackMetric::path`]) or the discrete solver of any score model
//! ([`DiscreteMetric::solve_between`](super::DiscreteMetric::solve_between)).
//!
//! ```
//! use scoregeo::geometry::{PullbackMetric, Shear};
//!
//! // the banana: φ(x) = (x₁ − x₂²/9, x₂), A = diag(0.1, 2)
//! let metric = PullbackMetric::closed_form(Shear::banana(2).unwrap(), &[0.1, 2.0]).unwrap();
//! let path = metric.path(&[1.0, 3.0], &[1.0, -3.0], 5).unwrap();
//! assert!((path.length() - 3.0).abs() < 1e-12);
//! assert!(path.solver().is_none() && path.converged());
//! assert_eq!(path.nodes().nrows(), 5);
//! ```

use super::diffeo::Diffeomorphism;
use super::discrete::{DiscreteGeodesic, Initialisation};
use super::metric::{Euclidean, Metric, PullbackMetric};
use crate::error::{Error, Result};
use faer::{Mat, MatRef};

/// How the discrete solver reached a geodesic.
#[derive(Clone, Debug, PartialEq)]
pub struct SolverRun {
    /// L-BFGS iterations taken.
    pub iterations: u64,
    /// Batched evaluations of the immersion F.
    pub forward_passes: u64,
    /// Batched vector–Jacobian products of F.
    pub backward_passes: u64,
    /// Whether the relative gradient norm reached the tolerance.
    pub converged: bool,
    /// The final relative gradient norm.
    pub gradient_norm: f64,
    /// Why the optimiser stopped, in words.
    pub termination: String,
    /// How the path was initialised.
    pub initialisation: Initialisation,
}

/// A geodesic between two points: its nodes c₀ = x, …, c_N = y (at t = i/N), its length (the
/// distance estimate) and energy, and, for a discrete geodesic, how the solver got there.
#[derive(Clone, Debug)]
pub struct Geodesic {
    nodes: Mat<f64>,
    length: f64,
    energy: f64,
    solver: Option<SolverRun>,
}

impl Geodesic {
    /// The nodes, one per row (endpoints included).
    pub fn nodes(&self) -> MatRef<'_, f64> {
        self.nodes.as_ref()
    }

    /// The nodes as rows.
    pub fn node_rows(&self) -> Vec<Vec<f64>> {
        (0..self.nodes.nrows())
            .map(|i| {
                (0..self.nodes.ncols())
                    .map(|j| self.nodes[(i, j)])
                    .collect()
            })
            .collect()
    }

    /// The length: the distance d(x, y) (closed form), or Σᵢ ‖F(c_{i+1}) − F(cᵢ)‖ (discrete).
    pub fn length(&self) -> f64 {
        self.length
    }

    /// The energy: d² for the constant-speed closed form on [0, 1], N Σᵢ ‖F(c_{i+1}) − F(cᵢ)‖²
    /// for a discrete geodesic.
    pub fn energy(&self) -> f64 {
        self.energy
    }

    /// The Euclidean length Σᵢ ‖c_{i+1} − cᵢ‖ of the polyline through the nodes.
    pub fn euclidean_length(&self) -> f64 {
        let n = &self.nodes;
        (1..n.nrows())
            .map(|i| {
                (0..n.ncols())
                    .map(|j| (n[(i - 1, j)] - n[(i, j)]).powi(2))
                    .sum::<f64>()
                    .sqrt()
            })
            .sum()
    }

    /// The Euclidean distance ‖y − x‖ between the endpoints.
    pub fn chord(&self) -> f64 {
        let (n, last) = (&self.nodes, self.nodes.nrows() - 1);
        (0..n.ncols())
            .map(|j| (n[(0, j)] - n[(last, j)]).powi(2))
            .sum::<f64>()
            .sqrt()
    }

    /// How the discrete solver reached it (`None` for a closed form).
    pub fn solver(&self) -> Option<&SolverRun> {
        self.solver.as_ref()
    }

    /// Whether the geodesic is exact (closed form) or its solver converged.
    pub fn converged(&self) -> bool {
        self.solver.as_ref().is_none_or(|s| s.converged)
    }
}

impl From<DiscreteGeodesic> for Geodesic {
    fn from(g: DiscreteGeodesic) -> Self {
        Self {
            nodes: g.nodes().to_owned(),
            length: g.length(),
            energy: g.energy(),
            solver: Some(SolverRun {
                iterations: g.iterations(),
                forward_passes: g.forward_passes(),
                backward_passes: g.backward_passes(),
                converged: g.converged(),
                gradient_norm: g.gradient_norm(),
                termination: g.termination().to_string(),
                initialisation: g.initialisation(),
            }),
        }
    }
}

impl<P: Diffeomorphism> PullbackMetric<P, Euclidean> {
    /// The closed-form geodesic γ(t) = φ⁻¹((1 − t)φ(x) + tφ(y)) at `nodes` ≥ 2 equally spaced
    /// times t = i/(nodes − 1), with length d(x, y) = ‖A⁻¹(φ(x) − φ(y))‖ and energy d². The end
    /// nodes are x and y exactly (φ⁻¹∘φ is the identity only to rounding).
    pub fn path(&self, x: &[f64], y: &[f64], nodes: usize) -> Result<Geodesic> {
        if nodes < 2 {
            return Err(Error::param(
                "nodes",
                format!("a path needs at least its 2 endpoints, got {nodes}"),
            ));
        }
        let times: Vec<f64> = (0..nodes).map(|i| i as f64 / (nodes - 1) as f64).collect();
        let mut curve = self.geodesic(x, y, &times)?;
        let length = self.distance(x, y)?;
        for j in 0..x.len() {
            curve[(0, j)] = x[j];
            curve[(nodes - 1, j)] = y[j];
        }
        Ok(Geodesic {
            nodes: curve,
            length,
            // a constant-speed geodesic on [0, 1] has energy ∫‖γ′‖² = d²
            energy: length * length,
            solver: None,
        })
    }
}
