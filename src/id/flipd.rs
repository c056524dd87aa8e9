//! FLIPD (Kamkari et al. 2024): local intrinsic dimension from the score and its divergence.
//!
//! LID(x, t₀) = D + σ(t₀)² [ tr ∇s(α x, t₀) + ‖s(α x, t₀)‖² ], the rate at which the log density
//! of the diffused point changes with log σ. On a k-dimensional manifold it tends to k as σ → 0.
//! The trace is exact (D derivative passes, from [`ScoreModel::score_jacobians`]) up to a
//! configurable dimension, and a Hutchinson estimate (1/m) Σ vᵀ∇s v over m Rademacher or Gaussian
//! probes beyond it. Each vᵀ∇s v is taken by default from a central difference of the score along v
//! (two forward passes: on a CPU a backward pass through the network costs several forwards), or
//! from a vector–Jacobian product ([`Derivative::Autodiff`]). The score is read in data coordinates, so
//! the result does not depend on how the model standardised the data.
//!
//! FLIPD is a soft count: for data with local variance λᵢ along direction i it reads
//! Σ λᵢ/(λᵢ + σ²), so it counts a dimension only where σ separates the variances (tangent λ ≫ σ²,
//! normal λ ≪ σ²). Each point is therefore read one octave up as well, at 2σ with the same probes
//! (`lid_at_2sigma` in its detail), and [`reliability::assess`](super::reliability::assess) trusts
//! the estimate when at least half the points move by less than ½ over that octave: on images,
//! whose variances fall off without a gap, FLIPD runs steadily down with σ and is flagged.
//!
//! ```
//! use scoregeo::id::Flipd;
//! use scoregeo::score::analytic::SubspaceGaussian;
//! use scoregeo::Sde;
//!
//! let model = SubspaceGaussian::random(8, 3, Sde::vp_default(), 5).unwrap();
//! let data = model.sample(10, 1);
//! let est = Flipd::params().check().unwrap().fit(&model, &data).unwrap();
//! assert!((est.global_id() - 3.0).abs() < 0.05);
//! ```

use super::common::{check_inputs, kernel_means, score_estimator_setters, ScoreEstimatorCommon};
use super::{
    require_model, FlipdTrace, IdEstimate, IdEstimator, LocalEstimate, Method, MethodSettings,
    PointDetail,
};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::rng;
use crate::score::{NoiseLevel, ScoreModel};
use faer::Mat;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// Central-difference step as a fraction of σ(t₀): small against the scale σ on which the
/// score bends, large against the f32 rounding of a network's output.
const FD_STEP: f64 = 0.03;

/// Distribution of the Hutchinson probe vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Entries ±1 with equal probability (lowest variance for a fixed matrix).
    Rademacher,
    /// Standard normal entries.
    Gaussian,
}

/// How each Hutchinson term vᵀ∇s v is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Derivative {
    /// Jacobian–vector products ∇s·v by forward-mode tangents through the network, exact: one
    /// forward pass per point and one tangent pass per probe, the score's own pass shared (the
    /// fused MLPs, ≈ half the passes of the other two). Models without them (analytic oracles,
    /// Python callables) take the central difference instead, and the settings say so.
    Jvp,
    /// Central difference vᵀ[s(x + hv̂) − s(x − hv̂)]‖v‖/2h with h = 0.03·σ(t₀): two forward
    /// passes, error O((h/σ)²) relative (exact for affine scores).
    Difference,
    /// A vector–Jacobian product through the model (one forward and one backward pass).
    Autodiff,
}

/// Unchecked settings of FLIPD (a builder).
#[derive(Clone, Debug)]
pub struct FlipdParams {
    common: ScoreEstimatorCommon,
    exact_max_dim: usize,
    probes: usize,
    probe: Probe,
    derivative: Derivative,
    scale_check: bool,
}

impl Default for FlipdParams {
    fn default() -> Self {
        Self {
            common: ScoreEstimatorCommon::new("batch_points", 1024),
            exact_max_dim: 32,
            probes: 8,
            probe: Probe::Rademacher,
            derivative: Derivative::Jvp,
            scale_check: true,
        }
    }
}

