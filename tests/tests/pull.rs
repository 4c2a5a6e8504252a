//! End-to-end pulls: the real `synchost` binary runs the real
//! `example-items.wasm` against a `synchost-fake items` started by each test,
//! and the store (read back with `synchost export`) is compared with the
//! fake's ground truth (`/_control/items`).
//!
//! Every test has its own fake and workspace, so they run in parallel.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};
use support::{
    assert_success, events_of, export, items_config, json_output, kill9, plugin_path, pull_items,
    sigint, stored, str_field, u64_field, wait_exit, FakeServer, SpawnedPull, Synchost, Workspace,
    TOKEN_VAR,
};

/// Generous limit for "the run gets somewhere" on a loaded machine.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(180);

/// The fake's counters as `(requests, list_requests, item_requests)`.
fn counters(fake: &FakeServer) -> (u64, u64, u64) {
    let s = fake.stats();
    (
        u64_field(&s, "requests"),
        u64_field(&s, "list_requests"),
        u64_field(&s, "item_requests"),
    )
}

/// Ids of a `/_control/mutate` answer's list `key`.
fn mutated(answer: &Value, key: &str) -> BTreeSet<String> {
    answer[key]
        .as_array()
        .unwrap_or_else(|| panic!("mutate answer without `{key}`: {answer}"))
        .iter()
        .map(|id| id.as_str().expect("string id").to_owned())
        .collect()
}

/// The `done` of the last page event in `--json` output (0 if none).
fn last_done(events: &[Value]) -> u64 {
    events_of(events, "page")
        .last()
        .map_or(0, |page| u64_field(page, "done"))
}

/// The single `stream_started` event of a run.
fn stream_started(events: &[Value]) -> &Value {
    let started = events_of(events, "stream_started");
    assert_eq!(started.len(), 1, "one stream, one start: {events:?}");
    started[0]
}

/// A first pull stores every item exactly once, with its version, title and
/// content, through the ad-hoc form (`--plugin`, `--set`, `--auth-bearer-env`),
/// fetching each item once; nothing is marked deleted.
#[test]
fn full_pull_stores_exactly_the_ground_truth() {
    let fake = FakeServer::start(
        "items",
        &["--count", "250", "--seed", "1", "--token", "s3cret"],
    );
    let ws = Workspace::new();
    let plugin = plugin_path("example-items");
    let out = Synchost::new(&ws)
        .args(["pull", "--plugin"])
        .arg(&plugin)
        .arg("--set")
        .arg(format!("base_url={}", fake.url()))
        .args(["--auth-bearer-env", TOKEN_VAR])
        .env(TOKEN_VAR, "s3cret")
        .output();
    assert_success(&out);

    let truth = fake.ground_truth();
    assert_eq!(truth.len(), 250);
    // Each item fetched once; 250 items are 3 pages of the default 100.
    let (_, lists, items) = counters(&fake);
    assert_eq!(items, 250, "each item is fetched exactly once");
    assert_eq!(lists, 3, "250 items in pages of 100");

    let records = export(&ws, "example-items", &[]);
    let store = stored(&records);
    assert_eq!(store.live, truth, "the store is the ground truth");
    assert!(store.deleted.is_empty(), "nothing is deleted");
    for r in &records {
        assert!(!str_field(r, "title").is_empty(), "empty title: {r}");
        assert!(!str_field(r, "content").is_empty(), "empty content: {r}");
    }
    // Titles and contents are the remote's, byte for byte.
    let auth = [("authorization", "Bearer s3cret")];
    for id in ["item-000001", "item-000123", "item-000250"] {
        let remote = fake.get(&format!("/items/{id}"), &auth);
        let remote = remote.expect_status(200).json();
        let local = records
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("{id} not exported"));
        assert_eq!(local["title"], remote["title"], "title of {id}");
        assert_eq!(local["content"], remote["content"], "content of {id}");
        assert_eq!(local["version"], remote["version"], "version of {id}");
    }
}

