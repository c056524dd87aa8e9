//! The score-based pullback geometry walkthrough: the Riemannian-autoencoder and geodesic
//! experiments of Diepeveen, Batzolis, Shumaylov & Schönlieb, *Score-based pullback Riemannian
//! geometry* (2024), run end to end through the library — seeded data, anisotropic flows trained
//! with the default recipe ([`FlowTrainParams::default`]), d_ε, the variance profile, the
//! reconstruction error per latent dimension, closed-form geodesics, figures and a Markdown
//! report.
//!
//! ```text
//! cargo run --release --example geometry_walkthrough -- notebooks-export/pullback-geometry
//! cargo run --release --example geometry_walkthrough -- --quick /tmp/geometry-quick   # < 1 min
//! ```
//!
//! Options (before or after the output directory):
//! - `--quick`: tiny sizes (1500 points, 80-step width-32 flows); the numbers mean nothing, the
//!   code paths are the full run's;
//! - `--cache DIR`: where trained flows are cached (default `target/walkthrough-cache`), so a
//!   rerun skips training; the cache key is the data's content hash and the training settings;
//! - `--seed S`: the seed of the data and of the flows' training (default 0).
//!
//! Flow training is bit-reproducible for a seed, so a rerun writes the same numbers (only the
//! timings change).

use faer::{Mat, MatRef, Side};
use scoregeo::data::synthetic::{generate, Kind, Params};
use scoregeo::geometry::{
    rae_dim, AnisotropicFlow, Diffeomorphism, FlowTrainParams, Metric, PullbackMetric, Shear,
};
use scoregeo::io::write_atomic;
use scoregeo::plot::{
    Figure, GeodesicPath, GeodesicPlot, KMark, RaeSeries, ReconstructionPlot, VarianceProfilePlot,
};
use scoregeo::Dataset;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

mod common;
use common::Res;

/// The tolerance of the issue and of the paper's tables.
const EPSILON: f64 = 0.05;
/// The tolerances of the d_ε tables.
const EPSILONS: [f64; 6] = [0.01, 0.02, 0.03, 0.05, 0.1, 0.2];
/// The reconstruction table lists k = 1..=K_TABLE.
const K_TABLE: usize = 10;
/// Flow seeds trained on the hemisphere, whose d_ε at ε = 0.05 sits on the threshold.
const HEMISPHERE_SEEDS: u64 = 3;

/// Command-line settings.
struct Settings {
    out: PathBuf,
    cache: PathBuf,
    seed: u64,
    quick: bool,
}

impl Settings {
    fn parse() -> Res<Self> {
        let usage = "usage: geometry_walkthrough [--quick] [--cache DIR] [--seed S] OUT_DIR";
        let a = common::parse_args(usage, 0, |_, _| Ok(false))?;
        Ok(Self {
            out: a.out,
            cache: a.cache,
            seed: a.seed,
            quick: a.quick,
        })
    }

    /// (training points, held-out points) of the 20-dimensional datasets.
    fn sizes(&self) -> (usize, usize) {
        if self.quick {
            (1500, 300)
        } else {
            (10_000, 2000)
        }
    }

    /// The flow recipe: the library default with the seed (tiny for `--quick`).
    fn recipe(&self) -> FlowTrainParams {
        let r = FlowTrainParams::default().seed(self.seed);
        if self.quick {
            r.steps(80).batch(128).hidden(32).layers(4)
        } else {
            r
        }
    }

    /// The command line that reproduces this run.
    fn command(&self) -> String {
        let mut c = String::from("cargo run --release --example geometry_walkthrough --");
        if self.quick {
            c += " --quick";
        }
        if self.seed != 0 {
            c += &format!(" --seed {}", self.seed);
        }
        c += &format!(" {}", self.out.display());
        c
    }
}

/// What training recorded, stored beside a cached flow.
#[derive(Clone, Serialize, Deserialize)]
struct TrainingRecord {
    seconds: f64,
    steps: usize,
    nll: f64,
    isometry: f64,
    volume: f64,
}

/// A trained (or cached) flow and how it was obtained.
struct Trained {
    seed: u64,
    flow: AnisotropicFlow,
    record: TrainingRecord,
    cached: bool,
    file: PathBuf,
}

/// Trains a flow on `data` with `params`, or loads it from the cache.
fn flow_for(slug: &str, data: &Dataset, params: &FlowTrainParams, cache: &Path) -> Res<Trained> {
    let trainer = params.clone().check()?;
    let mut h = Sha256::new();
    h.update(data.content_hash().as_bytes());
    h.update(serde_json::to_string(params)?.as_bytes());
    let key: String = h
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let file = cache.join(format!("flow-{slug}-{key}.safetensors"));
    let sidecar = file.with_extension("json");
    if file.exists() && sidecar.exists() {
        let flow = AnisotropicFlow::load(&file)?;
        let record = serde_json::from_str(&std::fs::read_to_string(&sidecar)?)?;
        return Ok(Trained {
            seed: trainer.seed(),
            flow,
            record,
            cached: true,
            file,
        });
    }
    std::fs::create_dir_all(cache)?;
    eprintln!(
        "training the {slug} flow (seed {}, {} steps)…",
        trainer.seed(),
        trainer.steps()
    );
    let (flow, report) = trainer.fit(data)?;
    flow.save(&file)?;
    let l = report.final_loss;
    let record = TrainingRecord {
        seconds: report.elapsed_s,
        steps: trainer.steps(),
        nll: l.nll,
        isometry: l.isometry,
        volume: l.volume,
    };
    let text = serde_json::to_string_pretty(&record)?;
    write_atomic(&sidecar, |w| w.write_all(text.as_bytes()))?;
    Ok(Trained {
        seed: trainer.seed(),
        flow,
        record,
        cached: false,
        file,
    })
}

