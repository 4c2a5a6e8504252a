//! What the user changed in a mirror since the export: `synchost push
//! SOURCE --from DIR`.
//!
//! [`find_edits`] compares the directory with the manifest and writes
//! nothing:
//! - a record's content file whose bytes differ from the manifest's hash is
//!   an **update** based on the version it was exported (or last pushed) at;
//! - a new regular file named `Title.ext` (`ext` one the mirror gives
//!   content files) in a record's folder is a **create** below that record,
//!   at the mirror's root, or in a directory of parentless records placed
//!   by their path hints, a create without parent; its title is the name
//!   as typed, without the extension;
//! - a content file that is gone is a **delete**;
//! - everything else that changed is **refused** with its reason and left
//!   alone: symbolic links (never followed, never read), other non-regular
//!   files, files over the size limit, edited or removed attachments, a file
//!   that looks moved or renamed (its bytes are those of a removed file),
//!   new files outside a record's folder or not named like content.
//!
//! In a Markdown mirror ([`Format::Markdown`]) an edited or new `.md` file
//! is converted back to storage format ([`read_markdown`]): the change
//! carries the storage XML, and the front matter's title and labels (and,
//! for a new file, its `stream`, e.g. `blogposts`); a
//! file that does not convert is refused and left as it is. A plain-text
//! mirror is for reading only.
//!
//! Dot-names (the manifest, temporary files, `.git`, editors' swap files)
//! are not looked at. After the push engine applied changes,
//! [`record_pushed`] writes them into the manifest, so the next
//! [`find_edits`] finds nothing and the next export rewrites normally.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use super::names::folded;
use super::{
    file_key, read_manifest, read_markdown, regular_file, resolve, unsafe_name, write_atomically,
    Entry, FileKind, Folder, Format, Manifest, Root, CONTENT_EXTENSIONS, MANIFEST, MAX_DEPTH,
    MAX_PATH_BYTES,
};
use crate::error::usage;
use crate::untrusted::Untrusted;

/// Most directory entries one walk of a mirror looks at.
pub const MAX_FILES: usize = 100_000;

/// What changed in a mirror, each list sorted by path.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MirrorEdits {
    pub updates: Vec<Update>,
    pub creates: Vec<Create>,
    pub deletes: Vec<Delete>,
    pub refused: Vec<Refused>,
    /// Already escaped.
    pub warnings: Vec<String>,
}

/// An edited content file: the record's new content (its title unchanged).
/// Paths are relative to the mirror, `/`-separated, as found on disk:
/// print them through [`Untrusted`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub path: String,
    pub stream: String,
    pub record_id: String,
    /// The version the file was exported at; `None` when the manifest
    /// predates versions (the stored version is the base then).
    pub base_version: Option<String>,
    pub content: Vec<u8>,
    /// SHA-256 of `content` (hex), for [`PushedFile::Updated`].
    pub hash: String,
    /// From a Markdown file's front matter: the title and labels it has
    /// (the caller compares them with the record's).
    pub title: Option<String>,
    pub labels: Option<Vec<String>>,
}

/// A new content file: a new record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Create {
    pub path: String,
    /// The parent record's stream (or the front matter's, in a Markdown
    /// mirror); at the root, the stream of the root's content files if they
    /// share one, else `None` (the caller chooses).
    pub stream: Option<String>,
    /// The stream of the content files beside it, if they share one: for
    /// a parent whose stream takes no pushes (a Confluence folder), the
    /// stream its children are in.
    pub sibling_stream: Option<String>,
    pub parent_id: Option<String>,
    /// The file name as typed, without its extension.
    pub title: String,
    /// The extension (`html`, `md`, ...), which tells the content's format.
    pub extension: String,
    pub content: Vec<u8>,
    /// SHA-256 of `content` (hex), for [`PushedFile::Created`].
    pub hash: String,
    /// From a Markdown file's front matter.
    pub labels: Option<Vec<String>>,
}

/// A content file that was removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    pub path: String,
    pub stream: String,
    pub record_id: String,
    pub base_version: Option<String>,
}

/// A change found in the mirror that will not be pushed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// As found on disk (lossy when not UTF-8).
    pub path: String,
    pub reason: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}",
            Untrusted::clipped(&self.path, 600),
            self.reason
        )
    }
}

/// A change from the mirror that the remote applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushedFile {
    /// An [`Update`]: `hash` is the pushed content's ([`Update::hash`]).
    Updated {
        path: String,
        version: String,
        hash: String,
    },
    /// A [`Create`], with the record the remote made.
    Created {
        path: String,
        stream: String,
        id: String,
        version: String,
        hash: String,
    },
    /// A [`Delete`].
    Deleted { path: String },
}

