//! Discrete geodesic calculus for the pullback of ℓ² through an [`Immersion`] F: ℝ^D → ℝ^M,
//! g_x(v, w) = (DF(x)v)·(DF(x)w).
//!
//! A discrete geodesic with nodes c₀ = x, …, c_N = y minimises the path energy
//! E = N Σᵢ ‖F(c_{i+1}) − F(c_i)‖² (DESIGN §2; the time-discrete geodesic calculus of Rumpf &
//! Wirth, 2015), whose gradient ∂E/∂cᵢ = 2N DF(cᵢ)ᵀ(2Fᵢ − F_{i−1} − F_{i+1}) needs one batched
//! evaluation of F and one batched vector–Jacobian product. It is minimised with L-BFGS and the
//! Moré–Thuente line search of argmin, from a straight line, a given polyline, or the shortest
//! path in the k-NN graph of a dataset. Its length is Σᵢ ‖F(c_{i+1}) − F(cᵢ)‖.
//!
//! L-BFGS runs in preconditioned coordinates u with c = c⁰ + B(L⁻ᵀ ⊗ I)u: T = LLᵀ is the path
//! Laplacian tridiag(−1, 2, −1) and B = blockdiag(Rᵢ⁻¹) with RᵢᵀRᵢ = DF(cᵢ⁰)ᵀDF(cᵢ⁰) at the
//! initial nodes, so the Hessian of E/(2N) is ≈ I whatever N and the anisotropy of the metric.
//! When a round of 50 iterations ends unconverged, the factors are rebuilt at the current nodes
//! and L-BFGS restarts.
//!
//! The rest of the calculus follows from the same energy: the discrete logarithm is the
//! second-order difference N(−3c₀ + 4c₁ − c₂)/2; the discrete exponential finds c₁ with that
//! initial velocity and then solves the discrete Euler–Lagrange equation
//! DF(cᵢ)ᵀ(F(c_{i+1}) − 2Fᵢ + F_{i−1}) = 0 for c_{i+1} by Newton's method (so exp∘log = id up to
//! the solver tolerances); parallel transport along a discrete geodesic projects DF(c₀)v onto
//! each tangent space DF(cᵢ)ℝ^D in turn, keeping its length (the Levi-Civita connection of an
//! induced metric is the projected ambient derivative).

use super::diffeo::{finite, Diffeomorphism};
use super::graph::{resample_by_arc_length, KnnGraph};
use super::metric::{check_lengths, Euclidean, Metric, PullbackMetric};
use super::{check_points, check_same_shape, row, single};
use crate::check::check_dim;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::progress::Progress;
use argmin::core::{CostFunction, Executor, Gradient, State, TerminationReason};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use faer::linalg::triangular_solve::{
    solve_lower_triangular_in_place, solve_upper_triangular_in_place,
};
use faer::prelude::{Solve, SolveLstsq};
use faer::{Mat, MatRef, Par};
use rayon::prelude::*;
use std::sync::Mutex;

/// L-BFGS iterations before the metric preconditioner is rebuilt at the current nodes.
const RESTART_ITERS: u64 = 50;

/// Newton iterations per step of the discrete exponential map (and fixed-point iterations of
/// its first step).
const SHOOT_NEWTON_ITERS: usize = 50;

/// A smooth map F: ℝ^D → ℝ^M with injective differential, batched over points (rows); the
/// metric it induces is the pullback of ℓ², G(x) = DF(x)ᵀDF(x).
pub trait Immersion: Send + Sync {
    /// The dimension D of the domain.
    fn dim(&self) -> usize;

    /// The dimension M of the image space.
    fn image_dim(&self) -> usize;

    /// F(xᵢ) for every row (n×M).
    fn apply(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>>;

    /// The vector–Jacobian products DF(xᵢ)ᵀwᵢ for every row (w is n×M, the result n×D).
    fn vjp(&self, x: MatRef<'_, f64>, w: MatRef<'_, f64>) -> Result<Mat<f64>>;

    /// The Jacobians DF(xᵢ), one M×D matrix per row.
    fn jacobians(&self, x: MatRef<'_, f64>) -> Result<Vec<Mat<f64>>>;
}

impl<T: Immersion + ?Sized> Immersion for &T {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn image_dim(&self) -> usize {
        (**self).image_dim()
    }
    fn apply(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        (**self).apply(x)
    }
    fn vjp(&self, x: MatRef<'_, f64>, w: MatRef<'_, f64>) -> Result<Mat<f64>> {
        (**self).vjp(x, w)
    }
    fn jacobians(&self, x: MatRef<'_, f64>) -> Result<Vec<Mat<f64>>> {
        (**self).jacobians(x)
    }
}

/// The closed-form metric as an immersion: F(x) = W^{1/2}φ(x) with the Euclidean weights W
/// (A⁻¹φ for [`PullbackMetric::closed_form`]), so the numeric solver can be checked against the
/// exact formulas.
impl<P: Diffeomorphism> Immersion for PullbackMetric<P, Euclidean> {
    fn dim(&self) -> usize {
        self.diffeomorphism().dim()
    }

    fn image_dim(&self) -> usize {
        self.diffeomorphism().dim()
    }

    fn apply(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        let z = self.diffeomorphism().forward(x)?;
        let w = self.image_metric().weights();
        Ok(Mat::from_fn(z.nrows(), z.ncols(), |i, k| {
            w[k].sqrt() * z[(i, k)]
        }))
    }

    fn vjp(&self, x: MatRef<'_, f64>, u: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_same_shape(x, u, "immersion cotangents")?;
        let w = self.image_metric().weights();
        let scaled = Mat::from_fn(u.nrows(), u.ncols(), |i, k| w[k].sqrt() * u[(i, k)]);
        self.diffeomorphism().vjp(x, scaled.as_ref())
    }

    fn jacobians(&self, x: MatRef<'_, f64>) -> Result<Vec<Mat<f64>>> {
        let w = self.image_metric().weights();
        Ok(self
            .diffeomorphism()
            .jacobians(x)?
            .into_iter()
            .map(|j| Mat::from_fn(j.nrows(), j.ncols(), |a, b| w[a].sqrt() * j[(a, b)]))
            .collect())
    }
}

/// Settings of the discrete geodesic solver, validated by [`GeodesicSolverParams::check`].
#[derive(Clone, Debug, PartialEq)]
pub struct GeodesicSolverParams {
    nodes: usize,
    max_iters: u64,
    tolerance: f64,
    memory: usize,
    neighbours: usize,
    preconditioner: Preconditioner,
    progress: Progress,
}

/// The change of variables L-BFGS works in (see [`GeodesicSolverParams::preconditioner`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preconditioner {
    /// Whiten by the path Laplacian and a single scalar metric scale ‖F(y) − F(x)‖/‖y − x‖:
    /// no Jacobians needed; the anisotropy of the metric is left to L-BFGS.
    Laplacian,
    /// Whiten by the path Laplacian and the Cholesky factor of the metric DF(cᵢ)ᵀDF(cᵢ) at each
    /// initial node: one batched Jacobian evaluation and O(N·D³) set-up, then near-isotropic
    /// iterations. The default.
    Metric,
}

impl Default for GeodesicSolverParams {
    fn default() -> Self {
        Self {
            nodes: 32,
            max_iters: 1000,
            tolerance: 1e-7,
            memory: 10,
            neighbours: 10,
            preconditioner: Preconditioner::Metric,
            progress: Progress::Bar,
        }
    }
}

impl GeodesicSolverParams {
    /// The defaults: 32 nodes, at most 1000 L-BFGS iterations, tolerance 10⁻⁷, memory 10,
    /// 10 graph neighbours, metric preconditioning.
    pub fn new() -> Self {
        Self::default()
    }

