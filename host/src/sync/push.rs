//! The push engine: `docs/push.md`.
//!
//! One run of `synchost push` for a source:
//! 1. changes left in flight by an earlier run (a crash, a lost answer) are
//!    reconciled first: the plugin tells whether each took effect, and only
//!    those that did not are sent again;
//! 2. pending changes are checked (refused with a reason when invalid:
//!    never half-sent), completed (base version, title, key), committed as
//!    in flight, sent in batches through the plugin's `push`, and each
//!    batch's outcomes are committed with the records they change;
//! 3. changes whose sending failed transiently are reconciled and sent
//!    again, a bounded number of rounds, with backoff.
//!
//! So a change is sent at most once unless reconciliation says it never
//! took effect: exactly once, across crashes (invariant 2 for pushes).

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::progress::{showing_waits, Event, Reporter, TrafficMeter};
use super::pull::{peak_rss_kb, to_row};
use super::session::{self, cancellable, classify, describe_error, Session};
use crate::checks;
use crate::config::SourceConfig;
use crate::error::{failed, usage};
use crate::net::HttpStats;
use crate::runtime::bindings::types::{self, Manifest};
use crate::runtime::{PluginInstance, Runtime};
use crate::store::changes::{ChangeOp, ChangeRow, ChangeState, Outgoing, Settlement};
use crate::store::checkpoint::RecordRow;
use crate::store::runs::{RunEnd, RunStart};
use crate::store::Store;
use crate::untrusted::Untrusted;

/// The most changes per `push` or `reconcile` call, whatever the plugin's
/// `max-push-batch` asks: a batch's outcomes are committed together, and a
/// batch is what a crash can leave in flight. The plugin sends a batch's
/// requests together (or in bulk), so a batch is a few round trips.
pub const MAX_PUSH_BATCH: usize = 1000;

/// Pending changes read to choose the next batch from, in batches (a batch
/// takes one change per item, of one stream): reading the whole outbox for
/// every batch made a push quadratic in its size.
const PENDING_WINDOW_BATCHES: usize = 4;

/// Options of one `synchost push`.
#[derive(Clone)]
pub struct PushOptions {
    /// Put `failed` changes back to pending first.
    pub retry_failed: bool,
    /// Cancelled on Ctrl+C.
    pub cancel: CancellationToken,
}

/// What one source's push did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PushSummary {
    pub source: String,
    pub plugin: String,
    /// Changes the remote took (including those reconciliation found applied).
    pub applied: u64,
    /// Changes refused by the remote because it moved on (`synchost conflicts`).
    pub conflicts: u64,
    /// Changes that failed for another reason (kept, `push --retry-failed`).
    pub failed: u64,
    /// Invalid changes, never sent.
    pub refused: u64,
    /// In-flight changes reconciliation found already applied.
    pub reconciled: u64,
    /// Changes still in flight: their outcome is unknown until the next push.
    pub unknown: u64,
    pub requests: u64,
    /// Responses that were `304 Not Modified`.
    pub not_modified: u64,
    pub duration_ms: u64,
    pub peak_rss_kb: Option<u64>,
    /// One line per change that did not apply, escaped.
    pub problems: Vec<String>,
}

impl PushSummary {
    /// True when every change the run took up was applied.
    pub fn all_applied(&self) -> bool {
        self.conflicts + self.failed + self.refused + self.unknown == 0
    }
}

