//! Native tests of `list`, `fetch` and `push`: a test transport in the
//! host's place.
//!
//! Inside the host, [`http::Request::send`](crate::http::Request::send) and
//! [`http::send_batch`](crate::http::send_batch) go through the host. In a
//! native test (`cargo test` on the host target) they go to the handler the
//! test installed on its thread with [`serve`] (canned answers computed from
//! the request) or [`replay`] (a cassette of recorded answers). Without one,
//! sending panics with a message saying so. Log messages
//! ([`log`](crate::log)) go to stderr, which the test harness captures.
//!
//! ```
//! use synchost_sdk::http::{self, Response};
//! use synchost_sdk::testing;
//!
//! let served = testing::serve(|req: &http::Request| match req.url() {
//!     "https://api.example.com/notes?limit=2" => {
//!         Response::new(200, vec![], r#"{"notes":[],"next":null}"#)
//!     }
//!     _ => Response::new(404, vec![], "no such note"),
//! });
//! let answer = http::Request::get("https://api.example.com/notes")
//!     .query("limit", 2)
//!     .send()
//!     .unwrap();
//! assert_eq!(answer.status, 200);
//! assert_eq!(served.requests()[0].method(), "GET");
//! ```
//!
//! The handler runs on the test's thread, one request at a time (a batch in
//! order). The transport is uninstalled when the returned [`Served`] is
//! dropped, so keep it in a variable (`let _served = …`, not `let _ = …`).
//! It keeps what it saw: the requests batch by batch ([`Served::batches`])
//! and what the plugin logged ([`Served::logs`]). Transports nest: the
//! newest installed answers, until its guard is dropped.
//!
//! # Cassettes
//!
//! [`replay`] answers from recorded exchanges. A cassette is a directory
//! whose `*.json` files (in file-name order, e.g. `0001.json`, `0002.json`)
//! each hold one exchange, or one JSON file holding one exchange or an array
//! of them. An exchange:
//!
//! ```json
//! {
//!   "method": "GET",
//!   "url": "http://127.0.0.1:8080/items?limit=2",
//!   "status": 200,
//!   "headers": [["content-type", "application/json"]],
//!   "body": {"items": [], "next_cursor": null}
//! }
//! ```
//!
//! - `method`, `url`: the request as the plugin sends it (with its query;
//!   never credentials: the host adds those after the plugin).
//! - `status`: the response status; `headers`: optional, a list of
//!   `[name, value]` pairs or an object. Or, for a request that got no
//!   response, `error` instead: `timeout`, `connection: WHY`, `denied: WHY`
//!   or `too-large: BYTES` (the `HttpError` the host would give).
//! - The body, optional (empty when absent): `body` as a string is that
//!   text; any other JSON value is sent as compact JSON; `body_base64` is
//!   bytes (standard alphabet).
//! - The request's body, optional: `request_body` (or
//!   `request_body_base64`), read like `body`. When given, only a request
//!   with this body gets this exchange; when absent, any body does.
//! - Other fields are ignored (room for notes, or the request's headers).
//!
//! Each request gets the first exchange not used yet with the same method,
//! URL and (when recorded) body, so repeated requests get their answers in
//! recorded order and other requests may come in any order. A request with
//! no such exchange panics, naming it and the cassette. [`Cassette`] is the
//! same matching without a transport.

use crate::bindings::synchost::source::http as wit;
use crate::bindings::synchost::source::log::Level;
use crate::http::{HttpError, Request, Response};
use serde_json::Value;
use std::cell::RefCell;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// What a handler answers: a response (any status), or a request that got
/// none (`Err(HttpError::Timeout)`, as the host reports after its retries).
pub type Answer = Result<Response, HttpError>;

/// What a [`serve`] handler may return: a [`Response`] or an [`Answer`].
pub trait IntoAnswer {
    /// The answer.
    fn into_answer(self) -> Answer;
}

impl IntoAnswer for Response {
    fn into_answer(self) -> Answer {
        Ok(self)
    }
}

impl IntoAnswer for Answer {
    fn into_answer(self) -> Answer {
        self
    }
}

type Handler = Box<dyn FnMut(&Request) -> Answer>;

