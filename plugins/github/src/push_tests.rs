//! Pushes and reconciliation against a scripted server.

use crate::tests::{plugin, resp, sample, urls};
use crate::{git, GitHub};
use serde_json::Value;
use synchost_sdk::http::Request;
use synchost_sdk::prelude::*;

const API: &str = "https://api.github.com/repos/octocat/Hello-World";
const BASE: &str = "0000000000000000000000000000000000000001";

fn change(op: ChangeOp, id: Option<&str>, content: Option<&str>) -> Change {
    Change {
        key: "k1".into(),
        op,
        id: id.map(String::from),
        base_version: (op != ChangeOp::Create).then(|| BASE.to_string()),
        parent_id: None,
        title: None,
        content: content.map(|c| c.as_bytes().to_vec()),
        metadata: "{}".into(),
    }
}

fn body(r: &Request) -> Value {
    serde_json::from_slice(r.body_bytes().unwrap()).unwrap()
}

/// The contents answer for README.md holding `text`.
fn contents(text: &str) -> String {
    use base64::Engine as _;
    serde_json::json!({
        "type": "file", "path": "README.md", "name": "README.md", "size": text.len(),
        "sha": git::blob_sha(text.as_bytes()), "encoding": "base64",
        "content": base64::engine::general_purpose::STANDARD.encode(text),
    })
    .to_string()
}

fn files(p: &GitHub, changes: Vec<Change>) -> Vec<PushOutcome> {
    p.push("files", changes)
}

#[test]
fn an_update_is_one_commit_with_the_base_sha_and_the_key() {
    let (p, log) = plugin(&[("ref", "main")], |r| {
        assert_eq!(r.method(), "PUT");
        resp(200, &[], sample("file-commit.json"))
    });
    let out = files(
        &p,
        vec![change(
            ChangeOp::Update,
            Some("README.md"),
            Some("new text"),
        )],
    );
    let PushOutcome::Applied(Some(record)) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(record.id, "README.md");
    assert_eq!(record.version, "0000000000000000000000000000000000000010");
    assert_eq!(record.content.as_deref(), Some(&b"new text"[..]));
    let sent = &log.batches()[0][0];
    assert_eq!(sent.url(), format!("{API}/contents/README.md"));
    let b = body(sent);
    assert_eq!(b["sha"], BASE);
    assert_eq!(b["branch"], "main");
    assert_eq!(b["content"], "bmV3IHRleHQ=");
    let message = b["message"].as_str().unwrap();
    assert!(
        message.contains("synchost") && synchost_sdk::push::holds_key(message, "k1"),
        "{message}"
    );
}

#[test]
fn writes_go_one_at_a_time() {
    let (p, log) = plugin(&[("ref", "main")], |_| {
        resp(200, &[], sample("file-commit.json"))
    });
    let out = files(
        &p,
        vec![
            change(ChangeOp::Update, Some("README.md"), Some("a")),
            change(ChangeOp::Delete, Some("old.txt"), None),
        ],
    );
    assert!(matches!(out[0], PushOutcome::Applied(Some(_))));
    assert_eq!(out[1], PushOutcome::Applied(None));
    let batches: Vec<usize> = log.batches().iter().map(Vec::len).collect();
    assert_eq!(batches, [1, 1], "never two contents writes at once");
    let delete = &log.batches()[1][0];
    assert_eq!(delete.method(), "DELETE");
    assert_eq!(body(delete)["sha"], BASE);
}

#[test]
fn a_409_is_a_conflict_with_the_current_file_read_once() {
    let (p, log) = plugin(&[("ref", "main")], |r| match r.method() {
        "PUT" => resp(409, &[], sample("error-409.json")),
        _ => resp(200, &[], contents("someone else's")),
    });
    let out = files(
        &p,
        vec![change(ChangeOp::Update, Some("README.md"), Some("mine"))],
    );
    let PushOutcome::Conflict(Some(current)) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(current.content.as_deref(), Some(&b"someone else's"[..]));
    assert_eq!(current.version, git::blob_sha(b"someone else's"));
    assert_eq!(
        urls(&log),
        [
            format!("PUT {API}/contents/README.md"),
            format!("GET {API}/contents/README.md?ref=main")
        ]
    );
}

#[test]
fn a_409_over_our_own_content_is_applied() {
    let (p, _served) = plugin(&[("ref", "main")], |r| match r.method() {
        "PUT" => resp(409, &[], sample("error-409.json")),
        _ => resp(200, &[], contents("mine")),
    });
    let out = files(
        &p,
        vec![change(ChangeOp::Update, Some("README.md"), Some("mine"))],
    );
    assert!(
        matches!(&out[0], PushOutcome::Applied(Some(r)) if r.version == git::blob_sha(b"mine"))
    );
}

