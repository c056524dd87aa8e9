//! The estimators by name: [`Method`] is what a caller chooses, [`Estimator`] a checked estimator
//! of any method, and [`IdEstimator`] what every estimator does.
//!
//! ```
//! use scoregeo::id::{Estimator, Method};
//! use scoregeo::score::analytic::SubspaceGaussian;
//! use scoregeo::Sde;
//!
//! let model = SubspaceGaussian::random(6, 2, Sde::vp_default(), 7).unwrap();
//! let data = model.sample(200, 1);
//! for name in ["nb", "jacobian", "flipd", "mle", "twonn", "lpca"] {
//!     let method: Method = name.parse().unwrap();
//!     let estimate = Estimator::new(method).fit(&data, Some(&model)).unwrap();
//!     assert_eq!(estimate.method(), method);
//!     assert!((estimate.global_id() - 2.0).abs() < 0.5, "{method}: {}", estimate.global_id());
//! }
//! // a score-based method without a model is an error that names it
//! let err = Estimator::new(Method::Flipd).fit(&data, None).unwrap_err();
//! assert!(err.to_string().contains("flipd"));
//! ```

use super::classic::{LocalPca, Mle, TwoNn};
use super::{Flipd, IdEstimate, JacobianSpectrum, NormalBundle};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::score::ScoreModel;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An intrinsic-dimension estimator, by name (the names of `id-estimate --method`).
///
/// Non-exhaustive: more methods (such as an automatic choice) may be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Method {
    /// `nb`: the normal bundle, singular values of sampled scores ([`NormalBundle`]).
    Nb,
    /// `jacobian`: singular values of the score Jacobian ([`JacobianSpectrum`]).
    Jacobian,
    /// `flipd`: D + σ²(tr ∇s + ‖s‖²) ([`Flipd`]).
    Flipd,
    /// `mle`: Levina–Bickel maximum likelihood ([`Mle`]).
    Mle,
    /// `twonn`: the ratio of the two nearest distances ([`TwoNn`]).
    TwoNn,
    /// `lpca`: local PCA, Fukunaga–Olsen ([`LocalPca`]).
    Lpca,
}

impl Method {
    /// Every method, score-based first.
    pub const ALL: [Method; 6] = [
        Method::Nb,
        Method::Jacobian,
        Method::Flipd,
        Method::Mle,
        Method::TwoNn,
        Method::Lpca,
    ];

    /// The name: `nb`, `jacobian`, `flipd`, `mle`, `twonn` or `lpca`.
    pub fn name(self) -> &'static str {
        match self {
            Method::Nb => "nb",
            Method::Jacobian => "jacobian",
            Method::Flipd => "flipd",
            Method::Mle => "mle",
            Method::TwoNn => "twonn",
            Method::Lpca => "lpca",
        }
    }

    /// Whether the method reads a score model (the others read the data alone).
    pub fn needs_model(self) -> bool {
        matches!(self, Method::Nb | Method::Jacobian | Method::Flipd)
    }

    /// Whether the method cuts a spectrum with a [`Rule`](super::Rule), so that
    /// [`IdEstimate::reread`] applies.
    pub fn reads_spectrum(self) -> bool {
        matches!(self, Method::Nb | Method::Jacobian)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = Error;

    /// Parses a method name (case-insensitive).
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        Method::ALL
            .into_iter()
            .find(|m| m.name() == lower)
            .ok_or_else(|| {
                let names: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
                Error::param(
                    "method",
                    format!("unknown method `{s}`; expected one of {}", names.join(", ")),
                )
            })
    }
}

/// What every intrinsic-dimension estimator does: fit a dataset, with a score model when its
/// method reads one.
pub trait IdEstimator {
    /// The estimator's method.
    fn method(&self) -> Method;

    /// Estimates the intrinsic dimension of `data`; score-based methods need `model` (an error
    /// naming the method otherwise), classic ones ignore it.
    fn fit(&self, data: &Dataset, model: Option<&dyn ScoreModel>) -> Result<IdEstimate>;
}

