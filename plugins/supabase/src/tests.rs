//! The plugin against a scripted server: every request it sends is seen
//! (and counted); answers have PostgREST's shapes (contracts §3).

use super::*;
use synchost_sdk::testing::{self, Served};

/// What the plugin logged while `served` answered it.
fn logged(served: &Served) -> Vec<String> {
    served
        .logs()
        .into_iter()
        .map(|(_, message)| message)
        .collect()
}

pub const API: &str = "https://abc.supabase.co/rest/v1";

pub fn resp(status: u16, body: impl Into<Vec<u8>>) -> Response {
    Response::new(status, vec![], body)
}

/// The plugin configured with `settings` (`base_url` and `tables = notes`
/// unless given), answering through `server` (installed with
/// `synchost_sdk::testing::serve` until the guard returned is dropped),
/// which keeps every batch sent and what the plugin logged.
pub fn plugin(
    settings: &[(&str, &str)],
    server: impl Fn(&Request) -> Response + 'static,
) -> (Supabase, Served) {
    let mut pairs: Vec<(String, String)> = vec![
        ("base_url".into(), "https://abc.supabase.co".into()),
        ("tables".into(), "notes".into()),
    ];
    pairs.extend(settings.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let p = Supabase::configure(Settings::new(pairs)).unwrap();
    (p, testing::serve(move |r: &Request| server(r)))
}

pub fn urls(log: &Served) -> Vec<String> {
    log.sent()
}

/// A note row as PostgreSQL renders it.
pub fn row(id: &str, updated_at: &str) -> String {
    format!(
        r#"{{"id":"{id}","title":"Note {id}","body":"text","done":false,"updated_at":"{updated_at}"}}"#
    )
}

fn req(limit: u32) -> ListRequest {
    ListRequest {
        limit,
        ..ListRequest::default()
    }
}

#[test]
fn manifest() {
    let m = Supabase::describe();
    assert_eq!(m.name, "supabase");
    assert_eq!(m.max_page_size, 1000);
    let names: Vec<_> = m.settings.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"tables") && names.contains(&"delta_overlap_seconds"));
    assert!(names
        .iter()
        .all(|n| !n.contains("key") || *n == "primary_key"));
    assert_eq!(m.max_push_batch, 1000);
    assert!(
        m.streams.is_empty(),
        "the streams are the configured tables"
    );
    let auth = m.auth.unwrap();
    assert_eq!(auth.scheme, synchost_sdk::AuthScheme::Supabase);
    assert_eq!(
        auth.env,
        [
            ("key_env".to_string(), "SUPABASE_KEY".to_string()),
            ("jwt_env".into(), "SUPABASE_JWT".into())
        ]
    );
}

#[test]
fn streams_are_the_tables_checked_against_the_api_description() {
    let root = crate::schema::tests::ROOT;
    let (p, log) = plugin(&[("tables", "notes")], move |r| {
        assert_eq!(r.header_value("accept"), Some("application/openapi+json"));
        resp(200, root)
    });
    let streams = p.streams().unwrap();
    assert_eq!(streams.len(), 1);
    assert_eq!(streams[0].name, "notes");
    assert!(streams[0].supports_delta && streams[0].supports_push);
    assert_eq!(urls(&log), [format!("GET {API}/")]);
    assert!(
        p.described.borrow().is_some(),
        "column types kept for pushes"
    );

    let (p, _served) = plugin(&[("tables", "notes,tasks")], move |_| resp(200, root));
    assert_eq!(
        p.streams().unwrap_err(),
        Error::invalid_config("table \"tasks\" does not exist in schema public (setting `tables`)")
    );
    let (p, served) = plugin(&[("tables", "*")], move |_| resp(200, root));
    let names: Vec<String> = p.streams().unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["notes"]);
    let warnings = logged(&served);
    assert!(
        warnings[0].contains("skipped: table \"pairs\" has no column \"id\""),
        "{warnings:?}"
    );
    // Not readable with this key: the settings are trusted.
    let (p, served) = plugin(&[("tables", "notes,tasks")], |_| {
        resp(
            401,
            r#"{"code":"42501","message":"permission denied for schema public"}"#,
        )
    });
    let names: Vec<String> = p.streams().unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["notes", "tasks"]);
    assert!(p.described.borrow().is_none());
    assert!(logged(&served)[0].contains("not readable with this key"));
    let (p, _served) = plugin(&[("tables", "*")], |_| resp(403, ""));
    assert!(matches!(p.streams(), Err(Error::InvalidConfig(m)) if m.contains("name the tables")));
    // Other failures are what they are.
    let (p, _served) = plugin(&[], |_| resp(503, ""));
    assert!(matches!(p.streams(), Err(Error::Transient(_))));
    let (p, _served) = plugin(&[], |_| resp(200, "{}"));
    assert!(matches!(p.streams(), Err(Error::InvalidResponse(_))));
}

