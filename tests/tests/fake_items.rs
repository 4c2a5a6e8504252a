//! The items fake on its own, driven through the test support module: proves
//! the fake keeps its contract (docs/fake-items-api.md) and that the support
//! code can start, query and steer it.

mod support;

use std::collections::BTreeSet;

use serde_json::{json, Value};
use support::{http_get, FakeServer};

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
