//! `synchost pull --parallel N`: several sources at once into one store,
//! with per-host limits shared by the sources that reach the same host, and
//! a failing source that does not stop the others.

mod support;

use serde_json::Value;
use support::{
    assert_exit_code, export, json_lines, plugin_path, stored, toml_str, u64_field, FakeServer,
    Synchost, Workspace,
};

/// The variable holding the token of the fake that `locked` cannot pass.
const TOKEN_VAR: &str = "SYNCHOST_E2E_PARALLEL_TOKEN";

/// A `[sources.NAME]` table: the example plugin on `url` with `concurrency`
/// requests at once and, when `auth` is given, a bearer token from it.
fn source(name: &str, url: &str, concurrency: u32, auth: Option<&str>) -> String {
    let mut table = format!(
        "[sources.{name}]\nplugin = {}\nconcurrency = {concurrency}\n\n[sources.{name}.settings]\nbase_url = {}\n\n",
        toml_str(&plugin_path("example-items").display().to_string()),
        toml_str(url),
    );
    if let Some(var) = auth {
        table.push_str(&format!(
            "[sources.{name}.auth]\ntype = \"bearer\"\ntoken_env = {}\n\n",
            toml_str(var)
        ));
    }
    table
}

/// Three sources pulled two at a time: `a` and `b` read one fake (one host,
/// one concurrency slot between them), `c` another, and `locked` a fake
/// whose token it does not have. The three good ones store exactly their
/// fake's items; `locked` fails with exit 3 (authentication), named, without
/// stopping the others; each gets its own summary; and the shared fake never
/// had more than one request of `a` and `b` in flight at once, as each
/// source's `concurrency = 1` allows for their shared host.
#[test]
fn sources_pull_at_once_share_a_host_and_fail_alone() {
    let shared = FakeServer::start(
        "items",
        &["--count", "300", "--seed", "7", "--latency-ms", "5"],
    );
    let other = FakeServer::start("items", &["--count", "120", "--seed", "8"]);
    let locked = FakeServer::start("items", &["--count", "10", "--token", "right-token"]);
    let ws = Workspace::new();
    ws.write_config(
        &[
            source("a", shared.url(), 1, None),
            source("b", shared.url(), 1, None),
            source("c", other.url(), 4, None),
            source("locked", locked.url(), 1, Some(TOKEN_VAR)),
        ]
        .concat(),
    );

    let out = Synchost::new(&ws)
        .args(["pull", "--parallel", "2", "--json"])
        .env(TOKEN_VAR, "wrong-token")
        .output();
    let stderr = assert_exit_code(&out, 3);
    assert!(
        stderr.contains("locked"),
        "the failed source is named:\n{stderr}"
    );

    for (name, fake) in [("a", &shared), ("b", &shared), ("c", &other)] {
        let store = stored(&export(&ws, name, &[]));
        assert_eq!(store.live, fake.ground_truth(), "source {name}");
    }
    let summaries: Vec<Value> = json_lines(&String::from_utf8_lossy(&out.stdout))
        .into_iter()
        .filter(|event| event["event"] == "summary")
        .collect();
    let outcome = |name: &str| {
        summaries
            .iter()
            .find(|s| s["summary"]["source"] == name || s["source"] == name)
            .unwrap_or_else(|| panic!("no summary for {name}: {summaries:?}"))["outcome"]
            .clone()
    };
    for name in ["a", "b", "c"] {
        assert_eq!(outcome(name), "succeeded", "{name}");
    }
    assert_eq!(outcome("locked"), "failed");
    assert_eq!(summaries.len(), 4, "one summary per source: {summaries:?}");

    assert_eq!(
        u64_field(&shared.stats(), "max_in_flight"),
        1,
        "a and b share their host's single slot"
    );
    assert!(
        u64_field(&shared.stats(), "item_requests") >= 600,
        "both sources fetched their 300 items"
    );
}

/// `--parallel` needs at least one source at a time, and says so.
#[test]
fn parallel_zero_is_a_usage_error() {
    let ws = Workspace::new();
    let out = Synchost::new(&ws)
        .args(["pull", "--parallel", "0"])
        .output();
    let stderr = assert_exit_code(&out, 2);
    assert!(stderr.contains("--parallel"), "{stderr}");
}
