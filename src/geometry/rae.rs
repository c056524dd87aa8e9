//! The Riemannian autoencoder of Diepeveen, Batzolis, Shumaylov & Schönlieb (2024, §4).
//!
//! For p(x) ∝ exp(−½ φ(x)ᵀA⁻¹φ(x)) the coordinates of φ(x) are independent with variances a.
//! Sort a descending (a₍₁₎ ≥ … ≥ a₍D₎); the latent dimension is
//! d_ε = min{k : Σ_{i>k} a₍ᵢ₎ ≤ ε Σᵢ aᵢ}, itself an intrinsic-dimension estimate. The encoder keeps
//! the d_ε highest-variance coordinates of φ(x); the decoder pads a code with zeros at the other
//! coordinates (their mean) and applies φ⁻¹. Generic over any [`Diffeomorphism`], so a trained
//! flow plugs in unchanged.

use super::check_points;
use super::diffeo::Diffeomorphism;
use crate::check::check_dim;
use crate::error::{Error, Result};
use faer::{Mat, MatRef};
use serde::Serialize;

/// d_ε = min{k : Σ_{i>k} a₍ᵢ₎ ≤ ε Σ aᵢ} for variances a sorted descending (Diepeveen et al. 2024,
/// §4); fails unless the variances are positive and finite and 0 ≤ ε ≤ 1.
pub fn rae_dim(variances: &[f64], epsilon: f64) -> Result<usize> {
    check_variances(variances)?;
    check_epsilon(epsilon)?;
    let sorted = sorted_descending(variances);
    Ok(latent_dim_of(&sorted, epsilon))
}

fn check_variances(variances: &[f64]) -> Result<()> {
    if variances.is_empty() {
        return Err(Error::param("variances", "need at least one variance"));
    }
    if let Some(a) = variances.iter().find(|a| !(a.is_finite() && **a > 0.0)) {
        return Err(Error::param(
            "variances",
            format!("variances must be positive and finite, got {a}"),
        ));
    }
    Ok(())
}

fn check_epsilon(epsilon: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&epsilon) {
        return Err(Error::param(
            "epsilon",
            format!("need 0 ≤ ε ≤ 1, got {epsilon}"),
        ));
    }
    Ok(())
}

/// (variance, coordinate) pairs, variances descending, ties by coordinate.
fn sorted_descending(variances: &[f64]) -> Vec<(f64, usize)> {
    let mut s: Vec<(f64, usize)> = variances.iter().copied().zip(0..).collect();
    s.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    s
}

/// The least k whose tail Σ_{i>k} a₍ᵢ₎ is at most ε Σ a.
fn latent_dim_of(sorted: &[(f64, usize)], epsilon: f64) -> usize {
    let total: f64 = sorted.iter().map(|s| s.0).sum();
    // tail[k] = Σ_{i ≥ k} a₍ᵢ₎ (0-based), summed from the smallest for accuracy
    let mut tail = vec![0.0; sorted.len() + 1];
    for k in (0..sorted.len()).rev() {
        tail[k] = tail[k + 1] + sorted[k].0;
    }
    (0..=sorted.len())
        .find(|&k| tail[k] <= epsilon * total)
        .unwrap_or(sorted.len())
}

/// The variances of the latent coordinates, sorted, with the cumulative share of the total.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VarianceProfile {
    /// a₍₁₎ ≥ … ≥ a₍D₎.
    pub variances: Vec<f64>,
    /// The coordinate of φ(x) each sorted variance belongs to.
    pub coordinates: Vec<usize>,
    /// Σ_{i≤k} a₍ᵢ₎ / Σ a for k = 1..D (the last entry is 1).
    pub explained: Vec<f64>,
}

/// A Riemannian autoencoder: encode x ↦ top-d_ε coordinates of φ(x), decode through φ⁻¹.
#[derive(Clone, Debug)]
pub struct RiemannianAutoencoder<P> {
    phi: P,
    sorted: Vec<(f64, usize)>,
    epsilon: f64,
    latent_dim: usize,
}

