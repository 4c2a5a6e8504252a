//! Constructors and builders for the contract's values.

use crate::{
    AuthInfo, AuthScheme, BlobRef, Error, Manifest, Page, Record, SettingInfo, StreamInfo,
};
use serde::Serialize;

/// A value for an optional text field: `&str`, `String`, `&String`,
/// `Option<String>` or `Option<&str>`. Lets the builders accept what an API
/// response holds without `Some(..)` or `.to_string()` noise.
pub trait IntoOptionString {
    /// Converts into `Option<String>`.
    fn into_option_string(self) -> Option<String>;
}

impl IntoOptionString for String {
    fn into_option_string(self) -> Option<String> {
        Some(self)
    }
}

impl IntoOptionString for &str {
    fn into_option_string(self) -> Option<String> {
        Some(self.to_owned())
    }
}

impl IntoOptionString for &String {
    fn into_option_string(self) -> Option<String> {
        Some(self.clone())
    }
}

impl IntoOptionString for Option<String> {
    fn into_option_string(self) -> Option<String> {
        self
    }
}

impl IntoOptionString for Option<&str> {
    fn into_option_string(self) -> Option<String> {
        self.map(str::to_owned)
    }
}

fn to_json(value: impl Serialize, what: &str) -> String {
    match serde_json::to_string(&value) {
        Ok(json) => json,
        Err(e) => panic!("{what} does not serialize to JSON: {e}"),
    }
}

impl Record {
    /// A partial record: `id` and `version`, no content, metadata `{}`.
    ///
    /// Add fields with the builder methods. A record without content is
    /// partial: the host calls `fetch` for it when its version changed.
    pub fn new(id: impl Into<String>, version: impl Into<String>) -> Self {
        Record {
            id: id.into(),
            version: version.into(),
            updated_at: None,
            parent_id: None,
            title: None,
            path: None,
            content_type: String::new(),
            content: None,
            metadata: "{}".into(),
            blobs: Vec::new(),
        }
    }

    /// Sets the title.
    pub fn title(mut self, title: impl IntoOptionString) -> Self {
        self.title = title.into_option_string();
        self
    }

    /// Sets the last modification time (RFC 3339).
    pub fn updated_at(mut self, updated_at: impl IntoOptionString) -> Self {
        self.updated_at = updated_at.into_option_string();
        self
    }

    /// Sets the id of the parent item in the same source.
    pub fn parent(mut self, parent_id: impl IntoOptionString) -> Self {
        self.parent_id = parent_id.into_option_string();
        self
    }

    /// Sets the path hint (relative, `/`-separated) used by exports: the
    /// files export puts a record without a parent into the hint's
    /// directories (`guides/setup/intro.md` -> `guides/setup/`), made safe.
    pub fn path(mut self, path: impl IntoOptionString) -> Self {
        self.path = path.into_option_string();
        self
    }

    /// Sets the content and its media type, which makes the record complete.
    pub fn content(mut self, bytes: impl Into<Vec<u8>>, media_type: impl Into<String>) -> Self {
        self.content = Some(bytes.into());
        self.content_type = media_type.into();
        self
    }

    /// Sets text content, as `text/plain; charset=utf-8`.
    pub fn content_text(self, text: impl Into<String>) -> Self {
        self.content(text.into().into_bytes(), "text/plain; charset=utf-8")
    }

    /// Sets the content to `value` serialized as JSON (`application/json`).
    ///
    /// # Panics
    ///
    /// If `value` fails to serialize, which only custom `Serialize` impls and
    /// maps with non-string keys do.
    pub fn content_json(self, value: impl Serialize) -> Self {
        self.content(to_json(value, "record content"), "application/json")
    }

    /// Sets the metadata to `value` serialized as JSON; it should be an
    /// object (e.g. `serde_json::json!({"tags": tags})`) of at most 1 MiB.
    ///
    /// # Panics
    ///
    /// If `value` fails to serialize, as for [`Record::content_json`].
    pub fn metadata_json(mut self, value: impl Serialize) -> Self {
        self.metadata = to_json(value, "record metadata");
        self
    }

    /// Adds a binary for the host to download.
    pub fn blob(mut self, blob: BlobRef) -> Self {
        self.blobs.push(blob);
        self
    }

    /// True when the record has content (otherwise the host will `fetch` it).
    pub fn is_complete(&self) -> bool {
        self.content.is_some()
    }
}

impl BlobRef {
    /// A binary at `url` that the host downloads when `version` changes.
    pub fn new(
        name: impl Into<String>,
        url: impl Into<String>,
        media_type: impl Into<String>,
        version: impl Into<String>,
    ) -> Self {
        BlobRef {
            name: name.into(),
            url: url.into(),
            media_type: media_type.into(),
            size: None,
            version: version.into(),
            headers: Vec::new(),
            member: None,
        }
    }

    /// Makes this blob the member `path` (relative, `/`-separated, below the
    /// archive's top-level directory) of the tar.gz archive at the URL: the
    /// host downloads the archive once per run and takes the member from it.
    pub fn member(mut self, path: impl Into<String>) -> Self {
        self.member = Some(path.into());
        self
    }

