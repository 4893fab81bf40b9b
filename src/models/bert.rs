//! BERT-family checkpoints from local files (`config.json`, `model.safetensors`,
//! `tokenizer.json`, e.g. bert-base-uncased or all-MiniLM-L6-v2) into [`Transformer`].

use super::embedding::Embedding;
use super::params::ParamStore;
use super::tokenizer::ModelTokenizer;
use super::transformer::{Transformer, TransformerConfig};
use super::{ModelError, Result};
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Reads a Hugging Face BERT `config.json` into a [`TransformerConfig`], refusing what the
/// encoder does not implement (other model types, activations, relative positions).
pub fn read_config(dir: &Path) -> Result<TransformerConfig> {
    let path = dir.join("config.json");
    if !path.is_file() {
        return Err(ModelError::MissingFile { path });
    }
    let text = std::fs::read_to_string(&path).map_err(|e| ModelError::io(&path, e))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| ModelError::Config {
        path: path.clone(),
        message: format!("not JSON: {e}"),
    })?;
    let bad = |message: String| ModelError::Config {
        path: path.clone(),
        message,
    };
    if let Some(mt) = v.get("model_type").and_then(|m| m.as_str()) {
        if mt != "bert" {
            return Err(bad(format!(
                "model_type {mt:?} is not supported (only \"bert\")"
            )));
        }
    }
    if let Some(act) = v.get("hidden_act").and_then(|m| m.as_str()) {
        if act != "gelu" {
            return Err(bad(format!(
                "hidden_act {act:?} is not supported (only \"gelu\")"
            )));
        }
    }
    if let Some(p) = v.get("position_embedding_type").and_then(|m| m.as_str()) {
        if p != "absolute" {
            return Err(bad(format!(
                "position_embedding_type {p:?} is not supported"
            )));
        }
    }
    let cfg: TransformerConfig =
        serde_json::from_value(v).map_err(|e| bad(format!("not a BERT config: {e}")))?;
    cfg.validate().map_err(|e| bad(e.to_string()))?;
    Ok(cfg)
}

/// Vocabulary size declared by a BERT `config.json`.
pub fn read_vocab_size(dir: &Path) -> Result<usize> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| ModelError::io(&path, e))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| ModelError::Config {
        path: path.clone(),
        message: format!("not JSON: {e}"),
    })?;
    v.get("vocab_size")
        .and_then(|x| x.as_u64())
        .map(|x| x as usize)
        .ok_or(ModelError::Config {
            path,
            message: "no vocab_size".into(),
        })
}

/// Reads `model.safetensors` and renames its tensors to this crate's names under `prefix`:
/// a leading `bert.` is dropped, `gamma`/`beta` become `weight`/`bias`, and task heads
/// and buffers are left out (the pooler is kept).
pub fn load_renamed(dir: &Path, prefix: &str) -> Result<(HashMap<String, Tensor>, PathBuf)> {
    let file = dir.join("model.safetensors");
    if !file.is_file() {
        return Err(ModelError::MissingFile { path: file });
    }
    let raw = candle_core::safetensors::load(&file, &Device::Cpu).map_err(|e| {
        ModelError::Architecture {
            path: file.clone(),
            message: format!("not a readable safetensors file: {e}"),
        }
    })?;
    let mut out = HashMap::new();
    for (name, t) in raw {
        let n = name.strip_prefix("bert.").unwrap_or(&name);
        let body = ["embeddings.", "encoder.", "pooler."];
        if !body.iter().any(|b| n.starts_with(b)) || n.ends_with("position_ids") {
            continue;
        }
        let n = n
            .replace("LayerNorm.gamma", "LayerNorm.weight")
            .replace("LayerNorm.beta", "LayerNorm.bias");
        out.insert(format!("{prefix}{n}"), t.to_dtype(DType::F32)?);
    }
    Ok((out, file))
}

/// A pretrained BERT-family encoder without a task head: for checking against the reference
/// implementation and for embedding text.
pub struct PretrainedEncoder {
    /// The tokenizer (`tokenizer.json`, padding and truncation off).
    pub tokenizer: ModelTokenizer,
    /// Word embeddings.
    pub embed: Embedding,
    /// The encoder.
    pub transformer: Transformer,
    params: ParamStore,
}

impl PretrainedEncoder {
    /// Loads `config.json`, `model.safetensors` and `tokenizer.json` from `dir`. Every encoder
    /// weight must be in the file with the right shape.
    pub fn load(dir: &Path) -> Result<Self> {
        let cfg = read_config(dir)?;
        let vocab = read_vocab_size(dir)?;
        let tokenizer = ModelTokenizer::from_file(&dir.join("tokenizer.json"))?;
        let (tensors, file) = load_renamed(dir, "")?;
        let params = ParamStore::fresh_with(0, tensors, &file);
        let embed = Embedding::new(
            &params,
            "embeddings.word_embeddings.weight",
            vocab,
            cfg.hidden_size,
        )?;
        let transformer = Transformer::new(&params, "", &cfg)?;
        if let Some(name) = params.drawn_names().first() {
            return Err(ModelError::Architecture {
                path: file,
                message: format!("no tensor for {name:?}"),
            });
        }
        Ok(PretrainedEncoder {
            tokenizer,
            embed,
            transformer,
            params,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &ParamStore {
        &self.params
    }

    /// Last hidden states (T, H) and per-layer attentions (heads, T, T) of one sequence.
    pub fn forward(&self, ids: &[u32]) -> Result<(Tensor, Vec<Tensor>)> {
        let t = Tensor::from_vec(ids.to_vec(), (1, ids.len()), &Device::Cpu)?;
        let emb = self.embed.forward(&t)?;
        self.forward_embeds(&emb)
    }

    /// As [`PretrainedEncoder::forward`], from word embeddings (1, T, H).
    pub fn forward_embeds(&self, emb: &Tensor) -> Result<(Tensor, Vec<Tensor>)> {
        let t = emb.dim(1)?;
        let mask = Tensor::ones((1, t), DType::F32, &Device::Cpu)?;
        let (h, attns) = self.transformer.forward(emb, &mask)?;
        let attns = attns
            .into_iter()
            .map(|a| a.squeeze(0))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok((h.squeeze(0)?, attns))
    }
}
