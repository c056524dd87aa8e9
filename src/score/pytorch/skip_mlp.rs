//! The MLP with skip connections and a sinusoidal time embedding used by the local-ID work of
//! Kamkari et al. (2024, FLIPD; `MLPUnet` in their code), as a native scoregeo score model.
//!
//! Layer k maps the previous activation — with, on the way up, the activation of the matching
//! down layer concatenated in front — to the next width (see
//! [`skip_mlp_plan`]); SiLU follows every layer but the last. The
//! time enters as `scale·t` (one feature) or as the sinusoidal embedding
//! [sin(ωₖ·scale·t), cos(ωₖ·scale·t)], ωₖ = max_period^(−k/(F/2 − shift)), k < F/2 (zero-padded
//! to an odd F), as the diffusers `get_timestep_embedding` defines it. The network predicts
//! σ(t)·s under a VP SDE in that code; any [`Prediction`] is accepted here.
//!
//! Stored as safetensors with the JSON config under the metadata key [`SKIP_CONFIG_KEY`].

use super::layouts::skip_mlp_plan;
use crate::check::check_dim;
use crate::error::{Error, Result};
use crate::score::autodiff::{self, network_score_methods};
use crate::score::fused::FusedNet;
use crate::score::mlp::{
    check_frame_and_sde, linear_layer, write_safetensors, Activation, ModelFile, Prediction,
};
use crate::score::ScoreModel;
use crate::sde::{Frame, Sde};
use candle_core::{DType, Device, Tensor};
use candle_nn::{Linear, Module, VarBuilder};
use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Metadata key of the JSON config inside a safetensors file of a [`SkipMlpScoreNet`].
pub use crate::io::keys::SKIP_MLP_CONFIG as SKIP_CONFIG_KEY;

/// How the time enters a [`SkipMlpScoreNet`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkipTime {
    /// Number F of time features: 1 for `scale·t` itself, more for the sinusoidal embedding.
    pub features: usize,
    /// Multiplier of t before it enters (1 in the reference code: t ∈ [0, 1]).
    pub scale: f64,
    /// The frequency shift of the embedding (1 in the reference code).
    #[serde(default = "default_shift")]
    pub freq_shift: f64,
    /// The longest period of the embedding (10 000 in the reference code).
    #[serde(default = "default_period")]
    pub max_period: f64,
    /// Whether the cosines come before the sines.
    #[serde(default)]
    pub flip_sin_to_cos: bool,
}

fn default_shift() -> f64 {
    1.0
}

fn default_period() -> f64 {
    10_000.0
}

impl SkipTime {
    /// The reference code's time input with F features at scale 1.
    pub fn reference(features: usize) -> Self {
        SkipTime {
            features,
            scale: 1.0,
            freq_shift: default_shift(),
            max_period: default_period(),
            flip_sin_to_cos: false,
        }
    }

    /// The time features of each t, row-major (n × F).
    pub fn features(&self, ts: &[f64]) -> Vec<f32> {
        let f = self.features;
        if f == 1 {
            return ts.iter().map(|&t| (self.scale * t) as f32).collect();
        }
        let half = f / 2;
        let freqs: Vec<f64> = (0..half)
            .map(|k| (-self.max_period.ln() * k as f64 / (half as f64 - self.freq_shift)).exp())
            .collect();
        let mut out = Vec::with_capacity(ts.len() * f);
        for &t in ts {
            let args = freqs.iter().map(|w| w * self.scale * t);
            let (sin, cos): (Vec<f32>, Vec<f32>) =
                args.map(|a| (a.sin() as f32, a.cos() as f32)).unzip();
            if self.flip_sin_to_cos {
                out.extend(cos.iter().chain(&sin));
            } else {
                out.extend(sin.iter().chain(&cos));
            }
            if f % 2 == 1 {
                out.push(0.0);
            }
        }
        out
    }
}

/// Configuration of a [`SkipMlpScoreNet`], stored with its weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkipMlpConfig {
    /// Ambient dimension D.
    pub dim: usize,
    /// Widths h₁…h_m of the down path (the up path mirrors them).
    pub hidden: Vec<usize>,
    /// Time input.
    pub time: SkipTime,
    /// Nonlinearity between layers (SiLU in the reference code).
    pub activation: Activation,
    /// Meaning of the output (σ-scaled score in the reference code).
    pub prediction: Prediction,
    /// The SDE the model was trained under.
    pub sde: Sde,
    /// Data standardisation: model coordinates y = (x − center)/scale.
    #[serde(default)]
    pub frame: Frame,
}

