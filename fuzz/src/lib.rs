//! The properties synchost's fuzz targets check, one function per target.
//!
//! Each takes the fuzzer's raw bytes and panics when a property breaks. The
//! binaries in `fuzz_targets/` hand them to libFuzzer (`cargo xtask fuzz`);
//! `tests/regressions.rs` replays every saved input in `regressions/` on
//! stable, so a bug found once stays fixed.

use std::collections::HashSet;
use std::path::Component;
use std::time::{Duration, SystemTime};

use arbitrary::{Arbitrary, Unstructured};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::StatusCode;
use synchost_core::checks::{self, ListingGuard, MAX_CURSOR_BYTES, MAX_EMPTY_PAGES, MAX_ID_BYTES};
use synchost_core::config::{self, Config, Overrides, MAX_PAGE_SIZE};
use synchost_core::mirror::{self, MirrorFile};
use synchost_core::net::retry::{parse_reset, parse_retry_after, rate_limit};
use synchost_core::net::{HostPolicy, RetryPolicy};
use synchost_core::store::reports::{MirrorBlob, MirrorNode};

/// A property: panics when the input breaks it.
pub type Property = fn(&[u8]);

/// The targets by name, as in `fuzz_targets/`, for the regression tests.
pub const TARGETS: &[(&str, Property)] = &[
    ("rate_limit_headers", rate_limit_headers),
    ("config_file", config_file),
    ("plugin_values", plugin_values),
    ("mirror_paths", mirror_paths),
    ("store_migration", store_migration),
    ("markdown_round_trip", markdown_round_trip),
];

#[derive(Debug, Arbitrary)]
struct RateLimitResponse<'a> {
    status: u16,
    retry_after: Option<&'a [u8]>,
    remaining: Option<&'a [u8]>,
    reset: Option<&'a [u8]>,
    body: &'a [u8],
    now_secs: u32,
    max_wait_secs: u16,
}

/// `Retry-After`, `x-ratelimit-remaining` and `x-ratelimit-reset` as a remote
/// may send them: never a panic, a 429 is always a rate limit, and every
/// wait the host would honour is clamped to the policy's maximum.
pub fn rate_limit_headers(data: &[u8]) {
    let Ok(response) = RateLimitResponse::arbitrary(&mut Unstructured::new(data)) else {
        return;
    };
    let Ok(status) = StatusCode::from_u16(response.status) else {
        return;
    };
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(response.now_secs));
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("retry-after", response.retry_after),
        ("x-ratelimit-remaining", response.remaining),
        ("x-ratelimit-reset", response.reset),
    ] {
        if let Some(value) = value.and_then(|v| HeaderValue::from_bytes(v).ok()) {
            if let Ok(text) = value.to_str() {
                // The parsers alone must not panic either.
                let _ = parse_retry_after(text, now);
                let _ = parse_reset(text, now);
            }
            headers.insert(name, value);
        }
    }
    let wait = rate_limit(status, &headers, response.body, now).map(|limit| limit.wait);
    if status == StatusCode::TOO_MANY_REQUESTS {
        assert!(wait.is_some(), "a 429 is always a rate limit");
    }
    if let Some(wait) = wait {
        let policy = RetryPolicy {
            max_wait: Duration::from_secs(u64::from(response.max_wait_secs)),
            ..RetryPolicy::default()
        };
        let (clamped, was_clamped) = policy.clamp_wait(wait);
        assert!(clamped <= policy.max_wait);
        assert_eq!(was_clamped, wait > policy.max_wait);
    }
}

