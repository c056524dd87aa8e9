//! Criterion benches of the three score-based estimators and of training on the fused engine,
//! so that regressions show: `cargo bench --bench estimators`.
//!
//! The network is a fixed-weight MLP (D = 32, width 128, depth 3, SiLU) as a loaded model would
//! be; the sizes keep one sample under a second on two cores.

mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use scoregeo::id::{Flipd, JacobianSpectrum, NormalBundle, PointSelection};
use scoregeo::progress::Progress::Hidden;
use scoregeo::score::mlp::{MlpConfig, MlpScoreNet};
use scoregeo::train::TrainParams;
use scoregeo::{Dataset, Sde};

const D: usize = 32;

/// A fixed-weight network with seeded U(±1/√fan_in) weights.
fn network() -> MlpScoreNet {
    common::seeded_mlp(MlpConfig::new(D, 128, 3, Sde::ve(4.0)), 1)
}

fn points(n: usize) -> Dataset {
    common::uniform_points(n, D, 2)
}

fn estimators(c: &mut Criterion) {
    let net = network();
    let data = points(256);
    let nb = NormalBundle::params()
        .progress(Hidden)
        .samples(400)
        .points(PointSelection::Count(16))
        .check()
        .unwrap();
    c.bench_function("normal bundle, K = 400, 16 points", |b| {
        b.iter(|| nb.fit(&net, &data).unwrap())
    });
    let jac = JacobianSpectrum::params()
        .progress(Hidden)
        .points(PointSelection::Count(64))
        .check()
        .unwrap();
    c.bench_function("jacobian spectrum, 64 points", |b| {
        b.iter(|| jac.fit(&net, &data).unwrap())
    });
    let flipd = Flipd::params().progress(Hidden).check().unwrap();
    c.bench_function("flipd (exact trace), 256 points", |b| {
        b.iter(|| flipd.fit(&net, &data).unwrap())
    });
}

fn training(c: &mut Criterion) {
    let data = points(2000);
    let mut session = TrainParams::default()
        .hidden(128)
        .depth(3)
        .steps(u64::MAX / 2)
        .eval_every(u64::MAX / 2)
        .check()
        .unwrap()
        .start(&data)
        .unwrap();
    session.set_progress(Hidden);
    c.bench_function("training, 10 steps of batch 256 (D = 32, width 128)", |b| {
        b.iter(|| session.run_for(10, None).unwrap())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = estimators, training
}
criterion_main!(benches);
