//! The Supabase fake's control API (besides the shared stats, faults and
//! requests):
//!
//! - `GET /_control/items`: every row of every `--table`, ordered by
//!   (table, id): `{"stream": TABLE, "id", "version", "sha256"}` with
//!   `version` = `updated_at` as PostgREST renders it (Postgres `to_json`,
//!   e.g. `2026-01-01T00:00:01.234567+00:00`) and `sha256` (hex) of the
//!   row's JSON text `row_to_json(row)::text`, byte for byte what an element
//!   of a `select=*` answer holds. Uncommitted rows are not listed.
//! - `POST /_control/mutate`, every key optional, applied in this order as
//!   the superuser (past RLS), each step its own transaction:
//!   `{"sql": "…"}` runs statements (then the schema cache is reloaded);
//!   `{"table": T, "update": U, "soft_delete": S, "delete": D, "create": C}`
//!   on table T (default: the first `--table`, `schema.name` for other
//!   schemas) changes U rows' body, sets `done = true` on S open rows,
//!   deletes D rows and inserts C new rows, all in ONE transaction (so they
//!   share one `updated_at`); rows are picked deterministically from the
//!   seed, no row by two steps;
//!   `{"late_commit": {"table": T, "rows": N, "hold_ms": MS}}` opens a
//!   transaction on a connection of its own, inserts N rows (their
//!   `updated_at` is that transaction's start) and answers AT ONCE; the
//!   transaction commits after MS milliseconds, or earlier on
//!   `{"release_late": true}`, which commits every held transaction and
//!   answers once they are committed.
//!   Answer: `{"updated": [ids], "soft_deleted": [ids], "deleted": [ids],
//!   "created": [ids], "rows": [[text…]…] (of the last `sql` statement),
//!   "late_commit": {"id": K, "table": T, "ids": [ids], "updated_at": TS},
//!   "released": [K…]}`, keys present when asked for.
//! - `POST /_control/jwt` with claims → `{"token": JWT}` signed with the
//!   secret (e.g. `{"role": "authenticated", "sub": "…"}` for a user).
//! - `GET /_control/pg`: `{"url", "dir", "pid", "port", "user"}` of the
//!   PostgreSQL in use (dir and pid null with `--pg`).

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_postgres::SimpleQueryMessage;

use super::pool::{connect, refs, TextParam};
use super::schema::{self, insert_rows, TableSpec};
use super::{jwt, Store};
use crate::fake::common::{bad_request, json_body};
use crate::fake::words::WORDS;

/// Generated rows of `mutate` and `late_commit` are numbered from here, so
/// they never collide with seeded rows.
const CREATED_BASE: u64 = 1 << 40;

/// A transaction held open by `late_commit`.
pub struct Late {
    pub id: u64,
    release: oneshot::Sender<()>,
    done: JoinHandle<()>,
}

fn server_error(e: impl std::fmt::Display) -> Response {
    crate::fake::common::error(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "postgres",
        e.to_string(),
    )
}

/// `GET /_control/items`.
pub async fn items(State(store): State<Arc<Store>>) -> Response {
    let conn = match store.pool.get().await {
        Ok(c) => c,
        Err(e) => return server_error(e),
    };
    let mut all = Vec::new();
    for t in &store.tables {
        let sql = format!(
            "SELECT id::text, to_json(updated_at) #>> '{{}}',
                    encode(sha256(convert_to(row_to_json(t)::text, 'UTF8')), 'hex')
             FROM {} t ORDER BY id",
            t.qualified()
        );
        match conn.query(&sql, &[]).await {
            Ok(rows) => all.extend(rows.iter().map(|r| {
                json!({"stream": t.name, "id": r.get::<_, String>(0), "version": r.get::<_, String>(1), "sha256": r.get::<_, String>(2)})
            })),
            Err(e) => return server_error(e),
        }
    }
    Json(Value::Array(all)).into_response()
}

/// `GET /_control/pg`.
pub async fn pg(State(store): State<Arc<Store>>) -> Json<Value> {
    Json(store.pg_info.clone())
}

/// `POST /_control/jwt`.
pub async fn jwt(State(store): State<Arc<Store>>, body: Bytes) -> Response {
    match json_body(&body) {
        Ok(claims @ Value::Object(_)) => {
            Json(json!({"token": jwt::sign(&claims, &store.secret)})).into_response()
        }
        Ok(_) => bad_request("the body must be a JSON object of claims"),
        Err(e) => bad_request(e),
    }
}

