//! confluence: the first-party synchost plugin that mirrors one Confluence
//! Cloud space (design: `docs/confluence.md`).
//!
//! Streams, all with delta syncs:
//! - `pages`: a full listing is the v2 space listing with bodies, so it holds
//!   complete records, 250 per request (ids-only detail: without bodies,
//!   partial records). A delta is a CQL search (`lastmodified >= …`) of
//!   partial records; `fetch` then gets up to 250 changed pages per request.
//! - `blogposts`: the same through the v2 blog post endpoints.
//! - `folders`: CQL search, partial records; `fetch` is one v2 request per
//!   folder, all sent at once.
//! - `attachments`: CQL search with the container, complete records whose
//!   content is one blob the host downloads. `fetch` (one v2 request per
//!   attachment) serves only the host's retries.
//! - `comments`: CQL search with bodies, complete records; only with
//!   `include_comments=true` (otherwise an empty listing). `fetch` (one v1
//!   request per comment) serves only the host's retries. Footer comments
//!   only: the same search's inline comments are `inline-comments`, with
//!   their anchor and resolution.
//!
//! With the settings `labels`, `properties` or `restrictions`, pages and
//! blog posts carry them in their metadata, read in bulk: one content
//! search by id per listing page or fetch batch ([`extras`]).
//!
//! Each call answers one question: one page, one batch of fetches. The
//! plugin follows `_links.next` exactly as the API gives it (carried in its
//! [cursor](cursor::Cursor) with the enumeration's watermark), never loops,
//! waits or retries, and never sees credentials: the host adds them.
//!
//! Answers are read tolerantly ([`entries`]): fields the records do not need
//! never fail anything, and one malformed entry of a listing is reported as
//! a failed item (or, without an id, skipped with a warning) instead of
//! failing the page.
//!
//! `pages` and `blogposts` also take pushes: updates (labels included),
//! creates and deletes, and reconcile them after a crash ([`push`]).
//!
//! Modules: [`config`] (settings), [`streams`] (the streams and how each is
//! listed), [`api`] (requests and response shapes), [`extras`] (labels,
//! properties and restrictions),
//! [`entries`] (answers to records, one entry at a time), [`records`]
//! (response objects to records), [`cursor`] (cursor and next links),
//! [`cql`] and [`time`] (delta windows without a date crate).

mod api;
mod config;
mod cql;
mod cursor;
mod entries;
mod extras;
mod push;
mod records;
#[cfg(test)]
mod served_tests;
mod streams;

use std::cell::{OnceCell, RefCell};
use std::collections::{BTreeMap, HashMap};

use api::{Kind, V2List};
use config::{Config, Restrictions};
use cursor::Cursor;
use entries::Unreadable;
use extras::Wanted;
use serde::de::DeserializeOwned;
use serde_json::Value;
use streams::{Listing, Stream};
use synchost_sdk::http::{Request, Response};
use synchost_sdk::prelude::*;
use synchost_sdk::{lenient, time};

/// The largest page: the v2 maximum `limit`.
const MAX_PAGE_SIZE: u32 = api::V2_MAX_LIMIT;

/// The space, as the API names it.
#[derive(Debug)]
struct SpaceRef {
    id: String,
    key: String,
}

/// The configured plugin.
struct Confluence {
    config: Config,
    /// Resolved on the first listing of this instance, then reused.
    space: OnceCell<SpaceRef>,
    /// Entries found unreadable in this run (in a complete listing, or in a
    /// fetch), by stream and id: why. The host's fetches of them in this run
    /// (of a listed entry, or its retries) are answered from here without
    /// asking the API again; a later run, a new instance, asks for real.
    unreadable: RefCell<HashMap<(Stream, String), String>>,
}

/// The version of a listed record whose entry had no readable version
/// number: never equal to a stored one (those are integers), so the host
/// fetches it.
const UNREADABLE_VERSION: &str = "unreadable";

impl Source for Confluence {
    fn describe() -> Manifest {
        let mut manifest = Manifest::new(
            "confluence",
            env!("CARGO_PKG_VERSION"),
            "One Confluence Cloud space: pages, blog posts, folders, attachments and \
             optionally comments",
        )
        .max_page_size(MAX_PAGE_SIZE)
        .auth(AuthInfo::basic("CONFLUENCE_EMAIL", "CONFLUENCE_API_TOKEN"));
        for stream in Stream::ALL {
            let info = StreamInfo::new(stream.name(), stream.description()).delta();
            manifest = manifest.stream(match stream.kind() {
                Some(_) => info.push(),
                None => info,
            });
        }
        manifest.settings(config::setting_infos())
    }

