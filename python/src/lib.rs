//! Python bindings of scoregeo: intrinsic dimension and manifold geometry from score models.
//!
//! A thin layer: numpy arrays in and out ([`convert`]), library calls with the GIL released,
//! library errors as Python exceptions, and Python callables as score models ([`callable`]).
//! The Python-facing classes (`NormalBundle`, `MLE`, …) live in `scoregeo/__init__.py` over
//! this native module `scoregeo._scoregeo`.

mod callable;
mod convert;
mod data;
mod estimate;
mod geometry;
mod model;
mod plot;

use pyo3::prelude::*;

/// Whether progress bars are silenced (see `set_quiet`).
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The progress report every long call of the package uses.
pub(crate) fn progress() -> scoregeo::progress::Progress {
    scoregeo::progress::Progress::quiet_if(QUIET.load(std::sync::atomic::Ordering::Relaxed))
}

/// Silences (or restores) the library's progress bars on stderr.
#[pyfunction]
#[pyo3(signature = (quiet = true))]
fn set_quiet(quiet: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
}

#[pymodule]
fn _scoregeo(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<model::Model>()?;
    m.add_class::<model::PySde>()?;
    m.add_class::<estimate::Estimate>()?;
    m.add_class::<geometry::PyGeodesic>()?;
    m.add_function(wrap_pyfunction!(model::ve, m)?)?;
    m.add_function(wrap_pyfunction!(model::vp, m)?)?;
    m.add_function(wrap_pyfunction!(model::subvp, m)?)?;
    m.add_function(wrap_pyfunction!(model::load_model, m)?)?;
    m.add_function(wrap_pyfunction!(model::default_model, m)?)?;
    m.add_function(wrap_pyfunction!(model::train, m)?)?;
    m.add_function(wrap_pyfunction!(model::mixture_model, m)?)?;
    m.add_function(wrap_pyfunction!(model::score_function, m)?)?;
    m.add_function(wrap_pyfunction!(estimate::estimate, m)?)?;
    m.add_function(wrap_pyfunction!(estimate::neighbour_check, m)?)?;
    m.add_function(wrap_pyfunction!(geometry::geodesic, m)?)?;
    m.add_function(wrap_pyfunction!(data::generate, m)?)?;
    m.add_function(wrap_pyfunction!(plot::plot_spectrum, m)?)?;
    m.add_function(wrap_pyfunction!(plot::plot_histogram, m)?)?;
    m.add_function(wrap_pyfunction!(plot::plot_comparison, m)?)?;
    m.add_function(wrap_pyfunction!(plot::plot_geodesics, m)?)?;
    m.add_function(wrap_pyfunction!(set_quiet, m)?)?;
    Ok(())
}
