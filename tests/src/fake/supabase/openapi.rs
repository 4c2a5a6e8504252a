//! `GET /rest/v1/`: PostgREST's OpenAPI root (Swagger 2.0) for the schema
//! of `Accept-Profile`: one path and one definition per table, properties
//! with `format` = the Postgres type (`format_type`) and `<pk/>` in the
//! primary key's description. Readable with the service_role key only, as
//! on Supabase projects that restrict schema introspection: any other role
//! gets PostgREST's privilege error (42501: 401 for anon, 403 otherwise).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::errors::Pgrst;
use super::schema::{Table, SERVICE_ROLE};
use super::{authenticate, Store};

/// Swagger's `type` of a Postgres type.
fn swagger_type(pg: &str) -> &'static str {
    match pg {
        "boolean" => "boolean",
        "smallint" | "integer" | "bigint" => "integer",
        "numeric" | "real" | "double precision" => "number",
        t if t.ends_with("[]") => "array",
        "json" | "jsonb" => "object",
        _ => "string",
    }
}

fn definition(table: &Table) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for c in &table.columns {
        let mut p = json!({"format": c.type_name, "type": swagger_type(&c.type_name)});
        if c.pk {
            p["description"] = "Note:\nThis is a Primary Key.<pk/>".into();
        }
        if let Some(d) = &c.default {
            p["default"] = d.clone().into();
        }
        if c.not_null && c.default.is_none() {
            required.push(c.name.clone());
        }
        props.insert(c.name.clone(), p);
    }
    json!({"required": required, "properties": props, "type": "object"})
}

fn document(host: &str, schema: &str, tables: &[&Table]) -> Value {
    let mut paths = Map::new();
    let mut definitions = Map::new();
    paths.insert(
        "/".into(),
        json!({"get": {"produces": ["application/openapi+json", "application/json"], "responses": {"200": {"description": "OK"}}, "summary": "OpenAPI description (this document)", "tags": ["Introspection"]}}),
    );
    for t in tables {
        let op = |summary: &str| json!({"tags": [t.name], "summary": summary, "responses": {"200": {"description": "OK"}}});
        paths.insert(
            format!("/{}", t.name),
            json!({"get": op("read"), "post": op("insert"), "patch": op("update"), "delete": op("delete")}),
        );
        definitions.insert(t.name.clone(), definition(t));
    }
    json!({
        "swagger": "2.0",
        "info": {"description": "", "title": "standard public schema", "version": "13.0.0 (synchost-fake)"},
        "host": host,
        "basePath": "/",
        "schemes": ["http"],
        "consumes": ["application/json", "application/vnd.pgrst.object+json", "text/csv"],
        "produces": ["application/json", "application/vnd.pgrst.object+json", "text/csv"],
        "paths": paths,
        "definitions": definitions,
        "x-schema": schema,
    })
}

/// `GET /rest/v1/`.
pub async fn root(State(store): State<Arc<Store>>, headers: HeaderMap) -> Response {
    let auth = match authenticate(&store, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    if auth.role != SERVICE_ROLE {
        let mut e = Pgrst::new(
            super::errors::status_of_sqlstate("42501", auth.anon()),
            "42501",
            "permission denied for the OpenAPI description",
        )
        .hint("Only the service_role key may read the schema on this project");
        if auth.anon() {
            e.www_authenticate = Some("Bearer".to_owned());
        }
        return e.into_response();
    }
    let schema = match super::rest::profile(&store, &headers, false) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let doc = {
        let cache = store.cache();
        let mut tables: Vec<&Table> = cache.values().filter(|t| t.schema == schema).collect();
        tables.sort_by(|a, b| a.name.cmp(&b.name));
        document(&host, &schema, &tables)
    };
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openapi+json; charset=utf-8"),
        )],
        doc.to_string(),
    )
        .into_response()
}
