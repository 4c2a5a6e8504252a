//! The plugin authoring kit: the SDK builds outside this repository, and
//! `synchost plugin new` writes a project that builds, passes its own test,
//! loads in `plugin inspect` and pulls the items fake exactly.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{
    assert_exit_code, assert_success, export, stored, target_dir, FakeServer, Synchost, Workspace,
};

/// The repository root (the tests crate is one level down).
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repository root")
        .to_path_buf()
}

/// `cargo ARGS` in `dir`, with its own target directory under this one's
/// (`target/kit-test`: warm on later runs, and it touches nothing else).
fn cargo(dir: &Path, args: &[&str]) -> Output {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    Command::new(cargo)
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir().join("kit-test"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo {args:?}: {e}"))
}

/// The SDK's contract is the repository's `wit/v0.2`, byte for byte, and so are
/// the rate-limit vectors its tests read: the packaged SDK tests alone.
#[test]
fn sdk_wit_is_the_contract() {
    let root = repo();
    let contract = fs::read(root.join("wit/v0.2/source.wit")).expect("wit/v0.2/source.wit");
    let copy = fs::read(root.join("sdk/wit/source.wit")).expect("sdk/wit/source.wit");
    assert!(
        contract == copy,
        "sdk/wit/source.wit differs from wit/v0.2/source.wit: copy it again \
         (cp wit/v0.2/source.wit sdk/wit/source.wit)"
    );
    let mut files: Vec<_> = fs::read_dir(root.join("sdk/wit"))
        .expect("sdk/wit")
        .map(|e| e.expect("entry").file_name())
        .collect();
    files.sort();
    assert_eq!(files, ["source.wit"], "sdk/wit holds the contract only");
    // The rate-limit vectors the SDK's tests read, shared with the host's.
    let vectors = fs::read(root.join("wit/v0.2/conformance/rate-limits.json")).expect("vectors");
    let copy = fs::read(root.join("sdk/conformance/rate-limits.json")).expect("sdk copy");
    assert!(
        vectors == copy,
        "sdk/conformance/rate-limits.json differs from wit/v0.2/conformance/rate-limits.json: \
         copy it again"
    );
}

/// Bad names, non-empty directories and languages to come are refused with
/// exit 2 before anything is written.
#[test]
fn plugin_new_refuses_bad_input() {
    let ws = Workspace::new();
    for name in ["Todos", "2do", "my_api", "../x", "fn"] {
        let out = Synchost::run(&ws, &["plugin", "new", name]);
        let stderr = assert_exit_code(&out, 2);
        assert!(stderr.contains("invalid plugin name"), "{name}: {stderr}");
    }
    fs::create_dir(ws.path().join("taken")).unwrap();
    fs::write(ws.path().join("taken/keep.txt"), "mine").unwrap();
    let out = Synchost::run(&ws, &["plugin", "new", "taken"]);
    let stderr = assert_exit_code(&out, 2);
    assert!(stderr.contains("is not empty"), "{stderr}");
    assert_eq!(
        fs::read_to_string(ws.path().join("taken/keep.txt")).unwrap(),
        "mine"
    );
    // Python and JavaScript projects copy their SDK: a Rust SDK path makes no sense.
    for lang in ["python", "js"] {
        let out = Synchost::run(
            &ws,
            &["plugin", "new", "later", "--lang", lang, "--sdk-path", "."],
        );
        let stderr = assert_exit_code(&out, 2);
        assert!(
            stderr.contains("--sdk-path is for --lang rust"),
            "{lang}: {stderr}"
        );
    }
    let out = Synchost::run(&ws, &["plugin", "new", "x", "--sdk-path", "/nonexistent"]);
    assert_exit_code(&out, 2);
    let mut left: Vec<_> = fs::read_dir(ws.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != ".synchost")
        .collect();
    left.sort();
    assert_eq!(left, ["taken"], "nothing else was written");

    // Outside a checkout (the workspace is a temp dir), a synchost binary
    // built inside this checkout finds its SDK; one built elsewhere (CI's
    // target directory lives outside the clone) writes the git dependency.
    let out = Synchost::run(&ws, &["plugin", "new", "found"]);
    let stdout = assert_success(&out);
    let manifest = fs::read_to_string(ws.path().join("found/Cargo.toml")).unwrap();
    let sdk = fs::canonicalize(repo().join("sdk")).unwrap();
    let binary = fs::canonicalize(support::synchost_bin()).unwrap();
    if binary.starts_with(fs::canonicalize(repo()).unwrap()) {
        assert!(
            stdout.contains(&format!("path dependency on {}", sdk.display())),
            "{stdout}"
        );
        assert!(
            manifest.contains(&format!("path = \"{}\"", sdk.display())),
            "{manifest}"
        );
    } else {
        assert!(
            stdout.contains("git dependency on https://github.com/OWNER/synchost"),
            "{stdout}"
        );
        assert!(
            manifest.contains("git = \"https://github.com/OWNER/synchost\""),
            "{manifest}"
        );
        assert!(
            !manifest
                .lines()
                .any(|line| line.starts_with("synchost-sdk = { path")),
            "{manifest}"
        );
    }
}

/// The whole path of a new author, outside the repository: the packaged SDK
/// files alone copied to a temp dir, `plugin new todos --sdk-path` on that
/// copy, `cargo build` (wasm) and `cargo test` (native) of the project
/// offline, `plugin inspect`, then a pull of the items fake that stores
/// exactly its items. One test: it compiles a small crate twice.
#[test]
fn plugin_new_builds_outside_the_repository_and_pulls() {
    let ws = Workspace::new();

    // What `cargo package` ships, and nothing else.
    let listed = cargo(
        &repo(),
        &[
            "package",
            "-p",
            "synchost-sdk",
            "--list",
            "--allow-dirty",
            "--offline",
        ],
    );
    let listed = assert_success(&listed);
    let sdk = ws.path().join("sdk");
    let mut copied = 0;
    for file in listed.lines().map(str::trim).filter(|f| !f.is_empty()) {
        // Written by `cargo package` itself.
        if [".cargo_vcs_info.json", "Cargo.lock", "Cargo.toml.orig"].contains(&file) {
            continue;
        }
        let to = sdk.join(file);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(repo().join("sdk").join(file), &to).unwrap_or_else(|e| panic!("{file}: {e}"));
        copied += 1;
    }
    assert!(
        sdk.join("wit/source.wit").is_file(),
        "the package holds the WIT"
    );
    assert!(copied > 3, "{listed}");

    let out = Synchost::new(&ws)
        .args(["plugin", "new", "todos", "--sdk-path"])
        .arg(&sdk)
        .output();
    let stdout = assert_success(&out);
    let project = ws.path().join("todos");
    for file in ["Cargo.toml", "src/lib.rs", "README.md", ".gitignore"] {
        assert!(project.join(file).is_file(), "{file} missing: {stdout}");
    }
    let readme = fs::read_to_string(project.join("README.md")).unwrap();
    for command in [
        "cargo build --release --target wasm32-wasip2",
        "synchost plugin inspect target/wasm32-wasip2/release/todos.wasm",
        "synchost pull --plugin target/wasm32-wasip2/release/todos.wasm --set base_url=",
    ] {
        assert!(
            readme.contains(command),
            "README lacks `{command}`:\n{readme}"
        );
    }

    // Formatted as rustfmt would (so the author's first `cargo fmt` changes nothing).
    let fmt = cargo(&project, &["fmt", "--check"]);
    assert_success(&fmt);

    let build = cargo(
        &project,
        &[
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--offline",
        ],
    );
    assert_success(&build);
    let wasm = target_dir().join("kit-test/wasm32-wasip2/release/todos.wasm");
    assert!(wasm.is_file(), "{} not built", wasm.display());

    // Its own tests (native: describe and settings), both run and passed.
    let test = cargo(&project, &["test", "--release", "--offline"]);
    let test_out = assert_success(&test);
    assert!(test_out.contains("test result: ok. 2 passed"), "{test_out}");

    let inspect = assert_success(
        &Synchost::new(&ws)
            .args(["plugin", "inspect"])
            .arg(&wasm)
            .output(),
    );
    assert!(inspect.contains("todos"), "{inspect}");
    assert!(inspect.contains("synchost:source@0.2"), "{inspect}");

    let fake = FakeServer::start("items", &["--count", "130", "--seed", "13"]);
    let out = Synchost::new(&ws)
        .args(["pull", "--plugin"])
        .arg(&wasm)
        .arg("--set")
        .arg(format!("base_url={}", fake.url()))
        .output();
    assert_success(&out);
    let truth = fake.ground_truth();
    assert_eq!(truth.len(), 130);
    let store = stored(&export(&ws, "todos", &[]));
    assert_eq!(store.live, truth, "the store is the fake's items");
    assert!(store.deleted.is_empty());
}
