//! The v2 routes (`/wiki/api/v2/...`): spaces, pages (space listing, bulk,
//! single), folders, attachments, footer comments and children.
//!
//! Every list is keyset-paginated (see [`super::v2_params`]); `_links.next`
//! (and the `Link` header's `rel="next"`) repeat the caller's query with the
//! new cursor and are absent on the last page, whose `Link` header carries
//! only `rel="base"`.

// Errors are finished HTTP answers handed straight back to axum.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde_json::{json, Value};

use super::cursor::Key;
use super::data::{Data, Kind, Node, Parent};
use super::v2_params::*;
use super::v2_render::*;
use super::{base_url, json_ok, v2_bad_param, v2_error, Params, Store};

type Query2 = Query<Vec<(String, String)>>;

macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(resp) => return resp,
        }
    };
}

/// `GET /wiki/api/v2/spaces?keys=KEY&ids=ID`: the one space, if it matches.
pub async fn spaces(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    uri: Uri,
    RawQuery(raw): RawQuery,
    Query(q): Query2,
) -> Response {
    let p = Params(q);
    let _ = tri!(parse_limit(&p, 25));
    let keys = p.list("keys");
    let ids = p.list("ids");
    if let Some(ids) = &ids {
        for id in ids {
            tri!(parse_id(id, "ids"));
        }
    }
    let matches = keys
        .as_ref()
        .is_none_or(|k| k.iter().any(|k| *k == store.space_key))
        && ids
            .as_ref()
            .is_none_or(|i| i.iter().any(|i| *i == store.space_id.to_string()))
        && p.get("type").is_none_or(|t| t == "global")
        && p.get("status").is_none_or(|s| s == "current");
    let results = if matches && p.get("cursor").is_none() {
        vec![space_json(&store, &store.read())]
    } else {
        Vec::new()
    };
    list_response(&base_url(&headers), &uri, raw.as_deref(), results, None)
}

/// `GET /wiki/api/v2/spaces/{id}`.
pub async fn space(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let n = tri!(parse_id(&id, "id"));
    if n != store.space_id {
        return v2_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("Cannot find space with id [{id}]"),
        );
    }
    let mut v = space_json(&store, &store.read());
    v["_links"]["base"] = base_url(&headers).into();
    json_ok(&v)
}

/// `GET /wiki/api/v2/spaces/{id}/pages`.
pub async fn space_pages(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    Query(q): Query2,
) -> Response {
    let p = Params(q);
    let space = tri!(parse_id(&id, "id"));
    let limit = tri!(parse_limit(&p, 25));
    let fmt = tri!(parse_body_format(&p, false));
    let sort = tri!(parse_sort(&p, PAGE_SORTS, "id"));
    let after = tri!(parse_cursor(&p, &sort));
    let current = tri!(wants_current(&p, PAGE_STATUS, true));
    let root_only = match p.get("depth") {
        None | Some("all") => false,
        Some("root") => true,
        Some(d) => return v2_bad_param(format!("Invalid value '{d}' for parameter 'depth'")),
    };
    if space != store.space_id {
        return v2_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("Cannot find space with id [{id}]"),
        );
    }
    let data = store.read();
    let (ids, next) = if !current {
        (Vec::new(), None)
    } else {
        let title = p.get("title");
        let candidates = title.map(|t| {
            data.titles
                .range((t.to_owned(), 0)..=(t.to_owned(), u64::MAX))
                .map(|(_, id)| *id)
                .collect()
        });
        let keep = |id: u64| !root_only || data.pages.get(&id).is_some_and(|n| n.parent.is_none());
        select(
            &data,
            Kind::Page,
            &sort,
            after.as_ref(),
            candidates,
            &keep,
            limit,
        )
    };
    let results = ids
        .iter()
        .map(|id| page_json(&store, *id, &data.pages[id], fmt, None))
        .collect();
    drop(data);
    list_response(
        &base_url(&headers),
        &uri,
        raw.as_deref(),
        results,
        next_cursor(sort.name, next),
    )
}

/// `GET /wiki/api/v2/pages?id=1,2&space-id=..`: pages by id (missing pages
/// left out), or all pages.
pub async fn bulk_pages(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    uri: Uri,
    RawQuery(raw): RawQuery,
    Query(q): Query2,
) -> Response {
    let p = Params(q);
    let limit = tri!(parse_limit(&p, 25));
    let fmt = tri!(parse_body_format(&p, false));
    let sort = tri!(parse_sort(&p, PAGE_SORTS, "id"));
    let after = tri!(parse_cursor(&p, &sort));
    let current = tri!(wants_current(&p, PAGE_STATUS, true));
    let ids = tri!(parse_id_list(&p, "id", 250));
    let in_space =
        tri!(parse_id_list(&p, "space-id", 100)).is_none_or(|s| s.contains(&store.space_id));
    if let Some(s) = p.get("subtype") {
        if s != "live" && s != "page" {
            return v2_bad_param(format!("Invalid value '{s}' for parameter 'subtype'"));
        }
    }
    let data = store.read();
    let (ids, next) = if !current || !in_space || p.get("subtype") == Some("live") {
        (Vec::new(), None)
    } else {
        let title = p.get("title").map(str::to_owned);
        let candidates = match (ids, &title) {
            (Some(ids), _) => Some(ids),
            (None, Some(t)) => Some(
                data.titles
                    .range((t.clone(), 0)..=(t.clone(), u64::MAX))
                    .map(|(_, id)| *id)
                    .collect(),
            ),
            (None, None) => None,
        };
        let keep = |id: u64| {
            !data.missing.contains(&id)
                && title
                    .as_ref()
                    .is_none_or(|t| data.pages.get(&id).is_some_and(|n| *t == n.meta.title))
        };
        select(
            &data,
            Kind::Page,
            &sort,
            after.as_ref(),
            candidates,
            &keep,
            limit,
        )
    };
    let results = ids
        .iter()
        .map(|id| page_json(&store, *id, &data.pages[id], fmt, None))
        .collect();
    drop(data);
    list_response(
        &base_url(&headers),
        &uri,
        raw.as_deref(),
        results,
        next_cursor(sort.name, next),
    )
}

