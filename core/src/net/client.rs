//! The one HTTP client of a source: every request a plugin makes and every
//! blob the host downloads goes through [`HttpClient`], which applies the
//! allowlist, injects the credential, paces per host, and retries.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use url::Url;

use super::limiter::HostLimiter;
use super::retry::{is_idempotent, is_transient_status, rate_limit_wait};
use super::{Credential, HostPolicy, RetryPolicy};

/// Rate-limit waits one request may sit through before its 429 is returned.
const MAX_RATE_LIMIT_WAITS: u32 = 20;
/// Timeout for one blob download (blobs can be large; they stream to disk).
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Headers a plugin may not set: the transport owns them.
const TRANSPORT_HEADERS: [&str; 6] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
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

/// Counters of one client, for progress, run records and benchmarks.
#[derive(Debug, Default)]
pub struct HttpStats {
    /// Requests sent on the wire (every attempt).
    pub requests: AtomicU64,
    /// Attempts that were retries after a transient failure.
    pub retries: AtomicU64,
    /// Responses that were rate limits (waited out).
    pub rate_limited: AtomicU64,
    /// Rate-limit waits that were clamped to `max_wait`.
    pub clamped_waits: AtomicU64,
    /// Requests refused by policy (never sent).
    pub denied: AtomicU64,
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
    pub request_timeout: Duration,
    pub max_requests: u64,
}

pub struct HttpClient {
    client: reqwest::Client,
    options: ClientOptions,
    limiters: Mutex<HashMap<String, Arc<HostLimiter>>>,
    pub stats: HttpStats,
}

/// Where a response body goes.
#[derive(Clone, Copy)]
enum Sink<'a> {
    /// Into memory, up to `cap` bytes (responses for the plugin).
    Memory { cap: u64 },
    /// Streamed into a file while hashed (blob downloads, success only).
    File(&'a Path),
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
    ) -> Result<Body, ReadFailure> {
        match self {
            Sink::Memory { cap } => read_capped(response, cap).await.map(Body::Memory),
            Sink::File(_) if !status.is_success() => Ok(Body::Discarded),
            Sink::File(dest) => {
                let (sha256, size) = stream_to_file(response, dest).await?;
                Ok(Body::File { sha256, size })
            }
        }
    }
}

/// What went wrong while reading a response body.
enum ReadFailure {
    /// The connection broke mid-body: worth a retry for idempotent requests.
    Io(String),
    /// Final: the body is over the cap, or could not be stored.
    Final(HttpError),
}

