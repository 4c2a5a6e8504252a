//! Pushes and their reconciliation.
//!
//! - `files`: the contents API, one commit per change whose message names
//!   synchost and the change's key. An update sends the blob sha it was
//!   based on (GitHub answers 409 when the file moved on: the current file,
//!   read once, is the conflict); a create sends no sha (422 when the path
//!   is taken: the file there is read); a delete sends the base sha.
//!   Contents writes go one at a time, as GitHub asks (contracts §2.6).
//!   Reconcile reads the file: our content's git blob sha means applied.
//! - `issues`: title and body edits. GitHub has no precondition for them:
//!   the issue is read right before the `PATCH`, and a moved `updated_at` is
//!   a conflict. A write landing between that read and the `PATCH` is
//!   overwritten: the window is one round trip (`docs/github.md`).
//! - `comments`: new comments on an issue or pull request (`parent_id`),
//!   with the change's key in an HTML comment at the end of the body;
//!   reconcile looks for it among the issue's comments.

use crate::api::{self, CommentKind, Contents, FileCommit, Issue};
use crate::files::what;
use crate::{git, records, GitHub, Stream};
use synchost_sdk::http::{self, Request};
use synchost_sdk::prelude::*;
use synchost_sdk::push::{self as toolkit, holds_key, key_marker, Answer, Step};

pub fn push(p: &GitHub, stream: &str, changes: Vec<Change>) -> Vec<PushOutcome> {
    let stream = match Stream::parse(stream) {
        Ok(s) => s,
        Err(e) => return changes.iter().map(|_| e.clone().into()).collect(),
    };
    match stream {
        Stream::Files => {
            let branch = p.branch();
            // One at a time: each change is its own round of requests.
            changes
                .iter()
                .map(|c| {
                    let step = match &branch {
                        Ok(branch) => file_push(p, branch, c),
                        Err(e) => Err(e.clone()),
                    };
                    run_one(p, step)
                })
                .collect()
        }
        Stream::Issues => p.run(changes.iter().map(|c| settle(issue_push(p, c))).collect()),
        Stream::Comments => p.run(changes.iter().map(|c| settle(comment_push(p, c))).collect()),
        Stream::Pulls => changes
            .iter()
            .map(|_| Error::unsupported("stream `pulls` does not take pushes").into())
            .collect(),
    }
}

pub fn reconcile(p: &GitHub, stream: &str, changes: Vec<Change>) -> Vec<Reconciliation> {
    let stream = match Stream::parse(stream) {
        Ok(s) => s,
        Err(e) => return changes.iter().map(|_| e.clone().into()).collect(),
    };
    let steps = changes
        .iter()
        .map(|c| {
            settle(match stream {
                Stream::Files => p.branch().and_then(|b| file_reconcile(p, &b, c)),
                Stream::Issues => issue_reconcile(p, c),
                Stream::Comments => comment_reconcile(p, c),
                Stream::Pulls => Err(Error::unsupported("stream `pulls` does not take pushes")),
            })
        })
        .collect();
    p.run(steps)
}

fn settle<T: From<Error>>(step: Result<Step<T>, Error>) -> Step<T> {
    step.unwrap_or_else(|e| Step::done(e.into()))
}

fn run_one(p: &GitHub, step: Result<Step<PushOutcome>, Error>) -> PushOutcome {
    p.run(vec![settle(step)])
        .pop()
        .unwrap_or_else(|| Error::fatal("no outcome").into())
}

impl GitHub {
    /// Runs steps, each round together.
    fn run<T>(&self, steps: Vec<Step<T>>) -> Vec<T> {
        toolkit::run(steps)
    }

    /// The branch pushes commit to: `ref`, else the default branch.
    fn branch(&self) -> Result<String, Error> {
        match &self.config.git_ref {
            Some(r) => Ok(r.clone()),
            None => self.default_branch(),
        }
    }
}

/// The commit message of a change: what it does, and its key.
fn message(verb: &str, path: &str, key: &str) -> String {
    format!("synchost: {verb} {path}\n\n{}", key_marker(key))
}

