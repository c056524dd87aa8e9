//! Forward SDEs and their Gaussian marginals p_t(x | x₀) = N(α(t) x₀, σ(t)² I).
//!
//! - VE (variance exploding): α = 1, σ(t) = σ_min (σ_max/σ_min)^t.
//! - VP (variance preserving): β(t) = β_min + t(β_max − β_min), α(t) = exp(−½∫₀ᵗβ), σ² = 1 − α².
//! - sub-VP: α as for VP, σ = 1 − α².
//!
//! ```
//! use scoregeo::sde::Sde;
//! let vp = Sde::vp_default();
//! let m = vp.marginal(0.5);
//! assert!((m.alpha * m.alpha + m.sigma * m.sigma - 1.0).abs() < 1e-12);
//! ```

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// A forward diffusion with a Gaussian perturbation kernel.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Sde {
    /// Variance exploding: x_t = x₀ + σ(t) z.
    Ve {
        /// σ at t = 0.
        sigma_min: f64,
        /// σ at t = 1 (at least the data diameter).
        sigma_max: f64,
    },
    /// Variance preserving: x_t = α(t) x₀ + σ(t) z with α² + σ² = 1.
    Vp {
        /// β at t = 0.
        beta_min: f64,
        /// β at t = 1.
        beta_max: f64,
    },
    /// Sub-variance preserving: α as VP, σ = 1 − α².
    SubVp {
        /// β at t = 0.
        beta_min: f64,
        /// β at t = 1.
        beta_max: f64,
    },
}

/// An SDE family without its parameters: what an override, a description file or a training recipe
/// names (`ve`, `vp`, `subvp`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SdeKind {
    /// Variance exploding (σ_min, σ_max).
    Ve,
    /// Variance preserving (β_min, β_max).
    Vp,
    /// Sub-variance preserving (β_min, β_max).
    SubVp,
}

impl SdeKind {
    /// The name: `ve`, `vp` or `subvp`.
    pub fn name(self) -> &'static str {
        match self {
            SdeKind::Ve => "ve",
            SdeKind::Vp => "vp",
            SdeKind::SubVp => "subvp",
        }
    }
}

impl std::fmt::Display for SdeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for SdeKind {
    type Err = Error;

    /// Parses `ve`, `vp` or `subvp` (also `vesde`, `vpsde`, `sub-vp`, `subvpsde`), any case.
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "ve" | "vesde" => Ok(SdeKind::Ve),
            "vp" | "vpsde" => Ok(SdeKind::Vp),
            "subvp" | "sub-vp" | "subvpsde" => Ok(SdeKind::SubVp),
            _ => Err(Error::param(
                "sde",
                format!("`{s}`: expected ve, vp or subvp"),
            )),
        }
    }
}

/// The marginal coefficients at one time: x_t = α x₀ + σ z.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Marginal {
    /// Mean coefficient α(t).
    pub alpha: f64,
    /// Standard deviation σ(t).
    pub sigma: f64,
}

impl Sde {
    /// VE with σ_min = 0.01 and the given σ_max.
    pub fn ve(sigma_max: f64) -> Self {
        Sde::Ve {
            sigma_min: 0.01,
            sigma_max,
        }
    }

    /// VP with β_min = 0.1, β_max = 20.
    pub fn vp_default() -> Self {
        Sde::Vp {
            beta_min: 0.1,
            beta_max: 20.0,
        }
    }

