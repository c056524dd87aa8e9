//! `scoregeo id-estimate`: the intrinsic dimension of a dataset file.

use super::common::{self, ModelSpec};
use crate::data::synthetic::TrueId;
use crate::data::Dataset;
use crate::id::classic::{LocalPca, Mle, TwoNn};
use crate::id::{
    log_grid, Derivative, Estimator, Flipd, IdEstimate, JacobianSpectrum, Method, NormalBundle,
    PointSelection, Probe, Rule, SharedScoreParams, Sweep,
};
use crate::plot::{self, Figure};
use crate::score::ScoreModel;
use anyhow::Context;
use clap::{Args, ValueEnum};
use serde_json::json;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Estimators selectable with `--method`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    /// Normal bundle: SVD of scores sampled around each point (Stanczuk, Batzolis et al. 2024).
    Nb,
    /// Singular values of the score Jacobian at each point.
    Jacobian,
    /// FLIPD: D + σ²(tr ∇s + ‖s‖²) (Kamkari et al. 2024).
    Flipd,
    /// Levina–Bickel maximum likelihood (no model).
    Mle,
    /// TwoNN, ratio of the two nearest distances (no model).
    Twonn,
    /// Local PCA, Fukunaga–Olsen (no model).
    Lpca,
    /// Every applicable estimator, side by side with timings.
    All,
    /// The normal bundle when its reliability diagnostic trusts it (at least half the points cut
    /// clearly) and the nearest neighbours agree with its dimension, else TwoNN; the JSON says
    /// which and why.
    Auto,
}

impl MethodArg {
    /// The library method (`None` for `all`).
    pub fn method(self) -> Option<Method> {
        match self {
            MethodArg::Nb => Some(Method::Nb),
            MethodArg::Jacobian => Some(Method::Jacobian),
            MethodArg::Flipd => Some(Method::Flipd),
            MethodArg::Mle => Some(Method::Mle),
            MethodArg::Twonn => Some(Method::TwoNn),
            MethodArg::Lpca => Some(Method::Lpca),
            MethodArg::All | MethodArg::Auto => None,
        }
    }
}

/// `--t0`: one time, or a log-spaced sweep `a:b:n`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum T0 {
    /// One t₀.
    At(f64),
    /// n log-spaced t₀ from a to b.
    Sweep(f64, f64, usize),
}

impl std::str::FromStr for T0 {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let num = |v: &str| {
            v.parse::<f64>()
                .map_err(|_| format!("`{v}` is not a number in --t0 {s}"))
        };
        match parts[..] {
            [t] => Ok(T0::At(num(t)?)),
            [a, b, n] => Ok(T0::Sweep(
                num(a)?,
                num(b)?,
                n.parse()
                    .map_err(|_| format!("`{n}` is not a count in --t0 {s}"))?,
            )),
            _ => Err(format!("`{s}`: expected T or a:b:n")),
        }
    }
}

/// Hutchinson probe distribution on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProbeArg {
    /// ±1 entries.
    Rademacher,
    /// Standard normal entries.
    Gaussian,
}

/// How FLIPD takes each Hutchinson term vᵀ∇s v.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DerivativeArg {
    /// Forward-mode Jacobian–vector products through the network, one forward pass shared by
    /// the probes (exact; a central difference for models without them).
    Jvp,
    /// Central difference of two forward passes.
    Difference,
    /// Vector–Jacobian product through the model.
    Autodiff,
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
            _ => Err(format!(
                "`{s}`: expected a positive number of points or `all`"
            )),
        }
    }
}

