//! Densities p(x) ∝ exp(−½ φ(x)ᵀA⁻¹φ(x)) with exact scores: test oracles for the score-pullback
//! geometry, whose closed-form counterpart is known (Diepeveen et al. 2024, §3).
//!
//! With ψ(x) = A⁻¹φ(x): s(x) = ∇log p(x) = −Dφ(x)ᵀA⁻¹φ(x) and
//! ∇s(x) = −Dφ(x)ᵀA⁻¹Dφ(x) − Σ_k (A⁻¹φ(x))_k ∇²φ_k(x). The density does not diffuse: the score
//! ignores t, and the model carries the nominal SDE `Sde::ve(1.0)` only because a
//! [`ScoreModel`] must name one.

use super::diffeo::SecondDerivatives;
use super::row;
use crate::check::check_dim;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::score::ScoreModel;
use crate::sde::Sde;
use faer::{Mat, MatRef};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// The density p(x) ∝ exp(−½ φ(x)ᵀA⁻¹φ(x)), A = diag(a): φ pushes p onto N(0, A).
#[derive(Clone, Debug)]
pub struct FlowDensity<P> {
    phi: P,
    variances: Vec<f64>,
    sde: Sde,
}

impl<P: SecondDerivatives> FlowDensity<P> {
    /// The density of φ⁻¹(z), z ~ N(0, diag(`variances`)); variances must be positive and finite.
    pub fn new(phi: P, variances: Vec<f64>) -> Result<Self> {
        check_dim(phi.dim(), variances.len(), "flow density variances")?;
        if let Some(a) = variances.iter().find(|a| !(a.is_finite() && **a > 0.0)) {
            return Err(Error::param(
                "variances",
                format!("the diagonal of A must be positive and finite, got {a}"),
            ));
        }
        Ok(Self {
            phi,
            variances,
            sde: Sde::ve(1.0),
        })
    }

    /// The diffeomorphism φ.
    pub fn diffeomorphism(&self) -> &P {
        &self.phi
    }

    /// The diagonal a of A.
    pub fn variances(&self) -> &[f64] {
        &self.variances
    }

    /// n seeded samples x = φ⁻¹(z), z ~ N(0, A).
    pub fn sample(&self, n: usize, seed: u64) -> Result<Dataset> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let z = Mat::from_fn(n, self.phi.dim(), |_, j| {
            let g: f64 = StandardNormal.sample(&mut rng);
            self.variances[j].sqrt() * g
        });
        Dataset::from_mat(self.phi.inverse(z.as_ref())?.as_ref())
    }

    /// log p(x) up to its normalising constant: −½ φ(x)ᵀA⁻¹φ(x) (φ need not preserve volume,
    /// so this is the density of the model, not of φ's push-forward measure).
    pub fn unnormalised_log_density(&self, x: MatRef<'_, f64>) -> Result<Vec<f64>> {
        let z = self.phi.forward(x)?;
        Ok((0..z.nrows())
            .map(|i| {
                -0.5 * (0..z.ncols())
                    .map(|k| z[(i, k)] * z[(i, k)] / self.variances[k])
                    .sum::<f64>()
            })
            .collect())
    }

    /// A⁻¹φ(xᵢ) for every row.
    fn whitened(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        let z = self.phi.forward(x)?;
        Ok(Mat::from_fn(z.nrows(), z.ncols(), |i, k| {
            z[(i, k)] / self.variances[k]
        }))
    }
}

impl<P: SecondDerivatives> ScoreModel for FlowDensity<P> {
    fn dim(&self) -> usize {
        self.phi.dim()
    }

    fn sde(&self) -> &Sde {
        &self.sde
    }

    fn score(&self, x: MatRef<'_, f64>, _t: f64) -> Result<Mat<f64>> {
        check_dim(self.dim(), x.ncols(), "flow density")?;
        let w = self.whitened(x)?;
        let g = self.phi.vjp(x, w.as_ref())?;
        Ok(Mat::from_fn(g.nrows(), g.ncols(), |i, j| -g[(i, j)]))
    }

    fn score_jacobians(&self, x: MatRef<'_, f64>, _t: f64) -> Result<Vec<Mat<f64>>> {
        check_dim(self.dim(), x.ncols(), "flow density")?;
        let w = self.whitened(x)?;
        let jac = self.phi.jacobians(x)?;
        let d = self.dim();
        jac.iter()
            .enumerate()
            .map(|(i, j)| {
                let h = self
                    .phi
                    .hessian_contraction(&row(x, i), &row(w.as_ref(), i))?;
                // −(DφᵀA⁻¹Dφ + Σ_k w_k ∇²φ_k), with DφᵀA⁻¹Dφ = BᵀB for B = A^{-1/2}Dφ
                let b = Mat::from_fn(d, d, |k, a| j[(k, a)] / self.variances[k].sqrt());
                let g = b.transpose() * &b;
                Ok(Mat::from_fn(d, d, |a, c| -g[(a, c)] - h[(a, c)]))
            })
            .collect()
    }

