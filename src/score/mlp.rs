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

use super::tensor::{mat_to_tensor, tensor_to_mat};
use super::{check_dim, ScoreModel};
use crate::error::{Error, Result};
use crate::sde::{Frame, Sde};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{Linear, Module, VarBuilder, VarMap};
use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Metadata key of the JSON config inside a safetensors file.
pub const CONFIG_KEY: &str = "scoregeo_config";

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
    fn apply(self, x: &Tensor) -> candle_core::Result<Tensor> {
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
        if !self.frame.center.is_empty() && self.frame.center.len() != self.dim {
            return Err(Error::DimensionMismatch {
                context: "frame center".into(),
                expected: self.dim,
                found: self.frame.center.len(),
            });
        }
        if !(self.frame.scale > 0.0 && self.frame.scale.is_finite()) {
            return Err(Error::param("frame", "scale must be positive and finite"));
        }
        self.sde.check()
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

/// An MLP score network.
pub struct MlpScoreNet {
    config: MlpConfig,
    layers: Vec<Linear>,
    device: Device,
    origin: Option<PathBuf>,
}

impl MlpScoreNet {
    /// Builds the network from a var builder (a fresh `VarMap` to train, tensors to load).
    pub fn new(config: MlpConfig, vb: VarBuilder) -> Result<Self> {
        config.check()?;
        let device = vb.device().clone();
        let layers = config
            .weight_shapes()
            .into_iter()
            .map(|(name, (out, inp))| {
                candle_nn::linear(inp, out, vb.pp(&name)).map_err(|e| Error::Tensor {
                    name: name.clone(),
                    message: e.to_string(),
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            config,
            layers,
            device,
            origin: None,
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
        let out = self.forward(y, ts)?;
        let n = ts.len();
        let col = |v: Vec<f32>| Tensor::from_vec(v, (n, 1), &self.device);
        let marg: Vec<_> = ts.iter().map(|&t| self.config.sde.marginal(t)).collect();
        Ok(match self.config.prediction {
            Prediction::Score => out,
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
        })
    }

    /// Data points x (n×D) as a tensor of model coordinates y = (x − c)/scale.
    fn to_model(&self, x: MatRef<'_, f64>) -> Result<Tensor> {
        let f = &self.config.frame;
        let y = Mat::from_fn(x.nrows(), x.ncols(), |i, j| {
            (x[(i, j)] - f.center_at(j)) / f.scale
        });
        mat_to_tensor(y.as_ref(), &self.device)
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

    /// Loads a network saved by [`MlpScoreNet::save`] (or with a `.json` config beside it).
    ///
    /// Tensors named `ema.*` (exponential moving averages) are preferred over raw weights.
    pub fn load(path: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let path = path.as_ref();
        let model_err = |message: String| Error::Model {
            path: Some(path.into()),
            message,
        };
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| model_err(format!("not a valid safetensors file: {e}")))?;
        let config_text = match meta.metadata().as_ref().and_then(|m| m.get(CONFIG_KEY)) {
            Some(text) => text.clone(),
            None => {
                let side = path.with_extension("json");
                std::fs::read_to_string(&side).map_err(|_| {
                    model_err(format!(
                        "no `{CONFIG_KEY}` metadata and no config file {}",
                        side.display()
                    ))
                })?
            }
        };
        let config: MlpConfig = serde_json::from_str(&config_text)
            .map_err(|e| model_err(format!("bad config: {e}")))?;
        config.check().map_err(|e| model_err(e.to_string()))?;
        let tensors = candle_core::safetensors::load_buffer(&bytes, device)
            .map_err(|e| model_err(format!("cannot read tensors: {e}")))?;
        let use_ema = tensors.keys().any(|k| k.starts_with("ema."));
        let prefix = if use_ema { "ema." } else { "" };
        let expected = config.weight_shapes();
        for name in tensors.keys() {
            let base = name.strip_prefix("ema.").unwrap_or(name);
            let known = expected
                .iter()
                .any(|(n, _)| base == format!("{n}.weight") || base == format!("{n}.bias"));
            if !known && !name.starts_with("optim.") {
                return Err(Error::Tensor {
                    name: name.clone(),
                    message: format!("unknown tensor in {}", path.display()),
                });
            }
        }
        let mut chosen = HashMap::new();
        for (layer, (out, inp)) in &expected {
            for (suffix, shape) in [("weight", vec![*out, *inp]), ("bias", vec![*out])] {
                let name = format!("{prefix}{layer}.{suffix}");
                let t = tensors.get(&name).ok_or_else(|| Error::Tensor {
                    name: name.clone(),
                    message: format!("missing from {}", path.display()),
                })?;
                if t.dims() != shape.as_slice() {
                    return Err(Error::Tensor {
                        name,
                        message: format!(
                            "shape {:?} in {}, config needs {shape:?}",
                            t.dims(),
                            path.display()
                        ),
                    });
                }
                chosen.insert(format!("{layer}.{suffix}"), t.to_dtype(DType::F32)?);
            }
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
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = owned
        .iter()
        .map(|(n, shape, bytes)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                    .expect("consistent tensor view");
            (n.clone(), view)
        })
        .collect();
    let meta = HashMap::from([(
        CONFIG_KEY.to_string(),
        serde_json::to_string(config).expect("serialisable config"),
    )]);
    let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| Error::Model {
        path: Some(path.as_ref().into()),
        message: e.to_string(),
    })?;
    crate::data::write_atomic(path, |w| w.write_all(&bytes))
}

impl ScoreModel for MlpScoreNet {
    fn dim(&self) -> usize {
        self.config.dim
    }

    fn sde(&self) -> &Sde {
        &self.config.sde
    }

    fn frame(&self) -> Option<&Frame> {
        Some(&self.config.frame)
    }

    fn score(&self, x: MatRef<'_, f64>, t: f64) -> Result<Mat<f64>> {
        check_dim(self.dim(), x.ncols(), "the MLP score model")?;
        let y = self.to_model(x)?;
        let s = self.score_tensor(&y, &vec![t; x.nrows()])?;
        // s_x = s_y/scale
        let s = (s / self.config.frame.scale)?;
        tensor_to_mat(&s)
    }

    fn score_jacobians(&self, x: MatRef<'_, f64>, t: f64) -> Result<Vec<Mat<f64>>> {
        check_dim(self.dim(), x.ncols(), "the MLP score model")?;
        let (n, d) = (x.nrows(), x.ncols());
        let y = Var::from_tensor(&self.to_model(x)?)?;
        let s = self.score_tensor(y.as_tensor(), &vec![t; n])?;
        // row a of every point's Jacobian from one backward pass of Σᵢ s_a(yᵢ)
        let mut jac = vec![Mat::<f64>::zeros(d, d); n];
        let scale2 = self.config.frame.scale * self.config.frame.scale;
        for a in 0..d {
            let grads = s.narrow(1, a, 1)?.sum_all()?.backward()?;
            let g = grads
                .get(y.as_tensor())
                .ok_or_else(|| Error::Numerical("no gradient for the input".into()))?;
            let g = tensor_to_mat(g)?;
            for (i, j) in jac.iter_mut().enumerate() {
                for b in 0..d {
                    j[(a, b)] = g[(i, b)] / scale2;
                }
            }
        }
        Ok(jac)
    }

    fn score_vjp(&self, x: MatRef<'_, f64>, t: f64, v: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_dim(self.dim(), x.ncols(), "the MLP score model")?;
        check_dim(x.nrows(), v.nrows(), "cotangent rows")?;
        let y = Var::from_tensor(&self.to_model(x)?)?;
        let s = self.score_tensor(y.as_tensor(), &vec![t; x.nrows()])?;
        let vt = mat_to_tensor(v, &self.device)?;
        let grads = (s * vt)?.sum_all()?.backward()?;
        let g = grads
            .get(y.as_tensor())
            .ok_or_else(|| Error::Numerical("no gradient for the input".into()))?;
        let scale2 = self.config.frame.scale * self.config.frame.scale;
        tensor_to_mat(&(g / scale2)?)
    }

    fn describe(&self) -> String {
        let c = &self.config;
        format!(
            "MLP score net D={} H={} L={} ({:?}, {:?} prediction, {} SDE){}",
            c.dim,
            c.hidden,
            c.depth,
            c.activation,
            c.prediction,
            c.sde.name(),
            self.origin
                .as_ref()
                .map(|p| format!(" from {}", p.display()))
                .unwrap_or_default()
        )
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
        assert_eq!(a, b);
    }

    #[test]
    fn autodiff_jacobian_matches_finite_differences() {
        for pred in [Prediction::Noise, Prediction::Data] {
            let (net, _vm) = small(pred);
            let x = Mat::from_fn(2, 3, |i, j| 0.2 * i as f64 - 0.1 * j as f64);
            let t = 0.5;
            let jac = net.score_jacobians(x.as_ref(), t).unwrap();
            let h = 1e-2;
            for b in 0..3 {
                let mut xp = x.clone();
                let mut xm = x.clone();
                xp[(1, b)] += h;
                xm[(1, b)] -= h;
                let (sp, sm) = (
                    net.score(xp.as_ref(), t).unwrap(),
                    net.score(xm.as_ref(), t).unwrap(),
                );
                for a in 0..3 {
                    let fd = (sp[(1, a)] - sm[(1, a)]) / (2.0 * h);
                    assert!(
                        (fd - jac[1][(a, b)]).abs() < 2e-3 * (1.0 + fd.abs()),
                        "{pred:?} {a}{b}: {fd} vs {}",
                        jac[1][(a, b)]
                    );
                }
            }
            let v = Mat::from_fn(2, 3, |i, j| (i as f64) - j as f64 * 0.5);
            let vjp = net.score_vjp(x.as_ref(), t, v.as_ref()).unwrap();
            for b in 0..3 {
                let want: f64 = (0..3).map(|a| v[(1, a)] * jac[1][(a, b)]).sum();
                assert!((vjp[(1, b)] - want).abs() < 1e-4 * (1.0 + want.abs()));
            }
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
