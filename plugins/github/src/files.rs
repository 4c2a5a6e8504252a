//! The `files` stream: the files of one commit of the ref, then the files
//! that changed since the last synced commit.
//!
//! A full listing walks the commit's tree from one recursive request (when
//! GitHub says it is `truncated`, level by level: each tree non-recursively,
//! its subtrees recursively again); its files' contents are members of the
//! commit's tarball, which the host downloads once. A delta asks whether the ref moved (one
//! conditional request: a 304 costs no rate limit), then compares the two
//! commits (one request, plus the new tree for modes and sizes) or, when
//! compare cannot answer, diffs the two trees. Commits are immutable, so
//! every page of an enumeration recomputes the same list (kept in memory,
//! rebuilt after a restart) and the cursor needs only a position in it.
//!
//! The watermark is the listed commit (with its ETag and ref): the host
//! stores it only after every page is in and no file failed, so a crash
//! never marks a commit synced early.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use crate::api::{self, Comparison, Repository, Tree, TreeEntry};
use crate::records::{self, Kind};
use crate::GitHub;
use serde::{Deserialize, Serialize};
use synchost_sdk::http::{Request, Response};
use synchost_sdk::prelude::*;
use synchost_sdk::{cursor, lenient};

/// Compare lists at most 300 files: that many may be a cut list.
const COMPARE_MAX_FILES: usize = 300;
/// Trees loaded in one `list` call while every level so far was empty.
const MAX_LEVELS_PER_CALL: usize = 8;

/// The commit an enumeration lists: the stream's watermark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub sha: String,
    /// The ETag of the ref's head answer, for the next conditional request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The ref the commit was read from (the default branch when `ref` is
    /// not set).
    #[serde(rename = "ref")]
    pub git_ref: String,
}

/// Where a files enumeration stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilesCursor {
    pub mark: Mark,
    /// A delta: the commit changes are counted from. `None`: a full listing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// A full listing: the trees still to list, `(path prefix, sha)`; the
    /// last one is listed now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stack: Vec<(String, String)>,
    /// The position in the current list (tree level or changes).
    #[serde(default)]
    pub at: usize,
}

/// One level of a full walk: files under a tree, and its subtrees still to
/// walk (only when GitHub truncated the recursive answer).
#[derive(Debug, Default)]
pub struct Level {
    pub entries: Vec<TreeEntry>,
    pub subtrees: Vec<(String, String)>,
}

/// One change of a delta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChange {
    Upsert(TreeEntry),
    Delete(String),
}

/// What the plugin keeps between calls of one instance: trees and deltas
/// already read (so pages after the first cost no request) and the entries
/// of listed files (so `fetch` reads them by blob sha).
#[derive(Default)]
pub struct Cache {
    levels: HashMap<(String, String), Rc<Level>>,
    deltas: HashMap<(String, String), Rc<Vec<FileChange>>>,
    /// Listed files by path, for `fetch`.
    pub entries: HashMap<String, TreeEntry>,
    /// The commit listed last, for `fetch`es of files not in `entries`.
    pub commit: Option<String>,
}

/// Beyond this many remembered files, the oldest are forgotten (`fetch`
/// then reads such a file through the contents API).
const MAX_REMEMBERED: usize = 200_000;

impl Cache {
    fn remember(&mut self, entries: &[TreeEntry]) {
        if self.entries.len() + entries.len() > MAX_REMEMBERED {
            self.entries.clear();
        }
        for e in entries {
            self.entries.insert(e.path.clone(), e.clone());
        }
    }
}

impl GitHub {
    pub(crate) fn list_files(&self, req: &ListRequest) -> Result<Page, Error> {
        let since: Option<Mark> = match req.since.as_deref() {
            Some(text) => Some(decode_mark(text)?),
            None => None,
        };
        let state = match cursor::decode::<FilesCursor>(req.cursor.as_deref())? {
            Some(state) => state,
            None => match self.start(since.as_ref())? {
                Start::Unchanged(mark) => {
                    return Ok(Page::new(Vec::new()).watermark(cursor::encode(&mark)))
                }
                Start::Empty => return Ok(Page::new(Vec::new())),
                Start::List(state) => state,
            },
        };
        self.cache.borrow_mut().commit = Some(state.mark.sha.clone());
        match &state.base {
            Some(base) => self.delta_page(base, state.clone(), req.limit),
            None => self.full_page(state, req),
        }
    }

