//! `synchost watch`: scheduled pulls that keep a store current, survive a
//! remote that is down, and stop cleanly on SIGTERM (exit 0) or Ctrl+C
//! (exit 130, checkpoint kept).

mod support;

use std::fs;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use support::{
    export, items_config, json_lines, sigint, stored, u64_field, wait_exit, wait_while_running,
    FakeServer, SpawnedPull, Synchost, Workspace,
};

/// Generous limit for "the watch gets somewhere" on a loaded machine.
const TIMEOUT: Duration = Duration::from_secs(120);

/// The `watch_run` events printed so far by the workspace's first spawn.
fn runs(ws: &Workspace) -> Vec<Value> {
    let (stdout, _) = ws.spawn_log_paths(0);
    json_lines(&fs::read_to_string(stdout).unwrap_or_default())
        .into_iter()
        .filter(|event| event["event"] == "watch_run")
        .collect()
}

/// The outcome of the only source (`items`) in a `watch_run` event.
fn outcome(run: &Value) -> &str {
    run["sources"][0]["outcome"].as_str().unwrap_or_default()
}

fn sigterm(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

/// A watch every second keeps the store equal to the fake across changes;
/// while the fake answers only 500s, runs fail, one line each, with the
/// failure count growing, and the watch keeps going; once the fake is back,
/// the next run succeeds and the store catches up; SIGTERM then ends it with
/// exit 0 and a final line saying it stops.
#[test]
fn watch_keeps_current_survives_a_down_remote_and_stops_on_sigterm() {
    let fake = FakeServer::start("items", &["--count", "40", "--seed", "3"]);
    let ws = Workspace::new();
    items_config(
        &ws,
        &fake,
        "[sources.items.retry]\nmax_retries = 0\nbase_delay_ms = 10\n",
    );
    let mut child = Synchost::spawn(
        &ws,
        &[
            "watch",
            "--every",
            "1s",
            "--max-backoff",
            "2s",
            "--jitter-percent",
            "0",
            "--json",
        ],
    );
    wait_while_running(&ws, &mut child, "a first run", TIMEOUT, || {
        !runs(&ws).is_empty()
    });
    assert_eq!(outcome(&runs(&ws)[0]), "succeeded", "{:?}", runs(&ws));
    assert_eq!(stored(&export(&ws, "items", &[])).live, fake.ground_truth());

    fake.mutate(5, 3, 4);
    let before = runs(&ws).len();
    wait_while_running(&ws, &mut child, "a run with the changes", TIMEOUT, || {
        runs(&ws)
            .iter()
            .skip(before)
            .any(|run| u64_field(&run["sources"][0], "written") > 0)
    });
    assert_eq!(stored(&export(&ws, "items", &[])).live, fake.ground_truth());

    fake.set_faults(json!({"fail_rate": 1.0}));
    let before = runs(&ws).len();
    wait_while_running(&ws, &mut child, "two failed runs", TIMEOUT, || {
        runs(&ws)
            .iter()
            .skip(before)
            .filter(|run| outcome(run) == "failed")
            .count()
            >= 2
    });
    let failed: Vec<Value> = runs(&ws)
        .into_iter()
        .skip(before)
        .filter(|run| outcome(run) == "failed")
        .collect();
    assert_eq!(u64_field(&failed[0]["sources"][0], "failures"), 1);
    assert_eq!(u64_field(&failed[1]["sources"][0], "failures"), 2);

    fake.set_faults(json!({"fail_rate": 0.0}));
    fake.mutate(2, 0, 1);
    let before = runs(&ws).len();
    wait_while_running(&ws, &mut child, "a run after the outage", TIMEOUT, || {
        runs(&ws)
            .iter()
            .skip(before)
            .any(|run| outcome(run) == "succeeded")
    });
    assert_eq!(stored(&export(&ws, "items", &[])).live, fake.ground_truth());

    sigterm(child.id());
    let status = wait_exit(&ws, &mut child, TIMEOUT);
    assert_eq!(status.code(), Some(0), "SIGTERM is a normal stop");
}

/// Ctrl+C during a long run stops it as `pull` stops: exit 130, what was
/// committed stays, and the next pull resumes from the checkpoint instead
/// of starting over.
#[test]
fn ctrl_c_mid_run_exits_130_and_keeps_the_checkpoint() {
    let fake = FakeServer::start(
        "items",
        &["--count", "3000", "--seed", "4", "--latency-ms", "2"],
    );
    let ws = Workspace::new();
    items_config(&ws, &fake, "");
    let mut watch =
        SpawnedPull::until_pages(&ws, &["watch", "--every", "1h", "--json"], 2, TIMEOUT);
    sigint(&watch.child);
    let status = wait_exit(&ws, &mut watch.child, TIMEOUT);
    assert_eq!(status.code(), Some(130), "Ctrl+C exits 130");

    let out = Synchost::new(&ws)
        .args(["pull", "items", "--json"])
        .output();
    let stdout = support::assert_success(&out);
    let started = json_lines(&stdout)
        .into_iter()
        .find(|event| event["event"] == "stream_started")
        .expect("a stream_started event");
    assert_eq!(started["resumed"], true, "the pull resumes: {started}");
    assert!(u64_field(&started, "done") >= 200, "{started}");
    assert_eq!(stored(&export(&ws, "items", &[])).live, fake.ground_truth());
}

/// A watch needs a schedule it can keep: bad intervals are usage errors.
#[test]
fn bad_intervals_are_refused() {
    let ws = Workspace::new();
    for every in ["0s", "soon", "500ms"] {
        let out = Synchost::new(&ws)
            .args(["watch", "--every", every])
            .output();
        let stderr = support::assert_exit_code(&out, 2);
        assert!(stderr.contains("--every"), "{every}: {stderr}");
    }
}
