//! `rationale explain`: explain a classifier post hoc — texts per word (`--text`), or a split
//! with faithfulness measured on the model, written as an ERASER results file that
//! `rationale score` reads.

use super::predict::LabelMap;
use super::progress::Terminal;
use crate::explain::explain_text;
use crate::explain::faithfulness::AOPC_THRESHOLDS;
use crate::explain::results::{explain_split, model_dir, results_jsonl, ExplainJob};
use crate::explain::{ExplainConfig, Method};
use crate::figures::{DocFigure, FigureOptions, MethodRow};
use crate::models::load_text_model;
use clap::Args;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Options of `rationale explain`.
#[derive(Args, Debug, Clone)]
#[command(after_help = "Examples:
  rationale explain --model my-hf-classifier --text \"a moving, funny film\" --method integrated-gradients --json
  rationale explain --model runs/cls --text \"a dull , lifeless plot\" --method occlusion --svg why.svg
  rationale explain --model runs/cls --data-dir datasets/movies --split test \\
      --method integrated-gradients --out ig.jsonl
  rationale explain --model runs/select --data-dir datasets/movies --method select --out sel.jsonl
  rationale explain --model runs/cls --data-dir DIR --rationales-from other.jsonl --out measured.jsonl
Then: rationale score --data-dir DIR --split test --results ig.jsonl")]
pub(crate) struct ExplainArgs {
    /// A checkpoint trained here (or a training output directory: its best/ is used), or a
    /// Hugging Face *ForSequenceClassification folder (BERT, RoBERTa, XLM-R, DistilBERT,
    /// ModernBERT).
    #[arg(long)]
    model: PathBuf,
    /// A text to explain, per whitespace-separated word (repeat for several; required unless
    /// --data-dir).
    #[arg(long, conflicts_with = "data_dir")]
    text: Vec<String>,
    /// With --text: one JSON object per text on stdout (default: a word and its score per line).
    #[arg(long, requires = "text")]
    json: bool,
    /// With --text: draw the scores as an SVG heatmap to this file (FILE_2.svg … for more texts)
    /// [default: none].
    #[arg(long, requires = "text")]
    svg: Option<PathBuf>,
    /// ERASER data directory (required unless --text).
    #[arg(long, required_unless_present = "text")]
    data_dir: Option<PathBuf>,
    /// Split to explain.
    #[arg(long, default_value = "test")]
    split: String,
    /// Explanation method (ignored with --rationales-from).
    #[arg(long, value_enum, default_value = "gradient")]
    method: Method,
    /// Measure faithfulness of the rationales in this ERASER results file instead of running a
    /// method (soft scores when present, else the hard spans) [default: none, run --method].
    #[arg(long)]
    rationales_from: Option<PathBuf>,
    /// Results file to write (required with --data-dir).
    #[arg(long, required_unless_present = "text")]
    out: Option<PathBuf>,
    /// Hard rationale size in tokens (default: mean human rationale length of --k-split).
    #[arg(long)]
    k: Option<usize>,
    /// Split whose mean human rationale length sets k (falls back to --split if missing).
    #[arg(long, default_value = "train")]
    k_split: String,
    /// AOPC bins (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = AOPC_THRESHOLDS.to_vec())]
    thresholds: Vec<f64>,
    /// Integrated-gradients steps.
    #[arg(long, default_value_t = 20)]
    ig_steps: usize,
    /// Occlusion window in words.
    #[arg(long, default_value_t = 1)]
    occlusion_window: usize,
    /// LIME samples.
    #[arg(long, default_value_t = 500)]
    lime_samples: usize,
    /// SmoothGrad noisy copies.
    #[arg(long, default_value_t = 20)]
    smoothgrad_samples: usize,
    /// SmoothGrad noise σ as a fraction of the embeddings' range.
    #[arg(long, default_value_t = 0.1)]
    smoothgrad_noise: f64,
    /// KernelSHAP coalitions (default: 2 × words + 2048; every coalition when fewer exist).
    #[arg(long)]
    shap_samples: Option<usize>,
    /// Attention layer (default: attention pooling, else the last layer).
    #[arg(long)]
    layer: Option<usize>,
    /// Attention heads to average (comma-separated; default all).
    #[arg(long, value_delimiter = ',')]
    heads: Option<Vec<usize>>,
    /// Attention query row to read (0 = [CLS], HateXplain's [Attn]; default: all rows, which a
    /// mean-pooled transformer reads).
    #[arg(long)]
    query_row: Option<usize>,
    /// Seed of stochastic methods.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Only the first N annotations [default: all].
    #[arg(long)]
    limit: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

fn config(a: &ExplainArgs) -> ExplainConfig {
    ExplainConfig {
        method: a.method,
        ig_steps: a.ig_steps,
        occlusion_window: a.occlusion_window,
        lime_samples: a.lime_samples,
        lime_kernel_width: 25.0,
        smoothgrad_samples: a.smoothgrad_samples,
        smoothgrad_noise: a.smoothgrad_noise,
        shap_samples: a.shap_samples,
        layer: a.layer,
        heads: a.heads.clone(),
        query_row: a.query_row,
        seed: a.seed,
    }
}

/// `--data-dir`: a split explained, faithfulness measured, ERASER results written.
fn split_mode(a: ExplainArgs, data_dir: PathBuf, out: PathBuf) -> Result<(), String> {
    let job = ExplainJob {
        config: config(&a),
        model: a.model,
        data_dir,
        split: a.split,
        rationales_from: a.rationales_from,
        k: a.k,
        k_split: a.k_split,
        thresholds: a.thresholds,
        limit: a.limit,
    };
    let explained = explain_split(&job, &Terminal::new(a.quiet)).map_err(|e| e.to_string())?;
    if job.config.method == Method::Select && job.rationales_from.is_none() {
        eprintln!(
            "selected {:.1}% of the dataset tokens: selection rate {:.4}",
            100.0 * explained.selection_rate,
            explained.selection_rate
        );
    }
    crate::io::write_atomic(&out, results_jsonl(&explained.predictions).as_bytes())
        .map_err(|e| format!("{}: {e}", out.display()))?;
    eprintln!(
        "wrote {} predictions to {}",
        explained.predictions.len(),
        out.display()
    );
    Ok(())
}

#[derive(Serialize)]
struct TextLine<'a> {
    text: &'a str,
    words: &'a [String],
    scores: &'a [f32],
    target: &'a str,
    probs: LabelMap<'a>,
}

