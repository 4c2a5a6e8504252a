//! v2 routes shared by pages and blog posts: the single GET (with
//! `include-labels` / `include-properties`), attachments, footer and inline
//! comments, labels and content properties; and the blog post listings,
//! all inline comments, and content by label.
//!
//! Lists are keyset-paginated like the others (see [`super::v2_params`]).
//! `include-labels` and `include-properties` embed at most 50 items with
//! `meta {hasMore, cursor}` and `_links.self` (the list to go on with).

// Errors are finished HTTP answers handed straight back to axum.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::content;
use super::cursor::Key;
use super::data::{Data, Kind, Node};
use super::v2::{live_page, page_not_found};
use super::v2_params::*;
use super::v2_render::*;
use super::{base_url, iso_ms, json_ok, v2_bad_param, v2_error, Params, Store};

macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(resp) => return resp,
        }
    };
}

/// Most labels or properties `include-labels` / `include-properties` embed.
const INCLUDE_MAX: usize = 50;

/// What every v2 route here reads from a request: path parameters in
/// order, the query (raw and parsed) and the site base.
pub struct Req {
    pub store: Arc<Store>,
    pub base: String,
    pub uri: Uri,
    pub path: Vec<String>,
    pub raw_query: Option<String>,
    pub p: Params,
}

impl FromRequestParts<Arc<Store>> for Req {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<Store>) -> Result<Req, Response> {
        let path = match Path::<Vec<(String, String)>>::from_request_parts(parts, state).await {
            Ok(Path(pairs)) => pairs.into_iter().map(|(_, v)| v).collect(),
            Err(e) => return Err(e.into_response()),
        };
        let Query(q) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|e| v2_bad_param(e.body_text()))?;
        Ok(Req {
            store: state.clone(),
            base: base_url(&parts.headers),
            uri: parts.uri.clone(),
            path,
            raw_query: parts.uri.query().map(str::to_owned),
            p: Params(q),
        })
    }
}

impl Req {
    /// Path parameter `i` (routes always have it).
    fn arg(&self, i: usize) -> &str {
        self.path.get(i).map_or("", String::as_str)
    }

    fn list(&self, results: Vec<Value>, next: Option<String>) -> Response {
        list_response(
            &self.base,
            &self.uri,
            self.raw_query.as_deref(),
            results,
            next,
        )
    }
}

/// `pages` or `blogposts`: the path segment of `kind`.
fn segment(kind: Kind) -> &'static str {
    if kind == Kind::BlogPost {
        "blogposts"
    } else {
        "pages"
    }
}

fn blogpost_not_found(raw: &str) -> Response {
    v2_error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!("Cannot find a blogpost with id [{raw}]"),
    )
}

/// The page or blog post `raw` (404 when missing).
pub fn live_node<'a>(data: &'a Data, kind: Kind, raw: &str) -> Result<(u64, &'a Node), Response> {
    if kind == Kind::Page {
        return live_page(data, raw);
    }
    let id = parse_id(raw, "id")?;
    data.blogposts
        .get(&id)
        .map(|n| (id, n))
        .ok_or_else(|| blogpost_not_found(raw))
}

fn not_found(kind: Kind, raw: &str) -> Response {
    if kind == Kind::Page {
        page_not_found(raw)
    } else {
        blogpost_not_found(raw)
    }
}

/// A boolean query parameter (`default` when absent).
fn flag(p: &Params, name: &str, default: bool) -> Result<bool, Response> {
    match p.get(name) {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(v) => Err(v2_bad_param(format!(
            "Invalid value '{v}' for parameter '{name}'"
        ))),
    }
}

pub fn label_json(data: &Data, name: &str) -> Value {
    json!({
        "id": data.annot.known_label_id(name).unwrap_or_default().to_string(),
        "name": name,
        "prefix": "global",
    })
}

pub fn property_json(p: &super::annot::Property) -> Value {
    json!({
        "id": p.id.to_string(),
        "key": p.key,
        "value": p.value,
        "version": {
            "createdAt": iso_ms(p.modified),
            "message": "",
            "number": p.version,
            "minorEdit": false,
            "authorId": user(p.editor),
        },
    })
}

