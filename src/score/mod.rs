//! Score models s(x, t) ≈ ∇ₓ log p_t(x), evaluated in batches (rows are points).
//!
//! Implementations: [`analytic`] oracles with exact scores (Gaussians on affine subspaces,
//! isotropic Gaussian mixtures), [`mlp`] networks in candle, and networks trained in PyTorch
//! ([`pytorch`]), all loaded by [`load_score_model`]. Scores are returned in data
//! coordinates and f64; networks compute in f32 internally.

pub mod analytic;
mod autodiff;
pub mod mlp;
pub mod pytorch;
pub mod tensor;

use crate::check::check_dim;
use crate::error::{Error, Result};
use crate::io::ModelFile;
use crate::sde::{Frame, Kernel, Sde};
use faer::{Mat, MatRef};

/// Loads any model file: a PyTorch checkpoint (`.pt`, `.pth`, `.ckpt`; see [`pytorch`]) completed
/// by `overrides`, or a native safetensors file ([`mlp::MlpScoreNet`] or
/// [`pytorch::SkipMlpScoreNet`], told apart by their config metadata).
pub fn load_score_model(
    path: &std::path::Path,
    overrides: &pytorch::Overrides,
    device: &candle_core::Device,
) -> Result<Box<dyn ScoreModel>> {
    let kind = ModelFile::sniff(path)?;
    if kind == ModelFile::PyTorch {
        return Ok(Box::new(pytorch::load(path, overrides, device)?));
    }
    if !overrides.is_empty() {
        return Err(Error::param(
            "model",
            format!(
                "--sde, --sigma-*, --beta-*, --time-scale and --prediction complete PyTorch checkpoints; \
                 {} is a native model whose config fixes them",
                path.display()
            ),
        ));
    }
    Ok(match kind {
        ModelFile::SkipMlp => Box::new(pytorch::SkipMlpScoreNet::load(path, device)?),
        _ => Box::new(mlp::MlpScoreNet::load(path, device)?),
    })
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
                model.sde().time_for_sigma(sigma / scale)
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
    fn describe(&self) -> String {
        (**self).describe()
    }
}
