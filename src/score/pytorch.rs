//! Score models trained in PyTorch: read `.pt`/`.pth`/`.ckpt` checkpoints directly.
//!
//! Researchers train the normal-bundle and local-ID score networks with the public PyTorch
//! reference code; this module loads those checkpoints without PyTorch:
//!
//! 1. the file is opened as the zip archive `torch.save` writes and its pickle is decoded as
//!    plain data — nothing in it is imported or executed, sizes are checked against the file
//!    before anything is allocated, and every failure names the entry, key or byte offset;
//! 2. every dict of named tensors is found: bare state dicts, `model_state_dict`, Lightning's
//!    `state_dict`, pickled whole modules, and exponential-moving-average (EMA) weights — a
//!    separate dict (`ema`, `ema_state_dict`, …), prefixed keys (`ema.`, `model_ema.`, …) or a list
//!    of shadow parameters (`torch_ema`'s `shadow_params`), mapped onto the module it shadows;
//! 3. the tensor names and shapes are matched against the known layouts ([`layouts`]); EMA
//!    weights are preferred when present, and the choice is reported;
//! 4. what the weights cannot say — the SDE, how the time enters, what the output means — comes,
//!    in this order of precedence, from [`Overrides`] (the caller's settings), a [`Description`] file
//!    `MODEL.pth.json` beside the checkpoint, the checkpoint's training hyper-parameters, or the
//!    layout's own convention. Anything still unknown is listed with the parameter that supplies it.
//!
//! ```no_run
//! use scoregeo::score::pytorch::{self, Overrides};
//! use scoregeo::sde::SdeKind;
//! use scoregeo::score::ScoreModel;
//!
//! let overrides = Overrides { sde: Some(SdeKind::Ve), sigma_max: Some(4.0), time_scale: Some(999.0), ..Default::default() };
//! println!("{}", pytorch::inspect("model.pth", &overrides)?);
//! let model = pytorch::load("model.pth", &overrides, &candle_core::Device::Cpu)?;
//! println!("{}", model.describe());
//! # Ok::<(), scoregeo::Error>(())
//! ```

mod checkpoint;
pub mod layouts;
mod pickle;
pub mod skip_mlp;
mod zip;

pub(crate) use zip::stored_archive;

pub use checkpoint::HyperParameters;
pub use layouts::{Architecture, LayoutKind};
pub use skip_mlp::{SkipMlpConfig, SkipMlpScoreNet, SkipTime};

use crate::error::{Error, Result};
use crate::score::mlp::{self, Activation, MlpConfig, MlpScoreNet, Prediction, TimeInput};
use crate::score::ScoreModel;
use crate::sde::{Frame, Kernel, Sde, SdeKind};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use checkpoint::Checkpoint;
use faer::{Mat, MatRef};
use layouts::{Candidate, Hints};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Settings given by the user that complete or override what a checkpoint says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides {
    /// The SDE family.
    pub sde: Option<SdeKind>,
    /// σ_min of a VE SDE.
    pub sigma_min: Option<f64>,
    /// σ_max of a VE SDE.
    pub sigma_max: Option<f64>,
    /// β_min of a VP SDE.
    pub beta_min: Option<f64>,
    /// β_max of a VP SDE.
    pub beta_max: Option<f64>,
    /// S such that the network sees S·t (1: t itself; 999 in the official code).
    pub time_scale: Option<f64>,
    /// What the network's output means.
    pub prediction: Option<Prediction>,
}

impl Overrides {
    /// Whether no setting is given.
    pub fn is_empty(&self) -> bool {
        *self == Overrides::default()
    }
}

/// Which weights to use when a checkpoint holds both raw and EMA weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightChoice {
    /// EMA weights when present, else the raw ones.
    #[default]
    Auto,
    /// Only EMA weights.
    Ema,
    /// Only raw weights.
    Raw,
}

/// A description file `MODEL.pth.json` beside a checkpoint: what its tensors cannot say.
///
/// Every field is optional; [`Overrides`] override it. Example for the official code's networks:
/// `{"sde": "ve", "sigma_min": 0.01, "sigma_max": 4, "time_scale": 999}`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Description {
    /// Only look for this layout.
    pub architecture: Option<LayoutKind>,
    /// Name of the reference layout's `Sequential` (default `mlp`).
    pub sequential: Option<String>,
    /// Index step between the reference layout's linear layers (default: read from the keys).
    pub stride: Option<usize>,
    /// Use the tensors found at this path of the saved object (as `inspect` prints it).
    pub group: Option<String>,
    /// Use the tensors under this key prefix.
    pub prefix: Option<String>,
    /// Raw or EMA weights.
    pub weights: Option<WeightChoice>,
    /// Nonlinearity (default: ELU for the reference layout, SiLU for the skip MLP).
    pub activation: Option<Activation>,
    /// SDE family.
    pub sde: Option<SdeKind>,
    /// σ_min of a VE SDE.
    pub sigma_min: Option<f64>,
    /// σ_max of a VE SDE.
    pub sigma_max: Option<f64>,
    /// β_min of a VP SDE.
    pub beta_min: Option<f64>,
    /// β_max of a VP SDE.
    pub beta_max: Option<f64>,
    /// S such that the network sees S·t.
    pub time_scale: Option<f64>,
    /// What the output means (`noise`, `score`, `scaled_score`, `data`).
    pub prediction: Option<Prediction>,
    /// Frequency shift of a sinusoidal time embedding (default 1).
    pub freq_shift: Option<f64>,
    /// Longest period of a sinusoidal time embedding (default 10 000).
    pub max_period: Option<f64>,
    /// Cosines before sines in the embedding (default false).
    pub flip_sin_to_cos: Option<bool>,
}

