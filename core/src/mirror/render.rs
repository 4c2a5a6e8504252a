//! Markdown and plain-text mirrors (`export --format markdown|text`): the
//! file of a record in Confluence storage format, and reading an edited
//! Markdown file back (`push --from`).
//!
//! A Markdown file is YAML front matter (`id`, `title`, `version`,
//! `stream`, `parent`, `status`, `labels`; every string double-quoted with
//! everything but printable text escaped, so no value can end the front
//! matter or add a key) and the body as [`crate::markdown`] writes it;
//! attachments' images link to the attachment files beside the page. A
//! text file is the title, a blank line, and the body's text.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{file_key, FileSource, MirrorFile};
use crate::markdown::{self, Links};
use crate::store::reports::MirrorNode;
use crate::untrusted::needs_escape;

/// Media types of Confluence storage format.
const STORAGE_TYPES: &[&str] = &[
    "application/vnd.atlassian.storage+xml",
    "application/vnd.atlassian.confluence.storage+xml",
];

/// Changes whenever the files this module writes change for the same
/// record, so every file of an older rendering is rewritten.
const RENDERING: &str = "synchost-render-1";

/// What kind of mirror a directory is (the manifest says).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Each record's content as it is stored.
    #[default]
    Files,
    /// Storage-format records as Markdown with front matter.
    Markdown,
    /// Storage-format records as plain text.
    Text,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Files => "files",
            Format::Markdown => "markdown",
            Format::Text => "text",
        }
    }

    /// Whether this mirror renders `node` (else it is written as stored).
    pub(super) fn renders(self, node: &MirrorNode) -> bool {
        self != Format::Files && node.content_size > 0 && is_storage(&node.content_type)
    }

    pub(super) fn extension(self) -> &'static str {
        match self {
            Format::Markdown => "md",
            _ => "txt",
        }
    }
}

fn is_storage(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    STORAGE_TYPES
        .iter()
        .any(|known| known.eq_ignore_ascii_case(media))
}

/// What a rendered file is made of besides the record's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub format: Format,
    pub stream: String,
    pub id: String,
    pub title: Option<String>,
    pub version: String,
    pub parent: Option<String>,
    pub status: Option<String>,
    /// Present when the record's metadata has labels.
    pub labels: Option<Vec<String>>,
    content_hash: String,
    /// Attachment file name -> path relative to the page's file.
    pub links: Vec<(String, String)>,
}

impl Page {
    pub(super) fn of(node: &MirrorNode, format: Format) -> Page {
        let metadata: serde_json::Value = serde_json::from_str(&node.metadata).unwrap_or_default();
        let labels = metadata.get("labels").and_then(|l| l.as_array()).map(|l| {
            l.iter()
                .filter_map(|label| label.as_str().map(String::from))
                .collect()
        });
        Page {
            format,
            stream: node.stream.clone(),
            id: node.id.clone(),
            title: node.title.clone(),
            version: node.version.clone(),
            parent: node.parent_id.clone(),
            status: metadata
                .get("status")
                .and_then(|s| s.as_str())
                .map(String::from),
            labels,
            content_hash: node.content_hash.clone().unwrap_or_default(),
            links: Vec::new(),
        }
    }

    /// A hash of everything the file is made of: when it is the one the
    /// manifest has, the file is up to date.
    pub(super) fn key(&self) -> String {
        let inputs = serde_json::json!([
            RENDERING,
            self.format.name(),
            self.stream,
            self.id,
            self.title,
            self.version,
            self.parent,
            self.status,
            self.labels,
            self.content_hash,
            self.links,
        ]);
        hex::encode(Sha256::digest(inputs.to_string()))
    }
}

