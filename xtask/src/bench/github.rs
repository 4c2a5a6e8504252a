//! `cargo xtask bench --github [--runs K]`: the GitHub plugin against the
//! fake's repository of 10,000 files (4 KB on average, 5% binary) with 2,000
//! issues and pull requests and 5,000 comments, local, no latency, every
//! stream, page size 100.
//!
//! - full sync into a fresh store: wall time, peak RSS, requests next to the
//!   naive count (one per file plus one per listing page);
//! - on each run's store, a delta after one commit touching 20 files, then
//!   an unchanged ref;
//! - a full sync against a budget of 500 requests per 60 s window at a page
//!   size of 10, so that the listings need two windows: one run, wall time
//!   against `counted requests ÷ 500 × 60 s`.
//!
//! Before each timed full sync the fake builds the head commit's tree
//! listing and archive (before a delta, the listing), with a warm-up request
//! of each before the stats are reset, and the plugin's native code is in
//! the cache: the wall time is synchost's, not the fake's first build of a
//! 40 MB archive or a compile.
//!
//! The archive's redirect points to the fake's own host, so the ad hoc
//! source's default allowed host (that of `base_url`) is enough; the bench
//! fails when a full sync reads any file by blob sha instead.
//!
//! Requests are the fake's counters by route: `files` is every git, archive
//! and download request, `/issues` the issues listing (in a delta also the
//! listing of changed pull requests), `/pulls` the pulls listing and reads,
//! `comments` issue and review comments.

use std::path::Path;

use anyhow::{ensure, Result};
use serde_json::{json, Value};

use super::{measured_pull, median_pull, plugin_load_ms, plugin_pull_command, Pull};
use crate::{http_post, target_dir, Fake};

const FILES: u64 = 10_000;
const ISSUES: u64 = 2_000;
const COMMENTS: u64 = 5_000;
/// The commit of the delta scenario (modified, added, deleted, renamed): 20 files.
const COMMIT: (u64, u64, u64, u64) = (14, 3, 2, 1);
const BUDGET: u64 = 500;
const WINDOW_S: u64 = 60;
/// The budget scenario's page size: its listings cost more than one window.
const BUDGET_PAGE_SIZE: u32 = 10;

/// Every scenario, printed as a table.
pub fn run(work: &Path, runs: usize) -> Result<()> {
    let fake = start_fake(&[])?;
    cache_plugin()?;
    let (mut fulls, mut deltas, mut unchanged) = (Vec::new(), Vec::new(), Vec::new());
    let (modify, add, delete, rename) = COMMIT;
    for run in 0..runs {
        let dir = work.join(format!("github-{run}"));
        fulls.push(full_sync(&fake, &dir)?);
        http_post(
            &format!("{}/_control/mutate", fake.url),
            &json!({"commit": {"modify": modify, "add": add, "delete": delete, "rename": rename}})
                .to_string(),
        )?;
        warm(&fake, false)?;
        deltas.push(sync(&fake, &dir, None)?);
        unchanged.push(sync(&fake, &dir, None)?);
    }
    drop(fake);
    let budget = budget_sync(work)?;

    println!(
        "\nGitHub: {FILES} files (4 KB on average, 5% binary), {ISSUES} issues and pull requests, \
         {COMMENTS} comments; release build, local fake, no latency, every stream, page size 100. \
         Medians of {runs} runs; the budget scenario: 1 run. Requests by route: files (git, \
         archive, its download) · /issues (issues; in a delta also the pulls' changes) · \
         /pulls · comments.\n"
    );
    println!("| scenario | wall time | requests | files · /issues · /pulls · comments | 304s | 403s | compared with | peak RSS |");
    println!("|---|---|---|---|---|---|---|---|");
    let full = median_pull(fulls);
    let naive = FILES + listings(&full.stats);
    println!(
        "{}",
        row(
            "full sync",
            &full,
            &format!(
                "naive {naive} ({:.1}%); targets 30 s, 150 MB",
                full.requests as f64 * 100.0 / naive as f64
            )
        )
    );
    println!(
        "{}",
        row(
            &format!(
                "delta, one commit of {} files ({modify} modified, {add} added, {delete} deleted, {rename} renamed)",
                modify + add + delete + rename
            ),
            &median_pull(deltas),
            "target ≤ 25"
        )
    );
    println!(
        "{}",
        row(
            "unchanged ref",
            &median_pull(unchanged),
            "target: files 1, answered 304"
        )
    );
    let counted = counted(&budget.stats);
    let bound = counted as f64 / BUDGET as f64 * WINDOW_S as f64;
    println!(
        "{}",
        row(
            &format!("full sync, budget {BUDGET} requests per {WINDOW_S} s, page size {BUDGET_PAGE_SIZE}"),
            &budget,
            &format!(
                "bound {bound:.1} s ({counted} counted ÷ {BUDGET} × {WINDOW_S} s): wall ÷ bound {:.2} (target ≤ 1.15)",
                budget.wall.as_secs_f64() / bound
            )
        )
    );
    Ok(())
}

