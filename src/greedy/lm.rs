//! Language models as [`SubsetScorer`]s, and rationales for every token of a sequence.

use super::gpt2::{score_row, Gpt2};
use super::{greedy, GreedyConfig, GreedyError, Rationale, Start, Step, SubsetScore, SubsetScorer};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How many new tokens one batched forward pass may hold (the authors' `max_tokens_per_batch`).
pub const DEFAULT_MAX_TOKENS: usize = 4096;

/// A GPT-2 model on one context (token ids at positions `0..n`): subsets are scored for the
/// next token after the subset's last position.
///
/// With `reuse` on (off by default: measured slower in candle on CPU, see the README), [`score_extensions`](SubsetScorer::score_extensions) runs the
/// current rationale once, keeps every layer's keys and values, and for each candidate computes
/// only the tokens at or after the candidate: tokens before it attend to exactly the same
/// subset as in the rationale alone, so their states are reused (exact, up to float rounding).
pub struct LmScorer<'a> {
    model: &'a Gpt2,
    ids: &'a [u32],
    /// Reuse the rationale's keys and values across one step's candidates.
    pub reuse: bool,
    /// New tokens per batched forward pass.
    pub max_tokens: usize,
    calls: u64,
}

impl<'a> LmScorer<'a> {
    /// A scorer for the context `ids` (positions `0..ids.len()`).
    pub fn new(model: &'a Gpt2, ids: &'a [u32]) -> Self {
        LmScorer {
            model,
            ids,
            reuse: false,
            max_tokens: DEFAULT_MAX_TOKENS,
            calls: 0,
        }
    }

    fn run_rows(
        &mut self,
        rows: &[(Vec<u32>, Vec<usize>)],
        cache: Option<&super::gpt2::KvCache>,
        past: usize,
        target: usize,
    ) -> Result<Vec<SubsetScore>, GreedyError> {
        let mut out = Vec::with_capacity(rows.len());
        let l = rows.first().map_or(1, |r| r.0.len()).max(1);
        let per = (self.max_tokens / l).max(1);
        for chunk in rows.chunks(per) {
            let ids: Vec<u32> = chunk.iter().flat_map(|r| r.0.iter().copied()).collect();
            let pos: Vec<usize> = chunk.iter().flat_map(|r| r.1.iter().copied()).collect();
            self.calls += 1;
            out.extend(self.model.score_continuations(
                cache,
                past,
                &ids,
                &pos,
                chunk.len(),
                target as u32,
            )?);
        }
        Ok(out)
    }
}

