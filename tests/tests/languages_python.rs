//! Python plugins (issue 13): the Python SDK's and the Python example's
//! unit tests pass natively; the example, built by componentize-py's default
//! build, pulls and delta-syncs the items fake exactly like the Rust one; a
//! default build gets no socket out of the sandbox; a Python exception shows
//! its traceback in the error.
//!
//! These need componentize-py (pinned 0.25) and the Python plugins built by
//! `cargo xtask build`; `cargo xtask test` installs the toolchain. Without
//! them every test here fails, saying so: none passes silently.

mod support;

use std::fs;
use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::{
    assert_check_passes, assert_success, export, output_text, stored, target_dir, toml_str,
    FakeServer, Synchost, Workspace,
};

/// How to get the toolchain, for every failure that lacks it.
const INSTALL: &str = "componentize-py 0.25 is needed: `cargo xtask test` installs it in \
     $HOME/.cache/synchost/toolchains/python, after which `cargo xtask build` builds the Python \
     plugins into target/plugins/";

/// The repository root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repository root")
        .to_path_buf()
}

/// The toolchain venv `cargo xtask test` creates.
fn toolchain() -> PathBuf {
    let home = std::env::var_os("HOME").expect("HOME is set");
    Path::new(&home).join(".cache/synchost/toolchains/python/bin")
}

/// The pinned componentize-py: the venv's, else one on PATH of that version.
fn componentize_py() -> PathBuf {
    [
        toolchain().join("componentize-py"),
        "componentize-py".into(),
    ]
    .into_iter()
    .find(|candidate| {
        Command::new(candidate)
            .arg("--version")
            .output()
            .is_ok_and(|out| out.stdout.starts_with(b"componentize-py 0.25."))
    })
    .unwrap_or_else(|| panic!("no componentize-py 0.25 found: {INSTALL}"))
}

/// `target/plugins/<name>.wasm`, built by `cargo xtask build`.
fn python_plugin(name: &str) -> PathBuf {
    let path = target_dir().join("plugins").join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "the Python plugin {name} is not built ({} is missing): {INSTALL}",
        path.display()
    );
    path
}

/// The toolchain venv's Python when there is one, else `python3`.
fn python() -> PathBuf {
    let venv = toolchain().join("python3");
    if venv.is_file() {
        venv
    } else {
        "python3".into()
    }
}

/// `python3 -m unittest discover -s tests` in `dir`, with `path` on
/// PYTHONPATH (besides `dir`); panics unless it passes. Returns the report.
fn unittest(dir: &Path, path: &[PathBuf]) -> String {
    let pythonpath = std::env::join_paths(path).unwrap();
    let out = Command::new(python())
        .args(["-B", "-m", "unittest", "discover", "-v", "-s", "tests"])
        .current_dir(dir)
        .env("PYTHONPATH", pythonpath)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python().display()));
    let (_, report) = output_text(&out);
    assert!(
        out.status.success(),
        "unit tests in {} failed:\n{report}",
        dir.display()
    );
    report
}

/// The number of tests a passing `unittest -v` report ran.
fn ran(report: &str) -> usize {
    assert!(report.trim_end().ends_with("OK"), "{report}");
    report
        .lines()
        .find_map(|line| line.strip_prefix("Ran ")?.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no test count in:\n{report}"))
}

#[test]
fn the_python_sdk_and_example_unit_tests_pass_natively() {
    let sdk_dir = repo().join("sdk/python");
    let sdk = unittest(&sdk_dir, &[]);
    assert!(ran(&sdk) >= 16, "{sdk}");
    assert!(
        sdk.contains("StatusErrors.test_the_rate_limit_vectors) ... ok"),
        "{sdk}"
    );
    let example_dir = repo().join("examples/python-items");
    let example = unittest(&example_dir, &[sdk_dir, example_dir.clone()]);
    assert!(ran(&example) >= 5, "{example}");
    assert!(
        example.contains("ItemsTest.test_a_first_pull_replays_from_a_cassette) ... ok"),
        "{example}"
    );
}

/// The SDK's copy of the generated bindings, which native tests import, is
/// what the pinned componentize-py generates from the contract.
#[test]
fn the_vendored_bindings_are_generated_from_the_contract() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = Command::new(componentize_py())
        .current_dir(repo())
        .args(["-d", "sdk/wit", "-w", "source-plugin", "bindings"])
        .arg(out_dir.path())
        .output()
        .expect("componentize-py bindings");
    assert_success(&out);
    let vendored = repo().join("sdk/python/synchost_sdk/_bindings");
    let files = files_under(&vendored);
    assert!(files.len() >= 8, "{files:?}");
    for file in files {
        let generated = fs::read(out_dir.path().join(&file))
            .unwrap_or_else(|e| panic!("componentize-py did not generate {}: {e}", file.display()));
        assert!(
            generated == fs::read(vendored.join(&file)).unwrap(),
            "sdk/python/synchost_sdk/_bindings/{} differs from what componentize-py generates: \
             regenerate it (componentize-py -d sdk/wit -w source-plugin bindings DIR)",
            file.display()
        );
    }
}

