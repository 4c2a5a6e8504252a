//! OpenTelemetry export end to end: the real `synchost` pulls from the items
//! fake with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at an OTLP/HTTP receiver
//! started by each test ([`Receiver`], JSON encoding), which then holds the
//! run's spans with their parents, counts and attributes, and its metrics;
//! the source's token is in none of the bytes it received. Without an
//! endpoint, or with `OTEL_SDK_DISABLED=true`, nothing is sent and no
//! exporter thread runs.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};
use support::{
    assert_success, items_config, json_lines, wait_exit, wait_while_running, FakeServer, Synchost,
    Workspace, TOKEN_VAR,
};

/// The items fake's token: long enough to be redacted, and distinctive
/// enough that finding it anywhere in the exported bytes means a leak.
const TOKEN: &str = "otel-test-token-5f1c2a9e7b3d4c8a";
/// Generous limit for "the watch gets somewhere" on a loaded machine.
const TIMEOUT: Duration = Duration::from_secs(120);

/// One request the receiver got: its path, its raw head (request line and
/// headers) and its body.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    head: String,
    body: Vec<u8>,
}

/// An OTLP/HTTP receiver on 127.0.0.1: answers every POST with `200 {}`
/// and keeps what it got. HTTP/1.1 with keep-alive and `Content-Length`
/// bodies, as the exporter sends them.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
        let port = listener.local_addr().expect("receiver address").port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let sink = sink.clone();
                thread::spawn(move || serve(stream, &sink));
            }
        });
        Receiver { port, got }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// The JSON bodies sent to `path`.
    fn bodies(&self, path: &str) -> Vec<Value> {
        self.received()
            .iter()
            .filter(|r| r.path == path)
            .map(|r| {
                serde_json::from_slice(&r.body).unwrap_or_else(|e| {
                    panic!(
                        "{path}: not JSON ({e}): {}",
                        String::from_utf8_lossy(&r.body)
                    )
                })
            })
            .collect()
    }

    /// Every span received, with the resource each came with.
    fn spans(&self) -> Vec<Span> {
        let mut spans = Vec::new();
        for body in self.bodies("/v1/traces") {
            for resource_spans in array(&body, "resourceSpans") {
                let resource = attributes(&resource_spans["resource"]);
                for scope in array(resource_spans, "scopeSpans") {
                    for span in array(scope, "spans") {
                        spans.push(Span {
                            name: str_of(span, "name"),
                            trace: str_of(span, "traceId"),
                            id: str_of(span, "spanId"),
                            parent: str_of(span, "parentSpanId"),
                            attributes: attributes(span),
                            ints: array(span, "attributes")
                                .iter()
                                .filter_map(|kv| {
                                    let n = number(&kv["value"]["intValue"])?;
                                    Some((str_of(kv, "key"), n as u64))
                                })
                                .collect(),
                            resource: resource.clone(),
                        });
                    }
                }
            }
        }
        spans
    }

    /// The sum of the last data points of metric `name` whose attributes
    /// include `with` (cumulative sums: each export repeats the total, so
    /// the last export of each series counts).
    fn metric_total(&self, name: &str, with: &[(&str, &str)]) -> Option<f64> {
        let mut last: BTreeMap<String, f64> = BTreeMap::new();
        for body in self.bodies("/v1/metrics") {
            for resource in array(&body, "resourceMetrics") {
                for scope in array(resource, "scopeMetrics") {
                    for metric in array(scope, "metrics") {
                        if metric["name"] != name {
                            continue;
                        }
                        for point in array(&metric["sum"], "dataPoints") {
                            let attrs = attributes(point);
                            let matches = with
                                .iter()
                                .all(|(k, v)| attrs.get(*k).map(String::as_str) == Some(*v));
                            if matches {
                                let value = number(&point["asInt"])
                                    .or_else(|| number(&point["asDouble"]))
                                    .expect("a data point's value");
                                last.insert(format!("{attrs:?}"), value);
                            }
                        }
                    }
                }
            }
        }
        (!last.is_empty()).then(|| last.values().sum())
    }
}

