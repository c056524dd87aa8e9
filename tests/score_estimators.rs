//! Oracle tests of the score-Jacobian spectrum, FLIPD and t₀ sweeps on analytic scores.

mod common;
use common::with_threads;

use scoregeo::data::Dataset;
use scoregeo::id::{
    log_grid, Derivative, Flipd, FlipdTrace, JacobianSpectrum, MethodSettings, NormalBundle,
    PointSelection, Probe, Sweep,
};
use scoregeo::score::analytic::{GaussianMixture, SubspaceGaussian};
use scoregeo::score::mlp::{MlpConfig, MlpScoreNet};
use scoregeo::score::ScoreModel;
use scoregeo::Sde;

const CASES: [(usize, usize); 5] = [(1, 5), (4, 5), (5, 5), (3, 12), (11, 12)];

#[test]
fn jacobian_spectrum_is_exact_on_subspaces() {
    for sde in [Sde::ve(10.0), Sde::vp_default()] {
        for (k, d) in CASES {
            let model = SubspaceGaussian::random(d, k, sde, (k * 7 + d) as u64).unwrap();
            let data = model.sample(8, 3);
            let est = JacobianSpectrum::params()
                .check()
                .unwrap()
                .fit(&model, &data)
                .unwrap();
            assert!(
                est.local_ids().iter().all(|&id| id == k as f64),
                "{} k={k} D={d}: {:?}",
                sde.name(),
                est.local_ids()
            );
        }
    }
}

#[test]
fn flipd_exact_trace_is_within_005_of_k() {
    for sde in [Sde::ve(10.0), Sde::vp_default()] {
        for (k, d) in CASES {
            let model = SubspaceGaussian::random(d, k, sde, (k * 5 + d) as u64).unwrap();
            let data = model.sample(8, 4);
            let est = Flipd::params().check().unwrap().fit(&model, &data).unwrap();
            for id in est.local_ids() {
                assert!(
                    (id - k as f64).abs() < 0.05,
                    "{} k={k} D={d}: {id}",
                    sde.name()
                );
            }
        }
    }
}

/// Hutchinson's estimate is unbiased: its mean over many points approaches the exact value.
#[test]
fn flipd_hutchinson_agrees_with_exact_trace_on_average() {
    let model = SubspaceGaussian::random(40, 6, Sde::vp_default(), 8).unwrap();
    let data = model.sample(200, 2);
    let exact = Flipd::params()
        .exact_max_dim(64)
        .check()
        .unwrap()
        .fit(&model, &data)
        .unwrap();
    assert!((exact.global_id() - 6.0).abs() < 0.05);
    for probe in [Probe::Rademacher, Probe::Gaussian] {
        let est = Flipd::params()
            .exact_max_dim(8)
            .probes(16)
            .probe(probe)
            .seed(3)
            .check()
            .unwrap()
            .fit(&model, &data)
            .unwrap();
        let Some(MethodSettings::Flipd { trace, .. }) = est.settings().options else {
            panic!("not FLIPD settings: {:?}", est.settings());
        };
        assert_eq!(
            trace,
            FlipdTrace::Hutchinson {
                probes: 16,
                probe,
                derivative: Derivative::Difference
            }
        );
        assert_eq!(
            trace.to_string(),
            format!("hutchinson, 16 {probe:?} probes, difference").to_lowercase()
        );
        // per-point std ≈ √(2·34·6/40/16) ≈ 0.8 for Rademacher; the mean of 200 is within ≈ 0.06
        assert!(
            (est.global_id() - 6.0).abs() < 0.35,
            "{probe:?}: {}",
            est.global_id()
        );
    }
}

