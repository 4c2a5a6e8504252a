//! The Supabase fake (`synchost-fake supabase`): PostgREST's table API
//! (`/rest/v1/…`, the subset of `api-contracts.md` §3 the plugin uses) in
//! front of a REAL PostgreSQL, so timestamps, transactions, unique
//! violations and row-level security are Postgres's own (see
//! `docs/fake-supabase-api.md`).
//!
//! - [`postgres`]: the throwaway server; [`pool`]: connections and text
//!   parameters; [`schema`]: the schema cache, roles and seeded tables;
//! - [`query`]: the query grammar → SQL; [`rest`]: the table routes;
//!   [`openapi`]: the OpenAPI root; [`jwt`]: keys and token checks;
//!   [`errors`]: PostgREST's error bodies; [`control`]: `/_control/*`.
//!
//! Every request runs in one transaction with `role` and
//! `request.jwt.claims` set the way PostgREST sets them, so Postgres
//! enforces RLS.

pub mod control;
pub mod errors;
pub mod jwt;
pub mod openapi;
pub mod pool;
pub mod postgres;
pub mod query;
pub mod rest;
pub mod schema;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use axum::http::{header, HeaderMap, Method};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use super::common::{self, CommonArgs};
use errors::Pgrst;
use schema::{SchemaCache, TableSpec};

/// Stats counters, in the order `/_control/stats` shows them.
pub const COUNTERS: &[&str] = &["select", "insert", "update", "delete", "openapi"];

/// `synchost-fake supabase`.
#[derive(clap::Args, Debug, Clone)]
pub struct SupabaseArgs {
    /// Use this PostgreSQL (libpq connection string or URL, a role that may
    /// create roles and tables) instead of starting a throwaway one. The
    /// seeded tables are dropped and created again there.
    #[arg(long)]
    pub pg: Option<String>,
    /// A seeded table, `[SCHEMA.]NAME:ROWS` (repeatable; schema `public`
    /// by default, other schemas are created and exposed).
    #[arg(long = "table", value_name = "[SCHEMA.]NAME:ROWS", value_parser = TableSpec::parse)]
    pub tables: Vec<TableSpec>,
    /// HS256 secret of the API keys and of the tokens accepted.
    #[arg(long, default_value = jwt::DEFAULT_SECRET)]
    pub jwt_secret: String,
    /// PostgREST's `db-max-rows`: the most rows one answer holds.
    #[arg(long, default_value_t = 1000)]
    pub max_rows: u64,
    /// Seed of the rows and of the changes `/_control/mutate` makes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Database connections serving requests at once.
    #[arg(long, default_value_t = 8)]
    pub pool: usize,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// The fake's state.
pub struct Store {
    pub pool: pool::Pool,
    pub secret: String,
    pub anon_key: String,
    pub service_key: String,
    pub max_rows: i64,
    pub seed: u64,
    /// Exposed schemas; the first is the default profile.
    pub schemas: Vec<String>,
    pub tables: Vec<TableSpec>,
    pub cache: RwLock<SchemaCache>,
    /// Rows created by `/_control/mutate` and `late_commit` so far.
    pub created: AtomicU64,
    pub late: Mutex<Vec<control::Late>>,
    /// `GET /_control/pg`.
    pub pg_info: Value,
}

impl Store {
    pub fn cache(&self) -> std::sync::RwLockReadGuard<'_, SchemaCache> {
        self.cache.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Who a request runs as.
#[derive(Debug, Clone)]
pub struct Auth {
    pub role: String,
    /// The claims as JSON text, for `request.jwt.claims`.
    pub claims: String,
}

impl Auth {
    pub fn anon(&self) -> bool {
        self.role == schema::ANON
    }
}

/// The gateway's `apikey` check, then PostgREST's JWT check of the bearer
/// (the apikey itself when there is no `Authorization`).
#[allow(clippy::result_large_err)]
pub fn authenticate(store: &Store, headers: &HeaderMap) -> Result<Auth, Response> {
    use axum::response::IntoResponse as _;

    let Some(apikey) = headers.get("apikey").and_then(|v| v.to_str().ok()) else {
        return Err(errors::no_api_key());
    };
    if apikey != store.anon_key && apikey != store.service_key {
        return Err(errors::invalid_api_key());
    }
    let token = match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        None => apikey,
        Some(v) => match v.trim().split_once(' ') {
            Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim(),
            _ if v.trim().eq_ignore_ascii_case("bearer") => "",
            _ => apikey,
        },
    };
    let now = chrono::Utc::now().timestamp();
    let claims = jwt::verify(token, &store.secret, now).map_err(|e| {
        let mut err = Pgrst::new(axum::http::StatusCode::UNAUTHORIZED, e.code, &e.message);
        err.www_authenticate = Some(format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\"",
            e.message
        ));
        err.into_response()
    })?;
    let role = claims
        .get("role")
        .and_then(Value::as_str)
        .unwrap_or(schema::ANON)
        .to_owned();
    Ok(Auth {
        role,
        claims: Value::Object(claims).to_string(),
    })
}

