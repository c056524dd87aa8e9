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
//! ([`NormalBundleParams::mean_pull`], on by default). Only the mean's part across the data's
//! own Gaussian drift counts: the score of the Gaussian with the data's mean and covariance,
//! −Σ⁺(x₀ − m), is the density gradient a full-dimensional density of those moments shows, and
//! at a σ set by the data's radius it grows with D (|Σ⁺(x₀ − m)|·σ ≈ √D·σ/s ∝ D): a standard
//! Gaussian or a uniform cube filling ℝ⁶⁰ pull by ≈ 1.4·r, almost all along that drift (the
//! part across it ≈ 0.3·r), and would read D − 1 without the discount. A model's pull towards a
//! cube face it has not resolved, in ℝ⁷¹ with 2000 points, looks the same (1.65·r, 0.32·r
//! across): there the count is D, one too many, and the neighbours cannot tell either.
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
    check_inputs, check_normal_floor, readoff_setters, score_estimator_setters, BatchRun,
    ScoreEstimatorCommon,
};
use super::readoff::{read_off, Rule};
use super::reliability;
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
    adaptive: bool,
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
            adaptive: true,
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

    /// Samples K per point (default max(4·D, 64), see [`default_samples`]); the cap when
    /// sampling is [adaptive](Self::adaptive).
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

    /// Whether a centred read-out counts a mean pull of at least √(K − 1)/σ across the data's
    /// Gaussian drift as one more normal direction (default true; see the [module docs](self)).
    pub fn mean_pull(mut self, pull: bool) -> Self {
        self.mean_pull = pull;
        self
    }

    /// Whether each point stops drawing samples once its cut is decided (default true): it is
    /// read at ≈ K/4 (where a pilot of the first points shows that it pays) and K/2 samples
    /// and stops at the first where its cut is decided (see [`sample_schedule`]);
    /// false draws exactly K samples for every point. K, set by
    /// [`samples`](Self::samples), is then the cap.
    pub fn adaptive(mut self, adaptive: bool) -> Self {
        self.adaptive = adaptive;
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
    /// `global_id` is the median of the local IDs (a whole number unless the middle two differ);
    /// the mean and histogram are on the estimate.
    pub fn fit(&self, model: &dyn ScoreModel, data: &Dataset) -> Result<IdEstimate> {
        let p = &self.params;
        check_inputs(model, data)?;
        let d = data.dim();
        let t0 = p.common.t0_for(model);
        let cap = p.samples.unwrap_or_else(|| default_samples(d));
        let schedule = if p.adaptive {
            sample_schedule(cap, d)
        } else {
            vec![cap]
        };
        let indices = p.common.indices(data);
        let kernel = model.kernel(t0);
        let per_batch = (p.common.batch / cap).max(1);
        let drift = match p.centred && p.mean_pull {
            true => Some(GaussianDrift::of(data)?),
            false => None,
        };
        let read = |chunk: &[usize], schedule: &[usize]| -> Result<Vec<LocalEstimate>> {
            let mut open: Vec<Neighbourhood> = chunk
                .iter()
                .enumerate()
                .map(|(slot, &i)| {
                    let mut centre = vec![0.0; d];
                    kernel.mean_into(data.row(i), &mut centre);
                    Neighbourhood {
                        slot,
                        index: i,
                        drift: drift
                            .as_ref()
                            .map_or_else(Vec::new, |g| g.direction(data.row(i))),
                        // each point draws from its own seeded stream, so its first K
                        // samples do not depend on how many it draws in all
                        rng: rng::stream(p.common.seed, i as u64),
                        centre,
                        scores: Vec::with_capacity(cap * d),
                    }
                })
                .collect();
            let mut done: Vec<(usize, LocalEstimate)> = Vec::with_capacity(chunk.len());
            for (round, &k) in schedule.iter().enumerate() {
                let last = round + 1 == schedule.len();
                let have = open.first().map_or(0, |n| n.samples(d));
                let rows = k - have;
                // every point draws into its own rows of one row-major block, in parallel
                let mut fresh = vec![0.0; open.len() * rows * d];
                open.par_iter_mut()
                    .zip(fresh.par_chunks_mut(rows * d))
                    .for_each(|(n, block)| n.draw_into(block, kernel.std));
                let x = faer::MatRef::from_row_major_slice(&fresh, open.len() * rows, d);
                let scores = model.score(x, t0)?;
                if scores.nrows() != x.nrows() || scores.ncols() != d {
                    return Err(Error::Numerical(format!(
                        "the model returned {}×{} scores for {}×{d} inputs",
                        scores.nrows(),
                        scores.ncols(),
                        x.nrows()
                    )));
                }
                let cuts: Vec<Result<Option<LocalEstimate>>> = open
                        .par_iter_mut()
                        .enumerate()
                        .map(|(c, n)| {
                            let new = scores.as_ref().subrows(c * rows, rows);
                            // column by column: the scores are column-major
                            let bad = (0..d)
                                .filter_map(|j| new.col(j).iter().position(|v| !v.is_finite()))
                                .min();
                            if let Some(bad) = bad {
                                return Err(Error::Numerical(format!(
                                    "non-finite score at point {} (sample {}); is t0 = {t0} too small for this model?",
                                    n.index,
                                    have + bad
                                )));
                            }
                            let at = n.scores.len();
                            n.scores.resize(at + rows * d, 0.0);
                            for j in 0..d {
                                for (r, &v) in new.col(j).iter().enumerate() {
                                    n.scores[at + r * d + j] = v;
                                }
                            }
                            self.cut(n, (k, cap), d, kernel.std, last)
                        })
                        .collect();
                let mut still_open = Vec::with_capacity(open.len());
                for (n, cut) in open.into_iter().zip(cuts) {
                    match cut? {
                        Some(estimate) => done.push((n.slot, estimate)),
                        None => still_open.push(n),
                    }
                }
                open = still_open;
                if open.is_empty() {
                    break;
                }
            }
            // the chunk's points in their order, whatever round decided them
            done.sort_by_key(|&(slot, _)| slot);
            Ok(done.into_iter().map(|(_, estimate)| estimate).collect())
        };
        // the pilot reads with the first round; the rest keep it only where it pays
        let pilot = match schedule.len() {
            3 => indices.len().min(PILOT_POINTS),
            _ => 0,
        };
        let (head, tail) = indices.split_at(pilot);
        let mut run = BatchRun::new(indices.len(), (p.common.progress, "normal bundle"));
        run.extend(head, per_batch, |chunk| read(chunk, &schedule))?;
        let stopped_first = run
            .points()
            .iter()
            .filter(|e| e.readoff.as_ref().and_then(|r| r.samples) == Some(schedule[0]))
            .count();
        let rest: &[usize] = match pilot > 0 && stopped_first * FIRST_ROUND_SHARE < pilot {
            true => &schedule[1..],
            false => &schedule,
        };
        run.extend(tail, per_batch, |chunk| read(chunk, rest))?;
        let points = run.finish();
        let used = |e: &LocalEstimate| e.readoff.as_ref().and_then(|r| r.samples).unwrap_or(cap);
        let mean_samples = if points.is_empty() {
            cap as f64
        } else {
            points.iter().map(used).sum::<usize>() as f64 / points.len() as f64
        };
        let options = MethodSettings::Nb {
            samples: cap,
            adaptive: p.adaptive,
            mean_samples,
            rule: p.rule,
            normal_floor: p.normal_floor,
            centred: p.centred,
        };
        let settings = p.common.settings(
            model,
            t0,
            kernel.std,
            points.len(),
            "median of local IDs",
            options,
        );
        Ok(IdEstimate::median_of(Method::Nb, d, points, settings))
    }

    /// The read-out of a neighbourhood's first `k` scores, or None when it is not decided yet
    /// and more samples are to come (`last` false; see [`sample_schedule`]).
    fn cut(
        &self,
        n: &Neighbourhood,
        (k, cap): (usize, usize),
        d: usize,
        std: f64,
        last: bool,
    ) -> Result<Option<LocalEstimate>> {
        let p = &self.params;
        let block = faer::MatRef::from_row_major_slice(&n.scores, k, d);
        // a normal direction's scores are −z/σ: K of them have singular value ≈ √K/σ, and
        // √(K − 1)/σ once centred
        let dof = if p.centred { k - 1 } else { k };
        let reference = (dof as f64).sqrt() / std;
        let (spectrum, mean, c) = if p.centred {
            let (c, mean) = centred(block);
            (singular_values_via_gram(c.as_ref())?, mean, Some(c))
        } else {
            (singular_values_via_gram(block)?, Vec::new(), None)
        };
        let mut cut = read_off(&spectrum, p.rule, Some(reference), p.normal_floor)?;
        let sides = reliability::cut_sides(&spectrum, cut.normal_dim, reference, k);
        // the threshold may rise by less than the octave the tangent side clears it by
        let mut decided = sides.normal >= EDGE_MARGIN
            && sides.tangent >= DECIDED_MARGIN
            && edge_rise(cut.normal_dim, k, cap).log2() < DECIDED_MARGIN;
        if !(decided || last) {
            return Ok(None);
        }
        if let Some(c) = c.filter(|_| p.mean_pull && cut.intrinsic_dim > 0) {
            // the mean's part along the data's Gaussian drift is a tangent drift, not a pull
            let pull_mean = without_component(&mean, &n.drift);
            // Weyl: λₙ̂₊₁(CᵀC + Kμμᵀ) ≤ λₙ̂₊₁(CᵀC) + K‖μ‖², so the uncentred spectrum is only
            // needed when that bound does not settle the test
            let mean2: f64 = pull_mean.iter().map(|m| m * m).sum();
            let bound = (spectrum[cut.normal_dim].powi(2) + k as f64 * mean2).sqrt() / reference;
            let pull = if bound >= 1.0 || (!last && bound > 0.5) {
                // the spectrum of CᵀC + Kμμᵀ: C with the row √K·μ appended
                let root_k = (k as f64).sqrt();
                let stacked = Mat::from_fn(k + 1, d, |r, j| match r < k {
                    true => c[(r, j)],
                    false => root_k * pull_mean[j],
                });
                singular_values_via_gram(stacked.as_ref())?[cut.normal_dim] / reference
            } else {
                bound
            };
            // a pull as large as a resolved normal response, √(K − 1)/σ
            if pull >= 1.0 {
                cut = cut.with_mean_pull();
            }
            decided &= pull.log2().abs() >= DECIDED_MARGIN;
        }
        if !(decided || last) {
            return Ok(None);
        }
        cut.samples = Some(k);
        Ok(Some(LocalEstimate {
            index: n.index,
            local_id: cut.intrinsic_dim as f64,
            spectrum: p.keep_spectra.then_some(spectrum),
            readoff: Some(cut),
            detail: None,
        }))
    }
}

