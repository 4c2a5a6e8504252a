//! Tolerant reading of remote JSON: one bad element of a listing is reported
//! on its own instead of failing the whole answer, and fields a plugin can do
//! without never fail anything.
//!
//! The rules this module helps a plugin follow:
//! - Decode each element of a `results` array separately ([`each`]): a
//!   malformed one becomes an [`Unreadable`] (its position, its `id` when it
//!   has one, and what is wrong, with the field's path) for the plugin to
//!   report, and the others are unaffected.
//! - Read the fields a record is made of (id, version, body, …) strictly:
//!   a missing or wrongly typed one makes the element unreadable.
//! - Read every other field with [`loose`]: a null, a missing field or a
//!   value of another type is simply absent. Unknown fields are ignored (serde
//!   does that unless told otherwise) and unknown enum values are kept as the
//!   strings they are, never matched against a closed list.
//!
//! ```
//! use serde::Deserialize;
//! use synchost_sdk::lenient;
//!
//! #[derive(Debug, Deserialize)]
//! struct Item {
//!     #[serde(deserialize_with = "lenient::string_or_integer")]
//!     id: String,
//!     rev: i64,
//!     /// Metadata only: whatever the remote sends, never a failure.
//!     #[serde(default, deserialize_with = "lenient::loose")]
//!     position: Option<i64>,
//! }
//!
//! let results = serde_json::json!([
//!     {"id": "a", "rev": -3, "position": "first"},
//!     {"id": 7, "rev": "seven"},
//! ]);
//! let serde_json::Value::Array(items) = results else { unreachable!() };
//! let decoded: Vec<_> = lenient::each(items, Ok::<Item, String>).collect();
//! let a = decoded[0].as_ref().unwrap();
//! assert_eq!((a.id.as_str(), a.rev, a.position), ("a", -3, None));
//! let bad = decoded[1].as_ref().unwrap_err();
//! assert_eq!((bad.index, bad.id().as_deref()), (1, Some("7")));
//! assert!(bad.why.starts_with("rev: invalid type"), "{}", bad.why);
//! ```

use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde::Deserialize;
use serde_json::Value;

/// One element of a JSON array that did not decode.
#[derive(Debug, Clone, PartialEq)]
pub struct Unreadable {
    /// Its position in the array, from 0.
    pub index: usize,
    /// The element as it came, for the plugin to take what it can (an id, a
    /// title) into its report.
    pub element: Value,
    /// What is wrong, starting with the field's path (`body.storage: invalid
    /// type: …`).
    pub why: String,
}

impl Unreadable {
    /// The element's `id` member as text (a string, or an integer written in
    /// decimal); `None` when it has none (or the element is not an object).
    pub fn id(&self) -> Option<String> {
        id_text(self.element.get("id")?)
    }
}

/// Decodes `value` as `T`; the error names the path of the offending field.
pub fn decode<T: DeserializeOwned>(value: &Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        match path.as_str() {
            "." | "" => e.inner().to_string(),
            _ => format!("{path}: {}", e.inner()),
        }
    })
}

/// Decodes each element of `items` as `T` and converts it with `convert`,
/// in order: an element that fails either step is an [`Unreadable`] (with
/// `convert`'s message) and does not affect the others. `each(items, Ok)`
/// only decodes.
pub fn each<T: DeserializeOwned, R>(
    items: Vec<Value>,
    mut convert: impl FnMut(T) -> Result<R, String>,
) -> impl Iterator<Item = Result<R, Unreadable>> {
    items.into_iter().enumerate().map(move |(index, element)| {
        decode(&element)
            .and_then(&mut convert)
            .map_err(|why| Unreadable {
                index,
                element,
                why,
            })
    })
}

/// For a field the plugin can do without (`#[serde(default, deserialize_with
/// = "lenient::loose")]` on an `Option<T>`): any value that is not a `T` (a
/// null, a string where a number was expected, a number out of range) is
/// `None` instead of an error.
pub fn loose<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    Ok(Option::<Value>::deserialize(d)?.and_then(|v| T::deserialize(v).ok()))
}

