//! How far a spectral read-out can be trusted: the diagnostic behind `--method auto`.
//!
//! At a point of a d-dimensional manifold in ℝ^D, the n = D − d normal singular values of K
//! centred scores of a resolved model follow the Marchenko–Pastur law of a K×n Gaussian matrix
//! scaled by 1/σ: they lie within r·(1 ± √(n/K)) of r = √(K − 1)/σ, while the tangent values stay
//! far below (their size is set by curvature and density, not by 1/σ). A cut is *clear* when
//! half the lower Marchenko–Pastur edge, ½L with L = r·(1 − √(n/K)), separates the two bands:
//! the last normal value stays above it and the first tangent value below. As a margin in
//! octaves:
//!
//! margin = min(log₂(sₙ / (½L)), log₂((½L) / sₙ₊₁)),
//!
//! positive when both sides hold, so a point reads clearly when its margin is positive. Without
//! normal directions (n = 0, full dimension) only the tangent side counts, against ½r. A model
//! that has not resolved the manifold at σ smears the normal band towards the tangent values and
//! the margin falls below zero: then the read-out is not to be trusted.

/// Half the lower Marchenko–Pastur edge of n normal values among K samples, relative to r.
pub fn half_lower_edge(normal_dim: usize, samples: usize) -> f64 {
    let ratio = (normal_dim as f64 / samples.max(1) as f64).sqrt();
    0.5 * (1.0 - ratio).max(0.0)
}

/// The margin of a cut in octaves (see the [module docs](self)): positive when the spectrum
/// `spectrum` (descending), cut after `normal_dim` values, separates a normal band at the
/// reference `reference` = √(K − 1)/σ from the tangent values. −∞ when a side is empty of sense
/// (a normal value of 0, or K too small for the normal band to have a lower edge).
pub fn cut_margin(spectrum: &[f64], normal_dim: usize, reference: f64, samples: usize) -> f64 {
    let sides = cut_sides(spectrum, normal_dim, reference, samples);
    sides.normal.min(sides.tangent)
}

/// The two sides of a [`cut_margin`], in octaves: how far the last normal value stands above ½L
/// and the first tangent value below it (+∞ for a side with no value, −∞ when the normal band
/// has no lower edge).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CutSides {
    /// log₂(sₙ / (½L)).
    pub normal: f64,
    /// log₂((½L) / sₙ₊₁).
    pub tangent: f64,
}

/// Both sides of the cut after `normal_dim` values (see [`cut_margin`]).
pub fn cut_sides(spectrum: &[f64], normal_dim: usize, reference: f64, samples: usize) -> CutSides {
    let d = spectrum.len();
    let edge = half_lower_edge(normal_dim, samples) * reference;
    if !(edge > 0.0 && edge.is_finite()) || normal_dim > d {
        return CutSides {
            normal: f64::NEG_INFINITY,
            tangent: f64::NEG_INFINITY,
        };
    }
    let tangent = match spectrum.get(normal_dim) {
        // every direction normal (ID 0): nothing tangent to separate
        None => f64::INFINITY,
        Some(&t) if t > 0.0 => (edge / t).log2(),
        Some(_) => f64::INFINITY,
    };
    let normal = match normal_dim {
        0 => f64::INFINITY,
        n => {
            let s = spectrum[n - 1];
            if s > 0.0 {
                (s / edge).log2()
            } else {
                f64::NEG_INFINITY
            }
        }
    };
    CutSides { normal, tangent }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_subspace_spectrum_is_clear_and_smeared_one_is_not() {
        // K = 64 samples, σ = 0.01: r = √63/0.01; 6 normal values near r, 4 tangent near 0
        let r = 63f64.sqrt() / 0.01;
        let mut clean = vec![1.05 * r, 1.0 * r, 0.98 * r, 0.9 * r, 0.85 * r, 0.8 * r];
        clean.extend([3.0, 2.0, 1.0, 0.5]);
        let m = cut_margin(&clean, 6, r, 64);
        // ½L = ½(1 − √(6/64))·r ≈ 0.35r: the normal side is log₂(0.8/0.35) ≈ 1.19 octaves
        assert!((m - (0.8 / (0.5 * (1.0 - (6.0f64 / 64.0).sqrt()))).log2()).abs() < 1e-12);
        // an under-resolved model: the "tangent" values reach 0.3 r, the last normal 0.4 r
        let mut smeared = vec![r, 0.9 * r, 0.7 * r, 0.6 * r, 0.5 * r, 0.4 * r];
        smeared.extend([0.3 * r, 0.2 * r, 0.1 * r, 0.05 * r]);
        assert!(cut_margin(&smeared, 6, r, 64) < 0.5);
        assert!(cut_margin(&smeared, 6, r, 64) < m);
    }

    #[test]
    fn an_exact_subspace_score_reads_clearly_everywhere() {
        use crate::id::NormalBundle;
        use crate::score::analytic::SubspaceGaussian;
        use crate::Sde;
        let model = SubspaceGaussian::random(12, 4, Sde::ve(10.0), 2).unwrap();
        let data = model.sample(20, 3);
        let est = NormalBundle::params()
            .check()
            .unwrap()
            .fit(&model, &data)
            .unwrap();
        let r = assess(&est).expect("nb with spectra");
        assert_eq!(r.clear_fraction, 1.0);
        assert!(
            r.trusted && r.margins.len() == 20 && r.median_margin > 1.0,
            "{r:?}"
        );
        // other methods have no diagnostic
        let mle = crate::id::classic::Mle::params()
            .k(5)
            .check()
            .unwrap()
            .fit(&data)
            .unwrap();
        assert!(assess(&mle).is_none());
    }

    #[test]
    fn full_dimension_counts_only_the_tangent_side() {
        let r = 10.0;
        assert!((cut_margin(&[1.0, 0.5], 0, r, 64) - (5.0f64).log2()).abs() < 1e-12);
        // a top value at the normal scale is not a clear full-dimensional reading
        assert!(cut_margin(&[9.0, 0.5], 0, r, 64) < 0.0);
        // every direction normal: only the normal side
        assert!(cut_margin(&[10.0, 9.5], 2, r, 64) > 0.0);
        // K no larger than n: no lower edge
        assert_eq!(cut_margin(&[10.0, 9.5], 2, r, 2), f64::NEG_INFINITY);
    }
}