/// Pushes the outbox of one source. Returns the summary of a run that went
/// through (even with conflicts); an error when the run itself failed.
pub async fn push_source(
    runtime: &Runtime,
    store: &mut Store,
    source: &SourceConfig,
    options: &PushOptions,
    reporter: &Reporter,
) -> Result<PushSummary> {
    let started = Instant::now();
    if options.retry_failed {
        store.retry_failed(&source.name, None)?;
    }
    let in_flight = store.count_in(&source.name, ChangeState::InFlight)?;
    let waiting = store.count_in(&source.name, ChangeState::Pending)? + in_flight;
    if waiting == 0 {
        return Ok(PushSummary {
            source: source.name.clone(),
            ..PushSummary::default()
        });
    }
    let Session {
        plugin,
        http,
        instance,
        manifest,
    } = Session::open(runtime, store, source).await?;
    instance
        .push_support()
        .map_err(|why| usage(format!("source `{}`: {why}", source.name)))?;
    let run_id = store.start_run(&RunStart {
        kind: "push",
        source: &source.name,
        plugin_name: &manifest.name,
        plugin_version: &manifest.version,
        plugin_sha256: &plugin.sha256,
        plugin_signer: plugin.signer.as_deref(),
        policy_sha256: source.admin.as_ref().map(|p| p.sha256.as_str()),
        full: false,
        resumed: in_flight > 0,
    })?;
    let mut engine = SourcePush {
        source,
        manifest: &manifest,
        instance,
        http: &http,
        traffic: TrafficMeter::start(),
        reporter,
        cancel: &options.cancel,
        run_id,
        waited: Duration::ZERO,
        summary: PushSummary {
            source: source.name.clone(),
            plugin: format!("{} {}", manifest.name, manifest.version),
            ..PushSummary::default()
        },
        total: waiting,
        done: 0,
    };
    let run = tokio::time::timeout(source.limits.run_timeout, engine.run(store));
    let outcome = showing_waits(&http, reporter, &source.name, run)
        .await
        .unwrap_or_else(|_| {
            Err(failed(format!(
                "source `{}`: the push exceeded its time limit (limits.run_timeout_s); \
                 changes in flight are reconciled by the next push",
                source.name
            )))
        });
    let mut summary = engine.summary;
    summary.unknown = store.count_in(&source.name, ChangeState::InFlight)?;
    summary.requests = HttpStats::get(&http.stats.requests);
    summary.not_modified = HttpStats::get(&http.stats.not_modified);
    summary.duration_ms = started.elapsed().as_millis() as u64;
    summary.peak_rss_kb = peak_rss_kb();
    let outcome_name = match &outcome {
        Ok(()) if summary.all_applied() => "succeeded",
        Ok(()) => "incomplete",
        Err(err) => match crate::error::kind_of(err) {
            crate::error::ExitKind::Interrupted => "interrupted",
            crate::error::ExitKind::Auth => "auth_failed",
            _ => "failed",
        },
    };
    store.finish_run(
        run_id,
        &RunEnd {
            outcome: outcome_name.to_string(),
            applied: summary.applied,
            conflicts: summary.conflicts,
            failed: summary.failed + summary.refused,
            requests: summary.requests,
            not_modified: summary.not_modified,
            duration_ms: summary.duration_ms,
            peak_rss_kb: summary.peak_rss_kb,
            error: outcome.as_ref().err().map(|e| format!("{e:#}")),
            ..RunEnd::default()
        },
    )?;
    outcome?;
    Ok(summary)
}

/// A pending change, checked and completed, ready to send.
struct Ready {
    row: ChangeRow,
    op: ChangeOp,
    out: Outgoing,
}

/// The state of one source's push.
struct SourcePush<'a> {
    source: &'a SourceConfig,
    manifest: &'a Manifest,
    instance: PluginInstance,
    http: &'a crate::net::HttpClient,
    traffic: TrafficMeter,
    reporter: &'a Reporter,
    cancel: &'a CancellationToken,
    run_id: i64,
    waited: Duration,
    summary: PushSummary,
    /// Changes taken up by this run, and how many are settled.
    total: u64,
    done: u64,
}

/// What one batch's outcomes call for, beyond what is committed.
#[derive(Default)]
struct BatchEffects {
    /// Changes whose outcome is unknown after a transient failure.
    unknown: usize,
    /// The longest wait a `rate-limited` answer asked for.
    rate_limit_wait: u32,
    /// An `auth` answer: the run stops after committing the batch.
    auth: Option<types::Error>,
}

