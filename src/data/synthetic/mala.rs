//! The banana and river densities of Diepeveen, Batzolis, Shumaylov, Schönlieb, *Score-based
//! pullback Riemannian geometry* (2024), and the Metropolis-adjusted Langevin algorithm (MALA)
//! that samples them.
//!
//! Both are p(x) ∝ exp(−½ φ(x)ᵀA⁻¹φ(x)) on ℝ² with A = diag(a₁, a₂) and a shear
//! φ(x) = (x₁ − f(x₂), x₂). The shear has unit Jacobian determinant, so φ(x) ~ N(0, A) exactly
//! when x ~ p: the moments of φ over the samples test the sampler.

use super::{fixed, Kind, Params, Sample, TrueId, CHAIN_STREAMS};
use crate::error::{Error, Result};
use crate::rng::stream;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde_json::json;

/// The acceptance rate MALA's step size is tuned to during burn-in (Roberts & Rosenthal 1998).
const TARGET_ACCEPTANCE: f64 = 0.574;

/// The curve x₁ = f(x₂) a shear φ(x) = (x₁ − f(x₂), x₂, …) bends along: the one definition of the
/// banana and river shears, for the sheared Gaussians sampled here and the
/// [`Shear`](crate::geometry::Shear) diffeomorphism of the pullback geometry.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ShearProfile {
    /// f(u) = κu² (the banana: κ = 1/9).
    Parabola {
        /// κ.
        curvature: f64,
    },
    /// f(u) = A sin(ωu) (the river: A = 1, ω = 2).
    Sine {
        /// A.
        amplitude: f64,
        /// ω.
        frequency: f64,
    },
}

impl ShearProfile {
    /// The banana of the pullback paper: f(u) = u²/9.
    pub const BANANA: ShearProfile = ShearProfile::Parabola {
        curvature: 1.0 / 9.0,
    };

    /// The river of the pullback paper: f(u) = sin 2u.
    pub const RIVER: ShearProfile = ShearProfile::Sine {
        amplitude: 1.0,
        frequency: 2.0,
    };

    /// (f(u), f′(u), f″(u)).
    pub fn eval(&self, u: f64) -> (f64, f64, f64) {
        match *self {
            ShearProfile::Parabola { curvature: k } => (k * u * u, 2.0 * k * u, 2.0 * k),
            ShearProfile::Sine {
                amplitude: a,
                frequency: w,
            } => {
                let (s, c) = (w * u).sin_cos();
                (a * s, a * w * c, -a * w * w * s)
            }
        }
    }
}

/// A sheared Gaussian on ℝ²: p(x) ∝ exp(−½ φ(x)ᵀA⁻¹φ(x)) with φ(x) = (x₁ − f(x₂), x₂) and
/// A = diag(a₁, a₂). φ is a volume-preserving diffeomorphism, so φ(x) ~ N(0, A) for x ~ p.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShearedGaussian {
    variances: [f64; 2],
    profile: ShearProfile,
}

impl ShearedGaussian {
    /// The pullback paper's single banana: f(t) = t²/9, a = (1/4, 4).
    pub const BANANA: ShearedGaussian = ShearedGaussian {
        variances: [0.25, 4.0],
        profile: ShearProfile::BANANA,
    };

    /// The pullback paper's river: f(t) = sin 2t, a = (1/25, 3).
    pub const RIVER: ShearedGaussian = ShearedGaussian {
        variances: [1.0 / 25.0, 3.0],
        profile: ShearProfile::RIVER,
    };

    /// The shear profile f.
    pub fn profile(&self) -> ShearProfile {
        self.profile
    }

    /// The diagonal (a₁, a₂) of A.
    pub fn variances(&self) -> [f64; 2] {
        self.variances
    }

    /// φ(x) = (x₁ − f(x₂), x₂).
    pub fn phi(&self, x: [f64; 2]) -> [f64; 2] {
        [x[0] - self.profile.eval(x[1]).0, x[1]]
    }

    /// φ⁻¹(y) = (y₁ + f(y₂), y₂).
    pub fn phi_inverse(&self, y: [f64; 2]) -> [f64; 2] {
        [y[0] + self.profile.eval(y[1]).0, y[1]]
    }

    /// log p(x) up to its constant: −½ φ(x)ᵀA⁻¹φ(x).
    pub fn log_density(&self, x: [f64; 2]) -> f64 {
        let y = self.phi(x);
        -0.5 * (y[0] * y[0] / self.variances[0] + y[1] * y[1] / self.variances[1])
    }

    /// The score ∇log p(x) = −Dφ(x)ᵀA⁻¹φ(x).
    pub fn score(&self, x: [f64; 2]) -> [f64; 2] {
        let (f, df, _) = self.profile.eval(x[1]);
        let u = [(x[0] - f) / self.variances[0], x[1] / self.variances[1]];
        // Dφ = [[1, −f′], [0, 1]]
        [-u[0], df * u[0] - u[1]]
    }
}

