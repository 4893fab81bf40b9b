//! `*ForSequenceClassification` checkpoints, heads included. The BERT, RoBERTa / XLM-R and
//! DistilBERT families run on this crate's [`Transformer`] (their tensors renamed to BERT's
//! names) and read the first token's final state (`[CLS]`, `<s>`) through their head: BERT's
//! pooler (dense, tanh) then `classifier`; RoBERTa's `classifier.dense` (tanh) then
//! `classifier.out_proj`; DistilBERT's `pre_classifier` (ReLU) then `classifier`. ModernBERT
//! has its own encoder ([`super::modernbert`]).

use super::modernbert::ModernBert;
use super::{check_vocab, read_weights, EncoderFamily, HfConfig, HfKind};
use crate::models::embedding::Embedding;
use crate::models::params::{Init, ParamStore};
use crate::models::transformer::{Activation, Pass, Transformer, TransformerConfig};
use crate::models::{
    check_finite, pad_batch, predict_sorted, softmax_rows, to_array, AttentionClassifier,
    AttentionMaps, Classifier, GradientClassifier, ModelError, ModelTokenizer, Result, TextModel,
};
use candle_core::{DType, Device, Tensor, D};
use ndarray::{Array2, Array4};
use std::collections::HashMap;
use std::path::Path;

/// A Hugging Face sequence classifier loaded from a local folder.
pub struct HfClassifier {
    family: EncoderFamily,
    labels: Vec<String>,
    tokenizer: ModelTokenizer,
    embed: Embedding,
    body: Body,
}

/// The encoder and head after the word embeddings.
enum Body {
    /// BERT, RoBERTa / XLM-R, DistilBERT.
    Bert(Transformer, Head),
    /// ModernBERT.
    Modern(ModernBert),
}

impl std::fmt::Debug for HfClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HfClassifier")
            .field("family", &self.family)
            .field("labels", &self.labels)
            .finish()
    }
}

/// dense → activation → out, on the first token's final state.
struct Head {
    dense_w: Tensor,
    dense_b: Tensor,
    relu: bool,
    out_w: Tensor,
    out_b: Tensor,
}

impl Head {
    fn forward(&self, first: &Tensor) -> Result<Tensor> {
        let x = first
            .matmul(&self.dense_w.t()?)?
            .broadcast_add(&self.dense_b)?;
        let x = if self.relu { x.relu()? } else { x.tanh()? };
        Ok(x.matmul(&self.out_w.t()?)?.broadcast_add(&self.out_b)?)
    }
}

impl HfClassifier {
    /// Loads a `*ForSequenceClassification` folder of a supported family. Every tensor the
    /// architecture needs must be there with its shape, and no other (the message names the
    /// checkpoint's tensor); the tokenizer's ids must fit the embedding table.
    pub fn load(dir: &Path) -> Result<Self> {
        let cfg = HfConfig::read(dir)?;
        let family = match cfg.kind()? {
            HfKind::Classifier(family) => family,
            HfKind::Gpt2 => {
                return Err(cfg.error(
                    "this is a language model, not a sequence classifier; use it with \
                     rationale greedy or rationale predict",
                ))
            }
            HfKind::Decoder(_) => {
                return Err(cfg.error(
                    "this is a causal language model, not a sequence classifier; use it with \
                     rationale predict",
                ))
            }
        };
        let tokenizer = ModelTokenizer::from_file(&dir.join("tokenizer.json"))?;
        let (tensors, file) = read_weights(dir)?;
        let rows = |t: &HashMap<String, Tensor>, name: &str| t.get(name).map(|t| t.dims()[0]);
        let (params, embed, body, classes) = if family == EncoderFamily::ModernBert {
            let classes =
                rows(&tensors, "classifier.weight").ok_or_else(|| no_head(&file, family))?;
            let vocab = rows(&tensors, "model.embeddings.tok_embeddings.weight").unwrap_or(0);
            check_vocab(&tokenizer, vocab, dir)?;
            let params = ParamStore::from_tensors(tensors, &file);
            let (embed, model) = ModernBert::new(&cfg, &params, vocab, classes)?;
            (params, embed, Body::Modern(model), classes)
        } else {
            let renamed = bert_tensors(&cfg, family, tensors)?;
            let classes =
                rows(&renamed, "head.out.weight").ok_or_else(|| no_head(&file, family))?;
            let vocab = rows(&renamed, "embeddings.word_embeddings.weight").unwrap_or(0);
            check_vocab(&tokenizer, vocab, dir)?;
            let params = ParamStore::from_tensors(renamed, &file);
            let (embed, body) = bert_body(&cfg, family, &params, vocab, classes)
                .map_err(|e| name_theirs(e, family))?;
            (params, embed, body, classes)
        };
        params
            .check_all_used()
            .map_err(|e| name_theirs(e, family))?;
        Ok(HfClassifier {
            family,
            labels: cfg.labels(classes)?,
            tokenizer,
            embed,
            body,
        })
    }

