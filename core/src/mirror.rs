//! The browsable mirror: `synchost export SOURCE --format files --out DIR`.
//!
//! Pass one reads only ids, parents, titles and path hints and computes
//! every record's path ([`plan`]); pass two streams contents and writes what
//! changed ([`write_mirror`]). A manifest in the directory
//! (`.synchost-mirror.json`) remembers what was written where, so a rerun
//! rewrites only changed files, renames moved ones and removes deleted ones.
//!
//! What keeps plugin data from taking over the directory:
//! - every name goes through [`sanitize`] (see [`names`] for the rule): no
//!   planned name starts with a dot, so neither `.git` nor the mirror's own
//!   files (the manifest, temporary files, all dot-names) can be planned;
//! - paths stay within [`MAX_PATH_BYTES`] and [`MAX_DEPTH`] levels, each
//!   computed once from its parent's; a record that would go deeper or
//!   longer starts again at the top as `Name [id]`;
//! - the manifest is never trusted blindly: an entry whose path the planner
//!   could not have produced is ignored with a warning, and no path is
//!   followed through a symbolic link;
//! - files are written to a temporary name in the mirror's root and renamed
//!   into place, so a crash never leaves a half-written file; the manifest
//!   is written the same way, last, and also after a failure, so it always
//!   names what is on disk.

pub mod edits;
pub mod forget;
mod names;
mod render;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use names::{disambiguate, folded, folded_path, MAX_DISAMBIGUATED_BYTES};
pub use names::{sanitize, unsafe_name};
pub use render::{quoted, read_markdown, Format, MarkdownFile, Page};

use crate::store::reports::{MirrorBlob, MirrorNode};
use crate::store::Store;
use crate::untrusted::Untrusted;

/// The manifest's name: a dot-name, which no planned file has.
pub const MANIFEST: &str = ".synchost-mirror.json";
/// How temporary files end (`.PID-N.synchost-tmp`, in the mirror's root).
const TEMP_SUFFIX: &str = ".synchost-tmp";
/// Longest path of a file relative to the mirror root, in bytes: with the
/// output directory it stays far below PATH_MAX (4096 bytes).
pub const MAX_PATH_BYTES: usize = 1024;
/// Longest path of a record's directory: room is left below it for any
/// file name (255 bytes), so no file path exceeds [`MAX_PATH_BYTES`].
const MAX_DIR_BYTES: usize = MAX_PATH_BYTES - 256;
/// Deepest nesting of records; deeper records start again at the top.
pub const MAX_DEPTH: usize = 32;
/// Most directories a path hint may add.
const MAX_HINT_DEPTH: usize = 8;

/// What a mirror run changed, and what it refused to touch.
#[derive(Debug, Default, Serialize)]
pub struct MirrorReport {
    pub written: u64,
    pub unchanged: u64,
    pub moved: u64,
    pub removed: u64,
    /// Manifest entries or files left alone, and why (already escaped).
    pub warnings: Vec<String>,
}

/// What the manifest remembers of each file: where, which content, and
/// whose. Manifests written before push lack `kind`, `stream`, `id` and
/// `version` (read as `None`; [`edits`] copes).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Entry {
    path: String,
    hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kind: Option<FileKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stream: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    /// The record's version when the file was written (or pushed from the
    /// mirror): the base of an edit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    /// For a rendered file (Markdown, text): the key of what it was made
    /// from ([`Page`]); `hash` is then the file's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    /// For a Markdown file: its attachments' file names and paths, to read
    /// image links back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    links: Vec<(String, String)>,
}

impl Entry {
    /// What the file was made from: the rendering key, or the content hash.
    fn made_from(&self) -> &str {
        self.from.as_deref().unwrap_or(&self.hash)
    }
}

/// Whether a file is a record's content or one of its blobs.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum FileKind {
    Content,
    Blob,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    source: String,
    /// Missing from manifests written before Markdown mirrors: files.
    #[serde(default)]
    format: Format,
    /// Key: [`file_key`].
    entries: BTreeMap<String, Entry>,
    /// The directories that are records' (their children and blobs go
    /// there), by path; missing from manifests written before push.
    #[serde(default)]
    folders: BTreeMap<String, Folder>,
}

/// The record whose directory a folder is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Folder {
    pub stream: String,
    pub id: String,
    /// The record is an attachment (blobs, no content) with records below it.
    #[serde(default)]
    pub attachment: bool,
}

/// Every file of a mirror, and the directories that belong to records.
#[derive(Debug, Default)]
pub struct Plan {
    pub files: Vec<MirrorFile>,
    /// Relative path (`/`-separated) -> its record; a directory two records
    /// would share is left out.
    pub folders: BTreeMap<String, Folder>,
}

