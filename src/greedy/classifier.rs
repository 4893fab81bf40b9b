//! Greedy rationales for classifiers: the smallest set of a document's tokens (the dataset's own
//! whitespace tokens) under which the classifier still predicts its full-input class, written as
//! ERASER results records that `rationale score` reads.
//!
//! Any classifier joins by implementing [`SubsetClassifier`]; [`BowClassifier`] is a small
//! bag-of-words softmax classifier used for tests and the default run.

use super::{greedy, GreedyConfig, GreedyError, Rationale, SubsetScore, SubsetScorer};
use crate::corpus::mask::hard_spans;
use crate::corpus::{AnnotationId, LabelScores, Prediction, RationalePrediction};
use crate::models::first_max;
use rand::seq::SliceRandom;
use rand_chacha::rand_core::SeedableRng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// A classifier that predicts from a subset of a document's tokens.
pub trait SubsetClassifier {
    /// Class names, in output order.
    fn labels(&self) -> &[String];
    /// Class log-probabilities for each subset (ascending positions into `tokens`; a model may
    /// use the original positions). An empty subset is allowed.
    fn class_log_probs(
        &mut self,
        tokens: &[String],
        subsets: &[Vec<usize>],
    ) -> Result<Vec<Vec<f32>>, GreedyError>;
}

/// A classifier on one document, as a [`SubsetScorer`].
pub struct ClassifierScorer<'a, C: SubsetClassifier + ?Sized> {
    /// The classifier.
    pub classifier: &'a mut C,
    /// The document's tokens.
    pub tokens: &'a [String],
    calls: u64,
}

impl<'a, C: SubsetClassifier + ?Sized> ClassifierScorer<'a, C> {
    /// Wraps a classifier and a document.
    pub fn new(classifier: &'a mut C, tokens: &'a [String]) -> Self {
        ClassifierScorer {
            classifier,
            tokens,
            calls: 0,
        }
    }
}

fn to_score(lp: &[f32], target: usize) -> SubsetScore {
    SubsetScore {
        target_logprob: lp.get(target).copied().unwrap_or(f32::NEG_INFINITY),
        argmax: first_max(lp.iter().copied()).unwrap_or(0),
    }
}

impl<C: SubsetClassifier + ?Sized> SubsetScorer for ClassifierScorer<'_, C> {
    fn context_len(&self) -> usize {
        self.tokens.len()
    }
    fn score(
        &mut self,
        subsets: &[Vec<usize>],
        target: usize,
    ) -> Result<Vec<SubsetScore>, GreedyError> {
        self.calls += 1;
        let lps = self.classifier.class_log_probs(self.tokens, subsets)?;
        if lps.len() != subsets.len() {
            return Err(GreedyError::Invalid(
                "classifier returned a wrong number of rows".into(),
            ));
        }
        Ok(lps.iter().map(|lp| to_score(lp, target)).collect())
    }
    fn forward_calls(&self) -> u64 {
        self.calls
    }
}

fn label_scores(labels: &[String], lp: &[f32]) -> LabelScores {
    LabelScores(
        labels
            .iter()
            .zip(lp)
            .map(|(l, &x)| (l.clone(), (x as f64).exp()))
            .collect(),
    )
}

/// Rationalizes the classifier's prediction on one document and returns the ERASER record
/// (classification, scores, hard rationale, and comprehensiveness / sufficiency scores from
/// re-running the model without / with only the rationale) with the greedy trace.
pub fn rationalize_document<C: SubsetClassifier + ?Sized>(
    classifier: &mut C,
    annotation_id: AnnotationId,
    docid: &str,
    tokens: &[String],
    cfg: &GreedyConfig,
) -> Result<(Prediction, Rationale), GreedyError> {
    if tokens.is_empty() {
        return Err(GreedyError::Invalid(format!(
            "document {docid:?} has no tokens"
        )));
    }
    let labels = classifier.labels().to_vec();
    let all: Vec<usize> = (0..tokens.len()).collect();
    let full = classifier
        .class_log_probs(tokens, std::slice::from_ref(&all))?
        .remove(0);
    let predicted = first_max(full.iter().copied()).unwrap_or(0);
    let rationale = greedy(
        &mut ClassifierScorer::new(classifier, tokens),
        predicted,
        cfg,
    )?;
    let kept = rationale.sorted();
    let mut mask = vec![false; tokens.len()];
    kept.iter().for_each(|&p| mask[p] = true);
    let rest: Vec<usize> = all.iter().copied().filter(|&p| !mask[p]).collect();
    let lp = classifier.class_log_probs(tokens, &[rest, kept.clone()])?;
    let prediction = Prediction {
        annotation_id,
        rationales: vec![RationalePrediction {
            docid: docid.to_string(),
            hard_rationale_predictions: Some(hard_spans(&mask)),
            soft_rationale_predictions: None,
            soft_sentence_predictions: None,
        }],
        classification: labels.get(predicted).cloned(),
        classification_scores: Some(label_scores(&labels, &full)),
        comprehensiveness_classification_scores: Some(label_scores(&labels, &lp[0])),
        sufficiency_classification_scores: Some(label_scores(&labels, &lp[1])),
        tokens_to_flip: None,
        thresholded_scores: None,
    };
    Ok((prediction, rationale))
}

