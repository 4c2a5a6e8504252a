//! v2 JSON objects (PageBulk/PageSingle, FolderSingle, AttachmentBulk,
//! PageCommentModel, SpaceBulk) and the `MultiEntityResult` answer with its
//! `_links` and `Link` header.

use axum::http::{header, HeaderValue, Uri};
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::content::{self, Doc, USERS};
use super::cursor;
use super::data::{Attachment, Comment, Data, Kind, Meta, Node, Parent};
use super::v2_params::BodyFormat;
use super::{iso_ms, json_ok, Store};

/// `{}` without a format, else `{"<format>": {"representation", "value"}}`.
pub fn body_json(doc: impl FnOnce() -> Doc, fmt: Option<BodyFormat>) -> Value {
    let Some(fmt) = fmt else {
        return json!({});
    };
    let doc = doc();
    let (name, value) = match fmt {
        BodyFormat::Storage => ("storage", doc.storage),
        BodyFormat::AtlasDoc => ("atlas_doc_format", doc.adf),
        BodyFormat::View(name) => (name, doc.view),
        BodyFormat::Editor => ("editor", doc.storage),
    };
    json!({ name: {"representation": name, "value": value} })
}

pub fn user(i: usize) -> &'static str {
    USERS[i % USERS.len()].0
}

pub fn version_json(meta: &Meta) -> Value {
    json!({
        "createdAt": iso_ms(meta.modified),
        "message": meta.message,
        "number": meta.version,
        "minorEdit": false,
        "authorId": user(meta.editor),
    })
}

pub fn parent_fields(obj: &mut Map<String, Value>, parent: Option<Parent>) {
    obj.insert("parentId".into(), parent.map(|p| p.id().to_string()).into());
    obj.insert("parentType".into(), parent.map(|p| p.type_name()).into());
}

/// `/spaces/KEY/pages/ID/Title+With+Plus`.
pub fn page_webui(store: &Store, id: u64, title: &str) -> String {
    format!(
        "/spaces/{}/pages/{id}/{}",
        store.space_key,
        cursor::webui_title(title)
    )
}

/// `/spaces/KEY/blog/2025/06/26/ID/Title+With+Plus` (the creation date).
pub fn blogpost_webui(store: &Store, id: u64, meta: &Meta) -> String {
    let day = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(meta.created)
        .map(|d| d.format("%Y/%m/%d").to_string())
        .unwrap_or_default();
    format!(
        "/spaces/{}/blog/{day}/{id}/{}",
        store.space_key,
        cursor::webui_title(&meta.title)
    )
}

/// The web UI link of page or blog post `id` (`kind`).
pub fn node_webui(store: &Store, kind: Kind, id: u64, meta: &Meta) -> String {
    if kind == Kind::BlogPost {
        blogpost_webui(store, id, meta)
    } else {
        page_webui(store, id, &meta.title)
    }
}

/// The web UI link of page or blog post `id` (empty title when gone).
pub fn container_webui(store: &Store, data: &Data, id: u64) -> String {
    match (data.container_kind(id), data.container(id)) {
        (Some(kind), Some(n)) => node_webui(store, kind, id, &n.meta),
        _ => page_webui(store, id, ""),
    }
}

/// A PageBulk (PageSingle with `base`).
pub fn page_json(
    store: &Store,
    id: u64,
    n: &Node,
    fmt: Option<BodyFormat>,
    base: Option<&str>,
) -> Value {
    node_json(store, Kind::Page, id, n, fmt, base)
}

/// A PageBulk or BlogPostBulk (`kind`); the Single with `base`.
pub fn node_json(
    store: &Store,
    kind: Kind,
    id: u64,
    n: &Node,
    fmt: Option<BodyFormat>,
    base: Option<&str>,
) -> Value {
    let blog = kind == Kind::BlogPost;
    let mut v = json!({
        "id": id.to_string(),
        "status": "current",
        "title": n.meta.title,
        "spaceId": store.space_id.to_string(),
        "authorId": user(n.meta.author),
        "createdAt": iso_ms(n.meta.created),
        "version": version_json(&n.meta),
        "body": body_json(|| content::node_doc(store.seed, id, n), fmt),
        "_links": {
            "editui": format!("/pages/resumedraft.action?draftId={id}"),
            "webui": node_webui(store, kind, id, &n.meta),
            "edituiv2": format!("/spaces/{}/{}/edit-v2/{id}", store.space_key, if blog { "blog" } else { "pages" }),
            "tinyui": cursor::tiny_ui(id),
        },
    });
    let obj = v.as_object_mut().expect("object");
    if !blog {
        obj.insert("position".into(), n.position.into());
        obj.insert("ownerId".into(), user(n.meta.author).into());
        obj.insert("lastOwnerId".into(), Value::Null);
        parent_fields(obj, n.parent);
    }
    if let Some(base) = base {
        obj["_links"]["base"] = base.into();
    }
    store.shapes().v2(kind, id, &mut v);
    v
}

pub fn folder_json(store: &Store, id: u64, n: &Node, base: &str) -> Value {
    let mut v = json!({
        "id": id.to_string(),
        "type": "folder",
        "status": "current",
        "title": n.meta.title,
        "position": n.position,
        "authorId": user(n.meta.author),
        "ownerId": user(n.meta.author),
        "createdAt": iso_ms(n.meta.created),
        "spaceId": store.space_id.to_string(),
        "version": version_json(&n.meta),
        "_links": {"webui": format!("/spaces/{}/folder/{id}", store.space_key), "base": base},
    });
    parent_fields(v.as_object_mut().expect("object"), n.parent);
    store.shapes().v2(Kind::Folder, id, &mut v);
    v
}

