//! hostile: a test plugin that attacks its host, built with the SDK like any
//! third-party plugin. `tests/tests/sandbox.rs` runs it once per attack and
//! checks that the host contains it (a clear message, no crash, the store
//! intact).
//!
//! The attack is chosen by the setting `attack` (so one `.wasm` covers them
//! all); `describe` runs before `configure` and so cannot be attacked here.
//! Settings: `attack` (required), `base_url` (the items fake), `port` (a
//! port on 127.0.0.1, for `localhost-trick` and `other-port`), and for the
//! amplification attacks `copies` (`lift-bomb`), `cursor_kib` and `pages`
//! (`giant-cursor`).
//!
//! Attacks that probe the sandbox rather than break it (`read-file`,
//! `read-env`, `steal-credential`) report what the plugin saw in the content
//! of a record `report`, so the test can check it saw nothing it should not.
//! Attacks on the network policy report each request's outcome in a fatal
//! error, so the run fails with the host's verdict in its message.
//!
//! The stream `items` declares `supports-push`; only the attacks of
//! `push.rs` answer `push` and `reconcile`, the others refuse them
//! (`unsupported`, the SDK's default).

use std::time::Duration;

use serde_json::{json, Value};
use synchost_sdk::bindings::exports::synchost::source::source::Guest;
use synchost_sdk::bindings::synchost::source::http as wit;
use synchost_sdk::prelude::*;

mod mirror;
mod network;
mod output;
mod push;
mod runtime;

const STREAM: &str = "items";
/// The attacks of this file; the modules add theirs (see [`known_attacks`]).
const ATTACKS: &[&str] = &[
    "loop-configure",
    "loop-list",
    "loop-fetch",
    "memory-bomb",
    "stack-overflow",
    "sleep",
    "exit",
    "huge-response",
    "disallowed-host",
    "metadata-ip",
    "localhost-trick",
    "redirect",
    "read-file",
    "read-env",
    "steal-credential",
    "oversized-page",
    "endless-cursor",
    "endless-records",
    "repeated-cursor",
    "panic-mid-batch",
    "blob-ssrf",
    "other-port",
    "lift-bomb",
    "giant-cursor",
    "ids-only-drift",
];
/// The settings that tune attacks, declared so the host knows them.
const OPTIONS: &[&str] = &[
    "absolute",
    "blob_items",
    "chain",
    "copies",
    "cursor_kib",
    "delete_gone",
    "deleted_count",
    "depth",
    "etag",
    "lines",
    "members",
    "mib",
    "pad",
    "pages",
    "requests",
    "said",
    "stage",
    "urls",
    "watermark_bytes",
];
/// Body size `huge-response` asks for: twice a 1 MiB cap.
const HUGE_BODY: usize = 2 << 20;
/// The cloud metadata endpoint, the classic SSRF target.
const METADATA_URL: &str = "http://169.254.169.254/latest/meta-data/";

/// Every attack this plugin knows, for the error on an unknown one.
fn known_attacks() -> Vec<&'static str> {
    [
        ATTACKS,
        mirror::ATTACKS,
        network::ATTACKS,
        output::ATTACKS,
        push::ATTACKS,
        runtime::ATTACKS,
    ]
    .concat()
}

/// An attack's view of the plugin: its name and every setting it was given.
pub struct Attack<'a> {
    pub name: &'a str,
    pub settings: &'a Settings,
}

struct Hostile {
    attack: String,
    settings: Settings,
    base_url: String,
    port: String,
    copies: usize,
    cursor_kib: usize,
    pages: u64,
}

impl Source for Hostile {
    fn describe() -> Manifest {
        let manifest = Manifest::new(
            "hostile",
            env!("CARGO_PKG_VERSION"),
            "Test plugin that attacks its host; for synchost's sandbox tests only",
        )
        .stream(StreamInfo::new(STREAM, "Whatever the attack returns").push())
        .setting(SettingInfo::required("attack", "Which attack to run"))
        .setting(SettingInfo::optional(
            "base_url",
            "Root of the items fake, e.g. http://127.0.0.1:8080",
        ))
        .setting(SettingInfo::optional(
            "port",
            "Port of the items fake (localhost-trick)",
        ));
        OPTIONS
            .iter()
            .fold(manifest, |manifest, name| {
                manifest.setting(SettingInfo::optional(
                    *name,
                    "Tunes an attack: see its module",
                ))
            })
            .max_page_size(1000)
    }