impl SubsetScorer for LmScorer<'_> {
    fn context_len(&self) -> usize {
        self.ids.len()
    }

    fn score(
        &mut self,
        subsets: &[Vec<usize>],
        target: usize,
    ) -> Result<Vec<SubsetScore>, GreedyError> {
        let Some(first) = subsets.first() else {
            return Ok(vec![]);
        };
        if first.is_empty() || subsets.iter().any(|s| s.len() != first.len()) {
            return Err(GreedyError::Invalid(
                "subsets must be non-empty and of equal length".into(),
            ));
        }
        let n = self.ids.len();
        let rows: Vec<(Vec<u32>, Vec<usize>)> = subsets
            .iter()
            .map(|s| {
                if let Some(&p) = s.iter().find(|&&p| p >= n) {
                    return Err(GreedyError::Invalid(format!(
                        "position {p} outside a context of {n}"
                    )));
                }
                Ok((s.iter().map(|&p| self.ids[p]).collect(), s.clone()))
            })
            .collect::<Result<_, _>>()?;
        self.run_rows(&rows, None, 0, target)
    }

    fn score_extensions(
        &mut self,
        base: &[usize],
        candidates: &[usize],
        target: usize,
    ) -> Result<Vec<SubsetScore>, GreedyError> {
        if !self.reuse || base.is_empty() {
            let subsets: Vec<Vec<usize>> = candidates
                .iter()
                .map(|&c| {
                    let mut s = base.to_vec();
                    s.insert(s.partition_point(|&p| p < c), c);
                    s
                })
                .collect();
            return self.score(&subsets, target);
        }
        let base_ids: Vec<u32> = base.iter().map(|&p| self.ids[p]).collect();
        self.calls += 1;
        let (_, cache) = self.model.prefill(&base_ids, base)?;
        // Group candidates by how many rationale tokens precede them.
        let mut groups: Vec<Vec<usize>> = vec![Vec::new(); base.len() + 1];
        for (i, &c) in candidates.iter().enumerate() {
            groups[base.partition_point(|&p| p < c)].push(i);
        }
        let mut out = vec![
            SubsetScore {
                target_logprob: f32::NEG_INFINITY,
                argmax: 0
            };
            candidates.len()
        ];
        for (j, members) in groups.iter().enumerate() {
            if members.is_empty() {
                continue;
            }
            let rows: Vec<(Vec<u32>, Vec<usize>)> = members
                .iter()
                .map(|&i| {
                    let c = candidates[i];
                    let mut pos = vec![c];
                    pos.extend_from_slice(&base[j..]);
                    (pos.iter().map(|&p| self.ids[p]).collect(), pos)
                })
                .collect();
            let scores = self.run_rows(&rows, Some(&cache), j, target)?;
            for (&i, s) in members.iter().zip(scores) {
                out[i] = s;
            }
        }
        Ok(out)
    }

    fn forward_calls(&self) -> u64 {
        self.calls
    }
}

/// The rationale for the token at `target_position` of a sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRationale {
    /// Position of the predicted token.
    pub target_position: usize,
    /// Its token id.
    pub target_id: u32,
    /// The greedy rationale over positions `0..target_position`.
    #[serde(flatten)]
    pub rationale: Rationale,
}

/// Greedy rationales for every token of `ids` from position `first_target` (≥ 1) on, each
/// predicted from the tokens before it (the authors' `rationalize_lm` with
/// `start_step = first_target - 1`).
pub fn rationalize_sequence(
    model: &Gpt2,
    ids: &[u32],
    first_target: usize,
    cfg: &GreedyConfig,
    reuse: bool,
) -> Result<Vec<TokenRationale>, GreedyError> {
    if first_target == 0 {
        return Err(GreedyError::Invalid(
            "the first target must have a context (position >= 1)".into(),
        ));
    }
    let mut out = Vec::new();
    for t in first_target..ids.len() {
        let mut s = LmScorer::new(model, &ids[..t]);
        s.reuse = reuse;
        let rationale = greedy(&mut s, ids[t] as usize, cfg)?;
        out.push(TokenRationale {
            target_position: t,
            target_id: ids[t],
            rationale,
        });
    }
    Ok(out)
}

