//! A fused CPU engine for the MLP score networks: forward passes, forward-mode Jacobians and
//! reverse-mode products (VJPs and weight gradients) without candle's per-op overhead.
//!
//! candle evaluates a network op by op — a matrix product, then a broadcast bias, then an
//! activation, each a fresh tensor and a pass over memory, and for derivatives a graph walked by
//! its autograd. On a CPU that overhead, not the arithmetic, set the speed. Here a network is a
//! [`Plan`] of layers over f32 row-major buffers:
//!
//! - every layer is one faer matrix product per input segment (single-threaded; faer's f32
//!   kernels use AVX-512 or AVX2, chosen at run time) followed by one fused pass that adds the
//!   bias, applies the activation, adds a residual, and stores the activation's slope when
//!   derivatives follow ([`kernels`]);
//! - rows are processed in fixed-size chunks (sized so one chunk's activations stay in cache),
//!   one rayon task per chunk, each with a reusable [`Workspace`]: no allocation in the hot loop,
//!   and the arithmetic of every row is the same whatever the number of threads;
//! - the Jacobian ∇_y out pushes D tangents per point forward as one product per layer
//!   ((points·D × H)·(H × H)) instead of D backward passes; the first layer's tangents are its
//!   weight columns, copied rather than multiplied;
//! - reverse mode (a VJP, or the weight gradients of training) reuses the forward's stored
//!   outputs and slopes.
//!
//! Concatenated inputs (the time features beside the data, the skip connections of
//! [`SkipMlpScoreNet`](crate::score::pytorch::SkipMlpScoreNet)) are never materialised: a layer
//! with inputs [A, B] computes A·W_Aᵀ + B·W_Bᵀ on the matching column blocks of W. When every row
//! shares one time t (estimation), the time features' product is folded into the bias once per
//! call.
//!
//! The weights are a snapshot, so the engine serves networks whose weights cannot change:
//! loaded files and the EMA model of a training session. candle stays the general path (CUDA,
//! trainable `VarMap`s) and the reference in the tests, which compare scores, Jacobians and VJPs.

pub(crate) mod kernels;
mod net;

pub(crate) use net::FusedNet;

use crate::score::mlp::{Activation, MlpConfig, Prediction};
use crate::score::pytorch::layouts::skip_mlp_plan;
use crate::score::pytorch::SkipMlpConfig;
use crate::sde::Sde;
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

/// What a block of a layer's input is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// The network input y (D columns).
    Data,
    /// The time features (T columns).
    Time,
    /// The output of an earlier layer.
    Layer(usize),
}

/// One block of a layer's (concatenated) input and the columns of W it multiplies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Segment {
    /// Where the block comes from.
    pub source: Source,
    /// First column of W for this block.
    pub offset: usize,
    /// Its width.
    pub width: usize,
}

/// One linear layer: z = Σ_seg x_seg·W_segᵀ + b, h = act(z) (+ the previous output).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LayerPlan {
    /// Output width.
    pub out: usize,
    /// Input width (columns of W).
    pub fan_in: usize,
    /// Input blocks in the order of W's columns.
    pub inputs: Vec<Segment>,
    /// Nonlinearity (none on the output layer).
    pub act: Option<Activation>,
    /// Whether h = act(z) + x for the layer's single input x of width `out`.
    pub residual: bool,
}

/// A network's structure: input width D, time width T and the layers in order (the last one's
/// output is the network output, D wide).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Plan {
    /// Data width D.
    pub dim: usize,
    /// Time-feature width T.
    pub time_width: usize,
    /// The layers.
    pub layers: Vec<LayerPlan>,
}

/// One layer's weights: W (out × fan_in, row-major, PyTorch's layout) and b (out).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LayerWeights<'a> {
    /// W, row-major.
    pub w: &'a [f32],
    /// b.
    pub b: &'a [f32],
}

/// How the time features reach the layers.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Time<'a> {
    /// One t for every row: its features' product is already in these per-layer biases.
    Folded(&'a [Vec<f32>]),
    /// Per-row features (rows × T), multiplied like any input.
    Rows(&'a [f32]),
}

/// A layer's weight gradients: ∂L/∂W (out × fan_in, row-major) and ∂L/∂b.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct LayerGrads {
    /// ∂L/∂W.
    pub w: Vec<f32>,
    /// ∂L/∂b.
    pub b: Vec<f32>,
}

