//! The runtime under attack (issue 8, items 4, 5, 8, 10 and 11): the compile
//! cache, `send-batch`, what is compiled, rate-limit waits, and every string
//! and log line a plugin can push at the host. Each test runs the real
//! `synchost` binary with a real hostile `.wasm` (`tests/plugins/hostile`,
//! `hostile-describe`, `hostile-manifest`, or a component generated here)
//! and checks that the host refuses, clips or bounds the attack, says so,
//! and keeps what it had.

mod support;

use std::fs::{self, File};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{
    export, hostile_source, output_text, plugin_path, str_field, u64_field, FakeServer, Synchost,
    Workspace,
};

/// A run that takes longer than this is a hang.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
const MIB: u64 = 1024 * 1024;

// ---------------------------------------------------------------------------
// Helpers

/// `synchost.toml` with one source `hostile` running `attack`, on `fake`.
fn hostile_config(ws: &Workspace, fake: &FakeServer, attack: &str, extra: &str) {
    ws.write_config(&hostile_source(attack, fake.url(), extra));
}

/// Runs `command` (stdout and stderr to files in `ws`) and returns what it
/// printed and its peak resident memory in KiB, from the kernel's
/// accounting of the child (`wait4`), so even a refusal's memory is seen.
// The child is reaped by `wait4`, which `Child` does not know of.
#[allow(clippy::zombie_processes)]
fn run_measured(ws: &Workspace, mut command: Command) -> (Output, u64) {
    let out_path = ws.path().join("measured.stdout");
    let err_path = ws.path().join("measured.stderr");
    let child = command
        .stdout(File::create(&out_path).expect("stdout file"))
        .stderr(File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("start synchost");
    let pid = child.id() as libc::pid_t;
    let deadline = Instant::now() + RUN_TIMEOUT;
    let (status, usage) = loop {
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value to be overwritten.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `pid` is our child, not yet reaped; the pointers are valid.
        let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        assert!(reaped >= 0, "wait4 failed");
        if reaped == pid {
            break (std::process::ExitStatus::from_raw(status), usage);
        }
        if Instant::now() > deadline {
            // SAFETY: killing our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("synchost hung for {RUN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = Output {
        status,
        stdout: fs::read(&out_path).unwrap_or_default(),
        stderr: fs::read(&err_path).unwrap_or_default(),
    };
    (output, usage.ru_maxrss as u64)
}

/// `synchost ARGS` with a hang limit.
fn synchost<'a>(ws: &'a Workspace, args: &[&str]) -> Synchost<'a> {
    Synchost::new(ws).args(args).timeout(RUN_TIMEOUT)
}

#[track_caller]
fn assert_code(out: &Output, code: i32) -> (String, String) {
    let (stdout, stderr) = output_text(out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit code\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "the host panicked:\n{stderr}");
    (stdout, stderr)
}

/// Panics unless `text` holds nothing a terminal would interpret: no
/// escape, no carriage return.
#[track_caller]
fn assert_no_raw_controls(what: &str, text: &str) {
    assert!(
        !text.contains('\u{1b}') && !text.contains('\r'),
        "raw control characters in {what}:\n{text:?}"
    );
}

/// The latest run of `source` from `synchost runs --json`.
fn last_run(ws: &Workspace, source: &str) -> Value {
    let out = synchost(ws, &["runs", source, "--json", "--limit", "1"]).output();
    let (stdout, _) = assert_code(&out, 0);
    let runs: Value = serde_json::from_str(&stdout).expect("runs --json is JSON");
    runs[0].clone()
}

// ---------------------------------------------------------------------------
// Item 4: the compile cache

/// `synchost plugin inspect PLUGIN -v` with the cache settings given
/// (`SYNCHOST_CACHE_DIR`, `HOME`, `XDG_CACHE_HOME` removed first).
fn inspect_with_cache(ws: &Workspace, plugin: &Path, env: &[(&str, &Path)]) -> (String, String) {
    let mut command = synchost(ws, &["plugin", "inspect", "-v"])
        .arg(plugin)
        .command();
    command
        .env_remove("SYNCHOST_CACHE_DIR")
        .env_remove("HOME")
        .env_remove("XDG_CACHE_HOME");
    for (key, value) in env {
        command.env(key, value);
    }
    let (out, _) = run_measured(ws, command);
    assert_code(&out, 0)
}

