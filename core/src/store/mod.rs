//! The local SQLite store: one file per workspace, WAL mode, versioned schema.
//!
//! - `schema`: migrations.
//! - `checkpoint`: stream checkpoints and the one-transaction page commit
//!   (records + work items + cursor together: invariant 2).
//! - `runs`: the audit trail of runs.
//! - `reports`: read-only queries for `status` and `export`.
//! - `changes`: the outbox of local changes, their history and conflicts.
//! - `history`: the kept versions of records, their retention, `--as-of`.
//! - `import`: a source restored from `synchost export` lines.
//! - `forget`: records removed for good (`synchost forget`), the file scrubbed.

pub mod changes;
pub mod checkpoint;
pub mod forget;
pub mod history;
pub mod import;
pub mod reports;
pub mod runs;
pub mod schema;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{Connection, OpenFlags};

use crate::error::{failed, usage};

pub use checkpoint::{NewRun, PageCommit, RecordRow, StreamCheckpoint, WorkItem, WorkStatus};

/// An open store.
pub struct Store {
    pub(crate) conn: Connection,
    path: PathBuf,
    blob_dir: PathBuf,
    /// False while the store still reads its blobs from the directory that
    /// all stores of its directory once shared (see [`blob_dir_of`]).
    owns_blob_dir: bool,
}

/// Held by a pull for its whole duration: one writer per store at a time.
pub struct WriterLock {
    _file: File,
}

impl Store {
    /// Opens (creating if needed) the store at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|err| {
                usage(format!(
                    "cannot create the store directory {}: {err}",
                    dir.display()
                ))
            })?;
        }
        Store::open_with(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )
    }

    /// Opens an existing store (for read commands); a missing file is an error.
    pub fn open_existing(path: &Path) -> Result<Store> {
        if !path.exists() {
            return Err(usage(format!(
                "no store at {}: run `synchost pull` first, or pass --store PATH",
                path.display()
            )));
        }
        Store::open_with(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
    }

    fn open_with(path: &Path, flags: OpenFlags) -> Result<Store> {
        let corrupt = |err: &dyn std::fmt::Display| match not_writable(path) {
            // Never advise moving a healthy store aside because of its disk.
            Some(why) => failed(format!(
                "cannot write to the store {} ({why}); synchost needs a writable store: \
                 check the file system and permissions",
                path.display()
            )),
            None => failed(format!(
                "the store {} is unreadable or corrupt ({err}); move it aside and pull again, \
                 or restore it from a backup",
                path.display()
            )),
        };
        let refused = |e: anyhow::Error| match e.downcast::<schema::NewerSchema>() {
            Ok(newer) => failed(format!("the store {}: {newer}", path.display())),
            Err(e) => corrupt(&format!("{e:#}")),
        };
        let mut conn = Connection::open_with_flags(path, flags).map_err(|e| corrupt(&e))?;
        conn.busy_timeout(Duration::from_secs(30))?;
        // Writes take the write lock when they begin, so connections of one
        // process (`pull --parallel`) wait for each other's commits (up to
        // the busy timeout) instead of failing on a lock upgrade.
        conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Migrations are transactions: a store they refuse or fail on is left
        // exactly as it was. Only then the journal mode changes.
        schema::migrate(&mut conn).map_err(refused)?;
        schema::verify(&conn).map_err(refused)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| corrupt(&e))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let (blob_dir, owns_blob_dir) = blob_dir_of(path, &conn)?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            blob_dir,
            owns_blob_dir,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rewords a failed write the user can fix (a full disk, a file system
    /// turned read-only) so it names the store and says what to do;
    /// anything else is returned as it is.
    pub fn explain_write_failure(&self, err: anyhow::Error) -> anyhow::Error {
        let code = err.chain().find_map(|cause| match cause.downcast_ref() {
            Some(rusqlite::Error::SqliteFailure(failure, _)) => Some(failure.code),
            _ => None,
        });
        let problem = match code {
            Some(rusqlite::ErrorCode::DiskFull) => "its disk is full",
            Some(rusqlite::ErrorCode::ReadOnly) => "it has become read-only",
            _ => return err,
        };
        failed(format!(
            "cannot write to the store {}: {problem} ({err:#}). Everything committed so far \
             is kept: make room, then run the same command again to resume",
            self.path.display()
        ))
    }

    /// The schema version of the open store (its `user_version`).
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))?)
    }

    /// The directory where this store's content-addressed blobs live:
    /// `<store file>.blobs` beside the database (e.g. `synchost.db.blobs/`).
    pub fn blob_dir(&self) -> PathBuf {
        self.blob_dir.clone()
    }

    /// Whether [`Store::blob_dir`] belongs to this store alone, so that files
    /// in it that the store does not reference may be removed. False only
    /// while an older store could not move to its own directory.
    pub fn owns_blob_dir(&self) -> bool {
        self.owns_blob_dir
    }

    /// Takes the writer lock, refusing at once if another pull holds it.
    pub fn lock_writer(&self) -> Result<WriterLock> {
        let lock_path = self.path.with_extension("lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("cannot open {}", lock_path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(WriterLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(failed(format!(
                "another synchost pull is writing to {}; wait for it to finish",
                self.path.display()
            ))),
            Err(std::fs::TryLockError::Error(err)) => {
                Err(err).with_context(|| format!("cannot lock {}", lock_path.display()))
            }
        }
    }
}