/// Writes (or refreshes) the mirror of `source` in `out`, as `format`
/// (the mirror a directory holds keeps its format).
pub fn write_mirror(
    store: &Store,
    source: &str,
    out: &Path,
    format: Format,
) -> Result<MirrorReport> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut report = MirrorReport::default();
    remove_temp_files(out);
    let old = match read_manifest(out, source, &mut report.warnings)? {
        Some(old) if old.format != format => {
            return Err(crate::error::usage(format!(
                "{} holds a {} mirror of `{source}`: export --format {} to another directory (or remove this one)",
                out.display(),
                old.format.name(),
                format.name()
            )));
        }
        Some(old) => old,
        None => empty(source),
    };
    let root = Root::new(out);

    // Pass one: every file's path, from parent links, titles and hints.
    let Plan { files, folders } = plan(
        &store.mirror_nodes(source, format != Format::Files)?,
        format,
    );

    // Pass two: contents, streamed.
    let mut new = Manifest {
        folders,
        format,
        ..empty(source)
    };
    let result = update(store, source, &root, &old, files, &mut new, &mut report);
    if result.is_err() {
        // What was not reached stays as the old manifest had it, so the
        // manifest still names every file the mirror may hold.
        for (key, entry) in old.entries {
            new.entries.entry(key).or_insert(entry);
        }
    }
    let written = write_atomically(&root, MANIFEST, &serde_json::to_vec_pretty(&new)?);
    result?;
    written?;
    Ok(report)
}

/// What to do with one planned file.
enum Action {
    Unchanged,
    /// Renamed from where the old manifest had it (staged first under a
    /// temporary name, so moves in a circle never overwrite each other).
    Move(PathBuf),
    Write,
    /// The user edited the file since it was written: it stays as it is,
    /// with its old entry (`push --from` finds the edit, based on the
    /// version it was exported at).
    KeepEdited(Entry),
}

/// Moves, removes and writes so that `out` holds `files`; records every
/// file in `new` as soon as it is in place.
fn update(
    store: &Store,
    source: &str,
    out: &Root,
    old: &Manifest,
    files: Vec<MirrorFile>,
    new: &mut Manifest,
    report: &mut MirrorReport,
) -> Result<()> {
    let planned: Vec<String> = files.iter().map(|f| path_text(&f.path)).collect();
    let kept: HashSet<&str> = planned.iter().map(String::as_str).collect();

    let mut gone: Vec<&str> = Vec::new();
    let mut actions = Vec::with_capacity(files.len());
    for (file, path) in files.iter().zip(&planned) {
        let hash = file.from.hash();
        let action = match old.entries.get(&file.key) {
            Some(previous) if previous.made_from() == hash && &previous.path == path => {
                if regular_file(out, path) {
                    Action::Unchanged
                } else {
                    Action::Write
                }
            }
            Some(previous) if previous.made_from() == hash && regular_file(out, &previous.path) => {
                match stage(out, &previous.path) {
                    Ok(staged) => {
                        gone.push(&previous.path);
                        Action::Move(staged)
                    }
                    Err(_) => Action::Write,
                }
            }
            Some(previous) if edited_locally(out, previous) => Action::KeepEdited(previous.clone()),
            _ => Action::Write,
        };
        actions.push(action);
    }

    // What the old manifest had and the new plan does not: deleted
    // remotely, or moved (and rewritten) elsewhere. Removed first, so a new
    // file or directory can take its place.
    let planned_keys: HashSet<&str> = files.iter().map(|f| f.key.as_str()).collect();
    let mut staged: HashSet<&str> = gone.iter().copied().collect();
    for action in &actions {
        if let Action::KeepEdited(entry) = action {
            staged.insert(entry.path.as_str());
        }
    }
    for (key, entry) in &old.entries {
        let path = entry.path.as_str();
        if kept.contains(path) || staged.contains(path) {
            continue;
        }
        if edited_locally(out, entry) {
            // Deleted or moved remotely, edited here: kept, not lost.
            report.warnings.push(format!(
                "kept {}: edited here since the export, and changed remotely; \
                 `synchost push --from` sends it (or reports the conflict), or remove it",
                Untrusted::new(path)
            ));
            new.entries.insert(key.clone(), entry.clone());
            continue;
        }
        if remove_file(out, path, &mut report.warnings) && !planned_keys.contains(key.as_str()) {
            report.removed += 1;
        }
        gone.push(path);
    }
    remove_empty_dirs(out, &gone);

    for ((file, path), action) in files.into_iter().zip(&planned).zip(actions) {
        let target = resolve(out, path).map_err(anyhow::Error::msg)?;
        // Kept or moved: the file is what the old entry says.
        let mut file_hash = match &action {
            Action::Unchanged | Action::Move(_) => {
                old.entries.get(&file.key).map(|e| e.hash.clone())
            }
            _ => None,
        };
        match action {
            Action::KeepEdited(entry) => {
                report.warnings.push(format!(
                    "kept {}: edited here since the export, and changed remotely; \
                     `synchost push --from` sends it (or reports the conflict), or remove it \
                     and export again to take the remote version",
                    Untrusted::new(&entry.path)
                ));
                new.entries.insert(file.key.clone(), entry);
                continue;
            }
            Action::Unchanged => report.unchanged += 1,
            Action::Move(staged) => {
                ensure_parent(out, path)?;
                std::fs::rename(&staged, &target)
                    .with_context(|| format!("cannot move a file to {}", target.display()))?;
                report.moved += 1;
            }
            Action::Write => {
                let bytes = match &file.from {
                    FileSource::Content { .. } => {
                        store.record_content(source, &file.stream, &file.id)?
                    }
                    FileSource::Rendered { page, .. } => {
                        let content = store.record_content(source, &file.stream, &file.id)?;
                        let bytes = render::render(page, &content);
                        file_hash = Some(edits::sha256(&bytes));
                        bytes
                    }
                    FileSource::Blob(blob) => std::fs::read(store.blob_dir().join(&blob.path))
                        .with_context(|| {
                            format!(
                                "blob {} of {} is missing from the store",
                                blob.hash,
                                Untrusted::new(&file.key)
                            )
                        })?,
                };
                write_atomically(out, path, &bytes)?;
                report.written += 1;
            }
        }
        let hash = file_hash.unwrap_or_else(|| file.from.hash().to_string());
        let (kind, from, links) = match file.from {
            FileSource::Content { .. } => (FileKind::Content, None, Vec::new()),
            FileSource::Rendered { hash, page } => (FileKind::Content, Some(hash), page.links),
            FileSource::Blob(_) => (FileKind::Blob, None, Vec::new()),
        };
        new.entries.insert(
            file.key.clone(),
            Entry {
                path: path.clone(),
                hash,
                kind: Some(kind),
                stream: Some(file.stream),
                id: Some(file.id),
                version: Some(file.version),
                from,
                links,
            },
        );
    }
    Ok(())
}

