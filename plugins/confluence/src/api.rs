//! The Confluence REST API as this plugin uses it: the requests it sends
//! (each one a path and parameters of the official v2 or v1 OpenAPI
//! document) and the response fields it reads (see "shapes" below for how
//! tolerantly).
//!
//! v2 (`/wiki/api/v2`) lists and fetches pages and folders; v1
//! (`/wiki/rest/api/content/search`) answers CQL, the only way to ask what
//! changed since a date, and the only listing of folders, attachments and
//! comments across a space.

use crate::config::BodyFormat;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};
use synchost_sdk::http::{self, encode, Request, Response};
use synchost_sdk::{lenient, Error};

/// The largest `limit` the v2 endpoints accept (a larger one is a 400).
pub const V2_MAX_LIMIT: u32 = 250;

/// The largest `limit` sent to the v1 content search. The spec gives no
/// maximum ("may be restricted by fixed system limits"); 200 is the value of
/// the design (`docs/confluence.md`), and a server that returns fewer is
/// followed page by page all the same.
pub const V1_SEARCH_MAX_LIMIT: u32 = 200;

// ---------------------------------------------------------------- requests

/// A GET asking for JSON.
fn get(url: String) -> Request {
    Request::get(url).header("accept", "application/json")
}

/// A request as named in messages (`GET https://…`) and what it ended in.
pub type Sent = (String, Result<Response, Error>);

/// Sends `requests` together (one `send_batch`); each answer with its
/// request's name.
pub fn send_batch(requests: Vec<Request>) -> Vec<Sent> {
    let whats: Vec<String> = requests
        .iter()
        .map(|r| format!("{} {}", r.method(), r.url()))
        .collect();
    whats.into_iter().zip(http::send_batch(requests)).collect()
}

/// A GET of a next link, already resolved (see [`crate::cursor`]).
pub fn follow(url: String) -> Request {
    get(url)
}

/// `GET /wiki/api/v2/spaces?keys=KEY`: the space's id.
pub fn space_by_key(base_url: &str, key: &str) -> Request {
    get(format!("{base_url}/wiki/api/v2/spaces")).query("keys", key)
}

/// Pages and blog posts: the same shapes and requests under another path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Page,
    BlogPost,
}

impl Kind {
    /// The v2 path segment: `pages`, `blogposts`.
    pub fn path(self) -> &'static str {
        match self {
            Kind::Page => "pages",
            Kind::BlogPost => "blogposts",
        }
    }

    /// What one is called in messages.
    pub fn item(self) -> &'static str {
        match self {
            Kind::Page => "page",
            Kind::BlogPost => "blog post",
        }
    }
}

/// `GET /wiki/api/v2/spaces/{id}/{pages|blogposts}?limit=L[&body-format=F]`:
/// one page of the space's pages or blog posts, with bodies unless `body` is
/// `None`.
pub fn space_contents(
    base_url: &str,
    kind: Kind,
    space_id: &str,
    limit: u32,
    body: Option<BodyFormat>,
) -> Request {
    get(format!(
        "{base_url}/wiki/api/v2/spaces/{}/{}",
        encode(space_id),
        kind.path()
    ))
    .query("limit", limit.clamp(1, V2_MAX_LIMIT))
    .query_opt("body-format", body.map(BodyFormat::api_name))
}

/// `GET /wiki/api/v2/{pages|blogposts}?id=1,2,…&body-format=F&limit=250`:
/// up to 250 pages (blog posts) by id, with bodies, in one request.
pub fn by_id(base_url: &str, kind: Kind, ids: &[&str], body: BodyFormat) -> Request {
    debug_assert!(ids.len() <= V2_MAX_LIMIT as usize);
    get(format!(
        "{base_url}/wiki/api/v2/{}?id={}",
        kind.path(),
        list_value(ids)
    ))
    .query("body-format", body.api_name())
    .query("limit", V2_MAX_LIMIT)
}

/// `GET /wiki/api/v2/folders/{id}`.
pub fn folder(base_url: &str, id: &str) -> Request {
    get(format!("{base_url}/wiki/api/v2/folders/{}", encode(id)))
}

/// `GET /wiki/api/v2/attachments/{id}` (`att123` or `123`).
pub fn attachment(base_url: &str, id: &str) -> Request {
    get(format!("{base_url}/wiki/api/v2/attachments/{}", encode(id)))
}

