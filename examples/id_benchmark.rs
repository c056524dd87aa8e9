//! The intrinsic-dimension benchmark: every estimator, with its defaults, on manifolds of known
//! dimension ([`Benchmark`]: the 24 of the scikit-dimension suite and five more).
//!
//! ```text
//! cargo run --release --example id_benchmark -- [--n 2000] [--seed 1] [--points 500]
//!     [--only M1_Sphere,M5a_Helix1d] [--methods auto,nb,jacobian,flipd,mle,twonn,lpca]
//!     [--out benchmark-results] [--cache DIR] [--baseline] [--save-data DIR]
//! ```
//!
//! `--save-data DIR` also writes each drawn dataset as `DIR/NAME.npy`, so that
//! `scoregeo id-estimate DIR/NAME.npy --model MODEL` (the model from the cache) can read it again
//! with any flag.
//!
//! `--nb default|centred|raw|fixed` picks the normal-bundle read-out (default: the library's,
//! centred with the mean-pull test and adaptive sampling; `centred` without the pull test; `raw`
//! uncentred; `fixed` K samples at every point; see `NormalBundleParams::centred`, `mean_pull`
//! and `adaptive`). `--baseline` reproduces the recipe and read-out before the accuracy work (data-predicting head,
//! 6000 steps without early stopping, uncentred normal bundle), for before/after tables.
//!
//! For each dataset it draws `n` points, takes the default model exactly as `scoregeo id-estimate`
//! does without flags (cached after the first run, so a rerun only re-estimates), runs every
//! estimator at `points` seeded points, and writes `results.json`, `results.md` (per dataset and
//! method: estimate and error; per method: mean absolute error, datasets read exactly after
//! rounding, time) and `results.svg` (estimate against truth).

use scoregeo::data::synthetic::benchmark::Benchmark;
use scoregeo::id::classic::{LocalPca, Mle, TwoNn};
use scoregeo::id::reliability::{assess, auto};
use scoregeo::id::{Flipd, IdEstimate, JacobianSpectrum, NormalBundle, PointSelection};
use scoregeo::score::mlp::Prediction;
use scoregeo::score::ScoreModel;
use scoregeo::train::{default_model, CacheOptions, Provenance, TrainParams};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

const ALL_METHODS: [&str; 7] = ["auto", "nb", "jacobian", "flipd", "mle", "twonn", "lpca"];

struct Options {
    n: usize,
    seed: u64,
    points: usize,
    only: Option<Vec<String>>,
    methods: Vec<String>,
    out: PathBuf,
    cache: Option<PathBuf>,
    baseline: bool,
    nb: String,
    head: Option<Prediction>,
    save_data: Option<PathBuf>,
}

