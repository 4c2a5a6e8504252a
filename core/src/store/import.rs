//! `synchost import`: a source's records restored from the JSON lines of
//! `synchost export`, all in one transaction.
//!
//! The lines are checked as a pull checks a plugin's records (bounded ids
//! and versions, metadata JSON, a content hash that matches the content),
//! and any bad line refuses the whole import: the store is left as it was.
//! The restored streams have no watermark, so the next pull enumerates
//! everything once: it refetches only what changed (versions are compared),
//! and tombstones what the remote no longer has.

use std::collections::HashSet;
use std::io::BufRead;

use anyhow::Result;
use base64::Engine as _;
use rusqlite::params;
use serde::Deserialize;

use super::reports::ExportRecord;
use super::{content_hash, now, Store};
use crate::checks;
use crate::error::usage;
use crate::untrusted::{needs_escape, Untrusted};

/// Bad lines named in the error, at most (the count says how many more).
const SHOWN_ERRORS: usize = 10;

/// One line of `synchost export` (see `host/src/cli/export.rs`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    stream: String,
    id: String,
    version: String,
    updated_at: Option<String>,
    parent_id: Option<String>,
    title: Option<String>,
    path: Option<String>,
    content_type: String,
    content_hash: Option<String>,
    metadata: serde_json::Value,
    deleted: bool,
    content: Option<String>,
    content_encoding: Option<String>,
}

/// What an import wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub records: u64,
    pub tombstones: u64,
    pub streams: u64,
}

impl Store {
    /// Restores `source` from export lines read from `input`, in one
    /// transaction. Refused (exit 2, nothing written) when the store already
    /// has the source, when there is no record, or when any line is bad: the
    /// error names the first [`SHOWN_ERRORS`] bad lines by number.
    pub fn import(&mut self, source: &str, input: impl BufRead) -> Result<ImportSummary> {
        let known: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM streams WHERE source = ?1)
                 OR EXISTS (SELECT 1 FROM records WHERE source = ?1)",
            params![source],
            |row| row.get(0),
        )?;
        if known {
            return Err(usage(format!(
                "the store already has source `{}`: import restores a source into a store \
                 without it (pass --store NEW.db, or import under another name)",
                Untrusted::clipped(source, 200)
            )));
        }
        let now = now();
        let tx = self.conn.transaction()?;
        let mut summary = ImportSummary::default();
        let mut errors = Vec::new();
        let mut error_count = 0usize;
        let mut streams = HashSet::new();
        {
            let mut insert = tx.prepare(
                "INSERT INTO records (source, stream, id, version, updated_at, parent_id, title,
                                      path, content_type, content, content_hash, metadata,
                                      seen_generation, synced_at, deleted_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 0, ?13, ?14)
                 ON CONFLICT (source, stream, id) DO NOTHING",
            )?;
            let mut add_stream = tx.prepare(
                "INSERT INTO streams (source, stream) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            )?;
            for (index, line) in input.lines().enumerate() {
                let number = index + 1;
                let line = line.map_err(|err| {
                    usage(format!("cannot read line {number} of the input: {err}"))
                })?;
                if line.trim().is_empty() {
                    continue;
                }
                let row = match parse_line(&line) {
                    Ok(row) => row,
                    Err(why) => {
                        error_count += 1;
                        if errors.len() < SHOWN_ERRORS {
                            errors.push(format!("line {number}: {why}"));
                        }
                        continue;
                    }
                };
                let deleted_at = row.deleted.then_some(now.as_str());
                let inserted = insert.execute(params![
                    source,
                    row.stream,
                    row.id,
                    row.version,
                    row.updated_at,
                    row.parent_id,
                    row.title,
                    row.path,
                    row.content_type,
                    row.content,
                    row.content_hash,
                    row.metadata,
                    now,
                    deleted_at
                ])?;
                if inserted == 0 {
                    error_count += 1;
                    if errors.len() >= SHOWN_ERRORS {
                        continue;
                    }
                    errors.push(format!(
                        "line {number}: record `{}` of stream `{}` appears twice",
                        Untrusted::clipped(&row.id, 200),
                        Untrusted::clipped(&row.stream, 200)
                    ));
                    continue;
                }
                if row.deleted {
                    summary.tombstones += 1;
                } else {
                    summary.records += 1;
                }
                if streams.insert(row.stream.clone()) {
                    add_stream.execute(params![source, row.stream])?;
                }
            }
        }
        if error_count > 0 {
            let more = error_count.saturating_sub(errors.len());
            let mut message = format!(
                "nothing imported: {error_count} bad line(s) in the input:\n  {}",
                errors.join("\n  ")
            );
            if more > 0 {
                message.push_str(&format!("\n  … and {more} more"));
            }
            return Err(usage(message)); // The transaction is rolled back.
        }
        if streams.is_empty() {
            return Err(usage(
                "nothing imported: the input holds no records (expected the JSON lines of \
                 `synchost export SOURCE`)",
            ));
        }
        tx.commit()?;
        summary.streams = streams.len() as u64;
        Ok(summary)
    }
}

