//! Machinery shared by every fake server.
//!
//! A fake builds its own API [`Router`] (its routes and its own `/_control/*`
//! endpoints, state already applied) and hands it to [`router`], which adds:
//!
//! - the generic control API: `GET /_control/stats`, `POST /_control/stats/reset`,
//!   `GET`/`POST /_control/faults`, `GET /_control/requests` (the request log);
//! - JSON `404`/`405` answers for unknown routes and methods;
//! - the fault layer in front of every non-control request, in the order of
//!   the contract: latency, auth (401), rate limit (429), fail-rate (5xx), then
//!   the route, then the lost-write fault (a successful write's answer
//!   replaced by a 503); and the request counters.
//!
//! [`serve`] then binds `127.0.0.1`, prints the `listening on ...` line and
//! serves until the process is killed.
//!
//! Everything on the request path is lock-light and allocation-light: one
//! short mutex section for the faults and token bucket, atomics for the stats,
//! a thread-local fast RNG for the fail-rate. No per-request logging, only
//! a bounded in-memory request log (one short mutex section).
//!
//! A [`Flavor`] lets a fake word what this layer answers by itself (401, 429,
//! injected 5xx, unknown routes) like the API it imitates, check HTTP basic
//! credentials or its own token schemes instead of a bearer token, send
//! Atlassian's extra rate-limit headers, exempt paths from GitHub's limits
//! ([`Flavor::github_free`]), map its own fault keys onto the shared ones
//! ([`FaultAliases`]) and accept fake-specific keys in
//! `POST /_control/faults`. The
//! default flavor is the items fake's, unchanged.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{json, Map, Value};

use super::broken::{break_response, BodyFault};
use super::tls::{serve_https_redirects, CaFile, TestPki, TlsListener};

/// Every path under this prefix is control API: never counted, faulted or
/// authenticated.
pub const CONTROL_PREFIX: &str = "/_control/";

/// The stats counter of attachment downloads, which `blob_fault` breaks.
pub const DOWNLOAD_COUNTER: &str = "download";

/// `X-RateLimit-Limit`.
pub static X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// `X-RateLimit-Remaining`.
pub static X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
/// `X-RateLimit-NearLimit` (Atlassian flavor).
pub static X_RATELIMIT_NEARLIMIT: HeaderName = HeaderName::from_static("x-ratelimit-nearlimit");
/// `X-RateLimit-Reset` (Atlassian flavor).
pub static X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
/// `RateLimit-Reason` (Atlassian flavor).
pub static RATELIMIT_REASON: HeaderName = HeaderName::from_static("ratelimit-reason");

/// Flags every fake accepts (flattened into each subcommand).
#[derive(clap::Args, Debug, Clone)]
pub struct CommonArgs {
    /// Port to listen on, on 127.0.0.1 only; 0 picks a free port.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Require `Authorization: Bearer TOKEN` on every non-control request
    /// (a fake with basic auth, e.g. `confluence --email E`, takes it as the
    /// password: `Authorization: Basic base64(E:TOKEN)`).
    #[arg(long)]
    pub token: Option<String>,
    /// Delay every non-control response by this many milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Fraction (0.0..=1.0) of non-control requests answered with a random 500, 502 or 503.
    #[arg(long, default_value_t = 0.0, value_parser = parse_fail_rate)]
    pub fail_rate: f64,
    /// Token bucket of RPS requests per second (burst RPS); over it: 429 with Retry-After.
    #[arg(long, value_name = "RPS", value_parser = parse_rate_limit)]
    pub rate_limit: Option<f64>,
    /// Fraction (0.0..=1.0) of successful writes (POST, PUT, PATCH, DELETE)
    /// applied and then answered 503, as if a proxy lost the answer.
    #[arg(long, default_value_t = 0.0, value_parser = parse_fail_rate)]
    pub lost_write_rate: f64,
    /// Serve https with a certificate from a test CA made at startup; the
    /// CA's certificate is written to a temporary file, printed as
    /// `ca: PATH.pem` after the `listening on https://...` line.
    #[arg(long)]
    pub tls: bool,
}

fn parse_fail_rate(s: &str) -> Result<f64, String> {
    let r: f64 = s.parse().map_err(|_| format!("not a number: {s}"))?;
    valid_fail_rate(r)
        .then_some(r)
        .ok_or_else(|| "must be between 0.0 and 1.0".to_owned())
}

fn parse_rate_limit(s: &str) -> Result<f64, String> {
    let r: f64 = s.parse().map_err(|_| format!("not a number: {s}"))?;
    valid_rate_limit(r)
        .then_some(r)
        .ok_or_else(|| "must be a positive number".to_owned())
}

fn valid_fail_rate(r: f64) -> bool {
    (0.0..=1.0).contains(&r)
}

fn valid_rate_limit(r: f64) -> bool {
    r.is_finite() && r > 0.0
}

impl CommonArgs {
    /// The faults these flags ask for.
    pub fn faults(&self) -> Faults {
        Faults {
            latency_ms: self.latency_ms,
            fail_rate: self.fail_rate,
            rate_limit: self.rate_limit,
            token: self.token.as_deref().map(Arc::from),
            lost_write_rate: self.lost_write_rate,
            ..Faults::default()
        }
    }
}

/// The faults and credentials in force; changed at runtime by
/// `POST /_control/faults`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    pub latency_ms: u64,
    pub fail_rate: f64,
    pub rate_limit: Option<f64>,
    pub token: Option<Arc<str>>,
    /// Every N-th passing response broken (see [`crate::fake::broken`]).
    pub body_fault: Option<BodyFault>,
    /// Every N-th attachment download request (one counted as
    /// [`DOWNLOAD_COUNTER`]) broken the same ways, when it succeeds.
    pub blob_fault: Option<BodyFault>,
    /// Credentials that expire mid-run: after `after` more authorized
    /// requests, the token in force becomes `to`.
    pub rotate_token: Option<TokenRotation>,
    /// Fraction of successful writes whose answer is replaced by a 503
    /// after the write was applied (see [`is_write`]).
    pub lost_write_rate: f64,
    /// GitHub's primary rate limit (see [`GithubBudget`]).
    pub github_budget: Option<GithubBudget>,
    /// GitHub's secondary rate limit (see [`GithubSecondary`]).
    pub github_secondary: Option<GithubSecondary>,
    /// Every request answered as GitHub answers a lack of permission: 403,
    /// `Resource not accessible by integration`, budget left.
    pub github_forbidden: bool,
}

/// GitHub's primary rate limit, for any fake (contracts §2.8): `limit`
/// requests per fixed window of `window_s` seconds, the first starting at
/// the first request. Every answer carries `x-ratelimit-limit`,
/// `-remaining`, `-used`, `-reset` (epoch seconds of the window's end) and
/// `-resource: core`; a request past the budget is answered 403 with
/// remaining 0 and GitHub's `API rate limit exceeded` body, and costs
/// nothing; a 304 gives its request back ("does not count against your
/// primary rate limit"), and so does a path of [`Flavor::github_free`].
/// `POST /_control/faults` `{"github_budget": {"limit": L, "window_s": W}}`
/// (null: off; L 0 refuses everything) sets it and starts a new window; the
/// GitHub fake's `--rate-limit-budget B --rate-limit-window-s W` set it too.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GithubBudget {
    pub limit: u64,
    pub window_s: u64,
}

