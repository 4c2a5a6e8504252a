//! The fault matrix, end to end: the real `synchost` and `example-items.wasm`
//! against `synchost-fake items` breaking in the ways real services, networks
//! and disks do. Each test names the fault and checks the promised outcome:
//! the store ends as the ground truth, nothing broken is ever stored, and a
//! run that cannot go on says why and keeps its checkpoint.
//!
//! The disk tests run synchost in a user and mount namespace (`unshare`), on
//! a small tmpfs or a read-only bind mount: real `ENOSPC` and `EROFS`,
//! without root on the host.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use support::{
    assert_exit_code, assert_success, events_of, export, items_config, json_lines, json_output,
    output_text, pull_items, stored, str_field, u64_field, wait_exit, FakeServer, SpawnedPull,
    Synchost, Workspace, TOKEN_VAR,
};

/// Generous limit for "the run gets somewhere" on a loaded machine.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(180);
/// Fast retries, so the tests spend their time on the faults.
const QUICK_RETRIES: &str = "[sources.items.retry]\nbase_delay_ms = 10\nmax_delay_ms = 100\n";

/// Requests of a fault-free pull of `count` items (pages of 100, then one
/// fetch per item).
fn clean_requests(count: u64) -> u64 {
    count.div_ceil(100) + count
}

/// Pulls `count` items while every `every`-th response is broken the `kind`
/// way; the pull must succeed with exactly the ground truth. Returns the
/// number of requests the fake served.
fn pull_through_broken_responses(
    kind: &str,
    count: u64,
    every: u64,
    tables: &str,
    rerun: Rerun,
) -> u64 {
    let fake = FakeServer::start("items", &["--count", &count.to_string(), "--seed", "11"]);
    fake.set_faults(json!({ "body_fault": { "kind": kind, "every": every } }));
    let ws = Workspace::new();
    items_config(&ws, &fake, &format!("{QUICK_RETRIES}{tables}"));
    let out = Synchost::run(&ws, &["pull", "items", "--json"]);
    let (stdout, stderr) = output_text(&out);
    let mut events = json_lines(&stdout);
    if out.status.code() != Some(0) || has_failures(&events) {
        assert_eq!(
            rerun,
            Rerun::Allowed,
            "{kind}: the host retries these itself; the first pull must complete:\n{stderr}"
        );
        eprintln!("{kind}: first pull incomplete:\n{stderr}");
        events = pull_items(&ws, &[]);
    }
    assert!(
        !has_failures(&events),
        "{kind}: the rerun completes: {events:?}"
    );
    let store = stored(&export(&ws, "items", &[]));
    assert_eq!(
        store.live,
        fake.ground_truth(),
        "{kind}: the store is the ground truth"
    );
    assert!(store.deleted.is_empty());
    fake.requests()
}

/// Whether one rerun may finish what the first pull left. Transport faults
/// are retried by the host's HTTP client, so they need none; a bad body is
/// the plugin's to refuse, its items are retried at the end of the run, and
/// an item that draws a broken answer on every round waits for the rerun.
#[derive(Debug, PartialEq, Eq)]
enum Rerun {
    Needless,
    Allowed,
}

fn has_failures(events: &[Value]) -> bool {
    events_of(events, "summary")
        .iter()
        .any(|summary| summary["counts"]["failed"].as_u64().unwrap_or(0) > 0)
}

/// Connections that drop mid-body are retried by the host: every item is
/// stored, and the broken answers cost extra requests.
#[test]
fn connections_reset_mid_body_are_retried() {
    let requests = pull_through_broken_responses("reset", 300, 7, "", Rerun::Needless);
    let broken = clean_requests(300) / 7;
    assert!(
        requests >= clean_requests(300) + broken,
        "{requests} requests: each of the {broken} resets was retried"
    );
}

/// A server that sends its headers and then nothing is cut off by the
/// per-request timeout and asked again.
#[test]
fn a_server_stalling_after_headers_times_out_and_is_retried() {
    let requests = pull_through_broken_responses(
        "stall",
        120,
        25,
        "[sources.items.limits]\nrequest_timeout_s = 1\n",
        Rerun::Needless,
    );
    assert!(
        requests > clean_requests(120),
        "{requests} requests: the stalled ones were retried"
    );
}

/// JSON that stops halfway (a complete HTTP response) is an invalid
/// response: the plugin refuses it, the host asks again, and no half record
/// is ever stored.
#[test]
fn truncated_json_is_refused_and_asked_again() {
    pull_through_broken_responses("truncate", 300, 9, "", Rerun::Allowed);
}

/// A 200 whose body is a proxy's HTML error page is refused the same way.
#[test]
fn malformed_json_is_refused_and_asked_again() {
    pull_through_broken_responses("malformed", 300, 9, "", Rerun::Allowed);
}