/// A deterministic UUID-looking `fileId`.
pub fn file_id(seed: u64, id: u64) -> String {
    crate::fake::words::uuid_v4(content::mix(seed, 4, id, 0), content::mix(seed, 5, id, 0))
}

/// `/download/attachments/PAGE/FILE?version=N&modificationDate=MS&cacheVersion=1&api=v2`.
pub fn download_link(a: &Attachment) -> String {
    format!(
        "/download/attachments/{}/{}?version={}&modificationDate={}&cacheVersion=1&api=v2",
        a.page,
        cursor::encode_segment(&a.meta.title),
        a.meta.version,
        a.meta.modified
    )
}

/// The attachment preview link on its page.
pub fn attachment_webui(store: &Store, data: &Data, id: u64, a: &Attachment) -> String {
    format!(
        "{}?preview={}",
        container_webui(store, data, a.page),
        cursor::encode_segment(&format!("/{}/{id}/{}", a.page, a.meta.title))
    )
}

pub fn attachment_json(
    store: &Store,
    data: &Data,
    id: u64,
    a: &Attachment,
    base: Option<&str>,
) -> Value {
    let media = content::MEDIA[a.media];
    let webui = attachment_webui(store, data, id, a);
    let download = download_link(a);
    let mut v = json!({
        "id": format!("att{id}"),
        "status": "current",
        "title": a.meta.title,
        "createdAt": iso_ms(a.meta.created),
        container_field(data, a.page): a.page.to_string(),
        "mediaType": media.media_type,
        "mediaTypeDescription": media.description,
        "comment": a.comment,
        "fileId": file_id(store.seed, id),
        "fileSize": store.attachment_bytes,
        "webuiLink": webui,
        "downloadLink": download,
        "version": version_json(&a.meta),
        "_links": {"webui": webui, "download": download},
    });
    if let Some(base) = base {
        v["_links"]["base"] = base.into();
    }
    store.shapes().v2(Kind::Attachment, id, &mut v);
    v
}

/// `pageId` or `blogPostId`: the field naming container `id`.
pub fn container_field(data: &Data, id: u64) -> &'static str {
    if data.blogposts.contains_key(&id) {
        "blogPostId"
    } else {
        "pageId"
    }
}

/// A PageCommentModel / BlogPostCommentModel, or for inline comments a
/// PageInlineCommentModel / BlogPostInlineCommentModel (with
/// `resolutionStatus` and `properties.inlineMarkerRef` /
/// `inlineOriginalSelection`).
pub fn comment_json(
    store: &Store,
    data: &Data,
    id: u64,
    c: &Comment,
    fmt: Option<BodyFormat>,
) -> Value {
    let mut v = json!({
        "id": id.to_string(),
        "status": "current",
        "title": c.meta.title,
        container_field(data, c.page): c.page.to_string(),
        "version": version_json(&c.meta),
        "body": body_json(|| content::comment_doc(store.seed, id, c.meta.version), fmt),
        "_links": {"webui": format!("{}?focusedCommentId={id}", container_webui(store, data, c.page))},
    });
    if let Some(status) = c.inline {
        let (reference, selection) = content::marker(store.seed, id);
        v["resolutionStatus"] = status.into();
        v["properties"] = json!({
            "inlineMarkerRef": reference,
            "inlineOriginalSelection": selection,
        });
    }
    store.shapes().v2(c.kind(), id, &mut v);
    v
}

/// A `MultiEntityResult`: results, `_links` {next?, base} and the `Link` header.
pub fn list_response(
    base: &str,
    uri: &Uri,
    raw_query: Option<&str>,
    results: Vec<Value>,
    next: Option<String>,
) -> Response {
    let mut links = Map::new();
    let mut link_header = String::new();
    if let Some(c) = next {
        let mut parts = cursor::query_without(raw_query, &["cursor"]);
        parts.push(format!("cursor={}", cursor::v2_cursor_in_link(&c)));
        let next = format!("{}?{}", uri.path(), parts.join("&"));
        link_header = format!("<{next}>; rel=\"next\", ");
        links.insert("next".into(), next.into());
    }
    links.insert("base".into(), base.into());
    link_header.push_str(&format!("<{base}>; rel=\"base\""));
    let mut resp = json_ok(&json!({"results": results, "_links": links}));
    if let Ok(h) = HeaderValue::from_str(&link_header) {
        resp.headers_mut().insert(header::LINK, h);
    }
    resp
}

pub fn space_json(store: &Store, data: &Data) -> Value {
    let mut v = json!({
        "id": store.space_id.to_string(),
        "key": store.space_key,
        "name": format!("{} space", store.space_key),
        "type": "global",
        "status": "current",
        "authorId": user(0),
        "currentActiveAlias": store.space_key,
        "createdAt": iso_ms(super::data::BASE_MS - 86_400_000),
        "homepageId": data.homepage.map(|h| h.to_string()),
        "description": null,
        "icon": null,
        "_links": {"webui": format!("/spaces/{}", store.space_key)},
    });
    store.shapes().space(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_ids_and_bodies() {
        let f = file_id(1, 42);
        assert_eq!(f.len(), 36);
        assert_eq!(f, file_id(1, 42));
        assert_ne!(f, file_id(1, 43));
        let doc = || content::page_doc(1, 2, 3, &[], None);
        assert_eq!(body_json(doc, None), json!({}));
        let b = body_json(doc, Some(BodyFormat::Storage));
        assert_eq!(b["storage"]["representation"], "storage");
        assert_eq!(b["storage"]["value"], doc().storage.as_str());
        let b = body_json(doc, Some(BodyFormat::AtlasDoc));
        assert_eq!(b["atlas_doc_format"]["value"], doc().adf.as_str());
    }
}
