//! GitHub's error bodies (contracts §2.1) and the [`Flavor`] hooks that
//! word the shared layer's answers like GitHub.

use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::fake::common::{Flavor, GITHUB_SECONDARY_MESSAGE as SECONDARY_MESSAGE};

/// Where GitHub's generic errors point.
pub const DOCS: &str = "https://docs.github.com/rest";
/// The contents API's documentation (its 409s and 422s point there).
pub const DOCS_CONTENTS: &str =
    "https://docs.github.com/rest/repos/contents#create-or-update-file-contents";

/// `basic-error`: `{"message", "documentation_url", "status": "NNN"}`.
pub fn gh_error(status: StatusCode, message: &str, docs: &str) -> Response {
    let body = json!({"message": message, "documentation_url": docs, "status": status.as_str()});
    (status, Json(body)).into_response()
}

/// 404 `Not Found`.
pub fn not_found() -> Response {
    gh_error(StatusCode::NOT_FOUND, "Not Found", DOCS)
}

/// 422 with the JSON-schema wording GitHub uses for a missing field:
/// `Invalid request.\n\n"sha" wasn't supplied.`.
pub fn not_supplied(field: &str, docs: &str) -> Response {
    let message = format!("Invalid request.\n\n\"{field}\" wasn't supplied.");
    gh_error(StatusCode::UNPROCESSABLE_ENTITY, &message, docs)
}

/// 400 `Problems parsing JSON`.
pub fn bad_json() -> Response {
    gh_error(StatusCode::BAD_REQUEST, "Problems parsing JSON", DOCS)
}

/// True when `headers` carry the token as `Authorization: Bearer T` or
/// `Authorization: token T` (scheme case-insensitive).
pub fn token_ok(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .is_some_and(|(scheme, cred)| {
            (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
                && cred.trim() == token
        })
}

/// Paths GitHub's rate limits do not count: `GET /rate_limit` and archive
/// downloads (codeload, another host).
pub fn free(path: &str) -> bool {
    path == "/rate_limit" || path.starts_with("/codeload/")
}

/// The GitHub flavor, without its rate-limit hooks.
pub fn flavor() -> Flavor {
    Flavor {
        unauthorized: |_| gh_error(StatusCode::UNAUTHORIZED, "Bad credentials", DOCS),
        // The shared token bucket (`--rate-limit`) answers like a secondary limit.
        rate_limited: |_| {
            gh_error(
                StatusCode::TOO_MANY_REQUESTS,
                SECONDARY_MESSAGE,
                "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
            )
        },
        injected_failure: |_, status| match status {
            StatusCode::BAD_GATEWAY => {
                (status, "<html><body><h1>502 Bad Gateway</h1></body></html>").into_response()
            }
            _ => gh_error(
                status,
                status.canonical_reason().unwrap_or("Server Error"),
                DOCS,
            ),
        },
        not_found: |_: &Method, _: &str| not_found(),
        // GitHub answers an unknown method on a known path with a 404 too.
        method_not_allowed: |_: &Method, _: &str| not_found(),
        token_auth: Some(super::archive::authorized),
        ..Flavor::default()
    }
}
