//! Read-only queries behind `synchost status` and `synchost export`.

use anyhow::Result;
use rusqlite::params;
use serde::Serialize;

use super::Store;
use crate::error::usage;
use crate::untrusted::Untrusted;

/// One stream's state, as `synchost status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct StreamStatus {
    pub source: String,
    pub stream: String,
    pub records: u64,
    pub tombstones: u64,
    pub watermark: Option<String>,
    /// `idle`, or `running` when a run is unfinished (resumable).
    pub state: String,
    pub completed_at: Option<String>,
    pub pending_failed: u64,
    pub skipped_not_found: u64,
    pub last_run_outcome: Option<String>,
    pub last_run_at: Option<String>,
}

/// One stored record, as `synchost export` writes it.
#[derive(Debug, Clone)]
pub struct ExportRecord {
    pub stream: String,
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
    pub deleted: bool,
}

/// A live record as the mirror sees it in its first pass (no content).
#[derive(Debug, Clone)]
pub struct MirrorNode {
    pub stream: String,
    pub id: String,
    /// The stored version: the base of an edit made in the mirror.
    pub version: String,
    pub parent_id: Option<String>,
    pub title: Option<String>,
    /// The plugin's path hint (relative, `/`-separated).
    pub path: Option<String>,
    pub content_type: String,
    pub content_hash: Option<String>,
    pub content_size: u64,
    pub blobs: Vec<MirrorBlob>,
    /// The record's metadata (JSON), for the front matter of a Markdown
    /// mirror.
    pub metadata: String,
}

/// A blob of a record, by name, with its file in the blob directory.
#[derive(Debug, Clone)]
pub struct MirrorBlob {
    pub name: String,
    pub hash: String,
    /// Relative to the blob directory.
    pub path: String,
}

