//! Files: atomic writes, and what kind of model a file holds.
//!
//! Every output goes through [`write_atomic`] (a temporary file beside the target, then a rename),
//! so a failed run never leaves half a file. [`ModelFile::sniff`] tells the model files apart once,
//! for every loader: PyTorch checkpoints by extension or zip signature, scoregeo's safetensors
//! files by the config they carry in their metadata ([`keys`]).

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Metadata keys of scoregeo's safetensors files: each names the JSON config stored under it.
pub mod keys {
    /// The [`MlpConfig`](crate::score::mlp::MlpConfig) of a native score network.
    pub const MLP_CONFIG: &str = "scoregeo_config";
    /// The [`SkipMlpConfig`](crate::score::pytorch::SkipMlpConfig) of a converted skip MLP.
    pub const SKIP_MLP_CONFIG: &str = "scoregeo_skip_mlp_config";
    /// The [`FlowConfig`](crate::geometry::FlowConfig) of an anisotropic flow.
    pub const FLOW_CONFIG: &str = "scoregeo_flow_config";
    /// The [`TrainState`](crate::train::TrainState) of a training checkpoint.
    pub const TRAIN_STATE: &str = "scoregeo_train";
}

/// What a model file holds, as far as its name and header tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelFile {
    /// A PyTorch checkpoint (`.pt`, `.pth`, `.ckpt`, `.bin`, or a zip archive).
    PyTorch,
    /// A native score network ([`MlpScoreNet`](crate::score::mlp::MlpScoreNet)); also what any
    /// other file is taken for, so that its loader reports what is wrong with it.
    Mlp,
    /// A converted skip-connection MLP ([`SkipMlpScoreNet`](crate::score::pytorch::SkipMlpScoreNet)).
    SkipMlp,
    /// An anisotropic flow ([`AnisotropicFlow`](crate::geometry::AnisotropicFlow)).
    Flow,
}

impl ModelFile {
    /// Reads enough of `path` to say what it holds; fails only when the file cannot be read.
    pub fn sniff(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if is_pytorch_checkpoint(path) {
            return Ok(ModelFile::PyTorch);
        }
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let meta = safetensors::SafeTensors::read_metadata(&bytes)
            .ok()
            .and_then(|(_, m)| m.metadata().clone())
            .unwrap_or_default();
        Ok(if meta.contains_key(keys::FLOW_CONFIG) {
            ModelFile::Flow
        } else if meta.contains_key(keys::SKIP_MLP_CONFIG) {
            ModelFile::SkipMlp
        } else {
            ModelFile::Mlp
        })
    }
}

/// Whether `path` names a PyTorch checkpoint (by extension, else by the zip signature).
pub fn is_pytorch_checkpoint(path: impl AsRef<Path>) -> bool {
    let path = path.as_ref();
    let by_name = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["pt", "pth", "ckpt", "bin"].contains(&e.to_ascii_lowercase().as_str()));
    by_name
        || std::fs::File::open(path).is_ok_and(|mut f| {
            let mut magic = [0u8; 4];
            std::io::Read::read_exact(&mut f, &mut magic).is_ok() && &magic == b"PK\x03\x04"
        })
}

/// Temporary files and directories of outputs being written, by registration number: what
/// [`exit_abandoning_partial_outputs`] removes when the process is interrupted.
static PARTIAL: Mutex<Vec<(u64, PathBuf)>> = Mutex::new(Vec::new());
static NEXT_PARTIAL: AtomicU64 = AtomicU64::new(0);

fn partial_outputs() -> MutexGuard<'static, Vec<(u64, PathBuf)>> {
    // the list stays valid whatever a panicking holder was doing
    PARTIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A temporary file or directory registered as part of an output being written; dropping the
/// guard forgets it (the temporary itself is removed or renamed by its owner).
pub(crate) struct PartialOutput(u64);

