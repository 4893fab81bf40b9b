//! ModernBERT (`ModernBertForSequenceClassification`) from its checkpoint's own tensor names:
//! bias-free LayerNorms, rotary positions (rotate-half) with one θ for global and one for
//! sliding-window layers, fused `Wqkv`, a GeGLU feed-forward, and a head that pools (`cls` or
//! masked `mean`) the final-norm states, then dense → activation → norm → classifier.
//! Written with differentiable ops, so gradients reach the word embeddings.

use super::blocks::{inv_freq, rope, rotary_tables, Linear};
use super::HfConfig;
use crate::models::embedding::Embedding;
use crate::models::params::{Init, ParamStore};
use crate::models::transformer::Activation;
use crate::models::{ModelError, Result};
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
    /// (B, T, H) under the 0/1 key mask (B, T).
    pub(super) fn forward(&self, emb: &Tensor, mask: &Tensor) -> Result<(Tensor, Vec<Tensor>)> {
        let (b, t, h) = emb.dims3()?;
        if t > self.positions {
            return Err(ModelError::Data(format!(
                "input of {t} tokens is longer than the {} positions of the model",
                self.positions
            )));
        }
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
        let x = self.final_norm.forward(&x)?;
        let pooled = if self.mean_pooling {
            let m = mask.unsqueeze(2)?;
            let n = mask.sum_keepdim(1)?.clamp(1.0, f64::MAX)?;
            x.broadcast_mul(&m)?.sum(1)?.broadcast_div(&n)?
        } else {
            x.narrow(1, 0, 1)?.squeeze(1)?
        };
        let z = self
            .head_norm
            .forward(&self.head_act.apply(&self.head_dense.forward(&pooled)?)?)?;
        Ok((self.classifier.forward(&z)?, attns))
    }
}