/// The same rationales as [`rationalize_sequence`], computed for all targets at once: the
/// searches advance in lock-step, so at step k every unfinished target's candidates have k + 1
/// tokens and one forward pass scores candidates of many targets together (no padding; each
/// search sees exactly the scores it would alone). Fewer, larger matrix products. Each result's
/// `forward_calls` is the total number of (shared) passes.
pub fn rationalize_sequence_batched(
    model: &Gpt2,
    ids: &[u32],
    first_target: usize,
    cfg: &GreedyConfig,
    max_tokens: usize,
) -> Result<Vec<TokenRationale>, GreedyError> {
    if first_target == 0 {
        return Err(GreedyError::Invalid(
            "the first target must have a context (position >= 1)".into(),
        ));
    }
    if cfg.max_size == Some(0) {
        return Err(GreedyError::Invalid("max_size must be at least 1".into()));
    }
    struct State {
        t: usize,
        order: Vec<usize>,
        steps: Vec<Step>,
        scored: u64,
        done: bool,
        reached: bool,
    }
    let mut states: Vec<State> = (first_target..ids.len())
        .map(|t| State {
            t,
            order: vec![],
            steps: vec![],
            scored: 0,
            done: false,
            reached: false,
        })
        .collect();
    let mut calls = 0u64;
    // rows: (state index, candidate position, subset)
    let mut run = |rows: &[(usize, usize, Vec<usize>)],
                   states: &[State]|
     -> Result<Vec<SubsetScore>, GreedyError> {
        let mut out = Vec::with_capacity(rows.len());
        let l = rows.first().map_or(1, |r| r.2.len()).max(1);
        for chunk in rows.chunks((max_tokens / l).max(1)) {
            let tok: Vec<u32> = chunk
                .iter()
                .flat_map(|r| r.2.iter().map(|&p| ids[p]))
                .collect();
            let pos: Vec<usize> = chunk.iter().flat_map(|r| r.2.iter().copied()).collect();
            calls += 1;
            let logits = model
                .last_logits(&tok, &pos, chunk.len())?
                .to_vec2::<f32>()?;
            out.extend(
                chunk
                    .iter()
                    .zip(&logits)
                    .map(|(r, lg)| score_row(lg, ids[states[r.0].t] as usize)),
            );
        }
        Ok(out)
    };
    match cfg.start {
        Start::Last => {
            let rows: Vec<(usize, usize, Vec<usize>)> = states
                .iter()
                .enumerate()
                .map(|(i, s)| (i, s.t - 1, vec![s.t - 1]))
                .collect();
            let scores = run(&rows, &states)?;
            for ((i, p, _), sc) in rows.into_iter().zip(scores) {
                let s = &mut states[i];
                s.order.push(p);
                s.scored += 1;
                s.steps.push(Step {
                    position: p,
                    target_logprob: sc.target_logprob,
                    argmax: sc.argmax,
                });
                s.reached = sc.argmax == ids[s.t] as usize;
            }
        }
        Start::Empty => {}
    }
    loop {
        for s in states.iter_mut() {
            let max = cfg.max_size.unwrap_or(s.t).min(s.t);
            s.done = s.reached || s.order.len() >= max;
        }
        let mut rows = Vec::new();
        for (i, s) in states.iter().enumerate().filter(|(_, s)| !s.done) {
            let mut base = s.order.clone();
            base.sort_unstable();
            for c in (0..s.t).filter(|c| !s.order.contains(c)) {
                let mut sub = base.clone();
                sub.insert(sub.partition_point(|&p| p < c), c);
                rows.push((i, c, sub));
            }
        }
        if rows.is_empty() {
            break;
        }
        let scores = run(&rows, &states)?;
        let mut best: Vec<Option<(usize, SubsetScore)>> = vec![None; states.len()];
        for ((i, c, _), sc) in rows.iter().zip(scores) {
            states[*i].scored += 1;
            let lp = if sc.target_logprob.is_nan() {
                f32::NEG_INFINITY
            } else {
                sc.target_logprob
            };
            if best[*i].is_none_or(|(_, b)| lp > b.target_logprob) {
                best[*i] = Some((
                    *c,
                    SubsetScore {
                        target_logprob: lp,
                        argmax: sc.argmax,
                    },
                ));
            }
        }
        for (s, b) in states.iter_mut().zip(best) {
            if let Some((p, sc)) = b {
                s.order.push(p);
                s.steps.push(Step {
                    position: p,
                    target_logprob: sc.target_logprob,
                    argmax: sc.argmax,
                });
                s.reached = sc.argmax == ids[s.t] as usize;
            }
        }
    }
    Ok(states
        .into_iter()
        .map(|s| TokenRationale {
            target_position: s.t,
            target_id: ids[s.t],
            rationale: Rationale {
                order: s.order,
                reached_argmax: s.reached,
                steps: s.steps,
                subsets_scored: s.scored,
                // the passes are shared: every target reports the total
                forward_calls: calls,
            },
        })
        .collect())
}

