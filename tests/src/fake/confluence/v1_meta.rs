//! v1 labels, content properties and restrictions of pages and blog posts:
//! their shapes (also as `metadata.labels`, `metadata.properties[.KEY]`
//! and `restrictions.{read,update}.restrictions.{user,group}` expansions of
//! a v1 Content) and their routes:
//!
//! - `GET /wiki/rest/api/content/{id}/label` (`prefix`, `start`, `limit`
//!   default 200), `POST` (a `LabelCreate` or an array of them; answers
//!   every label now on the content), `DELETE .../label/{label}` and
//!   `DELETE .../label?name=` (204; 404 when the label is not there);
//! - `GET /wiki/rest/api/content/{id}/property` (`key`, `start`, `limit`
//!   default 10) and `.../property/{key}`;
//! - `GET /wiki/rest/api/content/{id}/restriction` (a ContentRestrictionArray),
//!   `.../restriction/byOperation` (operation -> ContentRestriction) and
//!   `.../restriction/byOperation/{operationKey}`.
//!
//! Label writes change neither the version nor `lastmodified`.

// Errors are finished HTTP answers handed straight back to axum.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::annot::{Property, Who};
use super::data::{Data, Kind};
use super::search::Expand;
use super::v1::user_json;
use super::v1_page::{offset_page, Offset};
use super::{base_url, iso_ms, json_ok, v1_error, Params, Store};

/// A v1 Label.
pub fn label_json(data: &Data, name: &str) -> Value {
    let id = data.annot.known_label_id(name).unwrap_or_default();
    json!({"prefix": "global", "name": name, "id": id.to_string(), "label": name})
}

/// A v1 ContentProperty of content `id`.
pub fn property_json(base: &str, id: u64, p: &Property) -> Value {
    json!({
        "id": p.id.to_string(),
        "key": p.key,
        "value": p.value,
        "version": {
            "when": iso_ms(p.modified),
            "message": "",
            "number": p.version,
            "minorEdit": false,
            "contentTypeModified": false,
        },
        "_expandable": {"content": format!("/rest/api/content/{id}"), "additionalProperties": ""},
        "_links": {"self": format!("{base}/rest/api/content/{id}/property/{}", p.key)},
    })
}

/// The labels of `id` as a LabelArray (the first 200).
fn label_array(data: &Data, base: &str, id: u64) -> Value {
    let all: Vec<Value> = data
        .annot
        .labels_of(id)
        .map(|n| label_json(data, n))
        .collect();
    let path = format!("/rest/api/content/{id}/label");
    offset_page(
        base,
        &path,
        None,
        all,
        Offset {
            start: 0,
            limit: 200,
        },
    )
}

/// `metadata` of page or blog post `id` when `exp` asks for labels or
/// properties.
pub fn metadata_json(data: &Data, base: &str, id: u64, exp: &Expand) -> Option<Value> {
    if !exp.labels && !exp.properties && exp.property_keys.is_empty() {
        return None;
    }
    let mut m = Map::new();
    let mut expandable = Map::new();
    for k in ["currentuser", "comments", "simple", "frontend", "likes"] {
        expandable.insert(k.into(), "".into());
    }
    if exp.labels {
        m.insert("labels".into(), label_array(data, base, id));
    } else {
        expandable.insert("labels".into(), "".into());
    }
    let props = data.annot.properties_of(id);
    if exp.properties {
        let all: Vec<Value> = props.iter().map(|p| property_json(base, id, p)).collect();
        let path = format!("/rest/api/content/{id}/property");
        let limit = all.len().max(1);
        m.insert(
            "properties".into(),
            offset_page(base, &path, None, all, Offset { start: 0, limit }),
        );
    } else if !exp.property_keys.is_empty() {
        // `metadata.properties.KEY`: key -> ContentProperty, for the keys present.
        let by_key: Map<String, Value> = props
            .iter()
            .filter(|p| exp.property_keys.contains(&p.key))
            .map(|p| (p.key.clone(), property_json(base, id, p)))
            .collect();
        m.insert("properties".into(), by_key.into());
    } else {
        expandable.insert("properties".into(), "".into());
    }
    m.insert("_expandable".into(), expandable.into());
    Some(m.into())
}

fn group_json(base: &str, name: &str) -> Value {
    let id = crate::fake::words::uuid_v4(
        super::content::mix(0, 8, name.len() as u64, 0),
        name.bytes()
            .fold(0u64, |h, b| super::content::mix64(h ^ u64::from(b))),
    );
    json!({
        "type": "group",
        "name": name,
        "id": id,
        "_links": {"self": format!("{base}/rest/api/group/by-id?id={id}")},
    })
}