/// The default table's row: the full sync, median of `runs`.
pub fn default_row(work: &Path, runs: usize) -> Result<String> {
    let fake = start_fake(&[])?;
    cache_plugin()?;
    let mut samples = Vec::new();
    for run in 0..runs {
        samples.push(full_sync(
            &fake,
            &work.join(format!("github-default-{run}")),
        )?);
    }
    let full = median_pull(samples);
    Ok(format!(
        "| GitHub full sync, {FILES} files (4 KB), {ISSUES} issues and pulls, {COMMENTS} comments | {:.2} s | {} (naive: {}) | {:.0} | {:.1} MB |",
        full.wall.as_secs_f64(),
        full.requests,
        FILES + listings(&full.stats),
        full.records as f64 / full.wall.as_secs_f64(),
        full.peak_rss_kb as f64 / 1024.0
    ))
}

/// `synchost-fake github` with the bench's repository and `extra` flags.
fn start_fake(extra: &[&str]) -> Result<Fake> {
    let (files, issues, comments) = (FILES.to_string(), ISSUES.to_string(), COMMENTS.to_string());
    let mut args = vec![
        "github",
        "--files",
        &files,
        "--file-kb",
        "4",
        "--binary-share",
        "0.05",
        "--issues",
        &issues,
        "--comments",
        &comments,
    ];
    args.extend_from_slice(extra);
    Fake::start(&args)
}

/// Compiles the plugin into the cache the pulls use.
fn cache_plugin() -> Result<()> {
    let cache = target_dir().join("bench/cache-shared");
    plugin_load_ms(&target_dir().join("plugins/github.wasm"), &cache)?;
    Ok(())
}

/// Has the fake build the tree listing of the head commit, and its archive
/// with `archive`.
fn warm(fake: &Fake, archive: bool) -> Result<()> {
    let paths: &[&str] = if archive {
        &["git/trees/main?recursive=1", "tarball/main"]
    } else {
        &["git/trees/main?recursive=1"]
    };
    for path in paths {
        let mut response = ureq::get(&format!("{}/repos/acme/widgets/{path}", fake.url)).call()?;
        let mut body = response.body_mut().with_config().limit(u64::MAX).reader();
        std::io::copy(&mut body, &mut std::io::sink())?;
    }
    Ok(())
}

/// A pull of every stream of `acme/widgets` into the store in `dir`.
fn sync(fake: &Fake, dir: &Path, page_size: Option<u32>) -> Result<Pull> {
    let mut command = plugin_pull_command("github", fake, dir, &["repo=acme/widgets"]);
    if let Some(size) = page_size {
        command.args(["--page-size", &size.to_string()]);
    }
    measured_pull(fake, dir, command)
}

/// A first sync into a fresh store, which must take every file from the
/// archive.
fn full_sync(fake: &Fake, dir: &Path) -> Result<Pull> {
    let _ = std::fs::remove_dir_all(dir);
    warm(fake, true)?;
    let pull = sync(fake, dir, None)?;
    ensure!(
        count(&pull.stats, "download") == 1 && count(&pull.stats, "blob") == 0,
        "the full sync did not take its files from one archive: {}",
        pull.stats
    );
    Ok(pull)
}

/// The full sync against the budget of `BUDGET` requests per `WINDOW_S`.
fn budget_sync(work: &Path) -> Result<Pull> {
    let (budget, window) = (BUDGET.to_string(), WINDOW_S.to_string());
    let fake = start_fake(&[
        "--rate-limit-budget",
        &budget,
        "--rate-limit-window-s",
        &window,
    ])?;
    let dir = work.join("github-budget");
    let pull = sync(&fake, &dir, Some(BUDGET_PAGE_SIZE))?;
    ensure!(
        counted(&pull.stats) > BUDGET,
        "the budget scenario fits in one window ({} counted requests): it measures no wait",
        counted(&pull.stats)
    );
    Ok(pull)
}

fn count(stats: &Value, name: &str) -> u64 {
    stats[name].as_u64().unwrap_or(0)
}

/// Requests of the issue, pull and comment listings.
fn listings(stats: &Value) -> u64 {
    ["issues", "pulls", "comments"]
        .iter()
        .map(|name| count(stats, name))
        .sum()
}

/// Requests that count against the primary rate limit: not the archive's
/// download, not 304s, not refusals.
fn counted(stats: &Value) -> u64 {
    count(stats, "requests")
        .saturating_sub(count(stats, "download"))
        .saturating_sub(count(stats, "not_modified"))
        .saturating_sub(count(stats, "rate_limited"))
}

fn row(name: &str, pull: &Pull, compared: &str) -> String {
    let s = &pull.stats;
    format!(
        "| {name} | {:.2} s | {} | {} · {} · {} · {} | {} | {} | {compared} | {:.1} MB |",
        pull.wall.as_secs_f64(),
        pull.requests,
        pull.requests.saturating_sub(listings(s)),
        count(s, "issues"),
        count(s, "pulls"),
        count(s, "comments"),
        count(s, "not_modified"),
        count(s, "rate_limited"),
        pull.peak_rss_kb as f64 / 1024.0
    )
}