fn classify(method: &Method, path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix("/rest/v1")?;
    if rest.trim_matches('/').is_empty() {
        return Some("openapi");
    }
    Some(match *method {
        Method::POST => "insert",
        Method::PATCH => "update",
        Method::DELETE => "delete",
        _ => "select",
    })
}

fn invalid(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, msg.into())
}

/// Runs the Supabase fake until killed (SIGTERM/SIGINT: it stops its
/// PostgreSQL and removes it first).
pub async fn run(args: SupabaseArgs) -> std::io::Result<()> {
    if args.common.token.is_some() {
        return Err(invalid(
            "--token is not used by the supabase fake: it checks `apikey` and HS256 JWTs (--jwt-secret)",
        ));
    }
    if args.max_rows == 0 || args.pool == 0 || args.jwt_secret.is_empty() {
        return Err(invalid(
            "--max-rows and --pool must be positive, --jwt-secret not empty",
        ));
    }
    let mut schemas = vec!["public".to_owned()];
    for t in &args.tables {
        if !schemas.contains(&t.schema) {
            schemas.push(t.schema.clone());
        }
    }
    let throwaway = match &args.pg {
        Some(_) => None,
        None => Some(postgres::Throwaway::start().await?),
    };
    let (conninfo, pg_info) = match (&args.pg, &throwaway) {
        (Some(url), _) => (
            url.clone(),
            json!({"url": url, "dir": null, "pid": null, "port": null, "user": null}),
        ),
        (None, Some(t)) => (
            t.conninfo(),
            json!({"url": t.conninfo(), "dir": t.dir(), "pid": t.pid(), "port": t.port, "user": t.user}),
        ),
        (None, None) => unreachable!("started above"),
    };
    let pool = pool::Pool::new(conninfo, args.pool);
    let io = |e: tokio_postgres::Error| std::io::Error::other(format!("PostgreSQL: {e}"));
    {
        let mut admin = pool.get().await.map_err(io)?;
        schema::setup(&mut admin, &args.tables, args.seed)
            .await
            .map_err(io)?;
    }
    let cache = schema::load(&*pool.get().await.map_err(io)?, &schemas)
        .await
        .map_err(io)?;
    let store = Arc::new(Store {
        anon_key: jwt::api_key(schema::ANON, &args.jwt_secret),
        service_key: jwt::api_key(schema::SERVICE_ROLE, &args.jwt_secret),
        secret: args.jwt_secret,
        pool,
        max_rows: i64::try_from(args.max_rows).unwrap_or(i64::MAX),
        seed: args.seed,
        schemas,
        tables: args.tables,
        cache: RwLock::new(cache),
        created: AtomicU64::new(0),
        late: Mutex::new(Vec::new()),
        pg_info,
    });
    let keys = [
        format!("anon key: {}", store.anon_key),
        format!("service_role key: {}", store.service_key),
    ];
    let common =
        common::Common::with_flavor(args.common.faults(), COUNTERS, classify, errors::flavor());
    let app = common::router(common, api(store));

    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let result = tokio::select! {
        r = common::serve_with(app, &args.common, &keys) => r,
        _ = term.recv() => Ok(()),
        _ = int.recv() => Ok(()),
    };
    drop(throwaway);
    result
}

fn api(store: Arc<Store>) -> Router {
    Router::new()
        .route("/rest/v1/", get(openapi::root))
        .route("/rest/v1", get(openapi::root))
        .route(
            "/rest/v1/{table}",
            get(rest::read)
                .post(rest::write)
                .patch(rest::write)
                .delete(rest::write),
        )
        .route("/_control/items", get(control::items))
        .route("/_control/mutate", post(control::mutate))
        .route("/_control/jwt", post(control::jwt))
        .route("/_control/pg", get(control::pg))
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
        .with_state(store)
}