/// A bag-of-words softmax classifier: class logits = bias + Σ over kept tokens of the token's
/// weights (lower-cased). Unknown tokens weigh nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BowClassifier {
    /// Class names.
    pub labels: Vec<String>,
    /// Token → row of `weights`.
    pub vocab: HashMap<String, usize>,
    /// `vocab.len() × labels.len()`, row-major.
    pub weights: Vec<f32>,
    /// Per-class bias.
    pub bias: Vec<f32>,
}

impl BowClassifier {
    /// Trains by full-batch-free SGD on softmax cross-entropy (L2 `l2`), seeded.
    pub fn train(
        docs: &[(Vec<String>, String)],
        epochs: usize,
        lr: f32,
        l2: f32,
        seed: u64,
    ) -> Result<Self, GreedyError> {
        let mut labels: Vec<String> = docs.iter().map(|d| d.1.clone()).collect();
        labels.sort();
        labels.dedup();
        if labels.len() < 2 {
            return Err(GreedyError::Invalid(
                "training needs at least two classes".into(),
            ));
        }
        let mut vocab = HashMap::new();
        for (t, _) in docs {
            for w in t {
                let n = vocab.len();
                vocab.entry(w.to_lowercase()).or_insert(n);
            }
        }
        let c = labels.len();
        let mut m = BowClassifier {
            weights: vec![0.0; vocab.len() * c],
            bias: vec![0.0; c],
            vocab,
            labels,
        };
        let encoded: Vec<(Vec<usize>, usize)> = docs
            .iter()
            .map(|(t, l)| {
                (
                    t.iter().map(|w| m.vocab[&w.to_lowercase()]).collect(),
                    m.labels.binary_search(l).unwrap_or(0),
                )
            })
            .collect();
        let mut order: Vec<usize> = (0..docs.len()).collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        for _ in 0..epochs {
            order.shuffle(&mut rng);
            for &i in &order {
                let (ids, y) = &encoded[i];
                let lp = m.log_probs_ids(ids.iter().copied());
                for (k, lpk) in lp.iter().enumerate() {
                    let g = lpk.exp() - f32::from(k == *y);
                    m.bias[k] -= lr * g;
                    for &t in ids {
                        let w = &mut m.weights[t * c + k];
                        *w -= lr * (g + l2 * *w);
                    }
                }
            }
        }
        Ok(m)
    }

    fn log_probs_ids(&self, ids: impl Iterator<Item = usize>) -> Vec<f32> {
        let c = self.labels.len();
        let mut z = self.bias.clone();
        for t in ids {
            for (zk, w) in z.iter_mut().zip(&self.weights[t * c..(t + 1) * c]) {
                *zk += w;
            }
        }
        let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let lse = m + z.iter().map(|x| (x - m).exp()).sum::<f32>().ln();
        z.iter().map(|x| x - lse).collect()
    }

    /// Saves the model as JSON.
    pub fn save(&self, path: &Path) -> Result<(), GreedyError> {
        let text = serde_json::to_string(self).map_err(|e| GreedyError::Invalid(e.to_string()))?;
        std::fs::write(path, text).map_err(|e| GreedyError::io(path, e))
    }

