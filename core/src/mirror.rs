//! The browsable mirror: `synchost export SOURCE --format files --out DIR`.
//!
//! Pass one reads only ids, parents and titles and computes every record's
//! path; pass two streams contents and writes what changed. A manifest in the
//! directory (`.synchost-mirror.json`) remembers what was written where, so a
//! rerun rewrites only changed files, renames moved ones and removes deleted
//! ones. Files are written to a temporary name and renamed into place, so a
//! crash never leaves a half-written file.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::store::reports::{MirrorBlob, MirrorNode};
use crate::store::Store;

const MANIFEST: &str = ".synchost-mirror.json";
/// Longest file-name stem, in bytes (most file systems allow 255).
const MAX_NAME_BYTES: usize = 120;
/// Longest name after telling it apart, leaving room for the extension a
/// content file gets (file systems allow 255 bytes).
const MAX_DISAMBIGUATED_BYTES: usize = 240;
/// Longest id put into a name to tell it apart (`Name [id]`).
const MAX_ID_IN_NAME: usize = 64;
/// Deepest parent chain followed; deeper (or cyclic) chains start at the root.
const MAX_DEPTH: usize = 64;

/// What a mirror run changed.
#[derive(Debug, Default, Serialize)]
pub struct MirrorReport {
    pub written: u64,
    pub unchanged: u64,
    pub moved: u64,
    pub removed: u64,
}

/// What the manifest remembers of each file: where, and which content.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Entry {
    path: String,
    hash: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    source: String,
    /// Key: `stream/id` (and `stream/id#blob` for blobs of records with content).
    entries: BTreeMap<String, Entry>,
}

/// Writes (or refreshes) the mirror of `source` in `out`.
pub fn write_mirror(store: &Store, source: &str, out: &Path) -> Result<MirrorReport> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let manifest_path = out.join(MANIFEST);
    let old: Manifest = match std::fs::read(&manifest_path) {
        Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} is damaged; remove it to rebuild the mirror",
                manifest_path.display()
            )
        })?,
        Err(_) => Manifest {
            source: source.to_string(),
            entries: BTreeMap::new(),
        },
    };
    if !old.source.is_empty() && old.source != source {
        anyhow::bail!(
            "{} holds the mirror of source `{}`; choose another directory for `{source}`",
            out.display(),
            old.source
        );
    }

    // Pass one: every file's path, from parent links and titles.
    let files = plan(&store.mirror_nodes(source)?);

    // Pass two: contents, streamed.
    let blob_dir = store.blob_dir();
    let mut report = MirrorReport::default();
    let mut new = Manifest {
        source: source.to_string(),
        entries: BTreeMap::new(),
    };
    for MirrorFile {
        key: entry_key,
        path: relative,
        from,
    } in files
    {
        let hash = from.hash().to_string();
        let path = relative.to_string_lossy().into_owned();
        let target = out.join(&relative);
        match old.entries.get(&entry_key) {
            Some(previous) if previous.path == path && previous.hash == hash && target.exists() => {
                report.unchanged += 1;
            }
            Some(previous)
                if previous.hash == hash
                    && previous.path != path
                    && out.join(&previous.path).exists() =>
            {
                ensure_parent(&target)?;
                std::fs::rename(out.join(&previous.path), &target)?;
                report.moved += 1;
            }
            _ => {
                let bytes = match &from {
                    FileSource::Content { stream, id, .. } => {
                        store.record_content(source, stream, id)?
                    }
                    FileSource::Blob(blob) => std::fs::read(blob_dir.join(&blob.path))
                        .with_context(|| {
                            format!(
                                "blob {} of {entry_key} is missing from the store",
                                blob.hash
                            )
                        })?,
                };
                write_atomically(&target, &bytes)?;
                if let Some(previous) = old.entries.get(&entry_key).filter(|p| p.path != path) {
                    remove_file(&out.join(&previous.path));
                }
                report.written += 1;
            }
        }
        new.entries.insert(entry_key, Entry { path, hash });
    }
    // What the old manifest had and the new one does not: deleted remotely.
    let kept: HashSet<&str> = new.entries.values().map(|e| e.path.as_str()).collect();
    for (key, entry) in &old.entries {
        if !new.entries.contains_key(key) && !kept.contains(entry.path.as_str()) {
            remove_file(&out.join(&entry.path));
            report.removed += 1;
        }
    }
    remove_empty_dirs(out);
    write_atomically(&manifest_path, &serde_json::to_vec_pretty(&new)?)?;
    Ok(report)
}

