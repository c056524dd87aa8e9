//! Score-pullback geometry of any score model (DESIGN §2, generalising Diepeveen et al. 2024).
//!
//! For a flow density with isometric φ the score Jacobian is ≈ −DφᵀA⁻¹Dφ, so J_sᵀJ_s is the
//! closed-form metric DφᵀA⁻²Dφ; for a diffusion model near its data manifold,
//! ∇ₓs(x, t₀) ≈ −P_N/σ(t₀)², so J_sᵀJ_s penalises normal motion. Adding λI keeps the metric
//! non-degenerate along flat directions: G(x) = λI + c² J_s(x)ᵀJ_s(x), the pullback of ℓ²
//! through the immersion F(x) = (√λ·x, c·s(x, t₀)) ∈ ℝ^{2D}. Geodesics are computed with the
//! discrete calculus of [`super::discrete`].
//!
//! # Defaults and scales
//! - c = σ(t₀)² (the model's kernel standard deviation in data units, squared), which makes
//!   c·J_s ≈ −P_N dimensionless at small t₀: the score itself is O(1/σ) and its Jacobian
//!   O(1/σ²) there. For a time-independent density (such as
//!   [`FlowDensity`](super::densities::FlowDensity)) set c explicitly, e.g. to the smallest
//!   variance a_min, so that c·J_s ≈ −Dφᵀ(a_min A⁻¹)Dφ.
//! - λ = 10⁻³: with c·J_s ≈ −P_N the metric is ≈ λP_T + (1 + λ)P_N, so leaving the manifold
//!   costs √(1/λ) ≈ 32 times more than moving along it. A geodesic on a circle of radius R
//!   cuts inwards by about λR/(1 + λ) (the length √(λ(R − δ)² + δ²) per radian is least at
//!   δ = λR/(1 + λ)); distances are ≈ √λ times the arc length.
//! - t₀ = 10⁻²: σ(t₀) ≈ 0.011 for VE with the default σ_min = 0.01, ≈ 0.045 for the default
//!   VP. σ(t₀) must exceed the spacing between training points (or the network's resolution),
//!   otherwise the score oscillates along the manifold.
//!
//! ```
//! use scoregeo::geometry::{Metric, ScorePullback};
//! use scoregeo::score::analytic::SubspaceGaussian;
//! use scoregeo::sde::Sde;
//! use faer::Mat;
//!
//! // a Gaussian concentrated on the x-axis of ℝ²
//! let basis = Mat::from_fn(2, 1, |i, _| if i == 0 { 1.0 } else { 0.0 });
//! let model = SubspaceGaussian::new(vec![0.0, 0.0], basis, 1.0, 1e-6, Sde::ve(5.0)).unwrap();
//! let pullback = ScorePullback::params().nodes(16).check().unwrap();
//! let metric = pullback.metric(&model).unwrap();
//! let path = metric.solve(&[-1.0, 0.0], &[1.0, 0.0]).unwrap();
//! assert!(path.converged());
//! // the geodesic stays on the axis
//! assert!((0..16).all(|i| path.nodes()[(i, 1)].abs() < 1e-9));
//! ```

use super::check_points;
use super::discrete::{
    DiscreteMetric, GeodesicSolver, GeodesicSolverParams, Immersion, Preconditioner,
};
use crate::check::{check_dim, check_t0};
use crate::error::{Error, Result};
use crate::score::ScoreModel;
use faer::{Mat, MatRef};

/// The immersion F(x) = (√λ·x, c·s(x, t₀)) of a score model.
#[derive(Clone, Copy, Debug)]
pub struct ScoreImmersion<'m, M: ?Sized> {
    model: &'m M,
    lambda: f64,
    score_scale: f64,
    t0: f64,
}

impl<'m, M: ScoreModel + ?Sized> ScoreImmersion<'m, M> {
    /// F for `model` with λ > 0, c > 0 and t₀ ∈ (0, 1], all finite.
    pub fn new(model: &'m M, lambda: f64, score_scale: f64, t0: f64) -> Result<Self> {
        check_lambda(lambda)?;
        check_score_scale(score_scale)?;
        check_t0(t0)?;
        Ok(Self {
            model,
            lambda,
            score_scale,
            t0,
        })
    }

    /// The score model.
    pub fn model(&self) -> &'m M {
        self.model
    }

    /// λ, the weight of the Euclidean part.
    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    /// c, the scale of the score part.
    pub fn score_scale(&self) -> f64 {
        self.score_scale
    }

    /// The diffusion time t₀ the score is evaluated at.
    pub fn t0(&self) -> f64 {
        self.t0
    }

    /// σ(t₀): the standard deviation of the model's kernel at t₀, in data units.
    pub fn sigma(&self) -> f64 {
        self.model.kernel(self.t0).std
    }
}

