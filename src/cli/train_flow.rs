//! `scoregeo train-flow`: fit an anisotropic normalising flow (φ and base variances a) to a
//! dataset, for the closed-form pullback geometry and the Riemannian autoencoder (`scoregeo rae`).

use crate::geometry::FlowTrainParams;
use clap::Args;
use std::path::PathBuf;

/// Flags of `train-flow`.
#[derive(Args, Debug)]
pub struct TrainFlowArgs {
    /// Dataset file (CSV with optional header, or .npy); rows are points (D ≥ 2).
    pub data: PathBuf,
    /// Output flow file (.safetensors).
    #[arg(long, short = 'o')]
    pub output: PathBuf,
    /// Optimisation steps [default: 2000].
    #[arg(long)]
    pub steps: Option<usize>,
    /// Seed of the initial weights, batches and probes [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Width of the conditioner MLPs [default: 64].
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Number of affine-coupling layers [default: 6].
    #[arg(long)]
    pub layers: Option<usize>,
    /// Points per batch [default: 256].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Adam learning rate of the couplings [default: 0.001].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Weight of the isometry regulariser ‖DφᵀDφ − I‖²_F [default: 1].
    #[arg(long)]
    pub lambda_iso: Option<f64>,
    /// Weight of the volume regulariser |log det Dφ| [default: 0.1].
    #[arg(long)]
    pub lambda_vol: Option<f64>,
}

/// Runs `train-flow`: trains, saves atomically, prints the final loss and the variances.
pub fn run(args: TrainFlowArgs) -> anyhow::Result<()> {
    let data = super::common::read_data(&args.data)?;
    type Setter<T> = fn(FlowTrainParams, T) -> FlowTrainParams;
    fn set<T>(p: FlowTrainParams, value: Option<T>, setter: Setter<T>) -> FlowTrainParams {
        match value {
            Some(v) => setter(p, v),
            None => p,
        }
    }
    let p = FlowTrainParams::default().progress(super::common::progress());
    let p = set(p, args.steps, FlowTrainParams::steps);
    let p = set(p, args.seed, FlowTrainParams::seed);
    let p = set(p, args.hidden, FlowTrainParams::hidden);
    let p = set(p, args.layers, FlowTrainParams::layers);
    let p = set(p, args.batch, FlowTrainParams::batch);
    let p = set(p, args.lr, FlowTrainParams::lr);
    let p = set(p, args.lambda_iso, FlowTrainParams::lambda_iso);
    let p = set(p, args.lambda_vol, FlowTrainParams::lambda_vol);
    let trainer = p.check()?;
    let (flow, report) = trainer.fit(&data)?;
    flow.save(&args.output)?;
    let l = report.final_loss;
    let mut a = flow.variances()?;
    a.sort_by(|x, y| y.total_cmp(x));
    let shown: Vec<String> = a.iter().map(|v| format!("{v:.4e}")).collect();
    let text = format!(
        "final loss {:.6} (nll {:.6}, isometry {:.6}, volume {:.6}) after {} steps in {:.1}s\n\
         variances (descending): {}\nsaved {}\n",
        l.total,
        l.nll,
        l.isometry,
        l.volume,
        trainer.steps(),
        report.elapsed_s,
        shown.join(" "),
        args.output.display()
    );
    super::common::emit(None, &text)
}
