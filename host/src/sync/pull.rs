//! The pull engine: DESIGN.md "Pull, step by step".
//!
//! For each stream: open or resume its run, list page after page (the host
//! owns the loop), skip unchanged items by version, fetch partial records,
//! download changed blobs, and commit each page with its cursor in one
//! transaction. At the end, retry failed items a bounded number of times;
//! only a complete run stores its watermark and tombstones what a full
//! enumeration did not see.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;
use tokio::task::{JoinError, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::audit;
use super::blobs::BlobFetcher;
use super::progress::{human_duration, showing_waits, Counts, Event, Reporter, TrafficMeter};
use super::session::{self, cancellable, classify, describe_error, Session};
use crate::checks::{self, ListingGuard};
use crate::config::{SourceConfig, MAX_PAGE_SIZE};
use crate::error::{failed, refused};
use crate::matching::RecordView;
use crate::mirror;
use crate::net::{HttpClient, HttpStats};
use crate::redact::{RecordText, Redactor};
use crate::runtime::bindings::types::{self, BlobRef, Manifest, StreamInfo};
use crate::runtime::{PluginInstance, Runtime};
use crate::store::checkpoint::{BlobLink, PageCommit, RecordRow, WorkItem, WorkStatus};
use crate::store::runs::{RunEnd, RunStart};
use crate::store::{content_hash, NewRun, Store, StreamCheckpoint};
use crate::telemetry;
use crate::untrusted::{render, Untrusted};

/// Ids per `fetch` call.
const FETCH_BATCH: usize = 100;
/// Pages listed but not yet committed, at most: the blob downloads of all
/// their records run together (up to `--attachment-concurrency`) while the
/// next page is listed and fetched. Pages still commit one at a time, in
/// listing order, so a crash loses at most these pages, and memory holds at
/// most these pages (plus the one being listed).
pub const WINDOW_PAGES: usize = 4;
/// Rounds of retries for failed items at the end of a run.
const RETRY_ROUNDS: u32 = 2;
/// Times one call is repeated because the plugin reported a rate limit.
const MAX_CALL_RATE_LIMITS: u32 = 10;

/// Options of one `synchost pull`.
#[derive(Clone)]
pub struct PullOptions {
    /// Enumerate everything (and tombstone what is gone), ignoring watermarks.
    pub full: bool,
    /// Enumerate ids and versions only, to find deletions cheaply; changed
    /// items are fetched, unseen ones tombstoned.
    pub check_deletions: bool,
    /// A checkpoint older than this starts fresh.
    pub checkpoint_ttl: Duration,
    /// Blob downloads at once.
    pub blob_concurrency: usize,
    /// Cancelled on Ctrl+C.
    pub cancel: CancellationToken,
}

/// What one source's pull did.
#[derive(Debug, Clone, Serialize)]
pub struct SourceSummary {
    pub source: String,
    pub plugin: String,
    pub plugin_sha256: String,
    /// The key id of the plugin file's trusted signature, if any.
    pub plugin_signer: Option<String>,
    /// The sha256 of the administrator's policy the run was checked against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_sha256: Option<String>,
    pub streams: Vec<StreamSummary>,
    pub counts: Counts,
    pub requests: u64,
    pub retries: u64,
    pub rate_limited: u64,
    /// Responses that were `304 Not Modified`.
    pub not_modified: u64,
    pub duration_ms: u64,
    pub plugin_load_ms: f64,
    pub plugin_cache_hit: bool,
    pub peak_rss_kb: Option<u64>,
    /// Time spent waiting because the plugin answered `rate-limited`.
    pub plugin_wait_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StreamSummary {
    pub stream: String,
    pub counts: Counts,
    pub complete: bool,
    pub resumed: bool,
}

/// Pulls every stream of one source. The run is recorded in the store
/// whatever its outcome, and traced as a `run` span (the streams', pages'
/// and plugin calls' spans are its descendants).
pub async fn pull_source(
    runtime: &Runtime,
    store: &mut Store,
    source: &SourceConfig,
    options: &PullOptions,
    reporter: &Reporter,
) -> Result<SourceSummary> {
    let span = tracing::info_span!(
        "run",
        otel.status_code = tracing::field::Empty,
        synchost.source = %source.name,
        synchost.run.full = options.full,
        synchost.run.id = tracing::field::Empty,
        synchost.run.outcome = tracing::field::Empty,
        synchost.plugin.name = tracing::field::Empty,
        synchost.plugin.version = tracing::field::Empty,
        synchost.records.written = tracing::field::Empty,
        synchost.records.skipped = tracing::field::Empty,
        synchost.records.failed = tracing::field::Empty,
        synchost.records.deleted = tracing::field::Empty,
        synchost.http.requests = tracing::field::Empty,
        synchost.http.retries = tracing::field::Empty,
    );
    pull_source_traced(runtime, store, source, options, reporter)
        .instrument(span)
        .await
}

async fn pull_source_traced(
    runtime: &Runtime,
    store: &mut Store,
    source: &SourceConfig,
    options: &PullOptions,
    reporter: &Reporter,
) -> Result<SourceSummary> {
    let started = Instant::now();
    let plugin = runtime.load_source(source).inspect_err(|err| {
        let policy = source.admin.as_deref();
        audit::record(store, "pull", &source.name, None, policy, err);
    })?;
    let named;
    let source = if source.ad_hoc {
        named = session::ad_hoc_named(&plugin, source).await?;
        &named
    } else {
        source
    };
    let Session {
        plugin,
        http,
        instance,
        manifest,
    } = Session::start(plugin, store, source).await?;

    let mut engine = SourcePull {
        source,
        manifest: &manifest,
        instance,
        blobs: Arc::new(BlobFetcher::new(
            http.clone(),
            store.blob_dir(),
            options.blob_concurrency,
            archive_limits(source),
        )),
        http: http.clone(),
        traffic: TrafficMeter::start(),
        options,
        reporter,
        waited: Duration::ZERO,
        version_warned: HashSet::new(),
    };
    let any_resumed = manifest
        .streams
        .iter()
        .map(|s| store.checkpoint(&source.name, &s.name).map(|c| c.running))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .any(|running| running);
    let run_id = store.start_run(&RunStart {
        kind: "pull",
        source: &source.name,
        plugin_name: &manifest.name,
        plugin_version: &manifest.version,
        plugin_sha256: &plugin.sha256,
        plugin_signer: plugin.signer.as_deref(),
        policy_sha256: source.admin.as_ref().map(|p| p.sha256.as_str()),
        full: options.full,
        resumed: any_resumed,
    })?;

    let mut streams = Vec::new();
    let mut counts = Counts::default();
    let run = tokio::time::timeout(source.limits.run_timeout, async {
        for stream in &manifest.streams {
            let summary = engine.pull_stream(store, stream, &mut counts).await?;
            streams.push(summary);
        }
        Ok::<_, anyhow::Error>(())
    });
    let outcome = showing_waits(&http, reporter, &source.name, run)
        .await
    .unwrap_or_else(|_| {
        Err(failed(format!(
            "source `{}`: the run exceeded its time limit of {} (limits.run_timeout_s); rerun to continue",
            source.name,
            human_duration(source.limits.run_timeout)
        )))
    });

    let incomplete = streams.iter().filter(|s| !s.complete).count();
    let outcome = match outcome {
        Ok(()) if incomplete > 0 => Err(failed(format!(
            "source `{}`: {} items failed after retries and are kept as pending work \
             (see `synchost status`); rerun to retry them",
            source.name, counts.failed
        ))),
        other => other,
    };
    let peak_rss_kb = peak_rss_kb();
    let policy_refusal = outcome
        .as_ref()
        .err()
        .and_then(crate::error::policy_rule)
        .map(str::to_string);
    if let (Some(rule), Some(policy), Err(err)) = (&policy_refusal, &source.admin, &outcome) {
        audit::log(
            "pull",
            &source.name,
            &policy.sha256,
            rule,
            &format!("{err:#}"),
        );
    }
    let end = RunEnd {
        outcome: match policy_refusal {
            Some(_) => "refused",
            None => run_outcome(&outcome, incomplete > 0),
        }
        .to_string(),
        policy_refusal,
        written: counts.written,
        skipped: counts.skipped,
        failed: counts.failed,
        deleted: counts.deleted,
        requests: HttpStats::get(&http.stats.requests),
        not_modified: HttpStats::get(&http.stats.not_modified),
        redacted: counts.redacted,
        excluded: counts.excluded,
        duration_ms: started.elapsed().as_millis() as u64,
        peak_rss_kb,
        error: outcome.as_ref().err().map(|e| format!("{e:#}")),
        ..RunEnd::default()
    };
    store.finish_run(run_id, &end)?;
    telemetry::run_ended(&source.name, run_id, &manifest, &end, &http.stats);
    outcome?;
    Ok(SourceSummary {
        source: source.name.clone(),
        plugin: format!("{} {}", manifest.name, manifest.version),
        plugin_sha256: plugin.sha256.clone(),
        plugin_signer: plugin.signer.clone(),
        policy_sha256: source.admin.as_ref().map(|p| p.sha256.clone()),
        streams,
        counts,
        requests: end.requests,
        retries: HttpStats::get(&http.stats.retries),
        rate_limited: HttpStats::get(&http.stats.rate_limited),
        not_modified: end.not_modified,
        duration_ms: end.duration_ms,
        plugin_load_ms: plugin.load_ms,
        plugin_cache_hit: plugin.cache_hit,
        peak_rss_kb,
        plugin_wait_ms: engine.waited.as_millis() as u64,
    })
}

/// What one archive may unpack to: members up to `max_blob_mb`, all of
/// them together up to `max_download_mb_per_run`.
fn archive_limits(source: &SourceConfig) -> crate::archive::Limits {
    crate::archive::Limits {
        max_member_bytes: source.limits.max_blob_bytes,
        max_unpacked_bytes: source.limits.max_download_bytes_per_run,
        max_members: crate::archive::MAX_MEMBERS,
    }
}

fn run_outcome(outcome: &Result<()>, incomplete: bool) -> &'static str {
    match outcome {
        Ok(()) => "succeeded",
        Err(err) => match crate::error::kind_of(err) {
            crate::error::ExitKind::Interrupted => "interrupted",
            crate::error::ExitKind::Auth => "auth_failed",
            _ if incomplete => "incomplete",
            _ => "failed",
        },
    }
}

/// The state of one source's pull across its streams.
struct SourcePull<'a> {
    source: &'a SourceConfig,
    manifest: &'a Manifest,
    instance: PluginInstance,
    blobs: Arc<BlobFetcher>,
    http: Arc<HttpClient>,
    /// The request rate shown with progress.
    traffic: TrafficMeter,
    options: &'a PullOptions,
    reporter: &'a Reporter,
    /// Time this run waited because the plugin answered `rate-limited`.
    waited: Duration,
    /// Streams already warned that `fetch` and the listing disagree on versions.
    version_warned: HashSet<String>,
}

