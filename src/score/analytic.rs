//! Analytic score models: exact scores at every time, the oracles the estimators are tested on.
//!
//! - [`SubspaceGaussian`]: N(μ, τ² P_T + δ² P_N) concentrated on a k-dimensional affine subspace
//!   (P_T = UUᵀ, δ ≪ τ). Diffused: N(αμ, α²Σ + σ²I), so
//!   s(x, t) = −[P_T/(α²τ² + σ²) + P_N/(α²δ² + σ²)](x − αμ).
//! - [`GaussianMixture`]: equal-weight isotropic mixture Σₘ N(cₘ, h²I) (h = 0 gives the noised
//!   empirical distribution of a dataset). Diffused: components N(αcₘ, (α²h² + σ²)I), so
//!   s(x, t) = Σₘ wₘ(x)(αcₘ − x)/v with softmax weights wₘ and v = α²h² + σ².

use super::ScoreModel;
use crate::check::check_dim;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::sde::Sde;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// A Gaussian concentrated on a random k-dimensional affine subspace of ℝ^D.
#[derive(Clone, Debug)]
pub struct SubspaceGaussian {
    mean: Vec<f64>,
    basis: Mat<f64>,
    tangent_var: f64,
    normal_var: f64,
    sde: Sde,
}

impl SubspaceGaussian {
    /// A seeded random subspace: μ ~ N(0, I), U from the QR factor of a Gaussian D×k matrix;
    /// tangent standard deviation 1 and normal standard deviation 10⁻⁴.
    pub fn random(dim: usize, k: usize, sde: Sde, seed: u64) -> Result<Self> {
        if dim == 0 || k > dim {
            return Err(Error::param(
                "k",
                format!("need 0 ≤ k ≤ D with D ≥ 1, got k = {k}, D = {dim}"),
            ));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mean: Vec<f64> = (0..dim).map(|_| StandardNormal.sample(&mut rng)).collect();
        let g = Mat::from_fn(dim, k, |_, _| -> f64 { StandardNormal.sample(&mut rng) });
        let basis = if k == 0 {
            Mat::zeros(dim, 0)
        } else {
            g.qr().compute_thin_Q()
        };
        Self::new(mean, basis, 1.0, 1e-8, sde)
    }

    /// A subspace through `mean` spanned by the orthonormal columns of `basis` (D×k).
    pub fn new(
        mean: Vec<f64>,
        basis: Mat<f64>,
        tangent_var: f64,
        normal_var: f64,
        sde: Sde,
    ) -> Result<Self> {
        check_dim(mean.len(), basis.nrows(), "subspace basis rows")?;
        if !(tangent_var > 0.0 && normal_var > 0.0) {
            return Err(Error::param(
                "variance",
                "tangent and normal variances must be positive",
            ));
        }
        sde.check()?;
        Ok(Self {
            mean,
            basis,
            tangent_var,
            normal_var,
            sde,
        })
    }

    /// Intrinsic dimension k.
    pub fn intrinsic_dim(&self) -> usize {
        self.basis.ncols()
    }

    /// Draws n seeded samples of the (undiffused) distribution.
    pub fn sample(&self, n: usize, seed: u64) -> Dataset {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (d, k) = (self.mean.len(), self.intrinsic_dim());
        let (tau, delta) = (self.tangent_var.sqrt(), self.normal_var.sqrt());
        let mut values = Vec::with_capacity(n * d);
        for _ in 0..n {
            let g: Vec<f64> = (0..k)
                .map(|_| tau * Distribution::<f64>::sample(&StandardNormal, &mut rng))
                .collect();
            for a in 0..d {
                let tangent: f64 = (0..k).map(|c| self.basis[(a, c)] * g[c]).sum();
                let normal: f64 = delta * Distribution::<f64>::sample(&StandardNormal, &mut rng);
                values.push(self.mean[a] + tangent + normal);
            }
        }
        Dataset::from_row_major(values, n, d).expect("finite samples")
    }

    /// The precisions (1/(α²τ² + σ²), 1/(α²δ² + σ²)) along tangent and normal directions at t.
    fn precisions(&self, t: f64) -> (f64, f64, f64) {
        let m = self.sde.marginal(t);
        let s2 = m.sigma * m.sigma;
        let a2 = m.alpha * m.alpha;
        (
            1.0 / (a2 * self.tangent_var + s2),
            1.0 / (a2 * self.normal_var + s2),
            m.alpha,
        )
    }
}

impl ScoreModel for SubspaceGaussian {
    fn dim(&self) -> usize {
        self.mean.len()
    }

