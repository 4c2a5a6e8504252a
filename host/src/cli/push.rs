//! `synchost stage`, `synchost push`, `synchost conflicts` and
//! `synchost resolve`: the outbox from the command line (docs/push.md).

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use anyhow::Result;
use base64::Engine as _;
use clap::Args;
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{Global, JsonFlag};
use crate::config::{Config, Limits, Overrides, SourceConfig};
use crate::error::{failed, usage};
use crate::mirror::edits::{self as mirror_edits, MirrorEdits, PushedFile};
use crate::redact::Redactor;
use crate::runtime::Runtime;
use crate::store::changes::{
    ChangeOp, ChangeRow, ChangeState, ConflictView, NewChange, Resolution,
};
use crate::store::Store;
use crate::sync::progress::{human_duration, ProgressMode, Reporter};
use crate::sync::push::{push_source, PushOptions, PushSummary};
use crate::untrusted::{terminal_safe, terminal_safe_json, Untrusted};

/// Longest line `stage` reads: room for the largest content a source
/// accepts by default (32 MiB) in base64, plus the rest of the object.
const MAX_LINE_BYTES: u64 = 48 * 1024 * 1024;

#[derive(Debug, Args)]
pub struct StageArgs {
    /// The source the changes are for.
    source: String,
    /// The stream of every change (a line may name its own `stream`).
    #[arg(long)]
    stream: String,
    /// Read the changes from this file instead of stdin.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    #[command(flatten)]
    output: JsonFlag,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Sources to push (default: every source with pending changes).
    sources: Vec<String>,
    /// Stage what changed in this mirror (from `synchost export --format
    /// files` or `--format markdown`) since it was exported, then push.
    #[arg(long, value_name = "DIR")]
    from: Option<PathBuf>,
    /// With --from: stage files removed from the mirror as deletions
    /// (without it they are listed and refused).
    #[arg(long, requires = "from")]
    allow_deletes: bool,
    /// Show what would be sent, send nothing.
    #[arg(long)]
    dry_run: bool,
    /// Send `failed` changes again.
    #[arg(long)]
    retry_failed: bool,
    /// HTTP requests at once per host (default 5).
    #[arg(long, value_name = "N")]
    concurrency: Option<u32>,
    #[command(flatten)]
    output: JsonFlag,
}

#[derive(Debug, Args)]
pub struct ConflictsArgs {
    /// Only this source.
    source: Option<String>,
    #[command(flatten)]
    output: JsonFlag,
}

#[derive(Debug, Args)]
pub struct ChangesArgs {
    /// Only this source.
    source: Option<String>,
    /// Applied, refused and dropped changes too, not only open ones.
    #[arg(long)]
    all: bool,
    /// How many changes to show, newest first.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// With --json: each change's history (staged, sent, outcome, times).
    #[arg(long)]
    history: bool,
    #[command(flatten)]
    output: JsonFlag,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("how").required(true).args(["keep", "with"])))]
