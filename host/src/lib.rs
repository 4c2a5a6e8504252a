//! synchost: a WebAssembly plugin host for pluggable sync sources.
//!
//! Where things live:
//! - `runtime`: the wasmtime engine, compile cache, limits, bindings and host imports.
//! - `sync`: the pull engine (pages, work items, checkpoints) and progress events.
//! - `cli`: clap commands and output formatting.
//! - `telemetry`: OpenTelemetry export (OTLP/HTTP), off unless an endpoint is set.
//! - Everything that needs no WebAssembly runtime (config, HTTP policy, store,
//!   mirror, checks on plugin values, errors) is in `synchost-core`, re-exported
//!   here under the same names.

pub use synchost_core::{
    archive, checks, config, error, matching, mirror, net, redact, settings, store, trust,
    untrusted,
};

pub mod cli;
pub mod runtime;
pub mod sync;
pub mod telemetry;
