//! ModernBERT (`ModernBertForSequenceClassification`) from its checkpoint's own tensor names:
//! bias-free LayerNorms, rotary positions (rotate-half) with one θ for global and one for
//! sliding-window layers, fused `Wqkv`, a GeGLU feed-forward, and a head that pools (`cls` or
//! masked `mean`) the final-norm states, then dense → activation → norm → classifier.
//! [`ModernBert::forward`] is written with differentiable ops (gradients reach the word
//! embeddings and the attention maps): the reference the other passes are tested against.
//! Gradient explanations run [`ModernBert::forward_fused`], the layers one op with a
//! hand-written backward pass (`fused`); passes without gradients run [`ModernBert::infer`],
//! padding-free and fused on the packed dense kernel like the BERT encoder's.

mod fused;

use super::blocks::{
    gated, inv_freq, pack, rope, rotary_angles, rotary_tables, rotate_half, Linear,
};
use super::HfConfig;
use crate::models::dense::{PackedMatrix, FEED_FORWARD_ROWS};
use crate::models::embedding::Embedding;
use crate::models::params::{Derived, Init, ParamStore};
use crate::models::transformer::{
    self, activate_chunk, attention, first_rows, firsts, Activation, Answer, Pass, Seq,
};
use crate::models::{fast_math, ModelError, Result};
use candle_core::{DType, Device, Tensor, D};
use serde_json::Value;

/// A LayerNorm whose bias may be absent (`norm_bias: false`).
struct Norm {
    w: Tensor,
    b: Tensor,
    eps: f32,
}

