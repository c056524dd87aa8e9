//! Checks that many modules share: dimensions that must agree, and the diffusion time t₀; and
//! the plain setters of the parameter builders those checks guard.

use crate::error::{Error, Result};

/// Fails unless a consumer of dimension `expected` can take points of dimension `found`;
/// `context` says what expects it.
pub fn check_dim(expected: usize, found: usize, context: &str) -> Result<()> {
    if expected != found {
        return Err(Error::DimensionMismatch {
            context: context.to_string(),
            expected,
            found,
        });
    }
    Ok(())
}

/// Checks a diffusion time t₀ ∈ (0, 1] (the parameter `t0`).
pub fn check_t0(t0: f64) -> Result<()> {
    if t0 > 0.0 && t0 <= 1.0 {
        Ok(())
    } else {
        Err(Error::param("t0", format!("must lie in (0, 1], got {t0}")))
    }
}

/// Plain builder setters, inside a builder's `impl`: each `/// doc` `name: Type` becomes
/// `pub fn name(self, name: Type) -> Self`, storing the value in the field of the same name
/// (the builder's `check` validates it later).
macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, $name: $ty) -> Self {
                self.$name = $name;
                self
            }
        )*
    };
}
pub(crate) use setters;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_what_is_wrong() {
        assert!(check_dim(3, 3, "x").is_ok());
        let e = check_dim(3, 4, "the model").unwrap_err().to_string();
        assert_eq!(e, "dimension mismatch: the model expects 3, found 4");
        assert!(check_t0(1.0).is_ok() && check_t0(1e-9).is_ok());
        for bad in [0.0, -1.0, 1.5, f64::NAN, f64::INFINITY] {
            let e = check_t0(bad).unwrap_err();
            assert!(
                matches!(e, Error::InvalidParameter { name: "t0", .. }),
                "{e}"
            );
        }
    }
}