/// One installed transport: its handler and what it saw.
struct Installed {
    /// Tells it from the others on the stack (its guard's).
    id: u64,
    /// `None` while it runs.
    handler: Option<Handler>,
    seen: Rc<RefCell<Seen>>,
}

/// What a transport saw: the batches sent (a `send` is a batch of one) and
/// the messages logged while it was the newest.
#[derive(Default)]
struct Seen {
    batches: Vec<Vec<Request>>,
    logs: Vec<(Level, String)>,
}

thread_local! {
    /// The installed transports, the newest last: it answers.
    static INSTALLED: RefCell<Vec<Installed>> = const { RefCell::new(Vec::new()) };
    static NEXT_ID: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

const NO_TRANSPORT: &str = "no test transport: sending a request outside the host needs one; \
     call synchost_sdk::testing::serve(|req| ...) or synchost_sdk::testing::replay(cassette) \
     first, and keep the guard it returns alive";

/// Installs `handler` as this thread's transport until the returned guard is
/// dropped: every request sent from this thread is answered by it.
///
/// Transports nest: one installed while another is answers until its guard
/// is dropped (a test may configure a second plugin with its own server),
/// and dropping an older guard leaves the newer one answering.
pub fn serve<R: IntoAnswer>(mut handler: impl FnMut(&Request) -> R + 'static) -> Served {
    install(Box::new(move |request| handler(request).into_answer()))
}

fn install(handler: Handler) -> Served {
    let seen = Rc::new(RefCell::new(Seen::default()));
    let id = NEXT_ID.with(|next| {
        let id = next.get();
        next.set(id + 1);
        id
    });
    INSTALLED.with(|stack| {
        stack.borrow_mut().push(Installed {
            id,
            handler: Some(handler),
            seen: seen.clone(),
        })
    });
    Served {
        id,
        seen,
        _not_send: PhantomData,
    }
}

/// The installed transport; dropping it uninstalls it.
#[must_use = "the transport is uninstalled when this guard is dropped"]
pub struct Served {
    id: u64,
    seen: Rc<RefCell<Seen>>,
    /// The transport belongs to the thread that installed it.
    _not_send: PhantomData<*const ()>,
}

impl std::fmt::Debug for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Served")
            .field("sent", &self.sent())
            .finish()
    }
}

impl Served {
    /// Every request answered so far, in the order they were sent.
    pub fn requests(&self) -> Vec<Request> {
        self.seen.borrow().batches.concat()
    }

    /// Every request answered so far, batch by batch: one `send_batch` is
    /// one batch, one `send` a batch of one.
    pub fn batches(&self) -> Vec<Vec<Request>> {
        self.seen.borrow().batches.clone()
    }

    /// What the plugin logged ([`log`](crate::log)) while this was the
    /// newest transport, in order. (Messages also go to stderr.)
    pub fn logs(&self) -> Vec<(Level, String)> {
        self.seen.borrow().logs.clone()
    }

    /// `METHOD url` of every request answered so far, in order.
    pub fn sent(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| format!("{} {}", r.method(), r.url()))
            .collect()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // Not during a panic's unwinding from inside the transport, when the
        // stack may be borrowed.
        let _ = INSTALLED.try_with(|stack| {
            if let Ok(mut stack) = stack.try_borrow_mut() {
                stack.retain(|installed| installed.id != self.id);
            }
        });
    }
}

/// Installs a transport answering from the cassette at `path` (a directory
/// or a file; see the [module docs](self#cassettes)) until the returned guard
/// is dropped.
///
/// # Panics
///
/// If the cassette cannot be read or an exchange in it is malformed (the
/// message names the file). Later,
/// when a request has no unused exchange with its method, URL and body.
pub fn replay(path: impl AsRef<Path>) -> Served {
    let path = path.as_ref();
    let mut cassette =
        Cassette::load(path).unwrap_or_else(|e| panic!("cassette {}: {e}", path.display()));
    install(Box::new(move |request| {
        cassette
            .answer(request.method(), request.url(), request.body_bytes())
            .unwrap_or_else(|| {
                panic!(
                    "cassette {}: unexpected request {} {}; unused exchanges: [{}]",
                    cassette.name,
                    request.method(),
                    request.url(),
                    cassette.unused().join(", ")
                )
            })
    }))
}

