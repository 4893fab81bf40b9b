//! The `rationale` binary end to end: exit codes, messages, outputs.

mod common;

use serde_json::json;
use std::path::Path;
use std::process::{Command, Output};

fn rationale(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rationale"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn movies() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("datasets/movies")
        .display()
        .to_string()
}

#[test]
fn scores_the_bundled_human_agreement_with_reference_spellings() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("scores.json");
    let data = movies();
    let results = format!("{data}/movies_majority_human_perf.jsonl");
    let o = rationale(&[
        "score",
        "--data_dir",
        &data,
        "--split",
        "test",
        "--results",
        &results,
        "--score_file",
        out.to_str().unwrap(),
        "--iou_thresholds",
        "0.5",
        "0.75",
    ]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stdout.contains("Token F1") && stdout.contains("IOU F1 @0.75"),
        "{stdout}"
    );
    assert!(
        stderr.contains("posR_947.txt") && stderr.contains("not in the split"),
        "{stderr}"
    );
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(file["iou_scores"].as_array().unwrap().len(), 2);
    assert!(file["token_prf"]["instance_macro"]["f1"].as_f64().unwrap() > 0.0);
    assert!(file.get("classification_scores").is_none());
}

#[test]
fn per_instance_tables_in_three_formats() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = common::fixtures().join("eraser_tiny");
    let d = dir.display().to_string();
    let results = format!("{d}/preds.jsonl");
    // Parquet and Arrow IPC need the `columnar` feature.
    let formats: &[&str] = if cfg!(feature = "columnar") {
        &["jsonl", "parquet", "arrow"]
    } else {
        &["jsonl"]
    };
    for &ext in formats {
        let out = tmp.path().join(format!("rows.{ext}"));
        let o = rationale(&[
            "score",
            "--data-dir",
            &d,
            "--split",
            "test",
            "--results",
            &results,
            "--per-instance",
            out.to_str().unwrap(),
            "-q",
        ]);
        assert!(o.status.success(), "{}", text(&o).1);
        let bytes = std::fs::read(&out).unwrap();
        match ext {
            "jsonl" => {
                let rows: Vec<serde_json::Value> = String::from_utf8(bytes)
                    .unwrap()
                    .lines()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect();
                assert_eq!(rows.len(), 5, "one row per (annotation, doc)");
                let a1 = rows.iter().find(|r| r["annotation_id"] == "a1").unwrap();
                assert_eq!(a1["gold_tokens"], 9);
                assert_eq!(a1["predicted_tokens"], 7);
                assert_eq!(a1["overlap_tokens"], 5);
                assert_eq!(a1["gold_label"], "NEG");
                assert!((a1["comprehensiveness"].as_f64().unwrap() - 0.5).abs() < 1e-12);
            }
            "parquet" => assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1")),
            _ => assert!(bytes.starts_with(b"ARROW1")),
        }
    }
}

#[test]
fn validate_reports_every_problem_with_line_id_and_doc() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = vec![("d1".to_string(), "a b c d e\nf g h".to_string())];
    let anns = vec![
        json!({"annotation_id": "x", "classification": "POS", "query": "", "query_type": null,
        "evidences": [[{"docid": "d1", "start_token": 0, "end_token": 2, "start_sentence": 0, "end_sentence": 1, "text": "a b"}]]}),
    ];
    let preds = vec![
        json!({"annotation_id": "x", "rationales": [{"docid": "d1", "hard_rationale_predictions": [{"start_token": 0, "end_token": 3}, {"start_token": 2, "end_token": 4}], "soft_rationale_predictions": [0.1, 0.2]}]}),
        json!({"annotation_id": "x", "rationales": [{"docid": "nope", "hard_rationale_predictions": [{"start_token": 0, "end_token": 99}]}]}),
        json!({"annotation_id": "y", "rationales": [{"docid": "d1", "hard_rationale_predictions": [{"start_token": 5, "end_token": 5}]}]}),
    ];
    common::write_dataset(tmp.path(), &docs, &anns, &preds);
    let mut lines = std::fs::read_to_string(tmp.path().join("preds.jsonl")).unwrap();
    lines.push_str("{\"annotation_id\": \"z\", \"rationales\": [}\n");
    std::fs::write(tmp.path().join("preds.jsonl"), lines).unwrap();
    let d = tmp.path().display().to_string();
    let results = format!("{d}/preds.jsonl");
    let o = rationale(&[
        "validate",
        "--data-dir",
        &d,
        "--split",
        "test",
        "--results",
        &results,
    ]);
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}{stderr}");
    for needle in [
        "preds.jsonl:1: error: annotation \"x\", doc \"d1\": spans [0, 3), [2, 4) overlap",
        "preds.jsonl:1: error: annotation \"x\", doc \"d1\": soft_rationale_predictions has 2 values but the document has 8 tokens",
        "preds.jsonl:2: error: annotation \"x\", doc \"nope\": unknown docid",
        "preds.jsonl:2: error: annotation \"x\": duplicate annotation_id (first on line 1)",
        "preds.jsonl:3: warning: annotation \"y\", doc \"d1\": span [5, 5) is empty",
        "preds.jsonl:3: warning: annotation \"y\": is not in the split",
        "preds.jsonl:4: error: not a valid ERASER results record",
        "soft_rationale_predictions is on 1 of 3 lines",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in:\n{stderr}");
    }
    // score refuses, writes nothing, exits 1
    let out = tmp.path().join("s.json");
    let o = rationale(&[
        "score",
        "--data-dir",
        &d,
        "--split",
        "test",
        "--results",
        &results,
        "--score-file",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!out.exists());
}

