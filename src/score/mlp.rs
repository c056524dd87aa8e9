//! Fully connected score networks in candle, stored as safetensors with a JSON config.
//!
//! Architecture (depth L ≥ 1, width H): `layers.0`: Linear(D + T → H), then L − 1 hidden layers
//! `layers.i`: Linear(H → H) (optionally residual, h ← h + act(W h + b)), and the output
//! `layers.L`: Linear(H → D), with the activation after every layer but the last. T is the width
//! of the time input: 1 for raw or scaled t, F for a sinusoidal embedding of F features.
//!
//! The network's output is turned into a score according to its [`Prediction`]:
//! noise ε̂ → s = −ε̂/σ(t); score → s; σ-scaled score σs → s = out/σ(t);
//! data x̂₀ → s = (α x̂₀ − x)/σ².
//!
//! The model works in its own coordinates y = (x − c)/scale (see [`Frame`]); scores and
//! Jacobians are mapped back to data coordinates.

use super::autodiff::{self, network_score_methods};
use super::ScoreModel;
use crate::check::check_dim;
use crate::error::{Error, Result};
use crate::sde::{Frame, Sde};
use candle_core::{DType, Device, Tensor};
use candle_nn::{Linear, Module, VarBuilder, VarMap};
use faer::{Mat, MatRef};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Metadata key of the JSON config inside a safetensors file.
pub use crate::io::keys::MLP_CONFIG as CONFIG_KEY;

/// Nonlinearity after each hidden layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// x·sigmoid(x).
    Silu,
    /// ELU with α = 1.
    Elu,
    /// max(0, x).
    Relu,
    /// Gaussian error linear unit.
    Gelu,
    /// tanh.
    Tanh,
}

impl Activation {
    /// The nonlinearity applied elementwise.
    pub(crate) fn apply(self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Activation::Silu => x.silu(),
            Activation::Elu => x.elu(1.0),
            Activation::Relu => x.relu(),
            Activation::Gelu => x.gelu(),
            Activation::Tanh => x.tanh(),
        }
    }
}

/// How the diffusion time enters the network.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TimeInput {
    /// t itself as one extra input.
    Raw,
    /// factor·t as one extra input (e.g. 999 in the reference code).
    Scaled {
        /// The factor.
        factor: f64,
    },
    /// [sin(ωₖ·scale·t), cos(ωₖ·scale·t)] with ωₖ = 10000^(−k/(F/2)), k < F/2.
    Sinusoidal {
        /// F, the number of features (even).
        features: usize,
        /// Multiplier of t before the embedding (e.g. 1000).
        scale: f64,
    },
}

impl TimeInput {
    /// Width T of the time features.
    pub fn width(&self) -> usize {
        match self {
            TimeInput::Raw | TimeInput::Scaled { .. } => 1,
            TimeInput::Sinusoidal { features, .. } => *features,
        }
    }

    /// The time features of each t, row-major (n × T).
    pub fn features(&self, ts: &[f64]) -> Vec<f32> {
        match *self {
            TimeInput::Raw => ts.iter().map(|&t| t as f32).collect(),
            TimeInput::Scaled { factor } => ts.iter().map(|&t| (factor * t) as f32).collect(),
            TimeInput::Sinusoidal { features, scale } => {
                let half = features / 2;
                let mut out = Vec::with_capacity(ts.len() * features);
                for &t in ts {
                    let freqs =
                        (0..half).map(|k| (-(10_000f64.ln()) * k as f64 / half as f64).exp());
                    let args: Vec<f64> = freqs.map(|w| w * scale * t).collect();
                    out.extend(args.iter().map(|a| a.sin() as f32));
                    out.extend(args.iter().map(|a| a.cos() as f32));
                }
                out
            }
        }
    }
}