    fn configure(settings: Settings) -> Result<Self, Error> {
        let attack = settings.required("attack")?.to_owned();
        let known = known_attacks();
        if !known.contains(&attack.as_str()) {
            return Err(Error::invalid_config(format!(
                "unknown attack `{attack}`; known: {}",
                known.join(", ")
            )));
        }
        if attack == "loop-configure" {
            spin();
        }
        Ok(Hostile {
            attack,
            base_url: settings
                .get("base_url")
                .unwrap_or("http://127.0.0.1")
                .trim_end_matches('/')
                .to_owned(),
            port: settings.get_or("port", "80").to_owned(),
            copies: settings.parse_or("copies", 1024)?,
            cursor_kib: settings.parse_or("cursor_kib", 2048)?,
            pages: settings.parse_or("pages", 200)?,
            settings,
        })
    }

    fn streams(&self) -> Result<Vec<StreamInfo>, Error> {
        Ok(output::streams(&self.attack()).unwrap_or_else(|| Self::describe().streams))
    }

    fn list(&self, stream: &str, req: ListRequest) -> Result<Page, Error> {
        if stream != STREAM {
            return Err(Error::unknown_stream(stream));
        }
        let attack = self.attack();
        if let Some(page) = mirror::list(&attack, &req)
            .or_else(|| network::list(&attack, &req))
            .or_else(|| output::list(&attack, &req))
            .or_else(|| push::list(&attack, &req))
            .or_else(|| runtime::list(&attack, &req))
        {
            return page;
        }
        let base = &self.base_url;
        match self.attack.as_str() {
            "loop-list" => spin(),
            "memory-bomb" => memory_bomb(),
            "stack-overflow" => Ok(Page::new(vec![report(json!(recurse(0)))])),
            "sleep" => {
                std::thread::sleep(Duration::from_secs(3600));
                Err(Error::fatal("sleep: woke up after an hour"))
            }
            "exit" => std::process::exit(3),
            "huge-response" => Err(probe(
                "huge-response",
                &[
                    format!("{base}/echo?pad={HUGE_BODY}"),
                    format!("{base}/echo?pad={HUGE_BODY}&chunked=true"),
                ],
            )),
            "disallowed-host" => Err(probe("disallowed-host", &["http://example.com/".into()])),
            "metadata-ip" => Err(probe("metadata-ip", &[METADATA_URL.into()])),
            "localhost-trick" => {
                let port = &self.port;
                let urls = [
                    format!("http://127.0.0.1:{port}/echo"),
                    format!("http://2130706433:{port}/echo"),
                    format!("http://0x7f.0.0.1:{port}/echo"),
                    format!("http://0177.0.0.1:{port}/echo"),
                    format!("http://127.1:{port}/echo"),
                    format!("http://[::ffff:127.0.0.1]:{port}/echo"),
                    format!("http://[::1]:{port}/echo"),
                    format!("http://0.0.0.0:{port}/echo"),
                    format!("http://0:{port}/echo"),
                    format!("http://localhost:{port}/echo"),
                    format!("http://LOCALHOST.:{port}/echo"),
                    format!("http://example.com@127.0.0.1:{port}/echo"),
                    format!("http://example.com:x@127.0.0.1:{port}/echo"),
                    format!("http://127.0.0.1:{port}#@example.com/"),
                ];
                Err(probe("localhost-trick", &urls))
            }
            "redirect" => {
                let targets = [METADATA_URL, "http://example.com/", "file:///etc/passwd"];
                let urls: Vec<String> = targets
                    .iter()
                    .map(|to| {
                        http::Request::get(format!("{base}/redirect"))
                            .query("to", to)
                            .url()
                            .to_owned()
                    })
                    .collect();
                Err(probe("redirect", &urls))
            }
            "read-file" => Ok(Page::new(vec![report(read_files())])),
            "read-env" => Ok(Page::new(vec![report(read_env())])),
            "steal-credential" => Ok(Page::new(vec![report(steal(base))])),
            "oversized-page" => {
                let records = (0..=req.limit)
                    .map(|i| Record::new(format!("over-{i}"), "1").content_text("too many"))
                    .collect();
                Ok(Page::new(records))
            }
            "endless-cursor" => Ok(Page::new(vec![]).next_cursor(next_cursor(&req))),
            "endless-records" => {
                let cursor = next_cursor(&req);
                let record = Record::new(format!("endless-{cursor}"), "1").content_text("more");
                Ok(Page::new(vec![record]).next_cursor(cursor))
            }
            "repeated-cursor" => {
                let id = format!("again-{}", req.cursor.as_deref().unwrap_or("first"));
                let record = Record::new(id, "1").content_text("again");
                Ok(Page::new(vec![record]).next_cursor("again"))
            }
            "blob-ssrf" => Ok(Page::new(vec![ssrf_record()])),
            // What `plugin check`'s ids-only rule catches: an ids-only listing
            // whose versions are not the full listing's.
            "ids-only-drift" => {
                let version = match req.detail {
                    Detail::IdsOnly => "0",
                    Detail::Full => "1",
                };
                let records = (1..=3)
                    .map(|n| Record::new(format!("drift-{n}"), version).content_text("drift"))
                    .collect();
                Ok(Page::new(records))
            }
            "other-port" => {
                let url = format!("http://127.0.0.1:{}/echo", self.port);
                Ok(Page::new(vec![report(echo(&[url]))]))
            }
            "lift-bomb" => Err(lift_bomb(self.copies)),
            "giant-cursor" => {
                // `N:` and padding: a new cursor of `cursor_kib` KiB per page.
                let n: u64 = req
                    .cursor
                    .as_deref()
                    .and_then(|c| c.split(':').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0)
                    + 1;
                let mut cursor = format!("{n}:");
                cursor.extend(std::iter::repeat_n('x', self.cursor_kib << 10));
                let record = Record::new(format!("giant-{n}"), "1").content_text("small");
                let next = (n < self.pages).then_some(cursor);
                Ok(Page::new(vec![record]).next_cursor(next))
            }
            // `loop-fetch` and `panic-mid-batch` attack in `fetch`: partial
            // records make the host call it.
            _ => Ok(Page::new(
                (1..=3)
                    .map(|n| Record::new(format!("item-{n:06}"), "1"))
                    .collect(),
            )),
        }
    }