impl<P: Diffeomorphism> RiemannianAutoencoder<P> {
    /// The autoencoder of φ with latent variances a (the diagonal of A) at tolerance ε.
    pub fn new(phi: P, variances: &[f64], epsilon: f64) -> Result<Self> {
        check_variances(variances)?;
        check_epsilon(epsilon)?;
        check_dim(phi.dim(), variances.len(), "autoencoder variances")?;
        let sorted = sorted_descending(variances);
        let latent_dim = latent_dim_of(&sorted, epsilon);
        Ok(Self {
            phi,
            sorted,
            epsilon,
            latent_dim,
        })
    }

    /// The same autoencoder keeping `k` coordinates instead of d_ε (0 ≤ k ≤ D).
    pub fn with_latent_dim(mut self, k: usize) -> Result<Self> {
        if k > self.phi.dim() {
            return Err(Error::param(
                "latent_dim",
                format!("need k ≤ D = {}, got {k}", self.phi.dim()),
            ));
        }
        self.latent_dim = k;
        Ok(self)
    }

    /// The number of kept coordinates (d_ε unless overridden): the intrinsic-dimension estimate.
    pub fn latent_dim(&self) -> usize {
        self.latent_dim
    }

    /// The tolerance ε the autoencoder was built with.
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// The diffeomorphism φ.
    pub fn diffeomorphism(&self) -> &P {
        &self.phi
    }

    /// The sorted variances, their coordinates and the cumulative explained share.
    pub fn variance_profile(&self) -> VarianceProfile {
        let total: f64 = self.sorted.iter().map(|s| s.0).sum();
        let mut acc = 0.0;
        VarianceProfile {
            variances: self.sorted.iter().map(|s| s.0).collect(),
            coordinates: self.sorted.iter().map(|s| s.1).collect(),
            explained: self
                .sorted
                .iter()
                .map(|s| {
                    acc += s.0;
                    acc / total
                })
                .collect(),
        }
    }

    /// Codes (n×d): the coordinates of φ(xᵢ) in descending-variance order, first d kept.
    pub fn encode(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_points(self.phi.dim(), x, "autoencoder input")?;
        let z = self.phi.forward(x)?;
        Ok(Mat::from_fn(x.nrows(), self.latent_dim, |i, k| {
            z[(i, self.sorted[k].1)]
        }))
    }

    /// Points (n×D): φ⁻¹ of each code padded with zeros at the dropped coordinates.
    pub fn decode(&self, codes: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_dim(self.latent_dim, codes.ncols(), "autoencoder code")?;
        let mut z = Mat::zeros(codes.nrows(), self.phi.dim());
        for i in 0..codes.nrows() {
            for k in 0..self.latent_dim {
                z[(i, self.sorted[k].1)] = codes[(i, k)];
            }
        }
        self.phi.inverse(z.as_ref())
    }

    /// The codes of x and the mean reconstruction error (1/n)Σᵢ ‖xᵢ − decode(encode(xᵢ))‖₂ at the
    /// autoencoder's latent dimension.
    pub fn encode_with_error(&self, x: MatRef<'_, f64>) -> Result<(Mat<f64>, f64)> {
        let codes = self.encode(x)?;
        let back = self.decode(codes.as_ref())?;
        let error = (0..x.nrows())
            .map(|i| {
                (0..x.ncols())
                    .map(|j| (x[(i, j)] - back[(i, j)]).powi(2))
                    .sum::<f64>()
                    .sqrt()
            })
            .sum::<f64>()
            / x.nrows().max(1) as f64;
        Ok((codes, error))
    }

    /// decode(encode(x)).
    pub fn reconstruct(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        self.decode(self.encode(x)?.as_ref())
    }

