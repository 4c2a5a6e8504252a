//! The Confluence fake as the tests drive it: its ground truth, v2 listings
//! followed through `_links.next` (checked against the `Link` header), v1
//! CQL and offset-paged listings followed through `_links.next` (relative to
//! `_links.context`), and shape checks of answers against the vendored
//! official OpenAPI files (`tests/specs/confluence-v{1,2}.openapi.json`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use sha2::{Digest as _, Sha256};

use super::github_spec::resolve;
use super::{http, percent_encode as encode, FakeServer, HttpResponse};

/// sha256 in hex, as `/_control/items` gives it.
pub fn sha_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `method path` on the fake with a JSON body.
pub fn send(fake: &FakeServer, method: &str, path: &str, body: Option<&Value>) -> HttpResponse {
    let body = body.map(Value::to_string);
    http(
        method,
        &format!("{}{path}", fake.url()),
        &[],
        body.as_deref(),
    )
}

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

/// The pages and folders below `top` (through pages and folders), by the
/// `parent_id` of the ground truth's `pages` and `folders`.
pub fn descendants(
    pages: &BTreeMap<String, Value>,
    folders: &BTreeMap<String, Value>,
    top: &str,
) -> BTreeSet<String> {
    let parent_of = |id: &str| -> Option<String> {
        pages
            .get(id)
            .or_else(|| folders.get(id))
            .and_then(|e| e["parent_id"].as_str().map(str::to_owned))
    };
    pages
        .keys()
        .chain(folders.keys())
        .filter(|id| {
            let mut cur = parent_of(id);
            while let Some(p) = cur {
                if p == top {
                    return true;
                }
                cur = parent_of(&p);
            }
            false
        })
        .cloned()
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

/// The parameters (path-level and operation-level, `$ref`s followed) of
/// the operation of `spec` that `method path` is (`path` relative to the
/// description's base), preferring the template with the most literal
/// segments.
fn operation<'a>(spec: &'a Value, method: &str, path: &str) -> Option<Vec<&'a Value>> {
    let (_, item) = spec["paths"]
        .as_object()?
        .iter()
        .filter(|(t, item)| {
            item.get(method.to_lowercase()).is_some() && super::github_spec::path_matches(t, path)
        })
        .max_by_key(|(t, _)| t.split('/').filter(|s| !s.contains('{')).count())?;
    let op = &item[method.to_lowercase()];
    Some(
        item["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(op["parameters"].as_array().into_iter().flatten())
            .map(|p| resolve(spec, p))
            .collect(),
    )
}

/// Checks every API request the fake logged against the official
/// descriptions: v2 (`/wiki/api/v2/...`) and v1 (`/wiki/rest/api/...`)
/// requests must be an operation the description declares, with only query
/// parameters it declares (and `next`, `start`, which the real
/// `_links.next` of `GET /wiki/rest/api/content/search` carries beyond its
/// description). Returns how many requests were checked.
pub fn check_requests(fake: &FakeServer) -> usize {
    check_requests_beyond(fake, &[])
}

/// [`check_requests`], also letting through the query parameters `beyond`
/// names as `(path suffix, name)`: what a real client sends beyond the
/// description and the real API ignores (atlassian-python-api's
/// `get_page_comments` repeats the content id as `?id=`).
pub fn check_requests_beyond(fake: &FakeServer, beyond: &[(&str, &str)]) -> usize {
    let (v1, v2) = (v1_spec(), v2_spec());
    let log = fake.control_get("/_control/requests");
    let mut checked = 0;
    for r in log.as_array().expect("the request log") {
        let method = r["method"].as_str().expect("method");
        let path = r["path"].as_str().expect("path");
        let (spec, rel) = if let Some(rel) = path.strip_prefix("/wiki/api/v2") {
            (&v2, rel.to_owned())
        } else if path.starts_with("/wiki/rest/api") {
            (&v1, path.to_owned())
        } else {
            continue;
        };
        let params = operation(spec, method, &rel)
            .unwrap_or_else(|| panic!("{method} {path} is no operation of the description"));
        let query = r["query"].as_str().unwrap_or("");
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let name = pair.split_once('=').map_or(pair, |(k, _)| k);
            let name = name.trim_end_matches("%5B%5D").trim_end_matches("[]");
            if path == "/wiki/rest/api/content/search" && ["next", "start"].contains(&name) {
                continue;
            }
            if beyond
                .iter()
                .any(|(suffix, extra)| path.ends_with(suffix) && name == *extra)
            {
                continue;
            }
            assert!(
                params
                    .iter()
                    .any(|p| p["in"] == "query" && p["name"] == name),
                "{method} {path}: the description has no query parameter {name:?}"
            );
        }
        checked += 1;
    }
    checked
}
