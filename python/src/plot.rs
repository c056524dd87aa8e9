//! The figures of the CLI, drawn from Python results (PNG or SVG by extension).

use crate::convert::{dataset, to_py};
use crate::estimate::Estimate;
use crate::geometry::PyGeodesic;
use pyo3::prelude::*;
use scoregeo::data::synthetic::TrueId;
use scoregeo::plot::{
    Figure, GeodesicPath, GeodesicPlot, IdHistogram, MethodComparison, MethodResult, SpectrumPlot,
};
use std::path::PathBuf;

/// The singular-value spectra of a normal-bundle or Jacobian estimate, with the cut.
#[pyfunction]
pub fn plot_spectrum(py: Python<'_>, estimate: PyRef<'_, Estimate>, path: PathBuf) -> PyResult<()> {
    let e = &estimate.inner;
    py.detach(|| SpectrumPlot::from_estimate(e)?.render(&path))
        .map_err(to_py)
}

/// A histogram of the local IDs of an estimate, with the true ID when given (an int, or one
/// per evaluated point).
#[pyfunction]
#[pyo3(signature = (estimate, path, truth = None))]
pub fn plot_histogram(
    py: Python<'_>,
    estimate: PyRef<'_, Estimate>,
    path: PathBuf,
    truth: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let mut fig = IdHistogram::from_estimate(&estimate.inner);
    fig.truth = match truth {
        None => None,
        Some(t) => Some(match t.extract::<usize>() {
            Ok(k) => TrueId::Global(k),
            Err(_) => TrueId::PerPoint(t.extract::<Vec<usize>>()?),
        }),
    };
    py.detach(|| fig.render(&path)).map_err(to_py)
}

/// Bars of several estimates' global IDs side by side (with the true ID when given).
#[pyfunction]
#[pyo3(signature = (estimates, path, truth = None, seconds = None))]
pub fn plot_comparison(
    py: Python<'_>,
    estimates: Vec<PyRef<'_, Estimate>>,
    path: PathBuf,
    truth: Option<f64>,
    seconds: Option<Vec<f64>>,
) -> PyResult<()> {
    let methods = estimates
        .iter()
        .enumerate()
        .map(|(i, e)| MethodResult {
            seconds: seconds.as_ref().and_then(|s| s.get(i).copied()),
            ..MethodResult::from_estimate(&e.inner)
        })
        .collect();
    let mut fig = MethodComparison::new(methods);
    fig.truth = truth;
    py.detach(|| fig.render(&path)).map_err(to_py)
}

/// Geodesic paths over the data cloud `X` (projected on its first two principal components).
#[pyfunction]
#[pyo3(signature = (geodesics, path, X = None, labels = None))]
#[allow(non_snake_case)]
pub fn plot_geodesics(
    py: Python<'_>,
    geodesics: Vec<PyRef<'_, PyGeodesic>>,
    path: PathBuf,
    X: Option<&Bound<'_, PyAny>>,
    labels: Option<Vec<String>>,
) -> PyResult<()> {
    let data = X.map(|x| dataset(x, "X")).transpose()?;
    let paths = geodesics
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let label = labels
                .as_ref()
                .and_then(|l| l.get(i).cloned())
                .unwrap_or_else(|| format!("geodesic (length {:.4})", g.inner.length()));
            GeodesicPath::new(label, g.inner.node_rows())
        })
        .collect();
    let fig = GeodesicPlot::new(data, paths);
    py.detach(|| fig.render(&path)).map_err(to_py)
}
