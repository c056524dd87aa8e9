//! Score models for Python: loaded files, the default model, trained models, the mixture
//! oracle and Python callables, all one [`Model`] class; SDEs as [`PySde`].

use crate::callable::{Failure, PyScore, PyScoreVjp};
use crate::convert::{dataset, mat_to_numpy, to_py, SetGiven};
use numpy::PyArray2;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use scoregeo::score::analytic::GaussianMixture;
use scoregeo::score::mlp::Prediction;
use scoregeo::score::Loader;
use scoregeo::train::{
    default_model as library_default, CacheOptions, Provenance, SaveMode, TrainParams,
};
use scoregeo::{ScoreModel, Sde};
use std::path::PathBuf;
use std::sync::Arc;

/// A forward SDE: `VE(sigma_min=…, sigma_max=…)`, `VP(beta_min=…, beta_max=…)` or `SubVP(…)`.
#[pyclass(module = "scoregeo", name = "Sde", frozen)]
#[derive(Clone, Debug)]
pub struct PySde(pub Sde);

#[pymethods]
impl PySde {
    /// The family: "ve", "vp" or "subvp".
    #[getter]
    fn kind(&self) -> &'static str {
        self.0.name()
    }

    /// (α(t), σ(t)) of the marginal x_t = α(t)·x₀ + σ(t)·z.
    fn marginal(&self, t: f64) -> (f64, f64) {
        let m = self.0.marginal(t);
        (m.alpha, m.sigma)
    }

    /// σ(t), the standard deviation of the forward kernel.
    fn sigma(&self, t: f64) -> f64 {
        self.0.marginal(t).sigma
    }

    /// α(t), the mean coefficient of the forward kernel.
    fn alpha(&self, t: f64) -> f64 {
        self.0.marginal(t).alpha
    }

    fn __repr__(&self) -> String {
        match self.0 {
            Sde::Ve {
                sigma_min,
                sigma_max,
            } => format!("VE(sigma_min={sigma_min}, sigma_max={sigma_max})"),
            Sde::Vp { beta_min, beta_max } => {
                format!("VP(beta_min={beta_min}, beta_max={beta_max})")
            }
            Sde::SubVp { beta_min, beta_max } => {
                format!("SubVP(beta_min={beta_min}, beta_max={beta_max})")
            }
        }
    }
}

fn checked(sde: Sde) -> PyResult<PySde> {
    sde.check().map_err(to_py)?;
    Ok(PySde(sde))
}

/// The VE SDE: x_t = x₀ + σ(t)·z, σ(t) = σ_min·(σ_max/σ_min)^t.
#[pyfunction(name = "VE")]
#[pyo3(signature = (*, sigma_max, sigma_min = 0.01))]
pub fn ve(sigma_max: f64, sigma_min: f64) -> PyResult<PySde> {
    checked(Sde::Ve {
        sigma_min,
        sigma_max,
    })
}

/// The VP SDE: β(t) = β_min + t(β_max − β_min), α(t) = exp(−½∫β), σ² = 1 − α².
#[pyfunction(name = "VP")]
#[pyo3(signature = (*, beta_min = 0.1, beta_max = 20.0))]
pub fn vp(beta_min: f64, beta_max: f64) -> PyResult<PySde> {
    checked(Sde::Vp { beta_min, beta_max })
}

/// The sub-VP SDE of Song et al. 2021, σ(t) = 1 − α(t)².
#[pyfunction(name = "SubVP")]
#[pyo3(signature = (*, beta_min = 0.1, beta_max = 20.0))]
pub fn subvp(beta_min: f64, beta_max: f64) -> PyResult<PySde> {
    checked(Sde::SubVp { beta_min, beta_max })
}

/// A score model s(x, t) ≈ ∇ₓ log p_t(x): from `load_model`, `default_model`, `train`,
/// `mixture_model` or `score_function`.
#[pyclass(module = "scoregeo", name = "Model", frozen)]
pub struct Model {
    pub(crate) inner: Arc<dyn ScoreModel>,
    /// Where a Python callable keeps its first exception.
    pub(crate) failure: Option<Arc<Failure>>,
    /// The component standard deviation h of a mixture oracle (its σ default differs).
    pub(crate) mixture: Option<f64>,
    path: Option<PathBuf>,
    provenance: Option<&'static str>,
}

impl Model {
    fn new(inner: Arc<dyn ScoreModel>) -> Self {
        Self {
            inner,
            failure: None,
            mixture: None,
            path: None,
            provenance: None,
        }
    }
}

/// Runs `f` with the GIL released; a failure inside a Python callable of `model` comes back as
/// that Python exception, any other as its mapped exception.
pub fn released<T: Send>(
    py: Python<'_>,
    model: Option<&Model>,
    f: impl FnOnce() -> scoregeo::Result<T> + Send,
) -> PyResult<T> {
    let failure = model.and_then(|m| m.failure.as_deref());
    if let Some(fl) = failure {
        fl.reset();
    }
    let out = py.detach(f);
    out.map_err(|e| failure.and_then(Failure::take).unwrap_or_else(|| to_py(e)))
}

