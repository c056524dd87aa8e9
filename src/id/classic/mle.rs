//! Maximum-likelihood estimator of Levina & Bickel (NeurIPS 2004), with the global average of
//! MacKay & Ghahramani (2005).
//!
//! With Tⱼ(x) the distance from x to its j-th nearest neighbour, the local estimate (L&B eq. 8) is
//!
//! m̂ₖ(x) = [ 1/(k−1) Σⱼ₌₁ᵏ⁻¹ log(Tₖ(x)/Tⱼ(x)) ]⁻¹,
//!
//! and the global estimate averages the *inverses*, m̂ₖ = [ 1/n Σᵢ m̂ₖ(xᵢ)⁻¹ ]⁻¹: for a locally
//! uniform density each m̂ₖ(xᵢ)⁻¹ is an unbiased estimate of 1/m, while averaging m̂ₖ(xᵢ) itself
//! is biased upwards (MacKay & Ghahramani's comment on L&B).
//!
//! A point whose k neighbours are all equidistant has an infinite local estimate (the neighbourhood
//! looks infinite-dimensional at that scale); it is reported as such, never capped, and contributes
//! 0 to the average of inverses.

use super::{local, Distinct};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::id::{IdEstimate, Method, MethodSettings};
use rayon::prelude::*;

/// Unchecked settings of the [`Mle`] estimator (a builder).
#[derive(Clone, Debug, PartialEq)]
pub struct MleParams {
    k: usize,
}

impl Default for MleParams {
    fn default() -> Self {
        Self { k: 20 }
    }
}

impl MleParams {
    /// Number of neighbours k (default 20; at least 2, since the estimate needs Tₖ/Tⱼ for j < k).
    pub fn k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }

    /// Validates the settings.
    pub fn check(self) -> Result<Mle> {
        if self.k < 2 {
            return Err(Error::param(
                "k",
                format!("must be at least 2, got {}", self.k),
            ));
        }
        Ok(Mle { k: self.k })
    }
}

/// The Levina–Bickel MLE with checked settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Mle {
    k: usize,
}

impl Mle {
    /// Default settings, to adjust and [`MleParams::check`].
    pub fn params() -> MleParams {
        MleParams::default()
    }

    /// Number of neighbours k.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Estimates the intrinsic dimension of `data` (method `"mle"`).
    pub fn fit(&self, data: &Dataset) -> Result<IdEstimate> {
        let distinct = Distinct::new(data);
        let nn = distinct.neighbours(self.k, "k")?;
        // Σⱼ log(Tₖ/Tⱼ)/(k−1) = m̂ₖ(x)⁻¹, kept so the global average needs no division by 0.
        let inverses: Vec<f64> = (0..distinct.len())
            .into_par_iter()
            .map(|p| {
                let t = nn.distances(p);
                let tk = t[self.k - 1];
                t[..self.k - 1].iter().map(|tj| (tk / tj).ln()).sum::<f64>() / (self.k - 1) as f64
            })
            .collect();
        let total: f64 = inverses.iter().sum();
        if total == 0.0 {
            return Err(Error::InvalidData(format!(
                "the {} nearest neighbours of every point are equidistant; the MLE is undefined",
                self.k
            )));
        }
        let global_id = inverses.len() as f64 / total;
        let per_point: Vec<_> = inverses.iter().map(|inv| local(1.0 / inv)).collect();
        let mut settings = distinct.settings(MethodSettings::Mle { k: self.k });
        settings.global = Some("mackay_ghahramani_inverse_average".into());
        Ok(IdEstimate::new(
            Method::Mle,
            data.dim(),
            global_id,
            distinct.broadcast(per_point),
            settings,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_rejects_k_below_two() {
        let err = Mle::params().k(1).check().unwrap_err();
        assert!(
            matches!(err, Error::InvalidParameter { name: "k", .. }),
            "{err}"
        );
        assert_eq!(Mle::params().check().unwrap().k(), 20);
    }

    #[test]
    fn hand_checked_on_three_points() {
        // Points 0, 1, 3 on a line, k = 2: m̂ = 1/log(T₂/T₁) = 1/log 3, 1/log 2, 1/log 1.5, and
        // the average of inverses gives 3/(log 3 + log 2 + log 1.5) = 3/log 9.
        let data = Dataset::from_rows(&[vec![0.0], vec![1.0], vec![3.0]]).unwrap();
        let est = Mle::params().k(2).check().unwrap().fit(&data).unwrap();
        let want = [1.0 / 3f64.ln(), 1.0 / 2f64.ln(), 1.0 / 1.5f64.ln()];
        for (got, want) in est.local_ids().iter().zip(want) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
        assert!((est.global_id() - 3.0 / 9f64.ln()).abs() < 1e-12);
        assert_eq!(est.method(), Method::Mle);
        assert_eq!(est.settings().k(), Some(2));
    }

    #[test]
    fn equidistant_neighbours_give_an_infinite_local_estimate_not_nan() {
        // Point 0 at the centre of 0, ±1: its two neighbours tie, so T₂/T₁ = 1.
        let data = Dataset::from_rows(&[vec![0.0], vec![1.0], vec![-1.0], vec![3.0]]).unwrap();
        let est = Mle::params().k(2).check().unwrap().fit(&data).unwrap();
        assert_eq!(est.local_ids()[0], f64::INFINITY);
        assert!(est.global_id().is_finite());
    }

    #[test]
    fn all_equidistant_is_an_error() {
        // each corner has its two nearest neighbours at distance √2 exactly
        let data = super::super::square_corners();
        let err = Mle::params().k(2).check().unwrap().fit(&data).unwrap_err();
        assert!(matches!(err, Error::InvalidData(_)), "{err}");
    }
}