/// Flags of `id-estimate`.
#[derive(Args, Debug)]
pub struct IdEstimateArgs {
    /// Dataset file (CSV with optional header, or .npy); rows are points.
    pub data: PathBuf,
    /// Score model: a .safetensors file, a PyTorch checkpoint (.pt/.pth/.ckpt), or `mixture[:H]` for the analytic Gaussian-mixture score of DATA. Without it: a model shipped for DATA, else the cached default model, else one trained now with the default recipe (and cached).
    #[arg(long, short = 'm')]
    pub model: Option<ModelSpec>,
    /// What a PyTorch checkpoint does not say.
    #[command(flatten)]
    pub model_overrides: common::ModelOverrides,
    /// Estimator.
    #[arg(long, value_enum, default_value_t = MethodArg::Auto)]
    pub method: MethodArg,
    /// Diffusion time t₀ (default 1e-3, σ(t₀) ≈ σ_min), or a log-spaced sweep a:b:n whose plateau is reported.
    #[arg(long, conflicts_with = "sigma", allow_hyphen_values = true)]
    pub t0: Option<T0>,
    /// Perturbation scale σ in data units instead of --t0 (t₀ is solved for).
    #[arg(long)]
    pub sigma: Option<f64>,
    /// Score samples K per point (default max(4·D, 64)); a cap: a point stops at K/2 once its
    /// cut is decided, unless --fixed-samples.
    #[arg(long)]
    pub samples: Option<usize>,
    /// Every point draws exactly K samples (no adaptive stopping).
    #[arg(long)]
    pub fixed_samples: bool,
    /// Read-off rule: maxgap, ratio or threshold:τ.
    #[arg(long, default_value = "maxgap", value_parser = parse_rule)]
    pub rule: Rule,
    /// Normal floor ν: singular values below ν·√K/σ are never normal directions.
    #[arg(long, default_value_t = 0.1)]
    pub normal_floor: f64,
    /// Neighbours k of the classic estimators (mle, twonn's local values, lpca).
    #[arg(long, default_value_t = 20)]
    pub k: usize,
    /// FLIPD: largest D with an exact trace; Hutchinson probes above.
    #[arg(long, default_value_t = 32)]
    pub exact_max_dim: usize,
    /// FLIPD: Hutchinson probes per point.
    #[arg(long, default_value_t = 8)]
    pub probes: usize,
    /// FLIPD: probe distribution.
    #[arg(long, value_enum, default_value_t = ProbeArg::Rademacher)]
    pub probe: ProbeArg,
    /// FLIPD: how each probe's vᵀ∇s v is taken.
    #[arg(long, value_enum, default_value_t = DerivativeArg::Jvp)]
    pub derivative: DerivativeArg,
    /// FLIPD: skip the second read at 2σ (half the passes, no reliability diagnostic).
    #[arg(long)]
    pub no_scale_check: bool,
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
    /// Draw the main figure (.png or .svg): singular-value spectra for nb/jacobian, LID-vs-t₀
    /// curves for a sweep, a comparison chart for --method all, else a histogram of local IDs.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Draw a histogram of local IDs (.png or .svg), with the truth from DATA's manifest if any.
    #[arg(long)]
    pub histogram: Option<PathBuf>,
    /// Write the result here instead of stdout (atomically).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

fn parse_rule(s: &str) -> Result<Rule, String> {
    s.parse::<Rule>().map_err(|e| e.to_string())
}

/// Runs `id-estimate`.
pub fn run(args: IdEstimateArgs) -> anyhow::Result<()> {
    let text = report(&args)?;
    common::emit(args.output.as_deref(), &text)
}

/// Runs the estimate, draws any figures asked for, and returns the report text.
pub fn report(args: &IdEstimateArgs) -> anyhow::Result<String> {
    let data = common::read_data(&args.data)?;
    if args.method == MethodArg::Auto {
        return auto(args, &data);
    }
    let Some(method) = args.method.method() else {
        return compare_all(args, &data);
    };
    let model = match method.needs_model() {
        true => Some(resolve_model(args, &data)?),
        false => None,
    };
    let (mut estimate, sweep) = estimate(
        args,
        method,
        model.as_ref().map(|(s, m)| (s, m.as_ref())),
        &data,
    )?;
    estimate.set_data(&args.data);
    figures(args, &data, &estimate, sweep.as_ref())?;
    Ok(match args.format {
        Format::Table => table(&estimate, sweep.as_ref())?,
        Format::Json => {
            let mut report = Report::new(&estimate, args.spectra)?;
            if let Some(sw) = &sweep {
                report.attach_sweep(sw);
            }
            report.pretty()?
        }
        Format::Csv => csv(&estimate, args.spectra),
    })
}

fn resolve_model(
    args: &IdEstimateArgs,
    data: &Dataset,
) -> anyhow::Result<(ModelSpec, Box<dyn ScoreModel>)> {
    // no --model: the embedded default (shipped, cached, or trained now with a progress bar)
    let spec = args.model.clone().unwrap_or_default();
    let model = common::load_model_with(&spec, data, &args.model_overrides)?;
    Ok((spec, model))
}

/// The checked estimator of `method` that the flags ask for, at `t0` when given.
fn estimator(args: &IdEstimateArgs, method: Method, t0: Option<f64>) -> crate::Result<Estimator> {
    let shared = SharedScoreParams {
        t0,
        points: args.points.0,
        seed: args.seed,
        batch: None,
        progress: common::progress(),
    };
    Ok(match method {
        Method::Nb => {
            let mut p = NormalBundle::params()
                .shared(shared)
                .rule(args.rule)
                .normal_floor(args.normal_floor);
            if let Some(k) = args.samples {
                p = p.samples(k);
            }
            p.adaptive(!args.fixed_samples).check()?.into()
        }
        Method::Jacobian => JacobianSpectrum::params()
            .shared(shared)
            .rule(args.rule)
            .normal_floor(args.normal_floor)
            .check()?
            .into(),
        Method::Flipd => Flipd::params()
            .shared(shared)
            .exact_max_dim(args.exact_max_dim)
            .probes(args.probes)
            .probe(match args.probe {
                ProbeArg::Rademacher => Probe::Rademacher,
                ProbeArg::Gaussian => Probe::Gaussian,
            })
            .derivative(match args.derivative {
                DerivativeArg::Jvp => Derivative::Jvp,
                DerivativeArg::Difference => Derivative::Difference,
                DerivativeArg::Autodiff => Derivative::Autodiff,
            })
            .scale_check(!args.no_scale_check)
            .check()?
            .into(),
        Method::Mle => Mle::params().k(args.k).check()?.into(),
        Method::TwoNn => TwoNn::params().neighbourhood(args.k).check()?.into(),
        Method::Lpca => LocalPca::params().k(args.k).check()?.into(),
    })
}

/// Runs one estimator (with a sweep when --t0 a:b:n): the estimate at the chosen t₀ and the sweep.
fn estimate(
    args: &IdEstimateArgs,
    method: Method,
    model: Option<(&ModelSpec, &dyn ScoreModel)>,
    data: &Dataset,
) -> anyhow::Result<(IdEstimate, Option<Sweep>)> {
    let fit = |t0: Option<f64>| estimator(args, method, t0)?.fit(data, model.map(|(_, m)| m));
    let Some((spec, model)) = model.filter(|_| method.needs_model()) else {
        return Ok((fit(None)?, None));
    };
    if let Some(T0::Sweep(a, b, n)) = args.t0 {
        let grid = log_grid(a, b, n)?;
        let sweep = Sweep::run(&grid, |t| fit(Some(t)))?;
        return Ok((sweep.at_plateau(), Some(sweep)));
    }
    let t0 = args.t0.map(|t| match t {
        T0::At(t) => t,
        T0::Sweep(..) => unreachable!("sweeps return above"),
    });
    let t0 = common::resolve_t0(t0, args.sigma, spec, model, Some(data), args.seed)?;
    let e = fit(t0).with_context(|| format!("{method} estimation failed"))?;
    Ok((e, None))
}

/// The true ID from `<DATA>.manifest.json` (written by `scoregeo generate`), when there is one.
fn true_id(data: &std::path::Path) -> Option<TrueId> {
    let path = crate::data::synthetic::manifest_path(data);
    Some(crate::data::synthetic::Manifest::read(&path).ok()?.true_id)
}

/// Draws the figures asked for with --plot and --histogram.
fn figures(
    args: &IdEstimateArgs,
    data: &Dataset,
    e: &IdEstimate,
    sweep: Option<&Sweep>,
) -> anyhow::Result<()> {
    // per-point truth follows the evaluated points, not the file's rows
    let indices: Vec<usize> = e.points().iter().map(|p| p.index).collect();
    let truth = true_id(&args.data)
        .map(|t| t.select(&indices))
        .transpose()?;
    let histogram = || {
        let mut h = plot::IdHistogram::from_estimate(e);
        h.truth = truth.clone();
        h
    };
    if let Some(path) = &args.histogram {
        histogram().render(path)?;
    }
    if let Some(path) = &args.plot {
        if let Some(sw) = sweep {
            let mut fig = plot::LidCurves::from_sweep(sw);
            fig.ambient_dim = Some(data.dim());
            fig.truth = truth.as_ref().and_then(TrueId::global).map(|k| k as f64);
            fig.render(path)?;
        } else if e.spectrum(0).is_some() {
            plot::SpectrumPlot::from_estimate(e)?.render(path)?;
        } else {
            histogram().render(path)?;
        }
    }
    Ok(())
}

/// `--method auto`: the normal bundle if its diagnostic trusts it and the neighbours agree, else
/// TwoNN.
fn auto(args: &IdEstimateArgs, data: &Dataset) -> anyhow::Result<String> {
    let (spec, model) = resolve_model(args, data)?;
    // the normal bundle as `--method nb` runs it (a --t0 sweep reads it at the plateau)
    let (nb, sweep) = estimate(args, Method::Nb, Some((&spec, model.as_ref())), data)?;
    let fallback = estimator(args, Method::TwoNn, None)?;
    let (mut e, choice) = crate::id::reliability::choose(nb, &fallback, data, model.as_ref())
        .context("auto estimation failed")?;
    // the sweep's curves belong to the normal bundle's points
    let sweep = sweep.filter(|_| choice.chosen == Method::Nb);
    e.set_data(&args.data);
    figures(args, data, &e, sweep.as_ref())?;
    let verdict = format!(
        "auto         {} (the normal bundle reads {:.3}, median {}; {})",
        choice.chosen,
        choice.normal_bundle_id,
        choice.normal_bundle_median,
        choice.reason()
    );
    Ok(match args.format {
        Format::Table => format!("{verdict}\n{}", table(&e, sweep.as_ref())?),
        Format::Json => {
            let mut report = Report::new(&e, args.spectra)?;
            if let Some(sw) = &sweep {
                report.attach_sweep(sw);
            }
            report.head["auto"] = json!({
                "chosen": choice.chosen,
                "normal_bundle_id": choice.normal_bundle_id,
                "normal_bundle_median": choice.normal_bundle_median,
                "reliability": {
                    "clear_fraction": choice.reliability.clear_fraction,
                    "median_margin": choice.reliability.median_margin,
                    "trusted": choice.reliability.trusted,
                },
                "neighbours": choice.neighbours,
                "reason": choice.reason(),
            });
            report.pretty()?
        }
        Format::Csv => csv(&e, args.spectra),
    })
}

/// `--method all`: every applicable estimator with its time.
fn compare_all(args: &IdEstimateArgs, data: &Dataset) -> anyhow::Result<String> {
    let (spec, model) = resolve_model(args, data)?;
    let mut rows = Vec::new();
    for method in Method::ALL {
        let start = std::time::Instant::now();
        let (e, _) = estimate(args, method, Some((&spec, model.as_ref())), data)?;
        rows.push((method, e, start.elapsed().as_secs_f64()));
    }
    if let Some(path) = &args.plot {
        let methods = rows
            .iter()
            .map(|(_, e, secs)| plot::MethodResult {
                seconds: Some(*secs),
                ..plot::MethodResult::from_estimate(e)
            })
            .collect();
        let mut fig = plot::MethodComparison::new(methods);
        fig.truth = true_id(&args.data)
            .as_ref()
            .and_then(TrueId::global)
            .map(|k| k as f64);
        fig.ambient_dim = Some(data.dim());
        fig.render(path)?;
    }
    let consensus = crate::id::median(&rows.iter().map(|r| r.1.global_id()).collect::<Vec<_>>());
    Ok(match args.format {
        Format::Json => {
            let results: Vec<serde_json::Value> = rows
                .iter()
                .map(|(m, e, secs)| {
                    let mut v = serde_json::to_value(Report::new(e, args.spectra)?)?;
                    v["method"] = json!(m.name());
                    v["seconds"] = json!(secs);
                    Ok(v)
                })
                .collect::<anyhow::Result<_>>()?;
            let v = json!({
                "method": "all",
                "ambient_dim": data.dim(),
                "global_id": consensus,
                "global": "median of the methods' global IDs",
                "data": args.data.display().to_string(),
                "results": results,
                "points": [],
                "settings": { "seed": args.seed, "k": args.k, "rule": args.rule.to_string() },
            });
            format!("{}\n", serde_json::to_string_pretty(&v)?)
        }
        Format::Table | Format::Csv => {
            let mut s = String::from(if args.format == Format::Csv {
                "method,global_id,median_local_id,points,seconds\n"
            } else {
                ""
            });
            if args.format == Format::Table {
                let _ = writeln!(
                    s,
                    "{:<10} {:>10} {:>10} {:>8} {:>10}",
                    "method", "global ID", "median", "points", "seconds"
                );
            }
            for (m, e, secs) in &rows {
                if args.format == Format::Csv {
                    let _ = writeln!(
                        s,
                        "{},{},{},{},{secs}",
                        m.name(),
                        e.global_id(),
                        e.median_local_id(),
                        e.points().len()
                    );
                } else {
                    let _ = writeln!(
                        s,
                        "{:<10} {:>10.3} {:>10.2} {:>8} {:>10.3}",
                        m.name(),
                        e.global_id(),
                        e.median_local_id(),
                        e.points().len(),
                        secs
                    );
                }
            }
            if args.format == Format::Table {
                let _ = writeln!(
                    s,
                    "{:<10} {:>10.3}   (median of the methods)",
                    "consensus", consensus
                );
            }
            s
        }
    })
}

/// The JSON report of one estimate: method, ambient_dim, global_id, summaries, settings, points
/// (with their spectra and read-offs when `spectra`), and what callers add to `head`.
///
/// The points are written straight to the output when serialised, not built as one
/// `serde_json::Value` each: for 20 000 points those small maps cost a fifth of an MLE run.
/// The keys come out sorted, as a `Value` of the whole report would write them.
pub struct Report<'a> {
    /// Every field but `points` (an object).
    pub head: serde_json::Value,
    estimate: &'a IdEstimate,
    spectra: bool,
    /// Each point's reliability margin, when the method has a diagnostic.
    margins: Option<Vec<f64>>,
    /// Each point's local-ID curve of a t₀ sweep.
    curves: Option<Vec<Vec<f64>>>,
}

