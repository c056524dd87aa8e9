//! How far a spectral read-out can be trusted: the diagnostic behind `--method auto`.
//!
//! At a point of a d-dimensional manifold in ℝ^D, the n = D − d normal singular values of K
//! centred scores of a resolved model follow the Marchenko–Pastur law of a K×n Gaussian matrix
//! scaled by 1/σ: they lie within r·(1 ± √(n/K)) of r = √(K − 1)/σ, while the tangent values stay
//! far below (their size is set by curvature and density, not by 1/σ). A cut is *clear* when
//! half the lower Marchenko–Pastur edge, ½L with L = r·(1 − √(n/K)), separates the two bands:
//! the last normal value stays above it and the first tangent value below. As a margin in
//! octaves:
//!
//! margin = min(log₂(sₙ / (½L)), log₂((½L) / sₙ₊₁)),
//!
//! positive when both sides hold, so a point reads clearly when its margin is positive. Without
//! normal directions (n = 0, full dimension) only the tangent side counts, against ½r. A model
//! that has not resolved the manifold at σ smears the normal band towards the tangent values and
//! the margin falls below zero: then the read-out is not to be trusted.
//!
//! A clear cut can still count the wrong thing. A model that cannot resolve a manifold curving
//! faster than its own scale σ sees the span the manifold fills (the coordinates pᵢ₊₁·(cos 2πpᵢ,
//! sin 2πpᵢ) of a d-cube fill 2d dimensions), and its cut is clean at that span. The nearest
//! neighbours live at a finer scale, where the manifold is still d-dimensional, so the second
//! check, [`neighbour_check`], reads TwoNN on the data and on flat references of the normal
//! bundle's dimension with as many points (a uniform ball, a uniform cube, a standard Gaussian:
//! the finite-sample deficit of TwoNN in high dimension is the references' too). When the data's
//! neighbours read more than a quarter octave ([`neighbour_tolerance`]) below the lowest
//! reference, the normal bundle's count is not the manifold's.

use crate::data::Dataset;

/// Half the lower Marchenko–Pastur edge of n normal values among K samples, relative to r.
pub fn half_lower_edge(normal_dim: usize, samples: usize) -> f64 {
    let ratio = (normal_dim as f64 / samples.max(1) as f64).sqrt();
    0.5 * (1.0 - ratio).max(0.0)
}

/// The margin of a cut in octaves (see the [module docs](self)): positive when the spectrum
/// `spectrum` (descending), cut after `normal_dim` values, separates a normal band at the
/// reference `reference` = √(K − 1)/σ from the tangent values. −∞ when a side is empty of sense
/// (a normal value of 0, or K too small for the normal band to have a lower edge).
pub fn cut_margin(spectrum: &[f64], normal_dim: usize, reference: f64, samples: usize) -> f64 {
    let sides = cut_sides(spectrum, normal_dim, reference, samples);
    sides.normal.min(sides.tangent)
}

/// The two sides of a [`cut_margin`], in octaves: how far the last normal value stands above ½L
/// and the first tangent value below it (+∞ for a side with no value, −∞ when the normal band
/// has no lower edge).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CutSides {
    /// log₂(sₙ / (½L)).
    pub normal: f64,
    /// log₂((½L) / sₙ₊₁).
    pub tangent: f64,
}

