//! The synthetic generators through the public API: shapes and manifests of every kind, geometry
//! against closed-form oracles, seeding, sidecar files and parameter checks.

use scoregeo::data::synthetic::{
    generate, manifest_path, Kind, Latent, Manifest, Params, ShearedGaussian, TrueId,
};
use scoregeo::data::Dataset;
use scoregeo::Error;

fn params(n: usize) -> Params {
    Params::default().n(n)
}

fn norm(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// Singular values of the mean-centred data (faer SVD), descending.
fn centred_spectrum(data: &Dataset) -> Vec<f64> {
    let (n, d) = (data.len(), data.dim());
    let mean: Vec<f64> = (0..d)
        .map(|j| data.rows().map(|r| r[j]).sum::<f64>() / n as f64)
        .collect();
    let centred = faer::Mat::from_fn(n, d, |i, j| data.row(i)[j] - mean[j]);
    centred.singular_values().unwrap()
}

/// Small settings for which every kind is quick.
fn small(kind: Kind) -> Params {
    let mut p = params(60);
    match kind {
        Kind::Squares | Kind::Blobs => {
            p = p.dim(3);
            p = p.image_size(10);
        }
        Kind::Banana | Kind::River => {
            p = p.burn_in(100);
            p = p.thin(2);
        }
        _ => {}
    }
    p
}

#[test]
fn every_kind_yields_consistent_data_and_manifest() {
    for kind in Kind::ALL {
        let p = small(kind);
        let (data, manifest) = generate(kind, &p).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(data.len(), 60, "{kind}");
        assert_eq!(manifest.generator, kind);
        assert_eq!(
            (manifest.n, manifest.ambient_dim, manifest.seed),
            (60, data.dim(), 0)
        );
        assert!(
            manifest.params.is_object() && !manifest.description.is_empty(),
            "{kind}"
        );
        match &manifest.true_id {
            TrueId::Global(k) => assert!(
                *k >= 1 && *k < data.dim().max(2) + 1,
                "{kind}: ID {k} in ℝ^{}",
                data.dim()
            ),
            TrueId::PerPoint(ids) => assert_eq!(ids.len(), 60, "{kind}"),
        }
    }
}

#[test]
fn same_seed_gives_identical_bytes_and_other_seeds_differ() {
    let dir = tempfile::tempdir().unwrap();
    for kind in Kind::ALL {
        let p = small(kind);
        let (a, _) = generate(kind, &p).unwrap();
        let (b, _) = generate(kind, &p).unwrap();
        let (c, _) = generate(kind, &p.clone().seed(1)).unwrap();
        assert_ne!(a, c, "{kind}: seeds 0 and 1 agree");
        for ext in ["csv", "npy"] {
            let (pa, pb) = (
                dir.path().join(format!("a.{ext}")),
                dir.path().join(format!("b.{ext}")),
            );
            a.write(&pa).unwrap();
            b.write(&pb).unwrap();
            assert_eq!(
                std::fs::read(&pa).unwrap(),
                std::fs::read(&pb).unwrap(),
                "{kind} .{ext}"
            );
        }
    }
}

#[test]
fn sphere_points_have_norm_radius() {
    let p = params(300).dim(10).ambient(100).radius(3.0);
    let (data, manifest) = generate(Kind::Sphere, &p).unwrap();
    assert_eq!(data.dim(), 100);
    assert_eq!(manifest.true_id, TrueId::Global(10));
    assert!(data.rows().all(|x| (norm(x) - 3.0).abs() < 1e-12));
    // the sphere spans k + 1 = 11 directions of ℝ^100
    let sv = data.as_mat().singular_values().unwrap();
    assert!(
        sv[10] > 1e-2 * sv[0] && sv[11] < 1e-10 * sv[0],
        "{:?}",
        &sv[..13]
    );
}

#[test]
fn noise_moves_points_off_the_sphere_by_its_scale() {
    let p = params(400).dim(2).ambient(50).noise(0.01);
    let (data, manifest) = generate(Kind::Sphere, &p).unwrap();
    assert_eq!(manifest.params["noise"], 0.01);
    // ‖x‖² = 1 + 2⟨y, ε⟩ + ‖ε‖² ≈ 1 + 50σ²: the mean norm moves by ≈ 25σ² = 0.0025
    let mean_norm = data.rows().map(norm).sum::<f64>() / 400.0;
    assert!((mean_norm - 1.0025).abs() < 0.001, "{mean_norm}");
}

#[test]
fn union_of_spheres_has_per_point_ids_and_radii() {
    let (data, manifest) = generate(Kind::Spheres, &params(1001)).unwrap();
    assert_eq!(data.dim(), 100);
    assert_eq!(manifest.true_id.counts(1001), vec![(10, 501), (30, 500)]);
    for (i, x) in data.rows().enumerate() {
        let radius = if manifest.true_id.at(i) == 10 {
            1.0
        } else {
            0.25
        };
        assert!((norm(x) - radius).abs() < 1e-12);
    }
    // each sphere spans k + 1 directions; together 11 + 31
    let small = data.select(&(0..501).collect::<Vec<_>>());
    let sv = small.as_mat().singular_values().unwrap();
    assert!(sv[10] > 1e-2 * sv[0] && sv[11] < 1e-10 * sv[0]);
    let sv = data.as_mat().singular_values().unwrap();
    assert!(sv[41] > 1e-4 * sv[0] && sv[42] < 1e-10 * sv[0]);
}

#[test]
fn affine_data_have_rank_k() {
    for latent in [Latent::Uniform, Latent::Gaussian] {
        let p = params(200).dim(4).ambient(12).latent(latent);
        let (data, manifest) = generate(Kind::Affine, &p).unwrap();
        assert_eq!(manifest.true_id, TrueId::Global(4));
        let sv = centred_spectrum(&data);
        let rank = sv.iter().filter(|&&s| s > 1e-10 * sv[0]).count();
        assert_eq!(rank, 4, "{latent:?}: {sv:?}");
    }
}

#[test]
fn spaghetti_coordinates_are_sin_of_multiples() {
    let (data, manifest) = generate(Kind::Spaghetti, &params(100).ambient(100)).unwrap();
    assert_eq!(manifest.true_id, TrueId::Global(1));
    for row in data.rows() {
        let x = row[0].asin(); // x ∈ (0, 1), where sin is invertible
        assert!(x > 0.0 && x < 1.0);
        for (i, v) in row.iter().enumerate() {
            assert!(
                (v - ((i + 1) as f64 * x).sin()).abs() < 1e-12,
                "coordinate {i}"
            );
        }
    }
}

#[test]
fn lollipop_ids_match_the_pieces() {
    let (data, manifest) = generate(Kind::Lollipop, &params(500)).unwrap();
    assert_eq!(
        manifest.true_id.counts(500),
        vec![(0, 5), (1, 25), (2, 470)]
    );
    for (i, x) in data.rows().enumerate() {
        match manifest.true_id.at(i) {
            2 => assert!((x[0] - 2.0).hypot(x[1] - 2.0) <= 1.0),
            1 => assert_eq!(x[0], x[1]),
            _ => assert_eq!(x, &[-0.5, -0.5]),
        }
    }
    // embedded in ℝ^5 the distances are unchanged
    let (wide, _) = generate(Kind::Lollipop, &params(500).ambient(5)).unwrap();
    let d2 = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(u, v)| (u - v) * (u - v)).sum::<f64>();
    assert!((d2(data.row(3), data.row(490)) - d2(wide.row(3), wide.row(490))).abs() < 1e-12);
}

