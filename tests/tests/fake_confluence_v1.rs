//! The Confluence fake's v1 API as popular clients call it (issue 15):
//! space and content listings with offset paging and `_links.next`, one
//! content with its expansions, children, labels (read and write),
//! properties and restrictions, and the CQL `id`, `label`, `ancestor` and
//! `type` clauses; checked against `/_control/items` and the official v1
//! description.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use support::confluence_api::{
    check_requests, check_shape, descendants, ok_schema, send, sha_hex, truth, v1_spec, walk_cql,
    walk_v1,
};
use support::{percent_encode as encode, FakeServer, HttpResponse};

fn start() -> FakeServer {
    FakeServer::start(
        "confluence",
        &[
            "--pages",
            "300",
            "--folders",
            "12",
            "--attachments-per-page",
            "2",
            "--comments-per-page",
            "1",
            "--inline-comments-per-page",
            "1",
            "--seed",
            "5",
        ],
    )
}

fn ids(results: &[Value]) -> BTreeSet<String> {
    results
        .iter()
        .map(|r| r["id"].as_str().expect("string id").to_owned())
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    serde_json::from_value(v.clone()).expect("strings")
}

/// The v1 error envelope with `status`.
fn v1_error(resp: &HttpResponse, status: u16) -> Value {
    resp.expect_status(status);
    let v = resp.json();
    assert_eq!(v["statusCode"], status, "{v}");
    assert!(v["message"].is_string(), "{v}");
    v
}

/// Fields the vendored v1 description does not declare but the live API
/// answers (newer than the copy): `_links.base`/`context` of single
/// answers and the scheduled-publishing expandables.
const V1_EXTRA: &[&str] = &[
    "base",
    "context",
    "schedulePublishInfo",
    "schedulePublishDate",
];

