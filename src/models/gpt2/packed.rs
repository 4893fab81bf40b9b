//! GPT-2 inference for greedy search: many short sparse sequences in one pass, packed without
//! padding, each allowed to continue the cached keys and values of another sequence
//! ([`crate::models::cached_lm`]). All new tokens of all sequences of a pass go through each
//! dense layer as one matrix ([`PackedMatrix`], weights packed once); attention is computed per
//! sequence; the last block runs its projection and MLP on each sequence's last token only, and
//! the LM head scores only that token.
//!
//! Same mathematics as [`Gpt2::forward`] (tested equal to 1e-4 on the logits, and greedy
//! search gives the authors' rationales); GELU's tanh comes from [`fast_math`].

use super::{Gpt2, Gpt2Config};
use crate::models::cached_lm::{extend_cache, head_scores, layout, KvCache, Row, SubsetScore};
use crate::models::dense::PackedMatrix;
use crate::models::fast_math;
use crate::models::ModelError;
use candle_core::Tensor;

struct Layer {
    ln1: (Vec<f32>, Vec<f32>),
    attn: PackedMatrix,
    proj: PackedMatrix,
    ln2: (Vec<f32>, Vec<f32>),
    fc: PackedMatrix,
    fc_proj: PackedMatrix,
}

/// A [`Gpt2`]'s weights laid out for packed inference.
pub struct PackedGpt2 {
    d: usize,
    heads: usize,
    eps: f32,
    erf_gelu: bool,
    config: Gpt2Config,
    wte: Vec<f32>,
    wpe: Vec<f32>,
    layers: Vec<Layer>,
    ln_f: (Vec<f32>, Vec<f32>),
    head: PackedMatrix,
}

fn values(t: &Tensor) -> Result<Vec<f32>, ModelError> {
    Ok(t.flatten_all()?.to_vec1::<f32>()?)
}

fn packed(w: &Tensor, b: Option<&Tensor>) -> Result<PackedMatrix, ModelError> {
    let (k, n) = w.dims2()?;
    let bias = b.map(values).transpose()?;
    Ok(PackedMatrix::new(&values(w)?, k, n, bias.as_deref()))
}

fn layer_norm(x: &mut [f32], d: usize, (w, b): &(Vec<f32>, Vec<f32>), eps: f32) {
    for row in x.chunks_mut(d) {
        let mean = row.iter().sum::<f32>() / d as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, g), o) in row.iter_mut().zip(w).zip(b) {
            *v = (*v - mean) * inv * g + o;
        }
    }
}

impl PackedGpt2 {
    /// Packs `model`'s weights (a copy; about the model's size again in memory).
    pub fn new(model: &Gpt2) -> Result<Self, ModelError> {
        let c = &model.config;
        let mut layers = Vec::with_capacity(c.n_layer);
        for b in model.blocks() {
            layers.push(Layer {
                ln1: (values(&b.ln1.0)?, values(&b.ln1.1)?),
                attn: packed(&b.attn_w, Some(&b.attn_b))?,
                proj: packed(&b.proj_w, Some(&b.proj_b))?,
                ln2: (values(&b.ln2.0)?, values(&b.ln2.1)?),
                fc: packed(&b.fc_w, Some(&b.fc_b))?,
                fc_proj: packed(&b.fc_proj_w, Some(&b.fc_proj_b))?,
            });
        }
        let (wte, wpe, ln_f) = model.embeddings();
        Ok(PackedGpt2 {
            d: c.n_embd,
            heads: c.n_head,
            eps: c.layer_norm_epsilon as f32,
            erf_gelu: c.activation_function == "gelu",
            config: c.clone(),
            wte: values(wte)?,
            wpe: values(wpe)?,
            layers,
            ln_f: (values(&ln_f.0)?, values(&ln_f.1)?),
            head: packed(&wte.t()?.contiguous()?, None)?,
        })
    }

    /// Every layer's keys and values of each row: the prefix's first `past` tokens, then the
    /// row's own.
    pub fn prefill(&self, rows: &[Row]) -> Result<Vec<KvCache>, ModelError> {
        Ok(self.run(rows, true)?.0)
    }

    /// Log-probability of `targets[i]` and the argmax (lowest id among ties) of the next-token
    /// distribution after the last token of row `i`.
    pub fn score(&self, rows: &[Row], targets: &[u32]) -> Result<Vec<SubsetScore>, ModelError> {
        if rows.len() != targets.len() {
            return Err(ModelError::Invalid("one target per row is needed".into()));
        }
        let mut last = self.run(rows, false)?.1;
        layer_norm(&mut last, self.d, &self.ln_f, self.eps);
        Ok(head_scores(&self.head, &last, targets))
    }