    /// Adds a request header for the download (never credentials: the host
    /// adds those, and refuses `authorization` here).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the size in bytes.
    pub fn size(mut self, size: impl Into<Option<u64>>) -> Self {
        self.size = size.into();
        self
    }
}

impl Page {
    /// A page holding `records`, with no next cursor (the last page).
    pub fn new(records: Vec<Record>) -> Self {
        Page {
            records,
            deleted: Vec::new(),
            next_cursor: None,
            watermark: None,
            total_hint: None,
        }
    }

    /// Sets the cursor of the next page; `None` when this page is the last.
    pub fn next_cursor(mut self, cursor: impl IntoOptionString) -> Self {
        self.next_cursor = cursor.into_option_string();
        self
    }

    /// Sets the ids the remote reports as deleted (delta listings).
    pub fn deleted(mut self, ids: Vec<String>) -> Self {
        self.deleted = ids;
        self
    }

    /// Sets the watermark to store once this enumeration completes: the value
    /// later passed back as [`ListRequest::since`](crate::ListRequest::since).
    pub fn watermark(mut self, watermark: impl IntoOptionString) -> Self {
        self.watermark = watermark.into_option_string();
        self
    }

    /// Sets the total number of items in the enumeration, when known.
    pub fn total_hint(mut self, total: impl Into<Option<u64>>) -> Self {
        self.total_hint = total.into();
        self
    }
}

impl Manifest {
    /// A manifest with no streams, settings or credentials, a
    /// `max_page_size` of 100 and a `max_push_batch` of 50.
    ///
    /// Pass `env!("CARGO_PKG_VERSION")` as `version`.
    pub fn new(
        name: impl Into<String>,
        version: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Manifest {
            name: name.into(),
            version: version.into(),
            description: description.into(),
            streams: Vec::new(),
            settings: Vec::new(),
            max_page_size: 100,
            max_push_batch: 50,
            auth: None,
            extra_hosts: Vec::new(),
        }
    }

    /// Adds a stream.
    pub fn stream(mut self, stream: StreamInfo) -> Self {
        self.streams.push(stream);
        self
    }

    /// Adds a setting.
    pub fn setting(mut self, setting: SettingInfo) -> Self {
        self.settings.push(setting);
        self
    }

    /// Adds settings, in order.
    pub fn settings(mut self, settings: impl IntoIterator<Item = SettingInfo>) -> Self {
        self.settings.extend(settings);
        self
    }

    /// Sets the largest `limit` the plugin accepts in `list` (at least 1).
    pub fn max_page_size(mut self, max: u32) -> Self {
        self.max_page_size = max.max(1);
        self
    }

    /// Sets the most changes one `push` or `reconcile` call takes (at least
    /// 1); raise it when the plugin writes in bulk.
    pub fn max_push_batch(mut self, max: u32) -> Self {
        self.max_push_batch = max.max(1);
        self
    }

    /// Declares the credentials the remote expects.
    pub fn auth(mut self, auth: AuthInfo) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Declares a host the plugin reaches beyond its base URL's, as an
    /// `allowed_hosts` entry (advice: the user decides).
    pub fn extra_host(mut self, host: impl Into<String>) -> Self {
        self.extra_hosts.push(host.into());
        self
    }
}

impl AuthInfo {
    /// `Authorization: Bearer`, the token in `token_env`.
    pub fn bearer(token_env: &str) -> Self {
        AuthInfo::new(AuthScheme::Bearer, &[("token_env", token_env)])
    }

    /// `Authorization: Basic`, from `username_env` and `password_env`.
    pub fn basic(username_env: &str, password_env: &str) -> Self {
        AuthInfo::new(
            AuthScheme::Basic,
            &[
                ("username_env", username_env),
                ("password_env", password_env),
            ],
        )
    }

    /// One custom header `name`, its value in `value_env`.
    pub fn header(name: &str, value_env: &str) -> Self {
        AuthInfo {
            header_name: Some(name.into()),
            ..AuthInfo::new(AuthScheme::Header, &[("value_env", value_env)])
        }
    }

    /// Supabase: the project key in `key_env` (`apikey`, and the bearer
    /// unless) a user's JWT in `jwt_env`.
    pub fn supabase(key_env: &str, jwt_env: &str) -> Self {
        AuthInfo::new(
            AuthScheme::Supabase,
            &[("key_env", key_env), ("jwt_env", jwt_env)],
        )
    }

    fn new(scheme: AuthScheme, env: &[(&str, &str)]) -> Self {
        AuthInfo {
            scheme,
            env: env
                .iter()
                .map(|(key, var)| (key.to_string(), var.to_string()))
                .collect(),
            header_name: None,
        }
    }
}

impl StreamInfo {
    /// A stream that supports neither delta listings nor push.
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> Self {
        StreamInfo {
            name: name.into(),
            description: description.into(),
            supports_delta: false,
            supports_push: false,
        }
    }