    crate::check::setters! {
        /// Number of nodes N + 1 ≥ 2, endpoints included (N segments).
        nodes: usize,

        /// Maximum number of L-BFGS iterations (≥ 1).
        max_iters: u64,

        /// Relative tolerance τ > 0: converged when the gradient of E/(2N) in the preconditioned
        /// coordinates (where the Hessian is ≈ I, so the gradient ≈ the remaining node displacement
        /// in metric units) is at most τ·‖F(y) − F(x)‖.
        tolerance: f64,

        /// Number of correction pairs L-BFGS keeps (≥ 1).
        memory: usize,

        /// Neighbours per point of the k-NN graph used for initialisation (≥ 1).
        neighbours: usize,

        /// The preconditioner: [`Preconditioner::Metric`] (default) needs the Jacobians DF at the
        /// initial nodes, [`Preconditioner::Laplacian`] does not (for large D or costly Jacobians).
        preconditioner: Preconditioner,

        /// How [`GeodesicSolver::solve_between`] reports progress (default a bar on stderr).
        progress: Progress,
    }

    /// Validates the settings.
    pub fn check(&self) -> Result<GeodesicSolver> {
        if self.nodes < 2 {
            return Err(Error::param(
                "nodes",
                format!(
                    "a discrete geodesic needs at least its 2 endpoints, got {}",
                    self.nodes
                ),
            ));
        }
        if self.max_iters == 0 {
            return Err(Error::param("max_iters", "must be at least 1"));
        }
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return Err(Error::param(
                "tolerance",
                format!("must be positive and finite, got {}", self.tolerance),
            ));
        }
        if self.memory == 0 {
            return Err(Error::param("memory", "L-BFGS needs at least 1 pair"));
        }
        if self.neighbours == 0 {
            return Err(Error::param("neighbours", "must be at least 1"));
        }
        Ok(GeodesicSolver {
            params: self.clone(),
        })
    }
}

/// How a discrete geodesic was initialised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Initialisation {
    /// The straight segment from x to y (no data, or no graph path between the endpoints).
    StraightLine,
    /// The shortest path in the k-NN graph of the data, with this many edges.
    KnnGraph {
        /// Number of graph edges on the path.
        hops: usize,
    },
    /// A polyline supplied by the caller.
    Given,
}

/// A discrete geodesic and how its optimisation went.
#[derive(Clone, Debug)]
pub struct DiscreteGeodesic {
    nodes: Mat<f64>,
    length: f64,
    energy: f64,
    iterations: u64,
    passes: (u64, u64),
    converged: bool,
    gradient_norm: f64,
    termination: String,
    initialisation: Initialisation,
}

impl DiscreteGeodesic {
    /// The nodes c₀ = x, …, c_N = y, one per row.
    pub fn nodes(&self) -> MatRef<'_, f64> {
        self.nodes.as_ref()
    }

    /// Number of segments N.
    pub fn segments(&self) -> usize {
        self.nodes.nrows() - 1
    }

    /// The length Σᵢ ‖F(c_{i+1}) − F(cᵢ)‖: the distance estimate.
    pub fn length(&self) -> f64 {
        self.length
    }

    /// The energy E = N Σᵢ ‖F(c_{i+1}) − F(cᵢ)‖² (E ≥ length², with equality at constant speed).
    pub fn energy(&self) -> f64 {
        self.energy
    }

    /// The Euclidean length Σᵢ ‖c_{i+1} − cᵢ‖ of the polyline in ℝ^D.
    pub fn euclidean_length(&self) -> f64 {
        (0..self.segments())
            .map(|i| {
                (0..self.nodes.ncols())
                    .map(|j| (self.nodes[(i + 1, j)] - self.nodes[(i, j)]).powi(2))
                    .sum::<f64>()
                    .sqrt()
            })
            .sum()
    }

    /// L-BFGS iterations taken.
    pub fn iterations(&self) -> u64 {
        self.iterations
    }

    /// Batched evaluations of F over the nodes (the line search shares one between the energy
    /// and its gradient at the same point), including the final one for length and energy.
    pub fn forward_passes(&self) -> u64 {
        self.passes.0
    }

    /// Batched vector–Jacobian products of F over the interior nodes (one per gradient).
    pub fn backward_passes(&self) -> u64 {
        self.passes.1
    }

    /// Whether the relative gradient norm reached the tolerance.
    pub fn converged(&self) -> bool {
        self.converged
    }

    /// The final relative gradient norm (see [`GeodesicSolverParams::tolerance`]).
    pub fn gradient_norm(&self) -> f64 {
        self.gradient_norm
    }

    /// Why the optimiser stopped, in words.
    pub fn termination(&self) -> &str {
        &self.termination
    }

    /// How the path was initialised.
    pub fn initialisation(&self) -> Initialisation {
        self.initialisation
    }

    /// The discrete logarithm: the initial velocity of the path on t ∈ [0, 1] by the
    /// second-order one-sided difference N(−3c₀ + 4c₁ − c₂)/2 (N(c₁ − c₀) when N = 1).
    pub fn initial_velocity(&self) -> Vec<f64> {
        initial_velocity(self.nodes.as_ref())
    }

    /// The path at times t ∈ [0, 1] (node i sits at t = i/N, linear in between), one row each.
    pub fn sample(&self, times: &[f64]) -> Result<Mat<f64>> {
        if let Some(t) = times.iter().find(|t| !(0.0..=1.0).contains(*t)) {
            return Err(Error::param(
                "times",
                format!("a discrete geodesic is defined on [0, 1], got t = {t}"),
            ));
        }
        let n = self.segments();
        Ok(Mat::from_fn(times.len(), self.nodes.ncols(), |k, j| {
            let s = times[k] * n as f64;
            let i = (s.floor() as usize).min(n - 1);
            let frac = s - i as f64;
            (1.0 - frac) * self.nodes[(i, j)] + frac * self.nodes[(i + 1, j)]
        }))
    }
}

