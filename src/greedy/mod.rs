//! Greedy sequential rationales (Vafa, Deng, Blei, Rush, EMNLP 2021).
//!
//! The rationale of a prediction is the smallest subset of the input positions under which the
//! model still makes that prediction. Greedy rationalization adds, one at a time, the position
//! whose addition most raises the log-probability of the target, and stops as soon as the target
//! is the model's argmax. This follows the authors' code (`rationalize_lm`): by default it starts
//! from the position just before the target ([`Start::Last`]); ties between candidates go to the
//! lowest position, ties in the argmax to the lowest id; a target never reached makes the whole
//! context the rationale (`reached_argmax = false`).
//!
//! Any model that can score a batch of input subsets implements [`SubsetScorer`]: language models
//! ([`lm::LmScorer`]) and classifiers ([`classifier`]). [`exhaustive`] gives the optimum on small
//! inputs, [`dropout`] the compatibility fine-tuning (word dropout), [`majority`] the synthetic
//! majority-class experiment and [`lambada`] the annotated-LAMBADA evaluation.

pub use crate::models::cached_lm::SubsetScore;

pub mod checkpoint;
pub mod classifier;
pub mod dropout;
pub mod exhaustive;
pub mod lambada;
pub mod lm;
pub mod majority;

use crate::models::first_max;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Errors of the greedy-rationale layer.
#[derive(Debug, thiserror::Error)]
pub enum GreedyError {
    /// A tensor operation failed.
    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A tokenizer could not be loaded or failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// An input, configuration or checkpoint is unusable; the message says why.
    #[error("{0}")]
    Invalid(String),
    /// The language model failed to load or run.
    #[error(transparent)]
    Model(#[from] crate::models::ModelError),
    /// Training (word-dropout fine-tuning) failed.
    #[error(transparent)]
    Train(#[from] crate::train::TrainError),
}

impl GreedyError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        GreedyError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A model that predicts from a subset of its input positions.
///
/// An implementation holds one input (a context of [`context_len`](Self::context_len)
/// positions); a subset is a list of positions in ascending order. Language models score the
/// next token after the subset (the token at the subset's last position is the query);
/// classifiers score a class from the kept tokens.
pub trait SubsetScorer {
    /// Number of positions in the input.
    fn context_len(&self) -> usize;

    /// Scores each subset (ascending positions, all of the same length) for `target`.
    fn score(
        &mut self,
        subsets: &[Vec<usize>],
        target: usize,
    ) -> Result<Vec<SubsetScore>, GreedyError>;

    /// Scores `base ∪ {c}` for each candidate `c` (`base` ascending, `c ∉ base`). The default
    /// builds the subsets and calls [`score`](Self::score); models that can reuse the work on
    /// `base` override it.
    fn score_extensions(
        &mut self,
        base: &[usize],
        candidates: &[usize],
        target: usize,
    ) -> Result<Vec<SubsetScore>, GreedyError> {
        let subsets: Vec<Vec<usize>> = candidates
            .iter()
            .map(|&c| {
                let mut s = base.to_vec();
                let at = s.partition_point(|&p| p < c);
                s.insert(at, c);
                s
            })
            .collect();
        self.score(&subsets, target)
    }

    /// Forward passes (batched model calls) made so far, where the model counts them.
    fn forward_calls(&self) -> u64 {
        0
    }
}

/// Where greedy search starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Start {
    /// With the last position already in (the authors' code: the token just before the target).
    #[default]
    Last,
    /// From the empty set: the first step searches over single positions.
    Empty,
}

/// Options of greedy rationalization.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GreedyConfig {
    /// Where the search starts.
    pub start: Start,
    /// Largest rationale size (`None`: the whole context).
    pub max_size: Option<usize>,
}

impl Default for GreedyConfig {
    fn default() -> Self {
        GreedyConfig {
            start: Start::Last,
            max_size: None,
        }
    }
}

/// One step of greedy search.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The position added.
    pub position: usize,
    /// log p(target | rationale so far).
    pub target_logprob: f32,
    /// The model's prediction given the rationale so far.
    pub argmax: usize,
}

/// A greedy rationale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rationale {
    /// Positions in the order they were added.
    pub order: Vec<usize>,
    /// Whether the target became the argmax (false: search ran out of positions or size).
    pub reached_argmax: bool,
    /// One entry per added position.
    pub steps: Vec<Step>,
    /// Subsets the model scored.
    pub subsets_scored: u64,
    /// Batched forward passes the model made (0 where the model does not count them).
    pub forward_calls: u64,
}

impl Rationale {
    /// The rationale's positions in ascending order.
    pub fn sorted(&self) -> Vec<usize> {
        let mut s = self.order.clone();
        s.sort_unstable();
        s
    }
}