impl Norm {
    fn new(p: &ParamStore, name: &str, dim: usize, bias: bool, eps: f64) -> Result<Self> {
        Ok(Norm {
            w: p.get(&format!("{name}.weight"), &[dim], Init::Ones)?,
            b: match bias {
                true => p.get(&format!("{name}.bias"), &[dim], Init::Zeros)?,
                false => Tensor::zeros(dim, DType::F32, &Device::Cpu)?,
            },
            eps: eps as f32,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::ops::layer_norm_slow(
            x, &self.w, &self.b, self.eps,
        )?)
    }

    /// The parameters as vectors, for the packed pass.
    fn packed(&self) -> Result<transformer::Norm> {
        Ok(transformer::Norm {
            w: self.w.to_vec1()?,
            b: self.b.to_vec1()?,
            eps: self.eps,
        })
    }
}

struct Layer {
    attn_norm: Option<Norm>,
    qkv: Linear,
    out: Linear,
    mlp_norm: Norm,
    wi: Linear,
    wo: Linear,
    /// Sliding-window layer (else global).
    sliding: bool,
}

/// The encoder and its classification head.
pub(super) struct ModernBert {
    heads: usize,
    positions: usize,
    /// A sliding layer's query i sees key j iff |i − j| ≤ `half_window`.
    half_window: usize,
    theta_global: f32,
    theta_local: f32,
    act: Activation,
    head_act: Activation,
    mean_pooling: bool,
    emb_norm: Norm,
    layers: Vec<Layer>,
    final_norm: Norm,
    head_dense: Linear,
    head_norm: Norm,
    classifier: Linear,
    /// The encoder's weights packed for [`ModernBert::infer`], on first use (again after they
    /// change).
    packed: Derived<Packed>,
    /// The same for the input gradients of [`ModernBert::forward_fused`].
    transposed: Derived<Vec<fused::Transposed>>,
}

/// One layer's weights packed for inference.
struct PackedLayer {
    attn_norm: Option<transformer::Norm>,
    qkv: PackedMatrix,
    out: PackedMatrix,
    mlp_norm: transformer::Norm,
    wi: PackedMatrix,
    wo: PackedMatrix,
    sliding: bool,
}

/// The encoder's weights packed for inference.
struct Packed {
    emb_norm: transformer::Norm,
    layers: Vec<PackedLayer>,
    final_norm: transformer::Norm,
}

impl Packed {
    fn new(m: &ModernBert) -> Result<Self> {
        let layers = m
            .layers
            .iter()
            .map(|l| {
                Ok(PackedLayer {
                    attn_norm: l.attn_norm.as_ref().map(Norm::packed).transpose()?,
                    qkv: pack(&[&l.qkv])?,
                    out: pack(&[&l.out])?,
                    mlp_norm: l.mlp_norm.packed()?,
                    wi: pack(&[&l.wi])?,
                    wo: pack(&[&l.wo])?,
                    sliding: l.sliding,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Packed {
            emb_norm: m.emb_norm.packed()?,
            layers,
            final_norm: m.final_norm.packed()?,
        })
    }
}

/// The rotary θ of a layer kind from `rope_parameters.{kind}.rope_theta`, or a legacy key.
fn theta(cfg: &HfConfig, kind: &str, legacy: &str, default: f64) -> Result<f32> {
    let v = cfg
        .json
        .get("rope_parameters")
        .and_then(|r| r.get(kind))
        .and_then(|r| r.get("rope_theta"))
        .and_then(Value::as_f64);
    Ok(match v {
        Some(t) => t,
        None => cfg.f64_or(legacy, default)?,
    } as f32)
}

fn activation(cfg: &HfConfig, key: &str) -> Result<Activation> {
    let name = cfg.str_or(key, "gelu");
    Activation::from_hf(name).ok_or_else(|| {
        cfg.error(format!(
            "{key} {name:?} is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)"
        ))
    })
}

impl ModernBert {
    /// Builds the model from `p` (tensors under the checkpoint's names) as `config.json` says.
    /// Returns the word embeddings and the model.
    pub(super) fn new(
        cfg: &HfConfig,
        p: &ParamStore,
        vocab: usize,
        classes: usize,
    ) -> Result<(Embedding, Self)> {
        let flag = |k: &str| cfg.json.get(k).and_then(Value::as_bool).unwrap_or(false);
        let h = cfg.usize("hidden_size")?;
        let heads = cfg.usize("num_attention_heads")?;
        let inter = cfg.usize("intermediate_size")?;
        let n_layers = cfg.usize("num_hidden_layers")?;
        if heads == 0 || !h.is_multiple_of(heads) || !(h / heads).is_multiple_of(2) {
            return Err(cfg.error(format!(
                "hidden_size {h} must split into num_attention_heads {heads} heads of even size"
            )));
        }
        let eps = cfg.f64_or("norm_eps", 1e-5)?;
        let norm_bias = flag("norm_bias");
        let sliding: Vec<bool> = match cfg.json.get("layer_types").and_then(Value::as_array) {
            Some(kinds) => kinds
                .iter()
                .map(|k| match k.as_str() {
                    Some("full_attention") => Ok(false),
                    Some("sliding_attention") => Ok(true),
                    _ => Err(cfg.error(format!(
                        "layer_types entry {k} is not full_attention or sliding_attention"
                    ))),
                })
                .collect::<Result<_>>()?,
            None => {
                let every = cfg.usize_or("global_attn_every_n_layers", Some(3))?.max(1);
                (0..n_layers).map(|i| i % every != 0).collect()
            }
        };
        if sliding.len() != n_layers {
            return Err(cfg.error(format!(
                "layer_types has {} entries for {n_layers} layers",
                sliding.len()
            )));
        }
        let pooling = cfg.str_or("classifier_pooling", "cls");
        if pooling != "cls" && pooling != "mean" {
            return Err(cfg.error(format!(
                "classifier_pooling {pooling:?} is not supported (cls, mean)"
            )));
        }
        let embed = Embedding::new(p, "model.embeddings.tok_embeddings.weight", vocab, h)?;
        let mut layers = Vec::with_capacity(n_layers);
        for (i, &sliding) in sliding.iter().enumerate() {
            let l = format!("model.layers.{i}");
            let attn_bias = flag("attention_bias");
            let mlp_bias = flag("mlp_bias");
            layers.push(Layer {
                attn_norm: match i {
                    0 => None,
                    _ => Some(Norm::new(p, &format!("{l}.attn_norm"), h, norm_bias, eps)?),
                },
                qkv: Linear::new(p, &format!("{l}.attn.Wqkv"), h, 3 * h, attn_bias)?,
                out: Linear::new(p, &format!("{l}.attn.Wo"), h, h, attn_bias)?,
                mlp_norm: Norm::new(p, &format!("{l}.mlp_norm"), h, norm_bias, eps)?,
                wi: Linear::new(p, &format!("{l}.mlp.Wi"), h, 2 * inter, mlp_bias)?,
                wo: Linear::new(p, &format!("{l}.mlp.Wo"), inter, h, mlp_bias)?,
                sliding,
            });
        }
        let model = ModernBert {
            heads,
            positions: cfg.usize("max_position_embeddings")?,
            half_window: cfg.usize_or("local_attention", Some(128))? / 2,
            theta_global: theta(cfg, "full_attention", "global_rope_theta", 160_000.0)?,
            theta_local: theta(cfg, "sliding_attention", "local_rope_theta", 10_000.0)?,
            act: activation(cfg, "hidden_activation")?,
            head_act: activation(cfg, "classifier_activation")?,
            mean_pooling: pooling == "mean",
            emb_norm: Norm::new(p, "model.embeddings.norm", h, norm_bias, eps)?,
            layers,
            final_norm: Norm::new(p, "model.final_norm", h, norm_bias, eps)?,
            head_dense: Linear::new(p, "head.dense", h, h, flag("classifier_bias"))?,
            head_norm: Norm::new(p, "head.norm", h, norm_bias, eps)?,
            classifier: Linear::new(p, "classifier", h, classes, true)?,
            packed: Derived::default(),
            transposed: Derived::default(),
        };
        Ok((embed, model))
    }

    /// Longest input.
    pub(super) fn max_len(&self) -> usize {
        self.positions
    }

    /// Whether the head reads the first token only (`cls` pooling) rather than all.
    pub(super) fn reads_first_token(&self) -> bool {
        !self.mean_pooling
    }

    /// Logits (B, C) and per-layer attention probabilities (B, heads, T, T) of word embeddings
    /// (B, T, H) under the 0/1 key mask (B, T), run as `pass` asks: differentiable in the
    /// embeddings and the maps ([`forward`](Self::forward)), in the embeddings alone
    /// ([`forward_fused`](Self::forward_fused), no maps), or not at all
    /// ([`infer`](Self::infer); maps only for [`Pass::Attentions`]).
    pub(super) fn run(
        &self,
        emb: &Tensor,
        mask: &Tensor,
        pass: Pass,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        match pass {
            Pass::Grad | Pass::Train => self.forward(emb, mask),
            Pass::InputGrad => Ok((self.forward_fused(emb, mask)?, Vec::new())),
            Pass::Logits | Pass::FirstToken => self.infer(emb, mask, false),
            Pass::Attentions => self.infer(emb, mask, true),
        }
    }

    /// Refuses inputs longer than the model's positions.
    fn check_len(&self, t: usize) -> Result<()> {
        if t > self.positions {
            return Err(ModelError::Data(format!(
                "input of {t} tokens is longer than the {} positions of the model",
                self.positions
            )));
        }
        Ok(())
    }

    /// [`run`](Self::run)'s differentiable pass.
    fn forward(&self, emb: &Tensor, mask: &Tensor) -> Result<(Tensor, Vec<Tensor>)> {
        let (b, t, h) = emb.dims3()?;
        self.check_len(t)?;
        let nh = self.heads;
        let d = h / nh;
        let pad_bias = ((mask - 1.0)? * 1e9)?.reshape((b, 1, 1, t))?;
        let band: Vec<f32> = (0..t * t)
            .map(|x| {
                let (i, j) = (x / t, x % t);
                if i.abs_diff(j) <= self.half_window {
                    0.0
                } else {
                    -1e9
                }
            })
            .collect();
        let local_bias =
            pad_bias.broadcast_add(&Tensor::from_vec(band, (1, 1, t, t), &Device::Cpu)?)?;
        let positions: Vec<usize> = (0..t).collect();
        let global = rotary_tables(&inv_freq(self.theta_global, d), &positions)?;
        let local = rotary_tables(&inv_freq(self.theta_local, d), &positions)?;
        let scale = 1.0 / (d as f64).sqrt();
        let mut x = self.emb_norm.forward(emb)?;
        let mut attns = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let a = match &layer.attn_norm {
                Some(n) => n.forward(&x)?,
                None => x.clone(),
            };
            let qkv = layer.qkv.forward(&a)?.reshape((b, t, 3, nh, d))?;
            let part = |k: usize| -> Result<Tensor> {
                Ok(qkv
                    .narrow(2, k, 1)?
                    .squeeze(2)?
                    .transpose(1, 2)?
                    .contiguous()?)
            };
            let (cos, sin) = if layer.sliding { &local } else { &global };
            let q = rope(&part(0)?, cos, sin)?;
            let k = rope(&part(1)?, cos, sin)?;
            let v = part(2)?;
            let bias = if layer.sliding {
                &local_bias
            } else {
                &pad_bias
            };
            let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(bias)?;
            let probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
            let ctx = probs
                .matmul(&v)?
                .transpose(1, 2)?
                .contiguous()?
                .reshape((b, t, h))?;
            x = (x + layer.out.forward(&ctx)?)?;
            let m = layer.wi.forward(&layer.mlp_norm.forward(&x)?)?;
            let inter = m.dim(D::Minus1)? / 2;
            let gated = (self.act.apply(&m.narrow(D::Minus1, 0, inter)?)?
                * m.narrow(D::Minus1, inter, inter)?)?;
            x = (x + layer.wo.forward(&gated)?)?;
            attns.push(probs);
        }
        Ok((self.pool_and_head(&x, mask)?, attns))
    }

    /// [`forward`](Self::forward)'s logits, the layers one op differentiable in its input
    /// (`fused`: the weights stay constant). The same numbers to rounding.
    fn forward_fused(&self, emb: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, t, h) = emb.dims3()?;
        self.check_len(t)?;
        let op = self.layers_op(mask.flatten_all()?.to_vec1()?, b, t, h)?;
        let x = self.emb_norm.forward(emb)?.contiguous()?.apply_op1(op)?;
        self.pool_and_head(&x, mask)
    }

    /// Logits (B, C) of the last layer's states (B, T, H): the final norm, pooling, the head.
    fn pool_and_head(&self, x: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let x = self.final_norm.forward(x)?;
        let pooled = if self.mean_pooling {
            let m = mask.unsqueeze(2)?;
            let n = mask.sum_keepdim(1)?.clamp(1.0, f64::MAX)?;
            x.broadcast_mul(&m)?.sum(1)?.broadcast_div(&n)?
        } else {
            x.narrow(1, 0, 1)?.squeeze(1)?
        };
        self.head(&pooled)
    }

    /// The classification head on the pooled states (B, H): logits (B, C).
    fn head(&self, pooled: &Tensor) -> Result<Tensor> {
        let z = self
            .head_norm
            .forward(&self.head_act.apply(&self.head_dense.forward(pooled)?)?)?;
        Ok(self.classifier.forward(&z)?)
    }

    /// [`run`](Self::run) without gradients: the real tokens of the batch packed into one
    /// buffer (no rows for padding), every product on the packed dense kernel, the norms,
    /// rotary positions and GeGLU in place, attention per sequence and head (sliding layers
    /// banded by index). The same numbers as [`forward`](Self::forward) to rounding; attention
    /// maps only when `attentions` (zero outside each sequence), else an empty list.
    fn infer(
        &self,
        emb: &Tensor,
        mask: &Tensor,
        attentions: bool,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let (b, t, h) = emb.dims3()?;
        self.check_len(t)?;
        let packed = self.packed.get(|| Packed::new(self))?;
        let mask = mask.flatten_all()?.to_vec1::<f32>()?;
        let (mut seqs, mut n) = Seq::packed(&mask, b, t);
        let words = emb.flatten_all()?.to_vec1::<f32>()?;
        let mut x = Vec::with_capacity(n * h);
        for s in &seqs {
            x.extend_from_slice(&words[s.index * t * h..][..s.len * h]);
        }
        packed.emb_norm.apply(&mut x, None);
        let d = h / self.heads;
        let positions: Vec<usize> = seqs.iter().flat_map(|s| 0..s.len).collect();
        let global = rotary_angles(&inv_freq(self.theta_global, d), &positions);
        let local = rotary_angles(&inv_freq(self.theta_local, d), &positions);
        let mut maps = Vec::new();
        // A `cls` head reads one row: the last layer's output and feed-forward run on it alone.
        let first_only = !self.mean_pooling && !attentions;
        let last = packed.layers.len().saturating_sub(1);
        for (i, layer) in packed.layers.iter().enumerate() {
            let mut a = x.clone();
            if let Some(norm) = &layer.attn_norm {
                norm.apply(&mut a, None);
            }
            let mut qkv = layer.qkv.apply(&a, n);
            let (cos, sin) = if layer.sliding { &local } else { &global };
            rotate_half(&mut qkv, (3 * h, 2 * h, d), cos, sin);
            let window = layer.sliding.then_some(self.half_window);
            let shape = (t, h, self.heads);
            let answer = match attentions {
                true => Answer::Maps,
                false if first_only && i == last => Answer::First,
                false => Answer::Context,
            };
            let (ctx, probs) = attention(&qkv, &seqs, &mask, shape, window, answer);
            if answer == Answer::First {
                x = first_rows(&seqs, &x, h);
                (seqs, n) = firsts(&seqs);
            }
            fast_math::add(&mut x, &layer.out.apply(&ctx, n));
            for x in x.chunks_mut(FEED_FORWARD_ROWS * h) {
                let rows = x.len() / h;
                let mut m = x.to_vec();
                layer.mlp_norm.apply(&mut m, None);
                let gated = gated(
                    &layer.wi.apply(&m, rows),
                    layer.wi.n() / 2,
                    #[inline(always)]
                    |x: &mut [f32]| activate_chunk(x, self.act),
                );
                fast_math::add(x, &layer.wo.apply(&gated, rows));
            }
            if attentions {
                maps.push(Tensor::from_vec(
                    probs,
                    (b, self.heads, t, t),
                    &Device::Cpu,
                )?);
            }
        }
        packed.final_norm.apply(&mut x, None);
        let mut pooled = vec![0f32; b * h];
        for s in &seqs {
            let out = &mut pooled[s.index * h..][..h];
            let mut rows = x[s.start * h..][..s.len * h].chunks_exact(h);
            if self.mean_pooling {
                let keys = &mask[s.index * t..][..s.len];
                for (row, &k) in rows.zip(keys) {
                    out.iter_mut().zip(row).for_each(|(o, v)| *o += k * v);
                }
                let count = keys.iter().sum::<f32>().max(1.0);
                out.iter_mut().for_each(|o| *o /= count);
            } else if let Some(first) = rows.next() {
                out.copy_from_slice(first);
            }
        }
        let pooled = Tensor::from_vec(pooled, (b, h), &Device::Cpu)?;
        Ok((self.head(&pooled)?, maps))
    }
}

#[cfg(test)]
mod tests {
    use super::super::read_weights;
    use super::*;
    use std::path::PathBuf;

