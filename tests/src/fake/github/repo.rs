//! Repository, branch, ref, commits, trees, blobs and compare routes
//! (contracts §2.2 to §2.5), and `GET /rate_limit`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::data::{Commit, Data, BRANCH};
use super::errors::{gh_error, not_found, DOCS};
use super::git::{self, hex, Mode, Oid, Snapshot};
use super::{base_url, iso, json_with_link, link_header, Params, Store};
use crate::fake::common::json_bytes;

/// GitHub's limits of a recursive tree listing: entries (`--tree-limit`)
/// and bytes.
const TREE_MAX_BYTES: usize = 7 << 20;
/// Files of a compare answer (all pages together).
pub const COMPARE_MAX_FILES: usize = 300;
/// Commits of a compare answer without paging parameters (the newest).
pub const COMPARE_MAX_COMMITS: usize = 250;
/// Files a commit answer pages through, 300 a page.
const COMMIT_FILES_PER_PAGE: usize = 300;
const COMMIT_MAX_FILES: usize = 3000;

type P = Path<HashMap<String, String>>;

fn param<'a>(p: &'a HashMap<String, String>, key: &str) -> &'a str {
    p.get(key).map_or("", String::as_str)
}

/// `GET /repos/{owner}/{repo}`.
pub async fn repository(State(store): State<Arc<Store>>, headers: HeaderMap) -> Response {
    let base = base_url(&headers);
    let d = store.read();
    let head = d.head_commit();
    let owner = json!({"login": store.owner, "id": 9_919, "type": "Organization",
        "url": format!("{base}/users/{}", store.owner)});
    Json(json!({
        "id": store.repo_id,
        "node_id": format!("R_kgDO{}", store.repo_id),
        "name": store.name,
        "full_name": format!("{}/{}", store.owner, store.name),
        "private": false,
        "owner": owner,
        "html_url": store.html_url(&base),
        "description": "A repository served by synchost-fake",
        "fork": false,
        "url": store.api_url(&base),
        "default_branch": BRANCH,
        "visibility": "public",
        "archived": false,
        "disabled": false,
        "size": d.blobs.values().map(|b| b.len() as u64).sum::<u64>() / 1024,
        "created_at": iso(super::data::EPOCH),
        "pushed_at": iso(head.time),
        "updated_at": iso(head.time),
    }))
    .into_response()
}

/// The `commit` schema (as in compare, branch and commit answers), without `files`.
pub fn commit_json(store: &Store, base: &str, c: &Commit) -> Value {
    let api = store.api_url(base);
    let html = store.html_url(base);
    let sha = hex(&c.oid);
    let who = json!({"name": git::AUTHOR_NAME, "email": git::AUTHOR_EMAIL, "date": iso(c.time)});
    json!({
        "sha": sha,
        "node_id": format!("C_kwDO{}", &sha[..12]),
        "url": format!("{api}/commits/{sha}"),
        "html_url": format!("{html}/commit/{sha}"),
        "comments_url": format!("{api}/commits/{sha}/comments"),
        "commit": {
            "author": who, "committer": who, "message": c.message,
            "tree": {"sha": hex(&c.tree), "url": format!("{api}/git/trees/{}", hex(&c.tree))},
            "url": format!("{api}/git/commits/{sha}"),
            "comment_count": 0,
            "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null},
        },
        "author": null,
        "committer": null,
        "parents": c.parents.iter().map(|p| json!({
            "sha": hex(p), "url": format!("{api}/commits/{}", hex(p)), "html_url": format!("{html}/commit/{}", hex(p)),
        })).collect::<Vec<_>>(),
    })
}

/// `GET /repos/{owner}/{repo}/branches/{branch}`.
pub async fn branch(State(store): State<Arc<Store>>, Path(p): P, headers: HeaderMap) -> Response {
    if param(&p, "branch") != BRANCH {
        return gh_error(StatusCode::NOT_FOUND, "Branch not found", DOCS);
    }
    let base = base_url(&headers);
    let head = store.read().head_commit();
    let api = store.api_url(&base);
    Json(json!({
        "name": BRANCH,
        "commit": commit_json(&store, &base, &head),
        "_links": {"self": format!("{api}/branches/{BRANCH}"), "html": format!("{}/tree/{BRANCH}", store.html_url(&base))},
        "protected": false,
        "protection": {"enabled": false, "required_status_checks": {"enforcement_level": "off", "contexts": [], "checks": []}},
        "protection_url": format!("{api}/branches/{BRANCH}/protection"),
    }))
    .into_response()
}

