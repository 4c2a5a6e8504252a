//! `cargo xtask build | test | demo | bench | torture | fuzz`: the project's own commands.
//!
//! Everything builds in the release profile, so wasmtime is compiled once and
//! the same binaries serve tests, the demo and benchmarks.

mod bench;
mod fuzz;
mod js;
mod python;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// Plugin crates and the file name each is installed under in `target/plugins/`.
const PLUGINS: &[(&str, &str)] = &[
    ("example-items", "example-items"),
    ("wrong-major", "wrong-major"),
    ("legacy-v01", "legacy-v01"),
    ("confluence", "confluence"),
    ("github", "github"),
    ("supabase", "supabase"),
    ("hostile", "hostile"),
    ("hostile-describe", "hostile-describe"),
    ("hostile-manifest", "hostile-manifest"),
    ("chatty-describe", "chatty-describe"),
    ("hostile-setup", "hostile-setup"),
    ("forbidden-imports", "forbidden-imports"),
    ("network-denied", "network-denied"),
];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = args
        .split_first()
        .map_or(("help", &[][..]), |(c, r)| (c.as_str(), r));
    match command {
        "build" => build(),
        "test" => test(rest),
        "demo" => demo(),
        "bench" => bench::run(rest),
        "torture" => torture(rest),
        "fuzz" => fuzz::run(rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 commands:\n  \
                 build   build the host and the fake (release) and the plugins into target/plugins/\n  \
                 test    build everything, then run every test (extra args go to cargo test)\n  \
                 demo    start the fake with 10,000 items, pull them with live progress, show status\n  \
                 bench   measure pulls, resume and plugin start; prints a table\n          \
                 (--latency-ms L, --rate-limit R: pulls against a slow or rate-limited fake\n          \
                 next to the bound concurrency allows; --concurrency, --attachment-concurrency, --runs;\n          \
                 --push: 1,000 Confluence page updates pushed, with no faults, --rate-limit 20,\n          \
                 --latency-ms 50 and 200, or only the --latency-ms/--rate-limit given;\n          \
                 --github: the GitHub plugin's full, delta and budget syncs;\n          \
                 --supabase: 10,000 and 100,000 rows pulled, a 1% delta, 10,000 creates and\n          \
                 1,000 updates pushed, a pull at --latency-ms 50; needs PostgreSQL;\n          \
                 --parallel: many sources in one pull; --otel: a pull with and without OTLP export;\n          \
                 --confluence: 2,000 pages and 200 blog posts with labels and properties, delta,\n          \
                 Markdown export, and one pull at --latency-ms L when given)\n  \
                 torture kill -9 Confluence pulls at random moments (--trials N, default 30; --seed S;\n          \
                 --push: kill -9 pushes of 200 changes instead)\n  \
                 fuzz    run the fuzz targets in fuzz/ for a budget each (--seconds N, default 60; [TARGET...])"
            );
            if command == "help" {
                Ok(())
            } else {
                bail!("unknown command `{command}`")
            }
        }
    }
}

/// The workspace root (the parent of this crate).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// The cargo target directory (honours CARGO_TARGET_DIR).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root().join("target"), |dir| root().join(dir))
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(root());
    command
}

/// Runs a command, failing with its name when it fails.
pub fn run_command(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}

fn ensure_wasm_target() -> Result<()> {
    let output = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match output {
        Ok(output) if String::from_utf8_lossy(&output.stdout).contains("wasm32-wasip2") => Ok(()),
        Ok(_) => run_command(Command::new("rustup").args(["target", "add", "wasm32-wasip2"])),
        // Without rustup, trust that the toolchain has the target.
        Err(_) => Ok(()),
    }
}

/// The native crates `build` builds: the host, the fake, and the crates
/// whose tests run beside theirs.
const BUILT_PACKAGES: &[&str] = &[
    "synchost-core",
    "synchost",
    "synchost-fuzz",
    "synchost-tests",
    "synchost-sdk",
];