/// Serves one connection: request after request until it closes.
fn serve(stream: TcpStream, sink: &Mutex<Vec<Received>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    let mut writer = stream;
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let length: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let path = head
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        sink.lock().unwrap().push(Received { path, head, body });
        let answer =
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// One exported span, its ids in hex.
#[derive(Debug, Clone)]
struct Span {
    name: String,
    trace: String,
    id: String,
    parent: String,
    attributes: HashMap<String, String>,
    /// The attributes that are OTLP integers.
    ints: HashMap<String, u64>,
    resource: HashMap<String, String>,
}

impl Span {
    fn attr(&self, key: &str) -> &str {
        self.attributes
            .get(key)
            .unwrap_or_else(|| panic!("span {} has no attribute {key}: {self:?}", self.name))
    }

    fn int(&self, key: &str) -> u64 {
        *self
            .ints
            .get(key)
            .unwrap_or_else(|| panic!("{key} of {self:?} is not an integer"))
    }
}

fn array<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value[key].as_array().map(Vec::as_slice).unwrap_or_default()
}

fn str_of(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_string()
}

/// An OTLP JSON number: int64 values come as strings.
fn number(value: &Value) -> Option<f64> {
    value
        .as_f64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

/// `attributes` of an OTLP JSON object, each value as text.
fn attributes(value: &Value) -> HashMap<String, String> {
    array(value, "attributes")
        .iter()
        .map(|kv| {
            let v = &kv["value"];
            let text = if let Some(s) = v["stringValue"].as_str() {
                s.to_string()
            } else if let Some(n) = number(&v["intValue"]) {
                (n as u64).to_string()
            } else if let Some(b) = v["boolValue"].as_bool() {
                b.to_string()
            } else {
                v.to_string()
            };
            (str_of(kv, "key"), text)
        })
        .collect()
}

/// The environment that exports to `receiver` in OTLP/HTTP JSON.
fn otel_env(receiver: &Receiver) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json".to_string()),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-collector-key=abc123".to_string(),
        ),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=e2e".to_string(),
        ),
    ]
}

/// `synchost pull items` (the example plugin against `fake`, with the
/// token) under `env`.
fn pull(ws: &Workspace, env: &[(&str, String)]) -> String {
    let mut command = Synchost::new(ws)
        .args(["pull", "items", "--json"])
        .env(TOKEN_VAR, TOKEN);
    for (key, value) in env {
        command = command.env(key, value);
    }
    assert_success(&command.output())
}

/// A config for the items fake with the token as a bearer credential.
fn config(ws: &Workspace, fake: &FakeServer, tables: &str) {
    items_config(
        ws,
        fake,
        &format!(
            "[sources.items.auth]\ntype = \"bearer\"\ntoken_env = \"{TOKEN_VAR}\"\n\n{tables}"
        ),
    );
}

/// The spans named `name`.
fn named<'a>(spans: &'a [Span], name: &str) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.name == name).collect()
}

/// Asserts nothing the receiver got holds the token, in any encoding a
/// header or body might carry it.
#[track_caller]
fn assert_no_token(receiver: &Receiver) {
    let received = receiver.received();
    assert!(!received.is_empty(), "the receiver got nothing");
    for r in &received {
        assert!(
            !r.head.contains(TOKEN),
            "the token in the head of {}",
            r.path
        );
        let body = String::from_utf8_lossy(&r.body);
        assert!(
            !body.contains(TOKEN),
            "the token in a body sent to {}",
            r.path
        );
        assert!(
            !body.contains(&TOKEN[..16]),
            "part of the token in a body sent to {}",
            r.path
        );
    }
}