impl SourcePull<'_> {
    fn note(&self, message: &str) {
        self.reporter.event(&Event::Note {
            source: &self.source.name,
            message,
        });
    }

    /// Waits as the plugin asked: see [`session::wait_as_asked`].
    async fn wait_as_asked(&mut self, call: &str, seconds: u32) -> Result<()> {
        let (source, reporter) = (self.source, self.reporter);
        let cancel = &self.options.cancel;
        session::wait_as_asked(source, cancel, &mut self.waited, call, seconds, |message| {
            reporter.event(&Event::Note {
                source: &source.name,
                message,
            })
        })
        .await
    }

    /// Opens the stream's run: resumes a valid checkpoint or starts fresh.
    /// Returns it, whether it resumed, and its page size: the one its
    /// enumeration started with when it resumes (a page-number API's cursor
    /// means another position at another size), else the smallest of the
    /// source's page size, the plugin's `max-page-size` and 1000.
    fn open_run(
        &self,
        store: &mut Store,
        stream: &StreamInfo,
    ) -> Result<(StreamCheckpoint, bool, u32)> {
        let name = &self.source.name;
        let shown = Untrusted::new(&stream.name);
        let most = self.manifest.max_page_size.min(MAX_PAGE_SIZE);
        let limit = self.source.page_size.min(most);
        let checkpoint = store.checkpoint(name, &stream.name)?;
        if checkpoint.running {
            let restart = if is_stale(&checkpoint, self.options.checkpoint_ttl) {
                Some(format!(
                    "the checkpoint of {name}/{shown} from {} is older than {}; starting fresh",
                    checkpoint
                        .run_started_at
                        .as_deref()
                        .unwrap_or("an unknown time"),
                    human_duration(self.options.checkpoint_ttl)
                ))
            } else if !same_compatibility(
                checkpoint.run_plugin_version.as_deref(),
                &self.manifest.version,
            ) {
                Some(format!(
                    "the checkpoint of {name}/{shown} was made by plugin version {}, incompatible with {}; starting fresh",
                    Untrusted::new(checkpoint.run_plugin_version.as_deref().unwrap_or("?")),
                    Untrusted::new(&self.manifest.version)
                ))
            } else if (self.options.full || self.options.check_deletions) && !checkpoint.full {
                Some(format!(
                    "restarting the unfinished delta run of {name}/{shown} as a full enumeration"
                ))
            } else {
                checkpoint
                    .page_size
                    .filter(|&size| size > most)
                    .map(|size| {
                        format!(
                            "the unfinished enumeration of {name}/{shown} lists pages of {size}, \
                         more than the plugin's max-page-size of {most}; starting over"
                        )
                    })
            };
            match restart {
                None => {
                    let kept = checkpoint.page_size.unwrap_or(limit);
                    if kept != limit {
                        self.note(&format!(
                            "{name}/{shown}: the unfinished enumeration continues at page size \
                             {kept}, the size it started with; page size {limit} applies from \
                             the next enumeration"
                        ));
                    }
                    return Ok((checkpoint, true, kept));
                }
                Some(message) => self.note(&message),
            }
        }
        let first = checkpoint.watermark.is_none();
        let full =
            self.options.full || self.options.check_deletions || first || !stream.supports_delta;
        let run = NewRun {
            full,
            // A first run needs the content anyway.
            ids_only: self.options.check_deletions && !self.options.full && !first,
            since: if full {
                None
            } else {
                checkpoint.watermark.as_deref()
            },
            plugin_version: &self.manifest.version,
            page_size: limit,
        };
        let fresh = store.start_stream_run(name, &stream.name, &run)?;
        Ok((fresh, false, limit))
    }

    /// Pulls one stream; its counts reach `total` whatever the outcome, so an
    /// interrupted or failed run still records what it wrote.
    async fn pull_stream(
        &mut self,
        store: &mut Store,
        stream: &StreamInfo,
        total: &mut Counts,
    ) -> Result<StreamSummary> {
        let mut counts = Counts::default();
        let span = tracing::info_span!(
            "stream",
            otel.status_code = tracing::field::Empty,
            synchost.source = %self.source.name,
            synchost.stream = %Untrusted::clipped(&stream.name, 200),
            synchost.stream.resumed = tracing::field::Empty,
            synchost.stream.full = tracing::field::Empty,
            synchost.stream.complete = tracing::field::Empty,
            synchost.records.written = tracing::field::Empty,
            synchost.records.skipped = tracing::field::Empty,
            synchost.records.failed = tracing::field::Empty,
            synchost.records.deleted = tracing::field::Empty,
        );
        let result = self
            .pull_stream_counted(store, stream, &mut counts)
            .instrument(span.clone())
            .await;
        telemetry::record_counts(&span, &counts);
        match &result {
            Ok(summary) => span.record("synchost.stream.complete", summary.complete),
            Err(_) => span.record("otel.status_code", "ERROR"),
        };
        total.add(&counts);
        result
    }

    async fn pull_stream_counted(
        &mut self,
        store: &mut Store,
        stream: &StreamInfo,
        counts: &mut Counts,
    ) -> Result<StreamSummary> {
        let started = Instant::now();
        let source = self.source.name.clone();
        let cancel = self.options.cancel.clone();
        let (checkpoint, resumed, limit) = self.open_run(store, stream)?;
        let span = tracing::Span::current();
        span.record("synchost.stream.resumed", resumed);
        span.record("synchost.stream.full", checkpoint.full);
        let mut done = if resumed {
            store.count_seen(&source, &stream.name, checkpoint.generation)?
        } else {
            0
        };
        self.reporter.event(&Event::StreamStarted {
            source: &source,
            stream: &stream.name,
            resumed,
            full: checkpoint.full,
            done,
        });

        let mut guard = ListingGuard::new(limit, checkpoint.cursor.as_deref());
        let mut total_hint = checkpoint.total_hint;
        // The listing runs ahead of the commits by at most `WINDOW_PAGES`
        // pages: `cursor` is where it stands, the store where they stand.
        let mut cursor = checkpoint.cursor.clone();
        let mut listed_all = checkpoint.listing_done;
        let mut window: VecDeque<PendingPage> = VecDeque::new();
        loop {
            // Commit in listing order: every page whose downloads are done,
            // and the oldest one whatever it takes when the window is full
            // or nothing is left to list.
            loop {
                let wait = listed_all || window.len() >= WINDOW_PAGES;
                let ready = match window.front_mut() {
                    Some(oldest) => wait || oldest.downloads_done()?,
                    None => false,
                };
                if !ready {
                    break;
                }
                let page = window.pop_front().expect("the oldest page");
                let records = page.listed;
                let page_started = page.started;
                let page_span = page.span.clone();
                let (commit, mut page_counts) =
                    cancellable(&cancel, &source, page.finish()).await?;
                counts.add(&page_counts);
                // What the store tombstoned, not what the plugin claimed.
                let deleted =
                    store.commit_page(&source, &stream.name, checkpoint.generation, &commit)?;
                counts.deleted += deleted;
                page_counts.deleted += deleted;
                telemetry::page_ended(&page_span, page_started, &page_counts);
                drop(page_span);
                done += records as u64;
                let elapsed_ms = page_started.elapsed().as_millis() as u64;
                let http = self.traffic.sample(&self.http.stats);
                tracing::debug!(source = %source, stream = %Untrusted::new(&stream.name), records, ms = elapsed_ms, "page committed");
                self.reporter.event(&Event::Page {
                    source: &source,
                    stream: &stream.name,
                    done,
                    total: total_hint,
                    records,
                    elapsed_ms,
                    counts,
                    http,
                });
            }
            if listed_all {
                if window.is_empty() {
                    break;
                }
                continue;
            }
            let page_started = Instant::now();
            let mut page = PendingPage::new(page_started, false, self.source.redactor.clone());
            let detail = if checkpoint.ids_only {
                types::Detail::IdsOnly
            } else {
                types::Detail::Full
            };
            let listing = self.list(
                &stream.name,
                cursor.as_deref(),
                checkpoint.since.as_deref(),
                limit,
                detail,
            );
            let listed =
                cancellable(&cancel, &source, listing.instrument(page.span.clone())).await?;
            guard
                .check_page(
                    listed.records.len(),
                    &listed.deleted,
                    listed.next_cursor.as_deref(),
                    listed.watermark.as_deref(),
                )
                .map_err(|problem| {
                    failed(format!(
                        "source `{source}`, stream `{}`: {problem}",
                        Untrusted::new(&stream.name)
                    ))
                })?;
            total_hint = listed.total_hint.or(total_hint);
            page.listed = listed.records.len();
            page.span
                .record("synchost.page.records", page.listed as i64);
            let span = page.span.clone();
            let processing = self.process_page(store, &stream.name, listed.records, &mut page);
            cancellable(&cancel, &source, processing.instrument(span)).await?;
            page.commit.deleted = listed.deleted;
            page.commit.cursor = Some(listed.next_cursor.clone());
            page.commit.watermark = listed.watermark;
            page.commit.total_hint = listed.total_hint;
            listed_all = listed.next_cursor.is_none();
            cursor = listed.next_cursor;
            window.push_back(page);
        }

        // Bounded retries of what failed, then the verdict.
        let mut failed_ids = store.failed_items(&source, &stream.name)?;
        let no_listing = HashMap::new();
        for round in 0..RETRY_ROUNDS {
            if failed_ids.is_empty() {
                break;
            }
            self.note(&format!(
                "Retrying {} failed {} (round {})",
                failed_ids.len(),
                Untrusted::new(&stream.name),
                round + 1
            ));
            tokio::time::sleep(self.source.retry.backoff(round + 1)).await;
            for chunk in failed_ids.chunks(FETCH_BATCH) {
                let page_started = Instant::now();
                let mut page = PendingPage::new(page_started, true, self.source.redactor.clone());
                let span = page.span.clone();
                let fetching =
                    self.fetch_into(store, &stream.name, chunk.to_vec(), &no_listing, &mut page);
                cancellable(&cancel, &source, fetching.instrument(span.clone())).await?;
                let (commit, page_counts) = cancellable(&cancel, &source, page.finish()).await?;
                counts.add(&page_counts);
                store.commit_page(&source, &stream.name, checkpoint.generation, &commit)?;
                telemetry::page_ended(&span, page_started, &page_counts);
            }
            failed_ids = store.failed_items(&source, &stream.name)?;
        }
        counts.failed = failed_ids.len() as u64;
        let complete = failed_ids.is_empty();
        if complete {
            counts.deleted += store.finish_stream(&source, &stream.name)?;
        }
        self.reporter.event(&Event::StreamFinished {
            source: &source,
            stream: &stream.name,
            complete,
            counts,
            elapsed_ms: started.elapsed().as_millis() as u64,
        });
        Ok(StreamSummary {
            stream: stream.name.clone(),
            counts: counts.clone(),
            complete,
            resumed,
        })
    }

    /// One `list` call, repeated as the plugin's error kind says.
    async fn list(
        &mut self,
        stream: &str,
        cursor: Option<&str>,
        since: Option<&str>,
        limit: u32,
        detail: types::Detail,
    ) -> Result<types::Page> {
        let mut transient_failures = 0;
        let mut rate_limits = 0;
        loop {
            let answer = self
                .instance
                .list(stream, cursor, since, limit, detail)
                .await
                .map_err(|e| failed(e.0))?;
            match answer {
                Ok(page) => return Ok(page),
                Err(types::Error::RateLimited(seconds)) if rate_limits < MAX_CALL_RATE_LIMITS => {
                    rate_limits += 1;
                    self.wait_as_asked(&format!("list of {stream}"), seconds)
                        .await?;
                }
                // A page that did not parse may be a proxy's hiccup: ask again.
                Err(types::Error::Transient(why) | types::Error::InvalidResponse(why))
                    if transient_failures < self.source.retry.max_retries =>
                {
                    transient_failures += 1;
                    tracing::debug!(
                        stream = %Untrusted::new(stream),
                        "list failed ({}); retry {transient_failures}",
                        Untrusted::new(&why)
                    );
                    tokio::time::sleep(self.source.retry.backoff(transient_failures)).await;
                }
                Err(error) => {
                    return Err(classify(
                        &self.source.name,
                        &format!("list of {}", Untrusted::new(stream)),
                        error,
                    ))
                }
            }
        }
    }

    /// Sorts a listed page into unchanged, complete and to-fetch, fetches the
    /// rest and starts the downloads of their changed blobs.
    async fn process_page(
        &mut self,
        store: &Store,
        stream: &str,
        records: Vec<types::Record>,
        page: &mut PendingPage,
    ) -> Result<()> {
        let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
        let stored = store.stored_versions(&self.source.name, stream, &ids)?;
        let mut to_fetch = Vec::new();
        let mut listed = HashMap::new();
        let mut in_page = HashSet::new();
        for record in records {
            if !in_page.insert(record.id.clone()) {
                continue; // A repeated id in one page: the first one wins.
            }
            if stored.get(&record.id) == Some(&record.version) {
                page.counts.skipped += 1;
                page.commit.unchanged.push(record.id);
            } else if record.content.is_some() {
                self.accept(store, stream, record, page)?;
            } else {
                to_fetch.push(record.id.clone());
                listed.insert(record.id, record.version);
            }
        }
        for chunk in to_fetch.chunks(FETCH_BATCH) {
            self.fetch_into(store, stream, chunk.to_vec(), &listed, page)
                .await?;
        }
        Ok(())
    }

    /// Fetches `ids` and adds each outcome to `page`; `listed` holds the
    /// versions their listing gave (none for end-of-stream retries).
    async fn fetch_into(
        &mut self,
        store: &Store,
        stream: &str,
        ids: Vec<String>,
        listed: &HashMap<String, String>,
        page: &mut PendingPage,
    ) -> Result<()> {
        let results = self
            .instance
            .fetch(stream, &ids)
            .await
            .map_err(|e| failed(e.0))?;
        // The longest wait any item asked for is honoured before the next call.
        let mut rate_limit_wait = 0u32;
        for (id, result) in ids.into_iter().zip(results) {
            match result {
                Ok(record) if record.id == id => {
                    if let Some(version) = listed.get(&id) {
                        self.check_version(stream, version, &record);
                    }
                    self.accept(store, stream, record, page)?
                }
                Ok(record) => {
                    let why = format!(
                        "fetch of `{}` returned record `{}`",
                        checks::clip(&id, 80),
                        checks::clip(&record.id, 80)
                    );
                    page.fail(id, why);
                }
                Err(types::Error::NotFound(why)) => {
                    page.counts.skipped += 1;
                    page.commit.work.push(WorkItem {
                        id,
                        status: WorkStatus::Skipped,
                        error: Some(format!("not found: {}", Untrusted::new(&why))),
                    });
                }
                Err(error @ types::Error::Auth(_)) => {
                    return Err(classify(
                        &self.source.name,
                        &format!("fetch of {}", Untrusted::new(stream)),
                        error,
                    ));
                }
                Err(types::Error::RateLimited(seconds)) => {
                    rate_limit_wait = rate_limit_wait.max(seconds);
                    page.fail(id, format!("rate-limited: retry after {seconds}s"));
                }
                Err(error) => {
                    let (kind, message) = describe_error(&error);
                    page.fail(id, format!("{kind}: {message}"));
                }
            }
        }
        if rate_limit_wait > 0 {
            self.wait_as_asked(&format!("fetch of {stream}"), rate_limit_wait)
                .await?;
        }
        Ok(())
    }

    /// Warns, once per stream and run, when a fetched record's version is
    /// not the one its listing gave: the next listing will again differ
    /// from what is stored, so every such record is fetched and written
    /// again on every run.
    fn check_version(&mut self, stream: &str, listed: &str, record: &types::Record) {
        if record.version == listed || self.version_warned.contains(stream) {
            return;
        }
        self.version_warned.insert(stream.to_string());
        tracing::warn!(
            "source `{}`, stream `{}`: `fetch` returned other versions than the listing \
             (e.g. `{}`: listed `{}`, fetched `{}`); such records are fetched and written \
             again on every run: the plugin's listing and fetch must give the same version",
            self.source.name,
            Untrusted::new(stream),
            Untrusted::clipped(&record.id, 200),
            Untrusted::clipped(listed, 200),
            Untrusted::clipped(&record.version, 200)
        );
    }

    /// Validates a complete record and adds it to `page`, with the
    /// downloads of its changed blobs started.
    fn accept(
        &self,
        store: &Store,
        stream: &str,
        record: types::Record,
        page: &mut PendingPage,
    ) -> Result<()> {
        if let Err(why) = checks::record(&record.id, &record.version, &record.metadata) {
            page.fail(record.id, format!("invalid-response: {why}"));
            return Ok(());
        }
        if self.source.exclusions.excludes(&view(&record)) {
            page.excluded(record.id);
            return Ok(());
        }
        let mut record = record;
        for (name, new_name) in
            mirror::rename_duplicate_blobs(record.blobs.iter_mut().map(|b| &mut b.name))
        {
            tracing::warn!(
                "record `{}` of `{}` has two blobs named `{}`; the later one is stored as `{}`",
                Untrusted::new(&record.id),
                self.source.name,
                Untrusted::new(&name),
                Untrusted::new(&new_name)
            );
        }
        let changed = self.changed_blobs(store, stream, &record)?;
        if let (Some(blob), Some(rule)) = (changed.first(), self.source.blobs_forbidden()) {
            return Err(refused(
                &rule,
                format!(
                    "source `{}`: record `{}` of `{}` references the blob `{}`, and {rule} does \
                     not allow writing blobs; the pull stops before downloading it (what was \
                     committed is kept)",
                    self.source.name,
                    Untrusted::clipped(&record.id, 200),
                    Untrusted::clipped(stream, 200),
                    Untrusted::clipped(&blob.name, 200),
                ),
            ));
        }
        page.add(record, changed, &self.blobs);
        Ok(())
    }

    /// The blobs of `record` whose version differs from the stored one.
    fn changed_blobs(
        &self,
        store: &Store,
        stream: &str,
        record: &types::Record,
    ) -> Result<Vec<BlobRef>> {
        if record.blobs.is_empty() {
            return Ok(Vec::new());
        }
        let stored = store.stored_blob_versions(&self.source.name, stream, &record.id)?;
        Ok(record
            .blobs
            .iter()
            .filter(|blob| stored.get(&blob.name) != Some(&blob.version))
            .cloned()
            .collect())
    }
}

