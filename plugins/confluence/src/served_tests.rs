//! Blog posts, inline comments, labels, properties and restrictions against
//! a scripted server (`synchost_sdk::testing::serve`): every request the
//! plugin sends is seen and counted.

use super::*;
use serde_json::json;
use synchost_sdk::testing::{self, Served};

const BASE: &str = "https://site.atlassian.net";
const DATE: &str = "Tue, 01 Dec 2026 10:00:00 GMT";

/// One item of the scripted space.
#[derive(Clone)]
struct Item {
    id: u64,
    /// `page`, `blogpost`, `comment`, `attachment`.
    kind: &'static str,
    version: i64,
    labels: Vec<String>,
    properties: Vec<(String, Value)>,
    read_users: Vec<String>,
    update_groups: Vec<String>,
    container: Option<u64>,
    /// Comments: `footer` or `inline`.
    location: &'static str,
    resolution: &'static str,
}

fn item(id: u64, kind: &'static str) -> Item {
    Item {
        id,
        kind,
        version: 1,
        labels: Vec::new(),
        properties: Vec::new(),
        read_users: Vec::new(),
        update_groups: Vec::new(),
        container: None,
        location: "footer",
        resolution: "open",
    }
}

/// Pages 1..=n (page 2 labelled, page 3 read-restricted), blog posts
/// 101, 102, and comments on page 1 (11 footer, 12 inline) and page 3
/// (13 footer).
fn space(n: u64) -> Vec<Item> {
    let mut items: Vec<Item> = (1..=n).map(|id| item(id, "page")).collect();
    items[1].labels = vec!["team-a".into(), "howto".into()];
    items[1].properties = vec![("status".into(), json!({"state": "draft"}))];
    items[2].read_users = vec!["u-2".into(), "u-1".into()];
    items[2].update_groups = vec!["admins".into()];
    items.push(Item {
        version: 3,
        labels: vec!["news".into()],
        ..item(101, "blogpost")
    });
    items.push(item(102, "blogpost"));
    for (id, container, location) in [(11, 1, "footer"), (12, 1, "inline"), (13, 3, "footer")] {
        items.push(Item {
            container: Some(container),
            location,
            resolution: if id == 12 { "resolved" } else { "open" },
            ..item(id, "comment")
        });
    }
    items
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .find_map(|p| p.strip_prefix(&format!("{name}=")))
        .map(decode)
}

fn v2(item: &Item, body: bool) -> Value {
    let mut v = json!({
        "id": item.id.to_string(), "status": "current", "title": format!("T{}", item.id),
        "spaceId": "131189", "version": {"number": item.version, "createdAt": "2026-01-01T00:00:00.000Z"},
    });
    if body {
        v["body"] = json!({"storage": {"representation": "storage", "value": format!("<p>{}</p>", item.id)}});
    }
    v
}

fn v1(item: &Item) -> Value {
    let people = |users: &[String], groups: &[String]| {
        json!({
            "user": {"results": users.iter().map(|u| json!({"type": "known", "accountId": u})).collect::<Vec<_>>(), "size": users.len()},
            "group": {"results": groups.iter().map(|g| json!({"type": "group", "name": g})).collect::<Vec<_>>(), "size": groups.len()},
        })
    };
    let mut v = json!({
        "id": item.id.to_string(), "type": item.kind, "status": "current", "title": format!("T{}", item.id),
        "version": {"number": item.version, "when": "2026-01-01T00:00:00.000Z"},
        "metadata": {
            "labels": {"results": item.labels.iter().map(|l| json!({"prefix": "global", "name": l, "id": "1", "label": l})).collect::<Vec<_>>(),
                       "start": 0, "limit": 200, "size": item.labels.len(), "_links": {}},
            "properties": {"results": item.properties.iter().map(|(k, v)| json!({"id": "9", "key": k, "value": v})).collect::<Vec<_>>()},
        },
        "restrictions": {
            "read": {"operation": "read", "restrictions": people(&item.read_users, &[])},
            "update": {"operation": "update", "restrictions": people(&[], &item.update_groups)},
        },
    });
    if let Some(container) = item.container {
        v["container"] = json!({"id": container.to_string(), "type": "page"});
        v["body"] = json!({"storage": {"value": format!("<p>c{}</p>", item.id)}});
        v["extensions"] = json!({
            "location": item.location,
            "inlineProperties": {"markerRef": format!("m-{}", item.id), "originalSelection": "anchor text"},
            "resolution": {"status": item.resolution},
        });
    }
    v
}