    fn fetch(&self, _stream: &str, ids: Vec<String>) -> Vec<Result<Record, Error>> {
        let attack = self.attack();
        if let Some(records) = mirror::fetch(&attack, &ids)
            .or_else(|| network::fetch(&attack, &ids))
            .or_else(|| output::fetch(&attack, &ids))
            .or_else(|| push::fetch(&attack, &ids))
            .or_else(|| runtime::fetch(&attack, &ids))
        {
            return records;
        }
        match self.attack.as_str() {
            "loop-fetch" => spin(),
            "panic-mid-batch" => {
                let requests = ids
                    .iter()
                    .map(|id| http::Request::get(format!("{}/items/{id}", self.base_url)))
                    .collect();
                let answers = http::send_batch(requests);
                panic!(
                    "hostile: panic in the middle of a batch, after {} responses",
                    answers.len()
                );
            }
            // The host retries a failed record by fetching it: same blob again.
            "blob-ssrf" => ids.iter().map(|_| Ok(ssrf_record())).collect(),
            _ => ids
                .iter()
                .map(|id| Err(Error::not_found(format!("hostile has no {id}"))))
                .collect(),
        }
    }
}

impl Hostile {
    fn attack(&self) -> Attack<'_> {
        Attack {
            name: &self.attack,
            settings: &self.settings,
        }
    }
}

/// The SDK's export of [`Hostile`], except `push` and `reconcile` under the
/// attacks of `push.rs`: the SDK mends an answer with a wrong count, and
/// those attacks must reach the host as they are.
struct Export;

type Sdk = synchost_sdk::__private::Adapter<Hostile>;

impl Guest for Export {
    fn describe() -> Manifest {
        Sdk::describe()
    }

