//! The result of every estimator: an [`IdEstimate`] with typed per-point records
//! ([`LocalEstimate`], its [`ReadOff`] or other [`PointDetail`]) and typed [`Settings`].
//!
//! Everything serialises to the JSON that `scoregeo id-estimate --format json` prints. Spectral
//! estimates keep their spectra (unless told not to), so another read-off rule is a re-cut of the
//! same numbers, without the model:
//!
//! ```
//! use scoregeo::id::{Method, NormalBundle, Rule};
//! use scoregeo::score::analytic::SubspaceGaussian;
//! use scoregeo::Sde;
//!
//! let model = SubspaceGaussian::random(8, 3, Sde::ve(5.0), 2).unwrap();
//! let data = model.sample(10, 1);
//! let maxgap = NormalBundle::params().check().unwrap().fit(&model, &data).unwrap();
//! let ratio = maxgap.reread(Rule::Ratio).unwrap();
//! assert_eq!(ratio.settings().rule(), Some(Rule::Ratio));
//! assert_eq!((ratio.method(), ratio.global_id()), (Method::Nb, 3.0));
//! let cut = ratio.points()[0].readoff.as_ref().unwrap();
//! assert_eq!((cut.rule, cut.normal_dim), (Rule::Ratio, 5));
//! // the reference r = √(K − 1)/σ of the K centred samples this point used: the first round's
//! // K₀ = 16 of the default 64, since its cut was decided there (adaptive sampling)
//! assert_eq!(cut.samples, Some(16));
//! assert_eq!(cut.ceiling, Some(15f64.sqrt() / maxgap.settings().sigma_t0.unwrap()));
//! ```

use super::classic::TwoNnForm;
use super::flipd::{Derivative, Probe};
use super::readoff::{read_off, ReadOff, Rule};
use super::sweep::Plateau;
use super::{mean, median, Method};
use crate::error::{Error, Result};
use crate::sde::SdeKind;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// One point's local estimate.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalEstimate {
    /// Row index of the point in the dataset.
    pub index: usize,
    /// The local intrinsic dimension (an integer for spectral methods, real for others).
    pub local_id: f64,
    /// Singular values (or another spectrum), descending, when the method has one.
    pub spectrum: Option<Vec<f64>>,
    /// Where the spectrum was cut (`nb`, `jacobian`).
    pub readoff: Option<ReadOff>,
    /// What other methods record per point (`flipd`, `lpca`).
    pub detail: Option<PointDetail>,
}

impl LocalEstimate {
    /// A local estimate with nothing but its value.
    pub fn new(index: usize, local_id: f64) -> Self {
        Self {
            index,
            local_id,
            spectrum: None,
            readoff: None,
            detail: None,
        }
    }
}

/// Serialised as `{index, local_id, spectrum?, readoff?}`, the read-off or the detail under
/// `readoff`.
impl Serialize for LocalEstimate {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("index", &self.index)?;
        m.serialize_entry("local_id", &self.local_id)?;
        if let Some(spectrum) = &self.spectrum {
            m.serialize_entry("spectrum", spectrum)?;
        }
        match (&self.readoff, &self.detail) {
            (Some(cut), _) => m.serialize_entry("readoff", cut)?,
            (None, Some(detail)) => m.serialize_entry("readoff", detail)?,
            (None, None) => {}
        }
        m.end()
    }
}

/// Per-point quantities of the methods that do not cut a spectrum with a [`Rule`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PointDetail {
    /// FLIPD's terms: LID = D + σ²(`trace` + `score_norm2`).
    Flipd {
        /// tr ∇s (exact or Hutchinson).
        trace: f64,
        /// ‖s‖².
        score_norm2: f64,
        /// The same point's LID one octave of noise up, at 2σ (same probes): how far the
        /// reading depends on the scale (`None` when 2σ is beyond the SDE's range).
        lid_at_2sigma: Option<f64>,
    },
    /// Local PCA's count: eigenvalues above `threshold` = α·λ₁ (Fukunaga–Olsen).
    LocalPca {
        /// α·λ₁.
        threshold: f64,
    },
}

