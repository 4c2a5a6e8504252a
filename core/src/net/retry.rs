//! What the host retries, how long it waits, and how it reads the remote's
//! rate-limit headers.
//!
//! - Transient failures (connection errors, timeouts, 408, 5xx) are retried up
//!   to `max_retries` times with full-jitter exponential backoff.
//! - Rate limits (429; 403 with `x-ratelimit-remaining: 0`; 503 with
//!   `Retry-After`) wait as the remote says, clamped to `max_wait`.
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

/// How long a response tells the client to wait before trying again, if it
/// is a rate limit. `None` means "not a rate limit".
pub fn rate_limit_wait(
    status: StatusCode,
    headers: &HeaderMap,
    now: SystemTime,
) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let remaining_zero = header("x-ratelimit-remaining") == Some("0");
    let retry_after = header("retry-after").and_then(|v| parse_retry_after(v, now));
    let reset = header("x-ratelimit-reset").and_then(|v| parse_reset(v, now));
    let is_rate_limit = status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN && remaining_zero)
        || (status == StatusCode::SERVICE_UNAVAILABLE && retry_after.is_some());
    if !is_rate_limit {
        return None;
    }
    // Retry-After first; the reset time when the budget is spent; else a
    // minimal pause (GitHub asks for a minute on secondary limits without
    // headers, but the backoff grows on repeats anyway).
    Some(
        retry_after
            .or(if remaining_zero { reset } else { None })
            .unwrap_or(Duration::from_secs(1)),
    )
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

    #[test]
    fn classifies_rate_limits() {
        let now = SystemTime::now();
        let h = headers(&[("retry-after", "3")]);
        assert_eq!(
            rate_limit_wait(StatusCode::TOO_MANY_REQUESTS, &h, now),
            Some(Duration::from_secs(3))
        );
        // 403 without remaining=0 is a permission error.
        assert_eq!(
            rate_limit_wait(StatusCode::FORBIDDEN, &HeaderMap::new(), now),
            None
        );
        let reset = (now + Duration::from_secs(5))
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let h = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset.to_string()),
        ]);
        let wait = rate_limit_wait(StatusCode::FORBIDDEN, &h, now).unwrap();
        assert!(wait <= Duration::from_secs(5) && wait >= Duration::from_secs(4));
        assert_eq!(
            rate_limit_wait(StatusCode::SERVICE_UNAVAILABLE, &HeaderMap::new(), now),
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
