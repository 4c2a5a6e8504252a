//! Labels, content properties and restrictions of pages and blog posts, in
//! bulk (`docs/confluence.md`, "Labels, properties and restrictions").
//!
//! The v2 listings carry none of them, and v2 has only per-item endpoints
//! (`/pages/{id}/labels`, `/pages/{id}/properties`). The v1 content search
//! expands all three for every result: one search `id in (…)` per listing
//! page or fetch batch ([`search`]) gives them for up to 200 items, and a
//! delta's CQL listing expands them itself at no extra cost.
//!
//! Confluence changes none of them with a new version, so a record that
//! carries them has the version `N+h`: the version number and a hash of what
//! it carries ([`Extras::version`]). A changed label then changes the
//! record's version, and the next full listing stores it.
//!
//! Everything here comes from the remote: counts and sizes are bounded, and
//! an item over a bound is unreadable (reported as failed) rather than
//! stored cut.

use std::collections::HashMap;

use serde_json::{Map, Value};
use synchost_sdk::http::{encode, Request};
use synchost_sdk::{Error, Record};

use crate::api::{self, ContentArray, Sent};
use crate::config::{Config, Restrictions};
use crate::cursor;

/// Labels per item: Confluence's label picker has no limit, but hundreds on
/// one page is not a label set any more.
pub const MAX_LABELS: usize = 500;
/// Characters of one label (Confluence refuses longer ones).
pub const MAX_LABEL_CHARS: usize = 255;
/// Content properties per item.
pub const MAX_PROPERTIES: usize = 256;
/// Characters of a property key (Confluence's limit).
pub const MAX_PROPERTY_KEY_CHARS: usize = 255;
/// Bytes of one property value as JSON (Confluence's limit is 32 KiB).
pub const MAX_PROPERTY_VALUE_BYTES: usize = 32 * 1024;
/// Users or groups of one restriction.
pub const MAX_PRINCIPALS: usize = 1000;
/// Characters of an account id or a group name.
pub const MAX_PRINCIPAL_CHARS: usize = 255;

/// The most ids one search asks for: the v1 search's cap on `limit`.
pub const MAX_IDS: usize = crate::api::V1_SEARCH_MAX_LIMIT as usize;

/// What the settings ask for; `None` from [`Wanted::of`] when nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    pub labels: bool,
    pub properties: bool,
    pub restrictions: Restrictions,
}

impl Wanted {
    pub fn of(config: &Config) -> Option<Wanted> {
        config.wants_extras().then_some(Wanted {
            labels: config.labels,
            properties: config.properties,
            restrictions: config.restrictions,
        })
    }

    /// Only the read restrictions: the containers of attachments and
    /// comments when `restrictions = skip`.
    pub fn read_restrictions() -> Wanted {
        Wanted {
            labels: false,
            properties: false,
            restrictions: Restrictions::Skip,
        }
    }

    /// The v1 `expand` values (besides `version`) that give them.
    pub fn expand(self) -> Vec<&'static str> {
        let mut expand = Vec::new();
        if self.labels {
            expand.push("metadata.labels");
        }
        if self.properties {
            expand.push("metadata.properties");
        }
        match self.restrictions {
            Restrictions::Ignore => {}
            Restrictions::Skip => expand.extend([
                "restrictions.read.restrictions.user",
                "restrictions.read.restrictions.group",
            ]),
            Restrictions::Record => expand.extend([
                "restrictions.read.restrictions.user",
                "restrictions.read.restrictions.group",
                "restrictions.update.restrictions.user",
                "restrictions.update.restrictions.group",
            ]),
        }
        expand
    }
}

/// `GET /wiki/rest/api/content/search?cql=id in (1,2,…)&limit=N&expand=version,…`:
/// what `wanted` asks for, for up to [`MAX_IDS`] items.
pub fn search(base_url: &str, ids: &[&str], wanted: Wanted) -> Request {
    debug_assert!(!ids.is_empty() && ids.len() <= MAX_IDS);
    let cql = format!("id in ({})", ids.join(","));
    let mut expand = vec!["version"];
    expand.extend(wanted.expand());
    crate::api::content_search(base_url, &cql, ids.len() as u32, &expand)
}

/// What the searches found, by item id: an item's extras, or why they are
/// unreadable. An item absent from the answers is absent here.
pub type Found = HashMap<String, Result<Extras, String>>;

