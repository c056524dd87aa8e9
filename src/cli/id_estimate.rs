//! `scoregeo id-estimate`: the intrinsic dimension of a dataset file.

use super::common::{self, ModelSpec};
use crate::data::Dataset;
use crate::id::{IdEstimate, NormalBundle, PointSelection, Rule};
use crate::score::ScoreModel;
use anyhow::Context;
use clap::{Args, ValueEnum};
use serde_json::json;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Estimators selectable with `--method`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Method {
    /// Normal bundle: SVD of scores sampled around each point (Stanczuk, Batzolis et al. 2024).
    Nb,
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A human-readable summary.
    Table,
    /// One JSON object with the settings and every point.
    Json,
    /// One row per point.
    Csv,
}

/// Which points to evaluate: a count or `all`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Points(pub PointSelection);

impl std::str::FromStr for Points {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("all") {
            return Ok(Points(PointSelection::All));
        }
        match s.parse::<usize>() {
            Ok(n) if n > 0 => Ok(Points(PointSelection::Count(n))),
            _ => Err(format!("`{s}`: expected a positive number of points or `all`")),
        }
    }
}

/// Flags of `id-estimate`.
#[derive(Args, Debug)]
pub struct IdEstimateArgs {
    /// Dataset file (CSV with optional header, or .npy); rows are points.
    pub data: PathBuf,
    /// Score model: a .safetensors file, or `mixture[:H]` for the analytic Gaussian-mixture score of DATA.
    #[arg(long, short = 'm')]
    pub model: Option<ModelSpec>,
    /// Estimator.
    #[arg(long, value_enum, default_value_t = Method::Nb)]
    pub method: Method,
    /// Diffusion time t₀ of the perturbation (default: 1e-3, σ(t₀) ≈ σ_min).
    #[arg(long, conflicts_with = "sigma")]
    pub t0: Option<f64>,
    /// Perturbation scale σ in data units instead of --t0 (t₀ is solved for).
    #[arg(long)]
    pub sigma: Option<f64>,
    /// Score samples K per point (default 4·D).
    #[arg(long)]
    pub samples: Option<usize>,
    /// Read-off rule: maxgap, ratio or threshold:τ.
    #[arg(long, default_value = "maxgap", value_parser = parse_rule)]
    pub rule: Rule,
    /// Normal floor ν: singular values below ν·√K/σ are never normal directions.
    #[arg(long, default_value_t = 0.1)]
    pub normal_floor: f64,
    /// Number of points to evaluate (seeded choice), or `all`.
    #[arg(long, default_value = "all")]
    pub points: Points,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Include each point's singular values in JSON/CSV output.
    #[arg(long)]
    pub spectra: bool,
    /// Write the result here instead of stdout (atomically).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

fn parse_rule(s: &str) -> Result<Rule, String> {
    s.parse::<Rule>().map_err(|e| e.to_string())
}

/// Runs `id-estimate`.
pub fn run(args: IdEstimateArgs) -> anyhow::Result<()> {
    let data = common::read_data(&args.data)?;
    let spec = args.model.clone().ok_or_else(common::model_required)?;
    let model = common::load_model(&spec, &data)?;
    let mut estimate = match args.method {
        Method::Nb => normal_bundle(&args, &spec, model.as_ref(), &data)?,
    };
    estimate.set_setting("data", json!(args.data.display().to_string()));
    let text = match args.format {
        Format::Table => table(&estimate),
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&to_json(&estimate, args.spectra))?),
        Format::Csv => csv(&estimate, args.spectra),
    };
    common::emit(args.output.as_deref(), &text)
}

