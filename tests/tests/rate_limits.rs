//! Rate limits and conditional requests, end to end: the real `synchost`
//! with the example plugin (or the hostile test plugin's conditional
//! requests) against `synchost-fake items` imitating GitHub's limits
//! (`github_budget`, `github_secondary`, `github_forbidden` in
//! `tests/src/fake/common.rs`; contracts §2.8). The host waits out what is a
//! rate limit, shows every wait with its reason and end, stops at once on
//! Ctrl+C during one, fails a plain 403 as a permission error, and counts
//! 304 answers in `runs`.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{
    assert_exit_code, events_of, export, hostile_source, items_config, json_lines, json_output,
    output_text, sigint, stored, str_field, u64_field, wait_exit, wait_for, FakeServer, Synchost,
    Workspace,
};

/// Fast retries, so the tests spend their time on the limits.
const QUICK_RETRIES: &str = "[sources.items.retry]\nbase_delay_ms = 10\nmax_delay_ms = 100\n";

/// `synchost pull items --json` against `fake`: its exit code and events.
fn pull(ws: &Workspace) -> (Option<i32>, Vec<Value>, String) {
    let out = Synchost::run(ws, &["pull", "items", "--json"]);
    let (stdout, stderr) = output_text(&out);
    (out.status.code(), json_lines(&stdout), stderr)
}

fn status_count(fake: &FakeServer, status: u16) -> u64 {
    fake.stats()["by_status"][status.to_string()]
        .as_u64()
        .unwrap_or(0)
}

/// Spends what is left of the fake's GitHub budget.
fn spend_budget(fake: &FakeServer) {
    loop {
        let resp = fake.get("/items?limit=1", &[]);
        if resp.status == 403 {
            assert_eq!(resp.header("x-ratelimit-remaining"), Some("0"));
            return;
        }
    }
}

/// The `wait` events with `reason`.
fn waits<'a>(events: &'a [Value], reason: &str) -> Vec<&'a Value> {
    events_of(events, "wait")
        .into_iter()
        .filter(|e| e["reason"] == reason)
        .collect()
}

/// The budget is spent when the pull starts: the first answer is GitHub's
/// 403 with remaining 0, the host waits until `x-ratelimit-reset`, says so,
/// and completes with nothing failed. Later windows run low mid-pull too:
/// then the host paces or waits again, never failing a request.
#[test]
fn a_spent_budget_waits_until_its_reset_and_the_pull_completes() {
    let fake = FakeServer::start("items", &["--count", "250", "--seed", "5"]);
    fake.set_faults(json!({"github_budget": {"limit": 120, "window_s": 3}}));
    spend_budget(&fake);
    fake.reset_stats();
    let ws = Workspace::new();
    items_config(&ws, &fake, QUICK_RETRIES);
    let (code, events, stderr) = pull(&ws);
    assert_eq!(code, Some(0), "{stderr}");
    let primary = waits(&events, "primary");
    assert!(!primary.is_empty(), "no primary wait shown: {events:?}");
    let wait = primary[0];
    assert!(u64_field(wait, "wait_ms") >= 1000, "{wait}");
    assert!(str_field(wait, "until").ends_with('Z'), "{wait}");
    assert!(status_count(&fake, 403) >= 1, "{}", fake.stats());
    // 250 fetches and 3 listings need three windows of 120.
    assert!(u64_field(&fake.stats(), "requests") > 240);
    let summary = &events_of(&events, "summary")[0]["summary"];
    assert_eq!(summary["counts"]["failed"], 0, "{summary}");
    let store = stored(&export(&ws, "items", &[]));
    assert_eq!(store.live, fake.ground_truth());
}

/// GitHub's secondary limit without `retry-after` asks for at least a
/// minute; clamped here by `retry.max_wait_s`, the wait is shown as such and
/// the pull completes. One with `retry-after` waits that long.
#[test]
fn a_secondary_limit_is_waited_out() {
    for retry_after in [None, Some(1)] {
        let fake = FakeServer::start("items", &["--count", "30", "--seed", "6"]);
        fake.set_faults(json!({
            "github_secondary": {"after": 3, "times": 2, "retry_after": retry_after}
        }));
        let ws = Workspace::new();
        items_config(&ws, &fake, &format!("{QUICK_RETRIES}max_wait_s = 2\n"));
        let (code, events, stderr) = pull(&ws);
        assert_eq!(code, Some(0), "{retry_after:?}: {stderr}");
        assert_eq!(status_count(&fake, 403), 2, "{}", fake.stats());
        let shown = waits(&events, "secondary");
        assert!(!shown.is_empty(), "{retry_after:?}: {events:?}");
        // Without retry-after GitHub asks for a minute: clamped to 2 s.
        assert_eq!(shown[0]["clamped"], retry_after.is_none(), "{}", shown[0]);
        let store = stored(&export(&ws, "items", &[]));
        assert_eq!(store.live, fake.ground_truth());
    }
}

