//! Drawing from Rust: a heatmap of a method's scores over a document with the human rationale
//! underlined, written as SVG. `cargo run --example draw -- OUT.svg`

use rationale_viz::{Heatmap, HeatmapOptions};

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/draw.svg".into());
    let tokens = [
        "the", "acting", "is", "wooden", "and", "the", "plot", "a", "total", "mess", ".",
    ];
    let human = [
        false, false, false, true, false, false, false, true, true, true, false,
    ];
    let scores = [0.05, 0.3, 0.1, 0.9, 0.05, 0.02, 0.4, 0.2, 0.7, 0.95, 0.01];
    let svg = Heatmap::new(&tokens)
        .gold(&human)
        .row("gradient × input", &scores)
        .title("A method's scores vs the human rationale")
        .options(HeatmapOptions::default())
        .render()
        .expect("finite scores");
    std::fs::write(&out, svg).expect("writable output");
    println!("{out}");
}
