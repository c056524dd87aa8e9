//! A Python callable as a score model: `fn(x: ndarray[B, D], t: float) -> ndarray[B, D]`.
//!
//! The library evaluates scores from its own threads with the GIL released; each batch of at most
//! `batch` rows takes the GIL, calls the function and checks what it returns (a float32/float64
//! array of the batch's shape, every value finite). The first exception (raised by the function,
//! or the `ValueError` of a bad result, or a `KeyboardInterrupt`) is kept in a [`Failure`] and
//! the library sees an error, so the computation unwinds; later calls fail at once without
//! calling Python again; the caller re-raises the kept exception, traceback and all.

use crate::convert::{dtype_name, row_major};
use faer::{Mat, MatRef};
use numpy::{PyArray1, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use scoregeo::check::check_dim;
use scoregeo::{Error, ScoreModel, Sde};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The first Python exception of a computation that calls back into Python.
#[derive(Debug, Default)]
pub struct Failure {
    slot: Mutex<Option<PyErr>>,
    failed: AtomicBool,
}

impl Failure {
    /// Forgets any earlier failure (at the start of each top-level call).
    pub fn reset(&self) {
        self.failed.store(false, Ordering::SeqCst);
        *self.slot.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The kept exception, if any.
    pub fn take(&self) -> Option<PyErr> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Keeps `err` unless an earlier one is kept, and returns the library error that unwinds.
    fn record(&self, err: PyErr, what: &str) -> Error {
        let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(err);
        }
        self.failed.store(true, Ordering::SeqCst);
        Error::Model {
            path: None,
            message: format!("the Python {what} failed"),
        }
    }

    /// An error without calling Python when an earlier call failed.
    fn check(&self, what: &str) -> scoregeo::Result<()> {
        match self.failed.load(Ordering::SeqCst) {
            true => Err(Error::Model {
                path: None,
                message: format!("an earlier call of the Python {what} failed"),
            }),
            false => Ok(()),
        }
    }
}

/// The score model of a Python function of (x, t).
pub struct PyScore {
    score_fn: Py<PyAny>,
    dim: usize,
    sde: Sde,
    batch: usize,
    float32: bool,
    name: String,
    failure: Arc<Failure>,
}

impl PyScore {
    /// The model of `score_fn` on ℝ^`dim` under `sde`, called with at most `batch` rows at a time
    /// as float32 (`float32`) or float64 arrays.
    pub fn new(
        score_fn: Py<PyAny>,
        name: String,
        dim: usize,
        sde: Sde,
        batch: usize,
        float32: bool,
        failure: Arc<Failure>,
    ) -> Self {
        Self {
            score_fn,
            dim,
            sde,
            batch,
            float32,
            name,
            failure,
        }
    }

    /// `f(x, t)` or `f(x, t, v)` over batches of rows, checked and stacked.
    fn call(
        &self,
        f: &Py<PyAny>,
        what: &str,
        x: MatRef<'_, f64>,
        t: f64,
        v: Option<MatRef<'_, f64>>,
    ) -> scoregeo::Result<Mat<f64>> {
        self.failure.check(what)?;
        check_dim(self.dim, x.ncols(), "the Python score callable")?;
        let (n, d) = (x.nrows(), x.ncols());
        let mut out = Mat::zeros(n, d);
        let mut start = 0;
        while start < n {
            let rows = self.batch.min(n - start);
            let result = Python::attach(|py| -> PyResult<Vec<f64>> {
                let xb = self.to_numpy(py, x.subrows(start, rows))?;
                let r = match v {
                    None => f.bind(py).call1((xb, t))?,
                    Some(v) => {
                        let vb = self.to_numpy(py, v.subrows(start, rows))?;
                        f.bind(py).call1((xb, t, vb))?
                    }
                };
                py.check_signals()?;
                read_result(&r, rows, d, what, t)
            });
            let values = result.map_err(|e| self.failure.record(e, what))?;
            for i in 0..rows {
                for j in 0..d {
                    out[(start + i, j)] = values[i * d + j];
                }
            }
            start += rows;
        }
        Ok(out)
    }

    /// A batch as a new numpy array of the dtype the function asked for.
    fn to_numpy<'py>(&self, py: Python<'py>, m: MatRef<'_, f64>) -> PyResult<Bound<'py, PyAny>> {
        let (n, d) = (m.nrows(), m.ncols());
        let flat = (0..n).flat_map(|i| (0..d).map(move |j| m[(i, j)]));
        Ok(match self.float32 {
            true => PyArray1::from_vec(py, flat.map(|v| v as f32).collect())
                .reshape([n, d])?
                .into_any(),
            false => PyArray1::from_vec(py, flat.collect())
                .reshape([n, d])?
                .into_any(),
        })
    }
}

/// The values of a callable's result for a batch of `rows` × `d`, or a `ValueError` saying what
/// is wrong with it.
fn read_result(
    r: &Bound<'_, PyAny>,
    rows: usize,
    d: usize,
    what: &str,
    t: f64,
) -> PyResult<Vec<f64>> {
    let arr = r.cast::<PyUntypedArray>().map_err(|_| {
        let ty = r
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "?".into());
        PyValueError::new_err(format!(
            "the {what} must return a numpy array of shape ({rows}, {d}), got {ty} \
             (a torch tensor: return t.detach().cpu().numpy())"
        ))
    })?;
    if arr.shape() != [rows, d] {
        return Err(PyValueError::new_err(format!(
            "the {what} returned shape {:?} for a batch of shape ({rows}, {d}) at t = {t}",
            arr.shape()
        )));
    }
    let values = row_major(r).map_err(|e| {
        e.unwrap_or_else(|| {
            PyValueError::new_err(format!(
                "the {what} returned dtype {}; expected float32 or float64",
                dtype_name(arr)
            ))
        })
    })?;
    if let Some(k) = values.iter().position(|v| !v.is_finite()) {
        return Err(PyValueError::new_err(format!(
            "the {what} returned a non-finite value {} at row {}, column {} of a batch (t = {t})",
            values[k],
            k / d,
            k % d
        )));
    }
    Ok(values)
}

