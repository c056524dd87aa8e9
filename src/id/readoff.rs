//! Reading the normal dimension n̂ off a descending singular-value spectrum; ID = D − n̂.
//!
//! Near the manifold the scores of perturbed samples point along the normal space, so the
//! spectrum has n̂ large values, then a drop. Three rules find the drop:
//! - [`Rule::MaxGap`]: n̂ = argmaxᵢ (sᵢ − sᵢ₊₁), including the first gap (i = 1), so ID = D − 1 is
//!   found (the reference code skips it);
//! - [`Rule::Ratio`]: n̂ = argmaxᵢ sᵢ/sᵢ₊₁;
//! - [`Rule::Threshold`]`(τ)`: n̂ = #{i : sᵢ > τ·s₁}.
//!
//! **Full-dimensional data.** A score that is smooth at the scale σ of the perturbation (no
//! manifold) gives a spectrum with one large value (the drift s(x₀)) and small ones, which every
//! rule above would read as one normal direction. The estimator therefore passes a *reference*
//! scale r — the value a true normal direction reaches (√K/σ for K sampled scores, whose normal
//! components are −z/σ; 1/σ² for the score Jacobian, ≈ −P_N/σ²). Only values sᵢ ≥ ν·r (ν, the
//! *normal floor*, default 0.1) can be normal directions; when none is, n̂ = 0 and ID = D.
//! Conversely ID = 0 (every direction normal, an isolated point) needs even s_D ≥ ½·r.
//!
//! **Tangent ceiling.** With a reference, a max-gap or ratio cut n̂ is admissible only if the first
//! value it calls tangent lies below the normal scale: sₙ̂₊₁ < r. The squared normal values average
//! exactly r² (K·n̂/σ² in total), so a value above r is inside the normal bulk, never a tangent
//! direction. This matters on curved manifolds: the radial direction of a sphere carries the
//! mean-curvature drift on top of the noise and stands well above the bulk (s₁ ≈ 2r against
//! s₂ ≈ 1.3r on a 50-sphere in ℝ¹⁰⁰), and its step s₁ − s₂ can beat the true drop; without the
//! ceiling max-gap then reads ID = D − 1.
//!
//! ```
//! use scoregeo::id::{Rule, read_off};
//! let s = [100.0, 95.0, 90.0, 0.5, 0.4];
//! let r = read_off(&s, Rule::MaxGap, Some(100.0), 0.1).unwrap();
//! assert_eq!((r.normal_dim, r.intrinsic_dim), (3, 2));
//! // smooth full-dimensional density: one drift direction far below the normal scale
//! let r = read_off(&[3.0, 0.1, 0.1, 0.1, 0.1], Rule::MaxGap, Some(100.0), 0.1).unwrap();
//! assert_eq!(r.intrinsic_dim, 5);
//! // a radial value far above the bulk: its step (80) beats the true drop (70), but s₂ ≥ r
//! let s = [200.0, 120.0, 110.0, 100.0, 90.0, 75.0, 5.0, 4.0];
//! assert_eq!(read_off(&s, Rule::MaxGap, None, 0.1).unwrap().intrinsic_dim, 7);
//! assert_eq!(read_off(&s, Rule::MaxGap, Some(100.0), 0.1).unwrap().intrinsic_dim, 2);
//! ```

use crate::error::{Error, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// How the normal dimension is read off a spectrum.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rule {
    /// The largest difference sᵢ − sᵢ₊₁ (first gap included).
    MaxGap,
    /// The largest ratio sᵢ/sᵢ₊₁.
    Ratio,
    /// Count of sᵢ above τ·s₁, τ ∈ (0, 1).
    Threshold(f64),
}

impl Rule {
    /// Checks the rule's parameter.
    pub fn check(&self) -> Result<()> {
        match *self {
            Rule::Threshold(tau) if !(tau > 0.0 && tau < 1.0) => Err(Error::param(
                "rule",
                format!("threshold τ must lie in (0, 1), got {tau}"),
            )),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::MaxGap => write!(f, "maxgap"),
            Rule::Ratio => write!(f, "ratio"),
            Rule::Threshold(tau) => write!(f, "threshold:{tau}"),
        }
    }
}

/// Serialised as its text: `maxgap`, `ratio` or `threshold:τ`.
impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl FromStr for Rule {
    type Err = Error;

    /// Parses `maxgap`, `ratio` or `threshold:τ`.
    fn from_str(s: &str) -> Result<Self> {
        let rule = match s.trim().to_ascii_lowercase().as_str() {
            "maxgap" | "max-gap" | "gap" => Rule::MaxGap,
            "ratio" => Rule::Ratio,
            other => match other.strip_prefix("threshold:") {
                Some(tau) => Rule::Threshold(tau.parse().map_err(|_| {
                    Error::param("rule", format!("`{tau}` is not a number in threshold:τ"))
                })?),
                None => {
                    return Err(Error::param(
                        "rule",
                        format!("unknown rule `{s}` (expected maxgap, ratio or threshold:τ)"),
                    ))
                }
            },
        };
        rule.check()?;
        Ok(rule)
    }
}

