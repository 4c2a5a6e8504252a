//! End-to-end refusals: what `synchost` must refuse, with a clear message,
//! the documented exit code and without sending a request it should not:
//! wrong credentials, disallowed hosts, incompatible or broken plugins, bad
//! config, a corrupt store. Also `plugin inspect`, which identifies a plugin.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use sha2::{Digest, Sha256};
use support::{
    assert_exit_code, assert_success, output_text, plugin_path, str_field, toml_str, FakeServer,
    Synchost, Workspace,
};

/// Writes a `synchost.toml` with one source `items` (the example plugin on
/// `fake`), plus `extra` keys in `[sources.items]` and `tables` at the end.
fn items_config(ws: &Workspace, fake: &FakeServer, extra: &str, tables: &str) {
    let plugin = plugin_path("example-items");
    ws.write_config(&format!(
        "[sources.items]\nplugin = {}\n{extra}\n[sources.items.settings]\nbase_url = {}\n\n{tables}",
        toml_str(&plugin.display().to_string()),
        toml_str(fake.url()),
    ));
}

/// `synchost pull --plugin FILE --set base_url=<fake>` in `ws`.
fn ad_hoc_pull(ws: &Workspace, plugin: &Path, fake: &FakeServer) -> Output {
    Synchost::new(ws)
        .args(["pull", "--plugin"])
        .arg(plugin)
        .arg("--set")
        .arg(format!("base_url={}", fake.url()))
        .output()
}

/// A wrong token fails fast with exit code 3 and no retry: the fake sees
/// exactly one request (a 401 is never retried).
#[test]
fn wrong_token_exits_3_after_one_request() {
    let fake = FakeServer::start("items", &["--count", "50", "--token", "right-token"]);
    let ws = Workspace::new();
    items_config(
        &ws,
        &fake,
        "",
        "[sources.items.auth]\ntype = \"bearer\"\ntoken_env = \"SYNCHOST_E2E_TOKEN\"\n",
    );
    let out = Synchost::new(&ws)
        .args(["pull", "items"])
        .env("SYNCHOST_E2E_TOKEN", "wrong-tok-7f3k9")
        .output();
    let stderr = assert_exit_code(&out, 3);
    assert!(
        stderr.contains("401") || stderr.to_lowercase().contains("credential"),
        "stderr names the authentication failure:\n{stderr}"
    );
    assert!(
        !stderr.contains("wrong"),
        "the token is not printed:\n{stderr}"
    );
    let stats = fake.stats();
    assert_eq!(
        fake.requests(),
        1,
        "exactly one request, no retries: {stats}"
    );
    assert_eq!(stats["by_status"]["401"], 1, "{stats}");
}

/// A host outside `allowed_hosts` is denied inside synchost: the run fails
/// with a message naming the host, and no request reaches the fake.
#[test]
fn disallowed_host_is_denied_without_a_request() {
    let fake = FakeServer::start("items", &["--count", "50"]);
    let ws = Workspace::new();
    items_config(&ws, &fake, "allowed_hosts = [\"example.com\"]\n", "");
    let out = Synchost::run(&ws, &["pull", "items"]);
    let (_, stderr) = output_text(&out);
    assert!(
        matches!(out.status.code(), Some(1 | 2)),
        "a denied host fails the run (exit 1 or 2): {}\n{stderr}",
        out.status
    );
    assert!(
        stderr.contains("127.0.0.1") && stderr.contains("allowed"),
        "stderr names the host that is not allowed:\n{stderr}"
    );
    assert_eq!(fake.requests(), 0, "no request reached the fake");
}

/// A bare host in `allowed_hosts` allows ports 80 and 443 only, so the
/// fake on its own port is denied without a request, and the message says
/// how to allow it; `host:*` allows every port and the pull completes.
#[test]
fn a_bare_allowed_host_covers_the_default_ports_only() {
    let fake = FakeServer::start("items", &["--count", "20"]);
    let ws = Workspace::new();
    items_config(&ws, &fake, "allowed_hosts = [\"127.0.0.1\"]\n", "");
    let out = Synchost::run(&ws, &["pull", "items"]);
    let stderr = assert_exit_code(&out, 1);
    let with_port = format!("127.0.0.1:{}", fake.port());
    assert!(
        stderr.contains(&format!("add `{with_port}`")),
        "the message says how to allow the port:\n{stderr}"
    );
    assert_eq!(fake.requests(), 0, "no request reached the fake");

    items_config(&ws, &fake, "allowed_hosts = [\"127.0.0.1:*\"]\n", "");
    assert_success(&Synchost::run(&ws, &["pull", "items"]));
    assert!(fake.requests() > 0);
}

