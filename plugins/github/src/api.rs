//! The GitHub REST API as this plugin uses it: the requests it sends (each a
//! path and parameters of `tests/specs/github-rest-subset.openapi.json`),
//! the response fields it reads, and GitHub's errors as [`Error`]s.

use serde::Deserialize;
use serde_json::{json, Value};
use synchost_sdk::http::{encode, Api, Request, Response};
use synchost_sdk::{lenient, Error};

/// `per_page`'s maximum on every listing.
pub const MAX_PER_PAGE: u32 = 100;

/// The JSON media type GitHub documents for every request.
pub const JSON: &str = "application/vnd.github+json";
/// Raw bytes of a blob or a file (contents and blobs endpoints).
pub const RAW: &str = "application/vnd.github.raw+json";
/// A commit's sha as text (`GET /commits/{ref}`).
pub const SHA: &str = "application/vnd.github.sha";

/// One repository's API: the base URL with GitHub's headers, and the
/// repository's path.
#[derive(Debug, Clone, PartialEq)]
pub struct Gh {
    pub api: Api,
    /// `/repos/{owner}/{repo}`, encoded.
    repo_path: String,
    /// `owner/repo`, for messages.
    pub name: String,
}

impl Gh {
    pub fn new(base_url: &str, owner: &str, repo: &str) -> Gh {
        Gh {
            api: Api::new(base_url)
                .header("accept", JSON)
                .header("x-github-api-version", "2022-11-28"),
            repo_path: format!("/repos/{}/{}", encode(owner), encode(repo)),
            name: format!("{owner}/{repo}"),
        }
    }

    fn get(&self, rest: &str) -> Request {
        self.api.get(&format!("{}{rest}", self.repo_path))
    }

    fn write(&self, method: &str, rest: &str) -> Request {
        self.api
            .request(method, &format!("{}{rest}", self.repo_path))
    }

    /// `GET /repos/{owner}/{repo}`: the default branch.
    pub fn repository(&self) -> Request {
        self.get("")
    }

    /// `GET /repos/{owner}/{repo}/commits/{ref}` as the bare sha
    /// (`application/vnd.github.sha`), conditional on `etag`: a 304 when the
    /// ref has not moved costs no rate limit.
    pub fn head(&self, git_ref: &str, etag: Option<&str>) -> Request {
        let request = self
            .get(&format!("/commits/{}", path(git_ref)))
            .replace_header("accept", SHA);
        match etag {
            Some(etag) => request.header("if-none-match", etag),
            None => request,
        }
    }

    /// `GET /repos/{owner}/{repo}/git/trees/{sha}[?recursive=1]`; `sha` is a
    /// tree's or a commit's (git resolves a commit to its root tree).
    pub fn tree(&self, sha: &str, recursive: bool) -> Request {
        let request = self.get(&format!("/git/trees/{}", encode(sha)));
        if recursive {
            request.query("recursive", 1)
        } else {
            request
        }
    }

    /// `GET /repos/{owner}/{repo}/git/blobs/{sha}` (base64 JSON).
    pub fn blob(&self, sha: &str) -> Request {
        self.get(&format!("/git/blobs/{}", encode(sha)))
    }

    /// The URL of a blob, for the host to download with `accept:` [`RAW`].
    pub fn blob_url(&self, sha: &str) -> String {
        self.api
            .url(&format!("{}/git/blobs/{}", self.repo_path, encode(sha)))
    }

    /// `GET /repos/{owner}/{repo}/tarball/{commit}`, for the host to
    /// download (a 302 to a signed location; archive members of a full
    /// listing).
    pub fn tarball_url(&self, commit: &str) -> String {
        self.api
            .url(&format!("{}/tarball/{}", self.repo_path, encode(commit)))
    }

    /// `GET /repos/{owner}/{repo}/compare/{base}...{head}?per_page=1`: the
    /// changed files (all on the first page, at most 300) and one commit
    /// instead of 250.
    pub fn compare(&self, base: &str, head: &str) -> Request {
        self.get(&format!("/compare/{}...{}", encode(base), encode(head)))
            .query("per_page", 1)
    }

    /// `GET /repos/{owner}/{repo}/contents/{path}[?ref=REF]` (JSON with the
    /// blob sha; base64 content up to 1 MB). Without a ref: the default
    /// branch.
    pub fn contents(&self, file: &str, git_ref: Option<&str>) -> Request {
        self.get(&format!("/contents/{}", path(file)))
            .query_opt("ref", git_ref)
    }

