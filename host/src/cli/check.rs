//! `synchost plugin check FILE --set k=v`: a conformance suite run against
//! the API the settings name, through the host's own runtime. It writes no
//! store. One verdict per rule; exit 1 when a rule fails.

use std::collections::HashSet;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use super::JsonFlag;
use crate::config::{ad_hoc_source, AuthSection, Overrides, SourceConfig};
use crate::error::{failed, usage};
use crate::runtime::bindings::types::{self, Detail};
use crate::runtime::{CallError, Runtime};
use crate::sync::session::{ad_hoc_named, describe_error, Session};
use crate::untrusted::Untrusted;

/// The page size asked for: small, so a walk sees several pages.
const LIMIT: u32 = 3;
/// Listed ids `fetch` is asked for at most.
const FETCH_IDS: usize = 10;
/// An id and a stream no plugin knows.
const UNKNOWN_ID: &str = "synchost-check-no-such-id-7f3a";
const UNKNOWN_STREAM: &str = "synchost-check-no-such-stream";
/// Plugin values shown in a verdict are clipped to this.
const SHOWN_BYTES: usize = 120;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The plugin (.wasm component).
    file: PathBuf,
    /// A plugin setting, e.g. --set base_url=https://example.com.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Send `Authorization: Bearer $VAR`.
    #[arg(long, value_name = "VAR")]
    auth_bearer_env: Option<String>,
    /// Hosts the plugin may reach (default: the host of base_url).
    #[arg(long = "allow-host", value_name = "HOST")]
    allow_hosts: Vec<String>,
    /// The stream to check (default: the first the plugin answers).
    #[arg(long, value_name = "NAME")]
    stream: Option<String>,
    /// Pages walked at most.
    #[arg(long, value_name = "N", default_value_t = 20)]
    max_pages: u32,
    #[command(flatten)]
    output: JsonFlag,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Status {
    Pass,
    Fail,
    Skip,
}

/// One rule's verdict: `detail` names the call and the offending value
/// (already escaped).
struct Verdict {
    rule: &'static str,
    status: Status,
    detail: String,
}

fn pass(rule: &'static str, detail: impl Into<String>) -> Verdict {
    Verdict {
        rule,
        status: Status::Pass,
        detail: detail.into(),
    }
}

fn fail(rule: &'static str, detail: impl Into<String>) -> Verdict {
    Verdict {
        rule,
        status: Status::Fail,
        detail: detail.into(),
    }
}

fn skip(rule: &'static str, detail: impl Into<String>) -> Verdict {
    Verdict {
        rule,
        status: Status::Skip,
        detail: detail.into(),
    }
}

/// A plugin's value, escaped and clipped for a verdict.
fn shown(text: &str) -> String {
    format!("`{}`", Untrusted::clipped(text, SHOWN_BYTES))
}

/// A plugin error as `kind: message`.
fn error_text(error: &types::Error) -> String {
    let (kind, message) = describe_error(error);
    format!("{kind}: {}", Untrusted::clipped(&message, SHOWN_BYTES))
}

/// A call's answer, its error (the plugin's or the call's) as text.
fn answered<T>(answer: Result<Result<T, types::Error>, CallError>) -> Result<T, String> {
    match answer {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(error_text(&error)),
        Err(call) => Err(call.0),
    }
}

/// One listed page as the walk saw it.
struct Seen {
    /// The cursor it was asked with.
    cursor: Option<String>,
    records: Vec<types::Record>,
    watermark: Option<String>,
}

/// The enumeration walked from the start, `limit` [`LIMIT`].
struct Walk {
    pages: Vec<Seen>,
    /// The listing ended (no next cursor) within the pages walked.
    complete: bool,
    /// A cursor the plugin gave twice, and the page that repeated it.
    repeated: Option<(usize, String)>,
    /// Why the walk stopped early.
    error: Option<String>,
}

impl Walk {
    fn records(&self) -> impl Iterator<Item = &types::Record> {
        self.pages.iter().flat_map(|page| &page.records)
    }

    fn watermark(&self) -> Option<&str> {
        self.pages.iter().rev().find_map(|p| p.watermark.as_deref())
    }
}

pub async fn run(args: CheckArgs) -> Result<()> {
    if args.max_pages < 2 {
        return Err(usage(
            "--max-pages must be at least 2 (the resume rule needs two pages)",
        ));
    }
    let auth = args.auth_bearer_env.clone().map(AuthSection::bearer);
    let hosts = (!args.allow_hosts.is_empty()).then(|| args.allow_hosts.clone());
    let source = ad_hoc_source(&args.file, &args.sets, auth, hosts, &Overrides::default())?;
    let runtime = Runtime::new(Runtime::default_cache_dir())?;
    let verdicts = check(&runtime, &source, &args).await?;
    print(&verdicts, args.output.json);
    let failed_rules: Vec<&str> = verdicts
        .iter()
        .filter(|v| v.status == Status::Fail)
        .map(|v| v.rule)
        .collect();
    if failed_rules.is_empty() {
        Ok(())
    } else {
        Err(failed(format!(
            "plugin check: {} rule(s) failed: {}",
            failed_rules.len(),
            failed_rules.join(", ")
        )))
    }
}

