//! Entry points of the fuzz targets in `fuzz/` and of the test that replays their corpora
//! (`tests/fuzz_corpora.rs`); not part of the API. Each takes the bytes of one file, runs the
//! reader a user would run on it and then uses what was read, so a panic anywhere on the way is
//! found. None panics on any input: each returns the reader's error instead.

use crate::data::Dataset;
use crate::error::{Error, Result};
use candle_core::Device;
use faer::Mat;
use std::path::Path;

/// The largest D at which a loaded model or flow is also evaluated (larger ones are only loaded).
const MAX_EVAL_DIM: usize = 1024;

/// A CSV file.
pub fn csv(bytes: &[u8]) -> Result<Dataset> {
    crate::data::parse_csv_bytes(Path::new("fuzz.csv"), bytes)
}

/// A `.npy` file.
pub fn npy(bytes: &[u8]) -> Result<Dataset> {
    crate::data::parse_npy(Path::new("fuzz.npy"), bytes)
}

/// A zip archive as `torch.save` writes it: the directory, then every entry read and checked.
pub fn zip(bytes: &[u8]) -> Result<usize> {
    crate::score::pytorch::read_every_entry(bytes)
}

/// A pickle program run by the interpreter alone; returns the length of its description.
pub fn pickle(bytes: &[u8]) -> std::result::Result<usize, String> {
    crate::score::pytorch::describe_pickle_program(bytes)
}

/// A pickle program as the `data.pkl` of a PyTorch checkpoint whose storages exist: tensor
/// search, layout detection, settings, tensor reads, the model and one score evaluation.
pub fn pytorch(bytes: &[u8]) -> Result<usize> {
    let models = crate::score::pytorch::load_pickle_program(bytes)?;
    for model in &models {
        evaluate(model.as_ref())?;
    }
    Ok(models.len())
}

/// A native model: safetensors bytes, optionally followed by [`SIDECAR`] and the JSON config
/// that goes beside the file; loaded as `--model` loads it and evaluated once.
pub fn native_model(bytes: &[u8]) -> Result<usize> {
    let (model, sidecar) = split_sidecar(bytes);
    let dir = scratch()?;
    let path = dir.path().join("m.safetensors");
    write(&path, model)?;
    if let Some(json) = sidecar {
        write(&path.with_extension("json"), json)?;
    }
    let _ = crate::score::pytorch::describe_native(&path);
    let model = crate::score::Loader::new(&path)
        .device(Device::Cpu)
        .load()?;
    evaluate(model.as_ref())
}

/// Separates a native model's safetensors bytes from the JSON config given beside them.
pub const SIDECAR: &[u8] = b"\n--sidecar json--\n";

fn split_sidecar(bytes: &[u8]) -> (&[u8], Option<&[u8]>) {
    match bytes.windows(SIDECAR.len()).position(|w| w == SIDECAR) {
        Some(at) => (&bytes[..at], Some(&bytes[at + SIDECAR.len()..])),
        None => (bytes, None),
    }
}

/// The data the training-checkpoint seeds were trained on: 24 points (x, x²) of a parabola in
/// ℝ² with x = (i − 12)/8, exact in binary so that its CSV (`fuzz/make_seeds.sh`) hashes the same.
pub fn checkpoint_data() -> Dataset {
    let rows: Vec<Vec<f64>> = (0..24)
        .map(|i| {
            let x = (i as f64 - 12.0) / 8.0;
            vec![x, x * x]
        })
        .collect();
    Dataset::from_rows(&rows).expect("finite points")
}

/// A training checkpoint: its state read alone, the whole file read, loaded as a model, and
/// resumed on [`checkpoint_data`].
pub fn train_checkpoint(bytes: &[u8]) -> Result<usize> {
    let dir = scratch()?;
    let path = dir.path().join("ckpt.safetensors");
    write(&path, bytes)?;
    let (_, state) = crate::train::read_state(&path)?;
    let model = crate::score::mlp::MlpScoreNet::load(&path, &Device::Cpu)?;
    evaluate(&model)?;
    match state {
        Some(_) => {
            let session = crate::train::Session::resume(&path, &checkpoint_data())?;
            Ok(session.step() as usize)
        }
        None => Ok(0),
    }
}

/// A flow file: loaded, then φ and φ⁻¹ evaluated once.
pub fn flow(bytes: &[u8]) -> Result<usize> {
    use crate::geometry::Diffeomorphism;
    let dir = scratch()?;
    let path = dir.path().join("flow.safetensors");
    write(&path, bytes)?;
    let flow = crate::geometry::AnisotropicFlow::load(&path)?;
    let d = flow.dim();
    if d <= MAX_EVAL_DIM {
        let x = Mat::<f64>::zeros(2, d);
        let z = flow.forward(x.as_ref())?;
        flow.inverse(z.as_ref())?;
        flow.variances()?;
    }
    Ok(d)
}

/// A dataset manifest: read, and its true ID summarised for its points.
pub fn manifest(bytes: &[u8]) -> Result<usize> {
    let dir = scratch()?;
    let path = dir.path().join("d.csv.manifest.json");
    write(&path, bytes)?;
    let m = crate::data::synthetic::Manifest::read(&path)?;
    let _ = m.true_id.to_string();
    Ok(m.true_id.counts(m.n).len())
}

/// A zip archive of stored entries as `torch.save` lays them out, for harnesses and tests.
pub fn stored_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    crate::score::pytorch::stored_archive(entries)
}

/// Scores of two points at the origin at t = 0.5 (models of D ≤ 1024 only).
fn evaluate(model: &dyn crate::ScoreModel) -> Result<usize> {
    let d = model.dim();
    if d <= MAX_EVAL_DIM {
        model.score(Mat::<f64>::zeros(2, d).as_ref(), 0.5)?;
    }
    Ok(d)
}

fn scratch() -> Result<tempfile::TempDir> {
    tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}
