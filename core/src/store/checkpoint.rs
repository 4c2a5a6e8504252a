//! Stream checkpoints and the page commit.
//!
//! A page's records, its work items and the stream's cursor are written in
//! one transaction ([`Store::commit_page`]), so a crash loses at most the
//! page in flight and never duplicates. The watermark becomes the stream's
//! `since` only in [`Store::finish_stream`], after the whole enumeration.

use std::collections::HashMap;

use anyhow::Result;
use rusqlite::{params, params_from_iter, OptionalExtension};

use super::{now, Store};

/// The checkpoint of one stream.
#[derive(Debug, Clone, Default)]
pub struct StreamCheckpoint {
    /// True while a run of this stream is unfinished (resumable).
    pub running: bool,
    pub generation: i64,
    /// The run enumerates everything (first run or `--full`): tombstones follow.
    pub full: bool,
    /// The run asks only for ids and versions (a deletion check).
    pub ids_only: bool,
    /// The watermark this run lists from (none for a full run).
    pub since: Option<String>,
    /// The cursor of the next page to list.
    pub cursor: Option<String>,
    /// The listing reached its last page; only retries remain.
    pub listing_done: bool,
    pub total_hint: Option<u64>,
    pub run_started_at: Option<String>,
    pub run_plugin_version: Option<String>,
    /// The last complete watermark.
    pub watermark: Option<String>,
    /// The page size the run's enumeration started with (none for runs
    /// started by a synchost that did not store it).
    pub page_size: Option<u32>,
}

/// How a new stream run enumerates.
#[derive(Debug, Clone, Copy)]
pub struct NewRun<'a> {
    /// Everything is listed; what is not seen is tombstoned at the end.
    pub full: bool,
    /// Ids and versions suffice (`--check-deletions`).
    pub ids_only: bool,
    /// The watermark to list from (none for a full run).
    pub since: Option<&'a str>,
    pub plugin_version: &'a str,
    /// The page size of the enumeration, kept when it resumes.
    pub page_size: u32,
}

/// One record as stored.
#[derive(Debug, Clone)]
pub struct RecordRow {
    pub id: String,
    pub version: String,
    pub updated_at: Option<String>,
    pub parent_id: Option<String>,
    pub title: Option<String>,
    pub path: Option<String>,
    pub content_type: String,
    pub content: Option<Vec<u8>>,
    pub content_hash: Option<String>,
    pub metadata: String,
    /// Links to write: the blobs downloaded for this version (unchanged
    /// ones keep their links).
    pub blobs: Vec<BlobLink>,
    /// Every blob name of this version, when known: links under other
    /// names (blobs the record no longer has) are removed.
    pub blob_names: Option<Vec<String>>,
}

/// A blob a record references, already downloaded into the blob directory.
#[derive(Debug, Clone)]
pub struct BlobLink {
    pub name: String,
    pub url: String,
    pub version: String,
    pub hash: String,
    pub size: u64,
    pub media_type: String,
    /// Path of the blob file, relative to the blob directory.
    pub path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkStatus {
    Completed,
    Failed,
    Skipped,
}

impl WorkStatus {
    fn as_str(self) -> &'static str {
        match self {
            WorkStatus::Completed => "completed",
            WorkStatus::Failed => "failed",
            WorkStatus::Skipped => "skipped",
        }
    }
}

/// An item of the run that did not simply complete, or that completed on retry.
#[derive(Debug, Clone)]
pub struct WorkItem {
    pub id: String,
    pub status: WorkStatus,
    pub error: Option<String>,
}

/// Everything one page changes, committed together.
#[derive(Debug, Default)]
pub struct PageCommit {
    /// New or changed records.
    pub records: Vec<RecordRow>,
    /// Ids listed unchanged: only their `seen_generation` moves.
    pub unchanged: Vec<String>,
    /// Ids the remote reported deleted.
    pub deleted: Vec<String>,
    pub work: Vec<WorkItem>,
    /// The cursor to store; `None` leaves it unchanged (retry batches).
    pub cursor: Option<Option<String>>,
    pub watermark: Option<String>,
    pub total_hint: Option<u64>,
}

