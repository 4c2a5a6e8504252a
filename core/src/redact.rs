//! Redaction before storage: `[sources.NAME.redact]` rules rewrite each
//! record as it arrives from the plugin, before anything is written (store,
//! WAL, exports, mirrors all see only the redacted record).
//!
//! - `metadata`: JSON pointers (RFC 6901) into the record's metadata; each
//!   value found is replaced (a string, number, object: the whole value).
//! - `content`: regular expressions (Rust `regex` syntax) over the content,
//!   when it is UTF-8 text, and the title and path.
//! - `detect`: built-in detectors (`email`, `phone`, `token`) over the
//!   content, title, path and every string in the metadata.
//!
//! Each match becomes `replacement` (default `[redacted]`). Blobs (downloaded
//! attachments) are files of any format and are not rewritten.

use anyhow::Result;
use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

use crate::error::usage;

/// What replaces each redacted value unless the config says otherwise.
pub const DEFAULT_REPLACEMENT: &str = "[redacted]";

/// `[sources.NAME.redact]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactSection {
    #[serde(default)]
    pub metadata: Vec<String>,
    #[serde(default)]
    pub content: Vec<String>,
    #[serde(default)]
    pub detect: Vec<Detector>,
    pub replacement: Option<String>,
}

/// A built-in detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Detector {
    /// Email addresses.
    Email,
    /// Phone numbers in common international and national notations.
    Phone,
    /// Common secret formats: GitHub, GitLab, Slack, AWS, Google, Stripe,
    /// OpenAI-style keys, JWTs, bearer tokens and PEM private keys.
    Token,
}

impl Detector {
    fn pattern(self) -> &'static str {
        match self {
            Detector::Email => r"(?i)\b[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b",
            Detector::Phone => {
                r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?|\b\d{2,4}[ .-])\d{3,4}[ .-]?\d{3,4}\b"
            }
            Detector::Token => concat!(
                r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}",
                r"|glpat-[A-Za-z0-9_-]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}",
                r"|(?:AKIA|ASIA)[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}",
                r"|sk_(?:live|test)_[A-Za-z0-9]{16,}|sk-[A-Za-z0-9_-]{20,}",
                r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})",
                r"|(?i:bearer)\s+[A-Za-z0-9._~+/-]{16,}=*",
                r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
            ),
        }
    }
}

/// The parts of a record redaction reads and rewrites.
pub struct RecordText<'a> {
    pub title: &'a mut Option<String>,
    pub path: &'a mut Option<String>,
    pub content: &'a mut Option<Vec<u8>>,
    /// JSON text (an object, or empty).
    pub metadata: &'a mut String,
}

/// A source's compiled redaction rules.
#[derive(Debug, Clone)]
pub struct Redactor {
    pointers: Vec<String>,
    /// The user's expressions: content, title and path.
    text: Vec<Regex>,
    /// The detectors: content, title, path and metadata strings.
    detectors: Vec<Regex>,
    replacement: String,
}

impl Redactor {
    /// Compiles `source`'s rules; `None` when there are none. A bad pointer
    /// or expression is a usage error naming it.
    pub fn new(source: &str, section: &RedactSection) -> Result<Option<Redactor>> {
        if section.metadata.is_empty() && section.content.is_empty() && section.detect.is_empty() {
            return Ok(None);
        }
        for pointer in &section.metadata {
            if !pointer.starts_with('/') {
                return Err(usage(format!(
                    "source `{source}`: redact.metadata entry {pointer:?} is not a JSON pointer \
                     (it starts with `/`, e.g. \"/author/email\")"
                )));
            }
        }
        let text = section
            .content
            .iter()
            .map(|pattern| {
                Regex::new(pattern).map_err(|err| {
                    usage(format!(
                        "source `{source}`: redact.content expression {pattern:?} is invalid: {err}"
                    ))
                })
            })
            .collect::<Result<_>>()?;
        let detectors = section
            .detect
            .iter()
            .map(|detector| Regex::new(detector.pattern()).expect("built-in patterns compile"))
            .collect();
        let replacement = section
            .replacement
            .clone()
            .unwrap_or_else(|| DEFAULT_REPLACEMENT.to_string());
        Ok(Some(Redactor {
            pointers: section.metadata.clone(),
            text,
            detectors,
            replacement,
        }))
    }