/// Eigenvalues (descending) of the covariance matrix of the rows of `x`.
fn pca_variances(x: MatRef<'_, f64>) -> Res<Vec<f64>> {
    let (n, d) = (x.nrows(), x.ncols());
    let mean: Vec<f64> = (0..d)
        .map(|j| (0..n).map(|i| x[(i, j)]).sum::<f64>() / n as f64)
        .collect();
    let c = Mat::from_fn(n, d, |i, j| x[(i, j)] - mean[j]);
    let cov = c.transpose() * &c * (1.0 / n as f64);
    let mut e = cov
        .self_adjoint_eigenvalues(Side::Lower)
        .map_err(|e| format!("eigenvalues: {e:?}"))?;
    e.sort_by(|a, b| b.total_cmp(a));
    Ok(e.into_iter().map(|v| v.max(0.0)).collect())
}

/// The variances of the hemisphere in Riemannian normal coordinates of its sphere at the
/// normalised data mean μ: PCA of log_μ(x) = θ/sin θ·(x − cos θ μ), θ = arccos(xᵀμ). These
/// coordinates keep geodesic distances from μ exactly: the variance profile an isometric
/// flattening can reach. `None` unless every point has norm 1 (a unit sphere centred at 0).
fn normal_coordinate_variances(x: MatRef<'_, f64>) -> Res<Option<Vec<f64>>> {
    let (n, d) = (x.nrows(), x.ncols());
    let on_sphere = (0..n).all(|i| {
        let r2: f64 = (0..d).map(|j| x[(i, j)].powi(2)).sum();
        (r2.sqrt() - 1.0).abs() < 1e-9
    });
    if !on_sphere {
        return Ok(None);
    }
    let mut mu: Vec<f64> = (0..d)
        .map(|j| (0..n).map(|i| x[(i, j)]).sum::<f64>())
        .collect();
    let norm = mu.iter().map(|v| v * v).sum::<f64>().sqrt();
    mu.iter_mut().for_each(|v| *v /= norm);
    let mut logs = Mat::zeros(n, d);
    for i in 0..n {
        let c: f64 = (0..d)
            .map(|j| x[(i, j)] * mu[j])
            .sum::<f64>()
            .clamp(-1.0, 1.0);
        let theta = c.acos();
        let f = if theta > 1e-12 {
            theta / theta.sin()
        } else {
            1.0
        };
        for j in 0..d {
            logs[(i, j)] = f * (x[(i, j)] - c * mu[j]);
        }
    }
    Ok(Some(pca_variances(logs.as_ref())?))
}

/// √((1/n) Σᵢ ‖xᵢ − x̂ᵢ‖²).
fn rmse(x: MatRef<'_, f64>, xhat: MatRef<'_, f64>) -> f64 {
    let n = x.nrows();
    let sq: f64 = (0..n)
        .map(|i| {
            (0..x.ncols())
                .map(|j| (x[(i, j)] - xhat[(i, j)]).powi(2))
                .sum::<f64>()
        })
        .sum();
    (sq / n as f64).sqrt()
}

/// One trained flow of a Riemannian-autoencoder experiment and what it gives.
struct FlowRun {
    trained: Trained,
    /// Sorted base variances a₍₁₎ ≥ … ≥ a₍D₎ (data units).
    variances: Vec<f64>,
    /// d_ε for each of [`EPSILONS`].
    dims: Vec<usize>,
    /// Held-out RMSE of decode(encode(x)) keeping k = 0..=D coordinates.
    rmse: Vec<f64>,
    /// Seconds spent evaluating (profile and reconstructions).
    eval_seconds: f64,
}

impl FlowRun {
    fn dim_at(&self, eps: f64) -> usize {
        let i = EPSILONS
            .iter()
            .position(|e| *e == eps)
            .expect("a tabulated ε");
        self.dims[i]
    }

    fn share(&self, i: usize) -> f64 {
        self.variances[i] / self.variances.iter().sum::<f64>()
    }

    /// Σ_{i>k} a₍ᵢ₎ / Σ a.
    fn tail(&self, k: usize) -> f64 {
        self.variances[k..].iter().sum::<f64>() / self.variances.iter().sum::<f64>()
    }

    fn seed(&self) -> u64 {
        self.trained.seed
    }
}

