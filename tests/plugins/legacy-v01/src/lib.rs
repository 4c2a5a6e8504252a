//! A test plugin built against the frozen contract `synchost:source@0.1.0`
//! (`wit/v0.1`), as third parties' plugins were before 0.2: the host must
//! keep loading it and pulling with it, and refuse to push with it.
//!
//! It lists the items fake (`docs/fake-items-api.md`) with the raw 0.1
//! bindings (no SDK, which targets the newest contract): `list` returns
//! partial records, `fetch` completes them in one batch, and every fifth
//! item carries a blob reference (the item's own JSON) so that 0.1 blob
//! references reach the host's downloads. Setting: `base_url`.

wit_bindgen::generate!({ path: "../../../wit/v0.1", world: "source-plugin" });

use std::cell::RefCell;

use exports::synchost::source::source::Guest;
use serde::Deserialize;
use synchost::source::http::{self, Request, Response};
use synchost::source::log::{self, Level};
use synchost::source::types::{
    BlobRef, Change, Detail, Error, Manifest, Page, PushOutcome, Record, SettingInfo, StreamInfo,
};

const STREAM: &str = "items";

thread_local! {
    /// The items API root, set by `configure`.
    static BASE_URL: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// `GET /items`.
#[derive(Deserialize)]
struct Listing {
    items: Vec<Summary>,
    deleted: Vec<String>,
    next_cursor: Option<String>,
    watermark: Option<String>,
    total: Option<u64>,
}

#[derive(Deserialize)]
struct Summary {
    id: String,
    version: String,
    updated_at: Option<String>,
}

/// `GET /items/{id}`.
#[derive(Deserialize)]
struct Item {
    id: String,
    version: String,
    title: String,
    content: String,
    updated_at: Option<String>,
    tags: Vec<String>,
}

struct Legacy;

impl Guest for Legacy {
    fn describe() -> Manifest {
        Manifest {
            name: "legacy-v01".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Items from the items API, built against contract 0.1".into(),
            streams: vec![StreamInfo {
                name: STREAM.into(),
                description: "Every item, with delta syncs".into(),
                supports_delta: true,
                // 0.1 had `push` too; a host must still not push with it.
                supports_push: true,
            }],
            settings: vec![SettingInfo {
                name: "base_url".into(),
                description: "Root of the items API, e.g. http://127.0.0.1:8080".into(),
                required: true,
                default_value: None,
            }],
            max_page_size: 1000,
        }
    }

    fn configure(settings: Vec<(String, String)>) -> Result<(), Error> {
        let base = settings
            .into_iter()
            .find(|(name, _)| name == "base_url")
            .map(|(_, value)| value.trim_end_matches('/').to_owned())
            .filter(|base| base.starts_with("http://") || base.starts_with("https://"))
            .ok_or_else(|| Error::InvalidConfig("base_url: an http(s) URL is required".into()))?;
        log::log(Level::Debug, &format!("legacy-v01 configured for {base}"));
        BASE_URL.with(|slot| *slot.borrow_mut() = Some(base));
        Ok(())
    }

    fn list(
        stream: String,
        cursor: Option<String>,
        since: Option<String>,
        limit: u32,
        _detail: Detail,
    ) -> Result<Page, Error> {
        check_stream(&stream)?;
        let mut url = format!("{}/items?limit={limit}", base_url()?);
        for (name, value) in [("cursor", cursor), ("since", since)] {
            if let Some(value) = value {
                url.push_str(&format!("&{name}={}", encode(&value)));
            }
        }
        let listing: Listing = json(http::send(&get(url)))?;
        Ok(Page {
            // Partial records: the host fetches those it does not have.
            records: listing
                .items
                .into_iter()
                .map(|item| Record {
                    id: item.id,
                    version: item.version,
                    updated_at: item.updated_at,
                    parent_id: None,
                    title: None,
                    path: None,
                    content_type: "text/plain".into(),
                    content: None,
                    metadata: "{}".into(),
                    blobs: vec![],
                })
                .collect(),
            deleted: listing.deleted,
            next_cursor: listing.next_cursor,
            watermark: listing.watermark,
            total_hint: listing.total,
        })
    }

    fn fetch(stream: String, ids: Vec<String>) -> Vec<Result<Record, Error>> {
        let base = match check_stream(&stream).and_then(|()| base_url()) {
            Ok(base) => base,
            Err(error) => return ids.iter().map(|_| Err(error.clone())).collect(),
        };
        let requests: Vec<Request> = ids
            .iter()
            .map(|id| get(format!("{base}/items/{}", encode(id))))
            .collect();
        http::send_batch(&requests)
            .into_iter()
            .map(|answer| json::<Item>(answer).map(|item| record(&base, item)))
            .collect()
    }

    fn push(_stream: String, changes: Vec<Change>) -> Vec<PushOutcome> {
        let refused = "legacy-v01: a host must not push with a contract 0.1 plugin";
        changes
            .iter()
            .map(|_| PushOutcome::Failed(Error::Fatal(refused.into())))
            .collect()
    }
}

export!(Legacy);

/// The complete record of `item`; every fifth item also has its JSON as a
/// blob, downloaded by the host.
fn record(base: &str, item: Item) -> Record {
    let number: u32 = item
        .id
        .strip_prefix("item-")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let blobs = if number.is_multiple_of(5) {
        vec![BlobRef {
            name: "item.json".into(),
            url: format!("{base}/items/{}", encode(&item.id)),
            media_type: "application/json".into(),
            size: None,
            version: item.version.clone(),
        }]
    } else {
        vec![]
    };
    Record {
        metadata: serde_json::json!({ "tags": item.tags }).to_string(),
        id: item.id,
        version: item.version,
        updated_at: item.updated_at,
        parent_id: None,
        title: Some(item.title),
        path: None,
        content_type: "text/plain".into(),
        content: Some(item.content.into_bytes()),
        blobs,
    }
}

fn check_stream(stream: &str) -> Result<(), Error> {
    if stream == STREAM {
        return Ok(());
    }
    Err(Error::Unsupported(format!("unknown stream `{stream}`")))
}

fn base_url() -> Result<String, Error> {
    BASE_URL
        .with(|slot| slot.borrow().clone())
        .ok_or_else(|| Error::Fatal("not configured".into()))
}

fn get(url: String) -> Request {
    Request {
        method: "GET".into(),
        url,
        headers: vec![("accept".into(), "application/json".into())],
        body: None,
        timeout_ms: None,
    }
}

/// A successful answer's JSON body, or the error its status means.
fn json<T: for<'de> Deserialize<'de>>(
    answer: Result<Response, http::HttpError>,
) -> Result<T, Error> {
    let response = answer.map_err(|error| Error::Transient(format!("{error:?}")))?;
    let text = || {
        String::from_utf8_lossy(&response.body)
            .chars()
            .take(200)
            .collect::<String>()
    };
    match response.status {
        200..=299 => serde_json::from_slice(&response.body)
            .map_err(|error| Error::InvalidResponse(format!("not the expected JSON: {error}"))),
        401 | 403 => Err(Error::Auth(text())),
        404 => Err(Error::NotFound(text())),
        429 => Err(Error::RateLimited(1)),
        500..=599 => Err(Error::Transient(text())),
        status => Err(Error::InvalidResponse(format!("HTTP {status}: {}", text()))),
    }
}

/// Percent-encodes all but unreserved characters.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