/// How far (in octaves) an adaptive point's last normal value may lie below the
/// Marchenko–Pastur lower edge L and still count as decided: half an octave, a factor √2.
/// A resolved direction's smallest value sits at L itself (its fluctuations shrink like
/// K^(−2/3)); one much lower belongs to a partly resolved direction, whose level the model sets,
/// not the sample count. In [`reliability::cut_sides`] units (octaves above ½L) that is
/// 1 − ½ = ½.
pub const EDGE_MARGIN: f64 = 0.5;

/// The margin in octaves by which an adaptive point's first tangent value must stay below half
/// the Marchenko–Pastur lower edge, and its mean pull away from the pull threshold, before it
/// stops drawing samples (see [`sample_schedule`]).
pub const DECIDED_MARGIN: f64 = 1.0;

/// The sample counts at which an adaptive normal bundle reads each point: a first round of
/// K₀ = max(K/4, D + 2), then half the cap K, then all of it. K₀ is left out when it would not
/// save a third of the K/2 round (3K₀ > K), and K/2 too when it is no more than D + 1 (a
/// centred spectrum of fewer samples has exact zeros that would read as tangent directions).
///
/// A point stops at the first count k of the schedule where its cut is decided: its last normal
/// value lies within half an octave of the Marchenko–Pastur lower edge L = r(1 − √(n̂/k))
/// ([`EDGE_MARGIN`]) and its first tangent value at least [`DECIDED_MARGIN`] = one octave below
/// ½L (see [`reliability`]). Normalised by r = √(k − 1)/σ, more samples move the values one way
/// only: the normal band narrows towards r, so its last value rises, while the largest tangent
/// value stays or falls (the tangent scores' spread times 1 + √(d/k), like r). What rises is the
/// threshold ½L itself, from k to K by the factor (1 − √(n̂/K))/(1 − √(n̂/k)); a point stops
/// early only where that rise is less than the octave, so a point decided at k is still clear at
/// K, with the same cut unless a value moves by more than a factor two, far beyond the band's
/// scatter ±√(n̂/k). At k = K/2 with the default K = 4·D ≥ 4n̂ the rise is at most 1.71; at
/// K₀ ≈ K/4 it admits n̂ up to about K/9 (high intrinsic dimension, where the first round pays).
/// When the mean-pull test applies, its ratio to r must also lie an octave from 1 (a mean: its
/// size does not depend on k). Points not decided read what a fixed K gives: their samples are
/// the same (each point's stream), only evaluated in other batches. (A middle round at 3K/4
/// saved fewer samples on the benchmark suite than its extra read-outs cost.) The first round
/// pays where the intrinsic dimension is high and costs one more read-out elsewhere, so the
/// first [`PILOT_POINTS`] selected points decide: the rest keep it only when at least one in
/// eight of them stopped there. The pilot is the same points whatever the batch size or the
/// thread count, so the readings are too.
pub fn sample_schedule(cap: usize, dim: usize) -> Vec<usize> {
    let half = cap / 2;
    if half <= dim + 1 {
        return vec![cap];
    }
    let first = (cap / 4).max(dim + 2);
    if 3 * first <= cap && first < half {
        vec![first, half, cap]
    } else {
        vec![half, cap]
    }
}