/// Follow-up rounds (`_links.next` of a server that answered fewer than
/// asked) one call makes at most.
const MAX_FOLLOW_ROUNDS: usize = 16;

/// Searches what `wanted` asks for `ids` (one [`search`] per [`MAX_IDS`]),
/// sending `others` in the same batch; returns what was found and the
/// answers to `others`, in order. A search answered with an error fails
/// the whole `Found` with it; the next links of an answer cut short and the
/// labels a search cut ([`labels_request`]) are read in further rounds.
pub fn find(
    base_url: &str,
    ids: &[&str],
    wanted: Wanted,
    others: Vec<Request>,
) -> (Result<Found, Error>, Vec<Sent>) {
    let mut requests: Vec<Request> = ids
        .chunks(MAX_IDS)
        .map(|chunk| search(base_url, chunk, wanted))
        .collect();
    let searches = requests.len();
    requests.extend(others);
    let mut answers = api::send_batch(requests);
    let rest = answers.split_off(searches);
    (read_all(base_url, answers, wanted), rest)
}

/// [`find`] without other requests.
pub fn find_only(base_url: &str, ids: &[&str], wanted: Wanted) -> Result<Found, Error> {
    if ids.is_empty() {
        return Ok(Found::new());
    }
    find(base_url, ids, wanted, Vec::new()).0
}

/// Reads the answers to searches (each `(what, answer)`), following their
/// next links and reading cut labels.
fn read_all(base_url: &str, mut answers: Vec<Sent>, wanted: Wanted) -> Result<Found, Error> {
    let mut found = Found::new();
    for _ in 0..MAX_FOLLOW_ROUNDS {
        let mut follow = Vec::new();
        for (what, answer) in answers {
            let list: ContentArray = api::check(answer?, &what)?.json()?;
            let next = cursor::v1_link(list.context(), list.next());
            let before = found.len();
            for entry in &list.results {
                if let Some(id) = entry_id(entry) {
                    found.insert(id, Extras::read(entry, wanted));
                }
            }
            // A next link with nothing new is not followed (no loop).
            if let Some(next) = next.filter(|_| found.len() > before) {
                follow.push(api::follow(cursor::resolve(base_url, &next)));
            }
        }
        if follow.is_empty() {
            return more_labels(base_url, found);
        }
        answers = api::send_batch(follow);
    }
    Err(Error::invalid_response(format!(
        "the metadata search was still not done after {MAX_FOLLOW_ROUNDS} rounds of next links"
    )))
}

/// Reads the rest of the labels of the items whose search answer cut them.
fn more_labels(base_url: &str, mut found: Found) -> Result<Found, Error> {
    let cut: Vec<String> = found
        .iter()
        .filter(|(_, extras)| matches!(extras, Ok(e) if e.more_labels))
        .map(|(id, _)| id.clone())
        .collect();
    if cut.is_empty() {
        return Ok(found);
    }
    let requests = cut.iter().map(|id| labels_request(base_url, id)).collect();
    for (id, (what, answer)) in cut.into_iter().zip(api::send_batch(requests)) {
        let array: Value = api::check(answer?, &what)?.json()?;
        let read = match labels(Some(&array)) {
            Ok((_, true)) => Err(format!("{what}: more labels than one answer holds")),
            Ok((names, false)) => Ok(names),
            Err(why) => Err(format!("{what}: {why}")),
        };
        if let Some(Ok(extras)) = found.get_mut(&id) {
            match read {
                Ok(names) => {
                    extras.labels = Some(names);
                    extras.more_labels = false;
                }
                Err(why) => {
                    found.insert(id, Err(why));
                }
            }
        }
    }
    Ok(found)
}

/// The `id` of a v1 entry (a string, or an integer).
pub fn entry_id(entry: &Value) -> Option<String> {
    match entry.get("id")? {
        Value::String(id) if !id.is_empty() => Some(id.clone()),
        Value::Number(n) if n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

/// The users and groups of one restriction, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principals {
    pub users: Vec<String>,
    pub groups: Vec<String>,
}

impl Principals {
    fn is_empty(&self) -> bool {
        self.users.is_empty() && self.groups.is_empty()
    }

    fn to_json(&self) -> Value {
        serde_json::json!({"users": self.users, "groups": self.groups})
    }
}

/// What one item of a search answer holds of what was asked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extras {
    /// Sorted, without duplicates; `Some` when asked for.
    pub labels: Option<Vec<String>>,
    /// Key to value; `Some` when asked for.
    pub properties: Option<Map<String, Value>>,
    /// `Some` when asked for (skip or record).
    pub read: Option<Principals>,
    /// `Some` with `restrictions = record`.
    pub update: Option<Principals>,
    /// The labels were cut by the expansion (`_links.next`): the rest must
    /// be read with [`labels_request`].
    pub more_labels: bool,
}