pub struct ResolveArgs {
    /// The conflict's id (`synchost conflicts` lists them).
    id: i64,
    /// Keep the local edit (sent again on top of the remote's version) or
    /// the remote item (the local edit is dropped).
    #[arg(long, value_enum)]
    keep: Option<Keep>,
    /// Send this file's content instead: a merge of both sides.
    #[arg(long, value_name = "FILE")]
    with: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Keep {
    Local,
    Remote,
}

/// One line of a change file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeLine {
    op: String,
    #[serde(default)]
    stream: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    parent_id: Option<String>,
    #[serde(default)]
    base_version: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    content: Option<ContentValue>,
    #[serde(default)]
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ContentValue {
    Text(String),
    Base64 { base64: String },
}

fn open_store(global: &Global, config: &Config) -> Result<Store> {
    Store::open_existing(&config.store_path(global.store.as_deref()))
}

/// The source's limits, or the defaults when the source cannot be resolved
/// without its credentials (staging needs none).
fn limits_of(config: &Config, source: &str) -> Limits {
    config
        .source(source, &Overrides::default())
        .map(|s| s.limits)
        .unwrap_or_default()
}

/// Refuses changes (all of them: nothing is staged) that carry the source's
/// redaction text: made from a record redacted on pull, they would write
/// the redaction over the remote's value.
fn refuse_redacted(redactor: Option<&Redactor>, source: &str, changes: &[NewChange]) -> Result<()> {
    let Some(redactor) = redactor else {
        return Ok(());
    };
    let marked: Vec<String> = changes
        .iter()
        .enumerate()
        .filter(|(_, c)| redactor.marks(c.title.as_deref(), c.content.as_deref(), &c.metadata))
        .map(|(index, c)| match &c.record_id {
            Some(id) => format!("change {} ({})", index + 1, Untrusted::new(id)),
            None => format!("change {}", index + 1),
        })
        .take(10)
        .collect();
    if marked.is_empty() {
        return Ok(());
    }
    Err(usage(format!(
        "nothing was staged: {} of source `{source}` carry its redaction text {:?} (records \
         are redacted before storage, see [sources.{source}.redact]); pushing them would \
         overwrite the remote's values with it: edit the remote directly, or write the \
         real values in the change",
        marked.join(", "),
        redactor.replacement()
    )))
}

pub fn stage(global: &Global, args: StageArgs) -> Result<()> {
    let config = global.config()?;
    let mut store = open_store(global, &config)?;
    store.require_source(&args.source)?;
    let limit = limits_of(&config, &args.source).max_response_bytes;
    let input: Box<dyn BufRead> = match &args.file {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path)
                .map_err(|err| usage(format!("cannot read {}: {err}", path.display())))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let changes = parse_changes(input, &args.stream, limit)?;
    if changes.is_empty() {
        return Err(usage("no changes on the input: one JSON object a line, e.g. {\"op\":\"update\",\"id\":\"123\",\"content\":\"...\"}"));
    }
    let redactor = config
        .source(&args.source, &Overrides::default())
        .ok()
        .and_then(|s| s.redactor);
    refuse_redacted(redactor.as_ref(), &args.source, &changes)?;
    let _lock = store.lock_writer()?;
    let ids = store
        .stage_changes(&args.source, &changes)
        .map_err(|err| usage(format!("nothing was staged: {err:#}")))?;
    if args.output.json {
        println!("{}", json!({"staged": ids.len(), "changes": ids}));
    } else {
        println!(
            "Staged {} changes for {} (`synchost push {}` sends them)",
            ids.len(),
            Untrusted::new(&args.source),
            Untrusted::new(&args.source)
        );
    }
    Ok(())
}

/// Reads change lines: all or nothing, each error naming its line.
fn parse_changes(input: impl BufRead, stream: &str, limit: u64) -> Result<Vec<NewChange>> {
    let mut changes = Vec::new();
    let mut input = input;
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        let read = (&mut input)
            .take(MAX_LINE_BYTES + 1)
            .read_until(b'\n', &mut line)
            .map_err(|err| usage(format!("cannot read the changes: {err}")))?;
        if read == 0 {
            break;
        }
        if line.len() as u64 > MAX_LINE_BYTES {
            return Err(usage(format!(
                "line {number}: longer than {} MiB; nothing was staged",
                MAX_LINE_BYTES >> 20
            )));
        }
        let text = String::from_utf8_lossy(&line);
        if text.trim().is_empty() {
            continue;
        }
        let change = parse_line(text.trim(), stream, limit)
            .map_err(|why| usage(format!("line {number}: {why}; nothing was staged")))?;
        changes.push(change);
    }
    Ok(changes)
}