/// One file of the mirror.
#[derive(Debug)]
pub struct MirrorFile {
    /// The manifest key: `stream/id`, or `stream/id#blob` for blobs of records with content.
    pub key: String,
    /// Where the file goes, relative to the mirror root.
    pub path: PathBuf,
    pub from: FileSource,
}

/// Where a mirror file's bytes come from.
#[derive(Debug)]
pub enum FileSource {
    /// A record's content.
    Content {
        stream: String,
        id: String,
        hash: String,
    },
    Blob(MirrorBlob),
}

impl FileSource {
    fn hash(&self) -> &str {
        match self {
            FileSource::Content { hash, .. } => hash,
            FileSource::Blob(blob) => &blob.hash,
        }
    }
}

/// Every file of the mirror of these records. A record that is only a blob
/// (an attachment) is that blob, named by its title, unless other records
/// hang below it; otherwise its content is `Name.ext` and its blobs go into
/// the directory `Name/`. No two files share a path (on a case-insensitive
/// file system too) and no file takes a directory's path: where they would,
/// the later file gets its record's id, `Name [id].ext`.
pub fn plan(nodes: &[MirrorNode]) -> Vec<MirrorFile> {
    let paths = compute_paths(nodes);
    let parents_needed: HashSet<String> =
        paths.values().flat_map(|p| proper_ancestors(p)).collect();
    // Each file with the id of its record, to tell colliding files apart.
    let mut planned: Vec<(MirrorFile, &str)> = Vec::with_capacity(nodes.len());
    for node in nodes {
        let key = format!("{}/{}", node.stream, node.id);
        let base = &paths[&key];
        let is_directory = parents_needed.contains(&folded(base));
        planned.extend(
            files_of(node, key, base, is_directory)
                .into_iter()
                .map(|file| (file, node.id.as_str())),
        );
    }
    settle_collisions(&mut planned);
    planned.into_iter().map(|(file, _)| file).collect()
}

/// The files of one record whose path (without extension) is `base`.
fn files_of(node: &MirrorNode, key: String, base: &Path, is_directory: bool) -> Vec<MirrorFile> {
    let content_empty = node.content_size == 0;
    if let (true, [only], false) = (content_empty, node.blobs.as_slice(), is_directory) {
        return vec![MirrorFile {
            path: base.to_path_buf(),
            from: FileSource::Blob(only.clone()),
            key,
        }];
    }
    let mut files = Vec::with_capacity(node.blobs.len() + 1);
    if !content_empty {
        files.push(MirrorFile {
            key: key.clone(),
            path: with_extension(base, extension(&node.content_type)),
            from: FileSource::Content {
                stream: node.stream.clone(),
                id: node.id.clone(),
                hash: node.content_hash.clone().unwrap_or_default(),
            },
        });
    }
    for blob in &node.blobs {
        files.push(MirrorFile {
            key: format!("{key}#{}", blob.name),
            path: base.join(sanitize(&blob.name, &blob.hash)),
            from: FileSource::Blob(blob.clone()),
        });
    }
    files
}

/// Renames files that meet another file or a directory: the record's id
/// first, then the id and a counter.
fn settle_collisions(planned: &mut [(MirrorFile, &str)]) {
    let directories: HashSet<String> = planned
        .iter()
        .flat_map(|(file, _)| proper_ancestors(&file.path))
        .collect();
    let mut taken = HashSet::with_capacity(planned.len());
    for (file, id) in planned.iter_mut() {
        let original = file.path.clone();
        let name = original
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut attempt = 1;
        loop {
            let folded_path = folded(&file.path);
            if !directories.contains(&folded_path) && taken.insert(folded_path) {
                break;
            }
            file.path = original.with_file_name(disambiguate(&name, id, attempt));
            attempt += 1;
        }
    }
}

/// A path as a case-insensitive file system compares it.
fn folded(path: &Path) -> String {
    path.to_string_lossy().to_lowercase()
}

/// `a`, `a/b` for `a/b/c`, folded.
fn proper_ancestors(path: &Path) -> impl Iterator<Item = String> + '_ {
    path.ancestors()
        .skip(1)
        .filter(|p| !p.as_os_str().is_empty())
        .map(folded)
}

