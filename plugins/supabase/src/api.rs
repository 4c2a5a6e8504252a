//! PostgREST as this plugin uses it (contracts §3): the requests it sends,
//! the filter grammar with its quoting, and PostgREST's errors as
//! [`Error`]s.
//!
//! Filter values are written two ways, as PostgREST parses them:
//! - a plain filter (`updated_at=gte.VALUE`, `id=eq.VALUE`) takes everything
//!   after the operator verbatim, so its value is never quoted (quotes would
//!   become part of the value);
//! - inside a logic tree (`or=(…)`) and an `in.(…)` list, values are
//!   double-quoted with `"` and `\` escaped by `\`, so that the reserved
//!   `,` `.` `:` `(` `)` of timestamps and keys are data.
//!
//! Every query value is then percent-encoded whole by the request builder
//! (`+` of `+00:00` as `%2B`, which would otherwise decode to a space).

use crate::config::Table;
use serde_json::Value;
use synchost_sdk::http::{encode, quote, Api, Request, Response};
use synchost_sdk::Error;

/// The largest page PostgREST serves on Supabase by default (`db-max-rows`).
pub const MAX_ROWS: u32 = 1000;

/// Bytes of `in.(…)` list, encoded, one read of rows by key may carry:
/// URLs stay well under the 8 KiB that proxies in front of PostgREST accept.
pub const MAX_IN_LIST_BYTES: usize = 6000;

/// `Prefer` of the writes: the changed rows come back.
const RETURN_ROWS: &str = "return=representation";

/// One project's REST API and the schema served from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rest {
    api: Api,
    /// `None` for `public`, PostgREST's default schema: no profile headers.
    profile: Option<String>,
}

/// The keyset position after a row: its change column value and its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct After<'a> {
    pub change: &'a str,
    pub key: &'a str,
}

/// What one page of a listing asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listing<'a> {
    /// The keyset position after the previous page's last row.
    pub after: Option<After<'a>>,
    /// A delta's lower bound of the change column (inclusive).
    pub from: Option<&'a str>,
    pub limit: u32,
    /// Only the columns a deletion check needs.
    pub ids_only: bool,
}

impl Rest {
    pub fn new(base_url: &str, schema: &str) -> Rest {
        Rest {
            api: Api::new(format!("{base_url}/rest/v1")).header("accept", "application/json"),
            profile: (schema != "public").then(|| schema.to_owned()),
        }
    }

    fn table_path(table: &str) -> String {
        format!("/{}", encode(table))
    }

    /// A read: `Accept-Profile` names the schema.
    fn read(&self, path: &str) -> Request {
        let request = self.api.get(path);
        match &self.profile {
            Some(schema) => request.header("accept-profile", schema),
            None => request,
        }
    }

    /// A write: `Content-Profile` names the schema; the changed rows come
    /// back (`return=representation`).
    fn write(&self, method: &str, table: &str, prefer: &str) -> Request {
        let request = self
            .api
            .request(method, &Self::table_path(table))
            .header("prefer", prefer);
        match &self.profile {
            Some(schema) => request.header("content-profile", schema),
            None => request,
        }
    }

    /// `GET /rest/v1/` as OpenAPI (Swagger 2.0): the tables and columns.
    pub fn openapi(&self) -> Request {
        self.read("/")
            .replace_header("accept", "application/openapi+json")
    }

    /// One page of `table`: `select=*` (ids only: key, change column,
    /// version and soft-delete columns), ordered by (change column, key),
    /// after the keyset position, from a delta's start, `limit` rows.
    pub fn list(&self, t: &Table, page: &Listing) -> Request {
        let select = if page.ids_only {
            let mut columns = vec![t.primary_key.as_str()];
            let more = [Some(t.change_column.as_str()), t.version_column.as_deref()];
            for column in more
                .into_iter()
                .chain([t.soft_delete_column.as_deref()])
                .flatten()
            {
                if !columns.contains(&column) {
                    columns.push(column);
                }
            }
            columns.join(",")
        } else {
            "*".to_owned()
        };
        let mut request = self
            .read(&Self::table_path(&t.name))
            .query("select", select)
            .query(
                "order",
                format!("{}.asc,{}.asc", t.change_column, t.primary_key),
            );
        // The lower bound is a plain filter PostgreSQL can start an index
        // range scan at: the keyset's change value once there is one (the
        // rows are in change order, so it is past a delta's start), else the
        // delta's start. The `or` alone is no index bound: each page would
        // scan every row before it, and a full pull would be quadratic.
        let lower = page.after.map(|after| after.change).or(page.from);
        if let Some(lower) = lower {
            request = request.query(&t.change_column, format!("gte.{lower}"));
        }
        if let Some(after) = page.after {
            request = request.query("or", keyset(t, after));
        }
        request.query("limit", page.limit.clamp(1, MAX_ROWS))
    }

