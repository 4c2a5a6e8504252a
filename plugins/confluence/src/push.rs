//! Push and reconcile for the `pages` stream (`docs/confluence.md`, "Push").
//!
//! Each change is one chain of requests (a [`Step`]); the SDK sends the
//! requests of every change's round together, so a batch of updates costs
//! one round trip of the host's concurrency. Requests per change:
//!
//! | change | requests |
//! |--------|----------|
//! | update applied, or the page gone (404) | 1: `PUT` |
//! | update refused with 409 | 2: `PUT`, `GET` the page (ours → applied, else conflict) |
//! | create applied | 1: `POST` |
//! | create refused with 400 (duplicate title) | 2: `POST`, `GET` by title (same body → applied, else conflict) |
//! | delete | 2: `GET` (404 → applied, other version → conflict, 1 request), `DELETE` |
//! | update whose change has no title | 1 more: `GET` the page first, to keep its title |
//! | change with `metadata.labels` | 1 more (`POST` of the set), and 1 per label removed |
//!
//! Every record returned (applied or conflict) is made by [`records::page`],
//! as in a pull, so its version is the one the next pull sees and skips.
//! An update stores `synchost change <key>` as its version message, which is
//! how a 409 after our own write (a retried `PUT`) and `reconcile` recognise
//! it; a create is recognised by its title and body, the page's natural key.

use std::rc::Rc;

use crate::api;
use crate::config::BodyFormat;
use crate::extras::{self, Extras, Wanted};
use crate::records;
use serde_json::Value;
use synchost_sdk::http::{Request, Response};
use synchost_sdk::push::{self, Answer, Step};
use synchost_sdk::{lenient, Change, ChangeOp, Error, PushOutcome, Reconciliation, Record};

/// What the steps of one `push` or `reconcile` call share.
pub struct Target {
    pub base_url: String,
    /// Pages or blog posts.
    pub kind: api::Kind,
    pub format: BodyFormat,
    /// The space's id, for creates; `None` when the batch has none (the
    /// space is then not resolved).
    pub space_id: Option<Result<String, Error>>,
    /// What the settings add to pulled records (labels, properties,
    /// restrictions): an applied change's record gets the same, with one
    /// search, so that its version is the one the next pull sees.
    pub wanted: Option<Wanted>,
}

pub type Shared = Rc<Target>;

/// The chain of requests that pushes `change`.
pub fn push_step(t: &Shared, change: &Change) -> Step<PushOutcome> {
    let step = match change.op {
        ChangeOp::Update => update(t, change),
        ChangeOp::Create => create(t, change),
        ChangeOp::Delete => delete(t, change),
    };
    step.unwrap_or_else(|e| Step::done(e.into()))
}

/// The chain of reads that tells whether `change`, sent before, took effect.
pub fn reconcile_step(t: &Shared, change: &Change) -> Step<Reconciliation> {
    let step = match change.op {
        ChangeOp::Update | ChangeOp::Delete => reconcile_existing(t, change),
        ChangeOp::Create => reconcile_create(t, change),
    };
    // A change `push` refuses before sending anything cannot have landed.
    step.unwrap_or(Step::done(Reconciliation::NotApplied))
}

/// An update's write.
struct Update {
    id: String,
    base: i64,
    value: String,
    key: String,
}

fn update(t: &Shared, change: &Change) -> Result<Step<PushOutcome>, Error> {
    let labels = desired_labels(change)?;
    let write = Update {
        id: change.require_id()?.to_owned(),
        base: base_number(change)?,
        value: change.content_text()?.to_owned(),
        key: change.key.clone(),
    };
    let then = t.clone();
    Ok(write_update(t, change, write)?.and_then(move |outcome| finish(&then, outcome, labels)))
}

/// The update's `PUT`, after a read of the page when the change has no
/// title.
fn write_update(t: &Shared, change: &Change, write: Update) -> Result<Step<PushOutcome>, Error> {
    let Some(title) = change.title.clone() else {
        // Keep the page's title: read the page first.
        return Ok(read(
            t,
            &write.id.clone(),
            move |t, page, what| match page {
                None => Step::done(PushOutcome::Conflict(None)),
                Some(page) if page.version.number != write.base => {
                    Step::done(PushOutcome::Conflict(Some(t.record(page))))
                }
                Some(page) => match page.title.clone() {
                    Some(title) => put(t, write, title),
                    None => Step::done(Error::invalid_response(format!("{what}: no title")).into()),
                },
            },
        ));
    };
    Ok(put(t, write, title))
}

/// `PUT` as version base+1; on 409, read the page: our message on it means
/// this write landed before (a retried request), anything else a conflict.
fn put(t: &Shared, write: Update, title: String) -> Step<PushOutcome> {
    let request = api::update(
        &t.base_url,
        t.kind,
        &write.id,
        &title,
        t.format,
        &write.value,
        write.base + 1,
        &push::key_marker(&write.key),
    );
    let what = what(&request);
    let t = t.clone();
    Step::send(request, move |answer| {
        let response = match answer {
            Ok(response) => response,
            Err(e) => return Step::done(e.into()),
        };
        match response.status {
            // One read per conflict: a retried PUT of ours shows as our key
            // on the current version. (Ours overwritten since is left to
            // `reconcile`, which reads one version more.)
            409 => read(&t, &write.id.clone(), move |t, page, _| match page {
                None => PushOutcome::Conflict(None),
                Some(page) if written_by(&page, &write.key) => {
                    PushOutcome::Applied(Some(t.record(page)))
                }
                Some(page) => PushOutcome::Conflict(Some(t.record(page))),
            }),
            404 => Step::done(PushOutcome::Conflict(None)),
            _ => Step::done(t.written(response, &what, &write.value)),
        }
    })
}

fn create(t: &Shared, change: &Change) -> Result<Step<PushOutcome>, Error> {
    let labels = desired_labels(change)?;
    // `require_title` refuses an untitled page as `unsupported`: Confluence
    // would answer 400 "Non-drafts cannot have empty titles", so it is the
    // change that cannot be pushed as it is; nothing is wrong with the
    // settings (`invalid-config`) or the remote (`invalid-response`), and
    // the rest of the push goes on (unlike `fatal`).
    let title = change.require_title()?.to_owned();
    let value = change.content_text()?.to_owned();
    let space = t.space_id()?;
    let request = api::create(
        &t.base_url,
        t.kind,
        &space,
        &title,
        change.parent_id.as_deref(),
        t.format,
        &value,
    );
    let what = what(&request);
    let then = t.clone();
    let t = t.clone();
    let step = Step::send(request, move |answer| {
        let response = match answer {
            Ok(response) => response,
            Err(e) => return Step::done(e.into()),
        };
        if response.status != 400 {
            return Step::done(t.written(response, &what, &value));
        }
        // A duplicate title is a 400 whose wording is not confirmed, so any
        // 400 looks the title up: our earlier write, another page, or
        // (none) the 400 was about something else.
        let refused = failure(response, &what);
        find_title(&t, &space, &title, &value, move |found| match found {
            Ok(Some(Found::Ours(record))) => PushOutcome::Applied(Some(record)),
            Ok(Some(Found::Other(record))) => PushOutcome::Conflict(Some(record)),
            Ok(None) => refused.into(),
            Err(e) => e.into(),
        })
    });
    Ok(step.and_then(move |outcome| finish(&then, outcome, labels)))
}