/// Garbage on every answer: the run stops with invalid-response after its
/// retries, keeps its checkpoint, and stores nothing broken; once the remote
/// is healthy, a rerun completes.
#[test]
fn a_remote_that_only_sends_garbage_stops_the_run_and_stores_nothing() {
    let fake = FakeServer::start("items", &["--count", "150", "--seed", "12"]);
    let ws = Workspace::new();
    items_config(&ws, &fake, QUICK_RETRIES);
    pull_items(&ws, &[]);
    let before = stored(&export(&ws, "items", &[]));
    fake.mutate(20, 0, 5);
    fake.set_faults(json!({ "body_fault": { "kind": "malformed", "every": 1 } }));

    let out = Synchost::run(&ws, &["pull", "items"]);
    let stderr = assert_exit_code(&out, 1);
    assert!(
        stderr.contains("invalid-response") && stderr.contains("502 Bad Gateway"),
        "the error names the problem and shows the body: {stderr}"
    );
    assert_eq!(
        stored(&export(&ws, "items", &[])).live,
        before.live,
        "nothing of the garbage was stored"
    );

    fake.set_faults(json!({ "body_fault": null }));
    pull_items(&ws, &[]);
    assert_eq!(stored(&export(&ws, "items", &[])).live, fake.ground_truth());
}

/// Credentials revoked mid-run: exit 3 at the first 401, the pages already
/// committed stay, and a rerun with the new token resumes and completes.
#[test]
fn credentials_failing_mid_run_keep_the_checkpoint() {
    let fake = FakeServer::start(
        "items",
        &["--count", "400", "--seed", "13", "--token", "old-t0ken"],
    );
    // The first page and its 100 fetches, then half of the second page's.
    fake.set_faults(json!({ "rotate_token": { "after": 152, "to": "new-t0ken" } }));
    let ws = Workspace::new();
    items_config(
        &ws,
        &fake,
        &format!("[sources.items.auth]\ntype = \"bearer\"\ntoken_env = \"{TOKEN_VAR}\"\n"),
    );

    let out = Synchost::new(&ws)
        .args(["pull", "items", "--json"])
        .env(TOKEN_VAR, "old-t0ken")
        .output();
    let stderr = assert_exit_code(&out, 3);
    assert!(
        stderr.contains("credentials") && !stderr.contains("t0ken"),
        "says to check the credentials, never prints them: {stderr}"
    );
    let committed = stored(&export(&ws, "items", &[])).live;
    assert!(
        committed.len() >= 100 && committed.len() < 400,
        "the first page is kept: {} records",
        committed.len()
    );
    let status = assert_success(&Synchost::run(&ws, &["status"]));
    assert!(
        status.contains("unfinished"),
        "status shows the run unfinished:\n{status}"
    );

    fake.reset_stats();
    let out = Synchost::new(&ws)
        .args(["pull", "items", "--json"])
        .env(TOKEN_VAR, "new-t0ken")
        .output();
    let events = json_lines(&assert_success(&out));
    let started = events_of(&events, "stream_started");
    assert_eq!(started[0]["resumed"], true, "the rerun resumes: {events:?}");
    let fetched = u64_field(&fake.stats(), "item_requests");
    assert!(
        fetched <= 400 - 100,
        "the rerun fetched {fetched} items: the committed pages are not fetched again"
    );
    let store = stored(&export(&ws, "items", &[]));
    assert_eq!(store.live, fake.ground_truth());
}

/// Two pulls on one store at once: the second refuses at once, saying why;
/// the first is unharmed and completes to the ground truth.
#[test]
fn a_second_pull_on_the_same_store_refuses() {
    let fake = FakeServer::start(
        "items",
        &["--count", "600", "--seed", "14", "--latency-ms", "15"],
    );
    let ws = Workspace::new();
    items_config(&ws, &fake, "");
    let mut first =
        SpawnedPull::until_pages(&ws, &["pull", "items", "--json"], 1, PROGRESS_TIMEOUT);

    let second = Synchost::run(&ws, &["pull", "items"]);
    let stderr = assert_exit_code(&second, 1);
    assert!(
        stderr.contains("another synchost pull is writing"),
        "the second pull says why it refuses: {stderr}"
    );

    let status = wait_exit(&ws, &mut first.child, PROGRESS_TIMEOUT);
    assert!(status.success(), "the first pull completes: {status}");
    let store = stored(&export(&ws, "items", &[]));
    assert_eq!(store.live, fake.ground_truth());
    let runs: Value = json_output(&ws, &["runs", "--json"]);
    let outcomes: Vec<&str> = runs
        .as_array()
        .expect("an array of runs")
        .iter()
        .map(|run| str_field(run, "outcome"))
        .collect();
    assert_eq!(outcomes, ["succeeded"], "one run, and it succeeded");
}

