//! Branch-free f32 `exp`, `sigmoid` and `tanh` that the compiler can vectorize in loops (the
//! libm calls cannot be), for the GRU's gate loops.
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
