//! The Confluence Cloud fake (`synchost-fake confluence`): one space served
//! through the v2 REST API, v1 CQL search and attachment downloads, faithful
//! to the official OpenAPI files and `api-contracts.md` §1 (see
//! `docs/confluence.md`, "The fake").
//!
//! - [`data`]: the dataset and its indexes; [`mutate`]: `/_control/mutate`;
//! - [`content`]: deterministic titles, bodies and attachment bytes;
//! - [`cql`]: the CQL subset; [`cursor`]: cursors and link encoding;
//! - [`v2`] (with [`v2_params`] and [`v2_render`]), [`v1`] (with
//!   [`search`]): the API routes; [`write`]: page updates, creations and
//!   deletions; [`control`]: `/_control/items`,
//!   `/_control/mutate` and the `missing_pages` fault; [`shapes`]: the
//!   `spec_edges`, `malformed` and `nameless` faults.
//!
//! Errors follow each API's style: v2 routes answer the
//! `{"errors":[{"status","code","title","detail"}]}` envelope, v1 routes
//! `{"statusCode","message","reason",...}`, unknown routes under
//! `/wiki/rest/` Jersey's `null for uri: ...`, other unknown routes the
//! Spring-style `{"timestamp","status","error","message","path"}`.
//!
//! Choices where the contract is unsure ([U]):
//! - 401 (with `--email E --token T`, missing or wrong `Authorization:
//!   Basic base64(E:T)`): v2 `{"errors":[{"status":401,"code":"UNAUTHORIZED",
//!   "title":"Unauthorized; scope does not match","detail":null}]}`, elsewhere
//!   `{"statusCode":401,"message":"Client must be authenticated to access this
//!   resource.","reason":"Unauthorized"}`; both with `WWW-Authenticate: Basic`.
//! - 429: the same two styles (`TOO_MANY_REQUESTS` / `statusCode` 429) with
//!   `Retry-After`, `X-RateLimit-Limit`, `X-RateLimit-Remaining: 0`,
//!   `X-RateLimit-NearLimit: true`, `X-RateLimit-Reset` (RFC 3339) and
//!   `RateLimit-Reason: confluence-quota-tenant-based`. Successful answers
//!   carry `X-RateLimit-Limit`/`-Remaining`, and `X-RateLimit-NearLimit: true`
//!   when less than 20% of the bucket is left.
//! - Injected failures: 500 in the route's JSON style, 502 an HTML page, 503
//!   plain text (no `Retry-After`).
//! - The last page of a v2 list has a `Link` header with `rel="base"` only.
//! - Downloads answer the bytes directly (no redirect to a media host).
//! - Deleting a page moves its child pages and folders to its parent, each
//!   with a new version (reported as `reparented`); its attachments and
//!   comments go with it.
//! - CQL search caps `limit` at 200, 50 with a `body.*` expansion, 25 with
//!   `body.export_view`/`body.styled_view`; no `ORDER BY` means
//!   `lastmodified DESC`.

pub mod annot;
pub mod content;
pub mod control;
pub mod cql;
pub mod cursor;
pub mod data;
pub mod mutate;
pub mod search;
pub mod shapes;
pub mod v1;
pub mod v1_content;
pub mod v1_meta;
pub mod v1_page;
pub mod v2;
pub mod v2_params;
pub mod v2_render;
pub mod v2_sub;
pub mod write;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard};

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::common::{self, CommonArgs, Flavor};
use data::{Config, Data, Ms};

/// Stats counters, in the order `/_control/stats` shows them.
pub const COUNTERS: &[&str] = &[
    "spaces",
    "space_pages",
    "bulk_pages",
    "page",
    "folder",
    "attachments_list",
    "comments_list",
    "children",
    "attachment",
    "cql",
    "search",
    "content",
    "download",
    "page_update",
    "page_create",
    "page_delete",
    "blogposts_list",
    "blogpost",
    "blogpost_update",
    "blogpost_create",
    "blogpost_delete",
    "inline_comments_list",
    "inline_comment",
    "labels",
    "label_write",
    "properties",
    "restrictions",
    "content_list",
    "space_v1",
    "children_v1",
];

