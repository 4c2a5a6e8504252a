//! The Confluence fake as the tests drive it: its ground truth, v2 listings
//! followed through `_links.next` (checked against the `Link` header), v1
//! CQL and offset-paged listings followed through `_links.next` (relative to
//! `_links.context`), and shape checks of answers against the vendored
//! official OpenAPI files (`tests/specs/confluence-v{1,2}.openapi.json`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::github_spec::resolve;
use super::{percent_encode as encode, FakeServer};

/// `/_control/items` of one stream: id -> entry.
pub fn truth(fake: &FakeServer, stream: &str) -> BTreeMap<String, Value> {
    fake.ground_truth_json()
        .as_array()
        .expect("array")
        .iter()
        .filter(|e| e["stream"] == stream)
        .map(|e| (e["id"].as_str().unwrap().to_owned(), e.clone()))
        .collect()
}

pub fn space_id(fake: &FakeServer, auth: &[(&str, &str)]) -> String {
    let resp = fake.get("/wiki/api/v2/spaces?keys=DOCS", auth);
    resp.expect_status(200);
    let v = resp.json();
    assert_eq!(v["results"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["results"][0]["key"], "DOCS");
    v["results"][0]["id"].as_str().unwrap().to_owned()
}

/// Follows a v2 listing from `first` through `_links.next` (appended to the
/// host, as the API says). Returns every result and the number of requests.
/// Checks the `Link` header agrees with `_links` on every page.
pub fn walk_v2(fake: &FakeServer, first: &str, auth: &[(&str, &str)]) -> (Vec<Value>, usize) {
    let mut results = Vec::new();
    let mut path = first.to_owned();
    let mut requests = 0;
    loop {
        let resp = fake.get(&path, auth);
        resp.expect_status(200);
        requests += 1;
        let v = resp.json();
        let base = format!("{}/wiki", fake.url());
        assert_eq!(v["_links"]["base"], base.as_str());
        results.extend(v["results"].as_array().expect("results").iter().cloned());
        let link = resp.header("link").expect("a Link header").to_owned();
        assert!(link.ends_with(&format!("<{base}>; rel=\"base\"")), "{link}");
        match v["_links"]["next"].as_str() {
            Some(next) => {
                assert!(next.starts_with("/wiki/api/v2/"), "{next}");
                assert_eq!(
                    link,
                    format!("<{next}>; rel=\"next\", <{base}>; rel=\"base\"")
                );
                path = next.to_owned();
            }
            None => {
                assert!(!link.contains("rel=\"next\""), "{link}");
                return (results, requests);
            }
        }
        assert!(requests < 10_000, "runaway pagination");
    }
}

/// Follows a v1 CQL search through `_links.next`, relative to
/// `_links.context`. Returns the results and the number of requests.
pub fn walk_cql(
    fake: &FakeServer,
    cql: &str,
    limit: u32,
    expand: &str,
    auth: &[(&str, &str)],
) -> (Vec<Value>, usize) {
    let first = format!(
        "/wiki/rest/api/content/search?cql={}&limit={limit}&expand={expand}",
        encode(cql)
    );
    let mut path = first;
    let mut results = Vec::new();
    let mut requests = 0;
    loop {
        let resp = fake.get(&path, auth);
        resp.expect_status(200);
        requests += 1;
        let v = resp.json();
        let page = v["results"].as_array().expect("results");
        assert_eq!(v["size"].as_u64().unwrap() as usize, page.len());
        assert_eq!(v["start"].as_u64().unwrap() as usize, results.len());
        assert!(page.len() <= limit as usize);
        results.extend(page.iter().cloned());
        assert_eq!(v["_links"]["context"], "/wiki");
        assert_eq!(v["_links"]["base"], format!("{}/wiki", fake.url()).as_str());
        match v["_links"]["next"].as_str() {
            Some(next) => {
                assert!(next.starts_with("/rest/api/content/search?"), "{next}");
                path = format!("/wiki{next}");
            }
            None => return (results, requests),
        }
        assert!(requests < 10_000, "runaway pagination");
    }
}

pub fn ids_of(results: &[Value]) -> Vec<String> {
    results
        .iter()
        .map(|r| r["id"].as_str().expect("string id").to_owned())
        .collect()
}

/// Follows a v1 offset-paged listing from `first` (a path under `/wiki`)
/// through `_links.next`, relative to `_links.context`. Checks `start`,
/// `limit`, `size` and the links on every page; returns the results and
/// the number of requests.
pub fn walk_v1(fake: &FakeServer, first: &str) -> (Vec<Value>, usize) {
    let mut results = Vec::new();
    let mut path = first.to_owned();
    let mut requests = 0;
    loop {
        let resp = fake.get(&path, &[]);
        resp.expect_status(200);
        requests += 1;
        let v = resp.json();
        let page = v["results"].as_array().expect("results");
        assert_eq!(v["size"].as_u64().unwrap() as usize, page.len(), "{path}");
        assert_eq!(
            v["start"].as_u64().unwrap() as usize,
            results.len(),
            "{path}"
        );
        let limit = v["limit"].as_u64().unwrap() as usize;
        assert!(page.len() <= limit, "{path}");
        assert_eq!(v["_links"]["context"], "/wiki");
        assert_eq!(v["_links"]["base"], format!("{}/wiki", fake.url()).as_str());
        assert_eq!(
            v["_links"].get("prev").is_some(),
            !results.is_empty(),
            "{path}"
        );
        results.extend(page.iter().cloned());
        match v["_links"]["next"].as_str() {
            Some(next) => {
                assert_eq!(page.len(), limit, "a page before the last is full");
                assert!(next.starts_with("/rest/api/"), "{next}");
                path = format!("/wiki{next}");
            }
            None => return (results, requests),
        }
        assert!(requests < 10_000, "runaway pagination");
    }
}

/// The vendored official v2 description.
pub fn v2_spec() -> Value {
    serde_json::from_str(include_str!("../../specs/confluence-v2.openapi.json"))
        .expect("the v2 description is JSON")
}

/// The vendored official v1 description.
pub fn v1_spec() -> Value {
    serde_json::from_str(include_str!("../../specs/confluence-v1.openapi.json"))
        .expect("the v1 description is JSON")
}

/// The properties a schema declares (through `allOf` too; a property
/// declared twice must fit both).
fn properties(spec: &Value, schema: &Value, out: &mut BTreeMap<String, Value>) {
    let schema = resolve(spec, schema);
    if let Some(props) = schema["properties"].as_object() {
        for (k, v) in props {
            let merged = match out.remove(k) {
                None => v.clone(),
                Some(prev) => serde_json::json!({"allOf": [prev, v]}),
            };
            out.insert(k.clone(), merged);
        }
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        properties(spec, part, out);
    }
}

/// Checks `v` against schema `schema` of `spec`: every field of an object
/// is declared (except the `extra` names, which real answers carry beyond
/// the spec) and has the declared JSON type, recursively. Nullable fields
/// and free-form values (no type) pass. Panics naming the path.
#[track_caller]
pub fn check_shape(spec: &Value, schema: &Value, v: &Value, at: &str, extra: &[&str]) {
    if let Err(e) = shape(spec, schema, v, at, extra) {
        panic!("{e}");
    }
}

fn shape(spec: &Value, schema: &Value, v: &Value, at: &str, extra: &[&str]) -> Result<(), String> {
    let schema = resolve(spec, schema);
    if v.is_null() {
        return Ok(());
    }
    if let Some(any) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
        return match any.iter().any(|alt| shape(spec, alt, v, at, extra).is_ok()) {
            true => Ok(()),
            false => Err(format!("{at}: {v} fits no alternative")),
        };
    }
    let mut props = BTreeMap::new();
    properties(spec, schema, &mut props);
    let implied = if props.is_empty() {
        None
    } else {
        Some("object")
    };
    let fail = |what: &str| Err(format!("{at}: not {what}: {v}"));
    match schema["type"].as_str().or(implied) {
        Some("object") => {
            let Some(obj) = v.as_object() else {
                return fail("an object");
            };
            for (k, val) in obj.iter().filter(|_| !props.is_empty()) {
                match props.get(k) {
                    Some(p) => shape(spec, p, val, &format!("{at}.{k}"), extra)?,
                    None if extra.contains(&k.as_str()) => {}
                    None => return Err(format!("{at}.{k} is not in the spec")),
                }
            }
            Ok(())
        }
        Some("array") => {
            let Some(arr) = v.as_array() else {
                return fail("an array");
            };
            for (i, item) in arr.iter().enumerate() {
                shape(spec, &schema["items"], item, &format!("{at}[{i}]"), extra)?;
            }
            Ok(())
        }
        Some("string") if !v.is_string() => fail("a string"),
        Some("string") => match schema["enum"].as_array() {
            Some(values) if !values.contains(v) => {
                Err(format!("{at}: {v} is not one of {values:?}"))
            }
            _ => Ok(()),
        },
        Some("integer") if !(v.is_i64() || v.is_u64()) => fail("an integer"),
        Some("number") if !v.is_number() => fail("a number"),
        Some("boolean") if !v.is_boolean() => fail("a boolean"),
        _ => Ok(()),
    }
}

/// The schema of the 200 answer of `GET path` in `spec`.
pub fn ok_schema<'a>(spec: &'a Value, path: &str) -> &'a Value {
    let op = &spec["paths"][path]["get"];
    assert!(op.is_object(), "no GET {path} in the spec");
    resolve(
        spec,
        &op["responses"]["200"]["content"]["application/json"]["schema"],
    )
}