    /// `PUT /repos/{owner}/{repo}/contents/{path}`: create (no `sha`) or
    /// update (`sha` = the blob the edit replaces) as one commit.
    pub fn put_contents(
        &self,
        file: &str,
        content: &[u8],
        sha: Option<&str>,
        branch: &str,
        message: &str,
    ) -> Request {
        use base64::Engine as _;
        let mut body = json!({
            "message": message,
            "content": base64::engine::general_purpose::STANDARD.encode(content),
            "branch": branch,
        });
        if let Some(sha) = sha {
            body["sha"] = Value::from(sha);
        }
        self.write("PUT", &format!("/contents/{}", path(file)))
            .json(&body)
    }

    /// `DELETE /repos/{owner}/{repo}/contents/{path}` of blob `sha`.
    pub fn delete_contents(&self, file: &str, sha: &str, branch: &str, message: &str) -> Request {
        self.write("DELETE", &format!("/contents/{}", path(file)))
            .json(&json!({"message": message, "sha": sha, "branch": branch}))
    }

    /// `GET /repos/{owner}/{repo}/issues?state=all&sort=updated&direction=asc`
    /// `&per_page=N[&since=T]`: issues and pull requests, oldest change first.
    pub fn issues(&self, since: Option<&str>, per_page: u32) -> Request {
        listing(self.get("/issues").query("state", "all"), since, per_page)
    }

    /// `GET /repos/{owner}/{repo}/pulls?state=all&sort=updated&direction=asc`
    /// `&per_page=N` (this listing has no `since`).
    pub fn pulls(&self, per_page: u32) -> Request {
        listing(self.get("/pulls").query("state", "all"), None, per_page)
    }

    /// `GET /repos/{owner}/{repo}/issues/comments?sort=updated&direction=asc`
    /// `&per_page=N[&since=T]`: every issue and pull request conversation
    /// comment.
    pub fn issue_comments(&self, since: Option<&str>, per_page: u32) -> Request {
        listing(self.get("/issues/comments"), since, per_page)
    }

    /// `GET /repos/{owner}/{repo}/pulls/comments?…`: every review comment.
    pub fn review_comments(&self, since: Option<&str>, per_page: u32) -> Request {
        listing(self.get("/pulls/comments"), since, per_page)
    }

    /// `GET /repos/{owner}/{repo}/issues/{number}`.
    pub fn issue(&self, number: u64) -> Request {
        self.get(&format!("/issues/{number}"))
    }

    /// `GET /repos/{owner}/{repo}/pulls/{number}`.
    pub fn pull(&self, number: u64) -> Request {
        self.get(&format!("/pulls/{number}"))
    }

    /// `GET /repos/{owner}/{repo}/issues/comments/{id}` or
    /// `…/pulls/comments/{id}`.
    pub fn comment(&self, kind: CommentKind, id: u64) -> Request {
        self.get(&format!("{}/{id}", kind.path()))
    }

    /// `PATCH /repos/{owner}/{repo}/issues/{number}` with a new title and body.
    pub fn patch_issue(&self, number: u64, title: &str, body: &str) -> Request {
        self.write("PATCH", &format!("/issues/{number}"))
            .json(&json!({"title": title, "body": body}))
    }

    /// `GET /repos/{owner}/{repo}/issues/{number}/comments?per_page=100`.
    pub fn comments_of(&self, number: u64) -> Request {
        self.get(&format!("/issues/{number}/comments"))
            .query("per_page", MAX_PER_PAGE)
    }

    /// `POST /repos/{owner}/{repo}/issues/{number}/comments`.
    pub fn create_comment(&self, number: u64, body: &str) -> Request {
        self.write("POST", &format!("/issues/{number}/comments"))
            .json(&json!({ "body": body }))
    }
}

/// The two kinds of comments of the `comments` stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentKind {
    /// On an issue's or a pull request's conversation.
    Issue,
    /// On a pull request's diff.
    Review,
}

impl CommentKind {
    fn path(self) -> &'static str {
        match self {
            CommentKind::Issue => "/issues/comments",
            CommentKind::Review => "/pulls/comments",
        }
    }
}