/// Every rule in order. Settings the plugin refuses are a usage error.
async fn check(runtime: &Runtime, source: &SourceConfig, args: &CheckArgs) -> Result<Vec<Verdict>> {
    let plugin = runtime.load(&source.plugin, &source.limits)?;
    let source = match ad_hoc_named(&plugin, source).await {
        Ok(named) => named,
        Err(err) => {
            let mut verdicts = vec![fail("manifest", format!("describe: {err:#}"))];
            let later = ["page-limit", "unique-ids", "cursors", "resume", "fetch"];
            let last = ["unknown-id", "unknown-stream", "delta-subset"];
            for rule in later.into_iter().chain(last) {
                verdicts.push(skip(rule, "the manifest was refused"));
            }
            return Ok(verdicts);
        }
    };
    let mut session = Session::configured(plugin, &source).await?;
    let streams = &session.manifest.streams;
    let stream = match &args.stream {
        Some(wanted) => streams
            .iter()
            .find(|s| &s.name == wanted)
            .ok_or_else(|| {
                let names: Vec<&str> = streams.iter().map(|s| s.name.as_str()).collect();
                usage(format!(
                    "no stream `{}` (the plugin answers {})",
                    Untrusted::new(wanted),
                    Untrusted::new(&names.join(", "))
                ))
            })?
            .clone(),
        None => streams[0].clone(),
    };
    let mut verdicts = vec![manifest_rule(streams)];
    let walk = walk(&mut session, &stream.name, args.max_pages).await;
    verdicts.push(page_limit_rule(&walk));
    verdicts.push(unique_ids_rule(&walk));
    verdicts.push(cursor_rule(&walk));
    verdicts.push(resume_rule(runtime, &source, &stream.name, &walk).await);
    verdicts.push(fetch_rule(&mut session, &stream.name, &walk).await);
    verdicts.push(unknown_id_rule(&mut session, &stream.name).await);
    verdicts.push(unknown_stream_rule(&mut session).await);
    verdicts.push(if stream.supports_delta {
        delta_rule(&mut session, &stream.name, &walk, args.max_pages).await
    } else {
        skip("delta-subset", "the stream does not declare supports-delta")
    });
    Ok(verdicts)
}

fn print(verdicts: &[Verdict], as_json: bool) {
    if as_json {
        let rules: Vec<_> = verdicts
            .iter()
            .map(|v| {
                let status = match v.status {
                    Status::Pass => "pass",
                    Status::Fail => "fail",
                    Status::Skip => "skip",
                };
                json!({"rule": v.rule, "verdict": status, "detail": v.detail})
            })
            .collect();
        let ok = verdicts.iter().all(|v| v.status != Status::Fail);
        println!("{}", json!({"passed": ok, "rules": rules}));
        return;
    }
    for (n, v) in verdicts.iter().enumerate() {
        let status = match v.status {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        };
        println!("{status} {} {}: {}", n + 1, v.rule, v.detail);
    }
}

/// Rule 1: the manifest passed `check_manifest` (in `ad_hoc_named`; a
/// refusal there is this rule's FAIL) and the configured instance answers
/// at least one stream (`Session::configured` refuses none, exit 2).
fn manifest_rule(streams: &[types::StreamInfo]) -> Verdict {
    let names: Vec<&str> = streams.iter().map(|s| s.name.as_str()).collect();
    pass(
        "manifest",
        format!("describe and streams(): {}", shown(&names.join(", "))),
    )
}

/// Lists `stream` from the start, [`LIMIT`] records a page, until the
/// listing ends, a cursor repeats, a call fails or `max_pages` pages.
async fn walk(session: &mut Session, stream: &str, max_pages: u32) -> Walk {
    let mut walk = Walk {
        pages: Vec::new(),
        complete: false,
        repeated: None,
        error: None,
    };
    let mut seen = HashSet::new();
    let mut cursor: Option<String> = None;
    for _ in 0..max_pages {
        let answer = session
            .instance
            .list(stream, cursor.as_deref(), None, LIMIT, Detail::Full)
            .await;
        let page = match answered(answer) {
            Ok(page) => page,
            Err(error) => {
                walk.error = Some(error);
                return walk;
            }
        };
        let next = page.next_cursor.clone();
        walk.pages.push(Seen {
            cursor: cursor.take(),
            records: page.records,
            watermark: page.watermark,
        });
        match next {
            None => {
                walk.complete = true;
                return walk;
            }
            Some(next) if !seen.insert(next.clone()) => {
                walk.repeated = Some((walk.pages.len(), next));
                return walk;
            }
            Some(next) => cursor = Some(next),
        }
    }
    walk
}

