//! The majority-class experiment of Vafa et al. (2021), end to end: trains a standard and a
//! word-dropout (compatible) GPT-2 on 17 random bits + `=` + majority bit, compares P(majority)
//! on partial contexts with the exact binomial tail, and greedy rationale sizes with exhaustive
//! search and with the Bayes-optimal size.
//!
//! `cargo run --profile ci --example greedy_majority -- [steps] [train] [test] [out.json] [max_exhaustive]`

use candle_core::Device;
use rationale::greedy::dropout::TrainConfig;
use rationale::greedy::majority::{run, ExperimentConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: usize| a.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let lr: f64 = std::env::var("LR")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1e-3);
    let cfg = ExperimentConfig {
        train: arg(1, 50_000),
        test: arg(2, 500),
        n_embd: 64,
        n_layer: 2,
        n_head: 4,
        train_cfg: TrainConfig {
            mixture: 1.0,
            lr,
            steps: arg(0, 3000),
            batch: 64,
            seed: 42,
            last_only: std::env::var("ALL_POSITIONS").is_err(),
        },
        max_exhaustive: arg(4, 4),
    };
    let t = std::time::Instant::now();
    let arms = run(&cfg, &Device::Cpu)?;
    for arm in &arms {
        println!(
            "mixture {:.1}: loss {:.4}, full-context accuracy {:.3}, probe |P-exact| mean {:.4} max {:.4}; sizes greedy {:.3} exhaustive {:.3} bayes {:.3}, ratio {:.3}, greedy worse {}/{}, = bayes {}/{}, unreached {}",
            arm.mixture, arm.final_loss, arm.full_context_accuracy, arm.probe.mean_abs_error, arm.probe.max_abs_error,
            arm.sizes.greedy_mean, arm.sizes.exhaustive_mean, arm.sizes.bayes_mean, arm.sizes.approximation_ratio,
            arm.sizes.greedy_worse, arm.sizes.n, arm.sizes.equal_to_bayes, arm.sizes.n, arm.sizes.unreached
        );
    }
    println!("wall {:.1} s", t.elapsed().as_secs_f64());
    if let Some(out) = a.get(3) {
        std::fs::write(
            out,
            serde_json::to_string_pretty(&serde_json::json!({ "config": cfg, "arms": arms }))?,
        )?;
    }
    Ok(())
}
