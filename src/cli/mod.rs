//! The `rationale` command line.

mod bias;
#[cfg(feature = "models")]
mod compat;
mod convert;
#[cfg(feature = "models")]
mod explain;
#[cfg(feature = "models")]
mod export;
#[cfg(feature = "models")]
mod greedy;
#[cfg(feature = "models")]
mod predict;
#[cfg(feature = "models")]
mod progress;
mod render;
#[cfg(feature = "models")]
mod run;
mod score;
#[cfg(feature = "models")]
mod select;
#[cfg(feature = "models")]
mod train;

use clap::{CommandFactory, Parser, Subcommand};
use std::process::ExitCode;

/// Rationale extraction and explainability for NLP: score rationales like ERASER, fast.
#[derive(Parser, Debug)]
#[command(name = "rationale", version, about)]
#[command(
    after_help = "Explain your own Hugging Face classifier (BERT, RoBERTa, XLM-R, DistilBERT, ModernBERT folder):
  rationale explain --model DIR --text \"a moving, funny film\" --method integrated-gradients --json
Or start with `rationale run` (the main job on the bundled Movies dataset, under five minutes).
Exit codes: 0 success, 1 problems in the input (listed on stderr), 2 unusable input or a
failed job (the message says which file and what to do); clap's own usage errors also exit 2.
Run `rationale <COMMAND> --help` for examples."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Explain a classifier post hoc (trained here or a Hugging Face checkpoint): texts given with
    /// --text, or a split with faithfulness measured, written as ERASER results.
    #[cfg(feature = "models")]
    Explain(Box<explain::ExplainArgs>),
    /// Class probabilities or next-token log-probabilities for texts, from a checkpoint trained
    /// here or a Hugging Face folder.
    #[cfg(feature = "models")]
    Predict(Box<predict::PredictArgs>),
    /// The main job: train a rationalizer and a classifier, explain, score, draw, compare.
    #[cfg(feature = "models")]
    Run(Box<run::RunArgs>),
    /// Score a results file with the ERASER metrics (drop-in for rationale_benchmark/metrics.py).
    Score(score::ScoreArgs),
    /// Check a results file against a dataset and report every problem.
    Validate(score::ValidateArgs),
    /// HateXplain's bias metrics (GMB Subgroup/BPSN/BNSP AUC) and one-vs-one AUROC.
    Bias(bias::BiasArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = "Example:
  rationale completions bash > ~/.local/share/bash-completion/completions/rationale")]
    Completions {
        /// The shell to write the script for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Convert HateXplain or ToxicSpans to an ERASER data directory.
    Convert(convert::ConvertArgs),
    /// Draw SVG figures: human vs model rationales as token heatmaps, AOPC and PR curves.
    Render(Box<render::RenderArgs>),
    /// Greedy sequential rationales (Vafa et al. 2021) for a GPT-2 model or a classifier.
    #[cfg(feature = "models")]
    Greedy(Box<greedy::GreedyArgs>),
    /// Write a classifier fine-tuned here from a BERT checkpoint as a Hugging Face
    /// BertForSequenceClassification folder (transformers loads it with the same logits).
    #[cfg(feature = "models")]
    Export(Box<export::ExportArgs>),
    /// Train a model on an ERASER dataset.
    #[cfg(feature = "models")]
    #[command(subcommand)]
    #[command(after_help = "Examples:
  rationale train classifier --data-dir datasets/movies --out runs/cls --encoder cnn
  rationale train select --data-dir datasets/movies --out runs/select --noise 0.1")]
    Train(train::TrainCommand),
}

/// Exit codes: 0 success, 1 problems found in the input, 2 unusable input.
pub(crate) mod exit {
    pub(crate) const PROBLEMS: u8 = 1;
    pub(crate) const UNUSABLE: u8 = 2;
}

/// Keeps freed tensor buffers in the heap instead of handing them back to the kernel (glibc on
/// Linux; elsewhere nothing): glibc maps every allocation above 128 KiB–32 MiB afresh and trims
/// the heap top, so each training step paid for page faults and zeroing (17 % of a MiniLM
/// fine-tuning profile); with these limits, fine-tuning runs ~25 % faster for ~5 % more peak
/// memory, integrated gradients ~11 % faster at two threads. The pad keeps 256 MiB of the heap
/// top when it is trimmed all the same (a step's activations freed at once): a third of the page
/// faults and half the system time of a fine-tuning run are left, for no more peak memory. The
/// `rationale` binary calls it first thing; benchmarks of its paths do too.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: plain malloc tuning calls (glibc's `mallopt` takes the arena lock).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TOP_PAD, 256 << 20);
    }
}

/// Parses arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        #[cfg(feature = "models")]
        Command::Run(args) => run::run(*args),
        Command::Score(args) => score::score(args),
        Command::Validate(args) => score::validate(args),
        Command::Render(args) => render::render(*args),
        #[cfg(feature = "models")]
        Command::Greedy(args) => greedy::greedy(*args),
        Command::Convert(args) => convert::convert(args),
        Command::Bias(args) => bias::bias(args),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "rationale",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
        #[cfg(feature = "models")]
        Command::Train(cmd) => train::train(cmd),
        #[cfg(feature = "models")]
        Command::Explain(args) => explain::explain(*args),
        #[cfg(feature = "models")]
        Command::Predict(args) => predict::predict(*args),
        #[cfg(feature = "models")]
        Command::Export(args) => export::export(*args),
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every argument of `cmd` and its subcommands (recursively) that has no help line, or that
    /// takes a value but is not required, has no default and does not say what happens without
    /// it. clap exposes no getter for `required_unless_present` and the like, so an argument
    /// whose help says when it is required counts as documented.
    fn undocumented(cmd: &clap::Command, path: &str, found: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if matches!(id, "help" | "version") {
                continue;
            }
            let help = arg
                .get_long_help()
                .or_else(|| arg.get_help())
                .map(|h| h.to_string())
                .unwrap_or_default();
            let name = match arg.get_long() {
                Some(l) => format!("{path} --{l}"),
                None => format!("{path} <{id}>"),
            };
            if help.trim().is_empty() {
                found.push(format!("{name}: no help line"));
                continue;
            }
            let lower = help.to_lowercase();
            let takes_value = arg.get_action().takes_values();
            if takes_value
                && !arg.is_required_set()
                && arg.get_default_values().is_empty()
                && !lower.contains("default")
                && !lower.contains("required")
            {
                found.push(format!("{name}: no default shown (help: {help:?})"));
            }
        }
        for sub in cmd.get_subcommands() {
            undocumented(sub, &format!("{path} {}", sub.get_name()), found);
        }
    }

    #[test]
    fn every_flag_has_help_and_shows_its_default() {
        let mut cmd = Cli::command();
        cmd.build();
        let mut found = Vec::new();
        undocumented(&cmd, "rationale", &mut found);
        assert!(
            found.is_empty(),
            "undocumented flags:\n{}",
            found.join("\n")
        );
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