/// `GET /wiki/rest/api/content/{id}?expand=a,b`: one item through v1
/// (comments, which v2 splits into footer and inline ones).
pub fn content(base_url: &str, id: &str, expand: &[&str]) -> Request {
    get(format!(
        "{base_url}/wiki/rest/api/content/{}?expand={}",
        encode(id),
        list_value(expand)
    ))
}

/// `GET /wiki/rest/api/content/search?cql=…&limit=L&expand=a,b`.
pub fn content_search(base_url: &str, cql: &str, limit: u32, expand: &[&str]) -> Request {
    get(format!(
        "{base_url}/wiki/rest/api/content/search?cql={}&limit={}&expand={}",
        encode(cql),
        limit.clamp(1, V1_SEARCH_MAX_LIMIT),
        list_value(expand)
    ))
}

/// `GET /wiki/api/v2/{pages|blogposts}/{id}?body-format=F`: one page (blog
/// post) with its body.
pub fn one(base_url: &str, kind: Kind, id: &str, body: BodyFormat) -> Request {
    get(one_url(base_url, kind, id)).query("body-format", body.api_name())
}

fn one_url(base_url: &str, kind: Kind, id: &str) -> String {
    format!("{base_url}/wiki/api/v2/{}/{}", kind.path(), encode(id))
}

/// `GET /wiki/api/v2/{pages|blogposts}/{id}?version=N`: the page as it was
/// at version `N` (its `version.message` says who wrote it).
pub fn one_version(
    base_url: &str,
    kind: Kind,
    id: &str,
    body: BodyFormat,
    version: i64,
) -> Request {
    one(base_url, kind, id, body).query("version", version)
}

/// `GET /wiki/api/v2/{pages|blogposts}?space-id=S&title=T&body-format=F`:
/// the space's pages (blog posts) with exactly this title (at most one,
/// titles being unique in a space), with bodies.
pub fn by_title(
    base_url: &str,
    kind: Kind,
    space_id: &str,
    title: &str,
    body: BodyFormat,
) -> Request {
    get(format!("{base_url}/wiki/api/v2/{}", kind.path()))
        .query("space-id", space_id)
        .query("title", title)
        .query("body-format", body.api_name())
}

/// The `body` of a write (`PageBodyWrite`, the flat form).
fn body_write(format: BodyFormat, value: &str) -> Value {
    json!({"representation": format.api_name(), "value": value})
}

/// `PUT /wiki/api/v2/{pages|blogposts}/{id}` (`PageUpdateRequest`,
/// `BlogPostUpdateRequest`): the new title and body as version `number`,
/// with `message`. No `parentId`: the page stays where it is.
#[allow(clippy::too_many_arguments)]
pub fn update(
    base_url: &str,
    kind: Kind,
    id: &str,
    title: &str,
    format: BodyFormat,
    value: &str,
    number: i64,
    message: &str,
) -> Request {
    Request::put(one_url(base_url, kind, id))
        .header("accept", "application/json")
        .json(&json!({
            "id": id,
            "status": "current",
            "title": title,
            "body": body_write(format, value),
            "version": {"number": number, "message": message},
        }))
}

/// `POST /wiki/api/v2/pages` (`PageCreateRequest`): a current page in the
/// space, under `parent_id` (a page or folder; the space's root page when
/// none). `POST /wiki/api/v2/blogposts` (`BlogPostCreateRequest`) for a blog
/// post, which has no parent.
pub fn create(
    base_url: &str,
    kind: Kind,
    space_id: &str,
    title: &str,
    parent_id: Option<&str>,
    format: BodyFormat,
    value: &str,
) -> Request {
    let mut body = json!({
        "spaceId": space_id,
        "status": "current",
        "title": title,
        "body": body_write(format, value),
    });
    // Without a parent the API would put the page below the space's
    // homepage: `root-level=true` puts it at the top, as the mirror has it.
    let url = match (kind, parent_id) {
        (Kind::BlogPost, _) => format!("{base_url}/wiki/api/v2/blogposts"),
        (Kind::Page, Some(parent)) => {
            body["parentId"] = Value::from(parent);
            format!("{base_url}/wiki/api/v2/pages")
        }
        (Kind::Page, None) => format!("{base_url}/wiki/api/v2/pages?root-level=true"),
    };
    Request::post(url)
        .header("accept", "application/json")
        .json(&body)
}