/// A plugin built for another major version of the contract is refused
/// (exit 2) with a message that names both versions; nothing is sent.
#[test]
fn wrong_major_plugin_is_refused() {
    let fake = FakeServer::start("items", &["--count", "10"]);
    let ws = Workspace::new();
    let out = ad_hoc_pull(&ws, &plugin_path("wrong-major"), &fake);
    let stderr = assert_exit_code(&out, 2);
    let supported = contract_version();
    let supported_minor = supported.rsplit_once('.').expect("x.y.z").0;
    assert!(
        stderr.contains("1.0.0"),
        "names the plugin's contract version 1.0.0:\n{stderr}"
    );
    assert!(
        stderr.contains(supported_minor),
        "names the supported contract version {supported}:\n{stderr}"
    );
    assert_eq!(fake.requests(), 0, "nothing is sent");
}

/// The interfaces `forbidden-imports` imports that synchost does not grant,
/// without versions: neither WASI 0.3's network nor interfaces no plugin gets.
const FORBIDDEN_IMPORTS: [&str; 3] = [
    "wasi:keyvalue/store@",
    "wasi:config/store@",
    "wasi:http/handler@",
];

/// Entries in the workspace's compile cache (none when it does not exist).
fn cache_entries(ws: &Workspace) -> Vec<PathBuf> {
    fs::read_dir(ws.cache_dir())
        .map(|dir| dir.map(|entry| entry.expect("entry").path()).collect())
        .unwrap_or_default()
}

/// A plugin importing what synchost does not link (WASI 0.3's wasi:http, a
/// key-value store) is refused (exit 2) by `plugin inspect` and by a pull,
/// before compiling: every refused interface is named, with a hint, nothing
/// is sent, and the compile cache stays empty (which a plugin that loads does
/// not leave it).
#[test]
fn forbidden_imports_are_all_named_and_never_compiled() {
    let fake = FakeServer::start("items", &["--count", "10"]);
    let ws = Workspace::new();
    let plugin = plugin_path("forbidden-imports");
    let inspect = Synchost::new(&ws)
        .args(["plugin", "inspect"])
        .arg(&plugin)
        .output();
    for out in [inspect, ad_hoc_pull(&ws, &plugin, &fake)] {
        let stderr = assert_exit_code(&out, 2);
        for name in FORBIDDEN_IMPORTS {
            assert_eq!(
                stderr.matches(name).count(),
                1,
                "names `{name}` once:\n{stderr}"
            );
        }
        assert!(
            stderr.contains("3 interfaces") && stderr.contains("refused before compiling"),
            "{stderr}"
        );
        assert!(
            stderr.contains("hint: Rust: build for wasm32-wasip2"),
            "the hint for the toolchain that built it:\n{stderr}"
        );
        assert!(
            !stderr.contains("wasi:io/") && !stderr.contains("wasi:cli/"),
            "allowed imports are not named:\n{stderr}"
        );
        assert_eq!(cache_entries(&ws), Vec::<PathBuf>::new(), "nothing cached");
    }
    assert_eq!(fake.requests(), 0, "nothing is sent");

    // The same cache keeps a plugin that loads.
    let out = Synchost::new(&ws)
        .args(["plugin", "inspect"])
        .arg(plugin_path("example-items"))
        .output();
    assert_success(&out);
    assert_eq!(cache_entries(&ws).len(), 1, "{:?}", cache_entries(&ws));
}

/// WASI 0.2's sockets and wasi:http load (default Python and JavaScript
/// builds import them) but get nothing: `network-denied` tries a TCP
/// connection and a `wasi:http` GET to a port this test listens on, and a
/// name lookup. Each attempt fails with the sandbox's denial, the run fails
/// with the plugin's account of it, and no connection reaches the listener.
#[test]
fn wasi_network_interfaces_load_but_every_call_is_denied() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    listener.set_nonblocking(true).expect("non-blocking");
    let target = listener.local_addr().expect("address");
    let ws = Workspace::new();
    let out = Synchost::new(&ws)
        .args(["pull", "--plugin"])
        .arg(plugin_path("network-denied"))
        .arg("--set")
        .arg(format!("target={target}"))
        // synchost's own `http` may reach the listener; WASI's may not.
        .arg("--set")
        .arg(format!("base_url=http://{target}"))
        .output();
    let stderr = assert_exit_code(&out, 1);
    assert!(
        !stderr.contains("REACHED") && !stderr.contains("no answer"),
        "every attempt fails:\n{stderr}"
    );
    for denied in [
        "tcp connect: failed (",
        "name lookup: failed (",
        "wasi:http: failed (ErrorCode::HttpRequestDenied)",
    ] {
        assert!(stderr.contains(denied), "`{denied}`:\n{stderr}");
    }
    assert!(
        stderr.to_lowercase().contains("permission denied")
            || stderr.to_lowercase().contains("access denied"),
        "the socket calls are denied, not merely unreachable:\n{stderr}"
    );
    let mut connections = 0;
    while listener.accept().is_ok() {
        connections += 1;
    }
    assert_eq!(connections, 0, "no connection reached the listener");
}