/// What changed in the mirror `dir` of `source` since it was exported (or
/// last pushed from). Reads files of at most `max_bytes` (the source's
/// content limit) and writes nothing. Errors: no manifest, a manifest of
/// another source, more than [`MAX_FILES`] entries.
pub fn find_edits(dir: &Path, source: &str, max_bytes: u64) -> Result<MirrorEdits> {
    let mut edits = MirrorEdits::default();
    let manifest = read_manifest(dir, source, &mut edits.warnings)?.ok_or_else(|| {
        usage(format!(
            "{} is not a mirror (no {MANIFEST}): run `synchost export {source} --format files --out DIR` first",
            dir.display()
        ))
    })?;
    if manifest.format == Format::Text {
        return Err(usage(format!(
            "{} is a plain-text mirror, for reading and indexing: push from a Markdown mirror (`synchost export {source} --format markdown --out DIR`) or a files mirror",
            dir.display()
        )));
    }
    let markdown = manifest.format == Format::Markdown;
    let mut walk = Walk::of(dir, MAX_FILES)?;
    edits.refused.append(&mut walk.refused);

    // Files the manifest names: edited, unchanged, or gone.
    let mut gone_by_hash: HashMap<&str, usize> = HashMap::new();
    let mut unversioned = 0;
    for (key, entry) in &manifest.entries {
        let Some(record) = Owner::of(key, entry) else {
            edits.warnings.push(format!(
                "ignored manifest entry {}: not a record's key",
                Untrusted::clipped(key, 200)
            ));
            continue;
        };
        let path = entry.path.as_str();
        let refuse = |reason: String| Refused {
            path: path.to_string(),
            reason,
        };
        if let Some(found) = walk.files.remove(path) {
            match record.kind {
                FileKind::Content => match read_checked(dir, path, &found, max_bytes) {
                    Ok(content) => {
                        let hash = sha256(&content);
                        if hash == entry.hash {
                            continue;
                        }
                        let mut update = Update {
                            path: path.to_string(),
                            stream: record.stream,
                            record_id: record.id,
                            base_version: entry.version.clone(),
                            content,
                            hash,
                            title: None,
                            labels: None,
                        };
                        if markdown && entry.from.is_some() {
                            if let Err(why) = from_markdown(&mut update, &entry.links) {
                                edits.refused.push(refuse(why));
                                continue;
                            }
                        }
                        unversioned += usize::from(entry.version.is_none());
                        edits.updates.push(update);
                    }
                    Err(why) => edits.refused.push(refuse(why)),
                },
                FileKind::Blob => match hash_checked(dir, path, &found) {
                    Ok(hash) if hash != entry.hash => edits.refused.push(refuse(
                        "an edited attachment: pushing attachments is not supported yet; the file is left as it is".into(),
                    )),
                    Ok(_) => {}
                    Err(why) => edits.refused.push(refuse(why)),
                },
            }
        } else if walk.blocked.contains_key(path) {
            // Refused as the walk found it.
        } else if let Some(why) = walk.blocked(path) {
            edits.refused.push(refuse(why));
        } else if record.kind == FileKind::Blob {
            edits.refused.push(refuse(
                "a removed attachment: removing attachments is not supported yet".into(),
            ));
        } else {
            unversioned += usize::from(entry.version.is_none());
            gone_by_hash.insert(entry.hash.as_str(), edits.deletes.len());
            edits.deletes.push(Delete {
                path: path.to_string(),
                stream: record.stream,
                record_id: record.id,
                base_version: entry.version.clone(),
            });
        }
    }
    if unversioned > 0 {
        edits.warnings.push(format!(
            "{unversioned} edited or removed file(s) come from an export made before push: each is based on the version stored now (export again to record versions)"
        ));
    }

    // Files the manifest does not name: new.
    let siblings = sibling_streams(&manifest);
    let mut taken: HashSet<String> = manifest
        .entries
        .values()
        .map(|entry| folded(&entry.path))
        .collect();
    let mut moved = Vec::new();
    for (path, found) in std::mem::take(&mut walk.files) {
        let refuse = |reason: String| Refused {
            path: path.clone(),
            reason,
        };
        let (folder, name) = match path.rsplit_once('/') {
            Some((folder, name)) => (Some(folder), name),
            None => (None, path.as_str()),
        };
        let parent = match folder {
            None => None,
            Some(folder) => match manifest.folders.get(folder) {
                Some(Folder {
                    attachment: true, ..
                }) => {
                    edits.refused.push(refuse(
                        "a new file in an attachment's folder: only pages can have children".into(),
                    ));
                    continue;
                }
                Some(owner) => Some(owner),
                // A directory of a path hint (Confluence's `Blog/2026/11`):
                // no parent, in the stream of the files there.
                None if siblings.get(folder).is_some_and(Option::is_some) => None,
                None => {
                    edits.refused.push(refuse(
                        "a new file outside any record's folder: its parent is unknown (push its parent first, then push again)".into(),
                    ));
                    continue;
                }
            },
        };
        if let Some(why) = unsafe_name(name) {
            edits.refused.push(refuse(format!(
                "a name the mirror cannot hold ({why}): rename the file"
            )));
            continue;
        }
        // Another file of the same name on a case- or normalization-
        // insensitive file system: the manifest could not tell them apart.
        if !taken.insert(folded(&path)) {
            edits.refused.push(refuse(
                "another file has this name but for case or Unicode normalization: rename the file"
                    .into(),
            ));
            continue;
        }
        let Some((title, extension)) = content_name(name) else {
            edits.refused.push(refuse(format!(
                "a new file not named like a page ({}): new attachments are not supported yet",
                content_names()
            )));
            continue;
        };
        let content = match read_checked(dir, &path, &found, max_bytes) {
            Ok(content) => content,
            Err(why) => {
                edits.refused.push(refuse(why));
                continue;
            }
        };
        let mut hash = sha256(&content);
        if let Some(&index) = gone_by_hash.get(hash.as_str()) {
            moved.push((index, path.clone()));
            continue;
        }
        let sibling_stream = siblings.get(folder.unwrap_or("")).cloned().flatten();
        let mut stream = match parent {
            Some(owner) => Some(owner.stream.clone()),
            None => sibling_stream.clone(),
        };
        let (mut title, mut content, mut labels) = (title.to_string(), content, None);
        if markdown && extension.eq_ignore_ascii_case("md") {
            match read_markdown(&content, &[]) {
                Ok(file) if file.id.is_some() => {
                    edits.refused.push(refuse(format!(
                        "a new file with the front matter of record {} (a copy?): remove its `id` line to create a new page",
                        Untrusted::clipped(file.id.as_deref().unwrap_or_default(), 100)
                    )));
                    continue;
                }
                Ok(file) => {
                    title = file.title.unwrap_or(title);
                    stream = file.stream.or(stream);
                    labels = file.labels;
                    content = file.storage.into_bytes();
                    hash = sha256(&content);
                }
                Err(why) => {
                    edits
                        .refused
                        .push(refuse(format!("{why}; the file is left as it is")));
                    continue;
                }
            }
        }
        edits.creates.push(Create {
            stream,
            sibling_stream,
            parent_id: parent.map(|owner| owner.id.clone()),
            title,
            extension: extension.to_string(),
            content,
            hash,
            labels,
            path,
        });
    }

    // A removed file whose bytes reappear elsewhere was moved or renamed:
    // neither a delete nor a create.
    let mut moved_from: HashSet<usize> = HashSet::new();
    for (index, to) in moved {
        let from = &edits.deletes[index].path;
        let reason = format!(
            "looks moved or renamed from {} (same content): moves and renames are not supported yet; put it back",
            Untrusted::clipped(from, 300)
        );
        edits.refused.push(Refused {
            path: from.clone(),
            reason: format!(
                "moved or renamed to {}: not pushed",
                Untrusted::clipped(&to, 300)
            ),
        });
        edits.refused.push(Refused { path: to, reason });
        moved_from.insert(index);
    }
    let mut index = 0;
    edits.deletes.retain(|_| {
        index += 1;
        !moved_from.contains(&(index - 1))
    });

    edits.updates.sort_by(|a, b| a.path.cmp(&b.path));
    edits.creates.sort_by(|a, b| a.path.cmp(&b.path));
    edits.deletes.sort_by(|a, b| a.path.cmp(&b.path));
    edits
        .refused
        .sort_by(|a, b| (&a.path, &a.reason).cmp(&(&b.path, &b.reason)));
    edits.refused.dedup();
    Ok(edits)
}

