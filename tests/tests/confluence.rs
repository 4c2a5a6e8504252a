//! End-to-end Confluence syncs: the real `synchost` binary runs the real
//! `confluence.wasm` against a `synchost-fake confluence` started by each
//! test (basic auth, `docs/confluence.md`), and the store (read back with
//! `synchost export`, blob links straight from the SQLite store) and the
//! mirror tree (`export --format files`) are compared with the fake's ground
//! truth (`/_control/items`). Every request the plugin sent (the fake's
//! `/_control/requests` log) is checked against the official OpenAPI files.
//!
//! Every test has its own fake and workspace, so they run in parallel.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use support::confluence_streams::{
    decode, request_log, synchost, write_config, Logged, EMAIL, SOURCE, TOKEN,
};
use support::{
    assert_success, events_of, json_lines, kill9, output_text, str_field, u64_field,
    wait_while_running, FakeServer, Workspace,
};

/// The content type of page and comment bodies in `storage` format.
const STORAGE_TYPE: &str = "application/vnd.atlassian.storage+xml";
/// Generous limit for "the run gets somewhere" on a loaded machine.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(120);
const STREAMS: [&str; 4] = ["pages", "folders", "attachments", "comments"];

// ---------------------------------------------------------------------------
// Running things

/// `synchost-fake confluence <args> --email EMAIL --token TOKEN`, without
/// blog posts unless `args` asks (they have their own tests,
/// `confluence_streams.rs`).
fn start_fake(args: &[&str]) -> FakeServer {
    let mut all = args.to_vec();
    if !args.contains(&"--blogposts") {
        all.extend_from_slice(&["--blogposts", "0"]);
    }
    all.extend_from_slice(&["--email", EMAIL, "--token", TOKEN]);
    FakeServer::start("confluence", &all)
}

/// `synchost pull docs --json <extra...>`, whatever its outcome.
fn pull_output(ws: &Workspace, extra: &[&str]) -> Output {
    let mut args = vec!["pull", SOURCE, "--json"];
    args.extend_from_slice(extra);
    synchost(ws, &args).output()
}

/// `synchost pull docs --json <extra...>`; panics unless it succeeds, returns
/// the events.
#[track_caller]
fn pull(ws: &Workspace, extra: &[&str]) -> Vec<Value> {
    json_lines(&assert_success(&pull_output(ws, extra)))
}

/// The `summary` event of a run.
#[track_caller]
fn summary(events: &[Value]) -> &Value {
    let all = events_of(events, "summary");
    assert_eq!(all.len(), 1, "one summary per run: {events:?}");
    &all[0]["summary"]
}

/// The `stream_started` event of `stream`.
#[track_caller]
fn stream_started<'a>(events: &'a [Value], stream: &str) -> &'a Value {
    let started: Vec<_> = events_of(events, "stream_started")
        .into_iter()
        .filter(|e| e["stream"] == stream)
        .collect();
    assert_eq!(started.len(), 1, "{stream} starts once: {events:?}");
    started[0]
}

/// The counts of `stream` in a run's summary.
#[track_caller]
fn stream_counts<'a>(events: &'a [Value], stream: &str) -> &'a Value {
    let streams = summary(events)["streams"]
        .as_array()
        .unwrap_or_else(|| panic!("summary without streams: {events:?}"));
    let found: Vec<_> = streams.iter().filter(|s| s["stream"] == stream).collect();
    assert_eq!(found.len(), 1, "{stream} once in the summary: {streams:?}");
    &found[0]["counts"]
}

/// `synchost <cmd> --json` parsed (status, runs).
#[track_caller]
fn json_command(ws: &Workspace, args: &[&str]) -> Value {
    let out = assert_success(&synchost(ws, args).output());
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} is not JSON ({e}): {out}"))
}

fn sha_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A `(stream, id)` key.
type Key = (String, String);

fn key(stream: &str, id: &str) -> Key {
    (stream.to_owned(), id.to_owned())
}

// ---------------------------------------------------------------------------
// The ground truth and the store

/// `/_control/items` by (stream, id).
fn truth(fake: &FakeServer) -> BTreeMap<Key, Value> {
    let json = fake.ground_truth_json();
    let mut out = BTreeMap::new();
    for e in json.as_array().expect("/_control/items is an array") {
        let k = key(str_field(e, "stream"), str_field(e, "id"));
        assert!(out.insert(k.clone(), e.clone()).is_none(), "{k:?} twice");
    }
    out
}

/// How many items of `stream` the truth has.
fn count(truth: &BTreeMap<Key, Value>, stream: &str) -> usize {
    truth.keys().filter(|(s, _)| s == stream).count()
}

/// Ids of `stream` whose version differs between `before` and `after`, or
/// that are new.
fn changed(
    before: &BTreeMap<Key, Value>,
    after: &BTreeMap<Key, Value>,
    stream: &str,
) -> BTreeSet<String> {
    after
        .iter()
        .filter(|((s, _), _)| s == stream)
        .filter(|(k, v)| before.get(*k).is_none_or(|b| b["version"] != v["version"]))
        .map(|((_, id), _)| id.clone())
        .collect()
}

/// Keys in `before` and not in `after`.
fn vanished(before: &BTreeMap<Key, Value>, after: &BTreeMap<Key, Value>) -> BTreeSet<Key> {
    before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .cloned()
        .collect()
}

/// What `synchost export docs` holds: live records and tombstones by key.
struct Stored {
    live: BTreeMap<Key, Value>,
    deleted: BTreeSet<Key>,
}

#[track_caller]
fn stored(ws: &Workspace) -> Stored {
    let out = synchost(ws, &["export", SOURCE, "--format", "jsonl"]).output();
    let stdout = assert_success(&out);
    let mut live = BTreeMap::new();
    let mut deleted = BTreeSet::new();
    let records = json_lines(&stdout);
    assert_eq!(
        records.len(),
        stdout.lines().filter(|l| !l.trim().is_empty()).count(),
        "export printed an unterminated line"
    );
    for r in records {
        let stream = str_field(&r, "stream");
        assert!(STREAMS.contains(&stream), "unexpected stream in {r}");
        let k = key(stream, str_field(&r, "id"));
        assert!(
            !live.contains_key(&k) && !deleted.contains(&k),
            "{k:?} is stored twice"
        );
        match r["deleted"].as_bool() {
            Some(true) => {
                deleted.insert(k);
            }
            Some(false) => {
                live.insert(k, r);
            }
            None => panic!("record without a boolean `deleted`: {r}"),
        }
    }
    Stored { live, deleted }
}

