//! KernelSHAP (Lundberg & Lee 2017) on words: Shapley values of the target probability, a
//! word being absent when it is deleted (as occlusion and LIME delete words). The Shapley
//! kernel π(z) = (M − 1) / (C(M, |z|) |z| (M − |z|)) weighs coalitions z of the M words in a
//! least-squares fit constrained to φ(∅) = f(∅) and Σφ = f(all) − f(∅). With at most `samples`
//! proper coalitions in all (M ≤ 11 at the default budget) every one is enumerated and the
//! values are the exact Shapley values; otherwise coalitions are drawn (seeded) with sizes in
//! proportion to the kernel's mass and uniform members, each with its complement, and weigh
//! equally.

use super::lime::{masked_inputs, target_probs};
use super::{ExplainError, Result};
use crate::models::{Classifier, Encoded};
use linfa_linalg::cholesky::SolveCInplace;
use ndarray::{Array1, Array2, Axis};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The default budget of coalitions for M words (the `shap` package's `nsamples="auto"`).
pub fn default_samples(words: usize) -> usize {
    2 * words + 2048
}

/// Shapley value per dataset token (words the model never sees score 0).
pub fn explain<M: Classifier + ?Sized>(
    model: &M,
    enc: &Encoded,
    target: usize,
    samples: Option<usize>,
    seed: u64,
) -> Result<Vec<f32>> {
    let mut feats: Vec<usize> = enc.word_of.iter().flatten().copied().collect();
    feats.dedup();
    let m = feats.len();
    let mut out = vec![0f32; enc.n_words];
    if m == 0 {
        return Ok(out);
    }
    let budget = samples.unwrap_or_else(|| default_samples(m)).max(2);
    let (z, w) = coalitions(m, budget, seed);
    // f for every coalition, then for none and for all words.
    let mut inputs = masked_inputs(enc, &feats, &z);
    inputs.push(enc.keep_words(|w| !feats.contains(&w)).ids);
    inputs.push(enc.ids.clone());
    let f = target_probs(model, inputs, target)?;
    let n = z.nrows();
    let (f_none, f_all) = (f[n], f[n + 1]);
    let total = f_all - f_none;
    if m == 1 {
        out[feats[0]] = total as f32;
        return Ok(out);
    }
    // Eliminate the last word: φ_M = total − Σ_{i<M} φ_i, so
    // f(z) − f(∅) − z_M·total = Σ_{i<M} φ_i (z_i − z_M).
    let last = z.column(m - 1).to_owned();
    let x = &z.slice(ndarray::s![.., ..m - 1]) - &last.view().insert_axis(Axis(1));
    let y = &f.slice(ndarray::s![..n]) - f_none - &(&last * total);
    let phi = weighted_least_squares(&x, &y, &w)?;
    let rest: f64 = phi.sum();
    for (i, &word) in feats.iter().enumerate() {
        let v = if i + 1 == m { total - rest } else { phi[i] };
        out[word] = v as f32;
    }
    Ok(out)
}

/// Coalitions (rows of 0/1 over the M words, neither empty nor full) and their weights.
fn coalitions(m: usize, budget: usize, seed: u64) -> (Array2<f64>, Array1<f64>) {
    let proper = if m < 63 { (1u64 << m) - 2 } else { u64::MAX };
    if proper <= budget as u64 {
        let n = proper as usize;
        let mut z = Array2::zeros((n, m));
        let mut w = Array1::zeros(n);
        for (r, mask) in (1..=proper).enumerate() {
            let mut size = 0;
            for i in 0..m {
                if mask >> i & 1 == 1 {
                    z[[r, i]] = 1.0;
                    size += 1;
                }
            }
            w[r] = kernel(m, size);
        }
        return (z, w);
    }
    // Sizes in proportion to the kernel's total mass per size, (M − 1) / (s (M − s)).
    let mass: Vec<f64> = (1..m).map(|s| 1.0 / (s * (m - s)) as f64).collect();
    let sum: f64 = mass.iter().sum();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let pairs = budget.div_ceil(2);
    let mut z = Array2::zeros((2 * pairs, m));
    let mut idx: Vec<usize> = (0..m).collect();
    for p in 0..pairs {
        let mut u = rng.gen::<f64>() * sum;
        let mut size = m - 1;
        for (s, &q) in mass.iter().enumerate() {
            if u < q {
                size = s + 1;
                break;
            }
            u -= q;
        }
        idx.shuffle(&mut rng);
        for i in 0..m {
            z[[2 * p + 1, i]] = 1.0;
        }
        for &i in &idx[..size] {
            z[[2 * p, i]] = 1.0;
            z[[2 * p + 1, i]] = 0.0;
        }
    }
    let n = z.nrows();
    (z, Array1::ones(n))
}

/// The Shapley kernel weight of a coalition of `size` of `m` words (0 < size < m).
fn kernel(m: usize, size: usize) -> f64 {
    let mut binom = 1f64;
    for i in 0..size {
        binom = binom * (m - i) as f64 / (i + 1) as f64;
    }
    (m - 1) as f64 / (binom * (size * (m - size)) as f64)
}

/// argmin_β Σ w (y − xβ)², by Cholesky of XᵀWX (a relative 1e-10 jitter on the diagonal
/// keeps directions no coalition separates at 0 instead of failing).
fn weighted_least_squares(
    x: &Array2<f64>,
    y: &Array1<f64>,
    w: &Array1<f64>,
) -> Result<Array1<f64>> {
    let xw = x * &w.view().insert_axis(Axis(1));
    let mut a = xw.t().dot(x);
    let jitter = 1e-10 * a.diag().iter().fold(0f64, |m, v| m.max(*v)).max(1e-300);
    a.diag_mut().mapv_inplace(|v| v + jitter);
    let b = xw.t().dot(y);
    let sol = a
        .solvec_into(b.insert_axis(Axis(1)))
        .map_err(|e| ExplainError::Config(format!("KernelSHAP regression: {e}")))?;
    Ok(sol.column(0).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::Result as ModelResult;
    use ndarray::Array2 as A2;

    /// p(target) = a fixed function of which words are present (ids 10.. are words 0..).
    struct Game(fn(&[bool]) -> f32, usize);

    impl Classifier for Game {
        fn labels(&self) -> &[String] {
            &[]
        }
        fn predict_proba(&self, batch: &[&[u32]]) -> ModelResult<A2<f32>> {
            let mut out = A2::zeros((batch.len(), 2));
            for (r, ids) in batch.iter().enumerate() {
                let present: Vec<bool> = (0..self.1)
                    .map(|i| ids.contains(&(10 + i as u32)))
                    .collect();
                out[[r, 1]] = (self.0)(&present);
                out[[r, 0]] = 1.0 - out[[r, 1]];
            }
            Ok(out)
        }
    }

    fn encoded(m: usize) -> Encoded {
        let mut ids = vec![1];
        let mut word_of = vec![None];
        for i in 0..m {
            ids.push(10 + i as u32);
            word_of.push(Some(i));
        }
        Encoded {
            ids,
            word_of,
            n_words: m,
            pad_id: 0,
        }
    }

    /// Shapley values by their definition: weighted marginal contributions over all subsets.
    fn exact(f: fn(&[bool]) -> f32, m: usize) -> Vec<f64> {
        let fact = |n: usize| (1..=n).map(|k| k as f64).product::<f64>();
        (0..m)
            .map(|i| {
                let mut v = 0.0;
                for mask in 0u32..(1 << m) {
                    if mask >> i & 1 == 1 {
                        continue;
                    }
                    let s: Vec<bool> = (0..m).map(|j| mask >> j & 1 == 1).collect();
                    let mut with = s.clone();
                    with[i] = true;
                    let k = s.iter().filter(|b| **b).count();
                    let weight = fact(k) * fact(m - k - 1) / fact(m);
                    v += weight * f64::from(f(&with) - f(&s));
                }
                v
            })
            .collect()
    }

    fn game(p: &[bool]) -> f32 {
        let x: Vec<f32> = p.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect();
        // interactions, so Shapley values differ from leave-one-out
        0.1 + 0.2 * x[0] + 0.1 * x[1] * x[2] + 0.3 * x[3] * x[0] - 0.05 * x[4]
            + 0.15 * x[1] * x[4] * x[5]
    }

    #[test]
    fn small_inputs_give_the_exact_shapley_values() {
        let m = 6;
        let ours = explain(&Game(game, m), &encoded(m), 1, None, 1).unwrap();
        for (o, e) in ours.iter().zip(exact(game, m)) {
            assert!(
                (f64::from(*o) - e).abs() < 1e-5,
                "{ours:?} vs {:?}",
                exact(game, m)
            );
        }
    }

    #[test]
    fn sampled_values_are_efficient_and_near_the_exact_ones() {
        let m = 6;
        // 40 coalitions of the 62: sampled, yet Σφ = f(all) − f(∅) holds exactly.
        let ours = explain(&Game(game, m), &encoded(m), 1, Some(40), 3).unwrap();
        let all = vec![true; m];
        let none = vec![false; m];
        let sum: f32 = ours.iter().sum();
        assert!((sum - (game(&all) - game(&none))).abs() < 1e-5);
        for (o, e) in ours.iter().zip(exact(game, m)) {
            assert!(
                (f64::from(*o) - e).abs() < 0.05,
                "{ours:?} vs {:?}",
                exact(game, m)
            );
        }
    }
}
