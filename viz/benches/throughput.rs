//! Times rendering 199 documents of 800 tokens (the size of ERASER Movies' test split), each with
//! a gold rationale, one score row and a predicted rationale.
//!
//! `cargo bench -p rationale-viz --bench throughput`

use std::time::Instant;

use rationale_viz::{Heatmap, Result};

fn main() -> Result<()> {
    let words = [
        "the", "film", "is", "a", "delight", ",", "superb", "acting", "but", "slow", ".",
    ];
    let tokens: Vec<&str> = (0..800)
        .map(|i| words[(i * 7 + i / 3) % words.len()])
        .collect();
    let gold: Vec<bool> = (0..800).map(|i| i % 50 < 4).collect();
    let start = Instant::now();
    let mut bytes = 0;
    for d in 0..199 {
        let scores: Vec<f64> = (0..800)
            .map(|i| ((i * 31 + d * 17) % 100) as f64 / 100.0)
            .collect();
        let pred: Vec<bool> = scores.iter().map(|&s| s > 0.9).collect();
        let svg = Heatmap::new(&tokens)
            .gold(&gold)
            .row_with_prediction("IG", &scores, &pred)
            .render()?;
        bytes += svg.len();
    }
    let dt = start.elapsed();
    println!(
        "199 documents × 800 tokens: {:.2} s, {:.1} MB of SVG",
        dt.as_secs_f64(),
        bytes as f64 / 1e6
    );
    Ok(())
}
