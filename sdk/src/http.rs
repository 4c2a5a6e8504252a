//! HTTP through the host: the plugin's only way to reach the network.
//!
//! Build a [`Request`], [`send`](Request::send) it (or many at once with
//! [`send_batch`]), turn error statuses into classified [`Error`]s with
//! [`Response::error_for_status`], and decode the body with
//! [`Response::json`]:
//!
//! ```no_run
//! # use synchost_sdk::{http, Error};
//! # #[derive(serde::Deserialize)] struct Listing {}
//! # fn f() -> Result<(), Error> {
//! let listing: Listing = http::Request::get("https://api.example.com/items")
//!     .query("limit", 100)
//!     .query_opt("cursor", None::<&str>)
//!     .send()?
//!     .error_for_status()?
//!     .json()?;
//! # Ok(()) }
//! ```
//!
//! The host applies its policy to every request: only the source's allowed
//! hosts are reachable, credentials are added by the host (never set an
//! `authorization` header yourself), and connection failures, 5xx and 429 are
//! retried by the host before the plugin sees the outcome. So a plugin never
//! retries or sleeps: it maps the final outcome to an [`Error`] and returns.
//!
//! Sending goes through the host; in native tests, through the test
//! transport of [`testing`](crate::testing). The rest of this module is plain
//! Rust.

use crate::bindings::synchost::source::http as wit;
use crate::Error;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::{Display, Write as _};

/// Why a request got no response (see [`map_http_error`]).
pub use wit::HttpError;

/// The host's `send` and `send-batch`; natively, the test transport.
#[cfg(target_family = "wasm")]
mod transport {
    pub(super) use super::wit::{send, send_batch};
}
#[cfg(not(target_family = "wasm"))]
use crate::testing::transport;

/// How many characters of a body error messages quote.
const EXCERPT_CHARS: usize = 200;

/// An HTTP request to send through the host.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    timeout_ms: Option<u32>,
    /// A failure while building (e.g. a body that did not serialize),
    /// reported by `send` instead of a panic.
    error: Option<Error>,
}

