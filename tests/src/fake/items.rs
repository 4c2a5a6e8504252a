//! The items fake: the dataset and routes of `docs/fake-items-api.md`.
//!
//! State: live items in a `BTreeMap` keyed by the numeric id (ids are
//! zero padded, so numeric and string order agree), tombstones in another,
//! and a change index `seq -> id` holding every entry's last change. Only
//! `version`, `seq` and `updated_at` are stored per item; title, content and
//! tags are derived on demand from (seed, id, version), unless an API write
//! (`POST`/`PUT /items`, see docs/fake-items-api.md "Writes") stored them for
//! the current version. Writes are guarded by `If-Match` and made
//! idempotent by `Idempotency-Key` (a replay answers again, applies nothing).
//!
//! Per request work is O(log n + page): a full listing walks the live map
//! from the cursor; a `since` listing works on the sorted ids changed in
//! `(since, watermark]`, computed once per listing and cached.

// Errors are finished HTTP answers handed straight back to axum.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::words::{mix64, WORDS};
use std::ops::Bound;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{any, get, post};
use axum::Router;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine as _};
use chrono::{DateTime, SecondsFormat};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde::Serialize;

use super::common::{self, bad_request, CommonArgs, IfMatch};

/// Ids are `item-NNNNNN`: six digits, so at most this many.
pub const MAX_ID: u32 = 999_999;
/// `limit` bounds.
pub const MAX_LIMIT: usize = 1000;
pub const DEFAULT_LIMIT: usize = 100;
/// 2025-01-01T00:00:00Z: the initial dataset's clock starts here.
const BASE_TIME: i64 = 1_735_689_600;
/// Cached `since` listings kept at most.
const SINCE_CACHE: usize = 64;

/// `synchost-fake items`.
#[derive(clap::Args, Debug, Clone)]
pub struct ItemsArgs {
    /// Number of items in the initial dataset (ids item-000001 ...).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_ID)))]
    pub count: u32,
    /// Seed of the dataset and of the changes `/_control/mutate` makes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Runs the items fake until killed.
pub async fn run(args: ItemsArgs) -> std::io::Result<()> {
    let common = common::Common::new(args.common.faults(), COUNTERS, classify);
    let store = Arc::new(Store::new(args.count, args.seed));
    common::serve(common::router(common, api(store)), &args.common).await
}

/// The stats counters, in order.
pub const COUNTERS: &[&str] = &[
    "list_requests",
    "item_requests",
    "create_requests",
    "update_requests",
    "delete_requests",
];

fn classify(method: &Method, path: &str) -> Option<&'static str> {
    match (method, path) {
        (&Method::POST, "/items") => Some("create_requests"),
        (_, "/items") => Some("list_requests"),
        (&Method::PUT, p) if p.starts_with("/items/") => Some("update_requests"),
        (&Method::DELETE, p) if p.starts_with("/items/") => Some("delete_requests"),
        (_, p) if p.starts_with("/items/") => Some("item_requests"),
        _ => None,
    }
}

fn api(store: Arc<Store>) -> Router {
    Router::new()
        .route("/items", get(list_items).post(create_item))
        .route(
            "/items/{id}",
            get(get_item).put(update_item).delete(delete_item),
        )
        .route("/echo", any(echo))
        .route("/redirect", any(redirect))
        .route("/_control/mutate", post(mutate))
        .route("/_control/items", get(ground_truth))
        // Bodies up to the limit reach the handlers, which answer 413 above it.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_WRITE_BODY + 1024))
        .with_state(store)
}

// ---------------------------------------------------------------------------
// Ids, timestamps, cursors

pub fn item_id(n: u32) -> String {
    format!("item-{n:06}")
}

/// `item-000042` -> 42 (exactly six digits, not 0).
pub fn parse_item_id(id: &str) -> Option<u32> {
    let digits = id.strip_prefix("item-")?;
    if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|n| *n > 0)
}

fn rfc3339(secs: i64) -> String {
    DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// URL-safe, unpadded on output, padding tolerated on input.
const CURSOR_B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Where a listing stands: after which id, its watermark (the `seq` when
/// its first page was served) and its `since`, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub after: u32,
    pub watermark: u64,
    pub since: Option<u64>,
}

impl Cursor {
    /// base64url of `item-000042|watermark|since-or-dash`.
    pub fn encode(&self) -> String {
        let since = self.since.map_or_else(|| "-".to_owned(), |s| s.to_string());
        CURSOR_B64.encode(format!(
            "{}|{}|{}",
            item_id(self.after),
            self.watermark,
            since
        ))
    }

    pub fn decode(s: &str) -> Option<Cursor> {
        let raw = String::from_utf8(CURSOR_B64.decode(s.trim()).ok()?).ok()?;
        let mut parts = raw.split('|');
        let after = parse_item_id(parts.next()?)?;
        let watermark: u64 = parts.next()?.parse().ok()?;
        let since = match parts.next()? {
            "-" => None,
            s => Some(s.parse().ok()?),
        };
        if parts.next().is_some() || since.is_some_and(|s| s > watermark) {
            return None;
        }
        Some(Cursor {
            after,
            watermark,
            since,
        })
    }
}

// ---------------------------------------------------------------------------
// The dataset

#[derive(Debug, Clone, Copy, PartialEq)]
struct Live {
    version: u64,
    seq: u64,
    updated_at: i64,
}

/// Mutable state.
struct Data {
    live: BTreeMap<u32, Live>,
    /// Deleted id -> deletion seq.
    tombstones: BTreeMap<u32, u64>,
    /// Every entry's last change: seq -> id (initial items have seq 0 and are absent).
    changes: BTreeMap<u64, u32>,
    seq: u64,
    max_id: u32,
    rng: StdRng,
    /// Fields written through the API, valid while the item is at that version.
    written: HashMap<u32, Written>,
    /// The `Idempotency-Key` of each item's last API write (absent: none).
    change_keys: HashMap<u32, Arc<str>>,
    /// Change key -> the items whose last API write carried it.
    by_change_key: HashMap<Arc<str>, BTreeSet<u32>>,
    /// `Idempotency-Key` -> the write it made, replayed instead of applied again.
    idempotent: HashMap<Arc<str>, Replay>,
}

/// The writable fields of an item.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fields {
    pub title: String,
    pub content: String,
    pub tags: Vec<String>,
}

