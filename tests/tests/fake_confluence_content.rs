//! The Confluence fake's blog posts, inline comments, labels, content
//! properties and restrictions (issue 15), over HTTP like a client: v2
//! listings and single GETs checked against the official v2 description
//! and `/_control/items`, blog post writes, and the control mutations.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use support::confluence_api::{check_shape, ok_schema, space_id, truth, v2_spec, walk_v2};
use support::{http, FakeServer, HttpResponse};

/// Fields real answers carry beyond the spec (`api-contracts.md` §1.2) and
/// `_links.base` of single answers.
const EXTRA: &[&str] = &["edituiv2", "base"];

fn sha_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn start(seed: &str) -> FakeServer {
    FakeServer::start(
        "confluence",
        &[
            "--pages",
            "150",
            "--folders",
            "10",
            "--attachments-per-page",
            "1",
            "--comments-per-page",
            "1",
            "--inline-comments-per-page",
            "1",
            "--seed",
            seed,
        ],
    )
}

fn send(fake: &FakeServer, method: &str, path: &str, body: Option<&Value>) -> HttpResponse {
    let body = body.map(Value::to_string);
    http(
        method,
        &format!("{}{path}", fake.url()),
        &[],
        body.as_deref(),
    )
}

/// The `errors[0]` of a v2 error answer with `status`.
fn v2_error(resp: &HttpResponse, status: u16) -> Value {
    resp.expect_status(status);
    let v = resp.json();
    assert_eq!(v["errors"][0]["status"], status, "{v}");
    v["errors"][0].clone()
}

fn id_set(results: &[Value]) -> BTreeSet<String> {
    results
        .iter()
        .map(|r| r["id"].as_str().expect("string id").to_owned())
        .collect()
}

