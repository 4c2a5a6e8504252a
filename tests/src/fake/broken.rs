//! Broken responses, the ways real networks and proxies break them: set with
//! `{"body_fault": {"kind": KIND, "every": N}}` in `POST /_control/faults`,
//! every N-th request that passes auth and the rate limit gets its successful
//! response broken (N = 1 breaks them all; `null` turns it off).
//!
//! | kind | what the client sees |
//! |---|---|
//! | `reset` | status, headers, half the body, then the connection drops |
//! | `truncate` | a complete response whose JSON stops halfway |
//! | `malformed` | a complete 200 whose body is a proxy's HTML error page |
//! | `stall` | status and headers, then nothing: the body never comes |
//! | `endless` | status and headers without a length, then a body that never ends |
//! | `oversize` | the body four times over, with a `Content-Length` that says so |
//! | `oversize-chunked` | the body four times over, without a length |
//!
//! `{"blob_fault": {...}}` takes the same values but breaks only attachment
//! downloads (requests a fake counts as `download`), every N-th of them.

use axum::body::{to_bytes, Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use serde_json::{json, Value};

/// How a response is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFaultKind {
    Reset,
    Truncate,
    Malformed,
    Stall,
    Endless,
    Oversize,
    OversizeChunked,
}

/// The kinds, by their `/_control/faults` names.
const KINDS: [(&str, BodyFaultKind); 7] = [
    ("reset", BodyFaultKind::Reset),
    ("truncate", BodyFaultKind::Truncate),
    ("malformed", BodyFaultKind::Malformed),
    ("stall", BodyFaultKind::Stall),
    ("endless", BodyFaultKind::Endless),
    ("oversize", BodyFaultKind::Oversize),
    ("oversize-chunked", BodyFaultKind::OversizeChunked),
];
/// How many times over `oversize` sends the body.
const OVERSIZE_FACTOR: usize = 4;

/// Which responses are broken, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyFault {
    pub kind: BodyFaultKind,
    pub every: u64,
}

impl BodyFault {
    /// Parses the `body_fault` value of `/_control/faults`.
    pub fn from_json(value: &Value) -> Result<Option<BodyFault>, String> {
        if value.is_null() {
            return Ok(None);
        }
        let name = value.get("kind").and_then(Value::as_str);
        let Some(&(_, kind)) = KINDS.iter().find(|(n, _)| Some(*n) == name) else {
            let names: Vec<&str> = KINDS.iter().map(|(n, _)| *n).collect();
            return Err(format!("kind must be one of {}", names.join(", ")));
        };
        let every = value
            .get("every")
            .and_then(Value::as_u64)
            .filter(|n| *n >= 1)
            .ok_or("every must be a positive integer")?;
        Ok(Some(BodyFault { kind, every }))
    }

    pub fn to_json(self) -> Value {
        let kind = KINDS
            .iter()
            .find(|(_, k)| *k == self.kind)
            .map_or("?", |(name, _)| name);
        json!({ "kind": kind, "every": self.every })
    }
}

/// What a misbehaving proxy sends with a 200.
const PROXY_PAGE: &str = "<html><head><title>502 Bad Gateway</title></head>\
<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n";

/// Breaks `response` the `kind` way.
pub async fn break_response(kind: BodyFaultKind, response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let half = bytes.slice(..bytes.len() / 2);
    let full_length = HeaderValue::from(bytes.len());
    let body = match kind {
        BodyFaultKind::Reset => {
            parts.headers.insert(header::CONTENT_LENGTH, full_length);
            let chunks: [Result<Bytes, std::io::Error>; 2] = [
                Ok(half),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "fake: connection reset mid-body",
                )),
            ];
            Body::from_stream(futures_util::stream::iter(chunks))
        }
        BodyFaultKind::Truncate => {
            parts.headers.remove(header::CONTENT_LENGTH);
            Body::from(half)
        }
        BodyFaultKind::Malformed => {
            parts.headers.remove(header::CONTENT_LENGTH);
            Body::from(PROXY_PAGE)
        }
        BodyFaultKind::Stall => {
            parts.headers.insert(header::CONTENT_LENGTH, full_length);
            Body::from_stream(futures_util::stream::pending::<Result<Bytes, std::io::Error>>())
        }
        BodyFaultKind::Endless => {
            parts.headers.remove(header::CONTENT_LENGTH);
            let chunk = Bytes::from(vec![b'x'; 64 << 10]);
            Body::from_stream(futures_util::stream::repeat_with(move || {
                Ok::<_, std::io::Error>(chunk.clone())
            }))
        }
        BodyFaultKind::Oversize | BodyFaultKind::OversizeChunked => {
            let big = Bytes::from(bytes.repeat(OVERSIZE_FACTOR));
            if kind == BodyFaultKind::Oversize {
                parts
                    .headers
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(big.len()));
            } else {
                parts.headers.remove(header::CONTENT_LENGTH);
            }
            // A stream, so that hyper sends it chunked when no length is set.
            Body::from_stream(futures_util::stream::iter([Ok::<_, std::io::Error>(big)]))
        }
    };
    Response::from_parts(parts, body)
}
