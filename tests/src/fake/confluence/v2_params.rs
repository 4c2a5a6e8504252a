//! v2 request parameters (`limit`, `body-format`, `sort`, `cursor`, ids,
//! `status`) with the API's 400 answers, and the keyset selection of list
//! pages: the cursor holds the sort key and id of the last result served.

// Errors are finished HTTP answers handed straight back to axum.
#![allow(clippy::result_large_err)]

use std::ops::Bound::{Excluded, Unbounded};

use axum::response::Response;

use super::cursor::{Key, V2Cursor};
use super::data::{Data, Kind, Meta, Node};
use super::search::ids_after;
use super::{v2_bad_param, Params};

pub const MAX_LIMIT: i64 = 250;

/// `limit`: `default` when absent, 1..=250.
pub fn parse_limit(p: &Params, default: usize) -> Result<usize, Response> {
    let Some(raw) = p.get("limit") else {
        return Ok(default);
    };
    let n: i64 = raw.trim().parse().map_err(|_| {
        v2_bad_param(format!(
            "Failed to convert value of type 'java.lang.String' to required type 'java.lang.Integer'; For input string: \"{raw}\""
        ))
    })?;
    if n > MAX_LIMIT {
        return Err(v2_bad_param(format!(
            "Provided size {{{n}}} for 'limit' is greater than the max allowed: {MAX_LIMIT}"
        )));
    }
    if n < 1 {
        return Err(v2_bad_param(format!(
            "Provided size {{{n}}} for 'limit' is less than the min allowed: 1"
        )));
    }
    Ok(n as usize)
}

/// A body representation asked for with `body-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Storage,
    AtlasDoc,
    /// `view`, `export_view`, `anonymous_export_view`, `styled_view`.
    View(&'static str),
    Editor,
}

/// `body-format`: `storage` or `atlas_doc_format`, and on single pages also
/// the rendered ones.
pub fn parse_body_format(p: &Params, single: bool) -> Result<Option<BodyFormat>, Response> {
    let Some(v) = p.get("body-format") else {
        return Ok(None);
    };
    let f = match v.to_ascii_lowercase().as_str() {
        "storage" => BodyFormat::Storage,
        "atlas_doc_format" => BodyFormat::AtlasDoc,
        "view" if single => BodyFormat::View("view"),
        "export_view" if single => BodyFormat::View("export_view"),
        "anonymous_export_view" if single => BodyFormat::View("anonymous_export_view"),
        "styled_view" if single => BodyFormat::View("styled_view"),
        "editor" if single => BodyFormat::Editor,
        _ => {
            return Err(v2_bad_param(format!(
                "Failed to convert value '{v}' for parameter 'body-format'"
            )))
        }
    };
    Ok(Some(f))
}

/// The sort orders of page lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Id,
    Created,
    Modified,
    Title,
    Position,
}

#[derive(Debug, Clone, Copy)]
pub struct Sort {
    pub field: Field,
    pub desc: bool,
    pub name: &'static str,
}

/// `sort` among `allowed` (names without the `-`), `default` when absent.
pub fn parse_sort(
    p: &Params,
    allowed: &[&'static str],
    default: &'static str,
) -> Result<Sort, Response> {
    let raw = p.get("sort").unwrap_or(default);
    let (desc, bare) = match raw.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, raw),
    };
    let Some(&name) = allowed.iter().find(|a| **a == bare) else {
        return Err(v2_bad_param(format!(
            "Invalid value '{raw}' for parameter 'sort'"
        )));
    };
    let field = match name {
        "id" => Field::Id,
        "created-date" => Field::Created,
        "modified-date" => Field::Modified,
        // Label names and property keys sort like titles (strings).
        "title" | "name" | "key" => Field::Title,
        _ => Field::Position,
    };
    let name: &'static str = match (desc, name) {
        (false, n) => n,
        (true, "id") => "-id",
        (true, "created-date") => "-created-date",
        (true, "modified-date") => "-modified-date",
        (true, "title") => "-title",
        (true, "name") => "-name",
        (true, "key") => "-key",
        (true, _) => "-child-position",
    };
    Ok(Sort { field, desc, name })
}

/// `cursor`, which must come from a listing with the same sort.
pub fn parse_cursor(p: &Params, sort: &Sort) -> Result<Option<(Key, u64)>, Response> {
    let Some(raw) = p.get("cursor") else {
        return Ok(None);
    };
    let invalid = || v2_bad_param(format!("Invalid cursor: {raw}"));
    let c = V2Cursor::decode(raw).ok_or_else(invalid)?;
    let key_ok = matches!(
        (sort.field, &c.value),
        (Field::Title, Key::Str(_))
            | (
                Field::Id | Field::Created | Field::Modified | Field::Position,
                Key::Num(_)
            )
    );
    if c.order != sort.name || !key_ok {
        return Err(invalid());
    }
    Ok(Some((c.value, c.id)))
}