/// The results of one Riemannian-autoencoder experiment: flows trained with several seeds on
/// the same data (the first is the main one).
struct RaeOutcome {
    slug: &'static str,
    title: &'static str,
    true_id: usize,
    n_train: usize,
    n_test: usize,
    runs: Vec<FlowRun>,
    /// Held-out RMSE of the linear PCA reconstruction with k = 0..=D components (a baseline).
    pca_rmse: Vec<f64>,
    /// PCA variances of the training data (descending).
    pca: Vec<f64>,
    /// Normal-coordinate variances (hemisphere only).
    normal_coordinates: Option<Vec<f64>>,
    data_seconds: f64,
}

impl RaeOutcome {
    fn main_run(&self) -> &FlowRun {
        &self.runs[0]
    }
}

/// Rank-k PCA reconstructions of `test` from the principal axes of `train`, k = 0..=D.
fn pca_reconstruction_rmse(train: MatRef<'_, f64>, test: MatRef<'_, f64>) -> Res<Vec<f64>> {
    let (n, d) = (train.nrows(), train.ncols());
    let mean: Vec<f64> = (0..d)
        .map(|j| (0..n).map(|i| train[(i, j)]).sum::<f64>() / n as f64)
        .collect();
    let c = Mat::from_fn(n, d, |i, j| train[(i, j)] - mean[j]);
    let cov = c.transpose() * &c * (1.0 / n as f64);
    let eig = cov
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| format!("eigen decomposition: {e:?}"))?;
    let (vals, vecs) = (eig.S().column_vector(), eig.U());
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| vals[b].total_cmp(&vals[a]));
    let m = test.nrows();
    let centred = Mat::from_fn(m, d, |i, j| test[(i, j)] - mean[j]);
    let mut approx = Mat::<f64>::zeros(m, d);
    let mut out = vec![rmse(centred.as_ref(), approx.as_ref())];
    for &axis in &order {
        for i in 0..m {
            let coef: f64 = (0..d).map(|j| centred[(i, j)] * vecs[(j, axis)]).sum();
            for j in 0..d {
                approx[(i, j)] += coef * vecs[(j, axis)];
            }
        }
        out.push(rmse(centred.as_ref(), approx.as_ref()));
    }
    Ok(out)
}

/// Trains (or loads) and evaluates the flows of one experiment, with the flow seeds
/// `s.seed`, `s.seed + 1`, … (`flow_seeds` of them) on data drawn with `s.seed`.
fn run_rae(
    slug: &'static str,
    title: &'static str,
    kind: Kind,
    flow_seeds: u64,
    s: &Settings,
) -> Res<RaeOutcome> {
    let (n_train, n_test) = s.sizes();
    let t = Instant::now();
    let params = Params::default()
        .n(n_train + n_test)
        .dim(5)
        .ambient(20)
        .seed(s.seed);
    let (all, manifest) = generate(kind, &params)?;
    let true_id = manifest
        .true_id
        .global()
        .ok_or("the generator has one global ID")?;
    let train = all.select(&(0..n_train).collect::<Vec<_>>());
    let test = all.select(&(n_train..n_train + n_test).collect::<Vec<_>>());
    let data_seconds = t.elapsed().as_secs_f64();

    let mut runs = Vec::new();
    for seed in s.seed..s.seed + flow_seeds {
        let recipe = s.recipe().seed(seed);
        let trained = flow_for(slug, &train, &recipe, &s.cache)?;
        let t = Instant::now();
        let flow = &trained.flow;
        let variances = flow.autoencoder(EPSILON)?.variance_profile().variances;
        let dims = EPSILONS
            .iter()
            .map(|&e| rae_dim(&variances, e))
            .collect::<Result<Vec<_>, _>>()?;
        let x = test.as_mat();
        let mut rmse_k = Vec::with_capacity(test.dim() + 1);
        for k in 0..=test.dim() {
            let xhat = flow
                .autoencoder(EPSILON)?
                .with_latent_dim(k)?
                .reconstruct(x)?;
            rmse_k.push(rmse(x, xhat.as_ref()));
        }
        runs.push(FlowRun {
            trained,
            variances,
            dims,
            rmse: rmse_k,
            eval_seconds: t.elapsed().as_secs_f64(),
        });
    }
    let pca = pca_variances(train.as_mat())?;
    let pca_rmse = pca_reconstruction_rmse(train.as_mat(), test.as_mat())?;
    let normal_coordinates = if kind == Kind::Hemisphere {
        normal_coordinate_variances(train.as_mat())?
    } else {
        None
    };
    Ok(RaeOutcome {
        slug,
        title,
        true_id,
        n_train,
        n_test,
        runs,
        pca_rmse,
        pca,
        normal_coordinates,
        data_seconds,
    })
}

/// One geodesic pair of the 2-D densities, with every curve drawn for it.
struct GeodesicPair {
    from: [f64; 2],
    to: [f64; 2],
    /// Closed-form distance under the true φ and A.
    true_distance: f64,
    /// Largest gap between the learned-flow and the true geodesic (when a flow was trained).
    learned_gap: Option<f64>,
}

