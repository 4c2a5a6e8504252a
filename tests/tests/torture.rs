//! Crash torture: Confluence pulls with attachments and injected faults,
//! each killed with SIGKILL at a random moment and rerun until complete.
//! After every trial the store must equal the fake's ground truth exactly:
//! same ids, versions, content hashes and blob hashes, no duplicates, no
//! orphan blob files, no half-written mirror files, and the next rerun makes
//! no requests beyond listing (invariants 2, 3 and 6).
//!
//! The normal test run does a few trials; `cargo xtask torture` sets
//! `SYNCHOST_TORTURE_TRIALS` (default there: 30) and prints every trial.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::Value;
use sha2::{Digest, Sha256};
use support::{kill9, plugin_path, FakeServer, Synchost, Workspace};

const DEFAULT_TRIALS: u64 = 3;
/// Reruns allowed after the kill before a trial counts as stuck.
const MAX_RERUNS: usize = 5;

fn config(fake: &FakeServer) -> String {
    format!(
        r#"[sources.docs]
plugin = "{plugin}"
page_size = 50
[sources.docs.auth]
type = "basic"
username_env = "TORTURE_EMAIL"
password_env = "TORTURE_TOKEN"
[sources.docs.retry]
base_delay_ms = 5
max_delay_ms = 50
[sources.docs.settings]
base_url = "{url}"
space = "DOCS"
include_comments = true
"#,
        plugin = plugin_path("confluence").display(),
        url = fake.url()
    )
}

/// A small space with attachments, comments and 5% injected 5xx.
fn start_fake(seed: u64) -> FakeServer {
    let seed = seed.to_string();
    FakeServer::start(
        "confluence",
        &[
            "--pages",
            "120",
            "--attachments-per-page",
            "2",
            "--folders",
            "12",
            "--comments-per-page",
            "1",
            "--attachment-bytes",
            "4096",
            "--seed",
            &seed,
            "--latency-ms",
            "2",
            "--fail-rate",
            "0.05",
            "--email",
            "torture@example.com",
            "--token",
            "t0rture",
        ],
    )
}

fn synchost<'a>(ws: &'a Workspace, args: &[&str]) -> Synchost<'a> {
    Synchost::new(ws)
        .args(args)
        .env("TORTURE_EMAIL", "torture@example.com")
        .env("TORTURE_TOKEN", "t0rture")
}

/// What the store holds for `docs`: (stream, id) → (version, hash), where
/// the hash is the content's, or the blob's for attachments.
fn store_state(ws: &Workspace) -> BTreeMap<(String, String), (String, String)> {
    let db = rusqlite::Connection::open(ws.store_path()).expect("open the store");
    let mut state = BTreeMap::new();
    let mut rows = db
        .prepare(
            "SELECT r.stream, r.id, r.version, coalesce(b.hash, r.content_hash, '')
             FROM records r LEFT JOIN record_blobs b
               ON b.source = r.source AND b.stream = r.stream AND b.record_id = r.id
             WHERE r.source = 'docs' AND r.deleted_at IS NULL",
        )
        .unwrap();
    let mapped = rows
        .query_map([], |row| {
            Ok(((row.get(0)?, row.get(1)?), (row.get(2)?, row.get(3)?)))
        })
        .unwrap();
    for row in mapped {
        let (key, value) = row.unwrap();
        assert!(state.insert(key, value).is_none(), "a record appears twice");
    }
    state
}

fn ground_truth(fake: &FakeServer) -> BTreeMap<(String, String), (String, String)> {
    let items = fake.ground_truth_json();
    let mut truth = BTreeMap::new();
    for item in items.as_array().expect("items") {
        let key = (
            item["stream"].as_str().unwrap().to_string(),
            item["id"].as_str().unwrap().to_string(),
        );
        let version = match &item["version"] {
            Value::String(v) => v.clone(),
            other => other.to_string(),
        };
        truth.insert(
            key,
            (
                version,
                item["sha256"].as_str().unwrap_or_default().to_string(),
            ),
        );
    }
    truth
}

/// Every blob file is referenced, has the hash it is named by, and no
/// download leftovers remain.
fn check_blob_dir(ws: &Workspace) {
    let db = rusqlite::Connection::open(ws.store_path()).unwrap();
    let referenced: BTreeSet<String> = db
        .prepare("SELECT b.path FROM blobs b WHERE b.hash IN (SELECT hash FROM record_blobs)")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let dir = ws.blob_dir();
    let mut on_disk = BTreeSet::new();
    for shard in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        for file in std::fs::read_dir(shard.path()).unwrap().flatten() {
            let name = file.file_name().to_string_lossy().into_owned();
            let shard_name = shard.file_name().to_string_lossy().into_owned();
            assert_ne!(shard_name, "tmp", "a download leftover remains: {name}");
            let bytes = std::fs::read(file.path()).unwrap();
            assert_eq!(
                hex(&Sha256::digest(&bytes)),
                name,
                "blob file content does not match its name"
            );
            on_disk.insert(format!("{shard_name}/{name}"));
        }
    }
    assert_eq!(
        on_disk, referenced,
        "blob files on disk differ from the blobs the store references"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// No temporary files, and exactly the manifest's files, in the mirror.
fn check_mirror(dir: &Path) {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join(".synchost-mirror.json")).unwrap()).unwrap();
    let expected: BTreeSet<String> = manifest["entries"]
        .as_object()
        .unwrap()
        .values()
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect();
    let mut found = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                assert!(
                    !relative.ends_with(".synchost-tmp"),
                    "half-written mirror file {relative}"
                );
                if relative != ".synchost-mirror.json" {
                    found.insert(relative);
                }
            }
        }
    }
    assert_eq!(
        found, expected,
        "the mirror's files differ from its manifest"
    );
}