/// Numeric path or query id.
pub fn parse_id(raw: &str, what: &str) -> Result<u64, Response> {
    raw.trim().parse().map_err(|_| {
        v2_bad_param(format!(
            "Failed to convert value of type 'java.lang.String' to required type 'long' for {what}; For input string: \"{raw}\""
        ))
    })
}

/// A list of ids (`id=1,2&id=3`) of at most `max`, sorted and deduplicated;
/// `None` when absent.
pub fn parse_id_list(p: &Params, name: &str, max: usize) -> Result<Option<Vec<u64>>, Response> {
    let Some(list) = p.list(name) else {
        return Ok(None);
    };
    if list.len() > max {
        return Err(v2_bad_param(format!(
            "Provided size {{{}}} for '{name}' is greater than the max allowed: {max}",
            list.len()
        )));
    }
    let mut ids = Vec::with_capacity(list.len());
    for s in &list {
        ids.push(parse_id(s, name)?);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(Some(ids))
}

/// `status`: values from `allowed`; true when `current` content is asked for
/// (everything this fake has is current).
pub fn wants_current(
    p: &Params,
    allowed: &[&str],
    default_current: bool,
) -> Result<bool, Response> {
    match p.list("status") {
        None => Ok(default_current),
        Some(values) => {
            for v in &values {
                if !allowed.contains(&v.as_str()) {
                    return Err(v2_bad_param(format!(
                        "Invalid value '{v}' for parameter 'status'"
                    )));
                }
            }
            Ok(values.iter().any(|v| v == "current"))
        }
    }
}

/// Sorts `(key, id)` pairs and takes the page after `after`: the ids and the
/// position of the last one if more follow.
pub fn paginate(
    mut items: Vec<(Key, u64)>,
    desc: bool,
    after: Option<&(Key, u64)>,
    limit: usize,
) -> (Vec<u64>, Option<(Key, u64)>) {
    items.sort_unstable();
    if desc {
        items.reverse();
    }
    let start = match after {
        None => 0,
        Some(a) if desc => items.partition_point(|x| x >= a),
        Some(a) => items.partition_point(|x| x <= a),
    };
    let rest = &items[start..];
    let page = &rest[..rest.len().min(limit)];
    let next = (rest.len() > limit).then(|| page.last().cloned()).flatten();
    (page.iter().map(|(_, id)| *id).collect(), next)
}

pub fn node_key(field: Field, id: u64, n: &Node) -> Key {
    match field {
        Field::Id => Key::Num(id as i64),
        Field::Created => Key::Num(n.meta.created),
        Field::Modified => Key::Num(n.meta.modified),
        Field::Title => Key::Str(n.meta.title.clone()),
        Field::Position => Key::Num(n.position),
    }
}

pub fn meta_key(field: Field, id: u64, m: &Meta) -> Key {
    match field {
        Field::Created => Key::Num(m.created),
        Field::Modified => Key::Num(m.modified),
        Field::Title => Key::Str(m.title.clone()),
        Field::Id | Field::Position => Key::Num(id as i64),
    }
}

/// Content of `kind` in `sort` order after `after`, kept by `keep`: from
/// `candidates` when given (small sets), else straight from the indexes
/// (title order: pages only).
pub fn select(
    data: &Data,
    kind: Kind,
    sort: &Sort,
    after: Option<&(Key, u64)>,
    candidates: Option<Vec<u64>>,
    keep: &dyn Fn(u64) -> bool,
    limit: usize,
) -> (Vec<u64>, Option<(Key, u64)>) {
    let key = |id: u64| data.meta(kind, id).map(|m| meta_key(sort.field, id, m));
    if let Some(ids) = candidates {
        let items = ids
            .into_iter()
            .filter(|id| keep(*id))
            .filter_map(|id| Some((key(id)?, id)))
            .collect();
        return paginate(items, sort.desc, after, limit);
    }
    let after_id = after.map(|(_, id)| *id);
    let ids: Box<dyn Iterator<Item = u64> + '_> = match (sort.field, sort.desc) {
        // Creation order is id order.
        (Field::Id | Field::Created | Field::Position, desc) => {
            ids_after(data, kind, after_id, desc)
        }
        (Field::Modified, desc) => {
            let bound = after.and_then(|(k, id)| match k {
                Key::Num(ms) => Some((*ms, *id)),
                Key::Str(_) => None,
            });
            let set = &data.modified[kind as usize];
            if desc {
                Box::new(
                    set.range((Unbounded, bound.map_or(Unbounded, Excluded)))
                        .rev()
                        .map(|(_, id)| *id),
                )
            } else {
                Box::new(
                    set.range((bound.map_or(Unbounded, Excluded), Unbounded))
                        .map(|(_, id)| *id),
                )
            }
        }
        (Field::Title, desc) => {
            let bound = after.and_then(|(k, id)| match k {
                Key::Str(t) => Some((t.clone(), *id)),
                Key::Num(_) => None,
            });
            if desc {
                Box::new(
                    data.titles
                        .range((Unbounded, bound.map_or(Unbounded, Excluded)))
                        .rev()
                        .map(|(_, id)| *id),
                )
            } else {
                Box::new(
                    data.titles
                        .range((bound.map_or(Unbounded, Excluded), Unbounded))
                        .map(|(_, id)| *id),
                )
            }
        }
    };
    let mut page: Vec<u64> = ids
        .filter(|id| data.meta(kind, *id).is_some() && keep(*id))
        .take(limit + 1)
        .collect();
    let more = page.len() > limit;
    page.truncate(limit);
    let next = if more {
        page.last().and_then(|id| Some((key(*id)?, *id)))
    } else {
        None
    };
    (page, next)
}

