//! Write [synchost] source plugins: one trait, one macro, typed HTTP and JSON
//! helpers.
//!
//! A source plugin is a WebAssembly component that knows how to talk to one
//! remote system. It answers one question per call (one page of a listing, one
//! batch of fetches, one batch of pushes); the host owns every loop around
//! those calls: pagination, retries, rate limits, checkpoints, storage and
//! credentials. So a plugin never sleeps, retries or paginates to the end, and
//! never sees a secret: the host adds credentials to the requests it sends.
//!
//! Implement [`Source`] for a type that holds your configuration, and export
//! it with [`export_source!`]:
//!
//! ```
//! use serde::Deserialize;
//! use synchost_sdk::prelude::*;
//!
//! /// The configured plugin: whatever `list` and `fetch` need.
//! struct Notes {
//!     base_url: String,
//! }
//!
//! #[derive(Deserialize)]
//! struct NotesPage {
//!     notes: Vec<Note>,
//!     next: Option<String>,
//! }
//!
//! #[derive(Deserialize)]
//! struct Note {
//!     id: String,
//!     rev: u64,
//!     title: String,
//!     body: String,
//! }
//!
//! impl Source for Notes {
//!     fn describe() -> Manifest {
//!         Manifest::new("notes", env!("CARGO_PKG_VERSION"), "Notes from the notes API")
//!             .stream(StreamInfo::new("notes", "Every note"))
//!             .setting(SettingInfo::required("base_url", "API root, e.g. https://notes.example.com"))
//!             .max_page_size(500)
//!     }
//!
//!     fn configure(settings: Settings) -> Result<Self, Error> {
//!         Ok(Notes { base_url: settings.url("base_url")? })
//!     }
//!
//!     fn list(&self, stream: &str, req: ListRequest) -> Result<Page, Error> {
//!         if stream != "notes" {
//!             return Err(Error::unknown_stream(stream));
//!         }
//!         let page: NotesPage = http::Request::get(format!("{}/notes", self.base_url))
//!             .query("limit", req.limit)
//!             .query_opt("page", req.cursor.as_deref())
//!             .send()?
//!             .error_for_status()?
//!             .json()?;
//!         let records = page
//!             .notes
//!             .into_iter()
//!             .map(|n| Record::new(n.id, n.rev.to_string()).title(n.title).content_text(n.body))
//!             .collect();
//!         Ok(Page::new(records).next_cursor(page.next))
//!     }
//! }
//!
//! synchost_sdk::export_source!(Notes);
//! # fn main() {}
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2`; the `.wasm`
//! file in `target/wasm32-wasip2/release/` is the component the host loads.
//!
//! What is where:
//! - [`Source`], [`ListRequest`] and [`export_source!`]: the plugin itself.
//! - [`Record`], [`Page`], [`Manifest`], [`StreamInfo`], [`SettingInfo`],
//!   [`BlobRef`], [`Change`], [`ChangeOp`], [`PushOutcome`], [`Error`]: the
//!   values of the contract, with builders.
//! - [`Settings`]: the values given to `configure`.
//! - [`http`]: requests through the host ([`http::Api`] for a base URL and
//!   default headers, [`http::link_rel`] for `Link` headers), and HTTP
//!   status → [`Error`] mapping.
//! - [`cursor`]: cursors as compact JSON.
//! - [`push`]: `push` and `reconcile` as one chain of requests per change,
//!   sent together; [`Change`] accessors; the change-key convention.
//! - [`log`]: messages to the host's log.
//! - `testing` (native builds only): `list`, `fetch` and `push` in plain
//!   `cargo test`, answered by canned responses or a recorded cassette.
//! - [`time`]: RFC 3339 and HTTP dates without a date crate, for watermarks
//!   and delta windows.
//! - [`lenient`]: tolerant reading of remote JSON (one bad element of a
//!   listing is reported, not fatal; fields a plugin can do without never fail).
//! - [`bindings`]: the raw generated bindings of the WIT contract
//!   `synchost:source@0.2.0`, for what the helpers do not cover.
//!
//! [synchost]: https://github.com/synchost/synchost

pub mod cursor;
pub mod http;
pub mod lenient;
pub mod log;
pub mod push;
mod settings;
#[cfg(not(target_family = "wasm"))]
pub mod testing;
pub mod time;
mod types;

pub use settings::Settings;
pub use types::IntoOptionString;

/// The bindings generated from the contract (`wit/v0.2`, package
/// `synchost:source@0.2.0`, world `source-plugin`).
///
/// Plugins normally use the re-exports at the crate root and
/// [`export_source!`]; this module is for the rare case that needs the raw
/// imports (`bindings::synchost::source::http::send`) or wants to implement
/// `bindings::exports::synchost::source::source::Guest` directly and export it
/// with `synchost_sdk::bindings::export!(MyType with_types_in synchost_sdk::bindings)`.
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "source-plugin",
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "synchost_sdk::bindings",
        additional_derives: [PartialEq],
    });
}

pub use bindings::synchost::source::types::{
    AuthInfo, AuthScheme, BlobRef, Change, ChangeOp, Detail, Error, Manifest, Page, PushOutcome,
    Reconciliation, Record, SettingInfo, StreamInfo,
};

/// Everything a plugin usually needs: `use synchost_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::{
        export_source, http, log, push, AuthInfo, BlobRef, Change, ChangeOp, Detail, Error,
        ListRequest, Manifest, Page, PushOutcome, Reconciliation, Record, SettingInfo, Settings,
        Source, StreamInfo,
    };
}