/// `DELETE /wiki/api/v2/{pages|blogposts}/{id}`: moves the page to the
/// trash (204).
pub fn delete(base_url: &str, kind: Kind, id: &str) -> Request {
    Request::delete(one_url(base_url, kind, id))
}

/// `POST /wiki/rest/api/content/{id}/label` with `[{prefix: "global", name}]`:
/// adds labels (those already there stay); the answer is a `LabelArray` of
/// all the labels the content has now.
pub fn add_labels(base_url: &str, id: &str, names: &[String]) -> Request {
    let labels: Vec<Value> = names
        .iter()
        .map(|name| json!({"prefix": "global", "name": name}))
        .collect();
    Request::post(format!(
        "{base_url}/wiki/rest/api/content/{}/label",
        encode(id)
    ))
    .header("accept", "application/json")
    .json(&Value::Array(labels))
}

/// `DELETE /wiki/rest/api/content/{id}/label?name=N`: removes one label
/// (204). The query form takes any name, `/` included.
pub fn remove_label(base_url: &str, id: &str, name: &str) -> Request {
    Request::delete(format!(
        "{base_url}/wiki/rest/api/content/{}/label",
        encode(id)
    ))
    .query("name", name)
}

/// A list parameter as both specs describe it (`style: form, explode:
/// false`): items percent-encoded, joined by literal commas, so a server
/// that splits before decoding reads it as well as one that decodes first.
/// (The SDK's `query` would encode the commas too.)
fn list_value(items: &[&str]) -> String {
    let encoded: Vec<String> = items.iter().map(|item| encode(item)).collect();
    encoded.join(",")
}

/// The ids the v2 `id` filter accepts (int64 in the spec).
pub fn is_content_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 19 && id.bytes().all(|b| b.is_ascii_digit())
}

// ---------------------------------------------------------------- errors

/// `Ok(response)` for a success; otherwise the SDK's classification
/// (401 auth, 429 rate-limited, 404 not-found, 5xx transient, …) with the
/// API's own message where it gives one. `what` names the request.
pub fn check(response: Response, what: &str) -> Result<Response, Error> {
    let Some(error) = response.status_error() else {
        return Ok(response);
    };
    let Some(message) = api_message(&response.body) else {
        return Err(error);
    };
    let text = format!(
        "{what}: Confluence answered HTTP {}: {message}",
        response.status
    );
    Err(match error {
        Error::Auth(_) => Error::Auth(text),
        Error::NotFound(_) => Error::NotFound(text),
        Error::Transient(_) => Error::Transient(text),
        Error::Conflict(_) => Error::Conflict(text),
        Error::Fatal(_) => Error::Fatal(text),
        other => other, // rate-limited carries seconds, not text
    })
}

/// Like [`check`], for a listing: a 404 there is no missing item to skip but
/// a space or cursor the API no longer knows, so it stops the run as fatal.
pub fn check_listing(response: Response, what: &str) -> Result<Response, Error> {
    check(response, what).map_err(|e| match e {
        Error::NotFound(m) => Error::Fatal(m),
        other => other,
    })
}

/// The readable part of an error body: the v2 envelope
/// `{"errors":[{"status","code","title","detail"}]}` (titles and details
/// joined), v1's `{"statusCode","message","reason"}`, or a Spring-style
/// `{"status","error","message"}`.
pub fn api_message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(default)]
        errors: Vec<V2Error>,
        message: Option<String>,
    }
    #[derive(Deserialize)]
    struct V2Error {
        code: Option<String>,
        title: Option<String>,
        detail: Option<String>,
    }
    let envelope: Envelope = serde_json::from_slice(body).ok()?;
    let parts: Vec<String> = envelope
        .errors
        .iter()
        .filter_map(|e| {
            let text = match (&e.title, &e.detail) {
                (Some(t), Some(d)) if !d.is_empty() => format!("{t} ({d})"),
                (Some(t), _) => t.clone(),
                (None, Some(d)) => d.clone(),
                (None, None) => e.code.clone()?,
            };
            Some(text)
        })
        .collect();
    if !parts.is_empty() {
        return Some(parts.join("; "));
    }
    envelope.message.filter(|m| !m.trim().is_empty())
}

// ---------------------------------------------------------------- shapes
//
// Read as `synchost_sdk::lenient` describes: the answer's envelope
// (`results`, `_links.next`) strictly, each entry of `results` on its own
// (`crate::entries`). In an entry, the fields records are made of (id,
// version number, title, parent, body) must have their spec type when
// present, null counting as absent; every other field is `loose` (another
// type is ignored) and integers take any int64, negative ones included.
// Unknown fields and enum values are ignored or kept as they are.