/// A 403 without `x-ratelimit-remaining: 0`, `retry-after` or the
/// secondary-limit message is a permission error: never retried, the run
/// fails as an auth error (exit 3).
#[test]
fn a_plain_403_fails_as_a_permission_error() {
    let fake = FakeServer::start("items", &["--count", "10"]);
    fake.set_faults(json!({"github_forbidden": true}));
    let ws = Workspace::new();
    items_config(&ws, &fake, QUICK_RETRIES);
    let out = Synchost::run(&ws, &["pull", "items"]);
    let stderr = assert_exit_code(&out, 3);
    assert!(
        stderr.contains("Resource not accessible by integration"),
        "{stderr}"
    );
    assert_eq!(fake.requests(), 1, "a permission error is not retried");
    let runs = json_output(&ws, &["runs", "--json"]);
    assert_eq!(runs[0]["outcome"], "auth_failed", "{runs}");
}

/// Ctrl+C while every request waits for a reset an hour away (clamped to
/// the default `retry.max_wait_s` of 300 s): the pull exits 130 at once,
/// not when the wait ends; the wait was shown first.
#[test]
fn ctrl_c_during_a_long_wait_exits_130_at_once() {
    let fake = FakeServer::start("items", &["--count", "50"]);
    fake.set_faults(json!({"github_budget": {"limit": 5, "window_s": 3600}}));
    spend_budget(&fake);
    let ws = Workspace::new();
    items_config(&ws, &fake, "");
    let mut child = Synchost::spawn(&ws, &["pull", "items", "--json"]);
    let (events_path, _) = ws.spawn_log_paths(0);
    wait_for("the wait to be shown", Duration::from_secs(60), || {
        let text = std::fs::read_to_string(&events_path).unwrap_or_default();
        !waits(&json_lines(&text), "primary").is_empty()
    });
    let text = std::fs::read_to_string(&events_path).unwrap();
    let events = json_lines(&text);
    let wait = waits(&events, "primary")[0];
    assert!(u64_field(wait, "wait_ms") >= 290_000, "{wait}");
    assert_eq!(wait["clamped"], true, "{wait}");
    sigint(&child);
    // Far less than the 300 s wait: Ctrl+C ended it.
    let status = wait_exit(&ws, &mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(130));
    let runs = json_output(&ws, &["runs", "--json"]);
    assert_eq!(runs[0]["outcome"], "interrupted", "{runs}");
}

/// A plugin's conditional request (`If-None-Match` with the current ETag)
/// passes through to the remote; its 304 is returned, not retried, and
/// counted: in the pull's summary, in `runs` (table and JSON).
#[test]
fn not_modified_answers_are_counted_in_runs() {
    let fake = FakeServer::start("items", &["--count", "3"]);
    let etag = fake
        .get("/items/item-000001", &[])
        .header("etag")
        .expect("an ETag")
        .to_string();
    let item = format!("{}/items/item-000001", fake.url());
    // No item, no ETag: a 404 for the plugin.
    let other = format!("{}/items/item-999999", fake.url());
    let ws = Workspace::new();
    ws.write_config(&hostile_source(
        "conditional-urls",
        fake.url(),
        &format!(
            "urls = {}\netag = {}",
            support::toml_str(&format!("{item} {item} {other}")),
            support::toml_str(&etag)
        ),
    ));
    fake.reset_stats();
    let out = Synchost::run(&ws, &["pull", "hostile", "--json"]);
    let (stdout, stderr) = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(status_count(&fake, 304), 2, "{}", fake.stats());
    assert_eq!(fake.requests(), 3, "a 304 is not retried");
    let events = json_lines(&stdout);
    assert_eq!(
        events_of(&events, "summary")[0]["summary"]["not_modified"],
        2
    );
    let runs = json_output(&ws, &["runs", "--json"]);
    assert_eq!(runs[0]["not_modified"], 2, "{runs}");
    let table = support::assert_success(&Synchost::run(&ws, &["runs"]));
    let header = table.lines().next().unwrap();
    let row = table.lines().nth(1).unwrap();
    let column = header.split_whitespace().position(|c| c == "304").unwrap();
    // Cells before it have no spaces (the STARTED time is one word).
    assert_eq!(row.split_whitespace().nth(column), Some("2"), "{table}");
}

/// Ctrl+C while the host waits as a plugin asked (`rate-limited`, clamped
/// to the default 300 s): exit 130 at once too, the wait said with its end.
#[test]
fn ctrl_c_during_a_wait_the_plugin_asked_for_exits_130_at_once() {
    let fake = FakeServer::start("items", &["--count", "1"]);
    let ws = Workspace::new();
    ws.write_config(&hostile_source("rate-limited-forever", fake.url(), ""));
    let mut child = Synchost::spawn(&ws, &["pull", "hostile", "--json"]);
    let (events_path, _) = ws.spawn_log_paths(0);
    let said = |events: &[Value]| {
        events_of(events, "note")
            .into_iter()
            .any(|note| str_field(note, "message").contains("waiting 5m 0s, until "))
    };
    wait_for("the wait to be said", Duration::from_secs(60), || {
        said(&json_lines(
            &std::fs::read_to_string(&events_path).unwrap_or_default(),
        ))
    });
    sigint(&child);
    let status = wait_exit(&ws, &mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(130));
}