#[test]
fn a_full_listing_pages_by_keyset_until_an_empty_page() {
    let t1 = "2026-11-30T03:43:04.1234+00:00";
    let t2 = "2026-11-30T03:43:04.12345+00:00";
    let (p, log) = plugin(&[], move |r| {
        if !r.url().contains("or=") {
            resp(200, format!("[{},{}]", row("a", t1), row("b", t1)))
        } else if r.url().contains("%22b%22") {
            // A short page (max-rows): not the end.
            resp(200, format!("[{}]", row("c", t2)))
        } else {
            resp(200, "[]")
        }
    });
    let first = p.list("notes", req(2)).unwrap();
    let ids: Vec<_> = first.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(first.watermark.as_deref(), Some(t1));
    let cursor = first.next_cursor.clone().unwrap();
    assert_eq!(cursor, format!(r#"{{"c":"{t1}","k":"b"}}"#));
    let second = p
        .list(
            "notes",
            ListRequest {
                cursor: Some(cursor),
                limit: 2,
                ..ListRequest::default()
            },
        )
        .unwrap();
    assert_eq!(second.records.len(), 1);
    assert_eq!(second.watermark.as_deref(), Some(t2));
    let third = p
        .list(
            "notes",
            ListRequest {
                cursor: second.next_cursor.clone(),
                limit: 2,
                ..ListRequest::default()
            },
        )
        .unwrap();
    assert!(third.records.is_empty() && third.deleted.is_empty());
    assert_eq!((third.next_cursor, third.watermark), (None, None));
    let sent = urls(&log);
    assert_eq!(sent.len(), 3, "one request a page");
    assert_eq!(
        sent[0],
        format!("GET {API}/notes?select=%2A&order=updated_at.asc%2Cid.asc&limit=2")
    );
    let tree = format!(r#"(updated_at.gt."{t1}",and(updated_at.eq."{t1}",id.gt."b"))"#);
    assert_eq!(
        sent[1],
        format!(
            "GET {API}/notes?select=%2A&order=updated_at.asc%2Cid.asc&updated_at=gte.{}&or={}&limit=2",
            http::encode(t1),
            http::encode(&tree)
        )
    );
}

#[test]
fn a_delta_looks_back_by_the_overlap_and_never_lowers_the_watermark() {
    let since = "2026-11-30T03:43:04.1234+00:00";
    let (p, log) = plugin(&[("delta_overlap_seconds", "300")], move |_| {
        // Only a row from the overlap window comes back.
        resp(200, format!("[{}]", row("a", "2026-11-30T03:40:00+00:00")))
    });
    let page = p
        .list(
            "notes",
            ListRequest {
                since: Some(since.into()),
                limit: 100,
                ..ListRequest::default()
            },
        )
        .unwrap();
    assert_eq!(page.records.len(), 1);
    assert_eq!(page.watermark.as_deref(), Some(since));
    assert!(
        urls(&log)[0].contains("&updated_at=gte.2026-11-30T03%3A38%3A04.123400Z&"),
        "{:?}",
        urls(&log)
    );
}

#[test]
fn delta_starts() {
    assert_eq!(
        delta_start("2026-11-30T03:43:04.1234+00:00", 300),
        "2026-11-30T03:38:04.123400Z"
    );
    assert_eq!(
        delta_start("2026-11-30T05:43:04+02:00", 0),
        "2026-11-30T03:43:04.000000Z"
    );
    // timestamp without time zone stays without.
    assert_eq!(
        delta_start("2026-01-01T00:00:30.5", 60),
        "2025-12-31T23:59:30.500000"
    );
    // Not a time: as it is.
    assert_eq!(delta_start("1042", 300), "1042");
    assert!(later(
        "2026-11-30T03:43:04.1234+00:00",
        "2026-11-30T03:43:04+00:00"
    ));
    assert!(!later(
        "2026-11-30T03:43:04+00:00",
        "2026-11-30T03:43:04.000001+00:00"
    ));
    assert!(later("10", "9") && !later("9", "10"));
    assert!(later("b", "a"));
}

#[test]
fn soft_deleted_rows_are_deletions_and_ids_only_lists_few_columns() {
    let body = r#"[{"id":"a","updated_at":"2026-01-01T00:00:00+00:00","deleted_at":null},
                   {"id":"b","updated_at":"2026-01-01T00:00:01+00:00","deleted_at":"2026-01-01T00:00:01+00:00"}]"#;
    let (p, log) = plugin(&[("soft_delete_column", "deleted_at")], move |_| {
        resp(200, body)
    });
    let page = p
        .list(
            "notes",
            ListRequest {
                limit: 10,
                detail: Detail::IdsOnly,
                ..ListRequest::default()
            },
        )
        .unwrap();
    assert_eq!(page.records.len(), 1);
    assert!(!page.records[0].is_complete());
    assert_eq!(page.deleted, ["b"]);
    assert_eq!(
        page.next_cursor.as_deref(),
        Some(r#"{"c":"2026-01-01T00:00:01+00:00","k":"b"}"#),
        "the keyset moves past deleted rows too"
    );
    assert!(urls(&log)[0].contains("select=id%2Cupdated_at%2Cdeleted_at&"));
}

#[test]
fn listing_errors() {
    let (p, _served) = plugin(&[], |_| {
        resp(
            404,
            r#"{"code":"PGRST205","details":null,"hint":null,"message":"Could not find the table 'public.notes' in the schema cache"}"#,
        )
    });
    let e = p.list("notes", req(10)).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidConfig(m) if m.starts_with("table \"notes\" does not exist in schema public")),
        "{e:?}"
    );
    assert_eq!(
        p.list("other", req(10)).unwrap_err(),
        Error::unknown_stream("other")
    );
    let (p, _served) = plugin(&[], |_| resp(200, "<html>"));
    assert!(matches!(
        p.list("notes", req(10)),
        Err(Error::InvalidResponse(m)) if m.contains("listing of table \"notes\"")
    ));
    let e = p
        .list(
            "notes",
            ListRequest {
                cursor: Some("junk".into()),
                limit: 1,
                ..ListRequest::default()
            },
        )
        .unwrap_err();
    assert!(matches!(e, Error::Fatal(_)));
}

#[test]
fn fetch_reads_rows_by_key_together() {
    let (p, log) = plugin(&[("soft_delete_column", "gone")], |r| {
        assert_eq!(r.method(), "GET");
        resp(
            200,
            r#"[{"id":"a","updated_at":"2026-01-01T00:00:00+00:00","gone":false},
                {"id":"b","updated_at":"2026-01-01T00:00:00+00:00","gone":true}]"#,
        )
    });
    let ids = vec!["b".to_string(), "a".into(), "zz".into()];
    let out = p.fetch("notes", ids);
    assert!(matches!(&out[0], Err(Error::NotFound(m)) if m.contains("marked deleted")));
    assert_eq!(out[1].as_ref().unwrap().id, "a");
    assert!(out[1].as_ref().unwrap().is_complete());
    assert!(matches!(&out[2], Err(Error::NotFound(m)) if m.contains("does not exist")));
    assert_eq!(
        urls(&log),
        [format!(
            "GET {API}/notes?select=%2A&id=in.%28%22b%22%2C%22a%22%2C%22zz%22%29"
        )]
    );
    // Many ids: several requests, sent together in one batch.
    let (p, log) = plugin(&[], |_| resp(200, "[]"));
    let ids: Vec<String> = (0..500).map(|i| format!("{i:036}")).collect();
    let out = p.fetch("notes", ids);
    assert_eq!(out.len(), 500);
    assert_eq!(log.batches().len(), 1, "one batch");
    assert!(log.batches()[0].len() > 1);
}
