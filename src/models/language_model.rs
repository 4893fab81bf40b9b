//! Any causal language model folder the crate reads — GPT-2 or a Llama-family decoder — loaded
//! by what its `config.json` names, with its tokenizer and its longest input.

use super::cached_lm::CachedLm;
use super::gpt2::Gpt2;
use super::hf::{HfConfig, HfDecoder, HfKind};
use super::tokenizer::ModelTokenizer;
use super::Result;
use candle_core::Device;
use std::path::Path;

/// A causal language model folder (`config.json`, weights, `tokenizer.json`):
/// `GPT2LMHeadModel`, `LlamaForCausalLM`, `MistralForCausalLM` or `Qwen2ForCausalLM`.
///
/// ```no_run
/// let lm = rationale::LanguageModel::load(std::path::Path::new("gpt2-folder"))?;
/// let ids = lm.tokenizer().encode_text("The capital of France is Paris", lm.max_len())?;
/// let logprobs = lm.model().next_token_logprobs(&[&ids.encoded.ids])?;
/// println!("log p(Paris | …) = {}", logprobs[0].last().unwrap());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LanguageModel(Loaded);

enum Loaded {
    Gpt2(Box<(Gpt2, ModelTokenizer)>),
    Decoder(Box<HfDecoder>),
}

impl LanguageModel {
    /// Loads the folder, whichever of the supported architectures its `config.json` names;
    /// a classifier folder is refused with a message naming the file.
    pub fn load(dir: &Path) -> Result<Self> {
        let cfg = HfConfig::read(dir)?;
        Ok(LanguageModel(match cfg.kind()? {
            HfKind::Gpt2 => {
                let model = Gpt2::load(dir, &Device::Cpu)?;
                let tok = ModelTokenizer::from_file(&dir.join("tokenizer.json"))?;
                Loaded::Gpt2(Box::new((model, tok)))
            }
            HfKind::Decoder(_) => Loaded::Decoder(Box::new(HfDecoder::load(dir)?)),
            HfKind::Classifier(_) => {
                return Err(cfg.error(
                    "this is a sequence classifier, not a causal language model \
                     (GPT2LMHeadModel, LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM); \
                     load it with load_text_model",
                ))
            }
        }))
    }

    /// The model, to score texts ([`CachedLm::next_token_logprobs`]) or continue cached rows.
    pub fn model(&self) -> &dyn CachedLm {
        match &self.0 {
            Loaded::Gpt2(m) => &m.0,
            Loaded::Decoder(m) => m.as_ref(),
        }
    }

    /// The folder's tokenizer (`tokenizer.json`).
    pub fn tokenizer(&self) -> &ModelTokenizer {
        match &self.0 {
            Loaded::Gpt2(m) => &m.1,
            Loaded::Decoder(m) => m.tokenizer(),
        }
    }

    /// The longest input the model was made for (GPT-2's `n_positions`, the decoders'
    /// `max_position_embeddings`).
    pub fn max_len(&self) -> usize {
        match &self.0 {
            Loaded::Gpt2(m) => m.0.config.n_positions,
            Loaded::Decoder(m) => m.max_len(),
        }
    }
}
