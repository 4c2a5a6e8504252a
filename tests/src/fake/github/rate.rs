//! GitHub's rate limits (contracts §2.8) as a [`RateGate`]:
//!
//! - primary: a budget of `--rate-limit-budget` requests per window of
//!   `--rate-limit-window-s` seconds (default 5,000 per hour), the window
//!   starting with its first counted request; every answer carries
//!   `x-ratelimit-limit/remaining/used/reset/resource` (`reset` in epoch
//!   seconds); over it, 403 with `x-ratelimit-remaining: 0` and
//!   "API rate limit exceeded for user ID 1."; a 304 gives its request back,
//!   and so do `GET /rate_limit` and archive downloads (another host on GitHub);
//! - secondary (`--secondary-after N`): after every N counted requests the
//!   next one is a 403 with the secondary-limit message and
//!   `retry-after: --secondary-retry-after` (0: no `retry-after`).

use std::sync::{Mutex, PoisonError};

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::errors::gh_error;
use crate::fake::common::RateGate;

const DOCS_PRIMARY: &str =
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-the-rate-limit";
const DOCS_SECONDARY: &str =
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits";

/// The secondary-limit message, as GitHub words it.
pub const SECONDARY_MESSAGE: &str = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000000:0000000:00000000.";

/// The limits in force (also `POST /_control/faults` keys, see [`Limits::apply`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub budget: u64,
    pub window_s: u64,
    pub secondary_after: Option<u64>,
    pub secondary_retry_after: u64,
}

#[derive(Debug)]
struct State {
    limits: Limits,
    /// Epoch second the window resets at; `None` before its first request.
    reset: Option<i64>,
    used: u64,
    /// Counted requests since the last secondary refusal.
    since_secondary: u64,
}

/// GitHub's primary and secondary limits.
pub struct GithubRate {
    state: Mutex<State>,
}

/// A snapshot for the headers and `GET /rate_limit`.
pub struct Window {
    pub limit: u64,
    pub used: u64,
    pub reset: i64,
}

impl Window {
    pub fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.used)
    }

    fn headers(&self, h: &mut HeaderMap) {
        let set = |h: &mut HeaderMap, name: &'static str, v: HeaderValue| {
            h.insert(HeaderName::from_static(name), v);
        };
        set(h, "x-ratelimit-limit", self.limit.into());
        set(h, "x-ratelimit-remaining", self.remaining().into());
        set(h, "x-ratelimit-used", self.used.into());
        set(h, "x-ratelimit-reset", self.reset.into());
        set(h, "x-ratelimit-resource", HeaderValue::from_static("core"));
    }

    /// `{"limit", "used", "remaining", "reset"}` of `GET /rate_limit`.
    pub fn to_json(&self) -> Value {
        json!({"limit": self.limit, "used": self.used, "remaining": self.remaining(), "reset": self.reset})
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl GithubRate {
    pub fn new(limits: Limits) -> GithubRate {
        GithubRate {
            state: Mutex::new(State {
                limits,
                reset: None,
                used: 0,
                since_secondary: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current window (a new one when the last has reset).
    pub fn window(&self) -> Window {
        let mut s = self.lock();
        Self::roll(&mut s);
        Self::view(&s)
    }

    fn roll(s: &mut State) {
        if s.reset.is_some_and(|r| now() >= r) {
            s.reset = None;
            s.used = 0;
        }
    }

    fn view(s: &State) -> Window {
        Window {
            limit: s.limits.budget,
            used: s.used,
            reset: s.reset.unwrap_or_else(|| now() + s.limits.window_s as i64),
        }
    }

    pub fn limits(&self) -> Limits {
        self.lock().limits.clone()
    }

    /// Sets new limits; a new budget or window starts a new window.
    pub fn set_limits(&self, limits: Limits) {
        let mut s = self.lock();
        if limits.budget != s.limits.budget || limits.window_s != s.limits.window_s {
            s.reset = None;
            s.used = 0;
        }
        if limits.secondary_after != s.limits.secondary_after {
            s.since_secondary = 0;
        }
        s.limits = limits;
    }
}

/// Requests GitHub does not count: `GET /rate_limit` and archive
/// downloads (codeload, another host).
fn free(path: &str) -> bool {
    path == "/rate_limit" || path.starts_with("/codeload/")
}

impl RateGate for GithubRate {
    fn admit(&self, _method: &Method, path: &str) -> Result<bool, Response> {
        if free(path) {
            return Ok(false);
        }
        let mut s = self.lock();
        Self::roll(&mut s);
        if s.used >= s.limits.budget {
            let mut resp = gh_error(
                StatusCode::FORBIDDEN,
                "API rate limit exceeded for user ID 1.",
                DOCS_PRIMARY,
            );
            let mut w = Self::view(&s);
            w.used = w.limit;
            w.headers(resp.headers_mut());
            return Err(resp);
        }
        if let Some(n) = s.limits.secondary_after {
            if s.since_secondary >= n {
                s.since_secondary = 0;
                let mut resp = gh_error(StatusCode::FORBIDDEN, SECONDARY_MESSAGE, DOCS_SECONDARY);
                Self::view(&s).headers(resp.headers_mut());
                if s.limits.secondary_retry_after > 0 {
                    resp.headers_mut()
                        .insert("retry-after", s.limits.secondary_retry_after.into());
                }
                return Err(resp);
            }
            s.since_secondary += 1;
        }
        if s.reset.is_none() {
            s.reset = Some(now() + s.limits.window_s as i64);
        }
        s.used += 1;
        Ok(true)
    }

    fn settle(&self, taken: bool, resp: &mut Response) {
        let mut s = self.lock();
        if taken && resp.status() == StatusCode::NOT_MODIFIED {
            s.used = s.used.saturating_sub(1);
        }
        Self::view(&s).headers(resp.headers_mut());
    }
}

impl Limits {
    /// Applies `rate_limit_budget`, `rate_limit_window_s`,
    /// `secondary_after` and `secondary_retry_after` from `extra` (all known, else an error and no change).
    pub fn apply(&self, extra: &Map<String, Value>) -> Result<Limits, String> {
        let mut next = self.clone();
        for (key, value) in extra {
            let n = || {
                value
                    .as_u64()
                    .ok_or(format!("{key} must be a non-negative integer"))
            };
            match key.as_str() {
                "rate_limit_budget" => next.budget = n()?,
                "rate_limit_window_s" => next.window_s = n()?.max(1),
                "secondary_after" => {
                    next.secondary_after = match value {
                        Value::Null => None,
                        _ => Some(n()?),
                    }
                }
                "secondary_retry_after" => next.secondary_retry_after = n()?,
                other => return Err(format!("unknown field {other:?}")),
            }
        }
        Ok(next)
    }

    pub fn describe(&self, out: &mut Map<String, Value>) {
        out.insert("rate_limit_budget".into(), self.budget.into());
        out.insert("rate_limit_window_s".into(), self.window_s.into());
        out.insert("secondary_after".into(), self.secondary_after.into());
        out.insert(
            "secondary_retry_after".into(),
            self.secondary_retry_after.into(),
        );
    }
}
