//! `cargo xtask bench --push [--latency-ms L] [--rate-limit R] [--concurrency N]`:
//! 1,000 page updates pushed to the Confluence fake by the release binary.
//!
//! Each run pulls a fresh store from a fake of 1,000 pages (no faults),
//! stages one update per page, edits 1% of the pages remotely (so those
//! updates conflict), then sets the scenario's faults and times
//! `synchost push` alone. The fake's request count during the push must be
//! the changes plus one per conflict (the `GET` after the 409) and nothing
//! else, besides the 429s the rate limit answered: the bench fails otherwise,
//! and when a change fails or stays in flight (a 429 surfacing as a failure).
//!
//! Without `--latency-ms` or `--rate-limit` it measures every scenario of the
//! issue: no faults, `--rate-limit 20`, `--latency-ms 50` and `200`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};

use super::latency::DEFAULT_CONCURRENCY;
use super::{flag_value, reset_stats, stats, summary_of, synchost, toml_string};
use crate::{http_get, http_post, target_dir, Fake};

const PAGES: usize = 1_000;
/// Pages edited remotely before each push: their updates conflict.
const CONFLICTS: usize = 10;

/// The faults of one scenario, set on the fake for the push only.
#[derive(Clone, Copy)]
pub struct Scenario {
    /// 0: none.
    pub latency_ms: u64,
    pub rate_limit: Option<f64>,
}

/// One measured push.
pub struct Push {
    pub wall: Duration,
    /// Every request the fake answered during the push, 429s included.
    pub requests: u64,
    pub rate_limited: u64,
    max_in_flight: u64,
}

/// The scenarios `args` ask for: the one their `--latency-ms` and
/// `--rate-limit` describe, or all of them.
pub fn scenarios(args: &[String]) -> Result<Vec<Scenario>> {
    let latency_ms: Option<u64> = flag_value(args, "--latency-ms")?;
    let rate_limit: Option<f64> = flag_value(args, "--rate-limit")?;
    if latency_ms.is_some() || rate_limit.is_some() {
        return Ok(vec![Scenario {
            latency_ms: latency_ms.unwrap_or(0),
            rate_limit,
        }]);
    }
    Ok([(0, None), (0, Some(20.0)), (50, None), (200, None)]
        .into_iter()
        .map(|(latency_ms, rate_limit)| Scenario {
            latency_ms,
            rate_limit,
        })
        .collect())
}

/// Measures `scenarios` (`runs` pushes each) and returns their medians.
pub fn measure(
    work: &Path,
    scenarios: &[Scenario],
    concurrency: Option<u64>,
    runs: usize,
) -> Result<Vec<Push>> {
    let fake = Fake::start(&[
        "confluence",
        "--pages",
        &PAGES.to_string(),
        "--folders",
        "0",
        "--attachments-per-page",
        "0",
    ])?;
    let mut medians = Vec::new();
    for (n, scenario) in scenarios.iter().enumerate() {
        let mut samples = Vec::new();
        for run in 0..runs {
            let dir = work.join(format!("push-{n}-{run}"));
            samples.push(measured_push(&fake, &dir, scenario, concurrency)?);
        }
        samples.sort_by_key(|push| push.wall);
        medians.push(samples.swap_remove(runs / 2));
    }
    Ok(medians)
}

/// Prints the table of `scenarios` and their `medians`, measured with
/// `concurrency`.
pub fn print(scenarios: &[Scenario], medians: &[Push], concurrency: Option<u64>, runs: usize) {
    println!(
        "\nMedians of {runs} runs, release build, Confluence fake with {PAGES} pages, \
         {PAGES} updates staged ({CONFLICTS} of them conflict), --concurrency {}. \
         Wall time of `synchost push` alone. Bound: requests ÷ rate limit, or \
         requests × latency ÷ concurrency.\n",
        concurrency.unwrap_or(DEFAULT_CONCURRENCY)
    );
    println!("| scenario | wall time | bound | wall ÷ bound | requests (changes + conflicts) | 429s | max in flight |");
    println!("|---|---|---|---|---|---|---|");
    for (scenario, push) in scenarios.iter().zip(medians) {
        println!("{}", row(scenario, push, concurrency));
    }
}

/// The default table's row for a push without faults.
pub fn default_row(push: &Push) -> String {
    format!(
        "| Confluence push, {PAGES} page updates ({CONFLICTS} conflict) | {:.2} s | {} (= changes + conflicts) | {:.0} | |",
        push.wall.as_secs_f64(),
        push.requests,
        PAGES as f64 / push.wall.as_secs_f64(),
    )
}

fn row(scenario: &Scenario, push: &Push, concurrency: Option<u64>) -> String {
    let wall = push.wall.as_secs_f64();
    let accepted = push.requests - push.rate_limited;
    let concurrency = concurrency.unwrap_or(DEFAULT_CONCURRENCY);
    let mut faults = Vec::new();
    if let Some(rate) = scenario.rate_limit {
        faults.push(format!("`--rate-limit {rate}`"));
    }
    if scenario.latency_ms > 0 {
        faults.push(format!("`--latency-ms {}`", scenario.latency_ms));
    }
    let latency_bound = accepted as f64 * scenario.latency_ms as f64 / 1000.0 / concurrency as f64;
    let (bound, how) = match scenario.rate_limit {
        Some(rate) if accepted as f64 / rate >= latency_bound => {
            (accepted as f64 / rate, format!("requests ÷ {rate}"))
        }
        _ if scenario.latency_ms > 0 => (
            latency_bound,
            format!("requests × {} ms ÷ {concurrency}", scenario.latency_ms),
        ),
        _ => (0.0, String::new()),
    };
    let (bound, ratio) = if how.is_empty() {
        ("under 5 s (target)".to_string(), String::new())
    } else {
        (
            format!("{bound:.1} s ({how})"),
            format!("{:.2}", wall / bound),
        )
    };
    let name = if faults.is_empty() {
        "no faults".to_string()
    } else {
        faults.join(", ")
    };
    format!(
        "| push {PAGES} updates, {name} | {wall:.2} s | {bound} | {ratio} | {accepted} ({} + {CONFLICTS}) | {} | {} |",
        PAGES, push.rate_limited, push.max_in_flight,
    )
}

