//! Pacing for one remote host: a token bucket whose rate adapts to the
//! remote's signals, a concurrency limit that does too, and pauses shared by
//! every request.
//!
//! The rate starts at the configured `requests_per_second` (unlimited when
//! none). A 429 sets it just under the throughput that provoked it, halves
//! the concurrency and pauses every request for the wait the remote asked.
//! `X-RateLimit-NearLimit: true` trims the rate by a few percent before any
//! 429 happens, unless the remaining count (`X-RateLimit-Remaining`) has
//! grown since the last such signal (then the pace already lets the remote's
//! budget refill). Healthy responses raise it additively (and the
//! concurrency by one after a streak), never above the configured values.
//! The run thus settles just under the remote's limit instead of bouncing
//! off it.
//!
//! A remote that says how much of its budget is left until when
//! (`x-ratelimit-remaining` with `x-ratelimit-limit` and `x-ratelimit-reset`,
//! GitHub's headers) is paced by that budget once less than
//! [`BUDGET_RESERVE`] of it remains: at most `remaining / seconds to reset`
//! requests per second, one at a time, so the budget lasts until its reset
//! instead of running dry. While the budget is ample, requests go at the
//! configured pace, bursts included.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Healthy responses needed before the concurrency limit grows by one.
const RECOVERY_STREAK: u32 = 20;
/// Successful responses are counted over this window to measure the rate
/// the remote actually sustains.
const THROUGHPUT_WINDOW: Duration = Duration::from_secs(1);
/// After a 429 the rate is this fraction of the successes of the last window.
const RATE_LIMITED_FACTOR: f64 = 0.85;
/// A near-limit signal trims the rate by this factor (at most every 250 ms).
const NEAR_LIMIT_FACTOR: f64 = 0.95;
/// Each healthy response adds this many requests per second to a learned
/// rate well below the rate that last provoked a 429 ...
const RATE_STEP: f64 = 0.02;
/// ... and this much once close to it, probing the limit slowly.
const PROBE_STEP: f64 = 0.002;
/// The slowest a learned rate goes.
const MIN_RATE: f64 = 0.2;
/// Below this share of its limit, a budget with a known reset is paced.
pub const BUDGET_RESERVE: f64 = 0.2;

/// The limiters of the hosts a process reaches, one per host and port,
/// shared by every client made with the same `HostLimiters` (the sources of
/// one `pull --parallel`), so sources that reach one host share its limits.
/// The first client to reach a host sets its limits.
#[derive(Clone, Default)]
pub struct HostLimiters(Arc<Mutex<HashMap<String, Arc<HostLimiter>>>>);

impl HostLimiters {
    /// The limiter of `host` (`name:port`), made with `concurrency` and
    /// `rate` when it is the first use of that host.
    pub fn of(&self, host: &str, concurrency: u32, rate: Option<f64>) -> Arc<HostLimiter> {
        let mut limiters = self.0.lock().unwrap();
        limiters
            .entry(host.to_string())
            .or_insert_with(|| Arc::new(HostLimiter::new(concurrency, rate)))
            .clone()
    }
}

pub struct HostLimiter {
    state: Mutex<State>,
    changed: Notify,
    max_concurrency: u32,
    /// The configured rate; a learned rate never exceeds it.
    max_rate: Option<f64>,
}

struct State {
    in_flight: u32,
    limit: u32,
    healthy_streak: u32,
    /// The current rate; `None` is unpaced.
    rate: Option<f64>,
    /// Token bucket level; negative when callers have reserved future tokens.
    tokens: f64,
    refilled_at: Instant,
    paused_until: Option<Instant>,
    /// The throughput at the last 429: the limit is about here.
    ceiling: Option<f64>,
    /// When the rate was last cut for a 429. The other requests in flight
    /// then answer 429 too; they belong to the same event.
    last_cut: Option<Instant>,
    /// When the recent successful responses arrived (the last window only).
    recent_successes: VecDeque<Instant>,
    last_trim: Option<Instant>,
    /// The remaining count of the last near-limit signal.
    last_remaining: Option<u64>,
    /// The remote's budget, when it is paced.
    budget: Option<Budget>,
}

/// A remote's budget being paced: at most `rate` requests per second until
/// `until` (its reset).
#[derive(Debug, Clone, Copy)]
struct Budget {
    rate: f64,
    until: Instant,
}

