//! Push end to end: the real `synchost` binary and the real plugins against
//! the fakes' write endpoints. Mirror edits, change files and SQL rows go
//! out exactly once; conflicts keep the remote untouched and every
//! `resolve` mode ends with the expected content on both sides; bad input
//! and bad plugin answers are refused with nothing sent or stored half-way.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use support::{
    assert_exit_code, assert_success, items_config, items_config_for, json_lines, output_text,
    plugin_path, summary_of, toml_str, FakeServer, Synchost, Workspace,
};

const EMAIL: &str = "push@example.com";
const TOKEN: &str = "push-e2e-t0ken";
const EMAIL_VAR: &str = "SYNCHOST_E2E_PUSH_EMAIL";
const TOKEN_VAR: &str = "SYNCHOST_E2E_PUSH_TOKEN";

fn sha(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn start_confluence(args: &[&str]) -> FakeServer {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--email", EMAIL, "--token", TOKEN]);
    FakeServer::start("confluence", &all)
}

fn confluence_config(ws: &Workspace, fake: &FakeServer, extra: &str) {
    ws.write_config(&format!(
        "[sources.docs]\nplugin = {}\n\n[sources.docs.settings]\nbase_url = {}\nspace = \"DOCS\"\n\n\
         [sources.docs.auth]\ntype = \"basic\"\nusername_env = \"{EMAIL_VAR}\"\npassword_env = \"{TOKEN_VAR}\"\n{extra}",
        toml_str(&plugin_path("confluence").display().to_string()),
        toml_str(fake.url()),
    ));
}

fn synchost<'a>(ws: &'a Workspace, args: &[&str]) -> Synchost<'a> {
    Synchost::new(ws)
        .args(args)
        .env(EMAIL_VAR, EMAIL)
        .env(TOKEN_VAR, TOKEN)
        .shared_cache()
}

/// The fake's pages by id: (version, sha256 of the body, title, parent).
fn pages(fake: &FakeServer) -> BTreeMap<String, (u64, String, String, Option<String>)> {
    fake.ground_truth_json()
        .as_array()
        .expect("ground truth is an array")
        .iter()
        .filter(|e| e["stream"] == "pages")
        .map(|e| {
            let version = match &e["version"] {
                Value::String(s) => s.parse().expect("numeric version"),
                v => v.as_u64().expect("numeric version"),
            };
            (
                e["id"].as_str().expect("id").to_string(),
                (
                    version,
                    e["sha256"].as_str().expect("sha256").to_string(),
                    e["title"].as_str().unwrap_or_default().to_string(),
                    e["parent_id"].as_str().map(str::to_string),
                ),
            )
        })
        .collect()
}

/// Mirror files holding a page's body, by page id.
fn page_files(mirror: &Path, fake: &FakeServer) -> BTreeMap<String, std::path::PathBuf> {
    let by_sha: BTreeMap<String, String> = pages(fake)
        .into_iter()
        .map(|(id, (_, sha, _, _))| (sha, id))
        .collect();
    let mut found = BTreeMap::new();
    let mut stack = vec![mirror.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().unwrap().to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if let Some(id) = by_sha.get(&sha(&fs::read(&path).unwrap())) {
                found.insert(id.clone(), path);
            }
        }
    }
    found
}

/// A Confluence fake with `pages` pages and `folders` folders (no
/// attachments), and a workspace whose source `docs` (its config plus
/// `extra`) has pulled it.
fn pulled_space(pages: u32, folders: u32, extra: &str) -> (FakeServer, Workspace) {
    let (pages, folders) = (pages.to_string(), folders.to_string());
    let fake = start_confluence(&[
        "--pages",
        &pages,
        "--folders",
        &folders,
        "--attachments-per-page",
        "0",
    ]);
    let ws = Workspace::new();
    confluence_config(&ws, &fake, extra);
    assert_success(&synchost(&ws, &["pull", "docs"]).output());
    (fake, ws)
}

/// Exports `docs` as files into `ws`'s `mirror/`: its path, and as an argument.
fn export_mirror(ws: &Workspace) -> (std::path::PathBuf, String) {
    let mirror = ws.path().join("mirror");
    let mirror_arg = mirror.display().to_string();
    assert_success(
        &synchost(
            ws,
            &["export", "docs", "--format", "files", "--out", &mirror_arg],
        )
        .output(),
    );
    (mirror, mirror_arg)
}