/// `GET` first (the API has no precondition on `DELETE`), then `DELETE`
/// only while the page still has the base version.
fn delete(t: &Shared, change: &Change) -> Result<Step<PushOutcome>, Error> {
    let id = change.require_id()?.to_owned();
    let base = base_number(change)?;
    Ok(read(t, &id.clone(), move |t, page, _| match page {
        None => Step::done(PushOutcome::Applied(None)),
        Some(page) if page.version.number != base => {
            Step::done(PushOutcome::Conflict(Some(t.record(page))))
        }
        Some(_) => {
            let request = api::delete(&t.base_url, t.kind, &id);
            let what = what(&request);
            Step::send(request, move |answer| match answer {
                Ok(r) if r.is_success() || r.status == 404 => PushOutcome::Applied(None),
                Ok(r) => failure(r, &what).into(),
                Err(e) => e.into(),
            })
        }
    }))
}

/// Updates and deletes: read the page. Our key on it → applied; gone → a
/// deletion applied, an update in conflict; still the base version → not
/// applied; anything else → conflict.
fn reconcile_existing(t: &Shared, change: &Change) -> Result<Step<Reconciliation>, Error> {
    let id = change.require_id()?.to_owned();
    let base = base_number(change)?;
    let labels = match change.op {
        ChangeOp::Update => desired_labels(change)?,
        _ => None, // a deletion sets no labels
    };
    let (op, key) = (change.op, change.key.clone());
    let then = t.clone();
    let step = read(t, &id, move |t, page, _| match (page, op) {
        (None, ChangeOp::Delete) => Step::done(Reconciliation::Applied(None)),
        (None, _) => Step::done(Reconciliation::Conflict(None)),
        (Some(page), _) if page.version.number == base => Step::done(Reconciliation::NotApplied),
        (Some(page), ChangeOp::Update) => landed(t, page, base, key),
        (Some(page), _) => Step::done(Reconciliation::Conflict(Some(t.record(page)))),
    });
    Ok(step.and_then(move |answer| labels_landed(&then, answer, labels)))
}

/// Whether an update based on `base` landed, seen from the page as it is
/// now: our key on the current version, or, when others wrote after it, on
/// version `base + 1` (one more read: a `GET` of that version). Applied or
/// not, the answer carries the page as it is now.
fn landed(t: &Shared, page: api::Page, base: i64, key: String) -> Step<Reconciliation> {
    if written_by(&page, &key) {
        return Step::done(Reconciliation::Applied(Some(t.record(page))));
    }
    if page.version.number <= base + 1 {
        return Step::done(Reconciliation::Conflict(Some(t.record(page))));
    }
    let request = api::one_version(&t.base_url, t.kind, &page.id, t.format, base + 1);
    let what = what(&request);
    let now = t.record(page);
    Step::send(request, move |answer: Answer| {
        let ours = answer
            .and_then(|response| page_of(api::check(response, &what)?, &what))
            .map(|version| written_by(&version, &key));
        Step::done(match ours {
            Ok(true) => Reconciliation::Applied(Some(now)),
            Ok(false) => Reconciliation::Conflict(Some(now)),
            Err(e) => e.into(),
        })
    })
}

/// Creates: look the title up. None → not applied; our body → applied;
/// another page → conflict.
fn reconcile_create(t: &Shared, change: &Change) -> Result<Step<Reconciliation>, Error> {
    let labels = desired_labels(change)?;
    let title = change.require_title()?.to_owned();
    let value = change.content_text()?.to_owned();
    let space = match t.space_id() {
        Ok(space) => space,
        Err(e) => return Ok(Step::done(e.into())),
    };
    let then = t.clone();
    let step = find_title(t, &space, &title, &value, |found| match found {
        Ok(None) => Reconciliation::NotApplied,
        Ok(Some(Found::Ours(record))) => Reconciliation::Applied(Some(record)),
        Ok(Some(Found::Other(record))) => Reconciliation::Conflict(Some(record)),
        Err(e) => e.into(),
    });
    Ok(step.and_then(move |answer| labels_landed(&then, answer, labels)))
}

// ---------------------------------------------------------------- labels

/// Labels per change: the bound of a pulled record's labels.
const MAX_PUSHED_LABELS: usize = extras::MAX_LABELS;

/// The complete label set a change asks for (`metadata.labels`), or `None`
/// when it leaves labels alone. Names are checked before anything is sent:
/// Confluence refuses empty names and whitespace.
fn desired_labels(change: &Change) -> Result<Option<Vec<String>>, Error> {
    let refused = |why: String| Error::unsupported(format!("change `{}`: {why}", change.key));
    let metadata: Value = serde_json::from_str(&change.metadata)
        .map_err(|e| refused(format!("metadata is not JSON: {e}")))?;
    let labels = match metadata.get("labels") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(labels)) => labels,
        Some(_) => {
            return Err(refused(
                "metadata.labels must be an array of label names".into(),
            ))
        }
    };
    if labels.len() > MAX_PUSHED_LABELS {
        return Err(refused(format!(
            "metadata.labels has {} labels, more than {MAX_PUSHED_LABELS}",
            labels.len()
        )));
    }
    let mut names = Vec::with_capacity(labels.len());
    for label in labels {
        let name = label
            .as_str()
            .ok_or_else(|| refused(format!("metadata.labels: {label} is not a string")))?;
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            return Err(refused(format!(
                "metadata.labels: {name:?} is not a Confluence label (empty, or with whitespace)"
            )));
        }
        names.push(extras::bounded(name, extras::MAX_LABEL_CHARS, "a label").map_err(refused)?);
    }
    names.sort();
    names.dedup();
    Ok(Some(names))
}

