//! The contents API (contracts §2.6): `GET` a file or directory at a ref,
//! `PUT` (create without `sha`: 201; update with the current blob `sha`:
//! 200; existing path without `sha`: 422; another `sha`: 409) and `DELETE`
//! (with `sha`); each write is one commit on the branch.

// Handlers answer early with a complete `Response` as the error.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::data::{Commit, Data, BRANCH};
use super::errors::{bad_json, gh_error, not_found, not_supplied, DOCS_CONTENTS};
use super::git::{self, hex, Entry, Mode, TreeEntry};
use super::{base_url, iso, json_object, Params, Store};

/// Files whose JSON carries their content (larger: `encoding: none`).
const INLINE_MAX: usize = 1 << 20;
/// Entries of a directory listing.
const DIR_MAX: usize = 1000;

type P = Path<HashMap<String, String>>;

/// The tree entry at `path` in `c` (the root tree for "").
fn lookup(d: &Data, c: &Commit, path: &str) -> Option<TreeEntry> {
    let mut at = TreeEntry {
        name: String::new(),
        mode: Mode::Tree,
        oid: c.tree,
    };
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if at.mode != Mode::Tree {
            return None;
        }
        at = d
            .trees
            .get(&at.oid)?
            .entries
            .iter()
            .find(|e| e.name == part)?
            .clone();
    }
    Some(at)
}

fn kind(mode: Mode) -> &'static str {
    match mode {
        Mode::Tree => "dir",
        Mode::Symlink => "symlink",
        Mode::Submodule => "submodule",
        _ => "file",
    }
}

/// The `content-file` / directory-entry shape, without `content`.
fn entry_json(
    store: &Store,
    base: &str,
    d: &Data,
    path: &str,
    e: &TreeEntry,
    at: &str,
) -> Map<String, Value> {
    let api = store.api_url(base);
    let html = store.html_url(base);
    let sha = hex(&e.oid);
    let size = if e.mode.is_blob() {
        d.blobs.get(&e.oid).map_or(0, Bytes::len)
    } else {
        0
    };
    let url = format!("{api}/contents/{path}?ref={at}");
    let git_url = match e.mode {
        Mode::Tree => Some(format!("{api}/git/trees/{sha}")),
        Mode::Submodule => None,
        _ => Some(format!("{api}/git/blobs/{sha}")),
    };
    let html_url = format!(
        "{html}/{}/{at}/{path}",
        if e.mode == Mode::Tree { "tree" } else { "blob" }
    );
    let download = e
        .mode
        .is_blob()
        .then(|| format!("{base}/raw/{}/{}/{at}/{path}", store.owner, store.name));
    let name = path.rsplit('/').next().unwrap_or(path);
    let mut m = Map::new();
    m.insert("type".into(), kind(e.mode).into());
    m.insert("size".into(), size.into());
    m.insert("name".into(), name.into());
    m.insert("path".into(), path.into());
    m.insert("sha".into(), sha.into());
    m.insert("url".into(), url.clone().into());
    m.insert("git_url".into(), git_url.clone().into());
    m.insert("html_url".into(), html_url.clone().into());
    m.insert("download_url".into(), download.into());
    m.insert(
        "_links".into(),
        json!({"self": url, "git": git_url, "html": html_url}),
    );
    m
}

