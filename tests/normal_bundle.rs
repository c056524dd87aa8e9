//! Oracle tests of the normal-bundle estimator on analytic scores.

mod common;
use common::with_threads;

use scoregeo::data::Dataset;
use scoregeo::id::{NormalBundle, PointSelection, Rule};
use scoregeo::score::analytic::{GaussianMixture, SubspaceGaussian};
use scoregeo::score::ScoreModel;
use scoregeo::Sde;

/// The exact subspace score: every point must read exactly k, for k = 1, D − 1, D and between.
#[test]
fn subspace_oracle_gives_exact_dimension() {
    for sde in [Sde::ve(10.0), Sde::vp_default()] {
        for (k, d) in [(1, 5), (4, 5), (5, 5), (3, 12), (11, 12), (7, 20)] {
            let model = SubspaceGaussian::random(d, k, sde, (k * 31 + d) as u64).unwrap();
            let data = model.sample(12, 5);
            let est = NormalBundle::params()
                .seed(1)
                .check()
                .unwrap()
                .fit(&model, &data)
                .unwrap();
            let ids = est.local_ids();
            assert!(
                ids.iter().all(|&id| id == k as f64),
                "{} k={k} D={d}: {ids:?}",
                sde.name()
            );
            assert_eq!(est.global_id(), k as f64);
            assert_eq!(est.spectrum(0).unwrap().len(), d);
        }
    }
}

/// All three rules agree on a clean subspace spectrum.
#[test]
fn rules_agree_on_clean_spectra() {
    let model = SubspaceGaussian::random(10, 3, Sde::vp_default(), 4).unwrap();
    let data = model.sample(5, 2);
    for rule in [Rule::MaxGap, Rule::Ratio, Rule::Threshold(0.05)] {
        let est = NormalBundle::params()
            .rule(rule)
            .check()
            .unwrap()
            .fit(&model, &data)
            .unwrap();
        assert_eq!(est.global_id(), 3.0, "{rule}");
    }
}

/// A densely sampled circle in ℝ¹⁰ seen through the noised empirical distribution at a scale
/// between the point spacing (≈ 0.003) and the radius (1) is one-dimensional.
#[test]
fn gaussian_mixture_of_dense_circle_is_one_dimensional() {
    let n = 2000;
    let rows: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            let a = std::f64::consts::TAU * i as f64 / n as f64;
            // unit circle in the plane of u = (1,…,1,0,…,0)/√5 and v = (0,…,0,1,…,1)/√5
            (0..10)
                .map(|j| if j < 5 { a.cos() } else { a.sin() } / 5f64.sqrt())
                .collect()
        })
        .collect();
    let data = Dataset::from_rows(&rows).unwrap();
    let sde = Sde::Ve {
        sigma_min: 1e-4,
        sigma_max: 3.0,
    };
    let model = GaussianMixture::new(data.clone(), 0.0, sde).unwrap();
    let t0 = sde.time_for_sigma(0.03).unwrap();
    let est = NormalBundle::params()
        .t0(t0)
        .points(PointSelection::Count(20))
        .seed(9)
        .check()
        .unwrap()
        .fit(&model, &data)
        .unwrap();
    assert!(
        est.local_ids().iter().all(|&id| id == 1.0),
        "{:?}",
        est.local_ids()
    );
    // at a scale far below the spacing every point is isolated: ID 0
    let est = NormalBundle::params()
        .t0(sde.time_for_sigma(2e-4).unwrap())
        .points(PointSelection::Count(5))
        .check()
        .unwrap()
        .fit(&model, &data)
        .unwrap();
    assert!(
        est.local_ids().iter().all(|&id| id == 0.0),
        "{:?}",
        est.local_ids()
    );
}

/// Same seed, different thread counts: bit-identical spectra.
#[test]
fn thread_count_does_not_change_results() {
    let model = SubspaceGaussian::random(8, 3, Sde::vp_default(), 2).unwrap();
    let data = model.sample(40, 3);
    let run = |threads: usize| {
        with_threads(threads, || {
            NormalBundle::params()
                .seed(11)
                .batch_rows(64)
                .check()
                .unwrap()
                .fit(&model, &data)
                .unwrap()
        })
    };
    let (a, b) = (run(1), run(2));
    assert_eq!(a, b);
    let c = NormalBundle::params()
        .seed(12)
        .batch_rows(64)
        .check()
        .unwrap()
        .fit(&model, &data)
        .unwrap();
    assert_ne!(
        a.spectrum(0),
        c.spectrum(0),
        "a different seed draws different samples"
    );
}