/// Buffers of one chunk, kept between calls so the hot loop does not allocate.
#[derive(Debug, Default)]
pub(crate) struct Workspace {
    /// Each layer's output h (rows × out); the last is the network output.
    h: Vec<Vec<f32>>,
    /// Each layer's activation slope act′(z) (rows × out).
    slope: Vec<Vec<f32>>,
    /// Each layer's tangents (rows·q × out) or output gradients ∂L/∂h (rows × out).
    t: Vec<Vec<f32>>,
    /// Which `t` buffers hold a value in the current backward pass.
    written: Vec<bool>,
    /// ∂L/∂y (rows × D).
    gy: Vec<f32>,
    /// The caller's input rows (taken out while a pass runs).
    pub(crate) input: Vec<f32>,
    /// The caller's scratch rows.
    pub(crate) scratch: Vec<f32>,
}

impl Workspace {
    /// The network output of the last forward pass (rows × D).
    pub(crate) fn output(&self) -> &[f32] {
        self.h.last().map_or(&[], |h| h.as_slice())
    }

    /// The tangents of the network output after [`Plan::tangents`] (rows·q × D): row p·q + k
    /// holds ∂out/∂y along tangent k of point p (∂out/∂y_k for the unit tangents, q = D).
    pub(crate) fn output_tangents(&self) -> &[f32] {
        self.t.last().map_or(&[], |t| t.as_slice())
    }

    /// ∂L/∂y after a [`Plan::backward`] that asked for it (rows × D).
    pub(crate) fn input_gradient(&self) -> &[f32] {
        &self.gy
    }
}

/// Sets `v` to `len` elements, reusing its allocation (contents are overwritten by the caller).
pub(crate) fn fit(v: &mut Vec<f32>, len: usize) {
    v.resize(len, 0.0);
}

/// `dst (=|+=) lhs·rhs` on one thread.
fn gemm(dst: MatMut<'_, f32>, first: bool, lhs: MatRef<'_, f32>, rhs: MatRef<'_, f32>) {
    let accum = if first { Accum::Replace } else { Accum::Add };
    matmul(dst, accum, lhs, rhs, 1.0, Par::Seq);
}

/// A row-major matrix view.
fn view(data: &[f32], rows: usize, cols: usize) -> MatRef<'_, f32> {
    MatRef::from_row_major_slice(&data[..rows * cols], rows, cols)
}

/// A mutable row-major matrix view.
fn view_mut(data: &mut [f32], rows: usize, cols: usize) -> MatMut<'_, f32> {
    MatMut::from_row_major_slice_mut(&mut data[..rows * cols], rows, cols)
}

/// The tangent vectors [`Plan::tangents`] pushes through the network, q per point.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Tangents<'a> {
    /// The D unit vectors e_b (q = D): the whole Jacobian ∂out/∂y. `data_columns[l]` is layer
    /// l's data block of W transposed (D × out; empty for layers without one), the unit
    /// tangents' first product.
    Unit {
        /// Each layer's data block of W, transposed.
        data_columns: &'a [Vec<f32>],
    },
    /// q given directions per point: row p·q + k of `v` ((points·q) × D, row-major) is direction
    /// k at point p (Jacobian–vector products, one GEMM per layer for all of them).
    Along {
        /// The directions, grouped by point.
        v: &'a [f32],
        /// Directions per point.
        q: usize,
    },
}

impl Plan {
    /// The plan of an [`MlpScoreNet`](crate::score::mlp::MlpScoreNet): [y, time] → H, L − 1
    /// hidden H → H layers (residual when configured), H → D.
    pub(crate) fn mlp(c: &MlpConfig) -> Self {
        let tw = c.time_input.width();
        let last = c.depth;
        let layers = c
            .weight_shapes()
            .into_iter()
            .enumerate()
            .map(|(i, (_, (out, fan_in)))| LayerPlan {
                out,
                fan_in,
                inputs: if i == 0 {
                    vec![
                        Segment {
                            source: Source::Data,
                            offset: 0,
                            width: c.dim,
                        },
                        Segment {
                            source: Source::Time,
                            offset: c.dim,
                            width: tw,
                        },
                    ]
                } else {
                    vec![Segment {
                        source: Source::Layer(i - 1),
                        offset: 0,
                        width: fan_in,
                    }]
                },
                act: (i != last).then_some(c.activation),
                residual: c.residual && i > 0 && i != last,
            })
            .collect();
        Plan {
            dim: c.dim,
            time_width: tw,
            layers,
        }
    }

