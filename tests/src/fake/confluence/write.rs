//! The v2 page writes: `PUT /wiki/api/v2/pages/{id}` (PageUpdateRequest),
//! `POST /wiki/api/v2/pages` (PageCreateRequest) and
//! `DELETE /wiki/api/v2/pages/{id}`, per the official spec and
//! `api-contracts.md` §1.9 and §1.10.
//!
//! What is written is stored: the title, the storage body and
//! `version.message` of the new version ([`super::data::Node::body`],
//! [`super::data::Meta::message`]), so every read (v2, v1, CQL, the ground
//! truth) shows it. A write takes the next change time, so a CQL
//! `lastmodified` delta finds it. `/_control/mutate` and these writes bump
//! the same per-page version.
//!
//! Choices where the contract is unsure ([U]):
//! - Validation errors are one 400 `INVALID_REQUEST_BODY` envelope with an
//!   entry per problem (`"<field>: must not be null"`, "Non-drafts cannot
//!   have empty titles", ...).
//! - Only `storage` bodies and `current` pages are written: an
//!   `atlas_doc_format` or `wiki` body, a draft, a live doc or `purge=true`
//!   is a 400 naming the limit.
//! - Titles are unique among the space's pages by exact match (the
//!   generated dataset has a few duplicates; they stay, and only a create
//!   or a title change is checked).
//! - An unknown `parentId` is a 404 (`Cannot find a page or folder with id
//!   [N]`), a move below the page itself a 400.
//! - The author of a write is the first user (the site's API user).

// Errors are finished HTTP answers handed straight back to axum.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::data::{Data, Kind, Meta, Ms, Node, Parent, ParentKey};
use super::v2_params::{parse_id, BodyFormat};
use super::v2_render::node_json;
use super::v2_sub::live_node;
use super::{base_url, json_ok, v2_bad_param, v2_error, Params, Store};

/// Largest request body accepted (the spec's 413 limit of create).
pub const MAX_BODY_BYTES: usize = 5 << 20;

/// The user API writes are made as (index into `content::USERS`).
const API_USER: usize = 0;

/// 400 `INVALID_REQUEST_BODY` with one entry per problem.
fn invalid_body(titles: &[String]) -> Response {
    let errors: Vec<Value> = titles
        .iter()
        .map(|t| json!({"status": 400, "code": "INVALID_REQUEST_BODY", "title": t, "detail": null}))
        .collect();
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({ "errors": errors })),
    )
        .into_response()
}

fn too_large() -> Response {
    v2_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "REQUEST_ENTITY_TOO_LARGE",
        format!("Request body is larger than {MAX_BODY_BYTES} bytes"),
    )
}

/// The JSON object of a request body.
fn body_object(body: &Bytes) -> Result<Map<String, Value>, Response> {
    if body.len() > MAX_BODY_BYTES {
        return Err(too_large());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(obj)) => Ok(obj),
        Ok(_) => Err(invalid_body(&[
            "Request body must be a JSON object".to_owned()
        ])),
        Err(e) => Err(invalid_body(&[format!("Invalid request body: {e}")])),
    }
}

/// Collects the problems of one request body.
struct Checker<'a> {
    obj: &'a Map<String, Value>,
    errors: Vec<String>,
}

