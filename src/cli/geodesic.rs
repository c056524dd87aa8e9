//! `scoregeo geodesic` and `scoregeo distance`: the score-based pullback geodesic between two
//! points, and its length (DESIGN §2).
//!
//! - A trained flow (a file from `scoregeo train-flow`) has the closed form
//!   γ(t) = φ⁻¹((1 − t)φ(x) + tφ(y)) and d(x, y) = ‖A⁻¹(φ(x) − φ(y))‖₂.
//! - Any score model (native safetensors, a PyTorch checkpoint, the `mixture[:H]` oracle, or the
//!   embedded default) gives the discrete geodesic of the pullback of ℓ² through
//!   F(x) = (√λ·x, c·s(x, t₀)), minimised by L-BFGS from the shortest path in the k-NN graph of
//!   DATA (or the straight line without DATA); its length is the distance.
//!
//! Points are row indices of DATA (counting from 0) or comma-separated coordinates. The path CSV
//! (`-o`) has one row per node, `node,t,x1..xD`, with t = i/(N − 1) the curve parameter of node
//! i of N: the discrete geodesic minimises the energy, so it runs at constant metric speed and t
//! is also (up to the discretisation) the fraction of the length covered.

use super::common::{self, ModelOverrides, ModelSpec};
use crate::check::check_dim;
use crate::data::Dataset;
use crate::error::Error;
use crate::geometry::discrete::Initialisation;
use crate::geometry::{AnisotropicFlow, Geodesic, ScorePullback};
use crate::io::{write_atomic, ModelFile};
use crate::plot::{Figure, GeodesicPath, GeodesicPlot, ImageFormat};
use crate::score::{Loader, ScoreModel};
use anyhow::Context;
use clap::{Args, ValueEnum};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Report formats of `geodesic` and `distance`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GeodesicFormat {
    /// A human-readable summary (`distance`: the length alone).
    Table,
    /// One JSON object with the summary, the settings and the path.
    Json,
}

/// The initial path of the numeric (score-pullback) solver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum InitArg {
    /// The shortest path in the k-NN graph of DATA and the endpoints (needs DATA).
    Graph,
    /// The straight segment from A to B.
    Line,
}

/// Flags of `geodesic` and `distance`.
#[derive(Args, Debug)]
pub struct GeodesicArgs {
    /// Dataset file (CSV with optional header, or .npy): its rows can be named in --from/--to,
    /// it defines the mixture oracle and the default model, and its k-NN graph initialises the
    /// numeric solver.
    pub data: Option<PathBuf>,
    /// Model: a flow from `scoregeo train-flow` (closed-form geodesic), a score model
    /// (.safetensors from `scoregeo train`, a PyTorch checkpoint .pt/.pth/.ckpt), `mixture[:H]`
    /// for the analytic Gaussian-mixture score of DATA, or `default` [default: default, which
    /// needs DATA].
    #[arg(long, short = 'm')]
    pub model: Option<ModelSpec>,
    /// Start point: a row index of DATA (from 0) or D comma-separated coordinates.
    #[arg(long, value_name = "A", allow_hyphen_values = true)]
    pub from: String,
    /// End point: a row index of DATA (from 0) or D comma-separated coordinates.
    #[arg(long, value_name = "B", allow_hyphen_values = true)]
    pub to: String,
    /// Nodes of the path, both endpoints included (N ≥ 2).
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub nodes: usize,
    /// Write the path here as CSV: one row per node, columns node,t,x1..xD with t = i/(N − 1).
    #[arg(long, short = 'o', value_name = "PATH.csv")]
    pub output: Option<PathBuf>,
    /// Draw the path over DATA (.png or .svg; D > 2 is projected onto the data's first two
    /// principal components).
    #[arg(long, value_name = "FIGURE")]
    pub plot: Option<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = GeodesicFormat::Table)]
    pub format: GeodesicFormat,
    /// Seed of every random draw (the points whose neighbour distances set the mixture
    /// oracle's σ when DATA has more than 256 rows); the solver itself is deterministic.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Weight λ > 0 of the Euclidean part of the score-pullback metric [default: 0.001].
    #[arg(long, value_name = "L")]
    pub lambda: Option<f64>,
    /// Diffusion time t₀ of the score [default: 0.01; for the mixture oracle the t₀ whose σ is
    /// the median distance to the 5th neighbour].
    #[arg(long, value_name = "T", conflicts_with = "sigma")]
    pub t0: Option<f64>,
    /// Kernel scale σ in data units instead of --t0 (t₀ is solved for).
    #[arg(long, value_name = "S")]
    pub sigma: Option<f64>,
    /// Scale c > 0 of the score part of the metric [default: σ(t₀)²].
    #[arg(long, value_name = "C")]
    pub score_scale: Option<f64>,
    /// Most L-BFGS iterations [default: 1000].
    #[arg(long, value_name = "N")]
    pub max_iters: Option<u64>,
    /// Relative gradient tolerance of the solver [default: 1e-7].
    #[arg(long, value_name = "TOL")]
    pub tolerance: Option<f64>,
    /// Neighbours per point of the k-NN initialisation graph [default: 10].
    #[arg(long, value_name = "K")]
    pub neighbours: Option<usize>,
    /// Initial path of the numeric solver [default: graph with DATA, line without].
    #[arg(long, value_enum)]
    pub init: Option<InitArg>,
    /// What a PyTorch checkpoint does not say.
    #[command(flatten)]
    pub model_overrides: ModelOverrides,
}