/// One ContentRestriction (`read` or `update`) of content `id`; users and
/// groups expanded as `[users, groups]` says.
fn restriction_json(base: &str, id: u64, op: &str, who: &Who, expand: [bool; 2]) -> Value {
    let mut restrictions = Map::new();
    let mut expandable = Map::new();
    let users: Vec<Value> = who.users.iter().map(|u| user_json(base, *u)).collect();
    let groups: Vec<Value> = who.groups.iter().map(|g| group_json(base, g)).collect();
    for ((name, list), on) in [("user", users), ("group", groups)].into_iter().zip(expand) {
        if on {
            let n = list.len();
            restrictions.insert(
                name.into(),
                json!({"results": list, "start": 0, "limit": 200, "size": n}),
            );
        } else {
            expandable.insert(
                name.into(),
                format!("/rest/api/content/{id}/restriction/byOperation/{op}/{name}").into(),
            );
        }
    }
    restrictions.insert("_expandable".into(), expandable.into());
    json!({
        "operation": op,
        "restrictions": restrictions,
        "_expandable": {"content": format!("/rest/api/content/{id}")},
        "_links": {"self": format!("{base}/rest/api/content/{id}/restriction/byOperation/{op}")},
    })
}

/// `restrictions` of a v1 Content when `exp` expands any of them.
pub fn expanded_restrictions(data: &Data, base: &str, id: u64, exp: &Expand) -> Option<Value> {
    if exp.restrictions.iter().flatten().all(|on| !on) {
        return None;
    }
    let r = data.annot.restrictions_of(id);
    let mut out = Map::new();
    for (i, (op, who)) in [("read", &r.read), ("update", &r.update)]
        .into_iter()
        .enumerate()
    {
        if exp.restrictions[i].iter().any(|on| *on) {
            out.insert(
                op.into(),
                restriction_json(base, id, op, who, exp.restrictions[i]),
            );
        }
    }
    out.insert(
        "_links".into(),
        json!({"self": format!("{base}/rest/api/content/{id}/restriction/byOperation")}),
    );
    Some(out.into())
}

/// The page or blog post `raw` (v1 404 otherwise).
pub fn v1_container(data: &Data, raw: &str) -> Result<(Kind, u64), Response> {
    raw.parse::<u64>()
        .ok()
        .and_then(|id| Some((data.container_kind(id)?, id)))
        .filter(|(kind, id)| !(*kind == Kind::Page && data.missing.contains(id)))
        .ok_or_else(|| {
            v1_error(
                StatusCode::NOT_FOUND,
                format!("No content found with id: ContentId{{id={raw}}}"),
            )
        })
}

type Q = Query<Vec<(String, String)>>;

/// `GET /wiki/rest/api/content/{id}/label`.
pub async fn labels(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Query(q): Q,
) -> Response {
    let p = Params(q);
    let page = match Offset::parse(&p, 200, 200) {
        Ok(o) => o,
        Err(resp) => return resp,
    };
    let base = base_url(&headers);
    let data = store.read();
    let (_, id) = match v1_container(&data, &raw) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let prefix_ok = p.get("prefix").is_none_or(|x| x == "global");
    let all: Vec<Value> = data
        .annot
        .labels_of(id)
        .filter(|_| prefix_ok)
        .map(|n| label_json(&data, n))
        .collect();
    let path = format!("/rest/api/content/{id}/label");
    json_ok(&offset_page(&base, &path, Some(&p), all, page))
}

/// Label names from a `LabelCreate` or an array of them.
fn label_names(body: &Bytes) -> Result<Vec<String>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("Invalid JSON: {e}"))?;
    let items = match v {
        Value::Array(items) => items,
        obj @ Value::Object(_) => vec![obj],
        _ => return Err("Expected a label or an array of labels".to_owned()),
    };
    let mut names = Vec::new();
    for item in items {
        let name = item["name"]
            .as_str()
            .ok_or("Label name must not be empty")?
            .trim()
            .to_lowercase();
        let prefix = item["prefix"].as_str().unwrap_or("global");
        if prefix != "global" {
            return Err(format!(
                "The fake only stores global labels, not {prefix:?}"
            ));
        }
        if name.is_empty()
            || name
                .chars()
                .any(|c| c.is_whitespace() || "!#&()*,.:;<>?@[]^".contains(c))
        {
            return Err(format!("Label name is invalid: {name:?}"));
        }
        if name.chars().count() > 255 {
            return Err("Label name must not exceed 255 characters".to_owned());
        }
        names.push(name);
    }
    Ok(names)
}

/// `POST /wiki/rest/api/content/{id}/label`: adds labels (present ones
/// stay); answers every label of the content.
pub async fn add_labels(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    let names = match label_names(&body) {
        Ok(n) => n,
        Err(msg) => return v1_error(StatusCode::BAD_REQUEST, msg),
    };
    let base = base_url(&headers);
    let mut data = store.write();
    let (_, id) = match v1_container(&data, &raw) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    for n in &names {
        data.annot.add_label(id, n);
    }
    let all: Vec<Value> = data
        .annot
        .labels_of(id)
        .map(|n| label_json(&data, n))
        .collect();
    let path = format!("/rest/api/content/{id}/label");
    let limit = all.len().max(1);
    json_ok(&offset_page(
        &base,
        &path,
        None,
        all,
        Offset { start: 0, limit },
    ))
}

