//! Intrinsic-dimension estimators and their common result type.
//!
//! Score-based: [`normal_bundle`] (Stanczuk, Batzolis et al., ICML 2024). Classic baselines:
//! [`classic`] (MLE, TwoNN, local PCA). Every estimator returns an [`IdEstimate`].

pub mod classic;
mod common;
pub mod flipd;
pub mod jacobian;
pub mod normal_bundle;
pub mod readoff;
pub mod sweep;

pub use flipd::{Derivative, Flipd, FlipdParams, Probe};
pub use jacobian::{JacobianSpectrum, JacobianSpectrumParams};
pub use normal_bundle::{default_samples, NormalBundle, NormalBundleParams};
pub use readoff::{read_off, ReadOff, Rule};
pub use sweep::{log_grid, Plateau, Sweep};

use serde::Serialize;
use std::collections::BTreeMap;

/// One point's local estimate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LocalEstimate {
    /// Row index of the point in the dataset.
    pub index: usize,
    /// The local intrinsic dimension (an integer for spectral methods, real for others).
    pub local_id: f64,
    /// Singular values (or another spectrum), descending, when the method has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spectrum: Option<Vec<f64>>,
    /// Where the spectrum was cut, when the method reads a spectrum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readoff: Option<serde_json::Value>,
}

/// The result of an intrinsic-dimension estimator on a dataset.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IdEstimate {
    method: String,
    ambient_dim: usize,
    global_id: f64,
    points: Vec<LocalEstimate>,
    settings: BTreeMap<String, serde_json::Value>,
}

impl IdEstimate {
    /// Assembles an estimate; `global_id` is the method's own global summary.
    pub fn new(
        method: impl Into<String>,
        ambient_dim: usize,
        global_id: f64,
        points: Vec<LocalEstimate>,
        settings: BTreeMap<String, serde_json::Value>,
    ) -> Self {
        Self {
            method: method.into(),
            ambient_dim,
            global_id,
            points,
            settings,
        }
    }

    /// The estimator's name (`nb`, `mle`, …).
    pub fn method(&self) -> &str {
        &self.method
    }

    /// Ambient dimension D.
    pub fn ambient_dim(&self) -> usize {
        self.ambient_dim
    }

    /// The global intrinsic dimension.
    pub fn global_id(&self) -> f64 {
        self.global_id
    }

    /// Local estimates, one per evaluated point.
    pub fn points(&self) -> &[LocalEstimate] {
        &self.points
    }

    /// Local intrinsic dimensions in point order.
    pub fn local_ids(&self) -> Vec<f64> {
        self.points.iter().map(|p| p.local_id).collect()
    }

    /// The spectrum of the i-th evaluated point, when the method has one.
    pub fn spectrum(&self, i: usize) -> Option<&[f64]> {
        self.points.get(i)?.spectrum.as_deref()
    }

    /// Settings the estimate was made with (for reports).
    pub fn settings(&self) -> &BTreeMap<String, serde_json::Value> {
        &self.settings
    }

    /// Adds or replaces a setting (e.g. the model file a CLI used).
    pub fn set_setting(&mut self, key: impl Into<String>, value: serde_json::Value) {
        self.settings.insert(key.into(), value);
    }

    /// Mean of the local IDs.
    pub fn mean_local_id(&self) -> f64 {
        mean(&self.local_ids())
    }

    /// Median of the local IDs.
    pub fn median_local_id(&self) -> f64 {
        median(&self.local_ids())
    }

    /// Counts of rounded local IDs, as (dimension, count), ascending.
    pub fn histogram(&self) -> Vec<(i64, usize)> {
        let mut counts = BTreeMap::new();
        for id in self.local_ids() {
            *counts.entry(id.round() as i64).or_insert(0) += 1;
        }
        counts.into_iter().collect()
    }
}

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
        let pts = [2.0, 2.0, 3.0]
            .iter()
            .enumerate()
            .map(|(i, &l)| LocalEstimate {
                index: i,
                local_id: l,
                spectrum: None,
                readoff: None,
            })
            .collect();
        let e = IdEstimate::new("x", 5, 2.0, pts, BTreeMap::new());
        assert_eq!(e.histogram(), vec![(2, 2), (3, 1)]);
        assert!((e.mean_local_id() - 7.0 / 3.0).abs() < 1e-12);
    }
}
