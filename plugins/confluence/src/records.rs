//! API objects to records (the "Record shape" table of
//! `docs/confluence.md`).
//!
//! Every record's `version` is the Confluence `version.number` as a string,
//! in listings and in `fetch` alike (the host compares them to skip
//! unchanged items), and `updated-at` is the version's time. Metadata keeps
//! the API's useful fields under the API's names; `version` is normalized to
//! the v2 shape `{number, createdAt, message, minorEdit, authorId}` for v1
//! objects too (`when` → `createdAt`, `by.accountId` → `authorId`).

use crate::api::{self, Content, V1Version, V2Version};
use crate::config::BodyFormat;
use crate::cursor;
use crate::extras;
use serde_json::{Map, Value};
use synchost_sdk::{BlobRef, Record};

/// A JSON object that leaves out absent fields.
struct Meta(Map<String, Value>);

impl Meta {
    fn new() -> Meta {
        Meta(Map::new())
    }

    fn put(mut self, key: &str, value: Option<impl Into<Value>>) -> Meta {
        if let Some(value) = value {
            self.0.insert(key.to_owned(), value.into());
        }
        self
    }

    fn into_json(self) -> Value {
        Value::Object(self.0)
    }
}

fn v2_version_meta(v: &V2Version) -> Value {
    Meta::new()
        .put("number", Some(v.number))
        .put("createdAt", v.created_at.clone())
        .put("message", v.message.clone())
        .put("minorEdit", v.minor_edit)
        .put("authorId", v.author_id.clone())
        .into_json()
}

fn v1_version_meta(v: &V1Version) -> Value {
    Meta::new()
        .put("number", Some(v.number))
        .put("createdAt", v.when.clone())
        .put("message", v.message.clone())
        .put("minorEdit", v.minor_edit)
        .put(
            "authorId",
            v.by.as_ref().and_then(|by| by.account_id.clone()),
        )
        .into_json()
}

fn links(links: Option<Map<String, Value>>) -> Option<Value> {
    links.map(Value::Object)
}

/// `_links` as given, for the metadata, when it is an object (read
/// loosely: another type is left out).
fn object(links: Option<Value>) -> Option<Value> {
    links.filter(Value::is_object)
}

/// A v2 page or blog post: complete when its body in `format` is present,
/// partial (the host then fetches it) when the listing was asked without
/// bodies. A blog post's path hint files it under `Blog/YYYY/MM/` by the
/// month it was created, as Confluence's blog navigation groups them (the
/// mirrors take a parentless record's directories from its hint).
pub fn page(p: api::Page, format: BodyFormat, kind: api::Kind) -> Record {
    let path = match kind {
        api::Kind::Page => None,
        api::Kind::BlogPost => Some(blog_path(p.created_at.as_deref(), &p.id)),
    };
    let version = p.version;
    let metadata = Meta::new()
        .put("status", p.status)
        .put("version", Some(v2_version_meta(&version)))
        .put("authorId", p.author_id)
        .put("createdAt", p.created_at)
        .put("parentType", p.parent_type)
        .put("position", p.position)
        .put("spaceId", p.space_id)
        .put("_links", links(p.links));
    let mut record = Record::new(p.id, version.number.to_string())
        .title(p.title)
        .parent(p.parent_id)
        .updated_at(version.created_at)
        .metadata_json(metadata.into_json());
    if let Some(path) = path {
        record = record.path(path);
    }
    match p.body.as_ref().and_then(|b| b.get(format)) {
        Some(body) => record.content(body.as_bytes(), format.media_type()),
        None => record,
    }
}

/// `Blog/YYYY/MM/ID` from a creation time `YYYY-MM-...`; `Blog/ID` when the
/// time is absent or not of that shape (remote text never makes a directory).
fn blog_path(created_at: Option<&str>, id: &str) -> String {
    let month = created_at
        .and_then(|t| t.get(..7))
        .filter(|ym| {
            let (year, month) = ym.split_at(4);
            year.bytes().all(|b| b.is_ascii_digit())
                && month.len() == 3
                && month.as_bytes()[0] == b'-'
                && month[1..].bytes().all(|b| b.is_ascii_digit())
        })
        .map(|ym| format!("{}/{}/", &ym[..4], &ym[5..]));
    format!("Blog/{}{id}", month.unwrap_or_default())
}