    /// The rows of `table` whose key is one of `keys` (at most
    /// [`MAX_IN_LIST_BYTES`] of them: see [`in_list_chunks`]).
    pub fn rows(&self, t: &Table, keys: &[&str]) -> Request {
        self.read(&Self::table_path(&t.name))
            .query("select", "*")
            .query(&t.primary_key, in_list(keys))
    }

    /// `POST /rest/v1/T?columns=…` of a JSON array of rows with the same
    /// keys (one INSERT), rows whose key exists left alone
    /// (`resolution=ignore-duplicates`); the inserted rows come back.
    pub fn insert(&self, t: &Table, columns: &[String], body: Vec<u8>) -> Request {
        self.write(
            "POST",
            &t.name,
            &format!("{RETURN_ROWS},resolution=ignore-duplicates"),
        )
        .query("columns", columns.join(","))
        .header("content-type", "application/json")
        .body(body)
    }

    /// `PATCH` of row `key` while its version column is still `base`.
    pub fn update(&self, t: &Table, key: &str, base: &str, body: Vec<u8>) -> Request {
        conditional(self.write("PATCH", &t.name, RETURN_ROWS), t, key, base)
            .header("content-type", "application/json")
            .body(body)
    }

    /// `DELETE` of row `key` while its version column is still `base`.
    pub fn delete(&self, t: &Table, key: &str, base: &str) -> Request {
        conditional(self.write("DELETE", &t.name, RETURN_ROWS), t, key, base)
    }
}

/// `PK=eq.KEY&VER=eq.BASE` (plain filters: verbatim values).
fn conditional(request: Request, t: &Table, key: &str, base: &str) -> Request {
    request
        .query(&t.primary_key, format!("eq.{key}"))
        .query(t.version_column(), format!("eq.{base}"))
}

/// `(CHG.gt."TS",and(CHG.eq."TS",PK.gt."K"))`: the rows after `after` in
/// (change column, key) order.
pub fn keyset(t: &Table, after: After) -> String {
    let (chg, pk) = (&t.change_column, &t.primary_key);
    let ts = quote(after.change);
    format!(
        "({chg}.gt.{ts},and({chg}.eq.{ts},{pk}.gt.{}))",
        quote(after.key)
    )
}

/// `in.("a","b")`.
pub fn in_list(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| quote(v)).collect();
    format!("in.({})", quoted.join(","))
}

/// `values` cut into runs whose `in.(…)` lists stay within
/// [`MAX_IN_LIST_BYTES`] encoded (a value longer than that is alone).
pub fn in_list_chunks<'a>(values: &[&'a str]) -> Vec<Vec<&'a str>> {
    let mut chunks: Vec<Vec<&str>> = Vec::new();
    let mut size = 0;
    for &value in values {
        let cost = encode(&quote(value)).len() + 3;
        match chunks.last_mut() {
            Some(chunk) if size + cost <= MAX_IN_LIST_BYTES => chunk.push(value),
            _ => {
                chunks.push(vec![value]);
                size = 0;
            }
        }
        size += cost;
    }
    chunks
}

// ---------------------------------------------------------------- errors

/// PostgREST's error body: `{"code","message","details","hint"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PgError {
    pub code: Option<String>,
    pub message: Option<String>,
    pub details: Option<String>,
    pub hint: Option<String>,
}

/// Characters of each error field a message quotes.
const FIELD_CHARS: usize = 300;

impl PgError {
    /// The error in `body`; empty when it is no PostgREST error.
    pub fn parse(body: &[u8]) -> PgError {
        let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(body) else {
            return PgError::default();
        };
        let field = |name: &str| {
            o.get(name)
                .and_then(Value::as_str)
                .map(|s| s.chars().take(FIELD_CHARS).collect::<String>())
                .filter(|s| !s.trim().is_empty())
        };
        PgError {
            code: field("code"),
            message: field("message"),
            details: field("details"),
            hint: field("hint"),
        }
    }

