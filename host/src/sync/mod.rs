//! Sync engines and their progress.
//!
//! - `session`: opening a source's plugin, and the rules for its answers.
//! - `pull`: the pull engine: pages, work items, checkpoints, resume.
//! - `push`: the push engine: the outbox, exactly once, conflicts.
//! - `audit`: policy refusals recorded in `runs` and the log.
//! - `pin`: a source's plugin recorded in the lock file.
//! - `blobs`: blob downloads to the content-addressed store.
//! - `progress`: events, the live bar, plain lines and JSON output.

pub mod audit;
pub mod blobs;
pub mod pin;
pub mod progress;
pub mod pull;
pub mod push;
pub mod session;