fn empty(source: &str) -> Manifest {
    Manifest {
        source: source.to_string(),
        ..Manifest::default()
    }
}

/// The manifest in `out`, with every entry and folder the planner could not
/// have written dropped (and named in `warnings`); none when there is none.
fn read_manifest(out: &Path, source: &str, warnings: &mut Vec<String>) -> Result<Option<Manifest>> {
    let path = out.join(MANIFEST);
    match std::fs::symlink_metadata(&path) {
        Err(_) => return Ok(None),
        Ok(meta) if !meta.is_file() => {
            warnings.push(format!(
                "ignored {}: not a regular file (it will be replaced)",
                path.display()
            ));
            return Ok(None);
        }
        Ok(_) => {}
    }
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut manifest: Manifest = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is damaged; remove it to rebuild the mirror",
            path.display()
        )
    })?;
    if !manifest.source.is_empty() && manifest.source != source {
        anyhow::bail!(
            "{} holds the mirror of source `{}`; choose another directory for `{source}`",
            out.display(),
            Untrusted::new(&manifest.source)
        );
    }
    let mut seen = HashSet::new();
    manifest.entries.retain(|key, entry| {
        let why = plannable(&entry.path).err().or_else(|| {
            (!seen.insert(folded(&entry.path))).then_some("a path another entry has")
        });
        if let Some(why) = why {
            warnings.push(format!(
                "ignored manifest entry {}: {} is not a path the mirror writes ({why}); nothing was done with it",
                Untrusted::clipped(key, 200),
                Untrusted::clipped(&entry.path, 300)
            ));
        }
        why.is_none()
    });
    manifest.folders.retain(|path, _| match plannable(path) {
        Ok(()) => true,
        Err(why) => {
            warnings.push(format!(
                "ignored manifest folder {}: not a path the mirror writes ({why})",
                Untrusted::clipped(path, 300)
            ));
            false
        }
    });
    Ok(Some(manifest))
}

/// Whether `path` (relative, `/`-separated) is one [`plan`] could produce.
fn plannable(path: &str) -> Result<(), &'static str> {
    if path.len() > MAX_PATH_BYTES {
        return Err("longer than the mirror's path limit");
    }
    let mut depth = 0;
    for name in path.split('/') {
        depth += 1;
        if let Some(why) = unsafe_name(name) {
            return Err(why);
        }
    }
    if depth > MAX_DEPTH + 1 {
        return Err("deeper than the mirror's depth limit");
    }
    Ok(())
}

/// One file of the mirror.
#[derive(Debug)]
pub struct MirrorFile {
    /// The manifest key: [`file_key`].
    pub key: String,
    /// Where the file goes, relative to the mirror root.
    pub path: PathBuf,
    pub from: FileSource,
    /// The record the file belongs to, and its version.
    pub stream: String,
    pub id: String,
    pub version: String,
}

/// Where a mirror file's bytes come from.
#[derive(Debug)]
pub enum FileSource {
    /// A record's content.
    Content {
        hash: String,
    },
    Blob(MirrorBlob),
    /// A record's content rendered (Markdown, text): `hash` is the key of
    /// what the file is made of ([`Page`]).
    Rendered {
        hash: String,
        page: Box<Page>,
    },
}

impl FileSource {
    fn hash(&self) -> &str {
        match self {
            FileSource::Content { hash, .. } | FileSource::Rendered { hash, .. } => hash,
            FileSource::Blob(blob) => &blob.hash,
        }
    }
}

