//! Progress events and how they are shown: a live bar on a terminal, plain
//! periodic lines otherwise, or JSON lines on stdout with `--json`.

use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::net::{HttpClient, HttpStats};
use crate::untrusted::{terminal_safe, terminal_safe_json, Untrusted};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// A live bar on stderr.
    Bar,
    /// A line on stderr every few seconds.
    Plain,
    /// One JSON object per event on stdout.
    Json,
}

impl ProgressMode {
    /// The bar when stderr is a terminal and logs are quiet, else plain lines.
    pub fn detect(json: bool, verbose: bool) -> ProgressMode {
        if json {
            ProgressMode::Json
        } else if std::io::stderr().is_terminal() && !verbose {
            ProgressMode::Bar
        } else {
            ProgressMode::Plain
        }
    }
}

/// Counts of one stream's run so far (this invocation).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    /// New or changed records written.
    pub written: u64,
    /// Unchanged (same version) or not found.
    pub skipped: u64,
    /// Failed after retries (pending for the next run).
    pub failed: u64,
    /// Live records tombstoned: reported deleted by the remote, or not seen
    /// by a full enumeration. Ids the store did not hold do not count.
    pub deleted: u64,
    /// Values replaced by the source's `[redact]` rules before storage.
    pub redacted: u64,
    /// Records not stored because a source's `exclude` rule matched.
    pub excluded: u64,
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        self.written += other.written;
        self.skipped += other.skipped;
        self.failed += other.failed;
        self.deleted += other.deleted;
        self.redacted += other.redacted;
        self.excluded += other.excluded;
    }
}

/// A source's HTTP traffic when a page is committed: enough to tell a run
/// bound by latency (requests in flight at the concurrency, a steady rate)
/// from one bound by a rate limit (`rate_limited` growing, fewer in flight)
/// or by the remote's errors (`retries` growing).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Traffic {
    /// Requests sent so far: every attempt, retries and redirect hops included.
    pub requests: u64,
    /// Requests on the wire at this moment, blob downloads included.
    pub in_flight: u64,
    /// Requests per second over the last few seconds.
    pub per_second: f64,
    /// Attempts that were retries after a transient failure.
    pub retries: u64,
    /// Responses that were rate limits (waited out).
    pub rate_limited: u64,
}

/// How far back [`TrafficMeter`] measures the request rate.
const RATE_WINDOW: Duration = Duration::from_secs(5);

/// Measures the request rate of a source from samples of its request count.
pub struct TrafficMeter {
    /// (when, requests so far), oldest first, spanning about [`RATE_WINDOW`].
    samples: VecDeque<(Instant, u64)>,
}

impl TrafficMeter {
    /// A meter for a client that has sent nothing yet.
    pub fn start() -> TrafficMeter {
        TrafficMeter {
            samples: VecDeque::from([(Instant::now(), 0)]),
        }
    }

    /// The traffic now, with the rate since the oldest sample of the window.
    pub fn sample(&mut self, stats: &HttpStats) -> Traffic {
        let now = Instant::now();
        let requests = HttpStats::get(&stats.requests);
        self.samples.push_back((now, requests));
        // The oldest sample kept is the last one at least a window ago.
        while self
            .samples
            .get(1)
            .is_some_and(|&(at, _)| now.duration_since(at) >= RATE_WINDOW)
        {
            self.samples.pop_front();
        }
        let (since, base) = self.samples[0];
        Traffic {
            requests,
            in_flight: HttpStats::get(&stats.in_flight),
            per_second: rate(requests.saturating_sub(base), now.duration_since(since)),
            retries: HttpStats::get(&stats.retries),
            rate_limited: HttpStats::get(&stats.rate_limited),
        }
    }
}

