//! Score models s(x, t) ≈ ∇ₓ log p_t(x), evaluated in batches (rows are points).
//!
//! Implementations: [`analytic`] oracles with exact scores (Gaussians on affine subspaces,
//! isotropic Gaussian mixtures), [`mlp`] networks in candle, and networks trained in PyTorch
//! ([`pytorch`]), all loaded by [`load`] (or [`Loader`], for overrides). Scores are returned in data
//! coordinates and f64; networks compute in f32 internally.

pub mod analytic;
mod autodiff;
pub(crate) mod fused;
pub mod mlp;
pub mod pytorch;
pub mod tensor;

use crate::check::check_dim;
use crate::error::{Error, Result};
use crate::io::ModelFile;
use crate::sde::{Frame, Kernel, Sde, SdeKind};
use faer::{Mat, MatRef};
use std::path::{Path, PathBuf};

/// Loads any model file with the defaults of [`Loader`]: a native safetensors model, or a
/// PyTorch checkpoint whose description file (or layout convention) says what its weights cannot.
pub fn load(path: impl AsRef<Path>) -> Result<Box<dyn ScoreModel>> {
    Loader::new(path).load()
}

/// Loads a model file, completing a PyTorch checkpoint with what its weights cannot say (the
/// SDE, how time enters, what the output means) and choosing the device
/// ([`mlp::default_device`] unless set).
///
/// A PyTorch checkpoint (`.pt`, `.pth`, `.ckpt`; see [`pytorch`]) takes the overrides; a native
/// safetensors file ([`mlp::MlpScoreNet`] or [`pytorch::SkipMlpScoreNet`], told apart by their
/// config metadata) fixes them in its config and rejects any.
///
/// ```
/// use scoregeo::score::{Loader, ScoreModel};
/// use scoregeo::sde::SdeKind;
///
/// let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pytorch/patch8d_model.pth");
/// let model = Loader::new(fixture).sde(SdeKind::Ve).sigma_max(4.0).time_scale(999.0).load()?;
/// assert_eq!(model.dim(), 8);
/// // what it cannot say is an error naming the parameter to give
/// let err = scoregeo::score::load(fixture).err().unwrap().to_string();
/// assert!(err.contains("`time_scale`"), "{err}");
/// # Ok::<(), scoregeo::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Loader {
    path: PathBuf,
    overrides: pytorch::Overrides,
    device: Option<candle_core::Device>,
}

impl Loader {
    /// A loader for the model file `path`, with no overrides and the default device.
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_path_buf(),
            overrides: pytorch::Overrides::default(),
            device: None,
        }
    }

    /// The SDE family of a PyTorch checkpoint.
    pub fn sde(mut self, kind: SdeKind) -> Self {
        self.overrides.sde = Some(kind);
        self
    }

    /// σ_min of a VE SDE (PyTorch checkpoints; default 0.01).
    pub fn sigma_min(mut self, sigma_min: f64) -> Self {
        self.overrides.sigma_min = Some(sigma_min);
        self
    }

    /// σ_max of a VE SDE (PyTorch checkpoints).
    pub fn sigma_max(mut self, sigma_max: f64) -> Self {
        self.overrides.sigma_max = Some(sigma_max);
        self
    }

    /// β_min of a VP SDE (PyTorch checkpoints; default 0.1).
    pub fn beta_min(mut self, beta_min: f64) -> Self {
        self.overrides.beta_min = Some(beta_min);
        self
    }

    /// β_max of a VP SDE (PyTorch checkpoints; default 20).
    pub fn beta_max(mut self, beta_max: f64) -> Self {
        self.overrides.beta_max = Some(beta_max);
        self
    }

    /// S such that the network sees S·t: 1 for t itself, 999 for the official ID code.
    pub fn time_scale(mut self, scale: f64) -> Self {
        self.overrides.time_scale = Some(scale);
        self
    }

    /// What a PyTorch network outputs.
    pub fn prediction(mut self, prediction: mlp::Prediction) -> Self {
        self.overrides.prediction = Some(prediction);
        self
    }

    /// Every override at once.
    pub fn overrides(mut self, overrides: pytorch::Overrides) -> Self {
        self.overrides = overrides;
        self
    }

    /// The device the network runs on.
    pub fn device(mut self, device: candle_core::Device) -> Self {
        self.device = Some(device);
        self
    }

    /// Loads the model.
    pub fn load(&self) -> Result<Box<dyn ScoreModel>> {
        let path = self.path.as_path();
        let device = self.device.clone().unwrap_or_else(mlp::default_device);
        let kind = ModelFile::sniff(path)?;
        if kind == ModelFile::PyTorch {
            return Ok(Box::new(pytorch::load(path, &self.overrides, &device)?));
        }
        if !self.overrides.is_empty() {
            return Err(Error::param(
                "model",
                format!(
                    "`sde`, `sigma_*`, `beta_*`, `time_scale` and `prediction` complete PyTorch \
                     checkpoints; {} is a native model whose config fixes them",
                    path.display()
                ),
            ));
        }
        Ok(match kind {
            ModelFile::SkipMlp => Box::new(pytorch::SkipMlpScoreNet::load(path, &device)?),
            _ => Box::new(mlp::MlpScoreNet::load(path, &device)?),
        })
    }
}

/// Where a score is read: at a diffusion time t₀, or at the time whose forward kernel has
/// standard deviation σ in data units (whatever frame the model standardised the data with).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NoiseLevel {
    /// The diffusion time t₀ itself.
    Time(f64),
    /// The kernel standard deviation σ in data units.
    Sigma(f64),
}

