//! example-items: a complete synchost source plugin, the template to copy.
//!
//! It syncs the "items" REST API (`docs/fake-items-api.md`; served by
//! `synchost-fake items`). One stream, `items`, with delta syncs:
//! - `list` pages through `GET /items` and returns *partial* records (id,
//!   version, updated_at, no content); the host then calls `fetch` only for
//!   the items whose version it does not have yet.
//! - `fetch` gets `GET /items/{id}` for a batch of ids in one `send_batch`.
//!
//! The plugin never loops over pages, retries, sleeps or sends credentials:
//! the host does all of that.

use serde::Deserialize;
use serde_json::json;
use synchost_sdk::prelude::*;

const STREAM: &str = "items";

/// The configured plugin: just the API root, e.g. `http://127.0.0.1:8080`.
struct Items {
    base_url: String,
}

/// `GET /items` response.
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

/// `GET /items/{id}` response.
#[derive(Deserialize)]
struct Item {
    id: String,
    version: String,
    title: String,
    content: String,
    updated_at: Option<String>,
    tags: Vec<String>,
}

impl Source for Items {
    fn describe() -> Manifest {
        Manifest::new(
            "example-items",
            env!("CARGO_PKG_VERSION"),
            "Items from the items API",
        )
        .stream(StreamInfo::new(STREAM, "Every item, with delta syncs").delta())
        .setting(SettingInfo::required(
            "base_url",
            "Root of the items API, e.g. http://127.0.0.1:8080",
        ))
        .max_page_size(1000)
    }

    fn configure(settings: Settings) -> Result<Self, Error> {
        // Checks that it is an http(s) URL and trims a trailing slash.
        Ok(Items {
            base_url: settings.url("base_url")?,
        })
    }

    fn list(&self, stream: &str, req: ListRequest) -> Result<Page, Error> {
        check_stream(stream)?;
        let listing: Listing = http::Request::get(format!("{}/items", self.base_url))
            .query("limit", req.limit)
            .query_opt("cursor", req.cursor.as_deref())
            .query_opt("since", req.since.as_deref())
            .send()?
            .error_for_status()? // 401 → auth, 429 → rate-limited, 5xx → transient, …
            .json()?;
        // Partial records: no content, so the host fetches the changed ones.
        let records = listing
            .items
            .into_iter()
            .map(|s| Record::new(s.id, s.version).updated_at(s.updated_at))
            .collect();
        Ok(Page::new(records)
            .deleted(listing.deleted)
            .next_cursor(listing.next_cursor)
            .watermark(listing.watermark)
            .total_hint(listing.total))
    }

    fn fetch(&self, stream: &str, ids: Vec<String>) -> Vec<Result<Record, Error>> {
        if let Err(e) = check_stream(stream) {
            return ids.iter().map(|_| Err(e.clone())).collect();
        }
        // One request per id, all handed to the host at once; it runs them
        // concurrently within the source's limits. Results come back in order.
        let requests = ids
            .iter()
            .map(|id| http::Request::get(format!("{}/items/{}", self.base_url, http::encode(id))))
            .collect();
        http::send_batch(requests)
            .into_iter()
            .map(|response| {
                // A 404 becomes not-found for this id only.
                let item: Item = response?.error_for_status()?.json()?;
                Ok(Record::new(item.id, item.version)
                    .title(item.title)
                    .content_text(item.content)
                    .metadata_json(json!({ "tags": item.tags }))
                    .updated_at(item.updated_at))
            })
            .collect()
    }
}

fn check_stream(stream: &str) -> Result<(), Error> {
    match stream {
        STREAM => Ok(()),
        other => Err(Error::unknown_stream(other)),
    }
}

synchost_sdk::export_source!(Items);
