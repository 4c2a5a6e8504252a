//! `pull --record DIR`: every request a plugin sent and the response it got,
//! one JSON file per exchange, in the cassette format the SDK replays
//! (`synchost_sdk::testing::replay`, documented there and in
//! docs/plugin-guide.md, "Testing a plugin").
//!
//! What is written is what the plugin saw: its own request, which never holds
//! the source's credentials (the host adds them after the plugin), and the
//! response as handed to it. Headers that carry secrets either way
//! ([`SECRET_HEADERS`]) are written as `[redacted]`. A request that got no
//! response is written with `error` (`timeout`, `connection: WHY`, …) in
//! place of the response.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use base64::Engine;
use serde::Serialize;

use super::bindings::http;
use crate::error::usage;

/// Exchanges written per source, at most.
pub const MAX_EXCHANGES: u64 = 100_000;
/// Bytes written in all, at most.
pub const MAX_BYTES: u64 = 1 << 30;
/// Headers written as `[redacted]` (request or response).
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "apikey",
    "x-api-key",
];

/// Writes the exchanges of every plugin of a run under one directory:
/// `DIR/<source>/000001.json`, … in the order the plugin sent them (a
/// batch's in request order).
pub struct Recorder {
    dir: PathBuf,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Exchanges written per source directory.
    written: HashMap<String, u64>,
    bytes: u64,
    /// Set once a bound is reached: nothing more is written.
    full: bool,
}

impl Recorder {
    /// A recorder writing under `dir`, which must be empty or absent (two
    /// runs in one cassette would answer each other's requests).
    pub fn create(dir: &Path) -> Result<Recorder> {
        let shown = dir.display();
        std::fs::create_dir_all(dir).with_context(|| format!("--record {shown}"))?;
        let mut entries = std::fs::read_dir(dir).with_context(|| format!("--record {shown}"))?;
        if entries.next().is_some() {
            return Err(usage(format!(
                "--record {shown}: the directory is not empty; give a new or empty one"
            )));
        }
        Ok(Recorder {
            dir: dir.to_owned(),
            state: Mutex::new(State::default()),
        })
    }

    /// Writes the exchanges of one `send` or `send-batch` call of `source`'s
    /// plugin. A failure to write is a warning: the pull goes on.
    pub(crate) fn record(
        &self,
        source: &str,
        exchanges: &[(Sent, &Result<http::Response, http::HttpError>)],
    ) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let folder = folder_name(source);
        for (sent, answer) in exchanges {
            if state.full {
                return;
            }
            let text = match serde_json::to_string_pretty(&exchange(sent, answer)) {
                Ok(text) => text + "\n",
                Err(_) => continue,
            };
            let count = state.written.get(&folder).copied().unwrap_or(0);
            if count >= MAX_EXCHANGES || state.bytes + text.len() as u64 > MAX_BYTES {
                state.full = true;
                tracing::warn!(
                    "--record: stopped recording at {count} exchanges of source `{source}` \
                     ({} MiB in all; at most {MAX_EXCHANGES} per source and {} MiB in all)",
                    state.bytes >> 20,
                    MAX_BYTES >> 20
                );
                return;
            }
            let dir = self.dir.join(&folder);
            let file = dir.join(format!("{:06}.json", count + 1));
            let written = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&file, &text));
            if let Err(err) = written {
                state.full = true;
                tracing::warn!(
                    "--record: cannot write {}: {err}; recording stopped",
                    file.display()
                );
                return;
            }
            state.written.insert(folder.clone(), count + 1);
            state.bytes += text.len() as u64;
        }
    }
}

/// What the plugin sent, kept while its request is on its way.
pub(crate) struct Sent {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl Sent {
    pub(crate) fn of(request: &http::Request) -> Sent {
        Sent {
            method: request.method.clone(),
            url: request.url.clone(),
            headers: request.headers.clone(),
            body: request.body.clone(),
        }
    }
}

/// One file of a cassette, fields in the order a reader wants them.
#[derive(Serialize)]
struct Exchange<'a> {
    method: &'a str,
    url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    /// Why there was no response: `timeout`, `connection: WHY`,
    /// `denied: WHY`, `too-large: BYTES`.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    headers: Vec<(&'a str, &'a str)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body_base64: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    request_headers: Vec<(&'a str, &'a str)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_body_base64: Option<String>,
}

