//! Golden snapshots: the exact SVG bytes of each figure kind. `UPDATE_GOLDEN=1 cargo test -p
//! rationale-viz --test golden` rewrites them; render the changed ones and look before committing.

mod support;

use rationale_viz::{
    aopc_curves, precision_recall_curves, Curve, CurveOptions, Heatmap, HeatmapOptions, Scale,
    SequentialRationale,
};
use support::{check_golden, review};

#[test]
fn heatmap_single_method_with_gold_and_prediction() {
    let r = review();
    let svg = Heatmap::new(&r.tokens)
        .gold(&r.gold)
        .row_with_prediction("attention", &r.attention, &r.top)
        .title("Attention vs the human rationale")
        .options(HeatmapOptions {
            width: 520.0,
            ..HeatmapOptions::default()
        })
        .render()
        .unwrap();
    check_golden("heatmap_single.svg", &svg);
}

#[test]
fn heatmap_grid_shares_a_diverging_scale() {
    let r = review();
    let svg = Heatmap::new(&r.tokens)
        .gold(&r.gold)
        .row("IG", &r.ig)
        .row("LIME", &r.lime)
        .row_with_prediction("attention", &r.attention, &r.top)
        .title("Three methods, one scale")
        .options(HeatmapOptions {
            width: 560.0,
            ..HeatmapOptions::default()
        })
        .render()
        .unwrap();
    assert!(
        svg.contains("rv-div"),
        "negative scores pick the diverging scale"
    );
    check_golden("heatmap_grid.svg", &svg);
}

#[test]
fn heatmap_context_window_marks_omitted_tokens() {
    let r = review();
    let opts = HeatmapOptions {
        context: Some(2),
        scale: Some(Scale::UNIT),
        ..HeatmapOptions::default()
    };
    let svg = Heatmap::new(&r.tokens)
        .gold(&r.gold)
        .row("attention", &r.attention)
        .options(opts)
        .render()
        .unwrap();
    assert!(svg.contains("tokens omitted"));
    check_golden("heatmap_context.svg", &svg);
}

#[test]
fn heatmap_pages_each_carry_title_and_legend() {
    let r = review();
    let opts = HeatmapOptions {
        width: 300.0,
        ..HeatmapOptions::default()
    };
    let pages = Heatmap::new(&r.tokens)
        .gold(&r.gold)
        .row("IG", &r.ig)
        .title("Review")
        .options(opts)
        .render_pages(3)
        .unwrap();
    assert!(pages.len() >= 2, "a narrow figure needs several pages");
    let n = pages.len();
    for (i, page) in pages.iter().enumerate() {
        assert!(page.contains(&format!("Review (page {} of {n})", i + 1)));
        assert!(page.contains("gold rationale"));
    }
    check_golden("heatmap_page1.svg", &pages[0]);
    check_golden("heatmap_page_last.svg", &pages[n - 1]);
}

#[test]
fn heatmap_gold_only_and_empty_document() {
    let r = review();
    let svg = Heatmap::new(&r.tokens).gold(&r.gold).render().unwrap();
    assert!(!svg.contains("linearGradient"), "no scores, no colour bar");
    check_golden("heatmap_gold_only.svg", &svg);

    let none: [&str; 0] = [];
    let svg = Heatmap::new(&none)
        .row("IG", &[])
        .title("Empty")
        .render()
        .unwrap();
    assert!(svg.contains("(no tokens)"));
    check_golden("heatmap_empty.svg", &svg);
}

#[test]
fn sequential_rationale_numbers_selections() {
    let tokens: Vec<&str> =
        "the cat that the dog chased across the yard finally climbed onto the roof"
            .split(' ')
            .collect();
    let svg = SequentialRationale::new(&tokens, 10, &[1, 9, 0, 4])
        .title("Greedy rationale for \u{201c}climbed\u{201d}")
        .options(HeatmapOptions {
            width: 560.0,
            ..HeatmapOptions::default()
        })
        .render()
        .unwrap();
    for n in 1..=4 {
        assert!(svg.contains(&format!(">{n}</text>")), "badge {n}");
    }
    check_golden("sequential.svg", &svg);
}

#[test]
fn aopc_and_precision_recall_curves() {
    let fr = [0.0, 0.01, 0.05, 0.1, 0.2, 0.5];
    let curves = [
        Curve {
            label: "IG (AOPC 0.41)",
            x: &fr,
            y: &[0.0, 0.12, 0.31, 0.44, 0.55, 0.71],
        },
        Curve {
            label: "LIME (AOPC 0.35)",
            x: &fr,
            y: &[0.0, 0.08, 0.25, 0.38, 0.49, 0.66],
        },
        Curve {
            label: "random",
            x: &fr,
            y: &[0.0, 0.01, 0.03, 0.07, 0.15, 0.38],
        },
    ];
    let svg = aopc_curves(
        &curves,
        &CurveOptions::aopc("Comprehensiveness", "comprehensiveness"),
    )
    .unwrap();
    check_golden("aopc.svg", &svg);

    let recall = [0.0, 0.25, 0.5, 0.75, 1.0];
    let pr = [
        Curve {
            label: "IG",
            x: &recall,
            y: &[1.0, 0.9, 0.8, 0.6, 0.4],
        },
        Curve {
            label: "attention",
            x: &recall,
            y: &[1.0, 0.6, 0.5, 0.45, 0.4],
        },
    ];
    let svg =
        precision_recall_curves(&pr, &CurveOptions::precision_recall("Precision–recall")).unwrap();
    check_golden("precision_recall.svg", &svg);
}
