//! The items fake on its own, driven through the test support module: proves
//! the fake keeps its contract (docs/fake-items-api.md) and that the support
//! code can start, query and steer it.

mod support;

use std::collections::BTreeSet;

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use support::{http, http_get, FakeServer, HttpResponse};

/// Pages through `/items` (optionally `since`) to the end. Returns the item
/// `(id, version)`s, the deleted ids, the watermark and the number of pages.
fn list_all(
    fake: &FakeServer,
    limit: u32,
    since: Option<&str>,
    auth: &[(&str, &str)],
) -> (Vec<(String, String)>, Vec<String>, String, usize) {
    let (mut items, mut deleted) = (Vec::new(), Vec::new());
    let mut cursor: Option<String> = None;
    let mut watermark: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!("/items?limit={limit}");
        if let Some(s) = since {
            path.push_str(&format!("&since={s}"));
        }
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = fake.get(&path, auth);
        page.expect_status(200);
        let page = page.json();
        pages += 1;
        let wm = page["watermark"]
            .as_str()
            .expect("watermark string")
            .to_owned();
        assert_eq!(
            watermark.get_or_insert_with(|| wm.clone()),
            &wm,
            "the watermark is fixed for a listing"
        );
        let page_items = page["items"].as_array().expect("items array");
        let page_deleted = page["deleted"].as_array().expect("deleted array");
        assert!(page_items.len() + page_deleted.len() <= limit as usize);
        for it in page_items {
            items.push((
                it["id"].as_str().unwrap().to_owned(),
                it["version"].as_str().unwrap().to_owned(),
            ));
            assert!(it["updated_at"].as_str().unwrap().ends_with('Z'));
        }
        deleted.extend(page_deleted.iter().map(|d| d.as_str().unwrap().to_owned()));
        match &page["next_cursor"] {
            Value::String(c) => cursor = Some(c.clone()),
            Value::Null => break,
            other => panic!("next_cursor is {other}"),
        }
    }
    (items, deleted, watermark.unwrap(), pages)
}