/// The attachments' blob links in the store, `record id -> (hash, version)`,
/// each checked on disk: the file `<store>.blobs/ab/<sha256>` exists and
/// has that sha256 and the recorded size.
fn stored_blobs(ws: &Workspace) -> BTreeMap<String, (String, String)> {
    let store = ws.store_path();
    let conn =
        rusqlite::Connection::open_with_flags(&store, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap_or_else(|e| panic!("open {}: {e}", store.display()));
    let mut stmt = conn
        .prepare(
            "SELECT rb.record_id, rb.name, rb.hash, rb.version, b.path, b.size \
             FROM record_blobs rb JOIN blobs b ON b.hash = rb.hash \
             WHERE rb.source = ?1 AND rb.stream = 'attachments'",
        )
        .expect("prepare");
    let rows: Vec<(String, String, String, String, String, i64)> = stmt
        .query_map([SOURCE], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let blob_dir = ws.blob_dir();
    let mut out = BTreeMap::new();
    for (id, name, hash, version, path, size) in rows {
        assert_eq!(name, "file", "the blob of attachment {id} is named `file`");
        assert_eq!(path, format!("{}/{hash}", &hash[..2]), "blob path of {id}");
        let file = blob_dir.join(&path);
        let bytes = std::fs::read(&file)
            .unwrap_or_else(|e| panic!("blob of {id} at {}: {e}", file.display()));
        assert_eq!(sha_hex(&bytes), hash, "content of blob {}", file.display());
        assert_eq!(bytes.len() as i64, size, "size of blob {}", file.display());
        assert!(
            out.insert(id.clone(), (hash, version)).is_none(),
            "{id}: two blobs"
        );
    }
    out
}

/// No download leftovers: the blob directory holds exactly the files the
/// store's `blobs` rows name (a successful pull sweeps the rest), and
/// `<store>.blobs/tmp` holds nothing.
#[track_caller]
fn assert_no_stray_blobs(ws: &Workspace) {
    let store = ws.store_path();
    let conn =
        rusqlite::Connection::open_with_flags(&store, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the store");
    let mut stmt = conn.prepare("SELECT path FROM blobs").expect("prepare");
    let rows: BTreeSet<String> = stmt
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let on_disk = files_under(&ws.blob_dir());
    assert_eq!(on_disk, rows, "blob files vs blob rows");
}

/// Checks that every live item of the truth is stored exactly (version,
/// parent, title, body sha256, attachment blob), except the keys in
/// `except`, and returns the stored keys that are not in the truth (live or
/// tombstones) for the caller to judge.
#[track_caller]
fn check_store(ws: &Workspace, truth: &BTreeMap<Key, Value>, except: &BTreeSet<Key>) -> Stored {
    let store = stored(ws);
    let blobs = stored_blobs(ws);
    let mut problems = Vec::new();
    for (k, t) in truth.iter().filter(|(k, _)| !except.contains(*k)) {
        let Some(r) = store.live.get(k) else {
            let state = if store.deleted.contains(k) {
                "a tombstone"
            } else {
                "absent"
            };
            problems.push(format!("{k:?} is {state} (truth {t})"));
            continue;
        };
        let mut differ = |what: &str, stored: &Value, truth: &Value| {
            if stored != truth {
                problems.push(format!("{what} of {k:?}: stored {stored}, truth {truth}"));
            }
        };
        differ("version", &r["version"], &t["version"]);
        differ("parent", &r["parent_id"], &t["parent_id"]);
        differ("title", &r["title"], &t["title"]);
        let content = str_field(r, "content");
        match k.0.as_str() {
            "pages" | "comments" => {
                differ("content type", &r["content_type"], &json!(STORAGE_TYPE));
                differ(
                    "body sha256",
                    &json!(sha_hex(content.as_bytes())),
                    &t["sha256"],
                );
                differ("content_hash", &r["content_hash"], &t["sha256"]);
            }
            "folders" => differ("content", &json!(content), &json!("")),
            "attachments" => {
                differ("content", &json!(content), &json!(""));
                match blobs.get(&k.1) {
                    Some((hash, version)) => {
                        differ("blob", &json!(hash), &t["sha256"]);
                        differ("blob version", &json!(version), &t["version"]);
                    }
                    None => problems.push(format!("attachment {} has no blob", k.1)),
                }
            }
            other => panic!("unexpected stream {other}"),
        }
    }
    assert!(
        problems.is_empty(),
        "{} differences between the store and the truth:\n{}",
        problems.len(),
        problems.join("\n")
    );
    let live = store
        .live
        .into_iter()
        .filter(|(k, _)| !truth.contains_key(k))
        .collect();
    Stored {
        live,
        deleted: store.deleted,
    }
}

/// The store is exactly the truth: every item, nothing else, no tombstones.
#[track_caller]
fn assert_store_is_truth(ws: &Workspace, truth: &BTreeMap<Key, Value>) {
    let extra = check_store(ws, truth, &BTreeSet::new());
    assert!(
        extra.live.is_empty(),
        "stored but not in the truth: {:?}",
        extra.live.keys().collect::<Vec<_>>()
    );
    assert!(extra.deleted.is_empty(), "tombstones: {:?}", extra.deleted);
}

/// `/_control/stats` counter `name`.
fn stat(stats: &Value, name: &str) -> u64 {
    u64_field(stats, name)
}

/// The statuses served, as `{code: count}`.
fn statuses(stats: &Value) -> BTreeMap<String, u64> {
    stats["by_status"]
        .as_object()
        .expect("by_status")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().expect("count")))
        .collect()
}

/// Only 200s were served.
#[track_caller]
fn assert_all_ok(stats: &Value) {
    let s = statuses(stats);
    assert!(
        s.keys().all(|code| code == "200"),
        "statuses other than 200: {stats}"
    );
}

// ---------------------------------------------------------------------------
// The request log and the official specs

/// The requests logged after the first `from`.
fn requests_since(fake: &FakeServer, from: usize) -> Vec<Logged> {
    request_log(fake).split_off(from)
}

struct Spec {
    name: &'static str,
    doc: Value,
    /// What the spec's server URL adds before its paths.
    prefix: &'static str,
}

fn specs() -> &'static [Spec; 2] {
    static SPECS: OnceLock<[Spec; 2]> = OnceLock::new();
    SPECS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
        let load = |file: &str| -> Value {
            let path = dir.join(file);
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        };
        let v2 = load("confluence-v2.openapi.json");
        let v1 = load("confluence-v1.openapi.json");
        // The prefixes the checks rely on, from the files themselves.
        assert!(
            v2["servers"][0]["url"]
                .as_str()
                .is_some_and(|u| u.ends_with("/wiki/api/v2")),
            "the v2 spec's server URL ends with /wiki/api/v2"
        );
        assert!(
            v1["paths"]
                .as_object()
                .is_some_and(|p| p.contains_key("/wiki/rest/api/content/search")),
            "the v1 spec's paths carry /wiki/rest/api"
        );
        [
            Spec {
                name: "v2",
                doc: v2,
                prefix: "/wiki/api/v2",
            },
            Spec {
                name: "v1",
                doc: v1,
                prefix: "",
            },
        ]
    })
}

/// Follows `$ref` (local JSON pointers) until a non-reference.
fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    for _ in 0..32 {
        let Some(r) = v.get("$ref").and_then(Value::as_str) else {
            return v;
        };
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("non-local $ref {r}"));
        v = doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("dangling $ref {r}"));
    }
    panic!("$ref chain too long");
}

/// Checks `values` (all the values of one parameter) against its schema.
fn check_values(doc: &Value, schema: &Value, values: &[String]) -> Result<(), String> {
    let schema = resolve(doc, schema);
    if schema["type"] == "array" {
        let items: Vec<&str> = values.iter().flat_map(|v| v.split(',')).collect();
        if let Some(max) = schema["maxItems"].as_u64() {
            if items.len() as u64 > max {
                return Err(format!("{} items, at most {max}", items.len()));
            }
        }
        if let Some(min) = schema["minItems"].as_u64() {
            if (items.len() as u64) < min {
                return Err(format!("{} items, at least {min}", items.len()));
            }
        }
        let item_schema = resolve(doc, &schema["items"]);
        return items
            .iter()
            .try_for_each(|item| check_scalar(doc, item_schema, item));
    }
    match values {
        [one] => check_scalar(doc, schema, one),
        _ => Err(format!("a single value is expected, got {values:?}")),
    }
}

fn check_scalar(doc: &Value, schema: &Value, value: &str) -> Result<(), String> {
    let schema = resolve(doc, schema);
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.iter().any(|a| a.as_str() == Some(value)) {
            return Err(format!("{value:?} is not one of {allowed:?}"));
        }
    }
    match schema["type"].as_str() {
        Some("integer") => {
            let n: i64 = value
                .parse()
                .map_err(|_| format!("{value:?} is not an integer"))?;
            if let Some(max) = schema["maximum"].as_i64() {
                if n > max {
                    return Err(format!("{n} is above the maximum {max}"));
                }
            }
            if let Some(min) = schema["minimum"].as_i64() {
                if n < min {
                    return Err(format!("{n} is below the minimum {min}"));
                }
            }
            Ok(())
        }
        Some("boolean") if value != "true" && value != "false" => {
            Err(format!("{value:?} is not a boolean"))
        }
        _ => Ok(()),
    }
}

/// Why `req` does not match an operation of the official specs (`None`: it
/// does).
fn spec_violation(req: &Logged) -> Option<String> {
    // Attachment downloads (`/wiki{_links.download}`) are not API operations:
    // no spec describes them, the host follows the link the API gave.
    if req.path.starts_with("/wiki/download/attachments/") {
        return (req.method != "GET").then(|| "a download that is not a GET".to_owned());
    }
    let method = req.method.to_ascii_lowercase();
    // Every (spec, template) whose segments match, the most literal first.
    let mut candidates = Vec::new();
    for spec in specs() {
        let Some(rest) = req.path.strip_prefix(spec.prefix) else {
            continue;
        };
        let segments: Vec<String> = rest.split('/').map(decode).collect();
        for (template, item) in spec.doc["paths"].as_object().expect("paths") {
            let parts: Vec<&str> = template.split('/').collect();
            if parts.len() != segments.len() {
                continue;
            }
            let mut params = Vec::new();
            let mut literal = 0;
            let matched = parts.iter().zip(&segments).all(|(part, seg)| {
                if part.starts_with('{') && part.ends_with('}') {
                    params.push((part[1..part.len() - 1].to_owned(), seg.clone()));
                    !seg.is_empty()
                } else {
                    literal += 1;
                    part == seg
                }
            });
            if matched {
                candidates.push((literal, spec, template.clone(), item, params));
            }
        }
    }
    candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
    let Some((_, spec, template, item, path_params)) = candidates.into_iter().next() else {
        return Some("no path of either spec matches".to_owned());
    };
    let doc = &spec.doc;
    let Some(op) = item.get(&method) else {
        return Some(format!(
            "{} {template} has no {method} operation",
            spec.name
        ));
    };
    let declared: Vec<&Value> = op["parameters"]
        .as_array()
        .into_iter()
        .chain(item["parameters"].as_array())
        .flatten()
        .map(|p| resolve(doc, p))
        .collect();
    let where_ = format!("{} {} {template}", spec.name, req.method);
    for (name, value) in &path_params {
        let Some(p) = declared
            .iter()
            .find(|p| p["in"] == "path" && p["name"] == name.as_str())
        else {
            return Some(format!("{where_}: path parameter {name} is not declared"));
        };
        if let Err(e) = check_values(doc, &p["schema"], std::slice::from_ref(value)) {
            return Some(format!("{where_}: path parameter {name}: {e}"));
        }
    }
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in req.params() {
        by_name.entry(k).or_default().push(v);
    }
    for (name, values) in &by_name {
        // A CQL search continues through the `_links.next` the API gave,
        // followed verbatim (docs/confluence.md). Real Confluence (and so the
        // fake, tests/src/fake/confluence/v1.rs) writes `next=true` and the
        // legacy offset `start` into that link, although the spec declares
        // them only for `/wiki/rest/api/search` (api-contracts.md §1.11), not
        // for `/wiki/rest/api/content/search`: allowed there, on
        // continuations (with a `cursor`) only, with their documented types.
        if template == "/wiki/rest/api/content/search" && by_name.contains_key("cursor") {
            let ok = match name.as_str() {
                "next" => Some(values == &["true"]),
                "start" => Some(values.len() == 1 && values[0].parse::<u64>().is_ok()),
                _ => None,
            };
            match ok {
                Some(true) => continue,
                Some(false) => return Some(format!("{where_}: link parameter {name}={values:?}")),
                None => {}
            }
        }
        let Some(p) = declared
            .iter()
            .find(|p| p["in"] == "query" && p["name"] == name.as_str())
        else {
            return Some(format!(
                "{where_}: query parameter {name:?} is not declared"
            ));
        };
        if let Err(e) = check_values(doc, &p["schema"], values) {
            return Some(format!("{where_}: query parameter {name}: {e}"));
        }
    }
    for p in &declared {
        if p["in"] == "query" && p["required"] == true {
            let name = str_field(p, "name");
            if !by_name.contains_key(name) {
                return Some(format!("{where_}: required parameter {name} is missing"));
            }
        }
    }
    None
}

