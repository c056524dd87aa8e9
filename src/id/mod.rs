//! Intrinsic-dimension estimators and their common result type.
//!
//! Score-based: [`normal_bundle`] (Stanczuk, Batzolis et al., ICML 2024), [`jacobian`] and
//! [`flipd`] (Kamkari et al. 2024). Classic baselines: [`classic`] (MLE, TwoNN, local PCA). A
//! [`Method`] names each; [`Estimator`] holds a checked estimator of any method and
//! [`IdEstimator`] is what they all do. Every estimator returns an [`IdEstimate`].

pub mod classic;
mod common;
mod estimate;
pub mod flipd;
pub mod jacobian;
mod method;
pub mod normal_bundle;
pub mod readoff;
pub mod reliability;
pub mod sweep;

pub use common::SharedScoreParams;
pub use estimate::{FlipdTrace, IdEstimate, LocalEstimate, MethodSettings, PointDetail, Settings};
pub use flipd::{Derivative, Flipd, FlipdParams, Probe};
pub use jacobian::{JacobianSpectrum, JacobianSpectrumParams};
pub use method::{Estimator, IdEstimator, Method};
pub use normal_bundle::{
    default_samples, sample_schedule, NormalBundle, NormalBundleParams, DECIDED_MARGIN,
    EDGE_MARGIN, PILOT_POINTS,
};
pub use readoff::{read_off, ReadOff, Rule};
pub use sweep::{log_grid, Plateau, Sweep};

pub(crate) use method::require_model;

/// Which points of the dataset to evaluate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PointSelection {
    /// Every row.
    All,
    /// A seeded random subset of this many rows (all rows when the dataset is smaller).
    Count(usize),
}

impl PointSelection {
    /// The row indices this selection picks from `n` rows (seeded, ascending).
    pub fn indices(self, n: usize, seed: u64) -> Vec<usize> {
        match self {
            PointSelection::All => (0..n).collect(),
            PointSelection::Count(m) => crate::rng::choose_indices(n, m, seed),
        }
    }
}

/// Arithmetic mean (NaN for an empty slice).
pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Median, averaging the two middle values for even lengths (NaN for an empty slice).
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        0.5 * (s[m - 1] + s[m])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(mean(&[1.0, 2.0]), 1.5);
    }
}
