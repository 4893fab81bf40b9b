//! `rationale run` end to end on the bundled Movies data, with tiny settings.

mod common;

use common::rationale;
use std::path::{Path, PathBuf};
use std::process::Output;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn movies() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("datasets/movies")
        .display()
        .to_string()
}

/// Flags that make the job take seconds.
const TINY: [&str; 10] = [
    "--train-limit",
    "24",
    "--epochs",
    "1",
    "--limit",
    "6",
    "--max-len",
    "64",
    "--figures",
    "2",
];

const METHODS: [&str; 6] = [
    "select",
    "gradient",
    "grad-input",
    "integrated-gradients",
    "attention",
    "random",
];

fn tiny_run(out: &Path, extra: &[&str]) -> Output {
    let data = movies();
    let out = out.display().to_string();
    let mut args = vec!["run", "--data-dir", &data, "--out", &out, "--quiet"];
    args.extend(TINY);
    args.extend(extra);
    rationale(&args)
}

fn no_partial_beside(out: &Path) {
    let parent = out.parent().unwrap();
    let leftovers: Vec<PathBuf> = std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "staging folders left: {leftovers:?}");
}

#[test]
fn run_writes_every_output_and_compares_every_method() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let o = tiny_run(&out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = String::from_utf8(o.stdout).unwrap();
    let header = table.lines().next().unwrap();
    for col in [
        "Perf", "IOU F1", "Token F1", "AUPRC", "Comp", "Suff", "AOPC",
    ] {
        assert!(header.contains(col), "column {col} in {header}");
    }
    for m in METHODS {
        assert!(
            table.lines().any(|l| l.starts_with(&format!("| {m} |"))),
            "row {m} in\n{table}"
        );
        let results = std::fs::read_to_string(out.join(format!("results/{m}.jsonl"))).unwrap();
        assert_eq!(results.lines().count(), 6, "{m}: one record per annotation");
        for line in results.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(v["comprehensiveness_classification_scores"].is_object());
        }
        let scores: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join(format!("scores/{m}.json"))).unwrap(),
        )
        .unwrap();
        let acc = scores["classification_scores"]["accuracy"]
            .as_f64()
            .unwrap();
        assert!((0.0..=1.0).contains(&acc));
        let parquet = std::fs::read(out.join(format!("scores/{m}.parquet"))).unwrap();
        assert_eq!(&parquet[..4], b"PAR1");
        assert_eq!(&parquet[parquet.len() - 4..], b"PAR1");
    }
    let figures: Vec<String> = std::fs::read_dir(out.join("figures"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(figures.contains(&"aopc_comprehensiveness.svg".to_string()));
    assert!(figures.contains(&"aopc_sufficiency.svg".to_string()));
    let heatmaps: Vec<&String> = figures
        .iter()
        .filter(|f| f.starts_with("heatmap_"))
        .collect();
    assert_eq!(heatmaps.len(), 2, "{figures:?}");
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    for f in &figures {
        assert!(
            html.contains(&format!("<img src=\"figures/{f}\"")),
            "{f} in index.html"
        );
    }
    for m in METHODS {
        assert!(html.contains(&format!("<td>{m}</td>")), "{m} in index.html");
    }
    let svg = std::fs::read_to_string(out.join("figures").join(heatmaps[0])).unwrap();
    assert!(svg.contains("<svg") && METHODS.iter().all(|m| svg.contains(m)));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary.as_array().unwrap().len(), METHODS.len());
    assert_eq!(
        std::fs::read_to_string(out.join("table.md")).unwrap(),
        table
    );
    no_partial_beside(&out);

    // run.json reproduces the job: rerun from it into the same folder (replacing it) as JSON.
    let config = out.join("run.json");
    let copy = tmp.path().join("run.json");
    std::fs::copy(&config, &copy).unwrap();
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&copy).unwrap()).unwrap();
    assert_eq!(cfg["limit"], 6);
    assert_eq!(cfg["classifier"]["epochs"], 1);
    let o = rationale(&[
        "run",
        "--config",
        &copy.display().to_string(),
        "--out",
        &out.display().to_string(),
        "--quiet",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let again: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(rows, again);
    assert_eq!(rows, summary, "same configuration and seed, same numbers");
}

#[test]
fn run_never_replaces_a_folder_it_did_not_write() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("mine");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "keep me").unwrap();
    let o = tiny_run(&out, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("is not the output of `rationale run`"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).unwrap(),
        "keep me"
    );
    no_partial_beside(&out);
}