/// How much a near-limit signal trims the rate: [`NEAR_LIMIT_FACTOR`] with
/// nothing left, less the more is left, nothing at [`BUDGET_RESERVE`] of
/// the limit (Atlassian's "less than 20% of any budget remains").
pub fn near_limit_factor(remaining: Option<u64>, limit: Option<u64>) -> f64 {
    match (remaining, limit) {
        (Some(remaining), Some(limit)) if limit > 0 => {
            let left = remaining as f64 / limit as f64 / BUDGET_RESERVE;
            1.0 - (1.0 - NEAR_LIMIT_FACTOR) * (1.0 - left).clamp(0.0, 1.0)
        }
        _ => NEAR_LIMIT_FACTOR,
    }
}

/// The requests per second that spread `remaining` requests over `reset_in`
/// (at least one request by the reset, so the run learns the new budget).
pub fn budget_rate(remaining: u64, reset_in: Duration) -> f64 {
    remaining.max(1) as f64 / reset_in.as_secs_f64().max(1e-3)
}

impl State {
    /// Successful responses within the last [`THROUGHPUT_WINDOW`]: what the
    /// remote sustained (a lower bound when less than a window has passed).
    fn sustained(&mut self) -> f64 {
        let now = Instant::now();
        while self
            .recent_successes
            .front()
            .is_some_and(|&at| now.duration_since(at) > THROUGHPUT_WINDOW)
        {
            self.recent_successes.pop_front();
        }
        self.recent_successes.len() as f64 / THROUGHPUT_WINDOW.as_secs_f64()
    }

