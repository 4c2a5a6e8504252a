//! The fake remote APIs served by `synchost-fake`.
//!
//! [`common`] holds what every fake shares (listening, stats, fault injection,
//! bearer or basic auth, the generic control endpoints), [`broken`] the broken
//! responses it can inject, [`tls`] the test CA and https of `--tls`, and [`words`] the
//! deterministic text; each API lives in its own
//! module and only adds its dataset and routes.

pub mod broken;
pub mod common;
pub mod confluence;
pub mod github;
pub mod items;
pub mod supabase;
pub mod tls;
pub mod words;
