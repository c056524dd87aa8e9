//! # scoregeo
//!
//! Intrinsic dimension and manifold geometry read out of score (diffusion) models.
//!
//! (The tutorial grows with the crate; see the module docs.)

#![warn(missing_docs)]

pub mod data;
pub mod error;
pub mod geometry;
pub mod id;
pub mod knn;
#[cfg(feature = "plot")]
pub mod plot;
pub mod progress;
pub mod rng;
pub mod score;
pub mod sde;
pub mod train;

#[cfg(feature = "cli")]
pub mod cli;


pub use data::Dataset;
pub use error::{Error, Result};
pub use score::ScoreModel;
pub use sde::Sde;
