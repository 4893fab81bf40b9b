//! `rationale greedy` end to end on the tiny GPT-2 fixture and the bundled Movies data.
#![cfg(feature = "models")]

mod common;

use common::rationale as run;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn text_mode_json_svg_and_exhaustive() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("g.json");
    let svg = dir.path().join("g.svg");
    let model = root().join("tests/fixtures/gpt2_tiny");
    let o = run(&[
        "greedy",
        "--model",
        model.to_str().unwrap(),
        "--text",
        "w2 w3 w18 w18 w18",
        "--exhaustive",
        "-o",
        out.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
        "--first-target",
        "1",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let r = v["rationales"].as_array().unwrap();
    assert_eq!(r.len(), 4);
    // the fixture's reference rationales (authors' algorithm in PyTorch) for positions 1..=4
    let orders: Vec<serde_json::Value> = r.iter().map(|x| x["order"].clone()).collect();
    assert_eq!(
        serde_json::Value::Array(orders),
        serde_json::json!([[0], [1, 0], [2, 0, 1], [3, 0, 1]])
    );
    assert_eq!(r[3]["exhaustive"]["subset"], serde_json::json!([0, 1, 3]));
    assert_eq!(r[3]["approximation_ratio"], 1.0);
    let drawn = std::fs::read_to_string(&svg).unwrap();
    assert!(drawn.contains("w18"));
    // `rationale render sequential` draws the same figure from the JSON output.
    let again = dir.path().join("again.svg");
    let o = run(&[
        "render",
        "sequential",
        "--greedy",
        out.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&again).unwrap(), drawn);
    let o = run(&[
        "render",
        "sequential",
        "--greedy",
        out.to_str().unwrap(),
        "--target",
        "9",
        "--out",
        again.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("[1, 2, 3, 4]"));
}

/// Text mode on the Hugging Face Llama, Qwen2 and Mistral fixtures: the text encoded as
/// `predict` encodes it (Llama's and Mistral's BOS included), the rationales of the authors'
/// algorithm on transformers for the fixture's longest text, --exhaustive and --svg.
#[test]
fn text_mode_runs_on_llama_qwen2_and_mistral() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["llama_lm", "qwen2_lm", "mistral_lm"] {
        let model = root().join("tests/fixtures/hf").join(name);
        let exp: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(model.join("expected.json")).unwrap())
                .unwrap();
        let out = dir.path().join(format!("{name}.json"));
        let o = run(&[
            "greedy",
            "--model",
            model.to_str().unwrap(),
            "--text",
            exp["texts"][1].as_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        // texts[1] is the longest text of every fixture
        assert_eq!(v["ids"], exp["cases"][1]["ids"], "{name}");
        assert_eq!(v["tokens"], exp["cases"][1]["tokens"], "{name}");
        let r = v["rationales"].as_array().unwrap();
        let want = exp["greedy"].as_array().unwrap();
        assert_eq!(r.len(), want.len(), "{name}");
        for (g, w) in r.iter().zip(want) {
            assert_eq!(g["target_position"], w["target_position"], "{name}");
            assert_eq!(g["order"], w["order"], "{name} {}", w["target_position"]);
            assert_eq!(g["reached_argmax"], w["reached_argmax"], "{name}");
            assert_eq!(
                g["rationale_tokens"].as_array().unwrap().len(),
                g["order"].as_array().unwrap().len()
            );
        }
        // --exhaustive and --svg on the last token of a short text
        let svg = dir.path().join(format!("{name}.svg"));
        let o = run(&[
            "greedy",
            "--model",
            model.to_str().unwrap(),
            "--text",
            "The movie was good",
            "--exhaustive",
            "3",
            "--svg",
            svg.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let r = v["rationales"].as_array().unwrap();
        assert_eq!(r.len(), 1, "{name}: --svg rationalizes the last token");
        assert!(r[0].get("exhaustive").is_some(), "{name}");
        assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
        // annotated LAMBADA stays GPT-2 only
        let o = run(&[
            "greedy",
            "--model",
            model.to_str().unwrap(),
            "--lambada",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{name}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("GPT-2 models only"));
    }
}

#[test]
fn classifier_mode_writes_eraser_results_that_score_reads() {
    let dir = tempfile::tempdir().unwrap();
    let bow = dir.path().join("bow.json");
    let preds = dir.path().join("preds.jsonl");
    let data = root().join("datasets/movies");
    let o = run(&[
        "greedy",
        "--model",
        bow.to_str().unwrap(),
        "--train-bow",
        "--data-dir",
        data.to_str().unwrap(),
        "--split",
        "test",
        "--limit",
        "5",
        "-o",
        preds.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&preds).unwrap().lines().count(), 5);
    let o = run(&[
        "score",
        "--data-dir",
        data.to_str().unwrap(),
        "--split",
        "test",
        "--results",
        preds.to_str().unwrap(),
        "--allow-missing",
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("Token F1") && text.contains("Suff"),
        "{text}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn bad_inputs_fail_with_a_message() {
    let o = run(&["greedy", "--model", "/nonexistent", "--text", "a b"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent"));
    let o = run(&["greedy", "--model", Path::new("x").to_str().unwrap()]);
    assert!(!o.status.success());
}

#[test]
fn greedy_rationalizes_a_trained_checkpoint_down_to_the_planted_word() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::planted(&data, [("train", 200), ("val", 40), ("test", 40)], 7);
    let model = dir.path().join("cnn");
    let o = run(&[
        "train",
        "classifier",
        "--quiet",
        "--data-dir",
        data.to_str().unwrap(),
        "--encoder",
        "cnn",
        "--embed-dim",
        "16",
        "--filters",
        "16",
        "--widths",
        "3",
        "--epochs",
        "8",
        "--lr",
        "0.01",
        "--seed",
        "3",
        "--out",
        model.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let preds = dir.path().join("preds.jsonl");
    let o = run(&[
        "greedy",
        "--model",
        model.join("best").to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--split",
        "test",
        "-o",
        preds.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Every test document's gold rationale is its one planted word; the greedy rationale of a
    // model that learned the task is that word alone.
    let text = std::fs::read_to_string(&preds).unwrap();
    let exact = text
        .lines()
        .filter(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let id = v["annotation_id"].as_str().unwrap();
            let spans = v["rationales"][0]["hard_rationale_predictions"]
                .as_array()
                .unwrap();
            let doc = std::fs::read_to_string(data.join("docs").join(id)).unwrap();
            let words: Vec<&str> = doc.split_whitespace().collect();
            spans.len() == 1 && {
                let s = spans[0]["start_token"].as_u64().unwrap() as usize;
                spans[0]["end_token"].as_u64().unwrap() as usize == s + 1
                    && ["great", "awful"].contains(&words[s])
            }
        })
        .count();
    assert!(
        exact >= 36,
        "{exact}/40 greedy rationales are the planted word"
    );
}

#[test]
fn word_dropout_fine_tuning_lowers_the_loss_and_greedy_reads_the_result() {
    let dir = tempfile::tempdir().unwrap();
    // A corpus with one strong regularity: w1 w2 w3 ... w7, repeated.
    let text = dir.path().join("corpus.txt");
    let block: Vec<String> = (1..=8).map(|i| format!("w{i}")).collect();
    std::fs::write(&text, vec![block.join(" "); 40].join(" ")).unwrap();
    let out = dir.path().join("compat");
    let model = root().join("tests/fixtures/gpt2_tiny");
    let o = run(&[
        "train",
        "compat",
        "--model",
        model.to_str().unwrap(),
        "--text",
        text.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--block",
        "16",
        "--steps",
        "40",
        "--lr",
        "0.01",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let line = err.lines().find(|l| l.starts_with("mean loss")).unwrap();
    let nums: Vec<f32> = line
        .split(' ')
        .filter_map(|w| w.trim_end_matches(',').parse().ok())
        .collect();
    let (first, last) = (nums[nums.len() - 3], nums[nums.len() - 1]);
    assert!(last < 0.5 * first, "{line}");
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let o = run(&[
        "greedy",
        "--model",
        out.to_str().unwrap(),
        "--text",
        "w1 w2 w3 w4",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A block longer than the model's positions is refused with a reason.
    let o = run(&[
        "train",
        "compat",
        "--model",
        model.to_str().unwrap(),
        "--text",
        text.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--block",
        "64",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("n_positions"));
}
