//! The GitHub fake's own control endpoints (never counted, faulted or
//! authenticated):
//!
//! - `GET /_control/items`: the ground truth, files by path, then issues,
//!   pulls and comments by number or id: `{"stream", "id", "version",
//!   "sha256", ...}`. Files: `id` the path, `version` the blob sha (a
//!   submodule: its commit sha), `sha256` of the bytes (a symlink: of its
//!   target; a submodule: of nothing), `parent_id` the directory (null at
//!   the root), `mode`, `type`, `size`. Issues and pulls: `id` the number,
//!   `version` `updated_at`, `sha256` of the body, `title`, `state`.
//!   Comments: `id`, `version` `updated_at`, `sha256` of the body,
//!   `parent_id` the issue number.
//! - `GET /_control/repo`: `{"default_branch", "head", "history"}` (the
//!   branch's commits, newest first).
//! - `POST /_control/mutate`, any of: `{"commit": {"modify": M, "add": A,
//!   "delete": D, "rename": R}}` (one commit on the branch with that many
//!   random changes of distinct files); `{"force_push": true | K}` (drops
//!   the last K commits, default 1, and commits other changes on what is
//!   left: two files modified, one added; with only the first commit, a new
//!   root commit replaces it); `{"issues": {"update": U, "create": C}}`;
//!   `{"comments": {"update": U, "create": C}}`. Answers what changed.
//! - The rate limits' `POST /_control/faults` keys ([`ALIASES`]).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rand::seq::SliceRandom as _;
use rand::Rng as _;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

use super::data::{Data, BRANCH};
use super::git::{hex, Mode};
use super::{iso, Store};
use crate::fake::common::{
    bad_request, json_body, FaultAliases, Faults, GithubBudget, GithubSecondary,
};

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// `GET /_control/items`.
pub async fn items(State(store): State<Arc<Store>>) -> Response {
    let d = store.read();
    let head = d.head_commit();
    let mut out = Vec::with_capacity(head.files.len() + d.issues.len() + d.comments.len());
    {
        let mut caches = store.caches();
        for (path, e) in head.files.iter() {
            let bytes = match e.mode {
                Mode::Submodule => None,
                _ => d.blobs.get(&e.oid),
            };
            let digest = *caches
                .sha256
                .entry(e.oid)
                .or_insert_with(|| Sha256::digest(bytes.map_or(&[][..], |b| &b[..])).into());
            out.push(json!({
                "stream": "files",
                "id": path,
                "version": hex(&e.oid),
                "sha256": hex(&digest),
                "parent_id": path.rsplit_once('/').map(|(dir, _)| dir),
                "mode": e.mode.api(),
                "type": e.mode.kind(),
                "size": bytes.map_or(0, Bytes::len),
            }));
        }
    }
    for stream in ["issues", "pulls"] {
        for i in d.issues.values().filter(|i| i.pull == (stream == "pulls")) {
            out.push(json!({
                "stream": stream,
                "id": i.number.to_string(),
                "version": iso(i.updated),
                "sha256": sha256_hex(i.body.as_bytes()),
                "title": i.title,
                "state": if i.open { "open" } else { "closed" },
            }));
        }
    }
    for c in d.comments.values() {
        out.push(json!({
            "stream": "comments",
            "id": c.id.to_string(),
            "version": iso(c.updated),
            "sha256": sha256_hex(c.body.as_bytes()),
            "parent_id": c.issue.to_string(),
        }));
    }
    Json(out).into_response()
}

/// `GET /_control/repo`.
pub async fn repo(State(store): State<Arc<Store>>) -> Response {
    let d = store.read();
    let history: Vec<String> = d.history().iter().map(|c| hex(&c.oid)).collect();
    Json(json!({"default_branch": BRANCH, "head": hex(&d.head), "history": history}))
        .into_response()
}

/// The most changes of one kind a mutation makes.
const MAX_COUNT: u64 = 100_000;