impl Request {
    /// A request with `method` (upper case: GET, POST, …) to the absolute
    /// http(s) `url`.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        Request {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
            timeout_ms: None,
            error: None,
        }
    }

    /// A `GET` request.
    pub fn get(url: impl Into<String>) -> Self {
        Request::new("GET", url)
    }

    /// A `POST` request.
    pub fn post(url: impl Into<String>) -> Self {
        Request::new("POST", url)
    }

    /// A `PUT` request.
    pub fn put(url: impl Into<String>) -> Self {
        Request::new("PUT", url)
    }

    /// A `PATCH` request.
    pub fn patch(url: impl Into<String>) -> Self {
        Request::new("PATCH", url)
    }

    /// A `DELETE` request.
    pub fn delete(url: impl Into<String>) -> Self {
        Request::new("DELETE", url)
    }

    /// A `HEAD` request.
    pub fn head(url: impl Into<String>) -> Self {
        Request::new("HEAD", url)
    }

    /// Adds a header. Credentials are the host's business: an
    /// `authorization` header set here is replaced by the host's.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets header `name`, replacing every value set before (e.g. a default
    /// `accept` of an [`Api`] that one request needs otherwise).
    pub fn replace_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(&name));
        self.header(name, value)
    }

    /// Appends the query parameter `name=value` to the URL, percent-encoding
    /// both (`value` is formatted with `Display`, so numbers work too).
    pub fn query(mut self, name: &str, value: impl Display) -> Self {
        let sep = match self.url.rfind('?') {
            None => "?",
            Some(_) if self.url.ends_with(['?', '&']) => "",
            Some(_) => "&",
        };
        let value = value.to_string();
        let _ = write!(self.url, "{sep}{}={}", encode(name), encode(&value));
        self
    }

    /// Like [`query`](Request::query) when `value` is `Some`; does nothing
    /// when it is `None`.
    pub fn query_opt(self, name: &str, value: Option<impl Display>) -> Self {
        match value {
            Some(v) => self.query(name, v),
            None => self,
        }
    }

    /// Sets the body to `value` as JSON, with `content-type: application/json`.
    /// A serialization failure is reported by `send` as [`Error::Fatal`].
    pub fn json(mut self, value: &impl Serialize) -> Self {
        match serde_json::to_vec(value) {
            Ok(bytes) => {
                self.body = Some(bytes);
                self.set_default_header("content-type", "application/json");
            }
            Err(e) => self.error = Some(Error::Fatal(format!("request body is not JSON: {e}"))),
        }
        self
    }

    /// Sets a raw body.
    pub fn body(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.body = Some(bytes.into());
        self
    }

    /// Sets this request's timeout (the host clamps it to its own limit).
    pub fn timeout_ms(mut self, ms: u32) -> Self {
        self.timeout_ms = Some(ms);
        self
    }

    /// The method.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The URL, with the query parameters added so far.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The headers set so far.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first value of header `name` set so far (case-insensitive).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body set so far.
    pub fn body_bytes(&self) -> Option<&[u8]> {
        self.body.as_deref()
    }

    /// Sends the request through the host and waits for the final response
    /// (after the host's retries). Any status is `Ok`: chain
    /// [`Response::error_for_status`] to turn error statuses into [`Error`]s.
    /// A request that got no response is mapped by [`map_http_error`].
    pub fn send(self) -> Result<Response, Error> {
        let (req, origin) = self.into_wit()?;
        let outcome = transport::send(&req);
        response_from_wit(outcome, origin)
    }

    fn set_default_header(&mut self, name: &str, value: &str) {
        if !self
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            self.headers.push((name.into(), value.into()));
        }
    }

    /// The request as the plugin built it, from its wire form.
    #[cfg(not(target_family = "wasm"))]
    pub(crate) fn from_wit(req: &wit::Request) -> Request {
        Request {
            method: req.method.clone(),
            url: req.url.clone(),
            headers: req.headers.clone(),
            body: req.body.clone(),
            timeout_ms: req.timeout_ms,
            error: None,
        }
    }

    fn into_wit(self) -> Result<(wit::Request, String), Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let origin = format!("{} {}", self.method, self.url);
        let req = wit::Request {
            method: self.method,
            url: self.url,
            headers: self.headers,
            body: self.body,
            timeout_ms: self.timeout_ms,
        };
        Ok((req, origin))
    }
}

/// Sends many requests at once: the host runs them concurrently within the
/// source's limits. Returns one result per request, in order, each as
/// [`Request::send`] would.
pub fn send_batch(requests: Vec<Request>) -> Vec<Result<Response, Error>> {
    let mut slots: Vec<Option<Result<Response, Error>>> = Vec::with_capacity(requests.len());
    let mut wire = Vec::new();
    let mut origins = Vec::new();
    for request in requests {
        match request.into_wit() {
            Ok((req, origin)) => {
                wire.push(req);
                origins.push(origin);
                slots.push(None);
            }
            Err(e) => slots.push(Some(Err(e))),
        }
    }
    let mut answers = if wire.is_empty() {
        Vec::new()
    } else {
        transport::send_batch(&wire)
    }
    .into_iter()
    .zip(origins);
    slots
        .into_iter()
        .map(|slot| match slot {
            Some(failed) => failed,
            None => match answers.next() {
                Some((outcome, origin)) => response_from_wit(outcome, origin),
                None => Err(Error::Fatal(
                    "host returned fewer responses than requests".into(),
                )),
            },
        })
        .collect()
}

fn response_from_wit(
    outcome: Result<wit::Response, wit::HttpError>,
    origin: String,
) -> Result<Response, Error> {
    match outcome {
        Ok(r) => Ok(Response {
            status: r.status,
            headers: r.headers,
            body: r.body,
            origin,
        }),
        Err(e) => Err(map_http_error(e, &origin)),
    }
}

