//! supabase: the first-party synchost plugin for Supabase (PostgREST over
//! PostgreSQL) tables (design: `docs/supabase.md`).
//!
//! Each configured table is a stream of rows: id = primary key, content =
//! the row's JSON as PostgREST sent it, version = the version column (else
//! the change column). Listings are keyset pages ordered by (change column,
//! primary key); a delta starts `delta_overlap_seconds` before its
//! watermark so rows committed late by long transactions are not missed.
//! Pushes: [`push`]. The plugin never sees the keys: the host sends
//! `apikey` and `Authorization` (`[sources.NAME.auth] type = "supabase"`).

mod api;
mod config;
mod push;
mod records;
mod schema;

use std::cell::RefCell;
use std::collections::HashMap;

use api::{After, Listing, Rest};
use config::{Config, Table};
use schema::Described;
use serde::{Deserialize, Serialize};
use synchost_sdk::http::{self, Request, Response};
use synchost_sdk::prelude::*;
use synchost_sdk::{cursor, time};

/// The most changes one push takes: creates go out as one bulk `INSERT`.
const MAX_PUSH_BATCH: u32 = 1000;

/// The configured plugin.
pub struct Supabase {
    config: Config,
    rest: Rest,
    /// What the OpenAPI root told about the tables, when it was readable.
    described: RefCell<Option<Described>>,
}

/// Where a listing stands: the last row's change column value and key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    c: String,
    k: String,
}

impl Source for Supabase {
    fn describe() -> Manifest {
        Manifest::new(
            "supabase",
            env!("CARGO_PKG_VERSION"),
            "Supabase (PostgREST) tables: one stream per table, rows as JSON",
        )
        .max_page_size(api::MAX_ROWS)
        .max_push_batch(MAX_PUSH_BATCH)
        .auth(AuthInfo::supabase("SUPABASE_KEY", "SUPABASE_JWT"))
        .settings(config::setting_infos())
    }

    fn configure(settings: Settings) -> Result<Self, Error> {
        let config = Config::from_settings(&settings)?;
        let rest = Rest::new(&config.base_url, &config.schema);
        Ok(Supabase {
            config,
            rest,
            described: RefCell::default(),
        })
    }

    /// The configured tables, checked against the OpenAPI root when it is
    /// readable (Supabase restricts it for anon keys: 401/403/404 mean the
    /// settings are trusted as they are).
    fn streams(&self) -> Result<Vec<StreamInfo>, Error> {
        let request = self.rest.openapi();
        let what = api::what(&request);
        let answer = self.send_all(vec![request]).pop().expect("one answer")?;
        let names = match answer.status {
            401 | 403 | 404 => {
                log::log(
                    log::Level::Info,
                    format!(
                        "{what}: HTTP {}: the API description is not readable with this key; \
                     tables and columns are taken as configured",
                        answer.status
                    ),
                );
                match &self.config.tables {
                    Some(names) => names.clone(),
                    None => {
                        return Err(Error::invalid_config(format!(
                            "setting `tables` is `*`, but the API description ({what}) is not \
                             readable with this key (HTTP {}): name the tables",
                            answer.status
                        )))
                    }
                }
            }
            _ => {
                let response = api::check(answer, &what, "", &self.config.schema)?;
                let described = schema::Described::parse(&response.body, &what)?;
                let (names, skipped) = described.check(&self.config)?;
                for why in skipped {
                    log::log(log::Level::Warn, format!("tables = \"*\": skipped: {why}"));
                }
                *self.described.borrow_mut() = Some(described);
                names
            }
        };
        Ok(names
            .into_iter()
            .map(|name| {
                StreamInfo::new(name.clone(), format!("Rows of table {name}"))
                    .delta()
                    .push()
            })
            .collect())
    }

    fn list(&self, stream: &str, req: ListRequest) -> Result<Page, Error> {
        let table = self.table(stream)?;
        let position: Option<Position> = cursor::decode(req.cursor.as_deref())?;
        let from = req
            .since
            .as_deref()
            .map(|since| delta_start(since, self.config.overlap_seconds));
        let ids_only = req.detail == Detail::IdsOnly;
        let request = self.rest.list(
            &table,
            &Listing {
                after: position.as_ref().map(|p| After {
                    change: &p.c,
                    key: &p.k,
                }),
                from: from.as_deref(),
                limit: req.limit,
                ids_only,
            },
        );
        let response = self.send_checked(request, &table)?;
        let what = format!("listing of table \"{}\"", table.name);
        let rows = records::rows(&response, &what)?;
        let mut page = Vec::with_capacity(rows.len());
        let mut deleted = Vec::new();
        let mut last = None;
        for row in &rows {
            let key = row.key(&table)?;
            let change = row.change(&table, &key)?;
            if row.is_deleted(&table) {
                deleted.push(key.clone());
            } else {
                page.push(row.record(&table, !ids_only)?);
            }
            last = Some(Position { c: change, k: key });
        }
        // The listing ends on an empty page only: `db-max-rows` cuts pages
        // short without saying so (contracts §3.2). An empty page sets no
        // watermark, so an empty delta keeps the stored one.
        let Some(last) = last else {
            return Ok(Page::new(Vec::new()));
        };
        let watermark = match req.since {
            Some(since) if !later(&last.c, &since) => since,
            _ => last.c.clone(),
        };
        Ok(Page::new(page)
            .deleted(deleted)
            .next_cursor(cursor::encode(&last))
            .watermark(watermark))
    }

