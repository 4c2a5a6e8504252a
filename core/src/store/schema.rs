//! The schema, as forward-only migrations. `PRAGMA user_version` holds the
//! number of migrations applied; a store newer than this binary is refused.

use anyhow::{Context, Result};
use rusqlite::Connection;

/// Each entry moves the schema one version forward. Never edit a released
/// entry: add a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    r#"
    -- One row per configured source and the plugin that last ran it.
    CREATE TABLE sources (
        name            TEXT PRIMARY KEY,
        plugin_name     TEXT NOT NULL,
        plugin_version  TEXT NOT NULL,
        plugin_sha256   TEXT NOT NULL,
        updated_at      TEXT NOT NULL
    );

    -- The checkpoint of each stream: the run in progress (cursor, generation,
    -- the watermark it will store) and the last complete watermark.
    CREATE TABLE streams (
        source              TEXT NOT NULL,
        stream              TEXT NOT NULL,
        state               TEXT NOT NULL DEFAULT 'idle' CHECK (state IN ('idle', 'running')),
        generation          INTEGER NOT NULL DEFAULT 0,
        full                INTEGER NOT NULL DEFAULT 0,
        ids_only            INTEGER NOT NULL DEFAULT 0,
        since               TEXT,
        cursor              TEXT,
        listing_done        INTEGER NOT NULL DEFAULT 0,
        pending_watermark   TEXT,
        total_hint          INTEGER,
        run_started_at      TEXT,
        run_plugin_version  TEXT,
        watermark           TEXT,
        completed_at        TEXT,
        PRIMARY KEY (source, stream)
    );

    -- The mirror. `version` is also the base for pushes; `seen_generation`
    -- drives tombstones after a full enumeration.
    CREATE TABLE records (
        source          TEXT NOT NULL,
        stream          TEXT NOT NULL,
        id              TEXT NOT NULL,
        version         TEXT NOT NULL,
        updated_at      TEXT,
        parent_id       TEXT,
        title           TEXT,
        path            TEXT,
        content_type    TEXT NOT NULL,
        content         BLOB,
        content_hash    TEXT,
        metadata        TEXT NOT NULL DEFAULT '{}',
        seen_generation INTEGER NOT NULL,
        synced_at       TEXT NOT NULL,
        deleted_at      TEXT,
        PRIMARY KEY (source, stream, id)
    );
    CREATE INDEX records_by_generation ON records (source, stream, seen_generation);

    -- Items of the current run that did not complete on the first try:
    -- failed (retried at the end of the run and by the next run) or skipped
    -- (not found). Completed items are the records themselves.
    CREATE TABLE work_items (
        source      TEXT NOT NULL,
        stream      TEXT NOT NULL,
        id          TEXT NOT NULL,
        generation  INTEGER NOT NULL,
        status      TEXT NOT NULL CHECK (status IN ('completed', 'failed', 'skipped')),
        attempts    INTEGER NOT NULL DEFAULT 1,
        last_error  TEXT,
        updated_at  TEXT NOT NULL,
        PRIMARY KEY (source, stream, id)
    );

    -- Content-addressed binaries, stored as files named by their sha256.
    CREATE TABLE blobs (
        hash        TEXT PRIMARY KEY,
        size        INTEGER NOT NULL,
        media_type  TEXT NOT NULL,
        path        TEXT NOT NULL,
        created_at  TEXT NOT NULL
    );

    -- Which blobs each record references, and at which remote version.
    CREATE TABLE record_blobs (
        source      TEXT NOT NULL,
        stream      TEXT NOT NULL,
        record_id   TEXT NOT NULL,
        name        TEXT NOT NULL,
        url         TEXT NOT NULL,
        version     TEXT NOT NULL,
        hash        TEXT NOT NULL REFERENCES blobs (hash),
        PRIMARY KEY (source, stream, record_id, name)
    );

    -- The audit trail: one row per `synchost pull` of a source.
    CREATE TABLE runs (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        source          TEXT NOT NULL,
        started_at      TEXT NOT NULL,
        finished_at     TEXT,
        user            TEXT,
        plugin_name     TEXT NOT NULL,
        plugin_version  TEXT NOT NULL,
        plugin_sha256   TEXT NOT NULL,
        full            INTEGER NOT NULL DEFAULT 0,
        resumed         INTEGER NOT NULL DEFAULT 0,
        outcome         TEXT NOT NULL DEFAULT 'running',
        written         INTEGER NOT NULL DEFAULT 0,
        skipped         INTEGER NOT NULL DEFAULT 0,
        failed          INTEGER NOT NULL DEFAULT 0,
        deleted         INTEGER NOT NULL DEFAULT 0,
        requests        INTEGER NOT NULL DEFAULT 0,
        duration_ms     INTEGER,
        peak_rss_kb     INTEGER,
        error           TEXT
    );
    CREATE INDEX runs_by_source ON runs (source, id);

    -- Local edits waiting to be pushed, with the version they were based on.
    CREATE TABLE outbox (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        source       TEXT NOT NULL,
        stream       TEXT NOT NULL,
        record_id    TEXT,
        base_version TEXT,
        op           TEXT NOT NULL CHECK (op IN ('create', 'update', 'delete')),
        title        TEXT,
        content      BLOB,
        metadata     TEXT NOT NULL DEFAULT '{}',
        state        TEXT NOT NULL DEFAULT 'pending',
        created_at   TEXT NOT NULL,
        last_error   TEXT
    );

    -- Pushes the remote refused because it changed: both sides are kept.
    CREATE TABLE conflicts (
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        outbox_id      INTEGER NOT NULL REFERENCES outbox (id),
        remote_version TEXT NOT NULL,
        remote_content BLOB,
        remote_meta    TEXT NOT NULL DEFAULT '{}',
        created_at     TEXT NOT NULL,
        resolved_at    TEXT
    );
    "#,
    // 2: push. The first schema's `outbox` and `conflicts` were never
    // written by any synchost; `changes` replaces them as the documented,
    // stable outbox (docs/push.md), with its history and its conflicts.
    r#"
    DROP TABLE conflicts;
    DROP TABLE outbox;

    -- The outbox: local changes to push, one row per change. Tools may
    -- insert rows directly (source, stream, op, record_id, title, content,
    -- ...); the host validates them when it pushes.
    CREATE TABLE changes (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        source          TEXT NOT NULL,
        stream          TEXT NOT NULL,
        op              TEXT NOT NULL CHECK (op IN ('create', 'update', 'delete')),
        record_id       TEXT,
        parent_id       TEXT,
        base_version    TEXT,
        title           TEXT,
        content         BLOB,
        metadata        TEXT NOT NULL DEFAULT '{}',
        state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN
                            ('pending', 'in_flight', 'applied', 'conflict', 'failed', 'refused', 'dropped')),
        idempotency_key TEXT UNIQUE,
        origin          TEXT,
        attempts        INTEGER NOT NULL DEFAULT 0,
        error           TEXT,
        remote_version  TEXT,
        staged_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    CREATE INDEX changes_by_state ON changes (source, state, id);
    CREATE INDEX changes_by_record ON changes (source, stream, record_id);

    -- Each change's history: staged, sent, reconciled, its outcome.
    CREATE TABLE change_events (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        change_id   INTEGER NOT NULL REFERENCES changes (id),
        at          TEXT NOT NULL,
        state       TEXT NOT NULL,
        run_id      INTEGER,
        detail      TEXT
    );
    CREATE INDEX change_events_by_change ON change_events (change_id, id);

    -- A change the remote refused because it moved on: the base the edit
    -- started from, and the remote item as the push found it (remote_*
    -- NULL and remote_deleted 1 when the remote deleted it).
    CREATE TABLE conflicts (
        id                  INTEGER PRIMARY KEY AUTOINCREMENT,
        change_id           INTEGER NOT NULL REFERENCES changes (id),
        source              TEXT NOT NULL,
        stream              TEXT NOT NULL,
        record_id           TEXT,
        base_version        TEXT,
        base_content        BLOB,
        remote_deleted      INTEGER NOT NULL DEFAULT 0,
        remote_id           TEXT,
        remote_version      TEXT,
        remote_updated_at   TEXT,
        remote_parent_id    TEXT,
        remote_title        TEXT,
        remote_path         TEXT,
        remote_content_type TEXT,
        remote_content      BLOB,
        remote_metadata     TEXT,
        created_at          TEXT NOT NULL,
        resolved_at         TEXT,
        resolution          TEXT
    );
    CREATE INDEX conflicts_open ON conflicts (source, resolved_at);

    -- Runs are pulls or pushes; pushes count what they applied and the
    -- conflicts they found.
    ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'pull';
    ALTER TABLE runs ADD COLUMN applied INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN conflicts INTEGER NOT NULL DEFAULT 0;
    "#,
    // 3: conditional requests answered 304 Not Modified, counted apart.
    r#"
    ALTER TABLE runs ADD COLUMN not_modified INTEGER NOT NULL DEFAULT 0;
    "#,
    // 4: the page size an enumeration started with, kept by its resumes
    // (NULL for enumerations started before).
    r#"
    ALTER TABLE streams ADD COLUMN page_size INTEGER;
    "#,
    // 5: values replaced by `[redact]` rules, per run.
    r#"
    ALTER TABLE runs ADD COLUMN redacted INTEGER NOT NULL DEFAULT 0;
    "#,
    // 6: history. Every write of a record (a new version, a rewrite, a
    // deletion, a return) first copies the row it replaces here, in the
    // same transaction (a trigger: no writer can forget it). A row holds
    // the state from `valid_from` (the old row's deletion time, else its
    // write time) until `valid_to` (the new row's): the states of a record
    // are contiguous and never overlap, so `export --as-of` picks one.
    r#"
    CREATE TABLE record_history (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        source          TEXT NOT NULL,
        stream          TEXT NOT NULL,
        record_id       TEXT NOT NULL,
        version         TEXT NOT NULL,
        updated_at      TEXT,
        parent_id       TEXT,
        title           TEXT,
        path            TEXT,
        content_type    TEXT NOT NULL,
        content         BLOB,
        content_hash    TEXT,
        metadata        TEXT NOT NULL,
        deleted         INTEGER NOT NULL,
        valid_from      TEXT NOT NULL,
        valid_to        TEXT NOT NULL
    );
    CREATE INDEX record_history_by_record ON record_history (source, stream, record_id, id);
    CREATE INDEX record_history_by_time ON record_history (source, valid_to);

    -- How much history each source keeps (`[sources.NAME.history]`, set by
    -- each pull); a source without a row keeps 10 versions of each record.
    CREATE TABLE history_retention (
        source          TEXT PRIMARY KEY,
        keep_versions   INTEGER NOT NULL,
        keep_days       INTEGER
    );

    CREATE TRIGGER records_keep_history
    BEFORE UPDATE OF synced_at, deleted_at ON records
    WHEN old.synced_at IS NOT new.synced_at OR old.deleted_at IS NOT new.deleted_at
    BEGIN
        INSERT INTO record_history (source, stream, record_id, version, updated_at, parent_id,
                                    title, path, content_type, content, content_hash, metadata,
                                    deleted, valid_from, valid_to)
        VALUES (old.source, old.stream, old.id, old.version, old.updated_at, old.parent_id,
                old.title, old.path, old.content_type, old.content, old.content_hash, old.metadata,
                old.deleted_at IS NOT NULL, coalesce(old.deleted_at, old.synced_at),
                coalesce(new.deleted_at, new.synced_at));
    END;

    -- Retention, applied as each version is kept: the newest versions of
    -- the record, and (when set) none replaced more than keep_days ago.
    CREATE TRIGGER record_history_retention
    AFTER INSERT ON record_history
    BEGIN
        DELETE FROM record_history
        WHERE source = new.source AND stream = new.stream AND record_id = new.record_id
          AND id NOT IN (
              SELECT id FROM record_history
              WHERE source = new.source AND stream = new.stream AND record_id = new.record_id
              ORDER BY id DESC
              LIMIT coalesce((SELECT keep_versions FROM history_retention WHERE source = new.source), 10));
        DELETE FROM record_history
        WHERE source = new.source AND stream = new.stream AND record_id = new.record_id
          AND valid_to < strftime('%Y-%m-%dT%H:%M:%fZ', 'now',
                (SELECT '-' || keep_days || ' days' FROM history_retention
                 WHERE source = new.source AND keep_days IS NOT NULL));
    END;
    "#,
    // 7: records not stored because an `exclude` rule matched, per run.
    r#"
    ALTER TABLE runs ADD COLUMN excluded INTEGER NOT NULL DEFAULT 0;
    "#,
    // 8: the key id of the trusted signature the run's plugin file had
    // (NULL: unsigned, or not signed by a trusted key).
    r#"
    ALTER TABLE runs ADD COLUMN plugin_signer TEXT;
    "#,
    // 9: the audit of the administrator's policy: the sha256 of the policy
    // file each run was checked against (NULL: no policy), and for a run
    // the policy refused (outcome `refused`), the policy line that did.
    r#"
    ALTER TABLE runs ADD COLUMN policy_sha256 TEXT;
    ALTER TABLE runs ADD COLUMN policy_refusal TEXT;
    "#,
];