fn ok(body: Value) -> Response {
    Response::new(200, vec![("date".into(), DATE.into())], body.to_string())
}

/// The scripted Confluence: the v2 space listings and bulk fetches, and
/// the v1 search by `id in (…)` or by type.
fn answer(items: &[Item], r: &Request) -> Response {
    let url = r.url().trim_start_matches(BASE);
    let path = url.split('?').next().unwrap();
    let body = url.contains("body-format=storage");
    let of = |kind: String| items.iter().filter(move |i| i.kind == kind);
    match path {
        "/wiki/api/v2/spaces" => ok(json!({"results": [{"id": "131189", "key": "DOCS"}]})),
        "/wiki/api/v2/spaces/131189/pages" | "/wiki/api/v2/spaces/131189/blogposts" => {
            let kind = if path.ends_with("pages") {
                "page"
            } else {
                "blogpost"
            };
            ok(json!({"results": of(kind.into()).map(|i| v2(i, body)).collect::<Vec<_>>()}))
        }
        "/wiki/api/v2/pages" | "/wiki/api/v2/blogposts" => {
            let ids = param(url, "id").unwrap();
            let ids: Vec<&str> = ids.split(',').collect();
            let found = items
                .iter()
                .filter(|i| ids.contains(&i.id.to_string().as_str()))
                .map(|i| v2(i, body));
            ok(json!({"results": found.collect::<Vec<_>>()}))
        }
        "/wiki/rest/api/content/search" => {
            let cql = param(url, "cql").unwrap();
            let found: Vec<Value> = match cql.strip_prefix("id in (") {
                Some(ids) => {
                    let ids: Vec<&str> = ids.trim_end_matches(')').split(',').collect();
                    items
                        .iter()
                        .filter(|i| ids.contains(&i.id.to_string().as_str()))
                        .map(v1)
                        .collect()
                }
                None => {
                    let kind = cql
                        .strip_prefix("type=")
                        .unwrap()
                        .split(' ')
                        .next()
                        .unwrap();
                    of(kind.into()).map(v1).collect()
                }
            };
            ok(json!({"results": found, "_links": {"context": "/wiki"}}))
        }
        _ if path.starts_with("/wiki/rest/api/content/") => {
            let id = path.rsplit('/').next().unwrap();
            match items.iter().find(|i| i.id.to_string() == id) {
                Some(item) => ok(v1(item)),
                None => Response::new(404, vec![], "{}"),
            }
        }
        other => Response::new(404, vec![], format!("no route {other}")),
    }
}

fn plugin(settings: &[(&str, &str)], items: Vec<Item>) -> (Confluence, Served) {
    let mut pairs = vec![("base_url", BASE), ("space", "DOCS")];
    pairs.extend_from_slice(settings);
    let p = Confluence::configure(pairs.into_iter().collect()).unwrap();
    (p, testing::serve(move |r: &Request| answer(&items, r)))
}

fn list(p: &Confluence, stream: &str, since: Option<&str>) -> Page {
    p.list(
        stream,
        ListRequest {
            limit: 250,
            since: since.map(str::to_owned),
            ..Default::default()
        },
    )
    .unwrap()
}

fn meta(r: &Record) -> Value {
    serde_json::from_str(&r.metadata).unwrap()
}

fn by_id<'a>(page: &'a Page, id: &str) -> &'a Record {
    page.records.iter().find(|r| r.id == id).unwrap()
}

fn paths(served: &Served) -> Vec<String> {
    served
        .sent()
        .iter()
        .map(|s| decode(&s.replace(BASE, "")))
        .collect()
}