#[test]
fn a_failing_run_leaves_no_output() {
    let tmp = tempfile::tempdir().unwrap();
    // A data directory without val.jsonl.
    let data = tmp.path().join("data");
    std::fs::create_dir_all(data.join("docs")).unwrap();
    std::fs::copy(
        Path::new(&movies()).join("test.jsonl"),
        data.join("train.jsonl"),
    )
    .unwrap();
    let out = tmp.path().join("out");
    let o = rationale(&[
        "run",
        "--data-dir",
        &data.display().to_string(),
        "--out",
        &out.display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("val.jsonl is missing"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
    no_partial_beside(&out);

    // Documents missing: the failure comes mid-job, after the staging folder exists.
    std::fs::copy(data.join("train.jsonl"), data.join("val.jsonl")).unwrap();
    std::fs::copy(data.join("train.jsonl"), data.join("test.jsonl")).unwrap();
    let o = rationale(&[
        "run",
        "--data-dir",
        &data.display().to_string(),
        "--out",
        &out.display().to_string(),
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("training the classifier"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
    no_partial_beside(&out);
}

#[test]
fn run_config_errors_name_the_file_and_place() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out").display().to_string();
    let cases = [
        ("empty.json", "", "empty file"),
        (
            "broken.json",
            "{\"split\": \"test\",\n  \"epochs\": }",
            "broken.json:2:",
        ),
        ("unknown.json", "{\"epoch\": 3}", "unknown field `epoch`"),
        ("methods.json", "{\"methods\": [\"select\"]}", "always runs"),
        ("nan.json", "{\"select\": {\"noise\": -1}}", "select:"),
    ];
    for (name, body, expect) in cases {
        let path = tmp.path().join(name);
        std::fs::write(&path, body).unwrap();
        let o = rationale(&[
            "run",
            "--config",
            &path.display().to_string(),
            "--out",
            &out,
        ]);
        assert_eq!(o.status.code(), Some(2), "{name}");
        assert!(stderr(&o).contains(expect), "{name}: {}", stderr(&o));
    }
    let o = rationale(&["run", "--config", "/no/such/run.json", "--out", &out]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/no/such/run.json"), "{}", stderr(&o));
}

const TABLE_BEGIN: &str = "<!-- main-job table: begin -->\n";
const TABLE_END: &str = "<!-- main-job table: end -->";

/// The README's table is what the main job prints: the README's first command, `rationale run`
/// with every default, here on one thread in the `ci` profile (the README's numbers come from a
/// 2-thread release build, so this also checks that neither changes a digit). Minutes long, so
/// it runs on request, as `.ci/run` does: `cargo test --profile ci --test run -- --ignored`.
/// With `RATIONALE_UPDATE_README=1` it rewrites the README's table instead of failing.
#[test]
#[ignore = "runs the whole main job (minutes); .ci/run runs it"]
fn readme_table_is_the_main_jobs_output() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("rationale-run");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_rationale"))
        .current_dir(root)
        .args(["run", "--out", &out.display().to_string(), "--quiet"])
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .expect("binary runs");
    assert!(o.status.success(), "{}", stderr(&o));
    let table = String::from_utf8(o.stdout).unwrap();
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    for row in table.lines().skip(2) {
        let method = row.split('|').nth(1).unwrap().trim();
        assert!(
            html.contains(&format!("<td>{method}</td>")),
            "{method} in index.html"
        );
    }
    let readme_path = root.join("README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let start = readme.find(TABLE_BEGIN).expect("README marks the table") + TABLE_BEGIN.len();
    let end = start
        + readme[start..]
            .find(TABLE_END)
            .expect("README ends the table");
    if readme[start..end] == table {
        return;
    }
    if std::env::var_os("RATIONALE_UPDATE_README").is_some() {
        let updated = format!("{}{table}{}", &readme[..start], &readme[end..]);
        std::fs::write(&readme_path, updated).unwrap();
        return;
    }
    panic!(
        "README.md's table is not what `rationale run` prints.\nREADME:\n{}\nrun:\n{table}\n\
         Rewrite it with RATIONALE_UPDATE_README=1 cargo test --profile ci --test run -- \
         --ignored readme_table",
        &readme[start..end]
    );
}
