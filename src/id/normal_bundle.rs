//! The normal-bundle estimator (Stanczuk, Batzolis et al., "Diffusion models encode the intrinsic
//! dimension of data manifolds", ICML 2024).
//!
//! For a point x₀ and a small time t₀, draw K samples xᵢ = α(t₀)x₀ + σ(t₀)zᵢ from the forward
//! kernel and stack their scores S = [s(xᵢ, t₀)] ∈ ℝ^{K×D}. Near the manifold the scores span the
//! normal space, so S has n̂ large singular values; the local ID is D − n̂ (see
//! [`read_off`] for the rules and the full-dimension criterion).
//!
//! The scores are centred over the K samples before the SVD. Their mean is the density gradient
//! smoothed over the neighbourhood, a tangent drift rather than a normal direction: in
//! full-dimensional data (a Gaussian filling ℝ^D) it would pass the normal floor and read D − 1.
//! The normal components −z/σ have mean zero, so centring only costs them one degree of freedom:
//! their singular values sit near √(K − 1)/σ.
//!
//! A model that has not resolved a normal direction's noise response may still pull every sample
//! towards the manifold (a mean score of order 1/σ along the normal). Centring removes that pull,
//! so it is tested apart: the uncentred spectrum, SᵀS = CᵀC + Kμμᵀ, gains a value only where μ
//! leaves the span of the counted normal directions, and when its (n̂ + 1)-th value reaches the
//! reference r = √(K − 1)/σ itself — the mean displacement per sample is as large as a resolved
//! normal response, a full σ — one more normal direction is counted
//! ([`NormalBundleParams::mean_pull`], on by default). A density gradient or a model's pull
//! towards its training points stays below that on the benchmark suite (at most ≈ 0.7·r on
//! full-dimensional and curved sets), while an under-resolved cube face reaches ≈ 1.7·r.
//!
//! Differences from the reference code (DESIGN §3): K follows D (default max(4·D, 64), not
//! `prod(shape[1:])`), the first gap counts, every requested point is processed, and the
//! neighbourhood is sampled around x₀ itself.
//!
//! ```
//! use scoregeo::id::NormalBundle;
//! use scoregeo::score::analytic::SubspaceGaussian;
//! use scoregeo::Sde;
//!
//! // a Gaussian on a 2-dimensional affine subspace of ℝ^6, with its exact score
//! let model = SubspaceGaussian::random(6, 2, Sde::vp_default(), 7).unwrap();
//! let data = model.sample(20, 1);
//! let estimate = NormalBundle::params().seed(3).check().unwrap().fit(&model, &data).unwrap();
//! assert_eq!(estimate.global_id(), 2.0);
//! assert!(estimate.local_ids().iter().all(|&k| k == 2.0));
//! ```

use super::common::{
    check_inputs, check_normal_floor, evaluate_in_batches, readoff_setters,
    score_estimator_setters, ScoreEstimatorCommon,
};
use super::readoff::{read_off, Rule};
use super::{require_model, IdEstimate, IdEstimator, LocalEstimate, Method, MethodSettings};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::linalg::singular_values_via_gram;
use crate::rng;
use crate::score::ScoreModel;
use faer::Mat;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// The default number of samples K = max(4·D, 64).
///
/// The n̂ normal singular values of K sampled scores scatter by about ±√(n̂/K) around √K/σ
/// (Marchenko–Pastur). With 4·D samples in small D (12 for D = 3) that scatter can exceed the
/// gap to the tangent values — on a line in ℝ³ a quarter of the points then read ID 2 — so K
/// never drops below 64, which caps the scatter near ±√(D/64).
pub fn default_samples(dim: usize) -> usize {
    (4 * dim).max(64)
}

/// Unchecked settings of the normal-bundle estimator (a builder).
#[derive(Clone, Debug)]
pub struct NormalBundleParams {
    common: ScoreEstimatorCommon,
    samples: Option<usize>,
    rule: Rule,
    normal_floor: f64,
    keep_spectra: bool,
    centred: bool,
    mean_pull: bool,
}

impl Default for NormalBundleParams {
    fn default() -> Self {
        Self {
            common: ScoreEstimatorCommon::new("batch_rows", 16_384),
            samples: None,
            rule: Rule::MaxGap,
            normal_floor: 0.1,
            keep_spectra: true,
            centred: true,
            mean_pull: true,
        }
    }
}

impl NormalBundleParams {
    score_estimator_setters! {
        t0: "Time t₀ of the perturbation (default: the SDE's [`default_t0`](crate::Sde::default_t0)).",
        seed: "Seed of every random draw (results do not depend on the thread count).",
        batch_rows: "Rows per batched score evaluation (default 16 384; points are grouped to fill it).",
    }

    readoff_setters! {
        normal_floor: "Normal floor ν: values below ν·√K/σ(t₀) cannot be normal directions (default 0.1).",
    }

    /// Samples K per point (default max(4·D, 64), see [`default_samples`]).
    pub fn samples(mut self, k: usize) -> Self {
        self.samples = Some(k);
        self
    }

    /// Whether to keep each point's spectrum in the estimate (default true).
    pub fn keep_spectra(mut self, keep: bool) -> Self {
        self.keep_spectra = keep;
        self
    }

    /// Whether to centre the K scores of a point before the SVD (default true; false is the
    /// estimator of the paper, which reads D − 1 on full-dimensional data).
    pub fn centred(mut self, centred: bool) -> Self {
        self.centred = centred;
        self
    }