/// A `synchost.toml` of any content: parsing and resolving every source
/// never panics, and a source that resolves is runnable: its page size,
/// concurrency, rate and limits are in range and its allowlist parses.
pub fn config_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = match config::parse(text) {
        Ok(file) => file,
        Err(message) => {
            assert!(!message.is_empty(), "a parse error says what is wrong");
            return;
        }
    };
    let config = Config {
        file,
        base_dir: ".".into(),
        path: None,
        text: text.to_string(),
        policy: None,
    };
    for name in config.source_names() {
        let Ok(source) = config.source(&name, &Overrides::default()) else {
            continue;
        };
        assert!((1..=MAX_PAGE_SIZE).contains(&source.page_size));
        assert!(source.concurrency >= 1);
        if let Some(rps) = source.requests_per_second {
            assert!(rps.is_finite() && rps > 0.0, "requests_per_second {rps}");
        }
        let limits = &source.limits;
        assert!(limits.memory_bytes >= 1 << 20, "{limits:?}");
        assert!(limits.max_response_bytes >= 1 << 20, "{limits:?}");
        for limit in [
            limits.cpu_per_call,
            limits.call_timeout,
            limits.request_timeout,
            limits.run_timeout,
        ] {
            assert!(limit > Duration::ZERO, "{limits:?}");
            // A deadline this far away can still be computed.
            assert!(std::time::Instant::now().checked_add(limit).is_some());
        }
        assert!(limits.max_requests_per_run >= 1);
        assert!(source.retry.base_delay <= source.retry.max_delay);
        source.policy().unwrap_or_else(|err| {
            panic!(
                "{:?} resolved but its allowlist does not parse: {err}",
                source.allowed_hosts
            )
        });
    }
}

#[derive(Debug, Arbitrary)]
struct PluginOutput<'a> {
    manifest_name: &'a str,
    manifest_version: &'a str,
    max_page_size: u32,
    streams: Vec<&'a str>,
    limit: u8,
    resumed_from: Option<&'a str>,
    pages: Vec<Page<'a>>,
    allowed_hosts: Vec<&'a str>,
    urls: Vec<&'a str>,
}

#[derive(Debug, Arbitrary)]
struct Page<'a> {
    records: Vec<(&'a str, &'a str, &'a str)>,
    deleted: Vec<String>,
    next_cursor: Option<&'a str>,
    /// A cursor this long, to reach the cap without huge inputs.
    long_cursor: Option<u32>,
}

/// What a hostile plugin can return: a manifest, pages of records and
/// cursors, and URLs to request. The checks never panic; an accepted listing
/// never repeats a cursor, never exceeds the page limit, ids and cursors stay
/// bounded, stalls end after [`MAX_EMPTY_PAGES`]; an accepted record has JSON
/// metadata; an allowed URL is http(s) without user info, to an allowed host.
pub fn plugin_values(data: &[u8]) {
    let Ok(output) = PluginOutput::arbitrary(&mut Unstructured::new(data)) else {
        return;
    };
    if checks::manifest(
        output.manifest_name,
        output.manifest_version,
        output.max_page_size,
        output.max_page_size,
    )
    .is_ok()
    {
        assert!(!output.manifest_name.trim().is_empty() && output.max_page_size > 0);
    }
    if checks::streams(output.streams.iter().copied()).is_ok() {
        let distinct: HashSet<&str> = output.streams.iter().copied().collect();
        assert!(!distinct.is_empty() && distinct.len() == output.streams.len());
    }

    let limit = u32::from(output.limit);
    let mut guard = ListingGuard::new(limit, output.resumed_from);
    let mut accepted_cursors: HashSet<String> =
        output.resumed_from.map(String::from).into_iter().collect();
    let mut empty_run = 0;
    for page in &output.pages {
        let long;
        let next = match page.long_cursor {
            Some(len) => {
                long = "c".repeat(len as usize % (2 * MAX_CURSOR_BYTES));
                Some(long.as_str())
            }
            None => page.next_cursor,
        };
        if guard
            .check_page(page.records.len(), &page.deleted, next, None)
            .is_err()
        {
            break; // The listing ends here.
        }
        assert!(page.records.len() <= limit as usize);
        assert!(page
            .deleted
            .iter()
            .all(|id| (1..=MAX_ID_BYTES).contains(&id.len())));
        if let Some(next) = next {
            assert!(next.len() <= MAX_CURSOR_BYTES);
            assert!(accepted_cursors.insert(next.to_string()), "cursor repeated");
            empty_run = if page.records.is_empty() && page.deleted.is_empty() {
                empty_run + 1
            } else {
                0
            };
            assert!(empty_run <= MAX_EMPTY_PAGES);
        }
        for &(id, version, metadata) in &page.records {
            if checks::record(id, version, metadata).is_ok() {
                assert!((1..=MAX_ID_BYTES).contains(&id.len()) && !version.is_empty());
                assert!(
                    metadata.is_empty()
                        || serde_json::from_str::<serde_json::Value>(metadata).is_ok()
                );
            }
        }
    }

    let entries: Vec<String> = output.allowed_hosts.iter().map(|h| h.to_string()).collect();
    let Ok(policy) = HostPolicy::new(&entries) else {
        return;
    };
    for url in &output.urls {
        if let Ok((parsed, admission)) = policy.check(url) {
            assert!(matches!(parsed.scheme(), "http" | "https"), "{url}");
            // Without an http base_url, never a credential in cleartext.
            assert!(parsed.scheme() == "https" || !admission.credential, "{url}");
            assert!(parsed.username().is_empty() && parsed.password().is_none());
            assert!(parsed.host().is_some());
            assert!(!entries.is_empty(), "an empty allowlist allows nothing");
        }
    }
}