/// A delta pull after changes fetches only the updated and created items
/// (unchanged ones cost no request), lists only the changes, and leaves the
/// store equal to the ground truth, with the deleted items as tombstones.
#[test]
fn delta_pull_fetches_only_what_changed() {
    let fake = FakeServer::start("items", &["--count", "500", "--seed", "2"]);
    let ws = Workspace::new();
    items_config(&ws, &fake, "");
    pull_items(&ws, &[]);
    assert_eq!(stored(&export(&ws, "items", &[])).live, fake.ground_truth());

    fake.reset_stats();
    let changes = fake.mutate(7, 4, 5);
    let (updated, deleted, created) = (
        mutated(&changes, "updated"),
        mutated(&changes, "deleted"),
        mutated(&changes, "created"),
    );
    assert_eq!((updated.len(), deleted.len(), created.len()), (7, 4, 5));

    let events = pull_items(&ws, &[]);
    let (_, lists, items) = counters(&fake);
    assert_eq!(
        items, 12,
        "only the 7 updated and 5 created items are fetched"
    );
    assert!(
        lists <= 2,
        "a delta of 16 changes needs one page, not a full listing: {lists} list requests"
    );
    assert_eq!(
        stream_started(&events)["full"],
        false,
        "the second pull is a delta"
    );

    let store = stored(&export(&ws, "items", &[]));
    assert_eq!(
        store.live,
        fake.ground_truth(),
        "live records = ground truth"
    );
    assert_eq!(
        store.deleted, deleted,
        "exactly the deleted items are tombstones"
    );
}

/// `--full` lists everything and marks as deleted what the remote no longer
/// has, even when no delta ever reported the deletion; unchanged items are
/// skipped without a request.
#[test]
fn full_flag_tombstones_what_disappeared() {
    let fake = FakeServer::start("items", &["--count", "300", "--seed", "3"]);
    let ws = Workspace::new();
    items_config(&ws, &fake, "");
    pull_items(&ws, &[]);

    let changes = fake.mutate(3, 5, 0);
    let deleted = mutated(&changes, "deleted");
    fake.reset_stats();
    let events = pull_items(&ws, &["--full"]);
    assert_eq!(
        stream_started(&events)["full"],
        true,
        "--full lists everything"
    );

    let (_, lists, items) = counters(&fake);
    assert_eq!(items, 3, "only the 3 updated items are fetched");
    assert_eq!(lists, 3, "295 live items in pages of 100");
    let store = stored(&export(&ws, "items", &[]));
    assert_eq!(
        store.live,
        fake.ground_truth(),
        "live records = ground truth"
    );
    assert_eq!(
        store.deleted, deleted,
        "exactly the vanished items are tombstones"
    );
}

/// The end of a pull stopped by `how` after committing `done` of `count`
/// items: `status` shows it unfinished, and the rerun (without latency)
/// resumes, fetches none of what was committed, and leaves exactly the
/// ground truth. Returns the rerun's request count.
#[track_caller]
fn assert_rerun_resumes(
    ws: &Workspace,
    fake: &FakeServer,
    count: u64,
    done: u64,
    how: &str,
) -> u64 {
    let status = assert_success(&Synchost::run(ws, &["status", "items"]));
    assert!(
        status.contains("unfinished"),
        "status after {how}:\n{status}"
    );
    fake.set_faults(json!({ "latency_ms": 0 }));
    fake.reset_stats();
    let events = pull_items(ws, &[]);
    assert_eq!(
        stream_started(&events)["resumed"],
        true,
        "the rerun resumes"
    );
    let (rerun_requests, _, rerun_items) = counters(fake);
    assert!(
        rerun_items <= count - done,
        "the rerun fetched {rerun_items} items although {done} were committed"
    );
    let store = stored(&export(ws, "items", &[]));
    assert_eq!(
        store.live,
        fake.ground_truth(),
        "after the rerun the store is the ground truth"
    );
    assert!(store.deleted.is_empty(), "nothing is deleted");
    rerun_requests
}

