//! The administrator's policy (issue 16), driven through the real binary
//! with `SYNCHOST_POLICY_FILE` pointing at a policy outside the workspace:
//! hosts outside its `allowed_hosts` refused before any request, limits
//! above its bounds refused (absent ones bounded), blobs and mirrors
//! refused, ad-hoc plugins refused, its proxy carrying every request,
//! `policy explain`, the audit trail (`runs`, `--log-format json`), a
//! malformed policy failing closed, and nothing of it reaching a plugin.
//! Every refusal is exit 2 and names the policy line.

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};
use support::proxy::{
    assert_password_in_no_file, proxy_basic, ConnectProxy, Inspection, NETWORK_VARS, PROXY_PASSWORD,
};
use support::{
    assert_exit_code, assert_success, export, files_under, hostile_source, items_config,
    json_output, output_text, plugin_path, summary_of, toml_str, FakeServer, Synchost, Workspace,
    TOKEN_VAR,
};

/// An administrator's policy file, in a directory of its own (never the
/// workspace: what the user's files hold is checked apart from it).
struct Policy {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Policy {
    fn new(text: &str) -> Policy {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        std::fs::write(&path, text).unwrap();
        Policy { _dir: dir, path }
    }

    fn write(&self, text: &str) {
        std::fs::write(&self.path, text).unwrap();
    }

    fn sha256(&self) -> String {
        sha256_of(&self.path)
    }

