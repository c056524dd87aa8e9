//! An opened PyTorch checkpoint: its archive, its pickle, and every collection of named tensors.
//!
//! `torch.save` writes a zip archive `ROOT/data.pkl` (a pickle program describing the saved
//! object) plus one entry `ROOT/data/KEY` per tensor storage. This module finds, anywhere in the
//! saved object, the dicts that map names to tensors (bare state dicts, `model_state_dict`,
//! Lightning's `state_dict`, EMA dicts, whole pickled `nn.Module`s), the lists of tensors (EMA
//! shadow parameters), and the training hyper-parameters that name the SDE. Tensor bytes are read
//! only when asked for, after checking the declared shape against the stored size.

use super::pickle::{self, Node, NodeId, Pickle, StorageType, TensorRef, Value};
use super::zip::Archive;
use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// How deep the saved object is searched for tensors.
const MAX_DEPTH: usize = 24;

/// Named tensors found together in one dict (a state dict, or a pickled module's parameters).
#[derive(Clone, Debug)]
pub(crate) struct TensorGroup {
    /// Where the dict sits in the saved object, e.g. `model_state_dict` (empty at the top level).
    pub path: String,
    /// (key, tensor) in the order the checkpoint lists them.
    pub entries: Vec<(String, TensorRef)>,
}

/// A list of unnamed tensors (e.g. the `shadow_params` of an exponential moving average).
#[derive(Clone, Debug)]
pub(crate) struct TensorList {
    /// Where the list sits in the saved object.
    pub path: String,
    /// The tensors, in order.
    pub tensors: Vec<TensorRef>,
}

/// Training settings found in the checkpoint's hyper-parameters (Lightning `hyper_parameters`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HyperParameters {
    /// The SDE's name as the training code spells it (`vesde`, `vpsde`, …).
    pub sde: Option<String>,
    /// σ_min of a VE SDE.
    pub sigma_min: Option<f64>,
    /// σ_max of a VE SDE.
    pub sigma_max: Option<f64>,
    /// β_min of a VP SDE.
    pub beta_min: Option<f64>,
    /// β_max of a VP SDE.
    pub beta_max: Option<f64>,
    /// Number N of discretisation steps; continuous-time networks see t·(N − 1).
    pub num_scales: Option<i64>,
}

/// An opened checkpoint.
pub(crate) struct Checkpoint {
    path: PathBuf,
    archive: Archive,
    root_dir: String,
    top_level: String,
    groups: Vec<TensorGroup>,
    lists: Vec<TensorList>,
    hyper: HyperParameters,
}

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoint")
            .field("path", &self.path)
            .field("top_level", &self.top_level)
            .finish()
    }
}

fn format_err(path: &Path, message: String) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        message,
    }
}