/// The one cache entry that `plugin inspect` leaves in a fresh cache dir.
fn compiled_entry(ws: &Workspace, plugin: &Path, dir: &Path) -> PathBuf {
    let (stdout, _) = inspect_with_cache(ws, plugin, &[("SYNCHOST_CACHE_DIR", dir)]);
    assert!(stdout.contains("native code:   compiled"), "{stdout}");
    let entries: Vec<PathBuf> = fs::read_dir(dir)
        .expect("the cache dir exists")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries[0].clone()
}

/// Native code of the hostile plugin, planted under the name the example
/// plugin's native code has: whoever loads it runs the hostile plugin while
/// believing it runs the example (its `describe` says `hostile`).
fn plant(ws: &Workspace, dir: &Path) -> PathBuf {
    let example = compiled_entry(ws, &plugin_path("example-items"), &ws.path().join("c1"));
    let hostile = compiled_entry(ws, &plugin_path("hostile"), &ws.path().join("c2"));
    fs::create_dir_all(dir).expect("create the planted dir");
    let planted = dir.join(example.file_name().expect("entry name"));
    fs::copy(&hostile, &planted).expect("plant");
    // A legitimate entry would load: the planted one is one of ours, renamed.
    let (stdout, _) = inspect_with_cache(
        ws,
        &plugin_path("example-items"),
        &[("SYNCHOST_CACHE_DIR", &ws.path().join("c1"))],
    );
    assert!(stdout.contains("loaded from cache"), "{stdout}");
    planted
}

#[track_caller]
fn assert_compiled_not_planted(stdout: &str, planted: &Path, before: &[u8]) {
    assert!(
        stdout.starts_with("example-items "),
        "the planted native code ran: {stdout}"
    );
    assert!(stdout.contains("native code:   compiled"), "{stdout}");
    assert_eq!(
        fs::read(planted).expect("the planted file is still there"),
        before,
        "the planted file was left as it was"
    );
    let dir = planted.parent().expect("dir");
    assert_eq!(
        fs::read_dir(dir).expect("dir").count(),
        1,
        "nothing was written beside the planted file"
    );
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// With no `HOME` (a system service), the cache used to fall back to a
/// shared `$TMPDIR/synchost/compiled` and ran native code another user
/// planted there. Now there is no shared fallback: plugins are compiled in
/// memory, `-v` says so, and the planted directory is neither read nor written.
#[test]
fn without_home_native_code_is_never_loaded_from_the_temp_dir() {
    let ws = Workspace::new();
    let tmp = ws.path().join("tmp");
    let dir = tmp.join("synchost").join("compiled");
    let planted = plant(&ws, &dir);
    for shared in [&tmp, &tmp.join("synchost"), &dir] {
        chmod(shared, 0o1777);
    }
    chmod(&dir, 0o777);
    let before = fs::read(&planted).expect("planted");

    let (stdout, stderr) =
        inspect_with_cache(&ws, &plugin_path("example-items"), &[("TMPDIR", &tmp)]);
    assert_compiled_not_planted(&stdout, &planted, &before);
    assert!(
        stderr.contains("plugins are compiled in memory"),
        "-v says there is no cache:\n{stderr}"
    );
}

/// A cache directory others can write, below a directory others can write,
/// or owned by another user, is refused with a message naming why; the
/// plugin is compiled in memory and the directory left alone.
#[test]
fn a_cache_dir_others_control_is_refused() {
    let ws = Workspace::new();
    let dir = ws.path().join("planted");
    let planted = plant(&ws, &dir);
    let before = fs::read(&planted).expect("planted");
    let example = plugin_path("example-items");
    let cache = [("SYNCHOST_CACHE_DIR", dir.as_path())];

    chmod(&dir, 0o777);
    let (stdout, stderr) = inspect_with_cache(&ws, &example, &cache);
    assert_compiled_not_planted(&stdout, &planted, &before);
    assert!(
        stderr.contains("not using the compile cache")
            && stderr.contains("writable by other users"),
        "{stderr}"
    );

    // Private itself, but in a directory anyone may write (not sticky):
    // someone else could swap it.
    chmod(&dir, 0o700);
    chmod(ws.path(), 0o777);
    let (stdout, stderr) = inspect_with_cache(&ws, &example, &cache);
    chmod(ws.path(), 0o700);
    assert_compiled_not_planted(&stdout, &planted, &before);
    assert!(stderr.contains("(above"), "{stderr}");

    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: cannot make a directory owned by another user; skipped");
        return;
    }
    chmod(&dir, 0o755);
    std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).expect("chown to nobody");
    let (stdout, stderr) = inspect_with_cache(&ws, &example, &cache);
    assert_compiled_not_planted(&stdout, &planted, &before);
    assert!(stderr.contains("belongs to uid 65534"), "{stderr}");
    assert_eq!(fs::metadata(&dir).expect("dir").uid(), 65534);
}

