//! github: the first-party synchost plugin that mirrors one GitHub
//! repository (design: `docs/github.md`).
//!
//! Streams, all with delta syncs:
//! - `files`: the files of one commit of the ref ([`files`]); id = path,
//!   version = blob sha. Small files are read by blob sha in `fetch`
//!   (100 per call, sent together), larger ones are blobs the host
//!   downloads, files over `max_file_mb`, symlinks and submodules are
//!   metadata only.
//! - `issues`: the issues listing (`since`, `sort=updated`, `direction=asc`),
//!   pull requests left out; complete records.
//! - `pulls`: a full listing is `/pulls` (complete records with head, base
//!   and merge state); a delta is the issues listing with `since` (`/pulls`
//!   has no `since`), pull requests only, as partial records `fetch` reads
//!   one by one.
//! - `comments`: conversation comments, then review comments, each listing
//!   with `since`.
//!
//! Every listing follows GitHub's `Link` header exactly; the plugin never
//! loops, waits or retries, and never sees the token: the host adds it.
//! Pushes: [`push`].

mod api;
mod config;
mod files;
mod git;
mod push;
mod records;

use std::cell::RefCell;

use api::{CommentKind, Gh};
use config::Config;
use files::what;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use synchost_sdk::http::{self, Request, Response};
use synchost_sdk::prelude::*;
use synchost_sdk::{cursor, lenient};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Files,
    Issues,
    Pulls,
    Comments,
}

impl Stream {
    pub const ALL: [Stream; 4] = [
        Stream::Files,
        Stream::Issues,
        Stream::Pulls,
        Stream::Comments,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stream::Files => "files",
            Stream::Issues => "issues",
            Stream::Pulls => "pulls",
            Stream::Comments => "comments",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Stream::Files => "Files at the ref; the host downloads large ones",
            Stream::Issues => "Issues (not pull requests) with their bodies",
            Stream::Pulls => "Pull requests with state, head, base and merge state",
            Stream::Comments => "Issue, pull request and review comments",
        }
    }

    pub fn parse(name: &str) -> Result<Stream, Error> {
        Stream::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| Error::unknown_stream(name))
    }
}

/// Pages of the issues listing one `list` call reads while they hold no
/// entry of its stream.
const MAX_FILTERED_PAGES: usize = 5;

/// The configured plugin.
pub struct GitHub {
    config: Config,
    gh: Gh,
    cache: RefCell<files::Cache>,
    default_branch: RefCell<Option<String>>,
}

/// Where an issues, pulls or comments listing stands: the API's next link
/// (exactly as `Link` gave it), the sub-listing (comments: 0 conversation,
/// 1 review), and the newest `updated_at` seen so far (the watermark).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Paged {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    phase: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wm: Option<String>,
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

impl Source for GitHub {
    fn describe() -> Manifest {
        let mut manifest = Manifest::new(
            "github",
            env!("CARGO_PKG_VERSION"),
            "One GitHub repository: files at a ref, issues, pull requests, comments",
        )
        .max_page_size(api::MAX_PER_PAGE)
        .auth(AuthInfo::bearer("GITHUB_TOKEN"))
        // github.com's archive downloads redirect there (docs/github.md).
        .extra_host("https://codeload.github.com");
        for stream in Stream::ALL {
            let info = StreamInfo::new(stream.name(), stream.description()).delta();
            let info = match stream {
                Stream::Files | Stream::Issues | Stream::Comments => info.push(),
                Stream::Pulls => info,
            };
            manifest = manifest.stream(info);
        }
        manifest.settings(config::setting_infos())
    }

    fn configure(settings: Settings) -> Result<Self, Error> {
        let config = Config::from_settings(&settings)?;
        let gh = Gh::new(&config.base_url, &config.owner, &config.repo);
        Ok(GitHub {
            config,
            gh,
            cache: RefCell::default(),
            default_branch: RefCell::default(),
        })
    }

    fn list(&self, stream: &str, req: ListRequest) -> Result<Page, Error> {
        let stream = Stream::parse(stream)?;
        if !self.config.include.contains(&stream) {
            return Ok(Page::new(Vec::new()));
        }
        match stream {
            Stream::Files => self.list_files(&req),
            _ => self.list_paged(stream, &req),
        }
    }

