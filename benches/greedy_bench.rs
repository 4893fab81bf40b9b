//! Speed of greedy rationalization in candle vs PyTorch on the same model and sequence.
//!
//! First run `benches/greedy_bench.py OUT_DIR SIZE PROMPT GEN` (PyTorch + transformers): it
//! saves the model to OUT_DIR and times the authors' algorithm there. Then
//! `cargo bench --bench greedy_bench -- OUT_DIR` rationalizes the same tokens with
//! this crate (one target at a time, and all targets in lock-step), checks the rationales are
//! identical, and prints both sides. The model is GPT-2 or, for the `llama-*` sizes, a Llama
//! ([`HfDecoder`]). `benches/greedy_bench.sh` runs both for every model size.
//! Without OUT_DIR (a plain `cargo bench`) it prints its usage and does nothing.

use candle_core::Device;
use rationale::greedy::lm::{
    rationalize_sequence, rationalize_sequence_batched, DEFAULT_MAX_TOKENS,
};
use rationale::greedy::GreedyConfig;
use rationale::models::cached_lm::CachedLm;
use rationale::models::gpt2::Gpt2;
use rationale::models::hf::{HfConfig, HfDecoder, HfKind};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` adds `--bench` to the arguments.
    let Some(dir) = std::env::args().skip(1).find(|a| a != "--bench") else {
        eprintln!("greedy_bench: skipped (usage: greedy_bench OUT_DIR, after greedy_bench.py)");
        return Ok(());
    };
    let dir = PathBuf::from(dir);
    let py: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("pytorch_bench.json"))?)?;
    let seq: Vec<u32> = serde_json::from_value(py["sequence"].clone())?;
    let first = py["first_target"].as_u64().ok_or("first_target")? as usize;
    let t = Instant::now();
    let decoder = matches!(
        HfConfig::read(&dir).and_then(|c| c.kind()),
        Ok(HfKind::Decoder(_))
    );
    if decoder {
        let model = HfDecoder::load(&dir)?;
        compare(&model, t, &dir, &py, &seq, first)
    } else {
        let model = Gpt2::load(&dir, &Device::Cpu)?;
        compare(&model, t, &dir, &py, &seq, first)
    }
}

/// Rationalizes `seq` from `first` with `model` (loaded since `t`), both ways, and prints and
/// saves the comparison with PyTorch's runs `py`.
fn compare(
    model: &impl CachedLm,
    t: Instant,
    dir: &Path,
    py: &Value,
    seq: &[u32],
    first: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "candle load {:.3} s; threads {}",
        t.elapsed().as_secs_f64(),
        candle_core::utils::get_num_threads()
    );
    let reference: Vec<Vec<usize>> = py["runs"]["authors"]["rationales_out"]
        .as_array()
        .ok_or("rationales_out")?
        .iter()
        .map(|r| serde_json::from_value(r["order"].clone()))
        .collect::<Result<_, _>>()?;
    let mut report = json!({ "pytorch": py["runs"].clone(), "candle": {} });
    report["pytorch"]["authors"]["rationales_out"] = Value::Null;
    report["pytorch"]["last_logits"]["rationales_out"] = Value::Null;
    // warm-up
    rationalize_sequence(model, &seq[..first + 1], first, &GreedyConfig::default())?;
    for name in ["one_target", "batched_targets"] {
        let t = Instant::now();
        let rats = if name == "batched_targets" {
            rationalize_sequence_batched(
                model,
                seq,
                first,
                &GreedyConfig::default(),
                DEFAULT_MAX_TOKENS,
            )?
        } else {
            rationalize_sequence(model, seq, first, &GreedyConfig::default())?
        };
        let secs = t.elapsed().as_secs_f64();
        let n = rats.len();
        let calls: u64 = if name == "batched_targets" {
            rats.iter()
                .map(|r| r.rationale.forward_calls)
                .max()
                .unwrap_or(0)
                * rats.len() as u64
        } else {
            rats.iter().map(|r| r.rationale.forward_calls).sum()
        };
        let subsets: u64 = rats.iter().map(|r| r.rationale.subsets_scored).sum();
        let same = rats
            .iter()
            .zip(&reference)
            .filter(|(r, o)| &r.rationale.order == *o)
            .count();
        println!(
            "candle {name}: {secs:.3} s, {n} rationales, {:.1} ms/rationale, {calls} forward calls, {subsets} subsets, {:.0} subsets/s, identical to PyTorch {same}/{n}",
            secs / n as f64 * 1000.0,
            subsets as f64 / secs
        );
        report["candle"][name] = json!({ "seconds": secs, "seconds_per_rationale": secs / n as f64, "forward_calls": calls,
            "subsets_scored": subsets, "subsets_per_second": subsets as f64 / secs, "identical_to_pytorch": same, "rationales": n });
    }
    for (py_name, py_run) in py["runs"].as_object().ok_or("runs")? {
        let p = py_run["seconds"].as_f64().unwrap_or(f64::NAN);
        for c in ["one_target", "batched_targets"] {
            println!(
                "speed-up candle {c} vs pytorch {py_name}: {:.2}x",
                p / report["candle"][c]["seconds"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
    std::fs::write(
        dir.join("bench_report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    Ok(())
}
