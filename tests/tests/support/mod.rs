//! Support for the end-to-end tests: the fake servers, a blocking HTTP
//! client, the real `synchost` binary and plugins, and throwaway workspaces.
//!
//! Each test file does `mod support;` and uses what it needs:
//!
//! ```ignore
//! let fake = FakeServer::start("items", &["--count", "500"]);
//! let ws = Workspace::new();
//! let out = Synchost::run(&ws, &["sync", "--plugin", plugin_path("example-items").to_str().unwrap(), ...]);
//! assert_success(&out);
//! assert_eq!(fake.ground_truth(), /* what the store holds */);
//! ```
//!
//! Built binaries are found from the running test executable, so the tests
//! use the `synchost` and plugins of their own target directory and profile:
//! `cargo xtask test` builds them all first.

// Not every test file uses every helper.
#![allow(dead_code)]

pub mod confluence_api;
pub mod confluence_streams;
pub mod github_spec;

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{BufRead as _, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a fake may take to print its `listening on` line.
pub const FAKE_START_TIMEOUT: Duration = Duration::from_secs(20);
/// Default limit for one [`Synchost::run`].
pub const SYNCHOST_TIMEOUT: Duration = Duration::from_secs(300);

// ---------------------------------------------------------------------------
// HTTP client

/// A response from [`http`]: status, headers (names lower-case) and body text.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    /// The body as JSON; panics (showing the body) if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "response body is not JSON ({e}); status {}: {}",
                self.status, self.body
            )
        })
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Panics (showing the body) unless the status is `status`; returns self.
    #[track_caller]
    pub fn expect_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.status, status,
            "unexpected HTTP status; body: {}",
            self.body
        );
        self
    }
}

fn agent() -> &'static ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT.get_or_init(|| agent_trusting(None))
}

/// An agent for the tests; with `ca` (a PEM file), one that trusts that CA
/// alone (a `--tls` fake's).
fn agent_trusting(ca: Option<&Path>) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)));
    if let Some(ca) = ca {
        let pem = fs::read(ca).unwrap_or_else(|e| panic!("cannot read {}: {e}", ca.display()));
        let cert = ureq::tls::Certificate::from_pem(&pem)
            .unwrap_or_else(|e| panic!("{} is not a PEM certificate: {e}", ca.display()));
        config = config.tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![cert])))
                .build(),
        );
    }
    config.build().into()
}

