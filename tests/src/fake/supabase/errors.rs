//! PostgREST's error bodies (`{"code","details","hint","message"}`,
//! contracts §3.5) and its SQLSTATE → HTTP mapping, as PostgREST v13+
//! answers (`PGRST205` for an unknown table, `PGRST303` for claim checks),
//! plus the Supabase gateway's own 401s and the [`Flavor`] of the shared
//! layer.

use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::fake::common::Flavor;

/// A PostgREST error answer (boxed: errors are rare, results small).
#[derive(Debug, Clone)]
pub struct Pgrst(Box<PgrstBody>);

/// The fields of a [`Pgrst`].
#[derive(Debug, Clone)]
pub struct PgrstBody {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub details: Option<String>,
    pub hint: Option<String>,
    /// `WWW-Authenticate` (401s only).
    pub www_authenticate: Option<String>,
}

impl std::ops::Deref for Pgrst {
    type Target = PgrstBody;
    fn deref(&self) -> &PgrstBody {
        &self.0
    }
}

impl std::ops::DerefMut for Pgrst {
    fn deref_mut(&mut self) -> &mut PgrstBody {
        &mut self.0
    }
}

impl Pgrst {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Pgrst(Box::new(PgrstBody {
            status,
            code: code.to_owned(),
            message: message.into(),
            details: None,
            hint: None,
            www_authenticate: None,
        }))
    }

    pub fn details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(details.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// PGRST100: a query string PostgREST cannot parse.
    pub fn bad_query(message: impl Into<String>, details: impl Into<String>) -> Self {
        Pgrst::new(StatusCode::BAD_REQUEST, "PGRST100", message).details(details)
    }

    /// PGRST102: a body that is not the JSON expected.
    pub fn bad_body(message: impl Into<String>) -> Self {
        Pgrst::new(StatusCode::BAD_REQUEST, "PGRST102", message)
    }

    /// PGRST103: 416 Requested range not satisfiable.
    pub fn range(details: impl Into<String>) -> Self {
        Pgrst::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "PGRST103",
            "Requested range not satisfiable",
        )
        .details(details)
    }

    /// PGRST205 (v13+): the table is not in the schema cache.
    pub fn no_table(schema: &str, table: &str) -> Self {
        Pgrst::new(
            StatusCode::NOT_FOUND,
            "PGRST205",
            format!("Could not find the table '{schema}.{table}' in the schema cache"),
        )
    }

    /// PGRST204: a `columns=` or body key that is no column of the table.
    pub fn no_column(column: &str, table: &str) -> Self {
        Pgrst::new(
            StatusCode::BAD_REQUEST,
            "PGRST204",
            format!("Could not find the '{column}' column of '{table}' in the schema cache"),
        )
    }

    /// A Postgres error raised while serving a request with role `role`.
    pub fn from_db(err: &tokio_postgres::Error, anon: bool) -> Self {
        let Some(db) = err.as_db_error() else {
            return Pgrst::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "PGRST001",
                "Database client error. Retrying the connection.",
            )
            .details(err.to_string());
        };
        let code = db.code().code();
        let status = status_of_sqlstate(code, anon);
        let mut e = Pgrst::new(status, code, db.message());
        e.details = db.detail().map(str::to_owned);
        e.hint = db.hint().map(str::to_owned);
        if status == StatusCode::UNAUTHORIZED {
            e.www_authenticate = Some("Bearer".to_owned());
        }
        e
    }

    pub fn body(&self) -> Value {
        json!({"code": self.code, "details": self.details, "hint": self.hint, "message": self.message})
    }
}

