//! Every key mapping between PyTorch checkpoints and scoregeo's networks, in one place.
//!
//! Two layouts are recognised from tensor names and shapes, under any key prefix (`score_model.`
//! of the official Lightning code, `sde.score_net.` of the local-ID code, `module.` of
//! `DataParallel`, `_orig_mod.` of `torch.compile`, …):
//!
//! - [`Architecture::ReferenceFcn`], the fully connected score net of the official
//!   intrinsic-dimension code (Stanczuk, Batzolis et al., ICML 2024) and its clean
//!   re-implementation: a `Sequential` named `mlp` of Linear(D+1 → H), Dropout, ELU,
//!   L × [Linear(H → H), Dropout, ELU], Linear(H → D), so the linear layers sit at indices 0, 3,
//!   6, …. It maps onto the native [`MlpScoreNet`](crate::score::mlp::MlpScoreNet): checkpoint key
//!   `mlp.{3k}.weight` ↦ native `layers.{k}.weight` (same for `bias`).
//! - [`Architecture::SkipMlp`], the `MLPUnet` of the local-ID code of Kamkari et al. (2024,
//!   `models/diffusions/networks.py`): `layers.{k}` Linear layers down through widths h₁…h_m, back
//!   up through h_{m−1}…h₁ with the matching down activation concatenated in front, and out to D
//!   with the network input concatenated in front; SiLU between layers. Key names are kept.
//!
//! A description file may rename the `Sequential` (`"sequential"`) or change its step
//! (`"stride"`, e.g. 2 without Dropout layers).

use super::checkpoint::{TensorGroup, TensorList};
use super::pickle::TensorRef;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A recognised network architecture with the sizes read from the tensor shapes.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Architecture {
    /// The reference fully connected score net (linear layers every `stride` entries of a Sequential).
    ReferenceFcn {
        /// Ambient dimension D.
        dim: usize,
        /// Hidden width H.
        hidden: usize,
        /// Number of linear layers (hidden layers L = linears − 2).
        linears: usize,
        /// Name of the `Sequential` holding the layers.
        sequential: String,
        /// Index step between linear layers inside the `Sequential`.
        stride: usize,
    },
    /// The MLP with skip connections (`MLPUnet`).
    SkipMlp {
        /// Ambient dimension D.
        dim: usize,
        /// Widths h₁…h_m of the down path.
        hidden: Vec<usize>,
        /// Width T of the time input (1: t itself; more: a sinusoidal embedding).
        time_features: usize,
    },
}

/// Which layout to look for (a description file can force one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayoutKind {
    /// See [`Architecture::ReferenceFcn`].
    ReferenceFcn,
    /// See [`Architecture::SkipMlp`].
    SkipMlp,
}

impl Architecture {
    /// The layout this architecture belongs to.
    pub fn kind(&self) -> LayoutKind {
        match self {
            Architecture::ReferenceFcn { .. } => LayoutKind::ReferenceFcn,
            Architecture::SkipMlp { .. } => LayoutKind::SkipMlp,
        }
    }

    /// Ambient dimension D.
    pub fn dim(&self) -> usize {
        match self {
            Architecture::ReferenceFcn { dim, .. } | Architecture::SkipMlp { dim, .. } => *dim,
        }
    }
}

impl std::fmt::Display for Architecture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Architecture::ReferenceFcn { dim, hidden, linears, sequential, stride } => write!(
                f,
                "reference fully connected score net (Stanczuk, Batzolis et al.): D = {dim}, H = {hidden}, \
                 {} hidden layer{}; linear layers at `{sequential}.0`, `{sequential}.{stride}`, …",
                linears - 2,
                if *linears == 3 { "" } else { "s" }
            ),
            Architecture::SkipMlp { dim, hidden, time_features } => write!(
                f,
                "MLP with skip connections (MLPUnet of the local-ID code, Kamkari et al.): D = {dim}, widths {hidden:?}, \
                 time input {}",
                if *time_features > 1 { format!("sinusoidal embedding of {time_features} features") } else { "t".into() }
            ),
        }
    }
}