/// GitHub's secondary rate limit: after `after` more requests pass, the
/// next `times` are answered 403 with GitHub's `You have exceeded a
/// secondary rate limit` body, with `retry-after` when given (GitHub sends
/// it only sometimes; without it clients wait at least a minute); then off,
/// or, with `repeat`, the same again. A refusal costs no primary budget.
/// `{"github_secondary": {"after": N, "times": T, "retry_after": S, "repeat": B}}`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GithubSecondary {
    pub after: u64,
    pub times: u64,
    pub retry_after: Option<u64>,
    pub repeat: bool,
}

/// GitHub's documentation links of its rate-limit errors.
const GITHUB_DOCS_PRIMARY: &str =
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-the-rate-limit";
const GITHUB_DOCS_SECONDARY: &str =
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits";

/// The secondary-limit message, as GitHub words it.
pub const GITHUB_SECONDARY_MESSAGE: &str = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000000:0000000:00000000.";

/// The window of a [`GithubBudget`] in force: requests counted, and its end.
#[derive(Debug, Clone, Copy)]
struct GithubWindow {
    used: u64,
    reset_epoch: u64,
}

/// What a GitHub fault answers instead of the route.
enum GithubRefusal {
    Primary,
    Secondary { retry_after: Option<u64> },
    Forbidden,
}

/// The budget headers of one answer: (limit, remaining, used, reset).
type GithubHeaders = Option<(u64, u64, u64, u64)>;

fn epoch_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// GitHub's error body (`basic-error`).
fn github_error(status: StatusCode, message: &str, docs: &str) -> Response {
    (
        status,
        Json(json!({
            "message": message,
            "documentation_url": docs,
            "status": status.as_u16().to_string(),
        })),
    )
        .into_response()
}

fn insert_github_headers(
    headers: &mut HeaderMap,
    (limit, remaining, used, reset): (u64, u64, u64, u64),
) {
    headers.insert(X_RATELIMIT_LIMIT.clone(), HeaderValue::from(limit));
    headers.insert(X_RATELIMIT_REMAINING.clone(), HeaderValue::from(remaining));
    headers.insert("x-ratelimit-used", HeaderValue::from(used));
    headers.insert(X_RATELIMIT_RESET.clone(), HeaderValue::from(reset));
    headers.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
}

/// `{"rotate_token": {"after": N, "to": "NEW"}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRotation {
    pub after: u64,
    pub to: Arc<str>,
}

impl Faults {
    /// The `/_control/faults` keys handled here.
    const KEYS: [&'static str; 11] = [
        "latency_ms",
        "fail_rate",
        "rate_limit",
        "token",
        "body_fault",
        "blob_fault",
        "rotate_token",
        "lost_write_rate",
        "github_budget",
        "github_secondary",
        "github_forbidden",
    ];

    fn to_json(&self) -> Value {
        json!({
            "latency_ms": self.latency_ms,
            "fail_rate": self.fail_rate,
            "rate_limit": self.rate_limit,
            "token": self.token.as_deref(),
            "body_fault": self.body_fault.map(BodyFault::to_json),
            "blob_fault": self.blob_fault.map(BodyFault::to_json),
            "rotate_token": self.rotate_token.as_ref().map(|r| json!({"after": r.after, "to": &*r.to})),
            "lost_write_rate": self.lost_write_rate,
            "github_budget": self.github_budget.map(|b| json!({"limit": b.limit, "window_s": b.window_s})),
            "github_secondary": self.github_secondary.map(|g| json!({"after": g.after, "times": g.times, "retry_after": g.retry_after, "repeat": g.repeat})),
            "github_forbidden": self.github_forbidden,
        })
    }

    /// Applies a `/_control/faults` body: any of `latency_ms`, `fail_rate`,
    /// `rate_limit` (number or null) and `token` (string or null). Unknown
    /// keys and bad values are errors and leave `self` untouched.
    fn apply_json(&mut self, body: &Value) -> Result<(), String> {
        let obj = body.as_object().ok_or("the body must be a JSON object")?;
        let mut next = self.clone();
        for (key, value) in obj {
            match key.as_str() {
                "latency_ms" => {
                    next.latency_ms = value
                        .as_u64()
                        .ok_or("latency_ms must be a non-negative integer")?;
                }
                "fail_rate" => {
                    next.fail_rate = value
                        .as_f64()
                        .filter(|r| valid_fail_rate(*r))
                        .ok_or("fail_rate must be a number between 0.0 and 1.0")?;
                }
                "lost_write_rate" => {
                    next.lost_write_rate = value
                        .as_f64()
                        .filter(|r| valid_fail_rate(*r))
                        .ok_or("lost_write_rate must be a number between 0.0 and 1.0")?;
                }
                "rate_limit" => {
                    next.rate_limit = match value {
                        Value::Null => None,
                        v => Some(
                            v.as_f64()
                                .filter(|r| valid_rate_limit(*r))
                                .ok_or("rate_limit must be a positive number or null")?,
                        ),
                    };
                }
                "token" => {
                    next.token = match value {
                        Value::Null => None,
                        Value::String(s) => Some(Arc::from(s.as_str())),
                        _ => return Err("token must be a string or null".to_owned()),
                    };
                }
                "body_fault" => {
                    next.body_fault =
                        BodyFault::from_json(value).map_err(|e| format!("body_fault.{e}"))?;
                }
                "blob_fault" => {
                    next.blob_fault =
                        BodyFault::from_json(value).map_err(|e| format!("blob_fault.{e}"))?;
                }
                "rotate_token" => {
                    // `after: 0` rotates at once.
                    next.rotate_token = match value {
                        Value::Null => None,
                        v => Some(TokenRotation {
                            after: v
                                .get("after")
                                .and_then(Value::as_u64)
                                .ok_or("rotate_token.after must be a non-negative integer")?,
                            to: v
                                .get("to")
                                .and_then(Value::as_str)
                                .map(Arc::from)
                                .ok_or("rotate_token.to must be a string")?,
                        }),
                    };
                }
                "github_budget" => {
                    next.github_budget = match value {
                        Value::Null => None,
                        v => {
                            let field = |name: &str| v.get(name).and_then(Value::as_u64);
                            Some(GithubBudget {
                                limit: field("limit")
                                    .ok_or("github_budget.limit must be a non-negative integer")?,
                                window_s: field("window_s")
                                    .filter(|n| *n > 0)
                                    .ok_or("github_budget.window_s must be a positive integer")?,
                            })
                        }
                    };
                }
                "github_secondary" => {
                    next.github_secondary = match value {
                        Value::Null => None,
                        v => Some(GithubSecondary {
                            after: v.get("after").and_then(Value::as_u64).ok_or(
                                "github_secondary.after must be a non-negative integer",
                            )?,
                            times: v
                                .get("times")
                                .and_then(Value::as_u64)
                                .filter(|n| *n > 0)
                                .ok_or("github_secondary.times must be a positive integer")?,
                            retry_after: match v.get("retry_after") {
                                None | Some(Value::Null) => None,
                                Some(r) => Some(r.as_u64().ok_or(
                                    "github_secondary.retry_after must be a non-negative integer or null",
                                )?),
                            },
                            repeat: match v.get("repeat") {
                                None => false,
                                Some(r) => r
                                    .as_bool()
                                    .ok_or("github_secondary.repeat must be true or false")?,
                            },
                        }),
                    };
                }
                "github_forbidden" => {
                    next.github_forbidden = value
                        .as_bool()
                        .ok_or("github_forbidden must be true or false")?;
                }
                other => return Err(format!("unknown field {other:?}")),
            }
        }
        if let Some(rotation) = next.rotate_token.take_if(|r| r.after == 0) {
            next.token = Some(rotation.to);
        }
        *self = next;
        Ok(())
    }
}

