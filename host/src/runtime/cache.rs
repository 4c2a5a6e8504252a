//! The compile cache: native code compiled from plugins, kept on disk so the
//! next run skips compiling.
//!
//! Loading native code runs it, so a cache entry is as powerful as the host
//! binary. Entries are therefore only read from a directory that the
//! current user owns, that no other user can write (mode 0700 when created
//! here), and whose every ancestor is owned by the user or root and is not
//! writable by others (sticky directories such as /tmp excepted, since
//! there nobody may rename another's entry). There is no shared fallback:
//! without a safe directory, plugins are compiled in memory every run.
//!
//! Each entry is checked again when opened (a regular file, not a link,
//! owned by the user, not writable by others) and carries the sha256 of its
//! payload, so a torn or altered file is recompiled, never deserialized.
//!
//! The cache is bounded: after each store, the least recently used entries
//! (by modification time, which a load refreshes) are removed until the
//! entries fit in `SYNCHOST_CACHE_MAX_MB` (default 1 GiB); the entry just
//! written is always kept.

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// The first bytes of an entry; a different format is simply recompiled.
const MAGIC: &[u8; 8] = b"SHCWASM1";
/// Mode bits that let other users write.
const WRITABLE_BY_OTHERS: u32 = 0o022;
/// The sticky bit: in such a directory only an entry's owner may rename it.
const STICKY: u32 = 0o1000;
/// Largest entry read back (native code is a few times the component).
const MAX_ENTRY_BYTES: u64 = 1 << 30;
/// The cache's default size cap (`SYNCHOST_CACHE_MAX_MB` sets another).
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;
/// The file name extension of entries.
const ENTRY_EXTENSION: &str = "cwasm";

/// A cache directory that passed the ownership checks.
pub struct CompileCache {
    /// The directory, with every symbolic link resolved.
    dir: PathBuf,
    /// The most bytes of entries kept; older entries are evicted past it.
    max_bytes: u64,
}

/// The cache's size cap from `SYNCHOST_CACHE_MAX_MB` (MiB), else 1 GiB.
/// `Err` says why the value is not read (the default applies then).
pub fn max_bytes_from_env() -> Result<u64, String> {
    let Some(value) = std::env::var_os("SYNCHOST_CACHE_MAX_MB") else {
        return Ok(DEFAULT_MAX_BYTES);
    };
    let text = value.to_string_lossy();
    text.trim()
        .parse::<u64>()
        .ok()
        .and_then(|mb| mb.checked_mul(1 << 20))
        .ok_or_else(|| {
            format!(
                "SYNCHOST_CACHE_MAX_MB={} is not a number of MiB; using {} MiB",
                crate::untrusted::Untrusted::clipped(&text, 64),
                DEFAULT_MAX_BYTES >> 20
            )
        })
}