/// Layout hints from a description file.
#[derive(Clone, Debug, Default)]
pub(crate) struct Hints {
    /// Only this layout.
    pub layout: Option<LayoutKind>,
    /// The reference layout's `Sequential` name (default `mlp`).
    pub sequential: Option<String>,
    /// The reference layout's step between linear layers (default: read from the indices).
    pub stride: Option<usize>,
}

/// A set of weights that fits a layout: where it came from and its tensors under native names.
#[derive(Clone, Debug)]
pub(crate) struct Candidate {
    /// The dict (or mapped list) the weights come from.
    pub group: String,
    /// The key prefix in front of the layout's names.
    pub prefix: String,
    /// Whether these are exponential-moving-average weights.
    pub ema: bool,
    /// The architecture read from the shapes.
    pub architecture: Architecture,
    /// (native name, checkpoint key, tensor), in layer order.
    pub tensors: Vec<NativeTensor>,
}

impl Candidate {
    /// Where the weights were found, for messages.
    pub fn source(&self) -> String {
        let group = if self.group.is_empty() {
            "the top-level state dict".to_string()
        } else {
            format!("`{}`", self.group)
        };
        let prefix = if self.prefix.is_empty() {
            String::new()
        } else {
            format!(", keys `{}*`", self.prefix)
        };
        format!(
            "{} weights from {group}{prefix}",
            if self.ema { "EMA" } else { "raw" }
        )
    }
}

/// What detection found: usable weight sets and why other key sets were rejected.
#[derive(Clone, Debug, Default)]
pub(crate) struct Detection {
    /// Weight sets that fit a layout.
    pub candidates: Vec<Candidate>,
    /// Key sets that looked like a layout but do not fit, with the reason (naming the key).
    pub rejected: Vec<String>,
}

/// Whether a path or prefix names moving-average weights (`ema`, `model_ema`, `shadow_params`, …).
pub(crate) fn names_ema(text: &str) -> bool {
    text.to_ascii_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| {
            w == "ema"
                || w == "shadow"
                || w == "shadow_params"
                || w.starts_with("ema") && w.len() <= 4
        })
}

/// A tensor under its native name: (native name, checkpoint key, tensor).
type NativeTensor = (String, String, TensorRef);

/// A layout that fits: the architecture and its tensors in layer order.
type Fitted = (Architecture, Vec<NativeTensor>);

/// One linear layer found under a prefix: weight and bias (each may be missing).
#[derive(Default, Clone)]
struct Linear {
    weight: Option<(String, TensorRef)>,
    bias: Option<(String, TensorRef)>,
}

/// Keys `{prefix}{name}.{index}.{weight|bias}` of a group, by prefix then index.
fn collect(
    entries: &[(String, TensorRef)],
    name: &str,
) -> BTreeMap<String, BTreeMap<usize, Linear>> {
    let mut out: BTreeMap<String, BTreeMap<usize, Linear>> = BTreeMap::new();
    for (key, t) in entries {
        let (rest, is_weight) = match (key.strip_suffix(".weight"), key.strip_suffix(".bias")) {
            (Some(r), _) => (r, true),
            (_, Some(r)) => (r, false),
            _ => continue,
        };
        let Some((head, index)) = rest.rsplit_once('.') else {
            continue;
        };
        let Ok(index) = index.parse::<usize>() else {
            continue;
        };
        let Some(prefix) = head.strip_suffix(name) else {
            continue;
        };
        if !(prefix.is_empty() || prefix.ends_with('.')) {
            continue;
        }
        let slot = out
            .entry(prefix.to_string())
            .or_default()
            .entry(index)
            .or_default();
        let value = Some((key.clone(), t.clone()));
        if is_weight {
            slot.weight = value;
        } else {
            slot.bias = value;
        }
    }
    out
}