#[test]
fn bad_parameters_and_inputs_are_rejected() {
    assert!(NormalBundle::params().t0(0.0).check().is_err());
    assert!(NormalBundle::params().t0(1.5).check().is_err());
    assert!(NormalBundle::params().samples(0).check().is_err());
    assert!(NormalBundle::params().normal_floor(1.0).check().is_err());
    assert!(NormalBundle::params()
        .points(PointSelection::Count(0))
        .check()
        .is_err());
    assert!(NormalBundle::params()
        .rule(Rule::Threshold(0.0))
        .check()
        .is_err());
    let model = SubspaceGaussian::random(4, 2, Sde::vp_default(), 2).unwrap();
    let wrong = Dataset::from_rows(&[vec![0.0; 3]]).unwrap();
    let e = NormalBundle::params()
        .check()
        .unwrap()
        .fit(&model, &wrong)
        .unwrap_err()
        .to_string();
    assert!(e.contains("expects 4, found 3"), "{e}");
    assert_eq!(model.dim(), 4);
}

/// A full-dimensional score with a strong smooth drift: the exact score of N(0, I) in ℝ⁸ plus
/// a constant tangent drift c (what a learned model adds as the smoothed density gradient).
struct Drifted {
    inner: SubspaceGaussian,
    drift: f64,
}

impl ScoreModel for Drifted {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn sde(&self) -> &Sde {
        self.inner.sde()
    }
    fn score(&self, x: faer::MatRef<'_, f64>, t: f64) -> scoregeo::Result<faer::Mat<f64>> {
        let s = self.inner.score(x, t)?;
        Ok(faer::Mat::from_fn(s.nrows(), s.ncols(), |r, j| {
            s[(r, j)] + if j == 0 { self.drift } else { 0.0 }
        }))
    }
    fn describe(&self) -> String {
        "drifted full-dimensional Gaussian".into()
    }
}

/// N(0, I) in ℝ⁸ with a drift of `drift_sigma`/σ(t₀) along e₀, and six of its points.
fn drifted(drift_sigma: f64) -> (Drifted, Dataset) {
    let sde = Sde::ve(10.0);
    let inner = SubspaceGaussian::random(8, 8, sde, 3).unwrap();
    let data = inner.sample(6, 2);
    let drift = drift_sigma / sde.marginal(sde.default_t0()).sigma;
    (Drifted { inner, drift }, data)
}

/// The normal bundle with `params` and seed 4 on `model` and `data`.
fn fit_nb(
    params: scoregeo::id::NormalBundleParams,
    model: &Drifted,
    data: &Dataset,
) -> scoregeo::id::IdEstimate {
    params.seed(4).check().unwrap().fit(model, data).unwrap()
}

/// The mean score passes the normal floor and reads D − 1 unless the samples are centred.
#[test]
fn centring_removes_the_density_gradient_on_full_dimensional_data() {
    // 2.5 times the normal floor ν/σ: a density gradient far steeper than a unit Gaussian's, yet
    // below the pull counted as a normal direction (the reference √(K − 1)/σ per √K samples)
    let (model, data) = drifted(2.5 * 0.1);
    let read =
        |centred: bool| fit_nb(NormalBundle::params().centred(centred), &model, &data).local_ids();
    assert!(read(true).iter().all(|&k| k == 8.0), "{:?}", read(true));
    assert!(read(false).iter().all(|&k| k == 7.0), "{:?}", read(false));
}

/// A pull of 2/σ towards a hyperplane is a normal direction even when its noise response is
/// missing: the centred read-out counts it apart (the mean pull, from √(K − 1)/σ per √K samples).
#[test]
fn a_pull_of_order_one_over_sigma_counts_as_a_normal_direction() {
    let (model, data) = drifted(2.0);
    // without the pull test the centred read-out sees no normal direction
    let plain = fit_nb(NormalBundle::params().mean_pull(false), &model, &data);
    assert!(
        plain.local_ids().iter().all(|&k| k == 8.0),
        "{:?}",
        plain.local_ids()
    );
    let est = fit_nb(NormalBundle::params(), &model, &data);
    assert!(
        est.local_ids().iter().all(|&k| k == 7.0),
        "{:?}",
        est.local_ids()
    );
    assert!(est
        .points()
        .iter()
        .all(|p| p.readoff.as_ref().unwrap().mean_pull));
    // a re-read keeps the pull
    let again = est.reread(scoregeo::id::Rule::Ratio).unwrap();
    assert!(
        again.local_ids().iter().all(|&k| k == 7.0),
        "{:?}",
        again.local_ids()
    );
}