/// `MultiEntityResult`: one page of a v2 listing, entries unread.
#[derive(Debug, Deserialize)]
pub struct V2List {
    #[serde(default)]
    pub results: Vec<Value>,
    #[serde(default, rename = "_links")]
    pub links: Option<V2Links>,
}

impl V2List {
    /// The next page, relative to the host (`/wiki/api/v2/…`); absent on
    /// the last page.
    pub fn next(&self) -> Option<&str> {
        self.links.as_ref()?.next.as_deref()
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct V2Links {
    pub next: Option<String>,
}

/// `SpaceBulk`, the fields used.
#[derive(Debug, Deserialize)]
pub struct Space {
    #[serde(deserialize_with = "lenient::string_or_integer")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub key: Option<String>,
}

/// `Version` (v2): the number is required (it is the record's version).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct V2Version {
    pub number: i64,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub message: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub minor_edit: Option<bool>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub author_id: Option<String>,
}

/// `BodyBulk` / `BodySingle` (v2) and the `body` of a v1 `Content`: one
/// `{representation, value}` per requested format.
#[derive(Debug, Default, Deserialize)]
pub struct Bodies {
    pub storage: Option<Body>,
    pub atlas_doc_format: Option<Body>,
}

#[derive(Debug, Deserialize)]
pub struct Body {
    pub value: Option<String>,
}

impl Bodies {
    /// The body in `format`, if the answer has one.
    pub fn get(&self, format: BodyFormat) -> Option<&str> {
        match format {
            BodyFormat::Storage => self.storage.as_ref(),
            BodyFormat::AtlasDocFormat => self.atlas_doc_format.as_ref(),
        }
        .and_then(|b| b.value.as_deref())
    }
}

/// `PageBulk` / `PageSingle`, the fields used.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    #[serde(deserialize_with = "lenient::string_or_integer")]
    pub id: String,
    pub version: V2Version,
    pub title: Option<String>,
    /// A page or a folder (see `parent_type`); absent or null at the root.
    #[serde(default, deserialize_with = "lenient::opt_string_or_integer")]
    pub parent_id: Option<String>,
    pub body: Option<Bodies>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub space_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub parent_type: Option<String>,
    /// int32, nullable.
    #[serde(default, deserialize_with = "lenient::loose")]
    pub position: Option<i64>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub author_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub created_at: Option<String>,
    #[serde(default, rename = "_links", deserialize_with = "lenient::loose")]
    pub links: Option<Map<String, Value>>,
}

/// `FolderSingle`, the fields used.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Folder {
    #[serde(deserialize_with = "lenient::string_or_integer")]
    pub id: String,
    pub version: V2Version,
    pub title: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string_or_integer")]
    pub parent_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub space_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub parent_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub position: Option<i64>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub author_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub owner_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub created_at: Option<String>,
    #[serde(default, rename = "_links", deserialize_with = "lenient::loose")]
    pub links: Option<Map<String, Value>>,
}

/// `AttachmentSingle`, the fields used. `downloadLink` (also
/// `_links.download`) is relative to `_links.base`, which ends in `/wiki`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    #[serde(deserialize_with = "lenient::string_or_integer")]
    pub id: String,
    pub version: V2Version,
    pub title: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string_or_integer")]
    pub page_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string_or_integer")]
    pub blog_post_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string_or_integer")]
    pub custom_content_id: Option<String>,
    pub download_link: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub media_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub comment: Option<String>,
    #[serde(default, deserialize_with = "size")]
    pub file_size: Option<u64>,
    /// As given: `download` in it is the file (see [`link`]).
    #[serde(default, rename = "_links")]
    pub links: Option<Value>,
}

// ---------------------------------------------------------------- v1 shapes

/// `ContentArray`: one page of a v1 content search, entries unread.
#[derive(Debug, Deserialize)]
pub struct ContentArray {
    #[serde(default)]
    pub results: Vec<Value>,
    #[serde(default, rename = "_links")]
    pub links: Option<V1Links>,
}

impl ContentArray {
    /// The next page, relative to [`ContentArray::context`].
    pub fn next(&self) -> Option<&str> {
        self.links.as_ref()?.next.as_deref()
    }

