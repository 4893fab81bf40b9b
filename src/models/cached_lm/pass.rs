//! The forward pass of every [`CachedLm`](super::CachedLm): many sequences packed end to end
//! without padding, each allowed to continue the cached keys and values of another.
//!
//! A model supplies its blocks ([`Blocks`]: embeddings, each layer's q/k/v and the rest of the
//! layer, the final norm and the LM head, all on the packed dense kernel); the pass supplies
//! the rest once for all of them: the packing, the caches, and attention per token and head
//! over its own sequence's earlier tokens (causal, windowed by index on windowed layers; query
//! head `h` reads key/value head `h / (heads / kv_heads)`), with no mask tensors. When only each
//! row's next token is scored, the last layer runs the rest of the layer on each row's last
//! token only, and the LM head on those rows.

use super::{extend_cache, head_logprobs, head_scores, layout, KvCache, Row, SubsetScore};
use crate::models::dense::PackedMatrix;
use crate::models::{fast_math, ModelError, Result};
use rayon::prelude::*;
use std::ops::Range;

/// The attention heads of a layer: `heads` query heads and `kv_heads` key/value heads of
/// `head_dim` each; a q/k/v row is `[q (heads · head_dim) | k | v (kv_heads · head_dim each)]`.
#[derive(Clone, Copy)]
pub(crate) struct Heads {
    pub(crate) heads: usize,
    pub(crate) kv_heads: usize,
    pub(crate) head_dim: usize,
}

impl Heads {
    fn q_width(&self) -> usize {
        self.heads * self.head_dim
    }

    fn kv_width(&self) -> usize {
        self.kv_heads * self.head_dim
    }
}

/// A pre-norm causal transformer, as the packed pass runs it.
pub(crate) trait Blocks: Sync {
    /// What the layers need of the packed tokens' positions (rotary angles, or nothing).
    type Positions: Sync;

    /// Hidden size.
    fn hidden(&self) -> usize;
    /// Attention heads (the same on every layer).
    fn heads(&self) -> Heads;
    /// Number of layers.
    fn layers(&self) -> usize;
    /// Layer `layer`'s attention window (keys within the last `w` tokens), if any.
    fn window(&self, layer: usize) -> Option<usize>;
    /// Refuses token ids outside the vocabulary and positions the model cannot encode.
    fn check(&self, ids: &[u32], positions: &[usize]) -> Result<()>;
    /// The input embeddings `(tokens, hidden)` of the packed tokens, and what the layers need
    /// of their positions.
    fn embed(&self, ids: &[u32], positions: &[usize]) -> (Vec<f32>, Self::Positions);
    /// Layer `layer`'s queries, keys and values (rows as [`Heads`] lays them out) of its
    /// input `x`, the tokens at `positions`.
    fn qkv(&self, layer: usize, x: &[f32], positions: &Self::Positions) -> Vec<f32>;
    /// The rest of layer `layer`, on the tokens of `x`: the attention output `y` projected and
    /// added, then the MLP.
    fn finish(&self, layer: usize, x: &mut [f32], y: &[f32]);
    /// The final norm, in place.
    fn final_norm(&self, x: &mut [f32]);
    /// The language-model head.
    fn head(&self) -> &PackedMatrix;

    /// Every layer's keys and values of each row: the prefix's first `past` tokens, then the
    /// row's own.
    fn prefill(&self, rows: &[Row]) -> Result<Vec<KvCache>> {
        Ok(run(self, rows, Output::Caches)?.0)
    }

    /// [`CachedLm::score`](super::CachedLm::score).
    fn score(&self, rows: &[Row], targets: &[u32]) -> Result<Vec<SubsetScore>> {
        if rows.len() != targets.len() {
            return Err(ModelError::Invalid("one target per row is needed".into()));
        }
        let mut x = run(self, rows, Output::Last)?.1;
        self.final_norm(&mut x);
        Ok(head_scores(self.head(), &x, targets))
    }

