//! `synchost forget`: records removed for good, with everything the store
//! keeps of them, in one transaction, and the file scrubbed afterwards so
//! the removed content cannot be read back from it.
//!
//! Removed with each record: its kept versions (`record_history`), its blob
//! links (and the blob rows no other record links; the caller sweeps their
//! files), its work items, and its staged changes with their events and
//! conflicts (a change of a forgotten record would push its data back, or
//! keep a copy of it in the outbox). The audit trail gets one `runs` row of
//! kind `forget`: who, when, and how many records (in `deleted`), never
//! ids or content.

use std::time::Instant;

use anyhow::{Context, Result};
use rusqlite::{params, Connection};
use serde::Serialize;

use super::runs::current_user;
use super::{now, Store};
use crate::error::{failed, usage};
use crate::matching::{RecordMatch, RecordView};
use crate::untrusted::Untrusted;

/// Which records to forget.
pub enum Selection<'a> {
    /// These ids (in any stream, unless one is given).
    Ids(&'a [String]),
    /// The records a match selects.
    Match(&'a RecordMatch),
}

/// A record to forget.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    pub stream: String,
    pub id: String,
}

/// What a forget removed (or, dry, would remove) from the store.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Forgotten {
    pub records: u64,
    /// Kept earlier versions.
    pub versions: u64,
    /// Blobs no remaining record references (their files are swept).
    pub blobs: u64,
    /// Staged changes (any state), with their events and conflicts.
    pub changes: u64,
}

impl Store {
    /// The records `selection` picks in `source` (and `stream`, when given),
    /// tombstoned ones included. Ids given that the store does not hold
    /// are a usage error naming them (a typo must not pass for "forgotten").
    pub fn forget_targets(
        &self,
        source: &str,
        stream: Option<&str>,
        selection: &Selection<'_>,
    ) -> Result<Vec<Target>> {
        let mut targets = Vec::new();
        match selection {
            Selection::Ids(ids) => {
                // One primary-key probe per stream and id.
                let streams: Vec<String> = match stream {
                    Some(stream) => vec![stream.to_string()],
                    None => self
                        .conn
                        .prepare("SELECT stream FROM streams WHERE source = ?1 ORDER BY stream")?
                        .query_map([source], |row| row.get(0))?
                        .collect::<rusqlite::Result<_>>()?,
                };
                let mut probe = self.conn.prepare(
                    "SELECT EXISTS (SELECT 1 FROM records WHERE source = ?1 AND stream = ?2 AND id = ?3)",
                )?;
                let mut missing = Vec::new();
                for id in ids.iter() {
                    let before = targets.len();
                    for stream in &streams {
                        if probe.query_row(params![source, stream, id], |row| row.get(0))? {
                            targets.push(Target {
                                stream: stream.clone(),
                                id: id.to_string(),
                            });
                        }
                    }
                    if targets.len() == before {
                        missing.push(id);
                    }
                }
                if !missing.is_empty() {
                    let shown: Vec<String> = missing
                        .iter()
                        .take(10)
                        .map(|id| format!("`{}`", Untrusted::clipped(id, 200)))
                        .collect();
                    let within = stream.map_or(String::new(), |s| {
                        format!(", stream `{}`", Untrusted::clipped(s, 200))
                    });
                    return Err(usage(format!(
                        "source `{source}`{within} has no record {}{}; nothing was forgotten \
                         (already forgotten? `synchost export {source}` lists the ids)",
                        shown.join(", "),
                        if missing.len() > 10 {
                            format!(" (and {} more)", missing.len() - 10)
                        } else {
                            String::new()
                        }
                    )));
                }
            }
            Selection::Match(rule) => {
                let mut statement = self.conn.prepare(
                    "SELECT stream, id, title, path, parent_id, content, metadata FROM records
                     WHERE source = ?1 AND (?2 IS NULL OR stream = ?2) ORDER BY stream, id",
                )?;
                let mut rows = statement.query(params![source, stream])?;
                while let Some(row) = rows.next()? {
                    let (stream, id): (String, String) = (row.get(0)?, row.get(1)?);
                    let title: Option<String> = row.get(2)?;
                    let path: Option<String> = row.get(3)?;
                    let parent_id: Option<String> = row.get(4)?;
                    let content: Option<Vec<u8>> = row.get(5)?;
                    let metadata: String = row.get(6)?;
                    let view = RecordView {
                        id: &id,
                        title: title.as_deref(),
                        path: path.as_deref(),
                        parent_id: parent_id.as_deref(),
                        content: content.as_deref(),
                        metadata: &metadata,
                    };
                    if rule.matches(&view) {
                        targets.push(Target { stream, id });
                    }
                }
            }
        }
        Ok(targets)
    }

    /// Removes `targets` of `source` and everything kept of them, with the
    /// audit row, in one transaction; `dry_run` counts the same and rolls
    /// it back. Deleted pages are overwritten (`secure_delete`); after the
    /// commit, [`Store::scrub`] rewrites the file.
    pub fn forget(&mut self, source: &str, targets: &[Target], dry_run: bool) -> Result<Forgotten> {
        let started = Instant::now();
        self.conn.pragma_update(None, "secure_delete", "ON")?;
        let result = self.forget_in_transaction(source, targets, dry_run, started);
        self.conn.pragma_update(None, "secure_delete", "OFF")?;
        result
    }