impl PartialOutput {
    /// Registers `path` for removal should the process be interrupted before it is done.
    pub(crate) fn register(path: &Path) -> Self {
        let id = NEXT_PARTIAL.fetch_add(1, Ordering::Relaxed);
        partial_outputs().push((id, path.to_path_buf()));
        Self(id)
    }

    fn forget_in(&self, list: &mut Vec<(u64, PathBuf)>) {
        list.retain(|(id, _)| *id != self.0);
    }
}

impl Drop for PartialOutput {
    fn drop(&mut self) {
        self.forget_in(&mut partial_outputs());
    }
}

/// Removes the temporary files of every output still being written and exits with `code`,
/// letting no rename happen after: every output is then complete (renamed before) or absent.
/// For signal handlers (the CLI calls it on SIGINT, SIGTERM and SIGHUP).
pub fn exit_abandoning_partial_outputs(code: i32) -> ! {
    let list = partial_outputs();
    for (_, path) in list.iter() {
        if path.is_dir() {
            let _ = std::fs::remove_dir_all(path);
        } else {
            let _ = std::fs::remove_file(path);
        }
    }
    // exit holding the lock, so that no atomic write completes a rename meanwhile
    std::process::exit(code)
}

/// Writes `path` atomically: the bytes go to a temporary file beside it, which is then renamed.
/// The temporary file is removed on failure and by [`exit_abandoning_partial_outputs`].
pub fn write_atomic(
    path: impl AsRef<Path>,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let path = path.as_ref();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".scoregeo-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io(path, e))?;
    let partial = PartialOutput::register(tmp.path());
    {
        let mut buf = std::io::BufWriter::new(tmp.as_file_mut());
        write(&mut buf).map_err(|e| Error::io(path, e))?;
        buf.flush().map_err(|e| Error::io(path, e))?;
    }
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    #[cfg(unix)]
    {
        // temporary files are private (0600); outputs get the usual rw-r--r--
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|e| Error::io(path, e))?;
    }
    // rename under the lock: an interruption finds the output renamed or its temporary listed
    let mut list = partial_outputs();
    let persisted = tmp.persist(path).map_err(|e| Error::io(path, e.error));
    partial.forget_in(&mut list);
    persisted.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_leaves_no_file_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let err = write_atomic(&path, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("boom"))
        });
        assert!(err.is_err());
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        write_atomic(&path, |w| w.write_all(b"ok")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644);
        }
    }

    #[test]
    fn sniffs_by_extension_signature_and_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let zip = dir.path().join("model.weights");
        std::fs::write(&zip, b"PK\x03\x04rest").unwrap();
        assert_eq!(ModelFile::sniff(&zip).unwrap(), ModelFile::PyTorch);
        assert!(is_pytorch_checkpoint(dir.path().join("absent.PTH")));
        assert!(!is_pytorch_checkpoint(
            dir.path().join("absent.safetensors")
        ));
        std::fs::write(&zip, b"\x10\x00\x00\x00\x00\x00\x00\x00{}").unwrap();
        assert!(!is_pytorch_checkpoint(&zip));
        let flow = dir.path().join("flow.safetensors");
        let meta = std::collections::HashMap::from([(keys::FLOW_CONFIG.to_string(), "{}".into())]);
        let no_tensors: Vec<(String, safetensors::tensor::TensorView)> = Vec::new();
        std::fs::write(
            &flow,
            safetensors::serialize(no_tensors, Some(meta)).unwrap(),
        )
        .unwrap();
        assert_eq!(ModelFile::sniff(&flow).unwrap(), ModelFile::Flow);
        let junk = dir.path().join("junk.safetensors");
        std::fs::write(&junk, b"not a model").unwrap();
        assert_eq!(ModelFile::sniff(&junk).unwrap(), ModelFile::Mlp);
        let missing = ModelFile::sniff(dir.path().join("missing.safetensors")).unwrap_err();
        assert!(matches!(missing, Error::Io { .. }), "{missing}");
    }
}
