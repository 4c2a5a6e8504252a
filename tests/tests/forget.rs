//! `synchost forget`: records removed for good, from the store (records,
//! kept versions, staged changes, blobs), its file and WAL, and the mirrors
//! named; the audit counts them without naming them; a full pull brings
//! them back unless an `exclude` rule keeps them out; bad input changes
//! nothing.

mod support;

use std::fs;
use std::path::Path;

use serde_json::json;
use support::{
    all_bytes, assert_exit_code, assert_success, confluence_streams, create_item, export, http,
    items_config, json_output, output_text, FakeServer, Synchost, Workspace,
};

/// What the remote holds of the two records forgotten here.
const ALPHA_V1: &str = "alpha-first-draft-7f3a9c";
const ALPHA_V2: &str = "alpha-second-draft-b81e44";
const ALPHA_TITLE: &str = "Diary of Zebulon Quark";
const BETA: &str = "beta-medical-note-55d0c1";
/// A local edit of alpha, staged for a push.
const GAMMA: &str = "gamma-local-edit-e90b7d";

/// `synchost <args>` run as user `dpo-alice`.
fn synchost<'a>(ws: &'a Workspace, args: &[&str]) -> Synchost<'a> {
    Synchost::new(ws).args(args).env("USER", "dpo-alice")
}

/// The ids an export holds.
fn ids(ws: &Workspace) -> Vec<String> {
    export(ws, "items", &[])
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect()
}

/// Rows of `table` whose `column` is `id`, read straight from the store.
fn rows_of(ws: &Workspace, table: &str, column: &str, id: &str) -> i64 {
    let conn = rusqlite::Connection::open(ws.store_path()).expect("open the store");
    conn.query_row(
        &format!("SELECT count(*) FROM {table} WHERE {column} = ?1"),
        [id],
        |row| row.get(0),
    )
    .expect("count")
}

/// Panics if any of `needles` is in the name or the bytes of a file under
/// one of `dirs`.
fn assert_nowhere(dirs: &[&Path], needles: &[&[u8]]) {
    let files: Vec<(String, Vec<u8>)> = dirs.iter().flat_map(|d| all_bytes(d)).collect();
    assert!(!files.is_empty(), "no files under {dirs:?}");
    for needle in needles {
        for (name, bytes) in &files {
            let found = bytes.windows(needle.len()).any(|w| w == *needle)
                || name.as_bytes().windows(needle.len()).any(|w| w == *needle);
            assert!(!found, "{:?} is in {name}", String::from_utf8_lossy(needle));
        }
    }
}

/// The rules of the `exclude = [...]` line a forget suggested.
fn suggested_rules(stderr: &str) -> String {
    let line = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("exclude = ["))
        .unwrap_or_else(|| panic!("no exclude line suggested: {stderr}"));
    line.strip_suffix(']').expect("one line").to_string()
}