    /// The mean reconstruction error (1/n)Σᵢ ‖xᵢ − x̂ᵢ‖₂ when keeping k = 0, 1, …, D coordinates
    /// (entry k), one forward pass and D + 1 inverse passes.
    pub fn reconstruction_errors(&self, x: MatRef<'_, f64>) -> Result<Vec<f64>> {
        check_points(self.phi.dim(), x, "autoencoder input")?;
        let n = x.nrows();
        if n == 0 {
            return Err(Error::InvalidData(
                "reconstruction errors need at least one point".into(),
            ));
        }
        let z = self.phi.forward(x)?;
        let d = self.phi.dim();
        let mut masked = Mat::zeros(n, d);
        let mut errors = Vec::with_capacity(d + 1);
        for k in 0..=d {
            if k > 0 {
                let c = self.sorted[k - 1].1;
                for i in 0..n {
                    masked[(i, c)] = z[(i, c)];
                }
            }
            let xhat = self.phi.inverse(masked.as_ref())?;
            let total: f64 = (0..n)
                .map(|i| {
                    (0..d)
                        .map(|j| (x[(i, j)] - xhat[(i, j)]).powi(2))
                        .sum::<f64>()
                        .sqrt()
                })
                .sum();
            errors.push(total / n as f64);
        }
        Ok(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::diffeo::{Affine, Shear};

    #[test]
    fn rae_dim_follows_the_definition() {
        // a = (4, 1, 0.5, 0.25, 0.25): total 6, tails after k = 0..5: 6, 2, 1, 0.5, 0.25, 0
        let a = [0.25, 1.0, 4.0, 0.5, 0.25];
        assert_eq!(rae_dim(&a, 0.0).unwrap(), 5);
        assert_eq!(rae_dim(&a, 0.05).unwrap(), 4); // 0.25 ≤ 0.3
        assert_eq!(rae_dim(&a, 1.0 / 6.0).unwrap(), 2); // 1 ≤ 1
        assert_eq!(rae_dim(&a, 0.4).unwrap(), 1); // 2 ≤ 2.4
        assert_eq!(rae_dim(&a, 1.0).unwrap(), 0);
    }

    #[test]
    fn rejects_bad_epsilon_variances_and_latent_dim() {
        assert!(rae_dim(&[1.0], -0.1).is_err());
        assert!(rae_dim(&[1.0], 1.5).is_err());
        assert!(rae_dim(&[], 0.1).is_err());
        assert!(rae_dim(&[1.0, 0.0], 0.1).is_err());
        let b = Shear::banana(2).unwrap();
        assert!(RiemannianAutoencoder::new(b, &[1.0, 2.0, 3.0], 0.1).is_err());
        let rae = RiemannianAutoencoder::new(b, &[1.0, 2.0], 0.1).unwrap();
        assert!(rae.with_latent_dim(3).is_err());
    }

    /// On the banana with a = (0.01, 4): d_ε = 1 keeps φ₂ = x₂, and decoding lands on the
    /// banana's spine x₁ = x₂²/9.
    #[test]
    fn banana_encodes_along_its_spine() {
        let rae =
            RiemannianAutoencoder::new(Shear::banana(2).unwrap(), &[0.01, 4.0], 0.05).unwrap();
        assert_eq!(rae.latent_dim(), 1);
        let profile = rae.variance_profile();
        assert_eq!(profile.coordinates, vec![1, 0]);
        assert!((profile.explained[0] - 4.0 / 4.01).abs() < 1e-15);
        let x = Mat::from_fn(3, 2, |i, j| [[0.1, 1.0], [1.2, -3.0], [-0.4, 2.0]][i][j]);
        let code = rae.encode(x.as_ref()).unwrap();
        let back = rae.decode(code.as_ref()).unwrap();
        for i in 0..3 {
            assert_eq!(code[(i, 0)], x[(i, 1)]);
            assert!((back[(i, 0)] - x[(i, 1)].powi(2) / 9.0).abs() < 1e-14);
            assert_eq!(back[(i, 1)], x[(i, 1)]);
        }
        let errs = rae.reconstruction_errors(x.as_ref()).unwrap();
        assert_eq!(errs.len(), 3);
        assert!(errs[2] < 1e-14, "all coordinates kept: exact");
        assert!(errs[0] > errs[1] && errs[1] > errs[2]);
        // keep 1: the error is |x₁ − x₂²/9| averaged
        let want = [0.1 - 1.0 / 9.0, 1.2 - 1.0, -0.4 - 4.0 / 9.0]
            .iter()
            .map(|e: &f64| e.abs())
            .sum::<f64>()
            / 3.0;
        assert!((errs[1] - want).abs() < 1e-14);
        let id =
            RiemannianAutoencoder::new(Affine::identity(2).unwrap(), &[1.0, 1.0], 0.0).unwrap();
        assert_eq!(id.latent_dim(), 2);
    }
}