/// The validated discrete geodesic solver (see the module docs for the method).
#[derive(Clone, Debug, PartialEq)]
pub struct GeodesicSolver {
    params: GeodesicSolverParams,
}

impl GeodesicSolver {
    /// Unchecked default settings to adjust and [`check`](GeodesicSolverParams::check).
    pub fn params() -> GeodesicSolverParams {
        GeodesicSolverParams::default()
    }

    /// Number of nodes N + 1, endpoints included.
    pub fn nodes(&self) -> usize {
        self.params.nodes
    }

    /// Number of segments N.
    pub fn segments(&self) -> usize {
        self.params.nodes - 1
    }

    /// Maximum number of L-BFGS iterations.
    pub fn max_iters(&self) -> u64 {
        self.params.max_iters
    }

    /// Relative gradient tolerance.
    pub fn tolerance(&self) -> f64 {
        self.params.tolerance
    }

    /// L-BFGS memory.
    pub fn memory(&self) -> usize {
        self.params.memory
    }

    /// Neighbours per point of the initialisation graph.
    pub fn neighbours(&self) -> usize {
        self.params.neighbours
    }

    /// The preconditioner.
    pub fn preconditioner(&self) -> Preconditioner {
        self.params.preconditioner
    }

    /// The discrete geodesic from x to y, initialised with the straight line.
    pub fn solve<I: Immersion + ?Sized>(
        &self,
        imm: &I,
        x: &[f64],
        y: &[f64],
    ) -> Result<DiscreteGeodesic> {
        check_lengths(imm.dim(), &[x, y], "geodesic endpoints")?;
        let line = Mat::from_fn(2, x.len(), |i, j| if i == 0 { x[j] } else { y[j] });
        self.optimise(
            imm,
            resample_by_arc_length(line.as_ref(), self.nodes()),
            Initialisation::StraightLine,
        )
    }

    /// The discrete geodesic between the first and last rows of `polyline`, initialised with
    /// the polyline resampled to equal arc-length spacing.
    pub fn solve_from<I: Immersion + ?Sized>(
        &self,
        imm: &I,
        polyline: MatRef<'_, f64>,
    ) -> Result<DiscreteGeodesic> {
        check_points(imm.dim(), polyline, "initial path")?;
        if polyline.nrows() < 2 {
            return Err(Error::InvalidData(
                "an initial path needs at least 2 points".into(),
            ));
        }
        check_finite(polyline, "initial path")?;
        self.optimise(
            imm,
            resample_by_arc_length(polyline, self.nodes()),
            Initialisation::Given,
        )
    }

    /// The discrete geodesic from x to y: initialised with the shortest path in the k-NN graph of
    /// `data` and the endpoints when given (the straight line when they are not connected), with
    /// the straight line without data. A progress bar counts the energy gradients.
    pub fn solve_between<I: Immersion + ?Sized>(
        &self,
        imm: &I,
        x: &[f64],
        y: &[f64],
        data: Option<&Dataset>,
    ) -> Result<DiscreteGeodesic> {
        let bar = self.params.progress.bar(self.max_iters(), "geodesic");
        let ticking = Ticking {
            inner: imm,
            bar: &bar,
        };
        let solved = match data {
            Some(data) => {
                check_lengths(imm.dim(), &[x, y], "geodesic endpoints")?;
                let (a, b) = (single(x), single(y));
                self.solve_pairs(&ticking, a, b, Some(data))?
                    .pop()
                    .ok_or_else(|| Error::Numerical("the solver returned no path".into()))?
            }
            None => self.solve(&ticking, x, y)?,
        };
        bar.finish_and_clear();
        Ok(solved)
    }

    /// Discrete geodesics from each row of `from` to the same row of `to`, in parallel over
    /// pairs. With `data`, each is initialised with the shortest path in the k-NN graph of the
    /// data and all endpoints (one graph for all pairs; k = min(neighbours, points − 1)),
    /// falling back to the straight line when the endpoints are not connected.
    pub fn solve_pairs<I: Immersion + ?Sized>(
        &self,
        imm: &I,
        from: MatRef<'_, f64>,
        to: MatRef<'_, f64>,
        data: Option<&Dataset>,
    ) -> Result<Vec<DiscreteGeodesic>> {
        check_points(imm.dim(), from, "geodesic start points")?;
        check_same_shape(from, to, "geodesic end points")?;
        check_finite(from, "geodesic start points")?;
        check_finite(to, "geodesic end points")?;
        let pairs = from.nrows();
        if pairs == 0 {
            return Ok(Vec::new());
        }
        let (graph, offset) = match data {
            Some(data) => {
                check_dim(imm.dim(), data.dim(), "dataset")?;
                let mut all = data.as_slice().to_vec();
                for m in [from, to] {
                    for i in 0..pairs {
                        all.extend((0..m.ncols()).map(|j| m[(i, j)]));
                    }
                }
                let all = Dataset::from_row_major(all, data.len() + 2 * pairs, data.dim())?;
                // a small dataset gets every other point as a neighbour
                let k = self.neighbours().min(all.len() - 1);
                (Some((KnnGraph::new(&all, k)?, all)), data.len())
            }
            None => (None, 0),
        };
        (0..pairs)
            .into_par_iter()
            .map(|p| {
                let (x, y) = (row(from, p), row(to, p));
                let path = graph.as_ref().and_then(|(g, all)| {
                    let vertices = g.shortest_path(offset + p, offset + pairs + p)?;
                    let poly =
                        Mat::from_fn(vertices.len(), all.dim(), |k, j| all.row(vertices[k])[j]);
                    Some((poly, vertices.len() - 1))
                });
                match path {
                    Some((poly, hops)) => self.optimise(
                        imm,
                        resample_by_arc_length(poly.as_ref(), self.nodes()),
                        Initialisation::KnnGraph { hops },
                    ),
                    None => self.solve(imm, &x, &y),
                }
            })
            .collect()
    }

