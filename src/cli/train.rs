//! `scoregeo train`: fit an MLP score model to a dataset file by denoising score matching.
//!
//! Without flags it trains the default recipe (see [`crate::train`]). The output is one
//! safetensors file, rewritten atomically at every evaluation, that `--model` loads (EMA weights)
//! and `--resume` continues exactly.

use crate::error::Error;
use crate::sde::SdeKind;
use crate::train::{Budget, SaveMode, Session, TrainParams};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// Flags of `train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Dataset file (CSV with optional header, or .npy); rows are points.
    pub data: PathBuf,
    /// Output model file (.safetensors).
    #[arg(long, short = 'o')]
    pub output: PathBuf,
    /// Forward SDE [default: ve].
    #[arg(long, value_enum)]
    pub sde: Option<TrainSde>,
    /// Width of the hidden layers [default: 256].
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Number of hidden layers [default: 4].
    #[arg(long)]
    pub depth: Option<usize>,
    /// Train until this many optimisation steps in all [default: 24000; early stopping on
    /// held-out small-σ fidelity ends most runs sooner].
    #[arg(long, conflicts_with = "time_budget")]
    pub steps: Option<u64>,
    /// Train for this many seconds instead of a number of steps (not reproducible).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub time_budget: Option<f64>,
    /// Points per batch [default: 256].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Peak Adam learning rate [default: 0.001].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Seed of the initial weights, split, batches and noise [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Continue the training state saved in OUTPUT to its budget, exactly as if never stopped
    /// (settings come from the file; a new --steps total or --time-budget extends the run).
    /// Starts afresh, with a note, when OUTPUT does not exist yet.
    #[arg(long)]
    pub resume: bool,
    /// Save the EMA weights only (a quarter of the size; cannot be resumed).
    #[arg(long)]
    pub slim: bool,
    /// Train to the budget even when the held-out fidelity at small σ has started to fall
    /// (by default the run stops there and keeps the weights of its best evaluation).
    #[arg(long)]
    pub no_early_stop: bool,
}

/// The SDE families `train` offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TrainSde {
    /// Variance exploding: σ(t) = σ_min (σ_max/σ_min)^t with σ_max ≥ the data diameter.
    Ve,
    /// Variance preserving: β(t) = β_min + t(β_max − β_min).
    Vp,
}

impl From<TrainSde> for SdeKind {
    fn from(sde: TrainSde) -> Self {
        match sde {
            TrainSde::Ve => SdeKind::Ve,
            TrainSde::Vp => SdeKind::Vp,
        }
    }
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() && v < 1e9 => Ok(v),
        _ => Err(format!("`{s}`: expected a positive number of seconds")),
    }
}

/// A change to the settings asked for by one flag.
type Edit = Box<dyn Fn(TrainParams) -> TrainParams>;

impl TrainArgs {
    /// The settings flags given (all but the budget), each as a named edit.
    fn edits(&self) -> Vec<(&'static str, Edit)> {
        let mut out: Vec<(&'static str, Edit)> = Vec::new();
        if let Some(v) = self.sde {
            out.push(("--sde", Box::new(move |p: TrainParams| p.sde(v.into()))));
        }
        if let Some(v) = self.hidden {
            out.push(("--hidden", Box::new(move |p: TrainParams| p.hidden(v))));
        }
        if let Some(v) = self.depth {
            out.push(("--depth", Box::new(move |p: TrainParams| p.depth(v))));
        }
        if let Some(v) = self.batch {
            out.push(("--batch", Box::new(move |p: TrainParams| p.batch(v))));
        }
        if let Some(v) = self.lr {
            out.push(("--lr", Box::new(move |p: TrainParams| p.lr(v))));
        }
        if let Some(v) = self.seed {
            out.push(("--seed", Box::new(move |p: TrainParams| p.seed(v))));
        }
        if self.no_early_stop {
            out.push((
                "--no-early-stop",
                Box::new(|p: TrainParams| p.early_stop(None)),
            ));
        }
        out
    }

    /// The budget the flags ask for, if any.
    fn budget(&self) -> Option<Budget> {
        match (self.steps, self.time_budget) {
            (Some(n), _) => Some(Budget::UntilStep(n)),
            (None, Some(s)) => Some(Budget::Duration(Duration::from_secs_f64(s))),
            (None, None) => None,
        }
    }

    /// Fresh settings: the default recipe with every flag applied.
    fn params(&self) -> TrainParams {
        let p = self
            .edits()
            .into_iter()
            .fold(TrainParams::default(), |p, (_, edit)| edit(p));
        match self.budget() {
            Some(Budget::UntilStep(n)) => p.steps(n),
            Some(Budget::Duration(d)) => p.time_budget(d),
            None => p,
        }
    }
}

/// Runs `train`.
pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let data = super::common::read_data(&args.data)?;
    let resuming = args.resume && args.output.exists();
    if args.resume && !resuming {
        eprintln!(
            "{} does not exist yet: starting a new run",
            args.output.display()
        );
    }
    let mut session = if resuming {
        let mut session = Session::resume(&args.output, &data)?;
        for (flag, edit) in args.edits() {
            if &edit(session.params().clone()) != session.params() {
                return Err(Error::param(
                    "resume",
                    format!(
                        "{flag} differs from the settings saved in {}; a resumed run keeps them",
                        args.output.display()
                    ),
                )
                .into());
            }
        }
        if let Some(budget) = args.budget() {
            if budget != session.params().budget() {
                session.set_budget(budget);
            }
        }
        eprintln!(
            "resuming {} at step {}",
            args.output.display(),
            session.step()
        );
        session.set_progress(super::common::progress());
        session
    } else {
        args.params()
            .check()?
            .start_reporting(&data, super::common::progress())?
    };
    // a fresh session may come back from its head pilot already past step 0
    let first = if resuming { session.step() } else { 0 };
    if let Some(p) = session.head_pilot() {
        eprintln!(
            "head pilot ({} steps each): held-out fidelity {:.5} preconditioned, {:.5} data; training on with the {} head",
            p.steps,
            p.preconditioned,
            p.data,
            if p.chose_data() { "data" } else { "preconditioned" }
        );
    }
    if let Budget::UntilStep(n) = session.params().budget() {
        if n <= first {
            eprintln!(
                "{} is already at step {first} (≥ --steps {n}); nothing to train",
                args.output.display()
            );
        }
    }
    session.run(Some(&args.output))?;
    if args.slim {
        session.save(&args.output, SaveMode::EmaOnly)?;
    }
    let r = session.report();
    let loss = |v: Option<f64>| v.map_or("n/a".to_string(), |l| format!("{l:.5}"));
    if let (Some(stop), Some(best)) = (r.stopped_at, r.best_step) {
        eprintln!(
            "stopped early at step {stop}: held-out fidelity at small σ had stopped improving; kept the weights of step {best}"
        );
    }
    eprintln!(
        "trained {} steps ({} this run) in {:.1} s in all, {:.0} samples/s; train loss {}, validation loss {} ({} held-out points)",
        r.steps,
        r.steps - first,
        r.elapsed.as_secs_f64(),
        r.samples_per_sec,
        loss(r.train_loss),
        loss(r.val_loss),
        r.n_val
    );
    eprintln!(
        "wrote {} ({})",
        args.output.display(),
        if args.slim {
            "EMA weights only"
        } else {
            "resumable"
        }
    );
    Ok(())
}
