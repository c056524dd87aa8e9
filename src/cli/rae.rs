//! `scoregeo rae`: the Riemannian autoencoder of a trained anisotropic flow (DESIGN §2).
//!
//! Reports d_ε = min{k : Σ_{i>k} a₍ᵢ₎ ≤ ε Σ a} (an intrinsic-dimension estimate) and the variance
//! profile (sorted a, their latent coordinates, the cumulative share). With `--encode DATA` it
//! writes the codes of DATA (n × d_ε CSV) to `-o` instead; with `--decode CODES` the decoded
//! points (n × D CSV). Then the report is not printed; a one-line summary goes to stderr.

use crate::data::Dataset;
use crate::geometry::AnisotropicFlow;
use anyhow::Context;
use clap::{Args, ValueEnum};
use serde::Serialize;
use std::path::PathBuf;

/// Report formats of `rae`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RaeFormat {
    /// Human-readable table.
    Table,
    /// One JSON object.
    Json,
}

/// Flags of `rae`.
#[derive(Args, Debug)]
pub struct RaeArgs {
    /// Flow file written by `scoregeo train-flow`.
    pub flow: PathBuf,
    /// Tolerance ε in [0, 1]: the dropped variances may sum to at most ε of the total.
    #[arg(long)]
    pub epsilon: f64,
    /// Report format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: RaeFormat,
    /// Output file: the report, or the codes/points with --encode/--decode (default: stdout,
    /// required with --encode/--decode).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Encode this dataset: write its d_ε-dimensional codes as CSV to -o.
    #[arg(
        long,
        value_name = "DATA",
        conflicts_with = "decode",
        requires = "output"
    )]
    pub encode: Option<PathBuf>,
    /// Decode these codes (n × d_ε): write the points φ⁻¹(code padded with zeros) as CSV to -o.
    #[arg(long, value_name = "CODES", requires = "output")]
    pub decode: Option<PathBuf>,
}

/// The JSON report.
#[derive(Serialize)]
struct Report<'a> {
    flow: String,
    dim: usize,
    epsilon: f64,
    rae_dim: usize,
    variances: &'a [f64],
    coordinates: &'a [usize],
    explained: &'a [f64],
}

/// Runs `rae`.
pub fn run(args: RaeArgs) -> anyhow::Result<()> {
    let flow = AnisotropicFlow::load(&args.flow)?;
    let rae = flow.autoencoder(args.epsilon)?;
    let k = rae.latent_dim();
    if let Some(data) = &args.encode {
        let output = args
            .output
            .as_ref()
            .context("--encode needs -o CODES.csv")?;
        if k == 0 {
            anyhow::bail!("d_ε = 0 at ε = {}: the codes would be empty", args.epsilon);
        }
        let x = super::common::read_data(data)?;
        let (codes, err) = rae.encode_with_error(x.as_mat())?;
        Dataset::from_mat(codes.as_ref())?.write(output)?;
        eprintln!(
            "encoded {} points to {k} coordinates (d_ε at ε = {}); mean reconstruction error {err:.6e}; wrote {}",
            x.len(),
            args.epsilon,
            output.display()
        );
        return Ok(());
    }
    if let Some(codes) = &args.decode {
        let output = args.output.as_ref().context("--decode needs -o DATA.csv")?;
        let c = super::common::read_data(codes)?;
        let x = rae.decode(c.as_mat())?;
        Dataset::from_mat(x.as_ref())?.write(output)?;
        eprintln!(
            "decoded {} codes of {k} coordinates to R^{}; wrote {}",
            c.len(),
            x.ncols(),
            output.display()
        );
        return Ok(());
    }
    let profile = rae.variance_profile();
    let text = match args.format {
        RaeFormat::Json => {
            let report = Report {
                flow: args.flow.display().to_string(),
                dim: flow.config().dim,
                epsilon: args.epsilon,
                rae_dim: k,
                variances: &profile.variances,
                coordinates: &profile.coordinates,
                explained: &profile.explained,
            };
            serde_json::to_string_pretty(&report)? + "\n"
        }
        RaeFormat::Table => {
            let mut s = format!(
                "rae_dim (d_ε) = {k} of D = {} at ε = {}\n{:>4} {:>10} {:>14} {:>10}\n",
                flow.config().dim,
                args.epsilon,
                "rank",
                "coordinate",
                "variance",
                "explained"
            );
            for (r, ((v, c), e)) in profile
                .variances
                .iter()
                .zip(&profile.coordinates)
                .zip(&profile.explained)
                .enumerate()
            {
                let mark = if r < k { "*" } else { " " };
                s += &format!("{:>4} {c:>10} {v:>14.6e} {e:>10.6}{mark}\n", r + 1);
            }
            s
        }
    };
    super::common::emit(args.output.as_deref(), &text)
}