/// Writes changes the remote applied into the manifest of the mirror `dir`
/// of `source` (atomically): an updated file gets its new version and
/// hash, a created file an entry of its own (and its folder, for files
/// added below it later), a deleted file's entry goes. Files stay as the
/// user left them. A change that cannot be recorded (an update of a file
/// the manifest does not name, a create of a record the mirror already
/// holds elsewhere) is named in the error, after all others are recorded.
pub fn record_pushed(dir: &Path, source: &str, done: &[PushedFile]) -> Result<()> {
    let mut ignored = Vec::new();
    let mut manifest = read_manifest(dir, source, &mut ignored)?
        .ok_or_else(|| usage(format!("{} is not a mirror (no {MANIFEST})", dir.display())))?;
    let mut key_of: HashMap<String, String> = manifest
        .entries
        .iter()
        .map(|(key, entry)| (entry.path.clone(), key.clone()))
        .collect();
    let markdown = manifest.format == Format::Markdown;
    let mut problems = Vec::new();
    for change in done {
        match change {
            PushedFile::Updated {
                path,
                version,
                hash,
            } => {
                let Some((key, entry)) = key_of
                    .get(path)
                    .and_then(|key| manifest.entries.get_mut(key).map(|entry| (key, entry)))
                else {
                    problems.push(format!("{}: not in the manifest", Untrusted::new(path)));
                    continue;
                };
                // A manifest from before push learns what the file is.
                if let Some(owner) = Owner::of(key, entry) {
                    entry.kind = Some(owner.kind);
                    entry.stream = Some(owner.stream);
                    entry.id = Some(owner.id);
                }
                entry.version = Some(version.clone());
                entry.hash = if markdown && entry.from.is_some() {
                    match markdown_pushed(dir, path, &entry.links, hash) {
                        Some(file_hash) => file_hash,
                        None => continue,
                    }
                } else {
                    hash.clone()
                };
            }
            PushedFile::Created {
                path,
                stream,
                id,
                version,
                hash,
            } => {
                let key = file_key(stream, id, None);
                if let Some(elsewhere) = manifest.entries.get(&key).filter(|e| &e.path != path) {
                    problems.push(format!(
                        "{}: the remote answered with record {}, which the mirror holds at {}; remove one of the two files",
                        Untrusted::new(path),
                        Untrusted::clipped(id, 200),
                        Untrusted::new(&elsewhere.path)
                    ));
                    continue;
                }
                let rendered = markdown && path.to_ascii_lowercase().ends_with(".md");
                let file_hash = if rendered {
                    markdown_pushed(dir, path, &[], hash).unwrap_or_default()
                } else {
                    hash.clone()
                };
                if let Some(old) = key_of.insert(path.clone(), key.clone()) {
                    manifest.entries.remove(&old);
                }
                manifest.entries.insert(
                    key,
                    Entry {
                        path: path.clone(),
                        hash: file_hash,
                        kind: Some(FileKind::Content),
                        stream: Some(stream.clone()),
                        id: Some(id.clone()),
                        version: Some(version.clone()),
                        // Rendered, from nothing the export knows: the next
                        // export writes it again.
                        from: rendered.then(String::new),
                        links: Vec::new(),
                    },
                );
                // Files added below it later are its children.
                if let Some((stem, _)) = path.rsplit_once('.') {
                    manifest
                        .folders
                        .entry(stem.to_string())
                        .or_insert_with(|| Folder {
                            stream: stream.clone(),
                            id: id.clone(),
                            attachment: false,
                        });
                }
            }
            PushedFile::Deleted { path } => {
                if let Some(key) = key_of.remove(path) {
                    manifest.entries.remove(&key);
                }
            }
        }
    }
    write_atomically(
        &Root::new(dir),
        MANIFEST,
        &serde_json::to_vec_pretty(&manifest)?,
    )?;
    if !problems.is_empty() {
        anyhow::bail!(
            "{} pushed change(s) could not be recorded in the mirror's manifest (the next push from it finds them again):\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    Ok(())
}

/// An edited Markdown file's update as storage format, with its front
/// matter's title and labels; why not, for a user.
fn from_markdown(update: &mut Update, links: &[(String, String)]) -> Result<(), String> {
    let file = read_markdown(&update.content, links)
        .map_err(|why| format!("{why}; the file is left as it is"))?;
    if let Some(id) = file.id.as_deref().filter(|id| *id != update.record_id) {
        return Err(format!(
            "the front matter's id {} is not this file's record {}: put the id back",
            Untrusted::clipped(id, 100),
            Untrusted::clipped(&update.record_id, 100)
        ));
    }
    update.content = file.storage.into_bytes();
    update.hash = sha256(&update.content);
    update.title = file.title;
    update.labels = file.labels;
    Ok(())
}

/// For a Markdown file pushed as storage whose hash is `pushed`: the
/// hash of the file as it is now, if it still converts to what was pushed
/// (else the user edited it again, and the next push sends that).
fn markdown_pushed(
    dir: &Path,
    path: &str,
    links: &[(String, String)],
    pushed: &str,
) -> Option<String> {
    let root = Root::new(dir);
    if !regular_file(&root, path) {
        return None;
    }
    let bytes = std::fs::read(resolve(&root, path).ok()?).ok()?;
    let file = read_markdown(&bytes, links).ok()?;
    (sha256(file.storage.as_bytes()) == pushed).then(|| sha256(&bytes))
}

/// The record a manifest entry belongs to, and what the file is.
struct Owner {
    stream: String,
    id: String,
    kind: FileKind,
}

impl Owner {
    /// From the entry, or for a manifest written before push from its key:
    /// `stream/id#blob` is a blob, `stream/id` content when named like
    /// content, else an attachment (a record that is only a blob); an
    /// attachment named like content (`notes.txt`) is taken for content,
    /// so the push engine must refuse an update of a record without content.
    fn of(key: &str, entry: &Entry) -> Option<Owner> {
        if let (Some(kind), Some(stream), Some(id)) = (entry.kind, &entry.stream, &entry.id) {
            return Some(Owner {
                stream: stream.clone(),
                id: id.clone(),
                kind,
            });
        }
        let name = entry.path.rsplit('/').next().unwrap_or_default();
        let (record, kind) = match key.split_once('#') {
            Some((record, _)) => (record, FileKind::Blob),
            None if content_name(name).is_some() => (key, FileKind::Content),
            None => (key, FileKind::Blob),
        };
        let (stream, id) = record.split_once('/')?;
        let unescape = |part: &str| {
            part.replace("%2F", "/")
                .replace("%23", "#")
                .replace("%25", "%")
        };
        Some(Owner {
            stream: unescape(stream),
            id: unescape(id),
            kind,
        })
    }
}

/// By directory (`""` for the root): the stream every content file directly
/// in it belongs to, `None` when they belong to several.
fn sibling_streams(manifest: &Manifest) -> HashMap<&str, Option<String>> {
    let mut streams: HashMap<&str, Option<String>> = HashMap::new();
    for (key, entry) in &manifest.entries {
        let Some(owner) = Owner::of(key, entry).filter(|o| o.kind == FileKind::Content) else {
            continue;
        };
        let dir = entry.path.rsplit_once('/').map_or("", |(dir, _)| dir);
        streams
            .entry(dir)
            .and_modify(|known| {
                if known.as_deref() != Some(owner.stream.as_str()) {
                    *known = None;
                }
            })
            .or_insert(Some(owner.stream));
    }
    streams
}

/// `(title, extension)` of a file named like a content file.
fn content_name(name: &str) -> Option<(&str, &str)> {
    let (title, extension) = name.rsplit_once('.')?;
    let known = CONTENT_EXTENSIONS
        .iter()
        .any(|known| known.eq_ignore_ascii_case(extension));
    (known && !title.trim().is_empty()).then_some((title, extension))
}

fn content_names() -> String {
    let names: Vec<String> = CONTENT_EXTENSIONS.iter().map(|e| format!(".{e}")).collect();
    format!("pages end in {}", names.join(", "))
}

/// SHA-256 of `bytes`, hex.
pub(super) fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A regular file the walk found.
struct Found {
    size: u64,
    /// Device and inode, to tell the file read from the file walked past.
    #[cfg(unix)]
    identity: (u64, u64),
}

impl Found {
    fn new(meta: &std::fs::Metadata) -> Found {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        Found {
            size: meta.len(),
            #[cfg(unix)]
            identity: (meta.dev(), meta.ino()),
        }
    }

    /// Whether `file`, just opened, is this file (not a link swapped in
    /// since the walk, which opening would have followed).
    fn is(&self, file: &File) -> bool {
        let Ok(meta) = file.metadata() else {
            return false;
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            if (meta.dev(), meta.ino()) != self.identity {
                return false;
            }
        }
        meta.is_file()
    }
}

/// Opens `dir/rel` if it is still the file the walk found.
fn open_checked(dir: &Path, rel: &str, found: &Found) -> Result<File, String> {
    let file = File::open(dir.join(rel)).map_err(|err| format!("cannot read it: {err}"))?;
    if found.is(&file) {
        Ok(file)
    } else {
        Err("it changed while it was being read (replaced by a link?): not read".into())
    }
}

/// The bytes of `dir/rel`, unless it is over `max_bytes` (then nothing
/// past the limit is read).
fn read_checked(dir: &Path, rel: &str, found: &Found, max_bytes: u64) -> Result<Vec<u8>, String> {
    let too_big = || format!("larger than the source's content limit ({max_bytes} bytes)");
    if found.size > max_bytes {
        return Err(too_big());
    }
    let file = open_checked(dir, rel, found)?;
    let mut bytes = Vec::with_capacity(found.size as usize);
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|err| format!("cannot read it: {err}"))?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_big());
    }
    Ok(bytes)
}