impl ScoreModel for PyScore {
    fn dim(&self) -> usize {
        self.dim
    }

    fn sde(&self) -> &Sde {
        &self.sde
    }

    fn score(&self, x: MatRef<'_, f64>, t: f64) -> scoregeo::Result<Mat<f64>> {
        self.call(&self.score_fn, "score callable", x, t, None)
    }

    fn describe(&self) -> String {
        format!(
            "Python score callable {} on R^{}, {} SDE, batches of {}",
            self.name,
            self.dim,
            self.sde.name(),
            self.batch
        )
    }
}

/// A [`PyScore`] whose vector–Jacobian products vᵀ∇ₓs come from a second callable
/// `vjp(x, t, v) -> ndarray[B, D]` instead of finite differences of the score.
pub struct PyScoreVjp {
    score: PyScore,
    vjp_fn: Py<PyAny>,
}

impl PyScoreVjp {
    /// `score` with products from `vjp_fn`.
    pub fn new(score: PyScore, vjp_fn: Py<PyAny>) -> Self {
        Self { score, vjp_fn }
    }
}

impl ScoreModel for PyScoreVjp {
    fn dim(&self) -> usize {
        self.score.dim
    }

    fn sde(&self) -> &Sde {
        &self.score.sde
    }

    fn score(&self, x: MatRef<'_, f64>, t: f64) -> scoregeo::Result<Mat<f64>> {
        self.score.score(x, t)
    }

    fn score_vjp(
        &self,
        x: MatRef<'_, f64>,
        t: f64,
        v: MatRef<'_, f64>,
    ) -> scoregeo::Result<Mat<f64>> {
        check_dim(x.nrows(), v.nrows(), "cotangent rows")?;
        check_dim(x.ncols(), v.ncols(), "cotangent columns")?;
        self.score.call(&self.vjp_fn, "vjp callable", x, t, Some(v))
    }

    fn describe(&self) -> String {
        format!("{}, with a vjp callable", self.score.describe())
    }
}