/// `synchost-fake confluence`.
#[derive(clap::Args, Debug, Clone)]
pub struct ConfluenceArgs {
    /// Number of pages.
    #[arg(long)]
    pub pages: u32,
    /// Attachments on each page and blog post.
    #[arg(long, default_value_t = 0)]
    pub attachments_per_page: u32,
    /// Number of folders.
    #[arg(long, default_value_t = 0)]
    pub folders: u32,
    /// The space key.
    #[arg(long, default_value = "DOCS")]
    pub space: String,
    /// Footer comments on each page and blog post.
    #[arg(long, default_value_t = 0)]
    pub comments_per_page: u32,
    /// Number of blog posts (default: a tenth of --pages).
    #[arg(long)]
    pub blogposts: Option<u32>,
    /// Inline comments on each page and blog post (each anchored by a
    /// marker in the body).
    #[arg(long, default_value_t = 0)]
    pub inline_comments_per_page: u32,
    /// Size of every attachment, in bytes.
    #[arg(long, default_value_t = 8192)]
    pub attachment_bytes: u32,
    /// Seed of the dataset and of the changes `/_control/mutate` makes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// With --token: require HTTP basic auth `EMAIL:TOKEN` on every
    /// non-control request.
    #[arg(long, requires = "token")]
    pub email: Option<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Cached digests of one (id, version): the bytes or storage body, and the
/// atlas_doc_format body for pages and comments.
pub type ShaEntry = ([u8; 32], Option<[u8; 32]>);

/// The shared state of the Confluence fake.
pub struct Store {
    pub seed: u64,
    pub space_key: String,
    pub space_id: u64,
    pub attachment_bytes: usize,
    pub data: RwLock<Data>,
    /// sha256 of attachment bytes, or of a page's or comment's storage and
    /// atlas_doc_format bodies, by (id, version) (ids are unique across kinds).
    pub sha_cache: Mutex<HashMap<(u64, u32), ShaEntry>>,
    /// The `spec_edges`, `malformed` and `nameless` faults.
    pub shapes: Mutex<shapes::Shapes>,
}

impl Store {
    pub fn new(cfg: &Config, space_key: &str, attachment_bytes: usize) -> Store {
        Store {
            seed: cfg.seed,
            space_key: space_key.to_owned(),
            space_id: 131_072 + content::mix(cfg.seed, 3, 0, 0) % 900_000,
            attachment_bytes,
            data: RwLock::new(Data::generate(cfg)),
            sha_cache: Mutex::new(HashMap::new()),
            shapes: Mutex::new(shapes::Shapes::default()),
        }
    }