    /// Minimises the path energy over the interior nodes of `init` (endpoints fixed).
    fn optimise<I: Immersion + ?Sized>(
        &self,
        imm: &I,
        init: Mat<f64>,
        initialisation: Initialisation,
    ) -> Result<DiscreteGeodesic> {
        let (count, d) = (init.nrows(), init.ncols());
        let ends = Mat::from_fn(2, d, |i, j| init[(if i == 0 { 0 } else { count - 1 }, j)]);
        let end_images = imm.apply(ends.as_ref())?;
        check_dim(imm.image_dim(), end_images.ncols(), "immersion image")?;
        let chord = norm(
            &(0..d)
                .map(|j| ends[(1, j)] - ends[(0, j)])
                .collect::<Vec<_>>(),
        );
        let image_chord = norm(
            &(0..end_images.ncols())
                .map(|k| end_images[(1, k)] - end_images[(0, k)])
                .collect::<Vec<_>>(),
        );
        if count == 2 || image_chord == 0.0 || chord == 0.0 {
            // nothing to optimise (two nodes) or coincident endpoints (every node at x)
            let nodes = if chord == 0.0 {
                Mat::from_fn(count, d, |_, j| ends[(0, j)])
            } else {
                init
            };
            return finish(
                imm,
                nodes,
                0,
                (0, 0),
                0.0,
                true,
                "nothing to optimise".into(),
                initialisation,
            );
        }
        let mut nodes = init;
        let (mut iterations, mut passes) = (0, (0, 0));
        loop {
            let interior = nodes.as_ref().subrows(1, count - 2);
            let metric = match self.params.preconditioner {
                Preconditioner::Metric => Some(metric_factors(imm, interior)?),
                Preconditioner::Laplacian => None,
            };
            let problem = PathEnergy {
                imm,
                dim: d,
                segments: count - 1,
                first: row(end_images.as_ref(), 0),
                last: row(end_images.as_ref(), 1),
                base: (0..count - 2).flat_map(|i| row(interior, i)).collect(),
                laplacian: laplacian_cholesky(count - 2),
                metric,
                scale: image_chord / chord,
                images: Memo::default(),
                gradient: Memo::default(),
                passes: Mutex::new((0, 0)),
            };
            let start = vec![0.0; (count - 2) * d];
            // rounds only matter when the preconditioner is rebuilt from the current nodes
            let budget = match self.params.preconditioner {
                Preconditioner::Metric => (self.max_iters() - iterations).min(RESTART_ITERS),
                Preconditioner::Laplacian => self.max_iters() - iterations,
            };
            // in the preconditioned coordinates the Hessian is ≈ I, so ‖∇‖ ≈ the distance to
            // the optimum in metric units: compare it with the length scale ‖F(y) − F(x)‖
            let lbfgs = LBFGS::new(MoreThuenteLineSearch::new(), self.memory())
                .with_tolerance_grad(self.tolerance() * image_chord)
                .and_then(|s| s.with_tolerance_cost(0.0))
                .map_err(|e| Error::Numerical(format!("L-BFGS settings: {e}")))?;
            let result = Executor::new(&problem, lbfgs)
                .configure(|state| state.param(start.clone()).max_iters(budget))
                .ctrlc(false)
                .run()
                .map_err(recover_error)?;
            let state = result.state();
            let best = state.get_best_param().cloned().unwrap_or(start);
            let reason = state.get_termination_reason();
            let out_of_budget = matches!(reason, Some(TerminationReason::MaxItersReached));
            let termination = match reason {
                Some(TerminationReason::SolverExit(why)) => why.clone(),
                Some(r) => r.text().to_string(),
                None => "running".to_string(),
            };
            iterations += state.get_iter();
            // the gradient at the best point decides convergence, whichever test stopped argmin
            let gradient_norm = norm(&problem.preconditioned_gradient(&best)?) / image_chord;
            for (k, v) in problem.nodes_of(&best).iter().enumerate() {
                nodes[(1 + k / d, k % d)] = *v;
            }
            let round = *problem.passes.lock().unwrap_or_else(|p| p.into_inner());
            passes = (passes.0 + round.0, passes.1 + round.1);
            let converged = gradient_norm <= self.tolerance();
            // a fresh metric preconditioner at the current nodes helps only when the round ran
            // out of iterations; a line-search failure would repeat
            let restart = out_of_budget
                && iterations < self.max_iters()
                && self.params.preconditioner == Preconditioner::Metric;
            if converged || !restart {
                return finish(
                    imm,
                    nodes,
                    iterations,
                    passes,
                    gradient_norm,
                    converged,
                    termination,
                    initialisation,
                );
            }
        }
    }

    /// The discrete exponential map: the N + 1 nodes of the discrete geodesic from c₀ = x whose
    /// [initial velocity](DiscreteGeodesic::initial_velocity) is v. Every node after c₁ solves
    /// the discrete Euler–Lagrange equation DF(cᵢ)ᵀ(F(c_{i+1}) − 2F(cᵢ) + F(c_{i−1})) = 0 by
    /// damped Newton steps with the matrix DF(cᵢ)ᵀDF(c_{i+1}); c₁ itself solves
    /// N(−3c₀ + 4c₁ − c₂(c₁))/2 = v by a fixed point (c₂ ≈ 2c₁ − c₀, so the map contracts), which
    /// makes exp the inverse of the discrete log.
    pub fn shoot<I: Immersion + ?Sized>(&self, imm: &I, x: &[f64], v: &[f64]) -> Result<Mat<f64>> {
        check_lengths(imm.dim(), &[x, v], "shooting")?;
        let (n, d) = (self.segments(), x.len());
        let mut nodes = Mat::zeros(n + 1, d);
        let mut c1: Vec<f64> = (0..d).map(|j| x[j] + v[j] / n as f64).collect();
        let x_image = row(imm.apply(single(x))?.as_ref(), 0);
        let mut c1_image = row(imm.apply(single(&c1))?.as_ref(), 0);
        if n >= 2 {
            let speed = norm(v);
            // (residual, c₁, F(c₁)) of the best iterate so far
            let mut best = (f64::INFINITY, c1.clone(), c1_image.clone());
            for _ in 0..SHOOT_NEWTON_ITERS {
                let (c2, _) = euler_lagrange_step(imm, (x, &x_image), (&c1, &c1_image), n, 1)?;
                let r: Vec<f64> = (0..d)
                    .map(|j| 0.5 * n as f64 * (4.0 * c1[j] - c2[j] - 3.0 * x[j]) - v[j])
                    .collect();
                let rn = norm(&r);
                // stop unless strictly better (NaN counts as worse)
                if rn.partial_cmp(&best.0) != Some(std::cmp::Ordering::Less) {
                    break;
                }
                best = (rn, c1.clone(), c1_image.clone());
                if rn <= 1e-11 * speed {
                    break;
                }
                c1.iter_mut().zip(&r).for_each(|(c, r)| *c -= r / n as f64);
                c1_image = row(imm.apply(single(&c1))?.as_ref(), 0);
            }
            if best.0 > 1e-6 * speed {
                return Err(Error::Numerical(format!(
                    "discrete exponential map: the first step did not converge (relative \
                     residual {:e}); the tangent vector may be too long",
                    best.0 / speed
                )));
            }
            (c1, c1_image) = (best.1, best.2);
        }
        for j in 0..d {
            nodes[(0, j)] = x[j];
            nodes[(1, j)] = c1[j];
        }
        let (mut prev_image, mut image) = (x_image, c1_image);
        for i in 1..n {
            let (prev, here) = (row(nodes.as_ref(), i - 1), row(nodes.as_ref(), i));
            let (z, fz) = euler_lagrange_step(imm, (&prev, &prev_image), (&here, &image), n, i)?;
            for j in 0..d {
                nodes[(i + 1, j)] = z[j];
            }
            prev_image = std::mem::replace(&mut image, fz);
        }
        finite(nodes, "the discrete exponential map")
    }