/// One blocking HTTP request. Any status is a response (not an error);
/// a transport failure panics with the URL. `body`, when given, is sent as
/// `application/json` unless `headers` set another `content-type`.
pub fn http(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> HttpResponse {
    http_via(agent(), method, url, headers, body)
}

/// [`http`] through `agent`.
fn http_via(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> HttpResponse {
    let mut req = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if body.is_some()
        && !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(body.unwrap_or("").as_bytes().to_vec())
        .unwrap_or_else(|e| panic!("bad request {method} {url}: {e}"));
    let mut resp = agent
        .run(req)
        .unwrap_or_else(|e| panic!("{method} {url} failed: {e}"));
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = resp
        .body_mut()
        .with_config()
        .limit(u64::MAX)
        .read_to_string()
        .unwrap_or_else(|e| panic!("{method} {url}: reading the body failed: {e}"));
    HttpResponse {
        status,
        headers,
        body,
    }
}

/// Percent-encodes a query component (all but `A-Z a-z 0-9 - . _ ~`; so
/// `+` becomes `%2B`).
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET url` with extra headers.
pub fn http_get(url: &str, headers: &[(&str, &str)]) -> HttpResponse {
    http("GET", url, headers, None)
}

/// `POST url` with a JSON body.
pub fn http_post_json(url: &str, body: &Value) -> HttpResponse {
    http("POST", url, &[], Some(&body.to_string()))
}

// ---------------------------------------------------------------------------
// Fake servers

/// A running `synchost-fake <kind>` on a free port of 127.0.0.1, killed on drop.
pub struct FakeServer {
    child: Child,
    url: String,
    kind: String,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// What it printed after the `listening on` line.
    stdout: Arc<Mutex<Vec<u8>>>,
    /// With `--tls`: the CA file it printed (`ca: PATH.pem`).
    ca: Option<PathBuf>,
    /// The agent of [`FakeServer::get`] and the control calls (trusting
    /// `ca` with `--tls`).
    agent: ureq::Agent,
}

/// Drains `r` into `sink` on a thread, so the child never blocks on a full
/// pipe; the thread ends at end of file.
fn drain_into(mut r: impl Read + Send + 'static, sink: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(&buf[..n]);
        }
    })
}

fn bytes_of(buf: &Mutex<Vec<u8>>) -> Vec<u8> {
    buf.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

fn snapshot(buf: &Mutex<Vec<u8>>) -> String {
    String::from_utf8_lossy(&bytes_of(buf)).into_owned()
}

impl FakeServer {
    /// Starts `synchost-fake <kind> <args...> --port 0` (no `--port` added if
    /// `args` has one) and waits, up to [`FAKE_START_TIMEOUT`], for its first
    /// stdout line `listening on http://127.0.0.1:PORT` (with `--tls`:
    /// `https://`, then the `ca: PATH.pem` line). Panics with the
    /// fake's stderr if it exits or stays silent.
    pub fn start(kind: &str, args: &[&str]) -> FakeServer {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_synchost-fake"));
        cmd.arg(kind).args(args);
        if !args
            .iter()
            .any(|a| *a == "--port" || a.starts_with("--port="))
        {
            cmd.args(["--port", "0"]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start synchost-fake {kind}: {e}"));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let _ = drain_into(child.stderr.take().expect("piped"), stderr.clone());

        let stdout = child.stdout.take().expect("piped");
        let rest = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let sink = rest.clone();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let first = reader.read_line(&mut line).map(|_| line);
            let _ = tx.send(first);
            // Keep what else it prints.
            let _ = drain_into(reader, sink).join();
        });

        let describe = |child: &mut Child, what: &str| -> String {
            let _ = child.kill();
            let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
            // Let the stderr thread catch up with the dead process.
            thread::sleep(Duration::from_millis(100));
            let err = snapshot(&stderr);
            format!("synchost-fake {kind} {args:?} {what} ({status}); stderr:\n{err}")
        };
        let line = match rx.recv_timeout(FAKE_START_TIMEOUT) {
            Ok(Ok(line)) if !line.is_empty() => line,
            Ok(Ok(_)) => panic!("{}", describe(&mut child, "exited before listening")),
            Ok(Err(e)) => panic!(
                "{}",
                describe(&mut child, &format!("stdout unreadable: {e}"))
            ),
            Err(_) => panic!(
                "{}",
                describe(
                    &mut child,
                    &format!(
                        "printed no `listening on` line within {} s",
                        FAKE_START_TIMEOUT.as_secs()
                    )
                )
            ),
        };
        let Some(url) = line.trim().strip_prefix("listening on ") else {
            panic!(
                "{}",
                describe(
                    &mut child,
                    &format!("printed {line:?} instead of `listening on URL`")
                )
            );
        };
        let mut fake = FakeServer {
            url: url.trim_end_matches('/').to_owned(),
            child,
            kind: kind.to_owned(),
            stderr,
            stdout: rest,
            ca: None,
            agent: agent().clone(),
        };
        if fake.url.starts_with("https://") {
            let ca = PathBuf::from(fake.stdout_line("ca: "));
            fake.agent = agent_trusting(Some(&ca));
            fake.ca = Some(ca);
        }
        fake
    }

    /// With `--tls`: the test CA's certificate (a PEM file the fake removes
    /// when it stops).
    pub fn ca(&self) -> Option<&Path> {
        self.ca.as_deref()
    }

    /// The rest of the first stdout line starting with `prefix` printed
    /// after `listening on` (e.g. the Supabase fake's `anon key: `), waiting
    /// up to [`FAKE_START_TIMEOUT`] for it.
    pub fn stdout_line(&self, prefix: &str) -> String {
        let mut found = None;
        wait_for(
            &format!("a stdout line {prefix:?}"),
            FAKE_START_TIMEOUT,
            || {
                found = snapshot(&self.stdout)
                    .lines()
                    .find_map(|l| l.strip_prefix(prefix).map(str::to_owned));
                found.is_some()
            },
        );
        found.unwrap_or_default()
    }

    /// The base URL, `http://127.0.0.1:PORT` (`https://` with `--tls`; no
    /// trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("url ends with a port")
    }

    /// The fake's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the fake wrote to stderr so far.
    pub fn stderr(&self) -> String {
        snapshot(&self.stderr)
    }

    /// `GET <url><path>` (path with its query, e.g. `/items?limit=10`).
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
        http_via(
            &self.agent,
            "GET",
            &format!("{}{path}", self.url),
            headers,
            None,
        )
    }

    pub fn control_get(&self, path: &str) -> Value {
        let resp = self.get(path, &[]);
        self.check(path, &resp, 200);
        resp.json()
    }

    pub fn control_post(&self, path: &str, body: Option<&Value>, expect: u16) -> HttpResponse {
        let body = body.map(Value::to_string);
        let resp = http_via(
            &self.agent,
            "POST",
            &format!("{}{path}", self.url),
            &[],
            body.as_deref(),
        );
        self.check(path, &resp, expect);
        resp
    }

    #[track_caller]
    fn check(&self, path: &str, resp: &HttpResponse, expect: u16) {
        assert_eq!(
            resp.status, expect,
            "synchost-fake {} {path}: body {}",
            self.kind, resp.body
        );
    }

    /// `GET /_control/stats`: `{"requests", "list_requests", "item_requests", "by_status": {...}}`
    /// (the kind-specific counters vary).
    pub fn stats(&self) -> Value {
        self.control_get("/_control/stats")
    }

    /// Non-control requests served since start or the last reset, errors included.
    pub fn requests(&self) -> u64 {
        self.stats()["requests"]
            .as_u64()
            .expect("stats has a numeric `requests`")
    }

    /// `POST /_control/stats/reset`.
    pub fn reset_stats(&self) {
        self.control_post("/_control/stats/reset", None, 204);
    }

    /// `POST /_control/mutate`: that many random updates, deletes and creates;
    /// returns `{"updated": [ids], "deleted": [ids], "created": [ids]}`.
    pub fn mutate(&self, update: u64, delete: u64, create: u64) -> Value {
        let body = serde_json::json!({ "update": update, "delete": delete, "create": create });
        self.control_post("/_control/mutate", Some(&body), 200)
            .json()
    }

    /// `POST /_control/mutate` with any body (e.g. the Confluence fake's
    /// `{"update", "delete", "create", "move", "attachments"}`); returns the answer.
    pub fn mutate_with(&self, body: &Value) -> Value {
        self.control_post("/_control/mutate", Some(body), 200)
            .json()
    }

    /// `GET /_control/items` as returned: an array of `{"id", "version", ...}`
    /// ordered by id (a fake may add fields such as `stream`).
    pub fn ground_truth_json(&self) -> Value {
        self.control_get("/_control/items")
    }

    /// The live records as `(id, version)`, in the fake's order (by id).
    pub fn ground_truth(&self) -> Vec<(String, String)> {
        let json = self.ground_truth_json();
        let entries = json
            .as_array()
            .unwrap_or_else(|| panic!("/_control/items is not an array: {json}"));
        entries
            .iter()
            .map(|e| {
                let field = |name: &str| match &e[name] {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    other => panic!("/_control/items entry without string {name}: {other} in {e}"),
                };
                (field("id"), field("version"))
            })
            .collect()
    }

    /// `POST /_control/faults` with any of `latency_ms`, `fail_rate`,
    /// `rate_limit` (or null), `token` (or null).
    pub fn set_faults(&self, faults: Value) {
        self.control_post("/_control/faults", Some(&faults), 204);
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Killed, it could not remove its CA file itself.
        if let Some(ca) = &self.ca {
            let _ = fs::remove_file(ca);
        }
    }
}

