//! # scoregeo
//!
//! Intrinsic dimension and manifold geometry read out of score (diffusion) models.
//!
//! Data usually lies near a low-dimensional manifold. A diffusion model learns the score
//! s(x, t) = ∇ₓ log p_t(x); at small noise the score points straight back to the manifold, so
//! the scores around a point span the *normal* space. Counting the directions the scores do not
//! reach gives the intrinsic dimension (ID). This tutorial walks through the library; every
//! example runs as a test.
//!
//! ## 1. Data
//!
//! A [`Dataset`] is n points in ℝ^D (rows), read from CSV (header detected, comma or blank
//! separated) or NumPy `.npy`. Bad files are errors naming the file, line and column.
//!
//! ```
//! use scoregeo::Dataset;
//! let data = Dataset::from_rows(&[vec![0.0, 1.0], vec![2.0, 3.0]]).unwrap();
//! assert_eq!((data.len(), data.dim()), (2, 2));
//! let err = Dataset::from_rows(&[vec![0.0, f64::NAN]]).unwrap_err();
//! assert!(err.to_string().contains("row 1, column 2"));
//! ```
//!
//! [`data::synthetic`] samples manifolds with a known ID (spheres, the spaghetti line, images of
//! squares, …), each with a manifest recording the truth.
//!
//! ## 2. Score models
//!
//! A [`ScoreModel`] evaluates s(xᵢ, t) for a batch of points under a forward [`Sde`] (VE, VP or
//! sub-VP). Analytic oracles have exact scores: a Gaussian concentrated on a k-dimensional affine
//! subspace, and isotropic Gaussian mixtures (the noised empirical distribution of a dataset).
//! Networks ([`score::mlp::MlpScoreNet`]) are candle MLPs stored as safetensors with their config;
//! [`train`] fits them by denoising score matching.
//!
//! ```
//! use scoregeo::score::{analytic::SubspaceGaussian, ScoreModel};
//! use scoregeo::Sde;
//! use faer::Mat;
//!
//! let model = SubspaceGaussian::random(5, 2, Sde::vp_default(), 42).unwrap();
//! let x = Mat::<f64>::zeros(3, 5);
//! let s = model.score(x.as_ref(), 0.01).unwrap();
//! assert_eq!((s.nrows(), s.ncols()), (3, 5));
//! ```
//!
//! ## 3. The normal-bundle estimator
//!
//! [`id::NormalBundle`] (Stanczuk, Batzolis et al., ICML 2024) samples K = max(4·D, 64) points around each
//! data point at a small time t₀, stacks their scores and reads the singular values: n̂ large ones
//! (the normal space), then a gap. Where the gap is read is [`id::read_off`]'s job: a rule
//! (max-gap by default), a normal floor that lets full-dimensional data read ID = D, and a tangent
//! ceiling that keeps the cut out of the normal bulk (the radial value of a sphere stands above
//! it). Settings are a builder, checked once; the fitted result gives the global ID, local IDs and
//! each spectrum.
//!
//! ```
//! use scoregeo::id::{NormalBundle, Rule};
//! use scoregeo::score::analytic::SubspaceGaussian;
//! use scoregeo::Sde;
//!
//! let model = SubspaceGaussian::random(10, 3, Sde::ve(5.0), 1).unwrap();
//! let data = model.sample(25, 2);
//! let nb = NormalBundle::params().samples(40).rule(Rule::MaxGap).seed(7).check().unwrap();
//! let estimate = nb.fit(&model, &data).unwrap();
//! assert_eq!(estimate.global_id(), 3.0);
//! let spectrum = estimate.spectrum(0).unwrap();
//! assert!(spectrum[6] > 10.0 * spectrum[7]); // 7 normal directions, then the gap
//! ```
//!
//! ## 4. Faster relatives and classic baselines
//!
//! [`id::JacobianSpectrum`] reads the same gap off the score Jacobian (no sampling);
//! [`id::Flipd`] computes D + σ²(tr ∇s + ‖s‖²) (Kamkari et al. 2024); [`id::Sweep`] runs any of
//! them over a log grid of t₀ and picks the plateau. The classic estimators in [`id::classic`]
//! (MLE, TwoNN, local PCA) need no model.
//!
//! ```
//! use scoregeo::id::{classic::Mle, Flipd, JacobianSpectrum};
//! use scoregeo::score::analytic::SubspaceGaussian;
//! use scoregeo::Sde;
//!
//! let model = SubspaceGaussian::random(8, 2, Sde::vp_default(), 3).unwrap();
//! let data = model.sample(400, 4);
//! let jac = JacobianSpectrum::params().check().unwrap().fit(&model, &data).unwrap();
//! assert_eq!(jac.global_id(), 2.0);
//! let flipd = Flipd::params().check().unwrap().fit(&model, &data).unwrap();
//! assert!((flipd.global_id() - 2.0).abs() < 0.05);
//! let mle = Mle::params().k(20).check().unwrap().fit(&data).unwrap();
//! assert!((mle.global_id() - 2.0).abs() < 0.3);
//! ```
//!
//! ## 5. One API for research code
//!
//! Every estimator, score-based or classic, is one [`id::Estimator`] chosen by [`id::Method`]
//! (a value, parsed from its name), and every fit returns one [`id::IdEstimate`] with typed
//! per-point records and settings. [`id::IdEstimate::reread`] cuts the kept spectra again with
//! another rule, without the model. A geodesic between two points is one call for any score
//! model, and the closed form of a flow gives the same [`geometry::Geodesic`] result. The names
//! most code needs are in [`prelude`].
//!
//! ```
//! use scoregeo::prelude::*;
//! use scoregeo::geometry::ScorePullback;
//! use scoregeo::score::analytic::SubspaceGaussian;
//!
//! // exact scores of a Gaussian concentrated on a plane in ℝ⁶
//! let model = SubspaceGaussian::random(6, 2, Sde::ve(5.0), 1)?;
//! let data = model.sample(12, 2);
//! // the method by name, then fitted: score-based methods take the model, classic ones none
//! for name in ["nb", "jacobian", "flipd"] {
//!     let estimator = Estimator::new(name.parse::<Method>()?);
//!     let estimate = estimator.fit(&data, Some(&model))?;
//!     assert!((estimate.global_id() - 2.0).abs() < 0.1, "{name}");
//! }
//! // the same spectra cut with another rule, without evaluating the model again
//! let nb = Estimator::new(Method::Nb).fit(&data, Some(&model))?;
//! let ratio = nb.reread(Rule::Ratio)?;
//! assert_eq!(ratio.settings().rule(), Some(Rule::Ratio));
//! assert_eq!(ratio.global_id(), 2.0);
//! // one geodesic between two points of the plane, through the score-pullback metric
//! let (x, y) = (data.row(0), data.row(1));
//! let metric = ScorePullback::params().nodes(12).check()?.metric(&model)?;
//! let path: Geodesic = metric.solve_between(x, y, None)?.into();
//! assert!(path.converged() && path.nodes().nrows() == 12);
//! assert!(path.length() > 0.0);
//! # Ok::<(), scoregeo::Error>(())
//! ```
//!
//! A model file loads in one call ([`score::load`]); a PyTorch checkpoint whose weights do not say
//! everything takes the missing settings through [`score::Loader`], and the error names them.
//!
//! ```
//! use scoregeo::prelude::*;
//!
//! let dir = env!("CARGO_MANIFEST_DIR");
//! let checkpoint = format!("{dir}/tests/fixtures/pytorch/patch8d_model.pth");
//! let err = scoregeo::score::load(&checkpoint).err().unwrap().to_string();
//! assert!(err.contains("`time_scale`"), "{err}");
//! let model = Loader::new(&checkpoint).sde(SdeKind::Ve).sigma_max(4.0).time_scale(999.0).load()?;
//! assert_eq!(model.dim(), 8);
//! # Ok::<(), scoregeo::Error>(())
//! ```
//!
//! ## 6. Reproducibility and devices
//!
//! Every random draw comes from a stream keyed by the seed and the point's index
//! ([`rng::stream`]), so results are identical for any thread count. Networks run on the device
//! of [`score::mlp::default_device`]: the CPU, or CUDA when built with the `cuda` feature.
//!
//! ## 7. Features
//!
//! The default features are `cli` (the `scoregeo` command line: clap, anyhow, signal handling)
//! and `plot` (the figures of `plot`, with plotters). Research code that needs neither depends on
//! the library alone, `scoregeo = { version = "…", default-features = false }`, which builds
//! without clap, anyhow and plotters; add `features = ["plot"]` for the figures.
//! The `testing` feature (off by default, no extra dependencies) adds `geometry::testing`, the
//! property battery (d(x, x) = 0, symmetry, triangle inequality, exp∘log = id, φ⁻¹∘φ = id, …)
//! to run on one's own metrics and diffeomorphisms; the crate's tests use it
//! (`cargo test --features testing`).
//!
//! ## 8. From Python
//!
//! The `python/` crate of the workspace is the `scoregeo` Python package (PyO3, built by maturin:
//! `pip install ./python`), with the same estimators, models and geodesics and any Python score
//! function as a model; `python/README.md` in the repository has its API and a PyTorch recipe.

#![warn(missing_docs)]

pub mod check;
pub mod data;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod geometry;
pub mod id;
pub mod io;
pub mod knn;
pub mod linalg;
#[cfg(feature = "plot")]
pub mod plot;
pub mod prelude;
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