/// The manifest key of a file: `stream/id`, or `stream/id#blob` for a blob
/// of a record with content. `%`, `/` and `#` inside a part are written
/// `%25`, `%2F` and `%23`, so record `x#y` and blob `y` of record `x` have
/// different keys. (Older manifests wrote the parts bare; for ids without
/// these characters the keys are the same, others are written again.)
pub fn file_key(stream: &str, id: &str, blob: Option<&str>) -> String {
    fn escaped(part: &str) -> String {
        part.replace('%', "%25")
            .replace('/', "%2F")
            .replace('#', "%23")
    }
    let mut key = format!("{}/{}", escaped(stream), escaped(id));
    if let Some(blob) = blob {
        key.push('#');
        key.push_str(&escaped(blob));
    }
    key
}

/// Every file of the mirror of these records. A record that is only a blob
/// (an attachment) is that blob, named by its title, unless other records
/// hang below it; otherwise its content is `Name.ext` and its blobs go into
/// the directory `Name/`. No two files share a path (on a case- or
/// normalization-insensitive file system too) and no file takes a
/// directory's path: where they would, the later file gets its record's
/// id, `Name [id].ext`. A mirror of another `format` than files renders
/// records in storage format (`Name.md`, `Name.txt`).
pub fn plan(nodes: &[MirrorNode], format: Format) -> Plan {
    let bases = record_paths(nodes);
    let mut directories = HashSet::new();
    for base in &bases {
        add_ancestors(&mut directories, base);
    }
    let folders = record_folders(nodes, &bases, &directories);
    // Each file with the id of its record, to tell colliding files apart.
    let mut planned: Vec<(MirrorFile, &str)> = Vec::with_capacity(nodes.len());
    for (node, base) in nodes.iter().zip(&bases) {
        let is_directory = directories.contains(&folded_path(base));
        planned.extend(
            files_of(node, base, is_directory, format)
                .into_iter()
                .map(|file| (file, node.id.as_str())),
        );
    }
    drop(directories);
    settle_collisions(&mut planned);
    let mut files: Vec<MirrorFile> = planned.into_iter().map(|(file, _)| file).collect();
    if format != Format::Files {
        render::link_attachments(nodes, &mut files);
    }
    Plan { files, folders }
}

/// The records whose path is also a directory (`directories`: folded), or
/// would be one for children a user adds (any record with content), by that
/// path; a directory two records would share belongs to neither.
fn record_folders(
    nodes: &[MirrorNode],
    bases: &[PathBuf],
    directories: &HashSet<String>,
) -> BTreeMap<String, Folder> {
    let mut owners: HashMap<String, Option<(String, Folder)>> = HashMap::new();
    for (node, base) in nodes.iter().zip(bases) {
        let folded = folded_path(base);
        if !directories.contains(&folded) && node.content_size == 0 {
            continue;
        }
        let folder = Folder {
            stream: node.stream.clone(),
            id: node.id.clone(),
            attachment: node.content_size == 0 && !node.blobs.is_empty(),
        };
        owners
            .entry(folded)
            .and_modify(|owner| *owner = None)
            .or_insert(Some((path_text(base), folder)));
    }
    owners.into_values().flatten().collect()
}

/// The files of one record whose path (without extension) is `base`.
fn files_of(node: &MirrorNode, base: &Path, is_directory: bool, format: Format) -> Vec<MirrorFile> {
    let file = |key: String, path: PathBuf, from: FileSource| MirrorFile {
        key,
        path,
        from,
        stream: node.stream.clone(),
        id: node.id.clone(),
        version: node.version.clone(),
    };
    let key = file_key(&node.stream, &node.id, None);
    let content_empty = node.content_size == 0;
    if let (true, [only], false) = (content_empty, node.blobs.as_slice(), is_directory) {
        return vec![file(
            key,
            base.to_path_buf(),
            FileSource::Blob(only.clone()),
        )];
    }
    let mut files = Vec::with_capacity(node.blobs.len() + 1);
    if format.renders(node) {
        // The key comes once the attachments' paths are known.
        files.push(file(
            key,
            with_extension(base, format.extension()),
            FileSource::Rendered {
                hash: String::new(),
                page: Box::new(Page::of(node, format)),
            },
        ));
    } else if !content_empty {
        files.push(file(
            key,
            with_extension(base, extension(&node.content_type)),
            FileSource::Content {
                hash: node.content_hash.clone().unwrap_or_default(),
            },
        ));
    }
    for blob in &node.blobs {
        files.push(file(
            file_key(&node.stream, &node.id, Some(&blob.name)),
            base.join(sanitize(&blob.name, &blob.hash)),
            FileSource::Blob(blob.clone()),
        ));
    }
    files
}

/// Renames files that meet another file or a directory: the record's id
/// first, then the id and a counter.
fn settle_collisions(planned: &mut [(MirrorFile, &str)]) {
    let mut directories = HashSet::new();
    for (file, _) in planned.iter() {
        add_ancestors(&mut directories, &file.path);
    }
    let mut taken = HashSet::with_capacity(planned.len());
    for (file, id) in planned.iter_mut() {
        let original = file.path.clone();
        let name = original
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut attempt = 1;
        loop {
            let folded_path = folded_path(&file.path);
            if !directories.contains(&folded_path) && taken.insert(folded_path) {
                break;
            }
            file.path = original.with_file_name(disambiguate(&name, id, attempt));
            attempt += 1;
        }
    }
}