    /// The shape faults in force.
    pub fn shapes(&self) -> std::sync::MutexGuard<'_, shapes::Shapes> {
        self.shapes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn read(&self) -> RwLockReadGuard<'_, Data> {
        self.data.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, Data> {
        self.data.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs the Confluence fake until killed.
pub async fn run(args: ConfluenceArgs) -> std::io::Result<()> {
    let invalid = |msg: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, msg.to_owned());
    if args.common.token.is_some() && args.email.is_none() {
        return Err(invalid(
            "--token needs --email (HTTP basic auth EMAIL:TOKEN)",
        ));
    }
    if args.space.is_empty()
        || !args
            .space
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '~')
    {
        return Err(invalid("--space must be a space key (letters and digits)"));
    }
    let cfg = Config {
        pages: args.pages,
        folders: args.folders,
        attachments_per_page: args.attachments_per_page,
        comments_per_page: args.comments_per_page,
        blogposts: args.blogposts.unwrap_or(args.pages / 10),
        inline_comments_per_page: args.inline_comments_per_page,
        seed: args.seed,
    };
    let store = Arc::new(Store::new(
        &cfg,
        &args.space,
        args.attachment_bytes as usize,
    ));
    let flavor = Flavor {
        basic_user: args.email.as_deref().map(Arc::from),
        unauthorized,
        rate_limited,
        injected_failure,
        not_found,
        method_not_allowed,
        atlassian_rate_headers: true,
        extra_faults: Some(Arc::new(control::ConfluenceFaults(store.clone()))),
        ..Flavor::default()
    };
    let common = common::Common::with_flavor(args.common.faults(), COUNTERS, classify, flavor);
    common::serve(common::router(common, api(store)), &args.common).await
}

fn api(store: Arc<Store>) -> Router {
    Router::new()
        .route("/wiki/api/v2/spaces", get(v2::spaces))
        .route("/wiki/api/v2/spaces/{id}", get(v2::space))
        .route("/wiki/api/v2/spaces/{id}/pages", get(v2::space_pages))
        .route(
            "/wiki/api/v2/pages",
            get(v2::bulk_pages).post(write::create_page),
        )
        .route(
            "/wiki/api/v2/pages/{id}",
            get(v2_sub::page)
                .put(write::update_page)
                .delete(write::delete_page),
        )
        .route(
            "/wiki/api/v2/pages/{id}/attachments",
            get(v2_sub::page_attachments),
        )
        .route(
            "/wiki/api/v2/pages/{id}/footer-comments",
            get(v2_sub::page_comments),
        )
        .route(
            "/wiki/api/v2/pages/{id}/inline-comments",
            get(v2_sub::page_inline_comments),
        )
        .route("/wiki/api/v2/pages/{id}/labels", get(v2_sub::page_labels))
        .route(
            "/wiki/api/v2/pages/{id}/properties",
            get(v2_sub::page_properties),
        )
        .route(
            "/wiki/api/v2/pages/{id}/properties/{property}",
            get(v2_sub::page_property),
        )
        .route(
            "/wiki/api/v2/blogposts",
            get(v2_sub::bulk_blogposts).post(write::create_blogpost),
        )
        .route(
            "/wiki/api/v2/blogposts/{id}",
            get(v2_sub::blogpost)
                .put(write::update_blogpost)
                .delete(write::delete_blogpost),
        )
        .route(
            "/wiki/api/v2/blogposts/{id}/attachments",
            get(v2_sub::blogpost_attachments),
        )
        .route(
            "/wiki/api/v2/blogposts/{id}/footer-comments",
            get(v2_sub::blogpost_comments),
        )
        .route(
            "/wiki/api/v2/blogposts/{id}/inline-comments",
            get(v2_sub::blogpost_inline_comments),
        )
        .route(
            "/wiki/api/v2/blogposts/{id}/labels",
            get(v2_sub::blogpost_labels),
        )
        .route(
            "/wiki/api/v2/blogposts/{id}/properties",
            get(v2_sub::blogpost_properties),
        )
        .route(
            "/wiki/api/v2/blogposts/{id}/properties/{property}",
            get(v2_sub::blogpost_property),
        )
        .route(
            "/wiki/api/v2/spaces/{id}/blogposts",
            get(v2_sub::space_blogposts),
        )
        .route(
            "/wiki/api/v2/inline-comments",
            get(v2_sub::all_inline_comments),
        )
        .route(
            "/wiki/api/v2/inline-comments/{id}",
            get(v2_sub::inline_comment),
        )
        .route("/wiki/api/v2/labels/{id}/pages", get(v2_sub::label_pages))
        .route(
            "/wiki/api/v2/labels/{id}/blogposts",
            get(v2_sub::label_blogposts),
        )
        .route("/wiki/api/v2/pages/{id}/children", get(v2::page_children))
        .route(
            "/wiki/api/v2/pages/{id}/direct-children",
            get(v2::page_direct_children),
        )
        .route("/wiki/api/v2/folders/{id}", get(v2::folder))
        .route(
            "/wiki/api/v2/folders/{id}/direct-children",
            get(v2::folder_direct_children),
        )
        .route("/wiki/api/v2/attachments/{id}", get(v2::attachment))
        .route("/wiki/rest/api/content/search", get(v1::content_search))
        .route("/wiki/rest/api/content/{id}", get(v1::content))
        .route("/wiki/rest/api/content", get(v1_content::list))
        .route("/wiki/rest/api/space/{key}", get(v1_content::space))
        .route("/wiki/rest/api/content/{id}/child", get(v1_content::child))
        .route(
            "/wiki/rest/api/content/{id}/child/{type}",
            get(v1_content::children),
        )
        .route(
            "/wiki/rest/api/content/{id}/label",
            get(v1_meta::labels)
                .post(v1_meta::add_labels)
                .delete(v1_meta::delete_label_query),
        )
        .route(
            "/wiki/rest/api/content/{id}/label/{label}",
            axum::routing::delete(v1_meta::delete_label_path),
        )
        .route(
            "/wiki/rest/api/content/{id}/property",
            get(v1_meta::properties),
        )
        .route(
            "/wiki/rest/api/content/{id}/property/{key}",
            get(v1_meta::property),
        )
        .route(
            "/wiki/rest/api/content/{id}/restriction",
            get(v1_meta::restrictions),
        )
        .route(
            "/wiki/rest/api/content/{id}/restriction/byOperation",
            get(v1_meta::restrictions_by_operation),
        )
        .route(
            "/wiki/rest/api/content/{id}/restriction/byOperation/{op}",
            get(v1_meta::restrictions_by_operation),
        )
        .route("/wiki/rest/api/search", get(v1::site_search))
        .route(
            "/wiki/rest/api/content/{id}/child/attachment/{att}/download",
            get(v1::attachment_download_redirect),
        )
        .route(
            "/wiki/download/attachments/{page}/{file}",
            get(v1::download),
        )
        .route("/_control/items", get(control::ground_truth))
        .route("/_control/mutate", axum::routing::post(control::mutate))
        .route("/_control/retitle", axum::routing::post(control::retitle))
        // Bodies up to the spec's limit reach the handlers, which answer
        // 413 above it in the API's envelope.
        .layer(axum::extract::DefaultBodyLimit::max(
            write::MAX_BODY_BYTES + 1024,
        ))
        .with_state(store)
}

fn classify(method: &Method, path: &str) -> Option<&'static str> {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    match (method, segs.as_slice()) {
        (&Method::POST, ["wiki", "api", "v2", "pages"]) => return Some("page_create"),
        (&Method::PUT, ["wiki", "api", "v2", "pages", _]) => return Some("page_update"),
        (&Method::DELETE, ["wiki", "api", "v2", "pages", _]) => return Some("page_delete"),
        (&Method::POST, ["wiki", "api", "v2", "blogposts"]) => return Some("blogpost_create"),
        (&Method::PUT, ["wiki", "api", "v2", "blogposts", _]) => return Some("blogpost_update"),
        (&Method::DELETE, ["wiki", "api", "v2", "blogposts", _]) => return Some("blogpost_delete"),
        (&Method::POST | &Method::DELETE, ["wiki", "rest", "api", "content", _, "label", ..]) => {
            return Some("label_write")
        }
        _ => {}
    }
    match segs.as_slice() {
        ["wiki", "api", "v2", "spaces"] | ["wiki", "api", "v2", "spaces", _] => Some("spaces"),
        ["wiki", "api", "v2", "spaces", _, "pages"] => Some("space_pages"),
        ["wiki", "api", "v2", "pages"] => Some("bulk_pages"),
        ["wiki", "api", "v2", "pages", _] => Some("page"),
        ["wiki", "api", "v2", "pages", _, "attachments"] => Some("attachments_list"),
        ["wiki", "api", "v2", "pages" | "blogposts", _, "footer-comments"] => Some("comments_list"),
        ["wiki", "api", "v2", "pages" | "blogposts", _, "inline-comments"]
        | ["wiki", "api", "v2", "inline-comments"] => Some("inline_comments_list"),
        ["wiki", "api", "v2", "inline-comments", _] => Some("inline_comment"),
        ["wiki", "api", "v2", "blogposts"]
        | ["wiki", "api", "v2", "spaces", _, "blogposts"]
        | ["wiki", "api", "v2", "labels", _, "pages" | "blogposts"] => Some("blogposts_list"),
        ["wiki", "api", "v2", "blogposts", _] => Some("blogpost"),
        ["wiki", "api", "v2", "blogposts", _, "attachments"] => Some("attachments_list"),
        ["wiki", "api", "v2", "pages" | "blogposts", _, "labels"]
        | ["wiki", "rest", "api", "content", _, "label", ..] => Some("labels"),
        ["wiki", "api", "v2", "pages" | "blogposts", _, "properties", ..]
        | ["wiki", "rest", "api", "content", _, "property", ..] => Some("properties"),
        ["wiki", "rest", "api", "content", _, "restriction", ..] => Some("restrictions"),
        ["wiki", "rest", "api", "content"] => Some("content_list"),
        ["wiki", "rest", "api", "space", _] => Some("space_v1"),
        ["wiki", "rest", "api", "content", _, "child", ..] if !path.ends_with("/download") => {
            Some("children_v1")
        }
        ["wiki", "api", "v2", "pages" | "folders", _, "children" | "direct-children"] => {
            Some("children")
        }
        ["wiki", "api", "v2", "folders", _] => Some("folder"),
        ["wiki", "api", "v2", "attachments", _] => Some("attachment"),
        ["wiki", "rest", "api", "content", "search"] => Some("cql"),
        ["wiki", "rest", "api", "content", _] => Some("content"),
        ["wiki", "rest", "api", "search"] => Some("search"),
        ["wiki", "download", ..]
        | ["wiki", "rest", "api", "content", _, "child", "attachment", _, "download"] => {
            Some("download")
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Shared helpers

/// `2025-06-26T20:39:16.596Z`.
pub fn iso_ms(ms: Ms) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The site's `/wiki` base as the client addressed it: `http://HOST/wiki`.
pub fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or("localhost");
    format!("http://{host}/wiki")
}

fn is_v2(path: &str) -> bool {
    path.starts_with("/wiki/api/v2")
}

/// The v2 error envelope: `{"errors":[{"status","code","title","detail":null}]}`.
pub fn v2_error(status: StatusCode, code: &str, title: impl Into<String>) -> Response {
    let title: String = title.into();
    (
        status,
        Json(json!({"errors": [{"status": status.as_u16(), "code": code, "title": title, "detail": null}]})),
    )
        .into_response()
}

/// A v1 error: `{"statusCode","data":{...},"message","reason"}`.
pub fn v1_error(status: StatusCode, message: impl Into<String>) -> Response {
    let message: String = message.into();
    (
        status,
        Json(json!({
            "statusCode": status.as_u16(),
            "data": {"authorized": false, "valid": true, "allowedInReadOnlyMode": true, "errors": [], "successful": false},
            "message": message,
            "reason": status.canonical_reason().unwrap_or(""),
        })),
    )
        .into_response()
}

/// 400 `INVALID_REQUEST_PARAMETER`.
pub fn v2_bad_param(title: impl Into<String>) -> Response {
    v2_error(StatusCode::BAD_REQUEST, "INVALID_REQUEST_PARAMETER", title)
}

fn unauthorized(path: &str) -> Response {
    let mut resp = if is_v2(path) {
        v2_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "Unauthorized; scope does not match",
        )
    } else {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({
                "statusCode": 401,
                "message": "Client must be authenticated to access this resource.",
                "reason": "Unauthorized",
            })),
        )
            .into_response()
    };
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Confluence\""),
    );
    resp
}

