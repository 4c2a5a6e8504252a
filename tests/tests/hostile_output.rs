//! What the host prints and stores, under attack by the `hostile` plugin's
//! output attacks (`tests/plugins/hostile/src/output.rs`):
//!
//! - terminal escapes, line breaks and bidi overrides in every string a
//!   plugin chooses never reach the terminal raw (`pull`, `status`, `runs`);
//! - watermarks are capped like cursors, and `status` survives the largest
//!   one allowed;
//! - counts say what changed in the store, not what the plugin claimed, and
//!   a page cannot report an unbounded number of deletions;
//! - two stores in one directory keep their own blobs.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use support::{
    assert_exit_code, assert_success, blob_dir_of, events_of, hostile_source, json_lines,
    output_text, str_field, toml_str, u64_field, FakeServer, Synchost, Workspace,
};

/// A run that takes longer than this is a hang.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// `base_url` of attacks that send no request.
const NOWHERE: &str = "http://127.0.0.1:9";
/// The host's cap on a watermark (`checks::MAX_WATERMARK_BYTES`).
const MAX_WATERMARK_BYTES: usize = 64 * 1024;
/// The host's cap on deleted ids per page (`checks::MAX_DELETED_IDS`).
const MAX_DELETED_IDS: usize = 10_000;

/// `synchost ARGS` with the shared plugin cache, run to completion.
fn synchost(ws: &Workspace, args: &[&str]) -> Output {
    Synchost::new(ws)
        .args(args)
        .shared_cache()
        .timeout(RUN_TIMEOUT)
        .output()
}

/// `synchost.toml` with one source, `hostile`, running `attack` with the
/// extra `settings` lines, against `base_url`.
fn configure(ws: &Workspace, attack: &str, base_url: &str, settings: &str) {
    ws.write_config(&format!(
        "{}\
         [sources.hostile.limits]\n\
         memory_mb = 128\n\
         call_timeout_s = 30\n\
         [sources.hostile.retry]\n\
         base_delay_ms = 10\n\
         max_delay_ms = 50\n",
        hostile_source(attack, base_url, settings)
    ));
}

// ---------------------------------------------------------------------------
// Terminal escapes

/// Panics unless `text` (what `what` printed) is free of everything the
/// hostile strings carry as themselves: ESC, CR, C1 controls, DEL, the bidi
/// override, and any line the plugin forged.
#[track_caller]
fn assert_terminal_safe(what: &str, text: &str) {
    for (name, bad) in [
        ("ESC", '\u{1b}'),
        ("CR", '\r'),
        ("BEL", '\u{7}'),
        ("CSI (C1)", '\u{9b}'),
        ("DEL", '\u{7f}'),
        ("RIGHT-TO-LEFT OVERRIDE", '\u{202e}'),
    ] {
        assert!(
            !text.contains(bad),
            "{what} printed a raw {name}:\n{}",
            text.escape_debug()
        );
    }
    assert!(
        !text
            .lines()
            .any(|line| line.trim_start().starts_with("FORGED")),
        "{what} printed a line the plugin forged:\n{text}"
    );
}

/// Both streams of `out`, checked with [`assert_terminal_safe`]; returns them.
#[track_caller]
fn checked(what: &str, out: &Output) -> (String, String) {
    let (stdout, stderr) = output_text(out);
    assert_terminal_safe(&format!("{what} (stdout)"), &stdout);
    assert_terminal_safe(&format!("{what} (stderr)"), &stderr);
    (stdout, stderr)
}

/// The hostile text as the host shows it: its escape sequence made visible.
const SHOWN: &str = "\\u{1b}[31mred";