/// What an API write stored for one version of an item.
#[derive(Debug, Clone)]
struct Written {
    version: u64,
    fields: Fields,
}

/// An API write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum WriteOp {
    Create,
    Update,
    Delete,
}

/// The write an `Idempotency-Key` made: a request with the same key and the
/// same fingerprint (operation, item, fields) is answered again, another
/// one is a 422.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Replay {
    op: WriteOp,
    id: u32,
    fingerprint: u64,
}

/// One page of a listing, ids and versions only (rendered by the handler).
#[derive(Debug, Default, PartialEq)]
struct Page {
    items: Vec<(u32, Live)>,
    deleted: Vec<u32>,
    next: Option<Cursor>,
    watermark: u64,
    total: usize,
}

/// What `mutate` did, ids sorted.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Mutation {
    pub updated: Vec<String>,
    pub deleted: Vec<String>,
    pub created: Vec<String>,
}

/// Why a listing request is refused (400 with this message).
type ListError = String;

impl Data {
    fn new(count: u32, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut t = BASE_TIME;
        let live = (1..=count)
            .map(|n| {
                t += rng.random_range(1..=120);
                (
                    n,
                    Live {
                        version: 1,
                        seq: 0,
                        updated_at: t,
                    },
                )
            })
            .collect();
        Data {
            live,
            tombstones: BTreeMap::new(),
            changes: BTreeMap::new(),
            seq: 0,
            max_id: count,
            rng: StdRng::seed_from_u64(mix(seed ^ 0x6d75_7461_7465, 0, 0)),
            written: HashMap::new(),
            change_keys: HashMap::new(),
            by_change_key: HashMap::new(),
            idempotent: HashMap::new(),
        }
    }

    /// Sorted ids whose last change is in `(since, watermark]`.
    fn changed_ids(&self, since: u64, watermark: u64) -> Vec<u32> {
        if since >= watermark {
            return Vec::new();
        }
        let mut ids: Vec<u32> = self
            .changes
            .range(since + 1..=watermark)
            .map(|(_, id)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// One page. `cursor`, when given, wins over `since`/the current seq
    /// (the caller checked that they agree).
    fn list(
        &self,
        limit: usize,
        since: Option<u64>,
        cursor: Option<Cursor>,
        changed: impl FnOnce(u64, u64) -> ChangedIds,
    ) -> Page {
        let (after, watermark, since) = match cursor {
            Some(c) => (Some(c.after), c.watermark, c.since),
            None => (None, self.seq, since),
        };
        let mut page = Page {
            watermark,
            ..Page::default()
        };
        match since {
            None => {
                let start = after.map_or(Bound::Unbounded, Bound::Excluded);
                page.items = self
                    .live
                    .range((start, Bound::Unbounded))
                    .take(limit)
                    .map(|(id, e)| (*id, *e))
                    .collect();
                if let Some(&(last, _)) = page.items.last() {
                    if page.items.len() == limit
                        && self
                            .live
                            .range((Bound::Excluded(last), Bound::Unbounded))
                            .next()
                            .is_some()
                    {
                        page.next = Some(Cursor {
                            after: last,
                            watermark,
                            since: None,
                        });
                    }
                }
                page.total = self.live.len();
            }
            Some(since) => {
                let ids = changed(since, watermark);
                let start = after.map_or(0, |a| ids.partition_point(|id| *id <= a));
                let end = (start + limit).min(ids.len());
                for &id in &ids[start..end] {
                    if let Some(e) = self.live.get(&id) {
                        page.items.push((id, *e));
                    } else {
                        page.deleted.push(id);
                    }
                }
                if end < ids.len() {
                    page.next = Some(Cursor {
                        after: ids[end - 1],
                        watermark,
                        since: Some(since),
                    });
                }
                page.total = ids.len();
            }
        }
        page
    }

    /// Deletes `delete` and updates `update` distinct random live items
    /// (disjoint), then creates `create` new ones after the current max id.
    /// All or nothing.
    fn mutate(
        &mut self,
        update: usize,
        delete: usize,
        create: usize,
        targets: &[u32],
        now: i64,
    ) -> Result<Mutation, String> {
        let targets: BTreeSet<u32> = targets.iter().copied().collect();
        if let Some(id) = targets.iter().find(|id| !self.live.contains_key(id)) {
            return Err(format!("no live item {} to update", item_id(*id)));
        }
        let free = self.live.len() - targets.len();
        if update + delete > free {
            return Err(format!(
                "cannot update {update} and delete {delete} items: only {free} live besides update_ids"
            ));
        }
        if create > (MAX_ID - self.max_id) as usize {
            return Err(format!(
                "cannot create {create} items: ids stop at {}",
                item_id(MAX_ID)
            ));
        }
        let (mut to_delete, mut to_update) = (Vec::new(), Vec::new());
        if update + delete > 0 {
            let ids: Vec<u32> = self
                .live
                .keys()
                .filter(|id| !targets.contains(id))
                .copied()
                .collect();
            let picks = rand::seq::index::sample(&mut self.rng, ids.len(), update + delete);
            for (i, idx) in picks.into_iter().enumerate() {
                if i < delete {
                    to_delete.push(ids[idx]);
                } else {
                    to_update.push(ids[idx]);
                }
            }
        }
        to_update.extend(&targets);
        to_delete.sort_unstable();
        to_update.sort_unstable();
        let mut out = Mutation::default();
        for &id in &to_update {
            self.bump(id, now);
            out.updated.push(item_id(id));
        }
        for &id in &to_delete {
            self.remove(id);
            out.deleted.push(item_id(id));
        }
        for _ in 0..create {
            out.created.push(item_id(self.insert_new(now)));
        }
        Ok(out)
    }

    /// The live items whose last API write carried `key`, by id, as one
    /// complete listing page.
    fn with_change_key(&self, key: &str) -> Page {
        let items: Vec<(u32, Live)> = self
            .by_change_key
            .get(key)
            .into_iter()
            .flatten()
            .filter_map(|id| self.live.get(id).map(|e| (*id, *e)))
            .collect();
        Page {
            total: items.len(),
            items,
            deleted: Vec::new(),
            next: None,
            watermark: self.seq,
        }
    }

    /// A new version of live item `id` at `now` (a new change).
    fn bump(&mut self, id: u32, now: i64) -> Live {
        self.seq += 1;
        let e = self.live.get_mut(&id).expect("a live item");
        if e.seq > 0 {
            self.changes.remove(&e.seq);
        }
        e.version += 1;
        e.seq = self.seq;
        e.updated_at = now.max(e.updated_at + 1);
        self.changes.insert(self.seq, id);
        *e
    }

    /// Deletes live item `id`: a tombstone and a change.
    fn remove(&mut self, id: u32) {
        self.seq += 1;
        let e = self.live.remove(&id).expect("a live item");
        if e.seq > 0 {
            self.changes.remove(&e.seq);
        }
        self.tombstones.insert(id, self.seq);
        self.changes.insert(self.seq, id);
        self.written.remove(&id);
        self.set_change_key(id, None);
    }

    /// A new item after the current max id, at version 1 (the caller
    /// checked there is room).
    fn insert_new(&mut self, now: i64) -> u32 {
        self.seq += 1;
        self.max_id += 1;
        let id = self.max_id;
        self.live.insert(
            id,
            Live {
                version: 1,
                seq: self.seq,
                updated_at: now,
            },
        );
        self.changes.insert(self.seq, id);
        id
    }

    /// Records `key` as the change key of item `id` (`None`: no key).
    fn set_change_key(&mut self, id: u32, key: Option<Arc<str>>) {
        let old = match key.clone() {
            Some(k) => self.change_keys.insert(id, k),
            None => self.change_keys.remove(&id),
        };
        if let Some(old) = old {
            if let Some(ids) = self.by_change_key.get_mut(&old) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.by_change_key.remove(&old);
                }
            }
        }
        if let Some(k) = key {
            self.by_change_key.entry(k).or_default().insert(id);
        }
    }

