//! Diagnostics (issue 13): what the host says when a plugin or its settings
//! go wrong. A crash shows the plugin's last stderr lines in its error; a
//! `fetch` that disagrees with its listing on versions is warned about once;
//! a resumed enumeration keeps its page size; settings are checked against
//! the manifest before `configure`; ad-hoc sources take the manifest's name;
//! an unknown source is answered with the ones the store has.
//!
//! Each test runs the real `synchost` binary with the hostile test plugin
//! (attacks `panic-in-list`, `version-drift` and `page-numbers`) or the example plugin,
//! against its own `synchost-fake items`.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{
    assert_exit_code, assert_success, events_of, export, hostile_source, items_config, json_lines,
    output_text, plugin_path, sigint, stored, u64_field, wait_exit, FakeServer, SpawnedPull,
    Synchost, Workspace,
};

/// Generous limit for "the run gets somewhere" on a loaded machine.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(180);

/// A panic in `list` fails the run (exit 1) with the panic's message, file
/// and line in the error itself, without `-v`: the last lines (at most 20)
/// of what the call wrote to stderr, escaped, the credential redacted.
#[test]
fn a_panic_shows_its_last_stderr_lines_in_the_error() {
    const SECRET: &str = "diag-secret-7c1e55d0a9";
    let fake = FakeServer::start("items", &["--count", "3"]);
    let ws = Workspace::new();
    ws.write_config(&format!(
        "{}\n[sources.hostile.auth]\ntype = \"bearer\"\ntoken_env = \"DIAG_TOKEN\"\n",
        hostile_source(
            "panic-in-list",
            fake.url(),
            &format!("said = \"the token is {SECRET}\\u001b[2J\""),
        )
    ));
    let out = Synchost::new(&ws)
        .args(["pull", "hostile"])
        .env("DIAG_TOKEN", SECRET)
        .output();
    let stderr = assert_exit_code(&out, 1);
    assert!(
        stderr.contains("crashed in `list`"),
        "the trap is reported:\n{stderr}"
    );
    assert!(
        stderr.contains("| hostile: the known panic message"),
        "the panic message is in the error:\n{stderr}"
    );
    assert!(
        stderr.contains("panicked at") && stderr.contains("src/runtime.rs:"),
        "the panic's file and line are in the error:\n{stderr}"
    );
    assert!(
        stderr.contains("| noise 40") && !stderr.contains("| noise 10\n"),
        "only the last lines are kept:\n{stderr}"
    );
    let shown = stderr.lines().filter(|l| l.starts_with("  | ")).count();
    assert!(shown <= 20, "{shown} stderr lines shown:\n{stderr}");
    assert!(
        !stderr.contains(SECRET) && stderr.contains("the token is [REDACTED]"),
        "the credential is redacted:\n{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}') && stderr.contains("\\u{1b}[2J"),
        "the plugin's escape sequence is escaped:\n{stderr}"
    );
}

/// A plugin whose `fetch` returns another version than its listing gets one
/// warning per stream (naming it and one such record), not one per record.
#[test]
fn fetched_versions_that_differ_from_the_listing_are_warned_once() {
    let fake = FakeServer::start("items", &["--count", "3"]);
    let ws = Workspace::new();
    ws.write_config(&hostile_source("version-drift", fake.url(), ""));
    for run in 1..=2 {
        let out = Synchost::run(&ws, &["pull", "hostile"]);
        assert_success(&out);
        let (_, stderr) = output_text(&out);
        let warnings: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("returned other versions than the listing"))
            .collect();
        assert_eq!(warnings.len(), 1, "run {run}: one warning:\n{stderr}");
        assert!(
            warnings[0].contains("stream `items`")
                && warnings[0].contains("e.g. `drift-1`: listed `1`, fetched `2`"),
            "run {run}: the warning names the stream and a record:\n{stderr}"
        );
    }
    let store = stored(&export(&ws, "hostile", &[]));
    assert_eq!(store.live.len(), 3, "every record is stored");
}

