//! The table routes, `GET`/`POST`/`PATCH`/`DELETE /rest/v1/{table}`: each
//! request is one transaction with PostgREST's `role` and
//! `request.jwt.claims`, its JSON made by Postgres (`json_agg` over the
//! rows, so timestamps render as Postgres's `to_json` does).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio_postgres::Row;

use super::errors::{Pgrst, JSON_UTF8};
use super::pool::refs;
use super::query::{self, parse_query, quote_ident, render_select, render_where, Query, Sql};
use super::schema::Table;
use super::{authenticate, Auth, Store};

/// `Prefer: return=…`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
enum Return {
    #[default]
    Minimal,
    HeadersOnly,
    Representation,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Resolution {
    Ignore,
    Merge,
}

/// The `Prefer` preferences the fake honours, and the ones it applied.
#[derive(Debug, Default)]
struct Prefer {
    ret: Return,
    resolution: Option<Resolution>,
    count: bool,
    missing_default: bool,
    applied: Vec<String>,
}

fn prefer(headers: &HeaderMap) -> Prefer {
    let mut p = Prefer::default();
    let values = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim);
    for v in values {
        let known = match v {
            "return=minimal" => {
                p.ret = Return::Minimal;
                true
            }
            "return=headers-only" => {
                p.ret = Return::HeadersOnly;
                true
            }
            "return=representation" => {
                p.ret = Return::Representation;
                true
            }
            "resolution=ignore-duplicates" => {
                p.resolution = Some(Resolution::Ignore);
                true
            }
            "resolution=merge-duplicates" => {
                p.resolution = Some(Resolution::Merge);
                true
            }
            // `estimated` and `planned` are answered exactly.
            "count=exact" | "count=planned" | "count=estimated" => {
                p.count = true;
                true
            }
            "missing=default" => {
                p.missing_default = true;
                true
            }
            _ => false,
        };
        if known && !p.applied.iter().any(|a| a == v) {
            p.applied.push(v.to_owned());
        }
    }
    p
}

/// What every table request needs: who, which table, what query.
struct Ctx {
    auth: Auth,
    table: Table,
    query: Query,
    prefer: Prefer,
    path: String,
}

/// The schema of `Accept-Profile` (reads) or `Content-Profile` (writes),
/// else the first exposed one.
pub fn profile(store: &Store, headers: &HeaderMap, write: bool) -> Result<String, Pgrst> {
    let name = if write {
        "content-profile"
    } else {
        "accept-profile"
    };
    let Some(asked) = headers.get(name).and_then(|v| v.to_str().ok()) else {
        return Ok(store.schemas[0].clone());
    };
    if store.schemas.iter().any(|s| s == asked) {
        Ok(asked.to_owned())
    } else {
        Err(Pgrst::new(
            StatusCode::NOT_ACCEPTABLE,
            "PGRST106",
            format!("Invalid schema: {asked}"),
        )
        .hint(format!(
            "Only the following schemas are exposed: {}",
            store.schemas.join(", ")
        )))
    }
}

/// Auth, profile, table and query string, in PostgREST's order.
#[allow(clippy::result_large_err)]
fn prelude(
    store: &Store,
    headers: &HeaderMap,
    table: &str,
    raw_query: Option<&str>,
    write: bool,
) -> Result<Ctx, Response> {
    let auth = authenticate(store, headers)?;
    let schema = profile(store, headers, write).map_err(IntoResponse::into_response)?;
    let query = parse_query(raw_query).map_err(IntoResponse::into_response)?;
    let table = store
        .cache()
        .get(&(schema.clone(), table.to_owned()))
        .cloned()
        .ok_or_else(|| Pgrst::no_table(&schema, table).into_response())?;
    Ok(Ctx {
        auth,
        path: format!("/{}", table.name),
        table,
        query,
        prefer: prefer(headers),
    })
}