/// For a required id that APIs write as a string or as a number: either, as
/// text. Anything else (null included) is an error.
pub fn string_or_integer<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    opt_string_or_integer(d)?.ok_or_else(|| D::Error::custom("expected a string or an integer"))
}

/// For an optional id (`#[serde(default, deserialize_with = …)]`): a string
/// or an integer as text, null as `None`; any other type is an error.
pub fn opt_string_or_integer<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(v) => id_text(&v)
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("expected a string or an integer, found {v}"))),
    }
}

/// A string, or an integer (of any sign and size JSON allows) in decimal.
fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    struct Thing {
        #[serde(deserialize_with = "string_or_integer")]
        id: String,
        #[serde(default, deserialize_with = "opt_string_or_integer")]
        parent: Option<String>,
        #[serde(default, deserialize_with = "loose")]
        status: Option<String>,
        #[serde(default, deserialize_with = "loose")]
        position: Option<i32>,
        body: Option<Body>,
    }

    #[derive(Debug, Deserialize)]
    struct Body {
        value: String,
    }

    fn items(v: Value) -> Vec<Value> {
        match v {
            Value::Array(items) => items,
            other => panic!("not an array: {other}"),
        }
    }

    #[test]
    fn loose_fields_never_fail() {
        let all: Vec<Result<Thing, Unreadable>> = each(items(json!([
            {"id": "1", "status": "some_future_status", "position": -2147483648, "extra": {"x": [1]}},
            {"id": 2, "status": 5, "position": null},
            {"id": "3", "position": 1e40},
            {"id": "4", "position": "3", "status": null, "parent": null},
        ])), Ok)
        .collect();
        let ok: Vec<&Thing> = all.iter().map(|r| r.as_ref().unwrap()).collect();
        assert_eq!(ok[0].status.as_deref(), Some("some_future_status"));
        assert_eq!(ok[0].position, Some(i32::MIN));
        assert_eq!((ok[1].id.as_str(), ok[1].status.as_deref()), ("2", None));
        assert_eq!(ok[1].position, None);
        assert_eq!(ok[2].position, None, "out of range is absent");
        assert_eq!((ok[3].position, ok[3].parent.as_deref()), (None, None));
    }

    #[test]
    fn needed_fields_make_one_element_unreadable() {
        let all: Vec<Result<Thing, Unreadable>> = each(
            items(json!([
                {"id": "1", "body": {"value": "<p>ok</p>"}},
                {"id": "2", "body": {"value": 42}},
                {"title": "no id"},
                {"id": "4", "parent": {"id": "1"}},
                null,
                {"id": 1.5},
                {"id": "7", "body": null},
            ])),
            Ok,
        )
        .collect();
        assert_eq!(
            all[0].as_ref().unwrap().body.as_ref().unwrap().value,
            "<p>ok</p>"
        );
        let bad = all[1].as_ref().unwrap_err();
        assert_eq!((bad.index, bad.id().as_deref()), (1, Some("2")));
        assert!(
            bad.why
                .starts_with("body.value: invalid type: integer `42`"),
            "{}",
            bad.why
        );
        let no_id = all[2].as_ref().unwrap_err();
        assert_eq!(no_id.id(), None);
        assert!(no_id.why.contains("missing field `id`"), "{}", no_id.why);
        assert_eq!(no_id.element["title"], "no id");
        let parent = all[3].as_ref().unwrap_err();
        assert!(
            parent
                .why
                .starts_with("parent: expected a string or an integer"),
            "{}",
            parent.why
        );
        assert_eq!(all[4].as_ref().unwrap_err().id(), None, "a null element");
        assert_eq!(
            all[5].as_ref().unwrap_err().id(),
            None,
            "a fractional id is no id"
        );
        assert!(all[6].as_ref().unwrap().body.is_none(), "null is absent");
    }
}