impl Description {
    /// Where the description of `model` lives: the model's file name with `.json` appended.
    pub fn path_for(model: &Path) -> PathBuf {
        let mut name = model.as_os_str().to_owned();
        name.push(".json");
        PathBuf::from(name)
    }

    /// Reads the description of `model`, if there is one.
    pub fn read(model: &Path) -> Result<Option<Self>> {
        let path = Self::path_for(model);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Parse {
                path: path.clone(),
                line: e.line(),
                column: e.column(),
                message: e.to_string(),
            })
    }
}

/// Where a setting's value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The caller's [`Overrides`].
    Override,
    /// The description file.
    Description,
    /// The checkpoint's training hyper-parameters.
    HyperParameters,
    /// The convention of the detected layout's reference code.
    Layout,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Origin::Override => "override",
            Origin::Description => "description file",
            Origin::HyperParameters => "checkpoint hyper-parameters",
            Origin::Layout => "layout convention",
        })
    }
}

/// One tensor of a checkpoint, as `inspect` lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    /// Its key (or `[i]` in a list).
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its dtype as PyTorch names it.
    pub dtype: String,
}

/// What a checkpoint holds and what is still needed to use it.
#[derive(Clone, Debug)]
pub struct Inspection {
    /// The checkpoint file.
    pub path: PathBuf,
    /// What the saved object is.
    pub top_level: String,
    /// Every collection of tensors: (where it sits, its tensors).
    pub tensors: Vec<(String, Vec<TensorInfo>)>,
    /// The description file, when one was read.
    pub description: Option<PathBuf>,
    /// The detected architecture.
    pub architecture: Option<Architecture>,
    /// Which weights are used, e.g. `EMA weights from `ema/shadow_params``.
    pub weights: Option<String>,
    /// Other usable weight sets that were not chosen.
    pub alternatives: Vec<String>,
    /// Key sets that look like a layout but do not fit it, with the reason.
    pub rejected: Vec<String>,
    /// The resolved settings, one line each (what the output means, the time input, the SDE).
    pub settings: Vec<(String, String)>,
    /// What is still unknown, each with the parameter that supplies it.
    pub missing: Vec<String>,
    /// Why the checkpoint cannot be used whatever the overrides (no layout, ambiguous weights, bad
    /// overrides).
    pub problems: Vec<String>,
}

impl Inspection {
    /// Whether the checkpoint can be loaded as it is.
    pub fn is_ready(&self) -> bool {
        self.missing.is_empty() && self.problems.is_empty()
    }
}

/// At most this many tensors of one collection are listed.
const LISTED: usize = 40;

impl std::fmt::Display for Inspection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "file            {}", self.path.display())?;
        writeln!(f, "saved object    {}", self.top_level)?;
        match &self.description {
            Some(d) => writeln!(f, "description     {}", d.display())?,
            None => writeln!(
                f,
                "description     none ({} is read when present)",
                Description::path_for(&self.path).display()
            )?,
        }
        writeln!(f, "tensors")?;
        if self.tensors.is_empty() {
            writeln!(f, "  (none)")?;
        }
        for (path, list) in &self.tensors {
            let at = if path.is_empty() { "(top level)" } else { path };
            writeln!(f, "  {at}: {} tensors", list.len())?;
            let width = list
                .iter()
                .take(LISTED)
                .map(|t| t.name.len())
                .max()
                .unwrap_or(0);
            for t in list.iter().take(LISTED) {
                writeln!(
                    f,
                    "    {:<width$}  {:<14} {}",
                    t.name,
                    format!("{:?}", t.shape),
                    t.dtype
                )?;
            }
            if list.len() > LISTED {
                writeln!(f, "    … {} more", list.len() - LISTED)?;
            }
        }
        match &self.architecture {
            Some(a) => writeln!(f, "architecture    {a}")?,
            None => writeln!(f, "architecture    not recognised")?,
        }
        if let Some(w) = &self.weights {
            writeln!(f, "weights         {w}")?;
        }
        for a in &self.alternatives {
            writeln!(f, "                (also found: {a})")?;
        }
        for (name, value) in &self.settings {
            writeln!(f, "{name:<15} {value}")?;
        }
        if self.is_ready() {
            writeln!(f, "status          ready")?;
        } else {
            writeln!(f, "status          not usable yet")?;
            for p in &self.problems {
                writeln!(f, "  - {p}")?;
            }
            for m in &self.missing {
                writeln!(f, "  - {m}")?;
            }
        }
        // without an architecture the problems already give these reasons
        if !self.rejected.is_empty() && self.architecture.is_some() {
            writeln!(f, "also seen (not usable)")?;
            for r in &self.rejected {
                writeln!(f, "  - {r}")?;
            }
        }
        Ok(())
    }
}

