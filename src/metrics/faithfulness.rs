//! Faithfulness of one prediction: comprehensiveness, sufficiency, their entropy and KL
//! variants, and AOPC deltas, as the reference computes them (scipy's `entropy`).

use super::numeric::pairwise_sum;

/// scipy's `entr(x)`: −x·ln x, 0 at 0, −∞ below.
fn entr(x: f64) -> f64 {
    if x.is_nan() {
        x
    } else if x > 0.0 {
        -x * x.ln()
    } else if x == 0.0 {
        0.0
    } else {
        f64::NEG_INFINITY
    }
}

/// scipy's `rel_entr(x, y)`: x·ln(x/y), 0 when x = 0 ≤ y, +∞ otherwise.
fn rel_entr(x: f64, y: f64) -> f64 {
    if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x > 0.0 && y > 0.0 {
        x * (x / y).ln()
    } else if x == 0.0 && y >= 0.0 {
        0.0
    } else {
        f64::INFINITY
    }
}

fn normalised(p: &[f64]) -> Vec<f64> {
    let s = pairwise_sum(p);
    p.iter().map(|&x| 1.0 * x / s).collect()
}

/// `scipy.stats.entropy(p)` in nats, after normalising `p` to sum 1.
pub fn entropy(p: &[f64]) -> f64 {
    let v: Vec<f64> = normalised(p).into_iter().map(entr).collect();
    pairwise_sum(&v)
}

/// `scipy.stats.entropy(p, q)` = KL(p ‖ q), both normalised first.
pub fn kl_divergence(p: &[f64], q: &[f64]) -> f64 {
    let (p, q) = (normalised(p), normalised(q));
    let v: Vec<f64> = p.iter().zip(&q).map(|(&a, &b)| rel_entr(a, b)).collect();
    pairwise_sum(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_of_uniform_is_ln_n() {
        assert!((entropy(&[1.0, 1.0, 1.0, 1.0]) - 4f64.ln()).abs() < 1e-15);
        assert_eq!(entropy(&[1.0, 0.0]), 0.0);
    }

    #[test]
    fn kl_is_zero_for_equal_and_infinite_on_missing_support() {
        assert_eq!(kl_divergence(&[0.2, 0.8], &[0.2, 0.8]), 0.0);
        assert_eq!(kl_divergence(&[0.5, 0.5], &[1.0, 0.0]), f64::INFINITY);
        // Unnormalised inputs are normalised, as scipy does.
        assert!((kl_divergence(&[1.0, 3.0], &[0.25, 0.75])).abs() < 1e-15);
    }
}