/// Points of the pilot that decides whether an adaptive normal bundle keeps its first round
/// (see [`sample_schedule`]): the first 64 selected points always read with it.
pub const PILOT_POINTS: usize = 64;

/// The rest keep the first round when at least 1/8 of the pilot stopped there: a point that
/// stops at K₀ ≈ K/4 saves at least half of its network passes, one that does not costs one
/// more read-out (5–10 % of its time on the benchmark suite's high-codimension sets), so the
/// round pays from about one point in eight.
const FIRST_ROUND_SHARE: usize = 8;

/// How much half the Marchenko–Pastur lower edge ½L = ½r(1 − √(n̂/k)) rises, relative to r,
/// from k samples to `cap` (∞ when k samples leave no lower edge).
fn edge_rise(normal_dim: usize, k: usize, cap: usize) -> f64 {
    let edge = |m: usize| 1.0 - (normal_dim as f64 / m as f64).sqrt();
    if edge(k) <= 0.0 {
        f64::INFINITY
    } else {
        edge(cap) / edge(k)
    }
}

/// One point's perturbed neighbourhood as it grows: its stream, the kernel mean α(t₀)x₀ and the
/// scores drawn so far (row-major, K × D).
struct Neighbourhood {
    /// Position in the chunk, the order the estimates are returned in.
    slot: usize,
    index: usize,
    /// The unit direction of the data's Gaussian drift at x₀ ([`GaussianDrift`]; empty when
    /// the mean-pull test is off or the drift vanishes).
    drift: Vec<f64>,
    rng: rand_chacha::ChaCha8Rng,
    centre: Vec<f64>,
    scores: Vec<f64>,
}

