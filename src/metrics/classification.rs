//! Accuracy and scikit-learn 0.20's `classification_report(output_dict=True)`.

use super::numeric::pairwise_sum;

/// Precision, recall, F1 and support of one class or one average.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassScores {
    /// `precision` (0 when nothing is predicted).
    pub precision: f64,
    /// `recall` (0 when the class has no instance).
    pub recall: f64,
    /// `f1-score` (0 when there is no true positive).
    pub f1: f64,
    /// `support`: gold instances of the class (all instances for an average).
    pub support: u64,
}

/// The per-class rows and the micro, macro and weighted averages.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassificationReport {
    /// The labels, in the order given (`truth` and `pred` index them).
    pub labels: Vec<String>,
    /// One row per label, in `labels` order.
    pub per_class: Vec<ClassScores>,
    /// `micro avg` (scikit-learn 0.20's key): global counts over all classes.
    pub micro: ClassScores,
    /// `macro avg`: unweighted mean of the per-class rows.
    pub macro_avg: ClassScores,
    /// `weighted avg`: mean of the per-class rows weighted by support.
    pub weighted: ClassScores,
    /// Fraction of predictions equal to the truth (0 when there are none).
    pub accuracy: f64,
}

fn divide(num: f64, den: f64) -> f64 {
    if den == 0.0 {
        0.0
    } else {
        num / den
    }
}

/// sklearn's F-beta with beta = 1: `(1+β²)·p·r / (β²·p + r)`, 0 where there is no true positive.
fn f_score(p: f64, r: f64, tp: f64) -> f64 {
    if tp == 0.0 {
        0.0
    } else {
        2.0 * p * r / (1.0 * p + r)
    }
}

/// Scores predictions `pred[i]` against `truth[i]`, both indices into `labels`.
pub fn classification_report(
    labels: &[String],
    truth: &[usize],
    pred: &[usize],
) -> ClassificationReport {
    let k = labels.len();
    let (mut tp, mut pred_n, mut true_n) = (vec![0u64; k], vec![0u64; k], vec![0u64; k]);
    for (&t, &p) in truth.iter().zip(pred) {
        true_n[t] += 1;
        pred_n[p] += 1;
        if t == p {
            tp[t] += 1;
        }
    }
    let per_class: Vec<ClassScores> = (0..k)
        .map(|c| {
            let precision = divide(tp[c] as f64, pred_n[c] as f64);
            let recall = divide(tp[c] as f64, true_n[c] as f64);
            ClassScores {
                precision,
                recall,
                f1: f_score(precision, recall, tp[c] as f64),
                support: true_n[c],
            }
        })
        .collect();
    let total: u64 = true_n.iter().sum();
    let mean = |f: fn(&ClassScores) -> f64| -> f64 {
        let v: Vec<f64> = per_class.iter().map(f).collect();
        pairwise_sum(&v) / k as f64
    };
    let weighted = |f: fn(&ClassScores) -> f64| -> f64 {
        let v: Vec<f64> = per_class.iter().map(|c| f(c) * c.support as f64).collect();
        pairwise_sum(&v) / total as f64
    };
    let macro_avg = ClassScores {
        precision: mean(|c| c.precision),
        recall: mean(|c| c.recall),
        f1: mean(|c| c.f1),
        support: total,
    };
    let weighted = ClassScores {
        precision: weighted(|c| c.precision),
        recall: weighted(|c| c.recall),
        f1: weighted(|c| c.f1),
        support: total,
    };
    let tp_all: u64 = tp.iter().sum();
    let pred_all: u64 = pred_n.iter().sum();
    let (mp, mr) = (
        divide(tp_all as f64, pred_all as f64),
        divide(tp_all as f64, total as f64),
    );
    let micro = ClassScores {
        precision: mp,
        recall: mr,
        f1: f_score(mp, mr, tp_all as f64),
        support: total,
    };
    ClassificationReport {
        labels: labels.to_vec(),
        per_class,
        micro,
        macro_avg,
        weighted,
        accuracy: divide(tp_all as f64, truth.len() as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_report() {
        // eraser fixture: truth NEG POS entailment POS; predicted NEG NEG entailment POS.
        let labels: Vec<String> = ["NEG", "POS", "entailment"].map(String::from).to_vec();
        let r = classification_report(&labels, &[0, 1, 2, 1], &[0, 0, 2, 1]);
        assert_eq!(r.accuracy, 0.75);
        assert_eq!(r.per_class[0].precision, 0.5);
        assert_eq!(r.per_class[1].recall, 0.5);
        assert_eq!(r.macro_avg.f1, 0.7777777777777777);
        assert_eq!(r.weighted.precision, 0.875);
        assert_eq!(r.micro.f1, 0.75);
        assert_eq!(r.macro_avg.support, 4);
    }
}