impl Extras {
    /// Reads what `wanted` asked for from a v1 `Content` entry.
    pub fn read(entry: &Value, wanted: Wanted) -> Result<Extras, String> {
        let mut extras = Extras::default();
        if wanted.labels {
            let (labels, more) = labels(entry.pointer("/metadata/labels"))?;
            extras.labels = Some(labels);
            extras.more_labels = more;
        }
        if wanted.properties {
            extras.properties = Some(properties(entry.pointer("/metadata/properties"))?);
        }
        if wanted.restrictions != Restrictions::Ignore {
            extras.read = Some(principals(entry, "read")?);
        }
        if wanted.restrictions == Restrictions::Record {
            extras.update = Some(principals(entry, "update")?);
        }
        Ok(extras)
    }

    /// True when the item has a read restriction: not everyone who can see
    /// the space can see it.
    pub fn restricted(&self) -> bool {
        self.read.as_ref().is_some_and(|read| !read.is_empty())
    }

    /// The metadata keys this adds to a record (`labels`, `properties`,
    /// `restricted` and `restrictions`), as asked.
    fn metadata(&self) -> Map<String, Value> {
        let mut meta = Map::new();
        if let Some(labels) = &self.labels {
            meta.insert("labels".into(), Value::from(labels.clone()));
        }
        if let Some(properties) = &self.properties {
            meta.insert("properties".into(), Value::Object(properties.clone()));
        }
        if let (Some(read), Some(update)) = (&self.read, &self.update) {
            meta.insert("restricted".into(), Value::Bool(self.restricted()));
            meta.insert(
                "restrictions".into(),
                serde_json::json!({"read": read.to_json(), "update": update.to_json()}),
            );
        }
        meta
    }

    /// The record's version: `number`, or `number+hash` of the metadata this
    /// adds when it adds any (Confluence changes labels, properties and
    /// restrictions without a new version).
    pub fn version(&self, number: &str) -> String {
        suffixed(number, self.metadata())
    }

    /// `record` with this added to its metadata and its version made
    /// [`Extras::version`] of its version number.
    pub fn apply(&self, mut record: Record) -> Record {
        let mut meta: Map<String, Value> =
            serde_json::from_str(&record.metadata).unwrap_or_default();
        meta.extend(self.metadata());
        let number = version_number(&record.version).to_owned();
        record.version = self.version(&number);
        record.metadata_json(Value::Object(meta))
    }
}

/// `number`, or `number+hash` of `meta` when it is not empty: the version
/// of a record that carries what Confluence changes without a new version.
pub fn suffixed(number: &str, meta: Map<String, Value>) -> String {
    if meta.is_empty() {
        return number.to_owned();
    }
    let text = Value::Object(meta).to_string();
    format!("{number}+{:016x}", fnv1a(text.as_bytes()))
}

/// The Confluence version number of a record version (`7` of `7+…`).
pub fn version_number(version: &str) -> &str {
    version
        .split_once('+')
        .map_or(version, |(number, _)| number)
}

/// `GET /wiki/rest/api/content/{id}/label?limit=200`: the labels of an item
/// whose search answer cut them.
pub fn labels_request(base_url: &str, id: &str) -> Request {
    Request::get(format!(
        "{base_url}/wiki/rest/api/content/{}/label",
        encode(id)
    ))
    .header("accept", "application/json")
    .query("limit", MAX_IDS)
}