/// Greedy rationalization of `target` (a token id or class index) for the input `scorer` holds.
pub fn greedy<S: SubsetScorer + ?Sized>(
    scorer: &mut S,
    target: usize,
    cfg: &GreedyConfig,
) -> Result<Rationale, GreedyError> {
    let n = scorer.context_len();
    if n == 0 {
        return Err(GreedyError::Invalid(
            "cannot rationalize from an empty context".into(),
        ));
    }
    if cfg.max_size == Some(0) {
        return Err(GreedyError::Invalid("max_size must be at least 1".into()));
    }
    let calls0 = scorer.forward_calls();
    let max = cfg.max_size.unwrap_or(n).min(n);
    let mut order = Vec::new();
    let mut steps: Vec<Step> = Vec::new();
    let mut scored = 0u64;
    let mut in_set = vec![false; n];
    if cfg.start == Start::Last {
        let s = scorer.score(&[vec![n - 1]], target)?;
        let s = s
            .first()
            .ok_or_else(|| GreedyError::Invalid("model returned no score".into()))?;
        scored += 1;
        order.push(n - 1);
        in_set[n - 1] = true;
        steps.push(Step {
            position: n - 1,
            target_logprob: s.target_logprob,
            argmax: s.argmax,
        });
    }
    let mut reached = steps.last().is_some_and(|s| s.argmax == target);
    while !reached && order.len() < max {
        let mut base = order.clone();
        base.sort_unstable();
        let cands: Vec<usize> = (0..n).filter(|&p| !in_set[p]).collect();
        let scores = scorer.score_extensions(&base, &cands, target)?;
        if scores.len() != cands.len() {
            return Err(GreedyError::Invalid(format!(
                "model returned {} scores for {} candidates",
                scores.len(),
                cands.len()
            )));
        }
        scored += cands.len() as u64;
        let j =
            first_max(scores.iter().map(|s| s.target_logprob)).expect("candidates are non-empty");
        let p = cands[j];
        order.push(p);
        in_set[p] = true;
        steps.push(Step {
            position: p,
            target_logprob: scores[j].target_logprob,
            argmax: scores[j].argmax,
        });
        reached = scores[j].argmax == target;
    }
    Ok(Rationale {
        order,
        reached_argmax: reached,
        steps,
        subsets_scored: scored,
        forward_calls: scorer.forward_calls() - calls0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy model whose answer is known: output 1 iff the subset's weight sum exceeds 1.
    struct Toy(Vec<f32>);
    impl SubsetScorer for Toy {
        fn context_len(&self) -> usize {
            self.0.len()
        }
        fn score(
            &mut self,
            subsets: &[Vec<usize>],
            target: usize,
        ) -> Result<Vec<SubsetScore>, GreedyError> {
            Ok(subsets
                .iter()
                .map(|s| {
                    let z: f32 = s.iter().map(|&p| self.0[p]).sum::<f32>() - 1.0;
                    let lp1 = -(1.0 + (-z).exp()).ln();
                    let lp0 = -(1.0 + z.exp()).ln();
                    SubsetScore {
                        target_logprob: if target == 1 { lp1 } else { lp0 },
                        argmax: usize::from(lp1 > lp0),
                    }
                })
                .collect())
        }
    }

    #[test]
    fn adds_largest_first_ties_to_lowest_and_stops_at_argmax() {
        let mut m = Toy(vec![0.1, 0.6, 0.6, 0.05, 0.2]);
        let r = greedy(
            &mut m,
            1,
            &GreedyConfig {
                start: Start::Empty,
                max_size: None,
            },
        )
        .unwrap();
        assert_eq!(r.order, vec![1, 2]);
        assert!(r.reached_argmax);
        assert_eq!(r.subsets_scored, 5 + 4);
        let r = greedy(&mut m, 1, &GreedyConfig::default()).unwrap();
        assert_eq!(r.order, vec![4, 1, 2]);
        assert_eq!(r.steps[0].argmax, 0);
    }

    #[test]
    fn unreachable_target_takes_everything_or_stops_at_max() {
        let mut m = Toy(vec![-1.0, -1.0, -1.0]);
        let r = greedy(&mut m, 1, &GreedyConfig::default()).unwrap();
        assert_eq!(r.order.len(), 3);
        assert!(!r.reached_argmax);
        let r = greedy(
            &mut m,
            1,
            &GreedyConfig {
                start: Start::Last,
                max_size: Some(2),
            },
        )
        .unwrap();
        assert_eq!(r.order.len(), 2);
        assert!(greedy(&mut Toy(vec![]), 1, &GreedyConfig::default()).is_err());
    }

    #[test]
    fn already_predicted_stops_after_the_forced_start() {
        let mut m = Toy(vec![0.0, 5.0]);
        let r = greedy(&mut m, 1, &GreedyConfig::default()).unwrap();
        assert_eq!(r.order, vec![1]);
        assert!(r.reached_argmax);
    }
}
