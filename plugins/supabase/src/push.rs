//! Pushes and their reconciliation (`docs/supabase.md`, "Push").
//!
//! - Creates: one bulk `POST` per set of columns (one per call when the
//!   rows have the same keys), `resolution=ignore-duplicates`, the inserted
//!   rows returned. A create without its primary key gets a UUID derived
//!   from the change key, so a create sent twice inserts once. Rows the
//!   answer lacks already existed: they are read back, and the same values
//!   mean ours (applied), others a conflict. A bulk insert refused as a
//!   whole for a row's sake (RLS, a constraint) is sent again row by row, so
//!   only the refused rows fail.
//! - Updates: `PATCH ?PK=eq.K&VER=eq.BASE`; deletes: `DELETE` (or, with a
//!   soft-delete column, a `PATCH` setting it) with the same filter. An
//!   empty answer is read up: the row gone is a conflict (an update) or
//!   done (a delete); still at its base version means RLS hid it from the
//!   write; else a conflict with the current row.
//! - The change and version columns are the database's (a default and an
//!   update trigger): a push never writes them.
//! - An RLS refusal (`42501`) fails its change only; when every change of
//!   the call is refused so, each is `auth` (the credentials cannot write).

use crate::api::{self, Rest};
use crate::config::Table;
use crate::records::{self, clip};
use crate::schema::Described;
use crate::Supabase;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use synchost_sdk::http::Response;
use synchost_sdk::prelude::*;
use synchost_sdk::push::{self as toolkit, Answer, Step};
use synchost_sdk::time;

/// What one change came to: an outcome, or an RLS refusal (decided per
/// call: see the module). One per change, short-lived: size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
enum Settled {
    Out(PushOutcome),
    Refused(String),
}

impl From<PushOutcome> for Settled {
    fn from(outcome: PushOutcome) -> Self {
        Settled::Out(outcome)
    }
}

impl From<Error> for Settled {
    fn from(error: Error) -> Self {
        Settled::Out(PushOutcome::Failed(error))
    }
}

/// A change as the requests it needs.
#[derive(Debug, Clone, PartialEq)]
enum Plan {
    /// `row` holds the key (given or derived) and no server-managed column.
    Create {
        key: String,
        row: Map<String, Value>,
    },
    Update {
        key: String,
        base: String,
        body: Map<String, Value>,
    },
    /// `soft`: the value a soft delete writes to the soft-delete column.
    Delete {
        key: String,
        base: String,
        soft: Option<Value>,
    },
}

impl Plan {
    fn key(&self) -> &str {
        match self {
            Plan::Create { key, .. } | Plan::Update { key, .. } | Plan::Delete { key, .. } => key,
        }
    }
}

/// What the requests of a change need, owned (steps outlive the call).
#[derive(Clone)]
struct Ctx {
    rest: Rest,
    table: Table,
    schema: String,
}

impl Ctx {
    fn of(p: &Supabase, table: &Table) -> Ctx {
        Ctx {
            rest: p.rest.clone(),
            table: table.clone(),
            schema: p.config.schema.clone(),
        }
    }

    fn check(&self, response: Response, what: &str) -> Result<Response, Error> {
        api::check(response, what, &self.table.name, &self.schema)
    }
}

/// A row as read now.
#[derive(Debug, Clone, PartialEq)]
struct Current {
    record: Record,
    columns: Map<String, Value>,
    deleted: bool,
}

type Rows = HashMap<String, Current>;