/// Both sides of the cut after `normal_dim` values (see [`cut_margin`]).
pub fn cut_sides(spectrum: &[f64], normal_dim: usize, reference: f64, samples: usize) -> CutSides {
    let d = spectrum.len();
    let edge = half_lower_edge(normal_dim, samples) * reference;
    if !(edge > 0.0 && edge.is_finite()) || normal_dim > d {
        return CutSides {
            normal: f64::NEG_INFINITY,
            tangent: f64::NEG_INFINITY,
        };
    }
    let tangent = match spectrum.get(normal_dim) {
        // every direction normal (ID 0): nothing tangent to separate
        None => f64::INFINITY,
        Some(&t) if t > 0.0 => (edge / t).log2(),
        Some(_) => f64::INFINITY,
    };
    let normal = match normal_dim {
        0 => f64::INFINITY,
        n => {
            let s = spectrum[n - 1];
            if s > 0.0 {
                (s / edge).log2()
            } else {
                f64::NEG_INFINITY
            }
        }
    };
    CutSides { normal, tangent }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_subspace_spectrum_is_clear_and_smeared_one_is_not() {
        // K = 64 samples, σ = 0.01: r = √63/0.01; 6 normal values near r, 4 tangent near 0
        let r = 63f64.sqrt() / 0.01;
        let mut clean = vec![1.05 * r, 1.0 * r, 0.98 * r, 0.9 * r, 0.85 * r, 0.8 * r];
        clean.extend([3.0, 2.0, 1.0, 0.5]);
        let m = cut_margin(&clean, 6, r, 64);
        // ½L = ½(1 − √(6/64))·r ≈ 0.35r: the normal side is log₂(0.8/0.35) ≈ 1.19 octaves
        assert!((m - (0.8 / (0.5 * (1.0 - (6.0f64 / 64.0).sqrt()))).log2()).abs() < 1e-12);
        // an under-resolved model: the "tangent" values reach 0.3 r, the last normal 0.4 r
        let mut smeared = vec![r, 0.9 * r, 0.7 * r, 0.6 * r, 0.5 * r, 0.4 * r];
        smeared.extend([0.3 * r, 0.2 * r, 0.1 * r, 0.05 * r]);
        assert!(cut_margin(&smeared, 6, r, 64) < 0.5);
        assert!(cut_margin(&smeared, 6, r, 64) < m);
    }

    #[test]
    fn neighbours_agree_with_the_true_dimension_and_not_with_a_span() {
        use crate::data::synthetic::benchmark::Benchmark;
        // the spiral (ID 1): a reading of 2 is a surface the neighbours do not see
        let spiral = Benchmark::M13bSpiral.sample(1500, 3);
        let at_truth = neighbour_check(&spiral, 1.0, 0).unwrap();
        assert!(
            at_truth.consistent && at_truth.octaves.abs() < 0.1,
            "{at_truth:?}"
        );
        let at_two = neighbour_check(&spiral, 1.8, 0).unwrap();
        assert!(
            !at_two.consistent && at_two.reference_dim == 2,
            "{at_two:?}"
        );
        // pᵢ₊₁·(cos 2πpᵢ, sin 2πpᵢ) of a 6-cube fills 12 dimensions; the neighbours read 6
        let curved = Benchmark::M6Nonlinear.sample(1500, 3);
        assert!(neighbour_check(&curved, 6.0, 0).unwrap().consistent);
        let span = neighbour_check(&curved, 12.0, 0).unwrap();
        assert!(!span.consistent && span.octaves < -0.3, "{span:?}");
        // same seed, same references
        assert_eq!(neighbour_check(&curved, 12.0, 0).unwrap(), span);
    }

    #[test]
    fn the_tolerance_is_a_quarter_octave_unless_few_points_make_the_scatter_larger() {
        assert_eq!(neighbour_tolerance(2000), NEIGHBOUR_TOLERANCE_OCTAVES);
        assert_eq!(neighbour_tolerance(700), NEIGHBOUR_TOLERANCE_OCTAVES);
        let at_60 = 3.0 * 2f64.sqrt() / (60f64.sqrt() * 2f64.ln());
        assert!((neighbour_tolerance(60) - at_60).abs() < 1e-12 && at_60 > 0.7);
        assert!(neighbour_tolerance(0).is_finite());
    }

    #[test]
    fn flat_references_read_their_dimension_and_flag_a_larger_one() {
        // a Gaussian on a 5-dimensional subspace of ℝ¹²
        use crate::score::analytic::SubspaceGaussian;
        use crate::Sde;
        let data = SubspaceGaussian::random(12, 5, Sde::ve(10.0), 2)
            .unwrap()
            .sample(2000, 4);
        let c = neighbour_check(&data, 5.0, 1).unwrap();
        assert!(c.consistent && (c.twonn - 5.0).abs() < 0.5, "{c:?}");
        for r in c.references {
            assert!((r - 5.0).abs() < 0.6, "{c:?}");
        }
        let wrong = neighbour_check(&data, 8.0, 1).unwrap();
        assert!(!wrong.consistent, "{wrong:?}");
        // the check is one-sided: reading fewer dimensions than the neighbours is not its case
        assert!(neighbour_check(&data, 3.0, 1).unwrap().consistent);
        assert!(neighbour_check(&data, f64::NAN, 1).is_err());
        // the reference dimension stays within 1..=D
        assert_eq!(neighbour_check(&data, 40.0, 1).unwrap().reference_dim, 12);
        assert_eq!(neighbour_check(&data, 0.2, 1).unwrap().reference_dim, 1);
    }

    /// The normal bundle at 40 points and the TwoNN fallback, as the auto tests use them.
    fn auto_estimators() -> (crate::id::NormalBundle, crate::id::Estimator) {
        use crate::id::classic::TwoNn;
        use crate::id::{Estimator, NormalBundle, PointSelection};
        let nb = NormalBundle::params()
            .points(PointSelection::Count(40))
            .check()
            .unwrap();
        (nb, Estimator::TwoNn(TwoNn::params().check().unwrap()))
    }

    #[test]
    fn auto_takes_the_bundle_where_it_holds_and_the_neighbours_where_it_reads_a_span() {
        use crate::id::Method;
        use crate::score::analytic::SubspaceGaussian;
        use crate::Sde;
        let (nb, fallback) = auto_estimators();
        // the exact score of the data's own subspace: the bundle reads k, and the neighbours agree
        let model = SubspaceGaussian::random(12, 4, Sde::ve(10.0), 2).unwrap();
        let data = model.sample(1500, 3);
        let (e, choice) = auto(&nb, &fallback, &data, &model).unwrap();
        assert_eq!(choice.chosen, Method::Nb);
        assert_eq!(e.global_id(), 4.0);
        assert!(choice.neighbours.consistent, "{choice:?}");
        // a unit circle in the plane of a Gaussian on that plane (a model that smoothed the
        // curve into its span): every cut is clean at 2, but the neighbours read 1
        let circle: Vec<f64> = (0..1500)
            .flat_map(|i| {
                let a = std::f64::consts::TAU * (i as f64 + 0.5) / 1500.0 + 0.3 * (i as f64).sin();
                [a.cos(), a.sin(), 0.0, 0.0]
            })
            .collect();
        let circle = Dataset::from_row_major(circle, 1500, 4).unwrap();
        let mut plane = faer::Mat::<f64>::zeros(4, 2);
        plane[(0, 0)] = 1.0;
        plane[(1, 1)] = 1.0;
        let smooth = SubspaceGaussian::new(vec![0.0; 4], plane, 1.0, 1e-8, Sde::ve(10.0)).unwrap();
        let (e, choice) = auto(&nb, &fallback, &circle, &smooth).unwrap();
        assert!(
            choice.reliability.trusted && choice.normal_bundle_id == 2.0,
            "{choice:?}"
        );
        assert!(!choice.neighbours.consistent, "{choice:?}");
        assert_eq!(choice.chosen, Method::TwoNn);
        assert!((e.global_id() - 1.0).abs() < 0.1, "{}", e.global_id());
        assert!(
            choice.reason().contains("curves below"),
            "{}",
            choice.reason()
        );
    }

    /// The exact score at 0.3 of its size: no cut is clear, so the reading stands only where
    /// the neighbours confirm it on both sides.
    struct Weak(crate::score::analytic::SubspaceGaussian);

    impl crate::score::ScoreModel for Weak {
        fn dim(&self) -> usize {
            self.0.dim()
        }
        fn sde(&self) -> &crate::Sde {
            self.0.sde()
        }
        fn score(&self, x: faer::MatRef<'_, f64>, t: f64) -> crate::error::Result<faer::Mat<f64>> {
            Ok(self.0.score(x, t)? * faer::Scale(0.3))
        }
        fn describe(&self) -> String {
            format!("0.3 × {}", self.0.describe())
        }
    }

    #[test]
    fn an_unclear_bundle_stands_only_where_the_neighbours_confirm_it() {
        use crate::id::Method;
        use crate::score::analytic::SubspaceGaussian;
        use crate::score::ScoreModel;
        use crate::Sde;
        let (nb, fallback) = auto_estimators();
        // the exact score of a Gaussian on the first four axes of ℝ¹², at 0.3 of its size
        let axes = faer::Mat::<f64>::from_fn(12, 4, |i, j| f64::from(u8::from(i == j)));
        let exact = SubspaceGaussian::new(vec![0.0; 12], axes, 1.0, 1e-8, Sde::ve(10.0)).unwrap();
        let data = exact.sample(1500, 3);
        let weak = Weak(exact);
        assert_eq!(weak.dim(), 12);
        let (e, choice) = auto(&nb, &fallback, &data, &weak).unwrap();
        assert!(
            !choice.reliability.trusted && choice.neighbours.confirmed,
            "{choice:?}"
        );
        assert_eq!((choice.chosen, e.global_id()), (Method::Nb, 4.0));
        assert_eq!(e.settings().global.as_deref(), Some("median of local IDs"));
        assert!(choice.reason().contains("confirm"), "{}", choice.reason());
        // a Gaussian on the first two axes, inside the model's subspace: the neighbours read 2
        let plane: Vec<f64> = (0..1500)
            .flat_map(|i| {
                let mut row = vec![0.0; 12];
                row[..2].copy_from_slice(&data.row(i)[..2]);
                row
            })
            .collect();
        let plane = Dataset::from_row_major(plane, 1500, 12).unwrap();
        let (e, choice) = auto(&nb, &fallback, &plane, &weak).unwrap();
        assert_eq!(choice.normal_bundle_median, 4.0);
        assert!(!choice.neighbours.consistent, "{choice:?}");
        assert_eq!(choice.chosen, Method::TwoNn);
        assert!((e.global_id() - 2.0).abs() < 0.3, "{}", e.global_id());
    }

    #[test]
    fn an_exact_subspace_score_reads_clearly_everywhere() {
        use crate::id::NormalBundle;
        use crate::score::analytic::SubspaceGaussian;
        use crate::Sde;
        let model = SubspaceGaussian::random(12, 4, Sde::ve(10.0), 2).unwrap();
        let data = model.sample(20, 3);
        let est = NormalBundle::params()
            .check()
            .unwrap()
            .fit(&model, &data)
            .unwrap();
        let r = assess(&est).expect("nb with spectra");
        assert_eq!(r.clear_fraction, 1.0);
        assert!(
            r.trusted && r.margins.len() == 20 && r.median_margin > 1.0,
            "{r:?}"
        );
        // other methods have no diagnostic
        let mle = crate::id::classic::Mle::params()
            .k(5)
            .check()
            .unwrap()
            .fit(&data)
            .unwrap();
        assert!(assess(&mle).is_none());
    }

    #[test]
    fn full_dimension_counts_only_the_tangent_side() {
        let r = 10.0;
        assert!((cut_margin(&[1.0, 0.5], 0, r, 64) - (5.0f64).log2()).abs() < 1e-12);
        // a top value at the normal scale is not a clear full-dimensional reading
        assert!(cut_margin(&[9.0, 0.5], 0, r, 64) < 0.0);
        // every direction normal: only the normal side
        assert!(cut_margin(&[10.0, 9.5], 2, r, 64) > 0.0);
        // K no larger than n: no lower edge
        assert_eq!(cut_margin(&[10.0, 9.5], 2, r, 2), f64::NEG_INFINITY);
    }
}