    /// The burst a rate allows: a second's worth when configured, one
    /// request when learned (a learned rate is a limit we already hit).
    fn burst(&self, configured: Option<f64>) -> f64 {
        match (self.rate, configured) {
            (Some(rate), Some(max)) if rate >= max => rate.max(1.0),
            _ => 1.0,
        }
    }
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
                rate,
                tokens: rate.map_or(0.0, |rate| rate.max(1.0)),
                refilled_at: Instant::now(),
                paused_until: None,
                ceiling: None,
                last_cut: None,
                recent_successes: VecDeque::new(),
                last_trim: None,
                last_remaining: None,
                budget: None,
            }),
            changed: Notify::new(),
            max_concurrency: concurrency,
            max_rate: rate,
        }
    }

    /// Waits for a pause to end, a token and a free slot, in that order. A
    /// pause that began while waiting for the slot sends the caller back to
    /// wait it out, so a 429 stops everyone queued, not only later arrivals.
    /// `paced` hears of a wait for a token of a paced budget before it
    /// starts (to show it).
    pub async fn acquire(&self, paced: impl Fn(Duration)) -> Permit<'_> {
        loop {
            self.wait_out_pause().await;
            self.take_token(&paced).await;
            let permit = self.slot().await;
            let paused = self
                .state
                .lock()
                .unwrap()
                .paused_until
                .is_some_and(|until| until > Instant::now());
            if !paused {
                return permit;
            }
        }
    }

    async fn slot(&self) -> Permit<'_> {
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

    async fn take_token(&self, paced: &impl Fn(Duration)) {
        let (wait, budget) = {
            let mut state = self.state.lock().unwrap();
            let now = Instant::now();
            let budget = state
                .budget
                .filter(|budget| budget.until > now)
                .map(|budget| budget.rate);
            let (rate, burst) = match (state.rate, budget) {
                (None, None) => return,
                (Some(rate), None) => (rate, state.burst(self.max_rate)),
                // A paced budget goes one request at a time.
                (rate, Some(budget)) => (rate.map_or(budget, |rate| rate.min(budget)), 1.0),
            };
            let elapsed = now.duration_since(state.refilled_at).as_secs_f64();
            state.tokens = (state.tokens + elapsed * rate).min(burst);
            state.refilled_at = now;
            state.tokens -= 1.0;
            let wait = (state.tokens < 0.0).then(|| Duration::from_secs_f64(-state.tokens / rate));
            (wait, budget.is_some())
        };
        if let Some(wait) = wait {
            if budget {
                paced(wait);
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// The remote's budget: `remaining` requests of `limit` until `reset_in`.
    /// Under [`BUDGET_RESERVE`] of the limit, requests are paced at
    /// [`budget_rate`] until the reset; above it, not at all by the budget.
    pub fn budget(&self, remaining: u64, limit: u64, reset_in: Duration) {
        let mut state = self.state.lock().unwrap();
        let ample = remaining as f64 >= limit as f64 * BUDGET_RESERVE;
        let now = Instant::now();
        let budget = (!ample && !reset_in.is_zero()).then(|| Budget {
            rate: budget_rate(remaining, reset_in),
            until: now + reset_in,
        });
        // An unpaced host starts its paced budget with one request to spend.
        if state.rate.is_none() && state.budget.is_none_or(|b| b.until <= now) {
            state.tokens = 1.0;
            state.refilled_at = now;
        }
        state.budget = budget;
    }

    /// The remote said "slow down": pause everyone for `wait`, pace just
    /// under the throughput that provoked it, and halve the concurrency.
    pub fn rate_limited(&self, wait: Duration) {
        let mut state = self.state.lock().unwrap();
        let until = Instant::now() + wait;
        state.paused_until = Some(
            state
                .paused_until
                .map_or(until, |current| current.max(until)),
        );
        state.healthy_streak = 0;
        let now = Instant::now();
        if state
            .last_cut
            .is_some_and(|at| now.duration_since(at) < THROUGHPUT_WINDOW + wait)
        {
            return;
        }
        state.last_cut = Some(now);
        state.limit = (state.limit / 2).max(1);
        let sustained = state.sustained();
        // What the remote sustained, but never a collapse below half the
        // current rate because a pause left the window nearly empty. With no
        // successes yet (a 429 at the very start) there is nothing to learn
        // from: the pause and the halved concurrency do the work.
        let ceiling = match state.rate {
            Some(rate) => rate.min(sustained).max(rate / 2.0),
            None if sustained < 1.0 => return,
            None => sustained,
        }
        .max(MIN_RATE);
        state.ceiling = Some(ceiling);
        tracing::debug!(
            sustained,
            ceiling,
            wait_ms = wait.as_millis() as u64,
            "rate limited: pacing at {:.1}/s",
            ceiling * RATE_LIMITED_FACTOR
        );
        state.rate = Some((ceiling * RATE_LIMITED_FACTOR).max(MIN_RATE));
        state.tokens = state.tokens.min(0.0);
    }

    /// The remote is close to its limit: trim the rate a little, no pause;
    /// the nearer (`remaining` of `limit`, when given), the more, up to
    /// [`NEAR_LIMIT_FACTOR`]. When the remaining count has grown since the
    /// last such signal, the budget is refilling at this pace: nothing is
    /// trimmed, and the response counts as healthy. Either way the response
    /// got through, so it counts in the throughput the rate is measured by.
    pub fn near_limit(&self, remaining: Option<u64>, limit: Option<u64>) {
        let mut state = self.state.lock().unwrap();
        let now = Instant::now();
        state.recent_successes.push_back(now);
        let previous = std::mem::replace(&mut state.last_remaining, remaining);
        if remaining
            .zip(previous)
            .is_some_and(|(now, before)| now > before)
        {
            drop(state);
            self.grow();
            return;
        }
        state.healthy_streak = 0;
        if state
            .last_trim
            .is_some_and(|at| now.duration_since(at) < Duration::from_millis(250))
        {
            return;
        }
        state.last_trim = Some(now);
        let sustained = state.sustained();
        let current = state
            .rate
            .map_or(sustained, |rate| rate.min(sustained.max(1.0)));
        state.rate = Some((current * near_limit_factor(remaining, limit)).max(MIN_RATE));
    }

    /// A healthy response: a learned rate creeps back up, and after a streak
    /// one more request may be in flight.
    pub fn healthy(&self) {
        self.state
            .lock()
            .unwrap()
            .recent_successes
            .push_back(Instant::now());
        self.grow();
    }

    fn grow(&self) {
        let mut state = self.state.lock().unwrap();
        if let Some(rate) = state.rate {
            let close = state.ceiling.is_some_and(|ceiling| rate >= ceiling * 0.95);
            let raised = rate + if close { PROBE_STEP } else { RATE_STEP };
            state.rate = match self.max_rate {
                Some(max) => Some(raised.min(max)),
                None => Some(raised),
            };
        }
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

    /// The current pacing rate, if any.
    pub fn current_rate(&self) -> Option<f64> {
        self.state.lock().unwrap().rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn token_bucket_paces_to_the_rate() {
        let limiter = HostLimiter::new(100, Some(10.0));
        let start = Instant::now();
        for _ in 0..30 {
            drop(limiter.acquire(|_| ()).await);
        }
        // 10 from the burst, then 20 more at 10/s.
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(1900) && elapsed <= Duration::from_millis(2100),
            "{elapsed:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_limit_paces_just_under_what_the_remote_sustained() {
        let limiter = HostLimiter::new(4, None);
        // 40 successes in the last second, then a 429.
        for _ in 0..40 {
            drop(limiter.acquire(|_| ()).await);
            limiter.healthy();
            tokio::time::advance(Duration::from_millis(20)).await;
        }
        limiter.rate_limited(Duration::ZERO);
        let rate = limiter.current_rate().expect("paced after a 429");
        assert!((30.0..=36.0).contains(&rate), "{rate}");
        limiter.near_limit(None, None);
        assert!(limiter.current_rate().unwrap() < rate);
        let configured = HostLimiter::new(4, Some(10.0));
        for _ in 0..1000 {
            configured.healthy();
        }
        assert_eq!(
            configured.current_rate(),
            Some(10.0),
            "never above the configured rate"
        );
    }

    #[tokio::test]
    async fn a_429_before_any_success_does_not_throttle_to_a_crawl() {
        let limiter = HostLimiter::new(4, None);
        limiter.rate_limited(Duration::ZERO);
        assert_eq!(limiter.current_rate(), None);
        assert_eq!(limiter.current_limit(), 2);
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
        let a = limiter.acquire(|_| ()).await;
        let _b = limiter.acquire(|_| ()).await;
        let third = tokio::time::timeout(Duration::from_millis(50), limiter.acquire(|_| ())).await;
        assert!(third.is_err(), "a third request got through a limit of 2");
        drop(a);
        let third = tokio::time::timeout(Duration::from_millis(50), limiter.acquire(|_| ())).await;
        assert!(third.is_ok());
    }

    /// Every near-limit answer got through: the rate is trimmed from the
    /// throughput they all make, not from the few that trimmed it (which
    /// throttled 8 / 6 concurrency to a third of a 20/s limit).
    #[tokio::test(start_paused = true)]
    async fn near_limit_answers_count_in_the_throughput() {
        let limiter = HostLimiter::new(8, None);
        // A second at 20/s, then two seconds near the limit.
        for n in 0..60 {
            tokio::time::advance(Duration::from_millis(50)).await;
            if n < 20 {
                limiter.healthy();
            } else {
                limiter.near_limit(Some(2), Some(20));
            }
        }
        let rate = limiter.current_rate().unwrap();
        assert!((12.0..20.0).contains(&rate), "{rate}");
    }

    #[test]
    fn the_nearer_the_limit_the_larger_the_trim() {
        assert_eq!(near_limit_factor(Some(0), Some(20)), NEAR_LIMIT_FACTOR);
        assert_eq!(near_limit_factor(None, Some(20)), NEAR_LIMIT_FACTOR);
        assert!((near_limit_factor(Some(2), Some(20)) - 0.975).abs() < 1e-9);
        assert_eq!(near_limit_factor(Some(4), Some(20)), 1.0);
        assert_eq!(near_limit_factor(Some(50), Some(20)), 1.0);
    }

    #[test]
    fn a_budget_spreads_over_the_time_to_its_reset() {
        assert_eq!(budget_rate(100, Duration::from_secs(50)), 2.0);
        assert_eq!(budget_rate(0, Duration::from_secs(10)), 0.1);
        assert_eq!(budget_rate(4900, Duration::from_secs(3500)), 1.4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_low_budget_is_paced_until_its_reset_and_an_ample_one_is_not() {
        let limiter = HostLimiter::new(8, None);
        // Ample (half of it left): no pacing at all.
        limiter.budget(2500, 5000, Duration::from_secs(60));
        let start = Instant::now();
        for _ in 0..50 {
            drop(limiter.acquire(|_| panic!("paced an ample budget")).await);
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        // 10 of 100 left for 20 s: one request every 2 s.
        limiter.budget(10, 100, Duration::from_secs(20));
        let waits = std::sync::Mutex::new(Vec::new());
        let start = Instant::now();
        for _ in 0..5 {
            drop(
                limiter
                    .acquire(|wait| waits.lock().unwrap().push(wait))
                    .await,
            );
        }
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(7900) && elapsed <= Duration::from_millis(8100),
            "{elapsed:?}"
        );
        assert!(waits.lock().unwrap().len() >= 4, "the waits were told");
        // After the reset the pacing ends.
        tokio::time::advance(Duration::from_secs(20)).await;
        let start = Instant::now();
        for _ in 0..20 {
            drop(limiter.acquire(|_| ()).await);
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_configured_rate_still_caps_a_paced_budget() {
        let limiter = HostLimiter::new(8, Some(1.0));
        limiter.budget(100, 1000, Duration::from_secs(10)); // 10/s allowed
        let start = Instant::now();
        for _ in 0..4 {
            drop(limiter.acquire(|_| ()).await);
        }
        // The configured 1/s wins: the first token, then 3 s for three more.
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(2900) && elapsed <= Duration::from_millis(3100),
            "{elapsed:?}"
        );
    }

    #[tokio::test]
    async fn a_refilling_budget_is_not_trimmed() {
        let limiter = HostLimiter::new(4, Some(20.0));
        limiter.near_limit(Some(1), Some(20));
        let trimmed = limiter.current_rate().unwrap();
        assert!(trimmed < 20.0, "{trimmed}");
        limiter.near_limit(Some(3), Some(20));
        assert!(limiter.current_rate().unwrap() > trimmed, "grew as healthy");
    }
}