pub fn push(p: &Supabase, table: &Table, changes: Vec<Change>) -> Vec<PushOutcome> {
    let ctx = Ctx::of(p, table);
    let plans = plans(p, table, &changes);
    let mut settled: Vec<Option<Settled>> = vec![None; changes.len()];
    // Creates by their columns: one INSERT each.
    let mut groups: BTreeMap<Vec<String>, Vec<usize>> = BTreeMap::new();
    let mut steps: Vec<Step<Vec<(usize, Grouped)>>> = Vec::new();
    for (i, plan) in plans.iter().enumerate() {
        match plan {
            Err(e) => settled[i] = Some(e.clone().into()),
            Ok(Plan::Create { row, .. }) => groups
                .entry(row.keys().cloned().collect())
                .or_default()
                .push(i),
            Ok(plan) => {
                let step = write(ctx.clone(), plan.clone());
                steps.push(step.map(move |s| vec![(i, Grouped::Done(s))]));
            }
        }
    }
    let creates = |members: &[usize]| -> Vec<(usize, String, Map<String, Value>)> {
        members
            .iter()
            .filter_map(|&i| match &plans[i] {
                Ok(Plan::Create { key, row }) => Some((i, key.clone(), row.clone())),
                _ => None,
            })
            .collect()
    };
    for members in groups.values() {
        steps.push(insert(ctx.clone(), creates(members)));
    }
    let mut isolate = Vec::new();
    for (i, outcome) in p.run(steps).into_iter().flatten() {
        match outcome {
            Grouped::Done(s) => settled[i] = Some(s),
            Grouped::Isolate => isolate.push(i),
        }
    }
    // Bulk inserts refused as a whole: each row on its own.
    let singles: Vec<_> = creates(&isolate)
        .into_iter()
        .map(|one| insert(ctx.clone(), vec![one]))
        .collect();
    for (i, outcome) in p.run(singles).into_iter().flatten() {
        settled[i] = Some(match outcome {
            Grouped::Done(s) => s,
            Grouped::Isolate => Error::fatal("a single row cannot be isolated further").into(),
        });
    }
    let settled: Vec<Settled> = settled
        .into_iter()
        .map(|s| s.unwrap_or_else(|| Error::fatal("plugin bug: a change without outcome").into()))
        .collect();
    let all_refused = settled.iter().all(|s| matches!(s, Settled::Refused(_)));
    settled
        .into_iter()
        .map(|s| match s {
            Settled::Out(outcome) => outcome,
            Settled::Refused(why) if all_refused => Error::auth(why).into(),
            Settled::Refused(why) => Error::fatal(why).into(),
        })
        .collect()
}

pub fn reconcile(p: &Supabase, table: &Table, changes: Vec<Change>) -> Vec<Reconciliation> {
    let ctx = Ctx::of(p, table);
    let plans = plans(p, table, &changes);
    let keys: Vec<String> = plans.iter().flatten().map(|p| p.key().to_owned()).collect();
    let read = read_keys(ctx, keys, Rows::new(), Step::done);
    let current = p.run(vec![read]).pop().expect("one answer");
    plans
        .into_iter()
        .map(|plan| {
            let plan = plan?;
            let rows = current.as_ref().map_err(Clone::clone)?;
            let now = rows.get(plan.key()).filter(|c| !c.deleted);
            let at_base = |c: &Current, base: &str| c.record.version == base;
            Ok(match (&plan, now) {
                (Plan::Create { .. }, None) => match rows.get(plan.key()) {
                    Some(_) => Reconciliation::Conflict(None),
                    None => Reconciliation::NotApplied,
                },
                (Plan::Create { row, .. }, Some(c)) if same_values(&c.columns, row) => {
                    Reconciliation::Applied(Some(c.record.clone()))
                }
                (Plan::Update { .. }, None) => Reconciliation::Conflict(None),
                (Plan::Delete { .. }, None) => Reconciliation::Applied(None),
                (Plan::Update { base, .. } | Plan::Delete { base, .. }, Some(c))
                    if at_base(c, base) =>
                {
                    Reconciliation::NotApplied
                }
                (Plan::Update { body, .. }, Some(c)) if same_values(&c.columns, body) => {
                    Reconciliation::Applied(Some(c.record.clone()))
                }
                (_, Some(c)) => Reconciliation::Conflict(Some(c.record.clone())),
            })
        })
        .map(|answer: Result<Reconciliation, Error>| answer.unwrap_or_else(Reconciliation::from))
        .collect()
}

impl Supabase {
    /// Runs steps, each round together.
    fn run<T>(&self, steps: Vec<Step<T>>) -> Vec<T> {
        toolkit::run(steps)
    }
}

/// The outcome of a create in a bulk insert: settled, or to be sent alone.
#[allow(clippy::large_enum_variant)]
enum Grouped {
    Done(Settled),
    Isolate,
}

/// Each change as requests, with the column types the API description gave.
fn plans(p: &Supabase, table: &Table, changes: &[Change]) -> Vec<Result<Plan, Error>> {
    let described = p.described.borrow();
    changes
        .iter()
        .map(|c| plan(table, described.as_ref(), c))
        .collect()
}

