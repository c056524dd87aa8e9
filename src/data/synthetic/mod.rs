//! Synthetic manifolds with known intrinsic dimension (ID): the ground truth the estimators are
//! tested and demonstrated on.
//!
//! [`generate`] draws `n` points of one [`Kind`] with the settings in [`Params`] (a builder checked
//! once into a [`Generator`]) and returns the
//! [`Dataset`] together with a [`Manifest`]: the generator, every resolved parameter, the seed and
//! the true ID ([`TrueId`]: one number, or one per point where it varies). [`Manifest::write`]
//! stores it as a JSON sidecar beside the data file ([`manifest_path`]).
//!
//! | kind | construction | true ID | source |
//! |---|---|---|---|
//! | `sphere` | uniform k-sphere of radius r in ℝ^{k+1}, random isometry into ℝ^D | k | ID paper¹ |
//! | `spheres` | union of spheres (default a 10- and a 30-sphere, radii 1 and ¼, in ℝ^100) | per point | ID paper¹ |
//! | `spaghetti` | x ~ U(0,1), coordinates sin((i+1)x), i < D | 1 | ID paper¹ |
//! | `affine` | uniform or Gaussian coordinates on a random k-dimensional affine subspace | k | — |
//! | `swiss-roll` | the Swiss roll in ℝ³ (optionally isometrically in ℝ^D) | 2 | — |
//! | `lollipop` | disc + stick + isolated point in ℝ² (optionally ℝ^D) | 2 / 1 / 0 | after LIDL³ |
//! | `sinusoid` | z ~ N(0, 3I_K), x = (sin(w_jᵀz) + noise, z) in ℝ^N | K | pullback paper² |
//! | `hemisphere` | upper hemisphere of S^K (polar angle ~ ½π·Beta(5,5)), isometry into ℝ^N | K | pullback paper² |
//! | `banana`, `river` | p(x) ∝ exp(−½φ(x)ᵀA⁻¹φ(x)) on ℝ², sampled by MALA | 2 | pullback paper² |
//! | `squares` | 32×32 images of k fixed squares with random brightness | k | ID paper¹ |
//! | `blobs` | 32×32 images of k fixed Gaussian blobs with random widths | k | ID paper¹ |
//!
//! ¹ Stanczuk, Batzolis, Deveney, Schönlieb, *Diffusion models encode the intrinsic dimension of
//! data manifolds*, ICML 2024. ² Diepeveen, Batzolis, Shumaylov, Schönlieb, *Score-based pullback
//! Riemannian geometry*, 2024. ³ Tempczyk et al., *LIDL: local intrinsic dimension estimation using
//! approximate likelihood*, ICML 2022. The exact constructions are documented on each family's
//! function in the submodules.
//!
//! Every draw is seeded: point i uses its own ChaCha8 stream ([`crate::rng::stream`]), noise and
//! fixed structures (embeddings, image layouts, MCMC chains) use further disjoint streams, so the
//! same parameters give bit-identical data whatever the number of threads.
//!
//! ```
//! use scoregeo::data::synthetic::{generate, Kind, Params};
//!
//! let sphere = Params::default().n(200).dim(2).ambient(5).check(Kind::Sphere)?;
//! let (data, manifest) = sphere.generate()?;
//! assert_eq!((data.len(), data.dim()), (200, 5));
//! assert_eq!(manifest.true_id.global(), Some(2));
//! // points of a unit sphere embedded by an isometry keep norm 1
//! assert!(data.rows().all(|x| (x.iter().map(|v| v * v).sum::<f64>().sqrt() - 1.0).abs() < 1e-12));
//! # Ok::<(), scoregeo::Error>(())
//! ```

mod affine;
pub mod benchmark;
mod images;
mod lollipop;
mod mala;
mod pullback;
mod spaghetti;
mod sphere;
mod swiss_roll;

pub use mala::{ShearProfile, ShearedGaussian};

