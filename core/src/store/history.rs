//! Record history: the versions a record had before its current one, kept
//! by the `records_keep_history` trigger (schema migration 6) in the
//! transaction that replaced them, and bounded by each source's retention.

use anyhow::Result;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::reports::{export_record, ExportRecord, EXPORT_COLUMNS};
use super::Store;
use crate::error::usage;
use crate::untrusted::Untrusted;

/// Versions of each record kept when `[sources.NAME.history]` says nothing.
pub const DEFAULT_KEEP_VERSIONS: u32 = 10;

/// One state of a record, as `synchost history` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct RecordVersion {
    pub stream: String,
    pub version: String,
    /// When this state began: the write of this version, or its deletion.
    pub valid_from: String,
    /// When it was replaced; none for the current state.
    pub valid_to: Option<String>,
    pub deleted: bool,
    pub content_hash: Option<String>,
    pub content_bytes: u64,
    /// The run (pull or push) of the source that wrote this state, when the
    /// audit trail still has it.
    pub run: Option<i64>,
}

/// The columns of `record_history` that `export_record` reads, in its order.
const KEPT: &str = "stream, record_id, version, updated_at, parent_id, title, path, content_type, \
                    content, content_hash, metadata, deleted";

impl Store {
    /// Sets how much history `source` keeps (0 versions: none), and drops
    /// at once what the new bounds exclude.
    pub fn set_history_retention(
        &mut self,
        source: &str,
        keep_versions: u32,
        keep_days: Option<u32>,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO history_retention (source, keep_versions, keep_days) VALUES (?1, ?2, ?3)
             ON CONFLICT (source) DO UPDATE SET keep_versions = excluded.keep_versions,
                                                keep_days = excluded.keep_days",
            params![source, keep_versions, keep_days],
        )?;
        tx.execute(
            "DELETE FROM record_history WHERE source = ?1 AND id IN (
                 SELECT id FROM (
                     SELECT id, row_number() OVER (PARTITION BY stream, record_id ORDER BY id DESC) AS n
                     FROM record_history WHERE source = ?1)
                 WHERE n > ?2)",
            params![source, keep_versions],
        )?;
        if let Some(days) = keep_days {
            let cutoff = (chrono::Utc::now() - chrono::Duration::days(days.into()))
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            tx.execute(
                "DELETE FROM record_history WHERE source = ?1 AND valid_to < ?2",
                params![source, cutoff],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The stream of record `id` of `source`: `stream` when given, else the
    /// only one that has (or had) such a record. Exit 2 when none has, or
    /// when several do and `stream` is not given.
    pub fn record_stream(&self, source: &str, stream: Option<&str>, id: &str) -> Result<String> {
        let mut statement = self.conn.prepare(
            "SELECT stream FROM records WHERE source = ?1 AND id = ?2 AND (?3 IS NULL OR stream = ?3)
             UNION
             SELECT stream FROM record_history WHERE source = ?1 AND record_id = ?2 AND (?3 IS NULL OR stream = ?3)
             ORDER BY 1",
        )?;
        let streams = statement
            .query_map(params![source, id, stream], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let shown = Untrusted::clipped(id, 200);
        match streams.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(usage(format!(
                "source `{}` has no record `{shown}`{}",
                Untrusted::clipped(source, 200),
                stream.map_or(String::new(), |s| format!(
                    " in stream `{}`",
                    Untrusted::clipped(s, 200)
                ))
            ))),
            several => Err(usage(format!(
                "record `{shown}` is in several streams ({}); pass --stream",
                several
                    .iter()
                    .map(|s| Untrusted::clipped(s, 200).to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Every kept state of a record, the current one first, then older ones.
    pub fn record_versions(
        &self,
        source: &str,
        stream: &str,
        id: &str,
    ) -> Result<Vec<RecordVersion>> {
        let mut statement = self.conn.prepare(
            "SELECT version, valid_from, valid_to, deleted, content_hash, coalesce(length(content), 0) FROM (
                 SELECT 0 AS kept, 0 AS n, version, coalesce(deleted_at, synced_at) AS valid_from,
                        NULL AS valid_to, deleted_at IS NOT NULL AS deleted, content_hash, content
                 FROM records WHERE source = ?1 AND stream = ?2 AND id = ?3
                 UNION ALL
                 SELECT 1, id, version, valid_from, valid_to, deleted, content_hash, content
                 FROM record_history WHERE source = ?1 AND stream = ?2 AND record_id = ?3)
             ORDER BY kept, n DESC",
        )?;
        let mut run = self.conn.prepare(
            "SELECT id FROM runs WHERE source = ?1 AND started_at <= ?2 AND outcome != 'refused' ORDER BY id DESC LIMIT 1",
        )?;
        let rows = statement
            .query_map(params![source, stream, id], |row| {
                Ok(RecordVersion {
                    stream: stream.to_string(),
                    version: row.get(0)?,
                    valid_from: row.get(1)?,
                    valid_to: row.get(2)?,
                    deleted: row.get(3)?,
                    content_hash: row.get(4)?,
                    content_bytes: row.get::<_, i64>(5)? as u64,
                    run: None,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|mut version| {
                version.run = run
                    .query_row(params![source, version.valid_from], |row| row.get(0))
                    .optional()?;
                Ok(version)
            })
            .collect()
    }

    /// One state of a record: the current one, or the newest kept state of
    /// `version` (exit 2 when there is none, naming the kept versions).
    pub fn record_state(
        &self,
        source: &str,
        stream: &str,
        id: &str,
        version: Option<&str>,
    ) -> Result<ExportRecord> {
        let current = self
            .conn
            .query_row(
                &format!(
                    "SELECT {EXPORT_COLUMNS} FROM records WHERE source = ?1 AND stream = ?2 AND id = ?3"
                ),
                params![source, stream, id],
                export_record,
            )
            .optional()?;
        let wanted = |record: &ExportRecord| version.is_none_or(|v| record.version == v);
        if let Some(record) = current.filter(|r| wanted(r)) {
            return Ok(record);
        }
        let kept = self
            .conn
            .query_row(
                &format!(
                    "SELECT {KEPT} FROM record_history
                     WHERE source = ?1 AND stream = ?2 AND record_id = ?3 AND (?4 IS NULL OR version = ?4)
                     ORDER BY id DESC LIMIT 1"
                ),
                params![source, stream, id, version],
                export_record,
            )
            .optional()?;
        kept.ok_or_else(|| {
            let known: Vec<String> = self
                .record_versions(source, stream, id)
                .map(|all| all.into_iter().map(|v| v.version).collect())
                .unwrap_or_default();
            usage(format!(
                "record `{}` has no kept version `{}` (kept: {})",
                Untrusted::clipped(id, 200),
                Untrusted::clipped(version.unwrap_or(""), 200),
                Untrusted::new(&known.join(", "))
            ))
        })
    }

    /// Calls `each` for every record of `source` as it was at `time` (the
    /// store's RFC 3339 UTC format), in stream and id order: the state whose
    /// interval holds `time`. Records written after it and not kept in
    /// history (created later, or beyond the retention) are left out.
    pub fn for_each_record_as_of(
        &self,
        source: &str,
        time: &str,
        mut each: impl FnMut(ExportRecord) -> Result<()>,
    ) -> Result<()> {
        let mut statement = self.conn.prepare(&format!(
            "SELECT {EXPORT_COLUMNS} FROM records
             WHERE source = ?1 AND coalesce(deleted_at, synced_at) <= ?2
             UNION ALL
             SELECT {KEPT} FROM record_history
             WHERE source = ?1 AND valid_from <= ?2 AND valid_to > ?2
             ORDER BY 1, 2"
        ))?;
        let mut rows = statement.query(params![source, time])?;
        while let Some(row) = rows.next()? {
            each(export_record(row)?)?;
        }
        Ok(())
    }
}

/// `text` (RFC 3339, or a date `YYYY-MM-DD` meaning its midnight UTC) as
/// the store writes times; exit 2 otherwise.
pub fn parse_time(text: &str) -> Result<String> {
    let parsed = chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
        })
        .map_err(|_| {
            usage(format!(
                "`{}` is not a time: give RFC 3339 (2026-11-30T08:00:00Z) or a date (2026-11-30)",
                Untrusted::clipped(text, 200)
            ))
        })?;
    Ok(parsed.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{now, PageCommit, RecordRow};

    fn record(id: &str, version: &str, content: &str) -> RecordRow {
        RecordRow {
            id: id.into(),
            version: version.into(),
            updated_at: None,
            parent_id: None,
            title: Some(format!("{id} v{version}")),
            path: None,
            content_type: "text/plain".into(),
            content: Some(content.as_bytes().to_vec()),
            content_hash: Some(super::super::content_hash(content.as_bytes())),
            metadata: "{}".into(),
            blobs: Vec::new(),
            blob_names: None,
        }
    }

    fn write(store: &mut Store, records: Vec<RecordRow>, deleted: Vec<String>) -> String {
        let page = PageCommit {
            records,
            deleted,
            ..PageCommit::default()
        };
        store.commit_page("s", "items", 1, &page).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let time = now();
        std::thread::sleep(std::time::Duration::from_millis(5));
        time
    }

    fn as_of(store: &Store, time: &str) -> Vec<(String, String, bool)> {
        let mut out = Vec::new();
        store
            .for_each_record_as_of("s", time, |r| {
                out.push((r.id, r.version, r.deleted));
                Ok(())
            })
            .unwrap();
        out
    }

    #[test]
    fn versions_are_kept_bounded_and_found_as_of_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let before = now();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let t1 = write(
            &mut store,
            vec![record("a", "1", "one"), record("b", "1", "b")],
            vec![],
        );
        let t2 = write(&mut store, vec![record("a", "2", "two")], vec![]);
        let t3 = write(&mut store, vec![], vec!["a".into()]);
        let t4 = write(&mut store, vec![record("a", "3", "three")], vec![]);

        let versions = store.record_versions("s", "items", "a").unwrap();
        let shown: Vec<(&str, bool)> = versions
            .iter()
            .map(|v| (v.version.as_str(), v.deleted))
            .collect();
        assert_eq!(
            shown,
            [("3", false), ("2", true), ("2", false), ("1", false)]
        );
        assert!(versions[0].valid_to.is_none());
        for pair in versions.windows(2) {
            assert_eq!(
                pair[1].valid_to.as_deref(),
                Some(pair[0].valid_from.as_str())
            );
        }
        assert_eq!(
            store
                .record_state("s", "items", "a", Some("1"))
                .unwrap()
                .content,
            Some(b"one".to_vec())
        );
        assert_eq!(
            store.record_state("s", "items", "a", None).unwrap().version,
            "3"
        );
        let err = store
            .record_state("s", "items", "a", Some("9"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("kept: 3, 2, 2, 1"), "{err}");

        let a = |v: &str, d: bool| ("a".to_string(), v.to_string(), d);
        let b = ("b".to_string(), "1".to_string(), false);
        assert_eq!(as_of(&store, &before), []);
        assert_eq!(as_of(&store, &t1), [a("1", false), b.clone()]);
        assert_eq!(as_of(&store, &t2), [a("2", false), b.clone()]);
        assert_eq!(as_of(&store, &t3), [a("2", true), b.clone()]);
        assert_eq!(as_of(&store, &t4), [a("3", false), b.clone()]);

        // Two versions kept: the oldest goes at once, and as each is kept.
        store.set_history_retention("s", 2, None).unwrap();
        assert_eq!(store.record_versions("s", "items", "a").unwrap().len(), 3);
        write(&mut store, vec![record("a", "4", "four")], vec![]);
        let kept: Vec<String> = store
            .record_versions("s", "items", "a")
            .unwrap()
            .into_iter()
            .map(|v| v.version)
            .collect();
        assert_eq!(kept, ["4", "3", "2"]);
        // Unchanged records (only seen) keep no history.
        assert_eq!(store.record_versions("s", "items", "b").unwrap().len(), 1);
        // None kept.
        store.set_history_retention("s", 0, None).unwrap();
        assert_eq!(store.record_versions("s", "items", "a").unwrap().len(), 1);
    }

    #[test]
    fn times_are_parsed_to_the_store_format() {
        assert_eq!(
            parse_time("2026-11-30").unwrap(),
            "2026-11-30T00:00:00.000Z"
        );
        assert_eq!(
            parse_time("2026-11-30T09:00:00+01:00").unwrap(),
            "2026-11-30T08:00:00.000Z"
        );
        assert!(parse_time("yesterday").is_err());
    }
}
