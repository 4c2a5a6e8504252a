//! The Confluence fake's own control endpoints (never counted, faulted or
//! authenticated):
//!
//! - `GET /_control/items`: the ground truth, `[{"stream", "id", "version",
//!   "parent_id", "title", "sha256"}]`: pages, then folders, attachments and
//!   comments, each by id. `version` is a decimal string; `parent_id` the
//!   parent page or folder (null at the root) or, for attachments and
//!   comments, the container page; `sha256` (hex) of the storage body for
//!   pages and comments, of the bytes for attachments, of nothing for
//!   folders. Pages and comments also carry `sha256_atlas_doc_format`.
//! - `POST /_control/mutate` with `{"update", "delete", "create", "move",
//!   "attachments", "update_ids": ["id", ...]}` (see
//!   [`super::mutate::Mutation`]; `update_ids`: pages updated on purpose).
//! - `POST /_control/retitle` with `{"id": "PAGE ID", "title": "..."}`: any
//!   title, for tests of titles the dataset does not make (a new version).
//! - `missing_pages`, `spec_edges`, `malformed` and `nameless` in
//!   `POST /_control/faults` ([`ConfluenceFaults`]).

use std::sync::{Arc, PoisonError};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

use super::content;
use super::data::Kind;
use super::mutate::MutateRequest;
use super::{json_ok, shapes, ShaEntry, Store};
use crate::fake::common::{self, bad_request, ExtraFaults};

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

struct Entry {
    kind: Kind,
    id: u64,
    version: u32,
    parent: Option<u64>,
    title: String,
    media: usize,
    /// A page's or blog post's storage body written through the API.
    body: Option<Arc<str>>,
    /// Inline comments anchored in a generated body, and its image.
    markers: Vec<u64>,
    image: Option<String>,
    /// Pages and blog posts: labels, properties and restrictions; inline
    /// comments: resolution status, marker reference and selection.
    extra: Map<String, Value>,
}

/// The ground-truth fields a page or blog post has besides its version.
fn annotations(d: &super::data::Data, id: u64) -> Map<String, Value> {
    let a = &d.annot;
    let properties: Map<String, Value> = a
        .properties_of(id)
        .iter()
        .map(|p| (p.key.clone(), p.value.clone()))
        .collect();
    let r = a.restrictions_of(id);
    let mut m = Map::new();
    m.insert("labels".into(), a.labels_of(id).collect::<Vec<_>>().into());
    m.insert("properties".into(), properties.into());
    m.insert("restricted".into(), (!r.read.is_empty()).into());
    m.insert(
        "restrictions".into(),
        json!({"read": r.read.to_json(), "update": r.update.to_json()}),
    );
    m
}

