//! The lollipop: pieces of three dimensions in one dataset, the standard test of *local* ID
//! estimates (after the lollipop of Tempczyk et al., LIDL, ICML 2022).

use super::{fill_rows, layout_rng, Isometry, Params, Sample, TrueId};
use crate::error::{Error, Result};
use rand::Rng;
use serde_json::json;
use std::f64::consts::{FRAC_1_SQRT_2, PI};

/// Centre and radius of the candy (a disc).
const CANDY_CENTRE: [f64; 2] = [2.0, 2.0];
const CANDY_RADIUS: f64 = 1.0;
/// The stick runs from the origin along the diagonal to the edge of the candy.
const STICK_END: f64 = 2.0 - FRAC_1_SQRT_2;
/// The isolated point.
const POINT: [f64; 2] = [-0.5, -0.5];
/// Shares of the stick and the point (the candy takes the rest).
const STICK_SHARE: f64 = 0.05;
const POINT_SHARE: f64 = 0.01;

/// `lollipop`, in ℝ²: the candy, a uniform disc of radius 1 centred at (2, 2) (ID 2); the stick,
/// the segment {(s, s) : 0 ≤ s ≤ 2 − 1/√2} from the origin to the candy's edge, uniform (ID 1);
/// and the isolated point (−0.5, −0.5), repeated (ID 0). The stick gets round(0.05 n) points and
/// the point round(0.01 n), each at least one; the candy the rest. Rows come in that order: candy,
/// stick, point. For D > 2 the plane is mapped into ℝ^D by a random isometry. The layout follows
/// the lollipop of LIDL (Tempczyk et al. 2022); the exact sizes and shares are ours.
///
/// Defaults: D = 2. Needs n ≥ 3.
pub(super) fn lollipop(p: &Params) -> Result<Sample> {
    let d = p.ambient_or(2, 2);
    if d < 2 {
        return Err(Error::param(
            "ambient",
            format!("the lollipop lives in ℝ²: need D ≥ 2, got {d}"),
        ));
    }
    if p.n < 3 {
        return Err(Error::param(
            "n",
            format!(
                "the lollipop needs n ≥ 3 (one point per piece), got {}",
                p.n
            ),
        ));
    }
    let share = |s: f64| ((s * p.n as f64).round() as usize).max(1);
    let (n_stick, n_point) = (share(STICK_SHARE), share(POINT_SHARE));
    let n_candy = p.n - n_stick - n_point;
    let embedding = (d > 2).then(|| Isometry::random(&mut layout_rng(p.seed, 0), d, 2));
    if p.check_only {
        return Ok(Sample::checked());
    }
    let values = fill_rows(p.n, d, p.seed, |i, rng, row| {
        let y = if i < n_candy {
            // uniform on the disc: radius √u, angle 2πv
            let r = CANDY_RADIUS * rng.random::<f64>().sqrt();
            let a = 2.0 * PI * rng.random::<f64>();
            [CANDY_CENTRE[0] + r * a.cos(), CANDY_CENTRE[1] + r * a.sin()]
        } else if i < n_candy + n_stick {
            let s = STICK_END * rng.random::<f64>();
            [s, s]
        } else {
            POINT
        };
        match &embedding {
            Some(q) => q.apply(&y, row),
            None => row.copy_from_slice(&y),
        }
    });
    let ids = (0..p.n)
        .map(|i| {
            if i < n_candy {
                2
            } else if i < n_candy + n_stick {
                1
            } else {
                0
            }
        })
        .collect();
    Ok(Sample {
        values,
        ambient: d,
        true_id: TrueId::PerPoint(ids),
        params: json!({ "ambient": d, "stick_share": STICK_SHARE, "point_share": POINT_SHARE }),
        details: json!({
            "candy": { "centre": CANDY_CENTRE, "radius": CANDY_RADIUS, "rows": [0, n_candy] },
            "stick": { "from": [0.0, 0.0], "to": [STICK_END, STICK_END], "rows": [n_candy, n_candy + n_stick] },
            "point": { "at": POINT, "rows": [n_candy + n_stick, p.n] },
        }),
        description: if d > 2 {
            format!("lollipop (disc, stick, point) embedded in ℝ^{d} by a random isometry")
        } else {
            "lollipop in ℝ²: disc (ID 2), stick (ID 1), isolated point (ID 0)".into()
        },
        own_noise: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_have_their_geometry_and_ids() {
        let s = lollipop(&Params {
            n: 1000,
            ..Params::default()
        })
        .unwrap();
        let TrueId::PerPoint(ids) = &s.true_id else {
            panic!("per-point IDs expected")
        };
        assert_eq!(s.true_id.counts(1000), vec![(0, 10), (1, 50), (2, 940)]);
        for (y, &id) in s.values.chunks(2).zip(ids) {
            match id {
                2 => assert!((y[0] - 2.0).hypot(y[1] - 2.0) <= 1.0),
                1 => assert!(y[0] == y[1] && (0.0..=STICK_END).contains(&y[0])),
                _ => assert_eq!(y, POINT),
            }
        }
        let tiny = lollipop(&Params {
            n: 3,
            ..Params::default()
        })
        .unwrap();
        assert_eq!(tiny.true_id, TrueId::PerPoint(vec![2, 1, 0]));
        assert!(lollipop(&Params {
            n: 2,
            ..Params::default()
        })
        .is_err());
    }
}