#[test]
fn content_listings_page_through_links_next() {
    let fake = start();
    let spec = v1_spec();
    let pages = truth(&fake, "pages");
    let posts = truth(&fake, "blogposts");

    let space = fake.get("/wiki/rest/api/space/DOCS?expand=homepage", &[]);
    space.expect_status(200);
    let space = space.json();
    check_shape(
        &spec,
        ok_schema(&spec, "/wiki/rest/api/space/{spaceKey}"),
        &space,
        "Space",
        V1_EXTRA,
    );
    assert_eq!(space["key"], "DOCS");
    assert!(pages.contains_key(space["homepage"]["id"].as_str().unwrap()));
    let e = v1_error(&fake.get("/wiki/rest/api/space/NOPE", &[]), 404);
    assert_eq!(e["message"], "No space found with key : NOPE");
    let (spaces, _) = walk_v1(&fake, "/wiki/rest/api/space?limit=10");
    assert_eq!(spaces.len(), 1);
    assert_eq!(spaces[0]["key"], "DOCS");
    let (none, _) = walk_v1(&fake, "/wiki/rest/api/space?spaceKey=OTHER");
    assert!(none.is_empty());
    // As confluence-markdown-exporter lists spaces.
    let (listed, _) = walk_v1(
        &fake,
        "/wiki/rest/api/space?type=global&status=current&expand=homepage",
    );
    assert_eq!(listed[0]["homepage"]["id"], space["homepage"]["id"]);

    // Pages: every one once, in pages of 7, with their bodies and versions.
    let (results, requests) = walk_v1(
        &fake,
        "/wiki/rest/api/content?spaceKey=DOCS&type=page&limit=7&expand=version,body.storage,ancestors,space",
    );
    assert_eq!(results.len(), 300);
    assert_eq!(requests, 300usize.div_ceil(7));
    assert_eq!(ids(&results), pages.keys().cloned().collect());
    let schema = ok_schema(&spec, "/wiki/rest/api/content");
    for r in results.iter().take(20) {
        check_shape(
            &spec,
            &schema["properties"]["results"]["items"],
            r,
            "Content",
            V1_EXTRA,
        );
    }
    for r in &results {
        let t = &pages[r["id"].as_str().unwrap()];
        assert_eq!(r["type"], "page");
        assert_eq!(
            r["version"]["number"].to_string(),
            t["version"].as_str().unwrap()
        );
        let body = r["body"]["storage"]["value"].as_str().unwrap();
        assert_eq!(sha_hex(body.as_bytes()), t["sha256"].as_str().unwrap());
        let parent = r["ancestors"]
            .as_array()
            .unwrap()
            .last()
            .map(|a| a["id"].clone());
        assert_eq!(parent.unwrap_or(Value::Null), t["parent_id"]);
    }
    // As atlassian-python-api asks (`body.storage.value`).
    let (loader, _) = walk_v1(
        &fake,
        "/wiki/rest/api/content?spaceKey=DOCS&type=page&status=current&start=0&limit=50&expand=body.storage.value,version",
    );
    assert_eq!(loader.len(), 300);
    assert!(loader
        .iter()
        .all(|r| r["body"]["storage"]["value"].is_string()));
    // The next link repeats the query and advances `start`.
    let first = fake
        .get(
            "/wiki/rest/api/content?spaceKey=DOCS&type=page&limit=7&expand=version",
            &[],
        )
        .json();
    assert_eq!(
        first["_links"]["next"],
        "/rest/api/content?spaceKey=DOCS&type=page&expand=version&limit=7&start=7"
    );
    // A limit above the cap is lowered (50 with a body expansion, 200 without).
    let big = fake
        .get(
            "/wiki/rest/api/content?type=page&limit=1000&expand=body.storage",
            &[],
        )
        .json();
    assert_eq!(
        (big["limit"].as_u64(), big["size"].as_u64()),
        (Some(50), Some(50))
    );
    let big = fake
        .get("/wiki/rest/api/content?type=page&limit=1000", &[])
        .json();
    assert_eq!(big["limit"], 200);
    let past = fake
        .get("/wiki/rest/api/content?type=page&start=5000", &[])
        .json();
    assert_eq!(past["size"], 0);
    assert!(past["_links"].get("next").is_none());
    v1_error(
        &fake.get("/wiki/rest/api/content?type=page&limit=-1", &[]),
        400,
    );
    v1_error(
        &fake.get("/wiki/rest/api/content?type=whiteboard", &[]),
        400,
    );
    let other = fake
        .get("/wiki/rest/api/content?spaceKey=OTHER&type=page", &[])
        .json();
    assert_eq!(other["size"], 0);
    let trashed = fake
        .get("/wiki/rest/api/content?type=page&status=trashed", &[])
        .json();
    assert_eq!(trashed["size"], 0);

    // Blog posts.
    let (blogs, _) = walk_v1(
        &fake,
        "/wiki/rest/api/content?spaceKey=DOCS&type=blogpost&limit=4&expand=version",
    );
    assert_eq!(ids(&blogs), posts.keys().cloned().collect());
    assert!(blogs.iter().all(|b| b["type"] == "blogpost"));
    let (title, t) = posts
        .values()
        .map(|t| (t["title"].as_str().unwrap(), t))
        .next()
        .unwrap();
    let by_title = fake
        .get(
            &format!(
                "/wiki/rest/api/content?type=blogpost&title={}",
                encode(title)
            ),
            &[],
        )
        .json();
    assert_eq!(by_title["results"][0]["id"], t["id"]);

    // One content by id, blog posts too.
    let id = t["id"].as_str().unwrap();
    let one = fake.get(
        &format!("/wiki/rest/api/content/{id}?expand=body.storage,version,history,space"),
        &[],
    );
    one.expect_status(200);
    let one = one.json();
    check_shape(
        &spec,
        ok_schema(&spec, "/wiki/rest/api/content/{id}"),
        &one,
        "Content",
        V1_EXTRA,
    );
    assert_eq!(one["type"], "blogpost");
    assert_eq!(
        sha_hex(one["body"]["storage"]["value"].as_str().unwrap().as_bytes()),
        t["sha256"].as_str().unwrap()
    );
    // Several representations in one answer, as confluence-markdown-exporter
    // asks (the fake once rendered only the last view asked for).
    let many = fake
        .get(
            &format!("/wiki/rest/api/content/{id}?expand=body.view,body.export_view,body.editor2,body.storage"),
            &[],
        )
        .json();
    check_shape(
        &spec,
        ok_schema(&spec, "/wiki/rest/api/content/{id}"),
        &many,
        "Content",
        V1_EXTRA,
    );
    let body = &many["body"];
    for (name, like) in [
        ("view", "view"),
        ("export_view", "view"),
        ("editor2", "storage"),
        ("storage", "storage"),
    ] {
        assert_eq!(body[name]["representation"], name, "{body}");
        assert!(body["_expandable"].get(name).is_none(), "{body}");
        assert_eq!(body[name]["value"], body[like]["value"], "{name}");
    }
    assert_ne!(body["view"]["value"], body["storage"]["value"]);
    assert!(body["view"]["value"].as_str().unwrap().contains("<p>"));
    assert_eq!(body["_expandable"]["styled_view"], "");
    // Every request above is an operation of the official description.
    assert!(check_requests(&fake) > 0);
}