    /// The fields of live item `n` (entry `e`) as served.
    fn fields(&self, seed: u64, n: u32, e: &Live) -> Fields {
        match self.written.get(&n).filter(|w| w.version == e.version) {
            Some(w) => w.fields.clone(),
            None => {
                let b = render(seed, n, e.version);
                Fields {
                    title: b.title,
                    content: b.content,
                    tags: b.tags.iter().map(|t| (*t).to_owned()).collect(),
                }
            }
        }
    }
}

/// Sorted ids changed in `(since, watermark]`, shared by a listing's pages.
type ChangedIds = Arc<Vec<u32>>;
type SinceCache = HashMap<(u64, u64), ChangedIds>;

/// The shared state of the items fake.
pub struct Store {
    seed: u64,
    data: RwLock<Data>,
    /// `(since, watermark)` -> sorted changed ids, so the pages of one
    /// `since` listing do not each rescan the change index.
    since_cache: Mutex<SinceCache>,
}

impl Store {
    fn new(count: u32, seed: u64) -> Self {
        Store {
            seed,
            data: RwLock::new(Data::new(count, seed)),
            since_cache: Mutex::new(HashMap::new()),
        }
    }

    fn changed_ids(&self, data: &Data, since: u64, watermark: u64) -> ChangedIds {
        let key = (since, watermark);
        if let Some(ids) = self.cache().get(&key) {
            return ids.clone();
        }
        let ids = Arc::new(data.changed_ids(since, watermark));
        let mut cache = self.cache();
        if cache.len() >= SINCE_CACHE {
            cache.clear();
        }
        cache.insert(key, ids.clone());
        ids
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, SinceCache> {
        self.since_cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

// ---------------------------------------------------------------------------
// Deterministic content

fn mix(seed: u64, n: u32, version: u64) -> u64 {
    mix64(mix64(mix64(seed) ^ u64::from(n)) ^ version)
}

const TAGS: &[&str] = &[
    "red", "green", "blue", "urgent", "archive", "draft", "review", "public", "internal", "beta",
];

/// The rendered fields of an item version.
#[derive(Debug, PartialEq)]
pub struct Body {
    pub title: String,
    pub content: String,
    pub tags: Vec<&'static str>,
}

/// Title and content depend on (seed, id, version), tags on (seed, id).
pub fn render(seed: u64, n: u32, version: u64) -> Body {
    let mut rng = StdRng::seed_from_u64(mix(seed, n, version));
    let word = |rng: &mut StdRng| WORDS[rng.random_range(0..WORDS.len())];
    let first = word(&mut rng);
    let mut title = first[..1].to_ascii_uppercase() + &first[1..];
    for _ in 0..rng.random_range(1..=3) {
        title.push(' ');
        title.push_str(word(&mut rng));
    }
    let target = rng.random_range(200..=500);
    let mut content = String::with_capacity(target + 16);
    let mut sentence_start = true;
    while content.len() < target {
        let w = word(&mut rng);
        if sentence_start {
            content.push_str(&(w[..1].to_ascii_uppercase() + &w[1..]));
            sentence_start = false;
        } else {
            content.push(' ');
            content.push_str(w);
        }
        if rng.random_range(0..8) == 0 {
            content.push_str(". ");
            sentence_start = true;
        }
    }
    let content = content.trim_end().trim_end_matches('.').to_owned() + ".";

    let mut trng = StdRng::seed_from_u64(mix(seed, n, u64::MAX));
    let ntags = trng.random_range(1..=3);
    let tags = rand::seq::index::sample(&mut trng, TAGS.len(), ntags)
        .into_iter()
        .map(|i| TAGS[i])
        .collect();
    Body {
        title,
        content,
        tags,
    }
}

// ---------------------------------------------------------------------------
// Handlers

#[derive(Serialize)]
struct ListEntry {
    id: String,
    version: String,
    updated_at: String,
    change_key: Option<String>,
}

#[derive(Serialize)]
struct ListResponse {
    items: Vec<ListEntry>,
    deleted: Vec<String>,
    next_cursor: Option<String>,
    watermark: String,
    total: usize,
}

#[derive(Serialize)]
struct ItemResponse {
    id: String,
    version: String,
    title: String,
    content: String,
    updated_at: String,
    tags: Vec<String>,
    change_key: Option<String>,
}

#[derive(Serialize)]
struct TruthEntry {
    id: String,
    version: String,
    title: String,
    /// Hex sha256 of `content`.
    sha256: String,
    change_key: Option<String>,
}

fn json_response<T: Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => common::json_bytes(bytes),
        Err(e) => common::error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

fn read(store: &Store) -> std::sync::RwLockReadGuard<'_, Data> {
    store.data.read().unwrap_or_else(PoisonError::into_inner)
}

/// Query parameters of `GET /items`, validated.
#[derive(Debug, PartialEq)]
struct ListQuery {
    limit: usize,
    since: Option<u64>,
    cursor: Option<Cursor>,
    change_key: Option<String>,
}

fn parse_list_query(params: &[(String, String)], seq: u64) -> Result<ListQuery, ListError> {
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let limit = match param("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| format!("limit must be between 1 and {MAX_LIMIT}"))?,
    };
    let since = match param("since") {
        None => None,
        Some(v) => {
            let s: u64 = v
                .parse()
                .map_err(|_| "since must be a watermark from an earlier listing".to_owned())?;
            if s > seq {
                return Err(format!(
                    "since {s} is ahead of this server's sequence ({seq})"
                ));
            }
            Some(s)
        }
    };
    let cursor = match param("cursor") {
        None => None,
        Some(v) => {
            let c = Cursor::decode(v)
                .filter(|c| c.watermark <= seq)
                .ok_or_else(|| "invalid cursor".to_owned())?;
            if since.is_some() && since != c.since {
                return Err("since does not match the listing of this cursor".to_owned());
            }
            Some(c)
        }
    };
    let change_key = param("change_key").map(str::to_owned);
    if change_key.is_some() && (since.is_some() || cursor.is_some()) {
        return Err("change_key cannot be combined with since or cursor".to_owned());
    }
    Ok(ListQuery {
        limit,
        since,
        cursor,
        change_key,
    })
}

async fn list_items(
    State(store): State<Arc<Store>>,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let data = read(&store);
    let q = match parse_list_query(&params, data.seq) {
        Ok(q) => q,
        Err(msg) => return bad_request(msg),
    };
    let page = match &q.change_key {
        Some(key) => data.with_change_key(key),
        None => data.list(q.limit, q.since, q.cursor, |s, w| {
            store.changed_ids(&data, s, w)
        }),
    };
    let items = page
        .items
        .iter()
        .map(|(id, e)| ListEntry {
            id: item_id(*id),
            version: e.version.to_string(),
            updated_at: rfc3339(e.updated_at),
            change_key: data.change_keys.get(id).map(|k| k.to_string()),
        })
        .collect();
    drop(data);
    json_response(&ListResponse {
        items,
        deleted: page.deleted.iter().map(|id| item_id(*id)).collect(),
        next_cursor: page.next.map(|c| c.encode()),
        watermark: page.watermark.to_string(),
        total: page.total,
    })
}

fn item_not_found(id: &str) -> Response {
    common::error(StatusCode::NOT_FOUND, "not_found", format!("no item {id}"))
}

/// Item `n` as `GET /items/{id}` shows it, with its `ETag`; `None` when
/// it is not live.
fn item_response(store: &Store, data: &Data, n: u32, status: StatusCode) -> Option<Response> {
    let e = data.live.get(&n)?;
    let fields = data.fields(store.seed, n, e);
    let mut resp = json_response(&ItemResponse {
        id: item_id(n),
        version: e.version.to_string(),
        title: fields.title,
        content: fields.content,
        updated_at: rfc3339(e.updated_at),
        tags: fields.tags,
        change_key: data.change_keys.get(&n).map(|k| k.to_string()),
    });
    *resp.status_mut() = status;
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", e.version)) {
        resp.headers_mut().insert(header::ETAG, etag);
    }
    Some(resp)
}

/// `GET /items/{id}`; with `If-None-Match` naming its current `ETag`
/// (or `*`), `304 Not Modified` with the `ETag` and no body (RFC 9110 §13.1.2).
async fn get_item(
    State(store): State<Arc<Store>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let data = read(&store);
    let Some(resp) =
        parse_item_id(&id).and_then(|n| item_response(&store, &data, n, StatusCode::OK))
    else {
        return item_not_found(&id);
    };
    let current = resp.headers().get(header::ETAG).cloned();
    let unchanged = current.as_ref().is_some_and(|etag| {
        headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|tag| tag.trim().trim_start_matches("W/"))
            .any(|tag| tag == "*" || tag.as_bytes() == etag.as_bytes())
    });
    if !unchanged {
        return resp;
    }
    let mut not_modified = StatusCode::NOT_MODIFIED.into_response();
    if let Some(etag) = current {
        not_modified.headers_mut().insert(header::ETAG, etag);
    }
    not_modified
}