/// The native configuration a checkpoint resolves to.
#[derive(Clone, Debug)]
enum Native {
    Mlp(MlpConfig),
    Skip(SkipMlpConfig),
}

/// An inspected checkpoint with its chosen weights and, when complete, its native configuration.
struct Plan {
    checkpoint: Checkpoint,
    inspection: Inspection,
    candidate: Option<Candidate>,
    native: Option<Native>,
}

fn pick<T: Copy>(
    choices: [(Option<T>, Origin); 3],
    default: Option<(T, Origin)>,
) -> Option<(T, Origin)> {
    choices
        .into_iter()
        .find_map(|(v, o)| v.map(|v| (v, o)))
        .or(default)
}

fn sde_from_name(name: &str) -> Option<SdeKind> {
    name.parse().ok()
}

fn number(v: f64) -> String {
    format!("{v}")
}

/// Settings resolved for one architecture.
struct Resolved {
    settings: Vec<(String, String)>,
    missing: Vec<String>,
    problems: Vec<String>,
    prediction: Prediction,
    activation: Activation,
    sde: Option<Sde>,
    time_scale: Option<f64>,
}

fn resolve(
    arch: &Architecture,
    hp: &HyperParameters,
    desc: &Description,
    ov: &Overrides,
) -> Resolved {
    let fcn = arch.kind() == LayoutKind::ReferenceFcn;
    let mut r = Resolved {
        settings: Vec::new(),
        missing: Vec::new(),
        problems: Vec::new(),
        prediction: Prediction::Noise,
        activation: Activation::Elu,
        sde: None,
        time_scale: None,
    };

    let layout_prediction = if fcn {
        Prediction::Noise
    } else {
        Prediction::ScaledScore
    };
    let (prediction, from) = pick(
        [
            (ov.prediction, Origin::Override),
            (desc.prediction, Origin::Description),
            (None, Origin::HyperParameters),
        ],
        Some((layout_prediction, Origin::Layout)),
    )
    .expect("a default");
    r.prediction = prediction;
    let meaning = match prediction {
        Prediction::Noise => "noise ε̂, s = −ε̂/σ(t)",
        Prediction::Score => "the score s itself",
        Prediction::ScaledScore => "σ(t)·s, s = output/σ(t)",
        Prediction::Data => "clean data x̂₀, s = (α x̂₀ − x)/σ²",
        Prediction::Preconditioned { .. } => "preconditioned clean data (EDM)",
    };
    r.settings
        .push(("output".into(), format!("{meaning} ({from})")));
    let (activation, from) = pick(
        [
            (None, Origin::Override),
            (desc.activation, Origin::Description),
            (None, Origin::HyperParameters),
        ],
        Some((
            if fcn {
                Activation::Elu
            } else {
                Activation::Silu
            },
            Origin::Layout,
        )),
    )
    .expect("a default");
    r.activation = activation;
    r.settings
        .push(("activation".into(), format!("{activation:?} ({from})")));

    // time input
    let hp_scale = if fcn {
        hp.num_scales.filter(|&n| n > 1).map(|n| (n - 1) as f64)
    } else {
        None
    };
    let layout_scale = if fcn {
        None
    } else {
        Some((1.0, Origin::Layout))
    };
    match pick(
        [(ov.time_scale, Origin::Override), (desc.time_scale, Origin::Description), (hp_scale, Origin::HyperParameters)],
        layout_scale,
    ) {
        Some((s, from)) if s.is_finite() && s > 0.0 => {
            r.time_scale = Some(s);
            let how = if s == 1.0 { "t".to_string() } else { format!("{}·t", number(s)) };
            let embed = match arch {
                Architecture::SkipMlp { time_features, .. } if *time_features > 1 => {
                    format!(" through a sinusoidal embedding of {time_features} features")
                }
                _ => String::new(),
            };
            r.settings.push(("time input".into(), format!("{how}{embed} ({from})")));
        }
        Some((s, from)) => r.problems.push(format!("time scale {s} ({from}) must be positive and finite")),
        None => r.missing.push(
            "time input unknown: pass `time_scale` 1 (t itself, as the clean re-implementation feeds it) \
             or `time_scale` 999 (999·t, as the official code feeds it)"
                .into(),
        ),
    }

    // SDE: family, then its parameters, each from the first source that has it
    let implied = |sigma: bool, beta: bool, origin: Origin| -> (Option<SdeKind>, Option<String>) {
        match (sigma, beta) {
            (true, true) => (None, Some(format!("σ and β parameters are both given ({origin}); a VE SDE takes σ, a VP SDE takes β"))),
            (true, false) => (Some(SdeKind::Ve), None),
            (false, true) => (Some(SdeKind::Vp), None),
            _ => (None, None),
        }
    };
    let (ov_implied, ov_clash) = implied(
        ov.sigma_min.is_some() || ov.sigma_max.is_some(),
        ov.beta_min.is_some() || ov.beta_max.is_some(),
        Origin::Override,
    );
    let (desc_implied, desc_clash) = implied(
        desc.sigma_min.is_some() || desc.sigma_max.is_some(),
        desc.beta_min.is_some() || desc.beta_max.is_some(),
        Origin::Description,
    );
    r.problems.extend(ov_clash);
    r.problems.extend(desc_clash);
    let (kind, kind_from) = pick(
        [
            (ov.sde.or(ov_implied), Origin::Override),
            (desc.sde.or(desc_implied), Origin::Description),
            (
                hp.sde.as_deref().and_then(sde_from_name),
                Origin::HyperParameters,
            ),
        ],
        Some((if fcn { SdeKind::Ve } else { SdeKind::Vp }, Origin::Layout)),
    )
    .expect("a default");
    let param = |given: Option<f64>, d: Option<f64>, h: Option<f64>, default: Option<f64>| {
        pick(
            [
                (given, Origin::Override),
                (d, Origin::Description),
                (h, Origin::HyperParameters),
            ],
            default.map(|v| (v, Origin::Layout)),
        )
    };
    let (a, b, names) = match kind {
        SdeKind::Ve => {
            if ov.beta_min.is_some() || ov.beta_max.is_some() {
                r.problems.push(format!(
                    "`beta_min`/`beta_max` apply to a VP SDE, but the SDE is VE ({kind_from})"
                ));
            }
            (
                param(ov.sigma_min, desc.sigma_min, hp.sigma_min, Some(0.01)),
                param(ov.sigma_max, desc.sigma_max, hp.sigma_max, None),
                ("σ_min", "σ_max", "`sigma_min`", "`sigma_max`"),
            )
        }
        SdeKind::Vp | SdeKind::SubVp => {
            if ov.sigma_min.is_some() || ov.sigma_max.is_some() {
                r.problems.push(format!("`sigma_min`/`sigma_max` apply to a VE SDE, but the SDE is {kind:?} ({kind_from})"));
            }
            (
                param(ov.beta_min, desc.beta_min, hp.beta_min, Some(0.1)),
                param(ov.beta_max, desc.beta_max, hp.beta_max, Some(20.0)),
                ("β_min", "β_max", "`beta_min`", "`beta_max`"),
            )
        }
    };
    let family = match kind {
        SdeKind::Ve => "VE",
        SdeKind::Vp => "VP",
        SdeKind::SubVp => "sub-VP",
    };
    match (a, b) {
        (Some((lo, lo_from)), Some((hi, hi_from))) => {
            let sde = match kind {
                SdeKind::Ve => Sde::Ve {
                    sigma_min: lo,
                    sigma_max: hi,
                },
                SdeKind::Vp => Sde::Vp {
                    beta_min: lo,
                    beta_max: hi,
                },
                SdeKind::SubVp => Sde::SubVp {
                    beta_min: lo,
                    beta_max: hi,
                },
            };
            r.settings.push((
                "SDE".into(),
                format!(
                    "{family} ({kind_from}), {} = {} ({lo_from}), {} = {} ({hi_from})",
                    names.0,
                    number(lo),
                    names.1,
                    number(hi)
                ),
            ));
            match sde.check() {
                Ok(()) => r.sde = Some(sde),
                Err(e) => r.problems.push(e.to_string()),
            }
        }
        (lo, _) => {
            let with_min = if lo.is_none() {
                format!(" {} …", names.2)
            } else {
                String::new()
            };
            r.settings.push((
                "SDE".into(),
                format!("{family} ({kind_from}), {} unknown", names.1),
            ));
            r.missing.push(format!(
                "SDE {} unknown: pass `sde` {}{with_min} {} … (σ_min defaults to 0.01, β to 0.1 and 20)",
                names.1,
                family.to_ascii_lowercase().replace('-', ""),
                names.3
            ));
        }
    }
    r
}

