//! JSON as Python writes it: numbers may be `NaN`, `Infinity` or `-Infinity`.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;

/// A JSON number that may also be Python's `NaN`, `Infinity` or `-Infinity`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
#[repr(transparent)]
pub struct Num(pub f64);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NumVisitor;
        impl Visitor<'_> for NumVisitor {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E>(self, v: f64) -> Result<Num, E> {
                Ok(Num(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Num, E> {
                Ok(Num(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Num, E> {
                Ok(Num(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Num, E> {
                match v {
                    NAN_MARK => Ok(Num(f64::NAN)),
                    INF_MARK => Ok(Num(f64::INFINITY)),
                    NEG_INF_MARK => Ok(Num(f64::NEG_INFINITY)),
                    _ => Err(E::invalid_type(de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(NumVisitor)
    }
}

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

const NAN_MARK: &str = "\u{0}NaN";
const INF_MARK: &str = "\u{0}Infinity";
const NEG_INF_MARK: &str = "\u{0}-Infinity";

/// Rewrites bare `NaN`, `Infinity`, `-Infinity` outside strings into marker strings that
/// [`Num`] understands. Returns the input unchanged when there are none.
fn rewrite_specials(line: &str) -> Cow<'_, str> {
    if !line.contains("NaN") && !line.contains("Infinity") {
        return Cow::Borrowed(line);
    }
    let bytes = line.as_bytes();
    let mut out = String::with_capacity(line.len() + 16);
    let (mut i, mut in_string, mut copied) = (0, false, 0);
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        let special = [
            ("-Infinity", NEG_INF_MARK),
            ("Infinity", INF_MARK),
            ("NaN", NAN_MARK),
        ]
        .into_iter()
        .find(|(word, _)| bytes[i..].starts_with(word.as_bytes()));
        if let Some((word, mark)) = special {
            out.push_str(&line[copied..i]);
            out.push('"');
            out.push_str(&mark.replace('\u{0}', "\\u0000"));
            out.push('"');
            i += word.len();
            copied = i;
            continue;
        }
        if b == b'"' {
            in_string = true;
        }
        i += 1;
    }
    out.push_str(&line[copied..]);
    Cow::Owned(out)
}

/// Parses one JSON value, accepting Python's non-standard `NaN`/`Infinity` numbers in the
/// places typed as [`Num`].
pub fn parse_lenient<T: serde::de::DeserializeOwned>(line: &str) -> Result<T, serde_json::Error> {
    match serde_json::from_str(line) {
        Ok(v) => Ok(v),
        Err(first) => match rewrite_specials(line) {
            Cow::Borrowed(_) => Err(first),
            Cow::Owned(rewritten) => serde_json::from_str(&rewritten).map_err(|_| first),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_python_specials_outside_strings_only() {
        let v: Vec<Num> = parse_lenient("[1, NaN, Infinity, -Infinity, 2.5]").unwrap();
        assert!(v[1].0.is_nan());
        assert_eq!(v[2].0, f64::INFINITY);
        assert_eq!(v[3].0, f64::NEG_INFINITY);
        let s: (String, Num) = parse_lenient(r#"["NaN \" Infinity", NaN]"#).unwrap();
        assert_eq!(s.0, "NaN \" Infinity");
        assert!(s.1 .0.is_nan());
    }

    #[test]
    fn multibyte_text_outside_strings_is_an_error_not_a_panic() {
        // Found by fuzzing: a non-ASCII character outside a string next to a special word.
        assert!(parse_lenient::<Vec<Num>>("[NaN, ɂ1]").is_err());
        assert!(parse_lenient::<Vec<Num>>("[ɂNaN]").is_err());
    }

    #[test]
    fn keeps_the_original_error_when_rewriting_does_not_help() {
        let e = parse_lenient::<Vec<Num>>("[1, NaN,]").unwrap_err();
        assert!(e.to_string().contains("column"));
    }
}