/// `kill -9` in the middle of a pull loses at most the page in flight: the
/// rerun resumes from the checkpoint, ends with exactly the ground truth (no
/// duplicates) and sends fewer requests than a pull from scratch.
#[test]
fn kill_9_mid_pull_then_rerun_resumes() {
    const COUNT: u64 = 2000;
    // 20 pages; at 20 ms per request a pull takes seconds, far longer than
    // the moment between seeing a committed page and the kill.
    let fake = FakeServer::start(
        "items",
        &["--count", "2000", "--seed", "4", "--latency-ms", "20"],
    );
    let ws = Workspace::new();
    items_config(&ws, &fake, "");

    let mut pull = SpawnedPull::until_pages(&ws, &["pull", "items", "--json"], 2, PROGRESS_TIMEOUT);
    kill9(&mut pull.child);

    // The kill landed mid-run: no summary, an incomplete store, no duplicates.
    let events = pull.events();
    assert!(
        events_of(&events, "summary").is_empty(),
        "the run finished before the kill: {events:?}"
    );
    let done_before_kill = last_done(&events);
    let partial = stored(&export(&ws, "items", &[]));
    assert!(
        (done_before_kill as usize..COUNT as usize).contains(&partial.live.len()),
        "{} records stored after {done_before_kill} were reported committed",
        partial.live.len()
    );
    let truth = fake.ground_truth();
    for record in &partial.live {
        assert!(
            truth.contains(record),
            "stored {record:?} is not in the ground truth"
        );
    }
    let rerun_requests = assert_rerun_resumes(&ws, &fake, COUNT, done_before_kill, "the kill");

    // The same pull from scratch, for comparison.
    let fresh = Workspace::new();
    items_config(&fresh, &fake, "");
    fake.reset_stats();
    pull_items(&fresh, &[]);
    let (full_requests, _, _) = counters(&fake);
    assert!(
        rerun_requests < full_requests,
        "the rerun sent {rerun_requests} requests, a pull from scratch {full_requests}"
    );
}

/// Ctrl+C (SIGINT) stops the pull with exit code 130, says how to resume and
/// keeps the checkpoint; running the same command again completes the pull
/// without fetching again what was committed.
#[test]
fn sigint_exits_130_and_rerun_completes() {
    const COUNT: u64 = 1500;
    let fake = FakeServer::start(
        "items",
        &["--count", "1500", "--seed", "5", "--latency-ms", "20"],
    );
    let ws = Workspace::new();
    items_config(&ws, &fake, "");

    let mut pull = SpawnedPull::until_pages(&ws, &["pull", "items", "--json"], 1, PROGRESS_TIMEOUT);
    sigint(&pull.child);
    let status = wait_exit(&ws, &mut pull.child, PROGRESS_TIMEOUT);
    let (_, stderr) = ws.last_spawn_logs();
    assert_eq!(
        status.code(),
        Some(130),
        "exit after SIGINT; stderr:\n{stderr}"
    );
    assert!(
        stderr.to_lowercase().contains("resume"),
        "stderr says how to resume:\n{stderr}"
    );

    let events = pull.events();
    let done_before_interrupt = last_done(&events);
    assert!(
        done_before_interrupt < COUNT,
        "interrupted mid-run: {events:?}"
    );
    assert_rerun_resumes(&ws, &fake, COUNT, done_before_interrupt, "Ctrl+C");
}

