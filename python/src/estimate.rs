//! Intrinsic-dimension estimation: one native `estimate` call for every method and the
//! [`Estimate`] it returns (the library's `IdEstimate`).

use crate::convert::{dataset, rows_to_numpy, to_py, SetGiven};
use crate::model::{released, Model};
use numpy::{PyArray1, PyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use scoregeo::id::classic::{LocalPca, Mle, TwoNn, TwoNnForm};
use scoregeo::id::{
    Derivative, Estimator, Flipd, IdEstimate, JacobianSpectrum, Method, NormalBundle,
    NormalBundleParams, PointSelection, Probe, Rule, SharedScoreParams,
};
use scoregeo::score::analytic::GaussianMixture;
use scoregeo::score::NoiseLevel;

/// A fitted intrinsic-dimension estimate.
#[pyclass(module = "scoregeo", name = "Estimate", frozen)]
pub struct Estimate {
    pub(crate) inner: IdEstimate,
}

#[pymethods]
impl Estimate {
    /// The method's name: "nb", "jacobian", "flipd", "mle", "twonn" or "lpca".
    #[getter]
    fn method(&self) -> &'static str {
        self.inner.method().name()
    }

    /// The reliability diagnostic as a dict (`clear_fraction`, `median_margin`, `trusted`,
    /// `margins` per point): the normal bundle's cut margins or FLIPD's scale stability, None
    /// for other methods.
    #[getter]
    fn reliability<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Option<Bound<'py, pyo3::types::PyDict>>> {
        let Some(r) = scoregeo::id::reliability::assess(&self.inner) else {
            return Ok(None);
        };
        let d = pyo3::types::PyDict::new(py);
        d.set_item("clear_fraction", r.clear_fraction)?;
        d.set_item("median_margin", r.median_margin)?;
        d.set_item("trusted", r.trusted)?;
        d.set_item("margins", PyArray1::from_vec(py, r.margins))?;
        Ok(Some(d))
    }

    /// The global intrinsic dimension.
    #[getter]
    fn global_id(&self) -> f64 {
        self.inner.global_id()
    }

    /// The ambient dimension D.
    #[getter]
    fn ambient_dim(&self) -> usize {
        self.inner.ambient_dim()
    }

    /// The local IDs, one per evaluated point.
    #[getter]
    fn local_ids<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_vec(py, self.inner.local_ids())
    }

    /// The row indices of the evaluated points (ascending).
    #[getter]
    fn indices<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        PyArray1::from_vec(
            py,
            self.inner.points().iter().map(|p| p.index as i64).collect(),
        )
    }

    /// The spectra (points × D, descending singular values), when kept; else None.
    #[getter]
    fn spectra<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyArray2<f64>>>> {
        let rows: Option<Vec<&[f64]>> = self
            .inner
            .points()
            .iter()
            .map(|p| p.spectrum.as_deref())
            .collect();
        match rows {
            Some(rows) if !rows.is_empty() && rows.iter().all(|r| r.len() == rows[0].len()) => {
                Ok(Some(rows_to_numpy(py, &rows, rows[0].len())?))
            }
            _ => Ok(None),
        }
    }

    /// The normal dimension read off each spectrum (None for methods that cut none).
    #[getter]
    fn normal_dims<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyArray1<i64>>> {
        let dims: Option<Vec<i64>> = self
            .inner
            .points()
            .iter()
            .map(|p| p.readoff.as_ref().map(|r| r.normal_dim as i64))
            .collect();
        dims.map(|d| PyArray1::from_vec(py, d))
    }

    /// Mean of the local IDs.
    #[getter]
    fn mean_local_id(&self) -> f64 {
        self.inner.mean_local_id()
    }

    /// Median of the local IDs.
    #[getter]
    fn median_local_id(&self) -> f64 {
        self.inner.median_local_id()
    }

    /// Every setting, as the `settings` object of `scoregeo id-estimate --format json` (JSON).
    fn settings_json(&self) -> PyResult<String> {
        serde_json::to_string(self.inner.settings())
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// The same spectra cut with another rule ("maxgap", "ratio" or "threshold:τ"), without
    /// evaluating the model again.
    fn reread(&self, rule: &str) -> PyResult<Estimate> {
        let rule: Rule = rule.parse().map_err(to_py)?;
        Ok(Estimate {
            inner: self.inner.reread(rule).map_err(to_py)?,
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "<scoregeo.Estimate {}: global ID {:.3} over {} points in R^{}>",
            self.inner.method(),
            self.inner.global_id(),
            self.inner.points().len(),
            self.inner.ambient_dim()
        )
    }
}

fn enum_value<T>(name: &'static str, value: &str, options: &[(&str, T)]) -> PyResult<T>
where
    T: Copy,
{
    options
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(value))
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = options.iter().map(|(k, _)| *k).collect();
            PyValueError::new_err(format!(
                "`{name}` = {value:?}: expected one of {}",
                names.join(", ")
            ))
        })
}

/// Estimates the intrinsic dimension of `X` with `method` (score-based methods read `model`).
///
/// The settings are the library's and the CLI's: `points=None` is every row, else a seeded
/// subset of that many; `t0` and `sigma` (data units) are alternatives, neither the method's
/// default (for a mixture oracle: its default σ on `X`, as the CLI).
#[pyfunction]
#[pyo3(signature = (method, X, model = None, *, t0 = None, sigma = None, samples = None, adaptive = true,
                    rule = "maxgap", normal_floor = 0.1, points = None, seed = 0,
                    keep_spectra = true, batch = None, k = 20, exact_max_dim = 32, probes = 8,
                    probe = "rademacher", derivative = "jvp", scale_check = true, alpha = 0.05,
                    form = "ml", discard_fraction = 0.1))]
