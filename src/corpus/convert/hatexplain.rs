//! HateXplain (Mathew et al., AAAI 2021) → ERASER.
//!
//! Reads the HuggingFace export of the val/test splits (`hf_format/hatexplain_{validation,test}.json`:
//! 3 annotator labels and targets, 0/1 rationale masks, `post_tokens`), and, when present, the
//! train split's labels (`train_labels_only/training_data.csv`) with its tokens from
//! `eraser_format/docs.tar.gz`. Each annotator mask becomes one evidence group (gold = their
//! union, as HateXplain evaluates); normal posts have no evidence. Train has labels only — the
//! public copies lack its masks — so its annotations have `evidences: []`.
//! `targets.jsonl` keeps the 3 labels and targets per post, and the communities chosen by at
//! least 2 of 3 annotators, for the bias metrics.

use super::{
    annotation, check_docid, input_error, io_error, mask_to_evidence, ConvertError, Converted,
};
use serde::Deserialize;
use std::collections::HashMap;
use std::io::{BufRead, Read};
use std::path::Path;

/// HateXplain's label names in the HuggingFace ClassLabel order.
const LABELS: [&str; 3] = ["hatespeech", "normal", "offensive"];
const QUERY: &str = "Is this post hate speech, offensive or normal?";

#[derive(Deserialize)]
struct Annotators {
    label: Vec<usize>,
    #[serde(default)]
    target: Vec<Vec<String>>,
}

#[derive(Deserialize)]
struct Post {
    id: String,
    annotators: Annotators,
    rationales: Vec<Vec<u8>>,
    post_tokens: Vec<String>,
}

/// The label given by at least 2 of the annotators.
fn majority(labels: &[usize]) -> Option<usize> {
    (0..LABELS.len()).find(|l| labels.iter().filter(|x| *x == l).count() * 2 > labels.len())
}

/// Communities named more than once among the annotators' targets (HateXplain's bias
/// protocol counts raw occurrences), sorted.
fn communities(targets: &[Vec<String>]) -> Vec<String> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for t in targets.iter().flatten() {
        *counts.entry(t.as_str()).or_default() += 1;
    }
    let mut out: Vec<String> = counts
        .into_iter()
        .filter(|(_, n)| *n >= 2)
        .map(|(s, _)| s.to_owned())
        .collect();
    out.sort();
    out
}

fn python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn read_split(
    path: &Path,
    split: &str,
    out: &mut Converted,
    meta: &mut Vec<serde_json::Value>,
) -> Result<Vec<crate::corpus::Annotation>, ConvertError> {
    let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    let mut anns = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| io_error(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let at = |m: String| input_error(path, format!("line {}: {m}", i + 1));
        let post: Post =
            serde_json::from_str(&line).map_err(|e| at(format!("not a HateXplain post: {e}")))?;
        check_docid(path, &post.id)?;
        if let Some(t) = post
            .post_tokens
            .iter()
            .find(|t| t.is_empty() || t.chars().any(python_space))
        {
            return Err(at(format!(
                "post {}: token {t:?} is empty or contains whitespace",
                post.id
            )));
        }
        let label = majority(&post.annotators.label).ok_or_else(|| {
            at(format!(
                "post {}: labels {:?} have no majority",
                post.id, post.annotators.label
            ))
        })?;
        let n = post.post_tokens.len();
        let sentence_of = vec![0; n];
        let mut groups = Vec::new();
        for (k, mask) in post.rationales.iter().enumerate() {
            if mask.len() != n {
                return Err(at(format!(
                    "post {}: rationale {k} has {} flags for {n} tokens",
                    post.id,
                    mask.len()
                )));
            }
            let flags: Vec<bool> = mask.iter().map(|&m| m == 1).collect();
            groups.push(mask_to_evidence(
                &post.id,
                &post.post_tokens,
                &sentence_of,
                &flags,
            ));
        }
        anns.push(annotation(&post.id, LABELS[label], QUERY, groups));
        out.docs.push((post.id.clone(), post.post_tokens.join(" ")));
        meta.push(serde_json::json!({
            "annotation_id": post.id,
            "split": split,
            "labels": post.annotators.label.iter().map(|&l| LABELS.get(l).copied().unwrap_or("?")).collect::<Vec<_>>(),
            "targets": post.annotators.target,
            "communities": communities(&post.annotators.target),
        }));
    }
    Ok(anns)
}

/// The text the train CSV holds for a post's tokens.
fn csv_text(tokens: &str) -> String {
    tokens.replace(" .", ".").replace(" ,", ",")
}