impl<M: ScoreModel + ?Sized> Immersion for ScoreImmersion<'_, M> {
    fn dim(&self) -> usize {
        self.model.dim()
    }

    fn image_dim(&self) -> usize {
        2 * self.model.dim()
    }

    fn apply(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_points(self.dim(), x, "score pullback")?;
        let s = self.model.score(x, self.t0)?;
        let (d, sl) = (self.dim(), self.lambda.sqrt());
        Ok(Mat::from_fn(x.nrows(), 2 * d, |i, k| {
            if k < d {
                sl * x[(i, k)]
            } else {
                self.score_scale * s[(i, k - d)]
            }
        }))
    }

    fn vjp(&self, x: MatRef<'_, f64>, w: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_points(self.dim(), x, "score pullback")?;
        check_dim(x.nrows(), w.nrows(), "score pullback cotangent rows")?;
        check_dim(self.image_dim(), w.ncols(), "score pullback cotangents")?;
        let d = self.dim();
        // DFᵀw = √λ w_x + c ∇sᵀ w_s
        let back = self.model.score_vjp(x, self.t0, w.subcols(d, d))?;
        let sl = self.lambda.sqrt();
        Ok(Mat::from_fn(x.nrows(), d, |i, j| {
            sl * w[(i, j)] + self.score_scale * back[(i, j)]
        }))
    }

    fn jacobians(&self, x: MatRef<'_, f64>) -> Result<Vec<Mat<f64>>> {
        check_points(self.dim(), x, "score pullback")?;
        let d = self.dim();
        let sl = self.lambda.sqrt();
        Ok(self
            .model
            .score_jacobians(x, self.t0)?
            .into_iter()
            .map(|j| {
                Mat::from_fn(2 * d, d, |a, b| {
                    if a < d {
                        if a == b {
                            sl
                        } else {
                            0.0
                        }
                    } else {
                        self.score_scale * j[(a - d, b)]
                    }
                })
            })
            .collect())
    }
}

/// The score-pullback metric of a model: discrete geodesics of G = λI + c²J_sᵀJ_s.
pub type ScorePullbackMetric<'m, M> = DiscreteMetric<ScoreImmersion<'m, M>>;

fn check_lambda(lambda: f64) -> Result<()> {
    if lambda.is_finite() && lambda > 0.0 {
        Ok(())
    } else {
        Err(Error::param(
            "lambda",
            format!(
                "must be positive and finite (λI keeps the metric non-degenerate), got {lambda}"
            ),
        ))
    }
}

fn check_score_scale(c: f64) -> Result<()> {
    if c.is_finite() && c > 0.0 {
        Ok(())
    } else {
        Err(Error::param(
            "score_scale",
            format!("must be positive and finite, got {c}"),
        ))
    }
}

/// Settings of the score-pullback geometry, validated by [`ScorePullbackParams::check`].
#[derive(Clone, Debug, PartialEq)]
pub struct ScorePullbackParams {
    lambda: f64,
    score_scale: Option<f64>,
    t0: f64,
    solver: GeodesicSolverParams,
}

impl Default for ScorePullbackParams {
    fn default() -> Self {
        Self {
            lambda: 1e-3,
            score_scale: None,
            t0: 1e-2,
            solver: GeodesicSolverParams::default(),
        }
    }
}

impl ScorePullbackParams {
    /// λ > 0, the weight of the Euclidean part (default 10⁻³).
    pub fn lambda(mut self, lambda: f64) -> Self {
        self.lambda = lambda;
        self
    }

    /// c > 0, the scale of the score part (default σ(t₀)² of the model).
    pub fn score_scale(mut self, c: f64) -> Self {
        self.score_scale = Some(c);
        self
    }

    /// The diffusion time t₀ ∈ (0, 1] (default 10⁻²).
    pub fn t0(mut self, t0: f64) -> Self {
        self.t0 = t0;
        self
    }

    /// Nodes per geodesic N + 1, endpoints included (default 32).
    pub fn nodes(mut self, nodes: usize) -> Self {
        self.solver = self.solver.nodes(nodes);
        self
    }

    /// Maximum L-BFGS iterations (default 1000).
    pub fn max_iters(mut self, max_iters: u64) -> Self {
        self.solver = self.solver.max_iters(max_iters);
        self
    }

    /// Relative gradient tolerance (default 10⁻⁷, see [`GeodesicSolverParams::tolerance`]).
    pub fn tolerance(mut self, tolerance: f64) -> Self {
        self.solver = self.solver.tolerance(tolerance);
        self
    }

    /// L-BFGS memory (default 10).
    pub fn memory(mut self, memory: usize) -> Self {
        self.solver = self.solver.memory(memory);
        self
    }

    /// Neighbours per point of the k-NN initialisation graph (default 10).
    pub fn neighbours(mut self, neighbours: usize) -> Self {
        self.solver = self.solver.neighbours(neighbours);
        self
    }

    /// How the solver reports progress (default a bar on stderr).
    pub fn progress(mut self, progress: crate::progress::Progress) -> Self {
        self.solver = self.solver.progress(progress);
        self
    }

    /// The L-BFGS preconditioner (default [`Preconditioner::Metric`]; see
    /// [`GeodesicSolverParams::preconditioner`]).
    pub fn preconditioner(mut self, preconditioner: Preconditioner) -> Self {
        self.solver = self.solver.preconditioner(preconditioner);
        self
    }

