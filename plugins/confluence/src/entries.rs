//! Entries of an answer to records, one at a time: the one way every
//! `results` array the plugin reads (v2 pages, v1 searches, bulk fetches)
//! becomes records, so that one malformed entry never fails the others.
//!
//! An entry that cannot be a record ([`Unreadable`]) is reported by the
//! caller: in a listing, one that has an id becomes a partial record the host
//! fetches, and that fetch fails it, so the host records it as a failed item
//! (named, kept as pending work, the stream's watermark and tombstones held
//! back) instead of storing anything wrong or stopping the stream; one
//! without a usable id can only be skipped with a warning.

use serde::de::DeserializeOwned;
use serde_json::Value;
use synchost_sdk::{lenient, Record};

/// The longest remote-derived text (a parse error quotes the value) kept
/// in one report.
const MAX_WHY_CHARS: usize = 300;
/// Unreadable entries detailed in one warning; the rest are counted.
const MAX_DETAILED: usize = 5;

/// An entry of an answer that is not a record.
#[derive(Debug, Clone, PartialEq)]
pub struct Unreadable {
    /// Its position in `results`, from 0.
    pub index: usize,
    /// Its `id`, when it has a usable one.
    pub id: Option<String>,
    /// Its `version.number`, when readable.
    pub version: Option<String>,
    /// Its `title`, when a string (to point at an entry without an id).
    pub title: Option<String>,
    /// What is wrong, starting with the field's path; clipped.
    pub why: String,
}

impl Unreadable {
    fn new(u: lenient::Unreadable) -> Unreadable {
        let id = u.id();
        let element = &u.element;
        let version = match element.pointer("/version/number") {
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Some(n.to_string()),
            _ => None,
        };
        let title = element
            .get("title")
            .and_then(Value::as_str)
            .map(|t| clip(t, 80));
        Unreadable {
            index: u.index,
            id,
            version,
            title,
            why: clip(&u.why, MAX_WHY_CHARS),
        }
    }

    /// `page `123`` or, without an id, `entry 4 ("Title")`.
    pub fn name(&self, kind: &str) -> String {
        match (&self.id, &self.title) {
            (Some(id), _) => format!("{kind} `{id}`"),
            (None, Some(title)) => format!("entry {} ({title:?})", self.index + 1),
            (None, None) => format!("entry {}", self.index + 1),
        }
    }
}

/// Reads each of `entries` as a `T` and makes it a record with `convert`.
pub fn read<T: DeserializeOwned>(
    entries: Vec<Value>,
    convert: impl FnMut(T) -> Result<Record, String>,
) -> (Vec<Record>, Vec<Unreadable>) {
    let mut records = Vec::with_capacity(entries.len());
    let mut unreadable = Vec::new();
    for entry in lenient::each(entries, convert) {
        match entry {
            Ok(record) => records.push(record),
            // v1 `Content` is nullable: a null entry holds nothing to read.
            Err(u) if u.element.is_null() => {}
            Err(u) => unreadable.push(Unreadable::new(u)),
        }
    }
    (records, unreadable)
}

/// Reads a single-object answer as one entry of [`read`].
pub fn one<T: DeserializeOwned>(
    entry: Value,
    convert: impl FnMut(T) -> Result<Record, String>,
) -> Result<Record, Unreadable> {
    let (mut records, mut unreadable) = read(vec![entry], convert);
    records.pop().ok_or_else(|| unreadable.remove(0))
}

/// One warning for the unreadable entries of one answer to `what`; `fate`
/// says what happens to those with an id.
pub fn warning(what: &str, kind: &str, fate: &str, unreadable: &[Unreadable]) -> String {
    let detailed: Vec<String> = unreadable
        .iter()
        .take(MAX_DETAILED)
        .map(|u| {
            let action = match u.id {
                Some(_) => fate,
                None => "skipped (no usable id)",
            };
            format!("{} {action}: {}", u.name(kind), u.why)
        })
        .collect();
    let more = match unreadable.len().saturating_sub(MAX_DETAILED) {
        0 => String::new(),
        n => format!("; and {n} more"),
    };
    format!(
        "{what}: {} unreadable {kind} {}: {}{more}",
        unreadable.len(),
        if unreadable.len() == 1 {
            "entry"
        } else {
            "entries"
        },
        detailed.join("; ")
    )
}

fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize)]
    struct Item {
        id: String,
        version: i64,
        body: Option<String>,
    }

    fn item(i: Item) -> Result<Record, String> {
        match i.body.as_deref() {
            Some("bad") => Err("body: not acceptable".into()),
            _ => Ok(Record::new(i.id, i.version.to_string())),
        }
    }

    fn array(v: Value) -> Vec<Value> {
        v.as_array().unwrap().clone()
    }

    #[test]
    fn one_bad_entry_is_reported_and_the_others_read() {
        let (records, bad) = read(
            array(json!([
                {"id": "1", "version": -3},
                {"id": "2", "version": {"number": 4}, "title": "Two"},
                {"title": "Nameless", "version": 9},
                {"id": "4", "version": 5, "body": "bad"},
                null,
                {"id": "6", "version": 2147483648_i64}
            ])),
            item,
        );
        let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["1", "6"]);
        assert_eq!(records[0].version, "-3");
        assert_eq!(bad.len(), 3, "a null entry is nothing");
        assert_eq!(
            (
                bad[0].index,
                bad[0].id.as_deref(),
                bad[0].version.as_deref()
            ),
            (1, Some("2"), Some("4"))
        );
        assert!(
            bad[0].why.starts_with("version: invalid type"),
            "{}",
            bad[0].why
        );
        assert_eq!(bad[0].name("page"), "page `2`");
        assert_eq!(
            (bad[1].id.as_deref(), bad[1].version.as_deref()),
            (None, None)
        );
        assert_eq!(bad[1].name("page"), "entry 3 (\"Nameless\")");
        assert_eq!(bad[2].id.as_deref(), Some("4"));
        assert_eq!(bad[2].why, "body: not acceptable");
        assert_eq!(bad[1].name("page"), "entry 3 (\"Nameless\")");

        let text = warning("GET /x", "page", "reported as failed", &bad);
        assert!(
            text.starts_with(
                "GET /x: 3 unreadable page entries: page `2` reported as failed: version:"
            ),
            "{text}"
        );
        assert!(
            text.contains("entry 3 (\"Nameless\") skipped (no usable id): missing field `id`"),
            "{text}"
        );
    }

    #[test]
    fn reports_are_bounded() {
        let huge = "x".repeat(100_000);
        let entries: Vec<Value> = (0..50)
            .map(|i| json!({"id": i.to_string(), "version": huge}))
            .collect();
        let (records, bad) = read(entries, item);
        assert!(records.is_empty());
        assert!(bad
            .iter()
            .all(|u| u.why.chars().count() <= MAX_WHY_CHARS + 1));
        let text = warning("GET /x", "page", "reported as failed", &bad);
        assert!(text.len() < 4 * 1024, "{}", text.len());
        assert!(text.ends_with("; and 45 more"), "{text}");
    }
}
