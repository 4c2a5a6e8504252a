//! `synchost status` and `synchost runs`.
//!
//! For a push run, WRITTEN is the changes applied.

use anyhow::Result;
use clap::Args;

use super::{Global, JsonFlag};
use crate::store::Store;
use crate::untrusted::{terminal_safe_json, Untrusted};

/// Budget of one table cell. Cells show plugin values (stream names,
/// watermarks, plugin versions): longer ones are clipped with a note, and
/// `--json` gives them whole.
const MAX_CELL_BYTES: usize = 64;

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
        store.require_source(source)?;
    }
    let streams = store.status(args.source.as_deref())?;
    let outbox = store.outbox_counts()?;
    let outbox_of = |s: &crate::store::reports::StreamStatus| {
        outbox
            .get(&(s.source.clone(), s.stream.clone()))
            .cloned()
            .unwrap_or_default()
    };
    if args.output.json {
        let streams: Vec<serde_json::Value> = streams
            .iter()
            .map(|s| {
                let mut value = serde_json::to_value(s).unwrap_or_default();
                value["outbox"] = serde_json::to_value(outbox_of(s)).unwrap_or_default();
                value
            })
            .collect();
        println!(
            "{}",
            terminal_safe_json(&serde_json::to_string_pretty(&streams)?)
        );
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
                {
                    let o = outbox_of(s);
                    format!(
                        "{} pending, {} conflicts",
                        o.pending + o.in_flight + o.failed,
                        o.conflicts
                    )
                },
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
            "OUTBOX",
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
        println!(
            "{}",
            terminal_safe_json(&serde_json::to_string_pretty(&runs)?)
        );
        return Ok(());
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                r.kind.clone(),
                r.source.clone(),
                r.started_at.clone(),
                r.duration_ms
                    .map_or("-".into(), |ms| format!("{:.1}s", ms as f64 / 1000.0)),
                r.outcome.clone(),
                if r.kind == "push" {
                    r.applied
                } else {
                    r.written
                }
                .to_string(),
                r.skipped.to_string(),
                r.failed.to_string(),
                r.deleted.to_string(),
                r.excluded.to_string(),
                r.conflicts.to_string(),
                r.requests.to_string(),
                r.not_modified.to_string(),
                r.peak_rss_kb
                    .map_or("-".into(), |kb| format!("{} MB", kb / 1024)),
                r.plugin.clone(),
                r.plugin_signer.clone().unwrap_or_else(|| "-".into()),
                // Enough of the policy's sha256 to tell versions apart.
                r.policy_sha256
                    .as_deref()
                    .map_or("-".into(), |sha| sha.chars().take(12).collect()),
            ]
        })
        .collect();
    print_table(
        &[
            "RUN",
            "KIND",
            "SOURCE",
            "STARTED",
            "TOOK",
            "OUTCOME",
            "WRITTEN",
            "SKIPPED",
            "FAILED",
            "DELETED",
            "EXCLUDED",
            "CONFLICTS",
            "REQUESTS",
            "304",
            "PEAK RSS",
            "PLUGIN",
            "SIGNER",
            "POLICY",
        ],
        &rows,
    );
    for run in runs.iter() {
        if let Some(rule) = &run.policy_refusal {
            println!("run {}: refused by {}", run.id, Untrusted::new(rule));
        }
        if let Some(error) = &run.error {
            println!("run {}: {}", run.id, Untrusted::new(error));
        }
    }
    Ok(())
}

fn print_table(header: &[&str], rows: &[Vec<String>]) {
    print!("{}", table(header, rows));
}

/// Left-aligned columns separated by two spaces, one line per row. Every
/// cell is escaped and clipped to [`MAX_CELL_BYTES`], so no cell can break
/// a line, send an escape sequence or stretch a column without bound.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cells = |row: &[&str]| -> Vec<String> {
        row.iter()
            .map(|cell| Untrusted::clipped(cell, MAX_CELL_BYTES).to_string())
            .collect()
    };
    let header = cells(header);
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| cells(&row.iter().map(String::as_str).collect::<Vec<_>>()))
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            line.push_str(cell);
            // Padding by hand: `format!("{:<width$}")` panics on widths over u16::MAX.
            line.extend(std::iter::repeat_n(' ', width - cell.chars().count() + 2));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_escaped_clipped_and_aligned() {
        let huge = "w".repeat(1 << 20);
        let rows = vec![
            vec!["a".to_string(), huge],
            vec!["b\u{1b}[2J\r\nFORGED".to_string(), "x".to_string()],
        ];
        let text = table(&["NAME", "WATERMARK"], &rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text}");
        assert!(lines[1].contains("more bytes]"), "{}", lines[1]);
        assert!(lines[1].len() < 2 * MAX_CELL_BYTES, "{}", lines[1]);
        assert!(
            lines[2].starts_with("b\\u{1b}[2J\\u{d}\\u{a}FORGED"),
            "{}",
            lines[2]
        );
        let column = lines[0].find("WATERMARK").unwrap();
        assert_eq!(lines[1].find('w'), Some(column));
        assert_eq!(lines[2].rfind('x'), Some(column));
    }
}
