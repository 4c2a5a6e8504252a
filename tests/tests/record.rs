//! `pull --record DIR`: a pull of the example plugin against the items fake
//! writes every exchange as a cassette file, without the credentials, and
//! the SDK's test transport (`synchost_sdk::testing::replay`) answers the
//! plugin's requests from it with the fake gone.

mod support;

use std::path::Path;

use serde_json::Value;
use support::{assert_success, plugin_path, FakeServer, Synchost, Workspace, TOKEN_VAR};
use synchost_sdk::http;

/// The cassette's files, in name order.
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// `(id, version)` of every item, read as the example plugin reads them:
/// the listing page by page, then every item.
fn pull_natively(base: &str) -> Vec<(String, String)> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page: Value = http::Request::get(format!("{base}/items"))
            .query("limit", 2)
            .query_opt("cursor", cursor.as_deref())
            .send()
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .unwrap();
        for item in page["items"].as_array().unwrap() {
            ids.push(item["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let requests = ids
        .iter()
        .map(|id| http::Request::get(format!("{base}/items/{id}")))
        .collect();
    http::send_batch(requests)
        .into_iter()
        .map(|answer| {
            let item: Value = answer.unwrap().error_for_status().unwrap().json().unwrap();
            let field = |name: &str| item[name].as_str().unwrap().to_owned();
            (field("id"), field("version"))
        })
        .collect()
}

#[test]
fn a_recorded_pull_replays_without_the_fake() {
    let fake = FakeServer::start(
        "items",
        &["--count", "5", "--seed", "1", "--token", "s3cret"],
    );
    let base = fake.url().to_owned();
    let ws = Workspace::new();
    let cassette = ws.path().join("cassette");
    let pull = || {
        Synchost::new(&ws)
            .args(["pull", "--page-size", "2", "--plugin"])
            .arg(plugin_path("example-items"))
            .arg("--set")
            .arg(format!("base_url={base}"))
            .args(["--auth-bearer-env", TOKEN_VAR])
            .env(TOKEN_VAR, "s3cret")
            .arg("--record")
            .arg(&cassette)
            .output()
    };
    assert_success(&pull());

    let dir = cassette.join("example-items");
    let files = files(&dir);
    let names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    // 3 pages of at most 2, and 5 fetches, in the order they were sent.
    assert_eq!(names.len(), 8, "{names:?}");
    assert_eq!(names[0], "000001.json");
    assert_eq!(names[7], "000008.json");
    let first: Value = serde_json::from_str(&files[0].1).unwrap();
    assert_eq!(first["method"], "GET");
    assert_eq!(first["url"], format!("{base}/items?limit=2"));
    assert_eq!(first["status"], 200);
    for (name, text) in &files {
        assert!(!text.contains("s3cret"), "{name} holds the token: {text}");
    }
    let truth = fake.ground_truth();
    assert_eq!(truth.len(), 5);
    drop(fake);

    let replayed = synchost_sdk::testing::replay(&dir);
    assert_eq!(pull_natively(&base), truth);
    assert_eq!(replayed.sent().len(), 8, "every exchange answered once");

    // A second recording into the same directory would mix two runs.
    let again = pull();
    assert_eq!(again.status.code(), Some(2), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
}