/// The diagnostic of an estimate: every point's margin (a normal-bundle cut's, or FLIPD's scale
/// stability, see [`assess`]) and the share of clear points. Serialised as the `reliability`
/// field of `id-estimate`'s JSON.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Reliability {
    /// Fraction of evaluated points that read clearly (margin > 0).
    pub clear_fraction: f64,
    /// Median margin in octaves over the points.
    pub median_margin: f64,
    /// Whether the global estimate is to be trusted: at least half the points read clearly.
    pub trusted: bool,
    /// Each point's margin in octaves, in the estimate's point order.
    pub margins: Vec<f64>,
}

/// How much a FLIPD reading may move when the noise grows by an octave (σ → 2σ) for it to be
/// read as a dimension: half a unit, the distance to the next rounding. On a resolved
/// k-manifold FLIPD(σ) = k + O(σ²) (curvature), so an octave moves it by far less; where the model
/// sees no manifold at σ, FLIPD is the soft count Σ λᵢ/(λᵢ + σ²) of the directions whose local
/// variance λᵢ is comparable to σ², and it falls steadily as σ grows.
pub const FLIPD_OCTAVE_TOLERANCE: f64 = 0.5;

/// The diagnostic of an estimate: a normal-bundle estimate that kept its spectra (cut margins),
/// or a FLIPD estimate that read each point at 2σ too (scale stability, margin
/// log₂(½ / |LID(2σ) − LID(σ)|) octaves). `None` for the other methods.
pub fn assess(estimate: &super::IdEstimate) -> Option<Reliability> {
    let margins = match estimate.method() {
        super::Method::Flipd => flipd_margins(estimate)?,
        _ => cut_margins(estimate)?,
    };
    if margins.is_empty() {
        return None;
    }
    let clear = margins.iter().filter(|&&m| m > 0.0).count();
    let mut sorted = margins.clone();
    sorted.sort_by(f64::total_cmp);
    let clear_fraction = clear as f64 / margins.len() as f64;
    Some(Reliability {
        clear_fraction,
        median_margin: sorted[sorted.len() / 2],
        trusted: clear_fraction >= 0.5,
        margins,
    })
}