/// The arguments of one [`Source::list`] call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListRequest {
    /// Where to continue: the `next_cursor` of the previous page; `None` for
    /// the first page.
    pub cursor: Option<String>,
    /// The stream's last complete watermark (a `Page::watermark` from an
    /// earlier, completed enumeration); `None` for a full listing. Only given
    /// to streams declared with [`StreamInfo::delta`].
    pub since: Option<String>,
    /// The most records the page may hold; never more than the manifest's
    /// `max_page_size`.
    pub limit: u32,
    /// [`Detail::IdsOnly`] when ids and versions suffice (a deletion check):
    /// partial records are then welcome if they are cheaper to list.
    pub detail: Detail,
}

// `Detail` is generated from the WIT, so it cannot carry `#[derive(Default)]`.
#[allow(clippy::derivable_impls)]
impl Default for Detail {
    fn default() -> Self {
        Detail::Full
    }
}

/// A source plugin.
///
/// The host calls [`describe`](Source::describe) at any time, then
/// [`configure`](Source::configure) once per instance; the value it returns is
/// kept by [`export_source!`] and receives every later call. Each call answers
/// one question and returns: the host owns pagination, retries, rate limits and
/// credentials. Return [`Error`]s classified by kind (see [`Error`]); the
/// [`http`] helpers do that for HTTP failures.
pub trait Source: Sized + 'static {
    /// Describes the plugin: name, version, streams, settings. Must not do I/O.
    fn describe() -> Manifest;

    /// Validates the settings and builds the configured plugin. Return
    /// [`Error::InvalidConfig`] naming the setting when one is wrong
    /// ([`Settings::required`] and friends do).
    fn configure(settings: Settings) -> Result<Self, Error>;

    /// The streams of this configuration. The host calls it after
    /// `configure` and uses its answer, not the manifest's, from then on.
    /// Override it when the streams depend on the settings (the tables of a
    /// database): it may send requests to check them against the remote.
    ///
    /// The default answers the manifest's streams.
    fn streams(&self) -> Result<Vec<StreamInfo>, Error> {
        Ok(Self::describe().streams)
    }

    /// Lists one page of `stream`: at most `req.limit` records, complete or
    /// partial (no content: the host then calls [`fetch`](Source::fetch) for
    /// those whose version it does not have), plus the next cursor. Never loop
    /// over pages here.
    fn list(&self, stream: &str, req: ListRequest) -> Result<Page, Error>;

    /// Fetches complete records for `ids`: exactly one result per id, in
    /// order. A missing item is `Err(Error::NotFound(..))` for that id only.
    /// Send the requests together with [`http::send_batch`].
    ///
    /// The default answers [`Error::Unsupported`] for every id, which suits
    /// sources whose listings hold complete records.
    fn fetch(&self, stream: &str, ids: Vec<String>) -> Vec<Result<Record, Error>> {
        ids.iter()
            .map(|_| {
                Err(Error::unsupported(format!(
                    "stream `{stream}` does not support fetch"
                )))
            })
            .collect()
    }

    /// Applies local changes: exactly one outcome per change, in order.
    /// Change the remote only while it still has the change's
    /// `base_version` (the API's precondition: a version number, `If-Match`,
    /// a sha), and store `change.key` where the remote keeps it with the
    /// item, so that [`reconcile`](Source::reconcile) can recognise the
    /// write later. See `docs/plugin-guide.md`, "Push".
    ///
    /// The default answers `PushOutcome::Failed(Error::Unsupported(..))` for
    /// every change.
    fn push(&self, stream: &str, changes: Vec<Change>) -> Vec<PushOutcome> {
        changes
            .iter()
            .map(|_| {
                PushOutcome::Failed(Error::unsupported(format!(
                    "stream `{stream}` does not support push"
                )))
            })
            .collect()
    }

    /// Tells, for changes sent before whose outcome the host never stored
    /// (a crash, a lost response), whether each took effect: exactly one
    /// answer per change, in order. Read only; never write to the remote.
    ///
    /// The default answers `Reconciliation::Failed(Error::Unsupported(..))`,
    /// which keeps such changes waiting: implement it with `push`.
    fn reconcile(&self, stream: &str, changes: Vec<Change>) -> Vec<Reconciliation> {
        changes
            .iter()
            .map(|_| {
                Reconciliation::Failed(Error::unsupported(format!(
                    "stream `{stream}` does not support push"
                )))
            })
            .collect()
    }
}