fn rate_limited(path: &str) -> Response {
    if is_v2(path) {
        v2_error(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_REQUESTS",
            "Rate limit exceeded",
        )
    } else {
        (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"statusCode": 429, "message": "Rate limit exceeded", "reason": "Too Many Requests"})),
        )
            .into_response()
    }
}

/// 500: the API's JSON error; 502: an HTML page from the edge; 503: plain text.
fn injected_failure(path: &str, status: StatusCode) -> Response {
    match status.as_u16() {
        502 => (
            status,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>",
        )
            .into_response(),
        503 => (status, [(header::CONTENT_TYPE, "text/plain")], "Service Unavailable").into_response(),
        _ if is_v2(path) => v2_error(status, "INTERNAL_SERVER_ERROR", "Internal Server Error"),
        _ => v1_error(status, "java.lang.RuntimeException: injected failure"),
    }
}

/// Unknown routes: Jersey's answer under `/wiki/rest/`, Spring's elsewhere.
fn not_found(_method: &Method, path: &str) -> Response {
    if path.starts_with("/wiki/rest/") {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"statusCode": 404, "message": format!("null for uri: {path}"), "reason": "Not Found"})),
        )
            .into_response();
    }
    (
        StatusCode::NOT_FOUND,
        Json(json!({
            "timestamp": Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true),
            "status": 404,
            "error": "Not Found",
            "message": "No message available",
            "path": path,
        })),
    )
        .into_response()
}