/// MALA settings, checked.
#[derive(Clone, Copy, Debug)]
struct Mala {
    step: f64,
    burn_in: usize,
    thin: usize,
    chains: usize,
}

/// What one chain reports.
struct ChainRun {
    samples: Vec<[f64; 2]>,
    accepted: usize,
    proposed: usize,
    step: f64,
}

/// One MALA chain from the origin: proposal y = x + ½h²∇log p(x) + hξ, ξ ~ N(0, I), accepted
/// with probability min(1, p(y)q(x|y) / (p(x)q(y|x))). During burn-in log h moves by
/// (α − 0.574)/t^0.6 after step t (α the acceptance probability), then h is frozen; afterwards
/// every `thin`-th state is kept until `count` samples are collected.
fn run_chain(target: &ShearedGaussian, rng: &mut ChaCha8Rng, mala: Mala, count: usize) -> ChainRun {
    let mut x = [0.0, 0.0];
    let (mut log_p, mut grad) = (target.log_density(x), target.score(x));
    let mut log_h = mala.step.ln();
    let mut samples = Vec::with_capacity(count);
    let (mut accepted, mut proposed) = (0, 0);
    let mut t = 0usize;
    while samples.len() < count {
        t += 1;
        let h = log_h.exp();
        let drift = 0.5 * h * h;
        let y = [
            x[0] + drift * grad[0] + h * rng.sample::<f64, _>(StandardNormal),
            x[1] + drift * grad[1] + h * rng.sample::<f64, _>(StandardNormal),
        ];
        let (log_py, grad_y) = (target.log_density(y), target.score(y));
        // log q(b | a) = −‖b − a − ½h²∇log p(a)‖² / (2h²) + const
        let log_q = |b: [f64; 2], a: [f64; 2], g: [f64; 2]| {
            let e = [b[0] - a[0] - drift * g[0], b[1] - a[1] - drift * g[1]];
            -(e[0] * e[0] + e[1] * e[1]) / (2.0 * h * h)
        };
        let log_ratio = log_py - log_p + log_q(x, y, grad_y) - log_q(y, x, grad);
        let alpha = if log_ratio.is_finite() {
            log_ratio.min(0.0).exp()
        } else {
            0.0
        };
        let accept = rng.random::<f64>() < alpha;
        if accept {
            (x, log_p, grad) = (y, log_py, grad_y);
        }
        if t <= mala.burn_in {
            log_h += (alpha - TARGET_ACCEPTANCE) / (t as f64).powf(0.6);
        } else {
            proposed += 1;
            accepted += usize::from(accept);
            if (t - mala.burn_in) % mala.thin == 0 {
                samples.push(x);
            }
        }
    }
    ChainRun {
        samples,
        accepted,
        proposed,
        step: log_h.exp(),
    }
}

/// Draws n samples with `chains` independent chains (chain c uses its own stream); row i is the
/// (i / chains)-th kept sample of chain i mod chains, so any prefix of the rows mixes all chains.
fn sample_mala(
    target: &ShearedGaussian,
    n: usize,
    seed: u64,
    mala: Mala,
) -> (Vec<f64>, serde_json::Value) {
    let chains = mala.chains.min(n);
    let runs: Vec<ChainRun> = (0..chains)
        .into_par_iter()
        .map(|c| {
            let count = (n - c).div_ceil(chains);
            run_chain(
                target,
                &mut stream(seed, CHAIN_STREAMS + c as u64),
                mala,
                count,
            )
        })
        .collect();
    let values = (0..n)
        .flat_map(|i| runs[i % chains].samples[i / chains])
        .collect();
    let accepted: usize = runs.iter().map(|r| r.accepted).sum();
    let proposed: usize = runs.iter().map(|r| r.proposed).sum();
    let steps: Vec<f64> = runs.iter().map(|r| r.step).collect();
    let details = json!({
        "acceptance_rate": accepted as f64 / proposed.max(1) as f64,
        "step_min": steps.iter().copied().fold(f64::INFINITY, f64::min),
        "step_max": steps.iter().copied().fold(0.0, f64::max),
        "chains": chains,
    });
    (values, details)
}