/// The geodesic figure of one 2-D density.
struct GeodesicOutcome {
    slug: &'static str,
    title: String,
    /// The diagonal of the true A.
    variances: [f64; 2],
    pairs: Vec<GeodesicPair>,
    trained: Option<Trained>,
    seconds: f64,
}

const CURVE_TIMES: usize = 101;

fn times() -> Vec<f64> {
    (0..CURVE_TIMES)
        .map(|i| i as f64 / (CURVE_TIMES - 1) as f64)
        .collect()
}

fn rows(m: &Mat<f64>) -> Vec<Vec<f64>> {
    (0..m.nrows())
        .map(|i| (0..m.ncols()).map(|j| m[(i, j)]).collect())
        .collect()
}

/// Closed-form geodesics of a 2-D sheared Gaussian (`kind`: banana or river) between points
/// given in latent coordinates, over MALA samples of the density; with `learn`, also the
/// geodesics of a flow trained on those samples.
fn run_geodesics(
    slug: &'static str,
    kind: Kind,
    shear: Shear,
    variances: [f64; 2],
    latent_pairs: &[([f64; 2], [f64; 2])],
    learn: bool,
    s: &Settings,
) -> Res<GeodesicOutcome> {
    let t = Instant::now();
    let n = if s.quick { 600 } else { 3000 };
    let (data, _) = generate(kind, &Params::default().n(n).seed(s.seed))?;
    let truth = PullbackMetric::closed_form(shear, &variances)?;
    let trained = if learn {
        Some(flow_for(slug, &data, &s.recipe(), &s.cache)?)
    } else {
        None
    };
    let learned = match &trained {
        Some(t) => Some(PullbackMetric::closed_form(&t.flow, &t.flow.variances()?)?),
        None => None,
    };
    let ts = times();
    let mut pairs = Vec::new();
    let mut paths = Vec::new();
    for (p, (za, zb)) in latent_pairs.iter().enumerate() {
        // endpoints φ⁻¹(z): the shear's inverse adds f(z₂) to z₁
        let ends = truth
            .diffeomorphism()
            .inverse(Mat::from_fn(2, 2, |i, j| if i == 0 { za[j] } else { zb[j] }).as_ref())?;
        let (from, to) = ([ends[(0, 0)], ends[(0, 1)]], [ends[(1, 0)], ends[(1, 1)]]);
        let curve = truth.geodesic(&from, &to, &ts)?;
        let true_distance = truth.distance(&from, &to)?;
        let tag = format!("pair {}", p + 1);
        paths.push(GeodesicPath::new(
            format!("{tag}: true closed-form geodesic (d = {true_distance:.3})"),
            rows(&curve),
        ));
        let mut learned_gap = None;
        if let Some(m) = &learned {
            let lc = m.geodesic(&from, &to, &ts)?;
            let gap = (0..CURVE_TIMES)
                .map(|i| {
                    ((lc[(i, 0)] - curve[(i, 0)]).powi(2) + (lc[(i, 1)] - curve[(i, 1)]).powi(2))
                        .sqrt()
                })
                .fold(0.0, f64::max);
            learned_gap = Some(gap);
            paths.push(GeodesicPath::new(
                format!("{tag}: geodesic of the trained flow"),
                rows(&lc),
            ));
        }
        paths.push(GeodesicPath::new(
            format!("{tag}: straight line"),
            vec![from.to_vec(), to.to_vec()],
        ));
        pairs.push(GeodesicPair {
            from,
            to,
            true_distance,
            learned_gap,
        });
    }
    let title = format!(
        "{} density: closed-form geodesics{}",
        kind.name(),
        if learn { " and a trained flow's" } else { "" }
    );
    let mut fig = GeodesicPlot::new(Some(data), paths);
    fig.title = Some(title.clone());
    fig.render(s.out.join(format!("geodesics-{slug}.png")))?;
    Ok(GeodesicOutcome {
        slug,
        title,
        variances,
        pairs,
        trained,
        seconds: t.elapsed().as_secs_f64(),
    })
}

fn figures(outcomes: &[RaeOutcome], out: &Path) -> Res<()> {
    let profiles = outcomes
        .iter()
        .flat_map(|o| {
            o.runs.iter().map(move |r| {
                let label = if o.runs.len() > 1 {
                    format!("{}, flow seed {}", o.title, r.seed())
                } else {
                    o.title.to_string()
                };
                RaeSeries::new(label, r.variances.clone())
            })
        })
        .collect();
    let mut fig = VarianceProfilePlot::new(profiles, EPSILON);
    fig.title = Some("Base variances of the trained flows (D = 20)".into());
    fig.render(out.join("variance-profile.png"))?;

    // k ≤ K_TABLE: with every coordinate kept the reconstruction is exact (≈ 10⁻¹⁵), which
    // would only stretch the log axis
    let curves = outcomes
        .iter()
        .map(|o| {
            let r = o.main_run();
            RaeSeries::new(
                format!("{}, flow seed {}", o.title, r.seed()),
                r.rmse[..=K_TABLE.min(r.rmse.len() - 1)].to_vec(),
            )
        })
        .collect();
    let mut fig = ReconstructionPlot::new(curves, 0, "held-out RMSE of decode(encode(x))");
    fig.marks = outcomes
        .iter()
        .map(|o| KMark {
            k: o.main_run().dim_at(EPSILON),
            label: format!("{} d_ε (ε = {EPSILON})", o.title),
        })
        .collect();
    fig.title = Some("Reconstruction error against kept latent coordinates".into());
    fig.render(out.join("reconstruction.png"))?;
    Ok(())
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .and_then(|f| f.to_str())
        .unwrap_or("?")
        .to_string()
}

