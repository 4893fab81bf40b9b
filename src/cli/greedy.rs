//! `rationale greedy`: greedy sequential rationales (Vafa et al. 2021).
//!
//! - `--model DIR --text "..."`: a GPT-2-format language model (config.json, model.safetensors,
//!   tokenizer.json), or a Hugging Face Llama / Mistral / Qwen2 causal language model folder
//!   (text encoded with the tokenizer's special tokens, as `rationale predict` does: a Llama BOS
//!   is position 0); rationales for every token from `--first-target` on, as JSON.
//! - `--model DIR --lambada FILE`: annotated-LAMBADA evaluation (length, IOU, token F1).
//! - `--model BOW.json --data-dir DIR --split S`: a bag-of-words classifier's predictions with
//!   greedy rationales, as ERASER results (`--train-bow BOW.json` trains one on that split).
//! - `--model CKPT --data-dir DIR --split S`: the same for a `rationale train classifier`
//!   checkpoint folder (GRU, CNN, transformer, BERT-family).

use super::exit;
use super::render::draw_sequential;
use crate::corpus::DataDir;
use crate::greedy::checkpoint::CheckpointClassifier;
use crate::greedy::classifier::{rationalize_document, BowClassifier, SubsetClassifier};
use crate::greedy::exhaustive::exhaustive;
use crate::greedy::lambada;
use crate::greedy::lm::{
    load_tokenizer, rationalize_sequence_batched, LmScorer, TokenRationale, DEFAULT_MAX_TOKENS,
};
use crate::greedy::{GreedyConfig, Start, SubsetScorer};
use crate::io::write_atomic;
use crate::models::gpt2::Gpt2;
use crate::models::hf::{HfDecoder, HfKind};
use candle_core::Device;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// Where greedy search starts.
#[derive(ValueEnum, Debug, Clone, Copy)]
pub(crate) enum StartArg {
    /// With the token just before the target (language models; the authors' code).
    Last,
    /// From the empty set (the default for classifiers).
    Empty,
}

/// Arguments of `rationale greedy`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  rationale greedy --model models/gpt2 --text \"The capital of France is Paris\"
  rationale greedy --model bow.json --data-dir datasets/movies --split test --train-bow \\
      --limit 5 --out greedy.jsonl")]
pub(crate) struct GreedyArgs {
    /// A GPT-2 checkpoint folder or a Hugging Face Llama / Mistral / Qwen2 causal language
    /// model folder (--text only); with --data-dir, a classifier folder (`rationale train
    /// classifier`'s OUT/best, or a Hugging Face classifier) or a bag-of-words classifier JSON.
    #[arg(long, value_name = "PATH")]
    model: PathBuf,
    /// Text to rationalize with a language model (give one of --text, --lambada, --data-dir;
    /// default: none).
    #[arg(long, conflicts_with_all = ["data_dir", "lambada"])]
    text: Option<String>,
    /// First token position to rationalize (default: 1, or the last token with --svg).
    #[arg(long = "first-target")]
    first_target: Option<usize>,
    /// ERASER data directory (classifier mode; default: none, language-model mode).
    #[arg(long = "data-dir", value_name = "DIR", requires = "split")]
    data_dir: Option<PathBuf>,
    /// Split of the data directory (required with --data-dir).
    #[arg(long)]
    split: Option<String>,
    /// Train a bag-of-words classifier on --split and save it to --model first.
    #[arg(long = "train-bow")]
    train_bow: bool,
    /// Annotated LAMBADA JSON lines (language-model mode; default: none).
    #[arg(long, value_name = "FILE")]
    lambada: Option<PathBuf>,
    /// Only the first N passages or documents (default: all).
    #[arg(long)]
    limit: Option<usize>,
    /// Where search starts (default: last for language models, empty for classifiers).
    #[arg(long, value_enum)]
    start: Option<StartArg>,
    /// Largest rationale size (default: no limit, the whole context).
    #[arg(long = "max-size")]
    max_size: Option<usize>,
    /// Also run exhaustive search up to this size and report the approximation ratio
    /// (default: off; --exhaustive alone: 6).
    #[arg(long, value_name = "MAX_SIZE", num_args = 0..=1, default_missing_value = "6")]
    exhaustive: Option<usize>,
    /// Output file (JSON, or ERASER results JSON lines in classifier mode); default stdout.
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Draw the sequential rationale of the last rationalized token (text mode) or the first
    /// document (classifier mode) as SVG (default: none).
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(exit::UNUSABLE)
}

fn emit(out: &Option<PathBuf>, text: &str) -> Result<(), String> {
    match out {
        Some(p) => write_atomic(p, text.as_bytes()).map_err(|e| format!("{}: {e}", p.display())),
        None => {
            println!("{text}");
            Ok(())
        }
    }
}