#[test]
fn escape_sequences_from_a_plugin_never_reach_the_terminal() {
    let ws = Workspace::new();

    // Hostile ids, titles, watermark, deleted ids: stored, then shown.
    configure(&ws, "escapes", NOWHERE, "stage = \"store\"");
    let out = synchost(&ws, &["pull", "hostile"]);
    assert_success(&out);
    checked("pull (store)", &out);
    let out = synchost(&ws, &["status"]);
    let (status, _) = checked("status", &assert_ok(out));
    assert!(
        status.contains(&format!("wm-{SHOWN}")),
        "the watermark is shown escaped:\n{status}"
    );

    // A `list` that fails with a hostile message, after a hostile cursor.
    configure(&ws, "escapes", NOWHERE, "stage = \"fail-list\"");
    let out = synchost(&ws, &["pull", "hostile"]);
    assert_exit_code(&out, 1);
    let (_, stderr) = checked("pull (failing list)", &out);
    assert!(
        stderr.contains(&format!("fatal: list: {SHOWN}")),
        "the error is shown, escaped:\n{stderr}"
    );
    let out = synchost(&ws, &["pull", "hostile", "--json"]);
    assert_exit_code(&out, 1);
    let (stdout, _) = checked("pull --json (failing list)", &out);
    let summary = events_of(&json_lines(&stdout), "summary")
        .first()
        .map(|e| (*e).clone())
        .unwrap_or_else(|| panic!("no summary event in {stdout}"));
    assert!(
        str_field(&summary, "error").contains("fatal: list:"),
        "{summary}"
    );

    // Items whose fetch fails with hostile messages, with debug logs on
    // (resuming the listing above).
    configure(&ws, "escapes", NOWHERE, "stage = \"fail-items\"");
    let out = synchost(&ws, &["pull", "hostile", "-v"]);
    assert_exit_code(&out, 1);
    let (_, stderr) = checked("pull -v (failing items)", &out);
    assert!(stderr.contains("items failed"), "{stderr}");
    assert!(
        stderr.contains(&format!("fetch: {SHOWN}")),
        "the item's error is logged, escaped:\n{stderr}"
    );

    // What the audit trail and the status show of all that.
    let out = synchost(&ws, &["runs"]);
    let (runs, _) = checked("runs", &assert_ok(out));
    assert!(runs.contains(&format!("fatal: list: {SHOWN}")), "{runs}");
    checked("status", &assert_ok(synchost(&ws, &["status"])));
    checked(
        "status --json",
        &assert_ok(synchost(&ws, &["status", "--json"])),
    );
    checked(
        "runs --json",
        &assert_ok(synchost(&ws, &["runs", "--json"])),
    );
}

#[track_caller]
fn assert_ok(out: Output) -> Output {
    assert_success(&out);
    out
}

// ---------------------------------------------------------------------------
// Watermarks

/// `synchost status --json`: the watermark of `hostile/items`.
fn stored_watermark(ws: &Workspace) -> String {
    let out = assert_success(&synchost(ws, &["status", "--json"]));
    let status: Value = serde_json::from_str(&out).expect("status --json is JSON");
    let stream = status
        .as_array()
        .and_then(|streams| streams.iter().find(|s| s["source"] == "hostile"))
        .unwrap_or_else(|| panic!("no hostile stream in {status}"));
    str_field(stream, "watermark").to_owned()
}

#[test]
fn watermarks_are_capped_and_status_shows_the_largest() {
    let ws = Workspace::new();
    let settings = |bytes: usize| format!("watermark_bytes = \"{bytes}\"");

    // The largest allowed watermark is stored, and `status` prints it clipped.
    configure(&ws, "watermark", NOWHERE, &settings(MAX_WATERMARK_BYTES));
    assert_success(&synchost(&ws, &["pull", "hostile"]));
    let out = synchost(&ws, &["status"]);
    let (stdout, stderr) = output_text(&out);
    assert!(
        out.status.success() && !stderr.contains("panicked"),
        "status failed ({}): {stderr}",
        out.status
    );
    let row = stdout
        .lines()
        .find(|line| line.starts_with("hostile"))
        .unwrap_or_else(|| panic!("no hostile row in\n{stdout}"));
    assert!(row.len() < 400, "the row is clipped: {} bytes", row.len());
    assert!(row.contains("more bytes]"), "the clip is said: {row}");
    assert_eq!(stored_watermark(&ws).len(), MAX_WATERMARK_BYTES);

    // One byte more is the plugin's error, and the stored watermark stays.
    configure(
        &ws,
        "watermark",
        NOWHERE,
        &settings(MAX_WATERMARK_BYTES + 1),
    );
    let out = synchost(&ws, &["pull", "hostile"]);
    let stderr = assert_exit_code(&out, 1);
    assert!(
        stderr.contains(&format!(
            "watermark of {} bytes (at most {MAX_WATERMARK_BYTES}",
            MAX_WATERMARK_BYTES + 1
        )),
        "{stderr}"
    );
    assert!(stderr.contains("hostile"), "the source is named: {stderr}");
    assert_eq!(stored_watermark(&ws).len(), MAX_WATERMARK_BYTES);

    // 16 MiB: refused as well, without storing it.
    configure(&ws, "watermark", NOWHERE, &settings(16 << 20));
    let stderr = assert_exit_code(&synchost(&ws, &["pull", "hostile"]), 1);
    assert!(
        stderr.contains(&format!("watermark of {} bytes", 16 << 20)),
        "{stderr}"
    );
    assert_eq!(stored_watermark(&ws).len(), MAX_WATERMARK_BYTES);
}