fn parse_line(text: &str, stream: &str, limit: u64) -> std::result::Result<NewChange, String> {
    let line: ChangeLine = serde_json::from_str(text).map_err(|err| {
        format!(
            "not a change ({}); expected {{\"op\":\"create|update|delete\",\"id\":..,\"title\":..,\"content\":..}}",
            Untrusted::clipped(&err.to_string(), 200)
        )
    })?;
    let op = ChangeOp::parse(&line.op).ok_or_else(|| {
        format!(
            "unknown op `{}` (create, update or delete)",
            Untrusted::clipped(&line.op, 40)
        )
    })?;
    let content = match line.content {
        None => None,
        Some(ContentValue::Text(text)) => Some(text.into_bytes()),
        Some(ContentValue::Base64 { base64 }) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(base64.as_bytes())
                .map_err(|err| format!("content.base64 is not base64: {err}"))?,
        ),
    };
    if let Some(content) = &content {
        if content.len() as u64 > limit {
            return Err(format!(
                "content of {} bytes is more than the {} bytes the source allows (limits.max_response_mb)",
                content.len(),
                limit
            ));
        }
    }
    match op {
        ChangeOp::Create if line.id.is_some() => {
            return Err("a create must not name an `id`: the remote assigns it".into())
        }
        ChangeOp::Update | ChangeOp::Delete if line.id.is_none() => {
            return Err(format!("an {} needs the item's `id`", op.as_str()))
        }
        ChangeOp::Create | ChangeOp::Update if content.is_none() => {
            return Err(format!("a {} needs `content`", op.as_str()))
        }
        ChangeOp::Delete if content.is_some() => return Err("a delete takes no `content`".into()),
        _ => {}
    }
    Ok(NewChange {
        stream: line.stream.unwrap_or_else(|| stream.to_string()),
        op,
        record_id: line.id,
        parent_id: line.parent_id,
        base_version: line.base_version,
        title: line.title,
        content,
        metadata: serde_json::Value::Object(line.metadata.unwrap_or_default()).to_string(),
        origin: None,
    })
}

/// `err`, recorded in `store` first when it is a refusal by the policy.
fn audited(
    store: &Store,
    config: &crate::config::Config,
    name: &str,
    err: anyhow::Error,
) -> anyhow::Error {
    let policy = config.policy.as_deref();
    crate::sync::audit::record(store, "push", name, None, policy, &err);
    err
}

pub async fn push(global: &Global, args: PushArgs) -> Result<()> {
    let config = global.config()?;
    let mut store = open_store(global, &config)?;
    let _lock = store.lock_writer()?;
    let names = super::chosen_sources(
        &config,
        &args.sources,
        "push",
        "create synchost.toml (see README)",
    )?;
    let overrides = Overrides {
        page_size: None,
        concurrency: args.concurrency,
    };
    if let Some(dir) = &args.from {
        let [name] = names.as_slice() else {
            return Err(usage(
                "--from DIR pushes one source: name it, e.g. `synchost push docs --from DIR`",
            ));
        };
        // Its manifest is rewritten as the changes land.
        config
            .check_mirrors(&format!("push --from {}", dir.display()))
            .map_err(|err| audited(&store, &config, name, err))?;
        let source = config
            .source(name, &overrides)
            .map_err(|err| audited(&store, &config, name, err))?;
        let runtime = Runtime::new(Runtime::default_cache_dir())?;
        // The streams of these settings: the plugin is configured for them.
        let session = crate::sync::session::Session::open(&runtime, &store, &source).await?;
        let push_streams: Vec<&str> = session
            .manifest
            .streams
            .iter()
            .filter(|s| s.supports_push)
            .map(|s| s.name.as_str())
            .collect();
        stage_mirror(&mut store, &source, &push_streams, dir, &args)?;
    }
    if args.dry_run {
        return print_dry_run(&store, &names, args.output.json);
    }

    let runtime = Runtime::new(Runtime::default_cache_dir())?;
    let reporter = Reporter::new(ProgressMode::detect(args.output.json, global.verbose));
    let cancel = CancellationToken::new();
    super::pull::watch_ctrl_c(cancel.clone());
    let options = PushOptions {
        retry_failed: args.retry_failed,
        cancel,
    };
    let started_at = crate::store::now();
    let mut incomplete = Vec::new();
    for name in &names {
        // Unnamed sources with nothing to send need no credentials.
        if args.sources.is_empty() && !args.retry_failed && !store.has_outbox(name)? {
            continue;
        }
        let source = config
            .source(name, &overrides)
            .map_err(|err| audited(&store, &config, name, err))?;
        let summary = match push_source(&runtime, &mut store, &source, &options, &reporter).await {
            Ok(summary) => summary,
            Err(err) => {
                let err = audited(&store, &config, name, store.explain_write_failure(err));
                if reporter.mode() == ProgressMode::Json {
                    reporter.summary("", &json!({"event": "summary", "source": name, "outcome": "failed", "error": format!("{err:#}")}));
                }
                return Err(err);
            }
        };
        if let Some(dir) = &args.from {
            record_mirror_pushes(&store, &source, dir, &started_at)?;
        }
        let outcome = if summary.all_applied() {
            "succeeded"
        } else {
            "incomplete"
        };
        reporter.summary(
            &summary_text(&summary),
            &json!({"event": "summary", "outcome": outcome, "summary": summary}),
        );
        if !summary.all_applied() {
            incomplete.push(name.clone());
        }
    }
    if incomplete.is_empty() {
        Ok(())
    } else {
        Err(failed(format!(
            "not every change of {} was applied: `synchost conflicts` shows the conflicts, \
             `synchost status` what is pending",
            incomplete.join(", ")
        )))
    }
}