    /// The first call of an enumeration: where the ref is now.
    fn start(&self, since: Option<&Mark>) -> Result<Start, Error> {
        let git_ref = match (&self.config.git_ref, since) {
            (Some(r), _) => r.clone(),
            (None, Some(mark)) => mark.git_ref.clone(),
            (None, None) => self.default_branch()?,
        };
        let etag = since
            .filter(|m| m.git_ref == git_ref)
            .and_then(|m| m.etag.as_deref());
        let request = self.gh.head(&git_ref, etag);
        let what = what(&request);
        let response = self.send(request)?;
        // An empty repository has no commit (GitHub: 409 "Git Repository is
        // empty."): nothing to list.
        if response.status == 409 {
            return Ok(Start::Empty);
        }
        let response = self.repo_check(response, &what, Some(&git_ref))?;
        if response.status == 304 {
            if let Some(mark) = since {
                return Ok(Start::Unchanged(mark.clone()));
            }
        }
        let sha = response.text()?.trim().to_owned();
        if !is_sha(&sha) {
            return Err(Error::invalid_response(format!(
                "{what}: expected a commit sha, got `{}`",
                sha.chars().take(80).collect::<String>()
            )));
        }
        let mark = Mark {
            sha,
            etag: response.header("etag").map(str::to_owned),
            git_ref,
        };
        Ok(match since {
            Some(old) if old.sha == mark.sha => Start::Unchanged(mark),
            Some(old) => Start::List(FilesCursor {
                base: Some(old.sha.clone()),
                stack: Vec::new(),
                at: 0,
                mark,
            }),
            None => Start::List(FilesCursor {
                base: None,
                stack: vec![(String::new(), mark.sha.clone())],
                at: 0,
                mark,
            }),
        })
    }

    /// The default branch, read once per instance.
    pub(crate) fn default_branch(&self) -> Result<String, Error> {
        if let Some(branch) = self.default_branch.borrow().as_ref() {
            return Ok(branch.clone());
        }
        let request = self.gh.repository();
        let what = what(&request);
        let repo: Repository = self.repo_check(self.send(request)?, &what, None)?.json()?;
        *self.default_branch.borrow_mut() = Some(repo.default_branch.clone());
        Ok(repo.default_branch)
    }

    /// A page of a full listing: the next files of the current tree level;
    /// at its end, the next level.
    fn full_page(&self, mut state: FilesCursor, req: &ListRequest) -> Result<Page, Error> {
        let limit = req.limit.max(1) as usize;
        let mut records = Vec::new();
        for _ in 0..MAX_LEVELS_PER_CALL {
            let Some((prefix, sha)) = state.stack.last().cloned() else {
                break;
            };
            let level = self.level(&prefix, &sha)?;
            let end = (state.at + limit).min(level.entries.len());
            let entries = &level.entries[state.at.min(end)..end];
            self.cache.borrow_mut().remember(entries);
            let tarball = self.gh.tarball_url(&state.mark.sha);
            records.extend(
                entries
                    .iter()
                    .map(|e| self.file_record(e, req.detail, Some(&tarball))),
            );
            if end < level.entries.len() {
                state.at = end;
                break;
            }
            state.stack.pop();
            state.stack.extend(level.subtrees.iter().rev().cloned());
            state.at = 0;
            if !records.is_empty() {
                break;
            }
        }
        let next = (!state.stack.is_empty()).then(|| cursor::encode(&state));
        Ok(Page::new(records)
            .next_cursor(next)
            .watermark(cursor::encode(&state.mark)))
    }

    /// A listed file: complete when its content is a blob (a member of
    /// `tarball`, the listed commit's archive, in a full listing) or nothing,
    /// partial when `fetch` reads it (and for ids-only listings).
    fn file_record(&self, entry: &TreeEntry, detail: Detail, tarball: Option<&str>) -> Record {
        let max = self.config.max_file_bytes;
        let record = match tarball {
            Some(url) => records::archived_file(&self.gh, entry, max, url),
            None => records::file(&self.gh, entry, max, None),
        };
        match detail {
            Detail::IdsOnly => Record::new(record.id, record.version),
            Detail::Full => record,
        }
    }

    /// The files under tree `sha` (paths prefixed with `prefix`), from
    /// memory or one recursive request (two when GitHub truncates it).
    fn level(&self, prefix: &str, sha: &str) -> Result<Rc<Level>, Error> {
        let key = (prefix.to_owned(), sha.to_owned());
        if let Some(level) = self.cache.borrow().levels.get(&key) {
            return Ok(level.clone());
        }
        let tree = self.tree(sha, true)?;
        let (tree, recursive) = if tree.truncated {
            (self.tree(sha, false)?, false)
        } else {
            (tree, true)
        };
        let mut level = Level::default();
        for mut entry in tree.tree {
            entry.path = format!("{prefix}{}", entry.path);
            if records::kind(&entry) == Kind::Tree {
                if !recursive {
                    level.subtrees.push((format!("{}/", entry.path), entry.sha));
                }
            } else if self.config.wants(&entry.path) {
                level.entries.push(entry);
            }
        }
        let level = Rc::new(level);
        let mut cache = self.cache.borrow_mut();
        if cache.levels.len() >= 4 {
            cache.levels.clear();
        }
        cache.levels.insert(key, level.clone());
        Ok(level)
    }