    /// What replaces each redacted value: a change carrying it would write
    /// the redaction back to the remote.
    pub fn replacement(&self) -> &str {
        &self.replacement
    }

    /// Whether a local change carries the replacement text: it was made from
    /// a redacted record, and pushing it would write the redaction over the
    /// remote's value.
    pub fn marks(&self, title: Option<&str>, content: Option<&[u8]>, metadata: &str) -> bool {
        let marker = self.replacement.as_bytes();
        let has = |bytes: &[u8]| memchr::memmem::find(bytes, marker).is_some();
        title.is_some_and(|t| has(t.as_bytes()))
            || content.is_some_and(has)
            || has(metadata.as_bytes())
    }

    /// Redacts `record` in place; returns the number of values replaced.
    pub fn apply(&self, record: RecordText<'_>) -> u64 {
        let mut count = 0;
        for text in [record.title, record.path].into_iter().flatten() {
            count += self.redact_text(text, true);
        }
        if let Some(content) = record.content {
            if let Ok(text) = std::str::from_utf8(content) {
                let mut text = text.to_string();
                let replaced = self.redact_text(&mut text, true);
                if replaced > 0 {
                    *content = text.into_bytes();
                    count += replaced;
                }
            }
        }
        count += self.redact_metadata(record.metadata);
        count
    }