/// `--text`: each text explained per whitespace-separated word.
fn text_mode(a: &ExplainArgs) -> Result<(), String> {
    let cfg = config(a);
    let model = load_text_model(&model_dir(&a.model)).map_err(|e| e.to_string())?;
    let labels = model.labels().to_vec();
    for (i, text) in a.text.iter().enumerate() {
        let why =
            explain_text(model.as_ref(), text, &cfg).map_err(|e| format!("text {}: {e}", i + 1))?;
        let probs: Vec<f32> = why.probs.iter().map(|(_, p)| *p).collect();
        if a.json {
            let line = TextLine {
                text,
                words: &why.words,
                scores: &why.scores,
                target: &why.target,
                probs: LabelMap(&labels, &probs),
            };
            println!(
                "{}",
                serde_json::to_string(&line).map_err(|e| e.to_string())?
            );
        } else {
            let p = probs[crate::models::argmax(&probs)];
            println!("text {}: {} ({p:.4})", i + 1, why.target);
            for (w, s) in why.words.iter().zip(&why.scores) {
                println!("{s:>12.6}  {w}");
            }
        }
        if let Some(svg) = &a.svg {
            let path = numbered(svg, i, a.text.len());
            let figure = DocFigure {
                docid: String::new(),
                title: format!(
                    "{:?} explains {} ({:.3})",
                    a.method,
                    why.target,
                    probs[crate::models::argmax(&probs)]
                ),
                gold: vec![false; why.words.len()],
                tokens: why.words.clone(),
                rows: vec![MethodRow {
                    label: format!("{:?}", a.method),
                    scores: why.scores.iter().map(|&s| f64::from(s)).collect(),
                    predicted: None,
                }],
            };
            let options = FigureOptions {
                signed: why.scores.iter().any(|&s| s < 0.0),
                ..Default::default()
            };
            let pages = figure.render(&options).map_err(|e| e.to_string())?;
            crate::io::write_atomic(&path, pages.concat().as_bytes())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(())
}

/// `FIG` for the first of several files, `FIG_2.svg` … for the others.
fn numbered(path: &Path, i: usize, n: usize) -> PathBuf {
    if i == 0 || n < 2 {
        return path.to_path_buf();
    }
    let stem = path
        .file_stem()
        .map_or_else(Default::default, |s| s.to_string_lossy());
    path.with_file_name(format!("{stem}_{}.svg", i + 1))
}

/// Runs `rationale explain`.
pub(crate) fn explain(args: ExplainArgs) -> ExitCode {
    let result = match (args.data_dir.clone(), args.out.clone()) {
        (Some(data), Some(out)) => split_mode(args, data, out),
        (Some(_), None) => Err("--data-dir needs --out (the results file to write)".into()),
        _ => text_mode(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(super::exit::UNUSABLE)
        }
    }
}