/// What the network's output means.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prediction {
    /// The noise ε̂: s = −ε̂/σ(t).
    Noise,
    /// The score itself.
    Score,
    /// σ(t)·s: s = out/σ(t).
    ScaledScore,
    /// The clean data x̂₀: s = (α x̂₀ − x)/σ².
    Data,
    /// The clean data with the preconditioning of Karras et al. (EDM, NeurIPS 2022): in the
    /// rescaled ŷ = y/α with σ̂ = σ/α, the network F sees c_in·ŷ and
    /// x̂₀ = c_skip·ŷ + c_out·F, with c_skip = σ_d²/(σ̂² + σ_d²), c_out = σ̂σ_d/√(σ̂² + σ_d²),
    /// c_in = 1/√(σ̂² + σ_d²). At small σ the identity is exact and F only predicts the normal
    /// correction, so the denoiser keeps its precision where the intrinsic dimension is read.
    Preconditioned {
        /// σ_d, the per-coordinate spread of the (standardised) data.
        sigma_data: f64,
    },
}

/// The affine head of a prediction at one time: the network sees c_in·y and the score is
/// s = c_out·out + c_y·y (model coordinates).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct HeadCoefficients {
    /// Scale of the network's data input.
    pub c_in: f64,
    /// Factor of the network output.
    pub c_out: f64,
    /// Factor of the input.
    pub c_y: f64,
}

impl Prediction {
    /// The head at a time whose marginal is `m`: noise −1/σ; score 1; σ-scaled score 1/σ; data
    /// α/σ² and −1/σ²; preconditioned ασ_d/(σ√(σ² + α²σ_d²)) and −1/(σ² + α²σ_d²), input
    /// 1/√(σ² + α²σ_d²).
    pub(crate) fn head(self, m: crate::sde::Marginal) -> HeadCoefficients {
        let (a, s) = (m.alpha, m.sigma);
        let (c_in, c_out, c_y) = match self {
            Prediction::Score => (1.0, 1.0, 0.0),
            Prediction::Noise => (1.0, -1.0 / s, 0.0),
            Prediction::ScaledScore => (1.0, 1.0 / s, 0.0),
            Prediction::Data => (1.0, a / (s * s), -1.0 / (s * s)),
            Prediction::Preconditioned { sigma_data: sd } => {
                let v = s * s + a * a * sd * sd;
                (1.0 / v.sqrt(), a * sd / (s * v.sqrt()), -1.0 / v)
            }
        };
        HeadCoefficients { c_in, c_out, c_y }
    }

    /// Checks the parameter of a preconditioned head.
    pub fn check(self) -> Result<()> {
        match self {
            Prediction::Preconditioned { sigma_data }
                if !(sigma_data > 0.0 && sigma_data.is_finite()) =>
            {
                Err(Error::param(
                    "sigma_data",
                    format!("must be positive and finite, got {sigma_data}"),
                ))
            }
            _ => Ok(()),
        }
    }

    /// A network output as a score: noise ε̂ → −ε̂/σ; score → itself; σ-scaled → out/σ; data x̂₀
    /// → (α x̂₀ − y)/σ² (per-row times `ts`, model coordinates).
    pub(crate) fn to_score(
        self,
        out: &Tensor,
        y: &Tensor,
        ts: &[f64],
        sde: &Sde,
    ) -> Result<Tensor> {
        let n = ts.len();
        let device = out.device();
        let col = |v: Vec<f32>| Tensor::from_vec(v, (n, 1), device);
        let marg: Vec<_> = ts.iter().map(|&t| sde.marginal(t)).collect();
        Ok(match self {
            Prediction::Score => out.clone(),
            Prediction::Noise => out.broadcast_mul(&col(marg
                .iter()
                .map(|m| (-1.0 / m.sigma) as f32)
                .collect())?)?,
            Prediction::ScaledScore => {
                out.broadcast_mul(&col(marg.iter().map(|m| (1.0 / m.sigma) as f32).collect())?)?
            }
            Prediction::Data => {
                let a = col(marg
                    .iter()
                    .map(|m| (m.alpha / (m.sigma * m.sigma)) as f32)
                    .collect())?;
                let b = col(marg
                    .iter()
                    .map(|m| (1.0 / (m.sigma * m.sigma)) as f32)
                    .collect())?;
                (out.broadcast_mul(&a)? - y.broadcast_mul(&b)?)?
            }
            Prediction::Preconditioned { .. } => {
                let heads: Vec<HeadCoefficients> = marg.iter().map(|&m| self.head(m)).collect();
                let a = col(heads.iter().map(|h| h.c_out as f32).collect())?;
                let b = col(heads.iter().map(|h| h.c_y as f32).collect())?;
                (out.broadcast_mul(&a)? + y.broadcast_mul(&b)?)?
            }
        })
    }