    /// Replaces matches in `text`: the user's expressions when `user`, and
    /// the detectors.
    fn redact_text(&self, text: &mut String, user: bool) -> u64 {
        let mut count = 0;
        let expressions = self
            .text
            .iter()
            .filter(|_| user)
            .chain(self.detectors.iter());
        for regex in expressions {
            // One pass: the replacer counts the matches it replaces.
            let mut found = 0;
            let replaced = regex.replace_all(text, |_: &regex::Captures<'_>| {
                found += 1;
                self.replacement.as_str()
            });
            if let std::borrow::Cow::Owned(replaced) = replaced {
                *text = replaced;
                count += found;
            }
        }
        count
    }

    fn redact_metadata(&self, metadata: &mut String) -> u64 {
        if metadata.trim().is_empty() {
            return 0;
        }
        // Metadata is checked as a JSON object before it gets here.
        let Ok(mut value) = serde_json::from_str::<Value>(metadata) else {
            return 0;
        };
        let mut count = 0;
        for pointer in &self.pointers {
            if let Some(found) = value.pointer_mut(pointer) {
                if !found.is_null() {
                    *found = Value::String(self.replacement.clone());
                    count += 1;
                }
            }
        }
        if !self.detectors.is_empty() {
            count += self.redact_strings(&mut value);
        }
        if count > 0 {
            *metadata = value.to_string();
        }
        count
    }

    /// Runs the detectors over every string of `value`.
    fn redact_strings(&self, value: &mut Value) -> u64 {
        match value {
            Value::String(text) => self.redact_text(text, false),
            Value::Array(items) => items.iter_mut().map(|v| self.redact_strings(v)).sum(),
            Value::Object(fields) => fields.values_mut().map(|v| self.redact_strings(v)).sum(),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor(toml_text: &str) -> Redactor {
        let section: RedactSection = toml::from_str(toml_text).expect("section");
        Redactor::new("s", &section).expect("valid").expect("rules")
    }

    fn apply(
        redactor: &Redactor,
        title: &str,
        content: &str,
        metadata: &str,
    ) -> (String, String, String, u64) {
        let (mut title, mut path, mut content, mut metadata) = (
            Some(title.to_string()),
            None,
            Some(content.as_bytes().to_vec()),
            metadata.to_string(),
        );
        let count = redactor.apply(RecordText {
            title: &mut title,
            path: &mut path,
            content: &mut content,
            metadata: &mut metadata,
        });
        (
            title.unwrap(),
            String::from_utf8(content.unwrap()).unwrap(),
            metadata,
            count,
        )
    }

    #[test]
    fn detectors_find_emails_phones_and_tokens_and_leave_the_rest() {
        let r = redactor(r#"detect = ["email", "phone", "token"]"#);
        let content = "Mail ana.lopez+ops@example.co.uk or call +44 20 7946 0958, (415) 555-0134. \
                       Token ghp_abcdefghijklmnopqrstuvwxyz0123456789 and \
                       eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U \
                       and AKIAIOSFODNN7EXAMPLE. Released 2024-11-30, version 1.2.3, 150 pages.";
        let (_, redacted, _, count) = apply(&r, "t", content, "{}");
        for secret in [
            "ana.lopez",
            "7946",
            "555-0134",
            "ghp_",
            "eyJhbGci",
            "AKIAIOSFODNN7EXAMPLE",
        ] {
            assert!(!redacted.contains(secret), "{secret} in {redacted}");
        }
        for kept in ["2024-11-30", "1.2.3", "150 pages"] {
            assert!(redacted.contains(kept), "{kept} lost: {redacted}");
        }
        assert_eq!(count, 6, "{redacted}");
    }

    #[test]
    fn pointers_replace_metadata_values_and_detectors_reach_nested_strings() {
        let r = redactor(
            r#"metadata = ["/author/name", "/missing"]
detect = ["email"]
replacement = "XX""#,
        );
        let metadata =
            r#"{"author":{"name":"Ana","mail":"ana@example.com"},"tags":["x","bo@example.org"]}"#;
        let (_, _, metadata, count) = apply(&r, "t", "c", metadata);
        let value: Value = serde_json::from_str(&metadata).unwrap();
        assert_eq!(value["author"]["name"], "XX");
        assert_eq!(value["author"]["mail"], "XX");
        assert_eq!(value["tags"][1], "XX");
        assert_eq!(value["tags"][0], "x");
        assert_eq!(count, 3);
    }

    #[test]
    fn user_expressions_cover_content_and_title_and_replacements_are_literal() {
        let r = redactor(
            r#"content = ['(?i)password:\s*\S+']
replacement = "$0""#,
        );
        let (title, content, _, count) = apply(&r, "Password: hunter2", "x password: abc y", "{}");
        assert_eq!(title, "$0");
        assert_eq!(content, "x $0 y");
        assert_eq!(count, 2);
    }

    #[test]
    fn binary_content_is_left_alone_and_bad_rules_are_named() {
        let r = redactor(r#"detect = ["email"]"#);
        let mut content = Some(vec![0xff, 0xfe, b'a', b'@', b'b', b'.', b'c', b'o']);
        let before = content.clone();
        r.apply(RecordText {
            title: &mut None,
            path: &mut None,
            content: &mut content,
            metadata: &mut String::new(),
        });
        assert_eq!(content, before);

        let bad: RedactSection = toml::from_str(r#"content = ["(unclosed"]"#).unwrap();
        let err = Redactor::new("docs", &bad).unwrap_err().to_string();
        assert!(err.contains("docs") && err.contains("(unclosed"), "{err}");
        let bad: RedactSection = toml::from_str(r#"metadata = ["author"]"#).unwrap();
        let err = Redactor::new("docs", &bad).unwrap_err().to_string();
        assert!(err.contains("JSON pointer"), "{err}");
        assert!(toml::from_str::<RedactSection>(r#"detect = ["ssn"]"#).is_err());
        let none: RedactSection = toml::from_str("").unwrap();
        assert!(Redactor::new("docs", &none).unwrap().is_none());
    }
}
