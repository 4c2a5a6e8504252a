//! Contract 0.1 in terms of the host's own (0.2) values: what a 0.1 plugin
//! returns is converted up, what the host hands it is converted down. 0.2
//! only added to 0.1 (blob request headers, push keys, `reconcile`), so
//! every 0.1 value has an exact 0.2 counterpart; push values are not
//! converted because a 0.1 plugin is never asked to push
//! ([`super::plugin::push_support`]).

use super::bindings::v0_1;
use super::bindings::{http, log, types};

pub fn manifest(manifest: v0_1::types::Manifest) -> types::Manifest {
    types::Manifest {
        name: manifest.name,
        version: manifest.version,
        description: manifest.description,
        // As declared: `supports-push` is shown by `plugin inspect`, and
        // refused by the host before any push for the contract's sake.
        streams: manifest
            .streams
            .into_iter()
            .map(|stream| types::StreamInfo {
                name: stream.name,
                description: stream.description,
                supports_delta: stream.supports_delta,
                supports_push: stream.supports_push,
            })
            .collect(),
        settings: manifest
            .settings
            .into_iter()
            .map(|setting| types::SettingInfo {
                name: setting.name,
                description: setting.description,
                required: setting.required,
                default_value: setting.default_value,
            })
            .collect(),
        max_page_size: manifest.max_page_size,
        // Never used: a 0.1 plugin is never asked to push.
        max_push_batch: 1,
        auth: None,
        extra_hosts: Vec::new(),
    }
}

pub fn page(page: v0_1::types::Page) -> types::Page {
    types::Page {
        records: page.records.into_iter().map(record).collect(),
        deleted: page.deleted,
        next_cursor: page.next_cursor,
        watermark: page.watermark,
        total_hint: page.total_hint,
    }
}

pub fn record(record: v0_1::types::Record) -> types::Record {
    types::Record {
        id: record.id,
        version: record.version,
        updated_at: record.updated_at,
        parent_id: record.parent_id,
        title: record.title,
        path: record.path,
        content_type: record.content_type,
        content: record.content,
        metadata: record.metadata,
        blobs: record.blobs.into_iter().map(blob_ref).collect(),
    }
}

/// 0.1 had no request headers for downloads and no archive members: none.
pub fn blob_ref(blob: v0_1::types::BlobRef) -> types::BlobRef {
    types::BlobRef {
        name: blob.name,
        url: blob.url,
        headers: Vec::new(),
        media_type: blob.media_type,
        size: blob.size,
        version: blob.version,
        member: None,
    }
}

pub fn error(error: v0_1::types::Error) -> types::Error {
    use v0_1::types::Error as Old;
    match error {
        Old::Auth(why) => types::Error::Auth(why),
        Old::RateLimited(seconds) => types::Error::RateLimited(seconds),
        Old::Transient(why) => types::Error::Transient(why),
        Old::NotFound(why) => types::Error::NotFound(why),
        Old::InvalidConfig(why) => types::Error::InvalidConfig(why),
        Old::InvalidResponse(why) => types::Error::InvalidResponse(why),
        Old::Conflict(why) => types::Error::Conflict(why),
        Old::Unsupported(why) => types::Error::Unsupported(why),
        Old::Fatal(why) => types::Error::Fatal(why),
    }
}

/// Down: the detail the host asks a 0.1 `list` for.
pub fn detail(detail: types::Detail) -> v0_1::types::Detail {
    match detail {
        types::Detail::Full => v0_1::types::Detail::Full,
        types::Detail::IdsOnly => v0_1::types::Detail::IdsOnly,
    }
}

/// A 0.1 plugin's HTTP request, to be sent by the host's (0.2) `http`.
pub fn request(request: v0_1::http::Request) -> http::Request {
    http::Request {
        method: request.method,
        url: request.url,
        headers: request.headers,
        body: request.body,
        timeout_ms: request.timeout_ms,
    }
}