impl<'a> Checker<'a> {
    fn field(&self, name: &str) -> Option<&'a Value> {
        self.obj.get(name).filter(|v| !v.is_null())
    }

    /// A string field; `required` reports absence.
    fn string(&mut self, name: &str, required: bool) -> Option<String> {
        self.text(name, required, false)
    }

    /// An id: a string, or an integer as lenient clients send it.
    fn id(&mut self, name: &str, required: bool) -> Option<String> {
        self.text(name, required, true)
    }

    fn text(&mut self, name: &str, required: bool, id: bool) -> Option<String> {
        match self.field(name) {
            None => {
                if required {
                    self.errors.push(format!("{name}: must not be null"));
                }
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) if id && n.is_u64() => Some(n.to_string()),
            Some(_) => {
                self.errors.push(format!("{name}: must be a string"));
                None
            }
        }
    }

    /// `status`: `current` or `draft`.
    fn status(&mut self, required: bool) -> Option<String> {
        let status = self.string("status", required)?;
        if status == "current" || status == "draft" {
            Some(status)
        } else {
            self.errors.push(format!(
                "status: Cannot deserialize value of type `ContentStatus` from String \"{status}\": not one of the values accepted for Enum class: [current, draft]"
            ));
            None
        }
    }

    /// A title a non-draft needs.
    fn title(&mut self, status: Option<&str>, required: bool) -> Option<String> {
        let title = self.string("title", required);
        if status != Some("draft") && title.as_deref().is_none_or(|t| t.trim().is_empty()) {
            self.errors
                .push("Non-drafts cannot have empty titles".to_owned());
        }
        title
    }

    /// The storage value of `body`: a PageBodyWrite
    /// (`{representation, value}`) or a PageNestedBodyWrite
    /// (`{"storage": {...}}`).
    fn body(&mut self, required: bool) -> Option<String> {
        let Some(body) = self.field("body") else {
            if required {
                self.errors.push("body: must not be null".to_owned());
            }
            return None;
        };
        let Some(obj) = body.as_object() else {
            self.errors.push("body: must be an object".to_owned());
            return None;
        };
        let (write, path) = if obj.contains_key("representation") || obj.contains_key("value") {
            (obj, "body")
        } else {
            let formats: Vec<&String> = obj.keys().collect();
            match formats.as_slice() {
                [name] => match obj[name.as_str()].as_object() {
                    Some(inner) if name.as_str() == "storage" => (inner, "body.storage"),
                    Some(_) if ["atlas_doc_format", "wiki"].contains(&name.as_str()) => {
                        self.errors
                            .push(format!("body.{name}: the fake stores storage bodies only"));
                        return None;
                    }
                    _ => {
                        self.errors
                            .push(format!("body.{name}: not a body representation"));
                        return None;
                    }
                },
                _ => {
                    self.errors.push(
                        "body: exactly one of storage, atlas_doc_format or wiki must be given"
                            .to_owned(),
                    );
                    return None;
                }
            }
        };
        // Nested bodies may leave out the representation their key names.
        match write.get("representation") {
            Some(Value::String(r)) if r == "storage" => {}
            None if path == "body.storage" => {}
            None | Some(Value::Null) => {
                self.errors
                    .push(format!("{path}.representation: must not be null"));
                return None;
            }
            Some(Value::String(r)) if r == "atlas_doc_format" || r == "wiki" => {
                self.errors.push(format!(
                    "{path}.representation: the fake stores storage bodies only, not {r}"
                ));
                return None;
            }
            Some(other) => {
                self.errors.push(format!(
                    "{path}.representation: must be one of [storage, atlas_doc_format, wiki], got {other}"
                ));
                return None;
            }
        }
        match write.get("value") {
            Some(Value::String(v)) => Some(v.clone()),
            None | Some(Value::Null) => {
                self.errors.push(format!("{path}.value: must not be null"));
                None
            }
            Some(_) => {
                self.errors.push(format!("{path}.value: must be a string"));
                None
            }
        }
    }

    /// `version`: `(number, message)`.
    fn version(&mut self) -> Option<(i64, String)> {
        let Some(version) = self.field("version") else {
            self.errors.push("version: must not be null".to_owned());
            return None;
        };
        let Some(obj) = version.as_object() else {
            self.errors.push("version: must be an object".to_owned());
            return None;
        };
        let number = match obj.get("number") {
            None | Some(Value::Null) => {
                self.errors
                    .push("version.number: must not be null".to_owned());
                None
            }
            Some(n) => {
                let n = n.as_i64().filter(|n| i32::try_from(*n).is_ok());
                if n.is_none() {
                    self.errors
                        .push("version.number: must be a 32-bit integer".to_owned());
                }
                n
            }
        };
        let message = match obj.get("message") {
            None | Some(Value::Null) => Some(String::new()),
            Some(Value::String(m)) => Some(m.clone()),
            Some(_) => {
                self.errors
                    .push("version.message: must be a string".to_owned());
                None
            }
        };
        Some((number?, message?))
    }

    /// The problems so far, as the 400 answer.
    fn finish(self) -> Result<(), Response> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(invalid_body(&self.errors))
        }
    }
}