impl Checkpoint {
    /// Opens a `torch.save` archive and indexes its tensors (no tensor data is read yet).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Self::from_archive(Archive::open(path)?, path)
    }

    /// Indexes an opened archive; `path` names it in messages.
    pub fn from_archive(mut archive: Archive, path: &Path) -> Result<Self> {
        let pkl = archive
            .entries()
            .iter()
            .find(|e| e.name.ends_with("/data.pkl") && e.name.matches('/').count() == 1)
            .cloned()
            .ok_or_else(|| {
                format_err(
                    path,
                    "a zip archive without ROOT/data.pkl: not written by torch.save".into(),
                )
            })?;
        let root_dir = pkl.name.trim_end_matches("data.pkl").to_string();
        if archive.entries().iter().any(|e| {
            e.name.starts_with(&format!("{root_dir}code/"))
                || e.name == format!("{root_dir}constants.pkl")
        }) {
            return Err(format_err(
                path,
                "a TorchScript archive (torch.jit.save); save the weights with torch.save(model.state_dict(), path)".into(),
            ));
        }
        if let Some(order) = archive.entry(&format!("{root_dir}byteorder")).cloned() {
            let text = archive.read(&order)?;
            if text.trim_ascii() != b"little" {
                return Err(format_err(
                    path,
                    format!(
                        "byte order `{}` is not supported",
                        String::from_utf8_lossy(&text)
                    ),
                ));
            }
        }
        let program = archive.read(&pkl)?;
        let pk =
            pickle::parse(&program).map_err(|e| format_err(path, format!("{}: {e}", pkl.name)))?;
        let mut walker = Walker {
            pk: &pk,
            groups: Vec::new(),
            lists: Vec::new(),
            seen: HashSet::new(),
        };
        walker.walk(pk.root, String::new(), 0);
        let (groups, lists) = (walker.groups, walker.lists);
        let hyper = hyper_parameters(&pk);
        Ok(Checkpoint {
            path: path.to_path_buf(),
            archive,
            root_dir,
            top_level: top_level(&pk),
            groups,
            lists,
            hyper,
        })
    }

    /// What the saved object is, e.g. `a dict with keys epoch, model_state_dict, loss`.
    pub fn top_level(&self) -> &str {
        &self.top_level
    }

    /// Every dict of named tensors.
    pub fn groups(&self) -> &[TensorGroup] {
        &self.groups
    }

    /// Every list of tensors.
    pub fn lists(&self) -> &[TensorList] {
        &self.lists
    }

    /// Training settings found in the hyper-parameters.
    pub fn hyper_parameters(&self) -> &HyperParameters {
        &self.hyper
    }

    /// Reads tensor `name` (described by `t`) as f32 on `device`, checking sizes before reading.
    pub fn read_tensor(&mut self, name: &str, t: &TensorRef, device: &Device) -> Result<Tensor> {
        let bad = |message: String| Error::Tensor {
            name: name.to_string(),
            message,
        };
        let (dtype, size) = match &t.dtype {
            StorageType::F32 => (DType::F32, 4),
            StorageType::F64 => (DType::F64, 8),
            StorageType::F16 => (DType::F16, 2),
            StorageType::Bf16 => (DType::BF16, 2),
            other => {
                return Err(bad(format!(
                    "dtype {} is not a floating-point weight",
                    other.name()
                )))
            }
        };
        let entry_name = format!("{}data/{}", self.root_dir, t.storage_key);
        let entry = self.archive.entry(&entry_name).cloned().ok_or_else(|| {
            bad(format!(
                "its storage `{entry_name}` is missing from {}",
                self.path.display()
            ))
        })?;
        let declared = t.storage_numel.checked_mul(size as u64);
        if declared != Some(entry.size) {
            return Err(bad(format!(
                "storage `{entry_name}` holds {} bytes, the pickle declares {} elements of {size} bytes",
                entry.size, t.storage_numel
            )));
        }
        let numel = t
            .numel()
            .ok_or_else(|| bad(format!("shape {:?} has more than 2^64 elements", t.shape)))?;
        // the last element the view touches must lie inside the storage
        let last = t
            .shape
            .iter()
            .zip(&t.stride)
            .try_fold(t.offset, |acc, (&d, &s)| {
                if d == 0 {
                    Some(acc)
                } else {
                    (d as u64 - 1)
                        .checked_mul(s as u64)
                        .and_then(|x| acc.checked_add(x))
                }
            });
        if numel > 0 && last.is_none_or(|l| l >= t.storage_numel) {
            return Err(bad(format!(
                "shape {:?} with stride {:?} at offset {} reaches past its storage of {} elements",
                t.shape, t.stride, t.offset, t.storage_numel
            )));
        }
        if numel > t.storage_numel.max(1) {
            return Err(bad(format!(
                "a view of {numel} elements over a storage of {} is not supported",
                t.storage_numel
            )));
        }
        let bytes = self.archive.read(&entry)?;
        let mut out = Vec::with_capacity(numel as usize * size);
        let mut index = vec![0usize; t.shape.len()];
        for _ in 0..numel {
            let at = t.offset as usize
                + index
                    .iter()
                    .zip(&t.stride)
                    .map(|(i, s)| i * s)
                    .sum::<usize>();
            out.extend_from_slice(&bytes[at * size..(at + 1) * size]);
            for k in (0..index.len()).rev() {
                index[k] += 1;
                if index[k] < t.shape[k] {
                    break;
                }
                index[k] = 0;
            }
        }
        let tensor =
            Tensor::from_raw_buffer(&out, dtype, &t.shape, &Device::Cpu)?.to_dtype(DType::F32)?;
        let values: Vec<f32> = tensor.flatten_all()?.to_vec1()?;
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(bad(format!(
                "element {i} is {} (the checkpoint holds non-finite weights)",
                values[i]
            )));
        }
        Ok(tensor.to_device(device)?)
    }
}

fn top_level(pk: &Pickle) -> String {
    match pk.dict(pk.root) {
        Some(entries) => {
            let keys: Vec<String> = entries
                .iter()
                .take(12)
                .map(|(k, v)| {
                    format!(
                        "{} ({})",
                        pk.str(*k).map_or_else(|| pk.describe(*k), str::to_string),
                        pk.describe(*v)
                    )
                })
                .collect();
            let more = if entries.len() > 12 {
                format!(", … ({} keys)", entries.len())
            } else {
                String::new()
            };
            format!("a dict with keys {}{more}", keys.join(", "))
        }
        None => pk.describe(pk.root),
    }
}

fn join(path: &str, label: &str) -> String {
    if path.is_empty() {
        label.to_string()
    } else {
        format!("{path}/{label}")
    }
}

struct Walker<'a> {
    pk: &'a Pickle,
    groups: Vec<TensorGroup>,
    lists: Vec<TensorList>,
    seen: HashSet<NodeId>,
}