/// Every request in the fake's log matches an operation of the official
/// specs (path template, method, declared parameters with valid values), and
/// the log was not truncated. Returns the log.
#[track_caller]
fn assert_requests_follow_spec(fake: &FakeServer) -> Vec<Logged> {
    let log = request_log(fake);
    assert!(!log.is_empty(), "no request was logged");
    assert!(
        log.len() < 100_000,
        "the request log is full: some requests went unchecked"
    );
    let bad: Vec<String> = log
        .iter()
        .filter_map(|r| {
            let why = match spec_violation(r) {
                None if r.status == 400 => Some("the fake answered 400".to_owned()),
                other => other,
            };
            why.map(|why| format!("{} {}?{}: {why}", r.method, r.path, r.query))
        })
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} requests do not follow the official specs:\n{}",
        bad.len(),
        log.len(),
        bad.join("\n")
    );
    log
}

/// Requests of `log` to `path` exactly.
fn to_path<'a>(log: &'a [Logged], path: &str) -> Vec<&'a Logged> {
    log.iter().filter(|r| r.path == path).collect()
}

/// Requests of `log` whose path matches `prefix` + one segment + `suffix`.
fn to_template<'a>(log: &'a [Logged], prefix: &str, suffix: &str) -> Vec<&'a Logged> {
    log.iter()
        .filter(|r| {
            r.path
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix(suffix))
                .is_some_and(|id| !id.is_empty() && !id.contains('/'))
        })
        .collect()
}

/// The ids asked for by the bulk page fetches of `log`.
fn bulk_ids(log: &[Logged]) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for r in to_path(log, "/wiki/api/v2/pages") {
        for id in r.list("id") {
            assert!(ids.insert(id.clone()), "page {id} was bulk-fetched twice");
        }
    }
    ids
}