/// `Pushed 12 changes to docs in 1.2s (10 applied, 1 conflict, 1 failed)`,
/// then one line per change that did not apply.
fn summary_text(summary: &PushSummary) -> String {
    let total = summary.applied + summary.conflicts + summary.failed + summary.refused;
    if total == 0 && summary.unknown == 0 {
        return format!("Nothing to push for {}", summary.source);
    }
    let mut text = format!(
        "Pushed {total} changes to {} in {} ({} applied, {} conflicts, {} failed, {} refused",
        summary.source,
        human_duration(std::time::Duration::from_millis(summary.duration_ms)),
        summary.applied,
        summary.conflicts,
        summary.failed,
        summary.refused
    );
    if summary.reconciled > 0 {
        text.push_str(&format!(
            "; {} found applied by an earlier run",
            summary.reconciled
        ));
    }
    if summary.not_modified > 0 {
        text.push_str(&format!("; {} answered 304", summary.not_modified));
    }
    if summary.unknown > 0 {
        text.push_str(&format!(
            "; {} in flight, reconciled by the next push",
            summary.unknown
        ));
    }
    text.push(')');
    for problem in summary.problems.iter().take(50) {
        text.push_str(&format!("\n  {problem}"));
    }
    if summary.problems.len() > 50 {
        text.push_str(&format!("\n  ... and {} more", summary.problems.len() - 50));
    }
    text
}

fn print_dry_run(store: &Store, names: &[String], json_out: bool) -> Result<()> {
    let mut rows = Vec::new();
    for name in names {
        for state in [ChangeState::InFlight, ChangeState::Pending] {
            rows.extend(store.changes_in(name, state)?);
        }
    }
    if json_out {
        println!(
            "{}",
            terminal_safe_json(&serde_json::to_string_pretty(&json!({"would_send": rows}))?)
        );
        return Ok(());
    }
    if rows.is_empty() {
        println!("Nothing to push.");
        return Ok(());
    }
    for row in &rows {
        println!("{}", dry_run_line(row));
    }
    println!(
        "{} changes would be sent (dry run: nothing was sent)",
        rows.len()
    );
    Ok(())
}

fn dry_run_line(row: &ChangeRow) -> String {
    let state = if row.state == ChangeState::InFlight {
        " (in flight: reconciled first)"
    } else {
        ""
    };
    format!(
        "change {} {}/{} {} {} \"{}\" {} bytes, base version {}{state}",
        row.id,
        Untrusted::clipped(&row.source, 40),
        Untrusted::clipped(&row.stream, 40),
        Untrusted::clipped(&row.op, 10),
        row.record_id.as_deref().map_or_else(
            || "(new)".to_string(),
            |id| Untrusted::clipped(id, 60).to_string()
        ),
        Untrusted::clipped(row.title.as_deref().unwrap_or("-"), 60),
        row.size,
        Untrusted::clipped(row.base_version.as_deref().unwrap_or("(stored)"), 40)
    )
}

/// Where a change staged from a mirror file came from.
const MIRROR_ORIGIN: &str = "mirror:";

