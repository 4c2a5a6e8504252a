//! What the host retries, how long it waits, and how it reads the remote's
//! rate-limit headers.
//!
//! - Transient failures (connection errors, timeouts, 408, 5xx) are retried up
//!   to `max_retries` times with full-jitter exponential backoff.
//! - Rate limits (see [`rate_limit`]) wait as the remote says, clamped to
//!   `max_wait`; a wait it did not name grows on repeats.
//! - 401 is never retried. Non-idempotent requests are retried only when they
//!   cannot have reached the server (connect errors, 429).

use std::time::{Duration, SystemTime};

use rand::Rng;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

/// Retry limits for one source.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt for transient failures.
    pub max_retries: u32,
    /// The first backoff ceiling; doubles with every retry.
    pub base_delay: Duration,
    /// The largest backoff ceiling.
    pub max_delay: Duration,
    /// The longest wait a rate limit may impose before it is clamped.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            max_wait: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// Full jitter: a uniform wait between zero and `min(max_delay, base * 2^attempt)`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.max_delay);
        let millis = ceiling.as_millis() as u64;
        Duration::from_millis(rand::rng().random_range(0..=millis))
    }

    /// Clamps a wait the remote asked for; the flag says whether it was clamped.
    pub fn clamp_wait(&self, wait: Duration) -> (Duration, bool) {
        if wait > self.max_wait {
            (self.max_wait, true)
        } else {
            (wait, false)
        }
    }
}

/// Methods that may be repeated without changing the result.
pub fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// Statuses worth another attempt after a backoff.
pub fn is_transient_status(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT || status.is_server_error()
}

/// Why the host waits before a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitReason {
    /// The budget is spent (`x-ratelimit-remaining: 0`): until its reset.
    Primary,
    /// GitHub's secondary limit (its message in a 403 or 429 body).
    Secondary,
    /// The remote said when (`Retry-After`).
    RetryAfter,
    /// A 429 that said nothing more.
    TooManyRequests,
    /// The host spreads the remaining budget over the time to its reset.
    Pacing,
}

impl WaitReason {
    pub const ALL: [WaitReason; 5] = [
        WaitReason::Primary,
        WaitReason::Secondary,
        WaitReason::RetryAfter,
        WaitReason::TooManyRequests,
        WaitReason::Pacing,
    ];

    /// The snake_case name (JSON events, the conformance vectors).
    pub fn name(self) -> &'static str {
        match self {
            WaitReason::Primary => "primary",
            WaitReason::Secondary => "secondary",
            WaitReason::RetryAfter => "retry_after",
            WaitReason::TooManyRequests => "too_many_requests",
            WaitReason::Pacing => "pacing",
        }
    }

    /// How progress lines say it.
    pub fn describe(self) -> &'static str {
        match self {
            WaitReason::Primary => "rate-limit budget spent (primary limit), until its reset",
            WaitReason::Secondary => "secondary rate limit",
            WaitReason::RetryAfter => "rate limited, as Retry-After asks",
            WaitReason::TooManyRequests => "rate limited (429)",
            WaitReason::Pacing => "pacing the remaining rate-limit budget until its reset",
        }
    }
}

/// A response that is a rate limit: how long it asks to wait, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub wait: Duration,
    pub reason: WaitReason,
    /// The remote named the time (`Retry-After` or the reset). A wait it did
    /// not name is a floor that grows on repeats.
    pub named: bool,
}

/// The wait GitHub asks for after a 403 or a secondary limit that names no
/// time: "wait for at least one minute".
pub const UNNAMED_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// The wait of a 429 that says nothing else.
const BARE_429_WAIT: Duration = Duration::from_secs(1);
/// Bytes of an error body searched for GitHub's secondary-limit message.
pub const SECONDARY_MESSAGE_SCAN: usize = 4096;

/// True when `body` (its start) carries GitHub's secondary-limit message,
/// e.g. "You have exceeded a secondary rate limit".
pub fn is_secondary_message(body: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"secondary rate limit";
    body[..body.len().min(SECONDARY_MESSAGE_SCAN)]
        .windows(NEEDLE.len())
        .any(|w| w.eq_ignore_ascii_case(NEEDLE))
}

/// The statuses whose body [`rate_limit`] may need to read.
pub fn may_be_rate_limit(status: StatusCode) -> bool {
    matches!(status.as_u16(), 403 | 429 | 503)
}

