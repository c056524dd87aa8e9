//! The sinusoid and hemisphere datasets (K, N) of the Riemannian-autoencoder experiments in
//! Diepeveen, Batzolis, Shumaylov, Schönlieb, *Score-based pullback Riemannian geometry* (2024).
//! The constructions below are those of the paper's dataset script (`sample_dataset.py` of the
//! official repository), re-implemented.

use super::{at_least_one, fill_rows, layout_rng, non_negative, Isometry, Params, Sample, TrueId};
use crate::error::{Error, Result};
use rand::Rng;
use rand_distr::{Beta, StandardNormal};
use serde_json::{json, Value};
use std::f64::consts::PI;

/// Variance of the latent coordinates z of the sinusoid.
const SINUSOID_LATENT_VAR: f64 = 3.0;
/// Variance of the off-manifold noise of the sinusoid (the paper's default concentration).
const SINUSOID_NOISE_VAR: f64 = 1e-3;
/// Shape parameters of the Beta law of the hemisphere's polar angle.
const HEMISPHERE_BETA: (f64, f64) = (5.0, 5.0);

/// `sinusoid` (K, N): latent z ~ N(0, 3·I_K); a fixed shear matrix W ∈ ℝ^{(N−K)×K} with entries
/// U(1, 2) (drawn once per dataset); the point is x = (sin(w₁ᵀz) + ε₁, …, sin(w_{N−K}ᵀz) + ε_{N−K},
/// z₁, …, z_K) with ε_j ~ N(0, σ²): the first N − K coordinates are the off-manifold ones. The
/// noise σ applies to those coordinates only and defaults to √10⁻³ (the paper's variance 10⁻³);
/// σ = 0 puts the points exactly on the K-dimensional graph of z ↦ sin(Wz). True ID K.
///
/// Defaults: K = 1, N = 20 (or K + 1 if larger). Needs K < N.
pub(super) fn sinusoid(p: &Params) -> Result<Sample> {
    let k = at_least_one("dim", p.dim.unwrap_or(1))?;
    let d = p.ambient_or(20, k + 1);
    if k >= d {
        return Err(Error::param(
            "dim",
            format!("the sinusoid needs K < N, got K = {k}, N = {d}"),
        ));
    }
    let sigma = non_negative("noise", p.noise.unwrap_or(SINUSOID_NOISE_VAR.sqrt()))?;
    let shears = sinusoid_shears(p.seed, k, d);
    if p.check_only {
        return Ok(Sample::checked());
    }
    let values = fill_rows(p.n, d, p.seed, |_, rng, row| {
        let (off, z) = row.split_at_mut(d - k);
        for zi in z.iter_mut() {
            *zi = SINUSOID_LATENT_VAR.sqrt() * rng.sample::<f64, _>(StandardNormal);
        }
        for (x, w) in off.iter_mut().zip(shears.chunks_exact(k)) {
            let phase: f64 = w.iter().zip(z.iter()).map(|(a, b)| a * b).sum();
            *x = phase.sin() + sigma * rng.sample::<f64, _>(StandardNormal);
        }
    });
    Ok(Sample {
        values,
        ambient: d,
        true_id: TrueId::Global(k),
        params: json!({
            "dim": k, "ambient": d, "latent_var": SINUSOID_LATENT_VAR, "shear_range": [1.0, 2.0],
            "noise": sigma, "noise_model": "off-manifold coordinates only",
        }),
        details: Value::Null,
        description: format!(
            "sinusoid (K = {k}, N = {d}): (sin(Wz) + noise, z), z ~ N(0, 3I), W ~ U(1,2)^{{{}×{k}}}",
            d - k
        ),
        own_noise: true,
    })
}

/// The sinusoid's shear matrix W, (N − K)×K row-major, entries U(1, 2).
fn sinusoid_shears(seed: u64, k: usize, d: usize) -> Vec<f64> {
    let mut rng = layout_rng(seed, 0);
    (0..(d - k) * k)
        .map(|_| rng.random_range(1.0..2.0))
        .collect()
}

/// Hyperspherical coordinates: the point of S^K ⊂ ℝ^{K+1} with angles θ₁, …, θ_K,
/// y_i = sin θ₁ ⋯ sin θ_{i−1} cos θ_i (i ≤ K) and y_{K+1} = sin θ₁ ⋯ sin θ_K.
fn from_angles(angles: &[f64]) -> Vec<f64> {
    let mut y = Vec::with_capacity(angles.len() + 1);
    let mut sines = 1.0;
    for a in angles {
        y.push(sines * a.cos());
        sines *= a.sin();
    }
    y.push(sines);
    y
}