/// The SHA-256 of `dir/rel` (hex), read in chunks.
fn hash_checked(dir: &Path, rel: &str, found: &Found) -> Result<String, String> {
    let mut file = open_checked(dir, rel, found)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 64 * 1024];
    loop {
        match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buffer[..n]),
            Err(err) => return Err(format!("cannot read it: {err}")),
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// One bounded pass over a mirror, links never followed.
#[derive(Default)]
struct Walk {
    /// Regular files by relative path.
    files: BTreeMap<String, Found>,
    /// Paths that are neither regular files nor walked directories, with
    /// why (links, devices, sockets, directories too deep).
    blocked: HashMap<String, String>,
    /// Directories walked.
    dirs: HashSet<String>,
    refused: Vec<Refused>,
}

impl Walk {
    /// Fails past `max_files` entries.
    fn of(root: &Path, max_files: usize) -> Result<Walk> {
        let mut walk = Walk::default();
        let mut pending = vec![(String::new(), 0usize)];
        let mut seen = 0usize;
        while let Some((rel, depth)) = pending.pop() {
            let path = if rel.is_empty() {
                root.to_path_buf()
            } else {
                root.join(&rel)
            };
            let entries = std::fs::read_dir(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            for entry in entries {
                let entry = entry.with_context(|| format!("cannot read {}", path.display()))?;
                seen += 1;
                if seen > max_files {
                    return Err(usage(format!(
                        "{} holds more than {max_files} files and directories: not a mirror synchost wrote, or too large to push from",
                        root.display()
                    )));
                }
                let name = entry.file_name();
                let Some(name) = name.to_str() else {
                    let lossy = join(&rel, &name.to_string_lossy());
                    walk.refuse(lossy, "a name that is not UTF-8");
                    continue;
                };
                // The manifest, temporary files, `.git`, editors' files.
                if name.starts_with('.') {
                    continue;
                }
                let child = join(&rel, name);
                // Never follows a link: the entry's own type.
                let kind = entry
                    .file_type()
                    .with_context(|| format!("cannot read {}", entry.path().display()))?;
                if child.len() > MAX_PATH_BYTES {
                    walk.refuse(child, "a path longer than the mirror's limit");
                } else if kind.is_symlink() {
                    walk.block(child, "a symbolic link: the mirror never follows one");
                } else if kind.is_dir() {
                    if depth + 1 > MAX_DEPTH {
                        walk.block(child, "a directory deeper than the mirror's limit");
                    } else {
                        walk.dirs.insert(child.clone());
                        pending.push((child, depth + 1));
                    }
                } else if kind.is_file() {
                    let meta = entry
                        .metadata()
                        .with_context(|| format!("cannot read {}", entry.path().display()))?;
                    walk.files.insert(child, Found::new(&meta));
                } else {
                    walk.block(child, "not a regular file");
                }
            }
        }
        Ok(walk)
    }

    fn refuse(&mut self, path: String, why: &str) {
        self.refused.push(Refused {
            path,
            reason: why.to_string(),
        });
    }

    fn block(&mut self, path: String, why: &str) {
        self.refuse(path.clone(), why);
        self.blocked.insert(path, why.to_string());
    }

    /// Why a manifest file missing from the walk is not a removed file: it
    /// is a directory now, or a directory on its way is a link or otherwise
    /// not walked.
    fn blocked(&self, path: &str) -> Option<String> {
        if self.dirs.contains(path) {
            return Some("replaced by a directory: left alone".into());
        }
        path.match_indices('/').find_map(|(end, _)| {
            let at = &path[..end];
            self.blocked
                .get(at)
                .map(|why| format!("not reached: {} is {why}", Untrusted::clipped(at, 300)))
        })
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::PathBuf;

    use super::*;
    use crate::mirror::{write_mirror, Format};
    use crate::store::checkpoint::{BlobLink, NewRun, PageCommit, RecordRow};
    use crate::store::Store;

    const LIMIT: u64 = 1 << 20;

    fn page(
        id: &str,
        parent: Option<&str>,
        title: &str,
        version: &str,
        content: &str,
    ) -> RecordRow {
        RecordRow {
            id: id.into(),
            version: version.into(),
            updated_at: None,
            parent_id: parent.map(String::from),
            title: Some(title.into()),
            path: None,
            content_type: "text/html".into(),
            content: Some(content.as_bytes().to_vec()),
            content_hash: Some(sha256(content.as_bytes())),
            metadata: "{}".into(),
            blobs: vec![],
            blob_names: None,
        }
    }

    /// A temporary store and mirror: pages `Runbook` (with child `Child`
    /// and attachment `diagram.png`) and `Other`; attachment `photo.png`
    /// with a comment below it.
    struct Fixture {
        _tmp: tempfile::TempDir,
        store: Store,
        out: PathBuf,
    }

    /// Stores `records` in `stream` and tombstones `deleted`, as a pull would.
    fn commit(store: &mut Store, stream: &str, records: Vec<RecordRow>, deleted: &[&str]) {
        let run = store
            .start_stream_run(
                "src",
                stream,
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
            records,
            deleted: deleted.iter().map(|id| id.to_string()).collect(),
            cursor: Some(None),
            ..Default::default()
        };
        store
            .commit_page("src", stream, run.generation, &page)
            .unwrap();
        store.finish_stream("src", stream).unwrap();
    }

    /// A record that is one blob (an attachment), its file in the store.
    fn attachment(
        store: &Store,
        id: &str,
        parent: Option<&str>,
        title: &str,
        bytes: &[u8],
    ) -> RecordRow {
        let hash = sha256(bytes);
        fs::create_dir_all(store.blob_dir()).unwrap();
        fs::write(store.blob_dir().join(&hash), bytes).unwrap();
        RecordRow {
            content: None,
            content_hash: None,
            content_type: "application/octet-stream".into(),
            blobs: vec![BlobLink {
                name: title.into(),
                url: "https://example.invalid/x".into(),
                version: "1".into(),
                hash: hash.clone(),
                size: bytes.len() as u64,
                media_type: "image/png".into(),
                path: hash,
            }],
            ..page(id, parent, title, "1", "")
        }
    }

    impl Fixture {
        fn new() -> Fixture {
            let tmp = tempfile::tempdir().unwrap();
            let mut store = Store::open(&tmp.path().join("s.db")).unwrap();
            let pages = vec![
                page("1", None, "Runbook", "5", "<p>run</p>"),
                page("2", Some("1"), "Child", "3", "<p>child</p>"),
                page("3", None, "Other", "1", "<p>other</p>"),
            ];
            commit(&mut store, "pages", pages, &[]);
            let diagram = attachment(&store, "a1", Some("1"), "diagram.png", b"PNG1");
            let photo = attachment(&store, "a2", None, "photo.png", b"PNG2");
            commit(&mut store, "attachments", vec![diagram, photo], &[]);
            let comment = page("c1", Some("a2"), "Nice", "1", "<p>nice</p>");
            commit(&mut store, "comments", vec![comment], &[]);
            let fixture = Fixture {
                out: tmp.path().join("mirror"),
                _tmp: tmp,
                store,
            };
            fixture.export();
            fixture
        }

        fn export(&self) {
            let report = write_mirror(&self.store, "src", &self.out, Format::Files).unwrap();
            assert_eq!(report.warnings, Vec::<String>::new());
        }

        fn path(&self, rel: &str) -> PathBuf {
            self.out.join(rel)
        }

        fn write(&self, rel: &str, bytes: &[u8]) {
            let path = self.path(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, bytes).unwrap();
        }

        fn edits(&self) -> MirrorEdits {
            find_edits(&self.out, "src", LIMIT).unwrap()
        }

        /// Every regular file below the mirror (dot-names included), sorted.
        fn files(&self) -> Vec<String> {
            let walk = Walk::of(&self.out, MAX_FILES).unwrap();
            let mut files: Vec<String> = walk.files.into_keys().collect();
            files.extend(
                fs::read_dir(&self.out)
                    .unwrap()
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .filter(|name| name.starts_with('.')),
            );
            files.sort();
            files
        }
    }

    /// A Markdown mirror: images link to the attachment beside the page,
    /// hostile titles stay in the front matter, an untouched mirror has no
    /// edits, an edit reads back as storage, and once pushed it is known.
    #[test]
    fn a_markdown_mirror_links_attachments_and_reads_edits_back_as_storage() {
        const STORAGE: &str = "application/vnd.atlassian.storage+xml";
        let tmp = tempfile::tempdir().unwrap();
        let mut store = Store::open(&tmp.path().join("s.db")).unwrap();
        let body = r#"<p>See <ac:image><ri:attachment ri:filename="diagram.png" /></ac:image></p><ac:structured-macro ac:name="info"><ac:rich-text-body><p>x</p></ac:rich-text-body></ac:structured-macro>"#;
        let hostile = "../../etc \"x\"\n---\nid: \"9\"";
        let pages = vec![
            RecordRow {
                content_type: STORAGE.into(),
                metadata: r#"{"status":"current","labels":["ops"]}"#.into(),
                ..page("1", None, "Runbook", "5", body)
            },
            RecordRow {
                content_type: STORAGE.into(),
                ..page("2", None, hostile, "1", "<p>---</p>")
            },
        ];
        commit(&mut store, "pages", pages, &[]);
        let diagram = attachment(&store, "a1", Some("1"), "diagram.png", b"PNG1");
        commit(&mut store, "attachments", vec![diagram], &[]);
        let out = tmp.path().join("md");
        let report = write_mirror(&store, "src", &out, Format::Markdown).unwrap();
        assert_eq!((report.written, report.warnings.len()), (3, 0));

        let md = fs::read_to_string(out.join("Runbook.md")).unwrap();
        assert!(md.starts_with("---\nid: \"1\"\ntitle: \"Runbook\"\nversion: \"5\"\nstream: \"pages\"\nparent: null\nstatus: \"current\"\nlabels: [\"ops\"]\n---\n\nSee ![](Runbook/diagram.png)\n\n```xml confluence-storage\n"), "{md}");
        assert_eq!(fs::read(out.join("Runbook/diagram.png")).unwrap(), b"PNG1");
        let names: Vec<String> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".md") && name != "Runbook.md")
            .collect();
        let [name] = names.as_slice() else {
            panic!("{names:?}")
        };
        assert!(!name.contains(['/', '\n', '"']), "{name}");
        let hostile_file = fs::read(out.join(name)).unwrap();
        let read = read_markdown(&hostile_file, &[]).unwrap();
        assert_eq!(
            (read.id.as_deref(), read.title.as_deref()),
            (Some("2"), Some(hostile))
        );
        assert_eq!(read.storage, "<p>---</p>");

        assert!(nothing(&find_edits(&out, "src", LIMIT).unwrap()));
        let rerun = write_mirror(&store, "src", &out, Format::Markdown).unwrap();
        assert_eq!((rerun.written, rerun.unchanged), (0, 3));

        fs::write(out.join("Runbook.md"), md.replace("See ![]", "Look at ![]")).unwrap();
        let edits = find_edits(&out, "src", LIMIT).unwrap();
        let [update] = edits.updates.as_slice() else {
            panic!("{edits:?}")
        };
        let expected = body.replace("<p>See ", "<p>Look at ");
        assert_eq!(String::from_utf8_lossy(&update.content), expected);
        assert_eq!(update.hash, sha256(expected.as_bytes()));
        assert_eq!(update.base_version.as_deref(), Some("5"));
        assert_eq!(update.title.as_deref(), Some("Runbook"));
        assert_eq!(update.labels, Some(vec!["ops".to_string()]));

        let pushed = PushedFile::Updated {
            path: "Runbook.md".into(),
            version: "6".into(),
            hash: update.hash.clone(),
        };
        record_pushed(&out, "src", &[pushed]).unwrap();
        assert!(nothing(&find_edits(&out, "src", LIMIT).unwrap()));
        // A mirror keeps its format.
        let err = write_mirror(&store, "src", &out, Format::Files).unwrap_err();
        assert!(err.to_string().contains("holds a markdown mirror"), "{err}");

        // New files: the front matter names the stream and title; a copy
        // that keeps another record's id is refused.
        fs::write(
            out.join("New post.md"),
            "---\ntitle: \"Hello: world\"\nstream: blogposts\nlabels: [news]\n---\n\nHi *there*\n",
        )
        .unwrap();
        fs::write(out.join("Copy.md"), &md).unwrap();
        let edits = find_edits(&out, "src", LIMIT).unwrap();
        let [create] = edits.creates.as_slice() else {
            panic!("{edits:?}")
        };
        assert_eq!(create.stream.as_deref(), Some("blogposts"));
        assert_eq!(
            (create.title.as_str(), create.parent_id.as_deref()),
            ("Hello: world", None)
        );
        assert_eq!(create.content, b"<p>Hi <em>there</em></p>");
        assert_eq!(create.labels, Some(vec!["news".to_string()]));
        assert_eq!(refused(&edits), [("Copy.md", "a new file with the front matter of record 1 (a copy?): remove its `id` line to create a new page")]);
    }

