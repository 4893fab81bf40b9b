//! Escaping, determinism, errors instead of panics, empty input, text measurement and colours.

mod support;

use rationale_viz::{
    aopc_curves, context_windows, escape, precision_recall_curves, text_width, Curve, CurveOptions,
    Heatmap, HeatmapOptions, Rgb, Scale, SequentialRationale, VizError,
};
use support::{assert_well_formed, review};

/// Tokens that break naive SVG/HTML writers.
const NASTY: [&str; 14] = [
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
];

fn nasty_scores() -> Vec<f64> {
    (0..NASTY.len())
        .map(|i| i as f64 / NASTY.len() as f64)
        .collect()
}

#[test]
fn escape_covers_markup_and_control_characters() {
    assert_eq!(
        escape("<a href=\"x\">&'</a>"),
        "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;"
    );
    assert_eq!(escape("tab\tline\nend"), "tab line end");
    assert_eq!(
        escape("a\u{0}b\u{1b}c\u{fffe}"),
        "a\u{fffd}b\u{fffd}c\u{fffd}"
    );
    assert_eq!(
        escape("שלום 😀 e\u{301}"),
        "שלום 😀 e\u{301}",
        "non-ASCII text passes through"
    );
}

#[test]
fn every_figure_escapes_tokens_labels_and_titles() {
    let scores = nasty_scores();
    let gold: Vec<bool> = (0..NASTY.len()).map(|i| i % 3 == 0).collect();
    let svg = Heatmap::new(&NASTY)
        .gold(&gold)
        .row("<b>IG</b>", &scores)
        .row_with_prediction("a&b \"c\"", &scores, &gold)
        .title("<title>& \"x\"")
        .render()
        .unwrap();
    assert_well_formed(&svg);
    assert!(!svg.contains("<script"), "raw <script> reached the SVG");
    assert!(!svg.contains("<b>"));
    assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(
        svg.contains(">&amp;amp;</text>"),
        "an entity-looking token is escaped again"
    );
    assert!(svg.contains("]]&gt;"));
    assert!(svg.contains("&lt;b&gt;IG&lt;/b&gt;"));
    assert!(svg.contains("&lt;title&gt;&amp; &quot;x&quot;"));
    for kept in ["😀", "שָׁלוֹם", "مرحبا", "e\u{301}\u{323}", "\u{202e}override"] {
        assert!(
            svg.contains(&format!(">{kept}</text>")),
            "{kept:?} kept as its own text element"
        );
    }
    assert!(
        svg.contains(">nul\u{fffd}bell\u{fffd}</text>"),
        "control characters replaced"
    );

    let seq = SequentialRationale::new(&NASTY, 5, &[0, 1, 2])
        .title("<t>")
        .render()
        .unwrap();
    assert_well_formed(&seq);
    assert!(!seq.contains("<script") && !seq.contains("<t>"));

    let x = [0.0, 0.5, 1.0];
    let c = [Curve {
        label: "<script>&\u{0}",
        x: &x,
        y: &x,
    }];
    let mut o = CurveOptions::aopc("<title> & \"q\"", "y <&> \u{7}");
    o.x_label = "'x'".to_string();
    for svg in [
        aopc_curves(&c, &o).unwrap(),
        precision_recall_curves(&c, &o).unwrap(),
    ] {
        assert_well_formed(&svg);
        assert!(!svg.contains("<script") && !svg.contains("<title>"));
        assert!(svg.contains("&lt;script&gt;&amp;\u{fffd}"));
    }
}

#[test]
fn identical_input_gives_identical_bytes() {
    let r = review();
    let build = || {
        Heatmap::new(&r.tokens)
            .gold(&r.gold)
            .row("IG", &r.ig)
            .row_with_prediction("attention", &r.attention, &r.top)
            .options(HeatmapOptions {
                context: Some(3),
                ..HeatmapOptions::default()
            })
            .render()
            .unwrap()
    };
    let first = build();
    // Also from other threads: no global state leaks into the output.
    let others: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(build)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for o in others {
        assert_eq!(first, o);
    }
    let x = [0.0, 0.1, 0.2];
    let c = [Curve {
        label: "m",
        x: &x,
        y: &[0.0, 0.33333333333, 0.5],
    }];
    let o = CurveOptions::aopc("t", "m");
    assert_eq!(aopc_curves(&c, &o).unwrap(), aopc_curves(&c, &o).unwrap());
}