impl CompileCache {
    /// Opens `dir` as a cache of at most `max_bytes` of entries, creating it
    /// (mode 0700) if needed. `Err` says why the directory cannot be trusted
    /// with native code.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<CompileCache, String> {
        let shown = dir.display();
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|err| format!("cannot create {shown}: {err}"))?;
        let meta =
            std::fs::symlink_metadata(dir).map_err(|err| format!("cannot read {shown}: {err}"))?;
        let me = euid();
        if meta.file_type().is_symlink() || !meta.is_dir() {
            return Err(format!(
                "{shown} is not a directory (a link is not accepted)"
            ));
        }
        if meta.uid() != me {
            return Err(format!(
                "{shown} belongs to uid {}, not to the current user (uid {me})",
                meta.uid()
            ));
        }
        if meta.mode() & WRITABLE_BY_OTHERS != 0 {
            return Err(format!(
                "{shown} is writable by other users (mode {:o})",
                meta.mode() & 0o7777
            ));
        }
        if meta.mode() & 0o077 != 0 {
            // Readable by others but not writable: nothing can have been
            // planted; keep it private from now on.
            std::fs::set_permissions(dir, Permissions::from_mode(0o700))
                .map_err(|err| format!("cannot make {shown} private: {err}"))?;
        }
        let parent = dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let parent = parent
            .canonicalize()
            .map_err(|err| format!("cannot resolve {}: {err}", parent.display()))?;
        for ancestor in parent.ancestors() {
            let meta = std::fs::metadata(ancestor)
                .map_err(|err| format!("cannot read {}: {err}", ancestor.display()))?;
            if meta.uid() != me && meta.uid() != 0 {
                return Err(format!(
                    "{} (above {shown}) belongs to uid {}, neither the current user nor root",
                    ancestor.display(),
                    meta.uid()
                ));
            }
            if meta.mode() & WRITABLE_BY_OTHERS != 0 && meta.mode() & STICKY == 0 {
                return Err(format!(
                    "{} (above {shown}) is writable by other users (mode {:o})",
                    ancestor.display(),
                    meta.mode() & 0o7777
                ));
            }
        }
        let name = dir
            .file_name()
            .ok_or_else(|| format!("{shown} has no name"))?;
        Ok(CompileCache {
            dir: parent.join(name),
            max_bytes,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The native code cached under `key`, if there is a trustworthy entry.
    pub fn load(&self, engine: &Engine, key: &str) -> Option<Component> {
        let path = self.entry(key);
        let payload = match read_entry(&path) {
            Ok(Some(payload)) => payload,
            Ok(None) => return None,
            Err(why) => {
                tracing::warn!(
                    "ignoring compile cache entry {}: {why}; compiling instead",
                    path.display()
                );
                return None;
            }
        };
        // SAFETY: the entry is in a directory only this user can write, is a
        // regular file of this user, and its payload matches the sha256 this
        // host wrote beside it when it serialized a component it compiled
        // with a compatible engine (the engine hash is part of the key).
        match unsafe { Component::deserialize(engine, &payload) } {
            Ok(component) => Some(component),
            Err(err) => {
                tracing::warn!("ignoring unusable cache entry {}: {err}", path.display());
                None
            }
        }
    }

    /// Stores `component` under `key`, then evicts the least recently used
    /// other entries past the size cap; a failure only costs a recompile.
    pub fn store(&self, key: &str, component: &Component) {
        let path = self.entry(key);
        if let Err(err) = self.write_entry(&path, component) {
            tracing::warn!(
                "cannot cache compiled plugin at {}: {err:#}",
                path.display()
            );
            return;
        }
        self.evict(&path);
    }

    fn entry(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.{ENTRY_EXTENSION}"))
    }

    /// Removes the least recently used entries, oldest first, until all fit
    /// in the cap; `keep` (the entry just written) is never removed, even
    /// alone over the cap. Only this user's regular entry files count.
    fn evict(&self, keep: &Path) {
        let Ok(listing) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let me = euid();
        let mut entries: Vec<(SystemTime, u64, PathBuf)> = listing
            .flatten()
            .filter_map(|entry| {
                let path = entry.path();
                if path.extension().and_then(|ext| ext.to_str()) != Some(ENTRY_EXTENSION) {
                    return None;
                }
                let meta = std::fs::symlink_metadata(&path).ok()?;
                if !meta.is_file() || meta.uid() != me {
                    return None;
                }
                Some((meta.modified().ok()?, meta.len(), path))
            })
            .collect();
        let mut total: u64 = entries.iter().map(|(_, size, _)| size).sum();
        entries.sort();
        for (_, size, path) in entries {
            if total <= self.max_bytes {
                break;
            }
            if path == keep {
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    total -= size;
                    tracing::info!(
                        "compile cache over {} MiB: removed the least recently used entry {}",
                        self.max_bytes >> 20,
                        path.display()
                    );
                }
                Err(err) => tracing::warn!("cannot remove {}: {err}", path.display()),
            }
        }
    }

    fn write_entry(&self, path: &Path, component: &Component) -> anyhow::Result<()> {
        let payload = component.serialize().map_err(super::wasm_error)?;
        let temp = self.dir.join(format!(
            ".{}.{}.tmp",
            std::process::id(),
            rand::random::<u64>()
        ));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&temp)?;
        let written = file
            .write_all(MAGIC)
            .and_then(|()| file.write_all(&Sha256::digest(&payload)))
            .and_then(|()| file.write_all(&payload))
            .and_then(|()| file.sync_all());
        if let Err(err) = written.and_then(|()| std::fs::rename(&temp, path)) {
            let _ = std::fs::remove_file(&temp);
            return Err(err.into());
        }
        Ok(())
    }
}

