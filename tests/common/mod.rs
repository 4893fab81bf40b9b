//! Shared test helpers: writing datasets and comparing score files numerically.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
#[cfg(feature = "cli")]
use std::process::{Command, Output};

/// `../shared/data` beside the checkout, if present.
pub fn shared_data() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    p.is_dir().then_some(p)
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A tiny Hugging Face checkpoint of `tests/fixtures/hf/` (made by its `make_fixtures.py`).
pub fn hf_fixture(name: &str) -> PathBuf {
    fixtures().join("hf").join(name)
}

/// A fixture folder's `expected.json`.
pub fn expected(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap()
}

/// A JSON array of numbers as f32.
pub fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// The largest absolute difference of two equally long slices.
pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Writes docs (id, text), annotations and results lines into `dir`.
pub fn write_dataset(
    dir: &Path,
    docs: &[(String, String)],
    annotations: &[Value],
    preds: &[Value],
) {
    std::fs::create_dir_all(dir.join("docs")).unwrap();
    for (id, text) in docs {
        std::fs::write(dir.join("docs").join(id), text).unwrap();
    }
    let lines = |v: &[Value]| v.iter().map(|x| x.to_string() + "\n").collect::<String>();
    std::fs::write(dir.join("test.jsonl"), lines(annotations)).unwrap();
    std::fs::write(dir.join("preds.jsonl"), lines(preds)).unwrap();
}

/// A float from a leniently parsed JSON value (NaN/Infinity arrive as marker strings).
fn as_float(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if s.starts_with('\u{0}') => Some(match &s[1..] {
            "NaN" => f64::NAN,
            "Infinity" => f64::INFINITY,
            _ => f64::NEG_INFINITY,
        }),
        _ => None,
    }
}

/// Differences between two score files: every numeric leaf within `rel` relative tolerance
/// (NaN equals NaN), same keys. `micro avg` in ours matches `accuracy` in a modern reference.
pub fn compare(expected: &Value, ours: &Value, path: &str, rel: f64, out: &mut Vec<String>) {
    match (expected, ours) {
        (Value::Object(e), Value::Object(o)) => {
            for (k, ev) in e {
                let ok = if k == "accuracy" && !o.contains_key(k) {
                    "micro avg"
                } else {
                    k.as_str()
                };
                match (o.get(ok), ev) {
                    (Some(ov), _) if ok == "micro avg" && k == "accuracy" => {
                        compare(ev, &ov["f1-score"], &format!("{path}.{k}"), rel, out)
                    }
                    (Some(ov), _) => compare(ev, ov, &format!("{path}.{k}"), rel, out),
                    (None, _) => out.push(format!("{path}.{k}: missing in ours")),
                }
            }
            for k in o.keys() {
                let modern = k == "micro avg" && e.contains_key("accuracy");
                if !e.contains_key(k) && k != "tokens_to_flip" && !modern {
                    out.push(format!("{path}.{k}: extra in ours"));
                }
            }
        }
        (Value::Array(e), Value::Array(o)) => {
            if e.len() != o.len() {
                out.push(format!("{path}: length {} vs {}", e.len(), o.len()));
            }
            for (i, (a, b)) in e.iter().zip(o).enumerate() {
                compare(a, b, &format!("{path}[{i}]"), rel, out);
            }
        }
        _ => match (as_float(expected), as_float(ours)) {
            (Some(a), Some(b)) => {
                let same = (a.is_nan() && b.is_nan())
                    || a == b
                    || (a - b).abs() <= rel * a.abs().max(b.abs());
                if !same {
                    out.push(format!("{path}: expected {a:e}, ours {b:e}"));
                }
            }
            _ if expected == ours => {}
            _ => out.push(format!("{path}: expected {expected}, ours {ours}")),
        },
    }
}

/// Parses a score file as Python writes it.
pub fn read_score_file(text: &str) -> Value {
    rationale::corpus::parse_lenient(text).expect("score file parses")
}

/// A planted-token problem whose answer is known: the label is decided by one word ("great" /
/// "awful") at a random position among filler words, and that word is the gold rationale.
/// Writes `train/val/test.jsonl` and `docs/`: documents of 2 sentences × 6 tokens.
pub fn planted(dir: &Path, counts: [(&str, usize); 3], seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    std::fs::create_dir_all(dir.join("docs")).unwrap();
    for (split, n) in counts {
        let mut lines = String::new();
        for i in 0..n {
            let pos = i % 2 == 0;
            let key = rng.gen_range(0..12);
            let words: Vec<String> = (0..12)
                .map(|j| {
                    if j == key {
                        (if pos { "great" } else { "awful" }).to_string()
                    } else {
                        format!("w{}", rng.gen_range(0..40))
                    }
                })
                .collect();
            let id = format!("{split}_{i}");
            let text = format!("{}\n{}\n", words[..6].join(" "), words[6..].join(" "));
            std::fs::write(dir.join("docs").join(&id), text).unwrap();
            let ann = json!({
                "annotation_id": id, "classification": if pos {"POS"} else {"NEG"},
                "evidences": [[{"docid": id, "start_token": key, "end_token": key + 1,
                    "start_sentence": key / 6, "end_sentence": key / 6 + 1, "text": words[key]}]],
                "query": "", "query_type": null
            });
            lines.push_str(&(ann.to_string() + "\n"));
        }
        std::fs::write(dir.join(format!("{split}.jsonl")), lines).unwrap();
    }
}

/// Runs the `rationale` binary (one rayon thread) and returns its output.
#[cfg(feature = "cli")]
pub fn rationale(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rationale"))
        .args(args)
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .expect("binary runs")
}

/// A copy of the model folder `dir` (its `tokenizer.json`, `config.json` and
/// `model.safetensors`) with the config text and the weights passed through `edit_*` first.
#[cfg(feature = "models")]
pub fn edited_copy(
    dir: &Path,
    edit_config: impl FnOnce(String) -> String,
    edit_weights: impl FnOnce(&mut std::collections::HashMap<String, candle_core::Tensor>),
) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.join("tokenizer.json"),
        tmp.path().join("tokenizer.json"),
    )
    .unwrap();
    let cfg = std::fs::read_to_string(dir.join("config.json")).unwrap();
    std::fs::write(tmp.path().join("config.json"), edit_config(cfg)).unwrap();
    let weights = dir.join("model.safetensors");
    let mut t = candle_core::safetensors::load(weights, &candle_core::Device::Cpu).unwrap();
    edit_weights(&mut t);
    candle_core::safetensors::save(&t, tmp.path().join("model.safetensors")).unwrap();
    tmp
}