    /// Validates every setting.
    pub fn check(&self) -> Result<ScorePullback> {
        check_lambda(self.lambda)?;
        if let Some(c) = self.score_scale {
            check_score_scale(c)?;
        }
        check_t0(self.t0)?;
        Ok(ScorePullback {
            lambda: self.lambda,
            score_scale: self.score_scale,
            t0: self.t0,
            solver: self.solver.check()?,
        })
    }
}

/// Validated score-pullback settings; [`ScorePullback::metric`] binds them to a model.
#[derive(Clone, Debug, PartialEq)]
pub struct ScorePullback {
    lambda: f64,
    score_scale: Option<f64>,
    t0: f64,
    solver: GeodesicSolver,
}

impl ScorePullback {
    /// Default settings to adjust and check.
    pub fn params() -> ScorePullbackParams {
        ScorePullbackParams::default()
    }

    /// λ.
    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    /// c when set explicitly (`None`: σ(t₀)² of the model).
    pub fn score_scale(&self) -> Option<f64> {
        self.score_scale
    }

    /// t₀.
    pub fn t0(&self) -> f64 {
        self.t0
    }

    /// The discrete geodesic solver.
    pub fn solver(&self) -> &GeodesicSolver {
        &self.solver
    }

    /// The metric of `model`, resolving c = σ(t₀)² from its kernel unless set.
    pub fn metric<'m, M: ScoreModel + ?Sized>(
        &self,
        model: &'m M,
    ) -> Result<ScorePullbackMetric<'m, M>> {
        let c = match self.score_scale {
            Some(c) => c,
            None => {
                let std = model.kernel(self.t0).std;
                let c = std * std;
                if !(c.is_finite() && c > 0.0) {
                    return Err(Error::param(
                        "score_scale",
                        format!(
                            "σ(t0)² = {c} of the model at t0 = {} is unusable; set it explicitly",
                            self.t0
                        ),
                    ));
                }
                c
            }
        };
        let imm = ScoreImmersion::new(model, self.lambda, c, self.t0)?;
        Ok(DiscreteMetric::new(imm, self.solver.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::densities::FlowDensity;
    use crate::geometry::diffeo::Shear;
    use crate::sde::Sde;

    #[test]
    fn params_check_each_setting() {
        assert!(ScorePullback::params().check().is_ok());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(ScorePullback::params().lambda(bad).check().is_err());
            assert!(ScorePullback::params().score_scale(bad).check().is_err());
        }
        for bad in [0.0, 1.5, f64::NAN] {
            assert!(ScorePullback::params().t0(bad).check().is_err());
        }
        assert!(ScorePullback::params().nodes(1).check().is_err());
        assert!(ScorePullback::params().max_iters(0).check().is_err());
        assert!(ScorePullback::params().tolerance(-1.0).check().is_err());
        assert!(ScorePullback::params().memory(0).check().is_err());
        assert!(ScorePullback::params().neighbours(0).check().is_err());
    }

    #[test]
    fn default_scale_is_kernel_variance() {
        let model = FlowDensity::new(Shear::banana(2).unwrap(), vec![0.1, 1.0]).unwrap();
        let p = ScorePullback::params().t0(0.5).check().unwrap();
        let m = p.metric(&model).unwrap();
        let sigma = Sde::ve(1.0).marginal(0.5).sigma;
        assert!((m.immersion().score_scale() - sigma * sigma).abs() < 1e-15);
    }

    /// The VJP and the Jacobians of F agree, and F's score block is c·s.
    #[test]
    fn immersion_blocks_are_consistent() {
        let model = FlowDensity::new(Shear::river(3).unwrap(), vec![0.1, 1.0, 2.0]).unwrap();
        let imm = ScoreImmersion::new(&model, 0.04, 0.5, 0.1).unwrap();
        let x = Mat::from_fn(2, 3, |i, j| (i as f64 - j as f64) * 0.3);
        let w = Mat::from_fn(2, 6, |i, k| ((i * 6 + k) as f64).sin());
        let vjp = imm.vjp(x.as_ref(), w.as_ref()).unwrap();
        let jac = imm.jacobians(x.as_ref()).unwrap();
        let f = imm.apply(x.as_ref()).unwrap();
        let s = model.score(x.as_ref(), 0.1).unwrap();
        for i in 0..2 {
            for b in 0..3 {
                let want: f64 = (0..6).map(|a| w[(i, a)] * jac[i][(a, b)]).sum();
                assert!((vjp[(i, b)] - want).abs() < 1e-12);
                assert!((f[(i, b)] - 0.2 * x[(i, b)]).abs() < 1e-15);
                assert!((f[(i, 3 + b)] - 0.5 * s[(i, b)]).abs() < 1e-15);
            }
        }
        assert!(imm
            .vjp(x.as_ref(), Mat::<f64>::zeros(2, 3).as_ref())
            .is_err());
    }
}
