//! The Swiss roll: a rolled-up rectangle in ℝ³.

use super::{fill_rows, fixed, layout_rng, Isometry, Kind, Params, Sample, TrueId};
use crate::error::{Error, Result};
use rand::Rng;
use serde_json::{json, Value};
use std::f64::consts::PI;

/// `swiss-roll`: t = (3π/2)(1 + 2u), h = 21v with u, v ~ U(0, 1), and
/// y = (t cos t, h, t sin t) ∈ ℝ³ (the convention of scikit-learn's `make_swiss_roll`). For
/// D > 3, y is mapped into ℝ^D by a random isometry. True ID 2.
///
/// Defaults: D = 3.
pub(super) fn swiss_roll(p: &Params) -> Result<Sample> {
    fixed("dim", p.dim, 2, Kind::SwissRoll)?;
    let d = p.ambient_or(3, 3);
    if d < 3 {
        return Err(Error::param(
            "ambient",
            format!("the Swiss roll lives in ℝ³: need D ≥ 3, got {d}"),
        ));
    }
    let embedding = (d > 3).then(|| Isometry::random(&mut layout_rng(p.seed, 0), d, 3));
    if p.check_only {
        return Ok(Sample::checked());
    }
    let values = fill_rows(p.n, d, p.seed, |_, rng, row| {
        let t = 1.5 * PI * (1.0 + 2.0 * rng.random::<f64>());
        let h = 21.0 * rng.random::<f64>();
        let y = [t * t.cos(), h, t * t.sin()];
        match &embedding {
            Some(q) => q.apply(&y, row),
            None => row.copy_from_slice(&y),
        }
    });
    Ok(Sample {
        values,
        ambient: d,
        true_id: TrueId::Global(2),
        params: json!({ "ambient": d, "t": "3π/2·(1 + 2·U(0,1))", "height": "21·U(0,1)" }),
        details: Value::Null,
        description: if d > 3 {
            format!("Swiss roll (t cos t, h, t sin t), embedded in ℝ^{d} by a random isometry")
        } else {
            "Swiss roll (t cos t, h, t sin t) in ℝ³".into()
        },
        own_noise: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_lie_on_the_roll() {
        let s = swiss_roll(&Params {
            n: 100,
            ..Params::default()
        })
        .unwrap();
        for y in s.values.chunks(3) {
            // the radius in the (x, z) plane equals the angle t, and t ∈ [3π/2, 9π/2]
            let t = (y[0] * y[0] + y[2] * y[2]).sqrt();
            assert!((1.5 * PI..=4.5 * PI).contains(&t));
            assert!((y[0] - t * t.cos()).abs() < 1e-9 && (y[2] - t * t.sin()).abs() < 1e-9);
            assert!((0.0..21.0).contains(&y[1]));
        }
        let wide = swiss_roll(&Params {
            n: 100,
            ambient: Some(5),
            ..Params::default()
        })
        .unwrap();
        for (a, b) in s.values.chunks(3).zip(wide.values.chunks(5)) {
            let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
            assert!(
                (norm(a) - norm(b)).abs() < 1e-9,
                "the embedding is an isometry"
            );
        }
        assert!(swiss_roll(&Params {
            ambient: Some(2),
            ..Params::default()
        })
        .is_err());
    }
}