/// A v2 folder: complete, with empty content.
pub fn folder(f: api::Folder) -> Record {
    let version = f.version;
    let metadata = Meta::new()
        .put("status", f.status)
        .put("version", Some(v2_version_meta(&version)))
        .put("parentType", f.parent_type)
        .put("position", f.position)
        .put("authorId", f.author_id)
        .put("ownerId", f.owner_id)
        .put("createdAt", f.created_at)
        .put("spaceId", f.space_id)
        .put("_links", links(f.links));
    Record::new(f.id, version.number.to_string())
        .title(f.title)
        .parent(f.parent_id)
        .updated_at(version.created_at)
        .content(Vec::new(), "")
        .metadata_json(metadata.into_json())
}

/// A partial record from a CQL search (`expand=version`): id, version,
/// title and time; the host fetches the complete one if the version changed.
pub fn partial(c: Content) -> Record {
    Record::new(c.id, c.version.number.to_string())
        .title(c.title)
        .updated_at(c.version.when)
}

/// What an attachment record is made of, whichever API answered.
struct AttachmentParts {
    id: String,
    number: i64,
    /// The normalized version object, and its time.
    version: Value,
    updated_at: Option<String>,
    title: Option<String>,
    /// The containing page (or blog post).
    parent: Option<String>,
    status: Option<String>,
    media_type: Option<String>,
    file_size: Option<u64>,
    comment: Option<String>,
    /// The download link relative to `base_url` (`/wiki/download/…`).
    download: Option<String>,
    /// `_links`, when an object.
    links: Option<Value>,
}

/// Complete with empty content and one blob, `file`, that the host
/// downloads from `base_url + /wiki/download/…` when its version changed.
fn attachment_record(a: AttachmentParts, base_url: &str) -> Record {
    let number = a.number.to_string();
    let blob = a.download.map(|link| {
        let media_type = a.media_type.clone();
        BlobRef::new(
            "file",
            cursor::resolve(base_url, &link),
            media_type.unwrap_or_else(|| "application/octet-stream".into()),
            number.clone(),
        )
        .size(a.file_size)
    });
    let metadata = Meta::new()
        .put("status", a.status)
        .put("mediaType", a.media_type)
        .put("fileSize", a.file_size)
        .put("comment", a.comment)
        .put("version", Some(a.version))
        .put("_links", a.links);
    let mut record = Record::new(a.id, number)
        .title(a.title)
        .parent(a.parent)
        .updated_at(a.updated_at)
        .content(Vec::new(), "")
        .metadata_json(metadata.into_json());
    if let Some(blob) = blob {
        record = record.blob(blob);
    }
    record
}

/// A v1 attachment from the content search (`expand=version,container`):
/// file facts in `extensions` (or `metadata`), the download link relative to
/// the answer's `context`. A `_links.download` of the wrong type is an
/// error: the record would lose its file.
pub fn attachment(c: Content, base_url: &str, context: Option<&str>) -> Result<Record, String> {
    let version = c.version;
    let (ext, meta) = (
        c.extensions.unwrap_or_default(),
        c.metadata.unwrap_or_default(),
    );
    let download = api::link(c.links.as_ref(), "download")?;
    let parts = AttachmentParts {
        download: cursor::v1_link(context, download),
        number: version.number,
        version: v1_version_meta(&version),
        updated_at: version.when,
        id: c.id,
        title: c.title,
        parent: c.container.and_then(|container| container.id),
        status: c.status,
        media_type: ext.media_type.or(meta.media_type),
        file_size: ext.file_size.or(meta.file_size),
        comment: ext.comment.or(meta.comment),
        links: object(c.links),
    };
    Ok(attachment_record(parts, base_url))
}