/// `GET /_control/items`.
pub async fn ground_truth(State(store): State<Arc<Store>>) -> Response {
    let entries: Vec<Entry> = {
        let d = store.read();
        let nodes = |kind: Kind| -> Vec<Entry> {
            d.nodes(kind)
                .iter()
                .map(|(id, n)| Entry {
                    kind,
                    id: *id,
                    version: n.meta.version,
                    parent: n.parent.map(|p| p.id()),
                    title: n.meta.title.clone(),
                    media: 0,
                    body: n.body.clone(),
                    markers: n.markers.clone(),
                    image: n.image.clone(),
                    extra: if kind == Kind::Folder {
                        Map::new()
                    } else {
                        annotations(&d, *id)
                    },
                })
                .collect()
        };
        let mut v = nodes(Kind::Page);
        v.extend(nodes(Kind::Folder));
        v.extend(d.attachments.iter().map(|(id, a)| Entry {
            kind: Kind::Attachment,
            id: *id,
            version: a.meta.version,
            parent: Some(a.page),
            title: a.meta.title.clone(),
            media: a.media,
            body: None,
            markers: Vec::new(),
            image: None,
            extra: Map::new(),
        }));
        for inline in [false, true] {
            v.extend(
                d.comments
                    .iter()
                    .filter(|(_, c)| c.inline.is_some() == inline)
                    .map(|(id, c)| {
                        let mut extra = Map::new();
                        if let Some(status) = c.inline {
                            let (reference, selection) = content::marker(store.seed, *id);
                            extra.insert("resolutionStatus".into(), status.into());
                            extra.insert("inlineMarkerRef".into(), reference.into());
                            extra.insert("inlineOriginalSelection".into(), selection.into());
                        }
                        Entry {
                            kind: c.kind(),
                            id: *id,
                            version: c.meta.version,
                            parent: Some(c.page),
                            title: c.meta.title.clone(),
                            media: 0,
                            body: None,
                            markers: Vec::new(),
                            image: None,
                            extra,
                        }
                    }),
            );
        }
        v.extend(nodes(Kind::BlogPost));
        v
    };
    let empty = sha(b"");
    let out: Vec<Value> = entries
        .into_iter()
        .map(|e| {
            let mut v = json!({
                "stream": e.kind.stream(),
                "id": e.kind.id_string(e.id),
                "version": e.version.to_string(),
                "parent_id": e.parent.map(|p| p.to_string()),
                "title": e.title,
            });
            if e.kind == Kind::Folder {
                v["sha256"] = empty.clone().into();
            } else {
                let (main, adf) = digests(&store, &e);
                v["sha256"] = hex(&main).into();
                if let Some(adf) = adf {
                    v["sha256_atlas_doc_format"] = hex(&adf).into();
                }
            }
            let obj = v.as_object_mut().expect("object");
            obj.extend(e.extra);
            v
        })
        .collect();
    json_ok(&Value::Array(out))
}

/// The digests of an entry (see [`ShaEntry`]), cached by (id, version)
/// unless written through the API.
fn digests(store: &Store, e: &Entry) -> ShaEntry {
    let digest = |b: &[u8]| -> [u8; 32] { Sha256::digest(b).into() };
    if let Some(storage) = &e.body {
        let doc = content::written_doc(storage);
        return (
            digest(doc.storage.as_bytes()),
            Some(digest(doc.adf.as_bytes())),
        );
    }
    let key = (e.id, e.version);
    if let Some(d) = store
        .sha_cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
    {
        return *d;
    }
    let entry = match e.kind {
        Kind::Attachment => {
            let media = content::MEDIA[e.media];
            let bytes = content::attachment_bytes(
                store.seed,
                e.id,
                e.version,
                media,
                store.attachment_bytes,
            );
            (digest(&bytes), None)
        }
        Kind::Folder => (digest(b""), None),
        kind => {
            let doc = match kind {
                Kind::Page | Kind::BlogPost => {
                    content::page_doc(store.seed, e.id, e.version, &e.markers, e.image.as_deref())
                }
                _ => content::comment_doc(store.seed, e.id, e.version),
            };
            (
                digest(doc.storage.as_bytes()),
                Some(digest(doc.adf.as_bytes())),
            )
        }
    };
    store
        .sha_cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(key, entry);
    entry
}

/// `POST /_control/mutate`.
pub async fn mutate(State(store): State<Arc<Store>>, body: Bytes) -> Response {
    let body = match common::json_body(&body) {
        Ok(v) => v,
        Err(msg) => return bad_request(msg),
    };
    let Some(obj) = body.as_object() else {
        return bad_request("the body must be a JSON object");
    };
    let mut req = MutateRequest::default();
    for (key, value) in obj {
        if key == "update_ids" {
            match ids(key, value) {
                Ok(ids) => req.update_ids = ids.into_iter().collect(),
                Err(msg) => return bad_request(msg),
            }
            continue;
        }
        let Some(n) = value.as_u64() else {
            return bad_request(format!("{key} must be a non-negative integer"));
        };
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        match key.as_str() {
            "update" => req.update = n,
            "delete" => req.delete = n,
            "create" => req.create = n,
            "move" => req.moves = n,
            "attachments" => req.attachments = n,
            "blogposts_update" => req.blogposts_update = n,
            "blogposts_delete" => req.blogposts_delete = n,
            "blogposts_create" => req.blogposts_create = n,
            "labels" => req.labels = n,
            "inline_create" => req.inline_create = n,
            "inline_update" => req.inline_update = n,
            "inline_delete" => req.inline_delete = n,
            "inline_resolve" => req.inline_resolve = n,
            "properties" => req.properties = n,
            "restrictions" => req.restrictions = n,
            other => return bad_request(format!("unknown field {other:?}")),
        }
    }
    let now = chrono::Utc::now().timestamp_millis();
    let result = store.write().mutate(req, now);
    match result {
        Ok(m) => match serde_json::to_value(&m) {
            Ok(v) => json_ok(&v),
            Err(e) => common::error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
        },
        Err(msg) => common::error(StatusCode::CONFLICT, "conflict", msg),
    }
}

