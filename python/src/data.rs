//! Synthetic datasets with a known intrinsic dimension.

use crate::convert::{mat_to_numpy, to_py};
use numpy::{PyArray1, PyArray2};
use pyo3::prelude::*;
use scoregeo::data::synthetic::{self, Kind, TrueId};

/// Draws `n` points of the synthetic family `name` (sphere, spheres, spaghetti, affine,
/// swiss-roll, lollipop, sinusoid, hemisphere, banana, river, squares, blobs) and returns
/// `(X, truth)`: the points and the true ID (an int, or one per point where it varies).
#[pyfunction]
#[pyo3(signature = (name, *, n = 1000, dim = None, ambient = None, noise = None, seed = 0))]
pub fn generate<'py>(
    py: Python<'py>,
    name: &str,
    n: usize,
    dim: Option<usize>,
    ambient: Option<usize>,
    noise: Option<f64>,
    seed: u64,
) -> PyResult<(Bound<'py, PyArray2<f64>>, Bound<'py, PyAny>)> {
    let kind: Kind = name.parse().map_err(to_py)?;
    let params = synthetic::Params {
        n,
        seed,
        dim,
        ambient,
        noise,
        ..synthetic::Params::default()
    };
    let (data, manifest) = py
        .detach(|| synthetic::generate(kind, &params))
        .map_err(to_py)?;
    let x = mat_to_numpy(py, data.as_mat())?;
    let truth = match manifest.true_id {
        TrueId::Global(k) => k.into_pyobject(py)?.into_any(),
        TrueId::PerPoint(ids) => {
            PyArray1::from_vec(py, ids.into_iter().map(|k| k as i64).collect()).into_any()
        }
    };
    Ok((x, truth))
}
