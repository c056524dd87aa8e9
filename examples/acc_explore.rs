//! Scratch: accuracy exploration on the benchmark manifolds.
//! usage: acc_explore NAME[,NAME..] [--n N] [--points M] [--steps S] [--sig a,b,c] [--mix]

use faer::Mat;
use rand_distr::{Distribution, StandardNormal};
use scoregeo::data::synthetic::benchmark::Benchmark;
use scoregeo::id::classic::{Mle, TwoNn};
use scoregeo::id::spectrum::symmetric_eigenvalues;
use scoregeo::id::{read_off, JacobianSpectrum, Flipd, PointSelection, Rule};
use scoregeo::score::ScoreModel;
use scoregeo::train::{default_model, CacheOptions, TrainParams};
use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let names = args[0].clone();
    let mut n = 2000usize;
    let mut m = 100usize;
    let mut steps: Option<u64> = None;
    let mut sigs = vec![1.0];
    let mut mix = false;
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--n" => { n = args[i + 1].parse().unwrap(); i += 1 }
            "--points" => { m = args[i + 1].parse().unwrap(); i += 1 }
            "--steps" => { steps = Some(args[i + 1].parse().unwrap()); i += 1 }
            "--sig" => { sigs = args[i + 1].split(',').map(|s| s.parse().unwrap()).collect(); i += 1 }
            "--mix" => mix = true,
            _ => panic!("unknown {}", args[i]),
        }
        i += 1;
    }
    let list: Vec<Benchmark> = if names == "all" {
        Benchmark::STANDARD.to_vec()
    } else {
        names.split(',').map(|s| Benchmark::from_name(s).unwrap()).collect()
    };
    for b in list {
        let data = b.sample(n, 1);
        let d = data.dim();
        let mle = Mle::params().k(20).check().unwrap().fit(&data).unwrap().global_id();
        let twonn = TwoNn::params().check().unwrap().fit(&data).unwrap().global_id();
        let mut recipe = TrainParams::default();
        if let Some(s) = steps {
            recipe = recipe.steps(s);
        }
        let opts = CacheOptions { dir: Some(PathBuf::from(std::env::var("ACC_CACHE").unwrap_or("/work/acc-cache".into()))), shipped: vec![], recipe };
        let t = std::time::Instant::now();
        let (net, _, prov) = default_model(&data, &opts).unwrap();
        let train_s = t.elapsed().as_secs_f64();
        let trained = matches!(prov, scoregeo::train::Provenance::Trained(_));
        println!(
            "== {} (ID {} in R^{d}) mle {mle:.2} twonn {twonn:.2} model {:.0}s{}",
            b.name(), b.intrinsic_dim(), train_s, if trained { " trained" } else { "" }
        );
        let idx = scoregeo::rng::choose_indices(n, m, 0);
        let model: &dyn ScoreModel = &net;
        let base_sigma = model.kernel(model.sde().default_t0()).std;
        for &f in &sigs {
            let sigma = base_sigma * f;
            let scale = model.frame().map_or(1.0, |fr| fr.scale);
            let t0 = model.sde().time_for_sigma(sigma / scale).unwrap();
            let (raw, cen) = nb_ids(model, &data, &idx, t0);
            let loss = dsm_gain(model, &data, &idx, t0);
            let jac = JacobianSpectrum::params().t0(t0).points(PointSelection::Count(m)).check().unwrap()
                .fit(model, &data).unwrap();
            let fl = Flipd::params().t0(t0).points(PointSelection::Count(m)).check().unwrap()
                .fit(model, &data).unwrap();
            println!(
                "  sigma x{f:<5} ({sigma:.3e}): nb raw {:.2} ({:.0}% exact)  centred {:.2} ({:.0}%)  jac {:.2}  flipd {:.2}",
                mean(&raw), exact(&raw, b.intrinsic_dim()), mean(&cen), exact(&cen, b.intrinsic_dim()),
                jac.global_id(), fl.global_id()
            );
            println!("     dsm loss/dim at data points {loss:.3} (identity 1, projection {:.3}, memorise 0)", b.intrinsic_dim() as f64 / d as f64);
        }
        if mix {
            let _ = d;
        }
    }
}

fn mean(v: &[f64]) -> f64 { v.iter().sum::<f64>() / v.len() as f64 }
fn exact(v: &[f64], k: usize) -> f64 { 100.0 * v.iter().filter(|&&x| x.round() as usize == k).count() as f64 / v.len() as f64 }

/// nb local IDs, raw and with the score samples centred, at t0.
fn nb_ids(model: &dyn ScoreModel, data: &scoregeo::Dataset, idx: &[usize], t0: f64) -> (Vec<f64>, Vec<f64>) {
    let d = data.dim();
    let k = (4 * d).max(64);
    let kernel = model.kernel(t0);
    let mut raw = vec![];
    let mut cen = vec![];
    for &i in idx {
        let mut rng = scoregeo::rng::stream(0, i as u64);
        let mut mean = vec![0.0; d];
        kernel.mean_into(data.row(i), &mut mean);
        let x = Mat::from_fn(k, d, |_, j| {
            let z: f64 = StandardNormal.sample(&mut rng);
            mean[j] + kernel.std * z
        });
        let s = model.score(x.as_ref(), t0).unwrap();
        for centre in [false, true] {
            let mu: Vec<f64> = (0..d).map(|j| if centre { (0..k).map(|r| s[(r, j)]).sum::<f64>() / k as f64 } else { 0.0 }).collect();
            let c = Mat::from_fn(k, d, |r, j| s[(r, j)] - mu[j]);
            let g = c.transpose() * &c;
            let sv: Vec<f64> = symmetric_eigenvalues(g.as_ref()).unwrap().into_iter().map(|l| l.max(0.0).sqrt()).collect();
            let kk = if centre { k - 1 } else { k };
            let reference = (kk as f64).sqrt() / kernel.std;
            let r = read_off(&sv, Rule::MaxGap, Some(reference), 0.1).unwrap();
            if std::env::var("SPEC").is_ok() && raw.len() < 3 {
                let v: Vec<String> = sv.iter().take(40).map(|x| format!("{:.2}", x / reference)).collect();
                eprintln!("   pt {i} centre={centre} id={} s/r: {}", r.intrinsic_dim, v.join(" "));
            }
            if centre { cen.push(r.intrinsic_dim as f64) } else { raw.push(r.intrinsic_dim as f64) }
        }
    }
    (raw, cen)
}

/// mean over points and 8 noise draws of ‖x̂₀ − x₀‖²/(σ²D) with x̂₀ from Tweedie.
fn dsm_gain(model: &dyn ScoreModel, data: &scoregeo::Dataset, idx: &[usize], t0: f64) -> f64 {
    let d = data.dim();
    let kernel = model.kernel(t0);
    let reps = 8;
    let mut rng = scoregeo::rng::stream(99, 0);
    let x = Mat::from_fn(idx.len() * reps, d, |r, j| {
        let i = idx[r / reps];
        let z: f64 = StandardNormal.sample(&mut rng);
        data.row(i)[j] + kernel.std * z
    });
    let s = model.score(x.as_ref(), t0).unwrap();
    let mut tot = 0.0;
    for r in 0..x.nrows() {
        let i = idx[r / reps];
        for j in 0..d {
            let x0hat = x[(r, j)] + kernel.std * kernel.std * s[(r, j)];
            tot += (x0hat - data.row(i)[j]).powi(2);
        }
    }
    tot / (x.nrows() * d) as f64 / (kernel.std * kernel.std)
}
