//! Classifiers fine-tuned here from a BERT checkpoint (`train classifier --encoder bert:PATH`),
//! written as Hugging Face `BertForSequenceClassification` folders: transformers'
//! `AutoModelForSequenceClassification` and `AutoTokenizer` load them and give the same logits,
//! and [`super::HfClassifier`] loads them back.

use crate::models::classifier::{EncoderConfig, TextClassifier};
use crate::models::{ModelError, Result};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::path::Path;

/// Writes `config.json`, `model.safetensors`, `tokenizer.json` and `tokenizer_config.json`
/// into `dir` (which must exist). Only a classifier with a fine-tuned BERT encoder and BERT's
/// own head (pooler on `[CLS]`) is a `BertForSequenceClassification`; others are refused.
pub fn save_bert_classifier(model: &TextClassifier, dir: &Path) -> Result<()> {
    let cfg = model.config();
    let t = match &cfg.encoder {
        EncoderConfig::Bert {
            transformer,
            pooler: true,
            ..
        } => transformer,
        EncoderConfig::Bert { .. } => {
            return Err(ModelError::Unsupported(
                "this BERT classifier mean-pools its final states (it was trained before \
                 rationale used BERT's own pooler head), which BertForSequenceClassification \
                 cannot express; train it again with rationale train classifier --encoder \
                 bert:PATH to export it"
                    .into(),
            ))
        }
        _ => {
            return Err(ModelError::Unsupported(format!(
                "only classifiers fine-tuned from a BERT checkpoint (rationale train classifier \
                 --encoder bert:PATH) export to Hugging Face; this one has a {} encoder",
                cfg.kind()
            )))
        }
    };
    let mut tensors = HashMap::new();
    for (name, var) in model.params().named_vars() {
        tensors.insert(hf_name(&name)?, var.as_tensor().clone());
    }
    let weights = dir.join("model.safetensors");
    candle_core::safetensors::save(&tensors, &weights)
        .map_err(|e| ModelError::io(&weights, std::io::Error::other(e.to_string())))?;
    let tokenizer = model.tokenizer();
    let labels = |f: fn(usize, &String) -> (String, Value)| -> Map<String, Value> {
        cfg.labels
            .iter()
            .enumerate()
            .map(|(i, l)| f(i, l))
            .collect()
    };
    let config = json!({
        "architectures": ["BertForSequenceClassification"],
        "model_type": "bert",
        "vocab_size": cfg.vocab_size,
        "hidden_size": t.hidden_size,
        "num_hidden_layers": t.num_hidden_layers,
        "num_attention_heads": t.num_attention_heads,
        "intermediate_size": t.intermediate_size,
        "hidden_act": t.hidden_act.hf_name(),
        "max_position_embeddings": t.max_position_embeddings,
        "type_vocab_size": t.type_vocab_size,
        "layer_norm_eps": t.layer_norm_eps,
        "position_embedding_type": "absolute",
        "pad_token_id": tokenizer.pad_id(),
        "id2label": labels(|i, l| (i.to_string(), json!(l))),
        "label2id": labels(|i, l| (l.clone(), json!(i))),
        "problem_type": "single_label_classification",
        "dtype": "float32",
    });
    let mut special = Map::new();
    for (key, token) in [
        ("unk_token", "[UNK]"),
        ("sep_token", "[SEP]"),
        ("pad_token", "[PAD]"),
        ("cls_token", "[CLS]"),
        ("mask_token", "[MASK]"),
    ] {
        if tokenizer.token_to_id(token).is_some() {
            special.insert(key.into(), json!(token));
        }
    }
    special.insert("tokenizer_class".into(), json!("PreTrainedTokenizerFast"));
    special.insert("model_max_length".into(), json!(t.max_position_embeddings));
    write_json(&dir.join("config.json"), &config)?;
    write_json(&dir.join("tokenizer_config.json"), &Value::Object(special))?;
    tokenizer.save(&dir.join("tokenizer.json"))
}

/// The checkpoint name of one of our parameters: the encoder under `bert.`, the head as
/// `classifier`.
fn hf_name(ours: &str) -> Result<String> {
    if let Some(rest) = ours.strip_prefix("encoder.") {
        return Ok(format!("bert.{rest}"));
    }
    match ours.strip_prefix("head.") {
        Some(rest) => Ok(format!("classifier.{rest}")),
        None => Err(ModelError::Invalid(format!(
            "parameter {ours:?} has no place in BertForSequenceClassification"
        ))),
    }
}

fn write_json(path: &Path, value: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value).expect("JSON values serialise") + "\n";
    std::fs::write(path, text).map_err(|e| ModelError::io(path, e))
}
