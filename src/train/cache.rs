//! The embedded default model: a shipped pre-trained model, else a cached one, else one trained
//! now with the default recipe and cached for next time.

use super::checkpoint::{read_state, SaveMode, FORMAT};
use super::params::TrainParams;
use super::session::TrainReport;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::score::mlp::{default_device, MlpScoreNet};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Environment variable naming the cache directory.
pub const CACHE_ENV: &str = "SCOREGEO_CACHE";

/// Where [`default_model`] looks for models and what it trains (by default: the cache directory,
/// no shipped models, the default recipe).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CacheOptions {
    /// Cache directory; `None` resolves it with [`cache_dir`].
    pub dir: Option<PathBuf>,
    /// Directories searched first for a pre-trained `<content hash>.safetensors` (shipped models).
    pub shipped: Vec<PathBuf>,
    /// The recipe trained on a cache miss (part of the cache key).
    pub recipe: TrainParams,
    /// How training on a cache miss reports progress (default a bar on stderr).
    pub progress: crate::progress::Progress,
}

/// Where the default model came from.
#[derive(Clone, Debug, PartialEq)]
pub enum Provenance {
    /// A pre-trained model shipped for this dataset.
    Shipped,
    /// A model trained earlier with the same recipe on the same data.
    Cached,
    /// Trained now (and cached).
    Trained(TrainReport),
}

/// The cache directory: `$SCOREGEO_CACHE`, else `$XDG_CACHE_HOME/scoregeo`, else
/// `~/.cache/scoregeo` (`None` when none of these is set).
pub fn cache_dir() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var(CACHE_ENV)
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("scoregeo")))
        .or_else(|| var("HOME").map(|h| h.join(".cache").join("scoregeo")))
}

/// The cache file name for data with `data_hash` and a recipe: both hashes, shortened.
pub fn cache_file_name(data_hash: &str, recipe: &TrainParams) -> String {
    let mut h = Sha256::new();
    h.update(serde_json::to_string(recipe).expect("serialisable recipe"));
    h.update(FORMAT.to_le_bytes());
    h.update(env!("CARGO_PKG_VERSION"));
    let recipe_hash: String = h
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{}-{recipe_hash}.safetensors",
        &data_hash[..16.min(data_hash.len())]
    )
}

/// The default score model of a dataset, the file it lives in and where it came from.
pub struct DefaultModel {
    /// The network (EMA weights).
    pub model: MlpScoreNet,
    /// The file it was loaded from (shipped or cached).
    pub path: PathBuf,
    /// Shipped, cached, or trained now.
    pub provenance: Provenance,
}

impl std::fmt::Debug for DefaultModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DefaultModel")
            .field("model", self.model.config())
            .field("path", &self.path)
            .field("provenance", &self.provenance)
            .finish()
    }
}

/// The default score model for `data` and the file it lives in.
///
/// Looks, in order, for `<dir>/<content hash>.safetensors` in each of `opts.shipped`, then for
/// the cache file of this data and recipe ([`cache_file_name`]); otherwise trains the recipe
/// (with a progress bar) and writes the EMA weights to the cache atomically. A cached file is
/// used only when its recorded data hash and recipe match; a stale or unreadable one is replaced.
pub fn default_model(data: &Dataset, opts: &CacheOptions) -> Result<DefaultModel> {
    let hash = data.content_hash();
    let device = default_device();
    for dir in &opts.shipped {
        let path = dir.join(format!("{hash}.safetensors"));
        if path.is_file() {
            let net = MlpScoreNet::load(&path, &device)?;
            crate::check::check_dim(net.config().dim, data.dim(), "the shipped model")?;
            return Ok(DefaultModel {
                model: net,
                path,
                provenance: Provenance::Shipped,
            });
        }
    }
    let dir = match &opts.dir {
        Some(d) => d.clone(),
        None => cache_dir().ok_or_else(|| {
            Error::param(
                "cache",
                format!("no cache directory: set {CACHE_ENV}, XDG_CACHE_HOME or HOME"),
            )
        })?,
    };
    // the recipe as it trains these data (its head depends on D), so the key follows it
    let path = dir.join(cache_file_name(&hash, &opts.recipe.for_dim(data.dim())));
    if path.is_file() && matches_cache(&path, &hash, &opts.recipe) {
        let net = MlpScoreNet::load(&path, &device)?;
        return Ok(DefaultModel {
            model: net,
            path,
            provenance: Provenance::Cached,
        });
    }
    let trainer = opts.recipe.clone().check()?;
    let mut session = trainer.start_reporting(data, opts.progress)?;
    session.run(None)?;
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    session.save(&path, SaveMode::EmaOnly)?;
    let net = MlpScoreNet::load(&path, &device)?;
    Ok(DefaultModel {
        model: net,
        path,
        provenance: Provenance::Trained(session.report()),
    })
}

/// Whether the cached file at `path` was trained with `recipe` on data with `hash`.
fn matches_cache(path: &Path, hash: &str, recipe: &TrainParams) -> bool {
    matches!(read_state(path), Ok((_, Some(s))) if s.data_hash == hash && &s.params == recipe)
}