/// The exact score of N(m, I) in ℝ⁶⁰ read at σ = 0.25: its mean over a point's samples is the
/// density gradient −(x₀ − m)/(1 + σ²), about √D·σ ≈ 1.8 normal responses (1/σ), which the pull
/// test alone would count as a normal direction (59). The data's Gaussian drift explains it, so
/// every point reads 60.
#[test]
fn the_density_gradient_of_high_dimensional_data_is_not_a_pull() {
    let sde = Sde::ve(10.0);
    let model = SubspaceGaussian::random(60, 60, sde, 8).unwrap();
    let data = model.sample(300, 4);
    let t0 = sde.time_for_sigma(0.25).unwrap();
    let params = || {
        NormalBundle::params()
            .t0(t0)
            .points(PointSelection::Count(8))
            .seed(2)
    };
    let est = params().check().unwrap().fit(&model, &data).unwrap();
    assert!(
        est.local_ids().iter().all(|&k| k == 60.0),
        "{:?}",
        est.local_ids()
    );
    assert!(est
        .points()
        .iter()
        .all(|p| !p.readoff.as_ref().unwrap().mean_pull));
}

/// Adaptive sampling on exact subspace scores reads what a fixed K reads, with fewer samples: a
/// point stops at the first count of the schedule where its cut is decided, and its spectrum is
/// then exactly that of its first samples (the same stream).
#[test]
fn adaptive_sampling_stops_decided_points_early_with_the_same_reading() {
    use scoregeo::id::{sample_schedule, MethodSettings};
    let (d, k) = (12, 3);
    let model = SubspaceGaussian::random(d, k, Sde::vp_default(), 9).unwrap();
    let data = model.sample(16, 4);
    let fit = |p: scoregeo::id::NormalBundleParams| {
        p.seed(2).check().unwrap().fit(&model, &data).unwrap()
    };
    let cap = 4 * d;
    let schedule = sample_schedule(cap, d);
    assert_eq!(schedule, vec![14, 24, 48]);
    let fixed = fit(NormalBundle::params().samples(cap).adaptive(false));
    let adaptive = fit(NormalBundle::params().samples(cap));
    assert_eq!(fixed.local_ids(), adaptive.local_ids());
    assert!(adaptive.local_ids().iter().all(|&id| id == k as f64));
    // each point against a fixed run with its own count
    let mut early = 0;
    for p in adaptive.points() {
        let used = p.readoff.as_ref().unwrap().samples.unwrap();
        assert!(schedule.contains(&used), "{used}");
        early += usize::from(used < cap);
        let alone = fit(NormalBundle::params().samples(used).adaptive(false));
        let q = alone.points().iter().find(|q| q.index == p.index).unwrap();
        // the same samples; the scores were evaluated in other batches, so up to rounding
        let (a, b) = (p.spectrum.as_ref().unwrap(), q.spectrum.as_ref().unwrap());
        assert!(
            a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-9 * b[0]),
            "point {}: {a:?} vs {b:?}",
            p.index
        );
    }
    assert!(early >= 12, "only {early} of 16 points stopped early");
    match adaptive.settings().options {
        Some(MethodSettings::Nb {
            adaptive: true,
            mean_samples,
            samples,
            ..
        }) => {
            assert_eq!(samples, cap);
            assert!(mean_samples < 0.8 * cap as f64, "{mean_samples}");
        }
        ref other => panic!("{other:?}"),
    }
    // fixed sampling records K at every point
    assert!(fixed
        .points()
        .iter()
        .all(|p| p.readoff.as_ref().unwrap().samples == Some(cap)));
}

/// A score model that counts its batched calls (one per round of a batch of points).
struct Counted<M> {
    inner: M,
    calls: std::sync::atomic::AtomicUsize,
}

impl<M: ScoreModel> ScoreModel for Counted<M> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn sde(&self) -> &Sde {
        self.inner.sde()
    }
    fn score(&self, x: faer::MatRef<'_, f64>, t: f64) -> scoregeo::Result<faer::Mat<f64>> {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.score(x, t)
    }
    fn describe(&self) -> String {
        format!("counted {}", self.inner.describe())
    }
}