    /// Parallel transport of the tangent vector v at the first row of `curve` to its last row:
    /// DF(c₀)v is projected onto DF(cᵢ)ℝ^D node after node with its length kept, then read in
    /// the coordinates of the last node (least squares).
    pub fn transport<I: Immersion + ?Sized>(
        &self,
        imm: &I,
        curve: MatRef<'_, f64>,
        v: &[f64],
    ) -> Result<Vec<f64>> {
        check_points(imm.dim(), curve, "transport curve")?;
        check_dim(imm.dim(), v.len(), "transported vector")?;
        if curve.nrows() == 0 {
            return Err(Error::InvalidData("transport needs a curve".into()));
        }
        let jac = imm.jacobians(curve)?;
        let vcol = faer::Col::from_fn(v.len(), |j| v[j]);
        let mut w = &jac[0] * &vcol;
        let length = w.norm_l2();
        let mut coords = vcol;
        for j in &jac[1..] {
            coords = j.qr().solve_lstsq(&w);
            w = j * &coords;
            let now = w.norm_l2();
            if now > 0.0 {
                w *= faer::Scale(length / now);
                coords *= faer::Scale(length / now);
            }
        }
        let out: Vec<f64> = coords.iter().copied().collect();
        if out.iter().all(|c| c.is_finite()) {
            Ok(out)
        } else {
            Err(Error::Numerical("non-finite parallel transport".into()))
        }
    }
}

/// The second-order one-sided difference N(−3c₀ + 4c₁ − c₂)/2 (N(c₁ − c₀) when N = 1).
fn initial_velocity(nodes: MatRef<'_, f64>) -> Vec<f64> {
    let n = nodes.nrows() - 1;
    (0..nodes.ncols())
        .map(|j| {
            if n == 1 {
                nodes[(1, j)] - nodes[(0, j)]
            } else {
                0.5 * n as f64 * (-3.0 * nodes[(0, j)] + 4.0 * nodes[(1, j)] - nodes[(2, j)])
            }
        })
        .collect()
}

/// The node after `here` on a discrete geodesic through `prev` and `here` (each with its image
/// under F): the solution z of DF(here)ᵀ(F(z) − 2F(here) + F(prev)) = 0 near 2·here − prev,
/// with F(z). `i` of `n` names the node in errors.
fn euler_lagrange_step<I: Immersion + ?Sized>(
    imm: &I,
    (prev, prev_image): (&[f64], &[f64]),
    (here, image): (&[f64], &[f64]),
    n: usize,
    i: usize,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let jac = imm.jacobians(single(here))?.remove(0);
    let target: Vec<f64> = image
        .iter()
        .zip(prev_image)
        .map(|(f, p)| 2.0 * f - p)
        .collect();
    let step: Vec<f64> = image.iter().zip(prev_image).map(|(f, p)| f - p).collect();
    let scale = norm(&jt_times(&jac, &step)) + f64::MIN_POSITIVE;
    let guess: Vec<f64> = here.iter().zip(prev).map(|(h, p)| 2.0 * h - p).collect();
    newton_step(imm, &jac, &target, guess, scale)?.map_err(|residual| {
        Error::Numerical(format!(
            "discrete exponential map: node {} of {n} did not converge (relative residual \
             {residual:e}); the tangent vector may be too long",
            i + 1
        ))
    })
}

/// Damped Newton iteration for DF(cᵢ)ᵀ(F(z) − target) = 0 from `guess`: Ok((z, F(z))), or
/// Err(the relative residual reached) when it stalls above 10⁻⁸.
type NewtonOutcome = std::result::Result<(Vec<f64>, Vec<f64>), f64>;

fn newton_step<I: Immersion + ?Sized>(
    imm: &I,
    jac: &Mat<f64>,
    target: &[f64],
    guess: Vec<f64>,
    scale: f64,
) -> Result<NewtonOutcome> {
    let residual_at = |z: &[f64]| -> Result<(Vec<f64>, Vec<f64>, f64)> {
        let fz = row(imm.apply(single(z))?.as_ref(), 0);
        let diff: Vec<f64> = fz.iter().zip(target).map(|(a, b)| a - b).collect();
        let g = jt_times(jac, &diff);
        let r = norm(&g) / scale;
        Ok((fz, g, r))
    };
    let mut z = guess;
    let (mut fz, mut g, mut r) = residual_at(&z)?;
    for _ in 0..SHOOT_NEWTON_ITERS {
        if r <= 1e-13 {
            break;
        }
        let jz = imm.jacobians(single(&z))?.remove(0);
        let h = jac.transpose() * &jz;
        let gcol = faer::Col::from_fn(g.len(), |k| g[k]);
        let delta = h.partial_piv_lu().solve(&gcol);
        let mut t = 1.0;
        let mut improved = false;
        for _ in 0..30 {
            let trial: Vec<f64> = z.iter().zip(delta.iter()).map(|(a, b)| a - t * b).collect();
            let (ft, gt, rt) = residual_at(&trial)?;
            if rt < r {
                (z, fz, g, r) = (trial, ft, gt, rt);
                improved = true;
                break;
            }
            t *= 0.5;
        }
        if !improved {
            break;
        }
    }
    // below 10⁻⁸ the residual is at the rounding floor of F(z) − target
    Ok(if r <= 1e-8 { Ok((z, fz)) } else { Err(r) })
}

/// Jᵀu for an M×D matrix J and u of length M.
fn jt_times(j: &Mat<f64>, u: &[f64]) -> Vec<f64> {
    (0..j.ncols())
        .map(|b| (0..j.nrows()).map(|a| j[(a, b)] * u[a]).sum())
        .collect()
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum::<f64>().sqrt()
}

fn check_finite(m: MatRef<'_, f64>, what: &str) -> Result<()> {
    for i in 0..m.nrows() {
        for j in 0..m.ncols() {
            if !m[(i, j)].is_finite() {
                return Err(Error::InvalidData(format!(
                    "{what}: non-finite value at row {}, column {}",
                    i + 1,
                    j + 1
                )));
            }
        }
    }
    Ok(())
}