/// An enumeration interrupted at page size 50 and resumed with
/// `--page-size 10` continues at 50 and says so: a page-number API's cursor
/// means another position at another size. The store ends as the fake's
/// ground truth, listed in pages of 50.
#[test]
fn a_resumed_enumeration_keeps_its_page_size() {
    const COUNT: u64 = 1000;
    let fake = FakeServer::start(
        "items",
        &["--count", "1000", "--seed", "13", "--latency-ms", "20"],
    );
    let ws = Workspace::new();
    items_config(&ws, &fake, "");
    let first = ["pull", "items", "--json", "--page-size", "50"];
    let mut pull = SpawnedPull::until_pages(&ws, &first, 2, PROGRESS_TIMEOUT);
    sigint(&pull.child);
    let status = wait_exit(&ws, &mut pull.child, PROGRESS_TIMEOUT);
    assert_eq!(status.code(), Some(130), "interrupted");

    fake.set_faults(json!({ "latency_ms": 0 }));
    fake.reset_stats();
    let out = Synchost::run(&ws, &["pull", "items", "--json", "--page-size", "10"]);
    let stdout = assert_success(&out);
    let (_, stderr) = output_text(&out);
    let said = format!("{stdout}\n{stderr}");
    assert!(
        said.contains(
            "items/items: the unfinished enumeration continues at page size 50, the size it \
             started with; page size 10 applies from the next enumeration"
        ),
        "the rerun says it keeps the page size:\n{said}"
    );
    let events = json_lines(&stdout);
    let started = events_of(&events, "stream_started");
    assert_eq!(started[0]["resumed"], true, "the rerun resumes: {events:?}");
    let lists = u64_field(&fake.stats(), "list_requests");
    assert!(
        lists <= COUNT / 50,
        "{lists} listings for at most {COUNT} items: pages of 50, not of 10"
    );
    let store = stored(&export(&ws, "items", &[]));
    assert_eq!(store.live, fake.ground_truth(), "the store is the truth");
    assert!(store.deleted.is_empty(), "nothing is deleted");

    // The next enumeration takes the new size.
    fake.reset_stats();
    let events = json_lines(&assert_success(&Synchost::run(
        &ws,
        &["pull", "items", "--json", "--full", "--page-size", "500"],
    )));
    assert_eq!(events_of(&events, "stream_started")[0]["resumed"], false);
    assert_eq!(
        u64_field(&fake.stats(), "list_requests"),
        2,
        "1000 in pages of 500"
    );
}

/// A page-number API interrupted at page size 10 and resumed with
/// `--page-size 50`: its cursor "page 3" would mean items 150 to 199 at the
/// new size, skipping 30 to 149. The enumeration continues at 10, so
/// nothing is skipped.
#[test]
fn a_page_number_listing_resumed_at_another_size_skips_nothing() {
    let fake = FakeServer::start(
        "items",
        &["--count", "300", "--seed", "14", "--latency-ms", "20"],
    );
    let ws = Workspace::new();
    ws.write_config(&hostile_source("page-numbers", fake.url(), ""));
    let first = ["pull", "hostile", "--json", "--page-size", "10"];
    let mut pull = SpawnedPull::until_pages(&ws, &first, 3, PROGRESS_TIMEOUT);
    sigint(&pull.child);
    let status = wait_exit(&ws, &mut pull.child, PROGRESS_TIMEOUT);
    assert_eq!(status.code(), Some(130), "interrupted");
    let partial = stored(&export(&ws, "hostile", &[]));
    assert!(
        partial.live.len() < 300,
        "interrupted before the end: {} stored",
        partial.live.len()
    );

    fake.set_faults(json!({ "latency_ms": 0 }));
    let out = Synchost::run(&ws, &["pull", "hostile", "--page-size", "50"]);
    assert_success(&out);
    let (_, stderr) = output_text(&out);
    assert!(
        stderr.contains("the unfinished enumeration continues at page size 10"),
        "{stderr}"
    );
    let store = stored(&export(&ws, "hostile", &[]));
    assert_eq!(store.live, fake.ground_truth(), "nothing is skipped");
}

