//! `scoregeo generate`: a synthetic manifold with known intrinsic dimension, written as a data
//! file (CSV, or .npy by extension) with a JSON manifest beside it (`<output>.manifest.json`).

use crate::data::synthetic::{manifest_path, Kind, Latent, Params};
use clap::Args;
use std::path::PathBuf;

/// Flags of `generate`.
#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Which manifold to sample.
    #[arg(value_enum)]
    pub kind: Kind,
    /// Output data file: `.npy` for NumPy, anything else for CSV.
    #[arg(short = 'o', long)]
    pub output: PathBuf,
    /// Number of points.
    #[arg(long, default_value_t = 1000)]
    pub n: usize,
    /// Intrinsic dimension k (sphere, affine, sinusoid, hemisphere, squares, blobs).
    #[arg(long)]
    pub dim: Option<usize>,
    /// Ambient dimension D.
    #[arg(long)]
    pub ambient: Option<usize>,
    /// Standard deviation of Gaussian noise (sinusoid: off-manifold only, default √1e-3; others 0).
    #[arg(long)]
    pub noise: Option<f64>,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Sphere radius (sphere; default 1).
    #[arg(long)]
    pub radius: Option<f64>,
    /// Dimensions of the spheres, comma-separated (spheres; default 10,30).
    #[arg(long, value_delimiter = ',')]
    pub dims: Option<Vec<usize>>,
    /// Radii of the spheres, comma-separated (spheres; default 1,0.25 with the default dims).
    #[arg(long, value_delimiter = ',')]
    pub radii: Option<Vec<f64>>,
    /// Distance of each sphere's centre from the origin (spheres; default 0).
    #[arg(long)]
    pub offset: Option<f64>,
    /// Coordinate law on the subspace (affine; default uniform).
    #[arg(long, value_enum)]
    pub latent: Option<Latent>,
    /// Image side s, D = s² (squares, blobs; default 32).
    #[arg(long)]
    pub image_size: Option<usize>,
    /// Initial MALA step size (banana, river; default 0.1, adapted during burn-in).
    #[arg(long)]
    pub step: Option<f64>,
    /// MALA burn-in steps per chain (banana, river; default 3000).
    #[arg(long)]
    pub burn_in: Option<usize>,
    /// MALA steps between kept samples (banana, river; default 20).
    #[arg(long)]
    pub thin: Option<usize>,
    /// Independent MALA chains (banana, river; default n/4, rounded up).
    #[arg(long)]
    pub chains: Option<usize>,
}

impl GenerateArgs {
    /// The library parameters these flags ask for (checked by `generate`).
    fn params(&self) -> Params {
        fn set<T>(p: Params, value: Option<T>, setter: fn(Params, T) -> Params) -> Params {
            match value {
                Some(v) => setter(p, v),
                None => p,
            }
        }
        let p = Params::default().n(self.n).seed(self.seed);
        let p = set(p, self.dim, Params::dim);
        let p = set(p, self.ambient, Params::ambient);
        let p = set(p, self.noise, Params::noise);
        let p = set(p, self.radius, Params::radius);
        let p = set(p, self.dims.clone(), Params::dims);
        let p = set(p, self.radii.clone(), Params::radii);
        let p = set(p, self.offset, Params::offset);
        let p = set(p, self.latent, Params::latent);
        let p = set(p, self.image_size, Params::image_size);
        let p = set(p, self.step, Params::step);
        let p = set(p, self.burn_in, Params::burn_in);
        let p = set(p, self.thin, Params::thin);
        set(p, self.chains, Params::chains)
    }
}

/// Generates the dataset, writes it and its manifest, and prints a one-line summary to stderr.
pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let (data, manifest) = args.params().check(args.kind)?.generate()?;
    data.write(&args.output)?;
    let sidecar = manifest_path(&args.output);
    manifest.write(&sidecar)?;
    eprintln!(
        "{}: {} points in ℝ^{}, true ID {} → {} (manifest {})",
        args.kind,
        data.len(),
        data.dim(),
        manifest.true_id,
        args.output.display(),
        sidecar.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synthetic::{Manifest, TrueId};
    use crate::data::Dataset;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Wrapper {
        #[command(flatten)]
        args: GenerateArgs,
    }

    fn parse(line: &[&str]) -> GenerateArgs {
        Wrapper::try_parse_from(std::iter::once("generate").chain(line.iter().copied()))
            .unwrap()
            .args
    }

    #[test]
    fn flags_map_to_params() {
        <Wrapper as clap::CommandFactory>::command().debug_assert();
        let args = parse(&[
            "spheres", "-o", "x.csv", "--dims", "2,3", "--radii", "1,0.5", "--n", "9", "--seed",
            "4",
        ]);
        assert_eq!(args.kind, Kind::Spheres);
        assert_eq!(
            args.params(),
            Params::default()
                .n(9)
                .seed(4)
                .dims(vec![2, 3])
                .radii(vec![1.0, 0.5])
        );
        assert_eq!(parse(&["swiss-roll", "-o", "y.npy"]).kind, Kind::SwissRoll);
        assert_eq!(
            parse(&["affine", "-o", "y", "--latent", "gaussian"]).latent,
            Some(Latent::Gaussian)
        );
    }

    #[test]
    fn writes_data_and_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("s.npy");
        let args = parse(&[
            "sphere",
            "-o",
            out.to_str().unwrap(),
            "--n",
            "20",
            "--dim",
            "2",
            "--ambient",
            "4",
        ]);
        run(args).unwrap();
        let data = Dataset::read(&out).unwrap();
        assert_eq!((data.len(), data.dim()), (20, 4));
        let manifest = Manifest::read(dir.path().join("s.npy.manifest.json")).unwrap();
        assert_eq!(manifest.true_id, TrueId::Global(2));
        let bad = parse(&["spaghetti", "-o", out.to_str().unwrap(), "--radius", "2"]);
        let err = run(bad).unwrap_err();
        assert_eq!(super::super::common::exit_code(&err), 2, "{err:#}");
    }
}