#[pymethods]
impl Model {
    /// Ambient dimension D.
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// The forward SDE (in model coordinates).
    #[getter]
    fn sde(&self) -> PySde {
        PySde(*self.inner.sde())
    }

    /// The file the model was loaded from or saved to, if any.
    #[getter]
    fn path(&self) -> Option<PathBuf> {
        self.path.clone()
    }

    /// For a default model: "shipped", "cached" or "trained".
    #[getter]
    fn provenance(&self) -> Option<&'static str> {
        self.provenance
    }

    /// One line describing the model.
    fn describe(&self) -> String {
        self.inner.describe()
    }

    /// s(xᵢ, t) for every row of `x` (n × D), in data coordinates, as float64.
    fn score<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        t: f64,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let data = dataset(x, "x")?;
        let inner = &self.inner;
        let s = released(py, Some(self), || inner.score(data.as_mat(), t))?;
        mat_to_numpy(py, s.as_ref())
    }

    fn __repr__(&self) -> String {
        format!("<scoregeo.Model: {}>", self.inner.describe())
    }
}

fn prediction(name: &str) -> PyResult<Prediction> {
    match name.to_ascii_lowercase().replace('-', "_").as_str() {
        "noise" | "eps" | "epsilon" => Ok(Prediction::Noise),
        "score" => Ok(Prediction::Score),
        "scaled_score" => Ok(Prediction::ScaledScore),
        "data" | "x0" => Ok(Prediction::Data),
        _ => Err(PyValueError::new_err(format!(
            "`prediction` = {name:?}: expected 'noise', 'score', 'scaled_score' or 'data'"
        ))),
    }
}

/// Loads a model file: a native safetensors model, or a PyTorch checkpoint (.pt/.pth/.ckpt)
/// completed with what its weights cannot say.
#[pyfunction]
#[pyo3(signature = (path, *, sde = None, sigma_min = None, sigma_max = None, beta_min = None,
                    beta_max = None, time_scale = None, prediction = None))]
#[allow(clippy::too_many_arguments)]
pub fn load_model(
    py: Python<'_>,
    path: PathBuf,
    sde: Option<&str>,
    sigma_min: Option<f64>,
    sigma_max: Option<f64>,
    beta_min: Option<f64>,
    beta_max: Option<f64>,
    time_scale: Option<f64>,
    prediction: Option<&str>,
) -> PyResult<Model> {
    let mut loader = Loader::new(&path);
    if let Some(kind) = sde {
        loader = loader.sde(kind.parse().map_err(to_py)?);
    }
    if let Some(p) = prediction {
        loader = loader.prediction(self::prediction(p)?);
    }
    loader = loader
        .set_given(sigma_min, Loader::sigma_min)
        .set_given(sigma_max, Loader::sigma_max)
        .set_given(beta_min, Loader::beta_min)
        .set_given(beta_max, Loader::beta_max)
        .set_given(time_scale, Loader::time_scale);
    let net = released(py, None, || loader.load())?;
    Ok(Model {
        path: Some(path),
        ..Model::new(Arc::from(net))
    })
}

/// The shipped model directories the CLI also searches: `datasets/models` under the working
/// directory and under the source tree this package was built from.
fn shipped_dirs() -> Vec<PathBuf> {
    [
        PathBuf::from("."),
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/..")),
    ]
    .iter()
    .map(|root| root.join("datasets").join("models"))
    .collect()
}

/// The default model of `X`, as the CLI finds it: shipped, else cached, else trained now with
/// the default recipe (and cached in `cache_dir`, default `$SCOREGEO_CACHE` or ~/.cache/scoregeo).
#[pyfunction]
#[pyo3(signature = (X, *, cache_dir = None))]
#[allow(non_snake_case)]
pub fn default_model(
    py: Python<'_>,
    X: &Bound<'_, PyAny>,
    cache_dir: Option<PathBuf>,
) -> PyResult<Model> {
    let data = dataset(X, "X")?;
    let options = CacheOptions {
        dir: cache_dir,
        shipped: shipped_dirs(),
        progress: crate::progress(),
        ..CacheOptions::default()
    };
    let found = released(py, None, || library_default(&data, &options))?;
    Ok(Model {
        path: Some(found.path),
        provenance: Some(match found.provenance {
            Provenance::Shipped => "shipped",
            Provenance::Cached => "cached",
            Provenance::Trained(_) => "trained",
        }),
        ..Model::new(Arc::new(found.model))
    })
}

