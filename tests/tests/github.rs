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

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use support::{
    assert_exit_code, assert_success, hostile_source, plugin_path, toml_str, FakeServer, Synchost,
    Workspace,
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
    ws.write_config(&format!(
        "[sources.{SOURCE}]\nplugin = {}\n\n\
         [sources.{SOURCE}.settings]\nbase_url = {}\nrepo = \"acme/widgets\"\ninclude = \"files\"\n\n\
         [sources.{SOURCE}.auth]\ntype = \"bearer\"\ntoken_env = \"{TOKEN_VAR}\"\n",
        toml_str(&plugin_path("github").display().to_string()),
        toml_str(fake.url()),
    ));
}

#[track_caller]
fn pull(ws: &Workspace) {
    assert_success(
        &Synchost::new(ws)
            .args(["pull", SOURCE])
            .env(TOKEN_VAR, TOKEN)
            .output(),
    );
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
