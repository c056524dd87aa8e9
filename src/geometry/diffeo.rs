//! Diffeomorphisms φ: ℝ^D → ℝ^D, batched over points (rows), with their differentials.
//!
//! The closed-form pullback geometry of Diepeveen, Batzolis, Shumaylov & Schönlieb (2024) needs
//! φ, φ⁻¹ and the differential Dφ(x) in three guises: the push-forward v ↦ Dφ(x)v, its inverse
//! w ↦ Dφ(x)⁻¹w = D(φ⁻¹)(φ(x))w, and the cotangent pull-back w ↦ Dφ(x)ᵀw (a vector–Jacobian
//! product, the gradient of w·φ(x)). The trait's defaults derive the last three from
//! [`Diffeomorphism::jacobians`]; a normalising flow overrides them with autodiff.
//!
//! Hand-built flows with known inverses serve as oracles: [`Affine`] (and the identity) and the
//! shears φ(x) = (x₁ − f(x₂), x₂, x₃, …) of [`Shear`]: the banana f(u) = u²/9 and the river
//! f(u) = sin 2u of the paper's toy densities.

use super::{check_points, check_same_shape};
pub use crate::data::synthetic::ShearProfile;
use crate::error::{Error, Result};
use faer::linalg::matmul::matmul;
use faer::prelude::Solve;
use faer::{Accum, Mat, MatRef, Par};
use std::sync::Arc;

/// A smooth invertible map φ: ℝ^D → ℝ^D with a smooth inverse, evaluated on batches of points.
///
/// Points are rows: every method takes an n×D matrix and returns one row per input row. Methods
/// are fallible because learned flows (candle) can fail; hand-built maps never do.
pub trait Diffeomorphism: Send + Sync {
    /// The dimension D of domain and image.
    fn dim(&self) -> usize;