#[test]
fn coordinates_use_fixed_short_formatting() {
    let r = review();
    let svg = Heatmap::new(&r.tokens).row("IG", &r.ig).render().unwrap();
    // Every number in an attribute has at most two decimals and there is no "-0".
    for attr in svg.split('"').skip(1).step_by(2) {
        if let Ok(v) = attr.parse::<f64>() {
            let decimals = attr.split('.').nth(1).map_or(0, str::len);
            assert!(decimals <= 2, "{attr} has {decimals} decimals");
            assert!(v.is_finite() && attr != "-0");
        }
    }
}

#[test]
fn non_finite_scores_are_errors_naming_row_and_index() {
    let tokens = ["a", "b", "c"];
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let scores = [0.1, bad, 0.3];
        let err = Heatmap::new(&tokens)
            .row("IG", &scores)
            .render()
            .unwrap_err();
        match &err {
            VizError::NonFinite { what, index, .. } => {
                assert!(what.contains("IG"));
                assert_eq!(*index, 1);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains("index 1"), "{err}");
        let err = aopc_curves(
            &[Curve {
                label: "m",
                x: &[0.0, 0.5, 1.0],
                y: &scores,
            }],
            &CurveOptions::aopc("", ""),
        )
        .unwrap_err();
        assert!(
            matches!(err, VizError::NonFinite { index: 1, .. }),
            "{err:?}"
        );
        let err = precision_recall_curves(
            &[Curve {
                label: "m",
                x: &scores,
                y: &[1.0; 3],
            }],
            &CurveOptions::precision_recall(""),
        );
        assert!(matches!(err, Err(VizError::NonFinite { .. })));
    }
}

#[test]
fn mismatched_lengths_and_bad_options_are_errors() {
    let tokens = ["a", "b", "c"];
    let s3 = [0.1, 0.2, 0.3];
    let cases: Vec<(&str, Result<String, VizError>)> = vec![
        (
            "gold",
            Heatmap::new(&tokens).gold(&[true]).row("m", &s3).render(),
        ),
        ("scores", Heatmap::new(&tokens).row("m", &[0.1]).render()),
        (
            "predicted",
            Heatmap::new(&tokens)
                .row_with_prediction("m", &s3, &[true; 4])
                .render(),
        ),
    ];
    for (what, r) in cases {
        assert!(
            matches!(r, Err(VizError::LengthMismatch { .. })),
            "{what}: {r:?}"
        );
    }
    let bad_opts = [
        HeatmapOptions {
            width: 10.0,
            ..HeatmapOptions::default()
        },
        HeatmapOptions {
            width: f64::NAN,
            ..HeatmapOptions::default()
        },
        HeatmapOptions {
            font_size: 0.0,
            ..HeatmapOptions::default()
        },
        HeatmapOptions {
            scale: Some(Scale::Sequential { min: 1.0, max: 1.0 }),
            ..HeatmapOptions::default()
        },
        HeatmapOptions {
            scale: Some(Scale::Diverging { limit: f64::NAN }),
            ..HeatmapOptions::default()
        },
    ];
    for o in bad_opts {
        let r = Heatmap::new(&tokens)
            .row("m", &s3)
            .options(o.clone())
            .render();
        assert!(
            matches!(r, Err(VizError::InvalidOption { .. })),
            "{o:?}: {r:?}"
        );
    }
    let r = Heatmap::new(&tokens).row("m", &s3).render_pages(0);
    assert!(matches!(
        r,
        Err(VizError::InvalidOption {
            name: "lines_per_page",
            ..
        })
    ));

    // Sequential rationales.
    assert!(matches!(
        SequentialRationale::new(&tokens, 3, &[]).render(),
        Err(VizError::IndexOutOfRange { .. })
    ));
    assert!(matches!(
        SequentialRationale::new(&tokens, 2, &[5]).render(),
        Err(VizError::IndexOutOfRange { .. })
    ));
    assert!(matches!(
        SequentialRationale::new(&tokens, 2, &[0, 0]).render(),
        Err(VizError::InvalidOption { .. })
    ));
    assert!(matches!(
        SequentialRationale::new(&tokens, 2, &[2]).render(),
        Err(VizError::InvalidOption { .. })
    ));
    let empty: [&str; 0] = [];
    assert!(SequentialRationale::new(&empty, 0, &[]).render().is_err());

    // Curves.
    let o = CurveOptions::aopc("t", "m");
    assert!(matches!(aopc_curves(&[], &o), Err(VizError::Empty(_))));
    assert!(matches!(
        aopc_curves(
            &[Curve {
                label: "m",
                x: &[],
                y: &[]
            }],
            &o
        ),
        Err(VizError::Empty(_))
    ));
    let r = aopc_curves(
        &[Curve {
            label: "m",
            x: &[0.0, 1.0],
            y: &[0.0],
        }],
        &o,
    );
    assert!(matches!(r, Err(VizError::LengthMismatch { .. })));
    let x = [0.0, 1.0];
    let c = [Curve {
        label: "m",
        x: &x,
        y: &x,
    }];
    let bad = CurveOptions {
        y_range: Some((1.0, 0.0)),
        ..o.clone()
    };
    assert!(matches!(
        aopc_curves(&c, &bad),
        Err(VizError::InvalidOption { .. })
    ));
    let tiny = CurveOptions { width: 10, ..o };
    assert!(matches!(
        aopc_curves(&c, &tiny),
        Err(VizError::InvalidOption { .. })
    ));
}

