//! The one HTTP client of a source: every request a plugin makes and every
//! blob the host downloads goes through [`HttpClient`], which applies the
//! allowlist, injects the credential, paces per host, and retries.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, LOCATION};
use reqwest::{Method, StatusCode};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use url::Url;

use super::credential::MIN_REDACTED;
use super::limiter::{HostLimiter, HostLimiters, Permit};
use super::network::Network;
use super::policy::Admission;
use super::retry::{
    is_idempotent, is_transient_status, may_be_rate_limit, parse_reset, rate_limit, WaitReason,
};
use super::{Credential, HostPolicy, RetryPolicy};
use crate::untrusted::Untrusted;

/// Rate-limit waits one request may sit through before its 429 is returned.
const MAX_RATE_LIMIT_WAITS: u32 = 20;
/// Bytes of an error body of a blob download read to tell a rate limit
/// (GitHub's secondary-limit message) from a refusal.
const ERROR_BODY_CAP: u64 = 64 << 10;
/// Waits shorter than this are not shown.
const NOTICE_MIN_WAIT: Duration = Duration::from_secs(1);
/// A pacing wait is shown again after this long at most.
const PACING_NOTICE_EVERY: Duration = Duration::from_secs(30);
/// Redirects one request may follow.
const MAX_REDIRECTS: usize = 10;
/// Bytes of a URL a request's span shows, at most.
const MAX_SHOWN_URL: usize = 1024;
/// Headers a plugin may not set: the transport owns them (and a proxy's
/// credential is the host's).
const TRANSPORT_HEADERS: [&str; 7] = [
    "host",
    "proxy-authorization",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
];

/// Request headers one blob reference may carry.
pub const MAX_BLOB_HEADERS: usize = 16;
/// Bytes the names and values of one blob reference's headers may take.
pub const MAX_BLOB_HEADER_BYTES: usize = 8 << 10;
/// Headers a blob reference may not set: credentials are the host's to add
/// (by its policy, where the credential is bound), and hop-by-hop headers
/// the transport's. A reference asking for one is refused, not trimmed: its
/// plugin is confused or hostile.
const REFUSED_BLOB_HEADERS: [&str; 11] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "host",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// A request as the plugin asked for it.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub timeout: Option<Duration>,
}

/// The final response after retries.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why a request produced no response (mirrors the WIT `http-error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("request denied: {0}")]
    Denied(String),
    #[error("request timed out")]
    Timeout,
    #[error("connection failed: {0}")]
    Connection(String),
    #[error("response larger than the {0}-byte cap")]
    TooLarge(u64),
}

/// Why a blob download failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownloadError {
    /// This blob failed (denied, broken, over a limit): its record fails
    /// and is retried like any failed item.
    #[error("{0}")]
    Blob(String),
    /// The run's download budget is spent: the run stops.
    #[error("{0}")]
    BudgetSpent(String),
}

/// Counters of one client, for progress, run records and benchmarks.
#[derive(Debug, Default)]
pub struct HttpStats {
    /// Requests sent on the wire (every attempt and redirect hop).
    pub requests: AtomicU64,
    /// Attempts that were retries after a transient failure.
    pub retries: AtomicU64,
    /// Responses that were rate limits (waited out).
    pub rate_limited: AtomicU64,
    /// Rate-limit waits that were clamped to `max_wait`.
    pub clamped_waits: AtomicU64,
    /// Requests refused by policy (never sent).
    pub denied: AtomicU64,
    /// Bytes blob downloads received, failed attempts included: what
    /// `max_download_bytes` bounds.
    pub downloaded: AtomicU64,
    /// Bytes of the response bodies handed to the plugin.
    pub received: AtomicU64,
    /// Requests on the wire right now (holding a slot of their host).
    pub in_flight: AtomicU64,
    /// Responses that were `304 Not Modified` (a conditional request
    /// answered from the plugin's cache; GitHub does not count them against
    /// its budget).
    pub not_modified: AtomicU64,
}

/// A wait worth showing: every request to `host` waits until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitNotice {
    pub host: String,
    pub reason: WaitReason,
    pub until: SystemTime,
    pub wait: Duration,
    /// The remote asked for longer, clamped to `retry.max_wait_s`.
    pub clamped: bool,
}

impl HttpStats {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// How a client is set up for one source.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub source: String,
    pub policy: HostPolicy,
    pub credential: Option<Credential>,
    pub concurrency: u32,
    pub requests_per_second: Option<f64>,
    pub retry: RetryPolicy,
    pub max_response_bytes: u64,
    /// Timeout of one attempt of a plugin's request; for a blob download,
    /// the wait for its headers and the longest silence within its body.
    pub request_timeout: Duration,
    pub max_requests: u64,
    /// Largest blob one download may write (`limits.max_blob_mb`).
    pub max_blob_bytes: u64,
    /// Bytes all downloads of the run may receive (`limits.max_download_mb_per_run`).
    pub max_download_bytes: u64,
}

pub struct HttpClient {
    client: reqwest::Client,
    /// Without proxies: for plain http requests that carry the credential
    /// when `HTTP_PROXY` is set (the proxy would read it).
    direct: Option<reqwest::Client>,
    /// The policy forces a proxy: such requests are refused instead.
    forced_proxy: bool,
    options: ClientOptions,
    limiters: HostLimiters,
    pub stats: HttpStats,
    /// The latest wait worth showing (see [`HttpClient::waits`]).
    waits: tokio::sync::watch::Sender<Option<WaitNotice>>,
    /// When the last notice was sent, to show a wait once, not once per
    /// request that meets it.
    last_notice: Mutex<Option<(WaitNotice, std::time::Instant)>>,
}

/// One attempt on the wire: its host's slot, and its place in
/// [`HttpStats::in_flight`], both given back when dropped.
struct InFlight<'a> {
    _permit: Permit<'a>,
    gauge: &'a AtomicU64,
}