#[test]
fn unusable_input_exits_2_with_the_path() {
    let data = movies();
    let o = rationale(&[
        "validate",
        "--data-dir",
        &data,
        "--split",
        "test",
        "--results",
        "/nonexistent/preds.jsonl",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("/nonexistent/preds.jsonl"));
    let o = rationale(&[
        "score",
        "--data-dir",
        "/nonexistent",
        "--split",
        "test",
        "--results",
        "x.jsonl",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("/nonexistent/test.jsonl"));
}

#[test]
fn clean_file_validates_with_exit_0() {
    let d = common::fixtures().join("eraser_tiny").display().to_string();
    let results = format!("{d}/preds.jsonl");
    let o = rationale(&[
        "validate",
        "--data-dir",
        &d,
        "--split",
        "test",
        "--results",
        &results,
    ]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stdout.contains("4 lines, 0 error(s), 0 warning(s)"),
        "{stdout}"
    );
}

#[test]
fn auprc_policy_flag_changes_only_no_gold_documents() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = vec![
        ("d1".to_string(), "a b c d".to_string()),
        ("d2".to_string(), "e f g h".to_string()),
    ];
    let anns = vec![
        json!({"annotation_id": "x", "classification": "POS", "query": "", "query_type": null,
        "evidences": [[{"docid": "d1", "start_token": 0, "end_token": 1, "start_sentence": 0, "end_sentence": 1, "text": "a"}]]}),
    ];
    let preds = vec![json!({"annotation_id": "x", "rationales": [
        {"docid": "d1", "soft_rationale_predictions": [0.9, 0.1, 0.1, 0.1]},
        {"docid": "d2", "soft_rationale_predictions": [0.5, 0.1, 0.1, 0.1]}]})];
    common::write_dataset(tmp.path(), &docs, &anns, &preds);
    let d = tmp.path().display().to_string();
    let results = format!("{d}/preds.jsonl");
    let auprc = |policy: &str| -> String {
        let out = tmp.path().join(format!("{policy}.json"));
        let o = rationale(&[
            "score",
            "--data-dir",
            &d,
            "--split",
            "test",
            "--results",
            &results,
            "--auprc-no-gold",
            policy,
            "--score-file",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success());
        if policy == "nan" {
            assert!(text(&o).1.contains("(\"x\", \"d2\")"), "names the pair");
        }
        let f = std::fs::read_to_string(out).unwrap();
        f.lines()
            .find(|l| l.contains("\"auprc\""))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(auprc("nan"), "\"auprc\": NaN,");
    assert_eq!(auprc("half"), "\"auprc\": 0.75,");
    assert_eq!(auprc("skip"), "\"auprc\": 1.0,");
}

#[test]
fn gallery_is_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let figures = rationale::figures::gallery::gallery(root).expect("gallery renders");
    assert!(figures.len() >= 5);
    for (name, svg) in figures {
        let path = root.join("viz/gallery").join(&name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == svg,
            "{} is stale: run `cargo run --example gallery`",
            path.display()
        );
    }
}

#[test]
fn render_heatmaps_and_curves() {
    let tmp = tempfile::tempdir().unwrap();
    let d = common::fixtures().join("eraser_tiny").display().to_string();
    let results = format!("{d}/preds.jsonl");
    let out = tmp.path().join("a3.svg");
    let o = rationale(&[
        "render",
        "--data-dir",
        &d,
        "--split",
        "test",
        "--results",
        &results,
        "--compare",
        &results,
        "--label",
        "one",
        "two",
        "--id",
        "a3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    // a3 has two documents: one figure each.
    for doc in ["e1_premise", "e1_hypothesis"] {
        let svg = std::fs::read_to_string(tmp.path().join(format!("a3-{doc}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains(">one<") && svg.contains(">two<"),
            "{doc}"
        );
    }
    let o = rationale(&[
        "render",
        "--data-dir",
        &d,
        "--split",
        "test",
        "--results",
        &results,
        "--all",
        "--out-dir",
        tmp.path().join("all").to_str().unwrap(),
        "--page-lines",
        "1",
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert!(
        tmp.path().join("all/a1-p2.svg").exists(),
        "pages of one line each"
    );
    let o = rationale(&[
        "render",
        "curves",
        "--data-dir",
        &d,
        "--split",
        "test",
        "--results",
        &results,
        "--out-dir",
        tmp.path().to_str().unwrap(),
        "--id",
        "a1",
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    for f in [
        "aopc_comprehensiveness.svg",
        "aopc_sufficiency.svg",
        "pr_a1_m1.svg",
    ] {
        assert!(
            std::fs::read_to_string(tmp.path().join(f))
                .unwrap()
                .contains("</svg>"),
            "{f}"
        );
    }
    let o = rationale(&[
        "render",
        "--data-dir",
        &d,
        "--split",
        "test",
        "--results",
        &results,
        "--id",
        "nope",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("\"nope\" is not in"));
    // Curves need thresholded scores; the human-agreement files have none.
    let m = movies();
    let o = rationale(&[
        "render",
        "curves",
        "--data-dir",
        &m,
        "--split",
        "test",
        "--results",
        &format!("{m}/movies_union_human_perf.jsonl"),
        "--out-dir",
        tmp.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).1.contains("no thresholded_scores"),
        "{}",
        text(&o).1
    );
}

#[test]
fn render_refuses_nan_scores_with_a_message() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = vec![("d1".to_string(), "a b c".to_string())];
    let anns = vec![
        json!({"annotation_id": "x", "classification": "POS", "query": "", "query_type": null,
        "evidences": [[{"docid": "d1", "start_token": 0, "end_token": 1, "start_sentence": 0, "end_sentence": 1, "text": "a"}]]}),
    ];
    common::write_dataset(tmp.path(), &docs, &anns, &[]);
    std::fs::write(tmp.path().join("preds.jsonl"), "{\"annotation_id\": \"x\", \"rationales\": [{\"docid\": \"d1\", \"soft_rationale_predictions\": [0.1, NaN, 0.3]}]}\n").unwrap();
    let d = tmp.path().display().to_string();
    let o = rationale(&[
        "render",
        "--data-dir",
        &d,
        "--split",
        "test",
        "--results",
        &format!("{d}/preds.jsonl"),
        "--id",
        "x",
        "--out",
        &format!("{d}/x.svg"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).1.contains("NaN") || text(&o).1.contains("finite"),
        "{}",
        text(&o).1
    );
    assert!(!tmp.path().join("x.svg").exists());
}

#[test]
fn bias_metrics_match_scikit_learn_and_hatexplains_protocol() {
    let dir = common::fixtures().join("bias");
    let d = dir.display().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bias.json");
    let o = rationale(&[
        "bias",
        "--data-dir",
        &d,
        "--split",
        "test",
        "--results",
        &format!("{d}/preds.jsonl"),
        "--score-file",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert!(text(&o).0.contains("GMB-BPSN"));
    let ours = common::read_score_file(&std::fs::read_to_string(&out).unwrap());
    let expected =
        common::read_score_file(&std::fs::read_to_string(dir.join("expected.json")).unwrap());
    let mut diffs = Vec::new();
    common::compare(&expected, &ours, "", 1e-12, &mut diffs);
    diffs.retain(|d| !d.contains(".power"));
    assert!(diffs.is_empty(), "{diffs:#?}");
}