/// Adds the proper ancestors of `path` (`a` and `a/b` for `a/b/c`), folded,
/// stopping at the first one already there: its own are there too, so
/// shared prefixes cost nothing.
fn add_ancestors(set: &mut HashSet<String>, path: &Path) {
    for ancestor in path.ancestors().skip(1) {
        if ancestor.as_os_str().is_empty() || !set.insert(folded_path(ancestor)) {
            break;
        }
    }
}

/// Every record's path (without extension), relative to the mirror root,
/// by index. A record with children is also a directory of the same name.
/// Each path is computed once, from its parent's.
fn record_paths(nodes: &[MirrorNode]) -> Vec<PathBuf> {
    let parents = parents(nodes);
    // A record without a parent goes where its path hint says.
    let hints: Vec<PathBuf> = nodes
        .iter()
        .zip(&parents)
        .map(|(node, parent)| match parent {
            None => hint_dir(node.path.as_deref()),
            Some(_) => PathBuf::new(),
        })
        .collect();

    // Names, with collisions among siblings settled by id.
    let names: Vec<String> = nodes
        .iter()
        .map(|n| sanitize(n.title.as_deref().unwrap_or(&n.id), &n.id))
        .collect();
    let mut siblings: HashMap<(Option<usize>, String, String), Vec<usize>> = HashMap::new();
    for (index, name) in names.iter().enumerate() {
        siblings
            .entry((parents[index], folded_path(&hints[index]), folded(name)))
            .or_default()
            .push(index);
    }
    let mut unique = names.clone();
    for group in siblings.values().filter(|group| group.len() > 1) {
        for &index in group {
            unique[index] = disambiguate(&names[index], &nodes[index].id, 1);
        }
    }
    drop(siblings);

    // Parents first: each path extends its parent's, within the budget.
    let mut placed: Vec<Option<(PathBuf, usize)>> = vec![None; nodes.len()];
    let mut chain = Vec::new();
    for start in 0..nodes.len() {
        let mut current = Some(start);
        while let Some(index) = current.filter(|&i| placed[i].is_none()) {
            chain.push(index);
            current = parents[index];
        }
        while let Some(index) = chain.pop() {
            let name = &unique[index];
            let under_parent = match parents[index] {
                Some(parent) => placed[parent].as_ref().and_then(|(path, depth)| {
                    (*depth < MAX_DEPTH && path.as_os_str().len() + 1 + name.len() <= MAX_DIR_BYTES)
                        .then(|| (path.join(name), depth + 1))
                }),
                None => Some((
                    hints[index].join(name),
                    hints[index].components().count() + 1,
                )),
            };
            // Too deep or too long: at the top, told apart by its id.
            placed[index] = Some(under_parent.unwrap_or_else(|| {
                let name = disambiguate(&names[index], &nodes[index].id, 1);
                (PathBuf::from(name), 1)
            }));
        }
    }
    placed
        .into_iter()
        .map(|p| p.map(|(path, _)| path).unwrap_or_default())
        .collect()
}

/// Each record's parent, by index. Parents are looked up by id, one in the
/// same stream first; in a cycle, the record that comes first loses its
/// parent, so every chain ends.
fn parents(nodes: &[MirrorNode]) -> Vec<Option<usize>> {
    let mut by_id: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, node) in nodes.iter().enumerate() {
        by_id.entry(node.id.as_str()).or_default().push(index);
    }
    let mut parents: Vec<Option<usize>> = nodes
        .iter()
        .enumerate()
        .map(|(index, node)| {
            let candidates = by_id.get(node.parent_id.as_deref()?)?;
            candidates
                .iter()
                .copied()
                .find(|&c| nodes[c].stream == node.stream)
                .or_else(|| candidates.first().copied())
                .filter(|&c| c != index)
        })
        .collect();
    // Walk each chain once: 1 = on the current walk, 2 = done.
    let mut state = vec![0u8; nodes.len()];
    let mut walk = Vec::new();
    for start in 0..nodes.len() {
        let mut current = Some(start);
        while let Some(index) = current {
            match state[index] {
                0 => {
                    state[index] = 1;
                    walk.push(index);
                    current = parents[index];
                }
                1 => {
                    let at = walk.iter().rposition(|&w| w == index).unwrap_or(0);
                    if let Some(&first) = walk[at..].iter().min() {
                        parents[first] = None;
                    }
                    break;
                }
                _ => break,
            }
        }
        for index in walk.drain(..) {
            state[index] = 2;
        }
    }
    parents
}

