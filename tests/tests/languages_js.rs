//! JavaScript plugins (issue 13), end to end: the JS example pulls and
//! delta-syncs the items fake exactly like the Rust one; a default
//! componentize-js build loads, its `fetch()` is denied with nothing reaching
//! a listening port, and a thrown error shows in the host's error; the SDK's
//! and the example's unit tests pass under node; `plugin new --lang js`
//! writes a project that builds, passes its test and `plugin check`.
//!
//! The `.wasm` files are built by `cargo xtask build` with the pinned
//! componentize-js, which `cargo xtask test` installs: when they or the
//! toolchain are missing, these tests fail saying so.

mod support;

use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use support::{
    assert_check_passes, assert_success, export, json_lines, output_text, stored, target_dir,
    toml_str, FakeServer, Synchost, Workspace, TOKEN_VAR,
};

/// How to get what these tests need.
const INSTALL: &str = "`cargo xtask test` installs componentize-js 0.23.0 (npm) into \
     ~/.cache/synchost/toolchains/js and builds the JavaScript plugins; with the toolchain \
     there, `cargo xtask build` builds them";

/// The repository root (the tests crate is one level down).
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repository root")
        .to_path_buf()
}

/// `target/plugins/<name>.wasm`, built from JavaScript; fails saying how to
/// build it when it is missing.
fn js_plugin(name: &str) -> PathBuf {
    let path = target_dir().join("plugins").join(format!("{name}.wasm"));
    assert!(path.is_file(), "{} is missing: {INSTALL}", path.display());
    path
}

/// Runs `program args` in `dir`, failing with `INSTALL` when it cannot start.
fn run_in(dir: &Path, program: &str, args: &[&str], path_first: Option<&Path>) -> Output {
    let mut command = Command::new(program);
    command.args(args).current_dir(dir);
    if let Some(bin) = path_first {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![bin.to_path_buf()];
        dirs.extend(std::env::split_paths(&path));
        command.env("PATH", std::env::join_paths(dirs).expect("PATH"));
    }
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} {args:?} ({e}): {INSTALL}"))
}

/// `synchost.toml` of two sources reading `fake` with its token from
/// [`TOKEN_VAR`]: `rust` (example-items) and `js` (js-items).
fn both_config(ws: &Workspace, fake: &FakeServer) {
    let source = |name: &str, plugin: &Path| {
        format!(
            "[sources.{name}]\nplugin = {}\n\n[sources.{name}.settings]\nbase_url = {}\n\n\
             [sources.{name}.auth]\ntype = \"bearer\"\ntoken_env = \"{TOKEN_VAR}\"\n\n",
            toml_str(&plugin.display().to_string()),
            toml_str(fake.url()),
        )
    };
    ws.write_config(&format!(
        "{}{}",
        source("rust", &support::plugin_path("example-items")),
        source("js", &js_plugin("js-items"))
    ));
}

/// `synchost pull SOURCE --json EXTRA` with the shared compile cache (a JS
/// plugin takes seconds to compile), to success; the parsed events.
fn pull(ws: &Workspace, source: &str, extra: &[&str]) -> Vec<Value> {
    let out = Synchost::new(ws)
        .args(["pull", source, "--json"])
        .args(extra)
        .env(TOKEN_VAR, "s3cret")
        .shared_cache()
        .output();
    json_lines(&assert_success(&out))
}

/// What a source's export holds, without what differs by source: the records
/// sorted by id, with their content, metadata, title and dates.
fn exported(ws: &Workspace, source: &str) -> Vec<Value> {
    let mut records = export(ws, source, &[]);
    for r in &mut records {
        r.as_object_mut().expect("a record").remove("source");
    }
    records.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    records
}

/// The fake's `(list_requests, item_requests)` since its last reset.
fn requests(fake: &FakeServer) -> (u64, u64) {
    let stats = fake.stats();
    let field = |name: &str| stats[name].as_u64().expect("a counter");
    (field("list_requests"), field("item_requests"))
}