impl FlipdParams {
    score_estimator_setters! {
        t0: "Time t₀ (default: the SDE's default t₀).",
        seed: "Seed of the point selection and the probes.",
        batch_points: "Points per batched evaluation (default 1024).",
    }

    crate::check::setters! {
        /// Largest D for which the trace is exact (default 32); Hutchinson above.
        exact_max_dim: usize,

        /// Hutchinson probes per point (default 8).
        probes: usize,

        /// Probe distribution (default Rademacher).
        probe: Probe,

        /// How vᵀ∇s v is computed (default forward-mode JVPs where the model has them, else a
        /// central difference of forward passes).
        derivative: Derivative,

        /// Whether each point is read at 2σ too, for the scale-stability diagnostic (default
        /// true; it doubles the passes). Off, the estimate carries no `reliability`.
        scale_check: bool,
    }
    /// Validates the settings once.
    pub fn check(self) -> Result<Flipd> {
        self.common.check(|| {
            if self.probes == 0 {
                return Err(Error::param("probes", "need at least one Hutchinson probe"));
            }
            Ok(())
        })?;
        Ok(Flipd { params: self })
    }
}

/// The checked FLIPD estimator.
#[derive(Clone, Debug)]
pub struct Flipd {
    params: FlipdParams,
}

impl Flipd {
    /// A builder with the defaults.
    pub fn params() -> FlipdParams {
        FlipdParams::default()
    }

    /// Whether the trace is exact for dimension `d`.
    pub fn exact_for(&self, d: usize) -> bool {
        d <= self.params.exact_max_dim
    }

    /// tr ∇s at each row of x, exactly or by Hutchinson (probe streams keyed by point index),
    /// with `derivative` the way each vᵀ∇s v is taken; and the scores at x when the JVPs
    /// brought them.
    fn traces(
        &self,
        model: &dyn ScoreModel,
        x: &Mat<f64>,
        rows: &[usize],
        t0: f64,
        derivative: Derivative,
    ) -> Result<(Vec<f64>, Option<Mat<f64>>)> {
        let p = &self.params;
        let d = x.ncols();
        if self.exact_for(d) {
            let jac = model.score_jacobians(x.as_ref(), t0)?;
            let traces = jac.iter().map(|j| (0..d).map(|a| j[(a, a)]).sum());
            return Ok((traces.collect(), None));
        }
        let (n, m) = (rows.len(), p.probes);
        // all probes in one batch (row q·n + r is probe q of point r): one large backward pass
        let mut v = Mat::zeros(m * n, d);
        for (r, &i) in rows.iter().enumerate() {
            let mut rng = rng::stream(p.common.seed ^ 0xf11d, i as u64);
            for q in 0..m {
                for j in 0..d {
                    v[(q * n + r, j)] = match p.probe {
                        Probe::Rademacher => {
                            if rng.random::<bool>() {
                                1.0
                            } else {
                                -1.0
                            }
                        }
                        Probe::Gaussian => StandardNormal.sample(&mut rng),
                    };
                }
            }
        }
        let mut acc = vec![0.0; n];
        let mut scores = None;
        match derivative {
            Derivative::Jvp => {
                let (s, jv) = model
                    .score_and_jvps(x.as_ref(), t0, v.as_ref())?
                    .ok_or_else(|| Error::Numerical("the model has no JVPs".into()))?;
                for row in 0..m * n {
                    acc[row % n] += (0..d).map(|j| jv[(row, j)] * v[(row, j)]).sum::<f64>();
                }
                scores = Some(s);
            }
            Derivative::Autodiff => {
                let xs = Mat::from_fn(m * n, d, |row, j| x[(row % n, j)]);
                let vj = model.score_vjp(xs.as_ref(), t0, v.as_ref())?;
                for row in 0..m * n {
                    acc[row % n] += (0..d).map(|j| vj[(row, j)] * v[(row, j)]).sum::<f64>();
                }
            }
            Derivative::Difference => {
                // step along the unit probe, a fixed fraction of the kernel width σ(t₀)
                let h = FD_STEP * model.kernel(t0).std;
                let norms: Vec<f64> = (0..m * n)
                    .map(|row| (0..d).map(|j| v[(row, j)].powi(2)).sum::<f64>().sqrt())
                    .collect();
                // rows 0..mn are x + hv̂, rows mn..2mn are x − hv̂: one batched forward pass
                let xs = Mat::from_fn(2 * m * n, d, |row, j| {
                    let (q, sign) = if row < m * n {
                        (row, 1.0)
                    } else {
                        (row - m * n, -1.0)
                    };
                    x[(q % n, j)] + sign * h * v[(q, j)] / norms[q]
                });
                let s = model.score(xs.as_ref(), t0)?;
                for row in 0..m * n {
                    let dv: f64 = (0..d)
                        .map(|j| (s[(row, j)] - s[(row + m * n, j)]) * v[(row, j)])
                        .sum();
                    acc[row % n] += dv * norms[row] / (2.0 * h);
                }
            }
        }
        let traces = acc.into_iter().map(|a| a / p.probes as f64).collect();
        Ok((traces, scores))
    }