    /// The network's data input c_in·y at per-row times (y itself unless preconditioned).
    pub(crate) fn network_input(self, y: &Tensor, ts: &[f64], sde: &Sde) -> Result<Tensor> {
        if !matches!(self, Prediction::Preconditioned { .. }) {
            return Ok(y.clone());
        }
        let c: Vec<f32> = ts
            .iter()
            .map(|&t| self.head(sde.marginal(t)).c_in as f32)
            .collect();
        Ok(y.broadcast_mul(&Tensor::from_vec(c, (ts.len(), 1), y.device())?)?)
    }
}

/// Configuration of an [`MlpScoreNet`], stored with its weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpConfig {
    /// Ambient dimension D.
    pub dim: usize,
    /// Width H of the hidden layers.
    pub hidden: usize,
    /// Number L of hidden layers (L + 1 linear layers in all).
    pub depth: usize,
    /// Nonlinearity.
    pub activation: Activation,
    /// Residual connections around the H → H layers.
    #[serde(default)]
    pub residual: bool,
    /// Time input.
    pub time_input: TimeInput,
    /// Meaning of the output.
    pub prediction: Prediction,
    /// The SDE the model was trained under (in model coordinates).
    pub sde: Sde,
    /// Data standardisation: model coordinates y = (x − center)/scale.
    #[serde(default)]
    pub frame: Frame,
}

impl MlpConfig {
    /// A configuration with SiLU, a sinusoidal time embedding of 32 features, noise prediction.
    pub fn new(dim: usize, hidden: usize, depth: usize, sde: Sde) -> Self {
        Self {
            dim,
            hidden,
            depth,
            activation: Activation::Silu,
            residual: false,
            time_input: TimeInput::Sinusoidal {
                features: 32,
                scale: 1000.0,
            },
            prediction: Prediction::Noise,
            sde,
            frame: Frame::default(),
        }
    }

    /// Checks sizes and parameters.
    pub fn check(&self) -> Result<()> {
        if self.dim == 0 || self.hidden == 0 || self.depth == 0 {
            return Err(Error::param(
                "config",
                "dim, hidden and depth must be positive",
            ));
        }
        if let TimeInput::Sinusoidal { features, .. } = self.time_input {
            if features == 0 || features % 2 == 1 {
                return Err(Error::param(
                    "time_input",
                    "sinusoidal features must be even and positive",
                ));
            }
        }
        self.prediction.check()?;
        check_frame_and_sde(&self.frame, self.dim, &self.sde)
    }

    /// Names and shapes (out, in) of the weights, in order.
    pub fn weight_shapes(&self) -> Vec<(String, (usize, usize))> {
        (0..=self.depth)
            .map(|i| {
                let fan_in = if i == 0 {
                    self.dim + self.time_input.width()
                } else {
                    self.hidden
                };
                let fan_out = if i == self.depth {
                    self.dim
                } else {
                    self.hidden
                };
                (format!("layers.{i}"), (fan_out, fan_in))
            })
            .collect()
    }

