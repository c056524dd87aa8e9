//! Checkpoints: one safetensors file that is both a loadable model and a resumable training state.
//!
//! | tensor | meaning |
//! |---|---|
//! | `layers.{i}.weight`, `layers.{i}.bias` | raw weights (resumable checkpoints only) |
//! | `ema.layers.{i}.…` | EMA weights, which [`MlpScoreNet::load`](crate::score::mlp::MlpScoreNet::load) prefers |
//! | `optim.m.layers.{i}.…`, `optim.v.layers.{i}.…` | Adam moments (resumable checkpoints only) |
//!
//! The metadata holds the network config under [`CONFIG_KEY`] and the [`TrainState`] (settings,
//! step, data hash, loss history) under [`TRAIN_STATE_KEY`]. The batches, noise and split are
//! functions of the seed and the step, so these tensors and the step are the whole state.

use super::optim::ParamState;
use super::params::TrainParams;
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::score::mlp::{MlpConfig, CONFIG_KEY};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// Metadata key of the [`TrainState`] JSON.
pub use crate::io::keys::TRAIN_STATE as TRAIN_STATE_KEY;

/// What a checkpoint file contains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaveMode {
    /// Raw and EMA weights and Adam moments: training can resume from it.
    Resumable,
    /// EMA weights only (a quarter of the size): for inference, caches and shipped models.
    EmaOnly,
}

/// Validation loss and mean training loss at one step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Steps done.
    pub step: u64,
    /// Mean training loss over the steps since the previous entry.
    pub train_loss: Option<f64>,
    /// Validation loss of the EMA weights (None without a validation split).
    pub val_loss: Option<f64>,
    /// Held-out fidelity of the EMA weights: the DSM loss of the validation points at the small
    /// noise levels where the intrinsic dimension is read (see [`Session`](super::Session)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fidelity_loss: Option<f64>,
    /// Training wall-clock seconds so far (all runs of the session).
    pub elapsed_s: f64,
}

/// The training state stored in a checkpoint's metadata.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainState {
    /// Format version of this record.
    pub format: u32,
    /// The settings of the run.
    pub params: TrainParams,
    /// Optimisation steps done.
    pub step: u64,
    /// [`Dataset::content_hash`](crate::data::Dataset::content_hash) of the training data.
    pub data_hash: String,
    /// Points used for training.
    pub n_train: usize,
    /// Points held out for validation.
    pub n_val: usize,
    /// Whether the file holds the raw weights and Adam moments.
    pub resumable: bool,
    /// Losses at every evaluation.
    pub history: Vec<HistoryEntry>,
    /// Step of the lowest held-out fidelity loss so far (its EMA weights are kept as `best.*`
    /// tensors in a resumable file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_step: Option<u64>,
    /// Step at which early stopping ended the run; the EMA weights are then those of `best_step`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<u64>,
    /// The head pilot that chose this run's head, where one ran
    /// ([`TrainParams::head_pilot`](super::TrainParams::head_pilot)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_pilot: Option<HeadPilot>,
}

/// The held-out fidelity losses of the two heads after the pilot's steps
/// ([`Trainer::start`](super::Trainer::start)); the lower one trained on.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeadPilot {
    /// Steps each head trained before the choice.
    pub steps: u64,
    /// Fidelity loss of the preconditioned head (the recipe's) at that step.
    pub preconditioned: f64,
    /// Fidelity loss of the data head at that step.
    pub data: f64,
}

impl HeadPilot {
    /// The head that trained on: the data head only where its loss is strictly lower.
    pub fn chose_data(&self) -> bool {
        self.data < self.preconditioned
    }
}

/// Current format version of [`TrainState`].
pub(crate) const FORMAT: u32 = 1;

/// Writes the parameter states and metadata as one safetensors file, atomically.
pub(crate) fn write(
    path: &Path,
    config: &MlpConfig,
    state: &TrainState,
    params: &[ParamState],
    best: Option<&[Vec<f32>]>,
    mode: SaveMode,
) -> Result<()> {
    let mut tensors: Vec<(String, &[usize], &[f32])> = Vec::new();
    for (i, p) in params.iter().enumerate() {
        tensors.push((format!("ema.{}", p.name), &p.shape, &p.ema));
        if mode == SaveMode::Resumable {
            tensors.push((p.name.clone(), &p.shape, &p.value));
            tensors.push((format!("optim.m.{}", p.name), &p.shape, &p.m));
            tensors.push((format!("optim.v.{}", p.name), &p.shape, &p.v));
            if let Some(best) = best {
                tensors.push((format!("best.{}", p.name), &p.shape, &best[i]));
            }
        }
    }
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let mut views = Vec::with_capacity(tensors.len());
    for ((name, shape, _), data) in tensors.iter().zip(&bytes) {
        let view =
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.to_vec(), data)
                .map_err(|e| Error::Tensor {
                    name: name.clone(),
                    message: e.to_string(),
                })?;
        views.push((name.clone(), view));
    }
    let to_json = |what: &str, r: serde_json::Result<String>| {
        r.map_err(|e| Error::Model {
            path: Some(path.into()),
            message: format!("cannot serialise the {what}: {e}"),
        })
    };
    let meta = HashMap::from([
        (
            CONFIG_KEY.to_string(),
            to_json("config", serde_json::to_string(config))?,
        ),
        (
            TRAIN_STATE_KEY.to_string(),
            to_json("training state", serde_json::to_string(state))?,
        ),
    ]);
    let out = safetensors::serialize(views, Some(meta)).map_err(|e| Error::Model {
        path: Some(path.into()),
        message: e.to_string(),
    })?;
    write_atomic(path, |w| w.write_all(&out))
}