/// `{results, meta {hasMore, cursor?}, _links {self}}` of an `include-*`.
fn included(items: Vec<(Key, u64, Value)>, sort: &str, list_path: String) -> Value {
    let more = items.len() > INCLUDE_MAX;
    let next = more
        .then(|| items.get(INCLUDE_MAX - 1))
        .flatten()
        .map(|(k, id, _)| (k.clone(), *id));
    let results: Vec<Value> = items
        .into_iter()
        .take(INCLUDE_MAX)
        .map(|(_, _, v)| v)
        .collect();
    let mut meta = json!({"hasMore": more});
    if let Some(c) = next_cursor(sort, next) {
        meta["cursor"] = c.into();
    }
    json!({"results": results, "meta": meta, "_links": {"self": list_path}})
}

fn label_items(data: &Data, id: u64) -> Vec<(Key, u64, Value)> {
    data.annot
        .labels_of(id)
        .map(|name| {
            let lid = data.annot.known_label_id(name).unwrap_or_default();
            (Key::Num(lid as i64), lid, label_json(data, name))
        })
        .collect()
}

fn property_items(data: &Data, id: u64) -> Vec<(Key, u64, Value)> {
    data.annot
        .properties_of(id)
        .iter()
        .map(|p| (Key::Str(p.key.clone()), p.id, property_json(p)))
        .collect()
}

/// `GET /wiki/api/v2/pages/{id}`.
pub async fn page(r: Req) -> Response {
    single(Kind::Page, r)
}

/// `GET /wiki/api/v2/blogposts/{id}`.
pub async fn blogpost(r: Req) -> Response {
    single(Kind::BlogPost, r)
}

/// PageSingle / BlogPostSingle; `version=N` serves an older version.
fn single(kind: Kind, r: Req) -> Response {
    let p = &r.p;
    let fmt = tri!(parse_body_format(p, true));
    let with_labels = tri!(flag(p, "include-labels", false));
    let with_properties = tri!(flag(p, "include-properties", false));
    let with_version = tri!(flag(p, "include-version", true));
    let raw = r.arg(0);
    let data = r.store.read();
    let (id, n) = tri!(live_node(&data, kind, raw));
    let mut node = n.clone();
    let mut status = "current";
    if let Some(v) = p.get("version") {
        let Ok(v) = v.parse::<u32>() else {
            return v2_bad_param(format!("Invalid value '{v}' for parameter 'version'"));
        };
        if v == 0 || v > node.meta.version {
            return not_found(kind, raw);
        }
        if v < node.meta.version {
            let span = node.meta.modified - node.meta.created;
            node.meta.modified =
                node.meta.created + span * i64::from(v - 1) / i64::from(node.meta.version - 1);
            node.meta.version = v;
            (node.body, node.meta.message) = match data.written.get(&(id, v)).cloned() {
                Some((body, message)) => (Some(body), message),
                None => (None, String::new()),
            };
            status = "historical";
        }
    }
    let mut v = node_json(&r.store, kind, id, &node, fmt, Some(&r.base));
    v["status"] = status.into();
    let seg = segment(kind);
    if with_labels {
        let items = label_items(&data, id);
        v["labels"] = included(items, "id", format!("/wiki/api/v2/{seg}/{id}/labels"));
    }
    if with_properties {
        let items = property_items(&data, id);
        v["properties"] = included(items, "key", format!("/wiki/api/v2/{seg}/{id}/properties"));
    }
    drop(data);
    if !with_version {
        v.as_object_mut().expect("object").remove("version");
    }
    json_ok(&v)
}

/// `GET /wiki/api/v2/{pages|blogposts}/{id}/attachments` (limit default 50).
pub async fn page_attachments(r: Req) -> Response {
    attachments(Kind::Page, r)
}

pub async fn blogpost_attachments(r: Req) -> Response {
    attachments(Kind::BlogPost, r)
}