/// Files that are not components — a text file, a core wasm module — are
/// refused with exit 2 and a message saying what is wrong with the file.
#[test]
fn non_component_files_are_refused() {
    let fake = FakeServer::start("items", &["--count", "10"]);
    let ws = Workspace::new();
    let cases: [(&str, &[u8], &str); 3] = [
        ("notes.wasm", b"this is not wasm\n", "webassembly"),
        ("core.wasm", b"\0asm\x01\0\0\0", "component"),
        ("empty.wasm", b"", "webassembly"),
    ];
    for (name, bytes, expected) in cases {
        let path = ws.path().join(name);
        fs::write(&path, bytes).expect("write the file");
        let out = ad_hoc_pull(&ws, &path, &fake);
        let stderr = assert_exit_code(&out, 2);
        assert!(
            stderr.contains(name),
            "{name}: the message names the file:\n{stderr}"
        );
        assert!(
            stderr.to_lowercase().contains(expected),
            "{name}: the message says it is not a {expected}:\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{name}: no panic:\n{stderr}");
    }
    assert_eq!(fake.requests(), 0, "nothing is sent");
}

/// A malformed config is refused with exit 2 and names the line at fault.
#[test]
fn malformed_config_names_the_line() {
    let ws = Workspace::new();
    let cases = [
        // A value of the wrong type.
        (
            "[store]\npath = \"x.db\"\n[sources.items]\nplugin = 12\n",
            "line 4",
            None,
        ),
        // A string that never ends.
        (
            "[store]\npath = \"x.db\"\n\n[sources.items]\nplugin = \"items.wasm\n",
            "line 5",
            None,
        ),
        // A misspelled key.
        (
            "[sources.items]\nplugin = \"items.wasm\"\npage_sise = 3\n",
            "line 3",
            Some("page_sise"),
        ),
    ];
    for (toml, line, names) in cases {
        let path = ws.write_config(toml);
        let out = Synchost::run(&ws, &["pull"]);
        let stderr = assert_exit_code(&out, 2);
        assert!(stderr.contains(line), "names {line} of\n{toml}\n{stderr}");
        assert!(
            stderr.contains("synchost.toml"),
            "names the file {}:\n{stderr}",
            path.display()
        );
        if let Some(key) = names {
            assert!(stderr.contains(key), "names `{key}`:\n{stderr}");
        }
    }
    assert!(
        !ws.store_path().exists(),
        "no store is created for a bad config"
    );
}

/// A misspelled key inside `[sources.NAME.auth]` is refused naming its own
/// line, not only the section's.
#[test]
fn malformed_auth_section_names_the_line() {
    let ws = Workspace::new();
    ws.write_config(
        "[sources.items]\nplugin = \"items.wasm\"\n\n[sources.items.auth]\ntype = \"bearer\"\ntoken = \"x\"\n",
    );
    let out = Synchost::run(&ws, &["pull"]);
    let stderr = assert_exit_code(&out, 2);
    assert!(stderr.contains("token"), "names the key `token`:\n{stderr}");
    assert!(
        stderr.contains("line 6"),
        "names line 6, where `token` is:\n{stderr}"
    );
}

/// A credential variable that is not set is a configuration error (exit 2)
/// that names the variable; nothing is sent.
#[test]
fn missing_credential_variable_is_named() {
    const VAR: &str = "SYNCHOST_E2E_SURELY_UNSET_TOKEN";
    let fake = FakeServer::start("items", &["--count", "10", "--token", "t"]);
    let ws = Workspace::new();
    items_config(
        &ws,
        &fake,
        "",
        &format!("[sources.items.auth]\ntype = \"bearer\"\ntoken_env = \"{VAR}\"\n"),
    );
    let out = Synchost::new(&ws)
        .args(["pull", "items"])
        .command()
        .env_remove(VAR)
        .output()
        .expect("run synchost");
    let stderr = assert_exit_code(&out, 2);
    assert!(stderr.contains(VAR), "names {VAR}:\n{stderr}");
    assert_eq!(fake.requests(), 0, "nothing is sent");
}