    fn sde(&self) -> &Sde {
        &self.sde
    }

    fn score(&self, x: MatRef<'_, f64>, t: f64) -> Result<Mat<f64>> {
        check_dim(self.dim(), x.ncols(), "subspace Gaussian")?;
        let (pt, pn, alpha) = self.precisions(t);
        let r = Mat::from_fn(x.nrows(), x.ncols(), |i, j| {
            x[(i, j)] - alpha * self.mean[j]
        });
        // coordinates along the subspace, then back: (r U) Uᵀ = r P_T
        let mut coords = Mat::zeros(x.nrows(), self.intrinsic_dim());
        matmul(
            coords.as_mut(),
            Accum::Replace,
            r.as_ref(),
            self.basis.as_ref(),
            1.0,
            Par::Seq,
        );
        let mut s = Mat::from_fn(x.nrows(), x.ncols(), |i, j| -pn * r[(i, j)]);
        matmul(
            s.as_mut(),
            Accum::Add,
            coords.as_ref(),
            self.basis.transpose(),
            pn - pt,
            Par::Seq,
        );
        Ok(s)
    }

    fn score_jacobians(&self, x: MatRef<'_, f64>, t: f64) -> Result<Vec<Mat<f64>>> {
        check_dim(self.dim(), x.ncols(), "subspace Gaussian")?;
        let (pt, pn, _) = self.precisions(t);
        // ∇s = −pn I − (pt − pn) U Uᵀ, the same at every point
        let mut j = Mat::from_fn(
            self.dim(),
            self.dim(),
            |a, b| if a == b { -pn } else { 0.0 },
        );
        matmul(
            j.as_mut(),
            Accum::Add,
            self.basis.as_ref(),
            self.basis.transpose(),
            pn - pt,
            Par::Seq,
        );
        Ok(vec![j; x.nrows()])
    }

    fn describe(&self) -> String {
        format!(
            "analytic Gaussian on a {}-dimensional affine subspace of R^{} ({} SDE)",
            self.intrinsic_dim(),
            self.dim(),
            self.sde.name()
        )
    }
}

/// An equal-weight isotropic Gaussian mixture Σₘ N(cₘ, h²I)/M.
#[derive(Clone, Debug)]
pub struct GaussianMixture {
    centers: Dataset,
    component_var: f64,
    sde: Sde,
}

impl GaussianMixture {
    /// A mixture with the rows of `centers` as means and component variance h² ≥ 0.
    pub fn new(centers: Dataset, component_var: f64, sde: Sde) -> Result<Self> {
        if centers.is_empty() {
            return Err(Error::InvalidData(
                "a Gaussian mixture needs at least one center".into(),
            ));
        }
        if !(component_var >= 0.0 && component_var.is_finite()) {
            return Err(Error::param("component_var", "must be finite and ≥ 0"));
        }
        sde.check()?;
        Ok(Self {
            centers,
            component_var,
            sde,
        })
    }

    /// The mixture oracle of a dataset: components N(xᵢ, h²I) at its points (h = 0: the noised
    /// empirical distribution) under VE from σ_min = 10⁻³·diameter to σ_max = diameter (the
    /// diameter of the bounding box).
    pub fn oracle(data: Dataset, h: f64) -> Result<Self> {
        data.check_spread()?;
        let d = data.dim();
        let (mut lo, mut hi) = (vec![f64::INFINITY; d], vec![f64::NEG_INFINITY; d]);
        for row in data.rows() {
            for j in 0..d {
                lo[j] = lo[j].min(row[j]);
                hi[j] = hi[j].max(row[j]);
            }
        }
        let diameter = lo
            .iter()
            .zip(&hi)
            .map(|(a, b)| (b - a).powi(2))
            .sum::<f64>()
            .sqrt()
            .max(1e-12);
        let sde = Sde::Ve {
            sigma_min: 1e-3 * diameter,
            sigma_max: diameter,
        };
        Self::new(data, h * h, sde)
    }