// ---------------------------------------------------------------------------
// Built artefacts

/// `.../target/<profile>`: the directory of the running test's profile
/// (the test runs from `.../target/<profile>/deps/<test>-<hash>`).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("unexpected test executable location {}", exe.display()))
        .to_path_buf()
}

/// `.../target`: the parent of [`profile_dir`].
pub fn target_dir() -> PathBuf {
    let profile = profile_dir();
    profile
        .parent()
        .unwrap_or_else(|| panic!("no target dir above {}", profile.display()))
        .to_path_buf()
}

/// The `synchost` binary of the same target directory and profile as this test.
/// Panics if it is missing: build it first with `cargo xtask test`.
pub fn synchost_bin() -> PathBuf {
    let path = profile_dir().join(format!("synchost{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: build it first: cargo xtask test",
        path.display()
    );
    path
}

/// `<target dir>/plugins/<name>.wasm`, e.g. `target/plugins/example-items.wasm`.
/// Panics if it is missing: build it first with `cargo xtask test`.
pub fn plugin_path(name: &str) -> PathBuf {
    let path = target_dir().join("plugins").join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "plugin {name:?} not found at {}: build it first: cargo xtask test",
        path.display()
    );
    path
}

// ---------------------------------------------------------------------------
// Workspaces

/// A throwaway working directory for one `synchost` run or more, deleted on
/// drop: the store (at the host's default location), an optional
/// `synchost.toml`, the plugin cache and the logs of spawned runs.
pub struct Workspace {
    dir: tempfile::TempDir,
    spawns: AtomicU32,
}

