//! JSON exactly as Python's `json.dump(obj, f, indent=4, sort_keys=True)` writes it:
//! `repr` floats, `NaN`/`Infinity`, ASCII-escaped strings, sorted keys.

use std::collections::BTreeMap;
use std::fmt::Write;

/// A JSON value with Python's number model (ints and floats are distinct).
#[derive(Debug, Clone, PartialEq)]
pub enum PyJson {
    /// `null` (Python `None`).
    Null,
    /// An integer, written without a decimal point.
    Int(i64),
    /// A float, written as Python's `repr` (`1.0`, `1e-05`, `NaN`, `Infinity`).
    Float(f64),
    /// A string, written as Python's `json` does (`ensure_ascii`: `\uXXXX` escapes).
    Str(String),
    /// A list.
    List(Vec<PyJson>),
    /// Keys are kept sorted (by code point, as Python's `sort_keys`).
    Dict(BTreeMap<String, PyJson>),
}

impl From<f64> for PyJson {
    fn from(x: f64) -> Self {
        PyJson::Float(x)
    }
}

impl From<Option<f64>> for PyJson {
    fn from(x: Option<f64>) -> Self {
        x.map_or(PyJson::Null, PyJson::Float)
    }
}

impl From<u64> for PyJson {
    fn from(x: u64) -> Self {
        PyJson::Int(x as i64)
    }
}

/// Builds a dict from `(key, value)` pairs.
pub(crate) fn dict<K: Into<String>, V: Into<PyJson>>(
    items: impl IntoIterator<Item = (K, V)>,
) -> PyJson {
    PyJson::Dict(
        items
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect(),
    )
}

/// Python's `repr(float)`: shortest round-trip digits; scientific notation when the decimal
/// exponent is below −4 or at least 16.
pub(crate) fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("integer exponent");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if !(-4..16).contains(&exp) {
        let mut m = digits[..1].to_string();
        if digits.len() > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{m}e{esign}{:02}", exp.abs());
    }
    let n = digits.len() as i32;
    let body = if exp < 0 {
        format!("0.{}{}", "0".repeat((-exp - 1) as usize), digits)
    } else if exp + 1 >= n {
        format!("{}{}.0", digits, "0".repeat((exp + 1 - n) as usize))
    } else {
        let (a, b) = digits.split_at((exp + 1) as usize);
        format!("{a}.{b}")
    };
    format!("{sign}{body}")
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_value(out: &mut String, v: &PyJson, depth: usize) {
    let pad = |out: &mut String, d: usize| {
        out.push('\n');
        out.push_str(&" ".repeat(4 * d));
    };
    match v {
        PyJson::Null => out.push_str("null"),
        PyJson::Int(i) => {
            let _ = write!(out, "{i}");
        }
        PyJson::Float(x) => out.push_str(&float_repr(*x)),
        PyJson::Str(s) => write_str(out, s),
        PyJson::List(items) if items.is_empty() => out.push_str("[]"),
        PyJson::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                pad(out, depth + 1);
                write_value(out, item, depth + 1);
            }
            pad(out, depth);
            out.push(']');
        }
        PyJson::Dict(map) if map.is_empty() => out.push_str("{}"),
        PyJson::Dict(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                pad(out, depth + 1);
                write_str(out, k);
                out.push_str(": ");
                write_value(out, item, depth + 1);
            }
            pad(out, depth);
            out.push('}');
        }
    }
}

impl PyJson {
    /// The text `json.dump(value, f, indent=4, sort_keys=True)` writes (no trailing newline).
    pub fn to_python_string(&self) -> String {
        let mut out = String::new();
        write_value(&mut out, self, 0);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_python() {
        let cases = [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (0.28750000000000003, "0.28750000000000003"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1.5e-7, "1.5e-07"),
            (1e16, "1e+16"),
            (1234567890123456.0, "1234567890123456.0"),
            (1.2345e20, "1.2345e+20"),
            (-0.5, "-0.5"),
            (123.456, "123.456"),
            (-0.0, "-0.0"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
        ];
        for (x, want) in cases {
            assert_eq!(float_repr(x), want, "{x:e}");
        }
    }

    #[test]
    fn layout_matches_json_dump_indent_4() {
        let v = dict([
            ("b", PyJson::List(vec![PyJson::Int(1), PyJson::Float(0.5)])),
            ("a", dict([("z", PyJson::Null)])),
            ("c", PyJson::List(vec![])),
            ("é\"", PyJson::Str("<\u{1F600}>".into())),
        ]);
        assert_eq!(
            v.to_python_string(),
            "{\n    \"a\": {\n        \"z\": null\n    },\n    \"b\": [\n        1,\n        0.5\n    ],\n    \"c\": [],\n    \"\\u00e9\\\"\": \"<\\ud83d\\ude00>\"\n}"
        );
    }
}
