//! Adam(W) with linear warm-up and global gradient-norm clipping, plus an exponential moving
//! average (EMA) of the weights.
//!
//! The state lives in plain vectors (`f32` for the score networks, `f64` for the flows), updated
//! element-wise in a fixed order, so that a step is bit-reproducible and the whole state can be
//! written to (and restored from) a checkpoint. Score training and flow training share it; the
//! `f32` path runs in fixed blocks on vectorised kernels, in parallel.

use crate::score::fused::kernels::multiversion;
use rayon::prelude::*;

/// The floating-point types the optimiser updates in (`f32` or `f64`).
pub(crate) trait Element: Copy + PartialEq + std::fmt::Debug + Send + Sync {
    /// The value of an `f64` setting in this type.
    fn from_f64(v: f64) -> Self;
    /// 0.
    fn zero() -> Self {
        Self::from_f64(0.0)
    }
    /// √(Σ g²) over all gradients, accumulated in f64 in a fixed order.
    fn global_norm(grads: &[Vec<Self>]) -> f64;
    /// Adam(W) and the EMA on every tensor with the step's constants `u`.
    fn update(params: &mut [ParamState<Self>], grads: &[Vec<Self>], u: &Update);
}

impl Element for f32 {
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn global_norm(grads: &[Vec<f32>]) -> f64 {
        global_norm_f32(grads)
    }
    fn update(params: &mut [ParamState<f32>], grads: &[Vec<f32>], u: &Update) {
        update_f32(params, grads, u)
    }
}

impl Element for f64 {
    fn from_f64(v: f64) -> Self {
        v
    }
    fn global_norm(grads: &[Vec<f64>]) -> f64 {
        grads.iter().flatten().map(|&g| g * g).sum::<f64>().sqrt()
    }
    fn update(params: &mut [ParamState<f64>], grads: &[Vec<f64>], u: &Update) {
        // the flows' tensors are small: one thread, in order
        for (p, g) in params.iter_mut().zip(grads) {
            let moments = p.m.iter_mut().zip(p.v.iter_mut());
            for (((w, e), (m, v)), &g) in
                p.value.iter_mut().zip(p.ema.iter_mut()).zip(moments).zip(g)
            {
                let g = g * u.factor;
                *m = u.b1 * *m + (1.0 - u.b1) * g;
                *v = u.b2 * *v + (1.0 - u.b2) * g * g;
                let update = (*m / u.bc1) / ((*v / u.bc2).sqrt() + u.eps);
                *w = *w * u.shrink - u.lr * update;
                *e = u.ema_t * *e + (1.0 - u.ema_t) * *w;
            }
        }
    }
}

/// One trainable tensor with its optimiser state.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ParamState<T = f32> {
    /// Checkpoint key, e.g. `layers.0.weight`.
    pub name: String,
    /// Tensor shape.
    pub shape: Vec<usize>,
    /// Current (raw) weights.
    pub value: Vec<T>,
    /// Exponential moving average of the weights.
    pub ema: Vec<T>,
    /// Adam first moment.
    pub m: Vec<T>,
    /// Adam second moment.
    pub v: Vec<T>,
}

impl<T: Element> ParamState<T> {
    /// Fresh state for initial weights: EMA = weights, zero moments.
    pub fn new(name: String, shape: Vec<usize>, value: Vec<T>) -> Self {
        let zeros = vec![T::zero(); value.len()];
        Self {
            name,
            shape,
            ema: value.clone(),
            m: zeros.clone(),
            v: zeros,
            value,
        }
    }
}

/// Adam's β₁.
const BETA1: f64 = 0.9;
/// Adam's β₂.
const BETA2: f64 = 0.999;
/// Adam's ε.
const EPS: f64 = 1e-8;

/// Settings of one update.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StepSettings {
    /// Learning rate of this step (after warm-up).
    pub lr: f64,
    /// Global gradient-norm clip.
    pub clip: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// EMA decay ceiling.
    pub ema_decay: f64,
}

/// The learning rate at 0-based `step`: linear warm-up from lr/warmup to lr, then constant, or,
/// given the fraction `cosine` ∈ [0, 1] of the budget spent, times ½(1 + cos π·fraction).
///
/// The factor depends on the step and the budget only, so a resumed run continues exactly.
pub(crate) fn learning_rate(lr: f64, warmup: u64, step: u64, cosine: Option<f64>) -> f64 {
    let warm = if step < warmup {
        (step + 1) as f64 / warmup as f64
    } else {
        1.0
    };
    let decay = cosine.map_or(1.0, |p| {
        0.5 * (1.0 + (std::f64::consts::PI * p.clamp(0.0, 1.0)).cos())
    });
    lr * warm * decay
}

/// Elements per parallel task of the norm and the update: fixed, so that how the work is split
/// between threads never changes a result.
pub(crate) const BLOCK: usize = 16 * 1024;