/// `i` in subscript digits.
fn subscript(i: usize) -> String {
    i.to_string()
        .chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => ['₀', '₁', '₂', '₃', '₄', '₅', '₆', '₇', '₈', '₉'][d as usize],
            None => c,
        })
        .collect()
}

fn pct(v: f64) -> String {
    if v != 0.0 && v.abs() < 1e-3 {
        format!("{:.1e} %", 100.0 * v)
    } else {
        format!("{:.1} %", 100.0 * v)
    }
}

fn report(rae: &[RaeOutcome], geo: &[GeodesicOutcome], s: &Settings, wall: f64) -> Res<String> {
    let mut r = String::new();
    let recipe = s.recipe();
    let trainings: Vec<&Trained> = rae
        .iter()
        .flat_map(|o| o.runs.iter().map(|run| &run.trained))
        .chain(geo.iter().filter_map(|g| g.trained.as_ref()))
        .collect();
    writeln!(r, "# Score-based pullback geometry: walkthrough\n")?;
    if s.quick {
        writeln!(
            r,
            "> **Quick smoke run** (`--quick`): tiny data and 80-step flows; the numbers below \
             mean nothing.\n"
        )?;
    }
    writeln!(
        r,
        "The Riemannian-autoencoder and geodesic experiments of Diepeveen, Batzolis, Shumaylov \
         & Schönlieb, *Score-based pullback Riemannian geometry* (2024), through the scoregeo \
         library: anisotropic flows p(x) ∝ exp(−½ φ(x)ᵀA⁻¹φ(x)) trained with the default \
         recipe, d_ε = min{{k : Σ_{{i>k}} a₍ᵢ₎ ≤ ε Σ a}}, held-out reconstruction errors, and \
         closed-form geodesics γ(t) = φ⁻¹((1 − t)φ(x) + tφ(y)).\n"
    )?;
    writeln!(r, "Reproduce (from the repository root):\n")?;
    writeln!(r, "```text\n{}\n```\n", s.command())?;
    writeln!(
        r,
        "`--quick` runs every code path on tiny data in under a minute (its numbers mean \
         nothing); `--seed S` and `--cache DIR` change the seed and the cache. Timings are wall \
         times on the machine that ran it.\n"
    )?;
    writeln!(
        r,
        "Seed {} (data and flow training); trained flows are cached in `{}` (keyed by the \
         data's content hash and the training settings), so a rerun skips training and \
         reports the original training time. Total wall time of this run: {:.1} s ({} of {} \
         flows trained in this run; from an empty cache the {} trainings take {:.0} s \
         together, see the timings).\n",
        s.seed,
        s.cache.display(),
        wall,
        trainings.iter().filter(|t| !t.cached).count(),
        trainings.len(),
        trainings.len(),
        trainings.iter().map(|t| t.record.seconds).sum::<f64>(),
    )?;
    writeln!(r, "Flow recipe (`FlowTrainParams`):\n")?;
    writeln!(
        r,
        "```json\n{}\n```\n",
        serde_json::to_string_pretty(&recipe)?
    )?;

    writeln!(r, "## Timings\n")?;
    writeln!(
        r,
        "| stage | flow | data (s) | training (s) | evaluation (s) |"
    )?;
    writeln!(r, "|---|---|---:|---:|---:|")?;
    for o in rae {
        for run in &o.runs {
            writeln!(
                r,
                "| {}, flow seed {} | {} | {:.1} | {:.1}{} | {:.1} |",
                o.title,
                run.seed(),
                file_name(&run.trained.file),
                o.data_seconds,
                run.trained.record.seconds,
                if run.trained.cached { " (cached)" } else { "" },
                run.eval_seconds
            )?;
        }
    }
    for g in geo {
        let (file, train) = match &g.trained {
            Some(t) => (
                file_name(&t.file),
                format!(
                    "{:.1}{}",
                    t.record.seconds,
                    if t.cached { " (cached)" } else { "" }
                ),
            ),
            None => ("—".into(), "—".into()),
        };
        writeln!(
            r,
            "| geodesics, {} | {file} | — | {train} | {:.1} (all) |",
            g.slug, g.seconds
        )?;
    }
    writeln!(r)?;

    writeln!(r, "## Riemannian autoencoder: d_ε\n")?;
    writeln!(
        r,
        "Both datasets have K = 5 intrinsic dimensions in D = 20; {} training and {} held-out \
         points, drawn with seed {}. The hemisphere's flow is trained with {} seeds on the same \
         data, to show how much d_ε moves with the training seed alone.\n",
        rae[0].n_train,
        rae[0].n_test,
        s.seed,
        rae.iter()
            .find(|o| o.slug == "hemisphere")
            .map_or(0, |o| o.runs.len())
    )?;
    let header: Vec<String> = EPSILONS.iter().map(|e| format!("ε = {e}")).collect();
    writeln!(
        r,
        "| dataset | flow seed | true ID | {} |",
        header.join(" | ")
    )?;
    writeln!(r, "|---|---:|---:|{}", "---:|".repeat(EPSILONS.len()))?;
    for o in rae {
        for run in &o.runs {
            let cells: Vec<String> = run.dims.iter().map(|d| d.to_string()).collect();
            writeln!(
                r,
                "| {} | {} | {} | {} |",
                o.title,
                run.seed(),
                o.true_id,
                cells.join(" | ")
            )?;
        }
    }
    writeln!(r)?;
    writeln!(r, "![variance profile](variance-profile.png)\n")?;

    writeln!(r, "### Variance profiles (share of Σ a)\n")?;
    let shown = 7;
    let ranks: Vec<String> = (1..=shown)
        .map(|i| format!("a₍{}₎", subscript(i)))
        .collect();
    writeln!(r, "| | {} | a₍₅₎/a₍₆₎ |", ranks.join(" | "))?;
    writeln!(r, "|---|{}---:|", "---:|".repeat(shown))?;
    for o in rae {
        for run in &o.runs {
            let cells: Vec<String> = (0..shown).map(|i| pct(run.share(i))).collect();
            writeln!(
                r,
                "| {}, flow seed {} | {} | {:.3e} |",
                o.title,
                run.seed(),
                cells.join(" | "),
                run.variances[4] / run.variances[5]
            )?;
        }
        let total: f64 = o.pca.iter().sum();
        let cells: Vec<String> = (0..shown).map(|i| pct(o.pca[i] / total)).collect();
        writeln!(
            r,
            "| {}, linear PCA of the data | {} | — |",
            o.title,
            cells.join(" | ")
        )?;
        if let Some(nc) = &o.normal_coordinates {
            let total: f64 = nc.iter().sum();
            let cells: Vec<String> = (0..shown).map(|i| pct(nc[i] / total)).collect();
            writeln!(
                r,
                "| {}, normal coordinates of S⁵ at the mean | {} | — |",
                o.title,
                cells.join(" | ")
            )?;
        }
    }
    writeln!(r)?;

    if let Some(h) = rae.iter().find(|o| o.slug == "hemisphere") {
        hemisphere_discussion(&mut r, h)?;
    }

    writeln!(r, "## Reconstruction error per kept dimension\n")?;
    writeln!(
        r,
        "Held-out RMSE = √((1/n) Σᵢ ‖xᵢ − decode(encode_k(xᵢ))‖²) keeping the k \
         highest-variance latent coordinates of the main flow (the others set to 0, their \
         mean), beside the rank-k linear PCA reconstruction as a baseline. With k = 0 it is \
         the data's spread around φ⁻¹(0); with k = D the flow is inverted exactly.\n"
    )?;
    let mut head = String::from("| k |");
    let mut rule = String::from("|---:|");
    for o in rae {
        head += &format!(" {} flow | {} PCA |", o.title, o.title);
        rule += "---:|---:|";
    }
    writeln!(r, "{head}\n{rule}")?;
    for k in 1..=K_TABLE.min(rae[0].main_run().rmse.len() - 1) {
        let mut line = format!("| {k} |");
        for o in rae {
            let run = o.main_run();
            let mark = if k == run.dim_at(EPSILON) {
                " ← d_ε"
            } else {
                ""
            };
            line += &format!(" {:.3e}{mark} | {:.3e} |", run.rmse[k], o.pca_rmse[k]);
        }
        writeln!(r, "{line}")?;
    }
    writeln!(r)?;
    writeln!(r, "![reconstruction error](reconstruction.png)\n")?;
    if let Some(sn) = rae.iter().find(|o| o.slug == "sinusoid") {
        sinusoid_discussion(&mut r, sn)?;
    }

    writeln!(r, "## Geodesics of the closed-form densities\n")?;
    for g in geo {
        writeln!(r, "### {}\n", g.title)?;
        writeln!(r, "![geodesics](geodesics-{}.png)\n", g.slug)?;
        writeln!(
            r,
            "| pair | from | to | true distance | max gap, trained flow vs true |"
        )?;
        writeln!(r, "|---:|---|---|---:|---:|")?;
        for (i, p) in g.pairs.iter().enumerate() {
            writeln!(
                r,
                "| {} | ({:.3}, {:.3}) | ({:.3}, {:.3}) | {:.4} | {} |",
                i + 1,
                p.from[0],
                p.from[1],
                p.to[0],
                p.to[1],
                p.true_distance,
                p.learned_gap.map_or("—".into(), |g| format!("{g:.3}"))
            )?;
        }
        if let Some(t) = &g.trained {
            let mut a = t.flow.variances()?;
            a.sort_by(|x, y| y.total_cmp(x));
            writeln!(
                r,
                "\nThe flow trained on the samples learned a = ({:.4}, {:.4}) (sorted); the true \
                 A = diag({}, {}). Its geodesics come from its own φ and a, not from the true \
                 shear; the gap column measures how far they run from the true ones.",
                a[0], a[1], g.variances[0], g.variances[1]
            )?;
        }
        writeln!(r)?;
    }
    Ok(r)
}