    /// Loads a model saved by [`save`](Self::save), checking its shapes.
    pub fn load(path: &Path) -> Result<Self, GreedyError> {
        let text = std::fs::read_to_string(path).map_err(|e| GreedyError::io(path, e))?;
        let m: BowClassifier = serde_json::from_str(&text)
            .map_err(|e| GreedyError::Invalid(format!("{}: {e}", path.display())))?;
        let c = m.labels.len();
        if c < 2
            || m.bias.len() != c
            || m.weights.len() != m.vocab.len() * c
            || m.vocab.values().any(|&r| r >= m.vocab.len())
        {
            return Err(GreedyError::Invalid(format!(
                "{}: inconsistent bag-of-words classifier shapes",
                path.display()
            )));
        }
        Ok(m)
    }
}

impl SubsetClassifier for BowClassifier {
    fn labels(&self) -> &[String] {
        &self.labels
    }
    fn class_log_probs(
        &mut self,
        tokens: &[String],
        subsets: &[Vec<usize>],
    ) -> Result<Vec<Vec<f32>>, GreedyError> {
        subsets
            .iter()
            .map(|s| {
                if let Some(&p) = s.iter().find(|&&p| p >= tokens.len()) {
                    return Err(GreedyError::Invalid(format!(
                        "position {p} outside a document of {}",
                        tokens.len()
                    )));
                }
                Ok(self.log_probs_ids(
                    s.iter()
                        .filter_map(|&p| self.vocab.get(&tokens[p].to_lowercase()).copied()),
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::exhaustive::exhaustive;
    use super::super::Start;
    use super::*;
    use crate::corpus::HardSpan;

    fn toks(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn known_answer_and_eraser_record() {
        // "great" pushes POS by 3, "bad" pushes NEG by 1 each, bias favours NEG by 2.5.
        let labels = vec!["NEG".to_string(), "POS".to_string()];
        let vocab: HashMap<String, usize> = [("great", 0), ("bad", 1), ("the", 2)]
            .iter()
            .map(|(w, i)| (w.to_string(), *i))
            .collect();
        let mut m = BowClassifier {
            labels,
            vocab,
            weights: vec![0.0, 3.0, 1.0, 0.0, 0.0, 0.0],
            bias: vec![2.5, 0.0],
        };
        let t = toks("the bad film was great , great even");
        let (p, r) = rationalize_document(
            &mut m,
            AnnotationId::Str("a1".into()),
            "d1",
            &t,
            &GreedyConfig {
                start: Start::Empty,
                max_size: None,
            },
        )
        .unwrap();
        assert_eq!(p.classification.as_deref(), Some("POS"));
        // one "great" (first of the tie) is not enough against bias + "bad"? 3 - 2.5 > 0: it is.
        assert_eq!(r.order, vec![4]);
        let line = serde_json::to_string(&p).unwrap();
        let back = Prediction::parse(&line).unwrap();
        assert_eq!(
            back.rationales[0]
                .hard_rationale_predictions
                .as_ref()
                .unwrap()[0],
            HardSpan {
                start_token: 4,
                end_token: 5
            }
        );
        assert!(
            back.sufficiency_classification_scores
                .unwrap()
                .get("POS")
                .unwrap()
                > 0.5
        );
        let e = exhaustive(&mut ClassifierScorer::new(&mut m, &t), 1, Start::Empty, 3).unwrap();
        assert_eq!(e.subset, Some(vec![4]));
    }

    #[test]
    fn trains_saves_and_loads() {
        let docs: Vec<(Vec<String>, String)> = (0..40)
            .map(|i| {
                if i % 2 == 0 {
                    (toks("a fine good movie"), "POS".into())
                } else {
                    (toks("a dull bad movie"), "NEG".into())
                }
            })
            .collect();
        let m = BowClassifier::train(&docs, 5, 0.1, 0.0, 1).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bow.json");
        m.save(&p).unwrap();
        let mut m2 = BowClassifier::load(&p).unwrap();
        let t = toks("good movie");
        let (pred, r) = rationalize_document(
            &mut m2,
            AnnotationId::Int(1),
            "d",
            &t,
            &GreedyConfig {
                start: Start::Empty,
                max_size: None,
            },
        )
        .unwrap();
        assert_eq!(pred.classification.as_deref(), Some("POS"));
        assert_eq!(r.order, vec![0]);
        std::fs::write(
            &p,
            "{\"labels\":[\"a\"],\"vocab\":{},\"weights\":[],\"bias\":[0]}",
        )
        .unwrap();
        assert!(BowClassifier::load(&p).is_err());
        assert!(rationalize_document(
            &mut m2,
            AnnotationId::Int(1),
            "d",
            &[],
            &GreedyConfig::default()
        )
        .is_err());
    }
}