#[test]
fn mirror_edits_reach_confluence_exactly_and_a_pull_afterwards_fetches_nothing() {
    let (fake, ws) = pulled_space(30, 3, "");
    let (mirror, mirror_arg) = export_mirror(&ws);
    let before = pages(&fake);
    let files = page_files(&mirror, &fake);
    assert!(files.len() >= 6, "too few page files found: {files:?}");
    // Leaves only: deleting a page moves its children up (as Confluence does).
    let ids: Vec<&String> = files
        .keys()
        .filter(|id| {
            before
                .values()
                .all(|(_, _, _, parent)| parent.as_ref() != Some(*id))
        })
        .collect();
    assert!(ids.len() >= 4, "too few leaf pages: {ids:?}");

    // Edit three, delete one, add one below the first edited page.
    let mut edited = BTreeMap::new();
    for id in &ids[..3] {
        let body = format!("<p>edited {id} in the mirror</p>");
        fs::write(&files[*id], &body).unwrap();
        edited.insert((*id).clone(), sha(body.as_bytes()));
    }
    let deleted = ids[3].clone();
    fs::remove_file(&files[&deleted]).unwrap();
    let parent = ids[0].clone();
    let folder = files[&parent].with_extension("");
    fs::create_dir_all(&folder).unwrap();
    let new_body = "<p>a page written in the mirror</p>";
    fs::write(folder.join("Written Offline.html"), new_body).unwrap();
    // And one in a Confluence folder's directory: a page below the folder.
    let manifest: Value =
        serde_json::from_str(&fs::read_to_string(mirror.join(".synchost-mirror.json")).unwrap())
            .unwrap();
    let (folder_path, folder_id) = manifest["folders"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, f)| f["stream"] == "folders")
        .map(|(path, f)| (path.clone(), f["id"].as_str().unwrap().to_string()))
        .expect("a Confluence folder in the mirror");
    let in_folder_body = "<p>a page in a folder</p>";
    fs::write(
        mirror.join(&folder_path).join("In A Folder.html"),
        in_folder_body,
    )
    .unwrap();

    // Without --allow-deletes the removal is listed, not pushed.
    let dry = synchost(&ws, &["push", "docs", "--from", &mirror_arg, "--dry-run"]).output();
    let (dry_out, dry_err) = output_text(&dry);
    assert!(dry.status.success(), "{dry_out}{dry_err}");
    assert!(dry_err.contains("--allow-deletes"), "{dry_err}");
    assert_eq!(pages(&fake), before, "a dry run changed the remote");

    let out = synchost(
        &ws,
        &[
            "push",
            "docs",
            "--from",
            &mirror_arg,
            "--allow-deletes",
            "--json",
        ],
    )
    .output();
    let summary = summary_of(&assert_success(&out));
    assert_eq!(summary["summary"]["applied"], 6, "{summary}");

    let after = pages(&fake);
    for (id, (version, body_sha, title, parent_id)) in &before {
        if id == &deleted {
            assert!(!after.contains_key(id), "page {id} was not deleted");
        } else if let Some(new_sha) = edited.get(id) {
            let now = &after[id];
            assert_eq!(
                (now.0, &now.1),
                (version + 1, new_sha),
                "page {id} not updated exactly once"
            );
            assert_eq!(
                (&now.2, &now.3),
                (title, parent_id),
                "page {id} moved or renamed"
            );
        } else {
            assert_eq!(
                &after[id], &before[id],
                "page {id} changed though not edited"
            );
        }
        let _ = body_sha;
    }
    let mut created: Vec<_> = after
        .iter()
        .filter(|(id, _)| !before.contains_key(*id))
        .map(|(_, page)| page.clone())
        .collect();
    created.sort_by(|a, b| a.2.cmp(&b.2));
    assert_eq!(
        created,
        [
            (
                1,
                sha(in_folder_body.as_bytes()),
                "In A Folder".to_string(),
                Some(folder_id)
            ),
            (
                1,
                sha(new_body.as_bytes()),
                "Written Offline".to_string(),
                Some(parent.clone())
            ),
        ],
        "exactly the two new pages, each once, below its parent"
    );

    // Nothing is pushed twice, and the next pull has nothing new to write.
    let again = synchost(&ws, &["push", "docs", "--from", &mirror_arg, "--json"]).output();
    assert_success(&again);
    assert_eq!(pages(&fake), after, "a second push changed the remote");
    let pulled = json_lines(&assert_success(
        &synchost(&ws, &["pull", "docs", "--json"]).output(),
    ));
    let pull_summary = pulled
        .iter()
        .find(|e| e["event"] == "summary")
        .expect("summary");
    let pages_written = pull_summary["summary"]["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stream"] == "pages")
        .map(|s| s["counts"]["written"].as_u64().unwrap())
        .unwrap();
    assert_eq!(
        pages_written, 0,
        "the pull after the push wrote pages again: {pull_summary}"
    );
    // The push is in the audit trail.
    let runs: Value = serde_json::from_str(&assert_success(
        &synchost(&ws, &["runs", "--json"]).output(),
    ))
    .unwrap();
    let push_run = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "push")
        .expect("a push run");
    assert_eq!(
        (push_run["applied"].as_u64(), push_run["outcome"].as_str()),
        (Some(6), Some("succeeded"))
    );
}