/// A file change's path: the id, or for a creation `parent_id/title`.
fn file_path(change: &Change) -> Result<String, Error> {
    let path = match (change.op, change.id.as_deref().filter(|s| !s.is_empty())) {
        (_, Some(id)) => id.to_owned(),
        (ChangeOp::Create, None) => {
            let name = change.require_title()?;
            match change.parent_id.as_deref().filter(|s| !s.is_empty()) {
                Some(dir) => format!("{}/{name}", dir.trim_end_matches('/')),
                None => name.to_owned(),
            }
        }
        _ => change.require_id()?.to_owned(),
    };
    let bad = path.is_empty()
        || path.starts_with('/')
        || path
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        || path.chars().any(char::is_control);
    if bad {
        return Err(Error::unsupported(format!(
            "change `{}`: `{path}` is not a file path in the repository",
            change.key
        )));
    }
    Ok(path)
}

fn file_push(p: &GitHub, branch: &str, c: &Change) -> Result<Step<PushOutcome>, Error> {
    let path = file_path(c)?;
    let gh = &p.gh;
    let request = match c.op {
        ChangeOp::Update => {
            let content = c.content.as_deref().ok_or_else(|| missing(c, "content"))?;
            let msg = message("update", &path, &c.key);
            gh.put_contents(&path, content, Some(c.require_base()?), branch, &msg)
        }
        ChangeOp::Create => {
            let content = c.content.as_deref().ok_or_else(|| missing(c, "content"))?;
            gh.put_contents(
                &path,
                content,
                None,
                branch,
                &message("create", &path, &c.key),
            )
        }
        ChangeOp::Delete => {
            let msg = message("delete", &path, &c.key);
            gh.delete_contents(&path, c.require_base()?, branch, &msg)
        }
    };
    let what = what(&request);
    let ours = c.content.as_deref().map(git::blob_sha);
    let p2 = Owned::of(p, branch, &path, c);
    let op = c.op;
    Ok(Step::send(request, move |answer: Answer| {
        let response = match answer {
            Ok(r) => r,
            Err(e) => return Step::done(e.into()),
        };
        match (response.status, op) {
            (200 | 201, ChangeOp::Delete) => Step::done(PushOutcome::Applied(None)),
            (200 | 201, _) => Step::done(p2.written(&response, &what)),
            (404, ChangeOp::Delete) => Step::done(PushOutcome::Applied(None)),
            // Moved on (409), or a creation's path is taken (422 "sha
            // wasn't supplied"): the file as it is now decides.
            (409, _) | (422, ChangeOp::Create) => p2.read_current(move |current| match current {
                Ok(None) if op == ChangeOp::Delete => PushOutcome::Applied(None),
                Ok(None) => PushOutcome::Conflict(None),
                Ok(Some(record)) if Some(&record.version) == ours.as_ref() => {
                    PushOutcome::Applied(Some(record))
                }
                Ok(Some(record)) => PushOutcome::Conflict(Some(record)),
                Err(e) => e.into(),
            }),
            _ => Step::done(failure(response, &what).into()),
        }
    }))
}

fn file_reconcile(p: &GitHub, branch: &str, c: &Change) -> Result<Step<Reconciliation>, Error> {
    let path = file_path(c)?;
    let ours = c.content.as_deref().map(git::blob_sha);
    let base = c.base_version.clone();
    let op = c.op;
    let owned = Owned::of(p, branch, &path, c);
    Ok(owned.read_current(move |current| match (current, op) {
        (Err(e), _) => e.into(),
        (Ok(None), ChangeOp::Delete) => Reconciliation::Applied(None),
        (Ok(None), ChangeOp::Create) => Reconciliation::NotApplied,
        (Ok(None), ChangeOp::Update) => Reconciliation::Conflict(None),
        (Ok(Some(r)), ChangeOp::Create | ChangeOp::Update) if Some(&r.version) == ours.as_ref() => {
            Reconciliation::Applied(Some(r))
        }
        (Ok(Some(r)), ChangeOp::Update | ChangeOp::Delete) if Some(&r.version) == base.as_ref() => {
            Reconciliation::NotApplied
        }
        (Ok(Some(r)), _) => Reconciliation::Conflict(Some(r)),
    }))
}

/// What a file change's later steps need, owned (steps outlive the call's
/// borrows).
struct Owned {
    gh: api::Gh,
    max_bytes: u64,
    branch: String,
    path: String,
    content: Option<Vec<u8>>,
}

