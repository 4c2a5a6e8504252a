//! End to end, the Confluence streams and settings of issue 15: the real
//! `synchost` binary runs the real `confluence.wasm` against a
//! `synchost-fake confluence` started by each test, and the store (read
//! back with `synchost export`) is compared with the fake's ground truth
//! (`/_control/items`): blog posts and inline comments after full pulls,
//! deltas and deletions; labels, content properties and restrictions with
//! their settings; what the settings cost in requests (the fake's request
//! log); and a label push (`docs/confluence.md`).

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use support::confluence_streams::{
    pull, request_log, start_fake, stored, synchost, truth, version_number, write_config, Key,
    Logged, SOURCE,
};
use support::{assert_success, FakeServer, Workspace};

/// The streams this file checks against the truth.
const CHECKED: [&str; 4] = ["pages", "blogposts", "comments", "inline-comments"];
/// Fields of the truth that are record metadata, by stream.
const PAGE_EXTRAS: [&str; 4] = ["labels", "properties", "restricted", "restrictions"];
const INLINE_FIELDS: [&str; 3] = [
    "resolutionStatus",
    "inlineMarkerRef",
    "inlineOriginalSelection",
];

fn sha_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The truth of the checked streams.
fn checked_truth(fake: &FakeServer) -> BTreeMap<Key, Value> {
    truth(fake)
        .into_iter()
        .filter(|((stream, _), _)| CHECKED.contains(&stream.as_str()))
        .collect()
}

/// No metadata added by settings.
const NONE: &[&str] = &[];
/// Everything the settings can add.
const ALL: &[&str] = &PAGE_EXTRAS;

/// The live records of the checked streams are exactly `truth` (ids,
/// versions, parents, titles, bodies, inline comment fields, and the
/// metadata fields `extras` of pages and blog posts, the others absent);
/// returns the checked streams' tombstones.
#[track_caller]
fn assert_store_is(ws: &Workspace, truth: &BTreeMap<Key, Value>, extras: &[&str]) -> Vec<Key> {
    let store = stored(ws);
    let live: BTreeMap<&Key, &Value> = store
        .live
        .iter()
        .filter(|((stream, _), _)| CHECKED.contains(&stream.as_str()))
        .collect();
    let mut problems = Vec::new();
    for (k, t) in truth {
        let Some(r) = live.get(k) else {
            problems.push(format!("{k:?} is not stored"));
            continue;
        };
        let mut differ = |what: &str, stored: &Value, truth: &Value| {
            if stored != truth {
                problems.push(format!("{what} of {k:?}: stored {stored}, truth {truth}"));
            }
        };
        let version = r["version"].as_str().unwrap_or_default();
        differ("version", &json!(version_number(version)), &t["version"]);
        differ("parent", &r["parent_id"], &t["parent_id"]);
        differ("title", &r["title"], &t["title"]);
        let content = r["content"].as_str().unwrap_or_default();
        differ(
            "body sha256",
            &json!(sha_hex(content.as_bytes())),
            &t["sha256"],
        );
        let meta = &normalized(&r["metadata"]);
        let t = &normalized(t);
        match k.0.as_str() {
            "pages" | "blogposts" => {
                for field in PAGE_EXTRAS {
                    match extras.contains(&field) {
                        true => differ(field, &meta[field], &t[field]),
                        false => differ(field, &meta[field], &Value::Null),
                    }
                }
            }
            "inline-comments" => {
                for field in INLINE_FIELDS {
                    differ(field, &meta[field], &t[field]);
                }
            }
            _ => {}
        }
    }
    let extra: Vec<&&Key> = live.keys().filter(|k| !truth.contains_key(**k)).collect();
    if !extra.is_empty() {
        problems.push(format!("stored, not in the truth: {extra:?}"));
    }
    assert!(
        problems.is_empty(),
        "{} differences between the store and the truth:\n{}",
        problems.len(),
        problems.join("\n")
    );
    store
        .deleted
        .into_iter()
        .filter(|(stream, _)| CHECKED.contains(&stream.as_str()))
        .collect()
}

/// `GET /wiki/api/v2/spaces/{id}/pages` or `/blogposts`: a full listing.
fn is_space_listing(r: &Logged) -> bool {
    r.path.starts_with("/wiki/api/v2/spaces/")
        && (r.path.ends_with("/pages") || r.path.ends_with("/blogposts"))
}

/// `value` with the user and group lists of its `restrictions` sorted (the
/// plugin sorts them; the fake lists them as they were set).
fn normalized(value: &Value) -> Value {
    let mut value = value.clone();
    for op in ["read", "update"] {
        for kind in ["users", "groups"] {
            if let Some(list) = value
                .pointer_mut(&format!("/restrictions/{op}/{kind}"))
                .and_then(Value::as_array_mut)
            {
                list.sort_by_key(|v| v.to_string());
            }
        }
    }
    value
}

