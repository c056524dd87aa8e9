//! `scoregeo inspect-model`: what a model file holds and what is still needed to use it.

use super::common::{self, ModelOverrides};
use crate::score::pytorch;
use clap::Args;
use std::path::PathBuf;

/// Flags of `inspect-model`.
#[derive(Args, Debug)]
pub struct InspectModelArgs {
    /// Model file: a PyTorch checkpoint (.pt/.pth/.ckpt) or a native .safetensors file.
    pub model: PathBuf,
    /// Settings to try on a PyTorch checkpoint (as `id-estimate` would apply them).
    #[command(flatten)]
    pub overrides: ModelOverrides,
}

/// Runs `inspect-model`: the report goes to stdout.
pub fn run(args: InspectModelArgs) -> anyhow::Result<()> {
    let report = if crate::io::is_pytorch_checkpoint(&args.model) {
        pytorch::inspect(&args.model, &args.overrides.to_library())?.to_string()
    } else {
        pytorch::describe_native(&args.model)?
    };
    common::emit(None, &common::cli_words(&report))
}