/// An entry whose content no longer matches its checksum is recompiled,
/// with a warning, and replaced; the next run loads the good entry.
#[test]
fn an_altered_cache_entry_is_recompiled_not_loaded() {
    let ws = Workspace::new();
    let dir = ws.path().join("cache-private");
    let example = plugin_path("example-items");
    let entry = compiled_entry(&ws, &example, &dir);
    let mut bytes = fs::read(&entry).expect("entry");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&entry, &bytes).expect("alter the entry");
    let cache = [("SYNCHOST_CACHE_DIR", dir.as_path())];

    let (stdout, stderr) = inspect_with_cache(&ws, &example, &cache);
    assert!(stdout.contains("native code:   compiled"), "{stdout}");
    assert!(stderr.contains("does not match its checksum"), "{stderr}");
    let (stdout, _) = inspect_with_cache(&ws, &example, &cache);
    assert!(stdout.contains("loaded from cache"), "{stdout}");
    assert_eq!(
        fs::metadata(&dir).expect("dir").mode() & 0o777,
        0o700,
        "the cache dir is private"
    );
}

/// The cache is bounded (`SYNCHOST_CACHE_MAX_MB`): past the cap, storing a
/// plugin evicts the least recently used entries, never the one just written.
#[test]
fn the_compile_cache_evicts_past_its_cap() {
    let ws = Workspace::new();
    let dir = ws.path().join("capped");
    let capped = |plugin: &str| {
        let (stdout, _) = inspect_with_cache(
            &ws,
            &plugin_path(plugin),
            &[
                ("SYNCHOST_CACHE_DIR", dir.as_path()),
                ("SYNCHOST_CACHE_MAX_MB", Path::new("0")),
            ],
        );
        let entries: Vec<PathBuf> = fs::read_dir(&dir)
            .expect("the cache dir exists")
            .map(|e| e.expect("entry").path())
            .collect();
        (stdout, entries)
    };
    let (_, first) = capped("example-items");
    assert_eq!(first.len(), 1, "the entry just written is kept: {first:?}");
    let (_, second) = capped("hostile");
    assert_eq!(second.len(), 1, "{second:?}");
    assert_ne!(second, first, "the older entry was evicted");
    let (stdout, _) = capped("example-items");
    assert!(stdout.contains("native code:   compiled"), "{stdout}");
}

// ---------------------------------------------------------------------------
// Item 8: what is compiled

/// `n` as unsigned LEB128.
fn leb(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
    out.push(id);
    leb(body.len(), out);
    out.extend_from_slice(body);
}

/// A component holding one core module with `bodies` as its functions
/// (all `[] -> []`): valid WebAssembly, and no synchost plugin, which the
/// host would only find out after compiling it.
fn component_with_functions(bodies: &[Vec<u8>]) -> Vec<u8> {
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    section(1, &[1, 0x60, 0, 0], &mut module);
    let mut functions = Vec::new();
    leb(bodies.len(), &mut functions);
    functions.resize(functions.len() + bodies.len(), 0);
    section(3, &functions, &mut module);
    let mut code = Vec::new();
    leb(bodies.len(), &mut code);
    for body in bodies {
        leb(body.len(), &mut code);
        code.extend_from_slice(body);
    }
    section(10, &code, &mut module);
    let mut component = b"\0asm\x0d\0\x01\0".to_vec();
    section(1, &module, &mut component);
    component
}