/// Stages what changed in the mirror `dir` of `source`; deletions only with
/// --allow-deletes. Edits already in the store (pushed) or already staged
/// are skipped; edits of items with a change in flight or in conflict are
/// listed and left for later. A new file goes to its parent's stream, or,
/// when that stream takes no pushes (a Confluence folder) or it is at the
/// root, to the stream of the content files beside it, or else to the first
/// stream of the manifest that takes pushes (`push_streams`: Confluence's
/// `pages`, not its `blogposts`).
fn stage_mirror(
    store: &mut Store,
    source: &SourceConfig,
    push_streams: &[&str],
    dir: &Path,
    args: &PushArgs,
) -> Result<()> {
    let edits: MirrorEdits =
        mirror_edits::find_edits(dir, &source.name, source.limits.max_response_bytes)?;
    for warning in &edits.warnings {
        eprintln!("warning: {warning}");
    }
    for refused in &edits.refused {
        eprintln!("not pushed: {}", terminal_safe(&refused.to_string()));
    }
    let mut changes = Vec::new();
    // `front_matter`: the change also sets a title or labels, so content
    // already pushed does not make it pushed.
    let skip = |store: &Store,
                stream: &str,
                id: Option<&str>,
                path: &str,
                hash: Option<&str>,
                front_matter: bool|
     -> Result<bool> {
        let origin = format!("{MIRROR_ORIGIN}{path}");
        if let (Some(id), Some(hash), false) = (id, hash, front_matter) {
            if store
                .stored_content_hash(&source.name, stream, id)?
                .as_deref()
                == Some(hash)
            {
                return Ok(true); // Already pushed.
            }
        }
        let Some(open) = store.open_change(&source.name, stream, id, Some(&origin))? else {
            return Ok(false);
        };
        let same = open
            .content
            .as_deref()
            .map(crate::store::content_hash)
            .as_deref()
            == hash;
        match open.state {
            ChangeState::Pending => Ok(same),
            _ if same => Ok(true),
            state => {
                eprintln!(
                    "not pushed: {} changed again while change {} is {}; {} first",
                    Untrusted::new(path),
                    open.id,
                    state.as_str().replace('_', " "),
                    if state == ChangeState::Conflict {
                        "resolve it (`synchost conflicts`)"
                    } else {
                        "let `synchost push` settle it"
                    }
                );
                Ok(true)
            }
        }
    };
    for u in &edits.updates {
        let (title, metadata, front_matter) = front_matter_change(store, &source.name, u)?;
        let hash = Some(u.hash.as_str());
        if skip(
            store,
            &u.stream,
            Some(&u.record_id),
            &u.path,
            hash,
            front_matter,
        )? {
            continue;
        }
        changes.push(NewChange {
            stream: u.stream.clone(),
            op: ChangeOp::Update,
            record_id: Some(u.record_id.clone()),
            parent_id: None,
            base_version: u.base_version.clone(),
            title,
            content: Some(u.content.clone()),
            metadata,
            origin: Some(format!("{MIRROR_ORIGIN}{}", u.path)),
        });
    }
    for c in &edits.creates {
        let stream = match [&c.stream, &c.sibling_stream]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .find(|s| push_streams.contains(s))
            .or(push_streams.first().copied())
        {
            Some(stream) => stream.to_string(),
            None => {
                eprintln!(
                    "not pushed: {}: no stream of this source takes pushes",
                    Untrusted::new(&c.path),
                );
                continue;
            }
        };
        let stream = &stream;
        if skip(store, stream, None, &c.path, Some(&c.hash), false)? {
            continue;
        }
        changes.push(NewChange {
            stream: stream.clone(),
            op: ChangeOp::Create,
            record_id: None,
            parent_id: c.parent_id.clone(),
            base_version: None,
            title: Some(c.title.clone()),
            content: Some(c.content.clone()),
            metadata: labels_metadata(c.labels.as_deref()),
            origin: Some(format!("{MIRROR_ORIGIN}{}", c.path)),
        });
    }
    for d in &edits.deletes {
        if skip(store, &d.stream, Some(&d.record_id), &d.path, None, false)? {
            continue;
        }
        if !args.allow_deletes {
            eprintln!(
                "not pushed: {} was removed from the mirror; pass --allow-deletes to delete item `{}` remotely",
                Untrusted::new(&d.path),
                Untrusted::new(&d.record_id)
            );
            continue;
        }
        changes.push(NewChange {
            stream: d.stream.clone(),
            op: ChangeOp::Delete,
            record_id: Some(d.record_id.clone()),
            parent_id: None,
            base_version: d.base_version.clone(),
            title: None,
            content: None,
            metadata: "{}".into(),
            origin: Some(format!("{MIRROR_ORIGIN}{}", d.path)),
        });
    }
    if args.dry_run {
        for change in &changes {
            println!(
                "would stage: {} {} from {}",
                change.op.as_str(),
                Untrusted::new(change.record_id.as_deref().unwrap_or("(new)")),
                Untrusted::new(change.origin.as_deref().unwrap_or("-"))
            );
        }
        return Ok(());
    }
    if !changes.is_empty() {
        refuse_redacted(source.redactor.as_ref(), &source.name, &changes)?;
        store.stage_changes(&source.name, &changes).map_err(|err| {
            usage(format!(
                "nothing was staged from {}: {err:#}",
                dir.display()
            ))
        })?;
    }
    Ok(())
}

