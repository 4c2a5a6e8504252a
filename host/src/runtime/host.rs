//! What a plugin can reach: the `http` and `log` imports, and WASI with an
//! empty context. This is the whole of its authority. `wasi:sockets` and
//! `wasi:http` are linked (default Python and JavaScript builds import them)
//! but every call that would reach the network fails: sockets are never
//! allowed, and every `wasi:http` request is denied (see [`DenyAllHttp`]).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::AsyncWrite;
use wasmtime::component::ResourceTable;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use super::bindings::{http, log, types, v0_1};
use super::legacy;
use super::record::{Recorder, Sent};
use super::replay::StandIn;
use crate::config::Limits;
use crate::net::{HttpClient, HttpError, HttpRequest, HttpResponse};
use crate::untrusted::Untrusted;

/// Requests one `send-batch` call may carry.
pub const MAX_BATCH: usize = 1000;
/// Requests of one batch started at once (the client's per-host limiter
/// bounds further how many are on the wire).
const BATCH_IN_FLIGHT: usize = 64;
/// Longest plugin log line, escaped, in bytes.
const MAX_LOG_LINE: usize = 4096;
/// Table elements a plugin may grow to (function tables of large programs).
const MAX_TABLE_ELEMENTS: usize = 1_000_000;
/// Lines of a call's stderr kept for its error, at most (the last ones).
const TAIL_LINES: usize = 20;
/// Bytes of a call's stderr kept for its error, at most.
const TAIL_BYTES: usize = 4096;

/// The per-store state of one plugin instance.
pub struct HostState {
    wasi: WasiCtx,
    wasi_http: WasiHttpCtx,
    deny_http: DenyAllHttp,
    table: ResourceTable,
    pub(crate) memory: MemoryLimiter,
    pub(crate) http: Arc<HttpClient>,
    pub(crate) plugin: Arc<str>,
    /// Epoch ticks the current call has spent executing.
    pub(crate) cpu_ticks: u64,
    pub(crate) cpu_budget_ticks: u64,
    pub(crate) cpu_exceeded: bool,
    /// Bytes the answers of one `send-batch` may take together.
    batch_budget: u64,
    log: Arc<Mutex<LogBudget>>,
    /// Writes every exchange (`pull --record`).
    pub(crate) recorder: Option<Arc<Recorder>>,
    /// Answers every request in the network's place (`plugin check`).
    pub(crate) stand_in: Option<Arc<dyn StandIn>>,
}

impl HostState {
    pub fn new(plugin: &str, http: Arc<HttpClient>, limits: &Limits) -> HostState {
        let plugin: Arc<str> = Arc::from(plugin);
        let log = Arc::new(Mutex::new(LogBudget {
            plugin: plugin.clone(),
            budget: limits.max_log_bytes,
            left: limits.max_log_bytes,
            dropped_lines: 0,
            dropped_bytes: 0,
            partial: Default::default(),
            tail: StderrTail::default(),
        }));
        let memory_bytes = limits.memory_bytes;
        let wasi = WasiCtxBuilder::new()
            .stdout(GuestOutput {
                log: log.clone(),
                stream: STDOUT,
            })
            .stderr(GuestOutput {
                log: log.clone(),
                stream: STDERR,
            })
            // Sockets are linked but never granted: every socket, connection
            // and name lookup fails with `access-denied`.
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(std::future::ready(false)))
            .build();
        HostState {
            wasi,
            wasi_http: WasiHttpCtx::new(),
            deny_http: DenyAllHttp::default(),
            table: ResourceTable::new(),
            memory: MemoryLimiter {
                max_bytes: memory_bytes as usize,
                exceeded: false,
            },
            http,
            plugin,
            cpu_ticks: 0,
            cpu_budget_ticks: (limits.cpu_per_call.as_millis() / super::EPOCH_TICK.as_millis())
                .max(1) as u64,
            cpu_exceeded: false,
            batch_budget: memory_bytes / 2,
            log,
            recorder: None,
            stand_in: None,
        }
    }
}

impl HostState {
    /// Forgets the stderr of earlier calls: a new call starts.
    pub(crate) fn start_call(&mut self) {
        lock(&self.log).tail = StderrTail::default();
    }

    /// The `wasi:http` requests denied so far (the first few), `METHOD uri`
    /// as the plugin built them: unescaped.
    pub(crate) fn wasi_http_denied(&self) -> &[String] {
        &self.deny_http.denied
    }

    /// The last lines the current call wrote to stderr (at most
    /// [`TAIL_LINES`] lines and [`TAIL_BYTES`] bytes, the unfinished last
    /// line included), as the plugin wrote them: unescaped, unredacted.
    pub(crate) fn stderr_tail(&self) -> Vec<String> {
        let log = lock(&self.log);
        let mut tail = log.tail.clone();
        tail.push(&log.partial[STDERR]);
        tail.lines.into()
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.wasi_http,
            table: &mut self.table,
            hooks: &mut self.deny_http,
        }
    }
}

