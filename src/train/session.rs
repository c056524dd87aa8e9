//! A training session: the network, its optimiser state, the standardised data and the loop.

use super::checkpoint::{self, HeadPilot, HistoryEntry, SaveMode, TrainState};
use super::dsm::FusedDsm;
use super::optim::{adam_step, adam_step_with_norm, learning_rate, ParamState, StepSettings};
use super::params::{Budget, Schedule, TimeSampling, TrainParams};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::rng;
use crate::score::mlp::{default_device, MlpConfig, MlpScoreNet};
use crate::sde::Sde;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarBuilder;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Mixed into the user's seed so training streams never coincide with a generator's streams.
const SEED_TAG: u64 = 0x7472_6169_6e5f_6473; // "train_ds"
/// Stream of the train/validation permutation.
const SPLIT_STREAM: u64 = u64::MAX;
/// Stream of the fixed validation noise.
const VAL_STREAM: u64 = u64::MAX - 1;
/// Streams of the initial weights: `INIT_STREAM − layer`.
const INIT_STREAM: u64 = u64::MAX - 2;
/// Tag of the stream of the fixed fidelity noise.
/// Rows of a training batch drawn from one random stream (fixed: the batch does not depend on
/// the thread count).
const BATCH_BLOCK: usize = 64;

/// The key of block `block`'s stream of every batch: distinct odd multiples of 2⁶⁴/φ mixed into
/// the run's key.
fn batch_key(key: u64, block: usize) -> u64 {
    key ^ 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(2 * block as u64 + 1)
}

const FIDELITY_TAG: u64 = 0x6669_6465_6c69_7479; // "fidelity"
/// Noise levels of the fidelity set, as multiples of σ(t₀): the scales the ID is read at.
const FIDELITY_LEVELS: [f64; 3] = [1.0, 2.0, 4.0];
/// At most this many fidelity rows (noise draws × levels × validation points).
const FIDELITY_ROWS: usize = 8192;
/// Rows per validation forward pass.
const VAL_CHUNK: usize = 2048;

/// Losses and timing of a session so far.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainReport {
    /// Optimisation steps done.
    pub steps: u64,
    /// Mean training loss over the last evaluation interval.
    pub train_loss: Option<f64>,
    /// Validation loss of the EMA weights at the last evaluation.
    pub val_loss: Option<f64>,
    /// Training wall-clock time over all runs of the session.
    pub elapsed: Duration,
    /// Training points per second over the session.
    pub samples_per_sec: f64,
    /// Points used for training and held out.
    pub n_train: usize,
    /// Points held out for validation.
    pub n_val: usize,
    /// Held-out fidelity loss at the last evaluation (see [`TrainParams::early_stop`]).
    pub fidelity_loss: Option<f64>,
    /// Step of the lowest held-out fidelity loss.
    pub best_step: Option<u64>,
    /// Step at which early stopping ended the run (its weights are those of `best_step`).
    pub stopped_at: Option<u64>,
}

/// A training session (see the [module docs](super)): start one with
/// [`Trainer::start`](super::Trainer::start) or [`Session::resume`], then [`Session::run`].
pub struct Session {
    params: TrainParams,
    config: MlpConfig,
    device: Device,
    engine: Engine,
    state: Vec<ParamState>,
    step: u64,
    /// Training points in model coordinates, row-major f32.
    train: Vec<f32>,
    /// Validation points with their fixed times and noise.
    val: Option<NoisedRows>,
    /// The validation points again, noised at the small σ of the ID read-out.
    fidelity: Option<NoisedRows>,
    /// The lowest fidelity loss so far, with its step and EMA weights.
    best: Option<Best>,
    /// Step at which early stopping ended the run.
    stopped_at: Option<u64>,
    /// The head pilot that chose the head, where one ran.
    head_pilot: Option<HeadPilot>,
    data_hash: String,
    history: Vec<HistoryEntry>,
    elapsed: Duration,
    /// `elapsed` when the budget was set (the origin of a time budget).
    budget_origin: Duration,
    /// Sum and count of training losses since the last evaluation.
    running: (f64, u64),
    /// How training reports progress.
    progress: crate::progress::Progress,
    /// The current batch's noised rows, noise and times (buffers kept between steps).
    batch: NoisedRows,
}