/// Our error back out of argmin's, when it was ours.
fn recover_error(e: argmin::core::Error) -> Error {
    match e.downcast::<Error>() {
        Ok(ours) => ours,
        Err(other) => Error::Numerical(format!("L-BFGS: {other}")),
    }
}

/// A [`DiscreteGeodesic`] with its length and energy evaluated on all nodes (one more forward
/// pass added to the (forward, backward) `passes` so far).
#[allow(clippy::too_many_arguments)]
fn finish<I: Immersion + ?Sized>(
    imm: &I,
    nodes: Mat<f64>,
    iterations: u64,
    passes: (u64, u64),
    gradient_norm: f64,
    converged: bool,
    termination: String,
    initialisation: Initialisation,
) -> Result<DiscreteGeodesic> {
    let images = imm.apply(nodes.as_ref())?;
    let squares: Vec<f64> = (1..images.nrows())
        .map(|i| {
            (0..images.ncols())
                .map(|k| (images[(i, k)] - images[(i - 1, k)]).powi(2))
                .sum()
        })
        .collect();
    Ok(DiscreteGeodesic {
        length: squares.iter().map(|s| s.sqrt()).sum(),
        energy: squares.len() as f64 * squares.iter().sum::<f64>(),
        nodes,
        iterations,
        passes: (passes.0 + 1, passes.1),
        converged,
        gradient_norm,
        termination,
        initialisation,
    })
}

/// The bidiagonal Cholesky factor of the path Laplacian T = tridiag(−1, 2, −1) of size n:
/// (diagonal, subdiagonal) of L with T = LLᵀ.
fn laplacian_cholesky(n: usize) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(n);
    let mut diag: f64 = 2f64.sqrt();
    for _ in 0..n {
        let sub = -1.0 / diag;
        out.push((diag, sub));
        diag = (2.0 - sub * sub).sqrt();
    }
    out
}

/// Upper-triangular R with RᵀR = DF(x)ᵀDF(x) at each row of `x` (None where the metric is
/// numerically singular; those nodes fall back to the scalar scale).
fn metric_factors<I: Immersion + ?Sized>(
    imm: &I,
    x: MatRef<'_, f64>,
) -> Result<Vec<Option<Mat<f64>>>> {
    Ok(imm
        .jacobians(x)?
        .iter()
        .map(|j| {
            let g = j.transpose() * j;
            g.llt(faer::Side::Lower)
                .ok()
                .map(|llt| llt.L().transpose().to_owned())
                .filter(|r| (0..r.nrows()).all(|k| r[(k, k)].is_finite() && r[(k, k)] > 0.0))
        })
        .collect())
}

/// The path energy as an argmin problem: E/(2N) over preconditioned coordinates u of the
/// interior nodes, c = c⁰ + B(L⁻ᵀ ⊗ I)u, where T = LLᵀ is the path Laplacian and B is
/// blockdiag(Rᵢ⁻¹) with RᵢᵀRᵢ = DF(cᵢ⁰)ᵀDF(cᵢ⁰) (or the scalar ‖F(y) − F(x)‖⁻¹‖y − x‖).
/// Near c⁰ the Hessian of E/(2N) is ≈ T ⊗ G, so in u it is ≈ I: L-BFGS then needs few
/// iterations whatever N and the anisotropy of the metric.
///
/// The images and the gradient at the last point are kept: the line search asks for the cost
/// and then the gradient at each trial point (one forward pass serves both), and L-BFGS asks
/// again for the gradient at the accepted point.
struct PathEnergy<'a, I: ?Sized> {
    imm: &'a I,
    dim: usize,
    segments: usize,
    first: Vec<f64>,
    last: Vec<f64>,
    base: Vec<f64>,
    laplacian: Vec<(f64, f64)>,
    metric: Option<Vec<Option<Mat<f64>>>>,
    scale: f64,
    images: Memo<Mat<f64>>,
    gradient: Memo<Vec<f64>>,
    /// (forward, backward) batched passes of F so far
    passes: Mutex<(u64, u64)>,
}

