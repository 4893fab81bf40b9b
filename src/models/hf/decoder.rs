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
//! packed end to end, the dense layers run on all of them at once, and each token attends only
//! to its own sequence. A sequence may also continue the cached keys and values of another
//! ([`CachedLm`], for greedy search).
//!
//! The decoder runs inference only (no gradients), fused and padding-free (`packed`): the
//! weights are packed for the dense kernel ([`crate::models::dense`]) when the folder loads.

mod packed;

use super::blocks::Linear;
use super::decoder_config::DecoderConfig;
use super::{check_vocab, read_weights, DecoderFamily, HfConfig, HfKind};
use crate::models::cached_lm::{Blocks, CachedLm, KvCache, Row, SubsetScore};
use crate::models::params::{Init, ParamStore};
use crate::models::{ModelError, ModelTokenizer, Result};
use candle_core::{Device, Tensor};
use packed::PackedDecoder;
use std::path::Path;

/// A Hugging Face Llama, Mistral or Qwen2 causal language model loaded from a local folder.
pub struct HfDecoder {
    family: DecoderFamily,
    config: DecoderConfig,
    tokenizer: ModelTokenizer,
    packed: PackedDecoder,
}

impl std::fmt::Debug for HfDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HfDecoder")
            .field("family", &self.family)
            .field("config", &self.config)
            .finish()
    }
}

/// One decoder layer's tensors, as the checkpoint names them.
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
        drop(params); // the file's tensors: `build` holds copies
        let packed = PackedDecoder::new(&config, &embed, &layers, &norm, &lm_head)?;
        Ok(HfDecoder {
            family,
            config,
            tokenizer,
            packed,
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
        let logits = self.packed.all_logits(&Self::rows(&[(ids, positions)])?)?;
        let vocab = self.config.vocab_size;
        Ok(Tensor::from_vec(logits, (ids.len(), vocab), &Device::Cpu)?)
    }

    /// The last row of [`logits`](Self::logits) (the next token after the last of `ids`),
    /// without computing the others: the language-model head runs on one row.
    pub fn last_logits(&self, ids: &[u32], positions: &[usize]) -> Result<Vec<f32>> {
        self.packed.last_logits(&Self::rows(&[(ids, positions)])?)
    }

    /// [`last_logits`](Self::last_logits) of several sequences `(ids, positions)` in one
    /// forward pass: `(sequences, vocab)`. The sequences are packed end to end (no padding);
    /// each token attends only to the tokens before it in its own sequence (causal attention,
    /// windowed by index within the sequence), so every row equals that sequence's pass alone.
    pub fn packed_last_logits(&self, seqs: &[(&[u32], &[usize])]) -> Result<Tensor> {
        let logits = self.packed.last_logits(&Self::rows(seqs)?)?;
        let vocab = self.config.vocab_size;
        Ok(Tensor::from_vec(logits, (seqs.len(), vocab), &Device::Cpu)?)
    }

    /// The sequences as rows of a packed pass; refuses an empty pass.
    fn rows(seqs: &[(&[u32], &[usize])]) -> Result<Vec<Row<'static>>> {
        if seqs.is_empty() {
            return Err(ModelError::Invalid(
                "a forward pass needs at least one sequence".into(),
            ));
        }
        Ok(seqs
            .iter()
            .map(|(ids, positions)| Row {
                prefix: None,
                ids: ids.to_vec(),
                positions: positions.to_vec(),
            })
            .collect())
    }
}

impl CachedLm for HfDecoder {
    fn check_tokens(&self, ids: &[u32], positions: &[usize]) -> Result<()> {
        self.packed.check(ids, positions)
    }

    fn prefill(&self, rows: &[Row]) -> Result<Vec<KvCache>> {
        self.packed.prefill(rows)
    }

    fn score(&self, rows: &[Row], targets: &[u32]) -> Result<Vec<SubsetScore>> {
        self.packed.score(rows, targets)
    }

    fn next_token_logprobs(&self, texts: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        self.packed.next_token_logprobs(texts)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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

    /// A row continuing a cached prefix scores as the whole sequence fed fresh, and its cache
    /// equals the whole sequence's: on full layers with grouped-query heads (Llama), windowed
    /// layers shorter than the rows (Mistral's 5) and q/k/v biases (Qwen2).
    #[test]
    fn cached_prefixes_continue_as_fresh_passes() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hf");
        fn row<'c>(prefix: Option<(&'c KvCache, usize)>, positions: &[usize]) -> Row<'c> {
            Row {
                prefix,
                ids: positions
                    .iter()
                    .map(|&p| (p as u32 * 37 + 11) % 400)
                    .collect(),
                positions: positions.to_vec(),
            }
        }
        let base = [1usize, 3, 4, 8, 9, 12, 15, 17];
        for name in ["llama_lm", "mistral_lm", "qwen2_lm"] {
            let model = HfDecoder::load(&root.join(name)).unwrap();
            let cache = model.prefill(&[row(None, &base)]).unwrap().remove(0);
            assert_eq!(cache.len(), base.len());
            // candidate c inserted after the first j tokens of the base
            let (mut fresh, mut cont) = (Vec::new(), Vec::new());
            for (c, j) in [(2usize, 1usize), (5, 3), (10, 5), (16, 7), (18, 8)] {
                let mut whole = base[..j].to_vec();
                whole.push(c);
                whole.extend_from_slice(&base[j..]);
                fresh.push(row(None, &whole));
                cont.push(row(Some((&cache, j)), &whole[j..]));
            }
            let targets = [7u32, 0, 399, 123, 7];
            let want = model.score(&fresh, &targets).unwrap();
            let got = model.score(&cont, &targets).unwrap();
            for (w, g) in want.iter().zip(&got) {
                let d = (w.target_logprob - g.target_logprob).abs();
                assert!(d < 1e-5, "{name}: |Δ log p| {d}");
                assert_eq!(w.argmax, g.argmax, "{name}");
            }
            for (r, w) in fresh.iter().zip(&want) {
                let logits = model.last_logits(&r.ids, &r.positions).unwrap();
                assert_eq!(logits.len(), model.config().vocab_size);
                let alone = crate::models::cached_lm::score_row(&logits, 7);
                assert_eq!(alone.argmax, w.argmax, "{name}");
            }
            for (w, g) in model
                .prefill(&fresh)
                .unwrap()
                .iter()
                .zip(model.prefill(&cont).unwrap())
            {
                assert_eq!(w.len(), g.len());
                for ((wk, wv), (gk, gv)) in w.layers.iter().zip(&g.layers) {
                    let d = wk.iter().chain(wv).zip(gk.iter().chain(gv));
                    let d = d.map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                    assert!(d < 1e-5, "{name}: cached keys and values differ by {d}");
                }
            }
            let long = row(Some((&cache, base.len() + 1)), &[19]);
            assert!(model.score(&[long], &[0]).is_err(), "{name}");
        }
    }
}
