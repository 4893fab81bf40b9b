//! Scoring against hand-derived values, the reference scorer's own outputs, real ERASER data
//! and metric invariants.

mod common;

use common::{compare, fixtures, read_score_file, shared_data, write_dataset};
use proptest::prelude::*;
use rationale::eval::{evaluate, Evaluation, NoGoldAuprc, ScoreOptions, Scores};
use rationale::report::pyjson::PyJson;
use rationale::report::score_file::score_file;
use serde_json::{json, Value};
use std::path::Path;

fn run(dir: &Path, split: &str, results: &Path, options: &ScoreOptions) -> Evaluation {
    evaluate(dir, split, results, options, &mut |_| {}).expect("evaluation runs")
}

fn scores(eval: &Evaluation) -> &Scores {
    match &eval.scores {
        Some(s) => s,
        None => panic!("errors: {:#?}", eval.problems),
    }
}

#[test]
fn tiny_fixture_reproduces_the_reference_score_file_byte_for_byte() {
    let dir = fixtures().join("eraser_tiny");
    let options = ScoreOptions {
        strict: true,
        ..ScoreOptions::default()
    };
    let eval = run(&dir, "test", &dir.join("preds.jsonl"), &options);
    let mut file = score_file(scores(&eval));
    // Our one addition: the reference computes tokens_to_flip and then drops it.
    let PyJson::Dict(top) = &mut file else {
        unreachable!()
    };
    let Some(PyJson::Dict(cls)) = top.get_mut("classification_scores") else {
        unreachable!()
    };
    let ttf = cls.remove("tokens_to_flip");
    let expected = std::fs::read_to_string(dir.join("expected_score_file.json")).unwrap();
    assert_eq!(file.to_python_string(), expected.trim_end());
    // tokens_to_flip 4, 2, 3, 5 over documents of 18, 12, 9 + 5, 9 tokens.
    let want = (4.0 / 18.0 + 2.0 / 12.0 + 3.0 / 14.0 + 5.0 / 9.0) / 4.0;
    assert!(matches!(ttf, Some(PyJson::Float(x)) if (x - want).abs() < 1e-15));
}

#[test]
fn tiny_fixture_hand_derived_values() {
    let dir = fixtures().join("eraser_tiny");
    let eval = run(
        &dir,
        "test",
        &dir.join("preds.jsonl"),
        &ScoreOptions::default(),
    );
    let s = scores(&eval);
    let t = s.token_prf.unwrap();
    // 30 gold tokens, 20 predicted, 17 shared.
    assert_eq!((t.micro.p, t.micro.r), (17.0 / 20.0, 17.0 / 30.0));
    let iou = s.iou_scores.as_ref().unwrap()[0];
    // Best IoUs .75, 2/7, 1, 1, 1/4, 3/5 → 4 of 6 predictions, 8 gold spans.
    assert_eq!((iou.micro.p, iou.micro.r), (4.0 / 6.0, 4.0 / 8.0));
    let c = s.classification_scores.as_ref().unwrap();
    assert_eq!(c.accuracy, 0.75);
    assert!((c.comprehensiveness.unwrap() - (0.5 + 0.05 + 0.4 + 0.2) / 4.0).abs() < 1e-15);
}