/// A checkpoint read back: config, training state (when the file has one) and f32 tensors.
pub(crate) struct Loaded {
    pub config: MlpConfig,
    pub state: Option<TrainState>,
    pub tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

/// Reads a checkpoint's config and training state without its tensors.
pub fn read_state(path: impl AsRef<Path>) -> Result<(MlpConfig, Option<TrainState>)> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let (config, state, _) = parse_header(path, &bytes)?;
    Ok((config, state))
}

fn parse_header(path: &Path, bytes: &[u8]) -> Result<(MlpConfig, Option<TrainState>, usize)> {
    let bad = |message: String| Error::Model {
        path: Some(path.into()),
        message,
    };
    let (header_len, meta) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| bad(format!("not a valid safetensors file: {e}")))?;
    let meta = meta.metadata().clone().unwrap_or_default();
    let config_text = meta
        .get(CONFIG_KEY)
        .ok_or_else(|| bad(format!("no `{CONFIG_KEY}` metadata")))?;
    let config: MlpConfig =
        serde_json::from_str(config_text).map_err(|e| bad(format!("bad config: {e}")))?;
    config
        .check()
        .map_err(|e| bad(format!("bad config: {e}")))?;
    let state = match meta.get(TRAIN_STATE_KEY) {
        Some(text) => {
            let s = parse_state(text)
                .map_err(|e| bad(format!("bad `{TRAIN_STATE_KEY}` metadata: {e}")))?;
            if s.format != FORMAT {
                return Err(bad(format!(
                    "training-state format {} (this build reads {FORMAT})",
                    s.format
                )));
            }
            Some(s)
        }
        None => None,
    };
    Ok((config, state, header_len))
}

/// The training state in `text`; a value of the wrong type is reported with the setting it belongs
/// to (serde alone names only the line and column).
fn parse_state(text: &str) -> std::result::Result<TrainState, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    serde_json::from_value(value.clone()).map_err(|e| match culprit(&value) {
        Some(name) => format!("training parameter `{name}`: {e}"),
        None => e.to_string(),
    })
}

/// The stored training parameter whose value keeps `state` from deserialising: the one that,
/// replaced by the default recipe's value, lets it through.
fn culprit(state: &serde_json::Value) -> Option<String> {
    let defaults = serde_json::to_value(TrainParams::default()).ok()?;
    let params = state.get("params")?.as_object()?;
    params.keys().find_map(|name| {
        let mut patched = state.clone();
        patched["params"][name] = defaults.get(name)?.clone();
        serde_json::from_value::<TrainState>(patched)
            .is_ok()
            .then(|| name.clone())
    })
}

/// Reads a whole checkpoint (tensors as f32).
pub(crate) fn read(path: &Path) -> Result<Loaded> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let (config, state, _) = parse_header(path, &bytes)?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| Error::Model {
        path: Some(path.into()),
        message: format!("cannot read tensors: {e}"),
    })?;
    let mut tensors = HashMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != safetensors::Dtype::F32 {
            return Err(Error::Tensor {
                name,
                message: format!(
                    "dtype {:?} in {}, checkpoints hold f32",
                    view.dtype(),
                    path.display()
                ),
            });
        }
        let values = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        tensors.insert(name, (view.shape().to_vec(), values));
    }
    Ok(Loaded {
        config,
        state,
        tensors,
    })
}

impl Loaded {
    /// Moves the tensor `name` out, checking its shape.
    pub fn take(&mut self, name: &str, shape: &[usize], path: &Path) -> Result<Vec<f32>> {
        let (found, values) = self.tensors.remove(name).ok_or_else(|| Error::Tensor {
            name: name.to_string(),
            message: format!("missing from {} (needed to resume)", path.display()),
        })?;
        if found != shape {
            return Err(Error::Tensor {
                name: name.to_string(),
                message: format!(
                    "shape {found:?} in {}, the config needs {shape:?}",
                    path.display()
                ),
            });
        }
        Ok(values)
    }
}