fn parse() -> Result<Options, String> {
    let mut o = Options {
        n: 2000,
        seed: 1,
        points: 500,
        only: None,
        methods: ALL_METHODS.iter().map(|s| s.to_string()).collect(),
        out: PathBuf::from("benchmark-results"),
        cache: None,
        baseline: false,
        nb: "default".into(),
        head: None,
        save_data: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--n" => o.n = value()?.parse().map_err(|e| format!("--n: {e}"))?,
            "--seed" => o.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--points" => o.points = value()?.parse().map_err(|e| format!("--points: {e}"))?,
            "--only" => o.only = Some(value()?.split(',').map(String::from).collect()),
            "--methods" => o.methods = value()?.split(',').map(String::from).collect(),
            "--out" => o.out = PathBuf::from(value()?),
            "--cache" => o.cache = Some(PathBuf::from(value()?)),
            "--baseline" => o.baseline = true,
            "--save-data" => o.save_data = Some(PathBuf::from(value()?)),
            "--head" => {
                o.head = match value()?.as_str() {
                    "data" => Some(Prediction::Data),
                    "preconditioned" => Some(Prediction::Preconditioned {
                        sigma_data: scoregeo::train::DEFAULT_SIGMA_DATA,
                    }),
                    other => {
                        return Err(format!("unknown --head {other} (data or preconditioned)"))
                    }
                }
            }
            "--nb" => {
                o.nb = value()?;
                if !["default", "centred", "raw", "fixed"].contains(&o.nb.as_str()) {
                    return Err(format!(
                        "unknown --nb {} (default, centred, raw or fixed)",
                        o.nb
                    ));
                }
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if let Some(bad) = o
        .methods
        .iter()
        .find(|m| !ALL_METHODS.contains(&m.as_str()))
    {
        return Err(format!(
            "unknown method {bad} (one of {})",
            ALL_METHODS.join(", ")
        ));
    }
    Ok(o)
}

/// One estimator with its defaults, as `id-estimate --method NAME` runs it.
fn run_method(
    name: &str,
    model: &dyn ScoreModel,
    data: &scoregeo::Dataset,
    points: PointSelection,
    nb: &str,
) -> scoregeo::Result<IdEstimate> {
    match name {
        "nb" => NormalBundle::params()
            .points(points)
            .centred(nb != "raw")
            .mean_pull(nb != "centred")
            .adaptive(nb != "fixed")
            .check()?
            .fit(model, data),
        "jacobian" => JacobianSpectrum::params()
            .points(points)
            .check()?
            .fit(model, data),
        "flipd" => Flipd::params().points(points).check()?.fit(model, data),
        "auto" => {
            let nb = NormalBundle::params().points(points).check()?;
            let fallback = scoregeo::id::Estimator::TwoNn(TwoNn::params().check()?);
            Ok(auto(&nb, &fallback, data, model)?.0)
        }
        "mle" => Mle::params().check()?.fit(data),
        "twonn" => TwoNn::params().check()?.fit(data),
        _ => LocalPca::params().check()?.fit(data),
    }
}

fn main() {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("id_benchmark: {e}");
            std::process::exit(2);
        }
    };
    let suite: Vec<Benchmark> = match &o.only {
        None => Benchmark::ALL.to_vec(),
        Some(names) => match names.iter().map(|n| Benchmark::from_name(n)).collect() {
            Ok(list) => list,
            Err(e) => {
                eprintln!("id_benchmark: {e}");
                std::process::exit(2);
            }
        },
    };
    let recipe = if o.baseline {
        TrainParams::default()
            .prediction(Prediction::Data)
            .steps(6000)
            .early_stop(None)
    } else if let Some(head) = o.head {
        TrainParams::default().prediction(head)
    } else {
        TrainParams::default()
    };
    let opts = CacheOptions {
        dir: o.cache.clone(),
        recipe,
        ..CacheOptions::default()
    };
    if let Some(dir) = &o.save_data {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("id_benchmark: cannot create {}: {e}", dir.display());
            std::process::exit(1);
        }
    }
    let mut rows = Vec::new();
    for b in &suite {
        let data = b.sample(o.n, o.seed);
        let truth = b.intrinsic_dim() as f64;
        if let Some(dir) = &o.save_data {
            if let Err(e) = data.write(dir.join(format!("{}.npy", b.name()))) {
                eprintln!("id_benchmark: cannot save {}: {e}", b.name());
                std::process::exit(1);
            }
        }
        let started = Instant::now();
        let scoregeo::train::DefaultModel {
            model: net,
            provenance,
            ..
        } = match default_model(&data, &opts) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("{}: default model failed: {e}", b.name());
                continue;
            }
        };
        let train_s = started.elapsed().as_secs_f64();
        let (steps, stopped) = match &provenance {
            Provenance::Trained(r) => (Some(r.steps), r.stopped_at),
            _ => (None, None),
        };
        let mut results = serde_json::Map::new();
        let mut line = format!("{:16} ID {:3.0} D {:3}", b.name(), truth, data.dim());
        for m in &o.methods {
            let t = Instant::now();
            let points = PointSelection::Count(o.points.min(data.len()));
            match run_method(
                m,
                &net,
                &data,
                points,
                if o.baseline { "raw" } else { &o.nb },
            ) {
                Ok(e) => {
                    let (estimate, secs) = (e.global_id(), t.elapsed().as_secs_f64());
                    line += &format!("  {m} {estimate:6.2}");
                    let mut entry =
                        json!({"estimate": estimate, "error": estimate - truth, "seconds": secs});
                    if let Some(clear) = clear_fraction(&e) {
                        entry["clear_fraction"] = json!(clear);
                        line += &format!(" ({:.0}% clear)", 100.0 * clear);
                    }
                    results.insert(m.clone(), entry);
                }
                Err(err) => {
                    line += &format!("  {m} failed");
                    results.insert(m.clone(), json!({"error_message": err.to_string()}));
                }
            }
        }
        eprintln!("{line}  (model {train_s:.0} s)");
        rows.push(json!({
            "dataset": b.name(),
            "description": b.description(),
            "intrinsic_dim": truth,
            "ambient_dim": data.dim(),
            "n": o.n,
            "model": {
                "provenance": format!("{provenance:?}").split('(').next().unwrap_or("").to_lowercase(),
                "seconds": train_s,
                "steps": steps,
                "stopped_at": stopped,
            },
            "methods": results,
        }));
    }
    let summary = summarise(&rows, &o.methods);
    let report = json!({
        "n": o.n, "seed": o.seed, "points": o.points, "baseline": o.baseline, "nb": o.nb,
        "datasets": rows, "summary": summary,
    });
    if let Err(e) = write_all(&o, &report) {
        eprintln!("id_benchmark: {e}");
        std::process::exit(1);
    }
    print!("{}", markdown(&report, &o.methods));
}

