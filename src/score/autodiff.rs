//! Scores and their derivatives for the candle networks ([`MlpScoreNet`](super::mlp::MlpScoreNet),
//! [`SkipMlpScoreNet`](super::pytorch::SkipMlpScoreNet)), read in data coordinates.
//!
//! A network works in model coordinates y = (x − c)/scale (see [`Frame`]) and in f32. Its score
//! s_y maps back as s_x = s_y/scale, so ∇ₓs_x = ∇_y s_y/scale² and vᵀ∇ₓs_x = vᵀ∇_y s_y/scale²;
//! the derivatives come from candle's reverse mode.

use super::tensor::{mat_to_tensor, tensor_to_mat};
use crate::error::{Error, Result};
use crate::sde::Frame;
use candle_core::{Device, Tensor, Var};
use faer::{Mat, MatRef};

/// Data points x (n×D) as an f32 tensor of model coordinates y = (x − c)/scale on `device`.
fn to_model(frame: &Frame, x: MatRef<'_, f64>, device: &Device) -> Result<Tensor> {
    let y = Mat::from_fn(x.nrows(), x.ncols(), |i, j| {
        (x[(i, j)] - frame.center_at(j)) / frame.scale
    });
    mat_to_tensor(y.as_ref(), device)
}

/// The scores s_x at every row of x at time t, from a network's score `score_y(y, ts)` in model
/// coordinates at per-row times.
pub(crate) fn score(
    frame: &Frame,
    device: &Device,
    x: MatRef<'_, f64>,
    t: f64,
    score_y: impl Fn(&Tensor, &[f64]) -> Result<Tensor>,
) -> Result<Mat<f64>> {
    let y = to_model(frame, x, device)?;
    let s = score_y(&y, &vec![t; x.nrows()])?;
    // s_x = s_y/scale
    tensor_to_mat(&(s / frame.scale)?)
}

/// The score Jacobians ∇ₓs(xᵢ, t), one D×D matrix per row of x (see [`score`] for `score_y`).
pub(crate) fn jacobians(
    frame: &Frame,
    device: &Device,
    x: MatRef<'_, f64>,
    t: f64,
    score_y: impl Fn(&Tensor, &[f64]) -> Result<Tensor>,
) -> Result<Vec<Mat<f64>>> {
    let (n, d) = (x.nrows(), x.ncols());
    let y = Var::from_tensor(&to_model(frame, x, device)?)?;
    let s = score_y(y.as_tensor(), &vec![t; n])?;
    let scale2 = frame.scale * frame.scale;
    let mut jac = vec![Mat::<f64>::zeros(d, d); n];
    // row a of every point's Jacobian from one backward pass of Σᵢ s_a(yᵢ)
    for a in 0..d {
        let grads = s.narrow(1, a, 1)?.sum_all()?.backward()?;
        let g = tensor_to_mat(input_gradient(&grads, &y)?)?;
        for (i, j) in jac.iter_mut().enumerate() {
            for b in 0..d {
                j[(a, b)] = g[(i, b)] / scale2;
            }
        }
    }
    Ok(jac)
}

/// The products vᵢᵀ∇ₓs(xᵢ, t) for every row, by one backward pass of Σᵢ vᵢ·s(xᵢ, t) (see
/// [`score`] for `score_y`).
pub(crate) fn vjp(
    frame: &Frame,
    device: &Device,
    x: MatRef<'_, f64>,
    t: f64,
    v: MatRef<'_, f64>,
    score_y: impl Fn(&Tensor, &[f64]) -> Result<Tensor>,
) -> Result<Mat<f64>> {
    // named here, for every network, rather than left to candle's broadcast error
    crate::check::check_dim(x.nrows(), v.nrows(), "cotangent rows")?;
    crate::check::check_dim(x.ncols(), v.ncols(), "cotangent columns")?;
    let y = Var::from_tensor(&to_model(frame, x, device)?)?;
    let s = score_y(y.as_tensor(), &vec![t; x.nrows()])?;
    let grads = (s * mat_to_tensor(v, device)?)?.sum_all()?.backward()?;
    let g = input_gradient(&grads, &y)?;
    let scale2 = frame.scale * frame.scale;
    tensor_to_mat(&(g / scale2)?)
}

/// The gradient with respect to the network input y.
fn input_gradient<'a>(grads: &'a candle_core::backprop::GradStore, y: &Var) -> Result<&'a Tensor> {
    grads
        .get(y.as_tensor())
        .ok_or_else(|| Error::Numerical("no gradient for the input".into()))
}