    /// The encoder family.
    pub fn family(&self) -> EncoderFamily {
        self.family
    }

    /// Logits (B, C) and per-layer attentions of word embeddings (B, T, H) under `mask` (B, T),
    /// run as `pass` asks.
    fn forward(&self, emb: &Tensor, mask: &Tensor, pass: Pass) -> Result<(Tensor, Vec<Tensor>)> {
        match &self.body {
            Body::Bert(transformer, head) => {
                let (h, attns) = transformer.run(emb, mask, pass.reading_first_token())?;
                let first = h.narrow(1, 0, 1)?.squeeze(1)?;
                Ok((head.forward(&first)?, attns))
            }
            Body::Modern(model) => model.run(emb, mask, pass),
        }
    }

    fn logits_chunk(&self, batch: &[&[u32]]) -> Result<Array2<f32>> {
        let (ids, mask) = pad_batch(batch, self.tokenizer.pad_id())?;
        let (logits, _) = self.forward(&self.embed.forward(&ids)?, &mask, Pass::Logits)?;
        to_array(&logits)
    }
}

/// The error for a checkpoint without its classification head.
fn no_head(file: &Path, family: EncoderFamily) -> ModelError {
    ModelError::Architecture {
        path: file.to_path_buf(),
        message: format!("no classification head ({})", head_names(family)),
    }
}

/// A BERT-family checkpoint's tensors under BERT's names, RoBERTa's position table cut to the
/// rows its positions reach (they start after `padding_idx`), and a zero token-type row for
/// DistilBERT (which has none).
fn bert_tensors(
    cfg: &HfConfig,
    family: EncoderFamily,
    tensors: HashMap<String, Tensor>,
) -> Result<HashMap<String, Tensor>> {
    let mut renamed = rename(tensors, family);
    let table = "embeddings.position_embeddings.weight";
    if let (EncoderFamily::Roberta, Some(t)) = (family, renamed.get(table)) {
        let skip = cfg.usize_or("pad_token_id", Some(1))? + 1;
        let rows = t.dim(0)?;
        if rows <= skip {
            return Err(cfg.error(format!(
                "{rows} position embeddings leave none after padding_idx {}",
                skip - 1
            )));
        }
        let t = t.narrow(0, skip, rows - skip)?;
        renamed.insert(table.into(), t);
    }
    if family == EncoderFamily::DistilBert {
        let h = cfg.usize("dim")?;
        let zeros = Tensor::zeros((1, h), DType::F32, &Device::Cpu)?;
        renamed.insert("embeddings.token_type_embeddings.weight".into(), zeros);
    }
    Ok(renamed)
}

/// The word embeddings, encoder and head of a BERT-family checkpoint.
fn bert_body(
    cfg: &HfConfig,
    family: EncoderFamily,
    p: &ParamStore,
    vocab: usize,
    classes: usize,
) -> Result<(Embedding, Body)> {
    let encoder = encoder_config(cfg, family)?;
    let h = encoder.hidden_size;
    let embed = Embedding::new(p, "embeddings.word_embeddings.weight", vocab, h)?;
    let transformer = Transformer::new(p, "", &encoder)?;
    let get = |n: &str, shape: &[usize]| p.get(n, shape, Init::Zeros);
    let head = Head {
        dense_w: get("head.dense.weight", &[h, h])?,
        dense_b: get("head.dense.bias", &[h])?,
        relu: family == EncoderFamily::DistilBert,
        out_w: get("head.out.weight", &[classes, h])?,
        out_b: get("head.out.bias", &[classes])?,
    };
    Ok((embed, Body::Bert(transformer, head)))
}

