//! A test plugin built against `synchost:source@1.0.0`, a major version of the
//! contract the host does not support. The host must refuse to load it with a
//! clear message, before calling anything.
//!
//! `wit/source.wit` is the v0.1 contract with only the package version changed.
//! It uses wit-bindgen directly, not the SDK (which is pinned to 0.1).

wit_bindgen::generate!({ path: "wit", world: "source-plugin" });

use exports::synchost::source::source::Guest;
use synchost::source::types::{Change, Error, Manifest, Page, PushOutcome, Record, StreamInfo};

struct WrongMajor;

fn refused() -> Error {
    Error::Fatal("wrong-major is a test plugin; a host must not call it".into())
}

impl Guest for WrongMajor {
    fn describe() -> Manifest {
        Manifest {
            name: "wrong-major".into(),
            version: "1.0.0".into(),
            description: "Test plugin built against contract 1.0.0; hosts must refuse it".into(),
            streams: vec![StreamInfo {
                name: "items".into(),
                description: "Never listed".into(),
                supports_delta: false,
                supports_push: false,
            }],
            settings: vec![],
            max_page_size: 100,
        }
    }

    fn configure(_settings: Vec<(String, String)>) -> Result<(), Error> {
        Err(refused())
    }

    fn list(
        _stream: String,
        _cursor: Option<String>,
        _since: Option<String>,
        _limit: u32,
    ) -> Result<Page, Error> {
        Err(refused())
    }

    fn fetch(_stream: String, ids: Vec<String>) -> Vec<Result<Record, Error>> {
        ids.iter().map(|_| Err(refused())).collect()
    }

    fn push(_stream: String, changes: Vec<Change>) -> Vec<PushOutcome> {
        changes
            .iter()
            .map(|_| PushOutcome::Failed(refused()))
            .collect()
    }
}

export!(WrongMajor);
