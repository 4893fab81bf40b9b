//! [`Transformer::infer`]: padding-free inference. The real tokens of a batch are packed into one
//! `(N, H)` buffer (no rows for padding); Q, K and V come from one product of the packed dense
//! kernel ([`PackedMatrix`]); attention runs per sequence and head in parallel, its two products
//! on the same kernel, with no padded score tensors; residual + LayerNorm and the activation
//! are applied in place on the products' outputs. For a head that reads the first token only
//! ([`Pass::FirstToken`]) the last layer asks that token's query alone and runs its output
//! projection and feed-forward on that row. The loops run compiled for AVX-512 where the CPU has
//! it ([`fast_math::simd`]).

use super::{Activation, LayerNorm, Linear, Pass, Transformer};
use crate::models::dense::{PackedMatrix, FEED_FORWARD_ROWS};
use crate::models::{fast_math, Result};
use candle_core::{Device, Tensor};
use rayon::prelude::*;

/// Rows per parallel task of the row-wise loops.
const ROWS_PER_TASK: usize = 16;

/// The encoder's weights packed for inference.
pub(super) struct PackedEncoder {
    /// The position table, row-major `(positions, H)`.
    position: Vec<f32>,
    /// The token-type embedding every token gets (type 0).
    token_type: Vec<f32>,
    emb_ln: Norm,
    layers: Vec<PackedLayer>,
}

struct PackedLayer {
    /// Q, K and V side by side: (H, 3H).
    qkv: PackedMatrix,
    attn_out: PackedMatrix,
    attn_ln: Norm,
    inter: PackedMatrix,
    out: PackedMatrix,
    out_ln: Norm,
}