/// Exports a [`Source`] implementation as the component's `source` interface.
///
/// Use it once, at the root of the plugin crate (a `cdylib`):
///
/// ```ignore
/// synchost_sdk::export_source!(MyPlugin);
/// ```
///
/// The configured instance returned by [`Source::configure`] is kept for the
/// life of the component instance; `list`, `fetch` and `push` before a
/// successful `configure` fail with [`Error::Fatal`].
#[macro_export]
macro_rules! export_source {
    ($plugin:ty) => {
        #[doc(hidden)]
        type __SynchostSdkExport = $crate::__private::Adapter<$plugin>;
        $crate::bindings::export!(__SynchostSdkExport with_types_in $crate::bindings);
    };
}

#[doc(hidden)]
pub mod __private {
    //! The glue between the generated `Guest` trait and [`Source`]. Not a
    //! public API.
    use super::{
        Change, Detail, Error, ListRequest, Manifest, Page, PushOutcome, Reconciliation, Record,
        Settings, Source, StreamInfo,
    };
    use crate::bindings::exports::synchost::source::source::Guest;
    use std::any::Any;
    use std::cell::RefCell;
    use std::marker::PhantomData;

    thread_local! {
        /// The configured plugin. A component instance is single-threaded and
        /// exports exactly one `Source`, so one slot suffices.
        static INSTANCE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
    }

    /// Implements the generated `Guest` trait for any [`Source`].
    pub struct Adapter<T>(PhantomData<T>);

    fn with_instance<T: Source, R>(f: impl FnOnce(&T) -> R) -> Result<R, Error> {
        INSTANCE.with(|slot| {
            let slot = slot.borrow();
            match slot.as_ref().and_then(|b| b.downcast_ref::<T>()) {
                Some(plugin) => Ok(f(plugin)),
                None => Err(Error::Fatal(
                    "plugin is not configured: the host must call `configure` first".into(),
                )),
            }
        })
    }

    /// One result per input, whatever the plugin returned.
    fn exactly<R>(results: Vec<R>, n: usize, what: &str, wrap: impl Fn(Error) -> R) -> Vec<R> {
        if results.len() == n {
            return results;
        }
        let msg = format!(
            "plugin bug: {what} returned {} results for {n} inputs",
            results.len()
        );
        (0..n).map(|_| wrap(Error::Fatal(msg.clone()))).collect()
    }

    impl<T: Source> Guest for Adapter<T> {
        fn describe() -> Manifest {
            T::describe()
        }

        fn configure(settings: Vec<(String, String)>) -> Result<(), Error> {
            INSTANCE.with(|slot| *slot.borrow_mut() = None);
            let plugin = T::configure(Settings::new(settings))?;
            INSTANCE.with(|slot| *slot.borrow_mut() = Some(Box::new(plugin)));
            Ok(())
        }

        fn streams() -> Result<Vec<StreamInfo>, Error> {
            with_instance(|p: &T| p.streams())?
        }