/// One export line, checked; the error says what is wrong with it.
fn parse_line(line: &str) -> std::result::Result<ExportRecord, String> {
    let line: Line = serde_json::from_str(line).map_err(|err| {
        // The line number is ours; serde's position is within the line.
        let text = err.to_string();
        let position = format!(" at line {} column {}", err.line(), err.column());
        let message = text.strip_suffix(&position).unwrap_or(&text);
        format!(
            "not a record of `synchost export`: {} (column {})",
            Untrusted::new(message),
            err.column()
        )
    })?;
    let stream_ok = !line.stream.is_empty()
        && line.stream.len() <= checks::MAX_MANIFEST_NAME_BYTES
        && !line.stream.chars().any(needs_escape);
    if !stream_ok {
        return Err(format!(
            "stream `{}` is empty, too long or holds control characters",
            Untrusted::clipped(&line.stream, 80)
        ));
    }
    // Stored metadata is compact JSON text; `export` writes it parsed.
    let metadata = line.metadata.to_string();
    checks::record(&line.id, &line.version, &metadata)?;
    let content = match (line.content, line.content_encoding.as_deref()) {
        (None, None) => None,
        (Some(text), None) => Some(text.into_bytes()),
        (Some(text), Some("base64")) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(text.as_bytes())
                .map_err(|err| format!("content is not base64: {err}"))?,
        ),
        (None, Some(_)) => return Err("content_encoding without content".into()),
        (Some(_), Some(other)) => {
            return Err(format!(
                "content_encoding `{}` is not base64",
                Untrusted::clipped(other, 80)
            ))
        }
    };
    let computed = content.as_deref().map(content_hash);
    if line.content_hash.is_some() && line.content_hash != computed {
        return Err(format!(
            "content_hash does not match the content of record `{}` (the line is damaged)",
            Untrusted::clipped(&line.id, 200)
        ));
    }
    Ok(ExportRecord {
        stream: line.stream,
        id: line.id,
        version: line.version,
        updated_at: line.updated_at,
        parent_id: line.parent_id,
        title: line.title,
        path: line.path,
        content_type: line.content_type,
        content,
        content_hash: computed,
        metadata,
        deleted: line.deleted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, extra: &str) -> String {
        format!(
            r#"{{"stream":"items","id":"{id}","version":"1","updated_at":null,"parent_id":null,"title":"T","path":null,"content_type":"text/plain","content_hash":null,"metadata":{{"a":1}},"deleted":false,"content":"hi"{extra}}}"#
        )
    }

    fn count(store: &Store) -> i64 {
        store
            .conn
            .query_row("SELECT count(*) FROM records", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn bad_lines_are_named_and_nothing_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let input = [
            line("a", ""),
            line("b", r#","content_encoding":"base64""#),
            "{not json".to_string(),
            line("a", ""),
            line("c", r#","extra":1"#),
        ]
        .join("\n");
        let err = store
            .import("src", input.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("4 bad line(s)"), "{err}");
        for n in [
            "line 2: content is not base64",
            "line 3: not a record of `synchost export`: key must be a string (column 2)",
            "line 4: record `a` of stream `items` appears twice",
            "line 5: not a record",
        ] {
            assert!(err.contains(n), "{n}: {err}");
        }
        assert_eq!(count(&store), 0);
        assert!(!store.has_source("src").unwrap());

        let good = format!("{}\n\n{}\n", line("a", ""), line("b", ""));
        let summary = store.import("src", good.as_bytes()).unwrap();
        assert_eq!(
            summary,
            ImportSummary {
                records: 2,
                tombstones: 0,
                streams: 1
            }
        );
        let err = store
            .import("src", good.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("already has source `src`"), "{err}");
        assert_eq!(count(&store), 2);
    }

    #[test]
    fn binary_content_and_tombstones_are_restored() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let binary = line("a", r#","content_encoding":"base64""#).replace("\"hi\"", "\"/wAQ\"");
        let gone = line("b", "").replace("\"deleted\":false", "\"deleted\":true");
        let input = format!("{binary}\n{gone}\n");
        let summary = store.import("src", input.as_bytes()).unwrap();
        assert_eq!(
            summary,
            ImportSummary {
                records: 1,
                tombstones: 1,
                streams: 1
            }
        );
        let mut seen = Vec::new();
        store
            .for_each_record("src", |r| {
                seen.push((r.id, r.content, r.content_hash, r.metadata, r.deleted));
                Ok(())
            })
            .unwrap();
        let bytes = vec![0xff, 0x00, 0x10];
        assert_eq!(seen[0].1.as_deref(), Some(&bytes[..]));
        assert_eq!(seen[0].2, Some(content_hash(&bytes)));
        assert_eq!(seen[0].3, r#"{"a":1}"#);
        assert!(!seen[0].4 && seen[1].4);
    }

    #[test]
    fn duplicates_and_damaged_hashes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let twice = format!("{}\n{}\n", line("a", ""), line("a", ""));
        let err = store
            .import("src", twice.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2: record `a` of stream `items` appears twice"),
            "{err}"
        );
        let damaged = line("a", "").replace(r#""content_hash":null"#, r#""content_hash":"00""#);
        let err = store
            .import("src", damaged.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1: content_hash does not match"), "{err}");
        let err = store
            .import("src", "\n".as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("no records"), "{err}");
        assert_eq!(count(&store), 0);
    }
}
