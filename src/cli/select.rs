//! `rationale train select` (train a generator → predictor rationalizer, optionally with noise
//! injection) and `rationale explain --method select` (its rationales as ERASER results, with
//! faithfulness measured on its predictor).

use super::explain::{eraser_record, model_dir};
use super::train::set;
use crate::corpus::DataDir;
use crate::explain::faithfulness::measure;
use crate::models::ExampleSet;
use crate::select::train::word_sentences;
use crate::select::{train_select, Estimator, Granularity, SelectConfig, SelectModel};
use crate::train::argmax;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Options of `train select`; any option given overrides `--config`.
#[derive(Args, Debug)]
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
    let (out, quiet) = (a.out.clone(), a.quiet);
    match super::with_big_stack(move || train_select(&cfg, &out, !quiet)) {
        Ok(r) => {
            eprintln!(
                "best epoch {} with validation objective {:.4}{}; checkpoint in {}",
                r.best_epoch,
                r.best_val_objective,
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

/// What `rationale explain --method select` needs.
pub(super) struct SelectExplain {
    pub model: PathBuf,
    pub data_dir: PathBuf,
    pub split: String,
    pub out: PathBuf,
    pub thresholds: Vec<f64>,
    pub limit: Option<usize>,
    pub quiet: bool,
}

/// Writes the rationalizer's ERASER results: hard rationales (dataset tokens), the generator's
/// scores as soft rationales, `classification` = the prediction from the rationale alone,
/// `classification_scores` = the predictor on the full text, and the predictor's
/// probabilities without the rationale / on the rationale alone (and per AOPC bin of the
/// generator's scores).
pub(super) fn explain(a: SelectExplain) -> Result<usize, String> {
    let dir = model_dir(&a.model);
    let model = SelectModel::load(&dir).map_err(|e| e.to_string())?;
    let data = DataDir::new(&a.data_dir);
    let store = data.documents().map_err(|e| e.to_string())?;
    let mut set = ExampleSet::load(&data, &a.split).map_err(|e| e.to_string())?;
    if let Some(n) = a.limit {
        set.examples.truncate(n);
    }
    let labels = model.labels().to_vec();
    let bar = if a.quiet {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new(set.examples.len() as u64);
        b.set_style(
            ProgressStyle::with_template("select [{bar:30}] {pos}/{len} ({elapsed}<{eta})")
                .expect("template"),
        );
        b
    };
    if a.thresholds.iter().any(|t| !(*t > 0.0 && *t <= 1.0)) {
        return Err("--thresholds must be in (0, 1]".into());
    }
    let (mut selected, mut total) = (0usize, 0usize);
    let mut lines = Vec::with_capacity(set.examples.len());
    for chunk in set.examples.chunks(16) {
        let mut encs = Vec::with_capacity(chunk.len());
        let mut sents = Vec::with_capacity(chunk.len());
        for ex in chunk {
            encs.push(model.encode(&ex.words).map_err(|e| e.to_string())?);
            sents.push(word_sentences(&store, ex).map_err(|e| e.to_string())?);
        }
        let rats = model
            .rationalize(&encs, &sents)
            .map_err(|e| e.to_string())?;
        for ((ex, enc), r) in chunk.iter().zip(&encs).zip(&rats) {
            let target = argmax(&r.probs);
            selected += r.mask.iter().filter(|m| **m).count();
            total += r.mask.len();
            let f = measure(
                model.predictor(),
                enc,
                &r.mask,
                Some(&r.scores),
                &a.thresholds,
            )
            .map_err(|e| format!("annotation {}: {e}", ex.annotation_id))?;
            let pred = eraser_record(ex, &r.mask, Some(&r.scores), &labels, target, &f);
            lines.push(serde_json::to_string(&pred).expect("prediction serialises"));
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    eprintln!(
        "selected {selected} of {total} dataset tokens: selection rate {:.4}",
        selected as f64 / total.max(1) as f64
    );
    let mut body = lines.join("\n");
    body.push('\n');
    write(&a.out, body.as_bytes())?;
    Ok(lines.len())
}

fn write(path: &Path, body: &[u8]) -> Result<(), String> {
    super::write_atomic(path, body).map_err(|e| format!("{}: {e}", path.display()))
}