/// What the blob downloads of one record came to: the links to store, or
/// why the record failed (the inner error); the outer error stops the run.
type BlobOutcome = Result<std::result::Result<Vec<BlobLink>, String>>;

/// One page between its listing and its commit: what is already decided
/// for it, and its records whose blobs are still downloading. Dropping it
/// (Ctrl+C, an error) aborts those downloads; nothing of it was committed.
struct PendingPage {
    commit: PageCommit,
    counts: Counts,
    /// Records the listing returned.
    listed: usize,
    started: Instant,
    /// A batch of end-of-stream retries: completed items are marked so.
    retrying: bool,
    /// Records waiting for their blobs; each download task answers with
    /// its record's index here, and its outcome lands at that index of
    /// `downloaded`.
    waiting: Vec<types::Record>,
    downloaded: Vec<Option<std::result::Result<Vec<BlobLink>, String>>>,
    downloads: JoinSet<(usize, BlobOutcome)>,
    /// The source's `[redact]` rules, applied to each record written.
    redactor: Option<Redactor>,
    /// The page's span, from its listing to its commit: its plugin calls
    /// and blob downloads are its children.
    span: tracing::Span,
}

impl PendingPage {
    fn new(started: Instant, retrying: bool, redactor: Option<Redactor>) -> PendingPage {
        PendingPage {
            commit: PageCommit::default(),
            counts: Counts::default(),
            listed: 0,
            started,
            retrying,
            waiting: Vec::new(),
            downloaded: Vec::new(),
            downloads: JoinSet::new(),
            redactor,
            span: tracing::info_span!(
                "page",
                synchost.page.retry = retrying,
                synchost.page.records = tracing::field::Empty,
                synchost.records.written = tracing::field::Empty,
                synchost.records.skipped = tracing::field::Empty,
                synchost.records.failed = tracing::field::Empty,
                synchost.records.deleted = tracing::field::Empty,
            ),
        }
    }

