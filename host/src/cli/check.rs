//! `synchost plugin check FILE --set k=v`: a conformance suite run against
//! the API the settings name, through the host's own runtime. It writes no
//! store. One verdict per rule; exit 1 when a rule fails.
//!
//! `--record DIR` writes every exchange as a cassette (as `pull --record`
//! does) plus [`MARKER`], the check's own parameters; `--fixtures DIR`
//! answers the plugin from such a cassette, or from a `pull --record` one,
//! with no network (see [`Fixtures`]).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use super::{Global, JsonFlag};
use crate::config::{ad_hoc_source, AuthSection, Overrides, SourceConfig};
use crate::error::{failed, usage};
use crate::runtime::bindings::types::{self, Detail};
use crate::runtime::record::{folder_name, Recorder};
use crate::runtime::replay::{Probe, Replay};
use crate::runtime::{CallError, PluginInstance, Runtime};
use crate::sync::session::{ad_hoc_named, describe_error, unreachable_client, Session};
use crate::untrusted::Untrusted;

/// The page size asked for by default: small, so a walk sees several pages.
const LIMIT: u32 = 3;
/// Pages walked at most, by default.
const MAX_PAGES: u32 = 20;
/// Changes the push-outcomes rule sends (updates of the first listed records).
const PUSHED: usize = 2;
/// The base version the push-outcomes rule's updates claim: never a version
/// the remote has, so each must be a conflict that changes nothing.
const STALE_BASE: &str = "synchost-check-stale-base";
/// What `--record` writes beside the cassette: the check's parameters.
const MARKER: &str = "synchost-check.json";
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
    /// Pages walked at most [default: 20].
    #[arg(long, value_name = "N")]
    max_pages: Option<u32>,
    /// The `limit` of every listing [default: 3]. To check against a
    /// `pull --record` cassette, give the page size it was pulled with.
    #[arg(long, value_name = "N")]
    page_size: Option<u32>,
    /// Answer the plugin from the cassette in DIR (`plugin check --record`
    /// or `pull --record`) instead of the API: nothing reaches the network.
    #[arg(long, value_name = "DIR", conflicts_with = "record")]
    fixtures: Option<PathBuf>,
    /// Write every request and response to DIR (new or empty): the
    /// cassette `--fixtures DIR` replays.
    #[arg(long, value_name = "DIR")]
    record: Option<PathBuf>,
    /// Let the push-outcomes rule push to the API: updates with a stale
    /// base version, which must be conflicts that change nothing.
    #[arg(long)]
    allow_writes: bool,
    #[command(flatten)]
    output: JsonFlag,
}

/// The parameters of a check, as `--record` writes them in [`MARKER`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Params {
    stream: Option<String>,
    page_size: u32,
    max_pages: u32,
    allow_writes: bool,
}

/// Where the plugin's answers come from under `--fixtures`, and what a
/// request the cassette does not hold means for a rule's verdict.
struct Fixtures {
    replay: Arc<Replay>,
    /// The cassette was recorded by `plugin check --record` with these
    /// parameters: every request of the check is in it, so one that is not
    /// is a FAIL (the plugin changed). Else (a `pull --record` cassette, or
    /// other parameters) it is a SKIP: the recording did not make that call.
    strict: bool,
}

/// The run's view of `--fixtures`: what each rule's verdict becomes when
/// its calls missed the cassette.
struct Judge<'a> {
    fixtures: Option<&'a Fixtures>,
}

impl Judge<'_> {
    /// A point to count misses from.
    fn mark(&self) -> usize {
        self.fixtures.map_or(0, |f| f.replay.misses())
    }

    /// `verdict`, unless requests made since `mark` were not in the cassette.
    fn judge(&self, mark: usize, verdict: Verdict) -> Verdict {
        let Some(fixtures) = self.fixtures else {
            return verdict;
        };
        let misses = fixtures.replay.misses_since(mark);
        let Some(first) = misses.first() else {
            return verdict;
        };
        let more = match misses.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        if fixtures.strict {
            fail(
                verdict.rule,
                format!(
                    "the plugin sent `{first}`{more}, which the check's recording does not hold \
                     (did the plugin change? record again with --record)"
                ),
            )
        } else {
            skip(
                verdict.rule,
                format!(
                    "the cassette holds no answer to `{first}`{more} \
                     (`plugin check --record DIR` records every call of the check)"
                ),
            )
        }
    }
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