/// Checks weight (out, in) and bias (out) of one layer; returns the tensors or a message naming the key.
fn check_layer(
    layer: &Linear,
    key_stem: &str,
    out: usize,
    inp: usize,
    why: &str,
) -> Result<[(String, TensorRef); 2], String> {
    let (wk, w) = layer
        .weight
        .clone()
        .ok_or_else(|| format!("missing tensor `{key_stem}.weight`"))?;
    let (bk, b) = layer
        .bias
        .clone()
        .ok_or_else(|| format!("missing tensor `{key_stem}.bias` (its weight is there)"))?;
    if w.shape != [out, inp] {
        return Err(format!(
            "tensor `{wk}` has shape {:?}, the layout needs [{out}, {inp}] ({why})",
            w.shape
        ));
    }
    if b.shape != [out] {
        return Err(format!(
            "tensor `{bk}` has shape {:?}, the layout needs [{out}]",
            b.shape
        ));
    }
    Ok([(wk, w), (bk, b)])
}

fn weight_shape(layer: &Linear, stem: &str) -> Result<(usize, usize), String> {
    let (key, w) = layer
        .weight
        .as_ref()
        .ok_or_else(|| format!("missing tensor `{stem}.weight`"))?;
    match w.shape.as_slice() {
        [o, i] => Ok((*o, *i)),
        s => Err(format!(
            "tensor `{key}` has shape {s:?}, a linear weight is 2-dimensional"
        )),
    }
}

fn native(tensors: &mut Vec<NativeTensor>, k: usize, pair: [(String, TensorRef); 2]) {
    let [(wk, w), (bk, b)] = pair;
    tensors.push((format!("layers.{k}.weight"), wk, w));
    tensors.push((format!("layers.{k}.bias"), bk, b));
}

fn reference_fcn(
    prefix: &str,
    seq: &str,
    layers: &BTreeMap<usize, Linear>,
    stride: Option<usize>,
) -> Result<Fitted, String> {
    let indices: Vec<usize> = layers.keys().copied().collect();
    let stem = |i: usize| format!("{prefix}{seq}.{i}");
    if indices.len() < 2 {
        return Err(format!(
            "`{}` is a single layer; the reference layout has at least two",
            stem(indices[0])
        ));
    }
    if indices[0] != 0 {
        return Err(format!(
            "missing tensor `{}.weight` (the first linear layer)",
            stem(0)
        ));
    }
    let step = stride.unwrap_or(indices[1]);
    if step == 0 {
        return Err("a stride of 0 between linear layers".into());
    }
    for (k, &i) in indices.iter().enumerate() {
        if i != k * step {
            return Err(format!(
                "`{}` breaks the step of {step} between linear layers (expected `{}` next)",
                stem(i),
                stem(k * step)
            ));
        }
    }
    let n = indices.len();
    let (dim, hidden) = weight_shape(&layers[&indices[n - 1]], &stem(indices[n - 1]))?;
    let mut tensors = Vec::with_capacity(2 * n);
    for (k, &i) in indices.iter().enumerate() {
        let (out, inp, why) = match k {
            0 => (hidden, dim + 1, "x and t in, H out"),
            _ if k == n - 1 => (dim, hidden, "H in, D out"),
            _ => (hidden, hidden, "H in, H out"),
        };
        native(
            &mut tensors,
            k,
            check_layer(&layers[&i], &stem(i), out, inp, why)?,
        );
    }
    let arch = Architecture::ReferenceFcn {
        dim,
        hidden,
        linears: n,
        sequential: seq.to_string(),
        stride: step,
    };
    Ok((arch, tensors))
}