/// Runs `main` (and `count`) in one transaction as the request's role.
async fn execute(
    store: &Store,
    ctx: &Ctx,
    method: &str,
    main: &Sql,
    count: Option<&Sql>,
) -> Result<(Row, Option<i64>), Pgrst> {
    let anon = ctx.auth.anon();
    let db = |e: tokio_postgres::Error| Pgrst::from_db(&e, anon);
    let mut conn = store.pool.get().await.map_err(db)?;
    let tx = conn.transaction().await.map_err(db)?;
    tx.execute(
        "SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true),
                set_config('request.method', $3, true), set_config('request.path', $4, true)",
        &[&ctx.auth.role, &ctx.auth.claims, &method, &ctx.path],
    )
    .await
    .map_err(db)?;
    let row = tx
        .query_one(&main.text, &refs(&main.params))
        .await
        .map_err(db)?;
    let total = match count {
        Some(c) => Some(
            tx.query_one(&c.text, &refs(&c.params))
                .await
                .map_err(db)?
                .get::<_, i64>(0),
        ),
        None => None,
    };
    tx.commit().await.map_err(db)?;
    Ok((row, total))
}

/// A JSON answer (or none) with PostgREST's headers.
fn answer(
    status: StatusCode,
    body: Option<String>,
    content_range: String,
    prefer: &Prefer,
) -> Response {
    let mut resp = match body {
        Some(b) => (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8))],
            b,
        )
            .into_response(),
        None => status.into_response(),
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_range) {
        h.insert(header::CONTENT_RANGE, v);
    }
    if !prefer.applied.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&prefer.applied.join(", ")) {
            h.insert("preference-applied", v);
        }
    }
    resp
}

/// `0-99/*`, `*/*`, `*/57`...
fn content_range(offset: i64, rows: i64, total: Option<i64>) -> String {
    let total = total.map_or("*".to_owned(), |t| t.to_string());
    if rows > 0 {
        format!("{offset}-{}/{total}", offset + rows - 1)
    } else {
        format!("*/{total}")
    }
}

/// (offset, limit) from `limit`/`offset` and, on GET, the `Range` header
/// (`^([0-9]+)-([0-9]*)$`, anything else ignored), intersected, capped at
/// max-rows.
fn range(q: &Query, headers: &HeaderMap, max_rows: i64) -> Result<(i64, i64), Pgrst> {
    if q.limit.is_some_and(|l| l < 0) {
        return Err(Pgrst::range(
            "Limit should be greater than or equal to zero.",
        ));
    }
    let mut lo = q.offset.unwrap_or(0).max(0);
    let mut hi = q.limit.map(|l| lo + l - 1);
    let header_range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once('-'))
        .and_then(|(a, b)| {
            let digits = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
            if a.is_empty() || !digits(a) || !digits(b) {
                return None;
            }
            Some((
                a.parse::<i64>().ok()?,
                if b.is_empty() {
                    None
                } else {
                    Some(b.parse::<i64>().ok()?)
                },
            ))
        });
    if let Some((a, b)) = header_range {
        if b.is_some_and(|b| a > b) {
            return Err(Pgrst::range(
                "The lower boundary must be lower than or equal to the upper boundary in the Range header.",
            ));
        }
        lo = lo.max(a);
        hi = match (hi, b) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
    }
    let limit = hi.map_or(max_rows, |h| (h - lo + 1).max(0)).min(max_rows);
    Ok((lo, limit))
}

/// `GET /rest/v1/{table}`.
pub async fn read(
    State(store): State<Arc<Store>>,
    Path(table): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let ctx = match prelude(&store, &headers, &table, raw.as_deref(), false) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (offset, limit) = match range(&ctx.query, &headers, store.max_rows) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let qt = ctx.table.qualified();
    let mut main = Sql::default();
    let filter = render_where(&ctx.query.conds, "pgrst_t.", &mut main);
    main.text = format!(
        "SELECT coalesce(json_agg(pgrst_r), '[]')::text, count(*) FROM (SELECT {} FROM {qt} AS pgrst_t{filter}{} LIMIT {limit} OFFSET {offset}) pgrst_r",
        render_select(&ctx.query.select, "pgrst_t."),
        query::render_order(&ctx.query.order, "pgrst_t."),
    );
    let count = ctx.prefer.count.then(|| {
        let mut c = Sql::default();
        let filter = render_where(&ctx.query.conds, "pgrst_t.", &mut c);
        c.text = format!("SELECT count(*) FROM {qt} AS pgrst_t{filter}");
        c
    });
    let (row, total) = match execute(&store, &ctx, method.as_str(), &main, count.as_ref()).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let (body, rows): (String, i64) = (row.get(0), row.get(1));
    if let Some(total) = total.filter(|t| offset > *t) {
        return Pgrst::range(format!(
            "An offset of {offset} was requested, but there are only {total} rows."
        ))
        .into_response();
    }
    let status = if total.is_some_and(|t| rows < t) {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    answer(
        status,
        Some(body),
        content_range(offset, rows, total),
        &ctx.prefer,
    )
}

/// The request body as JSON objects: one object or an array of them.
fn body_objects(body: &Bytes) -> Result<Vec<serde_json::Map<String, Value>>, Pgrst> {
    let bad = || Pgrst::bad_body("Empty or invalid json");
    match serde_json::from_slice::<Value>(body).map_err(|_| bad())? {
        Value::Object(o) => Ok(vec![o]),
        Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                Value::Object(o) => Ok(o),
                _ => Err(bad()),
            })
            .collect(),
        _ => Err(bad()),
    }
}

