//! The HTTP layer and blob downloads under attack (issue 8, items 3, 9, 13):
//! the real `synchost` binary, the `hostile` plugin's network attacks
//! (`tests/plugins/hostile/src/network.rs`) and the real Confluence plugin,
//! against fakes that echo what they received or break attachment bodies
//! (`blob_fault` in `POST /_control/faults`).
//!
//! - Credentials are bound to origins: an https origin is never reached over
//!   plain http (plugin request, redirect or blob URL), and plain http gets
//!   the credential only on an http `base_url`'s own origin; a redirect to
//!   another origin never carries it.
//! - Downloads cannot hang or fill the disk: a stalled body times out and
//!   is retried, an endless one stops at `max_blob_mb`, one larger than
//!   declared is refused, one shorter is retried, and a run stops at
//!   `max_download_mb_per_run`; no partial file stays behind.
//! - A blob reference's own request headers never carry a credential, a
//!   hop-by-hop header or anything invalid or oversized: such a blob is
//!   refused unsent.
//! - Redaction never corrupts data: a one-character token leaves every
//!   response as it was, and the host says it cannot redact it.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use support::{
    assert_exit_code, assert_success, export, output_text, plugin_path, str_field, toml_str,
    FakeServer, Synchost, Workspace,
};

/// The credential of the hostile source; the fakes echo it when they get it.
const TOKEN: &str = "tok-network-7c1e5a90d3";
const TOKEN_VAR: &str = "SYNCHOST_E2E_NET_TOKEN";
/// The header of a `type = "header"` credential (reqwest's own redirect
/// handling never stripped such a header).
const KEY_HEADER: &str = "x-api-key";
/// A run that takes longer than this is a hang.
const RUN_TIMEOUT: Duration = Duration::from_secs(150);

/// `synchost ARGS` with the shared plugin cache and the token.
fn synchost<'a>(ws: &'a Workspace, args: &[&str]) -> Synchost<'a> {
    Synchost::new(ws)
        .args(args)
        .shared_cache()
        .env(TOKEN_VAR, TOKEN)
        .timeout(RUN_TIMEOUT)
}

// ---------------------------------------------------------------------------
// The hostile source

/// How the hostile source authenticates.
#[derive(Clone, Copy)]
enum Auth {
    /// `Authorization: Bearer TOKEN`.
    Bearer,
    /// `x-api-key: TOKEN`.
    Header,
}

impl Auth {
    fn table(self) -> String {
        match self {
            Auth::Bearer => format!("type = \"bearer\"\ntoken_env = \"{TOKEN_VAR}\"\n"),
            Auth::Header => {
                format!("type = \"header\"\nname = \"{KEY_HEADER}\"\nvalue_env = \"{TOKEN_VAR}\"\n")
            }
        }
    }

    /// The header an echo shows when the credential reached the fake.
    fn header(self) -> &'static str {
        match self {
            Auth::Bearer => "authorization",
            Auth::Header => KEY_HEADER,
        }
    }
}

/// Runs `synchost pull hostile` with `attack` on `urls`; `base_url` is the
/// source's `settings.base_url`, `keys` extra keys (e.g. `allowed_hosts`).
fn pull_hostile(
    ws: &Workspace,
    attack: &str,
    base_url: &str,
    keys: &str,
    auth: Auth,
    urls: &[String],
) -> Output {
    ws.write_config(&format!(
        "[sources.hostile]\n\
         plugin = {plugin}\n\
         {keys}\n\
         [sources.hostile.settings]\n\
         attack = {attack}\n\
         base_url = {base_url}\n\
         urls = {urls}\n\
         [sources.hostile.auth]\n\
         {auth}\
         [sources.hostile.retry]\n\
         max_retries = 1\n\
         base_delay_ms = 10\n\
         max_delay_ms = 50\n",
        plugin = toml_str(&plugin_path("hostile").display().to_string()),
        attack = toml_str(attack),
        base_url = toml_str(base_url),
        urls = toml_str(&urls.join(" ")),
        auth = auth.table(),
    ));
    let out = synchost(ws, &["pull", "hostile"]).output();
    let (_, stderr) = output_text(&out);
    assert!(!stderr.contains("panicked"), "the host panicked:\n{stderr}");
    assert!(!stderr.contains(TOKEN), "the token is in stderr:\n{stderr}");
    out
}

