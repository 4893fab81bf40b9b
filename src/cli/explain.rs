//! `rationale explain`: explain a trained classifier post hoc, measure faithfulness on it, and
//! write an ERASER results file that `rationale score` reads.

use super::progress::Terminal;
use crate::explain::faithfulness::AOPC_THRESHOLDS;
use crate::explain::results::{explain_split, results_jsonl, ExplainJob};
use crate::explain::{ExplainConfig, Method};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `rationale explain`.
#[derive(Args, Debug, Clone)]
#[command(after_help = "Examples:
  rationale explain --model runs/cls --data-dir datasets/movies --split test \\
      --method integrated-gradients --out ig.jsonl
  rationale explain --model runs/select --data-dir datasets/movies --method select --out sel.jsonl
  rationale explain --model runs/cls --data-dir DIR --rationales-from other.jsonl --out measured.jsonl
Then: rationale score --data-dir DIR --split test --results ig.jsonl")]
pub(crate) struct ExplainArgs {
    /// A checkpoint directory, or a training output directory (its best/ is used).
    #[arg(long)]
    model: PathBuf,
    /// ERASER data directory.
    #[arg(long)]
    data_dir: PathBuf,
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
    /// Results file to write.
    #[arg(long)]
    out: PathBuf,
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

fn run(a: ExplainArgs) -> Result<usize, String> {
    let job = ExplainJob {
        model: a.model,
        data_dir: a.data_dir,
        split: a.split,
        config: ExplainConfig {
            method: a.method,
            ig_steps: a.ig_steps,
            occlusion_window: a.occlusion_window,
            lime_samples: a.lime_samples,
            lime_kernel_width: 25.0,
            layer: a.layer,
            heads: a.heads,
            query_row: a.query_row,
            seed: a.seed,
        },
        rationales_from: a.rationales_from,
        k: a.k,
        k_split: a.k_split,
        thresholds: a.thresholds,
        limit: a.limit,
    };
    let out = explain_split(&job, &Terminal::new(a.quiet)).map_err(|e| e.to_string())?;
    if job.config.method == crate::explain::Method::Select && job.rationales_from.is_none() {
        eprintln!(
            "selected {:.1}% of the dataset tokens: selection rate {:.4}",
            100.0 * out.selection_rate,
            out.selection_rate
        );
    }
    crate::io::write_atomic(&a.out, results_jsonl(&out.predictions).as_bytes())
        .map_err(|e| format!("{}: {e}", a.out.display()))?;
    Ok(out.predictions.len())
}

/// Runs `rationale explain`.
pub(crate) fn explain(args: ExplainArgs) -> ExitCode {
    let out = args.out.clone();
    match run(args) {
        Ok(n) => {
            eprintln!("wrote {n} predictions to {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(super::exit::UNUSABLE)
        }
    }
}