#[allow(non_snake_case, clippy::too_many_arguments)]
pub fn estimate(
    py: Python<'_>,
    method: &str,
    X: &Bound<'_, PyAny>,
    model: Option<PyRef<'_, Model>>,
    t0: Option<f64>,
    sigma: Option<f64>,
    samples: Option<usize>,
    adaptive: bool,
    rule: &str,
    normal_floor: f64,
    points: Option<usize>,
    seed: u64,
    keep_spectra: bool,
    batch: Option<usize>,
    k: usize,
    exact_max_dim: usize,
    probes: usize,
    probe: &str,
    derivative: &str,
    scale_check: bool,
    alpha: f64,
    form: &str,
    discard_fraction: f64,
) -> PyResult<Estimate> {
    let method: Method = method.parse().map_err(to_py)?;
    let data = dataset(X, "X")?;
    if t0.is_some() && sigma.is_some() {
        return Err(PyValueError::new_err(
            "give `t0` or `sigma` (data units), not both",
        ));
    }
    if points == Some(0) {
        return Err(PyValueError::new_err(
            "`points` must be a positive number of points, or None for every row",
        ));
    }
    let selection = points.map_or(PointSelection::All, PointSelection::Count);
    let rule: Rule = rule.parse().map_err(to_py)?;
    let probe = enum_value(
        "probe",
        probe,
        &[
            ("rademacher", Probe::Rademacher),
            ("gaussian", Probe::Gaussian),
        ],
    )?;
    let derivative = enum_value(
        "derivative",
        derivative,
        &[
            ("jvp", Derivative::Jvp),
            ("difference", Derivative::Difference),
            ("autodiff", Derivative::Autodiff),
        ],
    )?;
    let form = enum_value(
        "form",
        form,
        &[
            ("ml", TwoNnForm::MaxLikelihood),
            ("linear_fit", TwoNnForm::LinearFit),
        ],
    )?;
    let model_ref = model.as_deref();
    if method.needs_model() && model_ref.is_none() {
        return Err(PyValueError::new_err(format!(
            "the `{method}` estimator reads a score model: pass model= (load_model, \
             default_model, train, mixture_model or a callable with sde=)"
        )));
    }
    let score = model_ref.map(|m| m.inner.clone());
    let mixture = model_ref.and_then(|m| m.mixture);
    let fit = move || -> scoregeo::Result<IdEstimate> {
        let score = score.as_deref().filter(|_| method.needs_model());
        // the noise level the CLI resolves from --t0/--sigma (the mixture oracle: its default σ)
        let t0 = match (t0, sigma, mixture, score) {
            (Some(t), ..) => Some(t),
            (None, Some(s), _, Some(m)) => Some(NoiseLevel::Sigma(s).t0(m)?),
            (None, None, Some(h), Some(m)) => {
                let s = GaussianMixture::default_sigma(&data, h, seed)?;
                Some(NoiseLevel::Sigma(s).t0(m)?)
            }
            _ => None,
        };
        let shared = SharedScoreParams {
            t0,
            points: selection,
            seed,
            batch,
            progress: crate::progress(),
        };
        let estimator: Estimator = match method {
            Method::Nb => NormalBundle::params()
                .shared(shared)
                .rule(rule)
                .normal_floor(normal_floor)
                .keep_spectra(keep_spectra)
                .set_given(samples, NormalBundleParams::samples)
                .adaptive(adaptive)
                .check()?
                .into(),
            Method::Jacobian => JacobianSpectrum::params()
                .shared(shared)
                .rule(rule)
                .normal_floor(normal_floor)
                .check()?
                .into(),
            Method::Flipd => Flipd::params()
                .shared(shared)
                .exact_max_dim(exact_max_dim)
                .probes(probes)
                .probe(probe)
                .derivative(derivative)
                .scale_check(scale_check)
                .check()?
                .into(),
            Method::Mle => Mle::params().k(k).check()?.into(),
            Method::TwoNn => TwoNn::params()
                .neighbourhood(k)
                .form(form)
                .discard_fraction(discard_fraction)
                .check()?
                .into(),
            Method::Lpca => LocalPca::params().k(k).alpha(alpha).check()?.into(),
            other => {
                return Err(scoregeo::Error::param(
                    "method",
                    format!("`{other}` is not available from Python yet"),
                ))
            }
        };
        estimator.fit(&data, score)
    };
    let inner = released(py, model_ref, fit)?;
    Ok(Estimate { inner })
}

/// The neighbours' check behind `Auto` (the library's `reliability::neighbour_check`): TwoNN on
/// `X` against flat references of `dimension` dimensions with as many points, as a dict
/// (`twonn`, `reference_dim`, `references`, `octaves`, `octaves_above`, `tolerance`,
/// `consistent`, `confirmed`).
#[pyfunction]
#[pyo3(signature = (X, dimension, seed = 0))]
#[allow(non_snake_case)]
pub fn neighbour_check<'py>(
    py: Python<'py>,
    X: &Bound<'py, PyAny>,
    dimension: f64,
    seed: u64,
) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
    let data = dataset(X, "X")?;
    let c = released(py, None, || {
        scoregeo::id::reliability::neighbour_check(&data, dimension, seed)
    })?;
    let d = pyo3::types::PyDict::new(py);
    d.set_item("twonn", c.twonn)?;
    d.set_item("reference_dim", c.reference_dim)?;
    d.set_item("references", c.references.to_vec())?;
    d.set_item("octaves", c.octaves)?;
    d.set_item("tolerance", c.tolerance)?;
    d.set_item("octaves_above", c.octaves_above)?;
    d.set_item("consistent", c.consistent)?;
    d.set_item("confirmed", c.confirmed)?;
    Ok(d)
}