fn tensor_infos<'a>(
    entries: impl Iterator<Item = (String, &'a pickle::TensorRef)>,
) -> Vec<TensorInfo> {
    entries
        .map(|(name, t)| TensorInfo {
            name,
            shape: t.shape.clone(),
            dtype: t.dtype.name(),
        })
        .collect()
}

fn plan(path: &Path, ov: &Overrides) -> Result<Plan> {
    plan_from(Checkpoint::open(path)?, Description::read(path)?, path, ov)
}

/// The plan for an opened checkpoint with its description file (if any); `path` names it.
fn plan_from(
    checkpoint: Checkpoint,
    desc_file: Option<Description>,
    path: &Path,
    ov: &Overrides,
) -> Result<Plan> {
    let desc = desc_file.clone().unwrap_or_default();
    let mut tensors: Vec<(String, Vec<TensorInfo>)> = checkpoint
        .groups()
        .iter()
        .map(|g| {
            (
                g.path.clone(),
                tensor_infos(g.entries.iter().map(|(k, t)| (k.clone(), t))),
            )
        })
        .collect();
    tensors.extend(checkpoint.lists().iter().map(|l| {
        (
            l.path.clone(),
            tensor_infos(
                l.tensors
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (format!("[{i}]"), t)),
            ),
        )
    }));
    let hints = Hints {
        layout: desc.architecture,
        sequential: desc.sequential.clone(),
        stride: desc.stride,
    };
    let detection = layouts::detect(checkpoint.groups(), checkpoint.lists(), &hints);
    let mut inspection = Inspection {
        path: path.to_path_buf(),
        top_level: checkpoint.top_level().to_string(),
        tensors,
        description: desc_file.as_ref().map(|_| Description::path_for(path)),
        architecture: None,
        weights: None,
        alternatives: Vec::new(),
        rejected: detection.rejected.clone(),
        settings: Vec::new(),
        missing: Vec::new(),
        problems: Vec::new(),
    };

    // choose the weights
    let choice = desc.weights.unwrap_or_default();
    let mut usable: Vec<&Candidate> = detection
        .candidates
        .iter()
        .filter(|c| desc.group.as_ref().is_none_or(|g| *g == c.group))
        .filter(|c| desc.prefix.as_ref().is_none_or(|p| *p == c.prefix))
        .collect();
    let any_ema = usable.iter().any(|c| c.ema);
    let wanted_ema = match choice {
        WeightChoice::Auto => any_ema,
        WeightChoice::Ema => true,
        WeightChoice::Raw => false,
    };
    let (chosen, others): (Vec<&Candidate>, Vec<&Candidate>) =
        usable.drain(..).partition(|c| c.ema == wanted_ema);
    inspection.alternatives = others.iter().map(|c| c.source()).collect();
    let candidate = match chosen.as_slice() {
        [one] => Some((*one).clone()),
        [] => {
            let problem = if !detection.candidates.is_empty() {
                format!(
                    "no {} weights match the description file (found: {})",
                    if wanted_ema { "EMA" } else { "raw" },
                    detection
                        .candidates
                        .iter()
                        .map(|c| c.source())
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            } else if !detection.rejected.is_empty() {
                format!(
                    "no supported layout fits: {}",
                    detection.rejected.join("; ")
                )
            } else if checkpoint.groups().is_empty() && checkpoint.lists().is_empty() {
                format!(
                    "no tensors found: the saved object is {}",
                    checkpoint.top_level()
                )
            } else {
                "no supported layout: no tensor is named like the reference score net (`mlp.0.weight`, `mlp.3.weight`, …) \
                 or the skip-connection MLP (`layers.0.weight`, …); a description file can name the Sequential \
                 (\"sequential\") and the layer step (\"stride\")"
                    .to_string()
            };
            inspection.problems.push(problem);
            None
        }
        many => {
            inspection.problems.push(format!(
                "several networks fit: {}; choose one with \"group\" or \"prefix\" in {}",
                many.iter()
                    .map(|c| c.source())
                    .collect::<Vec<_>>()
                    .join("; "),
                Description::path_for(path).display()
            ));
            None
        }
    };

    let mut native = None;
    if let Some(c) = &candidate {
        inspection.architecture = Some(c.architecture.clone());
        inspection.weights = Some(c.source());
        let r = resolve(&c.architecture, checkpoint.hyper_parameters(), &desc, ov);
        inspection.settings = r.settings;
        inspection.missing = r.missing;
        inspection.problems.extend(r.problems);
        if let (true, Some(sde), Some(scale)) = (inspection.is_ready(), r.sde, r.time_scale) {
            native = Some(match &c.architecture {
                Architecture::ReferenceFcn {
                    dim,
                    hidden,
                    linears,
                    ..
                } => Native::Mlp(MlpConfig {
                    dim: *dim,
                    hidden: *hidden,
                    depth: linears - 1,
                    activation: r.activation,
                    residual: false,
                    time_input: if scale == 1.0 {
                        TimeInput::Raw
                    } else {
                        TimeInput::Scaled { factor: scale }
                    },
                    prediction: r.prediction,
                    sde,
                    frame: Frame::default(),
                }),
                Architecture::SkipMlp {
                    dim,
                    hidden,
                    time_features,
                } => Native::Skip(SkipMlpConfig {
                    dim: *dim,
                    hidden: hidden.clone(),
                    time: SkipTime {
                        features: *time_features,
                        scale,
                        freq_shift: desc.freq_shift.unwrap_or(1.0),
                        max_period: desc.max_period.unwrap_or(10_000.0),
                        flip_sin_to_cos: desc.flip_sin_to_cos.unwrap_or(false),
                    },
                    activation: r.activation,
                    prediction: r.prediction,
                    sde,
                    frame: Frame::default(),
                }),
            });
        }
    }
    Ok(Plan {
        checkpoint,
        inspection,
        candidate,
        native,
    })
}