use super::Dataset;
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::rng::stream;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The families of synthetic data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Kind {
    /// Uniform k-sphere embedded in ℝ^D by a random isometry (ID k).
    Sphere,
    /// Union of spheres of different dimensions, each with its own embedding (ID per point).
    Spheres,
    /// The spaghetti line x ↦ (sin x, sin 2x, …, sin Dx), x ~ U(0,1) (ID 1).
    Spaghetti,
    /// Uniform or Gaussian coordinates on a random k-dimensional affine subspace (ID k).
    Affine,
    /// The Swiss roll (ID 2).
    SwissRoll,
    /// Disc, stick and isolated point (ID 2, 1 and 0 per point).
    Lollipop,
    /// The sinusoid (K, N) of the score-based pullback paper (ID K).
    Sinusoid,
    /// The hemisphere (K, N) of the score-based pullback paper (ID K).
    Hemisphere,
    /// The banana density on ℝ², sampled by MALA (ID 2).
    Banana,
    /// The river density on ℝ², sampled by MALA (ID 2).
    River,
    /// 32×32 images of k squares with random brightness (ID k).
    Squares,
    /// 32×32 images of k Gaussian blobs with random widths (ID k).
    Blobs,
}

impl Kind {
    /// Every kind, in documentation order.
    pub const ALL: [Kind; 12] = [
        Kind::Sphere,
        Kind::Spheres,
        Kind::Spaghetti,
        Kind::Affine,
        Kind::SwissRoll,
        Kind::Lollipop,
        Kind::Sinusoid,
        Kind::Hemisphere,
        Kind::Banana,
        Kind::River,
        Kind::Squares,
        Kind::Blobs,
    ];

    /// The name used on the command line and in manifests (kebab-case).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Sphere => "sphere",
            Kind::Spheres => "spheres",
            Kind::Spaghetti => "spaghetti",
            Kind::Affine => "affine",
            Kind::SwissRoll => "swiss-roll",
            Kind::Lollipop => "lollipop",
            Kind::Sinusoid => "sinusoid",
            Kind::Hemisphere => "hemisphere",
            Kind::Banana => "banana",
            Kind::River => "river",
            Kind::Squares => "squares",
            Kind::Blobs => "blobs",
        }
    }

    /// The family-specific options (beyond n, seed and noise) this kind reads.
    fn options(self) -> &'static [&'static str] {
        match self {
            Kind::Sphere => &["dim", "ambient", "radius"],
            Kind::Spheres => &["ambient", "dims", "radii", "offset"],
            Kind::Spaghetti | Kind::SwissRoll | Kind::Sinusoid | Kind::Hemisphere => {
                &["dim", "ambient"]
            }
            Kind::Affine => &["dim", "ambient", "latent"],
            Kind::Lollipop => &["ambient"],
            Kind::Banana | Kind::River => &["dim", "ambient", "step", "burn-in", "thin", "chains"],
            Kind::Squares | Kind::Blobs => &["dim", "ambient", "image-size"],
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Kind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
                Error::param(
                    "kind",
                    format!("unknown kind `{s}`; expected one of {}", names.join(", ")),
                )
            })
    }
}

/// How coordinates on an affine subspace are drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Latent {
    /// Uniform on the cube [−1, 1]^k.
    #[default]
    Uniform,
    /// Standard normal N(0, I_k).
    Gaussian,
}

/// Settings of a generator (a builder): unset options take the family's default (stated on each
/// family), and an option a family does not read is rejected rather than ignored.
/// [`Params::check`] validates them once for a [`Kind`] into a [`Generator`].
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    pub(super) n: usize,
    pub(super) seed: u64,
    pub(super) dim: Option<usize>,
    pub(super) ambient: Option<usize>,
    pub(super) noise: Option<f64>,
    pub(super) radius: Option<f64>,
    pub(super) dims: Option<Vec<usize>>,
    pub(super) radii: Option<Vec<f64>>,
    pub(super) offset: Option<f64>,
    pub(super) latent: Option<Latent>,
    pub(super) image_size: Option<usize>,
    pub(super) step: Option<f64>,
    pub(super) burn_in: Option<usize>,
    pub(super) thin: Option<usize>,
    pub(super) chains: Option<usize>,
    /// Stop each family after its checks, before drawing anything ([`Params::check`]).
    pub(super) check_only: bool,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            n: 1000,
            seed: 0,
            dim: None,
            ambient: None,
            noise: None,
            radius: None,
            dims: None,
            radii: None,
            offset: None,
            latent: None,
            image_size: None,
            step: None,
            burn_in: None,
            thin: None,
            chains: None,
            check_only: false,
        }
    }
}

