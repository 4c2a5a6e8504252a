//! The v1 routes: CQL search (`/wiki/rest/api/content/search` answering a
//! ContentArray, `/wiki/rest/api/search` a SearchPageResponse; the engine
//! is [`super::search`]), one Content by id (`/wiki/rest/api/content/{id}`)
//! and attachment downloads.
//!
//! `_links.next` is relative to `_links.context` (`/wiki`), as the real
//! ones: `/rest/api/content/search?next=true&cursor=…&expand=…&limit=N&start=S&cql=…`.

// Errors are finished HTTP answers handed straight back to axum.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{json, Map, Value};

use super::content::{self, USERS};
use super::cql::{self, CqlError, Query as Cql};
use super::cursor::{self, V1Cursor};
use super::data::{Data, Kind, Meta, Ms, Parent};
use super::search::{count, search, Expand, Hits, DEFAULT_LIMIT, VIEWS};
use super::v1_meta;
use super::v2_render;
use super::{base_url, iso_ms, json_ok, v1_error, Params, Store};

pub fn user_json(base: &str, i: usize) -> Value {
    let (account, name) = USERS[i % USERS.len()];
    json!({
        "type": "known",
        "accountId": account,
        "accountType": "atlassian",
        "email": "",
        "publicName": name,
        "profilePicture": {"path": format!("/wiki/aa-avatar/{account}"), "width": 48, "height": 48, "isDefault": false},
        "displayName": name,
        "isExternalCollaborator": false,
        "_expandable": {"operations": "", "personalSpace": ""},
        "_links": {"self": format!("{base}/rest/api/user?accountId={account}")},
    })
}

pub fn space_json(store: &Store, base: &str) -> Value {
    json!({
        "id": store.space_id,
        "key": store.space_key,
        "name": format!("{} space", store.space_key),
        "type": "global",
        "status": "current",
        "_expandable": {"settings": format!("/rest/api/space/{}/settings", store.space_key), "metadata": "",
            "operations": "", "lookAndFeel": "", "identifiers": "", "permissions": "", "icon": "",
            "description": "", "theme": "", "history": "", "homepage": ""},
        "_links": {"webui": format!("/spaces/{}", store.space_key), "self": format!("{base}/rest/api/space/{}", store.space_key)},
    })
}

fn friendly(ms: Ms) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|d| d.format("%b %d, %Y").to_string())
        .unwrap_or_default()
}

/// A v1 Content object of `kind` `id`, with the expansions of `exp`.
pub fn content_json(
    store: &Store,
    data: &Data,
    base: &str,
    kind: Kind,
    id: u64,
    exp: &Expand,
) -> Value {
    content_json_at(store, data, base, kind, id, exp, 0)
}