impl Store {
    /// Every live record of `source` without its content, ordered; with
    /// its metadata only when `metadata` (else `""`: a files mirror of a
    /// large source does not hold every record's metadata in memory).
    pub fn mirror_nodes(&self, source: &str, metadata: bool) -> Result<Vec<MirrorNode>> {
        let mut statement = self.conn.prepare(
            "SELECT stream, id, parent_id, title, path, content_type, content_hash, coalesce(length(content), 0), version,
                    CASE WHEN ?2 THEN metadata ELSE '' END
             FROM records WHERE source = ?1 AND deleted_at IS NULL ORDER BY stream, id",
        )?;
        let mut nodes: Vec<MirrorNode> = statement
            .query_map(params![source, metadata], |row| {
                Ok(MirrorNode {
                    stream: row.get(0)?,
                    id: row.get(1)?,
                    parent_id: row.get(2)?,
                    title: row.get(3)?,
                    path: row.get(4)?,
                    content_type: row.get(5)?,
                    content_hash: row.get(6)?,
                    content_size: row.get::<_, i64>(7)? as u64,
                    version: row.get(8)?,
                    blobs: Vec::new(),
                    metadata: row.get(9)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        let index: std::collections::HashMap<(String, String), usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| ((n.stream.clone(), n.id.clone()), i))
            .collect();
        let mut blobs = self.conn.prepare(
            "SELECT l.stream, l.record_id, l.name, b.hash, b.path FROM record_blobs l JOIN blobs b ON b.hash = l.hash
             WHERE l.source = ?1 ORDER BY l.stream, l.record_id, l.name",
        )?;
        let mut rows = blobs.query(params![source])?;
        while let Some(row) = rows.next()? {
            let key = (row.get::<_, String>(0)?, row.get::<_, String>(1)?);
            if let Some(&i) = index.get(&key) {
                nodes[i].blobs.push(MirrorBlob {
                    name: row.get(2)?,
                    hash: row.get(3)?,
                    path: row.get(4)?,
                });
            }
        }
        Ok(nodes)
    }

    /// The title and metadata (JSON) of one live record.
    pub fn record_title_and_metadata(
        &self,
        source: &str,
        stream: &str,
        id: &str,
    ) -> Result<Option<(Option<String>, String)>> {
        use rusqlite::OptionalExtension as _;
        Ok(self
            .conn
            .query_row(
                "SELECT title, metadata FROM records
                 WHERE source = ?1 AND stream = ?2 AND id = ?3 AND deleted_at IS NULL",
                params![source, stream, id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?)
    }

    /// The content of one record (empty when it has none).
    pub fn record_content(&self, source: &str, stream: &str, id: &str) -> Result<Vec<u8>> {
        let content: Option<Vec<u8>> = self.conn.query_row(
            "SELECT content FROM records WHERE source = ?1 AND stream = ?2 AND id = ?3",
            params![source, stream, id],
            |row| row.get(0),
        )?;
        Ok(content.unwrap_or_default())
    }

    /// Every stream of every source (or of one), with its counts.
    pub fn status(&self, source: Option<&str>) -> Result<Vec<StreamStatus>> {
        let mut statement = self.conn.prepare(
            "SELECT s.source, s.stream,
                    (SELECT count(*) FROM records r WHERE r.source = s.source AND r.stream = s.stream AND r.deleted_at IS NULL),
                    (SELECT count(*) FROM records r WHERE r.source = s.source AND r.stream = s.stream AND r.deleted_at IS NOT NULL),
                    s.watermark, s.state, s.completed_at,
                    (SELECT count(*) FROM work_items w WHERE w.source = s.source AND w.stream = s.stream AND w.status = 'failed'),
                    (SELECT count(*) FROM work_items w WHERE w.source = s.source AND w.stream = s.stream AND w.status = 'skipped'),
                    (SELECT outcome FROM runs u WHERE u.source = s.source ORDER BY u.id DESC LIMIT 1),
                    (SELECT started_at FROM runs u WHERE u.source = s.source ORDER BY u.id DESC LIMIT 1)
             FROM streams s WHERE (?1 IS NULL OR s.source = ?1) ORDER BY s.source, s.stream",
        )?;
        let rows = statement.query_map(params![source], |row| {
            Ok(StreamStatus {
                source: row.get(0)?,
                stream: row.get(1)?,
                records: row.get::<_, i64>(2)? as u64,
                tombstones: row.get::<_, i64>(3)? as u64,
                watermark: row.get(4)?,
                state: row.get(5)?,
                completed_at: row.get(6)?,
                pending_failed: row.get::<_, i64>(7)? as u64,
                skipped_not_found: row.get::<_, i64>(8)? as u64,
                last_run_outcome: row.get(9)?,
                last_run_at: row.get(10)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// True when the store knows `source`.
    pub fn has_source(&self, source: &str) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM streams WHERE source = ?1)",
            params![source],
            |row| row.get(0),
        )?)
    }

    /// Refuses (exit 2) a source the store does not know, naming the ones
    /// it does.
    pub fn require_source(&self, source: &str) -> Result<()> {
        if self.has_source(source)? {
            return Ok(());
        }
        let mut statement = self
            .conn
            .prepare("SELECT DISTINCT source FROM streams ORDER BY source")?;
        let known = statement
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let shown = Untrusted::clipped(source, 200);
        let has = if known.is_empty() {
            "it has none yet".to_string()
        } else {
            let names: Vec<String> = known
                .iter()
                .map(|k| Untrusted::new(k).to_string())
                .collect();
            format!("it has {}", names.join(", "))
        };
        Err(usage(format!(
            "the store has no source `{shown}` ({has}); run `synchost pull {shown}` first"
        )))
    }

    /// Calls `each` for every record of `source`, streaming (memory stays flat).
    pub fn for_each_record(
        &self,
        source: &str,
        mut each: impl FnMut(ExportRecord) -> Result<()>,
    ) -> Result<()> {
        let mut statement = self.conn.prepare(&format!(
            "SELECT {EXPORT_COLUMNS} FROM records WHERE source = ?1 ORDER BY stream, id"
        ))?;
        let mut rows = statement.query(params![source])?;
        while let Some(row) = rows.next()? {
            each(export_record(row)?)?;
        }
        Ok(())
    }
}

/// The columns of `records` that [`export_record`] reads, in its order.
pub(super) const EXPORT_COLUMNS: &str = "stream, id, version, updated_at, parent_id, title, path, \
     content_type, content, content_hash, metadata, deleted_at IS NOT NULL";

/// An [`ExportRecord`] from a row of [`EXPORT_COLUMNS`] (or of columns of
/// the same types in the same order).
pub(super) fn export_record(row: &rusqlite::Row) -> rusqlite::Result<ExportRecord> {
    Ok(ExportRecord {
        stream: row.get(0)?,
        id: row.get(1)?,
        version: row.get(2)?,
        updated_at: row.get(3)?,
        parent_id: row.get(4)?,
        title: row.get(5)?,
        path: row.get(6)?,
        content_type: row.get(7)?,
        content: row.get(8)?,
        content_hash: row.get(9)?,
        metadata: row.get(10)?,
        deleted: row.get(11)?,
    })
}