    fn fetch(&self, stream: &str, ids: Vec<String>) -> Vec<Result<Record, Error>> {
        let stream = match Stream::parse(stream) {
            Ok(stream) => stream,
            Err(e) => return vec![Err(e); ids.len()],
        };
        match stream {
            Stream::Files => self.fetch_files(&ids),
            Stream::Issues => self.fetch_each(
                &ids,
                |id| Ok(self.gh.issue(number(id)?)),
                |_, r| Ok(records::issue(r.json()?)),
            ),
            Stream::Pulls => self.fetch_each(
                &ids,
                |id| Ok(self.gh.pull(number(id)?)),
                |_, r| Ok(records::pull(r.json()?)),
            ),
            Stream::Comments => self.fetch_each(
                &ids,
                |id| {
                    let (kind, n) = comment_ref(id)?;
                    Ok(self.gh.comment(kind, n))
                },
                |id, r| Ok(records::comment(comment_ref(id)?.0, r.json()?)),
            ),
        }
    }

    fn push(&self, stream: &str, changes: Vec<Change>) -> Vec<PushOutcome> {
        push::push(self, stream, changes)
    }

    fn reconcile(&self, stream: &str, changes: Vec<Change>) -> Vec<Reconciliation> {
        push::reconcile(self, stream, changes)
    }
}

impl GitHub {
    /// Sends requests together (the host's `send_batch`; in unit tests,
    /// `synchost_sdk::testing`'s server); one answer per request, in order.
    fn send_all(&self, requests: Vec<Request>) -> Vec<Result<Response, Error>> {
        http::send_batch(requests)
    }

    /// Sends one request.
    fn send(&self, request: Request) -> Result<Response, Error> {
        request.send()
    }

    /// One page of issues, pulls or comments.
    fn list_paged(&self, stream: Stream, req: &ListRequest) -> Result<Page, Error> {
        let mut state: Paged = cursor::decode(req.cursor.as_deref())?.unwrap_or_default();
        let since = req.since.as_deref();
        let limit = req.limit;
        // Pulls: the full listing is /pulls; a delta, the issues listing.
        let pulls_from_issues = stream == Stream::Pulls && since.is_some();
        let filtered = stream == Stream::Issues || pulls_from_issues;
        let mut records = Vec::new();
        if state.wm.is_none() {
            state.wm = since.map(str::to_owned);
        }
        for _ in 0..MAX_FILTERED_PAGES {
            let request = match (&state.next, stream, state.phase) {
                (Some(link), _, _) => self.gh.api.follow(&fit_page_size(link, limit)?),
                (None, Stream::Issues, _) => self.gh.issues(since, limit),
                (None, Stream::Pulls, _) if pulls_from_issues => self.gh.issues(since, limit),
                (None, Stream::Pulls, _) => self.gh.pulls(limit),
                (None, _, 0) => self.gh.issue_comments(since, limit),
                (None, _, _) => self.gh.review_comments(since, limit),
            };
            let what = what(&request);
            let response = self.repo_check(self.send(request)?, &what, None)?;
            let items: Vec<Value> = response.json()?;
            for element in items {
                if let Some(updated) = element.get("updated_at").and_then(Value::as_str) {
                    if state.wm.as_deref().is_none_or(|n| updated > n) {
                        state.wm = Some(updated.to_owned());
                    }
                }
                let is_pull = element.get("pull_request").is_some_and(|v| !v.is_null());
                let record = match stream {
                    Stream::Issues if is_pull => continue,
                    Stream::Pulls if pulls_from_issues && !is_pull => continue,
                    Stream::Issues => lenient::decode(&element).map(records::issue),
                    Stream::Pulls if pulls_from_issues => lenient::decode(&element)
                        .map(|i: api::Issue| Record::new(i.number.to_string(), i.updated_at)),
                    Stream::Pulls => lenient::decode(&element).map(records::pull),
                    _ => {
                        let kind = if state.phase == 0 {
                            CommentKind::Issue
                        } else {
                            CommentKind::Review
                        };
                        lenient::decode(&element).map(|c| records::comment(kind, c))
                    }
                };
                records.push(match record {
                    Ok(record) => record,
                    Err(why) => unreadable(stream, state.phase, &element, &why, &what)?,
                });
            }
            state.next = http::link_rel(&response, "next");
            if state.next.is_none() && stream == Stream::Comments && state.phase == 0 {
                state.phase = 1;
            } else if state.next.is_none() {
                return Ok(Page::new(records).watermark(state.wm));
            }
            // A listing that leaves entries out (issues without pull
            // requests, pull requests among issues) reads on past pages that
            // left nothing, so long runs of them are not a run of empty pages.
            if !records.is_empty() || !filtered {
                break;
            }
        }
        let watermark = state.wm.clone();
        Ok(Page::new(records)
            .next_cursor(cursor::encode(&state))
            .watermark(watermark))
    }