/// Loads a `tokenizer.json`.
pub fn load_tokenizer(path: &Path) -> Result<tokenizers::Tokenizer, GreedyError> {
    if !path.exists() {
        return Err(GreedyError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ));
    }
    tokenizers::Tokenizer::from_file(path)
        .map_err(|e| GreedyError::Tokenizer(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::super::exhaustive::exhaustive;
    use super::*;
    use candle_core::Device;
    use serde_json::Value;
    use std::path::PathBuf;

    fn fixture() -> (Gpt2, Value) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/greedy/testdata");
        let m = Gpt2::load(&dir, &Device::Cpu).unwrap();
        let e: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap())
                .unwrap();
        (m, e)
    }

    fn ids(v: &Value) -> Vec<u32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect()
    }
    fn usizes(v: &Value) -> Vec<usize> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect()
    }

    #[test]
    fn sparse_forward_matches_transformers() {
        let (m, e) = fixture();
        let mut worst = 0f32;
        for case in e["sparse"].as_array().unwrap() {
            let (i, p) = (ids(&case["ids"]), usizes(&case["positions"]));
            let got = m
                .forward(&i, &p, 1)
                .unwrap()
                .squeeze(0)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap();
            for (gr, er) in got.iter().zip(case["logits"].as_array().unwrap()) {
                for (g, x) in gr.iter().zip(er.as_array().unwrap()) {
                    worst = worst.max((g - x.as_f64().unwrap() as f32).abs());
                }
            }
        }
        assert!(worst < 1e-4, "max |Δlogit| = {worst}");
    }

    #[test]
    fn greedy_matches_the_authors_algorithm_with_and_without_reuse() {
        let (m, e) = fixture();
        for (seq_key, exp_key) in [("sequence", "greedy"), ("random_sequence", "greedy_random")] {
            let seq = ids(&e[seq_key]);
            for reuse in [true, false] {
                let got =
                    rationalize_sequence(&m, &seq, 1, &GreedyConfig::default(), reuse).unwrap();
                let exp = e[exp_key].as_array().unwrap();
                assert_eq!(got.len(), exp.len());
                for (g, x) in got.iter().zip(exp) {
                    assert_eq!(
                        g.target_position as u64,
                        x["target_position"].as_u64().unwrap()
                    );
                    assert_eq!(
                        g.rationale.order,
                        usizes(&x["order"]),
                        "target {} reuse {reuse}",
                        g.target_position
                    );
                    assert_eq!(
                        g.rationale.reached_argmax,
                        x["reached_argmax"].as_bool().unwrap()
                    );
                }
            }
        }
    }

    #[test]
    fn exhaustive_matches_the_reference_and_bounds_greedy() {
        let (m, e) = fixture();
        let seq = ids(&e["sequence"]);
        for case in e["exhaustive"].as_array().unwrap() {
            let prev = case["prev"].as_u64().unwrap() as usize;
            let mut s = LmScorer::new(&m, &seq[..=prev]);
            let got = exhaustive(&mut s, seq[prev + 1] as usize, Start::Last, 6).unwrap();
            assert_eq!(got.subset, Some(usizes(&case["subset"])), "prev {prev}");
            let g = greedy(&mut s, seq[prev + 1] as usize, &GreedyConfig::default()).unwrap();
            assert!(g.order.len() >= got.subset.unwrap().len());
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        let (m, _) = fixture();
        let long: Vec<u32> = vec![1; 40];
        let mut s = LmScorer::new(&m, &long);
        assert!(greedy(&mut s, 1, &GreedyConfig::default()).is_err());
        let bad = vec![1000u32, 2];
        let mut s = LmScorer::new(&m, &bad);
        assert!(greedy(&mut s, 1, &GreedyConfig::default()).is_err());
        assert!(rationalize_sequence(&m, &[1, 2], 0, &GreedyConfig::default(), true).is_err());
    }
}