    fn configure(settings: Settings) -> Result<Self, Error> {
        Ok(Confluence {
            config: Config::from_settings(&settings)?,
            space: OnceCell::new(),
            unreadable: RefCell::new(HashMap::new()),
        })
    }

    fn list(&self, stream: &str, req: ListRequest) -> Result<Page, Error> {
        let stream = Stream::parse(stream)?;
        if stream.is_comments() && !self.config.include_comments {
            return Ok(Page::new(Vec::new()));
        }
        let listing = Listing::of(stream, req.since.as_deref());
        let limit = self.limit(stream, req.limit);
        let (request, carried) = match req.cursor.as_deref() {
            Some(text) => {
                let cursor = Cursor::decode(text)?;
                let url = cursor::fit_limit(&cursor.url(&self.config.base_url), limit);
                (api::follow(url), Some(cursor.wm))
            }
            None => (self.first_request(stream, listing, &req, limit)?, None),
        };
        let what = format!("GET {}", request.url());
        let response = api::check_listing(request.send()?, &what)?;
        // The watermark is the server's time at the first request of the
        // enumeration; later pages carry it in the cursor.
        let watermark = carried.unwrap_or_else(|| date_watermark(&response));

        let format = self.config.body_format;
        let wanted = stream.wanted(&self.config);
        let mut left_out = Vec::new();
        let (records, unreadable, next) = match listing {
            Listing::Space(kind) => {
                let list: V2List = response.json()?;
                let next = cursor::v2_next(list.next());
                let (records, unreadable) =
                    entries::read(list.results, |p| Ok(records::page(p, format, kind)));
                let records = match wanted {
                    Some(wanted) => self.with_extras(stream, records, wanted, &mut left_out)?,
                    None => records,
                };
                (records, unreadable, next)
            }
            Listing::Search => {
                let found: api::ContentArray = response.json()?;
                let context = found.context().map(str::to_owned);
                let next = cursor::v1_link(context.as_deref(), found.next());
                let results = self.searched_entries(stream, found.results, wanted, &mut left_out);
                let (records, unreadable) = entries::read(results.entries, |c| {
                    self.searched_record(stream, c, context.as_deref(), &results.extras)
                });
                (records, unreadable, next)
            }
        };
        // Complete listings: v2 with bodies, attachments, comments.
        let complete = match listing {
            Listing::Space(_) => matches!(req.detail, Detail::Full),
            Listing::Search => stream.has_container(),
        };
        let records = self.with_unreadable(stream, complete, &what, records, unreadable);
        let records = match (stream.has_container(), self.config.restrictions) {
            (true, Restrictions::Skip) => {
                self.without_restricted_containers(stream, records, &mut left_out)?
            }
            _ => records,
        };
        let next = next.map(|next| {
            Cursor {
                next,
                wm: watermark.clone(),
            }
            .encode()
        });
        let mut page = Page::new(records).next_cursor(next).watermark(watermark);
        // In a delta, what is left out now may have been stored before; a
        // full listing leaves it out and the host tombstones it.
        if req.since.is_some() && !left_out.is_empty() {
            page = page.deleted(left_out);
        }
        Ok(page)
    }