    /// One request per id, sent together; one result per id, in order.
    fn fetch_each(
        &self,
        ids: &[String],
        request: impl Fn(&str) -> Result<Request, Error>,
        record: impl Fn(&str, Response) -> Result<Record, Error>,
    ) -> Vec<Result<Record, Error>> {
        let planned: Vec<Result<Request, Error>> = ids.iter().map(|id| request(id)).collect();
        let mut sendable = Vec::new();
        let mut whats = Vec::new();
        for r in planned.iter().flatten() {
            whats.push(what(r));
            sendable.push(r.clone());
        }
        let mut answers = self.send_all(sendable).into_iter().zip(whats);
        planned
            .into_iter()
            .zip(ids)
            .map(|(plan, id)| {
                plan?;
                let (answer, what) = answers.next().ok_or_else(|| {
                    Error::fatal("the host returned fewer responses than requests")
                })?;
                record(id, api::check(answer?, &what)?)
            })
            .collect()
    }

    /// [`api::check`], with a 404 said as what it means for the repository
    /// (or the ref): not there, or not visible to this token.
    pub(crate) fn repo_check(
        &self,
        response: Response,
        what: &str,
        git_ref: Option<&str>,
    ) -> Result<Response, Error> {
        let status = response.status;
        let named = match git_ref {
            Some(r) => format!(" or ref `{r}` does not exist in it"),
            None => String::new(),
        };
        match api::check(response, what) {
            Err(Error::NotFound(m)) => Err(Error::invalid_config(format!(
                "setting `repo`: repository {} not found or no access (GitHub answers 404 for \
                 private repositories without access){named}; {m}",
                self.gh.name
            ))),
            Err(Error::InvalidResponse(m)) if status == 422 && git_ref.is_some() => {
                Err(Error::invalid_config(format!("setting `ref`: {m}")))
            }
            other => other,
        }
    }
}

/// A listing element that does not decode: a partial record under its id
/// when it has one (its `fetch` then fails with GitHub's answer, so the item
/// is reported, not lost), else an error for the page.
fn unreadable(
    stream: Stream,
    phase: u8,
    element: &Value,
    why: &str,
    what: &str,
) -> Result<Record, Error> {
    let key = if stream == Stream::Comments {
        "id"
    } else {
        "number"
    };
    let id = element
        .get(key)
        .and_then(Value::as_u64)
        .map(|n| match stream {
            Stream::Comments if phase == 0 => records::comment_id(CommentKind::Issue, n),
            Stream::Comments => records::comment_id(CommentKind::Review, n),
            _ => n.to_string(),
        });
    match id {
        Some(id) => {
            synchost_sdk::log::warn(format!("{}: unreadable entry {id}: {why}", stream.name()));
            Ok(Record::new(id, "unreadable"))
        }
        None => Err(Error::invalid_response(format!(
            "{what}: an entry without id: {why}"
        ))),
    }
}

/// The kind and GitHub id of a comment record id.
fn comment_ref(id: &str) -> Result<(CommentKind, u64), Error> {
    records::parse_comment_id(id)
        .ok_or_else(|| Error::not_found(format!("`{id}` is no comment id")))
}

/// A next link with `per_page` lowered to `limit` when a resumed run asks
/// for smaller pages than the link repeats (the host refuses pages over its
/// limit). `page` is renumbered so the offset stays; an offset the smaller
/// pages cannot reach is an error naming the page size to go back to.
fn fit_page_size(link: &str, limit: u32) -> Result<String, Error> {
    let Some((path, query)) = link.split_once('?') else {
        return Ok(link.to_owned());
    };
    let value = |name: &str| {
        query
            .split('&')
            .find_map(|p| p.strip_prefix(name)?.strip_prefix('=')?.parse::<u64>().ok())
    };
    let limit = u64::from(limit.max(1));
    let Some(per_page) = value("per_page").filter(|&n| n > limit) else {
        return Ok(link.to_owned());
    };
    let page = match value("page") {
        Some(page) => {
            let offset = page.saturating_sub(1) * per_page;
            if offset % limit != 0 {
                return Err(Error::fatal(format!(
                    "this listing was started with pages of {per_page} and cannot resume at \
                     pages of {limit}: set the source's page_size back to {per_page}"
                )));
            }
            Some(offset / limit + 1)
        }
        None => None,
    };
    let params: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some(("per_page", _)) => format!("per_page={limit}"),
            Some(("page", _)) => format!("page={}", page.unwrap_or(1)),
            _ => p.to_owned(),
        })
        .collect();
    Ok(format!("{path}?{}", params.join("&")))
}

/// An issue or pull request number from a record id.
fn number(id: &str) -> Result<u64, Error> {
    id.parse()
        .map_err(|_| Error::not_found(format!("`{id}` is no issue or pull request number")))
}

synchost_sdk::export_source!(GitHub);

#[cfg(test)]
mod push_tests;
#[cfg(test)]
mod tests;
