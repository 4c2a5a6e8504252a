//! Running the Confluence plugin end to end (`confluence.rs`,
//! `confluence_streams.rs`, `markdown_mirror.rs`, `forget.rs`): the fake
//! with basic auth, a `synchost.toml` for it, pulls, the store and the
//! ground truth side by side, and the fake's request log.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{
    assert_success, json_lines, plugin_path, str_field, toml_str, FakeServer, Synchost, Workspace,
};

/// The fake's basic-auth user and token, and the variables that carry them.
pub const EMAIL: &str = "streams@example.com";
pub const TOKEN: &str = "c0nfluence-streams-t0ken";
pub const EMAIL_VAR: &str = "SYNCHOST_E2E_CONFLUENCE_EMAIL";
pub const TOKEN_VAR: &str = "SYNCHOST_E2E_CONFLUENCE_TOKEN";
/// The source name in every `synchost.toml` here.
pub const SOURCE: &str = "docs";

/// `synchost-fake confluence <args> --email EMAIL --token TOKEN`.
pub fn start_fake(args: &[&str]) -> FakeServer {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--email", EMAIL, "--token", TOKEN]);
    FakeServer::start("confluence", &all)
}

/// A `synchost.toml` with one source, `docs`: the plugin reading `fake`'s
/// space `DOCS`; `settings` are appended to its settings table as is.
pub fn write_config(ws: &Workspace, fake: &FakeServer, settings: &str) {
    let plugin = plugin_path("confluence");
    ws.write_config(&format!(
        "[sources.{SOURCE}]\nplugin = {}\n\n\
         [sources.{SOURCE}.settings]\nbase_url = {}\nspace = \"DOCS\"\n{settings}\n\n\
         [sources.{SOURCE}.auth]\ntype = \"basic\"\nusername_env = \"{EMAIL_VAR}\"\n\
         password_env = \"{TOKEN_VAR}\"\n",
        toml_str(&plugin.display().to_string()),
        toml_str(fake.url()),
    ));
}

/// `synchost <args>` in `ws` with the credentials in the environment.
pub fn synchost<'a>(ws: &'a Workspace, args: &[&str]) -> Synchost<'a> {
    Synchost::new(ws)
        .args(args)
        .env(EMAIL_VAR, EMAIL)
        .env(TOKEN_VAR, TOKEN)
}

/// `synchost pull docs --json <extra...>`; panics unless it succeeds, returns
/// the events.
#[track_caller]
pub fn pull(ws: &Workspace, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["pull", SOURCE, "--json"];
    args.extend_from_slice(extra);
    json_lines(&assert_success(&synchost(ws, &args).output()))
}

/// A `(stream, id)` key.
pub type Key = (String, String);

/// What `synchost export docs` holds: live records by key, and the keys of
/// tombstones.
pub struct Stored {
    pub live: BTreeMap<Key, Value>,
    pub deleted: Vec<Key>,
}

#[track_caller]
pub fn stored(ws: &Workspace) -> Stored {
    let out = synchost(ws, &["export", SOURCE, "--format", "jsonl"]).output();
    let mut live = BTreeMap::new();
    let mut deleted = Vec::new();
    for r in json_lines(&assert_success(&out)) {
        let k = (
            str_field(&r, "stream").to_owned(),
            str_field(&r, "id").to_owned(),
        );
        match r["deleted"].as_bool() {
            Some(true) => deleted.push(k),
            Some(false) => {
                assert!(live.insert(k.clone(), r).is_none(), "{k:?} twice");
            }
            None => panic!("record without a boolean `deleted`: {r}"),
        }
    }
    Stored { live, deleted }
}

/// `/_control/items` by (stream, id).
pub fn truth(fake: &FakeServer) -> BTreeMap<Key, Value> {
    let mut out = BTreeMap::new();
    for e in fake
        .ground_truth_json()
        .as_array()
        .expect("/_control/items is an array")
    {
        let k = (
            str_field(e, "stream").to_owned(),
            str_field(e, "id").to_owned(),
        );
        assert!(out.insert(k.clone(), e.clone()).is_none(), "{k:?} twice");
    }
    out
}

/// The Confluence version number of a record version: `7` of `7+…` (a
/// record with labels, properties, restrictions or a resolution).
pub fn version_number(version: &str) -> &str {
    version.split_once('+').map_or(version, |(n, _)| n)
}

/// One request of the fake's `/_control/requests` log.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    /// As sent (percent-encoded).
    pub query: String,
    pub status: u16,
}

impl Logged {
    /// Query parameters, decoded (`+` is a space).
    pub fn params(&self) -> Vec<(String, String)> {
        self.query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect()
    }

    /// Every value of parameter `name`, split at commas.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.params()
            .into_iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(',').map(str::to_owned).collect::<Vec<_>>())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// The decoded value of query parameter `name` (the first).
    pub fn param(&self, name: &str) -> Option<String> {
        self.params()
            .into_iter()
            .find_map(|(k, v)| (k == name).then_some(v))
    }
}

/// A percent-encoded query or path component, decoded (`+` is a space).
pub fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// The fake's request log (every non-control request since it started).
pub fn request_log(fake: &FakeServer) -> Vec<Logged> {
    let resp = fake.get("/_control/requests", &[]);
    resp.expect_status(200);
    resp.json()
        .as_array()
        .expect("/_control/requests is an array")
        .iter()
        .map(|e| Logged {
            method: str_field(e, "method").to_owned(),
            path: str_field(e, "path").to_owned(),
            query: e["query"].as_str().unwrap_or_default().to_owned(),
            status: e["status"].as_u64().expect("status") as u16,
        })
        .collect()
}