/// `GET /repos/{owner}/{repo}/git/ref/{ref}` (`heads/main`).
pub async fn git_ref(State(store): State<Arc<Store>>, Path(p): P, headers: HeaderMap) -> Response {
    if param(&p, "ref") != format!("heads/{BRANCH}") {
        return not_found();
    }
    let api = store.api_url(&base_url(&headers));
    let sha = hex(&store.read().head);
    Json(json!({
        "ref": format!("refs/heads/{BRANCH}"),
        "node_id": "REF_kwDOmain",
        "url": format!("{api}/git/refs/heads/{BRANCH}"),
        "object": {"sha": sha, "type": "commit", "url": format!("{api}/git/commits/{sha}")},
    }))
    .into_response()
}

/// A path changed between two snapshots.
pub struct Change<'a> {
    pub path: &'a str,
    pub status: &'static str,
    /// The new blob (the old one for a removal).
    pub oid: Oid,
    pub old: Option<Oid>,
    pub previous: Option<&'a str>,
}

/// The paths changed from `old` to `new`, by path; a removed and an added
/// path with the same blob are one `renamed` change (git's exact renames).
pub fn diff<'a>(old: &'a Snapshot, new: &'a Snapshot) -> Vec<Change<'a>> {
    let mut out = Vec::new();
    for (path, e) in new {
        match old.get(path) {
            None => out.push(Change {
                path,
                status: "added",
                oid: e.oid,
                old: None,
                previous: None,
            }),
            Some(o) if o != e => out.push(Change {
                path,
                status: "modified",
                oid: e.oid,
                old: Some(o.oid),
                previous: None,
            }),
            Some(_) => {}
        }
    }
    let mut removed: Vec<(&str, Oid, Mode)> = old
        .iter()
        .filter(|(p, _)| !new.contains_key(*p))
        .map(|(p, e)| (p.as_str(), e.oid, e.mode))
        .collect();
    for c in out.iter_mut().filter(|c| c.status == "added") {
        let is_blob = new[c.path].mode.is_blob();
        if let Some(i) = removed
            .iter()
            .position(|(_, oid, mode)| *oid == c.oid && mode.is_blob() && is_blob)
        {
            let (from, _, _) = removed.remove(i);
            c.status = "renamed";
            c.previous = Some(from);
            c.old = Some(c.oid);
        }
    }
    out.extend(removed.into_iter().map(|(path, oid, _)| Change {
        path,
        status: "removed",
        oid,
        old: Some(oid),
        previous: None,
    }));
    out.sort_by(|a, b| a.path.cmp(b.path));
    out
}

fn lines(d: &Data, oid: Option<Oid>) -> u64 {
    match oid.and_then(|o| d.blobs.get(&o)) {
        Some(b) if !b.contains(&0) => b.iter().filter(|c| **c == b'\n').count() as u64,
        _ => 0,
    }
}

/// A `diff-entry`; `at` is the commit the URLs name. Line counts are whole
/// files (added lines of the new blob, deleted of the old), no patch.
fn diff_entry(store: &Store, base: &str, d: &Data, at: &Oid, c: &Change<'_>) -> Value {
    let (adds, dels) = match c.status {
        "added" => (lines(d, Some(c.oid)), 0),
        "removed" => (0, lines(d, c.old)),
        "renamed" => (0, 0),
        _ => (lines(d, Some(c.oid)), lines(d, c.old)),
    };
    let html = store.html_url(base);
    let at = hex(at);
    let mut v = json!({
        "sha": hex(&c.oid),
        "filename": c.path,
        "status": c.status,
        "additions": adds,
        "deletions": dels,
        "changes": adds + dels,
        "blob_url": format!("{html}/blob/{at}/{}", c.path),
        "raw_url": format!("{html}/raw/{at}/{}", c.path),
        "contents_url": format!("{}/contents/{}?ref={at}", store.api_url(base), c.path),
    });
    if let Some(prev) = c.previous {
        v["previous_filename"] = prev.into();
    }
    v
}

