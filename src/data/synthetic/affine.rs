//! Flat data: a random k-dimensional affine subspace of ℝ^D.

use super::{at_least_one, fill_rows, layout_rng, Isometry, Latent, Params, Sample, TrueId};
use crate::error::{Error, Result};
use rand::Rng;
use rand_distr::StandardNormal;
use serde_json::{json, Value};

/// `affine`: x = c + Qz with Q a random D×k orthonormal frame, c ~ N(0, I_D) a random offset, and
/// z uniform on [−1, 1]^k ([`Latent::Uniform`]) or standard normal ([`Latent::Gaussian`]).
/// The centred data have rank k exactly (before noise). True ID k.
///
/// Defaults: k = 2, D = 10 (or k if larger), uniform coordinates.
pub(super) fn affine(p: &Params) -> Result<Sample> {
    let k = at_least_one("dim", p.dim.unwrap_or(2))?;
    let d = p.ambient_or(10, k);
    if k > d {
        return Err(Error::param(
            "dim",
            format!("a {k}-dimensional subspace needs D ≥ {k}, got D = {d}"),
        ));
    }
    let latent = p.latent.unwrap_or_default();
    let mut rng = layout_rng(p.seed, 0);
    let frame = Isometry::random(&mut rng, d, k);
    let offset: Vec<f64> = (0..d).map(|_| rng.sample(StandardNormal)).collect();
    let embedding = frame.centred(offset);
    if p.check_only {
        return Ok(Sample::checked());
    }
    let values = fill_rows(p.n, d, p.seed, |_, rng, row| {
        let z: Vec<f64> = match latent {
            Latent::Uniform => (0..k).map(|_| rng.random_range(-1.0..1.0)).collect(),
            Latent::Gaussian => (0..k).map(|_| rng.sample(StandardNormal)).collect(),
        };
        embedding.apply(&z, row);
    });
    let law = match latent {
        Latent::Uniform => "uniform on [−1,1]^k",
        Latent::Gaussian => "N(0, I_k)",
    };
    Ok(Sample {
        values,
        ambient: d,
        true_id: TrueId::Global(k),
        params: json!({ "dim": k, "ambient": d, "latent": latent }),
        details: Value::Null,
        description: format!("random {k}-dimensional affine subspace of ℝ^{d}, coordinates {law}"),
        own_noise: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;

    fn centred_singular_values(values: Vec<f64>, n: usize, d: usize) -> Vec<f64> {
        let data = Dataset::from_row_major(values, n, d).unwrap();
        let mean: Vec<f64> = (0..d)
            .map(|j| data.rows().map(|r| r[j]).sum::<f64>() / n as f64)
            .collect();
        let centred = faer::Mat::from_fn(n, d, |i, j| data.row(i)[j] - mean[j]);
        crate::linalg::singular_values(centred.as_ref()).unwrap()
    }

    #[test]
    fn centred_data_have_rank_k() {
        for latent in [Latent::Uniform, Latent::Gaussian] {
            let p = Params {
                n: 100,
                dim: Some(3),
                ambient: Some(8),
                latent: Some(latent),
                ..Params::default()
            };
            let sv = centred_singular_values(affine(&p).unwrap().values, 100, 8);
            assert!(
                sv[2] > 1e-2 * sv[0] && sv[3] < 1e-12 * sv[0],
                "{latent:?}: {sv:?}"
            );
        }
    }

    #[test]
    fn uniform_coordinates_stay_in_the_cube() {
        // with an orthonormal frame, ‖x − c‖ ≤ √k for z in [−1, 1]^k
        let p = Params {
            n: 200,
            dim: Some(2),
            ambient: Some(4),
            ..Params::default()
        };
        let s = affine(&p).unwrap();
        let mut rng = layout_rng(0, 0);
        let _frame = Isometry::random(&mut rng, 4, 2);
        let c: Vec<f64> = (0..4).map(|_| rng.sample(StandardNormal)).collect();
        for row in s.values.chunks(4) {
            let r = row
                .iter()
                .zip(&c)
                .map(|(x, c)| (x - c) * (x - c))
                .sum::<f64>()
                .sqrt();
            assert!(r <= 2f64.sqrt() + 1e-12);
        }
        assert!(affine(&Params {
            dim: Some(5),
            ambient: Some(4),
            ..Params::default()
        })
        .is_err());
    }
}
