//! Messages to the host's log, tagged with the plugin's name.
//!
//! ```no_run
//! synchost_sdk::log::debug(format!("listing page of {} items", 100));
//! ```
//!
//! Never log secrets or whole payloads. In native tests, messages go to
//! stderr.

use crate::bindings::synchost::source::log as wit;

/// The level of a message.
pub use wit::Level;

/// Writes `message` at `level`.
pub fn log(level: Level, message: impl AsRef<str>) {
    #[cfg(target_family = "wasm")]
    wit::log(level, message.as_ref());
    #[cfg(not(target_family = "wasm"))]
    crate::testing::log(level, message.as_ref());
}

/// Writes a `trace` message.
pub fn trace(message: impl AsRef<str>) {
    log(Level::Trace, message);
}

/// Writes a `debug` message.
pub fn debug(message: impl AsRef<str>) {
    log(Level::Debug, message);
}

/// Writes an `info` message.
pub fn info(message: impl AsRef<str>) {
    log(Level::Info, message);
}

/// Writes a `warn` message.
pub fn warn(message: impl AsRef<str>) {
    log(Level::Warn, message);
}

/// Writes an `error` message.
pub fn error(message: impl AsRef<str>) {
    log(Level::Error, message);
}