fn ids(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .expect("array of ids")
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn pagination_covers_every_item_once_and_matches_ground_truth() {
    let fake = FakeServer::start("items", &["--count", "2345", "--seed", "11"]);
    assert!(fake.url().starts_with("http://127.0.0.1:"));
    let truth = fake.ground_truth();
    assert_eq!(truth.len(), 2345);
    assert_eq!(truth[0], ("item-000001".to_owned(), "1".to_owned()));
    assert_eq!(truth[2344].0, "item-002345");

    for limit in [1000, 97] {
        let (items, deleted, watermark, pages) = list_all(&fake, limit, None, &[]);
        assert_eq!(items, truth, "limit {limit}");
        assert!(deleted.is_empty());
        assert_eq!(watermark, "0");
        assert_eq!(pages, 2345usize.div_ceil(limit as usize));
    }
    let first = fake.get("/items?limit=5", &[]).json();
    assert_eq!(first["total"], 2345);

    // Control requests are not counted; listing pages are.
    let stats = fake.stats();
    assert_eq!(stats["list_requests"], 3 + 25 + 1);
    assert_eq!(stats["requests"], 3 + 25 + 1);
    assert_eq!(stats["by_status"]["200"], 3 + 25 + 1);
    fake.reset_stats();
    assert_eq!(fake.requests(), 0);

    // The same flags give the same dataset.
    let twin = FakeServer::start("items", &["--count", "2345", "--seed", "11"]);
    let a = fake.get("/items/item-000123", &[]).json();
    let b = twin.get("/items/item-000123", &[]).json();
    assert_eq!(a, b);
    assert_eq!(a["id"], "item-000123");
    assert!(a["content"].as_str().unwrap().len() >= 200);
    assert!(a["tags"].is_array() && a["title"].is_string());
    assert_eq!(fake.stats()["item_requests"], 1);
}

#[test]
fn since_after_mutate_returns_exactly_the_changes() {
    let fake = FakeServer::start("items", &["--count", "1500", "--seed", "5"]);
    let (_, _, wm0, _) = list_all(&fake, 1000, None, &[]);

    let m = fake.mutate(25, 10, 4);
    let (updated, deleted, created) = (ids(&m["updated"]), ids(&m["deleted"]), ids(&m["created"]));
    assert_eq!((updated.len(), deleted.len(), created.len()), (25, 10, 4));
    assert!(updated.is_disjoint(&deleted));
    assert_eq!(
        created,
        ["item-001501", "item-001502", "item-001503", "item-001504"]
            .map(String::from)
            .into()
    );

    for limit in [7, 1000] {
        let (items, dels, wm1, _) = list_all(&fake, limit, Some(&wm0), &[]);
        let got: BTreeSet<String> = items.iter().map(|(id, _)| id.clone()).collect();
        assert_eq!(got.len(), items.len(), "no id twice");
        assert_eq!(got, updated.union(&created).cloned().collect());
        assert_eq!(dels.into_iter().collect::<BTreeSet<_>>(), deleted);
        assert_eq!(wm1, "39");
        for (id, version) in &items {
            let want = if created.contains(id) { "1" } else { "2" };
            assert_eq!(version, want, "{id}");
        }
    }

    // Ground truth agrees: updated bumped, deleted gone, created there.
    let truth = fake.ground_truth();
    assert_eq!(truth.len(), 1500 - 10 + 4);
    for (id, version) in &truth {
        assert!(!deleted.contains(id));
        if updated.contains(id) {
            assert_eq!(version, "2");
        }
    }
    let gone = deleted.iter().next().unwrap();
    let resp = fake.get(&format!("/items/{gone}"), &[]);
    resp.expect_status(404);
    assert_eq!(
        resp.json(),
        json!({"error": "not_found", "message": format!("no item {gone}")})
    );

    // Nothing changed since the latest watermark.
    let (items, dels, _, pages) = list_all(&fake, 100, Some("39"), &[]);
    assert!(items.is_empty() && dels.is_empty());
    assert_eq!(pages, 1);
}

#[test]
fn auth_limits_and_faults() {
    let fake = FakeServer::start("items", &["--count", "10", "--token", "s3cret"]);
    let ok = [("Authorization", "Bearer s3cret")];

    let resp = http_get(
        &format!("{}/items", fake.url()),
        &[("Authorization", "Bearer nope")],
    );
    resp.expect_status(401);
    assert_eq!(resp.header("www-authenticate"), Some("Bearer"));
    assert_eq!(resp.json()["error"], "unauthorized");
    fake.get("/items", &ok).expect_status(200);

    let resp = fake.get("/items?limit=1001", &ok);
    resp.expect_status(400);
    assert_eq!(
        resp.json(),
        json!({"error": "bad_request", "message": "limit must be between 1 and 1000"})
    );
    fake.get("/items?cursor=garbage!", &ok).expect_status(400);

    // Rate limit at runtime: a burst of 2, then 429 with Retry-After.
    fake.set_faults(json!({"rate_limit": 2}));
    let statuses: Vec<_> = (0..5).map(|_| fake.get("/items?limit=1", &ok)).collect();
    assert_eq!(statuses[0].status, 200);
    assert_eq!(statuses[0].header("x-ratelimit-limit"), Some("2"));
    assert!(statuses[0].header("x-ratelimit-remaining").is_some());
    let limited = statuses.iter().find(|r| r.status == 429).expect("a 429");
    assert_eq!(limited.json(), json!({"error": "rate_limited"}));
    let retry_after: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));

    // Fail everything, then drop the token and every fault.
    fake.set_faults(json!({"rate_limit": null, "fail_rate": 1.0}));
    let resp = fake.get("/items", &ok);
    assert!([500, 502, 503].contains(&resp.status), "{}", resp.status);
    assert_eq!(resp.json(), json!({"error": "injected_failure"}));
    fake.set_faults(json!({"fail_rate": 0.0, "token": null}));
    fake.get("/items", &[]).expect_status(200);

    let stats = fake.stats();
    assert_eq!(stats["by_status"]["401"], 1);
    assert_eq!(stats["by_status"]["400"], 2);
    assert!(stats["by_status"]["429"].as_u64().unwrap() >= 1);
    assert_eq!(stats["requests"], fake.requests());

    // A bad faults body is refused.
    let resp = support::http_post_json(
        &format!("{}/_control/faults", fake.url()),
        &json!({"fail_rate": 2}),
    );
    resp.expect_status(400);
}

// ---------------------------------------------------------------------------
// Writes

