//! `rationale train select`: train a generator → predictor rationalizer, optionally with noise
//! injection (`rationale explain --method select` writes its rationales).

use super::progress::Terminal;
use super::train::set;
use crate::select::{train_select, Estimator, Granularity, SelectConfig};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `train select`; any option given overrides `--config`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  rationale train select --data-dir datasets/movies --out runs/select --noise 0.1 --budget 0.2
  rationale train select --data-dir DIR --out runs/kuma --estimator hard-kuma --granularity sentence
  rationale train select --config runs/select/run.json --out runs/select2 --seed 2")]
pub struct SelectArgs {
    /// Start from this configuration (e.g. OUT/run.json of an earlier run); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Output directory (best/, last/, run.json, history.json).
    #[arg(long)]
    out: PathBuf,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// ERASER data directory.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Encoder of generator and predictor: cnn | gru.
    #[arg(long)]
    encoder: Option<String>,
    /// Mask estimator.
    #[arg(long, value_enum)]
    estimator: Option<Estimator>,
    /// Selection unit.
    #[arg(long, value_enum)]
    granularity: Option<Granularity>,
    /// Share of tokens to select (top-k budget for a2r, sparsity target otherwise).
    #[arg(long)]
    budget: Option<f64>,
    /// A2R: rank words by their score averaged with W words on either side (phrases; 0 = off).
    #[arg(long)]
    window: Option<usize>,
    /// Noise-injection magnitude p (0 = off): selected word i is replaced with probability
    /// min(1, p·r_i) during training.
    #[arg(long)]
    noise: Option<f64>,
    #[arg(long)]
    train_split: Option<String>,
    #[arg(long)]
    val_split: Option<String>,
    #[arg(long)]
    embed_dim: Option<usize>,
    #[arg(long)]
    hidden: Option<usize>,
    #[arg(long)]
    filters: Option<usize>,
    /// Comma-separated odd CNN widths.
    #[arg(long, value_delimiter = ',')]
    widths: Option<Vec<usize>>,
    #[arg(long)]
    vocab_size: Option<usize>,
    #[arg(long)]
    min_frequency: Option<u64>,
    #[arg(long)]
    max_len: Option<usize>,
    /// GloVe-format text file for the embeddings.
    #[arg(long)]
    glove: Option<PathBuf>,
    #[arg(long)]
    sparsity_weight: Option<f64>,
    #[arg(long)]
    continuity_weight: Option<f64>,
    #[arg(long)]
    transition_target: Option<f64>,
    #[arg(long)]
    lagrange_lr: Option<f64>,
    #[arg(long)]
    lagrange_init: Option<f64>,
    /// A2R JS coupling weight.
    #[arg(long)]
    proximity: Option<f64>,
    /// Gumbel temperature.
    #[arg(long)]
    tau: Option<f64>,
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
    clip_norm: Option<f64>,
    #[arg(long)]
    patience: Option<usize>,
    #[arg(long)]
    seed: Option<u64>,
    /// Use only N training examples (a seeded sample).
    #[arg(long)]
    limit: Option<usize>,
}

fn build_config(a: &SelectArgs) -> Result<SelectConfig, String> {
    let mut cfg: SelectConfig =
        super::train::load_config(a.config.as_deref(), "a selection configuration")?;
    set!(
        cfg,
        a,
        data_dir,
        encoder,
        estimator,
        granularity,
        budget,
        window,
        noise,
        train_split,
        val_split,
        embed_dim,
        hidden,
        filters,
        widths,
        vocab_size,
        min_frequency,
        max_len,
        sparsity_weight,
        continuity_weight,
        transition_target,
        lagrange_lr,
        lagrange_init,
        proximity,
        tau,
        dropout,
        epochs,
        batch_size,
        lr,
        weight_decay,
        clip_norm,
        patience,
        seed
    );
    if a.glove.is_some() {
        cfg.glove = a.glove.clone();
    }
    if a.limit.is_some() {
        cfg.limit = a.limit;
    }
    if cfg.data_dir.as_os_str().is_empty() {
        return Err("--data-dir is required (or a --config that sets data_dir)".into());
    }
    cfg.validate().map_err(|e| e.to_string())?;
    Ok(cfg)
}

/// Runs `rationale train select`.
pub fn train(a: &SelectArgs) -> ExitCode {
    let cfg = match build_config(a) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(super::exit::UNUSABLE);
        }
    };
    let terminal = Terminal::new(false);
    let observer = super::train::training_observer(&terminal, a.quiet);
    let best = train_select(&cfg, &a.out, &observer).map(|r| {
        let what = format!("validation objective {:.4}", r.best_val_objective);
        (r.best_epoch, what, r.stopped_early)
    });
    super::train::report_best(best, &a.out)
}