/// Runs `geodesic`: solves, writes the path (`-o`) and the figure (`--plot`), prints the summary.
pub fn run_geodesic(args: GeodesicArgs) -> anyhow::Result<()> {
    let report = solve(&args)?;
    let text = match args.format {
        GeodesicFormat::Table => report.table(),
        GeodesicFormat::Json => report.json("geodesic"),
    };
    common::emit(None, &text)
}

/// Runs `distance`: as `geodesic`, but the table format prints the length alone.
pub fn run_distance(args: GeodesicArgs) -> anyhow::Result<()> {
    let report = solve(&args)?;
    let text = match args.format {
        GeodesicFormat::Table => format!("{}\n", report.path.length()),
        GeodesicFormat::Json => report.json("distance"),
    };
    common::emit(None, &text)
}

/// A resolved endpoint: what was written, the row of DATA it names (if any), its coordinates.
#[derive(Clone, Debug, PartialEq)]
struct Endpoint {
    input: String,
    row: Option<usize>,
    point: Vec<f64>,
}

impl Endpoint {
    fn to_json(&self) -> Value {
        json!({ "input": self.input, "row": self.row, "point": self.point })
    }

    fn describe(&self) -> String {
        match self.row {
            Some(r) => format!("row {r} {}", show_point(&self.point)),
            None => show_point(&self.point),
        }
    }
}

/// Coordinates for a summary line: all of them up to D = 6, else the first three and the count.
fn show_point(p: &[f64]) -> String {
    let fmt = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.6}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if p.len() <= 6 {
        format!("({})", fmt(p))
    } else {
        format!("({}, … {} coordinates)", fmt(&p[..3]), p.len())
    }
}