/// A store written by a newer synchost: left untouched.
#[derive(Debug, thiserror::Error)]
#[error(
    "it has schema version {found}, newer than this synchost supports ({}); upgrade synchost",
    current_version()
)]
pub struct NewerSchema {
    pub found: i64,
}

/// The schema version this binary writes.
pub fn current_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// The store's schema version, refusing one this binary cannot migrate:
/// newer than it knows ([`NewerSchema`]) or negative (no synchost writes
/// that).
fn applied_version(conn: &Connection) -> Result<i64> {
    let applied: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if applied > current_version() {
        return Err(NewerSchema { found: applied }.into());
    }
    if applied < 0 {
        anyhow::bail!("it has schema version {applied}, which no synchost writes");
    }
    Ok(applied)
}

/// Checks that every table of the current schema exists with every column,
/// by comparison with a freshly migrated in-memory database: a store changed
/// by hand or by another tool is refused at open, not halfway through a run.
pub fn verify(conn: &Connection) -> Result<()> {
    let mut reference = Connection::open_in_memory()?;
    migrate(&mut reference)?;
    let mut tables = reference.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )?;
    let tables = tables
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for table in tables {
        let expected = columns(&reference, &table)?;
        let found = columns(conn, &table)?;
        if found.is_empty() {
            anyhow::bail!("table `{table}` is missing");
        }
        if let Some(column) = expected.iter().find(|c| !found.contains(c)) {
            anyhow::bail!("table `{table}` has no column `{column}`");
        }
    }
    // Triggers keep the history: a store without them would silently not.
    let triggers = "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name";
    let names = |conn: &Connection| -> Result<Vec<String>> {
        let mut statement = conn.prepare(triggers)?;
        let names = statement
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(names)
    };
    let found = names(conn)?;
    if let Some(missing) = names(&reference)?.iter().find(|t| !found.contains(t)) {
        anyhow::bail!("trigger `{missing}` is missing");
    }
    Ok(())
}