/// Why the store (or, for a new one, its directory) cannot be written, if
/// that is the problem.
fn not_writable(path: &Path) -> Option<std::io::Error> {
    let probe = if path.exists() {
        File::options().write(true).open(path).map(drop)
    } else {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        let probe = dir
            .unwrap_or(Path::new("."))
            .join(format!(".synchost-probe-{}", std::process::id()));
        File::create(&probe).map(|_| drop(std::fs::remove_file(&probe)))
    };
    probe.err().filter(|err| {
        matches!(
            err.kind(),
            std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied
        )
    })
}

/// Where the store at `path` keeps its blobs: `<file name>.blobs` beside it,
/// so that two stores in one directory never see (or sweep) each other's.
///
/// Stores made before that shared `blobs/` beside them. The first open of
/// such a store links (or copies) the files it references into its own
/// directory, staged under another name and renamed into place, and never
/// touches `blobs/`: another store may still reference the same files. Until
/// that succeeds (a read-only directory, say), the store keeps reading the
/// shared directory and does not own it: nothing is swept there.
fn blob_dir_of(path: &Path, conn: &Connection) -> Result<(PathBuf, bool)> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".blobs");
    let own = path.with_file_name(name);
    let shared = path.parent().unwrap_or(Path::new(".")).join("blobs");
    if own.exists() || !shared.is_dir() {
        return Ok((own, true));
    }
    let mut statement = conn.prepare("SELECT path FROM blobs")?;
    let referenced: Vec<String> = statement
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if referenced.is_empty() {
        return Ok((own, true));
    }
    match adopt_blobs(&shared, &own, &referenced) {
        Ok(()) => Ok((own, true)),
        Err(err) => {
            tracing::warn!(
                "the store {} still reads its blobs from the shared {} (cannot move them to {}: {err})",
                path.display(),
                shared.display(),
                own.display()
            );
            Ok((shared, false))
        }
    }
}

