//! The GitHub fake on its own, through HTTP: proves it keeps the contracts
//! of `api-contracts.md` §2 as `docs/fake-github-api.md` describes them
//! (auth, rate limits, ETags, trees, blobs, compare, contents writes,
//! archives, issues and comments, mutations) and that every request it
//! serves is an operation of GitHub's REST description.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use support::github_spec::{official_extra, path_matches, resolve};
use support::{http, FakeServer, HttpResponse};

const AUTH: (&str, &str) = ("authorization", "Bearer T");
const REPO: &str = "/repos/acme/widgets";

fn start(args: &[&str]) -> FakeServer {
    let mut all = vec!["--token", "T"];
    all.extend_from_slice(args);
    FakeServer::start("github", &all)
}

fn get(fake: &FakeServer, path: &str) -> HttpResponse {
    fake.get(path, &[AUTH])
}

fn get_json(fake: &FakeServer, path: &str) -> Value {
    let r = get(fake, path);
    r.expect_status(200);
    r.json()
}

fn send(fake: &FakeServer, method: &str, path: &str, body: &Value) -> HttpResponse {
    http(
        method,
        &format!("{}{path}", fake.url()),
        &[AUTH],
        Some(&body.to_string()),
    )
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn header_u64(r: &HttpResponse, name: &str) -> u64 {
    r.header(name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", r.headers))
        .parse()
        .unwrap()
}

/// Ground truth of one stream: id → entry.
fn truth(fake: &FakeServer, stream: &str) -> BTreeMap<String, Value> {
    fake.ground_truth_json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["stream"] == stream)
        .map(|e| (e["id"].as_str().unwrap().to_owned(), e.clone()))
        .collect()
}

fn head(fake: &FakeServer) -> String {
    fake.get("/_control/repo", &[]).json()["head"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Blob paths of a recursive tree listing → sha.
fn blobs_of(listing: &Value) -> BTreeMap<String, String> {
    listing["tree"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] != "tree")
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_owned(),
                e["sha"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Follows `rel="next"` links verbatim from `first`; returns every element
/// and the number of pages.
fn walk(fake: &FakeServer, first: &str) -> (Vec<Value>, usize) {
    let mut url = format!("{}{first}", fake.url());
    let (mut all, mut pages) = (Vec::new(), 0);
    loop {
        let r = http("GET", &url, &[AUTH], None);
        r.expect_status(200);
        pages += 1;
        all.extend(r.json().as_array().unwrap().iter().cloned());
        let next = r.header("link").and_then(|l| {
            l.split(", ")
                .find(|p| p.ends_with("rel=\"next\""))
                .map(|p| p[1..p.find('>').unwrap()].to_owned())
        });
        match next {
            Some(n) => url = n,
            None => return (all, pages),
        }
    }
}

#[test]
fn auth_takes_bearer_or_token_and_answers_like_github() {
    let fake = start(&["--files", "5"]);
    for auth in ["Bearer T", "token T", "bearer T"] {
        fake.get(REPO, &[("authorization", auth)])
            .expect_status(200);
    }
    for auth in [None, Some("Bearer nope"), Some("Basic VDo=")] {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
        let r = fake.get(REPO, &headers);
        r.expect_status(401);
        assert_eq!(r.json()["message"], "Bad credentials");
        assert_eq!(r.json()["status"], "401");
        assert!(
            r.header("x-ratelimit-remaining").is_some(),
            "401s carry rate headers too"
        );
    }
    // Other repositories are 404 (GitHub cannot tell them from no access).
    let r = get(&fake, "/repos/acme/other");
    r.expect_status(404);
    assert_eq!(r.json()["message"], "Not Found");
    assert_eq!(get_json(&fake, REPO)["default_branch"], "main");
    fake.get("/_control/items", &[]).expect_status(200);
}

#[test]
fn rate_headers_exhaustion_and_free_304s() {
    let fake = start(&[
        "--files",
        "5",
        "--rate-limit-budget",
        "4",
        "--rate-limit-window-s",
        "600",
    ]);
    let first = get(&fake, &format!("{REPO}/commits/main"));
    first.expect_status(200);
    let etag = first.header("etag").unwrap().to_owned();
    assert_eq!(first.header("x-ratelimit-limit"), Some("4"));
    assert_eq!(first.header("x-ratelimit-resource"), Some("core"));
    assert_eq!(header_u64(&first, "x-ratelimit-used"), 1);
    assert_eq!(header_u64(&first, "x-ratelimit-remaining"), 3);
    let reset = header_u64(&first, "x-ratelimit-reset") as i64;
    assert!(
        reset > now() && reset <= now() + 600,
        "reset {reset} is epoch seconds within the window"
    );

    // A conditional request answered 304 costs nothing, and so does /rate_limit.
    let sha = get(&fake, &format!("{REPO}/git/ref/heads/main")).json()["object"]["sha"]
        .as_str()
        .unwrap()
        .to_owned();
    for (accept, tag) in [
        ("application/vnd.github+json", etag.as_str()),
        ("application/vnd.github.sha", &format!("\"{sha}\"")),
    ] {
        let r = fake.get(
            &format!("{REPO}/commits/main"),
            &[AUTH, ("accept", accept), ("if-none-match", tag)],
        );
        r.expect_status(304);
        assert_eq!(
            header_u64(&r, "x-ratelimit-remaining"),
            2,
            "a 304 is not counted"
        );
    }
    let rl = get_json(&fake, "/rate_limit");
    assert_eq!(rl["resources"]["core"]["remaining"], 2);
    let r = fake.get(
        &format!("{REPO}/commits/main"),
        &[AUTH, ("accept", "application/vnd.github.sha")],
    );
    r.expect_status(200);
    assert_eq!(r.body, sha);
    get(&fake, REPO).expect_status(200);
    // The budget is spent: 403 with remaining 0 and GitHub's message.
    for _ in 0..2 {
        let r = get(&fake, REPO);
        r.expect_status(403);
        assert_eq!(header_u64(&r, "x-ratelimit-remaining"), 0);
        assert_eq!(header_u64(&r, "x-ratelimit-reset") as i64, reset);
        let body = r.json();
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .starts_with("API rate limit exceeded"),
            "{body}"
        );
        assert!(body["documentation_url"]
            .as_str()
            .unwrap()
            .contains("rate-limit"));
    }
    let stats = fake.stats();
    assert_eq!(stats["not_modified"], 2, "{stats}");
    assert_eq!(stats["rate_limited"], 2, "{stats}");
    assert_eq!(stats["by_status"]["403"], 2, "{stats}");

    // A new budget through the faults starts a new window.
    fake.set_faults(json!({"rate_limit_budget": 10}));
    let r = get(&fake, REPO);
    r.expect_status(200);
    assert_eq!(header_u64(&r, "x-ratelimit-remaining"), 9);
}

#[test]
fn every_get_has_an_etag_and_a_moved_ref_answers_200() {
    let fake = start(&["--files", "12", "--issues", "5", "--comments", "5"]);
    let blob = truth(&fake, "files")["README.md"]["version"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [
        REPO.to_owned(),
        format!("{REPO}/branches/main"),
        format!("{REPO}/git/trees/main?recursive=1"),
        format!("{REPO}/git/blobs/{blob}"),
        format!("{REPO}/contents/README.md"),
        format!("{REPO}/issues?state=all"),
        format!("{REPO}/issues/comments"),
    ] {
        let r = get(&fake, &path);
        r.expect_status(200);
        let etag = r
            .header("etag")
            .unwrap_or_else(|| panic!("no ETag on {path}"))
            .to_owned();
        let again = fake.get(&path, &[AUTH, ("if-none-match", &etag)]);
        again.expect_status(304);
        assert_eq!(again.body, "", "{path}");
        fake.get(&path, &[AUTH, ("if-none-match", "\"other\"")])
            .expect_status(200);
    }
    assert_eq!(fake.stats()["not_modified"], 7);
    // The cheap change check: the ref's sha as the ETag, 200 once it moved.
    let sha_of = |tag: &str| {
        fake.get(
            &format!("{REPO}/commits/main"),
            &[
                AUTH,
                ("accept", "application/vnd.github.sha"),
                ("if-none-match", tag),
            ],
        )
    };
    let old = head(&fake);
    sha_of(&format!("\"{old}\"")).expect_status(304);
    fake.mutate_with(&json!({"commit": {"modify": 1}}));
    let moved = sha_of(&format!("\"{old}\""));
    moved.expect_status(200);
    assert_eq!(moved.body, head(&fake));
    assert_ne!(moved.body, old);
}

#[test]
fn secondary_limit_answers_403_with_retry_after() {
    let fake = start(&[
        "--files",
        "5",
        "--secondary-after",
        "2",
        "--secondary-retry-after",
        "7",
    ]);
    get(&fake, REPO).expect_status(200);
    get(&fake, REPO).expect_status(200);
    let r = get(&fake, REPO);
    r.expect_status(403);
    assert_eq!(r.header("retry-after"), Some("7"));
    assert!(
        header_u64(&r, "x-ratelimit-remaining") > 0,
        "not the primary limit"
    );
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("secondary rate limit"));
    // Every third request, again and again; refusals cost no budget.
    get(&fake, REPO).expect_status(200);
    get(&fake, REPO).expect_status(200);
    let again = get(&fake, REPO);
    again.expect_status(403);
    assert_eq!(header_u64(&again, "x-ratelimit-used"), 4);
    assert_eq!(fake.stats()["rate_limited"], 2);

    // The flags are the shared faults, shown in both spellings.
    let faults = fake.get("/_control/faults", &[]).json();
    assert_eq!(faults["secondary_after"], 2, "{faults}");
    assert_eq!(faults["secondary_retry_after"], 7, "{faults}");
    assert_eq!(
        faults["github_secondary"],
        json!({"after": 2, "times": 1, "retry_after": 7, "repeat": true})
    );
    assert_eq!(faults["rate_limit_budget"], 5000, "{faults}");
    assert_eq!(faults["github_budget"]["window_s"], 3600, "{faults}");
    fake.set_faults(json!({"secondary_after": null}));
    for _ in 0..4 {
        get(&fake, REPO).expect_status(200);
    }
    // With the primary limit off, no headers, and /rate_limit is a 404 as
    // on a GitHub Enterprise server without rate limiting.
    fake.set_faults(json!({"github_budget": null}));
    let r = get(&fake, REPO);
    r.expect_status(200);
    assert_eq!(r.header("x-ratelimit-remaining"), None);
    get(&fake, "/rate_limit").expect_status(404);
    assert_eq!(
        fake.get("/_control/faults", &[]).json()["rate_limit_budget"],
        Value::Null
    );
}

#[test]
fn trees_truncate_beyond_the_limit_and_subtrees_complete_them() {
    let fake = start(&["--files", "60", "--tree-limit", "10"]);
    let files = truth(&fake, "files");
    assert_eq!(files.len(), 60);
    let listing = get_json(&fake, &format!("{REPO}/git/trees/main?recursive=1"));
    assert_eq!(listing["truncated"], true);
    assert_eq!(listing["tree"].as_array().unwrap().len(), 10);
    // Walk the subtrees without `recursive`, as a client must.
    let mut found = BTreeMap::new();
    let mut todo = vec![(String::new(), listing["sha"].as_str().unwrap().to_owned())];
    while let Some((prefix, sha)) = todo.pop() {
        let t = get_json(&fake, &format!("{REPO}/git/trees/{sha}"));
        assert_eq!(t["truncated"], false);
        for e in t["tree"].as_array().unwrap() {
            let path = format!("{prefix}{}", e["path"].as_str().unwrap());
            let sha = e["sha"].as_str().unwrap().to_owned();
            if e["type"] == "tree" {
                assert_eq!(e["mode"], "040000");
                todo.push((format!("{path}/"), sha));
            } else {
                found.insert(path, sha);
            }
        }
    }
    let expect: BTreeMap<String, String> = files
        .iter()
        .map(|(p, e)| (p.clone(), e["version"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(found, expect);
    // A symlink and a submodule are there, as git types them.
    assert_eq!(files["docs/link-to-readme"]["mode"], "120000");
    assert_eq!(files["vendor/libwidget"]["type"], "commit");

    let whole = start(&["--files", "60"]);
    let listing = get_json(&whole, &format!("{REPO}/git/trees/main?recursive=0"));
    assert_eq!(
        listing["truncated"], false,
        "any value of recursive recurses"
    );
    assert_eq!(blobs_of(&listing), expect, "same seed, same repository");
}

#[test]
fn blobs_are_base64_in_lines_of_60_with_git_shas() {
    let fake = start(&["--files", "40", "--binary-share", "0.3", "--file-kb", "2"]);
    let files = truth(&fake, "files");
    let mut binary = 0;
    for (path, e) in files.iter().filter(|(_, e)| e["type"] == "blob") {
        let sha = e["version"].as_str().unwrap();
        let blob = get_json(&fake, &format!("{REPO}/git/blobs/{sha}"));
        assert_eq!(blob["encoding"], "base64");
        let content = blob["content"].as_str().unwrap();
        let lines: Vec<&str> = content.split_terminator('\n').collect();
        assert!(content.ends_with('\n'), "{path}");
        assert!(
            lines[..lines.len() - 1].iter().all(|l| l.len() == 60),
            "{path}"
        );
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(lines.concat())
            .unwrap();
        assert_eq!(sha256_hex(&bytes), e["sha256"], "{path}");
        assert_eq!(blob["size"], bytes.len());
        binary += usize::from(bytes.contains(&0));
    }
    assert!(binary > 0, "some files are binary");
    // Shas are git's: a known blob through the contents API.
    let r = send(
        &fake,
        "PUT",
        &format!("{REPO}/contents/hello.txt"),
        &json!({"message": "m", "content": b64("hello\n")}),
    );
    r.expect_status(201);
    assert_eq!(
        r.json()["content"]["sha"],
        "ce013625030ba8dba906f756967f9e9ca394464a"
    );
    let raw = fake.get(
        &format!("{REPO}/git/blobs/ce013625030ba8dba906f756967f9e9ca394464a"),
        &[AUTH, ("accept", "application/vnd.github.raw")],
    );
    assert_eq!(raw.body, "hello\n");
    get(&fake, &format!("{REPO}/git/blobs/{}", "0".repeat(40))).expect_status(404);
}

#[test]
fn compare_lists_changes_renames_and_keeps_its_limits() {
    let fake = start(&["--files", "30"]);
    let before = head(&fake);
    let old = truth(&fake, "files");
    let m = fake.mutate_with(&json!({"commit": {"modify": 2, "add": 1, "delete": 1, "rename": 1}}));
    let c = &m["commit"];
    let after = head(&fake);
    assert_eq!(c["commit"], after);
    let cmp = get_json(&fake, &format!("{REPO}/compare/{before}...{after}"));
    assert_eq!(cmp["status"], "ahead");
    assert_eq!(cmp["ahead_by"], 1);
    assert_eq!(cmp["commits"][0]["sha"], after);
    assert_eq!(cmp["commits"][0]["parents"][0]["sha"], before);
    let files = cmp["files"].as_array().unwrap();
    let status = |s: &str| files.iter().filter(|f| f["status"] == s).count();
    assert_eq!(
        (
            status("modified"),
            status("added"),
            status("removed"),
            status("renamed")
        ),
        (2, 1, 1, 1)
    );
    let renamed = files.iter().find(|f| f["status"] == "renamed").unwrap();
    assert_eq!(renamed["previous_filename"], c["renamed"][0]["from"]);
    assert_eq!(renamed["filename"], c["renamed"][0]["to"]);
    assert_eq!(
        renamed["sha"],
        old[c["renamed"][0]["from"].as_str().unwrap()]["version"],
        "same blob"
    );
    let now = truth(&fake, "files");
    for f in files.iter().filter(|f| f["status"] != "removed") {
        assert_eq!(f["sha"], now[f["filename"].as_str().unwrap()]["version"]);
    }

    // 300 files at most; commits: the newest 250 unless paged, paged alone.
    fake.mutate_with(&json!({"commit": {"add": 310}}));
    for _ in 0..259 {
        fake.mutate_with(&json!({"commit": {"modify": 1}}));
    }
    let last = head(&fake);
    let cmp = get_json(&fake, &format!("{REPO}/compare/{before}...{last}"));
    assert_eq!(cmp["ahead_by"], 261);
    assert_eq!(cmp["files"].as_array().unwrap().len(), 300);
    let commits = cmp["commits"].as_array().unwrap();
    assert_eq!(commits.len(), 250);
    assert_eq!(commits[249]["sha"], last);
    let p1 = get(
        &fake,
        &format!("{REPO}/compare/{before}...{last}?per_page=100"),
    );
    p1.expect_status(200);
    let link = p1.header("link").unwrap();
    assert!(
        link.contains("page=2>; rel=\"next\"") && link.contains("page=3>; rel=\"last\""),
        "{link}"
    );
    assert_eq!(p1.json()["commits"].as_array().unwrap().len(), 100);
    assert_eq!(
        p1.json()["commits"][0]["parents"][0]["sha"],
        before,
        "oldest first"
    );
    let p3 = get_json(
        &fake,
        &format!("{REPO}/compare/{before}...{last}?per_page=100&page=3"),
    );
    assert_eq!(p3["commits"].as_array().unwrap().len(), 61);
    assert_eq!(
        p3["files"].as_array().unwrap().len(),
        0,
        "files only on the first page"
    );
    // The commit answer pages its files 300 at a time.
    let big = get(
        &fake,
        &format!("{REPO}/commits/{}", c["commit"].as_str().unwrap()),
    );
    big.expect_status(200);
    get(
        &fake,
        &format!("{REPO}/compare/{before}...{}", "f".repeat(40)),
    )
    .expect_status(404);
}

#[test]
fn contents_writes_answer_like_github_and_commit() {
    let fake = start(&["--files", "12"]);
    let files = truth(&fake, "files");
    let (path, e) = files
        .iter()
        .find(|(p, _)| p.ends_with(".rs") || p.ends_with(".md"))
        .unwrap();
    let sha = e["version"].as_str().unwrap();
    let url = format!("{REPO}/contents/{path}");
    let read = get_json(&fake, &url);
    assert_eq!(read["sha"], sha);
    assert_eq!(read["type"], "file");

    let r = send(
        &fake,
        "PUT",
        &url,
        &json!({"message": "no sha", "content": b64("x")}),
    );
    r.expect_status(422);
    assert_eq!(
        r.json()["message"],
        "Invalid request.\n\n\"sha\" wasn't supplied."
    );
    let stale = "1".repeat(40);
    let r = send(
        &fake,
        "PUT",
        &url,
        &json!({"message": "m", "content": b64("x"), "sha": stale}),
    );
    r.expect_status(409);
    assert_eq!(
        r.json()["message"],
        format!("{path} does not match {stale}")
    );
    assert_eq!(r.json()["status"], "409");
    assert!(r.json().get("errors").is_none());
    let r = send(
        &fake,
        "PUT",
        &url,
        &json!({"message": "m", "content": b64("x"), "sha": sha, "branch": "nope"}),
    );
    r.expect_status(404);
    send(
        &fake,
        "PUT",
        &url,
        &json!({"content": b64("x"), "sha": sha}),
    )
    .expect_status(422);
    let r = send(
        &fake,
        "PUT",
        &url,
        &json!({"message": "m", "content": b64("x"), "sha": sha, "committer": {"name": "n"}}),
    );
    r.expect_status(422);
    assert_eq!(
        head(&fake),
        fake.get("/_control/repo", &[]).json()["history"][0],
        "refused writes commit nothing"
    );
    assert_eq!(
        fake.get("/_control/repo", &[]).json()["history"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let before = head(&fake);
    let r = send(
        &fake,
        "PUT",
        &url,
        &json!({"message": "edit by synchost", "content": b64("edited\n"), "sha": sha}),
    );
    r.expect_status(200);
    let body = r.json();
    let new_sha = body["content"]["sha"].as_str().unwrap().to_owned();
    assert_eq!(body["commit"]["parents"][0]["sha"], before);
    assert_eq!(body["commit"]["message"], "edit by synchost");
    assert_eq!(head(&fake), body["commit"]["sha"]);
    assert_eq!(
        truth(&fake, "files")[path.as_str()]["version"],
        new_sha.as_str()
    );
    // The old sha is now stale.
    send(
        &fake,
        "PUT",
        &url,
        &json!({"message": "m", "content": b64("y"), "sha": sha}),
    )
    .expect_status(409);

    let r = send(
        &fake,
        "PUT",
        &format!("{REPO}/contents/new/file.txt"),
        &json!({"message": "c", "content": b64("new"), "sha": stale}),
    );
    r.expect_status(201);
    assert!(truth(&fake, "files").contains_key("new/file.txt"));

    let del = format!("{REPO}/contents/new/file.txt");
    send(&fake, "DELETE", &del, &json!({"message": "d"})).expect_status(422);
    send(
        &fake,
        "DELETE",
        &del,
        &json!({"message": "d", "sha": stale}),
    )
    .expect_status(409);
    let new_file_sha = truth(&fake, "files")["new/file.txt"]["version"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = send(
        &fake,
        "DELETE",
        &del,
        &json!({"message": "d", "sha": new_file_sha}),
    );
    r.expect_status(200);
    assert_eq!(r.json()["content"], Value::Null);
    assert!(!truth(&fake, "files").contains_key("new/file.txt"));
    send(
        &fake,
        "DELETE",
        &del,
        &json!({"message": "d", "sha": new_file_sha}),
    )
    .expect_status(404);
    get(&fake, &del).expect_status(404);
}

#[test]
fn archives_redirect_to_a_signed_download_of_the_tree() {
    let fake = start(&["--files", "25", "--binary-share", "0.2"]);
    let sha = head(&fake);
    for (kind, ext) in [("tarball", "tar.gz"), ("zipball", "zip")] {
        let (status, location, _) = raw_get(&format!("{}{REPO}/{kind}/main", fake.url()), &[AUTH]);
        assert_eq!(status, 302);
        let location = location.unwrap();
        assert!(
            location.contains(&format!("/codeload/acme/widgets/legacy.{ext}/{sha}?token=")),
            "{location}"
        );
        // No Authorization needed (the location is signed); a bad signature is refused.
        let bytes = download(&location);
        assert_eq!(raw_get(&location.replace("token=", "token=0"), &[]).0, 401);
        if ext == "zip" {
            assert_eq!(&bytes[..4], b"PK\x03\x04");
            assert!(
                bytes.ends_with(sha.as_bytes()),
                "the commit id is the zip comment"
            );
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.tar.gz");
        std::fs::write(&file, &bytes).unwrap();
        let out = std::process::Command::new("tar")
            .arg("xzf")
            .arg(&file)
            .arg("-C")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let root = dir.path().join(format!("acme-widgets-{}", &sha[..7]));
        for (path, e) in truth(&fake, "files") {
            let p = root.join(&path);
            match e["mode"].as_str().unwrap() {
                "160000" => assert!(p.is_dir(), "{path}: a submodule is an empty directory"),
                "120000" => assert_eq!(
                    std::fs::read_link(&p).unwrap().to_str().unwrap(),
                    "../README.md"
                ),
                _ => assert_eq!(
                    sha256_hex(&std::fs::read(&p).unwrap()),
                    e["sha256"],
                    "{path}"
                ),
            }
        }
    }
    let stats = fake.stats();
    assert_eq!(stats["archive"], 2);
    assert_eq!(stats["download"], 4);
}

/// `GET url` as bytes, redirects not followed: (status, `location`, body).
fn raw_get(url: &str, headers: &[(&str, &str)]) -> (u16, Option<String>, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut req = agent.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut r = req.call().unwrap();
    let location = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    (
        r.status().as_u16(),
        location,
        r.body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .unwrap(),
    )
}

fn download(url: &str) -> Vec<u8> {
    let (status, _, bytes) = raw_get(url, &[]);
    assert_eq!(status, 200);
    bytes
}

#[test]
fn issues_pulls_and_comments_page_with_links_and_since() {
    let fake = start(&["--files", "3", "--issues", "250", "--comments", "230"]);
    let first = get(
        &fake,
        &format!("{REPO}/issues?state=all&per_page=100&sort=updated&direction=asc"),
    );
    let link = first.header("link").unwrap();
    assert!(
        link.starts_with(&format!("<{}/repositories/", fake.url())),
        "{link}"
    );
    assert!(
        link.contains("per_page=100")
            && link.contains("rel=\"next\"")
            && link.contains("page=3>; rel=\"last\""),
        "{link}"
    );
    let (all, pages) = walk(
        &fake,
        &format!("{REPO}/issues?state=all&per_page=100&sort=updated&direction=asc"),
    );
    assert_eq!(pages, 3);
    let numbers: BTreeSet<u64> = all.iter().map(|i| i["number"].as_u64().unwrap()).collect();
    assert_eq!(numbers.len(), 250);
    let updated: Vec<&str> = all
        .iter()
        .map(|i| i["updated_at"].as_str().unwrap())
        .collect();
    assert!(
        updated.windows(2).all(|w| w[0] <= w[1]),
        "sorted by updated_at"
    );
    let issues = truth(&fake, "issues");
    let pulls = truth(&fake, "pulls");
    assert_eq!(issues.len() + pulls.len(), 250);
    for i in &all {
        let n = i["number"].to_string();
        let t = issues.get(&n).or_else(|| pulls.get(&n)).unwrap();
        assert_eq!(i["updated_at"], t["version"]);
        assert_eq!(
            sha256_hex(i["body"].as_str().unwrap().as_bytes()),
            t["sha256"]
        );
        assert_eq!(i.get("pull_request").is_some(), pulls.contains_key(&n));
    }
    // Default state is open; pulls list only pull requests; per_page is capped at 100.
    let open = walk(&fake, &format!("{REPO}/issues?per_page=100")).0;
    assert!(open.iter().all(|i| i["state"] == "open") && open.len() < 250);
    let (prs, _) = walk(&fake, &format!("{REPO}/pulls?state=all&per_page=100"));
    assert_eq!(prs.len(), pulls.len());
    assert_eq!(
        get_json(&fake, &format!("{REPO}/issues?state=all&per_page=500"))
            .as_array()
            .unwrap()
            .len(),
        100
    );

    let (comments, pages) = walk(&fake, &format!("{REPO}/issues/comments?per_page=100"));
    assert_eq!((comments.len(), pages), (230, 3));
    assert_eq!(comments.len(), truth(&fake, "comments").len());

    // since: only what changed after it.
    let mark = fake.mutate_with(
        &json!({"issues": {"update": 3, "create": 2}, "comments": {"update": 2, "create": 1}}),
    );
    let mut changed: BTreeSet<u64> = ["updated", "created"]
        .iter()
        .flat_map(|k| {
            mark["issues"][k]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_u64().unwrap())
        })
        .collect();
    let new_comment = mark["comments"]["created"][0].to_string();
    let commented = truth(&fake, "comments")[&new_comment]["parent_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    changed.insert(commented);
    let versions: BTreeMap<String, Value> = truth(&fake, "issues")
        .into_iter()
        .chain(truth(&fake, "pulls"))
        .collect();
    let since = changed
        .iter()
        .map(|n| versions[&n.to_string()]["version"].as_str().unwrap())
        .min()
        .unwrap()
        .to_owned();
    let (recent, _) = walk(
        &fake,
        &format!("{REPO}/issues?state=all&since={since}&per_page=100"),
    );
    let got: BTreeSet<u64> = recent
        .iter()
        .map(|i| i["number"].as_u64().unwrap())
        .collect();
    assert_eq!(got, changed);
    let (recent_comments, _) = walk(&fake, &format!("{REPO}/issues/comments?since={since}"));
    assert_eq!(recent_comments.len(), 3);

    // PATCH title/body and POST a comment move updated_at.
    let n = *changed.iter().next().unwrap();
    let before = get_json(&fake, &format!("{REPO}/issues/{n}"));
    let r = send(
        &fake,
        "PATCH",
        &format!("{REPO}/issues/{n}"),
        &json!({"title": "New title", "body": "New body"}),
    );
    r.expect_status(200);
    assert_eq!(r.json()["title"], "New title");
    assert!(r.json()["updated_at"].as_str() > before["updated_at"].as_str());
    let t = truth(&fake, "issues")
        .into_iter()
        .chain(truth(&fake, "pulls"))
        .find(|(k, _)| *k == n.to_string())
        .unwrap()
        .1;
    assert_eq!(t["sha256"], sha256_hex(b"New body"));
    assert_eq!(t["version"], r.json()["updated_at"]);
    send(
        &fake,
        "PATCH",
        &format!("{REPO}/issues/{n}"),
        &json!({"title": 5}),
    )
    .expect_status(422);
    send(
        &fake,
        "PATCH",
        &format!("{REPO}/issues/99999"),
        &json!({"title": "x"}),
    )
    .expect_status(404);
    let r = send(
        &fake,
        "POST",
        &format!("{REPO}/issues/{n}/comments"),
        &json!({"body": "hi"}),
    );
    r.expect_status(201);
    assert_eq!(
        truth(&fake, "comments")[&r.json()["id"].to_string()]["parent_id"],
        n.to_string()
    );
    send(
        &fake,
        "POST",
        &format!("{REPO}/issues/{n}/comments"),
        &json!({}),
    )
    .expect_status(422);
    // Review comments: the fake has none, `since` is still checked.
    assert_eq!(
        get_json(
            &fake,
            &format!("{REPO}/pulls/comments?sort=updated&direction=asc&per_page=100")
        ),
        json!([])
    );
    get(&fake, &format!("{REPO}/pulls/comments?since=yesterday")).expect_status(422);
}

#[test]
fn force_push_rewrites_history_and_ground_truth_follows() {
    let fake = start(&["--files", "20"]);
    let root = head(&fake);
    fake.mutate_with(&json!({"commit": {"modify": 2}}));
    let old = head(&fake);
    let m = fake.mutate_with(&json!({"force_push": true}));
    assert_eq!(m["force_push"]["dropped"], json!([old]));
    let new = head(&fake);
    let history = fake.get("/_control/repo", &[]).json()["history"].clone();
    assert_eq!(history, json!([new, root]));
    // The tree at the new head is the ground truth.
    let listing = get_json(&fake, &format!("{REPO}/git/trees/{new}?recursive=1"));
    let files: BTreeMap<String, String> = truth(&fake, "files")
        .into_iter()
        .map(|(p, e)| (p, e["version"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(blobs_of(&listing), files);
    // The dropped commit is still known, and compare says the branches diverged.
    let cmp = get_json(&fake, &format!("{REPO}/compare/{old}...{new}"));
    assert_eq!(cmp["status"], "diverged");
    assert_eq!(
        (cmp["ahead_by"].as_u64(), cmp["behind_by"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(cmp["merge_base_commit"]["sha"], root);
    // K is capped at what can be dropped: never the first commit.
    let m = fake.mutate_with(&json!({"force_push": 5}));
    assert_eq!(m["force_push"]["dropped"], json!([new]));
    let history = fake.get("/_control/repo", &[]).json()["history"].clone();
    assert_eq!(history[1], json!(root));
    // With only the first commit, a force-push makes a new root: no common ancestor.
    let fresh = start(&["--files", "20"]);
    let m = fresh.mutate_with(&json!({"force_push": true}));
    assert_eq!(m["force_push"]["dropped"], json!([]));
    let lone = head(&fresh);
    assert_eq!(
        fresh.get("/_control/repo", &[]).json()["history"],
        json!([lone])
    );
    let r = get(&fresh, &format!("{REPO}/compare/{root}...{lone}"));
    r.expect_status(404);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("No common ancestor"));
    let before = head(&fake);
    for bad in [
        r#"{"force_push": "yes"}"#,
        r#"{"commit": {"add": 100001}}"#,
        r#"{"commit": {"move": 1}}"#,
        r#"{"nope": 1}"#,
    ] {
        let r = http(
            "POST",
            &format!("{}/_control/mutate", fake.url()),
            &[],
            Some(bad),
        );
        r.expect_status(400);
    }
    assert_eq!(head(&fake), before, "a refused mutation changes nothing");
}

#[test]
fn every_request_served_is_an_operation_of_the_description() {
    assert!(path_matches(
        "/repos/{owner}/{repo}/compare/{base}...{head}",
        "/repos/a/b/compare/x...y"
    ));
    assert!(!path_matches(
        "/repos/{owner}/{repo}/compare/{base}...{head}",
        "/repos/a/b/compare/xy"
    ));
    assert!(path_matches(
        "/repos/{owner}/{repo}/contents/{path}",
        "/repos/a/b/contents/d/e.txt"
    ));
    assert!(!path_matches(
        "/repos/{owner}/{repo}/git/trees/{tree_sha}",
        "/repos/a/b/git/trees/x/y"
    ));

    let spec: Value =
        serde_json::from_str(include_str!("../specs/github-rest-subset.openapi.json")).unwrap();
    let mut ops: Vec<(String, String)> = official_extra(true);
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item
            .as_object()
            .unwrap()
            .keys()
            .filter(|m| ["get", "put", "post", "patch", "delete"].contains(&m.as_str()))
        {
            ops.push((method.to_uppercase(), path.clone()));
        }
    }
    let fake = start(&["--files", "12", "--issues", "120", "--comments", "30"]);
    let sha = head(&fake);
    for path in [
        REPO.to_owned(),
        format!("{REPO}/branches/main"),
        format!("{REPO}/git/ref/heads/main"),
        format!("{REPO}/commits/main"),
        format!("{REPO}/git/trees/main?recursive=1"),
        format!("{REPO}/contents/README.md?ref=main"),
        format!("{REPO}/compare/{sha}...main?per_page=10"),
        format!("{REPO}/issues/1"),
        format!("{REPO}/pulls/4"),
        format!("{REPO}/issues/1/comments"),
        format!("{REPO}/pulls/comments?since=2025-01-01T00:00:00Z"),
        "/rate_limit".to_owned(),
    ] {
        get(&fake, &path).expect_status(200);
    }
    let blob = truth(&fake, "files")["README.md"]["version"]
        .as_str()
        .unwrap()
        .to_owned();
    get(&fake, &format!("{REPO}/git/blobs/{blob}")).expect_status(200);
    for kind in ["tarball", "zipball"] {
        assert_eq!(
            raw_get(&format!("{}{REPO}/{kind}/main", fake.url()), &[AUTH]).0,
            302
        );
    }
    walk(&fake, &format!("{REPO}/issues?state=all&per_page=50"));
    walk(&fake, &format!("{REPO}/pulls?state=all&per_page=10"));
    walk(&fake, &format!("{REPO}/issues/comments?per_page=10"));
    send(
        &fake,
        "PUT",
        &format!("{REPO}/contents/a/b.txt"),
        &json!({"message": "m", "content": b64("b")}),
    )
    .expect_status(201);
    let b = get_json(&fake, &format!("{REPO}/contents/a/b.txt"))["sha"].clone();
    send(
        &fake,
        "DELETE",
        &format!("{REPO}/contents/a/b.txt"),
        &json!({"message": "m", "sha": b}),
    )
    .expect_status(200);
    send(
        &fake,
        "PATCH",
        &format!("{REPO}/issues/2"),
        &json!({"body": "b"}),
    )
    .expect_status(200);
    send(
        &fake,
        "POST",
        &format!("{REPO}/issues/2/comments"),
        &json!({"body": "b"}),
    )
    .expect_status(201);

    let log = fake.get("/_control/requests", &[]).json();
    let repo_id = get_json(&fake, REPO)["id"].to_string();
    let mut seen = BTreeSet::new();
    for entry in log.as_array().unwrap() {
        let method = entry["method"].as_str().unwrap();
        // Link headers point at /repositories/{id}/..., GitHub's alias of /repos/{owner}/{repo}/...
        let path =
            entry["path"]
                .as_str()
                .unwrap()
                .replacen(&format!("/repositories/{repo_id}"), REPO, 1);
        let op = ops
            .iter()
            .find(|(m, t)| m == method && path_matches(t, &path));
        let op = op.unwrap_or_else(|| panic!("{method} {path} is no operation of the description"));
        seen.insert(op.clone());
    }
    assert_eq!(
        seen.len(),
        22,
        "every operation the fake serves was checked: {seen:?}"
    );
}

/// What in `v` breaks `schema`: required fields, types, nullability
/// (arrays: their first three elements).
fn schema_violations(spec: &Value, schema: &Value, v: &Value, at: &str, out: &mut Vec<String>) {
    let schema = resolve(spec, schema);
    if v.is_null() {
        if schema["nullable"] != true {
            out.push(format!("{at}: null"));
        }
        return;
    }
    for s in schema["allOf"].as_array().into_iter().flatten() {
        schema_violations(spec, s, v, at, out);
    }
    if let Some(alts) = schema["anyOf"].as_array().or(schema["oneOf"].as_array()) {
        let fits = alts.iter().any(|s| {
            let mut o = Vec::new();
            schema_violations(spec, s, v, at, &mut o);
            o.is_empty()
        });
        if !fits {
            out.push(format!("{at}: fits no alternative"));
        }
        return;
    }
    let kind = schema["type"]
        .as_str()
        .unwrap_or(if schema.get("properties").is_some() {
            "object"
        } else {
            ""
        });
    let fits = match kind {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        _ => true,
    };
    if !fits {
        out.push(format!("{at}: not {kind}: {v}"));
        return;
    }
    for field in schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if v.get(field).is_none() {
            out.push(format!("{at}.{field} missing"));
        }
    }
    for (key, s) in schema["properties"].as_object().into_iter().flatten() {
        if let Some(x) = v.get(key) {
            schema_violations(spec, s, x, &format!("{at}.{key}"), out);
        }
    }
    for (i, x) in v.as_array().into_iter().flatten().take(3).enumerate() {
        schema_violations(spec, &schema["items"], x, &format!("{at}[{i}]"), out);
    }
}

#[test]
fn answers_have_what_the_description_requires() {
    let spec: Value =
        serde_json::from_str(include_str!("../specs/github-rest-subset.openapi.json")).unwrap();
    let fake = start(&["--files", "30"]);
    let base = head(&fake);
    fake.mutate_with(&json!({"commit": {"modify": 2, "add": 1, "delete": 1, "rename": 1}}));
    let files = truth(&fake, "files");
    let readme = files["README.md"]["version"].as_str().unwrap();
    let put = json!({"message": "m", "content": b64("x")});
    let stale = json!({"message": "m", "content": b64("y"), "sha": "1".repeat(40)});
    let r = "/repos/{owner}/{repo}";
    let cases: Vec<(String, &str, String, Option<&Value>)> = vec![
        (
            format!("{r}/branches/{{branch}}"),
            "GET",
            "/branches/main".into(),
            None,
        ),
        (
            format!("{r}/commits/{{ref}}"),
            "GET",
            "/commits/main".into(),
            None,
        ),
        (
            format!("{r}/git/ref/{{ref}}"),
            "GET",
            "/git/ref/heads/main".into(),
            None,
        ),
        (
            format!("{r}/git/trees/{{tree_sha}}"),
            "GET",
            "/git/trees/main?recursive=1".into(),
            None,
        ),
        (
            format!("{r}/git/blobs/{{file_sha}}"),
            "GET",
            format!("/git/blobs/{readme}"),
            None,
        ),
        (
            format!("{r}/git/blobs/{{file_sha}}"),
            "GET",
            format!("/git/blobs/{}", "0".repeat(40)),
            None,
        ),
        (
            format!("{r}/contents/{{path}}"),
            "GET",
            "/contents/README.md".into(),
            None,
        ),
        (
            format!("{r}/contents/{{path}}"),
            "GET",
            "/contents/docs".into(),
            None,
        ),
        (
            format!("{r}/contents/{{path}}"),
            "PUT",
            "/contents/x.txt".into(),
            Some(&put),
        ),
        (
            format!("{r}/contents/{{path}}"),
            "PUT",
            "/contents/x.txt".into(),
            Some(&stale),
        ),
        (
            format!("{r}/compare/{{basehead}}"),
            "GET",
            format!("/compare/{base}...main"),
            None,
        ),
        (
            format!("{r}/compare/{{basehead}}"),
            "GET",
            format!("/compare/{base}...{}", "e".repeat(40)),
            None,
        ),
        ("/rate_limit".into(), "GET", String::new(), None),
    ];
    let mut statuses = BTreeSet::new();
    for (template, method, path, body) in cases {
        let path = if template == "/rate_limit" {
            template.clone()
        } else {
            format!("{REPO}{path}")
        };
        let resp = match body {
            Some(b) => send(&fake, method, &path, b),
            None => get(&fake, &path),
        };
        let op = &spec["paths"][&template][method.to_lowercase()];
        let answer = resolve(&spec, &op["responses"][resp.status.to_string()]);
        let schema = &answer["content"]["application/json"]["schema"];
        assert!(
            schema.is_object(),
            "{method} {path}: {} is not an answer of the description",
            resp.status
        );
        let mut out = Vec::new();
        schema_violations(&spec, schema, &resp.json(), "$", &mut out);
        assert!(out.is_empty(), "{method} {path} ({}): {out:?}", resp.status);
        statuses.insert(resp.status);
    }
    assert_eq!(statuses, BTreeSet::from([200, 201, 404, 409]));
}