fn wants(headers: &HeaderMap, media: &str) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|m| m.trim().split(';').next() == Some(media))
        })
}

/// `GET /repos/{owner}/{repo}/commits/{ref}`: the commit with its files
/// (against its first parent, 300 a page up to 3,000); with
/// `Accept: application/vnd.github.sha` the bare sha, its ETag the sha.
pub async fn commit(
    State(store): State<Arc<Store>>,
    Path(p): P,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let rev = param(&p, "ref");
    let d = store.read();
    let Some(c) = d.resolve(rev) else {
        return if git::parse_oid(rev).is_some() {
            gh_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("No commit found for SHA: {rev}"),
                DOCS,
            )
        } else {
            not_found()
        };
    };
    let sha = hex(&c.oid);
    if wants(&headers, "application/vnd.github.sha") {
        let mut resp = (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/vnd.github.sha; charset=utf-8"),
            )],
            sha.clone(),
        )
            .into_response();
        if let Ok(etag) = HeaderValue::from_str(&format!("\"{sha}\"")) {
            resp.headers_mut().insert(header::ETAG, etag);
        }
        return resp;
    }
    let base = base_url(&headers);
    let empty = Snapshot::new();
    let parent = c.parents.first().and_then(|o| d.commits.get(o));
    let changes = diff(parent.map_or(&empty, |p| &p.files), &c.files);
    let params = Params::parse(q.as_deref());
    let (page, _) = params.paging();
    let shown = changes.len().min(COMMIT_MAX_FILES);
    let last = shown.div_ceil(COMMIT_FILES_PER_PAGE).max(1);
    let files: Vec<Value> = changes
        .iter()
        .take(shown)
        .skip((page - 1) * COMMIT_FILES_PER_PAGE)
        .take(COMMIT_FILES_PER_PAGE)
        .map(|ch| diff_entry(&store, &base, &d, &c.oid, ch))
        .collect();
    let (adds, dels) = files.iter().fold((0, 0), |(a, r), f| {
        (
            a + f["additions"].as_u64().unwrap_or(0),
            r + f["deletions"].as_u64().unwrap_or(0),
        )
    });
    let mut v = commit_json(&store, &base, &c);
    v["stats"] = json!({"total": adds + dels, "additions": adds, "deletions": dels});
    v["files"] = files.into();
    let path = format!("/repos/{}/{}/commits/{rev}", store.owner, store.name);
    json_with_link(
        &v,
        link_header(&store, &headers, &path, &params, page, last),
    )
}

/// `GET /rate_limit` (not counted): `core` is the limit the fake keeps;
/// `search` (not served) is shown full, as on a fresh minute. With the
/// limit off (`github_budget: null`), 404 as GitHub Enterprise answers
/// when rate limiting is disabled.
pub async fn rate_limit(State(store): State<Arc<Store>>) -> Response {
    let Some(w) = store.common.github_rate() else {
        return gh_error(StatusCode::NOT_FOUND, "Rate limiting is not enabled.", DOCS);
    };
    let reset = chrono::Utc::now().timestamp() + 60;
    let search = json!({"limit": 30, "used": 0, "remaining": 30, "reset": reset});
    Json(json!({"resources": {"core": w, "search": search}, "rate": w})).into_response()
}

/// A tree, a commit or a branch name to a tree id.
fn tree_of(d: &Data, rev: &str) -> Option<Oid> {
    match git::parse_oid(rev) {
        Some(oid) if d.trees.contains_key(&oid) => Some(oid),
        _ => d.resolve(rev).map(|c| c.tree),
    }
}

