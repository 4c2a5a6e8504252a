//! Issues, pull requests and issue comments: lists with `state`, `since`
//! (issues and comments; GitHub's pulls list has none), `sort`,
//! `direction`, `per_page` (max 100) and `page`, with `Link` headers;
//! single reads; `PATCH` of an issue's title, body and state; new comments.

// Handlers answer early with a complete `Response` as the error.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::data::{Comment, Data, Issue, BRANCH};
use super::errors::{bad_json, not_found, not_supplied, DOCS};
use super::git::{self, hex};
use super::{base_url, iso, json_object, json_with_link, link_header, parse_time, Params, Store};

type P = Path<HashMap<String, String>>;

fn user(login: &str) -> Value {
    json!({"login": login, "id": 1000 + login.len(), "type": "User"})
}

fn issue_json(store: &Store, base: &str, i: &Issue) -> Value {
    let api = store.api_url(base);
    let html = store.html_url(base);
    let n = i.number;
    let mut v = json!({
        "url": format!("{api}/issues/{n}"),
        "repository_url": api,
        "comments_url": format!("{api}/issues/{n}/comments"),
        "html_url": format!("{html}/{}/{n}", if i.pull { "pull" } else { "issues" }),
        "id": 2_000_000 + n,
        "node_id": format!("I_kwDO{n}"),
        "number": n,
        "title": i.title,
        "user": user(i.user),
        "labels": [],
        "state": if i.open { "open" } else { "closed" },
        "locked": false,
        "assignee": null,
        "assignees": [],
        "comments": i.comments,
        "created_at": iso(i.created),
        "updated_at": iso(i.updated),
        "closed_at": i.closed.map(iso),
        "author_association": "MEMBER",
        "body": i.body,
    });
    if i.pull {
        v["pull_request"] = json!({
            "url": format!("{api}/pulls/{n}"),
            "html_url": format!("{html}/pull/{n}"),
            "diff_url": format!("{html}/pull/{n}.diff"),
            "patch_url": format!("{html}/pull/{n}.patch"),
            "merged_at": i.merged.then(|| i.closed.map(iso)),
        });
    }
    v
}

fn pull_json(store: &Store, base: &str, d: &Data, i: &Issue, single: bool) -> Value {
    let api = store.api_url(base);
    let html = store.html_url(base);
    let n = i.number;
    let head_sha = hex(&git::object_id("commit", format!("pull {n}").as_bytes()));
    let side =
        |r: &str, sha: &str| json!({"label": format!("{}:{r}", store.owner), "ref": r, "sha": sha});
    let mut v = json!({
        "url": format!("{api}/pulls/{n}"),
        "id": 3_000_000 + n,
        "node_id": format!("PR_kwDO{n}"),
        "html_url": format!("{html}/pull/{n}"),
        "issue_url": format!("{api}/issues/{n}"),
        "number": n,
        "state": if i.open { "open" } else { "closed" },
        "locked": false,
        "title": i.title,
        "user": user(i.user),
        "body": i.body,
        "created_at": iso(i.created),
        "updated_at": iso(i.updated),
        "closed_at": i.closed.map(iso),
        "merged_at": if i.merged { i.closed.map(iso) } else { None },
        "draft": false,
        "head": side(&format!("topic-{n}"), &head_sha),
        "base": side(BRANCH, &hex(&d.head)),
        "author_association": "MEMBER",
    });
    if single {
        v["merged"] = i.merged.into();
        v["comments"] = i.comments.into();
    }
    v
}

fn comment_json(store: &Store, base: &str, c: &Comment) -> Value {
    let api = store.api_url(base);
    json!({
        "url": format!("{api}/issues/comments/{}", c.id),
        "html_url": format!("{}/issues/{}#issuecomment-{}", store.html_url(base), c.issue, c.id),
        "issue_url": format!("{api}/issues/{}", c.issue),
        "id": c.id,
        "node_id": format!("IC_kwDO{}", c.id),
        "user": user(c.user),
        "created_at": iso(c.created),
        "updated_at": iso(c.updated),
        "body": c.body,
        "author_association": "MEMBER",
    })
}

/// One page of `items` (already filtered and sorted) with its `Link`.
fn page_of<T>(
    store: &Store,
    headers: &HeaderMap,
    uri: &OriginalUri,
    params: &Params,
    items: Vec<T>,
    render: impl Fn(&T) -> Value,
) -> Response {
    let (page, per) = params.paging();
    let last = items.len().div_ceil(per).max(1);
    let body: Vec<Value> = items
        .iter()
        .skip((page - 1) * per)
        .take(per)
        .map(render)
        .collect();
    let link = link_header(store, headers, uri.path(), params, page, last);
    json_with_link(&Value::Array(body), link)
}