    /// Multiply–adds per evaluated point, ×2 for FLOPs.
    pub fn flops_per_point(&self) -> f64 {
        self.weight_shapes()
            .iter()
            .map(|(_, (o, i))| 2.0 * (*o as f64) * (*i as f64))
            .sum()
    }
}

/// Checks a network's frame against its dimension D, then its SDE.
pub(crate) fn check_frame_and_sde(frame: &Frame, dim: usize, sde: &Sde) -> Result<()> {
    if !frame.center.is_empty() && frame.center.len() != dim {
        return Err(Error::DimensionMismatch {
            context: "frame center".into(),
            expected: dim,
            found: frame.center.len(),
        });
    }
    if !(frame.scale > 0.0 && frame.scale.is_finite()) {
        return Err(Error::param("frame", "scale must be positive and finite"));
    }
    sde.check()
}

/// The linear layer `name` (weights out×in) from a var builder.
pub(crate) fn linear_layer(
    vb: &VarBuilder,
    name: &str,
    (out, inp): (usize, usize),
) -> Result<Linear> {
    candle_nn::linear(inp, out, vb.pp(name)).map_err(|e| Error::Tensor {
        name: name.to_string(),
        message: e.to_string(),
    })
}

/// An MLP score network.
pub struct MlpScoreNet {
    config: MlpConfig,
    layers: Vec<Linear>,
    device: Device,
    origin: Option<PathBuf>,
    /// The fused CPU engine, for fixed weights on the CPU (scores and derivatives go through it).
    fused: Option<super::fused::FusedNet>,
}

impl MlpScoreNet {
    /// Builds the network from a var builder (a fresh `VarMap` to train, tensors to load).
    pub fn new(config: MlpConfig, vb: VarBuilder) -> Result<Self> {
        config.check()?;
        let device = vb.device().clone();
        let layers = config
            .weight_shapes()
            .into_iter()
            .map(|(name, shape)| linear_layer(&vb, &name, shape))
            .collect::<Result<Vec<_>>>()?;
        let fused = super::fused::FusedNet::for_mlp(&config, &layers)?;
        Ok(Self {
            config,
            layers,
            device,
            origin: None,
            fused,
        })
    }