/// Parses `--from`/`--to` (named `flag`): digits alone are a row index of `data`, anything else
/// D = `dim` comma-separated finite numbers. Without DATA every point is coordinates (so in
/// D = 1 a bare integer is a coordinate; with DATA write `3.0`).
fn parse_endpoint(
    flag: &'static str,
    text: &str,
    data: Option<(&Path, &Dataset)>,
    dim: usize,
) -> Result<Endpoint, Error> {
    let input = text.trim();
    let is_index = !input.is_empty() && input.bytes().all(|b| b.is_ascii_digit());
    if let (true, Some((path, data))) = (is_index, data) {
        let n = data.len();
        let row = input
            .parse::<usize>()
            .ok()
            .filter(|&r| r < n)
            .ok_or_else(|| {
                Error::param(
                    flag,
                    format!(
                        "row {input} is out of range: {} has {n} rows, indices 0 to {}",
                        path.display(),
                        n.saturating_sub(1)
                    ),
                )
            })?;
        return Ok(Endpoint {
            input: input.to_string(),
            row: Some(row),
            point: data.row(row).to_vec(),
        });
    }
    let parts: Vec<&str> = input.split(',').map(str::trim).collect();
    let hint = match data {
        Some(_) => "a row index of DATA or comma-separated coordinates",
        None => "comma-separated coordinates (row indices need DATA)",
    };
    if parts.len() != dim {
        return Err(Error::param(
            flag,
            format!(
                "`{input}` has {} coordinate{}, the points live in R^{dim}: give {hint}",
                parts.len(),
                if parts.len() == 1 { "" } else { "s" }
            ),
        ));
    }
    let point = parts
        .iter()
        .enumerate()
        .map(|(k, s)| {
            s.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    Error::param(
                        flag,
                        format!(
                            "coordinate {} of `{input}` (`{s}`) is not a finite number",
                            k + 1
                        ),
                    )
                })
        })
        .collect::<Result<Vec<f64>, Error>>()?;
    Ok(Endpoint {
        input: input.to_string(),
        row: None,
        point,
    })
}

/// The model behind the geometry.
enum Geometry {
    /// A trained anisotropic flow: closed-form geodesics.
    Flow(AnisotropicFlow),
    /// A score model: numeric score-pullback geodesics.
    Score(Box<dyn ScoreModel>),
}

impl Geometry {
    fn dim(&self) -> usize {
        match self {
            Geometry::Flow(f) => f.config().dim,
            Geometry::Score(m) => m.dim(),
        }
    }
}

/// Loads what `--model` names; `data` is needed by `mixture` and `default`.
fn load_geometry(args: &GeodesicArgs, data: Option<&Dataset>) -> anyhow::Result<Geometry> {
    let spec = args.model.clone().unwrap_or_default();
    let path = match &spec {
        ModelSpec::File(path) => path,
        _ => {
            let data = data.ok_or_else(|| {
                Error::param(
                    "model",
                    "without DATA there is no default or mixture model: pass --model with a flow \
                     (`scoregeo train-flow`), a score model (`scoregeo train`) or a PyTorch \
                     checkpoint, or give DATA",
                )
            })?;
            return Ok(Geometry::Score(common::load_model_with(
                &spec,
                data,
                &args.model_overrides,
            )?));
        }
    };
    let kind = ModelFile::sniff(path)
        .with_context(|| format!("cannot read the model {}", path.display()))?;
    if kind == ModelFile::Flow {
        if args.model_overrides != ModelOverrides::default() {
            return Err(Error::param(
                "model",
                format!(
                    "--sde, --sigma-*, --beta-*, --time-scale and --prediction complete PyTorch \
                     checkpoints; {} is a flow",
                    path.display()
                ),
            )
            .into());
        }
        let flow = AnisotropicFlow::load(path)
            .with_context(|| format!("cannot load the flow {}", path.display()))?;
        return Ok(Geometry::Flow(flow));
    }
    let net = Loader::new(path)
        .overrides(args.model_overrides.to_library())
        .load()
        .with_context(|| format!("cannot load the score model {}", path.display()))?;
    if kind == ModelFile::PyTorch {
        eprintln!("model: {}", net.describe());
    }
    Ok(Geometry::Score(net))
}

/// The solved path and how it was obtained.
struct Report {
    method: &'static str,
    model: String,
    data: Option<PathBuf>,
    from: Endpoint,
    to: Endpoint,
    path: Geodesic,
    initialisation: String,
    settings: Vec<(&'static str, Value)>,
    output: Option<PathBuf>,
    seconds: f64,
}

/// What the closed form says instead of an optimiser's termination.
const CLOSED_FORM: &str = "closed form: γ(t) = φ⁻¹((1 − t)φ(x) + tφ(y)), d = ‖A⁻¹(φ(x) − φ(y))‖";

impl Report {
    fn termination(&self) -> &str {
        self.path
            .solver()
            .map_or(CLOSED_FORM, |s| s.termination.as_str())
    }

