//! Host bindings generated from the frozen contract `wit/v0.1`.
//!
//! When a new contract version ships, its bindings get a module of their own
//! and the older versions are adapted to the newest host implementation.

wasmtime::component::bindgen!({
    world: "source-plugin",
    path: "../wit/v0.1",
    imports: { default: async },
    exports: { default: async },
});

pub use self::exports::synchost::source::source as source_export;
pub use self::synchost::source::{http, log, types};