/// Stages one update per id, each with `content(id)`.
fn stage_updates(ws: &Workspace, ids: &[&str], content: impl Fn(&str) -> String) {
    let lines: String = ids
        .iter()
        .map(|id| json!({"op": "update", "id": id, "content": content(id)}).to_string() + "\n")
        .collect();
    let file = ws.path().join("changes.jsonl");
    fs::write(&file, lines).unwrap();
    let file_arg = file.display().to_string();
    assert_success(
        &synchost(
            ws,
            &["stage", "docs", "--stream", "pages", "--file", &file_arg],
        )
        .output(),
    );
}

#[test]
fn conflicts_keep_the_remote_and_each_resolve_mode_ends_as_asked() {
    let (fake, ws) = pulled_space(12, 0, "");
    let before = pages(&fake);
    let ids: Vec<&str> = before.keys().take(3).map(String::as_str).collect();
    stage_updates(&ws, &ids, |id| format!("<p>mine {id}</p>"));
    // Someone else edits the same pages first.
    fake.mutate_with(&json!({"update_ids": ids}));
    let theirs = pages(&fake);

    let out = synchost(&ws, &["push", "docs", "--json"]).output();
    let stderr = assert_exit_code(&out, 1);
    assert!(stderr.contains("synchost conflicts"), "{stderr}");
    let summary = summary_of(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(summary["summary"]["conflicts"], 3, "{summary}");
    assert_eq!(
        pages(&fake),
        theirs,
        "a conflicting push changed the remote"
    );

    let listed: Value = serde_json::from_str(&assert_success(
        &synchost(&ws, &["conflicts", "docs", "--json"]).output(),
    ))
    .unwrap();
    let conflicts = listed["conflicts"].as_array().expect("conflicts");
    assert_eq!(conflicts.len(), 3);
    let by_record: BTreeMap<&str, &Value> = conflicts
        .iter()
        .map(|c| (c["record_id"].as_str().unwrap(), c))
        .collect();
    for id in &ids {
        let c = by_record[id];
        assert_eq!(c["local"]["content"], format!("<p>mine {id}</p>"));
        assert_eq!(c["remote"]["version"], (theirs[*id].0).to_string());
        assert_eq!(c["base"]["version"], (before[*id].0).to_string());
        assert_eq!(
            sha(c["base"]["content"].as_str().unwrap().as_bytes()),
            before[*id].1
        );
        assert_eq!(
            sha(c["remote"]["content"].as_str().unwrap().as_bytes()),
            theirs[*id].1
        );
        let diff = c["diff"].as_str().unwrap();
        assert!(diff.contains(&format!("+<p>mine {id}</p>")), "{diff}");
    }
    let text = assert_success(&synchost(&ws, &["conflicts"]).output());
    assert!(
        text.contains("3 open conflicts") && text.contains("--- remote"),
        "{text}"
    );

    let conflict_id = |id: &str| by_record[id]["id"].as_i64().unwrap().to_string();
    assert_success(&synchost(&ws, &["resolve", &conflict_id(ids[0]), "--keep", "local"]).output());
    assert_success(&synchost(&ws, &["resolve", &conflict_id(ids[1]), "--keep", "remote"]).output());
    let merged = ws.path().join("merged.html");
    fs::write(&merged, "<p>merged by hand</p>").unwrap();
    let merged_arg = merged.display().to_string();
    assert_success(
        &synchost(
            &ws,
            &["resolve", &conflict_id(ids[2]), "--with", &merged_arg],
        )
        .output(),
    );
    // A resolved conflict cannot be resolved again.
    let again = synchost(&ws, &["resolve", &conflict_id(ids[0]), "--keep", "remote"]).output();
    assert!(assert_exit_code(&again, 2).contains("already resolved"));

    assert_success(&synchost(&ws, &["push", "docs"]).output());
    let after = pages(&fake);
    assert_eq!(
        after[ids[0]].1,
        sha(format!("<p>mine {}</p>", ids[0]).as_bytes())
    );
    assert_eq!(after[ids[0]].0, theirs[ids[0]].0 + 1);
    assert_eq!(
        after[ids[1]], theirs[ids[1]],
        "--keep remote changed the remote"
    );
    assert_eq!(after[ids[2]].1, sha(b"<p>merged by hand</p>"));
    // The store holds what the remote holds.
    let exported = support::export(&ws, "docs", &[]);
    for id in &ids {
        let record = exported
            .iter()
            .find(|r| r["stream"] == "pages" && r["id"] == *id)
            .unwrap();
        assert_eq!(record["version"], after[*id].0.to_string(), "{record}");
        assert_eq!(
            record["content_hash"].as_str(),
            Some(after[*id].1.as_str()),
            "{record}"
        );
    }
    let listed = assert_success(&synchost(&ws, &["conflicts"]).output());
    assert!(listed.contains("No open conflicts"), "{listed}");
    // Each change keeps its history.
    let changes: Value = serde_json::from_str(&assert_success(
        &synchost(&ws, &["changes", "docs", "--all", "--json", "--history"]).output(),
    ))
    .unwrap();
    let first = changes["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["record_id"] == ids[0] && c["state"] == "dropped")
        .expect("the conflicting change, dropped by its resolution");
    let steps: Vec<&str> = first["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        ["pending", "in_flight", "conflict", "dropped"],
        "{first}"
    );
}

#[test]
fn bad_change_input_is_refused_whole_and_nothing_is_sent() {
    let (fake, ws) = pulled_space(5, 0, "\n[sources.docs.limits]\nmax_response_mb = 1\n");
    let id = pages(&fake).keys().next().unwrap().clone();
    let big = "x".repeat(1024 * 1024 + 1);
    for (input, why) in [
        (
            format!(
                "{}\n{{\"op\":\"update\"",
                json!({"op":"update","id":id,"content":"a"})
            ),
            "line 2",
        ),
        (
            json!({"op":"update","id":"no-such-page","content":"a"}).to_string(),
            "no stored record",
        ),
        (
            json!({"op":"update","id":id,"content":big}).to_string(),
            "limits.max_response_mb",
        ),
        (json!({"op":"rename","id":id}).to_string(), "unknown op"),
    ] {
        let file = ws.path().join("bad.jsonl");
        fs::write(&file, &input).unwrap();
        let file_arg = file.display().to_string();
        let out = synchost(
            &ws,
            &["stage", "docs", "--stream", "pages", "--file", &file_arg],
        )
        .output();
        let stderr = assert_exit_code(&out, 2);
        assert!(
            stderr.contains(why) && stderr.contains("nothing was staged"),
            "{why}: {stderr}"
        );
    }
    let status: Value = serde_json::from_str(&assert_success(
        &synchost(&ws, &["status", "--json"]).output(),
    ))
    .unwrap();
    assert!(
        status
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["outbox"]["pending"] == 0),
        "{status}"
    );

    // Rows written straight into the outbox are checked when pushed.
    let conn = rusqlite::Connection::open(ws.store_path()).unwrap();
    conn.execute_batch(&format!(
        "INSERT INTO changes (source, stream, op, record_id, content) VALUES ('docs', 'nosuch', 'update', '{id}', X'41');
         INSERT INTO changes (source, stream, op, content) VALUES ('docs', 'pages', 'update', X'41');
         INSERT INTO changes (source, stream, op, record_id, content) VALUES ('docs', 'pages', 'update', 'ghost', X'41');
         INSERT INTO changes (source, stream, op, record_id, content) VALUES ('docs', 'comments', 'update', '{id}', X'41');
         INSERT INTO changes (source, stream, op, record_id, content, metadata) VALUES ('docs', 'pages', 'update', '{id}', X'41', '[1]');"
    ))
    .unwrap();
    drop(conn);
    fake.reset_stats();
    let before = pages(&fake);
    let out = synchost(&ws, &["push", "docs"]).output();
    let stderr = assert_exit_code(&out, 1);
    for why in [
        "unknown stream `nosuch`",
        "needs the item's id",
        "unknown record `ghost`",
        "does not support push",
        "not a JSON object",
    ] {
        assert!(stderr.contains(why), "{why}: {stderr}");
    }
    assert_eq!(pages(&fake), before, "refused changes reached the remote");
    let stats = fake.stats();
    assert_eq!(
        stats["counters"]["page_update"].as_u64().unwrap_or(0),
        0,
        "{stats}"
    );
}

#[test]
fn example_plugin_pushes_exactly_once_through_lost_answers() {
    pushes_exactly_once_through_lost_answers(&plugin_path("example-items"));
}

/// The same with the JavaScript example (`examples/js-items`).
#[test]
fn js_example_pushes_exactly_once_through_lost_answers() {
    pushes_exactly_once_through_lost_answers(&plugin_path("js-items"));
}

/// Updates, deletions and creations pushed by `plugin` (an items plugin)
/// while the fake loses 30% of the answers to writes: pushing again until
/// it succeeds applies each change exactly once.
fn pushes_exactly_once_through_lost_answers(plugin: &Path) {
    let fake = FakeServer::start("items", &["--count", "40", "--lost-write-rate", "0.3"]);
    let ws = Workspace::new();
    items_config_for(&ws, &fake, plugin, "");
    let run = |args: &[&str]| Synchost::new(&ws).args(args).shared_cache().output();
    assert_success(&run(&["pull", "items"]));
    let truth_before = fake.ground_truth_json();
    let ids: Vec<String> = truth_before
        .as_array()
        .unwrap()
        .iter()
        .take(12)
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    let mut lines = String::new();
    for id in &ids[..8] {
        lines +=
            &(json!({"op": "update", "id": id, "content": format!("new {id}")}).to_string() + "\n");
    }
    for id in &ids[8..10] {
        lines += &(json!({"op": "delete", "id": id}).to_string() + "\n");
    }
    for n in 0..5 {
        lines +=
            &(json!({"op": "create", "title": format!("made {n}"), "content": format!("made {n}")})
                .to_string() + "\n");
    }
    let file = ws.path().join("changes.jsonl");
    fs::write(&file, lines).unwrap();
    let file_arg = file.display().to_string();
    assert_success(&run(&[
        "stage", "items", "--stream", "items", "--file", &file_arg,
    ]));
    // Lost answers leave changes in flight; pushing again settles them.
    let mut out = run(&["push", "items"]);
    for _ in 0..5 {
        if out.status.success() {
            break;
        }
        out = run(&["push", "items"]);
    }
    assert_success(&out);
    let truth = fake.ground_truth_json();
    let entries = truth.as_array().unwrap();
    for id in &ids[..8] {
        let e = entries.iter().find(|e| e["id"] == *id).unwrap();
        let old = truth_before
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == *id)
            .unwrap();
        assert_eq!(
            e["sha256"].as_str().unwrap(),
            sha(format!("new {id}").as_bytes())
        );
        let version = |v: &Value| {
            v["version"]
                .as_str()
                .map(|s| s.parse::<u64>().unwrap())
                .or(v["version"].as_u64())
                .unwrap()
        };
        assert_eq!(
            version(e),
            version(old) + 1,
            "item {id} updated more than once: {e}"
        );
    }
    for id in &ids[8..10] {
        assert!(
            entries.iter().all(|e| e["id"] != *id),
            "item {id} not deleted"
        );
    }
    for n in 0..5 {
        let made: Vec<_> = entries
            .iter()
            .filter(|e| e["title"] == format!("made {n}"))
            .collect();
        assert_eq!(made.len(), 1, "create {n} applied {} times", made.len());
    }
    assert!(
        fake.stats()["lost_writes"].as_u64().unwrap() > 0,
        "no answer was lost: the test proves nothing"
    );
}

