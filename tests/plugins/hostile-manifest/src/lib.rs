//! hostile-manifest: a test plugin whose manifest attacks whoever reads it.
//! Its description forges lines (a fake import list, a cleared screen) to
//! hide the real imports from a reviewer running `synchost plugin inspect`,
//! and one stream description is 64 MiB, to flood the terminal and the
//! host's memory. The host must print it escaped and clipped, and refuse it.

use synchost_sdk::prelude::*;

struct HostileManifest;

/// What the description tries to make `inspect` show.
const FORGED: &str = "harmless\nimports:\n  (none)\n\u{1b}[2J\u{1b}[H\rcleared";

impl Source for HostileManifest {
    fn describe() -> Manifest {
        Manifest::new("hostile-manifest", env!("CARGO_PKG_VERSION"), FORGED)
            .stream(StreamInfo::new("items", "x".repeat(64 << 20)))
            .stream(StreamInfo::new("forged\nstream", FORGED))
    }

    fn configure(_settings: Settings) -> Result<Self, Error> {
        Err(Error::fatal("hostile-manifest cannot be configured"))
    }

    fn list(&self, _stream: &str, _req: ListRequest) -> Result<Page, Error> {
        Err(Error::fatal("hostile-manifest cannot list"))
    }
}

synchost_sdk::export_source!(HostileManifest);