/// `synchost pull --plugin PLUGIN --set base_url=...` in `ws`, then the
/// export of `source`, without the source-specific fields.
fn pull_and_export(ws: &Workspace, plugin: &Path, fake: &FakeServer, source: &str) -> Vec<Value> {
    assert_success(
        &Synchost::new(ws)
            .shared_cache()
            .args(["pull", "--plugin"])
            .arg(plugin)
            .arg("--set")
            .arg(format!("base_url={}", fake.url()))
            .output(),
    );
    export(ws, source, &[])
}

/// The items fake's item and list request counters.
fn counters(fake: &FakeServer) -> (u64, u64) {
    let stats = fake.stats();
    (
        stats["item_requests"].as_u64().unwrap(),
        stats["list_requests"].as_u64().unwrap(),
    )
}

/// The Python example and the Rust one, each in its own workspace against
/// the same fake: a full pull stores the ground truth, and after mutations
/// a delta fetches only what changed and marks exactly the deleted items;
/// both stores hold the same records, field for field.
#[test]
fn the_python_example_syncs_exactly_like_the_rust_one() {
    let python = python_plugin("python-items");
    let fake = FakeServer::start("items", &["--count", "230", "--seed", "21"]);
    let (py_ws, rust_ws) = (Workspace::new(), Workspace::new());

    let py = pull_and_export(&py_ws, &python, &fake, "python-items");
    assert_eq!(
        counters(&fake),
        (230, 3),
        "each item fetched once, in pages of 100"
    );
    let store = stored(&py);
    assert_eq!(store.live, fake.ground_truth(), "the store is the fake's");
    assert!(store.deleted.is_empty());
    let rust = pull_and_export(
        &rust_ws,
        &support::plugin_path("example-items"),
        &fake,
        "example-items",
    );
    assert_eq!(
        py, rust,
        "the Python store is the Rust one, field for field"
    );

    let changes = fake.mutate(6, 4, 3);
    let deleted: std::collections::BTreeSet<String> = changes["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(deleted.len(), 4);
    fake.reset_stats();
    let py = pull_and_export(&py_ws, &python, &fake, "python-items");
    let (items, lists) = counters(&fake);
    assert_eq!(
        items, 9,
        "only the 6 updated and 3 created items are fetched"
    );
    assert_eq!(lists, 1, "a delta of 13 changes is one page");
    let store = stored(&py);
    assert_eq!(
        store.live,
        fake.ground_truth(),
        "live records = ground truth"
    );
    assert_eq!(
        store.deleted, deleted,
        "exactly the deleted items are tombstones"
    );
    let rust = pull_and_export(
        &rust_ws,
        &support::plugin_path("example-items"),
        &fake,
        "example-items",
    );
    assert_eq!(py, rust, "after the delta too");
}

/// Runs the python-network plugin's `attack` with `port` in `ws`: the pull
/// must fail; returns its stderr.
fn attack(ws: &Workspace, attack: &str, port: u16) -> String {
    let plugin = python_plugin("python-network");
    ws.write_config(&format!(
        "[sources.net]\nplugin = {}\n\n[sources.net.settings]\nattack = {}\nport = \"{port}\"\n\
         base_url = \"http://127.0.0.1:{port}\"\n",
        toml_str(&plugin.display().to_string()),
        toml_str(attack),
    ));
    let out = Synchost::new(ws)
        .shared_cache()
        .args(["pull", "net"])
        .output();
    let (stdout, stderr) = output_text(&out);
    assert!(
        !out.status.success(),
        "the {attack} attack succeeded:\n{stdout}\n{stderr}"
    );
    stderr
}

/// A default componentize-py build links wasi:sockets, denied: a name
/// lookup and a TCP connect to a listening port both fail inside the
/// plugin, and nothing reaches the listener.
#[test]
fn python_sockets_are_denied() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let ws = Workspace::new();
    for (how, error) in [
        ("socket", "socket refused: gaierror"),
        ("connect", "socket refused: PermissionError"),
    ] {
        let stderr = attack(&ws, how, port);
        assert!(
            stderr.contains(&format!("fatal: {error}")),
            "{how}: the plugin got an error from the sandbox:\n{stderr}"
        );
        match listener.accept() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            other => panic!("{how}: a connection reached the listener: {other:?}"),
        }
    }
}