/// Counts under `key` of `body` (each of `names`, default 0, at most
/// [`MAX_COUNT`]).
fn counts(
    body: &Map<String, Value>,
    key: &str,
    names: &[&str],
) -> Result<Option<Vec<usize>>, String> {
    let Some(v) = body.get(key) else {
        return Ok(None);
    };
    let obj = v.as_object().ok_or(format!("{key} must be an object"))?;
    if let Some(k) = obj.keys().find(|k| !names.contains(&k.as_str())) {
        return Err(format!("unknown field {key}.{k}"));
    }
    names
        .iter()
        .map(|n| match obj.get(*n) {
            None => Ok(0),
            Some(v) => v
                .as_u64()
                .filter(|n| *n <= MAX_COUNT)
                .map(|n| n as usize)
                .ok_or(format!(
                    "{key}.{n} must be an integer from 0 to {MAX_COUNT}"
                )),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// One commit of random changes: modifies, adds, deletes, renames
/// distinct regular files.
fn change_commit(
    d: &mut Data,
    modify: usize,
    add: usize,
    delete: usize,
    rename: usize,
    parent_is_head: bool,
) -> Value {
    let mut paths = d.regular_paths();
    paths.shuffle(&mut d.rng);
    let mut take = |n: usize| paths.drain(..n.min(paths.len())).collect::<Vec<_>>();
    let (modified, deleted, renamed_from) = (take(modify), take(delete), take(rename));
    let mut added = Vec::new();
    let mut renamed = Vec::new();
    let like: Vec<String> = d.regular_paths();
    let message = format!("Change {modify} files, add {add}, delete {delete}, rename {rename}");
    let apply = |d: &mut Data,
                 files: &mut super::git::Snapshot,
                 added: &mut Vec<String>,
                 renamed: &mut Vec<Value>| {
        for p in &modified {
            let e = d.new_file(p);
            files.insert(p.clone(), e);
        }
        for p in &deleted {
            files.remove(p);
        }
        for p in &renamed_from {
            let to = d.fresh_path(Some(p));
            if let Some(e) = files.remove(p) {
                files.insert(to.clone(), e);
            }
            renamed.push(json!({"from": p, "to": to}));
        }
        for _ in 0..add {
            let pick = (!like.is_empty()).then(|| like[d.rng.random_range(0..like.len())].clone());
            let p = d.fresh_path(pick.as_deref());
            let e = d.new_file(&p);
            files.insert(p.clone(), e);
            added.push(p);
        }
    };
    let commit = if parent_is_head {
        d.commit_on_head(message, |d, files| {
            apply(d, files, &mut added, &mut renamed)
        })
    } else {
        // A new root commit in place of the first one.
        let mut files = (*d.head_commit().files).clone();
        apply(d, &mut files, &mut added, &mut renamed);
        let time = d.tick();
        d.head = d.commit(files, &[], time, format!("{message} (rewritten root)"));
        d.head
    };
    json!({"commit": hex(&commit), "modified": modified, "added": added, "deleted": deleted, "renamed": renamed})
}

/// `POST /_control/mutate`.
pub async fn mutate(State(store): State<Arc<Store>>, body: Bytes) -> Response {
    let body = match json_body(&body) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return bad_request("the body must be a JSON object"),
        Err(msg) => return bad_request(msg),
    };
    if let Some(k) = body
        .keys()
        .find(|k| !["commit", "force_push", "issues", "comments"].contains(&k.as_str()))
    {
        return bad_request(format!("unknown field {k:?}"));
    }
    let parsed = (|| {
        let commit = counts(&body, "commit", &["modify", "add", "delete", "rename"])?;
        let issues = counts(&body, "issues", &["update", "create"])?;
        let comments = counts(&body, "comments", &["update", "create"])?;
        let force = match body.get("force_push") {
            None | Some(Value::Bool(false)) => None,
            Some(Value::Bool(true)) => Some(1),
            Some(v) => Some(
                v.as_u64()
                    .filter(|k| *k >= 1)
                    .ok_or("force_push must be true or a positive integer")?
                    as usize,
            ),
        };
        Ok::<_, String>((commit, issues, comments, force))
    })();
    let (commit, issues, comments, force) = match parsed {
        Ok(p) => p,
        Err(msg) => return bad_request(msg),
    };
    let mut d = store.write();
    let mut out = Map::new();
    if let Some(k) = force {
        let history = d.history();
        let drop = k.min(history.len() - 1);
        let dropped: Vec<String> = history[..drop].iter().map(|c| hex(&c.oid)).collect();
        d.head = history[drop].oid;
        let v = change_commit(&mut d, 2, 1, 0, 0, drop > 0);
        out.insert(
            "force_push".into(),
            json!({"dropped": dropped, "result": v}),
        );
    }
    if let Some(c) = commit {
        out.insert(
            "commit".into(),
            change_commit(&mut d, c[0], c[1], c[2], c[3], true),
        );
    }
    if let Some(c) = issues {
        let mut numbers: Vec<u64> = d.issues.keys().copied().collect();
        numbers.shuffle(&mut d.rng);
        numbers.truncate(c[0]);
        for n in &numbers {
            let text = d.random_text();
            let now = d.tick();
            if let Some(i) = d.issues.get_mut(n) {
                i.body = text;
                i.title = format!("{} (edited)", i.title.trim_end_matches(" (edited)"));
                i.updated = now;
            }
        }
        let created: Vec<u64> = (0..c[1])
            .map(|_| {
                let (title, body) = (d.random_text(), d.random_text());
                d.create_issue(
                    title
                        .split_whitespace()
                        .take(4)
                        .collect::<Vec<_>>()
                        .join(" "),
                    body,
                )
            })
            .collect();
        out.insert(
            "issues".into(),
            json!({"updated": numbers, "created": created}),
        );
    }
    if let Some(c) = comments {
        let mut ids: Vec<u64> = d.comments.keys().copied().collect();
        ids.shuffle(&mut d.rng);
        ids.truncate(c[0]);
        for id in &ids {
            let text = d.random_text();
            let now = d.tick();
            if let Some(cm) = d.comments.get_mut(id) {
                cm.body = text;
                cm.updated = now;
            }
        }
        let numbers: Vec<u64> = d.issues.keys().copied().collect();
        let mut created = Vec::new();
        for _ in 0..c[1] {
            let Some(n) = numbers
                .get(d.rng.random_range(0..numbers.len().max(1)))
                .copied()
            else {
                break;
            };
            let (text, now) = (d.random_text(), d.tick());
            created.push(d.push_comment(n, text, now, true));
        }
        out.insert(
            "comments".into(),
            json!({"updated": ids, "created": created}),
        );
    }
    Json(Value::Object(out)).into_response()
}

/// `--secondary-after N`: after every N counted requests, one refusal
/// (`retry-after: S`, none when S is 0).
pub fn secondary(after: u64, retry_after: u64) -> GithubSecondary {
    GithubSecondary {
        after,
        times: 1,
        retry_after: (retry_after > 0).then_some(retry_after),
        repeat: true,
    }
}

/// The command line's names as `POST /_control/faults` keys, onto the
/// shared `github_budget` and `github_secondary`: `rate_limit_budget`,
/// `rate_limit_window_s` (either starts a new window), `secondary_after`
/// (or null), `secondary_retry_after` (0: none).
pub const ALIASES: FaultAliases = FaultAliases {
    map: map_aliases,
    describe: describe_aliases,
};

fn map_aliases(faults: &Faults, body: &mut Map<String, Value>) -> Result<(), String> {
    let mut take = |key: &str| -> Result<Option<Option<u64>>, String> {
        match body.remove(key) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(v) => v
                .as_u64()
                .map(|n| Some(Some(n)))
                .ok_or(format!("{key} must be a non-negative integer")),
        }
    };
    let (budget, window_s) = (take("rate_limit_budget")?, take("rate_limit_window_s")?);
    let (after, retry_after) = (take("secondary_after")?, take("secondary_retry_after")?);
    if budget.is_some() || window_s.is_some() {
        let now = faults.github_budget.unwrap_or(GithubBudget {
            limit: 5000,
            window_s: 3600,
        });
        let or_now = |v: Option<Option<u64>>, now: u64, key: &str| match v {
            None => Ok(now),
            Some(v) => v.ok_or(format!("{key} must be a non-negative integer")),
        };
        let limit = or_now(budget, now.limit, "rate_limit_budget")?;
        let window_s = or_now(window_s, now.window_s, "rate_limit_window_s")?;
        body.insert(
            "github_budget".into(),
            json!({"limit": limit, "window_s": window_s.max(1)}),
        );
    }
    if after.is_some() || retry_after.is_some() {
        let now = faults.github_secondary;
        let after = match after {
            Some(a) => a,
            None => Some(
                now.map(|s| s.after)
                    .ok_or("secondary_retry_after needs secondary_after")?,
            ),
        };
        let retry_after = match retry_after {
            Some(r) => r.ok_or("secondary_retry_after must be a non-negative integer")?,
            None => now.map_or(60, |s| s.retry_after.unwrap_or(0)),
        };
        let value = after.map(|a| {
            let s = secondary(a, retry_after);
            json!({"after": s.after, "times": s.times, "retry_after": s.retry_after, "repeat": s.repeat})
        });
        body.insert("github_secondary".into(), value.unwrap_or(Value::Null));
    }
    Ok(())
}

fn describe_aliases(faults: &Faults, out: &mut Map<String, Value>) {
    let budget = faults.github_budget;
    out.insert("rate_limit_budget".into(), budget.map(|b| b.limit).into());
    out.insert(
        "rate_limit_window_s".into(),
        budget.map(|b| b.window_s).into(),
    );
    let secondary = faults.github_secondary;
    out.insert("secondary_after".into(), secondary.map(|s| s.after).into());
    out.insert(
        "secondary_retry_after".into(),
        secondary.map_or(0, |s| s.retry_after.unwrap_or(0)).into(),
    );
}