/// How many items of `stream` the truth has.
fn count(truth: &BTreeMap<Key, Value>, stream: &str) -> usize {
    truth.keys().filter(|(s, _)| s == stream).count()
}

/// The content searches by id (`cql=id in (…)`) among `log`.
fn id_searches(log: &[Logged]) -> Vec<&Logged> {
    log.iter()
        .filter(|r| r.path == "/wiki/rest/api/content/search")
        .filter(|r| r.param("cql").is_some_and(|cql| cql.starts_with("id in (")))
        .collect()
}

/// `POST /_control/mutate` with `body`; the mutation's report.
fn mutate(fake: &FakeServer, body: Value) -> Value {
    fake.mutate_with(&body)
}

fn ids(report: &Value, field: &str) -> BTreeSet<String> {
    report[field]
        .as_array()
        .unwrap_or_else(|| panic!("no `{field}` in {report}"))
        .iter()
        .map(|v| v.as_str().expect("an id").to_owned())
        .collect()
}

// ---------------------------------------------------------------------------

/// Blog posts and inline comments (and footer comments, now only footer
/// ones) equal the truth after a full pull, after a delta with edits, new
/// and deleted items, and after a full pull that tombstones the deleted.
#[test]
fn blog_posts_and_inline_comments_equal_the_truth() {
    let fake = start_fake(&[
        "--pages",
        "40",
        "--blogposts",
        "9",
        "--folders",
        "3",
        "--comments-per-page",
        "1",
        "--inline-comments-per-page",
        "2",
        "--seed",
        "15",
    ]);
    let ws = Workspace::new();
    write_config(&ws, &fake, "include_comments = true");
    pull(&ws, &[]);
    let before = checked_truth(&fake);
    assert_eq!(count(&before, "blogposts"), 9);
    assert_eq!(count(&before, "inline-comments"), (40 + 9) * 2);
    assert_eq!(count(&before, "comments"), 40 + 9);
    assert!(assert_store_is(&ws, &before, NONE).is_empty());
    // Each comment stream is one CQL listing, and no page is asked for its
    // comments one by one.
    let log = request_log(&fake);
    assert!(
        !log.iter().any(|r| r.path.ends_with("-comments")),
        "no per-page comment listing"
    );

    let report = mutate(
        &fake,
        json!({"update": 3, "delete": 2, "create": 2,
               "blogposts_update": 2, "blogposts_delete": 2, "blogposts_create": 3,
               "inline_create": 3, "inline_update": 2, "inline_delete": 2}),
    );
    for field in [
        "blogposts_updated",
        "blogposts_deleted",
        "blogposts_created",
        "inline_comments_created",
        "inline_comments_updated",
    ] {
        assert!(!ids(&report, field).is_empty(), "{field}: {report}");
    }
    assert!(
        !ids(&report, "deleted_inline_comments").is_empty(),
        "{report}"
    );
    let after = checked_truth(&fake);

    // A delta: the edits and new items, no tombstone yet.
    let from = request_log(&fake).len();
    pull(&ws, &[]);
    let log = request_log(&fake).split_off(from);
    assert!(
        !log.iter().any(is_space_listing),
        "a delta lists no page or blog post in full"
    );
    let gone: BTreeSet<Key> = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .cloned()
        .collect();
    assert!(gone.iter().any(|(s, _)| s == "blogposts"));
    assert!(gone.iter().any(|(s, _)| s == "inline-comments"));
    let mut expected = after.clone();
    for k in &gone {
        // Deletions are not in a delta: the stored copies stay.
        expected.insert(k.clone(), before[k].clone());
    }
    assert!(assert_store_is(&ws, &expected, NONE).is_empty());

    // A full pull tombstones exactly what the remote deleted, and stores
    // resolutions changed without a new version.
    let report = mutate(&fake, json!({"inline_resolve": 3}));
    assert_eq!(
        ids(&report, "inline_comments_resolved").len(),
        3,
        "{report}"
    );
    let after = checked_truth(&fake);
    pull(&ws, &["--full"]);
    let tombstones: BTreeSet<Key> = assert_store_is(&ws, &after, NONE).into_iter().collect();
    assert_eq!(tombstones, gone);
}