impl<I: Immersion + ?Sized> PathEnergy<'_, I> {
    fn interior(&self) -> usize {
        self.segments - 1
    }

    /// The interior nodes c(u), row-major.
    fn nodes_of(&self, u: &[f64]) -> Vec<f64> {
        let (n, d) = (self.interior(), self.dim);
        // y = (L⁻ᵀ ⊗ I)u: back substitution with the upper bidiagonal Lᵀ
        let mut y = u.to_vec();
        for k in (0..n).rev() {
            let (diag, sub) = self.laplacian[k];
            for j in 0..d {
                let next = if k + 1 < n { y[(k + 1) * d + j] } else { 0.0 };
                y[k * d + j] = (y[k * d + j] - sub * next) / diag;
            }
        }
        // δᵢ = Rᵢ⁻¹yᵢ (upper triangular), or yᵢ/scale
        for k in 0..n {
            let yk = &mut y[k * d..(k + 1) * d];
            match self.metric.as_ref().and_then(|m| m[k].as_ref()) {
                Some(r) => solve_upper_triangular_in_place(
                    r.as_ref(),
                    faer::ColMut::from_slice_mut(yk).as_mat_mut(),
                    Par::Seq,
                ),
                None => yk.iter_mut().for_each(|v| *v /= self.scale),
            }
        }
        y.iter().zip(&self.base).map(|(a, b)| a + b).collect()
    }

    /// The gradient in u from the gradient in c: (L⁻¹ ⊗ I)Bᵀ∇_c.
    fn pull_gradient(&self, mut g: Vec<f64>) -> Vec<f64> {
        let (n, d) = (self.interior(), self.dim);
        for k in 0..n {
            let gk = &mut g[k * d..(k + 1) * d];
            match self.metric.as_ref().and_then(|m| m[k].as_ref()) {
                Some(r) => solve_lower_triangular_in_place(
                    r.transpose(),
                    faer::ColMut::from_slice_mut(gk).as_mat_mut(),
                    Par::Seq,
                ),
                None => gk.iter_mut().for_each(|v| *v /= self.scale),
            }
        }
        // (L⁻¹ ⊗ I): forward substitution with the lower bidiagonal L
        for k in 0..n {
            let (diag, _) = self.laplacian[k];
            let sub = if k > 0 { self.laplacian[k - 1].1 } else { 0.0 };
            for j in 0..d {
                let prev = if k > 0 { g[(k - 1) * d + j] } else { 0.0 };
                g[k * d + j] = (g[k * d + j] - sub * prev) / diag;
            }
        }
        g
    }

    /// F at the interior nodes c(u).
    fn images(&self, u: &[f64]) -> Result<Mat<f64>> {
        self.images.get(u, || {
            let c = self.nodes_of(u);
            self.passes.lock().unwrap_or_else(|p| p.into_inner()).0 += 1;
            self.imm
                .apply(MatRef::from_row_major_slice(&c, self.interior(), self.dim))
        })
    }

    /// F(cᵢ) for i = 0..=N: an endpoint or a row of the interior images.
    fn image(&self, images: &Mat<f64>, i: usize) -> Vec<f64> {
        if i == 0 {
            self.first.clone()
        } else if i == self.segments {
            self.last.clone()
        } else {
            row(images.as_ref(), i - 1)
        }
    }

    /// Squared segment lengths ‖F(c_{i+1}) − F(cᵢ)‖².
    fn segment_squares(&self, images: &Mat<f64>) -> Vec<f64> {
        let mut prev = self.image(images, 0);
        (1..=self.segments)
            .map(|i| {
                let next = self.image(images, i);
                let s = next.iter().zip(&prev).map(|(a, b)| (a - b).powi(2)).sum();
                prev = next;
                s
            })
            .collect()
    }

    /// E = N Σᵢ ‖F(c_{i+1}) − F(cᵢ)‖².
    fn energy_of(&self, images: &Mat<f64>) -> f64 {
        self.segments as f64 * self.segment_squares(images).iter().sum::<f64>()
    }

    /// The objective E/(2N).
    fn objective(&self, u: &[f64]) -> Result<f64> {
        let e = self.energy_of(&self.images(u)?) / (2.0 * self.segments as f64);
        if e.is_finite() {
            Ok(e)
        } else {
            Err(Error::Numerical(
                "non-finite path energy (the immersion overflowed on a trial path)".into(),
            ))
        }
    }

    /// ∂(E/2N)/∂cᵢ = DF(cᵢ)ᵀ(2Fᵢ − F_{i−1} − F_{i+1}) (one batched VJP), then pulled back to u.
    fn preconditioned_gradient(&self, u: &[f64]) -> Result<Vec<f64>> {
        self.gradient.get(u, || {
            let images = self.images(u)?;
            let m = images.ncols();
            let n = self.interior();
            let mut w = Mat::zeros(n, m);
            for i in 1..self.segments {
                let (prev, here, next) = (
                    self.image(&images, i - 1),
                    self.image(&images, i),
                    self.image(&images, i + 1),
                );
                for k in 0..m {
                    w[(i - 1, k)] = 2.0 * here[k] - prev[k] - next[k];
                }
            }
            let c = self.nodes_of(u);
            self.passes.lock().unwrap_or_else(|p| p.into_inner()).1 += 1;
            let g = self
                .imm
                .vjp(MatRef::from_row_major_slice(&c, n, self.dim), w.as_ref())?;
            let flat: Vec<f64> = (0..n).flat_map(|i| row(g.as_ref(), i)).collect();
            if flat.iter().all(|v| v.is_finite()) {
                Ok(self.pull_gradient(flat))
            } else {
                Err(Error::Numerical("non-finite path energy gradient".into()))
            }
        })
    }
}

/// A value at the last point asked for, recomputed only when the point changes.
struct Memo<T>(Mutex<Option<(Vec<f64>, T)>>);

impl<T> Default for Memo<T> {
    fn default() -> Self {
        Self(Mutex::new(None))
    }
}

impl<T: Clone> Memo<T> {
    fn get(&self, u: &[f64], compute: impl FnOnce() -> Result<T>) -> Result<T> {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, value)) = slot.as_ref() {
            if at.as_slice() == u {
                return Ok(value.clone());
            }
        }
        let value = compute()?;
        *slot = Some((u.to_vec(), value.clone()));
        Ok(value)
    }
}

impl<I: Immersion + ?Sized> CostFunction for &PathEnergy<'_, I> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, u: &Self::Param) -> std::result::Result<f64, argmin::core::Error> {
        Ok(self.objective(u)?)
    }
}

impl<I: Immersion + ?Sized> Gradient for &PathEnergy<'_, I> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, u: &Self::Param) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        Ok(self.preconditioned_gradient(u)?)
    }
}

/// An immersion that ticks a progress bar at each batched vector–Jacobian product: once per
/// gradient of the path energy.
struct Ticking<'a, I: ?Sized> {
    inner: &'a I,
    bar: &'a indicatif::ProgressBar,
}

impl<I: Immersion + ?Sized> Immersion for Ticking<'_, I> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn image_dim(&self) -> usize {
        self.inner.image_dim()
    }

    fn apply(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        self.inner.apply(x)
    }

    fn vjp(&self, x: MatRef<'_, f64>, w: MatRef<'_, f64>) -> Result<Mat<f64>> {
        let out = self.inner.vjp(x, w);
        self.bar.inc(1);
        out
    }

    fn jacobians(&self, x: MatRef<'_, f64>) -> Result<Vec<Mat<f64>>> {
        self.inner.jacobians(x)
    }
}

/// The metric pulled back through an immersion, computed with discrete geodesics.
///
/// distance = the discrete geodesic's length, log = N(−3c₀ + 4c₁ − c₂)/2 (second order in
/// 1/N), exp = discrete shooting (its inverse), geodesic = the nodes interpolated linearly
/// (times in [0, 1]), parallel transport = the projection scheme along the discrete geodesic,
/// barycentre = the Karcher iteration of [`Metric::barycentre`]. Results carry the
/// discretisation error of N segments.
#[derive(Clone, Debug)]
pub struct DiscreteMetric<I> {
    imm: I,
    solver: GeodesicSolver,
}

impl<I: Immersion> DiscreteMetric<I> {
    /// The pullback of ℓ² through `imm`, solved with `solver`.
    pub fn new(imm: I, solver: GeodesicSolver) -> Self {
        Self { imm, solver }
    }

    /// The immersion F.
    pub fn immersion(&self) -> &I {
        &self.imm
    }

    /// The solver settings.
    pub fn solver(&self) -> &GeodesicSolver {
        &self.solver
    }

    /// The discrete geodesic from x to y from the straight line.
    pub fn solve(&self, x: &[f64], y: &[f64]) -> Result<DiscreteGeodesic> {
        self.solver.solve(&self.imm, x, y)
    }

    /// The discrete geodesic between the ends of `polyline`, initialised with it.
    pub fn solve_from(&self, polyline: MatRef<'_, f64>) -> Result<DiscreteGeodesic> {
        self.solver.solve_from(&self.imm, polyline)
    }

    /// The discrete geodesic from x to y, from the k-NN graph of `data` when given (see
    /// [`GeodesicSolver::solve_between`]).
    pub fn solve_between(
        &self,
        x: &[f64],
        y: &[f64],
        data: Option<&Dataset>,
    ) -> Result<DiscreteGeodesic> {
        self.solver.solve_between(&self.imm, x, y, data)
    }