/// After a write: an applied change gets its labels (when it asks for a set),
/// then its record the settings' extras; any other outcome stays as it is.
/// A label request that fails fails the change; the host sends it again,
/// the write is then recognised as ours (409, our key) and the labels are
/// set again: every label step is idempotent.
fn finish(t: &Shared, outcome: PushOutcome, labels: Option<Vec<String>>) -> Step<PushOutcome> {
    let PushOutcome::Applied(Some(record)) = outcome else {
        return Step::done(outcome);
    };
    let Some(labels) = labels else {
        return with_extras(t, record);
    };
    let then = t.clone();
    set_labels(t, &record.id, labels).and_then(move |result| match result {
        Ok(()) => with_extras(&then, record),
        Err(e) => Step::done(e.into()),
    })
}

/// Makes `desired` the labels of `id`: one `POST` of them all (labels
/// already there stay; the answer lists them all), or a `GET` when the set
/// is empty, then one `DELETE` per label not wanted (compared without case:
/// Confluence keeps labels in lower case).
fn set_labels(t: &Shared, id: &str, desired: Vec<String>) -> Step<Result<(), Error>> {
    let request = match desired.is_empty() {
        true => extras::labels_request(&t.base_url, id),
        false => api::add_labels(&t.base_url, id, &desired),
    };
    let what = what(&request);
    let (t, id) = (t.clone(), id.to_owned());
    Step::send(request, move |answer: Answer| {
        match answer.and_then(|response| current_labels(response, &what)) {
            Ok(current) => remove_labels(&t, id, surplus(&current, &desired)),
            Err(e) => Step::done(Err(e)),
        }
    })
}

/// Removes `names` from `id`, one `DELETE` a round; a 404 (already gone)
/// counts as done.
fn remove_labels(t: &Shared, id: String, mut names: Vec<String>) -> Step<Result<(), Error>> {
    let Some(name) = names.pop() else {
        return Step::done(Ok(()));
    };
    let request = api::remove_label(&t.base_url, &id, &name);
    let what = what(&request);
    let t = t.clone();
    Step::send(request, move |answer: Answer| match answer {
        Ok(r) if r.is_success() || r.status == 404 => remove_labels(&t, id, names),
        Ok(r) => Step::done(Err(failure(r, &what))),
        Err(e) => Step::done(Err(e)),
    })
}

/// The label names of a `LabelArray` answer.
fn current_labels(response: Response, what: &str) -> Result<Vec<String>, Error> {
    let array: Value = api::check(response, what)?.json()?;
    extras::labels(Some(&array))
        .map(|(names, _)| names)
        .map_err(|why| Error::invalid_response(format!("{what}: {why}")))
}

/// The labels of `current` that `desired` does not name (without case).
fn surplus(current: &[String], desired: &[String]) -> Vec<String> {
    let wanted: Vec<String> = desired.iter().map(|d| d.to_lowercase()).collect();
    current
        .iter()
        .filter(|c| !wanted.contains(&c.to_lowercase()))
        .cloned()
        .collect()
}

/// A reconciliation that found the write applied is applied only when the
/// labels the change asks for are there too (one `GET`); otherwise it is
/// not applied, and the host sends it again (the write is then recognised
/// as ours and the labels are set).
fn labels_landed(
    t: &Shared,
    answer: Reconciliation,
    labels: Option<Vec<String>>,
) -> Step<Reconciliation> {
    let (Reconciliation::Applied(Some(record)), Some(labels)) = (&answer, labels) else {
        return Step::done(answer);
    };
    let request = extras::labels_request(&t.base_url, &record.id);
    let what = what(&request);
    Step::send(request, move |reply: Answer| {
        match reply.and_then(|response| current_labels(response, &what)) {
            Ok(current) => {
                let lower = |names: &[String]| {
                    let mut l: Vec<String> = names.iter().map(|n| n.to_lowercase()).collect();
                    l.sort();
                    l.dedup();
                    l
                };
                match lower(&current) == lower(&labels) {
                    true => answer,
                    false => Reconciliation::NotApplied,
                }
            }
            Err(e) => e.into(),
        }
    })
}

/// An applied change's record with what the settings add to pulled records,
/// read with one search of its id. A failed or empty search leaves the
/// record as the write's answer made it (the write did land; the next pull
/// stores the rest).
fn with_extras(t: &Shared, record: Record) -> Step<PushOutcome> {
    let Some(wanted) = t.wanted else {
        return Step::done(PushOutcome::Applied(Some(record)));
    };
    let request = extras::search(&t.base_url, &[record.id.as_str()], wanted);
    let what = what(&request);
    Step::send(request, move |answer: Answer| {
        let list = answer
            .and_then(|response| api::check(response, &what))
            .and_then(|response| response.json::<api::ContentArray>());
        let found = list.ok().and_then(|list| {
            let entry = list
                .results
                .iter()
                .find(|entry| extras::entry_id(entry).as_deref() == Some(&record.id))?;
            Extras::read(entry, wanted).ok()
        });
        PushOutcome::Applied(Some(match found {
            Some(extras) => extras.apply(record),
            None => record,
        }))
    })
}

/// `GET` page `id`, then `then(target, page or None for a 404, what)`; an
/// error answer or an unreadable page is the change's error.
fn read<T: From<Error> + 'static, S: Into<Step<T>>>(
    t: &Shared,
    id: &str,
    then: impl FnOnce(&Shared, Option<api::Page>, &str) -> S + 'static,
) -> Step<T> {
    let request = api::one(&t.base_url, t.kind, id, t.format);
    let what = what(&request);
    let t = t.clone();
    Step::send(request, move |answer: Answer| {
        let page = answer.and_then(|response| match response.status {
            404 => Ok(None),
            _ => page_of(api::check(response, &what)?, &what).map(Some),
        });
        match page {
            Ok(page) => then(&t, page, &what).into(),
            Err(e) => Step::done(e.into()),
        }
    })
}

/// A page found by title.
enum Found {
    /// Its body is the one the change wrote.
    Ours(Record),
    Other(Record),
}

/// `GET` the space's pages titled `title`, then `then(the page, if any)`.
fn find_title<T: 'static>(
    t: &Shared,
    space: &str,
    title: &str,
    value: &str,
    then: impl FnOnce(Result<Option<Found>, Error>) -> T + 'static,
) -> Step<T> {
    let request = api::by_title(&t.base_url, t.kind, space, title, t.format);
    let what = what(&request);
    let (t, title, value) = (t.clone(), title.to_owned(), value.to_owned());
    Step::send(request, move |answer: Answer| {
        then(answer.and_then(|response| {
            let list: api::V2List = api::check(response, &what)?.json()?;
            let mut found = None;
            for entry in &list.results {
                let page: api::Page = lenient::decode(entry).map_err(|why| {
                    Error::invalid_response(format!("{what}: a page titled {title:?}: {why}"))
                })?;
                if page.title.as_deref() != Some(title.as_str()) {
                    continue; // the API filters; this is a second look
                }
                let record = t.record(page);
                let same = record.content.as_deref().map(<[u8]>::trim_ascii)
                    == Some(value.as_bytes().trim_ascii());
                match same {
                    true => return Ok(Some(Found::Ours(record))),
                    false => found = found.or(Some(Found::Other(record))),
                }
            }
            Ok(found)
        }))
    })
}