/// Each point's cut margin of a normal-bundle estimate with spectra.
fn cut_margins(estimate: &super::IdEstimate) -> Option<Vec<f64>> {
    let samples = estimate.settings().samples()?;
    estimate
        .points()
        .iter()
        .map(|p| match (&p.spectrum, &p.readoff) {
            (Some(s), Some(r)) => {
                let normal = r.normal_dim - usize::from(r.mean_pull);
                // an adaptive estimate records each point's own K
                Some(cut_margin(
                    s,
                    normal,
                    r.ceiling?,
                    r.samples.unwrap_or(samples),
                ))
            }
            _ => None,
        })
        .collect()
}

/// Each point's scale-stability margin of a FLIPD estimate, in octaves of headroom under
/// [`FLIPD_OCTAVE_TOLERANCE`] (capped at 20 where the two readings agree to rounding).
fn flipd_margins(estimate: &super::IdEstimate) -> Option<Vec<f64>> {
    estimate
        .points()
        .iter()
        .map(|p| match p.detail {
            Some(super::PointDetail::Flipd {
                lid_at_2sigma: Some(up),
                ..
            }) => {
                let moved = (up - p.local_id).abs().max(FLIPD_OCTAVE_TOLERANCE * 1e-6);
                Some((FLIPD_OCTAVE_TOLERANCE / moved).log2())
            }
            _ => None,
        })
        .collect()
}