/// What a rule that needs the walk says when it failed before any page.
fn walk_failed(rule: &'static str, walk: &Walk) -> Option<Verdict> {
    match (&walk.error, walk.pages.is_empty()) {
        (Some(error), true) => Some(fail(
            rule,
            format!("list(limit {LIMIT}) of the first page failed: {error}"),
        )),
        _ => None,
    }
}

/// Rule 2: no page holds more records than the `limit` asked for.
fn page_limit_rule(walk: &Walk) -> Verdict {
    const RULE: &str = "page-limit";
    if let Some(verdict) = walk_failed(RULE, walk) {
        return verdict;
    }
    for (n, page) in walk.pages.iter().enumerate() {
        if page.records.len() > LIMIT as usize {
            return fail(
                RULE,
                format!(
                    "list(limit {LIMIT}) page {} returned {} records",
                    n + 1,
                    page.records.len()
                ),
            );
        }
    }
    pass(
        RULE,
        format!("{} page(s) of at most {LIMIT} records", walk.pages.len()),
    )
}

/// Rule 3: no id twice within the walked enumeration.
fn unique_ids_rule(walk: &Walk) -> Verdict {
    const RULE: &str = "unique-ids";
    if let Some(verdict) = walk_failed(RULE, walk) {
        return verdict;
    }
    let mut ids = HashSet::new();
    for (n, page) in walk.pages.iter().enumerate() {
        for record in &page.records {
            if !ids.insert(record.id.as_str()) {
                return fail(
                    RULE,
                    format!("list page {} repeats the id {}", n + 1, shown(&record.id)),
                );
            }
        }
    }
    pass(RULE, format!("{} distinct ids", ids.len()))
}

/// Rule 4: a cursor given once is never given again.
fn cursor_rule(walk: &Walk) -> Verdict {
    const RULE: &str = "cursors";
    if let Some(verdict) = walk_failed(RULE, walk) {
        return verdict;
    }
    match &walk.repeated {
        Some((page, cursor)) => fail(
            RULE,
            format!(
                "list page {page} returned the next cursor {} a second time",
                shown(cursor)
            ),
        ),
        None => pass(
            RULE,
            format!("{} distinct cursor(s)", walk.pages.len().saturating_sub(1)),
        ),
    }
}

/// Rule 5: the cursor of the second page, given to a fresh instance,
/// lists the same ids as the second page had.
async fn resume_rule(
    runtime: &Runtime,
    source: &SourceConfig,
    stream: &str,
    walk: &Walk,
) -> Verdict {
    const RULE: &str = "resume";
    let Some(second) = walk.pages.get(1) else {
        return skip(RULE, "the walk has fewer than two pages");
    };
    let Some(cursor) = second.cursor.as_deref() else {
        return skip(RULE, "the second page has no cursor");
    };
    let fresh = match runtime.load(&source.plugin, &source.limits) {
        Ok(plugin) => Session::configured(plugin, source).await,
        Err(err) => Err(err),
    };
    let mut fresh = match fresh {
        Ok(session) => session,
        Err(err) => return fail(RULE, format!("a fresh instance did not start: {err:#}")),
    };
    let call = format!(
        "list(cursor {}, limit {LIMIT}) in a fresh instance",
        shown(cursor)
    );
    let answer = fresh
        .instance
        .list(stream, Some(cursor), None, LIMIT, Detail::Full)
        .await;
    let page = match answered(answer) {
        Ok(page) => page,
        Err(error) => return fail(RULE, format!("{call} failed: {error}")),
    };
    let ids = |records: &[types::Record]| -> Vec<String> {
        records.iter().map(|r| r.id.clone()).collect()
    };
    let (expected, got) = (ids(&second.records), ids(&page.records));
    if expected == got {
        pass(
            RULE,
            format!("{call} gave the second page's {} ids", got.len()),
        )
    } else {
        fail(
            RULE,
            format!(
                "{call} gave ids {} instead of {}",
                shown(&got.join(",")),
                shown(&expected.join(","))
            ),
        )
    }
}

