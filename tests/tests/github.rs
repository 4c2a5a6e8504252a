//! End-to-end GitHub syncs: the real `synchost` binary runs the real
//! `github.wasm` against a `synchost-fake github` started by each test, and
//! the store (read straight from SQLite) is compared with the fake's ground
//! truth (`/_control/items`); request counts come from `/_control/stats`.
//!
//! Every test has its own fake and workspace, so they run in parallel.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use support::{
    assert_exit_code, assert_success, events_of, github_spec, hostile_source, json_lines, kill9,
    plugin_path, toml_str, wait_while_running, FakeServer, Synchost, Workspace,
};

const TOKEN: &str = "gh-e2e-t0ken";
const TOKEN_VAR: &str = "SYNCHOST_E2E_GITHUB_TOKEN";
const SOURCE: &str = "gh";

fn start_fake(files: u32) -> FakeServer {
    let files = files.to_string();
    FakeServer::start(
        "github",
        &["--files", &files, "--binary-share", "0.1", "--token", TOKEN],
    )
}

/// A `synchost.toml` syncing the `files` of the fake's `acme/widgets`.
fn write_config(ws: &Workspace, fake: &FakeServer) {
    write_config_with(ws, fake, "files", "");
}

/// A `synchost.toml` syncing the `include` streams of the fake's
/// `acme/widgets`, `source` added to the source's table (e.g. `page_size`).
fn write_config_with(ws: &Workspace, fake: &FakeServer, include: &str, source: &str) {
    ws.write_config(&format!(
        "[sources.{SOURCE}]\nplugin = {}\n{source}\n\
         [sources.{SOURCE}.settings]\nbase_url = {}\nrepo = \"acme/widgets\"\ninclude = \"{include}\"\n\n\
         [sources.{SOURCE}.auth]\ntype = \"bearer\"\ntoken_env = \"{TOKEN_VAR}\"\n",
        toml_str(&plugin_path("github").display().to_string()),
        toml_str(fake.url()),
    ));
}

fn synchost<'a>(ws: &'a Workspace, args: &[&str]) -> Synchost<'a> {
    Synchost::new(ws)
        .args(args)
        .env(TOKEN_VAR, TOKEN)
        .shared_cache()
}

#[track_caller]
fn pull(ws: &Workspace) {
    assert_success(&synchost(ws, &["pull", SOURCE]).output());
}

/// A stored file: its version and the sha256 of its content (the blob's,
/// checked on disk, or the inline content's).
#[derive(Debug, PartialEq, Eq)]
struct File {
    version: String,
    sha256: String,
    /// The git mode (the truth's; empty for the store's).
    mode: String,
}