/// What `echo-urls` saw for each URL, in order.
fn echo_report(ws: &Workspace) -> Vec<Value> {
    let records = export(ws, "hostile", &[]);
    let report = records
        .iter()
        .find(|r| r["id"] == "report")
        .unwrap_or_else(|| panic!("no `report` record in {records:?}"));
    let outcomes: Value = serde_json::from_str(str_field(report, "content")).expect("JSON report");
    outcomes.as_array().expect("a list of outcomes").clone()
}

/// The headers the fake's `/echo` received, from an outcome's body.
fn echoed_headers(outcome: &Value) -> Value {
    let body: Value = serde_json::from_str(str_field(outcome, "body"))
        .unwrap_or_else(|e| panic!("the echo is not JSON ({e}): {outcome}"));
    body["headers"].clone()
}

#[track_caller]
fn assert_denied(outcome: &Value, why: &str) {
    let denied = outcome["denied"]
        .as_str()
        .unwrap_or_else(|| panic!("{} was not denied: {outcome}", outcome["url"]));
    assert!(denied.contains(why), "{}: {denied}", outcome["url"]);
}

/// The reported escape: with `base_url = https://host:PORT`, a plugin
/// request to `http://host:PORT/` was allowed and carried the credential in
/// cleartext. Now the host of an https base_url, or of an `https://` entry,
/// is never reached over plain http, whichever spelling of it, and whatever
/// bare entries (older configs) allow besides.
#[test]
fn an_https_origin_is_never_reached_over_plain_http() {
    let fake = FakeServer::start("items", &["--count", "1"]);
    let port = fake.port();
    let https_base = format!("https://127.0.0.1:{port}");
    let urls = vec![
        format!("http://127.0.0.1:{port}/echo"),
        format!("http://2130706433:{port}/echo"),
        format!("http://[::ffff:127.0.0.1]:{port}/echo?x=1"),
        format!("http://127.0.0.1:{port}/redirect?to=/echo"),
    ];
    for (base_url, keys) in [
        (https_base.as_str(), ""),
        (https_base.as_str(), "allowed_hosts = [\"127.0.0.1:*\"]"),
        (
            fake.url(),
            "allowed_hosts = [\"https://127.0.0.1:*\", \"127.0.0.1:*\"]",
        ),
    ] {
        let ws = Workspace::new();
        let out = pull_hostile(&ws, "echo-urls", base_url, keys, Auth::Bearer, &urls);
        assert_success(&out);
        let outcomes = echo_report(&ws);
        assert_eq!(outcomes.len(), urls.len(), "{outcomes:?}");
        for outcome in &outcomes {
            assert_denied(outcome, "bound to https");
        }
    }
    assert_eq!(fake.requests(), 0, "no request reached the fake");
}

