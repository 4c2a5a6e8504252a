//! GitHub's REST operations as the tests check requests against them: the
//! vendored cut of the official description
//! (`tests/specs/github-rest-subset.openapi.json`) plus the operations of the
//! official description the cut lacks (`tests/specs/README.md`).

use serde_json::Value;

/// The operations of the official description beyond the vendored subset
/// (`tests/specs/github-extra-operations.json`, shared with the plugin's
/// unit tests), in order (the first operation matching a path wins), as
/// (method, path): those the fake serves (`served_by_fake`), or the others
/// (operations only the `github` plugin uses; the fake has no review
/// comments).
pub fn official_extra(served_by_fake: bool) -> Vec<(String, String)> {
    let ops: Vec<Value> =
        serde_json::from_str(include_str!("../../specs/github-extra-operations.json"))
            .expect("the extra operations are JSON");
    ops.iter()
        .filter(|op| op["served_by_fake"] == served_by_fake)
        .map(|op| {
            let text = |name: &str| op[name].as_str().expect("a string").to_owned();
            (text("method"), text("path"))
        })
        .collect()
}

/// The vendored subset.
pub fn subset() -> Value {
    serde_json::from_str(include_str!("../../specs/github-rest-subset.openapi.json"))
        .expect("the subset is JSON")
}

/// One operation: method (upper case), path template, and the names of its
/// query parameters (`None`: not vendored, so unchecked).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Operation {
    pub method: String,
    pub path: String,
    pub query: Option<Vec<String>>,
}

/// Follows a `$ref` of the description.
pub fn resolve<'a>(spec: &'a Value, mut v: &'a Value) -> &'a Value {
    while let Some(r) = v.get("$ref").and_then(Value::as_str) {
        let Some(pointer) = r.strip_prefix('#') else {
            break;
        };
        v = spec
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{r} unresolved"));
    }
    v
}

/// The subset's operations with their query parameters, then `extra`
/// (query unchecked).
pub fn operations(extra: &[(String, String)]) -> Vec<Operation> {
    let spec = subset();
    let mut ops = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        let shared = item.get("parameters").and_then(Value::as_array);
        for (method, op) in item
            .as_object()
            .expect("a path item")
            .iter()
            .filter(|(m, _)| ["get", "put", "post", "patch", "delete"].contains(&m.as_str()))
        {
            let own = op.get("parameters").and_then(Value::as_array);
            let query = shared
                .into_iter()
                .chain(own)
                .flatten()
                .map(|p| resolve(&spec, p))
                .filter(|p| p["in"] == "query")
                .map(|p| p["name"].as_str().expect("a parameter name").to_owned())
                .collect();
            ops.push(Operation {
                method: method.to_uppercase(),
                path: path.clone(),
                query: Some(query),
            });
        }
    }
    ops.extend(extra.iter().map(|(m, p)| Operation {
        method: m.clone(),
        path: p.clone(),
        query: None,
    }));
    ops
}

/// True when `segment` matches a template segment such as `{base}...{head}`.
pub fn segment_matches(template: &str, segment: &str) -> bool {
    let literals: Vec<&str> = template
        .split('{')
        .map(|p| p.split_once('}').map_or(p, |(_, rest)| rest))
        .collect();
    if literals.len() == 1 {
        return template == segment;
    }
    let mut rest = segment;
    for (i, lit) in literals.iter().enumerate() {
        match (i, rest.find(lit)) {
            (0, Some(0)) => rest = &rest[lit.len()..],
            (0, _) => return false,
            (_, Some(at)) if at > 0 || lit.is_empty() => rest = &rest[at + lit.len()..],
            _ => return false,
        }
    }
    rest.is_empty() || literals.last() == Some(&"")
}

/// `path` against `template`; `{path}` or `{ref}` ending the template takes
/// the rest, slashes included.
pub fn path_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    let tail = t.last().is_some_and(|s| *s == "{path}" || *s == "{ref}");
    if p.len() < t.len() || (p.len() > t.len() && !tail) {
        return false;
    }
    t.iter().zip(&p).all(|(t, p)| segment_matches(t, p))
}

/// The operation `method path?query` is, or why it is none: an unknown
/// method and path, or a query parameter the operation does not take.
/// `/repositories/{repository_id}/…` (where GitHub's `Link` headers point)
/// is read as `/repos/{owner}/{repo}/…`.
pub fn check<'a>(
    ops: &'a [Operation],
    method: &str,
    path: &str,
    query: &str,
) -> Result<&'a Operation, String> {
    let path = match path
        .strip_prefix("/repositories/")
        .and_then(|rest| rest.split_once('/').map(|(_, tail)| tail).or(Some("")))
    {
        Some("") => "/repos/o/r".to_owned(),
        Some(tail) => format!("/repos/o/r/{tail}"),
        None => path.to_owned(),
    };
    let op = ops
        .iter()
        .find(|o| o.method == method && path_matches(&o.path, &path))
        .ok_or_else(|| format!("{method} {path} is no operation of the description"))?;
    if let Some(allowed) = &op.query {
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let name = pair.split_once('=').map_or(pair, |(k, _)| k);
            if !allowed.iter().any(|a| a == name) {
                return Err(format!(
                    "{method} {path}?{query}: `{name}` is no query parameter of {} {} ({allowed:?})",
                    op.method, op.path
                ));
            }
        }
    }
    Ok(op)
}