impl<'a> InFlight<'a> {
    fn new(permit: Permit<'a>, gauge: &'a AtomicU64) -> InFlight<'a> {
        gauge.fetch_add(1, Ordering::Relaxed);
        InFlight {
            _permit: permit,
            gauge,
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.gauge.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Where a response body goes.
#[derive(Clone, Copy)]
enum Sink<'a> {
    /// Into memory, up to `cap` bytes (responses for the plugin).
    Memory { cap: u64 },
    /// Streamed into a file while hashed (blob downloads, success only).
    File(&'a Download<'a>),
}

/// One blob download: where it goes and how large it may be.
struct Download<'a> {
    dest: &'a Path,
    /// The size the blob reference declared, if any.
    declared: Option<u64>,
    /// `limits.max_blob_mb`.
    max_blob: u64,
    /// The run's download counter and its budget.
    downloaded: &'a AtomicU64,
    budget: u64,
}

impl Download<'_> {
    /// Checks a blob that has (or announces) `size` bytes against its
    /// declared size and the per-blob limit.
    fn check_size(&self, size: u64) -> Result<(), ReadFailure> {
        if let Some(declared) = self.declared.filter(|&declared| size > declared) {
            return Err(ReadFailure::Limit(LimitHit::blob(
                declared,
                format!("the body is larger than the blob's declared size of {declared} bytes"),
            )));
        }
        if size > self.max_blob {
            return Err(ReadFailure::Limit(LimitHit::blob(
                self.max_blob,
                format!(
                    "the blob is larger than limits.max_blob_mb ({} MiB)",
                    self.max_blob >> 20
                ),
            )));
        }
        Ok(())
    }

    /// Counts `bytes` more received against the run's budget.
    fn spend(&self, bytes: u64) -> Result<(), ReadFailure> {
        let total = self.downloaded.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.check_budget(total)
    }

    fn check_budget(&self, total: u64) -> Result<(), ReadFailure> {
        if total > self.budget {
            return Err(ReadFailure::Limit(LimitHit {
                cap: self.budget,
                message: format!(
                    "blob downloads reached limits.max_download_mb_per_run ({} MiB) in this run",
                    self.budget >> 20
                ),
                run: true,
            }));
        }
        Ok(())
    }
}

/// A body read through a [`Sink`].
enum Body {
    Memory(Vec<u8>),
    File {
        sha256: String,
        size: u64,
    },
    /// An error response to a download: not written anywhere.
    Discarded,
}

impl Sink<'_> {
    async fn read(
        self,
        response: reqwest::Response,
        status: StatusCode,
        idle: Duration,
    ) -> Result<Body, ReadFailure> {
        match self {
            Sink::Memory { cap } => read_capped(response, cap, idle).await.map(Body::Memory),
            Sink::File(_) if !status.is_success() => Ok(Body::Discarded),
            Sink::File(download) => {
                let (sha256, size) = stream_to_file(response, download, idle).await?;
                Ok(Body::File { sha256, size })
            }
        }
    }
}

/// A body over one of its limits.
struct LimitHit {
    /// The limit in bytes (what a plugin's `too-large` carries).
    cap: u64,
    /// Says which limit, by its config key.
    message: String,
    /// The run's budget, not this body's own limit: the run stops.
    run: bool,
}

impl LimitHit {
    fn blob(cap: u64, message: String) -> LimitHit {
        LimitHit {
            cap,
            message,
            run: false,
        }
    }
}

/// What went wrong while reading a response body.
enum ReadFailure {
    /// The connection broke or stalled mid-body, or the body ended short:
    /// worth a retry for idempotent requests.
    Io(String),
    /// Final: the body could not be stored.
    Final(HttpError),
    /// Final: the body is over a limit.
    Limit(LimitHit),
}

/// Why one attempt failed in [`HttpClient::execute`].
enum Failure {
    Http(HttpError),
    Limit(LimitHit),
}

/// What the attempts of one request came to, for its span.
#[derive(Debug, Default)]
struct Tally {
    /// Attempts that were retries after a transient failure.
    retries: u32,
    /// Rate-limit answers waited out.
    rate_limit_waits: u32,
    /// The status of the last response, if any came.
    status: Option<StatusCode>,
}

impl Tally {
    /// Ends `span` with the request's outcome: its last status, its retries
    /// and waits, and `error.type` (the status of a 4xx or 5xx, else the
    /// kind of failure) with an error status when it failed. Integers as
    /// `i64`: the OpenTelemetry bridge exports `u64` fields as strings.
    fn record<T>(&self, span: &tracing::Span, outcome: &Result<T, Failure>) {
        if let Some(status) = self.status {
            span.record("http.response.status_code", i64::from(status.as_u16()));
        }
        span.record("http.request.resend_count", i64::from(self.retries));
        span.record(
            "synchost.http.rate_limit_waits",
            i64::from(self.rate_limit_waits),
        );
        let error = match outcome {
            Ok(_) => self
                .status
                .filter(|status| status.is_client_error() || status.is_server_error())
                .map(|status| status.as_str().to_string()),
            Err(Failure::Limit(_)) | Err(Failure::Http(HttpError::TooLarge(_))) => {
                Some("too_large".to_string())
            }
            Err(Failure::Http(HttpError::Denied(_))) => Some("denied".to_string()),
            Err(Failure::Http(HttpError::Timeout)) => Some("timeout".to_string()),
            Err(Failure::Http(HttpError::Connection(_))) => Some("connection".to_string()),
        };
        if let Some(error) = error {
            span.record("error.type", error.as_str());
            span.record("otel.status_code", "ERROR");
        }
    }
}