/// What computes the loss and its gradients.
enum Engine {
    /// The fused CPU engine (the default on a CPU).
    Fused(FusedDsm),
    /// candle's autograd on the network's device (e.g. CUDA), with the weights as variables.
    Candle {
        net: Box<MlpScoreNet>,
        vars: Vec<Var>,
    },
}

/// The EMA weights at the lowest held-out fidelity loss.
struct Best {
    step: u64,
    loss: f64,
    weights: Vec<Vec<f32>>,
}

/// Noised rows y_t with their noise z and times t: the validation and fidelity sets (drawn once
/// from fixed streams) and the buffers of each training batch.
#[derive(Default)]
struct NoisedRows {
    y: Vec<f32>,
    z: Vec<f32>,
    ts: Vec<f64>,
}

impl Session {
    /// A new session on `data` with seeded initial weights.
    pub(crate) fn new(params: TrainParams, data: &Dataset) -> Result<Self> {
        let config = params.config_for(data)?;
        Self::with_config(params, config, data)
    }

    /// A new session whose network uses the head `prediction` instead of the recipe's (the
    /// head pilot's candidates); everything else is as in [`Session::new`].
    pub(crate) fn with_prediction(
        params: TrainParams,
        data: &Dataset,
        prediction: crate::score::mlp::Prediction,
    ) -> Result<Self> {
        let mut config = params.config_for(data)?;
        config.prediction = prediction;
        config.check()?;
        Self::with_config(params, config, data)
    }

    /// A new session of `config` with seeded initial weights.
    fn with_config(params: TrainParams, config: MlpConfig, data: &Dataset) -> Result<Self> {
        let key = params.seed ^ SEED_TAG;
        let state = config
            .weight_shapes()
            .into_iter()
            .enumerate()
            .flat_map(|(layer, (name, (out, inp)))| {
                // PyTorch's default: weights and biases U(−1/√fan_in, 1/√fan_in)
                let bound = 1.0 / (inp as f64).sqrt();
                let mut rng = rng::stream(key, INIT_STREAM - layer as u64);
                let mut draw = |len: usize| -> Vec<f32> {
                    (0..len)
                        .map(|_| (rng.random_range(-bound..bound)) as f32)
                        .collect()
                };
                let w = draw(out * inp);
                let b = draw(out);
                [
                    ParamState::new(format!("{name}.weight"), vec![out, inp], w),
                    ParamState::new(format!("{name}.bias"), vec![out], b),
                ]
            })
            .collect();
        Self::assemble(params, config, state, data)
    }

    /// Resumes the resumable checkpoint at `path` on the same `data` it was trained on.
    pub fn resume(path: impl AsRef<Path>, data: &Dataset) -> Result<Self> {
        let path = path.as_ref();
        let mut loaded = checkpoint::read(path)?;
        let bad = |message: String| Error::Model {
            path: Some(path.into()),
            message,
        };
        let ts = loaded
            .state
            .take()
            .ok_or_else(|| bad("no training state: not written by `scoregeo train`".into()))?;
        if !ts.resumable {
            return Err(bad(
                "saved without optimiser state (EMA weights only): it cannot be resumed".into(),
            ));
        }
        // settings written by hand or by another build are checked like fresh ones
        ts.params
            .clone()
            .check()
            .map_err(|e| bad(format!("the stored training settings are unusable: {e}")))?;
        let hash = data.content_hash();
        if ts.data_hash != hash {
            return Err(bad(format!(
                "was trained on other data (content hash {}…, this data {}…)",
                &ts.data_hash[..12.min(ts.data_hash.len())],
                &hash[..12]
            )));
        }
        let config = loaded.config.clone();
        let mut state = Vec::new();
        for (name, (out, inp)) in config.weight_shapes() {
            for (suffix, shape) in [("weight", vec![out, inp]), ("bias", vec![out])] {
                let key = format!("{name}.{suffix}");
                let value = loaded.take(&key, &shape, path)?;
                let ema = loaded.take(&format!("ema.{key}"), &shape, path)?;
                let m = loaded.take(&format!("optim.m.{key}"), &shape, path)?;
                let v = loaded.take(&format!("optim.v.{key}"), &shape, path)?;
                state.push(ParamState {
                    name: key,
                    shape,
                    value,
                    ema,
                    m,
                    v,
                });
            }
        }
        let best = match ts.best_step {
            Some(step) => {
                let mut weights = Vec::new();
                for p in &state {
                    weights.push(loaded.take(&format!("best.{}", p.name), &p.shape, path)?);
                }
                let loss = ts
                    .history
                    .iter()
                    .filter(|h| h.step == step)
                    .find_map(|h| h.fidelity_loss)
                    .ok_or_else(|| bad(format!("no fidelity loss recorded at best step {step}")))?;
                Some(Best {
                    step,
                    loss,
                    weights,
                })
            }
            None => None,
        };
        let mut session = Self::assemble(ts.params, config, state, data)?;
        session.best = best;
        session.stopped_at = ts.stopped_at;
        session.step = ts.step;
        session.elapsed = Duration::from_secs_f64(ts.history.last().map_or(0.0, |h| h.elapsed_s));
        session.budget_origin = session.elapsed;
        session.history = ts.history;
        session.head_pilot = ts.head_pilot;
        Ok(session)
    }