fn tree_entry(api: &str, path: &str, e: &git::TreeEntry, size: Option<usize>) -> Value {
    let sha = hex(&e.oid);
    let mut m = Map::new();
    m.insert("path".into(), path.into());
    m.insert("mode".into(), e.mode.api().into());
    m.insert("type".into(), e.mode.kind().into());
    m.insert("sha".into(), sha.clone().into());
    if let Some(size) = size {
        m.insert("size".into(), size.into());
    }
    match e.mode {
        Mode::Tree => m.insert("url".into(), format!("{api}/git/trees/{sha}").into()),
        Mode::Submodule => None,
        _ => m.insert("url".into(), format!("{api}/git/blobs/{sha}").into()),
    };
    Value::Object(m)
}

/// The `?recursive` listing of `root`: every entry in git's order (a
/// subtree before its contents), cut at the entry and byte limits.
fn recursive_listing(store: &Store, d: &Data, api: &str, root: Oid) -> Vec<u8> {
    let mut entries = Vec::new();
    let mut bytes = 0usize;
    let mut truncated = false;
    let mut stack = vec![(root, String::new(), 0usize)];
    'walk: while let Some((oid, prefix, from)) = stack.pop() {
        let tree = &d.trees[&oid];
        for (i, e) in tree.entries.iter().enumerate().skip(from) {
            let path = format!("{prefix}{}", e.name);
            let size = e
                .mode
                .is_blob()
                .then(|| d.blobs.get(&e.oid).map_or(0, Bytes::len));
            let v = tree_entry(api, &path, e, size);
            let len = v.to_string().len() + 1;
            if entries.len() >= store.tree_limit || bytes + len > TREE_MAX_BYTES {
                truncated = true;
                break 'walk;
            }
            bytes += len;
            entries.push(v);
            if e.mode == Mode::Tree {
                stack.push((oid, prefix.clone(), i + 1));
                stack.push((e.oid, format!("{path}/"), 0));
                continue 'walk;
            }
        }
    }
    let sha = hex(&root);
    serde_json::to_vec(&json!({
        "sha": sha, "url": format!("{api}/git/trees/{sha}"), "tree": entries, "truncated": truncated,
    }))
    .unwrap_or_default()
}

/// `GET /repos/{owner}/{repo}/git/trees/{tree_sha}[?recursive=...]`
/// (`recursive` with any value recurses; built once per tree and kept).
pub async fn tree(
    State(store): State<Arc<Store>>,
    Path(p): P,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let params = Params::parse(q.as_deref());
    let api = store.api_url(&base_url(&headers));
    let d = store.read();
    let Some(root) = tree_of(&d, param(&p, "tree_sha")) else {
        return not_found();
    };
    if params.get("recursive").is_none() {
        let tree = &d.trees[&root];
        let entries: Vec<Value> = tree
            .entries
            .iter()
            .map(|e| {
                let size = e
                    .mode
                    .is_blob()
                    .then(|| d.blobs.get(&e.oid).map_or(0, Bytes::len));
                tree_entry(&api, &e.name, e, size)
            })
            .collect();
        let sha = hex(&root);
        return Json(json!({"sha": sha, "url": format!("{api}/git/trees/{sha}"), "tree": entries, "truncated": false}))
            .into_response();
    }
    let key = (root, api.clone());
    if let Some(cached) = store.caches().listings.get(&key).cloned() {
        return json_bytes(cached.to_vec());
    }
    let bytes = Bytes::from(recursive_listing(&store, &d, &api, root));
    store.caches().listings.insert(key, bytes.clone());
    json_bytes(bytes.to_vec())
}

/// `GET /repos/{owner}/{repo}/git/blobs/{file_sha}`: base64 in lines of 60
/// characters; raw bytes with `Accept: application/vnd.github.raw`.
pub async fn blob(State(store): State<Arc<Store>>, Path(p): P, headers: HeaderMap) -> Response {
    let sha = param(&p, "file_sha");
    let Some(oid) = git::parse_oid(sha) else {
        return not_found();
    };
    let Some(bytes) = store.read().blobs.get(&oid).cloned() else {
        return not_found();
    };
    if wants(&headers, "application/vnd.github.raw")
        || wants(&headers, "application/vnd.github.raw+json")
    {
        return (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/vnd.github.raw"),
            )],
            bytes,
        )
            .into_response();
    }
    let sha = hex(&oid);
    let api = store.api_url(&base_url(&headers));
    Json(json!({
        "sha": sha,
        "node_id": format!("B_kwDO{}", &sha[..12]),
        "size": bytes.len(),
        "url": format!("{api}/git/blobs/{sha}"),
        "content": git::base64_lines(&bytes),
        "encoding": "base64",
    }))
    .into_response()
}