/// The diagnostic of a normal-bundle estimate: every point's cut margin and the share of clear
/// cuts. Serialised as the `reliability` field of `id-estimate`'s JSON.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Reliability {
    /// Fraction of evaluated points whose cut is clear (margin > 0).
    pub clear_fraction: f64,
    /// Median margin in octaves over the points.
    pub median_margin: f64,
    /// Whether the global estimate is to be trusted: at least half the points read clearly.
    pub trusted: bool,
    /// Each point's margin in octaves, in the estimate's point order.
    pub margins: Vec<f64>,
}

/// The diagnostic of a normal-bundle estimate that kept its spectra (`None` for other methods,
/// or without spectra).
pub fn assess(estimate: &super::IdEstimate) -> Option<Reliability> {
    let samples = estimate.settings().samples()?;
    let margins = estimate
        .points()
        .iter()
        .map(|p| match (&p.spectrum, &p.readoff) {
            (Some(s), Some(r)) => {
                let normal = r.normal_dim - usize::from(r.mean_pull);
                // an adaptive estimate records each point's own K
                Some(cut_margin(
                    s,
                    normal,
                    r.ceiling?,
                    r.samples.unwrap_or(samples),
                ))
            }
            _ => None,
        })
        .collect::<Option<Vec<f64>>>()?;
    if margins.is_empty() {
        return None;
    }
    let clear = margins.iter().filter(|&&m| m > 0.0).count();
    let mut sorted = margins.clone();
    sorted.sort_by(f64::total_cmp);
    let clear_fraction = clear as f64 / margins.len() as f64;
    Some(Reliability {
        clear_fraction,
        median_margin: sorted[sorted.len() / 2],
        trusted: clear_fraction >= 0.5,
        margins,
    })
}

/// What [`auto`] chose and why.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct AutoChoice {
    /// The method whose estimate is returned.
    pub chosen: super::Method,
    /// The normal bundle's diagnostic the choice was made on.
    pub reliability: Reliability,
    /// The normal bundle's own global ID (also when it was not chosen).
    pub normal_bundle_id: f64,
}

/// The automatic choice: the normal bundle when its read-out is trusted (at least half the points
/// cut clearly), else `fallback` (a classic estimator, which reads the data without the model).
pub fn auto(
    nb: &super::NormalBundle,
    fallback: &super::Estimator,
    data: &crate::data::Dataset,
    model: &dyn crate::score::ScoreModel,
) -> crate::error::Result<(super::IdEstimate, AutoChoice)> {
    let estimate = nb.fit(model, data)?;
    let reliability = assess(&estimate).ok_or_else(|| {
        crate::error::Error::param(
            "keep_spectra",
            "the automatic choice reads the normal bundle's spectra; keep them",
        )
    })?;
    let normal_bundle_id = estimate.global_id();
    if reliability.trusted {
        let choice = AutoChoice {
            chosen: super::Method::Nb,
            reliability,
            normal_bundle_id,
        };
        return Ok((estimate, choice));
    }
    let other = fallback.fit(data, Some(model))?;
    let choice = AutoChoice {
        chosen: other.method(),
        reliability,
        normal_bundle_id,
    };
    Ok((other, choice))
}
