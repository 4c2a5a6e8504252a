//! The HTTP policy between plugins and the network.
//!
//! - `cap`: the administrator's `allowed_hosts` patterns, over every source's.
//! - `policy`: which origins a source may reach (the allowlist), and which
//!   of them get the credential: one function decides both for every
//!   request, batch, blob download and redirect hop.
//! - `credential`: credentials injected by the host, redacted everywhere.
//! - `limiter`: per-host token bucket, concurrency limit and shared pauses.
//! - `retry`: what is retried, backoff with full jitter, rate-limit headers.
//! - `network`: proxies and extra certificate authorities (company networks).
//! - `client`: the client that combines them; the plugin's `http` import and
//!   blob downloads both go through it.

pub mod cap;
pub mod client;
pub mod credential;
pub mod limiter;
pub mod network;
pub mod policy;
pub mod retry;

pub use cap::HostCap;
pub use client::{
    DownloadError, HttpClient, HttpError, HttpRequest, HttpResponse, HttpStats, WaitNotice,
};
pub use credential::Credential;
pub use network::Network;
pub use policy::HostPolicy;
pub use retry::RetryPolicy;