impl Native {
    /// The network with these tensors (under native names).
    fn build(
        self,
        tensors: HashMap<String, Tensor>,
        device: &Device,
    ) -> Result<Box<dyn ScoreModel>> {
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        Ok(match self {
            Native::Mlp(config) => Box::new(MlpScoreNet::new(config, vb)?),
            Native::Skip(config) => Box::new(SkipMlpScoreNet::new(config, vb)?),
        })
    }
}

/// Reads a checkpoint and reports its tensors, architecture, weights, settings and what is missing.
///
/// Fails only when the file cannot be read as a PyTorch checkpoint; an unusable but readable
/// checkpoint gives an [`Inspection`] whose `problems` and `missing` say why.
pub fn inspect(path: impl AsRef<Path>, overrides: &Overrides) -> Result<Inspection> {
    Ok(plan(path.as_ref(), overrides)?.inspection)
}

impl Plan {
    /// The native configuration and the chosen tensors under native names, or why there are none.
    fn materialise(
        mut self,
        device: &Device,
    ) -> Result<(Native, HashMap<String, Tensor>, Inspection)> {
        let path = self.inspection.path.clone();
        let (Some(native), Some(candidate)) = (self.native.take(), self.candidate.take()) else {
            let mut why: Vec<String> = self.inspection.problems.clone();
            why.extend(self.inspection.missing.iter().cloned());
            return Err(Error::Model {
                path: Some(path),
                message: format!("cannot be used yet: {}", why.join("; ")),
            });
        };
        let mut tensors = HashMap::with_capacity(candidate.tensors.len());
        for (native_name, key, t) in &candidate.tensors {
            tensors.insert(
                native_name.clone(),
                self.checkpoint.read_tensor(key, t, device)?,
            );
        }
        Ok((native, tensors, self.inspection))
    }
}

