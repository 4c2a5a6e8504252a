//! The Confluence fake on its own (`synchost-fake confluence`), driven like
//! the plugin drives the real service: v2 listings followed through
//! `_links.next`, v1 CQL deltas, bulk fetches, downloads, basic auth and
//! rate limits; checked against `/_control/items`.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use support::confluence_api::{ids_of, space_id, truth, walk_cql, walk_v2};
use support::{http, http_get, http_post_json, percent_encode as encode, FakeServer, HttpResponse};

fn sha_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn str_set(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// The server's `Date` as CQL's `yyyy-MM-dd HH:mm`, `minutes` earlier.
fn cql_date(resp: &HttpResponse, minutes: i64) -> String {
    let date = resp.header("date").expect("a Date header");
    let t = chrono::DateTime::parse_from_rfc2822(date).expect("an HTTP date");
    (t - chrono::Duration::minutes(minutes))
        .with_timezone(&chrono::Utc)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

#[test]
fn space_listing_walks_every_page_exactly_once() {
    let fake = FakeServer::start(
        "confluence",
        &[
            "--pages",
            "1100",
            "--folders",
            "40",
            "--attachments-per-page",
            "1",
            "--seed",
            "5",
        ],
    );
    let sid = space_id(&fake, &[]);
    let pages = truth(&fake, "pages");
    assert_eq!(pages.len(), 1100);
    fake.reset_stats();

    let first = format!("/wiki/api/v2/spaces/{sid}/pages?limit=250&body-format=storage");
    let (results, requests) = walk_v2(&fake, &first, &[]);
    assert_eq!(requests, 5);
    let ids = ids_of(&results);
    assert_eq!(ids.len(), 1100);
    assert_eq!(
        ids.iter().cloned().collect::<BTreeSet<_>>(),
        pages.keys().cloned().collect(),
        "every page exactly once"
    );
    // Default order is by id.
    let nums: Vec<u64> = ids.iter().map(|i| i.parse().unwrap()).collect();
    assert!(nums.windows(2).all(|w| w[0] < w[1]));
    let mut parent_types = BTreeMap::new();
    for r in &results {
        let id = r["id"].as_str().unwrap();
        let t = &pages[id];
        assert_eq!(
            r["version"]["number"].to_string(),
            t["version"].as_str().unwrap()
        );
        assert_eq!(r["title"], t["title"]);
        assert_eq!(r["parentId"], t["parent_id"]);
        assert_eq!(r["spaceId"], sid.as_str());
        assert_eq!(r["status"], "current");
        let storage = &r["body"]["storage"];
        assert_eq!(storage["representation"], "storage");
        let value = storage["value"].as_str().unwrap();
        assert_eq!(sha_hex(value.as_bytes()), t["sha256"].as_str().unwrap());
        assert!(value.len() >= 150, "a real body: {value}");
        assert!(r["createdAt"].as_str().unwrap().starts_with("2025-"));
        *parent_types
            .entry(r["parentType"].as_str().unwrap_or("none").to_owned())
            .or_insert(0) += 1;
    }
    let under_folders = parent_types["folder"];
    assert!(
        (200..=500).contains(&under_folders),
        "about 30% under folders: {parent_types:?}"
    );
    assert!(parent_types["page"] > 400 && parent_types["none"] > 10);
    let stats = fake.stats();
    assert_eq!(stats["space_pages"], 5);
    assert_eq!(stats["requests"], 5);

    // The next link keeps the caller's parameters; ids-only has empty bodies.
    let resp = fake.get(
        &format!("/wiki/api/v2/spaces/{sid}/pages?limit=3&sort=-modified-date"),
        &[],
    );
    let v = resp.json();
    assert_eq!(v["results"][0]["body"], json!({}));
    let next = v["_links"]["next"].as_str().unwrap();
    assert!(next.starts_with(&format!(
        "/wiki/api/v2/spaces/{sid}/pages?limit=3&sort=-modified-date&cursor="
    )));
    let (by_modified, _) = walk_v2(
        &fake,
        &format!("/wiki/api/v2/spaces/{sid}/pages?limit=97&sort=-modified-date"),
        &[],
    );
    assert_eq!(by_modified.len(), 1100);
    let (by_title, _) = walk_v2(
        &fake,
        &format!("/wiki/api/v2/spaces/{sid}/pages?limit=250&sort=title"),
        &[],
    );
    let titles: Vec<&str> = by_title
        .iter()
        .map(|r| r["title"].as_str().unwrap())
        .collect();
    assert!(titles.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(
        ids_of(&by_title).into_iter().collect::<BTreeSet<_>>().len(),
        1100
    );

    // Default limit 25; above 250 the exact error.
    let v = fake
        .get(&format!("/wiki/api/v2/spaces/{sid}/pages"), &[])
        .json();
    assert_eq!(v["results"].as_array().unwrap().len(), 25);
    let resp = fake.get(&format!("/wiki/api/v2/spaces/{sid}/pages?limit=251"), &[]);
    resp.expect_status(400);
    assert_eq!(
        resp.json(),
        json!({"errors":[{"status":400,"code":"INVALID_REQUEST_PARAMETER","title":"Provided size {251} for 'limit' is greater than the max allowed: 250","detail":null}]})
    );
    let resp = fake.get("/wiki/api/v2/pages?limit=300", &[]);
    resp.expect_status(400);
    assert!(resp.body.contains("Provided size {300} for 'limit'"));
    fake.get(
        &format!("/wiki/api/v2/spaces/{sid}/pages?cursor=garbage"),
        &[],
    )
    .expect_status(400);
    // A cursor of another sort is refused.
    let cursor = next.split("cursor=").nth(1).unwrap();
    fake.get(
        &format!("/wiki/api/v2/spaces/{sid}/pages?sort=id&cursor={cursor}"),
        &[],
    )
    .expect_status(400);

    // Unknown routes: Spring's 404.
    let resp = fake.get("/wiki/api/v2/attachmentz", &[]);
    resp.expect_status(404);
    let v = resp.json();
    assert_eq!(v["error"], "Not Found");
    assert_eq!(v["path"], "/wiki/api/v2/attachmentz");
    let resp = fake.get("/wiki/api/v2/spaces/1/pages", &[]);
    resp.expect_status(404);
    assert_eq!(resp.json()["errors"][0]["code"], "NOT_FOUND");

    // Single page, folder, children.
    let (id, t) = pages.iter().nth(10).unwrap();
    let v = fake
        .get(&format!("/wiki/api/v2/pages/{id}?body-format=storage"), &[])
        .json();
    assert_eq!(v["_links"]["base"], format!("{}/wiki", fake.url()).as_str());
    assert_eq!(
        sha_hex(v["body"]["storage"]["value"].as_str().unwrap().as_bytes()),
        t["sha256"].as_str().unwrap()
    );
    let v = fake
        .get(
            &format!("/wiki/api/v2/pages/{id}?body-format=atlas_doc_format"),
            &[],
        )
        .json();
    let adf = v["body"]["atlas_doc_format"]["value"].as_str().unwrap();
    assert_eq!(
        sha_hex(adf.as_bytes()),
        t["sha256_atlas_doc_format"].as_str().unwrap()
    );
    let folders = truth(&fake, "folders");
    assert_eq!(folders.len(), 40);
    for (fid, f) in folders.iter().take(5) {
        let v = fake.get(&format!("/wiki/api/v2/folders/{fid}"), &[]).json();
        assert_eq!(v["type"], "folder");
        assert_eq!(v["title"], f["title"]);
        assert_eq!(v["parentId"], f["parent_id"]);
        assert_eq!(v["spaceId"], sid.as_str());
        assert!(v["_links"]["base"].is_string());
        let kids = fake
            .get(
                &format!("/wiki/api/v2/folders/{fid}/direct-children?limit=250"),
                &[],
            )
            .json();
        for k in kids["results"].as_array().unwrap() {
            let kid = k["id"].as_str().unwrap();
            let parent = if k["type"] == "page" {
                &pages[kid]["parent_id"]
            } else {
                &folders[kid]["parent_id"]
            };
            assert_eq!(parent, fid.as_str());
        }
    }
    fake.get("/wiki/api/v2/folders/1", &[]).expect_status(404);
    let atts = fake
        .get(&format!("/wiki/api/v2/pages/{id}/attachments"), &[])
        .json();
    let att = &atts["results"][0];
    assert_eq!(att["pageId"], id.as_str());
    assert!(att["id"].as_str().unwrap().starts_with("att"));
    assert!(att["downloadLink"]
        .as_str()
        .unwrap()
        .starts_with(&format!("/download/attachments/{id}/")));
}

#[test]
fn basic_auth_is_required_except_on_control() {
    let fake = FakeServer::start(
        "confluence",
        &[
            "--pages",
            "20",
            "--attachments-per-page",
            "1",
            "--email",
            "bot@example.com",
            "--token",
            "s3cret",
        ],
    );
    // base64("bot@example.com:s3cret")
    let good = [("Authorization", "Basic Ym90QGV4YW1wbGUuY29tOnMzY3JldA==")];
    let wrong = [("Authorization", "Basic Ym90QGV4YW1wbGUuY29tOm5vcGU=")];
    let bearer = [("Authorization", "Bearer s3cret")];
    for auth in [&[][..], &wrong[..], &bearer[..]] {
        let resp = fake.get("/wiki/api/v2/spaces?keys=DOCS", auth);
        resp.expect_status(401);
        assert_eq!(resp.json()["errors"][0]["status"], 401);
        let resp = fake.get("/wiki/rest/api/content/search?cql=type%3Dpage", auth);
        resp.expect_status(401);
        assert_eq!(resp.json()["statusCode"], 401);
    }
    let sid = space_id(&fake, &good);
    let (pages, _) = walk_v2(
        &fake,
        &format!("/wiki/api/v2/spaces/{sid}/pages?limit=7"),
        &good,
    );
    assert_eq!(pages.len(), 20);
    // Downloads need it too.
    let (atts, _) = walk_cql(
        &fake,
        "type=attachment AND space=\"DOCS\"",
        200,
        "version",
        &good,
    );
    let link = format!("/wiki{}", atts[0]["_links"]["download"].as_str().unwrap());
    fake.get(&link, &[]).expect_status(401);
    fake.get(&link, &good).expect_status(200);
    // Control needs nothing; the stats saw the 401s.
    let stats = fake.stats();
    assert_eq!(stats["by_status"]["401"], 7);
    // Auth can be switched off at runtime.
    fake.set_faults(json!({"token": null}));
    fake.get("/wiki/api/v2/spaces?keys=DOCS", &[])
        .expect_status(200);
}

#[test]
fn cql_delta_after_mutate_lists_exactly_the_changes() {
    let fake = FakeServer::start(
        "confluence",
        &[
            "--pages",
            "600",
            "--folders",
            "25",
            "--attachments-per-page",
            "2",
            "--comments-per-page",
            "1",
            "--seed",
            "9",
        ],
    );
    let blogposts = truth(&fake, "blogposts");
    assert_eq!(blogposts.len(), 60);
    // Full listings: every stream, each item once.
    for (stream, cql, expand) in [
        ("pages", "type=page AND space=\"DOCS\"", "version"),
        ("folders", "type=folder AND space=\"DOCS\"", "version"),
        (
            "attachments",
            "type=attachment AND space=\"DOCS\"",
            "version,container",
        ),
        (
            "comments",
            "type=comment AND space=\"DOCS\"",
            "version,container,body.storage",
        ),
    ] {
        let t = truth(&fake, stream);
        let (results, requests) = walk_cql(&fake, cql, 200, expand, &[]);
        let ids = ids_of(&results);
        assert_eq!(ids.len(), t.len(), "{stream}");
        assert_eq!(
            ids.iter().cloned().collect::<BTreeSet<_>>(),
            t.keys().cloned().collect(),
            "{stream}"
        );
        for r in &results {
            let e = &t[r["id"].as_str().unwrap()];
            assert_eq!(
                r["version"]["number"].to_string(),
                e["version"].as_str().unwrap()
            );
            assert_eq!(r["title"], e["title"]);
            assert!(r["version"]["when"].as_str().unwrap().starts_with("2025-"));
            match stream {
                "attachments" => {
                    assert_eq!(r["container"]["id"], e["parent_id"]);
                    // 600 pages and (by default) 60 blog posts.
                    let container = e["parent_id"].as_str().unwrap();
                    let kind = if blogposts.contains_key(container) {
                        "blogpost"
                    } else {
                        "page"
                    };
                    assert_eq!(r["container"]["type"], kind);
                    assert_eq!(r["extensions"]["fileSize"], 8192);
                    assert!(r["extensions"]["mediaType"].is_string());
                }
                "comments" => {
                    assert_eq!(r["container"]["id"], e["parent_id"]);
                    let body = r["body"]["storage"]["value"].as_str().unwrap();
                    assert_eq!(sha_hex(body.as_bytes()), e["sha256"].as_str().unwrap());
                }
                _ => assert!(r.get("container").is_none() && r.get("body").is_none()),
            }
        }
        // Bodies cap the page size at 50, other expansions at 200.
        let per_page = if expand.contains("body") { 50 } else { 200 };
        assert_eq!(requests, t.len().div_ceil(per_page).max(1), "{stream}");
    }

    // A delta from the first listing's server time sees nothing of 2025.
    let resp = fake.get("/wiki/api/v2/spaces?keys=DOCS", &[]);
    let since = cql_date(&resp, 1);
    let delta = |kind: &str, limit: u32| {
        let cql = format!("type={kind} AND space=\"DOCS\" AND lastmodified >= \"{since}\" ORDER BY lastmodified ASC");
        let (results, _) = walk_cql(&fake, &cql, limit, "version", &[]);
        ids_of(&results)
    };
    assert!(delta("page", 200).is_empty());

    let m = http_post_json(
        &format!("{}/_control/mutate", fake.url()),
        &json!({"update": 7, "delete": 3, "create": 4, "move": 5, "attachments": 6}),
    );
    m.expect_status(200);
    let m = m.json();
    let (updated, deleted, created, moved) = (
        str_set(&m["updated"]),
        str_set(&m["deleted"]),
        str_set(&m["created"]),
        str_set(&m["moved"]),
    );
    assert_eq!(
        (updated.len(), deleted.len(), created.len(), moved.len()),
        (7, 3, 4, 5)
    );
    let pages_now = truth(&fake, "pages");
    let expect: BTreeSet<String> = updated
        .iter()
        .chain(&created)
        .chain(&moved)
        .chain(&str_set(&m["reparented"]))
        .filter(|id| pages_now.contains_key(*id))
        .cloned()
        .collect();
    for limit in [200, 3] {
        let got = delta("page", limit);
        assert_eq!(got.len(), expect.len(), "no duplicates");
        assert_eq!(
            got.into_iter().collect::<BTreeSet<_>>(),
            expect,
            "limit {limit}"
        );
    }
    assert_eq!(
        delta("attachment", 200)
            .into_iter()
            .collect::<BTreeSet<_>>(),
        str_set(&m["attachments"])
    );
    assert_eq!(str_set(&m["attachments_created"]).len(), 2);
    assert!(delta("comment", 200).is_empty());
    // Deleted pages and their attachments and comments are gone everywhere.
    for id in &deleted {
        assert!(!pages_now.contains_key(id));
        fake.get(&format!("/wiki/api/v2/pages/{id}"), &[])
            .expect_status(404);
    }
    let atts_now = truth(&fake, "attachments");
    for a in str_set(&m["deleted_attachments"]) {
        assert!(!atts_now.contains_key(&a));
    }
    assert_eq!(str_set(&m["deleted_attachments"]).len(), 6);
    assert_eq!(truth(&fake, "comments").len(), 600 + 60 - 3);

    // Bulk fetch of the changed ids (and the deleted ones): one request.
    let ask: Vec<String> = expect.iter().chain(&deleted).cloned().collect();
    fake.reset_stats();
    let path = format!(
        "/wiki/api/v2/pages?id={}&body-format=storage&limit=250",
        ask.join(",")
    );
    let (results, requests) = walk_v2(&fake, &path, &[]);
    assert_eq!(requests, 1);
    assert_eq!(fake.stats()["bulk_pages"], 1);
    assert_eq!(
        ids_of(&results).into_iter().collect::<BTreeSet<_>>(),
        expect
    );
    for r in &results {
        let t = &pages_now[r["id"].as_str().unwrap()];
        assert_eq!(
            r["version"]["number"].to_string(),
            t["version"].as_str().unwrap()
        );
        assert_eq!(
            sha_hex(r["body"]["storage"]["value"].as_str().unwrap().as_bytes()),
            t["sha256"].as_str().unwrap()
        );
        assert_eq!(r["parentId"], t["parent_id"]);
    }
    for id in &updated {
        let before: u64 = results.iter().find(|r| r["id"] == id.as_str()).unwrap()["version"]
            ["number"]
            .as_u64()
            .unwrap();
        assert!(before >= 2);
    }
    // Bulk default limit is 25 with a next link.
    let many: Vec<&String> = pages_now.keys().take(40).collect();
    let v = fake
        .get(
            &format!(
                "/wiki/api/v2/pages?id={}",
                many.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            &[],
        )
        .json();
    assert_eq!(v["results"].as_array().unwrap().len(), 25);
    assert!(v["_links"]["next"]
        .as_str()
        .unwrap()
        .starts_with("/wiki/api/v2/pages?id="));

    // missing_pages: still listed, 404 alone, absent from bulk.
    let gone = expect.iter().next().unwrap().clone();
    fake.set_faults(json!({"missing_pages": [gone]}));
    assert_eq!(
        fake.get("/_control/faults", &[]).json()["missing_pages"],
        json!([gone])
    );
    let resp = fake.get(
        &format!("/wiki/api/v2/pages/{gone}?body-format=storage"),
        &[],
    );
    resp.expect_status(404);
    assert_eq!(resp.json()["errors"][0]["code"], "NOT_FOUND");
    let (results, _) = walk_v2(&fake, &path, &[]);
    assert_eq!(results.len(), expect.len() - 1);
    assert!(!ids_of(&results).contains(&gone));
    assert!(delta("page", 200).contains(&gone));
    let sid = space_id(&fake, &[]);
    let (all, _) = walk_v2(
        &fake,
        &format!("/wiki/api/v2/spaces/{sid}/pages?limit=250"),
        &[],
    );
    assert!(ids_of(&all).contains(&gone));
    fake.set_faults(json!({"missing_pages": []}));
    fake.get(&format!("/wiki/api/v2/pages/{gone}"), &[])
        .expect_status(200);
    // Bad values change nothing.
    let resp = http_post_json(
        &format!("{}/_control/faults", fake.url()),
        &json!({"missing_pages": "x", "latency_ms": 5}),
    );
    resp.expect_status(400);
    assert_eq!(fake.get("/_control/faults", &[]).json()["latency_ms"], 0);

    // CQL the fake does not know is a 400 in the v1 style.
    for bad in [
        "type=page OR type=folder",
        "type=page AND",
        "lastmodified >= \"yesterday\"",
    ] {
        let resp = fake.get(
            &format!("/wiki/rest/api/content/search?cql={}", encode(bad)),
            &[],
        );
        resp.expect_status(400);
        let v = resp.json();
        assert_eq!(v["statusCode"], 400);
        assert!(v["message"]
            .as_str()
            .unwrap()
            .contains("Could not parse cql"));
    }
    fake.get("/wiki/rest/api/content/search", &[])
        .expect_status(400);
}

#[test]
fn downloads_match_ground_truth() {
    let fake = FakeServer::start(
        "confluence",
        &[
            "--pages",
            "40",
            "--attachments-per-page",
            "2",
            "--attachment-bytes",
            "5000",
            "--seed",
            "3",
        ],
    );
    // 40 pages and 4 blog posts.
    let atts = truth(&fake, "attachments");
    assert_eq!(atts.len(), 88);
    let (results, _) = walk_cql(
        &fake,
        "type=attachment AND space=\"DOCS\"",
        200,
        "version,container",
        &[],
    );
    assert_eq!(results.len(), 88);
    let mut names = BTreeSet::new();
    for r in &results {
        let id = r["id"].as_str().unwrap();
        let link = r["_links"]["download"].as_str().unwrap();
        let page = r["container"]["id"].as_str().unwrap();
        assert!(
            link.starts_with(&format!("/download/attachments/{page}/")),
            "{link}"
        );
        assert!(
            link.contains(&format!(
                "?version={}&modificationDate=",
                r["version"]["number"]
            )),
            "{link}"
        );
        assert!(link.ends_with("&cacheVersion=1&api=v2"), "{link}");
        let resp = download(&fake, &format!("/wiki{link}"));
        assert_eq!(resp.0, 200);
        assert_eq!(resp.1.len(), 5000);
        assert_eq!(
            sha_hex(&resp.1),
            atts[id]["sha256"].as_str().unwrap(),
            "{id}"
        );
        assert_eq!(resp.2, r["extensions"]["mediaType"].as_str().unwrap());
        names.insert(r["title"].as_str().unwrap().to_owned());
    }
    assert!(names.len() > 20);
    assert_eq!(fake.stats()["download"], 88);

    // A new version: new bytes at the new link, the old version still served.
    let m = http_post_json(
        &format!("{}/_control/mutate", fake.url()),
        &json!({"attachments": 4}),
    )
    .json();
    let changed = m["attachments"][0].as_str().unwrap().to_owned();
    let before = results
        .iter()
        .find(|r| r["id"] == changed.as_str())
        .map(|r| r["_links"]["download"].as_str().unwrap().to_owned());
    let (results, _) = walk_cql(
        &fake,
        "type=attachment AND space=\"DOCS\"",
        200,
        "version",
        &[],
    );
    assert_eq!(results.len(), 89);
    let now = truth(&fake, "attachments");
    let r = results
        .iter()
        .find(|r| r["id"] == changed.as_str())
        .unwrap();
    let (status, bytes, _) = download(
        &fake,
        &format!("/wiki{}", r["_links"]["download"].as_str().unwrap()),
    );
    assert_eq!(status, 200);
    assert_eq!(sha_hex(&bytes), now[&changed]["sha256"].as_str().unwrap());
    if let Some(old) = before {
        let (_, old_bytes, _) = download(&fake, &format!("/wiki{old}"));
        assert_eq!(
            sha_hex(&old_bytes),
            atts[&changed]["sha256"].as_str().unwrap()
        );
        assert_ne!(old_bytes, bytes);
    }
    // Unknown file or version: 404.
    let page = r["_links"]["download"]
        .as_str()
        .unwrap()
        .split('/')
        .nth(3)
        .unwrap()
        .to_owned();
    assert_eq!(
        download(
            &fake,
            &format!("/wiki/download/attachments/{page}/nope.png")
        )
        .0,
        404
    );
    assert_eq!(
        download(
            &fake,
            &format!(
                "/wiki{}",
                r["_links"]["download"]
                    .as_str()
                    .unwrap()
                    .replace("?version=", "?version=9")
            )
        )
        .0,
        404
    );
}

/// (status, body bytes, content type) of a download, checking Content-Length.
fn download(fake: &FakeServer, path: &str) -> (u16, Vec<u8>, String) {
    let url = format!("{}{path}", fake.url());
    let mut resp = ureq::get(&url)
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let len = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = resp.body_mut().read_to_vec().expect("body");
    if status == 200 {
        assert_eq!(len.as_deref(), Some(bytes.len().to_string().as_str()));
    }
    (status, bytes, ctype)
}

#[test]
fn rate_limit_and_faults_look_like_atlassian() {
    let fake = FakeServer::start("confluence", &["--pages", "5", "--rate-limit", "2"]);
    let responses: Vec<HttpResponse> = (0..6)
        .map(|_| fake.get("/wiki/api/v2/spaces?keys=DOCS", &[]))
        .collect();
    let first = &responses[0];
    first.expect_status(200);
    assert_eq!(first.header("x-ratelimit-limit"), Some("2"));
    assert_eq!(first.header("x-ratelimit-remaining"), Some("1"));
    assert_eq!(
        first.header("x-ratelimit-nearlimit"),
        None,
        "half the bucket left"
    );
    let second = &responses[1];
    second.expect_status(200);
    assert_eq!(second.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(second.header("x-ratelimit-nearlimit"), Some("true"));
    let limited = responses.iter().find(|r| r.status == 429).expect("a 429");
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!(retry >= 1);
    assert_eq!(limited.header("x-ratelimit-limit"), Some("2"));
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(limited.header("x-ratelimit-nearlimit"), Some("true"));
    assert!(limited.header("ratelimit-reason").is_some());
    assert!(limited.header("x-ratelimit-reset").unwrap().ends_with('Z'));
    assert_eq!(limited.json()["errors"][0]["status"], 429);
    let v1 = fake.get("/wiki/rest/api/content/search?cql=type%3Dpage", &[]);
    if v1.status == 429 {
        assert_eq!(v1.json()["statusCode"], 429);
    }

    // Injected failures: 500 in the API's JSON, 502/503 plain.
    fake.set_faults(json!({"rate_limit": null, "fail_rate": 1.0}));
    for _ in 0..20 {
        let r = fake.get("/wiki/api/v2/spaces?keys=DOCS", &[]);
        match r.status {
            500 => assert_eq!(r.json()["errors"][0]["status"], 500),
            502 | 503 => assert!(!r.body.is_empty()),
            s => panic!("unexpected status {s}"),
        }
    }
    fake.set_faults(json!({"fail_rate": 0.0}));
    let stats = fake.stats();
    assert!(stats["by_status"]["429"].as_u64().unwrap() >= 1);
    assert_eq!(stats["spaces"].as_u64().unwrap(), 26);

    // Control: mutate refuses too much and unknown fields; items shape.
    let url = format!("{}/_control/mutate", fake.url());
    http_post_json(&url, &json!({"delete": 6})).expect_status(409);
    http_post_json(&url, &json!({"rename": 1})).expect_status(400);
    let m = http_post_json(&url, &json!({"create": 1})).json();
    assert_eq!(m["created"].as_array().unwrap().len(), 1);
    for key in ["updated", "deleted", "moved", "attachments", "reparented"] {
        assert_eq!(m[key], json!([]), "{key}");
    }
    let items = fake.ground_truth_json();
    let e = &items[0];
    for key in ["stream", "id", "version", "parent_id", "title", "sha256"] {
        assert!(e.get(key).is_some(), "{key} in {e}");
    }
    assert_eq!(fake.ground_truth().len(), 6);
    let _ = http("GET", &format!("{}/_control/stats", fake.url()), &[], None);
    let _ = http_get(&format!("{}/_control/items", fake.url()), &[]);
}

#[test]
fn same_flags_same_dataset() {
    let args = [
        "--pages",
        "50",
        "--folders",
        "5",
        "--attachments-per-page",
        "1",
        "--comments-per-page",
        "2",
        "--seed",
        "11",
    ];
    let a = FakeServer::start("confluence", &args);
    let b = FakeServer::start("confluence", &args);
    assert_eq!(a.ground_truth_json(), b.ground_truth_json());
    let c = FakeServer::start("confluence", &["--pages", "50", "--seed", "12"]);
    assert_ne!(truth(&a, "pages"), truth(&c, "pages"));
    // Awkward titles exist in a bigger space.
    let big = FakeServer::start("confluence", &["--pages", "3000", "--folders", "100"]);
    let titles: Vec<String> = truth(&big, "pages")
        .values()
        .map(|e| e["title"].as_str().unwrap().to_owned())
        .collect();
    for needle in ["/", ":", "?"] {
        assert!(
            titles.iter().any(|t| t.contains(needle)),
            "a title with {needle}"
        );
    }
    assert!(titles.iter().any(|t| !t.is_ascii()));
    assert!(titles.iter().any(|t| t.ends_with('.')));
}

// ---------------------------------------------------------------------------
// Writes: PUT, POST and DELETE /wiki/api/v2/pages

fn write(fake: &FakeServer, method: &str, path: &str, body: Option<&Value>) -> HttpResponse {
    let body = body.map(Value::to_string);
    http(
        method,
        &format!("{}{path}", fake.url()),
        &[],
        body.as_deref(),
    )
}

/// A PageUpdateRequest with a flat storage body.
fn update_body(id: &str, title: &str, storage: &str, number: u64, message: &str) -> Value {
    json!({"id": id, "status": "current", "title": title,
           "body": {"representation": "storage", "value": storage},
           "version": {"number": number, "message": message}})
}

/// The titles of a v2 error envelope, after checking its shape and status.
#[track_caller]
fn error_titles(resp: &HttpResponse, status: u16) -> Vec<String> {
    resp.expect_status(status);
    let v = resp.json();
    let errors = v["errors"].as_array().expect("an errors array");
    assert!(!errors.is_empty(), "{v}");
    errors
        .iter()
        .map(|e| {
            assert_eq!(e["status"], status, "{v}");
            assert!(e["code"].is_string() && e["detail"].is_null(), "{v}");
            e["title"].as_str().expect("a title").to_owned()
        })
        .collect()
}

fn stat(fake: &FakeServer, name: &str) -> u64 {
    fake.stats()[name]
        .as_u64()
        .unwrap_or_else(|| panic!("no counter {name}"))
}

#[test]
fn page_update_is_stored_and_seen_everywhere() {
    let fake = FakeServer::start(
        "confluence",
        &["--pages", "40", "--folders", "3", "--seed", "21"],
    );
    let before = truth(&fake, "pages");
    let (id, entry) = before.iter().nth(7).unwrap();
    let version: u64 = entry["version"].as_str().unwrap().parse().unwrap();
    let path = format!("/wiki/api/v2/pages/{id}");

    // Malformed: every problem in one 400 envelope.
    let resp = write(
        &fake,
        "PUT",
        &path,
        Some(&json!({"status": "bogus", "title": ""})),
    );
    let titles = error_titles(&resp, 400);
    for expected in [
        "id: must not be null",
        "body: must not be null",
        "version: must not be null",
    ] {
        assert!(titles.iter().any(|t| t == expected), "{titles:?}");
    }
    assert!(titles.len() >= 4, "{titles:?}");
    assert!(resp.json()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["code"] == "INVALID_REQUEST_BODY"));
    let resp = write(
        &fake,
        "PUT",
        &path,
        Some(&update_body(id, " ", "<p/>", version + 1, "")),
    );
    assert_eq!(
        error_titles(&resp, 400),
        ["Non-drafts cannot have empty titles"]
    );
    let resp = write(&fake, "PUT", &path, Some(&json!("not an object")));
    error_titles(&resp, 400);

    // The same version again, or one too far: 409 with the observed body.
    for provided in [version, version + 2] {
        let resp = write(
            &fake,
            "PUT",
            &path,
            Some(&update_body(id, "T", "<p/>", provided, "")),
        );
        resp.expect_status(409);
        assert_eq!(
            resp.json(),
            json!({"errors": [{"status": 409, "code": "CONFLICT",
                "title": format!("Version must be incremented when updating a page. Current Version: [{version}]. Provided version: [{provided}]"),
                "detail": null}]})
        );
    }
    // Unknown page.
    let resp = write(
        &fake,
        "PUT",
        "/wiki/api/v2/pages/999",
        Some(&update_body("999", "T", "<p/>", 2, "")),
    );
    assert_eq!(
        error_titles(&resp, 404),
        ["Cannot find a page with id [999]"]
    );
    assert_eq!(truth(&fake, "pages"), before, "nothing was applied");

    // A good update, nested body form, with a new title and a message.
    let storage = "<p>Edited &amp; <strong>pushed</strong></p>";
    let body = json!({"id": id, "status": "current", "title": "Pushed title",
        "body": {"storage": {"representation": "storage", "value": storage}},
        "version": {"number": version + 1, "message": "synchost change k-1"}});
    let resp = write(&fake, "PUT", &path, Some(&body));
    resp.expect_status(200);
    let v = resp.json();
    assert_eq!(v["id"], id.as_str());
    assert_eq!(v["title"], "Pushed title");
    assert_eq!(
        v["body"]["storage"],
        json!({"representation": "storage", "value": storage})
    );
    assert_eq!(v["version"]["number"], version + 1);
    assert_eq!(v["version"]["message"], "synchost change k-1");
    assert_eq!(v["version"]["minorEdit"], false);
    assert!(v["version"]["createdAt"].as_str().unwrap().ends_with('Z'));
    assert!(v["version"]["authorId"].is_string());
    assert_eq!(v["_links"]["base"], format!("{}/wiki", fake.url()).as_str());

    // GET, the bulk and space listings, the title lookup and CQL show it.
    let got = fake.get(&format!("{path}?body-format=storage"), &[]).json();
    assert_eq!(got["title"], "Pushed title");
    assert_eq!(got["version"], v["version"]);
    assert_eq!(got["body"]["storage"]["value"], storage);
    let bulk = fake
        .get(
            &format!("/wiki/api/v2/pages?id={id}&body-format=storage"),
            &[],
        )
        .json();
    assert_eq!(
        bulk["results"][0]["version"]["message"],
        "synchost change k-1"
    );
    assert_eq!(bulk["results"][0]["body"]["storage"]["value"], storage);
    let space = space_id(&fake, &[]);
    let found = fake
        .get(
            &format!(
                "/wiki/api/v2/pages?space-id={space}&title=Pushed%20title&body-format=storage"
            ),
            &[],
        )
        .json();
    assert_eq!(ids_of(found["results"].as_array().unwrap()), [id.as_str()]);
    let old_title = entry["title"].as_str().unwrap();
    let stale = fake
        .get(
            &format!(
                "/wiki/api/v2/spaces/{space}/pages?title={}",
                encode(old_title)
            ),
            &[],
        )
        .json();
    assert!(!ids_of(stale["results"].as_array().unwrap()).contains(id));
    let now = fake.get("/wiki/api/v2/spaces?keys=DOCS", &[]);
    let (delta, _) = walk_cql(
        &fake,
        &format!(
            "type=page AND space=\"DOCS\" AND lastmodified >= \"{}\"",
            cql_date(&now, 2)
        ),
        50,
        "version,body.storage",
        &[],
    );
    assert_eq!(
        ids_of(&delta),
        [id.as_str()],
        "the delta finds exactly the update"
    );
    assert_eq!(delta[0]["version"]["message"], "synchost change k-1");
    assert_eq!(delta[0]["body"]["storage"]["value"], storage);

    // The ground truth: new version, title and sha256 of the written body.
    let after = truth(&fake, "pages");
    assert_eq!(after[id]["version"], (version + 1).to_string().as_str());
    assert_eq!(after[id]["title"], "Pushed title");
    assert_eq!(after[id]["sha256"], sha_hex(storage.as_bytes()).as_str());
    assert_eq!(after[id]["parent_id"], entry["parent_id"]);
    let others = |t: &BTreeMap<String, Value>| {
        t.iter()
            .filter(|(k, _)| *k != id)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(others(&after), others(&before), "only that page changed");

    // A remote edit (mutate, on purpose) shares the version counter: the
    // next PUT based on the pushed version conflicts, one based on the new
    // one applies (flat body form this time).
    let m = fake.mutate_with(&json!({"update_ids": [id]}));
    assert_eq!(m["updated"], json!([id]));
    let remote = truth(&fake, "pages")[id].clone();
    assert_eq!(remote["version"], (version + 2).to_string().as_str());
    assert_ne!(
        remote["sha256"], after[id]["sha256"],
        "a remote edit has its own body"
    );
    let got = fake.get(&path, &[]).json();
    assert_eq!(
        got["version"]["message"], "",
        "the remote version has no message"
    );
    let resp = write(
        &fake,
        "PUT",
        &path,
        Some(&update_body(
            id,
            "Pushed title",
            "<p>2</p>",
            version + 2,
            "k-2",
        )),
    );
    assert_eq!(resp.status, 409);
    assert!(error_titles(&resp, 409)[0].contains(&format!("Current Version: [{}]", version + 2)));
    let resp = write(
        &fake,
        "PUT",
        &path,
        Some(&update_body(
            id,
            "Pushed title",
            "<p>3</p>",
            version + 3,
            "k-3",
        )),
    );
    resp.expect_status(200);
    assert_eq!(
        truth(&fake, "pages")[id]["sha256"],
        sha_hex(b"<p>3</p>").as_str()
    );
    // Older versions keep what was written then.
    let old = fake
        .get(
            &format!("{path}?version={}&body-format=storage", version + 1),
            &[],
        )
        .json();
    assert_eq!(old["status"], "historical");
    assert_eq!(old["version"]["number"], version + 1);
    assert_eq!(old["version"]["message"], "synchost change k-1");
    assert_eq!(old["body"]["storage"]["value"], storage);
    let remote_then = fake
        .get(
            &format!("{path}?version={}&body-format=storage", version + 2),
            &[],
        )
        .json();
    assert_eq!(remote_then["version"]["message"], "");
    assert_eq!(
        sha_hex(
            remote_then["body"]["storage"]["value"]
                .as_str()
                .unwrap()
                .as_bytes()
        ),
        remote["sha256"].as_str().unwrap()
    );

    // A title another page has is refused; a move needs an existing parent.
    let (_, other_entry) = before.iter().find(|(k, _)| *k != id).unwrap();
    let taken = other_entry["title"].as_str().unwrap();
    let resp = write(
        &fake,
        "PUT",
        &path,
        Some(&update_body(id, taken, "<p/>", version + 4, "")),
    );
    assert_eq!(
        resp.json(),
        json!({"errors": [{"status": 400, "code": "INVALID_REQUEST_PARAMETER",
            "title": "A page with this title already exists: A page already exists with the same TITLE in this space",
            "detail": null}]})
    );
    let mut moved = update_body(id, "Pushed title", "<p>3</p>", version + 4, "");
    moved["parentId"] = json!("1");
    error_titles(&write(&fake, "PUT", &path, Some(&moved)), 404);
    moved["parentId"] = json!(id);
    error_titles(&write(&fake, "PUT", &path, Some(&moved)), 400);
    let folder = truth(&fake, "folders").keys().next().unwrap().clone();
    moved["parentId"] = json!(folder);
    write(&fake, "PUT", &path, Some(&moved)).expect_status(200);
    let t = &truth(&fake, "pages")[id];
    assert_eq!(t["parent_id"], folder.as_str());
    assert_eq!(t["version"], (version + 4).to_string().as_str());
    let got = fake.get(&path, &[]).json();
    assert_eq!(got["parentType"], "folder");

    assert!(stat(&fake, "page_update") >= 10);
    let log = fake.get("/_control/requests", &[]).json();
    assert!(log
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["method"] == "PUT" && r["path"] == path.as_str() && r["status"] == 409));
}

#[test]
fn page_create_checks_space_title_and_parent() {
    let fake = FakeServer::start(
        "confluence",
        &["--pages", "30", "--folders", "4", "--seed", "22"],
    );
    let space = space_id(&fake, &[]);
    let homepage = fake
        .get(&format!("/wiki/api/v2/spaces/{space}"), &[])
        .json()["homepageId"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = fake.ground_truth_json();
    let max_id = before
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["id"]
                .as_str()
                .unwrap()
                .trim_start_matches("att")
                .parse::<u64>()
                .unwrap()
        })
        .max()
        .unwrap();
    let pages = truth(&fake, "pages");
    let folder = truth(&fake, "folders").keys().next().unwrap().clone();
    let post = |body: &Value, query: &str| {
        write(
            &fake,
            "POST",
            &format!("/wiki/api/v2/pages{query}"),
            Some(body),
        )
    };

    let titles = error_titles(&post(&json!({"status": "current"}), ""), 400);
    assert!(
        titles.contains(&"spaceId: must not be null".to_owned()),
        "{titles:?}"
    );
    assert!(
        titles.contains(&"Non-drafts cannot have empty titles".to_owned()),
        "{titles:?}"
    );
    assert_eq!(
        error_titles(&post(&json!({"spaceId": "1", "title": "New"}), ""), 404),
        ["Cannot find space with id [1]"]
    );
    let taken = pages.values().next().unwrap()["title"].as_str().unwrap();
    let resp = post(&json!({"spaceId": space, "title": taken}), "");
    assert_eq!(
        resp.json(),
        json!({"errors": [{"status": 400, "code": "INVALID_REQUEST_PARAMETER",
            "title": "A page with this title already exists: A page already exists with the same TITLE in this space",
            "detail": null}]})
    );
    error_titles(
        &post(
            &json!({"spaceId": space, "title": "New", "parentId": "12"}),
            "",
        ),
        404,
    );
    error_titles(
        &post(
            &json!({"spaceId": space, "title": "New", "parentId": folder}),
            "?root-level=true",
        ),
        400,
    );
    let atlas = json!({"spaceId": space, "title": "New", "body": {"representation": "atlas_doc_format", "value": "{}"}});
    error_titles(&post(&atlas, ""), 400);
    assert_eq!(fake.ground_truth_json(), before, "nothing was created");

    // Under a folder, under the homepage by default, at the root on request.
    let storage = "<p>Brand new</p>";
    let mut created = Vec::new();
    for (title, parent, query, expect_parent) in [
        (
            "In a folder",
            Some(folder.as_str()),
            "",
            Some(folder.as_str()),
        ),
        ("Default parent", None, "", Some(homepage.as_str())),
        ("At the root", None, "?root-level=true", None),
    ] {
        let mut body = json!({"spaceId": space, "status": "current", "title": title,
            "body": {"representation": "storage", "value": storage}});
        if let Some(p) = parent {
            body["parentId"] = json!(p);
        }
        let resp = post(&body, query);
        resp.expect_status(200);
        let v = resp.json();
        let id = v["id"].as_str().unwrap().to_owned();
        assert!(
            id.parse::<u64>().unwrap() > max_id,
            "new ids above every existing one"
        );
        assert_eq!(v["title"], title);
        assert_eq!(v["version"]["number"], 1);
        assert_eq!(v["body"]["storage"]["value"], storage);
        assert_eq!(v["parentId"], json!(expect_parent));
        assert_eq!(v["_links"]["base"], format!("{}/wiki", fake.url()).as_str());
        let t = &truth(&fake, "pages")[&id];
        assert_eq!(t["version"], "1");
        assert_eq!(t["title"], title);
        assert_eq!(t["parent_id"], json!(expect_parent));
        assert_eq!(t["sha256"], sha_hex(storage.as_bytes()).as_str());
        created.push(id);
    }
    // The title lookup a plugin does after a duplicate-title 400.
    let found = fake
        .get(
            &format!(
                "/wiki/api/v2/pages?space-id={space}&title=Default%20parent&body-format=storage"
            ),
            &[],
        )
        .json();
    assert_eq!(
        ids_of(found["results"].as_array().unwrap()),
        [created[1].as_str()]
    );
    assert_eq!(found["results"][0]["body"]["storage"]["value"], storage);
    let again = post(&json!({"spaceId": space, "title": "Default parent"}), "");
    error_titles(&again, 400);
    assert_eq!(truth(&fake, "pages").len(), pages.len() + 3, "no duplicate");
    assert_eq!(stat(&fake, "page_create"), 10);
}

#[test]
fn page_delete_trashes_the_page() {
    let fake = FakeServer::start(
        "confluence",
        &[
            "--pages",
            "60",
            "--attachments-per-page",
            "1",
            "--seed",
            "23",
        ],
    );
    let pages = truth(&fake, "pages");
    // A page with a child page, to see the child move up.
    let (id, entry) = pages
        .iter()
        .find(|(id, _)| pages.values().any(|p| p["parent_id"] == id.as_str()))
        .expect("a page with children");
    let child = pages
        .iter()
        .find(|(_, p)| p["parent_id"] == id.as_str())
        .map(|(c, _)| c.clone())
        .unwrap();
    let path = format!("/wiki/api/v2/pages/{id}");
    error_titles(&write(&fake, "DELETE", "/wiki/api/v2/pages/77", None), 404);
    error_titles(
        &write(&fake, "DELETE", &format!("{path}?purge=maybe"), None),
        400,
    );

    let resp = write(&fake, "DELETE", &path, None);
    resp.expect_status(204);
    assert!(resp.body.is_empty());
    assert_eq!(
        error_titles(&fake.get(&path, &[]), 404),
        [format!("Cannot find a page with id [{id}]")]
    );
    error_titles(&write(&fake, "DELETE", &path, None), 404);
    let resp = write(
        &fake,
        "PUT",
        &path,
        Some(&update_body(id, "T", "<p/>", 99, "")),
    );
    error_titles(&resp, 404);

    let after = truth(&fake, "pages");
    assert!(!after.contains_key(id));
    assert_eq!(
        after[&child]["parent_id"], entry["parent_id"],
        "the child moved up"
    );
    assert!(truth(&fake, "attachments")
        .values()
        .all(|a| a["parent_id"] != id.as_str()));
    let space = space_id(&fake, &[]);
    let (listed, _) = walk_v2(
        &fake,
        &format!("/wiki/api/v2/spaces/{space}/pages?limit=250"),
        &[],
    );
    assert!(!ids_of(&listed).contains(id), "gone from listings");
    assert_eq!(listed.len(), pages.len() - 1);
    assert_eq!(stat(&fake, "page_delete"), 4);
}

#[test]
fn lost_writes_are_applied_and_injected_failures_are_not() {
    let fake = FakeServer::start(
        "confluence",
        &["--pages", "20", "--seed", "24", "--lost-write-rate", "1"],
    );
    let faults = fake.get("/_control/faults", &[]).json();
    assert_eq!(faults["lost_write_rate"], 1.0);
    let pages = truth(&fake, "pages");
    let (id, entry) = pages.iter().next().unwrap();
    let version: u64 = entry["version"].as_str().unwrap().parse().unwrap();
    let path = format!("/wiki/api/v2/pages/{id}");

    // The answer is lost, the write is not.
    let resp = write(
        &fake,
        "PUT",
        &path,
        Some(&update_body(
            id,
            "Lost",
            "<p>lost</p>",
            version + 1,
            "key-1",
        )),
    );
    assert_eq!(resp.status, 503);
    let got = fake.get(&path, &[]).json();
    assert_eq!(got["version"]["number"], version + 1);
    assert_eq!(got["version"]["message"], "key-1");
    // A retry of the same PUT conflicts: its own write is the current version.
    let resp = write(
        &fake,
        "PUT",
        &path,
        Some(&update_body(
            id,
            "Lost",
            "<p>lost</p>",
            version + 1,
            "key-1",
        )),
    );
    error_titles(&resp, 409);
    // Reads and refused writes are never lost.
    fake.get(&path, &[]).expect_status(200);

    let space = space_id(&fake, &[]);
    let resp = write(
        &fake,
        "POST",
        "/wiki/api/v2/pages",
        Some(&json!({"spaceId": space, "title": "Lost create"})),
    );
    assert_eq!(resp.status, 503);
    let found = fake
        .get(
            &format!("/wiki/api/v2/pages?space-id={space}&title=Lost%20create"),
            &[],
        )
        .json();
    assert_eq!(
        found["results"].as_array().unwrap().len(),
        1,
        "created once"
    );
    let resp = write(&fake, "DELETE", &path, None);
    assert_eq!(resp.status, 503);
    fake.get(&path, &[]).expect_status(404);
    assert_eq!(fake.stats()["lost_writes"], 3);

    // Injected 5xx answer before the route: nothing is applied.
    fake.set_faults(json!({"lost_write_rate": 0, "fail_rate": 1.0}));
    let now = truth(&fake, "pages");
    let (other, other_entry) = now.iter().next().unwrap();
    let v: u64 = other_entry["version"].as_str().unwrap().parse().unwrap();
    let resp = write(
        &fake,
        "PUT",
        &format!("/wiki/api/v2/pages/{other}"),
        Some(&update_body(other, "Never", "<p/>", v + 1, "")),
    );
    assert!(resp.status >= 500, "{}", resp.status);
    fake.set_faults(json!({"fail_rate": 0}));
    assert_eq!(truth(&fake, "pages")[other], *other_entry, "not applied");
    assert_eq!(fake.stats()["lost_writes"], 3);
    let bad = http(
        "POST",
        &format!("{}/_control/faults", fake.url()),
        &[],
        Some(r#"{"lost_write_rate": 2}"#),
    );
    assert_eq!(bad.status, 400);
}
