//! The sandbox under attack: the `hostile` test plugin
//! (`tests/plugins/hostile`) runs one attack per test — loops, memory and
//! stack bombs, sleeps, exits, disallowed hosts, localhost and redirect
//! tricks, file and environment access, credential theft, malformed pages —
//! and each test checks that the host contains it:
//!
//! - the run ends with the documented exit code (1 for a failed run, 0 when
//!   the attack only probes), never a panic (101) or a signal;
//! - the message names the source (`hostile`) and the limit or policy at work;
//! - the store is intact: a good source pulled before the attack exports
//!   exactly as it did;
//! - the fake's token (the credential the host holds) never shows in any
//!   output, export or store file.
//!
//! Each test has its own fake and workspace; limits are small
//! (`cpu_ms_per_call = 500`, `memory_mb = 64`, `call_timeout_s = 10`,
//! `max_response_mb = 1`) so the whole file runs in seconds.
//!
//! Three tests here first showed holes, since closed: unbounded cursors,
//! the credential reaching another port of an allowed host, and crash
//! messages that did not name the cause.

mod support;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;
use support::{
    assert_success, export, output_text, plugin_path, str_field, toml_str, u64_field, FakeServer,
    Synchost, Workspace,
};

/// The credential the fake demands and the host injects; a plugin must never
/// get hold of it.
const TOKEN: &str = "tok-sandbox-9f3c2a71e5";
/// The variable that holds it, in the host's environment during every run.
const TOKEN_VAR: &str = "ITEMS_TOKEN";
/// What the host's standard input holds during a hostile run.
const STDIN: &str = "stdin-secret-5d1e";
/// Peak resident memory a hostile run may reach: a few times the plugin's
/// 64 MiB memory limit, for the engine, the store, the page in flight and
/// what one call may copy out of the plugin (wasmtime's 128 MiB hostcall fuel).
const MAX_HOST_RSS_MIB: u64 = 320;
/// The limits every hostile run gets, unless a test overrides one.
const LIMITS: &[(&str, u64)] = &[
    ("cpu_ms_per_call", 500),
    ("memory_mb", 64),
    ("call_timeout_s", 10),
    ("max_response_mb", 1),
];
/// The hostile source's page size (for `oversized-page`).
const PAGE_SIZE: u32 = 10;
/// Items in the fake: what the good source stores before each attack.
const ITEMS: &str = "25";
/// A run that takes longer than this is a hang.
const RUN_TIMEOUT: Duration = Duration::from_secs(90);

/// One attack: the hostile source's config beyond the defaults.
struct Attack<'a> {
    name: &'a str,
    /// Keys added to `[sources.hostile]` (e.g. `allowed_hosts`).
    keys: &'a str,
    /// Limits that replace the defaults in [`LIMITS`] or add to them.
    limits: &'a [(&'a str, u64)],
    /// Lines added to `[sources.hostile.settings]`.
    settings: &'a str,
    /// The `port` setting; the fake's port when `None`.
    port: Option<u16>,
}

impl<'a> Attack<'a> {
    fn new(name: &'a str) -> Self {
        Attack {
            name,
            keys: "",
            limits: &[],
            settings: "",
            port: None,
        }
    }

    fn settings(mut self, settings: &'a str) -> Self {
        self.settings = settings;
        self
    }

    fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    fn keys(mut self, keys: &'a str) -> Self {
        self.keys = keys;
        self
    }

    fn limits(mut self, limits: &'a [(&'a str, u64)]) -> Self {
        self.limits = limits;
        self
    }
}

/// What an attack left behind, for the test's own checks.
struct Aftermath {
    fake: FakeServer,
    ws: Workspace,
    stdout: String,
    stderr: String,
}

impl Aftermath {
    /// The exported records of the hostile source.
    fn hostile_records(&self) -> Vec<Value> {
        export(&self.ws, "hostile", &[])
    }

    /// The content of the `report` record the plugin wrote, as JSON.
    fn report(&self) -> Value {
        let records = self.hostile_records();
        let report = records
            .iter()
            .find(|r| r["id"] == "report")
            .unwrap_or_else(|| panic!("no `report` record in {records:?}"));
        let content = str_field(report, "content");
        serde_json::from_str(content)
            .unwrap_or_else(|e| panic!("the report is not JSON ({e}): {content}"))
    }

