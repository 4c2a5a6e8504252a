//! `cargo xtask bench --parallel [--sources S] [--count N] [--latency-ms L]
//! [--runs K]`: S sources (default 10) of N items each (default 10,000),
//! each on its own items fake, pulled into one store by one `synchost pull`
//! one after another and then with `--parallel 4`: wall time and the
//! process's peak RSS of both, medians of K runs. Each run must store every
//! item of every source: the bench fails otherwise.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Result};
use serde_json::Value;

use super::{flag_value, median, synchost, toml_string};
use crate::{target_dir, Fake};

const PARALLEL: u32 = 4;

pub fn run(work: &Path, args: &[String], runs: usize) -> Result<()> {
    let sources: usize = flag_value(args, "--sources")?.unwrap_or(10);
    let count: u64 = flag_value(args, "--count")?.unwrap_or(10_000);
    let latency_ms: u64 = flag_value(args, "--latency-ms")?.unwrap_or(0);
    let (count_arg, latency_arg) = (count.to_string(), latency_ms.to_string());
    let fakes = (0..sources)
        .map(|_| Fake::start(&["items", "--count", &count_arg, "--latency-ms", &latency_arg]))
        .collect::<Result<Vec<_>>>()?;
    println!(
        "| {sources} sources × {count} items{} | wall (median of {runs}) | peak RSS |",
        if latency_ms > 0 {
            format!(", {latency_ms} ms latency")
        } else {
            String::new()
        }
    );
    println!("|---|---|---|");
    for parallel in [1, PARALLEL] {
        let (mut walls, mut rss) = (Vec::new(), Vec::new());
        for run in 0..runs {
            let dir = work.join(format!("parallel-{parallel}-{run}"));
            let (wall, peak_rss_mb) = pull_all(&dir, &fakes, parallel, sources as u64 * count)?;
            walls.push(wall.as_secs_f64());
            rss.push(peak_rss_mb);
        }
        println!(
            "| {} | {:.2} s | {:.1} MB |",
            if parallel == 1 {
                "one after another".to_string()
            } else {
                format!("`--parallel {parallel}`")
            },
            median(&mut walls),
            median(&mut rss)
        );
    }
    Ok(())
}

/// One `synchost pull --parallel N --json` of every source into a fresh
/// store in `dir`: its wall time and peak RSS in MB, after checking that
/// it wrote `expected` records.
fn pull_all(dir: &Path, fakes: &[Fake], parallel: u32, expected: u64) -> Result<(Duration, f64)> {
    std::fs::create_dir_all(dir)?;
    let plugin = target_dir().join("plugins/example-items.wasm");
    let config: String = fakes
        .iter()
        .enumerate()
        .map(|(i, fake)| {
            format!(
                "[sources.s{i}]\nplugin = {}\n\n[sources.s{i}.settings]\nbase_url = {}\n\n",
                toml_string(&plugin.display().to_string()),
                toml_string(&fake.url)
            )
        })
        .collect();
    std::fs::write(dir.join("synchost.toml"), config)?;
    let started = Instant::now();
    let output = Command::new(synchost())
        .current_dir(dir)
        .env(
            "SYNCHOST_CACHE_DIR",
            target_dir().join("bench/cache-shared"),
        )
        .args(["pull", "--json", "--parallel", &parallel.to_string()])
        .stderr(Stdio::inherit())
        .output()?;
    let wall = started.elapsed();
    if !output.status.success() {
        bail!("pull --parallel {parallel} failed: {}", output.status);
    }
    let summaries: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["event"] == "summary")
        .collect();
    let written: u64 = summaries
        .iter()
        .map(|s| s["summary"]["counts"]["written"].as_u64().unwrap_or(0))
        .sum();
    ensure!(
        written == expected,
        "pull --parallel {parallel} wrote {written} records, expected {expected}"
    );
    // Each summary reports the process's peak so far; the largest is the run's.
    let peak_kb = summaries
        .iter()
        .filter_map(|s| s["summary"]["peak_rss_kb"].as_u64())
        .max()
        .unwrap_or(0);
    Ok((wall, peak_kb as f64 / 1024.0))
}