/// An uncaught Python exception crashes the call, and the error shows its
/// traceback: the exception, and the plugin's file and lines.
#[test]
fn a_python_exception_shows_its_traceback() {
    let ws = Workspace::new();
    let stderr = attack(&ws, "raise", 9);
    for needle in [
        "crashed in `list`",
        "Traceback (most recent call last):",
        "app.py\", line",
        "in explode",
        "ValueError: boom from python-network",
    ] {
        assert!(stderr.contains(needle), "no {needle:?} in:\n{stderr}");
    }
}

#[test]
fn the_python_example_passes_plugin_check() {
    let fake = FakeServer::start("items", &["--count", "20"]);
    let ws = Workspace::new();
    assert_check_passes(&ws, &python_plugin("python-items"), &fake);
}

/// The files under `dir`, relative, without Python caches.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(next) = pending.pop() {
        for entry in fs::read_dir(&next).unwrap_or_else(|e| panic!("{}: {e}", next.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().unwrap() != "__pycache__" {
                    pending.push(path);
                }
            } else {
                files.push(path.strip_prefix(dir).unwrap().to_owned());
            }
        }
    }
    files.sort();
    files
}

/// `plugin new todos --lang python` writes a project holding the SDK and the
/// contract as they are here; it builds with the pinned componentize-py as
/// its README says, its unit tests pass natively, and the plugin passes
/// `plugin check` and pulls the items fake exactly, as source `todos`.
#[test]
fn plugin_new_python_builds_tests_checks_and_pulls() {
    let componentize = componentize_py();
    let ws = Workspace::new();
    let stdout = assert_success(&Synchost::run(
        &ws,
        &["plugin", "new", "todos", "--lang", "python"],
    ));
    let project = ws.path().join("todos");
    assert!(stdout.contains("created todos (Python)"), "{stdout}");
    let sdk = repo().join("sdk/python/synchost_sdk");
    let copied = files_under(&project.join("synchost_sdk"));
    assert_eq!(copied, files_under(&sdk), "the whole SDK is copied");
    for file in &copied {
        assert!(
            fs::read(project.join("synchost_sdk").join(file)).unwrap()
                == fs::read(sdk.join(file)).unwrap(),
            "{} differs from the SDK's",
            file.display()
        );
    }
    assert!(
        fs::read(project.join("wit/source.wit")).unwrap()
            == fs::read(repo().join("sdk/wit/source.wit")).unwrap(),
        "the contract is copied"
    );
    let readme = fs::read_to_string(project.join("README.md")).unwrap();
    let build = "componentize-py -d wit -w source-plugin componentize app -p . -o todos.wasm";
    for command in [
        build,
        "synchost plugin check todos.wasm --set base_url=",
        "synchost pull --plugin todos.wasm --set base_url=",
        "python3 -m unittest discover -s tests",
    ] {
        assert!(
            readme.contains(command),
            "README lacks `{command}`:\n{readme}"
        );
    }

    let out = Command::new(&componentize)
        .args(build.split(' ').skip(1))
        .current_dir(&project)
        .output()
        .expect("componentize-py");
    assert_success(&out);
    let wasm = project.join("todos.wasm");
    assert!(wasm.is_file(), "todos.wasm not built");

    // As the README says: from the project directory, nothing else on the path.
    let report = unittest(&project, &[]);
    assert_eq!(ran(&report), 3, "{report}");

    let fake = FakeServer::start("items", &["--count", "20", "--seed", "13"]);
    assert_check_passes(&ws, &wasm, &fake);
    let records = pull_and_export(&ws, &wasm, &fake, "todos");
    let store = stored(&records);
    assert_eq!(
        store.live,
        fake.ground_truth(),
        "the store is the fake's items"
    );
    assert!(store.deleted.is_empty());
}