/// The last progress event before the kill, to tell which phase it hit.
fn phase(ws: &Workspace) -> String {
    let (out, _) = ws.last_spawn_logs();
    out.lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find_map(|event| match event["event"].as_str()? {
            "page" => Some(format!(
                "listing {} ({} done)",
                event["stream"].as_str()?,
                event["done"]
            )),
            "stream_started" => Some(format!("start of {}", event["stream"].as_str()?)),
            "stream_finished" => Some(format!(
                "after {} (retries, sweep)",
                event["stream"].as_str()?
            )),
            "note" => Some("retrying failed items".into()),
            _ => None,
        })
        .unwrap_or_else(|| "before the first page (plugin start, space lookup)".into())
}

struct Trial {
    delay_ms: u64,
    phase: String,
    reruns: usize,
}

fn trial(number: u64, rng: &mut rand::rngs::StdRng, full_ms: u64) -> Trial {
    let fake = start_fake(100 + number);
    let ws = Workspace::new();
    ws.write_config(&config(&fake));

    let delay_ms = rng.random_range(10..=full_ms.max(20));
    let mut child = synchost(&ws, &["pull", "--json"]).start();
    std::thread::sleep(Duration::from_millis(delay_ms));
    kill9(&mut child);
    let phase = phase(&ws);

    let mut reruns = 0;
    loop {
        reruns += 1;
        assert!(
            reruns <= MAX_RERUNS,
            "trial {number}: still incomplete after {MAX_RERUNS} reruns"
        );
        let output = synchost(&ws, &["pull"]).output();
        if output.status.success() {
            break;
        }
        let code = output.status.code();
        // Only an incomplete run (items still failing under the injected 5xx) may repeat.
        assert_eq!(
            code,
            Some(1),
            "trial {number}: rerun failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    assert_eq!(
        store_state(&ws),
        ground_truth(&fake),
        "trial {number}: store differs from ground truth"
    );
    check_blob_dir(&ws);

    // The mirror, also killed mid-write once, then completed.
    let mirror = ws.path().join("mirror");
    let mirror_arg = mirror.to_string_lossy().into_owned();
    let mut export = synchost(
        &ws,
        &["export", "docs", "--format", "files", "--out", &mirror_arg],
    )
    .start();
    std::thread::sleep(Duration::from_millis(rng.random_range(0..30)));
    kill9(&mut export);
    let output = synchost(
        &ws,
        &["export", "docs", "--format", "files", "--out", &mirror_arg],
    )
    .output();
    assert!(
        output.status.success(),
        "export: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    check_mirror(&mirror);

    // Nothing changed remotely: the next run only lists.
    fake.reset_stats();
    let output = synchost(&ws, &["pull"]).output();
    assert!(
        output.status.success(),
        "trial {number}: the final run failed"
    );
    let stats = fake.stats();
    for fetching in ["bulk_pages", "page", "folder", "attachment", "download"] {
        assert_eq!(
            stats[fetching].as_u64().unwrap_or(0),
            0,
            "trial {number}: a settled store still fetched {fetching}: {stats}"
        );
    }
    Trial {
        delay_ms,
        phase,
        reruns,
    }
}

#[test]
fn kill_9_at_random_moments_never_loses_or_duplicates() {
    let trials: u64 = std::env::var("SYNCHOST_TORTURE_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_TRIALS);
    let seed: u64 = std::env::var("SYNCHOST_TORTURE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    // Calibrate: how long an uninterrupted pull of a trial's dataset takes,
    // so kills spread over its whole length.
    let fake = start_fake(seed);
    let ws = Workspace::new();
    ws.write_config(&config(&fake));
    let started = Instant::now();
    let output = synchost(&ws, &["pull"]).output();
    assert!(
        output.status.code().is_some_and(|c| c <= 1),
        "calibration pull crashed"
    );
    let full_ms = started.elapsed().as_millis() as u64;
    eprintln!("torture: {trials} trials (seed {seed}), a full pull takes {full_ms} ms");

    for number in 1..=trials {
        let result = trial(number, &mut rng, full_ms);
        eprintln!(
            "trial {number:>3}: killed after {:>5} ms during {:<45} → complete after {} rerun(s), store = ground truth, blobs and mirror clean",
            result.delay_ms, result.phase, result.reruns
        );
    }
}
