//! The GitHub fake (`synchost-fake github`): one repository served through
//! the REST API subset of `tests/specs/github-rest-subset.openapi.json` plus
//! the repository, issues, pulls, comments and archive operations of the
//! official description, faithful to `api-contracts.md` §2 (see
//! `docs/fake-github-api.md`).
//!
//! - [`git`]: object ids as git computes them, trees, archives;
//! - [`data`]: the dataset (commits of the default branch, issues, pulls,
//!   comments); [`rate`]: the primary and secondary rate limits;
//! - [`repo`]: repository, branch, ref, commits, trees, blobs, compare;
//!   [`contents`]: contents reads and writes; [`archive`]: tarball and
//!   zipball redirects and their downloads; [`issues`]: issues, pulls and
//!   comments; [`control`]: `/_control/items`, `/_control/mutate`,
//!   `/_control/repo`; [`errors`]: GitHub's error bodies and the flavor.
//!
//! `version` in `/_control/items`: the blob sha for files (the commit sha
//! for a submodule), `updated_at` (RFC 3339, seconds; every write gets a
//! strictly later one) for issues, pulls and comments.

pub mod archive;
pub mod contents;
pub mod control;
pub mod data;
pub mod errors;
pub mod git;
pub mod issues;
pub mod repo;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, SecondsFormat, Utc};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::common::{self, CommonArgs};
use super::words::mix64;
use data::{Config, Data};
use git::Oid;

/// Stats counters, in the order `/_control/stats` shows them.
pub const COUNTERS: &[&str] = &[
    "repo",
    "branch",
    "ref",
    "commit",
    "tree",
    "blob",
    "compare",
    "contents_get",
    "contents_put",
    "contents_delete",
    "archive",
    common::DOWNLOAD_COUNTER,
    "issues",
    "pulls",
    "comments",
    "issue_patch",
    "comment_create",
    "rate_limit",
];