/// `sort=updated&direction=asc&per_page=N[&since=T]`.
fn listing(request: Request, since: Option<&str>, per_page: u32) -> Request {
    request
        .query("sort", "updated")
        .query("direction", "asc")
        .query("per_page", per_page.clamp(1, MAX_PER_PAGE))
        .query_opt("since", since)
}

/// A file path or ref in a URL path: each segment encoded, `/` kept.
fn path(p: &str) -> String {
    p.split('/').map(encode).collect::<Vec<_>>().join("/")
}

// ---------------------------------------------------------------- errors

/// `Ok(response)` below 400 (304 included); otherwise the error GitHub's
/// answer means, with its message. `what` names the request.
///
/// 403 and 429 are rate limits only when GitHub says so (contracts §2.8):
/// `x-ratelimit-remaining: 0` (wait until `x-ratelimit-reset`), a
/// `retry-after`, or the secondary-limit message (at least 60 s); any other
/// 403 is a permission error. 422 is GitHub refusing the request as made.
pub fn check(response: Response, what: &str) -> Result<Response, Error> {
    let status = response.status;
    if status < 400 {
        return Ok(response);
    }
    let message = message(&response.body).unwrap_or_else(|| "(no message)".into());
    let text = format!("{what}: GitHub answered HTTP {status}: {message}");
    Err(match status {
        401 => Error::Auth(text),
        403 | 429 => match rate_limit_wait(&response, &message) {
            Some(seconds) => Error::RateLimited(seconds),
            None if status == 429 => Error::RateLimited(60),
            None => Error::Auth(format!("{text} (permission denied)")),
        },
        404 | 410 => Error::NotFound(text),
        409 => Error::Conflict(text),
        422 => Error::InvalidResponse(text),
        408 | 500..=599 => Error::Transient(text),
        _ => Error::Fatal(text),
    })
}

/// How long a 403/429 asks to wait, when it is a rate limit.
fn rate_limit_wait(response: &Response, message: &str) -> Option<u32> {
    let header_secs = |name: &str| {
        response
            .header(name)
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let Some(seconds) = header_secs("retry-after") {
        return Some(clamp_secs(seconds));
    }
    if response.header("x-ratelimit-remaining").map(str::trim) == Some("0") {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let reset = header_secs("x-ratelimit-reset").unwrap_or(now + 60);
        return Some(clamp_secs(reset.saturating_sub(now)));
    }
    message
        .to_ascii_lowercase()
        .contains("secondary rate limit")
        .then_some(60)
}

fn clamp_secs(seconds: u64) -> u32 {
    seconds.clamp(1, u64::from(u32::MAX)) as u32
}

/// GitHub's `message`, with the `errors` of a validation error.
pub fn message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Basic {
        message: Option<String>,
        #[serde(default, deserialize_with = "lenient::loose")]
        errors: Option<Vec<Value>>,
    }
    let basic: Basic = serde_json::from_slice(body).ok()?;
    let mut text = basic.message.filter(|m| !m.trim().is_empty())?;
    let details: Vec<String> = basic
        .errors
        .unwrap_or_default()
        .iter()
        .filter_map(|e| match e {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => o
                .get("message")
                .or_else(|| o.get("code"))
                .and_then(Value::as_str)
                .map(|m| match o.get("field").and_then(Value::as_str) {
                    Some(field) => format!("{field}: {m}"),
                    None => m.to_owned(),
                }),
            _ => None,
        })
        .collect();
    if !details.is_empty() {
        text = format!("{text} ({})", details.join("; "));
    }
    Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

// ---------------------------------------------------------------- shapes
//
// The fields records are made of are read strictly; the rest `loose`.

#[derive(Debug, Deserialize)]
pub struct Repository {
    pub default_branch: String,
}

/// `git-tree`.
#[derive(Debug, Deserialize)]
pub struct Tree {
    pub tree: Vec<TreeEntry>,
    #[serde(default)]
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TreeEntry {
    pub path: String,
    pub mode: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub sha: String,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub size: Option<u64>,
}

/// `blob`.
#[derive(Debug, Deserialize)]
pub struct Blob {
    pub content: String,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub encoding: Option<String>,
}

impl Blob {
    /// The bytes: base64 with GitHub's line breaks, or `utf-8` text.
    pub fn bytes(&self) -> Result<Vec<u8>, String> {
        match self.encoding.as_deref() {
            Some("utf-8") => Ok(self.content.clone().into_bytes()),
            None | Some("base64") => decode_base64(&self.content),
            Some(other) => Err(format!("unknown blob encoding `{other}`")),
        }
    }
}

pub fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| format!("content is not base64: {e}"))
}