/// Maps a request that got no response to an [`Error`]; `origin` (such as
/// `GET https://…`) prefixes the message.
///
/// | `http-error`  | [`Error`]                                          |
/// |---------------|----------------------------------------------------|
/// | `denied`      | `Fatal("request denied by host policy: …")`        |
/// | `timeout`     | `Transient`                                        |
/// | `connection`  | `Transient`                                        |
/// | `too-large`   | `InvalidResponse` (the body exceeded the host cap) |
pub fn map_http_error(error: wit::HttpError, origin: &str) -> Error {
    match error {
        wit::HttpError::Denied(why) => {
            Error::Fatal(format!("{origin}: request denied by host policy: {why}"))
        }
        wit::HttpError::Timeout => Error::Transient(format!("{origin}: timed out")),
        wit::HttpError::Connection(why) => {
            Error::Transient(format!("{origin}: connection failed: {why}"))
        }
        wit::HttpError::TooLarge(cap) => Error::InvalidResponse(format!(
            "{origin}: response body larger than the host's cap of {cap} bytes"
        )),
    }
}

/// The final response to a [`Request`].
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The whole body (bounded by the host's response-size cap).
    pub body: Vec<u8>,
    /// `METHOD url` of the request, for error messages.
    origin: String,
}

impl Response {
    /// A response, e.g. for tests. Error messages of responses built here do
    /// not name the request.
    pub fn new(status: u16, headers: Vec<(String, String)>, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers,
            body: body.into(),
            origin: String::new(),
        }
    }

    /// True for 2xx statuses.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8 text; `invalid-response` if it is not UTF-8.
    pub fn text(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.body)
            .map_err(|e| Error::InvalidResponse(format!("{}body is not UTF-8: {e}", self.prefix())))
    }

    /// The body decoded from JSON; `invalid-response` quoting the start of
    /// the body if it does not decode as `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::InvalidResponse(format!(
                "{}unexpected JSON (HTTP {}): {e}; body: {}",
                self.prefix(),
                self.status,
                excerpt(&self.body)
            ))
        })
    }

    /// `Ok(self)` unless the status is an error, which becomes the [`Error`]
    /// the host acts on (see [`Response::status_error`]).
    pub fn error_for_status(self) -> Result<Response, Error> {
        match self.status_error() {
            Some(e) => Err(e),
            None => Ok(self),
        }
    }

    /// The [`Error`] for an error status, `None` for 1xx, 2xx and 3xx:
    ///
    /// | status                                   | [`Error`]                    |
    /// |------------------------------------------|------------------------------|
    /// | 401                                      | `Auth`                       |
    /// | 403 with `x-ratelimit-remaining: 0`, `retry-after` or GitHub's secondary-limit message | `RateLimited` |
    /// | 403 otherwise                            | `Auth` (permission denied)   |
    /// | 404, 410                                 | `NotFound`                   |
    /// | 409, 412                                 | `Conflict`                   |
    /// | 429                                      | `RateLimited`                |
    /// | 503 with `retry-after`                   | `RateLimited`                |
    /// | 408, 5xx                                 | `Transient`                  |
    /// | other 4xx and above                      | `Fatal`                      |
    ///
    /// The wait of `RateLimited`, in whole seconds (at least 1): `retry-after`
    /// (seconds or an HTTP date); else, when `x-ratelimit-remaining` is 0,
    /// the time to `x-ratelimit-reset` (epoch seconds or ISO 8601); else 60
    /// for a 403 or a secondary limit (GitHub: "wait at least one minute"),
    /// 1 for a bare 429. The host reads responses the same way (both test
    /// `wit/v0.2/conformance/rate-limits.json`), and waits out most rate
    /// limits before the plugin sees them. The messages quote the start of
    /// the body.
    pub fn status_error(&self) -> Option<Error> {
        let status = self.status;
        if status < 400 {
            return None;
        }
        let msg = format!(
            "{}HTTP {status}{}: {}",
            self.prefix(),
            reason(status).map(|r| format!(" {r}")).unwrap_or_default(),
            excerpt(&self.body)
        );
        if let Some(seconds) = self.rate_limit_at(unix_now()) {
            return Some(Error::RateLimited(seconds));
        }
        Some(match status {
            401 | 403 => Error::Auth(msg),
            404 | 410 => Error::NotFound(msg),
            409 | 412 => Error::Conflict(msg),
            408 | 500..=599 => Error::Transient(msg),
            _ => Error::Fatal(msg),
        })
    }

    /// The wait, in whole seconds, a rate-limit answer asks for at `now`
    /// (epoch seconds); `None` when it is no rate limit.
    fn rate_limit_at(&self, now: u64) -> Option<u32> {
        let spent = self.header("x-ratelimit-remaining").map(str::trim) == Some("0");
        let retry_after = self
            .header("retry-after")
            .and_then(|v| time::retry_after(v, now));
        let secondary = matches!(self.status, 403 | 429) && is_secondary_message(&self.body);
        let limited = match self.status {
            429 => true,
            403 => spent || retry_after.is_some() || secondary,
            503 => retry_after.is_some(),
            _ => false,
        };
        if !limited {
            return None;
        }
        let reset = if spent {
            self.header("x-ratelimit-reset")
                .and_then(|v| time::reset(v, now))
        } else {
            None
        };
        let wait = match retry_after.or(reset) {
            Some(wait) => wait,
            None if self.status == 403 || secondary || spent => 60,
            None => 1,
        };
        Some(wait.clamp(1, u32::MAX as u64) as u32)
    }

    fn prefix(&self) -> String {
        if self.origin.is_empty() {
            String::new()
        } else {
            format!("{}: ", self.origin)
        }
    }
}