fn method_not_allowed(_method: &Method, path: &str) -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(json!({
            "timestamp": Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true),
            "status": 405,
            "error": "Method Not Allowed",
            "message": "Method Not Allowed",
            "path": path,
        })),
    )
        .into_response()
}

/// A 200 JSON response.
pub fn json_ok(v: &Value) -> Response {
    match serde_json::to_vec(v) {
        Ok(bytes) => common::json_bytes(bytes),
        Err(e) => v2_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            e.to_string(),
        ),
    }
}

/// Query parameters: the first value of a name, or all values of a name
/// split at commas (`id=1,2&id=3`).
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        let mut out = Vec::new();
        let mut seen = false;
        for (k, v) in &self.0 {
            if k == name || k.strip_suffix("[]") == Some(name) {
                seen = true;
                out.extend(
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                );
            }
        }
        seen.then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_paths() {
        let c = |p: &str| classify(&Method::GET, p);
        assert_eq!(c("/wiki/api/v2/spaces"), Some("spaces"));
        assert_eq!(c("/wiki/api/v2/spaces/12/pages"), Some("space_pages"));
        assert_eq!(c("/wiki/api/v2/pages"), Some("bulk_pages"));
        assert_eq!(c("/wiki/api/v2/pages/5"), Some("page"));
        assert_eq!(
            c("/wiki/api/v2/pages/5/attachments"),
            Some("attachments_list")
        );
        assert_eq!(
            c("/wiki/api/v2/pages/5/footer-comments"),
            Some("comments_list")
        );
        assert_eq!(
            c("/wiki/api/v2/folders/5/direct-children"),
            Some("children")
        );
        assert_eq!(c("/wiki/api/v2/folders/5"), Some("folder"));
        assert_eq!(c("/wiki/rest/api/content/search"), Some("cql"));
        assert_eq!(c("/wiki/rest/api/content/77"), Some("content"));
        assert_eq!(
            c("/wiki/download/attachments/1/a%20b.png"),
            Some("download")
        );
        assert_eq!(c("/wiki/nope"), None);
        assert_eq!(
            classify(&Method::PUT, "/wiki/api/v2/pages/5"),
            Some("page_update")
        );
        assert_eq!(
            classify(&Method::DELETE, "/wiki/api/v2/pages/5"),
            Some("page_delete")
        );
        assert_eq!(
            classify(&Method::POST, "/wiki/api/v2/pages"),
            Some("page_create")
        );
    }

    #[test]
    fn params() {
        let p = Params(vec![
            ("id".into(), "1, 2".into()),
            ("id".into(), "3".into()),
            ("limit".into(), "5".into()),
        ]);
        assert_eq!(p.list("id").unwrap(), ["1", "2", "3"]);
        assert_eq!(p.get("limit"), Some("5"));
        assert_eq!(p.list("space-id"), None);
        assert_eq!(iso_ms(1_751_000_000_123), "2025-06-27T04:53:20.123Z");
    }
}