    /// A freshly initialised network and the `VarMap` holding its trainable weights.
    pub fn init(config: MlpConfig, device: &Device) -> Result<(Self, VarMap)> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
        let net = Self::new(config, vb)?;
        Ok((net, varmap))
    }

    /// The configuration.
    pub fn config(&self) -> &MlpConfig {
        &self.config
    }

    /// The compute device.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Raw network output for inputs y (n×D, model coordinates) at per-row times `ts`.
    pub fn forward(&self, y: &Tensor, ts: &[f64]) -> Result<Tensor> {
        let n = y.dim(0)?;
        let tw = self.config.time_input.width();
        let time = Tensor::from_vec(self.config.time_input.features(ts), (n, tw), &self.device)?;
        let mut h = Tensor::cat(&[y, &time], 1)?;
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            let z = layer.forward(&h)?;
            h = if i == last {
                z
            } else {
                let a = self.config.activation.apply(&z)?;
                if self.config.residual && i > 0 {
                    (h + a)?
                } else {
                    a
                }
            };
        }
        Ok(h)
    }

    /// The score in model coordinates for inputs y at per-row times `ts`.
    pub fn score_tensor(&self, y: &Tensor, ts: &[f64]) -> Result<Tensor> {
        let c = &self.config;
        let out = self.forward(&c.prediction.network_input(y, ts, &c.sde)?, ts)?;
        c.prediction.to_score(&out, y, ts, &c.sde)
    }

    /// Saves weights and config to a safetensors file, atomically (config in the metadata).
    pub fn save(&self, varmap: &VarMap, path: impl AsRef<Path>) -> Result<()> {
        let tensors: HashMap<String, Tensor> = varmap
            .data()
            .lock()
            .expect("varmap lock")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
            .collect();
        save_safetensors(&tensors, &self.config, path)
    }

    /// One line naming the architecture, parameterisation and SDE (without the file).
    fn description(&self) -> String {
        let c = &self.config;
        let sde = c.sde.name();
        format!(
            "MLP score net D={} H={} L={} ({:?}, {:?} prediction, {sde} SDE)",
            c.dim, c.hidden, c.depth, c.activation, c.prediction
        )
    }

    /// Loads a network saved by [`MlpScoreNet::save`] (or with a `.json` config beside it).
    ///
    /// Tensors named `ema.*` (exponential moving averages) are preferred over raw weights.
    pub fn load(path: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let path = path.as_ref();
        let file = ModelFile::read(path)?;
        let config_text = match file.metadata(CONFIG_KEY) {
            Some(text) => text.clone(),
            None => {
                let side = path.with_extension("json");
                std::fs::read_to_string(&side).map_err(|_| {
                    file.error(format!(
                        "no `{CONFIG_KEY}` metadata and no config file {}",
                        side.display()
                    ))
                })?
            }
        };
        let config: MlpConfig = file.config(&config_text, MlpConfig::check)?;
        let tensors = file.tensors(device)?;
        let use_ema = tensors.keys().any(|k| k.starts_with("ema."));
        let prefix = if use_ema { "ema." } else { "" };
        let expected = config.weight_shapes();
        for name in tensors.keys() {
            let base = name.strip_prefix("ema.").unwrap_or(name);
            let known = expected
                .iter()
                .any(|(n, _)| base == format!("{n}.weight") || base == format!("{n}.bias"));
            if !known && !name.starts_with("optim.") && !name.starts_with("best.") {
                return Err(file.unknown_tensor(name));
            }
        }
        let mut chosen = HashMap::new();
        for (layer, shape) in &expected {
            file.take_linear(&tensors, prefix, layer, *shape, &mut chosen)?;
        }
        let vb = VarBuilder::from_tensors(chosen, DType::F32, device);
        let mut net = Self::new(config, vb)?;
        net.origin = Some(path.into());
        Ok(net)
    }

    /// Whether the loaded weights were exponential moving averages (always false for fresh nets).
    pub fn origin(&self) -> Option<&Path> {
        self.origin.as_deref()
    }
}

/// Writes named tensors and a config as safetensors (config JSON in the metadata), atomically.
pub fn save_safetensors(
    tensors: &HashMap<String, Tensor>,
    config: &MlpConfig,
    path: impl AsRef<Path>,
) -> Result<()> {
    let text = serde_json::to_string(config).expect("serialisable config");
    write_safetensors(tensors, CONFIG_KEY, &text, path.as_ref())
}

/// Writes named f32 tensors as safetensors with one metadata entry, atomically.
pub(crate) fn write_safetensors(
    tensors: &HashMap<String, Tensor>,
    key: &str,
    value: &str,
    path: &Path,
) -> Result<()> {
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let mut owned = Vec::with_capacity(names.len());
    for name in names {
        let t = tensors[name]
            .to_dtype(DType::F32)?
            .to_device(&Device::Cpu)?;
        let data: Vec<f32> = t.flatten_all()?.to_vec1()?;
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        owned.push((name.clone(), t.dims().to_vec(), bytes));
    }
    let views = owned
        .iter()
        .map(|(n, shape, bytes)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                .map(|v| (n.clone(), v))
                .map_err(|e| Error::Tensor {
                    name: n.clone(),
                    message: e.to_string(),
                })
        })
        .collect::<Result<Vec<_>>>()?;
    let meta = HashMap::from([(key.to_string(), value.to_string())]);
    let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| Error::Model {
        path: Some(path.into()),
        message: e.to_string(),
    })?;
    crate::io::write_atomic(path, |w| w.write_all(&bytes))
}

