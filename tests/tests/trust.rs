//! Pinned and signed plugins: the lock file (`synchost.lock`) refuses a
//! changed plugin file until `synchost plugin trust` accepts it; a config
//! pin (`plugin_sha256`) refuses any other file, and `trust` cannot
//! override it; `require_signature` refuses unsigned files, files signed by
//! an unlisted key and files changed after signing; runs record the signer.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use support::{
    assert_exit_code, assert_success, export, json_output, output_text, plugin_path, toml_str,
    wait_for, FakeServer, Synchost, Workspace,
};

/// The sha256 `plugin inspect --json` reports for `file`.
fn sha256_of(ws: &Workspace, file: &Path) -> String {
    let report = json_output(
        ws,
        &["plugin", "inspect", &file.display().to_string(), "--json"],
    );
    report["sha256"].as_str().expect("a sha256").to_string()
}

/// `ws/plugins/items.wasm`, a copy of the example plugin `name`.
fn install(ws: &Workspace, name: &str) -> PathBuf {
    let dir = ws.path().join("plugins");
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("items.wasm");
    fs::copy(plugin_path(name), &path).unwrap();
    path
}

/// A config whose source `items` runs `plugins/items.wasm` against `fake`,
/// with `source_keys` in its table and `extra` after it.
fn config(ws: &Workspace, fake: &FakeServer, source_keys: &str, extra: &str) {
    ws.write_config(&format!(
        "[sources.items]\nplugin = \"plugins/items.wasm\"\n{source_keys}\n\
         [sources.items.settings]\nbase_url = {}\n\n{extra}",
        toml_str(fake.url())
    ));
}

fn pull(ws: &Workspace) -> std::process::Output {
    Synchost::new(ws)
        .shared_cache()
        .args(["pull", "items"])
        .output()
}

fn lock(ws: &Workspace) -> toml_value::Table {
    let text = fs::read_to_string(ws.path().join("synchost.lock")).expect("a lock file");
    toml_value::parse(&text)
}

fn runs(ws: &Workspace) -> Vec<Value> {
    json_output(ws, &["runs", "--json"])
        .as_array()
        .expect("runs are a list")
        .clone()
}

#[test]
fn a_changed_plugin_is_refused_until_trusted() {
    let fake = FakeServer::start("items", &["--count", "7"]);
    let ws = Workspace::new();
    let plugin = install(&ws, "example-items");
    let first = sha256_of(&ws, &plugin);
    config(&ws, &fake, "", "");
    assert!(!ws.path().join("synchost.lock").exists());

    assert_success(&pull(&ws));
    let recorded = lock(&ws);
    assert_eq!(recorded.get("items", "sha256"), first);
    assert_eq!(recorded.get("items", "name"), "example-items");
    assert_eq!(recorded.get("items", "contract"), "0.2.0");

    // Another plugin file in its place: refused before it runs, nothing recorded.
    let plugin_dir_copy = install(&ws, "legacy-v01");
    let second = sha256_of(&ws, &plugin_dir_copy);
    assert_ne!(first, second);
    let requests = fake.requests();
    let out = pull(&ws);
    let stderr = assert_exit_code(&out, 2);
    assert!(
        stderr.contains(&first) && stderr.contains(&second),
        "both hashes named: {stderr}"
    );
    assert!(
        stderr.contains("synchost plugin trust items"),
        "the command to accept it: {stderr}"
    );
    assert_eq!(fake.requests(), requests, "no request was sent");
    assert_eq!(runs(&ws).len(), 1, "no run was started");
    assert_eq!(
        lock(&ws).get("items", "sha256"),
        first,
        "the lock is unchanged"
    );

    // A push goes through the same check.
    let id = export(&ws, "items", &[])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let changes = ws.path().join("changes.jsonl");
    let change = json!({"op": "update", "id": id, "content": "edited"});
    fs::write(&changes, format!("{change}\n")).unwrap();
    let file = changes.display().to_string();
    assert_success(&Synchost::run(
        &ws,
        &["stage", "items", "--stream", "items", "--file", &file],
    ));
    let stderr = assert_exit_code(
        &Synchost::new(&ws)
            .shared_cache()
            .args(["push", "items"])
            .output(),
        2,
    );
    assert!(
        stderr.contains(&second) && stderr.contains("synchost plugin trust items"),
        "{stderr}"
    );
    assert_eq!(fake.requests(), requests, "no request was sent");

    // `trust` shows what changed and accepts it.
    let out = Synchost::new(&ws)
        .shared_cache()
        .args(["plugin", "trust", "items"])
        .output();
    let stdout = assert_success(&out);
    for line in [
        format!("was: sha256 {first} (example-items 0.1.0"),
        format!("now: sha256 {second} (legacy-v01 0.1.0)"),
        "name: example-items → legacy-v01".to_string(),
        "contract: 0.2.0 → 0.1.0".to_string(),
        "imports: - synchost:source/types@0.2.0".to_string(),
        "imports: + synchost:source/log@0.1.0".to_string(),
        "auth: bearer; token_env = ITEMS_TOKEN → (none)".to_string(),
    ] {
        assert!(stdout.contains(&line), "`{line}` in:\n{stdout}");
    }
    assert_eq!(lock(&ws).get("items", "sha256"), second);

    let out = pull(&ws);
    assert_success(&out);
    let latest = &runs(&ws)[0];
    assert_eq!(latest["plugin_sha256"], second.as_str());
    assert_eq!(latest["outcome"], "succeeded");

    // Trusting the file already trusted changes nothing.
    let stdout = assert_success(&Synchost::run(&ws, &["plugin", "trust", "items"]));
    assert!(stdout.contains("already the trusted one"), "{stdout}");
}

