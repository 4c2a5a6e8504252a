//! Response objects to records.

use crate::api::{self, Branch, Comment, CommentKind, Contents, Gh, Issue, Pull, TreeEntry};
use serde_json::{json, Map, Value};
use synchost_sdk::{BlobRef, Record};

/// Files up to this size come inline, fetched by the plugin; larger ones
/// are blobs the host downloads (they never pass through plugin memory).
pub const INLINE_MAX: u64 = 1024 * 1024;

/// Markdown bodies of issues, pulls and comments.
const MARKDOWN: &str = "text/markdown; charset=utf-8";

/// Metadata without nulls.
fn meta(pairs: Vec<(&str, Option<Value>)>) -> Value {
    let map: Map<String, Value> = pairs
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
        .collect();
    Value::Object(map)
}

/// What a tree entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Symlink,
    Submodule,
    /// A tree (directory): never a record.
    Tree,
}

pub fn kind(entry: &TreeEntry) -> Kind {
    match (entry.mode.as_str(), entry.kind.as_str()) {
        ("160000", _) | (_, "commit") => Kind::Submodule,
        ("120000", _) => Kind::Symlink,
        ("040000", _) | (_, "tree") => Kind::Tree,
        _ => Kind::File,
    }
}

/// True when the listing's record for `entry` is partial: a regular file
/// small enough to come inline, which `fetch` reads by blob sha.
pub fn needs_fetch(entry: &TreeEntry, max_bytes: u64) -> bool {
    kind(entry) == Kind::File && entry.size.is_none_or(|s| s <= INLINE_MAX.min(max_bytes))
}

/// The record of a file: id = path, version = blob sha (a submodule's
/// commit), parent = its directory (not a record itself), title = its name.
/// `content` is the file's bytes, for a file [`needs_fetch`] says is read
/// inline; without them such a file's record is partial.
pub fn file(gh: &Gh, entry: &TreeEntry, max_bytes: u64, content: Option<Vec<u8>>) -> Record {
    let (parent, name) = match entry.path.rsplit_once('/') {
        Some((dir, name)) => (Some(dir), name),
        None => (None, entry.path.as_str()),
    };
    let kind = kind(entry);
    let too_large = entry.size.is_some_and(|s| s > max_bytes);
    let type_name = match kind {
        Kind::Submodule => "submodule",
        Kind::Symlink => "symlink",
        Kind::File | Kind::Tree => "file",
    };
    let metadata = meta(vec![
        ("type", Some(type_name.into())),
        ("mode", Some(entry.mode.clone().into())),
        ("size", entry.size.map(Value::from)),
        ("too_large", too_large.then_some(Value::Bool(true))),
    ]);
    let record = Record::new(&entry.path, &entry.sha)
        .title(name)
        .parent(parent)
        .path(entry.path.as_str())
        .metadata_json(metadata);
    match (kind, content) {
        // Text is UTF-8 without a NUL in its first 8000 bytes (git's test).
        (Kind::File, Some(bytes)) if bytes.iter().take(8000).any(|&b| b == 0) => {
            record.content(bytes, "application/octet-stream")
        }
        (Kind::File, Some(bytes)) => match String::from_utf8(bytes) {
            Ok(text) => record.content_text(text),
            Err(e) => record.content(e.into_bytes(), "application/octet-stream"),
        },
        (Kind::File, None) if !too_large && !needs_fetch(entry, max_bytes) => {
            record.content(Vec::new(), "").blob(
                BlobRef::new(
                    name,
                    gh.blob_url(&entry.sha),
                    "application/octet-stream",
                    &entry.sha,
                )
                .header("accept", api::RAW)
                .size(entry.size),
            )
        }
        (Kind::File, None) if !too_large => record,
        // Submodules, symlinks and files over `max_file_mb`: metadata only.
        _ => record.content(Vec::new(), ""),
    }
}

/// The record of a file as a full listing of `commit` gives it: like
/// [`file`], but a regular file's content is its member of the commit's
/// tarball (`tarball_url`), which the host downloads once for the whole
/// listing, so files cost no request each.
pub fn archived_file(gh: &Gh, entry: &TreeEntry, max_bytes: u64, tarball_url: &str) -> Record {
    let record = file(gh, entry, max_bytes, None);
    if kind(entry) != Kind::File || entry.size.is_some_and(|s| s > max_bytes) {
        return record;
    }
    let name = entry.path.rsplit('/').next().unwrap_or(&entry.path);
    let mut record = record.content(Vec::new(), "");
    record.blobs = vec![
        BlobRef::new(name, tarball_url, "application/octet-stream", &entry.sha)
            .member(entry.path.as_str())
            .size(entry.size),
    ];
    record
}

