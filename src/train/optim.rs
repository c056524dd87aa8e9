//! Adam(W) with linear warm-up and global gradient-norm clipping, plus an exponential moving
//! average (EMA) of the weights.
//!
//! The state lives in plain vectors (`f32` for the score networks, `f64` for the flows), updated
//! element-wise in a fixed order, so that a step is bit-reproducible and the whole state can be
//! written to (and restored from) a checkpoint. Score training and flow training share it.

use std::ops::{Add, Div, Mul, Sub};

/// The floating-point types the optimiser updates in (`f32` or `f64`).
pub(crate) trait Element:
    Copy
    + PartialEq
    + std::fmt::Debug
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
{
    /// The value of an `f64` setting in this type.
    fn from_f64(v: f64) -> Self;
    /// The value as `f64`.
    fn to_f64(self) -> f64;
    /// √self.
    fn sqrt(self) -> Self;
    /// 0.
    fn zero() -> Self {
        Self::from_f64(0.0)
    }
}

impl Element for f32 {
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
}

impl Element for f64 {
    fn from_f64(v: f64) -> Self {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn sqrt(self) -> Self {
        f64::sqrt(self)
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

/// √(Σ g²) over all gradients, accumulated in f64 in a fixed order.
pub(crate) fn global_norm<T: Element>(grads: &[Vec<T>]) -> f64 {
    grads
        .iter()
        .flatten()
        .map(|&g| g.to_f64() * g.to_f64())
        .sum::<f64>()
        .sqrt()
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
    let norm = global_norm(grads);
    let factor = if norm > s.clip { s.clip / norm } else { 1.0 };
    let t = (step + 1) as i32;
    let bc1 = 1.0 - BETA1.powi(t);
    let bc2 = 1.0 - BETA2.powi(t);
    let ema_t = T::from_f64(s.ema_decay.min((1.0 + t as f64) / (10.0 + t as f64)));
    let (b1, b2) = (T::from_f64(BETA1), T::from_f64(BETA2));
    let (factor, lr, eps) = (T::from_f64(factor), T::from_f64(s.lr), T::from_f64(EPS));
    let (bc1, bc2) = (T::from_f64(bc1), T::from_f64(bc2));
    let shrink = T::from_f64(1.0 - s.lr * s.weight_decay);
    let one = T::from_f64(1.0);
    for (p, g) in params.iter_mut().zip(grads) {
        let moments = p.m.iter_mut().zip(p.v.iter_mut());
        for (((w, e), (m, v)), &g) in p.value.iter_mut().zip(p.ema.iter_mut()).zip(moments).zip(g) {
            let g = g * factor;
            *m = b1 * *m + (one - b1) * g;
            *v = b2 * *v + (one - b2) * g * g;
            let update = (*m / bc1) / ((*v / bc2).sqrt() + eps);
            *w = *w * shrink - lr * update;
            *e = ema_t * *e + (one - ema_t) * *w;
        }
    }
    norm
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