    /// φ(xᵢ) for every row xᵢ of `x`.
    fn forward(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>>;

    /// φ⁻¹(zᵢ) for every row zᵢ of `z`.
    fn inverse(&self, z: MatRef<'_, f64>) -> Result<Mat<f64>>;

    /// The Jacobians Dφ(xᵢ), one D×D matrix per row (entry (a, b) = ∂φ_a/∂x_b).
    fn jacobians(&self, x: MatRef<'_, f64>) -> Result<Vec<Mat<f64>>>;

    /// The push-forward Dφ(xᵢ)vᵢ of the tangent vector vᵢ at xᵢ, for every row.
    fn push_forward(&self, x: MatRef<'_, f64>, v: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_same_shape(x, v, "push-forward tangent vectors")?;
        let jac = self.jacobians(x)?;
        let d = x.ncols();
        Ok(Mat::from_fn(x.nrows(), d, |i, a| {
            (0..d).map(|b| jac[i][(a, b)] * v[(i, b)]).sum()
        }))
    }

    /// The inverse push-forward Dφ(xᵢ)⁻¹wᵢ = D(φ⁻¹)(φ(xᵢ))wᵢ: the tangent vector at xᵢ that φ
    /// maps to wᵢ (the "pull-back" of an image tangent vector).
    fn pull_back(&self, x: MatRef<'_, f64>, w: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_same_shape(x, w, "pull-back tangent vectors")?;
        let jac = self.jacobians(x)?;
        let mut out = Mat::zeros(x.nrows(), x.ncols());
        for (i, j) in jac.iter().enumerate() {
            let rhs = w.row(i).transpose().to_owned();
            let sol = j.partial_piv_lu().solve(&rhs);
            for a in 0..x.ncols() {
                out[(i, a)] = sol[a];
            }
        }
        finite(out, "the inverse push-forward (singular Jacobian?)")
    }

    /// The cotangent pull-back Dφ(xᵢ)ᵀwᵢ, a vector–Jacobian product (the gradient of wᵢ·φ(xᵢ)).
    fn vjp(&self, x: MatRef<'_, f64>, w: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_same_shape(x, w, "cotangent vectors")?;
        let jac = self.jacobians(x)?;
        let d = x.ncols();
        Ok(Mat::from_fn(x.nrows(), d, |i, b| {
            (0..d).map(|a| w[(i, a)] * jac[i][(a, b)]).sum()
        }))
    }

    /// One line describing the map.
    fn describe(&self) -> String;
}

/// Fails with [`Error::Numerical`] unless every entry of `m` is finite.
pub(crate) fn finite(m: Mat<f64>, what: &str) -> Result<Mat<f64>> {
    let ok = (0..m.nrows()).all(|i| (0..m.ncols()).all(|j| m[(i, j)].is_finite()));
    if ok {
        Ok(m)
    } else {
        Err(Error::Numerical(format!("non-finite value in {what}")))
    }
}

macro_rules! forward_diffeomorphism {
    ($($ptr:ty),*) => {$(
        impl<T: Diffeomorphism + ?Sized> Diffeomorphism for $ptr {
            fn dim(&self) -> usize {
                (**self).dim()
            }
            fn forward(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
                (**self).forward(x)
            }
            fn inverse(&self, z: MatRef<'_, f64>) -> Result<Mat<f64>> {
                (**self).inverse(z)
            }
            fn jacobians(&self, x: MatRef<'_, f64>) -> Result<Vec<Mat<f64>>> {
                (**self).jacobians(x)
            }
            fn push_forward(&self, x: MatRef<'_, f64>, v: MatRef<'_, f64>) -> Result<Mat<f64>> {
                (**self).push_forward(x, v)
            }
            fn pull_back(&self, x: MatRef<'_, f64>, w: MatRef<'_, f64>) -> Result<Mat<f64>> {
                (**self).pull_back(x, w)
            }
            fn vjp(&self, x: MatRef<'_, f64>, w: MatRef<'_, f64>) -> Result<Mat<f64>> {
                (**self).vjp(x, w)
            }
            fn describe(&self) -> String {
                (**self).describe()
            }
        }
    )*};
}

forward_diffeomorphism!(&T, Box<T>, Arc<T>);

/// A diffeomorphism whose components have known second derivatives.
///
/// Densities p ∝ exp(−½ φᵀA⁻¹φ) need them for exact score Jacobians:
/// ∇s = −DφᵀA⁻¹Dφ − Σ_k (A⁻¹φ)_k ∇²φ_k.
pub trait SecondDerivatives: Diffeomorphism {
    /// Σ_k w_k ∇²φ_k(x) at one point x (a symmetric D×D matrix).
    fn hessian_contraction(&self, x: &[f64], w: &[f64]) -> Result<Mat<f64>>;

    /// [Σ_k w_k ∇²φ_k(x)] v at one point. The default forms the matrix; maps that can should
    /// apply it without (a score VJP needs only this product).
    fn hessian_vector_product(&self, x: &[f64], w: &[f64], v: &[f64]) -> Result<Vec<f64>> {
        let h = self.hessian_contraction(x, w)?;
        Ok((0..x.len())
            .map(|a| (0..x.len()).map(|b| h[(a, b)] * v[b]).sum())
            .collect())
    }
}

/// The composition φ = ψ ∘ χ (first χ, then ψ) of two diffeomorphisms of ℝ^D, as a normalising
/// flow stacks its layers: Dφ(x) = Dψ(χ(x))Dχ(x), so push-forwards, pull-backs and VJPs chain.
#[derive(Clone, Debug)]
pub struct Composition<A, B> {
    first: A,
    second: B,
}

impl<A: Diffeomorphism, B: Diffeomorphism> Composition<A, B> {
    /// x ↦ second(first(x)); the dimensions must agree.
    pub fn new(first: A, second: B) -> Result<Self> {
        crate::check::check_dim(first.dim(), second.dim(), "composed diffeomorphism")?;
        Ok(Self { first, second })
    }

    /// The map applied first, χ.
    pub fn first(&self) -> &A {
        &self.first
    }

    /// The map applied second, ψ.
    pub fn second(&self) -> &B {
        &self.second
    }
}

impl<A: Diffeomorphism, B: Diffeomorphism> Diffeomorphism for Composition<A, B> {
    fn dim(&self) -> usize {
        self.first.dim()
    }

    fn forward(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        self.second.forward(self.first.forward(x)?.as_ref())
    }

    fn inverse(&self, z: MatRef<'_, f64>) -> Result<Mat<f64>> {
        self.first.inverse(self.second.inverse(z)?.as_ref())
    }

    fn jacobians(&self, x: MatRef<'_, f64>) -> Result<Vec<Mat<f64>>> {
        let inner = self.first.jacobians(x)?;
        let outer = self.second.jacobians(self.first.forward(x)?.as_ref())?;
        Ok(outer.iter().zip(&inner).map(|(o, i)| o * i).collect())
    }

    fn push_forward(&self, x: MatRef<'_, f64>, v: MatRef<'_, f64>) -> Result<Mat<f64>> {
        let y = self.first.forward(x)?;
        let inner = self.first.push_forward(x, v)?;
        self.second.push_forward(y.as_ref(), inner.as_ref())
    }

    fn pull_back(&self, x: MatRef<'_, f64>, w: MatRef<'_, f64>) -> Result<Mat<f64>> {
        let y = self.first.forward(x)?;
        let outer = self.second.pull_back(y.as_ref(), w)?;
        self.first.pull_back(x, outer.as_ref())
    }

    fn vjp(&self, x: MatRef<'_, f64>, w: MatRef<'_, f64>) -> Result<Mat<f64>> {
        let y = self.first.forward(x)?;
        let outer = self.second.vjp(y.as_ref(), w)?;
        self.first.vjp(x, outer.as_ref())
    }

    fn describe(&self) -> String {
        format!(
            "({}) then ({})",
            self.first.describe(),
            self.second.describe()
        )
    }
}

impl<A: SecondDerivatives, B: SecondDerivatives> SecondDerivatives for Composition<A, B> {
    fn hessian_contraction(&self, x: &[f64], w: &[f64]) -> Result<Mat<f64>> {
        // Σ_k w_k ∇²(ψ∘χ)_k = DχᵀH_ψ(w)Dχ + H_χ(Dψᵀw), all at one point
        let d = x.len();
        let xm = MatRef::from_row_major_slice(x, 1, d);
        let y = self.first.forward(xm)?;
        let inner = self.first.jacobians(xm)?.remove(0);
        let pulled = self
            .second
            .vjp(y.as_ref(), MatRef::from_row_major_slice(w, 1, d))?;
        let y: Vec<f64> = (0..d).map(|j| y[(0, j)]).collect();
        let pulled: Vec<f64> = (0..d).map(|j| pulled[(0, j)]).collect();
        let outer = self.second.hessian_contraction(&y, w)?;
        let mut h = inner.transpose() * &outer * &inner;
        h += self.first.hessian_contraction(x, &pulled)?;
        Ok(h)
    }

    fn hessian_vector_product(&self, x: &[f64], w: &[f64], v: &[f64]) -> Result<Vec<f64>> {
        // DχᵀH_ψ(w)(Dχ v) + H_χ(Dψᵀw) v, matrix-free
        let d = x.len();
        let one = |s: &[f64]| MatRef::from_row_major_slice(s, 1, d).to_owned();
        let (xm, wm, vm) = (one(x), one(w), one(v));
        let y = self.first.forward(xm.as_ref())?;
        let y: Vec<f64> = (0..d).map(|j| y[(0, j)]).collect();
        let pushed = self.first.push_forward(xm.as_ref(), vm.as_ref())?;
        let pushed: Vec<f64> = (0..d).map(|j| pushed[(0, j)]).collect();
        let outer = self.second.hessian_vector_product(&y, w, &pushed)?;
        let back = self.first.vjp(xm.as_ref(), one(&outer).as_ref())?;
        let pulled = self.second.vjp(one(&y).as_ref(), wm.as_ref())?;
        let pulled: Vec<f64> = (0..d).map(|j| pulled[(0, j)]).collect();
        let inner = self.first.hessian_vector_product(x, &pulled, v)?;
        Ok((0..d).map(|j| back[(0, j)] + inner[j]).collect())
    }
}

/// The affine map φ(x) = Lx + b with an invertible L (the identity when L = I, b = 0).
#[derive(Clone, Debug)]
pub struct Affine {
    linear: Mat<f64>,
    shift: Vec<f64>,
}

impl Affine {
    /// φ(x) = Lx + b; fails unless L is square, finite and well conditioned (σ_min/σ_max > 10⁻¹²).
    pub fn new(linear: Mat<f64>, shift: Vec<f64>) -> Result<Self> {
        let d = linear.nrows();
        if d == 0 || linear.ncols() != d {
            return Err(Error::param(
                "linear",
                format!(
                    "need a non-empty square matrix, got {}×{}",
                    d,
                    linear.ncols()
                ),
            ));
        }
        crate::check::check_dim(d, shift.len(), "affine shift")?;
        let all_finite = shift.iter().all(|s| s.is_finite())
            && (0..d).all(|i| (0..d).all(|j| linear[(i, j)].is_finite()));
        if !all_finite {
            return Err(Error::param("linear", "entries of L and b must be finite"));
        }
        let sv = linear
            .singular_values()
            .map_err(|e| Error::Numerical(format!("SVD of the affine map: {e:?}")))?;
        let (max, min) = (sv[0], sv[d - 1]);
        // also rejects NaN singular values
        if min.partial_cmp(&(1e-12 * max)) != Some(std::cmp::Ordering::Greater) {
            return Err(Error::param(
                "linear",
                format!("L is singular or ill conditioned (σ_min = {min:e}, σ_max = {max:e})"),
            ));
        }
        Ok(Self { linear, shift })
    }

    /// The identity map of ℝ^D.
    pub fn identity(dim: usize) -> Result<Self> {
        Self::new(Mat::identity(dim, dim), vec![0.0; dim])
    }

    /// The linear part L.
    pub fn linear(&self) -> MatRef<'_, f64> {
        self.linear.as_ref()
    }

    /// The shift b.
    pub fn shift(&self) -> &[f64] {
        &self.shift
    }

    /// Rows vᵢ ↦ (L⁻¹vᵢ), by one LU solve on all columns at once.
    fn solve_rows(&self, v: MatRef<'_, f64>) -> Mat<f64> {
        let sol = self.linear.partial_piv_lu().solve(v.transpose().to_owned());
        sol.transpose().to_owned()
    }

    /// Rows vᵢ ↦ Lvᵢ (that is, V Lᵀ).
    fn apply_rows(&self, v: MatRef<'_, f64>) -> Mat<f64> {
        let mut out = Mat::zeros(v.nrows(), v.ncols());
        matmul(
            out.as_mut(),
            Accum::Replace,
            v,
            self.linear.transpose(),
            1.0,
            Par::Seq,
        );
        out
    }
}

impl Diffeomorphism for Affine {
    fn dim(&self) -> usize {
        self.shift.len()
    }

    fn forward(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_points(self.dim(), x, "affine map")?;
        let mut z = self.apply_rows(x);
        for i in 0..z.nrows() {
            for (j, b) in self.shift.iter().enumerate() {
                z[(i, j)] += b;
            }
        }
        Ok(z)
    }

    fn inverse(&self, z: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_points(self.dim(), z, "affine map")?;
        let centred = Mat::from_fn(z.nrows(), z.ncols(), |i, j| z[(i, j)] - self.shift[j]);
        Ok(self.solve_rows(centred.as_ref()))
    }

    fn jacobians(&self, x: MatRef<'_, f64>) -> Result<Vec<Mat<f64>>> {
        check_points(self.dim(), x, "affine map")?;
        Ok(vec![self.linear.clone(); x.nrows()])
    }

    fn push_forward(&self, x: MatRef<'_, f64>, v: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_points(self.dim(), x, "affine map")?;
        check_same_shape(x, v, "push-forward tangent vectors")?;
        Ok(self.apply_rows(v))
    }

    fn pull_back(&self, x: MatRef<'_, f64>, w: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_points(self.dim(), x, "affine map")?;
        check_same_shape(x, w, "pull-back tangent vectors")?;
        Ok(self.solve_rows(w))
    }

    fn vjp(&self, x: MatRef<'_, f64>, w: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_points(self.dim(), x, "affine map")?;
        check_same_shape(x, w, "cotangent vectors")?;
        // rows wᵢᵀL, i.e. W L
        let mut out = Mat::zeros(w.nrows(), w.ncols());
        matmul(
            out.as_mut(),
            Accum::Replace,
            w,
            self.linear.as_ref(),
            1.0,
            Par::Seq,
        );
        Ok(out)
    }

    fn describe(&self) -> String {
        format!("affine map of R^{}", self.dim())
    }
}

impl SecondDerivatives for Affine {
    fn hessian_contraction(&self, x: &[f64], _w: &[f64]) -> Result<Mat<f64>> {
        Ok(Mat::zeros(x.len(), x.len()))
    }

    fn hessian_vector_product(&self, x: &[f64], _w: &[f64], _v: &[f64]) -> Result<Vec<f64>> {
        Ok(vec![0.0; x.len()])
    }
}

/// The shear φ(x) = (x₁ − f(x₂), x₂, x₃, …, x_D) with inverse φ⁻¹(z) = (z₁ + f(z₂), z₂, …).
///
/// It acts on the first two coordinates and leaves the others alone, so the banana and river
/// densities of Diepeveen et al. (2024, §6) exist in any D ≥ 2. Dφ = I − f′(x₂)e₁e₂ᵀ has
/// determinant 1 and the closed-form inverse (Dφ)⁻¹ = I + f′(x₂)e₁e₂ᵀ.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shear {
    dim: usize,
    profile: ShearProfile,
}

impl Shear {
    /// A shear of ℝ^D (D ≥ 2) with the given profile; fails on non-finite coefficients.
    pub fn new(dim: usize, profile: ShearProfile) -> Result<Self> {
        if dim < 2 {
            return Err(Error::param(
                "dim",
                format!("a shear needs D ≥ 2, got {dim}"),
            ));
        }
        let finite = match profile {
            ShearProfile::Parabola { curvature } => curvature.is_finite(),
            ShearProfile::Sine {
                amplitude,
                frequency,
            } => amplitude.is_finite() && frequency.is_finite(),
        };
        if !finite {
            return Err(Error::param("profile", "shear coefficients must be finite"));
        }
        Ok(Self { dim, profile })
    }

