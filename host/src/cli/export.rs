//! `synchost export`.

use std::io::Write;

use anyhow::Result;
use base64::Engine as _;
use clap::{Args, ValueEnum};
use serde_json::{json, Value};

use super::Global;
use crate::mirror::{write_mirror, Format as MirrorFormat};
use crate::store::history::parse_time;
use crate::store::reports::ExportRecord;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The source to export.
    source: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
    /// For `--format files`, `markdown` or `text`: the mirror directory
    /// (created if missing).
    #[arg(
        long,
        value_name = "DIR",
        required_if_eq_any([("format", "files"), ("format", "markdown"), ("format", "text")])
    )]
    out: Option<std::path::PathBuf>,
    /// JSON lines of the records as they were at TIME (RFC 3339, or a date
    /// for its midnight UTC), from the kept history (docs/operations.md).
    #[arg(long, value_name = "TIME", conflicts_with = "out")]
    as_of: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    /// One JSON object per record (tombstones included, with "deleted": true).
    Jsonl,
    /// A directory tree following the records' parent links (`--out DIR`);
    /// reruns rewrite only what changed and follow moves and deletions.
    Files,
    /// Like files, with pages and blog posts in Confluence storage format
    /// as Markdown with YAML front matter (`push --from DIR` reads edits
    /// back); other records as in files.
    Markdown,
    /// Like files, with pages and blog posts as plain text, for indexing.
    Text,
}

pub fn run(global: &Global, args: ExportArgs) -> Result<()> {
    let config = global.config()?;
    let store = Store::open_existing(&config.store_path(global.store.as_deref()))?;
    store.require_source(&args.source)?;
    if let Some(dir) = &args.out {
        config
            .check_mirrors(&format!("export --out {}", dir.display()))
            .inspect_err(|err| {
                let policy = config.policy.as_deref();
                crate::sync::audit::record(&store, "export", &args.source, None, policy, err)
            })?;
    }
    let mirror = match args.format {
        Format::Jsonl => None,
        Format::Files => Some(MirrorFormat::Files),
        Format::Markdown => Some(MirrorFormat::Markdown),
        Format::Text => Some(MirrorFormat::Text),
    };
    if let (Some(format), Some(dir)) = (mirror, &args.out) {
        let report = write_mirror(&store, &args.source, dir, format)?;
        for warning in &report.warnings {
            eprintln!("warning: {warning}");
        }
        eprintln!(
            "Mirror of {} in {}: {} written, {} moved, {} removed, {} unchanged",
            args.source,
            dir.display(),
            report.written,
            report.moved,
            report.removed,
            report.unchanged
        );
        return Ok(());
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let write = |record| -> Result<()> {
        serde_json::to_writer(&mut out, &to_json(record))?;
        out.write_all(b"\n")?;
        Ok(())
    };
    let written = match &args.as_of {
        Some(time) => store.for_each_record_as_of(&args.source, &parse_time(time)?, write),
        None => store.for_each_record(&args.source, write),
    }
    .and_then(|()| Ok(out.flush()?));
    match written {
        // `synchost export x | head` is a normal way to peek: stop quietly.
        Err(err) if is_broken_pipe(&err) => Ok(()),
        other => other,
    }
}

pub(super) fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let kind = cause
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            .or_else(|| {
                cause
                    .downcast_ref::<serde_json::Error>()
                    .and_then(serde_json::Error::io_error_kind)
            });
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}

/// Text content stays text; anything else is base64 with `content_encoding`.
pub(super) fn to_json(record: ExportRecord) -> Value {
    let metadata: Value =
        serde_json::from_str(&record.metadata).unwrap_or(Value::String(record.metadata));
    let mut object = json!({
        "stream": record.stream,
        "id": record.id,
        "version": record.version,
        "updated_at": record.updated_at,
        "parent_id": record.parent_id,
        "title": record.title,
        "path": record.path,
        "content_type": record.content_type,
        "content_hash": record.content_hash,
        "metadata": metadata,
        "deleted": record.deleted,
    });
    let content = match record.content {
        None => Value::Null,
        Some(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Value::String(text),
            Err(err) => {
                object["content_encoding"] = json!("base64");
                Value::String(base64::engine::general_purpose::STANDARD.encode(err.into_bytes()))
            }
        },
    };
    object["content"] = content;
    object
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(content: &[u8]) -> ExportRecord {
        ExportRecord {
            stream: "items".into(),
            id: "a".into(),
            version: "1".into(),
            updated_at: None,
            parent_id: None,
            title: Some("A".into()),
            path: None,
            content_type: "text/plain".into(),
            content: Some(content.to_vec()),
            content_hash: None,
            metadata: "{\"tags\":[\"x\"]}".into(),
            deleted: false,
        }
    }

    #[test]
    fn text_stays_text_and_binary_is_base64() {
        let text = to_json(record(b"hello"));
        assert_eq!(text["content"], "hello");
        assert!(text.get("content_encoding").is_none());
        assert_eq!(text["metadata"]["tags"][0], "x");
        let binary = to_json(record(&[0xff, 0x00, 0x10]));
        assert_eq!(binary["content_encoding"], "base64");
        assert_eq!(binary["content"], "/wAQ");
    }
}