/// Labels of an `include-labels` / LabelArray `results`, sorted.
fn names(results: &Value) -> Vec<String> {
    let mut out: Vec<String> = results
        .as_array()
        .expect("results")
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

#[test]
fn blog_posts_list_fetch_and_update_like_pages() {
    let fake = start("4");
    let spec = v2_spec();
    let sid = space_id(&fake, &[]);
    let t = truth(&fake, "blogposts");
    assert_eq!(t.len(), 15, "a tenth of --pages by default");

    // The space listing and the bulk listing, paged, each post once.
    let list_schema = ok_schema(&spec, "/spaces/{id}/blogposts");
    let (results, requests) = walk_v2(
        &fake,
        &format!("/wiki/api/v2/spaces/{sid}/blogposts?limit=4&body-format=storage"),
        &[],
    );
    assert_eq!(requests, 4);
    assert_eq!(results.len(), 15);
    assert_eq!(id_set(&results), t.keys().cloned().collect());
    for r in &results {
        check_shape(
            &spec,
            &list_schema["properties"]["results"]["items"],
            r,
            "blogpost",
            EXTRA,
        );
        let e = &t[r["id"].as_str().unwrap()];
        assert_eq!(
            r["version"]["number"].to_string(),
            e["version"].as_str().unwrap()
        );
        assert_eq!(r["title"], e["title"]);
        let body = r["body"]["storage"]["value"].as_str().unwrap();
        assert_eq!(sha_hex(body.as_bytes()), e["sha256"].as_str().unwrap());
        assert!(r.get("parentId").is_none() && r.get("position").is_none());
        assert!(r["_links"]["webui"]
            .as_str()
            .unwrap()
            .starts_with("/spaces/DOCS/blog/20"));
    }
    let (bulk, _) = walk_v2(&fake, "/wiki/api/v2/blogposts?limit=250", &[]);
    assert_eq!(id_set(&bulk), t.keys().cloned().collect());
    assert!(
        bulk.iter().all(|r| r["body"] == json!({})),
        "no body-format: {{}}"
    );
    // Newest change first, paged by the cursor.
    let (by_mod, _) = walk_v2(
        &fake,
        "/wiki/api/v2/blogposts?sort=-modified-date&limit=2",
        &[],
    );
    let times: Vec<&str> = by_mod
        .iter()
        .map(|r| r["version"]["createdAt"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    let two: Vec<&String> = t.keys().take(2).collect();
    let path = format!(
        "/wiki/api/v2/blogposts?id={},{}&space-id={sid}",
        two[0], two[1]
    );
    let (picked, _) = walk_v2(&fake, &path, &[]);
    assert_eq!(id_set(&picked), two.into_iter().cloned().collect());
    let (other, _) = walk_v2(&fake, "/wiki/api/v2/blogposts?space-id=1", &[]);
    assert!(other.is_empty());
    let e = v2_error(&fake.get("/wiki/api/v2/blogposts?limit=251", &[]), 400);
    assert_eq!(e["code"], "INVALID_REQUEST_PARAMETER");
    v2_error(&fake.get("/wiki/api/v2/blogposts?sort=title", &[]), 400);

    // One post with its labels and properties.
    let (id, e) = t
        .iter()
        .find(|(_, e)| !e["labels"].as_array().unwrap().is_empty())
        .expect("a labelled post");
    let resp = fake.get(
        &format!("/wiki/api/v2/blogposts/{id}?body-format=storage&include-labels=true&include-properties=true"),
        &[],
    );
    resp.expect_status(200);
    let single = resp.json();
    check_shape(
        &spec,
        ok_schema(&spec, "/blogposts/{id}"),
        &single,
        "BlogPostSingle",
        EXTRA,
    );
    assert_eq!(
        single["_links"]["base"],
        format!("{}/wiki", fake.url()).as_str()
    );
    let labels: Vec<String> = serde_json::from_value(e["labels"].clone()).unwrap();
    assert_eq!(names(&single["labels"]["results"]), labels);
    assert_eq!(single["labels"]["meta"]["hasMore"], false);
    assert_eq!(
        single["labels"]["_links"]["self"],
        format!("/wiki/api/v2/blogposts/{id}/labels").as_str()
    );
    let props: BTreeMap<String, Value> = single["properties"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["key"].as_str().unwrap().to_owned(), p["value"].clone()))
        .collect();
    let truth_props: BTreeMap<String, Value> =
        serde_json::from_value(e["properties"].clone()).unwrap();
    assert_eq!(props, truth_props);
    let e404 = v2_error(&fake.get("/wiki/api/v2/blogposts/1", &[]), 404);
    assert_eq!(e404["title"], "Cannot find a blogpost with id [1]");
    // A page id is not a blog post.
    let page = truth(&fake, "pages").keys().next().unwrap().clone();
    v2_error(
        &fake.get(&format!("/wiki/api/v2/blogposts/{page}"), &[]),
        404,
    );

    // Attachments and footer comments of a blog post.
    let atts = truth(&fake, "attachments");
    let (mine, _) = walk_v2(
        &fake,
        &format!("/wiki/api/v2/blogposts/{id}/attachments"),
        &[],
    );
    let expect: BTreeSet<String> = atts
        .iter()
        .filter(|(_, a)| a["parent_id"] == id.as_str())
        .map(|(k, _)| k.clone())
        .collect();
    assert_eq!(id_set(&mine), expect);
    assert!(mine
        .iter()
        .all(|a| a["blogPostId"] == id.as_str() && a.get("pageId").is_none()));
    let (comments, _) = walk_v2(
        &fake,
        &format!("/wiki/api/v2/blogposts/{id}/footer-comments?body-format=storage"),
        &[],
    );
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0]["blogPostId"], id.as_str());

    // PUT: a stale version is a 409; the next one is stored.
    let version: u64 = e["version"].as_str().unwrap().parse().unwrap();
    let put = |number: u64, value: &str| {
        send(
            &fake,
            "PUT",
            &format!("/wiki/api/v2/blogposts/{id}"),
            Some(
                &json!({"id": id, "status": "current", "title": "Renamed post",
                "body": {"representation": "storage", "value": value},
                "version": {"number": number, "message": "edit"}}),
            ),
        )
    };
    let conflict = v2_error(&put(version, "<p>stale</p>"), 409);
    assert_eq!(conflict["code"], "CONFLICT");
    assert_eq!(
        conflict["title"],
        format!("Version must be incremented when updating a blogpost. Current Version: [{version}]. Provided version: [{version}]").as_str()
    );
    let ok = put(version + 1, "<p>new &amp; shiny</p>");
    ok.expect_status(200);
    let v = ok.json();
    assert_eq!(v["version"]["number"], version + 1);
    assert_eq!(v["body"]["storage"]["value"], "<p>new &amp; shiny</p>");
    let after = &truth(&fake, "blogposts")[id];
    assert_eq!(after["version"], (version + 1).to_string().as_str());
    assert_eq!(after["title"], "Renamed post");
    assert_eq!(after["sha256"], sha_hex(b"<p>new &amp; shiny</p>").as_str());
    let old = fake.get(
        &format!("/wiki/api/v2/blogposts/{id}?body-format=storage&version={version}"),
        &[],
    );
    old.expect_status(200);
    assert_eq!(old.json()["status"], "historical");
    assert_eq!(
        sha_hex(
            old.json()["body"]["storage"]["value"]
                .as_str()
                .unwrap()
                .as_bytes()
        ),
        e["sha256"].as_str().unwrap()
    );
    assert_eq!(fake.stats()["blogpost_update"], 2);

    // Create and delete.
    let created = send(
        &fake,
        "POST",
        "/wiki/api/v2/blogposts",
        Some(
            &json!({"spaceId": sid, "status": "current", "title": "Fresh post",
            "body": {"representation": "storage", "value": "<p>hello</p>"}}),
        ),
    );
    created.expect_status(200);
    let new_id = created.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(truth(&fake, "blogposts")[&new_id]["version"], "1");
    let dup = send(
        &fake,
        "POST",
        "/wiki/api/v2/blogposts",
        Some(&json!({"spaceId": sid, "title": "Fresh post",
            "body": {"representation": "storage", "value": ""}})),
    );
    v2_error(&dup, 400);
    send(
        &fake,
        "DELETE",
        &format!("/wiki/api/v2/blogposts/{new_id}"),
        None,
    )
    .expect_status(204);
    assert!(!truth(&fake, "blogposts").contains_key(&new_id));
    v2_error(
        &fake.get(&format!("/wiki/api/v2/blogposts/{new_id}"), &[]),
        404,
    );
}