/// Why the hemisphere's d_ε at ε = 0.05 is what it is, from the run's own numbers.
fn hemisphere_discussion(r: &mut String, h: &RaeOutcome) -> Res<()> {
    let main = h.main_run();
    let dims: Vec<String> = h
        .runs
        .iter()
        .map(|run| format!("{} (seed {})", run.dim_at(EPSILON), run.seed()))
        .collect();
    let fifth: Vec<f64> = h.runs.iter().map(|run| run.share(4)).collect();
    let (lo, hi) = fifth
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(*v), b.max(*v)));
    let gap = h
        .runs
        .iter()
        .map(|run| run.variances[4] / run.variances[5])
        .fold(f64::INFINITY, f64::min);
    let worst_tail5 = h.runs.iter().map(|run| run.tail(5)).fold(0.0, f64::max);
    writeln!(r, "### Hemisphere(5, 20): d_ε at ε = 0.05\n")?;
    writeln!(
        r,
        "d_ε at ε = 0.05 over the flow seeds: {}. The main flow's fifth variance is {} of the \
         total (tail after four coordinates {}, after five {}).\n",
        dims.join(", "),
        pct(main.share(4)),
        pct(main.tail(4)),
        pct(main.tail(5)),
    )?;
    if gap < 10.0 {
        writeln!(
            r,
            "These flows have not separated five tangent directions from the normal ones \
             (smallest a₍₅₎/a₍₆₎ = {gap:.2e}), so d_ε reflects the training, not the geometry.\n"
        )?;
        return Ok(());
    }
    // the shares of the five tangent directions if each uniform angle halved the variance and
    // the last coordinate, sin θ₁⋯sin θ₅ ≥ 0, lost its squared mean (E sin θ = 2/π on [0, π])
    let last = 1.0 / 16.0 - (2.0 / std::f64::consts::PI).powi(8);
    let halving_share = last / (0.5 + 0.25 + 0.125 + 1.0 / 16.0 + last);
    let nc = h
        .normal_coordinates
        .as_ref()
        .map(|nc| nc[4] / nc.iter().sum::<f64>());
    writeln!(
        r,
        "Every flow separates the five tangent directions cleanly (a₍₅₎/a₍₆₎ ≥ {gap:.2e}; the \
         fifteen normal variances sum to at most {} of the total), so d_ε = 5 for every ε \
         between that and the fifth share. What decides ε = 0.05 is the fifth share itself, \
         {} to {} over the seeds: it sits on the threshold, and that is the geometry of this \
         dataset, not a training defect.\n",
        pct(worst_tail5),
        pct(lo),
        pct(hi),
    )?;
    writeln!(
        r,
        "The generator draws S⁵ in hyperspherical coordinates with the polar angle \
         θ₁ ~ (π/2)·Beta(5, 5) and θ₂, …, θ₅ uniform on [0, π] (as in the paper's script). \
         Each uniform angle splits the remaining variance in half (E cos²θ = ½), so the \
         directions away from the pole carry about ½, ¼, ⅛, 1/16 and 1/16 of E sin²θ₁; and \
         because θ₅ ∈ [0, π] rather than [0, 2π), the last coordinate sin θ₁⋯sin θ₅ is \
         one-signed, which takes its squared mean (2/π)⁸ off its 1/16. The smallest \
         intrinsic direction thus holds about {} of the total. Riemannian normal coordinates \
         of the sphere at the data mean, which keep geodesic distances from it, measure {}. \
         A near-isometric φ (the isometry penalty ‖DφᵀDφ − I‖²_F) cannot flatten a sphere \
         exactly, and different seeds share the curvature's distortion out differently, hence \
         the spread. Linear PCA of the data gives the fifth direction {} only because it does \
         not flatten the sphere: its sixth component ({}) is the hemisphere's height, the \
         curvature a flattening folds back into the tangent directions.\n",
        pct(halving_share),
        nc.map_or("(not computed)".into(), pct),
        pct(h.pca[4] / h.pca.iter().sum::<f64>()),
        pct(h.pca[5] / h.pca.iter().sum::<f64>()),
    )?;
    let robust = h
        .runs
        .iter()
        .all(|run| run.dim_at(0.03) == h.true_id && run.dim_at(0.02) == h.true_id);
    writeln!(
        r,
        "So d_ε = 5 at ε = 0.05 holds for a flow only when its fifth share lands above 5 %; \
         with the isometric reference below 5 % the expected answer at ε = 0.05 is 4, and \
         the definition of d_ε is not bent to change that. At ε = 0.03 and ε = 0.02 {}.\n",
        if robust {
            "every seed gives d_ε = 5"
        } else {
            "not every seed gives d_ε = 5 (see the table)"
        }
    )?;
    Ok(())
}

