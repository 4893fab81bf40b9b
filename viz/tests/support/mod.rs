//! A small well-formedness check for the SVGs (no XML crate needed): balanced tags, quoted
//! attributes, only known entities, no characters XML 1.0 forbids. Shared by the test files.

#![allow(dead_code)]

/// Panics with a message if `svg` is not well-formed; returns the number of elements.
pub fn assert_well_formed(svg: &str) -> usize {
    for (i, c) in svg.char_indices() {
        let ok = matches!(c, '\t' | '\n' | '\r')
            || !(c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}');
        assert!(ok, "forbidden character {c:?} at byte {i}");
    }
    let b = svg.as_bytes();
    let mut stack: Vec<String> = Vec::new();
    let mut roots = 0;
    let mut elements = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'<' => {
                let end = find_tag_end(svg, i);
                let tag = &svg[i + 1..end];
                if let Some(name) = tag.strip_prefix('/') {
                    let open = stack
                        .pop()
                        .unwrap_or_else(|| panic!("stray </{name}> at byte {i}"));
                    assert_eq!(open, name.trim(), "</{name}> closes <{open}> at byte {i}");
                } else {
                    let self_closing = tag.ends_with('/');
                    let body = tag.trim_end_matches('/');
                    let name: String = body.chars().take_while(|c| !c.is_whitespace()).collect();
                    assert!(
                        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()),
                        "bad tag name {name:?} at byte {i}"
                    );
                    check_attributes(&body[name.len()..], i);
                    if stack.is_empty() {
                        roots += 1;
                    }
                    elements += 1;
                    if !self_closing {
                        stack.push(name);
                    }
                }
                i = end + 1;
            }
            b'&' => {
                i = check_entity(svg, i);
            }
            b'>' => panic!("unescaped '>' in text at byte {i}"),
            _ => i += 1,
        }
    }
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
    assert_eq!(roots, 1, "exactly one root element");
    elements
}

fn find_tag_end(svg: &str, start: usize) -> usize {
    let b = svg.as_bytes();
    let mut quoted = false;
    for (k, &c) in b.iter().enumerate().skip(start + 1) {
        match c {
            b'"' => quoted = !quoted,
            b'<' if !quoted => panic!("'<' inside a tag at byte {k}"),
            b'<' => panic!("'<' inside an attribute value at byte {k}"),
            b'>' if !quoted => return k,
            _ => {}
        }
    }
    panic!("unterminated tag at byte {start}");
}

fn check_attributes(mut rest: &str, at: usize) {
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return;
        }
        let eq = rest
            .find('=')
            .unwrap_or_else(|| panic!("attribute without value near byte {at}: {rest:?}"));
        let name = &rest[..eq];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':'),
            "bad attribute name {name:?} near byte {at}"
        );
        let after = &rest[eq + 1..];
        assert!(
            after.starts_with('"'),
            "unquoted attribute {name} near byte {at}"
        );
        let close = after[1..]
            .find('"')
            .unwrap_or_else(|| panic!("unterminated attribute near byte {at}"));
        let value = &after[1..1 + close];
        let mut k = 0;
        while let Some(p) = value[k..].find('&') {
            k = check_entity(value, k + p);
        }
        rest = &after[close + 2..];
    }
}

/// Checks the entity starting at `i` and returns the index after it.
fn check_entity(s: &str, i: usize) -> usize {
    let semi = s[i..]
        .find(';')
        .map(|p| i + p)
        .unwrap_or_else(|| panic!("bare '&' at byte {i}"));
    let name = &s[i + 1..semi];
    let ok = matches!(name, "amp" | "lt" | "gt" | "quot" | "apos")
        || (name.starts_with('#')
            && name[1..].chars().all(|c| c.is_ascii_digit())
            && name.len() > 1);
    assert!(ok, "unknown entity &{name}; at byte {i}");
    semi + 1
}

/// Compares `svg` with `tests/golden/<name>`, or rewrites it when `UPDATE_GOLDEN=1`.
pub fn check_golden(name: &str, svg: &str) {
    assert_well_formed(svg);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&path, svg).expect("write golden file");
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    if want != svg {
        let at = want
            .bytes()
            .zip(svg.bytes())
            .position(|(a, b)| a != b)
            .unwrap_or(want.len().min(svg.len()));
        let lo = at.saturating_sub(80);
        panic!(
            "{name} differs from its golden file at byte {at}\n  golden: {:?}\n  now:    {:?}\n\
             rerun with UPDATE_GOLDEN=1 if the change is intended, and look at the figure",
            want.get(lo..(at + 80).min(want.len())).unwrap_or(""),
            svg.get(lo..(at + 80).min(svg.len())).unwrap_or("")
        );
    }
}

/// A short movie review: tokens, gold rationale, and three methods' scores.
pub struct Review {
    pub tokens: Vec<&'static str>,
    pub gold: Vec<bool>,
    pub ig: Vec<f64>,
    pub lime: Vec<f64>,
    pub attention: Vec<f64>,
    pub top: Vec<bool>,
}

pub fn review() -> Review {
    let tokens: Vec<&str> = "a quietly stunning film , with a superb cast and a script that never \
        once talks down to its audience . the ending drags , but i loved it ."
        .split_whitespace()
        .collect();
    let gold_words = ["stunning", "superb", "loved"];
    let gold = tokens.iter().map(|t| gold_words.contains(t)).collect();
    // Fixed, hand-written scores (no randomness): strong on sentiment words.
    let score = |t: &str, signed: bool| match t {
        "stunning" | "superb" | "loved" => 0.9,
        "quietly" | "never" => 0.45,
        "drags" if signed => -0.7,
        "drags" => 0.3,
        "," | "." => 0.02,
        _ if signed => -0.05,
        _ => 0.08,
    };
    let ig: Vec<f64> = tokens.iter().map(|t| score(t, true)).collect();
    let lime: Vec<f64> = ig
        .iter()
        .enumerate()
        .map(|(i, s)| s * if i % 2 == 0 { 0.8 } else { 1.1 })
        .collect();
    let attention: Vec<f64> = tokens.iter().map(|t| score(t, false)).collect();
    let top = attention.iter().map(|&s| s > 0.4).collect();
    Review {
        tokens,
        gold,
        ig,
        lime,
        attention,
        top,
    }
}
