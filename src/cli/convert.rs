//! `rationale convert`: other rationale datasets to ERASER format.

use super::exit;
use crate::corpus::convert::{convert_hatexplain, convert_toxic_spans, ConvertError, Converted};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  rationale convert hatexplain --source ../shared/data/hatexplain --out data/hatexplain
  rationale convert toxic-spans --source ../shared/data/toxic_spans --out data/toxic_spans
  rationale score --data-dir data/hatexplain --split test --results preds.jsonl")]
pub(crate) struct ConvertArgs {
    /// Which dataset the source folder holds.
    #[arg(value_enum)]
    dataset: Dataset,
    /// The dataset's folder (layout of the project's shared data, see the README).
    #[arg(long, value_name = "DIR")]
    source: PathBuf,
    /// New ERASER data directory to write (<split>.jsonl, docs/, and extra metadata files).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Dataset {
    /// HateXplain: val/test with 2–3 annotator masks, train labels only; targets.jsonl for bias.
    Hatexplain,
    /// ToxicSpans: per-rater character spans → token masks, SemEval 2021 splits.
    ToxicSpans,
}

/// Runs the conversion and reports what was skipped.
pub(crate) fn convert(args: ConvertArgs) -> ExitCode {
    let result: Result<Converted, ConvertError> = match args.dataset {
        Dataset::Hatexplain => convert_hatexplain(&args.source),
        Dataset::ToxicSpans => convert_toxic_spans(&args.source),
    };
    match result.and_then(|c| c.write(&args.out).map(|_| c)) {
        Ok(c) => {
            for note in &c.notes {
                eprintln!("note: {note}");
            }
            println!("wrote {} ({} documents)", args.out.display(), c.docs.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(exit::UNUSABLE)
        }
    }
}
