//! Noise injection between generator and predictor (Storek et al., ACL 2023), as their code
//! does it (`research/selective.md` §1.4), over model token ids of the training split:
//!
//! 1. idf(w) = ln(N_docs / df(w));
//! 2. per document of length n, s_i = (count(w_i in d) / n) · idf(w_i), C_d = max_j s_j and the
//!    rarity weight **r_i = n · (C_d − s_i) / Σ_j (C_d − s_j)** (mean 1 over the document; a
//!    document whose words all score the same gets r_i = 1);
//! 3. corpus score S(w) = (Σ_d count(w in d) / |d|) · idf(w);
//! 4. noise distribution **q(w) = (max_v S(v) − S(w)) / Σ_v (max_v S(v) − S(v))**
//!    (uninformative words are the likeliest noise; the top-scoring word never is);
//! 5. online, training only: each selected token is replaced with probability
//!    **p_i = min(1, p · r_i)** by a draw from q.
//!
//! With the word-level tokenizers trained here, model tokens are the lower-cased dataset words
//! (out-of-vocabulary words share `[UNK]`); with a sub-word tokenizer the statistics are over
//! word pieces. Special tokens are excluded from the statistics and from q.

use rand::Rng;
use std::collections::{HashMap, HashSet};

/// Corpus statistics for noise injection, computed once from the training split.
#[derive(Debug, Clone)]
pub struct NoiseModel {
    idf: HashMap<u32, f64>,
    vocab: Vec<u32>,
    /// Cumulative q over `vocab`.
    cumulative: Vec<f64>,
    q: HashMap<u32, f64>,
}

impl NoiseModel {
    /// Statistics of `docs` (token id sequences); ids in `exclude` (padding, unknown, specials)
    /// are left out. Returns `None` when the documents hold no usable token.
    pub fn fit(docs: &[Vec<u32>], exclude: &HashSet<u32>) -> Option<Self> {
        let docs: Vec<Vec<u32>> = docs
            .iter()
            .map(|d| d.iter().copied().filter(|w| !exclude.contains(w)).collect())
            .filter(|d: &Vec<u32>| !d.is_empty())
            .collect();
        if docs.is_empty() {
            return None;
        }
        let n_docs = docs.len() as f64;
        let mut df: HashMap<u32, usize> = HashMap::new();
        let mut tf_sum: HashMap<u32, f64> = HashMap::new();
        for d in &docs {
            let counts = counts(d);
            let n = d.len() as f64;
            for (w, c) in counts {
                *df.entry(w).or_default() += 1;
                *tf_sum.entry(w).or_default() += c as f64 / n;
            }
        }
        let idf: HashMap<u32, f64> = df
            .iter()
            .map(|(w, c)| (*w, (n_docs / *c as f64).ln()))
            .collect();
        let mut vocab: Vec<u32> = idf.keys().copied().collect();
        vocab.sort_unstable();
        let score: Vec<f64> = vocab.iter().map(|w| tf_sum[w] * idf[w]).collect();
        let max = score.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let total: f64 = score.iter().map(|s| max - s).sum();
        let probs: Vec<f64> = if total > 0.0 {
            score.iter().map(|s| (max - s) / total).collect()
        } else {
            vec![1.0 / vocab.len() as f64; vocab.len()]
        };
        let mut acc = 0.0;
        let cumulative = probs
            .iter()
            .map(|p| {
                acc += p;
                acc
            })
            .collect();
        let q = vocab.iter().copied().zip(probs.iter().copied()).collect();
        Some(NoiseModel {
            idf,
            vocab,
            cumulative,
            q,
        })
    }

    /// idf of a token (0 for tokens never seen in training).
    pub fn idf(&self, w: u32) -> f64 {
        self.idf.get(&w).copied().unwrap_or(0.0)
    }

    /// Noise probability q(w) of a token (0 outside the noise vocabulary).
    pub fn noise_probability(&self, w: u32) -> f64 {
        self.q.get(&w).copied().unwrap_or(0.0)
    }

    /// The rarity weights r_i of one document (same length as `doc`). Tokens in `exclude` get
    /// r = 0 (never replaced) and do not count in n.
    pub fn rarity(&self, doc: &[u32], exclude: &HashSet<u32>) -> Vec<f64> {
        let kept: Vec<usize> = (0..doc.len())
            .filter(|&i| !exclude.contains(&doc[i]))
            .collect();
        let mut r = vec![0.0; doc.len()];
        if kept.is_empty() {
            return r;
        }
        let words: Vec<u32> = kept.iter().map(|&i| doc[i]).collect();
        let c = counts(&words);
        let n = words.len() as f64;
        let s: Vec<f64> = words
            .iter()
            .map(|w| c[w] as f64 / n * self.idf(*w))
            .collect();
        let cmax = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let total: f64 = s.iter().map(|v| cmax - v).sum();
        for (k, &i) in kept.iter().enumerate() {
            r[i] = if total > 0.0 {
                n * (cmax - s[k]) / total
            } else {
                1.0
            };
        }
        r
    }