/// A Markdown file's front matter as a change: its title (sent as it is:
/// a plugin that gets the title need not read the page to keep it), and
/// `{"labels": [...]}` (sorted, the complete set) when its labels are not
/// the stored ones (the push contract in docs/push.md); and whether either
/// differs from the stored record.
fn front_matter_change(
    store: &Store,
    source: &str,
    update: &mirror_edits::Update,
) -> Result<(Option<String>, String, bool)> {
    let (stored_title, stored_metadata) = store
        .record_title_and_metadata(source, &update.stream, &update.record_id)?
        .unwrap_or_default();
    let renamed = update.title.is_some() && update.title != stored_title;
    let stored_labels: Option<Vec<String>> =
        serde_json::from_str::<serde_json::Value>(&stored_metadata)
            .ok()
            .and_then(|m| serde_json::from_value(m.get("labels")?.clone()).ok())
            .map(|labels: Vec<String>| sorted(&labels));
    let metadata = match update.labels.as_deref() {
        Some(labels) if Some(sorted(labels)) != stored_labels => labels_metadata(Some(labels)),
        _ => "{}".into(),
    };
    let changed = renamed || metadata != "{}";
    Ok((update.title.clone(), metadata, changed))
}

fn sorted(labels: &[String]) -> Vec<String> {
    let mut labels = labels.to_vec();
    labels.sort();
    labels.dedup();
    labels
}

/// A change's metadata setting these labels, or none.
fn labels_metadata(labels: Option<&[String]>) -> String {
    match labels {
        Some(labels) => json!({ "labels": sorted(labels) }).to_string(),
        None => "{}".into(),
    }
}

/// After a push from a mirror: its manifest learns what the changes staged
/// from it and applied since `since` created, so the next `push --from`
/// finds nothing new.
fn record_mirror_pushes(
    store: &Store,
    source: &SourceConfig,
    dir: &Path,
    since: &str,
) -> Result<()> {
    let pushed: Vec<PushedFile> = store
        .applied_since(&source.name, since, MIRROR_ORIGIN)?
        .into_iter()
        .filter_map(|change| {
            let path = change
                .origin
                .as_deref()?
                .strip_prefix(MIRROR_ORIGIN)?
                .to_string();
            let hash = change.content.as_deref().map(crate::store::content_hash);
            match (change.op.as_str(), change.remote_version, hash) {
                ("delete", _, _) => Some(PushedFile::Deleted { path }),
                ("update", Some(version), Some(hash)) => Some(PushedFile::Updated {
                    path,
                    version,
                    hash,
                }),
                ("create", Some(version), Some(hash)) => Some(PushedFile::Created {
                    path,
                    stream: change.stream,
                    id: change.record_id?,
                    version,
                    hash,
                }),
                _ => None,
            }
        })
        .collect();
    if !pushed.is_empty() {
        mirror_edits::record_pushed(dir, &source.name, &pushed)?;
    }
    Ok(())
}

pub fn changes(global: &Global, args: ChangesArgs) -> Result<()> {
    let config = global.config()?;
    let store = open_store(global, &config)?;
    let rows = store.recent_changes(args.source.as_deref(), args.all, args.limit)?;
    if args.output.json {
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut item = serde_json::to_value(row)?;
            if args.history {
                item["history"] = serde_json::to_value(store.change_history(row.id)?)?;
            }
            items.push(item);
        }
        println!(
            "{}",
            terminal_safe_json(&serde_json::to_string_pretty(&json!({"changes": items}))?)
        );
        return Ok(());
    }
    if rows.is_empty() {
        println!("No {}changes.", if args.all { "" } else { "open " });
        return Ok(());
    }
    for row in &rows {
        let mut line = dry_run_line(row).replacen("change ", "", 1);
        line = format!(
            "change {line} · {} · staged {} · updated {}",
            row.state.as_str(),
            row.staged_at,
            row.updated_at
        );
        if let Some(error) = &row.error {
            line.push_str(&format!(" · {}", Untrusted::clipped(error, 300)));
        }
        println!("{line}");
    }
    Ok(())
}