/// `synchost-fake github`.
#[derive(clap::Args, Debug, Clone)]
pub struct GithubArgs {
    /// The repository, `OWNER/NAME`.
    #[arg(long, default_value = "acme/widgets")]
    pub repo: String,
    /// Paths in the repository (with ten or more, one is a symlink and one a submodule).
    #[arg(long)]
    pub files: u32,
    /// Average file size in KB (each between half and one and a half times it).
    #[arg(long, default_value_t = 4)]
    pub file_kb: u32,
    /// Share (0.0..=1.0) of binary files.
    #[arg(long, default_value_t = 0.05)]
    pub binary_share: f64,
    /// Issues and pull requests (every fourth number is a pull request).
    #[arg(long, default_value_t = 0)]
    pub issues: u32,
    /// Issue comments, spread over the issues and pull requests.
    #[arg(long, default_value_t = 0)]
    pub comments: u32,
    /// Seed of the dataset and of the changes `/_control/mutate` makes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Primary rate limit: requests per window.
    #[arg(long, default_value_t = 5000)]
    pub rate_limit_budget: u64,
    /// Primary rate limit: the window, in seconds.
    #[arg(long, default_value_t = 3600)]
    pub rate_limit_window_s: u64,
    /// Secondary rate limit: after every N counted requests, one 403.
    #[arg(long)]
    pub secondary_after: Option<u64>,
    /// The secondary-limit 403's `retry-after`, in seconds (0: none).
    #[arg(long, default_value_t = 60)]
    pub secondary_retry_after: u64,
    /// Entries of a recursive tree listing beyond which it is `truncated`
    /// (GitHub: 100,000; the 7 MB size limit applies as well).
    #[arg(long, default_value_t = 100_000)]
    pub tree_limit: usize,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// What is computed once per commit or tree and kept: recursive listings,
/// archives, sha256 of blobs.
#[derive(Default)]
pub struct Caches {
    /// (root tree, base URL) → the `?recursive=1` answer.
    pub listings: HashMap<(Oid, String), Bytes>,
    /// (commit, zip?) → the archive.
    pub archives: HashMap<(Oid, bool), Bytes>,
    pub sha256: HashMap<Oid, [u8; 32]>,
}

/// The shared state of the GitHub fake.
pub struct Store {
    pub owner: String,
    pub name: String,
    pub repo_id: u64,
    pub tree_limit: usize,
    pub data: RwLock<Data>,
    pub caches: Mutex<Caches>,
    /// The shared layer, for `GET /rate_limit`.
    pub common: Arc<common::Common>,
}

impl Store {
    pub fn read(&self) -> RwLockReadGuard<'_, Data> {
        self.data.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, Data> {
        self.data.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn caches(&self) -> std::sync::MutexGuard<'_, Caches> {
        self.caches.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `http://HOST/repos/OWNER/NAME`.
    pub fn api_url(&self, base: &str) -> String {
        format!("{base}/repos/{}/{}", self.owner, self.name)
    }

    /// `http://HOST/OWNER/NAME` (the fake serves no HTML: for the `html_url`s).
    pub fn html_url(&self, base: &str) -> String {
        format!("{base}/{}/{}", self.owner, self.name)
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Runs the GitHub fake until killed.
pub async fn run(args: GithubArgs) -> std::io::Result<()> {
    let invalid = |msg: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, msg.to_owned());
    let (owner, name) = args
        .repo
        .split_once('/')
        .filter(|(o, n)| valid_name(o) && valid_name(n))
        .ok_or_else(|| invalid("--repo must be OWNER/NAME"))?;
    if !(0.0..=1.0).contains(&args.binary_share) {
        return Err(invalid("--binary-share must be between 0.0 and 1.0"));
    }
    if args.file_kb == 0 || args.tree_limit == 0 || args.rate_limit_window_s == 0 {
        return Err(invalid(
            "--file-kb, --tree-limit and --rate-limit-window-s must be positive",
        ));
    }
    let cfg = Config {
        seed: args.seed,
        files: args.files,
        file_kb: args.file_kb,
        binary_share: args.binary_share,
        issues: args.issues,
        comments: args.comments,
    };
    let flavor = common::Flavor {
        github_free: errors::free,
        fault_aliases: Some(control::ALIASES),
        ..errors::flavor()
    };
    let faults = common::Faults {
        github_budget: Some(common::GithubBudget {
            limit: args.rate_limit_budget,
            window_s: args.rate_limit_window_s,
        }),
        github_secondary: args
            .secondary_after
            .map(|after| control::secondary(after, args.secondary_retry_after)),
        ..args.common.faults()
    };
    let common = common::Common::with_flavor(faults, COUNTERS, classify, flavor);
    let store = Arc::new(Store {
        owner: owner.to_owned(),
        name: name.to_owned(),
        repo_id: 100_000_000 + mix64(args.seed) % 900_000_000,
        tree_limit: args.tree_limit,
        data: RwLock::new(Data::generate(cfg)),
        caches: Mutex::new(Caches::default()),
        common: common.clone(),
    });
    common::serve(common::router(common, api(store)), &args.common).await
}

/// The routes under `/repos/{owner}/{repo}` (and `/repositories/{id}`,
/// where GitHub's `Link` headers point).
fn repo_routes() -> Router<Arc<Store>> {
    Router::new()
        .route("/branches/{branch}", get(repo::branch))
        .route("/git/ref/{*ref}", get(repo::git_ref))
        .route("/commits/{*ref}", get(repo::commit))
        .route("/git/trees/{tree_sha}", get(repo::tree))
        .route("/git/blobs/{file_sha}", get(repo::blob))
        .route("/compare/{basehead}", get(repo::compare))
        .route("/contents", get(contents::get_root))
        .route(
            "/contents/{*path}",
            get(contents::get)
                .put(contents::put)
                .delete(contents::delete),
        )
        .route("/tarball", get(archive::tarball))
        .route("/tarball/{*ref}", get(archive::tarball))
        .route("/zipball", get(archive::zipball))
        .route("/zipball/{*ref}", get(archive::zipball))
        .route("/issues", get(issues::list_issues))
        .route("/issues/comments", get(issues::list_repo_comments))
        .route(
            "/issues/{number}",
            get(issues::get_issue).patch(issues::patch_issue),
        )
        .route(
            "/issues/{number}/comments",
            get(issues::list_issue_comments).post(issues::create_comment),
        )
        .route("/pulls", get(issues::list_pulls))
        .route("/pulls/comments", get(issues::list_review_comments))
        .route("/pulls/{number}", get(issues::get_pull))
}

fn api(store: Arc<Store>) -> Router {
    let routes = repo_routes();
    Router::new()
        .route("/rate_limit", get(repo::rate_limit))
        .route("/repos/{owner}/{repo}", get(repo::repository))
        .route("/repositories/{id}", get(repo::repository))
        .nest("/repos/{owner}/{repo}", routes.clone())
        .nest("/repositories/{id}", routes)
        .route(
            "/codeload/{owner}/{repo}/{kind}/{sha}",
            get(archive::download),
        )
        .layer(middleware::from_fn_with_state(store.clone(), repo_guard))
        .layer(middleware::from_fn(etag_layer))
        .route("/_control/items", get(control::items))
        .route("/_control/repo", get(control::repo))
        .route("/_control/mutate", post(control::mutate))
        .layer(axum::extract::DefaultBodyLimit::max(128 << 20))
        .with_state(store)
}

fn classify(method: &Method, path: &str) -> Option<&'static str> {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let rest = match segs.as_slice() {
        ["rate_limit"] => return Some("rate_limit"),
        ["codeload", ..] => return Some(common::DOWNLOAD_COUNTER),
        ["repos", _, _, rest @ ..] | ["repositories", _, rest @ ..] => rest,
        _ => return None,
    };
    Some(match (method, rest) {
        (_, []) => "repo",
        (_, ["branches", ..]) => "branch",
        (_, ["git", "ref", ..]) => "ref",
        (_, ["commits", ..]) => "commit",
        (_, ["git", "trees", ..]) => "tree",
        (_, ["git", "blobs", ..]) => "blob",
        (_, ["compare", ..]) => "compare",
        (&Method::PUT, ["contents", ..]) => "contents_put",
        (&Method::DELETE, ["contents", ..]) => "contents_delete",
        (_, ["contents", ..]) => "contents_get",
        (_, ["tarball" | "zipball", ..]) => "archive",
        (_, ["issues" | "pulls", "comments"]) => "comments",
        (&Method::POST, ["issues", _, "comments"]) => "comment_create",
        (_, ["issues", _, "comments"]) => "comments",
        (&Method::PATCH, ["issues", _]) => "issue_patch",
        (_, ["issues", ..]) => "issues",
        (_, ["pulls", ..]) => "pulls",
        _ => return None,
    })
}

/// 404 for any other repository than the one served (GitHub cannot tell
/// "no such repository" from "no access").
async fn repo_guard(State(store): State<Arc<Store>>, req: Request, next: Next) -> Response {
    let segs: Vec<&str> = req.uri().path().split('/').skip(1).collect();
    let ours = match segs.as_slice() {
        ["repos" | "codeload", owner, repo, ..] => {
            owner.eq_ignore_ascii_case(&store.owner) && repo.eq_ignore_ascii_case(&store.name)
        }
        ["repositories", id, ..] => id.parse() == Ok(store.repo_id),
        _ => true,
    };
    if ours {
        next.run(req).await
    } else {
        errors::not_found()
    }
}

/// An `ETag` on every successful GET (of the body, unless the route set
/// one), and `304 Not Modified` when `If-None-Match` names it.
async fn etag_layer(req: Request, next: Next) -> Response {
    if req.method() != Method::GET {
        return next.run(req).await;
    }
    let if_none_match = req.headers().get(header::IF_NONE_MATCH).cloned();
    let resp = next.run(req).await;
    if resp.status() != StatusCode::OK {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let (etag, body) = match parts.headers.get(header::ETAG) {
        Some(etag) => (etag.clone(), body),
        None => {
            let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
                return errors::gh_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Server Error",
                    errors::DOCS,
                );
            };
            let mut h = git::Sha1::default();
            h.update(&bytes);
            let etag = HeaderValue::from_str(&format!("W/\"{}\"", git::hex(&h.finish())))
                .unwrap_or(HeaderValue::from_static("\"0\""));
            parts.headers.insert(header::ETAG, etag.clone());
            (etag, Body::from(bytes))
        }
    };
    if if_none_match.is_some_and(|inm| etag_matches(&inm, &etag)) {
        let mut resp = StatusCode::NOT_MODIFIED.into_response();
        resp.headers_mut().insert(header::ETAG, etag);
        return resp;
    }
    Response::from_parts(parts, body)
}