/// The first round (K₀ ≈ K/4) is kept after the pilot of the first 64 points only where enough
/// of them stopped there: on a hypersurface (n̂ = 1) every point stops at K₀, also past the
/// pilot (all but a few); at codimension 9 none can (½L would rise by more than an octave from K₀ to K), so the
/// points past the pilot skip that round — one batched call fewer — and read the same.
#[test]
fn the_first_round_is_kept_only_where_the_pilot_shows_it_pays() {
    use scoregeo::id::{sample_schedule, PILOT_POINTS};
    let d = 12;
    let schedule = sample_schedule(4 * d, d);
    assert_eq!(schedule, vec![14, 24, 48]);
    let n = 2 * PILOT_POINTS;
    for (k, stops_first) in [(11, true), (3, false)] {
        let model = Counted {
            inner: SubspaceGaussian::random(d, k, Sde::vp_default(), 9).unwrap(),
            calls: Default::default(),
        };
        let data = model.inner.sample(n, 4);
        let fit = |p: scoregeo::id::NormalBundleParams| {
            model.calls.store(0, std::sync::atomic::Ordering::Relaxed);
            let e = p.seed(2).check().unwrap().fit(&model, &data).unwrap();
            (e, model.calls.load(std::sync::atomic::Ordering::Relaxed))
        };
        // one batch holds the pilot, one more the rest
        let (est, calls) = fit(NormalBundle::params()
            .samples(4 * d)
            .batch_rows(PILOT_POINTS * 4 * d));
        assert!(est.local_ids().iter().all(|&id| id == k as f64), "k = {k}");
        let used: Vec<usize> = est
            .points()
            .iter()
            .map(|p| p.readoff.as_ref().unwrap().samples.unwrap())
            .collect();
        if stops_first {
            // past the pilot too: the round was kept
            let past = &used[PILOT_POINTS..];
            let first = past.iter().filter(|&&u| u == 14).count();
            assert!(10 * first >= 9 * past.len(), "{used:?}");
            assert!(calls <= 4, "{calls}");
        } else {
            assert!(used.iter().all(|&u| u > 14), "{used:?}");
            // one call per round a batch reaches: the pilot from 14, the rest from 24
            let rounds = |points: &[usize], from: usize| {
                let last = *points.iter().max().unwrap();
                schedule[from..].iter().filter(|&&r| r <= last).count()
            };
            let expected = rounds(&used[..PILOT_POINTS], 0) + rounds(&used[PILOT_POINTS..], 1);
            assert_eq!(calls, expected, "{used:?}");
        }
        // the pilot is the first 64 points whatever the batch: the same readings
        let (small, _) = fit(NormalBundle::params().samples(4 * d).batch_rows(10 * 4 * d));
        assert_eq!(small.local_ids(), est.local_ids());
        for (a, b) in small.points().iter().zip(est.points()) {
            assert_eq!(
                a.readoff.as_ref().unwrap().samples,
                b.readoff.as_ref().unwrap().samples
            );
        }
    }
}

/// At K/2 samples the maxgap rule can misread a point whose last normal value falls deep into
/// the Marchenko–Pastur scatter (here ID 4 for 3); that cut is not decided, so the point draws
/// more samples and reads 3.
#[test]
fn a_misread_at_half_the_samples_is_not_decided() {
    let model = SubspaceGaussian::random(12, 3, Sde::vp_default(), 9).unwrap();
    let data = model.sample(16, 4);
    let fit = |p: scoregeo::id::NormalBundleParams| {
        p.seed(2).check().unwrap().fit(&model, &data).unwrap()
    };
    let half = fit(NormalBundle::params().samples(24).adaptive(false));
    let adaptive = fit(NormalBundle::params().samples(48));
    let misread: Vec<usize> = half
        .points()
        .iter()
        .filter(|p| p.local_id != 3.0)
        .map(|p| p.index)
        .collect();
    assert!(
        !misread.is_empty(),
        "the fixture should misread a point at K = 24"
    );
    for p in adaptive
        .points()
        .iter()
        .filter(|p| misread.contains(&p.index))
    {
        assert!(p.readoff.as_ref().unwrap().samples.unwrap() > 24);
        assert_eq!(p.local_id, 3.0);
    }
}

/// A point whose cut is not decided draws all K samples and reads what the fixed K reads (a
/// full-dimensional score with a drift near the pull threshold: the pull test stays within an
/// octave of its threshold, so no point is decided early).
#[test]
fn undecided_points_draw_every_sample() {
    let (model, data) = drifted(0.8);
    let fixed = fit_nb(NormalBundle::params().adaptive(false), &model, &data);
    let adaptive = fit_nb(NormalBundle::params(), &model, &data);
    assert_eq!(fixed.local_ids(), adaptive.local_ids());
    for (a, f) in adaptive.points().iter().zip(fixed.points()) {
        let (ra, rf) = (a.readoff.as_ref().unwrap(), f.readoff.as_ref().unwrap());
        assert_eq!((ra.samples, ra.normal_dim), (rf.samples, rf.normal_dim));
        let (x, y) = (a.spectrum.as_ref().unwrap(), f.spectrum.as_ref().unwrap());
        assert!(x.iter().zip(y).all(|(u, v)| (u - v).abs() <= 1e-9 * y[0]));
    }
}

/// The schedule: max(K/4, D + 2), K/2 and K; the first round only where it saves a third of the
/// K/2 round, and K alone when K/2 samples would leave a centred spectrum rank-deficient.
#[test]
fn sample_schedule_skips_rank_deficient_counts() {
    use scoregeo::id::sample_schedule;
    assert_eq!(sample_schedule(400, 100), vec![102, 200, 400]);
    assert_eq!(sample_schedule(64, 3), vec![16, 32, 64]);
    assert_eq!(sample_schedule(28, 12), vec![14, 28]);
    assert_eq!(sample_schedule(26, 12), vec![26]);
    assert_eq!(sample_schedule(2, 1), vec![2]);
}
