//! ToxicSpans (Pavlopoulos et al., SemEval 2021 / ACL 2022) → ERASER.
//!
//! Every rater's character spans (`data/spans.csv` → `annotations.csv` → `comments.csv`) become
//! a token mask over the comment's whitespace tokens (a token is marked when any of its
//! characters is), and each rater with a span becomes one evidence group. Documents keep the
//! comment's lines as sentences. Splits follow the SemEval 2021 files (train, trial → val, test),
//! matched to comments by their exact text. Spans with offsets outside the text are dropped
//! and counted.

use super::{annotation, input_error, mask_to_evidence, ConvertError, Converted};
use std::collections::HashMap;
use std::path::Path;

const LABEL: &str = "toxic";
const QUERY: &str = "Which parts of this comment make it toxic?";

fn python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// A comment's tokens with their character ranges and sentence (line) indices.
struct Tokenized {
    tokens: Vec<String>,
    chars: Vec<(usize, usize)>,
    sentence_of: Vec<usize>,
    text: String,
}

fn tokenize(text: &str) -> Tokenized {
    let (mut tokens, mut chars, mut sentence_of) = (Vec::new(), Vec::new(), Vec::new());
    let mut sentence = 0;
    let mut line_has_token = false;
    let mut current: Option<(usize, String)> = None;
    let mut flush = |cur: &mut Option<(usize, String)>,
                     end: usize,
                     sentence: usize,
                     tokens: &mut Vec<String>| {
        if let Some((start, tok)) = cur.take() {
            tokens.push(tok);
            chars.push((start, end));
            sentence_of.push(sentence);
        }
    };
    let mut n = 0;
    for (i, c) in text.chars().enumerate() {
        n = i + 1;
        if c == '\n' || c == '\r' {
            flush(&mut current, i, sentence, &mut tokens);
            if line_has_token || current.is_some() {
                sentence += 1;
            }
            line_has_token = false;
        } else if python_space(c) {
            flush(&mut current, i, sentence, &mut tokens);
        } else {
            line_has_token = true;
            current.get_or_insert_with(|| (i, String::new())).1.push(c);
        }
    }
    flush(&mut current, n, sentence, &mut tokens);
    let mut doc = String::new();
    for (i, t) in tokens.iter().enumerate() {
        if i > 0 {
            doc.push(if sentence_of[i] != sentence_of[i - 1] {
                '\n'
            } else {
                ' '
            });
        }
        doc.push_str(t);
    }
    Tokenized {
        tokens,
        chars,
        sentence_of,
        text: doc,
    }
}

fn read_csv(path: &Path) -> Result<Vec<csv::StringRecord>, ConvertError> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| input_error(path, e.to_string()))?;
    reader
        .records()
        .enumerate()
        .map(|(i, r)| r.map_err(|e| input_error(path, format!("row {}: {e}", i + 2))))
        .collect()
}

fn field<'a>(
    path: &Path,
    row: usize,
    record: &'a csv::StringRecord,
    i: usize,
    name: &str,
) -> Result<&'a str, ConvertError> {
    record
        .get(i)
        .ok_or_else(|| input_error(path, format!("row {}: no {name} column", row + 2)))
}

fn number(path: &Path, row: usize, s: &str, name: &str) -> Result<i64, ConvertError> {
    s.trim().parse().map_err(|_| {
        input_error(
            path,
            format!("row {}: {name} {s:?} is not an integer", row + 2),
        )
    })
}