impl Owned {
    fn of(p: &GitHub, branch: &str, path: &str, c: &Change) -> Owned {
        Owned {
            gh: p.gh.clone(),
            max_bytes: p.config.max_file_bytes,
            branch: branch.to_owned(),
            path: path.to_owned(),
            content: c.content.clone(),
        }
    }

    /// The record of a write's answer: GitHub's new blob sha, our content.
    fn written(&self, response: &http::Response, what: &str) -> PushOutcome {
        let contents = match response.json::<FileCommit>() {
            Ok(FileCommit { content: Some(c) }) => c,
            Ok(_) => {
                return Error::invalid_response(format!("{what}: the answer names no file")).into()
            }
            Err(e) => return e.into(),
        };
        PushOutcome::Applied(Some(self.record(contents, self.content.clone())))
    }

    fn record(&self, contents: Contents, content: Option<Vec<u8>>) -> Record {
        let bytes = content.filter(|b| b.len() as u64 <= records::INLINE_MAX);
        let mut c = contents;
        c.content = None;
        match records::contents_entry(c) {
            Ok((entry, _)) => {
                let bytes = bytes.filter(|_| records::needs_fetch(&entry, self.max_bytes));
                records::file(&self.gh, &entry, self.max_bytes, bytes)
            }
            Err(_) => Record::new(&self.path, ""),
        }
    }

    /// Reads the file at the branch (one `GET`), then `then` decides:
    /// `Ok(None)` when it does not exist.
    fn read_current<T: From<Error> + 'static>(
        self,
        then: impl FnOnce(Result<Option<Record>, Error>) -> T + 'static,
    ) -> Step<T> {
        let request = self.gh.contents(&self.path, Some(&self.branch));
        let what = what(&request);
        Step::send(request, move |answer: Answer| {
            let current = answer.and_then(|response| {
                if response.status == 404 {
                    return Ok(None);
                }
                let response = api::check(response, &what)?;
                let contents: Contents = response.json()?;
                let (entry, bytes) = records::contents_entry(contents)
                    .map_err(|why| Error::invalid_response(format!("{what}: {why}")))?;
                let bytes = bytes.filter(|_| records::needs_fetch(&entry, self.max_bytes));
                Ok(Some(records::file(&self.gh, &entry, self.max_bytes, bytes)))
            });
            then(current)
        })
    }
}

fn missing(c: &Change, what: &str) -> Error {
    Error::unsupported(format!("change `{}` has no {what}", c.key))
}

/// A failed write: GitHub's error, 409 included (a conflict nobody read).
fn failure(response: http::Response, what: &str) -> Error {
    api::check(response, what)
        .err()
        .unwrap_or_else(|| Error::invalid_response(format!("{what}: unexpected answer")))
}

fn issue_number(c: &Change) -> Result<u64, Error> {
    c.require_id()?.parse().map_err(|_| {
        Error::unsupported(format!(
            "change `{}`: `{}` is no issue number",
            c.key,
            c.id.as_deref().unwrap_or("")
        ))
    })
}

fn issue_push(p: &GitHub, c: &Change) -> Result<Step<PushOutcome>, Error> {
    if c.op != ChangeOp::Update {
        return Err(Error::unsupported(format!(
            "change `{}`: issues take title and body edits only",
            c.key
        )));
    }
    let number = issue_number(c)?;
    let base = c.require_base()?.to_owned();
    let body = c.content_text()?.to_owned();
    let title = c.title.clone().filter(|t| !t.trim().is_empty());
    let gh = p.gh.clone();
    let read = gh.issue(number);
    let what_read = what(&read);
    Ok(Step::send(read, move |answer: Answer| {
        let issue = match answer
            .and_then(|r| api::check(r, &what_read))
            .and_then(|r| r.json::<Issue>())
        {
            Ok(issue) => issue,
            Err(Error::NotFound(_)) => return Step::done(PushOutcome::Conflict(None)),
            Err(e) => return Step::done(e.into()),
        };
        if issue.updated_at != base {
            return Step::done(PushOutcome::Conflict(Some(records::issue(issue))));
        }
        let title = title.unwrap_or_else(|| issue.title.clone());
        let patch = gh.patch_issue(number, &title, &body);
        let what_patch = what(&patch);
        Step::send(patch, move |answer: Answer| {
            match answer
                .and_then(|r| api::check(r, &what_patch))
                .and_then(|r| r.json::<Issue>())
            {
                Ok(issue) => PushOutcome::Applied(Some(records::issue(issue))),
                Err(e) => e.into(),
            }
        })
    }))
}