fn attachments(kind: Kind, r: Req) -> Response {
    let p = &r.p;
    let limit = tri!(parse_limit(p, 50));
    let sort = tri!(parse_sort(p, DATE_SORTS, "created-date"));
    let after = tri!(parse_cursor(p, &sort));
    let current = tri!(wants_current(p, &["current", "archived", "trashed"], true));
    let data = r.store.read();
    let (id, _) = tri!(live_node(&data, kind, r.arg(0)));
    let (media, filename) = (p.get("mediaType"), p.get("filename"));
    let items: Vec<(Key, u64)> = data
        .page_attachments
        .get(&id)
        .into_iter()
        .flatten()
        .filter(|_| current)
        .filter_map(|a| data.attachments.get(a).map(|x| (*a, x)))
        .filter(|(_, x)| media.is_none_or(|m| content::MEDIA[x.media].media_type == m))
        .filter(|(_, x)| filename.is_none_or(|f| x.meta.title == f))
        .map(|(a, x)| (meta_key(sort.field, a, &x.meta), a))
        .collect();
    let (ids, next) = paginate(items, sort.desc, after.as_ref(), limit);
    let results = ids
        .iter()
        .map(|a| attachment_json(&r.store, &data, *a, &data.attachments[a], None))
        .collect();
    drop(data);
    r.list(results, next_cursor(sort.name, next))
}

const COMMENT_STATUS: &[&str] = &[
    "current",
    "archived",
    "trashed",
    "deleted",
    "historical",
    "draft",
];

/// `GET /wiki/api/v2/{pages|blogposts}/{id}/footer-comments`.
pub async fn page_comments(r: Req) -> Response {
    comments(Kind::Page, Kind::Comment, r)
}

pub async fn blogpost_comments(r: Req) -> Response {
    comments(Kind::BlogPost, Kind::Comment, r)
}

/// `GET /wiki/api/v2/{pages|blogposts}/{id}/inline-comments`.
pub async fn page_inline_comments(r: Req) -> Response {
    comments(Kind::Page, Kind::InlineComment, r)
}

pub async fn blogpost_inline_comments(r: Req) -> Response {
    comments(Kind::BlogPost, Kind::InlineComment, r)
}

/// The root footer or inline comments (`which`) of a page or blog post.
fn comments(kind: Kind, which: Kind, r: Req) -> Response {
    let p = &r.p;
    let limit = tri!(parse_limit(p, 25));
    let fmt = tri!(parse_body_format(p, false));
    let sort = tri!(parse_sort(p, DATE_SORTS, "created-date"));
    let after = tri!(parse_cursor(p, &sort));
    let current = tri!(wants_current(p, COMMENT_STATUS, true));
    let resolutions = match p.list("resolution-status") {
        Some(list) if which == Kind::InlineComment => {
            for s in &list {
                if !["resolved", "open", "dangling", "reopened"].contains(&s.as_str()) {
                    return v2_bad_param(format!(
                        "Invalid value '{s}' for parameter 'resolution-status'"
                    ));
                }
            }
            Some(list)
        }
        _ => None,
    };
    let data = r.store.read();
    let (id, _) = tri!(live_node(&data, kind, r.arg(0)));
    let index = if which == Kind::InlineComment {
        &data.page_inline
    } else {
        &data.page_comments
    };
    let items: Vec<(Key, u64)> = index
        .get(&id)
        .into_iter()
        .flatten()
        .filter(|_| current)
        .filter_map(|c| data.comments.get(c).map(|x| (*c, x)))
        .filter(|(_, x)| {
            resolutions
                .as_ref()
                .is_none_or(|rs| x.inline.is_some_and(|s| rs.iter().any(|r| r == s)))
        })
        .map(|(c, x)| (meta_key(sort.field, c, &x.meta), c))
        .collect();
    let (ids, next) = paginate(items, sort.desc, after.as_ref(), limit);
    let results = ids
        .iter()
        .map(|c| comment_json(&r.store, &data, *c, &data.comments[c], fmt))
        .collect();
    drop(data);
    r.list(results, next_cursor(sort.name, next))
}

/// `GET /wiki/api/v2/inline-comments`: every inline comment.
pub async fn all_inline_comments(r: Req) -> Response {
    let p = &r.p;
    let limit = tri!(parse_limit(p, 25));
    let fmt = tri!(parse_body_format(p, false));
    let sort = tri!(parse_sort(p, DATE_SORTS, "created-date"));
    let after = tri!(parse_cursor(p, &sort));
    let data = r.store.read();
    let (ids, next) = select(
        &data,
        Kind::InlineComment,
        &sort,
        after.as_ref(),
        None,
        &|_| true,
        limit,
    );
    let results = ids
        .iter()
        .map(|c| comment_json(&r.store, &data, *c, &data.comments[c], fmt))
        .collect();
    drop(data);
    r.list(results, next_cursor(sort.name, next))
}