/// How far (in octaves) the data's TwoNN reading may fall below the lowest flat reference of the
/// normal bundle's dimension before the bundle's count is taken for a span: a quarter octave
/// (a factor 2^¼ ≈ 1.19). The flat references themselves differ by at most ≈ 0.1 octave at a
/// few thousand points, and TwoNN's sampling error is ≈ 1/√N (0.03 octave at N = 2000), so a
/// quarter octave is over twice the larger of the two. With few points the sampling error
/// grows, and the tolerance with it (see [`neighbour_tolerance`]).
pub const NEIGHBOUR_TOLERANCE_OCTAVES: f64 = 0.25;

/// The tolerance of the neighbours' check at N points, in octaves: a quarter octave, or three
/// standard errors of the difference of two TwoNN readings when fewer points make that larger.
/// TwoNN's maximum-likelihood reading (N − 1)/Σ log μ has a relative error ≈ 1/√N, that is
/// 1/(√N ln 2) octaves, and the data and a reference each carry one: 3·√2/(√N ln 2) ≈ 6.1/√N
/// (above ¼ below N ≈ 600).
pub fn neighbour_tolerance(points: usize) -> f64 {
    let sampling =
        3.0 * std::f64::consts::SQRT_2 / ((points.max(1) as f64).sqrt() * std::f64::consts::LN_2);
    NEIGHBOUR_TOLERANCE_OCTAVES.max(sampling)
}

/// At most this many points in each flat reference (TwoNN's deficit changes slowly with N).
const REFERENCE_POINTS: usize = 4000;

/// TwoNN on the data against flat references of a given dimension (see the [module docs](self)).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct NeighbourCheck {
    /// TwoNN (its default maximum-likelihood form) on the data.
    pub twonn: f64,
    /// The dimension of the references: the normal bundle's reading, rounded (at least 1).
    pub reference_dim: usize,
    /// TwoNN on a uniform ball, a uniform cube and a standard Gaussian of `reference_dim`
    /// dimensions, each with as many points as the data (at most 4000).
    pub references: [f64; 3],
    /// log₂(twonn / min(references)): negative when the neighbours read fewer dimensions.
    pub octaves: f64,
    /// log₂(twonn / max(references)): positive when the neighbours read more dimensions.
    pub octaves_above: f64,
    /// The tolerance in octaves at the data's number of points ([`neighbour_tolerance`]).
    pub tolerance: f64,
    /// Whether the neighbours do not contradict the reading: `octaves ≥ −tolerance` (they do
    /// not read clearly fewer dimensions).
    pub consistent: bool,
    /// Whether they confirm it: consistent, and `octaves_above ≤ tolerance` (nor clearly more).
    pub confirmed: bool,
}