#[test]
fn a_watch_refuses_a_changed_plugin_until_it_is_trusted() {
    let fake = FakeServer::start("items", &["--count", "5"]);
    let ws = Workspace::new();
    install(&ws, "example-items");
    config(&ws, &fake, "", "");
    assert_success(&pull(&ws));
    install(&ws, "legacy-v01");
    let mut child = Synchost::new(&ws)
        .shared_cache()
        .args([
            "watch",
            "--every",
            "1s",
            "--jitter-percent",
            "0",
            "--max-backoff",
            "1s",
            "--json",
        ])
        .start();
    let watch_runs = |ws: &Workspace| -> Vec<Value> {
        ws.last_spawn_logs()
            .0
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|event| event["event"] == "watch_run")
            .collect()
    };
    wait_for("a refused watch run", Duration::from_secs(60), || {
        !watch_runs(&ws).is_empty()
    });
    let refused = &watch_runs(&ws)[0]["sources"][0];
    assert_eq!(refused["outcome"], "failed", "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("synchost plugin trust items"),
        "{refused}"
    );
    assert_eq!(runs(&ws).len(), 1, "only the first pull ran");

    assert_success(
        &Synchost::new(&ws)
            .shared_cache()
            .args(["plugin", "trust", "items"])
            .output(),
    );
    wait_for("a watch run after trust", Duration::from_secs(60), || {
        watch_runs(&ws)
            .iter()
            .any(|run| run["sources"][0]["outcome"] == "succeeded")
    });
    // SAFETY: signals the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(runs(&ws).len(), 2);
}

#[test]
fn a_config_pin_admits_only_its_file_and_trust_cannot_override_it() {
    let fake = FakeServer::start("items", &["--count", "3"]);
    let ws = Workspace::new();
    let example = sha256_of(&ws, &plugin_path("example-items"));
    install(&ws, "legacy-v01");
    config(&ws, &fake, &format!("plugin_sha256 = \"{example}\""), "");

    let stderr = assert_exit_code(&pull(&ws), 2);
    assert!(
        stderr.contains(&format!("plugin_sha256 = \"{example}\""))
            && stderr.contains("does not override it"),
        "{stderr}"
    );
    let stderr = assert_exit_code(&Synchost::run(&ws, &["plugin", "trust", "items"]), 2);
    assert!(stderr.contains("plugin_sha256"), "{stderr}");
    assert!(!ws.path().join("synchost.lock").exists());

    install(&ws, "example-items");
    assert_success(&pull(&ws));
    assert_eq!(lock(&ws).get("items", "sha256"), example);

    let stderr = {
        config(&ws, &fake, "plugin_sha256 = \"abc\"", "");
        assert_exit_code(&pull(&ws), 2)
    };
    assert!(stderr.contains("64 hex digits"), "{stderr}");
}