impl<'a> Report<'a> {
    /// The report of `e`.
    pub fn new(e: &'a IdEstimate, spectra: bool) -> serde_json::Result<Self> {
        let diagnostic = crate::id::reliability::assess(e);
        let mut head = json!({
            "method": e.method(),
            "ambient_dim": e.ambient_dim(),
            "global_id": e.global_id(),
            "mean_local_id": e.mean_local_id(),
            "median_local_id": e.median_local_id(),
            "histogram": e.histogram().iter().map(|(d, c)| json!({"id": d, "count": c})).collect::<Vec<_>>(),
            "settings": serde_json::to_value(e.settings())?,
        });
        if let Some(r) = &diagnostic {
            head["reliability"] = json!({
                "clear_fraction": r.clear_fraction,
                "median_margin": r.median_margin,
                "trusted": r.trusted,
            });
        }
        Ok(Self {
            head,
            estimate: e,
            spectra,
            margins: diagnostic.map(|r| r.margins),
            curves: None,
        })
    }

    /// Adds the sweep: its grid and mean curve, and each point's curve.
    pub fn attach_sweep(&mut self, sweep: &Sweep) {
        self.head["sweep"] = json!({ "t0": sweep.t0s(), "mean": sweep.mean_curve() });
        self.curves = Some(sweep.curves());
    }