    /// (LID, tr ∇s, ‖s‖²) at the kernel means α(t)xᵢ of the rows `chunk` of the data, at time t.
    fn lids(
        &self,
        model: &dyn ScoreModel,
        data: &Dataset,
        chunk: &[usize],
        t: f64,
        derivative: Derivative,
    ) -> Result<Vec<(f64, f64, f64)>> {
        let d = data.dim();
        let sigma2 = model.kernel(t).std.powi(2);
        let x = kernel_means(model, data, chunk, t);
        let (traces, s) = self.traces(model, &x, chunk, t, derivative)?;
        let s = match s {
            Some(s) => s,
            None => model.score(x.as_ref(), t)?,
        };
        Ok((0..chunk.len())
            .map(|r| {
                let norm2: f64 = (0..d).map(|j| s[(r, j)] * s[(r, j)]).sum();
                (d as f64 + sigma2 * (traces[r] + norm2), traces[r], norm2)
            })
            .collect())
    }

    /// Local LIDs (real numbers) at the selected points; global = their mean.
    pub fn fit(&self, model: &dyn ScoreModel, data: &Dataset) -> Result<IdEstimate> {
        let p = &self.params;
        check_inputs(model, data)?;
        let d = data.dim();
        let t0 = p.common.t0_for(model);
        let sigma2 = model.kernel(t0).std.powi(2);
        // forward-mode JVPs when the model has them (it answers zero rows as it answers any)
        let derivative = match p.derivative {
            Derivative::Jvp => {
                let (none, no_dirs) = (Mat::<f64>::zeros(0, d), Mat::<f64>::zeros(0, d));
                match model.score_and_jvps(none.as_ref(), t0, no_dirs.as_ref())? {
                    Some(_) => Derivative::Jvp,
                    None => Derivative::Difference,
                }
            }
            other => other,
        };
        // one octave of noise up, where the SDE reaches it: the scale-stability check
        let t_up = p
            .scale_check
            .then(|| NoiseLevel::Sigma(2.0 * sigma2.sqrt()).t0(model).ok())
            .flatten()
            .filter(|&t| t > t0 && t <= 1.0);
        let points = p.common.evaluate_points(data, "flipd", |chunk| {
            let at_t0 = self.lids(model, data, chunk, t0, derivative)?;
            let at_up = match t_up {
                Some(t) => Some(self.lids(model, data, chunk, t, derivative)?),
                None => None,
            };
            let mut local = Vec::with_capacity(chunk.len());
            for (r, &i) in chunk.iter().enumerate() {
                let (lid, trace, norm2) = at_t0[r];
                if !lid.is_finite() {
                    return Err(Error::Numerical(format!(
                        "non-finite FLIPD at point {i}; is t0 = {t0} too small?"
                    )));
                }
                local.push(LocalEstimate {
                    detail: Some(PointDetail::Flipd {
                        trace,
                        score_norm2: norm2,
                        lid_at_2sigma: at_up.as_ref().map(|u| u[r].0).filter(|l| l.is_finite()),
                    }),
                    ..LocalEstimate::new(i, lid)
                });
            }
            Ok(local)
        })?;
        let trace = if self.exact_for(d) {
            FlipdTrace::Exact
        } else {
            FlipdTrace::Hutchinson {
                probes: p.probes,
                probe: p.probe,
                derivative,
            }
        };
        let options = MethodSettings::Flipd {
            trace,
            exact_max_dim: p.exact_max_dim,
        };
        let settings = p.common.settings(
            model,
            t0,
            sigma2.sqrt(),
            points.len(),
            "mean of local LIDs",
            options,
        );
        Ok(IdEstimate::mean_of(Method::Flipd, d, points, settings))
    }
}

