//! `rationale score` and `rationale validate`.

use super::exit;
use crate::eval::{evaluate, Evaluation, NoGoldAuprc, ScoreOptions};
use crate::io::write_atomic;
use crate::report::{Report, ScoreError};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where the data and the results are (shared by `score` and `validate`).
#[derive(Args, Debug)]
pub(crate) struct Inputs {
    /// ERASER data directory: <split>.jsonl and docs/ (or docs.jsonl).
    #[arg(long = "data-dir", alias = "data_dir", value_name = "DIR")]
    data_dir: PathBuf,
    /// Split to score against (train, val, test, ...).
    #[arg(long)]
    split: String,
    /// Results file: ERASER results JSON lines.
    #[arg(long, value_name = "PREDS.jsonl")]
    results: PathBuf,
    /// AOPC bins: thresholded_scores entries at these fractions are averaged.
    #[arg(long = "aopc-thresholds", alias = "aopc_thresholds", num_args = 1.., default_values_t = [0.01, 0.05, 0.1, 0.2, 0.5])]
    aopc_thresholds: Vec<f64>,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  rationale score --data-dir datasets/movies --split test \\
      --results datasets/movies/movies_majority_human_perf.jsonl --score-file scores.json
  rationale score --data_dir DIR --split test --results preds.jsonl --strict \\
      --iou_thresholds 0.5 --score_file out.json          # the reference's spellings
  rationale score ... --per-instance rows.parquet --auprc-no-gold half --json")]
pub(crate) struct ScoreArgs {
    #[command(flatten)]
    inputs: Inputs,
    /// Write the score file (the reference's JSON layout) here [default: none, not written].
    #[arg(long = "score-file", alias = "score_file", value_name = "OUT.json")]
    score_file: Option<PathBuf>,
    /// IOU thresholds for partial-match F1.
    #[arg(long = "iou-thresholds", alias = "iou_thresholds", num_args = 1.., default_values_t = [0.5])]
    iou_thresholds: Vec<f64>,
    /// Require a classification on every line, as the reference's --strict.
    #[arg(long)]
    strict: bool,
    /// AUPRC of a scored document without gold tokens: nan (reference), half (sklearn ≥ 1.1), skip.
    #[arg(long = "auprc-no-gold", value_enum, default_value_t = NoGoldAuprc::Nan)]
    auprc_no_gold: NoGoldAuprc,
    /// IOU matching: reference (a gold span may match several predictions) or one-to-one.
    #[arg(long = "iou-matching", value_enum, default_value_t = IouMatching::Reference)]
    iou_matching: IouMatching,
    /// Score classification over the annotations that have a prediction (instead of failing).
    #[arg(long = "allow-missing")]
    allow_missing: bool,
    /// Write one row per (annotation, document) here: .parquet, .arrow (IPC) or .jsonl
    /// [default: none, not written].
    #[arg(long = "per-instance", value_name = "FILE")]
    per_instance: Option<PathBuf>,
    /// Print only errors (no warnings, no table).
    #[arg(long, short)]
    quiet: bool,
    /// Print the score file (JSON) on stdout instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
#[command(after_help = "Example:
  rationale validate --data-dir datasets/movies --split test \\
      --results datasets/movies/movies_union_human_perf.jsonl")]
pub(crate) struct ValidateArgs {
    #[command(flatten)]
    inputs: Inputs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum IouMatching {
    Reference,
    OneToOne,
}

fn run(inputs: &Inputs, options: &ScoreOptions) -> Result<Evaluation, ExitCode> {
    let size = std::fs::metadata(&inputs.results)
        .map(|m| m.len())
        .unwrap_or(0);
    let bar = ProgressBar::new(size).with_style(
        ProgressStyle::with_template("{spinner} scoring {bytes}/{total_bytes} {wide_bar} {eta}")
            .expect("valid template"),
    );
    if size < 50 << 20 {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let result = evaluate(
        &inputs.data_dir,
        &inputs.split,
        &inputs.results,
        options,
        &mut |n| bar.set_position(n),
    );
    bar.finish_and_clear();
    result.map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(exit::UNUSABLE)
    })
}

fn print_problems(eval: &Evaluation, results: &Path, errors_only: bool) {
    let file = results.display().to_string();
    for p in eval
        .problems
        .iter()
        .filter(|p| p.is_error() || !errors_only)
    {
        eprintln!("{}", p.display_with(&file));
    }
}

/// `rationale validate`: exit 0 when clean (warnings allowed), 1 with errors, 2 if unusable.
pub(crate) fn validate(args: ValidateArgs) -> ExitCode {
    let options = ScoreOptions {
        aopc_thresholds: args.inputs.aopc_thresholds.clone(),
        ..ScoreOptions::default()
    };
    let eval = match run(&args.inputs, &options) {
        Ok(e) => e,
        Err(code) => return code,
    };
    print_problems(&eval, &args.inputs.results, false);
    let (e, w) = (eval.errors(), eval.warnings());
    println!(
        "{}: {} lines, {} error(s), {} warning(s)",
        args.inputs.results.display(),
        eval.lines.len(),
        e,
        w
    );
    if e > 0 {
        ExitCode::from(exit::PROBLEMS)
    } else {
        ExitCode::SUCCESS
    }
}

/// `rationale score`.
pub(crate) fn score(args: ScoreArgs) -> ExitCode {
    let options = ScoreOptions {
        iou_thresholds: args.iou_thresholds.clone(),
        aopc_thresholds: args.inputs.aopc_thresholds.clone(),
        no_gold_auprc: args.auprc_no_gold,
        one_to_one_iou: args.iou_matching == IouMatching::OneToOne,
        strict: args.strict,
        allow_missing: args.allow_missing,
    };
    let eval = match run(&args.inputs, &options) {
        Ok(e) => e,
        Err(code) => return code,
    };
    print_problems(&eval, &args.inputs.results, args.quiet);
    let report = match Report::new(eval, &args.inputs.results, &options) {
        Ok(r) => r,
        Err(ScoreError::Invalid { problems, .. }) => {
            eprintln!(
                "{} error(s): nothing scored. `rationale validate` lists the same problems.",
                problems.iter().filter(|p| p.is_error()).count()
            );
            return ExitCode::from(exit::PROBLEMS);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::PROBLEMS);
        }
    };
    if let Some(path) = &args.score_file {
        let text = report.score_file().to_python_string();
        if let Err(e) = write_atomic(path, text.as_bytes()) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(exit::UNUSABLE);
        }
    }
    if let Some(path) = &args.per_instance {
        if let Err(e) = crate::report::per_instance::write(path, &report.evaluation, &options) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(exit::UNUSABLE);
        }
    }
    if args.json {
        println!("{}", report.score_file().to_python_string());
    } else if !args.quiet {
        print!("{}", report.summary_table());
    }
    ExitCode::SUCCESS
}