/// Where a spectrum was cut.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReadOff {
    /// The rule used.
    pub rule: Rule,
    /// n̂: the number of normal directions.
    pub normal_dim: usize,
    /// D − n̂.
    pub intrinsic_dim: usize,
    /// sₙ̂/sₙ̂₊₁ at the cut (∞ when sₙ̂₊₁ = 0; 0 when n̂ = 0): how clear the gap is.
    pub gap_ratio: f64,
    /// sₙ̂/r, how normal-like the last normal direction is (None without a reference).
    pub normal_level: Option<f64>,
    /// The normal floor value ν·r: smaller values are never normal (0 without a reference).
    pub floor: f64,
    /// The tangent ceiling: the reference scale r the first tangent value must stay below
    /// (None without a reference).
    pub ceiling: Option<f64>,
    /// Whether one more normal direction was counted for the mean score's pull towards the
    /// manifold (centred normal bundle, see [`NormalBundleParams::centred`](super::NormalBundleParams::centred)).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub mean_pull: bool,
    /// The samples K behind this cut (normal bundle; with adaptive sampling it varies by point).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub samples: Option<usize>,
}

impl ReadOff {
    /// Counts one more normal direction (the mean pull), when one is left.
    pub fn with_mean_pull(mut self) -> Self {
        if self.intrinsic_dim > 0 {
            self.normal_dim += 1;
            self.intrinsic_dim -= 1;
            self.mean_pull = true;
        }
        self
    }
}

/// Cuts a descending spectrum with `rule`; see the module docs for `reference` and `floor`.
pub fn read_off(
    spectrum: &[f64],
    rule: Rule,
    reference: Option<f64>,
    floor: f64,
) -> Result<ReadOff> {
    let d = spectrum.len();
    if d == 0 {
        return Err(Error::InvalidData("empty spectrum".into()));
    }
    if spectrum.iter().any(|s| !s.is_finite() || *s < 0.0) {
        return Err(Error::Numerical(
            "spectrum has negative or non-finite values".into(),
        ));
    }
    rule.check()?;
    let s = |i: usize| if i < d { spectrum[i] } else { 0.0 };
    // candidate cuts i = 1..=D (1-based): the last normal value must reach the normal floor
    let floor_value = reference.map_or(0.0, |r| floor * r);
    let ceiling = reference.unwrap_or(f64::INFINITY);
    // the cut i = D (every direction normal, ID 0) compares s_D with a padded zero, so it only
    // counts when s_D itself is normal-like: ≥ ½·r, where true normal values sit at r(1 ± √(D/K))
    let all_normal = reference.is_some_and(|r| s(d - 1) >= 0.5 * r);
    let candidates: Vec<usize> = (1..=d)
        .filter(|&i| s(i - 1) >= floor_value && s(i - 1) > 0.0 && (i < d || all_normal))
        .collect();
    // the tangent ceiling: a step rule may not cut where the first tangent value is still at the
    // normal scale (inside the bulk); the threshold rule counts values, not cuts
    let cuts: Vec<usize> = candidates
        .iter()
        .copied()
        .filter(|&i| s(i) < ceiling)
        .collect();
    let normal_dim = match rule {
        Rule::MaxGap => argmax(&cuts, |i| s(i - 1) - s(i)),
        // the padding s_{D+1} = 0 would make the last ratio infinite: ratios stop at i = D − 1
        Rule::Ratio => argmax(&cuts, |i| {
            if i < d {
                ratio(s(i - 1), s(i))
            } else {
                f64::NEG_INFINITY
            }
        }),
        Rule::Threshold(tau) => candidates
            .iter()
            .filter(|&&i| s(i - 1) > tau * s(0))
            .count(),
    };
    Ok(ReadOff {
        rule,
        normal_dim,
        intrinsic_dim: d - normal_dim,
        gap_ratio: if normal_dim == 0 {
            0.0
        } else {
            ratio(s(normal_dim - 1), s(normal_dim))
        },
        normal_level: reference
            .filter(|_| normal_dim > 0)
            .map(|r| s(normal_dim - 1) / r),
        floor: floor_value,
        ceiling: reference,
        mean_pull: false,
        samples: None,
    })
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        f64::INFINITY
    }
}

