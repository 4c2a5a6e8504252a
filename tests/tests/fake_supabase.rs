//! The Supabase fake on its own, through HTTP: PostgREST's contract
//! (`api-contracts.md` §3, as `docs/fake-supabase-api.md` describes it)
//! over a real PostgreSQL: keyset paging under max-rows, quoted timestamps,
//! RLS, upserts, conditional writes, errors, late commits, the OpenAPI root,
//! and the throwaway server's cleanup.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use support::{http, percent_encode as enc, wait_for, FakeServer, HttpResponse};

/// A running fake with its keys.
struct Sb {
    fake: FakeServer,
    anon: String,
    service: String,
}

fn start(args: &[&str]) -> Sb {
    let fake = FakeServer::start("supabase", args);
    let anon = fake.stdout_line("anon key: ");
    let service = fake.stdout_line("service_role key: ");
    Sb {
        fake,
        anon,
        service,
    }
}

impl Sb {
    /// A request with `apikey: key` (and the key as bearer, or `bearer`).
    fn call(
        &self,
        method: &str,
        path: &str,
        key: &str,
        bearer: Option<&str>,
        extra: &[(&str, &str)],
        body: Option<&Value>,
    ) -> HttpResponse {
        let auth = format!("Bearer {}", bearer.unwrap_or(key));
        let mut headers = vec![("apikey", key), ("authorization", auth.as_str())];
        headers.extend_from_slice(extra);
        let body = body.map(Value::to_string);
        http(
            method,
            &format!("{}/rest/v1{path}", self.fake.url()),
            &headers,
            body.as_deref(),
        )
    }

    /// A request with the service_role key.
    fn service(
        &self,
        method: &str,
        path: &str,
        extra: &[(&str, &str)],
        body: Option<&Value>,
    ) -> HttpResponse {
        self.call(method, path, &self.service, None, extra, body)
    }

    fn service_get(&self, path: &str) -> HttpResponse {
        self.service("GET", path, &[], None)
    }

    fn rows(&self, path: &str) -> Vec<Value> {
        let r = self.service_get(path);
        r.expect_status(200);
        r.json().as_array().unwrap().clone()
    }

