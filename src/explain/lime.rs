//! LIME for text (Ribeiro et al. 2016) as its reference implementation does it: perturbations
//! delete a uniformly drawn number of random words, samples are weighted by
//! √exp(−d²/w²) with d = cosine distance × 100 to the full input, and a ridge regression
//! (α = 1, with intercept) of the target probability on the kept-word indicators gives the scores.

use super::Result;
use crate::models::{Classifier, Encoded};
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
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut z = vec![vec![1f64; d]];
    for _ in 1..samples {
        let remove = rng.gen_range(1..=d);
        let mut idx: Vec<usize> = (0..d).collect();
        idx.shuffle(&mut rng);
        let mut row = vec![1f64; d];
        for &i in &idx[..remove] {
            row[i] = 0.0;
        }
        z.push(row);
    }
    let pos: std::collections::HashMap<usize, usize> =
        feats.iter().enumerate().map(|(i, w)| (*w, i)).collect();
    let variants: Vec<Vec<u32>> = z
        .iter()
        .map(|row| {
            enc.keep_words(|w| pos.get(&w).is_none_or(|&i| row[i] > 0.0))
                .ids
        })
        .collect();
    let refs: Vec<&[u32]> = variants.iter().map(Vec::as_slice).collect();
    let probs = model.predict_proba(&refs)?;
    let y: Vec<f64> = probs.iter().map(|p| p[target] as f64).collect();
    let w: Vec<f64> = z
        .iter()
        .map(|row| {
            let k: f64 = row.iter().sum();
            let dist = (1.0 - (k / d as f64).sqrt()) * 100.0;
            (-(dist * dist) / (kernel_width * kernel_width))
                .exp()
                .sqrt()
        })
        .collect();
    let beta = weighted_ridge(&z, &y, &w, 1.0);
    for (i, &word) in feats.iter().enumerate() {
        out[word] = beta[i] as f32;
    }
    Ok(out)
}

/// Weighted ridge regression with an unpenalised intercept (as scikit-learn's `Ridge` with
/// `sample_weight`), solved in the dual: β = Zᵀ(ZZᵀ + αI)⁻¹u with Z, u the weighted, centred
/// data. Returns the coefficients (without the intercept).
pub fn weighted_ridge(x: &[Vec<f64>], y: &[f64], w: &[f64], alpha: f64) -> Vec<f64> {
    let n = x.len();
    let d = x.first().map_or(0, Vec::len);
    let sw: f64 = w.iter().sum();
    let xm: Vec<f64> = (0..d)
        .map(|j| x.iter().zip(w).map(|(r, wi)| r[j] * wi).sum::<f64>() / sw)
        .collect();
    let ym: f64 = y.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() / sw;
    let z: Vec<Vec<f64>> = x
        .iter()
        .zip(w)
        .map(|(r, wi)| {
            r.iter()
                .zip(&xm)
                .map(|(v, m)| (v - m) * wi.sqrt())
                .collect()
        })
        .collect();
    let u: Vec<f64> = y
        .iter()
        .zip(w)
        .map(|(v, wi)| (v - ym) * wi.sqrt())
        .collect();
    let mut k = vec![vec![0f64; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let v: f64 = z[i].iter().zip(&z[j]).map(|(a, b)| a * b).sum();
            k[i][j] = v;
            k[j][i] = v;
        }
        k[i][i] += alpha;
    }
    let c = cholesky_solve(k, u);
    (0..d)
        .map(|j| z.iter().zip(&c).map(|(r, ci)| r[j] * ci).sum())
        .collect()
}

/// Solves A·x = b for symmetric positive definite A.
#[allow(clippy::needless_range_loop)]
fn cholesky_solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for j in 0..n {
        let mut s = a[j][j];
        for k in 0..j {
            s -= a[j][k] * a[j][k];
        }
        let l = s.max(1e-300).sqrt();
        a[j][j] = l;
        for i in j + 1..n {
            let mut s = a[i][j];
            for k in 0..j {
                s -= a[i][k] * a[j][k];
            }
            a[i][j] = s / l;
        }
    }
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= a[i][k] * b[k];
        }
        b[i] = s / a[i][i];
    }
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= a[k][i] * b[k];
        }
        b[i] = s / a[i][i];
    }
    b
}
