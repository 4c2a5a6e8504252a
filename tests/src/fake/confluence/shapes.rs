//! Answer shapes the specs permit but a client may not expect, and broken
//! entries, switched on through `POST /_control/faults` (see
//! [`super::control::ConfluenceFaults`]):
//!
//! - `spec_edges: true`: every v2 and v1 object of an item is rendered with
//!   edge values the official OpenAPI files allow: `version.number` negated
//!   (int32, so `-N` for version `N`), `position` `-2147483648` or `null`
//!   (int32, nullable; odd ids get the minimum), `status`
//!   `some_future_status` (an enum value the client does not know), nulls in
//!   the nullable fields (v2 `ownerId`, `lastOwnerId`, `subtype`; v1
//!   `version.when`, `friendlyWhen`, `message`, `by`) and an unknown field,
//!   `futureField`. Spaces get unknown `type` and `status` values.
//!   `/_control/items` is unchanged: a client's version for item version `N`
//!   is then `-N`.
//! - `malformed: [id, ...]`: those items (any kind; `att123` or `123`) are
//!   rendered with fields a client needs of the wrong type wherever they
//!   appear: `title` an object, and `body`, when present, a string.
//! - `nameless: [id, ...]`: those items are rendered without `id`.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::data::Kind;

/// The shape faults in force.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Shapes {
    pub spec_edges: bool,
    pub malformed: BTreeSet<u64>,
    pub nameless: BTreeSet<u64>,
}

impl Shapes {
    /// Reshapes the v2 object `v` of item `id` of `kind`.
    pub fn v2(&self, kind: Kind, id: u64, v: &mut Value) {
        let Some(obj) = v.as_object_mut() else {
            return;
        };
        if self.spec_edges {
            if let Some(Value::Object(version)) = obj.get_mut("version") {
                negate(version);
            }
            if obj.contains_key("position") {
                obj.insert("position".into(), edge_position(id));
            }
            if kind == Kind::Page {
                for nullable in ["ownerId", "lastOwnerId", "subtype"] {
                    obj.insert(nullable.into(), Value::Null);
                }
            }
            common_edges(obj);
        }
        self.break_item(id, obj);
    }

    /// Reshapes the v1 `Content` object `v` of item `id` (the top-level
    /// entry, not the nested container or ancestors).
    pub fn v1(&self, id: u64, v: &mut Value) {
        let Some(obj) = v.as_object_mut() else {
            return;
        };
        if self.spec_edges {
            if let Some(Value::Object(version)) = obj.get_mut("version") {
                negate(version);
                for nullable in ["when", "friendlyWhen", "message", "by"] {
                    version.insert(nullable.into(), Value::Null);
                }
            }
            if let Some(Value::Object(ext)) = obj.get_mut("extensions") {
                if ext.contains_key("position") {
                    ext.insert("position".into(), edge_position(id));
                }
            }
            common_edges(obj);
        }
        self.break_item(id, obj);
    }

    /// Reshapes a v2 `SpaceBulk`.
    pub fn space(&self, v: &mut Value) {
        if let (true, Some(obj)) = (self.spec_edges, v.as_object_mut()) {
            obj.insert("type".into(), "some_future_type".into());
            common_edges(obj);
        }
    }

    fn break_item(&self, id: u64, obj: &mut Map<String, Value>) {
        if self.malformed.contains(&id) {
            let title = obj.remove("title").unwrap_or(Value::Null);
            obj.insert("title".into(), json!({ "text": title }));
            if let Some(body) = obj.get_mut("body") {
                if body.as_object().is_some_and(|b| !b.is_empty()) {
                    *body = "<p>a body that is not an object</p>".into();
                }
            }
        }
        if self.nameless.contains(&id) {
            obj.remove("id");
        }
    }
}

/// `version.number` → `-number`.
fn negate(version: &mut Map<String, Value>) {
    if let Some(n) = version.get("number").and_then(Value::as_i64) {
        version.insert("number".into(), (-n).into());
    }
}

/// int32, nullable: the minimum for odd ids, null for even ones.
fn edge_position(id: u64) -> Value {
    if id % 2 == 1 {
        i32::MIN.into()
    } else {
        Value::Null
    }
}

fn common_edges(obj: &mut Map<String, Value>) {
    obj.insert("status".into(), "some_future_status".into());
    obj.insert(
        "futureField".into(),
        json!({"nested": [1, null, {"x": -1}], "flag": true}),
    );
}

/// An item id as the faults take it: `123`, `"123"` or `"att123"`.
pub fn parse_id(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.strip_prefix("att").unwrap_or(s).parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_and_breakage() {
        let shapes = Shapes {
            spec_edges: true,
            malformed: BTreeSet::from([7]),
            nameless: BTreeSet::from([9]),
        };
        let mut page = json!({"id": "7", "title": "T", "position": 3, "status": "current",
            "version": {"number": 4}, "body": {"storage": {"value": "<p/>"}}});
        shapes.v2(Kind::Page, 7, &mut page);
        assert_eq!(page["version"]["number"], -4);
        assert_eq!(page["position"], i32::MIN);
        assert_eq!(page["status"], "some_future_status");
        assert_eq!(page["ownerId"], Value::Null);
        assert_eq!(page["title"], json!({"text": "T"}));
        assert!(page["body"].is_string());
        let mut folder = json!({"id": "8", "position": 3, "version": {"number": 1}});
        shapes.v2(Kind::Folder, 8, &mut folder);
        assert_eq!(folder["position"], Value::Null);
        assert!(folder.get("ownerId").is_none(), "not nullable for folders");
        let mut content = json!({"id": "9", "version": {"number": 2, "when": "x"}, "body": {}});
        shapes.v1(9, &mut content);
        assert_eq!(
            content["version"],
            json!({"number": -2, "when": null, "friendlyWhen": null, "message": null, "by": null})
        );
        assert!(content.get("id").is_none());
        assert_eq!(content["body"], json!({}), "an empty body stays");
        assert_eq!(parse_id(&json!("att12")), Some(12));
        assert_eq!(parse_id(&json!(5)), Some(5));
        assert_eq!(parse_id(&json!("x")), None);
    }
}