    /// The transformers-made fixture (a global then a sliding layer of window ±2), pooling and
    /// feed-forward activation as asked.
    fn fixture(pooling: &str, act: &str) -> (Embedding, ModernBert) {
        let dir =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hf/modernbert_cls");
        let mut cfg = HfConfig::read(&dir).unwrap();
        cfg.json["classifier_pooling"] = pooling.into();
        cfg.json["hidden_activation"] = act.into();
        let (tensors, file) = read_weights(&dir).unwrap();
        let classes = tensors["classifier.weight"].dims()[0];
        let vocab = tensors["model.embeddings.tok_embeddings.weight"].dims()[0];
        let p = ParamStore::from_tensors(tensors, &file);
        ModernBert::new(&cfg, &p, vocab, classes).unwrap()
    }

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    /// A right-padded batch of ids (one row with a masked key inside it, rows longer than the
    /// window), its key mask and its rows' lengths.
    fn padded_batch() -> (Tensor, Tensor, [usize; 3]) {
        let (b, t) = (3, 12);
        let ids: Vec<u32> = (0..b * t).map(|i| (i * 7 % 90) as u32 + 5).collect();
        let mut mask = vec![1f32; b * t];
        mask[t + 7..2 * t].fill(0.0);
        mask[2 * t + 10..].fill(0.0);
        mask[2 * t + 3] = 0.0;
        let ids = Tensor::from_vec(ids, (b, t), &Device::Cpu).unwrap();
        let mask = Tensor::from_vec(mask, (b, t), &Device::Cpu).unwrap();
        (ids, mask, [12, 7, 10])
    }