    /// [`CachedLm::next_token_logprobs`](super::CachedLm::next_token_logprobs).
    fn next_token_logprobs(&self, texts: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let mut rows = Vec::with_capacity(texts.len());
        for (i, ids) in texts.iter().enumerate() {
            let positions: Vec<usize> = (0..ids.len()).collect();
            self.check(ids, &positions).map_err(|e| match e {
                ModelError::Invalid(m) => ModelError::Invalid(format!("text {i}: {m}")),
                e => e,
            })?;
            // A text of fewer than two tokens predicts none of its own.
            if ids.len() > 1 {
                rows.push(Row {
                    prefix: None,
                    ids: ids.to_vec(),
                    positions,
                });
            }
        }
        // Short texts share a pass; a pass stays near `PASS_TOKENS` so that its activations stay
        // in cache (a text longer than that runs alone).
        let mut logprobs = Vec::new();
        let mut rest = &rows[..];
        while !rest.is_empty() {
            let mut tokens = rest[0].ids.len();
            let n = 1
                + (rest[1..].iter())
                    .take_while(|r| {
                        tokens += r.ids.len();
                        tokens <= PASS_TOKENS
                    })
                    .count();
            logprobs.extend(pass_logprobs(self, &rest[..n])?);
            rest = &rest[n..];
        }
        let mut logprobs = logprobs.into_iter();
        Ok(texts
            .iter()
            .map(|t| logprobs.by_ref().take(t.len().saturating_sub(1)).collect())
            .collect())
    }

    /// Logits `(rows, vocab)` of the next token after each row's last token.
    fn last_logits(&self, rows: &[Row]) -> Result<Vec<f32>> {
        let x = run(self, rows, Output::Last)?.1;
        Ok(self.logits(x))
    }

    /// Logits `(tokens, vocab)` after every token of the rows.
    fn all_logits(&self, rows: &[Row]) -> Result<Vec<f32>> {
        let x = run(self, rows, Output::All)?.1;
        Ok(self.logits(x))
    }

    /// The LM head on the final norm of the hidden states `x`.
    fn logits(&self, mut x: Vec<f32>) -> Vec<f32> {
        self.final_norm(&mut x);
        self.head().apply(&x, x.len() / self.hidden())
    }
}

/// Tokens per pass of [`Blocks::next_token_logprobs`] (more when one text is longer).
const PASS_TOKENS: usize = 256;

/// `log p(next token)` of every token but each row's last, rows in order, from one pass.
fn pass_logprobs<B: Blocks + ?Sized>(b: &B, rows: &[Row]) -> Result<Vec<f32>> {
    let mut x = run(b, rows, Output::All)?.1;
    // Every token but a text's last predicts the next one: drop the last rows in place.
    let hidden = b.hidden();
    let (mut kept, mut start) = (0, 0);
    for r in rows {
        let predicting = (r.ids.len() - 1) * hidden;
        x.copy_within(start..start + predicting, kept);
        kept += predicting;
        start += r.ids.len() * hidden;
    }
    x.truncate(kept);
    b.final_norm(&mut x);
    let targets: Vec<u32> = (rows.iter())
        .flat_map(|r| r.ids[1..].iter().copied())
        .collect();
    Ok(head_logprobs(b.head(), &x, &targets))
}

/// What a pass returns.
#[derive(Clone, Copy, PartialEq)]
enum Output {
    /// Every layer's keys and values of each row.
    Caches,
    /// The final hidden state of each row's last token `(rows, hidden)`.
    Last,
    /// The final hidden state of every token `(tokens, hidden)`.
    All,
}

/// A query token: its row and its index among the row's new tokens.
struct Query {
    row: usize,
    i: usize,
}