/// Converts the ToxicSpans folder `source` (`data/` and `SemEval2021/`).
pub fn convert_toxic_spans(source: &Path) -> Result<Converted, ConvertError> {
    let data = source.join("data");
    let comments_path = data.join("comments.csv");
    let mut comments: HashMap<String, String> = HashMap::new();
    let mut by_text: HashMap<String, Vec<String>> = HashMap::new();
    for (i, r) in read_csv(&comments_path)?.iter().enumerate() {
        let id = field(&comments_path, i, r, 0, "comment_id")?.to_owned();
        let text = field(&comments_path, i, r, 1, "comment_text")?.to_owned();
        by_text.entry(text.clone()).or_default().push(id.clone());
        comments.insert(id, text);
    }
    let ann_path = data.join("annotations.csv");
    let mut rater_comment: HashMap<String, String> = HashMap::new();
    let mut raters: HashMap<String, Vec<String>> = HashMap::new();
    for (i, r) in read_csv(&ann_path)?.iter().enumerate() {
        let ann = field(&ann_path, i, r, 0, "annotation")?.to_owned();
        let comment = field(&ann_path, i, r, 1, "comment_id")?.to_owned();
        raters.entry(comment.clone()).or_default().push(ann.clone());
        rater_comment.insert(ann, comment);
    }
    let spans_path = data.join("spans.csv");
    let mut spans: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
    let mut invalid = 0;
    for (i, r) in read_csv(&spans_path)?.iter().enumerate() {
        let ann = field(&spans_path, i, r, 0, "annotation")?;
        let start = number(
            &spans_path,
            i,
            field(&spans_path, i, r, 2, "start")?,
            "start",
        )?;
        let end = number(&spans_path, i, field(&spans_path, i, r, 3, "end")?, "end")?;
        let len = rater_comment
            .get(ann)
            .and_then(|c| comments.get(c))
            .map(|t| t.chars().count() as i64);
        match len {
            Some(n) if 0 <= start && start < end && end <= n => spans
                .entry(ann.to_owned())
                .or_default()
                .push((start as usize, end as usize)),
            _ => invalid += 1,
        }
    }
    let mut out = Converted::default();
    out.notes.push(format!(
        "{invalid} spans dropped: offsets outside their comment or empty"
    ));
    let mut meta = Vec::new();
    for (split, file) in [
        ("train", "tsd_train.csv"),
        ("val", "tsd_trial.csv"),
        ("test", "tsd_test.csv"),
    ] {
        let path = source.join("SemEval2021").join(file);
        let mut anns = Vec::new();
        let mut ambiguous = 0;
        for (i, r) in read_csv(&path)?.iter().enumerate() {
            let text = field(&path, i, r, 1, "text")?;
            let id = match by_text.get(text).map(Vec::as_slice) {
                Some([id]) => id,
                Some([id, ..]) => {
                    ambiguous += 1;
                    id
                }
                _ => {
                    return Err(input_error(
                        &path,
                        format!(
                            "row {}: text not found in {}",
                            i + 2,
                            comments_path.display()
                        ),
                    ))
                }
            };
            let tok = tokenize(&comments[id]);
            let rater_ids = raters.get(id).cloned().unwrap_or_default();
            let groups: Vec<_> = rater_ids
                .iter()
                .map(|a| {
                    let marked = spans.get(a).map(Vec::as_slice).unwrap_or(&[]);
                    let mask: Vec<bool> = tok
                        .chars
                        .iter()
                        .map(|&(s, e)| marked.iter().any(|&(ms, me)| ms < e && s < me))
                        .collect();
                    mask_to_evidence(id, &tok.tokens, &tok.sentence_of, &mask)
                })
                .collect();
            meta.push(serde_json::json!({
                "annotation_id": id,
                "split": split,
                "raters": rater_ids.len(),
                "raters_with_spans": groups.iter().filter(|g| !g.is_empty()).count(),
            }));
            anns.push(annotation(id, LABEL, QUERY, groups));
            out.docs.push((id.clone(), tok.text));
        }
        out.notes.push(format!(
            "{split}: {} comments, {} with at least one rater span{}",
            anns.len(),
            anns.iter().filter(|a| !a.evidences.is_empty()).count(),
            if ambiguous > 0 {
                format!("; {ambiguous} texts occur in several comments (first id used)")
            } else {
                String::new()
            }
        ));
        out.splits.push((split.into(), anns));
    }
    out.docs.sort();
    out.docs.dedup_by(|a, b| a.0 == b.0);
    out.extras.push(("raters.jsonl".into(), meta));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::tokenize_docs_dir_text;

    #[test]
    fn tokens_keep_character_ranges_and_lines() {
        let t = tokenize("Héllo  wörld!\n\n\tsecond\u{a0}line ");
        assert_eq!(t.tokens, vec!["Héllo", "wörld!", "second", "line"]);
        assert_eq!(t.chars, vec![(0, 5), (7, 13), (16, 22), (23, 27)]);
        assert_eq!(t.sentence_of, vec![0, 0, 1, 1]);
        // The written document tokenises back to the same tokens, as the ERASER loader reads it.
        let back: Vec<String> = tokenize_docs_dir_text(&t.text).concat();
        assert_eq!(back, t.tokens);
    }
}