    /// Adds an accepted record; with blobs to download, the record waits for
    /// them, while they run beside every other download of the window.
    fn add(&mut self, record: types::Record, blobs: Vec<BlobRef>, fetcher: &Arc<BlobFetcher>) {
        if blobs.is_empty() {
            self.written(record, Vec::new());
            return;
        }
        let index = self.waiting.len();
        self.waiting.push(record);
        self.downloaded.push(None);
        let fetcher = fetcher.clone();
        self.downloads.spawn(
            async move { (index, fetcher.download_all(&blobs).await) }
                .instrument(self.span.clone()),
        );
    }

    fn written(&mut self, mut record: types::Record, blobs: Vec<BlobLink>) {
        self.counts.written += 1;
        if let Some(redactor) = &self.redactor {
            self.counts.redacted += redactor.apply(RecordText {
                title: &mut record.title,
                path: &mut record.path,
                content: &mut record.content,
                metadata: &mut record.metadata,
            });
        }
        if self.retrying {
            self.commit.work.push(WorkItem {
                id: record.id.clone(),
                status: WorkStatus::Completed,
                error: None,
            });
        }
        self.commit.records.push(to_row(record, blobs));
    }

    /// Counts a record an `exclude` rule matched: nothing of it is stored
    /// (not even its blobs, never downloaded); a retried item is done.
    fn excluded(&mut self, id: String) {
        self.counts.excluded += 1;
        if self.retrying {
            self.commit.work.push(WorkItem {
                id,
                status: WorkStatus::Completed,
                error: None,
            });
        }
    }

