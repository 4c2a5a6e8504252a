//! `synchost watch`: pulls sources on a schedule, as a long-running service.
//!
//! Each source is due every `--every`, spread by a random jitter so that many
//! watchers do not hit a remote at the same second. Due sources are pulled
//! together (as `synchost pull`, `--parallel` at a time); a run never starts
//! while the previous one is running. A source whose pull fails waits longer
//! before its next try (doubling, up to `--max-backoff`), then returns to its
//! schedule after a success; the others keep theirs. One line per run says
//! what happened and when each source is due next.
//!
//! Stopping: SIGTERM or Ctrl+C stop a run in flight as `pull` does (what is
//! committed stays, the checkpoint is kept) and end the command: exit 0 on
//! SIGTERM (a service manager's normal stop), 130 on Ctrl+C. A second Ctrl+C
//! quits at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::pull::Puller;
use super::{Global, JsonFlag};
use crate::config::{Overrides, SourceConfig};
use crate::error::{interrupted, kind_of, ExitKind};
use crate::runtime::Runtime;
use crate::sync::audit;
use crate::sync::progress::{human_duration, ProgressMode};
use crate::sync::pull::PullOptions;
use crate::untrusted::Untrusted;

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Sources to keep current (default: every source in the config).
    sources: Vec<String>,
    /// How often each source is pulled, e.g. 30s, 10m, 1h.
    #[arg(long, value_name = "DURATION", value_parser = parse_interval)]
    every: Duration,
    /// Each wait is spread at random by up to this share of --every, either
    /// way (0 to 50).
    #[arg(long, value_name = "PERCENT", default_value_t = 10, value_parser = clap::value_parser!(u8).range(0..=50))]
    jitter_percent: u8,
    /// Longest wait after failed pulls (default: --every or one hour,
    /// whichever is longer).
    #[arg(long, value_name = "DURATION", value_parser = parse_interval)]
    max_backoff: Option<Duration>,
    /// Pull up to N due sources at once (as `pull --parallel`).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    parallel: u32,
    /// On each run, also list ids and versions of everything to find deletions.
    #[arg(long)]
    check_deletions: bool,
    #[command(flatten)]
    output: JsonFlag,
}

/// A duration of at least one second, written as humans do (`90s`, `10m`).
fn parse_interval(text: &str) -> std::result::Result<Duration, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|err| format!("{err} (write it like 30s, 10m or 1h)"))?;
    if duration < Duration::from_secs(1) {
        return Err("at least 1s".into());
    }
    Ok(duration)
}

/// Where one source stands in the schedule.
struct Due {
    source: SourceConfig,
    at: Instant,
    /// Failed pulls in a row.
    failures: u32,
}

/// Why the watch stops.
#[derive(Clone, Default)]
struct Stop {
    cancel: CancellationToken,
    /// Ctrl+C rather than SIGTERM.
    by_ctrl_c: Arc<AtomicBool>,
}

impl Stop {
    /// Cancels on the first SIGTERM or Ctrl+C; a second Ctrl+C exits at once.
    fn listen(&self) -> Result<()> {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let stop = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => stop.by_ctrl_c.store(true, Ordering::SeqCst),
            }
            eprintln!("Stopping: finishing what is committed, keeping the checkpoint");
            stop.cancel.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                super::pull::quit_now();
            }
        });
        Ok(())
    }

    /// The command's end: exit 0 after SIGTERM, 130 after Ctrl+C.
    fn outcome(&self) -> Result<()> {
        if self.by_ctrl_c.load(Ordering::SeqCst) {
            Err(interrupted("watch stopped by Ctrl+C"))
        } else {
            Ok(())
        }
    }
}

