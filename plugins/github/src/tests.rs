//! The plugin against a scripted server: every request it sends is seen
//! (and counted), every answer is a sample of the real API
//! (`tests/specs/github/samples/`).

use super::*;
use synchost_sdk::testing::{self, Served};

pub fn sample(name: &str) -> String {
    let path = format!(
        "{}/../../tests/specs/github/samples/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn resp(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Response {
    let headers = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Response::new(status, headers, body)
}

/// The plugin configured with `settings` (`repo` octocat/Hello-World added),
/// answering through `server` (installed with `synchost_sdk::testing::serve`
/// until the guard returned is dropped), which keeps every batch sent.
pub fn plugin(
    settings: &[(&str, &str)],
    server: impl Fn(&Request) -> Response + 'static,
) -> (GitHub, Served) {
    let mut pairs = vec![("repo".to_string(), "octocat/Hello-World".to_string())];
    pairs.extend(settings.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let p = GitHub::configure(Settings::new(pairs)).unwrap();
    (p, testing::serve(move |r: &Request| server(r)))
}

pub fn urls(log: &Served) -> Vec<String> {
    log.sent()
}

const API: &str = "https://api.github.com/repos/octocat/Hello-World";
const HEAD: &str = "0000000000000000000000000000000000000201";
const OLD: &str = "0000000000000000000000000000000000000200";

fn req(limit: u32) -> ListRequest {
    ListRequest {
        limit,
        ..ListRequest::default()
    }
}

fn meta(r: &Record) -> Value {
    serde_json::from_str(&r.metadata).unwrap()
}

/// A repository whose default branch `main` is at HEAD with the sample tree.
fn repo_server(r: &Request) -> Response {
    let url = r.url();
    if url == API {
        resp(200, &[], r#"{"id":1000,"default_branch":"main"}"#)
    } else if url == format!("{API}/commits/main") {
        assert_eq!(r.header_value("accept"), Some("application/vnd.github.sha"));
        resp(200, &[("etag", "\"e1\"")], HEAD)
    } else if url == format!("{API}/git/trees/{HEAD}?recursive=1") {
        resp(200, &[], sample("tree.json"))
    } else if url.starts_with(&format!("{API}/git/blobs/")) {
        resp(200, &[], sample("blob.json"))
    } else {
        resp(404, &[], sample("error-404.json"))
    }
}

#[test]
fn manifest() {
    let m = GitHub::describe();
    assert_eq!(m.name, "github");
    assert_eq!(m.max_page_size, 100);
    let names: Vec<_> = m.streams.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["files", "issues", "pulls", "comments"]);
    assert!(m.streams.iter().all(|s| s.supports_delta));
    let push: Vec<_> = m
        .streams
        .iter()
        .filter(|s| s.supports_push)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(push, ["files", "issues", "comments"]);
    assert!(m.settings.iter().all(|s| s.name != "token"));
}

#[test]
fn a_full_listing_reads_the_tree_once_and_takes_files_from_the_tarball() {
    let (p, log) = plugin(&[("max_file_mb", "4")], repo_server);
    let first = p.list("files", req(2)).unwrap();
    // The default branch, its head, the tree.
    assert_eq!(
        urls(&log),
        [
            format!("GET {API}"),
            format!("GET {API}/commits/main"),
            format!("GET {API}/git/trees/{HEAD}?recursive=1"),
        ]
    );
    let mark = r#"{"sha":"0000000000000000000000000000000000000201","etag":"\"e1\"","ref":"main"}"#;
    assert_eq!(first.watermark.as_deref(), Some(mark));
    let ids: Vec<_> = first.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["README.md", "bin/run"]);
    // Files are members of the commit's tarball, one download for all.
    for r in &first.records {
        assert!(r.is_complete());
        assert_eq!(r.blobs.len(), 1);
        let blob = &r.blobs[0];
        assert_eq!(blob.url, format!("{API}/tarball/{HEAD}"));
        assert_eq!(blob.member.as_deref(), Some(r.id.as_str()));
        assert_eq!(blob.version, r.version);
        assert!(blob.headers.is_empty());
    }
    assert_eq!(first.records[0].blobs[0].name, "README.md");
    assert_eq!(first.records[1].blobs[0].name, "run");
    assert_eq!(first.records[1].parent_id.as_deref(), Some("bin"));
    assert_eq!(first.records[1].title.as_deref(), Some("run"));
    assert_eq!(first.records[1].path.as_deref(), Some("bin/run"));
    assert_eq!(first.records[0].parent_id, None);

    let mut cursor = first.next_cursor.clone();
    let mut rest = Vec::new();
    while let Some(c) = cursor {
        let page = p
            .list(
                "files",
                ListRequest {
                    cursor: Some(c),
                    ..req(2)
                },
            )
            .unwrap();
        assert_eq!(page.watermark.as_deref(), Some(mark));
        cursor = page.next_cursor;
        rest.extend(page.records);
    }
    // No further request: the tree is kept in memory.
    assert_eq!(log.batches().len(), 3);
    let by_id = |id: &str| rest.iter().find(|r| r.id == id).unwrap();
    // 5 MB > max_file_mb: metadata only.
    let big = by_id("docs/big.bin");
    assert!(big.is_complete() && big.blobs.is_empty());
    assert_eq!(meta(big)["too_large"], true);
    let link = by_id("docs/latest");
    assert_eq!(meta(link)["type"], "symlink");
    assert_eq!(link.content.as_deref(), Some(&b""[..]));
    let sub = by_id("vendor");
    assert_eq!(meta(sub)["type"], "submodule");
    assert_eq!(sub.version, "0000000000000000000000000000000000000005");
    assert_eq!(rest.len(), 3, "directories are no records");

    // A file the host retries (its member was missing) is read by blob sha.
    let fetched = p.fetch("files", vec!["README.md".into(), "bin/run".into()]);
    let batches = log.batches();
    let last = batches.last().unwrap();
    assert_eq!(last.len(), 2, "fetches go out together");
    assert_eq!(
        last[0].url(),
        format!("{API}/git/blobs/0000000000000000000000000000000000000001")
    );
    let readme = fetched[0].as_ref().unwrap();
    assert_eq!(
        readme.content.as_deref(),
        Some("Content of the blob".repeat(10).as_bytes())
    );
    assert_eq!(readme.content_type, "text/plain; charset=utf-8");
    assert_eq!(readme.version, "0000000000000000000000000000000000000001");
}

#[test]
fn large_files_are_blobs_the_host_downloads() {
    let (p, log) = plugin(&[("ref", "main")], repo_server);
    let page = p.list("files", req(100)).unwrap();
    let big = page
        .records
        .iter()
        .find(|r| r.id == "docs/big.bin")
        .unwrap();
    assert!(big.is_complete());
    let member = &big.blobs[0];
    assert_eq!(member.member.as_deref(), Some("docs/big.bin"));
    assert_eq!(member.size, Some(5_242_880));
    // Retried by the host (not in the archive): the blob by its sha, no request.
    let sent = || log.batches().iter().map(Vec::len).sum::<usize>();
    let requests = sent();
    let big = p
        .fetch("files", vec!["docs/big.bin".into()])
        .remove(0)
        .unwrap();
    assert_eq!(sent(), requests);
    assert!(big.is_complete());
    assert_eq!(big.blobs[0].member, None);
    let blob = &big.blobs[0];
    assert_eq!(
        blob.url,
        format!("{API}/git/blobs/0000000000000000000000000000000000000003")
    );
    assert_eq!(
        blob.headers,
        [(
            "accept".to_string(),
            "application/vnd.github.raw+json".to_string()
        )]
    );
    assert_eq!(
        (blob.size, blob.version.as_str()),
        (Some(5_242_880), big.version.as_str())
    );
}

#[test]
fn a_truncated_tree_is_walked_level_by_level() {
    let (p, log) = plugin(&[("ref", "main")], |r| {
        let url = r.url();
        if url.ends_with("/commits/main") {
            return resp(200, &[], HEAD);
        }
        let tree = |entries: &str, truncated: bool| {
            resp(
                200,
                &[],
                format!(r#"{{"sha":"x","tree":[{entries}],"truncated":{truncated}}}"#),
            )
        };
        let blob = |path: &str| {
            format!(
                r#"{{"path":"{path}","mode":"100644","type":"blob","sha":"0000000000000000000000000000000000000001","size":1}}"#
            )
        };
        let dir = |path: &str, sha: &str| {
            format!(r#"{{"path":"{path}","mode":"040000","type":"tree","sha":"{sha}"}}"#)
        };
        match url.strip_prefix(&format!("{API}/git/trees/")).unwrap() {
            u if u == format!("{HEAD}?recursive=1") => tree(&blob("partial"), true),
            u if u == HEAD => tree(
                &[
                    blob("a.txt"),
                    dir("src", "0000000000000000000000000000000000000300"),
                ]
                .join(","),
                false,
            ),
            "0000000000000000000000000000000000000300?recursive=1" => tree(
                &[
                    blob("lib.rs"),
                    dir("deep", "0000000000000000000000000000000000000301"),
                    blob("deep/x.rs"),
                ]
                .join(","),
                false,
            ),
            other => panic!("unexpected tree {other}"),
        }
    });
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let page = p.list("files", ListRequest { cursor, ..req(100) }).unwrap();
        ids.extend(page.records.into_iter().map(|r| r.id));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(ids, ["a.txt", "src/lib.rs", "src/deep/x.rs"]);
    assert_eq!(urls(&log).len(), 4);
}

fn since(etag: &str) -> String {
    cursor::encode(&files::Mark {
        sha: OLD.into(),
        etag: Some(etag.into()),
        git_ref: "main".into(),
    })
}

#[test]
fn an_unchanged_ref_costs_one_conditional_request() {
    let (p, log) = plugin(&[], |r| {
        assert_eq!(r.header_value("if-none-match"), Some("\"e0\""));
        resp(304, &[], "")
    });
    let page = p
        .list(
            "files",
            ListRequest {
                since: Some(since("\"e0\"")),
                ..req(100)
            },
        )
        .unwrap();
    assert!(page.records.is_empty() && page.next_cursor.is_none());
    assert_eq!(page.watermark, Some(since("\"e0\"")));
    assert_eq!(urls(&log), [format!("GET {API}/commits/main")]);
}

/// HEAD moved from OLD by the sample comparison.
fn delta_server(compare: Response) -> impl Fn(&Request) -> Response {
    move |r: &Request| {
        let url = r.url();
        if url.ends_with("/commits/main") {
            resp(200, &[("etag", "\"e1\"")], HEAD)
        } else if url == format!("{API}/compare/{OLD}...{HEAD}?per_page=1") {
            compare.clone()
        } else if url == format!("{API}/git/trees/{HEAD}?recursive=1") {
            resp(200, &[], sample("tree.json"))
        } else if url == format!("{API}/git/trees/{OLD}?recursive=1") {
            resp(
                200,
                &[],
                r#"{"sha":"x","truncated":false,"tree":[
                {"path":"README.md","mode":"100644","type":"blob","sha":"0000000000000000000000000000000000000099","size":5},
                {"path":"bin","mode":"040000","type":"tree","sha":"0000000000000000000000000000000000000101"},
                {"path":"bin/run","mode":"100755","type":"blob","sha":"0000000000000000000000000000000000000002","size":75},
                {"path":"old.txt","mode":"100644","type":"blob","sha":"0000000000000000000000000000000000000098","size":3}]}"#,
            )
        } else {
            resp(404, &[], sample("error-404.json"))
        }
    }
}

fn delta(p: &GitHub) -> Page {
    let page = p
        .list(
            "files",
            ListRequest {
                since: Some(since("\"e0\"")),
                ..req(100)
            },
        )
        .unwrap();
    assert!(page.next_cursor.is_none());
    assert_eq!(
        page.watermark.as_deref(),
        Some(r#"{"sha":"0000000000000000000000000000000000000201","etag":"\"e1\"","ref":"main"}"#)
    );
    page
}

#[test]
fn a_delta_lists_exactly_what_compare_names() {
    let (p, log) = plugin(&[], delta_server(resp(200, &[], sample("compare.json"))));
    let page = delta(&p);
    let ids: Vec<_> = page.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["README.md", "bin/run", "docs/latest"]);
    // A rename is a deletion plus a creation.
    assert_eq!(page.deleted, ["old.txt", "run.sh"]);
    assert_eq!(
        meta(&page.records[2])["type"],
        "symlink",
        "modes from the tree"
    );
    assert_eq!(urls(&log).len(), 3, "head, compare, tree");
}

#[test]
fn compare_that_cannot_answer_falls_back_to_the_trees() {
    for answer in [
        resp(404, &[], sample("error-404.json")),
        resp(
            200,
            &[],
            sample("compare.json").replace("\"ahead\"", "\"diverged\""),
        ),
        {
            let files: Vec<String> = (0..300)
                .map(|i| format!(r#"{{"sha":"0000000000000000000000000000000000000001","filename":"f{i}","status":"added"}}"#))
                .collect();
            resp(
                200,
                &[],
                format!(r#"{{"status":"ahead","files":[{}]}}"#, files.join(",")),
            )
        },
    ] {
        let (p, log) = plugin(&[], delta_server(answer));
        let page = delta(&p);
        let ids: Vec<_> = page.records.iter().map(|r| r.id.as_str()).collect();
        // The tree diff: README.md changed, bin/run did not, the rest is new.
        assert_eq!(ids, ["README.md", "docs/big.bin", "docs/latest", "vendor"]);
        assert_eq!(page.deleted, ["old.txt"]);
        assert_eq!(urls(&log).len(), 4, "head, compare, two trees");
    }
}

#[test]
fn paths_filter_listings_and_deltas() {
    let (p, _served) = plugin(&[("paths", "docs/**")], repo_server);
    let page = p.list("files", req(100)).unwrap();
    let ids: Vec<_> = page.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["docs/big.bin", "docs/latest"]);
    let (p, _served) = plugin(
        &[("paths", "*.md")],
        delta_server(resp(200, &[], sample("compare.json"))),
    );
    let page = delta(&p);
    assert_eq!(page.records.len(), 1);
    assert!(page.deleted.is_empty());
}

#[test]
fn issues_follow_the_link_header_and_leave_pull_requests_out() {
    let next = "https://api.github.com/repositories/1000/issues?state=all&sort=updated&direction=asc&per_page=100&since=2017-10-10T00%3A00%3A00Z&page=2";
    let (p, log) = plugin(&[], move |r| {
        if r.url().contains("page=2") {
            resp(200, &[], "[]")
        } else {
            resp(
                200,
                &[(
                    "link",
                    &format!("<{next}>; rel=\"next\", <{next}>; rel=\"last\""),
                )],
                sample("issues.json"),
            )
        }
    });
    let first = p
        .list(
            "issues",
            ListRequest {
                since: Some("2017-10-10T00:00:00Z".into()),
                ..req(100)
            },
        )
        .unwrap();
    assert_eq!(
        urls(&log),
        [format!("GET {API}/issues?state=all&sort=updated&direction=asc&per_page=100&since=2017-10-10T00%3A00%3A00Z")]
    );
    assert_eq!(first.records.len(), 1);
    let issue = &first.records[0];
    assert_eq!(
        (issue.id.as_str(), issue.version.as_str()),
        ("1", "2017-10-10T16:00:01Z")
    );
    assert_eq!(issue.title.as_deref(), Some("Found a bug"));
    assert_eq!(
        issue.content.as_deref(),
        Some(&b"I'm having a problem with this."[..])
    );
    assert_eq!(meta(issue)["labels"], serde_json::json!(["bug"]));
    // The newest change seen, the pull request's included.
    assert_eq!(first.watermark.as_deref(), Some("2017-10-10T16:00:02Z"));
    let second = p
        .list(
            "issues",
            ListRequest {
                cursor: first.next_cursor,
                since: Some("2017-10-10T00:00:00Z".into()),
                ..req(100)
            },
        )
        .unwrap();
    assert_eq!(urls(&log)[1], format!("GET {next}"), "the link exactly");
    assert!(second.next_cursor.is_none());
    assert_eq!(second.watermark.as_deref(), Some("2017-10-10T16:00:02Z"));
}

#[test]
fn pulls_are_listed_in_full_then_by_the_issues_listing() {
    let (p, log) = plugin(&[], |r| {
        if r.url().contains("/pulls?") {
            resp(200, &[], sample("pulls.json"))
        } else if r.url().ends_with("/pulls/2") {
            let one: Vec<Value> = serde_json::from_str(&sample("pulls.json")).unwrap();
            resp(200, &[], one[0].to_string())
        } else {
            resp(200, &[], sample("issues.json"))
        }
    });
    let full = p.list("pulls", req(50)).unwrap();
    assert_eq!(
        urls(&log)[0],
        format!("GET {API}/pulls?state=all&sort=updated&direction=asc&per_page=50")
    );
    let pr = &full.records[0];
    assert!(pr.is_complete());
    let m = meta(pr);
    assert_eq!(
        (
            m["merged"].clone(),
            m["head"]["ref"].clone(),
            m["base"]["ref"].clone()
        ),
        (true.into(), "fix".into(), "main".into())
    );
    let delta = p
        .list(
            "pulls",
            ListRequest {
                since: Some("2017-10-10T00:00:00Z".into()),
                ..req(50)
            },
        )
        .unwrap();
    assert!(urls(&log)[1].contains("/issues?state=all"));
    let ids: Vec<_> = delta
        .records
        .iter()
        .map(|r| (r.id.as_str(), r.is_complete()))
        .collect();
    assert_eq!(ids, [("2", false)]);
    let fetched = p.fetch("pulls", vec!["2".into()]);
    assert_eq!(fetched[0].as_ref().unwrap(), pr);
}

#[test]
fn comments_list_conversation_then_review_comments() {
    let (p, log) = plugin(&[], |r| {
        if r.url().contains("/pulls/comments") {
            resp(200, &[], sample("review-comments.json"))
        } else {
            resp(200, &[], sample("issue-comments.json"))
        }
    });
    let first = p.list("comments", req(100)).unwrap();
    assert_eq!(first.records[0].id, "issue-1000");
    assert_eq!(first.records[0].parent_id.as_deref(), Some("1"));
    let second = p
        .list(
            "comments",
            ListRequest {
                cursor: first.next_cursor,
                ..req(100)
            },
        )
        .unwrap();
    assert!(second.next_cursor.is_none());
    let review = &second.records[0];
    assert_eq!(
        (review.id.as_str(), review.parent_id.as_deref()),
        ("review-1000", Some("2"))
    );
    assert_eq!(meta(review)["path"], "README.md");
    assert_eq!(second.watermark.as_deref(), Some("2017-10-10T16:00:04Z"));
    assert_eq!(
        urls(&log),
        [
            format!("GET {API}/issues/comments?sort=updated&direction=asc&per_page=100"),
            format!("GET {API}/pulls/comments?sort=updated&direction=asc&per_page=100"),
        ]
    );
    let fetched = p.fetch("comments", vec!["review-1000".into(), "bogus".into()]);
    assert!(matches!(fetched[1], Err(Error::NotFound(_))));
    assert_eq!(urls(&log)[2], format!("GET {API}/pulls/comments/1000"));
}

#[test]
fn excluded_streams_list_nothing_without_a_request() {
    let (p, log) = plugin(&[("include", "files")], |_| panic!("no request"));
    for stream in ["issues", "pulls", "comments"] {
        let page = p.list(stream, req(100)).unwrap();
        assert!(page.records.is_empty() && page.next_cursor.is_none());
    }
    assert!(log.batches().is_empty());
    assert!(matches!(
        p.list("wiki", req(10)),
        Err(Error::Unsupported(_))
    ));
}

#[test]
fn a_missing_repository_is_said_clearly() {
    let (p, _served) = plugin(&[], |_| resp(404, &[], sample("error-404.json")));
    let Err(Error::InvalidConfig(m)) = p.list("issues", req(10)) else {
        panic!()
    };
    assert!(
        m.contains("octocat/Hello-World not found or no access (GitHub answers 404 for private repositories without access)"),
        "{m}"
    );
    let Err(Error::InvalidConfig(m)) = p.list("files", req(10)) else {
        panic!()
    };
    assert!(m.contains("not found or no access"), "{m}");
    let (p, _served) = plugin(&[], |_| resp(401, &[], r#"{"message":"Bad credentials"}"#));
    assert!(
        matches!(p.list("files", req(10)), Err(Error::Auth(m)) if m.contains("Bad credentials"))
    );
}

#[test]
fn bad_cursors_and_watermarks_are_fatal_before_any_request() {
    let (p, log) = plugin(&[], |_| panic!("no request"));
    for stream in ["files", "issues"] {
        let r = ListRequest {
            cursor: Some("junk".into()),
            ..req(10)
        };
        assert!(matches!(p.list(stream, r), Err(Error::Fatal(_))));
    }
    let r = ListRequest {
        since: Some(r#"{"sha":"nope","ref":"main"}"#.into()),
        ..req(10)
    };
    assert!(matches!(p.list("files", r), Err(Error::Fatal(_))));
    assert!(log.batches().is_empty());
}

#[test]
fn pages_of_pull_requests_only_do_not_make_empty_issue_pages() {
    let (p, log) = plugin(&[], |r| {
        let page: u32 = r
            .url()
            .rsplit_once("?page=")
            .and_then(|(_, n)| n.parse().ok())
            .unwrap_or(1);
        let issues: Vec<Value> = serde_json::from_str(&sample("issues.json")).unwrap();
        let (body, next) = match page {
            1..=6 => (Value::from(vec![issues[1].clone()]), Some(page + 1)),
            _ => (Value::from(issues), None),
        };
        let link = next.map(|n| {
            format!("<https://api.github.com/repositories/1000/issues?page={n}>; rel=\"next\"")
        });
        let headers: Vec<(&str, &str)> = link.iter().map(|l| ("link", l.as_str())).collect();
        resp(200, &headers, body.to_string())
    });
    let first = p.list("issues", req(100)).unwrap();
    assert!(first.records.is_empty(), "five pages of pull requests");
    assert_eq!(urls(&log).len(), 5);
    let second = p
        .list(
            "issues",
            ListRequest {
                cursor: first.next_cursor,
                ..req(100)
            },
        )
        .unwrap();
    assert_eq!(second.records.len(), 1);
    assert!(second.next_cursor.is_none());
    assert_eq!(urls(&log).len(), 7);
    // Comments and full pull listings are never read ahead.
    let (p, log) = plugin(&[], |_| {
        resp(200, &[("link", "</next>; rel=\"next\"")], "[]")
    });
    assert!(p.list("comments", req(100)).unwrap().next_cursor.is_some());
    assert_eq!(urls(&log).len(), 1);
}

#[test]
fn an_empty_repository_lists_nothing() {
    let (p, log) = plugin(&[("ref", "main")], |_| {
        resp(
            409,
            &[],
            r#"{"message":"Git Repository is empty.","status":"409"}"#,
        )
    });
    let page = p.list("files", req(100)).unwrap();
    assert!(page.records.is_empty() && page.next_cursor.is_none() && page.watermark.is_none());
    assert_eq!(urls(&log).len(), 1);
}

#[test]
fn fetch_reads_unlisted_files_through_contents_and_never_downloads_large_ones() {
    let (p, log) = plugin(&[("ref", "main")], |r| {
        if r.url().contains("/contents/") {
            resp(200, &[], sample("contents-file.json"))
        } else {
            repo_server(r)
        }
    });
    // Not listed by this instance (a restart): the contents API.
    let fetched = p.fetch("files", vec!["README.md".into()]);
    let readme = fetched[0].as_ref().unwrap();
    assert_eq!(readme.content.as_deref(), Some(&b"Content of the blob"[..]));
    assert_eq!(readme.version, "0000000000000000000000000000000000000009");
    assert_eq!(
        urls(&log),
        [format!("GET {API}/contents/README.md?ref=main")]
    );
    // Listed: a large file's retry needs no request.
    p.list("files", req(100)).unwrap();
    let before = urls(&log).len();
    let fetched = p.fetch("files", vec!["docs/big.bin".into()]);
    assert_eq!(fetched[0].as_ref().unwrap().blobs.len(), 1);
    assert_eq!(urls(&log).len(), before);
}

#[test]
fn resumed_links_fit_a_smaller_page_size() {
    let link = "https://api.github.com/repositories/1/issues?state=all&per_page=100&page=3";
    assert_eq!(fit_page_size(link, 100).unwrap(), link);
    assert_eq!(
        fit_page_size(link, 50).unwrap(),
        "https://api.github.com/repositories/1/issues?state=all&per_page=50&page=5"
    );
    let Err(Error::Fatal(m)) = fit_page_size(link, 30) else {
        panic!()
    };
    assert!(m.contains("page_size back to 100"), "{m}");
    assert_eq!(
        fit_page_size("https://x/y?per_page=100&after=abc", 10).unwrap(),
        "https://x/y?per_page=10&after=abc"
    );
    assert_eq!(fit_page_size("https://x/y", 10).unwrap(), "https://x/y");
}