    /// The banana φ(x) = (x₁ − x₂²/9, x₂, …) of ℝ^D.
    pub fn banana(dim: usize) -> Result<Self> {
        Self::new(dim, ShearProfile::BANANA)
    }

    /// The river φ(x) = (x₁ − sin 2x₂, x₂, …) of ℝ^D.
    pub fn river(dim: usize) -> Result<Self> {
        Self::new(dim, ShearProfile::RIVER)
    }

    /// The profile f.
    pub fn profile(&self) -> ShearProfile {
        self.profile
    }

    /// Copies `x`, then replaces column 0 by x₁ + sign·f(x₂).
    fn shift_first(&self, x: MatRef<'_, f64>, sign: f64) -> Result<Mat<f64>> {
        check_points(self.dim, x, "shear")?;
        let mut out = x.to_owned();
        for i in 0..x.nrows() {
            out[(i, 0)] += sign * self.profile.eval(x[(i, 1)]).0;
        }
        Ok(out)
    }

    /// Copies `v`, then adds sign·f′(x₂)·v[from] to column `to`.
    fn shear_vectors(
        &self,
        x: MatRef<'_, f64>,
        v: MatRef<'_, f64>,
        sign: f64,
        (to, from): (usize, usize),
    ) -> Result<Mat<f64>> {
        check_points(self.dim, x, "shear")?;
        check_same_shape(x, v, "shear tangent vectors")?;
        let mut out = v.to_owned();
        for i in 0..x.nrows() {
            out[(i, to)] += sign * self.profile.eval(x[(i, 1)]).1 * v[(i, from)];
        }
        Ok(out)
    }
}

impl Diffeomorphism for Shear {
    fn dim(&self) -> usize {
        self.dim
    }

