//! End-to-end Supabase syncs: the real `synchost` binary runs the real
//! `supabase.wasm` against `synchost-fake supabase`, a PostgREST-compatible
//! server over a real PostgreSQL that each test's fake starts and removes
//! (docs/fake-supabase-api.md). The store is compared with the database:
//! `/_control/items` (ids, versions, sha256 of each row's JSON) and SQL run
//! through `/_control/mutate`.
//!
//! Every test has its own fake, database and workspace, so they run in
//! parallel.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use support::{
    assert_exit_code, assert_success, export, kill9, plugin_path, summary_of, toml_str, wait_for,
    FakeServer, Synchost, Workspace,
};

const SOURCE: &str = "db";
const TABLE: &str = "notes";
const KEY_VAR: &str = "SYNCHOST_E2E_SUPABASE_KEY";
const JWT_VAR: &str = "SYNCHOST_E2E_SUPABASE_JWT";

/// A fake with `rows` rows in `notes`, and its keys.
struct Database {
    fake: FakeServer,
    service_key: String,
    anon_key: String,
}

impl Database {
    fn start(rows: u32, extra: &[&str]) -> Database {
        let table = format!("{TABLE}:{rows}");
        let mut args = vec!["--table", table.as_str()];
        args.extend_from_slice(extra);
        let fake = FakeServer::start("supabase", &args);
        let service_key = fake.stdout_line("service_role key: ").trim().to_owned();
        let anon_key = fake.stdout_line("anon key: ").trim().to_owned();
        Database {
            fake,
            service_key,
            anon_key,
        }
    }

    /// Runs SQL as the superuser; the last statement's rows, as text.
    fn sql(&self, statements: &str) -> Vec<Vec<Option<String>>> {
        let answer = self.fake.mutate_with(&json!({ "sql": statements }));
        serde_json::from_value(answer["rows"].clone()).unwrap_or_default()
    }

    /// The committed rows: id → (version, sha256 of the row's JSON).
    fn truth(&self) -> BTreeMap<String, (String, String)> {
        let truth = self.fake.ground_truth_json();
        truth
            .as_array()
            .expect("items is an array")
            .iter()
            .map(|t| {
                let text = |name: &str| t[name].as_str().expect("a string").to_owned();
                (text("id"), (text("version"), text("sha256")))
            })
            .collect()
    }

    /// A user's JWT (role `authenticated`), signed by the fake.
    fn user_jwt(&self) -> String {
        let answer = self.fake.control_post(
            "/_control/jwt",
            Some(&json!({"role": "authenticated", "sub": "e2e-user"})),
            200,
        );
        answer.json()["token"].as_str().expect("a token").to_owned()
    }

