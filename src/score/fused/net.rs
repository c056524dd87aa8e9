//! A loaded network on the fused engine: scores, Jacobians and VJPs in data coordinates.

use super::{Head, LayerWeights, Plan, Tangents, Time, Workspace};
use crate::error::{Error, Result};
use crate::score::check_dim;
use crate::score::mlp::{MlpConfig, Prediction, TimeInput};
use crate::score::pytorch::{SkipMlpConfig, SkipTime};
use crate::sde::{Frame, Sde};
use candle_core::Tensor;
use candle_nn::Linear;
use faer::{Mat, MatRef};
use rayon::prelude::*;
use std::sync::Mutex;

/// Rows per forward chunk: one chunk's activations of a 512-wide network stay in L2.
const FORWARD_ROWS: usize = 256;
/// Tangent rows (points × D) per Jacobian chunk.
const TANGENT_ROWS: usize = 512;
/// Rows per VJP chunk (outputs, slopes and gradients of every layer are kept).
const BACKWARD_ROWS: usize = 128;

/// How the time enters: the features of either network family.
#[derive(Clone, Debug, PartialEq)]
enum TimeEmbedding {
    Mlp(TimeInput),
    Skip(SkipTime),
}

impl TimeEmbedding {
    fn features(&self, ts: &[f64]) -> Vec<f32> {
        match self {
            TimeEmbedding::Mlp(t) => t.features(ts),
            TimeEmbedding::Skip(t) => t.features(ts),
        }
    }
}

/// A network with immutable f32 weights, evaluated by the fused engine (see the
/// [module docs](super)).
#[derive(Debug)]
pub(crate) struct FusedNet {
    plan: Plan,
    /// (W, b) of each layer, W out × fan_in row-major.
    weights: Vec<(Vec<f32>, Vec<f32>)>,
    /// Each layer's data block of W transposed (D × out), empty where it has none.
    data_columns: Vec<Vec<f32>>,
    time: TimeEmbedding,
    prediction: Prediction,
    sde: Sde,
    frame: Frame,
    /// Workspaces of finished chunks, for the next ones.
    pool: Mutex<Vec<Workspace>>,
}

/// Whether the fused engine can serve these layers: on the CPU, with weights that are not
/// trainable variables (a `VarMap` being trained would leave a snapshot stale).
fn servable(layers: &[&Linear]) -> bool {
    layers.iter().all(|l| {
        let fixed = |t: &Tensor| t.device().is_cpu() && !t.is_variable();
        fixed(l.weight()) && l.bias().is_none_or(fixed)
    })
}

/// A linear layer's weight (out × in) and bias as f32 vectors.
fn linear_weights(layer: &Linear, name: &str) -> Result<(Vec<f32>, Vec<f32>)> {
    let tensor_error = |e: candle_core::Error| Error::Tensor {
        name: name.to_string(),
        message: e.to_string(),
    };
    let w = layer.weight();
    let (out, _) = w.dims2().map_err(tensor_error)?;
    let wv: Vec<f32> = w
        .to_dtype(candle_core::DType::F32)
        .and_then(|w| w.flatten_all())
        .and_then(|w| w.to_vec1())
        .map_err(tensor_error)?;
    let bv = match layer.bias() {
        Some(b) => b
            .to_dtype(candle_core::DType::F32)
            .and_then(|b| b.to_vec1())
            .map_err(tensor_error)?,
        None => vec![0.0; out],
    };
    Ok((wv, bv))
}

/// The weights, folded biases and head of one time t, shared by every chunk of a pass.
struct AtTime<'a> {
    weights: Vec<LayerWeights<'a>>,
    biases: Vec<Vec<f32>>,
    head: Head,
}

impl FusedNet {
    /// The engine for an MLP score network's layers, or `None` when they are not servable.
    pub(crate) fn for_mlp(config: &MlpConfig, layers: &[Linear]) -> Result<Option<Self>> {
        let refs: Vec<&Linear> = layers.iter().collect();
        Self::build(
            Plan::mlp(config),
            &refs,
            TimeEmbedding::Mlp(config.time_input),
            config.prediction,
            config.sde,
            &config.frame,
        )
    }