/// Full pull, a delta after updates, deletions and creations, then `--full`
/// after more deletions: the JS example stores the fake's ground truth each
/// time with the same requests as the Rust example, and both stores hold the
/// same records, field for field.
#[test]
fn js_example_syncs_exactly_like_the_rust_one() {
    let fake = FakeServer::start(
        "items",
        &["--count", "250", "--seed", "5", "--token", "s3cret"],
    );
    let ws = Workspace::new();
    both_config(&ws, &fake);

    let mut deleted = std::collections::BTreeSet::new();
    for step in ["full", "delta", "full-flag"] {
        // The delta sees updates, deletions and creations; `--full` lists
        // everything and tombstones what is gone.
        let mutation = match step {
            "delta" => Some((7, 4, 5)),
            "full-flag" => Some((2, 3, 0)),
            _ => None,
        };
        if let Some((update, delete, create)) = mutation {
            let changes = fake.mutate(update, delete, create);
            let ids = changes["deleted"].as_array().expect("deleted ids");
            deleted.extend(ids.iter().map(|id| id.as_str().expect("an id").to_owned()));
        }
        let extra: &[&str] = if step == "full-flag" {
            &["--full"]
        } else {
            &[]
        };
        let mut counts = Vec::new();
        for source in ["rust", "js"] {
            fake.reset_stats();
            let events = pull(&ws, source, extra);
            let started: Vec<&Value> = events
                .iter()
                .filter(|e| e["event"] == "stream_started")
                .collect();
            assert_eq!(started.len(), 1, "{source} {step}: {events:?}");
            assert_eq!(
                started[0]["full"],
                step != "delta",
                "{source} {step}: a delta only after a full pull"
            );
            counts.push(requests(&fake));
            let store = stored(&export(&ws, source, &[]));
            assert_eq!(
                store.live,
                fake.ground_truth(),
                "{source} {step}: live records = ground truth"
            );
            assert_eq!(store.deleted, deleted, "{source} {step}: tombstones");
        }
        assert_eq!(
            counts[0], counts[1],
            "{step}: the same (list, item) requests as the Rust example"
        );
        assert_eq!(
            exported(&ws, "rust"),
            exported(&ws, "js"),
            "{step}: the same records"
        );
    }
}

/// The JS example passes every rule of `plugin check` against the fake.
#[test]
fn js_example_passes_plugin_check() {
    let fake = FakeServer::start("items", &["--count", "20"]);
    assert_check_passes(&Workspace::new(), &js_plugin("js-items"), &fake);
}

/// `pull` of the js-network test plugin with `attack`, its base URL `url`.
fn network_pull(ws: &Workspace, url: &str, attack: &str) -> (String, String) {
    let out = Synchost::new(ws)
        .args(["pull", "--plugin"])
        .arg(js_plugin("js-network"))
        .arg("--set")
        .arg(format!("base_url={url}"))
        .arg("--set")
        .arg(format!("attack={attack}"))
        .shared_cache()
        .output();
    assert!(!out.status.success(), "the pull must fail");
    output_text(&out)
}

/// A default componentize-js build loads (wasi:http is linked), but its
/// `fetch()` is denied: the plugin sees a network error, the run fails with
/// it, and no connection reaches the listening port it aimed at, although
/// the source's policy allows that host for the host's own HTTP.
#[test]
fn js_fetch_is_denied_and_nothing_connects() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    let ws = Workspace::new();
    let (_, stderr) = network_pull(&ws, &url, "fetch");
    assert!(
        stderr.contains("fatal: fetch failed: TypeError: NetworkError"),
        "{stderr}"
    );
    // A connection the kernel completed would wait here to be accepted.
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("a connection reached the listener: {other:?}"),
    }
}