multiversion! {
    /// Σ g² over a block in f64, in eight interleaved partial sums (a fixed order that vectorises).
    fn sum_squares(g: &[f32], out: &mut f64) {
        let mut lanes = [0f64; 8];
        for c in g.chunks(8) {
            for (l, &x) in lanes.iter_mut().zip(c) {
                *l += (x as f64) * (x as f64);
            }
        }
        *out = lanes.iter().sum();
    }
}

/// Σ g² over one block of at most [`BLOCK`] elements of a tensor, in f64 (the terms of
/// [`norm_of_block_sums`]).
pub(crate) fn block_sum_squares(g: &[f32]) -> f64 {
    let mut s = 0.0;
    sum_squares(g, &mut s);
    s
}

/// √ of the block sums of squares added in order: every tensor's blocks of [`BLOCK`] elements,
/// tensor after tensor. A caller that already holds the gradients block by block (the fused DSM
/// step, as it sums its chunks) gets the same bits as [`Element::global_norm`] without a second
/// pass over them.
pub(crate) fn norm_of_block_sums(sums: &[f64]) -> f64 {
    sums.iter().sum::<f64>().sqrt()
}

/// √(Σ g²) over f32 gradients, accumulated in f64 in a fixed order (blocks of [`BLOCK`]
/// elements, their sums added in order).
fn global_norm_f32(grads: &[Vec<f32>]) -> f64 {
    let blocks: Vec<&[f32]> = grads.iter().flat_map(|g| g.chunks(BLOCK)).collect();
    let sums: Vec<f64> = blocks.par_iter().map(|b| block_sum_squares(b)).collect();
    norm_of_block_sums(&sums)
}

/// The per-step constants of the element-wise update, in f32.
#[derive(Clone, Copy, Debug)]
struct UpdateF32 {
    factor: f32,
    b1: f32,
    b2: f32,
    bc1: f32,
    bc2: f32,
    lr: f32,
    eps: f32,
    shrink: f32,
    ema_t: f32,
}

multiversion! {
    /// Adam(W) and the EMA on one block of a tensor: weights w, EMA e, moments m and v, gradient g.
    fn update_block(w: &mut [f32], e: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], u: UpdateF32) {
        let moments = m.iter_mut().zip(v.iter_mut());
        for (((w, e), (m, v)), &g) in w.iter_mut().zip(e.iter_mut()).zip(moments).zip(g) {
            let g = g * u.factor;
            *m = u.b1 * *m + (1.0 - u.b1) * g;
            *v = u.b2 * *v + (1.0 - u.b2) * g * g;
            let update = (*m / u.bc1) / ((*v / u.bc2).sqrt() + u.eps);
            *w = *w * u.shrink - u.lr * update;
            *e = u.ema_t * *e + (1.0 - u.ema_t) * *w;
        }
    }
}

/// The per-step constants of the element-wise update.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Update {
    factor: f64,
    b1: f64,
    b2: f64,
    bc1: f64,
    bc2: f64,
    lr: f64,
    eps: f64,
    shrink: f64,
    ema_t: f64,
}

/// The f32 update: blocks of [`BLOCK`] elements of every tensor, in parallel.
fn update_f32(params: &mut [ParamState<f32>], grads: &[Vec<f32>], u: &Update) {
    let u = UpdateF32 {
        factor: u.factor as f32,
        b1: u.b1 as f32,
        b2: u.b2 as f32,
        bc1: u.bc1 as f32,
        bc2: u.bc2 as f32,
        lr: u.lr as f32,
        eps: u.eps as f32,
        shrink: u.shrink as f32,
        ema_t: u.ema_t as f32,
    };
    let mut blocks = Vec::new();
    for (p, g) in params.iter_mut().zip(grads) {
        let ParamState {
            value, ema, m, v, ..
        } = p;
        let parts = value
            .chunks_mut(BLOCK)
            .zip(ema.chunks_mut(BLOCK))
            .zip(m.chunks_mut(BLOCK).zip(v.chunks_mut(BLOCK)))
            .zip(g.chunks(BLOCK));
        blocks.extend(parts);
    }
    blocks
        .into_par_iter()
        .for_each(|(((w, e), (m, v)), g)| update_block(w, e, m, v, g, u));
}

/// One Adam(W) update of every tensor (`step` = number of updates done before), then the EMA.
///
/// Gradients are rescaled by min(1, clip/‖g‖) first; the EMA decay warms up as
/// min(decay, (1 + t)/(10 + t)) so early averages are not dominated by the initial weights.
/// Returns the gradient norm before clipping.
pub(crate) fn adam_step<T: Element>(
    params: &mut [ParamState<T>],
    grads: &[Vec<T>],
    step: u64,
    s: StepSettings,
) -> f64 {
    let norm = T::global_norm(grads);
    adam_step_with_norm(params, grads, norm, step, s);
    norm
}