impl Serialize for PointDetail {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        match *self {
            PointDetail::Flipd {
                trace,
                score_norm2,
                lid_at_2sigma,
            } => {
                m.serialize_entry("trace", &trace)?;
                m.serialize_entry("score_norm2", &score_norm2)?;
                if let Some(l) = lid_at_2sigma {
                    m.serialize_entry("lid_at_2sigma", &l)?;
                }
            }
            PointDetail::LocalPca { threshold } => {
                m.serialize_entry("rule", "fukunaga_olsen")?;
                m.serialize_entry("threshold", &threshold)?;
            }
        }
        m.end()
    }
}

/// How FLIPD took the trace tr ∇s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlipdTrace {
    /// Exactly, from D derivative passes.
    Exact,
    /// By Hutchinson's estimator.
    Hutchinson {
        /// Probes per point.
        probes: usize,
        /// Their distribution.
        probe: Probe,
        /// How each vᵀ∇s v was taken.
        derivative: Derivative,
    },
}

impl fmt::Display for FlipdTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlipdTrace::Exact => f.write_str("exact"),
            FlipdTrace::Hutchinson {
                probes,
                probe,
                derivative,
            } => write!(
                f,
                "{}",
                format!("hutchinson, {probes} {probe:?} probes, {derivative:?}").to_lowercase()
            ),
        }
    }
}

/// Serialised as its text (`exact`, `hutchinson, 8 rademacher probes, difference`).
impl Serialize for FlipdTrace {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The settings only one method has.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MethodSettings {
    /// The normal bundle.
    Nb {
        /// Samples K per point: the cap when sampling is adaptive.
        samples: usize,
        /// Whether each point stopped drawing samples once its cut was decided (see
        /// [`NormalBundleParams::adaptive`](super::NormalBundleParams::adaptive)).
        adaptive: bool,
        /// The mean number of samples the points used (K itself when not adaptive).
        mean_samples: f64,
        /// The read-off rule.
        rule: Rule,
        /// The normal floor ν.
        normal_floor: f64,
        /// Whether the scores were centred over the samples (see [`NormalBundleParams::centred`](super::NormalBundleParams::centred)).
        centred: bool,
    },
    /// The score-Jacobian spectrum.
    Jacobian {
        /// The read-off rule.
        rule: Rule,
        /// The normal floor ν.
        normal_floor: f64,
    },
    /// FLIPD.
    Flipd {
        /// How the trace was taken.
        trace: FlipdTrace,
        /// The largest D with an exact trace.
        exact_max_dim: usize,
    },
    /// Levina–Bickel MLE.
    Mle {
        /// Neighbours k.
        k: usize,
    },
    /// TwoNN.
    TwoNn {
        /// The form that gives the global estimate.
        form: TwoNnForm,
        /// Fraction of the largest μ the linear fit discards.
        discard_fraction: f64,
        /// Neighbours around each point for its local value.
        neighbourhood: usize,
        /// The maximum-likelihood estimate (None when undefined).
        ml_id: Option<f64>,
        /// The linear-fit estimate (None when undefined).
        linear_fit_id: Option<f64>,
    },
    /// Local PCA.
    Lpca {
        /// Neighbours k.
        k: usize,
        /// The eigenvalue threshold α.
        alpha: f64,
        /// The median of the local counts.
        median_id: f64,
    },
}

/// Every setting an estimate was made with; absent fields do not apply to its method.
///
/// Serialises to the `settings` object of `id-estimate --format json` (absent fields left out).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Settings {
    /// Diffusion time t₀ (score-based methods).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t0: Option<f64>,
    /// σ(t₀) of the model's kernel in data units (score-based methods).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigma_t0: Option<f64>,
    /// Seed of the point selection and the estimator's draws (score-based methods).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Number of points evaluated (score-based methods).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points_evaluated: Option<usize>,
    /// The model's SDE family (score-based methods).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sde: Option<SdeKind>,
    /// The model, described in one line (score-based methods).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// How the global ID summarises the local ones, when the method says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global: Option<String>,
    /// Distinct points the classic estimators ran on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distinct_points: Option<usize>,
    /// Rows that repeat an earlier row exactly (classic estimators).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_rows: Option<usize>,
    /// The method's own settings.
    #[serde(flatten)]
    pub options: Option<MethodSettings>,
    /// The data file, when the caller records it ([`IdEstimate::set_data`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The plateau of a t₀ sweep this estimate was chosen at ([`Sweep::at_plateau`](super::Sweep::at_plateau)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plateau: Option<Plateau>,
}