    fn refused(edits: &MirrorEdits) -> Vec<(&str, &str)> {
        edits
            .refused
            .iter()
            .map(|r| (r.path.as_str(), r.reason.as_str()))
            .collect()
    }

    fn nothing(edits: &MirrorEdits) -> bool {
        edits.updates.is_empty()
            && edits.creates.is_empty()
            && edits.deletes.is_empty()
            && edits.refused.is_empty()
            && edits.warnings.is_empty()
    }

    #[test]
    fn a_fresh_export_has_no_edits_and_knows_its_folders() {
        let f = Fixture::new();
        assert_eq!(
            f.files(),
            [
                ".synchost-mirror.json",
                "Other.html",
                "Runbook.html",
                "Runbook/Child.html",
                "Runbook/diagram.png",
                "photo.png/Nice.html",
                "photo.png/photo.png",
            ]
        );
        let edits = f.edits();
        assert!(nothing(&edits), "{edits:?}");
        let mut warnings = Vec::new();
        let manifest = read_manifest(&f.out, "src", &mut warnings)
            .unwrap()
            .unwrap();
        // Every record with content has a folder, for children added later.
        assert_eq!(
            manifest.folders.keys().collect::<Vec<_>>(),
            [
                "Other",
                "Runbook",
                "Runbook/Child",
                "photo.png",
                "photo.png/Nice"
            ]
        );
        assert!(manifest.folders["photo.png"].attachment);
        let runbook = &manifest.entries["pages/1"];
        assert_eq!(
            (runbook.kind, runbook.version.as_deref()),
            (Some(FileKind::Content), Some("5"))
        );
    }

