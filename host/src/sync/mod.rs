//! Sync engines and their progress.
//!
//! - `pull`: the pull engine: pages, work items, checkpoints, resume.
//! - `blobs`: blob downloads to the content-addressed store.
//! - `progress`: events, the live bar, plain lines and JSON output.

pub mod blobs;
pub mod progress;
pub mod pull;