#[derive(Debug, Arbitrary)]
struct TreeNode<'a> {
    stream: u8,
    id: &'a str,
    parent: Option<u8>,
    title: Option<&'a str>,
    content_type: &'a str,
    has_content: bool,
    blobs: Vec<&'a str>,
    path: Option<&'a str>,
    /// Grows the tree into a chain this long below the node (deep trees
    /// from small inputs).
    chain: Option<u8>,
}

/// Most records one `mirror_paths` input makes (chains included).
const MAX_FUZZ_NODES: usize = 2000;

/// Names that tools execute or trust, and names of the mirror's own files:
/// no planned name may be one of these in any case.
const NEVER_PLANNED: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    ".envrc",
    ".vscode",
    ".github",
    ".gitmodules",
    ".gitattributes",
    ".synchost-mirror.json",
    ".synchost-mirror",
];

/// Record titles, ids, parents, path hints and blob names chosen by a plugin
/// become paths in the user's mirror directory. Every planned file stays
/// inside the mirror: only plain components, none empty, `.`, `..` or over
/// 255 bytes, none with a separator, reserved or invisible character, none
/// starting with a dot (so no `.git`, no manifest, no temporary file), none
/// a Windows device name or 8.3 short name; each path within the byte and
/// depth budget. No two files share a path, even on a case- and
/// normalization-insensitive file system, nor does a file take the path of
/// a directory the mirror needs, and every file has a key of its own.
pub fn mirror_paths(data: &[u8]) {
    let Ok(tree) = Vec::<TreeNode>::arbitrary(&mut Unstructured::new(data)) else {
        return;
    };
    // Ids are unique per stream in the store; the fuzzer may repeat them.
    let mut keys = HashSet::new();
    let ids: Vec<&str> = tree.iter().map(|n| n.id).collect();
    let mut nodes: Vec<MirrorNode> = Vec::new();
    for n in &tree {
        if n.id.is_empty() || !keys.insert((n.stream % 3, n.id.to_string())) {
            continue;
        }
        // Blob names are unique per record in the store.
        let mut names = HashSet::new();
        let node = MirrorNode {
            stream: format!("s{}", n.stream % 3),
            id: n.id.to_string(),
            parent_id: n
                .parent
                .and_then(|p| ids.get(p as usize % ids.len().max(1)))
                .map(|p| p.to_string()),
            title: n.title.map(String::from),
            path: n.path.map(String::from),
            content_type: n.content_type.to_string(),
            content_hash: n.has_content.then(|| "c".repeat(64)),
            content_size: u64::from(n.has_content),
            version: "1".into(),
            blobs: n
                .blobs
                .iter()
                .filter(|name| names.insert(**name))
                .enumerate()
                .map(|(i, name)| MirrorBlob {
                    name: name.to_string(),
                    hash: format!("{i:064x}"),
                    path: String::new(),
                })
                .collect(),
            metadata: "{}".into(),
        };
        // Deeper than the depth cap, longer than the path budget with long
        // titles, and bounded so that an input stays quick.
        let chain = n
            .chain
            .map_or(0, usize::from)
            .min(MAX_FUZZ_NODES.saturating_sub(nodes.len()));
        let stream = node.stream.clone();
        let (id, title) = (node.id.clone(), node.title.clone());
        nodes.push(node);
        for depth in 1..=chain {
            if !keys.insert((n.stream % 3, format!("{id}~{depth}"))) {
                break;
            }
            nodes.push(MirrorNode {
                stream: stream.clone(),
                id: format!("{id}~{depth}"),
                parent_id: Some(if depth == 1 {
                    id.clone()
                } else {
                    format!("{id}~{}", depth - 1)
                }),
                title: title.clone(),
                path: None,
                content_type: "text/html".into(),
                content_hash: Some("c".repeat(64)),
                content_size: 1,
                version: "1".into(),
                blobs: vec![],
                metadata: "{}".into(),
            });
        }
    }

    let plan = mirror::plan(&nodes, mirror::Format::Files);
    let files = plan.files;
    let mut file_paths = HashSet::new();
    let mut dirs = HashSet::new();
    let mut file_keys = HashSet::new();
    for MirrorFile { path, key, .. } in &files {
        assert!(file_keys.insert(key.as_str()), "{key}: two files");
        let text = path.to_str().expect("paths come from strings");
        assert!(
            text.len() <= mirror::MAX_PATH_BYTES,
            "{key}: {} bytes",
            text.len()
        );
        let mut prefix = String::new();
        let components: Vec<_> = path.components().collect();
        assert!(!components.is_empty(), "{key}: empty path");
        assert!(
            components.len() <= mirror::MAX_DEPTH + 1,
            "{key}: {} levels",
            components.len()
        );
        for (index, component) in components.iter().enumerate() {
            let Component::Normal(name) = component else {
                panic!("{key}: {path:?} leaves the mirror");
            };
            let name = name.to_str().expect("names come from strings");
            assert!(
                !name.is_empty() && name != "." && name != ".." && name.len() <= 255,
                "{key}: bad name {name:?}"
            );
            assert!(
                !name.contains(['/', '\\', ':', '*', '?', '"', '<', '>', '|', '\0'])
                    && !name.ends_with(['.', ' '])
                    && !name.starts_with('.'),
                "{key}: unsafe name {name:?}"
            );
            assert!(
                !name.chars().any(|c| c.is_control()
                    || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')),
                "{key}: invisible character in {name:?}"
            );
            // Temporary files are dot-names too (`.PID-N.synchost-tmp`, only
            // in the root), so `notes.synchost-tmp` is a fine name.
            let lower = name.to_lowercase();
            assert!(
                !NEVER_PLANNED.contains(&lower.as_str()),
                "{key}: reserved name {name:?}"
            );
            assert!(!windows_device(name), "{key}: Windows device {name:?}");
            assert_eq!(mirror::unsafe_name(name), None, "{key}: {name:?}");
            prefix.push('/');
            prefix.push_str(&fold(name));
            if index + 1 < components.len() {
                dirs.insert(prefix.clone());
            }
        }
        assert!(
            file_paths.insert(prefix.clone()),
            "{key}: {path:?} is taken twice"
        );
    }
    if let Some(clash) = file_paths.intersection(&dirs).next() {
        panic!("{clash} is both a file and a directory");
    }
    // Records' folders (where a push from the mirror puts new children):
    // safe paths, never a file's.
    for (folder, owner) in &plan.folders {
        let mut folded = String::new();
        for name in folder.split('/') {
            assert_eq!(mirror::unsafe_name(name), None, "folder {folder:?}");
            folded.push('/');
            folded.push_str(&fold(name));
        }
        assert!(
            !file_paths.contains(&folded),
            "folder {folder:?} of {} is a file",
            owner.id
        );
    }
}

/// How a case- and normalization-insensitive file system compares names.
fn fold(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    if name.is_ascii() {
        return name.to_ascii_lowercase();
    }
    name.nfd()
        .collect::<String>()
        .to_uppercase()
        .to_lowercase()
        .nfd()
        .collect()
}

/// `CON`, `com1.txt`, `LPT¹`, `CONIN$`...: names Windows opens as devices.
fn windows_device(name: &str) -> bool {
    let stem = name
        .split('.')
        .next()
        .unwrap_or_default()
        .trim_end()
        .to_uppercase();
    let numbered = ["COM", "LPT"].iter().any(|prefix| {
        stem.strip_prefix(prefix).is_some_and(|rest| {
            let mut chars = rest.chars();
            matches!(
                (chars.next(), chars.next()),
                (Some('0'..='9' | '¹' | '²' | '³'), None)
            )
        })
    });
    numbered || ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$"].contains(&stem.as_str())
}

#[derive(Debug, Arbitrary)]
enum StoreChange {
    UserVersion(i32),
    Sql(u8),
    Byte { offset: u16, value: u8 },
}

/// Statements that leave a store in states a crash, an old or foreign tool,
/// or a hand edit could.
const DAMAGE: &[&str] = &[
    "DROP TABLE records",
    "DROP TABLE streams",
    "CREATE TABLE IF NOT EXISTS records (x)",
    "CREATE TABLE IF NOT EXISTS unrelated (a, b)",
    "ALTER TABLE sources ADD COLUMN extra TEXT",
    "DELETE FROM sqlite_sequence",
    "PRAGMA journal_mode = DELETE",
    "CREATE VIEW IF NOT EXISTS streams AS SELECT 1",
    "CREATE INDEX IF NOT EXISTS odd ON sources(name)",
];

/// A store file in any state (a migrated or empty database, changed by
/// statements, odd `user_version`s and raw byte damage): opening it never
/// panics; it either opens at the current schema version, or fails with a
/// message, leaving the file exactly as it was.
pub fn store_migration(data: &[u8]) {
    let mut input = Unstructured::new(data);
    let (Ok(start_migrated), Ok(changes)) = (
        bool::arbitrary(&mut input),
        Vec::<StoreChange>::arbitrary(&mut input),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    if start_migrated {
        drop(synchost_core::store::Store::open(&path).expect("a new store opens"));
    }
    {
        let conn = rusqlite::Connection::open(&path).expect("sqlite opens");
        for change in &changes {
            let _ = match change {
                StoreChange::UserVersion(version) => {
                    conn.pragma_update(None, "user_version", version)
                }
                StoreChange::Sql(index) => conn
                    .execute_batch(DAMAGE[*index as usize % DAMAGE.len()])
                    .map(drop),
                StoreChange::Byte { .. } => Ok(()),
            };
        }
        let _ = conn.pragma_update(None, "journal_mode", "DELETE");
    }
    let mut bytes = std::fs::read(&path).expect("store file");
    for change in &changes {
        if let StoreChange::Byte { offset, value } = *change {
            if let Some(byte) = bytes.get_mut(offset as usize) {
                *byte = value;
            }
        }
    }
    std::fs::write(&path, &bytes).expect("write store");

    match synchost_core::store::Store::open(&path) {
        Ok(store) => {
            let version = store.schema_version().expect("an opened store can be read");
            assert_eq!(version, synchost_core::store::schema::current_version());
            // Raw byte damage may surface only when a damaged page is read;
            // a store damaged by statements alone must be usable or refused.
            if !changes
                .iter()
                .any(|c| matches!(c, StoreChange::Byte { .. }))
            {
                store
                    .checkpoint("fuzz", "items")
                    .expect("checkpoints can be read");
                store
                    .mirror_nodes("fuzz", false)
                    .expect("records can be read");
                store
                    .failed_items("fuzz", "items")
                    .expect("work items can be read");
            }
        }
        Err(err) => {
            assert!(!format!("{err:#}").is_empty());
            let after = std::fs::read(&path).expect("store file");
            assert!(
                after == bytes,
                "a store that failed to open was changed: {err:#}"
            );
        }
    }
}

/// Storage format to Markdown and back, on any body: never a panic, and
/// always the same bytes. The input's first byte chooses whether it is
/// taken as storage XML or as Markdown a user wrote (which must convert
/// to storage, or be refused, without a panic; the storage it gives must
/// round-trip too).
pub fn markdown_round_trip(data: &[u8]) {
    use synchost_core::markdown::{to_markdown, to_storage, to_text, Links};
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let links = Links::new([("a.png".to_string(), "Page/a.png".to_string())]);
    let storage = if mode % 2 == 0 {
        text.into_owned()
    } else {
        match to_storage(&text, &links) {
            Ok(storage) => storage,
            Err(_) => return,
        }
    };
    let markdown = to_markdown(&storage, &links);
    assert_eq!(
        to_storage(&markdown, &links).as_deref(),
        Ok(storage.as_str()),
        "the round trip changed the body; Markdown:\n{markdown}"
    );
    let _ = to_text(&storage);
}