/// Draws `n` points of a flat `m`-dimensional reference: 0 a uniform ball, 1 a uniform cube,
/// 2 a standard Gaussian, each from its own seeded stream.
fn flat_reference(kind: u64, n: usize, m: usize, seed: u64) -> crate::error::Result<Dataset> {
    use rand::Rng;
    use rand_distr::{Distribution, StandardNormal};
    let mut rng = crate::rng::stream(seed ^ 0x0f1a_7e00, kind);
    let mut values = Vec::with_capacity(n * m);
    for _ in 0..n {
        let start = values.len();
        match kind {
            1 => values.extend((0..m).map(|_| rng.random::<f64>())),
            _ => values
                .extend((0..m).map(|_| Distribution::<f64>::sample(&StandardNormal, &mut rng))),
        }
        if kind == 0 {
            // a Gaussian direction scaled to radius U^{1/m}: uniform in the ball
            let row = &mut values[start..];
            let norm = row
                .iter()
                .map(|v| v * v)
                .sum::<f64>()
                .sqrt()
                .max(f64::MIN_POSITIVE);
            let radius = rng.random::<f64>().powf(1.0 / m as f64);
            row.iter_mut().for_each(|v| *v *= radius / norm);
        }
    }
    Dataset::from_row_major(values, n, m)
}

/// Reads TwoNN on `data` and on the three flat references of dimension `dimension` (rounded, at
/// least 1, at most the ambient dimension), seeded by `seed`; see the [module docs](self).
pub fn neighbour_check(
    data: &Dataset,
    dimension: f64,
    seed: u64,
) -> crate::error::Result<NeighbourCheck> {
    if !dimension.is_finite() {
        return Err(crate::error::Error::param(
            "dimension",
            format!("the reading to check must be finite, got {dimension}"),
        ));
    }
    // the global reading needs only the two nearest neighbours (the neighbourhood smooths the
    // per-point readings, which the check does not use)
    let twonn = super::classic::TwoNn::params().neighbourhood(2).check()?;
    let twonn_of = |d: &Dataset| -> crate::error::Result<f64> { Ok(twonn.fit(d)?.global_id()) };
    let twonn = twonn_of(data)?;
    let reference_dim = (dimension.round() as usize).clamp(1, data.dim().max(1));
    let n = data.len().min(REFERENCE_POINTS);
    let mut references = [0.0; 3];
    for (kind, r) in references.iter_mut().enumerate() {
        *r = twonn_of(&flat_reference(kind as u64, n, reference_dim, seed)?)?;
    }
    let lowest = references.iter().copied().fold(f64::INFINITY, f64::min);
    let highest = references.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let octaves = (twonn / lowest).log2();
    let octaves_above = (twonn / highest).log2();
    let tolerance = neighbour_tolerance(data.len());
    let consistent = octaves >= -tolerance;
    Ok(NeighbourCheck {
        twonn,
        reference_dim,
        references,
        octaves,
        octaves_above,
        tolerance,
        consistent,
        confirmed: consistent && octaves_above <= tolerance,
    })
}

/// What [`auto`] chose and why.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct AutoChoice {
    /// The method whose estimate is returned.
    pub chosen: super::Method,
    /// The normal bundle's diagnostic the choice was made on.
    pub reliability: Reliability,
    /// The neighbours' check of the normal bundle's reading.
    pub neighbours: NeighbourCheck,
    /// The normal bundle's own global ID, the mean of its local IDs (also when not chosen).
    pub normal_bundle_id: f64,
    /// The normal bundle's reading that was checked and, when chosen, returned: the median of
    /// its local IDs.
    pub normal_bundle_median: f64,
}