/// The sinusoid's d_ε and reconstruction, from the run's own numbers.
fn sinusoid_discussion(r: &mut String, sn: &RaeOutcome) -> Res<()> {
    let run = sn.main_run();
    let d = run.dim_at(EPSILON);
    let dims: Vec<String> = EPSILONS
        .iter()
        .zip(&run.dims)
        .map(|(e, k)| format!("{k} at ε = {e}"))
        .collect();
    writeln!(
        r,
        "On sinusoid(5, 20) the main flow gives d_ε = {} (true ID 5; the paper reports 6–7 \
         at ε = 0.05). The latent z has variance 3 in each of its five coordinates; the graph \
         of z ↦ sin(Wz) with W ∈ [1, 2] and phases wᵀz spread over several periods is \
         strongly curved, and a near-isometric φ trained for {} steps leaves {} of the \
         variance off the first five coordinates (the exact flattening, \
         x ↦ (x_off − sin(Wz), z), is a shear far from an isometry). Keeping k = d_ε = {d} \
         coordinates the held-out RMSE is {:.3e}, against {:.3e} for rank-{d} PCA; with k = 5 \
         it is {:.3e} against {:.3e}.\n",
        dims.join(", "),
        run.trained.record.steps,
        pct(run.tail(5)),
        run.rmse[d],
        sn.pca_rmse[d],
        run.rmse[5],
        sn.pca_rmse[5],
    )?;
    Ok(())
}

