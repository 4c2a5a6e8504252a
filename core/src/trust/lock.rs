//! `synchost.lock`: the plugin each configured source runs, recorded by the
//! source's first run and changed only by `synchost plugin trust SOURCE`.
//! Each entry keeps enough of the plugin (version, contract, imports,
//! streams, settings, auth, hosts) to show what a new file changes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{failed, usage};
use crate::untrusted::Untrusted;

/// The lock file's name, in the config file's directory.
pub const LOCK_FILE: &str = "synchost.lock";
/// The lock file's format version.
const VERSION: u32 = 1;
const HEADER: &str = "\
# synchost.lock: the plugin file each source runs (its sha256), recorded by the
# source's first run. A run with a different file is refused until
# `synchost plugin trust SOURCE` accepts it. Written by synchost; commit it
# with synchost.toml so every machine runs the same plugins.
";

/// Serializes read-modify-write of lock files within a process (sources
/// pulled in parallel each record their entry).
static WRITING: Mutex<()> = Mutex::new(());

/// The lock file's content.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    pub version: u32,
    #[serde(default)]
    pub sources: BTreeMap<String, LockEntry>,
}

/// One source's plugin. Texts come from the plugin's manifest (already
/// checked and bounded by the host); they are escaped when shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockEntry {
    /// The plugin file as the config names it.
    pub plugin: String,
    pub sha256: String,
    /// The manifest's name and version.
    pub name: String,
    pub version: String,
    /// The contract version the component exports.
    pub contract: String,
    /// The sha256 of the imports, sorted, one per line.
    pub imports_sha256: String,
    pub imports: Vec<String>,
    /// Each stream as `name [delta, push]`.
    pub streams: Vec<String>,
    /// Each setting as `name` or `name (required)`.
    pub settings: Vec<String>,
    /// The declared auth: `type; key = VARIABLE, ...`; empty when none.
    pub auth: String,
    pub extra_hosts: Vec<String>,
    /// The key id of the trusted signature it had when recorded; empty when none.
    #[serde(default)]
    pub signer: String,
    /// When this file was recorded (UTC, RFC 3339).
    pub recorded_at: String,
}

impl LockEntry {
    /// The digest of a plugin's imports, in any order.
    pub fn imports_digest(imports: &[String]) -> String {
        let mut sorted: Vec<&str> = imports.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        sorted.dedup();
        let mut hasher = Sha256::new();
        for import in sorted {
            hasher.update(import.as_bytes());
            hasher.update(b"\n");
        }
        hex::encode(hasher.finalize())
    }

    /// What changes from `self` to `new`, one line each: scalars as
    /// `field: old → new`, lists as `field: + item` and `field: - item`.
    /// Empty when only the file's hash or the times differ.
    pub fn changes(&self, new: &LockEntry) -> Vec<String> {
        let mut lines = Vec::new();
        let scalars = [
            ("plugin", &self.plugin, &new.plugin),
            ("name", &self.name, &new.name),
            ("version", &self.version, &new.version),
            ("contract", &self.contract, &new.contract),
            ("auth", &self.auth, &new.auth),
            ("signer", &self.signer, &new.signer),
        ];
        for (field, old, new) in scalars {
            if old != new {
                lines.push(format!("{field}: {} → {}", shown(old), shown(new)));
            }
        }
        let lists = [
            ("imports", &self.imports, &new.imports),
            ("streams", &self.streams, &new.streams),
            ("settings", &self.settings, &new.settings),
            ("extra hosts", &self.extra_hosts, &new.extra_hosts),
        ];
        for (field, old, new) in lists {
            for removed in old.iter().filter(|item| !new.contains(item)) {
                lines.push(format!("{field}: - {}", shown(removed)));
            }
            for added in new.iter().filter(|item| !old.contains(item)) {
                lines.push(format!("{field}: + {}", shown(added)));
            }
        }
        lines
    }
}

/// A manifest value for a message: escaped, clipped, `(none)` when empty.
fn shown(text: &str) -> String {
    if text.is_empty() {
        "(none)".into()
    } else {
        Untrusted::clipped(text, 200).to_string()
    }
}