/// Runs `rationale greedy`.
pub(crate) fn greedy(args: GreedyArgs) -> ExitCode {
    let r = if args.data_dir.is_some() {
        classifier_mode(&args)
    } else if args.text.is_some() || args.lambada.is_some() {
        lm_mode(&args)
    } else {
        Err("give --text, --lambada or --data-dir/--split".to_string())
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn config(args: &GreedyArgs, default: Start) -> GreedyConfig {
    let start = match args.start {
        Some(StartArg::Last) => Start::Last,
        Some(StartArg::Empty) => Start::Empty,
        None => default,
    };
    GreedyConfig {
        start,
        max_size: args.max_size,
    }
}

fn lm_mode(args: &GreedyArgs) -> Result<(), String> {
    let dev = Device::Cpu;
    let hf = crate::models::hf::HfConfig::read(&args.model).ok();
    if hf.is_some_and(|c| matches!(c.kind(), Ok(HfKind::Decoder(_)))) {
        return decoder_mode(args);
    }
    let model = Gpt2::load(&args.model, &dev).map_err(|e| e.to_string())?;
    let tok = load_tokenizer(&args.model.join("tokenizer.json")).map_err(|e| e.to_string())?;
    let cfg = config(args, Start::Last);
    if let Some(path) = &args.lambada {
        let mut rows = lambada::read_rows(path).map_err(|e| e.to_string())?;
        rows.truncate(args.limit.unwrap_or(usize::MAX));
        let rep = lambada::evaluate(&model, &tok, &rows, &cfg).map_err(|e| e.to_string())?;
        eprintln!(
            "annotated LAMBADA, {} passages: length {:.2}, IOU {:.3}, token F1 {:.3}, unreached {}",
            rep.n, rep.length, rep.iou, rep.f1, rep.unreached
        );
        return emit(
            &args.out,
            &serde_json::to_string_pretty(&rep).map_err(|e| e.to_string())?,
        );
    }
    let text = args.text.as_deref().unwrap_or_default();
    let enc = tok
        .encode(text, false)
        .map_err(|e| format!("tokenizer: {e}"))?;
    let ids = enc.get_ids().to_vec();
    let tokens: Vec<String> = enc.get_tokens().to_vec();
    let first = first_target(args, ids.len())?;
    let t0 = std::time::Instant::now();
    let rats = rationalize_sequence_batched(&model, &ids, first, &cfg, DEFAULT_MAX_TOKENS)
        .map_err(|e| e.to_string())?;
    let secs = t0.elapsed().as_secs_f64();
    text_output(args, &cfg, &tokens, &ids, &rats, secs, |context| {
        LmScorer::new(&model, context)
    })
}

/// Text mode on a Hugging Face Llama / Mistral / Qwen2 causal language model: the text is
/// encoded as `rationale predict` encodes it (the tokenizer's special tokens included, so a
/// Llama BOS is position 0 and may join a rationale; cut to the model's length), and each
/// subset keeps its original position ids (all targets in lock-step, reusing cached keys and
/// values, as for GPT-2).
fn decoder_mode(args: &GreedyArgs) -> Result<(), String> {
    if args.lambada.is_some() {
        return Err(format!(
            "{}: --lambada runs on GPT-2 models only; give --text for this Llama-family model",
            args.model.display()
        ));
    }
    let model = HfDecoder::load(&args.model).map_err(|e| e.to_string())?;
    let text = args.text.as_deref().unwrap_or_default();
    let input = model
        .tokenizer()
        .encode_text(text, model.max_len())
        .map_err(|e| e.to_string())?;
    let ids = input.encoded.ids;
    if input.tokens_before_cut > ids.len() {
        eprintln!(
            "warning: the text has {} tokens; the first {} (the model's length) are kept",
            input.tokens_before_cut,
            ids.len()
        );
    }
    let tokens = input.tokens;
    let first = first_target(args, ids.len())?;
    let cfg = config(args, Start::Last);
    let t0 = std::time::Instant::now();
    let rats = rationalize_sequence_batched(&model, &ids, first, &cfg, DEFAULT_MAX_TOKENS)
        .map_err(|e| e.to_string())?;
    let secs = t0.elapsed().as_secs_f64();
    text_output(args, &cfg, &tokens, &ids, &rats, secs, |context| {
        LmScorer::new(&model, context)
    })
}

/// `--first-target`, checked against a text of `n` tokens (default 1, or the last token with
/// --svg).
fn first_target(args: &GreedyArgs, n: usize) -> Result<usize, String> {
    if n < 2 {
        return Err(format!("the text has {n} token(s); at least 2 are needed"));
    }
    let first = args
        .first_target
        .unwrap_or(if args.svg.is_some() { n - 1 } else { 1 });
    if first == 0 || first >= n {
        return Err(format!("--first-target must be in 1..{n}"));
    }
    Ok(first)
}

/// The JSON of text mode (and the --exhaustive search and --svg drawing), `scorer(context)`
/// scoring subsets of `ids[..t]`.
fn text_output<'a, S: SubsetScorer>(
    args: &GreedyArgs,
    cfg: &GreedyConfig,
    tokens: &[String],
    ids: &'a [u32],
    rats: &[TokenRationale],
    secs: f64,
    mut scorer: impl FnMut(&'a [u32]) -> S,
) -> Result<(), String> {
    let mut items = Vec::new();
    for r in rats {
        let mut v = serde_json::to_value(r).map_err(|e| e.to_string())?;
        v["target_token"] = tokens[r.target_position].clone().into();
        v["rationale_tokens"] = r
            .rationale
            .order
            .iter()
            .map(|&p| tokens[p].clone())
            .collect::<Vec<_>>()
            .into();
        if let Some(max) = args.exhaustive {
            let mut s = scorer(&ids[..r.target_position]);
            let e = exhaustive(&mut s, r.target_id as usize, cfg.start, max)
                .map_err(|e| e.to_string())?;
            v["exhaustive"] = serde_json::to_value(&e).map_err(|e| e.to_string())?;
            if let Some(sub) = &e.subset {
                v["approximation_ratio"] =
                    (r.rationale.order.len() as f64 / sub.len() as f64).into();
            }
        }
        items.push(v);
    }
    let out =
        serde_json::json!({ "tokens": tokens, "ids": ids, "seconds": secs, "rationales": items });
    if let (Some(svg), Some(last)) = (&args.svg, rats.last()) {
        draw_sequential(svg, tokens, last.target_position, &last.rationale.order)?;
    }
    emit(
        &args.out,
        &serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?,
    )
}

fn classifier_mode(args: &GreedyArgs) -> Result<(), String> {
    let dir = DataDir::new(args.data_dir.clone().unwrap_or_default());
    let split = args.split.as_deref().unwrap_or_default();
    let mut anns = dir.annotations(split).map_err(|e| e.to_string())?;
    let docs = dir.documents().map_err(|e| e.to_string())?;
    let doc_of = |a: &crate::corpus::Annotation| -> String {
        a.docids
            .as_ref()
            .and_then(|d| d.first().cloned())
            .unwrap_or_else(|| a.annotation_id.as_text())
    };
    let tokens_of = |docid: &str| -> Result<Vec<String>, String> {
        let d = docs
            .document(docid)
            .map_err(|e| format!("document {docid:?}: {e}"))?;
        Ok(d.tokens().map(String::from).collect())
    };
    if args.train_bow {
        let mut train = Vec::new();
        for a in &anns {
            train.push((tokens_of(&doc_of(a))?, a.classification.clone()));
        }
        let m = BowClassifier::train(&train, 3, 0.002, 1e-3, 1).map_err(|e| e.to_string())?;
        m.save(&args.model).map_err(|e| e.to_string())?;
        eprintln!(
            "trained a bag-of-words classifier on {} documents -> {}",
            train.len(),
            args.model.display()
        );
    }
    let mut clf: Box<dyn SubsetClassifier> = if args.model.is_dir() {
        Box::new(CheckpointClassifier::load(&args.model).map_err(|e| e.to_string())?)
    } else {
        Box::new(BowClassifier::load(&args.model).map_err(|e| e.to_string())?)
    };
    anns.truncate(args.limit.unwrap_or(usize::MAX));
    let cfg = config(args, Start::Empty);
    let mut lines = String::new();
    let (mut sizes, mut calls) = (0usize, 0u64);
    for (i, a) in anns.iter().enumerate() {
        let docid = doc_of(a);
        let tokens = tokens_of(&docid)?;
        let (pred, r) =
            rationalize_document(&mut *clf, a.annotation_id.clone(), &docid, &tokens, &cfg)
                .map_err(|e| e.to_string())?;
        sizes += r.order.len();
        calls += r.subsets_scored;
        if i == 0 {
            if let Some(svg) = &args.svg {
                // classifiers have no target token: draw the rationale on the document tokens.
                let mut toks = tokens.clone();
                toks.push(format!(
                    "→ {}",
                    pred.classification.clone().unwrap_or_default()
                ));
                draw_sequential(svg, &toks, toks.len() - 1, &r.order)?;
            }
        }
        lines.push_str(&serde_json::to_string(&pred).map_err(|e| e.to_string())?);
        lines.push('\n');
    }
    eprintln!(
        "{} documents, mean rationale {:.2} tokens, {} subsets scored",
        anns.len(),
        sizes as f64 / anns.len().max(1) as f64,
        calls
    );
    match &args.out {
        Some(p) => write_atomic(p, lines.as_bytes()).map_err(|e| format!("{}: {e}", p.display())),
        None => {
            print!("{lines}");
            Ok(())
        }
    }
}
