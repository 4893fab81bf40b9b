//! `rationale train classifier`: train a text classifier on an ERASER dataset.

use crate::models::Pooling;
use crate::train::{train_classifier, Schedule, TrainConfig};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What to train.
#[derive(Subcommand, Debug)]
pub enum TrainCommand {
    /// A classifier (GRU, CNN, transformer or a BERT-family checkpoint) with early stopping.
    Classifier(Box<ClassifierArgs>),
    /// A selective rationalizer: generator → predictor, optionally with noise injection.
    Select(Box<super::select::SelectArgs>),
    /// Word-dropout fine-tuning of a GPT-2-format language model for greedy rationales.
    Compat(Box<super::compat::CompatArgs>),
}

/// Options of `train classifier`; any option given overrides `--config`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  rationale train classifier --data-dir datasets/movies --out runs/cls --encoder cnn --epochs 8
  rationale train classifier --data-dir DIR --out runs/bert --encoder bert:models/minilm --lr 3e-5
  rationale train classifier --config runs/cls/run.json --out runs/cls --resume   # continue")]
pub struct ClassifierArgs {
    /// Start from this configuration (e.g. OUT/run.json of an earlier run); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Output directory (best/, last/, run.json, history.json).
    #[arg(long)]
    out: PathBuf,
    /// Continue from OUT/last/ (same configuration).
    #[arg(long)]
    resume: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Stop this invocation after N epochs in total (continue later with --resume).
    #[arg(long)]
    stop_after_epochs: Option<usize>,
    /// ERASER data directory.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// gru | cnn | transformer | bert:PATH.
    #[arg(long)]
    encoder: Option<String>,
    #[arg(long)]
    train_split: Option<String>,
    #[arg(long)]
    val_split: Option<String>,
    #[arg(long)]
    embed_dim: Option<usize>,
    #[arg(long)]
    hidden: Option<usize>,
    #[arg(long, value_enum)]
    pooling: Option<PoolingArg>,
    #[arg(long)]
    attention_dim: Option<usize>,
    #[arg(long)]
    filters: Option<usize>,
    /// Comma-separated odd CNN widths.
    #[arg(long, value_delimiter = ',')]
    widths: Option<Vec<usize>>,
    #[arg(long)]
    layers: Option<usize>,
    #[arg(long)]
    heads: Option<usize>,
    #[arg(long)]
    vocab_size: Option<usize>,
    #[arg(long)]
    min_frequency: Option<u64>,
    /// GloVe-format text file for the embeddings (GRU, CNN).
    #[arg(long)]
    glove: Option<PathBuf>,
    #[arg(long)]
    max_len: Option<usize>,
    #[arg(long)]
    dropout: Option<f64>,
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long)]
    batch_size: Option<usize>,
    #[arg(long)]
    lr: Option<f64>,
    #[arg(long)]
    weight_decay: Option<f64>,
    #[arg(long)]
    warmup: Option<f64>,
    #[arg(long, value_enum)]
    schedule: Option<Schedule>,
    #[arg(long)]
    clip_norm: Option<f64>,
    #[arg(long)]
    patience: Option<usize>,
    #[arg(long)]
    seed: Option<u64>,
    /// Use only the first N training examples.
    #[arg(long)]
    limit: Option<usize>,
}

/// Pooling choices on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PoolingArg {
    /// Additive attention.
    Attention,
    /// Max over time.
    Max,
    /// Mean over time.
    Mean,
}

/// Overrides configuration fields with the command-line options that were given.
macro_rules! set {
    ($cfg:ident, $args:ident, $($f:ident),*) => { $( if let Some(v) = $args.$f.clone() { $cfg.$f = v; } )* };
}
pub(super) use set;

/// A configuration from a JSON file (`what` names it in errors), or the defaults.
pub(super) fn load_config<T: serde::de::DeserializeOwned + Default>(
    path: Option<&Path>,
    what: &str,
) -> Result<T, String> {
    let Some(p) = path else {
        return Ok(T::default());
    };
    let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: not {what}: {e}", p.display()))
}

fn build_config(a: &ClassifierArgs) -> Result<TrainConfig, String> {
    let mut cfg: TrainConfig = load_config(a.config.as_deref(), "a training configuration")?;
    set!(
        cfg,
        a,
        data_dir,
        encoder,
        train_split,
        val_split,
        embed_dim,
        hidden,
        attention_dim,
        filters,
        widths,
        layers,
        heads,
        vocab_size,
        min_frequency,
        max_len,
        dropout,
        epochs,
        batch_size,
        lr,
        weight_decay,
        warmup,
        schedule,
        clip_norm,
        patience,
        seed
    );
    if let Some(p) = a.pooling {
        cfg.pooling = match p {
            PoolingArg::Attention => Pooling::Attention,
            PoolingArg::Max => Pooling::Max,
            PoolingArg::Mean => Pooling::Mean,
        };
    }
    if a.glove.is_some() {
        cfg.glove = a.glove.clone();
    }
    if a.limit.is_some() {
        cfg.limit = a.limit;
    }
    if cfg.data_dir.as_os_str().is_empty() {
        return Err("--data-dir is required (or a --config that sets data_dir)".into());
    }
    Ok(cfg)
}

/// Runs `rationale train ...`.
pub fn train(cmd: TrainCommand) -> ExitCode {
    let a = match cmd {
        TrainCommand::Classifier(a) => a,
        TrainCommand::Select(a) => return super::select::train(&a),
        TrainCommand::Compat(a) => return super::compat::compat(&a),
    };
    let cfg = match build_config(&a) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(super::exit::UNUSABLE);
        }
    };
    let (out, resume, quiet, stop) = (a.out.clone(), a.resume, a.quiet, a.stop_after_epochs);
    let res = super::with_big_stack(move || train_classifier(&cfg, &out, resume, !quiet, stop));
    match res {
        Ok(r) => {
            eprintln!(
                "best epoch {} with validation accuracy {:.4}{}; checkpoint in {}",
                r.best_epoch,
                r.best_val_accuracy,
                if r.stopped_early {
                    " (stopped early)"
                } else {
                    ""
                },
                a.out.join("best").display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(super::exit::UNUSABLE)
        }
    }
}