/// A score model loaded from a PyTorch checkpoint; it says where its weights came from.
pub struct ImportedModel {
    inner: Box<dyn ScoreModel>,
    origin: String,
    inspection: Inspection,
}

impl ImportedModel {
    /// The report of the checkpoint the model came from.
    pub fn inspection(&self) -> &Inspection {
        &self.inspection
    }

    /// The loaded network.
    pub fn into_inner(self) -> Box<dyn ScoreModel> {
        self.inner
    }
}

impl ScoreModel for ImportedModel {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn sde(&self) -> &Sde {
        self.inner.sde()
    }
    fn frame(&self) -> Option<&Frame> {
        self.inner.frame()
    }
    fn kernel(&self, t: f64) -> Kernel {
        self.inner.kernel(t)
    }
    fn score(&self, x: MatRef<'_, f64>, t: f64) -> Result<Mat<f64>> {
        self.inner.score(x, t)
    }
    fn score_jacobians(&self, x: MatRef<'_, f64>, t: f64) -> Result<Vec<Mat<f64>>> {
        self.inner.score_jacobians(x, t)
    }
    fn score_vjp(&self, x: MatRef<'_, f64>, t: f64, v: MatRef<'_, f64>) -> Result<Mat<f64>> {
        self.inner.score_vjp(x, t, v)
    }
    fn score_and_jvps(
        &self,
        x: MatRef<'_, f64>,
        t: f64,
        v: MatRef<'_, f64>,
    ) -> Result<Option<(Mat<f64>, Mat<f64>)>> {
        self.inner.score_and_jvps(x, t, v)
    }
    fn describe(&self) -> String {
        format!("{} ({})", self.inner.describe(), self.origin)
    }
}

/// Loads a PyTorch checkpoint as a score model (EMA weights when present).
///
/// Fails with a message listing the parameters to give when the SDE or the time input is unknown.
pub fn load(
    path: impl AsRef<Path>,
    overrides: &Overrides,
    device: &Device,
) -> Result<ImportedModel> {
    let path = path.as_ref();
    let (native, tensors, inspection) = plan(path, overrides)?.materialise(device)?;
    let inner = native.build(tensors, device)?;
    let origin = format!(
        "PyTorch checkpoint {}, {}",
        path.display(),
        inspection.weights.as_deref().unwrap_or("weights")
    );
    Ok(ImportedModel {
        inner,
        origin,
        inspection,
    })
}

/// What [`convert`] wrote.
#[derive(Clone, Debug)]
pub struct Conversion {
    /// The native file.
    pub output: PathBuf,
    /// `MlpScoreNet` or `SkipMlpScoreNet`: the type that loads it.
    pub native_type: &'static str,
    /// The report of the checkpoint.
    pub inspection: Inspection,
}

/// Converts a PyTorch checkpoint into scoregeo's native safetensors format (config in the metadata).
///
/// The reference layout becomes a file that [`MlpScoreNet::load`] reads; the skip-connection MLP
/// one that [`SkipMlpScoreNet::load`] reads. Both are read by
/// [`score::load`](crate::score::load).
pub fn convert(
    path: impl AsRef<Path>,
    overrides: &Overrides,
    output: impl AsRef<Path>,
) -> Result<Conversion> {
    let output = output.as_ref();
    let (native, tensors, inspection) =
        plan(path.as_ref(), overrides)?.materialise(&Device::Cpu)?;
    let native_type = match &native {
        Native::Mlp(config) => {
            mlp::save_safetensors(&tensors, config, output)?;
            "MlpScoreNet"
        }
        Native::Skip(config) => {
            SkipMlpScoreNet::save(&tensors, config, output)?;
            "SkipMlpScoreNet"
        }
    };
    Ok(Conversion {
        output: output.to_path_buf(),
        native_type,
        inspection,
    })
}