/// An enumeration walked from the start (see [`walk`]).
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

    /// Each listed id and its version.
    fn versions(&self) -> HashMap<&str, &str> {
        self.records()
            .map(|r| (r.id.as_str(), r.version.as_str()))
            .collect()
    }

    fn watermark(&self) -> Option<&str> {
        self.pages.iter().rev().find_map(|p| p.watermark.as_deref())
    }
}

pub async fn run(global: &Global, args: CheckArgs) -> Result<()> {
    let recorded = match &args.fixtures {
        Some(dir) => recorded_params(dir)?,
        None => None,
    };
    // Under --fixtures, what the recording was made with, unless overridden.
    let defaults = recorded.clone().unwrap_or(Params {
        stream: None,
        page_size: LIMIT,
        max_pages: MAX_PAGES,
        allow_writes: false,
    });
    let params = Params {
        stream: args.stream.clone().or(defaults.stream),
        page_size: args.page_size.unwrap_or(defaults.page_size),
        max_pages: args.max_pages.unwrap_or(defaults.max_pages),
        allow_writes: args.allow_writes || defaults.allow_writes,
    };
    if params.max_pages < 2 {
        return Err(usage(
            "--max-pages must be at least 2 (the resume rule needs two pages)",
        ));
    }
    if !(1..=1000).contains(&params.page_size) {
        return Err(usage("--page-size must be from 1 to 1000"));
    }
    let auth = args.auth_bearer_env.clone().map(AuthSection::bearer);
    let hosts = (!args.allow_hosts.is_empty()).then(|| args.allow_hosts.clone());
    // Under an administrator's policy, the plugin, its hosts and limits are
    // checked as a pull's would be (the config's [trust] rules too); the
    // check writes no store, so `allow_ad_hoc` does not apply.
    let policy = crate::trust::Policy::load()?.map(Arc::new);
    let mut source = ad_hoc_source(
        &args.file,
        &args.sets,
        auth,
        hosts,
        &Overrides::default(),
        policy.as_ref(),
    )?;
    if policy.is_some() {
        source.trust = global.config()?.ad_hoc_trust()?;
    }
    let runtime = Runtime::new(Runtime::default_cache_dir())?;
    if let Some(dir) = &args.record {
        runtime.record(Recorder::create(dir)?);
        let text = serde_json::to_string_pretty(&params)? + "\n";
        std::fs::write(dir.join(MARKER), text)
            .map_err(|e| usage(format!("--record {}: {e}", dir.display())))?;
    }
    let fixtures = match &args.fixtures {
        Some(dir) => {
            let replay = Arc::new(open_cassette(dir, &runtime, &source).await?);
            runtime.stand_in(replay.clone());
            let strict = recorded.as_ref() == Some(&params);
            Some(Fixtures { replay, strict })
        }
        None => None,
    };
    let judge = Judge {
        fixtures: fixtures.as_ref(),
    };
    let verdicts = check(&runtime, &source, &params, &judge).await?;
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

/// The parameters a `plugin check --record` cassette was made with; `None`
/// for another cassette (`pull --record`, hand-written).
fn recorded_params(dir: &Path) -> Result<Option<Params>> {
    let marker = dir.join(MARKER);
    let text = match std::fs::read_to_string(&marker) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(usage(format!("--fixtures {}: {e}", marker.display()))),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| usage(format!("--fixtures {}: {e}", marker.display())))
}