#[test]
fn inline_comments_anchor_in_their_bodies() {
    let fake = start("6");
    let spec = v2_spec();
    let t = truth(&fake, "inline-comments");
    assert_eq!(t.len(), 165, "one per page and blog post");
    let schema = ok_schema(&spec, "/inline-comments");
    let (all, requests) = walk_v2(
        &fake,
        "/wiki/api/v2/inline-comments?limit=50&body-format=storage",
        &[],
    );
    assert_eq!(requests, 4);
    assert_eq!(id_set(&all), t.keys().cloned().collect());
    let pages = truth(&fake, "pages");
    let posts = truth(&fake, "blogposts");
    let statuses: BTreeSet<&str> = all
        .iter()
        .map(|c| c["resolutionStatus"].as_str().unwrap())
        .collect();
    assert!(
        statuses.contains("open") && statuses.contains("resolved"),
        "{statuses:?}"
    );
    for c in &all {
        check_shape(
            &spec,
            &schema["properties"]["results"]["items"],
            c,
            "InlineCommentModel",
            EXTRA,
        );
        let e = &t[c["id"].as_str().unwrap()];
        assert_eq!(c["resolutionStatus"], e["resolutionStatus"]);
        assert_eq!(c["properties"]["inlineMarkerRef"], e["inlineMarkerRef"]);
        assert_eq!(
            c["properties"]["inlineOriginalSelection"],
            e["inlineOriginalSelection"]
        );
        let body = c["body"]["storage"]["value"].as_str().unwrap();
        assert_eq!(sha_hex(body.as_bytes()), e["sha256"].as_str().unwrap());
        let parent = e["parent_id"].as_str().unwrap();
        let field = if posts.contains_key(parent) {
            "blogPostId"
        } else {
            "pageId"
        };
        assert_eq!(c[field], parent);
        assert!(pages.contains_key(parent) || posts.contains_key(parent));
    }

    // The page's body holds the marker around the selection.
    let (cid, e) = t
        .iter()
        .find(|(_, e)| pages.contains_key(e["parent_id"].as_str().unwrap()))
        .unwrap();
    let page = e["parent_id"].as_str().unwrap();
    let resp = fake.get(
        &format!("/wiki/api/v2/pages/{page}?body-format=storage"),
        &[],
    );
    let body = resp.json()["body"]["storage"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let marker = format!(
        "<ac:inline-comment-marker ac:ref=\"{}\">{}</ac:inline-comment-marker>",
        e["inlineMarkerRef"].as_str().unwrap(),
        e["inlineOriginalSelection"].as_str().unwrap()
    );
    assert!(body.contains(&marker), "{body}");
    let (of_page, _) = walk_v2(
        &fake,
        &format!("/wiki/api/v2/pages/{page}/inline-comments"),
        &[],
    );
    assert_eq!(id_set(&of_page), [cid.clone()].into());
    let status = e["resolutionStatus"].as_str().unwrap();
    let other = if status == "open" { "resolved" } else { "open" };
    let (none, _) = walk_v2(
        &fake,
        &format!("/wiki/api/v2/pages/{page}/inline-comments?resolution-status={other}"),
        &[],
    );
    assert!(none.is_empty());
    let single = fake.get(
        &format!("/wiki/api/v2/inline-comments/{cid}?body-format=storage"),
        &[],
    );
    single.expect_status(200);
    let single = single.json();
    check_shape(
        &spec,
        ok_schema(&spec, "/inline-comments/{comment-id}"),
        &single,
        "InlineCommentModel",
        EXTRA,
    );
    assert_eq!(single["pageId"], page);
    // A footer comment is not an inline comment.
    let footer = truth(&fake, "comments").keys().next().unwrap().clone();
    v2_error(
        &fake.get(&format!("/wiki/api/v2/inline-comments/{footer}"), &[]),
        404,
    );

    // A body without the marker leaves the comment dangling.
    let version: u64 = pages[page]["version"].as_str().unwrap().parse().unwrap();
    send(
        &fake,
        "PUT",
        &format!("/wiki/api/v2/pages/{page}"),
        Some(
            &json!({"id": page, "status": "current", "title": pages[page]["title"],
            "body": {"representation": "storage", "value": "<p>rewritten</p>"},
            "version": {"number": version + 1}}),
        ),
    )
    .expect_status(200);
    assert_eq!(
        truth(&fake, "inline-comments")[cid]["resolutionStatus"],
        "dangling"
    );
    let again = fake
        .get(&format!("/wiki/api/v2/inline-comments/{cid}"), &[])
        .json();
    assert_eq!(again["resolutionStatus"], "dangling");
    assert_eq!(
        again["version"]["number"].to_string(),
        e["version"].as_str().unwrap()
    );

    // Control mutations: a new inline comment puts its marker in a new
    // version of its page or blog post; updates and resolutions are new
    // comment versions; deletions take the marker out.
    let m = fake.mutate_with(
        &json!({"inline_create": 2, "inline_update": 2, "inline_resolve": 2, "inline_delete": 1}),
    );
    let now = truth(&fake, "inline-comments");
    let list = |k: &str| -> Vec<String> { serde_json::from_value(m[k].clone()).unwrap() };
    for c in list("inline_comments_created") {
        let e = &now[&c];
        let parent = e["parent_id"].as_str().unwrap();
        let bumped: Vec<String> = list("updated")
            .into_iter()
            .chain(list("blogposts_updated"))
            .collect();
        assert!(bumped.contains(&parent.to_owned()), "{parent} bumped");
        let kind = if posts.contains_key(parent) {
            "blogposts"
        } else {
            "pages"
        };
        let body = fake
            .get(
                &format!("/wiki/api/v2/{kind}/{parent}?body-format=storage"),
                &[],
            )
            .json();
        assert!(body["body"]["storage"]["value"]
            .as_str()
            .unwrap()
            .contains(e["inlineMarkerRef"].as_str().unwrap()));
    }
    for c in list("inline_comments_updated")
        .iter()
        .chain(&list("inline_comments_resolved"))
    {
        let before: u64 = t[c]["version"].as_str().unwrap().parse().unwrap();
        assert_eq!(now[c]["version"], (before + 1).to_string().as_str());
    }
    for c in list("deleted_inline_comments") {
        assert!(!now.contains_key(&c));
    }
    assert_eq!(now.len(), 165 + 2 - 1);
}

#[test]
fn labels_and_properties_in_v2_match_the_truth() {
    let fake = start("8");
    let spec = v2_spec();
    let pages = truth(&fake, "pages");
    let mut with_labels = 0;
    let mut with_props = 0;
    for (id, e) in pages.iter().take(60) {
        let (labels, _) = walk_v2(
            &fake,
            &format!("/wiki/api/v2/pages/{id}/labels?limit=1"),
            &[],
        );
        let expect: Vec<String> = serde_json::from_value(e["labels"].clone()).unwrap();
        assert_eq!(names(&Value::from(labels.clone())), expect, "{id}");
        for l in &labels {
            check_shape(
                &spec,
                &ok_schema(&spec, "/pages/{id}/labels")["properties"]["results"]["items"],
                l,
                "Label",
                EXTRA,
            );
            assert_eq!(l["prefix"], "global");
        }
        with_labels += usize::from(!expect.is_empty());
        let (props, _) = walk_v2(
            &fake,
            &format!("/wiki/api/v2/pages/{id}/properties?limit=1"),
            &[],
        );
        let got: BTreeMap<String, Value> = props
            .iter()
            .map(|p| (p["key"].as_str().unwrap().to_owned(), p["value"].clone()))
            .collect();
        let expect: BTreeMap<String, Value> =
            serde_json::from_value(e["properties"].clone()).unwrap();
        assert_eq!(got, expect, "{id}");
        let keys: Vec<&str> = props.iter().map(|p| p["key"].as_str().unwrap()).collect();
        assert!(
            keys.windows(2).all(|w| w[0] < w[1]),
            "sorted by key: {keys:?}"
        );
        with_props += usize::from(!expect.is_empty());
        for p in &props {
            let schema =
                &ok_schema(&spec, "/pages/{page-id}/properties")["properties"]["results"]["items"];
            check_shape(&spec, schema, p, "ContentProperty", EXTRA);
            let one = fake.get(
                &format!(
                    "/wiki/api/v2/pages/{id}/properties/{}",
                    p["id"].as_str().unwrap()
                ),
                &[],
            );
            one.expect_status(200);
            assert_eq!(&one.json(), p);
        }
    }
    assert!(
        with_labels > 20 && with_props > 10,
        "{with_labels} {with_props}"
    );

    // Pages by label: every page with it, none without.
    let howto: BTreeSet<String> = pages
        .iter()
        .filter(|(_, e)| e["labels"].as_array().unwrap().contains(&json!("howto")))
        .map(|(k, _)| k.clone())
        .collect();
    let (id, _) = pages.iter().find(|(k, _)| howto.contains(*k)).unwrap();
    let label = fake
        .get(&format!("/wiki/api/v2/pages/{id}/labels"), &[])
        .json()["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "howto")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (tagged, _) = walk_v2(
        &fake,
        &format!("/wiki/api/v2/labels/{label}/pages?limit=9"),
        &[],
    );
    assert_eq!(id_set(&tagged), howto);
    v2_error(&fake.get("/wiki/api/v2/labels/1/pages", &[]), 404);
}
