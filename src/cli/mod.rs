//! The `scoregeo` command line: parse flags, build checked library parameters, call the library,
//! write outputs. Data goes to stdout or `-o`; progress and logs to stderr.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 usage error (bad flags or parameter values).

pub mod common;
pub mod convert;
pub mod generate;
pub mod geodesic;
pub mod id_estimate;
pub mod inspect;
pub mod rae;
pub mod spectrum;
pub mod train;
pub mod train_flow;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Intrinsic dimension and manifold geometry from score (diffusion) models.
#[derive(Parser, Debug)]
#[command(name = "scoregeo", version, about, propagate_version = true)]
pub struct Cli {
    /// Hide progress bars.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Sample a manifold with known intrinsic dimension (writes the data and a manifest).
    Generate(generate::GenerateArgs),
    /// Train a score model on a dataset by denoising score matching.
    Train(train::TrainArgs),
    /// Estimate the intrinsic dimension of a dataset.
    IdEstimate(id_estimate::IdEstimateArgs),
    /// Draw the singular-value spectra of the normal-bundle estimator (PNG or SVG).
    Spectrum(spectrum::SpectrumArgs),
    /// Show a model file's tensors, architecture, SDE and what is still needed to use it.
    InspectModel(inspect::InspectModelArgs),
    /// Convert a PyTorch checkpoint into a native safetensors model.
    Convert(convert::ConvertArgs),
    /// Train an anisotropic normalising flow (φ and base variances) on a dataset.
    TrainFlow(train_flow::TrainFlowArgs),
    /// Riemannian autoencoder of a trained flow: d_ε, the variance profile, encode/decode.
    Rae(rae::RaeArgs),
    /// The score-based pullback geodesic between two points (closed form for a flow).
    Geodesic(geodesic::GeodesicArgs),
    /// The score-based pullback distance between two points: the length of their geodesic.
    Distance(geodesic::GeodesicArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    common::set_progress(crate::progress::Progress::quiet_if(cli.quiet));
    match cli.command {
        Command::Generate(args) => generate::run(args),
        Command::Train(args) => train::run(args),
        Command::IdEstimate(args) => id_estimate::run(args),
        Command::Spectrum(args) => spectrum::run(args),
        Command::InspectModel(args) => inspect::run(args),
        Command::Convert(args) => convert::run(args),
        Command::TrainFlow(args) => train_flow::run(args),
        Command::Rae(args) => rae::run(args),
        Command::Geodesic(args) => geodesic::run_geodesic(args),
        Command::Distance(args) => geodesic::run_distance(args),
    }
}

/// On SIGINT, SIGTERM or SIGHUP: removes the temporary files of outputs being written and
/// exits with 128 + the signal number, so every output is complete or absent.
#[cfg(unix)]
fn abandon_partial_outputs_on_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
        std::thread::spawn(move || {
            if let Some(signal) = signals.forever().next() {
                eprintln!("\ninterrupted (signal {signal}): outputs being written were removed");
                crate::io::exit_abandoning_partial_outputs(128 + signal);
            }
        });
    }
}

/// Entry point of the binary: parses `std::env::args`, runs, and maps errors to exit codes.
pub fn main() -> ExitCode {
    #[cfg(unix)]
    abandon_partial_outputs_on_signals();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(e.exit_code() as u8);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if common::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", common::cli_words(&format!("{e:#}")));
            ExitCode::from(common::exit_code(&e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