    /// Discrete geodesics for many pairs (rows of `from` to rows of `to`), in parallel, with the
    /// k-NN graph initialisation over `data` when given.
    pub fn solve_pairs(
        &self,
        from: MatRef<'_, f64>,
        to: MatRef<'_, f64>,
        data: Option<&Dataset>,
    ) -> Result<Vec<DiscreteGeodesic>> {
        self.solver.solve_pairs(&self.imm, from, to, data)
    }
}

impl<I: Immersion> Metric for DiscreteMetric<I> {
    fn dim(&self) -> usize {
        self.imm.dim()
    }

    fn inner_product(&self, x: &[f64], v: &[f64], w: &[f64]) -> Result<f64> {
        check_lengths(self.dim(), &[x, v, w], "pullback metric")?;
        let j = self.imm.jacobians(single(x))?.remove(0);
        let vcol = faer::Col::from_fn(v.len(), |k| v[k]);
        let wcol = faer::Col::from_fn(w.len(), |k| w[k]);
        let (jv, jw) = (&j * &vcol, &j * &wcol);
        Ok(jv.iter().zip(jw.iter()).map(|(a, b)| a * b).sum())
    }

    fn distance(&self, x: &[f64], y: &[f64]) -> Result<f64> {
        Ok(self.solve(x, y)?.length())
    }

    fn geodesic(&self, x: &[f64], y: &[f64], times: &[f64]) -> Result<Mat<f64>> {
        self.solve(x, y)?.sample(times)
    }

    fn exp(&self, x: &[f64], v: &[f64]) -> Result<Vec<f64>> {
        let nodes = self.solver.shoot(&self.imm, x, v)?;
        Ok(row(nodes.as_ref(), nodes.nrows() - 1))
    }

    fn log(&self, x: &[f64], y: &[f64]) -> Result<Vec<f64>> {
        Ok(self.solve(x, y)?.initial_velocity())
    }

    fn parallel_transport(&self, x: &[f64], y: &[f64], v: &[f64]) -> Result<Vec<f64>> {
        check_lengths(self.dim(), &[v], "transported vector")?;
        let path = self.solve(x, y)?;
        self.solver.transport(&self.imm, path.nodes(), v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::diffeo::Shear;

    #[test]
    fn solver_params_check_each_setting() {
        assert!(GeodesicSolver::params().check().is_ok());
        assert!(GeodesicSolver::params().nodes(1).check().is_err());
        assert!(GeodesicSolver::params().max_iters(0).check().is_err());
        assert!(GeodesicSolver::params().tolerance(0.0).check().is_err());
        assert!(GeodesicSolver::params()
            .tolerance(f64::NAN)
            .check()
            .is_err());
        assert!(GeodesicSolver::params().memory(0).check().is_err());
        assert!(GeodesicSolver::params().neighbours(0).check().is_err());
    }

    /// For F = A⁻¹φ the discrete Euler–Lagrange equations force equally spaced F(cᵢ) on a line,
    /// so the discrete geodesic is the closed-form one sampled at t = i/N, exactly.
    #[test]
    fn closed_form_immersion_gives_exact_nodes() {
        let m = PullbackMetric::closed_form(Shear::banana(2).unwrap(), &[0.1, 2.0]).unwrap();
        let solver = GeodesicSolver::params()
            .nodes(9)
            .tolerance(1e-10)
            .check()
            .unwrap();
        let (x, y) = ([-1.0, 2.5], [0.5, -2.0]);
        let g = solver.solve(&m, &x, &y).unwrap();
        assert!(
            g.converged(),
            "{} {} {}",
            g.termination(),
            g.gradient_norm(),
            g.iterations()
        );
        let times: Vec<f64> = (0..9).map(|i| i as f64 / 8.0).collect();
        let exact = m.geodesic(&x, &y, &times).unwrap();
        for i in 0..9 {
            for j in 0..2 {
                assert!((g.nodes()[(i, j)] - exact[(i, j)]).abs() < 1e-7, "node {i}");
            }
        }
        assert!((g.length() - m.distance(&x, &y).unwrap()).abs() < 1e-9);
        assert!((g.energy() - g.length().powi(2)).abs() < 1e-7 * g.energy());
        // shooting the discrete log returns to y
        let back = solver.shoot(&m, &x, &g.initial_velocity()).unwrap();
        for j in 0..2 {
            assert!((back[(8, j)] - y[j]).abs() < 1e-6);
        }
    }

    /// A dataset smaller than the neighbour count still gives a graph initialisation (k is
    /// clamped to 4 for 5 points, a complete graph: the direct edge), and converges to the exact
    /// geodesic.
    #[test]
    fn graph_initialisation_on_a_small_dataset() {
        let m = PullbackMetric::closed_form(Shear::banana(2).unwrap(), &[0.1, 2.0]).unwrap();
        let solver = GeodesicSolver::params()
            .nodes(9)
            .neighbours(10)
            .check()
            .unwrap();
        let data = Dataset::from_rows(&[vec![0.0, 0.0], vec![0.1, 1.0], vec![0.1, -1.0]]).unwrap();
        let from = Mat::from_fn(1, 2, |_, j| [1.0, 3.0][j]);
        let to = Mat::from_fn(1, 2, |_, j| [1.0, -3.0][j]);
        let g = solver
            .solve_pairs(&m, from.as_ref(), to.as_ref(), Some(&data))
            .unwrap();
        assert_eq!(g[0].initialisation(), Initialisation::KnnGraph { hops: 1 });
        assert!(g[0].converged());
        let exact = m.distance(&[1.0, 3.0], &[1.0, -3.0]).unwrap();
        assert!((g[0].length() - exact).abs() < 1e-8 * exact);
        let none = solver
            .solve_pairs(
                &m,
                Mat::zeros(0, 2).as_ref(),
                Mat::zeros(0, 2).as_ref(),
                None,
            )
            .unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn coincident_endpoints_and_two_nodes_need_no_optimisation() {
        let m = PullbackMetric::closed_form(Shear::river(2).unwrap(), &[0.1, 2.0]).unwrap();
        let solver = GeodesicSolver::params().nodes(5).check().unwrap();
        let g = solver.solve(&m, &[0.3, 0.4], &[0.3, 0.4]).unwrap();
        assert_eq!((g.length(), g.iterations()), (0.0, 0));
        let two = GeodesicSolver::params().nodes(2).check().unwrap();
        let g = two.solve(&m, &[0.0, 0.0], &[1.0, 1.0]).unwrap();
        assert!((g.length() - m.distance(&[0.0, 0.0], &[1.0, 1.0]).unwrap()).abs() < 1e-12);
        assert!(solver.solve(&m, &[0.0], &[1.0, 1.0]).is_err());
    }
}