/// Seconds since the Unix epoch (0 when the clock says otherwise).
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// True when the start of `body` carries GitHub's secondary-limit message,
/// e.g. "You have exceeded a secondary rate limit".
fn is_secondary_message(body: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"secondary rate limit";
    body[..body.len().min(4096)]
        .windows(NEEDLE.len())
        .any(|w| w.eq_ignore_ascii_case(NEEDLE))
}

/// The times of rate-limit headers, without a date crate.
mod time {
    /// `Retry-After`: delay-seconds (absurd values saturate) or an HTTP date
    /// (IMF-fixdate, `Thu, 01 Jan 2026 12:00:42 GMT`): seconds from `now`.
    pub fn retry_after(value: &str, now: u64) -> Option<u64> {
        let value = value.trim();
        if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            return Some(value.parse().unwrap_or(u64::MAX));
        }
        let mut parts = value.split_ascii_whitespace();
        let (_weekday, day, month, year, clock, zone) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if zone != "GMT" || parts.next().is_some() {
            return None;
        }
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let month = MONTHS.iter().position(|m| *m == month)? as u32 + 1;
        let at = epoch(year.parse().ok()?, month, day.parse().ok()?, clock)?;
        Some(at.saturating_sub(now))
    }

    /// `x-ratelimit-reset`: epoch seconds (GitHub) or ISO 8601 (Atlassian,
    /// `2026-01-01T12:01Z`, `2026-01-01T12:00:30+00:00`): seconds from `now`.
    pub fn reset(value: &str, now: u64) -> Option<u64> {
        let value = value.trim();
        if let Ok(at) = value.parse::<u64>() {
            return Some(at.saturating_sub(now));
        }
        let (date, rest) = value.split_once('T')?;
        let mut ymd = date.split('-');
        let (year, month, day) = (
            ymd.next()?.parse().ok()?,
            ymd.next()?.parse().ok()?,
            ymd.next()?.parse().ok()?,
        );
        let (clock, offset) = match rest.find(['Z', 'z', '+', '-']) {
            Some(i) => rest.split_at(i),
            None => return None,
        };
        let offset: i64 = match offset {
            "Z" | "z" => 0,
            _ => {
                let sign = if offset.starts_with('-') { -1 } else { 1 };
                let (h, m) = offset[1..].split_once(':').unwrap_or((&offset[1..], "0"));
                sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
            }
        };
        let at = epoch(year, month, day, clock.split('.').next()?)? as i64 - offset;
        Some((at.max(0) as u64).saturating_sub(now))
    }

    /// Epoch seconds of a UTC date and `HH:MM[:SS]`.
    fn epoch(year: i64, month: u32, day: u32, clock: &str) -> Option<u64> {
        let mut hms = clock.split(':');
        let hours: u64 = hms.next()?.parse().ok()?;
        let minutes: u64 = hms.next()?.parse().ok()?;
        let seconds: u64 = hms.next().map_or(Some(0), |s| s.parse().ok())?;
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hours > 23 || minutes > 59 {
            return None;
        }
        let days = crate::time::days_from_civil(year, month, day);
        u64::try_from(days)
            .ok()
            .map(|days| days * 86_400 + hours * 3600 + minutes * 60 + seconds)
    }
}