/// The model a score-based `method` needs, or an error naming the method.
pub(crate) fn require_model(
    method: Method,
    model: Option<&dyn ScoreModel>,
) -> Result<&dyn ScoreModel> {
    model.ok_or_else(|| {
        Error::param(
            "model",
            format!("the `{method}` estimator reads a score model, and none was given"),
        )
    })
}

/// A checked estimator of any method, chosen by value.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Estimator {
    /// The normal bundle.
    Nb(NormalBundle),
    /// The score-Jacobian spectrum.
    Jacobian(JacobianSpectrum),
    /// FLIPD.
    Flipd(Flipd),
    /// Levina–Bickel MLE.
    Mle(Mle),
    /// TwoNN.
    TwoNn(TwoNn),
    /// Local PCA.
    Lpca(LocalPca),
}

impl Estimator {
    /// The estimator of `method` with its default settings.
    pub fn new(method: Method) -> Self {
        // the defaults are constants that pass their own checks
        const VALID: &str = "default settings are valid";
        match method {
            Method::Nb => NormalBundle::params().check().expect(VALID).into(),
            Method::Jacobian => JacobianSpectrum::params().check().expect(VALID).into(),
            Method::Flipd => Flipd::params().check().expect(VALID).into(),
            Method::Mle => Mle::params().check().expect(VALID).into(),
            Method::TwoNn => TwoNn::params().check().expect(VALID).into(),
            Method::Lpca => LocalPca::params().check().expect(VALID).into(),
        }
    }

    /// The estimator's method.
    pub fn method(&self) -> Method {
        IdEstimator::method(self)
    }

    /// Estimates the intrinsic dimension of `data` (see [`IdEstimator::fit`]).
    pub fn fit(&self, data: &Dataset, model: Option<&dyn ScoreModel>) -> Result<IdEstimate> {
        IdEstimator::fit(self, data, model)
    }

    /// The estimator behind the enum.
    fn inner(&self) -> &dyn IdEstimator {
        match self {
            Estimator::Nb(e) => e,
            Estimator::Jacobian(e) => e,
            Estimator::Flipd(e) => e,
            Estimator::Mle(e) => e,
            Estimator::TwoNn(e) => e,
            Estimator::Lpca(e) => e,
        }
    }
}

impl IdEstimator for Estimator {
    fn method(&self) -> Method {
        self.inner().method()
    }

    fn fit(&self, data: &Dataset, model: Option<&dyn ScoreModel>) -> Result<IdEstimate> {
        self.inner().fit(data, model)
    }
}

macro_rules! estimator_from {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        $(impl From<$ty> for Estimator {
            fn from(e: $ty) -> Self {
                Estimator::$variant(e)
            }
        })*
    };
}

estimator_from!(
    Nb(NormalBundle),
    Jacobian(JacobianSpectrum),
    Flipd(Flipd),
    Mle(Mle),
    TwoNn(TwoNn),
    Lpca(LocalPca),
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_reject_unknown() {
        for m in Method::ALL {
            assert_eq!(m.name().parse::<Method>().unwrap(), m);
            assert_eq!(m.to_string(), m.name());
            assert_eq!(serde_json::to_value(m).unwrap(), m.name());
            assert_eq!(Estimator::new(m).method(), m);
        }
        assert_eq!("TwoNN".parse::<Method>().unwrap(), Method::TwoNn);
        let err = "median".parse::<Method>().unwrap_err();
        assert!(
            matches!(err, Error::InvalidParameter { name: "method", .. }),
            "{err}"
        );
        assert!(err.to_string().contains("lpca"), "{err}");
        assert_eq!(
            Method::ALL.map(Method::needs_model),
            [true, true, true, false, false, false]
        );
    }

    #[test]
    fn score_methods_need_a_model() {
        let data = Dataset::from_rows(&[vec![0.0, 1.0], vec![1.0, 0.0], vec![2.0, 2.0]]).unwrap();
        for m in [Method::Nb, Method::Jacobian, Method::Flipd] {
            let err = Estimator::new(m).fit(&data, None).unwrap_err();
            assert!(
                matches!(err, Error::InvalidParameter { name: "model", .. }),
                "{err}"
            );
            assert!(err.to_string().contains(&format!("`{m}`")), "{err}");
        }
    }
}