/// A pull of 250 items exports one trace: `pull` > `run` > `stream` >
/// `page` > `plugin list|fetch` > `http.request`, one HTTP span per request
/// the fake answered, each with its status and no query string; the
/// resource names the service `synchost` with the attributes the
/// environment set; the metrics count the records and requests; the
/// exporter sends `OTEL_EXPORTER_OTLP_HEADERS`; the token is nowhere.
#[test]
fn a_pull_exports_its_trace_and_metrics_without_the_token() {
    let fake = FakeServer::start(
        "items",
        &["--count", "250", "--seed", "7", "--token", TOKEN],
    );
    let ws = Workspace::new();
    config(&ws, &fake, "");
    let receiver = Receiver::start();
    let out = pull(&ws, &otel_env(&receiver));
    let summary = json_lines(&out)
        .into_iter()
        .find(|e| e["event"] == "summary")
        .expect("a summary");
    assert_eq!(summary["summary"]["counts"]["written"], 250, "{out}");

    let spans = receiver.spans();
    assert!(!spans.is_empty(), "no spans: {:?}", receiver.received());
    let trace = &spans[0].trace;
    assert!(
        spans.iter().all(|s| &s.trace == trace),
        "one trace: {spans:#?}"
    );
    for span in &spans {
        assert_eq!(
            span.resource.get("service.name").map(String::as_str),
            Some("synchost")
        );
        assert_eq!(
            span.resource
                .get("deployment.environment")
                .map(String::as_str),
            Some("e2e")
        );
    }
    let by_id: HashMap<&str, &Span> = spans.iter().map(|s| (s.id.as_str(), s)).collect();
    let parent = |span: &Span| -> &Span {
        by_id
            .get(span.parent.as_str())
            .unwrap_or_else(|| panic!("the parent of {span:?} was not exported"))
    };

    let root = named(&spans, "pull");
    assert_eq!(root.len(), 1, "{spans:#?}");
    assert_eq!(root[0].parent, "", "pull is the root");
    assert_eq!(root[0].int("synchost.sources"), 1);

    let runs = named(&spans, "run");
    assert_eq!(runs.len(), 1);
    let run = runs[0];
    assert_eq!(parent(run).name, "pull");
    assert_eq!(run.attr("synchost.source"), "items");
    assert_eq!(run.attr("synchost.run.outcome"), "succeeded");
    assert_eq!(run.int("synchost.records.written"), 250);

    let streams = named(&spans, "stream");
    assert_eq!(streams.len(), 1, "the example plugin has one stream");
    assert_eq!(parent(streams[0]).id, run.id);
    assert_eq!(streams[0].int("synchost.records.written"), 250);

    // 250 items are 3 pages of the default 100.
    let pages = named(&spans, "page");
    assert_eq!(pages.len(), 3, "{pages:#?}");
    assert!(pages.iter().all(|p| p.parent == streams[0].id));
    let written: u64 = pages
        .iter()
        .map(|p| p.int("synchost.records.written"))
        .sum();
    assert_eq!(written, 250);
    let listed: u64 = pages.iter().map(|p| p.int("synchost.page.records")).sum();
    assert_eq!(listed, 250);

    let calls: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name.starts_with("plugin "))
        .collect();
    let lists = named(&spans, "plugin list");
    assert_eq!(lists.len(), 3, "one list per page");
    for call in &calls {
        let call_name = call.attr("synchost.plugin.call");
        assert_eq!(call.name, format!("plugin {call_name}"));
        let expected_parent = match call_name {
            "list" | "fetch" => "page",
            _ => "run",
        };
        assert_eq!(parent(call).name, expected_parent, "{call:?}");
    }

    let http = named(&spans, "GET");
    assert_eq!(
        http.len() as u64,
        fake.requests(),
        "one span per request the fake answered"
    );
    for span in &http {
        assert!(parent(span).name.starts_with("plugin "), "{span:?}");
        assert_eq!(span.int("http.response.status_code"), 200);
        assert_eq!(span.int("http.request.resend_count"), 0);
        assert_eq!(span.attr("http.request.method"), "GET");
        assert_eq!(span.attr("server.address"), "127.0.0.1");
        let url = span.attr("url.full");
        assert!(url.starts_with(fake.url()), "{url}");
        assert!(!url.contains('?'), "no query string: {url}");
        assert!(
            !span
                .attributes
                .keys()
                .any(|k| k.contains("header") || k.contains("body")),
            "{span:?}"
        );
    }

    assert_eq!(
        receiver.metric_total("synchost.records", &[("synchost.outcome", "written")]),
        Some(250.0)
    );
    assert_eq!(
        receiver.metric_total("synchost.http.requests", &[("synchost.source", "items")]),
        Some(fake.requests() as f64)
    );
    let received = receiver
        .metric_total(
            "synchost.http.received",
            &[("synchost.bytes.kind", "response")],
        )
        .expect("bytes received");
    assert!(received > 0.0);

    for r in receiver.received() {
        assert!(
            r.head
                .to_ascii_lowercase()
                .contains("x-collector-key: abc123"),
            "OTEL_EXPORTER_OTLP_HEADERS sent: {}",
            r.head
        );
    }
    assert_no_token(&receiver);
}