/// `DELETE /wiki/rest/api/content/{id}/label?name=NAME`.
pub async fn delete_label_query(
    State(store): State<Arc<Store>>,
    Path(raw): Path<String>,
    Query(q): Q,
) -> Response {
    match Params(q).get("name") {
        Some(name) => delete_label(&store, &raw, name),
        None => v1_error(StatusCode::BAD_REQUEST, "Label name is required"),
    }
}

/// `DELETE /wiki/rest/api/content/{id}/label/{label}`.
pub async fn delete_label_path(
    State(store): State<Arc<Store>>,
    Path((raw, name)): Path<(String, String)>,
) -> Response {
    delete_label(&store, &raw, &name)
}

fn delete_label(store: &Store, raw: &str, name: &str) -> Response {
    let mut data = store.write();
    let (_, id) = match v1_container(&data, raw) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    if data.annot.remove_label(id, &name.trim().to_lowercase()) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        v1_error(
            StatusCode::NOT_FOUND,
            format!("Label '{name}' is not on content {raw}"),
        )
    }
}

/// `GET /wiki/rest/api/content/{id}/property`.
pub async fn properties(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Query(q): Q,
) -> Response {
    let p = Params(q);
    let page = match Offset::parse(&p, 10, 200) {
        Ok(o) => o,
        Err(resp) => return resp,
    };
    let base = base_url(&headers);
    let data = store.read();
    let (_, id) = match v1_container(&data, &raw) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let key = p.get("key");
    let all: Vec<Value> = data
        .annot
        .properties_of(id)
        .iter()
        .filter(|x| key.is_none_or(|k| k == x.key))
        .map(|x| property_json(&base, id, x))
        .collect();
    let path = format!("/rest/api/content/{id}/property");
    json_ok(&offset_page(&base, &path, Some(&p), all, page))
}

/// `GET /wiki/rest/api/content/{id}/property/{key}`.
pub async fn property(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    Path((raw, key)): Path<(String, String)>,
) -> Response {
    let base = base_url(&headers);
    let data = store.read();
    let (_, id) = match v1_container(&data, &raw) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    match data.annot.properties_of(id).iter().find(|x| x.key == key) {
        Some(x) => json_ok(&property_json(&base, id, x)),
        None => v1_error(
            StatusCode::NOT_FOUND,
            format!("Cannot find content property with key '{key}' on content {raw}"),
        ),
    }
}

/// `GET /wiki/rest/api/content/{id}/restriction`: a ContentRestrictionArray.
pub async fn restrictions(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    let base = base_url(&headers);
    let data = store.read();
    let (_, id) = match v1_container(&data, &raw) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let r = data.annot.restrictions_of(id);
    let results = vec![
        restriction_json(&base, id, "read", &r.read, [true, true]),
        restriction_json(&base, id, "update", &r.update, [true, true]),
    ];
    let hash = super::content::mix(
        store.seed,
        9,
        id,
        (r.read.users.len() * 7 + r.update.users.len()) as u64,
    );
    json_ok(&json!({
        "results": results,
        "start": 0,
        "limit": 100,
        "size": 2,
        "restrictionsHash": format!("{hash:016x}"),
        "_links": {"base": base, "context": "/wiki", "self": format!("{base}/rest/api/content/{id}/restriction")},
    }))
}

/// `GET /wiki/rest/api/content/{id}/restriction/byOperation[/{op}]`.
pub async fn restrictions_by_operation(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    Path(params): Path<Vec<(String, String)>>,
) -> Response {
    let raw = params.first().map_or("", |(_, v)| v.as_str());
    let only = params.get(1).map(|(_, v)| v.as_str());
    if only.is_some_and(|o| o != "read" && o != "update") {
        return v1_error(
            StatusCode::BAD_REQUEST,
            format!("Unknown operation: {}", only.unwrap_or_default()),
        );
    }
    let base = base_url(&headers);
    let data = store.read();
    let (_, id) = match v1_container(&data, raw) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let r = data.annot.restrictions_of(id);
    let ops = [("read", &r.read), ("update", &r.update)];
    match only {
        Some(op) => {
            let who = if op == "read" { &r.read } else { &r.update };
            json_ok(&restriction_json(&base, id, op, who, [true, true]))
        }
        None => {
            let mut out: Map<String, Value> = ops
                .iter()
                .map(|(op, who)| {
                    (
                        (*op).into(),
                        restriction_json(&base, id, op, who, [true, true]),
                    )
                })
                .collect();
            out.insert(
                "_links".into(),
                json!({"base": base, "context": "/wiki", "self": format!("{base}/rest/api/content/{id}/restriction/byOperation")}),
            );
            json_ok(&Value::Object(out))
        }
    }
}