/// A token bucket: `rate` tokens per second, holding at most `capacity`
/// (the burst, `max(rate, 1)`), full at start. Time is passed in, so it is
/// pure and testable.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate: f64, now: Instant) -> Self {
        let capacity = rate.max(1.0);
        TokenBucket {
            rate,
            capacity,
            tokens: capacity,
            last: now,
        }
    }

    /// The configured rate (requests per second).
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The burst: how many tokens a full bucket holds.
    pub fn capacity(&self) -> f64 {
        self.capacity
    }

    /// Takes one token: `Ok(whole tokens left)`, or `Err(time until one
    /// token is available)` without taking anything.
    pub fn try_take(&mut self, now: Instant) -> Result<u64, Duration> {
        if now > self.last {
            let elapsed = now.duration_since(self.last).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
            self.last = now;
        }
        // A hair of slack so float rounding never refuses a token that is due.
        if self.tokens >= 1.0 - 1e-9 {
            self.tokens = (self.tokens - 1.0).max(0.0);
            Ok(self.tokens.floor() as u64)
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

/// `Retry-After` in whole seconds for a wait: rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs_f64().ceil() as u64).max(1)
}

/// A rate as a header value: `5` rather than `5.0`, `0.5` as is.
fn fmt_rate(rate: f64) -> String {
    if rate.fract() == 0.0 && rate < 1e15 {
        format!("{}", rate as u64)
    } else {
        format!("{rate}")
    }
}

/// Request counters: all non-control requests, per-kind counters named by
/// the fake (e.g. `list_requests`), and per status code; and how many were
/// served at once at most, in all and per kind.
pub struct Stats {
    requests: AtomicU64,
    /// Writes applied whose answer the `lost_write_rate` fault replaced.
    lost_writes: AtomicU64,
    /// Answers refused by the token bucket or the flavor's rate gate.
    rate_limited: AtomicU64,
    counters: Vec<(&'static str, AtomicU64)>,
    by_status: Box<[AtomicU64]>,
    in_flight: Concurrency,
    /// Per kind, in the order of `counters`.
    in_flight_by_kind: Vec<Concurrency>,
}

/// Requests being served now, and the most at once since the last reset.
#[derive(Default)]
struct Concurrency {
    now: AtomicU64,
    max: AtomicU64,
}

impl Concurrency {
    fn enter(&self) {
        let now = self.now.fetch_add(1, Ordering::Relaxed) + 1;
        self.max.fetch_max(now, Ordering::Relaxed);
    }

    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A request being served: counted in flight until dropped.
pub struct Serving<'a> {
    stats: &'a Stats,
    kind: Option<usize>,
}

impl Drop for Serving<'_> {
    fn drop(&mut self) {
        self.stats.in_flight.leave();
        if let Some(kind) = self.kind {
            self.stats.in_flight_by_kind[kind].leave();
        }
    }
}

impl Stats {
    /// Counters named `names` (each shows up as a top-level key of the stats JSON).
    pub fn new(names: &[&'static str]) -> Self {
        Stats {
            requests: AtomicU64::new(0),
            lost_writes: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            counters: names.iter().map(|n| (*n, AtomicU64::new(0))).collect(),
            by_status: (0..1000).map(|_| AtomicU64::new(0)).collect(),
            in_flight: Concurrency::default(),
            in_flight_by_kind: names.iter().map(|_| Concurrency::default()).collect(),
        }
    }

    /// Counts a request of kind `counter` in flight until the guard is dropped.
    pub fn serving(&self, counter: Option<&'static str>) -> Serving<'_> {
        let kind = counter.and_then(|name| self.counters.iter().position(|(n, _)| *n == name));
        self.in_flight.enter();
        if let Some(kind) = kind {
            self.in_flight_by_kind[kind].enter();
        }
        Serving { stats: self, kind }
    }

    /// Counts one served request of kind `counter` (a name given to `new`).
    pub fn record(&self, counter: Option<&'static str>, status: StatusCode) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(name) = counter {
            if let Some((_, c)) = self.counters.iter().find(|(n, _)| *n == name) {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(c) = self.by_status.get(usize::from(status.as_u16())) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn reset(&self) {
        self.requests.store(0, Ordering::Relaxed);
        self.lost_writes.store(0, Ordering::Relaxed);
        self.rate_limited.store(0, Ordering::Relaxed);
        for (_, c) in &self.counters {
            c.store(0, Ordering::Relaxed);
        }
        for c in self.by_status.iter() {
            c.store(0, Ordering::Relaxed);
        }
        // What is in flight now stays counted; the maxima start again from it.
        for concurrency in std::iter::once(&self.in_flight).chain(&self.in_flight_by_kind) {
            let now = concurrency.now.load(Ordering::Relaxed);
            concurrency.max.store(now, Ordering::Relaxed);
        }
    }

    /// `{"requests": N, <counter>: n, ..., "by_status": {"200": n, ...}, "lost_writes": n,
    /// "rate_limited": n, "not_modified": n, "max_in_flight": n,
    /// "max_in_flight_by_kind": {<counter>: n, ...}}` (only statuses seen;
    /// `not_modified` is the 304s).
    pub fn to_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("requests".into(), self.requests().into());
        for (name, c) in &self.counters {
            obj.insert((*name).into(), c.load(Ordering::Relaxed).into());
        }
        let by_status: Map<String, Value> = self
            .by_status
            .iter()
            .enumerate()
            .filter_map(|(code, c)| {
                let n = c.load(Ordering::Relaxed);
                (n > 0).then(|| (code.to_string(), n.into()))
            })
            .collect();
        obj.insert("by_status".into(), by_status.into());
        obj.insert(
            "lost_writes".into(),
            self.lost_writes.load(Ordering::Relaxed).into(),
        );
        obj.insert(
            "rate_limited".into(),
            self.rate_limited.load(Ordering::Relaxed).into(),
        );
        obj.insert(
            "not_modified".into(),
            self.by_status[304].load(Ordering::Relaxed).into(),
        );
        obj.insert(
            "max_in_flight".into(),
            self.in_flight.max.load(Ordering::Relaxed).into(),
        );
        let by_kind: Map<String, Value> = self
            .counters
            .iter()
            .zip(&self.in_flight_by_kind)
            .map(|((name, _), c)| ((*name).to_string(), c.max.load(Ordering::Relaxed).into()))
            .collect();
        obj.insert("max_in_flight_by_kind".into(), by_kind.into());
        Value::Object(obj)
    }
}

/// How many requests [`RequestLog`] keeps (the latest ones).
pub const REQUEST_LOG_CAPACITY: usize = 100_000;

/// The latest [`REQUEST_LOG_CAPACITY`] non-control requests served, as
/// (method, path, raw query or empty, status), oldest first: what
/// `GET /_control/requests` shows, so a test can check every request a
/// client sent (e.g. against an OpenAPI file). Never reset.
#[derive(Default)]
pub struct RequestLog {
    entries: Mutex<VecDeque<(Method, String, String, u16)>>,
}

impl RequestLog {
    /// Records one request, dropping the oldest beyond the capacity.
    pub fn push(&self, method: Method, path: String, query: String, status: u16) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= REQUEST_LOG_CAPACITY {
            entries.pop_front();
        }
        entries.push_back((method, path, query, status));
    }

    /// `[{"method", "path", "query", "status"}, ...]`, oldest first.
    pub fn to_json(&self) -> Value {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .iter()
            .map(|(method, path, query, status)| {
                json!({"method": method.as_str(), "path": path, "query": query, "status": status})
            })
            .collect::<Vec<_>>()
            .into()
    }
}

/// Names the stats counter of a non-control request (method, path).
pub type Classifier = fn(&Method, &str) -> Option<&'static str>;

struct FaultCell {
    faults: Faults,
    bucket: Option<TokenBucket>,
    /// Requests passed since `body_fault` was set, to break every N-th.
    passed: u64,
    /// Download requests passed since `blob_fault` was set.
    downloads: u64,
    /// The window of `github_budget`, from its first request.
    github_window: Option<GithubWindow>,
    /// What is left of `github_secondary`'s round: `after` and `times`
    /// count down (the faults keep the values set).
    github_secondary: Option<GithubSecondary>,
}

/// Fake-specific keys of `POST /_control/faults` (e.g. the Confluence fake's
/// `missing_pages`), handled next to the shared ones, all or nothing.
pub trait ExtraFaults: Send + Sync {
    /// Validates the keys the shared layer does not know (never empty) and
    /// returns what applies them, or an error message (then nothing changes).
    fn prepare(
        self: Arc<Self>,
        extra: Map<String, Value>,
    ) -> Result<Box<dyn FnOnce() + Send>, String>;
    /// Adds the current values to the `GET /_control/faults` object.
    fn describe(&self, out: &mut Map<String, Value>);
}

/// How a fake words the answers the shared layer makes by itself, and which
/// credentials it checks (see the module docs). Every hook gets the request
/// path, so an API with two error styles (e.g. Confluence v1 and v2) can
/// answer each in its own.
#[derive(Clone)]
pub struct Flavor {
    /// `Some(user)`: the token (`--token`, or `token` in the faults) is the
    /// password of HTTP basic auth for `user`; `None`: a bearer token.
    pub basic_user: Option<Arc<str>>,
    /// The 401 (any `WWW-Authenticate` included).
    pub unauthorized: fn(&str) -> Response,
    /// The 429 body; the layer adds `Retry-After` and the rate-limit headers.
    pub rate_limited: fn(&str) -> Response,
    /// An injected 500, 502 or 503.
    pub injected_failure: fn(&str, StatusCode) -> Response,
    /// Unknown route.
    pub not_found: fn(&Method, &str) -> Response,
    /// Known route, other method.
    pub method_not_allowed: fn(&Method, &str) -> Response,
    /// Atlassian's rate-limit headers: `X-RateLimit-NearLimit: true` when
    /// less than 20% of the bucket remains (and on every 429), plus
    /// `X-RateLimit-Reset` and `RateLimit-Reason` on 429s.
    pub atlassian_rate_headers: bool,
    /// Fake-specific fault keys.
    pub extra_faults: Option<Arc<dyn ExtraFaults>>,
    /// With no `basic_user`: whether a request carries the token in force,
    /// given the path with its query, the headers and the token (e.g. GitHub
    /// takes `Bearer T` and `token T`, and signed download links); `None`:
    /// [`bearer_ok`].
    pub token_auth: Option<fn(&str, &HeaderMap, &str) -> bool>,
    /// Paths GitHub's limits (`github_budget`, `github_secondary`) do not
    /// count (e.g. `GET /rate_limit`); they still get the budget headers.
    pub github_free: fn(&str) -> bool,
    /// The fake's own names for shared fault keys.
    pub fault_aliases: Option<FaultAliases>,
}

/// A fake's own `/_control/faults` keys for shared faults (e.g. the GitHub
/// fake's `rate_limit_budget` for `github_budget.limit`).
#[derive(Clone, Copy)]
pub struct FaultAliases {
    /// Replaces the alias keys of a body by shared ones, given the faults
    /// in force; an error changes nothing.
    pub map: fn(&Faults, &mut Map<String, Value>) -> Result<(), String>,
    /// Adds the aliases' current values to the `GET /_control/faults` object.
    pub describe: fn(&Faults, &mut Map<String, Value>),
}

impl Default for Flavor {
    /// The items fake's wording (docs/fake-items-api.md).
    fn default() -> Self {
        Flavor {
            basic_user: None,
            unauthorized: |_| unauthorized(),
            rate_limited: |_| error_code(StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            injected_failure: |_, status| error_code(status, "injected_failure"),
            not_found: not_found_default,
            method_not_allowed: method_not_allowed_default,
            atlassian_rate_headers: false,
            extra_faults: None,
            token_auth: None,
            github_free: |_| false,
            fault_aliases: None,
        }
    }
}

/// The state every fake shares: stats and faults.
pub struct Common {
    pub stats: Stats,
    pub requests: RequestLog,
    faults: Mutex<FaultCell>,
    classify: Classifier,
    flavor: Flavor,
}

impl Common {
    /// `counters` name the per-kind stats counters, `classify` maps a request
    /// to one of them.
    pub fn new(faults: Faults, counters: &[&'static str], classify: Classifier) -> Arc<Self> {
        Self::with_flavor(faults, counters, classify, Flavor::default())
    }

    /// [`Common::new`] with a [`Flavor`].
    pub fn with_flavor(
        faults: Faults,
        counters: &[&'static str],
        classify: Classifier,
        flavor: Flavor,
    ) -> Arc<Self> {
        let bucket = faults
            .rate_limit
            .map(|r| TokenBucket::new(r, Instant::now()));
        Arc::new(Common {
            stats: Stats::new(counters),
            requests: RequestLog::default(),
            faults: Mutex::new(FaultCell {
                bucket,
                passed: 0,
                downloads: 0,
                github_window: None,
                github_secondary: faults.github_secondary,
                faults,
            }),
            classify,
            flavor,
        })
    }

    fn cell(&self) -> std::sync::MutexGuard<'_, FaultCell> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The faults in force.
    pub fn faults(&self) -> Faults {
        self.cell().faults.clone()
    }

    /// Applies a `/_control/faults` body (see [`Faults`]; keys it does not
    /// know go to the flavor's [`ExtraFaults`]); a given `rate_limit`
    /// restarts the bucket full. Errors change nothing.
    pub fn update_faults(&self, body: &Value) -> Result<(), String> {
        let mut body = body.clone();
        if let (Some(aliases), Some(obj)) = (&self.flavor.fault_aliases, body.as_object_mut()) {
            (aliases.map)(&self.faults(), obj)?;
        }
        let apply_extra = match (&self.flavor.extra_faults, body.as_object_mut()) {
            (Some(extra), Some(obj)) => {
                let keys: Vec<String> = obj
                    .keys()
                    .filter(|k| !Faults::KEYS.contains(&k.as_str()))
                    .cloned()
                    .collect();
                let rest: Map<String, Value> = keys
                    .iter()
                    .filter_map(|k| obj.remove(k).map(|v| (k.clone(), v)))
                    .collect();
                if rest.is_empty() {
                    None
                } else {
                    Some(extra.clone().prepare(rest)?)
                }
            }
            _ => None,
        };
        let mut cell = self.cell();
        let mut faults = cell.faults.clone();
        faults.apply_json(&body)?;
        if body.get("rate_limit").is_some() {
            cell.bucket = faults
                .rate_limit
                .map(|r| TokenBucket::new(r, Instant::now()));
        }
        if body.get("body_fault").is_some() {
            cell.passed = 0;
        }
        if body.get("blob_fault").is_some() {
            cell.downloads = 0;
        }
        if body.get("github_budget").is_some() {
            cell.github_window = None;
        }
        if body.get("github_secondary").is_some() {
            cell.github_secondary = faults.github_secondary;
        }
        cell.faults = faults;
        drop(cell);
        if let Some(apply) = apply_extra {
            apply();
        }
        Ok(())
    }

    /// `GET /_control/faults`: the shared faults plus the flavor's extras.
    fn faults_json(&self) -> Value {
        let faults = self.faults();
        let mut v = faults.to_json();
        if let Some(obj) = v.as_object_mut() {
            if let Some(extra) = &self.flavor.extra_faults {
                extra.describe(obj);
            }
            if let Some(aliases) = &self.flavor.fault_aliases {
                (aliases.describe)(&faults, obj);
            }
        }
        v
    }

    /// `github_budget`'s window as `GET /rate_limit` shows it
    /// (`{"limit", "used", "remaining", "reset"}`), without counting;
    /// `None` when it is off.
    pub fn github_rate(&self) -> Option<Value> {
        let mut cell = self.cell();
        let (limit, remaining, used, reset) = cell.github_budget(false).0?;
        Some(json!({"limit": limit, "used": used, "remaining": remaining, "reset": reset}))
    }

    /// True when the request carries the credentials in force (if any).
    fn authorized(&self, path_and_query: &str, headers: &HeaderMap, faults: &Faults) -> bool {
        match (faults.token.as_deref(), self.flavor.basic_user.as_deref()) {
            (None, _) => true,
            (Some(token), None) => match self.flavor.token_auth {
                Some(check) => check(path_and_query, headers, token),
                None => bearer_ok(headers, token),
            },
            (Some(password), Some(user)) => basic_ok(headers, user, password),
        }
    }
}

/// A JSON error body `{"error": code, "message": message}`.
pub fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let message: String = message.into();
    (status, Json(json!({ "error": code, "message": message }))).into_response()
}

/// A JSON error body with only a code: `{"error": code}`.
pub fn error_code(status: StatusCode, code: &str) -> Response {
    (status, Json(json!({ "error": code }))).into_response()
}

/// 400 `{"error":"bad_request","message":...}`.
pub fn bad_request(message: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, "bad_request", message)
}

/// Parses a control request body as JSON; an empty body is `{}`. The error
/// is a message for [`bad_request`].
pub fn json_body(body: &Bytes) -> Result<Value, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))
}

/// `If-Match`: `*` or a list of strong entity tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    Any,
    Tags(Vec<String>),
}

