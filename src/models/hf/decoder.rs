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
//! Several sequences can share one pass ([`HfDecoder::packed_last_logits`]): their tokens are
//! packed end to end, the dense layers run on all of them at once, and attention is
//! block-diagonal (each token reads only its own sequence), computed per block of consecutive
//! sequences of one length as a batch.
//!
//! The decoder runs inference only (no gradients): every projection and the full-logits LM
//! head on the packed dense kernel ([`crate::models::dense`], weights packed on first use),
//! candle's fused RMSNorm and softmax.

use super::blocks::{rope, rotary_tables, Linear};
use super::decoder_config::DecoderConfig;
use super::{check_vocab, read_weights, DecoderFamily, HfConfig, HfKind};
use crate::models::params::{Init, ParamStore};
use crate::models::predict::logprobs_of_next;
use crate::models::{ModelError, ModelTokenizer, Result};
use candle_core::{DType, Device, Tensor};
use std::collections::hash_map::{Entry, HashMap};
use std::path::Path;

/// A Hugging Face Llama, Mistral or Qwen2 causal language model loaded from a local folder.
pub struct HfDecoder {
    family: DecoderFamily,
    config: DecoderConfig,
    tokenizer: ModelTokenizer,
    embed: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    /// The language-model head (the embeddings when tied); packed for full logits on first use.
    lm_head: Linear,
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
        let x = self.hidden(&[(ids, positions)])?;
        self.lm_head.infer(&x)
    }

    /// The last row of [`logits`](Self::logits) (the next token after the last of `ids`),
    /// without computing the others: the language-model head runs on one row.
    pub fn last_logits(&self, ids: &[u32], positions: &[usize]) -> Result<Vec<f32>> {
        let logits = self.packed_last_logits(&[(ids, positions)])?;
        Ok(logits.squeeze(0)?.to_dtype(DType::F32)?.to_vec1::<f32>()?)
    }

    /// [`last_logits`](Self::last_logits) of several sequences `(ids, positions)` in one
    /// forward pass: `(sequences, vocab)`. The sequences are packed end to end (no padding);
    /// each token attends only to the tokens before it in its own sequence (block-diagonal
    /// causal attention, windowed by index within the sequence), so every row equals that
    /// sequence's pass alone.
    pub fn packed_last_logits(&self, seqs: &[(&[u32], &[usize])]) -> Result<Tensor> {
        let x = self.hidden(seqs)?;
        let last: Vec<u32> = seqs
            .iter()
            .scan(0, |end, (ids, _)| {
                *end += ids.len();
                Some((*end - 1) as u32)
            })
            .collect();
        let last = Tensor::from_vec(last, seqs.len(), &Device::Cpu)?;
        Ok(self.lm_head.forward(&x.index_select(&last, 0)?)?)
    }

    /// The final-norm hidden states `(ΣT, hidden)` of the packed sequences.
    fn hidden(&self, seqs: &[(&[u32], &[usize])]) -> Result<Tensor> {
        self.check(seqs)?;
        let ids: Vec<u32> = seqs.iter().flat_map(|(i, _)| i.iter().copied()).collect();
        let positions: Vec<usize> = seqs.iter().flat_map(|(_, p)| p.iter().copied()).collect();
        let device = Device::Cpu;
        let mut x = self
            .embed
            .embedding(&Tensor::from_slice(&ids, ids.len(), &device)?)?;
        let (cos, sin) = rotary_tables(&self.inv_freq, &positions)?;
        let blocks = blocks(seqs.iter().map(|(i, _)| i.len()));
        // one mask per block length and window
        let mut masks: HashMap<(usize, Option<usize>), Tensor> = HashMap::new();
        for layer in &self.layers {
            let mut block_masks = Vec::with_capacity(blocks.len());
            for b in &blocks {
                let mask = match masks.entry((b.len, layer.window)) {
                    Entry::Occupied(e) => e.get().clone(),
                    Entry::Vacant(e) => e.insert(causal_mask(b.len, layer.window)?).clone(),
                };
                block_masks.push(mask);
            }
            x = self.layer(layer, &x, &cos, &sin, &blocks, &block_masks)?;
        }
        Ok(rms_norm(&x, &self.norm, self.config.rms_norm_eps)?)
    }

    /// Refuses an empty pass, empty sequences, ids without one position each, and ids
    /// outside the vocabulary.
    fn check(&self, seqs: &[(&[u32], &[usize])]) -> Result<()> {
        if seqs.is_empty() {
            return Err(ModelError::Invalid(
                "a forward pass needs at least one sequence".into(),
            ));
        }
        let vocab = self.config.vocab_size;
        for (ids, positions) in seqs {
            if ids.is_empty() || ids.len() != positions.len() {
                return Err(ModelError::Invalid(format!(
                    "{} token ids and {} positions: a forward pass needs one position per \
                     token, and at least one token",
                    ids.len(),
                    positions.len()
                )));
            }
            if let Some(&t) = ids.iter().find(|&&t| t as usize >= vocab) {
                return Err(ModelError::Invalid(format!(
                    "token id {t} >= vocab size {vocab}"
                )));
            }
        }
        Ok(())
    }

    /// `log p(ids[i] | ids[<i])` for `i ≥ 1` (positions `0..n`); empty for fewer than two ids.
    pub fn next_token_logprobs(&self, ids: &[u32]) -> Result<Vec<f32>> {
        if ids.len() < 2 {
            return Ok(Vec::new());
        }
        let positions: Vec<usize> = (0..ids.len()).collect();
        logprobs_of_next(&self.logits(ids, &positions)?, ids)
    }

    /// One layer on the packed `x (ΣT, hidden)`: `blocks` of equal-length sequences, each
    /// with its `(T, T)` attention mask.
    fn layer(
        &self,
        l: &Layer,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        blocks: &[Block],
        masks: &[Tensor],
    ) -> Result<Tensor> {
        let eps = self.config.rms_norm_eps;
        let h = rms_norm(x, &l.input_norm, eps)?;
        let x = (x + self.attention(l, &h, cos, sin, blocks, masks)?)?;
        let h = rms_norm(&x, &l.post_norm, eps)?;
        let m = (l.gate.infer(&h)?.silu()? * l.up.infer(&h)?)?;
        Ok((x + l.down.infer(&m)?)?)
    }

    /// Grouped-query self-attention on the normed, packed `h (ΣT, hidden)`: the projections
    /// over all tokens at once, the attention block by block (a block's sequences batched,
    /// each reading only its own tokens).
    fn attention(
        &self,
        l: &Layer,
        h: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        blocks: &[Block],
        masks: &[Tensor],
    ) -> Result<Tensor> {
        let c = &self.config;
        let (t, _) = h.dims2()?;
        let (d, nh, nkv) = (c.head_dim, c.num_attention_heads, c.num_key_value_heads);
        // (ΣT, n·d) → (n, ΣT, d)
        let heads = |x: Tensor, n: usize| x.reshape((t, n, d))?.transpose(0, 1)?.contiguous();
        let q = rope(&heads(l.q.infer(h)?, nh)?, cos, sin)?;
        let k = rope(&heads(l.k.infer(h)?, nkv)?, cos, sin)?;
        let v = heads(l.v.infer(h)?, nkv)?;
        let (k, v) = (repeat_kv(&k, nh / nkv)?, repeat_kv(&v, nh / nkv)?);
        let scale = 1.0 / (d as f64).sqrt();
        let mut ys = Vec::with_capacity(blocks.len());
        for (b, mask) in blocks.iter().zip(masks) {
            // (nh, R·T, d) → (R, nh, T, d)
            let split = |x: &Tensor| {
                x.narrow(1, b.start, b.seqs * b.len)?
                    .reshape((nh, b.seqs, b.len, d))?
                    .transpose(0, 1)?
                    .contiguous()
            };
            let (q, k, v) = (split(&q)?, split(&k)?, split(&v)?);
            let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(mask)?;
            let p = candle_nn::ops::softmax_last_dim(&scores)?;
            // (R, nh, T, d) → (nh, R·T, d)
            let y = p.matmul(&v)?.transpose(0, 1)?;
            ys.push(y.reshape((nh, b.seqs * b.len, d))?);
        }
        let y = Tensor::cat(&ys, 1)?.transpose(0, 1)?.reshape((t, nh * d))?;
        l.o.infer(&y)
    }
}