/// The directories of a path hint (`guides/setup/intro.md` -> `guides/setup`),
/// each a safe name, `.` and `..` dropped; none when the hint would be
/// deeper than [`MAX_HINT_DEPTH`] or too long.
fn hint_dir(hint: Option<&str>) -> PathBuf {
    let Some(hint) = hint else {
        return PathBuf::new();
    };
    let parts: Vec<&str> = hint
        .split(['/', '\\'])
        .filter(|part| !matches!(part.trim(), "" | "." | ".."))
        .collect();
    let Some((_, dirs)) = parts.split_last() else {
        return PathBuf::new();
    };
    if dirs.len() > MAX_HINT_DEPTH {
        return PathBuf::new();
    }
    let dir: PathBuf = dirs.iter().map(|d| sanitize(d, "_")).collect();
    if dir.as_os_str().len() + 1 + MAX_DISAMBIGUATED_BYTES > MAX_DIR_BYTES {
        return PathBuf::new();
    }
    dir
}

/// Gives every later blob of a record that repeats an earlier blob's name a
/// name of its own (`photo.png`, `photo [2].png`), as the mirror settles
/// collisions, so none silently replaces another (the store keeps one blob
/// per name). Returns `(old, new)` for each renamed blob.
pub fn rename_duplicate_blobs<'a>(
    names: impl IntoIterator<Item = &'a mut String>,
) -> Vec<(String, String)> {
    let mut names: Vec<&mut String> = names.into_iter().collect();
    let mut taken: HashSet<String> = HashSet::with_capacity(names.len());
    let mut renamed = Vec::new();
    for index in 0..names.len() {
        if taken.insert(names[index].clone()) {
            continue;
        }
        let original = names[index].clone();
        let (stem, ext) = match original.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() && ext.len() <= 8 => (stem, format!(".{ext}")),
            _ => (original.as_str(), String::new()),
        };
        // Later names may be taken too: the counter goes on until one is free.
        let later: HashSet<&str> = names[index + 1..].iter().map(|n| n.as_str()).collect();
        let free = (2..)
            .map(|n| format!("{stem} [{n}]{ext}"))
            .find(|c| !taken.contains(c) && !later.contains(c.as_str()))
            .expect("a free name");
        taken.insert(free.clone());
        *names[index] = free.clone();
        renamed.push((original, free));
    }
    renamed
}

/// Every extension [`extension`] gives a content file.
const CONTENT_EXTENSIONS: &[&str] = &["html", "json", "md", "txt", "xml", "bin"];

/// The extension of a content file of this media type (one of
/// [`CONTENT_EXTENSIONS`]).
fn extension(content_type: &str) -> &'static str {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "text/html" | "application/xhtml+xml" | "application/vnd.atlassian.storage+xml" => "html",
        "application/json" | "application/vnd.atlassian.adf+json" => "json",
        "text/markdown" => "md",
        "text/plain" => "txt",
        "application/xml" | "text/xml" => "xml",
        _ => "bin",
    }
}

fn with_extension(path: &Path, extension: &str) -> PathBuf {
    let mut os = path.as_os_str().to_owned();
    os.push(".");
    os.push(extension);
    PathBuf::from(os)
}

/// A planned path as the manifest writes it: `/`-separated.
fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// The mirror's directory, with the directories below it seen to be real
/// directories (not links) in this run, so each is checked once.
struct Root<'a> {
    path: &'a Path,
    real_dirs: RefCell<HashSet<String>>,
}

impl<'a> Root<'a> {
    fn new(path: &'a Path) -> Self {
        Root {
            path,
            real_dirs: RefCell::new(HashSet::new()),
        }
    }

    fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path.join(rel)
    }
}

/// `out/rel`, unless a directory on the way is a symbolic link (which
/// could lead out of the mirror): the mirror never follows one.
fn resolve(out: &Root, rel: &str) -> std::result::Result<PathBuf, String> {
    let mut real_dirs = out.real_dirs.borrow_mut();
    for (end, _) in rel.match_indices('/') {
        let dir = &rel[..end];
        if real_dirs.contains(dir) {
            continue;
        }
        let path = out.join(dir);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(format!(
                    "{} is a symbolic link; the mirror does not follow links",
                    path.display()
                ));
            }
            Ok(meta) if meta.is_dir() => {
                real_dirs.insert(dir.to_string());
            }
            // Nothing below a missing directory (or a file) can be a link.
            _ => break,
        }
    }
    Ok(out.join(rel))
}

/// Whether the file of a manifest entry is there and no longer holds what
/// the mirror wrote (the user edited it).
fn edited_locally(out: &Root, entry: &Entry) -> bool {
    use sha2::Digest as _;
    let Some(path) = resolve(out, &entry.path)
        .ok()
        .filter(|_| regular_file(out, &entry.path))
    else {
        return false;
    };
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let mut hasher = sha2::Sha256::new();
    match std::io::copy(&mut file, &mut hasher) {
        Ok(_) => hex::encode(hasher.finalize()) != entry.hash,
        Err(_) => false,
    }
}

/// Whether `out/rel` is a regular file (not a link), reached without links.
fn regular_file(out: &Root, rel: &str) -> bool {
    resolve(out, rel)
        .ok()
        .and_then(|path| std::fs::symlink_metadata(path).ok())
        .is_some_and(|meta| meta.is_file())
}

