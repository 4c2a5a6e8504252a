//! `synchost pull`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{Global, JsonFlag};
use crate::config::{ad_hoc_source, AuthSection, Overrides, SourceConfig};
use crate::error::{kind_of, usage, ExitKind};
use crate::runtime::record::Recorder;
use crate::runtime::Runtime;
use crate::store::Store;
use crate::sync::progress::{human_duration, ProgressMode, Reporter};
use crate::sync::pull::{pull_source, PullOptions, SourceSummary};
use crate::untrusted::{terminal_safe, Untrusted};

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Sources to pull (default: every source in the config).
    sources: Vec<String>,
    /// Pull with this plugin file instead of a configured source.
    #[arg(long, value_name = "FILE", conflicts_with = "sources")]
    plugin: Option<PathBuf>,
    /// A plugin setting for --plugin, e.g. --set base_url=https://example.com.
    #[arg(long = "set", value_name = "KEY=VALUE", requires = "plugin")]
    sets: Vec<String>,
    /// For --plugin: send `Authorization: Bearer $VAR`.
    #[arg(long, value_name = "VAR", requires = "plugin")]
    auth_bearer_env: Option<String>,
    /// For --plugin: hosts the plugin may reach (default: the host of base_url).
    #[arg(long = "allow-host", value_name = "HOST", requires = "plugin")]
    allow_hosts: Vec<String>,
    /// Records per page (default 100, at most 1000; also SYNCHOST_PAGE_SIZE).
    #[arg(long, value_name = "N")]
    page_size: Option<u32>,
    /// HTTP requests at once per host (default 5).
    #[arg(long, value_name = "N")]
    concurrency: Option<u32>,
    /// Blob downloads at once (default 4; they share the --concurrency
    /// slots of their host, so one below it leaves a slot for listings).
    #[arg(long, value_name = "N", default_value_t = 4)]
    attachment_concurrency: usize,
    /// List everything instead of changes since the last run, and mark what
    /// disappeared as deleted.
    #[arg(long)]
    full: bool,
    /// On a delta run, list ids and versions of everything (cheap: no
    /// bodies) to find and mark deletions; changed items are fetched.
    #[arg(long)]
    check_deletions: bool,
    /// Hours after which an unfinished run's checkpoint is discarded.
    #[arg(long, value_name = "HOURS", default_value_t = 24)]
    checkpoint_ttl_hours: u64,
    /// Write every request the plugin sent and the response it got to DIR
    /// (new or empty), as `DIR/SOURCE/000001.json`, …: a cassette for
    /// `synchost_sdk::testing::replay`. Credentials are never written.
    #[arg(long, value_name = "DIR")]
    record: Option<PathBuf>,
    #[command(flatten)]
    output: JsonFlag,
}