    /// `/_control/items` of `table`: id → (version, sha256).
    fn truth(&self, table: &str) -> BTreeMap<String, (String, String)> {
        self.fake
            .ground_truth_json()
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["stream"] == table)
            .map(|e| {
                let s = |k: &str| e[k].as_str().unwrap().to_owned();
                (s("id"), (s("version"), s("sha256")))
            })
            .collect()
    }

    fn token(&self, claims: Value) -> String {
        self.fake.mutate_with_path("/_control/jwt", &claims)["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

trait ControlPost {
    fn mutate_with_path(&self, path: &str, body: &Value) -> Value;
}

impl ControlPost for FakeServer {
    fn mutate_with_path(&self, path: &str, body: &Value) -> Value {
        let r = http(
            "POST",
            &format!("{}{path}", self.url()),
            &[],
            Some(&body.to_string()),
        );
        r.expect_status(200);
        r.json()
    }
}

fn field(row: &Value, key: &str) -> String {
    row[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {row}"))
        .to_owned()
}

fn sha256_hex(text: &str) -> String {
    use sha2::{Digest as _, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The elements of a JSON array answer as the exact text the server sent
/// (Postgres's `json_agg` separates them with `, \n `).
fn raw_elements(body: &str) -> Vec<String> {
    let inner = body
        .trim()
        .strip_prefix('[')
        .unwrap()
        .strip_suffix(']')
        .unwrap();
    if inner.is_empty() {
        return Vec::new();
    }
    inner.split(", \n ").map(str::to_owned).collect()
}

#[test]
fn keyset_paging_walks_every_row_once_under_max_rows() {
    let sb = start(&["--table", "notes:2500", "--max-rows", "1000"]);
    let truth = sb.truth("notes");
    assert_eq!(truth.len(), 2500);

    // The page size asked for (5000) is capped at max-rows silently.
    let first = sb.service_get("/notes?select=*&order=updated_at.asc,id.asc&limit=5000");
    first.expect_status(200);
    assert_eq!(first.header("content-range"), Some("0-999/*"));

    let mut seen = BTreeMap::new();
    let mut cursor: Option<(String, String)> = None;
    let mut pages = 0;
    loop {
        let mut path = "/notes?select=*&order=updated_at.asc,id.asc&limit=5000".to_owned();
        if let Some((ts, id)) = &cursor {
            assert!(ts.contains('+'), "timestamps carry +00:00: {ts}");
            let keyset =
                format!("(updated_at.gt.\"{ts}\",and(updated_at.eq.\"{ts}\",id.gt.\"{id}\"))");
            path.push_str(&format!("&or={}", enc(&keyset)));
        }
        let r = sb.service_get(&path);
        r.expect_status(200);
        let body = r.body.clone();
        let rows = r.json();
        let rows = rows.as_array().unwrap();
        if rows.is_empty() {
            assert_eq!(r.header("content-range"), Some("*/*"));
            break;
        }
        pages += 1;
        assert!(rows.len() <= 1000);
        for (row, raw) in rows.iter().zip(raw_elements(&body)) {
            let id = field(row, "id");
            let (version, sha) = &truth[&id];
            assert_eq!(
                &field(row, "updated_at"),
                version,
                "version is updated_at as sent"
            );
            assert_eq!(&sha256_hex(&raw), sha, "sha256 of the row's JSON as sent");
            assert!(seen.insert(id, ()).is_none(), "a row seen twice");
        }
        let last = rows.last().unwrap();
        cursor = Some((field(last, "updated_at"), field(last, "id")));
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        truth.keys().collect::<Vec<_>>()
    );
}

#[test]
fn filters_ranges_counts_and_quoting() {
    let sb = start(&["--table", "notes:50", "--max-rows", "20"]);
    let all = sb.rows("/notes?select=id,updated_at,done&order=updated_at.asc,id.asc&limit=20");
    assert_eq!(all.len(), 20);
    let ts = field(&all[4], "updated_at");
    // A top-level filter takes its value verbatim: unquoted, `+` encoded.
    let gte = sb.rows(&format!(
        "/notes?select=id&order=updated_at.asc,id.asc&updated_at=gte.{}",
        enc(&ts)
    ));
    assert_eq!(field(&gte[0], "id"), field(&all[4], "id"));
    // Quotes at the top level are part of the value (PostgREST's
    // `pSingleVal`): Postgres's datetime input skips them, a uuid's does not.
    let quoted = sb.rows(&format!(
        "/notes?select=id&order=updated_at.asc,id.asc&updated_at=gte.{}",
        enc(&format!("\"{ts}\""))
    ));
    assert_eq!(quoted, gte);
    let r = sb.service_get(&format!(
        "/notes?id=eq.{}",
        enc(&format!("\"{}\"", field(&all[0], "id")))
    ));
    r.expect_status(400);
    assert_eq!(r.json()["code"], "22P02");
    // An unencoded `+` is a space, which Postgres refuses as a timestamp.
    let r = sb.service_get(&format!("/notes?updated_at=gte.{ts}"));
    r.expect_status(400);
    assert_eq!(r.json()["code"], "22007");
    // Inside in.(…) values may be quoted.
    let ids = [field(&all[0], "id"), field(&all[1], "id")];
    let r = sb.rows(&format!(
        "/notes?select=id&id=in.({})",
        enc(&format!("\"{}\",{}", ids[0], ids[1]))
    ));
    assert_eq!(r.len(), 2);
    let r = sb.rows(&format!(
        "/notes?select=id&id=not.in.({},{})&limit=100",
        ids[0], ids[1]
    ));
    assert_eq!(r.len(), 20, "capped at max-rows");
    let done = sb.rows("/notes?select=id&done=is.true&limit=100");
    let open = sb.rows("/notes?select=id&done=eq.false&limit=100");
    assert!(!done.is_empty() && !open.is_empty());
    assert!(done.len() + open.len() >= 20);

    // Counts: 206 while rows remain, 416 past the end, 200 [] without count.
    let counted = sb.service(
        "GET",
        "/notes?select=id&limit=10&offset=5",
        &[("prefer", "count=exact")],
        None,
    );
    counted.expect_status(206);
    assert_eq!(counted.header("content-range"), Some("5-14/50"));
    let past = sb.service(
        "GET",
        "/notes?offset=60",
        &[("prefer", "count=exact")],
        None,
    );
    past.expect_status(416);
    assert_eq!(past.json()["code"], "PGRST103");
    assert_eq!(
        past.json()["details"],
        "An offset of 60 was requested, but there are only 50 rows."
    );
    let uncounted = sb.service_get("/notes?offset=60");
    uncounted.expect_status(200);
    assert_eq!(
        (uncounted.body.as_str(), uncounted.header("content-range")),
        ("[]", Some("*/*"))
    );
    // The Range header (GET only), intersected with max-rows.
    let ranged = sb.service(
        "GET",
        "/notes?select=id&order=id",
        &[("range", "10-59")],
        None,
    );
    ranged.expect_status(200);
    assert_eq!(ranged.header("content-range"), Some("10-29/*"));

    // Bad query strings: PGRST100.
    for bad in [
        "/notes?id=in.1",
        "/notes?id=eq",
        "/notes?or=(id.eq.1",
        "/notes?order=id.sideways",
    ] {
        let r = sb.service_get(bad);
        r.expect_status(400);
        assert_eq!(r.json()["code"], "PGRST100", "{bad}");
    }
    let r = sb.service_get("/notes?limit=-1");
    r.expect_status(416);
    assert_eq!(
        r.json()["details"],
        "Limit should be greater than or equal to zero."
    );
}

#[test]
fn rls_lets_anon_read_open_rows_only_and_refuses_its_writes() {
    let sb = start(&["--table", "notes:300"]);
    let open: BTreeSet<String> = sb
        .rows("/notes?select=id&done=eq.false")
        .iter()
        .map(|r| field(r, "id"))
        .collect();
    assert!(open.len() < 300 && !open.is_empty());
    let r = sb.call(
        "GET",
        "/notes?select=id,done",
        &sb.anon,
        None,
        &[("prefer", "count=exact")],
        None,
    );
    r.expect_status(200);
    let seen: BTreeSet<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| field(r, "id"))
        .collect();
    assert_eq!(seen, open, "anon sees exactly the done = false rows");
    assert_eq!(
        r.header("content-range"),
        Some(format!("0-{}/{}", open.len() - 1, open.len()).as_str())
    );

    let row = json!({"id": "00000000-0000-4000-8000-00000000a001", "title": "anon"});
    let any = open.iter().next().unwrap();
    let refused = [
        sb.call("POST", "/notes", &sb.anon, None, &[], Some(&row)),
        sb.call(
            "PATCH",
            &format!("/notes?id=eq.{any}"),
            &sb.anon,
            None,
            &[],
            Some(&json!({"title": "x"})),
        ),
        sb.call(
            "DELETE",
            &format!("/notes?id=eq.{any}"),
            &sb.anon,
            None,
            &[],
            None,
        ),
    ];
    for r in &refused {
        r.expect_status(401);
        assert_eq!(r.json()["code"], "42501");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    }
    assert_eq!(sb.truth("notes").len(), 300, "nothing written");

    // A user's JWT (authenticated) refused by a policy: 403, same code.
    sb.fake.mutate_with(&json!({"sql": "CREATE POLICY no_secrets ON notes AS RESTRICTIVE FOR INSERT TO authenticated WITH CHECK (title <> 'secret')"}));
    let user =
        sb.token(json!({"role": "authenticated", "sub": "00000000-0000-4000-8000-0000000000aa"}));
    let secret = json!({"id": "00000000-0000-4000-8000-00000000a002", "title": "secret"});
    let r = sb.call("POST", "/notes", &sb.anon, Some(&user), &[], Some(&secret));
    r.expect_status(403);
    assert_eq!(r.json()["code"], "42501");
    let fine = json!({"id": "00000000-0000-4000-8000-00000000a003", "title": "fine"});
    sb.call("POST", "/notes", &sb.anon, Some(&user), &[], Some(&fine))
        .expect_status(201);
    assert_eq!(sb.truth("notes").len(), 301);
}

#[test]
fn bulk_insert_with_ignore_duplicates_is_idempotent() {
    let sb = start(&["--table", "notes:10"]);
    let batch = json!([
        {"id": "00000000-0000-4000-8000-00000000b001", "title": "one"},
        {"id": "00000000-0000-4000-8000-00000000b002", "title": "two", "done": true},
        {"id": "00000000-0000-4000-8000-00000000b003"},
    ]);
    let prefer = [(
        "prefer",
        "return=representation,resolution=ignore-duplicates",
    )];
    let path = "/notes?columns=id,title,done";
    let first = sb.service("POST", path, &prefer, Some(&batch));
    first.expect_status(201);
    assert_eq!(first.json().as_array().unwrap().len(), 3);
    assert_eq!(
        first.header("preference-applied"),
        Some("return=representation, resolution=ignore-duplicates")
    );
    let truth = sb.truth("notes");
    assert_eq!(truth.len(), 13);
    let again = sb.service("POST", path, &prefer, Some(&batch));
    again.expect_status(201);
    assert_eq!(again.body, "[]", "nothing inserted twice");
    assert_eq!(sb.truth("notes"), truth, "and nothing changed");
    // A key absent from a row under columns= is null; with
    // missing=default it takes the column's default.
    let third = sb.rows("/notes?select=done&id=eq.00000000-0000-4000-8000-00000000b003");
    assert_eq!(third[0]["done"], Value::Null);
    // Without columns= the keys must match.
    let r = sb.service("POST", "/notes", &[], Some(&batch));
    r.expect_status(400);
    assert_eq!(r.json()["code"], "PGRST102");
    // merge-duplicates updating only: 200.
    let merge = json!([{"id": "00000000-0000-4000-8000-00000000b001", "title": "uno"}]);
    let r = sb.service(
        "POST",
        "/notes",
        &[(
            "prefer",
            "return=representation,resolution=merge-duplicates",
        )],
        Some(&merge),
    );
    r.expect_status(200);
    assert_eq!(r.json()[0]["title"], "uno");
    // Unknown column: PGRST204. Minimal return: 201, no body.
    let r = sb.service("POST", "/notes", &[], Some(&json!({"nope": 1})));
    r.expect_status(400);
    assert_eq!(r.json()["code"], "PGRST204");
    let r = sb.service(
        "POST",
        "/notes?columns=id,done",
        &[("prefer", "missing=default")],
        Some(&json!({"id": "00000000-0000-4000-8000-00000000b004"})),
    );
    r.expect_status(201);
    assert_eq!(
        (r.body.as_str(), r.header("content-range")),
        ("", Some("*/*"))
    );
    let fourth = sb.rows("/notes?select=done&id=eq.00000000-0000-4000-8000-00000000b004");
    assert_eq!(fourth[0]["done"], false);
    // headers-only: where the row is.
    let r = sb.service(
        "POST",
        "/notes",
        &[("prefer", "return=headers-only")],
        Some(&json!({"id": "00000000-0000-4000-8000-00000000b005"})),
    );
    r.expect_status(201);
    assert_eq!(
        r.header("location"),
        Some("/notes?id=eq.00000000-0000-4000-8000-00000000b005")
    );
}

#[test]
fn conditional_patch_and_delete_on_a_stale_version_change_nothing() {
    let sb = start(&["--table", "notes:20"]);
    let row = sb.rows("/notes?select=id,updated_at&limit=1").remove(0);
    let (id, base) = (field(&row, "id"), field(&row, "updated_at"));
    let path = |v: &str| format!("/notes?id=eq.{id}&updated_at=eq.{}", enc(v));
    let rep = [("prefer", "return=representation")];
    let r = sb.service("PATCH", &path(&base), &rep, Some(&json!({"title": "mine"})));
    r.expect_status(200);
    let now = field(&r.json()[0], "updated_at");
    assert_ne!(now, base, "the trigger moved updated_at");
    let after_first = sb.truth("notes");
    // The same base again is stale: [] and the row untouched.
    let r = sb.service(
        "PATCH",
        &path(&base),
        &rep,
        Some(&json!({"title": "theirs"})),
    );
    r.expect_status(200);
    assert_eq!(r.body, "[]");
    let r = sb.service("DELETE", &path(&base), &rep, None);
    r.expect_status(200);
    assert_eq!(r.body, "[]");
    assert_eq!(sb.truth("notes"), after_first);
    let r = sb.service("PATCH", &path(&now), &[], Some(&json!({"title": "again"})));
    r.expect_status(204);
    assert_eq!(
        sb.rows(&format!("/notes?select=title&id=eq.{id}"))[0]["title"],
        "again"
    );
    let current = sb.truth("notes")[&id].0.clone();
    sb.service("DELETE", &path(&current), &[], None)
        .expect_status(204);
    assert!(!sb.truth("notes").contains_key(&id));
}

#[test]
fn errors_are_postgrest_bodies_with_postgrest_statuses() {
    let sb = start(&["--table", "notes:5", "--table", "app.tasks:3"]);
    let id = sb.truth("notes").keys().next().unwrap().clone();
    let r = sb.service("POST", "/notes", &[], Some(&json!({"id": id})));
    r.expect_status(409);
    let e = r.json();
    assert_eq!(e["code"], "23505");
    assert_eq!(
        e["message"],
        "duplicate key value violates unique constraint \"notes_pkey\""
    );
    assert_eq!(e["details"], format!("Key (id)=({id}) already exists."));
    assert_eq!(e["hint"], Value::Null);

    let r = sb.service_get("/missing");
    r.expect_status(404);
    assert_eq!(r.json()["code"], "PGRST205");
    let r = sb.service_get("/notes?id=eq.not-a-uuid");
    r.expect_status(400);
    assert_eq!(r.json()["code"], "22P02");

    // Other schemas through the profile headers; unknown ones 406.
    sb.service_get("/tasks").expect_status(404);
    let r = sb.service("GET", "/tasks", &[("accept-profile", "app")], None);
    r.expect_status(200);
    assert_eq!(r.json().as_array().unwrap().len(), 3);
    let task = json!({"id": "00000000-0000-4000-8000-00000000d001", "title": "t"});
    sb.service("POST", "/tasks", &[("content-profile", "app")], Some(&task))
        .expect_status(201);
    assert!(sb
        .truth("tasks")
        .contains_key("00000000-0000-4000-8000-00000000d001"));
    let r = sb.service("GET", "/tasks", &[("accept-profile", "nope")], None);
    r.expect_status(406);
    assert_eq!(r.json()["code"], "PGRST106");

    // The gateway: no key, a wrong key.
    let r = http(
        "GET",
        &format!("{}/rest/v1/notes", sb.fake.url()),
        &[],
        None,
    );
    r.expect_status(401);
    assert_eq!(r.json()["message"], "No API key found in request");
    let r = sb.call("GET", "/notes", "nope", None, &[], None);
    r.expect_status(401);
    assert_eq!(r.json()["message"], "Invalid API key");
    // PostgREST's JWT checks (v13+ codes).
    let wrong = sb.call("GET", "/notes", &sb.anon, Some("a.b.c"), &[], None);
    wrong.expect_status(401);
    assert_eq!(wrong.json()["code"], "PGRST301");
    assert!(wrong
        .header("www-authenticate")
        .unwrap()
        .starts_with("Bearer error=\"invalid_token\""));
    let expired = sb.token(json!({"role": "authenticated", "exp": 1_000_000_000}));
    let r = sb.call("GET", "/notes", &sb.anon, Some(&expired), &[], None);
    r.expect_status(401);
    assert_eq!(
        (r.json()["code"].as_str(), r.json()["message"].as_str()),
        (Some("PGRST303"), Some("JWT expired"))
    );
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer error=\"invalid_token\", error_description=\"JWT expired\"")
    );
    let forged = sb.call(
        "GET",
        "/notes",
        &sb.anon,
        Some(&format!("{}x", sb.service)),
        &[],
        None,
    );
    forged.expect_status(401);
    assert_eq!(forged.json()["code"], "PGRST301");
}

#[test]
fn late_commit_rows_carry_an_earlier_updated_at_than_rows_committed_meanwhile() {
    let sb = start(&["--table", "notes:10"]);
    let late = sb
        .fake
        .mutate_with(&json!({"late_commit": {"table": "notes", "rows": 3, "hold_ms": 600_000}}))
        ["late_commit"]
        .clone();
    let late_ids: Vec<String> = late["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let created = sb.fake.mutate_with(&json!({"create": 2}))["created"].clone();
    let truth = sb.truth("notes");
    assert_eq!(truth.len(), 12, "the held rows are not visible yet");
    assert!(late_ids.iter().all(|id| !truth.contains_key(id)));
    let meanwhile: Vec<String> = created
        .as_array()
        .unwrap()
        .iter()
        .map(|v| truth[v.as_str().unwrap()].0.clone())
        .collect();
    // A puller sees the new rows, not the held ones.
    let pulled = sb.rows("/notes?select=id&order=updated_at.desc,id.desc&limit=2");
    assert!(pulled.iter().all(|r| !late_ids.contains(&field(r, "id"))));

    let released = sb.fake.mutate_with(&json!({"release_late": true}));
    assert_eq!(released["released"], json!([late["id"]]));
    let truth = sb.truth("notes");
    assert_eq!(truth.len(), 15);
    for id in &late_ids {
        let v = &truth[id].0;
        assert_eq!(v, late["updated_at"].as_str().unwrap());
        for m in &meanwhile {
            let rows = sb.rows(&format!(
                "/notes?select=id&id=eq.{id}&updated_at=lt.{}",
                enc(m)
            ));
            assert_eq!(rows.len(), 1, "{v} is earlier than {m}");
        }
    }
    // Without a release the transaction commits by itself after hold_ms.
    let auto = sb
        .fake
        .mutate_with(&json!({"late_commit": {"rows": 1, "hold_ms": 50}}))["late_commit"]["ids"][0]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for("the late commit", Duration::from_secs(20), || {
        sb.truth("notes").contains_key(&auto)
    });
}

#[test]
fn openapi_root_describes_tables_for_the_service_role_only() {
    let sb = start(&["--table", "notes:1"]);
    let accept = [("accept", "application/openapi+json")];
    let r = sb.service("GET", "/", &accept, None);
    r.expect_status(200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/openapi+json"));
    let doc = r.json();
    assert_eq!(doc["swagger"], "2.0");
    let props = &doc["definitions"]["notes"]["properties"];
    assert_eq!(props["id"]["format"], "uuid");
    assert!(props["id"]["description"]
        .as_str()
        .unwrap()
        .contains("<pk/>"));
    assert_eq!(props["updated_at"]["format"], "timestamp with time zone");
    assert_eq!(props["done"]["format"], "boolean");
    assert!(props["title"]["description"].is_null());
    assert!(doc["paths"]["/notes"].is_object());
    let r = sb.call("GET", "/", &sb.anon, None, &accept, None);
    r.expect_status(401);
    assert_eq!(r.json()["code"], "42501");
}

/// The PostgreSQL of a fake: (postmaster pid, directory).
fn pg_of(fake: &FakeServer) -> (u32, PathBuf) {
    let pg = fake.get("/_control/pg", &[]).json();
    (
        pg["pid"].as_u64().unwrap() as u32,
        PathBuf::from(pg["dir"].as_str().unwrap()),
    )
}

/// True while `pid` is a live (not zombie) process.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

fn assert_cleaned_up(pid: u32, dir: &std::path::Path) {
    wait_for(
        "postgres to stop and its directory to go",
        Duration::from_secs(20),
        || !alive(pid) && !dir.exists(),
    );
}

#[test]
fn sigterm_stops_postgres_and_removes_its_directory() {
    let sb = start(&["--table", "notes:1"]);
    let (pid, dir) = pg_of(&sb.fake);
    assert!(alive(pid) && dir.join("data").is_dir());
    // SAFETY: signalling the fake we started.
    assert_eq!(
        unsafe { libc::kill(sb.fake.pid() as i32, libc::SIGTERM) },
        0
    );
    assert_cleaned_up(pid, &dir);
}

#[test]
fn sigkill_of_the_fake_still_stops_postgres_and_removes_its_directory() {
    let sb = start(&["--table", "notes:1"]);
    let (pid, dir) = pg_of(&sb.fake);
    assert!(alive(pid) && dir.is_dir());
    drop(sb); // FakeServer's drop is a SIGKILL.
    assert_cleaned_up(pid, &dir);
}

#[test]
fn shared_faults_and_stats_apply_to_the_rest_api() {
    let sb = start(&["--table", "notes:3"]);
    sb.fake.reset_stats();
    sb.service_get("/notes").expect_status(200);
    sb.service(
        "POST",
        "/notes",
        &[],
        Some(&json!({"id": "00000000-0000-4000-8000-00000000c001"})),
    )
    .expect_status(201);
    let stats = sb.fake.stats();
    assert_eq!(
        (stats["select"].as_u64(), stats["insert"].as_u64()),
        (Some(1), Some(1))
    );
    sb.fake.set_faults(json!({"fail_rate": 1.0}));
    for _ in 0..10 {
        let r = sb.service_get("/notes");
        assert!([500, 502, 503].contains(&r.status), "{}", r.status);
        if r.status == 503 {
            assert_eq!(r.json()["code"], "PGRST000");
        }
    }
    // Control calls are never faulted.
    assert_eq!(sb.truth("notes").len(), 4);
    sb.fake.set_faults(json!({"fail_rate": 0.0}));
    sb.service_get("/notes").expect_status(200);
    // Unknown paths and methods: PostgREST's own codes.
    let r = http("GET", &format!("{}/nowhere", sb.fake.url()), &[], None);
    r.expect_status(404);
    assert_eq!(r.json()["code"], "PGRST125");
    let r = sb.service("PUT", "/notes", &[], Some(&json!({})));
    r.expect_status(405);
    assert_eq!(r.json()["code"], "PGRST117");
}

#[test]
fn mutate_changes_distinct_rows_in_one_transaction() {
    let sb = start(&["--table", "notes:40"]);
    let before = sb.truth("notes");
    let out = sb
        .fake
        .mutate_with(&json!({"update": 5, "soft_delete": 3, "delete": 2, "create": 2}));
    let ids = |key: &str| -> BTreeSet<String> {
        out[key]
            .as_array()
            .unwrap_or_else(|| panic!("no {key} in {out}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let (updated, soft, deleted, created) = (
        ids("updated"),
        ids("soft_deleted"),
        ids("deleted"),
        ids("created"),
    );
    assert_eq!(
        (updated.len(), soft.len(), deleted.len(), created.len()),
        (5, 3, 2, 2)
    );
    let all: BTreeSet<&String> = updated.iter().chain(&soft).chain(&deleted).collect();
    assert_eq!(all.len(), 10, "each row changed once");
    let after = sb.truth("notes");
    assert_eq!(after.len(), 40);
    assert!(deleted.iter().all(|id| !after.contains_key(id)));
    // One transaction: every changed row has the same updated_at.
    let versions: BTreeSet<&String> = updated
        .iter()
        .chain(&soft)
        .chain(&created)
        .map(|id| &after[id].0)
        .collect();
    assert_eq!(versions.len(), 1);
    assert!(updated.iter().all(|id| after[id].1 != before[id].1));
    for id in &soft {
        assert_eq!(
            sb.rows(&format!("/notes?select=done&id=eq.{id}"))[0]["done"],
            true
        );
    }
}