/// A function body of about `bytes` bytes: `i32.const 0; drop`, repeated.
fn huge_body(bytes: usize) -> Vec<u8> {
    let mut body = vec![0]; // no locals
    while body.len() < bytes {
        body.extend_from_slice(&[0x41, 0x00, 0x1a]);
    }
    body.push(0x0b);
    body
}

/// The peak memory a refusal may take: the engine, and the file read once.
const MAX_REFUSAL_RSS_KIB: u64 = 200 * 1024;

/// A component with one 4 MiB function (compiling it would take seconds
/// and gigabytes before any limit applied) is refused before compiling, by
/// `plugin inspect` and `pull` alike, with the limit named, in little memory.
#[test]
fn a_huge_function_is_refused_before_compiling() {
    let ws = Workspace::new();
    let file = ws.path().join("huge-function.wasm");
    fs::write(&file, component_with_functions(&[huge_body(4 << 20)])).expect("write");
    let file = file.display().to_string();

    let (out, rss_kib) = run_measured(&ws, synchost(&ws, &["plugin", "inspect", &file]).command());
    let (_, stderr) = assert_code(&out, 2);
    assert!(
        stderr.contains(
            "has a function of 4097 KiB, over the limit of 512 KiB (limits.max_function_kib)"
        ) && stderr.contains("refused before compiling"),
        "{stderr}"
    );
    eprintln!("huge function refused by inspect at a peak of {rss_kib} KiB");
    assert!(rss_kib < MAX_REFUSAL_RSS_KIB, "peak {rss_kib} KiB");

    let pull = [
        "pull",
        "--plugin",
        &file,
        "--set",
        "base_url=http://127.0.0.1:9",
    ];
    let (out, rss_kib) = run_measured(&ws, synchost(&ws, &pull).command());
    let (_, stderr) = assert_code(&out, 2);
    assert!(stderr.contains("limits.max_function_kib"), "{stderr}");
    assert!(rss_kib < MAX_REFUSAL_RSS_KIB, "peak {rss_kib} KiB");
}

/// Too many functions, or a file over the size limit, are refused the same way.
#[test]
fn too_many_functions_or_bytes_are_refused_before_compiling() {
    let ws = Workspace::new();
    let many = ws.path().join("many.wasm");
    let tiny = vec![0u8, 0x0b];
    fs::write(&many, component_with_functions(&vec![tiny; 200_001])).expect("write");
    let out = synchost(&ws, &["plugin", "inspect"]).arg(&many).output();
    let (_, stderr) = assert_code(&out, 2);
    assert!(
        stderr.contains("defines more than 200000 functions"),
        "{stderr}"
    );

    let big = ws.path().join("big.wasm");
    let mut bytes = component_with_functions(&[]);
    bytes.resize(65 << 20, 0);
    fs::write(&big, bytes).expect("write");
    let (out, rss_kib) = run_measured(
        &ws,
        synchost(&ws, &["plugin", "inspect"]).arg(&big).command(),
    );
    let (_, stderr) = assert_code(&out, 2);
    assert!(
        stderr.contains("is over 64 MiB (limits.max_plugin_mb)"),
        "{stderr}"
    );
    assert!(rss_kib < MAX_REFUSAL_RSS_KIB, "peak {rss_kib} KiB");
}

// ---------------------------------------------------------------------------
// Item 5: send-batch