pub async fn run(global: &Global, args: PullArgs) -> Result<()> {
    let config = global.config()?;
    let overrides = Overrides {
        page_size: args.page_size,
        concurrency: args.concurrency,
    };
    let sources: Vec<SourceConfig> = match &args.plugin {
        Some(plugin) => {
            let auth = args.auth_bearer_env.clone().map(AuthSection::bearer);
            let hosts = (!args.allow_hosts.is_empty()).then(|| args.allow_hosts.clone());
            vec![ad_hoc_source(plugin, &args.sets, auth, hosts, &overrides)?]
        }
        None => {
            let names = if args.sources.is_empty() {
                config.source_names()
            } else {
                args.sources.clone()
            };
            if names.is_empty() {
                return Err(usage(
                    "no sources to pull: create synchost.toml (see README) or pass --plugin FILE --set base_url=URL",
                ));
            }
            names
                .iter()
                .map(|name| config.source(name, &overrides))
                .collect::<Result<_>>()?
        }
    };

    let mut store = Store::open(&config.store_path(global.store.as_deref()))?;
    let _lock = store.lock_writer()?;
    let runtime = Runtime::new(Runtime::default_cache_dir())?;
    if let Some(dir) = &args.record {
        runtime.record(Recorder::create(dir)?);
    }
    let reporter = Reporter::new(ProgressMode::detect(args.output.json, global.verbose));
    let cancel = CancellationToken::new();
    watch_ctrl_c(cancel.clone());
    let options = PullOptions {
        full: args.full,
        check_deletions: args.check_deletions,
        checkpoint_ttl: Duration::from_secs(args.checkpoint_ttl_hours * 3600),
        blob_concurrency: args.attachment_concurrency,
        cancel: cancel.clone(),
    };

    let mut errors = Vec::new();
    for source in sources.iter().filter(|s| !s.ad_hoc) {
        let (versions, days) = source.history;
        store.set_history_retention(&source.name, versions, days)?;
    }
    for source in &sources {
        match pull_source(&runtime, &mut store, source, &options, &reporter).await {
            Ok(summary) => reporter.summary(
                &summary_line(&summary),
                &json!({"event": "summary", "outcome": "succeeded", "summary": summary}),
            ),
            Err(err) => {
                let err = store.explain_write_failure(err);
                let interrupted = kind_of(&err) == ExitKind::Interrupted;
                if reporter.mode() == ProgressMode::Json {
                    reporter.summary("", &json!({"event": "summary", "source": source.name, "outcome": "failed", "error": format!("{err:#}")}));
                }
                errors.push(err);
                if interrupted {
                    break;
                }
            }
        }
    }
    if errors.is_empty() {
        let removed = crate::sync::blobs::sweep(&store)?;
        if removed > 0 {
            tracing::debug!("removed {removed} unreferenced blob files");
        }
    }
    // The most serious failure decides the exit code; the others are printed.
    let worst = errors
        .iter()
        .max_by_key(|err| severity(kind_of(err)))
        .map(|err| severity(kind_of(err)));
    let mut worst_error = None;
    for err in errors {
        if Some(severity(kind_of(&err))) == worst && worst_error.is_none() {
            worst_error = Some(err);
        } else {
            // As `main` prints the worst one: messages quote plugins and remotes.
            eprintln!("{}", terminal_safe(&format!("error: {err:#}")));
        }
    }
    match worst_error {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

fn severity(kind: ExitKind) -> u8 {
    match kind {
        ExitKind::Failed => 1,
        ExitKind::Usage => 2,
        ExitKind::Auth => 3,
        ExitKind::Interrupted => 4,
    }
}

/// First Ctrl+C: stop taking work and keep the checkpoint. Second: quit now.
pub(super) fn watch_ctrl_c(cancel: CancellationToken) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nStopping: abandoning the work in flight, keeping what is committed (Ctrl+C again to quit at once)");
            cancel.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(ExitKind::Interrupted.code().into());
            }
        }
    });
}

/// `Synced 10000 items in 3.2s (0 skipped, 0 failed)`.
fn summary_line(summary: &SourceSummary) -> String {
    let what = summary
        .streams
        .iter()
        .map(|s| format!("{} {}", s.counts.written, Untrusted::new(&s.stream)))
        .collect::<Vec<_>>()
        .join(", ");
    let mut line = format!(
        "Synced {what} in {} ({} skipped, {} failed",
        human_duration(Duration::from_millis(summary.duration_ms)),
        summary.counts.skipped,
        summary.counts.failed
    );
    if summary.counts.deleted > 0 {
        line.push_str(&format!(", {} deleted", summary.counts.deleted));
    }
    if summary.not_modified > 0 {
        line.push_str(&format!(", {} not modified (304)", summary.not_modified));
    }
    if summary.plugin_wait_ms > 0 {
        line.push_str(&format!(
            ", {} waiting as the plugin asked",
            human_duration(Duration::from_millis(summary.plugin_wait_ms))
        ));
    }
    line.push(')');
    line
}