fn unsupported(what: &str) -> Response {
    v2_bad_param(format!("{what} is not supported by the fake"))
}

fn space_not_found(raw: &str) -> Response {
    v2_error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!("Cannot find space with id [{raw}]"),
    )
}

fn duplicate_title() -> Response {
    v2_bad_param(
        "A page with this title already exists: A page already exists with the same TITLE in this space",
    )
}

/// True when a page other than `except` has exactly `title`.
fn title_taken(data: &Data, title: &str, except: Option<u64>) -> bool {
    data.titles
        .range((title.to_owned(), 0)..=(title.to_owned(), u64::MAX))
        .any(|(_, id)| Some(*id) != except)
}

/// The page or folder `raw` as a parent (404 when neither exists).
fn parent_of(data: &Data, raw: &str) -> Result<Parent, Response> {
    let id = parse_id(raw, "parentId")?;
    if data.pages.contains_key(&id) && !data.missing.contains(&id) {
        Ok(Parent::Page(id))
    } else if data.folders.contains_key(&id) {
        Ok(Parent::Folder(id))
    } else {
        Err(v2_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("Cannot find a page or folder with id [{raw}]"),
        ))
    }
}

/// The next change time: now, strictly after the last change.
fn tick(data: &mut Data) -> Ms {
    let now = chrono::Utc::now()
        .timestamp_millis()
        .max(data.last_change + 1);
    data.last_change = now;
    now
}

impl Data {
    /// Inline comments on `id` whose marker `storage` lacks become
    /// `dangling` (their comment keeps its version, as in Confluence). They
    /// stay in [`Node::markers`], so older versions read back exactly.
    fn mark_dangling(&mut self, id: u64, storage: &str) {
        let seed = self.annot.seed();
        let inline: Vec<u64> = self
            .page_inline
            .get(&id)
            .into_iter()
            .flatten()
            .copied()
            .collect();
        for c in inline {
            let (reference, _) = super::content::marker(seed, c);
            if storage.contains(&format!("ac:ref=\"{reference}\"")) {
                continue;
            }
            if let Some(comment) = self.comments.get_mut(&c) {
                comment.inline = Some("dangling");
            }
        }
    }

    /// Keeps the written version of page `id` for later `?version=N` reads.
    fn remember(&mut self, id: u64, node: &Node) {
        if let Some(body) = &node.body {
            self.written.insert(
                (id, node.meta.version),
                (body.clone(), node.meta.message.clone()),
            );
        }
    }
}

/// The PageSingle / BlogPostSingle answer of a write: storage body and
/// `_links.base`.
fn written(store: &Store, kind: Kind, id: u64, node: &Node, headers: &HeaderMap) -> Response {
    json_ok(&node_json(
        store,
        kind,
        id,
        node,
        Some(BodyFormat::Storage),
        Some(&base_url(headers)),
    ))
}

/// `PUT /wiki/api/v2/pages/{id}`.
pub async fn update_page(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    update(Kind::Page, store, headers, raw, body)
}

/// `PUT /wiki/api/v2/blogposts/{id}` (BlogPostUpdateRequest: no parent,
/// titles not checked for uniqueness).
pub async fn update_blogpost(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    update(Kind::BlogPost, store, headers, raw, body)
}