    /// The path links are relative to: `/wiki`.
    pub fn context(&self) -> Option<&str> {
        self.links.as_ref()?.context.as_deref()
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct V1Links {
    pub next: Option<String>,
    pub context: Option<String>,
}

/// `Content` (v1), the fields used. Attachments carry their file facts in
/// `extensions` (`mediaType`, `fileSize`, `comment`) and, partly, in
/// `metadata`; comments their `location` (footer, inline) in `extensions`.
#[derive(Debug, Deserialize)]
pub struct Content {
    #[serde(deserialize_with = "lenient::string_or_integer")]
    pub id: String,
    pub version: V1Version,
    pub title: Option<String>,
    /// The page an attachment or comment belongs to (with
    /// `expand=container`).
    pub container: Option<Container>,
    pub body: Option<Bodies>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub extensions: Option<Extensions>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub metadata: Option<Extensions>,
    /// As given: `download` in it is an attachment's file (see [`link`]).
    #[serde(default, rename = "_links")]
    pub links: Option<Value>,
}

/// `Version` (v1): the number is required (it is the record's version).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct V1Version {
    pub number: i64,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub when: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub message: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub minor_edit: Option<bool>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub by: Option<User>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(default, deserialize_with = "lenient::loose")]
    pub account_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Container {
    #[serde(default, deserialize_with = "lenient::opt_string_or_integer")]
    pub id: Option<String>,
}

/// The `extensions` (or `metadata`) object of a v1 attachment or comment.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Extensions {
    #[serde(default, deserialize_with = "lenient::loose")]
    pub media_type: Option<String>,
    #[serde(default, deserialize_with = "size")]
    pub file_size: Option<u64>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub comment: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub location: Option<String>,
    /// An inline comment's anchor (`expand=extensions.inlineProperties`).
    #[serde(default, deserialize_with = "lenient::loose")]
    pub inline_properties: Option<InlineProperties>,
    /// An inline comment's state (`expand=extensions.resolution`).
    #[serde(default, deserialize_with = "lenient::loose")]
    pub resolution: Option<Resolution>,
}

/// `extensions.inlineProperties` of a v1 inline comment.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InlineProperties {
    /// The id of the highlighted element in the page.
    #[serde(default, deserialize_with = "lenient::loose")]
    pub marker_ref: Option<String>,
    /// The highlighted text.
    #[serde(default, deserialize_with = "lenient::loose")]
    pub original_selection: Option<String>,
}

/// `extensions.resolution` of a v1 inline comment.
#[derive(Debug, Default, Deserialize)]
pub struct Resolution {
    /// `open`, `resolved`, `reopened` or `dangling`.
    #[serde(default, deserialize_with = "lenient::loose")]
    pub status: Option<String>,
}

// ---------------------------------------------------------------- leniency