    fn fetch(&self, stream: &str, ids: Vec<String>) -> Vec<Result<Record, Error>> {
        let stream = match Stream::parse(stream) {
            Ok(stream) => stream,
            Err(e) => return ids.iter().map(|_| Err(e.clone())).collect(),
        };
        // What this instance found unreadable (in a listing or an earlier
        // fetch) is answered as it was found; only the rest is asked for.
        let known: Vec<Option<Error>> = {
            let unreadable = self.unreadable.borrow();
            ids.iter()
                .map(|id| {
                    let why = unreadable.get(&(stream, id.clone()))?;
                    Some(Error::invalid_response(why.clone()))
                })
                .collect()
        };
        let asked: Vec<String> = ids
            .iter()
            .zip(&known)
            .filter(|(_, known)| known.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        let mut fetched = self.fetch_from_api(stream, &asked).into_iter();
        known
            .into_iter()
            .map(|known| match known {
                Some(error) => Err(error),
                None => fetched.next().expect("one result per asked id"),
            })
            .collect()
    }

    fn push(&self, stream: &str, changes: Vec<Change>) -> Vec<PushOutcome> {
        match self.push_target(stream, &changes) {
            Ok(target) => {
                let steps = changes.iter().map(|c| push::push_step(&target, c));
                synchost_sdk::push::run(steps.collect())
            }
            Err(e) => changes.iter().map(|_| e.clone().into()).collect(),
        }
    }

    fn reconcile(&self, stream: &str, changes: Vec<Change>) -> Vec<Reconciliation> {
        match self.push_target(stream, &changes) {
            Ok(target) => {
                let steps = changes.iter().map(|c| push::reconcile_step(&target, c));
                synchost_sdk::push::run(steps.collect())
            }
            Err(e) => changes.iter().map(|_| e.clone().into()).collect(),
        }
    }
}

impl Confluence {
    /// What the pushes of one call need; the space is resolved only for a
    /// batch with creates, and its failure fails only those.
    fn push_target(&self, stream: &str, changes: &[Change]) -> Result<push::Shared, Error> {
        let Some(kind) = Stream::parse(stream)?.kind() else {
            return Err(Error::unsupported(format!(
                "stream `{stream}` does not support push (only `pages` and `blogposts` do)"
            )));
        };
        let creates = changes.iter().any(|c| matches!(c.op, ChangeOp::Create));
        Ok(std::rc::Rc::new(push::Target {
            base_url: self.config.base_url.clone(),
            kind,
            format: self.config.body_format,
            space_id: creates.then(|| self.space().map(|space| space.id.clone())),
            wanted: Wanted::of(&self.config),
        }))
    }

    /// `fetch` through the API.
    fn fetch_from_api(&self, stream: Stream, ids: &[String]) -> Vec<Result<Record, Error>> {
        if ids.is_empty() {
            return Vec::new();
        }
        let base = self.config.base_url.as_str();
        match stream {
            Stream::Pages => self.fetch_contents(Kind::Page, ids),
            Stream::BlogPosts => self.fetch_contents(Kind::BlogPost, ids),
            Stream::Folders => self.fetch_each(
                stream,
                ids,
                |id| api::folder(base, id),
                |f| Ok(records::folder(f)),
            ),
            // Attachments and comments are listed complete: fetched only
            // when the host retries an item (a failed download, an entry
            // unreadable in an earlier run's listing).
            Stream::Attachments => self.fetch_each(
                stream,
                ids,
                |id| api::attachment(base, id),
                |a| records::attachment_v2(a, base),
            ),
            Stream::Comments | Stream::InlineComments => {
                let expand = stream.expand(&self.config);
                let format = self.config.body_format;
                self.fetch_each(
                    stream,
                    ids,
                    |id| api::content(base, id, &expand),
                    |c| records::comment(c, format),
                )
            }
        }
    }

    /// The error for an unreadable entry `id` of `stream`, remembered for
    /// the rest of this run (see [`Confluence::unreadable`]).
    fn unreadable_error(&self, stream: Stream, id: &str, why: String) -> Error {
        self.unreadable
            .borrow_mut()
            .insert((stream, id.to_owned()), why.clone());
        Error::invalid_response(why)
    }

    /// The records of a listing page plus, for each unreadable entry with an
    /// id, a partial record the host will fetch (its version, when readable,
    /// lets the host skip it if unchanged). In a `complete` listing that
    /// fetch is answered with why the entry was unreadable (see
    /// [`Confluence::unreadable`]); in a listing of partial records the
    /// entry only had to give its id and version, so the real fetch may well
    /// succeed. One warning names them all; entries without an id are
    /// skipped.
    fn with_unreadable(
        &self,
        stream: Stream,
        complete: bool,
        what: &str,
        mut records: Vec<Record>,
        unreadable: Vec<Unreadable>,
    ) -> Vec<Record> {
        if unreadable.is_empty() {
            return records;
        }
        let fate = match complete {
            true => "reported as failed",
            false => "left to its fetch",
        };
        log::warn(entries::warning(what, stream.item(), fate, &unreadable));
        for entry in unreadable {
            let Some(id) = entry.id.clone() else {
                continue;
            };
            if complete {
                let why = format!("{what}: {}: {}", entry.name(stream.item()), entry.why);
                self.unreadable_error(stream, &id, why);
            }
            let version = entry.version.unwrap_or_else(|| UNREADABLE_VERSION.into());
            records.push(Record::new(id, version));
        }
        records
    }

