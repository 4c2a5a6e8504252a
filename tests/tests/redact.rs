//! Redaction before storage (`[sources.NAME.redact]`): the original values
//! never reach the store file, its WAL, the blob directory, exports or
//! mirrors; `runs` counts what was replaced; and a change made from a
//! redacted record is refused rather than pushed over the remote's value.

mod support;

use std::fs;

use serde_json::json;
use support::{
    all_bytes, assert_exit_code, assert_success, create_item, export, items_config, json_output,
    output_text, FakeServer, Synchost, Workspace,
};

/// Values the remote holds that must never be stored.
const SECRETS: [&str; 5] = [
    "ana.lopez@example.com",
    "+44 20 7946 0958",
    "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB",
    "hunter2-staging",
    "Ana Lopez",
];

#[test]
fn redacted_values_are_nowhere_on_disk_and_are_counted() {
    let fake = FakeServer::start("items", &["--count", "20", "--seed", "9"]);
    create_item(
        &fake,
        "k1",
        "Call Ana at +44 20 7946 0958",
        "Contact ana.lopez@example.com. Deploy token ghp_0123456789abcdefghijklmnopqrstuvwxyzAB; \
         password: hunter2-staging. Released 2024-11-30 as version 1.2.3.",
        &["owner:ana.lopez@example.com", "Ana Lopez"],
    );
    let ws = Workspace::new();
    items_config(
        &ws,
        &fake,
        "[sources.items.redact]\n\
         detect = [\"email\", \"phone\", \"token\"]\n\
         content = ['password:\\s*\\S+']\n\
         metadata = [\"/tags/1\"]\n",
    );
    // A first pull creates the store; a reader held open across the second
    // keeps the WAL file (the last connection to close removes it), so the
    // second pull's WAL frames are checked too.
    let fresh = Synchost::new(&ws).args(["pull", "items"]).output();
    assert_success(&fresh);
    let reader = rusqlite::Connection::open(ws.store_path()).expect("open the store");
    let _: i64 = reader
        .query_row("SELECT count(*) FROM records", [], |row| row.get(0))
        .expect("read the store");
    create_item(
        &fake,
        "k2",
        "Again: ana.lopez@example.com",
        "+44 20 7946 0958",
        &["x"],
    );
    let out = Synchost::new(&ws).args(["pull", "items"]).output();
    assert_success(&out);
    let (_, stderr) = output_text(&fresh);

    let records = export(&ws, "items", &[]);
    assert_eq!(records.len(), 22, "every item is stored");
    let created = records
        .iter()
        .find(|r| {
            r["title"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Call Ana")
        })
        .expect("the created item");
    let content = created["content"].as_str().expect("content");
    assert!(
        content.contains("Released 2024-11-30 as version 1.2.3"),
        "text around the secrets is kept: {content}"
    );
    assert_eq!(created["title"], "Call Ana at [redacted]");
    assert_eq!(
        created["metadata"]["tags"],
        json!(["owner:[redacted]", "[redacted]"])
    );

    // Nowhere: the store, its WAL and shared memory, blobs, an export, a mirror.
    let mirror = ws.path().join("mirror");
    assert_success(
        &Synchost::new(&ws)
            .args(["export", "items", "--format", "files", "--out"])
            .arg(&mirror)
            .output(),
    );
    let jsonl = assert_success(&Synchost::run(
        &ws,
        &["export", "items", "--format", "jsonl"],
    ));
    let mut places = all_bytes(&ws.path().join(".synchost"));
    places.extend(all_bytes(&mirror));
    places.push(("export".into(), jsonl.into_bytes()));
    assert!(
        places.iter().any(|(name, _)| name.ends_with("-wal")),
        "the WAL is among the files checked: {:?}",
        places.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    drop(reader);
    for secret in SECRETS {
        for (name, bytes) in &places {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret:?} is in {name}"
            );
        }
    }

    // The pointer replaces the second tag of every item that has one.
    let second_tags = records
        .iter()
        .filter(|r| r["metadata"]["tags"][1] == "[redacted]")
        .count() as u64;
    assert!(second_tags > 1, "generated items have tags too");
    // Title phone, content email + token + password, the created item's tag email.
    let expected = 5 + second_tags;
    let runs = json_output(&ws, &["runs", "--json"]);
    assert_eq!(runs[1]["redacted"].as_u64(), Some(expected), "{}", runs[1]);
    // The second run: the new item's title email and content phone.
    assert_eq!(runs[0]["redacted"].as_u64(), Some(2), "{}", runs[0]);
    assert!(
        stderr.contains(&format!("{expected} values redacted")),
        "{stderr}"
    );
}

/// A change made from a redacted record (it still carries `[redacted]`) is
/// refused, naming the change; nothing is staged, nothing is sent.
#[test]
fn changes_carrying_the_redaction_are_refused() {
    let fake = FakeServer::start("items", &["--count", "3", "--seed", "2"]);
    let ws = Workspace::new();
    items_config(&ws, &fake, "[sources.items.redact]\ndetect = [\"email\"]\n");
    assert_success(&Synchost::new(&ws).args(["pull", "items"]).output());
    let change = json!({"op": "update", "id": "item-000001", "base_version": "1",
                        "title": "t", "content": "write to [redacted] please"});
    let file = ws.path().join("changes.jsonl");
    fs::write(&file, format!("{change}\n")).expect("write the change file");
    let out = Synchost::new(&ws)
        .args(["stage", "items", "--stream", "items", "--file"])
        .arg(&file)
        .output();
    let stderr = assert_exit_code(&out, 2);
    assert!(
        stderr.contains("item-000001") && stderr.contains("[redacted]"),
        "{stderr}"
    );
    let changes = json_output(&ws, &["changes", "--json"]);
    assert_eq!(
        changes["changes"].as_array().map(Vec::len),
        Some(0),
        "{changes}"
    );
}

/// Bad rules are refused when the config is read, naming the source.
#[test]
fn bad_redaction_rules_are_usage_errors() {
    let fake = FakeServer::start("items", &["--count", "1"]);
    let ws = Workspace::new();
    items_config(
        &ws,
        &fake,
        "[sources.items.redact]\ncontent = [\"(unclosed\"]\n",
    );
    let out = Synchost::new(&ws).args(["pull", "items"]).output();
    let stderr = assert_exit_code(&out, 2);
    assert!(
        stderr.contains("items") && stderr.contains("(unclosed"),
        "{stderr}"
    );
}
