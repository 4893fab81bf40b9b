//! `rationale train classifier`: train a text classifier on an ERASER dataset.

use super::progress::Terminal;
use crate::models::Pooling;
use crate::progress::{Event, Observer};
use crate::train::{train_classifier, AlignLoss, Query, Schedule, TargetKind, TrainConfig};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What to train.
#[derive(Subcommand, Debug)]
pub(crate) enum TrainCommand {
    /// A classifier (GRU, CNN, transformer or a BERT-family checkpoint) with early stopping.
    Classifier(Box<ClassifierArgs>),
    /// A selective rationalizer: generator → predictor, optionally with noise injection.
    Select(Box<super::select::SelectArgs>),
    /// Word-dropout fine-tuning of a GPT-2-format language model for greedy rationales.
    Compat(Box<super::compat::CompatArgs>),
    /// A classifier whose attention is pulled toward human rationales (HateXplain, SRA).
    #[command(after_help = SUPERVISE_HELP)]
    Supervise(Box<SuperviseArgs>),
}

const SUPERVISE_HELP: &str = "Loss: cross-entropy + λ · alignment, the alignment averaged over the batch's examples that have a target.
Masks: one ERASER evidence group per annotator (as `rationale convert hatexplain` writes).
Which examples get a target: those of splits with any rationale (no marked word: uniform), and
every example labelled --uniform-label. HateXplain's public train split has labels only, so:
  --mask-split val --val-holdout 0.1   (val's masks join training; early stopping on 10% of train)
  --uniform-label normal               (HateXplain: normal posts get a uniform target)
The checkpoint (OUT/best) works with `rationale explain --method attention` (same --layer, --heads
as --align-heads, and --query-row 0 for --query first) and `rationale score`.

Example (BERT-HateXplain [Attn] as coded, on MiniLM):
  rationale train supervise --data-dir hx --out run --encoder bert:MINILM --align-loss ce \
    --lambda 0.001 --target hatexplain --hatexplain-quirks --query first --align-heads 0,1,2,3,4,5 \
    --uniform-label normal --mask-split val --val-holdout 0.1 --max-len 128 --lr 2e-5";

/// Options of `train classifier`; any option given overrides `--config`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  rationale train classifier --data-dir datasets/movies --out runs/cls --encoder cnn --epochs 8
  rationale train classifier --data-dir DIR --out runs/bert --encoder bert:models/minilm --lr 3e-5
  rationale train classifier --config runs/cls/run.json --out runs/cls --resume   # continue")]
pub(crate) struct ClassifierArgs {
    /// Start from this configuration (e.g. OUT/run.json of an earlier run) instead of the
    /// defaults shown; flags override it [default: none].
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
    /// Stop this invocation after N epochs in total (continue later with --resume)
    /// [default: run to the last epoch or early stop].
    #[arg(long)]
    stop_after_epochs: Option<usize>,
    /// ERASER data directory (required unless --config sets it).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Encoder: gru | cnn | transformer | bert:PATH (a BERT-family checkpoint folder)
    /// [default: gru].
    #[arg(long)]
    encoder: Option<String>,
    /// Training split name [default: train].
    #[arg(long)]
    train_split: Option<String>,
    /// Validation split name, for early stopping [default: val].
    #[arg(long)]
    val_split: Option<String>,
    /// Embedding width (GRU, CNN) or hidden size (transformer) [default: 100].
    #[arg(long)]
    embed_dim: Option<usize>,
    /// GRU state width per direction [default: 100].
    #[arg(long)]
    hidden: Option<usize>,
    /// GRU pooling over time [default: attention].
    #[arg(long, value_enum)]
    pooling: Option<PoolingArg>,
    /// Attention-pooling width [default: 64].
    #[arg(long)]
    attention_dim: Option<usize>,
    /// CNN filters per width [default: 100].
    #[arg(long)]
    filters: Option<usize>,
    /// Comma-separated odd CNN widths [default: 3,5].
    #[arg(long, value_delimiter = ',')]
    widths: Option<Vec<usize>>,
    /// Transformer layers, trained from scratch [default: 2].
    #[arg(long)]
    layers: Option<usize>,
    /// Transformer attention heads [default: 4].
    #[arg(long)]
    heads: Option<usize>,
    /// Largest vocabulary of the trained word-level tokenizer, specials excluded
    /// [default: 20000].
    #[arg(long)]
    vocab_size: Option<usize>,
    /// Minimum count for a word to enter the vocabulary [default: 2].
    #[arg(long)]
    min_frequency: Option<u64>,
    /// GloVe-format text file (`.gz` allowed) for the embeddings (GRU, CNN), e.g. the bundled
    /// datasets/vectors/minilm-words-64d.txt.gz with --embed-dim 64 [default: none, random init].
    #[arg(long)]
    glove: Option<PathBuf>,
    /// Longest input in model tokens [default: 1024].
    #[arg(long)]
    max_len: Option<usize>,
    /// Dropout probability [default: 0.3].
    #[arg(long)]
    dropout: Option<f64>,
    /// Most epochs [default: 10].
    #[arg(long)]
    epochs: Option<usize>,
    /// Examples per optimizer step [default: 16].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Peak learning rate (AdamW) [default: 0.001].
    #[arg(long)]
    lr: Option<f64>,
    /// AdamW decoupled weight decay [default: 0].
    #[arg(long)]
    weight_decay: Option<f64>,
    /// Warm-up fraction of all steps, in [0, 1) [default: 0.05].
    #[arg(long)]
    warmup: Option<f64>,
    /// Learning-rate schedule after warm-up [default: linear].
    #[arg(long, value_enum)]
    schedule: Option<Schedule>,
    /// Gradient clipping: largest global L2 norm, 0 turns it off [default: 5].
    #[arg(long)]
    clip_norm: Option<f64>,
    /// Epochs without validation improvement before stopping [default: 3].
    #[arg(long)]
    patience: Option<usize>,
    /// Seed of initialisation, shuffling and dropout [default: 1].
    #[arg(long)]
    seed: Option<u64>,
    /// Use only N training examples, sampled with the seed [default: all].
    #[arg(long)]
    limit: Option<usize>,
}

/// Options of `train supervise`: every `train classifier` option, plus the alignment term.
#[derive(Args, Debug)]
pub(crate) struct SuperviseArgs {
    #[command(flatten)]
    base: ClassifierArgs,
    /// Distance between attention and target: mse | kl (KL(target‖attention)) | ce | pruthi
    /// [default: kl].
    #[arg(long, value_enum)]
    align_loss: Option<AlignLoss>,
    /// Weight λ of the alignment term [default: 1].
    #[arg(long = "lambda")]
    lambda: Option<f64>,
    /// Target from the annotators' masks: union | majority | mean | hatexplain (softmax)
    /// [default: union].
    #[arg(long, value_enum)]
    target: Option<TargetKind>,
    /// Temperature of the hatexplain softmax target [default: 1].
    #[arg(long)]
    temperature: Option<f64>,
    /// Reproduce HateXplain's code exactly (3 annotators, softmax over all positions at
    /// temperature 1, ce on log_softmax of the probabilities).
    #[arg(long)]
    hatexplain_quirks: bool,
    /// Annotators per example to average over (default: its number of evidence groups).
    #[arg(long)]
    annotators: Option<usize>,
    /// Transformer layer to supervise, 0-based (default: GRU attention pooling, else the last).
    #[arg(long)]
    layer: Option<usize>,
    /// Comma-separated heads of that layer to average, 0-based (default: all; `explain
    /// --heads` reads the same).
    #[arg(long, value_delimiter = ',')]
    align_heads: Option<Vec<usize>>,
    /// Transformer query rows: mean (what explain --method attention reads) | first ([CLS])
    /// [default: mean].
    #[arg(long, value_enum)]
    query: Option<Query>,
    /// Examples with this label get a uniform target (HateXplain: normal) [default: none].
    #[arg(long)]
    uniform_label: Option<String>,
    /// A split whose examples and masks join the training set (HateXplain: val)
    /// [default: none].
    #[arg(long)]
    mask_split: Option<String>,
    /// Early-stop on this seeded fraction of the training split instead of --val-split
    /// [default: none, use --val-split].
    #[arg(long)]
    val_holdout: Option<f64>,
}

fn build_supervise_config(a: &SuperviseArgs) -> Result<TrainConfig, String> {
    let mut cfg = build_config(&a.base)?;
    let mut al = cfg.align.take().unwrap_or_default();
    if let Some(v) = a.align_loss {
        al.loss = v;
    }
    if let Some(v) = a.lambda {
        al.lambda = v;
    }
    if let Some(v) = a.target {
        al.target = v;
    }
    if let Some(v) = a.temperature {
        al.temperature = v;
    }
    if let Some(v) = a.query {
        al.query = v;
    }
    al.hatexplain_quirks |= a.hatexplain_quirks;
    for (dst, src) in [(&mut al.annotators, a.annotators), (&mut al.layer, a.layer)] {
        if src.is_some() {
            *dst = src;
        }
    }
    if a.align_heads.is_some() {
        al.heads = a.align_heads.clone();
    }
    if a.uniform_label.is_some() {
        al.uniform_label = a.uniform_label.clone();
    }
    if a.mask_split.is_some() {
        al.mask_split = a.mask_split.clone();
    }
    if a.val_holdout.is_some() {
        al.val_holdout = a.val_holdout;
    }
    cfg.align = Some(al);
    Ok(cfg)
}

/// Pooling choices on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum PoolingArg {
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
pub(crate) fn train(cmd: TrainCommand) -> ExitCode {
    let (cfg, a) = match cmd {
        TrainCommand::Classifier(a) => (build_config(&a), a),
        TrainCommand::Supervise(s) => (build_supervise_config(&s), Box::new(s.base)),
        TrainCommand::Select(a) => return super::select::train(&a),
        TrainCommand::Compat(a) => return super::compat::compat(&a),
    };
    let cfg = match cfg {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(super::exit::UNUSABLE);
        }
    };
    let terminal = Terminal::new(false);
    let observer = training_observer(&terminal, a.quiet);
    let res = train_classifier(&cfg, &a.out, a.resume, &observer, a.stop_after_epochs);
    let best = res.map(|r| {
        let what = format!("validation accuracy {:.4}", r.best_val_accuracy);
        (r.best_epoch, what, r.stopped_early)
    });
    report_best(best, &a.out)
}

/// What training shows on the terminal: `--quiet` hides the progress bars only; the per-epoch
/// lines and warnings stay.
pub(super) fn training_observer(terminal: &Terminal, quiet: bool) -> impl Observer + '_ {
    move |e: Event<'_>| match e {
        Event::Start { .. } | Event::Step { .. } | Event::Finish if quiet => {}
        e => terminal.event(e),
    }
}

/// Prints where a finished training run's best checkpoint is (or the error) and the exit code.
pub(super) fn report_best<E: std::fmt::Display>(
    result: Result<(usize, String, bool), E>,
    out: &Path,
) -> ExitCode {
    match result {
        Ok((epoch, what, stopped_early)) => {
            let early = if stopped_early {
                " (stopped early)"
            } else {
                ""
            };
            eprintln!(
                "best epoch {epoch} with {what}{early}; checkpoint in {}",
                out.join("best").display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(super::exit::UNUSABLE)
        }
    }
}