    fn configure(settings: Vec<(String, String)>) -> Result<(), Error> {
        let attack = settings
            .iter()
            .find(|(name, _)| name == "attack")
            .map(|(_, value)| value.clone());
        Sdk::configure(settings)?;
        push::configured(attack.as_deref());
        Ok(())
    }

    fn streams() -> Result<Vec<StreamInfo>, Error> {
        Sdk::streams()
    }

    fn list(
        stream: String,
        cursor: Option<String>,
        since: Option<String>,
        limit: u32,
        detail: Detail,
    ) -> Result<Page, Error> {
        Sdk::list(stream, cursor, since, limit, detail)
    }

    fn fetch(stream: String, ids: Vec<String>) -> Vec<Result<Record, Error>> {
        Sdk::fetch(stream, ids)
    }

    fn push(stream: String, changes: Vec<Change>) -> Vec<PushOutcome> {
        match push::attack() {
            Some(attack) if stream == STREAM => push::push(&attack, &changes),
            _ => Sdk::push(stream, changes),
        }
    }

    fn reconcile(stream: String, changes: Vec<Change>) -> Vec<Reconciliation> {
        match push::attack() {
            Some(attack) if stream == STREAM => push::reconcile(&attack, &changes),
            _ => Sdk::reconcile(stream, changes),
        }
    }
}

synchost_sdk::bindings::export!(Export with_types_in synchost_sdk::bindings);

/// Burns CPU forever (the optimizer cannot remove the loop).
fn spin() -> ! {
    let mut n = 0u64;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// Allocates until the allocator fails (which aborts the plugin).
fn memory_bomb() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; 1 << 20];
        chunk[0] = 1;
        hoard.push(std::hint::black_box(chunk));
    }
}

/// Recurses until the stack is exhausted.
fn recurse(depth: u64) -> u64 {
    let local = std::hint::black_box([depth; 16]);
    if std::hint::black_box(depth) == u64::MAX {
        return local[0];
    }
    recurse(depth + 1).wrapping_add(local[15])
}

/// Sends one request whose `copies` headers all point at the same 1 MiB of
/// plugin memory. The plugin spends 1 MiB; the host, which copies every
/// argument out of the plugin, would spend `copies` MiB (wasmtime stops it
/// at its per-call copy limit). The URL is not allowed, so nothing is sent
/// if the request is ever copied whole.
fn lift_bomb(copies: usize) -> Error {
    let value = std::mem::ManuallyDrop::new("x".repeat(1 << 20));
    let headers = (0..copies)
        .map(|_| {
            // SAFETY: (as far as a hostile plugin cares) every alias is only
            // read by the lowering of the call below and is never dropped.
            let alias = unsafe {
                String::from_raw_parts(value.as_ptr().cast_mut(), value.len(), value.capacity())
            };
            ("x-bomb".to_string(), alias)
        })
        .collect();
    let request = std::mem::ManuallyDrop::new(wit::Request {
        method: "GET".into(),
        url: "http://example.com/".into(),
        headers,
        body: None,
        timeout_ms: None,
    });
    let answer = wit::send(&request);
    Error::fatal(format!(
        "lift-bomb: {copies} MiB of headers from 1 MiB of memory -> {}",
        outcome(&answer)
    ))
}

/// A complete record whose blob points at the metadata endpoint: the host
/// downloads blobs itself, so this is a request the host would send.
fn ssrf_record() -> Record {
    Record::new("ssrf", "1")
        .content_text("a record whose blob points at the metadata endpoint")
        .blob(BlobRef::new(
            "credentials.json",
            format!("{METADATA_URL}iam/security-credentials/"),
            "application/json",
            "1",
        ))
}

