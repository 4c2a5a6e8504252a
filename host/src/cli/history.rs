//! `synchost history SOURCE ID` and `synchost show SOURCE ID [--version V]`.

use anyhow::Result;
use clap::Args;

use super::export::to_json;
use super::{Global, JsonFlag};
use crate::store::Store;
use crate::untrusted::{terminal_safe_json, Untrusted};

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The source.
    source: String,
    /// The record's id.
    id: String,
    /// The record's stream (needed when the id is in several).
    #[arg(long)]
    stream: Option<String>,
    #[command(flatten)]
    output: JsonFlag,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The source.
    source: String,
    /// The record's id.
    id: String,
    /// The record's stream (needed when the id is in several).
    #[arg(long)]
    stream: Option<String>,
    /// A kept version (as `synchost history` lists it) instead of the current one.
    #[arg(long, value_name = "V")]
    version: Option<String>,
}

pub fn history(global: &Global, args: HistoryArgs) -> Result<()> {
    let config = global.config()?;
    let store = Store::open_existing(&config.store_path(global.store.as_deref()))?;
    store.require_source(&args.source)?;
    let stream = store.record_stream(&args.source, args.stream.as_deref(), &args.id)?;
    let versions = store.record_versions(&args.source, &stream, &args.id)?;
    if args.output.json {
        println!(
            "{}",
            terminal_safe_json(&serde_json::to_string_pretty(&versions)?)
        );
        return Ok(());
    }
    println!(
        "{:<20} {:<26} {:<26} {:>6} {:>10}  STATE",
        "VERSION", "FROM", "UNTIL", "RUN", "BYTES"
    );
    for version in &versions {
        println!(
            "{:<20} {:<26} {:<26} {:>6} {:>10}  {}",
            Untrusted::clipped(&version.version, 64).to_string(),
            version.valid_from,
            version.valid_to.as_deref().unwrap_or("(current)"),
            version.run.map_or("-".to_string(), |r| r.to_string()),
            version.content_bytes,
            if version.deleted { "deleted" } else { "live" }
        );
    }
    Ok(())
}

pub fn show(global: &Global, args: ShowArgs) -> Result<()> {
    let config = global.config()?;
    let store = Store::open_existing(&config.store_path(global.store.as_deref()))?;
    store.require_source(&args.source)?;
    let stream = store.record_stream(&args.source, args.stream.as_deref(), &args.id)?;
    let record = store.record_state(&args.source, &stream, &args.id, args.version.as_deref())?;
    println!(
        "{}",
        terminal_safe_json(&serde_json::to_string_pretty(&to_json(record))?)
    );
    Ok(())
}