impl Params {
    crate::check::setters! {
        /// Number of points (≥ 1; default 1000).
        n: usize,

        /// Seed of every random draw (default 0).
        seed: u64,
    }

    /// Intrinsic dimension k (sphere, affine, sinusoid K, hemisphere K, squares, blobs); fixed
    /// families (spaghetti 1, swiss-roll 2, banana/river 2) accept only their own value.
    pub fn dim(mut self, dim: usize) -> Self {
        self.dim = Some(dim);
        self
    }

    /// Ambient dimension D.
    pub fn ambient(mut self, ambient: usize) -> Self {
        self.ambient = Some(ambient);
        self
    }

    /// Standard deviation of Gaussian noise added to every coordinate (sinusoid: to the
    /// off-manifold coordinates only, default √10⁻³ as in the pullback paper; others: default 0).
    pub fn noise(mut self, noise: f64) -> Self {
        self.noise = Some(noise);
        self
    }

    /// Sphere radius (default 1).
    pub fn radius(mut self, radius: f64) -> Self {
        self.radius = Some(radius);
        self
    }

    /// Dimensions of the spheres of `spheres` (default 10 and 30).
    pub fn dims(mut self, dims: Vec<usize>) -> Self {
        self.dims = Some(dims);
        self
    }

    /// Radii of the spheres of `spheres` (default 1 and ¼ with the default dims, else all 1).
    pub fn radii(mut self, radii: Vec<f64>) -> Self {
        self.radii = Some(radii);
        self
    }

    /// Distance of each sphere's centre from the origin, in a random direction (default 0).
    pub fn offset(mut self, offset: f64) -> Self {
        self.offset = Some(offset);
        self
    }

    /// Coordinate distribution on the affine subspace (default uniform).
    pub fn latent(mut self, latent: Latent) -> Self {
        self.latent = Some(latent);
        self
    }

    /// Side of the square images of `squares` and `blobs` (default 32, so D = 1024).
    pub fn image_size(mut self, image_size: usize) -> Self {
        self.image_size = Some(image_size);
        self
    }

    /// Initial MALA step size h (default 0.1, as in the pullback paper; adapted during burn-in).
    pub fn step(mut self, step: f64) -> Self {
        self.step = Some(step);
        self
    }

    /// MALA burn-in steps per chain (default 3000).
    pub fn burn_in(mut self, burn_in: usize) -> Self {
        self.burn_in = Some(burn_in);
        self
    }

    /// MALA steps between kept samples (default 20).
    pub fn thin(mut self, thin: usize) -> Self {
        self.thin = Some(thin);
        self
    }

    /// Number of independent MALA chains (default ⌈n/4⌉).
    pub fn chains(mut self, chains: usize) -> Self {
        self.chains = Some(chains);
        self
    }

    /// Validates the settings for `kind` once: the number of points, which options apply, the
    /// noise, and the family's own ranges (k < D for a sphere, an image large enough for its
    /// squares, …), each error naming its option. Nothing is drawn.
    pub fn check(self, kind: Kind) -> Result<Generator> {
        if self.n == 0 {
            return Err(Error::param("n", "need at least one point"));
        }
        for option in self.set_options() {
            if !kind.options().contains(&option) {
                return Err(Error::param(
                    option,
                    format!(
                        "does not apply to `{kind}` (its options: {})",
                        kind.options().join(", ")
                    ),
                ));
            }
        }
        if let Some(s) = self.noise {
            non_negative("noise", s)?;
        }
        let dry = Self {
            check_only: true,
            ..self.clone()
        };
        family(kind, &dry)?;
        Ok(Generator { kind, params: self })
    }

    /// Names of the family-specific options that are set.
    fn set_options(&self) -> Vec<&'static str> {
        [
            ("dim", self.dim.is_some()),
            ("ambient", self.ambient.is_some()),
            ("radius", self.radius.is_some()),
            ("dims", self.dims.is_some()),
            ("radii", self.radii.is_some()),
            ("offset", self.offset.is_some()),
            ("latent", self.latent.is_some()),
            ("image-size", self.image_size.is_some()),
            ("step", self.step.is_some()),
            ("burn-in", self.burn_in.is_some()),
            ("thin", self.thin.is_some()),
            ("chains", self.chains.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }

    /// The ambient dimension: the user's, else `default` raised to `min`.
    fn ambient_or(&self, default: usize, min: usize) -> usize {
        self.ambient.unwrap_or(default.max(min))
    }
}

/// The true intrinsic dimension of a generated dataset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TrueId {
    /// The same dimension at every point.
    Global(usize),
    /// One dimension per point (rows in order).
    PerPoint(Vec<usize>),
}