pub fn conflicts(global: &Global, args: ConflictsArgs) -> Result<()> {
    let config = global.config()?;
    let store = open_store(global, &config)?;
    let conflicts = store.open_conflicts(args.source.as_deref())?;
    if args.output.json {
        let items: Vec<serde_json::Value> = conflicts.iter().map(conflict_json).collect();
        println!(
            "{}",
            terminal_safe_json(&serde_json::to_string_pretty(&json!({"conflicts": items}))?)
        );
        return Ok(());
    }
    if conflicts.is_empty() {
        println!("No open conflicts.");
        return Ok(());
    }
    for conflict in &conflicts {
        print!("{}", terminal_safe(&conflict_text(conflict)));
    }
    println!(
        "{} open conflicts: `synchost resolve ID --keep local|remote` or `--with FILE`",
        conflicts.len()
    );
    Ok(())
}

fn text_of(content: Option<&[u8]>) -> String {
    content.map_or_else(String::new, |c| String::from_utf8_lossy(c).into_owned())
}

/// A JSON object or array (a database row) pretty-printed with sorted keys,
/// so that its diff shows the fields that differ; other text as it is.
fn diffable(text: String) -> String {
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(value @ (serde_json::Value::Object(_) | serde_json::Value::Array(_))) => {
            serde_json::to_string_pretty(&value).map_or(text, |pretty| pretty + "\n")
        }
        _ => text,
    }
}

fn conflict_json(c: &ConflictView) -> serde_json::Value {
    let remote = c.remote.as_ref();
    json!({
        "id": c.id,
        "change_id": c.change_id,
        "source": c.source,
        "stream": c.stream,
        "op": c.op,
        "record_id": c.record_id,
        "title": c.title,
        "created_at": c.created_at,
        "base": {"version": c.base_version, "content": c.base_content.as_deref().map(|b| text_of(Some(b)))},
        "local": {"content": c.local_content.as_deref().map(|b| text_of(Some(b)))},
        "remote": {
            "deleted": c.remote_deleted,
            "version": remote.map(|r| &r.version),
            "title": remote.and_then(|r| r.title.as_ref()),
            "content": remote.and_then(|r| r.content.as_deref()).map(|b| text_of(Some(b))),
        },
        "diff": unified_diff(c),
    })
}

fn conflict_text(c: &ConflictView) -> String {
    let remote = match &c.remote {
        Some(r) => format!("remote version {}", r.version),
        None => "deleted remotely".to_string(),
    };
    format!(
        "conflict {} · {}/{} {} `{}` \"{}\" · base version {} · {remote}\n{}\n",
        c.id,
        Untrusted::clipped(&c.source, 40),
        Untrusted::clipped(&c.stream, 40),
        Untrusted::clipped(&c.op, 10),
        Untrusted::clipped(c.record_id.as_deref().unwrap_or("-"), 60),
        Untrusted::clipped(c.title.as_deref().unwrap_or("-"), 80),
        Untrusted::clipped(c.base_version.as_deref().unwrap_or("-"), 40),
        unified_diff(c)
    )
}

/// The remote's text against the local edit, as a unified diff.
fn unified_diff(c: &ConflictView) -> String {
    let remote = diffable(text_of(
        c.remote.as_ref().and_then(|r| r.content.as_deref()),
    ));
    let local = diffable(text_of(c.local_content.as_deref()));
    similar::TextDiff::from_lines(&remote, &local)
        .unified_diff()
        .context_radius(3)
        .header("remote", "local")
        .to_string()
}

