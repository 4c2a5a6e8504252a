//! The v1 content routes popular clients call first (atlassian-python-api
//! behind LangChain's ConfluenceLoader, confluence-markdown-exporter,
//! confluence-cli-rs), offset-paged by [`super::v1_page`]:
//!
//! - `GET /wiki/rest/api/space/{spaceKey}` (a Space; `expand=homepage`);
//! - `GET /wiki/rest/api/content?spaceKey=&type=page|blogpost&title=&status=&start=&limit=&expand=`
//!   (a ContentArray in creation order; `limit` default 25, capped like
//!   CQL search: 200, 50 with a `body.*` expansion, 25 with
//!   `body.export_view`/`body.styled_view`);
//! - `GET /wiki/rest/api/content/{id}/child` (ChildContent: `page`,
//!   `attachment`, `comment` when expanded) and `.../child/{type}` for
//!   `page` (child pages by position), `attachment` (`filename`,
//!   `mediaType`) and `comment` (`location` = `footer` | `inline` |
//!   `resolved`), `limit` default 25.

// Errors are finished HTTP answers handed straight back to axum.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::content;
use super::data::{Data, Kind, Parent};
use super::search::Expand;
use super::v1::{content_json, space_json};
use super::v1_meta::v1_container;
use super::v1_page::{offset_window, Offset};
use super::{base_url, json_ok, v1_error, Params, Store};

type Q = Query<Vec<(String, String)>>;

/// `GET /wiki/rest/api/space/{spaceKey}`.
pub async fn space(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    Path(key): Path<String>,
    Query(q): Q,
) -> Response {
    if !key.eq_ignore_ascii_case(&store.space_key) {
        return v1_error(
            StatusCode::NOT_FOUND,
            format!("No space found with key : {key}"),
        );
    }
    let p = Params(q);
    let base = base_url(&headers);
    let mut v = space_json(&store, &base);
    let data = store.read();
    let expand = p.list("expand").unwrap_or_default();
    if let Some(home) = data.homepage.filter(|h| data.pages.contains_key(h)) {
        if expand.iter().any(|e| e == "homepage") {
            v["homepage"] =
                content_json(&store, &data, &base, Kind::Page, home, &Expand::default());
            if let Some(e) = v["_expandable"].as_object_mut() {
                e.remove("homepage");
            }
        } else {
            v["_expandable"]["homepage"] = format!("/rest/api/content/{home}").into();
        }
    }
    drop(data);
    v["_links"]["base"] = base.into();
    v["_links"]["context"] = "/wiki".into();
    json_ok(&v)
}

/// The `limit` cap of a content listing with expansions `exp`.
fn page_of(p: &Params, exp: &Expand) -> Result<Offset, Response> {
    Offset::parse(p, 25, exp.limit_cap())
}

/// Renders the window of `ids` (of `kind`) as a ContentArray.
#[allow(clippy::too_many_arguments)]
fn content_array(
    store: &Store,
    data: &Data,
    base: &str,
    path: &str,
    p: &Params,
    exp: &Expand,
    page: Offset,
    ids: Vec<(Kind, u64)>,
) -> Value {
    let (window, more) = page.cut(ids);
    let results = window
        .into_iter()
        .map(|(kind, id)| content_json(store, data, base, kind, id, exp))
        .collect();
    offset_window(base, path, Some(p), page, results, more)
}

/// `GET /wiki/rest/api/content`.
pub async fn list(State(store): State<Arc<Store>>, headers: HeaderMap, Query(q): Q) -> Response {
    let p = Params(q);
    let exp = Expand::parse(&p);
    let page = match page_of(&p, &exp) {
        Ok(o) => o,
        Err(resp) => return resp,
    };
    let kind = match p.get("type").unwrap_or("page") {
        "page" => Kind::Page,
        "blogpost" => Kind::BlogPost,
        other => {
            return v1_error(
                StatusCode::BAD_REQUEST,
                format!("Unsupported content type: {other}"),
            )
        }
    };
    let statuses = p.list("status").unwrap_or_else(|| vec!["current".into()]);
    for s in &statuses {
        if ![
            "current",
            "trashed",
            "deleted",
            "historical",
            "draft",
            "any",
        ]
        .contains(&s.as_str())
        {
            return v1_error(StatusCode::BAD_REQUEST, format!("Invalid status: {s}"));
        }
    }
    let current = statuses.iter().any(|s| s == "current" || s == "any");
    let space_ok = p
        .get("spaceKey")
        .is_none_or(|k| k.eq_ignore_ascii_case(&store.space_key));
    let title = p.get("title");
    let base = base_url(&headers);
    let data = store.read();
    let ids: Vec<(Kind, u64)> = if current && space_ok {
        data.nodes(kind)
            .iter()
            .filter(|(id, n)| !data.missing.contains(id) && title.is_none_or(|t| t == n.meta.title))
            .map(|(id, _)| (kind, *id))
            .collect()
    } else {
        Vec::new()
    };
    let v = content_array(
        &store,
        &data,
        &base,
        "/rest/api/content",
        &p,
        &exp,
        page,
        ids,
    );
    drop(data);
    json_ok(&v)
}