/// t₀ from --t0, --sigma, or (for the mixture oracle) a scale between point spacing and extent.
fn resolve_t0(args: &IdEstimateArgs, spec: &ModelSpec, model: &dyn ScoreModel, data: &Dataset) -> anyhow::Result<Option<f64>> {
    let to_time = |sigma: f64| -> anyhow::Result<f64> {
        let scale = model.frame().map_or(1.0, |f| f.scale);
        Ok(model.sde().time_for_sigma(sigma / scale)?)
    };
    if let Some(t0) = args.t0 {
        return Ok(Some(t0));
    }
    if let Some(sigma) = args.sigma {
        return Ok(Some(to_time(sigma)?));
    }
    if let ModelSpec::Mixture { h } = spec {
        // the empirical mixture looks like a manifold at scales above the point spacing
        let spacing = median_nn_distance(data);
        let sigma = (4.0 * spacing).max(*h);
        eprintln!("mixture oracle: σ = {sigma:.4e} (4 × median nearest-neighbour spacing; set --sigma to change)");
        return Ok(Some(to_time(sigma)?));
    }
    Ok(None)
}

/// Median distance to the nearest other point, over up to 256 seeded query points.
fn median_nn_distance(data: &Dataset) -> f64 {
    let queries = crate::rng::choose_indices(data.len(), 256, 0);
    let nn: Vec<f64> = queries
        .iter()
        .map(|&i| {
            data.rows()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, r)| r.iter().zip(data.row(i)).map(|(a, b)| (a - b).powi(2)).sum::<f64>())
                .filter(|&d2| d2 > 0.0)
                .fold(f64::INFINITY, f64::min)
                .sqrt()
        })
        .filter(|d| d.is_finite())
        .collect();
    crate::id::median(&nn)
}

fn normal_bundle(args: &IdEstimateArgs, spec: &ModelSpec, model: &dyn ScoreModel, data: &Dataset) -> anyhow::Result<IdEstimate> {
    let mut params = NormalBundle::params()
        .rule(args.rule)
        .normal_floor(args.normal_floor)
        .points(args.points.0)
        .seed(args.seed)
        .keep_spectra(true);
    if let Some(t0) = resolve_t0(args, spec, model, data)? {
        params = params.t0(t0);
    }
    if let Some(k) = args.samples {
        params = params.samples(k);
    }
    let estimator = params.check()?;
    estimator.fit(model, data).context("normal-bundle estimation failed")
}

/// The JSON report: method, ambient_dim, global_id, summaries, settings, points.
pub fn to_json(e: &IdEstimate, spectra: bool) -> serde_json::Value {
    let points: Vec<serde_json::Value> = e
        .points()
        .iter()
        .map(|p| {
            let mut v = json!({ "index": p.index, "local_id": p.local_id });
            if spectra {
                if let Some(s) = &p.spectrum {
                    v["spectrum"] = json!(s);
                }
                if let Some(r) = &p.readoff {
                    v["readoff"] = r.clone();
                }
            }
            v
        })
        .collect();
    json!({
        "method": e.method(),
        "ambient_dim": e.ambient_dim(),
        "global_id": e.global_id(),
        "mean_local_id": e.mean_local_id(),
        "median_local_id": e.median_local_id(),
        "histogram": e.histogram().iter().map(|(d, c)| json!({"id": d, "count": c})).collect::<Vec<_>>(),
        "settings": e.settings(),
        "points": points,
    })
}

fn table(e: &IdEstimate) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "method       {}", e.method());
    let _ = writeln!(s, "ambient D    {}", e.ambient_dim());
    let _ = writeln!(s, "global ID    {:.3}", e.global_id());
    let _ = writeln!(s, "points       {} (local ID mean {:.3}, median {})", e.points().len(), e.mean_local_id(), e.median_local_id());
    let hist: Vec<String> = e.histogram().iter().map(|(d, c)| format!("{d}: {c}")).collect();
    let _ = writeln!(s, "histogram    {}", hist.join(", "));
    for (k, v) in e.settings() {
        let _ = writeln!(s, "{k:<12} {}", v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
    }
    s
}

fn csv(e: &IdEstimate, spectra: bool) -> String {
    let d = e.ambient_dim();
    let mut s = String::from("index,local_id");
    if spectra {
        for i in 1..=d {
            let _ = write!(s, ",s{i}");
        }
    }
    s.push('\n');
    for p in e.points() {
        let _ = write!(s, "{},{}", p.index, p.local_id);
        if spectra {
            for v in p.spectrum.iter().flatten() {
                let _ = write!(s, ",{v}");
            }
        }
        s.push('\n');
    }
    s
}