    fn forward(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        self.shift_first(x, -1.0)
    }

    fn inverse(&self, z: MatRef<'_, f64>) -> Result<Mat<f64>> {
        // φ leaves x₂ alone, so z₂ = x₂ and x₁ = z₁ + f(z₂)
        self.shift_first(z, 1.0)
    }

    fn jacobians(&self, x: MatRef<'_, f64>) -> Result<Vec<Mat<f64>>> {
        check_points(self.dim, x, "shear")?;
        Ok((0..x.nrows())
            .map(|i| {
                let mut j = Mat::identity(self.dim, self.dim);
                j[(0, 1)] = -self.profile.eval(x[(i, 1)]).1;
                j
            })
            .collect())
    }

    fn push_forward(&self, x: MatRef<'_, f64>, v: MatRef<'_, f64>) -> Result<Mat<f64>> {
        // (v₁ − f′(x₂)v₂, v₂, …)
        self.shear_vectors(x, v, -1.0, (0, 1))
    }

    fn pull_back(&self, x: MatRef<'_, f64>, w: MatRef<'_, f64>) -> Result<Mat<f64>> {
        // (w₁ + f′(x₂)w₂, w₂, …)
        self.shear_vectors(x, w, 1.0, (0, 1))
    }

    fn vjp(&self, x: MatRef<'_, f64>, w: MatRef<'_, f64>) -> Result<Mat<f64>> {
        // Dφᵀw = (w₁, w₂ − f′(x₂)w₁, …)
        self.shear_vectors(x, w, -1.0, (1, 0))
    }

