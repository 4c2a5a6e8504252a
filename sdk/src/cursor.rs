//! Cursors as compact JSON: a plugin's listing state, written into
//! `next-cursor` and read back on the next call (possibly in another process,
//! hours later). JSON so that plugins in other languages read the same
//! cursors; a cursor holds no secret (credentials never reach the plugin).
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use synchost_sdk::cursor;
//!
//! #[derive(Debug, PartialEq, Serialize, Deserialize)]
//! struct At { next: String }
//!
//! let text = cursor::encode(&At { next: "/items?page=2".into() });
//! assert_eq!(text, r#"{"next":"/items?page=2"}"#);
//! assert_eq!(cursor::decode::<At>(Some(&text)).unwrap(), Some(At { next: "/items?page=2".into() }));
//! assert_eq!(cursor::decode::<At>(None).unwrap(), None);
//! assert!(cursor::decode::<At>(Some("junk")).is_err());
//! ```

use crate::Error;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// `state` as compact JSON.
///
/// # Panics
///
/// If `state` does not serialize (only custom `Serialize` impls and maps
/// with non-string keys fail).
pub fn encode<T: Serialize>(state: &T) -> String {
    serde_json::to_string(state).expect("a cursor serializes")
}

/// The state in `text`; `None` for no cursor (a first page). A cursor this
/// plugin did not make is [`Error::Fatal`]: the run stops with its
/// checkpoint intact instead of listing from a wrong place.
pub fn decode<T: DeserializeOwned>(text: Option<&str>) -> Result<Option<T>, Error> {
    let Some(text) = text else {
        return Ok(None);
    };
    serde_json::from_str(text).map(Some).map_err(|e| {
        Error::fatal(format!(
            "cursor `{}` was not made by this plugin: {e}",
            text.chars().take(80).collect::<String>()
        ))
    })
}
