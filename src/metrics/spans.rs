//! Hard rationales: span sets, token sets and intersection-over-union.

/// A token span `[start, end)`; spans with `end <= start` cover no token.
pub type Span = (i64, i64);

/// Number of tokens covered by a span.
pub fn span_len((s, e): Span) -> i64 {
    (e - s).max(0)
}

/// `|set(range(p)) ∩ set(range(t))| / |set(range(p)) ∪ set(range(t))|`, 0 when both are empty.
pub fn iou(p: Span, t: Span) -> f64 {
    let inter = (p.1.min(t.1) - p.0.max(t.0)).max(0);
    let union = span_len(p) + span_len(t) - inter;
    if union == 0 {
        0.0
    } else {
        inter as f64 / union as f64
    }
}

/// The best IoU of a predicted span against any gold span (0 if none), as the reference takes it.
pub fn best_iou(p: Span, gold: &[Span]) -> f64 {
    gold.iter()
        .map(|&t| iou(p, t))
        .fold(0.0, |best, x| if x > best { x } else { best })
}

/// The union of spans as sorted, disjoint, non-adjacent intervals.
pub fn token_intervals(spans: &[Span]) -> Vec<Span> {
    let mut v: Vec<Span> = spans.iter().copied().filter(|&(s, e)| e > s).collect();
    v.sort_unstable();
    let mut out: Vec<Span> = Vec::with_capacity(v.len());
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// Number of tokens in disjoint intervals.
pub fn interval_tokens(iv: &[Span]) -> u64 {
    iv.iter().map(|&(s, e)| (e - s) as u64).sum()
}

/// Number of tokens two disjoint interval lists share.
pub fn interval_overlap(a: &[Span], b: &[Span]) -> u64 {
    let (mut i, mut j, mut n) = (0, 0, 0u64);
    while i < a.len() && j < b.len() {
        let lo = a[i].0.max(b[j].0);
        let hi = a[i].1.min(b[j].1);
        if hi > lo {
            n += (hi - lo) as u64;
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    n
}

/// Distinct spans, sorted (the reference keeps spans in sets).
pub fn distinct(spans: impl IntoIterator<Item = Span>) -> Vec<Span> {
    let mut v: Vec<Span> = spans.into_iter().collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Number of spans present in both sorted distinct lists (exact-span matches).
pub fn exact_matches(a: &[Span], b: &[Span]) -> u64 {
    a.iter().filter(|s| b.binary_search(s).is_ok()).count() as u64
}

/// The largest one-to-one matching of predicted to gold spans with IoU ≥ `threshold`
/// (augmenting paths; spans per document are few).
pub fn one_to_one_matches(pred: &[Span], gold: &[Span], threshold: f64) -> u64 {
    let edges: Vec<Vec<usize>> = pred
        .iter()
        .map(|&p| {
            (0..gold.len())
                .filter(|&g| iou(p, gold[g]) >= threshold && iou(p, gold[g]) > 0.0)
                .collect()
        })
        .collect();
    let mut owner: Vec<Option<usize>> = vec![None; gold.len()];
    fn augment(
        p: usize,
        edges: &[Vec<usize>],
        seen: &mut [bool],
        owner: &mut [Option<usize>],
    ) -> bool {
        for &g in &edges[p] {
            if !seen[g] {
                seen[g] = true;
                if owner[g].is_none_or(|q| augment(q, edges, seen, owner)) {
                    owner[g] = Some(p);
                    return true;
                }
            }
        }
        false
    }
    let mut n = 0;
    for p in 0..pred.len() {
        let mut seen = vec![false; gold.len()];
        if augment(p, &edges, &mut seen, &mut owner) {
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_ranges() {
        assert_eq!(iou((3, 6), (3, 7)), 0.75);
        assert_eq!(iou((10, 14), (7, 12)), 2.0 / 7.0);
        assert_eq!(iou((5, 5), (5, 5)), 0.0);
        assert_eq!(iou((6, 2), (0, 10)), 0.0);
    }

    #[test]
    fn intervals_merge_and_overlap() {
        let a = token_intervals(&[(3, 6), (5, 9), (9, 10), (12, 12), (-2, 1)]);
        assert_eq!(a, vec![(-2, 1), (3, 10)]);
        assert_eq!(interval_tokens(&a), 10);
        let b = token_intervals(&[(0, 4), (8, 20)]);
        assert_eq!(interval_overlap(&a, &b), 1 + 1 + 2);
    }

    #[test]
    fn one_to_one_never_reuses_a_gold_span() {
        // Reference matching would count both halves against the single gold span at 0.5.
        let pred = [(0, 4), (4, 8)];
        let gold = [(0, 8)];
        assert_eq!(
            pred.iter().filter(|&&p| best_iou(p, &gold) >= 0.5).count(),
            2
        );
        assert_eq!(one_to_one_matches(&pred, &gold, 0.5), 1);
    }
}
