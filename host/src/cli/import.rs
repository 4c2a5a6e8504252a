//! `synchost import SOURCE < export.jsonl`.

use anyhow::Result;
use clap::Args;

use super::Global;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The source to restore (the store must not have it yet).
    source: String,
}

pub fn run(global: &Global, args: ImportArgs) -> Result<()> {
    let config = global.config()?;
    let mut store = Store::open(&config.store_path(global.store.as_deref()))?;
    let _lock = store.lock_writer()?;
    let started = std::time::Instant::now();
    let stdin = std::io::stdin();
    let summary = store
        .import(&args.source, stdin.lock())
        .map_err(|err| store.explain_write_failure(err))?;
    eprintln!(
        "Imported {} records and {} tombstones of {} stream(s) into source `{}` in {:.1}s; \
         the next pull lists everything once and fetches only what changed",
        summary.records,
        summary.tombstones,
        summary.streams,
        args.source,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