impl IfMatch {
    /// True when the current entity tag `etag` (unquoted) satisfies it.
    pub fn matches(&self, etag: &str) -> bool {
        match self {
            IfMatch::Any => true,
            IfMatch::Tags(tags) => tags.iter().any(|t| t == etag),
        }
    }
}

/// The `If-Match` header (RFC 9110 13.1.1): `None` when absent, an error
/// message when malformed (several headers are one list; weak tags never
/// match a strong comparison, so they are refused).
pub fn if_match(headers: &HeaderMap) -> Result<Option<IfMatch>, String> {
    let mut tags = Vec::new();
    let mut any = false;
    let mut seen = false;
    for value in headers.get_all(header::IF_MATCH) {
        seen = true;
        let value = value
            .to_str()
            .map_err(|_| "If-Match is not ASCII".to_owned())?;
        for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "*" {
                any = true;
                continue;
            }
            let tag = part
                .strip_prefix('"')
                .and_then(|p| p.strip_suffix('"'))
                .filter(|t| !t.contains('"'))
                .ok_or_else(|| {
                    format!("If-Match must be \"*\" or quoted entity tags, got {part}")
                })?;
            tags.push(tag.to_owned());
        }
    }
    Ok(match (seen, any) {
        (false, _) => None,
        (true, true) => Some(IfMatch::Any),
        (true, false) if tags.is_empty() => return Err("If-Match is empty".to_owned()),
        (true, false) => Some(IfMatch::Tags(tags)),
    })
}

/// Longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The `Idempotency-Key` header (draft-ietf-httpapi-idempotency-key-header):
/// `None` when absent, an error message unless it is 1 to 255 visible ASCII
/// characters (one header).
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, String> {
    let mut values = headers.get_all("idempotency-key").iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("Idempotency-Key must be given once".to_owned());
    }
    let key = value.as_bytes();
    let key = key
        .strip_prefix(b"\"")
        .and_then(|k| k.strip_suffix(b"\""))
        .unwrap_or(key);
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY
        || !key.iter().all(|b| b.is_ascii_graphic() || *b == b' ')
    {
        return Err(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
        ));
    }
    Ok(Some(String::from_utf8_lossy(key).into_owned()))
}

/// True when `headers` carry `Authorization: Bearer <token>` (scheme case-insensitive).
pub fn bearer_ok(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .is_some_and(|(scheme, cred)| scheme.eq_ignore_ascii_case("bearer") && cred.trim() == token)
}

/// True when `headers` carry `Authorization: Basic base64(user:password)`
/// (scheme case-insensitive, base64 padding optional).
pub fn basic_ok(headers: &HeaderMap, user: &str, password: &str) -> bool {
    use base64::Engine as _;
    const B64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let Some((scheme, cred)) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
    else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = B64.decode(cred.trim()) else {
        return false;
    };
    match decoded.iter().position(|b| *b == b':') {
        Some(i) => &decoded[..i] == user.as_bytes() && &decoded[i + 1..] == password.as_bytes(),
        None => false,
    }
}

