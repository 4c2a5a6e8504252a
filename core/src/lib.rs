//! The parts of synchost that need no WebAssembly runtime. They live apart
//! from the host so they can be tested and fuzzed without building wasmtime.
//!
//! Where things live:
//! - `config`: `synchost.toml` and ad-hoc sources, resolved to [`config::SourceConfig`].
//! - `net`: the HTTP policy: allowlist, credential injection, pacing, retries.
//! - `store`: the SQLite schema, migrations and every query.
//! - `checks`: what the host accepts from a plugin: manifests, records, pages and cursors.
//! - `settings`: a source's settings checked against those its plugin declares.
//! - `matching`: `FIELD=VALUE` record matches (`forget --match`, `exclude`).
//! - `mirror`: the browsable directory tree of a source (`export --format files`).
//! - `markdown`: Confluence storage format <-> Markdown, with an exact round trip.
//! - `error`: failures classified into exit codes.
//! - `trust`: which plugin files may run: the lock file, pins, signatures.
//! - `untrusted`: plugin and remote text made safe to print (escaped, clipped).

pub mod archive;
pub mod checks;
pub mod config;
pub mod error;
pub mod markdown;
pub mod matching;
pub mod mirror;
pub mod net;
pub mod redact;
pub mod settings;
pub mod store;
pub mod trust;
pub mod untrusted;