/// The central-difference probes equal the VJP probes: exactly for an affine score, to O((h/σ)²)
/// for the nonlinear mixture score, and within f32 rounding for a network.
#[test]
fn flipd_difference_probes_match_autodiff() {
    let affine = SubspaceGaussian::random(40, 6, Sde::ve(10.0), 8).unwrap();
    let data = affine.sample(20, 2);
    let circle = Dataset::from_mat(
        faer::Mat::from_fn(300, 10, |i, j| {
            let a = i as f64 * std::f64::consts::TAU / 300.0;
            match j {
                0 => a.cos(),
                1 => a.sin(),
                _ => 0.0,
            }
        })
        .as_ref(),
    )
    .unwrap();
    let mixture = GaussianMixture::new(circle.clone(), 0.0, Sde::ve(4.0)).unwrap();
    let (net, _) = MlpScoreNet::init(
        MlpConfig::new(10, 64, 2, Sde::ve(4.0)),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let models: [(&dyn ScoreModel, &Dataset, f64, f64); 3] = [
        (&affine, &data, 1e-3, 1e-6),
        (&mixture, &circle, 0.05, 0.02),
        (&net, &circle, 0.05, 0.02),
    ];
    for (model, data, t0, tol) in models {
        let fit = |derivative| {
            Flipd::params()
                .exact_max_dim(4)
                .probes(4)
                .points(PointSelection::Count(20))
                .derivative(derivative)
                .t0(t0)
                .seed(5)
                .check()
                .unwrap()
                .fit(model, data)
                .unwrap()
                .local_ids()
        };
        let (fd, ad) = (fit(Derivative::Difference), fit(Derivative::Autodiff));
        for (a, b) in fd.iter().zip(&ad) {
            assert!((a - b).abs() < tol, "{}: {a} vs {b}", model.describe());
        }
    }
}

/// On a network (the shipped sphere model, served by the fused engine) the forward-mode JVP
/// probes equal the VJP probes up to f32 rounding, and the settings say JVPs were used; an
/// analytic oracle has no JVPs, so the default takes central differences and says so.
#[test]
fn flipd_jvp_probes_match_autodiff_and_fall_back_to_differences() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets");
    let data = Dataset::read(root.join("sphere4_r16.csv")).unwrap();
    let model = scoregeo::score::load(root.join(
        "models/d1f7413b5395d8f4a9ff9aac8ec5eba2c31d36f971d2ae3714a0ecaf2a91dc4d.safetensors",
    ))
    .unwrap();
    let fit = |model: &dyn ScoreModel, data: &Dataset, derivative| {
        Flipd::params()
            .exact_max_dim(4)
            .probes(6)
            .points(PointSelection::Count(40))
            .derivative(derivative)
            .seed(5)
            .check()
            .unwrap()
            .fit(model, data)
            .unwrap()
    };
    let used = |e: &scoregeo::id::IdEstimate| match &e.settings().options {
        Some(MethodSettings::Flipd {
            trace: FlipdTrace::Hutchinson { derivative, .. },
            ..
        }) => *derivative,
        other => panic!("not Hutchinson FLIPD settings: {other:?}"),
    };
    let (jvp, vjp) = (
        fit(&model, &data, Derivative::Jvp),
        fit(&model, &data, Derivative::Autodiff),
    );
    assert_eq!(used(&jvp), Derivative::Jvp);
    let (a, b) = (jvp.local_ids(), vjp.local_ids());
    assert_eq!(a.len(), 40);
    for (a, b) in a.iter().zip(&b) {
        assert!((a - b).abs() < 1e-3 * (1.0 + b.abs()), "jvp {a} vs vjp {b}");
    }
    // the default is the JVP
    let default = Flipd::params()
        .exact_max_dim(4)
        .probes(6)
        .points(PointSelection::Count(40))
        .seed(5)
        .check()
        .unwrap()
        .fit(&model, &data)
        .unwrap();
    assert_eq!(default.local_ids(), a);

    let oracle = SubspaceGaussian::random(12, 3, Sde::ve(10.0), 8).unwrap();
    let sample = oracle.sample(30, 2);
    let (fallback, fd) = (
        fit(&oracle, &sample, Derivative::Jvp),
        fit(&oracle, &sample, Derivative::Difference),
    );
    assert_eq!(used(&fallback), Derivative::Difference);
    assert_eq!(fallback.local_ids(), fd.local_ids());
}

#[test]
fn estimators_do_not_depend_on_thread_count() {
    let model = SubspaceGaussian::random(20, 4, Sde::vp_default(), 1).unwrap();
    let data = model.sample(30, 5);
    let run = |threads: usize| {
        with_threads(threads, || {
            (
                Flipd::params()
                    .exact_max_dim(4)
                    .seed(2)
                    .check()
                    .unwrap()
                    .fit(&model, &data)
                    .unwrap(),
                JacobianSpectrum::params()
                    .check()
                    .unwrap()
                    .fit(&model, &data)
                    .unwrap(),
            )
        })
    };
    assert_eq!(run(1), run(2));
}

#[test]
fn sweep_of_nb_has_a_plateau_at_k() {
    let model = SubspaceGaussian::random(10, 3, Sde::ve(10.0), 6).unwrap();
    let data = model.sample(5, 1);
    let grid = log_grid(1e-3, 0.5, 6).unwrap();
    let sweep = Sweep::run(&grid, |t0| {
        NormalBundle::params()
            .t0(t0)
            .points(PointSelection::All)
            .check()?
            .fit(&model, &data)
    })
    .unwrap();
    let p = sweep.plateau();
    assert_eq!(p.value, 3.0, "{:?}", sweep.mean_curve());
    assert_eq!(sweep.curves().len(), 5);
}

#[test]
fn bad_parameters_are_rejected() {
    assert!(Flipd::params().probes(0).check().is_err());
    assert!(Flipd::params().t0(0.0).check().is_err());
    assert!(JacobianSpectrum::params()
        .normal_floor(2.0)
        .check()
        .is_err());
    assert!(JacobianSpectrum::params()
        .points(PointSelection::Count(0))
        .check()
        .is_err());
}