async fn mutate(State(store): State<Arc<Store>>, body: Bytes) -> Response {
    let body = match common::json_body(&body) {
        Ok(v) => v,
        Err(msg) => return bad_request(msg),
    };
    let Some(obj) = body.as_object() else {
        return bad_request("the body must be a JSON object");
    };
    let mut counts = [0usize; 3];
    let mut targets = Vec::new();
    for (key, value) in obj {
        if key == "update_ids" {
            let ids = value.as_array().and_then(|list| {
                list.iter()
                    .map(|v| v.as_str().and_then(parse_item_id))
                    .collect::<Option<Vec<u32>>>()
            });
            match ids {
                Some(ids) => targets = ids,
                None => return bad_request("update_ids must be an array of item ids"),
            }
            continue;
        }
        let slot = match key.as_str() {
            "update" => 0,
            "delete" => 1,
            "create" => 2,
            other => return bad_request(format!("unknown field {other:?}")),
        };
        match value.as_u64() {
            Some(n) => counts[slot] = n.min(usize::MAX as u64) as usize,
            None => return bad_request(format!("{key} must be a non-negative integer")),
        }
    }
    let now = chrono::Utc::now().timestamp();
    let result = store
        .data
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .mutate(counts[0], counts[1], counts[2], &targets, now);
    match result {
        Ok(m) => json_response(&m),
        Err(msg) => common::error(StatusCode::CONFLICT, "conflict", msg),
    }
}

// ---------------------------------------------------------------------------
// Writes