/// Every case the reference scorer was run on (see tests/fixtures/oracle/README.md).
#[test]
fn reference_outputs_on_edge_cases() {
    let root = fixtures().join("oracle");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.join("expected.json").is_file())
                .collect()
        })
        .unwrap_or_default();
    cases.sort();
    if cases.is_empty() {
        println!("skipped: no oracle cases under {}", root.display());
        return;
    }
    let mut failures = Vec::new();
    for case in &cases {
        let args = std::fs::read_to_string(case.join("args.txt")).unwrap_or_default();
        let words: Vec<&str> = args.split_whitespace().collect();
        let mut options = ScoreOptions::default();
        let mut i = 0;
        while i < words.len() {
            let mut values = Vec::new();
            let flag = words[i];
            i += 1;
            while i < words.len() && !words[i].starts_with("--") {
                values.push(words[i].parse::<f64>().unwrap());
                i += 1;
            }
            match flag {
                "--iou_thresholds" => options.iou_thresholds = values,
                "--aopc_thresholds" => options.aopc_thresholds = values,
                "--strict" => options.strict = true,
                other => panic!("{}: unknown flag {other}", case.display()),
            }
        }
        let notes = std::fs::read_to_string(case.join("notes.txt")).unwrap_or_default();
        if notes.contains("modern") && notes.contains("0.5") {
            options.no_gold_auprc = NoGoldAuprc::Half;
        }
        let eval = run(case, "test", &case.join("preds.jsonl"), &options);
        let Some(s) = &eval.scores else {
            failures.push(format!(
                "{}: errors {:?}",
                case.display(),
                eval.problems
                    .iter()
                    .filter(|p| p.is_error())
                    .collect::<Vec<_>>()
            ));
            continue;
        };
        let ours = read_score_file(&score_file(s).to_python_string());
        let expected =
            read_score_file(&std::fs::read_to_string(case.join("expected.json")).unwrap());
        let mut diffs = Vec::new();
        compare(&expected, &ours, "", 1e-9, &mut diffs);
        if case.ends_with("empty_hard_first_line") {
            // Deliberate departure: hard metrics are computed when any line has hard spans.
            diffs.retain(|d| !d.ends_with("extra in ours"));
            assert!(ours.get("token_prf").is_some());
            assert!(eval
                .problems
                .iter()
                .any(|p| p.what.contains("reference scorer would skip")));
        }
        for d in diffs {
            failures.push(format!(
                "{}: {d}",
                case.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!("{} reference cases matched", cases.len());
}

/// Reference score files for the human-agreement predictions of ERASER Movies.
#[test]
fn movies_human_agreement_matches_reference() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/movies");
    for which in ["majority", "union"] {
        let expected = fixtures().join(format!("oracle/movies_human/{which}.expected.json"));
        if !expected.is_file() {
            println!("skipped: {} absent", expected.display());
            continue;
        }
        let results = data.join(format!("movies_{which}_human_perf.jsonl"));
        let eval = run(&data, "test", &results, &ScoreOptions::default());
        let ours = read_score_file(&score_file(scores(&eval)).to_python_string());
        let mut diffs = Vec::new();
        compare(
            &read_score_file(&std::fs::read_to_string(expected).unwrap()),
            &ours,
            "",
            1e-9,
            &mut diffs,
        );
        assert!(diffs.is_empty(), "{which}: {diffs:#?}");
    }
}

/// Perfect predictions (gold spans as hard rationale, gold tokens scored 1) for a split.
fn perfect_predictions(data: &Path, split: &str) -> (Vec<Value>, usize) {
    let anns = rationale::corpus::DataDir::new(data)
        .annotations(split)
        .unwrap();
    let docs = rationale::corpus::DataDir::new(data).documents().unwrap();
    let mut lines = Vec::new();
    let mut skipped = 0;
    'ann: for a in &anns {
        let mut rationales = Vec::new();
        let mut docids: Vec<&str> = a.all_evidence().map(|e| e.docid.as_str()).collect();
        docids.sort();
        docids.dedup();
        // Posts without rationale (e.g. HateXplain's normal posts): their own document.
        let own = a.annotation_id.as_text();
        if docids.is_empty() && docs.shape(&own).is_ok() {
            docids.push(&own);
        }
        for d in docids {
            let Ok(shape) = docs.shape(d) else {
                skipped += 1;
                continue 'ann;
            };
            let spans: Vec<(i64, i64)> = a
                .all_evidence()
                .filter(|e| e.docid == d)
                .map(|e| (e.start_token, e.end_token))
                .collect();
            let merged = rationale::metrics::spans::token_intervals(&spans);
            let mut soft = vec![0.0; shape.tokens];
            for &(s, e) in &merged {
                for t in s..e {
                    soft[t as usize] = 1.0;
                }
            }
            let hard: Vec<Value> = merged
                .iter()
                .map(|(s, e)| json!({"start_token": s, "end_token": e}))
                .collect();
            rationales.push(json!({"docid": d, "hard_rationale_predictions": hard, "soft_rationale_predictions": soft}));
        }
        let label = &a.classification;
        lines.push(
            json!({"annotation_id": a.annotation_id, "rationales": rationales,
            "classification": label, "classification_scores": {label.clone(): 1.0}}),
        );
    }
    (lines, skipped)
}

#[test]
fn real_eraser_splits_perfect_predictions_score_one() {
    let Some(shared) = shared_data() else {
        println!("skipped: ../shared/data not present");
        return;
    };
    for name in ["movies", "multirc", "fever", "boolq"] {
        let data = shared.join("eraser").join(name);
        let (preds, skipped) = perfect_predictions(&data, "test");
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("preds.jsonl");
        std::fs::write(
            &path,
            preds
                .iter()
                .map(|p| p.to_string() + "\n")
                .collect::<String>(),
        )
        .unwrap();
        let options = ScoreOptions {
            allow_missing: true,
            ..ScoreOptions::default()
        };
        let eval = run(&data, "test", &path, &options);
        let s = scores(&eval);
        let c = s.classification_scores.as_ref().unwrap();
        assert_eq!(c.accuracy, 1.0, "{name}");
        let auprc = s.token_soft_metrics.unwrap().auprc;
        assert_eq!(auprc, 1.0, "{name}");
        let t = s.token_prf.unwrap();
        if skipped == 0 {
            assert_eq!(t.micro.f1, 1.0, "{name}");
            assert_eq!(t.macro_avg.f1, 1.0, "{name}");
        } else {
            // FEVER: annotations whose documents are missing upstream stay unpredicted.
            assert_eq!(t.micro.p, 1.0, "{name}");
            assert!(eval
                .problems
                .iter()
                .any(|p| p.what.contains("no results line")));
        }
        println!(
            "{name}: {} lines, {skipped} annotations skipped for missing docs",
            preds.len()
        );
    }
}

// ---------- property tests on random small datasets ----------

#[derive(Debug, Clone)]
struct Case {
    docs: Vec<usize>,
    gold: Vec<Vec<(i64, i64)>>,
    pred: Vec<Vec<(i64, i64)>>,
    soft: Vec<Vec<f64>>,
}

fn spans_in(n: usize) -> impl Strategy<Value = Vec<(i64, i64)>> {
    prop::collection::vec((0..n as i64, 1..6i64), 0..4).prop_map(move |v| {
        // Disjoint by construction: sort and cut overlaps.
        let mut v: Vec<(i64, i64)> = v
            .into_iter()
            .map(|(s, l)| (s, (s + l).min(n as i64)))
            .collect();
        v.sort();
        let mut out: Vec<(i64, i64)> = Vec::new();
        for (s, e) in v {
            let s = out.last().map_or(s, |l| s.max(l.1));
            if e > s {
                out.push((s, e));
            }
        }
        out
    })
}

fn case() -> impl Strategy<Value = Case> {
    prop::collection::vec(3usize..25, 1..6).prop_flat_map(|docs| {
        let gold = docs.iter().map(|&n| spans_in(n)).collect::<Vec<_>>();
        let pred = docs.iter().map(|&n| spans_in(n)).collect::<Vec<_>>();
        let soft = docs
            .iter()
            .map(|&n| {
                prop::collection::vec(
                    prop::sample::select(vec![0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]),
                    n,
                )
            })
            .collect::<Vec<_>>();
        (Just(docs), gold, pred, soft).prop_map(|(docs, gold, pred, soft)| Case {
            docs,
            gold,
            pred,
            soft,
        })
    })
}

fn write_case(dir: &Path, c: &Case, perfect: bool, order: &[usize]) {
    let docs: Vec<(String, String)> = c
        .docs
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            (
                format!("d{i}"),
                (0..n)
                    .map(|t| format!("t{t}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        })
        .collect();
    let anns: Vec<Value> = c
        .gold
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let ev: Vec<Value> = g.iter().map(|(s, e)| json!([{"docid": format!("d{i}"), "start_token": s, "end_token": e, "start_sentence": 0, "end_sentence": 1, "text": ""}])).collect();
            json!({"annotation_id": format!("a{i}"), "classification": if i % 2 == 0 { "POS" } else { "NEG" }, "query": "", "query_type": null, "evidences": ev})
        })
        .collect();
    let preds: Vec<Value> = order
        .iter()
        .map(|&i| {
            let spans = if perfect { &c.gold[i] } else { &c.pred[i] };
            let soft: Vec<f64> = if perfect {
                (0..c.docs[i] as i64).map(|t| if c.gold[i].iter().any(|&(s, e)| s <= t && t < e) { 1.0 } else { 0.0 }).collect()
            } else {
                c.soft[i].clone()
            };
            let hard: Vec<Value> = spans.iter().map(|(s, e)| json!({"start_token": s, "end_token": e})).collect();
            let label = if i % 2 == 0 { "POS" } else { "NEG" };
            json!({"annotation_id": format!("a{i}"), "rationales": [{"docid": format!("d{i}"), "hard_rationale_predictions": hard, "soft_rationale_predictions": soft}],
                   "classification": label, "classification_scores": {"POS": 0.6, "NEG": 0.4},
                   "comprehensiveness_classification_scores": {"POS": 0.3, "NEG": 0.7},
                   "sufficiency_classification_scores": {"POS": 0.5, "NEG": 0.5}})
        })
        .collect();
    write_dataset(dir, &docs, &anns, &preds);
}

fn leaves(v: &Value, out: &mut Vec<f64>) {
    match v {
        Value::Object(m) => m.values().for_each(|x| leaves(x, out)),
        Value::Array(a) => a.iter().for_each(|x| leaves(x, out)),
        Value::Number(n) => out.push(n.as_f64().unwrap()),
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn perfect_predictions_score_one(c in case()) {
        prop_assume!(c.gold.iter().all(|g| !g.is_empty()));
        let tmp = tempfile::tempdir().unwrap();
        let order: Vec<usize> = (0..c.docs.len()).collect();
        write_case(tmp.path(), &c, true, &order);
        let eval = run(tmp.path(), "test", &tmp.path().join("preds.jsonl"), &ScoreOptions::default());
        let s = scores(&eval);
        prop_assert_eq!(s.token_prf.unwrap().macro_avg.f1, 1.0);
        prop_assert_eq!(s.token_prf.unwrap().micro.f1, 1.0);
        prop_assert_eq!(s.iou_scores.as_ref().unwrap()[0].macro_avg.f1, 1.0);
        prop_assert_eq!(s.rationale_prf.unwrap().micro.f1, 1.0);
        prop_assert_eq!(s.token_soft_metrics.unwrap().auprc, 1.0);
        prop_assert_eq!(s.classification_scores.as_ref().unwrap().accuracy, 1.0);
    }

    #[test]
    fn scores_stay_in_range_and_ignore_line_order(c in case(), seed in any::<u64>()) {
        prop_assume!(c.pred.iter().any(|p| !p.is_empty()));
        let tmp = tempfile::tempdir().unwrap();
        let mut order: Vec<usize> = (0..c.docs.len()).collect();
        write_case(tmp.path(), &c, false, &order);
        let options = ScoreOptions { no_gold_auprc: NoGoldAuprc::Skip, iou_thresholds: vec![0.25, 0.5, 1.0], ..ScoreOptions::default() };
        let a = run(tmp.path(), "test", &tmp.path().join("preds.jsonl"), &options);
        let sa = scores(&a);
        // Shuffle lines deterministically.
        let n = order.len();
        for i in (1..n).rev() {
            order.swap(i, (seed as usize ^ i.wrapping_mul(2654435761)) % (i + 1));
        }
        let tmp2 = tempfile::tempdir().unwrap();
        write_case(tmp2.path(), &c, false, &order);
        let b = run(tmp2.path(), "test", &tmp2.path().join("preds.jsonl"), &options);
        let (ja, jb) = (score_file(sa).to_python_string(), score_file(scores(&b)).to_python_string());
        let mut diffs = Vec::new();
        compare(&read_score_file(&ja), &read_score_file(&jb), "", 1e-12, &mut diffs);
        prop_assert!(diffs.is_empty(), "{:?}", diffs);
        // Precision, recall and F1 of hard rationales lie in [0, 1] (IOU recall may not: the
        // reference lets several predictions match one gold span).
        for m in [sa.token_prf.unwrap(), sa.rationale_prf.unwrap()] {
            for x in [m.micro.p, m.micro.r, m.micro.f1, m.macro_avg.p, m.macro_avg.r, m.macro_avg.f1] {
                prop_assert!((0.0..=1.0).contains(&x), "{}", x);
            }
        }
        let soft = sa.token_soft_metrics.unwrap();
        for x in [soft.auprc, soft.average_precision, soft.roc_auc] {
            prop_assert!(x.is_nan() || (0.0..=1.0).contains(&x), "{}", x);
        }
        let mut all = Vec::new();
        leaves(&read_score_file(&ja), &mut all);
        prop_assert!(all.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn one_to_one_iou_recall_never_exceeds_one(c in case()) {
        let tmp = tempfile::tempdir().unwrap();
        let order: Vec<usize> = (0..c.docs.len()).collect();
        write_case(tmp.path(), &c, false, &order);
        let options = ScoreOptions { one_to_one_iou: true, no_gold_auprc: NoGoldAuprc::Skip, ..ScoreOptions::default() };
        let eval = run(tmp.path(), "test", &tmp.path().join("preds.jsonl"), &options);
        if let Some(iou) = scores(&eval).iou_scores.as_ref() {
            prop_assert!(iou[0].micro.r <= 1.0 && iou[0].macro_avg.r <= 1.0);
        }
    }
}

/// Inputs that once crashed a fuzz target (fuzz/): each must now give a result or an error.
#[test]
fn fuzz_regressions_do_not_panic() {
    let dir = fixtures().join("fuzz_regressions");
    let tiny = fixtures().join("eraser_tiny");
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let bytes = std::fs::read(entry.path()).unwrap();
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let _ = rationale::corpus::Prediction::parse(text);
        }
        let _ = evaluate(
            &tiny,
            "test",
            &entry.path(),
            &ScoreOptions::default(),
            &mut |_| {},
        );
    }
}

/// HateXplain and ToxicSpans converted from ../shared/data: counts as the sources document them,
/// and the converted data scores perfect predictions as 1.
#[test]
fn converted_hatexplain_and_toxic_spans_score() {
    let Some(shared) = shared_data() else {
        println!("skipped: ../shared/data not present");
        return;
    };
    use rationale::corpus::convert::{convert_hatexplain, convert_toxic_spans};
    let tmp = tempfile::tempdir().unwrap();
    let hx = convert_hatexplain(&shared.join("hatexplain")).unwrap();
    let counts: Vec<(String, usize, usize)> = hx
        .splits
        .iter()
        .map(|(s, a)| {
            (
                s.clone(),
                a.len(),
                a.iter().filter(|a| !a.evidences.is_empty()).count(),
            )
        })
        .collect();
    // SOURCE.md: val 1,922 (1,141 with 2–3 masks), test 1,924 (1,142); train 15,339 unique texts.
    assert_eq!(
        counts,
        vec![
            ("train".into(), 15339, 0),
            ("val".into(), 1922, 1141),
            ("test".into(), 1924, 1142)
        ]
    );
    let ts = convert_toxic_spans(&shared.join("toxic_spans")).unwrap();
    let sizes: Vec<usize> = ts.splits.iter().map(|(_, a)| a.len()).collect();
    assert_eq!(sizes, vec![7939, 690, 2000]);
    for (name, converted) in [("hatexplain", hx), ("toxic_spans", ts)] {
        let dir = tmp.path().join(name);
        converted.write(&dir).unwrap();
        let (preds, skipped) = perfect_predictions(&dir, "test");
        assert_eq!(skipped, 0);
        let path = dir.join("preds.jsonl");
        std::fs::write(
            &path,
            preds
                .iter()
                .map(|p| p.to_string() + "\n")
                .collect::<String>(),
        )
        .unwrap();
        let options = ScoreOptions {
            no_gold_auprc: NoGoldAuprc::Skip,
            ..ScoreOptions::default()
        };
        let eval = run(&dir, "test", &path, &options);
        let s = scores(&eval);
        assert_eq!(s.token_prf.unwrap().macro_avg.f1, 1.0, "{name}");
        assert_eq!(
            s.classification_scores.as_ref().unwrap().accuracy,
            1.0,
            "{name}"
        );
    }
    // Converting into a folder that is not empty is refused.
    let again = convert_toxic_spans(&shared.join("toxic_spans")).unwrap();
    assert!(again.write(&tmp.path().join("toxic_spans")).is_err());
}