    /// Declares that `list` honours `since` (delta syncs).
    pub fn delta(mut self) -> Self {
        self.supports_delta = true;
        self
    }

    /// Declares that `push` accepts changes for this stream.
    pub fn push(mut self) -> Self {
        self.supports_push = true;
        self
    }
}

impl SettingInfo {
    /// A setting that must be given.
    pub fn required(name: impl Into<String>, description: impl Into<String>) -> Self {
        SettingInfo {
            name: name.into(),
            description: description.into(),
            required: true,
            default_value: None,
        }
    }

    /// A setting that may be absent.
    pub fn optional(name: impl Into<String>, description: impl Into<String>) -> Self {
        SettingInfo {
            required: false,
            ..SettingInfo::required(name, description)
        }
    }

    /// Documents the value used when the setting is absent.
    pub fn default_value(mut self, value: impl Into<String>) -> Self {
        self.default_value = Some(value.into());
        self
    }
}

impl Error {
    /// Credentials are missing, wrong or expired.
    pub fn auth(msg: impl Into<String>) -> Self {
        Error::Auth(msg.into())
    }

    /// A temporary failure; the host retries the call with backoff.
    pub fn transient(msg: impl Into<String>) -> Self {
        Error::Transient(msg.into())
    }

    /// The item no longer exists; the host skips and records it.
    pub fn not_found(msg: impl Into<String>) -> Self {
        Error::NotFound(msg.into())
    }

    /// A setting is wrong; say which.
    pub fn invalid_config(msg: impl Into<String>) -> Self {
        Error::InvalidConfig(msg.into())
    }

    /// The remote answered with something the plugin cannot understand.
    pub fn invalid_response(msg: impl Into<String>) -> Self {
        Error::InvalidResponse(msg.into())
    }

    /// A push was based on a version that is no longer current.
    pub fn conflict(msg: impl Into<String>) -> Self {
        Error::Conflict(msg.into())
    }

    /// The plugin does not support this stream or operation.
    pub fn unsupported(msg: impl Into<String>) -> Self {
        Error::Unsupported(msg.into())
    }

    /// Anything else: the host stops the run with its checkpoint intact.
    pub fn fatal(msg: impl Into<String>) -> Self {
        Error::Fatal(msg.into())
    }

    /// `Unsupported`: the plugin has no stream named `stream`.
    pub fn unknown_stream(stream: &str) -> Self {
        Error::Unsupported(format!("unknown stream `{stream}`"))
    }
}

/// A JSON decoding failure is the remote's fault: `InvalidResponse`.
impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::InvalidResponse(format!("invalid JSON: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn record_builder() {
        let r = Record::new("a", "3")
            .title("Title")
            .updated_at(Some("2026-01-01T00:00:00Z".to_string()))
            .parent(None::<String>)
            .content_text("héllo")
            .metadata_json(json!({"tags": ["x"]}));
        assert_eq!(r.id, "a");
        assert_eq!(r.version, "3");
        assert_eq!(r.title.as_deref(), Some("Title"));
        assert_eq!(r.updated_at.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(r.parent_id, None);
        assert_eq!(r.content.as_deref(), Some("héllo".as_bytes()));
        assert_eq!(r.content_type, "text/plain; charset=utf-8");
        assert_eq!(r.metadata, r#"{"tags":["x"]}"#);
        assert!(r.is_complete());
        assert!(!Record::new("b", "1").is_complete());
        assert_eq!(Record::new("b", "1").metadata, "{}");

        let j = Record::new("c", "1").content_json(json!({"k": 1}));
        assert_eq!(j.content_type, "application/json");
        assert_eq!(j.content.as_deref(), Some(&b"{\"k\":1}"[..]));
    }

    #[test]
    fn page_and_manifest_builders() {
        let p = Page::new(vec![Record::new("a", "1")])
            .next_cursor(Some("c2".to_string()))
            .watermark("17")
            .deleted(vec!["z".into()])
            .total_hint(9);
        assert_eq!(p.next_cursor.as_deref(), Some("c2"));
        assert_eq!(p.watermark.as_deref(), Some("17"));
        assert_eq!(p.deleted, vec!["z".to_string()]);
        assert_eq!(p.total_hint, Some(9));
        assert_eq!(
            Page::new(vec![]).next_cursor(None::<&str>).next_cursor,
            None
        );

        let m = Manifest::new("n", "1.0.0", "d")
            .stream(StreamInfo::new("s", "d").delta())
            .setting(SettingInfo::optional("x", "d").default_value("5"))
            .max_page_size(0);
        assert_eq!(m.max_page_size, 1);
        assert!(m.streams[0].supports_delta && !m.streams[0].supports_push);
        assert!(!m.settings[0].required);
        assert_eq!(m.settings[0].default_value.as_deref(), Some("5"));
    }

    #[test]
    fn error_helpers() {
        assert_eq!(
            Error::unknown_stream("x"),
            Error::Unsupported("unknown stream `x`".into())
        );
        let e: Error = serde_json::from_str::<u32>("nope").unwrap_err().into();
        assert!(matches!(e, Error::InvalidResponse(_)));
    }
}
