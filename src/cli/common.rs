//! Plumbing shared by the commands: model resolution, output, error classification.

use crate::data::Dataset;
use crate::error::Error;
use crate::io::write_atomic;
use crate::score::analytic::GaussianMixture;
use crate::score::mlp::Prediction;
use crate::score::pytorch::Overrides;
use crate::score::{Loader, NoiseLevel, ScoreModel};
use crate::sde::SdeKind;
use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Exit code for an error: 2 for a bad parameter (usage), 1 otherwise.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<Error>() {
        Some(Error::InvalidParameter { .. }) => 2,
        _ => 1,
    }
}

/// The library's words for what is a flag here: backticked parameter names (and the origin of an
/// overridden setting), each with the flag that sets it.
const FLAG_WORDS: [(&str, &str); 13] = [
    ("`sde`", "--sde"),
    ("`sigma_min`", "--sigma-min"),
    ("`sigma_max`", "--sigma-max"),
    ("`sigma_*`", "--sigma-*"),
    ("`beta_min`", "--beta-min"),
    ("`beta_max`", "--beta-max"),
    ("`beta_*`", "--beta-*"),
    ("`time_scale`", "--time-scale"),
    ("`prediction`", "--prediction"),
    ("`lr`", "--lr"),
    ("`sigma`", "--sigma"),
    ("`t0`", "--t0"),
    ("(override)", "(flag)"),
];

/// A library message in the words of this command line: parameter names become the flags that
/// set them, except in the `invalid parameter `name`` header, which names the parameter itself.
pub fn cli_words(text: &str) -> String {
    const HEADER: &str = "invalid parameter ";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let next = FLAG_WORDS
            .iter()
            .filter_map(|&(word, flag)| rest.find(word).map(|at| (at, word, flag)))
            .min_by_key(|&(at, word, _)| (at, std::cmp::Reverse(word.len())));
        let Some((at, word, flag)) = next else {
            out.push_str(rest);
            break;
        };
        out.push_str(&rest[..at]);
        if out.ends_with(HEADER) {
            out.push_str(word);
        } else {
            out.push_str(flag);
        }
        rest = &rest[at + word.len()..];
    }
    out
}

/// The progress reporting `--quiet` asks for, set once per process by [`set_progress`].
static PROGRESS: std::sync::OnceLock<crate::progress::Progress> = std::sync::OnceLock::new();

/// Records the progress reporting of this run (the first call wins).
pub fn set_progress(progress: crate::progress::Progress) {
    let _ = PROGRESS.set(progress);
}

/// The progress reporting of this run, for every library call that reports progress.
pub fn progress() -> crate::progress::Progress {
    PROGRESS.get().copied().unwrap_or_default()
}

/// Whether the error is a closed stdout pipe (e.g. `| head`), which is not a failure.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    let broken = |io: &std::io::Error| io.kind() == std::io::ErrorKind::BrokenPipe;
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(broken)
            || matches!(c.downcast_ref::<Error>(), Some(Error::Io { cause, .. }) if broken(cause))
    })
}

/// Writes `text` to the file `output` (atomically) or to stdout.
pub fn emit(output: Option<&Path>, text: &str) -> anyhow::Result<()> {
    match output {
        Some(path) => write_atomic(path, |w| w.write_all(text.as_bytes()))?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(())
}

/// Reads a dataset file, with the file named in the error.
pub fn read_data(path: &Path) -> anyhow::Result<Dataset> {
    Ok(Dataset::read(path)?)
}

/// What `--model` names: a model file, an analytic oracle built on the data, or the default.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum ModelSpec {
    /// The embedded default (`--model default`, or no `--model`): a model shipped for the data,
    /// else one cached for it, else one trained now with the default recipe and cached.
    #[default]
    Default,
    /// A model file (native safetensors, or a PyTorch checkpoint .pt/.pth/.ckpt).
    File(PathBuf),
    /// The Gaussian mixture on the data points with component standard deviation h.
    Mixture {
        /// Component standard deviation (0: the noised empirical distribution).
        h: f64,
    },
}