pub async fn run(global: &Global, args: WatchArgs) -> Result<()> {
    let config = global.config()?;
    let names = super::chosen_sources(
        &config,
        &args.sources,
        "watch",
        "add sources to synchost.toml (see `synchost init`)",
    )?;
    let store_path = config.store_path(global.store.as_deref());
    let sources = names
        .iter()
        .map(|name| audit::pull_source(&config, &store_path, name, &Overrides::default()))
        .collect::<Result<Vec<_>>>()?;
    let max_backoff = args
        .max_backoff
        .unwrap_or(args.every.max(Duration::from_secs(3600)));
    let stop = Stop::default();
    stop.listen()?;
    let mode = ProgressMode::detect(args.output.json, global.verbose);
    let puller = Puller {
        runtime: Runtime::new(Runtime::default_cache_dir())?,
        store_path,
        options: PullOptions {
            full: false,
            check_deletions: args.check_deletions,
            checkpoint_ttl: Duration::from_secs(24 * 3600),
            blob_concurrency: 4,
            cancel: stop.cancel.clone(),
        },
        parallel: args.parallel as usize,
        // A service's log: lines, never a progress bar.
        mode: match mode {
            ProgressMode::Bar => ProgressMode::Plain,
            other => other,
        },
    };
    let schedule = Schedule {
        every: args.every,
        jitter: f64::from(args.jitter_percent) / 100.0,
        max_backoff,
    };
    let now = Instant::now();
    let mut due: Vec<Due> = sources
        .into_iter()
        .map(|source| Due {
            source,
            at: now,
            failures: 0,
        })
        .collect();

    for run in 1u64.. {
        let next = due.iter().map(|d| d.at).min().expect("at least one source");
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = stop.cancel.cancelled() => return stop.outcome(),
        }
        let started = Instant::now();
        let batch: Vec<SourceConfig> = due
            .iter()
            .filter(|d| d.at <= started)
            .map(|d| d.source.clone())
            .collect();
        let outcomes = match puller.pull(&batch).await {
            Ok(outcomes) => outcomes
                .into_iter()
                .map(|(name, outcome)| (name, outcome.map(|s| s.counts.written)))
                .collect(),
            // The store could not be opened or locked: every source failed.
            Err(err) => {
                let why = format!("{err:#}");
                batch
                    .iter()
                    .map(|s| (s.name.clone(), Err(anyhow::anyhow!("{why}"))))
                    .collect::<Vec<_>>()
            }
        };
        let mut parts = Vec::new();
        for (name, outcome) in &outcomes {
            let entry = due
                .iter_mut()
                .find(|d| &d.source.name == name)
                .expect("a pulled source is scheduled");
            match outcome {
                Ok(written) => {
                    entry.failures = 0;
                    entry.at = started + schedule.wait(0);
                    parts.push(json!({"source": name, "outcome": "succeeded", "written": written}));
                }
                Err(err) if kind_of(err) == ExitKind::Interrupted => {
                    parts.push(json!({"source": name, "outcome": "interrupted"}));
                }
                Err(err) => {
                    entry.failures += 1;
                    entry.at = Instant::now() + schedule.wait(entry.failures);
                    let first_line = format!("{err:#}");
                    let first_line = first_line.lines().next().unwrap_or_default();
                    parts.push(json!({"source": name, "outcome": "failed", "failures": entry.failures, "error": first_line}));
                }
            }
        }
        let next = (!stop.cancel.is_cancelled()).then_some(due.as_slice());
        log_run(run, started.elapsed(), &parts, next, mode);
        if stop.cancel.is_cancelled() {
            return stop.outcome();
        }
    }
    unreachable!("the schedule runs until stopped")
}

/// How long a source waits before its next pull.
struct Schedule {
    every: Duration,
    /// Share of `every` a wait may be spread by, either way.
    jitter: f64,
    max_backoff: Duration,
}

impl Schedule {
    /// The wait after `failures` failed pulls in a row (0: after a success):
    /// `every`, doubled per failure up to `max_backoff`, then jittered.
    fn wait(&self, failures: u32) -> Duration {
        let base = if failures == 0 {
            self.every
        } else {
            self.every
                .saturating_mul(1u32 << failures.min(20))
                .min(self.max_backoff.max(self.every))
        };
        let spread = self.jitter * (rand::random::<f64>() * 2.0 - 1.0);
        base.mul_f64(1.0 + spread)
    }
}

/// One line per run: each source's outcome and when each is due next
/// (`None`: the watch is stopping).
fn log_run(
    run: u64,
    took: Duration,
    parts: &[serde_json::Value],
    due: Option<&[Due]>,
    mode: ProgressMode,
) {
    let now = Instant::now();
    let next: Vec<serde_json::Value> = due
        .unwrap_or_default()
        .iter()
        .map(|d| json!({"source": d.source.name, "in_s": d.at.saturating_duration_since(now).as_secs()}))
        .collect();
    if mode == ProgressMode::Json {
        println!(
            "{}",
            json!({"event": "watch_run", "run": run, "took_ms": took.as_millis() as u64, "sources": parts, "next": next})
        );
        return;
    }
    let outcomes: Vec<String> = parts
        .iter()
        .map(|part| {
            let name = Untrusted::new(part["source"].as_str().unwrap_or_default()).to_string();
            match part["outcome"].as_str() {
                Some("succeeded") => format!("{name} ok ({} written)", part["written"]),
                Some("failed") => format!(
                    "{name} FAILED ({} in a row: {})",
                    part["failures"],
                    Untrusted::clipped(part["error"].as_str().unwrap_or_default(), 300)
                ),
                _ => format!("{name} interrupted"),
            }
        })
        .collect();
    let next = match due {
        Some(due) => due
            .iter()
            .map(|d| {
                format!(
                    "{} in {}",
                    Untrusted::new(&d.source.name),
                    human_duration(d.at.saturating_duration_since(now))
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
        None => "none, stopping".to_string(),
    };
    eprintln!(
        "watch run {run} ({}): {}; next: {next}",
        human_duration(took),
        outcomes.join(", "),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_per_failure_up_to_the_cap_and_stay_within_the_jitter() {
        let schedule = Schedule {
            every: Duration::from_secs(60),
            jitter: 0.1,
            max_backoff: Duration::from_secs(300),
        };
        for _ in 0..100 {
            let ok = schedule.wait(0).as_secs_f64();
            assert!((54.0..=66.0).contains(&ok), "{ok}");
            let twice = schedule.wait(1).as_secs_f64();
            assert!((108.0..=132.0).contains(&twice), "{twice}");
            let capped = schedule.wait(30).as_secs_f64();
            assert!((270.0..=330.0).contains(&capped), "{capped}");
        }
        let exact = Schedule {
            jitter: 0.0,
            ..schedule
        };
        assert_eq!(exact.wait(2), Duration::from_secs(240));
    }

    #[test]
    fn intervals_are_read_as_humans_write_them() {
        assert_eq!(parse_interval("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_interval("1h 30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_interval("500ms").unwrap_err().contains("at least 1s"));
        assert!(parse_interval("often").unwrap_err().contains("30s"));
    }
}