/// `If-None-Match` (a list, or `*`) against an entity tag, weakly.
fn etag_matches(if_none_match: &HeaderValue, etag: &HeaderValue) -> bool {
    let weak = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let etag = weak(etag.to_str().unwrap_or_default());
    if_none_match
        .to_str()
        .unwrap_or_default()
        .split(',')
        .any(|t| t.trim() == "*" || weak(t) == etag)
}

/// The base URL the client addressed: `http://HOST`.
pub fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// `2025-06-26T20:39:16Z`.
pub fn iso(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// An RFC 3339 time (`since`) as epoch seconds.
pub fn parse_time(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp())
}

/// A request's query, decoded, in order.
#[derive(Debug, Default, Clone)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn parse(raw: Option<&str>) -> Params {
        let decode = |s: &str| {
            percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        Params(
            raw.unwrap_or_default()
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k), decode(v))
                })
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `page` (from 1, at most 10^6) and `per_page` (1 to 100, default
    /// 30); GitHub takes a bad number as the default.
    pub fn paging(&self) -> (usize, usize) {
        let page = self
            .get("page")
            .and_then(|p| p.parse().ok())
            .filter(|p| *p >= 1)
            .unwrap_or(1)
            .min(1_000_000);
        let per = self
            .get("per_page")
            .and_then(|p| p.parse().ok())
            .filter(|p| *p >= 1)
            .unwrap_or(30);
        (page, per.min(100))
    }

    /// True when `page` or `per_page` is given.
    pub fn paged(&self) -> bool {
        self.get("page").is_some() || self.get("per_page").is_some()
    }
}