    /// The space, resolved once per instance with
    /// `GET /wiki/api/v2/spaces?keys=KEY`; an unknown key is `invalid-config`.
    fn space(&self) -> Result<&SpaceRef, Error> {
        if let Some(space) = self.space.get() {
            return Ok(space);
        }
        let (base, key) = (&self.config.base_url, &self.config.space);
        let request = api::space_by_key(base, key);
        let what = format!("GET {}", request.url());
        let list: V2List = api::check_listing(request.send()?, &what)?.json()?;
        let listed = list.results.len();
        let mut spaces = Vec::new();
        let mut unreadable = Vec::new();
        for space in lenient::each(list.results, Ok::<api::Space, String>) {
            match space {
                Ok(space) => spaces.push(space),
                Err(u) => unreadable.push(u.why),
            }
        }
        // The exact key if listed; otherwise the one space the API matched.
        let exact = spaces.iter().position(|s| s.key.as_deref() == Some(key));
        let only = (listed == 1 && spaces.len() == 1).then_some(0);
        let Some(index) = exact.or(only) else {
            return Err(match unreadable.first() {
                Some(why) => Error::invalid_response(format!(
                    "{what}: the space `{key}` could not be read: {why}"
                )),
                None => Error::invalid_config(format!(
                    "setting `space`: {base} has no space with key `{key}` \
                     (or the credentials cannot see it)"
                )),
            });
        };
        let space = spaces.swap_remove(index);
        let space = SpaceRef {
            key: space.key.unwrap_or_else(|| key.clone()),
            id: space.id,
        };
        Ok(self.space.get_or_init(|| space))
    }

    /// The `limit` of this stream's listing requests: the host's, at most
    /// [`extras::MAX_IDS`] when each listing page of pages or blog posts is
    /// followed by one metadata search.
    fn limit(&self, stream: Stream, asked: u32) -> u32 {
        match stream.wanted(&self.config) {
            Some(_) => asked.min(extras::MAX_IDS as u32),
            None => asked,
        }
    }

    /// The first request of an enumeration. The space is resolved for every
    /// stream (once per instance), so a wrong key fails clearly whatever the
    /// stream.
    fn first_request(
        &self,
        stream: Stream,
        listing: Listing,
        req: &ListRequest,
        limit: u32,
    ) -> Result<Request, Error> {
        let space = self.space()?;
        let config = &self.config;
        Ok(match listing {
            Listing::Space(kind) => {
                let body = matches!(req.detail, Detail::Full).then_some(config.body_format);
                api::space_contents(&config.base_url, kind, &space.id, limit, body)
            }
            Listing::Search => {
                let from = req
                    .since
                    .as_deref()
                    .map(|since| cql::delta_start(since, config.delta_overlap_minutes))
                    .transpose()?;
                let cql = cql::query(stream.cql_type(), &space.key, from);
                api::content_search(&config.base_url, &cql, limit, &stream.expand(config))
            }
        })
    }

    /// The entries of a search answer this stream keeps, and what the
    /// settings ask of them (read from the same entries: a delta's search
    /// expands them). Comments are split by location between `comments` and
    /// `inline-comments`; read-restricted pages and blog posts go to
    /// `left_out` under `restrictions = skip`.
    fn searched_entries(
        &self,
        stream: Stream,
        mut entries: Vec<Value>,
        wanted: Option<Wanted>,
        left_out: &mut Vec<String>,
    ) -> Searched {
        match stream {
            Stream::Comments => entries.retain(|e| !records::is_inline(e)),
            Stream::InlineComments => entries.retain(records::is_inline),
            _ => {}
        }
        let mut found = extras::Found::new();
        if let Some(wanted) = wanted {
            entries.retain(|entry| {
                let Some(id) = extras::entry_id(entry) else {
                    return true; // reported as unreadable
                };
                let read = extras::Extras::read(entry, wanted);
                if wanted.restrictions == Restrictions::Skip
                    && read.as_ref().is_ok_and(extras::Extras::restricted)
                {
                    left_out.push(id);
                    return false;
                }
                found.insert(id, read);
                true
            });
        }
        Searched {
            entries,
            extras: found,
        }
    }