/// The exchanges of a cassette (see the [module docs](self#cassettes)),
/// answered by request identity: method, URL and, when the exchange
/// records one, body. [`replay`] answers from one; the host's
/// `synchost plugin check --fixtures` too.
pub struct Cassette {
    /// The path it was read from, for messages.
    name: String,
    exchanges: Vec<Exchange>,
    used: Vec<bool>,
}

impl Cassette {
    /// Reads the cassette at `path`. The error names the file and the
    /// field that is wrong.
    pub fn load(path: impl AsRef<Path>) -> Result<Cassette, String> {
        let path = path.as_ref();
        let exchanges = load(path)?;
        Ok(Cassette {
            name: path.display().to_string(),
            used: vec![false; exchanges.len()],
            exchanges,
        })
    }

    /// The exchanges it holds.
    pub fn len(&self) -> usize {
        self.exchanges.len()
    }

    /// True when it holds no exchange.
    pub fn is_empty(&self) -> bool {
        self.exchanges.is_empty()
    }

    /// The answer of the first unused exchange recorded for this request,
    /// which is used up; `None` when there is none left. Repeated requests
    /// get their answers in recorded order, other requests in any order.
    pub fn answer(&mut self, method: &str, url: &str, body: Option<&[u8]>) -> Option<Answer> {
        let found = (0..self.exchanges.len())
            .find(|&i| !self.used[i] && self.exchanges[i].matches(method, url, body))?;
        self.used[found] = true;
        Some(self.exchanges[found].answer.clone())
    }

    /// The answer of the last exchange recorded for this request, used or
    /// not: for a request sent more often than it was recorded.
    pub fn answer_again(&self, method: &str, url: &str, body: Option<&[u8]>) -> Option<Answer> {
        self.exchanges
            .iter()
            .rev()
            .find(|x| x.matches(method, url, body))
            .map(|x| x.answer.clone())
    }

    /// `METHOD url (file)` of every exchange not used yet.
    pub fn unused(&self) -> Vec<String> {
        self.exchanges
            .iter()
            .zip(&self.used)
            .filter(|(_, used)| !**used)
            .map(|(x, _)| format!("{} {} ({})", x.method, x.url, x.file))
            .collect()
    }
}

/// One recorded request and its response.
struct Exchange {
    method: String,
    url: String,
    /// The request's body, when recorded: then a request must have it.
    request_body: Option<Vec<u8>>,
    answer: Answer,
    /// Where it was read from, for messages.
    file: String,
}

impl Exchange {
    fn matches(&self, method: &str, url: &str, body: Option<&[u8]>) -> bool {
        self.method.eq_ignore_ascii_case(method)
            && self.url == url
            && self
                .request_body
                .as_deref()
                .is_none_or(|recorded| body == Some(recorded))
    }
}

fn load(path: &Path) -> Result<Vec<Exchange>, String> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| e.to_string())?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_owned()]
    };
    let mut exchanges = Vec::new();
    for file in files {
        let shown = file.display().to_string();
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{shown}: {e}"))?;
        let value: Value =
            serde_json::from_str(&text).map_err(|e| format!("{shown}: not JSON: {e}"))?;
        let items = match value {
            Value::Array(items) => items,
            one => vec![one],
        };
        for (i, item) in items.iter().enumerate() {
            let exchange =
                exchange(item, &shown).map_err(|e| format!("{shown}: exchange {i}: {e}"))?;
            exchanges.push(exchange);
        }
    }
    Ok(exchanges)
}