#[test]
fn creates_send_no_sha_and_a_taken_path_is_read() {
    let mut create = change(ChangeOp::Create, None, Some("hello"));
    create.parent_id = Some("docs".into());
    create.title = Some("README.md".into());
    let (p, log) = plugin(&[("ref", "main")], |r| match r.method() {
        "PUT" => resp(422, &[], sample("error-422-sha.json")),
        _ => resp(200, &[], contents("other")),
    });
    let out = files(&p, vec![create]);
    assert!(matches!(&out[0], PushOutcome::Conflict(Some(_))), "{out:?}");
    let put = &log.batches()[0][0];
    assert_eq!(put.url(), format!("{API}/contents/docs/README.md"));
    assert!(body(put).get("sha").is_none());
    // A 201 is applied.
    let (p, _served) = plugin(&[("ref", "main")], |_| {
        resp(201, &[], sample("file-commit.json"))
    });
    let out = files(
        &p,
        vec![change(ChangeOp::Create, Some("new.md"), Some("x"))],
    );
    assert!(matches!(&out[0], PushOutcome::Applied(Some(_))));
}

#[test]
fn bad_file_changes_send_nothing() {
    let (p, log) = plugin(&[("ref", "main")], |_| panic!("no request"));
    let out = files(
        &p,
        vec![
            change(ChangeOp::Update, Some("../etc/passwd"), Some("x")),
            change(ChangeOp::Update, Some("a//b"), Some("x")),
            change(ChangeOp::Update, Some("a.md"), None),
            change(ChangeOp::Create, None, Some("x")),
        ],
    );
    assert!(
        out.iter()
            .all(|o| matches!(o, PushOutcome::Failed(Error::Unsupported(_)))),
        "{out:?}"
    );
    assert!(log.batches().is_empty());
    let out = p.push(
        "pulls",
        vec![change(ChangeOp::Update, Some("1"), Some("x"))],
    );
    assert!(matches!(out[0], PushOutcome::Failed(Error::Unsupported(_))));
}

#[test]
fn other_failures_keep_githubs_words() {
    let (p, _served) = plugin(&[("ref", "main")], |_| {
        resp(
            403,
            &[("x-ratelimit-remaining", "10")],
            sample("error-403-permission.json"),
        )
    });
    let out = files(&p, vec![change(ChangeOp::Update, Some("a.md"), Some("x"))]);
    assert!(
        matches!(&out[0], PushOutcome::Failed(Error::Auth(m)) if m.contains("Resource not accessible"))
    );
}

#[test]
fn file_reconcile_reads_only() {
    for (op, current, want) in [
        (ChangeOp::Update, Some("mine"), "applied"),
        (ChangeOp::Update, None, "conflict"),
        (ChangeOp::Update, Some("theirs"), "conflict"),
        (ChangeOp::Create, None, "not-applied"),
        (ChangeOp::Create, Some("mine"), "applied"),
        (ChangeOp::Delete, None, "applied"),
        (ChangeOp::Delete, Some("theirs"), "conflict"),
    ] {
        let answer = current.map(contents);
        let (p, log) = plugin(&[("ref", "main")], move |r| {
            assert_eq!(r.method(), "GET");
            match &answer {
                Some(body) => resp(200, &[], body.clone()),
                None => resp(404, &[], sample("error-404.json")),
            }
        });
        let content = (op != ChangeOp::Delete).then_some("mine");
        let got = p.reconcile("files", vec![change(op, Some("README.md"), content)]);
        let kind = match &got[0] {
            Reconciliation::Applied(_) => "applied",
            Reconciliation::NotApplied => "not-applied",
            Reconciliation::Conflict(_) => "conflict",
            Reconciliation::Failed(_) => "failed",
        };
        assert_eq!(kind, want, "{op:?} {current:?}");
        assert_eq!(log.batches().len(), 1);
    }
    // The base still there: not applied.
    let (p, _served) = plugin(&[("ref", "main")], |_| {
        let mut answer: Value = serde_json::from_str(&contents("old")).unwrap();
        answer["sha"] = BASE.into();
        resp(200, &[], answer.to_string())
    });
    let got = p.reconcile(
        "files",
        vec![change(ChangeOp::Update, Some("README.md"), Some("new"))],
    );
    assert_eq!(got[0], Reconciliation::NotApplied);
}

fn issue_change() -> Change {
    let mut c = change(ChangeOp::Update, Some("1"), Some("New body"));
    c.base_version = Some("2017-10-10T16:00:01Z".into());
    c.title = Some("New title".into());
    c
}

