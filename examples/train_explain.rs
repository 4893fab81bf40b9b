//! Training and explaining from Rust: train a small CNN classifier on the bundled Movies data,
//! explain its test predictions with gradient × input (faithfulness measured on the model),
//! write ERASER results and score them.
//! `cargo run --release --example train_explain -- OUT_DIR`

use rationale::eval::{evaluate, ScoreOptions};
use rationale::explain::results::{explain_split, results_jsonl, ExplainJob};
use rationale::explain::{ExplainConfig, Method};
use rationale::progress::Event;
use rationale::train::{train_classifier, TrainConfig};
use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or("train-explain".into()));
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/movies");
    // 1. Train (every field has a default; a config is plain serde JSON).
    let cfg = TrainConfig {
        data_dir: data.clone(),
        encoder: "cnn".into(),
        embed_dim: 64,
        filters: 64,
        max_len: 512,
        lr: 5e-3,
        epochs: 8,
        ..TrainConfig::default()
    };
    // Progress arrives as events (bars: Start/Step/Finish); print the per-epoch lines.
    let print_lines = |e: Event| {
        if let Event::Line(text) | Event::Warning(text) = e {
            eprintln!("{text}");
        }
    };
    let report = train_classifier(&cfg, &out, false, &print_lines, None)?;
    println!("best validation accuracy {:.3}", report.best_val_accuracy);
    // 2. Explain the test split: soft scores, top-k hard rationales, comp/suff/AOPC.
    let method = ExplainConfig {
        method: Method::GradInput,
        ..ExplainConfig::default()
    };
    let explained = explain_split(
        &ExplainJob::new(&out, &data, "test", method),
        &rationale::progress::Silent,
    )?;
    let results = out.join("grad_input.jsonl");
    std::fs::write(&results, results_jsonl(&explained.predictions))?;
    // 3. Score like ERASER.
    let eval = evaluate(
        &data,
        "test",
        &results,
        &ScoreOptions::default(),
        &mut |_| {},
    )?;
    let scores = eval.scores.ok_or("the results have errors")?;
    let classification = scores
        .classification_scores
        .as_ref()
        .ok_or("no classification")?;
    println!(
        "test accuracy {:.3}, token F1 {:.3}, comprehensiveness {:.3}",
        classification.accuracy,
        scores
            .token_prf
            .as_ref()
            .map_or(f64::NAN, |t| t.macro_avg.f1),
        classification.comprehensiveness.unwrap_or(f64::NAN)
    );
    Ok(())
}