impl Target {
    /// The record a pull would make of `page`.
    fn record(&self, page: api::Page) -> Record {
        records::page(page, self.format, self.kind)
    }

    fn space_id(&self) -> Result<String, Error> {
        self.space_id
            .clone()
            .unwrap_or_else(|| Err(Error::fatal("plugin bug: the space was not resolved")))
    }

    /// The outcome of a write's answer: the page as written (with the body
    /// sent when the answer has none), or the error.
    fn written(&self, response: Response, what: &str, value: &str) -> PushOutcome {
        if !response.is_success() {
            return failure(response, what).into();
        }
        match page_of(response, what) {
            Ok(page) => {
                let record = self.record(page);
                let record = match record.is_complete() {
                    true => record,
                    false => record.content(value.as_bytes(), self.format.media_type()),
                };
                PushOutcome::Applied(Some(record))
            }
            Err(e) => e.into(),
        }
    }
}

/// A page object of an answer, read as a listing entry is.
fn page_of(response: Response, what: &str) -> Result<api::Page, Error> {
    let value: Value = response.json()?;
    lenient::decode(&value).map_err(|why| Error::invalid_response(format!("{what}: page: {why}")))
}

/// The error of an answer that is not a success.
fn failure(response: Response, what: &str) -> Error {
    let status = response.status;
    api::check(response, what)
        .err()
        .unwrap_or_else(|| Error::invalid_response(format!("{what}: unexpected HTTP {status}")))
}

/// True when the page's current version is the write of change `key`.
fn written_by(page: &api::Page, key: &str) -> bool {
    let message = page.version.message.as_deref().unwrap_or_default();
    push::holds_key(message, key)
}

/// The change's base version as a Confluence version number.
fn base_number(change: &Change) -> Result<i64, Error> {
    let base = change.require_base()?;
    // `7+…`: a version with labels or properties (see `extras`).
    extras::version_number(base).parse().map_err(|_| {
        Error::unsupported(format!(
            "change `{}`: base version `{base}` is not a Confluence version number",
            change.key
        ))
    })
}

