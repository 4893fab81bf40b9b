//! Llama / Mistral / Qwen2 `*ForCausalLM` checkpoints in candle, run on a context or on a
//! **sparse subset** of one (each token keeping its original position id).
//!
//! A layer is pre-norm: `x += o(Attn(RMS₁ x))`, `x += down(silu(gate(RMS₂ x)) ⊙ up(RMS₂ x))`;
//! logits are `RMS_f(x) · W_lmᵀ` (`W_lm` the token embeddings when `tie_word_embeddings`).
//! Attention is grouped-query (query head `h` reads key/value head `h / (heads / kv_heads)`),
//! with rotary positions in Hugging Face's rotate-half layout (dimension `j` pairs with
//! `j + d/2`) and scale `head_dim^-½`. The tensors keep the checkpoint's names, so every message
//! about a missing or misshapen tensor names it as the file does.
//!
//! Every op is composed from differentiable primitives (RMSNorm, rotary positions and softmax
//! are written out: candle-nn's fused versions pass no gradient).

use super::blocks::{rope, rotary_tables, Linear};
use super::decoder_config::DecoderConfig;
use super::{check_vocab, read_weights, DecoderFamily, HfConfig, HfKind};
use crate::models::params::{Init, ParamStore};
use crate::models::predict::logprobs_of_next;
use crate::models::{ModelError, ModelTokenizer, Result};
use candle_core::{DType, Device, Tensor, D};
use std::path::Path;

/// A Hugging Face Llama, Mistral or Qwen2 causal language model loaded from a local folder.
pub struct HfDecoder {
    family: DecoderFamily,
    config: DecoderConfig,
    tokenizer: ModelTokenizer,
    embed: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    lm_head: Tensor,
    inv_freq: Vec<f32>,
}

impl std::fmt::Debug for HfDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HfDecoder")
            .field("family", &self.family)
            .field("config", &self.config)
            .finish()
    }
}

/// One decoder layer.
struct Layer {
    input_norm: Tensor,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    post_norm: Tensor,
    gate: Linear,
    up: Linear,
    down: Linear,
    window: Option<usize>,
}

impl HfDecoder {
    /// Loads a `LlamaForCausalLM`, `MistralForCausalLM` or `Qwen2ForCausalLM` folder
    /// (`config.json`, `model.safetensors` or shards, `tokenizer.json`). Every tensor the
    /// configuration implies must be there with its shape, and no other (rotary `inv_freq`
    /// buffers of old files and a tied `lm_head.weight` are ignored); messages name the
    /// checkpoint's tensor. The tokenizer's ids must fit the embedding table.
    pub fn load(dir: &Path) -> Result<Self> {
        let cfg = HfConfig::read(dir)?;
        let HfKind::Decoder(family) = cfg.kind()? else {
            return Err(cfg.error(
                "this is not a Llama, Mistral or Qwen2 causal language model \
                 (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM)",
            ));
        };
        let config = DecoderConfig::from_hf(&cfg, family)?;
        let tokenizer = ModelTokenizer::from_file(&dir.join("tokenizer.json"))?;
        check_vocab(&tokenizer, config.vocab_size, dir)?;
        let (mut tensors, file) = read_weights(dir)?;
        tensors.retain(|name, _| !name.ends_with("rotary_emb.inv_freq"));
        if config.tie_word_embeddings {
            tensors.remove("lm_head.weight");
        }
        let params = ParamStore::from_tensors(tensors, &file);
        let (embed, layers, norm, lm_head) = build(&params, &config)?;
        params.check_all_used()?;
        Ok(HfDecoder {
            family,
            inv_freq: config.inv_freq(),
            config,
            tokenizer,
            embed,
            layers,
            norm,
            lm_head,
        })
    }

    /// The decoder family.
    pub fn family(&self) -> DecoderFamily {
        self.family
    }

    /// The configuration.
    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// The checkpoint's tokenizer.
    pub fn tokenizer(&self) -> &ModelTokenizer {
        &self.tokenizer
    }

    /// The longest input the model was made for (`max_position_embeddings`).
    pub fn max_len(&self) -> usize {
        self.config.max_position_embeddings
    }

    /// Logits `(T, vocab)` for the tokens `ids` at the position ids `positions` (one each),
    /// causal in sequence order: row `i` reads tokens `0..=i` (within the sliding window, by
    /// index, on windowed layers). A subset of a context is its tokens with their original
    /// positions. Positions need not be consecutive or below `max_position_embeddings`
    /// (rotary positions have no table); they are exact up to 2²⁴.
    pub fn logits(&self, ids: &[u32], positions: &[usize]) -> Result<Tensor> {
        let x = self.hidden(ids, positions)?;
        Ok(x.matmul(&self.lm_head.t()?)?)
    }

