//! Writes one SVG of each figure kind, from synthetic scores, into a folder (default `figures`).
//!
//! `cargo run -p rationale-viz --example figures -- /tmp/figs`

use std::path::PathBuf;

use rationale_viz::{
    aopc_curves, precision_recall_curves, Curve, CurveOptions, Heatmap, HeatmapOptions, Result,
    Scale, SequentialRationale,
};

const REVIEW: &str = "this film is a delight from start to finish . the acting is superb , \
especially the lead who brings warmth and wit to every scene . the plot drags a little in the \
middle , and one subplot feels tacked on , but the score is lovely and the photography is \
stunning . i laughed , i cried , and i would happily watch it again . highly recommended .";

/// Deterministic pseudo-scores: high on sentiment words, low elsewhere.
fn scores(tokens: &[&str], signed: bool, seed: u64) -> Vec<f64> {
    let strong = [
        "delight",
        "superb",
        "warmth",
        "wit",
        "lovely",
        "stunning",
        "recommended",
        "highly",
        "laughed",
    ];
    let weak = ["drags", "tacked", "little"];
    let mut x = seed;
    tokens
        .iter()
        .map(|t| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let noise = ((x >> 33) % 1000) as f64 / 1000.0 * 0.25;
            if strong.contains(t) {
                0.7 + noise
            } else if weak.contains(t) {
                if signed {
                    -0.5 - noise
                } else {
                    0.35 + noise
                }
            } else if signed {
                noise - 0.12
            } else {
                noise * 0.8
            }
        })
        .collect()
}

fn main() -> Result<()> {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "figures".into()));
    std::fs::create_dir_all(&out).expect("create output folder");
    let write =
        |name: &str, svg: String| std::fs::write(out.join(name), svg).expect("write figure");

    let tokens: Vec<&str> = REVIEW.split_whitespace().collect();
    let gold: Vec<bool> = tokens
        .iter()
        .map(|t| {
            [
                "delight",
                "superb",
                "lovely",
                "stunning",
                "highly",
                "recommended",
                "warmth",
                "wit",
            ]
            .contains(t)
        })
        .collect();
    let ig = scores(&tokens, true, 1);
    let lime = scores(&tokens, true, 2);
    let attn = scores(&tokens, false, 3);
    let top: Vec<bool> = attn.iter().map(|&s| s > 0.6).collect();

    let single = Heatmap::new(&tokens)
        .gold(&gold)
        .row_with_prediction("attention", &attn, &top);
    write(
        "heatmap.svg",
        single
            .clone()
            .title("Attention, movie review (sequential scale)")
            .render()?,
    );

    let grid = Heatmap::new(&tokens)
        .gold(&gold)
        .row("IG", &ig)
        .row("LIME", &lime)
        .row_with_prediction("attention", &attn, &top)
        .title("Three methods, one shared diverging scale");
    write("grid.svg", grid.render()?);
    write("nasty.svg", nasty()?);
    let narrow = HeatmapOptions {
        width: 240.0,
        ..HeatmapOptions::default()
    };
    let long_label = "an extremely long method name that would push the tokens off the page";
    let narrow_fig = Heatmap::new(&tokens[..12])
        .gold(&gold[..12])
        .row(long_label, &ig[..12])
        .row_with_prediction("b", &attn[..12], &top[..12])
        .title("A title far too long for a narrow figure, which would run past the edge")
        .options(narrow);
    write("narrow.svg", narrow_fig.render_pages(4)?.remove(0));

    // A long document (~800 tokens): windows around the rationale, and pages.
    let long: Vec<&str> = tokens.iter().copied().cycle().take(800).collect();
    let long_gold: Vec<bool> = (0..800)
        .map(|i| (120..128).contains(&i) || (610..614).contains(&i))
        .collect();
    let long_scores = scores(&long, false, 4);
    let opts = HeatmapOptions {
        context: Some(6),
        ..HeatmapOptions::default()
    };
    let windowed = Heatmap::new(&long)
        .gold(&long_gold)
        .row("occlusion", &long_scores)
        .title("Context 6 around the gold rationale");
    write("context.svg", windowed.clone().options(opts).render()?);
    let pages = windowed
        .title("Whole document")
        .options(HeatmapOptions {
            scale: Some(Scale::UNIT),
            ..HeatmapOptions::default()
        })
        .render_pages(25)?;
    for (i, p) in pages.into_iter().enumerate() {
        write(&format!("page-{}.svg", i + 1), p);
    }

    let lm: Vec<&str> = "the cat that the dog chased across the yard finally climbed onto the roof"
        .split(' ')
        .collect();
    let seq = SequentialRationale::new(&lm, 10, &[1, 9, 0, 4])
        .title("Greedy rationale for predicting \u{201c}climbed\u{201d}");
    write("sequential.svg", seq.render()?);

    let fr = [0.0, 0.01, 0.05, 0.1, 0.2, 0.5];
    let c = [
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
            label: "attention (AOPC 0.22)",
            x: &fr,
            y: &[0.0, 0.04, 0.12, 0.21, 0.33, 0.52],
        },
        Curve {
            label: "random",
            x: &fr,
            y: &[0.0, 0.01, 0.03, 0.07, 0.15, 0.38],
        },
    ];
    write(
        "aopc.svg",
        aopc_curves(
            &c,
            &CurveOptions::aopc("Comprehensiveness vs tokens removed", "comprehensiveness"),
        )?,
    );
    let r1 = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0];
    let p1 = [1.0, 0.9, 0.85, 0.7, 0.55, 0.3];
    let p2 = [1.0, 0.7, 0.6, 0.5, 0.4, 0.3];
    let pr = [
        Curve {
            label: "IG (AUPRC 0.74)",
            x: &r1,
            y: &p1,
        },
        Curve {
            label: "LIME (AUPRC 0.58)",
            x: &r1,
            y: &p2,
        },
    ];
    write(
        "pr.svg",
        precision_recall_curves(
            &pr,
            &CurveOptions::precision_recall("Precision–recall, one document"),
        )?,
    );
    Ok(())
}

/// Hostile tokens (markup, entities, emoji, right-to-left, combining marks, controls).
fn nasty() -> Result<String> {
    let tokens = [
        "<script>alert(1)</script>",
        "&",
        "&amp;",
        "\"double\"",
        "'single'",
        "]]>",
        "😀",
        "👩\u{200d}👩\u{200d}👧",
        "שָׁלוֹם",
        "مرحبا",
        "e\u{301}\u{323}",
        "\u{202e}override",
        "nul\u{0}bell\u{7}",
        "",
        "naïve",
        "Straße",
        "日本語",
        "WAVE",
        "fi",
        "end",
    ];
    let scores: Vec<f64> = (0..tokens.len())
        .map(|i| i as f64 / tokens.len() as f64)
        .collect();
    let gold: Vec<bool> = (0..tokens.len()).map(|i| i % 3 == 0).collect();
    Heatmap::new(&tokens)
        .gold(&gold)
        .row_with_prediction("a&b \"c\"", &scores, &gold)
        .title("<title>& \"x\"")
        .render()
}
