//! The audit trail: one row per pull, push or forget of a source.

use anyhow::Result;
use rusqlite::params;
use serde::Serialize;

use super::{now, Store};
use crate::untrusted::Untrusted;

/// Budget of a run's stored error message: it quotes plugins and remotes, so
/// it is stored escaped and clipped, ready for any terminal.
pub const MAX_RUN_ERROR_BYTES: usize = 8 * 1024;

/// What a run is started with.
pub struct RunStart<'a> {
    /// `pull`, `push` or `forget`.
    pub kind: &'a str,
    pub source: &'a str,
    pub plugin_name: &'a str,
    pub plugin_version: &'a str,
    pub plugin_sha256: &'a str,
    /// The key id of the plugin file's trusted signature, if any.
    pub plugin_signer: Option<&'a str>,
    /// The sha256 of the administrator's policy file, when there is one.
    pub policy_sha256: Option<&'a str>,
    pub full: bool,
    pub resumed: bool,
}

/// A command the administrator's policy refused, for the audit trail.
pub struct Refusal<'a> {
    /// `pull`, `push` or `export`.
    pub kind: &'a str,
    pub source: &'a str,
    /// The plugin file's sha256, when it was read before the refusal.
    pub plugin_sha256: Option<&'a str>,
    pub policy_sha256: &'a str,
    /// The policy line.
    pub rule: &'a str,
    /// The whole message, as the command printed it.
    pub message: &'a str,
}

/// How a run ended.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunEnd {
    /// `succeeded`, `incomplete`, `failed`, `auth_failed`, `interrupted`, or
    /// `killed` (found unfinished by a later run).
    pub outcome: String,
    pub written: u64,
    pub skipped: u64,
    pub failed: u64,
    pub deleted: u64,
    /// Pushes: changes applied and conflicts found.
    pub applied: u64,
    pub conflicts: u64,
    pub requests: u64,
    /// Responses that were `304 Not Modified`.
    pub not_modified: u64,
    /// Values replaced by `[redact]` rules.
    pub redacted: u64,
    /// Records not stored because an `exclude` rule matched.
    pub excluded: u64,
    pub duration_ms: u64,
    pub peak_rss_kb: Option<u64>,
    pub error: Option<String>,
    /// The policy line that stopped the run (outcome `refused`).
    pub policy_refusal: Option<String>,
}

/// A run as listed by `synchost runs`.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub id: i64,
    /// `pull` or `push`.
    pub kind: String,
    pub source: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub user: Option<String>,
    pub plugin: String,
    pub plugin_sha256: String,
    /// The key id of the plugin file's trusted signature, if it had one.
    pub plugin_signer: Option<String>,
    pub full: bool,
    pub resumed: bool,
    pub outcome: String,
    pub written: u64,
    pub skipped: u64,
    pub failed: u64,
    pub deleted: u64,
    pub applied: u64,
    pub conflicts: u64,
    pub requests: u64,
    /// Responses that were `304 Not Modified`.
    pub not_modified: u64,
    /// Values replaced by `[redact]` rules.
    pub redacted: u64,
    /// Records not stored because an `exclude` rule matched.
    pub excluded: u64,
    pub duration_ms: Option<u64>,
    pub peak_rss_kb: Option<u64>,
    pub error: Option<String>,
    /// The sha256 of the policy file the run was checked against.
    pub policy_sha256: Option<String>,
    /// The policy line that refused the run (outcome `refused`).
    pub policy_refusal: Option<String>,
}

/// Who runs this command, for the audit trail (`$USER`, else `$USERNAME`).
pub(crate) fn current_user() -> Option<String> {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
}

impl Store {
    /// Starts a run. The caller holds the writer lock, so a run of this
    /// source still marked `running` died without finishing (`kill -9`, a
    /// crash): it is marked `killed` first.
    pub fn start_run(&self, run: &RunStart) -> Result<i64> {
        self.conn.execute(
            "UPDATE runs SET outcome = 'killed' WHERE source = ?1 AND outcome = 'running'",
            params![run.source],
        )?;
        let user = current_user();
        self.conn.execute(
            "INSERT INTO runs (source, started_at, user, plugin_name, plugin_version, plugin_sha256, full, resumed, kind, plugin_signer, policy_sha256)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![run.source, now(), user, run.plugin_name, run.plugin_version, run.plugin_sha256, run.full, run.resumed, run.kind, run.plugin_signer, run.policy_sha256],
        )?;
        let id = self.conn.last_insert_rowid();
        // The audit trail in the log too (`--log-format json`).
        tracing::info!(
            run = id,
            kind = run.kind,
            source = run.source,
            plugin_sha256 = run.plugin_sha256,
            plugin_signer = run.plugin_signer.unwrap_or(""),
            policy_sha256 = run.policy_sha256.unwrap_or(""),
            "run started"
        );
        Ok(id)
    }