impl Default for Workspace {
    fn default() -> Self {
        Self::new()
    }
}

impl Workspace {
    /// A fresh empty directory.
    pub fn new() -> Workspace {
        let dir = tempfile::Builder::new()
            .prefix("synchost-e2e-")
            .tempdir()
            .expect("create a temp dir");
        Workspace {
            dir,
            spawns: AtomicU32::new(0),
        }
    }

    /// The directory; `synchost` runs with it as its working directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The store: `.synchost/synchost.db` under [`Workspace::path`], which is
    /// where `synchost` puts it by default (pass it as `--store` to be explicit).
    pub fn store_path(&self) -> PathBuf {
        self.path().join(".synchost").join("synchost.db")
    }

    /// The blob directory of [`Workspace::store_path`]: `<store file>.blobs`
    /// beside it (the host's `Store::blob_dir`).
    pub fn blob_dir(&self) -> PathBuf {
        blob_dir_of(&self.store_path())
    }

    /// `synchost.toml` under [`Workspace::path`] (found there by default).
    pub fn config_path(&self) -> PathBuf {
        self.path().join("synchost.toml")
    }

    /// Writes `synchost.toml`; returns its path.
    pub fn write_config(&self, toml: &str) -> PathBuf {
        let path = self.config_path();
        fs::write(&path, toml).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// The per-workspace compiled-plugin cache (`SYNCHOST_CACHE_DIR`).
    pub fn cache_dir(&self) -> PathBuf {
        self.path().join("cache")
    }

    /// Where [`Synchost::spawn`] number `n` (0, 1, ...) of this workspace
    /// writes its stdout and stderr.
    pub fn spawn_log_paths(&self, n: u32) -> (PathBuf, PathBuf) {
        let dir = self.path().join("logs");
        (
            dir.join(format!("spawn-{n}.stdout")),
            dir.join(format!("spawn-{n}.stderr")),
        )
    }

    /// stdout and stderr (so far) of spawn number `n`.
    pub fn spawn_logs(&self, n: u32) -> (String, String) {
        let (out, err) = self.spawn_log_paths(n);
        let read = |p: &Path| fs::read_to_string(p).unwrap_or_default();
        (read(&out), read(&err))
    }

    /// stdout and stderr of the latest spawn.
    pub fn last_spawn_logs(&self) -> (String, String) {
        let n = self.spawns.load(Ordering::SeqCst);
        assert!(n > 0, "nothing was spawned in this workspace");
        self.spawn_logs(n - 1)
    }
}

/// A compiled-plugin cache shared by every test of a run.
pub fn shared_cache_dir() -> PathBuf {
    target_dir().join("tmp").join("compiled-plugins")
}

/// The `[sources.hostile]` tables of a `synchost.toml`: the hostile test
/// plugin running `attack` against `base_url`, with `settings` as extra
/// lines of its settings table. Callers append further tables (limits, retry).
pub fn hostile_source(attack: &str, base_url: &str, settings: &str) -> String {
    format!(
        "[sources.hostile]\n\
         plugin = {plugin}\n\
         [sources.hostile.settings]\n\
         attack = {attack}\n\
         base_url = {url}\n\
         {settings}\n",
        plugin = toml_str(&plugin_path("hostile").display().to_string()),
        attack = toml_str(attack),
        url = toml_str(base_url),
    )
}

/// The blob directory of the store at `store`: `<store file>.blobs` beside it.
pub fn blob_dir_of(store: &Path) -> PathBuf {
    let mut name = store.file_name().expect("a store file").to_os_string();
    name.push(".blobs");
    store.with_file_name(name)
}

// ---------------------------------------------------------------------------
// Running synchost

/// Runs the real `synchost` binary in a [`Workspace`]: working directory the
/// workspace, `SYNCHOST_CACHE_DIR` the workspace's cache, stdin null.
///
/// Shortcuts: [`Synchost::run`] and [`Synchost::spawn`]. Builder form:
/// `Synchost::new(&ws).args(["sync", "items"]).env("TOKEN", "t").output()`.
pub struct Synchost<'a> {
    ws: &'a Workspace,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    /// Variables of the test's own environment not passed on.
    removed: Vec<OsString>,
    timeout: Duration,
}