/// Retries show on their request's span: with every 4th response cut off
/// mid-body, the spans' `http.request.resend_count` add up to the requests
/// the fake saw beyond one per span, and the metrics count them too.
#[test]
fn retries_are_counted_on_their_request_span() {
    let fake = FakeServer::start(
        "items",
        &["--count", "120", "--seed", "8", "--token", TOKEN],
    );
    fake.set_faults(json!({"body_fault": {"kind": "reset", "every": 4}}));
    let ws = Workspace::new();
    config(&ws, &fake, "[sources.items.retry]\nbase_delay_ms = 10\n");
    let receiver = Receiver::start();
    pull(&ws, &otel_env(&receiver));

    let spans = receiver.spans();
    let http = named(&spans, "GET");
    let resent: u64 = http
        .iter()
        .map(|s| s.int("http.request.resend_count"))
        .sum();
    assert!(resent > 0, "some requests were retried");
    assert_eq!(http.len() as u64 + resent, fake.requests());
    assert!(http
        .iter()
        .all(|s| s.int("http.response.status_code") == 200));
    assert_eq!(
        receiver.metric_total("synchost.http.retries", &[]),
        Some(resent as f64)
    );
    assert_no_token(&receiver);
}

/// Names of the threads of process `pid`.
fn threads(pid: u32) -> Vec<String> {
    let mut names = Vec::new();
    for task in fs::read_dir(format!("/proc/{pid}/task")).expect("the process's threads") {
        let comm = task.expect("a thread").path().join("comm");
        names.push(
            fs::read_to_string(comm)
                .unwrap_or_default()
                .trim()
                .to_string(),
        );
    }
    names
}

/// Runs `synchost watch` under `env` until its first run is logged, and
/// returns its exporter threads (those the OpenTelemetry SDK and its HTTP
/// client start) before stopping it with SIGTERM.
fn exporter_threads_of_a_watch(ws: &Workspace, env: &[(&str, String)]) -> Vec<String> {
    let mut command = Synchost::new(ws)
        .args(["watch", "--every", "1h", "--json"])
        .env(TOKEN_VAR, TOKEN);
    for (key, value) in env {
        command = command.env(key, value);
    }
    let mut child = command.start();
    let (stdout, _) = ws.spawn_log_paths(0);
    wait_while_running(ws, &mut child, "a first run", TIMEOUT, || {
        json_lines(&fs::read_to_string(&stdout).unwrap_or_default())
            .iter()
            .any(|e| e["event"] == "watch_run")
    });
    let exporters = threads(child.id())
        .into_iter()
        .filter(|name| name.starts_with("OpenTelemetry") || name.starts_with("reqwest-intern"))
        .collect();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    assert_eq!(wait_exit(ws, &mut child, TIMEOUT).code(), Some(0));
    exporters
}

/// With an endpoint, a watch runs the exporters' threads and sends its
/// run's spans when SIGTERM stops it. Without one (empty counts as unset),
/// or with `OTEL_SDK_DISABLED=true`, no such thread is started and nothing
/// reaches the receiver.
#[test]
fn export_is_off_and_threadless_without_an_endpoint() {
    let fake = FakeServer::start("items", &["--count", "30", "--seed", "9", "--token", TOKEN]);
    let on = Receiver::start();
    let ws = Workspace::new();
    config(&ws, &fake, "");
    let threads_on = exporter_threads_of_a_watch(&ws, &otel_env(&on));
    assert!(
        threads_on.iter().any(|t| t.starts_with("OpenTelemetry")),
        "{threads_on:?}"
    );
    assert_eq!(
        named(&on.spans(), "run").len(),
        1,
        "the watch's run, sent at SIGTERM"
    );
    assert_no_token(&on);

    let off = Receiver::start();
    let unset = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", String::new()),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", String::new()),
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", String::new()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json".to_string()),
    ];
    let ws = Workspace::new();
    config(&ws, &fake, "");
    assert_eq!(
        exporter_threads_of_a_watch(&ws, &unset),
        Vec::<String>::new()
    );

    let mut disabled = otel_env(&off);
    disabled.push(("OTEL_SDK_DISABLED", "true".to_string()));
    let ws = Workspace::new();
    config(&ws, &fake, "");
    assert_eq!(
        exporter_threads_of_a_watch(&ws, &disabled),
        Vec::<String>::new()
    );
    pull(&ws, &disabled);
    assert!(off.received().is_empty(), "{:?}", off.received());
}