/// The Python example pushes updates, deletions and creations exactly once
/// while the fake loses some write answers: the pushes that follow settle
/// the changes left in flight through `reconcile`, and a pull afterwards
/// stores the fake's items.
#[test]
fn the_python_example_pushes_exactly_once_through_lost_answers() {
    let python = python_plugin("python-items");
    let fake = FakeServer::start("items", &["--count", "30", "--lost-write-rate", "0.3"]);
    let ws = Workspace::new();
    ws.write_config(&format!(
        "[sources.items]\nplugin = {}\n\n[sources.items.settings]\nbase_url = {}\n",
        toml_str(&python.display().to_string()),
        toml_str(fake.url()),
    ));
    let run = |args: &[&str]| Synchost::new(&ws).shared_cache().args(args).output();
    assert_success(&run(&["pull", "items"]));
    let before = fake.ground_truth();
    let ids: Vec<&str> = before.iter().take(8).map(|(id, _)| id.as_str()).collect();
    let mut lines = Vec::new();
    for id in &ids[..6] {
        lines.push(serde_json::json!({"op": "update", "id": id, "content": format!("new {id}")}));
    }
    for id in &ids[6..] {
        lines.push(serde_json::json!({"op": "delete", "id": id}));
    }
    for n in 0..4 {
        lines.push(
            serde_json::json!({"op": "create", "title": format!("py {n}"), "content": "made"}),
        );
    }
    let file = ws.path().join("changes.jsonl");
    let text: Vec<String> = lines.iter().map(Value::to_string).collect();
    fs::write(&file, text.join("\n") + "\n").unwrap();
    let file = file.display().to_string();
    assert_success(&run(&[
        "stage", "items", "--stream", "items", "--file", &file,
    ]));
    let mut pushes = 1;
    while !run(&["push", "items"]).status.success() {
        pushes += 1;
        assert!(pushes <= 6, "the push never settled");
    }
    assert!(
        fake.stats()["lost_writes"].as_u64().unwrap() > 0,
        "no answer was lost: the test proves nothing"
    );

    let truth = fake.ground_truth_json();
    let entries = truth.as_array().unwrap();
    let entry = |id: &str| entries.iter().find(|e| e["id"] == id);
    let version = |v: &Value| {
        v["version"]
            .as_str()
            .and_then(|s| s.parse::<u64>().ok())
            .or(v["version"].as_u64())
            .unwrap()
    };
    for (id, old) in before.iter().take(6) {
        let now = entry(id).unwrap_or_else(|| panic!("{id} is gone"));
        assert_eq!(
            version(now),
            old.parse::<u64>().unwrap() + 1,
            "{id} updated exactly once: {now}"
        );
    }
    for id in &ids[6..] {
        assert!(entry(id).is_none(), "{id} not deleted");
    }
    for n in 0..4 {
        let made = entries.iter().filter(|e| e["title"] == format!("py {n}"));
        assert_eq!(made.count(), 1, "create {n} applied once");
    }
    assert_success(&run(&["pull", "items", "--full"]));
    let store = stored(&export(&ws, "items", &[]));
    assert_eq!(store.live, fake.ground_truth(), "the store is the fake's");
}