    #[test]
    fn updates_creates_and_deletes_are_found() {
        let f = Fixture::new();
        f.write("Runbook.html", b"<p>run, edited</p>");
        f.write("Runbook/Child.html", b"<p>child, edited</p>");
        f.write("Runbook/New page.html", b"<p>new</p>");
        f.write("Top level.md", b"# top");
        fs::remove_file(f.path("Other.html")).unwrap();
        // Swap and backup files of editors, a `.git`: not looked at.
        f.write(".Runbook.html.swp", b"x");
        f.write(".git/config", b"x");

        let edits = f.edits();
        let updates: Vec<_> = edits
            .updates
            .iter()
            .map(|u| {
                (
                    u.path.as_str(),
                    u.stream.as_str(),
                    u.record_id.as_str(),
                    u.base_version.as_deref(),
                    u.content.as_slice(),
                )
            })
            .collect();
        assert_eq!(
            updates,
            [
                (
                    "Runbook.html",
                    "pages",
                    "1",
                    Some("5"),
                    &b"<p>run, edited</p>"[..]
                ),
                (
                    "Runbook/Child.html",
                    "pages",
                    "2",
                    Some("3"),
                    &b"<p>child, edited</p>"[..]
                ),
            ]
        );
        assert_eq!(edits.updates[0].hash, sha256(b"<p>run, edited</p>"));
        let creates: Vec<_> = edits
            .creates
            .iter()
            .map(|c| {
                (
                    c.path.as_str(),
                    c.stream.as_deref(),
                    c.parent_id.as_deref(),
                    c.title.as_str(),
                    c.extension.as_str(),
                    c.content.as_slice(),
                )
            })
            .collect();
        assert_eq!(
            creates,
            [
                (
                    "Runbook/New page.html",
                    Some("pages"),
                    Some("1"),
                    "New page",
                    "html",
                    &b"<p>new</p>"[..]
                ),
                // The root's content files are all pages.
                (
                    "Top level.md",
                    Some("pages"),
                    None,
                    "Top level",
                    "md",
                    &b"# top"[..]
                ),
            ]
        );
        assert_eq!(
            edits.deletes,
            [Delete {
                path: "Other.html".into(),
                stream: "pages".into(),
                record_id: "3".into(),
                base_version: Some("1".into()),
            }]
        );
        assert_eq!(refused(&edits), []);
        assert_eq!(edits.warnings, Vec::<String>::new());
    }

    #[test]
    fn what_cannot_be_pushed_is_refused_with_its_reason() {
        let f = Fixture::new();
        f.write("Runbook/diagram.png", b"PNG, edited");
        fs::remove_file(f.path("photo.png/photo.png")).unwrap();
        f.write("photo.png/Reply.html", b"<p>x</p>");
        f.write("Runbook/notes.pdf", b"%PDF");
        f.write("Runbook/.html", b"x");
        f.write("Runbook/New/Deep.html", b"<p>deep</p>");
        let edits = f.edits();
        assert!(edits.updates.is_empty() && edits.creates.is_empty() && edits.deletes.is_empty());
        let refused = refused(&edits);
        let paths: Vec<&str> = refused.iter().map(|(path, _)| *path).collect();
        assert_eq!(
            paths,
            [
                "Runbook/New/Deep.html",
                "Runbook/diagram.png",
                "Runbook/notes.pdf",
                "photo.png/Reply.html",
                "photo.png/photo.png",
            ],
            "{refused:?}"
        );
        for (path, needle) in [
            ("Runbook/New/Deep.html", "parent is unknown"),
            ("Runbook/diagram.png", "edited attachment"),
            ("Runbook/notes.pdf", "not named like a page"),
            ("photo.png/Reply.html", "attachment's folder"),
            ("photo.png/photo.png", "removed attachment"),
        ] {
            let reason = refused.iter().find(|(p, _)| *p == path).unwrap().1;
            assert!(reason.contains(needle), "{path}: {reason}");
        }
    }

