//! `cargo xtask bench --confluence [--runs K] [--latency-ms L]`: the
//! Confluence plugin with everything on, against a fake space of 2,000 pages,
//! 200 blog posts, 100 folders, one 8 KB attachment and one inline comment
//! per page, with the fake's labels and content properties.
//!
//! - full pull into a fresh store with `labels` and `properties` on, next to
//!   the same pull with them off (what the settings cost) and to the naive
//!   count: a client that asks per item (each page's and blog post's body,
//!   labels, properties, attachment list, footer and inline comments, each
//!   attachment and folder);
//! - on the first run's store, a delta after 2% of pages change;
//! - `export --format markdown` of that store into a fresh directory, then
//!   again into the same directory after the delta (incremental).
//!
//! With `--latency-ms L` the fake answers every request after L ms (one run
//! of the full pull with everything on, besides the local runs).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use super::{flag_value, measured_pull, median, median_pull, plugin_pull_command, synchost, Pull};
use crate::{http_post, Fake};

const PAGES: u64 = 2_000;
const BLOGPOSTS: u64 = 200;
const FOLDERS: u64 = 100;
/// Requests per page or blog post of a client that asks per item: body,
/// labels, properties, attachment list, footer comments, inline comments.
const NAIVE_PER_ITEM: u64 = 6;

/// Every scenario, printed as a table.
pub fn run(work: &Path, args: &[String], runs: usize) -> Result<()> {
    let latency_ms: Option<u64> = flag_value(args, "--latency-ms")?;
    let fake = start_fake(0)?;
    let mut rows = Vec::new();

    let (mut with, mut without, mut exports) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let dir = work.join(format!("confluence-all-{run}"));
        with.push(measured_pull(&fake, &dir, pull(&fake, &dir, true))?);
        exports.push(export_markdown(&dir, &dir.join("markdown"))?);
        let dir = work.join(format!("confluence-bare-{run}"));
        without.push(measured_pull(&fake, &dir, pull(&fake, &dir, false))?);
    }
    let (with, without) = (median_pull(with), median_pull(without));
    let naive = (PAGES + BLOGPOSTS) * NAIVE_PER_ITEM + PAGES + FOLDERS;
    rows.push(row(
        &format!("full pull, labels and properties on: {PAGES} pages, {BLOGPOSTS} blog posts, {FOLDERS} folders, {PAGES} attachments"),
        &with,
        &format!("{} (naive: {naive})", with.requests),
    ));
    rows.push(row(
        "the same pull, labels and properties off",
        &without,
        &without.requests.to_string(),
    ));
    let mut exports_s: Vec<f64> = exports.iter().map(Duration::as_secs_f64).collect();
    rows.push(format!(
        "| export --format markdown, fresh directory ({} records) | {:.2} s | | | |",
        with.records,
        median(&mut exports_s)
    ));

    http_post(
        &format!("{}/_control/mutate", fake.url),
        &format!("{{\"update\": {}}}", PAGES / 50),
    )?;
    let dir = work.join("confluence-all-0");
    let delta = measured_pull(&fake, &dir, pull(&fake, &dir, true))?;
    rows.push(row(
        &format!("delta after {} pages changed (2%)", PAGES / 50),
        &delta,
        &format!(
            "{} ({:.2}% of full)",
            delta.requests,
            delta.requests as f64 * 100.0 / with.requests as f64
        ),
    ));
    let incremental = export_markdown(&dir, &dir.join("markdown"))?;
    rows.push(format!(
        "| export --format markdown again after the delta (incremental) | {:.2} s | | | |",
        incremental.as_secs_f64()
    ));
    drop(fake);

    if let Some(latency) = latency_ms {
        let fake = start_fake(latency)?;
        let dir = work.join("confluence-latency");
        let slow = measured_pull(&fake, &dir, pull(&fake, &dir, true))?;
        rows.push(row(
            &format!("full pull, labels and properties on, {latency} ms per request (one run)"),
            &slow,
            &slow.requests.to_string(),
        ));
    }

    println!("\nConfluence, everything on. Medians of {runs} runs, release build, local fake.\n");
    println!("| scenario | wall time | requests | records/s | peak RSS |");
    println!("|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    Ok(())
}

fn start_fake(latency_ms: u64) -> Result<Fake> {
    Fake::start(&[
        "confluence",
        "--pages",
        &PAGES.to_string(),
        "--blogposts",
        &BLOGPOSTS.to_string(),
        "--folders",
        &FOLDERS.to_string(),
        "--attachments-per-page",
        "1",
        "--attachment-bytes",
        "8192",
        "--inline-comments-per-page",
        "1",
        "--latency-ms",
        &latency_ms.to_string(),
    ])
}

/// An ad-hoc pull of every stream (comments included), at the API's
/// largest page (250).
fn pull(fake: &Fake, dir: &Path, metadata: bool) -> Command {
    let on = if metadata { "true" } else { "false" };
    let labels = format!("labels={on}");
    let properties = format!("properties={on}");
    let sets = ["space=DOCS", "include_comments=true", &labels, &properties];
    let mut command = plugin_pull_command("confluence", fake, dir, &sets);
    command.args(["--page-size", "250"]);
    command
}

/// `synchost export confluence --format markdown --out OUT` of the store the
/// ad-hoc pull in `dir` wrote; its wall time.
fn export_markdown(dir: &Path, out: &Path) -> Result<Duration> {
    let started = Instant::now();
    let status = Command::new(synchost())
        .current_dir(dir)
        .args(["export", "confluence", "--format", "markdown", "--out"])
        .arg(out)
        .status()?;
    if !status.success() {
        bail!("export --format markdown failed: {status}");
    }
    Ok(started.elapsed())
}

fn row(scenario: &str, pull: &Pull, requests: &str) -> String {
    format!(
        "| {scenario} | {:.2} s | {requests} | {:.0} | {:.1} MB |",
        pull.wall.as_secs_f64(),
        pull.records as f64 / pull.wall.as_secs_f64(),
        pull.peak_rss_kb as f64 / 1024.0
    )
}