    /// The report as one pretty-printed JSON document with a final newline.
    pub fn pretty(&self) -> serde_json::Result<String> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        Ok(text)
    }
}

impl serde::Serialize for Report<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeMap};
        let head = self
            .head
            .as_object()
            .ok_or_else(|| S::Error::custom("a report's head is an object"))?;
        let mut map = serializer.serialize_map(Some(head.len() + 1))?;
        let mut points_done = false;
        for (key, value) in head {
            if !points_done && key.as_str() > "points" {
                map.serialize_entry("points", &ReportPoints(self))?;
                points_done = true;
            }
            map.serialize_entry(key, value)?;
        }
        if !points_done {
            map.serialize_entry("points", &ReportPoints(self))?;
        }
        map.end()
    }
}

/// The `points` array of a [`Report`].
struct ReportPoints<'r, 'a>(&'r Report<'a>);

/// One point without its spectrum (fields in sorted order, as a `Value` writes them).
#[derive(serde::Serialize)]
struct PlainPoint<'c> {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    lid_curve: Option<&'c [f64]>,
    local_id: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    reliability: Option<f64>,
}

impl serde::Serialize for ReportPoints<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let report = self.0;
        let points = report.estimate.points();
        let mut seq = serializer.serialize_seq(Some(points.len()))?;
        for (i, p) in points.iter().enumerate() {
            // (both are per point of the estimate; `get` keeps a mismatch from panicking)
            let margin = report.margins.as_ref().and_then(|m| m.get(i)).copied();
            let curve = report
                .curves
                .as_ref()
                .and_then(|c| c.get(i))
                .map(Vec::as_slice);
            if report.spectra {
                let mut v = serde_json::to_value(p).map_err(S::Error::custom)?;
                if let Some(m) = margin {
                    v["reliability"] = json!(m);
                }
                if let Some(c) = curve {
                    v["lid_curve"] = json!(c);
                }
                seq.serialize_element(&v)?;
            } else {
                seq.serialize_element(&PlainPoint {
                    index: p.index,
                    lid_curve: curve,
                    local_id: p.local_id,
                    reliability: margin,
                })?;
            }
        }
        seq.end()
    }
}