    /// The oracle's default noise scale on `data`: the median distance to the 5th nearest other
    /// point at a different position (over up to 256 query points drawn with `seed`), and at
    /// least the component standard deviation `h`. The empirical mixture looks like a manifold
    /// only above the point spacing, and the 5th neighbour copes with uneven spacing where the
    /// nearest one does not.
    pub fn default_sigma(data: &Dataset, h: f64, seed: u64) -> Result<f64> {
        data.check_spread()?;
        let spacing = median_spacing(data, 5, seed)?;
        if !(spacing.is_finite() && spacing > 0.0) {
            return Err(Error::param(
                "sigma",
                "the data have too few distinct points to choose the mixture oracle's σ: give \
                 `sigma` or `t0`",
            ));
        }
        Ok(spacing.max(h))
    }

    /// The centers cₘ.
    pub fn centers(&self) -> &Dataset {
        &self.centers
    }

    /// Softmax responsibilities wₘ(xᵢ) (n×M) and the component variance v at time t.
    fn responsibilities(&self, x: MatRef<'_, f64>, t: f64) -> (Mat<f64>, f64, f64) {
        let m = self.sde.marginal(t);
        let v = m.alpha * m.alpha * self.component_var + m.sigma * m.sigma;
        let c = self.centers.as_mat();
        // −|x − αc|²/2v = (x·αc − ½α²|c|²)/v − |x|²/2v; the last term cancels in the softmax
        let mut logits = Mat::zeros(x.nrows(), c.nrows());
        matmul(
            logits.as_mut(),
            Accum::Replace,
            x,
            c.transpose(),
            m.alpha / v,
            Par::Seq,
        );
        let half_norms: Vec<f64> = self
            .centers
            .rows()
            .map(|r| 0.5 * m.alpha * m.alpha * r.iter().map(|a| a * a).sum::<f64>() / v)
            .collect();
        for i in 0..x.nrows() {
            let mut max = f64::NEG_INFINITY;
            for (k, hn) in half_norms.iter().enumerate() {
                logits[(i, k)] -= hn;
                max = max.max(logits[(i, k)]);
            }
            let mut total = 0.0;
            for k in 0..c.nrows() {
                let z = logits[(i, k)] - max;
                // e⁻⁵⁰ ≈ 2e-22 is far below f64 rounding beside the max term 1: skip the exp
                let w = if z < -50.0 { 0.0 } else { z.exp() };
                logits[(i, k)] = w;
                total += w;
            }
            for k in 0..c.nrows() {
                logits[(i, k)] /= total;
            }
        }
        (logits, v, m.alpha)
    }
}

/// Median distance to the k-th nearest other point at a different position, over up to 256
/// query points drawn with `seed` (all points when there are fewer); NaN when no point has a
/// neighbour at a positive distance.
fn median_spacing(data: &Dataset, k: usize, seed: u64) -> Result<f64> {
    let n = data.len();
    if n < 2 {
        return Ok(f64::NAN);
    }
    let queries = crate::rng::choose_indices(n, 256, seed);
    // copies of a query sit at distance 0 and do not count: widen the search until every query
    // has k neighbours at positive distance, or has all n − 1 others
    let mut wanted = k.min(n - 1);
    loop {
        let nn = crate::knn::k_nearest_of(data, &queries, wanted)?;
        let all_seen = wanted == n - 1;
        let mut found = Vec::with_capacity(queries.len());
        let mut complete = true;
        for q in 0..queries.len() {
            let positive: Vec<f64> = nn
                .distances(q)
                .iter()
                .copied()
                .filter(|&r| r > 0.0)
                .collect();
            if positive.len() >= k {
                found.push(positive[k - 1]);
            } else if all_seen {
                // fewer than k others at a positive distance: the farthest of them
                found.extend(positive.last());
            } else {
                complete = false;
                break;
            }
        }
        if complete {
            return Ok(crate::id::median(&found));
        }
        wanted = (2 * wanted).min(n - 1);
    }
}

impl ScoreModel for GaussianMixture {
    fn dim(&self) -> usize {
        self.centers.dim()
    }

    fn sde(&self) -> &Sde {
        &self.sde
    }

    fn score(&self, x: MatRef<'_, f64>, t: f64) -> Result<Mat<f64>> {
        check_dim(self.dim(), x.ncols(), "Gaussian mixture")?;
        let (w, v, alpha) = self.responsibilities(x, t);
        // s = (α Σ wₘ cₘ − x)/v
        let mut s = Mat::from_fn(x.nrows(), x.ncols(), |i, j| -x[(i, j)] / v);
        matmul(
            s.as_mut(),
            Accum::Add,
            w.as_ref(),
            self.centers.as_mat(),
            alpha / v,
            Par::Seq,
        );
        Ok(s)
    }

