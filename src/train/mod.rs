//! Training score models by denoising score matching (DSM), and the embedded default model.
//!
//! A [`TrainParams`] builder (its [`Default`] is the recipe below) is checked once into a
//! [`Trainer`]; [`Trainer::start`] opens a [`Session`] on a dataset, [`Session::run`] trains it to a
//! [`Budget`] and [`Session::save`] writes one safetensors file that
//! [`MlpScoreNet::load`](crate::score::mlp::MlpScoreNet::load) reads (EMA weights) and
//! [`Session::resume`] continues exactly.
//!
//! # What one step does
//! In model coordinates y = (x − c)/scale (the [`Frame`](crate::sde::Frame): c the data mean,
//! scale one isotropic number, see [`TrainParams::frame_for`]), draw B training rows y₀, times
//! t ~ U(t_min, 1) and noise z ~ N(0, I), form y_t = α(t) y₀ + σ(t) z and minimise
//!
//! L(θ) = mean over the batch and coordinates of (σ(t)·s_θ(y_t, t) + z)²,
//!
//! the σ²-weighted DSM loss (Vincent 2011; Song et al. 2021, eq. 7), whatever the network
//! predicts: for noise prediction it is ‖ε̂ − z‖², for data prediction (α/σ)²‖ŷ₀ − y₀‖².
//! Adam (β = 0.9, 0.999) with linear warm-up and a constant rate after it; gradients rescaled to a
//! global norm ≤ `grad_clip`; an exponential moving average of the weights (decay
//! min(decay, (1 + t)/(10 + t))) is what gets saved as `ema.*` and loaded by default.
//!
//! # Reproducibility
//! Batch indices, times and noise of step k come from [`crate::rng::stream`]`(seed', k)`; the
//! initial weights, the validation split and the validation noise from further fixed streams. The
//! optimiser works element-wise on `f32` vectors, and on the CPU the loss and gradients come from
//! the fused engine in fixed chunks of the batch whose gradients are summed in chunk order (see
//! `dsm.rs`), so one seed gives bit-identical weights whatever the number of threads, and a
//! resumed run equals an uninterrupted one (the tests check both). On a CUDA device candle's
//! autograd computes them.
//!
//! # Example
//! ```
//! use scoregeo::train::{SaveMode, TrainParams};
//! use scoregeo::score::mlp::{default_device, MlpScoreNet};
//! use scoregeo::Dataset;
//!
//! // 200 points on a line in ℝ³
//! let rows: Vec<Vec<f64>> = (0..200).map(|i| { let s = i as f64 / 100.0 - 1.0; vec![s, 2.0 * s, 0.5] }).collect();
//! let data = Dataset::from_rows(&rows)?;
//! let trainer = TrainParams::default().hidden(32).depth(2).steps(50).batch(64).check()?;
//! let session = trainer.fit(&data)?;
//! assert_eq!(session.step(), 50);
//! assert!(session.report().val_loss.unwrap().is_finite());
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("line.safetensors");
//! session.save(&path, SaveMode::Resumable)?;
//! let model = MlpScoreNet::load(&path, &default_device())?;
//! assert_eq!(model.config(), session.config());
//! # Ok::<(), scoregeo::Error>(())
//! ```
//!
//! # The default recipe
#![doc = include_str!("RECIPE.md")]

mod cache;
mod checkpoint;
mod dsm;
pub(crate) mod optim;
mod params;
mod session;

pub use cache::{
    cache_dir, cache_file_name, default_model, CacheOptions, DefaultModel, Provenance, CACHE_ENV,
};
pub use checkpoint::{read_state, HeadPilot, HistoryEntry, SaveMode, TrainState, TRAIN_STATE_KEY};
pub use params::{
    Budget, EarlyStop, Schedule, TimeSampling, TrainParams, Trainer, DEFAULT_HEAD_PILOT,
    DEFAULT_SIGMA_DATA, DEFAULT_STEPS,
};
pub use session::{Session, TrainReport};
