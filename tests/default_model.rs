//! The shipped demo: the default-recipe model for `datasets/sphere4_r16.csv` (a 4-sphere in ℝ¹⁶)
//! is found by content hash, and every estimator reads the intrinsic dimension 4 from it.

use scoregeo::data::Dataset;
use scoregeo::id::classic::{LocalPca, Mle, TwoNn};
use scoregeo::id::{Flipd, IdEstimate, JacobianSpectrum, NormalBundle, PointSelection};
use scoregeo::train::{default_model, CacheOptions, DefaultModel, Provenance};
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn sphere4() -> Dataset {
    Dataset::read(Path::new(ROOT).join("datasets/sphere4_r16.csv")).unwrap()
}

fn assert_near_4(e: &IdEstimate) {
    assert!(
        (e.global_id() - 4.0).abs() <= 0.75,
        "{}: global ID {} (median {})",
        e.method(),
        e.global_id(),
        e.median_local_id()
    );
}

#[test]
fn every_estimator_reads_4_on_the_shipped_sphere() {
    let data = sphere4();
    let cache = tempfile::tempdir().unwrap();
    let options = CacheOptions {
        // an empty cache: the model must come from datasets/models, never be trained here
        dir: Some(cache.path().to_path_buf()),
        shipped: vec![Path::new(ROOT).join("datasets/models")],
        ..CacheOptions::default()
    };
    let DefaultModel {
        model,
        path,
        provenance,
    } = default_model(&data, &options).unwrap();
    assert_eq!(provenance, Provenance::Shipped, "{}", path.display());
    assert!(path.ends_with(format!("{}.safetensors", data.content_hash())));

    let points = PointSelection::Count(100);
    let nb = NormalBundle::params()
        .points(points)
        .seed(1)
        .check()
        .unwrap();
    assert_near_4(&nb.fit(&model, &data).unwrap());
    let jac = JacobianSpectrum::params()
        .points(points)
        .seed(1)
        .check()
        .unwrap();
    assert_near_4(&jac.fit(&model, &data).unwrap());
    let flipd = Flipd::params().points(points).seed(1).check().unwrap();
    assert_near_4(&flipd.fit(&model, &data).unwrap());

    assert_near_4(&Mle::params().check().unwrap().fit(&data).unwrap());
    assert_near_4(&TwoNn::params().check().unwrap().fit(&data).unwrap());
    assert_near_4(&LocalPca::params().check().unwrap().fit(&data).unwrap());
}