fn reason(status: u16) -> Option<&'static str> {
    Some(match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => return None,
    })
}

/// The start of a body for an error message: lossy UTF-8, whitespace
/// collapsed, at most 200 characters.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out = String::new();
    for (i, word) in text.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
        if out.chars().count() > EXCERPT_CHARS {
            break;
        }
    }
    if out.is_empty() {
        return "(empty body)".into();
    }
    match out.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &out[..cut]),
        None => out,
    }
}

/// The target of the link with relation `rel` in the response's RFC 8288
/// `Link` header (`<https://…?page=2>; rel="next", <…>; rel="last"`), as
/// the server wrote it (absolute or relative: see [`Api::follow`]). A link
/// with several relations (`rel="next last"`) matches each of them.
pub fn link_rel(response: &Response, rel: &str) -> Option<String> {
    let header = response.header("link")?;
    let mut rest = header;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let close = after.find('>')?;
        let target = &after[..close];
        let params_end = after[close..].find('<').map_or(after.len(), |i| close + i);
        let params = &after[close + 1..params_end];
        let matches = params.split(';').any(|param| {
            let Some((name, value)) = param.split_once('=') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_end_matches(',')
                    .trim_end()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|r| r.eq_ignore_ascii_case(rel))
        });
        if matches {
            return Some(target.to_owned());
        }
        rest = &after[params_end..];
    }
    None
}

/// One remote API: its base URL and the headers every request to it
/// carries (an `accept`, a version header). Requests are built here and
/// sent as usual ([`Request::send`], [`send_batch`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Api {
    base: String,
    headers: Vec<(String, String)>,
}

impl Api {
    /// An API rooted at `base_url` (a trailing `/` is dropped).
    pub fn new(base_url: impl Into<String>) -> Api {
        let mut base = base_url.into();
        while base.ends_with('/') {
            base.pop();
        }
        Api {
            base,
            headers: Vec::new(),
        }
    }