    fn json(&self, command: &str) -> String {
        let settings: serde_json::Map<String, Value> = self
            .settings
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let run = self.path.solver();
        let v = json!({
            "command": command,
            "method": self.method,
            "model": self.model,
            "data": self.data.as_ref().map(|p| p.display().to_string()),
            "ambient_dim": self.from.point.len(),
            "from": self.from.to_json(),
            "to": self.to.to_json(),
            "nodes": self.path.nodes().nrows(),
            "length": self.path.length(),
            "energy": self.path.energy(),
            "euclidean_length": self.path.euclidean_length(),
            "euclidean_distance": self.path.chord(),
            "converged": self.path.converged(),
            "iterations": run.map_or(0, |r| r.iterations),
            "gradient_norm": run.map(|r| r.gradient_norm),
            "forward_passes": run.map(|r| r.forward_passes),
            "backward_passes": run.map(|r| r.backward_passes),
            "termination": self.termination(),
            "initialisation": self.initialisation,
            "settings": settings,
            "output": self.output.as_ref().map(|p| p.display().to_string()),
            "path": self.path.node_rows(),
        });
        format!(
            "{}\n",
            serde_json::to_string_pretty(&v).expect("JSON values")
        )
    }

    fn table(&self) -> String {
        let mut s = String::new();
        let mut line = |k: &str, v: String| {
            let _ = writeln!(s, "{k:<16} {v}");
        };
        let run = self.path.solver();
        line("method", self.method.to_string());
        line("model", self.model.clone());
        if let Some(d) = &self.data {
            line("data", d.display().to_string());
        }
        line("from", self.from.describe());
        line("to", self.to.describe());
        line("nodes", self.path.nodes().nrows().to_string());
        line("length", self.path.length().to_string());
        line("energy", self.path.energy().to_string());
        line(
            "euclidean",
            format!(
                "{} along the path, {} straight",
                self.path.euclidean_length(),
                self.path.chord()
            ),
        );
        line(
            "converged",
            match run {
                Some(r) => format!(
                    "{} (relative gradient {:.3e})",
                    r.converged, r.gradient_norm
                ),
                None => self.path.converged().to_string(),
            },
        );
        line(
            "iterations",
            match run {
                Some(r) => format!(
                    "{} ({} forward, {} backward passes, {:.2} s)",
                    r.iterations, r.forward_passes, r.backward_passes, self.seconds
                ),
                None => "0".to_string(),
            },
        );
        line("termination", self.termination().to_string());
        line("initialisation", self.initialisation.clone());
        for (k, v) in &self.settings {
            line(
                k,
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string()),
            );
        }
        match &self.output {
            Some(p) => line(
                "path",
                format!(
                    "{} ({} rows: node,t,x1..x{})",
                    p.display(),
                    self.path.nodes().nrows(),
                    self.from.point.len()
                ),
            ),
            None => line("path", "not written (use -o PATH.csv)".into()),
        }
        s
    }
}

