//! Spheres: one k-sphere, or a union of spheres of different dimensions (Stanczuk et al. 2024
//! use the 10- and 50-sphere in ℝ^100, and the union of a 10- and a 30-sphere).

use super::{
    at_least_one, fill_rows, layout_rng, non_negative, positive, random_direction, Isometry,
    Params, Sample, TrueId,
};
use crate::error::{Error, Result};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde_json::{json, Value};

/// A uniform point of the radius-r sphere S^k ⊂ ℝ^{k+1}: a normalised standard Gaussian vector.
fn uniform_on_sphere(rng: &mut ChaCha8Rng, k: usize, radius: f64) -> Vec<f64> {
    let g: Vec<f64> = (0..=k).map(|_| rng.sample(StandardNormal)).collect();
    let norm = g.iter().map(|x| x * x).sum::<f64>().sqrt();
    g.into_iter().map(|x| radius * x / norm).collect()
}

/// Checks that a k-sphere fits in ℝ^D.
fn check_fits(k: usize, d: usize) -> Result<()> {
    if k + 1 > d {
        return Err(Error::param(
            "ambient",
            format!(
                "a {k}-sphere lives in ℝ^{}: need an ambient dimension ≥ {}, got {d}",
                k + 1,
                k + 1
            ),
        ));
    }
    Ok(())
}

/// `sphere`: y uniform on the k-sphere of radius r in ℝ^{k+1} (a normalised Gaussian vector),
/// mapped to x = Qy ∈ ℝ^D by a random isometry Q (D×(k+1), QᵀQ = I, see `Isometry::random`).
/// Every point has norm r exactly (before noise). True ID k.
///
/// Defaults: k = 10, D = 100 (or k + 1 if larger), r = 1.
pub(super) fn sphere(p: &Params) -> Result<Sample> {
    let k = at_least_one("dim", p.dim.unwrap_or(10))?;
    let d = p.ambient_or(100, k + 1);
    check_fits(k, d)?;
    let radius = positive("radius", p.radius.unwrap_or(1.0))?;
    let embedding = Isometry::random(&mut layout_rng(p.seed, 0), d, k + 1);
    if p.check_only {
        return Ok(Sample::checked());
    }
    let values = fill_rows(p.n, d, p.seed, |_, rng, row| {
        embedding.apply(&uniform_on_sphere(rng, k, radius), row);
    });
    Ok(Sample {
        values,
        ambient: d,
        true_id: TrueId::Global(k),
        params: json!({ "dim": k, "ambient": d, "radius": radius }),
        details: Value::Null,
        description: format!(
            "uniform {k}-sphere of radius {radius} in ℝ^{}, embedded in ℝ^{d} by a random isometry",
            k + 1
        ),
        own_noise: false,
    })
}