    /// `message (code C; details; hint: …)`.
    fn text(&self) -> String {
        let mut text = self
            .message
            .clone()
            .unwrap_or_else(|| "(no message)".into());
        let mut extra = Vec::new();
        if let Some(code) = &self.code {
            extra.push(format!("code {code}"));
        }
        extra.extend(self.details.clone());
        if let Some(hint) = &self.hint {
            extra.push(format!("hint: {hint}"));
        }
        if !extra.is_empty() {
            text = format!("{text} ({})", extra.join("; "));
        }
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// PostgreSQL's "insufficient privilege": row-level security refused a
/// row, or the role has no grant (401 for the anon role, 403 otherwise).
pub const RLS: &str = "42501";

/// The PostgREST code of an error response, if any.
pub fn code(response: &Response) -> Option<String> {
    (response.status >= 400)
        .then(|| PgError::parse(&response.body).code)
        .flatten()
}

/// `Ok(response)` below 400; otherwise the error PostgREST's answer means.
/// `what` names the request, `table` and `schema` the table it is about.
///
/// | answer                                   | [`Error`]                       |
/// |------------------------------------------|---------------------------------|
/// | `42P01`, `PGRST205` (no such table)      | `InvalidConfig` naming it       |
/// | `42703` (no such column)                 | `InvalidConfig`                 |
/// | `PGRST204` (a body column the table lacks) | `Unsupported`                 |
/// | `PGRST103`, 416 (range)                  | `InvalidResponse`               |
/// | `42501` (RLS), `PGRST301/302/303`, 401, 403 | `Auth`                       |
/// | `23505` (unique), other 409              | `Conflict`                      |
/// | 429, 503 with `Retry-After`              | `RateLimited`                   |
/// | 408, 5xx                                 | `Transient`                     |
/// | 404                                      | `NotFound`                      |
/// | other                                    | `Fatal`                         |
pub fn check(response: Response, what: &str, table: &str, schema: &str) -> Result<Response, Error> {
    let status = response.status;
    if status < 400 {
        return Ok(response);
    }
    if let Some(Error::RateLimited(seconds)) = response.status_error() {
        return Err(Error::RateLimited(seconds));
    }
    let pg = PgError::parse(&response.body);
    let text = format!("{what}: PostgREST answered HTTP {status}: {}", pg.text());
    Err(match (pg.code.as_deref().unwrap_or(""), status) {
        ("42P01" | "PGRST205", _) => Error::invalid_config(format!(
            "table \"{table}\" does not exist in schema {schema} ({text})"
        )),
        ("42703", _) => Error::invalid_config(format!(
            "a configured column of table \"{table}\" does not exist ({text})"
        )),
        ("PGRST204", _) => Error::unsupported(text),
        ("PGRST103", _) | (_, 416) => Error::invalid_response(text),
        (RLS, _) => Error::auth(format!(
            "row-level security or a missing grant refused it: {text}"
        )),
        ("PGRST301" | "PGRST302" | "PGRST303", _) | (_, 401 | 403) => Error::auth(text),
        ("23505", _) | (_, 409) => Error::conflict(text),
        (_, 408 | 500..=599) => Error::transient(text),
        (_, 404) => Error::not_found(text),
        _ => Error::fatal(text),
    })
}

/// `METHOD url`, for messages.
pub fn what(request: &Request) -> String {
    format!("{} {}", request.method(), request.url())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use synchost_sdk::Settings;

    pub fn table(pairs: &[(&str, &str)]) -> Table {
        let mut all = vec![("base_url", "https://abc.supabase.co"), ("tables", "notes")];
        all.extend_from_slice(pairs);
        Config::from_settings(&all.into_iter().collect::<Settings>())
            .unwrap()
            .table("notes")
    }

    const API: &str = "https://abc.supabase.co/rest/v1";

    #[test]
    fn in_lists_quote_each_value() {
        assert_eq!(in_list(&["a", "b,c"]), r#"in.("a","b,c")"#);
    }

    #[test]
    fn listing_requests() {
        let rest = Rest::new("https://abc.supabase.co", "public");
        let t = table(&[]);
        let first = rest.list(
            &t,
            &Listing {
                after: None,
                from: None,
                limit: 100,
                ids_only: false,
            },
        );
        assert_eq!(first.method(), "GET");
        assert_eq!(
            first.url(),
            format!("{API}/notes?select=%2A&order=updated_at.asc%2Cid.asc&limit=100")
        );
        assert_eq!(first.header_value("accept"), Some("application/json"));
        assert_eq!(first.header_value("accept-profile"), None);
        // A later page of a delta: the keyset in a logic tree (quoted), its
        // change value as a plain lower bound (verbatim), `+` encoded.
        let ts = "2026-11-30T03:43:04.1234+00:00";
        let next = rest.list(
            &t,
            &Listing {
                after: Some(After {
                    change: ts,
                    key: "7f3c\"x",
                }),
                from: Some("2026-11-30T03:38:04.123400Z"),
                limit: 5000,
                ids_only: false,
            },
        );
        let tree = format!(r#"(updated_at.gt."{ts}",and(updated_at.eq."{ts}",id.gt."7f3c\"x"))"#);
        assert_eq!(
            next.url(),
            format!(
                "{API}/notes?select=%2A&order=updated_at.asc%2Cid.asc\
                 &updated_at=gte.{}&or={}&limit=1000",
                encode(ts),
                encode(&tree)
            )
        );
        assert!(next.url().contains("%2B00%3A00"), "{}", next.url());
        assert!(!next.url().contains('+'));
        // Ids only: the columns a deletion check needs, nothing twice.
        let t = table(&[("version_column", "rev"), ("soft_delete_column", "deleted")]);
        let ids = rest.list(
            &t,
            &Listing {
                after: None,
                from: None,
                limit: 0,
                ids_only: true,
            },
        );
        assert!(
            ids.url().starts_with(&format!(
                "{API}/notes?select=id%2Cupdated_at%2Crev%2Cdeleted&"
            )),
            "{}",
            ids.url()
        );
        assert!(ids.url().ends_with("&limit=1"));
    }

    #[test]
    fn other_schemas_name_themselves_in_profile_headers() {
        let rest = Rest::new("https://abc.supabase.co", "crm");
        let t = table(&[]);
        let read = rest.rows(&t, &["1", "2"]);
        assert_eq!(read.header_value("accept-profile"), Some("crm"));
        assert_eq!(read.header_value("content-profile"), None);
        assert_eq!(
            read.url(),
            format!("{API}/notes?select=%2A&id=in.%28%221%22%2C%222%22%29")
        );
        let write = rest.delete(&t, "1", "v");
        assert_eq!(write.header_value("content-profile"), Some("crm"));
        assert_eq!(write.header_value("accept-profile"), None);
        let root = rest.openapi();
        assert_eq!(root.url(), format!("{API}/"));
        assert_eq!(
            root.header_value("accept"),
            Some("application/openapi+json")
        );
        assert_eq!(root.header_value("accept-profile"), Some("crm"));
    }

    #[test]
    fn write_requests() {
        let rest = Rest::new("https://abc.supabase.co", "public");
        let t = table(&[("version_column", "rev")]);
        let insert = rest.insert(&t, &["id".into(), "title".into()], b"[]".to_vec());
        assert_eq!(insert.method(), "POST");
        assert_eq!(insert.url(), format!("{API}/notes?columns=id%2Ctitle"));
        assert_eq!(
            insert.header_value("prefer"),
            Some("return=representation,resolution=ignore-duplicates")
        );
        assert_eq!(
            insert.header_value("content-type"),
            Some("application/json")
        );
        let base = "2026-11-30T03:43:04+00:00";
        let update = rest.update(&t, "k 1", base, b"{}".to_vec());
        assert_eq!(update.method(), "PATCH");
        assert_eq!(
            update.url(),
            format!("{API}/notes?id=eq.k%201&rev=eq.2026-11-30T03%3A43%3A04%2B00%3A00")
        );
        assert_eq!(update.header_value("prefer"), Some("return=representation"));
        assert_eq!(update.body_bytes(), Some(&b"{}"[..]));
        let delete = rest.delete(&table(&[]), "k", "7");
        assert_eq!(delete.method(), "DELETE");
        assert_eq!(delete.url(), format!("{API}/notes?id=eq.k&updated_at=eq.7"));
        assert_eq!(delete.body_bytes(), None);
    }

    #[test]
    fn in_lists_are_cut_to_fit_a_url() {
        let ids: Vec<String> = (0..1000)
            .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
            .collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let chunks = in_list_chunks(&refs);
        assert!(chunks.len() > 1);
        assert_eq!(chunks.concat(), refs, "every id once, in order");
        for chunk in &chunks {
            assert!(encode(&in_list(chunk)).len() <= MAX_IN_LIST_BYTES + 10);
        }
        let long = "x".repeat(MAX_IN_LIST_BYTES * 2);
        assert_eq!(in_list_chunks(&["a", &long, "b"]).len(), 3);
        assert!(in_list_chunks(&[]).is_empty());
    }

    fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response::new(
            status,
            headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body,
        )
    }

    fn err(status: u16, body: &str) -> Error {
        check(resp(status, &[], body), "GET /x", "notes", "public").unwrap_err()
    }

    /// Error bodies as PostgREST sends them (contracts §3.5, §3.6).
    #[test]
    fn errors_are_postgrests() {
        assert!(check(resp(200, &[], "[]"), "x", "notes", "public").is_ok());
        let missing = err(
            404,
            r#"{"code":"PGRST205","details":null,"hint":"Perhaps you meant the table 'public.notes'","message":"Could not find the table 'public.note' in the schema cache"}"#,
        );
        assert!(
            matches!(&missing, Error::InvalidConfig(m) if m.starts_with("table \"notes\" does not exist in schema public") && m.contains("Perhaps you meant")),
            "{missing:?}"
        );
        let old = err(
            404,
            r#"{"code":"42P01","details":null,"hint":null,"message":"relation \"public.notes\" does not exist"}"#,
        );
        assert!(matches!(old, Error::InvalidConfig(_)));
        let column = err(
            400,
            r#"{"code":"42703","details":null,"hint":null,"message":"column notes.updated does not exist"}"#,
        );
        assert!(
            matches!(&column, Error::InvalidConfig(m) if m.contains("notes.updated")),
            "{column:?}"
        );
        assert!(matches!(
            err(400, r#"{"code":"PGRST204","details":null,"hint":null,"message":"Could not find the 'colour' column of 'notes' in the schema cache"}"#),
            Error::Unsupported(m) if m.contains("colour")
        ));
        assert!(matches!(
            err(416, r#"{"code":"PGRST103","message":"Requested range not satisfiable","details":"An offset of 1000 was requested, but there are only 3 rows.","hint":null}"#),
            Error::InvalidResponse(m) if m.contains("only 3 rows")
        ));
        let rls = r#"{"code":"42501","details":null,"hint":null,"message":"new row violates row-level security policy for table \"notes\""}"#;
        for status in [401, 403] {
            assert!(
                matches!(err(status, rls), Error::Auth(m) if m.contains("row-level security")),
                "{status}"
            );
        }
        assert_eq!(code(&resp(401, &[], rls)).as_deref(), Some(RLS));
        assert_eq!(code(&resp(200, &[], rls)), None);
        let expired = err(
            401,
            r#"{"code":"PGRST303","details":null,"hint":null,"message":"JWT expired"}"#,
        );
        assert!(matches!(&expired, Error::Auth(m) if m.contains("JWT expired")));
        assert!(matches!(
            err(401, r#"{"message":"No API key found in request","hint":"No `apikey` request header or url param was found."}"#),
            Error::Auth(m) if m.contains("apikey")
        ));
        let unique = err(
            409,
            r#"{"code":"23505","details":"Key (id)=(42) already exists.","hint":null,"message":"duplicate key value violates unique constraint \"items_pkey\""}"#,
        );
        assert!(
            matches!(&unique, Error::Conflict(m) if m.contains("Key (id)=(42) already exists.") && m.contains("code 23505")),
            "{unique:?}"
        );
        assert!(matches!(
            err(
                503,
                r#"{"code":"PGRST001","details":null,"hint":null,"message":"Database client error. Retrying the connection."}"#
            ),
            Error::Transient(_)
        ));
        assert!(
            matches!(err(502, "<html>bad gateway</html>"), Error::Transient(m) if m.contains("(no message)"))
        );
        assert_eq!(
            check(resp(429, &[("retry-after", "7")], ""), "x", "t", "s").unwrap_err(),
            Error::RateLimited(7)
        );
        assert!(matches!(
            err(400, r#"{"code":"23502","details":null,"hint":null,"message":"null value in column \"title\" violates not-null constraint"}"#),
            Error::Fatal(m) if m.contains("not-null")
        ));
        // Hostile bodies: long fields are cut.
        let long = format!(r#"{{"code":"XX000","message":"{}"}}"#, "a".repeat(10_000));
        let Error::Fatal(m) = err(400, &long) else {
            panic!()
        };
        assert!(m.len() < 500, "{}", m.len());
    }
}
