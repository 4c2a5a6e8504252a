//! Python plugins: the pinned componentize-py, installed on demand, and the
//! builds of the Python example and test plugins.
//!
//! The toolchain lives in a venv at `$HOME/.cache/synchost/toolchains/python`
//! (`cargo xtask test` creates it, as it installs PostgreSQL); a
//! componentize-py of the pinned minor version on PATH serves as well. The
//! venv also holds the pinned atlassian-python-api, the Confluence client
//! the fake is proven against.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime};

use anyhow::{bail, Context, Result};

use crate::{root, run_command};

/// The componentize-py release installed (from PyPI).
pub const PIN: &str = "0.25.0";
/// What `componentize-py --version` must start with to be used.
const ACCEPTED: &str = "componentize-py 0.25.";
/// The atlassian-python-api release installed (from PyPI): the last with
/// the v1 `Confluence` client (5.x routes `cloud=True` to the v2 API).
pub const CLIENT_PIN: &str = "4.0.7";

/// Python plugins: `(directory, module, file name in target/plugins/)`.
const PLUGINS: &[(&str, &str, &str)] = &[
    ("examples/python-items", "app", "python-items"),
    ("tests/python-plugins/network", "app", "python-network"),
];

/// The SDK module every Python plugin is built with, and the contract.
const SDK: &str = "sdk/python";
const WIT: &str = "sdk/wit";

/// `$HOME/.cache/synchost/toolchains/python`: the venv.
pub fn toolchain_dir() -> PathBuf {
    let home = std::env::var_os("HOME").map_or_else(|| root().join("target"), PathBuf::from);
    home.join(".cache/synchost/toolchains/python")
}

/// A usable componentize-py: the venv's, else one on PATH of the pinned
/// minor version.
pub fn find_componentize_py() -> Option<PathBuf> {
    let venv = toolchain_dir().join("bin/componentize-py");
    [venv, PathBuf::from("componentize-py")]
        .into_iter()
        .find(|candidate| {
            Command::new(candidate)
                .arg("--version")
                .stderr(Stdio::null())
                .output()
                .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).starts_with(ACCEPTED))
        })
}

/// The componentize-py to build with, installing the pinned release into
/// the toolchain venv when there is none.
pub fn ensure_componentize_py() -> Result<PathBuf> {
    if let Some(found) = find_componentize_py() {
        return Ok(found);
    }
    eprintln!(
        "componentize-py {PIN} is missing (the Python plugins need it): installing it in {}",
        toolchain_dir().display()
    );
    pip_install(&format!("componentize-py=={PIN}"))?;
    find_componentize_py().context("componentize-py was installed but does not run")
}

/// The pinned atlassian-python-api (the client LangChain's ConfluenceLoader
/// and confluence-markdown-exporter are built on) in the toolchain venv,
/// installed when missing: `tests/tests/confluence_clients.rs` runs it
/// against the Confluence fake.
pub fn ensure_confluence_client() -> Result<()> {
    let python = toolchain_dir().join("bin/python3");
    let installed = Command::new(&python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('atlassian-python-api'))",
        ])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == CLIENT_PIN.as_bytes());
    if installed {
        return Ok(());
    }
    eprintln!(
        "atlassian-python-api {CLIENT_PIN} is missing (the Confluence client test needs it): \
         installing it in {}",
        toolchain_dir().display()
    );
    pip_install(&format!("atlassian-python-api=={CLIENT_PIN}"))
}

/// `pip install SPEC` into the toolchain venv, creating the venv first when
/// it is missing (`python3 -m venv`; on Debian, as root, `python3-venv`
/// first when the venv cannot be made).
fn pip_install(spec: &str) -> Result<()> {
    let dir = toolchain_dir();
    if !dir.join("bin/pip").is_file() {
        make_venv(&dir)?;
    }
    run_command(
        Command::new(dir.join("bin/pip"))
            .args(["install", "-q", "--disable-pip-version-check"])
            .arg(spec),
    )
    .with_context(|| format!("cannot install {spec} from PyPI"))
}

fn make_venv(dir: &Path) -> Result<()> {
    let venv = || {
        Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(dir)
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    if venv() {
        return Ok(());
    }
    let root_user = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0\n"));
    let apt = Path::new("/usr/bin/apt-get").exists();
    if !(root_user && apt) {
        bail!(
            "cannot create a Python venv in {}: install python3 with its venv module \
             (Debian: apt-get install python3-venv) and run again",
            dir.display()
        );
    }
    for args in [
        &["update", "-qq"][..],
        &["install", "-y", "-qq", "python3-venv"],
    ] {
        run_command(
            Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdout(Stdio::null()),
        )
        .context("cannot install python3-venv")?;
    }
    if !venv() {
        bail!("cannot create a Python venv in {}", dir.display());
    }
    Ok(())
}

/// Builds the Python plugins into `out` (`target/plugins/`) when
/// componentize-py is there; otherwise says, in one line, what is skipped.
/// A plugin whose `.wasm` is newer than its sources is not built again.
pub fn build_plugins(out: &Path) -> Result<()> {
    let Some(componentize) = find_componentize_py() else {
        eprintln!(
            "skipped the Python plugins (python-items, python-network): componentize-py {PIN} \
             is missing; `cargo xtask test` installs it in {}",
            toolchain_dir().display()
        );
        return Ok(());
    };
    let root = root();
    for (dir, module, name) in PLUGINS {
        let wasm = out.join(format!("{name}.wasm"));
        let sources = [root.join(dir), root.join(SDK), root.join(WIT)];
        if newest(&sources)? < modified(&wasm) {
            continue;
        }
        let partial = out.join(format!("{name}.wasm.partial"));
        let started = Instant::now();
        run_command(
            Command::new(&componentize)
                .current_dir(&root)
                .args(["-d", WIT, "-w", "source-plugin", "componentize", module])
                .args(["-p", dir, "-p", SDK, "-o"])
                .arg(&partial)
                .stdout(Stdio::null()),
        )?;
        std::fs::rename(&partial, &wasm)?;
        let size = std::fs::metadata(&wasm)?.len();
        eprintln!(
            "built {name}.wasm with componentize-py: {:.1} MB in {:.1} s",
            size as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// The modification time of `path`, the epoch when it is missing.
fn modified(path: &Path) -> SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// The newest modification time of the files under `paths` (Python
/// caches left out; directories too, as writing a cache touches them).
fn newest(paths: &[PathBuf]) -> Result<SystemTime> {
    let mut newest = SystemTime::UNIX_EPOCH;
    let mut pending = paths.to_vec();
    while let Some(path) = pending.pop() {
        let meta = std::fs::metadata(&path).with_context(|| path.display().to_string())?;
        if meta.is_file() {
            newest = newest.max(meta.modified()?);
        } else if meta.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                let entry = entry?.path();
                if entry.file_name().is_some_and(|n| n != "__pycache__") {
                    pending.push(entry);
                }
            }
        }
    }
    Ok(newest)
}