impl Settings {
    /// The read-off rule of a spectral estimate.
    pub fn rule(&self) -> Option<Rule> {
        match self.options {
            Some(MethodSettings::Nb { rule, .. } | MethodSettings::Jacobian { rule, .. }) => {
                Some(rule)
            }
            _ => None,
        }
    }

    /// The normal floor ν of a spectral estimate.
    pub fn normal_floor(&self) -> Option<f64> {
        match self.options {
            Some(
                MethodSettings::Nb { normal_floor, .. }
                | MethodSettings::Jacobian { normal_floor, .. },
            ) => Some(normal_floor),
            _ => None,
        }
    }

    /// The samples K per point of a normal-bundle estimate.
    pub fn samples(&self) -> Option<usize> {
        match self.options {
            Some(MethodSettings::Nb { samples, .. }) => Some(samples),
            _ => None,
        }
    }

    /// The neighbours k of a classic estimate (TwoNN: its neighbourhood).
    pub fn k(&self) -> Option<usize> {
        match self.options {
            Some(MethodSettings::Mle { k } | MethodSettings::Lpca { k, .. }) => Some(k),
            Some(MethodSettings::TwoNn { neighbourhood, .. }) => Some(neighbourhood),
            _ => None,
        }
    }

    /// Sets the rule of a spectral estimate (nothing for the others).
    fn set_rule(&mut self, new: Rule) {
        if let Some(MethodSettings::Nb { rule, .. } | MethodSettings::Jacobian { rule, .. }) =
            &mut self.options
        {
            *rule = new;
        }
    }
}

/// The result of an intrinsic-dimension estimator on a dataset.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IdEstimate {
    method: Method,
    ambient_dim: usize,
    global_id: f64,
    points: Vec<LocalEstimate>,
    settings: Settings,
}

impl IdEstimate {
    /// Assembles an estimate; `global_id` is the method's own global summary.
    pub fn new(
        method: Method,
        ambient_dim: usize,
        global_id: f64,
        points: Vec<LocalEstimate>,
        settings: Settings,
    ) -> Self {
        Self {
            method,
            ambient_dim,
            global_id,
            points,
            settings,
        }
    }

    /// An estimate whose global ID is the mean of the local ones.
    pub(crate) fn mean_of(
        method: Method,
        ambient_dim: usize,
        points: Vec<LocalEstimate>,
        settings: Settings,
    ) -> Self {
        Self::summarised(mean, method, ambient_dim, points, settings)
    }

    /// An estimate whose global ID is the median of the local ones: the spectral estimators'
    /// summary, since their local IDs are whole cuts of a spectrum and the points a model fails
    /// at (sparse tails, boundaries) sit at one side without moving it.
    pub(crate) fn median_of(
        method: Method,
        ambient_dim: usize,
        points: Vec<LocalEstimate>,
        settings: Settings,
    ) -> Self {
        Self::summarised(median, method, ambient_dim, points, settings)
    }

    /// An estimate whose global ID is `summary` of the local ones.
    fn summarised(
        summary: fn(&[f64]) -> f64,
        method: Method,
        ambient_dim: usize,
        points: Vec<LocalEstimate>,
        settings: Settings,
    ) -> Self {
        let ids: Vec<f64> = points.iter().map(|l| l.local_id).collect();
        Self::new(method, ambient_dim, summary(&ids), points, settings)
    }