/// A safetensors model file read whole, for loaders whose errors name it.
pub(crate) struct ModelFile<'a> {
    path: &'a Path,
    bytes: Vec<u8>,
    metadata: HashMap<String, String>,
}

impl<'a> ModelFile<'a> {
    /// Reads the file and its metadata.
    pub(crate) fn read(path: &'a Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let metadata = match safetensors::SafeTensors::read_metadata(&bytes) {
            Ok((_, meta)) => meta.metadata().clone().unwrap_or_default(),
            Err(e) => {
                return Err(model_error(
                    path,
                    format!("not a valid safetensors file: {e}"),
                ));
            }
        };
        Ok(Self {
            path,
            bytes,
            metadata,
        })
    }

    /// An error about the file as a whole.
    pub(crate) fn error(&self, message: String) -> Error {
        model_error(self.path, message)
    }

    /// The metadata entry `key`.
    pub(crate) fn metadata(&self, key: &str) -> Option<&String> {
        self.metadata.get(key)
    }

    /// A JSON config parsed from `text` and checked.
    pub(crate) fn config<C: DeserializeOwned>(
        &self,
        text: &str,
        check: impl FnOnce(&C) -> Result<()>,
    ) -> Result<C> {
        let config =
            serde_json::from_str(text).map_err(|e| self.error(format!("bad config: {e}")))?;
        check(&config).map_err(|e| self.error(e.to_string()))?;
        Ok(config)
    }

    /// Every tensor of the file, on `device`.
    pub(crate) fn tensors(&self, device: &Device) -> Result<HashMap<String, Tensor>> {
        candle_core::safetensors::load_buffer(&self.bytes, device)
            .map_err(|e| self.error(format!("cannot read tensors: {e}")))
    }

    /// The error for a tensor no layer uses.
    pub(crate) fn unknown_tensor(&self, name: &str) -> Error {
        Error::Tensor {
            name: name.to_string(),
            message: format!("unknown tensor in {}", self.path.display()),
        }
    }

    /// Moves `{prefix}{layer}.weight` (out×in) and `{prefix}{layer}.bias` (out) from `tensors`
    /// into `chosen` as f32, named without the prefix, after checking their shapes.
    pub(crate) fn take_linear(
        &self,
        tensors: &HashMap<String, Tensor>,
        prefix: &str,
        layer: &str,
        (out, inp): (usize, usize),
        chosen: &mut HashMap<String, Tensor>,
    ) -> Result<()> {
        for (suffix, shape) in [("weight", vec![out, inp]), ("bias", vec![out])] {
            let name = format!("{prefix}{layer}.{suffix}");
            let t = tensors.get(&name).ok_or_else(|| Error::Tensor {
                name: name.clone(),
                message: format!("missing from {}", self.path.display()),
            })?;
            if t.dims() != shape.as_slice() {
                return Err(Error::Tensor {
                    name,
                    message: format!(
                        "shape {:?} in {}, config needs {shape:?}",
                        t.dims(),
                        self.path.display()
                    ),
                });
            }
            chosen.insert(format!("{layer}.{suffix}"), t.to_dtype(DType::F32)?);
        }
        Ok(())
    }
}

/// A model error naming the file.
fn model_error(path: &Path, message: String) -> Error {
    Error::Model {
        path: Some(path.into()),
        message,
    }
}

impl ScoreModel for MlpScoreNet {
    network_score_methods!("the MLP score model");

    fn score_vjp(&self, x: MatRef<'_, f64>, t: f64, v: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_dim(self.dim(), x.ncols(), "the MLP score model")?;
        if let Some(f) = &self.fused {
            return f.vjp(x, t, v);
        }
        autodiff::vjp(&self.config.frame, &self.device, x, t, v, |y, ts| {
            self.score_tensor(y, ts)
        })
    }
}

