//! Plumbing shared by the commands: model resolution, output, error classification.

use crate::data::{write_atomic, Dataset};
use crate::error::Error;
use crate::score::analytic::GaussianMixture;
use crate::score::mlp::{default_device, MlpScoreNet};
use crate::score::ScoreModel;
use crate::sde::Sde;
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

/// Whether the error is a closed stdout pipe (e.g. `| head`), which is not a failure.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
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

/// What `--model` names: a model file, or an analytic oracle built on the data.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelSpec {
    /// A model file (native safetensors).
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
        match s.strip_prefix("mixture") {
            Some("") => Ok(ModelSpec::Mixture { h: 0.0 }),
            Some(rest) => {
                let h = rest
                    .strip_prefix(':')
                    .and_then(|v| v.parse::<f64>().ok())
                    .filter(|h| *h >= 0.0 && h.is_finite())
                    .ok_or_else(|| format!("`{s}`: expected `mixture` or `mixture:H` with H ≥ 0"))?;
                Ok(ModelSpec::Mixture { h })
            }
            None => Ok(ModelSpec::File(PathBuf::from(s))),
        }
    }
}

/// The SDE of the mixture oracle on `data`: VE from σ_min = 10⁻³·diameter to σ_max = diameter.
pub fn mixture_sde(data: &Dataset) -> Sde {
    let d = data.dim();
    let (mut lo, mut hi) = (vec![f64::INFINITY; d], vec![f64::NEG_INFINITY; d]);
    for row in data.rows() {
        for j in 0..d {
            lo[j] = lo[j].min(row[j]);
            hi[j] = hi[j].max(row[j]);
        }
    }
    let diameter = lo.iter().zip(&hi).map(|(a, b)| (b - a).powi(2)).sum::<f64>().sqrt().max(1e-12);
    Sde::Ve { sigma_min: 1e-3 * diameter, sigma_max: diameter }
}

/// Loads the model that `spec` names, for use on `data`.
pub fn load_model(spec: &ModelSpec, data: &Dataset) -> anyhow::Result<Box<dyn ScoreModel>> {
    Ok(match spec {
        ModelSpec::Mixture { h } => Box::new(GaussianMixture::new(data.clone(), h * h, mixture_sde(data))?),
        ModelSpec::File(path) => {
            let net = MlpScoreNet::load(path, &default_device())
                .with_context(|| format!("cannot load the score model {}", path.display()))?;
            Box::new(net)
        }
    })
}

/// The error shown when no model is given and no default can be made.
pub fn model_required() -> anyhow::Error {
    anyhow::anyhow!(
        "a score model is needed: pass --model MODEL.safetensors (trained with `scoregeo train`), \
         or --model mixture for the analytic Gaussian-mixture score of the data itself"
    )
}