    fn describe(&self) -> String {
        match self.profile {
            ShearProfile::Parabola { curvature } => {
                format!("banana shear x1 - {curvature}·x2² of R^{}", self.dim)
            }
            ShearProfile::Sine {
                amplitude,
                frequency,
            } => format!(
                "river shear x1 - {amplitude}·sin({frequency}·x2) of R^{}",
                self.dim
            ),
        }
    }
}

impl SecondDerivatives for Shear {
    fn hessian_contraction(&self, x: &[f64], w: &[f64]) -> Result<Mat<f64>> {
        // only φ₁ = x₁ − f(x₂) is curved: ∇²φ₁ = −f″(x₂) e₂e₂ᵀ
        let mut h = Mat::zeros(self.dim, self.dim);
        h[(1, 1)] = -w[0] * self.profile.eval(x[1]).2;
        Ok(h)
    }

    fn hessian_vector_product(&self, x: &[f64], w: &[f64], v: &[f64]) -> Result<Vec<f64>> {
        let mut out = vec![0.0; self.dim];
        out[1] = -w[0] * self.profile.eval(x[1]).2 * v[1];
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts() -> Mat<f64> {
        Mat::from_fn(4, 3, |i, j| ((i * 3 + j) as f64 * 0.37).sin() * 2.0)
    }

    /// Each override against the trait's Jacobian-based default.
    fn overrides_match_defaults<P: Diffeomorphism>(phi: &P) {
        struct Plain<'a, P>(&'a P);
        impl<P: Diffeomorphism> Diffeomorphism for Plain<'_, P> {
            fn dim(&self) -> usize {
                self.0.dim()
            }
            fn forward(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
                self.0.forward(x)
            }
            fn inverse(&self, z: MatRef<'_, f64>) -> Result<Mat<f64>> {
                self.0.inverse(z)
            }
            fn jacobians(&self, x: MatRef<'_, f64>) -> Result<Vec<Mat<f64>>> {
                self.0.jacobians(x)
            }
            fn describe(&self) -> String {
                String::new()
            }
        }
        let x = pts();
        let v = Mat::from_fn(4, 3, |i, j| ((i + 2 * j) as f64 * 0.71).cos());
        let plain = Plain(phi);
        let pairs = [
            (
                phi.push_forward(x.as_ref(), v.as_ref()),
                plain.push_forward(x.as_ref(), v.as_ref()),
            ),
            (
                phi.pull_back(x.as_ref(), v.as_ref()),
                plain.pull_back(x.as_ref(), v.as_ref()),
            ),
            (
                phi.vjp(x.as_ref(), v.as_ref()),
                plain.vjp(x.as_ref(), v.as_ref()),
            ),
        ];
        for (a, b) in pairs {
            let (a, b) = (a.unwrap(), b.unwrap());
            for i in 0..4 {
                for j in 0..3 {
                    assert!((a[(i, j)] - b[(i, j)]).abs() < 1e-12, "{}", phi.describe());
                }
            }
        }
    }