/// An error thrown by plugin code (a bug, not a `SourceError`) crashes the
/// call, and the host's error shows its message and where it was thrown.
#[test]
fn a_thrown_js_error_shows_in_the_error() {
    let ws = Workspace::new();
    let (_, stderr) = network_pull(&ws, "http://127.0.0.1:9/", "throw");
    assert!(stderr.contains("crashed in `list`"), "{stderr}");
    assert!(stderr.contains("its last lines on stderr:"), "{stderr}");
    assert!(
        stderr.contains("plugin crashed: TypeError: can't access property \"records\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("tests/plugins-js/js-network/app.js:"),
        "the stack names the file: {stderr}"
    );
}

/// The SDK's and the example's unit tests pass natively under node (`npm
/// test` in each: `node --import <sdk>/register.js --test`).
#[test]
fn unit_tests_pass_under_node() {
    for dir in ["sdk/js", "examples/js-items"] {
        let out = run_in(&repo().join(dir), "npm", &["test"], None);
        let (stdout, stderr) = output_text(&out);
        assert!(
            out.status.success(),
            "npm test in {dir} failed:\n{stdout}\n{stderr}"
        );
        assert!(stdout.contains("# fail 0"), "{dir}: {stdout}");
        assert!(!stdout.contains("# pass 0"), "{dir} ran no test: {stdout}");
    }
}

/// `$HOME/.cache/synchost/toolchains/js/node_modules/.bin`, where `cargo
/// xtask test` installs componentize-js.
fn toolchain_bin() -> PathBuf {
    let home = std::env::var_os("HOME").expect("HOME");
    PathBuf::from(home).join(".cache/synchost/toolchains/js/node_modules/.bin")
}

/// `plugin new todos --lang js`: the project pins the example's toolchain,
/// its unit tests pass under node, `npm run build` builds it with that
/// toolchain, and the component passes `plugin check` and pulls the fake's
/// ground truth: the three commands of its README.
#[test]
fn plugin_new_js_builds_tests_checks_and_pulls() {
    let ws = Workspace::new();
    let out = Synchost::run(&ws, &["plugin", "new", "todos", "--lang", "js"]);
    let stdout = assert_success(&out);
    assert!(stdout.contains("npm run build"), "{stdout}");
    let project = ws.path().join("todos");

    let json = |path: &Path| -> Value {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let pins = json(&repo().join("examples/js-items/package.json"))["devDependencies"].clone();
    let package = json(&project.join("package.json"));
    assert_eq!(
        package["devDependencies"], pins,
        "the example's pinned toolchain"
    );
    let readme = std::fs::read_to_string(project.join("README.md")).expect("README.md");
    for command in [
        "npm run build",
        "synchost plugin check todos.wasm",
        "synchost pull --plugin todos.wasm",
    ] {
        assert!(
            readme.contains(command),
            "README lacks `{command}`:\n{readme}"
        );
    }

    let tested = run_in(&project, "npm", &["test"], None);
    let (stdout, stderr) = output_text(&tested);
    assert!(tested.status.success(), "npm test:\n{stdout}\n{stderr}");
    assert!(stdout.contains("# pass 3"), "{stdout}");

    let built = run_in(&project, "npm", &["run", "build"], Some(&toolchain_bin()));
    let (stdout, stderr) = output_text(&built);
    assert!(
        built.status.success(),
        "npm run build failed ({INSTALL}):\n{stdout}\n{stderr}"
    );
    let wasm = project.join("todos.wasm");

    let fake = FakeServer::start("items", &["--count", "30", "--seed", "9"]);
    assert_check_passes(&ws, &wasm, &fake);

    let pulled = Synchost::new(&ws)
        .args(["pull", "--plugin"])
        .arg(&wasm)
        .arg("--set")
        .arg(format!("base_url={}", fake.url()))
        .shared_cache()
        .output();
    assert_success(&pulled);
    let store = stored(&export(&ws, "todos", &[]));
    assert_eq!(store.live, fake.ground_truth(), "the source is named todos");
}