/// The crates `test` runs the tests of: the built ones, plus the plugins
/// whose unit tests run natively (their cdylibs do not link natively, so
/// `build` leaves them to the wasm build).
fn tested_packages() -> Vec<&'static str> {
    let mut packages = BUILT_PACKAGES.to_vec();
    packages.extend(["confluence", "github", "supabase", "example-items"]);
    packages
}

/// `cargo <subcommand> --release -p ...` over `packages`.
fn cargo_release(subcommand: &str, packages: &[&str]) -> Command {
    let mut command = cargo();
    command.args([subcommand, "--release"]);
    for package in packages {
        command.args(["-p", package]);
    }
    command
}

/// Host and fake in release; plugins to `target/plugins/<name>.wasm`.
///
/// cargo unifies dependency features over what one command builds, so
/// `build` and `test` must ask for the same features of shared crates, or
/// each rebuilds wasmtime's dependents for the other: hence nearly the same
/// packages, and tokio's `test-util` enabled for all (Cargo.toml).
pub fn build() -> Result<()> {
    ensure_wasm_target()?;
    run_command(&mut cargo_release("build", BUILT_PACKAGES))?;
    let mut plugins = cargo();
    plugins.args(["build", "--release", "--target", "wasm32-wasip2"]);
    for (package, _) in PLUGINS {
        plugins.args(["-p", package]);
    }
    run_command(&mut plugins)?;
    let out = target_dir().join("plugins");
    std::fs::create_dir_all(&out)?;
    for (package, name) in PLUGINS {
        let built = target_dir()
            .join("wasm32-wasip2/release")
            .join(format!("{}.wasm", package.replace('-', "_")));
        std::fs::copy(&built, out.join(format!("{name}.wasm")))
            .with_context(|| format!("copying {}", built.display()))?;
    }
    js::build_plugins(&out)?;
    python::build_plugins(&out)?;
    eprintln!("plugins in {}", out.display());
    Ok(())
}

/// Builds everything, then runs every test of the workspace's native crates.
/// The Supabase fake runs a real PostgreSQL (`initdb` and `postgres` from
/// PATH or Debian's /usr/lib/postgresql/*/bin). When there is none, installs
/// Debian's `postgresql` package (as root, or through sudo), as the wasm
/// target is added: `cargo xtask test` alone sets a machine up.
pub fn ensure_postgresql() -> Result<()> {
    let on_path = Command::new("sh")
        .args([
            "-c",
            "command -v initdb || ls /usr/lib/postgresql/*/bin/initdb",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if on_path {
        return Ok(());
    }
    eprintln!("PostgreSQL is missing (the Supabase tests need it): installing Debian's postgresql");
    apt_install(&["postgresql"])
        .context("cannot install PostgreSQL: install Debian's `postgresql` package (or initdb and postgres on PATH) and run again")
}

/// Installs Debian `packages` with apt-get, as root or through sudo.
pub fn apt_install(packages: &[&str]) -> Result<()> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0\n"));
    let apt = |args: &[&str]| {
        let mut command = Command::new(if root { "apt-get" } else { "sudo" });
        if !root {
            command.arg("apt-get");
        }
        command
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null());
        run_command(&mut command)
    };
    apt(&["update", "-qq"])?;
    apt(&[&["install", "-y", "-qq"], packages].concat())
}

fn test(extra: &[String]) -> Result<()> {
    ensure_postgresql()?;
    js::ensure_jco()?;
    python::ensure_componentize_py()?;
    python::ensure_confluence_client()?;
    build()?;
    run_command(cargo_release("test", &tested_packages()).args(extra))
}