/// The label names of a `LabelArray` (or a bare array of `Label`s), and
/// whether it says there are more (`_links.next`). Absent or null: none.
pub fn labels(value: Option<&Value>) -> Result<(Vec<String>, bool), String> {
    let (items, more) = match value {
        None | Some(Value::Null) => return Ok((Vec::new(), false)),
        Some(Value::Array(items)) => (items, false),
        Some(Value::Object(array)) => match array.get("results") {
            Some(Value::Array(items)) => (items, array.pointer_next()),
            None | Some(Value::Null) => return Ok((Vec::new(), false)),
            Some(other) => {
                return Err(format!(
                    "labels.results: expected an array, found {}",
                    kind(other)
                ))
            }
        },
        Some(other) => return Err(format!("labels: expected an object, found {}", kind(other))),
    };
    if items.len() > MAX_LABELS {
        return Err(format!(
            "labels: {} labels, more than {MAX_LABELS}",
            items.len()
        ));
    }
    let mut names = Vec::with_capacity(items.len());
    for item in items {
        let name = item
            .get("name")
            .or_else(|| item.get("label"))
            .and_then(Value::as_str)
            .ok_or_else(|| format!("labels: a label without a name: {}", clip(item)))?;
        names.push(bounded(name, MAX_LABEL_CHARS, "labels: a label")?);
    }
    names.sort();
    names.dedup();
    Ok((names, more))
}

/// The properties of `metadata.properties`: `{"results": [ContentProperty]}`
/// or an object `key → ContentProperty` (what `metadata.properties.KEY`
/// expansions give; `_links` and `_expandable` are not keys).
fn properties(value: Option<&Value>) -> Result<Map<String, Value>, String> {
    let listed: Vec<&Value> = match value {
        None | Some(Value::Null) => return Ok(Map::new()),
        Some(Value::Object(map)) => match map.get("results") {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(other) => {
                return Err(format!(
                    "properties.results: expected an array, found {}",
                    kind(other)
                ))
            }
            None => map
                .iter()
                .filter(|(key, _)| !key.starts_with('_'))
                .map(|(_, property)| property)
                .collect(),
        },
        Some(other) => {
            return Err(format!(
                "properties: expected an object, found {}",
                kind(other)
            ))
        }
    };
    if listed.len() > MAX_PROPERTIES {
        return Err(format!(
            "properties: {} properties, more than {MAX_PROPERTIES}",
            listed.len()
        ));
    }
    let mut out = Map::new();
    for property in listed {
        let key = property
            .get("key")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("properties: a property without a key: {}", clip(property)))?;
        let key = bounded(key, MAX_PROPERTY_KEY_CHARS, "properties: a key")?;
        let value = property.get("value").cloned().unwrap_or(Value::Null);
        let size = value.to_string().len();
        if size > MAX_PROPERTY_VALUE_BYTES {
            return Err(format!(
                "properties: the value of {key:?} has {size} bytes, more than {MAX_PROPERTY_VALUE_BYTES}"
            ));
        }
        out.insert(key, value);
    }
    Ok(out)
}

/// `restrictions.OPERATION.restrictions.{user,group}.results`: account ids
/// and group names. Absent: none.
fn principals(entry: &Value, operation: &str) -> Result<Principals, String> {
    let base = format!("/restrictions/{operation}/restrictions");
    let read = |kind: &str, field: &str| -> Result<Vec<String>, String> {
        let path = format!("{base}/{kind}/results");
        let items = match entry.pointer(&path) {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(format!(
                    "restrictions.{operation}.{kind}.results: expected an array, found {}",
                    self::kind(other)
                ))
            }
        };
        if items.len() > MAX_PRINCIPALS {
            return Err(format!(
                "restrictions.{operation}.{kind}: {} entries, more than {MAX_PRINCIPALS}",
                items.len()
            ));
        }
        let mut names = Vec::with_capacity(items.len());
        for item in items {
            let name = item.get(field).and_then(Value::as_str).ok_or_else(|| {
                format!(
                    "restrictions.{operation}.{kind}: an entry without `{field}`: {}",
                    clip(item)
                )
            })?;
            names.push(bounded(name, MAX_PRINCIPAL_CHARS, "restrictions: a name")?);
        }
        names.sort();
        names.dedup();
        Ok(names)
    };
    Ok(Principals {
        users: read("user", "accountId")?,
        groups: read("group", "name")?,
    })
}

trait NextLink {
    /// True when `_links.next` is a non-empty string.
    fn pointer_next(&self) -> bool;
}

impl NextLink for Map<String, Value> {
    fn pointer_next(&self) -> bool {
        self.get("_links")
            .and_then(|links| links.get("next"))
            .and_then(Value::as_str)
            .is_some_and(|next| !next.is_empty())
    }
}

