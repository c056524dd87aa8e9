//! TwoNN estimator of Facco, d'Errico, Rodriguez & Laio (Sci. Rep. 7, 12140, 2017).
//!
//! For each point, μ = r₂/r₁ (second over first neighbour distance). For locally uniform data of
//! dimension d, μ follows a Pareto law, F(μ) = 1 − μ⁻ᵈ, so d can be read off two ways:
//! - maximum likelihood, d̂ = (N − 1)/Σᵢ log μᵢ (the unbiased form of N/Σ log μ);
//! - the paper's linear fit through the origin of −log(1 − F_emp(μ)) against log μ, with
//!   F_emp(μ₍ᵢ₎) = i/N on the sorted μ, discarding the largest fraction of μ (default 10%; the
//!   point with F_emp = 1 is always dropped since −log 0 is infinite).
//!
//! Both are reported in the settings (`ml_id`, `linear_fit_id`); [`TwoNnForm`] picks the global
//! estimate, maximum likelihood by default (it is the efficient estimator and has no tuning).
//!
//! Local values: the ML form over the point's neighbourhood, the point itself and its
//! `neighbourhood` nearest neighbours (default 20), d̂(x) = (m − 1)/Σⱼ log μⱼ with m = 21 and μⱼ
//! from the whole dataset. Its relative standard error is about 1/√m (≈ 22% at the default), so
//! local values are noisy by construction; the global estimate uses every point. A neighbourhood
//! whose points all have r₂ = r₁ gets an infinite local value, reported as such, never capped.

use super::{local, Distinct};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::id::{IdEstimate, Method, MethodSettings};
use rayon::prelude::*;

/// Which TwoNN form gives the global estimate (both are always reported in the settings).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TwoNnForm {
    /// (N − 1)/Σ log μ.
    #[default]
    MaxLikelihood,
    /// Least-squares slope through the origin of −log(1 − F_emp) against log μ.
    LinearFit,
}

impl TwoNnForm {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            TwoNnForm::MaxLikelihood => "ml",
            TwoNnForm::LinearFit => "linear_fit",
        }
    }
}

/// Serialised as its name (`ml`, `linear_fit`).
impl serde::Serialize for TwoNnForm {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Unchecked settings of the [`TwoNn`] estimator (a builder).
#[derive(Clone, Debug, PartialEq)]
pub struct TwoNnParams {
    form: TwoNnForm,
    discard_fraction: f64,
    neighbourhood: usize,
}

impl Default for TwoNnParams {
    fn default() -> Self {
        Self {
            form: TwoNnForm::MaxLikelihood,
            discard_fraction: 0.1,
            neighbourhood: 20,
        }
    }
}

impl TwoNnParams {
    /// The form that gives the global estimate (default maximum likelihood).
    pub fn form(mut self, form: TwoNnForm) -> Self {
        self.form = form;
        self
    }

    /// Fraction of the largest μ the linear fit discards (default 0.1, in [0, 1)).
    pub fn discard_fraction(mut self, fraction: f64) -> Self {
        self.discard_fraction = fraction;
        self
    }

    /// Neighbours around each point for its local value (default 20, at least 2).
    pub fn neighbourhood(mut self, k: usize) -> Self {
        self.neighbourhood = k;
        self
    }

    /// Validates the settings.
    pub fn check(self) -> Result<TwoNn> {
        if !(0.0..1.0).contains(&self.discard_fraction) {
            return Err(Error::param(
                "discard_fraction",
                format!("must lie in [0, 1), got {}", self.discard_fraction),
            ));
        }
        if self.neighbourhood < 2 {
            return Err(Error::param(
                "neighbourhood",
                format!("must be at least 2, got {}", self.neighbourhood),
            ));
        }
        Ok(TwoNn { params: self })
    }
}

/// The TwoNN estimator with checked settings.
#[derive(Clone, Debug, PartialEq)]
pub struct TwoNn {
    params: TwoNnParams,
}

impl TwoNn {
    /// Default settings, to adjust and [`TwoNnParams::check`].
    pub fn params() -> TwoNnParams {
        TwoNnParams::default()
    }

    /// The form that gives the global estimate.
    pub fn form(&self) -> TwoNnForm {
        self.params.form
    }

    /// Fraction of the largest μ the linear fit discards.
    pub fn discard_fraction(&self) -> f64 {
        self.params.discard_fraction
    }

    /// Neighbours around each point for its local value.
    pub fn neighbourhood(&self) -> usize {
        self.params.neighbourhood
    }