fn exchange(v: &Value, file: &str) -> Result<Exchange, String> {
    let text = |key: &str| {
        v.get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("`{key}` must be a string"))
    };
    if let Some(error) = v.get("error") {
        let error = error.as_str().and_then(http_error).ok_or(
            "`error` must be `timeout`, `connection: WHY`, `denied: WHY` or `too-large: BYTES`",
        )?;
        return Ok(Exchange {
            method: text("method")?,
            url: text("url")?,
            request_body: bytes(v, "request_body")?,
            answer: Err(error),
            file: file.to_owned(),
        });
    }
    let status = v
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .ok_or("`status` must be an HTTP status code")?;
    let headers = match v.get("headers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| Some((k.to_ascii_lowercase(), v.as_str()?.to_owned())))
            .collect::<Option<_>>()
            .ok_or("`headers` values must be strings")?,
        Some(Value::Array(pairs)) => pairs
            .iter()
            .map(|pair| match pair.as_array().map(Vec::as_slice) {
                Some([Value::String(k), Value::String(v)]) => {
                    Some((k.to_ascii_lowercase(), v.clone()))
                }
                _ => None,
            })
            .collect::<Option<_>>()
            .ok_or("`headers` must be [name, value] string pairs")?,
        Some(_) => return Err("`headers` must be a list of [name, value] pairs".into()),
    };
    let body = bytes(v, "body")?.unwrap_or_default();
    Ok(Exchange {
        method: text("method")?,
        url: text("url")?,
        request_body: bytes(v, "request_body")?,
        answer: Ok(Response::new(status, headers, body)),
        file: file.to_owned(),
    })
}

/// The bytes of field `key` (a string is that text, another JSON value its
/// compact JSON) or of `key_base64`; `None` when neither is given.
fn bytes(v: &Value, key: &str) -> Result<Option<Vec<u8>>, String> {
    let b64_key = format!("{key}_base64");
    Ok(Some(match (v.get(key), v.get(&b64_key)) {
        (Some(_), Some(_)) => return Err(format!("give `{key}` or `{b64_key}`, not both")),
        (Some(Value::String(s)), None) => s.clone().into_bytes(),
        (Some(json), None) => json.to_string().into_bytes(),
        (None, Some(Value::String(b64))) => {
            base64(b64).ok_or_else(|| format!("`{b64_key}` is not base64"))?
        }
        (None, Some(_)) => return Err(format!("`{b64_key}` must be a string")),
        (None, None) => return Ok(None),
    }))
}

/// A recorded `error`: `timeout`, `connection: WHY`, `denied: WHY`,
/// `too-large: BYTES`.
fn http_error(text: &str) -> Option<HttpError> {
    if text == "timeout" {
        return Some(HttpError::Timeout);
    }
    let (kind, detail) = text.split_once(": ")?;
    match kind {
        "connection" => Some(HttpError::Connection(detail.to_owned())),
        "denied" => Some(HttpError::Denied(detail.to_owned())),
        "too-large" => detail.parse().ok().map(HttpError::TooLarge),
        _ => None,
    }
}