fn table(e: &IdEstimate, sweep: Option<&Sweep>) -> serde_json::Result<String> {
    let mut s = String::new();
    let _ = writeln!(s, "method       {}", e.method());
    let _ = writeln!(s, "ambient D    {}", e.ambient_dim());
    let _ = writeln!(s, "global ID    {:.3}", e.global_id());
    let _ = writeln!(
        s,
        "points       {} (local ID mean {:.3}, median {})",
        e.points().len(),
        e.mean_local_id(),
        e.median_local_id()
    );
    let hist: Vec<String> = e
        .histogram()
        .iter()
        .map(|(d, c)| format!("{d}: {c}"))
        .collect();
    let _ = writeln!(s, "histogram    {}", hist.join(", "));
    if let Some(r) = crate::id::reliability::assess(e) {
        let what = match e.method() {
            Method::Flipd => "of points stable from σ to 2σ",
            _ => "of points cut clearly",
        };
        let _ = writeln!(
            s,
            "reliability  {:.0}% {what} (median margin {:.2} octaves): {}",
            100.0 * r.clear_fraction,
            r.median_margin,
            if r.trusted {
                "trusted"
            } else {
                "NOT trusted — the model may not resolve the manifold at this σ; compare --method all or a --t0 sweep"
            }
        );
    }
    if let Some(sw) = sweep {
        let curve: Vec<String> = sw
            .t0s()
            .iter()
            .zip(sw.mean_curve())
            .map(|(t, v)| format!("{t:.2e}: {v:.2}"))
            .collect();
        let _ = writeln!(s, "sweep        {}", curve.join(", "));
    }
    let settings = serde_json::to_value(e.settings())?;
    for (k, v) in settings.as_object().into_iter().flatten() {
        let _ = writeln!(
            s,
            "{k:<12} {}",
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
        );
    }
    Ok(s)
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