/// `mapSQLtoHTTP` of PostgREST for the classes a table API meets.
pub fn status_of_sqlstate(code: &str, anon: bool) -> StatusCode {
    match code {
        "23505" | "23503" => StatusCode::CONFLICT,
        "42501" if anon => StatusCode::UNAUTHORIZED,
        "42501" => StatusCode::FORBIDDEN,
        "42P01" | "42883" => StatusCode::NOT_FOUND,
        "25006" => StatusCode::METHOD_NOT_ALLOWED,
        "53400" => StatusCode::INTERNAL_SERVER_ERROR,
        "P0001" => StatusCode::BAD_REQUEST,
        "57014" => StatusCode::INTERNAL_SERVER_ERROR,
        c if c.starts_with("08") || c.starts_with("53") => StatusCode::SERVICE_UNAVAILABLE,
        c if c.starts_with("XX") || c.starts_with("58") || c.starts_with("F0") => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::BAD_REQUEST,
    }
}

impl IntoResponse for Pgrst {
    fn into_response(self) -> Response {
        let mut resp = (self.status, self.body().to_string()).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
        if let Ok(v) = HeaderValue::from_str(&format!("PostgREST; error={}", self.code)) {
            h.insert("proxy-status", v);
        }
        if let Some(v) = self
            .www_authenticate
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            h.insert(header::WWW_AUTHENTICATE, v);
        }
        resp
    }
}

/// PostgREST's JSON content type.
pub const JSON_UTF8: &str = "application/json; charset=utf-8";

/// The Supabase gateway's 401s (before PostgREST): `{"message", "hint"}`.
pub fn gateway_401(message: &str, hint: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8))],
        json!({"message": message, "hint": hint}).to_string(),
    )
        .into_response()
}

/// No `apikey` header.
pub fn no_api_key() -> Response {
    gateway_401(
        "No API key found in request",
        "No `apikey` request header or url param was found.",
    )
}

/// An `apikey` that is neither of the project's keys.
pub fn invalid_api_key() -> Response {
    gateway_401(
        "Invalid API key",
        "Double check your Supabase `anon` or `service_role` API key.",
    )
}

/// The shared layer's answers worded like Supabase: the gateway's 401 and
/// 429, PostgREST's 503 (`PGRST000`, the database unreachable) or a plain
/// gateway 500/502, PostgREST's `PGRST125` unknown path and `PGRST117`
/// unsupported method.
pub fn flavor() -> Flavor {
    Flavor {
        unauthorized: |_| invalid_api_key(),
        rate_limited: |_| {
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8))],
                r#"{"message":"API rate limit exceeded"}"#,
            )
                .into_response()
        },
        injected_failure: |_, status| {
            match status {
            StatusCode::SERVICE_UNAVAILABLE => Pgrst::new(
                status,
                "PGRST000",
                "Could not connect with the database due to an incorrect db-uri or due to the PostgreSQL service not running.",
            )
            .into_response(),
            _ => (
                status,
                [(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8))],
                json!({"message": "An invalid response was received from the upstream server"})
                    .to_string(),
            )
                .into_response(),
        }
        },
        not_found: |_: &Method, _: &str| {
            Pgrst::new(
                StatusCode::NOT_FOUND,
                "PGRST125",
                "Invalid path specified in request URL",
            )
            .into_response()
        },
        method_not_allowed: |method: &Method, _: &str| {
            Pgrst::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "PGRST117",
                format!("Unsupported HTTP method: {method}"),
            )
            .into_response()
        },
        ..Flavor::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstate_mapping_follows_postgrest() {
        assert_eq!(status_of_sqlstate("23505", false), StatusCode::CONFLICT);
        assert_eq!(status_of_sqlstate("42501", true), StatusCode::UNAUTHORIZED);
        assert_eq!(status_of_sqlstate("42501", false), StatusCode::FORBIDDEN);
        assert_eq!(status_of_sqlstate("42P01", false), StatusCode::NOT_FOUND);
        assert_eq!(status_of_sqlstate("22P02", false), StatusCode::BAD_REQUEST);
        assert_eq!(
            status_of_sqlstate("08006", false),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status_of_sqlstate("53400", false),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            status_of_sqlstate("53300", false),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status_of_sqlstate("25006", false),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
}