/// Labels, content properties and restrictions (`restrictions = record`)
/// equal the truth; a label change without a new version reaches the store
/// with the next full pull.
#[test]
fn labels_properties_and_restrictions_equal_the_truth() {
    let fake = start_fake(&["--pages", "120", "--blogposts", "15", "--seed", "7"]);
    let ws = Workspace::new();
    write_config(
        &ws,
        &fake,
        "labels = true\nproperties = true\nrestrictions = \"record\"",
    );
    pull(&ws, &[]);
    let before = checked_truth(&fake);
    // The dataset has what the test is about.
    let has = |field: &str, test: fn(&Value) -> bool| {
        before
            .values()
            .filter(|t| t["stream"] == "pages")
            .any(|t| test(&t[field]))
    };
    assert!(has("labels", |v| v.as_array().is_some_and(|a| a.len() > 1)));
    assert!(has("properties", |v| v
        .as_object()
        .is_some_and(|o| !o.is_empty())));
    assert!(has("restricted", |v| v == &json!(true)));
    assert!(assert_store_is(&ws, &before, ALL).is_empty());

    let report = mutate(&fake, json!({"labels": 6, "update": 2}));
    let relabelled = ids(&report, "labels_changed");
    assert_eq!(relabelled.len(), 6, "{report}");
    let after = checked_truth(&fake);
    // No new version for a label change (as in Confluence).
    for id in &relabelled {
        let k = before
            .keys()
            .find(|(_, i)| i == id)
            .expect("a relabelled item")
            .clone();
        if !ids(&report, "updated").contains(id) {
            assert_eq!(before[&k]["version"], after[&k]["version"]);
            assert_ne!(before[&k]["labels"], after[&k]["labels"]);
        }
    }
    // A delta stores the edited pages, not a label change alone (no new
    // version, no new `lastmodified`: the documented limit)...
    pull(&ws, &[]);
    let labels_only: Vec<&String> = relabelled
        .iter()
        .filter(|id| !ids(&report, "updated").contains(*id))
        .collect();
    assert!(!labels_only.is_empty());
    let store = stored(&ws);
    for id in labels_only {
        let (k, t) = before.iter().find(|((_, i), _)| i == id).unwrap();
        assert_eq!(store.live[k]["metadata"]["labels"], t["labels"], "{k:?}");
    }
    for id in ids(&report, "updated") {
        let (k, t) = after.iter().find(|((_, i), _)| *i == id).unwrap();
        assert_eq!(store.live[k]["metadata"]["labels"], t["labels"], "{k:?}");
    }
    // ...the next full pull stores them all.
    pull(&ws, &["--full"]);
    assert!(assert_store_is(&ws, &after, ALL).is_empty());
}

/// `restrictions = skip` leaves the read-restricted pages and blog posts out,
/// with their comments.
#[test]
fn restrictions_skip_leaves_restricted_content_out() {
    let fake = start_fake(&[
        "--pages",
        "150",
        "--blogposts",
        "20",
        "--comments-per-page",
        "1",
        "--inline-comments-per-page",
        "1",
        "--seed",
        "3",
    ]);
    let ws = Workspace::new();
    write_config(
        &ws,
        &fake,
        "restrictions = \"skip\"\ninclude_comments = true",
    );
    pull(&ws, &[]);
    let all = checked_truth(&fake);
    let restricted: BTreeSet<String> = all
        .iter()
        .filter(|(_, t)| t["restricted"] == json!(true))
        .map(|((_, id), _)| id.clone())
        .collect();
    assert!(!restricted.is_empty(), "the dataset has restricted pages");
    // Left out: the restricted items, and the comments on them (pages
    // below a restricted page stay: only direct restrictions count).
    let on_restricted = |t: &Value| {
        t["stream"] != "pages"
            && t["parent_id"]
                .as_str()
                .is_some_and(|p| restricted.contains(p))
    };
    let visible: BTreeMap<Key, Value> = all
        .into_iter()
        .filter(|((_, id), t)| !restricted.contains(id) && !on_restricted(t))
        .collect();
    assert!(visible.keys().any(|(s, _)| s == "inline-comments"));
    assert!(assert_store_is(&ws, &visible, NONE).is_empty());
}

