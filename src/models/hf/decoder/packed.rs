//! [`HfDecoder`](super::HfDecoder)'s forward pass: many sequences packed end to end without
//! padding, each allowed to continue the cached keys and values of another
//! ([`crate::models::cached_lm`]).
//!
//! Every projection runs on all new tokens at once on the packed dense kernel ([`PackedMatrix`];
//! q, k and v as one product, gate and up as another); RMSNorm, the rotary positions and SwiGLU
//! are applied in place on the products' outputs; attention is computed per token and head over
//! its own sequence's earlier tokens (causal, windowed by index on windowed layers; query head
//! `h` reads key/value head `h / (heads / kv_heads)`), with no mask tensors. When only each
//! row's next token is scored, the last layer runs its output projection and MLP on each row's
//! last token only, and the LM head on those rows.

use super::super::blocks::{pack, rotary_angles};
use super::{Layer, Linear};
use crate::models::cached_lm::{extend_cache, head_scores, layout, KvCache, Row, SubsetScore};
use crate::models::dense::PackedMatrix;
use crate::models::hf::DecoderConfig;
use crate::models::{fast_math, ModelError, Result};
use candle_core::Tensor;
use rayon::prelude::*;

/// Rows per parallel task of the row-wise loops.
const ROWS_PER_TASK: usize = 16;

/// One layer's weights packed for inference.
struct PackedLayer {
    input_norm: Vec<f32>,
    /// q, k and v side by side: (hidden, q + 2 kv).
    qkv: PackedMatrix,
    o: PackedMatrix,
    post_norm: Vec<f32>,
    /// gate and up side by side: (hidden, 2 · intermediate).
    gate_up: PackedMatrix,
    down: PackedMatrix,
    window: Option<usize>,
}

/// A Llama-family decoder's weights laid out for packed inference.
pub(super) struct PackedDecoder {
    config: DecoderConfig,
    embed: Vec<f32>,
    inv_freq: Vec<f32>,
    layers: Vec<PackedLayer>,
    norm: Vec<f32>,
    head: PackedMatrix,
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

impl PackedDecoder {
    /// Packs the checkpoint's weights.
    pub(super) fn new(
        config: &DecoderConfig,
        embed: &Tensor,
        layers: &[Layer],
        norm: &Tensor,
        lm_head: &Linear,
    ) -> Result<Self> {
        let layers = layers
            .iter()
            .map(|l| {
                Ok(PackedLayer {
                    input_norm: l.input_norm.to_vec1()?,
                    qkv: pack(&[&l.q, &l.k, &l.v])?,
                    o: pack(&[&l.o])?,
                    post_norm: l.post_norm.to_vec1()?,
                    gate_up: pack(&[&l.gate, &l.up])?,
                    down: pack(&[&l.down])?,
                    window: l.window,
                })
            })
            .collect::<Result<_>>()?;
        Ok(PackedDecoder {
            config: config.clone(),
            embed: embed.flatten_all()?.to_vec1()?,
            inv_freq: config.inv_freq(),
            layers,
            norm: norm.to_vec1()?,
            head: pack(&[lm_head])?,
        })
    }

    /// Refuses token ids outside the vocabulary.
    pub(super) fn check_tokens(&self, ids: &[u32]) -> Result<()> {
        let vocab = self.config.vocab_size;
        match ids.iter().find(|&&t| t as usize >= vocab) {
            Some(t) => Err(ModelError::Invalid(format!(
                "token id {t} >= vocab size {vocab}"
            ))),
            None => Ok(()),
        }
    }

    /// Every layer's keys and values of each row.
    pub(super) fn prefill(&self, rows: &[Row]) -> Result<Vec<KvCache>> {
        Ok(self.run(rows, Output::Caches)?.0)
    }

    /// Logits `(rows, vocab)` of the next token after each row's last token.
    pub(super) fn last_logits(&self, rows: &[Row]) -> Result<Vec<f32>> {
        let x = self.run(rows, Output::Last)?.1;
        Ok(self.logits(x, rows.len()))
    }

    /// Logits `(tokens, vocab)` after every token of the rows.
    pub(super) fn all_logits(&self, rows: &[Row]) -> Result<Vec<f32>> {
        let x = self.run(rows, Output::All)?.1;
        let n = x.len() / self.config.hidden_size;
        Ok(self.logits(x, n))
    }

    /// [`CachedLm::score`](crate::models::cached_lm::CachedLm::score).
    pub(super) fn score(&self, rows: &[Row], targets: &[u32]) -> Result<Vec<SubsetScore>> {
        if rows.len() != targets.len() {
            return Err(ModelError::Invalid("one target per row is needed".into()));
        }
        let mut x = self.run(rows, Output::Last)?.1;
        rms_norm(&mut x, &self.norm, self.config.rms_norm_eps as f32);
        Ok(head_scores(&self.head, &x, targets))
    }

    /// The LM head on the final norm of the `n` hidden states `x`.
    fn logits(&self, mut x: Vec<f32>, n: usize) -> Vec<f32> {
        rms_norm(&mut x, &self.norm, self.config.rms_norm_eps as f32);
        self.head.apply(&x, n)
    }