impl SkipMlpConfig {
    /// Checks sizes and parameters.
    pub fn check(&self) -> Result<()> {
        if self.dim == 0 || self.hidden.is_empty() || self.hidden.contains(&0) {
            return Err(Error::param(
                "config",
                "dim and every hidden width must be positive",
            ));
        }
        let t = &self.time;
        if t.features == 0 || (t.features > 1 && (t.features / 2) as f64 <= t.freq_shift) {
            return Err(Error::param(
                "time",
                format!(
                    "{} time features do not fit a frequency shift of {}",
                    t.features, t.freq_shift
                ),
            ));
        }
        if !(t.scale.is_finite()
            && t.max_period.is_finite()
            && t.max_period > 1.0
            && t.freq_shift.is_finite())
        {
            return Err(Error::param(
                "time",
                "scale, max_period and freq_shift must be finite (max_period > 1)",
            ));
        }
        check_frame_and_sde(&self.frame, self.dim, &self.sde)
    }

    /// Names and shapes (out, in) of the weights, in order, and each layer's skip source.
    pub fn layers(&self) -> Vec<(String, (usize, usize), Option<usize>)> {
        let (widths, skip) = skip_mlp_plan(self.dim, self.time.features, &self.hidden);
        (0..widths.len() - 1)
            .map(|k| {
                (
                    format!("layers.{k}"),
                    (widths[k + 1], widths[k] + skip[k].map_or(0, |s| widths[s])),
                    skip[k],
                )
            })
            .collect()
    }
}

/// The MLP with skip connections as a score model.
pub struct SkipMlpScoreNet {
    config: SkipMlpConfig,
    layers: Vec<(Linear, Option<usize>)>,
    device: Device,
    origin: Option<PathBuf>,
    /// The fused CPU engine, for fixed weights on the CPU.
    fused: Option<FusedNet>,
}

