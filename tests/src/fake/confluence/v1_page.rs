//! v1 offset paging (`start`, `limit`): the answer `{results, start, limit,
//! size, _links {base, context, self, next?, prev?}}`, with `_links.next`
//! only when more results follow, relative to `_links.context` (`/wiki`)
//! and repeating the caller's other parameters, as the real v1 API does.
//! `limit` above the endpoint's cap is lowered to it (the spec's "may be
//! restricted by fixed system limits"); a negative or non-numeric `start` or
//! `limit` is a 400.

// Errors are finished HTTP answers handed straight back to axum.
#![allow(clippy::result_large_err)]

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::cursor::encode_query_value;
use super::{v1_error, Params};

/// A window of a v1 list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offset {
    pub start: usize,
    pub limit: usize,
}

fn number(p: &Params, name: &str) -> Result<Option<usize>, Response> {
    match p.get(name) {
        None => Ok(None),
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if n >= 0 => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
            _ => Err(v1_error(
                StatusCode::BAD_REQUEST,
                format!("Invalid value for '{name}': {v}"),
            )),
        },
    }
}

impl Offset {
    /// `start` (default 0) and `limit` (`default`, at most `cap`, at least 1).
    pub fn parse(p: &Params, default: usize, cap: usize) -> Result<Offset, Response> {
        let start = number(p, "start")?.unwrap_or(0);
        let limit = number(p, "limit")?.unwrap_or(default).clamp(1, cap);
        Ok(Offset { start, limit })
    }

    /// This window of `all`, and whether more follow.
    pub fn cut<T>(&self, all: Vec<T>) -> (Vec<T>, bool) {
        let more = all.len() > self.start.saturating_add(self.limit);
        let window = all.into_iter().skip(self.start).take(self.limit).collect();
        (window, more)
    }
}

/// The answer for the window `page` of the whole list `all`.
pub fn offset_page(
    base: &str,
    path: &str,
    p: Option<&Params>,
    all: Vec<Value>,
    page: Offset,
) -> Value {
    let (results, more) = page.cut(all);
    offset_window(base, path, p, page, results, more)
}

/// The answer for `results`, the window `page` of a list (`more`: results
/// follow). `path` is relative to the context (`/rest/api/...`); `p`, the
/// caller's parameters, repeated in the links.
pub fn offset_window(
    base: &str,
    path: &str,
    p: Option<&Params>,
    page: Offset,
    results: Vec<Value>,
    more: bool,
) -> Value {
    let others: Vec<String> = p
        .map(|p| {
            p.0.iter()
                .filter(|(k, _)| k != "start" && k != "limit")
                .map(|(k, v)| format!("{}={}", encode_query_value(k), encode_query_value(v)))
                .collect()
        })
        .unwrap_or_default();
    let link = |start: usize| {
        let mut parts = others.clone();
        parts.push(format!("limit={}", page.limit));
        parts.push(format!("start={start}"));
        format!("{path}?{}", parts.join("&"))
    };
    let mut links = Map::new();
    links.insert("base".into(), base.into());
    links.insert("context".into(), "/wiki".into());
    let self_query = if others.is_empty() {
        String::new()
    } else {
        format!("?{}", others.join("&"))
    };
    links.insert("self".into(), format!("{base}{path}{self_query}").into());
    if more {
        links.insert("next".into(), link(page.start + page.limit).into());
    }
    if page.start > 0 {
        links.insert(
            "prev".into(),
            link(page.start.saturating_sub(page.limit)).into(),
        );
    }
    let size = results.len();
    json!({
        "results": results,
        "start": page.start,
        "limit": page.limit,
        "size": size,
        "_links": links,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn windows_and_links() {
        let p = params(&[("spaceKey", "DOCS"), ("limit", "2"), ("expand", "a,b")]);
        let page = Offset::parse(&p, 25, 200).unwrap();
        assert_eq!(page, Offset { start: 0, limit: 2 });
        let all: Vec<Value> = (0..5).map(|i| json!(i)).collect();
        let v = offset_page(
            "http://h/wiki",
            "/rest/api/content",
            Some(&p),
            all.clone(),
            page,
        );
        assert_eq!(v["results"], json!([0, 1]));
        assert_eq!(v["size"], 2);
        assert_eq!(
            v["_links"]["next"],
            "/rest/api/content?spaceKey=DOCS&expand=a%2Cb&limit=2&start=2"
        );
        assert!(v["_links"].get("prev").is_none());
        let last = Offset { start: 4, limit: 2 };
        let v = offset_page("http://h/wiki", "/rest/api/content", Some(&p), all, last);
        assert_eq!(v["results"], json!([4]));
        assert!(v["_links"].get("next").is_none());
        assert_eq!(
            v["_links"]["prev"],
            "/rest/api/content?spaceKey=DOCS&expand=a%2Cb&limit=2&start=2"
        );
        // Clamped to the cap; negative or junk: 400.
        let big = Offset::parse(&params(&[("limit", "5000")]), 25, 200).unwrap();
        assert_eq!(big.limit, 200);
        assert!(Offset::parse(&params(&[("start", "-1")]), 25, 200).is_err());
        assert!(Offset::parse(&params(&[("limit", "x")]), 25, 200).is_err());
    }
}