/// `hemisphere` (K, N): a point of the unit sphere S^K ⊂ ℝ^{K+1} in hyperspherical coordinates
/// (`from_angles`) with polar angle θ₁ = (π/2)·B, B ~ Beta(5, 5), so that y₁ = cos θ₁ ≥ 0 (the
/// upper hemisphere, denser half-way between pole and equator), and the other angles θ₂, …, θ_K
/// uniform on [0, π]. As in the paper's script, the last angle also ranges over [0, π] only, so
/// y_{K+1} ≥ 0 too: the samples cover the part of the hemisphere with y_{K+1} ≥ 0. The point is
/// mapped into ℝ^N by a random isometry. True ID K.
///
/// Defaults: K = 2, N = 3 (or K + 1 if larger). Needs K + 1 ≤ N.
pub(super) fn hemisphere(p: &Params) -> Result<Sample> {
    let k = at_least_one("dim", p.dim.unwrap_or(2))?;
    let d = p.ambient_or(3, k + 1);
    if k + 1 > d {
        return Err(Error::param(
            "ambient",
            format!("S^{k} lives in ℝ^{}: need N ≥ {}, got {d}", k + 1, k + 1),
        ));
    }
    let polar = Beta::new(HEMISPHERE_BETA.0, HEMISPHERE_BETA.1).expect("valid Beta shape");
    let embedding = Isometry::random(&mut layout_rng(p.seed, 0), d, k + 1);
    if p.check_only {
        return Ok(Sample::checked());
    }
    let values = fill_rows(p.n, d, p.seed, |_, rng, row| {
        let mut angles = Vec::with_capacity(k);
        angles.push(0.5 * PI * rng.sample(polar));
        angles.extend((1..k).map(|_| PI * rng.random::<f64>()));
        embedding.apply(&from_angles(&angles), row);
    });
    Ok(Sample {
        values,
        ambient: d,
        true_id: TrueId::Global(k),
        params: json!({
            "dim": k, "ambient": d, "polar_angle": "π/2·Beta(5,5)", "other_angles": "U(0,π)",
        }),
        details: Value::Null,
        description: format!("upper hemisphere of S^{k} (polar angle π/2·Beta(5,5)), embedded in ℝ^{d} by a random isometry"),
        own_noise: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinusoid_points_lie_on_the_graph_of_sin_wz() {
        let p = Params {
            n: 300,
            dim: Some(2),
            ambient: Some(7),
            noise: Some(0.0),
            ..Params::default()
        };
        let s = sinusoid(&p).unwrap();
        let w = sinusoid_shears(0, 2, 7);
        assert!(w.iter().all(|v| (1.0..2.0).contains(v)));
        let mut var = 0.0;
        for row in s.values.chunks(7) {
            let z = &row[5..];
            var += z.iter().map(|v| v * v).sum::<f64>() / (2.0 * 300.0);
            for (j, x) in row[..5].iter().enumerate() {
                assert!((x - (w[2 * j] * z[0] + w[2 * j + 1] * z[1]).sin()).abs() < 1e-12);
            }
        }
        // the latent variance is 3 (standard error of this estimate ≈ 0.17)
        assert!((var - 3.0).abs() < 0.6, "latent variance {var}");
    }

    #[test]
    fn sinusoid_noise_is_off_manifold_only() {
        let p = Params {
            n: 400,
            dim: Some(1),
            ambient: Some(3),
            ..Params::default()
        };
        let s = sinusoid(&p).unwrap();
        assert_eq!(s.params["noise"], json!(SINUSOID_NOISE_VAR.sqrt()));
        let w = sinusoid_shears(0, 1, 3);
        let resid: Vec<f64> = s
            .values
            .chunks(3)
            .flat_map(|r| [r[0] - (w[0] * r[2]).sin(), r[1] - (w[1] * r[2]).sin()])
            .collect();
        let var = resid.iter().map(|e| e * e).sum::<f64>() / resid.len() as f64;
        assert!(
            (var / SINUSOID_NOISE_VAR - 1.0).abs() < 0.2,
            "noise variance {var}"
        );
        assert!(sinusoid(&Params {
            dim: Some(3),
            ambient: Some(3),
            ..Params::default()
        })
        .is_err());
    }

    #[test]
    fn hemisphere_points_are_unit_and_on_the_upper_half() {
        let p = Params {
            n: 300,
            dim: Some(3),
            ambient: Some(6),
            ..Params::default()
        };
        let s = hemisphere(&p).unwrap();
        let q = Isometry::random(&mut layout_rng(0, 0), 6, 4);
        let mut mean_polar = 0.0;
        for x in s.values.chunks(6) {
            // coordinates in the frame: y = Qᵀx
            let y: Vec<f64> = (0..4)
                .map(|c| (0..6).map(|a| q.frame[a * 4 + c] * x[a]).sum())
                .collect();
            let norm = y.iter().map(|v| v * v).sum::<f64>().sqrt();
            assert!((norm - 1.0).abs() < 1e-12);
            assert!(y[0] >= -1e-15 && y[3] >= -1e-15, "{y:?}");
            mean_polar += y[0].acos() / 300.0;
        }
        // E[θ₁] = π/4 for Beta(5, 5) (standard error of this estimate ≈ 0.01)
        assert!(
            (mean_polar - PI / 4.0).abs() < 0.05,
            "mean polar angle {mean_polar}"
        );
        assert!(hemisphere(&Params {
            dim: Some(3),
            ambient: Some(3),
            ..Params::default()
        })
        .is_err());
    }

    #[test]
    fn angles_give_unit_vectors() {
        let y = from_angles(&[0.3, 1.2, 2.5]);
        assert_eq!(y.len(), 4);
        assert!((y.iter().map(|v| v * v).sum::<f64>() - 1.0).abs() < 1e-15);
        assert_eq!(from_angles(&[0.0]), vec![1.0, 0.0]);
    }
}