    #[test]
    fn overrides_agree_with_jacobians() {
        overrides_match_defaults(&Shear::banana(3).unwrap());
        overrides_match_defaults(&Shear::river(3).unwrap());
        let l = Mat::from_fn(3, 3, |i, j| if i == j { 2.0 } else { 0.3 * (i + j) as f64 });
        overrides_match_defaults(&Affine::new(l, vec![1.0, -2.0, 0.5]).unwrap());
    }

    /// Central differences of φ against the hand-derived Jacobians and Hessian contraction.
    #[test]
    fn jacobians_and_hessians_match_finite_differences() {
        for phi in [Shear::banana(3).unwrap(), Shear::river(3).unwrap()] {
            let x = [0.4, -1.3, 0.2];
            let w = [0.7, -0.2, 1.1];
            let h = 1e-5;
            let eval = |p: &[f64]| phi.forward(MatRef::from_row_major_slice(p, 1, 3)).unwrap();
            let jac = &phi
                .jacobians(MatRef::from_row_major_slice(&x, 1, 3))
                .unwrap()[0];
            let grad_wphi = |p: &[f64]| {
                let j = &phi
                    .jacobians(MatRef::from_row_major_slice(p, 1, 3))
                    .unwrap()[0];
                (0..3)
                    .map(|b| (0..3).map(|a| w[a] * j[(a, b)]).sum::<f64>())
                    .collect::<Vec<_>>()
            };
            let hess = phi.hessian_contraction(&x, &w).unwrap();
            for b in 0..3 {
                let (mut xp, mut xm) = (x, x);
                xp[b] += h;
                xm[b] -= h;
                let (fp, fm) = (eval(&xp), eval(&xm));
                let (gp, gm) = (grad_wphi(&xp), grad_wphi(&xm));
                for a in 0..3 {
                    let fd = (fp[(0, a)] - fm[(0, a)]) / (2.0 * h);
                    assert!((fd - jac[(a, b)]).abs() < 1e-8, "{a}{b}");
                    let fd2 = (gp[a] - gm[a]) / (2.0 * h);
                    assert!((fd2 - hess[(a, b)]).abs() < 1e-7, "hessian {a}{b}");
                }
            }
        }
    }