/// The live `files` records of the store.
fn stored(ws: &Workspace) -> BTreeMap<String, File> {
    let conn = rusqlite::Connection::open_with_flags(
        ws.store_path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the store");
    let mut stmt = conn
        .prepare(
            "SELECT r.id, r.version, r.content_hash, b.path, rb.version \
             FROM records r \
             LEFT JOIN record_blobs rb ON rb.source = r.source AND rb.stream = r.stream \
                 AND rb.record_id = r.id \
             LEFT JOIN blobs b ON b.hash = rb.hash \
             WHERE r.source = ?1 AND r.stream = 'files' AND r.deleted_at IS NULL",
        )
        .expect("prepare");
    type Row = (
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = stmt
        .query_map([SOURCE], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let blob_dir = ws.blob_dir();
    let mut out = BTreeMap::new();
    for (id, version, content_hash, blob_path, blob_version) in rows {
        let sha256 = match blob_path {
            Some(path) => {
                assert_eq!(blob_version.as_deref(), Some(version.as_str()), "{id}");
                let bytes = std::fs::read(blob_dir.join(&path))
                    .unwrap_or_else(|e| panic!("blob of {id} at {path}: {e}"));
                hex(&bytes)
            }
            None => content_hash.unwrap_or_else(|| panic!("{id} has no content")),
        };
        let file = File {
            version,
            sha256,
            mode: String::new(),
        };
        assert!(out.insert(id.clone(), file).is_none(), "{id} twice");
    }
    out
}

/// The fake's files, `path -> (blob sha, sha256)`.
fn truth(fake: &FakeServer) -> BTreeMap<String, File> {
    let items = fake.ground_truth_json();
    items
        .as_array()
        .expect("an array")
        .iter()
        .filter(|i| i["stream"] == "files")
        .map(|i| {
            let text = |k: &str| {
                i[k].as_str()
                    .unwrap_or_else(|| panic!("{k} of {i}"))
                    .to_string()
            };
            (
                text("id"),
                File {
                    version: text("version"),
                    sha256: text("sha256"),
                    mode: text("mode"),
                },
            )
        })
        .collect()
}

/// The store holds exactly the fake's files, each at its blob sha with its
/// content.
#[track_caller]
fn assert_synced(ws: &Workspace, fake: &FakeServer) {
    let truth = truth(fake);
    let stored = stored(ws);
    assert_eq!(
        stored.keys().collect::<Vec<_>>(),
        truth.keys().collect::<Vec<_>>()
    );
    // Symlinks (120000) and submodules (160000) are metadata only: their
    // content is empty.
    let empty = hex(b"");
    for (path, file) in &truth {
        let got = &stored[path];
        assert_eq!(got.version, file.version, "{path}");
        let metadata_only = ["120000", "160000"].contains(&file.mode.as_str());
        let want = if metadata_only { &empty } else { &file.sha256 };
        assert_eq!(&got.sha256, want, "content of {path}");
    }
}

/// The files under the blob directory (`tmp/` included), relative.
fn blob_files(ws: &Workspace) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for shard in std::fs::read_dir(ws.blob_dir()).expect("the blob directory") {
        let shard = shard.unwrap();
        for file in std::fs::read_dir(shard.path()).unwrap() {
            let name = file.unwrap().file_name();
            out.insert(format!(
                "{}/{}",
                shard.file_name().to_string_lossy(),
                name.to_string_lossy()
            ));
        }
    }
    out
}

/// The blob files the store's `blobs` rows name.
fn linked_blobs(ws: &Workspace) -> BTreeSet<String> {
    let conn = rusqlite::Connection::open_with_flags(
        ws.store_path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the store");
    let mut stmt = conn.prepare("SELECT path FROM blobs").expect("prepare");
    let rows = stmt
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    rows
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn count(stats: &Value, name: &str) -> u64 {
    stats[name]
        .as_u64()
        .unwrap_or_else(|| panic!("stats without {name}: {stats}"))
}

#[test]
fn a_first_sync_takes_every_file_from_one_archive() {
    let fake = start_fake(600);
    let ws = Workspace::new();
    write_config(&ws, &fake);
    pull(&ws);

    assert_eq!(truth(&fake).len(), 600);
    assert_synced(&ws, &fake);

    let stats = fake.stats();
    assert_eq!(count(&stats, "archive"), 1, "{stats}");
    assert_eq!(count(&stats, "download"), 1, "{stats}");
    assert_eq!(count(&stats, "blob"), 0, "{stats}");
    // Default branch, head, tree, archive and its download.
    assert!(count(&stats, "requests") <= 6, "{stats}");
    // The archive's own file is gone, and so are members no record
    // references: the blob directory holds the store's blobs only.
    assert_eq!(blob_files(&ws), linked_blobs(&ws));

    // Unchanged: one conditional request, answered 304.
    fake.reset_stats();
    pull(&ws);
    let stats = fake.stats();
    assert_eq!(
        (count(&stats, "requests"), count(&stats, "not_modified")),
        (1, 1),
        "{stats}"
    );

    // A delta reads the changed files by blob sha, no archive.
    fake.reset_stats();
    fake.mutate_with(&json!({"commit": {"modify": 5, "add": 2, "delete": 1, "rename": 1}}));
    pull(&ws);
    let stats = fake.stats();
    assert_eq!(count(&stats, "archive"), 0, "{stats}");
    assert!(count(&stats, "requests") <= 13, "{stats}");
    assert_synced(&ws, &fake);
}

/// A tar.gz of `(raw name, type, data, link target)`: names are written
/// as they are, so hostile ones survive.
fn tar_gz(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (name, kind, data, link) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(*kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        if !link.is_empty() {
            header.set_link_name(link).unwrap();
        }
        header.set_cksum();
        builder.append(&header, *data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// Serves `body` to every request on a port of its own; the count of
/// requests served.
fn serve(body: Vec<u8>) -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let served = Arc::new(AtomicU64::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            count.fetch_add(1, Ordering::SeqCst);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/gzip\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        }
    });
    (url, served)
}

/// A hostile archive through a plugin's member references: only the plain
/// file below the one top-level directory is found; `..`, absolute paths,
/// links, a second top-level directory and the top-level directory itself
/// are not, their records fail, nothing lands outside the content-addressed
/// blob directory, and the archive is downloaded once for the whole run,
/// its retries included.
#[test]
fn hostile_archive_members_are_not_found_and_the_archive_is_read_once() {
    let file = tar::EntryType::Regular;
    let archive = tar_gz(&[
        ("acme-widgets-1/ok.txt", file, b"fine", ""),
        ("acme-widgets-1/../escape.txt", file, b"dotdot", ""),
        ("/abs.txt", file, b"absolute", ""),
        (
            "acme-widgets-1/link",
            tar::EntryType::Symlink,
            b"",
            "/etc/passwd",
        ),
        ("other/ok2.txt", file, b"second top directory", ""),
    ]);
    let (url, served) = serve(archive);
    let ws = Workspace::new();
    let members = "ok.txt ../escape.txt /abs.txt link ok2.txt acme-widgets-1/ok.txt missing.txt";
    ws.write_config(&format!(
        "{}[sources.hostile.retry]\nbase_delay_ms = 1\nmax_delay_ms = 10\n",
        hostile_source(
            "archive-members",
            &url,
            &format!("urls = \"{url}/archive.tar.gz\"\nmembers = \"{members}\""),
        )
    ));
    let out = Synchost::new(&ws).args(["pull", "hostile"]).output();
    assert_exit_code(&out, 1);
    assert_eq!(served.load(Ordering::SeqCst), 1, "one download per run");

    let conn = rusqlite::Connection::open_with_flags(
        ws.store_path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the store");
    let stored: Vec<(String, String)> = conn
        .prepare("SELECT record_id, hash FROM record_blobs")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(stored, [("member-0".to_string(), hex(b"fine"))]);
    let failed: BTreeMap<String, String> = conn
        .prepare("SELECT id, last_error FROM work_items WHERE status = 'failed'")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let want: Vec<String> = (1..7).map(|n| format!("member-{n}")).collect();
    assert_eq!(failed.keys().cloned().collect::<Vec<_>>(), want);
    for why in failed.values() {
        assert!(why.contains("no such regular file"), "{why}");
    }
    // Only `ok.txt`'s content was written, under its sha256.
    let fine = hex(b"fine");
    assert_eq!(
        blob_files(&ws),
        BTreeSet::from([format!("{}/{fine}", &fine[..2])])
    );
    assert!(!ws.path().join("escape.txt").exists());
    assert!(!ws.blob_dir().join("escape.txt").exists());
}

/// The commit the store's `files` watermark names, if any.
fn watermark_commit(ws: &Workspace) -> Option<String> {
    let conn = rusqlite::Connection::open_with_flags(
        ws.store_path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the store");
    let watermark: Option<String> = conn
        .query_row(
            "SELECT watermark FROM streams WHERE source = ?1 AND stream = 'files'",
            [SOURCE],
            |r| r.get(0),
        )
        .unwrap_or(None);
    let mut value: Value = serde_json::from_str(&watermark?).expect("a JSON watermark");
    // The plugin's watermark, stored as a JSON string or inline.
    if let Value::String(inner) = &value {
        value = serde_json::from_str(inner).expect("the plugin's watermark is JSON");
    }
    Some(
        value["sha"]
            .as_str()
            .unwrap_or_else(|| panic!("a watermark without `sha`: {value}"))
            .to_owned(),
    )
}

/// The head of the fake's branch.
fn head(fake: &FakeServer) -> String {
    fake.get("/_control/repo", &[]).json()["head"]
        .as_str()
        .expect("a head")
        .to_owned()
}

/// The fake's request log, `{"method", "path", "query", "status"}` oldest
/// first (never reset).
fn request_log(fake: &FakeServer) -> Vec<Value> {
    match fake.get("/_control/requests", &[]).json() {
        Value::Array(entries) => entries,
        other => panic!("/_control/requests: {other}"),
    }
}

/// The blob shas read by `GET …/git/blobs/{sha}` in `entries`.
fn blob_reads(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .filter_map(|e| {
            let path = e["path"].as_str()?;
            let (_, sha) = path.split_once("/git/blobs/")?;
            Some(sha.to_owned())
        })
        .collect()
}

/// Every request the fake served is an operation of GitHub's description
/// (the vendored subset, its query parameters included, or an operation of
/// the official description `tests/specs/README.md` lists), or the archive
/// download the tarball operation redirects to.
/// Returns the operations seen, as `METHOD path-template`.
#[track_caller]
fn assert_requests_follow_the_spec(fake: &FakeServer) -> BTreeSet<String> {
    let ops = github_spec::operations(
        &[
            github_spec::official_extra(true),
            github_spec::official_extra(false),
        ]
        .concat(),
    );
    let log = request_log(fake);
    assert!(!log.is_empty(), "no request logged");
    let mut seen = BTreeSet::new();
    for e in &log {
        let (method, path, query) = (
            e["method"].as_str().unwrap(),
            e["path"].as_str().unwrap(),
            e["query"].as_str().unwrap_or_default(),
        );
        if method == "GET" && path.starts_with("/codeload/") {
            continue;
        }
        match github_spec::check(&ops, method, path, query) {
            Ok(op) => seen.insert(format!("{} {}", op.method, op.path)),
            Err(why) => panic!("{why}"),
        };
    }
    seen
}

/// A history rewritten under the synced commit: compare from it says
/// `diverged`, the plugin diffs the two trees, and the store follows.
#[test]
fn a_force_push_that_rewrites_history_still_converges() {
    let fake = start_fake(80);
    let ws = Workspace::new();
    write_config(&ws, &fake);
    pull(&ws);
    fake.mutate_with(&json!({"commit": {"modify": 3, "add": 2, "delete": 2, "rename": 1}}));
    pull(&ws);
    assert_synced(&ws, &fake);
    let synced = head(&fake);
    assert_eq!(watermark_commit(&ws).as_deref(), Some(synced.as_str()));

    // The commit just synced is dropped: its deletions come back, its
    // additions go, and two files change on the rewritten branch.
    fake.mutate_with(&json!({"force_push": true}));
    let rewritten = head(&fake);
    let history = fake.get("/_control/repo", &[]).json()["history"].clone();
    assert!(
        !history.as_array().unwrap().iter().any(|c| c == &synced),
        "the synced commit is no longer on the branch: {history}"
    );
    assert_ne!(
        stored(&ws).keys().collect::<Vec<_>>(),
        truth(&fake).keys().collect::<Vec<_>>()
    );
    fake.reset_stats();
    pull(&ws);
    assert_synced(&ws, &fake);
    assert_eq!(watermark_commit(&ws).as_deref(), Some(rewritten.as_str()));
    let stats = fake.stats();
    assert_eq!(
        count(&stats, "archive"),
        0,
        "a delta, not a full sync: {stats}"
    );
    assert!(
        count(&stats, "tree") >= 2,
        "both trees were diffed: {stats}"
    );

    // And again, two commits deep.
    fake.mutate_with(&json!({"commit": {"modify": 2, "add": 1, "delete": 1, "rename": 0}}));
    fake.mutate_with(&json!({"commit": {"modify": 2, "add": 1, "delete": 1, "rename": 1}}));
    pull(&ws);
    fake.mutate_with(&json!({"force_push": 2}));
    pull(&ws);
    assert_synced(&ws, &fake);
    assert_eq!(watermark_commit(&ws), Some(head(&fake)));
    assert_requests_follow_the_spec(&fake);
}

/// A recursive tree GitHub truncates is walked subtree by subtree: the
/// full sync and a delta still equal the truth.
#[test]
fn a_truncated_tree_is_walked() {
    let fake = FakeServer::start(
        "github",
        &[
            "--files",
            "150",
            "--binary-share",
            "0.1",
            "--token",
            TOKEN,
            "--tree-limit",
            "10",
        ],
    );
    let ws = Workspace::new();
    write_config(&ws, &fake);
    let listing = fake.get(
        "/repos/acme/widgets/git/trees/main?recursive=1",
        &[("authorization", &format!("Bearer {TOKEN}"))],
    );
    assert_eq!(listing.json()["truncated"], true, "the fake truncates");
    fake.reset_stats();
    pull(&ws);
    assert_eq!(truth(&fake).len(), 150);
    assert_synced(&ws, &fake);
    let stats = fake.stats();
    assert!(count(&stats, "tree") > 2, "the subtrees were read: {stats}");
    assert_eq!(
        count(&stats, "blob"),
        0,
        "contents from the archive: {stats}"
    );

    fake.mutate_with(&json!({"commit": {"modify": 4, "add": 3, "delete": 2, "rename": 1}}));
    pull(&ws);
    assert_synced(&ws, &fake);
    assert_requests_follow_the_spec(&fake);
}

/// The store's files as `path -> blob sha`.
fn stored_versions(ws: &Workspace) -> BTreeMap<String, String> {
    stored(ws)
        .into_iter()
        .map(|(path, f)| (path, f.version))
        .collect()
}

/// The watermark never names a commit whose files are not all stored: when
/// it names the fake's head, the store is exactly that commit's files.
#[track_caller]
fn assert_watermark_honest(ws: &Workspace, fake: &FakeServer, before: Option<&str>) {
    match watermark_commit(ws) {
        None => assert_eq!(before, None, "a stored watermark was lost"),
        Some(sha) if Some(sha.as_str()) == before => {}
        Some(sha) => {
            assert_eq!(sha, head(fake), "the watermark names an unknown commit");
            assert_synced(ws, fake);
        }
    }
}

/// One `synchost pull` started, killed with SIGKILL after `delay`.
fn pull_killed_after(ws: &Workspace, delay: Duration) {
    let mut child = synchost(ws, &["pull", SOURCE]).start();
    std::thread::sleep(delay);
    kill9(&mut child);
}

/// Reruns `pull` until it succeeds (a kill can leave the store locked for a
/// moment, never more than a few runs).
fn rerun(ws: &Workspace, trial: u64) {
    for _ in 0..3 {
        if synchost(ws, &["pull", SOURCE]).output().status.success() {
            return;
        }
    }
    panic!("trial {trial}: no rerun succeeded");
}

/// `kill -9` at random moments of a first sync and of a delta, then a
/// rerun: the store converges to the truth, files already stored are not
/// read again, and the stored watermark never names a commit whose files are
/// not all in. `SYNCHOST_TORTURE_TRIALS` and `SYNCHOST_TORTURE_SEED` as for
/// `torture.rs`.
#[test]
fn kill_9_at_random_moments_then_rerun_converges_without_reading_twice() {
    let trials: u64 = std::env::var("SYNCHOST_TORTURE_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let seed: u64 = std::env::var("SYNCHOST_TORTURE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(11);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let start = |seed: u64| {
        let seed = seed.to_string();
        FakeServer::start(
            "github",
            &[
                "--files",
                "1500",
                "--file-kb",
                "1",
                "--binary-share",
                "0.1",
                "--token",
                TOKEN,
                "--latency-ms",
                "15",
                "--seed",
                &seed,
            ],
        )
    };
    let page_size = "page_size = 20\n";

    // How long an uninterrupted first sync and delta take, so the kills
    // spread over their whole length.
    let fake = start(seed);
    let ws = Workspace::new();
    write_config_with(&ws, &fake, "files", page_size);
    let started = Instant::now();
    pull(&ws);
    let full_ms = started.elapsed().as_millis() as u64;
    fake.mutate_with(&json!({"commit": {"modify": 30, "add": 5, "delete": 3, "rename": 2}}));
    let started = Instant::now();
    pull(&ws);
    let delta_ms = started.elapsed().as_millis() as u64;
    eprintln!(
        "{trials} trials (seed {seed}): a first sync takes {full_ms} ms, a delta {delta_ms} ms"
    );

    for trial in 1..=trials {
        let fake = start(seed + trial);
        let ws = Workspace::new();
        write_config_with(&ws, &fake, "files", page_size);

        // A first sync, killed.
        // After a random number of committed pages, at a random moment.
        let pages = rng.random_range(1..=40);
        let mut child = synchost(&ws, &["pull", SOURCE, "--json"]).start();
        wait_while_running(
            &ws,
            &mut child,
            "committed pages",
            Duration::from_secs(60),
            || events_of(&json_lines(&ws.last_spawn_logs().0), "page").len() >= pages,
        );
        std::thread::sleep(Duration::from_millis(rng.random_range(0..20)));
        kill9(&mut child);
        assert_watermark_honest(&ws, &fake, None);
        let had = stored_versions(&ws);
        let first = (pages, had.len());
        fake.reset_stats();
        rerun(&ws, trial);
        assert_synced(&ws, &fake);
        assert_eq!(watermark_commit(&ws), Some(head(&fake)));
        let stats = fake.stats();
        assert_eq!(count(&stats, "blob"), 0, "trial {trial}: {stats}");
        assert!(count(&stats, "archive") <= 1, "trial {trial}: {stats}");
        if had.len() == truth(&fake).len() {
            assert_eq!(
                (count(&stats, "archive"), count(&stats, "download")),
                (0, 0),
                "trial {trial}: every file was stored, yet the archive was read again: {stats}"
            );
        }

        // A delta, killed.
        let before = head(&fake);
        fake.mutate_with(&json!({"commit": {"modify": 30, "add": 5, "delete": 3, "rename": 2}}));
        let delay = rng.random_range(5..=delta_ms.max(10));
        pull_killed_after(&ws, Duration::from_millis(delay));
        assert_watermark_honest(&ws, &fake, Some(before.as_str()));
        let had = stored_versions(&ws);
        let logged = request_log(&fake).len();
        rerun(&ws, trial);
        assert_synced(&ws, &fake);
        assert_eq!(watermark_commit(&ws), Some(head(&fake)));
        // A blob read is needed when some path of the commit with that
        // content was not stored with it yet (a renamed path, say).
        let truth = truth(&fake);
        let again: Vec<String> = blob_reads(&request_log(&fake)[logged..])
            .into_iter()
            .filter(|sha| {
                truth
                    .iter()
                    .filter(|(_, f)| &f.version == sha)
                    .all(|(path, _)| had.get(path) == Some(sha))
            })
            .collect();
        assert!(
            again.is_empty(),
            "trial {trial}: blobs already stored were read again: {again:?}"
        );
        eprintln!(
            "trial {trial}: killed after {} pages of the first sync with {} files stored, after {delay} ms of the delta with {} of {} files stored; converged",
            first.0,
            first.1,
            had.iter().filter(|(p, v)| truth.get(*p).is_some_and(|f| &f.version == *v)).count(),
            truth.len()
        );
    }
}

/// The fake's items of a stream other than `files`, `id -> entry`; comment
/// ids as the plugin writes them (`issue-<id>`).
fn truth_of(fake: &FakeServer, stream: &str) -> BTreeMap<String, Value> {
    fake.ground_truth_json()
        .as_array()
        .expect("an array")
        .iter()
        .filter(|i| i["stream"] == stream)
        .map(|i| {
            let id = match &i["id"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let id = if stream == "comments" {
                format!("issue-{id}")
            } else {
                id
            };
            (id, i.clone())
        })
        .collect()
}

/// The live records of a stream: `id -> (version, content hash)`.
fn stored_of(ws: &Workspace, stream: &str) -> BTreeMap<String, (String, Option<String>)> {
    let conn = rusqlite::Connection::open_with_flags(
        ws.store_path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the store");
    let mut stmt = conn
        .prepare(
            "SELECT id, version, content_hash FROM records \
             WHERE source = ?1 AND stream = ?2 AND deleted_at IS NULL",
        )
        .expect("prepare");
    let rows = stmt
        .query_map([SOURCE, stream], |r| {
            Ok((r.get(0)?, (r.get(1)?, r.get(2)?)))
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    rows
}

/// Issues, pulls and comments are stored as the fake has them: the same
/// ids at the same `updated_at`.
#[track_caller]
fn assert_conversations_synced(ws: &Workspace, fake: &FakeServer) {
    for stream in ["issues", "pulls", "comments"] {
        let truth = truth_of(fake, stream);
        assert!(!truth.is_empty(), "the fake has {stream}");
        let stored = stored_of(ws, stream);
        let want: BTreeMap<&String, &str> = truth
            .iter()
            .map(|(id, i)| (id, i["version"].as_str().expect("a version")))
            .collect();
        let got: BTreeMap<&String, &str> =
            stored.iter().map(|(id, (v, _))| (id, v.as_str())).collect();
        assert_eq!(got, want, "{stream}");
    }
}

/// A budget of 4 requests per 2-second window runs out several times
/// during a sync of every stream: the run waits for each reset and
/// completes with nothing failed.
#[test]
fn a_rate_limit_running_out_mid_sync_waits_and_completes() {
    const BUDGET: u64 = 4;
    let fake = FakeServer::start(
        "github",
        &[
            "--files",
            "40",
            "--issues",
            "250",
            "--comments",
            "120",
            "--token",
            TOKEN,
            "--rate-limit-budget",
            &BUDGET.to_string(),
            "--rate-limit-window-s",
            "2",
        ],
    );
    let ws = Workspace::new();
    write_config_with(&ws, &fake, "files,issues,pulls,comments", "");
    pull(&ws);
    assert_synced(&ws, &fake);
    assert_conversations_synced(&ws, &fake);

    let stats = fake.stats();
    // What took from the budget: not the archive's download, the 304s or
    // the refusals.
    let counted = count(&stats, "requests")
        - count(&stats, "download")
        - count(&stats, "not_modified")
        - count(&stats, "rate_limited");
    assert!(
        counted > 2 * BUDGET,
        "the sync needed more than two windows: {stats}"
    );
    let conn = rusqlite::Connection::open_with_flags(
        ws.store_path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the store");
    let (outcome, failed): (String, i64) = conn
        .query_row(
            "SELECT outcome, failed FROM runs WHERE source = ?1 ORDER BY id DESC LIMIT 1",
            [SOURCE],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("a run");
    assert_eq!((outcome.as_str(), failed), ("succeeded", 0));
    let refused = fake
        .get("/_control/requests", &[])
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["status"] == 403)
        .count() as u64;
    assert_eq!(
        refused,
        count(&stats, "rate_limited"),
        "403s are the limit's only"
    );
}

/// Stages `changes` (JSON lines) for `stream`.
fn stage(ws: &Workspace, stream: &str, changes: &[Value]) {
    let file = ws.path().join(format!("{stream}.jsonl"));
    let lines: String = changes.iter().map(|c| format!("{c}\n")).collect();
    std::fs::write(&file, lines).unwrap();
    let file = file.display().to_string();
    assert_success(&synchost(ws, &["stage", SOURCE, "--stream", stream, "--file", &file]).output());
}

/// Pushes: a file edit lands (the new blob sha on GitHub and in the store),
/// an edit of a file someone else committed to meanwhile is a conflict
/// (GitHub's 409) with the remote untouched, a file is created and one
/// deleted; an issue's title and body are edited, an edit of an issue
/// edited meanwhile is a conflict (its `updated_at` moved), and a comment is
/// added.
#[test]
fn pushes_apply_files_and_issues_and_keep_conflicts() {
    let fake = FakeServer::start(
        "github",
        &[
            "--files",
            "30",
            "--binary-share",
            "0",
            "--issues",
            "8",
            "--comments",
            "6",
            "--token",
            TOKEN,
        ],
    );
    let ws = Workspace::new();
    write_config_with(&ws, &fake, "files,issues,pulls,comments", "");
    pull(&ws);
    let before = truth(&fake);
    let regular: Vec<&String> = before
        .iter()
        .filter(|(_, f)| f.mode == "100644")
        .map(|(p, _)| p)
        .collect();
    let (edited, contested, doomed) = (regular[0], regular[1], regular[2]);
    let created = "notes/written-by-synchost.md";
    assert!(!before.contains_key(created));

    // Someone else commits to `contested` through the contents API.
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let bearer = format!("Bearer {TOKEN}");
    support::http(
        "PUT",
        &format!("{}/repos/acme/widgets/contents/{contested}", fake.url()),
        &[("authorization", &bearer)],
        Some(
            &json!({"message": "theirs", "content": b64("their line\n"),
                    "sha": before[contested].version})
            .to_string(),
        ),
    )
    .expect_status(200);
    let theirs = truth(&fake);
    assert_ne!(
        theirs[contested.as_str()].version,
        before[contested.as_str()].version
    );

    let issues = truth_of(&fake, "issues");
    let mut numbers = issues.keys().cloned();
    let (issue, contested_issue) = (numbers.next().unwrap(), numbers.next().unwrap());
    // And to an issue (GitHub has no precondition for issue edits: the
    // plugin reads `updated_at` first).
    support::http(
        "PATCH",
        &format!("{}/repos/acme/widgets/issues/{contested_issue}", fake.url()),
        &[("authorization", &bearer)],
        Some(&json!({"body": "Their body."}).to_string()),
    )
    .expect_status(200);
    let their_issue = truth_of(&fake, "issues")[&contested_issue].clone();
    stage(
        &ws,
        "files",
        &[
            json!({"op": "update", "id": edited, "content": "mine, edited\n"}),
            json!({"op": "update", "id": contested, "content": "mine, contested\n"}),
            json!({"op": "create", "parent_id": "notes", "title": "written-by-synchost.md",
                   "content": "# a new file\n"}),
            json!({"op": "delete", "id": doomed}),
        ],
    );
    stage(
        &ws,
        "issues",
        &[
            json!({"op": "update", "id": issue, "title": "Edited by synchost", "content": "An edited body."}),
            json!({"op": "update", "id": contested_issue, "content": "My body."}),
        ],
    );
    stage(
        &ws,
        "comments",
        &[json!({"op": "create", "parent_id": issue, "content": "A new comment."})],
    );
    let comments_before = truth_of(&fake, "comments").len();

    let out = synchost(&ws, &["push", SOURCE]).output();
    let stderr = assert_exit_code(&out, 1);
    assert!(stderr.contains("synchost conflicts"), "{stderr}");

    let after = truth(&fake);
    let mine = |text: &str| hex(text.as_bytes());
    assert_eq!(after[edited.as_str()].sha256, mine("mine, edited\n"));
    assert_ne!(
        after[edited.as_str()].version,
        before[edited.as_str()].version
    );
    assert_eq!(
        after[contested.as_str()],
        theirs[contested.as_str()],
        "the conflicting push changed the remote"
    );
    assert_eq!(after[created].sha256, mine("# a new file\n"));
    assert!(!after.contains_key(doomed.as_str()), "{doomed} deleted");
    // The store has what was applied: new blob shas, the deletion.
    let stored_now = stored(&ws);
    assert_eq!(
        stored_now[edited.as_str()].version,
        after[edited.as_str()].version
    );
    assert_eq!(stored_now[created].version, after[created].version);
    assert!(!stored_now.contains_key(doomed.as_str()));
    // The conflict holds the remote as it is and our base.
    assert_eq!(
        stored_now[contested.as_str()].version,
        before[contested.as_str()].version,
        "the store keeps the base until a pull"
    );

    // GitHub answered the contested write 409.
    let refused = request_log(&fake).iter().any(|e| {
        e["method"] == "PUT"
            && e["path"] == format!("/repos/acme/widgets/contents/{contested}")
            && e["status"] == 409
    });
    assert!(refused, "no 409 for {contested}");
    assert_eq!(
        truth_of(&fake, "issues")[&contested_issue],
        their_issue,
        "the conflicting issue edit changed the remote"
    );
    let edited_issue = &truth_of(&fake, "issues")[&issue];
    assert_eq!(edited_issue["title"], "Edited by synchost");
    assert_eq!(edited_issue["sha256"], mine("An edited body."));
    let comments = truth_of(&fake, "comments");
    assert_eq!(comments.len(), comments_before + 1);
    assert!(comments
        .values()
        .any(|c| c["parent_id"].to_string().trim_matches('"') == issue));

    let listed: Value = serde_json::from_str(&assert_success(
        &synchost(&ws, &["conflicts", SOURCE, "--json"]).output(),
    ))
    .unwrap();
    let conflicts = listed["conflicts"].as_array().expect("conflicts");
    let by_record: BTreeMap<&str, &Value> = conflicts
        .iter()
        .map(|c| (c["record_id"].as_str().unwrap(), c))
        .collect();
    assert_eq!(
        by_record.keys().collect::<BTreeSet<_>>(),
        BTreeSet::from([&contested.as_str(), &contested_issue.as_str()]),
        "{listed}"
    );
    assert_eq!(
        by_record[contested_issue.as_str()]["remote"]["version"],
        their_issue["version"]
    );
    let c = by_record[contested.as_str()];
    assert_eq!(c["record_id"], contested.as_str());
    assert_eq!(
        c["base"]["version"],
        before[contested.as_str()].version.as_str()
    );
    assert_eq!(
        c["remote"]["version"],
        theirs[contested.as_str()].version.as_str()
    );
    assert_eq!(c["local"]["content"], "mine, contested\n");

    // A pull takes GitHub's side; the next push sends nothing new.
    pull(&ws);
    assert_synced(&ws, &fake);
    assert_conversations_synced(&ws, &fake);
    let settled = truth(&fake);
    let _ = synchost(&ws, &["push", SOURCE]).output();
    assert_eq!(truth(&fake), settled, "a second push changed the remote");
    assert_requests_follow_the_spec(&fake);
}

/// Every request the plugin sends through a first sync, deltas of every
/// stream, an unchanged run and a force-push is an operation of GitHub's
/// description, with its query parameters.
#[test]
fn every_request_follows_the_description() {
    let fake = FakeServer::start(
        "github",
        &[
            "--files",
            "60",
            "--issues",
            "130",
            "--comments",
            "150",
            "--token",
            TOKEN,
        ],
    );
    let ws = Workspace::new();
    write_config_with(
        &ws,
        &fake,
        "files,issues,pulls,comments",
        "page_size = 50\n",
    );
    pull(&ws);
    fake.mutate_with(&json!({"commit": {"modify": 3, "add": 2, "delete": 1, "rename": 1}}));
    fake.mutate_with(&json!({"issues": {"update": 3, "create": 2}}));
    fake.mutate_with(&json!({"comments": {"update": 2, "create": 3}}));
    pull(&ws);
    pull(&ws);
    fake.mutate_with(&json!({"force_push": true}));
    pull(&ws);
    assert_synced(&ws, &fake);
    assert_conversations_synced(&ws, &fake);

    let seen = assert_requests_follow_the_spec(&fake);
    // The checker refuses what the description lacks.
    let ops = github_spec::operations(&github_spec::official_extra(true));
    let check = |m: &str, p: &str, q: &str| github_spec::check(&ops, m, p, q).is_ok();
    assert!(check("GET", "/repos/a/b/git/trees/t", "recursive=1"));
    assert!(check("GET", "/repositories/7/issues", "state=all&page=2"));
    assert!(!check("GET", "/repos/a/b/git/trees/t", "depth=1"));
    assert!(!check("DELETE", "/repos/a/b/issues/1", ""));
    assert!(!check("GET", "/repos/a/b/git/blobs", ""));
    for op in [
        "GET /repos/{owner}/{repo}",
        "GET /repos/{owner}/{repo}/commits/{ref}",
        "GET /repos/{owner}/{repo}/git/trees/{tree_sha}",
        "GET /repos/{owner}/{repo}/tarball/{ref}",
        "GET /repos/{owner}/{repo}/compare/",
        "GET /repos/{owner}/{repo}/git/blobs/{file_sha}",
        "GET /repos/{owner}/{repo}/issues",
        "GET /repos/{owner}/{repo}/pulls",
        "GET /repos/{owner}/{repo}/issues/comments",
    ] {
        assert!(
            seen.iter()
                .any(|s| s == op || (op.ends_with('/') && s.starts_with(op))),
            "{op} was checked: {seen:?}"
        );
    }
}