fn table_of(store: &Store, body: &Map<String, Value>) -> Result<TableSpec, String> {
    match body.get("table") {
        None => store
            .tables
            .first()
            .cloned()
            .ok_or_else(|| "no --table to change".to_owned()),
        Some(Value::String(name)) => store
            .tables
            .iter()
            .find(|t| t.name == *name || format!("{}.{}", t.schema, t.name) == *name)
            .cloned()
            .ok_or_else(|| format!("unknown table {name:?}")),
        Some(_) => Err("table must be a string".to_owned()),
    }
}

fn count(body: &Map<String, Value>, key: &str) -> Result<u64, String> {
    match body.get(key) {
        None => Ok(0),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| format!("{key} must be a non-negative integer")),
    }
}

/// Ids of `$2` rows of `t` matching `filter` and not among the
/// comma-separated ids `$3`, picked by a hash of the salt `$1`.
fn pick_sql(t: &TableSpec, filter: &str) -> String {
    format!(
        "SELECT id FROM {} WHERE {filter} AND id::text <> ALL (string_to_array($3, ','))
         ORDER BY md5(id::text || $1) LIMIT $2",
        t.qualified()
    )
}

/// The next `n` numbers of created rows.
fn next_numbers(store: &Store, n: u64) -> std::ops::Range<u64> {
    let start = store.created.fetch_add(n, Ordering::Relaxed);
    CREATED_BASE + start..CREATED_BASE + start + n
}

async fn changes(
    store: &Store,
    t: &TableSpec,
    body: &Map<String, Value>,
    out: &mut Map<String, Value>,
) -> Result<(), String> {
    let (update, soft, delete, create) = (
        count(body, "update")?,
        count(body, "soft_delete")?,
        count(body, "delete")?,
        count(body, "create")?,
    );
    if update + soft + delete + create == 0 {
        return Ok(());
    }
    let mut conn = store.pool.get().await.map_err(|e| e.to_string())?;
    let tx = conn.transaction().await.map_err(|e| e.to_string())?;
    let salt = format!("{}:{}", store.seed, store.created.load(Ordering::Relaxed));
    let word = WORDS[(crate::fake::words::mix64(store.seed ^ store.created.load(Ordering::Relaxed))
        % WORDS.len() as u64) as usize];
    let qt = t.qualified();
    let steps = [
        (
            "updated",
            update,
            format!(
                "UPDATE {qt} SET body = body || ' ' || $4 WHERE id IN ({}) RETURNING id::text",
                pick_sql(t, "true")
            ),
            Some(word),
        ),
        (
            "soft_deleted",
            soft,
            format!(
                "UPDATE {qt} SET done = true WHERE id IN ({}) RETURNING id::text",
                pick_sql(t, "done = false")
            ),
            None,
        ),
        (
            "deleted",
            delete,
            format!(
                "DELETE FROM {qt} WHERE id IN ({}) RETURNING id::text",
                pick_sql(t, "true")
            ),
            None,
        ),
    ];
    // Each step picks other rows than the steps before it.
    let mut touched: Vec<String> = Vec::new();
    for (key, n, sql, extra) in steps {
        if n == 0 {
            continue;
        }
        let mut params = vec![
            TextParam(format!("{salt}:{key}")),
            TextParam(n.to_string()),
            TextParam(touched.join(",")),
        ];
        params.extend(extra.map(|w| TextParam(w.to_owned())));
        let rows = tx
            .query(&sql, &refs(&params))
            .await
            .map_err(|e| e.to_string())?;
        let mut ids: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        ids.sort();
        touched.extend(ids.iter().cloned());
        out.insert(key.into(), ids.into());
    }
    if create > 0 {
        let ids = insert_rows(&tx, t, store.seed, next_numbers(store, create), false)
            .await
            .map_err(|e| e.to_string())?;
        out.insert("created".into(), ids.into());
    }
    tx.commit().await.map_err(|e| e.to_string())
}