    /// The `URL -> OUTCOME` pairs of a probe attack's fatal error.
    fn probe_outcomes(&self, attack: &str) -> Vec<(String, String)> {
        let prefix = format!("{attack}: ");
        let line = self
            .stderr
            .lines()
            .find_map(|line| line.split_once(&prefix).map(|(_, rest)| rest))
            .unwrap_or_else(|| panic!("no `{prefix}...` report in stderr:\n{}", self.stderr));
        line.split("; ")
            .map(|pair| {
                let (url, outcome) = pair
                    .split_once(" -> ")
                    .unwrap_or_else(|| panic!("not `URL -> OUTCOME`: {pair}"));
                (url.to_owned(), outcome.to_owned())
            })
            .collect()
    }

    /// Panics unless `needle` (any case) is in stderr.
    #[track_caller]
    fn says(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.to_lowercase().contains(&needle.to_lowercase()),
            "stderr should mention {needle:?}:\n--- stderr ---\n{}\n--- stdout ---\n{}",
            self.stderr,
            self.stdout
        );
        self
    }
}

/// `synchost ARGS` with the shared plugin cache and the token.
fn synchost<'a>(ws: &'a Workspace, args: &[&str]) -> Synchost<'a> {
    Synchost::new(ws)
        .args(args)
        .shared_cache()
        .env(TOKEN_VAR, TOKEN)
        .timeout(RUN_TIMEOUT)
}

/// `synchost.toml`: the good source (the example plugin) and the hostile
/// one, both on `fake` with the token from [`TOKEN_VAR`].
fn write_config(ws: &Workspace, fake: &FakeServer, attack: &Attack) {
    let mut limits: Vec<(&str, u64)> = LIMITS.to_vec();
    for (key, value) in attack.limits {
        match limits.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = *value,
            None => limits.push((key, *value)),
        }
    }
    let limits: String = limits
        .iter()
        .map(|(key, value)| format!("{key} = {value}\n"))
        .collect();
    let url = toml_str(fake.url());
    let auth = format!("type = \"bearer\"\ntoken_env = \"{TOKEN_VAR}\"\n");
    ws.write_config(&format!(
        "[sources.good]\n\
         plugin = {good}\n\
         [sources.good.settings]\n\
         base_url = {url}\n\
         [sources.good.auth]\n\
         {auth}\n\
         [sources.hostile]\n\
         plugin = {hostile}\n\
         page_size = {PAGE_SIZE}\n\
         {keys}\n\
         [sources.hostile.settings]\n\
         attack = {name}\n\
         base_url = {url}\n\
         port = \"{port}\"\n\
         {settings}\n\
         [sources.hostile.auth]\n\
         {auth}\
         [sources.hostile.limits]\n\
         {limits}\
         [sources.hostile.retry]\n\
         base_delay_ms = 10\n\
         max_delay_ms = 50\n",
        good = toml_str(&plugin_path("example-items").display().to_string()),
        hostile = toml_str(&plugin_path("hostile").display().to_string()),
        keys = attack.keys,
        name = toml_str(attack.name),
        port = attack.port.unwrap_or_else(|| fake.port()),
        settings = attack.settings,
    ));
}

/// Pulls the good source, runs the attack, and checks what every attack
/// must leave true: the exit code is one of `expected_codes` (a code, not a
/// signal, never a panic), the token shows nowhere, and the good source
/// exports exactly as before.
#[track_caller]
fn run_attack(attack: Attack, expected_codes: &[i32]) -> Aftermath {
    let fake = FakeServer::start("items", &["--count", ITEMS, "--token", TOKEN]);
    let ws = Workspace::new();
    write_config(&ws, &fake, &attack);

    let out = synchost(&ws, &["pull", "good"]).output();
    assert_success(&out);
    let before = export(&ws, "good", &[]);
    assert_eq!(
        before.len().to_string(),
        ITEMS,
        "the good source holds the fake's items"
    );
    fake.reset_stats();

    let out = pull_hostile(&ws);
    let (stdout, stderr) = output_text(&out);
    let shown = format!(
        "attack {}: {}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        attack.name, out.status
    );
    assert!(
        out.status
            .code()
            .is_some_and(|code| expected_codes.contains(&code)),
        "exit code of {shown}\nexpected one of {expected_codes:?}"
    );
    // A plugin's own panic is quoted in the error, indented under `  | `.
    assert!(
        !stderr
            .lines()
            .any(|line| line.starts_with("thread '") && line.contains("panicked")),
        "the host panicked: {shown}"
    );
    if !out.status.success() {
        assert!(
            stderr.contains("hostile"),
            "the message names the source: {shown}"
        );
    }
    for (what, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        assert!(
            !text.contains(TOKEN),
            "the token is in the host's {what}: {shown}"
        );
    }

    let after = export(&ws, "good", &[]);
    assert_eq!(after, before, "the good source changed: {shown}");
    assert_no_token_in_store(&ws);
    // Shown with `--nocapture`: what each attack made the host say.
    eprintln!("{shown}");
    Aftermath {
        fake,
        ws,
        stdout,
        stderr,
    }
}

