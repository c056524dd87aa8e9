//! The denoising score-matching step on the fused CPU engine ([`crate::score::fused`]): forward,
//! loss and backward to the weights without candle's autograd.
//!
//! The batch is cut into chunks of [`CHUNK_ROWS`] rows, a number fixed here and not by the
//! thread count; every chunk computes its loss and weight gradients on its own (one rayon task
//! each), and the chunks' gradients are summed in chunk order, element by element. The
//! arithmetic is therefore the same for any number of threads, and a run is bit-reproducible.

use super::optim::{block_sum_squares, norm_of_block_sums, ParamState};
use crate::score::fused::{fit, Head, LayerGrads, LayerWeights, Plan, Time, Workspace};
use crate::score::mlp::{MlpConfig, Prediction, TimeInput};
use crate::sde::Sde;
use rayon::prelude::*;

/// Rows per chunk of a batch (fixed, so results do not depend on the thread count).
pub(crate) const CHUNK_ROWS: usize = 128;
/// Elements per task when the chunks' gradients are summed: the optimiser's norm blocks, so the
/// sum of squares of each summed block is a term of the global norm.
const SUM_BLOCK: usize = super::optim::BLOCK;

/// One chunk's buffers, kept between steps.
#[derive(Debug, Default)]
struct Chunk {
    ws: Workspace,
    /// Time features of the chunk's rows (rows × T).
    time: Vec<f32>,
    /// ∂L/∂out (rows × D).
    g_out: Vec<f32>,
    /// The network's input rows c_in·y when the head scales it (rows × D).
    y_in: Vec<f32>,
    /// This chunk's weight gradients.
    grads: Vec<LayerGrads>,
    /// Σ (σ·s + z)² over the chunk.
    loss: f64,
}

/// The fused DSM loss and gradients of an [`MlpConfig`] network, with reusable buffers.
#[derive(Debug)]
pub(crate) struct FusedDsm {
    plan: Plan,
    time_input: TimeInput,
    prediction: Prediction,
    sde: Sde,
    chunks: Vec<Chunk>,
    /// The summed gradients in parameter order (weight, bias of each layer).
    grads: Vec<Vec<f32>>,
    /// Σ g² of every block of [`SUM_BLOCK`] elements of each summed gradient.
    block_sums: Vec<Vec<f64>>,
}

/// The layers' weights in the order of [`MlpConfig::weight_shapes`] (weight then bias), from
/// `value` (raw weights) or `ema` of the parameter states.
fn layer_weights(params: &[ParamState], ema: bool) -> Vec<LayerWeights<'_>> {
    fn pick(s: &ParamState, ema: bool) -> &[f32] {
        if ema {
            &s.ema
        } else {
            &s.value
        }
    }
    params
        .chunks_exact(2)
        .map(|p| LayerWeights {
            w: pick(&p[0], ema),
            b: pick(&p[1], ema),
        })
        .collect()
}

/// Parameter `p` (weight then bias of each layer) of one chunk's gradients.
fn part(c: &Chunk, p: usize) -> &[f32] {
    let g = &c.grads[p / 2];
    if p % 2 == 1 {
        &g.b
    } else {
        &g.w
    }
}

impl FusedDsm {
    /// The engine for networks of `config` (parameters laid out as its weight shapes).
    pub(crate) fn new(config: &MlpConfig) -> Self {
        FusedDsm {
            plan: Plan::mlp(config),
            time_input: config.time_input,
            prediction: config.prediction,
            sde: config.sde,
            chunks: Vec::new(),
            grads: Vec::new(),
            block_sums: Vec::new(),
        }
    }

