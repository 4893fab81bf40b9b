//! Annotated LAMBADA (Vafa et al. 2021): greedy rationales of each passage's final word against
//! the human rationales, as the authors' `rationalize_annotated_lambada.py` and
//! `evaluate_lambada.py` compute them.
//!
//! - Every sub-word of the final word is rationalized in turn, predicted from all tokens before
//!   it; the rationale is the union of those, restricted to the context (positions before the
//!   first target token).
//! - A context token belongs to the human rationale if `span_start < char_end ≤ span_end` for a
//!   human span (its character offsets from the tokenizer).
//! - **Length** = mean rationale size; **IOU** = |R∩H| / |R∪H| averaged over passages;
//!   **F1** = one F1 over the concatenated per-position indicators of all passages' contexts
//!   (micro-pooled token F1). Published, GPT-2 Medium: greedy 18.9 / 0.25 / 0.34.

use super::lm::{rationalize_sequence_batched, DEFAULT_MAX_TOKENS};
use super::{GreedyConfig, GreedyError};
use crate::models::gpt2::Gpt2;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One annotated passage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LambadaRow {
    /// Index into LAMBADA.
    #[serde(rename = "lambadaIndex", default)]
    pub lambada_index: i64,
    /// The passage, final word included.
    pub text: String,
    /// Human rationale spans `[start_char, end_char)`.
    pub rationale: Vec<(usize, usize)>,
}

/// Reads the JSON-lines file.
pub fn read_rows(path: &Path) -> Result<Vec<LambadaRow>, GreedyError> {
    let text = std::fs::read_to_string(path).map_err(|e| GreedyError::io(path, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| GreedyError::Invalid(format!("{}:{}: {e}", path.display(), i + 1)))
        })
        .collect()
}

/// The result for one passage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PassageResult {
    /// Index into LAMBADA.
    pub lambada_index: i64,
    /// Context tokens (before the final word).
    pub context_len: usize,
    /// Greedy rationale (ascending context positions).
    pub rationale: Vec<usize>,
    /// Human rationale (ascending context positions).
    pub human: Vec<usize>,
    /// Whether every sub-word's search reached the argmax.
    pub reached_argmax: bool,
    /// IOU of the two.
    pub iou: f64,
    /// Forward passes spent.
    pub forward_calls: u64,
}

/// Aggregate metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LambadaReport {
    /// Passages evaluated.
    pub n: usize,
    /// Mean rationale size (tokens).
    pub length: f64,
    /// Mean IOU.
    pub iou: f64,
    /// Micro-pooled token F1.
    pub f1: f64,
    /// Passages where some sub-word never reached the argmax.
    pub unreached: usize,
    /// Per-passage results.
    pub passages: Vec<PassageResult>,
}

/// Metrics from per-passage results.
pub fn aggregate(passages: Vec<PassageResult>) -> LambadaReport {
    let n = passages.len();
    let (mut tp, mut fp, mut fneg) = (0usize, 0usize, 0usize);
    for p in &passages {
        for i in 0..p.context_len {
            let (r, h) = (
                p.rationale.binary_search(&i).is_ok(),
                p.human.binary_search(&i).is_ok(),
            );
            tp += usize::from(r && h);
            fp += usize::from(r && !h);
            fneg += usize::from(!r && h);
        }
    }
    let f1 = if tp == 0 {
        0.0
    } else {
        2.0 * tp as f64 / (2 * tp + fp + fneg) as f64
    };
    let d = n.max(1) as f64;
    LambadaReport {
        n,
        length: passages
            .iter()
            .map(|p| p.rationale.len() as f64)
            .sum::<f64>()
            / d,
        iou: passages.iter().map(|p| p.iou).sum::<f64>() / d,
        f1,
        unreached: passages.iter().filter(|p| !p.reached_argmax).count(),
        passages,
    }
}

/// IOU of two ascending position sets (1 when both are empty).
pub fn iou(a: &[usize], b: &[usize]) -> f64 {
    let inter = a.iter().filter(|x| b.binary_search(x).is_ok()).count();
    let union = a.len() + b.len() - inter;
    if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    }
}

