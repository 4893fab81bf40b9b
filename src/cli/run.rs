//! `rationale run`: the main job (see [`crate::pipeline`]).

use super::progress::Terminal;
use crate::explain::Method;
use crate::pipeline::{comparison_table, run as run_job, PipelineError, RunConfig};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `rationale run`; any option given overrides `--config`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  rationale run                                   # bundled Movies data → rationale-run/
  rationale run --out runs/movies --quiet
  rationale run --data-dir ../shared/data/eraser/movies --out runs/full --epochs 6
  rationale run --vectors none --train-limit 320    # random word vectors, a 320-review sample
  rationale run --config runs/movies/run.json --out runs/again   # the same job again
  rationale run --methods integrated-gradients,occlusion --limit 50 --json

Writes into --out (replaced only when the whole job succeeded): run.json (the configuration),
classifier/ and select/ (checkpoints), results/<method>.jsonl (ERASER results),
scores/<method>.json (score files) and scores/<method>.parquet (per instance), figures/
(heatmaps: human vs each method; AOPC curves), table.md, summary.json and index.html (the table,
what each column means and every figure on one page).")]
pub(crate) struct RunArgs {
    /// Start from this configuration (JSON, e.g. OUT/run.json of an earlier run) instead of the
    /// defaults shown; flags override it [default: none].
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// ERASER data directory with train, val and test splits [default: datasets/movies].
    #[arg(long = "data-dir", alias = "data_dir", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Output folder.
    #[arg(long, value_name = "DIR", default_value = "rationale-run")]
    out: PathBuf,
    /// Split explained and scored [default: test].
    #[arg(long)]
    split: Option<String>,
    /// Post-hoc methods for the classifier, comma-separated
    /// [default: gradient,grad-input,integrated-gradients,attention,random].
    #[arg(long, value_enum, value_delimiter = ',')]
    methods: Option<Vec<Method>>,
    /// Epochs of both models [default: 3 for the classifier, 5 for the rationalizer].
    #[arg(long)]
    epochs: Option<usize>,
    /// Longest input in words of both models [default: 1024 for the classifier, 2048 for the
    /// rationalizer].
    #[arg(long = "max-len")]
    max_len: Option<usize>,
    /// Word vectors of both models (GloVe text, `.gz` allowed), or `none` for random ones
    /// [default: datasets/vectors/minilm-words-64d.txt.gz].
    #[arg(long, value_name = "FILE|none")]
    vectors: Option<PathBuf>,
    /// Noise-injection magnitude p of the rationalizer (0 = off) [default: 0.1].
    #[arg(long)]
    noise: Option<f64>,
    /// Use only N training examples (a seeded sample) for both models [default: all].
    #[arg(long = "train-limit")]
    train_limit: Option<usize>,
    /// Explain and score only the first N annotations of the split [default: all].
    #[arg(long)]
    limit: Option<usize>,
    /// Documents drawn as heatmaps [default: 3].
    #[arg(long)]
    figures: Option<usize>,
    /// Seed of both models and of the explanations [default: 1].
    #[arg(long)]
    seed: Option<u64>,
    /// No stage lines, per-epoch lines or progress bars (warnings and errors still go to
    /// stderr; the table goes to stdout).
    #[arg(long, short)]
    quiet: bool,
    /// Print the table as JSON (one object per method) instead of Markdown.
    #[arg(long)]
    json: bool,
}

fn build_config(a: &RunArgs) -> Result<RunConfig, PipelineError> {
    let mut cfg = match &a.config {
        Some(p) => RunConfig::load(p)?,
        None => RunConfig::default(),
    };
    if let Some(d) = &a.data_dir {
        cfg.data_dir = d.clone();
    }
    if let Some(s) = &a.split {
        cfg.split = s.clone();
    }
    if let Some(m) = &a.methods {
        cfg.methods = m.clone();
    }
    if let Some(e) = a.epochs {
        cfg.classifier.epochs = e;
        cfg.select.epochs = e;
    }
    if let Some(n) = a.max_len {
        cfg.classifier.max_len = n;
        cfg.select.max_len = n;
    }
    if let Some(v) = &a.vectors {
        let v = (v.as_os_str() != "none").then(|| v.clone());
        cfg.classifier.glove = v.clone();
        cfg.select.glove = v;
    }
    if let Some(p) = a.noise {
        cfg.select.noise = p;
    }
    if let Some(n) = a.train_limit {
        cfg.classifier.limit = Some(n);
        cfg.select.limit = Some(n);
    }
    if a.limit.is_some() {
        cfg.limit = a.limit;
    }
    if let Some(n) = a.figures {
        cfg.figures = n;
    }
    if let Some(s) = a.seed {
        cfg.seed = s;
        cfg.classifier.seed = s;
        cfg.select.seed = s;
    }
    Ok(cfg)
}

/// Runs `rationale run`.
pub(crate) fn run(a: RunArgs) -> ExitCode {
    let cfg = match build_config(&a) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(super::exit::UNUSABLE);
        }
    };
    let (out, progress) = (a.out.clone(), !a.quiet);
    let quiet = a.quiet;
    match run_job(&cfg, &out, &Terminal::new(quiet)) {
        Ok(report) => {
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report.rows).expect("rows serialise")
                );
            } else {
                print!("{}", comparison_table(&report.rows));
            }
            if progress {
                eprintln!(
                    "{} files in {} ({:.0}s): open {} in a browser; table.md, results/, \
                     scores/, figures/, run.json",
                    report.files.len(),
                    report.out.display(),
                    report.seconds,
                    report.out.join("index.html").display()
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(super::exit::UNUSABLE)
        }
    }
}