    /// Builds the session around given weights: split, standardised buffers, candle variables.
    fn assemble(
        params: TrainParams,
        config: MlpConfig,
        state: Vec<ParamState>,
        data: &Dataset,
    ) -> Result<Self> {
        crate::check::check_dim(config.dim, data.dim(), "the training config")?;
        if data.is_empty() {
            return Err(Error::InvalidData("the dataset has no points".into()));
        }
        let device = default_device();
        let key = params.seed ^ SEED_TAG;
        let n = data.len();
        let n_val = params.val_count(n);
        let mut order: Vec<usize> = (0..n).collect();
        // Fisher–Yates with the split stream
        let mut rng = rng::stream(key, SPLIT_STREAM);
        for i in (1..n).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
        let to_model = |rows: &[usize]| -> Vec<f32> {
            let f = &config.frame;
            rows.iter()
                .flat_map(|&i| {
                    data.row(i)
                        .iter()
                        .enumerate()
                        .map(|(j, x)| ((x - f.center_at(j)) / f.scale) as f32)
                })
                .collect()
        };
        let (val_rows, train_rows) = order.split_at(n_val);
        let train = to_model(train_rows);
        let val = (n_val > 0).then(|| {
            let clean = to_model(val_rows);
            let mut rng = rng::stream(key, VAL_STREAM);
            let (mut y, mut z, mut ts) = (Vec::new(), Vec::new(), Vec::new());
            for row in clean.chunks_exact(config.dim) {
                let t = sample_time(&params, &config.sde, &mut rng);
                noise_row(&config.sde, t, row, &mut rng, &mut y, &mut z);
                ts.push(t);
            }
            NoisedRows { y, z, ts }
        });
        let fidelity = (n_val > 0 && params.early_stop.is_some())
            .then(|| {
                let clean = to_model(val_rows);
                fidelity_set(&config.sde, &clean, config.dim, key)
            })
            .transpose()?;
        let engine = if device.is_cpu() {
            Engine::Fused(FusedDsm::new(&config))
        } else {
            candle_engine(&config, &state, &device)?
        };
        Ok(Self {
            params,
            config,
            device,
            engine,
            state,
            step: 0,
            train,
            val,
            fidelity,
            best: None,
            stopped_at: None,
            head_pilot: None,
            data_hash: data.content_hash(),
            history: Vec::new(),
            elapsed: Duration::ZERO,
            budget_origin: Duration::ZERO,
            running: (0.0, 0),
            progress: crate::progress::Progress::default(),
            batch: NoisedRows::default(),
        })
    }

    /// The head pilot that chose this session's head, where one ran ([`Trainer::start`]).
    ///
    /// [`Trainer::start`]: super::Trainer::start
    pub fn head_pilot(&self) -> Option<HeadPilot> {
        self.head_pilot
    }

    pub(crate) fn set_head_pilot(&mut self, pilot: HeadPilot) {
        self.head_pilot = Some(pilot);
    }

    /// The held-out fidelity loss at the last evaluation, if it was at the current step.
    pub(crate) fn fidelity_now(&self) -> Option<f64> {
        self.history
            .last()
            .filter(|h| h.step == self.step)
            .and_then(|h| h.fidelity_loss)
    }

    /// How [`Session::run_for`] reports progress from now on (default a bar on stderr).
    pub fn set_progress(&mut self, progress: crate::progress::Progress) {
        self.progress = progress;
    }

    /// The settings of the session.
    pub fn params(&self) -> &TrainParams {
        &self.params
    }