    /// The estimator's method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// Ambient dimension D.
    pub fn ambient_dim(&self) -> usize {
        self.ambient_dim
    }

    /// The global intrinsic dimension.
    pub fn global_id(&self) -> f64 {
        self.global_id
    }

    /// Local estimates, one per evaluated point.
    pub fn points(&self) -> &[LocalEstimate] {
        &self.points
    }

    /// Local intrinsic dimensions in point order.
    pub fn local_ids(&self) -> Vec<f64> {
        self.points.iter().map(|p| p.local_id).collect()
    }

    /// The spectrum of the i-th evaluated point, when the method has one.
    pub fn spectrum(&self, i: usize) -> Option<&[f64]> {
        self.points.get(i)?.spectrum.as_deref()
    }

    /// Settings the estimate was made with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Records the data file the estimate was made on (reported as `data`).
    pub fn set_data(&mut self, path: impl AsRef<std::path::Path>) {
        self.settings.data = Some(path.as_ref().display().to_string());
    }

    /// Records the plateau of the sweep this estimate was chosen at.
    pub(crate) fn set_plateau(&mut self, plateau: Plateau) {
        self.settings.plateau = Some(plateau);
    }

    /// Mean of the local IDs.
    pub fn mean_local_id(&self) -> f64 {
        mean(&self.local_ids())
    }

    /// Median of the local IDs.
    pub fn median_local_id(&self) -> f64 {
        median(&self.local_ids())
    }

    /// The same estimate summarised by the median of its local IDs instead of the method's own
    /// global ID; the settings' `global` says so.
    pub fn with_median_global(mut self) -> Self {
        self.global_id = self.median_local_id();
        self.settings.global = Some("median of local IDs".into());
        self
    }

    /// Counts of rounded local IDs, as (dimension, count), ascending.
    pub fn histogram(&self) -> Vec<(i64, usize)> {
        let mut counts = BTreeMap::new();
        for id in self.local_ids() {
            *counts.entry(id.round() as i64).or_insert(0) += 1;
        }
        counts.into_iter().collect()
    }

