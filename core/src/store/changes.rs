//! The outbox: local changes waiting to be pushed, their states and history,
//! and the conflicts pushes found. `docs/push.md` documents the tables.
//!
//! A change moves `pending` → `in_flight` (committed before it is sent) →
//! `applied` | `conflict` | `failed`, or back to `pending` when
//! reconciliation finds it never took effect. `refused` changes were never
//! sent (invalid); `dropped` ones were superseded or resolved away. Each
//! outcome is committed with the records it changes, in one transaction.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use rand::Rng as _;
use rusqlite::{params, OptionalExtension, Row, Transaction};
use serde::Serialize;

use super::checkpoint::{upsert_records, RecordRow};
use super::{now, Store};

/// What a change does to its item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeOp {
    Create,
    Update,
    Delete,
}

impl ChangeOp {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeOp::Create => "create",
            ChangeOp::Update => "update",
            ChangeOp::Delete => "delete",
        }
    }

    pub fn parse(text: &str) -> Option<ChangeOp> {
        match text {
            "create" => Some(ChangeOp::Create),
            "update" => Some(ChangeOp::Update),
            "delete" => Some(ChangeOp::Delete),
            _ => None,
        }
    }
}

/// Where a change is in its life (the `changes.state` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeState {
    /// Staged, not sent yet.
    Pending,
    /// Sent (or about to be); its outcome is not stored yet.
    InFlight,
    Applied,
    /// The remote moved on; see the conflict.
    Conflict,
    /// The remote or the plugin refused it for a reason other than a conflict.
    Failed,
    /// Invalid: never sent.
    Refused,
    /// Superseded by a later change or resolved away: never to be sent.
    Dropped,
}

impl ChangeState {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeState::Pending => "pending",
            ChangeState::InFlight => "in_flight",
            ChangeState::Applied => "applied",
            ChangeState::Conflict => "conflict",
            ChangeState::Failed => "failed",
            ChangeState::Refused => "refused",
            ChangeState::Dropped => "dropped",
        }
    }

    fn parse(text: &str) -> ChangeState {
        match text {
            "pending" => ChangeState::Pending,
            "in_flight" => ChangeState::InFlight,
            "applied" => ChangeState::Applied,
            "conflict" => ChangeState::Conflict,
            "failed" => ChangeState::Failed,
            "refused" => ChangeState::Refused,
            _ => ChangeState::Dropped,
        }
    }
}

/// A change to stage. `base_version` none: the stored version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChange {
    pub stream: String,
    pub op: ChangeOp,
    pub record_id: Option<String>,
    pub parent_id: Option<String>,
    pub base_version: Option<String>,
    pub title: Option<String>,
    pub content: Option<Vec<u8>>,
    /// A JSON object.
    pub metadata: String,
    /// Where it came from, e.g. `mirror:Engineering/Runbook.html`: a
    /// creation from the same place supersedes a pending one. None for
    /// change files.
    pub origin: Option<String>,
}

/// A change as stored.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeRow {
    pub id: i64,
    pub source: String,
    pub stream: String,
    /// As stored: a row inserted by hand may hold anything; the push refuses
    /// what it cannot parse.
    pub op: String,
    pub record_id: Option<String>,
    pub parent_id: Option<String>,
    pub base_version: Option<String>,
    pub title: Option<String>,
    #[serde(skip)]
    pub content: Option<Vec<u8>>,
    pub size: u64,
    pub metadata: String,
    pub state: ChangeState,
    pub key: Option<String>,
    pub origin: Option<String>,
    pub attempts: u64,
    pub error: Option<String>,
    pub remote_version: Option<String>,
    pub staged_at: String,
    pub updated_at: String,
}

const CHANGE_COLUMNS: &str = "id, source, stream, op, record_id, parent_id, base_version, title, \
     content, metadata, state, idempotency_key, origin, attempts, error, remote_version, \
     staged_at, updated_at";