impl TrueId {
    /// The dimension at point `i`.
    pub fn at(&self, i: usize) -> usize {
        match self {
            TrueId::Global(k) => *k,
            TrueId::PerPoint(ids) => ids[i],
        }
    }

    /// The single dimension, when it does not vary.
    pub fn global(&self) -> Option<usize> {
        match self {
            TrueId::Global(k) => Some(*k),
            TrueId::PerPoint(_) => None,
        }
    }

    /// The true IDs of the rows `indices`, in that order (a global ID stays global); fails when a
    /// row lies beyond the per-point list.
    pub fn select(&self, indices: &[usize]) -> Result<TrueId> {
        match self {
            TrueId::Global(k) => Ok(TrueId::Global(*k)),
            TrueId::PerPoint(ids) => indices
                .iter()
                .map(|&i| {
                    ids.get(i).copied().ok_or_else(|| {
                        Error::InvalidData(format!(
                            "the true IDs cover {} rows, not row {i}",
                            ids.len()
                        ))
                    })
                })
                .collect::<Result<Vec<_>>>()
                .map(TrueId::PerPoint),
        }
    }

    /// The distinct dimensions with their number of points, ascending (`n` points in all).
    pub fn counts(&self, n: usize) -> Vec<(usize, usize)> {
        match self {
            TrueId::Global(k) => vec![(*k, n)],
            TrueId::PerPoint(ids) => {
                let mut counts = std::collections::BTreeMap::new();
                for &k in ids {
                    *counts.entry(k).or_insert(0) += 1;
                }
                counts.into_iter().collect()
            }
        }
    }
}

impl fmt::Display for TrueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrueId::Global(k) => write!(f, "{k}"),
            TrueId::PerPoint(ids) => {
                let parts: Vec<String> = self
                    .counts(ids.len())
                    .iter()
                    .map(|(k, c)| format!("{k} ({c} point{})", if *c == 1 { "" } else { "s" }))
                    .collect();
                f.write_str(&parts.join(", "))
            }
        }
    }
}

/// What was generated, how, and its true intrinsic dimension; stored as a JSON sidecar.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The generator.
    pub generator: Kind,
    /// One line saying how the points were made.
    pub description: String,
    /// Number of points.
    pub n: usize,
    /// Ambient dimension D.
    pub ambient_dim: usize,
    /// The seed.
    pub seed: u64,
    /// The true intrinsic dimension.
    pub true_id: TrueId,
    /// Every parameter, defaults resolved.
    pub params: Value,
    /// Derived structure worth keeping (image layouts, MCMC statistics); `null` when none.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub details: Value,
    /// The scoregeo version that wrote the manifest.
    pub scoregeo_version: String,
}

impl Manifest {
    /// Writes the manifest as pretty-printed JSON, atomically.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::InvalidData(format!("manifest cannot be serialised: {e}")))?;
        write_atomic(path, |w| writeln!(w, "{text}"))
    }

    /// Reads a manifest written by [`Manifest::write`], checked ([`Manifest::check`]).
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let bad = |message: String| Error::Format {
            path: path.to_path_buf(),
            message,
        };
        let manifest: Self = serde_json::from_str(&text)
            .map_err(|e| bad(format!("not a scoregeo manifest: {e}")))?;
        manifest.check().map_err(|e| bad(e.to_string()))?;
        Ok(manifest)
    }

    /// Checks that the record is consistent: at least one point of at least one coordinate, and
    /// one true ID per point when they vary.
    pub fn check(&self) -> Result<()> {
        if self.n == 0 {
            return Err(Error::param("n", "a manifest describes at least one point"));
        }
        if self.ambient_dim == 0 {
            return Err(Error::param(
                "ambient_dim",
                "points have at least one coordinate",
            ));
        }
        if let TrueId::PerPoint(ids) = &self.true_id {
            if ids.len() != self.n {
                return Err(Error::param(
                    "true_id",
                    format!("{} per-point IDs for n = {} points", ids.len(), self.n),
                ));
            }
        }
        Ok(())
    }
}