impl<'a> Synchost<'a> {
    /// Runs `synchost <args>` to completion (at most [`SYNCHOST_TIMEOUT`]).
    pub fn run(ws: &Workspace, args: &[&str]) -> Output {
        Synchost::new(ws).args(args).output()
    }

    /// Starts `synchost <args>` and returns at once, e.g. to kill it mid-run.
    /// stdout and stderr go to files: see [`Workspace::last_spawn_logs`].
    pub fn spawn(ws: &Workspace, args: &[&str]) -> Child {
        Synchost::new(ws).args(args).start()
    }

    pub fn new(ws: &'a Workspace) -> Self {
        Synchost {
            ws,
            args: Vec::new(),
            envs: Vec::new(),
            removed: Vec::new(),
            timeout: SYNCHOST_TIMEOUT,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// An extra environment variable (e.g. the one an `auth` section names).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.envs
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Does not pass `key` of the test's own environment on (e.g. a proxy
    /// or `SSL_CERT_FILE` of the machine running the tests).
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.removed.push(key.as_ref().to_owned());
        self
    }

    /// Caches compiled plugins in [`shared_cache_dir`], so each plugin is
    /// compiled once per test run rather than once per workspace.
    pub fn shared_cache(self) -> Self {
        self.env("SYNCHOST_CACHE_DIR", shared_cache_dir())
    }

    /// Overrides [`SYNCHOST_TIMEOUT`] for [`Synchost::output`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The configured command (stdio not set).
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(synchost_bin());
        cmd.args(&self.args)
            .current_dir(self.ws.path())
            .env("SYNCHOST_CACHE_DIR", self.ws.cache_dir());
        for key in &self.removed {
            cmd.env_remove(key);
        }
        cmd.envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        cmd
    }

    fn describe(&self) -> String {
        let args: Vec<_> = self.args.iter().map(|a| a.to_string_lossy()).collect();
        format!("synchost {}", args.join(" "))
    }