/// The crash torture (pull, or push with `--push`) with many trials;
/// prints every trial and its outcome.
fn torture(args: &[String]) -> Result<()> {
    let value = |flag: &str, default: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
            .unwrap_or_else(|| default.to_string())
    };
    // `--push`: the push torture; otherwise the pull torture.
    let test = if args.iter().any(|a| a == "--push") {
        "push_killed_at_random_moments"
    } else {
        "kill_9_at_random_moments"
    };
    build()?;
    // The same packages as `build`, so nothing is rebuilt (see there).
    run_command(
        cargo_release("test", &tested_packages())
            .args(["--test", "torture", "--", "--nocapture", test])
            .env("SYNCHOST_TORTURE_TRIALS", value("--trials", "30"))
            .env("SYNCHOST_TORTURE_SEED", value("--seed", "7")),
    )
}

/// A fake server child that is killed when dropped.
pub struct Fake {
    child: std::process::Child,
    pub url: String,
    /// What the fake printed after its first line (the Supabase fake's keys).
    printed: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Fake {
    /// Starts `synchost-fake` with `args` on a free port and reads its URL;
    /// later lines are kept for [`Fake::printed`].
    pub fn start(args: &[&str]) -> Result<Fake> {
        use std::io::BufRead;
        let mut child = Command::new(target_dir().join("release/synchost-fake"))
            .args(args)
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot start synchost-fake (run cargo xtask build)")?;
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .with_context(|| format!("unexpected first line from synchost-fake: {line:?}"))?
            .to_string();
        let printed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = printed.clone();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        Ok(Fake {
            child,
            url,
            printed,
        })
    }

    /// The rest of the first line the fake printed starting with `prefix`,
    /// waiting up to 10 s for it.
    pub fn printed(&self, prefix: &str) -> Result<String> {
        for _ in 0..100 {
            let lines = self.printed.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(rest) = lines.iter().find_map(|l| l.strip_prefix(prefix)) {
                return Ok(rest.trim().to_string());
            }
            drop(lines);
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        anyhow::bail!("synchost-fake printed no line starting with {prefix:?}")
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The demo: 10,000 items pulled with the live progress bar, then `status`.
fn demo() -> Result<()> {
    build()?;
    let fake = Fake::start(&[
        "items",
        "--count",
        "10000",
        "--token",
        "demo-token",
        "--latency-ms",
        "2",
    ])?;
    let dir = target_dir().join("demo");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let config = format!(
        "[store]\npath = \"synchost.db\"\n\n\
         [sources.items]\nplugin = \"{}\"\n\n\
         [sources.items.auth]\ntype = \"bearer\"\ntoken_env = \"DEMO_ITEMS_TOKEN\"\n\n\
         [sources.items.settings]\nbase_url = \"{}\"\n",
        target_dir().join("plugins/example-items.wasm").display(),
        fake.url
    );
    std::fs::write(dir.join("synchost.toml"), &config)?;
    eprintln!(
        "Demo workspace: {} (synchost.toml below)\n\n{config}",
        dir.display()
    );
    let synchost = target_dir().join("release/synchost");
    let run = |args: &[&str]| {
        eprintln!("$ synchost {}", args.join(" "));
        run_command(
            Command::new(&synchost)
                .args(args)
                .current_dir(&dir)
                .env("DEMO_ITEMS_TOKEN", "demo-token"),
        )
    };
    run(&["pull"])?;
    run(&["status"])?;
    eprintln!("\nNow a delta: 50 items change remotely, then pull again.");
    http_post(
        &format!("{}/_control/mutate", fake.url),
        r#"{"update":40,"delete":5,"create":5}"#,
    )?;
    run(&["pull"])?;
    run(&["runs", "--limit", "3"])?;
    Ok(())
}

/// POSTs JSON to the fake's control API.
pub fn http_post(url: &str, body: &str) -> Result<String> {
    let mut response = ureq::post(url)
        .header("content-type", "application/json")
        .send(body)?;
    Ok(response.body_mut().read_to_string()?)
}

/// GETs from the fake's control API.
/// A GET's body as text, up to 256 MiB (the ground truth of 100,000 rows
/// is larger than ureq's default 10 MiB).
pub fn http_get(url: &str) -> Result<String> {
    Ok(ureq::get(url)
        .call()?
        .body_mut()
        .with_config()
        .limit(256 << 20)
        .read_to_string()?)
}
