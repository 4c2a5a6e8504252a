//! The JavaScript toolchain and the JavaScript plugins.
//!
//! componentize-js and jco, pinned by `examples/js-items/package.json`
//! (`devDependencies`, exact versions; `synchost plugin new --lang js` pins
//! the same), from npm: installed with `npm install --prefix` into
//! `$HOME/.cache/synchost/toolchains/js` by [`ensure_jco`] (called by
//! `cargo xtask test`), or componentize-js found on PATH at the pinned
//! version. jco is pinned because componentize-js depends on it; plugins are
//! built with componentize-js's own command, since jco 1.35.0 (the newest)
//! bundles componentize-js 0.22 for `jco componentize`.
//! `cargo xtask build` builds [`JS_PLUGINS`] when the toolchain is there and
//! otherwise says in one line that it skipped them and how to install it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

use anyhow::{bail, Context, Result};

use crate::{apt_install, root, run_command};

/// The npm package that builds components, and its dependency.
const COMPONENTIZE_JS: &str = "@bytecodealliance/componentize-js";
const JCO: &str = "@bytecodealliance/jco";

/// The version `examples/js-items/package.json` pins `package` at.
fn pinned(package: &str) -> Result<String> {
    let path = root().join("examples/js-items/package.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)?;
    json["devDependencies"][package]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("{} pins no {package}", path.display()))
}

/// JavaScript plugins: `(entry module, file name in target/plugins/)`. Each
/// is built from the repository root, so its relative imports of `sdk/js`
/// resolve inside what componentize-js maps in.
const JS_PLUGINS: &[(&str, &str)] = &[
    ("examples/js-items/src/app.js", "js-items"),
    ("tests/plugins-js/js-network/app.js", "js-network"),
];

/// What every JavaScript plugin is built from besides its own directory.
const SHARED_INPUTS: &[&str] = &["sdk/js/src", "sdk/wit"];

/// `$HOME/.cache/synchost/toolchains/js`, the npm prefix of the toolchain.
pub fn toolchain_dir() -> PathBuf {
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".cache/synchost/toolchains/js")
}

/// How to run componentize-js at the pinned version: the toolchain's
/// (`node cli.js`), else one on PATH; `None` when neither is there.
fn componentize_js() -> Result<Option<Command>> {
    let version = pinned(COMPONENTIZE_JS)?;
    let cli = toolchain_dir().join(format!("node_modules/{COMPONENTIZE_JS}/src/cli.js"));
    let mut installed = Command::new("node");
    installed.arg(cli);
    Ok([installed, Command::new("componentize-js")]
        .into_iter()
        .find(|command| version_of(command).as_deref() == Some(version.as_str())))
}

/// `COMMAND --version`, trimmed, when it runs.
fn version_of(command: &Command) -> Option<String> {
    let mut probe = Command::new(command.get_program());
    probe.args(command.get_args()).arg("--version");
    let output = probe.stderr(Stdio::null()).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Installs the pinned toolchain into [`toolchain_dir`] unless it (or
/// componentize-js on PATH) is there; installs Debian's `nodejs` and `npm`
/// first when npm is missing.
pub fn ensure_jco() -> Result<()> {
    if componentize_js()?.is_some() {
        return Ok(());
    }
    let has_npm = Command::new("npm")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !has_npm {
        eprintln!("node and npm are missing (the JavaScript plugins need them): installing Debian's nodejs and npm");
        apt_install(&["nodejs", "npm"]).context(
            "cannot install node and npm: install Node.js 20 or later with npm and run again",
        )?;
    }
    let dir = toolchain_dir();
    let packages = [
        format!("{COMPONENTIZE_JS}@{}", pinned(COMPONENTIZE_JS)?),
        format!("{JCO}@{}", pinned(JCO)?),
    ];
    eprintln!(
        "installing {} into {}",
        packages.join(" and "),
        dir.display()
    );
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    run_command(
        Command::new("npm")
            .args(["install", "--prefix"])
            .arg(&dir)
            .args(["--no-audit", "--no-fund", "--save-exact"])
            .args(&packages),
    )
    .context("cannot install the JavaScript toolchain from npm")?;
    if componentize_js()?.is_none() {
        bail!(
            "{} is still not runnable from {} (is node on PATH?)",
            packages[0],
            dir.display()
        );
    }
    Ok(())
}

/// Builds [`JS_PLUGINS`] into `out` (those older than their sources), or
/// says in one line why not.
pub fn build_plugins(out: &Path) -> Result<()> {
    let Some(componentize) = componentize_js()? else {
        let names: Vec<&str> = JS_PLUGINS.iter().map(|(_, name)| *name).collect();
        eprintln!(
            "skipped the JavaScript plugins ({}): {COMPONENTIZE_JS}@{} is not in {} \
             nor on PATH; `cargo xtask test` installs it (needs node and npm)",
            names.join(", "),
            pinned(COMPONENTIZE_JS)?,
            toolchain_dir().display()
        );
        return Ok(());
    };
    for (entry, name) in JS_PLUGINS {
        let wasm = out.join(format!("{name}.wasm"));
        let plugin_dir = Path::new(entry).parent().expect("an entry in a directory");
        let inputs = SHARED_INPUTS.iter().map(Path::new).chain([plugin_dir]);
        if is_fresh(&wasm, inputs)? {
            continue;
        }
        eprintln!("componentize-js {entry} -> {}", wasm.display());
        run_command(
            Command::new(componentize.get_program())
                .args(componentize.get_args())
                .current_dir(root())
                .arg(entry)
                .args(["--wit", "sdk/wit", "--world-name", "source-plugin", "--out"])
                .arg(&wasm),
        )?;
    }
    Ok(())
}

/// True when `output` exists and is newer than every file under `inputs`
/// (relative to the repository root).
fn is_fresh<'a>(output: &Path, inputs: impl Iterator<Item = &'a Path>) -> Result<bool> {
    let Ok(built) = std::fs::metadata(output).and_then(|m| m.modified()) else {
        return Ok(false);
    };
    let mut newest = SystemTime::UNIX_EPOCH;
    for input in inputs {
        newest = newest.max(newest_under(&root().join(input))?);
    }
    Ok(built > newest)
}

/// The latest modification time of `path` or any file below it.
fn newest_under(path: &Path) -> Result<SystemTime> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    let mut newest = meta.modified()?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            newest = newest.max(newest_under(&entry?.path())?);
        }
    }
    Ok(newest)
}
