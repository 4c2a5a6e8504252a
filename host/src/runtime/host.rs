//! What a plugin can reach: the `http` and `log` imports, and WASI with an
//! empty context. This is the whole of its authority.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::AsyncWrite;
use wasmtime::component::ResourceTable;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings::{http, log, types};
use crate::net::{HttpClient, HttpError, HttpRequest, HttpResponse};

/// Requests one `send-batch` call may carry.
pub const MAX_BATCH: usize = 1000;
/// Table elements a plugin may grow to (function tables of large programs).
const MAX_TABLE_ELEMENTS: usize = 1_000_000;

/// The per-store state of one plugin instance.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) memory: MemoryLimiter,
    pub(crate) http: Arc<HttpClient>,
    pub(crate) plugin: Arc<str>,
    /// Epoch ticks the current call has spent executing.
    pub(crate) cpu_ticks: u64,
    pub(crate) cpu_budget_ticks: u64,
    pub(crate) cpu_exceeded: bool,
}

impl HostState {
    pub fn new(
        plugin: &str,
        http: Arc<HttpClient>,
        memory_bytes: u64,
        cpu_per_call: Duration,
    ) -> HostState {
        let plugin: Arc<str> = Arc::from(plugin);
        let wasi = WasiCtxBuilder::new()
            .stdout(GuestOutput {
                plugin: plugin.clone(),
                stream: "stdout",
            })
            .stderr(GuestOutput {
                plugin: plugin.clone(),
                stream: "stderr",
            })
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        HostState {
            wasi,
            table: ResourceTable::new(),
            memory: MemoryLimiter {
                max_bytes: memory_bytes as usize,
                exceeded: false,
            },
            http,
            plugin,
            cpu_ticks: 0,
            cpu_budget_ticks: (cpu_per_call.as_millis() / super::EPOCH_TICK.as_millis()).max(1)
                as u64,
            cpu_exceeded: false,
        }
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
        self.http
            .send(from_wit(request))
            .await
            .map(to_wit)
            .map_err(error_to_wit)
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
        // The client's per-host limiter bounds how many run at once.
        let client = self.http.clone();
        let sends = requests.into_iter().map(|request| {
            let client = client.clone();
            async move {
                client
                    .send(from_wit(request))
                    .await
                    .map(to_wit)
                    .map_err(error_to_wit)
            }
        });
        futures::future::join_all(sends).await
    }
}

impl log::Host for HostState {
    async fn log(&mut self, level: log::Level, message: String) {
        let plugin = &*self.plugin;
        let message = clip(&message, 4096);
        match level {
            log::Level::Trace => tracing::trace!(plugin, "{message}"),
            log::Level::Debug => tracing::debug!(plugin, "{message}"),
            log::Level::Info => tracing::info!(plugin, "{message}"),
            log::Level::Warn => tracing::warn!(plugin, "{message}"),
            log::Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
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

fn clip(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The guest's stdout and stderr, forwarded to the host's log line by line.
struct GuestOutput {
    plugin: Arc<str>,
    stream: &'static str,
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(GuestWriter {
            plugin: self.plugin.clone(),
            stream: self.stream,
        })
    }
}

struct GuestWriter {
    plugin: Arc<str>,
    stream: &'static str,
}

impl AsyncWrite for GuestWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let text = String::from_utf8_lossy(buf);
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            tracing::info!(
                plugin = &*self.plugin,
                stream = self.stream,
                "{}",
                clip(line, 4096)
            );
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