/// Asking for a source the config does not define is exit 2 and lists the
/// sources it does define.
#[test]
fn unknown_source_lists_the_known_ones() {
    let fake = FakeServer::start("items", &["--count", "10"]);
    let ws = Workspace::new();
    let plugin = toml_str(&plugin_path("example-items").display().to_string());
    let url = toml_str(fake.url());
    ws.write_config(&format!(
        "[sources.alpha]\nplugin = {plugin}\n[sources.alpha.settings]\nbase_url = {url}\n\n\
         [sources.beta]\nplugin = {plugin}\n[sources.beta.settings]\nbase_url = {url}\n"
    ));
    let out = Synchost::run(&ws, &["pull", "gamma"]);
    let stderr = assert_exit_code(&out, 2);
    for name in ["gamma", "alpha", "beta"] {
        assert!(stderr.contains(name), "names `{name}`:\n{stderr}");
    }
    assert_eq!(fake.requests(), 0, "nothing is sent");
}

/// A store file that is not a database gets a clear error mentioning
/// corruption, from `pull` and from `status`, and is left untouched.
#[test]
fn corrupt_store_is_reported_and_left_alone() {
    let fake = FakeServer::start("items", &["--count", "10"]);
    let ws = Workspace::new();
    items_config(&ws, &fake, "", "");
    let store = ws.store_path();
    fs::create_dir_all(store.parent().expect("store dir")).expect("create the store dir");
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7919 % 251) as u8).collect();
    fs::write(&store, &garbage).expect("write garbage");

    for args in [&["pull", "items"][..], &["status"], &["export", "items"]] {
        let out = Synchost::run(&ws, args);
        let (_, stderr) = output_text(&out);
        assert!(
            !out.status.success(),
            "{args:?} must fail on a corrupt store"
        );
        assert!(
            stderr.to_lowercase().contains("corrupt"),
            "{args:?}: the message mentions corruption:\n{stderr}"
        );
        assert!(
            !stderr.contains("panicked"),
            "{args:?}: no panic:\n{stderr}"
        );
        assert_eq!(
            fs::read(&store).expect("the store is still there"),
            garbage,
            "{args:?} left the file as it was"
        );
    }
    assert_eq!(fake.requests(), 0, "nothing is sent");
}

/// `plugin inspect` identifies a plugin: its name, the contract version it
/// implements and the sha256 of the file.
#[test]
fn plugin_inspect_shows_name_contract_and_sha256() {
    let ws = Workspace::new();
    let plugin = plugin_path("example-items");
    let sha256 = hex(&Sha256::digest(fs::read(&plugin).expect("read the plugin")));
    let contract = format!("synchost:source@{}", contract_version());

    let out = Synchost::new(&ws)
        .args(["plugin", "inspect", "--json"])
        .arg(&plugin)
        .output();
    let report: Value =
        serde_json::from_str(&assert_success(&out)).expect("inspect --json is JSON");
    assert_eq!(str_field(&report, "name"), "example-items");
    assert_eq!(str_field(&report, "contract"), contract);
    assert_eq!(str_field(&report, "sha256"), sha256);

    let out = Synchost::new(&ws)
        .args(["plugin", "inspect"])
        .arg(&plugin)
        .output();
    let text = assert_success(&out);
    for expected in ["example-items", &contract, &sha256] {
        assert!(text.contains(expected), "shows {expected}:\n{text}");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The newest contract version in `wit/` (`package synchost:source@X.Y.Z;`),
/// which the host and the example plugin implement.
fn contract_version() -> String {
    let wit = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../wit");
    let mut versions: Vec<semver_like::Version> = fs::read_dir(&wit)
        .unwrap_or_else(|e| panic!("read {}: {e}", wit.display()))
        .filter_map(|entry| fs::read_to_string(entry.ok()?.path().join("source.wit")).ok())
        .filter_map(|text| {
            let line = text
                .lines()
                .find(|l| l.trim_start().starts_with("package synchost:source@"))?;
            let version = line.trim().strip_prefix("package synchost:source@")?;
            semver_like::Version::parse(version.trim_end_matches(';'))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .unwrap_or_else(|| panic!("no `package synchost:source@...` under {}", wit.display()))
        .to_string()
}

mod semver_like {
    /// `MAJOR.MINOR.PATCH`, ordered numerically.
    #[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
    pub struct Version(u64, u64, u64);

    impl Version {
        pub fn parse(s: &str) -> Option<Version> {
            let mut parts = s.trim().split('.').map(|p| p.parse::<u64>().ok());
            let v = Version(parts.next()??, parts.next()??, parts.next()??);
            parts.next().is_none().then_some(v)
        }
    }

    impl std::fmt::Display for Version {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}.{}.{}", self.0, self.1, self.2)
        }
    }
}
