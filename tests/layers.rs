//! The crate's layers only point down: core → models → pipeline → cli. A module may name
//! modules of its own layer or below, never above, and no import cycle joins top-level
//! modules. (`python3 ../shared/tools/layers.py src` checks the same from outside.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level modules by layer, lowest first.
const LAYERS: &[&[&str]] = &[
    &[
        "corpus", "metrics", "eval", "report", "figures", "io", "progress",
    ],
    &["models", "train", "explain", "select", "greedy"],
    &["pipeline"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The top-level modules a file names as `crate::NAME` or inside `use crate::{...}`
/// (comments and doc comments do not count).
fn named_modules(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            top_level_items(group)
        } else {
            vec![rest
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()
                .unwrap_or("")]
        };
        out.extend(
            names
                .into_iter()
                .filter(|n| !n.is_empty())
                .map(String::from),
        );
    }
    out
}

/// The first path segment of each comma-separated item of a `{...}` group (whose opening
/// brace is already consumed), up to its matching closing brace.
fn top_level_items(group: &str) -> Vec<&str> {
    let (mut depth, mut start, mut items) = (0usize, 0usize, Vec::new());
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..i]);
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items
        .into_iter()
        .map(|item| item.trim().split("::").next().unwrap_or(""))
        .collect()
}

#[test]
fn modules_name_only_their_own_layer_or_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut upward = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let top = top.trim_end_matches(".rs").to_string();
        let Some(from) = layer_of(&top) else {
            assert!(
                top == "lib" || top == "main",
                "{}: top-level module `{top}` is in no layer; add it to LAYERS",
                rel.display()
            );
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for named in named_modules(&text) {
            let Some(to) = layer_of(&named) else { continue };
            if named == top {
                continue;
            }
            if to > from {
                upward.push(format!("{} names `{named}`", rel.display()));
            }
            edges.entry(top.clone()).or_default().insert(named);
        }
    }
    assert!(upward.is_empty(), "upward imports: {upward:#?}");
    // Transitive closure: a module that reaches itself is on an import cycle.
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(m) = todo.pop() {
            for next in edges.get(&m).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let mutual: Vec<&String> = edges.keys().filter(|m| reach(m).contains(*m)).collect();
    assert!(mutual.is_empty(), "modules on an import cycle: {mutual:?}");
}

#[test]
fn the_scanner_sees_grouped_and_plain_paths() {
    let text = "use crate::corpus::{A, B};\nuse crate::{eval::X, models::{Y, Z}};\n\
                // crate::cli in a comment\nlet x = crate::io::write_atomic(p, b);";
    let got: Vec<String> = named_modules(text).into_iter().collect();
    assert_eq!(got, ["corpus", "eval", "io", "models"]);
}
