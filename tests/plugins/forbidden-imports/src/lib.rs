//! forbidden-imports: a test plugin that imports what a default
//! componentize-py or componentize-js build imports and synchost does not
//! grant: `wasi:sockets/*` (from `std::net`) and `wasi:http/outgoing-handler`
//! (a stand-in interface under that name, version 0.3.0 so that the linker
//! does not merge it with the real 0.2 one that std knows: the host refuses
//! by name, before compiling, so its types do not matter). The host must
//! refuse it naming every one of them, with a hint, and cache nothing.

use std::net::TcpStream;

use synchost_sdk::prelude::*;

wit_bindgen::generate!({
    inline: "
        package wasi:http@0.3.0;
        interface outgoing-handler {
            handle: func(request: string) -> string;
        }
        world forbidden {
            import outgoing-handler;
        }
    ",
    world: "forbidden",
});

struct ForbiddenImports;

impl Source for ForbiddenImports {
    fn describe() -> Manifest {
        Manifest::new(
            "forbidden-imports",
            env!("CARGO_PKG_VERSION"),
            "Imports sockets and wasi:http; hosts must refuse it",
        )
        .stream(StreamInfo::new("items", "Never listed"))
    }

    fn configure(_settings: Settings) -> Result<Self, Error> {
        Ok(ForbiddenImports)
    }

    fn list(&self, _stream: &str, _req: ListRequest) -> Result<Page, Error> {
        // Both calls keep their imports in the component.
        let answer = wasi::http::outgoing_handler::handle("GET http://127.0.0.1/");
        TcpStream::connect("127.0.0.1:9")
            .map_err(|err| Error::fatal(format!("{answer}: {err}")))?;
        Err(Error::fatal("forbidden-imports reached the network"))
    }
}

synchost_sdk::export_source!(ForbiddenImports);