impl SourcePush<'_> {
    /// Changes per call: the plugin's `max-push-batch`, at most
    /// [`MAX_PUSH_BATCH`].
    fn batch_size(&self) -> usize {
        (self.manifest.max_push_batch as usize).clamp(1, MAX_PUSH_BATCH)
    }

    async fn run(&mut self, store: &mut Store) -> Result<()> {
        let mut round = 0;
        loop {
            let mut effects = self.reconcile_in_flight(store).await?;
            let sent = self.send_pending(store).await?;
            effects.unknown += sent.unknown;
            effects.rate_limit_wait = effects.rate_limit_wait.max(sent.rate_limit_wait);
            if effects.unknown == 0 && effects.rate_limit_wait == 0 {
                return Ok(());
            }
            round += 1;
            if round > self.source.retry.max_retries {
                return Ok(()); // What is still in flight is reported and reconciled next time.
            }
            if effects.rate_limit_wait > 0 {
                let (source, reporter) = (self.source, self.reporter);
                session::wait_as_asked(
                    source,
                    self.cancel,
                    &mut self.waited,
                    "push",
                    effects.rate_limit_wait,
                    |message| {
                        reporter.event(&Event::Note {
                            source: &source.name,
                            message,
                        })
                    },
                )
                .await?;
            } else {
                tokio::time::sleep(self.source.retry.backoff(round)).await;
            }
        }
    }

    /// Asks the plugin about every change left in flight and commits what
    /// it says, batch by batch.
    async fn reconcile_in_flight(&mut self, store: &mut Store) -> Result<BatchEffects> {
        let mut effects = BatchEffects::default();
        let in_flight = store.changes_in(&self.source.name, ChangeState::InFlight)?;
        for (stream, rows) in by_stream(in_flight) {
            for batch in rows.chunks(self.batch_size()) {
                let changes = batch.iter().map(|row| to_change(row, None)).collect();
                let answers = self.call_reconcile(&stream, changes).await?;
                let settlements: Vec<Settlement> = batch
                    .iter()
                    .zip(answers)
                    .map(|(row, answer)| self.reconciled(row, answer, &mut effects))
                    .collect();
                self.commit(store, &stream, &settlements)?;
                if let Some(error) = effects.auth.take() {
                    return Err(classify(&self.source.name, "reconcile", error));
                }
            }
        }
        Ok(effects)
    }

    /// Sends the pending changes, batch by batch: each batch is committed
    /// in flight before it is sent and its outcomes after.
    async fn send_pending(&mut self, store: &mut Store) -> Result<BatchEffects> {
        let mut effects = BatchEffects::default();
        loop {
            if self.cancel.is_cancelled() {
                return Err(crate::error::interrupted(format!(
                    "Interrupted: the outbox of `{}` is saved; run `synchost push` again to continue",
                    self.source.name
                )));
            }
            let window = PENDING_WINDOW_BATCHES * self.batch_size();
            let pending = store.first_pending(&self.source.name, window)?;
            let (stream, ready, refused) = self.next_batch(store, pending)?;
            if !refused.is_empty() {
                self.commit(store, &stream, &refused)?;
            }
            if ready.is_empty() {
                if refused.is_empty() {
                    return Ok(effects);
                }
                continue;
            }
            let outgoing: Vec<Outgoing> = ready.iter().map(|r| r.out.clone()).collect();
            store.mark_in_flight(&outgoing, self.run_id)?;
            let changes = ready
                .iter()
                .map(|r| to_change(&r.row, Some(&r.out)))
                .collect();
            let outcomes = self.call_push(&stream, changes).await?;
            let settlements: Vec<Settlement> = ready
                .iter()
                .zip(outcomes)
                .map(|(r, outcome)| self.pushed(r, outcome, &mut effects))
                .collect();
            self.commit(store, &stream, &settlements)?;
            if let Some(error) = effects.auth.take() {
                return Err(classify(&self.source.name, "push", error));
            }
            if effects.rate_limit_wait > 0 {
                return Ok(effects); // Wait as asked before sending more.
            }
        }
    }

    /// The next batch: pending changes of one stream, checked and
    /// completed, at most one per item (a later change of the same item
    /// waits for the next batch, based on what the first one left), and
    /// the invalid ones, refused.
    fn next_batch(
        &mut self,
        store: &Store,
        pending: Vec<ChangeRow>,
    ) -> Result<(String, Vec<Ready>, Vec<Settlement>)> {
        let mut ready = Vec::new();
        let mut refused = Vec::new();
        let Some(stream) = pending.first().map(|row| row.stream.clone()) else {
            return Ok((String::new(), ready, refused));
        };
        let mut items = HashSet::new();
        for row in pending.into_iter().filter(|row| row.stream == stream) {
            if ready.len() + refused.len() >= self.batch_size() {
                break;
            }
            if let Some(id) = &row.record_id {
                if !items.insert(id.clone()) {
                    continue;
                }
            }
            match self.check(store, &row) {
                Ok((op, out)) => ready.push(Ready { row, op, out }),
                Err(why) => {
                    self.summary.problems_push(&row, &why);
                    refused.push(Settlement::Refused {
                        change_id: row.id,
                        error: why,
                    });
                }
            }
        }
        Ok((stream, ready, refused))
    }

    /// Checks a pending change against the plugin's manifest, the store and
    /// the limits, and completes it.
    fn check(&self, store: &Store, row: &ChangeRow) -> Result<(ChangeOp, Outgoing), String> {
        let op = ChangeOp::parse(&row.op).ok_or_else(|| {
            format!(
                "unknown op `{}` (create, update or delete)",
                Untrusted::clipped(&row.op, 40)
            )
        })?;
        let Some(info) = self.manifest.streams.iter().find(|s| s.name == row.stream) else {
            let known: Vec<&str> = self
                .manifest
                .streams
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            return Err(format!(
                "unknown stream `{}` (the plugin has: {})",
                Untrusted::clipped(&row.stream, 80),
                known.join(", ")
            ));
        };
        if !info.supports_push {
            return Err(format!(
                "stream `{}` does not support push",
                Untrusted::new(&row.stream)
            ));
        }
        if serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&row.metadata)
            .is_err()
        {
            return Err("metadata is not a JSON object".into());
        }
        let limit = self.source.limits.max_response_bytes;
        if row.size > limit {
            return Err(format!(
                "its content is {} bytes, more than the {} bytes the source allows \
                 (limits.max_response_mb)",
                row.size, limit
            ));
        }
        let mut out = Outgoing {
            change_id: row.id,
            key: Store::key_for(row),
            base_version: row.base_version.clone(),
            title: row.title.clone(),
        };
        match op {
            ChangeOp::Create => {
                if row.record_id.is_some() {
                    return Err("a create must not name an id: the remote assigns it".into());
                }
                if row.content.is_none() {
                    return Err("a create needs content".into());
                }
            }
            ChangeOp::Update | ChangeOp::Delete => {
                let Some(id) = &row.record_id else {
                    return Err(format!("an {} needs the item's id", op.as_str()));
                };
                let Some((version, title)) = store
                    .live_record(&self.source.name, &row.stream, id)
                    .map_err(|e| e.to_string())?
                else {
                    return Err(format!(
                        "unknown record `{}` in stream `{}` (pull first)",
                        Untrusted::clipped(id, 80),
                        Untrusted::new(&row.stream)
                    ));
                };
                if op == ChangeOp::Update && row.content.is_none() {
                    return Err("an update needs content".into());
                }
                out.base_version.get_or_insert(version);
                if op == ChangeOp::Update {
                    out.title = out.title.or(title);
                }
            }
        }
        Ok((op, out))
    }

    async fn call_push(
        &mut self,
        stream: &str,
        changes: Vec<types::Change>,
    ) -> Result<Vec<types::PushOutcome>> {
        let (cancel, name) = (self.cancel, self.source.name.clone());
        let call = async {
            self.instance.push(stream, changes).await.map_err(|e| {
                failed(format!(
                    "{}; the batch stays in flight and is reconciled by the next push",
                    e.0
                ))
            })
        };
        cancellable(cancel, &name, call).await
    }

    async fn call_reconcile(
        &mut self,
        stream: &str,
        changes: Vec<types::Change>,
    ) -> Result<Vec<types::Reconciliation>> {
        let (cancel, name) = (self.cancel, self.source.name.clone());
        let call = async {
            self.instance
                .reconcile(stream, changes)
                .await
                .map_err(|e| failed(e.0))
        };
        cancellable(cancel, &name, call).await
    }

    /// What a `push` outcome means for its change.
    fn pushed(
        &mut self,
        ready: &Ready,
        outcome: types::PushOutcome,
        effects: &mut BatchEffects,
    ) -> Settlement {
        let change_id = ready.row.id;
        let id = ready.row.record_id.as_deref();
        match outcome {
            types::PushOutcome::Applied(record) => {
                self.applied(&ready.row, ready.op, record, "push")
            }
            types::PushOutcome::Conflict(record) => {
                self.conflict(&ready.row, ready.op, record, "push")
            }
            types::PushOutcome::Failed(error) => {
                let (kind, message) = describe_error(&error);
                let why = format!("{kind}: {message}");
                match error {
                    types::Error::Auth(_) => {
                        effects.auth = Some(error);
                        Settlement::NotApplied {
                            change_id,
                            detail: why,
                        }
                    }
                    // The plugin says nothing changed, but the request may
                    // have reached the remote: reconcile before resending.
                    types::Error::Transient(_) => {
                        effects.unknown += 1;
                        Settlement::Unknown {
                            change_id,
                            error: why,
                        }
                    }
                    types::Error::RateLimited(seconds) => {
                        effects.rate_limit_wait = effects.rate_limit_wait.max(seconds);
                        Settlement::NotApplied {
                            change_id,
                            detail: why,
                        }
                    }
                    _ => {
                        self.settled();
                        self.summary.failed += 1;
                        self.summary.problems.push(format!(
                            "change {change_id} ({} {}): failed: {why}",
                            ready.op.as_str(),
                            item_label(id)
                        ));
                        Settlement::Failed {
                            change_id,
                            error: why,
                        }
                    }
                }
            }
        }
    }

    /// What a `reconcile` answer means for an in-flight change.
    fn reconciled(
        &mut self,
        row: &ChangeRow,
        answer: types::Reconciliation,
        effects: &mut BatchEffects,
    ) -> Settlement {
        let change_id = row.id;
        let Some(op) = ChangeOp::parse(&row.op) else {
            return Settlement::Refused {
                change_id,
                error: "unknown op".into(),
            };
        };
        match answer {
            types::Reconciliation::Applied(record) => {
                let settlement = self.applied(row, op, record, "reconcile");
                if matches!(settlement, Settlement::Applied { .. }) {
                    self.summary.reconciled += 1;
                }
                settlement
            }
            types::Reconciliation::NotApplied => Settlement::NotApplied {
                change_id,
                detail: "reconciled: it never reached the remote; sending it again".into(),
            },
            types::Reconciliation::Conflict(record) => self.conflict(row, op, record, "reconcile"),
            types::Reconciliation::Failed(error) => {
                let (kind, message) = describe_error(&error);
                if matches!(error, types::Error::Auth(_)) {
                    effects.auth = Some(error);
                }
                Settlement::Unknown {
                    change_id,
                    error: format!("reconcile failed: {kind}: {message}"),
                }
            }
        }
    }

    /// An `applied` answer, checked: the record must be the change's item
    /// and pass the record checks, else the outcome is unknown (the change
    /// stays in flight and the next push asks again) and reported.
    fn applied(
        &mut self,
        row: &ChangeRow,
        op: ChangeOp,
        record: Option<types::Record>,
        call: &str,
    ) -> Settlement {
        match self.checked_record(row, op, record, call) {
            Ok(record) => {
                self.settled();
                self.summary.applied += 1;
                Settlement::Applied {
                    change_id: row.id,
                    record,
                }
            }
            Err(why) => self.plugin_bug(row, why),
        }
    }

    /// A `conflict` answer, checked like [`Self::applied`].
    fn conflict(
        &mut self,
        row: &ChangeRow,
        op: ChangeOp,
        record: Option<types::Record>,
        call: &str,
    ) -> Settlement {
        match self.checked_record(row, op, record, call) {
            Ok(remote) => {
                self.settled();
                self.summary.conflicts += 1;
                self.summary.problems.push(format!(
                    "change {} ({} {}): conflict: the remote changed since version {}",
                    row.id,
                    op.as_str(),
                    item_label(row.record_id.as_deref()),
                    Untrusted::clipped(row.base_version.as_deref().unwrap_or("-"), 40)
                ));
                Settlement::Conflict {
                    change_id: row.id,
                    remote,
                }
            }
            Err(why) => self.plugin_bug(row, why),
        }
    }

    fn plugin_bug(&mut self, row: &ChangeRow, why: String) -> Settlement {
        self.summary
            .problems
            .push(format!("change {}: {why}", row.id));
        Settlement::Unknown {
            change_id: row.id,
            error: why,
        }
    }

    /// The record a plugin returned for a change, as the store keeps it:
    /// the change's item (same id; any id for a create), valid, and without
    /// blobs the store does not have (those wait for the next pull, which
    /// then sees a version it does not have: the record is left out here).
    fn checked_record(
        &self,
        row: &ChangeRow,
        op: ChangeOp,
        record: Option<types::Record>,
        call: &str,
    ) -> Result<Option<RecordRow>, String> {
        let Some(record) = record else {
            return Ok(None);
        };
        let plugin = &self.manifest.name;
        if let Some(id) = &row.record_id {
            if op != ChangeOp::Create && &record.id != id {
                return Err(format!(
                    "plugin bug: {plugin}'s {call} answered for change {} of item `{}` with item `{}`; \
                     nothing was stored: check the remote, then run push again",
                    row.id,
                    Untrusted::clipped(id, 80),
                    Untrusted::clipped(&record.id, 80)
                ));
            }
        }
        checks::record(&record.id, &record.version, &record.metadata).map_err(|why| {
            format!(
                "plugin bug: {plugin}'s {call} answered for change {} with an invalid record: {why}",
                row.id
            )
        })?;
        let limit = self.source.limits.max_response_bytes;
        let size = record.content.as_ref().map_or(0, |c| c.len() as u64);
        if size > limit {
            return Err(format!(
                "plugin bug: {plugin}'s {call} answered for change {} with {size} bytes of content, \
                 more than limits.max_response_mb allows",
                row.id
            ));
        }
        if !record.blobs.is_empty() {
            return Ok(None);
        }
        Ok(Some(to_row(record, Vec::new())))
    }

    fn settled(&mut self) {
        self.done += 1;
    }

    /// Commits a batch's settlements and reports progress.
    fn commit(
        &mut self,
        store: &mut Store,
        stream: &str,
        settlements: &[Settlement],
    ) -> Result<()> {
        store
            .settle(&self.source.name, stream, settlements, self.run_id)
            .map_err(|err| store.explain_write_failure(err))?;
        self.summary.refused += settlements
            .iter()
            .filter(|s| matches!(s, Settlement::Refused { .. }))
            .count() as u64;
        let http = self.traffic.sample(&self.http.stats);
        self.reporter.event(&Event::Pushed {
            source: &self.source.name,
            stream,
            done: self.done + self.summary.refused,
            total: self.total,
            applied: self.summary.applied,
            conflicts: self.summary.conflicts,
            failed: self.summary.failed + self.summary.refused,
            http,
        });
        Ok(())
    }
}