/// A v2 attachment (`GET /attachments/{id}`), the same record as from the
/// search: its download link is relative to `_links.base` (`…/wiki`).
pub fn attachment_v2(a: api::Attachment, base_url: &str) -> Result<Record, String> {
    let version = a.version;
    let download = match a.download_link.clone() {
        Some(link) => Some(link),
        None => api::link(a.links.as_ref(), "download")?.map(str::to_owned),
    };
    let parts = AttachmentParts {
        download: cursor::v1_link(Some(cursor::DEFAULT_CONTEXT), download.as_deref()),
        number: version.number,
        version: v2_version_meta(&version),
        updated_at: version.created_at,
        id: a.id,
        title: a.title,
        parent: a.page_id.or(a.blog_post_id).or(a.custom_content_id),
        status: a.status,
        media_type: a.media_type,
        file_size: a.file_size,
        comment: a.comment,
        links: object(a.links),
    };
    Ok(attachment_record(parts, base_url))
}

/// Characters of an inline comment's anchor text or marker.
const MAX_ANCHOR_CHARS: usize = 16 * 1024;
/// Characters of an inline comment's resolution status.
const MAX_STATUS_CHARS: usize = 32;

/// A v1 comment (`expand=version,container,body.FORMAT`): complete with its
/// body (empty if the answer had none in `format`). An inline comment
/// (`extensions.location` `inline`, with `extensions.inlineProperties` and
/// `extensions.resolution`) also carries its
/// anchor and resolution under the v2 names; its version is
/// `number+hash` of the resolution, which Confluence changes without a new
/// version ([`extras::suffixed`]).
pub fn comment(c: Content, format: BodyFormat) -> Result<Record, String> {
    let version = c.version;
    let mut ext = c.extensions.unwrap_or_default();
    if ext.location.as_deref() != Some("inline") {
        // Anchors and resolutions are only an inline comment's.
        (ext.inline_properties, ext.resolution) = (None, None);
    }
    let anchor = ext.inline_properties.unwrap_or_default();
    let bounded = |text: Option<String>, max: usize, what: &str| {
        text.map(|t| extras::bounded(&t, max, what)).transpose()
    };
    let status = bounded(
        ext.resolution.and_then(|r| r.status),
        MAX_STATUS_CHARS,
        "extensions.resolution.status",
    )?;
    let marker = bounded(
        anchor.marker_ref,
        MAX_ANCHOR_CHARS,
        "extensions.inlineProperties.markerRef",
    )?;
    let selection = anchor
        .original_selection
        .map(|text| match text.chars().count() > MAX_ANCHOR_CHARS {
            // The anchor is page text: newlines and tabs are fine.
            true => Err(format!(
                "extensions.inlineProperties.originalSelection has more than \
                 {MAX_ANCHOR_CHARS} characters"
            )),
            false => Ok(text),
        })
        .transpose()?;
    let number = version.number.to_string();
    let record_version = match &status {
        Some(status) => {
            let mut resolution = Map::new();
            resolution.insert("resolutionStatus".into(), Value::from(status.clone()));
            extras::suffixed(&number, resolution)
        }
        None => number,
    };
    let body = c
        .body
        .as_ref()
        .and_then(|b| b.get(format))
        .unwrap_or_default()
        .as_bytes()
        .to_vec();
    let metadata = Meta::new()
        .put("status", c.status)
        .put("location", ext.location)
        .put("resolutionStatus", status)
        .put("inlineMarkerRef", marker)
        .put("inlineOriginalSelection", selection)
        .put("version", Some(v1_version_meta(&version)))
        .put("_links", object(c.links));
    Ok(Record::new(c.id, record_version)
        .title(c.title)
        .parent(c.container.and_then(|container| container.id))
        .updated_at(version.when)
        .content(body, format.media_type())
        .metadata_json(metadata.into_json()))
}