#[test]
fn settings_off_cost_no_request() {
    let (p, served) = plugin(&[], space(3));
    let page = list(&p, "pages", None);
    assert_eq!(page.records.len(), 3);
    assert_eq!(
        paths(&served),
        [
            "GET /wiki/api/v2/spaces?keys=DOCS",
            "GET /wiki/api/v2/spaces/131189/pages?limit=250&body-format=storage"
        ]
    );
    let m = meta(by_id(&page, "2"));
    assert!(m.get("labels").is_none() && m.get("properties").is_none());
    assert_eq!(by_id(&page, "2").version, "1", "the plain version number");
}

#[test]
fn labels_and_properties_cost_one_search_per_listing_page() {
    let (p, served) = plugin(&[("labels", "true"), ("properties", "true")], space(3));
    let page = list(&p, "pages", None);
    assert_eq!(
        paths(&served),
        [
            "GET /wiki/api/v2/spaces?keys=DOCS",
            // At most 200 a page, so one search covers it.
            "GET /wiki/api/v2/spaces/131189/pages?limit=200&body-format=storage",
            "GET /wiki/rest/api/content/search?cql=id in (1,2,3)&limit=3\
             &expand=version,metadata.labels,metadata.properties",
        ]
    );
    let two = by_id(&page, "2");
    assert!(two.is_complete());
    let m = meta(two);
    assert_eq!(m["labels"], json!(["howto", "team-a"]), "sorted");
    assert_eq!(m["properties"], json!({"status": {"state": "draft"}}));
    assert!(m.get("restricted").is_none(), "not asked for");
    let one = by_id(&page, "1");
    assert_eq!(meta(one)["labels"], json!([]));
    assert!(two.version.starts_with("1+") && one.version.starts_with("1+"));
    assert_ne!(two.version, one.version, "the hash covers the labels");
}

#[test]
fn a_label_change_changes_the_version() {
    let version_of_two = |labels: &[&str]| {
        let mut items = space(3);
        items[1].labels = labels.iter().map(|l| l.to_string()).collect();
        let (p, _served) = plugin(&[("labels", "true")], items);
        by_id(&list(&p, "pages", None), "2").version.clone()
    };
    let before = version_of_two(&["howto"]);
    assert_eq!(before, version_of_two(&["howto", "howto"]), "a set");
    assert_ne!(before, version_of_two(&["howto", "new"]));
    assert_ne!(before, version_of_two(&[]));
    assert!(before.starts_with("1+"));
}

#[test]
fn restrictions_record_and_skip() {
    let (p, served) = plugin(&[("restrictions", "record")], space(3));
    let page = list(&p, "pages", None);
    assert!(paths(&served)[2].ends_with(
        "&expand=version,restrictions.read.restrictions.user,restrictions.read.restrictions.group,\
         restrictions.update.restrictions.user,restrictions.update.restrictions.group"
    ));
    let m = meta(by_id(&page, "3"));
    assert_eq!(m["restricted"], true);
    assert_eq!(
        m["restrictions"],
        json!({"read": {"users": ["u-1", "u-2"], "groups": []},
               "update": {"users": [], "groups": ["admins"]}})
    );
    assert_eq!(meta(by_id(&page, "1"))["restricted"], false);

    // Skip: a full listing leaves page 3 out (the host tombstones it)...
    let (p, served) = plugin(&[("restrictions", "skip")], space(3));
    let page = list(&p, "pages", None);
    let ids: Vec<&str> = page.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["1", "2"]);
    assert!(page.deleted.is_empty());
    assert!(paths(&served)[2].ends_with(
        "&expand=version,restrictions.read.restrictions.user,restrictions.read.restrictions.group"
    ));
    assert_eq!(by_id(&page, "1").version, "1", "skip records nothing");
    // ...a delta reports it deleted, from its own search (no extra request).
    let sent = served.sent().len();
    let page = list(&p, "pages", Some("2026-11-30T00:00:00Z"));
    assert_eq!(served.sent().len(), sent + 1);
    assert_eq!(page.deleted, ["3"]);
    assert_eq!(page.records.len(), 2);
    // ...and its comments go too, with one search of their pages.
    let (p, served) = plugin(
        &[("restrictions", "skip"), ("include_comments", "true")],
        space(3),
    );
    let page = list(&p, "comments", None);
    let ids: Vec<&str> = page.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["11"], "13 is on the restricted page, 12 is inline");
    assert_eq!(
        paths(&served)[2],
        "GET /wiki/rest/api/content/search?cql=id in (1,3)&limit=2\
         &expand=version,restrictions.read.restrictions.user,restrictions.read.restrictions.group"
    );
}