/// Checks the MALA options and fills in the defaults: h₀ = 0.1 (the pullback paper's step),
/// burn-in 3000, thinning 20, ⌈n/4⌉ chains. The river's slow direction has an autocorrelation
/// time of several hundred steps at the adapted h ≈ 0.2, so independent samples come from many
/// chains with a long burn-in rather than from one long thinned chain.
fn mala_settings(p: &Params) -> Result<Mala> {
    let step = super::positive("step", p.step.unwrap_or(0.1))?;
    let thin = p.thin.unwrap_or(20);
    let chains = p.chains.unwrap_or(p.n.div_ceil(4));
    if thin == 0 {
        return Err(Error::param("thin", "must be at least 1"));
    }
    if chains == 0 {
        return Err(Error::param("chains", "must be at least 1"));
    }
    Ok(Mala {
        step,
        burn_in: p.burn_in.unwrap_or(3000),
        thin,
        chains,
    })
}

/// Shared by `banana` and `river`.
fn sheared(p: &Params, kind: Kind, target: ShearedGaussian, curve: &str) -> Result<Sample> {
    fixed("dim", p.dim, 2, kind)?;
    fixed("ambient", p.ambient, 2, kind)?;
    let mala = mala_settings(p)?;
    if p.check_only {
        return Ok(Sample::checked());
    }
    let (values, mut details) = sample_mala(&target, p.n, p.seed, mala);
    details["concentrates_along"] = json!(curve);
    let a = target.variances();
    Ok(Sample {
        values,
        ambient: 2,
        true_id: TrueId::Global(2),
        params: json!({
            "phi": format!("(x1 - {curve}, x2)"), "variances": a,
            "sampler": "MALA from the origin, step adapted during burn-in to acceptance 0.574",
            "step": mala.step, "burn_in": mala.burn_in, "thin": mala.thin, "chains": mala.chains,
        }),
        details,
        description: format!(
            "{kind} density p(x) ∝ exp(−½φ(x)ᵀA⁻¹φ(x)), φ(x) = (x₁ − {curve}, x₂), A = diag({}, {}), sampled by MALA",
            a[0], a[1]
        ),
        own_noise: false,
    })
}

/// `banana`: φ(x) = (x₁ − x₂²/9, x₂), A = diag(1/4, 4), as in the pullback paper (its dataset
/// script's single banana: shear 1/9, a = (1/4, 4)). Sampled by MALA (see `run_chain`). The
/// density has full support, so the true ID is 2; the mass concentrates around x₁ = x₂²/9.
pub(super) fn banana(p: &Params) -> Result<Sample> {
    sheared(p, Kind::Banana, ShearedGaussian::BANANA, "x2^2/9")
}

/// `river`: φ(x) = (x₁ − sin 2x₂, x₂), A = diag(1/25, 3), as in the pullback paper (its dataset
/// script's river: shear 2, a = (1/25, 3)). Sampled by MALA. True ID 2; the mass concentrates
/// around x₁ = sin 2x₂.
pub(super) fn river(p: &Params) -> Result<Sample> {
    sheared(p, Kind::River, ShearedGaussian::RIVER, "sin(2 x2)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_is_the_gradient_of_the_log_density() {
        for target in [ShearedGaussian::BANANA, ShearedGaussian::RIVER] {
            for x in [[0.3, -1.2], [2.0, 2.5], [-1.0, 0.1]] {
                let s = target.score(x);
                let h = 1e-6;
                for j in 0..2 {
                    let (mut up, mut down) = (x, x);
                    up[j] += h;
                    down[j] -= h;
                    let fd = (target.log_density(up) - target.log_density(down)) / (2.0 * h);
                    assert!(
                        (fd - s[j]).abs() < 1e-6 * (1.0 + fd.abs()),
                        "{target:?} at {x:?}: {fd} vs {}",
                        s[j]
                    );
                }
                let back = target.phi_inverse(target.phi(x));
                assert!((back[0] - x[0]).abs() < 1e-14 && back[1] == x[1]);
            }
        }
    }

    #[test]
    fn chains_are_seeded_and_interleaved() {
        let mala = Mala {
            step: 0.1,
            burn_in: 50,
            thin: 2,
            chains: 3,
        };
        let (a, _) = sample_mala(&ShearedGaussian::BANANA, 7, 5, mala);
        let (b, _) = sample_mala(&ShearedGaussian::BANANA, 7, 5, mala);
        assert_eq!(a, b);
        let first = run_chain(
            &ShearedGaussian::BANANA,
            &mut stream(5, CHAIN_STREAMS + 1),
            mala,
            2,
        );
        // rows 1 and 4 are the first two samples of chain 1
        assert_eq!(&a[2..4], &first.samples[0]);
        assert_eq!(&a[8..10], &first.samples[1]);
    }

    #[test]
    fn rejects_bad_sampler_settings() {
        for p in [
            Params {
                thin: Some(0),
                ..Params::default()
            },
            Params {
                chains: Some(0),
                ..Params::default()
            },
            Params {
                step: Some(0.0),
                ..Params::default()
            },
            Params {
                ambient: Some(3),
                ..Params::default()
            },
        ] {
            assert!(banana(&p).is_err(), "{p:?}");
        }
    }
}