/// Down: the answer to a 0.1 plugin's request.
pub fn response(
    answer: Result<http::Response, http::HttpError>,
) -> Result<v0_1::http::Response, v0_1::http::HttpError> {
    match answer {
        Ok(response) => Ok(v0_1::http::Response {
            status: response.status,
            headers: response.headers,
            body: response.body,
        }),
        Err(http::HttpError::Denied(why)) => Err(v0_1::http::HttpError::Denied(why)),
        Err(http::HttpError::Timeout) => Err(v0_1::http::HttpError::Timeout),
        Err(http::HttpError::Connection(why)) => Err(v0_1::http::HttpError::Connection(why)),
        Err(http::HttpError::TooLarge(cap)) => Err(v0_1::http::HttpError::TooLarge(cap)),
    }
}

pub fn level(level: v0_1::log::Level) -> log::Level {
    match level {
        v0_1::log::Level::Trace => log::Level::Trace,
        v0_1::log::Level::Debug => log::Level::Debug,
        v0_1::log::Level::Info => log::Level::Info,
        v0_1::log::Level::Warn => log::Level::Warn,
        v0_1::log::Level::Error => log::Level::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn old_record(blobs: Vec<v0_1::types::BlobRef>) -> v0_1::types::Record {
        v0_1::types::Record {
            id: "item-000001".into(),
            version: "3".into(),
            updated_at: Some("2026-01-02T03:04:05Z".into()),
            parent_id: Some("item-000000".into()),
            title: Some("Title".into()),
            path: Some("a/b".into()),
            content_type: "text/plain".into(),
            content: Some(b"body".to_vec()),
            metadata: r#"{"tags":["x"]}"#.into(),
            blobs,
        }
    }

    #[test]
    fn records_keep_every_field_and_blobs_get_no_headers() {
        let blob = v0_1::types::BlobRef {
            name: "file.bin".into(),
            url: "https://example.com/file.bin".into(),
            media_type: "application/octet-stream".into(),
            size: Some(42),
            version: "7".into(),
        };
        let record = record(old_record(vec![blob]));
        assert_eq!(record.id, "item-000001");
        assert_eq!(record.version, "3");
        assert_eq!(record.updated_at.as_deref(), Some("2026-01-02T03:04:05Z"));
        assert_eq!(record.parent_id.as_deref(), Some("item-000000"));
        assert_eq!(record.title.as_deref(), Some("Title"));
        assert_eq!(record.path.as_deref(), Some("a/b"));
        assert_eq!(record.content_type, "text/plain");
        assert_eq!(record.content.as_deref(), Some(&b"body"[..]));
        assert_eq!(record.metadata, r#"{"tags":["x"]}"#);
        assert_eq!(
            record.blobs,
            vec![types::BlobRef {
                name: "file.bin".into(),
                url: "https://example.com/file.bin".into(),
                headers: vec![],
                media_type: "application/octet-stream".into(),
                size: Some(42),
                version: "7".into(),
                member: None,
            }]
        );
    }

    #[test]
    fn pages_keep_their_listing_state() {
        let page = page(v0_1::types::Page {
            records: vec![old_record(vec![])],
            deleted: vec!["gone".into()],
            next_cursor: Some("c2".into()),
            watermark: Some("99".into()),
            total_hint: Some(1000),
        });
        assert_eq!(page.records.len(), 1);
        assert_eq!(page.records[0].id, "item-000001");
        assert_eq!(page.deleted, ["gone"]);
        assert_eq!(page.next_cursor.as_deref(), Some("c2"));
        assert_eq!(page.watermark.as_deref(), Some("99"));
        assert_eq!(page.total_hint, Some(1000));
    }

    #[test]
    fn manifests_keep_streams_and_settings() {
        let manifest = manifest(v0_1::types::Manifest {
            name: "legacy".into(),
            version: "1.2.0".into(),
            description: "d".into(),
            streams: vec![v0_1::types::StreamInfo {
                name: "items".into(),
                description: "all".into(),
                supports_delta: true,
                supports_push: true,
            }],
            settings: vec![v0_1::types::SettingInfo {
                name: "base_url".into(),
                description: "root".into(),
                required: true,
                default_value: Some("http://x".into()),
            }],
            max_page_size: 500,
        });
        assert_eq!(
            (manifest.name.as_str(), manifest.version.as_str()),
            ("legacy", "1.2.0")
        );
        assert_eq!(manifest.description, "d");
        assert_eq!(manifest.max_page_size, 500);
        let stream = &manifest.streams[0];
        assert_eq!(
            (
                stream.name.as_str(),
                stream.description.as_str(),
                stream.supports_delta,
                stream.supports_push
            ),
            ("items", "all", true, true)
        );
        let setting = &manifest.settings[0];
        assert_eq!(
            (
                setting.name.as_str(),
                setting.description.as_str(),
                setting.required,
                setting.default_value.as_deref()
            ),
            ("base_url", "root", true, Some("http://x"))
        );
    }

    #[test]
    fn every_error_keeps_its_kind_and_text() {
        use v0_1::types::Error as Old;
        let cases = [
            (Old::Auth("a".into()), types::Error::Auth("a".into())),
            (Old::RateLimited(5), types::Error::RateLimited(5)),
            (
                Old::Transient("t".into()),
                types::Error::Transient("t".into()),
            ),
            (
                Old::NotFound("n".into()),
                types::Error::NotFound("n".into()),
            ),
            (
                Old::InvalidConfig("c".into()),
                types::Error::InvalidConfig("c".into()),
            ),
            (
                Old::InvalidResponse("r".into()),
                types::Error::InvalidResponse("r".into()),
            ),
            (
                Old::Conflict("x".into()),
                types::Error::Conflict("x".into()),
            ),
            (
                Old::Unsupported("u".into()),
                types::Error::Unsupported("u".into()),
            ),
            (Old::Fatal("f".into()), types::Error::Fatal("f".into())),
        ];
        for (old, new) in cases {
            assert_eq!(error(old), new);
        }
    }

    #[test]
    fn details_and_http_values_cross_both_ways() {
        assert!(matches!(
            detail(types::Detail::Full),
            v0_1::types::Detail::Full
        ));
        assert!(matches!(
            detail(types::Detail::IdsOnly),
            v0_1::types::Detail::IdsOnly
        ));
        let sent = request(v0_1::http::Request {
            method: "POST".into(),
            url: "https://example.com/x".into(),
            headers: vec![("accept".into(), "text/plain".into())],
            body: Some(b"b".to_vec()),
            timeout_ms: Some(1500),
        });
        assert_eq!(
            (sent.method.as_str(), sent.url.as_str()),
            ("POST", "https://example.com/x")
        );
        assert_eq!(
            sent.headers,
            [("accept".to_string(), "text/plain".to_string())]
        );
        assert_eq!(
            (sent.body.as_deref(), sent.timeout_ms),
            (Some(&b"b"[..]), Some(1500))
        );
        let answered = response(Ok(http::Response {
            status: 201,
            headers: vec![("etag".into(), "\"1\"".into())],
            body: b"ok".to_vec(),
        }))
        .expect("a response");
        assert_eq!(answered.status, 201);
        assert_eq!(
            answered.headers,
            [("etag".to_string(), "\"1\"".to_string())]
        );
        assert_eq!(answered.body, b"ok");
        assert!(matches!(
            response(Err(http::HttpError::Denied("no".into()))),
            Err(v0_1::http::HttpError::Denied(why)) if why == "no"
        ));
        assert!(matches!(
            response(Err(http::HttpError::Timeout)),
            Err(v0_1::http::HttpError::Timeout)
        ));
        assert!(matches!(
            response(Err(http::HttpError::Connection("reset".into()))),
            Err(v0_1::http::HttpError::Connection(why)) if why == "reset"
        ));
        assert!(matches!(
            response(Err(http::HttpError::TooLarge(9))),
            Err(v0_1::http::HttpError::TooLarge(9))
        ));
        assert!(matches!(level(v0_1::log::Level::Warn), log::Level::Warn));
        assert!(matches!(level(v0_1::log::Level::Trace), log::Level::Trace));
    }
}