    /// The packed pass gives the differentiable pass's logits, and its attention maps on every
    /// real query.
    #[test]
    fn packed_pass_equals_the_differentiable_one() {
        let (ids, mask, lens) = padded_batch();
        let (b, t) = mask.dims2().unwrap();
        for pooling in ["cls", "mean"] {
            let (embed, model) = fixture(pooling, "gelu");
            let emb = embed.forward(&ids).unwrap();
            let (want, want_maps) = model.run(&emb, &mask, Pass::Grad).unwrap();
            let (logits, none) = model.run(&emb, &mask, Pass::Logits).unwrap();
            let (got, maps) = model.run(&emb, &mask, Pass::Attentions).unwrap();
            assert!(none.is_empty());
            assert_eq!(maps.len(), want_maps.len());
            // Without maps a `cls` head's last layer runs on the first rows alone: same bits.
            assert_eq!(values(&logits), values(&got), "{pooling}");
            for l in [&logits, &got] {
                let d = values(l)
                    .into_iter()
                    .zip(values(&want))
                    .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
                assert!(d < 1e-5, "{pooling}: logits differ by {d}");
            }
            // A batch with nothing unmasked is no error: each row's pooled state is zero.
            let none = Tensor::zeros((b, t), DType::F32, &Device::Cpu).unwrap();
            let (empty, _) = model.run(&emb, &none, Pass::Logits).unwrap();
            assert_eq!(empty.dims(), want.dims());
            for (ours, theirs) in maps.iter().zip(&want_maps) {
                let (ours, theirs) = (values(ours), values(theirs));
                for (row, &len) in lens.iter().enumerate() {
                    for head in 0..model.heads {
                        for i in 0..len {
                            let at = ((row * model.heads + head) * t + i) * t;
                            for j in 0..t {
                                let want = if j < len { theirs[at + j] } else { 0.0 };
                                let d = (ours[at + j] - want).abs();
                                assert!(d < 1e-5, "{pooling}: row {row} query {i} key {j}: {d}");
                            }
                        }
                    }
                }
            }
        }
    }