/// `wasi:http` for plugins: requests can be built, and every one sent fails
/// with `HTTP-request-denied` before any connection. Plugins send through
/// `synchost:source/http`, where the source's policy, credentials, limits
/// and retries apply. The first [`DENIED_KEPT`] requests denied are kept
/// (`METHOD uri`), for `plugin check`'s describe-io rule.
#[derive(Default)]
struct DenyAllHttp {
    denied: Vec<String>,
}

/// `wasi:http` requests kept per instance, at most.
const DENIED_KEPT: usize = 16;

/// What `wasi:http`'s hooks pass around: bodies, and futures of results.
type HttpBody = wasmtime_wasi_http::WasiBody;
type HttpFuture<T> = Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<T>> + Send>;

impl WasiHttpHooks for DenyAllHttp {
    fn send_request(
        &mut self,
        request: ::http::Request<HttpBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: HttpFuture<()>,
    ) -> HttpFuture<(::http::Response<HttpBody>, HttpFuture<()>)> {
        if self.denied.len() < DENIED_KEPT {
            self.denied
                .push(format!("{} {}", request.method(), request.uri()));
        }
        Box::new(std::future::ready(Err(
            wasmtime_wasi_http::Error::HttpRequestDenied,
        )))
    }
}

/// Caps every linear memory of the plugin and remembers when it was hit, so
/// the resulting trap can be reported as what it is.
pub struct MemoryLimiter {
    pub(crate) max_bytes: usize,
    pub(crate) exceeded: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

impl types::Host for HostState {}

impl http::Host for HostState {
    async fn send(&mut self, request: http::Request) -> Result<http::Response, http::HttpError> {
        let sent = self.recorder.as_ref().map(|_| Sent::of(&request));
        let answer = match &self.stand_in {
            Some(stand_in) => stand_in.answer(&request),
            None => self
                .http
                .send(from_wit(request))
                .await
                .map(to_wit)
                .map_err(error_to_wit),
        };
        if let (Some(recorder), Some(sent)) = (&self.recorder, sent) {
            recorder.record(&self.plugin, &[(sent, &answer)]);
        }
        answer
    }

