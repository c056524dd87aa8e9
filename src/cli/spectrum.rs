//! `scoregeo spectrum`: a figure of the singular-value spectra of the normal-bundle estimator.

use super::common::{self, ModelSpec};
use super::id_estimate::{
    self, DerivativeArg, Format, IdEstimateArgs, MethodArg, Points, ProbeArg, T0,
};
use crate::id::Rule;
use clap::Args;
use std::path::PathBuf;

/// Flags of `spectrum`.
#[derive(Args, Debug)]
pub struct SpectrumArgs {
    /// Dataset file (CSV or .npy).
    pub data: PathBuf,
    /// Score model: a model file, or `mixture[:H]` (see id-estimate). Without it, the default model.
    #[arg(long, short = 'm')]
    pub model: Option<ModelSpec>,
    /// Flags completing a PyTorch checkpoint.
    #[command(flatten)]
    pub model_overrides: common::ModelOverrides,
    /// Output figure (.png or .svg).
    #[arg(long, short = 'o')]
    pub output: PathBuf,
    /// Spectra of the score Jacobian instead of sampled scores.
    #[arg(long)]
    pub jacobian: bool,
    /// Diffusion time t₀.
    #[arg(long, conflicts_with = "sigma")]
    pub t0: Option<f64>,
    /// Perturbation scale σ in data units instead of --t0.
    #[arg(long)]
    pub sigma: Option<f64>,
    /// Score samples K per point (default max(4·D, 64)).
    #[arg(long)]
    pub samples: Option<usize>,
    /// Read-off rule: maxgap, ratio or threshold:τ.
    #[arg(long, default_value = "maxgap", value_parser = |s: &str| s.parse::<Rule>().map_err(|e| e.to_string()))]
    pub rule: Rule,
    /// Number of points (seeded choice), or `all`.
    #[arg(long, default_value = "200")]
    pub points: Points,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Runs `spectrum`: the normal-bundle (or Jacobian) estimate drawn as a figure; the summary goes to stderr.
pub fn run(args: SpectrumArgs) -> anyhow::Result<()> {
    let estimate_args = IdEstimateArgs {
        data: args.data,
        model: args.model,
        model_overrides: args.model_overrides,
        method: if args.jacobian {
            MethodArg::Jacobian
        } else {
            MethodArg::Nb
        },
        t0: args.t0.map(T0::At),
        sigma: args.sigma,
        samples: args.samples,
        fixed_samples: false,
        rule: args.rule,
        normal_floor: 0.1,
        k: 20,
        exact_max_dim: 32,
        probes: 8,
        probe: ProbeArg::Rademacher,
        derivative: DerivativeArg::Jvp,
        no_scale_check: false,
        points: args.points,
        seed: args.seed,
        format: Format::Table,
        spectra: false,
        plot: Some(args.output),
        histogram: None,
        output: None,
    };
    let summary = id_estimate::report(&estimate_args)?;
    eprint!("{summary}");
    Ok(())
}
