//! LIME for text (Ribeiro et al. 2016) as its reference implementation does it: perturbations
//! delete a uniformly drawn number of random words, samples are weighted by
//! √exp(−d²/w²) with d = cosine distance × 100 to the full input, and a ridge regression
//! (α = 1, with intercept) of the target probability on the kept-word indicators gives the scores.

use super::{ExplainError, Result};
use crate::models::{Classifier, Encoded};
use linfa_linalg::cholesky::SolveCInplace;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// LIME coefficient per dataset token (words the model never sees score 0).
pub fn explain<M: Classifier + ?Sized>(
    model: &M,
    enc: &Encoded,
    target: usize,
    samples: usize,
    kernel_width: f64,
    seed: u64,
) -> Result<Vec<f32>> {
    let mut feats: Vec<usize> = enc.word_of.iter().flatten().copied().collect();
    feats.dedup();
    let d = feats.len();
    let mut out = vec![0f32; enc.n_words];
    if d == 0 {
        return Ok(out);
    }
    // Design matrix (samples, features): 1 = word kept; the first sample is the full input.
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut z = Array2::<f64>::ones((samples, d));
    for mut row in z.rows_mut().into_iter().skip(1) {
        let remove = rng.gen_range(1..=d);
        let mut idx: Vec<usize> = (0..d).collect();
        idx.shuffle(&mut rng);
        for &i in &idx[..remove] {
            row[i] = 0.0;
        }
    }
    let y = target_probs(model, masked_inputs(enc, &feats, &z), target)?;
    let w = z.sum_axis(Axis(1)).mapv(|k| {
        let dist = (1.0 - (k / d as f64).sqrt()) * 100.0;
        (-(dist * dist) / (kernel_width * kernel_width))
            .exp()
            .sqrt()
    });
    let beta = weighted_ridge(z.view(), y.view(), w.view(), 1.0)?;
    for (&word, &b) in feats.iter().zip(&beta) {
        out[word] = b as f32;
    }
    Ok(out)
}

/// For each row of `z` (one 0/1 flag per word of `feats`), the input with the flagged-off
/// words deleted (words not in `feats` stay).
pub(super) fn masked_inputs(enc: &Encoded, feats: &[usize], z: &Array2<f64>) -> Vec<Vec<u32>> {
    let pos: std::collections::HashMap<usize, usize> =
        feats.iter().enumerate().map(|(i, w)| (*w, i)).collect();
    z.rows()
        .into_iter()
        .map(|row| {
            enc.keep_words(|w| pos.get(&w).is_none_or(|&i| row[i] > 0.0))
                .ids
        })
        .collect()
}

/// The probability of class `target` for each input.
pub(super) fn target_probs<M: Classifier + ?Sized>(
    model: &M,
    inputs: Vec<Vec<u32>>,
    target: usize,
) -> Result<Array1<f64>> {
    let refs: Vec<&[u32]> = inputs.iter().map(Vec::as_slice).collect();
    let probs = model.predict_proba(&refs)?;
    if target >= probs.ncols() {
        return Err(ExplainError::Config(format!(
            "target class {target} out of range (the model has {} classes)",
            probs.ncols()
        )));
    }
    Ok(probs.column(target).mapv(f64::from))
}

/// Weighted ridge regression with an unpenalised intercept (as scikit-learn's `Ridge` with
/// `sample_weight`), solved in the dual: β = Zᵀ(ZZᵀ + αI)⁻¹u with Z, u the weighted, centred
/// data, by a Cholesky factorisation. `x` is (samples, features); returns the coefficients
/// (without the intercept). `alpha` must be > 0.
pub fn weighted_ridge(
    x: ArrayView2<f64>,
    y: ArrayView1<f64>,
    w: ArrayView1<f64>,
    alpha: f64,
) -> Result<Array1<f64>> {
    let sw = w.sum();
    let xm = x.t().dot(&w) / sw;
    let ym = y.dot(&w) / sw;
    let sqrt_w = w.mapv(f64::sqrt);
    let z = (&x - &xm) * sqrt_w.view().insert_axis(Axis(1));
    let u = (&y - ym) * &sqrt_w;
    let mut k = z.dot(&z.t());
    k.diag_mut().mapv_inplace(|v| v + alpha);
    let c = k
        .solvec_into(u.insert_axis(Axis(1)))
        .map_err(|e| ExplainError::Config(format!("ridge regression with alpha = {alpha}: {e}")))?;
    Ok(z.t().dot(&c.column(0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn ridge_with_one_feature_has_the_closed_form() {
        // β = Σw(x−x̄)(y−ȳ) / (Σw(x−x̄)² + α), with weighted means x̄, ȳ.
        let x: Array2<f64> = array![[1.0], [0.0], [2.0], [3.0]];
        let y = array![0.5, -1.0, 2.0, 2.5];
        let w = array![1.0, 0.5, 2.0, 0.25];
        let alpha = 1.0;
        let sw = w.sum();
        let xm = x.column(0).dot(&w) / sw;
        let ym = y.dot(&w) / sw;
        let (mut num, mut den) = (0.0f64, alpha);
        for i in 0..4 {
            num += w[i] * (x[[i, 0]] - xm) * (y[i] - ym);
            den += w[i] * (x[[i, 0]] - xm).powi(2);
        }
        let beta = weighted_ridge(x.view(), y.view(), w.view(), alpha).unwrap();
        assert_eq!(beta.len(), 1);
        assert!(
            (beta[0] - num / den).abs() < 1e-12,
            "{beta} vs {}",
            num / den
        );
    }

    #[test]
    fn ridge_without_penalty_on_a_singular_system_is_an_error() {
        // Two identical samples: ZZᵀ is singular, and α = 0 adds nothing.
        let x = array![[1.0, 0.0], [1.0, 0.0]];
        let r = weighted_ridge(
            x.view(),
            array![1.0, 1.0].view(),
            array![1.0, 1.0].view(),
            0.0,
        );
        assert!(matches!(r, Err(ExplainError::Config(_))), "{r:?}");
    }
}