    /// Marks an item failed; the stream's `failed` count is settled at its
    /// end from the store, so retries only count the first failure.
    fn fail(&mut self, id: String, why: String) {
        if !self.retrying {
            self.counts.failed += 1;
        }
        // Stored and logged: escaped and clipped, whatever part of it the plugin chose.
        let why = render(&why);
        tracing::debug!(id = %Untrusted::new(&id), "item failed: {why}");
        self.commit.work.push(WorkItem {
            id,
            status: WorkStatus::Failed,
            error: Some(why),
        });
    }

    /// Collects the downloads that ended; true when none is left running.
    /// A spent download budget stops the run (the error).
    fn downloads_done(&mut self) -> Result<bool> {
        while let Some(joined) = self.downloads.try_join_next() {
            self.settle(joined)?;
        }
        Ok(self.downloads.is_empty())
    }

    fn settle(&mut self, joined: Result<(usize, BlobOutcome), JoinError>) -> Result<()> {
        let (index, outcome) =
            joined.map_err(|e| failed(format!("a blob download task failed: {e}")))?;
        self.downloaded[index] = Some(outcome?);
        Ok(())
    }

    /// Waits for the page's downloads and returns its commit and counts.
    async fn finish(mut self) -> Result<(PageCommit, Counts)> {
        while let Some(joined) = self.downloads.join_next().await {
            self.settle(joined)?;
        }
        let waiting = std::mem::take(&mut self.waiting);
        let downloaded = std::mem::take(&mut self.downloaded);
        for (record, outcome) in waiting.into_iter().zip(downloaded) {
            match outcome.expect("every download was settled") {
                Ok(links) => self.written(record, links),
                Err(why) => self.fail(record.id, why),
            }
        }
        Ok((self.commit, self.counts))
    }
}

