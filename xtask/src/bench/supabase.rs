//! `cargo xtask bench --supabase [--runs K]`: the Supabase plugin against
//! the PostgREST fake over a real PostgreSQL (started by the fake), local.
//!
//! - full pulls of 10,000 and 100,000 rows (table `notes`) into fresh
//!   stores, at the host's default page size (100) and at Supabase's
//!   max-rows (1,000): wall time, requests, peak RSS of the host;
//! - on the 100,000-row store, a delta after 1% of the rows changed:
//!   requests next to the full pull's;
//! - 10,000 creates pushed into an empty table, and 1,000 updates pushed:
//!   wall time and requests (bulk inserts: at most one request per 500
//!   creates);
//! - a full pull of 10,000 rows at page size 1,000 with the fake's
//!   `--latency-ms 50`, next to the bound of its sequential keyset pages.
//!
//! Each pull must store exactly the fake's rows and each push must apply
//! every change: the bench fails otherwise.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};

use super::{median_pull, reset_stats, stats, summary_of, synchost, toml_string, Pull};
use crate::{http_get, http_post, target_dir, Fake};

const TABLE: &str = "notes";
const LATENCY_MS: u64 = 50;

/// A fake with `rows` rows in `notes`, and its service_role key.
struct Database {
    fake: Fake,
    key: String,
}

impl Database {
    fn start(rows: u64, extra: &[&str]) -> Result<Database> {
        let table = format!("{TABLE}:{rows}");
        let mut args = vec!["supabase", "--table", &table];
        args.extend_from_slice(extra);
        let fake = Fake::start(&args)?;
        let key = fake.printed("service_role key:")?;
        Ok(Database { fake, key })
    }

    /// `synchost ARGS` on the store in `dir`, whose config names this fake.
    fn synchost(&self, dir: &Path, args: &[&str]) -> Result<Command> {
        std::fs::create_dir_all(dir)?;
        let config = dir.join("synchost.toml");
        std::fs::write(
            &config,
            format!(
                "[store]\npath = \"synchost.db\"\n\n[sources.db]\nplugin = {}\n\n\
                 [sources.db.auth]\ntype = \"supabase\"\nkey_env = \"SUPABASE_KEY\"\n\n\
                 [sources.db.settings]\nbase_url = {}\ntables = \"{TABLE}\"\n",
                toml_string(
                    &target_dir()
                        .join("plugins/supabase.wasm")
                        .display()
                        .to_string()
                ),
                toml_string(&self.fake.url),
            ),
        )?;
        let mut command = Command::new(synchost());
        command
            .current_dir(dir)
            .env("SUPABASE_KEY", &self.key)
            .env(
                "SYNCHOST_CACHE_DIR",
                target_dir().join("bench/cache-shared"),
            )
            .arg("--config")
            .arg(&config)
            .args(args);
        Ok(command)
    }

    /// A measured `pull --json` whose store must equal the table.
    fn pull(&self, dir: &Path, args: &[&str]) -> Result<Pull> {
        let mut all = vec!["pull", "db", "--json"];
        all.extend_from_slice(args);
        let command = self.synchost(dir, &all)?;
        let pull = timed(&self.fake, command, "pull")?;
        self.check_store(dir)?;
        Ok(pull)
    }

    /// The store's live records are the fake's rows, versions included.
    fn check_store(&self, dir: &Path) -> Result<()> {
        let truth: Value =
            serde_json::from_str(&http_get(&format!("{}/_control/items", self.fake.url))?)?;
        let mut truth: Vec<(String, String)> = truth
            .as_array()
            .context("ground truth is not an array")?
            .iter()
            .map(|t| (text(&t["id"]), text(&t["version"])))
            .collect();
        let export = self
            .synchost(dir, &["export", "db", "--format", "jsonl"])?
            .output()?;
        ensure!(export.status.success(), "export failed: {}", export.status);
        let mut stored: Vec<(String, String)> = String::from_utf8_lossy(&export.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|r| r["deleted"] != true)
            .map(|r| (text(&r["id"]), text(&r["version"])))
            .collect();
        truth.sort();
        stored.sort();
        ensure!(
            truth == stored,
            "the store holds {} rows, the table {}, and they differ",
            stored.len(),
            truth.len()
        );
        Ok(())
    }

