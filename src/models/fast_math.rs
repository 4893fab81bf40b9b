//! Branch-free f32 `exp`, `sigmoid`, `tanh` and `erf` that the compiler can vectorize in loops
//! (the libm calls cannot be), for the GRU's gate loops and transformer inference's GELU.
//!
//! `exp` is Cephes' `expf`: x = n·ln2 + g with n rounded to nearest, e^g by a degree-7
//! polynomial, 2^n put in the exponent bits; relative error about 2e-7 on [−87, 88], and the
//! argument is clamped there (below, the result is ≈ 1.6e-38 instead of 0, which no gate notices).

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split in a high part exact in f32 and the rest.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Adding and subtracting 1.5·2^23 rounds an f32 of magnitude < 2^22 to the nearest integer.
const ROUND: f32 = 12_582_912.0;
/// The bits of `ROUND`.
const ROUND_BITS: u32 = 0x4B40_0000;

/// Runs `f` compiled for AVX-512, or else AVX2, when the CPU has it, so that the loops inlined
/// into it vectorize 16 or 8 wide (the crate is built for baseline x86-64); elsewhere as it is.
/// Mark the closure `#[inline(always)]`: it is called from three places here, so the compiler
/// may keep a large one as a function of its own, compiled for the baseline (SSE, 4 wide).
#[inline(always)]
pub(crate) fn simd<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above).
            return unsafe { avx512(f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            return unsafe { avx2(f) };
        }
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// `x += y`, element by element.
#[inline(always)]
pub fn add(x: &mut [f32], y: &[f32]) {
    x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
}

/// Lanes of the reductions below: independent running values the compiler keeps in one vector.
const LANES: usize = 16;

/// Σ x, summed in 16 interleaved partial sums (so the loop vectorizes).
#[inline(always)]
pub fn sum(x: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        acc.iter_mut().zip(c).for_each(|(a, v)| *a += v);
    }
    acc.iter().sum::<f32>() + rest
}

/// Σ a·b over the shorter length, in 16 interleaved partial sums.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let rest: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// max x (−∞ for an empty slice), by 16 interleaved running maxima.
#[inline(always)]
pub fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks
        .remainder()
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    for c in chunks {
        acc.iter_mut()
            .zip(c)
            .for_each(|(a, &v)| *a = if v > *a { v } else { *a });
    }
    acc.iter().copied().fold(rest, f32::max)
}

/// ln Σ e^x, from the maximum (−∞ for an empty slice); [`exp`]'s accuracy.
#[inline(always)]
pub fn log_sum_exp(x: &[f32]) -> f32 {
    let m = max(x);
    if m == f32::NEG_INFINITY {
        return m;
    }
    let mut acc = [0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest: f32 = chunks.remainder().iter().map(|&v| exp(v - m)).sum();
    for c in chunks {
        acc.iter_mut().zip(c).for_each(|(a, &v)| *a += exp(v - m));
    }
    m + (acc.iter().sum::<f32>() + rest).ln()
}

/// e^x (see the module note for range and accuracy).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // Selects, not `clamp` (NaN stays NaN) and no float → int cast (a saturating cast), so
    // loops over this vectorize.
    let x = if x > 88.0 { 88.0 } else { x };
    let x = if x < -87.0 { -87.0 } else { x };
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let g = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_2e-4_f32;
    let p = p * g + 1.398_2e-3;
    let p = p * g + 8.333_452e-3;
    let p = p * g + 4.166_579_6e-2;
    let p = p * g + 0.166_666_65;
    let p = p * g + 0.5;
    let p = p * g * g + g + 1.0;
    // The low bits of `shifted` hold n + 2^22 + 2^23 (n ∈ [−126, 127] here): 2^n's exponent.
    let scale = f32::from_bits(shifted.to_bits().wrapping_sub(ROUND_BITS - 127) << 23);
    p * scale
}

/// 1 / (1 + e^−x).
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// tanh x = 1 − 2 / (e^{2x} + 1); absolute error below 1e-6.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * x) + 1.0)
}