/// A size (int64 in the spec): a non-negative number or numeric string;
/// anything else (a negative size included) is unknown.
fn size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// The string `links[name]` (e.g. `download` of an attachment's `_links`):
/// `Ok(None)` when `links` or the member is absent or null, an error when
/// either has another type.
pub fn link<'a>(links: Option<&'a Value>, name: &str) -> Result<Option<&'a str>, String> {
    let member = match links {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(map)) => map.get(name),
        Some(other) => return Err(format!("_links: expected an object, found {other}")),
    };
    match member {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("_links.{name}: expected a string, found {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_match_the_specs() {
        let base = "https://site.atlassian.net";
        assert_eq!(
            space_by_key(base, "DOCS").url(),
            "https://site.atlassian.net/wiki/api/v2/spaces?keys=DOCS"
        );
        assert_eq!(
            space_contents(base, Kind::Page, "131189", 100, Some(BodyFormat::Storage)).url(),
            "https://site.atlassian.net/wiki/api/v2/spaces/131189/pages?limit=100&body-format=storage"
        );
        // Never above the v2 maximum, never below 1; ids-only: no body.
        assert_eq!(
            space_contents(base, Kind::Page, "1", 1000, None).url(),
            "https://site.atlassian.net/wiki/api/v2/spaces/1/pages?limit=250"
        );
        assert!(space_contents(base, Kind::Page, "1", 0, None)
            .url()
            .ends_with("limit=1"));
        assert_eq!(
            space_contents(base, Kind::BlogPost, "131189", 250, Some(BodyFormat::Storage)).url(),
            "https://site.atlassian.net/wiki/api/v2/spaces/131189/blogposts?limit=250&body-format=storage"
        );
        assert_eq!(
            by_id(base, Kind::Page, &["1", "22", "333"], BodyFormat::AtlasDocFormat).url(),
            "https://site.atlassian.net/wiki/api/v2/pages?id=1,22,333&body-format=atlas_doc_format&limit=250"
        );
        assert_eq!(
            by_id(base, Kind::BlogPost, &["4"], BodyFormat::Storage).url(),
            "https://site.atlassian.net/wiki/api/v2/blogposts?id=4&body-format=storage&limit=250"
        );
        assert_eq!(
            attachment(base, "att3997705").url(),
            "https://site.atlassian.net/wiki/api/v2/attachments/att3997705"
        );
        assert_eq!(
            folder(base, "98765").url(),
            "https://site.atlassian.net/wiki/api/v2/folders/98765"
        );
        assert_eq!(
            content(base, "77", &["version", "container", "body.storage"]).url(),
            "https://site.atlassian.net/wiki/rest/api/content/77?expand=version,container,body.storage"
        );
        assert_eq!(
            content_search(base, "type=folder", 250, &["version", "body.storage"]).url(),
            "https://site.atlassian.net/wiki/rest/api/content/search?cql=type%3Dfolder&limit=200&expand=version,body.storage"
        );
        assert_eq!(
            space_by_key(base, "DOCS").headers(),
            &[("accept".to_string(), "application/json".to_string())]
        );
        assert!(is_content_id("3997697"));
        assert!(!is_content_id("att3997705") && !is_content_id("") && !is_content_id("1,2"));
    }

    #[test]
    fn error_messages_come_from_the_api() {
        // v2 envelope (amp-labs fixture err-page-size.json).
        let v2 = br#"{"errors":[{"status":400,"code":"INVALID_REQUEST_PARAMETER","title":"Provided size {300} for 'limit' is greater than the max allowed: 250","detail":null}]}"#;
        let err = check(Response::new(400, vec![], &v2[..]), "GET /x").unwrap_err();
        assert_eq!(
            err,
            Error::Fatal(
                "GET /x: Confluence answered HTTP 400: Provided size {300} for 'limit' is greater than the max allowed: 250"
                    .into()
            )
        );
        // v1.
        let v1 =
            br#"{"statusCode":400,"message":"Could not parse cql : type=","reason":"Bad Request"}"#;
        assert_eq!(
            api_message(v1).as_deref(),
            Some("Could not parse cql : type=")
        );
        // Several v2 errors, with a detail.
        let many = br#"{"errors":[{"title":"a","detail":"b"},{"code":"C"}]}"#;
        assert_eq!(api_message(many).as_deref(), Some("a (b); C"));
        assert_eq!(api_message(b"<html>"), None);
        assert_eq!(api_message(b"{}"), None);

        // Kinds follow the SDK's mapping.
        let not_found = br#"{"errors":[{"status":404,"code":"NOT_FOUND","title":"Cannot find a folder with id [7]","detail":null}]}"#;
        let err = check(Response::new(404, vec![], &not_found[..]), "GET /f/7").unwrap_err();
        assert!(
            matches!(&err, Error::NotFound(m) if m.contains("Cannot find a folder")),
            "{err:?}"
        );
        let err = check_listing(Response::new(404, vec![], &not_found[..]), "GET /l").unwrap_err();
        assert!(matches!(err, Error::Fatal(_)));
        let limited = Response::new(429, vec![("retry-after".into(), "7".into())], "{}");
        assert_eq!(check(limited, "GET /x").unwrap_err(), Error::RateLimited(7));
        assert!(matches!(
            check(Response::new(401, vec![], ""), "x"),
            Err(Error::Auth(_))
        ));
        assert!(matches!(
            check(Response::new(503, vec![], ""), "x"),
            Err(Error::Transient(_))
        ));
        assert!(check(Response::new(200, vec![], "{}"), "x").is_ok());
    }

    #[test]
    fn lenient_fields() {
        let c: Content = serde_json::from_str(
            r#"{"id":"att1","type":"attachment","status":"current","container":{"id":131189,"type":"global"},
                "version":{"number":1},"extensions":{"mediaType":"text/plain","fileSize":"12"}}"#,
        )
        .unwrap();
        assert_eq!(c.container.unwrap().id.as_deref(), Some("131189"));
        assert_eq!(c.extensions.unwrap().file_size, Some(12));
        let list: V2List =
            serde_json::from_str(r#"{"results":[{"id":"42","key":"DOCS"}]}"#).unwrap();
        assert_eq!(list.results[0]["id"], "42");
        assert!(list.next().is_none());
    }

    /// Everything the specs permit (api-contracts.md, the OpenAPI files):
    /// negative int32 positions and version numbers, nulls where nullable,
    /// unknown fields and enum values, int64 sizes.
    #[test]
    fn what_the_specs_permit_is_read() {
        let p: Page = serde_json::from_str(
            r#"{"id":"5","status":"some_future_status","title":"T","position":-2147483648,
                "ownerId":null,"lastOwnerId":null,"subtype":null,"parentId":null,"parentType":"whiteboard",
                "version":{"number":-2147483648,"createdAt":"2026-01-01T00:00:00.000Z","ncsStepVersion":null},
                "futureField":{"nested":[1,{"x":null}]},"_links":{"base":"https://x/wiki"}}"#,
        )
        .unwrap();
        assert_eq!(
            (p.version.number, p.position),
            (i64::from(i32::MIN), Some(i64::from(i32::MIN)))
        );
        assert_eq!(p.status.as_deref(), Some("some_future_status"));
        let f: Folder = serde_json::from_str(
            r#"{"id":"6","position":null,"version":{"number":-1},"type":"newtype"}"#,
        )
        .unwrap();
        assert_eq!((f.version.number, f.position), (-1, None));
        // v1: nullable `when`, `message`, `by`, `container`; a bigger int64.
        let c: Content = serde_json::from_str(
            r#"{"id":"7","type":"comment","status":"future","container":null,
                "version":{"number":-9,"when":null,"message":null,"by":null,"friendlyWhen":null,"minorEdit":false},
                "extensions":{"position":-4,"location":"footer"}}"#,
        )
        .unwrap();
        assert_eq!(
            (c.version.number, c.version.when, c.container.is_none()),
            (-9, None, true)
        );
        let a: Attachment = serde_json::from_str(
            r#"{"id":"att8","version":{"number":3},"fileSize":-1,"mediaType":null}"#,
        )
        .unwrap();
        assert_eq!(
            (a.file_size, a.media_type),
            (None, None),
            "a negative size is unknown"
        );
        let a: Attachment = serde_json::from_str(
            r#"{"id":"att8","version":{"number":3},"fileSize":9007199254740993}"#,
        )
        .unwrap();
        assert_eq!(a.file_size, Some(9_007_199_254_740_993));
    }

    /// Fields the plugin does not need never fail an entry, whatever their
    /// type; the ones records are made of do.
    #[test]
    fn only_needed_fields_can_fail() {
        let loose = r#"{"id":"5","version":{"number":2,"createdAt":7,"minorEdit":"no","authorId":[]},
            "status":3,"spaceId":{},"parentType":1,"position":"top","authorId":false,"createdAt":[1],"_links":"x"}"#;
        let p: Page = synchost_sdk::lenient::decode(&serde_json::from_str(loose).unwrap()).unwrap();
        assert_eq!((p.status, p.position, p.links), (None, None, None));
        for (bad, path) in [
            (r#"{"version":{"number":1}}"#, "missing field `id`"),
            (
                r#"{"id":{},"version":{"number":1}}"#,
                "id: expected a string or an integer",
            ),
            (r#"{"id":"5"}"#, "missing field `version`"),
            (
                r#"{"id":"5","version":{"number":"7"}}"#,
                "version.number: invalid type",
            ),
            (
                r#"{"id":"5","version":{"number":1.5}}"#,
                "version.number: invalid type",
            ),
            (
                r#"{"id":"5","version":{"number":1},"title":3}"#,
                "title: invalid type",
            ),
            (
                r#"{"id":"5","version":{"number":1},"parentId":[]}"#,
                "parentId: expected",
            ),
            (
                r#"{"id":"5","version":{"number":1},"body":"<p>"}"#,
                "body: invalid type",
            ),
            (
                r#"{"id":"5","version":{"number":1},"body":{"storage":{"value":1}}}"#,
                "body.storage.value: invalid type",
            ),
        ] {
            let value = serde_json::from_str(bad).unwrap();
            let why = synchost_sdk::lenient::decode::<Page>(&value).unwrap_err();
            assert!(why.starts_with(path), "{bad}: {why}");
        }
    }
}
