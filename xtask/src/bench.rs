//! `cargo xtask bench`: measured, never asserted. Release build, local fake,
//! medians of several runs (`--runs N`, default 3). Prints a Markdown table.
//!
//! Without flags: no added latency (CPU-bound pulls, resume, plugin start and refusal,
//! Confluence full and delta). With `--latency-ms L` and/or `--rate-limit R`:
//! the latency scenarios of `latency.rs` instead. With `--push`: the push
//! scenarios of `push.rs` (the first of them, no faults, is also a row of
//! the default table). With `--github`: the GitHub scenarios of `github.rs`
//! (its full sync is also a row of the default table). With `--supabase`:
//! the Supabase scenarios of `supabase.rs` (PostgreSQL started by the fake).
//! With `--parallel`: many sources in one pull, one after another and at
//! once (`parallel.rs`). With `--otel`: a pull with and without
//! OpenTelemetry export (`otel.rs`). With `--confluence`: the Confluence
//! plugin with blog posts, labels and properties on, and the Markdown export
//! (`confluence.rs`).

mod confluence;
mod github;
mod latency;
mod otel;
mod parallel;
mod push;
mod supabase;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::{build, http_get, http_post, target_dir, Fake};

/// One measured pull.
struct Pull {
    wall: Duration,
    requests: u64,
    records: u64,
    peak_rss_kb: u64,
    /// The fake's `/_control/stats` after the pull.
    stats: Value,
}

pub fn run(args: &[String]) -> Result<()> {
    let runs: usize = flag_value(args, "--runs")?.unwrap_or(3).max(1);
    let push_only = args.iter().any(|a| a == "--push");
    let github_only = args.iter().any(|a| a == "--github");
    let supabase_only = args.iter().any(|a| a == "--supabase");
    let parallel_only = args.iter().any(|a| a == "--parallel");
    let otel_only = args.iter().any(|a| a == "--otel");
    let confluence_only = args.iter().any(|a| a == "--confluence");
    let latency = if push_only
        || github_only
        || supabase_only
        || parallel_only
        || otel_only
        || confluence_only
    {
        None
    } else {
        latency::Options::parse(args, runs)?
    };
    build()?;
    let work = target_dir().join("bench");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    if push_only {
        let concurrency: Option<u64> = flag_value(args, "--concurrency")?;
        let scenarios = push::scenarios(args)?;
        let medians = push::measure(&work, &scenarios, concurrency, runs)?;
        push::print(&scenarios, &medians, concurrency, runs);
        return Ok(());
    }
    if github_only {
        return github::run(&work, runs);
    }
    if supabase_only {
        crate::ensure_postgresql()?;
        return supabase::run(&work, runs);
    }
    if parallel_only {
        return parallel::run(&work, args, runs);
    }
    if otel_only {
        return otel::run(&work, args, runs);
    }
    if confluence_only {
        return confluence::run(&work, args, runs);
    }
    if let Some(options) = latency {
        return latency::run(&work, &options);
    }

    let mut rows = Vec::new();
    for count in [10_000u64, 100_000] {
        let fake = Fake::start(&["items", "--count", &count.to_string()])?;
        let mut samples = Vec::new();
        for run in 0..runs {
            let dir = work.join(format!("full-{count}-{run}"));
            samples.push(full_pull(&fake, &dir)?);
        }
        let pull = median_pull(samples);
        rows.push(format!(
            "| full pull, {count} items | {:.2} s | {} | {:.0} | {:.1} MB |",
            pull.wall.as_secs_f64(),
            pull.requests,
            pull.records as f64 / pull.wall.as_secs_f64(),
            pull.peak_rss_kb as f64 / 1024.0
        ));
    }

    // Resume: interrupt halfway with SIGINT, rerun, compare with a full pull.
    let fake = Fake::start(&["items", "--count", "10000"])?;
    let mut resumes = Vec::new();
    for run in 0..runs {
        resumes.push(interrupted_then_resumed(
            &fake,
            &work.join(format!("resume-{run}")),
            5_000,
        )?);
    }
    resumes.sort_by_key(|(_, pull)| pull.wall);
    let (done_before, resume) = &resumes[resumes.len() / 2];
    rows.push(format!(
        "| resume after SIGINT at {done_before}/10000 items | {:.2} s | {} | {:.0} | {:.1} MB |",
        resume.wall.as_secs_f64(),
        resume.requests,
        resume.records as f64 / resume.wall.as_secs_f64().max(1e-9),
        resume.peak_rss_kb as f64 / 1024.0
    ));

    // Plugin start: compile (empty cache) vs load from the cache, for the
    // Rust example and its Python and JavaScript twins (when their toolchain
    // built them).
    for (name, language) in [
        ("example-items", "Rust"),
        ("python-items", "Python"),
        ("js-items", "JavaScript"),
    ] {
        let plugin = target_dir().join(format!("plugins/{name}.wasm"));
        if !plugin.is_file() {
            rows.push(format!(
                "| plugin start, {language}: skipped, {name}.wasm not built | | | | |"
            ));
            continue;
        }
        let (mut cold, mut warm) = (Vec::new(), Vec::new());
        for run in 0..runs.max(5) {
            let cache = work.join(format!("cache-{name}-{run}"));
            cold.push(plugin_load_ms(&plugin, &cache)?);
            warm.push(plugin_load_ms(&plugin, &cache)?);
            // A JavaScript plugin's entry is 36 MB: keep one at a time.
            let _ = std::fs::remove_dir_all(&cache);
        }
        let plugin_size = std::fs::metadata(&plugin)?.len();
        rows.push(format!(
            "| plugin start, {language}, first compile ({} KB component) | {:.1} ms | | | |",
            plugin_size / 1024,
            median(&mut cold)
        ));
        rows.push(format!(
            "| plugin start, {language}, cached native code | {:.2} ms | | | |",
            median(&mut warm)
        ));
    }
    let forbidden = target_dir().join("plugins/forbidden-imports.wasm");
    let mut refusals = (0..runs.max(5))
        .map(|run| refusal_ms(&forbidden, &work.join(format!("refusal-cache-{run}"))))
        .collect::<Result<Vec<f64>>>()?;
    rows.push(format!(
        "| refuse a plugin with forbidden imports ({} KB; whole command, no cache entry written) | {:.1} ms | | | |",
        std::fs::metadata(&forbidden)?.len() / 1024,
        median(&mut refusals)
    ));

    rows.extend(confluence(&work, runs)?);
    rows.push(github::default_row(&work, runs)?);
    let no_faults = push::Scenario {
        latency_ms: 0,
        rate_limit: None,
    };
    for push in push::measure(&work, &[no_faults], None, runs)? {
        rows.push(push::default_row(&push));
    }

    println!("\nMedians of {runs} runs (plugin start: {} runs), release build, local fake, no added latency.\n", runs.max(5));
    println!("| scenario | wall time | requests | records/s | peak RSS |");
    println!("|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    Ok(())
}

/// The value after `flag` in `args`, parsed; `None` without the flag.
fn flag_value<T>(args: &[String], flag: &str) -> Result<Option<T>>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let Some(i) = args.iter().position(|a| a == flag) else {
        return Ok(None);
    };
    let value = args
        .get(i + 1)
        .with_context(|| format!("{flag} needs a value"))?;
    let parsed = value
        .parse()
        .with_context(|| format!("{flag} {value}: not a valid value"))?;
    Ok(Some(parsed))
}