impl HttpClient {
    pub fn new(options: ClientOptions) -> anyhow::Result<HttpClient> {
        let redirect_policy = options.policy.clone();
        let client = reqwest::Client::builder()
            .user_agent(concat!("synchost/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(options.concurrency as usize * 2)
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= 10 {
                    attempt.error("more than 10 redirects")
                } else if let Err(why) = redirect_policy.check_url(attempt.url()) {
                    attempt.error(format!("redirect refused: {why}"))
                } else {
                    attempt.follow()
                }
            }))
            .build()?;
        Ok(HttpClient {
            client,
            options,
            limiters: Mutex::new(HashMap::new()),
            stats: HttpStats::default(),
        })
    }

    /// Sends a plugin's request under the source's policy.
    pub async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        self.send_within(request, self.options.max_response_bytes)
            .await
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
        let (method, url) = self.admit(&request.method, &request.url)?;
        let headers = self.request_headers(&request.headers)?;
        let timeout = request.timeout.map_or(self.options.request_timeout, |t| {
            t.min(self.options.request_timeout)
        });
        let cap = cap.min(self.options.max_response_bytes);
        let (status, mut headers, body) = self
            .execute(
                &method,
                &url,
                &headers,
                request.body.as_deref(),
                timeout,
                Sink::Memory { cap },
            )
            .await?;
        let Body::Memory(mut body) = body else {
            unreachable!("a memory sink yields a memory body")
        };
        if let Some(credential) = &self.options.credential {
            if credential.redact(&mut body) {
                tracing::warn!(source = %self.options.source, url = %url, "the response echoed the credential; redacted before the plugin saw it");
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
    /// sha256 (hex) and size. The body never sits in memory as a whole.
    pub async fn download(&self, url: &str, dest: &Path) -> Result<(String, u64), HttpError> {
        let (method, url) = self.admit("GET", url)?;
        let headers = self.request_headers(&[])?;
        let (status, _, body) = self
            .execute(
                &method,
                &url,
                &headers,
                None,
                DOWNLOAD_TIMEOUT,
                Sink::File(dest),
            )
            .await?;
        match body {
            Body::File { sha256, size } if status.is_success() => Ok((sha256, size)),
            _ => Err(HttpError::Connection(format!(
                "download answered HTTP {status}"
            ))),
        }
    }

    /// Policy checks done before anything is sent.
    fn admit(&self, method: &str, url: &str) -> Result<(Method, Url), HttpError> {
        let deny = |why: String| {
            self.stats.denied.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(source = %self.options.source, "request denied: {why}");
            HttpError::Denied(why)
        };
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| deny(format!("invalid method `{method}`")))?;
        let url = self.options.policy.check(url).map_err(|why| {
            deny(format!(
                "{why} (allowed: {})",
                self.options.policy.describe()
            ))
        })?;
        if HttpStats::get(&self.stats.requests) >= self.options.max_requests {
            return Err(deny(format!(
                "the run's budget of {} requests is spent",
                self.options.max_requests
            )));
        }
        Ok((method, url))
    }

    fn request_headers(&self, pairs: &[(String, String)]) -> Result<HeaderMap, HttpError> {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|_| HttpError::Denied(format!("invalid header name `{name}`")))?;
            if TRANSPORT_HEADERS.contains(&name.as_str()) {
                continue;
            }
            let value = HeaderValue::try_from(value.as_str())
                .map_err(|_| HttpError::Denied(format!("invalid value for header `{name}`")))?;
            headers.append(name, value);
        }
        if let Some(credential) = &self.options.credential {
            headers.insert(
                credential.header_name().clone(),
                credential.header_value().clone(),
            );
        }
        Ok(headers)
    }

    fn limiter(&self, url: &Url) -> Arc<HostLimiter> {
        let key = url.host_str().unwrap_or_default().to_string();
        let mut limiters = self.limiters.lock().unwrap();
        limiters
            .entry(key)
            .or_insert_with(|| {
                Arc::new(HostLimiter::new(
                    self.options.concurrency,
                    self.options.requests_per_second,
                ))
            })
            .clone()
    }

    /// The attempt loop: pace, send, classify, wait, repeat.
    async fn execute(
        &self,
        method: &Method,
        url: &Url,
        headers: &HeaderMap,
        body: Option<&[u8]>,
        timeout: Duration,
        sink: Sink<'_>,
    ) -> Result<(StatusCode, Vec<(String, String)>, Body), HttpError> {
        let limiter = self.limiter(url);
        let retry = &self.options.retry;
        let idempotent = is_idempotent(method);
        let mut failures = 0u32;
        let mut rate_limit_waits = 0u32;
        loop {
            let permit = limiter.acquire().await;
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let mut builder = self
                .client
                .request(method.clone(), url.clone())
                .headers(headers.clone())
                .timeout(timeout);
            if let Some(body) = body {
                builder = builder.body(body.to_vec());
            }
            let started = std::time::Instant::now();
            let outcome = builder.send().await;
            let failure = match outcome {
                Ok(response) => {
                    let status = response.status();
                    if let Some(wait) =
                        rate_limit_wait(status, response.headers(), SystemTime::now())
                    {
                        self.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                        // A 429 means the server refused before acting, so even
                        // non-idempotent requests may repeat.
                        let may_repeat = idempotent || status == StatusCode::TOO_MANY_REQUESTS;
                        if may_repeat && rate_limit_waits < MAX_RATE_LIMIT_WAITS {
                            drop(permit);
                            rate_limit_waits += 1;
                            let (wait, clamped) = retry.clamp_wait(wait);
                            if clamped {
                                self.stats.clamped_waits.fetch_add(1, Ordering::Relaxed);
                                tracing::warn!(source = %self.options.source, "the remote asked to wait longer than {}s; waiting {}s", retry.max_wait.as_secs(), wait.as_secs());
                            }
                            // Repeated limits back off further, with jitter.
                            let wait = wait + retry.backoff(rate_limit_waits.saturating_sub(1));
                            tracing::debug!(source = %self.options.source, %url, "rate limited ({status}); waiting {wait:?}");
                            limiter.rate_limited(wait);
                            continue;
                        }
                        // Out of patience: the plugin gets the 429 itself.
                    } else if response
                        .headers()
                        .get("x-ratelimit-nearlimit")
                        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"))
                    {
                        limiter.near_limit();
                    } else if !status.is_server_error() {
                        limiter.healthy();
                    }
                    if is_transient_status(status) && idempotent && failures < retry.max_retries {
                        drop(permit);
                        failures += 1;
                        self.stats.retries.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(source = %self.options.source, %url, "HTTP {status}; retry {failures}");
                        tokio::time::sleep(retry.backoff(failures - 1)).await;
                        continue;
                    }
                    let headers = response_headers(response.headers());
                    match sink.read(response, status).await {
                        Ok(body) => {
                            tracing::trace!(source = %self.options.source, %method, %url, %status, ms = started.elapsed().as_millis() as u64, "response");
                            return Ok((status, headers, body));
                        }
                        Err(ReadFailure::Final(error)) => return Err(error),
                        // The request reached the server: only idempotent ones repeat.
                        Err(ReadFailure::Io(message)) if !idempotent => {
                            return Err(HttpError::Connection(message))
                        }
                        Err(ReadFailure::Io(message)) => HttpError::Connection(message),
                    }
                }
                Err(error) => {
                    // Connect errors never reached the server; anything else may have.
                    if !(idempotent || error.is_connect()) {
                        return Err(classify(&error));
                    }
                    classify(&error)
                }
            };
            drop(permit);
            if matches!(failure, HttpError::Denied(_)) || failures >= retry.max_retries {
                return Err(failure);
            }
            failures += 1;
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(source = %self.options.source, %url, "{failure}; retry {failures}");
            tokio::time::sleep(retry.backoff(failures - 1)).await;
        }
    }
}