/// First-parent history from `from`, newest first.
fn chain(d: &Data, from: &Arc<Commit>) -> Vec<Arc<Commit>> {
    let mut out = vec![from.clone()];
    while let Some(p) = out
        .last()
        .and_then(|c| c.parents.first())
        .and_then(|o| d.commits.get(o))
    {
        out.push(p.clone());
    }
    out
}

/// `GET /repos/{owner}/{repo}/compare/{base}...{head}` (contracts §2.5):
/// three-dot, so files are from the merge base to head; at most 300 files,
/// on the first page only; commits: the newest 250 without paging
/// parameters, else paged (with `Link`).
pub async fn compare(
    State(store): State<Arc<Store>>,
    Path(p): P,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let Some((b, h)) = param(&p, "basehead").split_once("...") else {
        return not_found();
    };
    let d = store.read();
    let (Some(base_c), Some(head_c)) = (d.resolve(b), d.resolve(h)) else {
        return not_found();
    };
    let base_chain = chain(&d, &base_c);
    let on_base: HashSet<Oid> = base_chain.iter().map(|c| c.oid).collect();
    let head_chain = chain(&d, &head_c);
    let Some(mb_at) = head_chain.iter().position(|c| on_base.contains(&c.oid)) else {
        return gh_error(
            StatusCode::NOT_FOUND,
            &format!("No common ancestor between {b} and {h}."),
            DOCS,
        );
    };
    let mb = head_chain[mb_at].clone();
    let behind = base_chain.iter().position(|c| c.oid == mb.oid).unwrap_or(0);
    let mut ahead: Vec<Arc<Commit>> = head_chain[..mb_at].to_vec();
    ahead.reverse();
    let status = match (mb_at, behind) {
        (0, 0) => "identical",
        (_, 0) => "ahead",
        (0, _) => "behind",
        _ => "diverged",
    };
    let base = base_url(&headers);
    let params = Params::parse(q.as_deref());
    let (page, per) = params.paging();
    let (shown, link, files_shown) = if params.paged() {
        let last = ahead.len().div_ceil(per).max(1);
        let shown: Vec<&Arc<Commit>> = ahead.iter().skip((page - 1) * per).take(per).collect();
        let path = format!(
            "/repos/{}/{}/compare/{}",
            store.owner,
            store.name,
            param(&p, "basehead")
        );
        (
            shown,
            link_header(&store, &headers, &path, &params, page, last),
            page == 1,
        )
    } else {
        (
            ahead
                .iter()
                .skip(ahead.len().saturating_sub(COMPARE_MAX_COMMITS))
                .collect(),
            None,
            true,
        )
    };
    let files: Vec<Value> = if files_shown {
        diff(&mb.files, &head_c.files)
            .iter()
            .take(COMPARE_MAX_FILES)
            .map(|c| diff_entry(&store, &base, &d, &head_c.oid, c))
            .collect()
    } else {
        Vec::new()
    };
    let api = store.api_url(&base);
    let html = store.html_url(&base);
    let bh = param(&p, "basehead");
    let body = json!({
        "url": format!("{api}/compare/{bh}"),
        "html_url": format!("{html}/compare/{bh}"),
        "permalink_url": format!("{html}/compare/{}...{}", hex(&base_c.oid), hex(&head_c.oid)),
        "diff_url": format!("{html}/compare/{bh}.diff"),
        "patch_url": format!("{html}/compare/{bh}.patch"),
        "base_commit": commit_json(&store, &base, &base_c),
        "merge_base_commit": commit_json(&store, &base, &mb),
        "status": status,
        "ahead_by": ahead.len(),
        "behind_by": behind,
        "total_commits": ahead.len(),
        "commits": shown.iter().map(|c| commit_json(&store, &base, c)).collect::<Vec<_>>(),
        "files": files,
    });
    json_with_link(&body, link)
}