    /// Checks the parameters (positive, ordered, finite).
    pub fn check(&self) -> Result<()> {
        let (lo, hi, name) = match *self {
            Sde::Ve {
                sigma_min,
                sigma_max,
            } => (sigma_min, sigma_max, "sigma"),
            Sde::Vp { beta_min, beta_max } | Sde::SubVp { beta_min, beta_max } => {
                (beta_min, beta_max, "beta")
            }
        };
        if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && hi >= lo) {
            return Err(Error::param(
                "sde",
                format!("need 0 < {name}_min ≤ {name}_max, got {lo} and {hi}"),
            ));
        }
        Ok(())
    }

    /// The family.
    pub fn kind(&self) -> SdeKind {
        match self {
            Sde::Ve { .. } => SdeKind::Ve,
            Sde::Vp { .. } => SdeKind::Vp,
            Sde::SubVp { .. } => SdeKind::SubVp,
        }
    }

    /// Short name: `ve`, `vp` or `subvp`.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// ∫₀ᵗ β(s) ds for the VP family.
    fn integrated_beta(beta_min: f64, beta_max: f64, t: f64) -> f64 {
        beta_min * t + 0.5 * t * t * (beta_max - beta_min)
    }

    /// α(t) and σ(t).
    pub fn marginal(&self, t: f64) -> Marginal {
        match *self {
            Sde::Ve {
                sigma_min,
                sigma_max,
            } => Marginal {
                alpha: 1.0,
                sigma: sigma_min * (sigma_max / sigma_min).powf(t),
            },
            Sde::Vp { beta_min, beta_max } => {
                let b = Self::integrated_beta(beta_min, beta_max, t);
                // σ² = 1 − e^{−b}, computed with expm1 to keep precision at small t
                Marginal {
                    alpha: (-0.5 * b).exp(),
                    sigma: (-(-b).exp_m1()).sqrt(),
                }
            }
            Sde::SubVp { beta_min, beta_max } => {
                let b = Self::integrated_beta(beta_min, beta_max, t);
                Marginal {
                    alpha: (-0.5 * b).exp(),
                    sigma: -(-b).exp_m1(),
                }
            }
        }
    }

    /// The time at which σ(t) equals `sigma` (inverse of the marginal standard deviation).
    pub fn time_for_sigma(&self, sigma: f64) -> Result<f64> {
        self.time_for_scaled_sigma(sigma, 1.0)
    }

    /// The time at which `scale`·σ(t) equals `sigma`: the inverse for a model whose coordinates
    /// are the data's divided by `scale` (a [`Frame`]), with `sigma` and the range in errors
    /// stated in data units, as the user gave them.
    pub fn time_for_scaled_sigma(&self, sigma: f64, scale: f64) -> Result<f64> {
        let bad = |why: String| Error::param("sigma", why);
        if !(sigma > 0.0 && sigma.is_finite()) {
            return Err(bad(format!("must be positive, got {sigma}")));
        }
        if !(scale > 0.0 && scale.is_finite()) {
            return Err(bad(format!("the model's scale {scale} is not positive")));
        }
        let data_sigma = sigma;
        let sigma = sigma / scale;
        let t = match *self {
            Sde::Ve {
                sigma_min,
                sigma_max,
            } => {
                if sigma_max == sigma_min {
                    return Err(bad("a VE SDE with σ_min = σ_max has one σ only".into()));
                }
                (sigma / sigma_min).ln() / (sigma_max / sigma_min).ln()
            }
            Sde::Vp { beta_min, beta_max } | Sde::SubVp { beta_min, beta_max } => {
                // ∫β = b solves σ² = 1 − e^{−b} (VP) or σ = 1 − e^{−b} (sub-VP)
                let one_minus = if matches!(self, Sde::Vp { .. }) {
                    sigma * sigma
                } else {
                    sigma
                };
                if one_minus >= 1.0 {
                    return Err(bad(format!(
                        "σ = {data_sigma} is beyond this SDE's range (< {scale})"
                    )));
                }
                let b = -(-one_minus).ln_1p();
                let a = 0.5 * (beta_max - beta_min);
                if a == 0.0 {
                    b / beta_min
                } else {
                    (-beta_min + (beta_min * beta_min + 4.0 * a * b).sqrt()) / (2.0 * a)
                }
            }
        };
        if !(0.0..=1.0).contains(&t) {
            let m0 = scale * self.marginal(0.0).sigma;
            let m1 = scale * self.marginal(1.0).sigma;
            let units = if scale == 1.0 { "" } else { " in data units" };
            return Err(bad(format!(
                "σ = {data_sigma} lies outside [{m0:.3e}, {m1:.3e}], the range of this SDE{units}"
            )));
        }
        Ok(t)
    }

    /// The default small time t₀ for intrinsic-dimension estimation: σ(t₀) ≈ 0.01 for the defaults.
    pub fn default_t0(&self) -> f64 {
        1e-3
    }

    /// Score of the perturbation kernel, −(x_t − α x₀)/σ², given the noise z: it equals −z/σ.
    pub fn kernel_score(&self, z: f64, t: f64) -> f64 {
        -z / self.marginal(t).sigma
    }
}

/// An affine frame between data coordinates x and model coordinates y = (x − center)/scale.
///
/// A model trained on standardised data diffuses in y; in data coordinates the forward kernel is
/// x_t = c + α(x₀ − c) + scale·σ z and the score is s_y/scale.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    /// Data mean subtracted before the model (empty for none).
    #[serde(default)]
    pub center: Vec<f64>,
    /// Isotropic scale (one number keeps the geometry conformal).
    pub scale: f64,
}

impl Default for Frame {
    fn default() -> Self {
        Frame {
            center: Vec::new(),
            scale: 1.0,
        }
    }
}

impl Frame {
    /// The center coordinate j (0 when there is no center).
    pub fn center_at(&self, j: usize) -> f64 {
        self.center.get(j).copied().unwrap_or(0.0)
    }
}