/// One `send-batch` of 500 requests whose answers are 1 MiB each (500 MiB
/// in all, for a plugin limited to 64 MiB): the answers of the batch take
/// at most half the memory limit; the rest answer `too-large` without being
/// sent, and the host's peak memory stays a small multiple of the limit.
#[test]
fn a_batch_of_huge_answers_stays_within_its_byte_budget() {
    let fake = FakeServer::start("items", &["--count", "1"]);
    let ws = Workspace::new();
    hostile_config(
        &ws,
        &fake,
        "batch-bomb",
        "requests = \"500\"\npad = \"1048576\"\n\
         [sources.hostile.limits]\nmemory_mb = 64\nmax_response_mb = 2\n",
    );
    let out = synchost(&ws, &["pull", "hostile"]).output();
    let (_, stderr) = assert_code(&out, 1);
    let report = stderr
        .lines()
        .find_map(|line| line.split_once("batch-bomb: ").map(|(_, r)| r.to_owned()))
        .unwrap_or_else(|| panic!("no batch-bomb report:\n{stderr}"));
    let numbers: Vec<u64> = report
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let (ok, too_large, other) = (numbers[0], numbers[1], numbers[2]);
    assert_eq!(ok + too_large, 500, "{report}");
    assert_eq!(other, 0, "{report}");
    assert!(ok >= 1, "answers within the budget get through: {report}");
    assert!(
        ok * MIB <= 32 * MIB,
        "at most half of memory_mb of answers: {report}"
    );
    // Not sent at all once the budget is spent: at most those that fit,
    // plus the requests in flight when it ran out (budget / response cap).
    let sent = fake.requests();
    assert!(
        sent <= ok + 16,
        "{sent} requests reached the fake for {report}"
    );
    assert!(
        stderr.contains("reached its budget of 32768 KiB of answers"),
        "{stderr}"
    );
    let peak_mib = u64_field(&last_run(&ws, "hostile"), "peak_rss_kb") / 1024;
    eprintln!("batch-bomb: {report}; {sent} sent; host peak {peak_mib} MiB");
    assert!(peak_mib < 4 * 64, "the host peaked at {peak_mib} MiB");
}

// ---------------------------------------------------------------------------
// Item 10: rate-limited waits

/// A plugin answering `rate-limited(4294967295)` to every `list`: each wait
/// is clamped to `retry.max_wait_s` and said, and once the run's waits
/// reach `limits.max_wait_total_s` the run stops with a message, its first
/// page kept.
#[test]
fn endless_rate_limits_are_said_clamped_and_bounded() {
    let fake = FakeServer::start("items", &["--count", "1"]);
    let ws = Workspace::new();
    hostile_config(
        &ws,
        &fake,
        "rate-limited-forever",
        "[sources.hostile.limits]\nmax_wait_total_s = 3\n\
         [sources.hostile.retry]\nmax_wait_s = 1\n",
    );
    let out = synchost(&ws, &["pull", "hostile"]).output();
    let (_, stderr) = assert_code(&out, 1);
    let said = stderr
        .lines()
        .filter(|line| {
            line.contains("asked to wait 4294967295 s; waiting 1.0s, until ")
                && line.ends_with(" UTC (clamped to retry.max_wait_s)")
        })
        .count();
    assert_eq!(said, 3, "each wait is said:\n{stderr}");
    assert!(
        stderr.contains("more than limits.max_wait_total_s (3 s) allows")
            && stderr.contains("rerun later"),
        "{stderr}"
    );
    let records = export(&ws, "hostile", &[]);
    assert_eq!(records.len(), 1, "the first page is kept: {records:?}");
    assert_eq!(str_field(&records[0], "id"), "first");
    let run = last_run(&ws, "hostile");
    assert!(
        str_field(&run, "error").contains("limits.max_wait_total_s"),
        "{run}"
    );
}

// ---------------------------------------------------------------------------
// Item 11: logs, errors and manifests