#[test]
fn a_fetch_sends_the_bulk_read_and_the_search_together() {
    let (p, served) = plugin(&[("labels", "true")], space(3));
    let results = p.fetch("blogposts", vec!["101".into(), "999".into()]);
    let batches = served.batches();
    assert_eq!(batches.len(), 1, "one round: {:?}", served.sent());
    assert_eq!(batches[0].len(), 2);
    let record = results[0].as_ref().unwrap();
    assert_eq!(meta(record)["labels"], json!(["news"]));
    assert!(record.version.starts_with("3+"));
    assert!(
        matches!(&results[1], Err(Error::NotFound(_))),
        "{results:?}"
    );
    // The delta listing gives the same version, so the host skips it later.
    let page = list(&p, "blogposts", Some("2026-11-30T00:00:00Z"));
    assert_eq!(by_id(&page, "101").version, record.version);
    assert!(!by_id(&page, "101").is_complete());
}

#[test]
fn what_the_search_misses_is_fetched_later() {
    // The search index lags: page 2 is listed but not searchable yet.
    let items = space(3);
    let (p, _served) = plugin(&[("labels", "true")], items.clone());
    let _inner = testing::serve(move |r: &Request| {
        let url = decode(r.url());
        if url.contains("cql=id in") {
            let mut shown = items.clone();
            shown.retain(|i| i.id != 2);
            return answer(&shown, r);
        }
        answer(&items, r)
    });
    let page = list(&p, "pages", None);
    let two = by_id(&page, "2");
    assert!(!two.is_complete(), "partial: the host fetches it");
    assert_eq!(two.version, "1");
    let fetched = p.fetch("pages", vec!["2".into()]);
    assert!(
        matches!(&fetched[0], Err(Error::Transient(m)) if m.contains("not yet in the content search")),
        "{fetched:?}"
    );
}

#[test]
fn hostile_extras_fail_their_item_only() {
    let mut items = space(3);
    items[0].labels = (0..=extras::MAX_LABELS).map(|i| format!("l{i}")).collect();
    items[1].properties = vec![("big".into(), json!("x".repeat(40_000)))];
    let (p, served) = plugin(&[("labels", "true"), ("properties", "true")], items);
    let page = list(&p, "pages", None);
    assert_eq!(by_id(&page, "1").version, UNREADABLE_VERSION);
    assert_eq!(by_id(&page, "2").version, UNREADABLE_VERSION);
    assert!(by_id(&page, "3").is_complete());
    let sent = served.sent().len();
    let fetched = p.fetch("pages", vec!["1".into(), "2".into()]);
    assert_eq!(served.sent().len(), sent, "answered as found, no request");
    let why = |r: &Result<Record, Error>| match r {
        Err(Error::InvalidResponse(m)) => m.clone(),
        other => panic!("{other:?}"),
    };
    assert!(
        why(&fetched[0]).contains("more than 500"),
        "{}",
        why(&fetched[0])
    );
    assert!(
        why(&fetched[1]).contains("40002 bytes"),
        "{}",
        why(&fetched[1])
    );
}

#[test]
fn blog_posts_are_listed_like_pages() {
    let (p, served) = plugin(&[], space(3));
    let page = list(&p, "blogposts", None);
    assert_eq!(
        paths(&served)[1],
        "GET /wiki/api/v2/spaces/131189/blogposts?limit=250&body-format=storage"
    );
    let r = by_id(&page, "101");
    assert_eq!(r.version, "3");
    assert_eq!(r.content.as_deref(), Some(&b"<p>101</p>"[..]));
    assert_eq!(r.content_type, "application/vnd.atlassian.storage+xml");
    assert_eq!(page.records.len(), 2);
    let page = list(&p, "blogposts", Some("2026-11-30T00:00:00Z"));
    assert!(
        decode(&served.sent()[2]).contains("cql=type=blogpost AND space=\"DOCS\" AND lastmodified")
    );
    assert_eq!(page.records.len(), 2);
}