    fn forget_in_transaction(
        &mut self,
        source: &str,
        targets: &[Target],
        dry_run: bool,
        started: Instant,
    ) -> Result<Forgotten> {
        let tx = self.conn.transaction()?;
        let mut forgotten = Forgotten::default();
        {
            let per_record = [
                "DELETE FROM records WHERE source = ?1 AND stream = ?2 AND id = ?3",
                "DELETE FROM record_history WHERE source = ?1 AND stream = ?2 AND record_id = ?3",
                "DELETE FROM record_blobs WHERE source = ?1 AND stream = ?2 AND record_id = ?3",
                "DELETE FROM work_items WHERE source = ?1 AND stream = ?2 AND id = ?3",
                "DELETE FROM change_events WHERE change_id IN
                    (SELECT id FROM changes WHERE source = ?1 AND stream = ?2 AND record_id = ?3)",
                "DELETE FROM conflicts WHERE change_id IN
                    (SELECT id FROM changes WHERE source = ?1 AND stream = ?2 AND record_id = ?3)",
                "DELETE FROM changes WHERE source = ?1 AND stream = ?2 AND record_id = ?3",
            ];
            let mut statements = per_record
                .iter()
                .map(|sql| tx.prepare(sql))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for target in targets {
                let mut removed = [0u64; 7];
                for (count, statement) in removed.iter_mut().zip(statements.iter_mut()) {
                    *count = statement.execute(params![source, target.stream, target.id])? as u64;
                }
                forgotten.records += removed[0];
                forgotten.versions += removed[1];
                forgotten.changes += removed[6];
            }
        }
        forgotten.blobs = tx.execute(
            "DELETE FROM blobs WHERE hash NOT IN (SELECT hash FROM record_blobs)",
            [],
        )? as u64;
        if dry_run {
            tx.rollback()?;
            return Ok(forgotten);
        }
        audit(&tx, source, forgotten.records, started)?;
        tx.commit()?;
        Ok(forgotten)
    }

    /// Rewrites the store file without its free space (`VACUUM`), then
    /// moves the write-ahead log into it and empties it (a `TRUNCATE`
    /// checkpoint): neither the file nor its WAL keeps pages of removed
    /// rows, including those removed before `secure_delete` was on (older
    /// versions, rows moved by earlier writes).
    pub fn scrub(&self) -> Result<()> {
        self.conn
            .execute_batch("VACUUM")
            .context("compacting the store (VACUUM) after forgetting")?;
        let busy: i64 = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
        if busy != 0 {
            return Err(failed(format!(
                "the records are forgotten, but another process is reading the store {0}, so its \
                 write-ahead log ({0}-wal) may still hold their old pages; stop it, then run \
                 `sqlite3 {0} 'PRAGMA wal_checkpoint(TRUNCATE)'`",
                self.path.display()
            )));
        }
        Ok(())
    }
}

/// The `runs` row of a forget: who, when, how many; the plugin columns say
/// which plugin last pulled the source (empty when none did).
fn audit(conn: &Connection, source: &str, records: u64, started: Instant) -> Result<()> {
    let at = now();
    conn.execute(
        "INSERT INTO runs (source, started_at, finished_at, user, plugin_name, plugin_version,
                           plugin_sha256, kind, outcome, deleted, duration_ms)
         SELECT ?1, ?2, ?2, ?3, coalesce(s.plugin_name, ''), coalesce(s.plugin_version, ''),
                coalesce(s.plugin_sha256, ''), 'forget', 'succeeded', ?4, ?5
         FROM (SELECT 1) LEFT JOIN sources s ON s.name = ?1",
        params![
            source,
            at,
            current_user(),
            records as i64,
            started.elapsed().as_millis() as i64
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dry_run_changes_nothing_and_a_real_one_leaves_an_audit_row_without_ids() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        store
            .conn
            .execute_batch(
                "INSERT INTO streams (source, stream) VALUES ('src', 'items');
                 INSERT INTO records (source, stream, id, version, content_type, content, seen_generation, synced_at)
                 VALUES ('src', 'items', 'secret-id', '1', 'text/plain', 'hello', 1, 'now'),
                        ('src', 'items', 'other', '1', 'text/plain', 'bye', 1, 'now');
                 UPDATE records SET synced_at = 'later', content = 'hello2' WHERE id = 'secret-id';",
            )
            .unwrap();
        let ids = ["secret-id".to_string()];
        let targets = store
            .forget_targets("src", None, &Selection::Ids(&ids))
            .unwrap();
        assert_eq!(targets.len(), 1);
        let dry = store.forget("src", &targets, true).unwrap();
        assert_eq!((dry.records, dry.versions), (1, 1));
        let count = |store: &Store, sql: &str| -> i64 {
            store.conn.query_row(sql, [], |row| row.get(0)).unwrap()
        };
        assert_eq!(count(&store, "SELECT count(*) FROM records"), 2);
        assert_eq!(count(&store, "SELECT count(*) FROM record_history"), 1);
        assert_eq!(count(&store, "SELECT count(*) FROM runs"), 0);

        let done = store.forget("src", &targets, false).unwrap();
        assert_eq!((done.records, done.versions), (1, 1));
        assert_eq!(count(&store, "SELECT count(*) FROM records"), 1);
        assert_eq!(count(&store, "SELECT count(*) FROM record_history"), 0);
        let runs = store.runs(Some("src"), 10).unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!((runs[0].kind.as_str(), runs[0].deleted), ("forget", 1));
        assert!(!serde_json::to_string(&runs).unwrap().contains("secret-id"));

        let err = store
            .forget_targets("src", None, &Selection::Ids(&ids))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no record `secret-id`"), "{err}");
    }
}
