//! Training settings: an unchecked builder ([`TrainParams`]) validated once into a [`Trainer`].

use super::checkpoint::HeadPilot;
use super::session::Session;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::score::mlp::{Activation, MlpConfig, Prediction};
use crate::sde::{Frame, Sde, SdeKind};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How the diffusion times of a training batch are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeSampling {
    /// t ~ U(t_min, 1).
    Uniform,
    /// log σ(t) uniform between σ(t_min) and σ(1), mapped back to t (the same as `Uniform` for VE).
    LogSigma,
}

/// How the learning rate evolves after the warm-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// Constant.
    Constant,
    /// Cosine decay to 0 over the budget (steps, or wall-clock time for a time budget).
    Cosine,
}

/// When a training run stops.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Budget {
    /// Train until the step counter reaches this value (a resumed run continues to it).
    UntilStep(u64),
    /// Train for this much more wall-clock time (not reproducible across machines).
    Duration(Duration),
}

/// Early stopping on the held-out fidelity: the DSM loss of the validation points at the small
/// noise levels σ ∈ {1, 2, 4}·σ(t₀) where the intrinsic dimension is read.
///
/// A network that has resolved the manifold at those scales predicts the held-out points as well
/// as the training points; once it starts to memorise the training points (the held-out loss
/// rises while the training loss falls) it only loses fidelity. The run then stops and keeps the
/// EMA weights of the lowest held-out loss. A slow plateau never stops a run: only a rise does.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyStop {
    /// Relative rise above the lowest fidelity loss so far that counts as memorisation.
    pub tolerance: f64,
    /// Consecutive evaluations above that level before the run stops.
    pub patience: u32,
    /// No stop before this step (the first steps learn the coarse scales only).
    pub min_steps: u64,
}

impl Default for EarlyStop {
    fn default() -> Self {
        Self {
            tolerance: 0.02,
            patience: 2,
            min_steps: 4000,
        }
    }
}

/// Unchecked training settings (a builder). [`TrainParams::default`] is the default recipe.
///
/// Every setting is serialised into the checkpoint, and the default model's cache key is a hash
/// of these settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainParams {
    pub(super) sde: SdeKind,
    pub(super) sigma_min: f64,
    pub(super) beta_min: f64,
    pub(super) beta_max: f64,
    pub(super) t_min: Option<f64>,
    pub(super) time_sampling: TimeSampling,
    pub(super) hidden: usize,
    pub(super) depth: usize,
    pub(super) residual: bool,
    pub(super) activation: Activation,
    pub(super) prediction: Prediction,
    pub(super) budget: Budget,
    pub(super) batch: usize,
    pub(super) lr: f64,
    pub(super) warmup: u64,
    pub(super) schedule: Schedule,
    pub(super) grad_clip: f64,
    pub(super) ema_decay: f64,
    pub(super) weight_decay: f64,
    pub(super) val_fraction: f64,
    pub(super) max_val: usize,
    pub(super) eval_every: u64,
    /// Absent from checkpoints written before early stopping existed: those trained to budget.
    #[serde(default)]
    pub(super) early_stop: Option<EarlyStop>,
    /// Absent from checkpoints written before the head pilot existed: those had none.
    #[serde(default)]
    pub(super) head_pilot: Option<u64>,
    pub(super) seed: u64,
}

/// Default number of optimisation steps of the recipe.
///
/// An upper bound: [`EarlyStop`] ends most runs sooner, once held-out fidelity at small σ stops
/// improving. Thin curves (a helix) and twisted surfaces (a Möbius band) need most of it.
pub const DEFAULT_STEPS: u64 = 24_000;

/// σ_d of the default preconditioned head, in standardised units (RMS distance to the mean 1):
/// a point cloud of RMS radius 1 spreads about ½ along its leading directions.
pub const DEFAULT_SIGMA_DATA: f64 = 0.5;

/// Steps of the default head pilot ([`TrainParams::head_pilot`]): one twelfth of
/// [`DEFAULT_STEPS`].
pub const DEFAULT_HEAD_PILOT: u64 = 2000;