/// `text` when it has at most `max` characters and no control character.
pub fn bounded(text: &str, max: usize, what: &str) -> Result<String, String> {
    if text.chars().count() > max {
        return Err(format!("{what} has more than {max} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("{what} holds a control character: {text:?}"));
    }
    Ok(text.to_owned())
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value for a message, at most 80 characters.
fn clip(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(80) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

/// FNV-1a, 64 bits: a stable hash (the same in every build and run).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ALL: Wanted = Wanted {
        labels: true,
        properties: true,
        restrictions: Restrictions::Record,
    };

    #[test]
    fn both_shapes_of_each_field_are_read() {
        let entry = json!({
            "id": "1",
            "metadata": {
                "labels": [{"prefix": "global", "label": "b"}, {"name": "a"}],
                "properties": {"k": {"key": "k", "value": [1, 2]}, "_links": {}, "_expandable": {"x": ""}},
            },
        });
        let extras = Extras::read(&entry, ALL).unwrap();
        assert_eq!(extras.labels, Some(vec!["a".into(), "b".into()]));
        assert_eq!(extras.properties.unwrap()["k"], json!([1, 2]));
        // Absent restrictions: none, not an error.
        assert_eq!(extras.read, Some(Principals::default()));
        assert!(!Extras::read(&entry, ALL).unwrap().restricted());
        // Nothing asked: nothing read, and the version stays the number.
        let none = Wanted {
            labels: false,
            properties: false,
            restrictions: Restrictions::Ignore,
        };
        let plain = Extras::read(&json!({"metadata": 5}), none).unwrap();
        assert_eq!(plain.version("7"), "7");
        assert_eq!(version_number("7+00ff"), "7");
        assert_eq!(version_number("7"), "7");
    }

    #[test]
    fn more_labels_are_noticed() {
        let cut = json!({"results": [{"name": "a"}], "_links": {"next": "/rest/api/content/1/label?start=1"}});
        assert_eq!(labels(Some(&cut)).unwrap(), (vec!["a".to_string()], true));
        let whole = json!({"results": [{"name": "a"}], "_links": {"next": ""}});
        assert!(!labels(Some(&whole)).unwrap().1);
    }

    #[test]
    fn hostile_values_are_refused() {
        let bad = [
            json!({"metadata": {"labels": "x"}}),
            json!({"metadata": {"labels": {"results": [{"name": 5}]}}}),
            json!({"metadata": {"labels": {"results": [{"name": "a\u{7}b"}]}}}),
            json!({"metadata": {"labels": {"results": [{"name": "x".repeat(256)}]}}}),
            json!({"metadata": {"properties": {"results": [{"value": 1}]}}}),
            json!({"metadata": {"properties": {"results": "x"}}}),
            json!({"metadata": {"properties": {"results": (0..=MAX_PROPERTIES).map(|i| json!({"key": i.to_string()})).collect::<Vec<_>>()}}}),
            json!({"restrictions": {"read": {"restrictions": {"user": {"results": [{"name": "no account id"}]}}}}}),
            json!({"restrictions": {"update": {"restrictions": {"group": {"results": {}}}}}}),
        ];
        for entry in bad {
            assert!(Extras::read(&entry, ALL).is_err(), "{entry}");
        }
        let users: Vec<Value> = (0..=MAX_PRINCIPALS)
            .map(|i| json!({"accountId": i.to_string()}))
            .collect();
        let many =
            json!({"restrictions": {"read": {"restrictions": {"user": {"results": users}}}}});
        let why = Extras::read(&many, ALL).unwrap_err();
        assert!(why.contains("more than 1000"), "{why}");
    }

    #[test]
    fn the_search_asks_for_what_is_wanted() {
        let url = search("https://x", &["1", "22"], ALL).url().to_owned();
        assert_eq!(
            url,
            "https://x/wiki/rest/api/content/search?cql=id%20in%20%281%2C22%29&limit=2\
             &expand=version,metadata.labels,metadata.properties,\
             restrictions.read.restrictions.user,restrictions.read.restrictions.group,\
             restrictions.update.restrictions.user,restrictions.update.restrictions.group"
        );
        assert_eq!(
            labels_request("https://x", "1").url(),
            "https://x/wiki/rest/api/content/1/label?limit=200"
        );
    }
}