    /// Draws one noise token from q.
    pub fn sample_word(&self, rng: &mut impl Rng) -> u32 {
        let u: f64 = rng.gen::<f64>() * self.cumulative.last().copied().unwrap_or(1.0);
        let i = self.cumulative.partition_point(|c| *c <= u);
        // The top-scoring word has q = 0, so its cumulative value equals its predecessor's and
        // partition_point never lands on it.
        self.vocab[i.min(self.vocab.len() - 1)]
    }

    /// Replaces selected tokens: `ids[j]` (with rarity `rarity[j]`) becomes a draw from q with
    /// probability min(1, p · rarity_j). Returns the number of replaced tokens.
    pub fn inject(&self, ids: &mut [u32], rarity: &[f64], p: f64, rng: &mut impl Rng) -> usize {
        let mut replaced = 0;
        for (id, r) in ids.iter_mut().zip(rarity) {
            let pi = replacement_probability(p, *r);
            if pi > 0.0 && rng.gen::<f64>() < pi {
                *id = self.sample_word(rng);
                replaced += 1;
            }
        }
        replaced
    }
}

/// p_i = min(1, p · r_i).
pub fn replacement_probability(p: f64, r: f64) -> f64 {
    (p * r).clamp(0.0, 1.0)
}

fn counts(d: &[u32]) -> HashMap<u32, usize> {
    let mut c = HashMap::new();
    for w in d {
        *c.entry(*w).or_insert(0) += 1;
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn toy() -> Vec<Vec<u32>> {
        // 3 docs over words 10 ("the", everywhere), 11, 12, 13.
        vec![vec![10, 11, 11, 10], vec![10, 12], vec![10, 13, 11]]
    }

    #[test]
    fn idf_rarity_and_q_follow_the_formulas() {
        let m = NoiseModel::fit(&toy(), &HashSet::new()).unwrap();
        let ln = |x: f64| x.ln();
        assert!((m.idf(10) - 0.0).abs() < 1e-12);
        assert!((m.idf(11) - ln(3.0 / 2.0)).abs() < 1e-12);
        assert!((m.idf(12) - ln(3.0)).abs() < 1e-12);
        // Doc 0: s = [2/4·0, 2/4·idf11, same, 0]; C = idf11/2.
        let r = m.rarity(&toy()[0], &HashSet::new());
        let c = ln(1.5) / 2.0;
        let s = [0.0, c, c, 0.0];
        let total: f64 = s.iter().map(|v| c - v).sum();
        for i in 0..4 {
            assert!((r[i] - 4.0 * (c - s[i]) / total).abs() < 1e-12);
        }
        assert!((r.iter().sum::<f64>() / 4.0 - 1.0).abs() < 1e-12);
        assert_eq!(r[1], 0.0, "the highest TF-IDF word is never replaced");
        // Corpus scores S(w) and q.
        let sc = |w: u32, tf: f64| tf * m.idf(w);
        let scores = [
            (10, sc(10, 0.5 + 0.5 + 1.0 / 3.0)),
            (11, sc(11, 0.5 + 1.0 / 3.0)),
            (12, sc(12, 0.5)),
            (13, sc(13, 1.0 / 3.0)),
        ];
        let max = scores.iter().map(|x| x.1).fold(0.0, f64::max);
        let tot: f64 = scores.iter().map(|x| max - x.1).sum();
        for (w, s) in scores {
            assert!((m.noise_probability(w) - (max - s) / tot).abs() < 1e-12);
        }
        assert_eq!(m.noise_probability(12), 0.0, "top word is never noise");
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..2000 {
            assert_ne!(m.sample_word(&mut rng), 12);
        }
    }

    #[test]
    fn replacement_probability_caps_at_one_and_zero_noise_is_identity() {
        assert_eq!(replacement_probability(0.1, 3.0), 0.30000000000000004);
        assert_eq!(replacement_probability(0.5, 3.0), 1.0);
        let m = NoiseModel::fit(&toy(), &HashSet::new()).unwrap();
        let mut ids = vec![10, 11, 11, 10];
        let r = m.rarity(&ids.clone(), &HashSet::new());
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(m.inject(&mut ids, &r, 0.0, &mut rng), 0);
        assert_eq!(ids, vec![10, 11, 11, 10]);
        // Empirical replacement rate matches mean(min(1, p·r)).
        let p = 0.3;
        let expect: f64 = r
            .iter()
            .map(|x| replacement_probability(p, *x))
            .sum::<f64>();
        let mut hits = 0;
        for _ in 0..4000 {
            let mut ids = vec![10, 11, 11, 10];
            hits += m.inject(&mut ids, &r, p, &mut rng);
        }
        assert!((hits as f64 / 4000.0 - expect).abs() < 0.05);
    }

    #[test]
    fn excluded_tokens_are_ignored() {
        let ex: HashSet<u32> = [0].into();
        let m = NoiseModel::fit(&[vec![0, 5, 6], vec![0, 5]], &ex).unwrap();
        assert_eq!(m.noise_probability(0), 0.0);
        assert_eq!(m.rarity(&[0, 5, 6], &ex)[0], 0.0);
        assert!(NoiseModel::fit(&[vec![0]], &ex).is_none());
    }
}
