//! A real Confluence client runs against the fake unmodified (issue 15):
//! atlassian-python-api, the client LangChain's `ConfluenceLoader` and
//! confluence-markdown-exporter are built on, makes the loader's calls for a
//! space load and the exporter's for a space export
//! (`tests/clients/confluence_loader_calls.py`) with basic auth, and everything it gets equals the fake's `/_control/items`; every API
//! request it sent is an operation of the official v1 description, and
//! every one was answered 200.
//!
//! The client (pinned in `xtask/src/python.rs`) lives in the Python
//! toolchain venv `cargo xtask test` installs; without it the test fails,
//! saying so.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use support::confluence_api::{check_requests_beyond, descendants, truth};
use support::FakeServer;

const EMAIL: &str = "client@example.com";
const TOKEN: &str = "c0nfluence-client-t0ken";
/// The loader's page size: the space load takes several batches.
const LIMIT: &str = "7";
/// The page size of the script's `label` load (`LABEL_LIMIT` there).
const LABEL_LIMIT: usize = 50;
/// The pinned client (`CLIENT_PIN` in `xtask/src/python.rs`).
const CLIENT: &str = "4.0.7";
const INSTALL: &str = "atlassian-python-api 4.0.7 is needed in the Python toolchain venv: \
     `cargo xtask test` installs it in $HOME/.cache/synchost/toolchains/python";

/// The toolchain venv's Python, with the pinned client importable.
fn python() -> PathBuf {
    let home = std::env::var_os("HOME").expect("HOME is set");
    let python = Path::new(&home).join(".cache/synchost/toolchains/python/bin/python3");
    let version = Command::new(&python)
        .args([
            "-c",
            "import atlassian, importlib.metadata as m; print(m.version('atlassian-python-api'))",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; {INSTALL}", python.display()));
    let version = String::from_utf8_lossy(&version.stdout);
    assert_eq!(version.trim(), CLIENT, "{INSTALL}");
    python
}

/// Runs the script against `fake`; returns what it printed.
fn run_client(fake: &FakeServer) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/confluence_loader_calls.py");
    let out = Command::new(python())
        .arg(script)
        .args([&format!("{}/wiki", fake.url()), EMAIL, TOKEN, "DOCS", LIMIT])
        .output()
        .expect("the client script runs");
    assert!(
        out.status.success(),
        "the client failed: {}\nfake: {}",
        String::from_utf8_lossy(&out.stderr),
        fake.stderr()
    );
    serde_json::from_slice(&out.stdout).expect("the client prints JSON")
}

fn strings(v: &Value) -> Vec<String> {
    serde_json::from_value(v.clone()).expect("strings")
}

fn sorted(v: &Value) -> Vec<String> {
    let mut s = strings(v);
    s.sort();
    s
}

/// `fields` of each item as one line (strings unquoted, so the truth's
/// decimal versions compare with the API's numbers), sorted.
fn projected<'a>(items: impl IntoIterator<Item = &'a Value>, fields: &[&str]) -> Vec<String> {
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    let mut lines: Vec<String> = items
        .into_iter()
        .map(|item| {
            fields
                .iter()
                .map(|f| text(&item[*f]))
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect();
    lines.sort();
    lines
}

/// The ground-truth entries whose parent is `parent`.
fn under<'a>(truth: &'a BTreeMap<String, Value>, parent: &str) -> Vec<&'a Value> {
    truth
        .values()
        .filter(|e| e["parent_id"] == parent)
        .collect()
}

/// A loaded page or blog post equals its ground-truth entry.
#[track_caller]
fn assert_content(got: &Value, t: &Value, kind: &str) {
    let id = got["id"].as_str().expect("id");
    assert_eq!(got["type"], kind, "{got}");
    assert_eq!(got["status"], "current", "{got}");
    assert_eq!(got["title"], t["title"], "{id}");
    assert_eq!(got["version"].to_string(), t["version"].as_str().unwrap());
    assert_eq!(got["sha256"], t["sha256"], "{id}");
    assert_eq!(got["labels"], t["labels"], "{id}");
    assert!(
        got["webui"].as_str().unwrap().starts_with("/spaces/DOCS/"),
        "{got}"
    );
}