/// `synchost pull --plugin FILE --set ...` in `ws`.
fn ad_hoc(ws: &Workspace, plugin: &std::path::Path, sets: &[String]) -> std::process::Output {
    let mut command = Synchost::new(ws).args(["pull", "--plugin"]).arg(plugin);
    for set in sets {
        command = command.arg("--set").arg(set);
    }
    command.output()
}

/// An ad-hoc source is named by its manifest (`example-items`), not by its
/// file (`todo_plugin`), so `export example-items` finds it; asking for the
/// file's name lists the sources the store has.
#[test]
fn ad_hoc_sources_take_the_manifest_name() {
    let fake = FakeServer::start("items", &["--count", "20"]);
    let ws = Workspace::new();
    let copy = ws.path().join("todo_plugin.wasm");
    std::fs::copy(plugin_path("example-items"), &copy).expect("copy the plugin");
    let out = ad_hoc(&ws, &copy, &[format!("base_url={}", fake.url())]);
    assert_success(&out);
    let store = stored(&export(&ws, "example-items", &[]));
    assert_eq!(store.live, fake.ground_truth(), "stored as `example-items`");

    let out = Synchost::run(&ws, &["export", "todo_plugin"]);
    let stderr = assert_exit_code(&out, 2);
    assert!(
        stderr.contains("the store has no source `todo_plugin` (it has example-items)"),
        "the store's sources are listed:\n{stderr}"
    );
    let out = Synchost::run(&ws, &["status", "todo_plugin"]);
    let stderr = assert_exit_code(&out, 2);
    assert!(stderr.contains("(it has example-items)"), "{stderr}");
}

/// Settings are checked against the manifest before `configure`, and
/// before the host's own `allowed_hosts` check: a near miss of a declared
/// name (also as the last part of a dotted name) is exit 2 with a
/// suggestion, a missing required setting is exit 2 naming the required
/// ones, another unknown name is only a warning. Nothing is sent.
#[test]
fn settings_errors_name_what_the_manifest_declares() {
    let fake = FakeServer::start("items", &["--count", "5"]);
    let ws = Workspace::new();
    let items = plugin_path("example-items");
    let url = fake.url();

    let out = ad_hoc(&ws, &items, &[format!("baseurl={url}")]);
    let stderr = assert_exit_code(&out, 2);
    assert!(
        stderr.contains("unknown setting `baseurl`: did you mean `base_url`?"),
        "{stderr}"
    );
    assert!(!stderr.contains("allowed_hosts"), "{stderr}");

    let out = ad_hoc(
        &ws,
        &items,
        &[format!("base_url={url}"), "tasks.base_ulr=x".into()],
    );
    let stderr = assert_exit_code(&out, 2);
    assert!(
        stderr.contains("did you mean `tasks.base_url`?"),
        "{stderr}"
    );

    let out = ad_hoc(&ws, &plugin_path("hostile"), &[format!("base_url={url}")]);
    let stderr = assert_exit_code(&out, 2);
    assert!(
        stderr.contains("the required setting `attack` is not set (required: attack;"),
        "{stderr}"
    );
    assert_eq!(u64_field(&fake.stats(), "requests"), 0, "nothing was sent");

    let out = ad_hoc(
        &ws,
        &items,
        &[format!("base_url={url}"), "colour=blue".into()],
    );
    assert_success(&out);
    let (_, stderr) = output_text(&out);
    assert!(
        stderr.contains("the plugin declares no setting `colour`;")
            && stderr.contains("(the plugin's settings: base_url (required))"),
        "an unknown name is a warning:\n{stderr}"
    );
}
