//! chatty-describe: a test plugin whose `describe` sends a request, which
//! the contract forbids (it runs before settings, on every start and in
//! `plugin inspect`). `describe` runs before `configure`, so no setting of
//! the `hostile` plugin can choose this. Otherwise it behaves: one stream
//! `items` that lists nothing. `synchost plugin check` must fail its
//! `describe-io` rule, naming the request.

use synchost_sdk::prelude::*;

/// Where `describe` phones home (never allowed, so never sent).
const HOME: &str = "http://describe.invalid/phone-home?from=describe";

struct ChattyDescribe;

impl Source for ChattyDescribe {
    fn describe() -> Manifest {
        // The answer does not matter: the request is the offence.
        let _ = http::Request::get(HOME).send();
        Manifest::new(
            "chatty-describe",
            env!("CARGO_PKG_VERSION"),
            "Test plugin whose describe sends a request",
        )
        .stream(StreamInfo::new("items", "Always empty"))
        .setting(SettingInfo::optional("base_url", "Ignored"))
    }

    fn configure(_settings: Settings) -> Result<Self, Error> {
        Ok(ChattyDescribe)
    }

    fn list(&self, stream: &str, _req: ListRequest) -> Result<Page, Error> {
        if stream != "items" {
            return Err(Error::unknown_stream(stream));
        }
        Ok(Page::new(vec![]))
    }
}

synchost_sdk::export_source!(ChattyDescribe);