    /// One pass over the packed rows: with `keep`, the caches of every row; without, the last
    /// block's output at each row's last token `(rows, d)`.
    fn run(&self, rows: &[Row], keep: bool) -> Result<(Vec<KvCache>, Vec<f32>), ModelError> {
        let (spans, total) = layout(rows, |ids, positions| {
            self.config.check_tokens(ids, positions)
        })?;
        let d = self.d;
        let mut h = Vec::with_capacity(total * d);
        for r in rows {
            for (&t, &p) in r.ids.iter().zip(&r.positions) {
                let (e, q) = (&self.wte[t as usize * d..][..d], &self.wpe[p * d..][..d]);
                h.extend(e.iter().zip(q).map(|(a, b)| a + b));
            }
        }
        let mut caches: Vec<KvCache> = rows
            .iter()
            .filter(|_| keep)
            .map(|r| KvCache {
                len: r.prefix.map_or(0, |(_, p)| p) + r.ids.len(),
                layers: Vec::new(),
            })
            .collect();
        let last_rows: Vec<usize> = spans.iter().map(|s| s.end - 1).collect();
        for (li, layer) in self.layers.iter().enumerate() {
            let final_layer = !keep && li + 1 == self.layers.len();
            let mut x = h.clone();
            layer_norm(&mut x, d, &layer.ln1, self.eps);
            let qkv = layer.attn.apply(&x, total);
            // In the final layer of a scoring pass only the last token of each row matters.
            let queries: Vec<usize> = if final_layer {
                last_rows.clone()
            } else {
                (0..total).collect()
            };
            let mut y = vec![0f32; queries.len() * d];
            let mut qi = 0;
            for (ri, r) in rows.iter().enumerate() {
                let (cache, past) = match r.prefix {
                    Some((c, p)) => (Some(&c.layers[li]), p),
                    None => (None, 0),
                };
                let own = spans[ri].clone();
                while qi < queries.len() && own.contains(&queries[qi]) {
                    let i = queries[qi] - own.start;
                    self.attend(&qkv, cache, past, own.start, i, &mut y[qi * d..][..d]);
                    qi += 1;
                }
                if keep {
                    let new = own.map(|t| {
                        let row = &qkv[t * 3 * d..][..3 * d];
                        (&row[d..2 * d], &row[2 * d..])
                    });
                    caches[ri].layers.push(extend_cache(cache, past, d, new));
                }
            }
            if final_layer {
                h = last_rows
                    .iter()
                    .flat_map(|&t| h[t * d..][..d].to_vec())
                    .collect();
            }
            let m = queries.len();
            for (a, b) in h.iter_mut().zip(layer.proj.apply(&y, m)) {
                *a += b;
            }
            let mut x = h.clone();
            layer_norm(&mut x, d, &layer.ln2, self.eps);
            let mut f = layer.fc.apply(&x, m);
            self.gelu(&mut f);
            for (a, b) in h.iter_mut().zip(layer.fc_proj.apply(&f, m)) {
                *a += b;
            }
        }
        Ok((caches, h))
    }

    /// Attention output of token `i` of a row whose own tokens start at packed index `start`,
    /// over the `past` cached tokens and its own tokens `0..=i`, into `out` (`d` values).
    fn attend(
        &self,
        qkv: &[f32],
        cache: Option<&(Vec<f32>, Vec<f32>)>,
        past: usize,
        start: usize,
        i: usize,
        out: &mut [f32],
    ) {
        let d = self.d;
        let hd = d / self.heads;
        let scale = 1.0 / (hd as f32).sqrt();
        let q_row = &qkv[(start + i) * 3 * d..][..d];
        let key = |s: usize| -> &[f32] {
            match cache {
                Some((k, _)) if s < past => &k[s * d..][..d],
                _ => &qkv[(start + s - past) * 3 * d + d..][..d],
            }
        };
        let value = |s: usize| -> &[f32] {
            match cache {
                Some((_, v)) if s < past => &v[s * d..][..d],
                _ => &qkv[(start + s - past) * 3 * d + 2 * d..][..d],
            }
        };
        let n = past + i + 1;
        let mut w = vec![0f32; n];
        for h in 0..self.heads {
            let cols = h * hd..(h + 1) * hd;
            let q = &q_row[cols.clone()];
            for (s, ws) in w.iter_mut().enumerate() {
                *ws = q
                    .iter()
                    .zip(&key(s)[cols.clone()])
                    .map(|(a, b)| a * b)
                    .sum::<f32>()
                    * scale;
            }
            let max = w.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0;
            for ws in w.iter_mut() {
                *ws = (*ws - max).exp();
                sum += *ws;
            }
            let o = &mut out[cols.clone()];
            for (s, &ws) in w.iter().enumerate() {
                let p = ws / sum;
                for (a, b) in o.iter_mut().zip(&value(s)[cols.clone()]) {
                    *a += p * b;
                }
            }
        }
    }

    fn gelu(&self, x: &mut [f32]) {
        if self.erf_gelu {
            for v in x.iter_mut() {
                *v = 0.5
                    * *v
                    * (1.0 + candle_core::cpu::erf::erf_f32(*v / std::f32::consts::SQRT_2));
            }
        } else {
            const C: f32 = 0.797_884_6; // sqrt(2 / pi)
            for v in x.iter_mut() {
                let u = *v;
                *v = 0.5 * u * (1.0 + fast_math::tanh(C * (u + 0.044_715 * u * u * u)));
            }
        }
    }
}