/// The [`ScoreModel`](super::ScoreModel) methods the candle score networks share, for their
/// `impl ScoreModel` blocks: `dim`, `sde`, `frame`, `score`, `score_jacobians` and `describe`.
///
/// The network needs a `config` with `dim`, `sde` and `frame`, a `device`, an `origin` (the file
/// it was loaded from), `fused` (the [fused engine](super::fused), used when present),
/// `score_tensor(y, ts)` (the score in model coordinates) and `description()`; `$context` names
/// the model in dimension errors.
macro_rules! network_score_methods {
    ($context:literal) => {
        fn dim(&self) -> usize {
            self.config.dim
        }

        fn sde(&self) -> &$crate::sde::Sde {
            &self.config.sde
        }

        fn frame(&self) -> Option<&$crate::sde::Frame> {
            Some(&self.config.frame)
        }

        fn score(&self, x: faer::MatRef<'_, f64>, t: f64) -> $crate::error::Result<faer::Mat<f64>> {
            $crate::check::check_dim(self.dim(), x.ncols(), $context)?;
            if let Some(f) = &self.fused {
                return f.score(x, t);
            }
            $crate::score::autodiff::score(&self.config.frame, &self.device, x, t, |y, ts| {
                self.score_tensor(y, ts)
            })
        }

        fn score_jacobians(
            &self,
            x: faer::MatRef<'_, f64>,
            t: f64,
        ) -> $crate::error::Result<Vec<faer::Mat<f64>>> {
            $crate::check::check_dim(self.dim(), x.ncols(), $context)?;
            if let Some(f) = &self.fused {
                return f.jacobians(x, t);
            }
            $crate::score::autodiff::jacobians(&self.config.frame, &self.device, x, t, |y, ts| {
                self.score_tensor(y, ts)
            })
        }

        #[allow(clippy::type_complexity)]
        fn score_and_jvps(
            &self,
            x: faer::MatRef<'_, f64>,
            t: f64,
            v: faer::MatRef<'_, f64>,
        ) -> $crate::error::Result<Option<(faer::Mat<f64>, faer::Mat<f64>)>> {
            $crate::check::check_dim(self.dim(), x.ncols(), $context)?;
            match &self.fused {
                Some(f) => f.score_and_jvps(x, t, v).map(Some),
                None => Ok(None),
            }
        }

        fn describe(&self) -> String {
            let from = self
                .origin
                .as_ref()
                .map(|p| format!(" from {}", p.display()));
            format!("{}{}", self.description(), from.unwrap_or_default())
        }
    };
}
pub(crate) use network_score_methods;

#[cfg(test)]
pub(crate) mod tests {
    use crate::score::ScoreModel;
    use faer::Mat;

    /// Checks a 3-dimensional network's autodiff Jacobians at t against central differences of
    /// its score (the oracle), and its vector–Jacobian products against those Jacobians.
    pub(crate) fn check_derivatives(net: &dyn ScoreModel, t: f64, label: &str) {
        let x = Mat::from_fn(2, 3, |i, j| 0.2 * i as f64 - 0.1 * j as f64);
        let jac = net.score_jacobians(x.as_ref(), t).unwrap();
        let h = 1e-2;
        for b in 0..3 {
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp[(1, b)] += h;
            xm[(1, b)] -= h;
            let (sp, sm) = (
                net.score(xp.as_ref(), t).unwrap(),
                net.score(xm.as_ref(), t).unwrap(),
            );
            for a in 0..3 {
                let fd = (sp[(1, a)] - sm[(1, a)]) / (2.0 * h);
                assert!(
                    (fd - jac[1][(a, b)]).abs() < 2e-3 * (1.0 + fd.abs()),
                    "{label} {a}{b}: {fd} vs {}",
                    jac[1][(a, b)]
                );
            }
        }
        let v = Mat::from_fn(2, 3, |i, j| i as f64 - 0.5 * j as f64);
        let vjp = net.score_vjp(x.as_ref(), t, v.as_ref()).unwrap();
        for b in 0..3 {
            let want: f64 = (0..3).map(|a| v[(1, a)] * jac[1][(a, b)]).sum();
            assert!(
                (vjp[(1, b)] - want).abs() < 1e-4 * (1.0 + want.abs()),
                "{label} vjp {b}: {} vs {want}",
                vjp[(1, b)]
            );
        }
    }
}