    /// The fused layers give the differentiable pass's logits and gradients in the word
    /// embeddings, for both poolings and each activation.
    #[test]
    fn fused_layers_give_the_gradients_of_the_differentiable_pass() {
        let (ids, mask, _) = padded_batch();
        for pooling in ["cls", "mean"] {
            for act in ["gelu", "gelu_new", "relu"] {
                let (embed, model) = fixture(pooling, act);
                let emb = candle_core::Var::from_tensor(&embed.forward(&ids).unwrap()).unwrap();
                let weights = Tensor::randn(0f32, 1.0, (3, 3), &Device::Cpu).unwrap();
                let run = |pass| {
                    let (logits, _) = model.run(&emb, &mask, pass).unwrap();
                    let loss = (&logits * &weights).unwrap().sum_all().unwrap();
                    let grad = loss.backward().unwrap().remove(&emb).unwrap();
                    (values(&logits), values(&grad))
                };
                let ((want, want_grad), (got, grad)) = (run(Pass::Grad), run(Pass::InputGrad));
                let scale = want_grad.iter().fold(0f32, |m, g| m.max(g.abs()));
                assert!(scale > 0.0, "{pooling} {act}: no gradient");
                for (a, b) in got.iter().zip(&want) {
                    assert!((a - b).abs() < 1e-5, "{pooling} {act}: logits {a} vs {b}");
                }
                for (i, (a, b)) in grad.iter().zip(&want_grad).enumerate() {
                    let d = (a - b).abs() / scale;
                    assert!(d < 1e-4, "{pooling} {act}: gradient {i}: {a} vs {b}");
                }
            }
        }
    }
}