    /// One pass over the packed rows: with [`Output::Caches`], the caches of every row (and no
    /// hidden states); else the final layer's output, not yet normed.
    fn run(&self, rows: &[Row], output: Output) -> Result<(Vec<KvCache>, Vec<f32>)> {
        let (spans, total) = layout(rows, |ids, _| self.check_tokens(ids))?;
        let c = &self.config;
        let (h, eps) = (c.hidden_size, c.rms_norm_eps as f32);
        let (dq, dkv) = (
            c.num_attention_heads * c.head_dim,
            c.num_key_value_heads * c.head_dim,
        );
        let mut x = Vec::with_capacity(total * h);
        for r in rows {
            for &t in &r.ids {
                x.extend_from_slice(&self.embed[t as usize * h..][..h]);
            }
        }
        let positions: Vec<usize> = rows
            .iter()
            .flat_map(|r| r.positions.iter().copied())
            .collect();
        let (cos, sin) = rotary_angles(&self.inv_freq, &positions);
        let mut caches: Vec<KvCache> = match output {
            Output::Caches => rows
                .iter()
                .map(|r| KvCache {
                    len: r.prefix.map_or(0, |(_, p)| p) + r.ids.len(),
                    layers: Vec::with_capacity(self.layers.len()),
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
        for (li, layer) in self.layers.iter().enumerate() {
            let final_layer = li + 1 == self.layers.len();
            let mut n = x.clone();
            rms_norm(&mut n, &layer.input_norm, eps);
            let mut qkv = layer.qkv.apply(&n, total);
            self.rotate(&mut qkv, &cos, &sin);
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
            let y = self.attention(&qkv, rows, &spans, li, layer.window, queries);
            if queries.len() != total {
                x = queries
                    .iter()
                    .flat_map(|q| x[(spans[q.row].start + q.i) * h..][..h].to_vec())
                    .collect();
            }
            let m = queries.len();
            add(&mut x, &layer.o.apply(&y, m));
            let mut n = x.clone();
            rms_norm(&mut n, &layer.post_norm, eps);
            let f = swiglu(&layer.gate_up.apply(&n, m), c.intermediate_size);
            add(&mut x, &layer.down.apply(&f, m));
        }
        Ok((caches, x))
    }

    /// Rotate-half rotary positions on every query and key head of the packed `qkv` rows, in
    /// place: dimension `j` pairs with `j + d/2`.
    fn rotate(&self, qkv: &mut [f32], cos: &[f32], sin: &[f32]) {
        let c = &self.config;
        let d = c.head_dim;
        let half = d / 2;
        let width = (c.num_attention_heads + 2 * c.num_key_value_heads) * d;
        let rotated = (c.num_attention_heads + c.num_key_value_heads) * d;
        qkv.par_chunks_mut(width)
            .zip(cos.par_chunks(half).zip(sin.par_chunks(half)))
            .for_each(|(row, (cos, sin))| {
                for head in row[..rotated].chunks_exact_mut(d) {
                    let (a, b) = head.split_at_mut(half);
                    for (((x1, x2), &c), &s) in a.iter_mut().zip(b).zip(cos).zip(sin) {
                        let (u, v) = (*x1, *x2);
                        *x1 = u * c - v * s;
                        *x2 = v * c + u * s;
                    }
                }
            });
    }

    /// Attention output `(queries, heads · head_dim)` of each query token over its row's cached
    /// prefix and its own tokens up to itself, on layer `li` (window `window` by index).
    fn attention(
        &self,
        qkv: &[f32],
        rows: &[Row],
        spans: &[std::ops::Range<usize>],
        li: usize,
        window: Option<usize>,
        queries: &[Query],
    ) -> Vec<f32> {
        let c = &self.config;
        let (d, heads, kv_heads) = (c.head_dim, c.num_attention_heads, c.num_key_value_heads);
        let (dq, dkv) = (heads * d, kv_heads * d);
        let width = dq + 2 * dkv;
        let group = heads / kv_heads;
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
}

/// A query token: its row and its index among the row's new tokens.
struct Query {
    row: usize,
    i: usize,
}

/// `x += y`.
fn add(x: &mut [f32], y: &[f32]) {
    x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
}

/// `w · x / √(mean(x²) + eps)` on each row of `x`, in place.
fn rms_norm(x: &mut [f32], w: &[f32], eps: f32) {
    let h = w.len();
    x.par_chunks_mut(h * ROWS_PER_TASK).for_each(|block| {
        fast_math::simd(
            #[inline(always)]
            || {
                for row in block.chunks_exact_mut(h) {
                    let inv = 1.0 / (fast_math::dot(row, row) / h as f32 + eps).sqrt();
                    for (x, w) in row.iter_mut().zip(w) {
                        *x = w * (*x * inv);
                    }
                }
            },
        )
    });
}

/// `silu(gate) ⊙ up` of each row `[gate | up]` of `f` (each `inter` wide).
fn swiglu(f: &[f32], inter: usize) -> Vec<f32> {
    let mut out = vec![0f32; f.len() / 2];
    out.par_chunks_mut(inter)
        .zip(f.par_chunks(2 * inter))
        .for_each(|(o, f)| {
            fast_math::simd(
                #[inline(always)]
                || {
                    let (gate, up) = f.split_at(inter);
                    for ((o, &g), &u) in o.iter_mut().zip(gate).zip(up) {
                        *o = g / (1.0 + fast_math::exp(-g)) * u;
                    }
                },
            )
        });
    out
}