/// Widths and skip sources of the `MLPUnet` layout: `widths[0]` is the input, layer k maps
/// `widths[k]` (plus `widths[skip[k]]` when it has a skip) to `widths[k + 1]`.
pub fn skip_mlp_plan(
    dim: usize,
    time_features: usize,
    hidden: &[usize],
) -> (Vec<usize>, Vec<Option<usize>>) {
    let m = hidden.len();
    let mut widths = vec![dim + time_features];
    let mut skip = vec![None; m];
    widths.extend_from_slice(hidden);
    for (j, &h) in hidden.iter().rev().skip(1).enumerate() {
        widths.push(h);
        skip.push(Some(m - 1 - j));
    }
    widths.push(dim);
    skip.push(Some(0));
    (widths, skip)
}

fn skip_mlp(prefix: &str, layers: &BTreeMap<usize, Linear>) -> Result<Fitted, String> {
    let stem = |i: usize| format!("{prefix}layers.{i}");
    let indices: Vec<usize> = layers.keys().copied().collect();
    if let Some((k, &i)) = indices.iter().enumerate().find(|(k, i)| *k != **i) {
        return Err(format!(
            "missing tensor `{}.weight` (layers are numbered from 0 without gaps; found `{}`)",
            stem(k),
            stem(i)
        ));
    }
    let n = indices.len();
    if n % 2 != 0 {
        return Err(format!(
            "{n} layers under `{prefix}layers.*`; the skip-connection layout has an even number"
        ));
    }
    let m = n / 2;
    let (dim, _) = weight_shape(&layers[&(n - 1)], &stem(n - 1))?;
    let (_, first_in) = weight_shape(&layers[&0], &stem(0))?;
    if first_in <= dim {
        return Err(format!(
            "tensor `{}.weight` takes {first_in} inputs, fewer than D + 1 = {}",
            stem(0),
            dim + 1
        ));
    }
    let hidden: Vec<usize> = (0..m)
        .map(|k| weight_shape(&layers[&k], &stem(k)).map(|s| s.0))
        .collect::<Result<_, _>>()?;
    let time_features = first_in - dim;
    let (widths, skip) = skip_mlp_plan(dim, time_features, &hidden);
    let mut tensors = Vec::with_capacity(2 * n);
    for k in 0..n {
        let inp = widths[k] + skip[k].map_or(0, |s| widths[s]);
        let why = match skip[k] {
            None => "previous width in".to_string(),
            Some(s) => format!("skip from layer output {s} concatenated with the previous width"),
        };
        native(
            &mut tensors,
            k,
            check_layer(&layers[&k], &stem(k), widths[k + 1], inp, &why)?,
        );
    }
    Ok((
        Architecture::SkipMlp {
            dim,
            hidden,
            time_features,
        },
        tensors,
    ))
}