    async fn send_batch(
        &mut self,
        requests: Vec<http::Request>,
    ) -> Vec<Result<http::Response, http::HttpError>> {
        if requests.len() > MAX_BATCH {
            let why = format!(
                "a batch may hold at most {MAX_BATCH} requests, got {}",
                requests.len()
            );
            return requests
                .iter()
                .map(|_| Err(http::HttpError::Denied(why.clone())))
                .collect();
        }
        let sent: Option<Vec<Sent>> = self
            .recorder
            .as_ref()
            .map(|_| requests.iter().map(Sent::of).collect());
        let answers = match &self.stand_in {
            Some(stand_in) => requests.iter().map(|r| stand_in.answer(r)).collect(),
            None => send_within_budget(&self.http, &self.plugin, requests, self.batch_budget).await,
        };
        if let (Some(recorder), Some(sent)) = (&self.recorder, sent) {
            let exchanges: Vec<_> = sent.into_iter().zip(&answers).collect();
            recorder.record(&self.plugin, &exchanges);
        }
        answers
    }
}

impl log::Host for HostState {
    async fn log(&mut self, level: log::Level, message: String) {
        let plugin = &*self.plugin;
        let enabled = match level {
            log::Level::Trace => tracing::enabled!(tracing::Level::TRACE),
            log::Level::Debug => tracing::enabled!(tracing::Level::DEBUG),
            log::Level::Info => tracing::enabled!(tracing::Level::INFO),
            log::Level::Warn => tracing::enabled!(tracing::Level::WARN),
            log::Level::Error => tracing::enabled!(tracing::Level::ERROR),
        };
        // Lines nobody will see cost nothing, not even budget.
        if !enabled {
            return;
        }
        let Some(message) = lock(&self.log).admit(&message) else {
            return;
        };
        match level {
            log::Level::Trace => tracing::trace!(plugin, "{message}"),
            log::Level::Debug => tracing::debug!(plugin, "{message}"),
            log::Level::Info => tracing::info!(plugin, "{message}"),
            log::Level::Warn => tracing::warn!(plugin, "{message}"),
            log::Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

/// Contract 0.1's imports: the same `http` and `log`, through 0.2's.
impl v0_1::types::Host for HostState {}

impl v0_1::http::Host for HostState {
    async fn send(
        &mut self,
        request: v0_1::http::Request,
    ) -> Result<v0_1::http::Response, v0_1::http::HttpError> {
        let answer = http::Host::send(self, legacy::request(request)).await;
        legacy::response(answer)
    }

    async fn send_batch(
        &mut self,
        requests: Vec<v0_1::http::Request>,
    ) -> Vec<Result<v0_1::http::Response, v0_1::http::HttpError>> {
        let requests = requests.into_iter().map(legacy::request).collect();
        http::Host::send_batch(self, requests)
            .await
            .into_iter()
            .map(legacy::response)
            .collect()
    }
}

impl v0_1::log::Host for HostState {
    async fn log(&mut self, level: v0_1::log::Level, message: String) {
        log::Host::log(self, legacy::level(level), message).await
    }
}

/// What one plugin instance may still write to the host's log, through the
/// `log` import and its stdout and stderr together. Every line is escaped
/// and clipped (a plugin cannot forge a line or flood a terminal with one);
/// past the budget lines are dropped, said once when it happens and counted
/// when the instance ends.
struct LogBudget {
    plugin: Arc<str>,
    budget: u64,
    left: u64,
    dropped_lines: u64,
    dropped_bytes: u64,
    /// The unfinished last line of stdout and of stderr (a line may come
    /// in several writes).
    partial: [Vec<u8>; 2],
    /// The current call's last stderr lines, for its error if it crashes;
    /// kept whatever the log level and the budget.
    tail: StderrTail,
}

/// The last lines of a stream, bounded in lines and bytes.
#[derive(Debug, Clone, Default)]
struct StderrTail {
    lines: std::collections::VecDeque<String>,
    bytes: usize,
}

impl StderrTail {
    fn push(&mut self, line: &[u8]) {
        let line = &line[..line.len().min(TAIL_BYTES)];
        let text = String::from_utf8_lossy(line);
        if text.trim().is_empty() {
            return;
        }
        self.bytes += text.len();
        self.lines.push_back(text.into_owned());
        while self.lines.len() > TAIL_LINES || self.bytes > TAIL_BYTES {
            let Some(oldest) = self.lines.pop_front() else {
                break;
            };
            self.bytes -= oldest.len();
        }
    }
}

/// The guest's output streams, as indexes of [`LogBudget::partial`].
const STDOUT: usize = 0;
const STDERR: usize = 1;
const STREAM_NAMES: [&str; 2] = ["stdout", "stderr"];

impl LogBudget {
    /// Takes guest output written to `stream` and logs its complete lines;
    /// an unfinished line longer than a log line is logged as it is.
    fn output(&mut self, stream: usize, bytes: &[u8]) {
        let mut pending = std::mem::take(&mut self.partial[stream]);
        pending.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(end) = pending[start..].iter().position(|&b| b == b'\n') {
            self.output_line(stream, &pending[start..start + end]);
            start += end + 1;
        }
        pending.drain(..start);
        if pending.len() > MAX_LOG_LINE {
            self.output_line(stream, &pending);
            pending.clear();
        }
        self.partial[stream] = pending;
    }

    fn output_line(&mut self, stream: usize, line: &[u8]) {
        if stream == STDERR {
            self.tail.push(line);
        }
        if !tracing::enabled!(tracing::Level::INFO) {
            return;
        }
        let text = String::from_utf8_lossy(line);
        if text.trim().is_empty() {
            return;
        }
        if let Some(line) = self.admit(&text) {
            let plugin = &*self.plugin;
            tracing::info!(plugin, stream = STREAM_NAMES[stream], "{line}");
        }
    }

    /// `text` as it may be logged, or `None` when over the budget.
    fn admit(&mut self, text: &str) -> Option<String> {
        let line = Untrusted::clipped(text, MAX_LOG_LINE).to_string();
        let size = line.len() as u64;
        if size <= self.left {
            self.left -= size;
            return Some(line);
        }
        if self.dropped_lines == 0 {
            tracing::warn!(
                plugin = &*self.plugin,
                "the plugin used up its log budget of {} KiB (limits.max_log_kib); \
                 its further log lines are dropped",
                self.budget / 1024
            );
        }
        self.dropped_lines += 1;
        self.dropped_bytes += text.len() as u64;
        None
    }
}

impl Drop for LogBudget {
    fn drop(&mut self) {
        for stream in [STDOUT, STDERR] {
            let rest = std::mem::take(&mut self.partial[stream]);
            self.output_line(stream, &rest);
        }
        if self.dropped_lines > 0 {
            tracing::warn!(
                plugin = &*self.plugin,
                "{} plugin log lines ({} bytes) over limits.max_log_kib were dropped",
                self.dropped_lines,
                self.dropped_bytes
            );
        }
    }
}

fn lock(budget: &Mutex<LogBudget>) -> std::sync::MutexGuard<'_, LogBudget> {
    budget
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Sends a batch whose answers, together, hold at most `budget` bytes (half
/// the plugin's memory limit: the plugin must hold them all at once, and the
/// host holds them until the whole batch is lowered into the plugin).
///
/// Each request in flight reserves the most its answer may take (its share
/// of the budget, or what is left of it), and keeps only what its answer
/// took; a request waits while the budget is reserved by others. The share
/// is the per-response cap, or less: the budget split among the host's
/// concurrency plus one, so a batch keeps that many requests in flight even
/// with the answers already in holding part of the budget.
/// Once an answer does not fit what is left, that request and every one not
/// yet sent answer `too-large(budget)`, without being sent.
async fn send_within_budget(
    client: &Arc<HttpClient>,
    plugin: &str,
    requests: Vec<http::Request>,
    budget: u64,
) -> Vec<Result<http::Response, http::HttpError>> {
    use futures::stream::{FuturesUnordered, StreamExt};

    let count = requests.len();
    let per_request = client
        .max_response_bytes()
        .min(budget / (u64::from(client.concurrency()) + 1));
    let mut answers: Vec<Option<Result<http::Response, http::HttpError>>> =
        (0..count).map(|_| None).collect();
    let mut pending = requests.into_iter().enumerate();
    let mut in_flight = FuturesUnordered::new();
    // Bytes held by answers plus those reserved by requests in flight.
    let mut reserved = 0u64;
    let mut exhausted = false;
    loop {
        while !exhausted && in_flight.len() < BATCH_IN_FLIGHT {
            let room = budget.saturating_sub(reserved);
            if room < per_request && !in_flight.is_empty() {
                break; // Wait for an answer to give back what it did not use.
            }
            if room == 0 {
                exhausted = true;
                break;
            }
            let Some((index, request)) = pending.next() else {
                break;
            };
            let cap = room.min(per_request);
            reserved += cap;
            let client = client.clone();
            in_flight.push(async move {
                let answer = client.send_within(from_wit(request), cap).await;
                (index, cap, answer)
            });
        }
        let Some((index, cap, answer)) = in_flight.next().await else {
            break;
        };
        reserved -= cap;
        let answer = match answer {
            Ok(response) => {
                reserved += response_bytes(&response);
                Ok(to_wit(response))
            }
            // Cut by the budget, not by the per-response cap.
            Err(HttpError::TooLarge(_)) if cap < per_request => {
                exhausted = true;
                Err(http::HttpError::TooLarge(budget))
            }
            Err(error) => Err(error_to_wit(error)),
        };
        answers[index] = Some(answer);
    }
    let unsent = answers.iter().filter(|answer| answer.is_none()).count();
    if exhausted {
        tracing::warn!(
            plugin,
            "a send-batch of {count} requests reached its budget of {} KiB of answers \
             (half of limits.memory_mb); {unsent} requests were not sent and answer too-large",
            budget / 1024
        );
    }
    answers
        .into_iter()
        .map(|answer| answer.unwrap_or(Err(http::HttpError::TooLarge(budget))))
        .collect()
}

/// What an answer takes in memory: its body and headers.
fn response_bytes(response: &HttpResponse) -> u64 {
    let headers: usize = response
        .headers
        .iter()
        .map(|(name, value)| name.len() + value.len())
        .sum();
    (response.body.len() + headers) as u64
}

fn from_wit(request: http::Request) -> HttpRequest {
    HttpRequest {
        method: request.method,
        url: request.url,
        headers: request.headers,
        body: request.body,
        timeout: request
            .timeout_ms
            .map(|ms| Duration::from_millis(ms.into())),
    }
}

fn to_wit(response: HttpResponse) -> http::Response {
    http::Response {
        status: response.status,
        headers: response.headers,
        body: response.body,
    }
}

fn error_to_wit(error: HttpError) -> http::HttpError {
    match error {
        HttpError::Denied(why) => http::HttpError::Denied(why),
        HttpError::Timeout => http::HttpError::Timeout,
        HttpError::Connection(why) => http::HttpError::Connection(why),
        HttpError::TooLarge(cap) => http::HttpError::TooLarge(cap),
    }
}

/// The guest's stdout and stderr, forwarded to the host's log line by line,
/// under the instance's log budget.
struct GuestOutput {
    log: Arc<Mutex<LogBudget>>,
    stream: usize,
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(GuestWriter {
            log: self.log.clone(),
            stream: self.stream,
        })
    }
}

struct GuestWriter {
    log: Arc<Mutex<LogBudget>>,
    stream: usize,
}

impl AsyncWrite for GuestWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        // Stderr is read for the tail a crash reports, logged or not.
        if self.stream == STDERR || tracing::enabled!(tracing::Level::INFO) {
            lock(&self.log).output(self.stream, buf);
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