/// Creates the directories of `out/rel`, none through a link.
fn ensure_parent(out: &Root, rel: &str) -> Result<()> {
    let path = resolve(out, rel).map_err(anyhow::Error::msg)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    Ok(())
}

/// A fresh temporary path in the mirror's root: a dot-name, so never a
/// planned file's, and removed by the next export if this one is killed.
fn temp_path(out: &Root) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    out.join(format!(".{}-{n}{TEMP_SUFFIX}", std::process::id()))
}

/// Moves `out/rel` to a temporary path, for a move.
fn stage(out: &Root, rel: &str) -> Result<PathBuf> {
    let from = resolve(out, rel).map_err(anyhow::Error::msg)?;
    let staged = temp_path(out);
    std::fs::rename(&from, &staged)?;
    Ok(staged)
}

fn write_atomically(out: &Root, rel: &str, bytes: &[u8]) -> Result<()> {
    ensure_parent(out, rel)?;
    let path = resolve(out, rel).map_err(anyhow::Error::msg)?;
    let temp = temp_path(out);
    std::fs::write(&temp, bytes).with_context(|| format!("cannot write {}", temp.display()))?;
    std::fs::rename(&temp, &path).with_context(|| {
        let _ = std::fs::remove_file(&temp);
        format!("cannot write {}", path.display())
    })?;
    Ok(())
}

/// Removes the file at `out/rel` if it is one (never a directory, never
/// through a link); true when it is gone.
fn remove_file(out: &Root, rel: &str, warnings: &mut Vec<String>) -> bool {
    let path = match resolve(out, rel) {
        Ok(path) => path,
        Err(why) => {
            warnings.push(format!("left {} alone: {why}", Untrusted::new(rel)));
            return false;
        }
    };
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.is_dir() => {
            warnings.push(format!("left {} alone: it is a directory", path.display()));
            false
        }
        Ok(_) => match std::fs::remove_file(&path) {
            Ok(()) => true,
            Err(err) => {
                warnings.push(format!("cannot remove {}: {err}", path.display()));
                false
            }
        },
        Err(_) => true,
    }
}

/// Removes the directories of `paths` that are left empty (deepest first;
/// never the root, never through a link).
fn remove_empty_dirs(out: &Root, paths: &[&str]) {
    let mut dirs = HashSet::new();
    for path in paths {
        let mut rest = *path;
        while let Some((dir, _)) = rest.rsplit_once('/') {
            if !dirs.insert(dir) {
                break;
            }
            rest = dir;
        }
    }
    let mut dirs: Vec<&str> = dirs.into_iter().collect();
    dirs.sort_by_key(|dir| std::cmp::Reverse(dir.matches('/').count()));
    for dir in dirs {
        if let Ok(path) = resolve(out, dir) {
            // Fails, as it should, when the directory is not empty.
            if std::fs::symlink_metadata(&path).is_ok_and(|meta| meta.is_dir())
                && std::fs::remove_dir(&path).is_ok()
            {
                out.real_dirs.borrow_mut().remove(dir);
            }
        }
    }
}