impl Walker<'_> {
    fn label(&self, key: Value) -> String {
        match key {
            Value::Int(i) => i.to_string(),
            _ => self
                .pk
                .str(key)
                .map_or_else(|| self.pk.describe(key), str::to_string),
        }
    }

    fn walk(&mut self, v: Value, path: String, depth: usize) {
        let Value::Node(id) = v else { return };
        if depth > MAX_DEPTH || !self.seen.insert(id) {
            return;
        }
        let pk = self.pk;
        match pk.node(v) {
            Some(Node::Dict(entries)) => {
                let named: Vec<(String, TensorRef)> = entries
                    .iter()
                    .filter_map(|(k, val)| {
                        Some((pk.str(*k)?.to_string(), pk.tensor(*val)?.clone()))
                    })
                    .collect();
                if !named.is_empty() {
                    self.groups.push(TensorGroup {
                        path: path.clone(),
                        entries: named,
                    });
                }
                for (k, val) in entries {
                    let label = self.label(*k);
                    // optimiser moments have the shapes of the weights but are not weights
                    if pk.tensor(*val).is_none()
                        && !label.to_ascii_lowercase().contains("optimizer")
                    {
                        self.walk(*val, join(&path, &label), depth + 1);
                    }
                }
            }
            Some(Node::List(items)) | Some(Node::Tuple(items)) => {
                let tensors: Vec<TensorRef> = items
                    .iter()
                    .filter_map(|x| pk.tensor(*x).cloned())
                    .collect();
                if !tensors.is_empty() && tensors.len() == items.len() {
                    self.lists.push(TensorList { path, tensors });
                } else {
                    for (i, x) in items.iter().enumerate() {
                        self.walk(*x, join(&path, &i.to_string()), depth + 1);
                    }
                }
            }
            Some(Node::Object { args, state, .. }) => {
                let mut named = Vec::new();
                if module_tensors(pk, v, "", &mut named, 0) {
                    if !named.is_empty() {
                        self.groups.push(TensorGroup {
                            path,
                            entries: named,
                        });
                    }
                    return;
                }
                let (args, state) = (*args, *state);
                self.walk(args, join(&path, "(args)"), depth + 1);
                if let Some(s) = state {
                    self.walk(s, path, depth + 1);
                }
            }
            _ => {}
        }
    }
}

/// The parameters and buffers of a whole pickled `nn.Module`, named as its state dict names them.
/// Returns false when `v` is not a module.
fn module_tensors(
    pk: &Pickle,
    v: Value,
    prefix: &str,
    out: &mut Vec<(String, TensorRef)>,
    depth: usize,
) -> bool {
    let Some(Node::Object {
        state: Some(state), ..
    }) = pk.node(v)
    else {
        return false;
    };
    let (Some(params), Some(modules)) = (pk.get(*state, "_parameters"), pk.get(*state, "_modules"))
    else {
        return false;
    };
    if depth > MAX_DEPTH {
        return true;
    }
    for field in [Some(params), pk.get(*state, "_buffers")]
        .into_iter()
        .flatten()
    {
        for (k, t) in pk.dict(field).unwrap_or_default() {
            if let (Some(k), Some(t)) = (pk.str(*k), pk.tensor(*t)) {
                out.push((format!("{prefix}{k}"), t.clone()));
            }
        }
    }
    for (k, child) in pk.dict(modules).unwrap_or_default() {
        if let Some(k) = pk.str(*k) {
            module_tensors(pk, *child, &format!("{prefix}{k}."), out, depth + 1);
        }
    }
    true
}

/// Finds the SDE settings under `hyper_parameters` (dicts and object states, any depth).
fn hyper_parameters(pk: &Pickle) -> HyperParameters {
    let mut found = HyperParameters::default();
    let Some(root) = ["hyper_parameters", "hparams", "hyper_params"]
        .iter()
        .find_map(|k| pk.get(pk.root, k))
    else {
        return found;
    };
    let mut stack = vec![(root, 0usize)];
    let mut seen = HashSet::new();
    while let Some((v, depth)) = stack.pop() {
        let Value::Node(id) = v else { continue };
        if depth > MAX_DEPTH || !seen.insert(id) {
            continue;
        }
        match pk.node(v) {
            Some(Node::Dict(entries)) => {
                for (k, val) in entries {
                    let number = match *val {
                        Value::Float(f) => Some(f),
                        Value::Int(i) => Some(i as f64),
                        _ => None,
                    };
                    match pk.str(*k) {
                        Some("sigma_min") => found.sigma_min = found.sigma_min.or(number),
                        Some("sigma_max") => found.sigma_max = found.sigma_max.or(number),
                        Some("beta_min") => found.beta_min = found.beta_min.or(number),
                        Some("beta_max") => found.beta_max = found.beta_max.or(number),
                        Some("num_scales") => {
                            if let Value::Int(n) = val {
                                found.num_scales = found.num_scales.or(Some(*n));
                            }
                        }
                        Some("sde") => {
                            if let Some(s) = pk.str(*val) {
                                found.sde = found.sde.take().or_else(|| Some(s.to_string()));
                            }
                        }
                        _ => stack.push((*val, depth + 1)),
                    }
                }
            }
            Some(Node::List(items)) | Some(Node::Tuple(items)) => {
                stack.extend(items.iter().map(|x| (*x, depth + 1)))
            }
            Some(Node::Object { args, state, .. }) => {
                stack.push((*args, depth + 1));
                if let Some(s) = state {
                    stack.push((*s, depth + 1));
                }
            }
            _ => {}
        }
    }
    found
}