impl Traffic {
    /// `5 in flight · 98 req/s`, then retries and rate limits when any.
    fn text(&self) -> String {
        let mut text = format!(
            "{} in flight · {:.0} req/s",
            self.in_flight, self.per_second
        );
        if self.retries > 0 {
            text.push_str(&format!(" · {} retries", self.retries));
        }
        if self.rate_limited > 0 {
            text.push_str(&format!(" · {} rate-limited", self.rate_limited));
        }
        text
    }
}

/// Something worth telling the user.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event<'a> {
    StreamStarted {
        source: &'a str,
        stream: &'a str,
        resumed: bool,
        full: bool,
        done: u64,
    },
    Page {
        source: &'a str,
        stream: &'a str,
        done: u64,
        total: Option<u64>,
        records: usize,
        elapsed_ms: u64,
        counts: &'a Counts,
        http: Traffic,
    },
    Note {
        source: &'a str,
        message: &'a str,
    },
    StreamFinished {
        source: &'a str,
        stream: &'a str,
        complete: bool,
        counts: &'a Counts,
        elapsed_ms: u64,
    },
    /// Requests to a host wait (a rate limit or pacing) until `until`.
    Wait {
        source: &'a str,
        host: &'a str,
        /// `primary`, `secondary`, `retry_after`, `too_many_requests`, `pacing`.
        reason: &'static str,
        /// RFC 3339, UTC.
        until: String,
        wait_ms: u64,
        /// The remote asked for longer (clamped to `retry.max_wait_s`).
        clamped: bool,
    },
    /// A push committed a batch of outcomes.
    Pushed {
        source: &'a str,
        stream: &'a str,
        /// Changes settled so far, of `total` taken up by the run.
        done: u64,
        total: u64,
        applied: u64,
        conflicts: u64,
        failed: u64,
        http: Traffic,
    },
}

/// Shows events in the chosen mode.
pub struct Reporter {
    mode: ProgressMode,
    state: Mutex<ReporterState>,
}

struct ReporterState {
    bar: Option<ProgressBar>,
    started: Instant,
    base_done: u64,
    last_line: Instant,
}

const PLAIN_INTERVAL: Duration = Duration::from_secs(2);

impl Reporter {
    pub fn new(mode: ProgressMode) -> Reporter {
        Reporter {
            mode,
            state: Mutex::new(ReporterState {
                bar: None,
                started: Instant::now(),
                base_done: 0,
                last_line: Instant::now(),
            }),
        }
    }

    pub fn mode(&self) -> ProgressMode {
        self.mode
    }