fn response_headers(headers: &HeaderMap) -> Vec<(String, String)> {
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
    if error.is_redirect() {
        let message =
            std::error::Error::source(error).map_or_else(|| error.to_string(), |e| e.to_string());
        HttpError::Denied(message)
    } else if error.is_timeout() {
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

async fn read_capped(mut response: reqwest::Response, cap: u64) -> Result<Vec<u8>, ReadFailure> {
    if response.content_length().is_some_and(|len| len > cap) {
        return Err(ReadFailure::Final(HttpError::TooLarge(cap)));
    }
    let mut body = Vec::with_capacity(response.content_length().unwrap_or(0).min(1 << 20) as usize);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ReadFailure::Io(classify_message(&e)))?
    {
        if body.len() as u64 + chunk.len() as u64 > cap {
            return Err(ReadFailure::Final(HttpError::TooLarge(cap)));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn stream_to_file(
    mut response: reqwest::Response,
    dest: &Path,
) -> Result<(String, u64), ReadFailure> {
    let io = |e: std::io::Error| {
        ReadFailure::Final(HttpError::Connection(format!(
            "cannot write {}: {e}",
            dest.display()
        )))
    };
    let mut file = tokio::fs::File::create(dest).await.map_err(io)?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ReadFailure::Io(classify_message(&e)))?
    {
        hasher.update(&chunk);
        size += chunk.len() as u64;
        file.write_all(&chunk).await.map_err(io)?;
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