impl SkipMlpScoreNet {
    /// Builds the network from a var builder holding `layers.{k}.weight` and `layers.{k}.bias`.
    pub fn new(config: SkipMlpConfig, vb: VarBuilder) -> Result<Self> {
        config.check()?;
        let device = vb.device().clone();
        let layers = config
            .layers()
            .into_iter()
            .map(|(name, shape, skip)| Ok((linear_layer(&vb, &name, shape)?, skip)))
            .collect::<Result<Vec<(Linear, Option<usize>)>>>()?;
        let linears: Vec<&Linear> = layers.iter().map(|(l, _)| l).collect();
        let fused = FusedNet::for_skip(&config, &linears)?;
        Ok(Self {
            config,
            layers,
            device,
            origin: None,
            fused,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SkipMlpConfig {
        &self.config
    }

    /// Raw network output for inputs y (n×D, model coordinates) at per-row times `ts`.
    pub fn forward(&self, y: &Tensor, ts: &[f64]) -> Result<Tensor> {
        let n = y.dim(0)?;
        let f = self.config.time.features;
        let time = Tensor::from_vec(self.config.time.features(ts), (n, f), &self.device)?;
        let mut outs = vec![Tensor::cat(&[y, &time], 1)?];
        let last = self.layers.len() - 1;
        for (k, (layer, skip)) in self.layers.iter().enumerate() {
            let prev = &outs[outs.len() - 1];
            let input = match skip {
                Some(s) => Tensor::cat(&[&outs[*s], prev], 1)?,
                None => prev.clone(),
            };
            let z = layer.forward(&input)?;
            outs.push(if k == last {
                z
            } else {
                self.config.activation.apply(&z)?
            });
        }
        Ok(outs.pop().expect("at least the input"))
    }

    /// The score in model coordinates for inputs y at per-row times `ts`.
    pub fn score_tensor(&self, y: &Tensor, ts: &[f64]) -> Result<Tensor> {
        let out = self.forward(y, ts)?;
        let c = &self.config;
        c.prediction.to_score(&out, y, ts, &c.sde)
    }

    /// Saves weights and config to a safetensors file, atomically (config in the metadata).
    pub fn save(
        tensors: &HashMap<String, Tensor>,
        config: &SkipMlpConfig,
        path: impl AsRef<Path>,
    ) -> Result<()> {
        let text = serde_json::to_string(config).expect("serialisable config");
        write_safetensors(tensors, SKIP_CONFIG_KEY, &text, path.as_ref())
    }

    /// One line naming the architecture, parameterisation and SDE (without the file).
    fn description(&self) -> String {
        let c = &self.config;
        let (widths, sde) = (&c.hidden, c.sde.name());
        format!(
            "skip-connection MLP score net D={} widths {widths:?} ({:?}, {:?} prediction, {sde} SDE)",
            c.dim, c.activation, c.prediction
        )
    }

    /// Loads a network saved by [`SkipMlpScoreNet::save`].
    pub fn load(path: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let path = path.as_ref();
        let file = ModelFile::read(path)?;
        let text = file
            .metadata(SKIP_CONFIG_KEY)
            .ok_or_else(|| file.error(format!("no `{SKIP_CONFIG_KEY}` metadata")))?;
        let config: SkipMlpConfig = file.config(text, SkipMlpConfig::check)?;
        let tensors = file.tensors(device)?;
        let mut chosen = HashMap::new();
        for (layer, shape, _) in config.layers() {
            file.take_linear(&tensors, "", &layer, shape, &mut chosen)?;
        }
        if let Some(extra) = tensors.keys().find(|k| !chosen.contains_key(*k)) {
            return Err(file.unknown_tensor(extra));
        }
        let mut net = Self::new(config, VarBuilder::from_tensors(chosen, DType::F32, device))?;
        net.origin = Some(path.into());
        Ok(net)
    }
}

impl ScoreModel for SkipMlpScoreNet {
    network_score_methods!("the skip-connection MLP score model");

    fn score_vjp(&self, x: MatRef<'_, f64>, t: f64, v: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_dim(self.dim(), x.ncols(), "the skip-connection MLP score model")?;
        check_dim(x.nrows(), v.nrows(), "cotangent rows")?;
        check_dim(x.ncols(), v.ncols(), "cotangent columns")?;
        if let Some(f) = &self.fused {
            return f.vjp(x, t, v);
        }
        autodiff::vjp(&self.config.frame, &self.device, x, t, v, |y, ts| {
            self.score_tensor(y, ts)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::VarMap;

    fn net(prediction: Prediction, features: usize) -> (SkipMlpScoreNet, VarMap) {
        let config = SkipMlpConfig {
            dim: 3,
            hidden: vec![8, 12],
            time: SkipTime::reference(features),
            activation: Activation::Silu,
            prediction,
            sde: Sde::vp_default(),
            frame: Frame {
                center: vec![0.5, -1.0, 2.0],
                scale: 2.0,
            },
        };
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        (SkipMlpScoreNet::new(config, vb).unwrap(), varmap)
    }

    #[test]
    fn embedding_matches_its_formula() {
        let time = SkipTime::reference(7);
        let f = time.features(&[0.3]);
        assert_eq!(f.len(), 7);
        // half = 3, shift 1: ω_k = 10000^(−k/2)
        for k in 0..3 {
            let w = 10_000f64.powf(-(k as f64) / 2.0);
            assert!((f[k] as f64 - (0.3 * w).sin()).abs() < 1e-7);
            assert!((f[3 + k] as f64 - (0.3 * w).cos()).abs() < 1e-7);
        }
        assert_eq!(f[6], 0.0);
        let flipped = SkipTime {
            flip_sin_to_cos: true,
            freq_shift: 0.0,
            ..SkipTime::reference(2)
        }
        .features(&[0.25]);
        assert_eq!(flipped, vec![0.25f64.cos() as f32, 0.25f64.sin() as f32]);
        let raw = SkipTime {
            scale: 1000.0,
            ..SkipTime::reference(1)
        }
        .features(&[0.25]);
        assert_eq!(raw, vec![250.0]);
    }

    #[test]
    fn save_load_round_trip_and_autodiff() {
        let (net, vm) = net(Prediction::ScaledScore, 6);
        let tensors: HashMap<String, Tensor> = vm
            .data()
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("skip.safetensors");
        SkipMlpScoreNet::save(&tensors, net.config(), &p).unwrap();
        let back = SkipMlpScoreNet::load(&p, &Device::Cpu).unwrap();
        assert_eq!(back.config(), net.config());
        let x = Mat::from_fn(2, 3, |i, j| 0.2 * i as f64 - 0.1 * j as f64);
        // candle (trainable weights) against the fused engine (loaded ones): equal to rounding
        assert!(net.fused.is_none() && back.fused.is_some());
        let (a, b) = (
            net.score(x.as_ref(), 0.4).unwrap(),
            back.score(x.as_ref(), 0.4).unwrap(),
        );
        for i in 0..2 {
            for j in 0..3 {
                assert!((a[(i, j)] - b[(i, j)]).abs() < 1e-5 * (1.0 + a[(i, j)].abs()));
            }
        }
        crate::score::autodiff::tests::check_derivatives(&net, 0.4, "skip MLP");
        crate::score::autodiff::tests::check_derivatives(&back, 0.4, "loaded skip MLP");
    }

    #[test]
    fn rejects_bad_configs() {
        let (net, _) = net(Prediction::Noise, 1);
        let mut c = net.config().clone();
        c.time = SkipTime::reference(2); // half = 1 = shift: division by zero in the embedding
        assert!(c.check().is_err());
        c.time = SkipTime::reference(4);
        c.hidden = vec![];
        assert!(c.check().is_err());
    }
}