/// `s` as a TOML string (JSON's quoting is valid TOML).
fn toml_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

fn synchost() -> PathBuf {
    target_dir().join("release/synchost")
}

/// `synchost pull --json` of the example plugin against `fake`.
fn pull_command(fake: &Fake, dir: &Path) -> Command {
    plugin_pull_command("example-items", fake, dir, &[])
}

/// `synchost pull --json --plugin target/plugins/NAME.wasm` against `fake`,
/// with extra `--set` settings.
fn plugin_pull_command(plugin: &str, fake: &Fake, dir: &Path, sets: &[&str]) -> Command {
    let mut command = Command::new(synchost());
    command
        .current_dir(dir)
        .env(
            "SYNCHOST_CACHE_DIR",
            target_dir().join("bench/cache-shared"),
        )
        .args(["pull", "--json", "--plugin"])
        .arg(target_dir().join(format!("plugins/{plugin}.wasm")))
        .args(["--set", &format!("base_url={}", fake.url)]);
    for set in sets {
        command.args(["--set", set]);
    }
    command
}

fn reset_stats(fake: &Fake) -> Result<()> {
    http_post(&format!("{}/_control/stats/reset", fake.url), "{}")?;
    Ok(())
}

/// The fake's stats.
fn stats(fake: &Fake) -> Result<Value> {
    Ok(serde_json::from_str(&http_get(&format!(
        "{}/_control/stats",
        fake.url
    ))?)?)
}

/// The `summary` event of a `pull --json` run.
fn summary_of(stdout: &str) -> Result<Value> {
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|event| event["event"] == "summary")
        .context("no summary event in the output of synchost pull --json")
}

fn full_pull(fake: &Fake, dir: &Path) -> Result<Pull> {
    measured_pull(fake, dir, pull_command(fake, dir))
}

/// Runs `command` (a `pull --json`) and measures it against the fake's stats.
fn measured_pull(fake: &Fake, dir: &Path, mut command: Command) -> Result<Pull> {
    std::fs::create_dir_all(dir)?;
    reset_stats(fake)?;
    let started = Instant::now();
    let output = command.stderr(Stdio::inherit()).output()?;
    let wall = started.elapsed();
    if !output.status.success() {
        bail!("pull failed: {}", output.status);
    }
    let summary = summary_of(&String::from_utf8_lossy(&output.stdout))?;
    let stats = stats(fake)?;
    Ok(Pull {
        wall,
        requests: stats["requests"]
            .as_u64()
            .context("stats without requests")?,
        stats,
        records: summary["summary"]["counts"]["written"]
            .as_u64()
            .unwrap_or(0),
        peak_rss_kb: summary["summary"]["peak_rss_kb"].as_u64().unwrap_or(0),
    })
}