    fn tree(&self, sha: &str, recursive: bool) -> Result<Tree, Error> {
        let request = self.gh.tree(sha, recursive);
        let what = what(&request);
        api::check(self.send(request)?, &what)?.json()
    }

    /// A page of a delta: the next changes between `base` and the mark.
    fn delta_page(&self, base: &str, mut state: FilesCursor, limit: u32) -> Result<Page, Error> {
        let changes = self.changes(base, &state.mark.sha)?;
        let end = (state.at + limit.max(1) as usize).min(changes.len());
        let mut records = Vec::new();
        let mut deleted = Vec::new();
        let mut upserts = Vec::new();
        for change in &changes[state.at.min(end)..end] {
            match change {
                FileChange::Upsert(entry) => {
                    upserts.push(entry.clone());
                    records.push(self.file_record(entry, Detail::Full, None));
                }
                FileChange::Delete(path) => deleted.push(path.clone()),
            }
        }
        self.cache.borrow_mut().remember(&upserts);
        state.at = end;
        let next = (end < changes.len()).then(|| cursor::encode(&state));
        Ok(Page::new(records)
            .deleted(deleted)
            .next_cursor(next)
            .watermark(cursor::encode(&state.mark)))
    }

    /// The file changes from commit `base` to `head`, sorted by path: from
    /// compare when it can answer, else from the two trees.
    fn changes(&self, base: &str, head: &str) -> Result<Rc<Vec<FileChange>>, Error> {
        let key = (base.to_owned(), head.to_owned());
        if let Some(changes) = self.cache.borrow().deltas.get(&key) {
            return Ok(changes.clone());
        }
        let changes = match self.compared(base, head)? {
            Some(changes) => changes,
            None => self.tree_diff(base, head)?,
        };
        let changes: Vec<FileChange> = changes
            .into_iter()
            .filter(|c| match c {
                FileChange::Upsert(e) => self.config.wants(&e.path),
                FileChange::Delete(p) => self.config.wants(p),
            })
            .collect();
        let changes = Rc::new(changes);
        let mut cache = self.cache.borrow_mut();
        cache.deltas.clear();
        cache.deltas.insert(key, changes.clone());
        Ok(changes)
    }

    /// The changes compare names, with modes and sizes from `head`'s tree;
    /// `None` when compare cannot answer exactly: an unknown or rewritten
    /// base (404, 422), history that is not a fast-forward (`diverged`,
    /// `behind`: a force-push), or 300 files (the list may be cut).
    fn compared(&self, base: &str, head: &str) -> Result<Option<Vec<FileChange>>, Error> {
        let request = self.gh.compare(base, head);
        let what = what(&request);
        let response = self.send(request)?;
        if matches!(response.status, 404 | 422) {
            return Ok(None);
        }
        let comparison: Comparison = api::check(response, &what)?.json()?;
        if !matches!(comparison.status.as_str(), "ahead" | "identical")
            || comparison.files.len() >= COMPARE_MAX_FILES
        {
            return Ok(None);
        }
        let tree = self.tree(head, true)?;
        let by_path: HashMap<&str, &TreeEntry> =
            tree.tree.iter().map(|e| (e.path.as_str(), e)).collect();
        let mut changes = BTreeMap::new();
        for file in &comparison.files {
            if let Some(previous) = file
                .previous_filename
                .as_ref()
                .filter(|_| file.status == "renamed")
            {
                changes.insert(previous.clone(), FileChange::Delete(previous.clone()));
            }
            if file.status == "removed" {
                changes.insert(
                    file.filename.clone(),
                    FileChange::Delete(file.filename.clone()),
                );
                continue;
            }
            let entry = match (by_path.get(file.filename.as_str()), &file.sha) {
                (Some(entry), _) => (*entry).clone(),
                // Not in a truncated tree: a regular file, by compare's sha.
                (None, Some(sha)) if tree.truncated => TreeEntry {
                    path: file.filename.clone(),
                    mode: "100644".into(),
                    kind: "blob".into(),
                    sha: sha.clone(),
                    size: None,
                },
                _ => return Ok(None),
            };
            changes.insert(file.filename.clone(), FileChange::Upsert(entry));
        }
        Ok(Some(changes.into_values().collect()))
    }

