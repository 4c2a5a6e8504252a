//! The local SQLite store: one file per workspace, WAL mode, versioned schema.
//!
//! - `schema`: migrations.
//! - `checkpoint`: stream checkpoints and the one-transaction page commit
//!   (records + work items + cursor together: invariant 2).
//! - `runs`: the audit trail of runs.
//! - `reports`: read-only queries for `status` and `export`.

pub mod checkpoint;
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
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Migrations are transactions: a store they refuse or fail on is left
        // exactly as it was. Only then the journal mode changes.
        schema::migrate(&mut conn).map_err(refused)?;
        schema::verify(&conn).map_err(refused)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| corrupt(&e))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
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

    /// The directory where content-addressed blobs live, beside the database.
    pub fn blob_dir(&self) -> PathBuf {
        self.path.parent().unwrap_or(Path::new(".")).join("blobs")
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
    fn second_writer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let _first = store.lock_writer().unwrap();
        let other = Store::open(&dir.path().join("s.db")).unwrap();
        assert!(other.lock_writer().is_err());
    }
}
