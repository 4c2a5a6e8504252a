//! forbidden-imports: a test plugin that imports interfaces synchost links
//! for no plugin: `wasi:keyvalue/store` and `wasi:config/store`, and
//! `wasi:http/handler@0.3.0` (WASI 0.3's client; synchost links only WASI
//! 0.2's network interfaces, and those deny every call). They are stand-ins
//! under those names: the host refuses by name, before compiling, so their
//! types do not matter. The host must refuse it naming every one of them,
//! with a hint, and cache nothing.

use synchost_sdk::prelude::*;

wit_bindgen::generate!({
    inline: "
        package stand-in:imports;
        world forbidden {
            import wasi:keyvalue/store@0.2.0-draft;
            import wasi:config/store@0.2.0-draft;
            import wasi:http/handler@0.3.0;
        }
        package wasi:keyvalue@0.2.0-draft {
            interface store { get: func(key: string) -> option<string>; }
        }
        package wasi:config@0.2.0-draft {
            interface store { get: func(key: string) -> option<string>; }
        }
        package wasi:http@0.3.0 {
            interface handler { handle: func(request: string) -> string; }
        }
    ",
    world: "forbidden",
    generate_all,
});

struct ForbiddenImports;

impl Source for ForbiddenImports {
    fn describe() -> Manifest {
        Manifest::new(
            "forbidden-imports",
            env!("CARGO_PKG_VERSION"),
            "Imports interfaces synchost does not grant; hosts must refuse it",
        )
        .stream(StreamInfo::new("items", "Never listed"))
    }

    fn configure(_settings: Settings) -> Result<Self, Error> {
        Ok(ForbiddenImports)
    }

    fn list(&self, _stream: &str, _req: ListRequest) -> Result<Page, Error> {
        // Every call keeps its import in the component.
        let answer = format!(
            "{:?} {:?} {}",
            wasi::keyvalue::store::get("k"),
            wasi::config::store::get("k"),
            wasi::http::handler::handle("GET http://127.0.0.1/")
        );
        Err(Error::fatal(format!("forbidden-imports got {answer}")))
    }
}

synchost_sdk::export_source!(ForbiddenImports);