/// Largest accepted write body, and the limits on its fields.
pub const MAX_WRITE_BODY: usize = 2 << 20;
pub const MAX_TITLE_CHARS: usize = 1000;
pub const MAX_TAGS: usize = 20;
pub const MAX_TAG_CHARS: usize = 64;

/// The fields of a `POST /items` or `PUT /items/{id}` body: `title`,
/// `content` (or its alias `body`) and `tags` (optional: `[]` on create,
/// unchanged on update).
fn parse_fields(body: &Bytes) -> Result<(String, String, Option<Vec<String>>), Response> {
    if body.len() > MAX_WRITE_BODY {
        return Err(common::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than {MAX_WRITE_BODY} bytes"),
        ));
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| bad_request(format!("invalid JSON body: {e}")))?;
    let Some(obj) = value.as_object() else {
        return Err(bad_request("the body must be a JSON object"));
    };
    if let Some(other) = obj
        .keys()
        .find(|k| !["title", "content", "body", "tags"].contains(&k.as_str()))
    {
        return Err(bad_request(format!("unknown field {other:?}")));
    }
    let title = match obj.get("title") {
        Some(serde_json::Value::String(t))
            if !t.trim().is_empty() && t.chars().count() <= MAX_TITLE_CHARS =>
        {
            t.clone()
        }
        _ => {
            return Err(bad_request(format!(
                "title must be a non-empty string of at most {MAX_TITLE_CHARS} characters"
            )))
        }
    };
    let content = match (obj.get("content"), obj.get("body")) {
        (Some(serde_json::Value::String(c)), None) | (None, Some(serde_json::Value::String(c))) => {
            c.clone()
        }
        (Some(_), Some(_)) => return Err(bad_request("give content or body, not both")),
        _ => return Err(bad_request("content must be a string")),
    };
    let tags = match obj.get("tags") {
        None => None,
        Some(serde_json::Value::Array(list)) if list.len() <= MAX_TAGS => Some(
            list.iter()
                .map(|t| {
                    t.as_str()
                        .filter(|t| !t.is_empty() && t.chars().count() <= MAX_TAG_CHARS)
                        .map(str::to_owned)
                })
                .collect::<Option<Vec<String>>>()
                .ok_or_else(|| {
                    bad_request(format!(
                        "tags must be non-empty strings of at most {MAX_TAG_CHARS} characters"
                    ))
                })?,
        ),
        Some(_) => {
            return Err(bad_request(format!(
                "tags must be an array of at most {MAX_TAGS} strings"
            )))
        }
    };
    Ok((title, content, tags))
}

/// A stable digest of a write, to tell a replay from a reused key.
fn fingerprint(op: WriteOp, id: u32, parts: &impl std::hash::Hash) -> u64 {
    use std::hash::{BuildHasher as _, BuildHasherDefault};
    BuildHasherDefault::<std::hash::DefaultHasher>::default().hash_one((op, id, parts))
}

fn key_reused(key: &str) -> Response {
    common::error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
        format!("Idempotency-Key {key:?} was used for another request"),
    )
}

/// The headers of a write: its `Idempotency-Key` and `If-Match` (400 when
/// malformed).
fn write_headers(headers: &HeaderMap) -> Result<(Option<Arc<str>>, Option<IfMatch>), Response> {
    let key = common::idempotency_key(headers).map_err(bad_request)?;
    let if_match = common::if_match(headers).map_err(bad_request)?;
    Ok((key.map(Arc::from), if_match))
}

/// What an earlier request with `key` did, if any: `Ok(None)` when the key
/// is new, `Ok(Some(id))` for a replay of the same write, 422 otherwise.
fn replayed(
    data: &Data,
    key: Option<&Arc<str>>,
    op: WriteOp,
    id: u32,
    fp: u64,
) -> Result<Option<u32>, Response> {
    let Some(key) = key else {
        return Ok(None);
    };
    match data.idempotent.get(key) {
        None => Ok(None),
        Some(r) if r.op == op && r.fingerprint == fp && (op == WriteOp::Create || r.id == id) => {
            Ok(Some(r.id))
        }
        Some(_) => Err(key_reused(key)),
    }
}

/// Checks `If-Match` against live item `n`: 428 when absent, 404 when the
/// item is not live, 412 with the current item when it does not match.
fn precondition(
    store: &Store,
    data: &Data,
    raw: &str,
    n: Option<u32>,
    if_match: Option<&IfMatch>,
) -> Result<u32, Response> {
    let Some(if_match) = if_match else {
        return Err(common::error(
            StatusCode::PRECONDITION_REQUIRED,
            "precondition_required",
            "If-Match: \"<version>\" is required",
        ));
    };
    let Some((n, e)) = n.and_then(|n| data.live.get(&n).map(|e| (n, e))) else {
        return Err(item_not_found(raw));
    };
    if if_match.matches(&e.version.to_string()) {
        Ok(n)
    } else {
        Err(
            item_response(store, data, n, StatusCode::PRECONDITION_FAILED)
                .unwrap_or_else(|| item_not_found(raw)),
        )
    }
}

fn write_lock(store: &Store) -> std::sync::RwLockWriteGuard<'_, Data> {
    store.data.write().unwrap_or_else(PoisonError::into_inner)
}