// ---------------------------------------------------------------------------
// Counts

/// `synchost pull hostile --json`, run to success: the summary's counts.
fn pull_counts(ws: &Workspace) -> Value {
    let out = assert_success(&synchost(ws, &["pull", "hostile", "--json"]));
    let events = json_lines(&out);
    let summary = events_of(&events, "summary");
    assert_eq!(summary.len(), 1, "{out}");
    summary[0]["summary"]["counts"].clone()
}

/// The `deleted` count of the latest run, from `synchost runs --json`.
fn last_run_deleted(ws: &Workspace) -> u64 {
    let out = assert_success(&synchost(ws, &["runs", "--json", "--limit", "1"]));
    let runs: Value = serde_json::from_str(&out).expect("runs --json is JSON");
    u64_field(&runs[0], "deleted")
}

#[test]
fn deletions_count_what_the_store_tombstoned() {
    let ws = Workspace::new();

    // 1000 deleted ids the store never held (each twice): nothing deleted.
    configure(&ws, "phantom-deletes", NOWHERE, "deleted_count = \"1000\"");
    let counts = pull_counts(&ws);
    assert_eq!(u64_field(&counts, "deleted"), 0, "{counts}");
    assert_eq!(u64_field(&counts, "written"), 2, "{counts}");
    assert_eq!(last_run_deleted(&ws), 0);
    let out = synchost(&ws, &["pull", "hostile"]);
    let (_, summary) = output_text(&assert_ok(out));
    assert!(
        !summary.contains("deleted"),
        "nothing is said deleted: {summary}"
    );

    // Now `gone` (stored) is reported deleted, twice, among the phantoms:
    // one record tombstoned, counted once.
    configure(
        &ws,
        "phantom-deletes",
        NOWHERE,
        "deleted_count = \"1000\"\ndelete_gone = \"true\"",
    );
    let counts = pull_counts(&ws);
    assert_eq!(u64_field(&counts, "deleted"), 1, "{counts}");
    assert_eq!(last_run_deleted(&ws), 1);
    let records = support::export(&ws, "hostile", &[]);
    let deleted: BTreeSet<&str> = records
        .iter()
        .filter(|r| r["deleted"] == true)
        .map(|r| str_field(r, "id"))
        .collect();
    assert_eq!(deleted, BTreeSet::from(["gone"]), "{records:?}");
    assert_eq!(records.len(), 2, "no phantom record is stored: {records:?}");
}

#[test]
fn a_page_with_too_many_deleted_ids_is_refused() {
    let ws = Workspace::new();
    let too_many = MAX_DELETED_IDS + 2;
    configure(
        &ws,
        "phantom-deletes",
        NOWHERE,
        &format!("deleted_count = \"{too_many}\""),
    );
    let stderr = assert_exit_code(&synchost(&ws, &["pull", "hostile"]), 1);
    assert!(
        stderr.contains(&format!(
            "{too_many} deleted ids in one page (at most {MAX_DELETED_IDS}"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("hostile"), "the source is named: {stderr}");
}

// ---------------------------------------------------------------------------
// Blobs of stores side by side

/// Every file under `dir`, by content.
fn contents_under(dir: &Path) -> BTreeSet<Vec<u8>> {
    let mut found = BTreeSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.insert(std::fs::read(&path).expect("read a mirror file"));
            }
        }
    }
    found
}

/// The files of `dir` (recursively), relative.
fn files_under(dir: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(dir).expect("under dir");
                found.insert(relative.display().to_string());
            }
        }
    }
    found
}