/// The shape of a BERT-family encoder, from `config.json`.
fn encoder_config(cfg: &HfConfig, family: EncoderFamily) -> Result<TransformerConfig> {
    let distil = family == EncoderFamily::DistilBert;
    let key = |bert: &'static str, distilbert: &'static str| if distil { distilbert } else { bert };
    let act = cfg.str_or(key("hidden_act", "activation"), "gelu");
    let hidden_act = Activation::from_hf(act).ok_or_else(|| {
        cfg.error(format!(
            "activation {act:?} is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)"
        ))
    })?;
    let position = cfg.str_or("position_embedding_type", "absolute");
    if position != "absolute" {
        return Err(cfg.error(format!(
            "position_embedding_type {position:?} is not supported (only \"absolute\")"
        )));
    }
    let pad = cfg.usize_or("pad_token_id", Some(1))?;
    let mut positions = cfg.usize(key("max_position_embeddings", "max_position_embeddings"))?;
    if family == EncoderFamily::Roberta {
        positions = positions.saturating_sub(pad + 1);
    }
    let encoder = TransformerConfig {
        hidden_size: cfg.usize(key("hidden_size", "dim"))?,
        num_hidden_layers: cfg.usize(key("num_hidden_layers", "n_layers"))?,
        num_attention_heads: cfg.usize(key("num_attention_heads", "n_heads"))?,
        intermediate_size: cfg.usize(key("intermediate_size", "hidden_dim"))?,
        max_position_embeddings: positions,
        type_vocab_size: if distil {
            1
        } else {
            cfg.usize_or("type_vocab_size", Some(2))?
        },
        layer_norm_eps: if distil {
            1e-12
        } else {
            cfg.f64_or("layer_norm_eps", 1e-12)?
        },
        hidden_act,
    };
    encoder.validate().map_err(|e| cfg.error(e.to_string()))?;
    Ok(encoder)
}

/// The head's tensor names in the checkpoint, for messages.
fn head_names(family: EncoderFamily) -> &'static str {
    match family {
        EncoderFamily::Bert => "bert.pooler.dense.*, classifier.*",
        EncoderFamily::Roberta => "classifier.dense.*, classifier.out_proj.*",
        EncoderFamily::ModernBert => "head.dense.*, head.norm.*, classifier.*",
        EncoderFamily::DistilBert => "pre_classifier.*, classifier.*",
    }
}

/// The checkpoint's tensors under BERT's names (`embeddings.*`, `encoder.layer.N.*`,
/// `head.dense.*`, `head.out.*`). Buffers (`position_ids`) and heads of other tasks are left
/// out.
fn rename(tensors: HashMap<String, Tensor>, family: EncoderFamily) -> HashMap<String, Tensor> {
    tensors
        .into_iter()
        .filter_map(|(name, t)| our_name(&name, family).map(|n| (n, t)))
        .collect()
}

/// Checkpoint name prefixes and ours: the model prefix, then the head's two layers.
fn prefixes(family: EncoderFamily) -> [(&'static str, &'static str); 3] {
    match family {
        EncoderFamily::Bert => [
            ("bert.", ""),
            ("bert.pooler.dense.", "head.dense."),
            ("classifier.", "head.out."),
        ],
        EncoderFamily::Roberta => [
            ("roberta.", ""),
            ("classifier.dense.", "head.dense."),
            ("classifier.out_proj.", "head.out."),
        ],
        EncoderFamily::DistilBert => [
            ("distilbert.", ""),
            ("pre_classifier.", "head.dense."),
            ("classifier.", "head.out."),
        ],
        // Loaded under its own names.
        EncoderFamily::ModernBert => [("", ""), ("head.", "head."), ("classifier.", "classifier.")],
    }
}

/// DistilBERT's layer parts and BERT's.
const DISTILBERT_LAYER: [(&str, &str); 9] = [
    ("transformer.layer.", "encoder.layer."),
    ("attention.q_lin.", "attention.self.query."),
    ("attention.k_lin.", "attention.self.key."),
    ("attention.v_lin.", "attention.self.value."),
    ("attention.out_lin.", "attention.output.dense."),
    ("sa_layer_norm.", "attention.output.LayerNorm."),
    ("ffn.lin1.", "intermediate.dense."),
    ("ffn.lin2.", "output.dense."),
    ("output_layer_norm.", "output.LayerNorm."),
];

/// Rewrites `name` part by part with `table` (`from` → `to`); `None` when no prefix matched.
fn translate(name: &str, table: &[(&str, &str)], forward: bool) -> String {
    let mut out = name.to_owned();
    for &(a, b) in table {
        let (from, to) = if forward { (a, b) } else { (b, a) };
        out = out.replace(from, to);
    }
    out
}

