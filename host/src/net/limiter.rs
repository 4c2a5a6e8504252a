//! Pacing for one remote host: a token bucket, a concurrency limit that
//! adapts to the remote's signals, and pauses shared by every request.
//!
//! On a rate limit (429, or `X-RateLimit-NearLimit: true`) the concurrency
//! limit halves and every request to the host waits out the pause; after a
//! run of healthy responses it grows back by one, up to the configured limit.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Healthy responses needed before the concurrency limit grows by one.
const RECOVERY_STREAK: u32 = 20;

pub struct HostLimiter {
    state: Mutex<State>,
    changed: Notify,
    max_concurrency: u32,
    rate: Option<f64>,
}

struct State {
    in_flight: u32,
    limit: u32,
    healthy_streak: u32,
    /// Token bucket level; negative when callers have reserved future tokens.
    tokens: f64,
    refilled_at: Instant,
    paused_until: Option<Instant>,
}

/// Held while a request is in flight; frees its slot when dropped.
pub struct Permit<'a> {
    limiter: &'a HostLimiter,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut state = self.limiter.state.lock().unwrap();
        state.in_flight -= 1;
        drop(state);
        self.limiter.changed.notify_waiters();
    }
}

impl HostLimiter {
    /// `concurrency` requests at once; `rate` requests per second (burst of
    /// one second's worth) when given.
    pub fn new(concurrency: u32, rate: Option<f64>) -> HostLimiter {
        let concurrency = concurrency.max(1);
        HostLimiter {
            state: Mutex::new(State {
                in_flight: 0,
                limit: concurrency,
                healthy_streak: 0,
                tokens: rate.map_or(0.0, burst),
                refilled_at: Instant::now(),
                paused_until: None,
            }),
            changed: Notify::new(),
            max_concurrency: concurrency,
            rate,
        }
    }

    /// Waits for a pause to end, a token and a free slot, in that order.
    pub async fn acquire(&self) -> Permit<'_> {
        self.wait_out_pause().await;
        self.take_token().await;
        loop {
            let changed = self.changed.notified();
            {
                let mut state = self.state.lock().unwrap();
                if state.in_flight < state.limit {
                    state.in_flight += 1;
                    return Permit { limiter: self };
                }
            }
            changed.await;
        }
    }

    async fn wait_out_pause(&self) {
        loop {
            let until = self.state.lock().unwrap().paused_until;
            match until {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => return,
            }
        }
    }

    async fn take_token(&self) {
        let Some(rate) = self.rate else { return };
        let wait = {
            let mut state = self.state.lock().unwrap();
            let now = Instant::now();
            let elapsed = now.duration_since(state.refilled_at).as_secs_f64();
            state.tokens = (state.tokens + elapsed * rate).min(burst(rate));
            state.refilled_at = now;
            state.tokens -= 1.0;
            (state.tokens < 0.0).then(|| Duration::from_secs_f64(-state.tokens / rate))
        };
        if let Some(wait) = wait {
            tokio::time::sleep(wait).await;
        }
    }

    /// The remote said "slow down": pause everyone for `wait` and halve the
    /// concurrency limit.
    pub fn rate_limited(&self, wait: Duration) {
        let mut state = self.state.lock().unwrap();
        let until = Instant::now() + wait;
        state.paused_until = Some(state.paused_until.map_or(until, |current| current.max(until)));
        state.limit = (state.limit / 2).max(1);
        state.healthy_streak = 0;
    }

    /// The remote is close to its limit: shrink concurrency without pausing.
    pub fn near_limit(&self) {
        let mut state = self.state.lock().unwrap();
        state.limit = (state.limit * 3 / 4).max(1);
        state.healthy_streak = 0;
    }

    /// A healthy response: after a streak, allow one more request in flight.
    pub fn healthy(&self) {
        let mut state = self.state.lock().unwrap();
        state.healthy_streak += 1;
        if state.healthy_streak >= RECOVERY_STREAK && state.limit < self.max_concurrency {
            state.limit += 1;
            state.healthy_streak = 0;
            drop(state);
            self.changed.notify_waiters();
        }
    }

    /// The current concurrency limit (for progress and tests).
    pub fn current_limit(&self) -> u32 {
        self.state.lock().unwrap().limit
    }
}

fn burst(rate: f64) -> f64 {
    rate.max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn token_bucket_paces_to_the_rate() {
        let limiter = HostLimiter::new(100, Some(10.0));
        let start = Instant::now();
        for _ in 0..30 {
            drop(limiter.acquire().await);
        }
        // 10 from the burst, then 20 more at 10/s.
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(1900) && elapsed <= Duration::from_millis(2100), "{elapsed:?}");
    }

    #[tokio::test]
    async fn concurrency_halves_on_rate_limit_and_recovers() {
        let limiter = HostLimiter::new(8, None);
        limiter.rate_limited(Duration::ZERO);
        assert_eq!(limiter.current_limit(), 4);
        for _ in 0..RECOVERY_STREAK * 4 {
            limiter.healthy();
        }
        assert_eq!(limiter.current_limit(), 8);
    }

    #[tokio::test]
    async fn limit_caps_requests_in_flight() {
        let limiter = HostLimiter::new(2, None);
        let a = limiter.acquire().await;
        let _b = limiter.acquire().await;
        let third = tokio::time::timeout(Duration::from_millis(50), limiter.acquire()).await;
        assert!(third.is_err(), "a third request got through a limit of 2");
        drop(a);
        let third = tokio::time::timeout(Duration::from_millis(50), limiter.acquire()).await;
        assert!(third.is_ok());
    }
}