/// Reads DATA, resolves the model and the endpoints, solves, and writes `-o` and `--plot`.
fn solve(args: &GeodesicArgs) -> anyhow::Result<Report> {
    if let Some(figure) = &args.plot {
        // a bad extension is a usage error, found before a long solve
        ImageFormat::from_path(figure)?;
    }
    let data = args.data.as_deref().map(common::read_data).transpose()?;
    let named = args.data.as_deref().zip(data.as_ref());
    // with DATA the endpoints are checked before a model is loaded (or trained)
    let checked = match &data {
        Some(d) => Some((
            parse_endpoint("from", &args.from, named, d.dim())?,
            parse_endpoint("to", &args.to, named, d.dim())?,
        )),
        None => None,
    };
    let geometry = load_geometry(args, data.as_ref())?;
    let dim = geometry.dim();
    if let Some(d) = &data {
        check_dim(dim, d.dim(), "the model (columns of DATA)")?;
    }
    let (from, to) = match checked {
        Some(ends) => ends,
        None => (
            parse_endpoint("from", &args.from, None, dim)?,
            parse_endpoint("to", &args.to, None, dim)?,
        ),
    };
    let mut report = match &geometry {
        Geometry::Flow(flow) => flow_geodesic(args, flow, from, to)?,
        Geometry::Score(model) => score_geodesic(args, model.as_ref(), data.as_ref(), from, to)?,
    };
    report.data = args.data.clone();
    if let Some(out) = &args.output {
        write_path_csv(out, &report.path.node_rows())?;
        report.output = Some(out.clone());
    }
    if let Some(figure) = &args.plot {
        draw(figure, data, &report)?;
    }
    Ok(report)
}

/// Flags that only the numeric solver reads, by name, when given.
fn numeric_flags(args: &GeodesicArgs) -> Vec<&'static str> {
    [
        ("--lambda", args.lambda.is_some()),
        ("--t0", args.t0.is_some()),
        ("--sigma", args.sigma.is_some()),
        ("--score-scale", args.score_scale.is_some()),
        ("--max-iters", args.max_iters.is_some()),
        ("--tolerance", args.tolerance.is_some()),
        ("--neighbours", args.neighbours.is_some()),
        ("--init", args.init.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, given)| given.then_some(name))
    .collect()
}