/// Checks every column exists (PGRST204).
fn check_columns<'a>(
    table: &Table,
    cols: impl IntoIterator<Item = &'a String>,
) -> Result<(), Pgrst> {
    for c in cols {
        if table.column(c).is_none() {
            return Err(Pgrst::no_column(c, &table.name));
        }
    }
    Ok(())
}

/// What follows a write CTE `pgrst_src` returning `pgrst_row` (and
/// `pgrst_ins` when `inserts`): the JSON of the shaped rows, their count,
/// how many were inserted, and the first row's JSON (for `Location`).
fn write_tail(ctx: &Ctx, inserts: bool) -> String {
    format!(
        " SELECT (SELECT coalesce(json_agg(pgrst_r), '[]')::text FROM (SELECT {} FROM pgrst_src) pgrst_r),
                 (SELECT count(*) FROM pgrst_src), {},
                 (SELECT row_to_json(pgrst_src.pgrst_row)::text FROM pgrst_src LIMIT 1)",
        render_select(&ctx.query.select, "(pgrst_src.pgrst_row)."),
        if inserts {
            "(SELECT count(*) FROM pgrst_src WHERE pgrst_ins)"
        } else {
            "0::bigint"
        }
    )
}

/// The answer to a write: the rows, their count, the status on success.
fn write_answer(ctx: &Ctx, row: &Row, status: StatusCode, minimal: StatusCode) -> Response {
    let (body, rows): (String, i64) = (row.get(0), row.get(1));
    let range = content_range(0, 0, ctx.prefer.count.then_some(rows));
    match ctx.prefer.ret {
        Return::Representation => answer(status, Some(body), range, &ctx.prefer),
        Return::Minimal => answer(minimal, None, range, &ctx.prefer),
        Return::HeadersOnly => {
            let mut resp = answer(minimal, None, range, &ctx.prefer);
            let first: Option<String> = row.get(3);
            if let Some(loc) = first.and_then(|f| location(&ctx.table, &f)) {
                resp.headers_mut().insert(header::LOCATION, loc);
            }
            resp
        }
    }
}

/// What `Location` percent-encodes in a value: all but `A-Z a-z 0-9 - . _ ~`.
const LOCATION_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `/{table}?pk=eq.value` of a row.
fn location(table: &Table, row_json: &str) -> Option<HeaderValue> {
    let row: serde_json::Map<String, Value> = serde_json::from_str(row_json).ok()?;
    let parts: Vec<String> = table
        .pk()
        .iter()
        .map(|k| {
            let v = match row.get(*k) {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => String::new(),
            };
            format!(
                "{k}=eq.{}",
                percent_encoding::utf8_percent_encode(&v, LOCATION_VALUE)
            )
        })
        .collect();
    HeaderValue::from_str(&format!("/{}?{}", table.name, parts.join("&"))).ok()
}

