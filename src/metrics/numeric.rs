//! Summation as numpy does it, so means agree with the reference to the last bit where possible.

/// `np.sum` of a float64 array: numpy's reduction walks the array in buffers of 8192 elements,
/// sums each buffer pairwise and adds the buffer sums in order.
pub fn pairwise_sum(a: &[f64]) -> f64 {
    a.chunks(8192)
        .fold(0.0, |s, chunk| s + pairwise_block(chunk))
}

/// numpy's pairwise summation of one buffer (`pairwise_sum_DOUBLE`, blocks of 128, 8-way
/// unrolled).
fn pairwise_block(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        a.iter().fold(0.0, |s, &x| s + x)
    } else if n <= 128 {
        let mut r = [0.0; 8];
        r.copy_from_slice(&a[..8]);
        let full = n - n % 8;
        let mut i = 8;
        while i < full {
            for (j, rj) in r.iter_mut().enumerate() {
                *rj += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &x in &a[full..] {
            res += x;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_block(&a[..n2]) + pairwise_block(&a[n2..])
    }
}

/// `np.average(a)`: NaN for an empty slice, as numpy returns.
pub fn mean(a: &[f64]) -> f64 {
    if a.is_empty() {
        return f64::NAN;
    }
    pairwise_sum(a) / a.len() as f64
}

/// Python's `sum(xs) / len(xs)` (left-to-right), 0 for an empty list as the reference guards.
pub fn python_mean_or_zero(a: &[f64]) -> f64 {
    if a.is_empty() {
        0.0
    } else {
        a.iter().fold(0.0, |s, &x| s + x) / a.len() as f64
    }
}

/// `num / den` as a float, 0 when `den` is 0 (the reference's guard for empty sets).
pub fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// The reference's `_f1(p, r)`: 0 when either is 0, else the harmonic mean (`2*p*r/(p+r)`).
pub fn f1(p: f64, r: f64) -> f64 {
    if p == 0.0 || r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `np.sum([((i * 0.618034) % 1.0) / 7.0 for i in range(20000)])` with numpy 1.23.5.
    const NUMPY_SUM_C: f64 = 1428.379999999208;

    #[test]
    fn pairwise_matches_plain_sum_on_exact_values() {
        for n in [0usize, 1, 7, 8, 9, 127, 128, 129, 300, 1000] {
            let v: Vec<f64> = (0..n).map(|i| i as f64).collect();
            assert_eq!(pairwise_sum(&v), (n * n.saturating_sub(1) / 2) as f64);
        }
    }

    #[test]
    fn pairwise_order_differs_from_sequential_like_numpy() {
        // numpy: np.sum([0.1]*10) == 1.0 exactly, while sequential summation gives 0.9999999999999999.
        let v = [0.1; 10];
        assert_eq!(pairwise_sum(&v), 1.0);
        assert_eq!(v.iter().sum::<f64>(), 0.9999999999999999);
        // Values printed by numpy 1.23.5 (np.sum / np.mean of the same lists).
        let a: Vec<f64> = (0..1000).map(|i| 1.0 / (i as f64 + 3.0)).collect();
        assert_eq!(pairwise_sum(&a), 5.987467865541362);
        assert_eq!(mean(&a), 0.0059874678655413615);
        let b: Vec<f64> = (0..300).map(|i| ((i as f64 * 0.37) % 1.0) * 1e-3).collect();
        assert_eq!(pairwise_sum(&b), 0.1484999999999998);
        // Past one 8192-element buffer numpy adds the buffer sums in order.
        let c: Vec<f64> = (0..20000)
            .map(|i| ((i as f64 * 0.618034) % 1.0) / 7.0)
            .collect();
        assert_eq!(pairwise_sum(&c), NUMPY_SUM_C);
    }

    #[test]
    fn f1_is_zero_when_a_side_is_zero() {
        assert_eq!(f1(0.0, 1.0), 0.0);
        assert_eq!(f1(1.0, 0.0), 0.0);
        assert_eq!(f1(0.5, 0.5), 0.5);
    }
}