/// `synchost pull hostile`, with [`STDIN`] on its standard input (which the
/// plugin must not be able to read) and a hang limit.
fn pull_hostile(ws: &Workspace) -> Output {
    let path = |name: &str| ws.path().join(name);
    std::fs::write(path("stdin.txt"), STDIN).expect("write stdin");
    let file = |name: &str| File::create(path(name)).expect("create a log file");
    let mut child = synchost(ws, &["pull", "hostile"])
        .command()
        .stdin(File::open(path("stdin.txt")).expect("open stdin"))
        .stdout(file("hostile.stdout"))
        .stderr(file("hostile.stderr"))
        .spawn()
        .expect("start synchost");
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let err = std::fs::read_to_string(path("hostile.stderr")).unwrap_or_default();
            panic!("synchost pull hostile hung for {RUN_TIMEOUT:?}; stderr:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let read = |name: &str| std::fs::read(path(name)).unwrap_or_default();
    Output {
        status,
        stdout: read("hostile.stdout"),
        stderr: read("hostile.stderr"),
    }
}

/// The peak resident memory of the latest run of the hostile source, in MiB,
/// from the run history (`synchost runs`).
fn peak_rss_mib(ws: &Workspace) -> u64 {
    let out = synchost(ws, &["runs", "hostile", "--json", "--limit", "1"]).output();
    let runs: Value = serde_json::from_str(&assert_success(&out)).expect("runs --json is JSON");
    let run = &runs[0];
    assert_eq!(run["source"], "hostile", "{runs}");
    u64_field(run, "peak_rss_kb") / 1024
}

/// The token is in no file of the store directory (database, WAL, blobs)
/// and in no export.
#[track_caller]
fn assert_no_token_in_store(ws: &Workspace) {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read the store directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(&path, files);
            } else {
                files.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(ws.store_path().parent().expect("store dir"), &mut files);
    for file in files {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
            "the token is stored in {}",
            file.display()
        );
    }
}

/// A CPU-budget message for `call`.
#[track_caller]
fn assert_cpu_budget(after: &Aftermath, call: &str) {
    after
        .says("plugin hostile exceeded its CPU budget of 500 ms")
        .says(&format!("in `{call}`"))
        .says("limits.cpu_ms_per_call");
}

// ---------------------------------------------------------------------------
// CPU, memory, stack, time

#[test]
fn infinite_loop_in_configure_hits_the_cpu_budget() {
    let after = run_attack(Attack::new("loop-configure"), &[1]);
    assert_cpu_budget(&after, "configure");
    assert_eq!(after.fake.requests(), 0);
}

#[test]
fn infinite_loop_in_list_hits_the_cpu_budget() {
    let after = run_attack(Attack::new("loop-list"), &[1]);
    assert_cpu_budget(&after, "list");
}

#[test]
fn infinite_loop_in_fetch_hits_the_cpu_budget() {
    let after = run_attack(Attack::new("loop-fetch"), &[1]);
    assert_cpu_budget(&after, "fetch");
}

#[test]
fn memory_bomb_hits_the_memory_limit() {
    let after = run_attack(Attack::new("memory-bomb"), &[1]);
    after
        .says("plugin hostile exceeded its memory limit of 64 MiB")
        .says("in `list`")
        .says("limits.memory_mb");
    let peak = peak_rss_mib(&after.ws);
    assert!(peak < MAX_HOST_RSS_MIB, "the host peaked at {peak} MiB");
}

#[test]
fn stack_overflow_is_a_crash_not_a_host_crash() {
    let after = run_attack(Attack::new("stack-overflow"), &[1]);
    after.says("plugin hostile crashed in `list`");
}

#[test]
fn sleeping_forever_hits_the_call_timeout() {
    let after = run_attack(Attack::new("sleep").limits(&[("call_timeout_s", 2)]), &[1]);
    after
        .says("plugin hostile did not answer `list` within 2 s")
        .says("limits.call_timeout_s");
}