impl IdEstimator for Flipd {
    fn method(&self) -> Method {
        Method::Flipd
    }

    fn fit(&self, data: &Dataset, model: Option<&dyn ScoreModel>) -> Result<IdEstimate> {
        Flipd::fit(self, require_model(Method::Flipd, model)?, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::reliability;
    use crate::score::analytic::SubspaceGaussian;
    use crate::Sde;

    /// A Gaussian on a 3-plane of ℝ⁹ with normal variance λ (tangent variance 1).
    fn plane(normal_var: f64) -> SubspaceGaussian {
        let basis = Mat::from_fn(9, 3, |i, j| if i == j { 1.0 } else { 0.0 });
        SubspaceGaussian::new(vec![0.0; 9], basis, 1.0, normal_var, Sde::vp_default()).unwrap()
    }

    #[test]
    fn stable_on_a_thin_plane_and_flagged_where_the_normal_variance_is_sigma_squared() {
        let thin = plane(1e-10);
        let data = thin.sample(40, 2);
        let est = Flipd::params().check().unwrap().fit(&thin, &data).unwrap();
        assert!((est.global_id() - 3.0).abs() < 0.05, "{}", est.global_id());
        let r = reliability::assess(&est).expect("FLIPD reads 2σ too");
        assert!(r.trusted && r.clear_fraction == 1.0, "{r:?}");

        // normal variance λ = σ(t₀)², read at data points: each of the 6 normals adds
        // 1 − σ²/(λ + σ²) + λσ²/(λ + σ²)² (the trace and ‖s‖² terms) = ¾ at σ and 0.36 at 2σ,
        // so the reading falls from ≈ 3 + 4.5 to ≈ 3 + 2.2 over the octave
        let t0 = Sde::vp_default().default_t0();
        let sigma2 = thin.kernel(t0).std.powi(2);
        let thick = plane(sigma2);
        let data = thick.sample(40, 2);
        let est = Flipd::params().check().unwrap().fit(&thick, &data).unwrap();
        assert!((est.global_id() - 7.5).abs() < 0.6, "{}", est.global_id());
        let r = reliability::assess(&est).unwrap();
        assert!(!r.trusted, "{r:?}");
        for (p, m) in est.points().iter().zip(&r.margins) {
            let Some(PointDetail::Flipd {
                lid_at_2sigma: Some(up),
                ..
            }) = p.detail
            else {
                panic!("no reading at 2σ: {p:?}");
            };
            // the margin is log₂(½ / |LID(2σ) − LID(σ)|)
            assert!((m - (0.5 / (up - p.local_id).abs()).log2()).abs() < 1e-9);
        }
        let moved: f64 = est
            .points()
            .iter()
            .map(|p| match p.detail {
                Some(PointDetail::Flipd {
                    lid_at_2sigma: Some(up),
                    ..
                }) => p.local_id - up,
                _ => f64::NAN,
            })
            .sum::<f64>()
            / est.points().len() as f64;
        assert!(
            (moved - 2.3).abs() < 0.6,
            "mean fall over the octave {moved}"
        );
    }

    #[test]
    fn without_the_scale_check_the_same_reading_and_no_diagnostic() {
        let thin = plane(1e-4);
        let data = thin.sample(20, 3);
        let checked = Flipd::params().check().unwrap().fit(&thin, &data).unwrap();
        let single = Flipd::params()
            .scale_check(false)
            .check()
            .unwrap()
            .fit(&thin, &data)
            .unwrap();
        for (a, b) in checked.points().iter().zip(single.points()) {
            assert_eq!(a.local_id, b.local_id);
            assert!(matches!(
                b.detail,
                Some(PointDetail::Flipd {
                    lid_at_2sigma: None,
                    ..
                })
            ));
        }
        assert!(reliability::assess(&checked).is_some());
        assert!(reliability::assess(&single).is_none());
    }
}