    /// Runs to completion and captures stdout and stderr. Kills it and
    /// panics (with what it printed) if it outlives the timeout.
    pub fn output(self) -> Output {
        let mut child = self
            .command()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.describe()));
        let out = Arc::new(Mutex::new(Vec::new()));
        let err = Arc::new(Mutex::new(Vec::new()));
        let out_done = drain_into(child.stdout.take().expect("piped"), out.clone());
        let err_done = drain_into(child.stderr.take().expect("piped"), err.clone());
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                // Give the readers a moment, but do not wait on pipes that a
                // grandchild may still hold open.
                thread::sleep(Duration::from_millis(200));
                panic!(
                    "{} did not finish within {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    self.describe(),
                    self.timeout,
                    snapshot(&out),
                    snapshot(&err)
                );
            }
            thread::sleep(Duration::from_millis(10));
        };
        let _ = out_done.join();
        let _ = err_done.join();
        Output {
            status,
            stdout: bytes_of(&out),
            stderr: bytes_of(&err),
        }
    }

    /// Starts it with stdout and stderr going to the next
    /// [`Workspace::spawn_log_paths`] files.
    pub fn start(self) -> Child {
        let n = self.ws.spawns.fetch_add(1, Ordering::SeqCst);
        let (out, err) = self.ws.spawn_log_paths(n);
        fs::create_dir_all(out.parent().expect("logs dir")).expect("create logs dir");
        let file = |p: &Path| File::create(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        self.command()
            .stdout(file(&out))
            .stderr(file(&err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.describe()))
    }
}

/// stdout and stderr of `out` as text.
pub fn output_text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Panics, printing stdout and stderr, unless `out` exited 0. Returns stdout.
#[track_caller]
pub fn assert_success(out: &Output) -> String {
    let (stdout, stderr) = output_text(out);
    assert!(
        out.status.success(),
        "command failed: {}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        out.status
    );
    stdout
}

/// Panics, printing stdout and stderr, unless `out` exited with `code`.
/// Returns stderr.
#[track_caller]
pub fn assert_exit_code(out: &Output, code: i32) -> String {
    let (stdout, stderr) = output_text(out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "unexpected exit: {}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        out.status
    );
    stderr
}

/// `kill -9`s `child` and reaps it.
pub fn kill9(child: &mut Child) -> ExitStatus {
    // std's kill is SIGKILL on Unix.
    let _ = child.kill();
    child.wait().expect("wait for the killed child")
}

/// Polls `cond` every 10 ms until it holds; panics naming `what` after `timeout`.
#[track_caller]
pub fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// Sends SIGINT (what Ctrl+C sends) to `child`.
pub fn sigint(child: &Child) {
    let pid = child.id().to_string();
    let status = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap_or_else(|e| panic!("cannot run `kill -INT {pid}`: {e}"));
    assert!(status.success(), "`kill -INT {pid}` failed: {status}");
}