    fn score_jacobians(&self, x: MatRef<'_, f64>, t: f64) -> Result<Vec<Mat<f64>>> {
        check_dim(self.dim(), x.ncols(), "Gaussian mixture")?;
        let (w, v, alpha) = self.responsibilities(x, t);
        let d = self.dim();
        // ∇s = −I/v + Cov_w(αc)/v²: the responsibility-weighted covariance of the shifted centers
        Ok((0..x.nrows())
            .map(|i| {
                let mut mu = vec![0.0; d];
                for (k, c) in self.centers.rows().enumerate() {
                    for j in 0..d {
                        mu[j] += w[(i, k)] * alpha * c[j];
                    }
                }
                let mut jac = Mat::from_fn(d, d, |a, b| if a == b { -1.0 / v } else { 0.0 });
                for (k, c) in self.centers.rows().enumerate() {
                    let wk = w[(i, k)] / (v * v);
                    if wk < 1e-300 {
                        continue;
                    }
                    for a in 0..d {
                        let da = alpha * c[a] - mu[a];
                        for b in 0..d {
                            jac[(a, b)] += wk * da * (alpha * c[b] - mu[b]);
                        }
                    }
                }
                jac
            })
            .collect())
    }

    /// vᵀ∇s in O(M·D) per row, without forming the D×D Jacobian: ∇s = −I/v + Cov_w(αc)/v² is
    /// symmetric, so vᵀ∇s = −v/v + Σₘ wₘ((αcₘ − μ)·v)(αcₘ − μ)/v² with μ = Σₘ wₘαcₘ.
    fn score_vjp(&self, x: MatRef<'_, f64>, t: f64, v: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_dim(self.dim(), x.ncols(), "Gaussian mixture")?;
        check_dim(x.nrows(), v.nrows(), "cotangent rows")?;
        check_dim(x.ncols(), v.ncols(), "cotangent columns")?;
        let (w, var, alpha) = self.responsibilities(x, t);
        let d = self.dim();
        let mut mu = Mat::zeros(x.nrows(), d);
        matmul(
            mu.as_mut(),
            Accum::Replace,
            w.as_ref(),
            self.centers.as_mat(),
            alpha,
            Par::Seq,
        );
        let mut out = Mat::from_fn(x.nrows(), d, |i, j| -v[(i, j)] / var);
        let mut acc = vec![0.0; d];
        for i in 0..x.nrows() {
            acc.iter_mut().for_each(|a| *a = 0.0);
            for (k, c) in self.centers.rows().enumerate() {
                let wk = w[(i, k)];
                // underflowed responsibilities contribute nothing at any precision we keep
                if wk < f64::MIN_POSITIVE {
                    continue;
                }
                // centred on μ, as in the Jacobian, so far-off centers do not cancel
                let p = wk
                    * (0..d)
                        .map(|j| (alpha * c[j] - mu[(i, j)]) * v[(i, j)])
                        .sum::<f64>();
                for (j, a) in acc.iter_mut().enumerate() {
                    *a += p * (alpha * c[j] - mu[(i, j)]);
                }
            }
            for (j, a) in acc.iter().enumerate() {
                out[(i, j)] += a / (var * var);
            }
        }
        Ok(out)
    }