fn content_json_at(
    store: &Store,
    data: &Data,
    base: &str,
    kind: Kind,
    id: u64,
    exp: &Expand,
    depth: u8,
) -> Value {
    let Some(meta) = data.meta(kind, id) else {
        return Value::Null;
    };
    let key = &store.space_key;
    let sid = kind.id_string(id);
    let self_link = format!("{base}/rest/api/content/{sid}");
    let mut obj = Map::new();
    obj.insert("id".into(), sid.clone().into());
    obj.insert("type".into(), kind.type_name().into());
    obj.insert("status".into(), "current".into());
    obj.insert("title".into(), meta.title.clone().into());
    let mut expandable: Map<String, Value> = Map::new();
    for k in [
        "childTypes",
        "metadata",
        "operations",
        "schedulePublishDate",
        "schedulePublishInfo",
    ] {
        expandable.insert(k.into(), "".into());
    }
    expandable.insert(
        "restrictions".into(),
        format!("/rest/api/content/{sid}/restriction/byOperation").into(),
    );
    expandable.insert(
        "descendants".into(),
        format!("/rest/api/content/{sid}/descendant").into(),
    );
    let mut links = Map::new();
    links.insert("self".into(), self_link.clone().into());
    let (container_kind, container_id) = match kind {
        Kind::Page | Kind::Folder | Kind::BlogPost => {
            let n = &data.nodes(kind)[&id];
            if kind != Kind::BlogPost {
                obj.insert("extensions".into(), json!({"position": n.position}));
            }
            if kind == Kind::Folder {
                links.insert("webui".into(), format!("/spaces/{key}/folder/{id}").into());
            } else {
                links.insert("tinyui".into(), cursor::tiny_ui(id).into());
                links.insert(
                    "editui".into(),
                    format!("/pages/resumedraft.action?draftId={id}").into(),
                );
                links.insert(
                    "webui".into(),
                    v2_render::node_webui(store, kind, id, &n.meta).into(),
                );
            }
            (None, None)
        }
        Kind::Attachment => {
            let a = &data.attachments[&id];
            let media = content::MEDIA[a.media];
            obj.insert(
                "extensions".into(),
                json!({
                    "mediaType": media.media_type,
                    "fileSize": store.attachment_bytes,
                    "comment": a.comment,
                    "mediaTypeDescription": media.description,
                    "fileId": v2_render::file_id(store.seed, id),
                    "collectionName": format!("contentId-{}", a.page),
                }),
            );
            // Attachments come with their media type in `metadata` (LangChain's
            // ConfluenceLoader reads `metadata.mediaType`).
            obj.insert(
                "metadata".into(),
                json!({
                    "mediaType": media.media_type,
                    "comment": a.comment,
                    "_expandable": {"currentuser": "", "properties": "", "frontend": "", "labels": ""},
                }),
            );
            links.insert(
                "webui".into(),
                v2_render::attachment_webui(store, data, id, a).into(),
            );
            links.insert("download".into(), v2_render::download_link(a).into());
            (data.container_kind(a.page), Some(a.page))
        }
        Kind::Comment | Kind::InlineComment => {
            let c = &data.comments[&id];
            let ext = match c.inline {
                None => json!({"location": "footer", "_expandable": {"resolution": ""}}),
                Some(status) => {
                    let (reference, selection) = content::marker(store.seed, id);
                    let mut ext = json!({"location": "inline", "_expandable": {}});
                    if exp.inline_properties && depth == 0 {
                        ext["inlineProperties"] =
                            json!({"markerRef": reference, "originalSelection": selection});
                    } else {
                        ext["_expandable"]["inlineProperties"] = "".into();
                    }
                    if exp.resolution && depth == 0 {
                        ext["resolution"] = json!({
                            "status": status,
                            "lastModifier": user_json(base, meta.editor),
                            "lastModifiedDate": iso_ms(meta.modified),
                        });
                    } else {
                        ext["_expandable"]["resolution"] = "".into();
                    }
                    ext
                }
            };
            obj.insert("extensions".into(), ext);
            links.insert(
                "webui".into(),
                format!(
                    "{}?focusedCommentId={id}#comment-{id}",
                    v2_render::container_webui(store, data, c.page)
                )
                .into(),
            );
            (data.container_kind(c.page), Some(c.page))
        }
    };
    // container
    match (container_kind, container_id) {
        (Some(ck), Some(cid)) if exp.container && depth == 0 => {
            let inner = Expand {
                ancestors: exp.container_ancestors,
                ..Expand::default()
            };
            obj.insert(
                "container".into(),
                content_json_at(store, data, base, ck, cid, &inner, 1),
            );
        }
        (Some(_), Some(cid)) => {
            expandable.insert(
                "container".into(),
                format!("/rest/api/content/{cid}").into(),
            );
        }
        _ if exp.container && depth == 0 => {
            obj.insert("container".into(), space_json(store, base));
        }
        _ => {
            expandable.insert("container".into(), format!("/rest/api/space/{key}").into());
        }
    }
    if exp.space && depth == 0 {
        obj.insert("space".into(), space_json(store, base));
    } else {
        expandable.insert("space".into(), format!("/rest/api/space/{key}").into());
    }
    if exp.version && depth == 0 {
        obj.insert("version".into(), version_json(base, &sid, meta));
    } else {
        expandable.insert("version".into(), "".into());
    }
    if exp.history && depth == 0 {
        obj.insert(
            "history".into(),
            json!({
                "latest": true,
                "createdBy": user_json(base, meta.author),
                "createdDate": iso_ms(meta.created),
                "lastUpdated": version_json(base, &sid, meta),
                "_expandable": {"previousVersion": "", "contributors": "", "nextVersion": ""},
                "_links": {"self": format!("{self_link}/history")},
            }),
        );
    } else {
        expandable.insert(
            "history".into(),
            format!("/rest/api/content/{sid}/history").into(),
        );
    }
    // Ancestors of the item, or of its container (`container.ancestors`).
    if exp.ancestors && depth <= 1 {
        let parent = match kind {
            Kind::Page | Kind::Folder | Kind::BlogPost => data.nodes(kind)[&id].parent,
            // Comments and attachments: the page, and its ancestors.
            _ => container_id
                .filter(|c| data.pages.contains_key(c))
                .map(Parent::Page),
        };
        let anc: Vec<Value> = data
            .ancestors(parent)
            .into_iter()
            .map(|p| {
                let k = if matches!(p, Parent::Page(_)) {
                    Kind::Page
                } else {
                    Kind::Folder
                };
                content_json_at(store, data, base, k, p.id(), &Expand::default(), 1)
            })
            .collect();
        obj.insert("ancestors".into(), anc.into());
    } else {
        expandable.insert("ancestors".into(), "".into());
    }
    let wants_body = exp.storage || exp.adf || !exp.views.is_empty();
    if wants_body && depth == 0 {
        let doc = match kind {
            Kind::Page | Kind::BlogPost => data
                .nodes(kind)
                .get(&id)
                .map(|n| content::node_doc(store.seed, id, n)),
            Kind::Comment | Kind::InlineComment => {
                Some(content::comment_doc(store.seed, id, meta.version))
            }
            _ => None,
        };
        let mut body = Map::new();
        let mut body_expandable = Map::new();
        let mut add = |name: &str, on: bool, value: Option<String>| {
            if on {
                body.insert(
                    name.into(),
                    json!({"value": value.unwrap_or_default(), "representation": name, "embeddedContent": [],
                        "_expandable": {"content": format!("/rest/api/content/{sid}")}}),
                );
            } else {
                body_expandable.insert(name.into(), "".into());
            }
        };
        add(
            "storage",
            exp.storage,
            doc.as_ref().map(|d| d.storage.clone()),
        );
        add(
            "atlas_doc_format",
            exp.adf,
            doc.as_ref().map(|d| d.adf.clone()),
        );
        // The editor formats are the storage XHTML as the editor holds it:
        // the storage body here.
        for name in &exp.views {
            let value = doc.as_ref().map(|d| match *name {
                "editor" | "editor2" => d.storage.clone(),
                _ => d.view.clone(),
            });
            add(name, true, value);
        }
        for other in VIEWS.iter().chain(&["dynamic"]) {
            if !body.contains_key(*other) {
                body_expandable.insert((*other).into(), "".into());
            }
        }
        body.insert("_expandable".into(), body_expandable.into());
        obj.insert("body".into(), body.into());
    } else {
        expandable.insert("body".into(), "".into());
    }
    if kind == Kind::Page {
        expandable.insert(
            "children".into(),
            format!("/rest/api/content/{sid}/child").into(),
        );
    }
    if obj.contains_key("metadata") {
        expandable.remove("metadata");
    }
    if depth == 0 && matches!(kind, Kind::Page | Kind::BlogPost) {
        if let Some(m) = v1_meta::metadata_json(data, base, id, exp) {
            obj.insert("metadata".into(), m);
            expandable.remove("metadata");
        }
        if let Some(r) = v1_meta::expanded_restrictions(data, base, id, exp) {
            obj.insert("restrictions".into(), r);
            expandable.remove("restrictions");
        }
    }
    obj.insert("macroRenderedOutput".into(), json!({}));
    obj.insert("_expandable".into(), expandable.into());
    obj.insert("_links".into(), links.into());
    let mut v = Value::Object(obj);
    if depth == 0 {
        store.shapes().v1(id, &mut v);
    }
    v
}

