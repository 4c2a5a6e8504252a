//! `synchost pull`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::{Global, JsonFlag};
use crate::config::{ad_hoc_source, AuthSection, Overrides, SourceConfig};
use crate::error::{kind_of, ExitKind};
use crate::runtime::record::Recorder;
use crate::runtime::Runtime;
use crate::store::Store;
use crate::sync::audit;
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
    /// Pull up to N sources at once (default 1: one after another). Sources
    /// that reach the same host share its limits; one that fails does not
    /// stop the others. Progress is then one line per source now and then.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    parallel: u32,
    #[command(flatten)]
    output: JsonFlag,
}

pub async fn run(global: &Global, args: PullArgs) -> Result<()> {
    let config = global.config()?;
    let overrides = Overrides {
        page_size: args.page_size,
        concurrency: args.concurrency,
    };
    let store_path = config.store_path(global.store.as_deref());
    let sources: Vec<SourceConfig> = match &args.plugin {
        Some(plugin) => {
            let name = plugin
                .file_stem()
                .map_or("plugin".into(), |s| s.to_string_lossy());
            // The config's [trust] rules hold for ad-hoc plugins too; no lock.
            let source = config
                .check_ad_hoc()
                .and_then(|()| {
                    let auth = args.auth_bearer_env.clone().map(AuthSection::bearer);
                    let hosts = (!args.allow_hosts.is_empty()).then(|| args.allow_hosts.clone());
                    let policy = config.policy.as_ref();
                    let mut source =
                        ad_hoc_source(plugin, &args.sets, auth, hosts, &overrides, policy)?;
                    // A company's CA applies to ad-hoc sources too.
                    source.ca_file = config.ca_file();
                    source.trust = config.ad_hoc_trust()?;
                    Ok(source)
                })
                .inspect_err(|err| {
                    let policy = config.policy.as_deref();
                    audit::record_at(&store_path, "pull", &name, policy, err)
                })?;
            vec![source]
        }
        None => {
            let names = super::chosen_sources(
                &config,
                &args.sources,
                "pull",
                "create synchost.toml (see README) or pass --plugin FILE --set base_url=URL",
            )?;
            names
                .iter()
                .map(|name| audit::pull_source(&config, &store_path, name, &overrides))
                .collect::<Result<_>>()?
        }
    };

    let runtime = Runtime::new(Runtime::default_cache_dir())?;
    if let Some(dir) = &args.record {
        runtime.record(Recorder::create(dir)?);
    }
    let cancel = CancellationToken::new();
    watch_ctrl_c(cancel.clone());
    let puller = Puller {
        runtime,
        store_path,
        options: PullOptions {
            full: args.full,
            check_deletions: args.check_deletions,
            checkpoint_ttl: Duration::from_secs(args.checkpoint_ttl_hours * 3600),
            blob_concurrency: args.attachment_concurrency,
            cancel,
        },
        parallel: args.parallel as usize,
        mode: ProgressMode::detect(args.output.json, global.verbose),
    };
    let outcomes = puller.pull(&sources).await?;
    let errors: Vec<anyhow::Error> = outcomes
        .into_iter()
        .filter_map(|(_, outcome)| outcome.err())
        .collect();
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

/// One pull of some sources into one store: `synchost pull`, and each run
/// of `synchost watch`.
pub(super) struct Puller {
    pub runtime: Arc<Runtime>,
    pub store_path: PathBuf,
    pub options: PullOptions,
    /// Sources pulled at once, at most.
    pub parallel: usize,
    pub mode: ProgressMode,
}

impl Puller {
    /// Pulls `sources` under the store's writer lock (an error if another
    /// synchost holds it), prints each one's summary as it ends, and sweeps
    /// unreferenced blobs when all succeeded. Returns each source's outcome,
    /// in order; sequential runs stop at an interruption.
    pub async fn pull(
        &self,
        sources: &[SourceConfig],
    ) -> Result<Vec<(String, Result<SourceSummary>)>> {
        // The trace's root: each source's `run` is a child.
        let span = tracing::info_span!("pull", synchost.sources = sources.len() as i64);
        self.pull_all(sources).instrument(span).await
    }

    async fn pull_all(
        &self,
        sources: &[SourceConfig],
    ) -> Result<Vec<(String, Result<SourceSummary>)>> {
        let mut store = Store::open(&self.store_path)?;
        let _lock = store.lock_writer()?;
        for source in sources.iter().filter(|s| !s.ad_hoc) {
            let (versions, days) = source.history;
            store.set_history_retention(&source.name, versions, days)?;
        }
        let reporter = Reporter::new(self.mode);
        let several = sources.len() > 1;
        let report = |source: &str, outcome: &Result<SourceSummary>| match outcome {
            Ok(summary) => {
                let line = summary_line(summary);
                reporter.summary(
                    &if several {
                        format!("{}: {line}", Untrusted::new(source))
                    } else {
                        line
                    },
                    &json!({"event": "summary", "outcome": "succeeded", "summary": summary}),
                )
            }
            Err(err) => {
                if reporter.mode() == ProgressMode::Json {
                    reporter.summary("", &json!({"event": "summary", "source": source, "outcome": "failed", "error": format!("{err:#}")}));
                }
            }
        };
        let mut outcomes = Vec::new();
        if self.parallel > 1 && several {
            for (source, outcome) in self.pull_in_parallel(sources.to_vec()).await {
                let outcome = outcome.map_err(|err| store.explain_write_failure(err));
                report(&source, &outcome);
                outcomes.push((source, outcome));
            }
        } else {
            for source in sources {
                let outcome =
                    pull_source(&self.runtime, &mut store, source, &self.options, &reporter)
                        .await
                        .map_err(|err| store.explain_write_failure(err));
                report(&source.name, &outcome);
                let interrupted = outcome
                    .as_ref()
                    .is_err_and(|err| kind_of(err) == ExitKind::Interrupted);
                outcomes.push((source.name.clone(), outcome));
                if interrupted {
                    break;
                }
            }
        }
        if outcomes.iter().all(|(_, outcome)| outcome.is_ok()) {
            let removed = crate::sync::blobs::sweep(&store)?;
            if removed > 0 {
                tracing::debug!("removed {removed} unreferenced blob files");
            }
        }
        Ok(outcomes)
    }

    /// Pulls `sources`, `parallel` at a time, each with its own connection to
    /// the store (SQLite serializes their commits, one page each; this
    /// process holds the writer lock) and its own progress lines, sharing the
    /// runtime's compiled plugins and per-host limiters. Every source runs to
    /// its end whatever the others do, except on Ctrl+C. Outcomes come back in
    /// the order of `sources`.
    async fn pull_in_parallel(
        &self,
        sources: Vec<SourceConfig>,
    ) -> Vec<(String, Result<SourceSummary>)> {
        // Bars of several sources would overwrite each other: lines instead.
        let mode = match self.mode {
            ProgressMode::Bar => ProgressMode::Plain,
            other => other,
        };
        let slots = Arc::new(tokio::sync::Semaphore::new(self.parallel));
        let mut tasks = tokio::task::JoinSet::new();
        let names: Vec<String> = sources.iter().map(|source| source.name.clone()).collect();
        for (index, source) in sources.into_iter().enumerate() {
            let (runtime, path, options, slots) = (
                self.runtime.clone(),
                self.store_path.clone(),
                self.options.clone(),
                slots.clone(),
            );
            // A thread per source, driving its pull on this runtime: the pull
            // borrows its store across awaits, which a spawned task may not.
            let handle = tokio::runtime::Handle::current();
            let span = tracing::Span::current();
            tasks.spawn_blocking(move || {
                handle.block_on(
                    async {
                        let _slot = slots.acquire_owned().await;
                        let outcome = if options.cancel.is_cancelled() {
                            Err(crate::error::interrupted(format!(
                                "source `{}` was not started: interrupted",
                                source.name
                            )))
                        } else {
                            match Store::open(&path) {
                                Ok(mut store) => {
                                    let reporter = Reporter::new(mode);
                                    pull_source(&runtime, &mut store, &source, &options, &reporter)
                                        .await
                                }
                                Err(err) => Err(err),
                            }
                        };
                        (index, outcome)
                    }
                    .instrument(span),
                )
            });
        }
        let mut outcomes: Vec<Option<Result<SourceSummary>>> = names.iter().map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((index, outcome)) => outcomes[index] = Some(outcome),
                Err(panicked) => std::panic::resume_unwind(panicked.into_panic()),
            }
        }
        names
            .into_iter()
            .zip(outcomes)
            .map(|(name, outcome)| (name, outcome.expect("every task reports")))
            .collect()
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
                quit_now();
            }
        }
    });
}

/// The second Ctrl+C: exit at once, sending the spans that ended (a second
/// at most).
pub(super) fn quit_now() -> ! {
    crate::telemetry::shutdown(Duration::from_secs(1));
    std::process::exit(ExitKind::Interrupted.code().into());
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
    if summary.counts.excluded > 0 {
        line.push_str(&format!(", {} excluded", summary.counts.excluded));
    }
    if summary.counts.redacted > 0 {
        line.push_str(&format!(", {} values redacted", summary.counts.redacted));
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