/// `GET /wiki/api/v2/inline-comments/{comment-id}`: an InlineCommentModel.
pub async fn inline_comment(r: Req) -> Response {
    let fmt = tri!(parse_body_format(&r.p, true));
    let raw = r.arg(0);
    let id = tri!(parse_id(raw, "comment-id"));
    let data = r.store.read();
    let Some(c) = data.comments.get(&id).filter(|c| c.inline.is_some()) else {
        return v2_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("Cannot find an inline comment with id [{raw}]"),
        );
    };
    let mut v = comment_json(&r.store, &data, id, c, fmt);
    v["resolutionLastModifierId"] = user(c.meta.editor).into();
    v["resolutionLastModifiedAt"] = iso_ms(c.meta.modified).into();
    v["_links"]["base"] = r.base.clone().into();
    drop(data);
    json_ok(&v)
}

/// `GET /wiki/api/v2/{pages|blogposts}/{id}/labels`.
pub async fn page_labels(r: Req) -> Response {
    labels(Kind::Page, r)
}

pub async fn blogpost_labels(r: Req) -> Response {
    labels(Kind::BlogPost, r)
}

fn labels(kind: Kind, r: Req) -> Response {
    let p = &r.p;
    let limit = tri!(parse_limit(p, 25));
    let sort = tri!(parse_sort(p, &["created-date", "id", "name"], "id"));
    let after = tri!(parse_cursor(p, &sort));
    let prefix = p.get("prefix");
    if let Some(x) = prefix {
        if !["my", "team", "global", "system"].contains(&x) {
            return v2_bad_param(format!("Invalid value '{x}' for parameter 'prefix'"));
        }
    }
    let data = r.store.read();
    let (id, _) = tri!(live_node(&data, kind, r.arg(0)));
    let items: Vec<(Key, u64)> = data
        .annot
        .labels_of(id)
        .filter(|_| prefix.is_none_or(|x| x == "global"))
        .map(|name| {
            let lid = data.annot.known_label_id(name).unwrap_or_default();
            let key = match sort.field {
                Field::Title => Key::Str(name.to_owned()),
                _ => Key::Num(lid as i64),
            };
            (key, lid)
        })
        .collect();
    let (ids, next) = paginate(items, sort.desc, after.as_ref(), limit);
    let results = ids
        .iter()
        .filter_map(|lid| data.annot.label_name(*lid))
        .map(|name| label_json(&data, name))
        .collect();
    drop(data);
    r.list(results, next_cursor(sort.name, next))
}

/// `GET /wiki/api/v2/{pages|blogposts}/{id}/properties`.
pub async fn page_properties(r: Req) -> Response {
    properties(Kind::Page, r)
}

pub async fn blogpost_properties(r: Req) -> Response {
    properties(Kind::BlogPost, r)
}

fn properties(kind: Kind, r: Req) -> Response {
    let p = &r.p;
    let limit = tri!(parse_limit(p, 25));
    let sort = tri!(parse_sort(p, &["key"], "key"));
    let after = tri!(parse_cursor(p, &sort));
    let key = p.get("key");
    let data = r.store.read();
    let (id, _) = tri!(live_node(&data, kind, r.arg(0)));
    let props = data.annot.properties_of(id);
    let items: Vec<(Key, u64)> = props
        .iter()
        .filter(|x| key.is_none_or(|k| k == x.key))
        .map(|x| (Key::Str(x.key.clone()), x.id))
        .collect();
    let (ids, next) = paginate(items, sort.desc, after.as_ref(), limit);
    let results = ids
        .iter()
        .filter_map(|pid| props.iter().find(|x| x.id == *pid))
        .map(property_json)
        .collect();
    drop(data);
    r.list(results, next_cursor(sort.name, next))
}

/// `GET /wiki/api/v2/{pages|blogposts}/{id}/properties/{property-id}`.
pub async fn page_property(r: Req) -> Response {
    property(Kind::Page, r)
}

pub async fn blogpost_property(r: Req) -> Response {
    property(Kind::BlogPost, r)
}

