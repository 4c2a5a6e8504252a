//! network-denied: a test plugin that tries every way out that WASI 0.2
//! offers beside synchost's own `http` import, as default componentize-py
//! and componentize-js builds can: a TCP connection and a name lookup
//! (`wasi:sockets`, through `std::net`) and a `wasi:http` request. The host
//! links those interfaces so that the plugin loads, and every attempt must
//! fail: `list` reports what each attempt got, and the test checks that no
//! connection reached its listener.

use std::net::{TcpStream, ToSocketAddrs};

use synchost_sdk::prelude::*;
use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, Method, OutgoingRequest, Scheme};

struct NetworkDenied {
    /// `host:port` of a listener the test watches.
    target: String,
}

impl Source for NetworkDenied {
    fn describe() -> Manifest {
        Manifest::new(
            "network-denied",
            env!("CARGO_PKG_VERSION"),
            "Tries sockets, name lookups and wasi:http; every attempt must fail",
        )
        .setting(SettingInfo::required("target", "host:port to try to reach"))
        .stream(StreamInfo::new("items", "Never listed"))
    }

    fn configure(settings: Settings) -> Result<Self, Error> {
        Ok(NetworkDenied {
            target: settings.required("target")?.to_string(),
        })
    }

    fn list(&self, _stream: &str, _req: ListRequest) -> Result<Page, Error> {
        let tcp = match TcpStream::connect(&self.target) {
            Ok(_) => "REACHED".to_string(),
            Err(err) => format!("failed ({err})"),
        };
        let lookup = match ("localhost", 80).to_socket_addrs() {
            Ok(_) => "REACHED".to_string(),
            Err(err) => format!("failed ({err})"),
        };
        let http = wasi_http_get(&self.target);
        Err(Error::fatal(format!(
            "tcp connect: {tcp}; name lookup: {lookup}; wasi:http: {http}"
        )))
    }
}

/// Sends `GET http://TARGET/` through `wasi:http/outgoing-handler` and says
/// how it ended.
fn wasi_http_get(target: &str) -> String {
    let request = OutgoingRequest::new(Fields::new());
    let built = request
        .set_method(&Method::Get)
        .and(request.set_scheme(Some(&Scheme::Http)))
        .and(request.set_authority(Some(target)))
        .and(request.set_path_with_query(Some("/")));
    if built.is_err() {
        return "could not build the request".into();
    }
    let response = match outgoing_handler::handle(request, None) {
        Ok(response) => response,
        Err(code) => return format!("failed ({code:?})"),
    };
    response.subscribe().block();
    match response.get() {
        Some(Ok(Err(code))) => format!("failed ({code:?})"),
        Some(Ok(Ok(_))) => "REACHED".into(),
        _ => "no answer".into(),
    }
}

synchost_sdk::export_source!(NetworkDenied);
