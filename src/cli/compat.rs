//! `rationale train compat`: word-dropout fine-tuning of a GPT-2-format language model so that
//! it predicts sensibly from any subset of its context (Vafa et al. 2021, the research note's
//! A5), which greedy sequential rationales assume.

use crate::greedy::dropout::{train_lm, TrainConfig};
use crate::greedy::lm::load_tokenizer;
use crate::io::write_dir_atomic;
use crate::models::gpt2::Gpt2;
use crate::train::TrainError;
use candle_core::Device;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `train compat`.
#[derive(Args, Debug)]
#[command(after_help = "Example:
  rationale train compat --model gpt2/ --text corpus.txt --out gpt2-compatible/ --steps 2000
  rationale greedy --model gpt2-compatible/ --text \"The capital of France is Paris\"")]
pub(crate) struct CompatArgs {
    /// GPT-2-format checkpoint folder (config.json, model.safetensors, tokenizer.json).
    #[arg(long)]
    model: PathBuf,
    /// Plain-text training corpus (UTF-8), tokenized with the model's tokenizer and cut into
    /// blocks of --block tokens.
    #[arg(long)]
    text: PathBuf,
    /// Output checkpoint folder (written atomically; tokenizer.json copied).
    #[arg(long)]
    out: PathBuf,
    /// Probability that a batch uses word dropout (the authors use 0.5).
    #[arg(long, default_value_t = 0.5)]
    mixture: f64,
    /// Tokens per training block.
    #[arg(long, default_value_t = 128)]
    block: usize,
    /// Optimizer steps.
    #[arg(long, default_value_t = 1000)]
    steps: usize,
    /// Blocks per batch.
    #[arg(long, default_value_t = 4)]
    batch: usize,
    /// AdamW learning rate (the authors fine-tune GPT-2 with 1e-5).
    #[arg(long, default_value_t = 1e-5)]
    lr: f64,
    /// Seed of the batch order and the word-dropout masks.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Runs `rationale train compat`.
pub(crate) fn compat(a: &CompatArgs) -> ExitCode {
    match run(a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(super::exit::UNUSABLE)
        }
    }
}

fn run(a: &CompatArgs) -> Result<(), String> {
    let dev = Device::Cpu;
    let (config, vars) = Gpt2::load_vars(&a.model, &dev).map_err(|e| e.to_string())?;
    let tok_path = a.model.join("tokenizer.json");
    let tok = load_tokenizer(&tok_path).map_err(|e| e.to_string())?;
    if a.block < 2 || a.block > config.n_positions {
        return Err(format!(
            "--block {} must be in 2..={} (the model's n_positions)",
            a.block, config.n_positions
        ));
    }
    let text =
        std::fs::read_to_string(&a.text).map_err(|e| format!("{}: {e}", a.text.display()))?;
    let ids = tok
        .encode(text.as_str(), false)
        .map_err(|e| format!("{}: tokenizer: {e}", a.text.display()))?
        .get_ids()
        .to_vec();
    let blocks: Vec<Vec<u32>> = ids.chunks_exact(a.block).map(<[u32]>::to_vec).collect();
    if blocks.is_empty() {
        return Err(format!(
            "{}: {} tokens, fewer than one block of {}; give more text or a smaller --block",
            a.text.display(),
            ids.len(),
            a.block
        ));
    }
    let cfg = TrainConfig {
        mixture: a.mixture,
        lr: a.lr,
        steps: a.steps,
        batch: a.batch,
        seed: a.seed,
        last_only: false,
    };
    eprintln!(
        "word-dropout fine-tuning: {} blocks of {} tokens, {} steps of {} blocks, mixture {}",
        blocks.len(),
        a.block,
        a.steps,
        a.batch,
        a.mixture
    );
    let terminal = super::progress::Terminal::new(false);
    let losses =
        train_lm(&config, &vars, &blocks, &cfg, &dev, &terminal).map_err(|e| e.to_string())?;
    let tenth = (losses.len() / 10).max(1);
    let mean = |l: &[f32]| l.iter().sum::<f32>() / l.len().max(1) as f32;
    eprintln!(
        "mean loss: first {tenth} steps {:.4}, last {tenth} steps {:.4}",
        mean(&losses[..tenth.min(losses.len())]),
        mean(&losses[losses.len().saturating_sub(tenth)..])
    );
    let io = |path: &std::path::Path, source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    };
    write_dir_atomic(&a.out, io, |dir| {
        Gpt2::save(&config, &vars, dir)
            .map_err(|e| io(dir, std::io::Error::other(e.to_string())))?;
        std::fs::copy(&tok_path, dir.join("tokenizer.json")).map_err(|e| io(&tok_path, e))?;
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    eprintln!("compatible checkpoint in {}", a.out.display());
    Ok(())
}