/// [`adam_step`] with the gradients' global norm √(Σ g²) already known.
pub(crate) fn adam_step_with_norm<T: Element>(
    params: &mut [ParamState<T>],
    grads: &[Vec<T>],
    norm: f64,
    step: u64,
    s: StepSettings,
) {
    let factor = if norm > s.clip { s.clip / norm } else { 1.0 };
    let t = (step + 1) as i32;
    let u = Update {
        factor,
        b1: BETA1,
        b2: BETA2,
        bc1: 1.0 - BETA1.powi(t),
        bc2: 1.0 - BETA2.powi(t),
        lr: s.lr,
        eps: EPS,
        shrink: 1.0 - s.lr * s.weight_decay,
        ema_t: s.ema_decay.min((1.0 + t as f64) / (10.0 + t as f64)),
    };
    T::update(params, grads, &u);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(clip: f64) -> StepSettings {
        StepSettings {
            lr: 0.1,
            clip,
            weight_decay: 0.0,
            ema_decay: 0.999,
        }
    }

    #[test]
    fn warm_up_then_flat_or_cosine() {
        assert_eq!(learning_rate(1.0, 4, 0, None), 0.25);
        assert_eq!(learning_rate(1.0, 4, 3, None), 1.0);
        assert_eq!(learning_rate(1.0, 4, 100, None), 1.0);
        assert_eq!(learning_rate(0.5, 0, 0, None), 0.5);
        // cosine: full rate at the start, half at mid-budget, zero at the end
        assert_eq!(learning_rate(1.0, 0, 0, Some(0.0)), 1.0);
        assert!((learning_rate(1.0, 0, 50, Some(0.5)) - 0.5).abs() < 1e-12);
        assert!(learning_rate(1.0, 0, 99, Some(1.0)).abs() < 1e-12);
        assert!((learning_rate(1.0, 4, 1, Some(0.5)) - 0.25).abs() < 1e-12);
    }

    #[test]
    fn first_adam_step_moves_by_lr_times_sign() {
        // oracle: after one step m̂ = g, v̂ = g², so the update is lr·g/(|g| + ε) ≈ lr·sign(g)
        let mut p = vec![ParamState::new("w".into(), vec![3], vec![1.0f32, 2.0, 3.0])];
        let norm = adam_step(&mut p, &[vec![0.5, -2.0, 0.0]], 0, settings(f64::INFINITY));
        assert!((norm - 4.25f64.sqrt()).abs() < 1e-9);
        let want = [0.9, 2.1, 3.0];
        for (w, e) in p[0].value.iter().zip(want) {
            assert!((w - e).abs() < 1e-6, "{w} vs {e}");
        }
        // EMA decay at t = 1 is min(0.999, 2/11): ema = 2/11·w₀ + 9/11·w₁
        let e = 2.0 / 11.0 * 1.0 + 9.0 / 11.0 * 0.9;
        assert!((p[0].ema[0] - e as f32).abs() < 1e-6);
    }

    #[test]
    fn clipping_rescales_the_global_norm() {
        // with a clip the moments see the rescaled gradient g·clip/‖g‖
        let mut a = vec![ParamState::new("a".into(), vec![2], vec![0.0f32, 0.0])];
        adam_step(&mut a, &[vec![3.0, 4.0]], 0, settings(1.0));
        assert!((a[0].m[0] - 0.1 * 0.6).abs() < 1e-7 && (a[0].m[1] - 0.1 * 0.8).abs() < 1e-7);
        let mut b = vec![ParamState::new("a".into(), vec![2], vec![0.0f32, 0.0])];
        adam_step(&mut b, &[vec![3.0, 4.0]], 0, settings(10.0));
        assert!((b[0].m[0] - 0.3).abs() < 1e-7);
    }

    #[test]
    fn minimises_a_quadratic() {
        let mut p = vec![ParamState::new("w".into(), vec![2], vec![5.0f32, -3.0])];
        for step in 0..500 {
            let g = vec![p[0].value.iter().map(|w| 2.0 * w).collect()];
            adam_step(&mut p, &g, step, settings(f64::INFINITY));
        }
        assert!(
            p[0].value.iter().all(|w| w.abs() < 0.05),
            "{:?}",
            p[0].value
        );
        // the f64 state follows the same path, to f32 rounding
        let mut q = vec![ParamState::new("w".into(), vec![2], vec![5.0f64, -3.0])];
        let mut r = vec![ParamState::new("w".into(), vec![2], vec![5.0f32, -3.0])];
        for step in 0..50 {
            let gq = vec![q[0].value.iter().map(|w| 2.0 * w).collect()];
            let gr = vec![r[0].value.iter().map(|w| 2.0 * w).collect()];
            adam_step(&mut q, &gq, step, settings(f64::INFINITY));
            adam_step(&mut r, &gr, step, settings(f64::INFINITY));
        }
        for (a, b) in q[0].value.iter().zip(&r[0].value) {
            assert!((a - *b as f64).abs() < 1e-4, "{a} vs {b}");
        }
    }
}
