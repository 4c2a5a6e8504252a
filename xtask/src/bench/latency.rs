//! `cargo xtask bench --latency-ms L [--rate-limit R]`: pulls against fakes
//! that answer every request after L ms, measured against what concurrency
//! allows. Each request of a class waits its latency with at most that
//! class's concurrency of them at once, so the bound is
//! `Σ requests × latency ÷ concurrency` over the classes: listings one at a
//! time (each needs the cursor of the one before), fetches up to
//! `--concurrency`, blob downloads up to the smaller of
//! `--attachment-concurrency` and `--concurrency` (they share the host's
//! slots). The naive time is every request after the other. With
//! `--rate-limit R` the fake answers 429 above R requests per second, and the
//! bound is `requests ÷ R`.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use super::{flag_value, measured_pull, median_pull, plugin_pull_command, Pull};
use crate::Fake;

/// The host's defaults (`core/src/config.rs` `DEFAULT_CONCURRENCY`,
/// `host/src/cli/pull.rs` `--attachment-concurrency`), passed explicitly so
/// the bound below uses the numbers the run used.
pub(super) const DEFAULT_CONCURRENCY: u64 = 5;
const DEFAULT_ATTACHMENT_CONCURRENCY: u64 = 4;

/// What `cargo xtask bench` was asked to measure under latency.
pub struct Options {
    pub latency_ms: u64,
    pub rate_limit: Option<f64>,
    pub concurrency: u64,
    pub attachment_concurrency: u64,
    pub runs: usize,
}

impl Options {
    /// Reads `--latency-ms`, `--rate-limit`, `--concurrency` and
    /// `--attachment-concurrency`; `None` when neither of the first two is given.
    pub fn parse(args: &[String], runs: usize) -> Result<Option<Options>> {
        let latency_ms: Option<u64> = flag_value(args, "--latency-ms")?;
        let rate_limit: Option<f64> = flag_value(args, "--rate-limit")?;
        if latency_ms.is_none() && rate_limit.is_none() {
            return Ok(None);
        }
        Ok(Some(Options {
            latency_ms: latency_ms.unwrap_or(50),
            rate_limit,
            concurrency: flag_value(args, "--concurrency")?.unwrap_or(DEFAULT_CONCURRENCY),
            attachment_concurrency: flag_value(args, "--attachment-concurrency")?
                .unwrap_or(DEFAULT_ATTACHMENT_CONCURRENCY),
            runs,
        }))
    }

    /// A size meant for 50 ms, scaled down for longer latencies so each
    /// scenario takes about as long.
    fn scaled(&self, at_50_ms: u64) -> u64 {
        at_50_ms * 50 / self.latency_ms.max(50)
    }

    fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms)
    }
}

/// Requests of one kind and how many of them may be in flight at once.
struct Class {
    /// The fake's stats counters of this class (`None`: every request not
    /// in another class).
    counters: Option<&'static [&'static str]>,
    concurrency: u64,
}

