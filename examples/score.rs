//! Scoring from Rust: evaluate a results file against an ERASER split and read the numbers.
//! `cargo run --example score`

use rationale::eval::{evaluate, ScoreOptions};
use rationale::report::score_file::score_file;
use std::path::Path;

fn main() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/movies");
    let results = data.join("movies_union_human_perf.jsonl");
    let eval = evaluate(
        &data,
        "test",
        &results,
        &ScoreOptions::default(),
        &mut |_| {},
    )
    .expect("readable input");
    for p in eval.problems.iter().filter(|p| p.is_error()) {
        eprintln!("{}", p.display_with("movies_union_human_perf.jsonl"));
    }
    let scores = eval.scores.expect("no errors in the bundled file");
    let token = scores.token_prf.expect("hard rationales present");
    println!("token F1 (instance macro): {:.4}", token.macro_avg.f1);
    println!(
        "IOU F1 @0.5 (macro):       {:.4}",
        scores.iou_scores.as_ref().expect("hard")[0].macro_avg.f1
    );
    // The same numbers as the reference scorer's score file:
    println!("{}", score_file(&scores).to_python_string());
}