/// Waits up to `timeout` for `child` to exit by itself; kills it and panics
/// (showing what `ws`'s latest spawn printed) if it does not.
#[track_caller]
pub fn wait_exit(ws: &Workspace, child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= deadline {
            kill9(child);
            let (out, err) = ws.last_spawn_logs();
            panic!("synchost did not exit within {timeout:?}\n--- stdout ---\n{out}\n--- stderr ---\n{err}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// A `synchost pull ... --json` started with [`Synchost::spawn`] as the
/// workspace's first spawn.
pub struct SpawnedPull {
    pub child: Child,
    events_path: PathBuf,
}

impl SpawnedPull {
    /// Starts `synchost <args>` (which must include `--json`) and returns
    /// once it has committed `pages` pages; panics if it exits first or
    /// takes longer than `timeout`.
    #[track_caller]
    pub fn until_pages(ws: &Workspace, args: &[&str], pages: usize, timeout: Duration) -> Self {
        let mut child = Synchost::spawn(ws, args);
        let (events_path, _) = ws.spawn_log_paths(0);
        let what = format!("{pages} committed pages");
        wait_while_running(ws, &mut child, &what, timeout, || {
            events_of(&read_events(&events_path), "page").len() >= pages
        });
        SpawnedPull { child, events_path }
    }

    /// The events it has printed so far.
    pub fn events(&self) -> Vec<Value> {
        read_events(&self.events_path)
    }
}

fn read_events(path: &Path) -> Vec<Value> {
    json_lines(&fs::read_to_string(path).unwrap_or_default())
}

/// Polls `cond` every 10 ms while `child` (the latest spawn of `ws`) runs.
/// Panics, showing what it printed, if it exits first or `timeout` passes.
#[track_caller]
pub fn wait_while_running(
    ws: &Workspace,
    child: &mut Child,
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        let exited = child.try_wait().expect("try_wait");
        if exited.is_some() || Instant::now() >= deadline {
            if exited.is_none() {
                kill9(child);
            }
            let (out, err) = ws.last_spawn_logs();
            let why = match exited {
                Some(status) => format!("synchost exited ({status})"),
                None => format!("timed out after {timeout:?}"),
            };
            panic!("{why} while waiting for {what}\n--- stdout ---\n{out}\n--- stderr ---\n{err}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// The `summary` event of a `--json` run's output.
pub fn summary_of(stdout: &str) -> Value {
    json_lines(stdout)
        .into_iter()
        .find(|e| e["event"] == "summary")
        .unwrap_or_else(|| panic!("no summary in {stdout}"))
}

/// The JSON objects of a JSON-lines text. Only complete (newline-terminated)
/// lines count, so a file still being written can be read; a complete line
/// that is not JSON panics.
pub fn json_lines(text: &str) -> Vec<Value> {
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => "",
    };
    complete
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"))
        })
        .collect()
}

/// The events of that `event` kind (`"page"`, `"summary"`, ...) in `--json` output.
pub fn events_of<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

/// `synchost export SOURCE --format jsonl <extra...>` in `ws`, parsed: one
/// object per stored record. Panics unless it succeeds.
#[track_caller]
pub fn export(ws: &Workspace, source: &str, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["export", source, "--format", "jsonl"];
    args.extend_from_slice(extra);
    let out = Synchost::run(ws, &args);
    let stdout = assert_success(&out);
    let records = json_lines(&stdout);
    assert_eq!(
        records.len(),
        stdout.lines().filter(|l| !l.trim().is_empty()).count(),
        "export printed an unterminated line:\n{stdout}"
    );
    records
}

/// A string field of a JSON object; panics (showing the object) otherwise.
#[track_caller]
pub fn str_field<'a>(v: &'a Value, name: &str) -> &'a str {
    v[name]
        .as_str()
        .unwrap_or_else(|| panic!("no string `{name}` in {v}"))
}

/// An unsigned integer field of a JSON object; panics (showing it) otherwise.
#[track_caller]
pub fn u64_field(v: &Value, name: &str) -> u64 {
    v[name]
        .as_u64()
        .unwrap_or_else(|| panic!("no unsigned integer `{name}` in {v}"))
}

/// `synchost <args>` (a `--json` command: `status`, `runs`) run to success
/// and parsed.
#[track_caller]
pub fn json_output(ws: &Workspace, args: &[&str]) -> Value {
    let out = assert_success(&Synchost::run(ws, args));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} is not JSON ({e}): {out}"))
}

/// Every file under `dir`, at any depth (none if it does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// `s` as a TOML basic string (quoted and escaped).
pub fn toml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---- The items source: the example plugin against `synchost-fake items` ----

/// The environment variable that holds the fake's token in these tests.
pub const TOKEN_VAR: &str = "SYNCHOST_E2E_ITEMS_TOKEN";
/// Writes a `synchost.toml` with one source, `items`: the example plugin
/// reading `fake`. `tables` is appended as is (e.g. a `[sources.items.retry]`).
pub fn items_config(ws: &Workspace, fake: &FakeServer, tables: &str) {
    items_config_for(ws, fake, &plugin_path("example-items"), tables);
}