/// Consecutive packed sequences of one length: the first token's index, how many sequences,
/// and their length.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Block {
    start: usize,
    seqs: usize,
    len: usize,
}

/// The packed sequences of lengths `lens`, grouped into blocks of consecutive equal lengths.
fn blocks(lens: impl IntoIterator<Item = usize>) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    let mut start = 0;
    for len in lens {
        match out.last_mut() {
            Some(b) if b.len == len => b.seqs += 1,
            _ => out.push(Block {
                start,
                seqs: 1,
                len,
            }),
        }
        start += len;
    }
    out
}

/// Embeddings, layers, final norm and LM head, under the checkpoint's names.
fn build(p: &ParamStore, c: &DecoderConfig) -> Result<(Tensor, Vec<Layer>, Tensor, Linear)> {
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
    let lm_head = Linear::from_weight(match c.tie_word_embeddings {
        true => embed.clone(),
        false => p.get("lm_head.weight", &[c.vocab_size, h], Init::Zeros)?,
    });
    Ok((embed, layers, norm, lm_head))
}

/// `w · x / √(mean(x²) + eps)` over the last dimension.
fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    candle_nn::ops::rms_norm(&x.contiguous()?, w, eps as f32)
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
    fn blocks_group_consecutive_equal_lengths() {
        let b = |start, seqs, len| Block { start, seqs, len };
        assert_eq!(
            blocks([3, 3, 1, 4, 4, 4, 3]),
            [b(0, 2, 3), b(6, 1, 1), b(7, 3, 4), b(19, 1, 3)]
        );
        assert!(blocks([]).is_empty());
    }

    /// One packed pass gives each sequence's own pass, on full layers (Llama) and on layers
    /// whose window (Mistral's 5) is shorter than some sequences.
    #[test]
    fn packed_logits_equal_one_pass_per_sequence() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hf");
        for name in ["llama_lm", "mistral_lm"] {
            let model = HfDecoder::load(&root.join(name)).unwrap();
            let ids: Vec<u32> = (0..20).map(|i| (i * 37 + 11) % 400).collect();
            let subsets: [&[usize]; 8] = [
                &[0, 4, 9, 10, 12, 13, 15, 19],
                &[1, 2, 3, 5, 8, 11, 14, 18],
                &[7],
                &[2, 19],
                &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
                &[3, 6, 9],
                &[4, 8, 12],
                &[5, 6, 7, 9, 10, 11, 16],
            ];
            let kept: Vec<Vec<u32>> = subsets
                .iter()
                .map(|s| s.iter().map(|&p| ids[p]).collect())
                .collect();
            let seqs: Vec<(&[u32], &[usize])> = kept
                .iter()
                .zip(subsets)
                .map(|(i, s)| (i.as_slice(), s))
                .collect();
            let packed = model
                .packed_last_logits(&seqs)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap();
            assert_eq!(packed.len(), seqs.len());
            for ((i, s), got) in seqs.iter().zip(&packed) {
                let alone = model.last_logits(i, s).unwrap();
                let d = alone
                    .iter()
                    .zip(got)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(d < 1e-4, "{name} {s:?}: max |Δ| {d}");
            }
        }
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