    /// The network configuration (frame and SDE included).
    pub fn config(&self) -> &MlpConfig {
        &self.config
    }

    /// Optimisation steps done.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The loss history (one entry per evaluation).
    pub fn history(&self) -> &[HistoryEntry] {
        &self.history
    }

    /// The raw weights, by checkpoint key.
    pub fn raw_weights(&self) -> Vec<(&str, &[f32])> {
        self.state
            .iter()
            .map(|p| (p.name.as_str(), p.value.as_slice()))
            .collect()
    }

    /// The EMA weights, by checkpoint key (without the `ema.` prefix).
    pub fn ema_weights(&self) -> Vec<(&str, &[f32])> {
        self.state
            .iter()
            .map(|p| (p.name.as_str(), p.ema.as_slice()))
            .collect()
    }

    /// The network with the EMA weights (what a saved checkpoint loads as).
    pub fn model(&self) -> Result<MlpScoreNet> {
        let tensors: HashMap<String, Tensor> = self
            .state
            .iter()
            .map(|p| {
                Ok((
                    p.name.clone(),
                    Tensor::from_slice(&p.ema, p.shape.as_slice(), &self.device)?,
                ))
            })
            .collect::<Result<_>>()?;
        MlpScoreNet::new(
            self.config.clone(),
            VarBuilder::from_tensors(tensors, DType::F32, &self.device),
        )
    }

    /// Losses and timing so far.
    pub fn report(&self) -> TrainReport {
        let last = self.history.last();
        let secs = self.elapsed.as_secs_f64();
        TrainReport {
            steps: self.step,
            train_loss: last.and_then(|h| h.train_loss),
            val_loss: last.and_then(|h| h.val_loss),
            elapsed: self.elapsed,
            samples_per_sec: if secs > 0.0 {
                (self.step * self.params.batch as u64) as f64 / secs
            } else {
                0.0
            },
            n_train: self.train.len() / self.config.dim,
            n_val: self.val.as_ref().map_or(0, |v| v.ts.len()),
            fidelity_loss: last.and_then(|h| h.fidelity_loss),
            best_step: self.best.as_ref().map(|b| b.step),
            stopped_at: self.stopped_at,
        }
    }

    /// Sets a new budget: more steps or time for a resumed run. The learning-rate schedule follows
    /// the budget, so a run continues exactly only under the budget it started with.
    /// An early-stopped run trains on from its last raw weights.
    pub fn set_budget(&mut self, budget: Budget) {
        self.params.budget = budget;
        self.budget_origin = self.elapsed;
        self.stopped_at = None;
    }

    /// Trains until the budget is spent (see [`Session::run_for`]).
    pub fn run(&mut self, checkpoint: Option<&Path>) -> Result<()> {
        self.run_for(u64::MAX, checkpoint).map(|_| ())
    }

    /// Trains at most `max_steps` more steps towards the budget, with a progress bar on stderr;
    /// returns whether the budget is spent. Evaluates every `eval_every` steps and when it stops,
    /// writing a resumable checkpoint to `checkpoint` each time when one is given. Stopping early
    /// and resuming from that checkpoint gives the same weights as one uninterrupted run.
    pub fn run_for(&mut self, max_steps: u64, checkpoint: Option<&Path>) -> Result<bool> {
        let start = Instant::now();
        let before = self.elapsed;
        let budget = self.params.budget;
        let stop = self.step.saturating_add(max_steps);
        let bar = match budget {
            Budget::UntilStep(n) => {
                let bar = self.progress.bar(n, "training");
                bar.set_position(self.step.min(n));
                bar
            }
            Budget::Duration(d) => self.progress.bar(d.as_secs().max(1), "training"),
        };
        while !self.budget_spent() && self.step < stop {
            let lr = self.learning_rate();
            let loss = self.train_step(lr)?;
            if !loss.is_finite() {
                bar.abandon();
                return Err(Error::Numerical(format!(
                    "training loss became {loss} at step {}; try a smaller `lr`",
                    self.step
                )));
            }
            self.running.0 += loss;
            self.running.1 += 1;
            self.elapsed = before + start.elapsed();
            if self.step % self.params.eval_every == 0 {
                self.evaluate()?;
                self.check_early_stop();
                if let Some(path) = checkpoint {
                    self.save(path, SaveMode::Resumable)?;
                }
            }
            bar.set_message(format!(
                "loss {:.4}",
                self.running.0 / self.running.1.max(1) as f64
            ));
            bar.set_position(match budget {
                Budget::UntilStep(_) => self.step,
                Budget::Duration(_) => (self.elapsed - self.budget_origin).as_secs(),
            });
        }
        bar.finish_and_clear();
        self.elapsed = before + start.elapsed();
        if self.history.last().is_none_or(|h| h.step != self.step) {
            self.evaluate()?;
            if let Some(path) = checkpoint {
                self.save(path, SaveMode::Resumable)?;
            }
        }
        Ok(self.budget_spent())
    }

