//! synchost: a WebAssembly plugin host for pluggable sync sources.
//!
//! Where things live:
//! - `config`: `synchost.toml` and ad-hoc sources, resolved to [`config::SourceConfig`].
//! - `runtime`: the wasmtime engine, compile cache, limits, bindings and host imports.
//! - `net`: the HTTP policy: allowlist, credential injection, pacing, retries.
//! - `store`: the SQLite schema, migrations and every query.
//! - `sync`: the pull engine (pages, work items, checkpoints) and progress events.
//! - `cli`: clap commands and output formatting.
//! - `error`: failures classified into exit codes.

pub mod cli;
pub mod config;
pub mod error;
pub mod net;
pub mod runtime;
pub mod store;
pub mod sync;