fn read_train(
    source: &Path,
    out: &mut Converted,
) -> Result<Option<Vec<crate::corpus::Annotation>>, ConvertError> {
    let csv_path = source.join("train_labels_only/training_data.csv");
    let tar_path = source.join("eraser_format/docs.tar.gz");
    let ids_path = source.join("post_id_divisions.json");
    if !csv_path.is_file() || !tar_path.is_file() || !ids_path.is_file() {
        out.notes.push("train split skipped: needs train_labels_only/training_data.csv, eraser_format/docs.tar.gz and post_id_divisions.json".into());
        return Ok(None);
    }
    let divisions: HashMap<String, Vec<String>> =
        serde_json::from_slice(&std::fs::read(&ids_path).map_err(|e| io_error(&ids_path, e))?)
            .map_err(|e| input_error(&ids_path, format!("expected {{split: [ids]}}: {e}")))?;
    let train_ids: std::collections::HashSet<&str> = divisions
        .get("train")
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    // Train tokens: the ERASER docs archive.
    let mut docs: HashMap<String, String> = HashMap::new();
    let file = std::fs::File::open(&tar_path).map_err(|e| io_error(&tar_path, e))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in archive.entries().map_err(|e| io_error(&tar_path, e))? {
        let mut entry = entry.map_err(|e| io_error(&tar_path, e))?;
        let name = entry
            .path()
            .map_err(|e| io_error(&tar_path, e))?
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        let Some(id) = name.filter(|n| train_ids.contains(n.as_str())) else {
            continue;
        };
        let mut text = String::new();
        entry
            .read_to_string(&mut text)
            .map_err(|e| io_error(&tar_path, e))?;
        docs.insert(id, text.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    let mut by_text: HashMap<String, Vec<&str>> = HashMap::new();
    for (id, text) in &docs {
        by_text.entry(csv_text(text)).or_default().push(id);
    }
    let mut reader =
        csv::Reader::from_path(&csv_path).map_err(|e| input_error(&csv_path, e.to_string()))?;
    let (mut anns, mut ambiguous, mut unmatched) = (Vec::new(), 0, 0);
    let mut kept_docs = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| input_error(&csv_path, e.to_string()))?;
        let (text, label) = (record.get(0).unwrap_or(""), record.get(1).unwrap_or(""));
        let label: usize = label
            .trim()
            .parse()
            .ok()
            .filter(|l| *l < LABELS.len())
            .ok_or_else(|| {
                input_error(
                    &csv_path,
                    format!("row {}: majority_label {label:?} is not 0, 1 or 2", i + 2),
                )
            })?;
        match by_text.get(text).map(Vec::as_slice) {
            Some([id]) => {
                anns.push(annotation(id, LABELS[label], QUERY, Vec::new()));
                kept_docs.push((id.to_string(), docs[*id].clone()));
            }
            Some(_) => ambiguous += 1,
            None => unmatched += 1,
        }
    }
    anns.sort_by(|a, b| a.annotation_id.cmp(&b.annotation_id));
    anns.dedup_by(|a, b| a.annotation_id == b.annotation_id);
    out.docs.extend(kept_docs);
    out.notes.push(format!(
        "train: {} posts with labels only (no rationale masks in the public copies); {ambiguous} rows skipped because their text matches several train posts, {unmatched} rows matched none",
        anns.len()
    ));
    Ok(Some(anns))
}

/// Converts the HateXplain folder `source` (the layout of the project's shared data).
pub fn convert_hatexplain(source: &Path) -> Result<Converted, ConvertError> {
    let mut out = Converted::default();
    let mut meta = Vec::new();
    if let Some(train) = read_train(source, &mut out)? {
        out.splits.push(("train".into(), train));
    }
    for (split, file) in [
        ("val", "hatexplain_validation.json"),
        ("test", "hatexplain_test.json"),
    ] {
        let path = source.join("hf_format").join(file);
        let anns = read_split(&path, split, &mut out, &mut meta)?;
        out.notes.push(format!(
            "{split}: {} posts, {} with rationales",
            anns.len(),
            anns.iter().filter(|a| !a.evidences.is_empty()).count()
        ));
        out.splits.push((split.into(), anns));
    }
    out.docs.sort();
    out.docs.dedup_by(|a, b| a.0 == b.0);
    out.extras.push(("targets.jsonl".into(), meta));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn communities_need_two_of_three() {
        let t = vec![
            vec!["Women".to_string(), "Islam".into()],
            vec!["Islam".into()],
            vec!["None".into(), "Women".into()],
        ];
        assert_eq!(communities(&t), vec!["Islam".to_string(), "Women".into()]);
        assert_eq!(majority(&[0, 2, 2]), Some(2));
        assert_eq!(majority(&[0, 1, 2]), None);
    }
}