impl std::str::FromStr for ModelSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s == "default" {
            return Ok(ModelSpec::Default);
        }
        match s.strip_prefix("mixture") {
            Some("") => Ok(ModelSpec::Mixture { h: 0.0 }),
            Some(rest) => {
                let h = rest
                    .strip_prefix(':')
                    .and_then(|v| v.parse::<f64>().ok())
                    .filter(|h| *h >= 0.0 && h.is_finite())
                    .ok_or_else(|| {
                        format!("`{s}`: expected `mixture` or `mixture:H` with H ≥ 0")
                    })?;
                Ok(ModelSpec::Mixture { h })
            }
            None => Ok(ModelSpec::File(PathBuf::from(s))),
        }
    }
}

/// Loads the model that `spec` names, for use on `data`.
pub fn load_model(spec: &ModelSpec, data: &Dataset) -> anyhow::Result<Box<dyn ScoreModel>> {
    load_model_with(spec, data, &ModelOverrides::default())
}

/// Loads the model that `spec` names, completing a PyTorch checkpoint with `overrides`.
pub fn load_model_with(
    spec: &ModelSpec,
    data: &Dataset,
    overrides: &ModelOverrides,
) -> anyhow::Result<Box<dyn ScoreModel>> {
    Ok(match spec {
        ModelSpec::Default => Box::new(default_model(data)?),
        ModelSpec::Mixture { h } => Box::new(GaussianMixture::oracle(data.clone(), *h)?),
        ModelSpec::File(path) => {
            let net = Loader::new(path)
                .overrides(overrides.to_library())
                .load()
                .context("cannot load the score model")?;
            if crate::io::is_pytorch_checkpoint(path) {
                eprintln!("model: {}", net.describe());
            }
            net
        }
    })
}

/// Flags that complete or override what a PyTorch checkpoint does not say (its SDE, time input,
/// parameterisation); native models fix these in their config.
#[derive(clap::Args, Clone, Debug, Default, PartialEq)]
pub struct ModelOverrides {
    /// SDE of a PyTorch checkpoint: ve, vp or subvp.
    #[arg(long, value_name = "KIND", value_parser = parse_sde_kind)]
    pub sde: Option<SdeKind>,
    /// σ_min of a VE SDE (PyTorch checkpoints; default 0.01).
    #[arg(long, value_name = "S")]
    pub sigma_min: Option<f64>,
    /// σ_max of a VE SDE (PyTorch checkpoints).
    #[arg(long, value_name = "S")]
    pub sigma_max: Option<f64>,
    /// β_min of a VP SDE (PyTorch checkpoints; default 0.1).
    #[arg(long, value_name = "B")]
    pub beta_min: Option<f64>,
    /// β_max of a VP SDE (PyTorch checkpoints; default 20).
    #[arg(long, value_name = "B")]
    pub beta_max: Option<f64>,
    /// The network sees S·t: 1 for t itself, 999 for the official ID code (PyTorch checkpoints).
    #[arg(long, value_name = "S")]
    pub time_scale: Option<f64>,
    /// What a PyTorch network outputs: noise, score, scaled-score (σ·s) or data (x̂₀).
    #[arg(long, value_name = "KIND", value_parser = parse_prediction)]
    pub prediction: Option<Prediction>,
}

impl ModelOverrides {
    /// The library's form of these flags.
    pub fn to_library(&self) -> Overrides {
        Overrides {
            sde: self.sde,
            sigma_min: self.sigma_min,
            sigma_max: self.sigma_max,
            beta_min: self.beta_min,
            beta_max: self.beta_max,
            time_scale: self.time_scale,
            prediction: self.prediction,
        }
    }
}

fn parse_sde_kind(s: &str) -> Result<SdeKind, String> {
    s.parse()
        .map_err(|_| format!("`{s}`: expected ve, vp or subvp"))
}