fn read(store: &Store, headers: &HeaderMap, path: &str, q: Option<&str>) -> Response {
    let params = Params::parse(q);
    let at = params.get("ref").unwrap_or(BRANCH).to_owned();
    let d = store.read();
    let Some(c) = d.resolve(&at) else {
        return gh_error(
            StatusCode::NOT_FOUND,
            &format!("No commit found for the ref {at}"),
            super::errors::DOCS,
        );
    };
    let path = path.trim_matches('/');
    let Some(e) = lookup(&d, &c, path) else {
        return not_found();
    };
    let base = base_url(headers);
    if e.mode == Mode::Tree {
        let tree = &d.trees[&e.oid];
        let list: Vec<Value> = tree
            .entries
            .iter()
            .take(DIR_MAX)
            .map(|x| {
                let p = if path.is_empty() {
                    x.name.clone()
                } else {
                    format!("{path}/{}", x.name)
                };
                Value::Object(entry_json(store, &base, &d, &p, x, &at))
            })
            .collect();
        return Json(list).into_response();
    }
    let bytes = d.blobs.get(&e.oid).cloned().unwrap_or_default();
    let raw = [
        "application/vnd.github.raw",
        "application/vnd.github.v3.raw",
        "application/vnd.github.raw+json",
    ];
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if e.mode.is_blob() && raw.iter().any(|m| accept.contains(m)) {
        return (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/vnd.github.raw"),
            )],
            bytes,
        )
            .into_response();
    }
    let mut m = entry_json(store, &base, &d, path, &e, &at);
    match e.mode {
        Mode::Symlink => {
            m.insert(
                "target".into(),
                String::from_utf8_lossy(&bytes).into_owned().into(),
            );
        }
        Mode::Submodule => {
            m.insert(
                "submodule_git_url".into(),
                format!("{base}/vendor/libwidget.git").into(),
            );
        }
        _ if bytes.len() <= INLINE_MAX => {
            m.insert("content".into(), git::base64_lines(&bytes).into());
            m.insert("encoding".into(), "base64".into());
        }
        _ => {
            m.insert("content".into(), "".into());
            m.insert("encoding".into(), "none".into());
        }
    }
    Json(Value::Object(m)).into_response()
}

/// `GET /repos/{owner}/{repo}/contents/{path}?ref=`.
pub async fn get(
    State(store): State<Arc<Store>>,
    Path(p): P,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    read(
        &store,
        &headers,
        p.get("path").map_or("", String::as_str),
        q.as_deref(),
    )
}

/// `GET /repos/{owner}/{repo}/contents` (the root directory).
pub async fn get_root(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    read(&store, &headers, "", q.as_deref())
}

/// A write's common checks, in GitHub's order: JSON, `message`, the
/// branch, committer and author; the field errors are 422.
fn check_write(body: &Bytes) -> Result<Map<String, Value>, Response> {
    let m = json_object(body).ok_or_else(bad_json)?;
    if !m.get("message").is_some_and(Value::is_string) {
        return Err(not_supplied("message", DOCS_CONTENTS));
    }
    if let Some(b) = m.get("branch").and_then(Value::as_str) {
        if b != BRANCH {
            return Err(gh_error(
                StatusCode::NOT_FOUND,
                &format!("Branch {b} not found"),
                DOCS_CONTENTS,
            ));
        }
    }
    for who in ["committer", "author"] {
        if let Some(v) = m.get(who) {
            for field in ["name", "email"] {
                if !v.get(field).is_some_and(Value::is_string) {
                    return Err(not_supplied(field, DOCS_CONTENTS));
                }
            }
        }
    }
    Ok(m)
}

fn valid_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 4096
        && path
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != ".." && p != ".git")
}

/// The `file-commit` answer.
fn file_commit(store: &Store, base: &str, d: &Data, path: Option<&str>, c: &Commit) -> Value {
    let api = store.api_url(base);
    let html = store.html_url(base);
    let sha = hex(&c.oid);
    let content = path.and_then(|p| {
        let e = lookup(d, c, p)?;
        let mut m = entry_json(store, base, d, p, &e, BRANCH);
        m.remove("_links");
        m.insert(
            "_links".into(),
            json!({"self": m["url"], "git": m["git_url"], "html": m["html_url"]}),
        );
        Some(Value::Object(m))
    });
    let who = json!({"name": git::AUTHOR_NAME, "email": git::AUTHOR_EMAIL, "date": iso(c.time)});
    json!({
        "content": content,
        "commit": {
            "sha": sha,
            "node_id": format!("C_kwDO{}", &sha[..12]),
            "url": format!("{api}/git/commits/{sha}"),
            "html_url": format!("{html}/commit/{sha}"),
            "author": who,
            "committer": who,
            "message": c.message,
            "tree": {"sha": hex(&c.tree), "url": format!("{api}/git/trees/{}", hex(&c.tree))},
            "parents": c.parents.iter().map(|p| json!({
                "url": format!("{api}/git/commits/{}", hex(p)), "html_url": format!("{html}/commit/{}", hex(p)), "sha": hex(p),
            })).collect::<Vec<_>>(),
            "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null},
        },
    })
}