#[test]
fn forgotten_records_are_nowhere_audited_by_count_and_kept_out_by_exclude() {
    let fake = FakeServer::start("items", &["--count", "30", "--seed", "4"]);
    let alpha = create_item(&fake, "k-alpha", ALPHA_TITLE, ALPHA_V1, &["diary"]);
    let beta = create_item(&fake, "k-beta", "Visit", BETA, &["gdpr-erase"]);
    let ws = Workspace::new();
    items_config(&ws, &fake, "");
    assert_success(&synchost(&ws, &["pull", "items"]).output());
    // A second version of alpha: the first is kept in its history.
    let update = json!({"title": ALPHA_TITLE, "content": ALPHA_V2}).to_string();
    http(
        "PUT",
        &format!("{}/items/{alpha}", fake.url()),
        &[("if-match", "\"1\""), ("content-type", "application/json")],
        Some(&update),
    )
    .expect_status(200);
    assert_success(&synchost(&ws, &["pull", "items"]).output());
    assert_eq!(rows_of(&ws, "record_history", "record_id", &alpha), 1);
    // A local edit of alpha waiting to be pushed.
    let change = json!({"op": "update", "id": alpha, "base_version": "2",
                        "title": "t", "content": GAMMA});
    let file = ws.path().join("changes.jsonl");
    fs::write(&file, format!("{change}\n")).expect("write the change file");
    let staged = synchost(&ws, &["stage", "items", "--stream", "items", "--file"])
        .arg(&file)
        .output();
    assert_success(&staged);
    let mirror = ws.path().join("mirror");
    let export_mirror = || {
        assert_success(
            &synchost(&ws, &["export", "items", "--format", "files", "--out"])
                .arg(&mirror)
                .output(),
        )
    };
    export_mirror();
    let manifest = || fs::read_to_string(mirror.join(".synchost-mirror.json")).expect("manifest");
    assert!(manifest().contains(&alpha) && manifest().contains(&beta));
    let mirror_arg = mirror.to_str().expect("utf-8 path");

    // A dry run counts and changes nothing.
    let before = (ids(&ws), manifest(), json_output(&ws, &["runs", "--json"]));
    let dry = synchost(
        &ws,
        &[
            "forget",
            "items",
            "--id",
            &alpha,
            "--mirror",
            mirror_arg,
            "--dry-run",
        ],
    )
    .output();
    let stdout = assert_success(&dry);
    assert!(
        stdout.contains(
            "Would forget 1 records of source `items` (1 earlier versions, 0 blobs, \
                         1 staged changes, 1 mirror files); nothing was changed"
        ),
        "{stdout}"
    );
    let after = (ids(&ws), manifest(), json_output(&ws, &["runs", "--json"]));
    assert_eq!(before, after, "a dry run changes nothing");
    assert_eq!(rows_of(&ws, "changes", "record_id", &alpha), 1);

    // A reader held open keeps the WAL file, so it is checked too.
    let reader = rusqlite::Connection::open(ws.store_path()).expect("open the store");
    let _: i64 = reader
        .query_row("SELECT count(*) FROM records", [], |row| row.get(0))
        .expect("read the store");
    let by_id = synchost(
        &ws,
        &["forget", "items", "--id", &alpha, "--mirror", mirror_arg],
    )
    .output();
    let stdout = assert_success(&by_id);
    assert!(
        stdout.contains(
            "Forgot 1 records of source `items` (1 earlier versions, 0 blobs, \
                         1 staged changes, 1 mirror files)"
        ),
        "{stdout}"
    );
    let (_, hint_alpha) = output_text(&by_id);
    assert!(
        !hint_alpha.contains("Mirrors are not known"),
        "{hint_alpha}"
    );
    assert!(
        hint_alpha.contains(&format!("exclude = [\"id={alpha}\"]")),
        "{hint_alpha}"
    );
    let by_match = synchost(
        &ws,
        &[
            "forget",
            "items",
            "--match",
            "metadata.tags.0=gdpr-erase",
            "--mirror",
            mirror_arg,
        ],
    )
    .output();
    let stdout = assert_success(&by_match);
    assert!(stdout.contains("Forgot 1 records"), "{stdout}");
    let (_, hint_beta) = output_text(&by_match);

    let left = ids(&ws);
    assert_eq!(left.len(), 30, "the other records stay: {left:?}");
    assert!(!left.contains(&alpha) && !left.contains(&beta));
    for table in ["record_history", "changes"] {
        assert_eq!(rows_of(&ws, table, "record_id", &alpha), 0, "{table}");
    }
    let history = synchost(&ws, &["history", "items", &alpha]).output();
    assert_ne!(
        history.status.code(),
        Some(0),
        "no history of a forgotten record"
    );
    let manifest_now = manifest();
    assert!(!manifest_now.contains(&alpha) && !manifest_now.contains(&beta));
    assert!(
        manifest_now.contains("item-000001"),
        "other files stay listed"
    );
    // A later export of the mirror has nothing to restore or complain about.
    export_mirror();

    // The audit: who, when, how many; never which.
    let runs = json_output(&ws, &["runs", "--json"]);
    for run in &runs.as_array().expect("runs")[..2] {
        assert_eq!(run["kind"], "forget", "{run}");
        assert_eq!(run["deleted"], 1, "{run}");
        assert_eq!(run["user"], "dpo-alice", "{run}");
        assert_eq!(run["outcome"], "succeeded", "{run}");
    }
    let text = runs.to_string() + &assert_success(&synchost(&ws, &["runs"]).output());
    for secret in [&alpha, &beta, "gdpr-erase", ALPHA_TITLE] {
        assert!(!text.contains(secret), "{secret} is in the audit: {text}");
    }

    // Nowhere on disk: the store, its WAL, blobs, the mirror, an export.
    let jsonl = ws.path().join("export.jsonl");
    fs::write(
        &jsonl,
        assert_success(&synchost(&ws, &["export", "items"]).output()),
    )
    .expect("write the export");
    let store_dir = ws.store_path().parent().expect("store dir").to_path_buf();
    assert!(
        all_bytes(&store_dir)
            .iter()
            .any(|(name, _)| name.ends_with("-wal")),
        "the WAL is among the files checked"
    );
    let secrets: [&[u8]; 5] = [
        ALPHA_V1.as_bytes(),
        ALPHA_V2.as_bytes(),
        ALPHA_TITLE.as_bytes(),
        BETA.as_bytes(),
        GAMMA.as_bytes(),
    ];
    assert_nowhere(&[&store_dir, &mirror, &jsonl], &secrets);
    drop(reader);

    // A full pull brings them back: the remote still has them.
    assert_success(&synchost(&ws, &["pull", "items", "--full"]).output());
    let back = ids(&ws);
    assert!(back.contains(&alpha) && back.contains(&beta), "{back:?}");

    // Forgotten again, and kept out by the suggested rules.
    let rules = format!(
        "{}, {}",
        suggested_rules(&hint_alpha),
        suggested_rules(&hint_beta)
    );
    let config = fs::read_to_string(ws.config_path()).expect("config");
    fs::write(
        ws.config_path(),
        config.replacen(
            "[sources.items]\n",
            &format!("[sources.items]\nexclude = [{rules}]\n"),
            1,
        ),
    )
    .expect("write the config");
    let again = synchost(&ws, &["forget", "items", "--id", &alpha, "--id", &beta]).output();
    let (stdout, stderr) = output_text(&again);
    assert_eq!(again.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("Forgot 2 records"), "{stdout}");
    assert!(
        !stderr.contains("exclude = "),
        "nothing left to suggest: {stderr}"
    );
    let pull = synchost(&ws, &["pull", "items", "--full"]).output();
    let (_, stderr) = output_text(&pull);
    assert_success(&pull);
    assert!(stderr.contains("2 excluded"), "{stderr}");
    let kept_out = ids(&ws);
    assert_eq!(kept_out.len(), 30, "{kept_out:?}");
    assert!(!kept_out.contains(&alpha) && !kept_out.contains(&beta));
    let runs = json_output(&ws, &["runs", "--json"]);
    assert_eq!(runs[0]["kind"], "pull");
    assert_eq!(runs[0]["excluded"], 2, "{}", runs[0]);
}

