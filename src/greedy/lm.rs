//! Language models as [`SubsetScorer`]s, and rationales for every token of a sequence.

use super::{greedy, GreedyConfig, GreedyError, Rationale, Start, Step, SubsetScore, SubsetScorer};
use crate::models::cached_lm::{CachedLm, KvCache, Row};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

/// How many new tokens one batched forward pass may hold (the authors' `max_tokens_per_batch`).
pub const DEFAULT_MAX_TOKENS: usize = 4096;

/// A language model (GPT-2, or a Hugging Face Llama / Mistral / Qwen2
/// [`HfDecoder`](crate::models::hf::HfDecoder)) on one context (token ids at positions `0..n`):
/// each subset is fed as its tokens with their original position ids and scored for the next
/// token after its last position (log-softmax of that row's logits and its argmax), all of a
/// step in packed passes of at most `max_tokens` tokens. [`rationalize_sequence_batched`] is
/// faster when there are many targets: it also reuses cached keys and values.
pub struct LmScorer<'a, M> {
    model: &'a M,
    ids: &'a [u32],
    /// New tokens per batched forward pass.
    pub max_tokens: usize,
    calls: u64,
}

impl<'a, M: CachedLm> LmScorer<'a, M> {
    /// A scorer for the context `ids` (positions `0..ids.len()`).
    pub fn new(model: &'a M, ids: &'a [u32]) -> Self {
        LmScorer {
            model,
            ids,
            max_tokens: DEFAULT_MAX_TOKENS,
            calls: 0,
        }
    }
}

/// Refuses positions outside a context of `n` tokens.
fn check_positions(positions: &[usize], n: usize) -> Result<(), GreedyError> {
    match positions.iter().find(|&&p| p >= n) {
        Some(p) => Err(GreedyError::Invalid(format!(
            "position {p} outside a context of {n}"
        ))),
        None => Ok(()),
    }
}

/// A row of the tokens of `ids` at `positions`.
fn row<'c>(ids: &[u32], prefix: Option<(&'c KvCache, usize)>, positions: Vec<usize>) -> Row<'c> {
    Row {
        prefix,
        ids: positions.iter().map(|&p| ids[p]).collect(),
        positions,
    }
}

/// Keys and values of single tokens, each alone at its position: the start of every row whose
/// candidate comes before the whole rationale (shared by all steps and targets of a sequence).
#[derive(Default)]
struct Singles(HashMap<usize, KvCache>);

impl Singles {
    /// Computes the positions not yet cached, in shared passes.
    fn fill(
        &mut self,
        model: &impl CachedLm,
        ids: &[u32],
        positions: impl IntoIterator<Item = usize>,
        max_tokens: usize,
        calls: &mut u64,
    ) -> Result<(), GreedyError> {
        let mut missing: Vec<usize> = positions
            .into_iter()
            .filter(|p| !self.0.contains_key(p))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        let rows: Vec<Row> = missing.iter().map(|&p| row(ids, None, vec![p])).collect();
        let caches = prefill_rows(model, &rows, max_tokens, calls)?;
        self.0.extend(missing.into_iter().zip(caches));
        Ok(())
    }
}

/// Rows scoring the sorted, non-empty subset `base` plus each candidate, computing only what
/// differs from cached work: a candidate inserted after `j ≥ 1` rationale tokens continues
/// `cache` (the keys and values of `base`) after those `j`; a candidate before the whole
/// rationale continues its own single-token cache (`singles`, filled for such candidates).
fn extension_rows<'c>(
    ids: &[u32],
    base: &[usize],
    cache: &'c KvCache,
    singles: &'c Singles,
    candidates: impl IntoIterator<Item = usize>,
) -> Vec<Row<'c>> {
    candidates
        .into_iter()
        .map(|c| match base.partition_point(|&p| p < c) {
            0 => row(ids, Some((&singles.0[&c], 1)), base.to_vec()),
            j => {
                let mut positions = vec![c];
                positions.extend_from_slice(&base[j..]);
                row(ids, Some((cache, j)), positions)
            }
        })
        .collect()
}

/// The candidates that come before every token of `base`.
fn leading(base: &[usize], candidates: &[usize]) -> Vec<usize> {
    let first = base.first().copied().unwrap_or(0);
    candidates.iter().copied().filter(|&c| c < first).collect()
}