fn does_not_match(path: &str, sha: &str) -> Response {
    gh_error(
        StatusCode::CONFLICT,
        &format!("{path} does not match {sha}"),
        DOCS_CONTENTS,
    )
}

/// `PUT /repos/{owner}/{repo}/contents/{path}`.
pub async fn put(
    State(store): State<Arc<Store>>,
    Path(p): P,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = p.get("path").map_or("", String::as_str).to_owned();
    let m = match check_write(&body) {
        Ok(m) => m,
        Err(resp) => return resp,
    };
    let Some(content) = m.get("content").and_then(Value::as_str) else {
        return not_supplied("content", DOCS_CONTENTS);
    };
    let compact: String = content
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(compact) else {
        return gh_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "content is not valid Base64",
            DOCS_CONTENTS,
        );
    };
    if !valid_path(&path) {
        return gh_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "path contains a malformed path component",
            DOCS_CONTENTS,
        );
    }
    let message = m["message"].as_str().unwrap_or_default().to_owned();
    let given = m.get("sha").and_then(Value::as_str).map(str::to_owned);
    let mut d = store.write();
    let head = d.head_commit();
    let current = head.files.get(&path).copied();
    let dir_clash = head
        .files
        .range(format!("{path}/")..)
        .next()
        .is_some_and(|(p, _)| p.starts_with(&format!("{path}/")))
        || path
            .match_indices('/')
            .any(|(i, _)| head.files.contains_key(&path[..i]));
    if dir_clash {
        return gh_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "path is a directory or below a file",
            DOCS_CONTENTS,
        );
    }
    let status = match (&current, &given) {
        (Some(_), None) => return not_supplied("sha", DOCS_CONTENTS),
        (Some(e), Some(sha)) if git::parse_oid(sha) != Some(e.oid) => {
            return does_not_match(&path, sha)
        }
        (Some(_), Some(_)) => StatusCode::OK,
        (None, _) => StatusCode::CREATED,
    };
    let mode = current.map_or(Mode::File, |e| e.mode);
    d.commit_on_head(message, |d, files| {
        let entry: Entry = d.add_blob(mode, bytes);
        files.insert(path.clone(), entry);
    });
    let c = d.head_commit();
    (
        status,
        Json(file_commit(
            &store,
            &base_url(&headers),
            &d,
            Some(&path),
            &c,
        )),
    )
        .into_response()
}

/// `DELETE /repos/{owner}/{repo}/contents/{path}` (`sha` required).
pub async fn delete(
    State(store): State<Arc<Store>>,
    Path(p): P,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = p.get("path").map_or("", String::as_str).to_owned();
    let m = match check_write(&body) {
        Ok(m) => m,
        Err(resp) => return resp,
    };
    let Some(sha) = m.get("sha").and_then(Value::as_str) else {
        return not_supplied("sha", DOCS_CONTENTS);
    };
    let message = m["message"].as_str().unwrap_or_default().to_owned();
    let mut d = store.write();
    let Some(current) = d.head_commit().files.get(&path).copied() else {
        return not_found();
    };
    if git::parse_oid(sha) != Some(current.oid) {
        return does_not_match(&path, sha);
    }
    d.commit_on_head(message, |_, files| {
        files.remove(&path);
    });
    let c = d.head_commit();
    Json(file_commit(&store, &base_url(&headers), &d, None, &c)).into_response()
}