fn issue_reconcile(p: &GitHub, c: &Change) -> Result<Step<Reconciliation>, Error> {
    let number = issue_number(c)?;
    let base = c.base_version.clone();
    let body = c.content_text()?.to_owned();
    let title = c.title.clone();
    let read = p.gh.issue(number);
    let what = what(&read);
    Ok(Step::send(read, move |answer: Answer| {
        match answer
            .and_then(|r| api::check(r, &what))
            .and_then(|r| r.json::<Issue>())
        {
            Ok(issue) => {
                let ours = issue.body.as_deref().unwrap_or("") == body
                    && title.as_ref().is_none_or(|t| *t == issue.title);
                if ours && Some(&issue.updated_at) != base.as_ref() {
                    Reconciliation::Applied(Some(records::issue(issue)))
                } else if Some(&issue.updated_at) == base.as_ref() {
                    Reconciliation::NotApplied
                } else {
                    Reconciliation::Conflict(Some(records::issue(issue)))
                }
            }
            Err(Error::NotFound(_)) => Reconciliation::Conflict(None),
            Err(e) => e.into(),
        }
    }))
}

/// The body of a new comment: the text, then the change's key in an HTML
/// comment (invisible on GitHub).
fn comment_body(text: &str, key: &str) -> String {
    format!("{text}\n\n<!-- {} -->", key_marker(key))
}

fn comment_target(c: &Change) -> Result<u64, Error> {
    if c.op != ChangeOp::Create {
        return Err(Error::unsupported(format!(
            "change `{}`: comments take new comments only",
            c.key
        )));
    }
    c.parent_id
        .as_deref()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            Error::unsupported(format!(
                "change `{}`: a new comment needs the issue or pull request number as parent_id",
                c.key
            ))
        })
}

fn comment_push(p: &GitHub, c: &Change) -> Result<Step<PushOutcome>, Error> {
    let number = comment_target(c)?;
    let request =
        p.gh.create_comment(number, &comment_body(c.content_text()?, &c.key));
    let what = what(&request);
    Ok(Step::send(request, move |answer: Answer| {
        match answer
            .and_then(|r| api::check(r, &what))
            .and_then(|r| r.json())
        {
            Ok(comment) => {
                PushOutcome::Applied(Some(records::comment(CommentKind::Issue, comment)))
            }
            Err(e) => e.into(),
        }
    }))
}

fn comment_reconcile(p: &GitHub, c: &Change) -> Result<Step<Reconciliation>, Error> {
    let number = comment_target(c)?;
    Ok(find_comment(
        p.gh.clone(),
        p.gh.comments_of(number),
        c.key.clone(),
    ))
}

/// Walks the issue's comments (following `Link`) for our key.
fn find_comment(gh: api::Gh, request: Request, key: String) -> Step<Reconciliation> {
    let what = what(&request);
    Step::send(request, move |answer: Answer| {
        let response = match answer.and_then(|r| api::check(r, &what)) {
            Ok(r) => r,
            Err(Error::NotFound(_)) => return Step::done(Reconciliation::Conflict(None)),
            Err(e) => return Step::done(e.into()),
        };
        let comments: Vec<api::Comment> = match response.json() {
            Ok(c) => c,
            Err(e) => return Step::done(e.into()),
        };
        if let Some(found) = comments
            .into_iter()
            .find(|c| c.body.as_deref().is_some_and(|b| holds_key(b, &key)))
        {
            return Step::done(Reconciliation::Applied(Some(records::comment(
                CommentKind::Issue,
                found,
            ))));
        }
        match http::link_rel(&response, "next") {
            Some(next) => {
                let request = gh.api.follow(&next);
                find_comment(gh, request, key)
            }
            None => Step::done(Reconciliation::NotApplied),
        }
    })
}