/// Decodes standard base64 (padding optional, whitespace ignored).
fn base64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace()) {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The native transport, in the host's place (see `http::transport`).
pub(crate) mod transport {
    use super::*;

    /// Answers `requests` as one batch with the newest transport.
    fn answer(requests: &[wit::Request]) -> Vec<Result<wit::Response, wit::HttpError>> {
        let requests: Vec<Request> = requests.iter().map(Request::from_wit).collect();
        // Taken out while it runs, so a handler that sends gets a clear
        // panic rather than a borrow error.
        let (id, mut handler, seen) = INSTALLED.with(|stack| {
            let mut stack = stack.borrow_mut();
            let newest = stack.last_mut().unwrap_or_else(|| panic!("{NO_TRANSPORT}"));
            let handler = newest
                .handler
                .take()
                .expect("a test transport's handler sent a request itself");
            (newest.id, handler, newest.seen.clone())
        });
        let answers: Vec<Answer> = requests.iter().map(&mut handler).collect();
        INSTALLED.with(|stack| {
            if let Some(installed) = stack.borrow_mut().iter_mut().find(|i| i.id == id) {
                installed.handler = Some(handler);
            }
        });
        seen.borrow_mut().batches.push(requests);
        answers
            .into_iter()
            .map(|answer| {
                answer.map(|r| wit::Response {
                    status: r.status,
                    headers: r.headers,
                    body: r.body,
                })
            })
            .collect()
    }

    pub(crate) fn send(request: &wit::Request) -> Result<wit::Response, wit::HttpError> {
        let mut answers = answer(std::slice::from_ref(request));
        answers.pop().expect("one answer")
    }

    pub(crate) fn send_batch(
        requests: &[wit::Request],
    ) -> Vec<Result<wit::Response, wit::HttpError>> {
        answer(requests)
    }
}

/// A log message, natively: to stderr, and to the newest transport's
/// [`Served::logs`].
pub(crate) fn log(level: Level, message: &str) {
    let name = match level {
        Level::Trace => "TRACE",
        Level::Debug => "DEBUG",
        Level::Info => "INFO",
        Level::Warn => "WARN",
        Level::Error => "ERROR",
    };
    eprintln!("plugin log {name}: {message}");
    INSTALLED.with(|stack| {
        if let Some(newest) = stack.borrow().last() {
            newest
                .seen
                .borrow_mut()
                .logs
                .push((level, message.to_owned()));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::send_batch;
    use crate::Error;

    #[test]
    #[should_panic(expected = "no test transport: sending a request outside the host needs one")]
    fn sending_without_a_transport_says_so() {
        let _ = Request::get("http://h/").send();
    }

    #[test]
    fn serve_answers_and_records() {
        let served = serve(|req: &Request| match req.url() {
            "http://h/gone" => Err(HttpError::Timeout),
            url => Ok(Response::new(
                200,
                vec![],
                format!("{} {url}", req.method()),
            )),
        });
        let r = Request::post("http://h/a").body("x").send().unwrap();
        assert_eq!(r.text().unwrap(), "POST http://h/a");
        let batch = send_batch(vec![
            Request::get("http://h/b"),
            Request::get("http://h/gone"),
        ]);
        assert_eq!(batch[0].as_ref().unwrap().text().unwrap(), "GET http://h/b");
        // A transport error is mapped as the host's would be, naming the request.
        assert!(
            matches!(&batch[1], Err(Error::Transient(m)) if m.starts_with("GET http://h/gone"))
        );
        assert_eq!(
            served.sent(),
            ["POST http://h/a", "GET http://h/b", "GET http://h/gone"]
        );
        assert_eq!(served.requests()[0].body_bytes(), Some(&b"x"[..]));
        drop(served);
        let again = std::panic::catch_unwind(|| Request::get("http://h/").send());
        assert!(
            again.is_err(),
            "dropping the guard uninstalls the transport"
        );
    }

    #[test]
    fn transports_nest_and_keep_batches_and_logs() {
        let outer = serve(|_: &Request| Response::new(200, vec![], "outer"));
        crate::log::warn("to the outer");
        let inner = serve(|_: &Request| Response::new(201, vec![], "inner"));
        let batch = send_batch(vec![Request::get("http://h/1"), Request::get("http://h/2")]);
        assert_eq!(batch.len(), 2);
        assert_eq!(batch[1].as_ref().unwrap().status, 201);
        crate::log::info("to the inner");
        assert_eq!(Request::get("http://h/3").send().unwrap().status, 201);
        let sizes: Vec<usize> = inner.batches().iter().map(Vec::len).collect();
        assert_eq!(sizes, [2, 1]);
        assert_eq!(inner.logs(), [(Level::Info, "to the inner".to_string())]);
        // Dropping the older guard leaves the newer one answering.
        let older = serve(|_: &Request| Response::new(202, vec![], "older"));
        let newest = serve(|_: &Request| Response::new(203, vec![], "newest"));
        drop(older);
        assert_eq!(Request::get("http://h/4").send().unwrap().status, 203);
        drop(newest);
        drop(inner);
        assert_eq!(Request::get("http://h/5").send().unwrap().status, 200);
        assert_eq!(outer.sent(), ["GET http://h/5"]);
        assert_eq!(outer.logs(), [(Level::Warn, "to the outer".to_string())]);
    }

    #[test]
    fn error_statuses_name_the_request() {
        let _served = serve(|_: &Request| Response::new(404, vec![], "nope"));
        let err = Request::get("http://h/x")
            .send()
            .unwrap()
            .error_for_status();
        assert!(
            matches!(err, Err(Error::NotFound(m)) if m.starts_with("GET http://h/x: HTTP 404"))
        );
    }

    fn cassette(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "synchost-sdk-cassette-{}-{name}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("0001.json"), text).unwrap();
        dir
    }

    #[test]
    fn replay_answers_in_recorded_order() {
        let dir = cassette(
            "order",
            r#"[
              {"method": "GET", "url": "http://h/a", "status": 200, "body": "first"},
              {"method": "GET", "url": "http://h/b", "status": 201,
               "headers": {"Content-Type": "application/json"}, "body": {"b": [1]}},
              {"method": "GET", "url": "http://h/a", "status": 200, "body_base64": "c2Vjb25k"},
              {"method": "GET", "url": "http://h/c", "error": "connection: refused"}
            ]"#,
        );
        let served = replay(&dir);
        let text = |url: &str| {
            let r = Request::get(url).send().unwrap();
            (
                r.status,
                String::from_utf8(r.body.clone()).unwrap(),
                r.header("content-type").map(str::to_owned),
            )
        };
        assert_eq!(
            text("http://h/b"),
            (201, r#"{"b":[1]}"#.into(), Some("application/json".into()))
        );
        assert_eq!(text("http://h/a"), (200, "first".into(), None));
        assert_eq!(text("http://h/a"), (200, "second".into(), None));
        let refused = Request::get("http://h/c").send().unwrap_err();
        assert!(
            matches!(refused, Error::Transient(m) if m.ends_with("connection failed: refused"))
        );
        let unexpected =
            std::panic::catch_unwind(|| Request::get("http://h/a").send()).unwrap_err();
        let msg = unexpected.downcast_ref::<String>().unwrap();
        assert!(
            msg.contains("unexpected request GET http://h/a; unused exchanges: []"),
            "{msg}"
        );
        assert_eq!(served.sent().len(), 4);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn replay_matches_the_recorded_body() {
        let dir = cassette(
            "body",
            r#"[
              {"method": "POST", "url": "http://h/w", "request_body": "one", "status": 201},
              {"method": "POST", "url": "http://h/w", "request_body_base64": "dHdv", "status": 202},
              {"method": "POST", "url": "http://h/any", "status": 203}
            ]"#,
        );
        let mut tape = Cassette::load(&dir).unwrap();
        assert_eq!(tape.len(), 3);
        let status = |answer: Option<Answer>| answer.map(|a| a.unwrap().status);
        assert_eq!(
            status(tape.answer("POST", "http://h/w", Some(b"two"))),
            Some(202)
        );
        assert_eq!(
            status(tape.answer("POST", "http://h/w", Some(b"three"))),
            None
        );
        assert_eq!(status(tape.answer("POST", "http://h/w", None)), None);
        assert_eq!(
            status(tape.answer("post", "http://h/w", Some(b"one"))),
            Some(201)
        );
        assert_eq!(
            status(tape.answer("POST", "http://h/w", Some(b"one"))),
            None
        );
        assert_eq!(
            status(tape.answer_again("POST", "http://h/w", Some(b"one"))),
            Some(201)
        );
        assert_eq!(tape.unused().len(), 1);
        assert_eq!(
            status(tape.answer("POST", "http://h/any", Some(b"x"))),
            Some(203)
        );
        assert!(tape.unused().is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_malformed_cassette_names_the_file_and_the_field() {
        let dir = cassette(
            "bad",
            r#"{"method": "GET", "url": "http://h/", "status": "ok"}"#,
        );
        let err = std::panic::catch_unwind(|| replay(&dir)).unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(
            msg.contains("0001.json: exchange 0: `status` must be an HTTP status code"),
            "{msg}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn base64_decodes() {
        assert_eq!(base64("aGk=").unwrap(), b"hi");
        assert_eq!(base64("aGk").unwrap(), b"hi");
        assert_eq!(base64("/+8=").unwrap(), [0xff, 0xef]);
        assert_eq!(base64("a-b"), None);
        assert_eq!(http_error("too-large: 7"), Some(HttpError::TooLarge(7)));
        assert_eq!(
            http_error("denied: no"),
            Some(HttpError::Denied("no".into()))
        );
        assert_eq!(http_error("timeout"), Some(HttpError::Timeout));
        assert_eq!(http_error("lost"), None);
    }
}