impl Default for TrainParams {
    fn default() -> Self {
        Self {
            sde: SdeKind::Ve,
            sigma_min: 0.02,
            beta_min: 0.1,
            beta_max: 20.0,
            t_min: None,
            time_sampling: TimeSampling::Uniform,
            hidden: 256,
            depth: 4,
            residual: true,
            activation: Activation::Silu,
            prediction: Prediction::Preconditioned {
                sigma_data: DEFAULT_SIGMA_DATA,
            },
            budget: Budget::UntilStep(DEFAULT_STEPS),
            batch: 256,
            lr: 1e-3,
            warmup: 200,
            schedule: Schedule::Cosine,
            grad_clip: 1.0,
            ema_decay: 0.999,
            weight_decay: 0.0,
            val_fraction: 0.1,
            max_val: 1000,
            eval_every: 500,
            early_stop: Some(EarlyStop::default()),
            head_pilot: Some(DEFAULT_HEAD_PILOT),
            seed: 0,
        }
    }
}

impl TrainParams {
    crate::check::setters! {
        /// The SDE family (default VE).
        sde: SdeKind,

        /// VE σ_min in model units, i.e. as a fraction of the data's RMS distance to its mean
        /// (default 0.02). The default t₀ = 10⁻³ of the estimators reads the score at σ ≈ σ_min.
        sigma_min: f64,
    }

    /// VP β_min and β_max (default 0.1 and 20).
    pub fn beta(mut self, beta_min: f64, beta_max: f64) -> Self {
        self.beta_min = beta_min;
        self.beta_max = beta_max;
        self
    }

    /// Smallest training time (default: 10⁻⁵ for VP, 0 for VE where σ(0) = σ_min > 0).
    pub fn t_min(mut self, t_min: f64) -> Self {
        self.t_min = Some(t_min);
        self
    }

    crate::check::setters! {
        /// How batch times are drawn (default uniform in t).
        time_sampling: TimeSampling,

        /// Width H of the hidden layers (default 256).
        hidden: usize,

        /// Number L of hidden layers (default 4).
        depth: usize,

        /// Residual connections around the H → H layers (default on).
        residual: bool,

        /// Nonlinearity (default SiLU).
        activation: Activation,

        /// What the network predicts (default the preconditioned clean data ŷ₀, which the head
        /// pilot may trade for the plain data head: [`head_pilot`](Self::head_pilot)).
        prediction: Prediction,
    }

    /// Train until step `n` (default [`DEFAULT_STEPS`]).
    pub fn steps(mut self, n: u64) -> Self {
        self.budget = Budget::UntilStep(n);
        self
    }

    /// Train for a wall-clock time instead of a number of steps.
    pub fn time_budget(mut self, budget: Duration) -> Self {
        self.budget = Budget::Duration(budget);
        self
    }

    crate::check::setters! {
        /// Points per batch B (default 256).
        batch: usize,

        /// Peak Adam learning rate (default 10⁻³).
        lr: f64,

        /// Steps of linear learning-rate warm-up (default 200; 0 for none).
        warmup: u64,

        /// Learning-rate schedule after the warm-up (default cosine decay over the budget).
        schedule: Schedule,

        /// Global gradient-norm clip (default 1; `f64::INFINITY` for none).
        grad_clip: f64,

        /// Decay of the exponential moving average of the weights (default 0.999).
        ema_decay: f64,

        /// Decoupled (AdamW) weight decay (default 0).
        weight_decay: f64,
    }

    /// Fraction of the points held out for validation, at most `max_val` of them (default 0.1
    /// and 1000; datasets under 10 points get no validation split).
    pub fn validation(mut self, fraction: f64, max_val: usize) -> Self {
        self.val_fraction = fraction;
        self.max_val = max_val;
        self
    }

    crate::check::setters! {
        /// Early stopping on held-out fidelity (default [`EarlyStop::default`]; `None` trains to the
        /// budget). Needs a validation split: without one the run trains to the budget.
        early_stop: Option<EarlyStop>,

        /// Evaluation interval in steps (default 500): validation losses, early stopping, checkpoints.
        eval_every: u64,

        /// Seed of the initial weights, the split, the batches and the noise (default 0).
        seed: u64,

        /// Steps of the head pilot (default [`DEFAULT_HEAD_PILOT`]; `None` for none): where the
        /// recipe's head is preconditioned and D ≤ H, a session with each head trains this many
        /// steps and the one with the lower held-out fidelity loss trains on to the budget
        /// ([`Trainer::start`]).
        head_pilot: Option<u64>,
    }