const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// GitHub's `Link` header for page `page` of `last` (none when there is a
/// single page): absolute links to `/repositories/{id}/...`, the caller's
/// query kept with `page` replaced, `rel` in GitHub's order (prev, next,
/// last, first).
pub fn link_header(
    store: &Store,
    headers: &HeaderMap,
    path: &str,
    params: &Params,
    page: usize,
    last: usize,
) -> Option<HeaderValue> {
    if last <= 1 {
        return None;
    }
    let prefix = format!("/repos/{}/{}", store.owner, store.name);
    let path = match path.get(..prefix.len()) {
        Some(p) if p.eq_ignore_ascii_case(&prefix) => {
            format!("/repositories/{}{}", store.repo_id, &path[prefix.len()..])
        }
        _ => path.to_owned(),
    };
    let base = base_url(headers);
    let link = |n: usize| {
        let mut q: Vec<String> = params
            .0
            .iter()
            .filter(|(k, _)| k != "page")
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    utf8_percent_encode(k, QUERY),
                    utf8_percent_encode(v, QUERY)
                )
            })
            .collect();
        q.push(format!("page={n}"));
        format!("<{base}{path}?{}>", q.join("&"))
    };
    let mut rels = Vec::new();
    if page > 1 {
        rels.push(format!("{}; rel=\"prev\"", link(page.min(last + 1) - 1)));
    }
    if page < last {
        rels.push(format!("{}; rel=\"next\"", link(page + 1)));
        rels.push(format!("{}; rel=\"last\"", link(last)));
    }
    if page > 1 {
        rels.push(format!("{}; rel=\"first\"", link(1)));
    }
    HeaderValue::from_str(&rels.join(", ")).ok()
}

/// A 200 JSON answer with an optional `Link` header.
pub fn json_with_link(body: &serde_json::Value, link: Option<HeaderValue>) -> Response {
    let mut resp = common::json_bytes(serde_json::to_vec(body).unwrap_or_default());
    if let Some(link) = link {
        resp.headers_mut().insert(header::LINK, link);
    }
    resp
}

/// Parses a write's JSON body, `None` (→ 400 `Problems parsing JSON`)
/// unless it is an object.
pub fn json_object(body: &Bytes) -> Option<serde_json::Map<String, serde_json::Value>> {
    match serde_json::from_slice(body) {
        Ok(serde_json::Value::Object(m)) => Some(m),
        _ => None,
    }
}