    /// One result of a content search as a record of `stream`, with the
    /// extras read from it (pages and blog posts of a delta).
    fn searched_record(
        &self,
        stream: Stream,
        content: api::Content,
        context: Option<&str>,
        found: &extras::Found,
    ) -> Result<Record, String> {
        match stream {
            Stream::Pages | Stream::BlogPosts => {
                let record = records::partial(content);
                match found.get(&record.id) {
                    Some(Ok(extras)) => Ok(extras.apply(record)),
                    Some(Err(why)) => Err(why.clone()),
                    None => Ok(record),
                }
            }
            Stream::Folders => Ok(records::partial(content)),
            Stream::Attachments => records::attachment(content, &self.config.base_url, context),
            Stream::Comments | Stream::InlineComments => {
                records::comment(content, self.config.body_format)
            }
        }
    }

    /// The records of one v2 listing page with what `wanted` asks (one
    /// search per [`extras::MAX_IDS`]). A record the search did not answer
    /// for becomes partial (the host fetches it, and the fetch searches
    /// again); one whose extras are unreadable is left to a fetch that
    /// reports why; a read-restricted one goes to `left_out` under
    /// `restrictions = skip`.
    fn with_extras(
        &self,
        stream: Stream,
        records: Vec<Record>,
        wanted: Wanted,
        left_out: &mut Vec<String>,
    ) -> Result<Vec<Record>, Error> {
        let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
        let found = extras::find_only(&self.config.base_url, &ids, wanted)?;
        let mut out = Vec::with_capacity(records.len());
        for record in records {
            match found.get(&record.id) {
                Some(Ok(extras))
                    if wanted.restrictions == Restrictions::Skip && extras.restricted() =>
                {
                    left_out.push(record.id);
                }
                Some(Ok(extras)) => out.push(extras.apply(record)),
                Some(Err(why)) => {
                    let why = format!("{} `{}`: {why}", stream.item(), record.id);
                    self.unreadable_error(stream, &record.id, why);
                    out.push(Record::new(record.id, UNREADABLE_VERSION));
                }
                None => out.push(Record::new(record.id, record.version)),
            }
        }
        Ok(out)
    }

    /// `records` (of a stream whose items belong to a page or blog post)
    /// without those whose container is read-restricted, or unknown to the
    /// search (left out too: `skip` does not keep what it cannot check).
    /// One search per [`extras::MAX_IDS`] containers.
    fn without_restricted_containers(
        &self,
        stream: Stream,
        records: Vec<Record>,
        left_out: &mut Vec<String>,
    ) -> Result<Vec<Record>, Error> {
        let mut containers: Vec<&str> = records
            .iter()
            .filter_map(|r| r.parent_id.as_deref())
            .filter(|id| api::is_content_id(id))
            .collect();
        containers.sort_unstable();
        containers.dedup();
        let found = extras::find_only(
            &self.config.base_url,
            &containers,
            Wanted::read_restrictions(),
        )?;
        let mut unknown = 0;
        let mut kept = Vec::with_capacity(records.len());
        for record in records {
            let container = record.parent_id.as_ref().map(|id| found.get(id));
            match container {
                // Unreadable entries listed for their fetch have no parent.
                None if !record.is_complete() => kept.push(record),
                Some(Some(Ok(extras))) if !extras.restricted() => kept.push(record),
                Some(Some(Ok(_))) => left_out.push(record.id),
                _ => {
                    unknown += 1;
                    left_out.push(record.id);
                }
            }
        }
        if unknown > 0 {
            log::warn(format!(
                "restrictions = skip: {unknown} {} left out because their page's \
                 restrictions could not be read",
                stream.name()
            ));
        }
        Ok(kept)
    }