    /// Validates the settings once.
    pub fn check(self) -> Result<Trainer> {
        let positive = |name: &'static str, v: f64| {
            if v > 0.0 && v.is_finite() {
                Ok(())
            } else {
                Err(Error::param(
                    name,
                    format!("must be positive and finite, got {v}"),
                ))
            }
        };
        positive("sigma_min", self.sigma_min)?;
        positive("lr", self.lr)?;
        if self.sde == SdeKind::SubVp {
            return Err(Error::param(
                "sde",
                "training supports ve and vp, got subvp",
            ));
        }
        // β is checked whatever the family, so a stored recipe never holds an unusable one
        Sde::Vp {
            beta_min: self.beta_min,
            beta_max: self.beta_max,
        }
        .check()?;
        if let Some(t) = self.t_min {
            if !(0.0..1.0).contains(&t) {
                return Err(Error::param(
                    "t_min",
                    format!("must lie in [0, 1), got {t}"),
                ));
            }
        }
        if self.hidden == 0 {
            return Err(Error::param("hidden", "the hidden width must be positive"));
        }
        if self.depth == 0 {
            return Err(Error::param("depth", "need at least one hidden layer"));
        }
        if self.batch == 0 {
            return Err(Error::param("batch", "the batch size must be positive"));
        }
        match self.budget {
            Budget::UntilStep(0) => return Err(Error::param("steps", "need at least one step")),
            Budget::Duration(d) if d.is_zero() => {
                return Err(Error::param(
                    "time_budget",
                    "the time budget must be positive",
                ))
            }
            _ => {}
        }
        if self.grad_clip.is_nan() || self.grad_clip <= 0.0 {
            return Err(Error::param(
                "grad_clip",
                format!("must be positive (∞ for none), got {}", self.grad_clip),
            ));
        }
        if !(0.0..1.0).contains(&self.ema_decay) {
            return Err(Error::param(
                "ema_decay",
                format!("must lie in [0, 1), got {}", self.ema_decay),
            ));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(Error::param(
                "weight_decay",
                format!("must be ≥ 0, got {}", self.weight_decay),
            ));
        }
        if !(0.0..=0.5).contains(&self.val_fraction) {
            return Err(Error::param(
                "validation",
                format!(
                    "the fraction (val_fraction) must lie in [0, 0.5], got {}",
                    self.val_fraction
                ),
            ));
        }
        if self.eval_every == 0 {
            return Err(Error::param("eval_every", "must be positive"));
        }
        if self.head_pilot == Some(0) {
            return Err(Error::param(
                "head_pilot",
                "must be at least 1 step (or None)",
            ));
        }
        if let Some(rule) = self.early_stop {
            if !(rule.tolerance > 0.0 && rule.tolerance.is_finite()) {
                return Err(Error::param(
                    "early_stop.tolerance",
                    format!("must be positive and finite, got {}", rule.tolerance),
                ));
            }
            if rule.patience == 0 {
                return Err(Error::param("early_stop.patience", "must be at least 1"));
            }
        }
        self.prediction.check()?;
        Ok(Trainer { params: self })
    }

    /// The budget.
    pub fn budget(&self) -> Budget {
        self.budget
    }

    /// The smallest training time for `sde`.
    pub(crate) fn min_time(&self) -> f64 {
        self.t_min.unwrap_or(match self.sde {
            SdeKind::Ve => 0.0,
            SdeKind::Vp | SdeKind::SubVp => 1e-5,
        })
    }

    /// Number of validation points for a dataset of n points.
    pub(crate) fn val_count(&self, n: usize) -> usize {
        if n < 10 {
            return 0;
        }
        ((self.val_fraction * n as f64).round() as usize).min(self.max_val)
    }

    /// The standardisation of `data`: center = mean; scale = RMS distance to the mean (VE) or the
    /// RMS coordinate deviation, RMS distance/√D (VP, so the data's total variance matches the
    /// N(0, I) prior).
    pub fn frame_for(&self, data: &Dataset) -> Result<Frame> {
        if data.is_empty() {
            return Err(Error::InvalidData("the dataset has no points".into()));
        }
        data.check_spread()?;
        let (n, d) = (data.len(), data.dim());
        let mut center = vec![0.0; d];
        for row in data.rows() {
            for (c, x) in center.iter_mut().zip(row) {
                *c += x;
            }
        }
        center.iter_mut().for_each(|c| *c /= n as f64);
        let ms: f64 = data
            .rows()
            .map(|row| {
                row.iter()
                    .zip(&center)
                    .map(|(x, c)| (x - c).powi(2))
                    .sum::<f64>()
            })
            .sum::<f64>()
            / n as f64;
        let rms = ms.sqrt();
        if !(rms > 0.0 && rms.is_finite()) {
            return Err(Error::InvalidData(
                "all points are identical: there is no spread to learn".into(),
            ));
        }
        let scale = match self.sde {
            SdeKind::Ve => rms,
            SdeKind::Vp | SdeKind::SubVp => rms / (d as f64).sqrt(),
        };
        Ok(Frame { center, scale })
    }

    /// The SDE for `data` seen through `frame`: VE with σ_max = 2·max‖y − 0‖ ≥ the diameter in
    /// model units (and at least 1), or VP with β_min, β_max.
    pub fn sde_for(&self, data: &Dataset, frame: &Frame) -> Sde {
        match self.sde {
            SdeKind::Ve => {
                let radius = data
                    .rows()
                    .map(|row| {
                        row.iter()
                            .enumerate()
                            .map(|(j, x)| (x - frame.center_at(j)).powi(2))
                            .sum::<f64>()
                            .sqrt()
                    })
                    .fold(0.0, f64::max)
                    / frame.scale;
                Sde::Ve {
                    sigma_min: self.sigma_min,
                    sigma_max: (2.0 * radius).max(1.0).max(self.sigma_min),
                }
            }
            SdeKind::Vp => Sde::Vp {
                beta_min: self.beta_min,
                beta_max: self.beta_max,
            },
            // rejected by `check`; the family keeps its own marginal
            SdeKind::SubVp => Sde::SubVp {
                beta_min: self.beta_min,
                beta_max: self.beta_max,
            },
        }
    }

    /// The recipe as it trains data of `dim` coordinates: a preconditioned head only where
    /// D ≤ H (the hidden width), the data head above.
    ///
    /// At small σ the preconditioned head's skip term c_skip·y cancels the identity in
    /// s = (x̂₀ − y)/σ², so every normal direction must come through c_out·F, whose Jacobian has
    /// rank at most H: such a network has at most H normal directions, and on 32×32 images
    /// (D = 1024, H = 256) it read 770 for a 10-dimensional set. The data head keeps the
    /// full-rank −y/σ², F carries only the tangent projection (rank d), so it reads any
    /// codimension.
    pub fn for_dim(&self, dim: usize) -> TrainParams {
        let mut p = self.clone();
        if matches!(p.prediction, Prediction::Preconditioned { .. }) && dim > p.hidden {
            p.prediction = Prediction::Data;
        }
        p
    }

    /// The heads the pilot compares on data of `dim` coordinates, and its steps: the
    /// preconditioned head (the recipe's) and the data head, where the recipe's head is
    /// preconditioned, D ≤ H, the budget is a step count beyond the pilot and early stopping
    /// measures held-out fidelity; `None` elsewhere.
    ///
    /// The two heads leave the network F different maps to learn. With the data head the score
    /// is s = (F − y)/σ²: the identity −y/σ² supplies every normal direction and F carries the
    /// tangent projection (rank d), to a precision of σ² in F. The preconditioned head's skip
    /// term cancels that identity at small σ, so F carries the normal projection (rank D − d,
    /// at most H: why D > H takes the data head, [`for_dim`](Self::for_dim)) with a precision of
    /// σ. Which one a network of this size resolves better depends on the manifold (a helix in
    /// ℝ³ reads right only preconditioned, a curve or a 10-sphere in ℝ¹⁰⁰ only with the data
    /// head), and the held-out fidelity at the read-out σ measures exactly that.
    pub fn pilot_heads(&self, dim: usize) -> Option<(u64, [Prediction; 2])> {
        let steps = self.head_pilot?;
        let preconditioned = matches!(self.prediction, Prediction::Preconditioned { .. });
        let beyond = matches!(self.budget, Budget::UntilStep(n) if n > steps);
        (preconditioned && dim <= self.hidden && beyond && self.early_stop.is_some())
            .then_some((steps, [self.prediction, Prediction::Data]))
    }

    /// The network configuration for `data` (frame and SDE included; the head of
    /// [`for_dim`](Self::for_dim)).
    pub fn config_for(&self, data: &Dataset) -> Result<MlpConfig> {
        let frame = self.frame_for(data)?;
        let sde = self.sde_for(data, &frame);
        let mut config = MlpConfig::new(data.dim(), self.hidden, self.depth, sde);
        config.activation = self.activation;
        config.residual = self.residual;
        config.prediction = self.for_dim(data.dim()).prediction;
        config.frame = frame;
        config.check()?;
        Ok(config)
    }
}