/// A workspace whose source `hostile` runs the hostile plugin's `attack`,
/// pulled (3 items at version 1) with `changes` staged.
fn hostile_workspace(attack: &str, fake: &FakeServer, changes: &[Value]) -> Workspace {
    let ws = Workspace::new();
    ws.write_config(&support::hostile_source(attack, fake.url(), ""));
    assert_success(
        &Synchost::new(&ws)
            .args(["pull", "hostile"])
            .shared_cache()
            .output(),
    );
    let file = ws.path().join("changes.jsonl");
    let lines: String = changes.iter().map(|c| c.to_string() + "\n").collect();
    fs::write(&file, lines).unwrap();
    let file_arg = file.display().to_string();
    assert_success(
        &Synchost::new(&ws)
            .args(["stage", "hostile", "--stream", "items", "--file", &file_arg])
            .output(),
    );
    ws
}

/// (state, error) of every change, by change id.
fn change_states(ws: &Workspace) -> Vec<(String, Option<String>)> {
    let conn = rusqlite::Connection::open(ws.store_path()).unwrap();
    let mut statement = conn
        .prepare("SELECT state, error FROM changes ORDER BY id")
        .unwrap();
    let rows = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap();
    rows.collect::<rusqlite::Result<_>>().unwrap()
}

