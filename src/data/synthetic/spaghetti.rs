//! The spaghetti line of Stanczuk, Batzolis et al. (ICML 2024): a curve that winds through every
//! coordinate of ℝ^D at a different frequency.

use super::{fill_rows, fixed, Kind, Params, Sample, TrueId};
use crate::error::Result;
use rand::Rng;
use serde_json::{json, Value};

/// `spaghetti`: x ~ U(0, 1) and coordinate i = sin((i + 1)·x) for i = 0, …, D − 1, i.e.
/// (sin x, sin 2x, …, sin Dx). This is the definition of the paper's official data module (x is
/// drawn from U(0, 1), not U(0, 2π)). True ID 1.
///
/// Defaults: D = 100 (the paper's).
pub(super) fn spaghetti(p: &Params) -> Result<Sample> {
    fixed("dim", p.dim, 1, Kind::Spaghetti)?;
    let d = super::at_least_one("ambient", p.ambient_or(100, 1))?;
    if p.check_only {
        return Ok(Sample::checked());
    }
    let values = fill_rows(p.n, d, p.seed, |_, rng, row| {
        let x: f64 = rng.random();
        for (i, v) in row.iter_mut().enumerate() {
            *v = ((i + 1) as f64 * x).sin();
        }
    });
    Ok(Sample {
        values,
        ambient: d,
        true_id: TrueId::Global(1),
        params: json!({ "ambient": d, "x": "U(0,1)" }),
        details: Value::Null,
        description: format!("spaghetti line (sin x, sin 2x, …, sin {d}x), x ~ U(0,1), in ℝ^{d}"),
        own_noise: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_are_harmonics_of_one_parameter() {
        let s = spaghetti(&Params {
            n: 50,
            ambient: Some(12),
            ..Params::default()
        })
        .unwrap();
        for row in s.values.chunks(12) {
            // sin is invertible on (0, 1)
            let x = row[0].asin();
            assert!((0.0..1.0).contains(&x));
            for (i, v) in row.iter().enumerate() {
                assert!((v - ((i + 1) as f64 * x).sin()).abs() < 1e-12);
            }
        }
        let err = spaghetti(&Params {
            dim: Some(2),
            ..Params::default()
        })
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("dim 1"), "{err}");
    }
}