fn send(
    fake: &FakeServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> HttpResponse {
    let body = body.map(Value::to_string);
    http(
        method,
        &format!("{}{path}", fake.url()),
        headers,
        body.as_deref(),
    )
}

fn sha_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The ground truth entry of `id`, if live.
fn truth_of(fake: &FakeServer, id: &str) -> Option<Value> {
    fake.ground_truth_json()
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .cloned()
}

#[test]
fn create_is_idempotent_by_key() {
    let fake = FakeServer::start("items", &["--count", "20", "--seed", "3"]);
    let body = json!({"title": "Pushed", "content": "Hello from a push.", "tags": ["red"]});

    let resp = send(&fake, "POST", "/items", &[], Some(&body));
    resp.expect_status(400);
    assert_eq!(
        resp.json(),
        json!({"error": "bad_request", "message": "the Idempotency-Key header is required"})
    );
    let key = [("Idempotency-Key", "k-create-1")];
    for bad in [
        json!({"title": "", "content": "x"}),
        json!({"title": "T"}),
        json!({"title": "T", "content": 3}),
        json!({"title": "T", "content": "x", "tags": "red"}),
        json!({"title": "T", "content": "x", "extra": 1}),
        json!({"title": "T", "content": "x", "body": "y"}),
    ] {
        send(&fake, "POST", "/items", &key, Some(&bad)).expect_status(400);
    }
    assert_eq!(fake.ground_truth().len(), 20, "nothing created");

    let resp = send(&fake, "POST", "/items", &key, Some(&body));
    resp.expect_status(201);
    let item = resp.json();
    assert_eq!(item["id"], "item-000021");
    assert_eq!(item["version"], "1");
    assert_eq!(item["title"], "Pushed");
    assert_eq!(item["content"], "Hello from a push.");
    assert_eq!(item["tags"], json!(["red"]));
    assert_eq!(item["change_key"], "k-create-1");
    assert_eq!(resp.header("location"), Some("/items/item-000021"));
    assert_eq!(resp.header("etag"), Some("\"1\""));

    // The same key and body: the same item, 200, never a duplicate.
    let again = send(&fake, "POST", "/items", &key, Some(&body));
    again.expect_status(200);
    assert_eq!(again.json(), item);
    assert_eq!(fake.ground_truth().len(), 21);
    // The same key for another body: 422, nothing created.
    let other = json!({"title": "Other", "content": "x"});
    let resp = send(&fake, "POST", "/items", &key, Some(&other));
    resp.expect_status(422);
    assert_eq!(resp.json()["error"], "idempotency_key_reused");
    // `body` is an alias of `content`.
    let resp = send(
        &fake,
        "POST",
        "/items",
        &[("Idempotency-Key", "k-create-2")],
        Some(&json!({"title": "Alias", "body": "via body"})),
    );
    resp.expect_status(201);
    assert_eq!(resp.json()["content"], "via body");
    assert_eq!(resp.json()["tags"], json!([]));

    // Reads show it: GET, the change_key lookup, a since listing, the truth.
    assert_eq!(fake.get("/items/item-000021", &[]).json(), item);
    let found = fake.get("/items?change_key=k-create-1", &[]).json();
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    assert_eq!(found["items"][0]["id"], "item-000021");
    assert_eq!(found["items"][0]["change_key"], "k-create-1");
    let none = fake.get("/items?change_key=nope", &[]).json();
    assert_eq!(none["items"], json!([]));
    fake.get("/items?change_key=k&since=0", &[])
        .expect_status(400);
    let (items, _, _, _) = list_all(&fake, 100, Some("0"), &[]);
    assert_eq!(
        items,
        [
            ("item-000021".to_owned(), "1".to_owned()),
            ("item-000022".to_owned(), "1".to_owned())
        ]
    );
    let t = truth_of(&fake, "item-000021").unwrap();
    assert_eq!(t["title"], "Pushed");
    assert_eq!(t["sha256"], sha_hex("Hello from a push.").as_str());
    assert_eq!(t["change_key"], "k-create-1");

    let stats = fake.stats();
    assert_eq!(stats["create_requests"], 1 + 6 + 4);
    assert_eq!(stats["by_status"]["201"], 2);
}

#[test]
fn update_and_delete_need_the_current_version() {
    let fake = FakeServer::start("items", &["--count", "30", "--seed", "4"]);
    let id = "item-000007";
    let path = format!("/items/{id}");
    let original = fake.get(&path, &[]).json();
    assert_eq!(original["change_key"], Value::Null);
    let body = json!({"title": "Edited", "content": "New text."});

    let resp = send(&fake, "PUT", &path, &[], Some(&body));
    resp.expect_status(428);
    assert_eq!(resp.json()["error"], "precondition_required");
    let resp = send(&fake, "PUT", &path, &[("If-Match", "\"2\"")], Some(&body));
    resp.expect_status(412);
    assert_eq!(resp.json(), original, "412 carries the current item");
    send(&fake, "PUT", &path, &[("If-Match", "2")], Some(&body)).expect_status(400);
    send(
        &fake,
        "PUT",
        "/items/item-000099",
        &[("If-Match", "\"1\"")],
        Some(&body),
    )
    .expect_status(404);
    send(
        &fake,
        "PUT",
        &path,
        &[("If-Match", "\"1\"")],
        Some(&json!({"title": "T"})),
    )
    .expect_status(400);
    assert_eq!(fake.get(&path, &[]).json(), original, "nothing applied");

    let headers = [("If-Match", "\"1\""), ("Idempotency-Key", "k-up-1")];
    let resp = send(&fake, "PUT", &path, &headers, Some(&body));
    resp.expect_status(200);
    let updated = resp.json();
    assert_eq!(updated["version"], "2");
    assert_eq!(updated["title"], "Edited");
    assert_eq!(updated["content"], "New text.");
    assert_eq!(
        updated["tags"], original["tags"],
        "tags kept when not given"
    );
    assert_eq!(updated["change_key"], "k-up-1");
    assert_eq!(resp.header("etag"), Some("\"2\""));
    // A retry with the same key is answered again, not applied twice.
    let resp = send(&fake, "PUT", &path, &headers, Some(&body));
    resp.expect_status(200);
    assert_eq!(resp.json(), updated);
    // The same key for another change is refused.
    let other = json!({"title": "Other", "content": "x"});
    send(&fake, "PUT", &path, &headers, Some(&other)).expect_status(422);
    let t = truth_of(&fake, id).unwrap();
    assert_eq!(
        (t["version"].as_str(), t["title"].as_str()),
        (Some("2"), Some("Edited"))
    );
    assert_eq!(t["sha256"], sha_hex("New text.").as_str());

    // A remote edit on purpose: the push based on version 2 gets 412.
    let m = fake.mutate_with(&json!({"update_ids": [id]}));
    assert_eq!(m["updated"], json!([id]));
    let remote = fake.get(&path, &[]).json();
    assert_eq!(remote["version"], "3");
    assert_ne!(
        remote["content"], "New text.",
        "the remote edit has its own content"
    );
    assert_eq!(
        remote["change_key"], "k-up-1",
        "the key of the last API write stays"
    );
    let resp = send(&fake, "PUT", &path, &[("If-Match", "\"2\"")], Some(&body));
    resp.expect_status(412);
    assert_eq!(resp.json(), remote);

    // Delete: the same preconditions, then a tombstone.
    send(&fake, "DELETE", &path, &[], None).expect_status(428);
    send(&fake, "DELETE", &path, &[("If-Match", "\"2\"")], None).expect_status(412);
    let del = [("If-Match", "\"3\""), ("Idempotency-Key", "k-del-1")];
    let resp = send(&fake, "DELETE", &path, &del, None);
    resp.expect_status(204);
    assert!(resp.body.is_empty());
    send(&fake, "DELETE", &path, &del, None).expect_status(204);
    send(&fake, "DELETE", &path, &[("If-Match", "\"3\"")], None).expect_status(404);
    fake.get(&path, &[]).expect_status(404);
    assert!(truth_of(&fake, id).is_none());
    let (items, deleted, _, _) = list_all(&fake, 100, Some("0"), &[]);
    assert!(items.is_empty());
    assert_eq!(deleted, [id]);
    assert_eq!(
        fake.get("/items?change_key=k-up-1", &[]).json()["items"],
        json!([])
    );

    let stats = fake.stats();
    assert_eq!(stats["update_requests"], 9);
    assert_eq!(stats["delete_requests"], 5);
}

#[test]
fn lost_writes_are_applied_once() {
    let fake = FakeServer::start("items", &["--count", "5", "--lost-write-rate", "1"]);
    let key = [("Idempotency-Key", "k-lost-1")];
    let body = json!({"title": "Lost", "content": "lost answer"});
    assert_eq!(send(&fake, "POST", "/items", &key, Some(&body)).status, 503);
    assert_eq!(fake.ground_truth().len(), 6, "applied");
    // The retry finds the item it created (its answer is lost again).
    assert_eq!(send(&fake, "POST", "/items", &key, Some(&body)).status, 503);
    fake.set_faults(json!({"lost_write_rate": 0}));
    let resp = send(&fake, "POST", "/items", &key, Some(&body));
    resp.expect_status(200);
    assert_eq!(resp.json()["id"], "item-000006");
    assert_eq!(fake.ground_truth().len(), 6, "never a duplicate");

    fake.set_faults(json!({"lost_write_rate": 1}));
    let put = [("If-Match", "\"1\""), ("Idempotency-Key", "k-lost-2")];
    let resp = send(&fake, "PUT", "/items/item-000001", &put, Some(&body));
    assert_eq!(resp.status, 503);
    fake.set_faults(json!({"lost_write_rate": 0, "fail_rate": 1}));
    let resp = send(
        &fake,
        "PUT",
        "/items/item-000002",
        &[("If-Match", "\"1\"")],
        Some(&body),
    );
    assert!(resp.status >= 500);
    fake.set_faults(json!({"fail_rate": 0}));
    let truth = fake.ground_truth();
    assert_eq!(
        truth[0],
        ("item-000001".to_owned(), "2".to_owned()),
        "the lost write applied"
    );
    assert_eq!(
        truth[1],
        ("item-000002".to_owned(), "1".to_owned()),
        "the failed one did not"
    );
    let resp = send(&fake, "PUT", "/items/item-000001", &put, Some(&body));
    resp.expect_status(200);
    assert_eq!(resp.json()["version"], "2", "the retry is a replay");
    assert_eq!(fake.stats()["lost_writes"], 3);
}