impl Lock {
    /// Reads the lock file at `path`; an empty lock when there is none.
    /// One that cannot be read or parsed is refused (exit 2), naming it.
    pub fn read(path: &Path) -> Result<Lock> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Lock {
                    version: VERSION,
                    sources: BTreeMap::new(),
                })
            }
            Err(err) => {
                return Err(usage(format!(
                    "cannot read the lock file {}: {err}",
                    path.display()
                )))
            }
        };
        let lock: Lock = toml::from_str(&text).map_err(|err| {
            usage(format!(
                "the lock file {} is not valid: {}; restore it from version control, or \
                 delete it to record every source's plugin again on its next run",
                path.display(),
                err.message().trim_end()
            ))
        })?;
        if lock.version != VERSION {
            return Err(usage(format!(
                "the lock file {} has version {}, which this synchost does not read (it writes \
                 version {VERSION})",
                path.display(),
                lock.version
            )));
        }
        Ok(lock)
    }

    /// Sets `source`'s entry in the lock file at `path`, written whole to a
    /// temporary file beside it and renamed over it: a reader sees the old
    /// lock or the new one, never a part.
    pub fn record(path: &Path, source: &str, entry: LockEntry) -> Result<()> {
        let _writing = WRITING.lock().unwrap_or_else(|e| e.into_inner());
        let mut lock = Lock::read(path)?;
        lock.sources.insert(source.to_string(), entry);
        let body = toml::to_string(&lock).map_err(|e| failed(format!("lock file: {e}")))?;
        write_atomically(path, &format!("{HEADER}\n{body}")).map_err(|err| {
            failed(format!(
                "cannot write the lock file {}: {err}",
                path.display()
            ))
        })
    }
}

fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temporary: PathBuf = dir.join(format!(
        ".{LOCK_FILE}.{}.{:08x}.tmp",
        std::process::id(),
        rand::random::<u32>()
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(sha: &str) -> LockEntry {
        LockEntry {
            plugin: "plugins/items.wasm".into(),
            sha256: sha.into(),
            name: "items".into(),
            version: "0.1.0".into(),
            contract: "0.2.0".into(),
            imports_sha256: LockEntry::imports_digest(&["wasi:io/streams@0.2.0".into()]),
            imports: vec!["wasi:io/streams@0.2.0".into()],
            streams: vec!["items [delta]".into()],
            settings: vec!["base_url (required)".into()],
            auth: "bearer; token_env = ITEMS_TOKEN".into(),
            extra_hosts: vec![],
            signer: String::new(),
            recorded_at: "2026-11-30T00:00:00Z".into(),
        }
    }

    #[test]
    fn entries_round_trip_and_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE);
        assert!(Lock::read(&path).unwrap().sources.is_empty());
        Lock::record(&path, "a", entry("aa")).unwrap();
        Lock::record(&path, "b", entry("bb")).unwrap();
        Lock::record(&path, "a", entry("cc")).unwrap();
        let lock = Lock::read(&path).unwrap();
        assert_eq!(lock.sources["a"], entry("cc"));
        assert_eq!(lock.sources["b"], entry("bb"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# synchost.lock"), "{text}");
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file stays");
    }

    #[test]
    fn a_broken_lock_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE);
        std::fs::write(&path, "version = 1\n[sources.a]\nsha256 = 3\n").unwrap();
        let why = format!("{:#}", Lock::read(&path).unwrap_err());
        assert!(why.contains("synchost.lock is not valid"), "{why}");
    }

    #[test]
    fn changes_name_each_difference() {
        let old = entry("aa");
        let mut new = entry("bb");
        assert!(old.changes(&new).is_empty(), "only the hash differs");
        new.version = "0.2.0".into();
        new.imports.push("wasi:sockets/tcp@0.2.0".into());
        new.streams = vec!["items [delta, push]".into()];
        new.auth = String::new();
        let lines = old.changes(&new);
        assert_eq!(
            lines,
            vec![
                "version: 0.1.0 → 0.2.0",
                "auth: bearer; token_env = ITEMS_TOKEN → (none)",
                "imports: + wasi:sockets/tcp@0.2.0",
                "streams: - items [delta]",
                "streams: + items [delta, push]",
            ]
        );
    }
}