pub fn resolve(global: &Global, args: ResolveArgs) -> Result<()> {
    let config = global.config()?;
    let mut store = open_store(global, &config)?;
    let _lock = store.lock_writer()?;
    let resolution = match (&args.with, args.keep) {
        (Some(path), _) => {
            let limit = store
                .open_conflicts(None)?
                .into_iter()
                .find(|c| c.id == args.id)
                .map_or(Limits::default().max_response_bytes, |c| {
                    limits_of(&config, &c.source).max_response_bytes
                });
            let content = read_bounded(path, limit)?;
            Resolution::KeepLocal {
                content: Some(content),
            }
        }
        (None, Some(Keep::Local)) => Resolution::KeepLocal { content: None },
        (None, Some(Keep::Remote)) => Resolution::KeepRemote,
        (None, None) => return Err(usage("say how: --keep local, --keep remote or --with FILE")),
    };
    let restaged = store
        .resolve_conflict(args.id, &resolution)
        .map_err(|err| usage(format!("{err:#}")))?;
    match restaged {
        Some(change) => println!(
            "Conflict {} resolved: change {change} is staged on top of the remote version; \
             `synchost push` sends it",
            args.id
        ),
        None => println!(
            "Conflict {} resolved: the remote side is stored; nothing to send",
            args.id
        ),
    }
    Ok(())
}

fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path)
        .map_err(|err| usage(format!("cannot read {}: {err}", path.display())))?;
    let mut content = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut content)
        .map_err(|err| usage(format!("cannot read {}: {err}", path.display())))?;
    if content.len() as u64 > limit {
        return Err(usage(format!(
            "{} is larger than the {limit} bytes the source allows (limits.max_response_mb)",
            path.display()
        )));
    }
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_diff_field_by_field() {
        let remote = diffable(r#"{"id":"1","title":"theirs","done":false}"#.into());
        let local = diffable(r#"{"done":false,"id":"1","title":"mine"}"#.into());
        let diff = similar::TextDiff::from_lines(&remote, &local)
            .unified_diff()
            .to_string();
        let changed: Vec<&str> = diff
            .lines()
            .filter(|l| l.starts_with(['-', '+']) && !l.starts_with("---") && !l.starts_with("+++"))
            .collect();
        assert_eq!(
            changed,
            ["-  \"title\": \"theirs\"", "+  \"title\": \"mine\""]
        );
        assert_eq!(diffable("plain <p>text</p>".into()), "plain <p>text</p>");
    }

    #[test]
    fn change_lines_are_parsed_or_refused_with_their_line() {
        let input = b"{\"op\":\"update\",\"id\":\"1\",\"content\":\"hi\"}\n\n{\"op\":\"create\",\"title\":\"T\",\"content\":{\"base64\":\"aGk=\"},\"parent_id\":\"9\"}\n";
        let changes = parse_changes(&input[..], "pages", 100).unwrap();
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].content.as_deref(), Some(&b"hi"[..]));
        assert_eq!(changes[1].content.as_deref(), Some(&b"hi"[..]));
        assert_eq!(changes[1].parent_id.as_deref(), Some("9"));
        for (bad, why) in [
            (
                "{\"op\":\"update\",\"content\":\"x\"}",
                "needs the item's `id`",
            ),
            (
                "{\"op\":\"create\",\"id\":\"1\",\"content\":\"x\"}",
                "must not name",
            ),
            ("{\"op\":\"move\",\"id\":\"1\"}", "unknown op"),
            (
                "{\"op\":\"update\",\"id\":\"1\",\"content\":\"x\",\"colour\":1}",
                "not a change",
            ),
            ("not json", "not a change"),
            (
                "{\"op\":\"update\",\"id\":\"1\",\"content\":{\"base64\":\"!!\"}}",
                "not base64",
            ),
            (
                "{\"op\":\"update\",\"id\":\"1\",\"content\":\"far too long for the limit\"}",
                "more than",
            ),
            (
                "{\"op\":\"delete\",\"id\":\"1\",\"content\":\"x\"}",
                "takes no",
            ),
        ] {
            let input = format!("{{\"op\":\"delete\",\"id\":\"2\"}}\n{bad}\n");
            let err = parse_changes(input.as_bytes(), "pages", 10)
                .unwrap_err()
                .to_string();
            assert!(err.contains("line 2") && err.contains(why), "{bad}: {err}");
        }
    }
}
