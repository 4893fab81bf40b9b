//! The `rationale` command line.

#[cfg(feature = "models")]
mod greedy;
mod render;
mod score;

use clap::{Parser, Subcommand};
use std::path::Path;
use std::process::ExitCode;

/// Rationale extraction and explainability for NLP: score rationales like ERASER, fast.
#[derive(Parser, Debug)]
#[command(name = "rationale", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Score a results file with the ERASER metrics (drop-in for rationale_benchmark/metrics.py).
    Score(score::ScoreArgs),
    /// Check a results file against a dataset and report every problem.
    Validate(score::ValidateArgs),
    /// Draw SVG figures: human vs model rationales as token heatmaps, AOPC and PR curves.
    Render(Box<render::RenderArgs>),
    /// Greedy sequential rationales (Vafa et al. 2021) for a GPT-2 model or a classifier.
    #[cfg(feature = "models")]
    Greedy(Box<greedy::GreedyArgs>),
}

/// Exit codes: 0 success, 1 problems found in the input, 2 unusable input.
pub mod exit {
    pub const PROBLEMS: u8 = 1;
    pub const UNUSABLE: u8 = 2;
}

/// Parses arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Score(args) => score::score(args),
        Command::Validate(args) => score::validate(args),
        Command::Render(args) => render::render(*args),
        #[cfg(feature = "models")]
        Command::Greedy(args) => greedy::greedy(*args),
    }
}

/// Writes `contents` to `path` atomically (temporary file in the same folder, then rename).
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
