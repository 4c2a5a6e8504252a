//! Both contract versions side by side (issue 10): a plugin built against
//! the frozen `synchost:source@0.1.0` (`tests/plugins/legacy-v01`, raw 0.1
//! bindings) still pulls everything, blobs included, and is shown as
//! pull-only; the example plugin, built with the SDK against 0.2, can push.
//! What 0.2 added to manifests shows in `plugin inspect`, and both released
//! contracts stay byte for byte as released.

mod support;

use std::collections::BTreeMap;
use std::process::Output;

use serde_json::Value;
use support::{
    assert_success, export, plugin_path, stored, str_field, FakeServer, Synchost, Workspace,
    TOKEN_VAR,
};

const TOKEN: &str = "legacy-s3cret";

/// `synchost pull --plugin legacy-v01` against `fake`, with its token.
fn pull_legacy(ws: &Workspace, fake: &FakeServer) -> Output {
    Synchost::new(ws)
        .args(["pull", "--plugin"])
        .arg(plugin_path("legacy-v01"))
        .arg("--set")
        .arg(format!("base_url={}", fake.url()))
        .args(["--auth-bearer-env", TOKEN_VAR])
        .env(TOKEN_VAR, TOKEN)
        .shared_cache()
        .output()
}

/// The stored blobs' bytes, by record id (one blob per record here).
fn stored_blobs(ws: &Workspace) -> BTreeMap<String, Vec<u8>> {
    let conn = rusqlite::Connection::open_with_flags(
        ws.store_path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the store");
    let mut stmt = conn
        .prepare(
            "SELECT rb.record_id, rb.name, b.path FROM record_blobs rb \
             JOIN blobs b ON b.hash = rb.hash",
        )
        .expect("prepare");
    let rows: Vec<(String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    rows.into_iter()
        .map(|(id, name, path)| {
            assert_eq!(name, "item.json", "blob of {id}");
            let bytes = std::fs::read(ws.blob_dir().join(path)).expect("read a blob");
            (id, bytes)
        })
        .collect()
}

/// A 0.1 plugin pulls the whole fake, then a delta: the store is the fake's
/// ground truth, with the remote's titles and contents, every fifth item's
/// blob downloaded by the host (0.1 blob references), and the deletions of
/// the delta (0.1 pages' `deleted` and watermark).
#[test]
fn a_contract_0_1_plugin_pulls_everything() {
    let fake = FakeServer::start("items", &["--count", "120", "--token", TOKEN]);
    let ws = Workspace::new();
    assert_success(&pull_legacy(&ws, &fake));

    let truth = fake.ground_truth();
    assert_eq!(truth.len(), 120);
    let records = export(&ws, "legacy-v01", &[]);
    assert_eq!(
        stored(&records).live,
        truth,
        "the store is the ground truth"
    );
    let bearer = format!("Bearer {TOKEN}");
    let auth = [("authorization", bearer.as_str())];
    for id in ["item-000001", "item-000060", "item-000120"] {
        let remote = fake.get(&format!("/items/{id}"), &auth).json();
        let local = records
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("{id} not exported"));
        assert_eq!(local["title"], remote["title"], "{id}");
        assert_eq!(local["content"], remote["content"], "{id}");
        assert_eq!(local["metadata"]["tags"], remote["tags"], "{id}");
    }

    let blobs = stored_blobs(&ws);
    let expected: Vec<String> = (1..=120)
        .filter(|n| n % 5 == 0)
        .map(|n| format!("item-{n:06}"))
        .collect();
    assert_eq!(blobs.keys().cloned().collect::<Vec<_>>(), expected);
    for (id, bytes) in &blobs {
        let item: Value = serde_json::from_slice(bytes).expect("the blob is the item's JSON");
        assert_eq!(str_field(&item, "id"), id);
    }

    let changed = fake.mutate(4, 3, 2);
    assert_success(&pull_legacy(&ws, &fake));
    let records = export(&ws, "legacy-v01", &[]);
    let store = stored(&records);
    assert_eq!(store.live, fake.ground_truth(), "the delta keeps it exact");
    let deleted: Vec<&str> = changed["deleted"]
        .as_array()
        .expect("deleted ids")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(deleted.len(), 3);
    for id in deleted {
        assert!(store.deleted.contains(id), "{id} is marked deleted");
    }
}

/// `plugin inspect --json` on `plugin`, parsed.
fn inspect_json(ws: &Workspace, plugin: &str) -> Value {
    let out = Synchost::new(ws)
        .args(["plugin", "inspect", "--json"])
        .arg(plugin_path(plugin))
        .shared_cache()
        .output();
    serde_json::from_str(&assert_success(&out)).expect("inspect --json is JSON")
}

fn inspect_text(ws: &Workspace, plugin: &str) -> String {
    let out = Synchost::new(ws)
        .args(["plugin", "inspect"])
        .arg(plugin_path(plugin))
        .shared_cache()
        .output();
    assert_success(&out)
}

/// `plugin inspect` says which contract a plugin implements and whether the
/// host can push with it: a 0.1 plugin is pull-only (even with a stream
/// that declares push), with what to do about it; a 0.2 plugin can push.
#[test]
fn plugin_inspect_tells_pull_only_plugins_from_those_that_push() {
    let ws = Workspace::new();

    let legacy = inspect_json(&ws, "legacy-v01");
    assert_eq!(str_field(&legacy, "contract"), "synchost:source@0.1.0");
    assert_eq!(legacy["can_push"], false);
    let why = str_field(&legacy, "push_refused");
    assert!(
        why.contains("implements synchost:source@0.1.0, which cannot push")
            && why.contains("synchost-sdk 0.2")
            && why.contains("it still pulls"),
        "{why}"
    );
    assert_eq!(
        legacy["streams"][0]["supports_push"], true,
        "the manifest is shown as the plugin declared it"
    );
    let text = inspect_text(&ws, "legacy-v01");
    assert!(
        text.contains("contract:      synchost:source@0.1.0 (pull-only)"),
        "{text}"
    );
    assert!(text.contains("cannot push"), "{text}");
    let stream = text
        .lines()
        .find(|line| line.trim_start().starts_with("items "))
        .unwrap_or_else(|| panic!("no stream line:\n{text}"));
    assert!(stream.ends_with("[delta]"), "no push shown: {stream}");

    let current = inspect_json(&ws, "example-items");
    assert!(
        str_field(&current, "contract").starts_with("synchost:source@0.2."),
        "{current}"
    );
    assert_eq!(current["can_push"], true);
    assert!(current["push_refused"].is_null(), "{current}");
    let text = inspect_text(&ws, "example-items");
    assert!(text.contains("(can push)"), "{text}");
    assert!(!text.contains("pull-only"), "{text}");
}

/// A 0.2 manifest says which credentials the plugin expects and how many
/// changes a push call takes; 0.1 manifests cannot, and say nothing.
#[test]
fn plugin_inspect_shows_the_declared_auth_and_push_batch() {
    let ws = Workspace::new();
    let confluence = inspect_json(&ws, "confluence");
    assert_eq!(confluence["auth"]["scheme"], "basic", "{confluence}");
    let env = confluence["auth"]["env"].as_array().expect("env pairs");
    let pairs: Vec<(&str, &str)> = env
        .iter()
        .map(|pair| (str_field(pair, "key"), str_field(pair, "variable")))
        .collect();
    assert_eq!(
        pairs,
        [
            ("username_env", "CONFLUENCE_EMAIL"),
            ("password_env", "CONFLUENCE_API_TOKEN")
        ]
    );
    assert_eq!(confluence["max_push_batch"], 50, "{confluence}");
    let text = inspect_text(&ws, "confluence");
    assert!(
        text.contains("auth:          type = basic; username_env = CONFLUENCE_EMAIL"),
        "{text}"
    );
    let github = inspect_json(&ws, "github");
    assert_eq!(github["auth"]["scheme"], "bearer", "{github}");
    assert_eq!(
        github["extra_hosts"],
        serde_json::json!(["https://codeload.github.com"])
    );
    assert!(inspect_text(&ws, "github").contains("extra hosts:   https://codeload.github.com"));
    assert!(inspect_json(&ws, "legacy-v01")["auth"].is_null());
    assert!(inspect_text(&ws, "legacy-v01").contains("auth:          none declared"));
}

/// Released contracts are frozen: third parties build against these files,
/// and a change to one would break their plugins silently. A change the
/// contract needs goes into a new version folder (`wit/v0.3`), with the
/// host loading the older ones; then add its hash here.
#[test]
fn released_contracts_never_change() {
    use sha2::{Digest as _, Sha256};
    let released = [
        (
            "v0.1",
            "8af7f13c2605123d07d3477f31b7fc8878adc2fbc6757cdafbfe8e7ef25e532f",
        ),
        (
            "v0.2",
            "f3c319b8a2e7b818db538c0060e4ff44661d25c19af3d3aaa5095534c2c7926e",
        ),
    ];
    for (version, expected) in released {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../wit")
            .join(version)
            .join("source.wit");
        let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let actual: String = Sha256::digest(&text)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            actual, expected,
            "wit/{version}/source.wit changed, but it is released and frozen: \
             put the change in a new version folder"
        );
    }
}