/// The fraction of points whose normal-bundle cut is clear (`reliability::assess`).
fn clear_fraction(e: &IdEstimate) -> Option<f64> {
    assess(e).map(|r| r.clear_fraction)
}

/// Per method: mean absolute error, datasets read exactly after rounding, total seconds.
fn summarise(rows: &[serde_json::Value], methods: &[String]) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for m in methods {
        let (mut abs, mut exact, mut secs, mut count) = (0.0, 0usize, 0.0, 0usize);
        for r in rows {
            let truth = r["intrinsic_dim"].as_f64().unwrap_or(f64::NAN);
            if let Some(e) = r["methods"][m]["estimate"].as_f64() {
                abs += (e - truth).abs();
                exact += usize::from(e.round() == truth);
                secs += r["methods"][m]["seconds"].as_f64().unwrap_or(0.0);
                count += 1;
            }
        }
        out.insert(
            m.clone(),
            json!({
                "mae": if count > 0 { abs / count as f64 } else { f64::NAN },
                "exact": exact, "datasets": count, "seconds": secs,
            }),
        );
    }
    serde_json::Value::Object(out)
}

fn markdown(report: &serde_json::Value, methods: &[String]) -> String {
    let mut s = format!(
        "| dataset | ID | D | {} | model s |\n|---|---|---|{}---|\n",
        methods.join(" | "),
        "---|".repeat(methods.len())
    );
    for r in report["datasets"].as_array().into_iter().flatten() {
        s += &format!(
            "| {} | {} | {} |",
            r["dataset"].as_str().unwrap_or(""),
            r["intrinsic_dim"],
            r["ambient_dim"]
        );
        for m in methods {
            s += &match r["methods"][m]["estimate"].as_f64() {
                Some(e) => format!(" {e:.2} |"),
                None => " failed |".to_string(),
            };
        }
        s += &format!(" {:.0} |\n", r["model"]["seconds"].as_f64().unwrap_or(0.0));
    }
    for (label, key) in [("MAE", "mae"), ("exact", "exact"), ("seconds", "seconds")] {
        s += &format!("| **{label}** | | |");
        for m in methods {
            let v = &report["summary"][m][key];
            s += &match (key, v.as_f64()) {
                ("exact", _) => format!(
                    " {} of {} |",
                    v,
                    report["summary"][m]["datasets"].as_u64().unwrap_or(0)
                ),
                (_, Some(x)) => format!(" {x:.2} |"),
                _ => " |".to_string(),
            };
        }
        s += " |\n";
    }
    s
}

fn write_all(o: &Options, report: &serde_json::Value) -> Result<(), String> {
    std::fs::create_dir_all(&o.out).map_err(|e| format!("{}: {e}", o.out.display()))?;
    let write = |name: &str, text: String| {
        let path = o.out.join(name);
        scoregeo::io::write_atomic(&path, |w| w.write_all(text.as_bytes()))
            .map_err(|e| e.to_string())
    };
    write(
        "results.json",
        serde_json::to_string_pretty(report).unwrap_or_default(),
    )?;
    write("results.md", markdown(report, &o.methods))?;
    figure(&o.out.join("results.svg"), report, &o.methods).map_err(|e| format!("figure: {e}"))
}

/// Estimate against truth, one colour per method, with the diagonal.
fn figure(
    path: &std::path::Path,
    report: &serde_json::Value,
    methods: &[String],
) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    scoregeo::plot::register_fonts()?;
    let rows = report["datasets"].as_array().cloned().unwrap_or_default();
    let top = rows
        .iter()
        .filter_map(|r| r["intrinsic_dim"].as_f64())
        .fold(1.0, f64::max)
        * 1.15;
    let root = SVGBackend::new(path, (900, 640)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "estimated against true intrinsic dimension",
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..top, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("true ID")
        .y_desc("estimate")
        .draw()?;
    chart.draw_series(LineSeries::new([(0.0, 0.0), (top, top)], BLACK.mix(0.4)))?;
    for (c, m) in methods.iter().enumerate() {
        let colour = Palette99::pick(c).to_rgba();
        let points: Vec<(f64, f64)> = rows
            .iter()
            .filter_map(|r| {
                Some((
                    r["intrinsic_dim"].as_f64()?,
                    r["methods"][m]["estimate"].as_f64()?,
                ))
            })
            .collect();
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 4, colour.filled())))?
            .label(m.as_str())
            .legend(move |(x, y)| Circle::new((x, y), 4, colour.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
