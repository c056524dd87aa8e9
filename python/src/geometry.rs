//! Score-pullback geodesics between two points.

use crate::convert::{dataset, mat_to_numpy, point, SetGiven};
use crate::model::{released, Model};
use numpy::PyArray2;
use pyo3::exceptions::{PyIndexError, PyValueError};
use pyo3::prelude::*;
use scoregeo::geometry::{Geodesic, ScorePullback, ScorePullbackParams};
use scoregeo::score::analytic::GaussianMixture;
use scoregeo::score::NoiseLevel;
use scoregeo::Dataset;

/// A geodesic: its nodes (the path, endpoints included), length, energy and how the solver did.
#[pyclass(module = "scoregeo", name = "Geodesic", frozen)]
pub struct PyGeodesic {
    pub(crate) inner: Geodesic,
}

#[pymethods]
impl PyGeodesic {
    /// The nodes c₀ = a, …, c_N = b, one per row.
    #[getter]
    fn path<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        mat_to_numpy(py, self.inner.nodes())
    }

    /// The length Σ‖F(cᵢ₊₁) − F(cᵢ)‖ (the distance estimate).
    #[getter]
    fn length(&self) -> f64 {
        self.inner.length()
    }

    /// The discrete energy N·Σ‖F(cᵢ₊₁) − F(cᵢ)‖².
    #[getter]
    fn energy(&self) -> f64 {
        self.inner.energy()
    }

    /// The Euclidean length of the path.
    #[getter]
    fn euclidean_length(&self) -> f64 {
        self.inner.euclidean_length()
    }

    /// Whether the solver reached its tolerance.
    #[getter]
    fn converged(&self) -> bool {
        self.inner.converged()
    }

    /// L-BFGS iterations taken.
    #[getter]
    fn iterations(&self) -> Option<u64> {
        self.inner.solver().map(|s| s.iterations)
    }

    /// Why the solver stopped, in words.
    #[getter]
    fn termination(&self) -> Option<String> {
        self.inner.solver().map(|s| s.termination.clone())
    }

    fn __repr__(&self) -> String {
        format!(
            "<scoregeo.Geodesic: {} nodes, length {:.6}, energy {:.6}, converged {}>",
            self.inner.nodes().nrows(),
            self.inner.length(),
            self.inner.energy(),
            self.inner.converged()
        )
    }
}

/// An endpoint: a row index of `data`, or coordinates.
fn endpoint(obj: &Bound<'_, PyAny>, name: &str, data: Option<&Dataset>) -> PyResult<Vec<f64>> {
    if let Ok(i) = obj.extract::<i64>() {
        let data = data.ok_or_else(|| {
            PyValueError::new_err(format!("`{name}` is a row index, but no X was given"))
        })?;
        let n = data.len() as i64;
        // negative indices count from the end, as numpy's
        let row = if i < 0 { i + n } else { i };
        if !(0..n).contains(&row) {
            return Err(PyIndexError::new_err(format!(
                "`{name}` = {i} is out of range for X with {n} rows"
            )));
        }
        return Ok(data.row(row as usize).to_vec());
    }
    point(obj, name)
}

/// The score-pullback geodesic from `a` to `b` (row indices of `X`, or coordinates) under
/// `model`, initialised from the shortest path in the k-NN graph of `X` (the straight line
/// without `X`, or with `init="line"`).
#[pyfunction]
#[pyo3(signature = (X, a, b, *, model, nodes = 32, t0 = None, sigma = None, lam = None,
                    score_scale = None, max_iters = None, tolerance = None, neighbours = None,
                    init = "graph", seed = 0))]
#[allow(non_snake_case, clippy::too_many_arguments)]
pub fn geodesic(
    py: Python<'_>,
    X: Option<&Bound<'_, PyAny>>,
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    model: PyRef<'_, Model>,
    nodes: usize,
    t0: Option<f64>,
    sigma: Option<f64>,
    lam: Option<f64>,
    score_scale: Option<f64>,
    max_iters: Option<u64>,
    tolerance: Option<f64>,
    neighbours: Option<usize>,
    init: &str,
    seed: u64,
) -> PyResult<PyGeodesic> {
    let data = X.map(|x| dataset(x, "X")).transpose()?;
    let (from, to) = (
        endpoint(a, "a", data.as_ref())?,
        endpoint(b, "b", data.as_ref())?,
    );
    let graph = match init {
        "graph" => data.clone(),
        "line" => None,
        _ => {
            return Err(PyValueError::new_err(format!(
                "`init` = {init:?}: expected 'graph' or 'line'"
            )))
        }
    };
    if t0.is_some() && sigma.is_some() {
        return Err(PyValueError::new_err(
            "give `t0` or `sigma` (data units), not both",
        ));
    }
    let params = ScorePullback::params()
        .nodes(nodes)
        .progress(crate::progress())
        .set_given(lam, ScorePullbackParams::lambda)
        .set_given(score_scale, ScorePullbackParams::score_scale)
        .set_given(max_iters, ScorePullbackParams::max_iters)
        .set_given(tolerance, ScorePullbackParams::tolerance)
        .set_given(neighbours, ScorePullbackParams::neighbours);
    let score = model.inner.clone();
    let mixture = model.mixture;
    let solved = released(py, Some(&model), move || {
        let m = score.as_ref();
        // the noise level the CLI resolves (the mixture oracle: its default σ on X)
        let level = match (t0, sigma, mixture, data.as_ref()) {
            (Some(t), ..) => Some(NoiseLevel::Time(t)),
            (None, Some(s), ..) => Some(NoiseLevel::Sigma(s)),
            (None, None, Some(h), Some(d)) => Some(NoiseLevel::Sigma(
                GaussianMixture::default_sigma(d, h, seed)?,
            )),
            _ => None,
        };
        let params = match level {
            Some(l) => params.t0(l.t0(m)?),
            None => params,
        };
        let metric = params.check()?.metric(m)?;
        metric.solve_between(&from, &to, graph.as_ref())
    })?;
    Ok(PyGeodesic {
        inner: solved.into(),
    })
}