        fn list(
            stream: String,
            cursor: Option<String>,
            since: Option<String>,
            limit: u32,
            detail: Detail,
        ) -> Result<Page, Error> {
            let req = ListRequest {
                cursor,
                since,
                limit,
                detail,
            };
            with_instance(|p: &T| p.list(&stream, req))?
        }

        fn fetch(stream: String, ids: Vec<String>) -> Vec<Result<Record, Error>> {
            let n = ids.len();
            match with_instance(|p: &T| p.fetch(&stream, ids)) {
                Ok(results) => exactly(results, n, "fetch", Err),
                Err(e) => vec![Err(e); n],
            }
        }

        fn push(stream: String, changes: Vec<Change>) -> Vec<PushOutcome> {
            let n = changes.len();
            match with_instance(|p: &T| p.push(&stream, changes)) {
                Ok(outcomes) => exactly(outcomes, n, "push", PushOutcome::Failed),
                Err(e) => vec![PushOutcome::Failed(e); n],
            }
        }

        fn reconcile(stream: String, changes: Vec<Change>) -> Vec<Reconciliation> {
            let n = changes.len();
            match with_instance(|p: &T| p.reconcile(&stream, changes)) {
                Ok(answers) => exactly(answers, n, "reconcile", Reconciliation::Failed),
                Err(e) => vec![Reconciliation::Failed(e); n],
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::ChangeOp;

        struct Fake {
            answer: usize,
        }

        impl Source for Fake {
            fn describe() -> Manifest {
                Manifest::new("fake", "0.0.1", "test")
            }
            fn configure(settings: Settings) -> Result<Self, Error> {
                Ok(Fake {
                    answer: settings.parse_or("answer", 42)?,
                })
            }
            fn list(&self, _: &str, req: ListRequest) -> Result<Page, Error> {
                let records = (0..req.limit.min(self.answer as u32))
                    .map(|i| Record::new(i.to_string(), "1"))
                    .collect();
                Ok(Page::new(records))
            }
            fn fetch(&self, _: &str, _ids: Vec<String>) -> Vec<Result<Record, Error>> {
                vec![] // wrong on purpose
            }
        }

        type A = Adapter<Fake>;

        #[test]
        fn calls_before_configure_are_fatal() {
            INSTANCE.with(|slot| *slot.borrow_mut() = None);
            let err = A::list("s".into(), None, None, 10, Detail::Full).unwrap_err();
            assert!(
                matches!(err, Error::Fatal(ref m) if m.contains("not configured")),
                "{err}"
            );
            let results = A::fetch("s".into(), vec!["a".into(), "b".into()]);
            assert_eq!(results.len(), 2);
            let outcomes = A::push("s".into(), vec![]);
            assert!(outcomes.is_empty());
        }

        #[test]
        fn configured_instance_receives_calls() {
            A::configure(vec![("answer".into(), "3".into())]).unwrap();
            let page = A::list("s".into(), None, None, 10, Detail::Full).unwrap();
            assert_eq!(page.records.len(), 3);
            // A wrong result count is turned into one error per input.
            let results = A::fetch("s".into(), vec!["a".into(), "b".into()]);
            assert_eq!(results.len(), 2);
            assert!(matches!(&results[0], Err(Error::Fatal(m)) if m.contains("plugin bug")));
            // Default push: unsupported for every change.
            let change = Change {
                key: "k1".into(),
                op: ChangeOp::Delete,
                id: Some("a".into()),
                base_version: Some("1".into()),
                parent_id: None,
                title: None,
                content: None,
                metadata: "{}".into(),
            };
            let answers = A::reconcile("s".into(), vec![change.clone()]);
            assert!(matches!(
                &answers[..],
                [Reconciliation::Failed(Error::Unsupported(_))]
            ));
            let outcomes = A::push("s".into(), vec![change]);
            assert!(matches!(
                &outcomes[..],
                [PushOutcome::Failed(Error::Unsupported(_))]
            ));
        }

        #[test]
        fn failed_configure_leaves_no_instance() {
            let err = A::configure(vec![("answer".into(), "many".into())]).unwrap_err();
            assert!(
                matches!(err, Error::InvalidConfig(ref m) if m.contains("answer")),
                "{err}"
            );
            assert!(A::list("s".into(), None, None, 10, Detail::Full).is_err());
        }
    }
}