/// `synchost plugin keygen --out DIR/NAME`: the public key line it writes.
fn keygen(ws: &Workspace, name: &str) -> (PathBuf, String) {
    let prefix = ws.path().join("keys").join(name);
    fs::create_dir_all(prefix.parent().unwrap()).unwrap();
    let out = Synchost::run(
        ws,
        &["plugin", "keygen", "--out", &prefix.display().to_string()],
    );
    let stdout = assert_success(&out);
    let secret = prefix.with_extension("key");
    let public = fs::read_to_string(prefix.with_extension("pub")).unwrap();
    let public = public.trim().to_string();
    assert!(public.starts_with("ed25519:"), "{public}");
    assert!(stdout.contains(&public), "{stdout}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the secret key is the owner's only");
    }
    (secret, public)
}

fn sign(ws: &Workspace, file: &Path, key: &Path) -> String {
    assert_success(&Synchost::run(
        ws,
        &[
            "plugin",
            "sign",
            &file.display().to_string(),
            "--key",
            &key.display().to_string(),
        ],
    ))
}

#[test]
fn a_required_signature_admits_only_files_signed_by_a_trusted_key() {
    let fake = FakeServer::start("items", &["--count", "4"]);
    let ws = Workspace::new();
    let (secret, public) = keygen(&ws, "release");
    let (stranger, _) = keygen(&ws, "stranger");
    let plugin = install(&ws, "example-items");
    config(
        &ws,
        &fake,
        "require_signature = true",
        &format!("[trust]\nkeys = [{}]\n", toml_str(&public)),
    );

    // Unsigned.
    let stderr = assert_exit_code(&pull(&ws), 2);
    assert!(
        stderr.contains("it is not signed")
            && stderr.contains("[sources.items] require_signature = true"),
        "{stderr}"
    );

    // Signed by a key the config does not list.
    sign(&ws, &plugin, &stranger);
    let stderr = assert_exit_code(&pull(&ws), 2);
    assert!(
        stderr.contains("not among the trusted keys") && stderr.contains("require_signature"),
        "{stderr}"
    );

    // Signed by the trusted key: it runs, and the run records the signer.
    let stdout = sign(&ws, &plugin, &secret);
    let key_id = public_key_id(&ws, &plugin);
    assert!(stdout.contains(&key_id), "{stdout}");
    let out = Synchost::new(&ws)
        .shared_cache()
        .args(["pull", "items", "--json"])
        .output();
    let stdout = assert_success(&out);
    assert!(
        stdout.contains(&format!("\"plugin_signer\":\"{key_id}\"")),
        "{stdout}"
    );
    assert_eq!(runs(&ws)[0]["plugin_signer"], key_id.as_str());
    assert_eq!(lock(&ws).get("items", "signer"), key_id);

    // Another file behind the same signature: refused before the lock is read.
    fs::copy(plugin_path("legacy-v01"), &plugin).unwrap();
    let stderr = assert_exit_code(&pull(&ws), 2);
    assert!(
        stderr.contains("the file changed after it was signed")
            && stderr.contains("require_signature"),
        "{stderr}"
    );
    let report = json_output(
        &ws,
        &["plugin", "inspect", &plugin.display().to_string(), "--json"],
    );
    assert_eq!(report["signature"]["status"], "invalid", "{report}");
}

#[test]
fn the_global_rule_holds_for_ad_hoc_plugins_which_have_no_lock() {
    let fake = FakeServer::start("items", &["--count", "2"]);
    let ws = Workspace::new();
    let (secret, public) = keygen(&ws, "release");
    let plugin = install(&ws, "example-items");
    ws.write_config(&format!(
        "[trust]\nrequire_signature = true\nkeys = [{}]\n",
        toml_str(&public)
    ));
    let ad_hoc = |ws: &Workspace| {
        Synchost::new(ws)
            .shared_cache()
            .args(["pull", "--plugin", "plugins/items.wasm", "--set"])
            .arg(format!("base_url={}", fake.url()))
            .output()
    };
    let stderr = assert_exit_code(&ad_hoc(&ws), 2);
    assert!(
        stderr.contains("it is not signed")
            && stderr.contains("[trust] require_signature = true in synchost.toml"),
        "{stderr}"
    );
    sign(&ws, &plugin, &secret);
    assert_success(&ad_hoc(&ws));
    assert!(
        !ws.path().join("synchost.lock").exists(),
        "ad-hoc plugins are not locked"
    );
}

/// `synchost ARGS` under the policy file `policy` (`SYNCHOST_POLICY_FILE`).
fn under_policy(ws: &Workspace, policy: &Path, args: &[&str]) -> std::process::Output {
    Synchost::new(ws)
        .shared_cache()
        .env("SYNCHOST_POLICY_FILE", policy)
        .args(args)
        .output()
}