/// Rule 6: `fetch` of listed ids answers one result per id, in order, with
/// the listed id and version. Complete records may be unfetchable.
async fn fetch_rule(session: &mut Session, stream: &str, walk: &Walk) -> Verdict {
    const RULE: &str = "fetch";
    let listed: Vec<&types::Record> = walk.records().take(FETCH_IDS).collect();
    if listed.is_empty() {
        return skip(RULE, "the walk listed no records");
    }
    let complete = listed.iter().all(|r| r.content.is_some());
    let ids: Vec<String> = listed.iter().map(|r| r.id.clone()).collect();
    let call = format!("fetch of {} listed ids", ids.len());
    let results = match session.instance.fetch(stream, &ids).await {
        Ok(results) => results,
        Err(error) => return fail(RULE, format!("{call}: {}", error.0)),
    };
    for (record, result) in listed.iter().zip(&results) {
        match result {
            Ok(got) if got.id != record.id => {
                return fail(
                    RULE,
                    format!(
                        "{call}: asked {}, got {}",
                        shown(&record.id),
                        shown(&got.id)
                    ),
                )
            }
            Ok(got) if got.version != record.version => {
                return fail(
                    RULE,
                    format!(
                        "{call}: {} listed at version {}, fetched at {}",
                        shown(&record.id),
                        shown(&record.version),
                        shown(&got.version)
                    ),
                )
            }
            Ok(_) => {}
            Err(types::Error::Unsupported(_)) if complete => {
                return skip(RULE, "fetch is unsupported and the listing is complete")
            }
            Err(error) => {
                return fail(
                    RULE,
                    format!(
                        "{call}: {} failed: {}",
                        shown(&record.id),
                        error_text(error)
                    ),
                )
            }
        }
    }
    pass(RULE, format!("{call}: same ids and versions"))
}

/// Rule 7: `fetch` of an id nobody listed answers `not-found`.
async fn unknown_id_rule(session: &mut Session, stream: &str) -> Verdict {
    const RULE: &str = "unknown-id";
    let call = format!("fetch({UNKNOWN_ID})");
    match session
        .instance
        .fetch(stream, &[UNKNOWN_ID.to_string()])
        .await
    {
        Ok(results) => match results.first() {
            Some(Err(types::Error::NotFound(_))) => pass(RULE, format!("{call}: not-found")),
            Some(Err(types::Error::Unsupported(_))) => skip(RULE, "fetch is unsupported"),
            Some(Err(error)) => fail(RULE, format!("{call}: {}", error_text(error))),
            Some(Ok(record)) => fail(
                RULE,
                format!("{call} returned a record {}", shown(&record.id)),
            ),
            None => fail(RULE, format!("{call} returned nothing")),
        },
        Err(error) => fail(RULE, format!("{call}: {}", error.0)),
    }
}

/// Rule 8: `list` of a stream the plugin does not have answers `unsupported`.
async fn unknown_stream_rule(session: &mut Session) -> Verdict {
    const RULE: &str = "unknown-stream";
    let call = format!("list({UNKNOWN_STREAM})");
    match session
        .instance
        .list(UNKNOWN_STREAM, None, None, LIMIT, Detail::Full)
        .await
    {
        Ok(Err(types::Error::Unsupported(_))) => pass(RULE, format!("{call}: unsupported")),
        Ok(Err(error)) => fail(
            RULE,
            format!("{call}: {} instead of unsupported", error_text(&error)),
        ),
        Ok(Ok(page)) => fail(
            RULE,
            format!("{call} returned a page of {} records", page.records.len()),
        ),
        Err(error) => fail(RULE, format!("{call}: {}", error.0)),
    }
}

/// Rule 9 (streams with `supports-delta`): a delta listing from the walk's
/// watermark lists only ids the walk listed.
async fn delta_rule(session: &mut Session, stream: &str, walk: &Walk, max_pages: u32) -> Verdict {
    const RULE: &str = "delta-subset";
    if !walk.complete {
        return skip(RULE, "the walk did not complete within --max-pages");
    }
    let Some(since) = walk.watermark() else {
        return skip(RULE, "the enumeration gave no watermark");
    };
    let known: HashSet<&str> = walk.records().map(|r| r.id.as_str()).collect();
    let call = format!("list(since {})", shown(since));
    let mut seen = HashSet::new();
    let mut cursor: Option<String> = None;
    for _ in 0..max_pages {
        let answer = session
            .instance
            .list(stream, cursor.as_deref(), Some(since), LIMIT, Detail::Full)
            .await;
        let page = match answered(answer) {
            Ok(page) => page,
            Err(error) => return fail(RULE, format!("{call}: {error}")),
        };
        if let Some(extra) = page.records.iter().find(|r| !known.contains(r.id.as_str())) {
            return fail(
                RULE,
                format!(
                    "{call} listed {}, which the enumeration did not",
                    shown(&extra.id)
                ),
            );
        }
        match page.next_cursor {
            Some(next) if seen.insert(next.clone()) => cursor = Some(next),
            _ => return pass(RULE, format!("{call}: only listed ids")),
        }
    }
    pass(
        RULE,
        format!("{call}: only listed ids in {max_pages} pages"),
    )
}