async fn run_sql(store: &Store, sql: &str, out: &mut Map<String, Value>) -> Result<(), String> {
    let conn = store.pool.get().await.map_err(|e| e.to_string())?;
    let messages = conn.simple_query(sql).await.map_err(|e| e.to_string())?;
    let mut rows: Vec<Value> = Vec::new();
    for m in messages {
        match m {
            SimpleQueryMessage::RowDescription(_) => rows.clear(),
            SimpleQueryMessage::Row(r) => {
                rows.push((0..r.len()).map(|i| r.get(i).map(str::to_owned)).collect())
            }
            _ => {}
        }
    }
    out.insert("rows".into(), rows.into());
    let cache = schema::load(&conn, &store.schemas)
        .await
        .map_err(|e| e.to_string())?;
    *store.cache.write().unwrap_or_else(PoisonError::into_inner) = cache;
    Ok(())
}

async fn late_commit(store: &Store, spec: &Value) -> Result<Value, String> {
    let obj = spec.as_object().ok_or("late_commit must be an object")?;
    let t = table_of(store, obj)?;
    let rows = count(obj, "rows")?.max(1);
    let hold_ms = count(obj, "hold_ms")?;
    let client = connect(store.pool.conninfo())
        .await
        .map_err(|e| e.to_string())?;
    client
        .batch_execute("BEGIN")
        .await
        .map_err(|e| e.to_string())?;
    let numbers = next_numbers(store, rows);
    // Unique: the first number of its rows.
    let id = numbers.start - CREATED_BASE;
    let ids = insert_rows(&client, &t, store.seed, numbers, false)
        .await
        .map_err(|e| e.to_string())?;
    let started: String = client
        .query_one("SELECT to_json(now()) #>> '{}'", &[])
        .await
        .map_err(|e| e.to_string())?
        .get(0);
    let (release, released) = oneshot::channel();
    let done = tokio::spawn(async move {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(hold_ms)) => {}
            _ = released => {}
        }
        if let Err(e) = client.batch_execute("COMMIT").await {
            eprintln!("synchost-fake supabase: late commit failed: {e}");
        }
    });
    {
        let mut late = store.late.lock().unwrap_or_else(PoisonError::into_inner);
        late.retain(|l| !l.done.is_finished());
        late.push(Late { id, release, done });
    }
    Ok(json!({"id": id, "table": t.name, "ids": ids, "updated_at": started}))
}

async fn release_late(store: &Store) -> Value {
    let held: Vec<Late> =
        std::mem::take(&mut *store.late.lock().unwrap_or_else(PoisonError::into_inner));
    let mut ids = Vec::new();
    for l in held {
        let _ = l.release.send(());
        let _ = l.done.await;
        ids.push(l.id);
    }
    ids.into()
}

/// `POST /_control/mutate` (see the module docs).
pub async fn mutate(State(store): State<Arc<Store>>, body: Bytes) -> Response {
    let body = match json_body(&body) {
        Ok(Value::Object(o)) => o,
        Ok(_) => return bad_request("the body must be a JSON object"),
        Err(e) => return bad_request(e),
    };
    const KEYS: [&str; 8] = [
        "sql",
        "table",
        "update",
        "soft_delete",
        "delete",
        "create",
        "late_commit",
        "release_late",
    ];
    if let Some(k) = body.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return bad_request(format!("unknown field {k:?}"));
    }
    let mut out = Map::new();
    if let Some(sql) = body.get("sql") {
        let Some(sql) = sql.as_str() else {
            return bad_request("sql must be a string");
        };
        if let Err(e) = run_sql(&store, sql, &mut out).await {
            return bad_request(e);
        }
    }
    let has_changes = ["update", "soft_delete", "delete", "create"]
        .iter()
        .any(|k| body.contains_key(*k));
    if has_changes {
        let t = match table_of(&store, &body) {
            Ok(t) => t,
            Err(e) => return bad_request(e),
        };
        if let Err(e) = changes(&store, &t, &body, &mut out).await {
            return bad_request(e);
        }
    }
    if let Some(spec) = body.get("late_commit") {
        match late_commit(&store, spec).await {
            Ok(v) => {
                out.insert("late_commit".into(), v);
            }
            Err(e) => return bad_request(e),
        }
    }
    if body.get("release_late").and_then(Value::as_bool) == Some(true) {
        out.insert("released".into(), release_late(&store).await);
    }
    Json(Value::Object(out)).into_response()
}
