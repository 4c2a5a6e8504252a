//! Archives: `GET /repos/{owner}/{repo}/tarball/{ref}` and `/zipball/{ref}`
//! answer 302 to a download location the fake serves
//! (`/codeload/{owner}/{repo}/legacy.tar.gz/{sha}?token=...`, like
//! codeload.github.com: signed, no `Authorization` needed, not counted
//! against the rate limit). The archive of a commit is built once and kept.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::data::{Data, BRANCH};
use super::errors::{not_found, token_ok};
use super::git::{self, hex, ArchiveFile, Mode, Oid};
use super::{base_url, Params, Store};
use crate::fake::words::mix64;

/// Archives kept at most (each as big as the repository).
const KEEP: usize = 4;

/// The signature of a download location for `sha` (a per-process secret).
fn ticket(sha: &str) -> String {
    static SECRET: OnceLock<u64> = OnceLock::new();
    let secret = *SECRET.get_or_init(rand::random);
    let h = sha
        .bytes()
        .fold(mix64(secret), |h, b| mix64(h ^ u64::from(b)));
    format!("{h:016x}")
}

/// The flavor's credential check: the token as `Bearer` or `token`, or,
/// on a download location, its signature.
pub fn authorized(path_and_query: &str, headers: &HeaderMap, token: &str) -> bool {
    if let Some(rest) = path_and_query.strip_prefix("/codeload/") {
        let (path, q) = rest.split_once('?').unwrap_or((rest, ""));
        let sha = path.rsplit('/').next().unwrap_or_default();
        return Params::parse(Some(q)).get("token") == Some(ticket(sha).as_str());
    }
    token_ok(headers, token)
}

fn redirect(
    store: &Store,
    p: &HashMap<String, String>,
    headers: &HeaderMap,
    zip: bool,
) -> Response {
    let rev = p.get("ref").map_or(BRANCH, String::as_str);
    let Some(c) = store.read().resolve(rev) else {
        return not_found();
    };
    let sha = hex(&c.oid);
    let kind = if zip { "legacy.zip" } else { "legacy.tar.gz" };
    let location = format!(
        "{}/codeload/{}/{}/{kind}/{sha}?token={}",
        base_url(headers),
        store.owner,
        store.name,
        ticket(&sha)
    );
    match HeaderValue::from_str(&location) {
        Ok(loc) => (StatusCode::FOUND, [(header::LOCATION, loc)]).into_response(),
        Err(_) => not_found(),
    }
}

/// `GET /repos/{owner}/{repo}/tarball[/{ref}]`.
pub async fn tarball(
    State(store): State<Arc<Store>>,
    Path(p): Path<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    redirect(&store, &p, &headers, false)
}

/// `GET /repos/{owner}/{repo}/zipball[/{ref}]`.
pub async fn zipball(
    State(store): State<Arc<Store>>,
    Path(p): Path<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    redirect(&store, &p, &headers, true)
}

fn build(store: &Store, d: &Data, oid: &Oid, zip: bool) -> Option<Bytes> {
    let c = d.commits.get(oid)?;
    let files: Vec<ArchiveFile<'_>> = c
        .files
        .iter()
        .map(|(path, e)| ArchiveFile {
            path,
            mode: e.mode,
            bytes: match e.mode {
                Mode::Submodule => &[],
                _ => d.blobs.get(&e.oid).map_or(&[][..], |b| &b[..]),
            },
        })
        .collect();
    let prefix = format!("{}-{}-{}", store.owner, store.name, &hex(oid)[..7]);
    Some(Bytes::from(if zip {
        git::zip(&prefix, oid, &files)
    } else {
        git::tar_gz(&prefix, oid, &files, c.time)
    }))
}

/// `GET /codeload/{owner}/{repo}/{legacy.tar.gz|legacy.zip}/{sha}`.
pub async fn download(
    State(store): State<Arc<Store>>,
    Path(p): Path<HashMap<String, String>>,
) -> Response {
    let zip = match p.get("kind").map(String::as_str) {
        Some("legacy.zip") => true,
        Some("legacy.tar.gz") => false,
        _ => return not_found(),
    };
    let Some(oid) = p.get("sha").and_then(|s| git::parse_oid(s)) else {
        return not_found();
    };
    let cached = store.caches().archives.get(&(oid, zip)).cloned();
    let bytes = match cached {
        Some(b) => b,
        None => {
            let Some(b) = build(&store, &store.read(), &oid, zip) else {
                return not_found();
            };
            let mut caches = store.caches();
            if caches.archives.len() >= KEEP {
                caches.archives.clear();
            }
            caches.archives.insert((oid, zip), b.clone());
            b
        }
    };
    let sha = hex(&oid);
    let (media, ext) = if zip {
        ("application/zip", "zip")
    } else {
        ("application/x-gzip", "tar.gz")
    };
    let disposition = format!(
        "attachment; filename={}-{}-{}.{ext}",
        store.owner,
        store.name,
        &sha[..7]
    );
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{sha}\"")) {
        h.insert(header::ETAG, v);
    }
    resp
}