/// Interrupts a pull once `after` items are done, then measures the rerun.
fn interrupted_then_resumed(fake: &Fake, dir: &Path, after: u64) -> Result<(u64, Pull)> {
    std::fs::create_dir_all(dir)?;
    let mut child = pull_command(fake, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().expect("piped");
    let mut done = 0;
    let mut signalled = false;
    for line in BufReader::new(stdout).lines() {
        let event: Value = serde_json::from_str(&line?).unwrap_or(Value::Null);
        if event["event"] == "page" && !signalled {
            done = event["done"].as_u64().unwrap_or(0);
            if done >= after {
                Command::new("kill")
                    .args(["-INT", &child.id().to_string()])
                    .status()?;
                signalled = true;
            }
        }
    }
    let status = child.wait()?;
    if status.code() != Some(130) {
        bail!("the interrupted pull exited with {status}, expected 130");
    }
    reset_stats(fake)?;
    let resumed = full_pull(fake, dir)?;
    Ok((done, resumed))
}

fn plugin_load_ms(plugin: &Path, cache: &Path) -> Result<f64> {
    let output = Command::new(synchost())
        .env("SYNCHOST_CACHE_DIR", cache)
        .args(["plugin", "inspect", "--json"])
        .arg(plugin)
        .output()?;
    if !output.status.success() {
        bail!(
            "plugin inspect failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let report: Value = serde_json::from_slice(&output.stdout)?;
    report["load_ms"]
        .as_f64()
        .context("inspect without load_ms")
}

/// Wall time of `synchost plugin inspect` refusing `plugin` (exit 2), in
/// milliseconds; fails if the refusal left an entry in the `cache` directory.
fn refusal_ms(plugin: &Path, cache: &Path) -> Result<f64> {
    let started = Instant::now();
    let output = Command::new(synchost())
        .env("SYNCHOST_CACHE_DIR", cache)
        .args(["plugin", "inspect"])
        .arg(plugin)
        .output()?;
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    if output.status.code() != Some(2) {
        bail!(
            "plugin inspect did not refuse {} ({}): {}",
            plugin.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let entries = std::fs::read_dir(cache).map_or(0, |dir| dir.count());
    if entries != 0 {
        bail!("refusing {} left {entries} cache entries", plugin.display());
    }
    Ok(elapsed)
}

/// The Confluence scenarios: a large space against the naive request count,
/// and a delta after 2% of pages change.
fn confluence(work: &Path, runs: usize) -> Result<Vec<String>> {
    let mut rows = Vec::new();
    let (pages, attachments, folders) = (10_000u64, 2u64, 500u64);
    let fake = Fake::start(&[
        "confluence",
        "--pages",
        &pages.to_string(),
        "--attachments-per-page",
        &attachments.to_string(),
        "--folders",
        &folders.to_string(),
        "--attachment-bytes",
        "8192",
        // Blog posts, labels and properties: `--confluence` (`confluence.rs`).
        "--blogposts",
        "0",
    ])?;
    let mut samples = Vec::new();
    for run in 0..runs {
        let dir = work.join(format!("confluence-{run}"));
        samples.push(measured_pull(&fake, &dir, confluence_command(&fake, &dir))?);
    }
    let full = median_pull(samples);
    // One request per page detail, folder, attachment list, attachment and comment list.
    let naive = pages + folders + pages + pages * attachments + pages;
    rows.push(format!(
        "| Confluence full pull, {pages} pages × {attachments} attachments (8 KB), {folders} folders | {:.2} s | {} (naive: {naive}) | {:.0} | {:.1} MB |",
        full.wall.as_secs_f64(),
        full.requests,
        full.records as f64 / full.wall.as_secs_f64(),
        full.peak_rss_kb as f64 / 1024.0
    ));

    // Delta after 2% of pages change, on the first run's store.
    http_post(
        &format!("{}/_control/mutate", fake.url),
        &format!("{{\"update\": {}}}", pages / 50),
    )?;
    let dir = work.join("confluence-0");
    let delta = measured_pull(&fake, &dir, confluence_command(&fake, &dir))?;
    rows.push(format!(
        "| Confluence delta after {} pages changed (2%) | {:.2} s | {} ({:.2}% of full) | | {:.1} MB |",
        pages / 50,
        delta.wall.as_secs_f64(),
        delta.requests,
        delta.requests as f64 * 100.0 / full.requests as f64,
        delta.peak_rss_kb as f64 / 1024.0
    ));
    Ok(rows)
}

/// A Confluence pull at the API's largest page (250).
fn confluence_command(fake: &Fake, dir: &Path) -> Command {
    let mut command = plugin_pull_command("confluence", fake, dir, &["space=DOCS"]);
    command.args(["--page-size", "250"]);
    command
}

fn median_pull(mut samples: Vec<Pull>) -> Pull {
    samples.sort_by_key(|pull| pull.wall);
    let middle = samples.len() / 2;
    samples.swap_remove(middle)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