    /// The changes between two complete trees: new or changed entries
    /// (sha or mode), and paths only `base` has.
    fn tree_diff(&self, base: &str, head: &str) -> Result<Vec<FileChange>, Error> {
        let old = self.tree(base, true)?;
        let new = self.tree(head, true)?;
        if old.truncated || new.truncated {
            return Err(Error::fatal(format!(
                "the trees of {base} and {head} are too large for GitHub to list in one \
                 answer, and compare cannot tell what changed between them: run a full sync \
                 (`synchost sync --full`)"
            )));
        }
        let files = |t: Tree| -> BTreeMap<String, TreeEntry> {
            t.tree
                .into_iter()
                .filter(|e| records::kind(e) != Kind::Tree)
                .map(|e| (e.path.clone(), e))
                .collect()
        };
        let (old, new) = (files(old), files(new));
        let mut changes = BTreeMap::new();
        for (path, entry) in &new {
            if old
                .get(path)
                .is_none_or(|o| o.sha != entry.sha || o.mode != entry.mode)
            {
                changes.insert(path.clone(), FileChange::Upsert(entry.clone()));
            }
        }
        for path in old.keys().filter(|p| !new.contains_key(*p)) {
            changes.insert(path.clone(), FileChange::Delete(path.clone()));
        }
        Ok(changes.into_values().collect())
    }

    /// `fetch` of files: each by its blob sha when listed by this instance,
    /// else through the contents API at the listed commit; all at once.
    pub(crate) fn fetch_files(&self, ids: &[String]) -> Vec<Result<Record, Error>> {
        let cache = self.cache.borrow();
        // The listed commit; before any listing, the configured ref.
        let commit = cache.commit.clone().or_else(|| self.config.git_ref.clone());
        let plans: Vec<Option<TreeEntry>> = ids
            .iter()
            .map(|id| cache.entries.get(id).cloned())
            .collect();
        drop(cache);
        let max = self.config.max_file_bytes;
        // A listed file that is not read inline (a host retry of a large
        // one) needs no request: its record points at the blob again.
        let requests: Vec<Request> = ids
            .iter()
            .zip(&plans)
            .filter_map(|(id, plan)| match plan {
                Some(entry) if records::needs_fetch(entry, max) => Some(self.gh.blob(&entry.sha)),
                Some(_) => None,
                None => Some(self.gh.contents(id, commit.as_deref())),
            })
            .collect();
        let whats: Vec<String> = requests.iter().map(what).collect();
        let mut answers = self.send_all(requests).into_iter().zip(whats);
        plans
            .into_iter()
            .map(|plan| {
                if let Some(entry) = plan.as_ref().filter(|e| !records::needs_fetch(e, max)) {
                    return Ok(records::file(&self.gh, entry, max, None));
                }
                let (answer, what) = answers.next().expect("one answer per request");
                let response = api::check(answer?, &what)?;
                match plan {
                    Some(entry) => self.blob_record(&entry, &response, &what),
                    None => self.contents_record(&response, &what),
                }
            })
            .collect()
    }

    fn blob_record(
        &self,
        entry: &TreeEntry,
        response: &Response,
        what: &str,
    ) -> Result<Record, Error> {
        let blob: api::Blob = response.json()?;
        let bytes = blob
            .bytes()
            .map_err(|why| Error::invalid_response(format!("{what}: {why}")))?;
        Ok(records::file(
            &self.gh,
            entry,
            self.config.max_file_bytes,
            Some(bytes),
        ))
    }

    pub(crate) fn contents_record(&self, response: &Response, what: &str) -> Result<Record, Error> {
        let value: serde_json::Value = response.json()?;
        let contents: api::Contents = lenient::decode(&value)
            .map_err(|why| Error::invalid_response(format!("{what}: {why}")))?;
        let (entry, bytes) = records::contents_entry(contents)
            .map_err(|why| Error::invalid_response(format!("{what}: {why}")))?;
        let bytes = bytes.filter(|_| records::needs_fetch(&entry, self.config.max_file_bytes));
        let record = records::file(&self.gh, &entry, self.config.max_file_bytes, bytes);
        if !record.is_complete() {
            return Err(Error::invalid_response(format!(
                "{what}: the answer holds no content for `{}`",
                entry.path
            )));
        }
        Ok(record)
    }
}

enum Start {
    /// The ref has not moved: nothing to list; the (possibly refreshed) mark.
    Unchanged(Mark),
    /// The repository has no commit yet.
    Empty,
    List(FilesCursor),
}

fn decode_mark(text: &str) -> Result<Mark, Error> {
    serde_json::from_str::<Mark>(text)
        .ok()
        .filter(|m| is_sha(&m.sha))
        .ok_or_else(|| {
            Error::fatal(format!(
                "watermark `{}` names no commit: it was not made by this plugin",
                text.chars().take(120).collect::<String>()
            ))
        })
}

/// A full hex sha (SHA-1 or SHA-256).
pub fn is_sha(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `METHOD url` of a request, for messages.
pub fn what(request: &Request) -> String {
    format!("{} {}", request.method(), request.url())
}