/// `sort` by (key, id); `desc` reverses.
fn sorted<T>(mut items: Vec<T>, key: impl Fn(&T) -> (i64, u64), desc: bool) -> Vec<T> {
    items.sort_by_key(|t| key(t));
    if desc {
        items.reverse();
    }
    items
}

fn state_filter(params: &Params) -> impl Fn(&Issue) -> bool {
    let state = params.get("state").unwrap_or("open").to_owned();
    move |i: &Issue| match state.as_str() {
        "all" => true,
        "closed" => !i.open,
        _ => i.open,
    }
}

fn since_of(params: &Params) -> Result<Option<i64>, Response> {
    match params.get("since") {
        None => Ok(None),
        Some(s) => parse_time(s).map(Some).ok_or_else(|| {
            let body = json!({"message": "Validation Failed", "errors": [{"resource": "Search", "field": "since", "code": "invalid"}],
                "documentation_url": DOCS, "status": "422"});
            (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
        }),
    }
}

/// `GET /repos/{owner}/{repo}/issues` (pull requests included, with `pull_request`).
pub async fn list_issues(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    uri: OriginalUri,
    RawQuery(q): RawQuery,
) -> Response {
    let params = Params::parse(q.as_deref());
    let since = match since_of(&params) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let keep = state_filter(&params);
    let d = store.read();
    let items: Vec<&Issue> = d
        .issues
        .values()
        .filter(|i| keep(i) && since.is_none_or(|s| i.updated >= s))
        .collect();
    let sort = params.get("sort").unwrap_or("created");
    let items = sorted(
        items,
        |i| match sort {
            "updated" => (i.updated, i.number),
            "comments" => (i64::from(i.comments), i.number),
            _ => (i.created, i.number),
        },
        params.get("direction") != Some("asc"),
    );
    let base = base_url(&headers);
    page_of(&store, &headers, &uri, &params, items, |i| {
        issue_json(&store, &base, i)
    })
}

/// `GET /repos/{owner}/{repo}/pulls` (no `since`, as on GitHub).
pub async fn list_pulls(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    uri: OriginalUri,
    RawQuery(q): RawQuery,
) -> Response {
    let params = Params::parse(q.as_deref());
    let keep = state_filter(&params);
    let d = store.read();
    let items: Vec<&Issue> = d.issues.values().filter(|i| i.pull && keep(i)).collect();
    let sort = params.get("sort").unwrap_or("created");
    let desc = match params.get("direction") {
        Some(dir) => dir == "desc",
        None => sort == "created",
    };
    let items = sorted(
        items,
        |i| {
            if sort == "updated" {
                (i.updated, i.number)
            } else {
                (i.created, i.number)
            }
        },
        desc,
    );
    let base = base_url(&headers);
    page_of(&store, &headers, &uri, &params, items, |i| {
        pull_json(&store, &base, &d, i, false)
    })
}

fn comments_page(
    store: &Store,
    headers: &HeaderMap,
    uri: &OriginalUri,
    q: Option<&str>,
    issue: Option<u64>,
) -> Response {
    let params = Params::parse(q);
    let since = match since_of(&params) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let d = store.read();
    let items: Vec<&Comment> = d
        .comments
        .values()
        .filter(|c| issue.is_none_or(|n| c.issue == n) && since.is_none_or(|s| c.updated >= s))
        .collect();
    // `direction` is ignored without `sort`.
    let sort = params.get("sort");
    let desc = sort.is_some() && params.get("direction") == Some("desc");
    let items = sorted(
        items,
        |c| {
            if sort == Some("updated") {
                (c.updated, c.id)
            } else {
                (c.created, c.id)
            }
        },
        desc,
    );
    let base = base_url(headers);
    page_of(store, headers, uri, &params, items, |c| {
        comment_json(store, &base, c)
    })
}

/// `GET /repos/{owner}/{repo}/issues/comments`.
pub async fn list_repo_comments(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    uri: OriginalUri,
    RawQuery(q): RawQuery,
) -> Response {
    comments_page(&store, &headers, &uri, q.as_deref(), None)
}

/// `GET /repos/{owner}/{repo}/pulls/comments`: review comments. The fake
/// has none, so every page is empty (`since` still checked).
pub async fn list_review_comments(RawQuery(q): RawQuery) -> Response {
    match since_of(&Params::parse(q.as_deref())) {
        Ok(_) => Json(json!([])).into_response(),
        Err(resp) => resp,
    }
}

fn number(p: &HashMap<String, String>) -> Option<u64> {
    p.get("number").and_then(|n| n.parse().ok())
}

/// `GET /repos/{owner}/{repo}/issues/{number}/comments`.
pub async fn list_issue_comments(
    State(store): State<Arc<Store>>,
    Path(p): P,
    headers: HeaderMap,
    uri: OriginalUri,
    RawQuery(q): RawQuery,
) -> Response {
    match number(&p).filter(|n| store.read().issues.contains_key(n)) {
        Some(n) => comments_page(&store, &headers, &uri, q.as_deref(), Some(n)),
        None => not_found(),
    }
}

/// `GET /repos/{owner}/{repo}/issues/{number}`.
pub async fn get_issue(
    State(store): State<Arc<Store>>,
    Path(p): P,
    headers: HeaderMap,
) -> Response {
    let d = store.read();
    match number(&p).and_then(|n| d.issues.get(&n)) {
        Some(i) => Json(issue_json(&store, &base_url(&headers), i)).into_response(),
        None => not_found(),
    }
}

/// `GET /repos/{owner}/{repo}/pulls/{number}`.
pub async fn get_pull(State(store): State<Arc<Store>>, Path(p): P, headers: HeaderMap) -> Response {
    let d = store.read();
    match number(&p).and_then(|n| d.issues.get(&n)).filter(|i| i.pull) {
        Some(i) => Json(pull_json(&store, &base_url(&headers), &d, i, true)).into_response(),
        None => not_found(),
    }
}

fn invalid(field: &str) -> Response {
    let body = json!({"message": "Validation Failed", "errors": [{"resource": "Issue", "code": "invalid", "field": field}],
        "documentation_url": "https://docs.github.com/rest/issues/issues#update-an-issue", "status": "422"});
    (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
}

/// `PATCH /repos/{owner}/{repo}/issues/{number}`: `title`, `body`, `state`.
pub async fn patch_issue(
    State(store): State<Arc<Store>>,
    Path(p): P,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(m) = json_object(&body) else {
        return bad_json();
    };
    let title = match m.get("title") {
        None => None,
        Some(Value::String(t)) if !t.trim().is_empty() => Some(t.clone()),
        Some(_) => return invalid("title"),
    };
    let text = match m.get("body") {
        None => None,
        Some(Value::String(b)) => Some(b.clone()),
        Some(Value::Null) => Some(String::new()),
        Some(_) => return invalid("body"),
    };
    let open = match m.get("state").map(|s| s.as_str()) {
        None => None,
        Some(Some("open")) => Some(true),
        Some(Some("closed")) => Some(false),
        Some(_) => return invalid("state"),
    };
    let mut d = store.write();
    let Some(n) = number(&p).filter(|n| d.issues.contains_key(n)) else {
        return not_found();
    };
    let now = d.tick();
    let Some(i) = d.issues.get_mut(&n) else {
        return not_found();
    };
    if let Some(t) = title {
        i.title = t;
    }
    if let Some(b) = text {
        i.body = b;
    }
    if let Some(open) = open.filter(|o| *o != i.open) {
        i.open = open;
        i.closed = (!open).then_some(now);
    }
    i.updated = now;
    Json(issue_json(&store, &base_url(&headers), i)).into_response()
}

/// `POST /repos/{owner}/{repo}/issues/{number}/comments`: 201.
pub async fn create_comment(
    State(store): State<Arc<Store>>,
    Path(p): P,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(m) = json_object(&body) else {
        return bad_json();
    };
    let Some(text) = m.get("body").and_then(Value::as_str).map(str::to_owned) else {
        return not_supplied(
            "body",
            "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
        );
    };
    let mut d = store.write();
    let Some(n) = number(&p).filter(|n| d.issues.contains_key(n)) else {
        return not_found();
    };
    let now = d.tick();
    let id = d.push_comment(n, text, now, true);
    let c = &d.comments[&id];
    let v = comment_json(&store, &base_url(&headers), c);
    let mut resp = (StatusCode::CREATED, Json(v.clone())).into_response();
    if let Some(loc) = v["url"]
        .as_str()
        .and_then(|u| HeaderValue::from_str(u).ok())
    {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    resp
}