/// Runs `script` with `sh` in a new user and mount namespace, in the
/// workspace, with synchost's environment; `$SYNCHOST` is the binary.
fn in_namespace(ws: &Workspace, script: &str, envs: &[(&str, &str)]) -> Output {
    let synchost = Synchost::new(ws).command();
    let mut command = Command::new("unshare");
    command
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", script])
        .current_dir(ws.path())
        .env("SYNCHOST", synchost.get_program())
        .envs(
            synchost
                .get_envs()
                .filter_map(|(key, value)| Some((key, value?))),
        )
        .envs(envs.iter().copied())
        .stdin(Stdio::null());
    let out = command.output().expect("cannot run unshare");
    let (stdout, stderr) = output_text(&out);
    assert!(
        out.status.success(),
        "the namespace script failed ({}); these tests need unprivileged user \
         namespaces (`unshare --user --map-root-user --mount`).\n{stdout}\n{stderr}",
        out.status
    );
    out
}

/// What a command inside the namespace wrote to `name.out`, `name.err` and
/// `name.rc` in `dir`.
fn logged(dir: &Path, name: &str) -> (i32, String, String) {
    let read =
        |ext: &str| std::fs::read_to_string(dir.join(format!("{name}.{ext}"))).unwrap_or_default();
    let code = read("rc")
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no exit code for {name}"));
    (code, read("out"), read("err"))
}

/// A disk that fills up mid-run: the pull fails with a clear message and
/// exit 1, the store stays readable and consistent with the ground truth for
/// what it holds, and with room again the same command completes.
#[test]
fn a_full_disk_stops_the_pull_and_loses_nothing() {
    let fake = FakeServer::start("items", &["--count", "3000", "--seed", "15"]);
    let ws = Workspace::new();
    let disk = ws.path().join("disk");
    let logs = ws.path().join("logs");
    let copy = ws.path().join("copy");
    for dir in [&disk, &logs, &copy] {
        std::fs::create_dir_all(dir).unwrap();
    }
    items_config(&ws, &fake, "[store]\npath = \"disk/store.db\"\n");
    let script = r#"
        set -eu
        mount -t tmpfs -o size=400k tmpfs disk
        run() { name=$1; shift; set +e; "$SYNCHOST" "$@" > "logs/$name.out" 2> "logs/$name.err"; echo $? > "logs/$name.rc"; set -e; }
        run full pull items
        run export export items
        mount -o remount,size=64m disk
        run rerun pull items --json
        cp -a disk/. copy/
    "#;
    in_namespace(&ws, script, &[]);

    let (code, _, stderr) = logged(&logs, "full");
    assert_eq!(code, 1, "a full disk fails the run:\n{stderr}");
    assert!(
        stderr.contains("store.db: its disk is full")
            && stderr.contains("run the same command again"),
        "the error names the store, says the disk is full and how to go on: {stderr}"
    );
    let (code, exported, stderr) = logged(&logs, "export");
    assert_eq!(code, 0, "the store is readable after the failure: {stderr}");
    let truth = fake.ground_truth();
    let partial = stored(&json_lines(&exported)).live;
    assert!(
        partial.len() < truth.len(),
        "the disk filled before the end"
    );
    assert!(
        partial.iter().all(|record| truth.contains(record)),
        "what the store holds is the ground truth"
    );
    let (code, _, stderr) = logged(&logs, "rerun");
    assert_eq!(code, 0, "with room again the pull completes: {stderr}");

    // The store, copied out of the namespace, is the ground truth.
    items_config(&ws, &fake, "[store]\npath = \"copy/store.db\"\n");
    let store = stored(&export(&ws, "items", &[]));
    assert_eq!(store.live, truth);
}

/// A store on a read-only file system: the pull refuses with a clear message
/// and changes nothing; on a writable one the same command completes.
#[test]
fn a_read_only_store_is_refused_and_left_untouched() {
    let fake = FakeServer::start("items", &["--count", "250", "--seed", "16"]);
    let ws = Workspace::new();
    let logs = ws.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    items_config(&ws, &fake, "[store]\npath = \"disk/store.db\"\n");
    pull_items(&ws, &[]);
    fake.mutate(30, 10, 10);
    let before = snapshot(&ws.path().join("disk"));

    let script = r#"
        set -eu
        mount --bind disk disk
        mount -o remount,bind,ro disk
        "$SYNCHOST" pull items > logs/ro.out 2> logs/ro.err || echo $? > logs/ro.rc
        test -f logs/ro.rc || echo 0 > logs/ro.rc
    "#;
    in_namespace(&ws, script, &[]);
    let (code, _, stderr) = logged(&logs, "ro");
    assert_ne!(code, 0, "a read-only store fails the pull");
    assert!(
        stderr.contains("cannot write to the store") && stderr.contains("Read-only file system"),
        "the error says the store is on a read-only file system: {stderr}"
    );
    assert!(
        !stderr.contains("move it aside"),
        "a healthy store is never called corrupt: {stderr}"
    );
    assert_eq!(snapshot(&ws.path().join("disk")), before, "nothing changed");

    pull_items(&ws, &[]);
    let store = stored(&export(&ws, "items", &[]));
    assert_eq!(store.live, fake.ground_truth());
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = if path.is_file() {
                std::fs::read(&path).unwrap()
            } else {
                Vec::new()
            };
            (path.display().to_string(), bytes)
        })
        .collect();
    files.sort();
    files
}