    /// The fraction of the budget spent: steps done, or time since the budget was set.
    fn progress(&self) -> f64 {
        match self.params.budget {
            Budget::UntilStep(n) => self.step as f64 / n as f64,
            Budget::Duration(d) => {
                (self.elapsed - self.budget_origin).as_secs_f64() / d.as_secs_f64()
            }
        }
    }

    fn budget_spent(&self) -> bool {
        self.stopped_at.is_some() || self.progress() >= 1.0
    }

    /// Stops the run once the held-out fidelity loss has stayed `tolerance` above its minimum for
    /// `patience` evaluations, and restores the EMA weights of that minimum.
    fn check_early_stop(&mut self) {
        let (Some(rule), Some(best)) = (self.params.early_stop, &self.best) else {
            return;
        };
        if self.stopped_at.is_some() || self.step < rule.min_steps {
            return;
        }
        let level = best.loss * (1.0 + rule.tolerance);
        let recent = self.history.iter().rev().take(rule.patience as usize);
        let above = recent
            .filter(|h| h.fidelity_loss.is_some_and(|l| l > level))
            .count();
        if above == rule.patience as usize {
            for (p, w) in self.state.iter_mut().zip(&best.weights) {
                p.ema.copy_from_slice(w);
            }
            self.stopped_at = Some(self.step);
        }
    }

    /// The learning rate of the next step (warm-up, then the schedule).
    fn learning_rate(&self) -> f64 {
        let cosine = (self.params.schedule == Schedule::Cosine).then(|| self.progress());
        learning_rate(self.params.lr, self.params.warmup, self.step, cosine)
    }

    /// Writes the session to `path` (atomically): a loadable model and, with
    /// [`SaveMode::Resumable`], everything needed to continue exactly.
    pub fn save(&self, path: impl AsRef<Path>, mode: SaveMode) -> Result<()> {
        let report = self.report();
        let state = TrainState {
            format: checkpoint::FORMAT,
            params: self.params.clone(),
            step: self.step,
            data_hash: self.data_hash.clone(),
            n_train: report.n_train,
            n_val: report.n_val,
            resumable: mode == SaveMode::Resumable,
            history: self.history.clone(),
            best_step: self.best.as_ref().map(|b| b.step),
            stopped_at: self.stopped_at,
            head_pilot: self.head_pilot,
        };
        let best = self.best.as_ref().map(|b| b.weights.as_slice());
        checkpoint::write(path.as_ref(), &self.config, &state, &self.state, best, mode)
    }

    /// Records the mean training loss since the last entry, the EMA validation loss and the
    /// held-out fidelity loss (keeping the EMA weights of its minimum).
    fn evaluate(&mut self) -> Result<()> {
        let train_loss = (self.running.1 > 0).then(|| self.running.0 / self.running.1 as f64);
        self.running = (0.0, 0);
        let val = self.val.take();
        let val_loss = val.as_ref().map(|v| self.ema_loss(v)).transpose();
        self.val = val;
        let fidelity = self.fidelity.take();
        let fidelity_loss = fidelity.as_ref().map(|v| self.ema_loss(v)).transpose();
        self.fidelity = fidelity;
        let (val_loss, fidelity_loss) = (val_loss?, fidelity_loss?);
        if let Some(loss) = fidelity_loss {
            if self.best.as_ref().is_none_or(|b| loss < b.loss) {
                self.best = Some(Best {
                    step: self.step,
                    loss,
                    weights: self.state.iter().map(|p| p.ema.clone()).collect(),
                });
            }
        }
        self.history.push(HistoryEntry {
            step: self.step,
            train_loss,
            val_loss,
            fidelity_loss,
            elapsed_s: self.elapsed.as_secs_f64(),
        });
        Ok(())
    }