fn results_json(rae: &[RaeOutcome], geo: &[GeodesicOutcome], s: &Settings, wall: f64) -> Value {
    json!({
        "command": s.command(),
        "seed": s.seed,
        "quick": s.quick,
        "wall_seconds": wall,
        "recipe": s.recipe(),
        "epsilons": EPSILONS,
        "rae": rae.iter().map(|o| json!({
            "dataset": o.slug,
            "true_id": o.true_id,
            "n_train": o.n_train,
            "n_test": o.n_test,
            "flows": o.runs.iter().map(|run| json!({
                "seed": run.seed(),
                "flow_file": run.trained.file,
                "training": run.trained.record,
                "cached": run.trained.cached,
                "variances": run.variances,
                "rae_dims": run.dims,
                "rmse_by_k": run.rmse,
            })).collect::<Vec<_>>(),
            "pca_rmse_by_k": o.pca_rmse,
            "pca_variances": o.pca,
            "normal_coordinate_variances": o.normal_coordinates,
        })).collect::<Vec<_>>(),
        "geodesics": geo.iter().map(|g| json!({
            "density": g.slug,
            "pairs": g.pairs.iter().map(|p| json!({
                "from": p.from, "to": p.to,
                "true_distance": p.true_distance,
                "learned_max_gap": p.learned_gap,
            })).collect::<Vec<_>>(),
            "trained": g.trained.as_ref().map(|t| json!({
                "flow_file": t.file, "training": t.record, "cached": t.cached,
            })),
        })).collect::<Vec<_>>(),
    })
}

fn main() -> Res<()> {
    let s = Settings::parse()?;
    std::fs::create_dir_all(&s.out)?;
    let start = Instant::now();
    let rae = vec![
        run_rae(
            "hemisphere",
            "hemisphere(5, 20)",
            Kind::Hemisphere,
            HEMISPHERE_SEEDS,
            &s,
        )?,
        run_rae("sinusoid", "sinusoid(5, 20)", Kind::Sinusoid, 1, &s)?,
    ];
    figures(&rae, &s.out)?;
    let geo = vec![
        run_geodesics(
            "banana",
            Kind::Banana,
            Shear::banana(2)?,
            [0.25, 4.0],
            &[([0.0, -4.0], [0.0, 4.0]), ([-0.8, -3.0], [0.8, 2.0])],
            true,
            &s,
        )?,
        run_geodesics(
            "river",
            Kind::River,
            Shear::river(2)?,
            [1.0 / 25.0, 3.0],
            &[([0.0, -2.6], [0.0, 1.7]), ([-0.2, -1.0], [0.2, 1.2])],
            false,
            &s,
        )?,
    ];
    let wall = start.elapsed().as_secs_f64();
    let text = report(&rae, &geo, &s, wall)?;
    write_atomic(s.out.join("README.md"), |w| w.write_all(text.as_bytes()))?;
    let json = results_json(&rae, &geo, &s, wall);
    write_atomic(s.out.join("results.json"), |w| {
        writeln!(
            w,
            "{}",
            serde_json::to_string_pretty(&json).expect("serialisable")
        )
    })?;
    eprintln!(
        "wrote {} (README.md, results.json, 4 figures) in {wall:.1} s",
        s.out.display()
    );
    Ok(())
}
