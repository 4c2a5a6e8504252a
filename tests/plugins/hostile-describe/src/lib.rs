//! hostile-describe: a test plugin whose `describe` never answers. It runs
//! before `configure`, so no setting can choose this attack in the `hostile`
//! plugin. `synchost plugin inspect` and `pull` must give up quickly with a
//! message, not wait for the per-call timeout of a working call.

use std::time::Duration;

use synchost_sdk::prelude::*;

struct HostileDescribe;

impl Source for HostileDescribe {
    fn describe() -> Manifest {
        log::warn("hostile-describe: sleeping in describe");
        std::thread::sleep(Duration::from_secs(3600));
        Manifest::new("hostile-describe", env!("CARGO_PKG_VERSION"), "Woke up")
            .stream(StreamInfo::new("items", "Never listed"))
    }

    fn configure(_settings: Settings) -> Result<Self, Error> {
        Err(Error::fatal("hostile-describe cannot be configured"))
    }

    fn list(&self, _stream: &str, _req: ListRequest) -> Result<Page, Error> {
        Err(Error::fatal("hostile-describe cannot list"))
    }
}

synchost_sdk::export_source!(HostileDescribe);
