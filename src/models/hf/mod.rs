//! Hugging Face checkpoints from a local folder (`config.json`, `model.safetensors` or sharded
//! `model-0000N-of-0000M.safetensors` with `model.safetensors.index.json`, `tokenizer.json`):
//! which architecture a folder holds, its weights in f32, and the classifiers and causal
//! language models built on them. No hub access: everything is read from the folder.

mod blocks;
mod classifier;
mod decoder;
mod decoder_config;
mod export;
mod modernbert;

pub use classifier::HfClassifier;
pub use decoder::HfDecoder;
pub use decoder_config::{DecoderConfig, RopeScaling};
pub use export::save_bert_classifier;

use super::{ModelError, ModelTokenizer, Result};
use candle_core::{DType, Device, Tensor};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// The architectures `rationale` loads, by their `architectures` name in `config.json`.
pub const SUPPORTED: &[(&str, &str)] = &[
    ("BertForSequenceClassification", "classifier"),
    ("RobertaForSequenceClassification", "classifier"),
    ("XLMRobertaForSequenceClassification", "classifier"),
    ("DistilBertForSequenceClassification", "classifier"),
    ("ModernBertForSequenceClassification", "classifier"),
    (
        "GPT2LMHeadModel",
        "causal language model (rationale greedy)",
    ),
    ("LlamaForCausalLM", "causal language model"),
    ("MistralForCausalLM", "causal language model"),
    ("Qwen2ForCausalLM", "causal language model"),
];

/// An encoder family whose sequence classifier [`HfClassifier`] loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncoderFamily {
    /// BERT (MiniLM-style checkpoints included): pooler (tanh) → classifier.
    Bert,
    /// RoBERTa and XLM-R: position ids offset by `padding_idx`; dense (tanh) → out_proj.
    Roberta,
    /// DistilBERT: no token types; pre_classifier (ReLU) → classifier.
    DistilBert,
    /// ModernBERT: rotary positions, global and sliding-window layers, GeGLU; pooled head.
    ModernBert,
}

/// A decoder family whose causal language model [`HfDecoder`] loads. All three share one
/// layout (RMSNorm, rotary positions, grouped-query attention, SwiGLU MLP); they differ in
/// biases, defaults and sliding windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecoderFamily {
    /// Llama (1, 2, 3.x): optional `attention_bias` / `mlp_bias`, llama3 rope scaling.
    Llama,
    /// Mistral: Llama's layout with `sliding_window` (4096 when the key is absent) on every
    /// layer.
    Mistral,
    /// Qwen2: q/k/v biases always; a sliding window only with `use_sliding_window`.
    Qwen2,
}

/// What a Hugging Face folder holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HfKind {
    /// A sequence classifier of an encoder family.
    Classifier(EncoderFamily),
    /// A GPT-2 language model.
    Gpt2,
    /// A Llama-family causal language model.
    Decoder(DecoderFamily),
}

/// A parsed `config.json` with its path, for messages that name the file.
#[derive(Debug, Clone)]
pub struct HfConfig {
    /// The file.
    pub path: PathBuf,
    /// Its content.
    pub json: Value,
}