impl AutoChoice {
    /// Why the choice fell as it did, in one line.
    pub fn reason(&self) -> String {
        let clear = 100.0 * self.reliability.clear_fraction;
        let c = &self.neighbours;
        let lowest = c.references.iter().copied().fold(f64::INFINITY, f64::min);
        match (self.reliability.trusted, c.consistent, c.confirmed) {
            (_, false, _) => format!(
                "the neighbours read {:.2} where flat {}-dimensional data reads {lowest:.2} or \
                 more: the manifold curves below the model's scale",
                c.twonn, c.reference_dim
            ),
            (true, true, _) => {
                format!("{clear:.0}% of its points cut clearly and the neighbours agree")
            }
            (false, true, true) => format!(
                "only {clear:.0}% of its points cut clearly, but the neighbours confirm {}",
                c.reference_dim
            ),
            (false, true, false) => format!(
                "only {clear:.0}% of its points cut clearly, and the neighbours read more ({:.2} \
                 where flat {}-dimensional data reads {lowest:.2})",
                c.twonn, c.reference_dim
            ),
        }
    }
}

/// The automatic choice: the normal bundle, read by the median of its local IDs, when the data's
/// nearest neighbours agree with that reading ([`neighbour_check`]) — not reading clearly fewer
/// dimensions where its cuts are clear (at least half the points, [`Reliability::trusted`]),
/// and confirming it within the tolerance on both sides where they are not — else `fallback`
/// (a classic estimator, which reads the data without the model).
///
/// ```
/// use scoregeo::id::classic::TwoNn;
/// use scoregeo::id::{reliability, Estimator, Method, NormalBundle, PointSelection};
/// use scoregeo::score::analytic::SubspaceGaussian;
/// use scoregeo::Sde;
///
/// // the exact score of a Gaussian on a 4-dimensional subspace of ℝ¹², and data from it
/// let model = SubspaceGaussian::random(12, 4, Sde::ve(10.0), 2).unwrap();
/// let data = model.sample(1000, 3);
/// let nb = NormalBundle::params().points(PointSelection::Count(20)).check().unwrap();
/// let fallback = Estimator::TwoNn(TwoNn::params().check().unwrap());
/// let (estimate, choice) = reliability::auto(&nb, &fallback, &data, &model).unwrap();
/// assert_eq!((choice.chosen, estimate.global_id()), (Method::Nb, 4.0));
/// assert!(choice.reliability.trusted && choice.neighbours.consistent);
/// println!("{}", choice.reason());
/// ```
pub fn auto(
    nb: &super::NormalBundle,
    fallback: &super::Estimator,
    data: &Dataset,
    model: &dyn crate::score::ScoreModel,
) -> crate::error::Result<(super::IdEstimate, AutoChoice)> {
    choose(nb.fit(model, data)?, fallback, data, model)
}

/// The choice of [`auto`] from a normal-bundle `estimate` of `data` already made (at a t₀ of
/// the caller's, e.g. a sweep's plateau); it must have kept its spectra.
///
/// The median is the reading because the model's failures at single points are one-sided: it
/// memorises points of a sparse tail (they read too few dimensions) or merges two faces near an
/// edge (one too many), and a majority reading is not dragged by such a minority.
pub fn choose(
    estimate: super::IdEstimate,
    fallback: &super::Estimator,
    data: &Dataset,
    model: &dyn crate::score::ScoreModel,
) -> crate::error::Result<(super::IdEstimate, AutoChoice)> {
    let reliability = assess(&estimate).ok_or_else(|| {
        crate::error::Error::param(
            "keep_spectra",
            "the automatic choice reads the normal bundle's spectra; keep them",
        )
    })?;
    let (normal_bundle_id, normal_bundle_median) =
        (estimate.global_id(), estimate.median_local_id());
    let neighbours = neighbour_check(
        data,
        normal_bundle_median,
        estimate.settings().seed.unwrap_or(0),
    )?;
    let accepted = match reliability.trusted {
        true => neighbours.consistent,
        false => neighbours.confirmed,
    };
    let mut choice = AutoChoice {
        chosen: super::Method::Nb,
        reliability,
        neighbours,
        normal_bundle_id,
        normal_bundle_median,
    };
    if accepted {
        return Ok((estimate.with_median_global(), choice));
    }
    let other = fallback.fit(data, Some(model))?;
    choice.chosen = other.method();
    Ok((other, choice))
}