    /// Records a command the policy refused as a finished run with outcome
    /// `refused`, its policy line and message; it touches no other run, so
    /// it needs no writer lock.
    pub fn record_refusal(&self, refusal: &Refusal) -> Result<i64> {
        let at = now();
        let message = Untrusted::clipped(refusal.message, MAX_RUN_ERROR_BYTES).to_string();
        self.conn.execute(
            "INSERT INTO runs (source, started_at, finished_at, user, plugin_name, plugin_version,
                               plugin_sha256, full, resumed, kind, outcome, error, duration_ms,
                               policy_sha256, policy_refusal)
             VALUES (?1, ?2, ?2, ?3, '', '', ?4, 0, 0, ?5, 'refused', ?6, 0, ?7, ?8)",
            params![
                refusal.source,
                at,
                current_user(),
                refusal.plugin_sha256.unwrap_or(""),
                refusal.kind,
                message,
                refusal.policy_sha256,
                refusal.rule
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn finish_run(&self, id: i64, end: &RunEnd) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET finished_at = ?2, outcome = ?3, written = ?4, skipped = ?5, failed = ?6,
                    deleted = ?7, requests = ?8, duration_ms = ?9, peak_rss_kb = ?10, error = ?11,
                    applied = ?12, conflicts = ?13, not_modified = ?14, redacted = ?15,
                    excluded = ?16, policy_refusal = ?17
             WHERE id = ?1",
            params![
                id,
                now(),
                end.outcome,
                end.written as i64,
                end.skipped as i64,
                end.failed as i64,
                end.deleted as i64,
                end.requests as i64,
                end.duration_ms as i64,
                end.peak_rss_kb.map(|v| v as i64),
                end.error
                    .as_deref()
                    .map(|e| Untrusted::clipped(e, MAX_RUN_ERROR_BYTES).to_string()),
                end.applied as i64,
                end.conflicts as i64,
                end.not_modified as i64,
                end.redacted as i64,
                end.excluded as i64,
                end.policy_refusal,
            ],
        )?;
        Ok(())
    }

    /// The latest runs, newest first, optionally of one source.
    pub fn runs(&self, source: Option<&str>, limit: u32) -> Result<Vec<RunRow>> {
        let mut statement = self.conn.prepare(
            "SELECT id, source, started_at, finished_at, user, plugin_name || ' ' || plugin_version,
                    plugin_sha256, full, resumed, outcome, written, skipped, failed, deleted, requests,
                    duration_ms, peak_rss_kb, error, kind, applied, conflicts, not_modified, redacted,
                    excluded, plugin_signer, policy_sha256, policy_refusal
             FROM runs WHERE (?1 IS NULL OR source = ?1) ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = statement.query_map(params![source, limit], |row| {
            Ok(RunRow {
                id: row.get(0)?,
                source: row.get(1)?,
                started_at: row.get(2)?,
                finished_at: row.get(3)?,
                user: row.get(4)?,
                plugin: row.get(5)?,
                plugin_sha256: row.get(6)?,
                plugin_signer: row.get(24)?,
                full: row.get(7)?,
                resumed: row.get(8)?,
                outcome: row.get(9)?,
                written: row.get::<_, i64>(10)? as u64,
                skipped: row.get::<_, i64>(11)? as u64,
                failed: row.get::<_, i64>(12)? as u64,
                deleted: row.get::<_, i64>(13)? as u64,
                requests: row.get::<_, i64>(14)? as u64,
                duration_ms: row.get::<_, Option<i64>>(15)?.map(|v| v as u64),
                peak_rss_kb: row.get::<_, Option<i64>>(16)?.map(|v| v as u64),
                error: row.get(17)?,
                kind: row.get(18)?,
                applied: row.get::<_, i64>(19)? as u64,
                conflicts: row.get::<_, i64>(20)? as u64,
                not_modified: row.get::<_, i64>(21)? as u64,
                redacted: row.get::<_, i64>(22)? as u64,
                excluded: row.get::<_, i64>(23)? as u64,
                policy_sha256: row.get(25)?,
                policy_refusal: row.get(26)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