/// The forward kernel of a model at one time in data coordinates: mean(x₀) = α x₀ + (1 − α) c, std.
#[derive(Clone, Debug, PartialEq)]
pub struct Kernel {
    /// Mean coefficient α(t).
    pub alpha: f64,
    /// Standard deviation in data units, scale·σ(t).
    pub std: f64,
    /// (1 − α)·center, added to α x₀ to give the mean.
    pub shift: Vec<f64>,
}

impl Kernel {
    /// The kernel of `sde` seen through `frame` at time t.
    pub fn new(sde: &Sde, frame: &Frame, t: f64) -> Self {
        let m = sde.marginal(t);
        Kernel {
            alpha: m.alpha,
            std: frame.scale * m.sigma,
            shift: frame.center.iter().map(|c| (1.0 - m.alpha) * c).collect(),
        }
    }

    /// The mean α x₀ + shift, written into `out`.
    pub fn mean_into(&self, x0: &[f64], out: &mut [f64]) {
        for (j, (o, x)) in out.iter_mut().zip(x0).enumerate() {
            *o = self.alpha * x + self.shift.get(j).copied().unwrap_or(0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ve_endpoints() {
        let s = Sde::Ve {
            sigma_min: 0.01,
            sigma_max: 50.0,
        };
        assert!((s.marginal(0.0).sigma - 0.01).abs() < 1e-15);
        assert!((s.marginal(1.0).sigma - 50.0).abs() < 1e-12);
        assert_eq!(s.marginal(0.3).alpha, 1.0);
    }

    #[test]
    fn vp_matches_closed_form() {
        let s = Sde::vp_default();
        let t = 0.37;
        let b = 0.1 * t + 0.5 * t * t * 19.9;
        let m = s.marginal(t);
        assert!((m.alpha - (-0.5 * b).exp()).abs() < 1e-14);
        assert!((m.sigma - (1.0 - (-b).exp()).sqrt()).abs() < 1e-14);
        // small-t precision: σ² ≈ β_min t
        let m = s.marginal(1e-9);
        assert!((m.sigma * m.sigma / (0.1 * 1e-9) - 1.0).abs() < 1e-6);
        let sub = Sde::SubVp {
            beta_min: 0.1,
            beta_max: 20.0,
        }
        .marginal(t);
        assert!((sub.sigma - (1.0 - (-b).exp())).abs() < 1e-14);
    }

    #[test]
    fn time_for_sigma_inverts_marginal() {
        for sde in [
            Sde::ve(20.0),
            Sde::vp_default(),
            Sde::SubVp {
                beta_min: 0.1,
                beta_max: 20.0,
            },
        ] {
            for t in [1e-4, 0.01, 0.3, 0.9] {
                let back = sde.time_for_sigma(sde.marginal(t).sigma).unwrap();
                assert!((back - t).abs() < 1e-9 * (1.0 + t), "{sde:?} {t} {back}");
            }
        }
        assert!(Sde::ve(20.0).time_for_sigma(1e-4).is_err());
        // a model in units 4.5× the data's: the user's σ and the range stay in data units
        let sde = Sde::Ve {
            sigma_min: 0.02,
            sigma_max: 2.0,
        };
        let t = sde.time_for_scaled_sigma(0.9, 4.5).unwrap();
        assert!((sde.marginal(t).sigma - 0.2).abs() < 1e-12);
        let e = sde
            .time_for_scaled_sigma(0.01, 4.5)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("σ = 0.01 lies outside [9.000e-2, 9.000e0]") && e.contains("data units"),
            "{e}"
        );
        let e = Sde::vp_default()
            .time_for_scaled_sigma(3.0, 2.0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("σ = 3 is beyond this SDE's range (< 2)"), "{e}");
        assert!(Sde::vp_default().time_for_sigma(1.5).is_err());
    }

    #[test]
    fn check_rejects_bad_parameters() {
        assert!(Sde::Ve {
            sigma_min: 0.0,
            sigma_max: 1.0
        }
        .check()
        .is_err());
        assert!(Sde::Vp {
            beta_min: 5.0,
            beta_max: 1.0
        }
        .check()
        .is_err());
        assert!(Sde::vp_default().check().is_ok());
    }

    #[test]
    fn kernel_in_data_frame() {
        let frame = Frame {
            center: vec![1.0, -2.0],
            scale: 3.0,
        };
        let k = Kernel::new(&Sde::vp_default(), &frame, 0.5);
        let m = Sde::vp_default().marginal(0.5);
        let mut out = [0.0; 2];
        k.mean_into(&[4.0, 4.0], &mut out);
        // x = c + α(x₀ − c) in data coordinates
        assert!((out[0] - (1.0 + m.alpha * 3.0)).abs() < 1e-12);
        assert!((out[1] - (-2.0 + m.alpha * 6.0)).abs() < 1e-12);
        assert!((k.std - 3.0 * m.sigma).abs() < 1e-12);
    }
}