#[test]
fn hemisphere_and_sinusoid_follow_the_pullback_paper() {
    let (data, manifest) = generate(Kind::Hemisphere, &params(200).dim(5).ambient(20)).unwrap();
    assert_eq!(manifest.true_id, TrueId::Global(5));
    assert!(data.rows().all(|x| (norm(x) - 1.0).abs() < 1e-12));
    let (data, manifest) = generate(Kind::Sinusoid, &params(200).dim(2).ambient(10)).unwrap();
    assert_eq!(manifest.true_id, TrueId::Global(2));
    // off-manifold coordinates are sines plus noise of variance 10⁻³
    assert!(data
        .rows()
        .all(|x| x[..8].iter().all(|v| v.abs() < 1.0 + 6.0 * 1e-3f64.sqrt())));
}

#[test]
fn squares_have_pixel_range_and_rank_k() {
    let p = params(60).dim(10);
    let (data, manifest) = generate(Kind::Squares, &p).unwrap();
    assert_eq!(data.dim(), 1024);
    assert_eq!(manifest.true_id, TrueId::Global(10));
    assert!(data.as_slice().iter().all(|&v| (0.0..=10.0).contains(&v)));
    // images are Σ cⱼ·squareⱼ: a linear image of [0,1]^10, so rank exactly 10
    let sv = data.as_mat().singular_values().unwrap();
    assert!(
        sv[9] > 1e-3 * sv[0] && sv[10] < 1e-10 * sv[0],
        "{:?}",
        &sv[..12]
    );
    // another seed moves the squares, not only their brightness
    let (other, other_manifest) = generate(Kind::Squares, &p.seed(3)).unwrap();
    assert_ne!(
        manifest.details["squares_row_col_side"],
        other_manifest.details["squares_row_col_side"]
    );
    assert_ne!(data, other);
}