/// The sidecar manifest path of a data file: `<data>.manifest.json` (e.g. `s.csv.manifest.json`).
pub fn manifest_path(data: impl AsRef<Path>) -> PathBuf {
    let mut name = data.as_ref().as_os_str().to_owned();
    name.push(".manifest.json");
    PathBuf::from(name)
}

/// A checked generator: a [`Kind`] with settings that passed [`Params::check`].
#[derive(Clone, Debug, PartialEq)]
pub struct Generator {
    kind: Kind,
    params: Params,
}

impl Generator {
    /// The family.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The settings.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Draws the points and describes them in a [`Manifest`].
    pub fn generate(&self) -> Result<(Dataset, Manifest)> {
        let (kind, params) = (self.kind, &self.params);
        let mut sample = family(kind, params)?;
        if !sample.own_noise {
            let sigma = params.noise.unwrap_or(0.0);
            add_noise(&mut sample.values, sample.ambient, params.seed, sigma);
            sample.params["noise"] = json!(sigma);
        }
        let data = Dataset::from_row_major(sample.values, params.n, sample.ambient)?;
        let manifest = Manifest {
            generator: kind,
            description: sample.description,
            n: params.n,
            ambient_dim: sample.ambient,
            seed: params.seed,
            true_id: sample.true_id,
            params: sample.params,
            details: sample.details,
            scoregeo_version: env!("CARGO_PKG_VERSION").to_string(),
        };
        Ok((data, manifest))
    }
}

/// Draws `params.n` points of `kind` and describes them in a [`Manifest`]: [`Params::check`],
/// then [`Generator::generate`].
///
/// Fails with [`Error::InvalidParameter`] naming the option at fault when a value is out of range
/// (k ≥ D for a sphere, an image too small for its squares, …) or when an option does not apply to
/// `kind`.
pub fn generate(kind: Kind, params: &Params) -> Result<(Dataset, Manifest)> {
    params.clone().check(kind)?.generate()
}

/// The family's sample (only its checks when `params.check_only`).
fn family(kind: Kind, params: &Params) -> Result<Sample> {
    match kind {
        Kind::Sphere => sphere::sphere(params),
        Kind::Spheres => sphere::spheres(params),
        Kind::Spaghetti => spaghetti::spaghetti(params),
        Kind::Affine => affine::affine(params),
        Kind::SwissRoll => swiss_roll::swiss_roll(params),
        Kind::Lollipop => lollipop::lollipop(params),
        Kind::Sinusoid => pullback::sinusoid(params),
        Kind::Hemisphere => pullback::hemisphere(params),
        Kind::Banana => mala::banana(params),
        Kind::River => mala::river(params),
        Kind::Squares => images::squares(params),
        Kind::Blobs => images::blobs(params),
    }
}

/// What a family hands back to [`generate`].
struct Sample {
    /// n × `ambient` values, row-major.
    values: Vec<f64>,
    ambient: usize,
    true_id: TrueId,
    /// Resolved parameters (a JSON object).
    params: Value,
    details: Value,
    description: String,
    /// True when the family applied `params.noise` itself (otherwise it is added isotropically).
    own_noise: bool,
}

impl Sample {
    /// What a family returns from [`Params::check`]: its checks passed, nothing drawn.
    fn checked() -> Self {
        Self {
            values: Vec::new(),
            ambient: 0,
            true_id: TrueId::Global(0),
            params: Value::Null,
            details: Value::Null,
            description: String::new(),
            own_noise: false,
        }
    }
}

/// Stream indices: point i draws from stream i; noise and fixed structures use disjoint ranges.
const NOISE_STREAMS: u64 = 1 << 62;
const LAYOUT_STREAMS: u64 = 1 << 63;
const CHAIN_STREAMS: u64 = 3 << 62;

/// The stream of the fixed structure number `tag` (embedding frames, layouts, shears).
fn layout_rng(seed: u64, tag: u64) -> ChaCha8Rng {
    stream(seed, LAYOUT_STREAMS + tag)
}

/// Fills n rows of `dim` values in parallel; row i is made by `f(i, its own stream, row)`.
fn fill_rows(
    n: usize,
    dim: usize,
    seed: u64,
    f: impl Fn(usize, &mut ChaCha8Rng, &mut [f64]) + Sync,
) -> Vec<f64> {
    let mut values = vec![0.0; n * dim];
    values.par_chunks_mut(dim).enumerate().for_each(|(i, row)| {
        let mut rng = stream(seed, i as u64);
        f(i, &mut rng, row);
    });
    values
}