/// The attachments downloaded in `log`, as the truth's ids (found by
/// container page and file name).
fn downloaded(log: &[Logged], truth: &BTreeMap<Key, Value>) -> Vec<String> {
    let by_file: HashMap<(String, String), String> = truth
        .iter()
        .filter(|((s, _), _)| s == "attachments")
        .map(|((_, id), t)| {
            (
                (
                    str_field(t, "parent_id").to_owned(),
                    str_field(t, "title").to_owned(),
                ),
                id.clone(),
            )
        })
        .collect();
    log.iter()
        .filter_map(|r| r.path.strip_prefix("/wiki/download/attachments/"))
        .map(|rest| {
            let (page, file) = rest.split_once('/').expect("page/file");
            let file = percent_encoding::percent_decode_str(file)
                .decode_utf8_lossy()
                .into_owned();
            by_file
                .get(&(page.to_owned(), file.clone()))
                .unwrap_or_else(|| panic!("download of {page}/{file}: no such attachment"))
                .clone()
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The mirror tree

/// `.synchost-mirror.json`: `stream/id` -> (relative path, hash).
fn manifest(out: &Path) -> BTreeMap<String, (String, String)> {
    let path = out.join(".synchost-mirror.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: Value = serde_json::from_str(&text).expect("manifest is JSON");
    assert_eq!(v["source"], SOURCE, "manifest source");
    v["entries"]
        .as_object()
        .expect("manifest entries")
        .iter()
        .map(|(k, e)| {
            (
                k.clone(),
                (
                    str_field(e, "path").to_owned(),
                    str_field(e, "hash").to_owned(),
                ),
            )
        })
        .collect()
}

/// Every file under `dir` (relative, `/`-separated), the manifest excepted.
fn files_under(dir: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).expect("under root");
                out.insert(rel.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out.remove(".synchost-mirror.json");
    out
}

/// True when a title should appear unchanged as a file name: letters,
/// digits, spaces and hyphens only, not padded, short, not a reserved name.
fn plain_name(name: &str) -> bool {
    let stem = name
        .split('.')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    let reserved = ["CON", "PRN", "AUX", "NUL"].contains(&stem.as_str())
        || (stem.len() == 4
            && (stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.as_bytes()[3].is_ascii_digit());
    !name.is_empty()
        && name.len() <= 100
        && name.trim() == name
        && !reserved
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == ' ' || c == '-')
}

/// Checks that file name `component` is safe on every common file system
/// (no reserved characters, no trailing dot or space, not a reserved
/// Windows name, at most 255 bytes) and, for a plain title, is how the
/// mirror names `title` (`title [id]` on collisions), with extension `ext`
/// (`""` for directories and attachments, whose titles carry theirs).
/// Returns whether the title was plain enough to compare.
#[track_caller]
fn check_name(component: &str, title: &str, id: &str, ext: &str) -> bool {
    assert!(!component.is_empty(), "empty file name for {id}");
    assert!(component.len() <= 255, "{id}: name too long: {component:?}");
    assert!(
        !component
            .chars()
            .any(|c| "/\\:*?\"<>|".contains(c) || c.is_control()),
        "{id}: reserved character in {component:?}"
    );
    assert!(
        !component.ends_with('.') && !component.ends_with(' '),
        "{id}: trailing dot or space in {component:?}"
    );
    // Windows reserves these base names with any extension (`NUL.txt`).
    let base = component
        .split('.')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    let reserved = ["CON", "PRN", "AUX", "NUL"].contains(&base.as_str())
        || (base.len() == 4
            && (base.starts_with("COM") || base.starts_with("LPT"))
            && base.as_bytes()[3].is_ascii_digit());
    assert!(!reserved, "{id}: reserved name {component:?}");
    let (stem, title_ext) = match title.rsplit_once('.') {
        Some((s, e))
            if ext.is_empty() && !s.is_empty() && e.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            (s, format!(".{e}"))
        }
        _ => (title, ext.to_owned()),
    };
    if !plain_name(stem) {
        return false;
    }
    let plain = format!("{stem}{title_ext}");
    let disambiguated = format!("{stem} [{id}]{title_ext}");
    assert!(
        component == plain || component == disambiguated,
        "{id} ({title:?}) is named {component:?}, not {plain:?} or {disambiguated:?}"
    );
    true
}

/// Checks the mirror in `out` against the truth: exactly one file per page,
/// comment and attachment, with the truth's bytes, nothing else; each file
/// in the directory of its parent (a page's directory is its file without
/// `.html`; a folder is a directory of its own, the same for all its
/// children, inside its parent's); names follow titles. Returns the manifest.
#[track_caller]
fn check_mirror(out: &Path, truth: &BTreeMap<Key, Value>) -> BTreeMap<String, (String, String)> {
    let entries = manifest(out);
    let expected: BTreeSet<String> = truth
        .keys()
        .filter(|(s, _)| s != "folders")
        .map(|(s, id)| format!("{s}/{id}"))
        .collect();
    let actual: BTreeSet<String> = entries.keys().cloned().collect();
    assert_eq!(
        actual.difference(&expected).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "mirror entries not in the truth"
    );
    assert_eq!(
        expected.difference(&actual).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "truth items missing from the mirror"
    );
    // The files on disk are exactly the manifest's, with the truth's bytes.
    let on_disk = files_under(out);
    let listed: BTreeSet<String> = entries.values().map(|(p, _)| p.clone()).collect();
    assert_eq!(listed.len(), entries.len(), "two entries share a path");
    assert_eq!(on_disk, listed, "files on disk vs the manifest");
    for (k, (path, hash)) in &entries {
        let (stream, id) = k.split_once('/').expect("stream/id");
        let t = &truth[&key(stream, id)];
        assert_eq!(hash, str_field(t, "sha256"), "manifest hash of {k}");
        let bytes = std::fs::read(out.join(path)).expect("read mirror file");
        assert_eq!(&sha_hex(&bytes), hash, "bytes of {path} ({k})");
    }

    // The hierarchy.
    let parent_of = |id: &str| -> Option<String> {
        ["pages", "folders"]
            .iter()
            .find_map(|s| truth.get(&key(s, id)))
            .and_then(|t| t["parent_id"].as_str().map(str::to_owned))
    };
    let is_page = |id: &str| truth.contains_key(&key("pages", id));
    let mut page_dirs: HashMap<String, PathBuf> = HashMap::new();
    for (k, (path, _)) in &entries {
        if let Some(id) = k.strip_prefix("pages/") {
            let stem = path
                .strip_suffix(".html")
                .unwrap_or_else(|| panic!("page {id} is not an .html file: {path}"));
            page_dirs.insert(id.to_owned(), PathBuf::from(stem));
        }
    }
    let mut folder_dirs: HashMap<String, PathBuf> = HashMap::new();
    // Where the directory of `parent` must be, as seen from one child in `dir`.
    let claim = |parent: Option<&str>,
                 dir: &Path,
                 who: &str,
                 folder_dirs: &mut HashMap<String, PathBuf>|
     -> Option<String> {
        match parent {
            None => {
                assert_eq!(dir, Path::new(""), "{who} is at the root");
                None
            }
            Some(p) if is_page(p) => {
                assert_eq!(
                    dir, page_dirs[p],
                    "{who} is in the directory of its page {p}"
                );
                None
            }
            Some(f) => {
                assert!(
                    truth.contains_key(&key("folders", f)),
                    "{who}: parent {f} unknown"
                );
                match folder_dirs.get(f) {
                    Some(known) => {
                        assert_eq!(known, dir, "{who} is in the directory of folder {f}");
                        None
                    }
                    None => {
                        folder_dirs.insert(f.to_owned(), dir.to_path_buf());
                        Some(f.to_owned())
                    }
                }
            }
        }
    };
    let mut todo = Vec::new();
    let (mut names, mut compared) = (0, 0);
    for (k, (path, _)) in &entries {
        let (stream, id) = k.split_once('/').expect("stream/id");
        let t = &truth[&key(stream, id)];
        let path = Path::new(path);
        let dir = path.parent().expect("a file has a parent");
        let parent = t["parent_id"].as_str();
        if stream != "pages" {
            assert!(parent.is_some_and(is_page), "{k} hangs off a page: {t}");
        }
        todo.extend(claim(parent, dir, k, &mut folder_dirs));
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let ext = if stream == "attachments" { "" } else { ".html" };
        names += 1;
        compared += usize::from(check_name(&name, str_field(t, "title"), id, ext));
    }
    while let Some(folder) = todo.pop() {
        let dir = folder_dirs[&folder].clone();
        let t = &truth[&key("folders", &folder)];
        let name = dir
            .file_name()
            .unwrap_or_else(|| panic!("folder {folder} is the root"));
        names += 1;
        compared += usize::from(check_name(
            &name.to_string_lossy(),
            str_field(t, "title"),
            &folder,
            "",
        ));
        let parent = parent_of(&folder);
        let above = dir.parent().expect("parent dir");
        todo.extend(claim(
            parent.as_deref(),
            above,
            &format!("folder {folder}"),
            &mut folder_dirs,
        ));
    }
    // Comments ("Re: ...") and awkward titles are not compared by name.
    assert!(
        compared * 3 >= names,
        "only {compared} of {names} names were plain enough to compare"
    );
    let mut seen: HashMap<&PathBuf, &String> = HashMap::new();
    for (id, dir) in folder_dirs.iter().chain(&page_dirs) {
        if let Some(other) = seen.insert(dir, id) {
            panic!("{id} and {other} share the directory {}", dir.display());
        }
    }
    entries
}

/// `synchost export docs --format files --out DIR`; returns (written, moved,
/// removed, unchanged) from its report.
#[track_caller]
fn export_files(ws: &Workspace, out: &Path) -> [u64; 4] {
    let out_arg = out.to_string_lossy().into_owned();
    let output = synchost(
        ws,
        &["export", SOURCE, "--format", "files", "--out", &out_arg],
    )
    .output();
    assert_success(&output);
    let (stdout, stderr) = output_text(&output);
    let text = format!("{stdout}{stderr}");
    let line = text
        .lines()
        .find(|l| l.contains(" written") && l.contains(" unchanged"))
        .unwrap_or_else(|| panic!("no mirror report in:\n{text}"));
    let number = |word: &str| -> u64 {
        let before = line
            .split(',')
            .find(|part| part.trim_end().ends_with(word))
            .unwrap_or_else(|| panic!("no `{word}` in {line:?}"));
        before
            .split_whitespace()
            .rev()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count before `{word}` in {line:?}"))
    };
    [
        number("written"),
        number("moved"),
        number("removed"),
        number("unchanged"),
    ]
}

fn mtimes(out: &Path) -> BTreeMap<String, SystemTime> {
    files_under(out)
        .into_iter()
        .map(|p| {
            let t = std::fs::metadata(out.join(&p))
                .and_then(|m| m.modified())
                .expect("mtime");
            (p, t)
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The tests

/// A first pull stores every stream exactly: pages with their storage
/// bodies, folders, attachments (blobs on disk with the right sha256) and
/// comments, with the minimum of requests: one space lookup, one space
/// listing, one CQL listing per stream and page of results, one folder fetch
/// per folder, one download per attachment, no single-page fetch.
#[test]
fn full_pull_stores_every_stream_exactly() {
    let fake = start_fake(&[
        "--pages",
        "120",
        "--folders",
        "10",
        "--attachments-per-page",
        "2",
        "--comments-per-page",
        "1",
        "--attachment-bytes",
        "2000",
        "--seed",
        "11",
    ]);
    let ws = Workspace::new();
    write_config(&ws, &fake, "include_comments = true");
    // The listing sizes of docs/confluence.md (250 per v2 listing, 200 per
    // CQL search, 50 with bodies) need a host page size of at least 250.
    let events = pull(&ws, &["--page-size", "250"]);

    let truth = truth(&fake);
    let n = |s| count(&truth, s);
    assert_eq!(
        (n("pages"), n("folders"), n("attachments"), n("comments")),
        (120, 10, 240, 120),
        "the dataset asked for"
    );
    assert_store_is_truth(&ws, &truth);
    assert_no_stray_blobs(&ws);
    for stream in STREAMS {
        assert_eq!(stream_started(&events, stream)["full"], true, "{stream}");
        let counts = stream_counts(&events, stream);
        assert_eq!(
            u64_field(counts, "written"),
            n(stream) as u64,
            "{stream}: {counts}"
        );
        assert_eq!(u64_field(counts, "skipped"), 0, "{stream}: {counts}");
        assert_eq!(u64_field(counts, "failed"), 0, "{stream}: {counts}");
    }
    assert_eq!(summary(&events)["counts"]["written"], 490);

    let stats = fake.stats();
    assert_all_ok(&stats);
    assert_eq!(
        stat(&stats, "spaces"),
        1,
        "the space id is resolved once: {stats}"
    );
    assert_eq!(
        stat(&stats, "space_pages"),
        1,
        "120 pages in one listing of 250: {stats}"
    );
    assert_eq!(stat(&stats, "page"), 0, "no single-page fetch: {stats}");
    assert_eq!(
        stat(&stats, "bulk_pages"),
        0,
        "listings carry bodies: {stats}"
    );
    assert_eq!(stat(&stats, "folder"), 10, "one fetch per folder: {stats}");
    assert_eq!(
        stat(&stats, "download"),
        240,
        "one download per attachment: {stats}"
    );
    // Folders 1 page of 200, attachments 2, comments 3 of 50 (body
    // expansion), inline comments the same 3 (one CQL type for both kinds).
    assert_eq!(stat(&stats, "cql"), 1 + 2 + 3 + 3, "CQL listings: {stats}");
    // With the (empty) blog post listing.
    assert_eq!(
        stat(&stats, "requests"),
        1 + 1 + 1 + 10 + 240 + 9,
        "nothing else: {stats}"
    );

    let log = assert_requests_follow_spec(&fake);
    // The listing asks for bodies, 250 at a time.
    let listing = &log
        .iter()
        .find(|r| r.path.ends_with("/pages") && r.path.starts_with("/wiki/api/v2/spaces/"))
        .expect("a space listing");
    assert_eq!(listing.list("body-format"), ["storage"]);
    assert_eq!(listing.list("limit"), ["250"]);
    // The first request of each CQL listing (the plugin's own; the others
    // follow `_links.next`, where the API put its own capped limit).
    let first_cql: BTreeSet<(String, String)> = to_path(&log, "/wiki/rest/api/content/search")
        .iter()
        .filter(|r| r.list("cursor").is_empty())
        .map(|r| (r.list("expand").join(","), r.list("limit").join(",")))
        .collect();
    let expected = [
        ("version", "200"),
        ("version,container", "200"),
        ("version,container,body.storage", "200"),
        (
            "version,container,body.storage,extensions.inlineProperties,extensions.resolution",
            "200",
        ),
    ];
    assert_eq!(
        first_cql,
        expected
            .iter()
            .map(|(e, l)| (e.to_string(), l.to_string()))
            .collect(),
        "CQL listings: expansions and limits"
    );
    let mut downloads = downloaded(&log, &truth);
    downloads.sort();
    let all_attachments: Vec<String> = truth
        .keys()
        .filter(|(s, _)| s == "attachments")
        .map(|(_, id)| id.clone())
        .collect();
    assert_eq!(
        downloads, all_attachments,
        "each attachment downloaded once"
    );
}

/// A delta after `mutate` lists changes through CQL only (no listing of all
/// pages), bulk-fetches exactly the changed pages, fetches exactly the
/// changed folders and downloads exactly the new or changed attachments;
/// live items then equal the truth, and deleted ones are left as they were
/// (a delta cannot see deletions).
#[test]
fn delta_fetches_only_what_changed() {
    let fake = start_fake(&[
        "--pages",
        "150",
        "--folders",
        "8",
        "--attachments-per-page",
        "1",
        "--comments-per-page",
        "1",
        "--attachment-bytes",
        "1500",
        "--seed",
        "12",
    ]);
    let ws = Workspace::new();
    write_config(&ws, &fake, "include_comments = true");
    pull(&ws, &[]);
    let before = truth(&fake);
    assert_store_is_truth(&ws, &before);

    let changes = fake.mutate_with(&json!({
        "update": 6, "delete": 3, "create": 4, "move": 3, "attachments": 5
    }));
    let after = truth(&fake);
    let changed_pages = changed(&before, &after, "pages");
    let changed_folders = changed(&before, &after, "folders");
    let changed_attachments = changed(&before, &after, "attachments");
    // The mutation is what it says, so the expectations below mean something.
    assert!(changed_pages.len() >= 13, "{changes}");
    assert_eq!(changed_attachments.len(), 5 + 2, "{changes}");

    fake.reset_stats();
    let from = request_log(&fake).len();
    let events = pull(&ws, &[]);
    for stream in STREAMS {
        assert_eq!(
            stream_started(&events, stream)["full"],
            false,
            "{stream} is a delta"
        );
    }
    let stats = fake.stats();
    assert_all_ok(&stats);
    assert_eq!(
        stat(&stats, "space_pages"),
        0,
        "no listing of all pages: {stats}"
    );
    assert_eq!(stat(&stats, "page"), 0, "no single-page fetch: {stats}");
    assert_eq!(
        stat(&stats, "bulk_pages"),
        1,
        "the changed pages in one batch: {stats}"
    );
    assert_eq!(stat(&stats, "spaces"), 1, "{stats}");
    assert_eq!(
        stat(&stats, "cql"),
        6,
        "one small CQL delta per stream (blog posts and inline comments too): {stats}"
    );
    assert_eq!(
        stat(&stats, "folder"),
        changed_folders.len() as u64,
        "only changed folders are fetched: {stats}"
    );
    assert_eq!(
        stat(&stats, "download"),
        changed_attachments.len() as u64,
        "only changed attachments are downloaded: {stats}"
    );

    let log = requests_since(&fake, from);
    assert_eq!(
        bulk_ids(&log),
        changed_pages,
        "the bulk fetch asks for exactly the changed pages"
    );
    let downloads: BTreeSet<String> = downloaded(&log, &after).into_iter().collect();
    assert_eq!(downloads, changed_attachments, "downloads");
    let folder_fetches: BTreeSet<String> = to_template(&log, "/wiki/api/v2/folders/", "")
        .iter()
        .map(|r| r.path.rsplit('/').next().unwrap().to_owned())
        .collect();
    assert_eq!(folder_fetches, changed_folders, "folder fetches");

    let extra = check_store(&ws, &after, &BTreeSet::new());
    let gone = vanished(&before, &after);
    assert!(!gone.is_empty());
    assert_eq!(
        extra.live.keys().cloned().collect::<BTreeSet<_>>(),
        gone,
        "what the remote deleted is still stored (a delta does not see deletions)"
    );
    assert!(
        extra.deleted.is_empty(),
        "no tombstone on a delta: {:?}",
        extra.deleted
    );
    assert_requests_follow_spec(&fake);
}

/// `--check-deletions` (ids-only listing of the space, then the changed pages
/// in a batch) and `--full` both tombstone the pages the remote deleted,
/// with their attachments and comments; exported with `deleted: true`.
#[test]
fn check_deletions_and_full_tombstone_deleted_pages() {
    let fake = start_fake(&[
        "--pages",
        "100",
        "--folders",
        "5",
        "--attachments-per-page",
        "1",
        "--comments-per-page",
        "1",
        "--attachment-bytes",
        "1000",
        "--seed",
        "13",
    ]);
    let ws = Workspace::new();
    write_config(&ws, &fake, "include_comments = true");
    pull(&ws, &[]);
    let first = truth(&fake);

    // --check-deletions.
    fake.mutate_with(&json!({"update": 3, "delete": 4}));
    let second = truth(&fake);
    let from = request_log(&fake).len();
    let events = pull(&ws, &["--check-deletions"]);
    let log = requests_since(&fake, from);
    let listings: Vec<&Logged> = to_template(&log, "/wiki/api/v2/spaces/", "/pages");
    assert!(!listings.is_empty(), "--check-deletions lists the space");
    for r in &listings {
        assert!(
            r.list("body-format").is_empty(),
            "the ids-only listing asks for no body: {}?{}",
            r.path,
            r.query
        );
    }
    assert_eq!(
        bulk_ids(&log),
        changed(&first, &second, "pages"),
        "only changed pages are fetched"
    );
    assert!(
        downloaded(&log, &second).is_empty(),
        "no attachment changed"
    );
    let gone = vanished(&first, &second);
    let gone_pages = gone.iter().filter(|(s, _)| s == "pages").count();
    assert_eq!(gone_pages, 4);
    assert_eq!(
        u64_field(stream_counts(&events, "pages"), "deleted"),
        4,
        "{events:?}"
    );
    let extra = check_store(&ws, &second, &BTreeSet::new());
    assert!(extra.live.is_empty(), "still live: {:?}", extra.live.keys());
    assert_eq!(
        extra.deleted, gone,
        "exactly the deleted items are tombstones"
    );

    // --full.
    fake.mutate_with(&json!({"delete": 3, "create": 2}));
    let third = truth(&fake);
    let events = pull(&ws, &["--full"]);
    for stream in STREAMS {
        assert_eq!(stream_started(&events, stream)["full"], true, "{stream}");
    }
    let gone_now = vanished(&second, &third);
    assert_eq!(gone_now.iter().filter(|(s, _)| s == "pages").count(), 3);
    let extra = check_store(&ws, &third, &BTreeSet::new());
    assert!(extra.live.is_empty(), "still live: {:?}", extra.live.keys());
    assert_eq!(
        extra.deleted,
        gone.union(&gone_now).cloned().collect(),
        "every deleted item is a tombstone"
    );
    // The tombstones as exported.
    let out = assert_success(&synchost(&ws, &["export", SOURCE]).output());
    let deleted_pages: BTreeSet<String> = json_lines(&out)
        .iter()
        .filter(|r| r["stream"] == "pages" && r["deleted"] == true)
        .map(|r| str_field(r, "id").to_owned())
        .collect();
    let expected: BTreeSet<String> = gone
        .union(&gone_now)
        .filter(|(s, _)| s == "pages")
        .map(|(_, id)| id.clone())
        .collect();
    assert_eq!(deleted_pages, expected, "exported with deleted: true");
    assert_all_ok(&fake.stats());
    assert_requests_follow_spec(&fake);
}

/// The mirror tree follows the hierarchy (pages under their folder's or
/// page's directory, attachments and comments beside their page), and a
/// rerun after a delta with moves and deletions follows them: moved files
/// move, deleted ones go, unchanged ones are not rewritten.
#[test]
fn mirror_follows_hierarchy_moves_and_deletes() {
    let fake = start_fake(&[
        "--pages",
        "90",
        "--folders",
        "8",
        "--attachments-per-page",
        "1",
        "--comments-per-page",
        "1",
        "--attachment-bytes",
        "600",
        "--seed",
        "14",
    ]);
    let ws = Workspace::new();
    write_config(&ws, &fake, "include_comments = true");
    pull(&ws, &[]);
    let before = truth(&fake);
    let out = ws.path().join("mirror");
    let report = export_files(&ws, &out);
    let old = check_mirror(&out, &before);
    assert_eq!(
        report,
        [old.len() as u64, 0, 0, 0],
        "a first export writes everything"
    );
    // The scenario has pages under folders and under pages.
    let nested = |kind: &str| {
        before
            .iter()
            .filter(|((s, _), t)| {
                s == "pages"
                    && t["parent_id"]
                        .as_str()
                        .is_some_and(|p| before.contains_key(&key(kind, p)))
            })
            .count()
    };
    assert!(
        nested("folders") > 0 && nested("pages") > 0,
        "a nested dataset"
    );

    // Unchanged, the export rewrites nothing.
    let times = mtimes(&out);
    assert_eq!(export_files(&ws, &out), [0, 0, 0, old.len() as u64]);
    assert_eq!(mtimes(&out), times, "no file was touched");

    let changes = fake.mutate_with(&json!({
        "update": 4, "delete": 3, "create": 3, "move": 5, "attachments": 3
    }));
    let after = truth(&fake);
    pull(&ws, &["--check-deletions"]);
    let report = export_files(&ws, &out);
    let new = check_mirror(&out, &after);

    // The report, from the two manifests and the truth.
    let new_paths: BTreeSet<&String> = new.values().map(|(p, _)| p).collect();
    let mut expect = [0u64; 4];
    for (k, (path, hash)) in &new {
        match old.get(k) {
            Some((p, h)) if p == path && h == hash => expect[3] += 1,
            Some((_, h)) if h == hash => expect[1] += 1,
            _ => expect[0] += 1,
        }
    }
    expect[2] = old
        .iter()
        .filter(|(k, (p, _))| !new.contains_key(*k) && !new_paths.contains(p))
        .count() as u64;
    assert_eq!(
        report, expect,
        "[written, moved, removed, unchanged] after {changes}"
    );
    assert!(
        expect[1] > 0,
        "the scenario moves files without rewriting them"
    );
    assert!(
        expect[2] > 0 && expect[3] > 0,
        "and removes some, keeps most"
    );

    // Unchanged files and moved ones (renamed) keep their mtime.
    let times_after = mtimes(&out);
    for (k, (path, hash)) in &new {
        if let Some((old_path, old_hash)) = old.get(k) {
            if old_hash == hash {
                assert_eq!(
                    times_after[path], times[old_path],
                    "{k} ({old_path} -> {path}) was rewritten"
                );
            }
        }
    }
    // Moved pages are under their new parent (checked above) and gone from
    // their old place; deleted pages' files are gone.
    let ids = |name: &str| -> Vec<String> {
        changes[name]
            .as_array()
            .unwrap_or_else(|| panic!("no {name} in {changes}"))
            .iter()
            .map(|v| v.as_str().expect("id").to_owned())
            .collect()
    };
    let mut moved_elsewhere = 0;
    for id in ids("moved") {
        let k = format!("pages/{id}");
        if before[&key("pages", &id)]["parent_id"] != after[&key("pages", &id)]["parent_id"] {
            moved_elsewhere += 1;
            assert_ne!(old[&k].0, new[&k].0, "{k} moved");
            assert!(!out.join(&old[&k].0).exists() || new_paths.contains(&old[&k].0));
        }
    }
    assert!(moved_elsewhere > 0, "some page changed parent: {changes}");
    for id in ids("deleted") {
        let k = format!("pages/{id}");
        assert!(!new.contains_key(&k), "{k} is still mirrored");
        assert!(!out.join(&old[&k].0).exists(), "{} remains", old[&k].0);
    }
    assert_requests_follow_spec(&fake);
}

/// Titles a file system may refuse (reserved characters, trailing dots and
/// spaces, reserved Windows names, very long ones, unicode) still give one
/// portable file per page, in the right directory, with the right bytes.
#[test]
fn mirror_names_are_portable() {
    let fake = start_fake(&["--pages", "400", "--folders", "10", "--seed", "23"]);
    let ws = Workspace::new();
    write_config(&ws, &fake, "");
    pull(&ws, &[]);
    let truth = truth(&fake);
    let titles: Vec<&str> = truth
        .iter()
        .filter(|((s, _), _)| s == "pages")
        .map(|(_, t)| str_field(t, "title"))
        .collect();
    // The awkward cases are in this dataset.
    assert!(titles.iter().any(|t| t.len() > 255), "a very long title");
    assert!(
        titles.iter().any(
            |t| ["CON", "AUX", "NUL", "PRN", "COM1"].contains(&t.to_ascii_uppercase().as_str())
        ),
        "a reserved name"
    );
    assert!(titles.iter().any(|t| t.contains('/')), "a slash");
    assert!(
        titles.iter().any(|t| t.ends_with(' ') || t.ends_with('.')),
        "a trailing space or dot"
    );
    let out = ws.path().join("mirror");
    let report = export_files(&ws, &out);
    let entries = check_mirror(&out, &truth);
    assert_eq!(report, [entries.len() as u64, 0, 0, 0]);
}

/// Under a rate limit of 20 requests per second the run still ends with
/// exactly the truth; every 429 the fake served was seen by the host.
#[test]
fn rate_limited_run_gives_the_ground_truth() {
    let fake = start_fake(&[
        "--pages",
        "60",
        "--folders",
        "4",
        "--attachments-per-page",
        "1",
        "--comments-per-page",
        "1",
        "--attachment-bytes",
        "500",
        "--seed",
        "15",
        "--rate-limit",
        "20",
    ]);
    let ws = Workspace::new();
    write_config(&ws, &fake, "include_comments = true");
    let events = pull(&ws, &["--attachment-concurrency", "4"]);
    assert_store_is_truth(&ws, &truth(&fake));
    let stats = fake.stats();
    let s = statuses(&stats);
    assert!(
        s.keys().all(|code| code == "200" || code == "429"),
        "only 200 and 429: {stats}"
    );
    // 60 downloads + listings: more than the burst of 20, whatever the pacing.
    assert!(s["200"] >= 60 + 4 + 3, "{stats}");
    let served_429 = s.get("429").copied().unwrap_or(0);
    assert_eq!(
        u64_field(summary(&events), "rate_limited"),
        served_429,
        "the host counts every 429 it got"
    );
    assert_requests_follow_spec(&fake);
}

/// Under latency, the downloads of different records and pages run at once,
/// never more than `--attachment-concurrency`; pages still commit in
/// listing order, each page event tells the traffic, and the store is
/// exactly the truth.
#[test]
fn downloads_of_many_records_overlap_within_the_attachment_concurrency() {
    let fake = start_fake(&[
        "--pages",
        "60",
        "--folders",
        "2",
        "--attachments-per-page",
        "1",
        "--attachment-bytes",
        "500",
        "--seed",
        "21",
        "--latency-ms",
        "20",
    ]);
    let ws = Workspace::new();
    write_config(&ws, &fake, "");
    let events = pull(
        &ws,
        &[
            "--attachment-concurrency",
            "3",
            "--concurrency",
            "4",
            "--page-size",
            "25",
        ],
    );
    assert_store_is_truth(&ws, &truth(&fake));
    let stats = fake.stats();
    // One attachment per page: two at once means two records (or pages) at once.
    let downloads = stats["max_in_flight_by_kind"]["download"]
        .as_u64()
        .unwrap_or_else(|| panic!("no download concurrency in {stats}"));
    assert!((2..=3).contains(&downloads), "{stats}");
    assert!(u64_field(&stats, "max_in_flight") <= 4, "{stats}");
    let attachments: Vec<_> = events_of(&events, "page")
        .into_iter()
        .filter(|page| page["stream"] == "attachments")
        .collect();
    assert_eq!(
        attachments.len(),
        3,
        "60 attachments in pages of 25: {events:?}"
    );
    let done: Vec<u64> = attachments
        .iter()
        .map(|page| u64_field(page, "done"))
        .collect();
    assert_eq!(done, [25, 50, 60], "pages commit in listing order");
    for page in attachments {
        let http = &page["http"];
        assert!(
            http["requests"].is_u64() && http["in_flight"].is_u64() && http["per_second"].is_f64(),
            "a page event tells the traffic: {page}"
        );
    }
}

/// `kill -9` in the middle of the attachment downloads, then a rerun: the
/// store is exactly the truth, blobs included.
#[test]
fn kill_9_mid_run_then_rerun_gives_the_ground_truth() {
    let fake = start_fake(&[
        "--pages",
        "100",
        "--folders",
        "6",
        "--attachments-per-page",
        "2",
        "--comments-per-page",
        "1",
        "--attachment-bytes",
        "4000",
        "--seed",
        "16",
        "--latency-ms",
        "15",
    ]);
    let ws = Workspace::new();
    write_config(&ws, &fake, "include_comments = true");
    let mut child = synchost(&ws, &["pull", SOURCE, "--json"]).start();
    // 200 downloads at 15 ms each, two at a time: the kill lands mid-way.
    wait_while_running(&ws, &mut child, "40 downloads", PROGRESS_TIMEOUT, || {
        stat(&fake.stats(), "download") >= 40
    });
    kill9(&mut child);
    let (stdout, _) = ws.last_spawn_logs();
    let events = json_lines(&stdout);
    assert!(
        events_of(&events, "summary").is_empty(),
        "the run finished before the kill: {events:?}"
    );
    let truth_now = truth(&fake);
    assert!(
        stat(&fake.stats(), "download") < count(&truth_now, "attachments") as u64,
        "the kill landed before the last download"
    );

    fake.set_faults(json!({ "latency_ms": 0 }));
    let events = pull(&ws, &[]);
    assert_eq!(summary(&events)["counts"]["failed"], 0);
    assert_store_is_truth(&ws, &truth_now);
    assert_no_stray_blobs(&ws);
    assert_all_ok(&fake.stats());
    // A second rerun has nothing left to do.
    fake.reset_stats();
    let events = pull(&ws, &[]);
    assert_eq!(summary(&events)["counts"]["written"], 0, "{events:?}");
    assert_eq!(stat(&fake.stats(), "download"), 0);
    assert_store_is_truth(&ws, &truth_now);
    assert_requests_follow_spec(&fake);
}

/// `kill -9` after the first page of the attachments' full listing was
/// committed, then attachments change on the remote (new versions, new
/// ones) before the rerun. The rerun completes the interrupted run (each
/// record stored as it was before or after the changes) and tombstones
/// nothing; the next pull, a delta without overlap, sees the changes made
/// since the killed run began and ends with exactly the truth.
#[test]
fn kill_9_then_remote_changes_then_rerun_and_delta_give_the_ground_truth() {
    let fake = start_fake(&[
        "--pages",
        "150",
        "--attachments-per-page",
        "2",
        "--attachment-bytes",
        "1000",
        "--seed",
        "19",
        "--latency-ms",
        "10",
    ]);
    let ws = Workspace::new();
    write_config(&ws, &fake, "delta_overlap_minutes = 0");
    let mut child = synchost(&ws, &["pull", SOURCE, "--json"]).start();
    let (events_path, _) = ws.spawn_log_paths(0);
    let attachment_pages = || {
        let events = json_lines(&std::fs::read_to_string(&events_path).unwrap_or_default());
        events_of(&events, "page")
            .iter()
            .filter(|e| e["stream"] == "attachments")
            .count()
    };
    // 300 attachments, listed 100 at a time; each page takes its 100
    // downloads (10 ms each, two at a time) before it is committed.
    wait_while_running(
        &ws,
        &mut child,
        "a committed page of attachments",
        PROGRESS_TIMEOUT,
        || attachment_pages() >= 1,
    );
    kill9(&mut child);
    assert!(attachment_pages() < 3, "killed before the last page");

    let before = truth(&fake);
    fake.mutate_with(&json!({"attachments": 40}));
    let after = truth(&fake);
    assert_eq!(changed(&before, &after, "attachments").len(), 40 + 10);

    fake.set_faults(json!({ "latency_ms": 0 }));
    let events = pull(&ws, &[]);
    assert_eq!(stream_started(&events, "attachments")["resumed"], true);
    // What the rerun stored is the truth of before or after the changes.
    let store = stored(&ws);
    assert!(store.deleted.is_empty(), "tombstones: {:?}", store.deleted);
    for (k, r) in &store.live {
        let then = before.get(k).map(|t| &t["version"]);
        let now = after.get(k).map(|t| &t["version"]);
        assert!(
            Some(&r["version"]) == then || Some(&r["version"]) == now,
            "{k:?} stored at version {}, truth {then:?} then {now:?}",
            r["version"]
        );
    }
    pull(&ws, &[]);
    assert_store_is_truth(&ws, &after);
    assert_no_stray_blobs(&ws);
    assert_requests_follow_spec(&fake);
}

/// A `--full` run that lists attachments while they change on the remote
/// (here: killed after its first page, the changes, then the rerun that
/// resumes it) tombstones nothing that exists. The plugin lists with
/// `ORDER BY lastmodified ASC`, so an item changed during the listing moves
/// behind the cursor and is listed again; with the API's default order
/// (newest first) it would jump ahead of the cursor, never be seen, and be
/// tombstoned at the end of the full enumeration.
#[test]
fn full_run_with_remote_changes_tombstones_nothing_live() {
    let fake = start_fake(&[
        "--pages",
        "150",
        "--attachments-per-page",
        "2",
        "--attachment-bytes",
        "1000",
        "--seed",
        "23",
    ]);
    let ws = Workspace::new();
    write_config(&ws, &fake, "");
    pull(&ws, &[]);
    // Attachments change, then a slow `--full` run is killed after its
    // first committed page of attachments.
    fake.mutate_with(&json!({"attachments": 250}));
    fake.set_faults(json!({ "latency_ms": 10 }));
    let mut child = synchost(&ws, &["pull", SOURCE, "--json", "--full"]).start();
    let (events_path, _) = ws.spawn_log_paths(0);
    let attachment_pages = || {
        let events = json_lines(&std::fs::read_to_string(&events_path).unwrap_or_default());
        events_of(&events, "page")
            .iter()
            .filter(|e| e["stream"] == "attachments")
            .count()
    };
    wait_while_running(
        &ws,
        &mut child,
        "a committed page of attachments",
        PROGRESS_TIMEOUT,
        || attachment_pages() >= 1,
    );
    kill9(&mut child);
    // More changes while the full run is unfinished, then the rerun resumes it.
    fake.mutate_with(&json!({"attachments": 40}));
    fake.set_faults(json!({ "latency_ms": 0 }));
    let events = pull(&ws, &["--full"]);
    assert_eq!(stream_started(&events, "attachments")["resumed"], true);
    let now = truth(&fake);
    let store = stored(&ws);
    let wrongly_deleted: Vec<_> = store
        .deleted
        .iter()
        .filter(|k| now.contains_key(*k))
        .collect();
    assert!(
        wrongly_deleted.is_empty(),
        "live items tombstoned by the full run: {wrongly_deleted:?}"
    );
    pull(&ws, &[]);
    assert_store_is_truth(&ws, &now);
    assert_requests_follow_spec(&fake);
}

/// A page that answers 404 while it must be fetched (changed, so the delta
/// bulk-fetches it) is skipped and reported; the rest of the run completes.
#[test]
fn page_missing_mid_run_is_skipped_and_reported() {
    let fake = start_fake(&[
        "--pages",
        "80",
        "--folders",
        "4",
        "--attachments-per-page",
        "1",
        "--attachment-bytes",
        "500",
        "--seed",
        "17",
    ]);
    let ws = Workspace::new();
    write_config(&ws, &fake, "");
    pull(&ws, &[]);
    let before = truth(&fake);

    let changes = fake.mutate_with(&json!({"update": 4, "attachments": 2}));
    let missing = changes["updated"][1]
        .as_str()
        .expect("an updated id")
        .to_owned();
    fake.set_faults(json!({ "missing_pages": [missing] }));
    let after = truth(&fake);

    let events = pull(&ws, &[]);
    assert_eq!(events_of(&events, "summary")[0]["outcome"], "succeeded");
    let pages = stream_counts(&events, "pages");
    // The 4 updated pages are the delta's only pages: 3 written, 1 not found.
    assert_eq!(u64_field(pages, "written"), 3, "{pages}");
    assert_eq!(u64_field(pages, "skipped"), 1, "{pages}");
    assert_eq!(u64_field(pages, "failed"), 0, "{pages}");
    let attachments = stream_counts(&events, "attachments");
    assert_eq!(u64_field(attachments, "written"), 2 + 1, "{attachments}");

    // Reported: status shows it not found, runs counts it skipped.
    let status = json_command(&ws, &["status", SOURCE, "--json"]);
    let row = |stream: &str| -> Value {
        status
            .as_array()
            .expect("status --json is an array")
            .iter()
            .find(|r| r["stream"] == stream)
            .unwrap_or_else(|| panic!("no {stream} in {status}"))
            .clone()
    };
    assert_eq!(u64_field(&row("pages"), "skipped_not_found"), 1, "{status}");
    assert_eq!(u64_field(&row("pages"), "pending_failed"), 0, "{status}");
    assert_eq!(row("pages")["last_run_outcome"], "succeeded", "{status}");
    for stream in ["folders", "attachments"] {
        assert_eq!(u64_field(&row(stream), "skipped_not_found"), 0, "{status}");
    }
    let runs = json_command(&ws, &["runs", SOURCE, "--json", "--limit", "1"]);
    let run = &runs[0];
    assert_eq!(run["outcome"], "succeeded", "{runs}");
    assert_eq!(u64_field(run, "skipped"), 1, "{runs}");
    assert_eq!(u64_field(run, "failed"), 0, "{runs}");
    assert_eq!(u64_field(run, "written"), 3 + 3, "{runs}");

    // The rest is synced: everything but the missing page is the truth; the
    // missing page keeps its previous version.
    let missing_key = key("pages", &missing);
    check_store(&ws, &after, &BTreeSet::from([missing_key.clone()]));
    let stored_missing = &stored(&ws).live[&missing_key];
    assert_eq!(stored_missing["version"], before[&missing_key]["version"]);
    assert_ne!(
        before[&missing_key]["version"],
        after[&missing_key]["version"]
    );

    // Back again: the next delta fetches it.
    fake.set_faults(json!({ "missing_pages": [] }));
    pull(&ws, &[]);
    assert_store_is_truth(&ws, &truth(&fake));
    let status = json_command(&ws, &["status", SOURCE, "--json"]);
    for r in status.as_array().expect("array") {
        assert_eq!(u64_field(r, "skipped_not_found"), 0, "{status}");
    }
    assert_all_ok(&fake.stats());
    assert_requests_follow_spec(&fake);
}

/// Every request the plugin sends, in every kind of run (full, delta,
/// ids-only deletion check, `--full`, comments, `atlas_doc_format` bodies),
/// matches a path, method and declared parameters of the official specs.
#[test]
fn every_request_follows_the_official_specs() {
    let fake = start_fake(&[
        "--pages",
        "70",
        "--folders",
        "6",
        "--attachments-per-page",
        "1",
        "--comments-per-page",
        "2",
        "--attachment-bytes",
        "300",
        "--seed",
        "18",
    ]);
    let ws = Workspace::new();
    write_config(&ws, &fake, "include_comments = true");
    pull(&ws, &[]);
    fake.mutate_with(&json!({"update": 3, "delete": 2, "create": 2, "move": 2, "attachments": 2}));
    pull(&ws, &[]);
    fake.mutate_with(&json!({"update": 2, "delete": 1}));
    pull(&ws, &["--check-deletions"]);
    fake.mutate_with(&json!({"delete": 1, "create": 1}));
    pull(&ws, &["--full"]);
    let extra = check_store(&ws, &truth(&fake), &BTreeSet::new());
    assert!(extra.live.is_empty(), "still live: {:?}", extra.live.keys());

    // The other body format, in a second workspace.
    let adf = Workspace::new();
    write_config(
        &adf,
        &fake,
        "include_comments = true\nbody_format = \"atlas_doc_format\"",
    );
    pull(&adf, &[]);
    let truth_now = truth(&fake);
    let store = stored(&adf);
    for ((stream, id), t) in truth_now
        .iter()
        .filter(|((s, _), _)| s == "pages" || s == "comments")
    {
        let r = &store.live[&key(stream, id)];
        assert_eq!(
            sha_hex(str_field(r, "content").as_bytes()),
            str_field(t, "sha256_atlas_doc_format"),
            "atlas_doc_format body of {stream}/{id}"
        );
    }

    let log = assert_requests_follow_spec(&fake);
    assert_all_ok(&fake.stats());
    // The runs above used every request kind of docs/confluence.md.
    let used = |pred: &dyn Fn(&Logged) -> bool| log.iter().any(pred);
    assert!(used(&|r| r.path == "/wiki/api/v2/spaces"));
    assert!(used(
        &|r| r.path.starts_with("/wiki/api/v2/spaces/") && r.path.ends_with("/pages")
    ));
    assert!(used(&|r| r.path == "/wiki/api/v2/pages"));
    assert!(used(&|r| r.path.starts_with("/wiki/api/v2/folders/")));
    assert!(used(&|r| r.path == "/wiki/rest/api/content/search"));
    assert!(used(&|r| r.path.starts_with("/wiki/download/attachments/")));
    assert!(used(&|r| r.list("body-format") == ["atlas_doc_format"]));
    // The checker itself refuses what the specs do not allow.
    let probe = |method: &str, path: &str, query: &str| {
        spec_violation(&Logged {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            status: 200,
        })
    };
    assert_eq!(probe("GET", "/wiki/api/v2/pages", "id=1,2&limit=250"), None);
    assert!(probe("GET", "/wiki/api/v2/pages", "limit=251").is_some());
    assert!(probe("GET", "/wiki/api/v2/pages", "ids=1").is_some());
    assert!(probe("GET", "/wiki/api/v2/pages", "body-format=html").is_some());
    assert!(probe("GET", "/wiki/api/v2/spaces/abc/pages", "").is_some());
    assert!(probe("GET", "/wiki/api/v2/nope", "").is_some());
    assert!(probe("DELETE", "/wiki/rest/api/content/search", "cql=x").is_some());
    assert!(probe("GET", "/wiki/rest/api/content/search", "cql=x&start=0").is_some());
    assert!(probe("GET", "/wiki/rest/api/content/search", "cql=x&next=true").is_some());
    assert_eq!(
        probe(
            "GET",
            "/wiki/rest/api/content/search",
            "next=true&cursor=c&limit=50&start=50&cql=x"
        ),
        None
    );
    assert!(probe("GET", "/wiki/api/v2/spaces", "keys=DOCS&start=1").is_some());
    assert_eq!(
        probe(
            "GET",
            "/wiki/rest/api/content/search",
            "cql=x&expand=version&limit=200"
        ),
        None
    );
}

// ---------------------------------------------------------------------------
// Tolerant reading (issue 8): what the specs permit is read, one malformed
// entry fails alone.

/// `truth` as a server with the `spec_edges` fault shows it: version `N` is
/// `-N`.
fn negated(truth: &BTreeMap<Key, Value>) -> BTreeMap<Key, Value> {
    truth
        .iter()
        .map(|(k, t)| {
            let mut t = t.clone();
            t["version"] = format!("-{}", str_field(&t, "version")).into();
            (k.clone(), t)
        })
        .collect()
}

/// The store's work items: `(stream, id) -> (status, last error)`.
fn work_items(ws: &Workspace) -> BTreeMap<Key, (String, String)> {
    let store = ws.store_path();
    let conn =
        rusqlite::Connection::open_with_flags(&store, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the store");
    let mut stmt = conn
        .prepare(
            "SELECT stream, id, status, coalesce(last_error, '') FROM work_items WHERE source = ?1",
        )
        .expect("prepare");
    let rows: Vec<(String, String, String, String)> = stmt
        .query_map([SOURCE], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    rows.into_iter()
        .map(|(stream, id, status, error)| (key(&stream, &id), (status, error)))
        .collect()
}

/// The fake's request counters.
fn counters(stats: &Value) -> BTreeMap<&'static str, u64> {
    [
        "spaces",
        "space_pages",
        "bulk_pages",
        "page",
        "folder",
        "attachment",
        "cql",
        "content",
        "download",
        "requests",
    ]
    .into_iter()
    .map(|name| (name, stat(stats, name)))
    .collect()
}

/// The first id of `stream` in the truth, and the `n`-th.
fn nth_id(truth: &BTreeMap<Key, Value>, stream: &str, n: usize) -> String {
    truth
        .keys()
        .filter(|(s, _)| s == stream)
        .nth(n)
        .map(|(_, id)| id.clone())
        .unwrap_or_else(|| panic!("no {stream} number {n}"))
}

/// A server answering exactly what the official specs permit (negative
/// int32 version numbers and positions, nulls in nullable fields, unknown
/// fields and enum values) is synced completely and exactly, with the same
/// requests as a plain one, and a later delta is still exact.
#[test]
fn spec_edge_values_are_read_exactly_with_the_same_requests() {
    let args = [
        "--pages",
        "60",
        "--folders",
        "6",
        "--attachments-per-page",
        "1",
        "--comments-per-page",
        "1",
        "--attachment-bytes",
        "300",
        "--seed",
        "23",
    ];
    let plain = start_fake(&args);
    let edgy = start_fake(&args);
    edgy.set_faults(json!({"spec_edges": true}));
    let (plain_ws, edgy_ws) = (Workspace::new(), Workspace::new());
    for (ws, fake) in [(&plain_ws, &plain), (&edgy_ws, &edgy)] {
        write_config(ws, fake, "include_comments = true");
    }
    pull(&plain_ws, &["--page-size", "250"]);
    let (_, stderr) = output_text(&pull_output(&edgy_ws, &["--page-size", "250"]));
    assert!(!stderr.contains("unreadable"), "{stderr}");

    assert_store_is_truth(&plain_ws, &truth(&plain));
    let truth_edgy = negated(&truth(&edgy));
    assert_store_is_truth(&edgy_ws, &truth_edgy);
    let page_id = nth_id(&truth_edgy, "pages", 1);
    let page = &stored(&edgy_ws).live[&key("pages", &page_id)];
    let meta = &page["metadata"];
    assert_eq!(meta["status"], "some_future_status", "{meta}");
    assert_eq!(
        json!(format!("{}", meta["version"]["number"])),
        page["version"]
    );
    // The fake gives odd ids the int32 minimum, even ones null (left out).
    let odd = page_id.parse::<u64>().expect("a page id") % 2 == 1;
    assert_eq!(
        meta.get("position"),
        odd.then(|| json!(i32::MIN)).as_ref(),
        "{meta}"
    );
    assert_no_stray_blobs(&edgy_ws);
    assert_eq!(
        counters(&edgy.stats()),
        counters(&plain.stats()),
        "the same requests"
    );

    edgy.mutate_with(&json!({"update": 6, "create": 3, "attachments": 2}));
    let events = pull(&edgy_ws, &[]);
    assert_eq!(stream_started(&events, "pages")["full"], false, "a delta");
    assert_store_is_truth(&edgy_ws, &negated(&truth(&edgy)));
    assert_requests_follow_spec(&edgy);
}

/// Entries with fields the plugin needs of the wrong type (a page, a
/// folder, an attachment and a comment), and one without an id, in every
/// listing and fetch: the pull gets through every listing, stores every
/// other item exactly, reports the four as failed items naming them (kept
/// as pending work, with no extra request in the run) and warns about the
/// nameless one; a rerun asks for the four again; once the server is fixed
/// a rerun stores them, and a full pull the nameless one.
#[test]
fn malformed_entries_fail_alone_and_are_reported() {
    let fake = start_fake(&[
        "--pages",
        "40",
        "--folders",
        "4",
        "--attachments-per-page",
        "1",
        "--comments-per-page",
        "1",
        "--attachment-bytes",
        "300",
        "--seed",
        "29",
    ]);
    let truth = truth(&fake);
    let bad = [
        key("pages", &nth_id(&truth, "pages", 3)),
        key("folders", &nth_id(&truth, "folders", 1)),
        key("attachments", &nth_id(&truth, "attachments", 2)),
        key("comments", &nth_id(&truth, "comments", 5)),
    ];
    let nameless = key("attachments", &nth_id(&truth, "attachments", 7));
    let ids = |keys: &[Key]| -> Vec<String> { keys.iter().map(|(_, id)| id.clone()).collect() };
    fake.set_faults(
        json!({"malformed": ids(&bad), "nameless": ids(std::slice::from_ref(&nameless))}),
    );
    let ws = Workspace::new();
    write_config(&ws, &fake, "include_comments = true");

    let stderr = support::assert_exit_code(&pull_output(&ws, &["--page-size", "250"]), 1);
    assert!(
        stderr.contains("4 items failed after retries and are kept as pending work"),
        "{stderr}"
    );
    // The first field of the wrong type (in key order): the body where
    // there is one, else the title.
    let field = |stream: &str| match stream {
        "pages" | "comments" => "body",
        _ => "title",
    };
    // Folders are listed partial: the entry is left to its (real) fetch.
    for (stream, id) in &bad {
        let item = &stream[..stream.len() - 1];
        let fate = match stream.as_str() {
            "folders" => "left to its fetch",
            _ => "reported as failed",
        };
        let warning = format!("{item} `{id}` {fate}: {}: invalid type", field(stream));
        assert!(stderr.contains(&warning), "no `{warning}` in {stderr}");
    }
    let nameless_title = str_field(&truth[&nameless], "title");
    assert!(
        stderr.contains(&format!(
            "({nameless_title:?}) skipped (no usable id): missing field `id`"
        )),
        "{stderr}"
    );
    let failed = |ws: &Workspace| -> BTreeMap<Key, String> {
        work_items(ws)
            .into_iter()
            .filter(|(_, (status, _))| status == "failed")
            .map(|(k, (_, error))| (k, error))
            .collect()
    };
    let bad_set = BTreeSet::from(bad.clone());
    let first = failed(&ws);
    assert_eq!(first.keys().cloned().collect::<BTreeSet<_>>(), bad_set);
    for ((stream, id), error) in &first {
        let why = format!("`{id}`: {}: invalid type", field(stream));
        assert!(
            error.starts_with("invalid-response: GET http") && error.contains(&why),
            "{stream} {id}: {error}"
        );
    }
    let except: BTreeSet<Key> = bad.iter().cloned().chain([nameless.clone()]).collect();
    let extra = check_store(&ws, &truth, &except);
    assert!(extra.live.is_empty() && extra.deleted.is_empty());
    let live = stored(&ws).live;
    assert!(except.iter().all(|k| !live.contains_key(k)), "not stored");
    // No request beyond the listings, the folder fetches and the downloads:
    // the failed items (retried twice) were answered as listed.
    let expected = BTreeMap::from([
        ("spaces", 1),
        ("space_pages", 1),
        ("bulk_pages", 0),
        ("page", 0),
        ("folder", 4),
        ("attachment", 0),
        // Folders, attachments, comments, inline comments.
        ("cql", 4),
        ("content", 0),
        ("download", 40 - 2),
        // With the (empty) blog post listing.
        ("requests", 1 + 1 + 1 + 4 + 4 + 38),
    ]);
    assert_eq!(counters(&fake.stats()), expected);
    let status = json_command(&ws, &["status", SOURCE, "--json"]);
    for row in status.as_array().expect("array") {
        if STREAMS.contains(&str_field(row, "stream")) {
            assert_eq!(u64_field(row, "pending_failed"), 1, "{status}");
            assert_eq!(row["state"], "running", "resumable: {status}");
        } else {
            // Blog posts and inline comments: none in this space.
            assert_eq!(u64_field(row, "records"), 0, "{status}");
        }
    }

    // A rerun, still broken: the four are asked for once each, fail again,
    // and nothing else changes.
    fake.reset_stats();
    support::assert_exit_code(&pull_output(&ws, &[]), 1);
    let again = failed(&ws);
    assert_eq!(again.keys().cloned().collect::<BTreeSet<_>>(), bad_set);
    assert!(
        again[&bad[2]].contains("/wiki/api/v2/attachments/"),
        "{again:?}"
    );
    assert!(
        again[&bad[3]].contains("/wiki/rest/api/content/"),
        "{again:?}"
    );
    let stats = fake.stats();
    // Blog posts and inline comments (none here) completed in the first run:
    // theirs is a delta (the space lookup and one CQL search each).
    for (name, n) in [
        ("bulk_pages", 1),
        ("folder", 1),
        ("attachment", 1),
        ("content", 1),
        ("spaces", 1),
        ("cql", 2),
        ("requests", 4 + 3),
    ] {
        assert_eq!(stat(&stats, name), n, "{name}: {stats}");
    }
    check_store(&ws, &truth, &except);

    // Fixed: the rerun stores the four; the nameless one, never listed with
    // an id, comes with the next full enumeration.
    fake.set_faults(json!({"malformed": [], "nameless": []}));
    pull(&ws, &[]);
    assert!(failed(&ws).is_empty());
    let extra = check_store(&ws, &truth, &BTreeSet::from([nameless.clone()]));
    assert!(extra.live.is_empty() && extra.deleted.is_empty());
    pull(&ws, &["--full"]);
    assert_store_is_truth(&ws, &truth);
    assert_no_stray_blobs(&ws);
    assert_requests_follow_spec(&fake);
}

/// A page whose update arrives malformed keeps its stored version, through
/// a delta and a full enumeration (never tombstoned), and gets the update
/// once the server is fixed.
#[test]
fn a_malformed_update_keeps_the_stored_version() {
    let fake = start_fake(&["--pages", "30", "--seed", "31"]);
    let ws = Workspace::new();
    write_config(&ws, &fake, "");
    pull(&ws, &[]);
    let before = truth(&fake);
    assert_store_is_truth(&ws, &before);

    let changes = fake.mutate_with(&json!({"update": 3}));
    let updated = changes["updated"][0]
        .as_str()
        .expect("an updated id")
        .to_owned();
    let k = key("pages", &updated);
    fake.set_faults(json!({ "malformed": [updated] }));
    let after = truth(&fake);
    assert_ne!(before[&k]["version"], after[&k]["version"]);
    for extra in [&[][..], &["--full"][..]] {
        let stderr = support::assert_exit_code(&pull_output(&ws, extra), 1);
        assert!(stderr.contains(&format!("page `{updated}`")), "{stderr}");
        let store = check_store(&ws, &after, &BTreeSet::from([k.clone()]));
        assert!(
            store.deleted.is_empty(),
            "{extra:?}: tombstones {:?}",
            store.deleted
        );
        let kept = &stored(&ws).live[&k];
        assert_eq!(kept["version"], before[&k]["version"], "{extra:?}");
    }
    fake.set_faults(json!({ "malformed": [] }));
    pull(&ws, &[]);
    assert_store_is_truth(&ws, &after);
}