/// What `exclude` rules read of a plugin's record (as the plugin returned
/// it, before redaction).
fn view(record: &types::Record) -> RecordView<'_> {
    RecordView {
        id: &record.id,
        title: record.title.as_deref(),
        path: record.path.as_deref(),
        parent_id: record.parent_id.as_deref(),
        content: record.content.as_deref(),
        metadata: &record.metadata,
    }
}

/// A plugin's record as the store keeps it.
pub(crate) fn to_row(record: types::Record, blobs: Vec<BlobLink>) -> RecordRow {
    let content_hash = record.content.as_deref().map(content_hash);
    let blob_names = Some(record.blobs.iter().map(|b| b.name.clone()).collect());
    RecordRow {
        id: record.id,
        version: record.version,
        updated_at: record.updated_at,
        parent_id: record.parent_id,
        title: record.title,
        path: record.path,
        content_type: record.content_type,
        content: record.content,
        content_hash,
        metadata: if record.metadata.is_empty() {
            "{}".to_string()
        } else {
            record.metadata
        },
        blobs,
        blob_names,
    }
}

fn is_stale(checkpoint: &StreamCheckpoint, ttl: Duration) -> bool {
    let Some(started) = checkpoint.run_started_at.as_deref() else {
        return false;
    };
    match chrono::DateTime::parse_from_rfc3339(started) {
        Ok(at) => chrono::Utc::now()
            .signed_duration_since(at)
            .to_std()
            .is_ok_and(|age| age > ttl),
        Err(_) => true,
    }
}