/// Gives each rendered file the paths of its record's attachments (records
/// that are one blob, whose parent it is), relative to the file, and its
/// key.
pub(super) fn link_attachments(nodes: &[MirrorNode], files: &mut [MirrorFile]) {
    let by_record: std::collections::HashMap<String, &MirrorNode> = nodes
        .iter()
        .map(|n| (file_key(&n.stream, &n.id, None), n))
        .collect();
    let mut by_parent: BTreeMap<&str, Vec<(String, &Path)>> = BTreeMap::new();
    for file in files.iter() {
        let FileSource::Blob(blob) = &file.from else {
            continue;
        };
        let Some(node) = by_record.get(&file.key) else {
            continue;
        };
        if let Some(parent) = node.parent_id.as_deref() {
            let name = node.title.clone().unwrap_or_else(|| blob.name.clone());
            by_parent
                .entry(parent)
                .or_default()
                .push((name, &file.path));
        }
    }
    let links: Vec<Option<Vec<(String, String)>>> = files
        .iter()
        .map(|file| {
            let FileSource::Rendered { page, .. } = &file.from else {
                return None;
            };
            let dir = file.path.parent().unwrap_or(Path::new(""));
            let attachments = by_parent.get(page.id.as_str())?;
            Some(
                attachments
                    .iter()
                    .map(|(name, path)| (name.clone(), relative(dir, path)))
                    .collect(),
            )
        })
        .collect();
    for (file, links) in files.iter_mut().zip(links) {
        if let FileSource::Rendered { hash, page } = &mut file.from {
            if let Some(mut links) = links {
                links.sort();
                links.dedup_by(|a, b| a.0 == b.0);
                page.links = links;
            }
            *hash = page.key();
        }
    }
}