/// Adds N(0, σ²) to every value; row i draws from its own noise stream.
fn add_noise(values: &mut [f64], dim: usize, seed: u64, sigma: f64) {
    if sigma == 0.0 {
        return;
    }
    values.par_chunks_mut(dim).enumerate().for_each(|(i, row)| {
        let mut rng = stream(seed, NOISE_STREAMS + i as u64);
        for v in row {
            *v += sigma * rng.sample::<f64, _>(StandardNormal);
        }
    });
}

/// An isometric embedding y ↦ Qy + c of ℝ^m into ℝ^D (QᵀQ = I).
#[derive(Clone, Debug)]
struct Isometry {
    /// Q, D×m, row-major.
    frame: Vec<f64>,
    m: usize,
    centre: Vec<f64>,
}

impl Isometry {
    /// A random frame: the Q factor of a D×m standard Gaussian matrix, computed by Gram–Schmidt
    /// with one re-orthogonalisation pass. R then has a positive diagonal, which makes Q uniform
    /// (Haar) on the Stiefel manifold. The centre is the origin.
    fn random(rng: &mut ChaCha8Rng, d: usize, m: usize) -> Self {
        assert!(m <= d, "a frame of {m} columns needs D ≥ {m}");
        let mut cols: Vec<Vec<f64>> = Vec::with_capacity(m);
        for _ in 0..m {
            let mut v: Vec<f64> = (0..d).map(|_| rng.sample(StandardNormal)).collect();
            for _pass in 0..2 {
                for q in &cols {
                    let dot: f64 = q.iter().zip(&v).map(|(a, b)| a * b).sum();
                    v.iter_mut().zip(q).for_each(|(x, qa)| *x -= dot * qa);
                }
            }
            // a Gaussian vector lies in the span of fewer than D others with probability zero
            let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            v.iter_mut().for_each(|x| *x /= norm);
            cols.push(v);
        }
        let frame = (0..d)
            .flat_map(|a| cols.iter().map(move |c| c[a]))
            .collect();
        Self {
            frame,
            m,
            centre: vec![0.0; d],
        }
    }

    /// The same frame, centred at `centre`.
    fn centred(mut self, centre: Vec<f64>) -> Self {
        assert_eq!(centre.len(), self.centre.len());
        self.centre = centre;
        self
    }

    /// x = Qy + c.
    fn apply(&self, y: &[f64], x: &mut [f64]) {
        debug_assert_eq!(y.len(), self.m);
        for ((xa, qa), ca) in x
            .iter_mut()
            .zip(self.frame.chunks_exact(self.m))
            .zip(&self.centre)
        {
            *xa = ca + qa.iter().zip(y).map(|(q, v)| q * v).sum::<f64>();
        }
    }
}

/// A uniformly random unit vector of ℝ^d.
fn random_direction(rng: &mut ChaCha8Rng, d: usize) -> Vec<f64> {
    let g: Vec<f64> = (0..d).map(|_| rng.sample(StandardNormal)).collect();
    let norm = g.iter().map(|x| x * x).sum::<f64>().sqrt();
    g.into_iter().map(|x| x / norm).collect()
}

/// Rejects a negative or non-finite value.
fn non_negative(name: &'static str, v: f64) -> Result<f64> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(Error::param(
            name,
            format!("must be a finite number ≥ 0, got {v}"),
        ))
    }
}

/// Rejects a non-positive or non-finite value.
fn positive(name: &'static str, v: f64) -> Result<f64> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(Error::param(
            name,
            format!("must be a finite number > 0, got {v}"),
        ))
    }
}

/// A dimension that the family fixes: the user may restate it but not change it.
fn fixed(name: &'static str, given: Option<usize>, value: usize, kind: Kind) -> Result<usize> {
    match given {
        Some(v) if v != value => Err(Error::param(
            name,
            format!("`{kind}` has {name} {value}, got {v}"),
        )),
        _ => Ok(value),
    }
}