/// A fresh store of the fake's pages with one update staged per page and
/// `CONFLICTS` of those pages edited remotely; then the push, timed, under
/// `scenario`'s faults.
fn measured_push(
    fake: &Fake,
    dir: &Path,
    scenario: &Scenario,
    concurrency: Option<u64>,
) -> Result<Push> {
    std::fs::create_dir_all(dir)?;
    let config = dir.join("synchost.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npath = \"synchost.db\"\n\n[sources.docs]\nplugin = {}\n\n\
             [sources.docs.settings]\nbase_url = {}\nspace = \"DOCS\"\n",
            toml_string(
                &target_dir()
                    .join("plugins/confluence.wasm")
                    .display()
                    .to_string()
            ),
            toml_string(&fake.url),
        ),
    )?;
    let synchost_in = |args: &[&str]| {
        let mut command = Command::new(synchost());
        command
            .current_dir(dir)
            .env(
                "SYNCHOST_CACHE_DIR",
                target_dir().join("bench/cache-shared"),
            )
            .arg("--config")
            .arg(&config)
            .args(args);
        command
    };
    checked(synchost_in(&["pull", "docs", "--page-size", "250"]), "pull")?;

    let truth: Value = serde_json::from_str(&http_get(&format!("{}/_control/items", fake.url))?)?;
    let ids: Vec<String> = truth
        .as_array()
        .context("ground truth is not an array")?
        .iter()
        .filter(|entry| entry["stream"] == "pages")
        .filter_map(|entry| entry["id"].as_str().map(str::to_string))
        .collect();
    ensure!(
        ids.len() == PAGES,
        "the fake has {} pages, expected {PAGES}",
        ids.len()
    );
    let lines: String = ids
        .iter()
        .map(|id| {
            let content = format!("<p>pushed by the bench to {id}, {}</p>", dir.display());
            json!({"op": "update", "id": id, "content": content}).to_string() + "\n"
        })
        .collect();
    let changes = dir.join("changes.jsonl");
    std::fs::write(&changes, lines)?;
    let changes = changes.display().to_string();
    checked(
        synchost_in(&["stage", "docs", "--stream", "pages", "--file", &changes]),
        "stage",
    )?;
    http_post(
        &format!("{}/_control/mutate", fake.url),
        &json!({"update_ids": ids[..CONFLICTS]}).to_string(),
    )?;

    set_faults(fake, scenario.latency_ms, scenario.rate_limit)?;
    reset_stats(fake)?;
    let mut push = synchost_in(&["push", "docs", "--json"]);
    if let Some(n) = concurrency {
        push.args(["--concurrency", &n.to_string()]);
    }
    let started = Instant::now();
    let output = push.stderr(Stdio::piped()).output()?;
    let wall = started.elapsed();
    let stats = stats(fake)?;
    set_faults(fake, 0, None)?;

    // Conflicts make the exit code 1; the summary says whether that is all.
    if !matches!(output.status.code(), Some(0 | 1)) {
        bail!(
            "push failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let summary = summary_of(&String::from_utf8_lossy(&output.stdout))?;
    let summary = &summary["summary"];
    let count = |value: &Value| value.as_u64().unwrap_or(u64::MAX);
    let (applied, conflicts) = (count(&summary["applied"]), count(&summary["conflicts"]));
    let (failed, refused, unknown) = (
        count(&summary["failed"]),
        count(&summary["refused"]),
        count(&summary["unknown"]),
    );
    ensure!(
        applied == (PAGES - CONFLICTS) as u64
            && conflicts == CONFLICTS as u64
            && failed + refused + unknown == 0,
        "push: {applied} applied, {conflicts} conflicts, {failed} failed, {refused} refused, \
         {unknown} in flight; expected {} applied and {CONFLICTS} conflicts: {summary}",
        PAGES - CONFLICTS
    );
    let requests = count(&stats["requests"]);
    let rate_limited = stats["by_status"]["429"].as_u64().unwrap_or(0);
    let (updates, gets) = (count(&stats["page_update"]), count(&stats["page"]));
    // Every 429 was a `PUT` (or a `GET`) the host sent again.
    ensure!(
        requests - rate_limited == (PAGES + CONFLICTS) as u64 && updates + gets == requests,
        "the push made {requests} requests ({rate_limited} answered 429, {updates} PUT, \
         {gets} GET); expected {PAGES} updates + {CONFLICTS} conflicts and nothing else: {stats}"
    );
    Ok(Push {
        wall,
        requests,
        rate_limited,
        max_in_flight: count(&stats["max_in_flight"]),
    })
}

fn set_faults(fake: &Fake, latency_ms: u64, rate_limit: Option<f64>) -> Result<()> {
    http_post(
        &format!("{}/_control/faults", fake.url),
        &json!({"latency_ms": latency_ms, "rate_limit": rate_limit}).to_string(),
    )?;
    Ok(())
}

/// Runs `command`, failing with its stderr when it fails.
fn checked(mut command: Command, what: &str) -> Result<()> {
    let output = command.output()?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