impl NoiseLevel {
    /// The diffusion time of this level for `model` (σ through the inverse of the model's
    /// marginal, in model units σ/scale).
    pub fn t0(self, model: &dyn ScoreModel) -> Result<f64> {
        match self {
            NoiseLevel::Time(t0) => Ok(t0),
            NoiseLevel::Sigma(sigma) => {
                let scale = model.frame().map_or(1.0, |f| f.scale);
                model.sde().time_for_scaled_sigma(sigma, scale)
            }
        }
    }
}

/// A (possibly learned) score function of a diffusion, batched over points.
pub trait ScoreModel: Send + Sync {
    /// Ambient dimension D.
    fn dim(&self) -> usize;

    /// The forward SDE the model belongs to (in model coordinates, see [`ScoreModel::frame`]).
    fn sde(&self) -> &Sde;

    /// The affine frame between data and model coordinates; `None` when they coincide.
    fn frame(&self) -> Option<&Frame> {
        None
    }

    /// The forward kernel at time t in data coordinates.
    fn kernel(&self, t: f64) -> Kernel {
        match self.frame() {
            Some(f) => Kernel::new(self.sde(), f, t),
            None => Kernel::new(self.sde(), &Frame::default(), t),
        }
    }

    /// s(xᵢ, t) for every row xᵢ of `x` (n×D), as an n×D matrix in data coordinates.
    fn score(&self, x: MatRef<'_, f64>, t: f64) -> Result<Mat<f64>>;

    /// The score Jacobians ∇ₓs(xᵢ, t), one D×D matrix per row (entry (a, b) = ∂s_a/∂x_b).
    ///
    /// The default takes central differences with one batched evaluation of 2·n·D points, with a
    /// step of 10⁻³ of the kernel's standard deviation; networks override it with autodiff.
    fn score_jacobians(&self, x: MatRef<'_, f64>, t: f64) -> Result<Vec<Mat<f64>>> {
        check_dim(self.dim(), x.ncols(), "score model")?;
        let (n, d) = (x.nrows(), x.ncols());
        let h = 1e-3 * self.kernel(t).std.max(1e-12);
        let probes = Mat::from_fn(2 * n * d, d, |r, c| {
            let (i, rem) = (r / (2 * d), r % (2 * d));
            let (j, sign) = (rem / 2, if rem % 2 == 0 { 1.0 } else { -1.0 });
            x[(i, c)] + if c == j { sign * h } else { 0.0 }
        });
        let s = self.score(probes.as_ref(), t)?;
        Ok((0..n)
            .map(|i| {
                Mat::from_fn(d, d, |a, b| {
                    let r = i * 2 * d + 2 * b;
                    (s[(r, a)] - s[(r + 1, a)]) / (2.0 * h)
                })
            })
            .collect())
    }

    /// Vector–Jacobian products vᵢᵀ∇ₓs(xᵢ, t) for every row (the gradient of Σᵢ vᵢ·s(xᵢ, t)).
    ///
    /// The default contracts [`ScoreModel::score_jacobians`]; networks override it with one
    /// backward pass.
    fn score_vjp(&self, x: MatRef<'_, f64>, t: f64, v: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_dim(x.nrows(), v.nrows(), "cotangent rows")?;
        check_dim(x.ncols(), v.ncols(), "cotangent columns")?;
        let jac = self.score_jacobians(x, t)?;
        let d = x.ncols();
        Ok(Mat::from_fn(x.nrows(), d, |i, b| {
            (0..d).map(|a| v[(i, a)] * jac[i][(a, b)]).sum()
        }))
    }

    /// The scores s(xᵢ, t) (n × D) and the Jacobian–vector products ∇ₓs(xᵢ, t)·v for m
    /// directions per row — row k·n + i of `v` ((m·n) × D) is direction k of point i, and the
    /// products come in the same layout — when the model has them exactly and cheaply (one
    /// forward pass and one tangent pass for all directions, as the fused MLPs do).
    ///
    /// `None` (the default) means it has not: a caller then takes differences of
    /// [`ScoreModel::score`] or calls [`ScoreModel::score_vjp`]. A model answers `Some` for every
    /// input or for none, zero rows included, so a caller may ask with zero rows whether it has
    /// them (FLIPD does, to record the derivative it used).
    #[allow(clippy::type_complexity)]
    fn score_and_jvps(
        &self,
        x: MatRef<'_, f64>,
        t: f64,
        v: MatRef<'_, f64>,
    ) -> Result<Option<(Mat<f64>, Mat<f64>)>> {
        let _ = (x, t, v);
        Ok(None)
    }

    /// One line describing the model (architecture, SDE, parameterisation).
    fn describe(&self) -> String;
}

impl<M: ScoreModel + ?Sized> ScoreModel for Box<M> {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn sde(&self) -> &Sde {
        (**self).sde()
    }
    fn frame(&self) -> Option<&Frame> {
        (**self).frame()
    }
    fn kernel(&self, t: f64) -> Kernel {
        (**self).kernel(t)
    }
    fn score(&self, x: MatRef<'_, f64>, t: f64) -> Result<Mat<f64>> {
        (**self).score(x, t)
    }
    fn score_jacobians(&self, x: MatRef<'_, f64>, t: f64) -> Result<Vec<Mat<f64>>> {
        (**self).score_jacobians(x, t)
    }
    fn score_vjp(&self, x: MatRef<'_, f64>, t: f64, v: MatRef<'_, f64>) -> Result<Mat<f64>> {
        (**self).score_vjp(x, t, v)
    }
    fn score_and_jvps(
        &self,
        x: MatRef<'_, f64>,
        t: f64,
        v: MatRef<'_, f64>,
    ) -> Result<Option<(Mat<f64>, Mat<f64>)>> {
        (**self).score_and_jvps(x, t, v)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}