/// The cassette of `source` in `dir`: `dir` itself when it holds exchange
/// files, else its only folder (`--record` writes `dir/<source>/`), else
/// the folder of the source (named after the plugin's manifest).
async fn open_cassette(dir: &Path, runtime: &Runtime, source: &SourceConfig) -> Result<Replay> {
    let shown = dir.display();
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| usage(format!("--fixtures {shown}: {e}")))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    let exchanges = entries
        .iter()
        .any(|path| path.extension().is_some_and(|x| x == "json") && !path.ends_with(MARKER));
    let folders: Vec<&PathBuf> = entries.iter().filter(|path| path.is_dir()).collect();
    let cassette = match folders.as_slice() {
        _ if exchanges => dir.to_owned(),
        [only] => (*only).clone(),
        _ => {
            // Several sources: the plugin's manifest names its folder (its
            // `describe` runs here under a client that denies every request).
            let plugin = runtime.load_source(source)?;
            let name = folder_name(&ad_hoc_named(&plugin, source).await?.name);
            let named = dir.join(&name);
            if !named.is_dir() {
                let mut names: Vec<String> = folders
                    .iter()
                    .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .collect();
                names.sort();
                return Err(usage(format!(
                    "--fixtures {shown}: no exchange files, and no folder `{name}` among \
                     [{}]: give the folder of the source to replay",
                    Untrusted::new(&names.join(", "))
                )));
            }
            named
        }
    };
    let replay = Replay::load(&cassette)
        .map_err(|why| usage(format!("--fixtures {}: {why}", cassette.display())))?;
    tracing::info!("replaying the cassette {}", cassette.display());
    Ok(replay)
}

/// The rules in order.
const RULES: [&str; 12] = [
    "manifest",
    "describe-io",
    "page-limit",
    "unique-ids",
    "cursors",
    "resume",
    "fetch",
    "ids-only",
    "unknown-id",
    "unknown-stream",
    "delta-subset",
    "push-outcomes",
];

