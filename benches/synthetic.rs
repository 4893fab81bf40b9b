//! Writes a deterministic synthetic ERASER dataset with full predictions, for benchmarks:
//! `cargo bench --bench synthetic -- OUT_DIR [DOCS] [TOKENS] [SENTENCES] [SEED]`
//! (defaults 2000 × 800 tokens, 40 sentences, seed 0). Every annotation gets 3–10 gold spans;
//! every prediction 2–8 hard spans, soft token and sentence scores, comprehensiveness and
//! sufficiency, and thresholded scores at the 5 default AOPC bins.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;

fn spans(rng: &mut ChaCha8Rng, n_tokens: usize, count: usize) -> Vec<(usize, usize)> {
    // Disjoint spans: pick sorted cut points, keep every other gap.
    let mut cuts: Vec<usize> = (0..count * 2).map(|_| rng.gen_range(0..n_tokens)).collect();
    cuts.sort_unstable();
    cuts.dedup();
    cuts.chunks(2)
        .filter(|c| c.len() == 2 && c[1] > c[0])
        .map(|c| (c[0], c[1].min(c[0] + 30)))
        .collect()
}

fn distribution(rng: &mut ChaCha8Rng) -> (f64, f64) {
    let p: f64 = (rng.gen_range(0.0..1.0f64) * 1e4).round() / 1e4;
    (p, 1.0 - p)
}

fn main() -> std::io::Result<()> {
    // `cargo bench` adds `--bench` to the arguments.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let out = PathBuf::from(
        args.first()
            .map(String::as_str)
            .unwrap_or("target/synthetic"),
    );
    let arg = |i: usize, d: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let (n_docs, n_tokens, n_sent, seed) = (arg(1, 2000), arg(2, 800), arg(3, 40), arg(4, 0));
    let mut rng = ChaCha8Rng::seed_from_u64(seed as u64);
    std::fs::create_dir_all(out.join("docs"))?;
    let mut anns = std::io::BufWriter::new(std::fs::File::create(out.join("test.jsonl"))?);
    let mut preds = std::io::BufWriter::new(std::fs::File::create(out.join("preds.jsonl"))?);
    let per_sent = n_tokens / n_sent;
    for d in 0..n_docs {
        let docid = format!("doc{d:05}");
        let mut text = String::new();
        for s in 0..n_sent {
            let len = if s + 1 == n_sent {
                n_tokens - per_sent * (n_sent - 1)
            } else {
                per_sent
            };
            let words: Vec<String> = (0..len)
                .map(|t| format!("w{}", (d * 7 + s * 13 + t) % 5000))
                .collect();
            text.push_str(&words.join(" "));
            text.push('\n');
        }
        std::fs::write(out.join("docs").join(&docid), text)?;
        let label = if rng.gen_bool(0.5) { "POS" } else { "NEG" };
        let count = rng.gen_range(3..=10);
        let gold = spans(&mut rng, n_tokens, count);
        let evidences: Vec<_> = gold
            .iter()
            .map(|&(s, e)| {
                vec![json!({"docid": docid, "start_token": s, "end_token": e,
                    "start_sentence": s / per_sent, "end_sentence": (e - 1) / per_sent + 1, "text": ""})]
            })
            .collect();
        let ann = json!({"annotation_id": docid, "classification": label, "query": "What is the sentiment of this review?",
            "query_type": null, "docids": null, "evidences": evidences});
        writeln!(anns, "{ann}")?;
        let count = rng.gen_range(2..=8);
        let hard: Vec<_> = spans(&mut rng, n_tokens, count)
            .into_iter()
            .map(|(s, e)| json!({"start_token": s, "end_token": e}))
            .collect();
        let round = |x: f64| (x * 1e6).round() / 1e6;
        let soft: Vec<f64> = (0..n_tokens)
            .map(|_| round(rng.gen_range(0.0..1.0)))
            .collect();
        let sent: Vec<f64> = (0..n_sent)
            .map(|_| round(rng.gen_range(0.0..1.0)))
            .collect();
        let predicted = if rng.gen_bool(0.8) {
            label
        } else if label == "POS" {
            "NEG"
        } else {
            "POS"
        };
        let scores = |rng: &mut ChaCha8Rng| {
            let (a, b) = distribution(rng);
            json!({"POS": a, "NEG": b})
        };
        let thresholded: Vec<_> = [0.01, 0.05, 0.1, 0.2, 0.5]
            .iter()
            .map(|t| {
                json!({"threshold": t, "comprehensiveness_classification_scores": scores(&mut rng),
                "sufficiency_classification_scores": scores(&mut rng)})
            })
            .collect();
        let pred = json!({"annotation_id": docid,
            "rationales": [{"docid": docid, "hard_rationale_predictions": hard,
                "soft_rationale_predictions": soft, "soft_sentence_predictions": sent}],
            "classification": predicted, "classification_scores": scores(&mut rng),
            "comprehensiveness_classification_scores": scores(&mut rng),
            "sufficiency_classification_scores": scores(&mut rng),
            "thresholded_scores": thresholded});
        writeln!(preds, "{pred}")?;
    }
    eprintln!(
        "wrote {} ({n_docs} docs × {n_tokens} tokens, {n_sent} sentences)",
        out.display()
    );
    Ok(())
}