/// [`items_config`] with another plugin for the items API (the JavaScript
/// example, say).
pub fn items_config_for(ws: &Workspace, fake: &FakeServer, plugin: &Path, tables: &str) {
    ws.write_config(&format!(
        "[sources.items]\nplugin = {}\n\n[sources.items.settings]\nbase_url = {}\n\n{tables}",
        toml_str(&plugin.display().to_string()),
        toml_str(fake.url()),
    ));
}

/// What an export holds: live records as sorted `(id, version)` and the ids
/// marked deleted. Panics if an id appears twice.
pub struct Stored {
    pub live: Vec<(String, String)>,
    pub deleted: BTreeSet<String>,
}

pub fn stored(records: &[Value]) -> Stored {
    let mut seen = BTreeSet::new();
    let mut live = Vec::new();
    let mut deleted = BTreeSet::new();
    for r in records {
        let id = str_field(r, "id").to_owned();
        assert!(seen.insert(id.clone()), "record {id} is stored twice");
        assert_eq!(str_field(r, "stream"), "items", "unexpected stream in {r}");
        match r["deleted"].as_bool() {
            Some(true) => {
                deleted.insert(id);
            }
            Some(false) => live.push((id, str_field(r, "version").to_owned())),
            None => panic!("record without a boolean `deleted`: {r}"),
        }
    }
    live.sort();
    Stored { live, deleted }
}

/// `synchost pull items --json <extra...>` with the config of [`items_config`];
/// panics unless it succeeds, returns the parsed events.
#[track_caller]
pub fn pull_items(ws: &Workspace, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["pull", "items", "--json"];
    args.extend_from_slice(extra);
    json_lines(&assert_success(&Synchost::run(ws, &args)))
}

/// The verdicts of a `plugin check --json` report, `(rule, verdict)` in order.
/// `plugin check PLUGIN --set base_url=<fake> --allow-writes` (the fake is
/// the test's own) passes every rule (push-outcomes is skipped for a plugin
/// that does not push).
#[track_caller]
pub fn assert_check_passes(ws: &Workspace, plugin: &Path, fake: &FakeServer) {
    let out = Synchost::new(ws)
        .shared_cache()
        .args(["plugin", "check"])
        .arg(plugin)
        .arg("--set")
        .arg(format!("base_url={}", fake.url()))
        .args(["--allow-writes", "--json"])
        .output();
    let stdout = assert_success(&out);
    let verdicts = verdicts(&stdout);
    assert!(verdicts.len() >= 12, "every rule has a verdict: {stdout}");
    let pull_only = stdout.contains("does not declare supports-push");
    for (rule, verdict) in &verdicts {
        let expected = if rule == "push-outcomes" && pull_only {
            "skip"
        } else {
            "pass"
        };
        assert_eq!(verdict, expected, "rule {rule}: {stdout}");
    }
}

pub fn verdicts(stdout: &str) -> Vec<(String, String)> {
    let report: Value = serde_json::from_str(stdout.trim()).expect("a JSON report");
    report["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|rule| {
            (
                rule["rule"].as_str().expect("rule").to_string(),
                rule["verdict"].as_str().expect("verdict").to_string(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Items and files

/// Creates an item on the fake through its API, with `title`, `content`
/// and `tags`; returns its id.
pub fn create_item(
    fake: &FakeServer,
    key: &str,
    title: &str,
    content: &str,
    tags: &[&str],
) -> String {
    let body = serde_json::json!({"title": title, "content": content, "tags": tags}).to_string();
    let response = http(
        "POST",
        &format!("{}/items", fake.url()),
        &[
            ("idempotency-key", key),
            ("content-type", "application/json"),
        ],
        Some(&body),
    );
    response.expect_status(201);
    str_field(&response.json(), "id").to_string()
}

/// Every file under `dir`, recursively, as bytes.
pub fn all_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return files;
    };
    for entry in entries {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(all_bytes(&path));
        } else {
            files.push((path.display().to_string(), fs::read(&path).expect("read")));
        }
    }
    files
}