fn what(request: &Request) -> String {
    format!("{} {}", request.method(), request.url())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use synchost_sdk::push::run_with;

    const BASE: &str = "https://site.atlassian.net";
    const PAGE: &str = "/wiki/api/v2/pages/123456";
    const READ: &str = "GET /wiki/api/v2/pages/123456?body-format=storage";

    /// 409 as the real API answers a stale version (api-contracts.md §1.9).
    const STALE: &str = r#"{"errors":[{"status":409,"code":"CONFLICT","title":"Version must be incremented when updating a page. Current Version: [8]. Provided version: [8]","detail":null}]}"#;
    /// The v2 not-found envelope (§1.10).
    const GONE: &str = r#"{"errors":[{"status":404,"code":"NOT_FOUND","title":"Cannot find a page with id [123456]","detail":null}]}"#;
    /// A duplicate title (§1.9).
    const DUPLICATE: &str = r#"{"errors":[{"status":400,"code":"BAD_REQUEST","title":"A page with this title already exists: A page already exists with the same TITLE in this space","detail":null}]}"#;

    fn target() -> Shared {
        Rc::new(Target {
            base_url: BASE.into(),
            kind: api::Kind::Page,
            format: BodyFormat::Storage,
            space_id: Some(Ok("131189".into())),
            wanted: None,
        })
    }

    /// `PageSingle` as in api-contracts.md §1.5.
    fn page(number: i64, body: Option<&str>, message: &str) -> String {
        let mut page = json!({
            "id": "123456", "status": "current", "title": "Runbook", "spaceId": "131189",
            "parentId": "98765", "parentType": "page", "position": 3,
            "authorId": "712020:a", "createdAt": "2025-06-26T20:39:16.596Z",
            "version": {"createdAt": "2025-07-01T10:00:00.000Z", "message": message,
                        "number": number, "minorEdit": false, "authorId": "712020:a"},
            "_links": {"webui": "/spaces/SD/pages/123456/Runbook", "base": "https://site.atlassian.net/wiki"}
        });
        if let Some(body) = body {
            page["body"] = json!({"storage": {"representation": "storage", "value": body}});
        }
        page.to_string()
    }

    /// The record a pull makes of the same answer.
    fn pulled(body: &str) -> Record {
        let page: api::Page = serde_json::from_str(body).unwrap();
        records::page(page, BodyFormat::Storage, api::Kind::Page)
    }

    fn change(op: ChangeOp) -> Change {
        let create = matches!(op, ChangeOp::Create);
        Change {
            key: "k1".into(),
            op,
            id: (!create).then(|| "123456".into()),
            base_version: (!create).then(|| "7".into()),
            parent_id: create.then(|| "98765".into()),
            title: Some("Runbook".into()),
            content: (!matches!(op, ChangeOp::Delete)).then(|| b"<p>new</p>".to_vec()),
            metadata: "{}".into(),
        }
    }

    /// Runs the steps against `server` (`"METHOD /path?query"` → status and
    /// body); returns the answers and the requests sent, in order.
    fn serve<T>(
        steps: Vec<Step<T>>,
        server: impl Fn(&str) -> (u16, String),
    ) -> (Vec<T>, Vec<String>) {
        let mut sent = Vec::new();
        let answers = run_with(steps, |requests| {
            requests
                .iter()
                .map(|r| {
                    let line = format!("{} {}", r.method(), r.url().trim_start_matches(BASE));
                    let (status, body) = server(&line);
                    sent.push(line);
                    Ok(Response::new(status, vec![], body))
                })
                .collect()
        });
        (answers, sent)
    }

    fn push_one(
        change: Change,
        server: impl Fn(&str) -> (u16, String),
    ) -> (PushOutcome, Vec<String>) {
        let (mut outcomes, sent) = serve(vec![push_step(&target(), &change)], server);
        (outcomes.remove(0), sent)
    }

    fn reconcile_one(
        change: Change,
        server: impl Fn(&str) -> (u16, String),
    ) -> (Reconciliation, Vec<String>) {
        let (mut answers, sent) = serve(vec![reconcile_step(&target(), &change)], server);
        (answers.remove(0), sent)
    }

    fn body(request: &Request) -> Value {
        serde_json::from_slice(request.body_bytes().unwrap()).unwrap()
    }

    #[test]
    fn write_requests_match_the_spec() {
        let put = api::update(
            BASE,
            api::Kind::Page,
            "123456",
            "Runbook",
            BodyFormat::Storage,
            "<p>new</p>",
            8,
            "synchost change k1",
        );
        assert_eq!(
            (put.method(), put.url()),
            ("PUT", format!("{BASE}{PAGE}").as_str())
        );
        assert_eq!(put.header_value("content-type"), Some("application/json"));
        assert_eq!(
            body(&put),
            json!({"id": "123456", "status": "current", "title": "Runbook",
                   "body": {"representation": "storage", "value": "<p>new</p>"},
                   "version": {"number": 8, "message": "synchost change k1"}}),
            "no parentId: updates never move a page"
        );
        let post = api::create(
            BASE,
            api::Kind::Page,
            "131189",
            "Runbook",
            Some("98765"),
            BodyFormat::AtlasDocFormat,
            "{}",
        );
        assert_eq!(
            (post.method(), post.url()),
            ("POST", format!("{BASE}/wiki/api/v2/pages").as_str())
        );
        assert_eq!(
            body(&post),
            json!({"spaceId": "131189", "status": "current", "title": "Runbook", "parentId": "98765",
                   "body": {"representation": "atlas_doc_format", "value": "{}"}})
        );
        let root = api::create(
            BASE,
            api::Kind::Page,
            "131189",
            "Runbook",
            None,
            BodyFormat::Storage,
            "",
        );
        assert!(body(&root).get("parentId").is_none());
        assert!(
            root.url().ends_with("/wiki/api/v2/pages?root-level=true"),
            "{}",
            root.url()
        );
        let delete = api::delete(BASE, api::Kind::Page, "123456");
        assert_eq!(
            (delete.method(), delete.url()),
            ("DELETE", format!("{BASE}{PAGE}").as_str())
        );
        assert_eq!(
            api::by_title(BASE, api::Kind::Page, "131189", "Run & book", BodyFormat::Storage).url(),
            format!("{BASE}/wiki/api/v2/pages?space-id=131189&title=Run%20%26%20book&body-format=storage")
        );
    }

    #[test]
    fn an_applied_update_costs_one_request() {
        let answer = page(8, Some("<p>new</p>"), "synchost change k1");
        let (outcome, sent) = push_one(change(ChangeOp::Update), |_| (200, answer.clone()));
        assert_eq!(sent, [format!("PUT {PAGE}")]);
        assert_eq!(outcome, PushOutcome::Applied(Some(pulled(&answer))));
        let PushOutcome::Applied(Some(record)) = outcome else {
            unreachable!()
        };
        assert_eq!(record.version, "8");

        // An answer without the body: the record holds the body sent.
        let (outcome, _) = push_one(change(ChangeOp::Update), |_| (200, page(8, None, "")));
        let PushOutcome::Applied(Some(record)) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(record.content.as_deref(), Some(&b"<p>new</p>"[..]));
        assert_eq!(record.content_type, BodyFormat::Storage.media_type());
    }

    #[test]
    fn a_stale_update_is_a_conflict_with_the_current_page() {
        let theirs = page(9, Some("<p>theirs</p>"), "edited in the browser");
        let (outcome, sent) = push_one(change(ChangeOp::Update), |line| match line {
            l if l.starts_with("PUT") => (409, STALE.into()),
            _ => (200, theirs.clone()),
        });
        assert_eq!(sent, [format!("PUT {PAGE}"), READ.to_string()]);
        assert_eq!(outcome, PushOutcome::Conflict(Some(pulled(&theirs))));
    }

    /// A 409 on a page whose current version is this change's write (a
    /// retried PUT that landed the first time) is applied, not a conflict.
    #[test]
    fn a_409_on_our_own_write_is_applied() {
        let ours = page(8, Some("<p>new</p>"), "synchost change k1");
        let (outcome, sent) = push_one(change(ChangeOp::Update), |line| match line {
            l if l.starts_with("PUT") => (409, STALE.into()),
            _ => (200, ours.clone()),
        });
        assert_eq!(sent.len(), 2);
        assert_eq!(outcome, PushOutcome::Applied(Some(pulled(&ours))));
        // Another change's key is not ours.
        let other = page(8, Some("<p>new</p>"), "synchost change k12");
        let (outcome, _) = push_one(change(ChangeOp::Update), |line| match line {
            l if l.starts_with("PUT") => (409, STALE.into()),
            _ => (200, other.clone()),
        });
        assert!(matches!(outcome, PushOutcome::Conflict(Some(_))));
    }

    #[test]
    fn an_update_of_a_deleted_page_is_a_conflict_without_record() {
        let (outcome, sent) = push_one(change(ChangeOp::Update), |_| (404, GONE.into()));
        assert_eq!((outcome, sent.len()), (PushOutcome::Conflict(None), 1));
        // Deleted between the 409 and the read.
        let (outcome, sent) = push_one(change(ChangeOp::Update), |line| match line {
            l if l.starts_with("PUT") => (409, STALE.into()),
            _ => (404, GONE.into()),
        });
        assert_eq!((outcome, sent.len()), (PushOutcome::Conflict(None), 2));
    }

    #[test]
    fn an_untitled_update_keeps_the_pages_title() {
        let mut untitled = change(ChangeOp::Update);
        untitled.title = None;
        let (outcome, sent) = serve(vec![push_step(&target(), &untitled)], |line| match line {
            l if l.starts_with("GET") => (200, page(7, Some("<p>old</p>"), "")),
            _ => (200, page(8, Some("<p>new</p>"), "synchost change k1")),
        });
        assert_eq!(sent, [READ.to_string(), format!("PUT {PAGE}")]);
        assert!(matches!(&outcome[0], PushOutcome::Applied(Some(r)) if r.version == "8"));
        // The PUT carries the page's title.
        let step = push_step(&target(), &untitled).answer(Ok(Response::new(
            200,
            vec![],
            page(7, None, ""),
        )));
        assert_eq!(body(step.request().unwrap())["title"], "Runbook");
        // Moved on since the base: a conflict after the read alone.
        let (outcome, sent) = serve(vec![push_step(&target(), &untitled)], |_| {
            (200, page(9, Some("<p>x</p>"), ""))
        });
        assert_eq!(sent.len(), 1);
        assert!(matches!(&outcome[0], PushOutcome::Conflict(Some(r)) if r.version == "9"));
    }

    #[test]
    fn failures_keep_their_kind_and_the_apis_message() {
        let invalid = r#"{"errors":[{"status":400,"code":"INVALID_REQUEST_BODY","title":"Non-drafts cannot have empty titles","detail":null}]}"#;
        let (outcome, _) = push_one(change(ChangeOp::Update), |_| (400, invalid.into()));
        assert!(
            matches!(&outcome, PushOutcome::Failed(Error::Fatal(m)) if m.contains("PUT") && m.contains("Non-drafts")),
            "{outcome:?}"
        );
        let (outcome, _) = push_one(change(ChangeOp::Update), |_| (401, String::new()));
        assert!(matches!(outcome, PushOutcome::Failed(Error::Auth(_))));
        let (outcome, _) = push_one(change(ChangeOp::Update), |_| (200, "<html>".into()));
        assert!(matches!(
            outcome,
            PushOutcome::Failed(Error::InvalidResponse(_))
        ));
        // No response at all (after the host's retries).
        let step = push_step(&target(), &change(ChangeOp::Update));
        let outcome = step.answer(Err(Error::transient("timed out"))).into_done();
        assert_eq!(
            outcome,
            Some(PushOutcome::Failed(Error::transient("timed out")))
        );
    }

    /// Changes that cannot be pushed fail clearly and send nothing.
    #[test]
    fn bad_changes_send_nothing() {
        let mut binary = change(ChangeOp::Update);
        binary.content = Some(vec![0xff, 0xfe]);
        let mut untitled = change(ChangeOp::Create);
        untitled.title = None;
        let mut bad_base = change(ChangeOp::Delete);
        bad_base.base_version = Some("v7".into());
        let mut no_id = change(ChangeOp::Update);
        no_id.id = None;
        let steps = [binary, untitled, bad_base, no_id]
            .iter()
            .map(|c| push_step(&target(), c))
            .collect();
        let (outcomes, sent) = serve(steps, |_| panic!("nothing is sent"));
        assert!(sent.is_empty());
        let whys: Vec<String> = outcomes
            .into_iter()
            .map(|o| match o {
                PushOutcome::Failed(Error::Unsupported(why)) => why,
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(whys[0].contains("not UTF-8"), "{}", whys[0]);
        assert!(whys[1].contains("no title"), "{}", whys[1]);
        assert!(
            whys[2].contains("`v7` is not a Confluence version number"),
            "{}",
            whys[2]
        );
        assert!(whys[3].contains("no item id"), "{}", whys[3]);
    }

    #[test]
    fn a_create_costs_one_request() {
        let created = page(1, Some("<p>new</p>"), "");
        let (outcome, sent) = push_one(change(ChangeOp::Create), |_| (200, created.clone()));
        assert_eq!(sent, ["POST /wiki/api/v2/pages"]);
        assert_eq!(outcome, PushOutcome::Applied(Some(pulled(&created))));
        let step = push_step(&target(), &change(ChangeOp::Create));
        let sent = body(step.request().unwrap());
        assert_eq!(
            (sent["spaceId"].as_str(), sent["parentId"].as_str()),
            (Some("131189"), Some("98765"))
        );

        // The space could not be resolved: its error, nothing sent.
        let t = Rc::new(Target {
            space_id: Some(Err(Error::invalid_config("no space DOCS"))),
            ..Rc::try_unwrap(target()).ok().unwrap()
        });
        let outcome = push_step(&t, &change(ChangeOp::Create)).into_done();
        assert_eq!(
            outcome,
            Some(PushOutcome::Failed(Error::invalid_config("no space DOCS")))
        );
    }

    #[test]
    fn a_duplicate_title_is_looked_up() {
        let lookup = "GET /wiki/api/v2/pages?space-id=131189&title=Runbook&body-format=storage";
        let listing =
            |pages: &[&str]| format!(r#"{{"results":[{}],"_links":{{}}}}"#, pages.join(","));
        // Our earlier create (same body): applied.
        let ours = page(1, Some(" <p>new</p>\n"), "");
        let (outcome, sent) = push_one(change(ChangeOp::Create), |line| match line {
            l if l.starts_with("POST") => (400, DUPLICATE.into()),
            _ => (200, listing(&[&ours])),
        });
        assert_eq!(sent, ["POST /wiki/api/v2/pages", lookup]);
        assert_eq!(outcome, PushOutcome::Applied(Some(pulled(&ours))));
        // Someone else's page: a conflict carrying it.
        let theirs = page(4, Some("<p>theirs</p>"), "");
        let (outcome, _) = push_one(change(ChangeOp::Create), |line| match line {
            l if l.starts_with("POST") => (400, DUPLICATE.into()),
            _ => (200, listing(&[&theirs])),
        });
        assert_eq!(outcome, PushOutcome::Conflict(Some(pulled(&theirs))));
        // No such page: the 400 was about something else, and fails.
        let (outcome, _) = push_one(change(ChangeOp::Create), |line| match line {
            l if l.starts_with("POST") => (400, DUPLICATE.into()),
            _ => (200, listing(&[])),
        });
        assert!(
            matches!(&outcome, PushOutcome::Failed(Error::Fatal(m)) if m.contains("already exists")),
            "{outcome:?}"
        );
    }

    #[test]
    fn a_delete_reads_first() {
        let current = page(7, Some("<p>old</p>"), "");
        let (outcome, sent) = push_one(change(ChangeOp::Delete), |line| match line {
            l if l.starts_with("GET") => (200, current.clone()),
            _ => (204, String::new()),
        });
        assert_eq!(sent, [READ.to_string(), format!("DELETE {PAGE}")]);
        assert_eq!(outcome, PushOutcome::Applied(None));
        // Gone already, before or between the two requests: applied.
        let (outcome, sent) = push_one(change(ChangeOp::Delete), |_| (404, GONE.into()));
        assert_eq!((outcome, sent.len()), (PushOutcome::Applied(None), 1));
        let (outcome, sent) = push_one(change(ChangeOp::Delete), |line| match line {
            l if l.starts_with("GET") => (200, current.clone()),
            _ => (404, GONE.into()),
        });
        assert_eq!((outcome, sent.len()), (PushOutcome::Applied(None), 2));
        // Edited since the base: a conflict, and no DELETE.
        let edited = page(8, Some("<p>edited</p>"), "");
        let (outcome, sent) = push_one(change(ChangeOp::Delete), |_| (200, edited.clone()));
        assert_eq!(sent, [READ]);
        assert_eq!(outcome, PushOutcome::Conflict(Some(pulled(&edited))));
        // Not allowed to delete.
        let (outcome, _) = push_one(change(ChangeOp::Delete), |line| match line {
            l if l.starts_with("GET") => (200, current.clone()),
            _ => (403, String::new()),
        });
        assert!(matches!(outcome, PushOutcome::Failed(Error::Auth(_))));
    }

    /// 100 updates are one round of 100 requests: one `send_batch`.
    #[test]
    fn updates_go_out_together() {
        let changes: Vec<Change> = (0..100)
            .map(|i| Change {
                key: format!("k{i}"),
                id: Some(format!("{}", 1000 + i)),
                ..change(ChangeOp::Update)
            })
            .collect();
        let steps = changes.iter().map(|c| push_step(&target(), c)).collect();
        let mut rounds = Vec::new();
        let outcomes = run_with(steps, |requests| {
            rounds.push(requests.len());
            requests
                .iter()
                .map(|r| {
                    let id = r.url().rsplit('/').next().unwrap().to_owned();
                    let answer = page(8, Some("<p>new</p>"), "").replace("123456", &id);
                    Ok(Response::new(200, vec![], answer))
                })
                .collect()
        });
        assert_eq!(rounds, [100]);
        for (i, outcome) in outcomes.iter().enumerate() {
            assert!(
                matches!(outcome, PushOutcome::Applied(Some(r)) if r.id == format!("{}", 1000 + i))
            );
        }
    }

    #[test]
    fn reconcile_reads_only() {
        let all_gets = |sent: &[String]| sent.iter().all(|l| l.starts_with("GET "));
        let at = |number: i64, message: &'static str| {
            move |_: &str| (200, page(number, Some("<p>new</p>"), message))
        };

        // Updates: ours → applied; base → not applied; other → conflict; gone → conflict(none).
        let (answer, sent) = reconcile_one(change(ChangeOp::Update), at(8, "synchost change k1"));
        assert!(matches!(answer, Reconciliation::Applied(Some(ref r)) if r.version == "8"));
        assert_eq!(sent, [READ]);
        let (answer, _) = reconcile_one(change(ChangeOp::Update), at(7, ""));
        assert_eq!(answer, Reconciliation::NotApplied);
        let (answer, _) = reconcile_one(change(ChangeOp::Update), at(9, "synchost change k0"));
        assert!(matches!(answer, Reconciliation::Conflict(Some(ref r)) if r.version == "9"));
        let (answer, _) = reconcile_one(change(ChangeOp::Update), |_| (404, GONE.into()));
        assert_eq!(answer, Reconciliation::Conflict(None));
        // Ours at base + 1, overwritten since: applied, with the page as it is now.
        let (answer, sent) = reconcile_one(change(ChangeOp::Update), |url: &str| {
            if url.contains("version=8") {
                (200, page(8, Some("<p>new</p>"), "synchost change k1"))
            } else {
                (200, page(9, Some("<p>theirs</p>"), "someone else"))
            }
        });
        assert!(
            matches!(answer, Reconciliation::Applied(Some(ref r)) if r.version == "9"),
            "{answer:?}"
        );
        assert_eq!(sent.len(), 2);
        assert!(sent[1].ends_with("&version=8"), "{sent:?}");

        // Deletes: gone → applied; base → not applied; other → conflict.
        let (answer, sent) = reconcile_one(change(ChangeOp::Delete), |_| (404, GONE.into()));
        assert_eq!((answer, sent.len()), (Reconciliation::Applied(None), 1));
        let (answer, _) = reconcile_one(change(ChangeOp::Delete), at(7, ""));
        assert_eq!(answer, Reconciliation::NotApplied);
        let (answer, _) = reconcile_one(change(ChangeOp::Delete), at(8, ""));
        assert!(matches!(answer, Reconciliation::Conflict(Some(_))));

        // Creates: by title.
        let listing =
            |body: &'static str| move |_: &str| (200, format!(r#"{{"results":[{}]}}"#, body));
        let (answer, sent) = reconcile_one(change(ChangeOp::Create), listing(""));
        assert_eq!(answer, Reconciliation::NotApplied);
        assert!(all_gets(&sent) && sent.len() == 1);
        let ours = page(1, Some("<p>new</p>"), "");
        let (answer, _) = reconcile_one(change(ChangeOp::Create), |_| {
            (200, format!(r#"{{"results":[{ours}]}}"#))
        });
        assert_eq!(answer, Reconciliation::Applied(Some(pulled(&ours))));
        let theirs = page(1, Some("<p>theirs</p>"), "");
        let (answer, _) = reconcile_one(change(ChangeOp::Create), |_| {
            (200, format!(r#"{{"results":[{theirs}]}}"#))
        });
        assert_eq!(answer, Reconciliation::Conflict(Some(pulled(&theirs))));

        // Cannot tell now: failed, for the host to ask again.
        let (answer, _) = reconcile_one(change(ChangeOp::Update), |_| (503, String::new()));
        assert!(matches!(
            answer,
            Reconciliation::Failed(Error::Transient(_))
        ));
        // A change push would refuse was never sent: not applied, no request.
        let mut binary = change(ChangeOp::Create);
        binary.content = Some(vec![0xff]);
        let (answer, sent) = reconcile_one(binary, |_| panic!("nothing is sent"));
        assert_eq!((answer, sent.len()), (Reconciliation::NotApplied, 0));
    }

    fn with_labels(op: ChangeOp, labels: Value) -> Change {
        Change {
            metadata: json!({"labels": labels}).to_string(),
            ..change(op)
        }
    }

    /// A `LabelArray` of `names`.
    fn label_array(names: &[&str]) -> String {
        let results: Vec<Value> = names
            .iter()
            .map(|n| json!({"prefix": "global", "name": n, "id": "1", "label": n}))
            .collect();
        json!({"results": results, "start": 0, "limit": 200, "size": names.len()}).to_string()
    }

    const LABELS: &str = "/wiki/rest/api/content/123456/label";

    #[test]
    fn labels_are_set_after_the_write() {
        let answer = page(8, Some("<p>new</p>"), "synchost change k1");
        let mixed = with_labels(ChangeOp::Update, json!(["Team-A", "howto", "howto"]));
        let (outcome, sent) = push_one(mixed, |line| match line {
            l if l.starts_with("PUT") => (200, answer.clone()),
            l if l.starts_with("POST") => (200, label_array(&["old", "howto", "team-a"])),
            _ => (204, String::new()),
        });
        assert_eq!(
            sent,
            [
                format!("PUT {PAGE}"),
                format!("POST {LABELS}"),
                format!("DELETE {LABELS}?name=old"),
            ],
            "Team-A is team-a: Confluence keeps labels in lower case"
        );
        assert_eq!(outcome, PushOutcome::Applied(Some(pulled(&answer))));

        // The POST carries the whole set, once each.
        let t = target();
        let step = push_step(&t, &with_labels(ChangeOp::Update, json!(["b", "a"])));
        let put = step.answer(Ok(Response::new(200, vec![], answer.clone())));
        let post = put.request().unwrap();
        assert_eq!(
            body(post),
            json!([{"prefix": "global", "name": "a"}, {"prefix": "global", "name": "b"}])
        );

        // An empty set reads the labels and removes each (a 404: already gone).
        let (outcome, sent) = push_one(
            with_labels(ChangeOp::Update, json!([])),
            |line| match line {
                l if l.starts_with("PUT") => (200, answer.clone()),
                l if l.starts_with("GET") => (200, label_array(&["x", "y"])),
                l if l.ends_with("name=y") => (404, String::new()),
                _ => (204, String::new()),
            },
        );
        assert_eq!(sent.len(), 4, "{sent:?}");
        assert_eq!(sent[1], format!("GET {LABELS}?limit=200"));
        assert!(matches!(outcome, PushOutcome::Applied(Some(_))));

        // No `labels` in the metadata: labels are left alone.
        let (_, sent) = push_one(change(ChangeOp::Update), |_| (200, answer.clone()));
        assert_eq!(sent.len(), 1);
    }

    #[test]
    fn labels_follow_a_retried_write_and_a_conflict_sets_none() {
        let ours = page(8, Some("<p>new</p>"), "synchost change k1");
        let (outcome, sent) =
            push_one(
                with_labels(ChangeOp::Update, json!(["a"])),
                |line| match line {
                    l if l.starts_with("PUT") => (409, STALE.into()),
                    l if l.starts_with("POST") => (200, label_array(&["a"])),
                    _ => (200, ours.clone()),
                },
            );
        assert_eq!(sent.len(), 3, "PUT, GET, POST: {sent:?}");
        assert!(matches!(outcome, PushOutcome::Applied(Some(_))));
        let theirs = page(8, Some("<p>x</p>"), "someone");
        let (outcome, sent) =
            push_one(
                with_labels(ChangeOp::Update, json!(["a"])),
                |line| match line {
                    l if l.starts_with("PUT") => (409, STALE.into()),
                    _ => (200, theirs.clone()),
                },
            );
        assert_eq!(sent.len(), 2);
        assert!(matches!(outcome, PushOutcome::Conflict(Some(_))));
        // A label request that fails fails the change (the host sends it
        // again: the write is then ours, and the labels are set).
        let (outcome, _) = push_one(
            with_labels(ChangeOp::Update, json!(["a"])),
            |line| match line {
                l if l.starts_with("PUT") => (200, ours.clone()),
                _ => (503, String::new()),
            },
        );
        assert!(matches!(outcome, PushOutcome::Failed(Error::Transient(_))));
    }

    #[test]
    fn bad_label_sets_send_nothing() {
        for labels in [json!("a"), json!([1]), json!(["two words"]), json!([""])] {
            let (outcome, sent) = push_one(with_labels(ChangeOp::Update, labels.clone()), |_| {
                panic!("nothing is sent")
            });
            assert!(sent.is_empty());
            assert!(
                matches!(&outcome, PushOutcome::Failed(Error::Unsupported(m)) if m.contains("labels")),
                "{labels}: {outcome:?}"
            );
        }
        let many: Vec<String> = (0..=extras::MAX_LABELS).map(|i| format!("l{i}")).collect();
        let (outcome, _) = push_one(with_labels(ChangeOp::Update, json!(many)), |_| {
            panic!("nothing is sent")
        });
        assert!(matches!(
            outcome,
            PushOutcome::Failed(Error::Unsupported(_))
        ));
    }

    #[test]
    fn reconcile_checks_the_labels() {
        let ours = page(8, Some("<p>new</p>"), "synchost change k1");
        let landed = |labels: &'static [&'static str]| {
            let ours = ours.clone();
            move |line: &str| match line {
                l if l.contains("/label") => (200, label_array(labels)),
                _ => (200, ours.clone()),
            }
        };
        let change = with_labels(ChangeOp::Update, json!(["a", "B"]));
        let (answer, sent) = reconcile_one(change.clone(), landed(&["b", "a"]));
        assert!(
            matches!(answer, Reconciliation::Applied(Some(_))),
            "{answer:?}"
        );
        assert_eq!(sent[1], format!("GET {LABELS}?limit=200"));
        let (answer, _) = reconcile_one(change.clone(), landed(&["a"]));
        assert_eq!(answer, Reconciliation::NotApplied, "sent again: labels");
        // Not applied stays not applied, without reading labels.
        let (answer, sent) = reconcile_one(change, |_| (200, page(7, Some("<p>x</p>"), "")));
        assert_eq!((answer, sent.len()), (Reconciliation::NotApplied, 1));
    }

    #[test]
    fn blog_posts_and_settings() {
        // A blog post, with labels recorded by the settings: its record
        // gets them from one search, with the version a pull gives.
        let t = Rc::new(Target {
            base_url: BASE.into(),
            kind: api::Kind::BlogPost,
            format: BodyFormat::Storage,
            space_id: Some(Ok("131189".into())),
            wanted: Some(Wanted {
                labels: true,
                properties: false,
                restrictions: crate::config::Restrictions::Ignore,
            }),
        });
        let answer = page(8, Some("<p>new</p>"), "synchost change k1");
        let change = Change {
            base_version: Some("7+00aa00aa00aa00aa".into()),
            ..with_labels(ChangeOp::Update, json!(["a"]))
        };
        let search = json!({"results": [{"id": "123456", "version": {"number": 8},
            "metadata": {"labels": {"results": [{"name": "a"}]}}}]})
        .to_string();
        let (mut outcomes, sent) = serve(vec![push_step(&t, &change)], |line| match line {
            l if l.starts_with("PUT") => (200, answer.clone()),
            l if l.starts_with("POST") => (200, label_array(&["a"])),
            _ => (200, search.clone()),
        });
        assert_eq!(sent[0], "PUT /wiki/api/v2/blogposts/123456");
        assert!(sent[2].starts_with("GET /wiki/rest/api/content/search?cql=id%20in%20%28123456%29"));
        let PushOutcome::Applied(Some(record)) = outcomes.remove(0) else {
            panic!()
        };
        let expected = Extras {
            labels: Some(vec!["a".into()]),
            ..Extras::default()
        };
        assert_eq!(record.version, expected.version("8"));
        let m: Value = serde_json::from_str(&record.metadata).unwrap();
        assert_eq!(m["labels"], json!(["a"]));
        // Filed under Blog/ as a pulled blog post is.
        let path = record.path.as_deref().unwrap_or_default();
        assert!(
            path.starts_with("Blog/") && path.ends_with("/123456"),
            "{path}"
        );
        // The PUT was version 8: the base's number plus one.
        let put = push_step(&t, &change);
        assert_eq!(body(put.request().unwrap())["version"]["number"], 8);
    }
}