#[test]
fn an_administrators_policy_caps_what_the_user_config_allows() {
    let fake = FakeServer::start("items", &["--count", "3"]);
    let ws = Workspace::new();
    let (admin_key, admin) = keygen(&ws, "admin");
    let (_, user) = keygen(&ws, "user");
    let plugin = install(&ws, "example-items");
    let example = sha256_of(&ws, &plugin);
    let policy = ws.path().join("policy.toml");
    let shown = policy.display().to_string();
    config(&ws, &fake, "", "");

    fs::write(&policy, "# set by IT\nallow_ad_hoc = false\n").unwrap();
    let url = format!("base_url={}", fake.url());
    let out = under_policy(
        &ws,
        &policy,
        &["pull", "--plugin", "plugins/items.wasm", "--set", &url],
    );
    let stderr = assert_exit_code(&out, 2);
    assert!(
        stderr.contains(&format!("policy {shown} line 2 (allow_ad_hoc = false)")),
        "{stderr}"
    );

    // Signatures required, by the administrator's keys only.
    fs::write(
        &policy,
        format!(
            "require_signature = true\ntrusted_keys = [{}]\n",
            toml_str(&admin)
        ),
    )
    .unwrap();
    let stderr = assert_exit_code(&under_policy(&ws, &policy, &["pull", "items"]), 2);
    assert!(
        stderr.contains("it is not signed")
            && stderr.contains(&format!("policy {shown} line 1 (require_signature = true)")),
        "{stderr}"
    );
    config(
        &ws,
        &fake,
        "",
        &format!("[trust]\nkeys = [{}]\n", toml_str(&user)),
    );
    let stderr = assert_exit_code(&under_policy(&ws, &policy, &["pull", "items"]), 2);
    assert!(
        stderr.contains(&format!("policy {shown} line 2 (trusted_keys")),
        "a user key the policy does not list: {stderr}"
    );
    config(&ws, &fake, "", "");
    sign(&ws, &plugin, &admin_key);
    assert_success(&under_policy(&ws, &policy, &["pull", "items"]));

    // Only the files it lists; `trust` cannot admit another.
    fs::write(
        &policy,
        format!("allowed_plugin_hashes = [\"{example}\"]\n"),
    )
    .unwrap();
    assert_success(&under_policy(&ws, &policy, &["pull", "items"]));
    install(&ws, "legacy-v01");
    for args in [&["pull", "items"][..], &["plugin", "trust", "items"][..]] {
        let stderr = assert_exit_code(&under_policy(&ws, &policy, args), 2);
        assert!(
            stderr.contains(&format!(
                "is not allowed by policy {shown} line 1 (allowed_plugin_hashes"
            )),
            "{args:?}: {stderr}"
        );
    }
}

/// The key id `plugin inspect` shows for the valid signature of `file`.
fn public_key_id(ws: &Workspace, file: &Path) -> String {
    let report = json_output(
        ws,
        &["plugin", "inspect", &file.display().to_string(), "--json"],
    );
    assert_eq!(report["signature"]["status"], "valid", "{report}");
    assert_eq!(report["signature"]["trusted"], true, "{report}");
    let out = Synchost::run(ws, &["plugin", "inspect", &file.display().to_string()]);
    let (stdout, _) = output_text(&out);
    let id = report["signature"]["key_id"].as_str().unwrap().to_string();
    assert!(
        stdout.contains(&format!("signature:     valid, signed by key {id}")),
        "{stdout}"
    );
    id
}

/// Just enough TOML reading for the lock file's `[sources.NAME]` strings.
mod toml_value {
    pub struct Table(Vec<(String, String, String)>);

    pub fn parse(text: &str) -> Table {
        let mut section = String::new();
        let mut entries = Vec::new();
        for line in text.lines() {
            if let Some(name) = line
                .strip_prefix("[sources.")
                .and_then(|l| l.strip_suffix(']'))
            {
                section = name.to_string();
            } else if let Some((key, value)) = line.split_once(" = ") {
                if let Some(value) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                    entries.push((section.clone(), key.to_string(), value.to_string()));
                }
            }
        }
        Table(entries)
    }

    impl Table {
        #[track_caller]
        pub fn get(&self, section: &str, key: &str) -> String {
            self.0
                .iter()
                .find(|(s, k, _)| s == section && k == key)
                .map(|(_, _, v)| v.clone())
                .unwrap_or_else(|| panic!("no {key} in [sources.{section}]"))
        }
    }
}