/// `spheres`: a union of m spheres of dimensions k_j and radii r_j. Sphere j gets its own random
/// isometry Q_j : ℝ^{k_j+1} → ℝ^D and centre c_j = offset·u_j (u_j a random unit vector; offset 0
/// by default, so all spheres are centred at the origin and kept apart by their radii, as in the
/// ID paper). The n points are split into consecutive blocks, one per sphere, of sizes differing by
/// at most one (earlier spheres get the extra points). True ID per point: the k_j of its sphere.
///
/// Defaults: dims 10 and 30 with radii 1 and ¼ (the ID paper's union), radii 1 for other dims,
/// D = 100 (or max k_j + 1 if larger).
pub(super) fn spheres(p: &Params) -> Result<Sample> {
    let (dims, default_radii) = match &p.dims {
        Some(dims) => (dims.clone(), vec![1.0; dims.len()]),
        None => (vec![10, 30], vec![1.0, 0.25]),
    };
    if dims.is_empty() {
        return Err(Error::param("dims", "need at least one sphere"));
    }
    for &k in &dims {
        at_least_one("dims", k)?;
    }
    let radii = p.radii.clone().unwrap_or(default_radii);
    if radii.len() != dims.len() {
        return Err(Error::param(
            "radii",
            format!("{} radii given for {} spheres", radii.len(), dims.len()),
        ));
    }
    for &r in &radii {
        positive("radii", r)?;
    }
    let offset = non_negative("offset", p.offset.unwrap_or(0.0))?;
    let max_k = *dims.iter().max().expect("non-empty");
    let d = p.ambient_or(100, max_k + 1);
    check_fits(max_k, d)?;
    let m = dims.len();
    if p.n < m {
        return Err(Error::param(
            "n",
            format!("need at least one point per sphere: n ≥ {m}, got {}", p.n),
        ));
    }

    let embeddings: Vec<Isometry> = (0..m)
        .map(|j| {
            let mut rng = layout_rng(p.seed, j as u64);
            let frame = Isometry::random(&mut rng, d, dims[j] + 1);
            let centre = random_direction(&mut rng, d)
                .into_iter()
                .map(|u| offset * u)
                .collect();
            frame.centred(centre)
        })
        .collect();
    // block j holds rows starts[j]..starts[j+1]
    let mut starts = vec![0];
    for j in 0..m {
        starts.push(starts[j] + p.n / m + usize::from(j < p.n % m));
    }
    let sphere_of = |i: usize| starts.partition_point(|&s| s <= i) - 1;
    if p.check_only {
        return Ok(Sample::checked());
    }
    let values = fill_rows(p.n, d, p.seed, |i, rng, row| {
        let j = sphere_of(i);
        embeddings[j].apply(&uniform_on_sphere(rng, dims[j], radii[j]), row);
    });
    let ids = (0..p.n).map(|i| dims[sphere_of(i)]).collect();
    let blocks: Vec<Value> = (0..m)
        .map(|j| {
            json!({ "dim": dims[j], "radius": radii[j], "rows": [starts[j], starts[j + 1]],
                         "centre_norm": offset })
        })
        .collect();
    Ok(Sample {
        values,
        ambient: d,
        true_id: TrueId::PerPoint(ids),
        params: json!({ "dims": dims, "radii": radii, "offset": offset, "ambient": d }),
        details: json!({ "spheres": blocks }),
        description: format!(
            "union of spheres of dimensions {dims:?} and radii {radii:?}, each embedded in ℝ^{d} by its own random isometry"
        ),
        own_noise: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sphere_points_have_the_radius_and_rank_k_plus_one() {
        let p = Params {
            n: 200,
            dim: Some(3),
            ambient: Some(9),
            radius: Some(2.5),
            ..Params::default()
        };
        let s = sphere(&p).unwrap();
        for row in s.values.chunks(9) {
            let norm = row.iter().map(|x| x * x).sum::<f64>().sqrt();
            assert!((norm - 2.5).abs() < 1e-12, "norm {norm}");
        }
        let data = crate::data::Dataset::from_row_major(s.values, 200, 9).unwrap();
        let sv = crate::linalg::singular_values(data.as_mat()).unwrap();
        assert!(sv[3] > 1e-3 * sv[0] && sv[4] < 1e-10 * sv[0], "{sv:?}");
    }

    #[test]
    fn spheres_split_points_into_blocks() {
        let p = Params {
            n: 7,
            ambient: Some(6),
            dims: Some(vec![1, 2, 4]),
            radii: Some(vec![1.0, 2.0, 3.0]),
            offset: Some(5.0),
            ..Params::default()
        };
        let s = spheres(&p).unwrap();
        assert_eq!(s.true_id, TrueId::PerPoint(vec![1, 1, 1, 2, 2, 4, 4]));
        assert_eq!(s.details["spheres"][1]["rows"], json!([3, 5]));
    }

    #[test]
    fn rejects_spheres_that_do_not_fit() {
        let p = Params {
            dim: Some(5),
            ambient: Some(5),
            ..Params::default()
        };
        let err = sphere(&p).err().unwrap().to_string();
        assert!(err.contains("ambient") && err.contains("≥ 6"), "{err}");
        let p = Params {
            dims: Some(vec![2, 3]),
            radii: Some(vec![1.0]),
            ..Params::default()
        };
        assert!(spheres(&p).err().unwrap().to_string().contains("radii"));
        let p = Params {
            n: 1,
            dims: Some(vec![2, 3]),
            ..Params::default()
        };
        assert!(spheres(&p)
            .err()
            .unwrap()
            .to_string()
            .contains("one point per sphere"));
        let p = Params {
            radius: Some(-1.0),
            ..Params::default()
        };
        assert!(sphere(&p).err().unwrap().to_string().contains("radius"));
    }
}
