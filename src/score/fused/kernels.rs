//! Element-wise kernels of the fused engine, compiled three times (AVX-512, AVX2 + FMA, baseline)
//! and chosen at run time, so one binary uses the widest vectors the CPU has.
//!
//! Each kernel is a plain loop over `f32` slices written so that the compiler vectorises it; the
//! activation is matched once outside the loop. `exp` is a polynomial (below), since the C
//! library's `expf` is a scalar call that would cost as much as the matrix products.

use crate::score::mlp::Activation;
use std::sync::atomic::{AtomicU8, Ordering};

/// The instruction-set level found at run time (0 = not yet detected).
static LEVEL: AtomicU8 = AtomicU8::new(0);

/// Instruction-set levels the kernels are compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    /// AVX-512 F/BW/VL/DQ with AVX2 and FMA.
    V4 = 1,
    /// AVX2 and FMA.
    V3 = 2,
    /// Whatever the target guarantees.
    Base = 3,
}

/// The instruction-set level of this CPU (detected once).
pub(crate) fn level() -> Level {
    match LEVEL.load(Ordering::Relaxed) {
        1 => Level::V4,
        2 => Level::V3,
        3 => Level::Base,
        _ => {
            let found = detect();
            LEVEL.store(found as u8, Ordering::Relaxed);
            found
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Level {
    let v3 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
    let v4 = v3
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512dq");
    if v4 {
        Level::V4
    } else if v3 {
        Level::V3
    } else {
        Level::Base
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Level {
    Level::Base
}

/// Defines `$vis fn $name(args)` that runs `$body` compiled for the best level the CPU
/// supports (the body should be a plain loop the compiler can vectorise).
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn generic($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
                fn v4($($arg: $ty),*) {
                    generic($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn v3($($arg: $ty),*) {
                    generic($($arg),*)
                }
                use $crate::score::fused::kernels::{level, Level};
                match level() {
                    // SAFETY: `level` detected these features on this CPU
                    Level::V4 => unsafe { v4($($arg),*) },
                    // SAFETY: as above
                    Level::V3 => unsafe { v3($($arg),*) },
                    Level::Base => generic($($arg),*),
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            generic($($arg),*)
        }
    };
}

pub(crate) use multiversion;

const LOG2_E: f32 = std::f32::consts::LOG2_E;
// ln 2 split so that n·LN2_HI is exact for |n| < 2⁹ (Cody–Waite)
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// eˣ in f32 to about 2 ulp for x ∈ [−87, 88] (clamped outside; NaN stays NaN).
///
/// eˣ = 2ⁿ·eʳ with n = round(x·log₂e) and |r| ≤ ln2/2, eʳ from a degree-6 minimax polynomial
/// (the Cephes `expf` coefficients), 2ⁿ built in the exponent bits.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    // clamp keeps a NaN (min/max would not), so it reaches the polynomial and comes out NaN
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2_E).round_ties_even();
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let e = (p * r) * r + r + 1.0;
    // n ∈ [−126, 127], so n + 127 is a valid biased exponent (NaN converts to 0, harmlessly)
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// The logistic function 1/(1 + e⁻ˣ).
#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// √(2/π), the GELU tanh approximation's factor.
const GELU_K: f32 = 0.797_884_6;
/// The cubic coefficient of the GELU tanh approximation.
const GELU_C: f32 = 0.044_715;

/// An activation with its slope, as a type, so each loop is compiled for one activation.
trait Act {
    /// act(x) and act′(x) (the forms candle uses; GELU is its tanh approximation).
    fn value_and_slope(x: f32) -> (f32, f32);
}

struct Silu;
struct Elu;
struct Relu;
struct Gelu;
struct Tanh;

impl Act for Silu {
    #[inline(always)]
    fn value_and_slope(x: f32) -> (f32, f32) {
        let s = sigmoid(x);
        (x * s, s * (1.0 + x * (1.0 - s)))
    }
}

impl Act for Elu {
    #[inline(always)]
    fn value_and_slope(x: f32) -> (f32, f32) {
        let e = exp(x);
        if x >= 0.0 {
            (x, 1.0)
        } else {
            (e - 1.0, e)
        }
    }
}

impl Act for Relu {
    #[inline(always)]
    fn value_and_slope(x: f32) -> (f32, f32) {
        // NaN passes through, so a broken input still shows as a non-finite score
        if x < 0.0 {
            (0.0, 0.0)
        } else {
            (x, if x > 0.0 { 1.0 } else { 0.0 })
        }
    }
}

impl Act for Gelu {
    #[inline(always)]
    fn value_and_slope(x: f32) -> (f32, f32) {
        // ½x(1 + tanh u) = x·sigmoid(2u), u = √(2/π)(x + 0.044715x³)
        let u2 = 2.0 * GELU_K * (x + GELU_C * x * x * x);
        let s = sigmoid(u2);
        let du2 = 2.0 * GELU_K * (1.0 + 3.0 * GELU_C * x * x);
        (x * s, s + x * s * (1.0 - s) * du2)
    }
}

impl Act for Tanh {
    #[inline(always)]
    fn value_and_slope(x: f32) -> (f32, f32) {
        let th = 2.0 * sigmoid(2.0 * x) - 1.0;
        (th, 1.0 - th * th)
    }
}

/// `h ← act(h + b)` row-wise, with act′ into `slope` when given.
#[inline(always)]
fn activate<A: Act>(h: &mut [f32], b: &[f32], slope: Option<&mut [f32]>) {
    let w = b.len();
    match slope {
        None => {
            for row in h.chunks_exact_mut(w) {
                for (v, &bi) in row.iter_mut().zip(b) {
                    *v = A::value_and_slope(*v + bi).0;
                }
            }
        }
        Some(slope) => {
            for (row, srow) in h.chunks_exact_mut(w).zip(slope.chunks_exact_mut(w)) {
                for ((v, s), &bi) in row.iter_mut().zip(srow.iter_mut()).zip(b) {
                    let (a, da) = A::value_and_slope(*v + bi);
                    *v = a;
                    *s = da;
                }
            }
        }
    }
}

multiversion! {
    /// Row-wise `h ← act(h + b) (+ residual)` over rows of width `b.len()`, writing act′ to
    /// `slope` when given; without an activation, only the bias (and residual) is added.
    pub(crate) fn bias_activation(
        h: &mut [f32],
        b: &[f32],
        act: Option<Activation>,
        residual: Option<&[f32]>,
        slope: Option<&mut [f32]>,
    ) {
        match act {
            None => {
                for row in h.chunks_exact_mut(b.len()) {
                    for (v, &bi) in row.iter_mut().zip(b) {
                        *v += bi;
                    }
                }
            }
            Some(Activation::Silu) => activate::<Silu>(h, b, slope),
            Some(Activation::Elu) => activate::<Elu>(h, b, slope),
            Some(Activation::Relu) => activate::<Relu>(h, b, slope),
            Some(Activation::Gelu) => activate::<Gelu>(h, b, slope),
            Some(Activation::Tanh) => activate::<Tanh>(h, b, slope),
        }
        if let Some(res) = residual {
            for (v, &r) in h.iter_mut().zip(res) {
                *v += r;
            }
        }
    }
}

multiversion! {
    /// `dst ← dst ⊙ s (+ add)` for q tangents per point: `dst` holds P·q rows of width w, `s`
    /// P rows, and the q tangent rows of point p are scaled by row p of `s`.
    pub(crate) fn scale_tangents(dst: &mut [f32], s: &[f32], w: usize, q: usize, add: Option<&[f32]>) {
        for (block, srow) in dst.chunks_exact_mut(q * w).zip(s.chunks_exact(w)) {
            for row in block.chunks_exact_mut(w) {
                for (v, &si) in row.iter_mut().zip(srow) {
                    *v *= si;
                }
            }
        }
        if let Some(add) = add {
            for (v, &a) in dst.iter_mut().zip(add) {
                *v += a;
            }
        }
    }
}

multiversion! {
    /// `dst ← dst ⊙ s` element-wise.
    pub(crate) fn mul_assign(dst: &mut [f32], s: &[f32]) {
        for (v, &si) in dst.iter_mut().zip(s) {
            *v *= si;
        }
    }
}

multiversion! {
    /// `dst ← dst + src` element-wise.
    pub(crate) fn add_assign(dst: &mut [f32], src: &[f32]) {
        for (v, &a) in dst.iter_mut().zip(src) {
            *v += a;
        }
    }
}

multiversion! {
    /// `out[j] ← Σᵢ g[i·w + j]` over the rows of g (width w = `out.len()`), rows in order.
    pub(crate) fn column_sums(g: &[f32], out: &mut [f32]) {
        out.iter_mut().for_each(|v| *v = 0.0);
        for row in g.chunks_exact(out.len()) {
            for (o, &v) in out.iter_mut().zip(row) {
                *o += v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate_and_keeps_nan() {
        // oracle: f64 exp rounded to f32
        let mut worst = 0f64;
        for i in -8700..=8800 {
            let x = i as f32 * 0.01;
            let want = (x as f64).exp();
            let got = exp(x) as f64;
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 3.0 * f32::EPSILON as f64, "relative error {worst}");
        assert!(exp(f32::NAN).is_nan());
        assert_eq!(exp(-1000.0), exp(-87.0));
        assert!(exp(1000.0).is_finite());
    }

    #[test]
    fn activations_match_their_formulas_and_slopes() {
        // oracle: the f64 formulas, and central differences of them for the slopes
        let f64_act = |act: Activation, x: f64| -> f64 {
            match act {
                Activation::Silu => x / (1.0 + (-x).exp()),
                Activation::Elu => {
                    if x >= 0.0 {
                        x
                    } else {
                        x.exp() - 1.0
                    }
                }
                Activation::Relu => x.max(0.0),
                Activation::Gelu => {
                    0.5 * x
                        * (1.0
                            + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3)))
                                .tanh())
                }
                Activation::Tanh => x.tanh(),
            }
        };
        for act in [
            Activation::Silu,
            Activation::Elu,
            Activation::Relu,
            Activation::Gelu,
            Activation::Tanh,
        ] {
            let xs: Vec<f32> = (-400..=400).map(|i| i as f32 * 0.0213 + 0.001).collect();
            let mut h = xs.clone();
            let mut slope = vec![0.0; xs.len()];
            bias_activation(&mut h, &[0.0], Some(act), None, Some(&mut slope));
            let mut plain = xs.clone();
            bias_activation(&mut plain, &[0.0], Some(act), None, None);
            assert_eq!(h, plain, "{act:?}: values with and without slopes");
            for ((&x, &v), &s) in xs.iter().zip(&h).zip(&slope) {
                let x = x as f64;
                let want = f64_act(act, x);
                assert!(
                    (v as f64 - want).abs() < 4e-7 * (1.0 + want.abs()),
                    "{act:?}({x}) = {v} vs {want}"
                );
                let e = 1e-5;
                let fd = (f64_act(act, x + e) - f64_act(act, x - e)) / (2.0 * e);
                assert!(
                    (s as f64 - fd).abs() < 1e-5 * (1.0 + fd.abs()),
                    "{act:?}'({x}) = {s} vs {fd}"
                );
            }
        }
        let mut nan = vec![f32::NAN];
        bias_activation(&mut nan, &[0.0], Some(Activation::Relu), None, None);
        assert!(nan[0].is_nan());
    }

    #[test]
    fn bias_residual_and_row_kernels() {
        let mut h = vec![1.0, 2.0, 3.0, 4.0];
        bias_activation(
            &mut h,
            &[0.5, -0.5],
            None,
            Some(&[1.0, 1.0, 1.0, 1.0]),
            None,
        );
        assert_eq!(h, vec![2.5, 2.5, 4.5, 4.5]);
        let mut h = vec![-1.0, 2.0];
        let mut s = vec![0.0; 2];
        bias_activation(
            &mut h,
            &[0.0, 0.0],
            Some(Activation::Relu),
            Some(&[10.0, 10.0]),
            Some(&mut s),
        );
        assert_eq!((h, s), (vec![10.0, 12.0], vec![0.0, 1.0]));
        // two points with three tangents each, width 2
        let mut t: Vec<f32> = (0..12).map(|i| i as f32).collect();
        scale_tangents(&mut t, &[1.0, 2.0, 3.0, 4.0], 2, 3, None);
        assert_eq!(
            t,
            vec![0.0, 2.0, 2.0, 6.0, 4.0, 10.0, 18.0, 28.0, 24.0, 36.0, 30.0, 44.0]
        );
        let mut sums = vec![0.0; 2];
        column_sums(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &mut sums);
        assert_eq!(sums, vec![9.0, 12.0]);
    }
}