fn unauthorized() -> Response {
    let mut resp = error(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "missing or invalid bearer token",
    );
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

thread_local! {
    static FAST_RNG: RefCell<SmallRng> = RefCell::new(SmallRng::from_os_rng());
}

/// True with probability `rate`.
fn chance(rate: f64) -> bool {
    rate > 0.0 && FAST_RNG.with_borrow_mut(|rng| rng.random::<f64>() < rate)
}

/// `Some(500 | 502 | 503)` with probability `rate`.
fn injected_failure(rate: f64) -> Option<StatusCode> {
    chance(rate).then(|| {
        [
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::BAD_GATEWAY,
            StatusCode::SERVICE_UNAVAILABLE,
        ][FAST_RNG.with_borrow_mut(|rng| rng.random_range(0..3))]
    })
}

/// A request that changes state: what `lost_write_rate` may lose the answer of.
pub fn is_write(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

enum Gate {
    Unauthorized,
    Github(GithubRefusal),
    Limited {
        limit: String,
        retry_after: u64,
    },
    Pass {
        /// (`X-RateLimit-Limit`, whole tokens left, near the limit).
        limit: Option<(String, u64, bool)>,
    },
}

impl FaultCell {
    /// The headers of `github_budget`'s window (a new one once the last
    /// has ended), and whether its budget is spent; `take` counts the
    /// request when it is not (a window starts with its first request).
    fn github_budget(&mut self, take: bool) -> (GithubHeaders, bool) {
        let Some(budget) = self.faults.github_budget else {
            return (None, false);
        };
        let now = epoch_now();
        let mut window = self
            .github_window
            .filter(|w| w.reset_epoch > now)
            .unwrap_or(GithubWindow {
                used: 0,
                reset_epoch: now + budget.window_s,
            });
        let spent = window.used >= budget.limit;
        if take && !spent {
            window.used += 1;
            self.github_window = Some(window);
        }
        let used = window.used.min(budget.limit);
        let headers = (budget.limit, budget.limit - used, used, window.reset_epoch);
        (Some(headers), spent)
    }

    /// Gives back the request a 304 cost.
    fn github_refund(&mut self) {
        if let Some(window) = &mut self.github_window {
            window.used = window.used.saturating_sub(1);
        }
    }

    /// Counts a request against `github_secondary`: true when it is refused.
    fn github_secondary(&mut self) -> Option<Option<u64>> {
        let round = self.github_secondary.as_mut()?;
        if round.after > 0 {
            round.after -= 1;
            return None;
        }
        let retry_after = round.retry_after;
        round.times -= 1;
        if round.times == 0 {
            self.github_secondary = self.faults.github_secondary.filter(|s| s.repeat);
        }
        Some(retry_after)
    }
}

/// The fault layer: latency, auth, rate limit, fail-rate, then the route;
/// counts every non-control request with its final status.
async fn fault_layer(State(common): State<Arc<Common>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path.starts_with(CONTROL_PREFIX) {
        return next.run(req).await;
    }
    let counter = (common.classify)(req.method(), path);
    let _serving = common.stats.serving(counter);
    let logged = (
        req.method().clone(),
        path.to_owned(),
        req.uri().query().unwrap_or_default().to_owned(),
    );

    let (gate, github, latency_ms, fail_rate, lost_write_rate, broken) = {
        let mut cell = common.cell();
        let path_and_query = req.uri().path_and_query().map_or("", |p| p.as_str());
        let authorized = common.authorized(path_and_query, req.headers(), &cell.faults);
        let free = (common.flavor.github_free)(path);
        let github_refusal = if !authorized {
            None
        } else if cell.faults.github_forbidden {
            Some(GithubRefusal::Forbidden)
        } else if free {
            None
        } else if cell.github_budget(false).1 {
            Some(GithubRefusal::Primary)
        } else {
            cell.github_secondary()
                .map(|retry_after| GithubRefusal::Secondary { retry_after })
        };
        let FaultCell {
            faults,
            bucket,
            passed,
            downloads,
            ..
        } = &mut *cell;
        if let (true, Some(rotation)) = (authorized, &mut faults.rotate_token) {
            rotation.after -= 1;
            if rotation.after == 0 {
                faults.token = Some(rotation.to.clone());
                faults.rotate_token = None;
            }
        }
        let gate = if !authorized {
            Gate::Unauthorized
        } else if let Some(refusal) = github_refusal {
            Gate::Github(refusal)
        } else if let Some(bucket) = bucket {
            let limit = fmt_rate(bucket.rate());
            match bucket.try_take(Instant::now()) {
                Ok(remaining) => Gate::Pass {
                    limit: Some((
                        limit,
                        remaining,
                        (remaining as f64) < 0.2 * bucket.capacity(),
                    )),
                },
                Err(wait) => Gate::Limited {
                    limit,
                    retry_after: retry_after_secs(wait),
                },
            }
        } else {
            Gate::Pass { limit: None }
        };
        let due = |count: &mut u64, fault: Option<BodyFault>| {
            let fault = fault.filter(|_| matches!(gate, Gate::Pass { .. }))?;
            *count += 1;
            count.is_multiple_of(fault.every).then_some(fault.kind)
        };
        let blob_fault = faults
            .blob_fault
            .filter(|_| counter == Some(DOWNLOAD_COUNTER));
        let broken = due(downloads, blob_fault).or_else(|| due(passed, faults.body_fault));
        let (latency_ms, fail_rate, lost_write_rate) =
            (faults.latency_ms, faults.fail_rate, faults.lost_write_rate);
        // What reaches the route costs a request, and so does a permission
        // error; 401s, rate-limit refusals and free paths do not.
        let taken = !free
            && matches!(
                gate,
                Gate::Pass { .. } | Gate::Github(GithubRefusal::Forbidden)
            );
        let github = cell.github_budget(taken).0.map(|h| (h, taken));
        (gate, github, latency_ms, fail_rate, lost_write_rate, broken)
    };

    if latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(latency_ms)).await;
    }

    let flavor = &common.flavor;
    let atlassian = flavor.atlassian_rate_headers;
    let mut resp = match gate {
        Gate::Unauthorized => (flavor.unauthorized)(req.uri().path()),
        Gate::Github(refusal) => match refusal {
            GithubRefusal::Primary => {
                common.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                github_error(
                    StatusCode::FORBIDDEN,
                    "API rate limit exceeded for user ID 1.",
                    GITHUB_DOCS_PRIMARY,
                )
            }
            GithubRefusal::Secondary { retry_after } => {
                common.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                let mut resp = github_error(
                    StatusCode::FORBIDDEN,
                    GITHUB_SECONDARY_MESSAGE,
                    GITHUB_DOCS_SECONDARY,
                );
                if let Some(seconds) = retry_after {
                    resp.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
                }
                resp
            }
            GithubRefusal::Forbidden => github_error(
                StatusCode::FORBIDDEN,
                "Resource not accessible by integration",
                "https://docs.github.com/rest",
            ),
        },
        Gate::Limited { limit, retry_after } => {
            common.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
            let mut resp = (flavor.rate_limited)(req.uri().path());
            *resp.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            let h = resp.headers_mut();
            h.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            h.insert(X_RATELIMIT_LIMIT.clone(), header_value(&limit));
            h.insert(X_RATELIMIT_REMAINING.clone(), HeaderValue::from(0u64));
            if atlassian {
                let now = chrono::Utc::now();
                let reset = i64::try_from(retry_after)
                    .ok()
                    .and_then(chrono::Duration::try_seconds)
                    .and_then(|d| now.checked_add_signed(d))
                    .unwrap_or(now)
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                h.insert(
                    X_RATELIMIT_NEARLIMIT.clone(),
                    HeaderValue::from_static("true"),
                );
                h.insert(X_RATELIMIT_RESET.clone(), header_value(&reset));
                h.insert(
                    RATELIMIT_REASON.clone(),
                    HeaderValue::from_static("confluence-quota-tenant-based"),
                );
            }
            resp
        }
        Gate::Pass { limit } => {
            // Injected failures answer before the route, so nothing is
            // applied; a lost write answers after it.
            let mut resp = match injected_failure(fail_rate) {
                Some(status) => (flavor.injected_failure)(req.uri().path(), status),
                None => {
                    let write = is_write(req.method());
                    let resp = next.run(req).await;
                    if write && resp.status().is_success() && chance(lost_write_rate) {
                        common.stats.lost_writes.fetch_add(1, Ordering::Relaxed);
                        (flavor.injected_failure)(&logged.1, StatusCode::SERVICE_UNAVAILABLE)
                    } else {
                        resp
                    }
                }
            };
            if let Some(kind) = broken.filter(|_| resp.status().is_success()) {
                resp = break_response(kind, resp).await;
            }
            if let Some((limit, remaining, near)) = limit {
                let h = resp.headers_mut();
                h.insert(X_RATELIMIT_LIMIT.clone(), header_value(&limit));
                h.insert(X_RATELIMIT_REMAINING.clone(), HeaderValue::from(remaining));
                if atlassian && near {
                    h.insert(
                        X_RATELIMIT_NEARLIMIT.clone(),
                        HeaderValue::from_static("true"),
                    );
                }
            }
            resp
        }
    };
    // GitHub's headers (on every answer) replace the token bucket's.
    if let Some((mut headers, taken)) = github {
        if taken && resp.status() == StatusCode::NOT_MODIFIED {
            common.cell().github_refund();
            headers.1 += 1;
            headers.2 -= 1;
        }
        insert_github_headers(resp.headers_mut(), headers);
    }
    common.stats.record(counter, resp.status());
    let (method, path, query) = logged;
    common
        .requests
        .push(method, path, query, resp.status().as_u16());
    resp
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

async fn stats_handler(State(common): State<Arc<Common>>) -> Json<Value> {
    Json(common.stats.to_json())
}

async fn requests_handler(State(common): State<Arc<Common>>) -> Json<Value> {
    Json(common.requests.to_json())
}

async fn stats_reset(State(common): State<Arc<Common>>) -> StatusCode {
    common.stats.reset();
    StatusCode::NO_CONTENT
}

async fn faults_get(State(common): State<Arc<Common>>) -> Json<Value> {
    Json(common.faults_json())
}

async fn faults_set(State(common): State<Arc<Common>>, body: Bytes) -> Response {
    let body = match json_body(&body) {
        Ok(v) => v,
        Err(msg) => return bad_request(msg),
    };
    match common.update_faults(&body) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(msg) => bad_request(msg),
    }
}