#[test]
fn blobs_are_rescaled_to_unit_range() {
    let (data, manifest) = generate(Kind::Blobs, &params(30).dim(10)).unwrap();
    assert_eq!((data.dim(), manifest.true_id.global()), (1024, Some(10)));
    for img in data.rows() {
        let lo = img.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = img.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert!(lo == 0.0 && (hi - 1.0).abs() < 1e-15);
    }
    let (other, _) = generate(Kind::Blobs, &params(30).dim(10).seed(8)).unwrap();
    assert_ne!(data, other);
}

/// Oracle: φ(x) ~ N(0, A) exactly when x ~ p, so the sample mean and variances of φ must match.
fn check_mala_moments(kind: Kind, target: ShearedGaussian) {
    let n = 4000;
    let (data, manifest) = generate(kind, &params(n)).unwrap();
    assert_eq!(manifest.true_id, TrueId::Global(2));
    let acceptance = manifest.details["acceptance_rate"].as_f64().unwrap();
    assert!(
        (0.4..0.75).contains(&acceptance),
        "{kind}: acceptance {acceptance}"
    );
    let phis: Vec<[f64; 2]> = data.rows().map(|x| target.phi([x[0], x[1]])).collect();
    let a = target.variances();
    for j in 0..2 {
        let mean = phis.iter().map(|y| y[j]).sum::<f64>() / n as f64;
        let var = phis.iter().map(|y| (y[j] - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        // tolerances ≈ 5 standard errors for an effective sample size of n/4
        assert!(
            mean.abs() < 5.0 * (a[j] / (n as f64 / 4.0)).sqrt(),
            "{kind}: mean of φ{} = {mean}",
            j + 1
        );
        assert!(
            (var / a[j] - 1.0).abs() < 0.15,
            "{kind}: var of φ{} = {var}, expected {}",
            j + 1,
            a[j]
        );
    }
    let cov = phis.iter().map(|y| y[0] * y[1]).sum::<f64>() / n as f64;
    assert!(
        cov.abs() / (a[0] * a[1]).sqrt() < 0.1,
        "{kind}: correlation of φ1, φ2 = {cov}"
    );
}

#[test]
fn banana_mala_moments_match_the_gaussian() {
    check_mala_moments(Kind::Banana, ShearedGaussian::BANANA);
}

#[test]
fn river_mala_moments_match_the_gaussian() {
    check_mala_moments(Kind::River, ShearedGaussian::RIVER);
}

/// Equal JSON up to a relative 10⁻¹⁵ in numbers.
fn json_close(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value::*;
    match (a, b) {
        (Number(x), Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 1e-15 * x.abs().max(y.abs())
        }
        (Array(x), Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(u, v)| json_close(u, v))
        }
        (Object(x), Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, u)| y.get(k).is_some_and(|v| json_close(u, v)))
        }
        _ => a == b,
    }
}