/// Lists a native safetensors model's tensors and config, for `inspect-model` on converted files.
pub fn describe_native(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| Error::Model {
        path: Some(path.into()),
        message: format!("not a PyTorch checkpoint nor a valid safetensors file: {e}"),
    })?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| Error::Model {
        path: Some(path.into()),
        message: e.to_string(),
    })?;
    let mut out = String::new();
    let _ = writeln!(out, "file            {}", path.display());
    let _ = writeln!(out, "format          scoregeo native (safetensors)");
    let _ = writeln!(out, "tensors");
    let mut names: Vec<_> = st.names();
    names.sort();
    for name in names {
        if let Ok(view) = st.tensor(name) {
            let _ = writeln!(
                out,
                "    {name:<20}  {:<14} {:?}",
                format!("{:?}", view.shape()),
                view.dtype()
            );
        }
    }
    let config = meta.metadata().as_ref().and_then(|m| {
        m.get(mlp::CONFIG_KEY)
            .or_else(|| m.get(skip_mlp::SKIP_CONFIG_KEY))
            .cloned()
    });
    match config {
        Some(c) => {
            let _ = writeln!(out, "config          {c}");
        }
        None => {
            let _ = writeln!(
                out,
                "config          none in the metadata ({} is read when present)",
                path.with_extension("json").display()
            );
        }
    }
    Ok(out)
}

/// Storage bytes the fuzzing entry [`load_pickle_program`] fills in at most (4 MiB).
const FUZZ_STORAGE_BYTES: u64 = 1 << 22;

/// Runs a pickle program as the `data.pkl` of a `torch.save` archive built around it, whose
/// storages hold the sizes the program declares (zeros, 4 MiB in all at most; a larger storage
/// gets 1 byte): inspection, tensor reads and the model, with the default overrides and then
/// with every setting given. The fuzzing entry of the pickle reader and the layout mapping.
pub(crate) fn load_pickle_program(program: &[u8]) -> Result<Vec<Box<dyn ScoreModel>>> {
    let path = Path::new("fuzz.pth");
    let pk = pickle::parse(program).map_err(|e| Error::Format {
        path: path.into(),
        message: e.to_string(),
    })?;
    let mut storages: Vec<(String, u64)> = Vec::new();
    for id in 0.. {
        match pk.node(pickle::Value::Node(id)) {
            None => break,
            Some(pickle::Node::Tensor(t)) if !storages.iter().any(|(k, _)| *k == t.storage_key) => {
                let size = match t.dtype {
                    pickle::StorageType::F64 => 8,
                    pickle::StorageType::F16 | pickle::StorageType::Bf16 => 2,
                    _ => 4,
                };
                storages.push((t.storage_key.clone(), t.storage_numel.saturating_mul(size)));
            }
            Some(_) => {}
        }
    }
    let mut budget = FUZZ_STORAGE_BYTES;
    let data: Vec<(String, Vec<u8>)> = storages
        .into_iter()
        .map(|(key, bytes)| {
            let len = if bytes <= budget { bytes } else { 1 };
            budget -= len.min(budget);
            (format!("archive/data/{key}"), vec![0u8; len as usize])
        })
        .collect();
    let mut entries: Vec<(&str, &[u8])> = vec![
        ("archive/data.pkl", program),
        ("archive/byteorder", b"little"),
    ];
    entries.extend(data.iter().map(|(k, v)| (k.as_str(), v.as_slice())));
    let bytes = zip::stored_archive(&entries);
    let complete = Overrides {
        sde: Some(SdeKind::Ve),
        sigma_min: Some(0.01),
        sigma_max: Some(10.0),
        time_scale: Some(1.0),
        ..Overrides::default()
    };
    let mut models = Vec::new();
    for ov in [Overrides::default(), complete] {
        let archive = zip::Archive::from_bytes(bytes.clone(), path)?;
        let plan = plan_from(Checkpoint::from_archive(archive, path)?, None, path, &ov)?;
        let _ = plan.inspection.to_string();
        if plan.native.is_some() {
            let (native, tensors, _) = plan.materialise(&Device::Cpu)?;
            models.push(native.build(tensors, &Device::Cpu)?);
        }
    }
    Ok(models)
}

/// Opens a zip archive held in memory, reads every entry (checking its CRC) and indexes it as a
/// checkpoint: the fuzzing entry of the zip reader. Returns the bytes read.
pub(crate) fn read_every_entry(bytes: &[u8]) -> Result<usize> {
    let path = Path::new("fuzz.pth");
    let mut archive = zip::Archive::from_bytes(bytes.to_vec(), path)?;
    let entries = archive.entries().to_vec();
    let read: usize = entries
        .iter()
        .filter_map(|e| archive.read(e).ok())
        .map(|b| b.len())
        .sum();
    let checkpoint = Checkpoint::from_archive(archive, path)?;
    Ok(read + checkpoint.groups().len())
}