fn not_found_default(method: &Method, path: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {method} {path}"),
    )
}

fn method_not_allowed_default(method: &Method, path: &str) -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {path}"),
    )
}

/// Wraps a fake's API router (state applied) with the generic control API,
/// JSON 404/405 answers and the fault layer.
pub fn router(common: Arc<Common>, api: Router) -> Router {
    let control = Router::new()
        .route("/_control/stats", get(stats_handler))
        .route("/_control/stats/reset", post(stats_reset))
        .route("/_control/faults", get(faults_get).post(faults_set))
        .route("/_control/requests", get(requests_handler))
        .with_state(common.clone());
    let (not_found, not_allowed) = (common.flavor.not_found, common.flavor.method_not_allowed);
    api.merge(control)
        .fallback(move |method: Method, uri: axum::http::Uri| async move {
            not_found(&method, uri.path())
        })
        .method_not_allowed_fallback(move |method: Method, uri: axum::http::Uri| async move {
            not_allowed(&method, uri.path())
        })
        .layer(middleware::from_fn_with_state(common, fault_layer))
}

/// Binds `127.0.0.1:port` (0: a free port), prints
/// `listening on http://127.0.0.1:PORT` (`https://` with `--tls`, then
/// `ca: PATH.pem` and `plain http: URL (redirects to https)`) as the first
/// stdout lines, flushes, and serves `app`
/// until the process is killed.
pub async fn serve(app: Router, args: &CommonArgs) -> std::io::Result<()> {
    serve_with(app, args, &[]).await
}

/// [`serve`], printing `extra` lines (e.g. the Supabase fake's keys) right
/// after the `listening on` (and `ca:`) lines. With `--tls`, SIGTERM and
/// SIGINT stop it cleanly, so the CA file is removed.
pub async fn serve_with(app: Router, args: &CommonArgs, extra: &[String]) -> std::io::Result<()> {
    use axum::serve::ListenerExt as _;
    use tokio::signal::unix::{signal, SignalKind};

    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, args.port)).await?;
    let addr = listener.local_addr()?;
    let tls = match args.tls {
        true => {
            let pki = TestPki::generate()?;
            let plain = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
            Some((pki.acceptor()?, CaFile::write(&pki.ca_pem)?, plain))
        }
        false => None,
    };
    {
        let mut out = std::io::stdout().lock();
        let scheme = if tls.is_some() { "https" } else { "http" };
        writeln!(out, "listening on {scheme}://{addr}")?;
        if let Some((_, ca, plain)) = &tls {
            writeln!(out, "ca: {}", ca.path().display())?;
            writeln!(
                out,
                "plain http: http://{} (redirects to https)",
                plain.local_addr()?
            )?;
        }
        for line in extra {
            writeln!(out, "{line}")?;
        }
        out.flush()?;
    }
    let Some((acceptor, _ca, plain)) = tls else {
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        return axum::serve(listener, app).await;
    };
    serve_https_redirects(plain, addr);
    let (mut term, mut int) = (
        signal(SignalKind::terminate())?,
        signal(SignalKind::interrupt())?,
    );
    tokio::select! {
        served = axum::serve(TlsListener::new(listener, acceptor)?, app) => served,
        _ = term.recv() => Ok(()),
        _ = int.recv() => Ok(()),
    }
}