/// Why [`HttpClient::send_following`] got no response.
enum SendFailure {
    /// A redirect the policy refused.
    Denied(String),
    /// The transport failed; `connect` when the request never reached the server.
    Transport { error: HttpError, connect: bool },
    /// The server's certificate is not trusted: no retry will change that.
    Certificate(String),
}

impl HttpClient {
    /// A client with limiters of its own, going direct and trusting the
    /// bundled roots only.
    pub fn new(options: ClientOptions) -> anyhow::Result<HttpClient> {
        HttpClient::with_limiters(options, HostLimiters::default(), &Network::default())
    }

    /// A client whose per-host limiters are `limiters`, shared with the
    /// other clients made with them, reaching the network as `network` says
    /// (proxies, extra certificate authorities).
    pub fn with_limiters(
        options: ClientOptions,
        limiters: HostLimiters,
        network: &Network,
    ) -> anyhow::Result<HttpClient> {
        let build = |direct: bool| -> anyhow::Result<reqwest::Client> {
            let builder = reqwest::Client::builder()
                .user_agent(concat!("synchost/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(10))
                .pool_max_idle_per_host(options.concurrency as usize * 2)
                // Redirects are followed by `send_following`, through the policy.
                .redirect(reqwest::redirect::Policy::none());
            Ok(network
                .configure(builder, direct)
                .map_err(crate::error::usage)?
                .build()?)
        };
        let client = build(false)?;
        let direct =
            match network.proxies_http() && options.credential.is_some() && !network.forced() {
                true => Some(build(true)?),
                false => None,
            };
        if options.credential.as_ref().is_some_and(|c| !c.redactable()) {
            tracing::warn!(
                source = %options.source,
                "the credential (or its password) is shorter than {MIN_REDACTED} bytes, too short \
                 to be told apart from ordinary text: responses that echo it are not redacted; \
                 use a longer secret"
            );
        }
        Ok(HttpClient {
            client,
            direct,
            forced_proxy: network.forced(),
            options,
            limiters,
            stats: HttpStats::default(),
            waits: tokio::sync::watch::channel(None).0,
            last_notice: Mutex::new(None),
        })
    }

    /// Waits of a second or more as they start (rate limits, pacing), to
    /// show them: the receiver sees the latest.
    pub fn waits(&self) -> tokio::sync::watch::Receiver<Option<WaitNotice>> {
        self.waits.subscribe()
    }

    /// Tells of a wait unless it is short or already told: the same reason
    /// ending no later than a second after the last notice (the other
    /// requests meeting the same limit), or pacing told recently.
    fn notice(&self, host: &str, reason: WaitReason, wait: Duration, clamped: bool) {
        if wait < NOTICE_MIN_WAIT {
            return;
        }
        let until = SystemTime::now() + wait;
        let mut last = self.last_notice.lock().unwrap();
        let told = last.as_ref().is_some_and(|(notice, at)| {
            notice.host == host
                && notice.reason == reason
                && (until <= notice.until + NOTICE_MIN_WAIT
                    || (reason == WaitReason::Pacing && at.elapsed() < PACING_NOTICE_EVERY))
        });
        if told {
            return;
        }
        let notice = WaitNotice {
            host: host.to_string(),
            reason,
            until,
            wait,
            clamped,
        };
        tracing::debug!(source = %self.options.source, host, reason = reason.name(), wait_ms = wait.as_millis() as u64, "waiting");
        *last = Some((notice.clone(), std::time::Instant::now()));
        self.waits.send_replace(Some(notice));
    }

    /// The source this client serves.
    pub fn source(&self) -> &str {
        &self.options.source
    }

    /// Sends a plugin's request under the source's policy.
    pub async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        self.send_within(request, self.options.max_response_bytes)
            .await
    }

    /// Replaces the source's credential, and its likely encodings, in
    /// `bytes` (text a plugin wrote) with `[REDACTED]`; true if any.
    pub fn redact(&self, bytes: &mut Vec<u8>) -> bool {
        self.options
            .credential
            .as_ref()
            .is_some_and(|credential| credential.redact(bytes))
    }

    /// Requests at once per host, at most.
    pub fn concurrency(&self) -> u32 {
        self.options.concurrency
    }

    /// The largest response body [`HttpClient::send`] accepts.
    pub fn max_response_bytes(&self) -> u64 {
        self.options.max_response_bytes
    }

    /// [`HttpClient::send`] with a body cap of at most `cap` bytes (the
    /// rest of a batch's budget); a longer body is `too-large(cap)`.
    pub async fn send_within(
        &self,
        request: HttpRequest,
        cap: u64,
    ) -> Result<HttpResponse, HttpError> {
        let (method, url, admission) = self.admit(&request.method, &request.url)?;
        let headers = self.request_headers(&request.headers)?;
        let timeout = request.timeout.map_or(self.options.request_timeout, |t| {
            t.min(self.options.request_timeout)
        });
        let cap = cap.min(self.options.max_response_bytes);
        let (status, mut headers, body) = self
            .execute(
                &method,
                &url,
                admission,
                &headers,
                request.body.as_deref(),
                timeout,
                Sink::Memory { cap },
            )
            .await
            .map_err(|failure| match failure {
                Failure::Http(error) => error,
                Failure::Limit(hit) => HttpError::TooLarge(hit.cap),
            })?;
        let Body::Memory(mut body) = body else {
            unreachable!("a memory sink yields a memory body")
        };
        if let Some(credential) = &self.options.credential {
            if credential.redact(&mut body) {
                tracing::warn!(source = %self.options.source, url = %Untrusted::new(url.as_str()), "the response echoed the credential; redacted before the plugin saw it");
            }
            for (_, value) in headers.iter_mut() {
                let mut bytes = std::mem::take(value).into_bytes();
                credential.redact(&mut bytes);
                *value = String::from_utf8_lossy(&bytes).into_owned();
            }
        }
        Ok(HttpResponse {
            status: status.as_u16(),
            headers: std::mem::take(&mut headers),
            body,
        })
    }

    /// Downloads `url` into the file `dest`, hashing as it streams. Returns the
    /// sha256 (hex) and size. The body never sits in memory as a whole; it
    /// may not exceed `declared` (the blob reference's size) nor
    /// `limits.max_blob_mb`, must not stall longer than the request timeout,
    /// and counts against the run's download budget. `dest` may be left
    /// partly written on failure: the caller removes it.
    ///
    /// `headers` are the blob reference's own (see [`blob_headers`]): a
    /// reference with a refused one is denied, with a warning, unsent.
    pub async fn download(
        &self,
        url: &str,
        headers: &[(String, String)],
        declared: Option<u64>,
        dest: &Path,
    ) -> Result<(String, u64), DownloadError> {
        let blob_error = |error: HttpError| DownloadError::Blob(error.to_string());
        let (method, url, admission) = self.admit("GET", url).map_err(blob_error)?;
        let credential = self.options.credential.as_ref();
        let headers =
            blob_headers(headers, credential).map_err(|why| blob_error(self.deny(why)))?;
        let download = Download {
            dest,
            declared,
            max_blob: self.options.max_blob_bytes,
            downloaded: &self.stats.downloaded,
            budget: self.options.max_download_bytes,
        };
        let refused = |failure| match failure {
            ReadFailure::Limit(hit) if hit.run => DownloadError::BudgetSpent(hit.message),
            ReadFailure::Limit(hit) => DownloadError::Blob(hit.message),
            ReadFailure::Io(message) => DownloadError::Blob(message),
            ReadFailure::Final(error) => blob_error(error),
        };
        // Refused before a byte is sent: a declared size over the limit, a spent budget.
        download
            .check_size(declared.unwrap_or(0))
            .map_err(refused)?;
        download
            .check_budget(HttpStats::get(download.downloaded))
            .map_err(refused)?;
        let outcome = self
            .execute(
                &method,
                &url,
                admission,
                &headers,
                None,
                self.options.request_timeout,
                Sink::File(&download),
            )
            .await;
        match outcome {
            Ok((status, _, Body::File { sha256, size })) if status.is_success() => {
                Ok((sha256, size))
            }
            Ok((status, ..)) => Err(DownloadError::Blob(format!(
                "download answered HTTP {status}"
            ))),
            Err(Failure::Http(error)) => Err(blob_error(error)),
            Err(Failure::Limit(hit)) => Err(refused(ReadFailure::Limit(hit))),
        }
    }

    /// Policy checks done before anything is sent.
    fn admit(&self, method: &str, url: &str) -> Result<(Method, Url, Admission), HttpError> {
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| self.deny(format!("invalid method `{}`", Untrusted::new(method))))?;
        let (url, admission) = self.options.policy.check(url).map_err(|why| {
            self.deny(format!(
                "{why} (allowed: {})",
                self.options.policy.describe()
            ))
        })?;
        let credential = admission.credential && self.options.credential.is_some();
        if self.forced_proxy && credential && url.scheme() == "http" {
            return Err(self.deny(format!(
                "`{}` would carry the credential over plain http, and the policy forces \
                 every request through its proxy, which would read it: use https",
                url.origin().ascii_serialization()
            )));
        }
        if HttpStats::get(&self.stats.requests) >= self.options.max_requests {
            return Err(self.deny(format!(
                "the run's budget of {} requests is spent",
                self.options.max_requests
            )));
        }
        Ok((method, url, admission))
    }

