//! What the user changed in a mirror since the export: `synchost push
//! SOURCE --from DIR`.
//!
//! [`find_edits`] compares the directory with the manifest and writes
//! nothing:
//! - a record's content file whose bytes differ from the manifest's hash is
//!   an **update** based on the version it was exported (or last pushed) at;
//! - a new regular file named `Title.ext` (`ext` one the mirror gives
//!   content files) in a record's folder is a **create** below that record,
//!   at the mirror's root a create without parent; its title is the name as
//!   typed, without the extension;
//! - a content file that is gone is a **delete**;
//! - everything else that changed is **refused** with its reason and left
//!   alone: symbolic links (never followed, never read), other non-regular
//!   files, files over the size limit, edited or removed attachments, a file
//!   that looks moved or renamed (its bytes are those of a removed file),
//!   new files outside a record's folder or not named like content.
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

use super::names::invisible;
use super::{
    file_key, read_manifest, write_atomically, Entry, FileKind, Folder, Manifest, Root,
    CONTENT_EXTENSIONS, MANIFEST, MAX_DEPTH, MAX_PATH_BYTES,
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
}

/// A new content file: a new record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Create {
    pub path: String,
    /// The parent record's stream; at the root, the stream of the root's
    /// content files if they share one, else `None` (the caller chooses).
    pub stream: Option<String>,
    pub parent_id: Option<String>,
    /// The file name as typed, without its extension.
    pub title: String,
    /// The extension (`html`, `md`, ...), which tells the content's format.
    pub extension: String,
    pub content: Vec<u8>,
    /// SHA-256 of `content` (hex), for [`PushedFile::Created`].
    pub hash: String,
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
    let mut walk = Walk::of(dir)?;
    edits.refused.append(&mut walk.refused);

    // Files the manifest names: edited, unchanged, or gone.
    let mut gone_by_hash: HashMap<&str, usize> = HashMap::new();
    let mut old_manifest = 0;
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
                        if hash != entry.hash {
                            old_manifest += usize::from(entry.version.is_none());
                            edits.updates.push(Update {
                                path: path.to_string(),
                                stream: record.stream,
                                record_id: record.id,
                                base_version: entry.version.clone(),
                                content,
                                hash,
                            });
                        }
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
        } else if let Some(why) = walk.blocked(path) {
            edits.refused.push(refuse(why));
        } else if record.kind == FileKind::Blob {
            edits.refused.push(refuse(
                "a removed attachment: removing attachments is not supported yet".into(),
            ));
        } else {
            gone_by_hash.insert(entry.hash.as_str(), edits.deletes.len());
            edits.deletes.push(Delete {
                path: path.to_string(),
                stream: record.stream,
                record_id: record.id,
                base_version: entry.version.clone(),
            });
        }
    }
    if old_manifest > 0 {
        edits.warnings.push(format!(
            "{old_manifest} edited file(s) come from an export made before push: each is based on the version stored now (export again to record versions)"
        ));
    }

    // Files the manifest does not name: new.
    let root_stream = root_stream(&manifest);
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
                        "a new file in an attachment's folder: only pages can have children"
                            .into(),
                    ));
                    continue;
                }
                Some(owner) => Some(owner),
                None => {
                    edits.refused.push(refuse(
                        "a new file outside any record's folder: its parent is unknown (push its parent first, then push again)".into(),
                    ));
                    continue;
                }
            },
        };
        let Some((title, extension)) = content_name(name) else {
            edits.refused.push(refuse(format!(
                "a new file not named like a page ({}): new attachments are not supported yet",
                content_names()
            )));
            continue;
        };
        if title.chars().any(invisible) {
            edits.refused.push(refuse(
                "a name with control or invisible characters: rename the file".into(),
            ));
            continue;
        }
        let content = match read_checked(dir, &path, &found, max_bytes) {
            Ok(content) => content,
            Err(why) => {
                edits.refused.push(refuse(why));
                continue;
            }
        };
        let hash = sha256(&content);
        if let Some(&index) = gone_by_hash.get(hash.as_str()) {
            moved.push((index, path.clone()));
            continue;
        }
        edits.creates.push(Create {
            stream: match parent {
                Some(owner) => Some(owner.stream.clone()),
                None => root_stream.clone(),
            },
            parent_id: parent.map(|owner| owner.id.clone()),
            title: title.to_string(),
            extension: extension.to_string(),
            content,
            hash,
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
/// user left them.
pub fn record_pushed(dir: &Path, source: &str, done: &[PushedFile]) -> Result<()> {
    let mut ignored = Vec::new();
    let mut manifest = read_manifest(dir, source, &mut ignored)?.ok_or_else(|| {
        usage(format!(
            "{} is not a mirror (no {MANIFEST})",
            dir.display()
        ))
    })?;
    let key_of: HashMap<String, String> = manifest
        .entries
        .iter()
        .map(|(key, entry)| (entry.path.clone(), key.clone()))
        .collect();
    for change in done {
        match change {
            PushedFile::Updated {
                path,
                version,
                hash,
            } => {
                let entry = key_of
                    .get(path)
                    .and_then(|key| manifest.entries.get_mut(key))
                    .with_context(|| {
                        format!("{} is not in the mirror's manifest", Untrusted::new(path))
                    })?;
                entry.version = Some(version.clone());
                entry.hash = hash.clone();
            }
            PushedFile::Created {
                path,
                stream,
                id,
                version,
                hash,
            } => {
                if let Some(key) = key_of.get(path) {
                    manifest.entries.remove(key);
                }
                manifest.entries.insert(
                    file_key(stream, id, None),
                    Entry {
                        path: path.clone(),
                        hash: hash.clone(),
                        kind: Some(FileKind::Content),
                        stream: Some(stream.clone()),
                        id: Some(id.clone()),
                        version: Some(version.clone()),
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
                if let Some(key) = key_of.get(path) {
                    manifest.entries.remove(key);
                }
            }
        }
    }
    write_atomically(
        &Root::new(dir),
        MANIFEST,
        &serde_json::to_vec_pretty(&manifest)?,
    )
}

/// The record a manifest entry belongs to, and what the file is.
struct Owner {
    stream: String,
    id: String,
    kind: FileKind,
}

impl Owner {
    /// From the entry, or for a manifest written before push from its key
    /// (`stream/id` content, `stream/id#blob` a blob; a record that is only
    /// an attachment had the key of content then: the push engine refuses
    /// an update of a record without content).
    fn of(key: &str, entry: &Entry) -> Option<Owner> {
        if let (Some(kind), Some(stream), Some(id)) = (entry.kind, &entry.stream, &entry.id) {
            return Some(Owner {
                stream: stream.clone(),
                id: id.clone(),
                kind,
            });
        }
        let (record, kind) = match key.split_once('#') {
            Some((record, _)) => (record, FileKind::Blob),
            None => (key, FileKind::Content),
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

/// The stream every content file at the mirror's root belongs to, if one.
fn root_stream(manifest: &Manifest) -> Option<String> {
    let mut streams = manifest
        .entries
        .iter()
        .filter(|(_, entry)| !entry.path.contains('/'))
        .filter_map(|(key, entry)| Owner::of(key, entry))
        .filter(|owner| owner.kind == FileKind::Content)
        .map(|owner| owner.stream);
    let first = streams.next()?;
    streams.all(|s| s == first).then_some(first)
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

fn sha256(bytes: &[u8]) -> String {
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
    fn of(root: &Path) -> Result<Walk> {
        let mut walk = Walk::default();
        let mut pending = vec![(String::new(), 0usize)];
        let mut seen = 0usize;
        while let Some((rel, depth)) = pending.pop() {
            let path = if rel.is_empty() {
                root.to_path_buf()
            } else {
                root.join(&rel)
            };
            let entries =
                std::fs::read_dir(&path).with_context(|| format!("cannot read {}", path.display()))?;
            for entry in entries {
                let entry = entry.with_context(|| format!("cannot read {}", path.display()))?;
                seen += 1;
                if seen > MAX_FILES {
                    return Err(usage(format!(
                        "{} holds more than {MAX_FILES} files and directories: not a mirror synchost wrote, or too large to push from",
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

    /// Why a manifest file missing from the walk is not a removed file:
    /// it, or a directory on its way, is a link or otherwise not walked.
    fn blocked(&self, path: &str) -> Option<String> {
        if self.dirs.contains(path) {
            return Some("replaced by a directory: left alone".into());
        }
        let mut ends: Vec<usize> = path.match_indices('/').map(|(end, _)| end).collect();
        ends.push(path.len());
        ends.into_iter().find_map(|end| {
            let at = &path[..end];
            self.blocked.get(at).map(|why| {
                format!(
                    "not reached: {} is {why}",
                    Untrusted::clipped(at, 300)
                )
            })
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