    /// The plan of a [`SkipMlpScoreNet`](crate::score::pytorch::SkipMlpScoreNet): layer k takes
    /// the skip source's output (or [y, time] for source 0) in front of the previous output.
    pub(crate) fn skip(c: &SkipMlpConfig) -> Self {
        let tf = c.time.features;
        let (widths, skip) = skip_mlp_plan(c.dim, tf, &c.hidden);
        // output j of the layer stack: 0 is the input [y, time], j ≥ 1 is layer j − 1
        let blocks = |j: usize| -> Vec<(Source, usize)> {
            if j == 0 {
                vec![(Source::Data, c.dim), (Source::Time, tf)]
            } else {
                vec![(Source::Layer(j - 1), widths[j])]
            }
        };
        let last = widths.len() - 2;
        let layers = (0..=last)
            .map(|k| {
                let mut parts = skip[k].map(blocks).unwrap_or_default();
                parts.extend(blocks(k));
                let mut offset = 0;
                let inputs = parts
                    .into_iter()
                    .map(|(source, width)| {
                        let s = Segment {
                            source,
                            offset,
                            width,
                        };
                        offset += width;
                        s
                    })
                    .collect();
                LayerPlan {
                    out: widths[k + 1],
                    fan_in: offset,
                    inputs,
                    act: (k != last).then_some(c.activation),
                    residual: false,
                }
            })
            .collect();
        Plan {
            dim: c.dim,
            time_width: tf,
            layers,
        }
    }

    /// Sizes the workspace's per-layer buffer lists.
    fn prepare(&self, ws: &mut Workspace) {
        let n = self.layers.len();
        ws.h.resize_with(n, Vec::new);
        ws.slope.resize_with(n, Vec::new);
        ws.t.resize_with(n, Vec::new);
        ws.written.resize(n, false);
    }