/// One pass over the packed rows: with [`Output::Caches`], the caches of every row (and no
/// hidden states); else the final layer's output, not yet normed.
fn run<B: Blocks + ?Sized>(
    b: &B,
    rows: &[Row],
    output: Output,
) -> Result<(Vec<KvCache>, Vec<f32>)> {
    let (spans, total) = layout(rows, |ids, positions| b.check(ids, positions))?;
    let (hidden, heads) = (b.hidden(), b.heads());
    let (dq, dkv) = (heads.q_width(), heads.kv_width());
    let ids: Vec<u32> = rows.iter().flat_map(|r| r.ids.iter().copied()).collect();
    let positions: Vec<usize> = rows
        .iter()
        .flat_map(|r| r.positions.iter().copied())
        .collect();
    let (mut x, pos) = b.embed(&ids, &positions);
    let mut caches: Vec<KvCache> = match output {
        Output::Caches => rows
            .iter()
            .map(|r| KvCache {
                len: r.prefix.map_or(0, |(_, p)| p) + r.ids.len(),
                layers: Vec::with_capacity(b.layers()),
            })
            .collect(),
        _ => Vec::new(),
    };
    let every: Vec<Query> = spans
        .iter()
        .enumerate()
        .flat_map(|(row, s)| (0..s.len()).map(move |i| Query { row, i }))
        .collect();
    let last: Vec<Query> = spans
        .iter()
        .enumerate()
        .map(|(row, s)| Query {
            row,
            i: s.len() - 1,
        })
        .collect();
    for li in 0..b.layers() {
        let final_layer = li + 1 == b.layers();
        let qkv = b.qkv(li, &x, &pos);
        if output == Output::Caches {
            for ((cache, r), span) in caches.iter_mut().zip(rows).zip(&spans) {
                let (prev, past) = r
                    .prefix
                    .map_or((None, 0), |(c, p)| (Some(&c.layers[li]), p));
                let new = span.clone().map(|t| {
                    let row = &qkv[t * (dq + 2 * dkv)..][..dq + 2 * dkv];
                    (&row[dq..dq + dkv], &row[dq + dkv..])
                });
                cache.layers.push(extend_cache(prev, past, dkv, new));
            }
            if final_layer {
                break;
            }
        }
        // In the final layer of a scoring pass only each row's last token matters.
        let queries = match final_layer && output == Output::Last {
            true => &last,
            false => &every,
        };
        let y = attention(&qkv, rows, &spans, li, b.window(li), heads, queries);
        if queries.len() != total {
            x = queries
                .iter()
                .flat_map(|q| x[(spans[q.row].start + q.i) * hidden..][..hidden].to_vec())
                .collect();
        }
        b.finish(li, &mut x, &y);
    }
    Ok((caches, x))
}

/// Attention output `(queries, heads · head_dim)` of each query token over its row's cached
/// prefix and its own tokens up to itself, on layer `li` (window `window` by index).
fn attention(
    qkv: &[f32],
    rows: &[Row],
    spans: &[Range<usize>],
    li: usize,
    window: Option<usize>,
    heads: Heads,
    queries: &[Query],
) -> Vec<f32> {
    let d = heads.head_dim;
    let (dq, dkv) = (heads.q_width(), heads.kv_width());
    let width = dq + 2 * dkv;
    let group = heads.heads / heads.kv_heads;
    let scale = 1.0 / (d as f32).sqrt();
    let mut y = vec![0f32; queries.len() * dq];
    y.par_chunks_mut(dq).zip(queries).for_each(|(out, q)| {
        let (cache, past) = match rows[q.row].prefix {
            Some((c, p)) => (Some(&c.layers[li]), p),
            None => (None, 0),
        };
        let start = spans[q.row].start;
        let n = past + q.i + 1;
        let first = window.map_or(0, |w| n.saturating_sub(w));
        // Key or value `s` (0 for keys, 1 for values) of head `kv`: cached or new.
        let kv = |s: usize, which: usize, kv: usize| -> &[f32] {
            match cache {
                Some((k, v)) if s < past => {
                    let cached = if which == 0 { k } else { v };
                    &cached[s * dkv + kv * d..][..d]
                }
                _ => &qkv[(start + s - past) * width + dq + which * dkv + kv * d..][..d],
            }
        };
        let q_row = &qkv[(start + q.i) * width..][..dq];
        let mut w = vec![0f32; n - first];
        fast_math::simd(
            #[inline(always)]
            || {
                for (head, o) in out.chunks_exact_mut(d).enumerate() {
                    let (qh, g) = (&q_row[head * d..][..d], head / group);
                    for (ws, s) in w.iter_mut().zip(first..n) {
                        *ws = fast_math::dot(qh, kv(s, 0, g)) * scale;
                    }
                    let max = fast_math::max(&w);
                    for ws in w.iter_mut() {
                        *ws = fast_math::exp(*ws - max);
                    }
                    let inv = 1.0 / fast_math::sum(&w);
                    for (&ws, s) in w.iter().zip(first..n) {
                        let p = ws * inv;
                        for (a, b) in o.iter_mut().zip(kv(s, 1, g)) {
                            *a += p * b;
                        }
                    }
                }
            },
        )
    });
    y
}