/// `c1`, `c2`, …: a cursor never seen before.
fn next_cursor(req: &ListRequest) -> String {
    let n: u64 = req
        .cursor
        .as_deref()
        .and_then(|c| c.strip_prefix('c'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    format!("c{}", n + 1)
}

/// The record that carries what the plugin saw.
fn report(observations: Value) -> Record {
    Record::new("report", "1")
        .title("what the hostile plugin saw")
        .content_json(observations)
}

/// Sends `GET url` for each of `urls` through the raw import and returns
/// the outcomes as a fatal error: `NAME: URL -> OUTCOME; …`.
fn probe(name: &str, urls: &[String]) -> Error {
    let outcomes: Vec<String> = urls
        .iter()
        .map(|url| format!("{url} -> {}", outcome(&wit::send(&get(url)))))
        .collect();
    Error::fatal(format!("{name}: {}", outcomes.join("; ")))
}

fn get(url: &str) -> wit::Request {
    wit::Request {
        method: "GET".into(),
        url: url.into(),
        headers: vec![],
        body: None,
        timeout_ms: Some(5000),
    }
}

fn outcome(result: &Result<wit::Response, wit::HttpError>) -> String {
    match result {
        Ok(response) => format!(
            "SENT: HTTP {} with {} bytes",
            response.status,
            response.body.len()
        ),
        Err(wit::HttpError::Denied(why)) => format!("denied ({why})"),
        Err(wit::HttpError::Timeout) => "timeout".into(),
        Err(wit::HttpError::Connection(why)) => format!("connection failed ({why})"),
        Err(wit::HttpError::TooLarge(cap)) => format!("too-large ({cap})"),
    }
}

/// Tries to read, list and write files: every entry should be an error.
fn read_files() -> Value {
    let show = |result: std::io::Result<String>| match result {
        Ok(text) => format!("OK: {text}"),
        Err(e) => format!("error: {e}"),
    };
    let list = |dir: &str| {
        std::fs::read_dir(dir).map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path().display().to_string())
                .collect::<Vec<_>>()
                .join(",")
        })
    };
    json!({
        "read /etc/passwd": show(std::fs::read("/etc/passwd").map(|b| String::from_utf8_lossy(&b).into_owned())),
        "read /proc/self/environ": show(std::fs::read("/proc/self/environ").map(|b| String::from_utf8_lossy(&b).into_owned())),
        "read synchost.toml": show(std::fs::read_to_string("synchost.toml")),
        "read .synchost/synchost.db": show(std::fs::read(".synchost/synchost.db").map(|b| format!("{} bytes", b.len()))),
        "list /": show(list("/")),
        "list .": show(list(".")),
        "write /tmp/hostile-was-here": show(std::fs::write("/tmp/hostile-was-here", "x").map(|()| "written".into())),
        "write hostile-was-here": show(std::fs::write("hostile-was-here", "x").map(|()| "written".into())),
    })
}

/// What the environment offers: it should be empty.
fn read_env() -> Value {
    let vars: Vec<String> = std::env::vars_os()
        .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
        .collect();
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut stdin = String::new();
    let stdin = match std::io::Read::read_to_string(&mut std::io::stdin(), &mut stdin) {
        Ok(_) => stdin,
        Err(e) => format!("error: {e}"),
    };
    json!({
        "vars": vars,
        "args": args,
        "stdin": stdin,
        "ITEMS_TOKEN": std::env::var("ITEMS_TOKEN").ok(),
        "HOME": std::env::var("HOME").ok(),
        "PATH": std::env::var("PATH").ok(),
    })
}

/// Asks the remote to echo the request, directly and through a same-host
/// redirect, and keeps everything that came back.
fn steal(base: &str) -> Value {
    echo(&[
        format!("{base}/echo"),
        format!("{base}/echo?encoded=true"),
        http::Request::get(format!("{base}/redirect"))
            .query("to", format!("{base}/echo?via=redirect"))
            .url()
            .to_owned(),
    ])
}

/// Sends `GET` to each of `urls` with a guessed `Authorization` of its own
/// and keeps everything that came back: status, headers, body.
fn echo(urls: &[String]) -> Value {
    let sent_headers = vec![
        (
            "Authorization".to_string(),
            "Bearer plugin-guess".to_string(),
        ),
        ("X-Hostile".to_string(), "1".to_string()),
    ];
    let responses: Vec<Value> = urls
        .iter()
        .map(|url| {
            let mut request = get(url);
            request.headers = sent_headers.clone();
            match wit::send(&request) {
                Ok(response) => json!({
                    "url": url,
                    "status": response.status,
                    "headers": response.headers,
                    "body": String::from_utf8_lossy(&response.body),
                }),
                Err(error) => json!({ "url": url, "error": outcome(&Err(error)) }),
            }
        })
        .collect();
    json!({ "sent_headers": sent_headers, "responses": responses })
}