/// Reads an entry's payload after checking the open file (not the path, so
/// nothing can be swapped in between). `Ok(None)`: no entry.
fn read_entry(path: &Path) -> Result<Option<Vec<u8>>, String> {
    let mut file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(format!("cannot open it: {err}")),
    };
    check_entry(&file)?;
    let mut bytes = Vec::new();
    Read::take(&mut file, MAX_ENTRY_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| format!("cannot read it: {err}"))?;
    let header = MAGIC.len() + 32;
    if bytes.len() < header || &bytes[..MAGIC.len()] != MAGIC {
        return Err("it is not an entry this host wrote".into());
    }
    let payload = bytes.split_off(header);
    if Sha256::digest(&payload).as_slice() != &bytes[MAGIC.len()..] {
        return Err("its content does not match its checksum".into());
    }
    // Used now: the last to be evicted (a failure only makes it older).
    let _ = file.set_modified(SystemTime::now());
    Ok(Some(payload))
}

fn check_entry(file: &File) -> Result<(), String> {
    let meta = file
        .metadata()
        .map_err(|err| format!("cannot read it: {err}"))?;
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    if meta.uid() != euid() {
        return Err(format!(
            "it belongs to uid {}, not to the current user",
            meta.uid()
        ));
    }
    if meta.mode() & WRITABLE_BY_OTHERS != 0 {
        return Err("it is writable by other users".into());
    }
    if meta.len() > MAX_ENTRY_BYTES {
        return Err(format!("it is over {MAX_ENTRY_BYTES} bytes"));
    }
    Ok(())
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn a_private_directory_is_accepted_and_created_private() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b/compiled");
        let cache = CompileCache::open(&dir, MIB).expect("a fresh directory is safe");
        let mode = std::fs::metadata(cache.dir()).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn directories_others_can_write_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("compiled");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, Permissions::from_mode(0o777)).unwrap();
        let why = CompileCache::open(&dir, MIB).err().expect("refused");
        assert!(why.contains("writable by other users"), "{why}");

        // The same below a parent anyone may write (and that is not sticky).
        let shared = root.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, Permissions::from_mode(0o777)).unwrap();
        let why = CompileCache::open(&shared.join("compiled"), MIB)
            .err()
            .expect("refused");
        assert!(why.contains("above"), "{why}");
    }

    #[test]
    fn a_link_is_not_a_cache_directory() {
        let root = tempfile::tempdir().unwrap();
        let real = root.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = root.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let why = CompileCache::open(&link, MIB).err().expect("refused");
        assert!(why.contains("not a directory"), "{why}");
    }

    #[test]
    fn altered_or_foreign_entries_are_not_read() {
        let root = tempfile::tempdir().unwrap();
        let cache = CompileCache::open(&root.path().join("compiled"), MIB).unwrap();
        let path = cache.entry("k");
        assert_eq!(read_entry(&path), Ok(None));

        let mut good = MAGIC.to_vec();
        good.extend_from_slice(&Sha256::digest(b"native"));
        good.extend_from_slice(b"native");
        std::fs::write(&path, &good).unwrap();
        assert_eq!(read_entry(&path), Ok(Some(b"native".to_vec())));

        let mut altered = good.clone();
        *altered.last_mut().unwrap() ^= 1;
        std::fs::write(&path, &altered).unwrap();
        assert!(read_entry(&path).unwrap_err().contains("checksum"));

        std::fs::write(&path, &good).unwrap();
        std::fs::set_permissions(&path, Permissions::from_mode(0o666)).unwrap();
        assert!(read_entry(&path).unwrap_err().contains("writable"));

        std::fs::remove_file(&path).unwrap();
        let target = root.path().join("elsewhere");
        std::fs::write(&target, &good).unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(read_entry(&path).is_err(), "a link is not followed");
    }

    /// Writes an entry file of `size` bytes last used `age` seconds ago.
    fn entry_of(cache: &CompileCache, key: &str, size: usize, age: u64) -> PathBuf {
        let path = cache.entry(key);
        std::fs::write(&path, vec![0u8; size]).unwrap();
        let used = SystemTime::now() - std::time::Duration::from_secs(age);
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(used)
            .unwrap();
        path
    }

    fn keys(cache: &CompileCache) -> Vec<String> {
        let mut keys: Vec<String> = std::fs::read_dir(cache.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        keys.sort();
        keys
    }

    #[test]
    fn eviction_removes_the_least_recently_used_until_under_the_cap() {
        let root = tempfile::tempdir().unwrap();
        let cache = CompileCache::open(&root.path().join("compiled"), 1000).unwrap();
        entry_of(&cache, "old", 400, 300);
        entry_of(&cache, "mid", 400, 200);
        entry_of(&cache, "recent", 400, 100);
        let new = entry_of(&cache, "new", 300, 0);
        std::fs::write(cache.dir().join("notes.txt"), vec![0u8; 5000]).unwrap();

        cache.evict(&new);
        // 1500 bytes of entries: the two oldest go (700 left); other files stay.
        assert_eq!(
            keys(&cache),
            ["new.cwasm", "notes.txt", "recent.cwasm"],
            "oldest first, down to the cap"
        );
    }

    #[test]
    fn the_entry_just_written_is_kept_even_over_the_cap() {
        let root = tempfile::tempdir().unwrap();
        let cache = CompileCache::open(&root.path().join("compiled"), 100).unwrap();
        entry_of(&cache, "older", 50, 100);
        // Written just now but with an old time (a coarse clock): still kept.
        let big = entry_of(&cache, "big", 500, 1000);
        cache.evict(&big);
        assert_eq!(keys(&cache), ["big.cwasm"]);
    }

    #[test]
    fn a_load_makes_an_entry_the_most_recently_used() {
        let root = tempfile::tempdir().unwrap();
        let cache = CompileCache::open(&root.path().join("compiled"), 1000).unwrap();
        let mut payload = b"native".to_vec();
        payload.resize(360, 0);
        let mut good = MAGIC.to_vec();
        good.extend_from_slice(&Sha256::digest(&payload));
        good.extend_from_slice(&payload);
        let used = cache.entry("used");
        std::fs::write(&used, &good).unwrap();
        File::options()
            .write(true)
            .open(&used)
            .unwrap()
            .set_modified(SystemTime::now() - std::time::Duration::from_secs(500))
            .unwrap();
        entry_of(&cache, "unused", 400, 300);
        assert_eq!(read_entry(&used), Ok(Some(payload)), "loaded");

        let new = entry_of(&cache, "new", 400, 0);
        cache.evict(&new);
        assert_eq!(
            keys(&cache),
            ["new.cwasm", "used.cwasm"],
            "the entry loaded last is kept over an older-used one"
        );
    }

    #[test]
    fn the_cap_comes_from_the_environment() {
        // One test touches the variable, so tests running in parallel do not race.
        std::env::remove_var("SYNCHOST_CACHE_MAX_MB");
        assert_eq!(max_bytes_from_env(), Ok(1024 * MIB));
        std::env::set_var("SYNCHOST_CACHE_MAX_MB", "64");
        assert_eq!(max_bytes_from_env(), Ok(64 * MIB));
        std::env::set_var("SYNCHOST_CACHE_MAX_MB", "lots\u{1b}[2J");
        let why = max_bytes_from_env().unwrap_err();
        assert!(
            why.contains("not a number") && !why.contains('\u{1b}'),
            "{why}"
        );
        std::env::remove_var("SYNCHOST_CACHE_MAX_MB");
    }
}