/// A new version of page or blog post `raw` (`kind`). Inline comments
/// whose marker the new body lost become `dangling`.
fn update(kind: Kind, store: Arc<Store>, headers: HeaderMap, raw: String, body: Bytes) -> Response {
    let path_id = match parse_id(&raw, "id") {
        Ok(id) => id,
        Err(resp) => return resp,
    };
    let obj = match body_object(&body) {
        Ok(obj) => obj,
        Err(resp) => return resp,
    };
    let mut c = Checker {
        obj: &obj,
        errors: Vec::new(),
    };
    let body_id = c.id("id", true);
    let status = c.status(true);
    let title = c.title(status.as_deref(), true);
    let storage = c.body(true);
    let version = c.version();
    let parent_raw = if kind == Kind::Page {
        c.id("parentId", false)
    } else {
        None
    };
    let space_raw = c.id("spaceId", false);
    let _owner = c.string("ownerId", false);
    if let Err(resp) = c.finish() {
        return resp;
    }
    // Every field is there: a missing one is an error above.
    let (Some(body_id), Some(status), Some(title), Some(storage), Some((number, message))) =
        (body_id, status, title, storage, version)
    else {
        return invalid_body(&["Invalid request body".to_owned()]);
    };
    if status == "draft" {
        return unsupported("Updating a page to a draft");
    }
    if body_id.trim() != path_id.to_string() {
        return v2_bad_param(format!(
            "The id in the body [{body_id}] does not match the id in the path [{raw}]"
        ));
    }

    let mut data = store.write();
    let current = match live_node(&data, kind, &raw) {
        Ok((_, n)) => n.meta.version,
        Err(resp) => return resp,
    };
    if let Some(space) = &space_raw {
        if space.trim() != store.space_id.to_string() {
            return space_not_found(space);
        }
    }
    if i64::from(current) + 1 != number {
        return v2_error(
            StatusCode::CONFLICT,
            "CONFLICT",
            format!(
                "Version must be incremented when updating a {}. Current Version: [{current}]. Provided version: [{number}]",
                if kind == Kind::Page { "page" } else { "blogpost" }
            ),
        );
    }
    let new_parent: Option<ParentKey> = match &parent_raw {
        None => None,
        Some(raw_parent) => {
            let parent = match parent_of(&data, raw_parent) {
                Ok(p) => p,
                Err(resp) => return resp,
            };
            if data.in_subtree(parent, path_id) {
                return v2_bad_param(format!(
                    "Cannot move page [{path_id}] below itself (parent [{raw_parent}])"
                ));
            }
            (data.pages[&path_id].parent != Some(parent)).then_some(Some(parent))
        }
    };
    let old_title = data.nodes(kind)[&path_id].meta.title.clone();
    let page = kind == Kind::Page;
    if page && title != old_title && title_taken(&data, &title, Some(path_id)) {
        return duplicate_title();
    }

    let now = tick(&mut data);
    data.bump_node(kind, path_id, now, new_parent, API_USER);
    if page && title != old_title {
        data.titles.remove(&(old_title, path_id));
        data.titles.insert((title.clone(), path_id));
    }
    data.mark_dangling(path_id, &storage);
    let node = data.content_node_mut(path_id).expect("checked above");
    node.meta.title = title;
    node.meta.message = message;
    node.body = Some(Arc::from(storage));
    let node = node.clone();
    data.remember(path_id, &node);
    drop(data);
    written(&store, kind, path_id, &node, &headers)
}