/// `to` relative to the directory `from` (both relative to the mirror),
/// `/`-separated.
fn relative(from: &Path, to: &Path) -> String {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); from.len() - common];
    parts.extend(
        to[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

/// The bytes of a rendered file.
pub(super) fn render(page: &Page, content: &[u8]) -> Vec<u8> {
    let storage = String::from_utf8_lossy(content);
    match page.format {
        Format::Markdown => {
            let mut out = front_matter(page);
            let body = markdown::to_markdown(&storage, &Links::new(page.links.clone()));
            if !body.is_empty() {
                out.push('\n');
                out.push_str(&body);
            }
            out.into_bytes()
        }
        _ => {
            let mut out = page.title.clone().unwrap_or_default();
            out.push_str("\n\n");
            out.push_str(&markdown::to_text(&storage));
            out.into_bytes()
        }
    }
}

fn front_matter(page: &Page) -> String {
    let mut out = String::from("---\n");
    let mut line = |key: &str, value: String| {
        out.push_str(key);
        out.push_str(": ");
        out.push_str(&value);
        out.push('\n');
    };
    let text = |value: &Option<String>| value.as_deref().map_or("null".into(), quoted);
    line("id", quoted(&page.id));
    line("title", text(&page.title));
    line("version", quoted(&page.version));
    line("stream", quoted(&page.stream));
    line("parent", text(&page.parent));
    line("status", text(&page.status));
    if let Some(labels) = &page.labels {
        let labels: Vec<String> = labels.iter().map(|l| quoted(l)).collect();
        line("labels", format!("[{}]", labels.join(", ")));
    }
    out.push_str("---\n");
    out
}

/// A YAML double-quoted scalar: `"` and `\` escaped, and every control,
/// line-breaking or invisible character as `\uXXXX`/`\UXXXXXXXX`.
pub fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) || c == '\u{feff}' => {
                if (c as u32) <= 0xffff {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An edited Markdown file, read back.
#[derive(Debug, PartialEq, Eq)]
pub struct MarkdownFile {
    pub id: Option<String>,
    pub title: Option<String>,
    /// The stream a new file goes to, when its front matter says.
    pub stream: Option<String>,
    /// Present when the front matter has `labels`.
    pub labels: Option<Vec<String>>,
    pub storage: String,
}

/// Longest front matter read, in lines.
const MAX_FRONT_MATTER_LINES: usize = 200;

/// Reads a Markdown file of the mirror: front matter (optional) and body,
/// the body converted to storage format. The error says why, for a user.
pub fn read_markdown(bytes: &[u8], links: &[(String, String)]) -> Result<MarkdownFile, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
    let (fields, body) = split_front_matter(text)?;
    let mut file = MarkdownFile {
        id: None,
        title: None,
        stream: None,
        labels: None,
        storage: String::new(),
    };
    for (key, value) in fields {
        match key {
            "id" => file.id = scalar(value)?,
            "title" => {
                file.title = scalar(value)?;
                if file.title.as_deref().is_some_and(|t| t.trim().is_empty()) {
                    return Err("the front matter's title is empty".into());
                }
            }
            "stream" => file.stream = scalar(value)?,
            "labels" => file.labels = Some(sequence(value)?),
            _ => {}
        }
    }
    file.storage = markdown::to_storage(body, &Links::new(links.iter().cloned()))
        .map_err(|err| format!("cannot convert it to storage format: {err}"))?;
    Ok(file)
}

/// Front matter keys and values, in order.
type Fields<'a> = Vec<(&'a str, String)>;

/// The front matter's `(key, value)` pairs (a block sequence's items as
/// one flow sequence) and the body after it.
fn split_front_matter(text: &str) -> Result<(Fields<'_>, &str), String> {
    let Some(rest) = text.strip_prefix("---\n") else {
        return Ok((Vec::new(), text));
    };
    let mut fields: Vec<(&str, String)> = Vec::new();
    let mut offset = 0;
    for (count, line) in rest.split_inclusive('\n').enumerate() {
        if count > MAX_FRONT_MATTER_LINES {
            break;
        }
        offset += line.len();
        let line = line.trim_end_matches(['\n', '\r']);
        if line == "---" {
            let body = &rest[offset..];
            return Ok((fields, body.strip_prefix('\n').unwrap_or(body)));
        }
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if let Some(item) = line.trim_start().strip_prefix("- ") {
            match fields.last_mut() {
                Some((_, value)) if value.is_empty() || value.starts_with('\u{0}') => {
                    value.push('\u{0}');
                    value.push_str(item.trim());
                }
                _ => {
                    return Err(format!(
                        "front matter: a list item without its key: {line:?}"
                    ))
                }
            }
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(format!("front matter: not `key: value`: {line:?}"));
        };
        let key = key.trim();
        if fields.iter().any(|(k, _)| *k == key) {
            return Err(format!("front matter: `{key}` twice"));
        }
        fields.push((key, value.trim().to_string()));
    }
    Err("the front matter does not end (no `---` line after it)".into())
}

/// A scalar value: double- or single-quoted, `null`/`~`/empty, or plain.
fn scalar(value: String) -> Result<Option<String>, String> {
    let value = value.trim();
    if matches!(value, "" | "null" | "~") {
        return Ok(None);
    }
    if value.starts_with('\u{0}') {
        return Err("front matter: a list where one value belongs".into());
    }
    let (text, rest) = quoted_prefix(value)?;
    if !rest.trim().is_empty() && !rest.trim_start().starts_with('#') {
        return Err(format!(
            "front matter: text after a quoted value: {value:?}"
        ));
    }
    Ok(Some(text))
}

/// A quoted string at the start of `value` and what follows; a plain
/// value (up to a ` #` comment) when it starts with no quote.
fn quoted_prefix(value: &str) -> Result<(String, &str), String> {
    let bad = || format!("front matter: a value that does not end: {value:?}");
    if let Some(inner) = value.strip_prefix('\'') {
        let mut out = String::new();
        let mut chars = inner.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            if c == '\'' {
                if chars.peek().map(|(_, c)| *c) == Some('\'') {
                    chars.next();
                    out.push('\'');
                    continue;
                }
                return Ok((out, &inner[at + 1..]));
            }
            out.push(c);
        }
        return Err(bad());
    }
    let Some(inner) = value.strip_prefix('"') else {
        let plain = value.split(" #").next().unwrap_or_default().trim();
        return Ok((plain.to_string(), ""));
    };
    let mut out = String::new();
    let mut chars = inner.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &inner[at + 1..])),
            '\\' => {
                let (_, e) = chars.next().ok_or_else(bad)?;
                let hex = |n: usize, chars: &mut std::str::CharIndices| -> Result<char, String> {
                    let digits: String = chars.by_ref().take(n).map(|(_, c)| c).collect();
                    u32::from_str_radix(&digits, 16)
                        .ok()
                        .and_then(char::from_u32)
                        .ok_or_else(|| format!("front matter: a bad escape in {value:?}"))
                };
                out.push(match e {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '0' => '\0',
                    '"' | '\\' | '/' | ' ' => e,
                    'x' => hex(2, &mut chars)?,
                    'u' => hex(4, &mut chars)?,
                    'U' => hex(8, &mut chars)?,
                    _ => return Err(format!("front matter: a bad escape in {value:?}")),
                });
            }
            c => out.push(c),
        }
    }
    Err(bad())
}