fn version_json(base: &str, sid: &str, meta: &Meta) -> Value {
    json!({
        "by": user_json(base, meta.editor),
        "when": iso_ms(meta.modified),
        "friendlyWhen": friendly(meta.modified),
        "message": meta.message,
        "number": meta.version,
        "minorEdit": false,
        "contentTypeModified": false,
        "_expandable": {"collaborators": "", "content": format!("/rest/api/content/{sid}")},
        "_links": {"self": format!("{base}/rest/api/content/{sid}/version/{}", meta.version)},
    })
}

struct SearchRun {
    q: Cql,
    cql: String,
    exp: Expand,
    limit: usize,
    start: u64,
    hits: Hits,
}

fn cql_error(cql: &str, e: CqlError) -> Response {
    let msg = match e {
        CqlError::Invalid(why) => {
            format!("com.atlassian.confluence.api.service.exceptions.BadRequestException: Could not parse cql : {cql} ({why})")
        }
        CqlError::Unsupported(what) => format!(
            "com.atlassian.confluence.api.service.exceptions.BadRequestException: Could not parse cql : {cql} (synchost-fake does not implement {what})"
        ),
    };
    v1_error(StatusCode::BAD_REQUEST, msg)
}

fn run_search(store: &Store, data: &Data, p: &Params) -> Result<SearchRun, Response> {
    let Some(cql) = p.get("cql").filter(|c| !c.trim().is_empty()) else {
        return Err(v1_error(
            StatusCode::BAD_REQUEST,
            "com.atlassian.confluence.api.service.exceptions.BadRequestException: CQL query parameter is required but was empty",
        ));
    };
    let now = chrono::Utc::now().timestamp_millis();
    let q = cql::parse(cql, now).map_err(|e| cql_error(cql, e))?;
    if p.get("prev") == Some("true") {
        return Err(v1_error(
            StatusCode::BAD_REQUEST,
            "synchost-fake does not implement prev=true",
        ));
    }
    let exp = Expand::parse(p);
    let cap = exp.limit_cap();
    let limit = match p.get("limit") {
        None => DEFAULT_LIMIT,
        Some(l) => match l.trim().parse::<i64>() {
            Ok(n) if n >= 0 => (n as usize).clamp(1, cap),
            _ => {
                return Err(v1_error(
                    StatusCode::BAD_REQUEST,
                    format!("Invalid value for 'limit': {l}"),
                ))
            }
        },
    };
    let cursor = match p.get("cursor") {
        None => None,
        Some(c) => Some(
            V1Cursor::decode(c)
                .ok_or_else(|| v1_error(StatusCode::BAD_REQUEST, format!("Invalid cursor: {c}")))?,
        ),
    };
    let start = cursor.as_ref().map_or(0, |c| c.start);
    let hits = search(
        data,
        &q,
        &store.space_key,
        cursor.map(|c| (c.value, c.id)),
        limit,
    );
    Ok(SearchRun {
        q,
        cql: cql.to_owned(),
        exp,
        limit,
        start,
        hits,
    })
}