    fn score_vjp(&self, x: MatRef<'_, f64>, _t: f64, v: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_dim(x.nrows(), v.nrows(), "cotangent rows")?;
        check_dim(self.dim(), v.ncols(), "cotangent columns")?;
        // ∇s is symmetric (a Hessian of log p), so vᵀ∇s = ∇s v:
        // −Dφᵀ A⁻¹ (Dφ v) − (Σ_k w_k ∇²φ_k) v, with no D×D matrix
        let pushed = self.phi.push_forward(x, v)?;
        let scaled = Mat::from_fn(pushed.nrows(), pushed.ncols(), |i, k| {
            pushed[(i, k)] / self.variances[k]
        });
        let first = self.phi.vjp(x, scaled.as_ref())?;
        let w = self.whitened(x)?;
        let d = self.dim();
        let mut out = Mat::zeros(x.nrows(), d);
        for i in 0..x.nrows() {
            let hv =
                self.phi
                    .hessian_vector_product(&row(x, i), &row(w.as_ref(), i), &row(v, i))?;
            for a in 0..d {
                out[(i, a)] = -first[(i, a)] - hv[a];
            }
        }
        Ok(out)
    }

    fn describe(&self) -> String {
        format!(
            "analytic density exp(-½ φᵀA⁻¹φ) with φ = {}, a = {:?} (time-independent)",
            self.phi.describe(),
            self.variances
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::diffeo::{Affine, Composition, Shear};

    /// The score is the gradient of the written-out log density; the Jacobian and VJP are the
    /// finite differences of the score.
    #[test]
    fn score_jacobian_and_vjp_match_finite_differences() {
        let densities: Vec<Box<dyn ScoreModel>> = vec![
            Box::new(FlowDensity::new(Shear::banana(3).unwrap(), vec![0.05, 2.0, 0.5]).unwrap()),
            Box::new(FlowDensity::new(Shear::river(3).unwrap(), vec![0.1, 1.0, 3.0]).unwrap()),
            Box::new(
                FlowDensity::new(
                    Composition::new(
                        Affine::new(
                            Mat::from_fn(3, 3, |i, j| if i == j { 1.0 } else { 0.3 }),
                            vec![0.2, -0.1, 0.0],
                        )
                        .unwrap(),
                        Shear::river(3).unwrap(),
                    )
                    .unwrap(),
                    vec![0.1, 1.0, 3.0],
                )
                .unwrap(),
            ),
        ];
        let banana = FlowDensity::new(Shear::banana(3).unwrap(), vec![0.05, 2.0, 0.5]).unwrap();
        let x = [0.3, -1.2, 0.8];
        let xm = MatRef::from_row_major_slice(&x, 1, 3);
        let h = 1e-5;
        let s = banana.score(xm, 0.0).unwrap();
        for j in 0..3 {
            let (mut p, mut m) = (x, x);
            p[j] += h;
            m[j] -= h;
            let lp = banana.unnormalised_log_density(MatRef::from_row_major_slice(&p, 1, 3));
            let lm = banana.unnormalised_log_density(MatRef::from_row_major_slice(&m, 1, 3));
            let fd = (lp.unwrap()[0] - lm.unwrap()[0]) / (2.0 * h);
            assert!((fd - s[(0, j)]).abs() < 1e-6, "score {j}");
        }
        let v = [0.5, -0.7, 1.3];
        for model in &densities {
            let jac = &model.score_jacobians(xm, 0.0).unwrap()[0];
            let vjp = model
                .score_vjp(xm, 0.0, MatRef::from_row_major_slice(&v, 1, 3))
                .unwrap();
            for b in 0..3 {
                let (mut p, mut m) = (x, x);
                p[b] += h;
                m[b] -= h;
                let sp = model
                    .score(MatRef::from_row_major_slice(&p, 1, 3), 0.0)
                    .unwrap();
                let sm = model
                    .score(MatRef::from_row_major_slice(&m, 1, 3), 0.0)
                    .unwrap();
                for a in 0..3 {
                    let fd = (sp[(0, a)] - sm[(0, a)]) / (2.0 * h);
                    assert!((fd - jac[(a, b)]).abs() < 1e-5, "jacobian {a}{b}");
                }
                let want: f64 = (0..3).map(|a| v[a] * jac[(a, b)]).sum();
                assert!((vjp[(0, b)] - want).abs() < 1e-10, "vjp {b}");
            }
        }
    }

    #[test]
    fn rejects_bad_variances_and_samples_through_the_inverse() {
        assert!(FlowDensity::new(Shear::banana(2).unwrap(), vec![1.0]).is_err());
        assert!(FlowDensity::new(Shear::banana(2).unwrap(), vec![1.0, 0.0]).is_err());
        // with the identity, samples are N(0, A): check the empirical variances
        let g = FlowDensity::new(Affine::identity(2).unwrap(), vec![0.25, 4.0]).unwrap();
        let data = g.sample(20_000, 3).unwrap();
        for (j, a) in [0.25, 4.0].iter().enumerate() {
            let var = data.rows().map(|r| r[j] * r[j]).sum::<f64>() / data.len() as f64;
            assert!((var / a - 1.0).abs() < 0.05, "{var} vs {a}");
        }
    }
}
