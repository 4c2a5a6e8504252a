//! Pushes and reconciliation against a scripted server.

use super::*;
use crate::tests::{plugin, resp, row, urls, API};
use serde_json::json;
use synchost_sdk::http::Request;

const T0: &str = "2026-11-30T03:43:04.1234+00:00";
const T1: &str = "2026-11-30T03:50:00.5+00:00";

fn change(key: &str, op: ChangeOp, id: Option<&str>, content: Option<Value>) -> Change {
    Change {
        key: key.into(),
        op,
        id: id.map(String::from),
        base_version: (op != ChangeOp::Create).then(|| T0.to_string()),
        parent_id: None,
        title: None,
        content: content.map(|c| c.to_string().into_bytes()),
        metadata: "{}".into(),
    }
}

fn create(key: &str, content: Value) -> Change {
    change(key, ChangeOp::Create, None, Some(content))
}

fn update(id: &str, content: Value) -> Change {
    change("k-up", ChangeOp::Update, Some(id), Some(content))
}

fn delete(id: &str) -> Change {
    change("k-del", ChangeOp::Delete, Some(id), None)
}

fn body(r: &Request) -> Value {
    serde_json::from_slice(r.body_bytes().unwrap()).unwrap()
}

/// The rows of a JSON array body (a `PATCH`: its row, keyed as the URL
/// says), with `updated_at` set as the trigger would.
fn echo(r: &Request, updated_at: &str) -> String {
    let mut rows = match body(r) {
        Value::Array(rows) => rows,
        one => vec![one],
    };
    let key = r
        .url()
        .split_once("id=eq.")
        .map(|(_, rest)| rest.split('&').next().unwrap_or("").to_owned());
    for row in &mut rows {
        row["updated_at"] = json!(updated_at);
        if let (None, Some(key)) = (row.get("id"), &key) {
            row["id"] = json!(key);
        }
    }
    Value::Array(rows).to_string()
}

const RLS_BODY: &str = r#"{"code":"42501","details":null,"hint":null,"message":"new row violates row-level security policy for table \"notes\""}"#;

#[test]
fn derived_keys_are_stable_uuids() {
    let a = derived_uuid("sh-0123456789abcdef0123456789abcdef");
    assert_eq!(a, derived_uuid("sh-0123456789abcdef0123456789abcdef"));
    assert_ne!(a, derived_uuid("sh-0123456789abcdef0123456789abcdee"));
    let parts: Vec<&str> = a.split('-').collect();
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12]
    );
    assert!(parts[2].starts_with('8'), "version 8: {a}");
    assert!(
        matches!(&parts[3][..1], "8" | "9" | "a" | "b"),
        "variant: {a}"
    );
    assert!(a.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit()));
}