/// Runs the scenarios `options` ask for and prints their table.
pub fn run(work: &Path, options: &Options) -> Result<()> {
    let rows = match options.rate_limit {
        None => vec![confluence(work, options)?, items(work, options)?],
        Some(rate) => vec![rate_limited(work, options, rate)?],
    };
    println!(
        "\nMedians of {} runs, release build, fake with --latency-ms {}, --concurrency {} \
         --attachment-concurrency {}. Bound: Σ requests × latency ÷ concurrency per class \
         (listings 1, fetches {}, downloads {}); with a rate limit, requests ÷ limit.\n",
        options.runs,
        options.latency_ms,
        options.concurrency,
        options.attachment_concurrency,
        options.concurrency,
        options.attachment_concurrency.min(options.concurrency)
    );
    println!(
        "| scenario | wall time | bound | wall ÷ bound | naive sequential | requests | peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    Ok(())
}

fn confluence(work: &Path, options: &Options) -> Result<String> {
    let (pages, folders) = (options.scaled(2_000), options.scaled(100));
    let fake = Fake::start(&[
        "confluence",
        "--pages",
        &pages.to_string(),
        "--attachments-per-page",
        "2",
        "--folders",
        &folders.to_string(),
        "--latency-ms",
        &options.latency_ms.to_string(),
    ])?;
    let classes = [
        Class {
            counters: Some(&["download"]),
            concurrency: options.attachment_concurrency.min(options.concurrency),
        },
        Class {
            counters: Some(&["bulk_pages", "page", "folder", "attachment", "content"]),
            concurrency: options.concurrency,
        },
        Class {
            counters: None,
            concurrency: 1,
        },
    ];
    let pull = median(work, options, &fake, "confluence", &["space=DOCS"])?;
    Ok(row(
        &format!("Confluence, {pages} pages × 2 attachments, {folders} folders"),
        &pull,
        &classes,
        options,
    ))
}

fn items(work: &Path, options: &Options) -> Result<String> {
    let count = options.scaled(10_000);
    let fake = Fake::start(&[
        "items",
        "--count",
        &count.to_string(),
        "--latency-ms",
        &options.latency_ms.to_string(),
    ])?;
    let classes = [
        Class {
            counters: Some(&["item_requests"]),
            concurrency: options.concurrency,
        },
        Class {
            counters: None,
            concurrency: 1,
        },
    ];
    let pull = median(work, options, &fake, "example-items", &[])?;
    Ok(row(&format!("items, {count}"), &pull, &classes, options))
}

fn rate_limited(work: &Path, options: &Options, rate: f64) -> Result<String> {
    let fake = Fake::start(&[
        "confluence",
        "--pages",
        "300",
        "--attachments-per-page",
        "1",
        "--folders",
        "20",
        "--latency-ms",
        &options.latency_ms.to_string(),
        "--rate-limit",
        &rate.to_string(),
    ])?;
    let pull = median(work, options, &fake, "confluence", &["space=DOCS"])?;
    let bound = pull.requests as f64 / rate;
    let limited = pull.stats["by_status"]["429"].as_u64().unwrap_or(0);
    Ok(format!(
        "| Confluence, 300 pages × 1 attachment, 20 folders, `--rate-limit {rate}` | {:.1} s | {bound:.1} s (requests ÷ {rate}) | {:.2} | {:.1} s | {} ({limited} answered 429) | {:.1} MB |",
        pull.wall.as_secs_f64(),
        pull.wall.as_secs_f64() / bound,
        pull.requests as f64 * options.latency().as_secs_f64(),
        pull.requests,
        pull.peak_rss_kb as f64 / 1024.0
    ))
}

/// The median of `options.runs` pulls with `plugin` against `fake`, each
/// into a fresh store.
fn median(
    work: &Path,
    options: &Options,
    fake: &Fake,
    plugin: &str,
    sets: &[&str],
) -> Result<Pull> {
    let mut samples = Vec::new();
    for run in 0..options.runs {
        let dir = work.join(format!("{plugin}-{}ms-{run}", options.latency_ms));
        let mut command = plugin_pull_command(plugin, fake, &dir, sets);
        command.args([
            "--concurrency",
            &options.concurrency.to_string(),
            "--attachment-concurrency",
            &options.attachment_concurrency.to_string(),
        ]);
        if plugin == "confluence" {
            command.args(["--page-size", "250"]);
        }
        samples.push(measured_pull(fake, &dir, command)?);
    }
    Ok(median_pull(samples))
}

/// A table row: wall time against the bound of `classes` and the naive time.
fn row(scenario: &str, pull: &Pull, classes: &[Class], options: &Options) -> String {
    let latency = options.latency().as_secs_f64();
    let count = |name: &str| pull.stats[name].as_u64().unwrap_or(0);
    let mut counted = 0;
    let mut bound = 0.0;
    let mut parts = Vec::new();
    for class in classes {
        let n = match class.counters {
            Some(names) => names.iter().map(|name| count(name)).sum(),
            None => pull.requests.saturating_sub(counted),
        };
        counted += n;
        bound += n as f64 * latency / class.concurrency as f64;
        parts.push(format!("{n}÷{}", class.concurrency));
    }
    let wall = pull.wall.as_secs_f64();
    format!(
        "| {scenario} | {wall:.1} s | {bound:.1} s ({}) | {:.2} | {:.1} s | {} | {:.1} MB |",
        parts.join(" + "),
        wall / bound,
        pull.requests as f64 * latency,
        pull.requests,
        pull.peak_rss_kb as f64 / 1024.0
    )
}