/// Every record's path (without extension), relative to the mirror root.
/// A record with children is also a directory of the same name.
fn compute_paths(nodes: &[MirrorNode]) -> HashMap<String, PathBuf> {
    // Parents are looked up by id; a parent in the same stream wins.
    let mut by_id: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, node) in nodes.iter().enumerate() {
        by_id.entry(node.id.as_str()).or_default().push(index);
    }
    let parent_of = |index: usize| -> Option<usize> {
        let node = &nodes[index];
        let candidates = by_id.get(node.parent_id.as_deref()?)?;
        candidates
            .iter()
            .copied()
            .find(|&c| nodes[c].stream == node.stream)
            .or_else(|| candidates.first().copied())
            .filter(|&c| c != index)
    };
    let parents: Vec<Option<usize>> = (0..nodes.len()).map(parent_of).collect();

    // Names, with collisions among siblings settled by id.
    let names: Vec<String> = nodes
        .iter()
        .map(|n| sanitize(n.title.as_deref().unwrap_or(&n.id), &n.id))
        .collect();
    let mut siblings: HashMap<(Option<usize>, String), Vec<usize>> = HashMap::new();
    for (index, name) in names.iter().enumerate() {
        siblings
            .entry((parents[index], name.to_lowercase()))
            .or_default()
            .push(index);
    }
    let mut unique = names.clone();
    for group in siblings.values().filter(|group| group.len() > 1) {
        for &index in group {
            unique[index] = disambiguate(&names[index], &nodes[index].id, 1);
        }
    }

    let mut paths = HashMap::with_capacity(nodes.len());
    for (index, node) in nodes.iter().enumerate() {
        let mut chain = vec![index];
        let mut current = index;
        while let Some(parent) = parents[current] {
            if chain.len() >= MAX_DEPTH || chain.contains(&parent) {
                break; // A cycle or an absurd depth: start from the root.
            }
            chain.push(parent);
            current = parent;
        }
        let path: PathBuf = chain.iter().rev().map(|&i| unique[i].as_str()).collect();
        paths.insert(format!("{}/{}", node.stream, node.id), path);
    }
    paths
}