#[test]
fn langchain_loader_calls_get_the_ground_truth() {
    let fake = FakeServer::start(
        "confluence",
        &[
            "--pages",
            "40",
            "--folders",
            "4",
            "--blogposts",
            "9",
            "--attachments-per-page",
            "1",
            "--comments-per-page",
            "1",
            "--inline-comments-per-page",
            "1",
            "--seed",
            "7",
            "--email",
            EMAIL,
            "--token",
            TOKEN,
        ],
    );
    // Some read restrictions, whatever the seed made.
    fake.mutate_with(&json!({"restrictions": 3}));
    let got = run_client(&fake);
    let (pages, posts) = (truth(&fake, "pages"), truth(&fake, "blogposts"));
    let (folders, atts) = (truth(&fake, "folders"), truth(&fake, "attachments"));
    let mut comments = truth(&fake, "comments");
    comments.extend(truth(&fake, "inline-comments"));
    assert!(comments.values().any(|c| c["stream"] == "inline-comments"));
    let all: BTreeMap<&String, &Value> = pages.iter().chain(&posts).collect();

    // The space load: every page and blog post once, whole.
    assert_eq!(got["space"]["key"], "DOCS");
    assert!(pages.contains_key(got["space"]["homepage"].as_str().unwrap()));
    for (listed, truth, kind) in [
        (&got["pages"], &pages, "page"),
        (&got["blogposts"], &posts, "blogpost"),
    ] {
        let listed = listed.as_array().unwrap();
        let ids: Vec<&str> = listed.iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), truth.len(), "{kind}: {ids:?}");
        assert_eq!(
            ids.iter().copied().collect::<BTreeSet<_>>(),
            truth.keys().map(String::as_str).collect()
        );
        for c in listed {
            assert_content(c, &truth[c["id"].as_str().unwrap()], kind);
            assert_eq!(&got["by_id"][c["id"].as_str().unwrap()], c);
        }
    }
    assert!(all
        .values()
        .any(|t| !t["labels"].as_array().unwrap().is_empty()));

    // Per page and blog post: labels, restrictions, comments (footer and
    // inline, as no `location` asks), attachments and their bytes.
    let restricted = all.values().filter(|t| t["restricted"] == true).count();
    assert!(restricted > 0 && restricted < all.len(), "{restricted}");
    for (id, t) in &all {
        assert_eq!(got["labels"][id.as_str()], t["labels"], "{id}");
        assert_eq!(got["restricted"][id.as_str()], t["restricted"], "{id}");
        let said = &got["comments"][id.as_str()];
        assert!(said.as_array().unwrap().iter().all(|c| c["view"] == true));
        assert_eq!(
            projected(said.as_array().unwrap(), &["id", "title"]),
            projected(under(&comments, id), &["id", "title"]),
            "{id}"
        );
        let files = got["attachments"][id.as_str()].as_array().unwrap();
        assert!(files
            .iter()
            .all(|a| a["mediaType"].as_str().unwrap().contains('/')));
        assert_eq!(
            projected(files, &["id", "title", "sha256"]),
            projected(under(&atts, id), &["id", "title", "sha256"]),
            "{id}"
        );
    }

    // Children and CQL `ancestor=` (pages below through folders too).
    let below = |top: &str| -> Vec<String> {
        descendants(&pages, &folders, top)
            .into_iter()
            .filter(|id| pages.contains_key(id))
            .collect()
    };
    for id in pages.keys() {
        let children: Vec<String> = pages
            .iter()
            .filter(|(_, p)| p["parent_id"] == id.as_str())
            .map(|(k, _)| k.clone())
            .collect();
        assert_eq!(sorted(&got["children"][id]), children, "{id}");
        assert_eq!(sorted(&got["ancestor"][id]), below(id), "{id}");
    }
    let deepest = got["ancestor"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_array().unwrap().len())
        .max();
    assert!(deepest > Some(usize::from(LIMIT.parse::<u8>().unwrap())));

    // Pages by label: `get_all_pages_by_label` (the real search ignores
    // `start`, so both batches are the first) and `cql`.
    let labels: BTreeSet<String> = pages.values().flat_map(|p| strings(&p["labels"])).collect();
    assert_eq!(
        got["label"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>(),
        labels
    );
    for label in &labels {
        let expect: Vec<String> = pages
            .iter()
            .filter(|(_, p)| strings(&p["labels"]).contains(label))
            .map(|(k, _)| k.clone())
            .collect();
        assert!(expect.len() <= LABEL_LIMIT);
        let batches = &got["label"][label];
        assert_eq!(batches[0], batches[1], "{label}");
        assert_eq!(sorted(&batches[0]), expect, "{label}");
        assert_eq!(sorted(&got["cql_label"][label]["ids"]), expect, "{label}");
        assert_eq!(got["cql_label"][label]["totalSize"], expect.len());
    }

    // confluence-markdown-exporter's space export: the homepage and every
    // page below it, with bodies, labels, properties, parent, attachments.
    let export = &got["exporter"];
    let home = got["space"]["homepage"].as_str().unwrap();
    assert_eq!(export["homepage"], home);
    let mut tree = below(home);
    tree.push(home.to_owned());
    tree.sort();
    let exported = export["pages"].as_object().unwrap();
    assert_eq!(exported.keys().cloned().collect::<Vec<_>>(), tree);
    assert!(tree.len() > 10, "{}", tree.len());
    for (id, p) in exported {
        let t = &pages[id];
        assert_eq!(p["title"], t["title"], "{id}");
        assert_eq!(p["space"], "DOCS");
        assert_eq!(p["rendered"], true, "{id}");
        assert_eq!(p["labels"], t["labels"], "{id}");
        assert_eq!(p["properties"], t["properties"], "{id}");
        assert_eq!(p["parent"], t["parent_id"], "{id}");
        let files = p["attachments"].as_array().unwrap();
        for f in files {
            assert_eq!((&f["container"], &f["space"]), (&json!(id), &json!("DOCS")));
            assert!(!f["fileId"].as_str().unwrap().is_empty(), "{f}");
        }
        let fields = ["id", "title", "version", "sha256"];
        assert_eq!(
            projected(files, &fields),
            projected(under(&atts, id), &fields)
        );
    }
    assert!(exported.values().any(|p| p["properties"] != json!({})));

    // Every API request is an operation of the official description (but
    // the client's `?id=` on comments), and none failed.
    let beyond = [("/child/comment", "id")];
    assert!(check_requests_beyond(&fake, &beyond) > all.len() * 5);
    let log = fake.control_get("/_control/requests");
    let failed: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] != 200)
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
}
