//! Plugin HTTP answered without the network: `plugin check --fixtures`
//! replays a cassette ([`Replay`]), and the `describe-io` rule of `plugin
//! check` watches `describe` with [`Probe`]. Either stands in for the
//! source's HTTP client in a plugin instance (see `HostState::stand_in`):
//! no request of that instance reaches the network.

use std::path::Path;
use std::sync::Mutex;

use synchost_sdk::testing::Cassette;

use super::bindings::http;
use crate::untrusted::Untrusted;

/// Answers a plugin's requests in the network's place.
pub trait StandIn: Send + Sync {
    fn answer(&self, request: &http::Request) -> Result<http::Response, http::HttpError>;
}

/// `METHOD url` of a request, escaped: how a verdict names it.
pub fn named(request: &http::Request) -> String {
    format!(
        "{} {}",
        Untrusted::clipped(&request.method, 16),
        Untrusted::clipped(&request.url, 300)
    )
}

/// A cassette's answers, by request identity (method, URL, recorded body;
/// see [`Cassette`]); a request sent more often than recorded gets the last
/// recorded answer again. A request the cassette does not hold is a miss:
/// kept (see [`Replay::misses_since`]) and answered `denied`.
pub struct Replay {
    cassette: Mutex<Cassette>,
    shown: String,
    misses: Mutex<Vec<String>>,
}

impl Replay {
    pub fn load(dir: &Path) -> Result<Replay, String> {
        Ok(Replay {
            cassette: Mutex::new(Cassette::load(dir)?),
            shown: dir.display().to_string(),
            misses: Mutex::default(),
        })
    }

    /// The requests not in the cassette after the first `seen` (a count
    /// from [`Replay::misses`]).
    pub fn misses_since(&self, seen: usize) -> Vec<String> {
        lock(&self.misses).get(seen..).unwrap_or_default().to_vec()
    }

    /// How many requests missed so far.
    pub fn misses(&self) -> usize {
        lock(&self.misses).len()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl StandIn for Replay {
    fn answer(&self, request: &http::Request) -> Result<http::Response, http::HttpError> {
        let (method, url, body) = (&request.method, &request.url, request.body.as_deref());
        let answer = {
            let mut cassette = lock(&self.cassette);
            cassette
                .answer(method, url, body)
                .or_else(|| cassette.answer_again(method, url, body))
        };
        match answer {
            Some(Ok(response)) => Ok(http::Response {
                status: response.status,
                headers: response.headers,
                body: response.body,
            }),
            Some(Err(error)) => Err(match error {
                synchost_sdk::http::HttpError::Denied(why) => http::HttpError::Denied(why),
                synchost_sdk::http::HttpError::Timeout => http::HttpError::Timeout,
                synchost_sdk::http::HttpError::Connection(why) => http::HttpError::Connection(why),
                synchost_sdk::http::HttpError::TooLarge(cap) => http::HttpError::TooLarge(cap),
            }),
            None => {
                let name = named(request);
                lock(&self.misses).push(name.clone());
                Err(http::HttpError::Denied(format!(
                    "{name} is not in the cassette {}",
                    self.shown
                )))
            }
        }
    }
}

/// Keeps every request and denies it: what a call that must do no I/O
/// (`describe`) tried to send.
#[derive(Default)]
pub struct Probe {
    sent: Mutex<Vec<String>>,
}

impl Probe {
    /// `METHOD url` of every request so far.
    pub fn sent(&self) -> Vec<String> {
        lock(&self.sent).clone()
    }
}

impl StandIn for Probe {
    fn answer(&self, request: &http::Request) -> Result<http::Response, http::HttpError> {
        lock(&self.sent).push(named(request));
        Err(http::HttpError::Denied(
            "describe may not send requests".into(),
        ))
    }
}
