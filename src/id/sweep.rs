//! Sweeps over t₀: LID-vs-t₀ curves and an automatic choice of the plateau.
//!
//! Too small a t₀ probes the model where it was never trained well (and, for an empirical
//! distribution, resolves single points); too large a t₀ blurs the manifold away. In between, the
//! estimate is flat. [`Sweep::plateau`] picks the window of three consecutive t₀ on a log grid
//! where the curve of global IDs (the "mean curve", though the spectral estimators' global ID is
//! a median) varies least (smallest max − min; ties go to the smaller t₀), and reports its middle
//! t₀ and the mean value over the window.
//!
//! ```
//! use scoregeo::id::{log_grid, Flipd, Sweep};
//! use scoregeo::score::analytic::SubspaceGaussian;
//! use scoregeo::Sde;
//!
//! let model = SubspaceGaussian::random(5, 2, Sde::vp_default(), 3).unwrap();
//! let data = model.sample(6, 1);
//! let grid = log_grid(1e-4, 1e-1, 7).unwrap();
//! let sweep = Sweep::run(&grid, |t0| Flipd::params().t0(t0).check()?.fit(&model, &data)).unwrap();
//! let plateau = sweep.plateau();
//! assert!((plateau.value - 2.0).abs() < 0.1);
//! ```

use super::IdEstimate;
use crate::error::{Error, Result};
use serde::Serialize;

/// n log-spaced times from a to b inclusive (0 < a < b ≤ 1, n ≥ 2).
pub fn log_grid(a: f64, b: f64, n: usize) -> Result<Vec<f64>> {
    if !(a > 0.0 && b > a && b <= 1.0) || n < 2 {
        return Err(Error::param(
            "t0",
            format!("a sweep a:b:n needs 0 < a < b ≤ 1 and n ≥ 2, got {a}:{b}:{n}"),
        ));
    }
    let (la, lb) = (a.ln(), b.ln());
    Ok((0..n)
        .map(|i| (la + (lb - la) * i as f64 / (n - 1) as f64).exp())
        .collect())
}

/// The flattest stretch of a sweep.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plateau {
    /// Index of the chosen t₀ (the middle of the window) in the grid.
    pub index: usize,
    /// The chosen t₀.
    pub t0: f64,
    /// Mean of the mean curve over the window: the reported ID.
    pub value: f64,
    /// max − min of the mean curve over the window.
    pub spread: f64,
    /// First and last grid index of the window.
    pub window: (usize, usize),
    /// How it was chosen, in words.
    pub how: String,
}

/// Estimates at each t₀ of a grid, for the same points.
#[derive(Clone, Debug)]
pub struct Sweep {
    t0s: Vec<f64>,
    estimates: Vec<IdEstimate>,
}

impl Sweep {
    /// Runs `estimate` at every t₀ of the grid (ascending).
    pub fn run(t0s: &[f64], mut estimate: impl FnMut(f64) -> Result<IdEstimate>) -> Result<Self> {
        if t0s.is_empty() {
            return Err(Error::param("t0", "empty sweep"));
        }
        let estimates = t0s
            .iter()
            .map(|&t| estimate(t))
            .collect::<Result<Vec<_>>>()?;
        let n = estimates[0].points().len();
        if estimates.iter().any(|e| e.points().len() != n) {
            return Err(Error::Numerical(
                "estimates of a sweep cover different points".into(),
            ));
        }
        Ok(Self {
            t0s: t0s.to_vec(),
            estimates,
        })
    }

    /// The grid.
    pub fn t0s(&self) -> &[f64] {
        &self.t0s
    }

    /// The estimate at each t₀.
    pub fn estimates(&self) -> &[IdEstimate] {
        &self.estimates
    }

    /// The global ID at each t₀.
    pub fn mean_curve(&self) -> Vec<f64> {
        self.estimates.iter().map(IdEstimate::global_id).collect()
    }

    /// Each point's local ID along the grid (outer: points, inner: t₀).
    pub fn curves(&self) -> Vec<Vec<f64>> {
        let n = self.estimates[0].points().len();
        (0..n)
            .map(|p| {
                self.estimates
                    .iter()
                    .map(|e| e.points()[p].local_id)
                    .collect()
            })
            .collect()
    }

    /// The estimate at the [plateau](Sweep::plateau)'s t₀, with the plateau recorded in its
    /// settings.
    pub fn at_plateau(&self) -> IdEstimate {
        let plateau = self.plateau();
        let mut chosen = self.estimates[plateau.index].clone();
        chosen.set_plateau(plateau);
        chosen
    }

    /// The flattest window of (up to) three consecutive t₀ of the mean curve.
    pub fn plateau(&self) -> Plateau {
        let curve = self.mean_curve();
        let w = curve.len().min(3);
        let mut best: Option<(usize, f64)> = None;
        for start in 0..=curve.len() - w {
            let win = &curve[start..start + w];
            if win.iter().any(|v| !v.is_finite()) {
                continue;
            }
            let spread = win.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
                - win.iter().cloned().fold(f64::INFINITY, f64::min);
            if best.is_none_or(|(_, s)| spread < s) {
                best = Some((start, spread));
            }
        }
        let (start, spread) = best.unwrap_or((0, f64::NAN));
        let index = start + w / 2;
        Plateau {
            index,
            t0: self.t0s[index],
            value: curve[start..start + w].iter().sum::<f64>() / w as f64,
            spread,
            window: (start, start + w - 1),
            how: format!("flattest window of {w} consecutive t0 on the mean curve (smallest max - min; ties to smaller t0)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{LocalEstimate, Method, Settings};

    fn fake(v: f64) -> IdEstimate {
        let p = vec![LocalEstimate::new(0, v)];
        IdEstimate::new(Method::Flipd, 10, v, p, Settings::default())
    }

    #[test]
    fn grid_is_log_spaced() {
        let g = log_grid(1e-4, 1e-1, 4).unwrap();
        for (a, b) in g.iter().zip([1e-4, 1e-3, 1e-2, 1e-1]) {
            assert!((a / b - 1.0).abs() < 1e-12);
        }
        assert!(log_grid(0.0, 1e-1, 4).is_err());
        assert!(log_grid(1e-2, 1e-3, 4).is_err());
        assert!(log_grid(1e-3, 1e-2, 1).is_err());
    }

    #[test]
    fn plateau_finds_the_flat_stretch() {
        let values = [9.0, 6.0, 3.1, 3.0, 3.05, 5.0, 8.0];
        let grid = log_grid(1e-5, 1e-1, values.len()).unwrap();
        let mut it = values.iter();
        let sweep = Sweep::run(&grid, |_| Ok(fake(*it.next().unwrap()))).unwrap();
        let p = sweep.plateau();
        assert_eq!(p.window, (2, 4));
        assert_eq!(p.index, 3);
        assert!((p.value - 3.05).abs() < 1e-12);
        assert!((p.spread - 0.1).abs() < 1e-12);
        assert_eq!(sweep.curves(), vec![values.to_vec()]);
        let chosen = sweep.at_plateau();
        assert_eq!(chosen.global_id(), 3.0);
        assert_eq!(chosen.settings().plateau.as_ref(), Some(&p));
    }
}