    /// Counts and logs a request refused by policy.
    fn deny(&self, why: String) -> HttpError {
        self.stats.denied.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(source = %self.options.source, "request denied: {}", Untrusted::new(&why));
        HttpError::Denied(why)
    }

    /// The plugin's headers, minus those the transport owns and the
    /// credential's (which only the host sets, where the policy allows).
    fn request_headers(&self, pairs: &[(String, String)]) -> Result<HeaderMap, HttpError> {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            let name = HeaderName::try_from(name.as_str()).map_err(|_| {
                HttpError::Denied(format!("invalid header name `{}`", Untrusted::new(name)))
            })?;
            if TRANSPORT_HEADERS.contains(&name.as_str()) {
                continue;
            }
            let value = HeaderValue::try_from(value.as_str())
                .map_err(|_| HttpError::Denied(format!("invalid value for header `{name}`")))?;
            headers.append(name, value);
        }
        if let Some(credential) = &self.options.credential {
            for (name, _) in credential.headers() {
                headers.remove(name);
            }
        }
        Ok(headers)
    }

    /// The limiter of `url`'s host and port (one service, usually).
    fn limiter(&self, url: &Url) -> Arc<HostLimiter> {
        let host = url.host_str().unwrap_or_default();
        self.limiters.of(
            &format!("{host}:{}", url.port_or_known_default().unwrap_or(0)),
            self.options.concurrency,
            self.options.requests_per_second,
        )
    }

    /// One attempt: sends the request and follows its redirects here, not
    /// in reqwest, so every hop is admitted by the same policy and carries
    /// the credential only where [`HostPolicy::admit`] says so. A hop to
    /// another origin never carries it, and a hop from https to plain http
    /// is refused. `timeout` bounds each hop until its headers; a memory
    /// sink's hops are bounded as a whole (`whole`).
    #[allow(clippy::too_many_arguments)]
    async fn send_following(
        &self,
        method: &Method,
        url: &Url,
        admission: Admission,
        headers: &HeaderMap,
        body: Option<&[u8]>,
        timeout: Duration,
        whole: bool,
    ) -> Result<reqwest::Response, SendFailure> {
        let origin = url.origin();
        let (mut method, mut url, mut body) = (method.clone(), url.clone(), body);
        let mut credential = admission.credential;
        for hop in 0..=MAX_REDIRECTS {
            if hop > 0 {
                self.stats.requests.fetch_add(1, Ordering::Relaxed);
            }
            let mut hop_headers = headers.clone();
            if let Some(secret) = self.options.credential.as_ref().filter(|_| credential) {
                for (name, value) in secret.headers() {
                    hop_headers.insert(name.clone(), value.clone());
                }
            }
            let client = match (&self.direct, credential && url.scheme() == "http") {
                (Some(direct), true) => direct,
                _ => &self.client,
            };
            let mut builder = client
                .request(method.clone(), url.clone())
                .headers(hop_headers);
            if whole {
                builder = builder.timeout(timeout);
            }
            if let Some(body) = body {
                builder = builder.body(body.to_vec());
            }
            let response = match tokio::time::timeout(timeout, builder.send()).await {
                Ok(Ok(response)) => response,
                Ok(Err(error)) => {
                    if let Some(problem) = certificate_problem(&error) {
                        return Err(SendFailure::Certificate(format!(
                            "the TLS certificate of {} is not trusted: {problem}; if a proxy \
                             or a private CA signed it, trust that CA with [network] ca_file \
                             or SSL_CERT_FILE",
                            url.host_str().unwrap_or_default()
                        )));
                    }
                    return Err(SendFailure::Transport {
                        connect: error.is_connect(),
                        error: classify(&error),
                    });
                }
                Err(_) => {
                    return Err(SendFailure::Transport {
                        error: HttpError::Timeout,
                        connect: false,
                    })
                }
            };
            let status = response.status();
            let location = response.headers().get(LOCATION);
            let (true, Some(location)) = (
                matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308),
                location,
            ) else {
                return Ok(response);
            };
            let refused = |why: String| {
                self.stats.denied.fetch_add(1, Ordering::Relaxed);
                let why = format!("redirect refused: {why}");
                tracing::warn!(source = %self.options.source, "{}", Untrusted::new(&why));
                SendFailure::Denied(why)
            };
            let next = location
                .to_str()
                .ok()
                .and_then(|location| url.join(location).ok())
                .ok_or_else(|| refused("its Location is not a URL".to_string()))?;
            if hop == MAX_REDIRECTS {
                return Err(refused(format!("more than {MAX_REDIRECTS} redirects")));
            }
            if url.scheme() == "https" && next.scheme() == "http" {
                return Err(refused(format!(
                    "`{}` would leave https for plain http",
                    Untrusted::new(next.as_str())
                )));
            }
            let admitted = self.options.policy.admit(&next).map_err(|why| {
                refused(format!(
                    "{why} (allowed: {}){}",
                    self.options.policy.describe(),
                    upgrade_hint(&url, &next)
                ))
            })?;
            credential = admitted.credential && next.origin() == origin;
            // As browsers do: 303, and 301/302 after a POST, become a GET.
            if status == StatusCode::SEE_OTHER || (method == Method::POST && status.as_u16() <= 302)
            {
                method = Method::GET;
                body = None;
            }
            url = next;
        }
        unreachable!("the last hop returns or is refused")
    }

    /// One request, retries included, in an `http.request` span (see
    /// [`request_span`]) that ends with its status and retry count.
    #[allow(clippy::too_many_arguments)]
    async fn execute(
        &self,
        method: &Method,
        url: &Url,
        admission: Admission,
        headers: &HeaderMap,
        body: Option<&[u8]>,
        timeout: Duration,
        sink: Sink<'_>,
    ) -> Result<(StatusCode, Vec<(String, String)>, Body), Failure> {
        // Not entered: nothing under it makes spans, and entering it on
        // every poll would only cost time.
        let span = self.request_span(method, url, sink);
        let mut tally = Tally::default();
        let outcome = self
            .attempts(
                method, url, admission, headers, body, timeout, sink, &mut tally,
            )
            .await;
        if let Ok((_, _, Body::Memory(body))) = &outcome {
            self.stats
                .received
                .fetch_add(body.len() as u64, Ordering::Relaxed);
        }
        if !span.is_disabled() {
            tally.record(&span, &outcome);
        }
        outcome
    }

    /// The span of one request: method, URL without its query string (which
    /// often carries tokens, emails or search terms) nor user info, the
    /// server, and what the request is for. Never a header or a body. The
    /// path is kept with the source's credential redacted from it.
    fn request_span(&self, method: &Method, url: &Url, sink: Sink<'_>) -> tracing::Span {
        tracing::info_span!(
            "http.request",
            otel.name = %method,
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            http.request.method = %method,
            url.full = %self.shown_url(url),
            server.address = url.host_str().unwrap_or_default(),
            server.port = i64::from(url.port_or_known_default().unwrap_or(0)),
            synchost.source = %self.options.source,
            synchost.http.purpose = match sink {
                Sink::Memory { .. } => "plugin",
                Sink::File(_) => "blob",
            },
            http.response.status_code = tracing::field::Empty,
            http.request.resend_count = tracing::field::Empty,
            synchost.http.rate_limit_waits = tracing::field::Empty,
            error.type = tracing::field::Empty,
        )
    }

    /// `url` as a span shows it: scheme, host, port and path, the
    /// credential redacted, clipped to [`MAX_SHOWN_URL`] bytes.
    fn shown_url(&self, url: &Url) -> String {
        let mut shown = url.clone();
        shown.set_query(None);
        shown.set_fragment(None);
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        let mut bytes = String::from(shown).into_bytes();
        self.redact(&mut bytes);
        let mut shown = String::from_utf8_lossy(&bytes).into_owned();
        if shown.len() > MAX_SHOWN_URL {
            let mut end = MAX_SHOWN_URL;
            while !shown.is_char_boundary(end) {
                end -= 1;
            }
            shown.truncate(end);
        }
        shown
    }

    /// The attempt loop: pace, send, classify, wait, repeat.
    #[allow(clippy::too_many_arguments)]
    async fn attempts(
        &self,
        method: &Method,
        url: &Url,
        admission: Admission,
        headers: &HeaderMap,
        body: Option<&[u8]>,
        timeout: Duration,
        sink: Sink<'_>,
        tally: &mut Tally,
    ) -> Result<(StatusCode, Vec<(String, String)>, Body), Failure> {
        let limiter = self.limiter(url);
        let host = url.host_str().unwrap_or_default();
        let retry = &self.options.retry;
        let idempotent = is_idempotent(method);
        let whole = matches!(sink, Sink::Memory { .. });
        let Tally {
            retries: failures,
            rate_limit_waits,
            status: last_status,
        } = tally;
        let mut unnamed_waits = 0u32;
        loop {
            let paced = |wait| self.notice(host, WaitReason::Pacing, wait, false);
            let permit = InFlight::new(limiter.acquire(paced).await, &self.stats.in_flight);
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let started = std::time::Instant::now();
            let outcome = self
                .send_following(method, url, admission, headers, body, timeout, whole)
                .await;
            let failure = match outcome {
                Ok(response) => {
                    let status = response.status();
                    *last_status = Some(status);
                    let response_headers = response.headers().clone();
                    observe_budget(&limiter, &response_headers);
                    // A status that may be a rate limit is read whole first:
                    // GitHub's secondary limit is known by its body.
                    let (response, read) = if may_be_rate_limit(status) {
                        (None, Some(read_error_body(response, sink, timeout).await))
                    } else {
                        (Some(response), None)
                    };
                    let early = match read {
                        None => None,
                        Some(Ok(body)) => Some(body),
                        Some(Err(ReadFailure::Final(error))) => return Err(Failure::Http(error)),
                        Some(Err(ReadFailure::Limit(hit))) => return Err(Failure::Limit(hit)),
                        Some(Err(ReadFailure::Io(message))) => {
                            drop(permit);
                            let error = HttpError::Connection(message);
                            if !idempotent || *failures >= retry.max_retries {
                                return Err(Failure::Http(error));
                            }
                            *failures += 1;
                            self.stats.retries.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(retry.backoff(*failures - 1)).await;
                            continue;
                        }
                    };
                    let limit = early.as_deref().and_then(|body| {
                        rate_limit(status, &response_headers, body, SystemTime::now())
                    });
                    if let Some(limit) = limit {
                        self.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                        // A 429 means the server refused before acting, so even
                        // non-idempotent requests may repeat.
                        let may_repeat = idempotent || status == StatusCode::TOO_MANY_REQUESTS;
                        if may_repeat && *rate_limit_waits < MAX_RATE_LIMIT_WAITS {
                            drop(permit);
                            *rate_limit_waits += 1;
                            // A wait the remote did not name grows on repeats
                            // (GitHub: "an exponentially increasing amount").
                            let asked = if limit.named {
                                limit.wait
                            } else {
                                unnamed_waits += 1;
                                limit
                                    .wait
                                    .saturating_mul(1u32 << (unnamed_waits - 1).min(10))
                            };
                            let (wait, clamped) = retry.clamp_wait(asked);
                            if clamped {
                                self.stats.clamped_waits.fetch_add(1, Ordering::Relaxed);
                                tracing::warn!(source = %self.options.source, "the remote asked to wait longer than {}s; waiting {}s", retry.max_wait.as_secs(), wait.as_secs());
                            }
                            // Repeated limits back off further, with jitter.
                            let wait = wait + retry.backoff(rate_limit_waits.saturating_sub(1));
                            tracing::debug!(source = %self.options.source, %url, "rate limited ({status}, {}); waiting {wait:?}", limit.reason.name());
                            self.notice(host, limit.reason, wait, clamped);
                            limiter.rate_limited(wait);
                            continue;
                        }
                        // Out of patience: the plugin gets the answer itself.
                    } else if response_headers
                        .get("x-ratelimit-nearlimit")
                        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"))
                    {
                        limiter.near_limit(
                            header_u64(&response_headers, "x-ratelimit-remaining"),
                            header_u64(&response_headers, "x-ratelimit-limit"),
                        );
                    } else if !status.is_server_error() {
                        limiter.healthy();
                    }
                    if is_transient_status(status) && idempotent && *failures < retry.max_retries {
                        drop(permit);
                        *failures += 1;
                        self.stats.retries.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(source = %self.options.source, %url, "HTTP {status}; retry {failures}");
                        tokio::time::sleep(retry.backoff(*failures - 1)).await;
                        continue;
                    }
                    if status == StatusCode::NOT_MODIFIED {
                        self.stats.not_modified.fetch_add(1, Ordering::Relaxed);
                    }
                    let headers = response_headers_vec(&response_headers);
                    let read = match (response, early) {
                        (_, Some(body)) if whole => Ok(Body::Memory(body)),
                        (_, Some(_)) => Ok(Body::Discarded),
                        (Some(response), None) => sink.read(response, status, timeout).await,
                        (None, None) => unreachable!("a response is read or kept"),
                    };
                    match read {
                        Ok(body) => {
                            tracing::trace!(source = %self.options.source, %method, %url, %status, ms = started.elapsed().as_millis() as u64, "response");
                            return Ok((status, headers, body));
                        }
                        Err(ReadFailure::Final(error)) => return Err(Failure::Http(error)),
                        Err(ReadFailure::Limit(hit)) => return Err(Failure::Limit(hit)),
                        // The request reached the server: only idempotent ones repeat.
                        Err(ReadFailure::Io(message)) if !idempotent => {
                            return Err(Failure::Http(HttpError::Connection(message)))
                        }
                        Err(ReadFailure::Io(message)) => HttpError::Connection(message),
                    }
                }
                Err(SendFailure::Denied(why)) => return Err(Failure::Http(HttpError::Denied(why))),
                Err(SendFailure::Certificate(why)) => {
                    tracing::warn!(source = %self.options.source, "{why}");
                    return Err(Failure::Http(HttpError::Connection(why)));
                }
                // Connect errors never reached the server; anything else may have.
                Err(SendFailure::Transport { error, connect }) => {
                    if !(idempotent || connect) {
                        return Err(Failure::Http(error));
                    }
                    error
                }
            };
            drop(permit);
            if *failures >= retry.max_retries {
                return Err(Failure::Http(failure));
            }
            *failures += 1;
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(source = %self.options.source, %url, "{failure}; retry {failures}");
            tokio::time::sleep(retry.backoff(*failures - 1)).await;
        }
    }
}