/// On an http base_url (a local service), plain http carries the credential
/// to that origin only: not to another port the allowlist also allows, and
/// not through a redirect to another origin, whatever the credential's
/// header (reqwest used to forward a custom header like `x-api-key`).
#[test]
fn plain_http_gets_the_credential_on_the_base_url_origin_only() {
    let base = FakeServer::start("items", &["--count", "1"]);
    let other = FakeServer::start("items", &["--count", "1"]);
    let keys = "allowed_hosts = [\"127.0.0.1:*\"]";
    let urls = vec![
        format!("{}/echo", base.url()),
        format!("{}/echo", other.url()),
        format!("{}/redirect?to={}/echo", base.url(), other.url()),
        format!("{}/redirect?to={}/echo%3Fsame%3D1", base.url(), base.url()),
    ];
    for auth in [Auth::Header, Auth::Bearer] {
        let ws = Workspace::new();
        assert_success(&pull_hostile(
            &ws,
            "echo-urls",
            base.url(),
            keys,
            auth,
            &urls,
        ));
        let outcomes = echo_report(&ws);
        assert_eq!(outcomes.len(), 4, "{outcomes:?}");
        let header = auth.header();
        let got = |n: usize| echoed_headers(&outcomes[n])[header].clone();
        assert!(
            got(0).as_str().is_some_and(|v| v.contains("[REDACTED]")),
            "the base_url's origin got the credential (redacted in the echo): {}",
            outcomes[0]
        );
        assert!(got(1).is_null(), "another port got it: {}", outcomes[1]);
        assert!(
            got(2).is_null(),
            "a redirect to another origin carried it: {}",
            outcomes[2]
        );
        assert!(
            got(3).as_str().is_some_and(|v| v.contains("[REDACTED]")),
            "a redirect within the origin keeps it: {}",
            outcomes[3]
        );
    }
}