/// Plugin versions are compatible when their major (or 0.x minor) matches.
fn same_compatibility(checkpoint: Option<&str>, current: &str) -> bool {
    let parse = |v: &str| semver::Version::parse(v).ok();
    match (checkpoint.and_then(parse), parse(current)) {
        (Some(a), Some(b)) => a.major == b.major && (a.major > 0 || a.minor == b.minor),
        _ => false,
    }
}

/// The process's peak resident memory (Linux `VmHWM`), in KiB.
pub fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_versions_compatibility() {
        assert!(same_compatibility(Some("1.2.0"), "1.9.3"));
        assert!(!same_compatibility(Some("1.2.0"), "2.0.0"));
        assert!(same_compatibility(Some("0.3.1"), "0.3.4"));
        assert!(!same_compatibility(Some("0.3.1"), "0.4.0"));
        assert!(!same_compatibility(None, "0.4.0"));
    }

    #[test]
    fn stale_checkpoints_are_detected() {
        let mut checkpoint = StreamCheckpoint {
            running: true,
            ..Default::default()
        };
        checkpoint.run_started_at =
            Some((chrono::Utc::now() - chrono::Duration::hours(25)).to_rfc3339());
        assert!(is_stale(&checkpoint, Duration::from_secs(24 * 3600)));
        checkpoint.run_started_at = Some(chrono::Utc::now().to_rfc3339());
        assert!(!is_stale(&checkpoint, Duration::from_secs(24 * 3600)));
    }
}