#[test]
fn degenerate_inputs_render() {
    let empty: [&str; 0] = [];
    for svg in [
        Heatmap::new(&empty).render().unwrap(),
        Heatmap::new(&empty)
            .gold(&[])
            .row("m", &[])
            .options(HeatmapOptions {
                context: Some(3),
                ..Default::default()
            })
            .render()
            .unwrap(),
    ] {
        assert_well_formed(&svg);
        assert!(svg.contains("(no tokens)"));
    }
    assert_eq!(Heatmap::new(&empty).render_pages(10).unwrap().len(), 1);
    // All-zero scores, a constant curve, a single point, one huge token.
    let tokens = ["x"; 5];
    assert_well_formed(&Heatmap::new(&tokens).row("m", &[0.0; 5]).render().unwrap());
    let c = [
        Curve {
            label: "flat",
            x: &[0.0, 0.5],
            y: &[0.3, 0.3],
        },
        Curve {
            label: "one",
            x: &[0.2],
            y: &[0.1],
        },
    ];
    assert_well_formed(&aopc_curves(&c, &CurveOptions::aopc("", "")).unwrap());
    let zero = [Curve {
        label: "zero",
        x: &[0.0, 0.0],
        y: &[0.0, 0.0],
    }];
    let svg = aopc_curves(&zero, &CurveOptions::aopc("", "")).unwrap();
    assert!(
        svg.contains(">\n1\n</text>"),
        "a degenerate range gets a unit axis"
    );
    let long = "w".repeat(500);
    let svg = Heatmap::new(&[long.as_str(), "ok"])
        .row("m", &[1.0, 0.0])
        .render()
        .unwrap();
    assert!(
        svg.contains("…</text>"),
        "an over-long token is shortened to fit the line"
    );
    // Context with no rationale anywhere falls back to the top-scored tokens' windows.
    let ten: Vec<String> = (0..40).map(|i| format!("t{i}")).collect();
    let mut s = vec![0.0; 40];
    s[20] = 1.0;
    let svg = Heatmap::new(&ten)
        .row("m", &s)
        .options(HeatmapOptions {
            context: Some(1),
            ..Default::default()
        })
        .render()
        .unwrap();
    assert!(svg.contains(">t20</text>") && svg.contains("tokens omitted"));
}

#[test]
fn context_windows_merge_and_clip() {
    let mut a = vec![false; 20];
    a[0] = true;
    a[5] = true;
    a[7] = true;
    a[19] = true;
    assert_eq!(context_windows(&a, 1), vec![0..2, 4..9, 18..20]);
    assert_eq!(context_windows(&a, 10), vec![0..20]);
    assert_eq!(
        context_windows(&[false; 3], 2),
        Vec::<std::ops::Range<usize>>::new()
    );
    assert_eq!(context_windows(&[true], usize::MAX), vec![0..1]);
}

