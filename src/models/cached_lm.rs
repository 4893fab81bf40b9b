//! Language models that score many short sparse sequences in one pass and reuse cached keys and
//! values ([`CachedLm`]: GPT-2 and the Hugging Face Llama family), and the verdict they return on
//! one sequence ([`SubsetScore`]).
//!
//! Greedy rationalization scores, at every step, the current rationale plus one candidate token.
//! Tokens of the rationale that come before the candidate attend to exactly the same tokens as in
//! the rationale alone, so their keys and values come from one pass over the rationale
//! ([`CachedLm::prefill`]) and only the candidate and the tokens after it are computed
//! ([`CachedLm::score`]). Both models run the same packed pass (module `pass`).

mod pass;

pub(crate) use pass::{Blocks, Heads};

use super::dense::PackedMatrix;
use super::{fast_math, ModelError};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// Every layer's keys and values `(len, width)` of one sequence.
pub struct KvCache {
    pub(crate) len: usize,
    pub(crate) layers: Vec<(Vec<f32>, Vec<f32>)>,
}

impl KvCache {
    /// Number of tokens cached.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no token is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// One sequence of a packed pass: new tokens (ids and original positions), attending after
/// the first `past` tokens of `prefix` when given.
pub struct Row<'a> {
    /// Cached tokens before the new ones, and how many of them.
    pub prefix: Option<(&'a KvCache, usize)>,
    /// Token ids of the new tokens.
    pub ids: Vec<u32>,
    /// Their original positions.
    pub positions: Vec<usize>,
}

/// A language model run on packed rows that may continue cached keys and values.
pub trait CachedLm {
    /// Refuses token ids outside the vocabulary and positions the model cannot encode.
    fn check_tokens(&self, ids: &[u32], positions: &[usize]) -> Result<(), ModelError>;

    /// Every layer's keys and values of each row: the prefix's first `past` tokens, then the
    /// row's own.
    fn prefill(&self, rows: &[Row]) -> Result<Vec<KvCache>, ModelError>;

    /// Log-probability of `targets[i]` and the argmax (lowest id among ties) of the next-token
    /// distribution after the last token of row `i`.
    fn score(&self, rows: &[Row], targets: &[u32]) -> Result<Vec<SubsetScore>, ModelError>;

    /// For each text `ids` of a batch, `log p(ids[i] | ids[<i])` for `i ≥ 1` (positions
    /// `0..n`; empty for fewer than two ids). Texts share packed passes of about 256 tokens;
    /// results do not depend on the batch. A text the model cannot read is an error naming its
    /// index.
    fn next_token_logprobs(&self, texts: &[&[u32]]) -> Result<Vec<Vec<f32>>, ModelError>;
}

/// The model's verdict on one subset: the target's log-probability and the argmax.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SubsetScore {
    /// log p(target | subset).
    pub target_logprob: f32,
    /// The highest-scoring output (lowest index among ties).
    pub argmax: usize,
}

/// Target log-probability and argmax of one row of logits.
pub fn score_row(r: &[f32], target: usize) -> SubsetScore {
    SubsetScore {
        target_logprob: logprob(r, target),
        argmax: super::argmax(r),
    }
}

/// log p(target) under one row of logits (−∞ for a target outside the row).
fn logprob(r: &[f32], target: usize) -> f32 {
    let lse = fast_math::simd(
        #[inline(always)]
        || fast_math::log_sum_exp(r),
    );
    r.get(target).map_or(f32::NEG_INFINITY, |&x| x - lse)
}

/// `each(logits, target)` of the LM head's logits on each row of the final hidden states `x`,
/// one target per row, rows in parallel. The head runs on blocks of `block` rows: a block's
/// logits are all that is held at once, and each block streams the head's weights once.
fn head_rows<T: Send>(
    head: &PackedMatrix,
    x: &[f32],
    targets: &[u32],
    block: usize,
    each: impl Fn(&[f32], usize) -> T + Sync,
) -> Vec<T> {
    let width = x.len() / targets.len().max(1);
    let mut out = Vec::with_capacity(targets.len());
    for (x, t) in x.chunks(block * width).zip(targets.chunks(block)) {
        let logits = head.apply(x, t.len());
        out.par_extend(
            logits
                .par_chunks(head.n())
                .zip(t)
                .map(|(r, &t)| each(r, t as usize)),
        );
    }
    out
}

/// [`score_row`] of each row of the final hidden states `x`, one target per row; blocks of 64
/// rows keep greedy search's logits small enough to be reused memory rather than fresh pages.
pub(crate) fn head_scores(head: &PackedMatrix, x: &[f32], targets: &[u32]) -> Vec<SubsetScore> {
    head_rows(head, x, targets, 64, score_row)
}

/// [`logprob`] of each row of the final hidden states `x`, one target per row (no argmax); blocks
/// of 256 rows bound the logits held at once on long texts.
pub(crate) fn head_logprobs(head: &PackedMatrix, x: &[f32], targets: &[u32]) -> Vec<f32> {
    head_rows(head, x, targets, 256, logprob)
}

/// Refuses token ids outside a vocabulary of `vocab` entries.
pub(crate) fn check_ids(ids: &[u32], vocab: usize) -> Result<(), ModelError> {
    match ids.iter().find(|&&t| t as usize >= vocab) {
        Some(t) => Err(ModelError::Invalid(format!(
            "token id {t} >= vocab size {vocab}"
        ))),
        None => Ok(()),
    }
}

/// The packed layout of `rows`: each row's new tokens as a range of packed indices, and the
/// total. Refuses rows without tokens, without one position per token, with bad tokens
/// (`check`) or with a prefix longer than its cache.
pub(crate) fn layout(
    rows: &[Row],
    check: impl Fn(&[u32], &[usize]) -> Result<(), ModelError>,
) -> Result<(Vec<Range<usize>>, usize), ModelError> {
    let mut spans = Vec::with_capacity(rows.len());
    let mut total = 0;
    for r in rows {
        if r.ids.is_empty() || r.ids.len() != r.positions.len() {
            return Err(ModelError::Invalid(format!(
                "{} token ids and {} positions: a forward pass needs one position per token, \
                 and at least one token",
                r.ids.len(),
                r.positions.len()
            )));
        }
        check(&r.ids, &r.positions)?;
        if let Some((c, past)) = r.prefix {
            if past > c.len {
                return Err(ModelError::Invalid(format!(
                    "prefix of {past} tokens from a cache of {}",
                    c.len
                )));
            }
        }
        spans.push(total..total + r.ids.len());
        total += r.ids.len();
    }
    Ok((spans, total))
}

/// One layer's cache of a row: the first `past` keys and values of the prefix's layer `cache`,
/// then `new` (each `width` wide per token).
pub(crate) fn extend_cache<'a>(
    cache: Option<&(Vec<f32>, Vec<f32>)>,
    past: usize,
    width: usize,
    new: impl Iterator<Item = (&'a [f32], &'a [f32])>,
) -> (Vec<f32>, Vec<f32>) {
    let (mut k, mut v) = match cache {
        Some((ck, cv)) => (ck[..past * width].to_vec(), cv[..past * width].to_vec()),
        None => (Vec::new(), Vec::new()),
    };
    for (nk, nv) in new {
        k.extend_from_slice(nk);
        v.extend_from_slice(nv);
    }
    (k, v)
}