    /// The DSM loss of the EMA weights on a fixed noised set.
    fn ema_loss(&mut self, set: &NoisedRows) -> Result<f64> {
        if let Engine::Fused(dsm) = &mut self.engine {
            return Ok(dsm.ema_loss(&self.state, &set.y, &set.z, &set.ts));
        }
        let net = self.model()?;
        let d = self.config.dim;
        let mut total = 0.0;
        for (c, ts) in set.ts.chunks(VAL_CHUNK).enumerate() {
            let rows = c * VAL_CHUNK * d..(c * VAL_CHUNK + ts.len()) * d;
            let loss = dsm_loss(&net, &set.y[rows.clone()], &set.z[rows], ts, &self.device)?;
            total += loss.to_scalar::<f32>()? as f64 * ts.len() as f64;
        }
        Ok(total / set.ts.len() as f64)
    }

    /// One optimisation step on the batch of stream `step` at learning rate `lr`; returns its loss.
    fn train_step(&mut self, lr: f64) -> Result<f64> {
        let d = self.config.dim;
        let n = self.train.len() / d;
        let b = self.params.batch;
        let (y, z, ts) = {
            let (key, step) = (self.params.seed ^ SEED_TAG, self.step);
            let (params, sde, train) = (&self.params, &self.config.sde, &self.train);
            let buf = &mut self.batch;
            buf.y.resize(b * d, 0.0);
            buf.z.resize(b * d, 0.0);
            buf.ts.resize(b, 0.0);
            // blocks of BATCH_BLOCK rows, each from its own stream: the same batch for any
            // number of threads, drawn in parallel
            buf.y
                .par_chunks_mut(BATCH_BLOCK * d)
                .zip(buf.z.par_chunks_mut(BATCH_BLOCK * d))
                .zip(buf.ts.par_chunks_mut(BATCH_BLOCK))
                .enumerate()
                .for_each(|(block, ((y, z), ts))| {
                    let mut rng = rng::stream(batch_key(key, block), step);
                    for ((y, z), t) in y.chunks_exact_mut(d).zip(z.chunks_exact_mut(d)).zip(ts) {
                        let i = rng.random_range(0..n);
                        *t = sample_time(params, sde, &mut rng);
                        noise_into(sde, *t, &train[i * d..(i + 1) * d], &mut rng, y, z);
                    }
                });
            (&buf.y, &buf.z, &buf.ts)
        };
        let settings = StepSettings {
            lr,
            clip: self.params.grad_clip,
            weight_decay: self.params.weight_decay,
            ema_decay: self.params.ema_decay,
        };
        let loss = match &mut self.engine {
            Engine::Fused(dsm) => {
                let (loss, grads, norm) = dsm.step(&self.state, y, z, ts);
                adam_step_with_norm(&mut self.state, grads, norm, self.step, settings);
                loss
            }
            Engine::Candle { net, vars } => {
                let loss = dsm_loss(net, y, z, ts, &self.device)?;
                let grads = loss.backward()?;
                let grads: Vec<Vec<f32>> = vars
                    .iter()
                    .zip(&self.state)
                    .map(|(var, p)| match grads.get(var.as_tensor()) {
                        Some(g) => Ok(g.flatten_all()?.to_vec1::<f32>()?),
                        None => Ok(vec![0.0; p.value.len()]),
                    })
                    .collect::<Result<_>>()?;
                adam_step(&mut self.state, &grads, self.step, settings);
                for (var, p) in vars.iter().zip(&self.state) {
                    var.set(&Tensor::from_slice(
                        &p.value,
                        p.shape.as_slice(),
                        &self.device,
                    )?)?;
                }
                loss.to_scalar::<f32>()? as f64
            }
        };
        self.step += 1;
        Ok(loss)
    }
}

/// candle's engine: the weights as variables of a network on `device`.
fn candle_engine(config: &MlpConfig, state: &[ParamState], device: &Device) -> Result<Engine> {
    let vars: Vec<Var> = state
        .iter()
        .map(|p| Var::from_slice(&p.value, p.shape.as_slice(), device))
        .collect::<candle_core::Result<_>>()?;
    let named: HashMap<String, Tensor> = state
        .iter()
        .zip(&vars)
        .map(|(p, v)| (p.name.clone(), v.as_tensor().clone()))
        .collect();
    let net = MlpScoreNet::new(
        config.clone(),
        VarBuilder::from_tensors(named, DType::F32, device),
    )?;
    Ok(Engine::Candle {
        net: Box::new(net),
        vars,
    })
}