/// Forgetting an attachment removes its blob file; a blob another record
/// still links stays.
#[test]
fn forgetting_an_attachment_removes_its_blob() {
    let fake = confluence_streams::start_fake(&[
        "--pages",
        "6",
        "--folders",
        "1",
        "--attachments-per-page",
        "1",
        "--attachment-bytes",
        "3000",
        "--seed",
        "5",
    ]);
    let ws = Workspace::new();
    confluence_streams::write_config(&ws, &fake, "");
    let pull = confluence_streams::synchost(&ws, &["pull", "docs", "--page-size", "250"]).output();
    assert_success(&pull);
    let blobs = || -> Vec<(String, String)> {
        let conn = rusqlite::Connection::open(ws.store_path()).expect("open the store");
        let mut statement = conn
            .prepare(
                "SELECT rb.record_id, b.path FROM record_blobs rb JOIN blobs b ON b.hash = rb.hash
                 WHERE rb.stream = 'attachments' ORDER BY rb.record_id",
            )
            .expect("prepare");
        let rows = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .expect("query");
        rows.collect::<Result<_, _>>().expect("rows")
    };
    let before = blobs();
    assert_eq!(before.len(), 6, "{before:?}");
    let (id, path) = before[0].clone();
    let file = ws.blob_dir().join(&path);
    let bytes = fs::read(&file).expect("the blob");
    // Random-looking or text bytes: 64 of them from the middle are this blob's.
    let piece = &bytes[bytes.len() / 2..bytes.len() / 2 + 64];

    let out = Synchost::new(&ws)
        .args(["forget", "docs", "--stream", "attachments", "--id", &id])
        .output();
    let stdout = assert_success(&out);
    assert!(
        stdout.contains("Forgot 1 records of source `docs` (0 earlier versions, 1 blobs"),
        "{stdout}"
    );
    let (_, stderr) = output_text(&out);
    assert!(
        stderr.contains("Mirrors are not known to the store"),
        "{stderr}"
    );
    assert!(!file.exists(), "the blob file is removed");
    let after = blobs();
    assert_eq!(after, before[1..].to_vec(), "the other blobs stay");
    for (_, path) in &after {
        assert!(ws.blob_dir().join(path).is_file(), "{path} stays");
    }
    let store_dir = ws.store_path().parent().expect("store dir").to_path_buf();
    assert_nowhere(&[&store_dir], &[piece]);
}

/// Bad input is refused with exit 2 and changes nothing; a match that
/// selects nothing forgets nothing and says so.
#[test]
fn bad_input_forgets_nothing() {
    let fake = FakeServer::start("items", &["--count", "5", "--seed", "1"]);
    let ws = Workspace::new();
    items_config(&ws, &fake, "");
    assert_success(&Synchost::run(&ws, &["pull", "items"]));
    let not_a_mirror = ws.path().join("plain");
    fs::create_dir_all(&not_a_mirror).expect("mkdir");
    let cases: [(&[&str], &str); 6] = [
        (
            &["forget", "items", "--id", "item-000001", "--id", "nope"],
            "has no record `nope`",
        ),
        (
            &[
                "forget",
                "items",
                "--id",
                "item-000001",
                "--stream",
                "other",
            ],
            "stream `other` has no record",
        ),
        (
            &["forget", "items", "--match", "colour=red"],
            "unknown field `colour`",
        ),
        (&["forget", "items"], "--id"),
        (&["forget", "elsewhere", "--id", "item-000001"], "elsewhere"),
        (
            &[
                "forget",
                "items",
                "--id",
                "item-000001",
                "--mirror",
                not_a_mirror.to_str().unwrap(),
            ],
            "not a synchost mirror",
        ),
    ];
    for (args, message) in cases {
        let stderr = assert_exit_code(&Synchost::run(&ws, args), 2);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    let none = Synchost::run(
        &ws,
        &["forget", "items", "--match", "title~=no such words at all"],
    );
    let stdout = assert_success(&none);
    assert!(stdout.contains("nothing was forgotten"), "{stdout}");
    assert_eq!(ids(&ws).len(), 5, "nothing was forgotten");
    let runs = json_output(&ws, &["runs", "--json"]);
    assert_eq!(
        runs.as_array().map(Vec::len),
        Some(1),
        "only the pull: {runs}"
    );
}