/// Checked training settings: start sessions on datasets.
#[derive(Clone, Debug, PartialEq)]
pub struct Trainer {
    params: TrainParams,
}

impl Trainer {
    /// The settings.
    pub fn params(&self) -> &TrainParams {
        &self.params
    }

    /// A new session on `data`: standardisation, SDE, validation split and seeded initial weights.
    ///
    /// Where the recipe pilots its head ([`TrainParams::pilot_heads`]) and the data have a
    /// validation split, a session with each head first trains the pilot's steps and the one
    /// with the lower held-out fidelity loss is returned, already that far (ties keep the
    /// recipe's head). Each session is exactly the start of an uninterrupted run with its head,
    /// so the result does not depend on the pilot having been run; the choice and both losses
    /// are recorded in the session ([`Session::head_pilot`]) and its checkpoints.
    pub fn start(&self, data: &Dataset) -> Result<Session> {
        self.start_reporting(data, crate::progress::Progress::default())
    }

    /// [`start`](Self::start), with the pilot's progress (and the session's) reported as
    /// `progress` says.
    pub fn start_reporting(
        &self,
        data: &Dataset,
        progress: crate::progress::Progress,
    ) -> Result<Session> {
        let plain = || -> Result<Session> {
            let mut session = self.start_without_pilot(data)?;
            session.set_progress(progress);
            Ok(session)
        };
        let Some((steps, heads)) = self.params.pilot_heads(data.dim()) else {
            return plain();
        };
        if self.params.val_count(data.len()) == 0 {
            return plain();
        }
        let pilot = |head| -> Result<(Session, f64)> {
            let mut session = Session::with_prediction(self.params.clone(), data, head)?;
            session.set_progress(progress);
            session.run_for(steps, None)?;
            let loss = session.fidelity_now().ok_or_else(|| {
                Error::Numerical("the head pilot measured no held-out fidelity".into())
            })?;
            Ok((session, loss))
        };
        let (recipe_head, recipe_loss) = pilot(heads[0])?;
        let (data_head, data_loss) = pilot(heads[1])?;
        let record = HeadPilot {
            steps,
            preconditioned: recipe_loss,
            data: data_loss,
        };
        let mut chosen = if record.chose_data() {
            data_head
        } else {
            recipe_head
        };
        chosen.set_head_pilot(record);
        Ok(chosen)
    }