/// The children of `kind` (`page`, `attachment`, `comment`) of page or
/// blog post `id`, in their order.
fn children_of(data: &Data, id: u64, kind: &str, p: &Params) -> Result<Vec<(Kind, u64)>, Response> {
    Ok(match kind {
        "page" => data
            .children
            .get(&Some(Parent::Page(id)))
            .into_iter()
            .flatten()
            .filter(|(_, c)| data.pages.contains_key(c))
            .map(|(_, c)| (Kind::Page, *c))
            .collect(),
        "attachment" => {
            let (file, media) = (p.get("filename"), p.get("mediaType"));
            data.page_attachments
                .get(&id)
                .into_iter()
                .flatten()
                .filter(|a| {
                    data.attachments.get(a).is_some_and(|x| {
                        file.is_none_or(|f| f == x.meta.title)
                            && media.is_none_or(|m| m == content::MEDIA[x.media].media_type)
                    })
                })
                .map(|a| (Kind::Attachment, *a))
                .collect()
        }
        "comment" => {
            let location = p.list("location");
            let wants = |c: &super::data::Comment| match &location {
                None => true,
                Some(locs) => locs.iter().any(|l| match l.as_str() {
                    "footer" => c.inline.is_none(),
                    "inline" => c.inline.is_some(),
                    "resolved" => c.inline == Some("resolved"),
                    _ => false,
                }),
            };
            if let Some(bad) = location
                .iter()
                .flatten()
                .find(|l| !["footer", "inline", "resolved"].contains(&l.as_str()))
            {
                return Err(v1_error(
                    StatusCode::BAD_REQUEST,
                    format!("Invalid comment location: {bad}"),
                ));
            }
            let mut ids: Vec<u64> = data
                .page_comments
                .get(&id)
                .into_iter()
                .chain(data.page_inline.get(&id))
                .flatten()
                .copied()
                .filter(|c| data.comments.get(c).is_some_and(wants))
                .collect();
            ids.sort_unstable();
            ids.into_iter()
                .map(|c| (data.comments[&c].kind(), c))
                .collect()
        }
        other => {
            return Err(v1_error(
                StatusCode::BAD_REQUEST,
                format!("Unsupported child type: {other}"),
            ))
        }
    })
}

/// `GET /wiki/rest/api/content/{id}/child/{type}`.
pub async fn children(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    Path((raw, kind)): Path<(String, String)>,
    Query(q): Q,
) -> Response {
    let p = Params(q);
    let exp = Expand::parse(&p);
    let page = match page_of(&p, &exp) {
        Ok(o) => o,
        Err(resp) => return resp,
    };
    let base = base_url(&headers);
    let data = store.read();
    let (_, id) = match v1_container(&data, &raw) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let ids = match children_of(&data, id, &kind, &p) {
        Ok(ids) => ids,
        Err(resp) => return resp,
    };
    let path = format!("/rest/api/content/{id}/child/{kind}");
    let v = content_array(&store, &data, &base, &path, &p, &exp, page, ids);
    drop(data);
    json_ok(&v)
}

/// `GET /wiki/rest/api/content/{id}/child`: ChildContent, each type
/// listed when expanded (`expand=page,attachment,comment`; their first 25).
pub async fn child(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Query(q): Q,
) -> Response {
    let p = Params(q);
    let expand = p.list("expand").unwrap_or_default();
    let base = base_url(&headers);
    let data = store.read();
    let (_, id) = match v1_container(&data, &raw) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let mut out = Map::new();
    let mut expandable = Map::new();
    let none = Params(Vec::new());
    for kind in ["attachment", "comment", "page"] {
        let path = format!("/rest/api/content/{id}/child/{kind}");
        if expand.iter().any(|e| e == kind) {
            let ids = match children_of(&data, id, kind, &none) {
                Ok(ids) => ids,
                Err(resp) => return resp,
            };
            let page = Offset {
                start: 0,
                limit: 25,
            };
            let v = content_array(
                &store,
                &data,
                &base,
                &path,
                &none,
                &Expand::default(),
                page,
                ids,
            );
            out.insert(kind.into(), v);
        } else {
            expandable.insert(kind.into(), path.into());
        }
    }
    drop(data);
    out.insert("_expandable".into(), expandable.into());
    out.insert(
        "_links".into(),
        json!({"base": base, "context": "/wiki", "self": format!("{base}/rest/api/content/{id}/child")}),
    );
    json_ok(&Value::Object(out))
}