/// With the settings off, not one request more than before them; with
/// labels and properties on, one content search per listing page of pages
/// and blog posts. The 2,000-page space of `docs/confluence.md`.
#[test]
fn request_counts_for_a_2000_page_space() {
    let fake = start_fake(&["--pages", "2000", "--blogposts", "200", "--seed", "2"]);
    let on_settings = "labels = true\nproperties = true";
    let workspaces =
        [("", NONE), (on_settings, &["labels", "properties"][..])].map(|(settings, extras)| {
            let ws = Workspace::new();
            write_config(&ws, &fake, settings);
            (ws, extras)
        });
    // Each pull: the requests it sent, and the store checked.
    let pulls = |extra: &[&str]| -> Vec<Vec<Logged>> {
        let truth = checked_truth(&fake);
        workspaces
            .iter()
            .map(|(ws, extras)| {
                let from = request_log(&fake).len();
                pull(ws, extra);
                assert!(assert_store_is(ws, &truth, extras).is_empty());
                request_log(&fake).split_off(from)
            })
            .collect()
    };
    let [off, on] = <[Vec<Logged>; 2]>::try_from(pulls(&["--page-size", "250"])).unwrap();
    let listings = |log: &[Logged]| {
        log.iter()
            .filter(|r| r.path == "/wiki/api/v2/spaces" || is_space_listing(r))
            .count()
    };
    assert!(
        id_searches(&off).is_empty(),
        "settings off: no search by id"
    );
    // Settings off: 1 space lookup, 8 listing pages of pages, 1 of blog posts.
    assert_eq!(listings(&off), 1 + 8 + 1);
    // On: listing pages of 200 (10 + 1), one search each.
    assert_eq!(listings(&on), 1 + 10 + 1);
    assert_eq!(id_searches(&on).len(), 10 + 1);
    for search in id_searches(&on) {
        assert_eq!(
            search.param("expand").as_deref(),
            Some("version,metadata.labels,metadata.properties")
        );
    }
    // Everything else is the same request for request.
    let rest = |log: &[Logged]| log.len() - listings(log) - id_searches(log).len();
    assert_eq!(rest(&on), rest(&off));

    // A delta after 20 page edits: the space lookup, one CQL search per
    // stream (pages, blog posts, folders, attachments), one bulk fetch; with
    // the settings, one search by id more (sent with the bulk fetch).
    let report = mutate(&fake, json!({"update": 20}));
    assert_eq!(ids(&report, "updated").len(), 20, "{report}");
    let [delta_off, delta_on] = <[Vec<Logged>; 2]>::try_from(pulls(&[])).unwrap();
    assert_eq!(delta_off.len(), 1 + 4 + 1, "{delta_off:#?}");
    assert_eq!(delta_on.len(), delta_off.len() + 1, "{delta_on:#?}");
    assert_eq!(id_searches(&delta_on).len(), 1);
    eprintln!(
        "2,000 pages + 200 blog posts, labels and properties: full pull {} requests \
         (settings off {}, naive {}), delta of 20 edits {} (off {}, naive {})",
        on.len(),
        off.len(),
        off.len() + 2 * 2200,
        delta_on.len(),
        delta_off.len(),
        delta_off.len() + 2 * 20,
    );
}

/// A change whose metadata carries `labels` sets exactly that label set
/// (labels added and removed) after the body; the next pull stores it.
#[test]
fn a_label_push_lands() {
    let fake = start_fake(&["--pages", "20", "--blogposts", "4", "--seed", "11"]);
    let ws = Workspace::new();
    write_config(&ws, &fake, "labels = true");
    pull(&ws, &[]);
    let before = checked_truth(&fake);
    // A page with labels, and a blog post.
    let (page, _) = before
        .iter()
        .find(|((s, _), t)| s == "pages" && t["labels"].as_array().is_some_and(|l| l.len() >= 2))
        .expect("a labelled page");
    let (blog, _) = before
        .iter()
        .find(|((s, _), _)| s == "blogposts")
        .expect("a blog post");
    let old: Vec<String> = before[page]["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    // Keep the first, drop the rest, add two.
    let wanted = vec![old[0].clone(), "pushed-a".to_owned(), "pushed-b".to_owned()];
    let lines = [
        json!({"stream": "pages", "op": "update", "id": page.1, "title": before[page]["title"],
               "content": "<p>pushed</p>", "metadata": {"labels": wanted}}),
        json!({"stream": "blogposts", "op": "update", "id": blog.1, "title": "Renamed blog post",
               "content": "<p>blog</p>", "metadata": {"labels": ["news-1"]}}),
    ];
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let staged = ws.path().join("changes.jsonl");
    std::fs::write(&staged, input).unwrap();
    assert_success(
        &synchost(
            &ws,
            &[
                "stage",
                SOURCE,
                "--stream",
                "pages",
                "--file",
                staged.to_str().unwrap(),
            ],
        )
        .output(),
    );
    assert_success(&synchost(&ws, &["push", SOURCE]).output());

    let after = checked_truth(&fake);
    let mut sorted = wanted.clone();
    sorted.sort();
    assert_eq!(after[page]["labels"], json!(sorted));
    assert_eq!(
        after[page]["sha256"],
        json!(sha_hex(b"<p>pushed</p>")),
        "the body too"
    );
    assert_eq!(after[blog]["labels"], json!(["news-1"]));
    assert_eq!(after[blog]["title"], "Renamed blog post");
    // The store holds what the push wrote, with the version a pull sees: a
    // full pull then stores nothing new.
    assert!(assert_store_is(&ws, &after, &["labels"]).is_empty());
    let events = pull(&ws, &["--full"]);
    assert!(assert_store_is(&ws, &after, &["labels"]).is_empty());
    let summary = events
        .iter()
        .find(|e| e["event"] == "summary")
        .expect("a summary");
    for stream in summary["summary"]["streams"].as_array().unwrap() {
        assert_eq!(
            stream["counts"]["written"], 0,
            "the pushed records are what the pull sees: {stream}"
        );
    }
}