fn parse_prediction(s: &str) -> Result<Prediction, String> {
    match s.to_ascii_lowercase().replace('_', "-").as_str() {
        "noise" | "eps" | "epsilon" => Ok(Prediction::Noise),
        "score" => Ok(Prediction::Score),
        "scaled-score" => Ok(Prediction::ScaledScore),
        "data" | "x0" => Ok(Prediction::Data),
        other => match other
            .strip_prefix("preconditioned")
            .or_else(|| other.strip_prefix("edm"))
        {
            Some(rest) => {
                let sigma_data = match rest.strip_prefix(':') {
                    Some(v) => v
                        .parse::<f64>()
                        .map_err(|_| format!("`{s}`: σ_d after ':' must be a number"))?,
                    None if rest.is_empty() => crate::train::DEFAULT_SIGMA_DATA,
                    None => return Err(format!("`{s}`: expected preconditioned[:σ_d]")),
                };
                let p = Prediction::Preconditioned { sigma_data };
                p.check().map_err(|e| format!("`{s}`: {e}"))?;
                Ok(p)
            }
            None => Err(format!(
                "`{s}`: expected noise, score, scaled-score, data or preconditioned[:σ_d]"
            )),
        },
    }
}

/// The embedded default model for `data` (see [`crate::train::default_model`]), saying on stderr
/// where it came from. Shipped models are looked for in `datasets/models/` under the working
/// directory and under the source tree this binary was built from.
pub fn default_model(data: &Dataset) -> anyhow::Result<crate::score::mlp::MlpScoreNet> {
    use crate::train::{CacheOptions, Provenance};
    let shipped = [Path::new("."), Path::new(env!("CARGO_MANIFEST_DIR"))]
        .iter()
        .map(|root| root.join("datasets").join("models"))
        .collect();
    let options = CacheOptions {
        shipped,
        progress: progress(),
        ..CacheOptions::default()
    };
    let crate::train::DefaultModel {
        model: net,
        path,
        provenance,
    } = crate::train::default_model(data, &options)
        .context("cannot make the default score model")?;
    match provenance {
        Provenance::Shipped => eprintln!("model: shipped pre-trained model {}", path.display()),
        Provenance::Cached => eprintln!("model: cached default model {} (same data, same recipe)", path.display()),
        Provenance::Trained(r) => eprintln!(
            "model: trained the default recipe ({} steps, {:.1} s, validation loss {}); cached at {}",
            r.steps,
            r.elapsed.as_secs_f64(),
            r.val_loss.map_or("n/a".into(), |l| format!("{l:.4}")),
            path.display()
        ),
    }
    Ok(net)
}

/// The error shown when no model is given and no default can be made.
pub fn model_required() -> anyhow::Error {
    anyhow::anyhow!(
        "a score model is needed: pass --model MODEL.safetensors (trained with `scoregeo train`), \
         a PyTorch checkpoint --model MODEL.pth (see `scoregeo inspect-model`), \
         or --model mixture for the analytic Gaussian-mixture score of the data itself"
    )
}

/// The t₀ the flags ask for: `--t0`, else the time of `--sigma` (data units), else for the mixture
/// oracle the time of its default σ on `data` (drawn with `seed`, said once on stderr); `None`
/// leaves the library default.
pub fn resolve_t0(
    t0: Option<f64>,
    sigma: Option<f64>,
    spec: &ModelSpec,
    model: &dyn ScoreModel,
    data: Option<&Dataset>,
    seed: u64,
) -> anyhow::Result<Option<f64>> {
    let level = match (t0, sigma, spec, data) {
        (Some(t0), ..) => NoiseLevel::Time(t0),
        (None, Some(sigma), ..) => NoiseLevel::Sigma(sigma),
        (None, None, ModelSpec::Mixture { h }, Some(data)) => {
            let sigma = GaussianMixture::default_sigma(data, *h, seed)?;
            static NOTE: std::sync::Once = std::sync::Once::new();
            NOTE.call_once(|| {
                eprintln!(
                    "mixture oracle: σ = {sigma:.4e} (median distance to the 5th neighbour; set --sigma to change)"
                )
            });
            NoiseLevel::Sigma(sigma)
        }
        _ => return Ok(None),
    };
    Ok(Some(level.t0(model)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_words_become_flags_outside_the_header() {
        assert_eq!(
            cli_words("invalid parameter `lr`: too large; try a smaller `lr`"),
            "invalid parameter `lr`: too large; try a smaller --lr"
        );
        assert_eq!(
            cli_words("pass `sde` ve `sigma_min` … (override), `sigma_*` and `k`"),
            "pass --sde ve --sigma-min … (flag), --sigma-* and `k`"
        );
        assert_eq!(cli_words("no parameters"), "no parameters");
    }
}