/// Rationalizes one passage.
pub fn rationalize_passage(
    model: &Gpt2,
    tok: &tokenizers::Tokenizer,
    row: &LambadaRow,
    cfg: &GreedyConfig,
) -> Result<PassageResult, GreedyError> {
    let trimmed = row.text.trim_end();
    let cut = trimmed.rfind(char::is_whitespace).ok_or_else(|| {
        GreedyError::Invalid(format!("passage {} has a single word", row.lambada_index))
    })?;
    let enc = |s: &str| {
        tok.encode_char_offsets(s, false)
            .map_err(|e| GreedyError::Tokenizer(e.to_string()))
    };
    let full = enc(trimmed)?;
    let context = enc(&trimmed[..cut])?;
    let ids = full.get_ids();
    let first = context.get_ids().len();
    if first == 0 || first >= ids.len() || ids[..first] != *context.get_ids() {
        return Err(GreedyError::Invalid(format!(
            "passage {}: the context does not tokenize to a prefix of the passage",
            row.lambada_index
        )));
    }
    let offsets = full.get_offsets();
    let human: Vec<usize> = (0..first)
        .filter(|&j| {
            row.rationale
                .iter()
                .any(|&(s, e)| s < offsets[j].1 && offsets[j].1 <= e)
        })
        .collect();
    let mut union = Vec::new();
    let (mut reached, mut calls) = (true, 0);
    for r in rationalize_sequence_batched(model, ids, first, cfg, DEFAULT_MAX_TOKENS)? {
        reached &= r.rationale.reached_argmax;
        calls = r.rationale.forward_calls; // shared passes: the total
        union.extend(r.rationale.order.into_iter().filter(|&p| p < first));
    }
    union.sort_unstable();
    union.dedup();
    Ok(PassageResult {
        lambada_index: row.lambada_index,
        context_len: first,
        iou: iou(&union, &human),
        rationale: union,
        human,
        reached_argmax: reached,
        forward_calls: calls,
    })
}

/// Rationalizes every passage and aggregates.
pub fn evaluate(
    model: &Gpt2,
    tok: &tokenizers::Tokenizer,
    rows: &[LambadaRow],
    cfg: &GreedyConfig,
) -> Result<LambadaReport, GreedyError> {
    let passages = rows
        .iter()
        .map(|r| rationalize_passage(model, tok, r, cfg))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(aggregate(passages))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use std::path::PathBuf;

    #[test]
    fn metrics_by_hand() {
        let p = |r: Vec<usize>, h: Vec<usize>, n| PassageResult {
            lambada_index: 0,
            context_len: n,
            iou: iou(&r, &h),
            rationale: r,
            human: h,
            reached_argmax: true,
            forward_calls: 0,
        };
        let rep = aggregate(vec![p(vec![0, 1], vec![1, 2], 4), p(vec![3], vec![3], 5)]);
        // IOU 1/3 and 1; pooled tp 2, fp 1, fn 1 -> F1 = 4/6
        assert!((rep.iou - (1.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12);
        assert!((rep.f1 - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(rep.length, 1.5);
    }

    #[test]
    fn passage_through_the_fixture_model() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gpt2_tiny");
        let m = Gpt2::load(&dir, &Device::Cpu).unwrap();
        let tok = super::super::lm::load_tokenizer(&dir.join("tokenizer.json")).unwrap();
        // ids 3 4 19 19 19 (word wN has id N+1); human rationale = "w3" (chars 3..5)
        let row = LambadaRow {
            lambada_index: 7,
            text: "w2 w3 w18 w18 w18".into(),
            rationale: vec![(3, 5)],
        };
        let r = rationalize_passage(&m, &tok, &row, &GreedyConfig::default()).unwrap();
        assert_eq!(r.context_len, 4);
        assert_eq!(r.human, vec![1]);
        // the fixture's greedy rationale for position 4 is [3, 0, 1]
        assert_eq!(r.rationale, vec![0, 1, 3]);
        assert!((r.iou - 1.0 / 3.0).abs() < 1e-12);
        let bad = LambadaRow {
            lambada_index: 8,
            text: "w3".into(),
            rationale: vec![],
        };
        assert!(rationalize_passage(&m, &tok, &bad, &GreedyConfig::default()).is_err());
    }

    #[test]
    fn reads_the_shared_file_when_present() {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/data/lambada/annotated_lambada.json");
        if !p.exists() {
            eprintln!("skipped: {} is absent", p.display());
            return;
        }
        let rows = read_rows(&p).unwrap();
        assert_eq!(rows.len(), 107);
        let mean = rows.iter().map(|r| r.rationale.len()).sum::<usize>() as f64 / 107.0;
        assert!((mean - 7.0).abs() < 0.05, "{mean}");
    }
}