/// An error response's body, read whole: up to the sink's cap for a
/// plugin's request, up to [`ERROR_BODY_CAP`] of a download's (a longer
/// one reads as empty: it is discarded anyway).
async fn read_error_body(
    response: reqwest::Response,
    sink: Sink<'_>,
    idle: Duration,
) -> Result<Vec<u8>, ReadFailure> {
    match sink {
        Sink::Memory { cap } => read_capped(response, cap, idle).await,
        Sink::File(_) => match read_capped(response, ERROR_BODY_CAP, idle).await {
            Err(ReadFailure::Limit(_)) => Ok(Vec::new()),
            other => other,
        },
    }
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Hands the host's limiter the budget a response states (GitHub's
/// `x-ratelimit-remaining`, `-limit` and `-reset`), if it states all three.
fn observe_budget(limiter: &HostLimiter, headers: &HeaderMap) {
    let (Some(remaining), Some(limit)) = (
        header_u64(headers, "x-ratelimit-remaining"),
        header_u64(headers, "x-ratelimit-limit"),
    ) else {
        return;
    };
    let reset = headers
        .get("x-ratelimit-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_reset(v, SystemTime::now()));
    if let Some(reset_in) = reset {
        limiter.budget(remaining, limit, reset_in);
    }
}

fn response_headers_vec(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

fn classify(error: &reqwest::Error) -> HttpError {
    if error.is_timeout() {
        HttpError::Timeout
    } else {
        let mut message = error.without_url_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            message = format!("{message}: {cause}");
            source = cause.source();
        }
        HttpError::Connection(message)
    }
}

/// When a plain-http request is redirected to https on the same host (a
/// server that moved to https, as most have), the advice to say so in
/// `base_url`; otherwise nothing.
fn upgrade_hint(from: &Url, to: &Url) -> String {
    if from.scheme() == "http" && to.scheme() == "https" && from.host_str() == to.host_str() {
        format!(
            "; the server redirects plain http to https: use `{}` in base_url",
            Untrusted::new(&to.origin().ascii_serialization())
        )
    } else {
        String::new()
    }
}

/// What is wrong with the server's certificate, when that is why `error`
/// happened: rustls's error, found among the causes, where an `io::Error`
/// hides what it wraps from `source()`.
fn certificate_problem(error: &reqwest::Error) -> Option<String> {
    let mut causes: Vec<&(dyn std::error::Error + 'static)> = vec![error];
    while let Some(cause) = causes.pop() {
        if let Some(tls @ rustls::Error::InvalidCertificate(_)) = cause.downcast_ref() {
            return Some(tls.to_string());
        }
        if let Some(inner) = cause
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            causes.push(inner);
        }
        causes.extend(cause.source());
    }
    None
}

trait WithoutUrl {
    fn without_url_string(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_string(&self) -> String {
        if self.is_connect() {
            "cannot connect".to_string()
        } else if self.is_body() || self.is_decode() {
            "error reading the response body".to_string()
        } else {
            "request failed".to_string()
        }
    }
}

/// The next chunk of `response`; a broken connection, or `idle` without a
/// byte, is a failure worth a retry.
async fn next_chunk(
    response: &mut reqwest::Response,
    idle: Duration,
) -> Result<Option<impl std::ops::Deref<Target = [u8]>>, ReadFailure> {
    match tokio::time::timeout(idle, response.chunk()).await {
        Ok(chunk) => chunk.map_err(|e| ReadFailure::Io(classify_message(&e))),
        Err(_) => Err(ReadFailure::Io(format!(
            "the body stalled: no data for {}s (limits.request_timeout_s)",
            idle.as_secs_f64()
        ))),
    }
}

async fn read_capped(
    mut response: reqwest::Response,
    cap: u64,
    idle: Duration,
) -> Result<Vec<u8>, ReadFailure> {
    let over = || {
        ReadFailure::Limit(LimitHit::blob(
            cap,
            format!("the response is larger than limits.max_response_mb ({cap} bytes)"),
        ))
    };
    if response.content_length().is_some_and(|len| len > cap) {
        return Err(over());
    }
    let mut body = Vec::with_capacity(response.content_length().unwrap_or(0).min(1 << 20) as usize);
    while let Some(chunk) = next_chunk(&mut response, idle).await? {
        if body.len() as u64 + chunk.len() as u64 > cap {
            return Err(over());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Streams a download's body into its file while hashing it, within the
/// download's limits: a `Content-Length` over them is refused before a byte
/// is written, a body is stopped as soon as it passes them, and one that
/// ends short of its declared size is truncated (a retry may complete it).
async fn stream_to_file(
    mut response: reqwest::Response,
    download: &Download<'_>,
    idle: Duration,
) -> Result<(String, u64), ReadFailure> {
    let dest = download.dest;
    let io = |e: std::io::Error| {
        ReadFailure::Final(HttpError::Connection(format!(
            "cannot write {}: {e}",
            dest.display()
        )))
    };
    if let Some(announced) = response.content_length() {
        download.check_size(announced)?;
        download.check_budget(HttpStats::get(download.downloaded).saturating_add(announced))?;
    }
    let mut file = tokio::fs::File::create(dest).await.map_err(io)?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = next_chunk(&mut response, idle).await? {
        size += chunk.len() as u64;
        download.spend(chunk.len() as u64)?;
        download.check_size(size)?;
        hasher.update(&*chunk);
        file.write_all(&chunk).await.map_err(io)?;
    }
    if let Some(declared) = download.declared.filter(|&declared| size < declared) {
        return Err(ReadFailure::Io(format!(
            "the body ended after {size} of its declared {declared} bytes"
        )));
    }
    file.sync_all().await.map_err(io)?;
    Ok((hex::encode(hasher.finalize()), size))
}

fn classify_message(error: &reqwest::Error) -> String {
    match classify(error) {
        HttpError::Connection(message) | HttpError::Denied(message) => message,
        other => other.to_string(),
    }
}

/// The request headers a blob reference asks for, or why they are refused:
/// more than [`MAX_BLOB_HEADERS`] or [`MAX_BLOB_HEADER_BYTES`], a name or
/// value that is not a valid header, a credential or hop-by-hop header
/// ([`REFUSED_BLOB_HEADERS`]), or a header of the source's credential
/// (`credential`).
pub fn blob_headers(
    pairs: &[(String, String)],
    credential: Option<&Credential>,
) -> Result<HeaderMap, String> {
    if pairs.len() > MAX_BLOB_HEADERS {
        return Err(format!(
            "the blob reference asks for {} request headers, more than {MAX_BLOB_HEADERS}",
            pairs.len()
        ));
    }
    let bytes: usize = pairs
        .iter()
        .map(|(name, value)| name.len() + value.len())
        .sum();
    if bytes > MAX_BLOB_HEADER_BYTES {
        return Err(format!(
            "the blob reference's request headers take {bytes} bytes, more than {} KiB",
            MAX_BLOB_HEADER_BYTES >> 10
        ));
    }
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        let shown = Untrusted::new(name);
        let name = HeaderName::try_from(name.as_str())
            .map_err(|_| format!("the blob reference's header name `{shown}` is not valid"))?;
        if REFUSED_BLOB_HEADERS.contains(&name.as_str()) {
            return Err(format!(
                "the blob reference sets `{name}`, which only the host sets \
                 (credentials and hop-by-hop headers)"
            ));
        }
        if credential.is_some_and(|credential| credential.sets(&name)) {
            return Err(format!(
                "the blob reference sets `{name}`, the header of the source's credential, \
                 which only the host adds"
            ));
        }
        let value = HeaderValue::try_from(value.as_str())
            .map_err(|_| format!("the blob reference's value for header `{name}` is not valid"))?;
        headers.append(name, value);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn blob_headers_pass_what_an_api_needs() {
        let headers = blob_headers(
            &pairs(&[
                ("Accept", "application/octet-stream"),
                ("X-Version", "3"),
                ("x-version", "4"),
            ]),
            None,
        )
        .expect("allowed");
        assert_eq!(headers["accept"], "application/octet-stream");
        let versions: Vec<_> = headers.get_all("x-version").iter().collect();
        assert_eq!(versions, ["3", "4"]);
        assert!(blob_headers(&[], None).expect("none").is_empty());
    }

    #[test]
    fn blob_headers_never_carry_credentials_or_hop_by_hop_headers() {
        for name in REFUSED_BLOB_HEADERS {
            for spelled in [name.to_string(), name.to_ascii_uppercase()] {
                let why = blob_headers(&pairs(&[("accept", "*/*"), (&spelled, "x")]), None)
                    .expect_err(&spelled);
                assert!(why.contains(&format!("`{name}`")), "{why}");
            }
        }
        let key = Credential::header("x-api-key", "secret-value").unwrap();
        let why = blob_headers(&pairs(&[("X-Api-Key", "guess")]), Some(&key)).unwrap_err();
        assert!(why.contains("credential"), "{why}");
        assert!(blob_headers(&pairs(&[("x-api-key", "v")]), None).is_ok());
        let supabase = Credential::supabase("project-key-123", None);
        let why = blob_headers(&pairs(&[("apikey", "guess")]), Some(&supabase)).unwrap_err();
        assert!(why.contains("credential"), "{why}");
    }

    #[test]
    fn blob_headers_must_be_valid_and_bounded() {
        let why = blob_headers(&pairs(&[("bad name", "x")]), None).unwrap_err();
        assert!(
            why.contains("`bad name`") && why.contains("not valid"),
            "{why}"
        );
        let why = blob_headers(&pairs(&[("x\u{1b}[2J", "x")]), None).unwrap_err();
        assert!(!why.contains('\u{1b}'), "escaped: {why}");
        for value in ["a\r\nInjected: 1", "a\nb", "nul\0"] {
            let why = blob_headers(&pairs(&[("x-ok", value)]), None).unwrap_err();
            assert!(why.contains("value for header `x-ok`"), "{why}");
        }
        let many: Vec<_> = (0..=MAX_BLOB_HEADERS)
            .map(|n| (format!("x-h{n}"), "v".to_string()))
            .collect();
        assert!(blob_headers(&many[..MAX_BLOB_HEADERS], None).is_ok());
        let why = blob_headers(&many, None).unwrap_err();
        assert!(why.contains("17 request headers"), "{why}");
        let fits = "v".repeat(MAX_BLOB_HEADER_BYTES - 5);
        assert!(blob_headers(&pairs(&[("x-big", &fits)]), None).is_ok());
        let over = "v".repeat(MAX_BLOB_HEADER_BYTES - 4);
        let why = blob_headers(&pairs(&[("x-big", &over)]), None).unwrap_err();
        assert!(why.contains("8 KiB"), "{why}");
    }
}