#[test]
fn children_of_pages_list_attachments_comments_and_pages() {
    let fake = start();
    let pages = truth(&fake, "pages");
    let atts = truth(&fake, "attachments");
    let inline = truth(&fake, "inline-comments");
    let footer = truth(&fake, "comments");
    // A page with child pages.
    let parent = pages
        .values()
        .filter_map(|p| p["parent_id"].as_str())
        .find(|p| pages.contains_key(*p))
        .unwrap()
        .to_owned();
    let children = |stream: &BTreeMap<String, Value>| -> BTreeSet<String> {
        stream
            .iter()
            .filter(|(_, e)| e["parent_id"] == parent.as_str())
            .map(|(k, _)| k.clone())
            .collect()
    };
    let (kids, _) = walk_v1(
        &fake,
        &format!("/wiki/rest/api/content/{parent}/child/page?limit=1"),
    );
    assert_eq!(ids(&kids), children(&pages));
    let (files, requests) = walk_v1(
        &fake,
        &format!("/wiki/rest/api/content/{parent}/child/attachment?limit=1&expand=version"),
    );
    assert_eq!((ids(&files), requests), (children(&atts), 2));
    // As confluence-markdown-exporter asks: the container with its ancestors.
    let (with_container, _) = walk_v1(
        &fake,
        &format!("/wiki/rest/api/content/{parent}/child/attachment?start=0&limit=50&expand=container.ancestors,version"),
    );
    let grand = pages[&parent]["parent_id"].clone();
    for f in &with_container {
        // As LangChain's ConfluenceLoader reads it.
        assert_eq!(f["metadata"]["mediaType"], f["extensions"]["mediaType"]);
        assert_eq!(f["container"]["id"], parent.as_str());
        let last = f["container"]["ancestors"]
            .as_array()
            .unwrap()
            .last()
            .map(|a| a["id"].clone());
        assert_eq!(last.unwrap_or(Value::Null), grand);
    }
    for f in &files {
        let link = f["_links"]["download"].as_str().unwrap();
        assert!(
            link.starts_with(&format!("/download/attachments/{parent}/")),
            "{link}"
        );
        let t = &atts[f["id"].as_str().unwrap()];
        assert_eq!(
            f["version"]["number"].to_string(),
            t["version"].as_str().unwrap()
        );
    }
    let (all_comments, _) = walk_v1(
        &fake,
        &format!("/wiki/rest/api/content/{parent}/child/comment"),
    );
    let expect: BTreeSet<String> = children(&inline)
        .union(&children(&footer))
        .cloned()
        .collect();
    assert_eq!(ids(&all_comments), expect);
    let (inline_only, _) = walk_v1(
        &fake,
        &format!("/wiki/rest/api/content/{parent}/child/comment?location=inline&expand=extensions.inlineProperties,extensions.resolution"),
    );
    assert_eq!(ids(&inline_only), children(&inline));
    for c in &inline_only {
        let t = &inline[c["id"].as_str().unwrap()];
        assert_eq!(c["extensions"]["location"], "inline");
        assert_eq!(
            c["extensions"]["inlineProperties"]["markerRef"],
            t["inlineMarkerRef"]
        );
        assert_eq!(
            c["extensions"]["inlineProperties"]["originalSelection"],
            t["inlineOriginalSelection"]
        );
        assert_eq!(
            c["extensions"]["resolution"]["status"],
            t["resolutionStatus"]
        );
    }
    // Without the expansions they stay expandable.
    let plain = fake
        .get(
            &format!("/wiki/rest/api/content/{parent}/child/comment?location=inline"),
            &[],
        )
        .json();
    assert!(plain["results"][0]["extensions"]
        .get("inlineProperties")
        .is_none());
    let child = fake
        .get(
            &format!("/wiki/rest/api/content/{parent}/child?expand=page"),
            &[],
        )
        .json();
    assert_eq!(
        ids(child["page"]["results"].as_array().unwrap()),
        children(&pages)
    );
    assert!(child["_expandable"]["attachment"].is_string());
    v1_error(
        &fake.get(
            &format!("/wiki/rest/api/content/{parent}/child/whiteboard"),
            &[],
        ),
        400,
    );
    v1_error(&fake.get("/wiki/rest/api/content/1/child/page", &[]), 404);

    // Descendants: every page below, through folders too.
    let folders = truth(&fake, "folders");
    let below: BTreeSet<String> = descendants(&pages, &folders, &parent)
        .into_iter()
        .filter(|id| pages.contains_key(id))
        .collect();
    let (desc, _) = walk_v1(
        &fake,
        &format!("/wiki/rest/api/content/{parent}/descendant/page?limit=3"),
    );
    assert_eq!(ids(&desc), below);
    let (desc_files, _) = walk_v1(
        &fake,
        &format!("/wiki/rest/api/content/{parent}/descendant/attachment"),
    );
    let expect: BTreeSet<String> = atts
        .iter()
        .filter(|(_, a)| {
            let p = a["parent_id"].as_str().unwrap();
            p == parent || below.contains(p)
        })
        .map(|(k, _)| k.clone())
        .collect();
    assert_eq!(ids(&desc_files), expect);
    // Every request above is an operation of the official description.
    assert!(check_requests(&fake) > 0);
}