    pub fn event(&self, event: &Event) {
        if self.mode == ProgressMode::Json {
            write_json_line(event);
            return;
        }
        let mut state = self.state.lock().unwrap();
        match event {
            Event::StreamStarted {
                source,
                stream,
                resumed,
                done,
                ..
            } => {
                state.started = Instant::now();
                state.base_done = *done;
                state.last_line = Instant::now();
                if *resumed {
                    self.line_locked(
                        &state,
                        &format!(
                            "Resuming {source}/{} from its checkpoint ({done} done)",
                            Untrusted::new(stream)
                        ),
                    );
                }
                if self.mode == ProgressMode::Bar {
                    let bar =
                        ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(8));
                    bar.set_prefix(Untrusted::clipped(stream, 80).to_string());
                    bar.set_style(spinner_style());
                    bar.set_position(*done);
                    state.bar = Some(bar);
                }
            }
            Event::Page {
                source,
                stream,
                done,
                total,
                counts,
                http,
                ..
            } => {
                if let Some(bar) = &state.bar {
                    if let Some(total) = total {
                        if bar.length() != Some(*total) {
                            bar.set_length(*total);
                            bar.set_style(bar_style());
                        }
                    } else {
                        bar.set_style(spinner_style());
                    }
                    bar.set_position(*done);
                    bar.set_message(format!(
                        "{} · {} skipped, {} failed",
                        http.text(),
                        counts.skipped,
                        counts.failed
                    ));
                } else if state.last_line.elapsed() >= PLAIN_INTERVAL {
                    state.last_line = Instant::now();
                    let rate = rate(
                        done.saturating_sub(state.base_done),
                        state.started.elapsed(),
                    );
                    let line = format!(
                        "Syncing {source}/{}: {} · {rate:.0}/s · {} · {} skipped, {} failed",
                        Untrusted::clipped(stream, 80),
                        progress_text(*done, *total),
                        http.text(),
                        counts.skipped,
                        counts.failed
                    );
                    eprintln!("{line}");
                }
            }
            Event::Pushed {
                stream,
                done,
                total,
                conflicts,
                failed,
                http,
                ..
            } => {
                let text = format!(
                    "Pushing {}: {} · {} · {conflicts} conflicts, {failed} failed",
                    Untrusted::clipped(stream, 80),
                    progress_text(*done, Some(*total)),
                    http.text()
                );
                if self.mode == ProgressMode::Bar {
                    let bar = state.bar.get_or_insert_with(|| {
                        let bar = ProgressBar::with_draw_target(
                            Some(*total),
                            ProgressDrawTarget::stderr_with_hz(8),
                        );
                        bar.set_style(bar_style());
                        bar
                    });
                    bar.set_prefix(format!("{} (push)", Untrusted::clipped(stream, 80)));
                    bar.set_position(*done);
                    bar.set_message(format!(
                        "{} · {conflicts} conflicts, {failed} failed",
                        http.text()
                    ));
                    if done >= total {
                        bar.finish_and_clear();
                        state.bar = None;
                    }
                } else if state.last_line.elapsed() >= PLAIN_INTERVAL || done >= total {
                    state.last_line = Instant::now();
                    eprintln!("{text}");
                }
            }
            Event::Note { message, .. } => self.line_locked(&state, message),
            Event::Wait { .. } => {
                let text = wait_text(event);
                if let Some(bar) = &state.bar {
                    bar.set_message(text.clone());
                }
                self.line_locked(&state, &text);
            }
            Event::StreamFinished { .. } => {
                if let Some(bar) = state.bar.take() {
                    bar.finish_and_clear();
                }
            }
        }
    }

    /// Prints a final line (summaries) on stderr, or on stdout as JSON.
    pub fn summary<T: Serialize>(&self, text: &str, json: &T) {
        if self.mode == ProgressMode::Json {
            write_json_line(json);
        } else {
            let state = self.state.lock().unwrap();
            self.line_locked(&state, text);
        }
    }

    /// A line that does not disturb the bar. Lines quote plugins (stream
    /// names, errors): the parts they quote are rendered where the line is
    /// made, and the whole passes the last guard.
    fn line_locked(&self, state: &ReporterState, text: &str) {
        let text = terminal_safe(text);
        match &state.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }
}

/// `acme: waiting 42.0s, until 12:00:42 UTC, for api.github.com: secondary
/// rate limit`.
fn wait_text(event: &Event) -> String {
    let Event::Wait {
        source,
        host,
        reason,
        until,
        wait_ms,
        clamped,
    } = event
    else {
        return String::new();
    };
    let why = crate::net::retry::WaitReason::ALL
        .iter()
        .find(|r| r.name() == *reason)
        .map_or(*reason, |r| r.describe());
    let clock = until.get(11..19).unwrap_or(until);
    format!(
        "{source}: waiting {}, until {clock} UTC, for {}: {why}{}",
        human_duration(Duration::from_millis(*wait_ms)),
        Untrusted::clipped(host, 100),
        if *clamped {
            " (clamped to retry.max_wait_s)"
        } else {
            ""
        }
    )
}

/// Shows the waits of `http` as they start while `work` runs (see
/// [`HttpClient::waits`]).
pub async fn showing_waits<T>(
    http: &HttpClient,
    reporter: &Reporter,
    source: &str,
    work: impl std::future::Future<Output = T>,
) -> T {
    let mut waits = http.waits();
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return out,
            Ok(()) = waits.changed() => {
                let notice = waits.borrow_and_update().clone();
                if let Some(notice) = notice {
                    let until: chrono::DateTime<chrono::Utc> = notice.until.into();
                    reporter.event(&Event::Wait {
                        source,
                        host: &notice.host,
                        reason: notice.reason.name(),
                        until: until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        wait_ms: notice.wait.as_millis() as u64,
                        clamped: notice.clamped,
                    });
                }
            }
        }
    }
}