    fn fetch(&self, stream: &str, ids: Vec<String>) -> Vec<Result<Record, Error>> {
        let table = match self.table(stream) {
            Ok(table) => table,
            Err(e) => return vec![Err(e); ids.len()],
        };
        let keys: Vec<&str> = ids.iter().map(String::as_str).collect();
        let found = match self.read_rows(&table, &keys) {
            Ok(found) => found,
            Err(e) => return vec![Err(e); ids.len()],
        };
        ids.iter()
            .map(|id| match found.get(id) {
                Some(Ok(record)) => Ok(record.clone()),
                Some(Err(RowState::Deleted)) => Err(Error::not_found(format!(
                    "row {} of table \"{}\" is marked deleted",
                    records::clip(id),
                    table.name
                ))),
                None => Err(Error::not_found(format!(
                    "row {} of table \"{}\" does not exist (or is not visible to this key)",
                    records::clip(id),
                    table.name
                ))),
            })
            .collect()
    }

    fn push(&self, stream: &str, changes: Vec<Change>) -> Vec<PushOutcome> {
        match self.table(stream) {
            Ok(table) => push::push(self, &table, changes),
            Err(e) => changes.iter().map(|_| e.clone().into()).collect(),
        }
    }

    fn reconcile(&self, stream: &str, changes: Vec<Change>) -> Vec<Reconciliation> {
        match self.table(stream) {
            Ok(table) => push::reconcile(self, &table, changes),
            Err(e) => changes.iter().map(|_| e.clone().into()).collect(),
        }
    }
}

/// Why a row read by key is no record.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RowState {
    Deleted,
}

impl Supabase {
    /// The settings of the table streamed as `stream`.
    fn table(&self, stream: &str) -> Result<Table, Error> {
        if !self.config.has_table(stream) {
            return Err(Error::unknown_stream(stream));
        }
        Ok(self.config.table(stream))
    }

    /// Sends requests together (the host's `send_batch`; in unit tests,
    /// `synchost_sdk::testing`'s server); one answer per request, in order.
    fn send_all(&self, requests: Vec<Request>) -> Vec<Result<Response, Error>> {
        http::send_batch(requests)
    }

    /// Sends one request and maps an error answer ([`api::check`]).
    fn send_checked(&self, request: Request, table: &Table) -> Result<Response, Error> {
        let what = api::what(&request);
        let answer = self
            .send_all(vec![request])
            .pop()
            .expect("one answer per request");
        self.check(answer?, &what, table)
    }

    fn check(&self, response: Response, what: &str, table: &Table) -> Result<Response, Error> {
        api::check(response, what, &table.name, &self.config.schema)
    }

    /// The rows of `table` with these keys (one request per
    /// [`api::in_list_chunks`] run, sent together), by key: a record, or
    /// why not. Absent keys are absent from the map.
    fn read_rows(
        &self,
        table: &Table,
        keys: &[&str],
    ) -> Result<HashMap<String, Result<Record, RowState>>, Error> {
        let requests: Vec<Request> = api::in_list_chunks(keys)
            .iter()
            .map(|chunk| self.rest.rows(table, chunk))
            .collect();
        let whats: Vec<String> = requests.iter().map(api::what).collect();
        let mut found = HashMap::new();
        for (answer, what) in self.send_all(requests).into_iter().zip(whats) {
            let response = self.check(answer?, &what, table)?;
            for row in records::rows(&response, &what)? {
                let key = row.key(table)?;
                let state = if row.is_deleted(table) {
                    Err(RowState::Deleted)
                } else {
                    Ok(row.record(table, true)?)
                };
                found.insert(key, state);
            }
        }
        Ok(found)
    }
}

/// Where a delta starts: `since` minus the overlap, to the microsecond, as
/// RFC 3339 in UTC. A `timestamp without time zone` (no offset) stays
/// without one. A watermark that is no timestamp (an integer change
/// column) is used as it is.
fn delta_start(since: &str, overlap_seconds: u32) -> String {
    let naive = !since.ends_with(['Z', 'z']) && !has_offset(since);
    let parsed = if naive {
        time::parse_rfc3339_micros(&format!("{since}Z"))
    } else {
        time::parse_rfc3339_micros(since)
    };
    match parsed {
        Some(us) => {
            let start = time::format_rfc3339_micros(us - i64::from(overlap_seconds) * 1_000_000);
            if naive {
                start.trim_end_matches('Z').to_owned()
            } else {
                start
            }
        }
        None => since.to_owned(),
    }
}

/// True when an RFC 3339 text ends in a `+HH:MM` or `-HH:MM` offset.
fn has_offset(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() > 6 && matches!(b[b.len() - 6], b'+' | b'-') && b[b.len() - 3] == b':'
}

/// True when change value `a` lies after `b`: as times when both are
/// timestamps (PostgreSQL drops trailing zeros, so the texts do not sort),
/// as numbers when both are, else as text.
fn later(a: &str, b: &str) -> bool {
    let micros = |s: &str| {
        time::parse_rfc3339_micros(s).or_else(|| time::parse_rfc3339_micros(&format!("{s}Z")))
    };
    if let (Some(x), Some(y)) = (micros(a), micros(b)) {
        return x > y;
    }
    if let (Ok(x), Ok(y)) = (a.parse::<f64>(), b.parse::<f64>()) {
        return x > y;
    }
    a > b
}

synchost_sdk::export_source!(Supabase);

#[cfg(test)]
mod tests;