/// `commit-comparison`, the fields used.
#[derive(Debug, Deserialize)]
pub struct Comparison {
    pub status: String,
    #[serde(default)]
    pub files: Vec<DiffEntry>,
}

/// `diff-entry`: `sha` is the new blob's.
#[derive(Debug, Deserialize)]
pub struct DiffEntry {
    pub filename: String,
    /// The new blob (a submodule's commit); absent for removals.
    #[serde(default, deserialize_with = "lenient::loose")]
    pub sha: Option<String>,
    pub status: String,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub previous_filename: Option<String>,
}

/// `content-file` (and the other `GET /contents` answers: `type` says which).
#[derive(Debug, Deserialize)]
pub struct Contents {
    #[serde(rename = "type")]
    pub kind: String,
    pub path: String,
    pub sha: String,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub size: Option<u64>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub content: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub encoding: Option<String>,
}

/// `file-commit`: a contents write's answer.
#[derive(Debug, Deserialize)]
pub struct FileCommit {
    pub content: Option<Contents>,
}

#[derive(Debug, Deserialize)]
pub struct User {
    pub login: String,
}

#[derive(Debug, Deserialize)]
pub struct Label {
    pub name: String,
}

/// `issue`, the fields used.
#[derive(Debug, Deserialize)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    pub updated_at: String,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub state: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub closed_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub user: Option<User>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub labels: Option<Vec<Label>>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub comments: Option<u64>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub html_url: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Branch {
    #[serde(rename = "ref")]
    pub name: String,
    pub sha: String,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub label: Option<String>,
}

/// `pull-request-simple` (listing) and `pull-request` (one), the fields both
/// have.
#[derive(Debug, Deserialize)]
pub struct Pull {
    pub number: u64,
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    pub updated_at: String,
    pub state: String,
    pub head: Branch,
    pub base: Branch,
    #[serde(default)]
    pub merged_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub draft: Option<bool>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub closed_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub user: Option<User>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub html_url: Option<String>,
}

/// `issue-comment` and `pull-request-review-comment`, the fields used.
#[derive(Debug, Deserialize)]
pub struct Comment {
    pub id: u64,
    #[serde(default)]
    pub body: Option<String>,
    pub updated_at: String,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub issue_url: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub pull_request_url: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub user: Option<User>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub html_url: Option<String>,
    /// Review comments: the file and the commit they are on.
    #[serde(default, deserialize_with = "lenient::loose")]
    pub path: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub commit_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::loose")]
    pub in_reply_to_id: Option<u64>,
}