    /// The engine for a skip-connection MLP's layers, or `None` when they are not servable.
    pub(crate) fn for_skip(config: &SkipMlpConfig, layers: &[&Linear]) -> Result<Option<Self>> {
        Self::build(
            Plan::skip(config),
            layers,
            TimeEmbedding::Skip(config.time.clone()),
            config.prediction,
            config.sde,
            &config.frame,
        )
    }

    fn build(
        plan: Plan,
        layers: &[&Linear],
        time: TimeEmbedding,
        prediction: Prediction,
        sde: Sde,
        frame: &Frame,
    ) -> Result<Option<Self>> {
        if !servable(layers) {
            return Ok(None);
        }
        let mut weights = Vec::with_capacity(layers.len());
        for (l, (layer, lp)) in layers.iter().zip(&plan.layers).enumerate() {
            let (w, b) = linear_weights(layer, &format!("layers.{l}"))?;
            if w.len() != lp.out * lp.fan_in || b.len() != lp.out {
                return Err(Error::Tensor {
                    name: format!("layers.{l}"),
                    message: format!(
                        "{} weights and {} biases, the layout needs {}×{} and {}",
                        w.len(),
                        b.len(),
                        lp.out,
                        lp.fan_in,
                        lp.out
                    ),
                });
            }
            weights.push((w, b));
        }
        let data_columns = plan
            .layers
            .iter()
            .zip(&weights)
            .map(|(lp, (w, _))| {
                let Some(seg) = lp.inputs.iter().find(|s| s.source == super::Source::Data) else {
                    return Vec::new();
                };
                let mut t = vec![0.0; seg.width * lp.out];
                for o in 0..lp.out {
                    for b in 0..seg.width {
                        t[b * lp.out + o] = w[o * lp.fan_in + seg.offset + b];
                    }
                }
                t
            })
            .collect();
        Ok(Some(FusedNet {
            plan,
            weights,
            data_columns,
            time,
            prediction,
            sde,
            frame: frame.clone(),
            pool: Mutex::new(Vec::new()),
        }))
    }

