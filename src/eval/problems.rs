//! Problems found in a results file: where, what, and what to do about it.

use std::fmt;

/// Errors stop scoring (the reference scorer refuses or crashes on them); warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The file is not scored.
    Error,
    /// The file is scored; the warning says what was assumed or how it differs from the reference.
    Warning,
}

/// One problem, located as precisely as possible.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// 1-based line of the results file; `None` for problems of the whole file.
    pub line: Option<usize>,
    /// The annotation id as written in the file (JSON form: strings quoted).
    pub annotation_id: Option<String>,
    /// The document the problem is in, if it is about one.
    pub docid: Option<String>,
    /// What is wrong.
    pub what: String,
    /// What to do about it (may be empty).
    pub fix: String,
}

impl Problem {
    pub(crate) fn error(what: impl Into<String>, fix: impl Into<String>) -> Self {
        Problem {
            severity: Severity::Error,
            line: None,
            annotation_id: None,
            docid: None,
            what: what.into(),
            fix: fix.into(),
        }
    }

    pub(crate) fn warning(what: impl Into<String>, fix: impl Into<String>) -> Self {
        Problem {
            severity: Severity::Warning,
            ..Problem::error(what, fix)
        }
    }

    pub(crate) fn at_line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }

    pub(crate) fn for_annotation(mut self, id: impl fmt::Display) -> Self {
        self.annotation_id = Some(id.to_string());
        self
    }

    pub(crate) fn for_doc(mut self, docid: &str) -> Self {
        self.docid = Some(docid.to_owned());
        self
    }

    /// Whether the problem stops scoring.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line: error: annotation "a1", doc "m1": what — fix`
    pub fn display_with<'a>(&'a self, file: &'a str) -> impl fmt::Display + 'a {
        DisplayProblem { p: self, file }
    }
}

struct DisplayProblem<'a> {
    p: &'a Problem,
    file: &'a str,
}

impl fmt::Display for DisplayProblem<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.p;
        write!(f, "{}", self.file)?;
        if let Some(line) = p.line {
            write!(f, ":{line}")?;
        }
        let sev = match p.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, ": {sev}: ")?;
        if let Some(id) = &p.annotation_id {
            write!(f, "annotation {id}")?;
            write!(f, "{}", if p.docid.is_some() { ", " } else { ": " })?;
        }
        if let Some(doc) = &p.docid {
            write!(f, "doc {doc:?}: ")?;
        }
        write!(f, "{}", p.what)?;
        if !p.fix.is_empty() {
            write!(f, " — {}", p.fix)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_and_fix() {
        let p = Problem::error(
            "spans [3, 6) and [5, 8) overlap",
            "merge them into one span",
        )
        .at_line(12)
        .for_annotation("\"a1\"")
        .for_doc("m1");
        assert_eq!(
            p.display_with("preds.jsonl").to_string(),
            "preds.jsonl:12: error: annotation \"a1\", doc \"m1\": spans [3, 6) and [5, 8) overlap — merge them into one span"
        );
    }
}
