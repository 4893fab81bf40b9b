//! Exhaustive search for the smallest subset that makes the target the argmax (a baseline for
//! the approximation ratio; feasible only for small contexts).

use super::{GreedyError, Start, SubsetScorer};
use serde::{Deserialize, Serialize};

/// Subsets per batched call.
const BATCH: usize = 256;

/// The result of an exhaustive search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exhaustive {
    /// The first smallest subset (ascending; sizes in increasing order, each size in
    /// lexicographic order) whose argmax is the target; `None` if none up to `max_size`.
    pub subset: Option<Vec<usize>>,
    /// Subsets the model scored.
    pub subsets_scored: u64,
}

/// Tries all subsets of size 1, 2, … `max_size` (with [`Start::Last`], only those containing the
/// last position, as the authors' `exhaustive_rationalize_lm` does) and returns the first whose
/// argmax is `target`.
pub fn exhaustive<S: SubsetScorer + ?Sized>(
    scorer: &mut S,
    target: usize,
    start: Start,
    max_size: usize,
) -> Result<Exhaustive, GreedyError> {
    let n = scorer.context_len();
    if n == 0 {
        return Err(GreedyError::Invalid(
            "cannot search an empty context".into(),
        ));
    }
    let (pool, forced): (usize, Option<usize>) = match start {
        Start::Last => (n - 1, Some(n - 1)),
        Start::Empty => (n, None),
    };
    let mut scored = 0u64;
    for k in 1..=max_size.min(n) {
        let free = k - usize::from(forced.is_some());
        if free > pool {
            break;
        }
        let mut comb: Vec<usize> = (0..free).collect();
        let mut batch: Vec<Vec<usize>> = Vec::with_capacity(BATCH);
        let mut done = false;
        while !done {
            let mut s = comb.clone();
            if let Some(f) = forced {
                s.push(f);
            }
            batch.push(s);
            done = !next_combination(&mut comb, pool);
            if batch.len() == BATCH || done {
                let scores = scorer.score(&batch, target)?;
                scored += batch.len() as u64;
                if let Some(i) = scores.iter().position(|s| s.argmax == target) {
                    return Ok(Exhaustive {
                        subset: Some(batch.swap_remove(i)),
                        subsets_scored: scored,
                    });
                }
                batch.clear();
            }
        }
    }
    Ok(Exhaustive {
        subset: None,
        subsets_scored: scored,
    })
}

/// Advances `c` (strictly increasing values below `n`) to the next combination in lexicographic
/// order; false when `c` was the last.
fn next_combination(c: &mut [usize], n: usize) -> bool {
    let k = c.len();
    for i in (0..k).rev() {
        if c[i] < n - k + i {
            c[i] += 1;
            for j in i + 1..k {
                c[j] = c[j - 1] + 1;
            }
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combinations_in_lexicographic_order() {
        let mut c = vec![0, 1];
        let mut all = vec![c.clone()];
        while next_combination(&mut c, 4) {
            all.push(c.clone());
        }
        assert_eq!(
            all,
            vec![
                vec![0, 1],
                vec![0, 2],
                vec![0, 3],
                vec![1, 2],
                vec![1, 3],
                vec![2, 3]
            ]
        );
        let mut e: Vec<usize> = vec![];
        assert!(!next_combination(&mut e, 3));
    }
}