/// The change as requests: what it writes, checked before anything is sent.
fn plan(t: &Table, described: Option<&Described>, c: &Change) -> Result<Plan, Error> {
    let refuse = |why: String| Error::unsupported(format!("change `{}`: {why}", c.key));
    let object = || -> Result<Map<String, Value>, Error> {
        let text = c.content_text()?;
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(mut row)) => {
                row.retain(|column, _| !t.server_managed(column));
                // A title given beside a row without its title column.
                if let (Some(column), Some(title)) = (&t.title_column, &c.title) {
                    if !row.contains_key(column) {
                        row.insert(column.clone(), Value::String(title.clone()));
                    }
                }
                Ok(row)
            }
            Ok(_) => Err(refuse("the content is not a JSON object (a row)".into())),
            Err(e) => Err(refuse(format!("the content is not JSON: {e}"))),
        }
    };
    let given_key = |row: &Map<String, Value>| match row.get(&t.primary_key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(refuse(format!(
            "primary key `{}` is neither a string nor a number",
            t.primary_key
        ))),
    };
    match c.op {
        ChangeOp::Create => {
            let mut row = object()?;
            let key = match given_key(&row)? {
                Some(key) => key,
                None => {
                    let format = described
                        .and_then(|d| d.column(&t.name, &t.primary_key))
                        .map(|col| col.format.as_str());
                    if format.is_some_and(|f| !matches!(f, "uuid" | "text" | "character varying")) {
                        return Err(refuse(format!(
                            "the content has no `{}`, and synchost derives keys only for uuid \
                             and text primary keys (this one is {}): give the key in the content",
                            t.primary_key,
                            format.unwrap_or("?")
                        )));
                    }
                    let key = derived_uuid(&c.key);
                    row.insert(t.primary_key.clone(), Value::String(key.clone()));
                    key
                }
            };
            Ok(Plan::Create { key, row })
        }
        ChangeOp::Update => {
            let key = c.require_id()?.to_owned();
            let base = c.require_base()?.to_owned();
            let mut body = object()?;
            if given_key(&body)?.is_some_and(|k| k != key) {
                return Err(refuse(format!(
                    "the content changes primary key `{}`: not supported",
                    t.primary_key
                )));
            }
            body.remove(&t.primary_key);
            if body.is_empty() {
                return Err(refuse("the content changes no column".into()));
            }
            Ok(Plan::Update { key, base, body })
        }
        ChangeOp::Delete => {
            let key = c.require_id()?.to_owned();
            let base = c.require_base()?.to_owned();
            let soft = match &t.soft_delete_column {
                None => None,
                Some(column) => {
                    let format = described
                        .and_then(|d| d.column(&t.name, column))
                        .map(|col| col.format.as_str());
                    Some(match format {
                        Some("boolean") => Value::Bool(true),
                        None => Value::String(now()),
                        Some(f) if f.starts_with("timestamp") || f == "date" => {
                            Value::String(now())
                        }
                        Some(f) => {
                            return Err(refuse(format!(
                                "soft-delete column `{column}` is {f}: synchost sets boolean and \
                                 timestamp columns only"
                            )))
                        }
                    })
                }
            };
            Ok(Plan::Delete { key, base, soft })
        }
    }
}

/// The current time for a soft delete's timestamp (UTC, microseconds).
fn now() -> String {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    time::format_rfc3339_micros(since_epoch.as_micros() as i64)
}

/// A UUID from a change key: the first 16 bytes of its SHA-256 with the
/// version (8, RFC 9562's custom, name-based) and variant bits set. The same
/// key makes the same row key, so a create sent again inserts nothing.
pub fn derived_uuid(change_key: &str) -> String {
    let digest = Sha256::digest(change_key.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// True when every column of `sent` has the value sent in `current`
/// (numbers by value, timestamps by instant: PostgreSQL renders both its
/// own way).
fn same_values(current: &Map<String, Value>, sent: &Map<String, Value>) -> bool {
    sent.iter().all(|(column, value)| {
        let now = current.get(column).unwrap_or(&Value::Null);
        now == value || same_value(now, value)
    })
}

fn same_value(a: &Value, b: &Value) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::String(x), Value::String(y)) => {
            match (time::parse_rfc3339_micros(x), time::parse_rfc3339_micros(y)) {
                (Some(p), Some(q)) => p == q,
                _ => false,
            }
        }
        _ => match (text(a), text(b)) {
            (Some(x), Some(y)) => {
                x == y || matches!((x.parse::<f64>(), y.parse::<f64>()), (Ok(p), Ok(q)) if p == q)
            }
            _ => false,
        },
    }
}