    /// The per-layer biases with the time features `features` (1 × T) of a shared t folded in.
    pub(crate) fn folded_biases(
        &self,
        weights: &[LayerWeights<'_>],
        features: &[f32],
    ) -> Vec<Vec<f32>> {
        self.layers
            .iter()
            .zip(weights)
            .map(|(layer, lw)| {
                let mut b = lw.b.to_vec();
                for seg in layer.inputs.iter().filter(|s| s.source == Source::Time) {
                    for (o, bo) in b.iter_mut().enumerate() {
                        let row = &lw.w[o * layer.fan_in + seg.offset..][..seg.width];
                        // f64 so that folding adds no rounding of its own beyond the final one
                        let dot: f64 = row
                            .iter()
                            .zip(features)
                            .map(|(&w, &f)| w as f64 * f as f64)
                            .sum();
                        *bo = (*bo as f64 + dot) as f32;
                    }
                }
                b
            })
            .collect()
    }

    /// The forward pass of `rows` rows of y (rows × D); outputs in the workspace, and the
    /// activation slopes too when `slopes` (needed by [`Plan::tangents`] and [`Plan::backward`]).
    pub(crate) fn forward(
        &self,
        weights: &[LayerWeights<'_>],
        time: Time<'_>,
        y: &[f32],
        rows: usize,
        ws: &mut Workspace,
        slopes: bool,
    ) {
        self.prepare(ws);
        for (l, (layer, lw)) in self.layers.iter().zip(weights).enumerate() {
            let (done, rest) = ws.h.split_at_mut(l);
            let h = &mut rest[0];
            fit(h, rows * layer.out);
            let w = view(lw.w, layer.out, layer.fan_in);
            let mut first = true;
            for seg in &layer.inputs {
                let x = match (seg.source, time) {
                    (Source::Data, _) => view(y, rows, seg.width),
                    (Source::Time, Time::Rows(f)) => view(f, rows, seg.width),
                    (Source::Time, Time::Folded(_)) => continue,
                    (Source::Layer(j), _) => view(&done[j], rows, seg.width),
                };
                let wseg = w.subcols(seg.offset, seg.width).transpose();
                gemm(view_mut(h, rows, layer.out), first, x, wseg);
                first = false;
            }
            if first {
                h.iter_mut().for_each(|v| *v = 0.0);
            }
            let bias = match time {
                Time::Folded(b) => b[l].as_slice(),
                Time::Rows(_) => lw.b,
            };
            let residual = layer.residual.then(|| match layer.inputs[0].source {
                Source::Layer(j) => done[j].as_slice(),
                _ => unreachable!("a residual layer's input is a layer output"),
            });
            let slope = if slopes && layer.act.is_some() {
                let s = &mut ws.slope[l];
                fit(s, rows * layer.out);
                Some(s.as_mut_slice())
            } else {
                None
            };
            kernels::bias_activation(h, bias, layer.act, residual, slope);
        }
    }

    /// Forward-mode derivatives after a `forward(…, slopes = true)` of `points` rows: pushes q
    /// tangent vectors of every point through the layers (see [`Tangents`]), so that
    /// [`Workspace::output_tangents`] holds ∂out/∂y along each, row p·q + k for tangent k of
    /// point p.
    pub(crate) fn tangents(
        &self,
        weights: &[LayerWeights<'_>],
        along: Tangents<'_>,
        points: usize,
        ws: &mut Workspace,
    ) {
        let d = self.dim;
        let q = match along {
            Tangents::Unit { .. } => d,
            Tangents::Along { q, .. } => q,
        };
        let rows = points * q;
        for (l, (layer, lw)) in self.layers.iter().zip(weights).enumerate() {
            let (done, rest) = ws.t.split_at_mut(l);
            let t = &mut rest[0];
            fit(t, rows * layer.out);
            let w = view(lw.w, layer.out, layer.fan_in);
            let mut first = true;
            for seg in &layer.inputs {
                match seg.source {
                    Source::Data => match along {
                        Tangents::Unit { data_columns } => {
                            // the tangent e_b of y gives row b of W_dataᵀ, for every point
                            let cols = &data_columns[l];
                            for block in t.chunks_exact_mut(d * layer.out) {
                                if first {
                                    block.copy_from_slice(cols);
                                } else {
                                    kernels::add_assign(block, cols);
                                }
                            }
                        }
                        Tangents::Along { v, .. } => {
                            let wseg = w.subcols(seg.offset, seg.width).transpose();
                            gemm(view_mut(t, rows, layer.out), first, view(v, rows, d), wseg);
                        }
                    },
                    Source::Time => continue,
                    Source::Layer(j) => {
                        let wseg = w.subcols(seg.offset, seg.width).transpose();
                        let x = view(&done[j], rows, seg.width);
                        gemm(view_mut(t, rows, layer.out), first, x, wseg);
                    }
                }
                first = false;
            }
            if first {
                t.iter_mut().for_each(|v| *v = 0.0);
            }
            let residual = layer.residual.then(|| match layer.inputs[0].source {
                Source::Layer(j) => done[j].as_slice(),
                _ => unreachable!("a residual layer's input is a layer output"),
            });
            match layer.act {
                Some(_) => kernels::scale_tangents(t, &ws.slope[l], layer.out, q, residual),
                None => {
                    if let Some(res) = residual {
                        kernels::add_assign(t, res);
                    }
                }
            }
        }
    }

    /// Reverse mode after a `forward(…, slopes = true)` of `rows` rows: back-propagates
    /// `g_out` = ∂L/∂out (rows × D). Writes ∂L/∂y into the workspace when `input_gradient`, and
    /// the weight gradients of this chunk into `grads` when given (they overwrite).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn backward(
        &self,
        weights: &[LayerWeights<'_>],
        time: Time<'_>,
        y: &[f32],
        rows: usize,
        ws: &mut Workspace,
        g_out: &[f32],
        input_gradient: bool,
        mut grads: Option<&mut [LayerGrads]>,
    ) {
        let n = self.layers.len();
        ws.written.iter_mut().for_each(|w| *w = false);
        fit(&mut ws.t[n - 1], rows * self.dim);
        ws.t[n - 1].copy_from_slice(&g_out[..rows * self.dim]);
        ws.written[n - 1] = true;
        let mut gy_written = false;
        if input_gradient {
            fit(&mut ws.gy, rows * self.dim);
        }
        for l in (0..n).rev() {
            let layer = &self.layers[l];
            let lw = &weights[l];
            let (before, rest) = ws.t.split_at_mut(l);
            let g = &mut rest[0];
            let (written_before, _) = ws.written.split_at_mut(l);
            if layer.residual {
                if let Source::Layer(j) = layer.inputs[0].source {
                    accumulate(&mut before[j], &mut written_before[j], g);
                }
            }
            // ∂L/∂h → ∂L/∂z
            if layer.act.is_some() {
                kernels::mul_assign(g, &ws.slope[l][..rows * layer.out]);
            }
            let gz = view(g, rows, layer.out);
            if let Some(grads) = grads.as_deref_mut() {
                let lg = &mut grads[l];
                fit(&mut lg.w, layer.out * layer.fan_in);
                fit(&mut lg.b, layer.out);
                let mut dw = view_mut(&mut lg.w, layer.out, layer.fan_in);
                for seg in &layer.inputs {
                    let x = match (seg.source, time) {
                        (Source::Data, _) => view(y, rows, seg.width),
                        (Source::Time, Time::Rows(f)) => view(f, rows, seg.width),
                        (Source::Time, Time::Folded(_)) => {
                            unreachable!("weight gradients need per-row times")
                        }
                        (Source::Layer(j), _) => view(&ws.h[j], rows, seg.width),
                    };
                    gemm(
                        dw.as_mut().subcols_mut(seg.offset, seg.width),
                        true,
                        gz.transpose(),
                        x,
                    );
                }
                kernels::column_sums(&g[..rows * layer.out], &mut lg.b);
            }
            let w = view(lw.w, layer.out, layer.fan_in);
            for seg in &layer.inputs {
                let wseg = w.subcols(seg.offset, seg.width);
                match seg.source {
                    Source::Layer(j) => {
                        fit(&mut before[j], rows * seg.width);
                        let first = !written_before[j];
                        gemm(view_mut(&mut before[j], rows, seg.width), first, gz, wseg);
                        written_before[j] = true;
                    }
                    Source::Data if input_gradient => {
                        gemm(view_mut(&mut ws.gy, rows, seg.width), !gy_written, gz, wseg);
                        gy_written = true;
                    }
                    Source::Data | Source::Time => {}
                }
            }
        }
        if input_gradient && !gy_written {
            ws.gy.iter_mut().for_each(|v| *v = 0.0);
        }
    }
}

/// `dst (=|+=) src`, marking `dst` written.
fn accumulate(dst: &mut Vec<f32>, written: &mut bool, src: &[f32]) {
    if *written {
        kernels::add_assign(dst, src);
    } else {
        dst.clear();
        dst.extend_from_slice(src);
        *written = true;
    }
}

/// How a network output becomes a score at one time: the network sees c_in·y and
/// s = c_out·out + c_y·y (model coordinates).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Head {
    /// The scale of the network's data input.
    pub c_in: f32,
    /// The factor of the network output.
    pub c_out: f32,
    /// The factor of the input.
    pub c_y: f32,
}

impl Head {
    /// The head of `prediction` at time t under `sde` ([`Prediction::head`]), rounded to f32
    /// as candle's `to_score` rounds the factors.
    pub(crate) fn at(prediction: Prediction, sde: &Sde, t: f64) -> Self {
        let h = prediction.head(sde.marginal(t));
        Head {
            c_in: h.c_in as f32,
            c_out: h.c_out as f32,
            c_y: h.c_y as f32,
        }
    }

    /// The score of one output value o at input value y.
    #[inline]
    pub(crate) fn score(&self, o: f32, y: f32) -> f32 {
        self.c_out * o + self.c_y * y
    }

    /// `y` scaled to the network's input c_in·y (a copy into `into`), or `y` itself when c_in = 1.
    pub(crate) fn input<'a>(&self, y: &'a [f32], into: &'a mut Vec<f32>) -> &'a [f32] {
        if self.c_in == 1.0 {
            return y;
        }
        into.clear();
        into.extend(y.iter().map(|v| self.c_in * v));
        into
    }
}