/// True when a v1 comment entry (read as it came) is an inline comment:
/// `extensions.location` is `inline`. Footer comments say `footer`; one that
/// says nothing is taken as a footer comment, as before inline comments had
/// their own stream.
pub fn is_inline(entry: &Value) -> bool {
    entry
        .pointer("/extensions/location")
        .and_then(Value::as_str)
        == Some("inline")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(r: &Record) -> Value {
        serde_json::from_str(&r.metadata).unwrap()
    }

    /// The `PageSingle` example of api-contracts.md §1.5.
    const PAGE: &str = r#"{"id":"123456","status":"current","title":"Runbook","spaceId":"131189",
        "parentId":"98765","parentType":"page","position":3,
        "authorId":"712020:a","ownerId":"712020:a","lastOwnerId":null,"createdAt":"2025-06-26T20:39:16.596Z",
        "version":{"createdAt":"2025-07-01T10:00:00.000Z","message":"","number":7,"minorEdit":false,"authorId":"712020:b"},
        "body":{"storage":{"representation":"storage","value":"<p>Hello</p>"}},
        "_links":{"webui":"/spaces/SD/pages/123456/Runbook","editui":"/pages/resumedraft.action?draftId=123456","tinyui":"/x/AYAK","base":"https://site.atlassian.net/wiki"}}"#;

    #[test]
    fn complete_page() {
        let p: api::Page = serde_json::from_str(PAGE).unwrap();
        let r = page(p, BodyFormat::Storage, api::Kind::Page);
        assert_eq!(r.id, "123456");
        assert_eq!(r.version, "7");
        assert_eq!(r.title.as_deref(), Some("Runbook"));
        assert_eq!(r.parent_id.as_deref(), Some("98765"));
        assert_eq!(r.updated_at.as_deref(), Some("2025-07-01T10:00:00.000Z"));
        assert_eq!(r.content.as_deref(), Some(&b"<p>Hello</p>"[..]));
        assert_eq!(r.content_type, "application/vnd.atlassian.storage+xml");
        let m = meta(&r);
        assert_eq!(m["status"], "current");
        assert_eq!(
            m["version"],
            json!({"number":7,"createdAt":"2025-07-01T10:00:00.000Z","message":"","minorEdit":false,"authorId":"712020:b"})
        );
        assert_eq!(m["authorId"], "712020:a");
        assert_eq!(m["createdAt"], "2025-06-26T20:39:16.596Z");
        assert_eq!(m["parentType"], "page");
        assert_eq!(m["position"], 3);
        assert_eq!(m["spaceId"], "131189");
        assert_eq!(m["_links"]["webui"], "/spaces/SD/pages/123456/Runbook");
        assert_eq!(r.path, None, "a page's place is its parent");
    }

    #[test]
    fn blog_posts_are_filed_by_creation_month() {
        let p: api::Page = serde_json::from_str(PAGE).unwrap();
        let r = page(p, BodyFormat::Storage, api::Kind::BlogPost);
        assert_eq!(r.path.as_deref(), Some("Blog/2025/06/123456"));
        // A time of another shape never makes directories of remote text.
        for odd in [
            None,
            Some("2025"),
            Some("../../x"),
            Some("20a5-06-01"),
            Some("2025/06/01"),
        ] {
            assert_eq!(blog_path(odd, "7"), "Blog/7", "{odd:?}");
        }
    }

    #[test]
    fn page_without_body_is_partial() {
        // The real list item of api-contracts.md §1.2: `body` is `{}` without
        // `body-format`, extra fields are ignored, no parent at the root.
        let listed = r#"{"spaceId":"131189","createdAt":"2025-06-26T20:39:16.596Z","authorId":"712020:d",
          "version":{"number":1,"message":"initial ideas","minorEdit":false,"authorId":"712020:d","createdAt":"2025-06-26T20:39:16.607Z","ncsStepVersion":"4"},
          "body":{},"status":"current","title":"First","id":"688129","parentId":null,
          "_links":{"editui":"/pages/resumedraft.action?draftId=688129","tinyui":"/x/AYAK"}}"#;
        let r = page(
            serde_json::from_str(listed).unwrap(),
            BodyFormat::Storage,
            api::Kind::Page,
        );
        assert!(!r.is_complete());
        assert_eq!(r.version, "1");
        assert_eq!(r.parent_id, None);
        // A body in the other format does not count.
        let p: api::Page = serde_json::from_str(PAGE).unwrap();
        assert!(!page(p, BodyFormat::AtlasDocFormat, api::Kind::Page).is_complete());
    }

    #[test]
    fn adf_page() {
        let p: api::Page = serde_json::from_str(
            r#"{"id":"9","version":{"number":2},"body":{"atlas_doc_format":{"representation":"atlas_doc_format","value":"{\"type\":\"doc\"}"}}}"#,
        )
        .unwrap();
        let r = page(p, BodyFormat::AtlasDocFormat, api::Kind::Page);
        assert_eq!(r.content.as_deref(), Some(&br#"{"type":"doc"}"#[..]));
        assert_eq!(r.content_type, "application/vnd.atlassian.adf+json");
    }

    #[test]
    fn folder_record() {
        let f: api::Folder = serde_json::from_str(
            r#"{"id":"98765","type":"folder","status":"current","title":"Guides","parentId":"1","parentType":"page",
                "position":0,"authorId":"a","ownerId":"o","createdAt":"2025-01-01T00:00:00.000Z","spaceId":"131189",
                "version":{"createdAt":"2025-02-01T00:00:00.000Z","number":3,"minorEdit":false,"authorId":"a"},
                "_links":{"webui":"/spaces/SD/folder/98765","base":"https://site.atlassian.net/wiki"}}"#,
        )
        .unwrap();
        let r = folder(f);
        assert_eq!((r.id.as_str(), r.version.as_str()), ("98765", "3"));
        assert_eq!(r.title.as_deref(), Some("Guides"));
        assert_eq!(r.parent_id.as_deref(), Some("1"));
        assert_eq!(r.content.as_deref(), Some(&b""[..]), "complete, empty");
        assert_eq!(r.updated_at.as_deref(), Some("2025-02-01T00:00:00.000Z"));
        let m = meta(&r);
        assert_eq!(m["parentType"], "page");
        assert_eq!(m["version"]["number"], 3);
        assert_eq!(m["_links"]["webui"], "/spaces/SD/folder/98765");
    }

    #[test]
    fn partial_from_search() {
        let c: Content = serde_json::from_str(
            r#"{"id":"42","type":"page","status":"current","title":"T",
                "version":{"by":{"type":"known","accountId":"u"},"when":"2026-01-02T03:04:05.000Z","number":12,"minorEdit":true}}"#,
        )
        .unwrap();
        let r = partial(c);
        assert_eq!((r.id.as_str(), r.version.as_str()), ("42", "12"));
        assert_eq!(r.updated_at.as_deref(), Some("2026-01-02T03:04:05.000Z"));
        assert!(!r.is_complete());
    }

    /// A v1 attachment as the content search returns it with
    /// `expand=version,container` (download link as in api-contracts §1.7).
    #[test]
    fn attachment_record() {
        let c: Content = serde_json::from_str(
            r#"{"id":"att3997705","type":"attachment","status":"current","title":"skill_doc_test.txt",
                "container":{"id":"3964929","type":"page","status":"current","title":"Skills"},
                "version":{"by":{"accountId":"u"},"when":"2026-05-27T08:35:20.913Z","number":2,"minorEdit":false,"message":""},
                "metadata":{"mediaType":"text/plain","comment":"notes"},
                "extensions":{"mediaType":"text/plain","fileSize":8192,"comment":"notes"},
                "_links":{"webui":"/pages/viewpageattachments.action?pageId=3964929","download":"/download/attachments/3964929/skill_doc_test.txt?version=2&modificationDate=1779866120913&cacheVersion=1&api=v2"}}"#,
        )
        .unwrap();
        let r = attachment(c, "https://site.atlassian.net", Some("/wiki")).unwrap();
        assert_eq!((r.id.as_str(), r.version.as_str()), ("att3997705", "2"));
        assert_eq!(r.title.as_deref(), Some("skill_doc_test.txt"));
        assert_eq!(r.parent_id.as_deref(), Some("3964929"));
        assert_eq!(r.content.as_deref(), Some(&b""[..]), "complete, empty");
        assert_eq!(
            r.blobs,
            vec![BlobRef {
                name: "file".into(),
                url: "https://site.atlassian.net/wiki/download/attachments/3964929/skill_doc_test.txt?version=2&modificationDate=1779866120913&cacheVersion=1&api=v2".into(),
                headers: vec![],
                media_type: "text/plain".into(),
                size: Some(8192),
                version: "2".into(),
                member: None,
            }]
        );
        let m = meta(&r);
        assert_eq!(m["mediaType"], "text/plain");
        assert_eq!(m["fileSize"], 8192);
        assert_eq!(m["comment"], "notes");
        assert_eq!(m["version"]["createdAt"], "2026-05-27T08:35:20.913Z");
        assert_eq!(m["version"]["authorId"], "u");

        // Only `metadata`, no download link: no blob, facts still kept.
        let c: Content = serde_json::from_str(
            r#"{"id":"att1","status":"current","title":"a.bin","version":{"number":1},"metadata":{"mediaType":"image/png"}}"#,
        )
        .unwrap();
        let r = attachment(c, "http://h", None).unwrap();
        assert!(r.blobs.is_empty());
        assert_eq!(meta(&r)["mediaType"], "image/png");
    }

    /// The same attachment through `GET /wiki/api/v2/attachments/{id}`
    /// gives the same record (what the host compares).
    #[test]
    fn v2_attachment_matches_the_search() {
        let a: api::Attachment = serde_json::from_str(
            r#"{"id":"att3997705","status":"current","title":"skill_doc_test.txt","createdAt":"2026-05-27T08:35:20.913Z",
                "pageId":"3964929","mediaType":"text/plain","mediaTypeDescription":"Text","comment":"notes",
                "fileId":"f-1","fileSize":8192,"webuiLink":"/pages/viewpageattachments.action?pageId=3964929",
                "downloadLink":"/download/attachments/3964929/skill_doc_test.txt?version=2&modificationDate=1779866120913&cacheVersion=1&api=v2",
                "version":{"createdAt":"2026-05-27T08:35:20.913Z","message":"","number":2,"minorEdit":false,"authorId":"u"},
                "_links":{"webui":"/pages/viewpageattachments.action?pageId=3964929","download":"/download/attachments/3964929/skill_doc_test.txt?version=2&modificationDate=1779866120913&cacheVersion=1&api=v2","base":"https://site.atlassian.net/wiki"}}"#,
        )
        .unwrap();
        let r = attachment_v2(a, "https://site.atlassian.net").unwrap();
        assert_eq!((r.id.as_str(), r.version.as_str()), ("att3997705", "2"));
        assert_eq!(r.parent_id.as_deref(), Some("3964929"));
        assert_eq!(r.updated_at.as_deref(), Some("2026-05-27T08:35:20.913Z"));
        assert_eq!(r.blobs.len(), 1);
        assert_eq!(
            r.blobs[0].url,
            "https://site.atlassian.net/wiki/download/attachments/3964929/skill_doc_test.txt?version=2&modificationDate=1779866120913&cacheVersion=1&api=v2"
        );
        assert_eq!(
            (r.blobs[0].size, r.blobs[0].version.as_str()),
            (Some(8192), "2")
        );
        let m = meta(&r);
        assert_eq!(m["mediaType"], "text/plain");
        assert_eq!(m["comment"], "notes");
        assert_eq!(m["version"]["createdAt"], "2026-05-27T08:35:20.913Z");
        assert_eq!(m["version"]["authorId"], "u");
    }

    #[test]
    fn comment_record() {
        let c: Content = serde_json::from_str(
            r#"{"id":"77","type":"comment","status":"current","title":"Re: Runbook",
                "container":{"id":"123456","type":"page"},
                "extensions":{"location":"footer"},
                "body":{"storage":{"value":"<p>Nice</p>","representation":"storage"}},
                "version":{"when":"2026-01-01T00:00:00.000Z","number":1,"minorEdit":false},
                "_links":{"webui":"/spaces/SD/pages/123456/Runbook?focusedCommentId=77"}}"#,
        )
        .unwrap();
        let r = comment(c, BodyFormat::Storage).unwrap();
        assert_eq!((r.id.as_str(), r.version.as_str()), ("77", "1"));
        assert_eq!(r.parent_id.as_deref(), Some("123456"));
        assert_eq!(r.content.as_deref(), Some(&b"<p>Nice</p>"[..]));
        assert_eq!(r.content_type, "application/vnd.atlassian.storage+xml");
        let m = meta(&r);
        assert_eq!(m["location"], "footer");
        assert_eq!(m["status"], "current");
        assert_eq!(m["version"]["number"], 1);
    }
}