    /// The last row of [`logits`](Self::logits) (the next token after the last of `ids`),
    /// without computing the others: the language-model head runs on one row.
    pub fn last_logits(&self, ids: &[u32], positions: &[usize]) -> Result<Vec<f32>> {
        let x = self.hidden(ids, positions)?;
        let last = x.narrow(0, ids.len() - 1, 1)?;
        Ok(last
            .matmul(&self.lm_head.t()?)?
            .squeeze(0)?
            .to_dtype(DType::F32)?
            .to_vec1::<f32>()?)
    }

    /// The final-norm hidden states `(T, hidden)` behind [`logits`](Self::logits).
    fn hidden(&self, ids: &[u32], positions: &[usize]) -> Result<Tensor> {
        if ids.is_empty() || ids.len() != positions.len() {
            return Err(ModelError::Invalid(format!(
                "{} token ids and {} positions: a forward pass needs one position per token, \
                 and at least one token",
                ids.len(),
                positions.len()
            )));
        }
        let vocab = self.config.vocab_size;
        if let Some(&t) = ids.iter().find(|&&t| t as usize >= vocab) {
            return Err(ModelError::Invalid(format!(
                "token id {t} >= vocab size {vocab}"
            )));
        }
        let n = ids.len();
        let device = Device::Cpu;
        let mut x = self
            .embed
            .embedding(&Tensor::from_slice(ids, n, &device)?)?;
        let (cos, sin) = rotary_tables(&self.inv_freq, positions)?;
        let mut masks: Vec<(Option<usize>, Tensor)> = Vec::new();
        for layer in &self.layers {
            let mask = match masks.iter().find(|(w, _)| *w == layer.window) {
                Some((_, m)) => m.clone(),
                None => {
                    let m = causal_mask(n, layer.window)?;
                    masks.push((layer.window, m.clone()));
                    m
                }
            };
            x = self.layer(layer, &x, &cos, &sin, &mask)?;
        }
        Ok(rms_norm(&x, &self.norm, self.config.rms_norm_eps)?)
    }

    /// `log p(ids[i] | ids[<i])` for `i ≥ 1` (positions `0..n`); empty for fewer than two ids.
    pub fn next_token_logprobs(&self, ids: &[u32]) -> Result<Vec<f32>> {
        if ids.len() < 2 {
            return Ok(Vec::new());
        }
        let positions: Vec<usize> = (0..ids.len()).collect();
        logprobs_of_next(&self.logits(ids, &positions)?, ids)
    }

    /// One layer on `x (T, hidden)`.
    fn layer(
        &self,
        l: &Layer,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        mask: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let eps = self.config.rms_norm_eps;
        let x = (x + self.attention(l, &rms_norm(x, &l.input_norm, eps)?, cos, sin, mask)?)?;
        let h = rms_norm(&x, &l.post_norm, eps)?;
        let m = (l.gate.forward(&h)?.silu()? * l.up.forward(&h)?)?;
        x + l.down.forward(&m)?
    }

    /// Grouped-query self-attention on the normed `h (T, hidden)`.
    fn attention(
        &self,
        l: &Layer,
        h: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        mask: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let c = &self.config;
        let (t, _) = h.dims2()?;
        let (d, nh, nkv) = (c.head_dim, c.num_attention_heads, c.num_key_value_heads);
        // (T, n·d) → (n, T, d)
        let heads = |x: Tensor, n: usize| x.reshape((t, n, d))?.transpose(0, 1)?.contiguous();
        let q = rope(&heads(l.q.forward(h)?, nh)?, cos, sin)?;
        let k = rope(&heads(l.k.forward(h)?, nkv)?, cos, sin)?;
        let v = heads(l.v.forward(h)?, nkv)?;
        let (k, v) = (repeat_kv(&k, nh / nkv)?, repeat_kv(&v, nh / nkv)?);
        let scores = (q.matmul(&k.t()?)? * (1.0 / (d as f64).sqrt()))?.broadcast_add(mask)?;
        let p = candle_nn::ops::softmax(&scores, D::Minus1)?;
        let y = p.matmul(&v)?.transpose(0, 1)?.reshape((t, nh * d))?;
        l.o.forward(&y)
    }
}