impl PushSummary {
    fn problems_push(&mut self, row: &ChangeRow, why: &str) {
        self.problems.push(format!(
            "change {} ({} {}): refused: {why}",
            row.id,
            Untrusted::clipped(&row.op, 20),
            item_label(row.record_id.as_deref())
        ));
    }
}

/// How messages name a change's item: its id, escaped, or "new item".
fn item_label(id: Option<&str>) -> String {
    id.map_or_else(
        || "new item".to_string(),
        |id| Untrusted::clipped(id, 80).to_string(),
    )
}

/// Changes grouped by stream, each group in staging order.
fn by_stream(rows: Vec<ChangeRow>) -> BTreeMap<String, Vec<ChangeRow>> {
    let mut groups: BTreeMap<String, Vec<ChangeRow>> = BTreeMap::new();
    for row in rows {
        groups.entry(row.stream.clone()).or_default().push(row);
    }
    groups
}

/// A stored change as the contract's `change`; `out` completes a pending
/// one (in-flight ones were completed when they were sent).
fn to_change(row: &ChangeRow, out: Option<&Outgoing>) -> types::Change {
    let op = match ChangeOp::parse(&row.op) {
        Some(ChangeOp::Create) => types::ChangeOp::Create,
        Some(ChangeOp::Delete) => types::ChangeOp::Delete,
        _ => types::ChangeOp::Update,
    };
    types::Change {
        key: out.map_or_else(|| row.key.clone().unwrap_or_default(), |o| o.key.clone()),
        op,
        id: row.record_id.clone(),
        base_version: out.map_or_else(|| row.base_version.clone(), |o| o.base_version.clone()),
        parent_id: row.parent_id.clone(),
        title: out.map_or_else(|| row.title.clone(), |o| o.title.clone()),
        content: row.content.clone(),
        metadata: row.metadata.clone(),
    }
}