/// Whether a refused bulk insert may be for one row's sake (so the rows
/// are sent again one by one): an RLS refusal or a data error, not the
/// request or the credentials.
fn row_specific(status: u16, code: Option<&str>) -> bool {
    match code {
        Some(api::RLS) => true,
        Some("PGRST100" | "PGRST102" | "PGRST204") => false,
        Some(c) if c.starts_with("PGRST") => false,
        _ => matches!(status, 400 | 409 | 422),
    }
}

/// The message of an RLS refusal.
fn refusal(response: &Response, what: &str) -> String {
    let error = api::PgError::parse(&response.body);
    format!(
        "{what}: row-level security refused this row (PostgREST code 42501, HTTP {}): {}",
        response.status,
        error.message.unwrap_or_default()
    )
}

/// One bulk insert of `rows` (index, key, row; same columns), then what
/// each row came to.
fn insert(ctx: Ctx, rows: Vec<(usize, String, Map<String, Value>)>) -> Step<Vec<(usize, Grouped)>> {
    let columns: Vec<String> = rows
        .first()
        .map(|(_, _, row)| row.keys().cloned().collect())
        .unwrap_or_default();
    let body: Vec<&Map<String, Value>> = rows.iter().map(|(_, _, row)| row).collect();
    let body = match serde_json::to_vec(&body) {
        Ok(body) => body,
        Err(e) => {
            let e = Error::fatal(format!("rows do not serialize: {e}"));
            return Step::done(
                rows.iter()
                    .map(|(i, ..)| (*i, Grouped::Done(e.clone().into())))
                    .collect(),
            );
        }
    };
    let request = ctx.rest.insert(&ctx.table, &columns, body);
    let what = api::what(&request);
    Step::send(request, move |answer: Answer| {
        let all = |s: Settled| -> Step<Vec<(usize, Grouped)>> {
            Step::done(
                rows.iter()
                    .map(|(i, ..)| (*i, Grouped::Done(s.clone())))
                    .collect(),
            )
        };
        let response = match answer {
            Ok(r) => r,
            Err(e) => return all(e.into()),
        };
        if response.status >= 400 {
            let code = api::code(&response);
            if rows.len() > 1 && row_specific(response.status, code.as_deref()) {
                return Step::done(rows.iter().map(|(i, ..)| (*i, Grouped::Isolate)).collect());
            }
            if code.as_deref() == Some(api::RLS) {
                return all(Settled::Refused(refusal(&response, &what)));
            }
            return all(ctx
                .check(response, &what)
                .err()
                .unwrap_or_else(|| Error::fatal("unreachable"))
                .into());
        }
        let inserted = match current_rows(&ctx.table, &response, &what) {
            Ok(inserted) => inserted,
            Err(e) => return all(e.into()),
        };
        let mut done = Vec::new();
        let mut missing = Vec::new();
        for (i, key, row) in rows {
            match inserted.get(&key) {
                Some(c) => done.push((
                    i,
                    Grouped::Done(PushOutcome::Applied(Some(c.record.clone())).into()),
                )),
                None => missing.push((i, key, row)),
            }
        }
        if missing.is_empty() {
            return Step::done(done);
        }
        // Not inserted: the key existed. Ours (sent before) or someone's?
        let keys = missing.iter().map(|(_, k, _)| k.clone()).collect();
        read_keys(ctx, keys, Rows::new(), move |read| {
            for (i, key, row) in missing {
                let outcome: Settled = match (&read, read.as_ref().ok().and_then(|r| r.get(&key))) {
                    (Err(e), _) => e.clone().into(),
                    (_, Some(c)) if !c.deleted && same_values(&c.columns, &row) => {
                        PushOutcome::Applied(Some(c.record.clone())).into()
                    }
                    (_, Some(c)) if c.deleted => PushOutcome::Conflict(None).into(),
                    (_, Some(c)) => PushOutcome::Conflict(Some(c.record.clone())).into(),
                    (_, None) => Error::invalid_response(format!(
                        "{what}: row {} was neither inserted nor found afterwards (is it \
                         hidden from this key by row-level security?)",
                        clip(&key)
                    ))
                    .into(),
                };
                done.push((i, Grouped::Done(outcome)));
            }
            Step::done(done)
        })
    })
}