    /// The same spectra cut with another read-off `rule`, without the model: each point's kept
    /// spectrum, reference scale (its [`ReadOff::ceiling`]) and the estimate's normal floor ν
    /// give exactly what fitting with `rule` gives. The global ID is the median of the new local
    /// IDs, as the spectral estimators report it.
    ///
    /// Fails for methods without a read-off rule and for estimates whose spectra were not kept.
    pub fn reread(&self, rule: Rule) -> Result<IdEstimate> {
        rule.check()?;
        let nu = match (self.method.reads_spectrum(), self.settings.normal_floor()) {
            (true, Some(nu)) => nu,
            _ => {
                return Err(Error::InvalidData(format!(
                    "a `{}` estimate has no read-off rule to change",
                    self.method
                )))
            }
        };
        let points = self
            .points
            .iter()
            .map(|p| {
                let spectrum = p.spectrum.as_deref().ok_or_else(|| {
                    Error::InvalidData(format!(
                        "point {} kept no spectrum to re-read (fit with keep_spectra(true))",
                        p.index
                    ))
                })?;
                let reference = p.readoff.as_ref().and_then(|r| r.ceiling);
                let mut cut = read_off(spectrum, rule, reference, nu)?;
                // the mean pull is a direction outside the kept (centred) spectrum: it stays
                if p.readoff.as_ref().is_some_and(|r| r.mean_pull) {
                    cut = cut.with_mean_pull();
                }
                // the same samples behind the same spectrum
                cut.samples = p.readoff.as_ref().and_then(|r| r.samples);
                Ok(LocalEstimate {
                    local_id: cut.intrinsic_dim as f64,
                    readoff: Some(cut),
                    ..p.clone()
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut settings = self.settings.clone();
        settings.set_rule(rule);
        Ok(Self::median_of(
            self.method,
            self.ambient_dim,
            points,
            settings,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries() {
        let pts = [2.0, 2.0, 3.0]
            .iter()
            .enumerate()
            .map(|(i, &l)| LocalEstimate::new(i, l))
            .collect();
        let e = IdEstimate::new(Method::Mle, 5, 2.0, pts, Settings::default());
        assert_eq!(e.histogram(), vec![(2, 2), (3, 1)]);
        assert!((e.mean_local_id() - 7.0 / 3.0).abs() < 1e-12);
    }

    /// The spectral estimators' global ID is the median: points a model fails at (here two of
    /// five read 1, as in the sparse tail of a heavy-tailed density) do not pull it down.
    #[test]
    fn median_of_ignores_a_minority_of_failed_points() {
        let pts = [9.0, 1.0, 9.0, 9.0, 1.0]
            .iter()
            .enumerate()
            .map(|(i, &l)| LocalEstimate::new(i, l))
            .collect();
        let e = IdEstimate::median_of(Method::Nb, 30, pts, Settings::default());
        assert_eq!(e.global_id(), 9.0);
        assert!((e.mean_local_id() - 5.8).abs() < 1e-12);
    }

    #[test]
    fn serialises_details_under_readoff() {
        let mut p = LocalEstimate::new(4, 2.5);
        p.detail = Some(PointDetail::Flipd {
            trace: -3.0,
            score_norm2: 1.5,
            lid_at_2sigma: None,
        });
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"index": 4, "local_id": 2.5, "readoff": {"trace": -3.0, "score_norm2": 1.5}})
        );
        p.detail = Some(PointDetail::Flipd {
            trace: -3.0,
            score_norm2: 1.5,
            lid_at_2sigma: Some(2.25),
        });
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["readoff"]["lid_at_2sigma"], 2.25);
        p.detail = Some(PointDetail::LocalPca { threshold: 0.5 });
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["readoff"]["rule"], "fukunaga_olsen");
        let trace = FlipdTrace::Hutchinson {
            probes: 8,
            probe: Probe::Rademacher,
            derivative: Derivative::Difference,
        };
        assert_eq!(
            trace.to_string(),
            "hutchinson, 8 rademacher probes, difference"
        );
    }

    #[test]
    fn settings_serialise_flat() {
        let s = Settings {
            t0: Some(0.001),
            options: Some(MethodSettings::Nb {
                samples: 64,
                adaptive: false,
                mean_samples: 64.0,
                rule: Rule::Threshold(0.2),
                normal_floor: 0.1,
                centred: true,
            }),
            ..Settings::default()
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"t0": 0.001, "samples": 64, "adaptive": false, "mean_samples": 64.0, "rule": "threshold:0.2", "normal_floor": 0.1, "centred": true})
        );
        assert_eq!(
            (s.rule(), s.samples(), s.k()),
            (Some(Rule::Threshold(0.2)), Some(64), None)
        );
    }

    #[test]
    fn reread_needs_a_spectral_method_and_kept_spectra() {
        let e = IdEstimate::new(
            Method::Mle,
            2,
            1.0,
            vec![LocalEstimate::new(0, 1.0)],
            Settings::default(),
        );
        let err = e.reread(Rule::Ratio).unwrap_err().to_string();
        assert!(err.contains("`mle`"), "{err}");
        let nb = IdEstimate::new(
            Method::Nb,
            2,
            1.0,
            vec![LocalEstimate::new(7, 1.0)],
            Settings {
                options: Some(MethodSettings::Nb {
                    samples: 64,
                    adaptive: false,
                    mean_samples: 64.0,
                    rule: Rule::MaxGap,
                    normal_floor: 0.1,
                    centred: true,
                }),
                ..Settings::default()
            },
        );
        let err = nb.reread(Rule::Ratio).unwrap_err().to_string();
        assert!(err.contains("point 7 kept no spectrum"), "{err}");
        let err = nb.reread(Rule::Threshold(2.0)).unwrap_err();
        assert!(
            matches!(err, Error::InvalidParameter { name: "rule", .. }),
            "{err}"
        );
    }
}
