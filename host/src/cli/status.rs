//! `synchost status` and `synchost runs`.

use anyhow::Result;
use clap::Args;

use super::{Global, JsonFlag};
use crate::error::usage;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this source.
    source: Option<String>,
    #[command(flatten)]
    output: JsonFlag,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only this source.
    source: Option<String>,
    /// How many runs to show, newest first.
    #[arg(long, default_value_t = 20)]
    limit: u32,
    #[command(flatten)]
    output: JsonFlag,
}

fn open(global: &Global) -> Result<Store> {
    let config = global.config()?;
    Store::open_existing(&config.store_path(global.store.as_deref()))
}

pub fn status(global: &Global, args: StatusArgs) -> Result<()> {
    let store = open(global)?;
    if let Some(source) = &args.source {
        if !store.has_source(source)? {
            return Err(usage(format!(
                "the store has no source `{source}`; run `synchost pull {source}` first"
            )));
        }
    }
    let streams = store.status(args.source.as_deref())?;
    if args.output.json {
        println!("{}", serde_json::to_string_pretty(&streams)?);
        return Ok(());
    }
    if streams.is_empty() {
        println!("The store is empty: run `synchost pull` first.");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = streams
        .iter()
        .map(|s| {
            vec![
                s.source.clone(),
                s.stream.clone(),
                s.records.to_string(),
                s.tombstones.to_string(),
                s.watermark.clone().unwrap_or_else(|| "-".into()),
                if s.state == "running" {
                    "unfinished (resumable)".into()
                } else {
                    "complete".into()
                },
                s.pending_failed.to_string(),
                s.skipped_not_found.to_string(),
                match (&s.last_run_outcome, &s.last_run_at) {
                    (Some(outcome), Some(at)) => format!("{outcome} at {at}"),
                    _ => "-".into(),
                },
            ]
        })
        .collect();
    print_table(
        &[
            "SOURCE",
            "STREAM",
            "RECORDS",
            "DELETED",
            "WATERMARK",
            "STATE",
            "FAILED",
            "NOT FOUND",
            "LAST RUN",
        ],
        &rows,
    );
    Ok(())
}

pub fn runs(global: &Global, args: RunsArgs) -> Result<()> {
    let store = open(global)?;
    let runs = store.runs(args.source.as_deref(), args.limit)?;
    if args.output.json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                r.source.clone(),
                r.started_at.clone(),
                r.duration_ms
                    .map_or("-".into(), |ms| format!("{:.1}s", ms as f64 / 1000.0)),
                r.outcome.clone(),
                r.written.to_string(),
                r.skipped.to_string(),
                r.failed.to_string(),
                r.deleted.to_string(),
                r.requests.to_string(),
                r.peak_rss_kb
                    .map_or("-".into(), |kb| format!("{} MB", kb / 1024)),
                r.plugin.clone(),
            ]
        })
        .collect();
    print_table(
        &[
            "RUN", "SOURCE", "STARTED", "TOOK", "OUTCOME", "WRITTEN", "SKIPPED", "FAILED",
            "DELETED", "REQUESTS", "PEAK RSS", "PLUGIN",
        ],
        &rows,
    );
    for run in runs.iter().filter(|r| r.error.is_some()) {
        println!(
            "run {}: {}",
            run.id,
            run.error.as_deref().unwrap_or_default()
        );
    }
    Ok(())
}

/// Left-aligned columns separated by two spaces.
fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", text.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}