/// A redirect into an https-bound host over plain http is refused before
/// the hop is sent: the fake serves the redirect and nothing else.
#[test]
fn a_redirect_to_plain_http_on_an_https_host_is_refused() {
    let fake = FakeServer::start("items", &["--count", "1"]);
    let port = fake.port();
    let ws = Workspace::new();
    let keys = format!("allowed_hosts = [\"https://127.0.0.1:{port}\", \"localhost:{port}\"]");
    let urls = vec![format!(
        "http://localhost:{port}/redirect?to=http://127.0.0.1:{port}/echo"
    )];
    let out = pull_hostile(
        &ws,
        "echo-urls",
        &format!("https://127.0.0.1:{port}"),
        &keys,
        Auth::Bearer,
        &urls,
    );
    assert_success(&out);
    let outcomes = echo_report(&ws);
    assert_denied(&outcomes[0], "redirect refused");
    assert_denied(&outcomes[0], "bound to https");
    let log = fake.get("/_control/requests", &[]).json();
    let paths: Vec<&str> = log
        .as_array()
        .expect("request log")
        .iter()
        .map(|r| r["path"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(paths, ["/redirect"], "only the redirect was served");
}

/// Blob downloads go through the same decision: a blob URL on plain http
/// of an https base_url's host is denied without a request (the record
/// fails), and a blob behind a redirect to another origin is fetched
/// without the credential, while one on the origin itself gets it.
#[test]
fn blob_downloads_follow_the_same_credential_binding() {
    let fake = FakeServer::start("items", &["--count", "1"]);
    let port = fake.port();
    let ws = Workspace::new();
    let out = pull_hostile(
        &ws,
        "blob-urls",
        &format!("https://127.0.0.1:{port}"),
        "",
        Auth::Bearer,
        &[format!("http://127.0.0.1:{port}/echo")],
    );
    let stderr = assert_exit_code(&out, 1);
    assert!(stderr.contains("bound to https"), "{stderr}");
    assert_eq!(fake.requests(), 0, "no request reached the fake");

    let other = FakeServer::start("items", &["--count", "1"]);
    let ws = Workspace::new();
    let out = pull_hostile(
        &ws,
        "blob-urls",
        fake.url(),
        "allowed_hosts = [\"127.0.0.1:*\"]",
        Auth::Header,
        &[
            format!("{}/echo", fake.url()),
            format!("{}/redirect?to={}/echo", fake.url(), other.url()),
            format!("{}/echo", other.url()),
        ],
    );
    assert_success(&out);
    let blobs = stored_blob_files(&ws);
    assert_eq!(blobs.len(), 3, "{blobs:?}");
    let received = |name: &str| {
        let echo: Value = serde_json::from_slice(&blobs[name]).expect("the blob is an echo");
        echo["headers"][KEY_HEADER].clone()
    };
    assert_eq!(received("blob-0"), TOKEN, "the origin itself gets it");
    assert!(
        received("blob-1").is_null(),
        "a redirect to another origin carried it"
    );
    assert!(
        received("blob-2").is_null(),
        "another port got it over http"
    );
}

/// A blob reference's request headers (contract 0.2) reach its download,
/// except what only the host sets: credentials (`authorization`,
/// `proxy-authorization`, `cookie`, the header of the source's own
/// credential), `host` and hop-by-hop headers, and nothing invalid, over
/// 8 KiB or over 16 headers. Such a blob is refused unsent, with a
/// warning, and its record fails like one whose download failed; the
/// host's credential still goes where its policy binds it.
#[test]
fn blob_request_headers_never_carry_what_only_the_host_sets() {
    let fake = FakeServer::start("items", &["--count", "1"]);
    let ws = Workspace::new();
    let out = pull_hostile(
        &ws,
        "blob-headers",
        fake.url(),
        "",
        Auth::Header,
        &[format!("{}/echo", fake.url())],
    );
    let stderr = assert_exit_code(&out, 1);
    assert!(
        stderr.contains("request denied") && stderr.contains("`authorization`"),
        "the refusals are warned about:\n{stderr}"
    );
    let log = fake.get("/_control/requests", &[]).json();
    let paths: Vec<&str> = log
        .as_array()
        .expect("request log")
        .iter()
        .map(|r| r["path"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(paths, ["/echo"], "only the allowed blob was downloaded");

    let blobs = stored_blob_files(&ws);
    assert_eq!(blobs.keys().collect::<Vec<_>>(), ["allowed"]);
    let echo: Value = serde_json::from_slice(&blobs["allowed"]).expect("the blob is an echo");
    let received = &echo["headers"];
    assert_eq!(received["accept"], "application/octet-stream");
    assert_eq!(received["x-blob-hint"], "raw");
    assert_eq!(
        received[KEY_HEADER], TOKEN,
        "the host's credential, by its policy"
    );
    let live: Vec<String> = export(&ws, "hostile", &[])
        .iter()
        .map(|r| str_field(r, "id").to_owned())
        .collect();
    assert_eq!(live, ["allowed"], "the refused blobs' records failed");

    let failures = failure_messages(&ws);
    let expected = [
        "`authorization`, which only the host sets",
        "`proxy-authorization`, which only the host sets",
        "`cookie`, which only the host sets",
        "`host`, which only the host sets",
        "`connection`, which only the host sets",
        "`keep-alive`, which only the host sets",
        "`te`, which only the host sets",
        "`trailer`, which only the host sets",
        "`transfer-encoding`, which only the host sets",
        "`upgrade`, which only the host sets",
        "`content-length`, which only the host sets",
        "`x-api-key`, the header of the source's credential",
        "header name `bad name` is not valid",
        "value for header `x-injected` is not valid",
        "more than 8 KiB",
        "17 request headers, more than 16",
    ];
    assert_eq!(failures.lines().count(), expected.len(), "{failures}");
    for (n, why) in expected.iter().enumerate() {
        let line = failures
            .lines()
            .find(|line| line.starts_with(&format!("refused-{n}: ")))
            .unwrap_or_else(|| panic!("refused-{n} did not fail:\n{failures}"));
        assert!(line.contains(why), "refused-{n}: {line}");
        assert!(line.contains("request denied"), "refused-{n}: {line}");
    }
}

/// The blobs of the hostile source's records, by blob name.
fn stored_blob_files(ws: &Workspace) -> BTreeMap<String, Vec<u8>> {
    let store = ws.store_path();
    let conn =
        rusqlite::Connection::open_with_flags(&store, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the store");
    let mut stmt = conn
        .prepare("SELECT rb.name, b.path FROM record_blobs rb JOIN blobs b ON b.hash = rb.hash")
        .expect("prepare");
    let rows: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let dir = ws.blob_dir();
    rows.into_iter()
        .map(|(name, path)| {
            let bytes = std::fs::read(dir.join(&path)).expect("read a blob");
            (name, bytes)
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Attachment bodies: the Confluence plugin against a breaking fake

const EMAIL: &str = "net@example.com";
const EMAIL_VAR: &str = "SYNCHOST_E2E_NET_EMAIL";

/// `synchost-fake confluence` with `pages` pages of one attachment of
/// `bytes` bytes each, basic auth.
fn confluence(pages: u32, bytes: u32) -> FakeServer {
    FakeServer::start(
        "confluence",
        &[
            "--pages",
            &pages.to_string(),
            "--attachments-per-page",
            "1",
            "--attachment-bytes",
            &bytes.to_string(),
            "--email",
            EMAIL,
            "--token",
            TOKEN,
        ],
    )
}

/// Pulls the fake's space with `limits` (lines of `[sources.docs.limits]`);
/// a request timeout of 1 s, one quick retry.
fn pull_docs(ws: &Workspace, fake: &FakeServer, limits: &str) -> Output {
    ws.write_config(&format!(
        "[sources.docs]\nplugin = {}\n\
         [sources.docs.settings]\nbase_url = {}\nspace = \"DOCS\"\n\
         [sources.docs.auth]\ntype = \"basic\"\nusername_env = \"{EMAIL_VAR}\"\npassword_env = \"{TOKEN_VAR}\"\n\
         [sources.docs.limits]\nrequest_timeout_s = 1\n{limits}\n\
         [sources.docs.retry]\nmax_retries = 2\nbase_delay_ms = 10\nmax_delay_ms = 50\n",
        toml_str(&plugin_path("confluence").display().to_string()),
        toml_str(fake.url()),
    ));
    synchost(ws, &["pull", "docs"])
        .env(EMAIL_VAR, EMAIL)
        .output()
}

/// sha256 of every attachment in the fake's ground truth, by id.
fn truth_blobs(fake: &FakeServer) -> BTreeMap<String, String> {
    fake.ground_truth_json()
        .as_array()
        .expect("ground truth")
        .iter()
        .filter(|e| e["stream"] == "attachments")
        .map(|e| {
            (
                str_field(e, "id").to_owned(),
                str_field(e, "sha256").to_owned(),
            )
        })
        .collect()
}

/// sha256 of every stored attachment blob (checked against its file), by record id.
fn stored_attachments(ws: &Workspace) -> BTreeMap<String, String> {
    let conn = rusqlite::Connection::open_with_flags(
        ws.store_path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the store");
    let mut stmt = conn
        .prepare(
            "SELECT rb.record_id, b.hash, b.path FROM record_blobs rb \
             JOIN blobs b ON b.hash = rb.hash WHERE rb.stream = 'attachments'",
        )
        .expect("prepare");
    let rows: Vec<(String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    rows.into_iter()
        .map(|(id, hash, path)| {
            let bytes = std::fs::read(ws.blob_dir().join(path)).expect("read a blob");
            assert_eq!(hex(&Sha256::digest(&bytes)), hash, "blob of {id}");
            (id, hash)
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every file under `dir` (recursively), for "nothing left behind".
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                files_under(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

/// Bytes under `dir`.
fn bytes_under(dir: &Path) -> u64 {
    files_under(dir)
        .iter()
        .map(|f| f.metadata().map_or(0, |m| m.len()))
        .sum()
}

/// The errors of the failed work items, from the store.
fn failure_messages(ws: &Workspace) -> String {
    let conn = rusqlite::Connection::open_with_flags(
        ws.store_path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the store");
    let mut stmt = conn
        .prepare("SELECT id, last_error FROM work_items WHERE status = 'failed'")
        .expect("prepare");
    let rows: Vec<(String, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    rows.iter()
        .map(|(id, error)| format!("{id}: {}\n", error.as_deref().unwrap_or("-")))
        .collect()
}

/// A body that stops after the headers (the fake's `stall`) used to hang a
/// download for 30 minutes per attempt: now a silence of
/// `request_timeout_s` is a transient failure, retried, and the pull
/// completes with every attachment as the fake has it.
#[test]
fn a_stalled_attachment_body_times_out_and_is_retried() {
    let fake = confluence(4, 20_000);
    fake.set_faults(json!({ "blob_fault": { "kind": "stall", "every": 2 } }));
    let ws = Workspace::new();
    assert_success(&pull_docs(&ws, &fake, ""));
    let truth = truth_blobs(&fake);
    assert_eq!(truth.len(), 4);
    assert_eq!(
        stored_attachments(&ws).values().collect::<Vec<_>>(),
        truth.values().collect::<Vec<_>>()
    );
    let downloads = fake.stats()["download"].as_u64().unwrap_or_default();
    assert!(
        downloads > 4,
        "{downloads} downloads: the stalled ones were retried"
    );
    assert!(files_under(&ws.blob_dir().join("tmp")).is_empty());
}

/// A body that never ends stops at `max_blob_mb` when nothing declared its
/// size (the hostile plugin's blob reference has none): the blob fails
/// with the limit named and nothing of it stays on disk. It used to fill
/// the disk. A blob that declares more than the limit (a Confluence
/// attachment's `fileSize`) is refused before it is requested.
#[test]
fn an_endless_attachment_stops_at_max_blob_mb() {
    let fake = FakeServer::start(
        "confluence",
        &["--pages", "1", "--attachments-per-page", "1"],
    );
    let attachment = fake
        .ground_truth_json()
        .as_array()
        .expect("ground truth")
        .iter()
        .find(|e| e["stream"] == "attachments")
        .cloned()
        .expect("an attachment");
    let url = format!(
        "{}/wiki/download/attachments/{}/{}",
        fake.url(),
        str_field(&attachment, "parent_id"),
        str_field(&attachment, "title")
    );
    fake.set_faults(json!({ "blob_fault": { "kind": "endless", "every": 1 } }));
    let ws = Workspace::new();
    let out = pull_hostile(
        &ws,
        "blob-urls",
        fake.url(),
        "limits = { max_blob_mb = 1 }",
        Auth::Bearer,
        &[url],
    );
    let stderr = assert_exit_code(&out, 1);
    let failures = failure_messages(&ws);
    assert!(
        failures.contains("larger than limits.max_blob_mb (1 MiB)"),
        "the failure names the limit:\n{failures}\n{stderr}"
    );
    assert!(
        fake.stats()["download"].as_u64() >= Some(1),
        "it was downloaded"
    );
    assert!(
        files_under(&ws.blob_dir()).is_empty(),
        "nothing left on disk"
    );

    let fake = confluence(1, 1_500_000);
    let ws = Workspace::new();
    let stderr = assert_exit_code(&pull_docs(&ws, &fake, "max_blob_mb = 1"), 1);
    let failures = failure_messages(&ws);
    assert!(
        failures.contains("larger than limits.max_blob_mb (1 MiB)"),
        "the failure names the limit:\n{failures}\n{stderr}"
    );
    assert_eq!(fake.stats()["download"], 0, "refused before a request");
    let pages = export(&ws, "docs", &[])
        .iter()
        .filter(|r| r["stream"] == "pages")
        .count();
    assert_eq!(pages, 1, "the page was stored");
}

/// A body larger than the blob's declared size (the attachment's
/// `fileSize`) is refused, whether its `Content-Length` announces it or it
/// comes chunked: it used to be stored as the attachment.
#[test]
fn an_attachment_larger_than_declared_is_refused() {
    for kind in ["oversize", "oversize-chunked"] {
        let fake = confluence(1, 20_000);
        fake.set_faults(json!({ "blob_fault": { "kind": kind, "every": 1 } }));
        let ws = Workspace::new();
        let stderr = assert_exit_code(&pull_docs(&ws, &fake, ""), 1);
        let failures = failure_messages(&ws);
        assert!(
            failures.contains("larger than the blob's declared size of 20000 bytes"),
            "{kind}: the failure says why:\n{failures}\n{stderr}"
        );
        assert!(stored_attachments(&ws).is_empty(), "{kind}");
        assert!(
            files_under(&ws.blob_dir()).is_empty(),
            "{kind}: nothing left on disk"
        );
    }
}

/// A body that ends short of its declared size (cut clean, no length) is
/// truncated, not complete: retried, and the pull completes with the
/// fake's bytes. It used to be stored half.
#[test]
fn a_truncated_attachment_is_retried() {
    let fake = confluence(4, 20_000);
    fake.set_faults(json!({ "blob_fault": { "kind": "truncate", "every": 2 } }));
    let ws = Workspace::new();
    assert_success(&pull_docs(&ws, &fake, ""));
    let truth = truth_blobs(&fake);
    assert_eq!(
        stored_attachments(&ws).values().collect::<Vec<_>>(),
        truth.values().collect::<Vec<_>>()
    );
}

/// A run stops once its downloads reach `max_download_mb_per_run`, with the
/// limit named and no partial file left; with the limit raised, the same
/// command completes.
#[test]
fn downloads_stop_at_the_run_budget() {
    let fake = confluence(6, 300_000);
    let ws = Workspace::new();
    let stderr = assert_exit_code(&pull_docs(&ws, &fake, "max_download_mb_per_run = 1"), 1);
    assert!(
        stderr.contains("max_download_mb_per_run (1 MiB)"),
        "the run names the limit:\n{stderr}"
    );
    assert!(files_under(&ws.blob_dir().join("tmp")).is_empty());
    assert!(bytes_under(&ws.blob_dir()) <= 1 << 20);

    assert_success(&pull_docs(&ws, &fake, "max_download_mb_per_run = 10"));
    let truth = truth_blobs(&fake);
    assert_eq!(truth.len(), 6);
    assert_eq!(
        stored_attachments(&ws).values().collect::<Vec<_>>(),
        truth.values().collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------------------
// Redaction

/// A one-character token used to be "redacted" from every response: each
/// `"` of the JSON became `[REDACTED]` and the pull failed. Secrets shorter
/// than 8 bytes are not redacted (the host says so once), and the data is
/// byte for byte what a pull with a long token stores.
#[test]
fn a_one_character_token_never_corrupts_data() {
    let short = "\"";
    let fake = FakeServer::start("items", &["--count", "40", "--token", short]);
    let pull = |token: &str| {
        let ws = Workspace::new();
        support::items_config(
            &ws,
            &fake,
            &format!("[sources.items.auth]\ntype = \"bearer\"\ntoken_env = \"{TOKEN_VAR}\"\n"),
        );
        let out = Synchost::new(&ws)
            .args(["pull", "items"])
            .env(TOKEN_VAR, token)
            .output();
        let (_, stderr) = output_text(&out);
        assert_success(&out);
        (export(&ws, "items", &[]), stderr)
    };
    let (with_short, stderr) = pull(short);
    assert_eq!(with_short.len(), 40);
    assert!(
        stderr.contains("shorter than 8 bytes") && stderr.contains("not redacted"),
        "the host says it cannot redact the credential:\n{stderr}"
    );
    assert_eq!(
        stderr.matches("shorter than 8 bytes").count(),
        1,
        "once:\n{stderr}"
    );
    fake.set_faults(json!({ "token": TOKEN }));
    let (with_long, stderr) = pull(TOKEN);
    assert!(!stderr.contains("shorter than 8 bytes"), "{stderr}");
    assert_eq!(with_short, with_long, "the data is the same");
    assert!(
        with_short
            .iter()
            .all(|r| !r.to_string().contains("[REDACTED]")),
        "nothing was redacted"
    );
}