    fn describe(&self) -> String {
        format!(
            "analytic Gaussian mixture of {} components (h² = {}) in R^{} ({} SDE)",
            self.centers.len(),
            self.component_var,
            self.dim(),
            self.sde.name()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Central differences of log p_t for the diffused subspace Gaussian, the density written out.
    #[test]
    fn subspace_score_is_gradient_of_log_density() {
        let sde = Sde::vp_default();
        let g = SubspaceGaussian::new(
            vec![0.3, -0.2, 0.1],
            Mat::from_fn(3, 1, |i, _| [0.6, 0.8, 0.0][i]),
            2.0,
            0.05,
            sde,
        )
        .unwrap();
        let t = 0.2;
        let m = sde.marginal(t);
        let log_p = |x: &[f64]| {
            let r: Vec<f64> = x
                .iter()
                .zip(&g.mean)
                .map(|(a, mu)| a - m.alpha * mu)
                .collect();
            let along = 0.6 * r[0] + 0.8 * r[1];
            let normal2 = r.iter().map(|a| a * a).sum::<f64>() - along * along;
            -0.5 * along * along / (m.alpha.powi(2) * 2.0 + m.sigma.powi(2))
                - 0.5 * normal2 / (m.alpha.powi(2) * 0.05 + m.sigma.powi(2))
        };
        let x = [0.7, 0.1, -0.4];
        let s = g.score(MatRef::from_row_major_slice(&x, 1, 3), t).unwrap();
        for j in 0..3 {
            let mut xp = x;
            let mut xm = x;
            xp[j] += 1e-5;
            xm[j] -= 1e-5;
            let fd = (log_p(&xp) - log_p(&xm)) / 2e-5;
            assert!((fd - s[(0, j)]).abs() < 1e-6, "{j}: {fd} vs {}", s[(0, j)]);
        }
    }

    #[test]
    fn mixture_score_and_jacobian_match_finite_differences() {
        let centers =
            Dataset::from_rows(&[vec![0.0, 0.0], vec![1.0, 0.5], vec![-0.5, 1.0]]).unwrap();
        let gm = GaussianMixture::new(centers, 0.1, Sde::ve(5.0)).unwrap();
        let t = 0.3;
        let v = 0.1 + gm.sde.marginal(t).sigma.powi(2);
        let log_p = |x: &[f64]| {
            gm.centers()
                .rows()
                .map(|c| (-((x[0] - c[0]).powi(2) + (x[1] - c[1]).powi(2)) / (2.0 * v)).exp())
                .sum::<f64>()
                .ln()
        };
        let x = [0.2, 0.4];
        let xm = MatRef::from_row_major_slice(&x, 1, 2);
        let s = gm.score(xm, t).unwrap();
        for j in 0..2 {
            let (mut a, mut b) = (x, x);
            a[j] += 1e-6;
            b[j] -= 1e-6;
            assert!(((log_p(&a) - log_p(&b)) / 2e-6 - s[(0, j)]).abs() < 1e-6);
        }
        let exact = gm.score_jacobians(xm, t).unwrap();
        // the trait's default finite-difference Jacobian is the independent check
        let fd = {
            struct Plain<'a>(&'a GaussianMixture);
            impl ScoreModel for Plain<'_> {
                fn dim(&self) -> usize {
                    2
                }
                fn sde(&self) -> &Sde {
                    &self.0.sde
                }
                fn score(&self, x: MatRef<'_, f64>, t: f64) -> Result<Mat<f64>> {
                    self.0.score(x, t)
                }
                fn describe(&self) -> String {
                    String::new()
                }
            }
            Plain(&gm).score_jacobians(xm, t).unwrap()
        };
        for a in 0..2 {
            for b in 0..2 {
                assert!((exact[0][(a, b)] - fd[0][(a, b)]).abs() < 1e-5, "{a}{b}");
            }
        }
        assert!(
            (exact[0][(0, 1)] - exact[0][(1, 0)]).abs() < 1e-12,
            "Hessian of log p is symmetric"
        );
    }