    /// Pages or blog posts by id: one bulk request per 250 ids and, when a
    /// setting asks, one metadata search per 200, all sent at once. An id
    /// absent from the v2 answer is not-found (deleted, or no permission);
    /// one absent from the search is transient (the search index lags
    /// behind new content).
    fn fetch_contents(&self, kind: Kind, ids: &[String]) -> Vec<Result<Record, Error>> {
        let stream = match kind {
            Kind::Page => Stream::Pages,
            Kind::BlogPost => Stream::BlogPosts,
        };
        let format = self.config.body_format;
        let base = self.config.base_url.as_str();
        let mut wanted_ids: Vec<&str> = Vec::new();
        for id in ids {
            if api::is_content_id(id) && !wanted_ids.contains(&id.as_str()) {
                wanted_ids.push(id);
            }
        }
        let chunks: Vec<&[&str]> = wanted_ids.chunks(api::V2_MAX_LIMIT as usize).collect();
        let requests: Vec<Request> = chunks
            .iter()
            .map(|chunk| api::by_id(base, kind, chunk, format))
            .collect();
        let wanted = stream.wanted(&self.config);
        let (found, answers) = match wanted {
            Some(wanted) => {
                let (found, answers) = extras::find(base, &wanted_ids, wanted, requests);
                (Some(found), answers)
            }
            None => (None, api::send_batch(requests)),
        };

        let mut results: BTreeMap<&str, Result<Record, Error>> = BTreeMap::new();
        for (chunk, (what, answer)) in chunks.iter().zip(answers) {
            let list = answer
                .and_then(|r| api::check(r, &what))
                .and_then(|r| r.json::<V2List>());
            let list = match list {
                Ok(list) => list,
                Err(e) => {
                    results.extend(chunk.iter().map(|id| (*id, Err(e.clone()))));
                    continue;
                }
            };
            let asked = |id: &str| chunk.iter().copied().find(|asked| *asked == id);
            let paginated = list.next().is_some();
            let (pages, unreadable) = entries::read(list.results, |p| {
                let record = records::page(p, format, kind);
                match record.is_complete() {
                    true => Ok(record),
                    false => Err(format!("came without its {} body", format.api_name())),
                }
            });
            for record in pages {
                if let Some(id) = asked(&record.id) {
                    let record = match &found {
                        Some(found) => self.fetched_extras(stream, record, found, &what),
                        None => Ok(record),
                    };
                    results.insert(id, record);
                }
            }
            // Entries without a usable id may be any of the pages asked for.
            let mut nameless = 0;
            for entry in unreadable {
                match entry.id.as_deref().and_then(asked) {
                    Some(id) => {
                        let why = format!("{what}: {}: {}", entry.name(kind.item()), entry.why);
                        results.insert(id, Err(self.unreadable_error(stream, id, why)));
                    }
                    None if entry.id.is_none() => nameless += 1,
                    None => {} // not asked for
                }
            }
            for id in chunk.iter() {
                results.entry(id).or_insert_with(|| {
                    Err(if paginated {
                        // Not seen, but the answer was cut: nothing known.
                        Error::invalid_response(format!(
                            "{what}: the answer was split into pages, {} `{id}` not in the first",
                            kind.item()
                        ))
                    } else if nameless > 0 {
                        Error::invalid_response(format!(
                            "{what}: {} `{id}` is not among the readable entries of the \
                             answer ({nameless} had no usable id)",
                            kind.item()
                        ))
                    } else {
                        Error::not_found(format!(
                            "{} `{id}`: not in the answer to {what}",
                            kind.item()
                        ))
                    })
                });
            }
        }
        ids.iter()
            .map(|id| match results.get(id.as_str()) {
                Some(result) => result.clone(),
                None => Err(Error::not_found(format!(
                    "`{id}` is not a {} id",
                    kind.item()
                ))),
            })
            .collect()
    }

    /// A fetched page or blog post with what the search found for it.
    fn fetched_extras(
        &self,
        stream: Stream,
        record: Record,
        found: &Result<extras::Found, Error>,
        what: &str,
    ) -> Result<Record, Error> {
        let id = record.id.clone();
        let item = stream.item();
        match found.as_ref().map_err(Clone::clone)?.get(&id) {
            Some(Ok(extras))
                if self.config.restrictions == Restrictions::Skip && extras.restricted() =>
            {
                Err(Error::not_found(format!(
                    "{item} `{id}` is read-restricted: left out (restrictions = skip)"
                )))
            }
            Some(Ok(extras)) => Ok(extras.apply(record)),
            Some(Err(why)) => {
                let why = format!("{item} `{id}`: {why}");
                Err(self.unreadable_error(stream, &id, why))
            }
            None => Err(Error::transient(format!(
                "{item} `{id}` (fetched with {what}) is not yet in the content search, \
                 which gives its labels, properties or restrictions"
            ))),
        }
    }

