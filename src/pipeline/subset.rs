//! A seeded sample of a split as its own small ERASER data directory, so that a `--limit`ed
//! run is scored against exactly the annotations it explained.

use super::PipelineError;
use crate::corpus::DataDir;
use crate::models::data::input_docids;
use rand::seq::index::sample;
use rand::SeedableRng;
use std::collections::HashSet;
use std::path::Path;

/// Writes `n` annotations of `split` (a sample drawn with `seed`, in file order) and the
/// documents they need into `dest` (`<split>.jsonl` and `docs/` or `docs.jsonl`).
pub fn write_subset(
    data: &Path,
    split: &str,
    n: usize,
    seed: u64,
    dest: &Path,
) -> Result<usize, PipelineError> {
    let dir = DataDir::new(data);
    let path = dir.split_path(split);
    let annotations = dir.annotations(split)?;
    let text = std::fs::read_to_string(&path).map_err(|e| PipelineError::io(&path, e))?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.len() != annotations.len() {
        return Err(PipelineError::Data(format!(
            "{}: {} non-empty lines but {} annotations",
            path.display(),
            lines.len(),
            annotations.len()
        )));
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut keep = sample(&mut rng, lines.len(), n.min(lines.len())).into_vec();
    keep.sort_unstable();
    let mut docids = HashSet::new();
    let mut body = String::new();
    for &i in &keep {
        body.push_str(lines[i]);
        body.push('\n');
        docids.extend(input_docids(&annotations[i]));
        docids.extend(annotations[i].all_evidence().map(|e| e.docid.clone()));
    }
    std::fs::create_dir_all(dest).map_err(|e| PipelineError::io(dest, e))?;
    let out = dest.join(format!("{split}.jsonl"));
    std::fs::write(&out, body).map_err(|e| PipelineError::io(&out, e))?;
    let docs = data.join("docs");
    if docs.is_dir() {
        let to = dest.join("docs");
        std::fs::create_dir_all(&to).map_err(|e| PipelineError::io(&to, e))?;
        for d in &docids {
            std::fs::copy(docs.join(d), to.join(d))
                .map_err(|e| PipelineError::io(&docs.join(d), e))?;
        }
    } else {
        let src = data.join("docs.jsonl");
        let text = std::fs::read_to_string(&src).map_err(|e| PipelineError::io(&src, e))?;
        let mut body = String::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| PipelineError::Data(format!("{}: {e}", src.display())))?;
            if v.get("docid")
                .and_then(|d| d.as_str())
                .is_some_and(|d| docids.contains(d))
            {
                body.push_str(line);
                body.push('\n');
            }
        }
        let to = dest.join("docs.jsonl");
        std::fs::write(&to, body).map_err(|e| PipelineError::io(&to, e))?;
    }
    Ok(keep.len())
}