impl Comment {
    /// The issue or pull request number, the last segment of its URL.
    pub fn parent_number(&self) -> Option<u64> {
        let url = self.issue_url.as_ref().or(self.pull_request_url.as_ref())?;
        url.rsplit('/').next()?.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{resp, sample};
    use serde_json::Map;

    fn gh() -> Gh {
        Gh::new("https://api.github.com", "octocat", "Hello-World")
    }

    /// The spec subset (`tests/specs/github-rest-subset.openapi.json`).
    fn spec() -> Value {
        let path = format!(
            "{}/../../tests/specs/github-rest-subset.openapi.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// Operations of the official description (2022-11-28) beyond the
    /// subset that the plugin uses, with their query parameters: one table,
    /// shared with the end-to-end tests
    /// (`tests/specs/github-extra-operations.json`).
    fn beyond_the_subset() -> Vec<(String, String, Vec<String>)> {
        let ops: Vec<Value> = serde_json::from_str(include_str!(
            "../../../tests/specs/github-extra-operations.json"
        ))
        .unwrap();
        ops.iter()
            .filter(|op| op["used_by_plugin"] == true)
            .map(|op| {
                let text = |v: &Value| v.as_str().unwrap().to_owned();
                (
                    op["method"].as_str().unwrap().to_ascii_lowercase(),
                    text(&op["path"]),
                    op["query"].as_array().unwrap().iter().map(text).collect(),
                )
            })
            .collect()
    }

    fn template_matches(template: &str, path: &str) -> bool {
        let t: Vec<&str> = template.trim_start_matches('/').split('/').collect();
        let p: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        // Parameters that hold slashes (`x-multi-segment`, or paths and refs).
        let multi = t
            .last()
            .is_some_and(|s| ["{path}", "{ref}", "{tree_sha}"].contains(s));
        if p.len() < t.len() || (p.len() > t.len() && !multi) {
            return false;
        }
        t.iter().zip(&p).all(|(t, p)| match t.find('{') {
            None => t == p,
            // `{base}...{head}`: the literal parts must be there.
            Some(_) if t.contains("...") => p.contains("..."),
            Some(_) => !p.is_empty(),
        })
    }

    fn resolve<'a>(spec: &'a Value, v: &'a Value) -> &'a Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => spec.pointer(r.trim_start_matches('#')).unwrap(),
            None => v,
        }
    }

    /// The operation `request` is, and its violations of it, if any.
    fn check_request(spec: &Value, request: &Request) -> Result<String, String> {
        let url = request
            .url()
            .strip_prefix("https://api.github.com")
            .unwrap();
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let method = request.method().to_ascii_lowercase();
        let names: Vec<&str> = query
            .split('&')
            .filter(|q| !q.is_empty())
            .map(|q| q.split('=').next().unwrap())
            .collect();
        // Exact templates first: `/issues/comments` before `/issues/{n}`.
        let mut candidates: Vec<(String, Vec<String>, Option<&Value>)> = Vec::new();
        for (template, item) in spec["paths"].as_object().unwrap() {
            if let Some(op) = item.get(&method) {
                let params = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| resolve(spec, p))
                    .filter(|p| p["in"] == "query")
                    .map(|p| p["name"].as_str().unwrap().to_owned())
                    .collect();
                candidates.push((template.clone(), params, op.get("requestBody")));
            }
        }
        for (m, template, params) in beyond_the_subset() {
            if m == method {
                candidates.push((template, params, None));
            }
        }
        candidates.sort_by_key(|(t, _, _)| t.matches('{').count());
        let (template, params, body) = candidates
            .into_iter()
            .find(|(t, _, _)| template_matches(t, path))
            .ok_or_else(|| format!("{method} {path}: no such operation"))?;
        for name in names {
            if !params.iter().any(|p| p == name) {
                return Err(format!(
                    "{method} {template}: undeclared parameter `{name}`"
                ));
            }
        }
        if let (Some(body), Some(sent)) = (body, request.body_bytes()) {
            let schema = &body["content"]["application/json"]["schema"];
            let sent: Map<String, Value> = serde_json::from_slice(sent).unwrap();
            let props = schema["properties"].as_object().unwrap();
            for key in sent.keys() {
                if !props.contains_key(key) {
                    return Err(format!(
                        "{method} {template}: undeclared body field `{key}`"
                    ));
                }
            }
            for required in schema["required"].as_array().into_iter().flatten() {
                if !sent.contains_key(required.as_str().unwrap()) {
                    return Err(format!("{method} {template}: body without `{required}`"));
                }
            }
        }
        Ok(template)
    }