/// `_links` of a search answer: base, context, self and next (relative to context).
fn search_links(
    base: &str,
    path: &str,
    raw: Option<&str>,
    p: &Params,
    run: &SearchRun,
) -> Map<String, Value> {
    let mut links = Map::new();
    links.insert("base".into(), base.into());
    links.insert("context".into(), "/wiki".into());
    let self_q = raw.map(|r| format!("?{r}")).unwrap_or_default();
    links.insert("self".into(), format!("{base}{path}{self_q}").into());
    if run.hits.more {
        let (kind, id, value) = *run.hits.hits.last().expect("more implies a full page");
        let _ = kind;
        let next = V1Cursor {
            start: run.start + run.hits.hits.len() as u64,
            value,
            id,
        };
        let mut parts = vec![
            "next=true".to_owned(),
            format!("cursor={}", cursor::encode_query_value(&next.encode())),
        ];
        if let Some(e) = p.list("expand").filter(|e| !e.is_empty()) {
            parts.push(format!(
                "expand={}",
                cursor::encode_query_value(&e.join(","))
            ));
        }
        parts.push(format!("limit={}", run.limit));
        parts.push(format!("start={}", next.start));
        parts.push(format!("cql={}", cursor::encode_query_value(&run.cql)));
        links.insert("next".into(), format!("{path}?{}", parts.join("&")).into());
    }
    links
}

/// `GET /wiki/rest/api/content/search?cql=…`: a ContentArray.
pub async fn content_search(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let p = Params(q);
    let base = base_url(&headers);
    let data = store.read();
    let run = match run_search(&store, &data, &p) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let results: Vec<Value> = run
        .hits
        .hits
        .iter()
        .map(|(kind, id, _)| content_json(&store, &data, &base, *kind, *id, &run.exp))
        .collect();
    drop(data);
    let links = search_links(&base, "/rest/api/content/search", raw.as_deref(), &p, &run);
    json_ok(&json!({
        "results": results,
        "start": run.start,
        "limit": run.limit,
        "size": run.hits.hits.len(),
        "_links": links,
    }))
}

/// `GET /wiki/rest/api/content/{id}?expand=…`: one Content of any kind
/// (`att123` or `123` for attachments); a v1 404 for unknown ids and
/// missing pages.
pub async fn content(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let exp = Expand::parse(&Params(q));
    let base = base_url(&headers);
    let data = store.read();
    let found = raw
        .strip_prefix("att")
        .unwrap_or(&raw)
        .parse::<u64>()
        .ok()
        .and_then(|id| {
            let kind = Kind::ALL
                .into_iter()
                .find(|k| data.meta(*k, id).is_some())?;
            let missing = matches!(kind, Kind::Page | Kind::BlogPost) && data.missing.contains(&id);
            (!missing).then_some((kind, id))
        });
    match found {
        Some((kind, id)) => json_ok(&content_json(&store, &data, &base, kind, id, &exp)),
        None => v1_error(
            StatusCode::NOT_FOUND,
            format!("No content found with id: ContentId{{id={raw}}}"),
        ),
    }
}