/// 20% of requests failing with 5xx, plus 429 bursts from a rate limit, still
/// give exactly the ground truth: the host retries and waits as told.
#[test]
fn server_errors_and_rate_limits_still_give_the_ground_truth() {
    let fake = FakeServer::start(
        "items",
        &[
            "--count",
            "300",
            "--seed",
            "6",
            "--fail-rate",
            "0.2",
            "--rate-limit",
            "50",
        ],
    );
    let ws = Workspace::new();
    items_config(
        &ws,
        &fake,
        "[sources.items.retry]\nbase_delay_ms = 10\nmax_delay_ms = 200\n",
    );
    pull_items(&ws, &[]);

    // The faults did happen.
    let stats = fake.stats();
    let by_status = &stats["by_status"];
    let count = |code: &str| by_status[code].as_u64().unwrap_or(0);
    assert!(count("429") > 0, "no 429 was served: {stats}");
    assert!(
        count("500") + count("502") + count("503") > 0,
        "no 5xx was served: {stats}"
    );

    let store = stored(&export(&ws, "items", &[]));
    assert_eq!(
        store.live,
        fake.ground_truth(),
        "the store is the ground truth"
    );
    assert!(store.deleted.is_empty(), "nothing is deleted");
}

/// After a pull, `synchost status` shows the source's record count and a
/// complete state, and `synchost runs` shows the run with its outcome and
/// counts.
#[test]
fn status_and_runs_report_the_pull() {
    let fake = FakeServer::start("items", &["--count", "137", "--seed", "7"]);
    let ws = Workspace::new();
    items_config(&ws, &fake, "");
    pull_items(&ws, &[]);

    let text = assert_success(&Synchost::run(&ws, &["status"]));
    let row = text
        .lines()
        .find(|line| line.starts_with("items"))
        .unwrap_or_else(|| panic!("no `items` row in status:\n{text}"));
    assert!(
        row.split_whitespace().any(|cell| cell == "137"),
        "status row shows 137 records: {row}"
    );
    assert!(!row.contains("unfinished"), "the pull is complete: {row}");
    let json: Value = json_output(&ws, &["status", "--json"]);
    let streams = json.as_array().expect("status --json is an array");
    assert_eq!(streams.len(), 1, "one source, one stream: {json}");
    assert_eq!(streams[0]["source"], "items");
    assert_eq!(u64_field(&streams[0], "records"), 137);

    let text = assert_success(&Synchost::run(&ws, &["runs"]));
    assert!(
        text.lines()
            .any(|line| line.contains("items") && line.contains("succeeded")),
        "runs lists the successful run:\n{text}"
    );
    let json: Value = json_output(&ws, &["runs", "--json"]);
    let runs = json.as_array().expect("runs --json is an array");
    assert_eq!(runs.len(), 1, "one pull, one run: {json}");
    assert_eq!(runs[0]["source"], "items");
    assert_eq!(runs[0]["outcome"], "succeeded");
    assert_eq!(u64_field(&runs[0], "written"), 137);
    assert_eq!(u64_field(&runs[0], "failed"), 0);
}

/// The audit trail counts what an interrupted run did: the pages it
/// committed before Ctrl+C are in its `written` count.
#[test]
fn runs_count_what_an_interrupted_run_wrote() {
    let fake = FakeServer::start(
        "items",
        &["--count", "1500", "--seed", "8", "--latency-ms", "20"],
    );
    let ws = Workspace::new();
    items_config(&ws, &fake, "");

    let mut pull = SpawnedPull::until_pages(&ws, &["pull", "items", "--json"], 2, PROGRESS_TIMEOUT);
    sigint(&pull.child);
    let status = wait_exit(&ws, &mut pull.child, PROGRESS_TIMEOUT);
    assert_eq!(status.code(), Some(130));
    let committed = last_done(&pull.events());
    assert!(committed >= 200, "two pages were committed");

    let json: Value = json_output(&ws, &["runs", "--json"]);
    let run = &json[0];
    assert_eq!(run["outcome"], "interrupted", "{json}");
    assert!(
        u64_field(run, "written") >= committed,
        "the interrupted run committed {committed} records but is recorded as {run}"
    );
}