pub fn next_cursor(sort_name: &str, next: Option<(Key, u64)>) -> Option<String> {
    next.map(|(value, id)| {
        V2Cursor {
            id,
            order: sort_name.to_owned(),
            value,
        }
        .encode()
    })
}

pub const PAGE_SORTS: &[&str] = &["id", "created-date", "modified-date", "title"];

pub const PAGE_STATUS: &[&str] = &["current", "archived", "deleted", "trashed"];

pub const DATE_SORTS: &[&str] = &["created-date", "modified-date"];

pub const BLOGPOST_SORTS: &[&str] = &["id", "created-date", "modified-date"];

pub const BLOGPOST_STATUS: &[&str] = &["current", "deleted", "trashed"];

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use serde_json::{json, Value};

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    async fn body(resp: Response) -> (StatusCode, Value) {
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn limit_rules() {
        assert_eq!(parse_limit(&params(&[]), 25).unwrap(), 25);
        assert_eq!(parse_limit(&params(&[("limit", "250")]), 25).unwrap(), 250);
        let (status, v) = body(parse_limit(&params(&[("limit", "251")]), 25).unwrap_err()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            v,
            json!({"errors":[{"status":400,"code":"INVALID_REQUEST_PARAMETER","title":"Provided size {251} for 'limit' is greater than the max allowed: 250","detail":null}]})
        );
        assert!(parse_limit(&params(&[("limit", "0")]), 25).is_err());
        assert!(parse_limit(&params(&[("limit", "x")]), 25).is_err());
    }

    #[test]
    fn paginate_keyset() {
        let items: Vec<(Key, u64)> = (1..=10).map(|i| (Key::Num(i % 3), i as u64)).collect();
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let (ids, next) = paginate(items.clone(), false, after.as_ref(), 4);
            seen.extend(ids);
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, vec![3, 6, 9, 1, 4, 7, 10, 2, 5, 8]);
        let (ids, next) = paginate(items.clone(), true, None, 10);
        assert_eq!(ids, vec![8, 5, 2, 10, 7, 4, 1, 9, 6, 3]);
        assert!(next.is_none());
        let (ids, _) = paginate(items, true, Some(&(Key::Num(1), 4)), 2);
        assert_eq!(ids, vec![1, 9]);
    }

    #[test]
    fn sorts_and_cursors() {
        let s = parse_sort(&params(&[("sort", "-modified-date")]), PAGE_SORTS, "id").unwrap();
        assert_eq!(
            (s.field, s.desc, s.name),
            (Field::Modified, true, "-modified-date")
        );
        assert!(parse_sort(&params(&[("sort", "colour")]), PAGE_SORTS, "id").is_err());
        let c = V2Cursor {
            id: 7,
            order: "-modified-date".into(),
            value: Key::Num(5),
        }
        .encode();
        let got = parse_cursor(&params(&[("cursor", &c)]), &s).unwrap();
        assert_eq!(got, Some((Key::Num(5), 7)));
        let by_id = parse_sort(&params(&[]), PAGE_SORTS, "id").unwrap();
        assert!(parse_cursor(&params(&[("cursor", &c)]), &by_id).is_err());
        let by_title = parse_sort(&params(&[("sort", "title")]), PAGE_SORTS, "id").unwrap();
        let t = V2Cursor {
            id: 7,
            order: "title".into(),
            value: Key::Num(5),
        }
        .encode();
        assert!(
            parse_cursor(&params(&[("cursor", &t)]), &by_title).is_err(),
            "a title cursor holds a string"
        );
    }
}