pub(super) fn page_not_found(id: &str) -> Response {
    v2_error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!("Cannot find a page with id [{id}]"),
    )
}

/// The page `id` unless missing (404 otherwise).
pub(super) fn live_page<'a>(data: &'a Data, raw: &str) -> Result<(u64, &'a Node), Response> {
    let id = parse_id(raw, "id")?;
    match data.pages.get(&id) {
        Some(n) if !data.missing.contains(&id) => Ok((id, n)),
        _ => Err(page_not_found(raw)),
    }
}

/// `GET /wiki/api/v2/folders/{id}`.
pub async fn folder(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    let id = tri!(parse_id(&raw, "id"));
    let data = store.read();
    match data.folders.get(&id) {
        Some(n) => json_ok(&folder_json(&store, id, n, &base_url(&headers))),
        None => v2_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("Cannot find a folder with id [{raw}]"),
        ),
    }
}

/// `GET /wiki/api/v2/attachments/{id}` (`att123` or `123`).
pub async fn attachment(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    let id = tri!(parse_id(raw.strip_prefix("att").unwrap_or(&raw), "id"));
    let data = store.read();
    match data.attachments.get(&id) {
        Some(a) => json_ok(&attachment_json(
            &store,
            &data,
            id,
            a,
            Some(&base_url(&headers)),
        )),
        None => v2_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("Cannot find an attachment with id [{raw}]"),
        ),
    }
}

/// Children of `parent`: ChildPage (pages only) or ChildrenResponse (with `type`).
fn children(
    store: &Store,
    data: &Data,
    parent: Parent,
    p: &Params,
    pages_only: bool,
) -> Result<(Vec<Value>, Option<String>), Response> {
    let limit = parse_limit(p, 25)?;
    let sorts: &[&'static str] = if pages_only {
        &["child-position", "id", "created-date", "modified-date"]
    } else {
        &[
            "child-position",
            "id",
            "created-date",
            "modified-date",
            "title",
        ]
    };
    let sort = parse_sort(p, sorts, "child-position")?;
    let after = parse_cursor(p, &sort)?;
    let items: Vec<(Key, u64)> = data
        .children
        .get(&Some(parent))
        .into_iter()
        .flatten()
        .filter_map(|(_, id)| {
            let n = data.pages.get(id).or(if pages_only {
                None
            } else {
                data.folders.get(id)
            })?;
            Some((node_key(sort.field, *id, n), *id))
        })
        .collect();
    let (ids, next) = paginate(items, sort.desc, after.as_ref(), limit);
    let results = ids
        .iter()
        .map(|id| {
            let (n, kind) = match data.pages.get(id) {
                Some(n) => (n, "page"),
                None => (&data.folders[id], "folder"),
            };
            let mut v = json!({
                "id": id.to_string(),
                "status": "current",
                "title": n.meta.title,
                "spaceId": store.space_id.to_string(),
                "childPosition": n.position,
            });
            if !pages_only {
                v["type"] = kind.into();
            }
            v
        })
        .collect();
    Ok((results, next_cursor(sort.name, next)))
}

/// `GET /wiki/api/v2/pages/{id}/children`: child pages.
pub async fn page_children(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    uri: Uri,
    Path(raw): Path<String>,
    RawQuery(rq): RawQuery,
    Query(q): Query2,
) -> Response {
    let p = Params(q);
    let data = store.read();
    let (id, _) = tri!(live_page(&data, &raw));
    let (results, next) = tri!(children(&store, &data, Parent::Page(id), &p, true));
    drop(data);
    list_response(&base_url(&headers), &uri, rq.as_deref(), results, next)
}

/// `GET /wiki/api/v2/pages/{id}/direct-children`: child pages and folders.
pub async fn page_direct_children(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    uri: Uri,
    Path(raw): Path<String>,
    RawQuery(rq): RawQuery,
    Query(q): Query2,
) -> Response {
    let p = Params(q);
    let data = store.read();
    let (id, _) = tri!(live_page(&data, &raw));
    let (results, next) = tri!(children(&store, &data, Parent::Page(id), &p, false));
    drop(data);
    list_response(&base_url(&headers), &uri, rq.as_deref(), results, next)
}

/// `GET /wiki/api/v2/folders/{id}/direct-children`.
pub async fn folder_direct_children(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    uri: Uri,
    Path(raw): Path<String>,
    RawQuery(rq): RawQuery,
    Query(q): Query2,
) -> Response {
    let p = Params(q);
    let id = tri!(parse_id(&raw, "id"));
    let data = store.read();
    if !data.folders.contains_key(&id) {
        return v2_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("Cannot find a folder with id [{raw}]"),
        );
    }
    let (results, next) = tri!(children(&store, &data, Parent::Folder(id), &p, false));
    drop(data);
    list_response(&base_url(&headers), &uri, rq.as_deref(), results, next)
}