#[test]
fn labels_write_then_read_without_a_new_version() {
    let fake = start();
    let pages = truth(&fake, "pages");
    let (id, before) = pages.iter().next().unwrap();
    let labels = fake.get(&format!("/wiki/rest/api/content/{id}/label"), &[]);
    labels.expect_status(200);
    let labels = labels.json();
    let names: Vec<String> = labels["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, strings(&before["labels"]));
    let lastmod = |fake: &FakeServer| {
        let cql = encode(&format!("id = {id}"));
        fake.get(&format!("/wiki/rest/api/search?cql={cql}"), &[])
            .json()["results"][0]["lastModified"]
            .clone()
    };
    let modified = lastmod(&fake);

    let added = send(
        &fake,
        "POST",
        &format!("/wiki/rest/api/content/{id}/label"),
        Some(
            &json!([{"prefix": "global", "name": "Fresh-Label"}, {"prefix": "global", "name": "howto"}]),
        ),
    );
    added.expect_status(200);
    let after_add: BTreeSet<String> = added.json()["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_owned())
        .collect();
    let mut expect: BTreeSet<String> = names.iter().cloned().collect();
    expect.extend(["fresh-label".to_owned(), "howto".to_owned()]);
    assert_eq!(after_add, expect);
    let now = &truth(&fake, "pages")[id];
    assert_eq!(
        strings(&now["labels"]).into_iter().collect::<BTreeSet<_>>(),
        expect
    );
    assert_eq!(
        now["version"], before["version"],
        "labels do not bump the version"
    );
    assert_eq!(lastmod(&fake), modified, "nor lastmodified");
    // One object works too; bad names are a 400.
    send(
        &fake,
        "POST",
        &format!("/wiki/rest/api/content/{id}/label"),
        Some(&json!({"name": "single"})),
    )
    .expect_status(200);
    v1_error(
        &send(
            &fake,
            "POST",
            &format!("/wiki/rest/api/content/{id}/label"),
            Some(&json!({"name": "two words"})),
        ),
        400,
    );

    // Both delete forms; a label not there is a 404.
    send(
        &fake,
        "DELETE",
        &format!("/wiki/rest/api/content/{id}/label/fresh-label"),
        None,
    )
    .expect_status(204);
    send(
        &fake,
        "DELETE",
        &format!("/wiki/rest/api/content/{id}/label?name=single"),
        None,
    )
    .expect_status(204);
    v1_error(
        &send(
            &fake,
            "DELETE",
            &format!("/wiki/rest/api/content/{id}/label?name=single"),
            None,
        ),
        404,
    );
    let final_labels: BTreeSet<String> = strings(&truth(&fake, "pages")[id]["labels"])
        .into_iter()
        .collect();
    let mut expect: BTreeSet<String> = names.into_iter().collect();
    expect.insert("howto".to_owned());
    assert_eq!(final_labels, expect);
    // v2 agrees.
    let v2 = fake
        .get(&format!("/wiki/api/v2/pages/{id}?include-labels=true"), &[])
        .json();
    let v2_names: BTreeSet<String> = v2["labels"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(v2_names, expect);
    assert_eq!(fake.stats()["label_write"], 6);
    v1_error(
        &send(
            &fake,
            "POST",
            "/wiki/rest/api/content/1/label",
            Some(&json!({"name": "x"})),
        ),
        404,
    );
    // Every request above is an operation of the official description.
    assert!(check_requests(&fake) > 0);
}

#[test]
fn properties_and_restrictions_in_v1_match_the_truth() {
    let fake = start();
    let spec = v1_spec();
    let pages = truth(&fake, "pages");
    let (id, t) = pages
        .iter()
        .find(|(_, e)| e["properties"].as_object().unwrap().len() >= 2)
        .unwrap();
    let (props, requests) = walk_v1(
        &fake,
        &format!("/wiki/rest/api/content/{id}/property?limit=1"),
    );
    assert_eq!(requests, props.len());
    let got: BTreeMap<String, Value> = props
        .iter()
        .map(|p| (p["key"].as_str().unwrap().to_owned(), p["value"].clone()))
        .collect();
    assert_eq!(
        Value::from(serde_json::Map::from_iter(got)),
        t["properties"]
    );
    let key = props[0]["key"].as_str().unwrap();
    let one = fake.get(&format!("/wiki/rest/api/content/{id}/property/{key}"), &[]);
    one.expect_status(200);
    check_shape(
        &spec,
        ok_schema(&spec, "/wiki/rest/api/content/{id}/property/{key}"),
        &one.json(),
        "ContentProperty",
        V1_EXTRA,
    );
    v1_error(
        &fake.get(&format!("/wiki/rest/api/content/{id}/property/nope"), &[]),
        404,
    );

    let (rid, r) = pages
        .iter()
        .find(|(_, e)| e["restricted"] == true)
        .expect("a restricted page");
    let all = fake.get(&format!("/wiki/rest/api/content/{rid}/restriction"), &[]);
    all.expect_status(200);
    check_shape(
        &spec,
        ok_schema(&spec, "/wiki/rest/api/content/{id}/restriction"),
        &all.json(),
        "ContentRestrictionArray",
        V1_EXTRA,
    );
    let by_op = fake
        .get(
            &format!("/wiki/rest/api/content/{rid}/restriction/byOperation"),
            &[],
        )
        .json();
    for op in ["read", "update"] {
        let users: Vec<&str> = by_op[op]["restrictions"]["user"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["accountId"].as_str().unwrap())
            .collect();
        let groups: Vec<&str> = by_op[op]["restrictions"]["group"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        assert_eq!(json!(users), r["restrictions"][op]["users"], "{op}");
        assert_eq!(json!(groups), r["restrictions"][op]["groups"], "{op}");
    }
    let read = fake
        .get(
            &format!("/wiki/rest/api/content/{rid}/restriction/byOperation/read"),
            &[],
        )
        .json();
    assert_eq!(read["operation"], "read");
    v1_error(
        &fake.get(
            &format!("/wiki/rest/api/content/{rid}/restriction/byOperation/delete"),
            &[],
        ),
        400,
    );
    // Every request above is an operation of the official description.
    assert!(check_requests(&fake) > 0);
}

#[test]
fn cql_by_id_label_ancestor_and_type_with_metadata_expansions() {
    let fake = start();
    let pages = truth(&fake, "pages");
    let folders = truth(&fake, "folders");
    let posts = truth(&fake, "blogposts");

    // `id in (...)` with every metadata expansion: one request per batch.
    let batch: Vec<&String> = pages.keys().take(40).chain(posts.keys().take(5)).collect();
    let restricted: Vec<&String> = pages
        .iter()
        .filter(|(_, e)| e["restricted"] == true)
        .map(|(k, _)| k)
        .collect();
    let batch: Vec<&String> = batch
        .into_iter()
        .chain(restricted.iter().copied())
        .collect();
    let list = batch
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let expand = "version,metadata.labels,metadata.properties,restrictions.read.restrictions.user,restrictions.read.restrictions.group,restrictions.update.restrictions.user,restrictions.update.restrictions.group";
    fake.reset_stats();
    let (results, requests) = walk_cql(&fake, &format!("id in ({list}, 1)"), 200, expand, &[]);
    assert_eq!(requests, 1);
    assert_eq!(ids(&results), batch.iter().map(|s| s.to_string()).collect());
    for r in &results {
        let id = r["id"].as_str().unwrap();
        let t = pages.get(id).or_else(|| posts.get(id)).unwrap();
        let labels: Vec<&str> = r["metadata"]["labels"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].as_str().unwrap())
            .collect();
        assert_eq!(json!(labels), t["labels"], "{id}");
        let props: serde_json::Map<String, Value> = r["metadata"]["properties"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["key"].as_str().unwrap().to_owned(), p["value"].clone()))
            .collect();
        assert_eq!(Value::Object(props), t["properties"], "{id}");
        let read_users = r["restrictions"]["read"]["restrictions"]["user"]["results"]
            .as_array()
            .unwrap();
        let read_groups = r["restrictions"]["read"]["restrictions"]["group"]["results"]
            .as_array()
            .unwrap();
        assert_eq!(
            !read_users.is_empty() || !read_groups.is_empty(),
            t["restricted"] == true,
            "{id}"
        );
        let update_users: Vec<&str> = r["restrictions"]["update"]["restrictions"]["user"]
            ["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["accountId"].as_str().unwrap())
            .collect();
        assert_eq!(
            json!(update_users),
            t["restrictions"]["update"]["users"],
            "{id}"
        );
    }
    // `metadata.properties.KEY`: an object of the keys asked for.
    let (pid, pt) = pages
        .iter()
        .find(|(_, e)| e["properties"].get("editor").is_some())
        .unwrap();
    let (one, _) = walk_cql(
        &fake,
        &format!("id = {pid}"),
        10,
        "metadata.properties.editor",
        &[],
    );
    assert_eq!(
        one[0]["metadata"]["properties"]["editor"]["value"],
        pt["properties"]["editor"]
    );
    assert!(one[0].get("restrictions").is_none());

    // Labels: `=` and `IN`, and both clauses must hold.
    let having = |name: &str| -> BTreeSet<String> {
        pages
            .iter()
            .chain(posts.iter())
            .filter(|(_, e)| e["labels"].as_array().unwrap().contains(&json!(name)))
            .map(|(k, _)| k.clone())
            .collect()
    };
    let (howto, _) = walk_cql(&fake, "label = \"howto\"", 50, "version", &[]);
    assert_eq!(ids(&howto), having("howto"));
    assert!(having("howto").len() > 60);
    let total = |cql: &str| {
        fake.get(
            &format!("/wiki/rest/api/search?cql={}&limit=1", encode(cql)),
            &[],
        )
        .json()["totalSize"]
            .as_u64()
            .unwrap() as usize
    };
    assert_eq!(total("label = howto"), having("howto").len());
    assert_eq!(total(&format!("id in ({list})")), batch.len());
    let (either, _) = walk_cql(
        &fake,
        "label in (kb, api) AND type = page",
        50,
        "version",
        &[],
    );
    let expect: BTreeSet<String> = having("kb")
        .union(&having("api"))
        .filter(|id| pages.contains_key(*id))
        .cloned()
        .collect();
    assert_eq!(ids(&either), expect);
    let (both, _) = walk_cql(
        &fake,
        "label = howto AND label = \"team-a\"",
        50,
        "version",
        &[],
    );
    let expect: BTreeSet<String> = having("howto")
        .intersection(&having("team-a"))
        .cloned()
        .collect();
    assert_eq!(ids(&both), expect);
    let (blog_howto, _) = walk_cql(
        &fake,
        "type = blogpost AND label = howto",
        50,
        "version",
        &[],
    );
    assert!(ids(&blog_howto).iter().all(|id| posts.contains_key(id)));
    assert_eq!(
        ids(&blog_howto).len(),
        having("howto")
            .iter()
            .filter(|id| posts.contains_key(*id))
            .count()
    );

    // Ancestors: every page and folder below, none else.
    let below = |top: &str| descendants(&pages, &folders, top);
    let top = pages
        .keys()
        .max_by_key(|id| below(id).len())
        .unwrap()
        .clone();
    let expect = below(&top);
    assert!(expect.len() > 5, "{}", expect.len());
    let (desc, _) = walk_cql(&fake, &format!("ancestor = {top}"), 25, "version", &[]);
    assert_eq!(ids(&desc), expect);
    assert_eq!(total(&format!("ancestor = {top}")), expect.len());
    let (pages_only, _) = walk_cql(
        &fake,
        &format!("type = page AND ancestor in ({top}, 1)"),
        25,
        "version",
        &[],
    );
    let expect_pages: BTreeSet<String> = expect
        .iter()
        .filter(|id| pages.contains_key(*id))
        .cloned()
        .collect();
    assert_eq!(ids(&pages_only), expect_pages);

    // Types: blog posts, and page or blog post.
    let (blogs, _) = walk_cql(&fake, "type = blogpost AND space = DOCS", 7, "version", &[]);
    assert_eq!(ids(&blogs), posts.keys().cloned().collect());
    let (mixed, _) = walk_cql(&fake, "type in (page, blogpost)", 200, "version", &[]);
    assert_eq!(mixed.len(), pages.len() + posts.len());
    // Unknown fields stay refused in the v1 envelope.
    let bad = fake.get(
        &format!(
            "/wiki/rest/api/content/search?cql={}",
            encode("title ~ \"x\"")
        ),
        &[],
    );
    bad.expect_status(400);
    assert_eq!(bad.json()["statusCode"], 400);
    let bad = fake.get(
        &format!(
            "/wiki/rest/api/content/search?cql={}",
            encode("ancestor = home")
        ),
        &[],
    );
    bad.expect_status(400);
    // Every request above is an operation of the official description.
    assert!(check_requests(&fake) > 0);
}

#[test]
fn mutations_of_blog_posts_labels_properties_and_restrictions() {
    let fake = start();
    let before_posts = truth(&fake, "blogposts");
    let before_pages = truth(&fake, "pages");
    let m = fake.mutate_with(&json!({
        "blogposts_update": 3, "blogposts_delete": 2, "blogposts_create": 2,
        "labels": 5, "properties": 4, "restrictions": 3,
    }));
    let posts = truth(&fake, "blogposts");
    let pages = truth(&fake, "pages");
    assert_eq!(posts.len(), before_posts.len() + 2 - 2);
    for id in strings(&m["blogposts_updated"]) {
        let v: u64 = before_posts[&id]["version"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(posts[&id]["version"], (v + 1).to_string().as_str());
    }
    for id in strings(&m["blogposts_deleted"]) {
        assert!(!posts.contains_key(&id));
        fake.get(&format!("/wiki/api/v2/blogposts/{id}"), &[])
            .expect_status(404);
        let cql = encode(&format!("id = {id}"));
        assert_eq!(
            fake.get(&format!("/wiki/rest/api/search?cql={cql}"), &[])
                .json()["totalSize"],
            0
        );
    }
    for id in strings(&m["blogposts_created"]) {
        assert_eq!(posts[&id]["version"], "1");
    }
    // A CQL delta over blog posts finds exactly the updated and created ones.
    let since = chrono::Utc::now() - chrono::Duration::minutes(5);
    let cql = format!(
        "type = blogpost AND lastmodified >= \"{}\"",
        since.format("%Y-%m-%d %H:%M")
    );
    let (delta, _) = walk_cql(&fake, &cql, 2, "version", &[]);
    let expect: BTreeSet<String> = strings(&m["blogposts_updated"])
        .into_iter()
        .chain(strings(&m["blogposts_created"]))
        .collect();
    assert_eq!(ids(&delta), expect);
    // Labels, properties and restrictions change without a new version.
    let item = |id: &str| pages.get(id).or_else(|| posts.get(id)).unwrap().clone();
    let item_before = |id: &str| {
        before_pages
            .get(id)
            .or_else(|| before_posts.get(id))
            .cloned()
    };
    for (key, field) in [
        ("labels_changed", "labels"),
        ("properties_changed", "properties"),
        ("restrictions_changed", "restrictions"),
    ] {
        let changed = strings(&m[key]);
        assert!(!changed.is_empty(), "{key}");
        for id in changed {
            let (now, was) = (item(&id), item_before(&id).unwrap());
            assert_ne!(now[field], was[field], "{key} {id}");
            if !strings(&m["blogposts_updated"]).contains(&id) {
                assert_eq!(now["version"], was["version"], "{key} {id}");
            }
        }
    }
    for id in strings(&m["restrictions_changed"]) {
        let (now, was) = (item(&id), item_before(&id).unwrap());
        assert_ne!(now["restricted"], was["restricted"], "{id}");
    }
    // Every request above is an operation of the official description.
    assert!(check_requests(&fake) > 0);
}