/// erf x: its Maclaurin series below |x| = 0.5, Abramowitz & Stegun 7.1.26 above (absolute
/// error below 5e-7 in f32).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let p = 1.061_405_4_f32;
    let p = p * t - 1.453_152_1;
    let p = p * t + 1.421_413_8;
    let p = p * t - 0.284_496_74;
    let p = p * t + 0.254_829_6;
    let y = 1.0 - p * t * exp(-a * a);
    let y = if x < 0.0 { -y } else { y };
    // Near 0 that form cancels; the Maclaurin series to x¹¹ is exact to 2e-8 there.
    let x2 = x * x;
    let s = 1.0 / 1320.0;
    let s = -s * x2 + 1.0 / 216.0;
    let s = s * x2 - 1.0 / 42.0;
    let s = s * x2 + 0.1;
    let s = s * x2 - 1.0 / 3.0;
    let s = (s * x2 + 1.0) * x * std::f32::consts::FRAC_2_SQRT_PI;
    if a < 0.5 {
        s
    } else {
        y
    }
}

/// GELU with the exact erf form, 0.5 x (1 + erf(x / √2)), through [`erf`].
#[inline(always)]
pub fn gelu_erf(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// GELU's tanh approximation (`gelu_new`), through [`tanh`].
#[inline(always)]
pub fn gelu_tanh(x: f32) -> f32 {
    const C: f32 = 0.797_884_6; // √(2/π)
    0.5 * x * (1.0 + tanh(C * (x + 0.044_715 * x * x * x)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> impl Iterator<Item = f32> {
        (-200_000..=200_000).map(|i| i as f32 * 1e-4)
    }

    #[test]
    fn exp_is_within_a_few_ulps_of_std() {
        for x in (-870_000..=880_000).map(|i| i as f32 * 1e-4) {
            let (a, b) = (exp(x), x.exp());
            assert!(((a - b) / b).abs() < 5e-7, "exp({x}) = {a}, std {b}");
        }
    }

    /// erf in f64 by its Maclaurin series (|x| ≤ 4; beyond, erf = ±1 within 2e-8).
    fn erf64(x: f64) -> f64 {
        if x.abs() > 4.0 {
            return x.signum();
        }
        let (mut term, mut sum) = (x, x);
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn erf_and_gelu_match_the_exact_forms() {
        for x in grid() {
            let e = erf64(f64::from(x));
            assert!(
                (f64::from(erf(x)) - e).abs() < 5e-7,
                "erf({x}) = {}, libm {e}",
                erf(x)
            );
            let g = 0.5 * f64::from(x) * (1.0 + erf64(f64::from(x) / 2f64.sqrt()));
            assert!(
                (f64::from(gelu_erf(x)) - g).abs() < 1e-6 * (1.0 + g.abs()),
                "gelu({x})"
            );
            let c = (2.0 / std::f64::consts::PI).sqrt();
            let x64 = f64::from(x);
            let t = 0.5 * x64 * (1.0 + (c * (x64 + 0.044715 * x64.powi(3))).tanh());
            assert!(
                (f64::from(gelu_tanh(x)) - t).abs() < 2e-6 * (1.0 + t.abs()),
                "gelu_new({x})"
            );
        }
    }

    #[test]
    fn sigmoid_and_tanh_match_std_to_1e6() {
        for x in grid() {
            let s = 1.0 / (1.0 + (-x as f64).exp());
            assert!((sigmoid(x) as f64 - s).abs() < 1e-6, "sigmoid({x})");
            assert!(
                (tanh(x) as f64 - (x as f64).tanh()).abs() < 1e-6,
                "tanh({x})"
            );
        }
        for x in [-1e30f32, -500.0, 500.0, 1e30, f32::MIN, f32::MAX] {
            assert!(sigmoid(x).is_finite() && tanh(x).is_finite(), "{x}");
            assert!((tanh(x).abs() - 1.0).abs() < 1e-6 && (sigmoid(x) - 0.5).abs() > 0.49);
        }
        assert!(exp(f32::NAN).is_nan() && sigmoid(f32::NAN).is_nan() && tanh(f32::NAN).is_nan());
        assert_eq!(ROUND.to_bits(), ROUND_BITS);
    }
}