/// `POST /items` with `Idempotency-Key`: 201 with the new item (and
/// `Location`), or 200 with the item an earlier request with the same key
/// created.
async fn create_item(State(store): State<Arc<Store>>, headers: HeaderMap, body: Bytes) -> Response {
    let (key, _) = match write_headers(&headers) {
        Ok(h) => h,
        Err(resp) => return resp,
    };
    let Some(key) = key else {
        return bad_request("the Idempotency-Key header is required");
    };
    let (title, content, tags) = match parse_fields(&body) {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let fields = Fields {
        title,
        content,
        tags: tags.unwrap_or_default(),
    };
    let fp = fingerprint(WriteOp::Create, 0, &fields);
    let mut data = write_lock(&store);
    match replayed(&data, Some(&key), WriteOp::Create, 0, fp) {
        Err(resp) => return resp,
        Ok(Some(n)) => {
            return item_response(&store, &data, n, StatusCode::OK).unwrap_or_else(|| {
                common::error(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!(
                        "{} created with this Idempotency-Key was deleted since",
                        item_id(n)
                    ),
                )
            })
        }
        Ok(None) => {}
    }
    if data.max_id >= MAX_ID {
        return common::error(
            StatusCode::CONFLICT,
            "conflict",
            format!("cannot create an item: ids stop at {}", item_id(MAX_ID)),
        );
    }
    let now = chrono::Utc::now().timestamp();
    let n = data.insert_new(now);
    data.written.insert(n, Written { version: 1, fields });
    data.set_change_key(n, Some(key.clone()));
    data.idempotent.insert(
        key,
        Replay {
            op: WriteOp::Create,
            id: n,
            fingerprint: fp,
        },
    );
    let mut resp = item_response(&store, &data, n, StatusCode::CREATED).expect("just created");
    if let Ok(location) = HeaderValue::from_str(&format!("/items/{}", item_id(n))) {
        resp.headers_mut().insert(header::LOCATION, location);
    }
    resp
}

/// `PUT /items/{id}` with `If-Match: "<version>"`: 200 with the new version.
async fn update_item(
    State(store): State<Arc<Store>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (key, if_match) = match write_headers(&headers) {
        Ok(h) => h,
        Err(resp) => return resp,
    };
    let (title, content, tags) = match parse_fields(&body) {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let n = parse_item_id(&id);
    let fp = fingerprint(WriteOp::Update, n.unwrap_or(0), &(&title, &content, &tags));
    let mut data = write_lock(&store);
    match replayed(&data, key.as_ref(), WriteOp::Update, n.unwrap_or(0), fp) {
        Err(resp) => return resp,
        Ok(Some(n)) => {
            return item_response(&store, &data, n, StatusCode::OK)
                .unwrap_or_else(|| item_not_found(&id))
        }
        Ok(None) => {}
    }
    let n = match precondition(&store, &data, &id, n, if_match.as_ref()) {
        Ok(n) => n,
        Err(resp) => return resp,
    };
    let tags = match tags {
        Some(t) => t,
        None => data.fields(store.seed, n, &data.live[&n]).tags,
    };
    let now = chrono::Utc::now().timestamp();
    let e = data.bump(n, now);
    data.written.insert(
        n,
        Written {
            version: e.version,
            fields: Fields {
                title,
                content,
                tags,
            },
        },
    );
    data.set_change_key(n, key.clone());
    if let Some(key) = key {
        data.idempotent.insert(
            key,
            Replay {
                op: WriteOp::Update,
                id: n,
                fingerprint: fp,
            },
        );
    }
    item_response(&store, &data, n, StatusCode::OK).expect("live")
}

/// `DELETE /items/{id}` with `If-Match: "<version>"`: 204, a tombstone.
async fn delete_item(
    State(store): State<Arc<Store>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (key, if_match) = match write_headers(&headers) {
        Ok(h) => h,
        Err(resp) => return resp,
    };
    let n = parse_item_id(&id);
    let fp = fingerprint(WriteOp::Delete, n.unwrap_or(0), &());
    let mut data = write_lock(&store);
    match replayed(&data, key.as_ref(), WriteOp::Delete, n.unwrap_or(0), fp) {
        Err(resp) => return resp,
        Ok(Some(_)) => return StatusCode::NO_CONTENT.into_response(),
        Ok(None) => {}
    }
    let n = match precondition(&store, &data, &id, n, if_match.as_ref()) {
        Ok(n) => n,
        Err(resp) => return resp,
    };
    data.remove(n);
    if let Some(key) = key {
        data.idempotent.insert(
            key,
            Replay {
                op: WriteOp::Delete,
                id: n,
                fingerprint: fp,
            },
        );
    }
    StatusCode::NO_CONTENT.into_response()
}

/// Most `pad` bytes `/echo` adds.
pub const MAX_ECHO_PAD: usize = 64 << 20;

/// `/echo`: the request as the server saw it, for sandbox tests (what a
/// plugin can learn about the headers the host added). See
/// `docs/fake-items-api.md`.
async fn echo(
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let pad = match param("pad").map(str::parse::<usize>) {
        None => 0,
        Some(Ok(n)) if n <= MAX_ECHO_PAD => n,
        Some(_) => return bad_request(format!("pad must be between 0 and {MAX_ECHO_PAD}")),
    };
    let chunked = param("chunked") == Some("true");
    let mut seen = serde_json::Map::new();
    for (name, value) in &headers {
        let value = serde_json::Value::String(String::from_utf8_lossy(value.as_bytes()).into());
        match seen.get_mut(name.as_str()) {
            Some(serde_json::Value::Array(values)) => values.push(value),
            Some(first) => *first = serde_json::Value::Array(vec![first.take(), value]),
            None => {
                seen.insert(name.as_str().to_owned(), value);
            }
        }
    }
    let mut body = serde_json::json!({
        "method": method.as_str(),
        "path": uri.path(),
        "query": uri.query(),
        "headers": seen,
    });
    if pad > 0 {
        body["pad"] = serde_json::Value::String("x".repeat(pad));
    }
    if let (Some("true"), Some(auth)) = (param("encoded"), headers.get(header::AUTHORIZATION)) {
        // How real services leak a credential: inside a base64 blob, a URL.
        let auth = auth.as_bytes();
        let secret = auth.splitn(2, |&b| b == b' ').nth(1).unwrap_or(auth);
        let percent: String = auth
            .iter()
            .map(|&b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        body["encoded"] = serde_json::json!({
            "base64": base64::engine::general_purpose::STANDARD.encode(auth),
            "base64url_secret": base64::engine::general_purpose::URL_SAFE.encode(secret),
            "percent": percent,
        });
    }
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut resp = if chunked {
        // A stream has no known length: the body goes out chunked, without
        // Content-Length, so a client cannot refuse it up front.
        let stream = axum::body::Body::from(bytes).into_data_stream();
        let mut resp = Response::new(axum::body::Body::from_stream(stream));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp
    } else {
        common::json_bytes(bytes)
    };
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        resp.headers_mut()
            .insert("x-echo-authorization", auth.clone());
    }
    resp
}

/// `/redirect?to=URL`: 302 to `URL`, whatever it is.
async fn redirect(Query(params): Query<Vec<(String, String)>>) -> Response {
    let Some((_, to)) = params.iter().find(|(k, _)| k == "to") else {
        return bad_request("to is required");
    };
    let Ok(location) = HeaderValue::from_str(to) else {
        return bad_request("to is not a valid header value");
    };
    let mut resp = Response::new(axum::body::Body::empty());
    *resp.status_mut() = StatusCode::FOUND;
    resp.headers_mut().insert(header::LOCATION, location);
    resp
}

async fn ground_truth(State(store): State<Arc<Store>>) -> Response {
    use sha2::{Digest as _, Sha256};
    let data = read(&store);
    let entries: Vec<TruthEntry> = data
        .live
        .iter()
        .map(|(id, e)| {
            let fields = data.fields(store.seed, *id, e);
            TruthEntry {
                id: item_id(*id),
                version: e.version.to_string(),
                title: fields.title,
                sha256: Sha256::digest(fields.content.as_bytes())
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
                change_key: data.change_keys.get(id).map(|k| k.to_string()),
            }
        })
        .collect();
    drop(data);
    json_response(&entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn no_cache(data: &Data) -> impl FnOnce(u64, u64) -> Arc<Vec<u32>> + '_ {
        move |s, w| Arc::new(data.changed_ids(s, w))
    }

    /// Pages through a listing to the end; returns (items, deleted, watermarks).
    fn drain(data: &Data, limit: usize, since: Option<u64>) -> (Vec<u32>, Vec<u32>, u64) {
        let (mut items, mut deleted) = (Vec::new(), Vec::new());
        let mut cursor = None;
        let mut watermark = None;
        loop {
            let page = data.list(limit, since, cursor, no_cache(data));
            assert!(page.items.len() + page.deleted.len() <= limit);
            assert_eq!(*watermark.get_or_insert(page.watermark), page.watermark);
            items.extend(page.items.iter().map(|(id, _)| *id));
            deleted.extend(&page.deleted);
            match page.next {
                Some(c) => {
                    // Round-trips through its text form like a client would.
                    cursor = Some(Cursor::decode(&c.encode()).unwrap());
                }
                None => break,
            }
        }
        (items, deleted, watermark.unwrap())
    }

    #[test]
    fn ids_format_and_parse() {
        assert_eq!(item_id(42), "item-000042");
        assert_eq!(parse_item_id("item-000042"), Some(42));
        assert_eq!(parse_item_id("item-42"), None);
        assert_eq!(parse_item_id("item-000000"), None);
        assert_eq!(parse_item_id("item-00004x"), None);
        assert_eq!(parse_item_id("thing-000042"), None);
    }

    #[test]
    fn cursor_round_trip_and_rejects_garbage() {
        for c in [
            Cursor {
                after: 7,
                watermark: 0,
                since: None,
            },
            Cursor {
                after: 999_999,
                watermark: 1234,
                since: Some(1200),
            },
        ] {
            let s = c.encode();
            assert!(s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert_eq!(Cursor::decode(&s), Some(c));
        }
        assert_eq!(Cursor::decode("not a cursor!"), None);
        assert_eq!(Cursor::decode(""), None);
        let b = |s: &str| CURSOR_B64.encode(s);
        assert_eq!(Cursor::decode(&b("item-000001|5")), None);
        assert_eq!(Cursor::decode(&b("item-000001|5|-|x")), None);
        assert_eq!(Cursor::decode(&b("item-1|5|-")), None);
        assert_eq!(Cursor::decode(&b("item-000001|x|-")), None);
        // since after the watermark cannot come from this server.
        assert_eq!(Cursor::decode(&b("item-000001|5|6")), None);
        assert!(Cursor::decode(&b("item-000001|5|5")).is_some());
        // Padding is tolerated.
        let padded = base64::engine::general_purpose::URL_SAFE.encode("item-000001|50|1");
        assert!(padded.ends_with('='));
        assert!(Cursor::decode(&padded).is_some());
    }

    #[test]
    fn dataset_is_deterministic() {
        let a = Data::new(50, 7);
        let b = Data::new(50, 7);
        let c = Data::new(50, 8);
        let times = |d: &Data| d.live.values().map(|e| e.updated_at).collect::<Vec<_>>();
        assert_eq!(times(&a), times(&b));
        assert_ne!(times(&a), times(&c));
        assert!(times(&a).windows(2).all(|w| w[0] < w[1]));
        assert_eq!(render(7, 3, 1), render(7, 3, 1));
        assert_ne!(render(7, 3, 1).content, render(7, 3, 2).content);
        assert_ne!(render(7, 3, 1).content, render(8, 3, 1).content);
        assert_eq!(render(7, 3, 1).tags, render(7, 3, 2).tags);
        let len = render(7, 3, 1).content.len();
        assert!((200..=520).contains(&len), "content of {len} bytes");
    }

    #[test]
    fn full_listing_covers_every_item_once() {
        let data = Data::new(1001, 1);
        for limit in [1, 10, 100, 1000, 1001] {
            let (items, deleted, wm) = drain(&data, limit, None);
            assert_eq!(items, (1..=1001).collect::<Vec<_>>(), "limit {limit}");
            assert!(deleted.is_empty());
            assert_eq!(wm, 0);
        }
        let first = data.list(10, None, None, no_cache(&data));
        assert_eq!(first.total, 1001);
        // Exactly one full page: no cursor to an empty page.
        let (items, _, _) = drain(&Data::new(20, 1), 10, None);
        assert_eq!(items.len(), 20);
        let page = Data::new(10, 1).list(10, None, None, |_, _| unreachable!());
        assert_eq!(page.next, None);
        let empty = Data::new(0, 1).list(10, None, None, |_, _| unreachable!());
        assert_eq!(empty, Page::default());
    }

    #[test]
    fn since_returns_exactly_the_changes() {
        let mut data = Data::new(500, 3);
        let (_, _, wm0) = drain(&data, 100, None);
        assert_eq!(drain(&data, 100, Some(wm0)).0, Vec::<u32>::new());

        let m = data.mutate(20, 10, 5, &[], 2_000_000_000).unwrap();
        assert_eq!(
            (m.updated.len(), m.deleted.len(), m.created.len()),
            (20, 10, 5)
        );
        let updated: BTreeSet<_> = m
            .updated
            .iter()
            .map(|s| parse_item_id(s).unwrap())
            .collect();
        let deleted: BTreeSet<_> = m
            .deleted
            .iter()
            .map(|s| parse_item_id(s).unwrap())
            .collect();
        let created: Vec<_> = m
            .created
            .iter()
            .map(|s| parse_item_id(s).unwrap())
            .collect();
        assert!(updated.is_disjoint(&deleted));
        assert_eq!(created, (501..=505).collect::<Vec<_>>());
        assert_eq!(data.seq, 35);

        for limit in [1, 7, 1000] {
            let (items, dels, wm1) = drain(&data, limit, Some(wm0));
            let mut expect: Vec<u32> = updated.iter().copied().chain(created.clone()).collect();
            expect.sort_unstable();
            assert_eq!(items, expect, "limit {limit}");
            assert_eq!(dels, deleted.iter().copied().collect::<Vec<_>>());
            assert_eq!(wm1, 35);
        }
        let page = data.list(1000, Some(wm0), None, no_cache(&data));
        assert_eq!(page.total, 35);
        for (id, e) in &page.items {
            assert_eq!(e.version, if *id > 500 { 1 } else { 2 });
            assert!(e.updated_at >= 2_000_000_000);
        }

        // Nothing new since the latest watermark.
        assert_eq!(drain(&data, 10, Some(35)), (vec![], vec![], 35));

        // A second round: since=35 sees only the second round; since=wm0 sees both,
        // an item changed twice once, with its latest version.
        let m2 = data.mutate(5, 0, 0, &[], 2_000_000_100).unwrap();
        let (items, dels, _) = drain(&data, 100, Some(35));
        let expect: Vec<u32> = m2
            .updated
            .iter()
            .map(|s| parse_item_id(s).unwrap())
            .collect();
        assert_eq!(items, expect);
        assert!(dels.is_empty());
        let (items, dels, _) = drain(&data, 100, Some(wm0));
        let all: BTreeSet<u32> = updated
            .iter()
            .chain(&created)
            .chain(&expect)
            .copied()
            .collect();
        assert_eq!(items, all.into_iter().collect::<Vec<_>>());
        assert_eq!(dels.len(), 10);

        // Full listing: the live ones.
        let (items, _, _) = drain(&data, 64, None);
        assert_eq!(items.len(), 495);
        assert!(items.iter().all(|id| !deleted.contains(id)));
    }

    #[test]
    fn changes_during_a_listing_are_seen_by_the_next_one() {
        let mut data = Data::new(300, 9);
        // First page of a full listing.
        let p1 = data.list(100, None, None, no_cache(&data));
        let wm = p1.watermark;
        let m = data.mutate(30, 30, 3, &[], 2_000_000_000).unwrap();
        // The rest of the listing carries on with the same watermark.
        let mut cursor = p1.next;
        let mut seen: Vec<u32> = p1.items.iter().map(|(id, _)| *id).collect();
        while let Some(c) = cursor {
            let p = data.list(100, None, Some(c), no_cache(&data));
            assert_eq!(p.watermark, wm);
            seen.extend(p.items.iter().map(|(id, _)| *id));
            cursor = p.next;
        }
        // The next listing since that watermark sees every change.
        let (items, dels, _) = drain(&data, 50, Some(wm));
        let changed: BTreeSet<String> = items.iter().map(|id| item_id(*id)).collect();
        for id in m.updated.iter().chain(&m.created) {
            assert!(changed.contains(id), "{id} missed");
        }
        let dels: BTreeSet<String> = dels.iter().map(|id| item_id(*id)).collect();
        assert_eq!(dels, m.deleted.iter().cloned().collect());
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn mutate_is_all_or_nothing_and_deterministic() {
        let mut a = Data::new(10, 5);
        assert!(a.mutate(6, 5, 0, &[], 0).is_err());
        assert_eq!(a.seq, 0);
        assert_eq!(a.live.len(), 10);
        let ma = a.mutate(3, 2, 1, &[], 0).unwrap();
        let mut b = Data::new(10, 5);
        assert_eq!(b.mutate(3, 2, 1, &[], 0).unwrap(), ma);
        // Deleted ids are never reused; created ids follow the max ever.
        a.mutate(0, 8, 0, &[], 0).unwrap();
        assert_eq!(a.live.len(), 1);
        let m = a.mutate(0, 0, 2, &[], 0).unwrap();
        assert_eq!(m.created, vec![item_id(12), item_id(13)]);
        let mut full = Data::new(MAX_ID - 1, 1);
        assert!(full.mutate(0, 0, 2, &[], 0).is_err());
        assert_eq!(
            full.mutate(0, 0, 1, &[], 0).unwrap().created,
            vec![item_id(MAX_ID)]
        );
    }

    #[test]
    fn query_validation() {
        let q = |pairs: &[(&str, &str)]| {
            let v: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            parse_list_query(&v, 10)
        };
        assert_eq!(q(&[]).unwrap().limit, DEFAULT_LIMIT);
        assert_eq!(q(&[("limit", "1000")]).unwrap().limit, 1000);
        let msg = "limit must be between 1 and 1000";
        assert_eq!(q(&[("limit", "1001")]).unwrap_err(), msg);
        assert_eq!(q(&[("limit", "0")]).unwrap_err(), msg);
        assert_eq!(q(&[("limit", "ten")]).unwrap_err(), msg);
        assert_eq!(q(&[("limit", "")]).unwrap_err(), msg);
        assert_eq!(q(&[("since", "10")]).unwrap().since, Some(10));
        assert!(q(&[("since", "11")]).is_err());
        assert!(q(&[("since", "-1")]).is_err());
        assert!(q(&[("cursor", "@@@")]).is_err());
        let c = Cursor {
            after: 3,
            watermark: 8,
            since: Some(2),
        }
        .encode();
        assert_eq!(q(&[("cursor", &c)]).unwrap().cursor.unwrap().since, Some(2));
        assert!(q(&[("cursor", &c), ("since", "2")]).is_ok());
        assert!(q(&[("cursor", &c), ("since", "3")]).is_err());
        let future = Cursor {
            after: 3,
            watermark: 11,
            since: None,
        }
        .encode();
        assert!(q(&[("cursor", &future)]).is_err());
    }
}