/// `POST /_control/retitle`.
pub async fn retitle(State(store): State<Arc<Store>>, body: Bytes) -> Response {
    let body = match common::json_body(&body) {
        Ok(v) => v,
        Err(msg) => return bad_request(msg),
    };
    let id = body["id"].as_str().and_then(|id| id.parse::<u64>().ok());
    let (Some(id), Some(title)) = (id, body["title"].as_str()) else {
        return bad_request(r#"the body must be {"id": "PAGE ID", "title": "..."}"#);
    };
    let now = chrono::Utc::now().timestamp_millis();
    match store.write().retitle(id, title.to_owned(), now) {
        Ok(()) => json_ok(&json!({"id": id.to_string(), "title": title})),
        Err(msg) => common::error(StatusCode::NOT_FOUND, "not-found", msg),
    }
}

/// The Confluence fake's own keys of `POST /_control/faults`, each
/// replacing its value (`[]` or `false` clears it):
///
/// - `missing_pages: ["id", ...]`: those pages stay in listings and CQL
///   results but answer 404 on `GET /pages/{id}` (and its sub-resources)
///   and are left out of bulk `GET /pages?id=`;
/// - `spec_edges: bool`, `malformed: ["id", ...]`, `nameless: ["id", ...]`:
///   answer shapes (see [`super::shapes`]).
pub struct ConfluenceFaults(pub Arc<Store>);

fn ids(key: &str, value: &Value) -> Result<Vec<u64>, String> {
    let list = value
        .as_array()
        .ok_or_else(|| format!("{key} must be an array of ids"))?;
    list.iter()
        .map(|v| shapes::parse_id(v).ok_or_else(|| format!("{key}: not an id: {v}")))
        .collect()
}

impl ExtraFaults for ConfluenceFaults {
    fn prepare(
        self: Arc<Self>,
        extra: Map<String, Value>,
    ) -> Result<Box<dyn FnOnce() + Send>, String> {
        let mut missing = None;
        let mut shapes = self.0.shapes().clone();
        for (key, value) in extra {
            match key.as_str() {
                "missing_pages" => missing = Some(ids(&key, &value)?),
                "spec_edges" => {
                    shapes.spec_edges = value.as_bool().ok_or("spec_edges must be a boolean")?
                }
                "malformed" => shapes.malformed = ids(&key, &value)?.into_iter().collect(),
                "nameless" => shapes.nameless = ids(&key, &value)?.into_iter().collect(),
                _ => return Err(format!("unknown field {key:?}")),
            }
        }
        Ok(Box::new(move || {
            if let Some(ids) = missing {
                let mut data = self.0.write();
                data.missing = ids.into_iter().collect();
            }
            *self.0.shapes() = shapes;
        }))
    }

    fn describe(&self, out: &mut Map<String, Value>) {
        let strings = |ids: &mut dyn Iterator<Item = u64>| -> Value {
            ids.map(|id| id.to_string()).collect::<Vec<_>>().into()
        };
        let data = self.0.read();
        let mut missing: Vec<u64> = data.missing.iter().copied().collect();
        missing.sort_unstable();
        out.insert("missing_pages".into(), strings(&mut missing.into_iter()));
        let shapes = self.0.shapes();
        out.insert("spec_edges".into(), shapes.spec_edges.into());
        out.insert(
            "malformed".into(),
            strings(&mut shapes.malformed.iter().copied()),
        );
        out.insert(
            "nameless".into(),
            strings(&mut shapes.nameless.iter().copied()),
        );
    }
}
