//! `scoregeo convert`: a PyTorch checkpoint as a native safetensors model with its config.

use super::common::ModelOverrides;
use crate::score::pytorch;
use clap::Args;
use std::path::PathBuf;

/// Flags of `convert`.
#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// The PyTorch checkpoint (.pt/.pth/.ckpt).
    pub model: PathBuf,
    /// The native model to write (.safetensors, atomically).
    #[arg(long, short = 'o')]
    pub output: PathBuf,
    /// What the checkpoint does not say.
    #[command(flatten)]
    pub overrides: ModelOverrides,
}

/// Runs `convert`; a summary goes to stderr.
pub fn run(args: ConvertArgs) -> anyhow::Result<()> {
    let done = pytorch::convert(&args.model, &args.overrides.to_library(), &args.output)?;
    let i = &done.inspection;
    eprintln!(
        "wrote {} ({}; {}; {})",
        done.output.display(),
        done.native_type,
        i.architecture
            .as_ref()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        i.weights.as_deref().unwrap_or("weights")
    );
    Ok(())
}