/// 20,000 log lines (and as many on stdout and stderr), each trying to
/// forge a line and clear the screen: every line is escaped, the plugin's
/// log stops at `limits.max_log_kib` with one line saying so and one
/// counting what was dropped, and the run itself succeeds.
#[test]
fn plugin_logs_are_escaped_and_stop_at_the_budget() {
    let fake = FakeServer::start("items", &["--count", "1"]);
    let ws = Workspace::new();
    hostile_config(
        &ws,
        &fake,
        "log-flood",
        "lines = \"20000\"\n[sources.hostile.limits]\nmax_log_kib = 64\n",
    );
    let out = synchost(&ws, &["-v", "pull", "hostile"]).output();
    let (_, stderr) = assert_code(&out, 0);
    assert_no_raw_controls("stderr", &stderr);
    assert!(
        !stderr
            .lines()
            .any(|line| line.starts_with("ERROR synchost: FORGED")),
        "a plugin forged a log line:\n{stderr}"
    );
    assert!(
        stderr.contains("flood 0\\u{a}ERROR synchost: FORGED LINE\\u{d}\\u{1b}[2Jcleared"),
        "{stderr}"
    );
    assert!(stderr.contains("stdout flood 0") && stderr.contains("stderr flood 0"));
    assert!(
        stderr.contains("used up its log budget of 64 KiB (limits.max_log_kib)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("over limits.max_log_kib were dropped"),
        "{stderr}"
    );
    // 60,000 lines of ~70 bytes, plus the host's prefixes: about 8 MB
    // without a budget.
    assert!(
        stderr.len() < 512 * 1024,
        "{} bytes of stderr",
        stderr.len()
    );
    let records = export(&ws, "hostile", &[]);
    assert_eq!(records.len(), 1, "{records:?}");
}

/// A 50 MiB `fatal` message that forges a line: the host prints and stores
/// it escaped and clipped.
#[test]
fn a_huge_fatal_message_is_clipped_in_output_and_store() {
    let fake = FakeServer::start("items", &["--count", "1"]);
    let ws = Workspace::new();
    hostile_config(
        &ws,
        &fake,
        "fatal-flood",
        "mib = \"50\"\n[sources.hostile.limits]\nmemory_mb = 256\n",
    );
    let out = synchost(&ws, &["pull", "hostile"]).output();
    let (_, stderr) = assert_code(&out, 1);
    assert_no_raw_controls("stderr", &stderr);
    assert!(
        stderr
            .contains("fatal: fatal flood\\u{a}ERROR synchost: FORGED LINE\\u{d}\\u{1b}[2Jcleared"),
        "{stderr}"
    );
    assert!(
        stderr.contains("more bytes]"),
        "the clip is said:\n{stderr}"
    );
    assert!(stderr.len() < 16 * 1024, "{} bytes of stderr", stderr.len());
    let run = last_run(&ws, "hostile");
    let error = str_field(&run, "error");
    assert!(error.len() < 16 * 1024, "{} bytes stored", error.len());
    assert_no_raw_controls("the stored error", error);
}

/// `plugin inspect` of a plugin whose description forges an empty import
/// list and clears the screen, and whose stream description is 64 MiB:
/// the report shows every plugin string escaped and clipped, the real
/// import list is the only one, and the manifest is refused with the limit.
#[test]
fn inspect_escapes_a_forging_manifest_and_refuses_a_huge_one() {
    let ws = Workspace::new();
    let plugin = plugin_path("hostile-manifest");
    let out = synchost(&ws, &["plugin", "inspect"]).arg(&plugin).output();
    let (stdout, stderr) = assert_code(&out, 2);
    assert_no_raw_controls("stdout", &stdout);
    assert!(stdout.len() < 64 * 1024, "{} bytes of stdout", stdout.len());
    assert!(
        stdout.starts_with(
            "hostile-manifest 0.1.0: harmless\\u{a}imports:\\u{a}  (none)\\u{a}\\u{1b}[2J"
        ),
        "{stdout}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let imports: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i] == "imports:")
        .collect();
    assert_eq!(imports.len(), 1, "one import list:\n{stdout}");
    assert!(
        lines[imports[0] + 1..]
            .iter()
            .any(|l| l.starts_with("  wasi:io/streams@")),
        "the real imports follow:\n{stdout}"
    );
    assert!(stdout.contains("forged\\u{a}stream"), "{stdout}");
    assert!(
        stderr.contains("its stream description is 67108864 bytes (at most 4096)"),
        "{stderr}"
    );

    let pull = [
        "pull",
        "--plugin",
        &plugin.display().to_string(),
        "--set",
        "base_url=http://127.0.0.1:9",
    ];
    let out = synchost(&ws, &pull).output();
    let (_, stderr) = assert_code(&out, 2);
    assert!(
        stderr.contains("the plugin is unusable: its stream description"),
        "{stderr}"
    );
}

/// A `describe` that sleeps is given up after 10 s, not the 300 s of a
/// working call.
#[test]
fn a_describe_that_sleeps_is_given_up_quickly() {
    let ws = Workspace::new();
    let out = synchost(&ws, &["plugin", "inspect"])
        .arg(plugin_path("hostile-describe"))
        .timeout(Duration::from_secs(60))
        .output();
    let (_, stderr) = assert_code(&out, 1);
    assert!(
        stderr.contains("did not answer `describe` within 10 s (describe answers within 10 s at most, without I/O)"),
        "{stderr}"
    );
}
