//! Attacks on the network policy and downloads: origins, credentials, blobs.
//!
//! Each attack is chosen by the setting `attack`; [`list`] and [`fetch`]
//! answer `None` for attacks of other modules. The attacks here take the
//! setting `urls`, URLs separated by spaces:
//!
//! - `echo-urls`: `GET` each URL (with a guessed `Authorization` of the
//!   plugin's own) and store what came back, or the error, in the content
//!   of a record `report`: pointed at the items fake's `/echo`, directly or
//!   through its `/redirect`, the report shows which headers reached it.
//! - `conditional-urls`: `GET` each URL with `If-None-Match` set to the
//!   setting `etag` (a conditional request, as the GitHub plugin makes),
//!   reported like `echo-urls`.
//! - `blob-urls`: one record `blobs` whose blob `blob-N` is the N-th URL, so
//!   the host downloads each itself (its own path through the policy).
//! - `blob-headers`: blobs of the first URL with request headers: record
//!   `allowed` has one blob `allowed` with headers an API may need
//!   (`Accept`, `X-Blob-Hint`); each record `refused-N` has one blob with
//!   the N-th headers of [`refused_blob_headers`], which the host must
//!   refuse (a credential, hop-by-hop, the `x-api-key` of a header
//!   credential, an invalid name or value, too large, too many).
//! - `archive-members`: one record `member-N` per path of the setting
//!   `members` (separated by spaces), whose blob is that member of the
//!   archive at the first URL (contract 0.2 `blob-ref.member`).

use serde_json::{json, Value};
use synchost_sdk::bindings::synchost::source::http as wit;
use synchost_sdk::prelude::*;

use crate::Attack;

/// The attacks of this module.
pub const ATTACKS: &[&str] = &[
    "echo-urls",
    "conditional-urls",
    "blob-urls",
    "blob-headers",
    "archive-members",
];

/// The headers of the `refused-N` blobs of `blob-headers`, by N.
fn refused_blob_headers() -> Vec<Vec<(String, String)>> {
    let one = |name: &str, value: &str| vec![(name.to_string(), value.to_string())];
    let mut refused: Vec<_> = [
        ("Authorization", "Bearer plugin-guess"),
        ("Proxy-Authorization", "Basic cGx1Z2luOmd1ZXNz"),
        ("Cookie", "session=plugin-guess"),
        ("Host", "evil.example"),
        ("Connection", "close"),
        ("Keep-Alive", "timeout=5"),
        ("TE", "trailers"),
        ("Trailer", "x-after"),
        ("Transfer-Encoding", "chunked"),
        ("Upgrade", "websocket"),
        ("Content-Length", "0"),
        ("X-Api-Key", "plugin-guess"),
        ("bad name", "x"),
        ("x-injected", "a\r\nX-Smuggled: 1"),
    ]
    .iter()
    .map(|(name, value)| one(name, value))
    .collect();
    refused.push(one("x-big", &"x".repeat(9 << 10)));
    refused.push(
        (0..17)
            .map(|n| (format!("x-h{n}"), "v".to_string()))
            .collect(),
    );
    refused
}

pub fn list(attack: &Attack, _req: &ListRequest) -> Option<Result<Page, Error>> {
    match attack.name {
        "echo-urls" => Some(Ok(Page::new(vec![echo_report(
            &urls(attack),
            ("Authorization", "Bearer plugin-guess"),
        )]))),
        "conditional-urls" => Some(Ok(Page::new(vec![echo_report(
            &urls(attack),
            (
                "If-None-Match",
                attack.settings.get("etag").unwrap_or_default(),
            ),
        )]))),
        "blob-urls" => Some(Ok(Page::new(vec![blob_record(&urls(attack))]))),
        "blob-headers" => Some(Ok(Page::new(blob_header_records(&urls(attack))))),
        "archive-members" => Some(Ok(Page::new(member_records(attack)))),
        _ => None,
    }
}

pub fn fetch(attack: &Attack, ids: &[String]) -> Option<Vec<Result<Record, Error>>> {
    match attack.name {
        // The host retries a failed record by fetching it: same blobs again.
        "blob-urls" => Some(ids.iter().map(|_| Ok(blob_record(&urls(attack)))).collect()),
        "blob-headers" | "archive-members" => {
            let records = match attack.name {
                "blob-headers" => blob_header_records(&urls(attack)),
                _ => member_records(attack),
            };
            Some(
                ids.iter()
                    .map(|id| {
                        records
                            .iter()
                            .find(|record| &record.id == id)
                            .cloned()
                            .ok_or_else(|| Error::not_found(format!("hostile has no {id}")))
                    })
                    .collect(),
            )
        }
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

/// `GET` each of `urls` with `header` through the raw import; the
/// outcomes, in order.
fn echo_report(urls: &[&str], header: (&str, &str)) -> Record {
    let outcomes: Vec<Value> = urls
        .iter()
        .map(|url| {
            let request = wit::Request {
                method: "GET".into(),
                url: (*url).into(),
                headers: vec![(header.0.to_string(), header.1.to_string())],
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

/// The records of `archive-members`.
fn member_records(attack: &Attack) -> Vec<Record> {
    let url = urls(attack).first().copied().unwrap_or_default();
    attack
        .settings
        .get("members")
        .unwrap_or_default()
        .split_whitespace()
        .enumerate()
        .map(|(n, member)| {
            Record::new(format!("member-{n}"), "1")
                .content(Vec::new(), "")
                .blob(BlobRef::new("file", url, "application/octet-stream", "1").member(member))
        })
        .collect()
}

/// The records of `blob-headers`: `allowed`, then `refused-N`.
fn blob_header_records(urls: &[&str]) -> Vec<Record> {
    let url = urls.first().copied().unwrap_or_default();
    let blob = |name: &str, headers: Vec<(String, String)>| {
        headers.into_iter().fold(
            BlobRef::new(name, url, "application/json", "1"),
            |blob, (name, value)| blob.header(name, value),
        )
    };
    let allowed = Record::new("allowed", "1")
        .content_text("a blob with headers an API may need")
        .blob(blob(
            "allowed",
            vec![
                ("Accept".into(), "application/octet-stream".into()),
                ("X-Blob-Hint".into(), "raw".into()),
            ],
        ));
    let refused = refused_blob_headers()
        .into_iter()
        .enumerate()
        .map(|(n, headers)| {
            Record::new(format!("refused-{n}"), "1")
                .content_text("a blob with a header the host must refuse")
                .blob(blob(&format!("refused-{n}"), headers))
        });
    std::iter::once(allowed).chain(refused).collect()
}