/// One JSON line on stdout, safe to print (see [`terminal_safe_json`]). A closed stdout (a reader that went away) is not
/// worth failing a sync for, so write errors are ignored.
fn write_json_line<T: Serialize>(value: &T) {
    if let Ok(line) = serde_json::to_string(value) {
        let mut out = std::io::stdout().lock();
        let line = terminal_safe_json(&line);
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    }
}

fn rate(done: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        done as f64 / secs
    } else {
        0.0
    }
}

fn progress_text(done: u64, total: Option<u64>) -> String {
    match total {
        Some(total) if total > 0 => format!("{done}/{total} ({}%)", done * 100 / total.max(1)),
        _ => format!("{done}"),
    }
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "Syncing {prefix}: {pos}/{len} ({percent}%) [{bar:25}] · {per_sec} · ETA {eta} · {msg}",
    )
    .expect("valid template")
    .progress_chars("=> ")
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} Syncing {prefix}: {pos} · {per_sec} · {msg}")
        .expect("valid template")
}

/// `2m 34s`, `3.2s`, `0.4s`.
pub fn human_duration(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else if secs < 3600.0 {
        format!("{}m {}s", (secs / 60.0) as u64, (secs % 60.0) as u64)
    } else {
        format!(
            "{}h {}m",
            (secs / 3600.0) as u64,
            ((secs % 3600.0) / 60.0) as u64
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_wrote_them() {
        assert_eq!(human_duration(Duration::from_millis(3200)), "3.2s");
        assert_eq!(human_duration(Duration::from_secs(154)), "2m 34s");
        assert_eq!(human_duration(Duration::from_secs(3720)), "1h 2m");
    }

    #[test]
    fn traffic_reads_as_in_flight_and_rate() {
        let mut traffic = Traffic {
            requests: 500,
            in_flight: 5,
            per_second: 97.6,
            ..Traffic::default()
        };
        assert_eq!(traffic.text(), "5 in flight · 98 req/s");
        traffic.rate_limited = 3;
        assert_eq!(traffic.text(), "5 in flight · 98 req/s · 3 rate-limited");
    }

    #[test]
    fn a_wait_says_why_and_until_when() {
        let event = Event::Wait {
            source: "gh",
            host: "api.github.com",
            reason: "primary",
            until: "2026-01-01T12:01:00Z".into(),
            wait_ms: 60_000,
            clamped: false,
        };
        assert_eq!(
            wait_text(&event),
            "gh: waiting 1m 0s, until 12:01:00 UTC, for api.github.com: \
             rate-limit budget spent (primary limit), until its reset"
        );
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["event"], "wait");
        assert_eq!(json["reason"], "primary");
        assert_eq!(json["until"], "2026-01-01T12:01:00Z");
    }

    #[test]
    fn the_meter_measures_the_recent_rate() {
        let stats = HttpStats::default();
        let mut meter = TrafficMeter {
            samples: VecDeque::from([(Instant::now() - Duration::from_secs(2), 0)]),
        };
        stats
            .requests
            .store(100, std::sync::atomic::Ordering::Relaxed);
        stats
            .in_flight
            .store(4, std::sync::atomic::Ordering::Relaxed);
        let traffic = meter.sample(&stats);
        assert!((45.0..=50.0).contains(&traffic.per_second), "{traffic:?}");
        assert_eq!((traffic.requests, traffic.in_flight), (100, 4));
    }

    #[test]
    fn progress_shows_percent_when_total_is_known() {
        assert_eq!(progress_text(234, Some(1000)), "234/1000 (23%)");
        assert_eq!(progress_text(5, None), "5");
    }
}