#[test]
fn inline_comments_have_their_own_stream() {
    let (p, _served) = plugin(&[], space(3));
    assert!(
        list(&p, "inline-comments", None).records.is_empty(),
        "off by default"
    );
    let (p, served) = plugin(&[("include_comments", "true")], space(3));
    let inline = list(&p, "inline-comments", None);
    assert!(decode(&served.sent()[1]).ends_with(
        "&expand=version,container,body.storage,extensions.inlineProperties,extensions.resolution"
    ));
    let ids: Vec<&str> = inline.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["12"]);
    let r = &inline.records[0];
    assert_eq!(r.parent_id.as_deref(), Some("1"));
    assert_eq!(r.content.as_deref(), Some(&b"<p>c12</p>"[..]));
    let m = meta(r);
    assert_eq!(m["resolutionStatus"], "resolved");
    assert_eq!(m["inlineOriginalSelection"], "anchor text");
    assert_eq!(m["inlineMarkerRef"], "m-12");
    assert!(
        r.version.starts_with("1+"),
        "the resolution is in the version"
    );
    let footer = list(&p, "comments", None);
    let ids: Vec<&str> = footer.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["11", "13"]);
    assert_eq!(footer.records[0].version, "1");
    // A retry reads the same record.
    let fetched = p.fetch("inline-comments", vec!["12".into()]);
    assert!(decode(served.sent().last().unwrap()).contains("/wiki/rest/api/content/12?expand="));
    assert_eq!(fetched[0].as_ref().unwrap(), r);
}

#[test]
fn short_answers_and_cut_labels_are_completed() {
    // The search answers one entry at a time (a server capping `limit`),
    // and cuts page 1's labels.
    let mut items = space(3);
    items[0].labels = vec!["a".into()];
    let (p, _outer) = plugin(&[("labels", "true")], Vec::new());
    let served = testing::serve(move |r: &Request| {
        let url = decode(r.url());
        if let Some(rest) = url.split_once("cql=id in (").map(|(_, rest)| rest) {
            let ids = rest.split(')').next().unwrap();
            let after = param(r.url(), "cursor").map_or(0, |c| c.parse().unwrap());
            let all: Vec<&str> = ids.split(',').collect();
            let item = items
                .iter()
                .find(|i| i.id.to_string() == all[after])
                .unwrap();
            let mut entry = v1(item);
            if item.id == 1 {
                entry["metadata"]["labels"]["_links"] =
                    json!({"next": "/rest/api/content/1/label?start=1"});
            }
            let next = (after + 1 < all.len()).then(|| {
                format!(
                    "/rest/api/content/search?cql=id%20in%20({ids})&cursor={}",
                    after + 1
                )
            });
            return ok(json!({"results": [entry], "_links": {"context": "/wiki", "next": next}}));
        }
        if url.ends_with("/wiki/rest/api/content/1/label?limit=200") {
            return ok(json!({"results": [{"name": "a"}, {"name": "b"}], "size": 2}));
        }
        answer(&items, r)
    });
    let page = list(&p, "pages", None);
    assert_eq!(meta(by_id(&page, "1"))["labels"], json!(["a", "b"]));
    assert_eq!(
        meta(by_id(&page, "2"))["labels"],
        json!(["howto", "team-a"])
    );
    assert!(page.records.iter().all(Record::is_complete));
    let sent = paths(&served);
    let searches = sent.iter().filter(|s| s.contains("cql=id in")).count();
    assert_eq!(searches, 3, "the first and two next links: {sent:#?}");
    assert!(sent
        .iter()
        .any(|s| s.ends_with("/content/1/label?limit=200")));
}