    /// A session with the recipe's head and no pilot: the run the pilot's first candidate
    /// starts (and the whole run where the recipe pilots nothing).
    pub fn start_without_pilot(&self, data: &Dataset) -> Result<Session> {
        Session::new(self.params.clone(), data)
    }

    /// Starts a session on `data` and trains it to the budget (no periodic checkpoints).
    pub fn fit(&self, data: &Dataset) -> Result<Session> {
        let mut session = self.start(data)?;
        session.run(None)?;
        Ok(session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_refuses_identical_points_and_scales_beyond_f64() {
        let frame = |rows: Vec<Vec<f64>>| {
            TrainParams::default()
                .frame_for(&Dataset::from_rows(&rows).unwrap())
                .map_err(|e| e.to_string())
        };
        let err = frame(vec![vec![1.0, 2.0]; 5]).unwrap_err();
        assert!(err.contains("identical"), "{err}");
        for (scale, verdict) in [(1e-200, "too small"), (1e200, "too large")] {
            let err = frame(vec![vec![0.0, 0.0], vec![scale, 2.0 * scale]]).unwrap_err();
            assert!(err.contains(verdict) && err.contains("rescale"), "{err}");
        }
        let ok = frame(vec![vec![0.0, 0.0], vec![3e-100, 4e-100]]).unwrap();
        assert!((ok.scale - 2.5e-100).abs() < 1e-112, "{}", ok.scale);
    }

    fn rejects(p: TrainParams, name: &str) {
        match p.check() {
            Err(Error::InvalidParameter { name: n, .. }) => assert_eq!(n, name),
            other => panic!("expected a `{name}` error, got {other:?}"),
        }
    }

    #[test]
    fn each_check_names_its_parameter() {
        let d = TrainParams::default;
        rejects(d().hidden(0), "hidden");
        rejects(d().depth(0), "depth");
        rejects(d().batch(0), "batch");
        rejects(d().steps(0), "steps");
        rejects(d().time_budget(Duration::ZERO), "time_budget");
        rejects(d().lr(-1.0), "lr");
        rejects(d().lr(f64::NAN), "lr");
        rejects(d().sigma_min(0.0), "sigma_min");
        rejects(d().t_min(1.0), "t_min");
        rejects(d().grad_clip(0.0), "grad_clip");
        rejects(d().ema_decay(1.0), "ema_decay");
        rejects(d().weight_decay(-0.1), "weight_decay");
        rejects(d().validation(0.9, 10), "validation");
        rejects(d().eval_every(0), "eval_every");
        rejects(d().sde(SdeKind::Vp).beta(5.0, 1.0), "sde");
        rejects(d().beta(-1.0, 1.0), "sde");
        rejects(d().sde(SdeKind::SubVp), "sde");
        rejects(d().head_pilot(Some(0)), "head_pilot");
        assert!(d().check().is_ok());
        assert!(d().grad_clip(f64::INFINITY).check().is_ok());
    }

    #[test]
    fn the_preconditioned_head_is_kept_only_up_to_the_hidden_width() {
        let recipe = TrainParams::default();
        assert!(matches!(
            recipe.for_dim(256).prediction,
            Prediction::Preconditioned { .. }
        ));
        assert_eq!(recipe.for_dim(257).prediction, Prediction::Data);
        // an explicit other head stays
        let noise = TrainParams::default().prediction(Prediction::Noise);
        assert_eq!(noise.for_dim(1024).prediction, Prediction::Noise);
        // the configuration follows, so does the cache key
        let wide =
            Dataset::from_row_major((0..300 * 300).map(|i| (i % 7) as f64).collect(), 300, 300)
                .unwrap();
        assert_eq!(
            recipe.config_for(&wide).unwrap().prediction,
            Prediction::Data
        );
        assert_ne!(
            crate::train::cache_file_name("0123456789abcdef", &recipe),
            crate::train::cache_file_name("0123456789abcdef", &recipe.for_dim(300))
        );
        assert_eq!(
            crate::train::cache_file_name("0123456789abcdef", &recipe),
            crate::train::cache_file_name("0123456789abcdef", &recipe.for_dim(100))
        );
    }

    #[test]
    fn the_head_pilot_runs_only_where_both_heads_can_train_past_it() {
        let d = TrainParams::default;
        let pre = d().prediction;
        assert_eq!(
            d().pilot_heads(3),
            Some((DEFAULT_HEAD_PILOT, [pre, Prediction::Data]))
        );
        assert_eq!(d().pilot_heads(256).map(|p| p.0), Some(DEFAULT_HEAD_PILOT));
        // wider than the network: the data head without a pilot (see `for_dim`)
        assert_eq!(d().pilot_heads(257), None);
        assert_eq!(d().head_pilot(None).pilot_heads(3), None);
        assert_eq!(d().steps(DEFAULT_HEAD_PILOT).pilot_heads(3), None);
        assert_eq!(
            d().time_budget(Duration::from_secs(60)).pilot_heads(3),
            None
        );
        assert_eq!(d().early_stop(None).pilot_heads(3), None);
        assert_eq!(d().prediction(Prediction::Noise).pilot_heads(3), None);
        assert_eq!(d().prediction(Prediction::Data).pilot_heads(3), None);
    }

    #[test]
    fn frame_is_mean_and_rms_distance() {
        let data = Dataset::from_rows(&[
            vec![1.0, 0.0],
            vec![3.0, 0.0],
            vec![2.0, 2.0],
            vec![2.0, -2.0],
        ])
        .unwrap();
        let f = TrainParams::default().frame_for(&data).unwrap();
        assert_eq!(f.center, vec![2.0, 0.0]);
        // squared distances 1, 1, 4, 4: mean 2.5
        assert!((f.scale - 2.5f64.sqrt()).abs() < 1e-12);
        let vp = TrainParams::default()
            .sde(SdeKind::Vp)
            .frame_for(&data)
            .unwrap();
        assert!((vp.scale - 1.25f64.sqrt()).abs() < 1e-12);
        // VE σ_max: farthest point at distance 2, i.e. 2/√2.5 model units, doubled
        match TrainParams::default().sde_for(&data, &f) {
            Sde::Ve {
                sigma_max,
                sigma_min,
            } => {
                assert!((sigma_max - 4.0 / 2.5f64.sqrt()).abs() < 1e-12);
                assert_eq!(sigma_min, 0.02);
            }
            other => panic!("{other:?}"),
        }
        let same = Dataset::from_rows(&[vec![1.0, 1.0], vec![1.0, 1.0]]).unwrap();
        assert!(TrainParams::default().frame_for(&same).is_err());
    }

    #[test]
    fn validation_split_size() {
        let p = TrainParams::default();
        assert_eq!(p.val_count(5), 0);
        assert_eq!(p.val_count(100), 10);
        assert_eq!(p.val_count(50_000), 1000);
    }
}