    /// The fake's request log: (method, query) of each `/rest/v1/notes` request.
    fn table_requests(&self) -> Vec<(String, String)> {
        let log = self.fake.control_get("/_control/requests");
        log.as_array()
            .expect("the request log is an array")
            .iter()
            .filter(|r| r["path"] == format!("/rest/v1/{TABLE}"))
            .map(|r| {
                (
                    r["method"].as_str().unwrap_or_default().to_owned(),
                    r["query"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
}

/// A `synchost.toml` with the source `db` on `notes`, `settings` added to its
/// settings, authenticated by the key in [`KEY_VAR`] (and a user's JWT in
/// [`JWT_VAR`] when `with_jwt`).
fn write_config(ws: &Workspace, db: &Database, settings: &str, with_jwt: bool) {
    let jwt = if with_jwt {
        format!("jwt_env = \"{JWT_VAR}\"\n")
    } else {
        String::new()
    };
    ws.write_config(&format!(
        "[sources.{SOURCE}]\nplugin = {}\n\n\
         [sources.{SOURCE}.auth]\ntype = \"supabase\"\nkey_env = \"{KEY_VAR}\"\n{jwt}\n\
         [sources.{SOURCE}.settings]\nbase_url = {}\ntables = \"{TABLE}\"\n{settings}\n",
        toml_str(&plugin_path("supabase").display().to_string()),
        toml_str(db.fake.url()),
    ));
}

/// `synchost ARGS` with the service_role key.
fn synchost<'a>(ws: &'a Workspace, db: &Database, args: &[&str]) -> Synchost<'a> {
    Synchost::new(ws)
        .args(args)
        .env(KEY_VAR, &db.service_key)
        .shared_cache()
}

#[track_caller]
fn pull(ws: &Workspace, db: &Database, extra: &[&str]) -> String {
    let mut args = vec!["pull", SOURCE];
    args.extend_from_slice(extra);
    assert_success(&synchost(ws, db, &args).output())
}

/// The live records of the store: id → (version, sha256 of the content).
fn stored(ws: &Workspace) -> BTreeMap<String, (String, String)> {
    export(ws, SOURCE, &[])
        .into_iter()
        .filter(|r| r["deleted"] != true)
        .map(|r| {
            let content = r["content"].as_str().expect("JSON rows are text");
            let sha = hex(&Sha256::digest(content.as_bytes()));
            (
                r["id"].as_str().expect("an id").to_owned(),
                (r["version"].as_str().expect("a version").to_owned(), sha),
            )
        })
        .collect()
}

fn tombstones(ws: &Workspace) -> BTreeSet<String> {
    export(ws, SOURCE, &[])
        .into_iter()
        .filter(|r| r["deleted"] == true)
        .map(|r| r["id"].as_str().expect("an id").to_owned())
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The store holds exactly the table's rows, byte for byte.
#[track_caller]
fn assert_store_is_table(ws: &Workspace, db: &Database) {
    let (stored, truth) = (stored(ws), db.truth());
    let missing: Vec<_> = truth
        .keys()
        .filter(|id| !stored.contains_key(*id))
        .collect();
    let extra: Vec<_> = stored
        .keys()
        .filter(|id| !truth.contains_key(*id))
        .collect();
    let differ: Vec<_> = truth
        .iter()
        .filter(|(id, row)| stored.get(*id).is_some_and(|s| s != *row))
        .map(|(id, _)| id)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && differ.is_empty(),
        "store vs table: {} missing {missing:.3?}, {} extra {extra:.3?}, {} differ {differ:.3?}",
        missing.len(),
        extra.len(),
        differ.len()
    );
}

/// Stages `changes` (one JSON object each) for `notes`.
#[track_caller]
fn stage(ws: &Workspace, db: &Database, changes: &[Value]) {
    let file = ws.path().join("changes.jsonl");
    let lines: String = changes.iter().map(|c| format!("{c}\n")).collect();
    std::fs::write(&file, lines).expect("write changes");
    let file = file.display().to_string();
    assert_success(
        &synchost(
            ws,
            db,
            &["stage", SOURCE, "--stream", TABLE, "--file", &file],
        )
        .output(),
    );
}

/// Updates of the stored rows `ids`: each row's JSON with `field` set to
/// `value(id)`.
fn updates(
    ws: &Workspace,
    ids: &[String],
    field: &str,
    value: impl Fn(&str) -> String,
) -> Vec<Value> {
    let rows: BTreeMap<String, Value> = export(ws, SOURCE, &[])
        .into_iter()
        .map(|r| {
            let row = serde_json::from_str(r["content"].as_str().expect("a JSON row")).unwrap();
            (r["id"].as_str().expect("an id").to_owned(), row)
        })
        .collect();
    ids.iter()
        .map(|id| {
            let mut row = rows
                .get(id)
                .unwrap_or_else(|| panic!("no stored row {id}"))
                .clone();
            row[field] = json!(value(id));
            json!({"op": "update", "id": id, "content": row.to_string()})
        })
        .collect()
}

/// `n` creations of rows titled `PREFIX-i`, without ids (the plugin derives them).
fn creates(prefix: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let row = json!({"title": format!("{prefix}-{i}"), "body": "created", "done": false});
            json!({"op": "create", "content": row.to_string()})
        })
        .collect()
}

/// A table of `rows` rows pulled into a fresh store, and the stored ids.
fn pulled_table(rows: u32) -> (Database, Workspace, Vec<String>) {
    let db = Database::start(rows, &[]);
    let ws = Workspace::new();
    write_config(&ws, &db, "", false);
    pull(&ws, &db, &["--page-size", "1000"]);
    let ids = some_ids(&ws, rows as usize);
    (db, ws, ids)
}

/// Ids of the first `n` stored rows, in id order.
fn some_ids(ws: &Workspace, n: usize) -> Vec<String> {
    stored(ws).into_keys().take(n).collect()
}

/// The rows' titles, by id, read straight from PostgreSQL.
fn titles(db: &Database) -> BTreeMap<String, String> {
    db.sql(&format!("select id::text, title from {TABLE}"))
        .into_iter()
        .map(|row| (row[0].clone().unwrap(), row[1].clone().unwrap_or_default()))
        .collect()
}

// ---------------------------------------------------------------------------
// Pull

/// 2,500 rows through pages the server cuts at 300 rows (max-rows) while the
/// host asks for 1,000: a short page is not the end, the keyset continues.
#[test]
fn full_pull_equals_the_table_byte_for_byte() {
    let db = Database::start(2_500, &["--max-rows", "300"]);
    let ws = Workspace::new();
    write_config(&ws, &db, "", false);
    pull(&ws, &db, &["--page-size", "1000"]);
    assert_store_is_table(&ws, &db);
    let selects: Vec<String> = db
        .table_requests()
        .into_iter()
        .filter(|(method, _)| method == "GET")
        .map(|(_, query)| query)
        .collect();
    // 9 pages of 300 (the last of 100), then the empty page that ends it.
    assert_eq!(selects.len(), 10, "{selects:#?}");
    assert!(
        selects.iter().all(|q| q.contains("limit=1000")),
        "{selects:#?}"
    );
    assert!(
        selects.iter().skip(1).all(|q| q.contains("or=")),
        "later pages continue after a keyset: {selects:#?}"
    );
    // A second pull changes nothing.
    let again = pull(&ws, &db, &["--json"]);
    assert_eq!(summary_of(&again)["summary"]["counts"]["written"], 0);
}

#[test]
fn page_size_from_the_environment_is_honoured() {
    let db = Database::start(100, &[]);
    let ws = Workspace::new();
    write_config(&ws, &db, "", false);
    assert_success(
        &synchost(&ws, &db, &["pull", SOURCE])
            .env("SYNCHOST_PAGE_SIZE", "37")
            .output(),
    );
    assert_store_is_table(&ws, &db);
    let selects: Vec<String> = db
        .table_requests()
        .into_iter()
        .filter(|(method, _)| method == "GET")
        .map(|(_, query)| query)
        .collect();
    assert_eq!(
        selects.len(),
        4,
        "37 + 37 + 26 + the empty page: {selects:#?}"
    );
    assert!(
        selects.iter().all(|q| q.contains("limit=37")),
        "{selects:#?}"
    );
}

/// Inserts, updates and soft deletes after a pull: the delta lists only
/// what changed (and the overlap window), and soft-deleted rows become
/// tombstones.
#[test]
fn delta_sees_inserts_updates_and_soft_deletes() {
    let db = Database::start(500, &[]);
    let ws = Workspace::new();
    // `done` as the soft-delete column: a done row is deleted. The seeded
    // rows' timestamps span 5 minutes, the default overlap: a short one
    // keeps the delta to the changes.
    write_config(
        &ws,
        &db,
        "soft_delete_column = \"done\"\ndelta_overlap_seconds = 5",
        false,
    );
    pull(&ws, &db, &["--page-size", "100"]);
    let open = |db: &Database| -> BTreeSet<String> {
        db.sql(&format!("select id::text from {TABLE} where not done"))
            .into_iter()
            .map(|row| row[0].clone().unwrap())
            .collect()
    };
    let stored_ids = |ws: &Workspace| stored(ws).into_keys().collect::<BTreeSet<_>>();
    assert_eq!(stored_ids(&ws), open(&db), "done rows are not stored");

    let changed = db
        .fake
        .mutate_with(&json!({"table": TABLE, "update": 20, "soft_delete": 10, "create": 15}));
    db.fake.reset_stats();
    let out = pull(&ws, &db, &["--json"]);
    let counts = &summary_of(&out)["summary"]["counts"];
    let soft_deleted: BTreeSet<String> = changed["soft_deleted"]
        .as_array()
        .expect("soft-deleted ids")
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(soft_deleted.len(), 10, "{changed}");
    assert!(
        soft_deleted.is_subset(&tombstones(&ws)),
        "soft deletes are tombstones"
    );
    assert_eq!(stored_ids(&ws), open(&db));
    let truth = db.truth();
    for (id, row) in stored(&ws) {
        assert_eq!(Some(&row), truth.get(&id), "row {id} as stored");
    }
    assert_eq!(counts["deleted"], 10, "{counts}");
    // The changes (45 rows, one transaction) fit one page, then the empty
    // page; and one read of the table list.
    assert!(db.fake.requests() <= 3, "{}", db.fake.stats());
}

/// `--check-deletions` without a soft-delete column lists ids and versions
/// only and tombstones rows deleted for good.
#[test]
fn check_deletions_finds_hard_deletes_with_an_ids_only_listing() {
    let db = Database::start(300, &[]);
    let ws = Workspace::new();
    write_config(&ws, &db, "", false);
    pull(&ws, &db, &[]);
    let changed = db.fake.mutate_with(&json!({"table": TABLE, "delete": 7}));
    let deleted: BTreeSet<String> = changed["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    pull(&ws, &db, &["--check-deletions"]);
    assert_eq!(tombstones(&ws), deleted);
    assert_store_is_table(&ws, &db);
    let listing: Vec<String> = db
        .table_requests()
        .into_iter()
        .filter(|(method, query)| method == "GET" && !query.contains("id=in."))
        .map(|(_, query)| query)
        .collect();
    assert!(
        listing
            .iter()
            .rev()
            .take(2)
            .all(|q| q.contains("select=id%2Cupdated_at") || q.contains("select=id,updated_at")),
        "the deletion check lists ids and versions only: {listing:#?}"
    );
}

/// A long transaction inserts rows whose `updated_at` (its start) is
/// earlier than rows committed meanwhile; a pull in between sees only the
/// latter. The overlap window finds the late rows on the next delta;
/// without it (`delta_overlap_seconds = 0`) they are missed, which is the
/// bug the window exists for.
#[test]
fn a_row_committed_late_by_a_long_transaction_is_not_missed() {
    let db = Database::start(200, &[]);
    let (with_overlap, without) = (Workspace::new(), Workspace::new());
    write_config(&with_overlap, &db, "", false);
    write_config(&without, &db, "delta_overlap_seconds = 0", false);
    for ws in [&with_overlap, &without] {
        pull(ws, &db, &[]);
    }
    let late = db
        .fake
        .mutate_with(&json!({"late_commit": {"table": TABLE, "rows": 5, "hold_ms": 600_000}}));
    let late_ids: BTreeSet<String> = late["late_commit"]["ids"]
        .as_array()
        .expect("late ids")
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    db.fake.mutate_with(&json!({"table": TABLE, "update": 10}));
    for ws in [&with_overlap, &without] {
        pull(ws, &db, &[]);
        assert!(
            late_ids.iter().all(|id| !stored(ws).contains_key(id)),
            "not committed yet"
        );
    }
    db.fake.mutate_with(&json!({"release_late": true}));
    for ws in [&with_overlap, &without] {
        pull(ws, &db, &[]);
    }
    assert_store_is_table(&with_overlap, &db);
    let missed: Vec<&String> = late_ids
        .iter()
        .filter(|id| !stored(&without).contains_key(*id))
        .collect();
    assert_eq!(
        missed.len(),
        5,
        "without an overlap the late rows are missed"
    );
}

#[test]
fn a_missing_table_or_column_is_named_before_anything_is_stored() {
    let db = Database::start(10, &[]);
    let ws = Workspace::new();
    ws.write_config(&format!(
        "[sources.{SOURCE}]\nplugin = {}\n\n[sources.{SOURCE}.auth]\ntype = \"supabase\"\n\
         key_env = \"{KEY_VAR}\"\n\n[sources.{SOURCE}.settings]\nbase_url = {}\n\
         tables = \"notes, nope\"\n",
        toml_str(&plugin_path("supabase").display().to_string()),
        toml_str(db.fake.url()),
    ));
    let err = assert_exit_code(&synchost(&ws, &db, &["pull", SOURCE]).output(), 2);
    assert!(err.contains("nope"), "{err}");
    write_config(
        &ws,
        &db,
        "[sources.db.settings.notes]\nchange_column = \"edited_at\"",
        false,
    );
    let err = assert_exit_code(&synchost(&ws, &db, &["pull", SOURCE]).output(), 2);
    assert!(err.contains("edited_at"), "{err}");
    assert_eq!(db.table_requests().len(), 0, "no row was read");
}

// ---------------------------------------------------------------------------
// Push

/// 1,000 changes (400 creates, 400 updates, 200 deletes) land exactly: the
/// creates in one bulk insert, each update and delete once; a pull
/// afterwards finds the store equal to the table.
#[test]
fn a_push_of_1000_mixed_changes_lands_exactly() {
    let (db, ws, ids) = pulled_table(600);
    let mut changes = creates("created", 400);
    changes.extend(updates(&ws, &ids[..400], "title", |id| {
        format!("updated-{id}")
    }));
    changes.extend(
        ids[400..]
            .iter()
            .map(|id| json!({"op": "delete", "id": id})),
    );
    stage(&ws, &db, &changes);
    db.fake.reset_stats();
    let out = assert_success(&synchost(&ws, &db, &["push", SOURCE, "--json"]).output());
    let summary = &summary_of(&out)["summary"];
    assert_eq!(summary["applied"], 1000, "{summary}");

    let stats = db.fake.stats();
    assert_eq!(stats["insert"], 1, "one bulk insert: {stats}");
    assert_eq!(stats["update"], 400, "{stats}");
    assert_eq!(stats["delete"], 200, "{stats}");
    let titles = titles(&db);
    assert_eq!(titles.len(), 800, "600 - 200 deleted + 400 created");
    for i in 0..400 {
        let title = format!("created-{i}");
        assert_eq!(
            titles.values().filter(|t| **t == title).count(),
            1,
            "{title}"
        );
    }
    for id in &ids[..400] {
        assert_eq!(titles[id], format!("updated-{id}"));
    }
    assert!(ids[400..].iter().all(|id| !titles.contains_key(id)));
    // The store already holds what the push wrote: nothing to write.
    let again = pull(&ws, &db, &["--json"]);
    assert_eq!(
        summary_of(&again)["summary"]["counts"]["written"],
        0,
        "{again}"
    );
    assert_store_is_table(&ws, &db);
}

/// Someone else updates a row after the pull: the local update is a
/// conflict, the remote row is untouched, and both sides are kept.
#[test]
fn a_concurrent_remote_update_is_a_conflict_and_overwrites_nothing() {
    let db = Database::start(50, &[]);
    let ws = Workspace::new();
    write_config(&ws, &db, "", false);
    pull(&ws, &db, &[]);
    let ids = some_ids(&ws, 3);
    let changes = updates(&ws, &ids, "title", |_| "local edit".into());
    stage(&ws, &db, &changes);
    db.sql(&format!(
        "update {TABLE} set title = 'remote edit' where id = '{}'",
        ids[1]
    ));
    let out = synchost(&ws, &db, &["push", SOURCE, "--json"]).output();
    assert_exit_code(&out, 1);
    let summary = summary_of(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(summary["summary"]["applied"], 2, "{summary}");
    assert_eq!(summary["summary"]["conflicts"], 1, "{summary}");
    let titles = titles(&db);
    assert_eq!(titles[&ids[0]], "local edit");
    assert_eq!(
        titles[&ids[1]], "remote edit",
        "the remote row is untouched"
    );
    assert_eq!(titles[&ids[2]], "local edit");

    let listed: Value = serde_json::from_str(&assert_success(
        &synchost(&ws, &db, &["conflicts", "--json"]).output(),
    ))
    .expect("conflicts --json is JSON");
    let conflicts = listed["conflicts"].as_array().expect("a list");
    assert_eq!(conflicts.len(), 1, "{listed}");
    let conflict = &conflicts[0];
    assert_eq!(conflict["record_id"], ids[1].as_str());
    assert!(conflict["local"]["content"]
        .as_str()
        .unwrap()
        .contains("local edit"));
    assert!(conflict["remote"]["content"]
        .as_str()
        .unwrap()
        .contains("remote edit"));
    let diff = conflict["diff"].as_str().unwrap();
    assert!(diff.contains("-  \"title\": \"remote edit\""), "{diff}");
    assert!(diff.contains("+  \"title\": \"local edit\""), "{diff}");
}

/// With a user's JWT, a policy refuses one of the changes: that change
/// fails naming row-level security, the others land. With the anon key,
/// which may write nothing, every change is refused: exit 3, all kept.
#[test]
fn row_level_security_refuses_a_row_and_the_rest_lands() {
    let db = Database::start(40, &[]);
    db.sql(&format!(
        "create policy no_secrets on {TABLE} as restrictive for update to authenticated \
         using (true) with check (title not like 'secret%')"
    ));
    let ws = Workspace::new();
    write_config(&ws, &db, "", true);
    let jwt = db.user_jwt();
    assert_success(
        &synchost(&ws, &db, &["pull", SOURCE])
            .env(JWT_VAR, &jwt)
            .output(),
    );
    let ids = some_ids(&ws, 5);
    let mut changes = updates(&ws, &ids[..4], "title", |_| "fine".into());
    changes.extend(updates(&ws, &ids[4..], "title", |_| "secret plan".into()));
    stage(&ws, &db, &changes);
    let out = synchost(&ws, &db, &["push", SOURCE, "--json"])
        .env(KEY_VAR, &db.anon_key)
        .env(JWT_VAR, &jwt)
        .output();
    assert_exit_code(&out, 1);
    let summary = &summary_of(&String::from_utf8_lossy(&out.stdout))["summary"];
    assert_eq!(summary["applied"], 4, "{summary}");
    assert_eq!(summary["failed"], 1, "{summary}");
    let problems = summary["problems"].to_string();
    assert!(problems.contains("row-level security"), "{problems}");
    let titles = titles(&db);
    assert!(ids[..4].iter().all(|id| titles[id] == "fine"));
    assert_ne!(titles[&ids[4]], "secret plan");

    // The anon key writes nothing: every change is refused, the run stops.
    write_config(&ws, &db, "", false);
    pull(&ws, &db, &[]);
    let more = updates(&ws, &ids[..3], "body", |_| "anon".into());
    stage(&ws, &db, &more);
    let out = synchost(&ws, &db, &["push", SOURCE])
        .env(KEY_VAR, &db.anon_key)
        .output();
    let err = assert_exit_code(&out, 3);
    assert!(err.contains("row-level security"), "{err}");
    let bodies = db.sql(&format!("select count(*) from {TABLE} where body = 'anon'"));
    assert_eq!(bodies[0][0].as_deref(), Some("0"));
    // The changes wait: with the service key they land.
    assert_success(&synchost(&ws, &db, &["push", SOURCE]).output());
    let bodies = db.sql(&format!("select count(*) from {TABLE} where body = 'anon'"));
    assert_eq!(bodies[0][0].as_deref(), Some("3"));
}

/// kill -9 in the middle of a push of 600 creates and 300 updates (slowed
/// by latency, so the kill lands while requests are out), then a rerun:
/// every change is in the database exactly once.
#[test]
fn kill_9_during_a_push_then_a_rerun_applies_every_change_once() {
    let (db, ws, ids) = pulled_table(300);
    let mut changes = creates("kill", 600);
    changes.extend(updates(&ws, &ids, "body", |id| format!("pushed-{id}")));
    stage(&ws, &db, &changes);
    db.fake.set_faults(json!({"latency_ms": 300}));
    db.fake.reset_stats();
    let mut child = synchost(&ws, &db, &["push", SOURCE, "--concurrency", "4"]).start();
    wait_for("the push's first writes", Duration::from_secs(60), || {
        let stats = db.fake.stats();
        stats["insert"].as_u64().unwrap_or(0) + stats["update"].as_u64().unwrap_or(0) >= 5
    });
    kill9(&mut child);
    db.fake.set_faults(json!({"latency_ms": 0}));
    let out = synchost(&ws, &db, &["push", SOURCE, "--json"]).output();
    let summary = summary_of(&assert_success(&out));
    assert_eq!(summary["summary"]["failed"], 0, "{summary}");

    let counts = db.sql(&format!(
        "select count(*), count(distinct title) from {TABLE} where title like 'kill-%'"
    ));
    assert_eq!(counts[0][0].as_deref(), Some("600"), "each create once");
    assert_eq!(counts[0][1].as_deref(), Some("600"));
    let bodies: BTreeMap<String, String> = db
        .sql(&format!("select id::text, body from {TABLE}"))
        .into_iter()
        .map(|row| (row[0].clone().unwrap(), row[1].clone().unwrap_or_default()))
        .collect();
    for id in &ids {
        assert_eq!(bodies[id], format!("pushed-{id}"));
    }
    pull(&ws, &db, &[]);
    assert_store_is_table(&ws, &db);
}

// ---------------------------------------------------------------------------
// Hostile rows

/// Rows whose titles are terminal escapes and paths: the pull stores them
/// as data, prints nothing raw, and the mirror keeps every file inside.
#[test]
fn hostile_titles_stay_data_in_output_and_mirror() {
    let db = Database::start(5, &[]);
    db.sql(&format!(
        "insert into {TABLE} (id, title, body) values \
         ('00000000-0000-4000-8000-000000000001', E'\\x1b[2J\\x1b]0;pwned\\x07red\\r\\nFORGED', 'a'), \
         ('00000000-0000-4000-8000-000000000002', '../../../../etc/passwd', 'b'), \
         ('00000000-0000-4000-8000-000000000003', '/abs/path', 'c'), \
         ('00000000-0000-4000-8000-000000000004', '..', 'd')"
    ));
    let ws = Workspace::new();
    write_config(&ws, &db, "title_column = \"title\"", false);
    let out = synchost(&ws, &db, &["pull", SOURCE, "-v"]).output();
    let stdout = assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for text in [&stdout, &stderr.to_string()] {
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "raw control characters: {text:?}"
        );
    }
    assert_store_is_table(&ws, &db);
    let mirror = ws.path().join("mirror");
    let mirror_arg = mirror.display().to_string();
    assert_success(
        &synchost(
            &ws,
            &db,
            &["export", SOURCE, "--format", "files", "--out", &mirror_arg],
        )
        .output(),
    );
    let mut files = 0;
    let mut stack = vec![mirror.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            assert!(path.starts_with(&mirror), "{}", path.display());
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert!(!name.chars().any(char::is_control), "{name:?}");
            if path.is_dir() {
                stack.push(path);
            } else {
                files += 1;
            }
        }
    }
    assert!(files >= 9, "every row is a file in the mirror: {files}");
    assert!(!ws.path().join("etc/passwd").exists());
}
