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

use super::readoff::{read_off, Rule};
use super::spectrum::singular_values;
use super::{check_inputs, check_t0, kernel_means, IdEstimate, LocalEstimate, PointSelection};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::score::ScoreModel;
use rayon::prelude::*;
use serde_json::json;
use std::collections::BTreeMap;

/// Unchecked settings of the Jacobian-spectrum estimator (a builder).
#[derive(Clone, Debug)]
pub struct JacobianSpectrumParams {
    t0: Option<f64>,
    rule: Rule,
    normal_floor: f64,
    points: PointSelection,
    seed: u64,
    batch_points: usize,
}

impl Default for JacobianSpectrumParams {
    fn default() -> Self {
        Self {
            t0: None,
            rule: Rule::MaxGap,
            normal_floor: 0.1,
            points: PointSelection::All,
            seed: 0,
            batch_points: 256,
        }
    }
}

impl JacobianSpectrumParams {
    /// Time t₀ (default: the SDE's default t₀).
    pub fn t0(mut self, t0: f64) -> Self {
        self.t0 = Some(t0);
        self
    }
    /// Read-off rule (default max-gap).
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rule = rule;
        self
    }
    /// Normal floor ν relative to 1/σ(t₀)² (default 0.1).
    pub fn normal_floor(mut self, nu: f64) -> Self {
        self.normal_floor = nu;
        self
    }
    /// Which points to evaluate (default all).
    pub fn points(mut self, points: PointSelection) -> Self {
        self.points = points;
        self
    }
    /// Seed of the point selection.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Points per batched Jacobian evaluation (default 256).
    pub fn batch_points(mut self, n: usize) -> Self {
        self.batch_points = n;
        self
    }
    /// Validates the settings once.
    pub fn check(self) -> Result<JacobianSpectrum> {
        check_t0(self.t0)?;
        if !(self.normal_floor >= 0.0 && self.normal_floor < 1.0) {
            return Err(Error::param(
                "normal_floor",
                format!("must lie in [0, 1), got {}", self.normal_floor),
            ));
        }
        if self.points == PointSelection::Count(0) {
            return Err(Error::param("points", "need at least one point"));
        }
        if self.batch_points == 0 {
            return Err(Error::param("batch_points", "must be positive"));
        }
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

    /// Local IDs from the singular values of ∇ₓs(α x₀, t₀); global = mean of local IDs.
    pub fn fit(&self, model: &dyn ScoreModel, data: &Dataset) -> Result<IdEstimate> {
        let p = &self.params;
        check_inputs(model, data)?;
        let t0 = p.t0.unwrap_or_else(|| model.sde().default_t0());
        let std = model.kernel(t0).std;
        let reference = 1.0 / (std * std);
        let indices = p.points.indices(data.len(), p.seed);
        let bar = crate::progress::bar(indices.len() as u64, "jacobian");
        let mut points = Vec::with_capacity(indices.len());
        for chunk in indices.chunks(p.batch_points) {
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
                        readoff: Some(serde_json::to_value(&cut).expect("serialisable")),
                    })
                })
                .collect();
            for l in local {
                points.push(l?);
            }
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        let ids: Vec<f64> = points.iter().map(|l| l.local_id).collect();
        let settings = BTreeMap::from([
            ("t0".to_string(), json!(t0)),
            ("sigma_t0".to_string(), json!(std)),
            ("rule".to_string(), json!(p.rule.to_string())),
            ("normal_floor".to_string(), json!(p.normal_floor)),
            ("seed".to_string(), json!(p.seed)),
            ("points_evaluated".to_string(), json!(points.len())),
            ("sde".to_string(), json!(model.sde().name())),
            ("model".to_string(), json!(model.describe())),
            ("global".to_string(), json!("mean of local IDs")),
        ]);
        Ok(IdEstimate::new(
            "jacobian",
            data.dim(),
            super::mean(&ids),
            points,
            settings,
        ))
    }
}