    /// The O(M·D) VJP against the contraction vᵀJ of the exact Jacobians (the trait default),
    /// on random points, cotangents and centers far from the origin, at small and large t.
    #[test]
    fn mixture_vjp_matches_contracted_jacobian() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut normal = |scale: f64, shift: f64| -> f64 {
            shift + scale * Distribution::<f64>::sample(&StandardNormal, &mut rng)
        };
        let (m, d, n) = (40, 7, 9);
        let rows: Vec<Vec<f64>> = (0..m)
            .map(|_| (0..d).map(|_| normal(1.0, 5.0)).collect())
            .collect();
        let gm =
            GaussianMixture::new(Dataset::from_rows(&rows).unwrap(), 0.04, Sde::ve(20.0)).unwrap();
        let x = Mat::from_fn(n, d, |_, _| normal(1.5, 5.0));
        let v = Mat::from_fn(n, d, |_, _| normal(1.0, 0.0));
        // the largest relative share of the covariance term, so the test is known to exercise it
        let mut mixing: f64 = 0.0;
        for t in [0.05, 0.3, 0.5, 0.6, 0.7, 0.9] {
            let fast = gm.score_vjp(x.as_ref(), t, v.as_ref()).unwrap();
            let jac = gm.score_jacobians(x.as_ref(), t).unwrap();
            let var = 0.04 + gm.sde.marginal(t).sigma.powi(2);
            for i in 0..n {
                let want: Vec<f64> = (0..d)
                    .map(|b| (0..d).map(|a| v[(i, a)] * jac[i][(a, b)]).sum())
                    .collect();
                let scale = want.iter().map(|w| w * w).sum::<f64>().sqrt();
                let cov_part = (0..d)
                    .map(|b| (want[b] + v[(i, b)] / var).powi(2))
                    .sum::<f64>()
                    .sqrt();
                mixing = mixing.max(cov_part / scale);
                for b in 0..d {
                    assert!(
                        (fast[(i, b)] - want[b]).abs() <= 1e-9 * scale,
                        "t = {t}, row {i}, column {b}: {} vs {}",
                        fast[(i, b)],
                        want[b]
                    );
                }
            }
        }
        assert!(
            mixing > 0.3,
            "the covariance term never mattered ({mixing})"
        );
        let short = Mat::<f64>::zeros(n - 1, d);
        assert!(gm.score_vjp(x.as_ref(), 0.3, short.as_ref()).is_err());
    }

    #[test]
    fn rejects_wrong_dimension() {
        let g = SubspaceGaussian::random(4, 2, Sde::vp_default(), 1).unwrap();
        let x = Mat::<f64>::zeros(2, 3);
        let e = g.score(x.as_ref(), 0.1).unwrap_err().to_string();
        assert!(e.contains("expects 4, found 3"), "{e}");
    }

    /// The oracle: all direct distances from each query, copies of it dropped.
    fn brute_force_spacing(data: &Dataset, k: usize, seed: u64) -> f64 {
        let queries = crate::rng::choose_indices(data.len(), 256, seed);
        let found: Vec<f64> = queries
            .iter()
            .filter_map(|&i| {
                let mut d: Vec<f64> = (0..data.len())
                    .filter(|&j| j != i)
                    .map(|j| {
                        let d2: f64 = data
                            .row(i)
                            .iter()
                            .zip(data.row(j))
                            .map(|(a, b)| (a - b) * (a - b))
                            .sum();
                        d2.sqrt()
                    })
                    .filter(|&r| r > 0.0)
                    .collect();
                d.sort_by(f64::total_cmp);
                d.get(k.min(d.len()).checked_sub(1)?).copied()
            })
            .collect();
        crate::id::median(&found)
    }

    #[test]
    fn oracle_spacing_skips_copies_and_matches_brute_force() {
        // 300 points on a circle in ℝ², the first 40 repeated 6 times: every copy of a query
        // must be skipped, which needs a wider search than k = 5
        let mut rows: Vec<Vec<f64>> = (0..300)
            .map(|i| {
                let a = i as f64 * 0.021;
                vec![a.cos(), a.sin()]
            })
            .collect();
        for i in 0..40 {
            for _ in 0..6 {
                rows.push(rows[i].clone());
            }
        }
        let data = Dataset::from_rows(&rows).unwrap();
        for seed in [0, 3] {
            let got = median_spacing(&data, 5, seed).unwrap();
            assert_eq!(got, brute_force_spacing(&data, 5, seed), "seed {seed}");
        }
        // five points, two distinct positions: fewer than k others at a positive distance
        let few = Dataset::from_rows(&[vec![0.0], vec![0.0], vec![1.0], vec![0.0], vec![1.0]]);
        let few = few.unwrap();
        assert_eq!(median_spacing(&few, 5, 0).unwrap(), 1.0);
        let same = Dataset::from_rows(&[vec![2.0], vec![2.0]]).unwrap();
        let err = GaussianMixture::default_sigma(&same, 0.0, 0).unwrap_err();
        assert!(
            matches!(err, Error::InvalidParameter { name: "sigma", .. }),
            "{err}"
        );
        assert_eq!(GaussianMixture::default_sigma(&few, 3.0, 0).unwrap(), 3.0);
        let oracle = GaussianMixture::oracle(few, 0.5).unwrap();
        assert_eq!(
            oracle.sde,
            Sde::Ve {
                sigma_min: 1e-3,
                sigma_max: 1.0
            }
        );
        assert_eq!(oracle.component_var, 0.25);
    }
}
