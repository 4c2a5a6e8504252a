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
}

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
        let kind = match value.get("kind").and_then(Value::as_str) {
            Some("reset") => BodyFaultKind::Reset,
            Some("truncate") => BodyFaultKind::Truncate,
            Some("malformed") => BodyFaultKind::Malformed,
            Some("stall") => BodyFaultKind::Stall,
            _ => {
                return Err(
                    "body_fault.kind must be one of reset, truncate, malformed, stall".to_owned(),
                )
            }
        };
        let every = value
            .get("every")
            .and_then(Value::as_u64)
            .filter(|n| *n >= 1)
            .ok_or("body_fault.every must be a positive integer")?;
        Ok(Some(BodyFault { kind, every }))
    }

    pub fn to_json(self) -> Value {
        let kind = match self.kind {
            BodyFaultKind::Reset => "reset",
            BodyFaultKind::Truncate => "truncate",
            BodyFaultKind::Malformed => "malformed",
            BodyFaultKind::Stall => "stall",
        };
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
    };
    Response::from_parts(parts, body)
}