/// The stored items as (id, version), live only.
fn stored_items(ws: &Workspace) -> Vec<(String, String)> {
    support::export(ws, "hostile", &[])
        .iter()
        .filter(|r| r["deleted"] == false)
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["version"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn bad_push_answers_store_nothing_and_leave_the_changes_to_reconcile() {
    let fake = FakeServer::start("items", &["--count", "1"]);
    let update = |id: &str| json!({"op": "update", "id": id, "content": format!("new {id}")});
    let original: Vec<(String, String)> = (1..=3)
        .map(|n| (format!("item-00000{n}"), "1".to_string()))
        .collect();
    for (attack, why) in [
        ("push-fewer-outcomes", "with 1 outcomes"),
        ("push-other-id", "with item `other-item-000001`"),
        ("push-conflict-other-id", "with item `other-item-000001`"),
        ("push-huge-record", "more than limits.max_response_mb"),
    ] {
        let ws = hostile_workspace(
            attack,
            &fake,
            &[update("item-000001"), update("item-000002")],
        );
        let out = Synchost::new(&ws)
            .args(["push", "hostile"])
            .shared_cache()
            .output();
        let stderr = assert_exit_code(&out, 1);
        assert!(stderr.contains(why), "{attack}: {stderr}");
        let states = change_states(&ws);
        assert_eq!(
            states[0].0, "in_flight",
            "{attack}: the first change's outcome is unknown: {states:?}"
        );
        let stored = stored_items(&ws);
        assert_eq!(stored[0], original[0], "{attack}: a bad answer was stored");
        assert!(
            stored.iter().all(|(id, _)| !id.starts_with("other-")),
            "{attack}: {stored:?}"
        );
        if attack == "push-fewer-outcomes" {
            assert_eq!(
                states[1].0, "in_flight",
                "a cut-short batch is all unknown: {states:?}"
            );
            assert_eq!(stored, original);
        } else {
            // The other change of the batch is settled as the plugin said.
            assert_eq!(states[1].0, "applied", "{attack}: {states:?}");
            assert_eq!(stored[1], ("item-000002".to_string(), "2".to_string()));
        }
    }

    // A hostile failure message reaches the terminal and the store escaped
    // and clipped.
    let ws = hostile_workspace("push-hostile-text", &fake, &[update("item-000001")]);
    let out = Synchost::new(&ws)
        .args(["push", "hostile"])
        .shared_cache()
        .output();
    let stderr = assert_exit_code(&out, 1);
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\u{7}'),
        "raw escapes reached the terminal"
    );
    assert!(
        stderr.len() < 64 * 1024,
        "an unbounded message reached the terminal: {} bytes",
        stderr.len()
    );
    let states = change_states(&ws);
    assert_eq!(states[0].0, "failed");
    let error = states[0].1.as_deref().unwrap();
    assert!(
        !error.contains('\u{1b}') && error.len() < 16 * 1024,
        "stored error: {} bytes",
        error.len()
    );

    // A reconcile answer of the wrong length settles nothing.
    let ws = hostile_workspace("reconcile-wrong-count", &fake, &[update("item-000001")]);
    let conn = rusqlite::Connection::open(ws.store_path()).unwrap();
    conn.execute("UPDATE changes SET state = 'in_flight'", [])
        .unwrap();
    drop(conn);
    let out = Synchost::new(&ws)
        .args(["push", "hostile"])
        .shared_cache()
        .output();
    let stderr = assert_exit_code(&out, 1);
    assert!(
        stderr.contains("reconcile of 1 changes with 2 answers"),
        "{stderr}"
    );
    assert_eq!(change_states(&ws)[0].0, "in_flight");
    assert_eq!(stored_items(&ws), original);
}

#[test]
fn a_contract_0_1_plugin_still_pulls_but_is_refused_a_push_clearly() {
    let fake = FakeServer::start("items", &["--count", "5"]);
    let ws = Workspace::new();
    ws.write_config(&format!(
        "[sources.old]\nplugin = {}\n[sources.old.settings]\nbase_url = {}\n",
        toml_str(&plugin_path("legacy-v01").display().to_string()),
        toml_str(fake.url())
    ));
    assert_success(
        &Synchost::new(&ws)
            .args(["pull", "old"])
            .shared_cache()
            .output(),
    );
    let file = ws.path().join("c.jsonl");
    fs::write(
        &file,
        json!({"op": "update", "id": "item-000001", "content": "x"}).to_string(),
    )
    .unwrap();
    let file_arg = file.display().to_string();
    assert_success(
        &Synchost::new(&ws)
            .args(["stage", "old", "--stream", "items", "--file", &file_arg])
            .output(),
    );
    let before = fake.ground_truth();
    let out = Synchost::new(&ws)
        .args(["push", "old"])
        .shared_cache()
        .output();
    let stderr = assert_exit_code(&out, 2);
    assert!(
        stderr.contains("synchost:source@0.1.0")
            && stderr.contains("rebuild it against synchost-sdk 0.2"),
        "{stderr}"
    );
    assert_eq!(fake.ground_truth(), before);
    assert_eq!(
        change_states(&ws)[0].0,
        "pending",
        "the change is kept for a rebuilt plugin"
    );
}

#[test]
fn ctrl_c_stops_a_push_with_130_and_the_rerun_finishes_exactly_once() {
    let fake = FakeServer::start("items", &["--count", "200", "--latency-ms", "40"]);
    let ws = Workspace::new();
    items_config(&ws, &fake, "");
    assert_success(
        &Synchost::new(&ws)
            .args(["pull", "items"])
            .shared_cache()
            .output(),
    );
    let before = fake.ground_truth_json();
    let ids: Vec<String> = before
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    let lines: String = ids
        .iter()
        .map(|id| {
            json!({"op": "update", "id": id, "content": format!("ctrl-c {id}")}).to_string() + "\n"
        })
        .collect();
    let file = ws.path().join("changes.jsonl");
    fs::write(&file, lines).unwrap();
    let file_arg = file.display().to_string();
    assert_success(
        &Synchost::new(&ws)
            .args(["stage", "items", "--stream", "items", "--file", &file_arg])
            .output(),
    );

    let mut child = Synchost::new(&ws)
        .args(["push", "items", "--json"])
        .shared_cache()
        .start();
    let (events_path, _) = ws.spawn_log_paths(0);
    support::wait_while_running(
        &ws,
        &mut child,
        "a first pushed batch",
        std::time::Duration::from_secs(60),
        || fs::read_to_string(&events_path).is_ok_and(|t| t.contains("\"pushed\"")),
    );
    support::sigint(&child);
    let status = support::wait_exit(&ws, &mut child, std::time::Duration::from_secs(60));
    assert_eq!(status.code(), Some(130), "{:?}", ws.last_spawn_logs());
    let applied_first = change_states(&ws)
        .iter()
        .filter(|(s, _)| s == "applied")
        .count();
    assert!(
        applied_first < ids.len(),
        "the push finished before Ctrl+C: the test proves nothing"
    );

    assert_success(
        &Synchost::new(&ws)
            .args(["push", "items"])
            .shared_cache()
            .output(),
    );
    assert!(change_states(&ws).iter().all(|(s, _)| s == "applied"));
    let truth = fake.ground_truth_json();
    for (old, new) in before
        .as_array()
        .unwrap()
        .iter()
        .zip(truth.as_array().unwrap())
    {
        let version = |v: &Value| v["version"].as_str().unwrap().parse::<u64>().unwrap();
        assert_eq!(new["id"], old["id"]);
        assert_eq!(
            version(new),
            version(old) + 1,
            "not applied exactly once: {new}"
        );
        assert_eq!(
            new["sha256"].as_str().unwrap(),
            sha(format!("ctrl-c {}", old["id"].as_str().unwrap()).as_bytes())
        );
    }
}

#[test]
fn an_edit_of_a_page_deleted_remotely_is_a_conflict_and_keep_local_creates_it_again() {
    let (fake, ws) = pulled_space(6, 0, "");
    let before = pages(&fake);
    let (id, (_, _, title, parent)) = before
        .iter()
        // A leaf whose title no other page has (Confluence keeps titles
        // unique per space; the generated space has a few repeats).
        .find(|(id, page)| {
            before.values().all(|p| p.3.as_deref() != Some(id.as_str()))
                && before.values().filter(|p| p.2 == page.2).count() == 1
        })
        .map(|(id, page)| (id.clone(), page.clone()))
        .expect("a leaf page with a unique title");
    stage_updates(&ws, &[&id], |_| "<p>kept locally</p>".to_string());
    let auth = format!("Basic {}", base64_basic(EMAIL, TOKEN));
    support::http(
        "DELETE",
        &format!("{}/wiki/api/v2/pages/{id}", fake.url()),
        &[("Authorization", &auth)],
        None,
    )
    .expect_status(204);

    let out = synchost(&ws, &["push", "docs"]).output();
    assert_exit_code(&out, 1);
    let listed: Value = serde_json::from_str(&assert_success(
        &synchost(&ws, &["conflicts", "--json"]).output(),
    ))
    .unwrap();
    let conflict = &listed["conflicts"][0];
    assert_eq!(
        (
            conflict["record_id"].as_str(),
            conflict["remote"]["deleted"].as_bool()
        ),
        (Some(id.as_str()), Some(true)),
        "{conflict}"
    );
    let conflict_id = conflict["id"].as_i64().unwrap().to_string();
    assert_success(&synchost(&ws, &["resolve", &conflict_id, "--keep", "local"]).output());
    assert_success(&synchost(&ws, &["push", "docs"]).output());
    let after = pages(&fake);
    let again: Vec<_> = after
        .iter()
        .filter(|(new_id, _)| !before.contains_key(*new_id))
        .collect();
    assert_eq!(again.len(), 1, "created again once: {again:?}");
    let (_, (version, body_sha, new_title, new_parent)) = again[0];
    assert_eq!(
        (
            *version,
            body_sha.clone(),
            new_title.clone(),
            new_parent.clone()
        ),
        (1, sha(b"<p>kept locally</p>"), title, parent)
    );
}

fn base64_basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

#[test]
fn hostile_remote_text_in_conflicts_reaches_the_terminal_escaped() {
    let (fake, ws) = pulled_space(3, 0, "");
    let before = pages(&fake);
    let (id, (version, _, title, _)) = before
        .iter()
        .next()
        .map(|(id, p)| (id.clone(), p.clone()))
        .unwrap();
    stage_updates(&ws, &[&id], |_| "<p>mine</p>".to_string());
    // Someone writes a body full of terminal escapes through the API.
    let hostile = "<p>\u{1b}]0;owned\u{7}\u{1b}[2J\u{1b}[31mred\r\nforged: line</p>";
    let body = json!({"id": id, "status": "current", "title": title,
                      "body": {"representation": "storage", "value": hostile},
                      "version": {"number": version + 1}});
    let auth = format!("Basic {}", base64_basic(EMAIL, TOKEN));
    support::http(
        "PUT",
        &format!("{}/wiki/api/v2/pages/{id}", fake.url()),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        Some(&body.to_string()),
    )
    .expect_status(200);
    assert_exit_code(&synchost(&ws, &["push", "docs"]).output(), 1);
    for args in [
        &["conflicts"][..],
        &["conflicts", "--json"],
        &["changes", "--all"],
    ] {
        let out = assert_success(&synchost(&ws, args).output());
        assert!(
            !out.contains('\u{1b}') && !out.contains('\u{7}'),
            "{args:?} printed raw escapes: {out:?}"
        );
    }
    let listed = assert_success(&synchost(&ws, &["conflicts"]).output());
    assert!(listed.contains("red"), "the remote side is shown: {listed}");
}

#[test]
fn credentials_refused_during_a_push_stop_it_with_3_and_keep_the_changes() {
    let fake = FakeServer::start("items", &["--count", "3", "--token", "right-token"]);
    let ws = Workspace::new();
    items_config(
        &ws,
        &fake,
        "[sources.items.auth]\ntype = \"bearer\"\ntoken_env = \"PUSH_E2E_ITEMS_TOKEN\"\n",
    );
    let run = |token: &str, args: &[&str]| {
        Synchost::new(&ws)
            .args(args)
            .env("PUSH_E2E_ITEMS_TOKEN", token)
            .shared_cache()
            .output()
    };
    assert_success(&run("right-token", &["pull", "items"]));
    let file = ws.path().join("c.jsonl");
    fs::write(
        &file,
        json!({"op": "update", "id": "item-000001", "content": "x"}).to_string(),
    )
    .unwrap();
    let file_arg = file.display().to_string();
    assert_success(&run(
        "right-token",
        &["stage", "items", "--stream", "items", "--file", &file_arg],
    ));
    let before = fake.ground_truth();
    let stderr = assert_exit_code(&run("wrong-token", &["push", "items"]), 3);
    assert!(stderr.contains("credentials"), "{stderr}");
    assert_eq!(fake.ground_truth(), before);
    assert_eq!(
        change_states(&ws)[0].0,
        "pending",
        "the change waits for the right credentials"
    );
    assert_success(&run("right-token", &["push", "items"]));
    assert_eq!(change_states(&ws)[0].0, "applied");
}

#[test]
fn export_keeps_an_unpushed_edit_and_the_push_reports_the_conflict() {
    let (fake, ws) = pulled_space(6, 0, "");
    let (mirror, mirror_arg) = export_mirror(&ws);
    let files = page_files(&mirror, &fake);
    let (id, file) = files
        .iter()
        .next()
        .map(|(id, f)| (id.clone(), f.clone()))
        .unwrap();
    fs::write(&file, "<p>edited, not pushed yet</p>").unwrap();
    // Meanwhile the page changes remotely and is pulled; export again.
    fake.mutate_with(&json!({"update_ids": [id]}));
    assert_success(&synchost(&ws, &["pull", "docs"]).output());
    let out = synchost(
        &ws,
        &["export", "docs", "--format", "files", "--out", &mirror_arg],
    )
    .output();
    let (_, stderr) = output_text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        "<p>edited, not pushed yet</p>",
        "export overwrote an edit"
    );
    assert!(
        stderr.contains("kept") && stderr.contains("edited here"),
        "{stderr}"
    );
    // The edit is still based on the version it was exported at: a conflict.
    let theirs = pages(&fake);
    assert_exit_code(
        &synchost(&ws, &["push", "docs", "--from", &mirror_arg]).output(),
        1,
    );
    assert_eq!(pages(&fake), theirs, "the remote edit was overwritten");
    let listed: Value = serde_json::from_str(&assert_success(
        &synchost(&ws, &["conflicts", "--json"]).output(),
    ))
    .unwrap();
    assert_eq!(listed["conflicts"][0]["record_id"], id.as_str());
}