fn our_name(name: &str, family: EncoderFamily) -> Option<String> {
    let [(model, _), heads @ ..] = prefixes(family);
    for (from, to) in heads {
        if let Some(rest) = name.strip_prefix(from) {
            return Some(format!("{to}{rest}"));
        }
    }
    let n = name.strip_prefix(model)?;
    let body = ["embeddings.", "encoder.", "transformer."];
    if n.ends_with("position_ids") || !body.iter().any(|b| n.starts_with(b)) {
        return None;
    }
    let n = n
        .replace("LayerNorm.gamma", "LayerNorm.weight")
        .replace("LayerNorm.beta", "LayerNorm.bias");
    Some(match family {
        EncoderFamily::DistilBert => translate(&n, &DISTILBERT_LAYER, true),
        _ => n,
    })
}

/// The checkpoint's name for one of ours (for messages).
fn their_name(ours: &str, family: EncoderFamily) -> String {
    let [(model, _), heads @ ..] = prefixes(family);
    for (from, to) in heads {
        if let Some(rest) = ours.strip_prefix(to) {
            return format!("{from}{rest}");
        }
    }
    match family {
        EncoderFamily::DistilBert => {
            format!("{model}{}", translate(ours, &DISTILBERT_LAYER, false))
        }
        _ => format!("{model}{ours}"),
    }
}

/// An architecture error that names the tensor as the checkpoint does.
fn name_theirs(e: ModelError, family: EncoderFamily) -> ModelError {
    match e {
        ModelError::Architecture { path, message } => {
            let parts: Vec<&str> = message.splitn(3, '"').collect();
            let message = match parts[..] {
                [before, name, after] => {
                    format!("{before}\"{}\"{after}", their_name(name, family))
                }
                _ => message,
            };
            ModelError::Architecture { path, message }
        }
        e => e,
    }
}

impl Classifier for HfClassifier {
    fn labels(&self) -> &[String] {
        &self.labels
    }

    fn predict_proba(&self, batch: &[&[u32]]) -> Result<Array2<f32>> {
        let probs = softmax_rows(TextModel::logits(self, batch)?);
        check_finite(&probs, "class probabilities")?;
        Ok(probs)
    }

    fn gradients(&self) -> Option<&dyn GradientClassifier> {
        Some(self)
    }

    fn attention(&self) -> Option<&dyn AttentionClassifier> {
        Some(self)
    }
}

impl GradientClassifier for HfClassifier {
    fn embed(&self, ids: &[u32]) -> Result<Tensor> {
        let t = Tensor::from_vec(ids.to_vec(), (1, ids.len()), &Device::Cpu)?;
        Ok(self.embed.forward(&t)?.squeeze(0)?)
    }

    fn forward_embeds(&self, embeds: &Tensor) -> Result<Tensor> {
        let (b, t, _) = embeds.dims3()?;
        let mask = Tensor::ones((b, t), DType::F32, &Device::Cpu)?;
        let (logits, _) = self.forward(embeds, &mask, Pass::InputGrad)?;
        Ok(candle_nn::ops::softmax(&logits, D::Minus1)?)
    }
}

impl AttentionClassifier for HfClassifier {
    fn attentions(&self, ids: &[u32]) -> Result<AttentionMaps> {
        let emb = self.embed(ids)?.unsqueeze(0)?;
        let mask = Tensor::ones((1, ids.len()), DType::F32, &Device::Cpu)?;
        let (_, attns) = self.forward(&emb, &mask, Pass::Attentions)?;
        let layers: Array4<f32> = to_array(&Tensor::cat(&attns, 0)?)?;
        Ok(AttentionMaps {
            layers,
            pooling: None,
            readout: match &self.body {
                Body::Modern(m) if !m.reads_first_token() => None,
                _ => Some(0),
            },
        })
    }
}

impl TextModel for HfClassifier {
    fn tokenizer(&self) -> &ModelTokenizer {
        &self.tokenizer
    }

    fn max_len(&self) -> usize {
        match &self.body {
            Body::Bert(transformer, _) => transformer.config().max_position_embeddings,
            Body::Modern(model) => model.max_len(),
        }
    }

    fn logits(&self, batch: &[&[u32]]) -> Result<Array2<f32>> {
        predict_sorted(batch, self.labels.len(), |chunk| self.logits_chunk(chunk))
    }
}