/// A `200` JSON response from already serialised bytes.
pub fn json_bytes(bytes: Vec<u8>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        Body::from(bytes),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refuses_then_refills() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(3.0, t0);
        assert_eq!(b.try_take(t0), Ok(2));
        assert_eq!(b.try_take(t0), Ok(1));
        assert_eq!(b.try_take(t0), Ok(0));
        let wait = b.try_take(t0).unwrap_err();
        assert!(
            (wait.as_secs_f64() - 1.0 / 3.0).abs() < 1e-6,
            "wait {wait:?}"
        );
        assert_eq!(retry_after_secs(wait), 1);
        // A third of a second later one token is back.
        let t1 = t0 + Duration::from_millis(334);
        assert_eq!(b.try_take(t1), Ok(0));
        assert!(b.try_take(t1).is_err());
        // Refill is capped at the burst.
        let t2 = t1 + Duration::from_secs(60);
        assert_eq!(b.try_take(t2), Ok(2));
    }

    #[test]
    fn slow_bucket_retry_after_rounds_up() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(0.25, t0);
        assert_eq!(b.try_take(t0), Ok(0));
        let wait = b.try_take(t0).unwrap_err();
        assert_eq!(retry_after_secs(wait), 4);
        let wait = b.try_take(t0 + Duration::from_millis(1500)).unwrap_err();
        assert_eq!(retry_after_secs(wait), 3);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
    }

    #[test]
    fn time_going_backwards_does_not_add_tokens() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut b = TokenBucket::new(1.0, t0);
        assert_eq!(b.try_take(t0), Ok(0));
        assert!(b.try_take(t0 - Duration::from_secs(5)).is_err());
    }

    #[test]
    fn basic_check() {
        let mut h = HeaderMap::new();
        assert!(!basic_ok(&h, "a@b.c", "tok"));
        // base64("a@b.c:tok:with:colons")
        let good = format!(
            "Basic {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                "a@b.c:tok:with:colons"
            )
        );
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(&good).unwrap());
        assert!(basic_ok(&h, "a@b.c", "tok:with:colons"));
        assert!(!basic_ok(&h, "a@b.c", "tok"));
        assert!(!basic_ok(&h, "x@b.c", "tok:with:colons"));
        let lower = good.replacen("Basic", "basic", 1);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&lower).unwrap(),
        );
        assert!(basic_ok(&h, "a@b.c", "tok:with:colons"));
        let bearer = good.replacen("Basic", "Bearer", 1);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&bearer).unwrap(),
        );
        assert!(!basic_ok(&h, "a@b.c", "tok:with:colons"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert!(!basic_ok(&h, "a@b.c", "tok:with:colons"));
    }

    #[test]
    fn rate_header_format() {
        assert_eq!(fmt_rate(5.0), "5");
        assert_eq!(fmt_rate(0.5), "0.5");
    }

    #[test]
    fn bearer_check() {
        let mut h = HeaderMap::new();
        assert!(!bearer_ok(&h, "s3cret"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cret"),
        );
        assert!(bearer_ok(&h, "s3cret"));
        assert!(!bearer_ok(&h, "other"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer s3cret"),
        );
        assert!(bearer_ok(&h, "s3cret"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic s3cret"),
        );
        assert!(!bearer_ok(&h, "s3cret"));
    }

    #[test]
    fn faults_json_partial_update_and_validation() {
        let mut f = Faults::default();
        f.apply_json(&json!({"latency_ms": 20, "rate_limit": 5}))
            .unwrap();
        assert_eq!(f.latency_ms, 20);
        assert_eq!(f.rate_limit, Some(5.0));
        f.apply_json(&json!({"token": "t", "rate_limit": null}))
            .unwrap();
        assert_eq!(f.latency_ms, 20);
        assert_eq!(f.rate_limit, None);
        assert_eq!(f.token.as_deref(), Some("t"));
        let before = f.clone();
        assert!(f.apply_json(&json!({"fail_rate": 1.5})).is_err());
        assert!(f.apply_json(&json!({"latency_ms": 1, "nope": 1})).is_err());
        assert!(f.apply_json(&json!([1])).is_err());
        assert!(f
            .apply_json(&json!({"body_fault": {"kind": "melt", "every": 1}}))
            .is_err());
        assert!(f
            .apply_json(&json!({"body_fault": {"kind": "reset", "every": 0}}))
            .is_err());
        assert!(f
            .apply_json(&json!({"rotate_token": {"after": 3}}))
            .is_err());
        assert_eq!(f, before, "a rejected update changes nothing");

        f.apply_json(&json!({"body_fault": {"kind": "stall", "every": 4}}))
            .unwrap();
        assert_eq!(
            f.body_fault,
            Some(BodyFault {
                kind: crate::fake::broken::BodyFaultKind::Stall,
                every: 4
            })
        );
        f.apply_json(&json!({"rotate_token": {"after": 2, "to": "u"}}))
            .unwrap();
        assert_eq!(f.token.as_deref(), Some("t"), "rotation waits");
        f.apply_json(&json!({"rotate_token": {"after": 0, "to": "v"}}))
            .unwrap();
        assert_eq!(f.token.as_deref(), Some("v"), "after 0 rotates at once");
        assert_eq!(f.rotate_token, None);
    }

    #[test]
    fn stats_count_and_reset() {
        let s = Stats::new(&["list_requests", "item_requests"]);
        s.record(Some("list_requests"), StatusCode::OK);
        s.record(Some("list_requests"), StatusCode::TOO_MANY_REQUESTS);
        s.record(None, StatusCode::NOT_FOUND);
        let v = s.to_json();
        assert_eq!(v["requests"], 3);
        assert_eq!(v["list_requests"], 2);
        assert_eq!(v["item_requests"], 0);
        assert_eq!(v["by_status"], json!({"200": 1, "429": 1, "404": 1}));
        s.reset();
        assert_eq!(
            s.to_json(),
            json!({"requests": 0, "list_requests": 0, "item_requests": 0, "by_status": {}, "lost_writes": 0,
                   "rate_limited": 0, "not_modified": 0, "max_in_flight": 0, "max_in_flight_by_kind": {"list_requests": 0, "item_requests": 0}})
        );
    }

    #[test]
    fn stats_keep_the_most_requests_in_flight_at_once() {
        let s = Stats::new(&["list_requests", "item_requests"]);
        let a = s.serving(Some("item_requests"));
        let b = s.serving(Some("item_requests"));
        drop(s.serving(None));
        drop((a, b));
        let c = s.serving(Some("list_requests"));
        let v = s.to_json();
        assert_eq!(v["max_in_flight"], 3);
        assert_eq!(
            v["max_in_flight_by_kind"],
            json!({"list_requests": 1, "item_requests": 2})
        );
        s.reset();
        assert_eq!(s.to_json()["max_in_flight"], 1, "the one still in flight");
        drop(c);
    }

    #[test]
    fn request_log_keeps_the_latest() {
        let log = RequestLog::default();
        for i in 0..REQUEST_LOG_CAPACITY + 2 {
            log.push(Method::GET, format!("/p{i}"), "a=1".into(), 200);
        }
        let v = log.to_json();
        let entries = v.as_array().unwrap();
        assert_eq!(entries.len(), REQUEST_LOG_CAPACITY);
        assert_eq!(
            entries[0],
            json!({"method": "GET", "path": "/p2", "query": "a=1", "status": 200})
        );
    }

    #[test]
    fn if_match_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(if_match(&h), Ok(None));
        h.insert(header::IF_MATCH, HeaderValue::from_static("\"3\""));
        let m = if_match(&h).unwrap().unwrap();
        assert!(m.matches("3") && !m.matches("4"));
        h.append(header::IF_MATCH, HeaderValue::from_static("\"4\", \"5\""));
        assert_eq!(
            if_match(&h),
            Ok(Some(IfMatch::Tags(vec![
                "3".into(),
                "4".into(),
                "5".into()
            ])))
        );
        h.insert(header::IF_MATCH, HeaderValue::from_static("*"));
        assert_eq!(if_match(&h), Ok(Some(IfMatch::Any)));
        for bad in ["3", "W/\"3\"", "", "\"3"] {
            h.insert(header::IF_MATCH, HeaderValue::from_static(bad));
            assert!(if_match(&h).is_err(), "{bad}");
        }
    }

    #[test]
    fn idempotency_key_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(idempotency_key(&h), Ok(None));
        h.insert("idempotency-key", HeaderValue::from_static("abc-1"));
        assert_eq!(idempotency_key(&h), Ok(Some("abc-1".into())));
        h.insert("idempotency-key", HeaderValue::from_static("\"quoted\""));
        assert_eq!(idempotency_key(&h), Ok(Some("quoted".into())));
        h.insert("idempotency-key", HeaderValue::from_static(""));
        assert!(idempotency_key(&h).is_err());
        let long = "k".repeat(MAX_IDEMPOTENCY_KEY + 1);
        h.insert("idempotency-key", HeaderValue::from_str(&long).unwrap());
        assert!(idempotency_key(&h).is_err());
        h.insert("idempotency-key", HeaderValue::from_static("a"));
        h.append("idempotency-key", HeaderValue::from_static("b"));
        assert!(idempotency_key(&h).is_err());
    }

    #[test]
    fn injected_failure_extremes() {
        assert_eq!(injected_failure(0.0), None);
        for _ in 0..100 {
            let s = injected_failure(1.0).expect("rate 1 always fails");
            assert!([500, 502, 503].contains(&s.as_u16()));
        }
    }
}