    /// Whether a centred read-out counts a mean pull of at least √(K − 1)/σ as one more normal
    /// direction (default true; see the [module docs](self)).
    pub fn mean_pull(mut self, pull: bool) -> Self {
        self.mean_pull = pull;
        self
    }

    /// Validates the settings once.
    pub fn check(self) -> Result<NormalBundle> {
        self.common.check(|| {
            if self.samples == Some(0) || (self.centred && self.samples == Some(1)) {
                return Err(Error::param(
                    "samples",
                    "need at least one sample per point (two when centred)",
                ));
            }
            check_normal_floor(self.normal_floor)
        })?;
        self.rule.check()?;
        Ok(NormalBundle { params: self })
    }
}

/// The checked normal-bundle estimator.
#[derive(Clone, Debug)]
pub struct NormalBundle {
    params: NormalBundleParams,
}

impl NormalBundle {
    /// A builder with the defaults.
    pub fn params() -> NormalBundleParams {
        NormalBundleParams::default()
    }

    /// Estimates the local ID at the selected points of `data` with the score `model`.
    ///
    /// `global_id` is the mean of the local IDs; the median and histogram are on the estimate.
    pub fn fit(&self, model: &dyn ScoreModel, data: &Dataset) -> Result<IdEstimate> {
        let p = &self.params;
        check_inputs(model, data)?;
        let d = data.dim();
        let t0 = p.common.t0_for(model);
        let k = p.samples.unwrap_or_else(|| default_samples(d));
        let indices = p.common.indices(data);
        let kernel = model.kernel(t0);
        // a normal direction's scores are −z/σ: K of them have singular value ≈ √K/σ, and
        // √(K − 1)/σ once centred
        let dof = if p.centred { k - 1 } else { k };
        let reference = (dof as f64).sqrt() / kernel.std;
        let per_batch = (p.common.batch / k).max(1);
        let points = evaluate_in_batches(
            &indices,
            per_batch,
            (p.common.progress, "normal bundle"),
            |chunk| {
                // neighbourhood samples, each point from its own seeded stream
                let blocks: Vec<Vec<f64>> = chunk
                    .par_iter()
                    .map(|&i| {
                        let mut rng = rng::stream(p.common.seed, i as u64);
                        let mut mean = vec![0.0; d];
                        kernel.mean_into(data.row(i), &mut mean);
                        let mut block = Vec::with_capacity(k * d);
                        for _ in 0..k {
                            block.extend(mean.iter().map(|m| {
                                let z: f64 = StandardNormal.sample(&mut rng);
                                m + kernel.std * z
                            }));
                        }
                        block
                    })
                    .collect();
                let x = Mat::from_fn(chunk.len() * k, d, |r, j| blocks[r / k][(r % k) * d + j]);
                let scores = model.score(x.as_ref(), t0)?;
                if scores.nrows() != x.nrows() || scores.ncols() != d {
                    return Err(Error::Numerical(format!(
                        "the model returned {}×{} scores for {}×{d} inputs",
                        scores.nrows(),
                        scores.ncols(),
                        x.nrows()
                    )));
                }
                let local: Vec<Result<LocalEstimate>> = chunk
                .par_iter()
                .enumerate()
                .map(|(c, &i)| {
                    let block = scores.as_ref().subrows(c * k, k);
                    if let Some(bad) = (0..k).find(|&r| (0..d).any(|j| !block[(r, j)].is_finite())) {
                        return Err(Error::Numerical(format!(
                            "non-finite score at point {i} (sample {bad}); is t0 = {t0} too small for this model?"
                        )));
                    }
                    let spectrum = if p.centred {
                        singular_values_via_gram(centred(block).as_ref())?
                    } else {
                        singular_values_via_gram(block)?
                    };
                    let mut cut = read_off(&spectrum, p.rule, Some(reference), p.normal_floor)?;
                    if p.centred && p.mean_pull && cut.intrinsic_dim > 0 {
                        let raw = singular_values_via_gram(block)?;
                        // a pull as large as a resolved normal response, √(K − 1)/σ
                        if raw[cut.normal_dim] >= reference {
                            cut = cut.with_mean_pull();
                        }
                    }
                    Ok(LocalEstimate {
                        index: i,
                        local_id: cut.intrinsic_dim as f64,
                        spectrum: p.keep_spectra.then_some(spectrum),
                        readoff: Some(cut),
                        detail: None,
                    })
                })
                .collect();
                // the first failing point in order, whatever the threads did
                local.into_iter().collect()
            },
        )?;
        let options = MethodSettings::Nb {
            samples: k,
            rule: p.rule,
            normal_floor: p.normal_floor,
            centred: p.centred,
        };
        let settings = p.common.settings(
            model,
            t0,
            kernel.std,
            points.len(),
            "mean of local IDs",
            options,
        );
        Ok(IdEstimate::mean_of(Method::Nb, d, points, settings))
    }
}

impl IdEstimator for NormalBundle {
    fn method(&self) -> Method {
        Method::Nb
    }

    fn fit(&self, data: &Dataset, model: Option<&dyn ScoreModel>) -> Result<IdEstimate> {
        NormalBundle::fit(self, require_model(Method::Nb, model)?, data)
    }
}

/// The rows of `block` minus their mean row.
fn centred(block: faer::MatRef<'_, f64>) -> Mat<f64> {
    let (k, d) = (block.nrows(), block.ncols());
    let mean: Vec<f64> = (0..d)
        .map(|j| (0..k).map(|r| block[(r, j)]).sum::<f64>() / k as f64)
        .collect();
    Mat::from_fn(k, d, |r, j| block[(r, j)] - mean[j])
}