impl HfConfig {
    /// Reads `dir/config.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join("config.json");
        if !path.is_file() {
            return Err(ModelError::MissingFile { path });
        }
        let text = std::fs::read_to_string(&path).map_err(|e| ModelError::io(&path, e))?;
        let json = serde_json::from_str(&text).map_err(|e| ModelError::Config {
            path: path.clone(),
            message: format!("not JSON: {e}"),
        })?;
        Ok(HfConfig { path, json })
    }

    /// An error about this file.
    pub fn error(&self, message: impl Into<String>) -> ModelError {
        ModelError::Config {
            path: self.path.clone(),
            message: message.into(),
        }
    }

    /// A required whole number.
    pub fn usize(&self, key: &str) -> Result<usize> {
        self.usize_or(key, None)
    }

    /// A whole number, `default` when absent.
    pub fn usize_or(&self, key: &str, default: Option<usize>) -> Result<usize> {
        match self.json.get(key) {
            Some(v) => v
                .as_u64()
                .map(|x| x as usize)
                .ok_or_else(|| self.error(format!("{key} must be a whole number, got {v}"))),
            None => default.ok_or_else(|| self.error(format!("no {key}"))),
        }
    }

    /// A number, `default` when absent.
    pub fn f64_or(&self, key: &str, default: f64) -> Result<f64> {
        match self.json.get(key) {
            Some(v) => v
                .as_f64()
                .ok_or_else(|| self.error(format!("{key} must be a number, got {v}"))),
            None => Ok(default),
        }
    }

    /// A string, `default` when absent or null.
    pub fn str_or<'a>(&'a self, key: &str, default: &'a str) -> &'a str {
        self.json
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or(default)
    }

    /// What the folder holds, from `architectures` (or `model_type` when that is absent);
    /// anything else is refused with the list of what is supported.
    pub fn kind(&self) -> Result<HfKind> {
        let arch = self
            .json
            .get("architectures")
            .and_then(|a| a.get(0))
            .and_then(Value::as_str);
        let kind = match arch {
            Some("BertForSequenceClassification") => Some(HfKind::Classifier(EncoderFamily::Bert)),
            Some("RobertaForSequenceClassification" | "XLMRobertaForSequenceClassification") => {
                Some(HfKind::Classifier(EncoderFamily::Roberta))
            }
            Some("DistilBertForSequenceClassification") => {
                Some(HfKind::Classifier(EncoderFamily::DistilBert))
            }
            Some("ModernBertForSequenceClassification") => {
                Some(HfKind::Classifier(EncoderFamily::ModernBert))
            }
            Some("GPT2LMHeadModel") => Some(HfKind::Gpt2),
            Some("LlamaForCausalLM") => Some(HfKind::Decoder(DecoderFamily::Llama)),
            Some("MistralForCausalLM") => Some(HfKind::Decoder(DecoderFamily::Mistral)),
            Some("Qwen2ForCausalLM") => Some(HfKind::Decoder(DecoderFamily::Qwen2)),
            Some(_) => None,
            None => (self.str_or("model_type", "") == "gpt2").then_some(HfKind::Gpt2),
        };
        kind.ok_or_else(|| {
            let what = arch.map_or_else(
                || format!("model_type {:?}", self.str_or("model_type", "(none)")),
                |a| format!("architecture {a:?}"),
            );
            let list: Vec<String> = SUPPORTED
                .iter()
                .map(|(name, role)| format!("{name} ({role})"))
                .collect();
            self.error(format!(
                "{what} is not supported; rationale loads {}",
                list.join(", ")
            ))
        })
    }

    /// Class labels from `id2label` (ordered by id), or `LABEL_i` for `n` classes without it.
    pub fn labels(&self, n: usize) -> Result<Vec<String>> {
        let Some(map) = self.json.get("id2label").and_then(Value::as_object) else {
            return Ok((0..n).map(|i| format!("LABEL_{i}")).collect());
        };
        let mut labels = vec![None; n];
        for (k, v) in map {
            let i: usize = k.parse().ok().filter(|&i| i < n).ok_or_else(|| {
                self.error(format!("id2label key {k:?} is not a class id below {n}"))
            })?;
            labels[i] = v.as_str().map(str::to_owned);
        }
        labels
            .into_iter()
            .enumerate()
            .map(|(i, l)| {
                l.ok_or_else(|| self.error(format!("id2label has no string label for class {i}")))
            })
            .collect()
    }
}

/// Every tensor of the folder's weights (one `model.safetensors`, or the shards named by
/// `model.safetensors.index.json`), converted to f32 (bf16/f16 checkpoints compute in f32).
/// Returns the tensors and the file to name in messages.
pub fn read_weights(dir: &Path) -> Result<(HashMap<String, Tensor>, PathBuf)> {
    let single = dir.join("model.safetensors");
    let index = dir.join("model.safetensors.index.json");
    let files: Vec<PathBuf> = if single.is_file() {
        vec![single.clone()]
    } else if index.is_file() {
        let text = std::fs::read_to_string(&index).map_err(|e| ModelError::io(&index, e))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| ModelError::Config {
            path: index.clone(),
            message: format!("not JSON: {e}"),
        })?;
        let map = v
            .get("weight_map")
            .and_then(Value::as_object)
            .ok_or_else(|| ModelError::Config {
                path: index.clone(),
                message: "no weight_map object".into(),
            })?;
        let shards: BTreeSet<&str> = map.values().filter_map(Value::as_str).collect();
        shards.into_iter().map(|f| dir.join(f)).collect()
    } else {
        return Err(ModelError::MissingFile { path: single });
    };
    let mut out = HashMap::new();
    for file in &files {
        if !file.is_file() {
            return Err(ModelError::MissingFile { path: file.clone() });
        }
        let raw = candle_core::safetensors::load(file, &Device::Cpu).map_err(|e| {
            ModelError::Architecture {
                path: file.clone(),
                message: format!("not a readable safetensors file: {e}"),
            }
        })?;
        for (name, t) in raw {
            let t = if t.dtype() == DType::F32 {
                t
            } else {
                t.to_dtype(DType::F32)?
            };
            out.insert(name, t);
        }
    }
    let shown = if files.len() == 1 {
        files[0].clone()
    } else {
        index
    };
    Ok((out, shown))
}

/// Refuses a tokenizer whose ids do not all have a row in the word embeddings.
pub(super) fn check_vocab(tokenizer: &ModelTokenizer, rows: usize, dir: &Path) -> Result<()> {
    let largest = tokenizer.vocab().last().map_or(0, |(_, id)| *id as usize);
    if largest >= rows {
        return Err(ModelError::Config {
            path: dir.join("tokenizer.json"),
            message: format!(
                "token id {largest} does not fit the {rows} rows of the word embeddings: \
                 tokenizer.json belongs to another checkpoint"
            ),
        });
    }
    Ok(())
}