/// Runs a pickle program through the interpreter and describes every value it made: the
/// fuzzing entry of the pickle interpreter alone.
pub(crate) fn describe_pickle_program(program: &[u8]) -> std::result::Result<usize, String> {
    let pk = pickle::parse(program).map_err(|e| e.to_string())?;
    let mut text = pk.describe(pk.root).len();
    for id in 0.. {
        let v = pickle::Value::Node(id);
        if pk.node(v).is_none() {
            break;
        }
        text += pk.describe(v).len();
        if let Some(t) = pk.tensor(v) {
            text += t.numel().unwrap_or(0).min(1) as usize;
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fcn() -> Architecture {
        Architecture::ReferenceFcn {
            dim: 3,
            hidden: 16,
            linears: 3,
            sequential: "mlp".into(),
            stride: 3,
        }
    }

    #[test]
    fn precedence_override_description_hyperparameters_layout() {
        let hp = HyperParameters {
            sde: Some("vesde".into()),
            sigma_min: Some(0.02),
            sigma_max: Some(4.0),
            num_scales: Some(1000),
            ..Default::default()
        };
        let r = resolve(&fcn(), &hp, &Description::default(), &Overrides::default());
        assert!(
            r.missing.is_empty() && r.problems.is_empty(),
            "{:?} {:?}",
            r.missing,
            r.problems
        );
        assert_eq!(
            r.sde,
            Some(Sde::Ve {
                sigma_min: 0.02,
                sigma_max: 4.0
            })
        );
        assert_eq!(r.time_scale, Some(999.0));
        let desc = Description {
            sigma_max: Some(8.0),
            time_scale: Some(1.0),
            ..Default::default()
        };
        let ov = Overrides {
            sigma_max: Some(16.0),
            ..Default::default()
        };
        let r = resolve(&fcn(), &hp, &desc, &ov);
        assert_eq!(
            r.sde,
            Some(Sde::Ve {
                sigma_min: 0.02,
                sigma_max: 16.0
            })
        );
        assert_eq!(r.time_scale, Some(1.0));
        assert!(r.settings.iter().any(|(k, v)| k == "SDE"
            && v.contains("σ_max = 16 (override)")
            && v.contains("σ_min = 0.02 (checkpoint hyper-parameters)")));
    }

    #[test]
    fn missing_settings_name_their_parameters() {
        let r = resolve(
            &fcn(),
            &HyperParameters::default(),
            &Description::default(),
            &Overrides::default(),
        );
        assert_eq!(r.missing.len(), 2, "{:?}", r.missing);
        assert!(r.missing.iter().any(|m| m.contains("`time_scale` 999")));
        assert!(r
            .missing
            .iter()
            .any(|m| m.contains("`sde` ve") && m.contains("`sigma_max`")));
        assert_eq!(r.prediction, Prediction::Noise);
        assert_eq!(r.activation, Activation::Elu);
        let skip = Architecture::SkipMlp {
            dim: 4,
            hidden: vec![8],
            time_features: 8,
        };
        let r = resolve(
            &skip,
            &HyperParameters::default(),
            &Description::default(),
            &Overrides::default(),
        );
        assert!(r.missing.is_empty());
        assert_eq!(r.sde, Some(Sde::vp_default()));
        assert_eq!(r.prediction, Prediction::ScaledScore);
    }

    #[test]
    fn conflicting_overrides_are_problems() {
        let ov = Overrides {
            sde: Some(SdeKind::Vp),
            sigma_max: Some(4.0),
            ..Default::default()
        };
        let r = resolve(
            &fcn(),
            &HyperParameters::default(),
            &Description::default(),
            &ov,
        );
        assert!(
            r.problems
                .iter()
                .any(|p| p.contains("`sigma_min`/`sigma_max` apply to a VE SDE")),
            "{:?}",
            r.problems
        );
        let ov = Overrides {
            sigma_max: Some(4.0),
            beta_max: Some(20.0),
            time_scale: Some(1.0),
            ..Default::default()
        };
        let r = resolve(
            &fcn(),
            &HyperParameters::default(),
            &Description::default(),
            &ov,
        );
        assert!(
            r.problems.iter().any(|p| p.contains("both given")),
            "{:?}",
            r.problems
        );
        let ov = Overrides {
            sigma_min: Some(5.0),
            sigma_max: Some(4.0),
            time_scale: Some(-1.0),
            ..Default::default()
        };
        let r = resolve(
            &fcn(),
            &HyperParameters::default(),
            &Description::default(),
            &ov,
        );
        assert_eq!(r.problems.len(), 2, "{:?}", r.problems);
    }

    #[test]
    fn description_files_are_strict() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("m.pth");
        assert_eq!(Description::path_for(&model), dir.path().join("m.pth.json"));
        assert_eq!(Description::read(&model).unwrap(), None);
        std::fs::write(
            Description::path_for(&model),
            r#"{"sde": "ve", "sigma_max": 4, "weights": "raw", "prediction": "scaled_score"}"#,
        )
        .unwrap();
        let d = Description::read(&model).unwrap().unwrap();
        assert_eq!(
            (d.sde, d.sigma_max, d.weights, d.prediction),
            (
                Some(SdeKind::Ve),
                Some(4.0),
                Some(WeightChoice::Raw),
                Some(Prediction::ScaledScore)
            )
        );
        std::fs::write(Description::path_for(&model), "{\n  \"sigma_maks\": 4\n}").unwrap();
        let e = Description::read(&model).unwrap_err().to_string();
        assert!(
            e.contains("m.pth.json:2:") && e.contains("sigma_maks"),
            "{e}"
        );
    }
}