    /// One GET per id (`request(id)`), all sent at once, each answer read
    /// as a `T` and made a record of `stream` with `convert`; a 404 is
    /// not-found for that id only.
    fn fetch_each<T: DeserializeOwned>(
        &self,
        stream: Stream,
        ids: &[String],
        request: impl Fn(&str) -> Request,
        convert: impl Fn(T) -> Result<Record, String>,
    ) -> Vec<Result<Record, Error>> {
        let requests: Vec<Request> = ids.iter().map(|id| request(id)).collect();
        api::send_batch(requests)
            .into_iter()
            .zip(ids)
            .map(|((what, answer), id)| {
                let entry: Value = api::check(answer?, &what)?.json()?;
                entries::one(entry, &convert).map_err(|entry| {
                    let why = format!("{what}: {}: {}", entry.name(stream.item()), entry.why);
                    self.unreadable_error(stream, id, why)
                })
            })
            .collect()
    }
}

/// The entries of a search answer a stream keeps, and the extras read from
/// them ([`Confluence::searched_entries`]).
struct Searched {
    entries: Vec<Value>,
    extras: extras::Found,
}

/// The response's `Date` as an RFC 3339 watermark, or `None` (with a
/// warning: the next run then lists everything again) when it has none.
fn date_watermark(response: &Response) -> Option<String> {
    let date = response.header("date");
    let watermark = date
        .and_then(time::parse_http_date)
        .map(time::format_rfc3339);
    if watermark.is_none() {
        log::warn(format!(
            "the server sent no usable Date header ({date:?}); this listing sets no \
             watermark, so the next pull lists everything again"
        ));
    }
    watermark
}

synchost_sdk::export_source!(Confluence);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest() {
        let m = Confluence::describe();
        assert_eq!(m.name, "confluence");
        assert_eq!(m.max_page_size, 250);
        let names: Vec<&str> = m.streams.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "pages",
                "blogposts",
                "folders",
                "attachments",
                "comments",
                "inline-comments"
            ]
        );
        assert!(m.streams.iter().all(|s| s.supports_delta));
        let pushed: Vec<&str> = m
            .streams
            .iter()
            .filter(|s| s.supports_push)
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(pushed, ["pages", "blogposts"]);
        let required: Vec<&str> = m
            .settings
            .iter()
            .filter(|s| s.required)
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(required, ["base_url", "space"]);
    }

    fn plugin(extra: &[(&str, &str)]) -> Confluence {
        let mut pairs = vec![
            ("base_url", "https://site.atlassian.net"),
            ("space", "DOCS"),
        ];
        pairs.extend_from_slice(extra);
        let plugin = Confluence::configure(pairs.into_iter().collect()).unwrap();
        // As if resolved by a first listing; tests do no I/O.
        plugin
            .space
            .set(SpaceRef {
                id: "131189".into(),
                key: "DOCS".into(),
            })
            .unwrap();
        plugin
    }

    fn first_url(
        plugin: &Confluence,
        stream: Stream,
        since: Option<&str>,
        limit: u32,
        detail: Detail,
    ) -> String {
        let req = ListRequest {
            cursor: None,
            since: since.map(str::to_owned),
            limit,
            detail,
        };
        let listing = Listing::of(stream, req.since.as_deref());
        plugin
            .first_request(stream, listing, &req, plugin.limit(stream, limit))
            .unwrap()
            .url()
            .to_owned()
    }

    #[test]
    fn first_requests_per_stream() {
        let p = plugin(&[]);
        let base = "https://site.atlassian.net/wiki";
        assert_eq!(
            first_url(&p, Stream::Pages, None, 1000, Detail::Full),
            format!("{base}/api/v2/spaces/131189/pages?limit=250&body-format=storage")
        );
        assert_eq!(
            first_url(&p, Stream::Pages, None, 100, Detail::IdsOnly),
            format!("{base}/api/v2/spaces/131189/pages?limit=100")
        );
        let search = format!("{base}/rest/api/content/search?cql=");
        assert_eq!(
            first_url(
                &p,
                Stream::Pages,
                Some("2026-01-02T03:04:05Z"),
                250,
                Detail::Full
            ),
            format!(
                "{search}type%3Dpage%20AND%20space%3D%22DOCS%22%20AND%20lastmodified%20%3E%3D%20\
                 %222026-01-01%2003%3A04%22%20ORDER%20BY%20lastmodified%20ASC&limit=200&expand=version"
            )
        );
        assert_eq!(
            first_url(&p, Stream::Folders, None, 100, Detail::Full),
            format!("{search}type%3Dfolder%20AND%20space%3D%22DOCS%22%20ORDER%20BY%20lastmodified%20ASC&limit=100&expand=version")
        );
        assert_eq!(
            first_url(&p, Stream::Attachments, None, 100, Detail::Full),
            format!("{search}type%3Dattachment%20AND%20space%3D%22DOCS%22%20ORDER%20BY%20lastmodified%20ASC&limit=100&expand=version,container")
        );
        let adf = plugin(&[
            ("body_format", "atlas_doc_format"),
            ("delta_overlap_minutes", "60"),
        ]);
        assert_eq!(
            first_url(
                &adf,
                Stream::Comments,
                Some("2026-01-02T03:04:05Z"),
                50,
                Detail::Full
            ),
            format!(
                "{search}type%3Dcomment%20AND%20space%3D%22DOCS%22%20AND%20lastmodified%20%3E%3D%20\
                 %222026-01-02%2002%3A04%22%20ORDER%20BY%20lastmodified%20ASC&limit=50&expand=version,container,body.atlas_doc_format"
            )
        );
    }

    #[test]
    fn comments_disabled_list_nothing_and_need_no_request() {
        let p = plugin(&[]);
        let page = p
            .list(
                "comments",
                ListRequest {
                    limit: 10,
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(page.records.is_empty() && page.next_cursor.is_none());
    }

    #[test]
    fn unknown_streams() {
        let p = plugin(&[]);
        let err = p.list("blogs", ListRequest::default()).unwrap_err();
        assert_eq!(err, Error::unknown_stream("blogs"));
        let results = p.fetch("nope", vec!["1".into(), "2".into()]);
        assert_eq!(results.len(), 2);
        assert!(results
            .iter()
            .all(|r| matches!(r, Err(Error::Unsupported(_)))));
    }

    /// What a listing found unreadable is answered without a request (a
    /// request would not run natively), in the order asked, once per id.
    #[test]
    fn unreadable_entries_are_answered_as_found() {
        let p = plugin(&[]);
        p.unreadable.borrow_mut().insert(
            (Stream::Comments, "7".into()),
            "GET x: comment `7`: title: invalid type".into(),
        );
        let results = p.fetch("comments", vec!["7".into(), "7".into()]);
        assert_eq!(results.len(), 2);
        for result in results {
            assert_eq!(
                result,
                Err(Error::invalid_response(
                    "GET x: comment `7`: title: invalid type"
                ))
            );
        }
        assert!(p.fetch("pages", Vec::new()).is_empty());
    }

    #[test]
    fn only_pages_and_blog_posts_take_pushes() {
        let p = plugin(&[]);
        let change = Change {
            key: "k1".into(),
            op: ChangeOp::Delete,
            id: Some("7".into()),
            base_version: Some("1".into()),
            parent_id: None,
            title: None,
            content: None,
            metadata: "{}".into(),
        };
        let outcomes = p.push("folders", vec![change.clone(), change.clone()]);
        assert_eq!(outcomes.len(), 2);
        assert!(outcomes
            .iter()
            .all(|o| matches!(o, PushOutcome::Failed(Error::Unsupported(m)) if m.contains("only `pages` and `blogposts`"))));
        let answers = p.reconcile("blogs", vec![change]);
        assert_eq!(
            answers,
            [Reconciliation::Failed(Error::unknown_stream("blogs"))]
        );
        assert!(p.push("pages", Vec::new()).is_empty());
    }

    #[test]
    fn bad_cursors_are_fatal_before_any_request() {
        let p = plugin(&[]);
        let req = ListRequest {
            cursor: Some("page=2".into()),
            limit: 10,
            ..Default::default()
        };
        assert!(matches!(p.list("pages", req), Err(Error::Fatal(_))));
    }
}