/// `pass` over consecutive chunks of the rows of `lens` tokens with at most `max_tokens` new
/// tokens each (at least one row), results concatenated; counts the passes.
fn in_passes<T>(
    lens: &[usize],
    max_tokens: usize,
    calls: &mut u64,
    mut pass: impl FnMut(Range<usize>) -> Result<Vec<T>, GreedyError>,
) -> Result<Vec<T>, GreedyError> {
    let mut out = Vec::with_capacity(lens.len());
    let (mut start, mut tokens) = (0, 0);
    for (i, &len) in lens.iter().enumerate() {
        if i > start && tokens + len > max_tokens {
            *calls += 1;
            out.extend(pass(start..i)?);
            (start, tokens) = (i, 0);
        }
        tokens += len;
    }
    if start < lens.len() {
        *calls += 1;
        out.extend(pass(start..lens.len())?);
    }
    Ok(out)
}

/// The number of new tokens of each row.
fn new_tokens(rows: &[Row]) -> Vec<usize> {
    rows.iter().map(|r| r.ids.len()).collect()
}

/// [`CachedLm::score`] of `rows` in passes of at most `max_tokens` new tokens.
fn score_rows(
    model: &impl CachedLm,
    rows: &[Row],
    targets: &[u32],
    max_tokens: usize,
    calls: &mut u64,
) -> Result<Vec<SubsetScore>, GreedyError> {
    in_passes(&new_tokens(rows), max_tokens, calls, |c| {
        Ok(model.score(&rows[c.clone()], &targets[c])?)
    })
}

/// [`CachedLm::prefill`] of `rows` in passes of at most `max_tokens` new tokens.
fn prefill_rows(
    model: &impl CachedLm,
    rows: &[Row],
    max_tokens: usize,
    calls: &mut u64,
) -> Result<Vec<KvCache>, GreedyError> {
    in_passes(&new_tokens(rows), max_tokens, calls, |c| {
        Ok(model.prefill(&rows[c])?)
    })
}

impl<M: CachedLm> SubsetScorer for LmScorer<'_, M> {
    fn context_len(&self) -> usize {
        self.ids.len()
    }

    fn score(
        &mut self,
        subsets: &[Vec<usize>],
        target: usize,
    ) -> Result<Vec<SubsetScore>, GreedyError> {
        for s in subsets {
            if s.is_empty() {
                return Err(GreedyError::Invalid("subsets must be non-empty".into()));
            }
            check_positions(s, self.ids.len())?;
        }
        let rows: Vec<Row> = subsets
            .iter()
            .map(|s| row(self.ids, None, s.clone()))
            .collect();
        let targets = vec![target as u32; rows.len()];
        score_rows(
            self.model,
            &rows,
            &targets,
            self.max_tokens,
            &mut self.calls,
        )
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
    model: &impl CachedLm,
    ids: &[u32],
    first_target: usize,
    cfg: &GreedyConfig,
) -> Result<Vec<TokenRationale>, GreedyError> {
    rationalize_sequence_with(ids, first_target, cfg, |context| {
        LmScorer::new(model, context)
    })
}

