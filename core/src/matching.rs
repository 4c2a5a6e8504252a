//! Record matches: the small language shared by `synchost forget --match`
//! and `[sources.NAME] exclude` rules.
//!
//! A match is `FIELD=VALUE` (the field's value is exactly VALUE) or
//! `FIELD~=VALUE` (it contains VALUE), case-sensitive. The fields:
//! - `id`, `title`, `path`, `parent_id`: the record's own fields;
//! - `content`: its content, as bytes (so `content~=` finds text in any
//!   format);
//! - `metadata.a.b` (keys separated by dots, array items by their index)
//!   or `metadata/a/b` (a JSON pointer, RFC 6901, for keys with dots): a
//!   value in the metadata. A string is compared as it is, anything else
//!   (numbers, booleans, `null`, objects) as its JSON text.
//!
//! A field the record does not have (no title, no such metadata key)
//! matches nothing.

use anyhow::Result;
use serde_json::Value;

use crate::error::usage;

/// The fields a match may name, for error messages.
const FIELDS: &str =
    "id, title, path, parent_id, content, metadata.KEY.KEY (or metadata/JSON-pointer)";

/// The parts of a record a match reads.
#[derive(Debug, Clone, Copy)]
pub struct RecordView<'a> {
    pub id: &'a str,
    pub title: Option<&'a str>,
    pub path: Option<&'a str>,
    pub parent_id: Option<&'a str>,
    pub content: Option<&'a [u8]>,
    /// JSON text (an object, or empty).
    pub metadata: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    Id,
    Title,
    Path,
    ParentId,
    Content,
    /// A JSON pointer into the metadata.
    Metadata(String),
}

/// One parsed `FIELD=VALUE` or `FIELD~=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMatch {
    field: Field,
    contains: bool,
    value: String,
    /// As written, for messages and suggestions.
    text: String,
}

impl std::fmt::Display for RecordMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl RecordMatch {
    /// Parses `FIELD=VALUE` or `FIELD~=VALUE`; a usage error says what is
    /// wrong and which fields exist.
    pub fn parse(text: &str) -> Result<RecordMatch> {
        let Some((name, value)) = text.split_once('=') else {
            return Err(usage(format!(
                "match {text:?} has no `=`: write FIELD=VALUE or FIELD~=VALUE (contains), \
                 FIELD one of {FIELDS}"
            )));
        };
        let (name, contains) = match name.strip_suffix('~') {
            Some(name) => (name, true),
            None => (name, false),
        };
        if value.is_empty() && contains {
            return Err(usage(format!(
                "match {text:?}: `~=` needs a non-empty VALUE (every record contains \"\")"
            )));
        }
        let field = match name {
            "id" => Field::Id,
            "title" => Field::Title,
            "path" => Field::Path,
            "parent_id" => Field::ParentId,
            "content" => Field::Content,
            _ => match metadata_pointer(name) {
                Some(pointer) => Field::Metadata(pointer),
                None => {
                    return Err(usage(format!(
                        "match {text:?}: unknown field `{name}`; the fields are {FIELDS}"
                    )))
                }
            },
        };
        Ok(RecordMatch {
            field,
            contains,
            value: value.to_string(),
            text: text.to_string(),
        })
    }

    /// Whether the match selects exactly one id (`id=VALUE`): that id.
    pub fn exact_id(&self) -> Option<&str> {
        (self.field == Field::Id && !self.contains).then_some(self.value.as_str())
    }

    /// Whether `record` is selected.
    pub fn matches(&self, record: &RecordView<'_>) -> bool {
        let text = |found: Option<&str>| found.is_some_and(|found| self.compare(found.as_bytes()));
        match &self.field {
            Field::Id => text(Some(record.id)),
            Field::Title => text(record.title),
            Field::Path => text(record.path),
            Field::ParentId => text(record.parent_id),
            Field::Content => record.content.is_some_and(|c| self.compare(c)),
            Field::Metadata(pointer) => {
                let Ok(metadata) = serde_json::from_str::<Value>(record.metadata) else {
                    return false;
                };
                match metadata.pointer(pointer) {
                    Some(Value::String(found)) => self.compare(found.as_bytes()),
                    Some(other) => self.compare(other.to_string().as_bytes()),
                    None => false,
                }
            }
        }
    }

