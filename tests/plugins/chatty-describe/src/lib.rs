//! chatty-describe: a test plugin whose `describe` sends requests, which
//! the contract forbids (it runs before settings, on every start and in
//! `plugin inspect`): one through the host's `http` import, one through
//! `wasi:http` (as a default Python or JavaScript build would). `describe`
//! runs before `configure`, so no setting of the `hostile` plugin can choose
//! this. Otherwise it behaves: one stream `items` that lists nothing.
//! `synchost plugin check` must fail its `describe-io` rule, naming both.

use synchost_sdk::prelude::*;

/// Where `describe` phones home (never allowed, so never sent).
const HOME: &str = "http://describe.invalid/phone-home?from=describe";

struct ChattyDescribe;

impl Source for ChattyDescribe {
    fn describe() -> Manifest {
        // The answers do not matter: the requests are the offence.
        let _ = http::Request::get(HOME).send();
        let _ = wasi_http_get();
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

/// `GET http://describe.invalid/wasi-http` through `wasi:http`.
fn wasi_http_get() -> Result<(), String> {
    use wasip2::http::types::{Fields, OutgoingRequest, Scheme};
    let request = OutgoingRequest::new(Fields::new());
    request
        .set_scheme(Some(&Scheme::Http))
        .map_err(|()| "scheme")?;
    request
        .set_authority(Some("describe.invalid"))
        .map_err(|()| "authority")?;
    request
        .set_path_with_query(Some("/wasi-http"))
        .map_err(|()| "path")?;
    wasip2::http::outgoing_handler::handle(request, None)
        .map(|_| ())
        .map_err(|error| format!("{error:?}"))
}

synchost_sdk::export_source!(ChattyDescribe);