/// [`rationalize_sequence`] for any language model: `scorer(context)` scores subsets of the
/// context `ids[..t]` for the token at `t`.
pub fn rationalize_sequence_with<'a, S: SubsetScorer>(
    ids: &'a [u32],
    first_target: usize,
    cfg: &GreedyConfig,
    mut scorer: impl FnMut(&'a [u32]) -> S,
) -> Result<Vec<TokenRationale>, GreedyError> {
    if first_target == 0 {
        return Err(GreedyError::Invalid(
            "the first target must have a context (position >= 1)".into(),
        ));
    }
    let mut out = Vec::new();
    for t in first_target..ids.len() {
        let mut s = scorer(&ids[..t]);
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
    model: &impl CachedLm,
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
    model.check_tokens(ids, &[])?;
    let mut calls = 0u64;
    let mut singles = Singles::default();
    if cfg.start == Start::Last {
        let rows: Vec<Row> = states
            .iter()
            .map(|s| row(ids, None, vec![s.t - 1]))
            .collect();
        let targets: Vec<u32> = states.iter().map(|s| ids[s.t]).collect();
        let scores = score_rows(model, &rows, &targets, max_tokens, &mut calls)?;
        for (s, sc) in states.iter_mut().zip(scores) {
            s.order.push(s.t - 1);
            s.scored += 1;
            s.steps.push(Step {
                position: s.t - 1,
                target_logprob: sc.target_logprob,
                argmax: sc.argmax,
            });
            s.reached = sc.argmax == ids[s.t] as usize;
        }
    }
    loop {
        for s in states.iter_mut() {
            let max = cfg.max_size.unwrap_or(s.t).min(s.t);
            s.done = s.reached || s.order.len() >= max;
        }
        let active: Vec<usize> = (0..states.len()).filter(|&i| !states[i].done).collect();
        if active.is_empty() {
            break;
        }
        let bases: Vec<Vec<usize>> = active
            .iter()
            .map(|&i| {
                let mut b = states[i].order.clone();
                b.sort_unstable();
                b
            })
            .collect();
        // Keys and values of every non-empty rationale, and of the single tokens that start
        // rows, in shared passes.
        let base_rows: Vec<Row> = bases
            .iter()
            .filter(|b| !b.is_empty())
            .map(|b| row(ids, None, b.clone()))
            .collect();
        let mut caches = prefill_rows(model, &base_rows, max_tokens, &mut calls)?.into_iter();
        let caches: Vec<Option<KvCache>> = bases
            .iter()
            .map(|b| if b.is_empty() { None } else { caches.next() })
            .collect();
        let candidates: Vec<Vec<usize>> = active
            .iter()
            .map(|&i| {
                (0..states[i].t)
                    .filter(|c| !states[i].order.contains(c))
                    .collect()
            })
            .collect();
        let before = bases
            .iter()
            .zip(&candidates)
            .filter(|(b, _)| !b.is_empty())
            .flat_map(|(b, c)| leading(b, c));
        singles.fill(model, ids, before, max_tokens, &mut calls)?;
        let (mut rows, mut owners, mut targets) = (Vec::new(), Vec::new(), Vec::new());
        for (((&i, base), cache), cands) in active.iter().zip(&bases).zip(&caches).zip(candidates) {
            owners.extend(cands.iter().map(|&c| (i, c)));
            targets.extend(cands.iter().map(|_| ids[states[i].t]));
            rows.extend(match cache {
                Some(cache) => extension_rows(ids, base, cache, &singles, cands),
                None => cands.into_iter().map(|c| row(ids, None, vec![c])).collect(),
            });
        }
        let scores = score_rows(model, &rows, &targets, max_tokens, &mut calls)?;
        let mut best: Vec<Option<(usize, SubsetScore)>> = vec![None; states.len()];
        for (&(i, c), sc) in owners.iter().zip(scores) {
            states[i].scored += 1;
            let lp = if sc.target_logprob.is_nan() {
                f32::NEG_INFINITY
            } else {
                sc.target_logprob
            };
            if best[i].is_none_or(|(_, b)| lp > b.target_logprob) {
                best[i] = Some((
                    c,
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
    use crate::models::gpt2::Gpt2;
    use crate::models::hf::HfDecoder;
    use candle_core::Device;
    use serde_json::Value;
    use std::path::PathBuf;

    fn fixture() -> (Gpt2, Value) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gpt2_tiny");
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

    /// The packed pass against transformers' logits (through the log-probability of every
    /// vocabulary entry), without and with a cached prefix.
    #[test]
    fn packed_scores_match_transformers_with_and_without_a_cached_prefix() {
        let (m, e) = fixture();
        let mut worst = 0f32;
        for case in e["sparse"].as_array().unwrap() {
            let (i, p) = (ids(&case["ids"]), usizes(&case["positions"]));
            let logits = case["logits"].as_array().unwrap();
            let last = log_softmax(&logits[logits.len() - 1]);
            let cache = m
                .prefill(&[Row {
                    prefix: None,
                    ids: i.clone(),
                    positions: p.clone(),
                }])
                .unwrap();
            for (target, logprob) in last.iter().enumerate() {
                let whole = Row {
                    prefix: None,
                    ids: i.clone(),
                    positions: p.clone(),
                };
                // The same sequence as its first token(s) from the cache plus the rest.
                let split = i.len() / 2;
                let tail = Row {
                    prefix: Some((&cache[0], split)),
                    ids: i[split..].to_vec(),
                    positions: p[split..].to_vec(),
                };
                let got = m.score(&[whole, tail], &[target as u32; 2]).unwrap();
                for g in got {
                    worst = worst.max((g.target_logprob - logprob).abs());
                }
            }
        }
        assert!(worst < 1e-4, "max |Δ log p| = {worst}");
    }

    /// Log-softmax of one row of transformers' logits.
    fn log_softmax(row: &Value) -> Vec<f32> {
        let row: Vec<f32> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        let mx = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let lse = mx + row.iter().map(|x| (x - mx).exp()).sum::<f32>().ln();
        row.iter().map(|x| x - lse).collect()
    }

    /// `predict`'s next-token log-probabilities against transformers' logits of a whole text.
    #[test]
    fn next_token_logprobs_match_transformers() {
        let (m, e) = fixture();
        let case = &e["sparse"][0];
        let (i, p) = (ids(&case["ids"]), usizes(&case["positions"]));
        assert_eq!(p, (0..i.len()).collect::<Vec<_>>(), "a whole text");
        let got = m.next_token_logprobs(&[&i]).unwrap().remove(0);
        assert_eq!(got.len(), i.len() - 1);
        let logits = case["logits"].as_array().unwrap();
        for (k, (g, row)) in got.iter().zip(logits).enumerate() {
            let want = log_softmax(row)[i[k + 1] as usize];
            assert!((g - want).abs() < 1e-4, "token {}: {g} vs {want}", k + 1);
        }
        // In a batch with texts of one and two tokens, each as alone.
        let batch = m.next_token_logprobs(&[&i[..1], &i, &i[..2]]).unwrap();
        assert_eq!(batch, [vec![], got.clone(), got[..1].to_vec()]);
        let too_long = vec![1u32; m.config.n_positions + 1];
        let err = m
            .next_token_logprobs(&[&i, &too_long])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("text 1: position") && err.contains("n_positions"),
            "{err}"
        );
    }

    /// A batch larger than one pass (12 texts of 30 tokens) gives each text what it gets alone.
    #[test]
    fn batches_split_into_passes_equal_each_text_alone() {
        let (m, _) = fixture();
        let texts: Vec<Vec<u32>> = (0..12u32)
            .map(|k| (0..30).map(|j| (j * 7 + k * 3) % 48).collect())
            .collect();
        let refs: Vec<&[u32]> = texts.iter().map(Vec::as_slice).collect();
        let batch = m.next_token_logprobs(&refs).unwrap();
        for (t, got) in refs.iter().zip(&batch) {
            assert_eq!(*got, m.next_token_logprobs(&[t]).unwrap()[0]);
            assert_eq!(got.len(), 29);
        }
    }

    #[test]
    fn greedy_matches_the_authors_algorithm_one_target_at_a_time_and_batched() {
        let (m, e) = fixture();
        for (seq_key, exp_key) in [("sequence", "greedy"), ("random_sequence", "greedy_random")] {
            let seq = ids(&e[seq_key]);
            for batched in [false, true] {
                let cfg = GreedyConfig::default();
                let got = if batched {
                    rationalize_sequence_batched(&m, &seq, 1, &cfg, 7).unwrap()
                } else {
                    rationalize_sequence(&m, &seq, 1, &cfg).unwrap()
                };
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
                        "target {} batched {batched}",
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

    /// The scorer cuts a call into passes of at most `max_tokens` tokens (at least one
    /// subset each) and scores the same either way.
    #[test]
    fn decoder_passes_hold_at_most_max_tokens() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hf/mistral_lm");
        let model = HfDecoder::load(&dir).unwrap();
        let ids: Vec<u32> = (0..12).map(|i| (i * 53 + 7) % 400).collect();
        let subsets: Vec<Vec<usize>> = (0..6).map(|c| vec![c, 6 + c, 11]).collect();
        let mut one = LmScorer::new(&model, &ids);
        let whole = one.score(&subsets, 42).unwrap();
        assert_eq!(one.forward_calls(), 1);
        let mut cut = LmScorer::new(&model, &ids);
        cut.max_tokens = 7;
        let parts = cut.score(&subsets, 42).unwrap();
        assert_eq!(cut.forward_calls(), 3);
        for (a, b) in whole.iter().zip(&parts) {
            assert!((a.target_logprob - b.target_logprob).abs() < 1e-5);
            assert_eq!(a.argmax, b.argmax);
        }
        cut.max_tokens = 1; // a subset longer than the cap still gets its own pass
        cut.score(&subsets[..2], 42).unwrap();
        assert_eq!(cut.forward_calls(), 5);
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
        assert!(rationalize_sequence(&m, &[1, 2], 0, &GreedyConfig::default()).is_err());
    }
}
