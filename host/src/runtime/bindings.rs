//! Host bindings generated from the contract. The newest version,
//! `wit/v0.2`, is the host's own: every value the host works with is one of
//! its types. Older versions get a module each (`v0_1`); their imports are
//! served by converting to the newest and back (`runtime/host.rs`), and
//! what their plugins return is converted up (`runtime/legacy.rs`).

wasmtime::component::bindgen!({
    world: "source-plugin",
    path: "../wit/v0.2",
    imports: { default: async },
    exports: { default: async },
    additional_derives: [PartialEq],
});

pub use self::exports::synchost::source::source as source_export;
pub use self::synchost::source::{http, log, types};

/// `synchost:source@0.1.0`, frozen: plugins built against it still pull.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        world: "source-plugin",
        path: "../wit/v0.1",
        imports: { default: async },
        exports: { default: async },
    });

    pub use self::exports::synchost::source::source as source_export;
    pub use self::synchost::source::{http, log, types};
}