/// A name safe on every common file system: no separators or reserved
/// characters, no trailing dots or spaces, no reserved Windows names,
/// bounded length; `fallback` when nothing is left.
pub fn sanitize(name: &str, fallback: &str) -> String {
    let mut clean: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    clean = clean.trim().trim_end_matches(['.', ' ']).to_string();
    if clean.len() > MAX_NAME_BYTES {
        let mut end = MAX_NAME_BYTES;
        while !clean.is_char_boundary(end) {
            end -= 1;
        }
        clean.truncate(end);
        clean = clean.trim_end_matches(['.', ' ']).to_string();
    }
    let stem = clean
        .split('.')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    let reserved = matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || (stem.len() == 4
            && (stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.as_bytes()[3].is_ascii_digit());
    if reserved {
        // Windows reserves the stem whatever the extension: `com1_.txt`.
        let stem_len = clean.find('.').unwrap_or(clean.len());
        clean.insert(stem_len, '_');
    }
    if clean.is_empty() || clean == "." || clean == ".." {
        return sanitize_fallback(fallback);
    }
    clean
}

/// An id as a name: ASCII letters, digits, `-` and `_`, at most
/// [`MAX_NAME_BYTES`] long (ids may be up to 1024 bytes).
fn sanitize_fallback(id: &str) -> String {
    let clean: String = id
        .chars()
        .take(MAX_NAME_BYTES)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() {
        "_".into()
    } else {
        clean
    }
}

/// `Name [id]`, keeping an extension in place (`photo [att1].png`); from the
/// second attempt on, `Name [id-2]` and so on.
fn disambiguate(name: &str, id: &str, attempt: u32) -> String {
    let mut id = sanitize_fallback(id);
    // Ids may be long; the name must stay under 255 bytes.
    id.truncate(MAX_ID_IN_NAME);
    if attempt > 1 {
        id = format!("{id}-{attempt}");
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.len() <= 8 && !ext.contains(' ') => {
            (stem, format!(".{ext}"))
        }
        _ => (name, String::new()),
    };
    // A name told apart twice (among siblings, then among files) must
    // still fit: the stem gives way.
    let suffix = format!(" [{id}]");
    let mut end = stem
        .len()
        .min(MAX_DISAMBIGUATED_BYTES.saturating_sub(suffix.len() + ext.len()));
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{suffix}{ext}", &stem[..end])
}

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

fn ensure_parent(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    Ok(())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    ensure_parent(path)?;
    let temp = path.with_file_name(format!(".{}.synchost-tmp", std::process::id()));
    std::fs::write(&temp, bytes).with_context(|| format!("cannot write {}", temp.display()))?;
    std::fs::rename(&temp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn remove_file(path: &Path) {
    if let Err(err) = std::fs::remove_file(path) {
        if err.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!("cannot remove {}: {err}", path.display());
        }
    }
}

/// Removes directories left empty by moves and deletions (never the root)
/// and temporary files of an interrupted export.
fn remove_empty_dirs(root: &Path) {
    fn walk(dir: &Path) -> bool {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return false;
        };
        let mut empty = true;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if walk(&path) {
                    let _ = std::fs::remove_dir(&path);
                } else {
                    empty = false;
                }
            } else if path.to_string_lossy().ends_with(".synchost-tmp") {
                // Left by an export that was killed mid-write.
                let _ = std::fs::remove_file(&path);
            } else {
                empty = false;
            }
        }
        empty
    }
    walk(root);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the mirror_paths fuzz target: a long id with no usable
    /// title made a name over 255 bytes.
    #[test]
    fn names_from_long_ids_stay_short() {
        let id = format!("{}{}", " ".repeat(40), "q".repeat(600));
        assert!(sanitize("..", &id).len() <= MAX_NAME_BYTES);
        assert!(disambiguate(&sanitize("x", &id), &id, 7).len() < 255);
        // Told apart twice (siblings, then files): still short.
        let once = disambiguate(&"_".repeat(MAX_NAME_BYTES), &id, 1);
        let twice = disambiguate(&format!("{once}.bin"), &id, 2);
        assert!(twice.len() <= MAX_DISAMBIGUATED_BYTES, "{}", twice.len());
        assert!(twice.ends_with("-2].bin"), "{twice}");
    }

    #[test]
    fn names_are_safe_everywhere() {
        assert_eq!(sanitize("a/b: c?", "1"), "a_b_ c_");
        assert_eq!(sanitize("trailing dots...  ", "1"), "trailing dots");
        assert_eq!(sanitize("CON", "1"), "CON_");
        assert_eq!(sanitize("com1.txt", "1"), "com1_.txt");
        assert_eq!(sanitize("..", "42"), "42");
        assert_eq!(sanitize("", "att/7"), "att_7");
        assert_eq!(sanitize("日本語のページ", "1"), "日本語のページ");
        assert!(sanitize(&"é".repeat(200), "1").len() <= MAX_NAME_BYTES);
    }

    fn node(stream: &str, id: &str, parent: Option<&str>, title: &str) -> MirrorNode {
        MirrorNode {
            stream: stream.into(),
            id: id.into(),
            parent_id: parent.map(String::from),
            title: Some(title.into()),
            content_type: "text/html".into(),
            content_hash: Some("h".into()),
            content_size: 1,
            blobs: vec![],
        }
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
        let paths = compute_paths(&nodes);
        assert_eq!(paths["pages/1"], Path::new("Guides/Intro [1]"));
        assert_eq!(paths["pages/2"], Path::new("Guides/intro [2]"));
        assert_eq!(paths["pages/3"], Path::new("Guides/Intro [1]/Deep"));
        // A cycle still yields a finite path.
        assert!(paths["pages/4"].components().count() <= 2);
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
        let files = plan(&[attachment, comment]);
        let paths: Vec<String> = files.iter().map(|f| f.path.display().to_string()).collect();
        assert_eq!(paths, ["photo.png/photo.png", "photo.png/Nice.html"]);
    }

    /// Found by the mirror_paths fuzz target: with ids longer than the part
    /// of them a name holds, settling a third collision looped forever.
    #[test]
    fn collisions_settle_with_long_ids_and_content_files_meeting_attachments() {
        let long_id = "x".repeat(100);
        let mut record = node("s", &long_id, None, "Report");
        record.blobs = vec![blob("a"), blob("A"), blob("a")];
        let mut attachment = node("s", "att", None, "Report.html");
        attachment.content_size = 0;
        attachment.blobs = vec![blob("Report.html")];
        let files = plan(&[record, attachment]);
        let paths: Vec<String> = files.iter().map(|f| f.path.display().to_string()).collect();
        let id = "x".repeat(MAX_ID_IN_NAME);
        assert_eq!(
            paths,
            [
                "Report.html".to_string(),
                "Report/a".to_string(),
                format!("Report/A [{id}]"),
                format!("Report/a [{id}-2]"),
                "Report [att].html".to_string(),
            ]
        );
    }
}