#[test]
fn manifest_round_trips_through_its_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let data_path = dir.path().join("lolli.csv");
    let (data, manifest) = generate(Kind::Lollipop, &params(40)).unwrap();
    data.write(&data_path).unwrap();
    let sidecar = manifest_path(&data_path);
    assert_eq!(sidecar.file_name().unwrap(), "lolli.csv.manifest.json");
    manifest.write(&sidecar).unwrap();
    let back = Manifest::read(&sidecar).unwrap();
    assert_eq!(
        (back.generator, back.n, back.seed, &back.true_id),
        (Kind::Lollipop, 40, 0, &manifest.true_id)
    );
    assert_eq!(back.description, manifest.description);
    // serde_json parses floats to within an ulp unless its `float_roundtrip` feature is on
    assert!(
        json_close(&back.params, &manifest.params) && json_close(&back.details, &manifest.details)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sidecar).unwrap()).unwrap();
    assert_eq!(json["generator"], "lollipop");
    assert_eq!(json["true_id"].as_array().unwrap().len(), 40);
    std::fs::write(&sidecar, "{ not json").unwrap();
    let err = Manifest::read(&sidecar).unwrap_err().to_string();
    assert!(err.contains("lolli.csv.manifest.json"), "{err}");
}

#[test]
fn bad_parameters_are_rejected_by_name() {
    let cases: Vec<(Kind, Params, &str)> = vec![
        (Kind::Sphere, params(5).dim(10).ambient(10), "ambient"),
        (Kind::Sphere, params(5).n(0), "`n`"),
        (Kind::Sphere, params(5).noise(-0.1), "noise"),
        (Kind::Sphere, params(5).noise(f64::NAN), "noise"),
        (Kind::Spaghetti, params(5).radius(2.0), "radius"),
        (Kind::Spaghetti, params(5).dim(3), "dim"),
        (Kind::Spheres, params(5).dim(3), "dim"),
        (Kind::Spheres, params(5).dims(vec![]), "dims"),
        (
            Kind::Spheres,
            params(5).dims(vec![1, 2]).radii(vec![1.0, 0.0]),
            "radii",
        ),
        (Kind::Affine, params(5).dim(0), "dim"),
        (Kind::Affine, params(5).dim(11).ambient(10), "dim"),
        (Kind::SwissRoll, params(5).dim(3), "dim"),
        (Kind::Sinusoid, params(5).dim(5).ambient(5), "dim"),
        (Kind::Hemisphere, params(5).dim(5).ambient(5), "ambient"),
        (Kind::Banana, params(5).ambient(3), "ambient"),
        (Kind::River, params(5).thin(0), "thin"),
        (Kind::Squares, params(5).image_size(6), "image-size"),
        (Kind::Squares, params(5).ambient(1000), "ambient"),
        (Kind::Blobs, params(5).dim(17).image_size(4), "dim"),
        (Kind::Lollipop, params(5).dim(2), "dim"),
    ];
    for (kind, p, name) in cases {
        // the checked builder refuses before anything is drawn, as `generate` does
        let checked = p.clone().check(kind).map(|_| ());
        assert_eq!(
            checked.map_err(|e| e.to_string()),
            generate(kind, &p).map(|_| ()).map_err(|e| e.to_string()),
            "{kind} {p:?}"
        );
        match generate(kind, &p) {
            Err(e @ Error::InvalidParameter { .. }) => {
                assert!(e.to_string().contains(name), "{kind} {p:?}: {e}")
            }
            other => panic!("{kind} {p:?}: expected an invalid `{name}`, got {other:?}"),
        }
    }
}