    /// How refusals name line `line`, written `text`.
    fn rule(&self, line: usize, text: &str) -> String {
        format!("policy {} line {line} ({text})", self.path.display())
    }
}

fn sha256_of(path: &Path) -> String {
    hex(&Sha256::digest(std::fs::read(path).unwrap()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `synchost ARGS` under `policy`.
fn under<'a>(ws: &'a Workspace, policy: &Policy, args: &[&str]) -> Synchost<'a> {
    Synchost::new(ws)
        .args(args)
        .shared_cache()
        .env("SYNCHOST_POLICY_FILE", &policy.path)
}

fn runs(ws: &Workspace) -> Vec<Value> {
    json_output(ws, &["runs", "--json"])
        .as_array()
        .expect("runs are a list")
        .clone()
}

/// The newest run of `runs --json`.
fn last_run(ws: &Workspace) -> Value {
    runs(ws).first().expect("a run").clone()
}

#[track_caller]
fn assert_contains(text: &str, wanted: &str) {
    assert!(text.contains(wanted), "`{wanted}` missing from:\n{text}");
}

// ---------------------------------------------------------------------------
// Hosts

#[test]
fn a_host_the_policy_forbids_is_refused_before_any_request() {
    let fake = FakeServer::start("items", &["--count", "30"]);
    let port = fake.port();
    let ws = Workspace::new();
    // Line 5: `base_url = "http://127.0.0.1:PORT"`.
    items_config(&ws, &fake, "");
    let policy = Policy::new("# IT\nallowed_hosts = [\"*.atlassian.net\", \"api.github.com\"]\n");
    let rule = policy.rule(
        2,
        r#"allowed_hosts = ["*.atlassian.net", "api.github.com"]"#,
    );

    let stderr = assert_exit_code(&under(&ws, &policy, &["pull", "items"]).output(), 2);
    assert_contains(&stderr, &rule);
    assert_contains(
        &stderr,
        "(synchost.toml line 5 ([sources.items.settings] base_url)) allows http://127.0.0.1:",
    );
    assert_eq!(fake.requests(), 0, "a request was sent");
    // The refusal is in the audit trail, with the policy's hash.
    let run = last_run(&ws);
    assert_eq!(run["outcome"], "refused", "{run}");
    assert_eq!(run["kind"], "pull");
    assert_eq!(run["source"], "items");
    assert_eq!(run["policy_refusal"].as_str(), Some(rule.as_str()));
    assert_eq!(
        run["policy_sha256"].as_str(),
        Some(policy.sha256().as_str())
    );

    // An allowlist wider than the policy: its entry and line are named.
    policy.write(&format!("allowed_hosts = [\"http://127.0.0.1:{port}\"]\n"));
    let rule = policy.rule(
        1,
        &format!(r#"allowed_hosts = ["http://127.0.0.1:{port}"]"#),
    );
    ws.write_config(&format!(
        "[sources.items]\nplugin = {}\nallowed_hosts = [\"127.0.0.1:*\"]\n\
         [sources.items.settings]\nbase_url = {}\n",
        toml_str(&plugin_path("example-items").display().to_string()),
        toml_str(fake.url()),
    ));
    let stderr = assert_exit_code(&under(&ws, &policy, &["pull", "items"]).output(), 2);
    assert_contains(
        &stderr,
        "allowed_hosts entry `127.0.0.1:*` (synchost.toml line 3 ([sources.items] \
         allowed_hosts)) allows http://127.0.0.1:*",
    );
    assert_contains(&stderr, &rule);
    assert_eq!(fake.requests(), 0);

    // Ad hoc: `--set base_url` is capped as the config's is.
    let plugin = plugin_path("example-items").display().to_string();
    let out = under(&ws, &policy, &["pull", "--plugin", &plugin])
        .args(["--set", "base_url=http://localhost:9/"])
        .output();
    let stderr = assert_exit_code(&out, 2);
    assert_contains(&stderr, "base_url `http://localhost:9/` (--set base_url)");
    assert_contains(&stderr, &rule);

    // Within the policy, the pull runs, and records the policy's hash.
    items_config(&ws, &fake, "");
    assert_success(&under(&ws, &policy, &["pull", "items"]).output());
    assert!(fake.requests() > 0);
    let run = last_run(&ws);
    assert_eq!(run["outcome"], "succeeded", "{run}");
    assert_eq!(
        run["policy_sha256"].as_str(),
        Some(policy.sha256().as_str())
    );
    assert_eq!(run["policy_refusal"], Value::Null);
}

#[test]
fn ad_hoc_plugins_are_refused_and_recorded() {
    let fake = FakeServer::start("items", &["--count", "5"]);
    let ws = Workspace::new();
    let policy = Policy::new("allow_ad_hoc = false\n");
    let plugin = plugin_path("example-items").display().to_string();
    let base_url = format!("base_url={}", fake.url());
    let out = under(
        &ws,
        &policy,
        &["pull", "--plugin", &plugin, "--set", &base_url],
    )
    .output();
    let stderr = assert_exit_code(&out, 2);
    let rule = policy.rule(1, "allow_ad_hoc = false");
    assert_contains(&stderr, &rule);
    assert_eq!(fake.requests(), 0);
    let run = last_run(&ws);
    assert_eq!(run["source"], "example-items");
    assert_eq!(run["outcome"], "refused");
    assert_eq!(run["policy_refusal"].as_str(), Some(rule.as_str()));
}

// ---------------------------------------------------------------------------
// Limits

#[test]
fn limits_above_a_bound_are_refused_and_absent_ones_are_bounded() {
    let fake = FakeServer::start("items", &["--count", "100"]);
    let ws = Workspace::new();
    let policy = Policy::new("[limits]\nconcurrency = 2\npage_size = 40\nmemory_mb = 128\n");
    let plugin = toml_str(&plugin_path("example-items").display().to_string());
    let url = toml_str(fake.url());
    ws.write_config(&format!(
        "[sources.items]\nplugin = {plugin}\nconcurrency = 8\n\
         [sources.items.settings]\nbase_url = {url}\n\
         [sources.items.limits]\nmemory_mb = 512\n"
    ));
    let stderr = assert_exit_code(&under(&ws, &policy, &["pull", "items"]).output(), 2);
    // Every violation, each with its config line and policy line.
    assert_contains(
        &stderr,
        &format!(
            "concurrency = 8 (synchost.toml line 3 ([sources.items] concurrency)) is above the \
             bound 2 of {}",
            policy.rule(2, "concurrency = 2")
        ),
    );
    assert_contains(
        &stderr,
        &format!(
            "memory_mb = 512 (synchost.toml line 7 ([sources.items.limits] memory_mb)) is above \
             the bound 128 of {}",
            policy.rule(4, "memory_mb = 128")
        ),
    );
    assert_eq!(fake.requests(), 0);

    // A flag above a bound is named as the flag.
    items_config(&ws, &fake, "");
    let out = under(&ws, &policy, &["pull", "items", "--page-size", "100"]).output();
    let stderr = assert_exit_code(&out, 2);
    assert_contains(
        &stderr,
        &format!(
            "page_size = 100 (--page-size) is above the bound 40 of {}",
            policy.rule(3, "page_size = 40")
        ),
    );
    assert_eq!(fake.requests(), 0);

    // Not set: the bound, where it is below the default (100 records a page).
    assert_success(&under(&ws, &policy, &["pull", "items"]).output());
    let log = fake.control_get("/_control/requests");
    let limits: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["query"].as_str())
        .flat_map(|q| q.split('&'))
        .filter(|pair| pair.starts_with("limit="))
        .collect();
    assert!(!limits.is_empty(), "{log}");
    assert!(limits.iter().all(|l| *l == "limit=40"), "{limits:?}");
    assert_eq!(export(&ws, "items", &[]).len(), 100);
}

// ---------------------------------------------------------------------------
// Blobs and mirrors

#[test]
fn blobs_and_mirrors_are_refused_when_the_policy_says_so() {
    let fake = FakeServer::start("items", &["--count", "5"]);
    let ws = Workspace::new();
    let policy = Policy::new("allow_blobs = false\nallow_mirrors = false\n");
    ws.write_config(&hostile_source(
        "blobs",
        fake.url(),
        "blob_items = \"1, 2\"",
    ));
    let stderr = assert_exit_code(&under(&ws, &policy, &["pull", "hostile"]).output(), 2);
    let rule = policy.rule(1, "allow_blobs = false");
    assert_contains(
        &stderr,
        &format!("references the blob `item-000001.json`, and {rule}"),
    );
    assert_eq!(fake.requests(), 0, "a blob was downloaded");
    assert!(files_under(&ws.blob_dir()).is_empty());
    let run = last_run(&ws);
    assert_eq!(run["outcome"], "refused", "{run}");
    assert_eq!(run["policy_refusal"].as_str(), Some(rule.as_str()));
    assert_eq!(
        run["policy_sha256"].as_str(),
        Some(policy.sha256().as_str())
    );
    // Nothing of the refused page was stored.
    assert!(export(&ws, "hostile", &[]).is_empty());

    // A mirror: refused before a file is written.
    items_config(&ws, &fake, "");
    assert_success(&under(&ws, &policy, &["pull", "items"]).output());
    let requests = fake.requests();
    let mirror = ws.path().join("mirror");
    let out = under(
        &ws,
        &policy,
        &["export", "items", "--format", "files", "--out", "mirror"],
    )
    .output();
    let stderr = assert_exit_code(&out, 2);
    let rule = policy.rule(2, "allow_mirrors = false");
    assert_contains(
        &stderr,
        &format!("export --out mirror would write a mirror, which {rule}"),
    );
    assert!(!mirror.exists(), "the mirror was written");
    let run = last_run(&ws);
    assert_eq!(run["kind"], "export");
    assert_eq!(run["outcome"], "refused");
    assert_eq!(run["policy_refusal"].as_str(), Some(rule.as_str()));
    // `push --from` writes the mirror's manifest: refused too.
    let out = under(&ws, &policy, &["push", "items", "--from", "mirror"]).output();
    let stderr = assert_exit_code(&out, 2);
    assert_contains(
        &stderr,
        &format!("push --from mirror would write a mirror, which {rule}"),
    );
    assert_eq!(last_run(&ws)["kind"], "push");
    assert_eq!(fake.requests(), requests, "the push sent a request");
    // JSON lines to stdout are no mirror.
    assert_eq!(export(&ws, "items", &[]).len(), 5);
}

// ---------------------------------------------------------------------------
// The policy's proxy

/// The fakes' token (`--token`), sent by the host as a bearer credential.
const TOKEN: &str = "tok-policy-4b1e9d07c3";

#[test]
fn the_policys_proxy_carries_every_request_whatever_the_environment_says() {
    let fake = FakeServer::start("items", &["--count", "150", "--tls", "--token", TOKEN]);
    let inspection = Inspection::new(fake.ca().unwrap());
    let ws = Workspace::new();
    let proxy_ca = ws.path().join("proxy-ca.pem");
    std::fs::write(&proxy_ca, &inspection.ca_pem).unwrap();
    let proxy = ConnectProxy::inspecting(inspection);
    items_config(
        &ws,
        &fake,
        &format!(
            "[sources.items.auth]\ntype = \"bearer\"\ntoken_env = \"{TOKEN_VAR}\"\n\n\
             [network]\nca_file = {}\n",
            toml_str(&proxy_ca.display().to_string())
        ),
    );
    let policy = Policy::new(&format!(
        "allowed_hosts = [\"https://127.0.0.1:*\"]\nproxy = {}\n",
        toml_str(&proxy.url())
    ));
    let mut run = under(&ws, &policy, &["pull", "items", "--json"]).env(TOKEN_VAR, TOKEN);
    for var in NETWORK_VARS {
        run = run.env_remove(var);
    }
    // The user's environment says: go direct. The policy wins.
    let out = run
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("RUST_LOG", "debug")
        .output();
    let stdout = assert_success(&out);
    let inspected = proxy.log.lock().unwrap().inspected.len() as u64;
    let summary = summary_of(&stdout);
    assert_eq!(
        summary["summary"]["policy_sha256"].as_str(),
        Some(policy.sha256().as_str())
    );
    let host = summary["summary"]["requests"].as_u64();
    assert!(inspected > 0, "nothing went through the proxy");
    assert_eq!(host, Some(inspected), "the proxy's count is the host's");
    assert_eq!(fake.requests(), inspected, "and the origin's");
    assert_eq!(export(&ws, "items", &[]).len(), 150);

    // The proxy's password: nowhere in the output, the logs or the store.
    let (_, stderr) = output_text(&out);
    assert_contains(&stderr, "forced by the policy");
    for secret in [PROXY_PASSWORD.to_string(), proxy_basic()] {
        assert!(!stdout.contains(&secret) && !stderr.contains(&secret));
    }
    assert_password_in_no_file(ws.path());
    // `policy explain` shows the proxy without it.
    let out = under(&ws, &policy, &["policy", "explain", "items"]).output();
    let stdout = assert_success(&out);
    assert_contains(&stdout, "http://[credentials]@127.0.0.1:");
    assert!(!stdout.contains(PROXY_PASSWORD), "{stdout}");

    // A credential over plain http would be read by the proxy, and nothing
    // may go direct: such a request is refused, never sent.
    let plain = FakeServer::start("items", &["--count", "5", "--token", TOKEN]);
    let ws = Workspace::new();
    items_config(
        &ws,
        &plain,
        &format!("[sources.items.auth]\ntype = \"bearer\"\ntoken_env = \"{TOKEN_VAR}\"\n"),
    );
    policy.write(&format!("proxy = {}\n", toml_str(&proxy.url())));
    let heads = proxy.log.lock().unwrap().heads.len();
    let out = under(&ws, &policy, &["pull", "items"])
        .env(TOKEN_VAR, TOKEN)
        .output();
    let (_, stderr) = output_text(&out);
    assert!(!out.status.success());
    assert_contains(&stderr, "would carry the credential over plain http");
    assert_eq!(plain.requests(), 0);
    assert_eq!(
        proxy.log.lock().unwrap().heads.len(),
        heads,
        "the proxy was asked"
    );

    // Without a credential, plain http goes through the proxy too.
    let open = FakeServer::start("items", &["--count", "5"]);
    let ws = Workspace::new();
    items_config(&ws, &open, "");
    assert_success(&under(&ws, &policy, &["pull", "items"]).output());
    assert!(open.requests() > 0);
    assert!(
        proxy.log.lock().unwrap().forwarded > 0,
        "plain http went direct"
    );
}

/// A plugin sees nothing of the policy: no variable, no file, no setting.
#[test]
fn nothing_of_the_policy_reaches_a_plugin() {
    let fake = FakeServer::start("items", &["--count", "1"]);
    let ws = Workspace::new();
    let secret = "pw-policy-7c2f19";
    let policy = Policy::new(&format!(
        "# policy-marker-5e8a\nallowed_hosts = [\"127.0.0.1:*\"]\n\
         proxy = \"http://it:{secret}@127.0.0.1:9\"\n[limits]\nconcurrency = 3\n"
    ));
    for attack in ["read-env", "read-file"] {
        ws.write_config(&hostile_source(attack, fake.url(), ""));
        assert_success(&under(&ws, &policy, &["pull", "hostile"]).output());
        let seen = serde_json::to_string(&export(&ws, "hostile", &[])).unwrap();
        assert!(seen.contains("report"), "{seen}");
        for leak in [
            "SYNCHOST_POLICY_FILE",
            "policy-marker-5e8a",
            secret,
            &policy.path.display().to_string(),
        ] {
            assert!(
                !seen.contains(leak),
                "{attack}: `{leak}` reached the plugin: {seen}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// policy explain

#[test]
fn policy_explain_shows_each_rule_its_value_and_why() {
    let fake = FakeServer::start("items", &["--count", "1"]);
    let ws = Workspace::new();
    let policy = Policy::new(
        "# IT\nallowed_hosts = [\"127.0.0.1:*\"]\nallow_blobs = false\n\
         [limits]\nconcurrency = 4\nmemory_mb = 128\n",
    );
    let plugin = toml_str(&plugin_path("example-items").display().to_string());
    let url = toml_str(fake.url());
    ws.write_config(&format!(
        "[sources.items]\nplugin = {plugin}\nconcurrency = 2\n\
         [sources.items.settings]\nbase_url = {url}\n"
    ));
    let stdout = assert_success(&under(&ws, &policy, &["policy", "explain", "items"]).output());
    for wanted in [
        format!("policy: {}", policy.path.display()),
        format!("sha256: {}", policy.sha256()),
        "source `items`:".to_string(),
        format!(
            "base_url `{}` (synchost.toml line 5 ([sources.items.settings] base_url))",
            fake.url()
        ),
        "why:       every origin it allows fits a pattern".into(),
        format!(
            "rule:      {}",
            policy.rule(2, r#"allowed_hosts = ["127.0.0.1:*"]"#)
        ),
        "limits.concurrency".into(),
        "config:    2 (synchost.toml line 3 ([sources.items] concurrency))".into(),
        "effective: 2".into(),
        format!("rule:      {}", policy.rule(5, "concurrency = 4")),
        "limits.memory_mb".into(),
        "effective: 128".into(),
        "why:       not set: the lower of the default 256 and the bound 128".into(),
        "allow_blobs".into(),
    ] {
        assert_contains(&stdout, &wanted);
    }
    let report = serde_json::from_str::<Value>(&assert_success(
        &under(&ws, &policy, &["policy", "explain", "items", "--json"]).output(),
    ))
    .unwrap();
    assert_eq!(report["sha256"].as_str(), Some(policy.sha256().as_str()));
    let checks = report["sources"][0]["checks"].as_array().unwrap();
    let keys: Vec<&str> = checks.iter().filter_map(|c| c["key"].as_str()).collect();
    assert_eq!(
        keys,
        [
            "allowed_hosts",
            "limits.concurrency",
            "limits.memory_mb",
            "allow_blobs"
        ]
    );
    assert!(checks.iter().all(|c| c["violation"].is_null()));

    // A config that violates it: exit 2, every violation listed.
    ws.write_config(&format!(
        "[sources.items]\nplugin = {plugin}\nconcurrency = 9\nallowed_hosts = [\"example.com\"]\n\
         [sources.items.settings]\nbase_url = {url}\n"
    ));
    let out = under(&ws, &policy, &["policy", "explain", "items"]).output();
    let stderr = assert_exit_code(&out, 2);
    let (stdout, _) = output_text(&out);
    assert_contains(&stdout, "VIOLATION");
    assert_contains(&stderr, "(2 violations)");
    assert_contains(
        &stderr,
        "allowed_hosts entry `example.com` (synchost.toml line 4 ([sources.items] allowed_hosts)) \
         allows http://example.com:80",
    );
    assert_contains(&stderr, "concurrency = 9 (synchost.toml line 3");
    assert_eq!(fake.requests(), 0);

    // Without a policy, it says so.
    let missing = ws.path().join("no-policy.toml");
    let out = Synchost::new(&ws)
        .args(["policy", "explain"])
        .env("SYNCHOST_POLICY_FILE", &missing)
        .output();
    assert_contains(
        &assert_success(&out),
        &format!("No policy: {} does not exist", missing.display()),
    );
}

// ---------------------------------------------------------------------------
// The audit trail in the log

/// The JSON log events of `stderr` whose message is `message`.
fn events(stderr: &str, message: &str) -> Vec<Value> {
    stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["fields"]["message"] == message)
        .collect()
}

#[test]
fn json_logs_and_runs_carry_the_plugin_and_policy_hashes_and_refusals() {
    let fake = FakeServer::start("items", &["--count", "10"]);
    let ws = Workspace::new();
    items_config(&ws, &fake, "");
    let policy = Policy::new("allowed_hosts = [\"127.0.0.1:*\"]\n");
    let out = under(
        &ws,
        &policy,
        &["pull", "items", "-v", "--log-format", "json"],
    )
    .output();
    let (_, stderr) = output_text(&out);
    assert_success(&out);
    let started = events(&stderr, "run started");
    assert_eq!(started.len(), 1, "{stderr}");
    let fields = &started[0]["fields"];
    let plugin_sha256 = sha256_of(&plugin_path("example-items"));
    assert_eq!(
        fields["plugin_sha256"].as_str(),
        Some(plugin_sha256.as_str())
    );
    assert_eq!(fields["plugin_signer"], "", "unsigned");
    assert_eq!(
        fields["policy_sha256"].as_str(),
        Some(policy.sha256().as_str())
    );
    assert_eq!(fields["source"], "items");
    let run = last_run(&ws);
    assert_eq!(run["plugin_sha256"].as_str(), Some(plugin_sha256.as_str()));
    assert_eq!(
        run["policy_sha256"].as_str(),
        Some(policy.sha256().as_str())
    );

    // The administrator narrows the policy: the next pull is refused, and
    // the refusal is an event of its own, without -v.
    policy.write("allowed_hosts = [\"api.github.com\"]\n");
    let rule = policy.rule(1, r#"allowed_hosts = ["api.github.com"]"#);
    let out = under(&ws, &policy, &["pull", "items", "--log-format", "json"]).output();
    let (_, stderr) = output_text(&out);
    assert_exit_code(&out, 2);
    let refusals = events(&stderr, "policy refusal");
    assert_eq!(refusals.len(), 1, "{stderr}");
    let fields = &refusals[0]["fields"];
    assert_eq!(fields["policy_rule"].as_str(), Some(rule.as_str()));
    assert_eq!(
        fields["policy_sha256"].as_str(),
        Some(policy.sha256().as_str())
    );
    assert_eq!(fields["kind"], "pull");
    assert_eq!(fields["source"], "items");

    // `runs` and `status` show it.
    let out = Synchost::run(&ws, &["runs"]);
    let stdout = assert_success(&out);
    assert_contains(&stdout, "POLICY");
    assert_contains(&stdout, &policy.sha256()[..12]);
    assert_contains(&stdout, &format!("refused by {rule}"));
    assert_contains(
        &assert_success(&Synchost::run(&ws, &["status"])),
        "refused at",
    );
}

// ---------------------------------------------------------------------------
// A malformed policy

#[test]
fn a_malformed_policy_fails_closed() {
    let fake = FakeServer::start("items", &["--count", "3"]);
    let ws = Workspace::new();
    items_config(&ws, &fake, "");
    let policy = Policy::new("");
    for (text, problem) in [
        ("allowed_hosts = [\"127.0.0.1:*\"", "is not valid"),
        ("allow_everything = true\n", "is not valid"),
        (
            "allowed_hosts = [\"*.net\"]\n",
            "allowed_hosts: host pattern `*.net`",
        ),
        (
            "[limits]\nconcurency = 2\n",
            "[limits] has no key `concurency`",
        ),
        (
            "[limits]\nconcurrency = -1\n",
            "[limits] concurrency must be a positive whole number",
        ),
        ("proxy = \"socks5://p:1\"\n", "is not a usable proxy URL"),
    ] {
        policy.write(text);
        let stderr = assert_exit_code(&under(&ws, &policy, &["pull", "items"]).output(), 2);
        assert_contains(&stderr, &format!("the policy {}", policy.path.display()));
        assert_contains(&stderr, problem);
        assert_contains(&stderr, "nothing runs");
    }
    // A policy that cannot be read: refused too.
    let unreadable = ws.path().join("policy-dir");
    std::fs::create_dir(&unreadable).unwrap();
    let out = Synchost::new(&ws)
        .args(["pull", "items"])
        .env("SYNCHOST_POLICY_FILE", &unreadable)
        .output();
    assert_contains(&assert_exit_code(&out, 2), "cannot be read");
    assert_eq!(fake.requests(), 0);
}

// ---------------------------------------------------------------------------
// plugin check and plugin inspect

#[test]
fn plugin_check_and_inspect_refuse_what_the_policy_forbids() {
    let fake = FakeServer::start("items", &["--count", "5"]);
    let ws = Workspace::new();
    let plugin = plugin_path("example-items");
    let file = plugin.display().to_string();
    let sha256 = sha256_of(&plugin);
    let policy = Policy::new(&format!(
        "allowed_plugin_hashes = [\"{}\"]\n",
        "0".repeat(64)
    ));
    let rule = policy.rule(
        1,
        &format!("allowed_plugin_hashes = [\"{}\"]", "0".repeat(64)),
    );
    let refusal = format!("plugin {file} (sha256 {sha256}) is not allowed by {rule}");
    let stderr = assert_exit_code(
        &under(&ws, &policy, &["plugin", "inspect", &file]).output(),
        2,
    );
    assert_contains(&stderr, &refusal);
    let base_url = format!("base_url={}", fake.url());
    let out = under(
        &ws,
        &policy,
        &["plugin", "check", &file, "--set", &base_url],
    )
    .output();
    assert_contains(&assert_exit_code(&out, 2), &refusal);
    assert_eq!(fake.requests(), 0);

    // Allowed by hash, but its hosts are not: check refuses them before any request.
    policy.write(&format!(
        "allowed_plugin_hashes = [\"{sha256}\"]\nallowed_hosts = [\"api.github.com\"]\n"
    ));
    assert_success(&under(&ws, &policy, &["plugin", "inspect", &file]).output());
    let out = under(
        &ws,
        &policy,
        &["plugin", "check", &file, "--set", &base_url],
    )
    .output();
    let stderr = assert_exit_code(&out, 2);
    assert_contains(&stderr, "(--set base_url) allows http://127.0.0.1:");
    assert_contains(
        &stderr,
        &policy.rule(2, r#"allowed_hosts = ["api.github.com"]"#),
    );
    assert_eq!(fake.requests(), 0);
}