/// Removes temporary files an export that was killed mid-write left in the
/// root (only there: the mirror writes no other).
fn remove_temp_files(out: &Path) {
    let Ok(entries) = std::fs::read_dir(out) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.')
            && name.ends_with(TEMP_SUFFIX)
            && entry.file_type().is_ok_and(|t| t.is_file())
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(stream: &str, id: &str, parent: Option<&str>, title: &str) -> MirrorNode {
        MirrorNode {
            stream: stream.into(),
            id: id.into(),
            parent_id: parent.map(String::from),
            title: Some(title.into()),
            path: None,
            content_type: "text/html".into(),
            content_hash: Some("h".into()),
            content_size: 1,
            version: "1".into(),
            blobs: vec![],
            metadata: "{}".into(),
        }
    }

    fn paths_of(nodes: &[MirrorNode]) -> HashMap<String, PathBuf> {
        nodes
            .iter()
            .zip(record_paths(nodes))
            .map(|(n, p)| (format!("{}/{}", n.stream, n.id), p))
            .collect()
    }

    #[test]
    fn paths_follow_parents_and_settle_collisions_by_id() {
        let nodes = vec![
            node("folders", "10", None, "Guides"),
            node("pages", "1", Some("10"), "Intro"),
            node("pages", "2", Some("10"), "intro"),
            node("pages", "3", Some("1"), "Deep"),
            node("pages", "4", Some("5"), "Loop A"),
            node("pages", "5", Some("4"), "Loop B"),
        ];
        let paths = paths_of(&nodes);
        assert_eq!(paths["pages/1"], Path::new("Guides/Intro [1]"));
        assert_eq!(paths["pages/2"], Path::new("Guides/intro [2]"));
        assert_eq!(paths["pages/3"], Path::new("Guides/Intro [1]/Deep"));
        // A cycle is cut where it starts: a finite path for each.
        assert_eq!(paths["pages/4"], Path::new("Loop A"));
        assert_eq!(paths["pages/5"], Path::new("Loop A/Loop B"));
    }

    /// A 100,000-deep chain: planned in one pass, prefixes shared, no path
    /// over the budget, no level deeper than the cap.
    #[test]
    fn deep_chains_share_prefixes_and_stay_within_the_budget() {
        let title = "t".repeat(100);
        let nodes: Vec<MirrorNode> = (0..100_000)
            .map(|i| {
                let parent = (i > 0).then(|| format!("{:06}", i - 1));
                node("s", &format!("{i:06}"), parent.as_deref(), &title)
            })
            .collect();
        let files = plan(&nodes, Format::Files).files;
        assert_eq!(files.len(), nodes.len());
        let mut dirs = HashSet::new();
        for file in &files {
            let text = path_text(&file.path);
            assert!(text.len() <= MAX_PATH_BYTES, "{}", text.len());
            assert!(file.path.components().count() <= MAX_DEPTH + 1);
            add_ancestors(&mut dirs, &file.path);
        }
        // One directory per record with children: no private copies of chains.
        assert!(dirs.len() < nodes.len(), "{} directories", dirs.len());
    }

    fn blob(name: &str) -> MirrorBlob {
        MirrorBlob {
            name: name.into(),
            hash: "b".repeat(64),
            path: String::new(),
        }
    }

    /// Found by the mirror_paths fuzz target: an attachment with records
    /// below it was a file where a directory was needed.
    #[test]
    fn an_attachment_with_children_becomes_a_directory() {
        let mut attachment = node("s", "att", None, "photo.png");
        attachment.content_size = 0;
        attachment.blobs = vec![blob("photo.png")];
        let comment = node("s", "c1", Some("att"), "Nice");
        let files = plan(&[attachment, comment], Format::Files).files;
        let paths: Vec<String> = files.iter().map(|f| path_text(&f.path)).collect();
        assert_eq!(paths, ["photo.png/photo.png", "photo.png/Nice.html"]);
    }

    /// Found by the mirror_paths fuzz target: with ids longer than the part
    /// of them a name holds, settling a third collision looped forever.
    #[test]
    fn collisions_settle_with_long_ids_and_content_files_meeting_attachments() {
        let long_id = "x".repeat(100);
        let mut record = node("s", &long_id, None, "Report");
        record.blobs = vec![blob("a"), blob("A"), blob("a\u{0}")];
        let mut attachment = node("s", "att", None, "Report.html");
        attachment.content_size = 0;
        attachment.blobs = vec![blob("Report.html")];
        let files = plan(&[record, attachment], Format::Files).files;
        let paths: Vec<String> = files.iter().map(|f| path_text(&f.path)).collect();
        let id = "x".repeat(names::MAX_ID_IN_NAME);
        assert_eq!(
            paths,
            [
                "Report.html".to_string(),
                "Report/a".to_string(),
                format!("Report/A [{id}]"),
                "Report/a_".to_string(),
                "Report [att].html".to_string(),
            ]
        );
    }

    #[test]
    fn keys_are_unambiguous() {
        assert_ne!(
            file_key("s", "x", Some("y")),
            file_key("s", "x#y", None),
            "blob y of x and record x#y"
        );
        assert_ne!(file_key("a/b", "c", None), file_key("a", "b/c", None));
        assert_eq!(file_key("pages", "123", None), "pages/123");
    }

    #[test]
    fn duplicate_blob_names_get_their_own() {
        let mut names: Vec<String> = ["a.png", "a.png", "a [2].png", "b", "a.png"]
            .map(String::from)
            .to_vec();
        let renamed = rename_duplicate_blobs(names.iter_mut());
        assert_eq!(names, ["a.png", "a [3].png", "a [2].png", "b", "a [4].png"]);
        assert_eq!(renamed.len(), 2);
    }

    #[test]
    fn path_hints_place_parentless_records_safely() {
        let mut hinted = node("s", "1", None, "Intro");
        hinted.path = Some("../../guides/.git/setup/intro.md".into());
        let mut deep = node("s", "2", None, "Deep");
        deep.path = Some("a/".repeat(20) + "x");
        let mut child = node("s", "3", Some("1"), "Child");
        child.path = Some("elsewhere/child".into());
        let paths = paths_of(&[hinted, deep, child]);
        assert_eq!(paths["s/1"], Path::new("guides/_.git/setup/Intro"));
        assert_eq!(
            paths["s/2"],
            Path::new("Deep"),
            "a hint too deep is dropped"
        );
        assert_eq!(paths["s/3"], Path::new("guides/_.git/setup/Intro/Child"));
    }

    #[test]
    fn manifest_paths_outside_the_plan_are_refused() {
        for path in [
            "../outside",
            "/etc/passwd",
            "a/../../b",
            ".synchost-mirror.json",
            ".git/config",
            "a//b",
            "CON",
            "",
        ] {
            assert!(plannable(path).is_err(), "{path:?}");
        }
        assert!(plannable("Guides/Intro [1].html").is_ok());
    }
}