fn change_row(row: &Row<'_>) -> rusqlite::Result<ChangeRow> {
    let content: Option<Vec<u8>> = row.get(8)?;
    Ok(ChangeRow {
        id: row.get(0)?,
        source: row.get(1)?,
        stream: row.get(2)?,
        op: row.get(3)?,
        record_id: row.get(4)?,
        parent_id: row.get(5)?,
        base_version: row.get(6)?,
        title: row.get(7)?,
        size: content.as_ref().map_or(0, |c| c.len() as u64),
        content,
        metadata: row.get(9)?,
        state: ChangeState::parse(&row.get::<_, String>(10)?),
        key: row.get(11)?,
        origin: row.get(12)?,
        attempts: row.get::<_, i64>(13)? as u64,
        error: row.get(14)?,
        remote_version: row.get(15)?,
        staged_at: row.get(16)?,
        updated_at: row.get(17)?,
    })
}

/// A change about to be sent, completed from the store: its key, and the
/// base version and title filled in where the change left them out.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub change_id: i64,
    pub key: String,
    pub base_version: Option<String>,
    pub title: Option<String>,
}

/// How one sent change ended, to be committed.
#[derive(Debug, Clone)]
pub enum Settlement {
    /// Took effect. `record`: the item as it is now (none after a deletion,
    /// or when the plugin did not say); stored in the same transaction.
    Applied {
        change_id: i64,
        record: Option<RecordRow>,
    },
    /// The remote moved on: `remote` is its item (none: deleted there).
    Conflict {
        change_id: i64,
        remote: Option<RecordRow>,
    },
    /// Never took effect: back to pending, to be sent again.
    NotApplied { change_id: i64, detail: String },
    /// Failed for good (until retried by hand).
    Failed { change_id: i64, error: String },
    /// Unknown: stays in flight (reconciled next time), with why.
    Unknown { change_id: i64, error: String },
    /// Invalid: never sent.
    Refused { change_id: i64, error: String },
}

/// An open conflict with both sides, for `synchost conflicts`.
#[derive(Debug, Clone, Serialize)]
pub struct ConflictView {
    pub id: i64,
    pub change_id: i64,
    pub source: String,
    pub stream: String,
    pub op: String,
    pub record_id: Option<String>,
    pub title: Option<String>,
    pub base_version: Option<String>,
    #[serde(skip)]
    pub base_content: Option<Vec<u8>>,
    #[serde(skip)]
    pub local_content: Option<Vec<u8>>,
    pub remote_deleted: bool,
    /// The remote item (the CLI shows its version, title and content).
    #[serde(skip)]
    pub remote: Option<RecordRow>,
    pub created_at: String,
}

/// How `synchost resolve` settles a conflict.
#[derive(Debug, Clone)]
pub enum Resolution {
    /// Drop the local edit; store the remote item.
    KeepRemote,
    /// Send the local edit (or `content` instead of it) again, based on the
    /// remote's current version.
    KeepLocal { content: Option<Vec<u8>> },
}

/// One step of a change's history.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeEvent {
    pub at: String,
    /// The state the change entered.
    pub state: String,
    pub run_id: Option<i64>,
    pub detail: Option<String>,
}

/// Per stream: changes by state and open conflicts, for `synchost status`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OutboxCounts {
    pub pending: u64,
    pub in_flight: u64,
    pub failed: u64,
    pub conflicts: u64,
}

/// A fresh idempotency key: 128 random bits, so keys of different stores
/// never collide on a shared remote.
fn new_key() -> String {
    let bits: u128 = rand::rng().random();
    format!("sh-{bits:032x}")
}

impl Store {
    /// Stages `changes` for `source` in one transaction: all or none. A
    /// change for an item that already has a pending change supersedes it;
    /// one whose item has a change in flight or an open conflict is refused
    /// (push or resolve first). Returns the new change ids.
    pub fn stage_changes(&mut self, source: &str, changes: &[NewChange]) -> Result<Vec<i64>> {
        let now = now();
        let tx = self.conn.transaction()?;
        let mut ids = Vec::with_capacity(changes.len());
        for (index, change) in changes.iter().enumerate() {
            let id = stage_one(&tx, source, change, &now)
                .map_err(|why| anyhow::anyhow!("change {}: {why}", index + 1))?;
            ids.push(id);
        }
        tx.commit()?;
        Ok(ids)
    }