/// Finds every set of weights that fits a layout in `groups` (and EMA `lists` mapped onto them).
pub(crate) fn detect(groups: &[TensorGroup], lists: &[TensorList], hints: &Hints) -> Detection {
    let mut all: Vec<TensorGroup> = groups.to_vec();
    // a list of moving averages follows the parameter order of the module it shadows
    for list in lists.iter().filter(|l| names_ema(&l.path)) {
        for g in groups {
            let fits = g.entries.len() == list.tensors.len()
                && g.entries
                    .iter()
                    .zip(&list.tensors)
                    .all(|((_, a), b)| a.shape == b.shape);
            if fits {
                let entries = g
                    .entries
                    .iter()
                    .zip(&list.tensors)
                    .map(|((k, _), t)| (k.clone(), t.clone()))
                    .collect();
                all.push(TensorGroup {
                    path: list.path.clone(),
                    entries,
                });
            }
        }
    }
    let mut found = Detection::default();
    let seq = hints.sequential.clone().unwrap_or_else(|| "mlp".into());
    for g in &all {
        let kinds = match hints.layout {
            Some(k) => vec![k],
            None => vec![LayoutKind::ReferenceFcn, LayoutKind::SkipMlp],
        };
        for kind in kinds {
            let name = match kind {
                LayoutKind::ReferenceFcn => seq.as_str(),
                LayoutKind::SkipMlp => "layers",
            };
            for (prefix, layers) in collect(&g.entries, name) {
                let fitted = match kind {
                    LayoutKind::ReferenceFcn => reference_fcn(&prefix, &seq, &layers, hints.stride),
                    LayoutKind::SkipMlp => skip_mlp(&prefix, &layers),
                };
                let at = if g.path.is_empty() {
                    String::new()
                } else {
                    format!(" in `{}`", g.path)
                };
                match fitted {
                    Ok((architecture, tensors)) => found.candidates.push(Candidate {
                        ema: names_ema(&g.path) || names_ema(&prefix),
                        group: g.path.clone(),
                        prefix,
                        architecture,
                        tensors,
                    }),
                    Err(why) => found.rejected.push(format!("{why}{at}")),
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::pytorch::pickle::StorageType;

    fn t(shape: &[usize]) -> TensorRef {
        TensorRef {
            storage_key: "0".into(),
            dtype: StorageType::F32,
            storage_numel: shape.iter().product::<usize>() as u64,
            offset: 0,
            shape: shape.to_vec(),
            stride: vec![1; shape.len()],
        }
    }

    fn group(path: &str, entries: &[(&str, &[usize])]) -> TensorGroup {
        TensorGroup {
            path: path.into(),
            entries: entries.iter().map(|(k, s)| (k.to_string(), t(s))).collect(),
        }
    }

    fn fcn(prefix: &str) -> Vec<(String, &'static [usize])> {
        let shapes: [(&str, &'static [usize]); 6] = [
            ("mlp.0.weight", &[16, 4]),
            ("mlp.0.bias", &[16]),
            ("mlp.3.weight", &[16, 16]),
            ("mlp.3.bias", &[16]),
            ("mlp.6.weight", &[3, 16]),
            ("mlp.6.bias", &[3]),
        ];
        shapes
            .iter()
            .map(|(k, s)| (format!("{prefix}{k}"), *s))
            .collect()
    }

    #[test]
    fn reference_layout_under_any_prefix() {
        for prefix in ["", "score_model.", "module."] {
            let keys = fcn(prefix);
            let entries: Vec<(&str, &[usize])> =
                keys.iter().map(|(k, s)| (k.as_str(), *s)).collect();
            let d = detect(
                &[group("model_state_dict", &entries)],
                &[],
                &Hints::default(),
            );
            assert!(d.rejected.is_empty(), "{:?}", d.rejected);
            let c = &d.candidates[0];
            assert_eq!(c.prefix, prefix);
            assert_eq!(
                c.architecture,
                Architecture::ReferenceFcn {
                    dim: 3,
                    hidden: 16,
                    linears: 3,
                    sequential: "mlp".into(),
                    stride: 3
                }
            );
            assert_eq!(c.tensors[4].0, "layers.2.weight");
            assert_eq!(c.tensors[4].1, format!("{prefix}mlp.6.weight"));
            assert!(!c.ema);
        }
    }

    #[test]
    fn reference_layout_errors_name_the_key() {
        let mut keys = fcn("");
        keys[2].1 = &[16, 15];
        let entries: Vec<(&str, &[usize])> = keys.iter().map(|(k, s)| (k.as_str(), *s)).collect();
        let d = detect(&[group("", &entries)], &[], &Hints::default());
        assert!(d.candidates.is_empty());
        assert!(
            d.rejected[0].contains("`mlp.3.weight` has shape [16, 15]"),
            "{:?}",
            d.rejected
        );
        let keys = fcn("");
        let entries: Vec<(&str, &[usize])> = keys
            .iter()
            .filter(|(k, _)| k != "mlp.3.bias")
            .map(|(k, s)| (k.as_str(), *s))
            .collect();
        let d = detect(&[group("", &entries)], &[], &Hints::default());
        assert!(
            d.rejected[0].contains("missing tensor `mlp.3.bias`"),
            "{:?}",
            d.rejected
        );
        let entries = [
            ("mlp.0.weight", &[16, 4][..]),
            ("mlp.0.bias", &[16]),
            ("mlp.4.weight", &[3, 16]),
            ("mlp.4.bias", &[3]),
            ("mlp.6.weight", &[3, 16]),
            ("mlp.6.bias", &[3]),
        ];
        let d = detect(&[group("", &entries)], &[], &Hints::default());
        assert!(
            d.rejected[0].contains("`mlp.6` breaks the step of 4"),
            "{:?}",
            d.rejected
        );
    }

    #[test]
    fn skip_layout_plan_and_detection() {
        let (widths, skip) = skip_mlp_plan(4, 8, &[16, 24, 16]);
        assert_eq!(widths, vec![12, 16, 24, 16, 24, 16, 4]);
        assert_eq!(skip, vec![None, None, None, Some(2), Some(1), Some(0)]);
        let entries = [
            ("sde.score_net.layers.0.weight", &[16, 12][..]),
            ("sde.score_net.layers.0.bias", &[16]),
            ("sde.score_net.layers.1.weight", &[24, 16]),
            ("sde.score_net.layers.1.bias", &[24]),
            ("sde.score_net.layers.2.weight", &[16, 24]),
            ("sde.score_net.layers.2.bias", &[16]),
            ("sde.score_net.layers.3.weight", &[24, 16 + 24]),
            ("sde.score_net.layers.3.bias", &[24]),
            ("sde.score_net.layers.4.weight", &[16, 24 + 16]),
            ("sde.score_net.layers.4.bias", &[16]),
            ("sde.score_net.layers.5.weight", &[4, 16 + 12]),
            ("sde.score_net.layers.5.bias", &[4]),
        ];
        let d = detect(&[group("state_dict", &entries)], &[], &Hints::default());
        assert!(d.rejected.is_empty(), "{:?}", d.rejected);
        assert_eq!(
            d.candidates[0].architecture,
            Architecture::SkipMlp {
                dim: 4,
                hidden: vec![16, 24, 16],
                time_features: 8
            }
        );
        // a plain MLP under `layers.*` does not pass for the skip layout
        let plain = [
            ("layers.0.weight", &[16, 5][..]),
            ("layers.0.bias", &[16]),
            ("layers.1.weight", &[4, 16]),
            ("layers.1.bias", &[4]),
        ];
        let d = detect(&[group("", &plain)], &[], &Hints::default());
        assert!(d.candidates.is_empty());
        assert!(
            d.rejected[0].contains("`layers.1.weight` has shape [4, 16], the layout needs [4, 21]"),
            "{:?}",
            d.rejected
        );
    }

    #[test]
    fn ema_lists_map_onto_their_module() {
        let keys = fcn("score_model.");
        let entries: Vec<(&str, &[usize])> = keys.iter().map(|(k, s)| (k.as_str(), *s)).collect();
        let g = group("state_dict", &entries);
        let list = TensorList {
            path: "ema/shadow_params".into(),
            tensors: g.entries.iter().map(|(_, t)| t.clone()).collect(),
        };
        let other = TensorList {
            path: "callbacks/0".into(),
            tensors: list.tensors.clone(),
        };
        let d = detect(&[g], &[list, other], &Hints::default());
        assert_eq!(d.candidates.len(), 2);
        assert!(!d.candidates[0].ema && d.candidates[1].ema);
        assert_eq!(
            d.candidates[1].source(),
            "EMA weights from `ema/shadow_params`, keys `score_model.*`"
        );
    }

    #[test]
    fn ema_names() {
        for yes in [
            "ema",
            "ema_state_dict",
            "model_ema.",
            "ema.module.",
            "ema/shadow_params",
            "state_dict/ema_model",
        ] {
            assert!(names_ema(yes), "{yes}");
        }
        for no in [
            "model_state_dict",
            "schema",
            "score_model.",
            "state_dict",
            "temperature",
        ] {
            assert!(!names_ema(no), "{no}");
        }
    }
}