/// `GET /wiki/rest/api/search?cql=…`: a SearchPageResponse.
pub async fn search_handler(
    store: Arc<Store>,
    headers: HeaderMap,
    raw: Option<String>,
    p: Params,
) -> Response {
    let base = base_url(&headers);
    let started = std::time::Instant::now();
    let data = store.read();
    let run = match run_search(&store, &data, &p) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let total = count(&data, &run.q, &store.space_key);
    let results: Vec<Value> = run
        .hits
        .hits
        .iter()
        .map(|(kind, id, _)| {
            let c = content_json(&store, &data, &base, *kind, *id, &run.exp);
            let meta = data.meta(*kind, *id).expect("hit exists");
            let url = c["_links"]["webui"].clone();
            json!({
                "content": c,
                "title": meta.title,
                "excerpt": "",
                "url": url,
                "resultGlobalContainer": {"title": format!("{} space", store.space_key), "displayUrl": format!("/spaces/{}", store.space_key)},
                "breadcrumbs": [],
                "entityType": "content",
                "iconCssClass": format!("aui-icon content-type-{}", kind.type_name()),
                "lastModified": iso_ms(meta.modified),
                "friendlyLastModified": friendly(meta.modified),
                "score": 0.0,
            })
        })
        .collect();
    drop(data);
    let links = search_links(&base, "/rest/api/search", raw.as_deref(), &p, &run);
    json_ok(&json!({
        "results": results,
        "start": run.start,
        "limit": run.limit,
        "size": run.hits.hits.len(),
        "totalSize": total,
        "cqlQuery": run.cql,
        "searchDuration": started.elapsed().as_millis() as u64,
        "_links": links,
    }))
}

/// Route adapter of [`search_handler`].
pub async fn site_search(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    search_handler(store, headers, raw, Params(q)).await
}

fn download_not_found() -> Response {
    v1_error(StatusCode::NOT_FOUND, "Attachment not found")
}

/// `GET /wiki/download/attachments/{page}/{file}?version=N`: the bytes of
/// that version (the current one without `version`).
pub async fn download(
    State(store): State<Arc<Store>>,
    Path((page, file)): Path<(String, String)>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let p = Params(q);
    let Ok(page) = page.parse::<u64>() else {
        return download_not_found();
    };
    let found = {
        let data = store.read();
        data.page_attachments.get(&page).and_then(|atts| {
            atts.iter()
                .filter_map(|a| data.attachments.get(a).map(|x| (*a, x)))
                .find(|(_, x)| x.meta.title == file)
                .map(|(a, x)| (a, x.media, x.meta.version))
        })
    };
    let Some((id, media, current)) = found else {
        return download_not_found();
    };
    let version = match p.get("version") {
        None => current,
        Some(v) => match v.parse::<u32>() {
            Ok(v) if (1..=current).contains(&v) => v,
            _ => return download_not_found(),
        },
    };
    let media = content::MEDIA[media];
    let bytes = content::attachment_bytes(store.seed, id, version, media, store.attachment_bytes);
    let disposition = format!(
        "attachment; filename*=UTF-8''{}",
        cursor::encode_segment(&file)
    );
    let mut resp = (StatusCode::OK, bytes).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media.media_type),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=0"),
    );
    resp
}

/// `GET /wiki/rest/api/content/{id}/child/attachment/{att}/download`: 302
/// to the attachment's download link.
pub async fn attachment_download_redirect(
    State(store): State<Arc<Store>>,
    Path((page, att)): Path<(String, String)>,
) -> Response {
    let page: Option<u64> = page.parse().ok();
    let att: Option<u64> = att.strip_prefix("att").unwrap_or(&att).parse().ok();
    let data = store.read();
    match att.and_then(|a| data.attachments.get(&a)) {
        Some(a) if Some(a.page) == page => {
            Redirect::to(&format!("/wiki{}", v2_render::download_link(a))).into_response()
        }
        _ => v1_error(StatusCode::NOT_FOUND, "No attachment found"),
    }
}