    /// Adds a header every request carries.
    pub fn header(mut self, name: &str, value: &str) -> Api {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `method` to base + `path` (which starts with `/`), with the default
    /// headers.
    pub fn request(&self, method: &str, path: &str) -> Request {
        self.with_headers(Request::new(method, self.url(path)))
    }

    /// A `GET` of base + `path`, with the default headers.
    pub fn get(&self, path: &str) -> Request {
        self.request("GET", path)
    }

    /// A `GET` of a link the API gave (a next page): absolute links are
    /// followed exactly as given, others are taken relative to the base URL.
    pub fn follow(&self, link: &str) -> Request {
        self.with_headers(Request::get(self.url(link)))
    }

    /// base + `link`, unless `link` is already an absolute http(s) URL.
    pub fn url(&self, link: &str) -> String {
        let scheme = link.get(..8).unwrap_or(link).to_ascii_lowercase();
        if scheme.starts_with("http://") || scheme.starts_with("https://") {
            return link.to_owned();
        }
        let slash = if link.starts_with('/') { "" } else { "/" };
        format!("{}{slash}{link}", self.base)
    }

    fn with_headers(&self, mut request: Request) -> Request {
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        request
    }
}

/// `value` in double quotes, `"` and `\` escaped with `\`: a string in a
/// query language (Confluence's CQL, PostgREST's logic trees and `in`
/// lists), where it may then hold the language's reserved characters.
///
/// ```
/// assert_eq!(synchost_sdk::http::quote(r#"a"b\c,d"#), r#""a\"b\\c,d""#);
/// ```
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Percent-encodes `s` for use as one URL query value or path segment:
/// everything but `A–Z a–z 0–9 - . _ ~` becomes `%XX` (UTF-8 bytes).
///
/// ```
/// assert_eq!(synchost_sdk::http::encode("a b/c&d=é"), "a%20b%2Fc%26d%3D%C3%A9");
/// ```
pub fn encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        let headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Response::new(status, headers, body)
    }

    fn kind(e: &Error) -> &'static str {
        match e {
            Error::Auth(_) => "auth",
            Error::RateLimited(_) => "rate-limited",
            Error::Transient(_) => "transient",
            Error::NotFound(_) => "not-found",
            Error::InvalidConfig(_) => "invalid-config",
            Error::InvalidResponse(_) => "invalid-response",
            Error::Conflict(_) => "conflict",
            Error::Unsupported(_) => "unsupported",
            Error::Fatal(_) => "fatal",
        }
    }

    #[test]
    fn status_mapping() {
        let cases: &[(u16, &str)] = &[
            (200, "ok"),
            (204, "ok"),
            (304, "ok"),
            (400, "fatal"),
            (401, "auth"),
            (403, "auth"),
            (404, "not-found"),
            (405, "fatal"),
            (408, "transient"),
            (409, "conflict"),
            (410, "not-found"),
            (412, "conflict"),
            (422, "fatal"),
            (429, "rate-limited"),
            (500, "transient"),
            (502, "transient"),
            (503, "transient"),
            (599, "transient"),
            (600, "fatal"),
        ];
        for &(status, want) in cases {
            let got = resp(status, &[], "{}").status_error();
            let got = got.as_ref().map_or("ok", kind);
            assert_eq!(got, want, "status {status}");
        }
    }

    /// Every case of the conformance vectors the host tests too.
    #[test]
    fn rate_limits_follow_the_conformance_vectors() {
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../conformance/rate-limits.json")).unwrap();
        let now = vectors["now"].as_u64().unwrap();
        for case in vectors["cases"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let headers: Vec<(&str, &str)> = case["headers"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
                .collect();
            let r = resp(
                case["status"].as_u64().unwrap() as u16,
                &headers,
                case["body"].as_str().unwrap(),
            );
            let expect = &case["expect"];
            match expect["wait_s"].as_u64() {
                Some(wait) => assert_eq!(
                    r.rate_limit_at(now),
                    Some(wait.clamp(1, u32::MAX as u64) as u32),
                    "{name}"
                ),
                None => {
                    assert_eq!(r.rate_limit_at(now), None, "{name}");
                    let got = r.status_error().expect("an error status");
                    assert_eq!(kind(&got), expect["error"].as_str().unwrap(), "{name}");
                }
            }
        }
    }

    #[test]
    fn a_rate_limit_is_rate_limited_now() {
        let r = resp(429, &[("retry-after", "7")], "");
        assert_eq!(r.status_error(), Some(Error::RateLimited(7)));
        let r = resp(403, &[("x-ratelimit-remaining", "12")], "no access");
        assert!(matches!(r.status_error(), Some(Error::Auth(m)) if m.contains("no access")));
        assert_eq!(
            time::reset("2026-01-01T12:00:30+01:00", 1_767_268_800),
            Some(0)
        );
        assert_eq!(
            time::reset("2026-01-01T12:00:30-01:00", 1_767_268_800),
            Some(3630)
        );
        assert_eq!(time::retry_after("Thu, 01 Jan 2026 12:00:42 UTC", 0), None);
    }

    #[test]
    fn messages_name_request_and_quote_body() {
        let mut r = resp(
            404,
            &[],
            r#"{"error":"not_found","message":"no item item-000042"}"#,
        );
        r.origin = "GET http://x/items/item-000042".into();
        let Some(Error::NotFound(msg)) = r.status_error() else {
            panic!()
        };
        assert!(
            msg.starts_with("GET http://x/items/item-000042: HTTP 404 Not Found: "),
            "{msg}"
        );
        assert!(msg.contains("no item item-000042"), "{msg}");
        let Some(Error::Fatal(msg)) = resp(400, &[], "").status_error() else {
            panic!()
        };
        assert_eq!(msg, "HTTP 400 Bad Request: (empty body)");
        assert!(resp(200, &[], "x").error_for_status().is_ok());
    }

    #[test]
    fn excerpts_are_short() {
        let long = "é ".repeat(1000);
        let e = excerpt(long.as_bytes());
        assert_eq!(e.chars().count(), EXCERPT_CHARS + 1);
        assert!(e.ends_with('…'));
        assert_eq!(excerpt(b"  a \n\t b  "), "a b");
        assert_eq!(excerpt(&[0xff, b'a']), "\u{fffd}a");
    }

    #[test]
    fn json_and_text() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct T {
            a: u32,
        }
        assert_eq!(
            resp(200, &[], r#"{"a":1}"#).json::<T>().unwrap(),
            T { a: 1 }
        );
        let err = resp(200, &[], "<html>oops</html>").json::<T>().unwrap_err();
        assert!(
            matches!(&err, Error::InvalidResponse(m) if m.contains("<html>oops</html>")),
            "{err}"
        );
        assert_eq!(resp(200, &[], "hi").text().unwrap(), "hi");
        assert!(Response::new(200, vec![], vec![0xff]).text().is_err());
        let r = resp(200, &[("content-type", "text/plain")], "");
        assert_eq!(r.header("Content-Type"), Some("text/plain"));
        assert_eq!(r.header("etag"), None);
    }

    #[test]
    fn query_encoding() {
        let r = Request::get("http://h/items")
            .query("limit", 100)
            .query_opt("cursor", Some("a+b/c=="))
            .query_opt("since", None::<&str>)
            .query("q", "x y&z");
        assert_eq!(
            r.url(),
            "http://h/items?limit=100&cursor=a%2Bb%2Fc%3D%3D&q=x%20y%26z"
        );
        assert_eq!(
            Request::get("http://h/?a=1").query("b", 2).url(),
            "http://h/?a=1&b=2"
        );
        assert_eq!(
            Request::get("http://h/?").query("b", 2).url(),
            "http://h/?b=2"
        );
        assert_eq!(encode("AZaz09-._~"), "AZaz09-._~");
        assert_eq!(encode("ü €"), "%C3%BC%20%E2%82%AC");
    }

    #[test]
    fn request_building() {
        let r = Request::post("http://h/x")
            .json(&serde_json::json!({"a": 1}))
            .timeout_ms(500);
        assert_eq!(r.method(), "POST");
        assert_eq!(
            r.headers(),
            &[("content-type".to_string(), "application/json".to_string())]
        );
        let (wire, origin) = r.into_wit().unwrap();
        assert_eq!(wire.body.as_deref(), Some(&b"{\"a\":1}"[..]));
        assert_eq!(wire.timeout_ms, Some(500));
        assert_eq!(origin, "POST http://h/x");

        let explicit = Request::put("http://h/x").header("Content-Type", "application/vnd+json");
        assert_eq!(explicit.json(&1).headers().len(), 1);

        let mut bad = std::collections::HashMap::new();
        bad.insert(vec![1u8], 1);
        let err = Request::post("http://h/x")
            .json(&bad)
            .into_wit()
            .unwrap_err();
        assert!(matches!(err, Error::Fatal(_)));
    }

    #[test]
    fn http_error_mapping() {
        let o = "GET http://h/";
        let e = map_http_error(wit::HttpError::Denied("host not allowed".into()), o);
        assert_eq!(
            e,
            Error::Fatal("GET http://h/: request denied by host policy: host not allowed".into())
        );
        assert!(matches!(
            map_http_error(wit::HttpError::Timeout, o),
            Error::Transient(_)
        ));
        let e = map_http_error(wit::HttpError::Connection("refused".into()), o);
        assert!(matches!(e, Error::Transient(m) if m.contains("refused")));
        let e = map_http_error(wit::HttpError::TooLarge(1024), o);
        assert!(matches!(e, Error::InvalidResponse(m) if m.contains("1024")));
    }

    #[test]
    fn batch_of_unsendable_requests_needs_no_host() {
        let mut bad = std::collections::HashMap::new();
        bad.insert(vec![1u8], 1);
        let results = send_batch(vec![Request::post("http://h/").json(&bad)]);
        assert!(matches!(&results[..], [Err(Error::Fatal(_))]));
        assert!(send_batch(vec![]).is_empty());
    }

    #[test]
    fn link_relations() {
        // GitHub's documented example (contracts §2.7).
        let header = "<https://api.github.com/repositories/1300192/issues?page=2>; rel=\"prev\", \
             <https://api.github.com/repositories/1300192/issues?page=4>; rel=\"next\", \
             <https://api.github.com/repositories/1300192/issues?page=515>; rel=\"last\", \
             <https://api.github.com/repositories/1300192/issues?page=1>; rel=\"first\"";
        let r = resp(200, &[("link", header)], "");
        assert_eq!(
            link_rel(&r, "next").as_deref(),
            Some("https://api.github.com/repositories/1300192/issues?page=4")
        );
        assert_eq!(
            link_rel(&r, "first").as_deref(),
            Some("https://api.github.com/repositories/1300192/issues?page=1")
        );
        assert_eq!(link_rel(&r, "nex"), None);
        // Unquoted, several relations, commas inside the target, other params.
        let r = resp(
            200,
            &[(
                "Link",
                "</a?x=1,2>; title=\"a, b\"; REL=\"next last\", </b>;rel=prev",
            )],
            "",
        );
        assert_eq!(link_rel(&r, "next").as_deref(), Some("/a?x=1,2"));
        assert_eq!(link_rel(&r, "last").as_deref(), Some("/a?x=1,2"));
        assert_eq!(link_rel(&r, "prev").as_deref(), Some("/b"));
        assert_eq!(link_rel(&resp(200, &[], ""), "next"), None);
        assert_eq!(
            link_rel(&resp(200, &[("link", "<broken")], ""), "next"),
            None
        );
    }

    #[test]
    fn api_requests() {
        let api = Api::new("https://ghe.example.com/api/v3/")
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28");
        assert_eq!(api.base_url(), "https://ghe.example.com/api/v3");
        let r = api.get("/repos/a/b").query("per_page", 100);
        assert_eq!(
            r.url(),
            "https://ghe.example.com/api/v3/repos/a/b?per_page=100"
        );
        assert_eq!(
            r.header_value("Accept"),
            Some("application/vnd.github+json")
        );
        assert_eq!(r.header_value("x-github-api-version"), Some("2022-11-28"));
        assert_eq!(api.request("PUT", "/x").method(), "PUT");
        assert_eq!(
            api.follow("https://ghe.example.com/api/v3/repositories/1/issues?page=2")
                .url(),
            "https://ghe.example.com/api/v3/repositories/1/issues?page=2"
        );
        assert_eq!(
            api.follow("x?page=2").url(),
            "https://ghe.example.com/api/v3/x?page=2"
        );
        assert_eq!(api.follow("/y").headers().len(), 2);
        let raw = api
            .get("/z")
            .replace_header("Accept", "application/vnd.github.sha");
        assert_eq!(raw.headers().len(), 2);
        assert_eq!(
            raw.header_value("accept"),
            Some("application/vnd.github.sha")
        );
    }
}