/// `POST /wiki/api/v2/pages[?root-level=true]`.
pub async fn create_page(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Response {
    create(Kind::Page, store, headers, Params(q), body)
}

/// `POST /wiki/api/v2/blogposts` (BlogPostCreateRequest: no parent; titles
/// unique among the space's blog posts).
pub async fn create_blogpost(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Response {
    create(Kind::BlogPost, store, headers, Params(q), body)
}

/// A new page or blog post (`kind`).
fn create(kind: Kind, store: Arc<Store>, headers: HeaderMap, p: Params, body: Bytes) -> Response {
    let mut flags = [false; 3];
    for (flag, name) in flags.iter_mut().zip(["root-level", "private", "embedded"]) {
        *flag = match p.get(name) {
            None | Some("false") => false,
            Some("true") => true,
            Some(v) => return v2_bad_param(format!("Invalid value '{v}' for parameter '{name}'")),
        };
    }
    let [root_level, private, embedded] = flags;
    if private || embedded {
        return unsupported("A private or embedded page");
    }
    let obj = match body_object(&body) {
        Ok(obj) => obj,
        Err(resp) => return resp,
    };
    let mut c = Checker {
        obj: &obj,
        errors: Vec::new(),
    };
    let space_raw = c.id("spaceId", true);
    let status = match c.field("status") {
        None => "current".to_owned(),
        Some(_) => c.status(false).unwrap_or_default(),
    };
    let title = c.title(Some(&status), false).unwrap_or_default();
    let storage = c.body(false).unwrap_or_default();
    let parent_raw = if kind == Kind::Page {
        c.id("parentId", false)
    } else {
        None
    };
    let subtype = c.string("subtype", false);
    if let Err(resp) = c.finish() {
        return resp;
    }
    let space_raw = space_raw.unwrap_or_default();
    if status == "draft" {
        return unsupported("Creating a draft");
    }
    if subtype.is_some() {
        return unsupported("A live doc (subtype)");
    }
    if space_raw.trim() != store.space_id.to_string() {
        return space_not_found(&space_raw);
    }
    if root_level && parent_raw.is_some() {
        return v2_bad_param("A parentId may not be supplied when root-level is true");
    }

    let mut data = store.write();
    let parent = match &parent_raw {
        Some(raw) => match parent_of(&data, raw) {
            Ok(p) => Some(p),
            Err(resp) => return resp,
        },
        None if root_level || kind == Kind::BlogPost => None,
        None => data
            .homepage
            .filter(|h| data.pages.contains_key(h))
            .map(Parent::Page),
    };
    let taken = match kind {
        Kind::Page => title_taken(&data, &title, None),
        _ => data.blogposts.values().any(|n| n.meta.title == title),
    };
    if taken {
        return duplicate_title();
    }
    let now = tick(&mut data);
    let id = data.take_id();
    let mut node = Node::new(
        Meta {
            title,
            version: 1,
            created: now,
            modified: now,
            author: API_USER,
            editor: API_USER,
            message: String::new(),
        },
        parent,
    );
    node.body = Some(Arc::from(storage));
    data.insert_node(kind, id, node);
    let node = data.nodes(kind)[&id].clone();
    data.remember(id, &node);
    drop(data);
    written(&store, kind, id, &node, &headers)
}

/// `DELETE /wiki/api/v2/pages/{id}`: 204; the page goes to the trash (gone
/// from every listing and fetch, like a `/_control/mutate` deletion).
pub async fn delete_page(
    State(store): State<Arc<Store>>,
    Path(raw): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    delete(Kind::Page, &store, &raw, Params(q))
}

/// `DELETE /wiki/api/v2/blogposts/{id}`: as pages.
pub async fn delete_blogpost(
    State(store): State<Arc<Store>>,
    Path(raw): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    delete(Kind::BlogPost, &store, &raw, Params(q))
}

fn delete(kind: Kind, store: &Store, raw: &str, p: Params) -> Response {
    for name in ["purge", "draft"] {
        match p.get(name) {
            None | Some("false") => {}
            Some("true") => {}
            Some(v) => return v2_bad_param(format!("Invalid value '{v}' for parameter '{name}'")),
        }
    }
    let mut data = store.write();
    let id = match live_node(&data, kind, raw) {
        Ok((id, _)) => id,
        Err(resp) => return resp,
    };
    if p.get("draft") == Some("true") {
        // The fake has no drafts.
        return v2_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("Cannot find a draft with id [{raw}]"),
        );
    }
    if p.get("purge") == Some("true") {
        return v2_bad_param(format!(
            "Cannot purge page [{raw}]: only trashed pages can be purged"
        ));
    }
    let now = tick(&mut data);
    data.delete_content(kind, id, now, API_USER);
    StatusCode::NO_CONTENT.into_response()
}