#[test]
fn creates_are_one_bulk_insert_and_existing_rows_are_read_back() {
    let mine = derived_uuid("k2");
    let mine2 = mine.clone();
    let (p, log) = plugin(&[], move |r| match r.method() {
        // k2's row was inserted by an earlier, lost attempt.
        "POST" => {
            let rows: Vec<Value> = body(r).as_array().unwrap().clone();
            let fresh: Vec<Value> = rows
                .into_iter()
                .filter(|row| row["id"] != mine2.as_str())
                .collect();
            resp(201, echo(&Request::post("x").json(&fresh), T1))
        }
        _ => resp(
            200,
            format!(r#"[{{"id":"{mine2}","title":"two","updated_at":"{T0}"}}]"#),
        ),
    });
    let out = p.push(
        "notes",
        vec![
            create("k1", json!({"title": "one", "updated_at": null})),
            create("k2", json!({"title": "two"})),
            create("k3", json!({"id": "given", "title": "three"})),
        ],
    );
    let sent = log.batches();
    assert_eq!(sent.len(), 2, "the insert, then the read-back");
    let post = &sent[0][0];
    assert_eq!(post.method(), "POST");
    assert_eq!(post.url(), format!("{API}/notes?columns=id%2Ctitle"));
    assert_eq!(
        post.header_value("prefer"),
        Some("return=representation,resolution=ignore-duplicates")
    );
    let rows = body(post);
    assert_eq!(
        rows[0],
        json!({"id": derived_uuid("k1"), "title": "one"}),
        "no updated_at"
    );
    assert_eq!(rows[2], json!({"id": "given", "title": "three"}));
    assert_eq!(
        sent[1][0].url(),
        format!("{API}/notes?select=%2A&id=in.%28%22{mine}%22%29")
    );
    let PushOutcome::Applied(Some(r1)) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(
        (r1.id.as_str(), r1.version.as_str()),
        (derived_uuid("k1").as_str(), T1)
    );
    assert!(matches!(&out[1], PushOutcome::Applied(Some(r)) if r.id == mine && r.version == T0));
    assert!(matches!(&out[2], PushOutcome::Applied(Some(r)) if r.id == "given"));
}

#[test]
fn an_existing_row_with_other_values_is_a_conflict() {
    let (p, _served) = plugin(&[], |r| match r.method() {
        "POST" => resp(201, "[]"),
        _ => resp(200, format!("[{}]", row("given", T0))),
    });
    let out = p.push(
        "notes",
        vec![create("k", json!({"id": "given", "title": "mine"}))],
    );
    let PushOutcome::Conflict(Some(current)) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(
        current.content.as_deref(),
        Some(row("given", T0).as_bytes())
    );
}

#[test]
fn a_thousand_creates_are_one_request() {
    let (p, log) = plugin(&[], |r| resp(201, echo(r, T1)));
    let changes = (0..1000)
        .map(|i| {
            create(
                &format!("sh-{i}"),
                json!({"title": format!("n{i}"), "done": false}),
            )
        })
        .collect();
    let out = p.push("notes", changes);
    assert!(out
        .iter()
        .all(|o| matches!(o, PushOutcome::Applied(Some(_)))));
    assert_eq!(urls(&log).len(), 1);
}

#[test]
fn a_refused_bulk_insert_is_retried_row_by_row() {
    let (p, log) = plugin(&[], |r| {
        let rows = body(r);
        let rows = rows.as_array().unwrap();
        if rows.len() > 1 || rows[0]["title"] == "secret" {
            resp(401, RLS_BODY)
        } else {
            resp(201, echo(r, T1))
        }
    });
    let out = p.push(
        "notes",
        vec![
            create("a", json!({"title": "ok"})),
            create("b", json!({"title": "secret"})),
            create("c", json!({"title": "fine"})),
        ],
    );
    assert!(matches!(&out[0], PushOutcome::Applied(Some(_))));
    assert!(
        matches!(&out[1], PushOutcome::Failed(Error::Fatal(m)) if m.contains("row-level security")),
        "{out:?}"
    );
    assert!(matches!(&out[2], PushOutcome::Applied(Some(_))));
    let batches: Vec<usize> = log.batches().iter().map(Vec::len).collect();
    assert_eq!(batches, [1, 3], "the bulk insert, then each row, together");
}

#[test]
fn when_every_change_is_refused_each_is_auth() {
    let (p, _served) = plugin(&[], |_| resp(401, RLS_BODY));
    let out = p.push(
        "notes",
        vec![
            create("a", json!({"title": "x"})),
            create("b", json!({"title": "y"})),
        ],
    );
    assert!(
        out.iter().all(
            |o| matches!(o, PushOutcome::Failed(Error::Auth(m)) if m.contains("row-level security"))
        ),
        "{out:?}"
    );
}

#[test]
fn an_update_is_a_conditional_patch() {
    let (p, log) = plugin(&[("title_column", "title")], |r| resp(200, echo(r, T1)));
    let out = p.push(
        "notes",
        vec![update(
            "a",
            json!({"id": "a", "title": "new", "updated_at": T0}),
        )],
    );
    let sent = log.batches()[0][0].clone();
    assert_eq!(sent.method(), "PATCH");
    assert_eq!(
        sent.url(),
        format!("{API}/notes?id=eq.a&updated_at=eq.2026-11-30T03%3A43%3A04.1234%2B00%3A00")
    );
    assert_eq!(sent.header_value("prefer"), Some("return=representation"));
    assert_eq!(
        body(&sent),
        json!({"title": "new"}),
        "neither key nor change column"
    );
    let PushOutcome::Applied(Some(record)) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(record.version, T1);
    assert_eq!(record.title.as_deref(), Some("new"));
    // A title beside content without the title column goes into it.
    let mut titled = update("a", json!({"body": "b"}));
    titled.title = Some("T".into());
    p.push("notes", vec![titled]);
    assert_eq!(
        body(&log.batches()[1][0]),
        json!({"body": "b", "title": "T"})
    );
}

#[test]
fn an_update_that_matched_nothing_is_read_up() {
    // Someone else changed the row: a conflict with the row as it is.
    let (p, log) = plugin(&[], |r| match r.method() {
        "PATCH" => resp(200, "[]"),
        _ => resp(200, format!("[{}]", row("a", T1))),
    });
    let out = p.push("notes", vec![update("a", json!({"title": "mine"}))]);
    assert!(
        matches!(&out[0], PushOutcome::Conflict(Some(r)) if r.version == T1),
        "{out:?}"
    );
    assert_eq!(
        urls(&log)[1],
        format!("GET {API}/notes?select=%2A&id=in.%28%22a%22%29")
    );
    // Deleted meanwhile: a conflict without a row.
    let (p, _served) = plugin(&[], |_| resp(200, "[]"));
    let out = p.push("notes", vec![update("a", json!({"title": "mine"}))]);
    assert_eq!(out, [PushOutcome::Conflict(None)]);
    // Still at the base version: RLS hid the row from the write; with
    // another change that landed, it fails alone.
    let (p, _served) = plugin(&[], |r| match (r.method(), r.url().contains("id=eq.b")) {
        ("PATCH", true) => resp(200, echo(r, T1)),
        ("PATCH", false) => resp(200, "[]"),
        _ => resp(200, format!("[{}]", row("a", T0))),
    });
    let out = p.push(
        "notes",
        vec![
            update("a", json!({"title": "x"})),
            update("b", json!({"title": "y"})),
        ],
    );
    assert!(
        matches!(&out[0], PushOutcome::Failed(Error::Fatal(m)) if m.contains("row-level security")),
        "{out:?}"
    );
    assert!(
        matches!(&out[1], PushOutcome::Applied(Some(r)) if r.id == "b"),
        "{out:?}"
    );
}

#[test]
fn deletes_hard_and_soft() {
    let (p, log) = plugin(&[], |r| match r.url().contains("id=eq.a") {
        true => resp(200, format!("[{}]", row("a", T0))),
        false => resp(200, "[]"),
    });
    let out = p.push("notes", vec![delete("a"), delete("gone")]);
    assert_eq!(
        out,
        [PushOutcome::Applied(None), PushOutcome::Applied(None)]
    );
    let sent = urls(&log);
    assert_eq!(
        sent[0],
        format!("DELETE {API}/notes?id=eq.a&updated_at=eq.2026-11-30T03%3A43%3A04.1234%2B00%3A00")
    );
    assert!(sent[2].starts_with("GET "), "{sent:?}");

    // A boolean soft-delete column (from the OpenAPI root) is set to true.
    let (p, log) = plugin(&[("soft_delete_column", "done")], |r| {
        resp(200, echo(r, T1))
    });
    *p.described.borrow_mut() =
        Some(Described::parse(crate::schema::tests::ROOT.as_bytes(), "GET /").unwrap());
    let out = p.push("notes", vec![delete("a")]);
    let sent = &log.batches()[0][0];
    assert_eq!(sent.method(), "PATCH");
    assert_eq!(body(sent), json!({"done": true}));
    assert_eq!(out, [PushOutcome::Applied(None)]);
    // A column of unknown type is taken for a timestamp: now.
    let (p, log) = plugin(&[("soft_delete_column", "deleted_at")], |r| {
        resp(200, echo(r, T1))
    });
    p.push("notes", vec![delete("a")]);
    let value = body(&log.batches()[0][0])["deleted_at"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(time::parse_rfc3339_micros(&value).is_some(), "{value}");
}

#[test]
fn changes_the_plugin_cannot_push_fail_alone_with_a_reason() {
    let (p, log) = plugin(&[], |r| resp(201, echo(r, T1)));
    *p.described.borrow_mut() = Some(
        Described::parse(
            crate::schema::tests::ROOT
                .replace("\"uuid\"", "\"bigint\"")
                .as_bytes(),
            "GET /",
        )
        .unwrap(),
    );
    let mut not_json = create("j", json!({}));
    not_json.content = Some(b"{not json".to_vec());
    let out = p.push(
        "notes",
        vec![
            not_json,
            create("arr", json!([1])),
            create("nokey", json!({"title": "x"})),
            update("a", json!({"id": "b", "title": "x"})),
            update("a", json!({"updated_at": T1})),
            create("ok", json!({"id": 7, "title": "x"})),
        ],
    );
    let reasons: Vec<String> = out
        .iter()
        .take(5)
        .map(|o| match o {
            PushOutcome::Failed(Error::Unsupported(m)) => m.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(reasons[0].contains("not JSON"), "{reasons:?}");
    assert!(reasons[1].contains("not a JSON object"));
    assert!(reasons[2].contains("bigint") && reasons[2].contains("give the key"));
    assert!(reasons[3].contains("changes primary key"));
    assert!(reasons[4].contains("changes no column"));
    assert!(matches!(&out[5], PushOutcome::Applied(Some(r)) if r.id == "7"));
    assert_eq!(urls(&log).len(), 1, "only the good create was sent");
}

#[test]
fn server_errors_fail_their_changes() {
    let (p, _served) = plugin(&[], |r| match r.method() {
        "POST" => resp(
            503,
            r#"{"code":"PGRST001","message":"Database client error"}"#,
        ),
        _ => resp(
            409,
            r#"{"code":"23505","details":"Key (title)=(x) already exists.","hint":null,"message":"duplicate key value violates unique constraint"}"#,
        ),
    });
    let out = p.push(
        "notes",
        vec![
            create("a", json!({"title": "x"})),
            update("b", json!({"title": "x"})),
        ],
    );
    assert!(
        matches!(&out[0], PushOutcome::Failed(Error::Transient(_))),
        "{out:?}"
    );
    assert!(
        matches!(&out[1], PushOutcome::Failed(Error::Conflict(m)) if m.contains("already exists"))
    );
}

#[test]
fn reconcile_reads_every_row_once() {
    let mine = derived_uuid("c-ours");
    let rows = format!(
        r#"[{{"id":"{mine}","title":"ours","updated_at":"{T1}"}},
            {{"id":"given","title":"theirs","updated_at":"{T1}"}},
            {{"id":"u-base","title":"old","updated_at":"{T0}"}},
            {{"id":"u-ours","title":"mine","updated_at":"{T1}"}},
            {{"id":"u-theirs","title":"other","updated_at":"{T1}"}},
            {{"id":"d-base","title":"x","updated_at":"{T0}"}}]"#
    );
    let (p, log) = plugin(&[], move |_| resp(200, rows.clone()));
    let out = p.reconcile(
        "notes",
        vec![
            create("c-ours", json!({"title": "ours"})),
            create("c-lost", json!({"title": "lost"})),
            create("c-other", json!({"id": "given", "title": "mine"})),
            update("u-base", json!({"title": "mine"})),
            update("u-ours", json!({"title": "mine"})),
            update("u-theirs", json!({"title": "mine"})),
            update("u-gone", json!({"title": "mine"})),
            delete("d-base"),
            delete("d-gone"),
        ],
    );
    assert_eq!(urls(&log).len(), 1, "one read for the whole call");
    assert!(matches!(&out[0], Reconciliation::Applied(Some(r)) if r.id == mine));
    assert_eq!(out[1], Reconciliation::NotApplied);
    assert!(matches!(&out[2], Reconciliation::Conflict(Some(r)) if r.id == "given"));
    assert_eq!(out[3], Reconciliation::NotApplied);
    assert!(matches!(&out[4], Reconciliation::Applied(Some(r)) if r.id == "u-ours"));
    assert!(matches!(&out[5], Reconciliation::Conflict(Some(r)) if r.id == "u-theirs"));
    assert_eq!(out[6], Reconciliation::Conflict(None));
    assert_eq!(out[7], Reconciliation::NotApplied);
    assert_eq!(out[8], Reconciliation::Applied(None));
    // A failed read leaves every change unknown.
    let (p, _served) = plugin(&[], |_| resp(500, ""));
    let out = p.reconcile("notes", vec![delete("a")]);
    assert!(matches!(
        &out[0],
        Reconciliation::Failed(Error::Transient(_))
    ));
}

#[test]
fn values_compare_as_postgres_renders_them() {
    let current = json!({"n": 1.0, "t": "2026-01-01T00:00:00+00:00", "s": "x", "k": 42, "b": null});
    let current = current.as_object().unwrap();
    let sent = |v: Value| v.as_object().unwrap().clone();
    assert!(same_values(
        current,
        &sent(json!({"n": 1, "t": "2026-01-01T00:00:00Z", "k": "42"}))
    ));
    assert!(same_values(current, &sent(json!({"b": null, "s": "x"}))));
    assert!(!same_values(current, &sent(json!({"s": "y"}))));
    assert!(!same_values(
        current,
        &sent(json!({"t": "2026-01-01T00:00:01Z"}))
    ));
    assert!(!same_values(current, &sent(json!({"missing": 1}))));
}