fn columns(conn: &Connection, table: &str) -> Result<Vec<String>> {
    let mut statement = conn.prepare("SELECT name FROM pragma_table_info(?1)")?;
    let names = statement
        .query_map([table], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(names)
}

/// Applies the missing migrations, each in its own transaction.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let applied = applied_version(conn)?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
        let version = index as i64 + 1;
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .with_context(|| format!("applying store migration {version}"))?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_refuse_newer_stores() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, current_version());
        conn.pragma_update(None, "user_version", current_version() + 1)
            .unwrap();
        assert!(migrate(&mut conn)
            .unwrap_err()
            .to_string()
            .contains("newer"));
        conn.pragma_update(None, "user_version", -1).unwrap();
        assert!(migrate(&mut conn)
            .unwrap_err()
            .to_string()
            .contains("no synchost writes"));
    }

    #[test]
    fn verify_refuses_missing_tables_and_columns() {
        let migrated = || {
            let mut conn = Connection::open_in_memory().unwrap();
            migrate(&mut conn).unwrap();
            verify(&conn).unwrap();
            conn
        };
        let conn = migrated();
        // The history trigger reads every column: a hand edit drops it first.
        conn.execute_batch(
            "DROP TRIGGER records_keep_history; ALTER TABLE records DROP COLUMN title",
        )
        .unwrap();
        assert!(verify(&conn).unwrap_err().to_string().contains("`title`"));
        let conn = migrated();
        conn.execute_batch("DROP TRIGGER record_history_retention")
            .unwrap();
        assert!(verify(&conn)
            .unwrap_err()
            .to_string()
            .contains("trigger `record_history_retention` is missing"));
        let conn = migrated();
        conn.execute_batch("DROP TABLE streams").unwrap();
        assert!(verify(&conn)
            .unwrap_err()
            .to_string()
            .contains("`streams` is missing"));
    }
}