    fn compare(&self, found: &[u8]) -> bool {
        let wanted = self.value.as_bytes();
        if self.contains {
            memchr::memmem::find(found, wanted).is_some()
        } else {
            found == wanted
        }
    }
}

/// `metadata.a.b` or `metadata/a/b` as a JSON pointer (`/a/b`); `None` for
/// any other name. `metadata` alone names nothing.
fn metadata_pointer(name: &str) -> Option<String> {
    if let Some(pointer) = name.strip_prefix("metadata/") {
        return Some(format!("/{pointer}"));
    }
    let dotted = name.strip_prefix("metadata.")?;
    if dotted.split('.').any(str::is_empty) {
        return None;
    }
    Some(
        dotted
            .split('.')
            .map(|key| format!("/{}", key.replace('~', "~0").replace('/', "~1")))
            .collect(),
    )
}

/// A source's `exclude` rules: a record any of them matches is not stored.
#[derive(Debug, Clone, Default)]
pub struct Exclusions(Vec<RecordMatch>);

impl Exclusions {
    /// Parses `source`'s rules; a bad one is a usage error naming the source.
    pub fn new(source: &str, rules: &[String]) -> Result<Exclusions> {
        rules
            .iter()
            .map(|rule| {
                RecordMatch::parse(rule)
                    .map_err(|err| usage(format!("source `{source}`: exclude: {err:#}")))
            })
            .collect::<Result<_>>()
            .map(Exclusions)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `record` is excluded.
    pub fn excludes(&self, record: &RecordView<'_>) -> bool {
        self.0.iter().any(|rule| rule.matches(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view<'a>(metadata: &'a str, content: Option<&'a [u8]>) -> RecordView<'a> {
        RecordView {
            id: "42",
            title: Some("Alice's notes"),
            path: None,
            parent_id: Some("7"),
            content,
            metadata,
        }
    }

    fn matches(rule: &str, record: &RecordView<'_>) -> bool {
        RecordMatch::parse(rule).unwrap().matches(record)
    }

    #[test]
    fn fields_and_operators() {
        let metadata =
            r#"{"author": {"login": "alice", "id": 9}, "tags": ["a", "b"], "a.b": true}"#;
        let record = view(metadata, Some(b"hello secret world"));
        assert!(matches("id=42", &record));
        assert!(!matches("id=4", &record));
        assert!(matches("id~=4", &record));
        assert!(matches("title=Alice's notes", &record));
        assert!(matches("title~=notes", &record));
        assert!(!matches("title~=Notes", &record));
        assert!(!matches("path~=x", &record), "no path: no match");
        assert!(matches("parent_id=7", &record));
        assert!(matches("content~=secret", &record));
        assert!(!matches("content=secret", &record));
        assert!(matches("metadata.author.login=alice", &record));
        assert!(matches("metadata.author.id=9", &record));
        assert!(matches("metadata.tags.1=b", &record));
        assert!(matches("metadata/a.b=true", &record));
        assert!(!matches("metadata.a.b=true", &record));
        assert!(!matches("metadata.missing=x", &record));
        // A value may hold `=`.
        assert!(!matches("title=a=b", &record));
        assert_eq!(
            RecordMatch::parse("id=a=b").unwrap().exact_id(),
            Some("a=b")
        );
    }

    #[test]
    fn bad_matches_are_refused_with_the_fields() {
        for bad in ["title", "name=x", "metadata=x", "metadata..a=x", "title~="] {
            let err = RecordMatch::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
        let err = RecordMatch::parse("name=x").unwrap_err().to_string();
        assert!(err.contains("metadata.KEY"), "{err}");
        let err = Exclusions::new("docs", &["nope=1".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("source `docs`: exclude"), "{err}");
    }

    #[test]
    fn exclusions_exclude_on_any_rule() {
        let rules = Exclusions::new("s", &["id=1".into(), "content~=secret".into()]).unwrap();
        assert!(rules.excludes(&view("{}", Some(b"a secret"))));
        assert!(!rules.excludes(&view("{}", Some(b"public"))));
        assert!(Exclusions::default().is_empty());
    }
}