    #[test]
    fn requests_match_the_specs() {
        let spec = spec();
        let gh = gh();
        let sha = "0000000000000000000000000000000000000001";
        let cases: Vec<(Request, &str, &str)> = vec![
            (gh.repository(), "/repos/octocat/Hello-World", "/repos/{owner}/{repo}"),
            (gh.head("release/1.2", Some("\"e\"")), "/repos/octocat/Hello-World/commits/release/1.2", "/repos/{owner}/{repo}/commits/{ref}"),
            (gh.tree(sha, true), "/repos/octocat/Hello-World/git/trees/0000000000000000000000000000000000000001?recursive=1", "/repos/{owner}/{repo}/git/trees/{tree_sha}"),
            (gh.tree(sha, false), "/repos/octocat/Hello-World/git/trees/0000000000000000000000000000000000000001", "/repos/{owner}/{repo}/git/trees/{tree_sha}"),
            (gh.blob(sha), "/repos/octocat/Hello-World/git/blobs/0000000000000000000000000000000000000001", "/repos/{owner}/{repo}/git/blobs/{file_sha}"),
            (gh.compare("a1", "b2"), "/repos/octocat/Hello-World/compare/a1...b2?per_page=1", "/repos/{owner}/{repo}/compare/{basehead}"),
            (gh.contents("docs/a b.md", Some("main")), "/repos/octocat/Hello-World/contents/docs/a%20b.md?ref=main", "/repos/{owner}/{repo}/contents/{path}"),
            (gh.put_contents("a.md", b"hi", Some(sha), "main", "m"), "/repos/octocat/Hello-World/contents/a.md", "/repos/{owner}/{repo}/contents/{path}"),
            (gh.put_contents("a.md", b"hi", None, "main", "m"), "/repos/octocat/Hello-World/contents/a.md", "/repos/{owner}/{repo}/contents/{path}"),
            (gh.delete_contents("a.md", sha, "main", "m"), "/repos/octocat/Hello-World/contents/a.md", "/repos/{owner}/{repo}/contents/{path}"),
            (gh.issues(Some("2017-10-10T00:00:00Z"), 100), "/repos/octocat/Hello-World/issues?state=all&sort=updated&direction=asc&per_page=100&since=2017-10-10T00%3A00%3A00Z", "/repos/{owner}/{repo}/issues"),
            (gh.pulls(500), "/repos/octocat/Hello-World/pulls?state=all&sort=updated&direction=asc&per_page=100", "/repos/{owner}/{repo}/pulls"),
            (gh.issue_comments(None, 7), "/repos/octocat/Hello-World/issues/comments?sort=updated&direction=asc&per_page=7", "/repos/{owner}/{repo}/issues/comments"),
            (gh.review_comments(None, 0), "/repos/octocat/Hello-World/pulls/comments?sort=updated&direction=asc&per_page=1", "/repos/{owner}/{repo}/pulls/comments"),
            (gh.issue(7), "/repos/octocat/Hello-World/issues/7", "/repos/{owner}/{repo}/issues/{issue_number}"),
            (gh.pull(7), "/repos/octocat/Hello-World/pulls/7", "/repos/{owner}/{repo}/pulls/{pull_number}"),
            (gh.comment(CommentKind::Issue, 9), "/repos/octocat/Hello-World/issues/comments/9", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
            (gh.comment(CommentKind::Review, 9), "/repos/octocat/Hello-World/pulls/comments/9", "/repos/{owner}/{repo}/pulls/comments/{comment_id}"),
            (gh.patch_issue(7, "t", "b"), "/repos/octocat/Hello-World/issues/7", "/repos/{owner}/{repo}/issues/{issue_number}"),
            (gh.comments_of(7), "/repos/octocat/Hello-World/issues/7/comments?per_page=100", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
            (gh.create_comment(7, "b"), "/repos/octocat/Hello-World/issues/7/comments", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
        ];
        for (request, url, template) in cases {
            assert_eq!(request.url(), format!("https://api.github.com{url}"));
            assert_eq!(
                check_request(&spec, &request),
                Ok(template.to_string()),
                "{url}"
            );
            assert_eq!(
                request.header_value("x-github-api-version"),
                Some("2022-11-28")
            );
            let accept = if template.ends_with("/commits/{ref}") {
                SHA
            } else {
                JSON
            };
            assert_eq!(request.header_value("accept"), Some(accept), "{url}");
            assert_eq!(
                request
                    .headers()
                    .iter()
                    .filter(|(k, _)| k == "accept")
                    .count(),
                1
            );
        }
        // The archive the host downloads for a full listing's members.
        let tarball = Request::get(gh.tarball_url(sha));
        assert_eq!(
            tarball.url(),
            format!("https://api.github.com/repos/octocat/Hello-World/tarball/{sha}")
        );
        assert_eq!(
            check_request(&spec, &tarball).as_deref(),
            Ok("/repos/{owner}/{repo}/tarball/{ref}")
        );
        assert_eq!(
            gh.head("main", Some("\"e\"")).header_value("if-none-match"),
            Some("\"e\"")
        );
        assert_eq!(gh.head("main", None).header_value("if-none-match"), None);
        // Bodies.
        let body =
            |r: Request| -> Value { serde_json::from_slice(r.body_bytes().unwrap()).unwrap() };
        assert_eq!(
            body(gh.put_contents("a.md", b"hi", Some("s1"), "main", "m")),
            json!({"message": "m", "content": "aGk=", "sha": "s1", "branch": "main"})
        );
        assert!(body(gh.put_contents("a.md", b"hi", None, "dev", "m"))
            .get("sha")
            .is_none());
        assert_eq!(
            body(gh.delete_contents("a.md", "s1", "main", "m")),
            json!({"message": "m", "sha": "s1", "branch": "main"})
        );
        // A request the spec does not have is caught.
        let bogus = gh.api.get("/repos/octocat/Hello-World/zipball/main");
        assert!(check_request(&spec, &bogus).is_err());
        let undeclared = gh.issue(1).query("bogus", 1);
        assert!(check_request(&spec, &undeclared).is_err());
        // GitHub Enterprise Server.
        let ghes = Gh::new("https://ghe.example.com/api/v3", "a", "b");
        assert_eq!(
            ghes.blob_url("s"),
            "https://ghe.example.com/api/v3/repos/a/b/git/blobs/s"
        );
    }

    #[test]
    fn errors_are_githubs() {
        let check_with = |status: u16, headers: &[(&str, &str)], name: &str| {
            check(resp(status, headers, sample(name)), "GET /x").unwrap_err()
        };
        assert!(matches!(
            check_with(401, &[], "error-404.json"),
            Error::Auth(_)
        ));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let reset = (now + 120).to_string();
        let limited = check_with(
            403,
            &[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", &reset),
            ],
            "error-403-rate-limit.json",
        );
        assert!(
            matches!(limited, Error::RateLimited(s) if (100..=120).contains(&s)),
            "{limited:?}"
        );
        assert_eq!(
            check_with(403, &[], "error-403-secondary.json"),
            Error::RateLimited(60)
        );
        assert_eq!(
            check_with(403, &[("retry-after", "30")], "error-403-secondary.json"),
            Error::RateLimited(30)
        );
        assert_eq!(
            check_with(429, &[], "error-403-rate-limit.json"),
            Error::RateLimited(60)
        );
        let denied = check_with(
            403,
            &[("x-ratelimit-remaining", "4999")],
            "error-403-permission.json",
        );
        assert!(
            matches!(&denied, Error::Auth(m) if m.contains("Resource not accessible") && m.contains("permission")),
            "{denied:?}"
        );
        assert!(
            matches!(check_with(404, &[], "error-404.json"), Error::NotFound(m) if m.contains("Not Found"))
        );
        assert!(
            matches!(check_with(409, &[], "error-409.json"), Error::Conflict(m) if m.contains("does not match"))
        );
        assert_eq!(
            check_with(422, &[], "error-422.json"),
            Error::InvalidResponse(
                "GET /x: GitHub answered HTTP 422: Validation Failed (color: invalid)".into()
            )
        );
        let sha = check_with(422, &[], "error-422-sha.json");
        assert!(
            matches!(&sha, Error::InvalidResponse(m) if m.contains("Invalid request. \"sha\" wasn't supplied.")),
            "{sha:?}"
        );
        assert!(
            matches!(check(resp(502, &[], "<html>"), "x"), Err(Error::Transient(m)) if m.contains("(no message)"))
        );
        assert!(check(resp(304, &[], ""), "x").is_ok());
    }

    #[test]
    fn samples_parse() {
        let tree: Tree = serde_json::from_str(&sample("tree.json")).unwrap();
        assert_eq!(tree.tree.len(), 7);
        assert_eq!(tree.tree[0].size, Some(19));
        assert_eq!(tree.tree[1].size, None);
        let blob: Blob = serde_json::from_str(&sample("blob.json")).unwrap();
        assert!(
            blob.content.contains('\n'),
            "the sample keeps GitHub's line breaks"
        );
        assert_eq!(
            blob.bytes().unwrap(),
            "Content of the blob".repeat(10).into_bytes()
        );
        let bad = Blob {
            content: "!!".into(),
            encoding: None,
        };
        assert!(bad.bytes().is_err());
        let cmp: Comparison = serde_json::from_str(&sample("compare.json")).unwrap();
        assert_eq!(cmp.status, "ahead");
        assert_eq!(cmp.files[1].previous_filename.as_deref(), Some("run.sh"));
        let fc: FileCommit = serde_json::from_str(&sample("file-commit.json")).unwrap();
        assert_eq!(
            fc.content.unwrap().sha,
            "0000000000000000000000000000000000000010"
        );
        let comments: Vec<Comment> = serde_json::from_str(&sample("review-comments.json")).unwrap();
        assert_eq!(comments[0].parent_number(), Some(2));
    }
}