/// The candidate with the largest score (the first on ties), or 0 when there is none.
fn argmax(candidates: &[usize], score: impl Fn(usize) -> f64) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for &i in candidates {
        let v = score(i);
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_gap_includes_first_gap() {
        // one normal direction in D = 4: ID = D − 1 must be found
        let r = read_off(&[50.0, 1.0, 0.9, 0.8], Rule::MaxGap, None, 0.1).unwrap();
        assert_eq!((r.normal_dim, r.intrinsic_dim), (1, 3));
        assert!((r.gap_ratio - 50.0).abs() < 1e-12);
    }

    #[test]
    fn rules_can_disagree() {
        // differences favour the first cut, ratios the third
        let s = [100.0, 60.0, 1.0, 0.001];
        assert_eq!(read_off(&s, Rule::MaxGap, None, 0.1).unwrap().normal_dim, 2);
        assert_eq!(read_off(&s, Rule::Ratio, None, 0.1).unwrap().normal_dim, 3);
        assert_eq!(
            read_off(&s, Rule::Threshold(0.5), None, 0.1)
                .unwrap()
                .normal_dim,
            2
        );
        assert_eq!(
            read_off(&s, Rule::Threshold(0.005), None, 0.1)
                .unwrap()
                .normal_dim,
            3
        );
    }

    #[test]
    fn floor_detects_full_dimension() {
        let s = [5.0, 0.2, 0.1];
        assert_eq!(
            read_off(&s, Rule::MaxGap, Some(1000.0), 0.1)
                .unwrap()
                .intrinsic_dim,
            3
        );
        assert_eq!(
            read_off(&s, Rule::Ratio, Some(1000.0), 0.1)
                .unwrap()
                .intrinsic_dim,
            3
        );
        // without a reference the same spectrum reads as one normal direction
        assert_eq!(
            read_off(&s, Rule::MaxGap, None, 0.1).unwrap().intrinsic_dim,
            2
        );
    }

    #[test]
    fn last_gap_needs_normal_like_values() {
        // a clear gap after 3 normal values; tangent values above the floor but far below r
        let s = [30.0, 28.0, 26.0, 9.0, 8.0, 7.5];
        let r = read_off(&s, Rule::MaxGap, Some(25.0), 0.1).unwrap();
        assert_eq!(r.intrinsic_dim, 3);
    }

    #[test]
    fn tangent_ceiling_skips_cuts_inside_the_normal_bulk() {
        // a 2-sphere-like spectrum in D = 6: radial value 2r, bulk around r, two tangent values
        let s = [2.0, 1.2, 1.1, 0.8, 0.05, 0.04];
        // without a reference the radial step (0.8) beats the true drop (0.75)
        assert_eq!(
            read_off(&s, Rule::MaxGap, None, 0.1).unwrap().intrinsic_dim,
            5
        );
        for rule in [Rule::MaxGap, Rule::Ratio] {
            let capped = read_off(&s, rule, Some(1.0), 0.1).unwrap();
            assert_eq!(capped.intrinsic_dim, 2, "{rule}");
            assert_eq!(capped.normal_level, Some(0.8));
        }
        // the cut at D (ID 0) compares with a padded zero, which is below any ceiling
        let r = read_off(&[1.4, 1.2, 1.0], Rule::MaxGap, Some(1.0), 0.1).unwrap();
        assert_eq!(r.intrinsic_dim, 0);
    }

    #[test]
    fn all_normal_gives_zero() {
        let r = read_off(&[10.0, 9.0, 8.5], Rule::MaxGap, Some(10.0), 0.1).unwrap();
        assert_eq!(r.intrinsic_dim, 0);
    }

    #[test]
    fn parses_and_checks() {
        assert_eq!("maxgap".parse::<Rule>().unwrap(), Rule::MaxGap);
        assert_eq!(
            "threshold:0.2".parse::<Rule>().unwrap(),
            Rule::Threshold(0.2)
        );
        assert!("threshold:2".parse::<Rule>().is_err());
        assert!("threshold:x".parse::<Rule>().is_err());
        assert!("median".parse::<Rule>().is_err());
        let json = serde_json::to_string(&Rule::Threshold(0.25)).unwrap();
        assert_eq!(json, "\"threshold:0.25\"");
        assert_eq!(
            serde_json::from_str::<Rule>(&json).unwrap(),
            Rule::Threshold(0.25)
        );
        let r = read_off(&[10.0, 1.0], Rule::Ratio, Some(20.0), 0.1).unwrap();
        assert_eq!((r.rule, r.floor, r.ceiling), (Rule::Ratio, 2.0, Some(20.0)));
        assert!(read_off(&[], Rule::MaxGap, None, 0.1).is_err());
        assert!(read_off(&[1.0, f64::NAN], Rule::MaxGap, None, 0.1).is_err());
    }
}