/// Rejects k < 1.
fn at_least_one(name: &'static str, k: usize) -> Result<usize> {
    if k == 0 {
        Err(Error::param(name, "must be at least 1"))
    } else {
        Ok(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_frame_is_orthonormal_and_seeded() {
        let q = Isometry::random(&mut layout_rng(3, 0), 7, 4);
        for i in 0..4 {
            for j in 0..4 {
                let dot: f64 = (0..7)
                    .map(|a| q.frame[a * 4 + i] * q.frame[a * 4 + j])
                    .sum();
                let expected = if i == j { 1.0 } else { 0.0 };
                assert!((dot - expected).abs() < 1e-13, "QᵀQ[{i},{j}] = {dot}");
            }
        }
        assert_eq!(q.frame, Isometry::random(&mut layout_rng(3, 0), 7, 4).frame);
        assert_ne!(q.frame, Isometry::random(&mut layout_rng(4, 0), 7, 4).frame);
    }

    #[test]
    fn isometry_preserves_distances_from_the_centre() {
        let q =
            Isometry::random(&mut layout_rng(1, 0), 5, 2).centred(vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        let mut x = vec![0.0; 5];
        q.apply(&[3.0, 4.0], &mut x);
        let dist: f64 = x
            .iter()
            .zip(&q.centre)
            .map(|(a, c)| (a - c) * (a - c))
            .sum::<f64>()
            .sqrt();
        assert!((dist - 5.0).abs() < 1e-12);
    }

    #[test]
    fn kind_names_round_trip() {
        for kind in Kind::ALL {
            assert_eq!(kind.name().parse::<Kind>().unwrap(), kind);
            assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.name()));
        }
        let err = "torus".parse::<Kind>().unwrap_err().to_string();
        assert!(err.contains("swiss-roll"), "{err}");
    }

    #[test]
    fn true_id_serialises_as_number_or_array() {
        assert_eq!(serde_json::to_string(&TrueId::Global(3)).unwrap(), "3");
        let per = TrueId::PerPoint(vec![2, 1, 2, 0]);
        assert_eq!(serde_json::to_string(&per).unwrap(), "[2,1,2,0]");
        assert_eq!(serde_json::from_str::<TrueId>("[2,1,2,0]").unwrap(), per);
        assert_eq!(per.counts(4), vec![(0, 1), (1, 1), (2, 2)]);
        assert_eq!(per.select(&[3, 0]).unwrap(), TrueId::PerPoint(vec![0, 2]));
        assert!(per
            .select(&[4])
            .unwrap_err()
            .to_string()
            .contains("not row 4"));
        assert_eq!(TrueId::Global(3).select(&[9]).unwrap(), TrueId::Global(3));
        assert_eq!(per.to_string(), "0 (1 point), 1 (1 point), 2 (2 points)");
    }

    #[test]
    fn noise_streams_are_independent_of_point_streams() {
        let mut a = vec![0.0; 6];
        add_noise(&mut a, 3, 9, 1.0);
        let b = fill_rows(2, 3, 9, |_, rng, row| {
            row.iter_mut().for_each(|v| *v = rng.sample(StandardNormal))
        });
        assert_ne!(a, b);
        let mut c = vec![0.0; 6];
        add_noise(&mut c, 3, 9, 1.0);
        assert_eq!(a, c);
    }

    #[test]
    fn manifests_are_checked_when_read() {
        let dir = tempfile::tempdir().unwrap();
        let (_, manifest) = generate(Kind::Lollipop, &Params::default().n(12)).unwrap();
        let path = dir.path().join("m.json");
        manifest.write(&path).unwrap();
        assert_eq!(Manifest::read(&path).unwrap(), manifest);
        let mut short = manifest.clone();
        short.true_id = TrueId::PerPoint(vec![2; 5]);
        short.write(&path).unwrap();
        let err = Manifest::read(&path).unwrap_err().to_string();
        assert!(err.contains("m.json") && err.contains("`true_id`"), "{err}");
        let mut empty = manifest;
        empty.n = 0;
        empty.true_id = TrueId::Global(2);
        empty.write(&path).unwrap();
        let err = Manifest::read(&path).unwrap_err().to_string();
        assert!(err.contains("`n`"), "{err}");
    }

    #[test]
    fn manifest_path_appends_suffix() {
        assert_eq!(
            manifest_path("out/s.csv"),
            PathBuf::from("out/s.csv.manifest.json")
        );
    }
}