/// A training time: uniform in [t_min, 1], or with log σ uniform.
/// The fidelity set: every clean validation row (model coordinates) noised at each level of
/// [`FIDELITY_LEVELS`] with the same number of fixed draws, at most [`FIDELITY_ROWS`] rows.
fn fidelity_set(sde: &Sde, clean: &[f32], dim: usize, key: u64) -> Result<NoisedRows> {
    let n = clean.len() / dim;
    let draws = (FIDELITY_ROWS / (n * FIDELITY_LEVELS.len()).max(1)).clamp(1, 8);
    let sigma0 = sde.marginal(sde.default_t0()).sigma;
    let times = FIDELITY_LEVELS
        .iter()
        .map(|f| sde.time_for_sigma(f * sigma0).map(|t| t.min(1.0)))
        .collect::<Result<Vec<f64>>>()?;
    let mut rng = rng::stream(key ^ FIDELITY_TAG, 0);
    let (mut y, mut z, mut ts) = (Vec::new(), Vec::new(), Vec::new());
    for row in clean.chunks_exact(dim) {
        for &t in &times {
            for _ in 0..draws {
                noise_row(sde, t, row, &mut rng, &mut y, &mut z);
                ts.push(t);
            }
        }
    }
    Ok(NoisedRows { y, z, ts })
}

fn sample_time(params: &TrainParams, sde: &Sde, rng: &mut impl Rng) -> f64 {
    let t_min = params.min_time();
    let u: f64 = rng.random();
    match params.time_sampling {
        TimeSampling::Uniform => t_min + (1.0 - t_min) * u,
        TimeSampling::LogSigma => {
            let (lo, hi) = (
                sde.marginal(t_min).sigma.max(1e-12).ln(),
                sde.marginal(1.0).sigma.ln(),
            );
            let sigma = (lo + (hi - lo) * u).exp();
            // σ lies in the SDE's range by construction; clamp guards the last ulp
            sde.time_for_sigma(sigma)
                .unwrap_or(if u < 0.5 { t_min } else { 1.0 })
                .clamp(t_min, 1.0)
        }
    }
}

/// Appends y_t = α y₀ + σ z and z for one clean row y₀.
fn noise_row(
    sde: &Sde,
    t: f64,
    clean: &[f32],
    rng: &mut impl Rng,
    y: &mut Vec<f32>,
    z: &mut Vec<f32>,
) {
    let at = y.len();
    y.resize(at + clean.len(), 0.0);
    z.resize(at + clean.len(), 0.0);
    noise_into(sde, t, clean, rng, &mut y[at..], &mut z[at..]);
}

/// Writes y_t = α y₀ + σ z and z for one clean row y₀ into `y` and `z`.
fn noise_into(sde: &Sde, t: f64, clean: &[f32], rng: &mut impl Rng, y: &mut [f32], z: &mut [f32]) {
    let m = sde.marginal(t);
    for ((&x, y), z) in clean.iter().zip(y).zip(z) {
        let e: f64 = StandardNormal.sample(rng);
        *y = (m.alpha * x as f64 + m.sigma * e) as f32;
        *z = e as f32;
    }
}

/// The denoising score-matching loss mean((σ(t)·s_θ(y_t, t) + z)²).
///
/// For every parameterisation this is the λ(t) = σ² weighting: noise prediction gives
/// ‖z − ε̂‖², data prediction (α/σ)²‖x̂₀ − y₀‖² (Vincent 2011; Song et al. 2021, eq. 7).
fn dsm_loss(
    net: &MlpScoreNet,
    y: &[f32],
    z: &[f32],
    ts: &[f64],
    device: &Device,
) -> Result<Tensor> {
    let b = ts.len();
    let d = y.len() / b.max(1);
    let yt = Tensor::from_slice(y, (b, d), device)?;
    let zt = Tensor::from_slice(z, (b, d), device)?;
    let sde = net.config().sde;
    let sigma: Vec<f32> = ts.iter().map(|&t| sde.marginal(t).sigma as f32).collect();
    let sigma = Tensor::from_vec(sigma, (b, 1), device)?;
    let s = net.score_tensor(&yt, ts)?;
    Ok((s.broadcast_mul(&sigma)? + zt)?.sqr()?.mean_all()?)
}