/// `POST`, `PATCH` and `DELETE /rest/v1/{table}`: the statement of
/// [`insert_sql`], [`update_sql`] or [`delete_sql`] (`None`: nothing to
/// write), run as the request's role.
pub async fn write(
    State(store): State<Arc<Store>>,
    Path(table): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let ctx = match prelude(&store, &headers, &table, raw.as_deref(), true) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let insert = method == Method::POST;
    let planned = match method {
        Method::POST => insert_sql(&ctx, &body),
        Method::PATCH => update_sql(&ctx, &body),
        _ => Ok(Some(delete_sql(&ctx))),
    };
    let sql = match planned {
        Ok(Some(sql)) => sql,
        Ok(None) if insert => return write_empty(&ctx, StatusCode::CREATED),
        Ok(None) => return write_empty(&ctx, StatusCode::OK),
        Err(e) => return e.into_response(),
    };
    let row = match execute(&store, &ctx, method.as_str(), &sql, None).await {
        Ok((row, _)) => row,
        Err(e) => return e.into_response(),
    };
    if !insert {
        return write_answer(&ctx, &row, StatusCode::OK, StatusCode::NO_CONTENT);
    }
    // 201, but 200 when merge-duplicates only updated.
    let (rows, inserted): (i64, i64) = (row.get(1), row.get(2));
    let status = if ctx.prefer.resolution == Some(Resolution::Merge) && inserted == 0 && rows > 0 {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    write_answer(&ctx, &row, status, status)
}

/// A write that touches nothing (`[]`, `{}`).
fn write_empty(ctx: &Ctx, status: StatusCode) -> Response {
    let body = (ctx.prefer.ret == Return::Representation).then(|| "[]".to_owned());
    let status = if body.is_none() && status != StatusCode::CREATED {
        StatusCode::NO_CONTENT
    } else {
        status
    };
    answer(
        status,
        body,
        content_range(0, 0, ctx.prefer.count.then_some(0)),
        &ctx.prefer,
    )
}

/// `POST`: one object or a uniform array (`columns=` lifts the uniformity
/// rule: missing keys are null, or the column default with
/// `missing=default`); `resolution=` upserts on the primary key or
/// `on_conflict=`.
fn insert_sql(ctx: &Ctx, body: &Bytes) -> Result<Option<Sql>, Pgrst> {
    let objects = body_objects(body)?;
    let table = &ctx.table;
    let cols: Vec<String> = match &ctx.query.columns {
        Some(cols) => cols.clone(),
        None => {
            let first: Vec<String> = objects
                .first()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            if objects
                .iter()
                .any(|o| o.len() != first.len() || first.iter().any(|k| !o.contains_key(k)))
            {
                return Err(Pgrst::bad_body("All object keys must match"));
            }
            first
        }
    };
    check_columns(table, &cols)?;
    if objects.is_empty() || cols.is_empty() {
        return Ok(None);
    }
    let mut sql = Sql::default();
    let body_json = if body.trim_ascii_start().first() == Some(&b'[') {
        String::from_utf8_lossy(body).into_owned()
    } else {
        format!("[{}]", String::from_utf8_lossy(body))
    };
    let body_p = sql.param(&body_json);
    let qt = table.qualified();
    let col_list: Vec<String> = cols.iter().map(|c| quote_ident(c)).collect();
    let exprs: Vec<String> = cols
        .iter()
        .map(|c| {
            let qc = quote_ident(c);
            match table.column(c).and_then(|col| col.default.as_deref()) {
                Some(default) if ctx.prefer.missing_default => {
                    format!(
                        "CASE WHEN pgrst_e.j ? {} THEN pgrst_v.{qc} ELSE {default} END",
                        sql.param(c)
                    )
                }
                _ => format!("pgrst_v.{qc}"),
            }
        })
        .collect();
    let target = match &ctx.query.on_conflict {
        Some(cols) => {
            check_columns(table, cols)?;
            cols.clone()
        }
        None => table.pk().iter().map(|s| (*s).to_owned()).collect(),
    };
    let target_sql = if target.is_empty() {
        String::new()
    } else {
        format!(
            "({})",
            target
                .iter()
                .map(|c| quote_ident(c))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let conflict = match ctx.prefer.resolution {
        None => String::new(),
        Some(Resolution::Ignore) => format!(" ON CONFLICT {target_sql} DO NOTHING"),
        Some(Resolution::Merge) if target.is_empty() => {
            return Err(Pgrst::new(
                StatusCode::BAD_REQUEST,
                "PGRST100",
                "merge-duplicates needs a primary key or on_conflict",
            ))
        }
        Some(Resolution::Merge) => format!(
            " ON CONFLICT {target_sql} DO UPDATE SET {}",
            col_list
                .iter()
                .map(|c| format!("{c} = EXCLUDED.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    sql.text = format!(
        "WITH pgrst_src AS (INSERT INTO {qt} AS pgrst_t ({}) SELECT {} FROM jsonb_array_elements({body_p}::jsonb) AS pgrst_e(j), LATERAL jsonb_populate_record(NULL::{qt}, pgrst_e.j) AS pgrst_v{conflict} RETURNING pgrst_t AS pgrst_row, (pgrst_t.xmax = 0) AS pgrst_ins){}",
        col_list.join(", "),
        exprs.join(", "),
        write_tail(ctx, true)
    );
    Ok(Some(sql))
}

/// `PATCH ?filters`: the object's keys set on every row the filters (and
/// RLS) let through.
fn update_sql(ctx: &Ctx, body: &Bytes) -> Result<Option<Sql>, Pgrst> {
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body) else {
        return Err(Pgrst::bad_body("Empty or invalid json"));
    };
    let keys: Vec<String> = obj.keys().cloned().collect();
    check_columns(&ctx.table, &keys)?;
    if keys.is_empty() {
        return Ok(None);
    }
    let qt = ctx.table.qualified();
    let mut sql = Sql::default();
    let body_p = sql.param(&Value::Object(obj).to_string());
    let sets: Vec<String> = keys
        .iter()
        .map(|k| format!("{0} = pgrst_v.{0}", quote_ident(k)))
        .collect();
    let filter = render_where(&ctx.query.conds, "pgrst_t.", &mut sql);
    sql.text = format!(
        "WITH pgrst_src AS (UPDATE {qt} AS pgrst_t SET {} FROM jsonb_populate_record(NULL::{qt}, {body_p}::jsonb) AS pgrst_v{filter} RETURNING pgrst_t AS pgrst_row){}",
        sets.join(", "),
        write_tail(ctx, false)
    );
    Ok(Some(sql))
}

/// `DELETE ?filters`.
fn delete_sql(ctx: &Ctx) -> Sql {
    let mut sql = Sql::default();
    let filter = render_where(&ctx.query.conds, "pgrst_t.", &mut sql);
    sql.text = format!(
        "WITH pgrst_src AS (DELETE FROM {} AS pgrst_t{filter} RETURNING pgrst_t AS pgrst_row){}",
        ctx.table.qualified(),
        write_tail(ctx, false)
    );
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(raw: &str) -> Query {
        parse_query(Some(raw)).unwrap()
    }

    #[test]
    fn ranges_intersect_and_cap() {
        let mut h = HeaderMap::new();
        assert_eq!(range(&q("limit=10&offset=5"), &h, 1000).unwrap(), (5, 10));
        assert_eq!(range(&q("limit=5000"), &h, 1000).unwrap(), (0, 1000));
        assert_eq!(range(&q(""), &h, 1000).unwrap(), (0, 1000));
        h.insert(header::RANGE, HeaderValue::from_static("20-29"));
        assert_eq!(range(&q(""), &h, 1000).unwrap(), (20, 10));
        assert_eq!(range(&q("limit=5"), &h, 1000).unwrap(), (20, 0), "disjoint");
        h.insert(header::RANGE, HeaderValue::from_static("items=0-9"));
        assert_eq!(
            range(&q(""), &h, 1000).unwrap(),
            (0, 1000),
            "malformed: ignored"
        );
        h.insert(header::RANGE, HeaderValue::from_static("9-3"));
        assert_eq!(range(&q(""), &h, 1000).unwrap_err().code, "PGRST103");
        assert_eq!(
            range(&q("limit=-1"), &HeaderMap::new(), 1000)
                .unwrap_err()
                .code,
            "PGRST103"
        );
    }

    #[test]
    fn content_ranges() {
        assert_eq!(content_range(0, 100, None), "0-99/*");
        assert_eq!(content_range(0, 0, None), "*/*");
        assert_eq!(content_range(10, 5, Some(57)), "10-14/57");
        assert_eq!(content_range(100, 0, Some(57)), "*/57");
    }

    #[test]
    fn prefer_parsing() {
        let mut h = HeaderMap::new();
        h.insert(
            "prefer",
            HeaderValue::from_static("return=representation, resolution=ignore-duplicates"),
        );
        h.append(
            "prefer",
            HeaderValue::from_static("count=planned,tx=commit"),
        );
        let p = prefer(&h);
        assert_eq!(p.ret, Return::Representation);
        assert_eq!(p.resolution, Some(Resolution::Ignore));
        assert!(p.count && !p.missing_default);
        assert_eq!(
            p.applied,
            [
                "return=representation",
                "resolution=ignore-duplicates",
                "count=planned"
            ]
        );
    }
}