/// An update or delete: the conditional write, then, when it changed
/// nothing, the row as it is now.
fn write(ctx: Ctx, plan: Plan) -> Step<Settled> {
    let (key, base, request) = match &plan {
        Plan::Update { key, base, body } => {
            let body = serde_json::to_vec(body).expect("a JSON map serializes");
            (
                key.clone(),
                base.clone(),
                ctx.rest.update(&ctx.table, key, base, body),
            )
        }
        Plan::Delete {
            key,
            base,
            soft: Some(value),
        } => {
            let column = ctx.table.soft_delete_column.clone().unwrap_or_default();
            let body = serde_json::to_vec(&Map::from_iter([(column, value.clone())]))
                .expect("a JSON map serializes");
            (
                key.clone(),
                base.clone(),
                ctx.rest.update(&ctx.table, key, base, body),
            )
        }
        Plan::Delete {
            key,
            base,
            soft: None,
        } => (
            key.clone(),
            base.clone(),
            ctx.rest.delete(&ctx.table, key, base),
        ),
        Plan::Create { .. } => unreachable!("creates are inserted"),
    };
    let is_update = matches!(plan, Plan::Update { .. });
    let what = api::what(&request);
    Step::send(request, move |answer: Answer| {
        let response = match answer {
            Ok(r) => r,
            Err(e) => return Step::done(e.into()),
        };
        if response.status >= 400 {
            if api::code(&response).as_deref() == Some(api::RLS) {
                return Step::done(Settled::Refused(refusal(&response, &what)));
            }
            let e = ctx
                .check(response, &what)
                .err()
                .unwrap_or_else(|| Error::fatal("unreachable"));
            return Step::done(e.into());
        }
        let written = match current_rows(&ctx.table, &response, &what) {
            Ok(rows) => rows,
            Err(e) => return Step::done(e.into()),
        };
        if let Some(c) = written.get(&key) {
            return Step::done(if is_update {
                PushOutcome::Applied(Some(c.record.clone())).into()
            } else {
                PushOutcome::Applied(None).into()
            });
        }
        // Nothing matched the key at the base version: why?
        read_keys(ctx, vec![key.clone()], Rows::new(), move |read| {
            Step::done(match read.map(|mut rows| rows.remove(&key)) {
                Err(e) => e.into(),
                Ok(None) if is_update => PushOutcome::Conflict(None).into(),
                Ok(None) => PushOutcome::Applied(None).into(),
                Ok(Some(c)) if c.deleted && !is_update => PushOutcome::Applied(None).into(),
                Ok(Some(c)) if c.deleted => PushOutcome::Conflict(None).into(),
                Ok(Some(c)) if c.record.version == base => Settled::Refused(format!(
                    "{what}: the row is still at its base version but the write changed \
                     nothing: row-level security does not let this key change it"
                )),
                Ok(Some(c)) => PushOutcome::Conflict(Some(c.record)).into(),
            })
        })
    })
}

/// The rows of an answer by key.
fn current_rows(t: &Table, response: &Response, what: &str) -> Result<Rows, Error> {
    let mut found = Rows::new();
    for row in records::rows(response, what)? {
        let record = row.record(t, true)?;
        found.insert(
            record.id.clone(),
            Current {
                deleted: row.is_deleted(t),
                columns: row.columns,
                record,
            },
        );
    }
    Ok(found)
}

/// Reads the rows with `keys` (one request per in-list chunk, one after
/// the other), then `then` decides.
fn read_keys<T: 'static>(
    ctx: Ctx,
    mut keys: Vec<String>,
    mut found: Rows,
    then: impl FnOnce(Result<Rows, Error>) -> Step<T> + 'static,
) -> Step<T> {
    if keys.is_empty() {
        return then(Ok(found));
    }
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let n = api::in_list_chunks(&refs).first().map_or(0, Vec::len);
    let request = ctx.rest.rows(&ctx.table, &refs[..n]);
    let rest = keys.split_off(n);
    let what = api::what(&request);
    Step::send(request, move |answer: Answer| {
        let read = answer
            .and_then(|r| ctx.check(r, &what))
            .and_then(|r| current_rows(&ctx.table, &r, &what));
        match read {
            Ok(rows) => {
                found.extend(rows);
                read_keys(ctx, rest, found, then)
            }
            Err(e) => then(Err(e)),
        }
    })
}

#[cfg(test)]
#[path = "push_tests.rs"]
mod tests;
