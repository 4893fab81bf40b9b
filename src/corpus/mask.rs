//! Token masks: the top-k tokens of a score vector and the maximal runs of a mask.

use super::HardSpan;

/// The `k` highest-scoring positions as a mask (ties broken by position, earliest first; NaN
/// sorts above every number, as `f32::total_cmp` orders it).
pub fn top_k(scores: &[f32], k: usize) -> Vec<bool> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let mut mask = vec![false; scores.len()];
    for &i in idx.iter().take(k) {
        mask[i] = true;
    }
    mask
}

/// The maximal runs of `true` in `mask`, as half-open `(start, end)` ranges.
pub fn runs(mask: &[bool]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut t = 0;
    std::iter::from_fn(move || {
        while t < mask.len() && !mask[t] {
            t += 1;
        }
        let start = t;
        while t < mask.len() && mask[t] {
            t += 1;
        }
        (start < t).then_some((start, t))
    })
}

/// The runs of `mask` as ERASER hard spans (token offsets within the mask).
pub fn hard_spans(mask: &[bool]) -> Vec<HardSpan> {
    runs(mask)
        .map(|(s, e)| HardSpan {
            start_token: s as i64,
            end_token: e as i64,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_maximal_and_half_open() {
        let m = [false, true, true, false, true, false, false, true];
        assert_eq!(runs(&m).collect::<Vec<_>>(), [(1, 3), (4, 5), (7, 8)]);
        assert_eq!(runs(&[]).count(), 0);
        assert_eq!(runs(&[false, false]).count(), 0);
        assert_eq!(runs(&[true; 3]).collect::<Vec<_>>(), [(0, 3)]);
    }

    #[test]
    fn top_k_breaks_ties_by_position() {
        assert_eq!(top_k(&[0.5, 0.9, 0.5, 0.1], 2), [true, true, false, false]);
        assert_eq!(top_k(&[0.1, 0.5, 0.9, 0.5], 2), [false, true, true, false]);
        assert_eq!(top_k(&[1.0, 2.0], 5), [true, true]);
        assert_eq!(top_k(&[1.0, 2.0], 0), [false, false]);
    }
}