/// Labels: a flow sequence (`["a", "b"]`, `[a, b]`), a block sequence, or
/// empty.
fn sequence(value: String) -> Result<Vec<String>, String> {
    if let Some(items) = value.strip_prefix('\u{0}') {
        return items
            .split('\u{0}')
            .map(|item| scalar(item.to_string()).map(Option::unwrap_or_default))
            .collect();
    }
    let value = value.trim();
    if matches!(value, "" | "null" | "~") {
        return Ok(Vec::new());
    }
    let Some(mut rest) = value
        .strip_prefix('[')
        .map(str::trim_start)
        .filter(|_| value.trim_end().ends_with(']'))
    else {
        return Err(format!(
            "front matter: labels are not a list (`labels: [\"a\", \"b\"]`): {value:?}"
        ));
    };
    let mut labels = Vec::new();
    loop {
        rest = rest.trim_start();
        if let Some(end) = rest.strip_prefix(']') {
            if end.trim().is_empty() {
                return Ok(labels);
            }
            return Err(format!("front matter: text after the labels: {value:?}"));
        }
        let (label, after) = if rest.starts_with(['"', '\'']) {
            quoted_prefix(rest)?
        } else {
            let end = rest.find([',', ']']).unwrap_or(rest.len());
            (rest[..end].trim().to_string(), &rest[end..])
        };
        labels.push(label);
        rest = after.trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest);
        if rest.is_empty() {
            return Err(format!("front matter: the labels do not end: {value:?}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Page {
        Page {
            format: Format::Markdown,
            stream: "pages".into(),
            id: "42".into(),
            title: Some("Runbook".into()),
            version: "3".into(),
            parent: None,
            status: Some("current".into()),
            labels: Some(vec!["ops".into(), "team-a".into()]),
            content_hash: String::new(),
            links: vec![("d.png".into(), "Runbook/d.png".into())],
        }
    }

    #[test]
    fn front_matter_reads_back_and_hostile_values_stay_values() {
        let mut page = page();
        let rendered = String::from_utf8(render(&page, b"<p>x</p>")).unwrap();
        assert_eq!(
            rendered,
            "---\nid: \"42\"\ntitle: \"Runbook\"\nversion: \"3\"\nstream: \"pages\"\nparent: null\nstatus: \"current\"\nlabels: [\"ops\", \"team-a\"]\n---\n\nx\n"
        );
        for title in [
            "a\"\nid: \"1",
            "---",
            "x\n---\nlabels: [evil]",
            "#hash: 'q' \\ \u{202e}\u{2028}\u{0}\u{e0041}",
            "  spaces  ",
        ] {
            page.title = Some(title.into());
            page.labels = Some(vec![title.into(), "]".into(), "a, b".into()]);
            let bytes = render(&page, b"<p>body</p><p>---</p>");
            let text = String::from_utf8(bytes.clone()).unwrap();
            assert_eq!(text.matches("\n---\n").count(), 1, "{text}");
            let read = read_markdown(&bytes, &page.links).unwrap();
            assert_eq!(read.title.as_deref(), Some(title));
            assert_eq!(read.id.as_deref(), Some("42"));
            assert_eq!(read.labels, page.labels);
            assert_eq!(read.storage, "<p>body</p><p>---</p>");
        }
    }

    #[test]
    fn users_front_matter_edits_are_read_or_refused() {
        let read = |text: &str| read_markdown(text.as_bytes(), &[]);
        let ok = read(
            "---\nid: 7\ntitle: Plain title # comment\nlabels:\n  - a\n  - \"b c\"\n---\nText\n",
        )
        .unwrap();
        assert_eq!(ok.id.as_deref(), Some("7"));
        assert_eq!(ok.title.as_deref(), Some("Plain title"));
        assert_eq!(ok.labels, Some(vec!["a".to_string(), "b c".to_string()]));
        assert_eq!(ok.storage, "<p>Text</p>");
        let flow = read("---\ntitle: 'It''s'\nlabels: [a, 'b', \"c\"]\n---\n").unwrap();
        assert_eq!(flow.title.as_deref(), Some("It's"));
        assert_eq!(flow.labels.unwrap(), ["a", "b", "c"]);
        assert_eq!(
            read("No front matter\n").unwrap().storage,
            "<p>No front matter</p>"
        );
        for bad in [
            "---\ntitle: x\n",
            "---\ntitle: \"open\n---\n",
            "---\ntitle: a\ntitle: b\n---\n",
            "---\nlabels: a, b\n---\n",
            "---\ntitle: \"\"\n---\n",
            "---\njust text\n---\n",
            "---\n- orphan\n---\n",
        ] {
            assert!(read(bad).is_err(), "{bad:?}");
        }
        assert!(read_markdown(&[0xff, 0xfe], &[]).is_err());
    }

    #[test]
    fn relative_paths_climb_where_needed() {
        assert_eq!(relative(Path::new("A"), Path::new("A/B/x.png")), "B/x.png");
        assert_eq!(relative(Path::new(""), Path::new("P/x.png")), "P/x.png");
        assert_eq!(
            relative(Path::new("A/B"), Path::new("C/x.png")),
            "../../C/x.png"
        );
    }
}