/// Pulls `hostile` (the `blobs` attack on `fake`, blobs of `items`) into
/// the store `store`.
fn pull_blobs(ws: &Workspace, fake: &FakeServer, store: &str, items: &str) {
    configure(
        ws,
        "blobs",
        fake.url(),
        &format!("blob_items = {}", toml_str(items)),
    );
    assert_success(&synchost(ws, &["--store", store, "pull", "hostile"]));
}

/// `synchost --store STORE export hostile --format files --out OUT`, which
/// reads every blob of the store.
fn export_files(ws: &Workspace, store: &str, out: &str) -> BTreeSet<Vec<u8>> {
    let args = [
        "--store", store, "export", "hostile", "--format", "files", "--out", out,
    ];
    assert_success(&synchost(ws, &args));
    contents_under(&ws.path().join(out))
}

/// The body the fake serves for `item`: the blob the hostile records point at.
fn item_body(fake: &FakeServer, item: &str) -> Vec<u8> {
    fake.get(&format!("/items/{item}"), &[])
        .expect_status(200)
        .body
        .clone()
        .into_bytes()
}

#[test]
fn stores_side_by_side_keep_their_own_blobs() {
    let fake = FakeServer::start("items", &["--count", "10"]);
    let ws = Workspace::new();
    let a = ws.path().join("a.db");
    let b = ws.path().join("b.db");

    pull_blobs(&ws, &fake, "a.db", "1,2");
    let a_files = files_under(&blob_dir_of(&a));
    assert_eq!(
        a_files.len(),
        2,
        "two blobs in {}",
        blob_dir_of(&a).display()
    );
    // A pull into B (and its sweep of unreferenced blobs) leaves A's alone.
    pull_blobs(&ws, &fake, "b.db", "3");
    assert_eq!(files_under(&blob_dir_of(&b)).len(), 1);
    assert_eq!(
        files_under(&blob_dir_of(&a)),
        a_files,
        "A's blobs are intact"
    );
    assert!(
        !ws.path().join("blobs").exists(),
        "no shared blob directory"
    );

    let mirror = export_files(&ws, "a.db", "mirror-a");
    for item in ["item-000001", "item-000002"] {
        assert!(
            mirror.contains(&item_body(&fake, item)),
            "{item} is in A's mirror"
        );
    }
    assert!(!mirror.contains(&item_body(&fake, "item-000003")));
}

#[test]
fn a_store_that_shared_blobs_takes_its_own_and_leaves_the_others() {
    let fake = FakeServer::start("items", &["--count", "10"]);
    let ws = Workspace::new();
    let a = ws.path().join("a.db");
    let shared = ws.path().join("blobs");

    // A store of the old layout: its blobs in the directory's `blobs/`, with
    // another store's file beside them.
    pull_blobs(&ws, &fake, "a.db", "1,2");
    std::fs::rename(blob_dir_of(&a), &shared).expect("move A's blobs to the shared place");
    let other = shared.join("ff").join("f".repeat(64));
    std::fs::create_dir_all(other.parent().unwrap()).unwrap();
    std::fs::write(&other, b"another store's blob").unwrap();
    let before = files_under(&shared);

    // A pull into B sweeps nothing of the shared directory.
    pull_blobs(&ws, &fake, "b.db", "3");
    assert_eq!(
        files_under(&shared),
        before,
        "the shared directory is untouched"
    );

    // A, opened again, takes its blobs into its own directory; the export
    // finds them, and the shared directory keeps everything.
    let mirror = export_files(&ws, "a.db", "mirror-a");
    for item in ["item-000001", "item-000002"] {
        assert!(
            mirror.contains(&item_body(&fake, item)),
            "{item} is in A's mirror"
        );
    }
    let own = files_under(&blob_dir_of(&a));
    assert_eq!(own.len(), 2, "{own:?}");

    // From now on A sweeps its own directory, and only that.
    let stray = blob_dir_of(&a).join("ee").join("e".repeat(64));
    std::fs::create_dir_all(stray.parent().unwrap()).unwrap();
    std::fs::write(&stray, b"unreferenced").unwrap();
    pull_blobs(&ws, &fake, "a.db", "1,2");
    assert_eq!(files_under(&blob_dir_of(&a)), own, "A swept its stray file");
    assert_eq!(
        files_under(&shared),
        before,
        "the shared directory is untouched"
    );
}