    /// Stages `changes` (JSON lines) and pushes them, timed; every change
    /// must apply.
    fn push(&self, dir: &Path, changes: &[Value]) -> Result<Pushed> {
        let file = dir.join("changes.jsonl");
        let lines: String = changes.iter().map(|c| format!("{c}\n")).collect();
        std::fs::write(&file, lines)?;
        let file = file.display().to_string();
        let stage = self
            .synchost(dir, &["stage", "db", "--stream", TABLE, "--file", &file])?
            .output()?;
        ensure!(
            stage.status.success(),
            "stage failed: {}",
            String::from_utf8_lossy(&stage.stderr)
        );
        reset_stats(&self.fake)?;
        let started = Instant::now();
        let output = self
            .synchost(dir, &["push", "db", "--json"])?
            .stderr(Stdio::piped())
            .output()?;
        let wall = started.elapsed();
        let summary = summary_of(&String::from_utf8_lossy(&output.stdout))?;
        let applied = summary["summary"]["applied"].as_u64().unwrap_or(0);
        ensure!(
            output.status.success() && applied == changes.len() as u64,
            "push applied {applied} of {} ({}): {}",
            changes.len(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let stats = stats(&self.fake)?;
        Ok(Pushed {
            wall,
            requests: stats["requests"]
                .as_u64()
                .context("stats without requests")?,
        })
    }

    fn mutate(&self, body: Value) -> Result<()> {
        http_post(
            &format!("{}/_control/mutate", self.fake.url),
            &body.to_string(),
        )?;
        Ok(())
    }
}

struct Pushed {
    wall: Duration,
    requests: u64,
}

/// Runs a `pull --json` command and measures it against the fake's stats.
fn timed(fake: &Fake, mut command: Command, what: &str) -> Result<Pull> {
    reset_stats(fake)?;
    let started = Instant::now();
    let output = command.stderr(Stdio::piped()).output()?;
    let wall = started.elapsed();
    if !output.status.success() {
        bail!(
            "{what} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let summary = summary_of(&String::from_utf8_lossy(&output.stdout))?;
    let stats = stats(fake)?;
    Ok(Pull {
        wall,
        requests: stats["requests"]
            .as_u64()
            .context("stats without requests")?,
        records: summary["summary"]["counts"]["written"]
            .as_u64()
            .unwrap_or(0),
        peak_rss_kb: summary["summary"]["peak_rss_kb"].as_u64().unwrap_or(0),
        stats,
    })
}

/// Every scenario, printed as a table.
pub fn run(work: &Path, runs: usize) -> Result<()> {
    let mut rows = Vec::new();
    let mut row =
        |scenario: String, wall: Duration, requests: u64, rss_kb: Option<u64>, note: String| {
            rows.push(format!(
                "| {scenario} | {:.2} s | {requests} | {} | {note} |",
                wall.as_secs_f64(),
                rss_kb.map_or(String::new(), |kb| format!("{:.1} MB", kb as f64 / 1024.0)),
            ))
        };

    for count in [10_000u64, 100_000] {
        let db = Database::start(count, &[])?;
        for page_size in ["100", "1000"] {
            let mut samples = Vec::new();
            for run in 0..runs {
                let dir = work.join(format!("supabase-{count}-{page_size}-{run}"));
                samples.push(db.pull(&dir, &["--page-size", page_size])?);
            }
            let full = median_pull(samples);
            row(
                format!("full pull, {count} rows, page size {page_size}"),
                full.wall,
                full.requests,
                Some(full.peak_rss_kb),
                format!(
                    "{:.0} rows/s",
                    full.records as f64 / full.wall.as_secs_f64()
                ),
            );
            if count == 100_000 && page_size == "100" {
                // The delta on the first run's store, after 1% of the rows changed.
                let dir = work.join(format!("supabase-{count}-{page_size}-0"));
                db.mutate(json!({"table": TABLE, "update": count / 100}))?;
                let delta = db.pull(&dir, &[])?;
                row(
                    format!(
                        "delta after {} rows updated (1%), page size 100",
                        count / 100
                    ),
                    delta.wall,
                    delta.requests,
                    Some(delta.peak_rss_kb),
                    format!(
                        "{:.2}% of the full pull's {} requests (target < 2%)",
                        delta.requests as f64 * 100.0 / full.requests as f64,
                        full.requests
                    ),
                );
            }
        }
    }

    // Pushes: 10,000 creates into an empty table, then 1,000 updates of them.
    let db = Database::start(0, &[])?;
    let (mut creates, mut updates) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let dir = work.join(format!("supabase-push-{run}"));
        db.pull(&dir, &[])?;
        let changes: Vec<Value> = (0..10_000)
            .map(|i| {
                let row = json!({"title": format!("bench {run}-{i}"), "body": "created by the bench", "done": false});
                json!({"op": "create", "content": row.to_string()})
            })
            .collect();
        creates.push(db.push(&dir, &changes)?);
        db.pull(&dir, &[])?;
        let export = db
            .synchost(&dir, &["export", "db", "--format", "jsonl"])?
            .output()?;
        let prefix = format!("bench {run}-");
        let changes: Vec<Value> = String::from_utf8_lossy(&export.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter_map(|record| {
                let content = record["content"].as_str()?;
                let mut row: Value = serde_json::from_str(content).ok()?;
                row["title"].as_str()?.starts_with(&prefix).then_some(())?;
                row["body"] = json!("updated by the bench");
                Some(json!({"op": "update", "id": record["id"], "content": row.to_string()}))
            })
            .take(1_000)
            .collect();
        ensure!(
            changes.len() == 1_000,
            "only {} rows to update",
            changes.len()
        );
        updates.push(db.push(&dir, &changes)?);
    }
    let (create, update) = (median_push(creates), median_push(updates));
    row(
        "push, 10,000 creates".into(),
        create.wall,
        create.requests,
        None,
        format!(
            "{:.0} creates per request (target ≥ 500)",
            10_000.0 / create.requests as f64
        ),
    );
    row(
        "push, 1,000 updates".into(),
        update.wall,
        update.requests,
        None,
        "one conditional PATCH each".into(),
    );

    // Latency: keyset pages are sequential, so the bound is their count × latency.
    let latency = LATENCY_MS.to_string();
    let db = Database::start(10_000, &["--latency-ms", &latency])?;
    let mut samples = Vec::new();
    for run in 0..runs {
        let dir = work.join(format!("supabase-latency-{run}"));
        samples.push(db.pull(&dir, &["--page-size", "1000"])?);
    }
    let slow = median_pull(samples);
    let bound = slow.requests as f64 * LATENCY_MS as f64 / 1000.0;
    row(
        format!("full pull, 10000 rows, page size 1000, latency {LATENCY_MS} ms"),
        slow.wall,
        slow.requests,
        Some(slow.peak_rss_kb),
        format!(
            "bound {bound:.2} s ({} sequential requests × {LATENCY_MS} ms)",
            slow.requests
        ),
    );

    println!(
        "\nSupabase: table `{TABLE}` (uuid id, title, body, done, updated_at), PostgREST fake over \
         PostgreSQL on this machine; release build; medians of {runs} runs.\n"
    );
    println!("| scenario | wall time | requests | peak RSS | compared with |");
    println!("|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    Ok(())
}

fn median_push(mut samples: Vec<Pushed>) -> Pushed {
    samples.sort_by_key(|p| p.wall);
    samples.swap_remove(samples.len() / 2)
}

fn text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_string)
}