impl PackedEncoder {
    pub(super) fn new(t: &Transformer) -> Result<Self> {
        let layers = t
            .layers
            .iter()
            .map(|l| {
                Ok(PackedLayer {
                    qkv: pack(&[&l.q, &l.k, &l.v])?,
                    attn_out: pack(&[&l.attn_out])?,
                    attn_ln: Norm::new(&l.attn_ln)?,
                    inter: pack(&[&l.inter])?,
                    out: pack(&[&l.out])?,
                    out_ln: Norm::new(&l.out_ln)?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(PackedEncoder {
            position: t.position.flatten_all()?.to_vec1()?,
            token_type: t.token_type.get(0)?.to_vec1()?,
            emb_ln: Norm::new(&t.emb_ln)?,
            layers,
        })
    }
}

/// Linear layers with the same input, their outputs side by side.
fn pack(linears: &[&Linear]) -> Result<PackedMatrix> {
    let w = Tensor::cat(&linears.iter().map(|l| &l.w).collect::<Vec<_>>(), 0)?;
    let b = Tensor::cat(&linears.iter().map(|l| &l.b).collect::<Vec<_>>(), 0)?;
    Ok(PackedMatrix::from_linear(&w, Some(&b))?)
}

/// A LayerNorm's parameters as vectors.
pub(crate) struct Norm {
    pub(crate) w: Vec<f32>,
    pub(crate) b: Vec<f32>,
    pub(crate) eps: f32,
}

impl Norm {
    fn new(ln: &LayerNorm) -> Result<Self> {
        Ok(Norm {
            w: ln.w.to_vec1()?,
            b: ln.b.to_vec1()?,
            eps: ln.eps,
        })
    }

    /// `rows ← LayerNorm(rows + residual)` in place, row by row.
    pub(crate) fn apply(&self, rows: &mut [f32], residual: Option<&[f32]>) {
        let h = self.w.len();
        let norm_row = |row: &mut [f32]| {
            let mean = fast_math::sum(row) / h as f32;
            row.iter_mut().for_each(|x| *x -= mean);
            let var = fast_math::dot(row, row) / h as f32;
            let inv = 1.0 / (var + self.eps).sqrt();
            for ((x, w), b) in row.iter_mut().zip(&self.w).zip(&self.b) {
                *x = *x * inv * w + b;
            }
        };
        rows.par_chunks_mut(h * ROWS_PER_TASK)
            .enumerate()
            .for_each(|(i, block)| {
                fast_math::simd(
                    #[inline(always)]
                    || {
                        if let Some(r) = residual {
                            let r = &r[i * h * ROWS_PER_TASK..][..block.len()];
                            block.iter_mut().zip(r).for_each(|(x, y)| *x += y);
                        }
                        block.chunks_exact_mut(h).for_each(norm_row);
                    },
                )
            });
    }
}

/// The activation applied in place.
pub(crate) fn activate(x: &mut [f32], act: Activation) {
    x.par_chunks_mut(4096).for_each(|c| {
        fast_math::simd(
            #[inline(always)]
            || activate_chunk(c, act),
        )
    });
}

/// [`activate`] of one chunk (inlined where it is called, so it is compiled for the
/// instruction set [`fast_math::simd`] picks).
#[inline(always)]
pub(crate) fn activate_chunk(c: &mut [f32], act: Activation) {
    // `for` loops, not `for_each` closures, which the compiler may leave out of line.
    match act {
        Activation::Gelu => {
            for v in c {
                *v = fast_math::gelu_erf(*v);
            }
        }
        Activation::GeluNew => {
            for v in c {
                *v = fast_math::gelu_tanh(*v);
            }
        }
        Activation::Relu => {
            for v in c {
                *v = v.max(0.0);
            }
        }
    }
}

/// A sequence of the batch: its batch row, its first row in the packed buffer, its length
/// (up to its last unmasked token).
pub(crate) struct Seq {
    pub(crate) index: usize,
    pub(crate) start: usize,
    pub(crate) len: usize,
}

impl Seq {
    /// The sequences of a `(b, t)` key mask, packed end to end, and their total length.
    pub(crate) fn packed(mask: &[f32], b: usize, t: usize) -> (Vec<Seq>, usize) {
        let mut seqs = Vec::with_capacity(b);
        let mut n = 0;
        for index in 0..b {
            let keys = &mask[index * t..(index + 1) * t];
            let len = keys.iter().rposition(|&m| m > 0.0).map_or(0, |p| p + 1);
            seqs.push(Seq {
                index,
                start: n,
                len,
            });
            n += len;
        }
        (seqs, n)
    }
}

/// The sequences cut to their first token, packed end to end, and their number of rows.
pub(crate) fn firsts(seqs: &[Seq]) -> (Vec<Seq>, usize) {
    let mut n = 0;
    let cut = seqs
        .iter()
        .map(|s| {
            let len = s.len.min(1);
            n += len;
            Seq {
                index: s.index,
                start: n - len,
                len,
            }
        })
        .collect();
    (cut, n)
}

/// The rows (`width` wide) of packed `x` at each sequence's first token, packed.
pub(crate) fn first_rows(seqs: &[Seq], x: &[f32], width: usize) -> Vec<f32> {
    seqs.iter()
        .filter(|s| s.len > 0)
        .flat_map(|s| &x[s.start * width..][..width])
        .copied()
        .collect()
}

impl Transformer {
    /// [`Transformer::forward`] for passes without gradients, padding-free and fused (module
    /// note): the same numbers to rounding, several times faster. Rows after a sequence's last
    /// unmasked token come back as zeros; attention maps only for [`Pass::Attentions`] (zero
    /// outside each sequence), else an empty list; (B, 1, H), the first rows alone, for
    /// [`Pass::FirstToken`]. Weights are packed on first use and again after they change.
    pub fn infer(
        &self,
        words: &Tensor,
        mask: &Tensor,
        pass: Pass,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let (b, t, h) = words.dims3()?;
        self.check_len(t)?;
        let first_only = pass == Pass::FirstToken;
        let packed = self.packed.get(|| PackedEncoder::new(self))?;
        let mask = mask.flatten_all()?.to_vec1::<f32>()?;
        let (mut seqs, mut n) = Seq::packed(&mask, b, t);
        let words = words.flatten_all()?.to_vec1::<f32>()?;
        let mut x = Vec::with_capacity(n * h);
        for s in &seqs {
            for (r, pos) in packed.position.chunks_exact(h).enumerate().take(s.len) {
                let word = &words[(s.index * t + r) * h..][..h];
                x.extend(
                    word.iter()
                        .zip(pos)
                        .zip(&packed.token_type)
                        .map(|((w, p), y)| w + p + y),
                );
            }
        }
        packed.emb_ln.apply(&mut x, None);
        let heads = self.config.num_attention_heads;
        let mut maps = Vec::new();
        let last = packed.layers.len().saturating_sub(1);
        for (i, layer) in packed.layers.iter().enumerate() {
            let qkv = layer.qkv.apply(&x, n);
            let answer = match pass {
                Pass::Attentions => Answer::Maps,
                Pass::FirstToken if i == last => Answer::First,
                _ => Answer::Context,
            };
            let (ctx, probs) = attention(&qkv, &seqs, &mask, (t, h, heads), None, answer);
            if answer == Answer::First {
                x = first_rows(&seqs, &x, h);
                (seqs, n) = firsts(&seqs);
            }
            let mut a = layer.attn_out.apply(&ctx, n);
            layer.attn_ln.apply(&mut a, Some(&x));
            // x = LN(a + out(act(inter(a)))), block by block, in place of `a`.
            for a in a.chunks_mut(FEED_FORWARD_ROWS * h) {
                let rows = a.len() / h;
                let mut f = layer.inter.apply(a, rows);
                activate(&mut f, self.config.hidden_act);
                layer.out_ln.apply(a, Some(&layer.out.apply(&f, rows)));
            }
            x = a;
            if answer == Answer::Maps {
                maps.push(Tensor::from_vec(probs, (b, heads, t, t), &Device::Cpu)?);
            }
        }
        let t = if first_only { 1 } else { t };
        let mut out = vec![0f32; b * t * h];
        for s in &seqs {
            out[s.index * t * h..][..s.len * h].copy_from_slice(&x[s.start * h..][..s.len * h]);
        }
        Ok((Tensor::from_vec(out, (b, t, h), &Device::Cpu)?, maps))
    }
}

/// What [`attention`] computes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Every query's context.
    Context,
    /// Every query's context and the probabilities.
    Maps,
    /// The context of each sequence's first query only, packed as [`firsts`] packs them.
    First,
}

/// Scaled dot-product attention of every sequence and head on the packed `qkv` rows
/// `(N, 3H)`, `shape` = (T, H, heads); with `half_window`, query `i` reads only keys `j` with
/// `|i − j| ≤ half_window`. Returns the context `(N, H)` (one row per sequence for
/// [`Answer::First`]) and, for [`Answer::Maps`], the probabilities as `(B, heads, T, T)` (zeros
/// outside each sequence).
pub(crate) fn attention(
    qkv: &[f32],
    seqs: &[Seq],
    mask: &[f32],
    shape: (usize, usize, usize),
    half_window: Option<usize>,
    answer: Answer,
) -> (Vec<f32>, Vec<f32>) {
    let (t, h, heads) = shape;
    let dh = h / heads;
    let first = answer == Answer::First;
    // The context's rows: one per query asked.
    let cut = first.then(|| firsts(seqs).0);
    let out = cut.as_deref().unwrap_or(seqs);
    // (sequence, head, its first row in the context)
    let jobs: Vec<(&Seq, usize, usize)> = seqs
        .iter()
        .zip(out)
        .filter(|(s, _)| s.len > 0)
        .flat_map(|(s, o)| (0..heads).map(move |head| (s, head, o.start)))
        .collect();
    let results: Vec<(Vec<f32>, Vec<f32>)> = jobs
        .par_iter()
        .map(|&(s, head, _)| {
            let keys = &mask[s.index * t..][..s.len];
            let queries = if first { 1 } else { s.len };
            fast_math::simd(
                #[inline(always)]
                || one_head(qkv, s, keys, head * dh, (h, dh, queries), half_window),
            )
        })
        .collect();
    let n = out.last().map_or(0, |s| s.start + s.len);
    let mut ctx = vec![0f32; n * h];
    let keep = answer == Answer::Maps;
    let mut probs = if keep {
        vec![0f32; seqs.len() * heads * t * t]
    } else {
        Vec::new()
    };
    for (&(s, head, start), (c, p)) in jobs.iter().zip(results) {
        for r in 0..c.len() / dh {
            ctx[(start + r) * h + head * dh..][..dh].copy_from_slice(&c[r * dh..][..dh]);
            if keep {
                let at = ((s.index * heads + head) * t + r) * t;
                probs[at..at + s.len].copy_from_slice(&p[r * s.len..][..s.len]);
            }
        }
    }
    (ctx, probs)
}

/// One head of one sequence: its columns start at `col` of each third of the `qkv` rows; `dims`
/// = (H, head width, queries: the first rows that ask). Returns the context `(queries, dh)` and
/// the probabilities `(queries, len)`; keys whose mask is 0, or outside the window, get
/// probability 0 (a query with no key left reads nothing).
#[inline(always)]
fn one_head(
    qkv: &[f32],
    s: &Seq,
    keys: &[f32],
    col: usize,
    dims: (usize, usize, usize),
    half_window: Option<usize>,
) -> (Vec<f32>, Vec<f32>) {
    let (h, dh, queries) = dims;
    let len = s.len;
    let part = |third: usize, r: usize| &qkv[(s.start + r) * 3 * h + third * h + col..][..dh];
    let rows = |third: usize, n: usize| {
        let mut out = Vec::with_capacity(n * dh);
        (0..n).for_each(|r| out.extend_from_slice(part(third, r)));
        out
    };
    let (q, v) = (rows(0, queries), rows(2, len));
    // Kᵀ as a (dh, len) matrix.
    let mut kt = vec![0f32; dh * len];
    for j in 0..len {
        for (d, &x) in part(1, j).iter().enumerate() {
            kt[d * len + j] = x;
        }
    }
    let mut p = PackedMatrix::new(&kt, dh, len, None).apply_serial(&q, queries);
    let scale = 1.0 / (dh as f32).sqrt();
    let all_keys = keys.iter().all(|&m| m > 0.0);
    for (i, row) in p.chunks_exact_mut(len).enumerate() {
        let seen = match half_window {
            Some(w) => i.saturating_sub(w)..(i + w + 1).min(len),
            None => 0..len,
        };
        row[..seen.start].fill(0.0);
        row[seen.end..].fill(0.0);
        let (row, keys) = (&mut row[seen.clone()], &keys[seen]);
        let max = match all_keys {
            true => fast_math::max(row),
            false => row
                .iter()
                .zip(keys)
                .filter(|(_, &m)| m > 0.0)
                .fold(f32::NEG_INFINITY, |a, (&x, _)| a.max(x)),
        };
        if max == f32::NEG_INFINITY {
            row.fill(0.0);
            continue;
        }
        for (x, &m) in row.iter_mut().zip(keys) {
            *x = fast_math::exp((*x - max) * scale) * m;
        }
        let inv = 1.0 / fast_math::sum(row);
        row.iter_mut().for_each(|x| *x *= inv);
    }
    let ctx = PackedMatrix::new(&v, len, dh, None).apply_serial(&p, queries);
    (ctx, p)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{max_diff, small_encoder};
    use super::super::{Pass, Transformer};
    use crate::models::params::ParamStore;
    use candle_core::{DType, Device, Tensor};

    fn encoder(act: super::Activation) -> Transformer {
        small_encoder(&ParamStore::fresh(3), act)
    }

    /// The key mask (B, T) of right-padded sequences of these lengths.
    fn right_padded(lens: &[usize], t: usize) -> Tensor {
        let mask: Vec<f32> = lens
            .iter()
            .flat_map(|&l| (0..t).map(move |i| if i < l { 1.0 } else { 0.0 }))
            .collect();
        Tensor::from_vec(mask, (lens.len(), t), &Device::Cpu).unwrap()
    }

    /// A right-padded batch of three lengths: the padding-free pass equals the differentiable
    /// padded pass and each sequence alone, states and attention maps, on the real tokens.
    #[test]
    fn packed_batch_equals_padded_and_single_passes() {
        for act in [
            super::Activation::Gelu,
            super::Activation::GeluNew,
            super::Activation::Relu,
        ] {
            let tr = encoder(act);
            let lens = [7usize, 3, 11];
            let t = 11;
            let words = Tensor::randn(0f32, 1.0, (3, t, 32), &Device::Cpu).unwrap();
            let mask = right_padded(&lens, t);
            let (fast, fast_maps) = tr.run(&words, &mask, Pass::Attentions).unwrap();
            let (slow, slow_maps) = tr.forward(&words, &mask).unwrap();
            for (i, &l) in lens.iter().enumerate() {
                let real = |x: &Tensor| x.get(i).unwrap().narrow(0, 0, l).unwrap();
                assert!(
                    max_diff(&real(&fast), &real(&slow)) < 1e-5,
                    "{act:?} sequence {i}"
                );
                let alone = words
                    .get(i)
                    .unwrap()
                    .narrow(0, 0, l)
                    .unwrap()
                    .unsqueeze(0)
                    .unwrap();
                let ones = Tensor::ones((1, l), DType::F32, &Device::Cpu).unwrap();
                let (single, _) = tr.run(&alone, &ones, Pass::Logits).unwrap();
                assert!(max_diff(&real(&fast), &single.get(0).unwrap()) < 1e-5);
                let padding = fast.get(i).unwrap().narrow(0, l, t - l).unwrap();
                assert_eq!(
                    padding
                        .abs()
                        .unwrap()
                        .sum_all()
                        .unwrap()
                        .to_scalar::<f32>()
                        .unwrap(),
                    0.0
                );
                for (f, s) in fast_maps.iter().zip(&slow_maps) {
                    let block = |m: &Tensor| {
                        m.get(i)
                            .unwrap()
                            .narrow(1, 0, l)
                            .unwrap()
                            .narrow(2, 0, l)
                            .unwrap()
                    };
                    assert!(max_diff(&block(f), &block(s)) < 1e-5);
                }
            }
            assert!(tr.run(&words, &mask, Pass::Logits).unwrap().1.is_empty());
        }
    }

    /// [`Pass::FirstToken`] gives each sequence's first final state bit for bit as the full
    /// pass does (zeros for a sequence with no token), as (B, 1, H).
    #[test]
    fn first_token_pass_equals_the_first_row_of_the_full_pass() {
        let tr = encoder(super::Activation::Gelu);
        let (lens, t) = ([7usize, 0, 3, 11], 11);
        let words = Tensor::randn(0f32, 1.0, (4, t, 32), &Device::Cpu).unwrap();
        let mask = right_padded(&lens, t);
        let (full, _) = tr.run(&words, &mask, Pass::Logits).unwrap();
        let (first, maps) = tr.run(&words, &mask, Pass::FirstToken).unwrap();
        assert_eq!(first.dims(), &[4, 1, 32]);
        assert!(maps.is_empty());
        let rows = |x: &Tensor| x.narrow(1, 0, 1).unwrap().flatten_all().unwrap();
        let (want, got) = (rows(&full), rows(&first));
        assert_eq!(
            want.to_vec1::<f32>().unwrap(),
            got.to_vec1::<f32>().unwrap()
        );
    }

    /// A key masked inside a sequence gets no attention, as in the padded pass.
    #[test]
    fn masked_keys_inside_a_sequence_get_no_attention() {
        let tr = encoder(super::Activation::Gelu);
        let words = Tensor::randn(0f32, 1.0, (1, 6, 32), &Device::Cpu).unwrap();
        let mask = Tensor::new(&[[1f32, 1.0, 0.0, 1.0, 1.0, 1.0]], &Device::Cpu).unwrap();
        let (fast, maps) = tr.run(&words, &mask, Pass::Attentions).unwrap();
        let (slow, _) = tr.forward(&words, &mask).unwrap();
        assert!(max_diff(&fast, &slow) < 1e-5);
        let column = maps[0].narrow(3, 2, 1).unwrap();
        assert_eq!(column.sum_all().unwrap().to_scalar::<f32>().unwrap(), 0.0);
    }
}