impl Neighbourhood {
    fn samples(&self, d: usize) -> usize {
        self.scores.len() / d
    }

    /// The next samples α(t₀)x₀ + σ(t₀)z into `block` (row-major, as many rows as it holds).
    fn draw_into(&mut self, block: &mut [f64], std: f64) {
        for row in block.chunks_exact_mut(self.centre.len()) {
            for (x, &m) in row.iter_mut().zip(&self.centre) {
                let z: f64 = StandardNormal.sample(&mut self.rng);
                *x = m + std * z;
            }
        }
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

/// The score of the Gaussian with the data's mean m and covariance Σ, −Σ⁺(x − m): the drift a
/// full-dimensional density of those moments would show. Its size grows with D at a σ set by
/// the data's radius (|Σ⁺(x − m)|·σ ≈ √D·σ/s for a standard deviation s per direction, and
/// σ ∝ √D·s), so in high D it reaches a full normal response √(K − 1)/σ on its own; the mean
/// pull test discounts the mean score's component along it.
struct GaussianDrift {
    mean: Vec<f64>,
    /// Σ⁺, the pseudo-inverse (eigenvalues below λ_max·max(n, D)·ε count as zero).
    precision: Mat<f64>,
}

impl GaussianDrift {
    fn of(data: &Dataset) -> Result<Self> {
        let (n, d) = (data.len(), data.dim());
        let rows: Vec<&[f64]> = data.rows().collect();
        let (mean, cov) = crate::linalg::mean_and_covariance(&rows, d);
        let eig = cov
            .self_adjoint_eigen(faer::Side::Lower)
            .map_err(|e| Error::Numerical(format!("covariance of the data: {e:?}")))?;
        let (values, vectors) = (eig.S().column_vector(), eig.U());
        let top = (0..d).map(|k| values[k]).fold(0.0, f64::max);
        let tol = top * n.max(d) as f64 * f64::EPSILON;
        let kept: Vec<usize> = (0..d).filter(|&k| values[k] > tol).collect();
        // Σ⁺ = WWᵀ with the kept eigenvectors scaled by 1/√λ
        let w = Mat::from_fn(d, kept.len(), |a, c| {
            vectors[(a, kept[c])] / values[kept[c]].sqrt()
        });
        let mut precision = Mat::<f64>::zeros(d, d);
        faer::linalg::matmul::matmul(
            precision.as_mut(),
            faer::Accum::Replace,
            w.as_ref(),
            w.transpose(),
            1.0,
            faer::Par::Seq,
        );
        Ok(Self { mean, precision })
    }

    /// The unit direction of Σ⁺(x − m), or empty where it vanishes.
    fn direction(&self, x: &[f64]) -> Vec<f64> {
        let offset = Mat::from_fn(x.len(), 1, |b, _| x[b] - self.mean[b]);
        let mut g = Mat::<f64>::zeros(x.len(), 1);
        faer::linalg::matmul::matmul(
            g.as_mut(),
            faer::Accum::Replace,
            self.precision.as_ref(),
            offset.as_ref(),
            1.0,
            faer::Par::Seq,
        );
        let v: Vec<f64> = g.col(0).iter().copied().collect();
        let norm = v.iter().map(|g| g * g).sum::<f64>().sqrt();
        match norm > 0.0 && norm.is_finite() {
            true => v.into_iter().map(|g| g / norm).collect(),
            false => Vec::new(),
        }
    }
}

/// `v` minus its component along the unit vector `u` (`v` itself when `u` is empty).
fn without_component(v: &[f64], u: &[f64]) -> Vec<f64> {
    if u.is_empty() {
        return v.to_vec();
    }
    let along: f64 = v.iter().zip(u).map(|(a, b)| a * b).sum();
    v.iter().zip(u).map(|(a, b)| a - along * b).collect()
}

/// The rows of `block` minus their mean row, and that mean.
fn centred(block: faer::MatRef<'_, f64>) -> (Mat<f64>, Vec<f64>) {
    let (k, d) = (block.nrows(), block.ncols());
    let mean: Vec<f64> = (0..d)
        .map(|j| (0..k).map(|r| block[(r, j)]).sum::<f64>() / k as f64)
        .collect();
    (Mat::from_fn(k, d, |r, j| block[(r, j)] - mean[j]), mean)
}