impl Store {
    /// The checkpoint of a stream; a default (idle, generation 0) if never run.
    pub fn checkpoint(&self, source: &str, stream: &str) -> Result<StreamCheckpoint> {
        let row = self
            .conn
            .query_row(
                "SELECT state, generation, full, since, cursor, listing_done, total_hint,
                        run_started_at, run_plugin_version, watermark, ids_only, page_size
                 FROM streams WHERE source = ?1 AND stream = ?2",
                params![source, stream],
                |row| {
                    Ok(StreamCheckpoint {
                        running: row.get::<_, String>(0)? == "running",
                        generation: row.get(1)?,
                        full: row.get(2)?,
                        since: row.get(3)?,
                        cursor: row.get(4)?,
                        listing_done: row.get(5)?,
                        total_hint: row.get::<_, Option<i64>>(6)?.map(|v| v as u64),
                        run_started_at: row.get(7)?,
                        run_plugin_version: row.get(8)?,
                        watermark: row.get(9)?,
                        ids_only: row.get(10)?,
                        page_size: row.get(11)?,
                    })
                },
            )
            .optional()?;
        Ok(row.unwrap_or_default())
    }

    /// Starts a new run of a stream: next generation, no cursor, no work items.
    pub fn start_stream_run(
        &mut self,
        source: &str,
        stream: &str,
        run: &NewRun,
    ) -> Result<StreamCheckpoint> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO streams (source, stream) VALUES (?1, ?2)
             ON CONFLICT (source, stream) DO NOTHING",
            params![source, stream],
        )?;
        tx.execute(
            "UPDATE streams SET state = 'running', generation = generation + 1, full = ?3,
                    ids_only = ?4, since = ?5, cursor = NULL, listing_done = 0, pending_watermark = NULL,
                    total_hint = NULL, run_started_at = ?6, run_plugin_version = ?7, page_size = ?8
             WHERE source = ?1 AND stream = ?2",
            params![
                source,
                stream,
                run.full,
                run.ids_only,
                run.since,
                now(),
                run.plugin_version,
                run.page_size
            ],
        )?;
        tx.execute(
            "DELETE FROM work_items WHERE source = ?1 AND stream = ?2",
            params![source, stream],
        )?;
        tx.commit()?;
        self.checkpoint(source, stream)
    }

    /// Versions of the live records among `ids`.
    pub fn stored_versions(
        &self,
        source: &str,
        stream: &str,
        ids: &[&str],
    ) -> Result<HashMap<String, String>> {
        let mut versions = HashMap::with_capacity(ids.len());
        // SQLite allows 32766 variables; pages are at most 1000 ids.
        for chunk in ids.chunks(900) {
            let placeholders = vec!["?"; chunk.len()].join(",");
            let sql = format!(
                "SELECT id, version FROM records
                 WHERE source = ? AND stream = ? AND deleted_at IS NULL AND id IN ({placeholders})"
            );
            let mut statement = self.conn.prepare_cached(&sql)?;
            let values = [source, stream].into_iter().chain(chunk.iter().copied());
            let rows = statement.query_map(params_from_iter(values), |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })?;
            for row in rows {
                let (id, version) = row?;
                versions.insert(id, version);
            }
        }
        Ok(versions)
    }

    /// Versions of the blobs already stored for a record, by name.
    pub fn stored_blob_versions(
        &self,
        source: &str,
        stream: &str,
        record_id: &str,
    ) -> Result<HashMap<String, String>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT name, version FROM record_blobs WHERE source = ?1 AND stream = ?2 AND record_id = ?3",
        )?;
        let rows = statement.query_map(params![source, stream, record_id], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Writes one page in one transaction: records, unchanged ids, deletions,
    /// work items, cursor and pending watermark. Returns the number of live
    /// records the page's deleted ids tombstoned: ids the store does not
    /// hold, or holds already deleted, change nothing and are not counted.
    pub fn commit_page(
        &mut self,
        source: &str,
        stream: &str,
        generation: i64,
        page: &PageCommit,
    ) -> Result<u64> {
        let mut tombstoned = 0;
        let now = now();
        let tx = self.conn.transaction()?;
        {
            upsert_records(&tx, source, stream, generation, &page.records, &now)?;
            let mut seen = tx.prepare_cached(
                "UPDATE records SET seen_generation = ?3 WHERE source = ?1 AND stream = ?2 AND id = ?4",
            )?;
            for id in &page.unchanged {
                seen.execute(params![source, stream, generation, id])?;
            }
            let mut delete = tx.prepare_cached(
                "UPDATE records SET deleted_at = ?3
                 WHERE source = ?1 AND stream = ?2 AND id = ?4 AND deleted_at IS NULL",
            )?;
            for id in &page.deleted {
                tombstoned += delete.execute(params![source, stream, now, id])? as u64;
            }
            let mut work = tx.prepare_cached(
                "INSERT INTO work_items (source, stream, id, generation, status, attempts, last_error, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7)
                 ON CONFLICT (source, stream, id) DO UPDATE SET
                    status = excluded.status, attempts = work_items.attempts + 1,
                    last_error = excluded.last_error, updated_at = excluded.updated_at",
            )?;
            for item in &page.work {
                work.execute(params![
                    source,
                    stream,
                    item.id,
                    generation,
                    item.status.as_str(),
                    item.error,
                    now
                ])?;
            }
            if let Some(cursor) = &page.cursor {
                tx.execute(
                    "UPDATE streams SET cursor = ?3, listing_done = ?4,
                            pending_watermark = COALESCE(?5, pending_watermark),
                            total_hint = COALESCE(?6, total_hint)
                     WHERE source = ?1 AND stream = ?2",
                    params![
                        source,
                        stream,
                        cursor,
                        cursor.is_none(),
                        page.watermark,
                        page.total_hint.map(|v| v as i64)
                    ],
                )?;
            }
        }
        tx.commit()?;
        Ok(tombstoned)
    }

    /// Live records of a stream already seen by run `generation` (resume progress).
    pub fn count_seen(&self, source: &str, stream: &str, generation: i64) -> Result<u64> {
        let count: i64 = self.conn.query_row(
            "SELECT count(*) FROM records WHERE source = ?1 AND stream = ?2 AND seen_generation = ?3",
            params![source, stream, generation],
            |row| row.get(0),
        )?;
        Ok(count as u64)
    }

    /// Ids of the run's failed items.
    pub fn failed_items(&self, source: &str, stream: &str) -> Result<Vec<String>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT id FROM work_items WHERE source = ?1 AND stream = ?2 AND status = 'failed' ORDER BY id",
        )?;
        let rows = statement.query_map(params![source, stream], |row| row.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Completes a stream's run: tombstones what a full enumeration did not
    /// see, stores the pending watermark and marks the stream idle, in one
    /// transaction. Returns the number of records tombstoned.
    pub fn finish_stream(&mut self, source: &str, stream: &str) -> Result<u64> {
        let tx = self.conn.transaction()?;
        let (generation, full): (i64, bool) = tx.query_row(
            "SELECT generation, full FROM streams WHERE source = ?1 AND stream = ?2",
            params![source, stream],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        let tombstoned = if full {
            tx.execute(
                "UPDATE records SET deleted_at = ?4
                 WHERE source = ?1 AND stream = ?2 AND seen_generation < ?3 AND deleted_at IS NULL",
                params![source, stream, generation, now()],
            )? as u64
        } else {
            0
        };
        tx.execute(
            "UPDATE streams SET state = 'idle', watermark = COALESCE(pending_watermark, watermark),
                    cursor = NULL, completed_at = ?3
             WHERE source = ?1 AND stream = ?2",
            params![source, stream, now()],
        )?;
        tx.commit()?;
        Ok(tombstoned)
    }

    /// Drops blob rows no record links to and returns the paths (relative to
    /// the blob directory) of the blobs that remain.
    pub fn referenced_blob_paths(&self) -> Result<Vec<String>> {
        self.conn.execute(
            "DELETE FROM blobs WHERE hash NOT IN (SELECT hash FROM record_blobs)",
            [],
        )?;
        let mut statement = self.conn.prepare("SELECT path FROM blobs")?;
        let rows = statement.query_map([], |row| row.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records which plugin last ran a source.
    pub fn register_source(
        &self,
        name: &str,
        plugin: &str,
        version: &str,
        sha256: &str,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO sources (name, plugin_name, plugin_version, plugin_sha256, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (name) DO UPDATE SET plugin_name = excluded.plugin_name,
                plugin_version = excluded.plugin_version, plugin_sha256 = excluded.plugin_sha256,
                updated_at = excluded.updated_at",
            params![name, plugin, version, sha256, now()],
        )?;
        Ok(())
    }
}

/// Inserts or replaces `records` (and their blob links) in one open
/// transaction, as seen by run `generation`: the page commit and the push's
/// applied records write records the same way.
pub(super) fn upsert_records(
    tx: &rusqlite::Transaction<'_>,
    source: &str,
    stream: &str,
    generation: i64,
    records: &[RecordRow],
    now: &str,
) -> Result<()> {
    let mut upsert = tx.prepare_cached(
        "INSERT INTO records (source, stream, id, version, updated_at, parent_id, title, path,
                              content_type, content, content_hash, metadata, seen_generation,
                              synced_at, deleted_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, NULL)
         ON CONFLICT (source, stream, id) DO UPDATE SET
            version = excluded.version, updated_at = excluded.updated_at,
            parent_id = excluded.parent_id, title = excluded.title, path = excluded.path,
            content_type = excluded.content_type, content = excluded.content,
            content_hash = excluded.content_hash, metadata = excluded.metadata,
            seen_generation = excluded.seen_generation, synced_at = excluded.synced_at,
            deleted_at = NULL",
    )?;
    let mut blob = tx.prepare_cached(
        "INSERT INTO blobs (hash, size, media_type, path, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (hash) DO NOTHING",
    )?;
    let mut link = tx.prepare_cached(
        "INSERT INTO record_blobs (source, stream, record_id, name, url, version, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (source, stream, record_id, name) DO UPDATE SET
            url = excluded.url, version = excluded.version, hash = excluded.hash",
    )?;
    let mut names_of = tx.prepare_cached(
        "SELECT name FROM record_blobs WHERE source = ?1 AND stream = ?2 AND record_id = ?3",
    )?;
    let mut unlink = tx.prepare_cached(
        "DELETE FROM record_blobs WHERE source = ?1 AND stream = ?2 AND record_id = ?3 AND name = ?4",
    )?;
    for record in records {
        upsert.execute(params![
            source,
            stream,
            record.id,
            record.version,
            record.updated_at,
            record.parent_id,
            record.title,
            record.path,
            record.content_type,
            record.content,
            record.content_hash,
            record.metadata,
            generation,
            now,
        ])?;
        if let Some(names) = &record.blob_names {
            let linked: Vec<String> = names_of
                .query_map(params![source, stream, record.id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for name in linked.iter().filter(|n| !names.contains(n)) {
                unlink.execute(params![source, stream, record.id, name])?;
            }
        }
        for b in &record.blobs {
            blob.execute(params![b.hash, b.size as i64, b.media_type, b.path, now])?;
            link.execute(params![
                source, stream, record.id, b.name, b.url, b.version, b.hash
            ])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, version: &str) -> RecordRow {
        RecordRow {
            id: id.into(),
            version: version.into(),
            updated_at: None,
            parent_id: None,
            title: Some(format!("title {id}")),
            path: None,
            content_type: "text/plain".into(),
            content: Some(b"hello".to_vec()),
            content_hash: None,
            metadata: "{}".into(),
            blobs: vec![],
            blob_names: None,
        }
    }

    fn live_ids(store: &Store) -> Vec<String> {
        let mut s = store
            .conn
            .prepare("SELECT id FROM records WHERE deleted_at IS NULL ORDER BY id")
            .unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    #[test]
    fn links_to_blobs_a_record_no_longer_has_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let new_run = NewRun {
            full: true,
            ids_only: false,
            since: None,
            plugin_version: "1.0.0",
            page_size: 100,
        };
        let link = |name: &str, version: &str| BlobLink {
            name: name.into(),
            url: "https://example.com/b".into(),
            version: version.into(),
            hash: format!("{name:0>64}"),
            size: 1,
            media_type: "application/octet-stream".into(),
            path: format!("{name}/{name}"),
        };
        let commit = |store: &mut Store, row: RecordRow| {
            let run = store.start_stream_run("src", "items", &new_run).unwrap();
            let page = PageCommit {
                records: vec![row],
                cursor: Some(None),
                ..Default::default()
            };
            store
                .commit_page("src", "items", run.generation, &page)
                .unwrap();
            store.stored_blob_versions("src", "items", "a").unwrap()
        };
        let mut row = record("a", "1");
        row.blobs = vec![link("x", "1"), link("y", "1")];
        row.blob_names = Some(vec!["x".into(), "y".into()]);
        assert_eq!(commit(&mut store, row).len(), 2);
        // Unknown names (None): links stay; `y` unchanged (not downloaded): kept.
        assert_eq!(commit(&mut store, record("a", "2")).len(), 2);
        let mut row = record("a", "3");
        row.blob_names = Some(vec!["y".into()]);
        let left = commit(&mut store, row);
        assert_eq!(left.keys().collect::<Vec<_>>(), ["y"]);
        let mut row = record("a", "4");
        row.blob_names = Some(vec![]);
        assert!(commit(&mut store, row).is_empty());
    }

    #[test]
    fn full_run_tombstones_unseen_and_stores_watermark_only_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let run = store
            .start_stream_run(
                "src",
                "items",
                &NewRun {
                    full: true,
                    ids_only: false,
                    since: None,
                    plugin_version: "1.0.0",
                    page_size: 100,
                },
            )
            .unwrap();
        let page = PageCommit {
            records: vec![record("a", "1"), record("b", "1")],
            cursor: Some(None),
            watermark: Some("w1".into()),
            ..Default::default()
        };
        store
            .commit_page("src", "items", run.generation, &page)
            .unwrap();
        assert_eq!(store.checkpoint("src", "items").unwrap().watermark, None);
        store.finish_stream("src", "items").unwrap();
        assert_eq!(
            store
                .checkpoint("src", "items")
                .unwrap()
                .watermark
                .as_deref(),
            Some("w1")
        );

        // A second full run sees only `a`: `b` is tombstoned.
        let run = store
            .start_stream_run(
                "src",
                "items",
                &NewRun {
                    full: true,
                    ids_only: false,
                    since: None,
                    plugin_version: "1.0.0",
                    page_size: 100,
                },
            )
            .unwrap();
        let page = PageCommit {
            unchanged: vec!["a".into()],
            cursor: Some(None),
            ..Default::default()
        };
        store
            .commit_page("src", "items", run.generation, &page)
            .unwrap();
        assert_eq!(store.finish_stream("src", "items").unwrap(), 1);
        assert_eq!(live_ids(&store), vec!["a".to_string()]);
        assert_eq!(
            store
                .checkpoint("src", "items")
                .unwrap()
                .watermark
                .as_deref(),
            Some("w1")
        );
    }

    #[test]
    fn stored_versions_skip_deleted_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let run = store
            .start_stream_run(
                "src",
                "items",
                &NewRun {
                    full: false,
                    ids_only: false,
                    since: None,
                    plugin_version: "1",
                    page_size: 100,
                },
            )
            .unwrap();
        let page = PageCommit {
            records: vec![record("a", "3"), record("b", "1")],
            deleted: vec![],
            cursor: Some(Some("c1".into())),
            ..Default::default()
        };
        store
            .commit_page("src", "items", run.generation, &page)
            .unwrap();
        // Only what the store held and was live counts as deleted.
        let page = PageCommit {
            deleted: vec!["b".into(), "b".into(), "never-stored".into()],
            ..Default::default()
        };
        assert_eq!(
            store
                .commit_page("src", "items", run.generation, &page)
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .commit_page("src", "items", run.generation, &page)
                .unwrap(),
            0
        );
        let versions = store
            .stored_versions("src", "items", &["a", "b", "zz"])
            .unwrap();
        assert_eq!(versions.len(), 1);
        assert_eq!(versions["a"], "3");
        let checkpoint = store.checkpoint("src", "items").unwrap();
        assert_eq!(checkpoint.cursor.as_deref(), Some("c1"));
        assert!(checkpoint.running && !checkpoint.listing_done);
    }
}