    #[test]
    fn a_moved_or_renamed_page_is_neither_deleted_nor_created() {
        let f = Fixture::new();
        fs::rename(f.path("Other.html"), f.path("Runbook/Renamed.html")).unwrap();
        let edits = f.edits();
        assert!(
            edits.deletes.is_empty() && edits.creates.is_empty(),
            "{edits:?}"
        );
        let refused = refused(&edits);
        assert_eq!(refused.len(), 2, "{refused:?}");
        assert_eq!(refused[0].0, "Other.html");
        assert!(refused[0]
            .1
            .contains("moved or renamed to Runbook/Renamed.html"));
        assert_eq!(refused[1].0, "Runbook/Renamed.html");
        assert!(refused[1].1.contains("moves and renames are not supported"));
    }

    /// Pushed changes enter the manifest: nothing is found again, and the
    /// next export (after the engine stored what the remote answered)
    /// rewrites normally: the new page stays or moves to its planned name,
    /// never twice, never losing its bytes.
    #[test]
    fn pushed_changes_are_recorded_and_a_later_export_keeps_them_coherent() {
        let mut f = Fixture::new();
        f.write("Runbook.html", b"<p>run, edited</p>");
        f.write("Runbook/New page.html", b"<p>new</p>");
        // Typed in NFD (as macOS does); the mirror plans names in NFC.
        f.write("Cafe\u{301}.html", b"<p>cafe</p>");
        fs::remove_file(f.path("Other.html")).unwrap();
        let edits = f.edits();
        let mut done = vec![PushedFile::Updated {
            path: edits.updates[0].path.clone(),
            version: "6".into(),
            hash: edits.updates[0].hash.clone(),
        }];
        // Sorted by path: the root's page first.
        for (create, id) in edits.creates.iter().zip(["11", "10"]) {
            done.push(PushedFile::Created {
                path: create.path.clone(),
                stream: "pages".into(),
                id: id.into(),
                version: "1".into(),
                hash: create.hash.clone(),
            });
        }
        done.push(PushedFile::Deleted {
            path: edits.deletes[0].path.clone(),
        });
        record_pushed(&f.out, "src", &done).unwrap();
        let again = f.edits();
        assert!(nothing(&again), "{again:?}");

        // A child of the new page, added after its push, is its child.
        f.write("Runbook/New page/Grandchild.html", b"<p>g</p>");
        let child = f.edits();
        assert_eq!(child.creates.len(), 1, "{child:?}");
        assert_eq!(child.creates[0].parent_id.as_deref(), Some("10"));
        fs::remove_file(f.path("Runbook/New page/Grandchild.html")).unwrap();
        fs::remove_dir(f.path("Runbook/New page")).unwrap();

        // What the engine stores from the remote's answers.
        let stored = vec![
            page("1", None, "Runbook", "6", "<p>run, edited</p>"),
            page("10", Some("1"), "New page", "1", "<p>new</p>"),
            page("11", None, "Cafe\u{301}", "1", "<p>cafe</p>"),
        ];
        commit(&mut f.store, "pages", stored, &["3"]);
        f.export();
        assert_eq!(
            f.files(),
            [
                ".synchost-mirror.json",
                // Moved to its planned name, the same bytes.
                "Caf\u{e9}.html",
                "Runbook.html",
                "Runbook/Child.html",
                "Runbook/New page.html",
                "Runbook/diagram.png",
                "photo.png/Nice.html",
                "photo.png/photo.png",
            ]
        );
        assert_eq!(fs::read(f.path("Caf\u{e9}.html")).unwrap(), b"<p>cafe</p>");
        assert_eq!(
            fs::read(f.path("Runbook.html")).unwrap(),
            b"<p>run, edited</p>"
        );
        let after = f.edits();
        assert!(nothing(&after), "{after:?}");
    }

    #[test]
    fn changes_that_cannot_be_recorded_are_named_and_the_rest_recorded() {
        let f = Fixture::new();
        f.write("Runbook.html", b"<p>edited</p>");
        f.write("Runbook/Copy of child.html", b"<p>copy</p>");
        let edits = f.edits();
        let done = [
            PushedFile::Updated {
                path: "Nowhere.html".into(),
                version: "9".into(),
                hash: "0".into(),
            },
            // The remote took the create for page 2 (say, by its title).
            PushedFile::Created {
                path: "Runbook/Copy of child.html".into(),
                stream: "pages".into(),
                id: "2".into(),
                version: "4".into(),
                hash: edits.creates[0].hash.clone(),
            },
            PushedFile::Updated {
                path: "Runbook.html".into(),
                version: "6".into(),
                hash: edits.updates[0].hash.clone(),
            },
        ];
        let err = record_pushed(&f.out, "src", &done).unwrap_err().to_string();
        assert!(err.contains("Nowhere.html: not in the manifest"), "{err}");
        assert!(err.contains("holds at Runbook/Child.html"), "{err}");
        let after = f.edits();
        assert!(after.updates.is_empty(), "{after:?}");
        assert_eq!(after.creates.len(), 1, "left to the user: {after:?}");
    }

    /// A manifest written before push: no versions, kinds or folders.
    #[test]
    fn an_old_manifest_bases_edits_on_the_stored_version() {
        let f = Fixture::new();
        let path = f.path(MANIFEST);
        let mut json: serde_json::Value =
            serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        json.as_object_mut().unwrap().remove("folders");
        for entry in json["entries"].as_object_mut().unwrap().values_mut() {
            let entry = entry.as_object_mut().unwrap();
            entry.retain(|key, _| key == "path" || key == "hash");
        }
        fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
        f.write("Runbook.html", b"<p>edited</p>");
        f.write("Runbook/diagram.png", b"edited");
        let edits = f.edits();
        assert_eq!(edits.updates.len(), 1);
        assert_eq!(
            (
                edits.updates[0].stream.as_str(),
                edits.updates[0].record_id.as_str()
            ),
            ("pages", "1")
        );
        assert_eq!(edits.updates[0].base_version, None);
        assert_eq!(edits.warnings.len(), 1);
        assert!(
            edits.warnings[0].contains("the version stored now"),
            "{:?}",
            edits.warnings
        );
        assert_eq!(refused(&edits).len(), 1, "the attachment (a blob key)");
    }

    #[test]
    fn a_mirror_of_another_source_or_no_mirror_is_an_error() {
        let f = Fixture::new();
        let err = find_edits(&f.out, "other", LIMIT).unwrap_err().to_string();
        assert!(err.contains("holds the mirror of source `src`"), "{err}");
        let empty = tempfile::tempdir().unwrap();
        let err = find_edits(empty.path(), "src", LIMIT)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a mirror"), "{err}");
        assert!(record_pushed(empty.path(), "src", &[]).is_err());
        assert!(!empty.path().join(MANIFEST).exists(), "nothing written");
    }

