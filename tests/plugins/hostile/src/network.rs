//! Attacks on the network policy and downloads: origins, credentials, blobs.
//!
//! Each attack is chosen by the setting `attack`; [`list`] and [`fetch`]
//! answer `None` for attacks of other modules. Both attacks here take the
//! setting `urls`, URLs separated by spaces:
//!
//! - `echo-urls`: `GET` each URL (with a guessed `Authorization` of the
//!   plugin's own) and store what came back, or the error, in the content
//!   of a record `report`: pointed at the items fake's `/echo`, directly or
//!   through its `/redirect`, the report shows which headers reached it.
//! - `blob-urls`: one record `blobs` whose blob `blob-N` is the N-th URL, so
//!   the host downloads each itself (its own path through the policy).

use serde_json::{json, Value};
use synchost_sdk::bindings::synchost::source::http as wit;
use synchost_sdk::prelude::*;

use crate::Attack;

/// The attacks of this module.
pub const ATTACKS: &[&str] = &["echo-urls", "blob-urls"];

pub fn list(attack: &Attack, _req: &ListRequest) -> Option<Result<Page, Error>> {
    match attack.name {
        "echo-urls" => Some(Ok(Page::new(vec![echo_report(&urls(attack))]))),
        "blob-urls" => Some(Ok(Page::new(vec![blob_record(&urls(attack))]))),
        _ => None,
    }
}

pub fn fetch(attack: &Attack, ids: &[String]) -> Option<Vec<Result<Record, Error>>> {
    match attack.name {
        // The host retries a failed record by fetching it: same blobs again.
        "blob-urls" => Some(ids.iter().map(|_| Ok(blob_record(&urls(attack)))).collect()),
        _ => None,
    }
}

fn urls<'a>(attack: &'a Attack) -> Vec<&'a str> {
    attack
        .settings
        .get("urls")
        .unwrap_or_default()
        .split_whitespace()
        .collect()
}

/// `GET` each of `urls` through the raw import; the outcomes, in order.
fn echo_report(urls: &[&str]) -> Record {
    let outcomes: Vec<Value> = urls
        .iter()
        .map(|url| {
            let request = wit::Request {
                method: "GET".into(),
                url: (*url).into(),
                headers: vec![(
                    "Authorization".to_string(),
                    "Bearer plugin-guess".to_string(),
                )],
                body: None,
                timeout_ms: Some(5000),
            };
            match wit::send(&request) {
                Ok(response) => json!({
                    "url": url,
                    "status": response.status,
                    "body": String::from_utf8_lossy(&response.body),
                }),
                Err(wit::HttpError::Denied(why)) => json!({ "url": url, "denied": why }),
                Err(other) => json!({ "url": url, "error": format!("{other:?}") }),
            }
        })
        .collect();
    Record::new("report", "1")
        .title("what the hostile plugin saw")
        .content_json(json!(outcomes))
}

fn blob_record(urls: &[&str]) -> Record {
    urls.iter().enumerate().fold(
        Record::new("blobs", "1").content_text("a record whose blobs the host downloads"),
        |record, (n, url)| {
            record.blob(BlobRef::new(
                format!("blob-{n}"),
                *url,
                "application/json",
                "1",
            ))
        },
    )
}