fn issue_json(updated: &str, title: &str, body: &str) -> String {
    let issues: Vec<Value> = serde_json::from_str(&sample("issues.json")).unwrap();
    let mut issue = issues[0].clone();
    issue["updated_at"] = updated.into();
    issue["title"] = title.into();
    issue["body"] = body.into();
    issue.to_string()
}

#[test]
fn issue_edits_read_updated_at_right_before_the_patch() {
    let (p, log) = plugin(&[], |r| match r.method() {
        "GET" => resp(
            200,
            &[],
            issue_json("2017-10-10T16:00:01Z", "Found a bug", "old"),
        ),
        _ => resp(
            200,
            &[],
            issue_json("2017-10-10T17:00:00Z", "New title", "New body"),
        ),
    });
    let out = p.push("issues", vec![issue_change()]);
    assert!(
        matches!(&out[0], PushOutcome::Applied(Some(r)) if r.version == "2017-10-10T17:00:00Z")
    );
    assert_eq!(
        urls(&log),
        [
            format!("GET {API}/issues/1"),
            format!("PATCH {API}/issues/1")
        ]
    );
    assert_eq!(
        body(&log.batches()[1][0]),
        serde_json::json!({"title": "New title", "body": "New body"})
    );

    let (p, log) = plugin(&[], |_| {
        resp(
            200,
            &[],
            issue_json("2017-10-10T18:00:00Z", "Theirs", "theirs"),
        )
    });
    let out = p.push("issues", vec![issue_change()]);
    assert!(
        matches!(&out[0], PushOutcome::Conflict(Some(r)) if r.title.as_deref() == Some("Theirs"))
    );
    assert_eq!(log.batches().len(), 1, "no write after a moved updated_at");

    let got = p.reconcile("issues", vec![issue_change()]);
    assert!(matches!(got[0], Reconciliation::Conflict(Some(_))));
    let (p, _served) = plugin(&[], |_| {
        resp(
            200,
            &[],
            issue_json("2017-10-10T17:00:00Z", "New title", "New body"),
        )
    });
    assert!(matches!(
        p.reconcile("issues", vec![issue_change()])[0],
        Reconciliation::Applied(Some(_))
    ));
    let (p, _served) = plugin(&[], |_| {
        resp(
            200,
            &[],
            issue_json("2017-10-10T16:00:01Z", "Found a bug", "old"),
        )
    });
    assert_eq!(
        p.reconcile("issues", vec![issue_change()])[0],
        Reconciliation::NotApplied
    );
}

#[test]
fn new_comments_carry_the_key_and_reconcile_finds_it() {
    let mut c = change(ChangeOp::Create, None, Some("Looks good"));
    c.parent_id = Some("1".into());
    let (p, log) = plugin(&[], |r| {
        let comments: Vec<Value> = serde_json::from_str(&sample("issue-comments.json")).unwrap();
        let mut comment = comments[0].clone();
        comment["body"] =
            serde_json::from_slice::<Value>(r.body_bytes().unwrap()).unwrap()["body"].clone();
        resp(201, &[], comment.to_string())
    });
    let out = p.push("comments", vec![c.clone()]);
    let PushOutcome::Applied(Some(record)) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(
        (record.id.as_str(), record.parent_id.as_deref()),
        ("issue-1000", Some("1"))
    );
    let sent = body(&log.batches()[0][0]);
    let text = sent["body"].as_str().unwrap();
    assert!(
        text.starts_with("Looks good") && synchost_sdk::push::holds_key(text, "k1"),
        "{text}"
    );

    // Reconcile: not on page 1, on page 2 (followed by `Link`).
    let next = "https://api.github.com/repositories/1000/issues/1/comments?per_page=100&page=2";
    let (p, log) = plugin(&[], move |r| {
        if r.url().ends_with("page=2") {
            resp(
                200,
                &[],
                r#"[{"id":1001,"updated_at":"2017-10-10T16:00:05Z","body":"hi\n\n<!-- synchost change k1 -->","issue_url":"https://api.github.com/repos/octocat/Hello-World/issues/1"}]"#,
            )
        } else {
            resp(
                200,
                &[("link", &format!("<{next}>; rel=\"next\""))],
                sample("issue-comments.json"),
            )
        }
    });
    let got = p.reconcile("comments", vec![c.clone()]);
    assert!(
        matches!(&got[0], Reconciliation::Applied(Some(r)) if r.id == "issue-1001"),
        "{got:?}"
    );
    assert_eq!(
        urls(&log),
        [
            format!("GET {API}/issues/1/comments?per_page=100"),
            format!("GET {next}")
        ]
    );
    let (p, _served) = plugin(&[], |_| resp(200, &[], sample("issue-comments.json")));
    assert_eq!(
        p.reconcile("comments", vec![c])[0],
        Reconciliation::NotApplied
    );
}