/// `exit(3)` in the plugin ends the plugin, not the host: the host's exit
/// code is its own (1, a failed run), not the 3 the plugin asked for.
#[test]
fn exit_in_the_plugin_does_not_exit_the_host() {
    let after = run_attack(Attack::new("exit"), &[1]);
    after.says("plugin hostile crashed in `list`");
}

/// A crash message says why the plugin crashed (the trap), not only that it
/// did (not the header of wasmtime's backtrace).
#[test]
fn crash_messages_name_the_cause() {
    // A Rust guest's stack lives in its linear memory, below its data: an
    // overflow surfaces as the out-of-bounds access it causes.
    let after = run_attack(Attack::new("stack-overflow"), &[1]);
    after
        .says("plugin hostile crashed in `list`")
        .says("wasm trap: out of bounds memory access");
    let after = run_attack(Attack::new("exit"), &[1]);
    after.says("plugin hostile crashed in `list`").says("exit");
    let after = run_attack(Attack::new("lift-bomb").settings("copies = \"1024\""), &[1]);
    after
        .says("plugin hostile crashed in `list`")
        .says("too much data");
}

/// A panic after sending part of a batch: the requests went out, the
/// plugin is reported as crashed in `fetch`, and nothing of the page is kept.
#[test]
fn panic_mid_batch_is_reported_and_keeps_the_store() {
    let after = run_attack(Attack::new("panic-mid-batch"), &[1]);
    after
        .says("plugin hostile crashed in `fetch`")
        .says("| hostile: panic in the middle of a batch, after 3 responses");
    assert_eq!(
        after.fake.stats()["item_requests"],
        3,
        "the batch was sent before the panic"
    );
    assert!(
        after.hostile_records().is_empty(),
        "nothing of the page in flight was committed"
    );
}

// ---------------------------------------------------------------------------
// The network policy

/// The response-size cap holds with and without a Content-Length.
#[test]
fn huge_response_is_refused_at_the_cap() {
    let after = run_attack(Attack::new("huge-response"), &[1]);
    let outcomes = after.probe_outcomes("huge-response");
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    for (url, outcome) in &outcomes {
        assert_eq!(
            outcome, "too-large (1048576)",
            "{url}: the body is cut off at max_response_mb"
        );
    }
}

#[test]
fn disallowed_host_is_denied() {
    let after = run_attack(Attack::new("disallowed-host"), &[1]);
    let outcomes = after.probe_outcomes("disallowed-host");
    assert_denied(&outcomes);
    after.says("example.com").says("allowed_hosts");
    assert_eq!(after.fake.requests(), 0);
}

#[test]
fn metadata_ip_is_denied() {
    let after = run_attack(Attack::new("metadata-ip"), &[1]);
    let outcomes = after.probe_outcomes("metadata-ip");
    assert_denied(&outcomes);
    after.says("169.254.169.254").says("allowed_hosts");
}

/// With only `example.com` allowed, no spelling of the loopback address
/// (decimal, hex, octal, short, IPv4-mapped IPv6, `0`, `localhost`, user
/// info) reaches the fake listening on 127.0.0.1.
#[test]
fn localhost_tricks_are_denied() {
    let after = run_attack(
        Attack::new("localhost-trick").keys("allowed_hosts = [\"example.com\"]"),
        &[1],
    );
    let outcomes = after.probe_outcomes("localhost-trick");
    assert_eq!(outcomes.len(), 14, "{outcomes:?}");
    assert_denied(&outcomes);
    assert_eq!(after.fake.requests(), 0, "no request reached the fake");
}

/// A redirect from an allowed host to a disallowed one (the metadata
/// endpoint, another host) is refused; one to a `file:` URL is not followed
/// (the plugin gets the 302 itself, which tells it nothing new).
#[test]
fn redirect_to_a_disallowed_host_is_denied() {
    let after = run_attack(Attack::new("redirect"), &[1]);
    let outcomes = after.probe_outcomes("redirect");
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    let (to_file, to_hosts): (Vec<_>, Vec<_>) = outcomes
        .into_iter()
        .partition(|(url, _)| url.contains("to=file"));
    assert_denied(&to_hosts);
    for (_, outcome) in &to_hosts {
        assert!(outcome.contains("redirect refused"), "{outcome}");
    }
    for (url, outcome) in &to_file {
        assert!(
            outcome.starts_with("denied") || outcome == "SENT: HTTP 302 with 0 bytes",
            "{url}: a file: redirect must not be followed: {outcome}"
        );
    }
    assert_eq!(
        after.fake.requests(),
        3,
        "only the redirects themselves were served"
    );
}