    /// Estimates the intrinsic dimension of `data` (method `"twonn"`).
    pub fn fit(&self, data: &Dataset) -> Result<IdEstimate> {
        let distinct = Distinct::new(data);
        let k = self.params.neighbourhood;
        let nn = distinct.neighbours(k, "neighbourhood")?;
        let log_mu: Vec<f64> = (0..distinct.len())
            .map(|p| (nn.distances(p)[1] / nn.distances(p)[0]).ln())
            .collect();
        let ml = max_likelihood(&log_mu);
        let fit = linear_fit(&log_mu, self.params.discard_fraction);
        let global_id = match self.params.form {
            TwoNnForm::MaxLikelihood => ml,
            TwoNnForm::LinearFit => fit,
        }
        .ok_or_else(|| {
            Error::InvalidData(format!(
                "r₂ = r₁ for every point the {} form uses (lattice-like data); TwoNN is undefined",
                self.params.form.name()
            ))
        })?;
        let per_point: Vec<_> = (0..distinct.len())
            .into_par_iter()
            .map(|p| {
                let sum: f64 = log_mu[p] + nn.indices(p).iter().map(|&j| log_mu[j]).sum::<f64>();
                local(k as f64 / sum)
            })
            .collect();
        let settings = distinct.settings(MethodSettings::TwoNn {
            form: self.params.form,
            discard_fraction: self.params.discard_fraction,
            neighbourhood: k,
            ml_id: ml,
            linear_fit_id: fit,
        });
        Ok(IdEstimate::new(
            Method::TwoNn,
            data.dim(),
            global_id,
            distinct.broadcast(per_point),
            settings,
        ))
    }
}

/// (N − 1)/Σ log μ, or `None` when every μ is 1.
fn max_likelihood(log_mu: &[f64]) -> Option<f64> {
    let sum: f64 = log_mu.iter().sum();
    (sum > 0.0).then(|| (log_mu.len() - 1) as f64 / sum)
}

/// Slope through the origin of −log(1 − i/N) against the i-th smallest log μ, over the smallest
/// ⌊(1 − f)N⌋ (at most N − 1) values; `None` when they are all 0.
fn linear_fit(log_mu: &[f64], discard_fraction: f64) -> Option<f64> {
    let n = log_mu.len();
    let mut sorted = log_mu.to_vec();
    sorted.sort_by(f64::total_cmp);
    let kept = (((1.0 - discard_fraction) * n as f64).floor() as usize).min(n - 1);
    let (mut xy, mut xx) = (0.0, 0.0);
    for (i, &x) in sorted[..kept].iter().enumerate() {
        let y = -(1.0 - (i + 1) as f64 / n as f64).ln();
        xy += x * y;
        xx += x * x;
    }
    (xx > 0.0).then(|| xy / xx)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ML and linear-fit estimates and the form recorded in the settings.
    fn recorded(est: &IdEstimate) -> (f64, f64, TwoNnForm) {
        match est.settings().options {
            Some(MethodSettings::TwoNn {
                ml_id: Some(ml),
                linear_fit_id: Some(fit),
                form,
                ..
            }) => (ml, fit, form),
            ref other => panic!("not TwoNN settings: {other:?}"),
        }
    }

    fn three_points() -> Dataset {
        Dataset::from_rows(&[vec![0.0], vec![1.0], vec![3.0]]).unwrap()
    }

    #[test]
    fn check_rejects_discard_fraction_outside_unit_interval() {
        for bad in [-0.1, 1.0, f64::NAN] {
            let err = TwoNn::params().discard_fraction(bad).check().unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidParameter {
                        name: "discard_fraction",
                        ..
                    }
                ),
                "{err}"
            );
        }
        assert_eq!(
            TwoNn::params()
                .discard_fraction(0.0)
                .check()
                .unwrap()
                .discard_fraction(),
            0.0
        );
    }

    #[test]
    fn check_rejects_neighbourhood_below_two() {
        let err = TwoNn::params().neighbourhood(1).check().unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidParameter {
                    name: "neighbourhood",
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(TwoNn::params().check().unwrap().neighbourhood(), 20);
    }

    #[test]
    fn hand_checked_on_three_points() {
        // Points 0, 1, 3: μ = 3, 2, 1.5, so ML = 2/(log 3 + log 2 + log 1.5) = 2/log 9. The fit
        // keeps ⌊0.9·3⌋ = 2 values: x = (log 1.5, log 2), y = −log(1 − i/3) = (log 1.5, log 3).
        let est = TwoNn::params()
            .neighbourhood(2)
            .check()
            .unwrap()
            .fit(&three_points())
            .unwrap();
        let ml = 2.0 / 9f64.ln();
        let (l15, l2, l3) = (1.5f64.ln(), 2f64.ln(), 3f64.ln());
        let fit = (l15 * l15 + l2 * l3) / (l15 * l15 + l2 * l2);
        assert!((est.global_id() - ml).abs() < 1e-12);
        let (ml_id, fit_id, form) = recorded(&est);
        assert!((ml_id - ml).abs() < 1e-12);
        assert!((fit_id - fit).abs() < 1e-12);
        // Every neighbourhood is the whole dataset, so every local value is the ML value.
        assert!(est.local_ids().iter().all(|l| (l - ml).abs() < 1e-12));
        assert_eq!(est.method(), Method::TwoNn);
        assert_eq!(form, TwoNnForm::MaxLikelihood);
        assert_eq!(serde_json::to_value(est.settings()).unwrap()["form"], "ml");
    }

    #[test]
    fn linear_fit_form_gives_the_global_estimate_when_chosen() {
        let twonn = TwoNn::params().neighbourhood(2).form(TwoNnForm::LinearFit);
        let est = twonn.check().unwrap().fit(&three_points()).unwrap();
        let (_, fit, form) = recorded(&est);
        assert_eq!(est.global_id(), fit);
        assert_eq!(form, TwoNnForm::LinearFit);
        assert_eq!(
            serde_json::to_value(est.settings()).unwrap()["form"],
            "linear_fit"
        );
    }

    #[test]
    fn lattice_is_an_error_not_infinity() {
        // r₂ = r₁ = √2 for every point
        let data = super::super::square_corners();
        let err = TwoNn::params()
            .neighbourhood(2)
            .check()
            .unwrap()
            .fit(&data)
            .unwrap_err();
        assert!(matches!(err, Error::InvalidData(_)), "{err}");
    }

    #[test]
    fn linear_fit_never_uses_the_point_with_f_equal_to_one() {
        // With no discarding, the largest μ (F_emp = 1) is still left out.
        let log_mu = [1.0, 2.0];
        let want = -(0.5f64).ln() / 1.0;
        assert!((linear_fit(&log_mu, 0.0).unwrap() - want).abs() < 1e-15);
    }
}