    #[cfg(unix)]
    #[test]
    fn links_are_refused_never_followed_never_read() {
        use std::os::unix::fs::symlink;
        let f = Fixture::new();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret.html"), b"SECRET").unwrap();
        fs::create_dir(outside.path().join("dir")).unwrap();
        fs::write(outside.path().join("dir/Child.html"), b"SECRET").unwrap();
        // A new link, a page replaced by a link, a folder replaced by one.
        symlink(outside.path().join("secret.html"), f.path("Evil.html")).unwrap();
        fs::remove_file(f.path("Other.html")).unwrap();
        symlink(outside.path().join("secret.html"), f.path("Other.html")).unwrap();
        fs::rename(f.path("Runbook"), outside.path().join("moved")).unwrap();
        symlink(outside.path().join("dir"), f.path("Runbook")).unwrap();

        let edits = f.edits();
        assert!(
            edits.updates.is_empty() && edits.creates.is_empty(),
            "{edits:?}"
        );
        assert!(edits.deletes.is_empty(), "a link is no deletion: {edits:?}");
        let refused = refused(&edits);
        let paths: Vec<&str> = refused.iter().map(|(p, _)| *p).collect();
        assert_eq!(
            paths,
            [
                "Evil.html",
                "Other.html",
                "Runbook",
                "Runbook/Child.html",
                "Runbook/diagram.png"
            ],
            "{refused:?}"
        );
        assert!(
            refused.iter().all(|(_, why)| why.contains("symbolic link")),
            "{refused:?}"
        );
        assert!(!format!("{edits:?}").contains("SECRET"));
    }

    #[cfg(unix)]
    #[test]
    fn sockets_and_other_special_files_are_refused() {
        let f = Fixture::new();
        let _listener =
            std::os::unix::net::UnixListener::bind(f.path("Runbook/Sock.html")).unwrap();
        let edits = f.edits();
        assert_eq!(
            refused(&edits),
            [("Runbook/Sock.html", "not a regular file")]
        );
    }

    #[test]
    fn forged_manifest_entries_are_ignored_with_a_warning() {
        let f = Fixture::new();
        let outside = f.out.parent().unwrap().join("x.html");
        fs::write(&outside, b"outside").unwrap();
        let path = f.path(MANIFEST);
        let mut json: serde_json::Value =
            serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        for (key, forged) in [
            ("pages/66", "../x.html"),
            ("pages/67", "/etc/passwd"),
            ("pages/68", "Runbook/../../x.html"),
        ] {
            json["entries"][key] = serde_json::json!({
                "path": forged, "hash": "0", "kind": "content", "stream": "pages", "id": key, "version": "1"
            });
        }
        json["folders"]["../elsewhere"] = serde_json::json!({"stream": "pages", "id": "1"});
        fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
        let edits = f.edits();
        assert!(
            edits.updates.is_empty() && edits.deletes.is_empty() && edits.refused.is_empty(),
            "{edits:?}"
        );
        assert_eq!(edits.warnings.len(), 4, "{:?}", edits.warnings);
        assert!(edits
            .warnings
            .iter()
            .all(|w| w.starts_with("ignored manifest")));
        assert_eq!(fs::read(&outside).unwrap(), b"outside");
    }

    /// Names the manifest could not keep apart or keep at all would be
    /// created again by the next push: refused.
    #[test]
    fn names_the_mirror_cannot_hold_are_refused() {
        let f = Fixture::new();
        f.write("runbook.html", b"<p>a</p>");
        f.write("Runbook/What?.html", b"<p>b</p>");
        f.write("Runbook/CON.html", b"<p>c</p>");
        f.write("Runbook/trailing .html", b"<p>d</p>");
        f.write("Runbook/Twin.html", b"<p>e</p>");
        f.write("Runbook/TWIN.html", b"<p>f</p>");
        let edits = f.edits();
        let paths: Vec<&str> = edits.creates.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["Runbook/TWIN.html", "Runbook/trailing .html"]);
        let refused = refused(&edits);
        let paths: Vec<&str> = refused.iter().map(|(p, _)| *p).collect();
        assert_eq!(
            paths,
            [
                "Runbook/CON.html",
                "Runbook/Twin.html",
                "Runbook/What?.html",
                "runbook.html"
            ],
            "{refused:?}"
        );
    }

    #[test]
    fn names_with_control_or_invisible_characters_are_refused_and_shown_escaped() {
        let f = Fixture::new();
        for name in [
            "Bad\u{1b}[31mred.html",
            "a\u{200b}b.html",
            "evil\u{202e}lmth.md",
        ] {
            f.write(&format!("Runbook/{name}"), b"<p>x</p>");
        }
        let edits = f.edits();
        assert!(edits.creates.is_empty(), "{edits:?}");
        assert_eq!(edits.refused.len(), 3);
        for refusal in &edits.refused {
            assert!(refusal.reason.contains("invisible character"), "{refusal}");
            let shown = refusal.to_string();
            assert!(shown.contains("\\u{"), "{shown}");
            assert!(
                !shown.chars().any(crate::untrusted::needs_escape),
                "{shown:?}"
            );
        }
    }

    #[test]
    fn files_over_the_limit_are_refused_unread() {
        let f = Fixture::new();
        // Sparse: a gigabyte a read would take long to go through.
        let huge = File::create(f.path("Runbook/Huge.html")).unwrap();
        huge.set_len(1 << 30).unwrap();
        f.write("Runbook.html", &[b'x'; 2000]);
        let edits = find_edits(&f.out, "src", 1000).unwrap();
        assert!(
            edits.creates.is_empty() && edits.updates.is_empty(),
            "{edits:?}"
        );
        let refused = refused(&edits);
        assert_eq!(refused.len(), 2);
        assert!(refused
            .iter()
            .all(|(_, why)| why.contains("content limit (1000 bytes)")));
        // At the limit exactly: read.
        f.write("Runbook.html", &[b'x'; 1000]);
        fs::remove_file(f.path("Runbook/Huge.html")).unwrap();
        let edits = find_edits(&f.out, "src", 1000).unwrap();
        assert_eq!(edits.updates.len(), 1);
    }

    #[test]
    fn bounded_read_stops_past_the_limit_when_the_file_grew() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("f"), [0u8; 100]).unwrap();
        let meta = fs::symlink_metadata(dir.path().join("f")).unwrap();
        let mut found = Found::new(&meta);
        found.size = 10; // as walked, before it grew
        let err = read_checked(dir.path(), "f", &found, 50).unwrap_err();
        assert!(err.contains("content limit"), "{err}");
    }

    /// Ten thousand new pages: one pass, each found once, in order.
    #[test]
    fn ten_thousand_files_are_found_in_one_pass() {
        let f = Fixture::new();
        for i in 0..10_000 {
            fs::write(
                f.path(&format!("Runbook/Page {i:05}.html")),
                format!("<p>{i}</p>"),
            )
            .unwrap();
        }
        let edits = f.edits();
        assert_eq!(edits.creates.len(), 10_000);
        assert!(edits.creates.windows(2).all(|w| w[0].path < w[1].path));
        assert_eq!(edits.creates[9_999].title, "Page 09999");
        assert!(edits.refused.is_empty());
        let err = Walk::of(&f.out, 5_000).err().unwrap().to_string();
        assert!(err.contains("more than 5000 files"), "{err}");
    }
}