/// A `GET /contents` answer as a tree entry and, for a small file, its bytes.
pub fn contents_entry(c: Contents) -> Result<(TreeEntry, Option<Vec<u8>>), String> {
    let (mode, kind) = match c.kind.as_str() {
        "file" => ("100644", "blob"),
        "symlink" => ("120000", "blob"),
        "submodule" => ("160000", "commit"),
        other => return Err(format!("`{}` is a {other}, not a file", c.path)),
    };
    let bytes = match (&c.content, c.encoding.as_deref()) {
        (Some(text), Some("base64")) if kind == "blob" && !text.is_empty() => {
            Some(api::decode_base64(text)?)
        }
        (Some(text), Some("base64")) if c.size == Some(0) => Some(api::decode_base64(text)?),
        _ => None,
    };
    let entry = TreeEntry {
        path: c.path,
        mode: mode.into(),
        kind: kind.into(),
        sha: c.sha,
        size: c.size,
    };
    Ok((entry, bytes))
}

fn branch(b: &Branch) -> Value {
    meta(vec![
        ("ref", Some(b.name.clone().into())),
        ("sha", Some(b.sha.clone().into())),
        ("label", b.label.clone().map(Value::from)),
    ])
}

pub fn issue(i: Issue) -> Record {
    let labels = i
        .labels
        .map(|ls| Value::from(ls.into_iter().map(|l| l.name).collect::<Vec<_>>()));
    let metadata = meta(vec![
        ("state", i.state.map(Value::from)),
        ("labels", labels),
        ("user", i.user.map(|u| u.login.into())),
        ("comments", i.comments.map(Value::from)),
        ("created_at", i.created_at.map(Value::from)),
        ("closed_at", i.closed_at.map(Value::from)),
        ("html_url", i.html_url.map(Value::from)),
    ]);
    Record::new(i.number.to_string(), &i.updated_at)
        .title(i.title)
        .updated_at(i.updated_at)
        .content(i.body.unwrap_or_default().into_bytes(), MARKDOWN)
        .metadata_json(metadata)
}

pub fn pull(p: Pull) -> Record {
    let metadata = meta(vec![
        ("state", Some(p.state.into())),
        ("merged", Some(p.merged_at.is_some().into())),
        ("merged_at", p.merged_at.map(Value::from)),
        ("draft", p.draft.map(Value::from)),
        ("head", Some(branch(&p.head))),
        ("base", Some(branch(&p.base))),
        ("user", p.user.map(|u| u.login.into())),
        ("created_at", p.created_at.map(Value::from)),
        ("closed_at", p.closed_at.map(Value::from)),
        ("html_url", p.html_url.map(Value::from)),
    ]);
    Record::new(p.number.to_string(), &p.updated_at)
        .title(p.title)
        .updated_at(p.updated_at)
        .content(p.body.unwrap_or_default().into_bytes(), MARKDOWN)
        .metadata_json(metadata)
}

/// A comment's record id: `issue-ID` or `review-ID` (the two kinds number
/// their ids apart).
pub fn comment_id(kind: CommentKind, id: u64) -> String {
    match kind {
        CommentKind::Issue => format!("issue-{id}"),
        CommentKind::Review => format!("review-{id}"),
    }
}

/// The kind and GitHub id in a comment's record id.
pub fn parse_comment_id(id: &str) -> Option<(CommentKind, u64)> {
    let (kind, number) = id.split_once('-')?;
    let kind = match kind {
        "issue" => CommentKind::Issue,
        "review" => CommentKind::Review,
        _ => return None,
    };
    Some((kind, number.parse().ok()?))
}

/// A comment: parent = the issue or pull request number.
pub fn comment(kind: CommentKind, c: Comment) -> Record {
    let parent = c.parent_number().map(|n| n.to_string());
    let metadata = meta(vec![
        (
            "kind",
            Some(json!(match kind {
                CommentKind::Issue => "issue",
                CommentKind::Review => "review",
            })),
        ),
        ("user", c.user.map(|u| u.login.into())),
        ("created_at", c.created_at.map(Value::from)),
        ("html_url", c.html_url.map(Value::from)),
        ("path", c.path.map(Value::from)),
        ("commit_id", c.commit_id.map(Value::from)),
        ("in_reply_to_id", c.in_reply_to_id.map(Value::from)),
    ]);
    Record::new(comment_id(kind, c.id), &c.updated_at)
        .parent(parent)
        .updated_at(c.updated_at)
        .content(c.body.unwrap_or_default().into_bytes(), MARKDOWN)
        .metadata_json(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_or_bytes() {
        let gh = Gh::new("https://api.github.com", "o", "r");
        let entry = TreeEntry {
            path: "a/b.txt".into(),
            mode: "100644".into(),
            kind: "blob".into(),
            sha: "0000000000000000000000000000000000000001".into(),
            size: Some(3),
        };
        let file = |bytes: &[u8]| file(&gh, &entry, 1 << 20, Some(bytes.to_vec())).content_type;
        assert_eq!(file(b"h\xc3\xa9"), "text/plain; charset=utf-8");
        assert_eq!(file(b"\0\x01binary"), "application/octet-stream");
        assert_eq!(file(&[0xff, 0xfe]), "application/octet-stream");
        let r = super::file(&gh, &entry, 1 << 20, None);
        assert!(!r.is_complete(), "small files are fetched");
        let tiny_limit = super::file(&gh, &entry, 2, None);
        assert!(tiny_limit.is_complete() && tiny_limit.blobs.is_empty());
    }
}