/// Every rule in order. Settings the plugin refuses are a usage error.
async fn check(
    runtime: &Runtime,
    source: &SourceConfig,
    params: &Params,
    judge: &Judge<'_>,
) -> Result<Vec<Verdict>> {
    let plugin = runtime.load_source(source)?;
    let describe_io = describe_io_rule(&plugin, source).await;
    let source = match ad_hoc_named(&plugin, source).await {
        Ok(named) => named,
        Err(err) => {
            let mut verdicts = vec![fail("manifest", format!("describe: {err:#}")), describe_io];
            for rule in &RULES[2..] {
                verdicts.push(skip(rule, "the manifest was refused"));
            }
            return Ok(verdicts);
        }
    };
    let mut session = Session::configured(plugin, &source).await?;
    let streams = &session.manifest.streams;
    let stream = match &params.stream {
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
    let mut verdicts = vec![manifest_rule(streams), describe_io];
    let name = stream.name.as_str();
    let listing = Listing {
        limit: params.page_size,
        max_pages: params.max_pages,
        since: None,
        detail: Detail::Full,
    };
    let mark = judge.mark();
    let walk = walk(&mut session, name, &listing).await;
    for verdict in [
        page_limit_rule(&walk, &listing),
        unique_ids_rule(&walk),
        cursor_rule(&walk),
    ] {
        verdicts.push(judge.judge(mark, verdict));
    }
    let mark = judge.mark();
    let verdict = resume_rule(runtime, &source, name, &walk, &listing).await;
    verdicts.push(judge.judge(mark, verdict));
    let mark = judge.mark();
    let verdict = fetch_rule(&mut session, name, &walk).await;
    verdicts.push(judge.judge(mark, verdict));
    let mark = judge.mark();
    let verdict = ids_only_rule(&mut session, name, &walk, &listing).await;
    verdicts.push(judge.judge(mark, verdict));
    let mark = judge.mark();
    let verdict = unknown_id_rule(&mut session, name).await;
    verdicts.push(judge.judge(mark, verdict));
    let mark = judge.mark();
    let verdict = unknown_stream_rule(&mut session, &listing).await;
    verdicts.push(judge.judge(mark, verdict));
    let mark = judge.mark();
    let verdict = if stream.supports_delta {
        delta_rule(&mut session, name, &walk, &listing).await
    } else {
        skip("delta-subset", "the stream does not declare supports-delta")
    };
    verdicts.push(judge.judge(mark, verdict));
    let mark = judge.mark();
    // Under --fixtures nothing reaches the remote: pushing is harmless.
    let writes = params.allow_writes || judge.fixtures.is_some();
    let verdict = push_rule(&mut session, &stream, &walk, writes).await;
    verdicts.push(judge.judge(mark, verdict));
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

/// How the check lists: the `limit` of every page, the pages walked at
/// most, and the `since` and `detail` of this listing.
struct Listing {
    limit: u32,
    max_pages: u32,
    since: Option<String>,
    detail: Detail,
}

impl Listing {
    /// The call, as a verdict names it: `list(limit 3, ids-only)`.
    fn call(&self) -> String {
        let mut call = format!("list(limit {}", self.limit);
        if let Some(since) = &self.since {
            call.push_str(&format!(", since {}", shown(since)));
        }
        if self.detail == Detail::IdsOnly {
            call.push_str(", ids-only");
        }
        call + ")"
    }
}

/// Lists `stream` from the start as `listing` says, until the listing ends,
/// a cursor repeats, a call fails or `max_pages` pages.
async fn walk(session: &mut Session, stream: &str, listing: &Listing) -> Walk {
    let mut walk = Walk {
        pages: Vec::new(),
        complete: false,
        repeated: None,
        error: None,
    };
    let mut seen = HashSet::new();
    let mut cursor: Option<String> = None;
    for _ in 0..listing.max_pages {
        let answer = session
            .instance
            .list(
                stream,
                cursor.as_deref(),
                listing.since.as_deref(),
                listing.limit,
                listing.detail,
            )
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

/// Rule 2: `describe`, in a fresh instance whose requests are kept and
/// denied ([`Probe`]), sends none, through the `http` import or `wasi:http`
/// (denied always): it runs on every start and in `plugin inspect`, before
/// settings, so it must answer from constants.
async fn describe_io_rule(plugin: &crate::runtime::LoadedPlugin, source: &SourceConfig) -> Verdict {
    const RULE: &str = "describe-io";
    let probe = Arc::new(Probe::default());
    let started = match unreachable_client(source) {
        Ok(http) => PluginInstance::new(plugin, &source.name, http, &source.limits)
            .await
            .map_err(|e| e.0),
        Err(err) => Err(format!("{err:#}")),
    };
    let mut instance = match started {
        Ok(instance) => instance,
        Err(why) => return fail(RULE, format!("the plugin did not start: {why}")),
    };
    instance.stand_in(probe.clone());
    if let Err(error) = instance.describe().await {
        return fail(RULE, format!("describe: {}", error.0));
    }
    let mut sent = probe.sent();
    sent.extend(
        instance
            .wasi_http_denied()
            .into_iter()
            .map(|request| format!("wasi:http {request}")),
    );
    if sent.is_empty() {
        return pass(RULE, "describe sent no request");
    }
    let shown: Vec<String> = sent.iter().take(3).map(|r| format!("`{r}`")).collect();
    let more = if sent.len() > 3 { ", …" } else { "" };
    fail(
        RULE,
        format!(
            "describe sent {} request(s), all denied: {}{more}",
            sent.len(),
            shown.join(", ")
        ),
    )
}

/// What a rule that needs the walk says when it failed before any page.
fn walk_failed(rule: &'static str, walk: &Walk) -> Option<Verdict> {
    match (&walk.error, walk.pages.is_empty()) {
        (Some(error), true) => Some(fail(
            rule,
            format!("list of the first page failed: {error}"),
        )),
        _ => None,
    }
}

/// Rule 3: no page holds more records than the `limit` asked for.
fn page_limit_rule(walk: &Walk, listing: &Listing) -> Verdict {
    const RULE: &str = "page-limit";
    if let Some(verdict) = walk_failed(RULE, walk) {
        return verdict;
    }
    let limit = listing.limit;
    for (n, page) in walk.pages.iter().enumerate() {
        if page.records.len() > limit as usize {
            return fail(
                RULE,
                format!(
                    "{} page {} returned {} records",
                    listing.call(),
                    n + 1,
                    page.records.len()
                ),
            );
        }
    }
    pass(
        RULE,
        format!("{} page(s) of at most {limit} records", walk.pages.len()),
    )
}

/// Rule 4: no id twice within the walked enumeration.
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

/// Rule 5: a cursor given once is never given again.
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

/// Rule 6: the cursor of the second page, given to a fresh instance,
/// lists the same ids as the second page had.
async fn resume_rule(
    runtime: &Runtime,
    source: &SourceConfig,
    stream: &str,
    walk: &Walk,
    listing: &Listing,
) -> Verdict {
    const RULE: &str = "resume";
    let Some(second) = walk.pages.get(1) else {
        return skip(RULE, "the walk has fewer than two pages");
    };
    let Some(cursor) = second.cursor.as_deref() else {
        return skip(RULE, "the second page has no cursor");
    };
    let fresh = match runtime.load_source(source) {
        Ok(plugin) => Session::configured(plugin, source).await,
        Err(err) => Err(err),
    };
    let mut fresh = match fresh {
        Ok(session) => session,
        Err(err) => return fail(RULE, format!("a fresh instance did not start: {err:#}")),
    };
    let limit = listing.limit;
    let call = format!(
        "list(cursor {}, limit {limit}) in a fresh instance",
        shown(cursor)
    );
    let answer = fresh
        .instance
        .list(stream, Some(cursor), None, limit, Detail::Full)
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

/// Rule 7: `fetch` of listed ids answers one result per id, in order, with
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

/// Rule 9: `fetch` of an id nobody listed answers `not-found`.
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

/// Rule 10: `list` of a stream the plugin does not have answers `unsupported`.
async fn unknown_stream_rule(session: &mut Session, listing: &Listing) -> Verdict {
    const RULE: &str = "unknown-stream";
    let call = format!("list({UNKNOWN_STREAM})");
    match session
        .instance
        .list(UNKNOWN_STREAM, None, None, listing.limit, Detail::Full)
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

/// Rule 11 (streams with `supports-delta`): a delta listing from the walk's
/// watermark lists only ids the walk listed.
async fn delta_rule(session: &mut Session, stream: &str, walk: &Walk, full: &Listing) -> Verdict {
    const RULE: &str = "delta-subset";
    if !walk.complete {
        return skip(RULE, "the walk did not complete within --max-pages");
    }
    let Some(since) = walk.watermark() else {
        return skip(RULE, "the enumeration gave no watermark");
    };
    let known: HashSet<&str> = walk.records().map(|r| r.id.as_str()).collect();
    let listing = Listing {
        since: Some(since.to_owned()),
        ..*full
    };
    let call = listing.call();
    let delta = self::walk(session, stream, &listing).await;
    if let Some(extra) = delta.records().find(|r| !known.contains(r.id.as_str())) {
        return fail(
            RULE,
            format!(
                "{call} listed {}, which the enumeration did not",
                shown(&extra.id)
            ),
        );
    }
    match delta.error {
        Some(error) => fail(RULE, format!("{call}: {error}")),
        None => pass(
            RULE,
            format!("{call}: only listed ids in {} page(s)", delta.pages.len()),
        ),
    }
}

/// Rule 8: a listing with `detail` ids-only lists the ids of the full
/// listing at the same versions (partial records or complete ones: the
/// contract lets the plugin choose; the host fetches what changed).
async fn ids_only_rule(
    session: &mut Session,
    stream: &str,
    walk: &Walk,
    full: &Listing,
) -> Verdict {
    const RULE: &str = "ids-only";
    if walk.pages.is_empty() {
        return skip(RULE, "the full walk listed no page");
    }
    let listing = Listing {
        detail: Detail::IdsOnly,
        since: None,
        ..*full
    };
    let call = listing.call();
    let ids_only = self::walk(session, stream, &listing).await;
    if let Some(error) = &ids_only.error {
        return fail(RULE, format!("{call}: {error}"));
    }
    let versions = walk.versions();
    let both_complete = walk.complete && ids_only.complete;
    for record in ids_only.records() {
        match versions.get(record.id.as_str()) {
            Some(&version) if version != record.version => {
                return fail(
                    RULE,
                    format!(
                        "{call} gave {} at version {}, the full listing at {}",
                        shown(&record.id),
                        shown(&record.version),
                        shown(version)
                    ),
                )
            }
            None if both_complete => {
                return fail(
                    RULE,
                    format!(
                        "{call} listed {}, which the full listing did not",
                        shown(&record.id)
                    ),
                )
            }
            _ => {}
        }
    }
    let listed: HashSet<&str> = ids_only.records().map(|r| r.id.as_str()).collect();
    if both_complete {
        if let Some(missing) = versions.keys().find(|id| !listed.contains(*id)) {
            return fail(
                RULE,
                format!(
                    "{call} did not list {}, which the full listing did",
                    shown(missing)
                ),
            );
        }
    }
    pass(
        RULE,
        format!(
            "{call}: {} ids at the full listing's versions",
            listed.len()
        ),
    )
}

/// Rule 12 (streams with `supports-push`, with `--allow-writes` or
/// `--fixtures`): a push of updates of the first [`PUSHED`] listed records
/// with a base version the remote does not have ([`STALE_BASE`]) answers
/// one outcome per change, each a `conflict`, and changes nothing (a fetch
/// after it gives the same versions). Each update carries the record's own
/// title, content and metadata, so even a plugin that wrongly applies it
/// writes back what was there.
async fn push_rule(
    session: &mut Session,
    stream: &types::StreamInfo,
    walk: &Walk,
    writes: bool,
) -> Verdict {
    const RULE: &str = "push-outcomes";
    if !stream.supports_push {
        return skip(RULE, "the stream does not declare supports-push");
    }
    if let Err(why) = session.instance.push_support() {
        return skip(RULE, Untrusted::clipped(&why, 400).to_string());
    }
    if !writes {
        return skip(
            RULE,
            "it pushes to the remote: give --allow-writes to send updates with a stale base \
             version, which must be conflicts that change nothing",
        );
    }
    let listed: Vec<&types::Record> = walk.records().take(PUSHED).collect();
    if listed.is_empty() {
        return skip(RULE, "the walk listed no records");
    }
    let ids: Vec<String> = listed.iter().map(|r| r.id.clone()).collect();
    // The records as they are, complete: what each update sends back.
    let current: Vec<types::Record> = if listed.iter().all(|r| r.content.is_some()) {
        listed.iter().map(|r| (*r).clone()).collect()
    } else {
        match fetched(session, &stream.name, &ids).await {
            Ok(records) => records,
            Err(why) => {
                return skip(
                    RULE,
                    format!("the records to push could not be read: {why}"),
                )
            }
        }
    };
    let changes: Vec<types::Change> = current
        .iter()
        .enumerate()
        .map(|(n, record)| types::Change {
            key: format!("synchost-check-stale-{}", n + 1),
            op: types::ChangeOp::Update,
            id: Some(record.id.clone()),
            base_version: Some(STALE_BASE.to_owned()),
            parent_id: None,
            title: record.title.clone(),
            content: record.content.clone(),
            metadata: record.metadata.clone(),
        })
        .collect();
    let call = format!(
        "push of {} update(s) based on version {}",
        changes.len(),
        shown(STALE_BASE)
    );
    let outcomes = match session.instance.push(&stream.name, changes).await {
        Ok(outcomes) => outcomes,
        Err(error) => return fail(RULE, format!("{call}: {}", error.0)),
    };
    for (record, outcome) in current.iter().zip(&outcomes) {
        let id = shown(&record.id);
        match outcome {
            types::PushOutcome::Conflict(_) => {}
            types::PushOutcome::Applied(_) => {
                return fail(RULE, format!("{call}: {id} applied instead of a conflict"))
            }
            types::PushOutcome::Failed(error) => {
                return fail(
                    RULE,
                    format!(
                        "{call}: {id} failed ({}) instead of a conflict",
                        error_text(error)
                    ),
                )
            }
        }
    }
    if let Ok(after) = fetched(session, &stream.name, &ids).await {
        for (before, now) in current.iter().zip(&after) {
            if now.version != before.version {
                return fail(
                    RULE,
                    format!(
                        "{call}: {} changed from version {} to {}",
                        shown(&before.id),
                        shown(&before.version),
                        shown(&now.version)
                    ),
                );
            }
        }
    }
    pass(
        RULE,
        format!("{call}: {} conflict(s), nothing changed", outcomes.len()),
    )
}

/// The records `ids` as `fetch` gives them, or why not.
async fn fetched(
    session: &mut Session,
    stream: &str,
    ids: &[String],
) -> Result<Vec<types::Record>, String> {
    let results = session
        .instance
        .fetch(stream, ids)
        .await
        .map_err(|error| error.0)?;
    results
        .into_iter()
        .map(|result| result.map_err(|error| error_text(&error)))
        .collect()
}