/// Links (or copies) each of `paths` that exists under `from` into a staging
/// directory of this process, then renames it to `to`. Nothing under `from`
/// is changed, and no existing file is ever written to: a hard link of a
/// shared file truncated by a copy would empty it for every store.
fn adopt_blobs(from: &Path, to: &Path, paths: &[String]) -> std::io::Result<()> {
    let mut staging = to.as_os_str().to_os_string();
    staging.push(format!(".adopting-{}", std::process::id()));
    let staging = PathBuf::from(staging);
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?; // A process of this id that died.
    }
    std::fs::create_dir_all(&staging)?;
    // The host writes `ab/abcdef…`; anything else in the table is not followed.
    let well_formed = |p: &&String| {
        let parts: Vec<&str> = p.split('/').collect();
        parts.len() == 2
            && parts
                .iter()
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    for relative in paths.iter().filter(well_formed) {
        let source = from.join(relative);
        if !source.is_file() {
            continue;
        }
        let target = staging.join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        match std::fs::hard_link(&source, &target) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(_) => {
                let mut out = File::options().write(true).create_new(true).open(&target)?;
                std::io::copy(&mut File::open(&source)?, &mut out)?;
            }
        }
    }
    match std::fs::rename(&staging, to) {
        // Another process adopted them first: same files, keep its directory.
        Err(_) if to.is_dir() => std::fs::remove_dir_all(&staging),
        other => other,
    }
}

/// The hex sha256 of a record's content, as `records.content_hash` holds it.
pub fn content_hash(content: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(content))
}

/// The current time as RFC 3339 (UTC, milliseconds), the store's time format.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_database_file_is_reported_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("synchost.db");
        std::fs::write(
            &path,
            b"this is not sqlite, just some text that is long enough",
        )
        .unwrap();
        let err = Store::open_existing(&path).err().unwrap().to_string();
        assert!(err.contains("corrupt"), "{err}");
    }

    #[test]
    fn stores_side_by_side_have_their_own_blobs_and_adopt_the_shared_ones() {
        let dir = tempfile::tempdir().unwrap();
        let a = Store::open(&dir.path().join("a.db")).unwrap();
        let b = Store::open(&dir.path().join("b.db")).unwrap();
        assert_eq!(a.blob_dir(), dir.path().join("a.db.blobs"));
        assert_ne!(a.blob_dir(), b.blob_dir());
        assert!(a.owns_blob_dir() && b.owns_blob_dir());

        // An older store: its blobs in the shared `blobs/`.
        let hash = "ab".repeat(32);
        let relative = format!("ab/{hash}");
        let shared = dir.path().join("blobs");
        std::fs::create_dir_all(shared.join("ab")).unwrap();
        std::fs::write(shared.join(&relative), b"blob").unwrap();
        std::fs::write(shared.join("ab/other-stores-file"), b"x").unwrap();
        let old = Store::open(&dir.path().join("old.db")).unwrap();
        // A path that is not the host's (`ab/abcdef…`) is not followed: this
        // one would copy `victim` onto itself, emptying it.
        std::fs::write(dir.path().join("victim"), b"precious").unwrap();
        for path in [relative.as_str(), "../victim"] {
            old.conn
                .execute(
                    "INSERT INTO blobs (hash, size, media_type, path, created_at) VALUES (?1, 4, 'x', ?2, 'now')",
                    rusqlite::params![path, path],
                )
                .unwrap();
        }
        drop(old);
        let old = Store::open_existing(&dir.path().join("old.db")).unwrap();
        assert!(old.owns_blob_dir());
        assert_eq!(old.blob_dir(), dir.path().join("old.db.blobs"));
        assert_eq!(
            std::fs::read(old.blob_dir().join(&relative)).unwrap(),
            b"blob"
        );
        assert!(!old.blob_dir().join("ab/other-stores-file").exists());
        assert_eq!(
            std::fs::read(dir.path().join("victim")).unwrap(),
            b"precious"
        );
        // The shared directory is left as it was, for the other stores.
        assert!(shared.join(&relative).is_file() && shared.join("ab/other-stores-file").is_file());
    }

    #[test]
    fn second_writer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let _first = store.lock_writer().unwrap();
        let other = Store::open(&dir.path().join("s.db")).unwrap();
        assert!(other.lock_writer().is_err());
    }
}
