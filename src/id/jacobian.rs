//! The score-Jacobian spectrum: the normal-bundle estimator without sampling.
//!
//! At small t₀ the score near the manifold is ≈ −P_N(x − π(x))/σ², so its Jacobian
//! ∇ₓs(α x₀, t₀) ≈ −P_N/σ² has n̂ singular values ≈ 1/σ² and D − n̂ small ones. The same read-off
//! rules apply (reference scale r = 1/σ²), with D derivative passes per point instead of 4·D
//! sampled scores, and no sampling noise.
//!
//! ```
//! use scoregeo::id::JacobianSpectrum;
//! use scoregeo::score::analytic::SubspaceGaussian;
//! use scoregeo::Sde;
//!
//! let model = SubspaceGaussian::random(6, 4, Sde::ve(5.0), 1).unwrap();
//! let data = model.sample(10, 2);
//! let est = JacobianSpectrum::params().check().unwrap().fit(&model, &data).unwrap();
//! assert_eq!(est.global_id(), 4.0);
//! ```

use super::common::{
    check_inputs, check_normal_floor, kernel_means, readoff_setters, score_estimator_setters,
    ScoreEstimatorCommon,
};
use super::readoff::{read_off, Rule};
use super::{require_model, IdEstimate, IdEstimator, LocalEstimate, Method, MethodSettings};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::linalg::singular_values;
use crate::score::ScoreModel;
use rayon::prelude::*;

/// Unchecked settings of the Jacobian-spectrum estimator (a builder).
#[derive(Clone, Debug)]
pub struct JacobianSpectrumParams {
    common: ScoreEstimatorCommon,
    rule: Rule,
    normal_floor: f64,
}

impl Default for JacobianSpectrumParams {
    fn default() -> Self {
        Self {
            common: ScoreEstimatorCommon::new("batch_points", 256),
            rule: Rule::MaxGap,
            normal_floor: 0.1,
        }
    }
}

impl JacobianSpectrumParams {
    score_estimator_setters! {
        t0: "Time t₀ (default: the SDE's default t₀).",
        seed: "Seed of the point selection.",
        batch_points: "Points per batched Jacobian evaluation (default 256).",
    }

    readoff_setters! {
        normal_floor: "Normal floor ν relative to 1/σ(t₀)² (default 0.1).",
    }

    /// Validates the settings once.
    pub fn check(self) -> Result<JacobianSpectrum> {
        self.common
            .check(|| check_normal_floor(self.normal_floor))?;
        self.rule.check()?;
        Ok(JacobianSpectrum { params: self })
    }
}

/// The checked score-Jacobian spectrum estimator.
#[derive(Clone, Debug)]
pub struct JacobianSpectrum {
    params: JacobianSpectrumParams,
}

impl JacobianSpectrum {
    /// A builder with the defaults.
    pub fn params() -> JacobianSpectrumParams {
        JacobianSpectrumParams::default()
    }

    /// Local IDs from the singular values of ∇ₓs(α x₀, t₀); global = median of local IDs.
    pub fn fit(&self, model: &dyn ScoreModel, data: &Dataset) -> Result<IdEstimate> {
        let p = &self.params;
        check_inputs(model, data)?;
        let t0 = p.common.t0_for(model);
        let std = model.kernel(t0).std;
        let reference = 1.0 / (std * std);
        let points = p.common.evaluate_points(data, "jacobian", |chunk| {
            let x = kernel_means(model, data, chunk, t0);
            let jacobians = model.score_jacobians(x.as_ref(), t0)?;
            let local: Vec<Result<LocalEstimate>> = chunk
                .par_iter()
                .zip(jacobians.par_iter())
                .map(|(&i, jac)| {
                    if (0..jac.nrows()).any(|a| (0..jac.ncols()).any(|b| !jac[(a, b)].is_finite()))
                    {
                        return Err(Error::Numerical(format!(
                            "non-finite score Jacobian at point {i}"
                        )));
                    }
                    let spectrum = singular_values(jac.as_ref())?;
                    let cut = read_off(&spectrum, p.rule, Some(reference), p.normal_floor)?;
                    Ok(LocalEstimate {
                        index: i,
                        local_id: cut.intrinsic_dim as f64,
                        spectrum: Some(spectrum),
                        readoff: Some(cut),
                        detail: None,
                    })
                })
                .collect();
            // the first failing point in order, whatever the threads did
            local.into_iter().collect()
        })?;
        let options = MethodSettings::Jacobian {
            rule: p.rule,
            normal_floor: p.normal_floor,
        };
        let settings =
            p.common
                .settings(model, t0, std, points.len(), "median of local IDs", options);
        Ok(IdEstimate::median_of(
            Method::Jacobian,
            data.dim(),
            points,
            settings,
        ))
    }
}

impl IdEstimator for JacobianSpectrum {
    fn method(&self) -> Method {
        Method::Jacobian
    }

    fn fit(&self, data: &Dataset, model: Option<&dyn ScoreModel>) -> Result<IdEstimate> {
        JacobianSpectrum::fit(self, require_model(Method::Jacobian, model)?, data)
    }
}