/// γ(t) = φ⁻¹((1 − t)φ(x) + tφ(y)) at t = i/(N − 1) and d = ‖A⁻¹(φ(x) − φ(y))‖.
fn flow_geodesic(
    args: &GeodesicArgs,
    flow: &AnisotropicFlow,
    from: Endpoint,
    to: Endpoint,
) -> anyhow::Result<Report> {
    let unused = numeric_flags(args);
    if !unused.is_empty() {
        return Err(Error::param(
            "model",
            format!(
                "{} set the numeric score-pullback solver; {} is a flow, whose geodesic is closed form",
                unused.join(", "),
                flow.origin().map_or("the model".into(), |p| p.display().to_string())
            ),
        )
        .into());
    }
    let metric = flow.metric()?;
    let start = std::time::Instant::now();
    let path = metric.path(&from.point, &to.point, args.nodes)?;
    Ok(Report {
        method: "closed-form flow",
        model: crate::geometry::Diffeomorphism::describe(flow),
        data: None,
        from,
        to,
        path,
        initialisation: "none (closed form)".into(),
        settings: vec![
            ("seed", json!(args.seed)),
            ("variances", json!(flow.variances()?)),
        ],
        output: None,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The discrete score-pullback geodesic, from the k-NN graph path over DATA or the line.
fn score_geodesic(
    args: &GeodesicArgs,
    model: &dyn ScoreModel,
    data: Option<&Dataset>,
    from: Endpoint,
    to: Endpoint,
) -> anyhow::Result<Report> {
    let graph_data = match (args.init, data) {
        (Some(InitArg::Graph), None) => {
            return Err(Error::param(
                "init",
                "the k-NN graph initialisation needs DATA (or use --init line)",
            )
            .into())
        }
        (Some(InitArg::Line), _) | (None, None) => None,
        (_, Some(d)) => Some(d),
    };
    let spec = args.model.clone().unwrap_or_default();
    let mut params = ScorePullback::params()
        .nodes(args.nodes)
        .progress(common::progress());
    if let Some(t0) = common::resolve_t0(args.t0, args.sigma, &spec, model, data, args.seed)? {
        params = params.t0(t0);
    }
    if let Some(l) = args.lambda {
        params = params.lambda(l);
    }
    if let Some(c) = args.score_scale {
        params = params.score_scale(c);
    }
    if let Some(m) = args.max_iters {
        params = params.max_iters(m);
    }
    if let Some(tol) = args.tolerance {
        params = params.tolerance(tol);
    }
    if let Some(k) = args.neighbours {
        params = params.neighbours(k);
    }
    let pullback = params.check()?;
    let metric = pullback.metric(model)?;
    let solver = pullback.solver();
    let start = std::time::Instant::now();
    let solved = metric.solve_between(&from.point, &to.point, graph_data)?;
    let seconds = start.elapsed().as_secs_f64();
    if !solved.converged() {
        eprintln!(
            "warning: the geodesic solver stopped before converging ({}; relative gradient {:.2e}, \
             tolerance {:.0e}): the path and its length are the best reached; try --max-iters, \
             --tolerance or --nodes",
            solved.termination(),
            solved.gradient_norm(),
            solver.tolerance()
        );
    }
    let f = metric.immersion();
    let initialisation = match solved.initialisation() {
        Initialisation::StraightLine => "straight line".to_string(),
        Initialisation::KnnGraph { hops } => {
            format!("shortest path in the k-NN graph of DATA ({hops} edges)")
        }
        Initialisation::Given => "given polyline".to_string(),
    };
    Ok(Report {
        method: "score-pullback",
        model: model.describe(),
        data: None,
        from,
        to,
        path: solved.into(),
        initialisation,
        settings: vec![
            ("lambda", json!(f.lambda())),
            ("score_scale", json!(f.score_scale())),
            ("t0", json!(f.t0())),
            ("sigma", json!(f.sigma())),
            ("seed", json!(args.seed)),
            ("max_iters", json!(solver.max_iters())),
            ("tolerance", json!(solver.tolerance())),
            ("neighbours", json!(solver.neighbours())),
            (
                "init",
                json!(if graph_data.is_some() {
                    "graph"
                } else {
                    "line"
                }),
            ),
        ],
        output: None,
        seconds,
    })
}

/// Writes the path as CSV (`node,t,x1..xD`, t = i/(N − 1)), atomically.
fn write_path_csv(path: &Path, nodes: &[Vec<f64>]) -> anyhow::Result<()> {
    let n = nodes.len();
    let d = nodes.first().map_or(0, Vec::len);
    write_atomic(path, |w| {
        write!(w, "node,t")?;
        for j in 1..=d {
            write!(w, ",x{j}")?;
        }
        writeln!(w)?;
        for (i, node) in nodes.iter().enumerate() {
            let t = if n > 1 {
                i as f64 / (n - 1) as f64
            } else {
                0.0
            };
            write!(w, "{i},{t}")?;
            for v in node {
                write!(w, ",{v}")?;
            }
            writeln!(w)?;
        }
        Ok(())
    })
    .with_context(|| format!("cannot write the path to {}", path.display()))
}

/// A length for a legend: four decimals, or four significant digits when small.
fn short(x: f64) -> String {
    if x == 0.0 || x.abs() >= 0.01 {
        format!("{x:.4}")
    } else {
        format!("{x:.3e}")
    }
}

/// Draws the path (and the straight segment between its ends) over DATA.
fn draw(figure: &Path, data: Option<Dataset>, report: &Report) -> anyhow::Result<()> {
    let geodesic = GeodesicPath::new(
        format!(
            "{} geodesic (length {})",
            report.method,
            short(report.path.length())
        ),
        report.path.node_rows(),
    );
    let chord = GeodesicPath::new(
        format!(
            "straight line (Euclidean length {})",
            short(report.path.chord())
        ),
        vec![report.from.point.clone(), report.to.point.clone()],
    );
    let mut fig = GeodesicPlot::new(data, vec![geodesic, chord]);
    let end = |e: &Endpoint| match e.row {
        Some(r) => format!("row {r}"),
        None => "the given point".into(),
    };
    fig.title = Some(format!(
        "Geodesic from {} to {}",
        end(&report.from),
        end(&report.to)
    ));
    fig.render(figure)?;
    Ok(())
}