/// A blob URL is a request too: the host's download of a blob pointing at
/// the metadata endpoint is denied, and the record fails (after retries),
/// so the run is incomplete and nothing of it is stored.
#[test]
fn blob_url_to_a_disallowed_host_is_denied() {
    let after = run_attack(Attack::new("blob-ssrf"), &[1]);
    after
        .says("169.254.169.254")
        .says("allowed_hosts")
        .says("failed after retries");
    assert_eq!(after.fake.requests(), 0);
    assert!(
        after.hostile_records().is_empty(),
        "the record was not stored"
    );
}

#[track_caller]
fn assert_denied(outcomes: &[(String, String)]) {
    for (url, outcome) in outcomes {
        assert!(
            outcome.starts_with("denied"),
            "{url} was not denied: {outcome}"
        );
    }
}

// ---------------------------------------------------------------------------
// Ambient authority and secrets

#[test]
fn files_are_out_of_reach() {
    let after = run_attack(Attack::new("read-file"), &[0]);
    let report = after.report();
    let entries = report.as_object().expect("the report is an object");
    assert!(!entries.is_empty());
    for (what, outcome) in entries {
        let outcome = outcome.as_str().unwrap_or_default();
        assert!(
            outcome.starts_with("error"),
            "{what} succeeded inside the sandbox: {outcome}"
        );
    }
    assert!(!after.ws.path().join("hostile-was-here").exists());
}

#[test]
fn environment_and_arguments_are_empty() {
    let after = run_attack(Attack::new("read-env"), &[0]);
    let report = after.report();
    assert_eq!(report["vars"], serde_json::json!([]), "{report}");
    assert_eq!(report["args"], serde_json::json!([]), "{report}");
    for var in [TOKEN_VAR, "HOME", "PATH"] {
        assert!(report[var].is_null(), "{var} is visible: {report}");
    }
    assert_eq!(
        report["stdin"], "",
        "the host's stdin is readable: {report}"
    );
}

/// The plugin asks the fake to echo its request (directly and through a
/// same-host redirect) and stores everything it got back. The fake did get
/// the token (the echo answered 200 behind `--token`), but the plugin only
/// ever saw `[REDACTED]`, in bodies and headers alike.
#[test]
fn echoed_credential_is_redacted() {
    let after = run_attack(Attack::new("steal-credential"), &[0]);
    let stats = after.fake.stats();
    assert_eq!(
        stats["by_status"]["200"], 3,
        "the echoes were answered: {stats}"
    );
    let report = after.report();
    let text = report.to_string();
    assert!(!text.contains(TOKEN), "the plugin got the token: {report}");
    let responses = report["responses"].as_array().expect("responses");
    assert_eq!(responses.len(), 3, "{report}");
    let base64 = |text: &str, engine: &base64::engine::GeneralPurpose| engine.encode(text);
    for leaked in [
        base64(TOKEN, &base64::engine::general_purpose::URL_SAFE),
        base64(
            &format!("Bearer {TOKEN}"),
            &base64::engine::general_purpose::STANDARD,
        )[..36]
            .to_string(),
    ] {
        assert!(
            !text.contains(&leaked),
            "the plugin got an encoded token: {report}"
        );
    }
    for response in responses {
        assert_eq!(response["status"], 200, "{response}");
        let body: Value =
            serde_json::from_str(str_field(response, "body")).expect("the echo is JSON");
        assert_eq!(
            body["headers"]["authorization"], "Bearer [REDACTED]",
            "the host's credential replaced the plugin's own and was redacted: {body}"
        );
        let echoed = response["headers"]
            .as_array()
            .expect("headers")
            .iter()
            .find(|h| h[0] == "x-echo-authorization")
            .unwrap_or_else(|| panic!("no x-echo-authorization in {response}"));
        assert_eq!(echoed[1], "Bearer [REDACTED]", "{response}");
        if let Some(encoded) = body.get("encoded") {
            for form in ["base64", "base64url_secret", "percent"] {
                assert!(
                    str_field(encoded, form).contains("[REDACTED]"),
                    "the {form} echo was redacted: {encoded}"
                );
            }
        }
    }
    assert!(
        responses
            .iter()
            .any(|r| r["body"].as_str().unwrap_or("").contains("\"encoded\"")),
        "one echo sent the encoded forms: {report}"
    );
    for source in ["hostile", "good"] {
        let exported = serde_json::to_string(&export(&after.ws, source, &[])).expect("JSON");
        assert!(
            !exported.contains(TOKEN),
            "the export of {source} has the token"
        );
    }
}