/// The compute device: CUDA device 0 when built with the `cuda` feature and one is present.
pub fn default_device() -> Device {
    #[cfg(feature = "cuda")]
    {
        if let Ok(d) = Device::cuda_if_available(0) {
            return d;
        }
    }
    Device::Cpu
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(prediction: Prediction) -> (MlpScoreNet, VarMap) {
        let mut c = MlpConfig::new(3, 16, 2, Sde::vp_default());
        c.prediction = prediction;
        c.frame = Frame {
            center: vec![0.5, -1.0, 2.0],
            scale: 2.0,
        };
        MlpScoreNet::init(c, &Device::Cpu).unwrap()
    }

    #[test]
    fn vjp_names_a_cotangent_of_the_wrong_shape() {
        let (net, _) = small(Prediction::Data);
        let x = Mat::from_fn(4, 3, |i, j| (i + j) as f64 * 0.3);
        for (v, what) in [
            (Mat::<f64>::zeros(4, 2), "cotangent columns"),
            (Mat::<f64>::zeros(3, 3), "cotangent rows"),
        ] {
            let err = net
                .score_vjp(x.as_ref(), 0.1, v.as_ref())
                .unwrap_err()
                .to_string();
            assert!(err.contains(what), "{err}");
        }
    }

    #[test]
    fn save_load_round_trip() {
        let (net, vm) = small(Prediction::Noise);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.safetensors");
        net.save(&vm, &p).unwrap();
        let back = MlpScoreNet::load(&p, &Device::Cpu).unwrap();
        assert_eq!(back.config(), net.config());
        let x = Mat::from_fn(4, 3, |i, j| (i + j) as f64 * 0.3);
        let (a, b) = (
            net.score(x.as_ref(), 0.1).unwrap(),
            back.score(x.as_ref(), 0.1).unwrap(),
        );
        // the trained net runs on candle, the loaded one on the fused engine: equal to rounding
        assert!(net.fused.is_none() && back.fused.is_some());
        for i in 0..4 {
            for j in 0..3 {
                assert!((a[(i, j)] - b[(i, j)]).abs() < 1e-5 * (1.0 + a[(i, j)].abs()));
            }
        }
        crate::score::autodiff::tests::check_derivatives(&back, 0.5, "loaded");
    }

    #[test]
    fn autodiff_jacobian_matches_finite_differences() {
        for pred in [Prediction::Noise, Prediction::Data] {
            let (net, _vm) = small(pred);
            crate::score::autodiff::tests::check_derivatives(&net, 0.5, &format!("{pred:?}"));
        }
    }

    #[test]
    fn rejects_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.safetensors");
        std::fs::write(&p, b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage").unwrap();
        let e = MlpScoreNet::load(&p, &Device::Cpu)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("bad.safetensors") && e.contains("safetensors"),
            "{e}"
        );
        // unknown config key
        let (net, vm) = small(Prediction::Noise);
        let good = dir.path().join("m.safetensors");
        net.save(&vm, &good).unwrap();
        let mut cfg = serde_json::to_value(net.config()).unwrap();
        cfg["bogus"] = serde_json::json!(1);
        let tensors: HashMap<String, Tensor> =
            candle_core::safetensors::load(&good, &Device::Cpu).unwrap();
        let bytes = {
            let mut c2 = net.config().clone();
            c2.hidden = 16;
            save_safetensors(&tensors, &c2, &good).unwrap();
            std::fs::read(&good).unwrap()
        };
        assert!(!bytes.is_empty());
        std::fs::write(good.with_extension("json"), cfg.to_string()).unwrap();
        let side = dir.path().join("m2.safetensors");
        let views: Vec<(String, Tensor)> = tensors.into_iter().collect();
        candle_core::safetensors::save(&views.into_iter().collect::<HashMap<_, _>>(), &side)
            .unwrap();
        std::fs::write(side.with_extension("json"), cfg.to_string()).unwrap();
        let e = MlpScoreNet::load(&side, &Device::Cpu)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("unknown field `bogus`"), "{e}");
    }
}