    /// The composition's chained overrides against its Jacobians, and its Hessian contraction
    /// against finite differences of wᵀDφ.
    #[test]
    fn composition_chains_differentials() {
        let l = Mat::from_fn(3, 3, |i, j| {
            if i == j {
                1.2
            } else {
                0.2 * (i as f64 - j as f64)
            }
        });
        let comp = Composition::new(
            Affine::new(l, vec![0.1, 0.0, -0.3]).unwrap(),
            Shear::river(3).unwrap(),
        )
        .unwrap();
        overrides_match_defaults(&comp);
        let x = [0.4, -0.9, 0.3];
        let w = [0.6, -1.1, 0.8];
        let h = 1e-5;
        let grad_wphi = |p: &[f64]| {
            let j = &comp
                .jacobians(MatRef::from_row_major_slice(p, 1, 3))
                .unwrap()[0];
            (0..3)
                .map(|b| (0..3).map(|a| w[a] * j[(a, b)]).sum::<f64>())
                .collect::<Vec<_>>()
        };
        let hess = comp.hessian_contraction(&x, &w).unwrap();
        for b in 0..3 {
            let (mut xp, mut xm) = (x, x);
            xp[b] += h;
            xm[b] -= h;
            let (gp, gm) = (grad_wphi(&xp), grad_wphi(&xm));
            for a in 0..3 {
                assert!(
                    ((gp[a] - gm[a]) / (2.0 * h) - hess[(a, b)]).abs() < 1e-7,
                    "{a}{b}"
                );
            }
        }
        let v = [0.3, 0.5, -0.7];
        let hv = comp.hessian_vector_product(&x, &w, &v).unwrap();
        for a in 0..3 {
            let want: f64 = (0..3).map(|b| hess[(a, b)] * v[b]).sum();
            assert!((hv[a] - want).abs() < 1e-12, "hvp {a}");
        }
        assert!(Composition::new(Shear::banana(2).unwrap(), Shear::banana(3).unwrap()).is_err());
    }

    #[test]
    fn affine_rejects_singular_and_ragged() {
        let singular = Mat::from_fn(2, 2, |_, _| 1.0);
        assert!(Affine::new(singular, vec![0.0; 2]).is_err());
        assert!(Affine::new(Mat::identity(2, 2), vec![0.0; 3]).is_err());
        assert!(Affine::new(Mat::zeros(2, 3), vec![0.0; 2]).is_err());
        let id = Affine::identity(2).unwrap();
        let x = Mat::from_fn(1, 2, |_, j| j as f64 + 0.5);
        assert_eq!(id.forward(x.as_ref()).unwrap(), x);
    }

    #[test]
    fn shear_checks_dimension() {
        assert!(Shear::banana(1).is_err());
        assert!(Shear::new(
            2,
            ShearProfile::Sine {
                amplitude: f64::NAN,
                frequency: 1.0
            }
        )
        .is_err());
        let e = Shear::banana(2)
            .unwrap()
            .forward(Mat::<f64>::zeros(1, 3).as_ref());
        assert!(e.unwrap_err().to_string().contains("expects 2, found 3"));
    }
}