    fn layer_weights(&self) -> Vec<LayerWeights<'_>> {
        self.weights
            .iter()
            .map(|(w, b)| LayerWeights { w, b })
            .collect()
    }

    /// Runs `f` with a workspace from the pool (a fresh one when all are in use).
    fn with_workspace<R>(&self, f: impl FnOnce(&mut Workspace) -> R) -> R {
        let mut ws = self
            .pool
            .lock()
            .ok()
            .and_then(|mut p| p.pop())
            .unwrap_or_default();
        let r = f(&mut ws);
        if let Ok(mut p) = self.pool.lock() {
            p.push(ws);
        }
        r
    }

    /// Rows r0.. of x (data coordinates) as f32 model coordinates y = (x − c)/scale into `y`.
    fn to_model(&self, x: MatRef<'_, f64>, r0: usize, rows: usize, y: &mut Vec<f32>) {
        let d = self.plan.dim;
        super::fit(y, rows * d);
        let f = &self.frame;
        if x.col_stride() == 1 {
            // row-major input (the normal bundle's sample blocks): row by row
            for (r, out) in y.chunks_exact_mut(d).enumerate() {
                let row = x.row(r0 + r);
                for (j, v) in out.iter_mut().enumerate() {
                    *v = ((row[j] - f.center_at(j)) / f.scale) as f32;
                }
            }
            return;
        }
        for j in 0..d {
            let (c, col) = (f.center_at(j), x.col(j));
            for r in 0..rows {
                y[r * d + j] = ((col[r0 + r] - c) / f.scale) as f32;
            }
        }
    }

    /// What every pass at the shared time t uses: the weights, the per-layer biases with the
    /// features of t folded in, and the head.
    fn at_time(&self, t: f64) -> AtTime<'_> {
        let weights = self.layer_weights();
        let biases = self.plan.folded_biases(&weights, &self.time.features(&[t]));
        let head = Head::at(self.prediction, &self.sde, t);
        AtTime {
            weights,
            biases,
            head,
        }
    }

    /// The forward pass of `rows` rows of `x` from `r0`, in model coordinates and scaled by the
    /// head's c_in, keeping the activation slopes when `slopes`; `read` sees the unscaled rows y
    /// and the workspace before its buffers go back.
    #[allow(clippy::too_many_arguments)]
    fn forward_rows<R>(
        &self,
        at: &AtTime<'_>,
        x: MatRef<'_, f64>,
        r0: usize,
        rows: usize,
        slopes: bool,
        ws: &mut Workspace,
        read: impl FnOnce(&[f32], &mut Workspace) -> R,
    ) -> R {
        let mut y = std::mem::take(&mut ws.input);
        let mut scaled = std::mem::take(&mut ws.scratch);
        self.to_model(x, r0, rows, &mut y);
        let y_in = at.head.input(&y, &mut scaled);
        self.plan.forward(
            &at.weights,
            Time::Folded(&at.biases),
            y_in,
            rows,
            ws,
            slopes,
        );
        let r = read(&y, ws);
        ws.input = y;
        ws.scratch = scaled;
        r
    }

    /// s(xᵢ, t) for every row, in data coordinates.
    pub(crate) fn score(&self, x: MatRef<'_, f64>, t: f64) -> Result<Mat<f64>> {
        let (n, d) = (x.nrows(), self.plan.dim);
        check_dim(d, x.ncols(), "the fused score network")?;
        let at = self.at_time(t);
        let scale = self.frame.scale;
        let mut s = Mat::<f64>::zeros(n, d);
        s.as_mut()
            .par_row_chunks_mut(FORWARD_ROWS)
            .enumerate()
            .for_each(|(c, mut s)| {
                let rows = s.nrows();
                self.with_workspace(|ws| {
                    self.forward_rows(&at, x, c * FORWARD_ROWS, rows, false, ws, |y, ws| {
                        let out = ws.output();
                        for j in 0..d {
                            for r in 0..rows {
                                let k = r * d + j;
                                // s_x = s_y/scale
                                s[(r, j)] = at.head.score(out[k], y[k]) as f64 / scale;
                            }
                        }
                    })
                });
            });
        Ok(s)
    }

    /// The score Jacobians ∇ₓs(xᵢ, t), one D×D matrix per row, by forward-mode tangents.
    pub(crate) fn jacobians(&self, x: MatRef<'_, f64>, t: f64) -> Result<Vec<Mat<f64>>> {
        let (n, d) = (x.nrows(), self.plan.dim);
        check_dim(d, x.ncols(), "the fused score network")?;
        let at = self.at_time(t);
        // ∂s/∂y = c_out·c_in·∂out/∂(c_in y) + c_y
        let (c_out, c_y) = (
            at.head.c_out as f64 * at.head.c_in as f64,
            at.head.c_y as f64,
        );
        let scale2 = self.frame.scale * self.frame.scale;
        let per_chunk = (TANGENT_ROWS / d).max(1);
        let mut jac = vec![Mat::<f64>::zeros(0, 0); n];
        jac.par_chunks_mut(per_chunk)
            .enumerate()
            .for_each(|(c, jac)| {
                let points = jac.len();
                self.with_workspace(|ws| {
                    self.forward_rows(&at, x, c * per_chunk, points, true, ws, |_, _| ());
                    let unit = Tangents::Unit {
                        data_columns: &self.data_columns,
                    };
                    self.plan.tangents(&at.weights, unit, points, ws);
                    let dt = ws.output_tangents();
                    for (p, j) in jac.iter_mut().enumerate() {
                        // row p·D + b of the tangents is ∂out/∂y_b: column b of the Jacobian
                        let block = &dt[p * d * d..(p + 1) * d * d];
                        *j = Mat::from_fn(d, d, |a, b| {
                            let eye = if a == b { c_y } else { 0.0 };
                            (c_out * block[b * d + a] as f64 + eye) / scale2
                        });
                    }
                });
            });
        Ok(jac)
    }

    /// The score at every row of x (n × D) and the products ∇ₓs(xᵢ, t)·v for the m = rows(v)/n
    /// directions of each row (row k·n + i of v is direction k of point i; the products come
    /// in the same layout): one forward pass of the n points, one tangent pass of the m·n
    /// directions.
    pub(crate) fn score_and_jvps(
        &self,
        x: MatRef<'_, f64>,
        t: f64,
        v: MatRef<'_, f64>,
    ) -> Result<(Mat<f64>, Mat<f64>)> {
        let (n, d) = (x.nrows(), self.plan.dim);
        check_dim(d, x.ncols(), "the fused score network")?;
        check_dim(d, v.ncols(), "tangent columns")?;
        if n == 0 {
            return Ok((Mat::zeros(0, d), Mat::zeros(v.nrows(), d)));
        }
        // m directions per point: v has m·n rows
        let m = v.nrows() / n;
        check_dim(m * n, v.nrows(), "tangent rows (directions × points)")?;
        let at = self.at_time(t);
        let (c_out, c_y) = (
            at.head.c_out as f64 * at.head.c_in as f64,
            at.head.c_y as f64,
        );
        let scale = self.frame.scale;
        let per_chunk = (TANGENT_ROWS / m.max(1)).max(1);
        // each chunk of points gives its scores (rows × D) and products (rows·m × D, by point)
        let chunks: Vec<(Vec<f64>, Vec<f64>)> = (0..n.div_ceil(per_chunk))
            .into_par_iter()
            .map(|c| {
                let (p0, points) = (c * per_chunk, per_chunk.min(n - c * per_chunk));
                self.with_workspace(|ws| {
                    let s = self.forward_rows(&at, x, p0, points, true, ws, |y, ws| {
                        let out = ws.output();
                        (0..points * d)
                            .map(|k| at.head.score(out[k], y[k]) as f64 / scale)
                            .collect::<Vec<f64>>()
                    });
                    // directions in model coordinates are the data directions (y = (x − c)/scale
                    // rescales both sides of ∂s/∂y the same way, done below)
                    let mut dirs = std::mem::take(&mut ws.scratch);
                    super::fit(&mut dirs, points * m * d);
                    for p in 0..points {
                        for k in 0..m {
                            let row = v.row(k * n + p0 + p);
                            for j in 0..d {
                                dirs[(p * m + k) * d + j] = row[j] as f32;
                            }
                        }
                    }
                    let along = Tangents::Along { v: &dirs, q: m };
                    self.plan.tangents(&at.weights, along, points, ws);
                    let dt = ws.output_tangents();
                    // ∂s_x/∂x·v = (c_out·c_in·∂out/∂(c_in y)·v + c_y·v)/scale²
                    let jv = (0..points * m * d)
                        .map(|k| (c_out * dt[k] as f64 + c_y * dirs[k] as f64) / (scale * scale))
                        .collect::<Vec<f64>>();
                    ws.scratch = dirs;
                    (s, jv)
                })
            })
            .collect();
        let mut s = Mat::<f64>::zeros(n, d);
        let mut jv = Mat::<f64>::zeros(m * n, d);
        for (c, (sc, jc)) in chunks.iter().enumerate() {
            let p0 = c * per_chunk;
            for (p, row) in sc.chunks_exact(d).enumerate() {
                for (j, &value) in row.iter().enumerate() {
                    s[(p0 + p, j)] = value;
                }
            }
            for (pk, row) in jc.chunks_exact(d).enumerate() {
                let (p, k) = (pk / m, pk % m);
                for (j, &value) in row.iter().enumerate() {
                    jv[(k * n + p0 + p, j)] = value;
                }
            }
        }
        Ok((s, jv))
    }

    /// The products vᵢᵀ∇ₓs(xᵢ, t) for every row, by one reverse pass.
    pub(crate) fn vjp(&self, x: MatRef<'_, f64>, t: f64, v: MatRef<'_, f64>) -> Result<Mat<f64>> {
        let (n, d) = (x.nrows(), self.plan.dim);
        check_dim(d, x.ncols(), "the fused score network")?;
        check_dim(n, v.nrows(), "cotangent rows")?;
        check_dim(d, v.ncols(), "cotangent columns")?;
        let AtTime {
            weights,
            biases,
            head,
        } = self.at_time(t);
        let scale2 = self.frame.scale * self.frame.scale;
        let mut g = Mat::<f64>::zeros(n, d);
        g.as_mut()
            .par_row_chunks_mut(BACKWARD_ROWS)
            .enumerate()
            .for_each(|(c, mut g)| {
                let (rows, r0) = (g.nrows(), c * BACKWARD_ROWS);
                self.with_workspace(|ws| {
                    let mut y = std::mem::take(&mut ws.input);
                    let mut g_out = std::mem::take(&mut ws.scratch);
                    self.to_model(x, r0, rows, &mut y);
                    // ∂(v·s)/∂out = c_out·v; the head adds c_y·v to ∂/∂y
                    super::fit(&mut g_out, rows * d);
                    for j in 0..d {
                        for r in 0..rows {
                            g_out[r * d + j] = head.c_out * v[(r0 + r, j)] as f32;
                        }
                    }
                    let time = Time::Folded(&biases);
                    let mut scaled = Vec::new();
                    let y_in = head.input(&y, &mut scaled);
                    self.plan.forward(&weights, time, y_in, rows, ws, true);
                    self.plan
                        .backward(&weights, time, y_in, rows, ws, &g_out, true, None);
                    let gy = ws.input_gradient();
                    for j in 0..d {
                        for r in 0..rows {
                            let vj = v[(r0 + r, j)] as f32;
                            // ∂/∂y = c_in·∂/∂(c_in y) + c_y·v
                            let gj = head.c_in * gy[r * d + j] + head.c_y * vj;
                            g[(r, j)] = gj as f64 / scale2;
                        }
                    }
                    ws.input = y;
                    ws.scratch = g_out;
                });
            });
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::autodiff;
    use crate::score::mlp::{Activation, MlpScoreNet};
    use crate::score::pytorch::SkipMlpScoreNet;
    use candle_core::{DType, Device};
    use candle_nn::VarBuilder;
    use rand::Rng;
    use std::collections::HashMap;

    /// Seeded weights U(−1/√fan_in, 1/√fan_in) (PyTorch's default) for named layers.
    fn weights(shapes: &[(String, (usize, usize))], seed: u64) -> HashMap<String, Tensor> {
        let mut rng = crate::rng::stream(seed, 0);
        let mut map = HashMap::new();
        for (name, (out, inp)) in shapes {
            let bound = 1.0 / (*inp as f32).sqrt();
            let mut draw = |n: usize| -> Vec<f32> {
                (0..n).map(|_| rng.random_range(-bound..bound)).collect()
            };
            let w = Tensor::from_vec(draw(out * inp), (*out, *inp), &Device::Cpu).unwrap();
            let b = Tensor::from_vec(draw(*out), *out, &Device::Cpu).unwrap();
            map.insert(format!("{name}.weight"), w);
            map.insert(format!("{name}.bias"), b);
        }
        map
    }

    /// A var builder over the seeded fixed `weights` of `shapes` (the fused engine serves them).
    fn fixed_weights(shapes: &[(String, (usize, usize))], seed: u64) -> VarBuilder<'static> {
        VarBuilder::from_tensors(weights(shapes, seed), DType::F32, &Device::Cpu)
    }

    /// candle's linear layers of `shapes` from `vb`.
    fn linear_layers(vb: &VarBuilder<'_>, shapes: &[(String, (usize, usize))]) -> Vec<Linear> {
        shapes
            .iter()
            .map(|(name, shape)| crate::score::mlp::linear_layer(vb, name, *shape).unwrap())
            .collect()
    }

    fn points(n: usize, d: usize) -> Mat<f64> {
        Mat::from_fn(n, d, |i, j| {
            ((i * 7 + j * 3) % 11) as f64 / 5.5 - 1.0 + 0.01 * j as f64
        })
    }

    /// max |a − b| over max |b|: the error of a against the oracle b.
    fn rel_err(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
        let mut diff = 0f64;
        let mut size = 0f64;
        for i in 0..b.nrows() {
            for j in 0..b.ncols() {
                diff = diff.max((a[(i, j)] - b[(i, j)]).abs());
                size = size.max(b[(i, j)].abs());
            }
        }
        diff / size.max(1e-30)
    }

    /// Checks the fused engine's scores, Jacobians and VJPs against candle's forward and
    /// reverse mode (the oracle) on `n` points at time t.
    fn check_against_candle(
        fused: &FusedNet,
        frame: &Frame,
        score_tensor: &dyn Fn(&Tensor, &[f64]) -> Result<Tensor>,
        n: usize,
        t: f64,
        label: &str,
    ) {
        let d = fused.plan.dim;
        let dev = Device::Cpu;
        let x = points(n, d);
        let want = autodiff::score(frame, &dev, x.as_ref(), t, score_tensor).unwrap();
        let got = fused.score(x.as_ref(), t).unwrap();
        let e = rel_err(got.as_ref(), want.as_ref());
        assert!(e < 2e-6, "{label} score: relative error {e}");

        let v = Mat::from_fn(n, d, |i, j| ((i + 2 * j) % 5) as f64 - 2.0);
        let want = autodiff::vjp(frame, &dev, x.as_ref(), t, v.as_ref(), score_tensor).unwrap();
        let got = fused.vjp(x.as_ref(), t, v.as_ref()).unwrap();
        let e = rel_err(got.as_ref(), want.as_ref());
        assert!(e < 1e-5, "{label} vjp: relative error {e}");

        // candle takes D backward passes here: a few points are enough
        let xs = x.as_ref().subrows(0, n.min(7));
        let want = autodiff::jacobians(frame, &dev, xs, t, score_tensor).unwrap();
        let got = fused.jacobians(xs, t).unwrap();
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let e = rel_err(g.as_ref(), w.as_ref());
            assert!(e < 1e-5, "{label} jacobian {i}: relative error {e}");
        }

        // JVPs along m = 3 directions per point: candle's Jacobians times the directions
        let (ns, m) = (xs.nrows(), 3);
        let dirs = Mat::from_fn(m * ns, d, |r, j| ((r * 7 + 3 * j) % 11) as f64 / 5.0 - 1.0);
        let (s, jv) = fused.score_and_jvps(xs, t, dirs.as_ref()).unwrap();
        let want_s = fused.score(xs, t).unwrap();
        assert!(
            rel_err(s.as_ref(), want_s.as_ref()) < 1e-12,
            "{label} jvp scores"
        );
        let want_jv = Mat::from_fn(m * ns, d, |r, a| {
            (0..d).map(|b| want[r % ns][(a, b)] * dirs[(r, b)]).sum()
        });
        let e = rel_err(jv.as_ref(), want_jv.as_ref());
        assert!(e < 1e-5, "{label} jvp: relative error {e}");
    }

    #[test]
    fn jvps_agree_with_the_jacobians_across_chunks() {
        // 600 points × 4 directions: five tangent chunks, the last one partial
        let config = MlpConfig {
            activation: Activation::Silu,
            residual: true,
            prediction: Prediction::Preconditioned { sigma_data: 0.5 },
            frame: Frame {
                center: vec![0.5, -1.0, 2.0],
                scale: 1.5,
            },
            ..MlpConfig::new(3, 24, 3, Sde::ve(3.0))
        };
        let shapes = config.weight_shapes();
        let vb = fixed_weights(&shapes, 11);
        let layers = linear_layers(&vb, &shapes);
        let fused = FusedNet::for_mlp(&config, &layers).unwrap().unwrap();
        let (n, m, d) = (600, 4, 3);
        let x = points(n, d);
        let dirs = Mat::from_fn(m * n, d, |r, j| ((r * 5 + j) % 7) as f64 - 3.0);
        let (s, jv) = fused
            .score_and_jvps(x.as_ref(), 0.3, dirs.as_ref())
            .unwrap();
        let want_s = fused.score(x.as_ref(), 0.3).unwrap();
        assert!(rel_err(s.as_ref(), want_s.as_ref()) < 1e-12);
        let jac = fused.jacobians(x.as_ref(), 0.3).unwrap();
        let want = Mat::from_fn(m * n, d, |r, a| {
            (0..d).map(|b| jac[r % n][(a, b)] * dirs[(r, b)]).sum()
        });
        let e = rel_err(jv.as_ref(), want.as_ref());
        assert!(e < 1e-5, "relative error {e}");
        // a direction count that does not divide the rows is an error, not a panic
        let bad = Mat::<f64>::zeros(m * n + 1, d);
        assert!(fused.score_and_jvps(x.as_ref(), 0.3, bad.as_ref()).is_err());
    }

    #[test]
    fn mlp_matches_candle_for_every_activation_time_input_and_prediction() {
        let frame = Frame {
            center: vec![0.5, -1.0, 2.0, 0.0, 0.25],
            scale: 1.5,
        };
        let cases = [
            (
                Activation::Silu,
                true,
                TimeInput::Sinusoidal {
                    features: 8,
                    scale: 1000.0,
                },
                Prediction::Data,
            ),
            (
                Activation::Elu,
                false,
                TimeInput::Scaled { factor: 999.0 },
                Prediction::Noise,
            ),
            (Activation::Relu, true, TimeInput::Raw, Prediction::Score),
            (
                Activation::Gelu,
                false,
                TimeInput::Sinusoidal {
                    features: 4,
                    scale: 1.0,
                },
                Prediction::ScaledScore,
            ),
            (Activation::Tanh, true, TimeInput::Raw, Prediction::Data),
            (
                Activation::Silu,
                true,
                TimeInput::Sinusoidal {
                    features: 8,
                    scale: 1000.0,
                },
                Prediction::Preconditioned { sigma_data: 0.5 },
            ),
        ];
        for (k, (activation, residual, time_input, prediction)) in cases.into_iter().enumerate() {
            let config = MlpConfig {
                activation,
                residual,
                time_input,
                prediction,
                frame: frame.clone(),
                ..MlpConfig::new(5, 24, 3, Sde::ve(3.0))
            };
            let vb = fixed_weights(&config.weight_shapes(), k as u64);
            let net = MlpScoreNet::new(config.clone(), vb.clone()).unwrap();
            let layers = linear_layers(&vb, &config.weight_shapes());
            let fused = FusedNet::for_mlp(&config, &layers)
                .unwrap()
                .expect("fixed CPU weights");
            // more rows than one chunk, so the chunking is exercised
            let label = format!("{activation:?} residual={residual} {time_input:?} {prediction:?}");
            check_against_candle(
                &fused,
                &frame,
                &|y, ts| net.score_tensor(y, ts),
                300,
                0.2,
                &label,
            );
        }
    }

    #[test]
    fn skip_mlp_matches_candle() {
        let config = SkipMlpConfig {
            dim: 4,
            hidden: vec![16, 24, 12],
            time: SkipTime::reference(6),
            activation: Activation::Silu,
            prediction: Prediction::ScaledScore,
            sde: Sde::vp_default(),
            frame: Frame {
                center: vec![0.1, 0.2, -0.3, 0.0],
                scale: 0.7,
            },
        };
        let shapes: Vec<(String, (usize, usize))> = config
            .layers()
            .into_iter()
            .map(|(n, s, _)| (n, s))
            .collect();
        let vb = fixed_weights(&shapes, 9);
        let net = SkipMlpScoreNet::new(config.clone(), vb.clone()).unwrap();
        let layers = linear_layers(&vb, &shapes);
        let refs: Vec<&Linear> = layers.iter().collect();
        let fused = FusedNet::for_skip(&config, &refs)
            .unwrap()
            .expect("fixed CPU weights");
        check_against_candle(
            &fused,
            &config.frame,
            &|y, ts| net.score_tensor(y, ts),
            200,
            0.4,
            "skip MLP",
        );
    }

    #[test]
    fn trainable_weights_stay_on_candle() {
        let config = MlpConfig::new(3, 8, 2, Sde::vp_default());
        let varmap = candle_nn::VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let layers = linear_layers(&vb, &config.weight_shapes());
        assert!(FusedNet::for_mlp(&config, &layers).unwrap().is_none());
    }

    #[test]
    fn errors_name_the_problem() {
        let config = MlpConfig::new(3, 8, 2, Sde::vp_default());
        let layers = linear_layers(
            &fixed_weights(&config.weight_shapes(), 1),
            &config.weight_shapes(),
        );
        let fused = FusedNet::for_mlp(&config, &layers).unwrap().unwrap();
        let x = Mat::<f64>::zeros(2, 4);
        assert!(fused
            .score(x.as_ref(), 0.1)
            .unwrap_err()
            .to_string()
            .contains("fused score network"));
        let x = Mat::<f64>::zeros(2, 3);
        let v = Mat::<f64>::zeros(3, 3);
        assert!(fused
            .vjp(x.as_ref(), 0.1, v.as_ref())
            .unwrap_err()
            .to_string()
            .contains("cotangent rows"));
        // a NaN input gives NaN scores, not a finite value that hides it
        let mut x = Mat::<f64>::zeros(2, 3);
        x[(1, 0)] = f64::NAN;
        let s = fused.score(x.as_ref(), 0.1).unwrap();
        assert!(s[(0, 0)].is_finite() && s[(1, 0)].is_nan());
    }
}
