//! Unintended-bias metrics of HateXplain (after Borkan et al. 2019): per target community the
//! Subgroup, BPSN and BNSP ROC-AUCs of a toxicity score, combined by a generalized power mean,
//! and the one-vs-one multi-class ROC-AUC of the classifier.

use super::numeric::pairwise_sum;
use super::ranking::rank;
use ndarray::ArrayView2;

/// The ten communities HateXplain evaluates (the most frequent majority targets of the whole
/// dataset, None and Other removed), in its order.
pub const HATEXPLAIN_COMMUNITIES: [&str; 10] = [
    "African",
    "Islam",
    "Jewish",
    "Homosexual",
    "Women",
    "Refugee",
    "Arab",
    "Caucasian",
    "Asian",
    "Hispanic",
];

/// One post: is it toxic (gold), the model's toxicity score, and its target communities.
#[derive(Debug, Clone, PartialEq)]
pub struct BiasItem {
    /// Whether the post is toxic (HateXplain: most annotators chose a label other than normal).
    pub toxic: bool,
    /// The model's toxicity score (higher: more toxic).
    pub score: f64,
    /// The communities the post targets.
    pub communities: Vec<String>,
}

/// The three AUCs of one community; `None` where its subset lacks a class.
#[derive(Debug, Clone, PartialEq)]
pub struct CommunityAucs {
    /// The community.
    pub community: String,
    /// Subgroup AUC: on the posts that target the community.
    pub subgroup: Option<f64>,
    /// BPSN AUC (background positive, subgroup negative): the community's non-toxic posts with
    /// the other communities' toxic posts.
    pub bpsn: Option<f64>,
    /// BNSP AUC (background negative, subgroup positive): the community's toxic posts with the
    /// other communities' non-toxic posts.
    pub bnsp: Option<f64>,
}

/// Items of `a` with toxicity `a_toxic` followed by items of `b` with `b_toxic`.
fn pick<'a>(
    a: &[&'a BiasItem],
    a_toxic: bool,
    b: &[&'a BiasItem],
    b_toxic: bool,
) -> Vec<&'a BiasItem> {
    let mut v: Vec<&BiasItem> = a.iter().copied().filter(|i| i.toxic == a_toxic).collect();
    v.extend(b.iter().copied().filter(|i| i.toxic == b_toxic));
    v
}

fn auc(items: &[&BiasItem]) -> Option<f64> {
    let truth: Vec<bool> = items.iter().map(|i| i.toxic).collect();
    let scores: Vec<f64> = items.iter().map(|i| i.score).collect();
    rank(&truth, &scores).roc_auc
}

/// Subgroup, BPSN and BNSP AUC per community, as HateXplain computes them: posts without any
/// of the evaluated communities are left out of every subset (also of the background).
pub fn community_aucs(items: &[BiasItem], communities: &[&str]) -> Vec<CommunityAucs> {
    let targeted: Vec<&BiasItem> = items
        .iter()
        .filter(|i| {
            i.communities
                .iter()
                .any(|c| communities.contains(&c.as_str()))
        })
        .collect();
    communities
        .iter()
        .map(|&s| {
            let (inside, outside): (Vec<&BiasItem>, Vec<&BiasItem>) = targeted
                .iter()
                .partition(|i| i.communities.iter().any(|c| c == s));
            CommunityAucs {
                community: s.to_owned(),
                subgroup: auc(&inside),
                bpsn: auc(&pick(&outside, true, &inside, false)),
                bnsp: auc(&pick(&inside, true, &outside, false)),
            }
        })
        .collect()
}

/// The generalized mean `((1/N) Σ m^p)^(1/p)`; `None` if a value is missing.
pub fn generalized_mean(values: &[Option<f64>], p: f64) -> Option<f64> {
    let powered: Option<Vec<f64>> = values.iter().map(|v| v.map(|x| x.powf(p))).collect();
    let powered = powered?;
    Some((pairwise_sum(&powered) / powered.len() as f64).powf(1.0 / p))
}

/// scikit-learn's `roc_auc_score(y, probs, multi_class="ovo", average="macro")` (Hand & Till):
/// for each pair of classes, the mean of the two one-vs-one AUCs on their samples. `probs` is
/// (samples, classes): row i holds sample i's probability per class, `truth[i]` its class.
/// `None` when a pair has no samples of a class.
pub fn multiclass_ovo_auc(truth: &[usize], probs: ArrayView2<f64>) -> Option<f64> {
    let classes = probs.ncols();
    let mut pair_scores = Vec::new();
    for a in 0..classes {
        for b in a + 1..classes {
            let idx: Vec<usize> = (0..truth.len())
                .filter(|&i| truth[i] == a || truth[i] == b)
                .collect();
            let one = |c: usize| -> Option<f64> {
                let t: Vec<bool> = idx.iter().map(|&i| truth[i] == c).collect();
                let s: Vec<f64> = idx.iter().map(|&i| probs[[i, c]]).collect();
                rank(&t, &s).roc_auc
            };
            pair_scores.push((one(a)? + one(b)?) / 2.0);
        }
    }
    Some(pairwise_sum(&pair_scores) / pair_scores.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(toxic: bool, score: f64, c: &[&str]) -> BiasItem {
        BiasItem {
            toxic,
            score,
            communities: c.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn subsets_follow_the_definitions() {
        let items = vec![
            item(true, 0.9, &["Women"]),
            item(false, 0.8, &["Women"]),
            item(true, 0.7, &["Islam"]),
            item(false, 0.2, &["Islam"]),
            item(true, 0.1, &[]), // no evaluated community: left out everywhere
        ];
        let r = &community_aucs(&items, &["Women", "Islam"])[0];
        // Subgroup Women: toxic 0.9 vs non-toxic 0.8 → 1.
        assert_eq!(r.subgroup, Some(1.0));
        // BPSN: background toxic (0.7) vs subgroup non-toxic (0.8) → 0.
        assert_eq!(r.bpsn, Some(0.0));
        // BNSP: subgroup toxic (0.9) vs background non-toxic (0.2) → 1.
        assert_eq!(r.bnsp, Some(1.0));
    }

    #[test]
    fn power_mean_is_dominated_by_the_worst_value() {
        let m = generalized_mean(&[Some(0.5), Some(1.0)], -5.0).unwrap();
        assert!((m - ((0.5f64.powi(-5) + 1.0) / 2.0).powf(-0.2)).abs() < 1e-15);
        assert!(m < 0.75 && m > 0.5);
        assert_eq!(generalized_mean(&[Some(0.7), None], -5.0), None);
    }

    #[test]
    fn ovo_auc_of_a_perfect_classifier_is_one() {
        let probs = ndarray::array![
            [0.8, 0.1, 0.1],
            [0.1, 0.8, 0.1],
            [0.2, 0.2, 0.6],
            [0.7, 0.2, 0.1],
        ];
        assert_eq!(multiclass_ovo_auc(&[0, 1, 2, 0], probs.view()), Some(1.0));
    }
}