// ---------------------------------------------------------------------------
// Malformed pages

#[test]
fn oversized_page_is_refused() {
    let after = run_attack(Attack::new("oversized-page"), &[1]);
    after.says(&format!(
        "returned {} records for a page of at most {PAGE_SIZE}",
        PAGE_SIZE + 1
    ));
    assert!(after.hostile_records().is_empty(), "nothing was stored");
}

/// The streams a configured plugin lists are checked like its manifest's:
/// printable, bounded, at least one. Refused with exit 2 before any listing.
#[test]
fn forged_or_missing_streams_are_refused() {
    let after = run_attack(Attack::new("forged-streams"), &[2]);
    after.says("the plugin is unusable: its stream name");
    after.says("holds control or invisible characters");
    let after = run_attack(Attack::new("no-streams"), &[2]);
    after.says("the plugin is unusable: it declares no streams");
}

#[test]
fn endless_empty_pages_stop() {
    let after = run_attack(Attack::new("endless-cursor"), &[1]);
    after.says("stream `items`: 100 pages in a row made no progress");
}

#[test]
fn repeated_cursor_stops() {
    let after = run_attack(Attack::new("repeated-cursor"), &[1]);
    after.says("returned cursor `again` twice");
}

/// Pages that always hold a record and a new cursor make progress, so only
/// the run's time limit ends them.
#[test]
fn endless_listing_hits_the_run_timeout() {
    let after = run_attack(
        Attack::new("endless-records").limits(&[("run_timeout_s", 3)]),
        &[1],
    );
    after
        .says("the run exceeded its time limit of 3.0s")
        .says("limits.run_timeout_s");
}

// ---------------------------------------------------------------------------
// Host memory and credentials beyond the plugin's own limits

/// The host copies every argument of an import out of the plugin's memory,
/// and many arguments may point at the same bytes: one request whose 1,024
/// headers all point at one 1 MiB string would cost the plugin 1 MiB and the
/// host 1 GiB. wasmtime caps what one call may copy (its hostcall fuel,
/// 128 MiB by default, for arguments and results alike), so the plugin traps
/// and the host's memory stays bounded.
#[test]
fn aliased_arguments_cannot_exhaust_host_memory() {
    let after = run_attack(Attack::new("lift-bomb").settings("copies = \"1024\""), &[1]);
    after.says("plugin hostile crashed in `list`");
    let peak = peak_rss_mib(&after.ws);
    assert!(
        peak < MAX_HOST_RSS_MIB,
        "the host peaked at {peak} MiB for a plugin limited to 64 MiB"
    );
}

/// Cursors have no size limit and the host keeps every cursor of a run (to
/// catch repeats): 200 pages with 2 MiB cursors keep 400 MiB in the host
/// (and write 2 MiB of checkpoint per page), growing with the run.
#[test]
fn giant_cursors_cannot_exhaust_host_memory() {
    let after = run_attack(
        Attack::new("giant-cursor").settings("cursor_kib = \"2048\"\npages = \"200\""),
        &[0, 1],
    );
    let peak = peak_rss_mib(&after.ws);
    assert!(
        peak < MAX_HOST_RSS_MIB,
        "the host peaked at {peak} MiB for a plugin limited to 64 MiB"
    );
}

/// `base_url = "http://127.0.0.1:PORT"` makes `127.0.0.1` the allowed host,
/// on any port (as documented), and the host adds the credential to every
/// request to it: a plugin can hand the token to another service on the same
/// machine (or send it in clear over `http://` when the source is `https://`).
/// Here a second server on another port receives the token.
#[test]
fn credential_stays_with_the_configured_origin() {
    let other = FakeServer::start("items", &["--count", "1"]);
    let after = run_attack(Attack::new("other-port").port(other.port()), &[0, 1]);
    if after.stderr.contains("denied") {
        assert_eq!(other.requests(), 0, "a denied request was sent");
        return;
    }
    let report = after.report();
    let response = &report["responses"][0];
    let body: Value = serde_json::from_str(str_field(response, "body")).expect("the echo is JSON");
    assert!(
        body["headers"]["authorization"].is_null(),
        "the server on port {} received the source's credential: {body}",
        other.port()
    );
}
