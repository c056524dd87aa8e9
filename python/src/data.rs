//! Synthetic datasets with a known intrinsic dimension.

use crate::convert::{mat_to_numpy, to_py, SetGiven};
use numpy::{PyArray1, PyArray2};
use pyo3::prelude::*;
use scoregeo::data::synthetic::benchmark::Benchmark;
use scoregeo::data::synthetic::{self, Kind, TrueId};

/// Draws `n` points of the synthetic family `name` (sphere, spheres, spaghetti, affine,
/// swiss-roll, lollipop, sinusoid, hemisphere, banana, river, squares, blobs), or of a benchmark
/// manifold by its name (`M1_Sphere` … `Mp3_Paraboloid`, `S50_Sphere`, `A60_Affine`,
/// `T3_Torus`: their dimensions are fixed, so only `n` and `seed` apply), and returns
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
    if let Ok(bench) = Benchmark::from_name(name) {
        if dim.is_some() || ambient.is_some() || noise.is_some() {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "the benchmark manifold {name} has fixed dimensions and no noise option"
            )));
        }
        if n == 0 {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "n: need at least one point",
            ));
        }
        let data = py.detach(|| bench.sample(n, seed));
        let x = mat_to_numpy(py, data.as_mat())?;
        let truth = bench.intrinsic_dim().into_pyobject(py)?.into_any();
        return Ok((x, truth));
    }
    let kind: Kind = name.parse().map_err(to_py)?;
    let params = synthetic::Params::default()
        .n(n)
        .seed(seed)
        .set_given(dim, synthetic::Params::dim)
        .set_given(ambient, synthetic::Params::ambient)
        .set_given(noise, synthetic::Params::noise);
    let (data, manifest) = py
        .detach(|| params.check(kind)?.generate())
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
