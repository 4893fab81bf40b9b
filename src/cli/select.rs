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
pub(crate) struct SelectArgs {
    /// Start from this configuration (e.g. OUT/run.json of an earlier run) instead of the
    /// defaults shown; flags override it [default: none].
    #[arg(long)]
    config: Option<PathBuf>,
    /// Output directory (best/, last/, run.json, history.json).
    #[arg(long)]
    out: PathBuf,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// ERASER data directory (required unless --config sets it).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Encoder of generator and predictor: cnn | gru [default: cnn].
    #[arg(long)]
    encoder: Option<String>,
    /// Mask estimator [default: a2r].
    #[arg(long, value_enum)]
    estimator: Option<Estimator>,
    /// Selection unit [default: word].
    #[arg(long, value_enum)]
    granularity: Option<Granularity>,
    /// Share of tokens to select (top-k budget for a2r, sparsity target otherwise)
    /// [default: 0.2].
    #[arg(long)]
    budget: Option<f64>,
    /// A2R: rank words by their score averaged with W words on either side (phrases; 0 = off)
    /// [default: 0].
    #[arg(long)]
    window: Option<usize>,
    /// Noise-injection magnitude p (0 = off): selected word i is replaced with probability
    /// min(1, p·r_i) during training [default: 0].
    #[arg(long)]
    noise: Option<f64>,
    /// Training split name [default: train].
    #[arg(long)]
    train_split: Option<String>,
    /// Validation split name, for the checkpoint choice [default: val].
    #[arg(long)]
    val_split: Option<String>,
    /// Embedding width [default: 100].
    #[arg(long)]
    embed_dim: Option<usize>,
    /// GRU state width per direction [default: 64].
    #[arg(long)]
    hidden: Option<usize>,
    /// CNN filters per width [default: 100].
    #[arg(long)]
    filters: Option<usize>,
    /// Comma-separated odd CNN widths [default: 5].
    #[arg(long, value_delimiter = ',')]
    widths: Option<Vec<usize>>,
    /// Largest vocabulary of the word-level tokenizer [default: 20000].
    #[arg(long)]
    vocab_size: Option<usize>,
    /// Minimum count for a word to enter the vocabulary [default: 2].
    #[arg(long)]
    min_frequency: Option<u64>,
    /// Longest input in model tokens; the rest is never selected [default: 2048].
    #[arg(long)]
    max_len: Option<usize>,
    /// GloVe-format text file (`.gz` allowed) for the embeddings, e.g. the bundled
    /// datasets/vectors/minilm-words-64d.txt.gz with --embed-dim 64 [default: none, random init].
    #[arg(long)]
    glove: Option<PathBuf>,
    /// REINFORCE, Gumbel: weight of |selection rate − budget| [default: 1].
    #[arg(long)]
    sparsity_weight: Option<f64>,
    /// REINFORCE, Gumbel: weight of the continuity term [default: 0.5].
    #[arg(long)]
    continuity_weight: Option<f64>,
    /// HardKuma: target of expected transitions per token [default: 0.02].
    #[arg(long)]
    transition_target: Option<f64>,
    /// HardKuma: learning rate of the Lagrange multipliers [default: 0.05].
    #[arg(long)]
    lagrange_lr: Option<f64>,
    /// HardKuma: initial Lagrange multipliers [default: 0.001].
    #[arg(long)]
    lagrange_init: Option<f64>,
    /// A2R: weight λ of the JS coupling ("proximity") [default: 0.1].
    #[arg(long)]
    proximity: Option<f64>,
    /// Gumbel temperature [default: 1].
    #[arg(long)]
    tau: Option<f64>,
    /// Dropout probability [default: 0.2].
    #[arg(long)]
    dropout: Option<f64>,
    /// Most epochs [default: 10].
    #[arg(long)]
    epochs: Option<usize>,
    /// Examples per optimizer step [default: 16].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Learning rate (AdamW, constant) [default: 0.001].
    #[arg(long)]
    lr: Option<f64>,
    /// AdamW weight decay [default: 0].
    #[arg(long)]
    weight_decay: Option<f64>,
    /// Gradient clipping: largest global L2 norm, 0 turns it off [default: 5].
    #[arg(long)]
    clip_norm: Option<f64>,
    /// Epochs without improvement of the validation objective before stopping [default: 3].
    #[arg(long)]
    patience: Option<usize>,
    /// Seed of initialisation, shuffling, dropout, sampling and noise [default: 1].
    #[arg(long)]
    seed: Option<u64>,
    /// Use only N training examples, sampled with the seed [default: all].
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
pub(crate) fn train(a: &SelectArgs) -> ExitCode {
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
