//! Soft scores against a 0/1 truth vector: AUPRC, average precision and ROC-AUC, each computed
//! as scikit-learn 0.20 does (`precision_recall_curve` + trapezoidal `auc`,
//! `average_precision_score`, `roc_auc_score` with `drop_intermediate`), in O(n log n).

use super::numeric::pairwise_sum;

/// Ranking metrics of one scored document.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranking {
    /// Area under the PR curve; `None` when the truth has no positive (sklearn 0.20: NaN).
    pub auprc: Option<f64>,
    /// `None` when the truth is all positive or all negative (the reference skips the document).
    pub average_precision: Option<f64>,
    /// `None` under the same condition as `average_precision`.
    pub roc_auc: Option<f64>,
}

/// A key whose unsigned order is the order of the scores (−0.0 and 0.0 are one score, as in
/// numpy's `diff`).
fn order_key(x: f64) -> u64 {
    let bits = if x == 0.0 { 0 } else { x.to_bits() };
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

/// Cumulative true and false positives at each distinct score, highest score first.
fn binary_curve(truth: &[bool], scores: &[f64]) -> (Vec<f64>, Vec<f64>) {
    // Sorting positives and negatives apart (plain integers) and merging is several times
    // faster than sorting (score, label) pairs with a comparator.
    let (mut pos, mut neg): (Vec<u64>, Vec<u64>) = (Vec::new(), Vec::new());
    for (&y, &s) in truth.iter().zip(scores) {
        if y { &mut pos } else { &mut neg }.push(order_key(s));
    }
    pos.sort_unstable_by(|a, b| b.cmp(a));
    neg.sort_unstable_by(|a, b| b.cmp(a));
    let (mut tps, mut fps) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < pos.len() || j < neg.len() {
        let current = pos
            .get(i)
            .copied()
            .max(neg.get(j).copied())
            .expect("one side left");
        while pos.get(i) == Some(&current) {
            i += 1;
        }
        while neg.get(j) == Some(&current) {
            j += 1;
        }
        tps.push(i as f64);
        fps.push(j as f64);
    }
    (tps, fps)
}

/// `np.trapz(y, x)`: Σ (x[j+1]−x[j])·(y[j+1]+y[j])/2, pairwise-summed.
fn trapz(y: &[f64], x: &[f64]) -> f64 {
    let terms: Vec<f64> = (0..x.len().saturating_sub(1))
        .map(|j| (x[j + 1] - x[j]) * (y[j + 1] + y[j]) / 2.0)
        .collect();
    pairwise_sum(&terms)
}

/// The precision–recall curve as scikit-learn draws it: `(recall, precision)` from full recall
/// down to the point (0, 1). `None` when the truth has no positive.
pub fn pr_curve(truth: &[bool], scores: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
    let (tps, fps) = binary_curve(truth, scores);
    pr_points(&tps, &fps)
}

fn pr_points(tps: &[f64], fps: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
    let positives = tps.last().copied().filter(|&p| p > 0.0)?;
    let last = tps.partition_point(|&t| t < positives);
    let mut recall: Vec<f64> = (0..=last).rev().map(|i| tps[i] / positives).collect();
    let mut precision: Vec<f64> = (0..=last)
        .rev()
        .map(|i| tps[i] / (tps[i] + fps[i]))
        .collect();
    recall.push(0.0);
    precision.push(1.0);
    Some((recall, precision))
}

/// Scores one document. `truth` and `scores` have equal length; scores must be finite.
pub fn rank(truth: &[bool], scores: &[f64]) -> Ranking {
    debug_assert_eq!(truth.len(), scores.len());
    let (tps, fps) = binary_curve(truth, scores);
    let positives = tps.last().copied().unwrap_or(0.0);
    let negatives = fps.last().copied().unwrap_or(0.0);
    let degenerate = positives == 0.0 || negatives == 0.0;
    if positives == 0.0 {
        return Ranking {
            auprc: None,
            average_precision: None,
            roc_auc: None,
        };
    }
    let (recall, precision) = pr_points(&tps, &fps).expect("positives checked");
    // Recall decreases along the curve, so sklearn's auc takes −trapz.
    let auprc = -trapz(&precision, &recall);
    if degenerate {
        return Ranking {
            auprc: Some(auprc),
            average_precision: None,
            roc_auc: None,
        };
    }
    let steps: Vec<f64> = (0..recall.len() - 1)
        .map(|j| (recall[j + 1] - recall[j]) * precision[j])
        .collect();
    let average_precision = -pairwise_sum(&steps);
    Ranking {
        auprc: Some(auprc),
        average_precision: Some(average_precision),
        roc_auc: Some(roc_auc(&tps, &fps)),
    }
}

fn roc_auc(tps: &[f64], fps: &[f64]) -> f64 {
    let n = tps.len();
    let keep: Vec<usize> = if n > 2 {
        (0..n)
            .filter(|&i| {
                i == 0
                    || i == n - 1
                    || (fps[i + 1] - fps[i]) - (fps[i] - fps[i - 1]) != 0.0
                    || (tps[i + 1] - tps[i]) - (tps[i] - tps[i - 1]) != 0.0
            })
            .collect()
    } else {
        (0..n).collect()
    };
    let (p, f) = (tps[n - 1], fps[n - 1]);
    let tpr: Vec<f64> = std::iter::once(0.0)
        .chain(keep.iter().map(|&i| tps[i] / p))
        .collect();
    let fpr: Vec<f64> = std::iter::once(0.0)
        .chain(keep.iter().map(|&i| fps[i] / f))
        .collect();
    trapz(&tpr, &fpr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_ranking_scores_one() {
        let r = rank(&[true, false, true, false], &[0.9, 0.1, 0.8, 0.2]);
        assert_eq!(r.auprc, Some(1.0));
        assert_eq!(r.average_precision, Some(1.0));
        assert_eq!(r.roc_auc, Some(1.0));
    }

    #[test]
    fn hand_derived_small_case() {
        // Order: 0.9(+) 0.8(-) 0.7(+) 0.1(-). PR points (r,p): (.5,1) (.5,.5) (1,2/3).
        // AUPRC = trapezoids from (0,1): .5*(1+1)/2 + 0 + .5*(.5+2/3)/2 = 0.5 + 0.291666...
        let r = rank(&[true, false, true, false], &[0.9, 0.8, 0.7, 0.1]);
        assert!((r.auprc.unwrap() - (0.5 + 0.5 * (0.5 + 2.0 / 3.0) / 2.0)).abs() < 1e-15);
        // AP = .5*1 + .5*(2/3)
        assert!((r.average_precision.unwrap() - (0.5 + 1.0 / 3.0)).abs() < 1e-15);
        // ROC: pairs (+,-) correctly ordered: (0.9>0.8),(0.9>0.1),(0.7>0.1) of 4 → 0.75
        assert!((r.roc_auc.unwrap() - 0.75).abs() < 1e-15);
    }

    #[test]
    fn all_tied_scores_form_one_point() {
        let r = rank(&[true, false, false, false], &[0.5; 4]);
        // Curve (0,1) → (1, 0.25): area 0.625.
        assert_eq!(r.auprc, Some(0.625));
        assert_eq!(r.average_precision, Some(0.25));
        assert_eq!(r.roc_auc, Some(0.5));
    }

    #[test]
    fn no_positive_or_single_class() {
        assert_eq!(rank(&[false, false], &[0.1, 0.2]).auprc, None);
        let all = rank(&[true, true], &[0.1, 0.2]);
        assert_eq!(all.auprc, Some(1.0));
        assert_eq!(all.average_precision, None);
    }

    #[test]
    fn signed_zeros_tie_and_order_follows_value() {
        let (t, f) = binary_curve(&[true, false, true, false], &[-0.0, 0.0, -1.5, 2.0]);
        assert_eq!((t, f), (vec![0.0, 1.0, 2.0], vec![1.0, 2.0, 2.0]));
    }
}