#[test]
fn text_width_follows_the_font() {
    // DejaVu Sans advances (units per em 2048): 'i' 569, 'W' 2025, space 651.
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    assert!(close(text_width("iiii", 2048.0), 4.0 * 569.0));
    assert!(close(text_width("WWW", 2048.0), 3.0 * 2025.0));
    assert!(close(text_width(" ", 2048.0), 651.0));
    assert!(
        close(text_width("e\u{301}", 14.0), text_width("e", 14.0)),
        "combining mark adds no width"
    );
    assert!(close(text_width("", 14.0), 0.0));
    assert!(
        text_width("😀", 10.0) >= 10.0,
        "missing glyphs get a generous fallback"
    );
    assert!(
        close(text_width("ab", 28.0), 2.0 * text_width("ab", 14.0)),
        "linear in the size"
    );
}

#[test]
fn scales_are_monotone_in_lightness_and_pick_readable_text() {
    let seq = Scale::UNIT;
    let lum: Vec<f64> = (0..=20)
        .map(|i| seq.color(i as f64 / 20.0).luminance())
        .collect();
    assert!(
        lum.windows(2).all(|w| w[1] < w[0]),
        "sequential scale darkens steadily: {lum:?}"
    );
    let div = Scale::Diverging { limit: 2.0 };
    for i in 1..=20 {
        let (a, b) = (i as f64 / 10.0, (i - 1) as f64 / 10.0);
        assert!(
            div.color(a).luminance() < div.color(b).luminance(),
            "positive side darkens"
        );
        assert!(
            div.color(-a).luminance() < div.color(-b).luminance(),
            "negative side darkens"
        );
    }
    assert_eq!(div.color(0.0), Rgb(0xf7, 0xf7, 0xf7));
    assert_eq!(div.color(5.0), div.color(2.0), "clamped");
    assert_eq!(Rgb(0xf7, 0xf7, 0xf7).text_color(), Rgb(0, 0, 0));
    assert_eq!(seq.color(1.0).text_color(), Rgb(255, 255, 255));
    assert_eq!(div.color(-2.0).text_color(), Rgb(255, 255, 255));
    assert_eq!(Scale::auto(&[vec![0.2, 0.5]]), Scale::UNIT);
    assert_eq!(
        Scale::auto(&[vec![0.2], vec![-3.0, f64::NAN]]),
        Scale::Diverging { limit: 3.0 }
    );
    assert_eq!(
        Scale::auto(&[vec![4.0]]),
        Scale::Sequential { min: 0.0, max: 4.0 }
    );
}

#[test]
fn long_titles_labels_and_captions_are_shortened_to_fit() {
    let long = "an extremely long method name that would push the tokens off the page";
    let title =
        "A title far too long for a narrow figure, which would otherwise run past the right edge";
    let tokens = ["one", "two", "three"];
    let s = [0.1, 0.5, 0.9];
    let width = 240.0;
    let svg = Heatmap::new(&tokens)
        .gold(&[true, false, false])
        .row(long, &s)
        .row("b", &s)
        .title(title)
        .options(HeatmapOptions {
            width,
            ..Default::default()
        })
        .render_pages(5)
        .unwrap()
        .remove(0);
    assert_well_formed(&svg);
    assert!(
        svg.contains("… (page 1 of 1)</text>"),
        "title shortened, page kept"
    );
    // Tooltips keep the full label; drawn text is shortened.
    assert!(!svg.contains(&format!("{long}</text>")) && !svg.contains(title));
    // Every text element starts inside the figure and ends before its right edge.
    for piece in svg.split("<text ").skip(1) {
        let attr = |name: &str| -> f64 {
            let k = piece
                .find(&format!(" {name}=\""))
                .or_else(|| piece.find(&format!("{name}=\"")))
                .unwrap();
            let v = &piece[k..].split('"').nth(1).unwrap();
            v.parse().unwrap()
        };
        let (x, size) = (attr("x"), attr("font-size"));
        let content = &piece[piece.find('>').unwrap() + 1..piece.find("</text>").unwrap()];
        let w = text_width(content, size) * if piece.contains("bold") { 1.15 } else { 1.0 };
        let (start, end) = if piece.contains("text-anchor=\"end\"") {
            (x - w, x)
        } else if piece.contains("text-anchor=\"middle\"") {
            (x - w / 2.0, x + w / 2.0)
        } else {
            (x, x + w)
        };
        assert!(
            start >= 0.0 && end <= width,
            "{content:?} spans {start:.1}..{end:.1}"
        );
    }
    let seq = SequentialRationale::new(&tokens, 2, &[0])
        .title(title)
        .options(HeatmapOptions {
            width,
            ..Default::default()
        })
        .render()
        .unwrap();
    assert!(!seq.contains(title) && seq.contains("…</text>"));
}