/// Whether a response is a rate limit, and what it asks for; `None` means
/// "not a rate limit" (a 403 then is a permission error). The rules, which
/// the SDK's `status_error` follows too (both test
/// `wit/v0.2/conformance/rate-limits.json`):
///
/// - a rate limit is a 429; a 403 with `x-ratelimit-remaining: 0`, a
///   `Retry-After`, or GitHub's secondary-limit message in the body; a 503
///   with `Retry-After` (contracts §2.8, §1.12);
/// - the wait is `Retry-After` (seconds or HTTP date) first; else the reset
///   (`x-ratelimit-reset`, epoch seconds or ISO 8601) when the budget is
///   spent; else at least a minute for a 403 or a secondary limit, a second
///   for a bare 429.
pub fn rate_limit(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Option<RateLimit> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let spent = header("x-ratelimit-remaining") == Some("0");
    let retry_after = header("retry-after").and_then(|v| parse_retry_after(v, now));
    let secondary = matches!(status.as_u16(), 403 | 429) && is_secondary_message(body);
    let is_limit = match status.as_u16() {
        429 => true,
        403 => spent || retry_after.is_some() || secondary,
        503 => retry_after.is_some(),
        _ => false,
    };
    if !is_limit {
        return None;
    }
    let reason = if spent {
        WaitReason::Primary
    } else if secondary {
        WaitReason::Secondary
    } else if retry_after.is_some() {
        WaitReason::RetryAfter
    } else {
        WaitReason::TooManyRequests
    };
    let reset = spent
        .then(|| header("x-ratelimit-reset").and_then(|v| parse_reset(v, now)))
        .flatten();
    let (wait, named) = match retry_after.or(reset) {
        Some(wait) => (wait, true),
        None if status == StatusCode::FORBIDDEN || secondary || spent => {
            (UNNAMED_LIMIT_WAIT, false)
        }
        None => (BARE_429_WAIT, false),
    };
    Some(RateLimit {
        wait,
        reason,
        named,
    })
}

/// `Retry-After`: delay-seconds or an HTTP date (RFC 9110 §10.2.3). Absurd
/// values (like 9223372036854775807) saturate; the caller clamps.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0)
            .then(|| Duration::from_secs_f64(seconds.min(1e9)));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `x-ratelimit-reset`: UTC epoch seconds (GitHub) or an ISO 8601 time
/// (Atlassian, e.g. `2026-01-01T12:00Z`).
pub fn parse_reset(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let epoch = match value.parse::<u64>() {
        Ok(epoch) => epoch,
        Err(_) => chrono::DateTime::parse_from_rfc3339(value)
            .or_else(|_| chrono::DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M%#z"))
            .ok()?
            .timestamp()
            .max(0) as u64,
    };
    // A reset beyond what the clock can represent is simply far away.
    let wait = match SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(epoch)) {
        Some(at) => at.duration_since(now).unwrap_or(Duration::ZERO),
        None => Duration::MAX,
    };
    Some(wait)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn retry_after_in_both_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(42));
        assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(42)));
        assert_eq!(
            parse_retry_after("9223372036854775807", now),
            Some(Duration::from_secs(9223372036854775807))
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn reset_as_epoch_or_iso() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_268_800); // 2026-01-01T12:00:00Z
        assert_eq!(
            parse_reset("1767268810", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_reset("2026-01-01T12:01Z", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_reset("2026-01-01T12:00:30+00:00", now),
            Some(Duration::from_secs(30))
        );
        // Found by the rate_limit_headers fuzz target: this used to panic.
        assert_eq!(
            parse_reset("18446744073709551615", now),
            Some(Duration::MAX)
        );
    }

    /// Every case of the conformance vectors the SDK tests too.
    #[test]
    fn rate_limits_follow_the_conformance_vectors() {
        let vectors: serde_json::Value = serde_json::from_str(include_str!(
            "../../../wit/v0.2/conformance/rate-limits.json"
        ))
        .unwrap();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(vectors["now"].as_u64().unwrap());
        let cases = vectors["cases"].as_array().unwrap();
        assert!(cases.len() >= 20);
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let status = StatusCode::from_u16(case["status"].as_u64().unwrap() as u16).unwrap();
            let pairs: Vec<(String, String)> = case["headers"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap().to_string()))
                .collect();
            let mut map = HeaderMap::new();
            for (k, v) in &pairs {
                map.insert(
                    reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            let body = case["body"].as_str().unwrap().as_bytes();
            let got = rate_limit(status, &map, body, now);
            let expect = &case["expect"];
            match expect["limit"].as_str() {
                Some(reason) => {
                    let got = got.unwrap_or_else(|| panic!("{name}: not a rate limit"));
                    assert_eq!(got.reason.name(), reason, "{name}");
                    let wait_s = expect["wait_s"].as_u64().unwrap();
                    assert_eq!(got.wait, Duration::from_secs(wait_s), "{name}");
                }
                None => assert_eq!(got, None, "{name}"),
            }
        }
    }

    #[test]
    fn the_secondary_message_is_found_in_the_start_of_a_body() {
        assert!(is_secondary_message(
            br#"{"message":"You have exceeded a SECONDARY rate limit."}"#
        ));
        assert!(!is_secondary_message(b"secondary rate"));
        let mut late = vec![b' '; SECONDARY_MESSAGE_SCAN];
        late.extend_from_slice(b"secondary rate limit");
        assert!(!is_secondary_message(&late), "only the start is searched");
        // A 403 that only mentions it elsewhere than in the body is no limit.
        let h = headers(&[("x-secondary", "secondary rate limit")]);
        assert_eq!(
            rate_limit(StatusCode::FORBIDDEN, &h, b"", SystemTime::now()),
            None
        );
    }

    #[test]
    fn backoff_stays_under_its_ceiling() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
            ..Default::default()
        };
        for attempt in 0..40 {
            let ceiling = Duration::from_millis((100u64 << attempt.min(20)).min(350));
            assert!(policy.backoff(attempt) <= ceiling);
        }
        assert_eq!(
            policy.clamp_wait(Duration::from_secs(1_000_000)),
            (policy.max_wait, true)
        );
    }
}