    /// Runs every chunk of the batch (y rows, noise z, times ts): the loss sum of each, and its
    /// weight gradients when `weights_grad`, scaled for the mean over `ts.len()`·D elements.
    fn run_chunks(
        &mut self,
        weights: &[LayerWeights<'_>],
        y: &[f32],
        z: &[f32],
        ts: &[f64],
        weights_grad: bool,
    ) -> f64 {
        let d = self.plan.dim;
        let b = ts.len();
        let count = b.div_ceil(CHUNK_ROWS);
        if self.chunks.len() < count {
            self.chunks.resize_with(count, Chunk::default);
        }
        let (plan, time_input, prediction, sde) =
            (&self.plan, &self.time_input, self.prediction, &self.sde);
        let norm = 1.0 / (b * d) as f32;
        self.chunks[..count]
            .par_iter_mut()
            .enumerate()
            .for_each(|(c, chunk)| {
                let r0 = c * CHUNK_ROWS;
                let rows = CHUNK_ROWS.min(b - r0);
                let ts = &ts[r0..r0 + rows];
                let (y, z) = (&y[r0 * d..(r0 + rows) * d], &z[r0 * d..(r0 + rows) * d]);
                chunk.time = time_input.features(ts);
                let time = Time::Rows(&chunk.time);
                let heads: Vec<Head> = ts.iter().map(|&t| Head::at(prediction, sde, t)).collect();
                let y_in: &[f32] = if heads.iter().all(|h| h.c_in == 1.0) {
                    y
                } else {
                    chunk.y_in.clear();
                    for (row, h) in y.chunks_exact(d).zip(&heads) {
                        chunk.y_in.extend(row.iter().map(|v| h.c_in * v));
                    }
                    &chunk.y_in
                };
                plan.forward(weights, time, y_in, rows, &mut chunk.ws, weights_grad);
                fit(&mut chunk.g_out, rows * d);
                let out = chunk.ws.output();
                let mut loss = 0f64;
                for (r, (&t, head)) in ts.iter().zip(&heads).enumerate() {
                    let sigma = sde.marginal(t).sigma as f32;
                    // ∂/∂out of mean((σ·s + z)²) with s = c_out·out + c_y·y
                    let scale = 2.0 * sigma * head.c_out * norm;
                    for k in r * d..(r + 1) * d {
                        let res = sigma * head.score(out[k], y[k]) + z[k];
                        loss += (res as f64) * (res as f64);
                        chunk.g_out[k] = scale * res;
                    }
                }
                chunk.loss = loss;
                if weights_grad {
                    chunk
                        .grads
                        .resize_with(plan.layers.len(), LayerGrads::default);
                    plan.backward(
                        weights,
                        time,
                        y_in,
                        rows,
                        &mut chunk.ws,
                        &chunk.g_out,
                        false,
                        Some(&mut chunk.grads),
                    );
                }
            });
        self.chunks[..count].iter().map(|c| c.loss).sum()
    }

    /// The mean loss mean((σ(t)·s_θ(y_t, t) + z)²) of the batch, its gradients with respect
    /// to the raw weights of `params` (in the same order) and their global norm √(Σ g²), the
    /// same bits as the optimiser's own (its blocks, summed while they are in cache).
    pub(crate) fn step(
        &mut self,
        params: &[ParamState],
        y: &[f32],
        z: &[f32],
        ts: &[f64],
    ) -> (f64, &[Vec<f32>], f64) {
        let weights = layer_weights(params, false);
        let total = self.run_chunks(&weights, y, z, ts, true);
        let count = ts.len().div_ceil(CHUNK_ROWS);
        self.grads.resize_with(params.len(), Vec::new);
        self.block_sums.resize_with(params.len(), Vec::new);
        let chunks = &self.chunks[..count];
        self.grads
            .par_iter_mut()
            .zip(self.block_sums.par_iter_mut())
            .enumerate()
            .for_each(|(p, (g, sums))| {
                let len = part(&chunks[0], p).len();
                fit(g, len);
                sums.resize(len.div_ceil(SUM_BLOCK), 0.0);
                // chunk order within each element, whatever thread sums which block
                g.par_chunks_mut(SUM_BLOCK)
                    .zip(sums.par_iter_mut())
                    .enumerate()
                    .for_each(|(k, (block, sum))| {
                        let at = k * SUM_BLOCK;
                        block.copy_from_slice(&part(&chunks[0], p)[at..at + block.len()]);
                        for c in &chunks[1..] {
                            crate::score::fused::kernels::add_assign(
                                block,
                                &part(c, p)[at..at + block.len()],
                            );
                        }
                        *sum = block_sum_squares(block);
                    });
            });
        let sums: Vec<f64> = self.block_sums.iter().flatten().copied().collect();
        (
            total / (ts.len() * self.plan.dim) as f64,
            &self.grads,
            norm_of_block_sums(&sums),
        )
    }

    /// The mean loss of the EMA weights of `params` on (y, z, ts), for validation.
    pub(crate) fn ema_loss(
        &mut self,
        params: &[ParamState],
        y: &[f32],
        z: &[f32],
        ts: &[f64],
    ) -> f64 {
        let weights = layer_weights(params, true);
        self.run_chunks(&weights, y, z, ts, false) / (ts.len() * self.plan.dim) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::mlp::{Activation, MlpScoreNet};
    use candle_core::{DType, Device, Tensor, Var};
    use candle_nn::VarBuilder;
    use rand::Rng;
    use std::collections::HashMap;

    fn config() -> MlpConfig {
        config_with(Prediction::Data)
    }

    fn config_with(prediction: Prediction) -> MlpConfig {
        MlpConfig {
            residual: true,
            activation: Activation::Silu,
            prediction,
            ..MlpConfig::new(6, 40, 3, Sde::ve(3.0))
        }
    }

    /// Seeded parameters, a batch of `b` rows and its times.
    fn problem(c: &MlpConfig, b: usize) -> (Vec<ParamState>, Vec<f32>, Vec<f32>, Vec<f64>) {
        let mut rng = crate::rng::stream(3, 1);
        let params = c
            .weight_shapes()
            .into_iter()
            .flat_map(|(name, (out, inp))| {
                let bound = 1.0 / (inp as f32).sqrt();
                let mut draw = |n: usize| {
                    (0..n)
                        .map(|_| rng.random_range(-bound..bound))
                        .collect::<Vec<f32>>()
                };
                [
                    ParamState::new(format!("{name}.weight"), vec![out, inp], draw(out * inp)),
                    ParamState::new(format!("{name}.bias"), vec![out], draw(out)),
                ]
            })
            .collect();
        let y = (0..b * c.dim)
            .map(|_| rng.random_range(-2.0..2.0))
            .collect();
        let z = (0..b * c.dim)
            .map(|_| rng.random_range(-1.5..1.5))
            .collect();
        let ts = (0..b).map(|_| rng.random_range(0.0..1.0)).collect();
        (params, y, z, ts)
    }

    #[test]
    fn loss_and_gradients_match_candle_autograd() {
        for prediction in [
            Prediction::Data,
            Prediction::Preconditioned { sigma_data: 0.5 },
        ] {
            loss_and_gradients_match_candle_autograd_for(config_with(prediction));
        }
    }

    fn loss_and_gradients_match_candle_autograd_for(c: MlpConfig) {
        let b = 150; // two full chunks and a partial one
        let (params, y, z, ts) = problem(&c, b);
        let (loss, grads) = {
            let mut dsm = FusedDsm::new(&c);
            let (l, g, _) = dsm.step(&params, &y, &z, &ts);
            (l, g.to_vec())
        };
        // the oracle: candle's autograd of the same loss
        let dev = Device::Cpu;
        let vars: Vec<Var> = params
            .iter()
            .map(|p| Var::from_slice(&p.value, p.shape.as_slice(), &dev).unwrap())
            .collect();
        let named: HashMap<String, Tensor> = params
            .iter()
            .zip(&vars)
            .map(|(p, v)| (p.name.clone(), v.as_tensor().clone()))
            .collect();
        let net =
            MlpScoreNet::new(c.clone(), VarBuilder::from_tensors(named, DType::F32, &dev)).unwrap();
        let yt = Tensor::from_slice(&y, (b, c.dim), &dev).unwrap();
        let zt = Tensor::from_slice(&z, (b, c.dim), &dev).unwrap();
        let sigma: Vec<f32> = ts.iter().map(|&t| c.sde.marginal(t).sigma as f32).collect();
        let sigma = Tensor::from_vec(sigma, (b, 1), &dev).unwrap();
        let s = net.score_tensor(&yt, &ts).unwrap();
        let want = (s.broadcast_mul(&sigma).unwrap() + zt)
            .unwrap()
            .sqr()
            .unwrap()
            .mean_all()
            .unwrap();
        let want_loss = want.to_scalar::<f32>().unwrap() as f64;
        assert!(
            (loss - want_loss).abs() < 1e-5 * want_loss,
            "{loss} vs {want_loss}"
        );
        let store = want.backward().unwrap();
        for ((p, var), g) in params.iter().zip(&vars).zip(&grads) {
            let w: Vec<f32> = store
                .get(var.as_tensor())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let size = w.iter().fold(0f32, |m, v| m.max(v.abs()));
            let err = w.iter().zip(g).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(err <= 2e-5 * size, "{}: {err} vs size {size}", p.name);
        }
        // the validation loss of the same weights (EMA = raw at the start) agrees with the step's
        let mut dsm = FusedDsm::new(&c);
        assert!((dsm.ema_loss(&params, &y, &z, &ts) - loss).abs() < 1e-12);
    }

    #[test]
    fn the_step_norm_is_the_optimisers_global_norm_bit_for_bit() {
        use crate::train::optim::Element;
        // width 160: the hidden weights (25 600) span two norm blocks, the biases one
        let c = MlpConfig {
            residual: true,
            activation: Activation::Silu,
            ..MlpConfig::new(6, 160, 3, Sde::ve(3.0))
        };
        let (params, y, z, ts) = problem(&c, 150);
        let mut dsm = FusedDsm::new(&c);
        let (_, grads, norm) = dsm.step(&params, &y, &z, &ts);
        assert!(grads.iter().any(|g| g.len() > super::SUM_BLOCK));
        let want = <f32 as Element>::global_norm(grads);
        assert!(norm > 0.0);
        assert_eq!(norm.to_bits(), want.to_bits(), "{norm} vs {want}");
    }

    #[test]
    fn gradients_do_not_depend_on_the_thread_count() {
        let c = config();
        let (params, y, z, ts) = problem(&c, 300);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut dsm = FusedDsm::new(&c);
                let (l, g, _) = dsm.step(&params, &y, &z, &ts);
                (l, g.to_vec())
            })
        };
        let (one, two) = (run(1), run(2));
        assert_eq!(one.0.to_bits(), two.0.to_bits());
        assert_eq!(one.1, two.1);
        assert_eq!(run(3).1, one.1);
    }
}
