//! The names most research code needs, in one import: `use scoregeo::prelude::*;`.
//!
//! ```
//! use scoregeo::prelude::*;
//!
//! let data = Dataset::from_rows(&[vec![0.0, 0.0], vec![1.0, 0.1], vec![2.0, 0.0], vec![3.0, 0.1]])?;
//! let estimate = Estimator::new(Method::TwoNn).fit(&data, None);
//! assert!(estimate.is_err()); // too few points for the default neighbourhood: a clear error
//! # Ok::<(), scoregeo::Error>(())
//! ```

pub use crate::data::Dataset;
pub use crate::error::{Error, Result};
pub use crate::geometry::{
    AnisotropicFlow, Diffeomorphism, Geodesic, Metric, PullbackMetric, ScorePullback,
};
pub use crate::id::classic::{LocalPca, Mle, TwoNn};
pub use crate::id::{
    log_grid, Estimator, Flipd, IdEstimate, IdEstimator, JacobianSpectrum, Method, NormalBundle,
    PointSelection, Rule, Sweep,
};
pub use crate::score::{Loader, NoiseLevel, ScoreModel};
pub use crate::sde::{Sde, SdeKind};
pub use crate::train::{default_model, CacheOptions, DefaultModel, TrainParams};