/// Trains a score model on `X` by denoising score matching with the default recipe, changed by
/// the arguments given (its head pilot included: past 2000 steps, the preconditioned and the
/// plain data head train 2000 steps each and the better held-out fidelity trains on); saved to
/// `path` (EMA weights) when given.
#[pyfunction]
#[pyo3(signature = (X, *, steps = None, seed = 0, sde = None, hidden = None, depth = None,
                    batch = None, lr = None, path = None))]
#[allow(non_snake_case, clippy::too_many_arguments)]
pub fn train(
    py: Python<'_>,
    X: &Bound<'_, PyAny>,
    steps: Option<u64>,
    seed: u64,
    sde: Option<&str>,
    hidden: Option<usize>,
    depth: Option<usize>,
    batch: Option<usize>,
    lr: Option<f64>,
    path: Option<PathBuf>,
) -> PyResult<Model> {
    let data = dataset(X, "X")?;
    let mut params = TrainParams::default()
        .seed(seed)
        .set_given(steps, TrainParams::steps)
        .set_given(hidden, TrainParams::hidden)
        .set_given(depth, TrainParams::depth)
        .set_given(batch, TrainParams::batch)
        .set_given(lr, TrainParams::lr);
    if let Some(kind) = sde {
        params = params.sde(kind.parse().map_err(to_py)?);
    }
    let out = path.clone();
    let net = released(py, None, move || {
        // the head pilot (where the steps go past it) reports with the same progress
        let mut session = params.check()?.start_reporting(&data, crate::progress())?;
        session.run(None)?;
        if let Some(p) = &out {
            session.save(p, SaveMode::EmaOnly)?;
        }
        session.model()
    })?;
    Ok(Model {
        path,
        ..Model::new(Arc::new(net))
    })
}

/// The analytic score of the Gaussian mixture on the rows of `X` with component standard
/// deviation `h` (0: the noised empirical distribution), under VE(σ_max = data diameter).
#[pyfunction]
#[pyo3(signature = (X, h = 0.0))]
#[allow(non_snake_case)]
pub fn mixture_model(X: &Bound<'_, PyAny>, h: f64) -> PyResult<Model> {
    let data = dataset(X, "X")?;
    let oracle = GaussianMixture::oracle(data, h).map_err(to_py)?;
    Ok(Model {
        mixture: Some(h),
        ..Model::new(Arc::new(oracle))
    })
}

/// A Python function `fn(x, t) -> scores` (x: ndarray[B, dim], t: float; scores of x's shape)
/// as a score model under `sde`, called with at most `batch_size` rows at a time, `x` of
/// `dtype` ("float64" or "float32"); `vjp(x, t, v) -> vᵀ∇ₓs` serves geodesics and FLIPD's
/// autodiff (finite differences of `fn` without it).
#[pyfunction]
#[pyo3(signature = (func, dim, *, sde, batch_size = 1024, vjp = None, dtype = "float64"))]
pub fn score_function(
    func: &Bound<'_, PyAny>,
    dim: usize,
    sde: &Bound<'_, PyAny>,
    batch_size: usize,
    vjp: Option<&Bound<'_, PyAny>>,
    dtype: &str,
) -> PyResult<Model> {
    if !func.is_callable() {
        return Err(PyTypeError::new_err(
            "`func` must be callable as func(x, t)",
        ));
    }
    if vjp.is_some_and(|v| !v.is_callable()) {
        return Err(PyTypeError::new_err(
            "`vjp` must be callable as vjp(x, t, v)",
        ));
    }
    let sde = sde.cast::<PySde>().map_err(|_| {
        PyTypeError::new_err(
            "`sde` must be scoregeo.VE(sigma_min=…, sigma_max=…), scoregeo.VP(…) or scoregeo.SubVP(…)",
        )
    })?;
    if dim == 0 {
        return Err(PyValueError::new_err("`dim` must be at least 1"));
    }
    if batch_size == 0 {
        return Err(PyValueError::new_err("`batch_size` must be at least 1"));
    }
    let float32 = match dtype {
        "float64" | "f8" | "double" => false,
        "float32" | "f4" | "float" => true,
        _ => {
            return Err(PyValueError::new_err(format!(
                "`dtype` = {dtype:?}: expected 'float64' or 'float32'"
            )))
        }
    };
    let mut name = func.repr().map(|r| r.to_string()).unwrap_or_default();
    if name.chars().count() > 60 {
        name = name.chars().take(57).collect::<String>() + "...";
    }
    let failure = Arc::new(Failure::default());
    let score = PyScore::new(
        func.clone().unbind(),
        name,
        dim,
        sde.get().0,
        batch_size,
        float32,
        failure.clone(),
    );
    let inner: Arc<dyn ScoreModel> = match vjp {
        Some(v) => Arc::new(PyScoreVjp::new(score, v.clone().unbind())),
        None => Arc::new(score),
    };
    Ok(Model {
        failure: Some(failure),
        ..Model::new(inner)
    })
}