fn property(kind: Kind, r: Req) -> Response {
    let raw_prop = r.arg(1);
    let pid = tri!(parse_id(raw_prop, "property-id"));
    let data = r.store.read();
    let (id, _) = tri!(live_node(&data, kind, r.arg(0)));
    match data.annot.properties_of(id).iter().find(|x| x.id == pid) {
        Some(x) => json_ok(&property_json(x)),
        None => v2_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("Cannot find a content property with id [{raw_prop}]"),
        ),
    }
}

/// `GET /wiki/api/v2/blogposts?id=&space-id=`: blog posts by id, or all.
pub async fn bulk_blogposts(r: Req) -> Response {
    let p = &r.p;
    let ids = tri!(parse_id_list(p, "id", 250));
    let spaces = tri!(parse_id_list(p, "space-id", 100));
    let in_space = spaces.is_none_or(|s| s.contains(&r.store.space_id));
    blogposts(&r, ids, in_space)
}

/// `GET /wiki/api/v2/spaces/{id}/blogposts`.
pub async fn space_blogposts(r: Req) -> Response {
    let raw = r.arg(0);
    let space = tri!(parse_id(raw, "id"));
    if space != r.store.space_id {
        return v2_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("Cannot find space with id [{raw}]"),
        );
    }
    blogposts(&r, None, true)
}

/// A BlogPostBulk listing of `ids` (all when `None`) if `in_space`.
fn blogposts(r: &Req, ids: Option<Vec<u64>>, in_space: bool) -> Response {
    let p = &r.p;
    let limit = tri!(parse_limit(p, 25));
    let fmt = tri!(parse_body_format(p, false));
    let sort = tri!(parse_sort(p, BLOGPOST_SORTS, "id"));
    let after = tri!(parse_cursor(p, &sort));
    let current = tri!(wants_current(p, BLOGPOST_STATUS, true));
    let title = p.get("title");
    let data = r.store.read();
    let (found, next) = if !current || !in_space {
        (Vec::new(), None)
    } else {
        let keep = |id: u64| {
            title.is_none_or(|t| data.blogposts.get(&id).is_some_and(|n| n.meta.title == t))
        };
        select(
            &data,
            Kind::BlogPost,
            &sort,
            after.as_ref(),
            ids,
            &keep,
            limit,
        )
    };
    let results = found
        .iter()
        .map(|id| {
            node_json(
                &r.store,
                Kind::BlogPost,
                *id,
                &data.blogposts[id],
                fmt,
                None,
            )
        })
        .collect();
    drop(data);
    r.list(results, next_cursor(sort.name, next))
}

/// `GET /wiki/api/v2/labels/{id}/pages`.
pub async fn label_pages(r: Req) -> Response {
    by_label(Kind::Page, r)
}

/// `GET /wiki/api/v2/labels/{id}/blogposts`.
pub async fn label_blogposts(r: Req) -> Response {
    by_label(Kind::BlogPost, r)
}

/// The pages or blog posts with label `{id}` (linear in the labelled
/// content: the fake has no label index).
fn by_label(kind: Kind, r: Req) -> Response {
    let p = &r.p;
    let raw = r.arg(0);
    let label = tri!(parse_id(raw, "id"));
    let limit = tri!(parse_limit(p, 25));
    let fmt = tri!(parse_body_format(p, false));
    let sorts = if kind == Kind::Page {
        PAGE_SORTS
    } else {
        BLOGPOST_SORTS
    };
    let sort = tri!(parse_sort(p, sorts, "id"));
    let after = tri!(parse_cursor(p, &sort));
    let spaces = tri!(parse_id_list(p, "space-id", 100));
    let data = r.store.read();
    let Some(name) = data.annot.label_name(label) else {
        return v2_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("Cannot find a label with id [{raw}]"),
        );
    };
    let in_space = spaces.is_none_or(|s| s.contains(&r.store.space_id));
    let nodes = data.nodes(kind);
    let candidates: Vec<u64> = data
        .annot
        .labels
        .iter()
        .filter(|(id, set)| in_space && set.contains(name) && nodes.contains_key(id))
        .map(|(id, _)| *id)
        .collect();
    let (found, next) = select(
        &data,
        kind,
        &sort,
        after.as_ref(),
        Some(candidates),
        &|id| !data.missing.contains(&id),
        limit,
    );
    let results = found
        .iter()
        .map(|id| node_json(&r.store, kind, *id, &nodes[id], fmt, None))
        .collect();
    drop(data);
    r.list(results, next_cursor(sort.name, next))
}