/// Embeddings, layers, final norm and LM head, under the checkpoint's names.
fn build(p: &ParamStore, c: &DecoderConfig) -> Result<(Tensor, Vec<Layer>, Tensor, Tensor)> {
    let (h, d, i) = (c.hidden_size, c.head_dim, c.intermediate_size);
    let (q_out, kv_out) = (c.num_attention_heads * d, c.num_key_value_heads * d);
    let embed = p.get("model.embed_tokens.weight", &[c.vocab_size, h], Init::Zeros)?;
    let mut layers = Vec::with_capacity(c.num_hidden_layers);
    for (n, &window) in c.sliding_windows.iter().enumerate() {
        let at = |part: &str| format!("model.layers.{n}.{part}");
        let norm = |part: &str| p.get(&at(part), &[h], Init::Ones);
        layers.push(Layer {
            input_norm: norm("input_layernorm.weight")?,
            q: Linear::new(p, &at("self_attn.q_proj"), h, q_out, c.qkv_bias)?,
            k: Linear::new(p, &at("self_attn.k_proj"), h, kv_out, c.qkv_bias)?,
            v: Linear::new(p, &at("self_attn.v_proj"), h, kv_out, c.qkv_bias)?,
            o: Linear::new(p, &at("self_attn.o_proj"), q_out, h, c.o_bias)?,
            post_norm: norm("post_attention_layernorm.weight")?,
            gate: Linear::new(p, &at("mlp.gate_proj"), h, i, c.mlp_bias)?,
            up: Linear::new(p, &at("mlp.up_proj"), h, i, c.mlp_bias)?,
            down: Linear::new(p, &at("mlp.down_proj"), i, h, c.mlp_bias)?,
            window,
        });
    }
    let norm = p.get("model.norm.weight", &[h], Init::Ones)?;
    let lm_head = if c.tie_word_embeddings {
        embed.clone()
    } else {
        p.get("lm_head.weight", &[c.vocab_size, h], Init::Zeros)?
    };
    Ok((embed, layers, norm, lm_head))
}

/// `w · x / √(mean(x²) + eps)` over the last dimension.
fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
    x.broadcast_mul(&(ms + eps)?.sqrt()?.recip()?)?
        .broadcast_mul(w)
}

/// Key/value heads `(kv, T, d)` repeated for their query heads: `(kv · rep, T, d)`, kv-major.
fn repeat_kv(x: &Tensor, rep: usize) -> candle_core::Result<Tensor> {
    if rep == 1 {
        return Ok(x.clone());
    }
    let (kv, t, d) = x.dims3()?;
    x.unsqueeze(1)?
        .broadcast_as((kv, rep, t, d))?
        .contiguous()?
        .reshape((kv * rep, t, d))
}

/// The additive attention mask `(T, T)`: 0 where key `j ≤ i` (and `j > i − W` with a window),
/// −1e9 elsewhere.
fn causal_mask(t: usize, window: Option<usize>) -> candle_core::Result<Tensor> {
    let m: Vec<f32> = (0..t * t)
        .map(|x| {
            let (i, j) = (x / t, x % t);
            let seen = j <= i && window.is_none_or(|w| j + w > i);
            if seen {
                0.0
            } else {
                -1e9
            }
        })
        .collect();
    Tensor::from_vec(m, (t, t), &Device::Cpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_hides_keys_w_or_more_tokens_back() {
        let m = causal_mask(4, Some(2)).unwrap().to_vec2::<f32>().unwrap();
        let seen: Vec<Vec<bool>> = m
            .iter()
            .map(|r| r.iter().map(|&x| x == 0.0).collect())
            .collect();
        assert_eq!(
            seen,
            [
                [true, false, false, false],
                [true, true, false, false],
                [false, true, true, false],
                [false, false, true, true],
            ]
        );
        assert_eq!(
            causal_mask(3, Some(3)).unwrap().to_vec2::<f32>().unwrap(),
            causal_mask(3, None).unwrap().to_vec2::<f32>().unwrap()
        );
    }

    #[test]
    fn kv_heads_repeat_kv_major() {
        let x = Tensor::arange(0f32, 2.0, &Device::Cpu)
            .unwrap()
            .reshape((2, 1, 1))
            .unwrap();
        let r = repeat_kv(&x, 3).unwrap().flatten_all().unwrap();
        assert_eq!(r.to_vec1::<f32>().unwrap(), [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
    }
}