/// `bytes` as text when they are UTF-8, else as base64.
fn text_or_base64(bytes: &[u8]) -> (Option<String>, Option<String>) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (Some(text.to_owned()), None),
        Err(_) => (
            None,
            Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
        ),
    }
}

fn exchange<'a>(
    sent: &'a Sent,
    answer: &'a Result<http::Response, http::HttpError>,
) -> Exchange<'a> {
    let (request_body, request_body_base64) = match &sent.body {
        Some(body) => text_or_base64(body),
        None => (None, None),
    };
    let mut exchange = Exchange {
        method: &sent.method,
        url: &sent.url,
        status: None,
        error: None,
        headers: Vec::new(),
        body: None,
        body_base64: None,
        request_headers: redacted(&sent.headers),
        request_body,
        request_body_base64,
    };
    match answer {
        Ok(response) => {
            exchange.status = Some(response.status);
            exchange.headers = redacted(&response.headers);
            (exchange.body, exchange.body_base64) = text_or_base64(&response.body);
        }
        Err(error) => {
            exchange.error = Some(match error {
                http::HttpError::Timeout => "timeout".to_owned(),
                http::HttpError::Connection(why) => format!("connection: {why}"),
                http::HttpError::Denied(why) => format!("denied: {why}"),
                http::HttpError::TooLarge(cap) => format!("too-large: {cap}"),
            })
        }
    }
    exchange
}

fn redacted(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(name, value)| {
            let secret = SECRET_HEADERS.iter().any(|s| name.eq_ignore_ascii_case(s));
            (
                name.as_str(),
                if secret { "[redacted]" } else { value.as_str() },
            )
        })
        .collect()
}

/// A source's name as one safe path component.
pub(crate) fn folder_name(source: &str) -> String {
    let name: String = source
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match name.trim_matches('.') {
        "" => "_".into(),
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn request(url: &str) -> http::Request {
        http::Request {
            method: "POST".into(),
            url: url.into(),
            headers: vec![("Authorization".into(), "Bearer s3cret".into())],
            body: Some(vec![0xff, 0x00]),
            timeout_ms: None,
        }
    }

    #[test]
    fn exchanges_are_numbered_files_with_secrets_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let cassette = dir.path().join("c");
        let recorder = Recorder::create(&cassette).unwrap();
        let ok = Ok(http::Response {
            status: 201,
            headers: vec![
                ("set-cookie".into(), "sid=s3cret".into()),
                ("etag".into(), "\"1\"".into()),
            ],
            body: b"{\"id\": 1}".to_vec(),
        });
        let failed = Err(http::HttpError::Timeout);
        let a = request("http://h/a");
        let b = request("http://h/b");
        recorder.record(
            "../x y",
            &[
                (Sent::of(&a), &ok),
                (Sent::of(&b), &failed),
                (Sent::of(&b), &ok),
            ],
        );
        let folder = cassette.join(".._x_y");
        let mut files: Vec<_> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(files, ["000001.json", "000002.json", "000003.json"]);
        let first: Value =
            serde_json::from_str(&std::fs::read_to_string(folder.join("000001.json")).unwrap())
                .unwrap();
        assert_eq!(
            first,
            json!({
                "method": "POST", "url": "http://h/a", "status": 201,
                "headers": [["set-cookie", "[redacted]"], ["etag", "\"1\""]],
                "body": "{\"id\": 1}",
                "request_headers": [["Authorization", "[redacted]"]],
                "request_body_base64": "/wA=",
            })
        );
        let second: Value =
            serde_json::from_str(&std::fs::read_to_string(folder.join("000002.json")).unwrap())
                .unwrap();
        assert_eq!(second["url"], "http://h/b");
        assert_eq!(second["error"], "timeout");
        assert_eq!(second.get("status"), None);
        let third = std::fs::read_to_string(folder.join("000003.json")).unwrap();
        assert!(third.contains("http://h/b") && !third.contains("s3cret"));
        let again = Recorder::create(&cassette).err().unwrap();
        assert!(format!("{again:#}").contains("not empty"), "{again:#}");
    }

    #[test]
    fn folder_names_stay_inside() {
        assert_eq!(folder_name("items"), "items");
        assert_eq!(folder_name(".."), "_");
        assert_eq!(folder_name("a/b"), "a_b");
    }
}