    /// The stored version and title of a live record.
    pub fn live_record(
        &self,
        source: &str,
        stream: &str,
        id: &str,
    ) -> Result<Option<(String, Option<String>)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT version, title FROM records
                 WHERE source = ?1 AND stream = ?2 AND id = ?3 AND deleted_at IS NULL",
                params![source, stream, id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?)
    }

    /// The open change (pending, in flight or in conflict) of an item, or
    /// of a creation staged from `origin`, if any.
    pub fn open_change(
        &self,
        source: &str,
        stream: &str,
        record_id: Option<&str>,
        origin: Option<&str>,
    ) -> Result<Option<ChangeRow>> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {CHANGE_COLUMNS} FROM changes
                     WHERE source = ?1 AND stream = ?2 AND state IN ('pending', 'in_flight', 'conflict')
                       AND (record_id = ?3 OR (?3 IS NULL AND op = 'create' AND origin = ?4))
                     ORDER BY id DESC LIMIT 1"
                ),
                params![source, stream, record_id, origin],
                change_row,
            )
            .optional()?)
    }

    /// The content hash of a live record.
    pub fn stored_content_hash(
        &self,
        source: &str,
        stream: &str,
        id: &str,
    ) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT content_hash FROM records
                 WHERE source = ?1 AND stream = ?2 AND id = ?3 AND deleted_at IS NULL",
                params![source, stream, id],
                |row| row.get(0),
            )
            .optional()?
            .flatten())
    }

    /// Changes of `source` applied since `since` (a store time) that were
    /// staged from a place starting with `origin_prefix`.
    pub fn applied_since(
        &self,
        source: &str,
        since: &str,
        origin_prefix: &str,
    ) -> Result<Vec<ChangeRow>> {
        let mut statement = self.conn.prepare(&format!(
            "SELECT {CHANGE_COLUMNS} FROM changes
             WHERE source = ?1 AND state = 'applied' AND updated_at >= ?2 AND substr(origin, 1, length(?3)) = ?3
             ORDER BY id"
        ))?;
        let rows = statement.query_map(params![source, since, origin_prefix], change_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// True when `source` has changes to send or to reconcile.
    pub fn has_outbox(&self, source: &str) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM changes WHERE source = ?1 AND state IN ('pending', 'in_flight'))",
            params![source],
            |row| row.get(0),
        )?)
    }

    /// How many changes of `source` are in `state` (their contents unread).
    pub fn count_in(&self, source: &str, state: ChangeState) -> Result<u64> {
        let count: i64 = self.conn.query_row(
            "SELECT count(*) FROM changes WHERE source = ?1 AND state = ?2",
            params![source, state.as_str()],
            |row| row.get(0),
        )?;
        Ok(count as u64)
    }

    /// Changes of `source` in `state`, oldest first.
    pub fn changes_in(&self, source: &str, state: ChangeState) -> Result<Vec<ChangeRow>> {
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT {CHANGE_COLUMNS} FROM changes WHERE source = ?1 AND state = ?2 ORDER BY id"
        ))?;
        let rows = statement.query_map(params![source, state.as_str()], change_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The first `limit` pending changes of `source`, in push order: what
    /// the next batch is chosen from, without reading the whole outbox for
    /// each batch.
    pub fn first_pending(&self, source: &str, limit: usize) -> Result<Vec<ChangeRow>> {
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT {CHANGE_COLUMNS} FROM changes WHERE source = ?1 AND state = 'pending' \
             ORDER BY id LIMIT ?2"
        ))?;
        let rows = statement.query_map(params![source, limit as i64], change_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// One change by id.
    pub fn change(&self, id: i64) -> Result<Option<ChangeRow>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {CHANGE_COLUMNS} FROM changes WHERE id = ?1"),
                params![id],
                change_row,
            )
            .optional()?)
    }

    /// Puts `failed` changes of `source` back to pending (`push --retry-failed`).
    pub fn retry_failed(&mut self, source: &str, run_id: Option<i64>) -> Result<u64> {
        let tx = self.conn.transaction()?;
        let ids: Vec<i64> = {
            let mut statement = tx.prepare(
                "SELECT id FROM changes WHERE source = ?1 AND state = 'failed' ORDER BY id",
            )?;
            let rows = statement.query_map(params![source], |row| row.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let now = now();
        for id in &ids {
            set_state(
                &tx,
                *id,
                ChangeState::Pending,
                None,
                run_id,
                "retry requested",
                &now,
            )?;
        }
        tx.commit()?;
        Ok(ids.len() as u64)
    }

    /// Marks changes in flight before they are sent, committed: a crash
    /// after this point leaves them to be reconciled, never sent blindly
    /// again. Assigns keys and fills in base versions and titles.
    pub fn mark_in_flight(&mut self, outgoing: &[Outgoing], run_id: i64) -> Result<()> {
        let now = now();
        let tx = self.conn.transaction()?;
        {
            let mut update = tx.prepare_cached(
                "UPDATE changes SET state = 'in_flight', idempotency_key = ?2, base_version = ?3,
                        title = ?4, attempts = attempts + 1, error = NULL, updated_at = ?5
                 WHERE id = ?1",
            )?;
            for out in outgoing {
                update.execute(params![
                    out.change_id,
                    out.key,
                    out.base_version,
                    out.title,
                    now
                ])?;
                event(
                    &tx,
                    out.change_id,
                    ChangeState::InFlight,
                    Some(run_id),
                    "sent",
                    &now,
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The key a change will be sent with: its own, or a fresh one.
    pub fn key_for(change: &ChangeRow) -> String {
        change.key.clone().unwrap_or_else(new_key)
    }

    /// Commits the outcomes of sent changes, each with the records it
    /// changes, in one transaction.
    pub fn settle(
        &mut self,
        source: &str,
        stream: &str,
        settlements: &[Settlement],
        run_id: i64,
    ) -> Result<()> {
        let now = now();
        let tx = self.conn.transaction()?;
        let generation: i64 = tx
            .query_row(
                "SELECT generation FROM streams WHERE source = ?1 AND stream = ?2",
                params![source, stream],
                |row| row.get(0),
            )
            .optional()?
            .unwrap_or(0);
        for settlement in settlements {
            settle_one(&tx, source, stream, generation, settlement, run_id, &now)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Open conflicts, oldest first, of one source or all.
    pub fn open_conflicts(&self, source: Option<&str>) -> Result<Vec<ConflictView>> {
        let mut statement = self.conn.prepare(
            "SELECT k.id, k.change_id, k.source, k.stream, c.op, k.record_id,
                    COALESCE(c.title, k.remote_title), k.base_version, k.base_content, c.content,
                    k.remote_deleted, k.remote_id, k.remote_version, k.remote_updated_at,
                    k.remote_parent_id, k.remote_title, k.remote_path, k.remote_content_type,
                    k.remote_content, k.remote_metadata, k.created_at
             FROM conflicts k JOIN changes c ON c.id = k.change_id
             WHERE k.resolved_at IS NULL AND (?1 IS NULL OR k.source = ?1) ORDER BY k.id",
        )?;
        let rows = statement.query_map(params![source], |row| {
            let remote_deleted: bool = row.get(10)?;
            let remote = if remote_deleted {
                None
            } else {
                remote_record(row, 11)?
            };
            Ok(ConflictView {
                id: row.get(0)?,
                change_id: row.get(1)?,
                source: row.get(2)?,
                stream: row.get(3)?,
                op: row.get(4)?,
                record_id: row.get(5)?,
                title: row.get(6)?,
                base_version: row.get(7)?,
                base_content: row.get(8)?,
                local_content: row.get(9)?,
                remote_deleted,
                remote,
                created_at: row.get(20)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Settles conflict `id`. Returns the id of the change staged again
    /// (`KeepLocal`), if any.
    pub fn resolve_conflict(&mut self, id: i64, resolution: &Resolution) -> Result<Option<i64>> {
        let Some(conflict) = self.open_conflicts(None)?.into_iter().find(|c| c.id == id) else {
            let resolved: Option<String> = self
                .conn
                .query_row(
                    "SELECT resolution FROM conflicts WHERE id = ?1",
                    params![id],
                    |row| row.get(0),
                )
                .optional()?;
            match resolved {
                Some(how) => bail!("conflict {id} is already resolved (kept {how})"),
                None => bail!("there is no conflict {id}: `synchost conflicts` lists them"),
            }
        };
        let now = now();
        let tx = self.conn.transaction()?;
        let generation: i64 = tx
            .query_row(
                "SELECT generation FROM streams WHERE source = ?1 AND stream = ?2",
                params![conflict.source, conflict.stream],
                |row| row.get(0),
            )
            .optional()?
            .unwrap_or(0);
        let stored: (Option<String>, Option<String>) = tx
            .query_row(
                "SELECT title, parent_id FROM records WHERE source = ?1 AND stream = ?2 AND id = ?3",
                params![conflict.source, conflict.stream, conflict.record_id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?
            .unwrap_or_default();
        // Either way the remote item becomes the stored one: the new base.
        store_remote(&tx, &conflict, generation, &now)?;
        let (how, restaged) = match resolution {
            Resolution::KeepRemote => ("remote", None),
            Resolution::KeepLocal { content } => {
                let change = tx.query_row(
                    &format!("SELECT {CHANGE_COLUMNS} FROM changes WHERE id = ?1"),
                    params![conflict.change_id],
                    change_row,
                )?;
                let how = if content.is_some() { "merged" } else { "local" };
                match restaged_change(&change, &conflict, content.clone(), stored) {
                    Some(again) => (
                        how,
                        Some(insert_change(&tx, &conflict.source, &again, &now)?),
                    ),
                    None => (how, None),
                }
            }
        };
        let detail = match restaged {
            Some(new_id) => format!("conflict {id} resolved: kept {how} as change {new_id}"),
            None => format!("conflict {id} resolved: kept {how}"),
        };
        set_state(
            &tx,
            conflict.change_id,
            ChangeState::Dropped,
            None,
            None,
            &detail,
            &now,
        )?;
        tx.execute(
            "UPDATE conflicts SET resolved_at = ?2, resolution = ?3 WHERE id = ?1",
            params![id, now, how],
        )?;
        tx.commit()?;
        Ok(restaged)
    }

    /// Outbox counts per (source, stream).
    pub fn outbox_counts(&self) -> Result<BTreeMap<(String, String), OutboxCounts>> {
        let mut counts: BTreeMap<(String, String), OutboxCounts> = BTreeMap::new();
        let mut statement = self.conn.prepare(
            "SELECT source, stream, state, count(*) FROM changes
             WHERE state IN ('pending', 'in_flight', 'failed') GROUP BY source, stream, state",
        )?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let entry = counts.entry((row.get(0)?, row.get(1)?)).or_default();
            let n = row.get::<_, i64>(3)? as u64;
            match row.get::<_, String>(2)?.as_str() {
                "pending" => entry.pending = n,
                "in_flight" => entry.in_flight = n,
                _ => entry.failed = n,
            }
        }
        let mut statement = self.conn.prepare(
            "SELECT source, stream, count(*) FROM conflicts WHERE resolved_at IS NULL GROUP BY source, stream",
        )?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            counts
                .entry((row.get(0)?, row.get(1)?))
                .or_default()
                .conflicts = row.get::<_, i64>(2)? as u64;
        }
        Ok(counts)
    }

    /// A change's history, oldest first.
    pub fn change_history(&self, change_id: i64) -> Result<Vec<ChangeEvent>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT at, state, run_id, detail FROM change_events WHERE change_id = ?1 ORDER BY id",
        )?;
        let rows = statement.query_map(params![change_id], |row| {
            Ok(ChangeEvent {
                at: row.get(0)?,
                state: row.get(1)?,
                run_id: row.get(2)?,
                detail: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The latest changes, newest first, of one source or all: the open
    /// ones (pending, in flight, conflict, failed), or all with `all`.
    pub fn recent_changes(
        &self,
        source: Option<&str>,
        all: bool,
        limit: u32,
    ) -> Result<Vec<ChangeRow>> {
        let mut statement = self.conn.prepare(&format!(
            "SELECT {CHANGE_COLUMNS} FROM changes
             WHERE (?1 IS NULL OR source = ?1)
               AND (?2 OR state IN ('pending', 'in_flight', 'conflict', 'failed'))
             ORDER BY id DESC LIMIT ?3"
        ))?;
        let rows = statement.query_map(params![source, all, limit], change_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

fn stage_one(
    tx: &Transaction<'_>,
    source: &str,
    change: &NewChange,
    now: &str,
) -> std::result::Result<i64, String> {
    let db = |e: rusqlite::Error| e.to_string();
    if serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&change.metadata).is_err()
    {
        return Err("metadata is not a JSON object".into());
    }
    let mut change = change.clone();
    // The open change this one supersedes: of the same record, or (creates)
    // staged from the same place.
    let claim: Option<(i64, String)> = match (&change.record_id, change.op, &change.origin) {
        (Some(id), ChangeOp::Update | ChangeOp::Delete, _) => {
            let stored: Option<String> = tx
                .query_row(
                    "SELECT version FROM records
                     WHERE source = ?1 AND stream = ?2 AND id = ?3 AND deleted_at IS NULL",
                    params![source, change.stream, id],
                    |row| row.get(0),
                )
                .optional()
                .map_err(db)?;
            let Some(stored) = stored else {
                return Err(format!(
                    "no stored record `{}` in stream `{}` of `{source}` (pull first, or stage a create)",
                    crate::untrusted::Untrusted::new(id),
                    crate::untrusted::Untrusted::new(&change.stream)
                ));
            };
            change.base_version.get_or_insert(stored);
            tx.query_row(
                "SELECT id, state FROM changes WHERE source = ?1 AND stream = ?2 AND record_id = ?3
                 AND state IN ('pending', 'in_flight', 'conflict') ORDER BY id DESC LIMIT 1",
                params![source, change.stream, id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(db)?
        }
        (None, ChangeOp::Update | ChangeOp::Delete, _) => {
            return Err(format!("an {} needs the item's `id`", change.op.as_str()))
        }
        (_, ChangeOp::Create, Some(origin)) => tx
            .query_row(
                "SELECT id, state FROM changes WHERE source = ?1 AND origin = ?2 AND op = 'create'
                 AND state IN ('pending', 'in_flight', 'conflict') ORDER BY id DESC LIMIT 1",
                params![source, origin],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(db)?,
        (_, ChangeOp::Create, None) => None,
    };
    if change.op == ChangeOp::Create && change.record_id.is_some() {
        return Err("a create must not name an `id`: the remote assigns it".into());
    }
    let superseded = match claim {
        Some((id, state)) if ChangeState::parse(&state) == ChangeState::Pending => Some(id),
        Some((id, state)) => {
            let what = if state == "conflict" {
                "has an open conflict: resolve it first (`synchost conflicts`)"
            } else {
                "is being pushed: run `synchost push` to settle it first"
            };
            return Err(format!("its item {what} (change {id})"));
        }
        None => None,
    };
    let new_id = insert_change(tx, source, &change, now).map_err(|e| e.to_string())?;
    if let Some(old) = superseded {
        set_state(
            tx,
            old,
            ChangeState::Dropped,
            None,
            None,
            &format!("superseded by change {new_id}"),
            now,
        )
        .map_err(|e| e.to_string())?;
    }
    Ok(new_id)
}

fn insert_change(tx: &Transaction<'_>, source: &str, change: &NewChange, now: &str) -> Result<i64> {
    tx.execute(
        "INSERT INTO changes (source, stream, op, record_id, parent_id, base_version, title, content,
                              metadata, state, idempotency_key, origin, staged_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', ?10, ?11, ?12, ?12)",
        params![
            source,
            change.stream,
            change.op.as_str(),
            change.record_id,
            change.parent_id,
            change.base_version,
            change.title,
            change.content,
            change.metadata,
            new_key(),
            change.origin,
            now
        ],
    )?;
    let id = tx.last_insert_rowid();
    event(tx, id, ChangeState::Pending, None, "staged", now)?;
    Ok(id)
}

/// The local edit of a conflicting change, again, on top of the remote
/// item: an update (or deletion) based on the remote's version; when the
/// remote deleted the item, a creation with the stored title and parent
/// (`stored`), or nothing for a deletion (the item is gone, as asked).
fn restaged_change(
    change: &ChangeRow,
    conflict: &ConflictView,
    content: Option<Vec<u8>>,
    stored: (Option<String>, Option<String>),
) -> Option<NewChange> {
    let content = content.or_else(|| change.content.clone());
    let deletion = change.op == "delete";
    let again = match &conflict.remote {
        Some(remote) => NewChange {
            stream: change.stream.clone(),
            op: if deletion {
                ChangeOp::Delete
            } else {
                ChangeOp::Update
            },
            record_id: Some(remote.id.clone()),
            parent_id: None,
            base_version: Some(remote.version.clone()),
            title: change.title.clone(),
            content: if deletion { None } else { content },
            metadata: change.metadata.clone(),
            origin: change.origin.clone(),
        },
        None if deletion => return None,
        None => NewChange {
            stream: change.stream.clone(),
            op: ChangeOp::Create,
            record_id: None,
            parent_id: change.parent_id.clone().or(stored.1),
            base_version: None,
            title: change.title.clone().or(stored.0),
            content,
            metadata: change.metadata.clone(),
            origin: change.origin.clone(),
        },
    };
    Some(again)
}

fn settle_one(
    tx: &Transaction<'_>,
    source: &str,
    stream: &str,
    generation: i64,
    settlement: &Settlement,
    run_id: i64,
    now: &str,
) -> Result<()> {
    match settlement {
        Settlement::Applied { change_id, record } => {
            let (op, record_id): (String, Option<String>) = tx.query_row(
                "SELECT op, record_id FROM changes WHERE id = ?1",
                params![change_id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?;
            let mut remote_version = None;
            let mut record_id = record_id;
            match record {
                Some(record) => {
                    upsert_records(
                        tx,
                        source,
                        stream,
                        generation,
                        std::slice::from_ref(record),
                        now,
                    )?;
                    remote_version = Some(record.version.clone());
                    record_id = Some(record.id.clone());
                }
                None if op == "delete" => {
                    tx.execute(
                        "UPDATE records SET deleted_at = ?4
                         WHERE source = ?1 AND stream = ?2 AND id = ?3 AND deleted_at IS NULL",
                        params![source, stream, record_id, now],
                    )?;
                }
                None => {}
            }
            tx.execute(
                "UPDATE changes SET state = 'applied', record_id = ?2, remote_version = ?3,
                        error = NULL, updated_at = ?4 WHERE id = ?1",
                params![change_id, record_id, remote_version, now],
            )?;
            let detail = match &remote_version {
                Some(v) => format!("applied: remote version {v}"),
                None => "applied".to_string(),
            };
            event(
                tx,
                *change_id,
                ChangeState::Applied,
                Some(run_id),
                &detail,
                now,
            )?;
        }
        Settlement::Conflict { change_id, remote } => {
            let (record_id, base_version): (Option<String>, Option<String>) = tx.query_row(
                "SELECT record_id, base_version FROM changes WHERE id = ?1",
                params![change_id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?;
            let base_content: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT content FROM records WHERE source = ?1 AND stream = ?2 AND id = ?3
                     AND version IS ?4",
                    params![source, stream, record_id, base_version],
                    |row| row.get(0),
                )
                .optional()?
                .flatten();
            let r = remote.as_ref();
            tx.execute(
                "INSERT INTO conflicts (change_id, source, stream, record_id, base_version, base_content,
                        remote_deleted, remote_id, remote_version, remote_updated_at, remote_parent_id,
                        remote_title, remote_path, remote_content_type, remote_content, remote_metadata,
                        created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
                params![
                    change_id,
                    source,
                    stream,
                    record_id.clone().or_else(|| r.map(|r| r.id.clone())),
                    base_version,
                    base_content,
                    r.is_none(),
                    r.map(|r| &r.id),
                    r.map(|r| &r.version),
                    r.and_then(|r| r.updated_at.as_ref()),
                    r.and_then(|r| r.parent_id.as_ref()),
                    r.and_then(|r| r.title.as_ref()),
                    r.and_then(|r| r.path.as_ref()),
                    r.map(|r| &r.content_type),
                    r.and_then(|r| r.content.as_ref()),
                    r.map(|r| &r.metadata),
                    now
                ],
            )?;
            let detail = match r {
                Some(r) => format!("conflict: the remote is at version {}", r.version),
                None => "conflict: the remote deleted the item".to_string(),
            };
            set_state(
                tx,
                *change_id,
                ChangeState::Conflict,
                None,
                Some(run_id),
                &detail,
                now,
            )?;
        }
        Settlement::NotApplied { change_id, detail } => {
            set_state(
                tx,
                *change_id,
                ChangeState::Pending,
                None,
                Some(run_id),
                detail,
                now,
            )?;
        }
        Settlement::Failed { change_id, error } => {
            set_state(
                tx,
                *change_id,
                ChangeState::Failed,
                Some(error),
                Some(run_id),
                error,
                now,
            )?;
        }
        Settlement::Unknown { change_id, error } => {
            set_state(
                tx,
                *change_id,
                ChangeState::InFlight,
                Some(error),
                Some(run_id),
                error,
                now,
            )?;
        }
        Settlement::Refused { change_id, error } => {
            set_state(
                tx,
                *change_id,
                ChangeState::Refused,
                Some(error),
                Some(run_id),
                error,
                now,
            )?;
        }
    }
    Ok(())
}

/// Stores the conflict's remote side as the record (or its tombstone).
fn store_remote(
    tx: &Transaction<'_>,
    conflict: &ConflictView,
    generation: i64,
    now: &str,
) -> Result<()> {
    match &conflict.remote {
        Some(remote) => upsert_records(
            tx,
            &conflict.source,
            &conflict.stream,
            generation,
            std::slice::from_ref(remote),
            now,
        ),
        None => {
            tx.execute(
                "UPDATE records SET deleted_at = ?4
                 WHERE source = ?1 AND stream = ?2 AND id = ?3 AND deleted_at IS NULL",
                params![conflict.source, conflict.stream, conflict.record_id, now],
            )?;
            Ok(())
        }
    }
}

/// Reads a conflict's remote record from columns starting at `at`: id,
/// version, updated_at, parent_id, title, path, content_type, content,
/// metadata.
fn remote_record(row: &Row<'_>, at: usize) -> rusqlite::Result<Option<RecordRow>> {
    let Some(id) = row.get::<_, Option<String>>(at)? else {
        return Ok(None);
    };
    let content: Option<Vec<u8>> = row.get(at + 7)?;
    Ok(Some(RecordRow {
        id,
        version: row.get::<_, Option<String>>(at + 1)?.unwrap_or_default(),
        updated_at: row.get(at + 2)?,
        parent_id: row.get(at + 3)?,
        title: row.get(at + 4)?,
        path: row.get(at + 5)?,
        content_type: row.get::<_, Option<String>>(at + 6)?.unwrap_or_default(),
        content_hash: content.as_ref().map(|c| super::content_hash(c)),
        content,
        metadata: row
            .get::<_, Option<String>>(at + 8)?
            .unwrap_or_else(|| "{}".into()),
        blobs: Vec::new(),
        blob_names: None,
    }))
}

fn set_state(
    tx: &Transaction<'_>,
    change_id: i64,
    state: ChangeState,
    error: Option<&str>,
    run_id: Option<i64>,
    detail: &str,
    now: &str,
) -> Result<()> {
    tx.execute(
        "UPDATE changes SET state = ?2, error = ?3, updated_at = ?4 WHERE id = ?1",
        params![change_id, state.as_str(), error, now],
    )?;
    event(tx, change_id, state, run_id, detail, now)
}

fn event(
    tx: &Transaction<'_>,
    change_id: i64,
    state: ChangeState,
    run_id: Option<i64>,
    detail: &str,
    now: &str,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO change_events (change_id, at, state, run_id, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![change_id, now, state.as_str(), run_id, detail])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(title: &str) -> NewChange {
        NewChange {
            stream: "pages".into(),
            op: ChangeOp::Create,
            record_id: None,
            parent_id: None,
            base_version: None,
            title: Some(title.into()),
            content: Some(b"<p>new</p>".to_vec()),
            metadata: "{}".into(),
            origin: None,
        }
    }

    #[test]
    fn first_pending_reads_only_the_oldest_pending_changes_of_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let ids = store
            .stage_changes(
                "docs",
                &[create("a"), create("b"), create("c"), create("d")],
            )
            .unwrap();
        store.stage_changes("other", &[create("x")]).unwrap();
        store
            .conn
            .execute(
                "UPDATE changes SET state = 'applied' WHERE id = ?1",
                [ids[0]],
            )
            .unwrap();
        let first = |limit| -> Vec<i64> {
            store
                .first_pending("docs", limit)
                .unwrap()
                .iter()
                .map(|row| row.id)
                .collect()
        };
        assert_eq!(first(2), ids[1..3]);
        assert_eq!(first(10), ids[1..]);
    }
}
