//! Times `rationale score`'s evaluation pass in-process on a data directory with
//! `preds.jsonl` (e.g. from the `synthetic` bench) and prints wall time and peak memory:
//! `cargo bench --bench score_bench -- DATA_DIR [SPLIT] [REPEATS]` (docs/benchmarks.md).
//! Without DATA_DIR (a plain `cargo bench`) it prints its usage and does nothing.

use rationale::eval::{evaluate, ScoreOptions};
use std::path::PathBuf;
use std::time::Instant;

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() {
    // `cargo bench` adds `--bench` to the arguments.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(dir) = args.first().map(PathBuf::from) else {
        eprintln!("score_bench: skipped (usage: score_bench DATA_DIR [SPLIT] [REPEATS])");
        return;
    };
    let split = args.get(1).map(String::as_str).unwrap_or("test");
    let repeats: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(5);
    let mut times = Vec::new();
    for _ in 0..repeats {
        let start = Instant::now();
        let eval = evaluate(
            &dir,
            split,
            &dir.join("preds.jsonl"),
            &ScoreOptions::default(),
            &mut |_| {},
        )
        .expect("evaluation runs");
        times.push(start.elapsed().as_secs_f64());
        assert!(
            eval.scores.is_some(),
            "input has errors: {:?}",
            eval.problems.first()
        );
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{}: min {:.3} s, median {:.3} s over {repeats} runs, peak RSS {:.0} MB, {} threads",
        dir.display(),
        times[0],
        times[times.len() / 2],
        peak_rss_mb().unwrap_or(f64::NAN),
        rayon::current_num_threads()
    );
}
