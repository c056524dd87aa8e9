//! numpy arrays in and out, and library errors as Python exceptions.
//!
//! Input arrays of float32 or float64, in C or Fortran order (or any strides), are read in one
//! pass straight into the library's row-major f64 [`Dataset`]: a C-ordered float64 array is one
//! `memcpy`, anything else one converting copy, never an intermediate numpy copy.

use faer::MatRef;
use numpy::{PyArray1, PyArray2, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use scoregeo::{Dataset, Error};

/// A builder setter applied only to the keyword arguments the caller gave: `None` keeps the
/// library's default.
pub trait SetGiven: Sized {
    /// `set(self, v)` when `value` is `Some(v)`, else `self`.
    fn set_given<T>(self, value: Option<T>, set: impl FnOnce(Self, T) -> Self) -> Self {
        match value {
            Some(v) => set(self, v),
            None => self,
        }
    }
}

impl<P> SetGiven for P {}

/// The Python exception for a library error: bad data or parameters are `ValueError`, files
/// `OSError` (`FileNotFoundError` when missing), numerical and backend failures `RuntimeError`.
pub fn to_py(e: Error) -> PyErr {
    let text = e.to_string();
    match e {
        Error::Io { cause, .. } if cause.kind() == std::io::ErrorKind::NotFound => {
            PyFileNotFoundError::new_err(text)
        }
        Error::Io { .. } => PyOSError::new_err(text),
        Error::Numerical(_) | Error::Candle(_) => PyRuntimeError::new_err(text),
        _ => PyValueError::new_err(text),
    }
}

/// The shape of a numpy array, or a `TypeError` naming `name` when `obj` is not one.
fn untyped<'a, 'py>(
    obj: &'a Bound<'py, PyAny>,
    name: &str,
) -> PyResult<&'a Bound<'py, PyUntypedArray>> {
    obj.cast::<PyUntypedArray>().map_err(|_| {
        let ty = obj
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "?".into());
        PyTypeError::new_err(format!(
            "`{name}` must be a numpy array of float32 or float64, got {ty}"
        ))
    })
}

/// The values of a 2-D float32/float64 array in row-major order, with its shape.
///
/// `Err(None)` when the dtype is neither (the caller words that error).
pub fn row_major(arr: &Bound<'_, PyAny>) -> Result<Vec<f64>, Option<PyErr>> {
    if let Ok(a) = arr.cast::<PyArray2<f64>>() {
        let ro = a
            .try_readonly()
            .map_err(|e| Some(PyValueError::new_err(e.to_string())))?;
        // as_slice also accepts Fortran order, whose memory is column-major: C order only
        return Ok(match ro.as_slice() {
            Ok(s) if a.is_c_contiguous() => s.to_vec(),
            // ndarray iterates in logical (row-major) order whatever the strides
            _ => ro.as_array().iter().copied().collect(),
        });
    }
    if let Ok(a) = arr.cast::<PyArray2<f32>>() {
        let ro = a
            .try_readonly()
            .map_err(|e| Some(PyValueError::new_err(e.to_string())))?;
        return Ok(ro.as_array().iter().map(|&v| f64::from(v)).collect());
    }
    Err(None)
}

/// A dataset from a 2-D numpy array `name` (rows are points): float32 or float64, at least one
/// row and one column, every value finite.
pub fn dataset(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Dataset> {
    let arr = untyped(obj, name)?;
    let shape = arr.shape().to_vec();
    if shape.len() != 2 {
        return Err(PyValueError::new_err(format!(
            "`{name}` must be 2-D (points × coordinates), got shape {shape:?}{}",
            if shape.len() == 1 {
                "; one point is x[None, :], one coordinate per point x[:, None]"
            } else {
                ""
            }
        )));
    }
    let (n, d) = (shape[0], shape[1]);
    if n == 0 || d == 0 {
        return Err(PyValueError::new_err(format!(
            "`{name}` is empty (shape ({n}, {d})): need at least one point with one coordinate"
        )));
    }
    let values = row_major(obj).map_err(|e| {
        e.unwrap_or_else(|| {
            PyTypeError::new_err(format!(
                "`{name}` must have dtype float32 or float64, got {}; convert with .astype(np.float64)",
                dtype_name(arr)
            ))
        })
    })?;
    Dataset::from_row_major(values, n, d).map_err(|e| match e {
        Error::InvalidData(m) => PyValueError::new_err(format!("`{name}`: {m}")),
        e => to_py(e),
    })
}

/// The dtype of an array, as numpy writes it.
pub fn dtype_name(arr: &Bound<'_, PyUntypedArray>) -> String {
    arr.dtype()
        .str()
        .map(|s| s.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// A 1-D float array (or a sequence of numbers) as a vector: a point's coordinates.
pub fn point(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Vec<f64>> {
    let v: Vec<f64> = match obj.cast::<PyUntypedArray>() {
        Ok(arr) if arr.ndim() != 1 => {
            return Err(PyValueError::new_err(format!(
                "`{name}` must be a row index or a 1-D array of coordinates, got shape {:?}",
                arr.shape()
            )))
        }
        _ => obj.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "`{name}` must be a row index or a 1-D array of coordinates"
            ))
        })?,
    };
    if let Some(j) = v.iter().position(|x| !x.is_finite()) {
        return Err(PyValueError::new_err(format!(
            "`{name}` has a non-finite coordinate {} at position {j}",
            v[j]
        )));
    }
    Ok(v)
}

/// A matrix as a new float64 numpy array of the same shape.
pub fn mat_to_numpy<'py>(
    py: Python<'py>,
    m: MatRef<'_, f64>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let (n, d) = (m.nrows(), m.ncols());
    let flat: Vec<f64> = (0..n)
        .flat_map(|i| (0..d).map(move |j| m[(i, j)]))
        .collect();
    PyArray1::from_vec(py, flat).reshape([n, d])
}

/// Rows of equal length as a float64 numpy array (`rows` × `width`).
pub fn rows_to_numpy<'py>(
    py: Python<'py>,
    rows: &[&[f64]],
    width: usize,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let flat: Vec<f64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    PyArray1::from_vec(py, flat).reshape([rows.len(), width])
}
