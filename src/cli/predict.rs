//! `rationale predict`: class probabilities (classifiers) or next-token log-probabilities
//! (GPT-2, Llama, Mistral, Qwen2) for raw texts, from a checkpoint trained here or a Hugging
//! Face folder.

use crate::models::hf::{HfConfig, HfKind};
use crate::models::predict::predict_texts;
use crate::models::{load_text_model, LanguageModel};
use clap::Args;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Options of `rationale predict`.
#[derive(Args, Debug, Clone)]
#[command(after_help = "Examples:
  rationale predict --model my-bert-sst2 --text \"a moving, funny film\" --json
  rationale predict --model runs/cls/best --input reviews.txt --batch-size 64 --json
  rationale predict --model gpt2-folder --text \"The capital of France is Paris\" --json
A model folder holds config.json, model.safetensors (or shards + index) and tokenizer.json:
a checkpoint trained here, or a Hugging Face BERT / RoBERTa / XLM-R / DistilBERT / ModernBERT
*ForSequenceClassification, or a causal language model: GPT2LMHeadModel, LlamaForCausalLM,
MistralForCausalLM, Qwen2ForCausalLM.")]
pub(crate) struct PredictArgs {
    /// Model folder (a training output folder: its best/).
    #[arg(long)]
    model: PathBuf,
    /// A text to predict (repeat for several; required unless --input).
    #[arg(long, required_unless_present = "input", conflicts_with = "input")]
    text: Vec<String>,
    /// A file of texts: one per line, or JSON lines with a "text" field (required unless --text).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Cut inputs to this many model tokens, with a warning (default: the model's positions).
    #[arg(long)]
    max_len: Option<usize>,
    /// Texts per batch.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: u64,
    /// One JSON object per text on stdout (default: a line per text).
    #[arg(long)]
    json: bool,
}

/// Probabilities as a JSON object in the model's label order.
pub(crate) struct LabelMap<'a>(pub(crate) &'a [String], pub(crate) &'a [f32]);

impl Serialize for LabelMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (l, p) in self.0.iter().zip(self.1) {
            m.serialize_entry(l, p)?;
        }
        m.end()
    }
}

#[derive(Serialize)]
struct ClassifierLine<'a> {
    text: &'a str,
    tokens: &'a [String],
    logits: &'a [f32],
    probs: LabelMap<'a>,
}

#[derive(Serialize)]
struct LmLine<'a> {
    text: &'a str,
    ids: &'a [u32],
    next_token_logprobs: &'a [f32],
}

/// Reads `--input`: one text per line, or JSON lines with a `text` string.
fn read_texts(path: &Path) -> Result<Vec<String>, String> {
    let content = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut texts = Vec::new();
    for (i, line) in content.lines().enumerate() {
        let at = format!("{}:{}", path.display(), i + 1);
        let text = if line.trim_start().starts_with('{') {
            let v: serde_json::Value =
                serde_json::from_str(line).map_err(|e| format!("{at}: not a JSON object: {e}"))?;
            v.get("text")
                .and_then(|t| t.as_str())
                .ok_or_else(|| format!("{at}: no \"text\" string; each JSON line needs one"))?
                .to_owned()
        } else {
            line.to_owned()
        };
        if text.trim().is_empty() {
            return Err(format!("{at}: empty text; remove the line or give a text"));
        }
        texts.push(text);
    }
    if texts.is_empty() {
        return Err(format!("{}: no texts", path.display()));
    }
    Ok(texts)
}

fn warn_cut(i: usize, before: usize, kept: usize) {
    if before > kept {
        eprintln!(
            "warning: text {}: {before} model tokens cut to {kept} (the model's positions or --max-len)",
            i + 1
        );
    }
}

fn classify(a: &PredictArgs, texts: &[String]) -> Result<(), String> {
    let model = load_text_model(&a.model).map_err(|e| e.to_string())?;
    let labels = model.labels().to_vec();
    let size = a.batch_size as usize;
    for (b, batch) in texts.chunks(size).enumerate() {
        let preds = predict_texts(model.as_ref(), batch, a.max_len).map_err(|e| e.to_string())?;
        for (j, (text, p)) in batch.iter().zip(&preds).enumerate() {
            warn_cut(b * size + j, p.tokens_before_cut, p.tokens.len());
            if a.json {
                let line = ClassifierLine {
                    text,
                    tokens: &p.tokens,
                    logits: &p.logits,
                    probs: LabelMap(&labels, &p.probs),
                };
                println!(
                    "{}",
                    serde_json::to_string(&line).map_err(|e| e.to_string())?
                );
            } else {
                let best = crate::models::argmax(&p.probs);
                println!("{}\t{:.4}\t{text}", labels[best], p.probs[best]);
            }
        }
    }
    Ok(())
}

fn language_model(a: &PredictArgs, texts: &[String]) -> Result<(), String> {
    let model = LanguageModel::load(&a.model).map_err(|e| e.to_string())?;
    let limit = a
        .max_len
        .map_or(model.max_len(), |n| n.clamp(1, model.max_len()));
    let size = a.batch_size as usize;
    for (b, batch) in texts.chunks(size).enumerate() {
        let inputs = batch
            .iter()
            .map(|t| model.tokenizer().encode_text(t, limit))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let ids: Vec<&[u32]> = inputs.iter().map(|i| i.encoded.ids.as_slice()).collect();
        let first = b * size;
        for (j, ids) in ids.iter().enumerate() {
            let positions: Vec<usize> = (0..ids.len()).collect();
            (model.model().check_tokens(ids, &positions))
                .map_err(|e| format!("text {}: {e}", first + j + 1))?;
        }
        let logprobs = (model.model().next_token_logprobs(&ids)).map_err(|e| e.to_string())?;
        for (j, ((text, input), lp)) in batch.iter().zip(&inputs).zip(&logprobs).enumerate() {
            let ids = &input.encoded.ids;
            warn_cut(first + j, input.tokens_before_cut, ids.len());
            if a.json {
                let line = LmLine {
                    text,
                    ids,
                    next_token_logprobs: lp,
                };
                println!(
                    "{}",
                    serde_json::to_string(&line).map_err(|e| e.to_string())?
                );
            } else {
                let total: f32 = lp.iter().sum();
                println!("{total:.4}\t{}\t{text}", lp.len());
            }
        }
    }
    Ok(())
}

/// Runs `rationale predict`.
pub(crate) fn predict(a: PredictArgs) -> ExitCode {
    let a = PredictArgs {
        model: crate::explain::results::model_dir(&a.model),
        ..a
    };
    let run = || -> Result<(), String> {
        let texts = match &a.input {
            Some(p) => read_texts(p)?,
            None => a.text.clone(),
        };
        let lm = HfConfig::read(&a.model)
            .ok()
            .filter(|c| c.json.get("encoder").is_none())
            .and_then(|c| c.kind().ok())
            .is_some_and(|k| matches!(k, HfKind::Gpt2 | HfKind::Decoder(_)));
        match lm {
            true => language_model(&a, &texts),
            false => classify(&a, &texts),
        }
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(super::exit::UNUSABLE)
        }
    }
}
