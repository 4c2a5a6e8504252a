//! The CQL search engine behind `/wiki/rest/api/content/search` and
//! `/wiki/rest/api/search`: which content a parsed query selects, in which
//! order, one keyset page at a time.
//!
//! `limit` defaults to 25 and is silently capped at 200, at 50 when a
//! `body.*` expansion is asked for, and at 25 with `body.export_view` or
//! `body.styled_view` (Confluence's documented server-side limits for CQL
//! search). Without `ORDER BY` results come newest change first
//! (`lastmodified DESC`). Pagination is keyset on (sort value, id), so
//! content changed during a listing moves rather than shifting the others.

use std::ops::Bound::{self, Excluded, Included, Unbounded};

use super::cql::{OrderField, Query as Cql};
use super::data::{Data, Kind, Ms};
use super::Params;

/// Caps of `limit`: in general, with a `body.*` expansion, with
/// `body.export_view` or `body.styled_view`.
pub const MAX_LIMIT: usize = 200;
pub const MAX_LIMIT_WITH_BODY: usize = 50;
pub const MAX_LIMIT_WITH_EXPORT_VIEW: usize = 25;
pub const DEFAULT_LIMIT: usize = 25;

/// The `body.*` representations [`Expand::views`] holds.
pub const VIEWS: [&str; 6] = [
    "view",
    "export_view",
    "styled_view",
    "anonymous_export_view",
    "editor",
    "editor2",
];

/// The expansions this fake renders.
#[derive(Debug, Default, Clone)]
pub struct Expand {
    /// `metadata.labels`.
    pub labels: bool,
    /// `metadata.properties` (all, as a list) and `metadata.properties.KEY`.
    pub properties: bool,
    pub property_keys: Vec<String>,
    /// `restrictions.{read,update}.restrictions.{user,group}`: per
    /// operation (read, update) the users and the groups.
    pub restrictions: [[bool; 2]; 2],
    /// `extensions.inlineProperties`, `extensions.resolution` (inline comments).
    pub inline_properties: bool,
    pub resolution: bool,
    pub version: bool,
    pub container: bool,
    /// `container.ancestors`: the container with its ancestors.
    pub container_ancestors: bool,
    pub space: bool,
    pub history: bool,
    pub ancestors: bool,
    pub storage: bool,
    pub adf: bool,
    /// The other `body.*` representations asked for, in order: the
    /// rendered views (`view`, `export_view`, `styled_view`,
    /// `anonymous_export_view`) and the editor formats (`editor`,
    /// `editor2`), all in one answer as the real API gives them.
    pub views: Vec<&'static str>,
    /// Any `body.*` expansion (lowers the limit cap).
    pub any_body: bool,
    /// `body.export_view` or `body.styled_view` (lowers it more).
    pub export_view: bool,
}

impl Expand {
    /// `expand=a,b&expand=c`; unknown expansions are ignored.
    pub fn parse(p: &Params) -> Expand {
        let mut e = Expand::default();
        for x in p.list("expand").unwrap_or_default() {
            // `body.storage.value` (as atlassian-python-api asks) is `body.storage`.
            let x = x.strip_suffix(".value").unwrap_or(&x).to_owned();
            match x.as_str() {
                "version" => e.version = true,
                "container" => e.container = true,
                "container.ancestors" => {
                    e.container = true;
                    e.container_ancestors = true;
                }
                "space" => e.space = true,
                h if h == "history" || h.starts_with("history.") => e.history = true,
                "ancestors" => e.ancestors = true,
                "body.storage" => e.storage = true,
                "body.atlas_doc_format" => e.adf = true,
                b if b.starts_with("body.") && VIEWS.contains(&&b[5..]) => {
                    let name = VIEWS.iter().find(|v| **v == &b[5..]).expect("listed");
                    if !e.views.contains(name) {
                        e.views.push(name);
                    }
                }
                "metadata.labels" => e.labels = true,
                "metadata.properties" => e.properties = true,
                "extensions.inlineProperties" => e.inline_properties = true,
                "extensions.resolution" => e.resolution = true,
                other => {
                    if let Some(key) = other.strip_prefix("metadata.properties.") {
                        e.property_keys.push(key.to_owned());
                    }
                    let parts: Vec<&str> = other.split('.').collect();
                    if let ["restrictions", op, "restrictions", who] = parts.as_slice() {
                        let o = match *op {
                            "read" => 0,
                            "update" => 1,
                            _ => 2,
                        };
                        let w = match *who {
                            "user" => 0,
                            "group" => 1,
                            _ => 2,
                        };
                        if o < 2 && w < 2 {
                            e.restrictions[o][w] = true;
                        }
                    }
                }
            }
            if x.starts_with("body") {
                e.any_body = true;
            }
            if x == "body.export_view" || x == "body.styled_view" {
                e.export_view = true;
            }
        }
        e
    }

    /// The most results one page may hold with these expansions.
    pub fn limit_cap(&self) -> usize {
        if self.export_view {
            MAX_LIMIT_WITH_EXPORT_VIEW
        } else if self.any_body {
            MAX_LIMIT_WITH_BODY
        } else {
            MAX_LIMIT
        }
    }
}

/// One page of a search: `(kind, id, sort value)` and whether more follow.
#[derive(Debug, PartialEq)]
pub struct Hits {
    pub hits: Vec<(Kind, u64, i64)>,
    pub more: bool,
}

/// The kinds `q` asks for in this space.
pub fn kinds(q: &Cql, space_key: &str) -> Vec<Kind> {
    let space_ok = q
        .spaces
        .as_ref()
        .is_none_or(|s| s.iter().any(|k| k.eq_ignore_ascii_case(space_key)));
    if !space_ok {
        return Vec::new();
    }
    Kind::ALL
        .into_iter()
        // `comment` is footer and inline comments.
        .filter(|k| {
            q.types
                .as_ref()
                .is_none_or(|types| types.iter().any(|t| t == k.type_name()))
        })
        // Labels are on pages and blog posts, ancestors above pages and folders.
        .filter(|k| q.labels.is_empty() || matches!(k, Kind::Page | Kind::BlogPost))
        .filter(|k| q.ancestors.is_empty() || matches!(k, Kind::Page | Kind::Folder))
        .collect()
}

/// True when content `id` of `kind` passes the clauses of `q` an index
/// does not answer: `created`, `label` and `ancestor`.
pub fn matches(data: &Data, q: &Cql, kind: Kind, id: u64) -> bool {
    let created_ok = q.created.is_all()
        || data
            .meta(kind, id)
            .is_some_and(|m| q.created.contains(m.created));
    let labels_ok = q.labels.iter().all(|any| {
        data.annot
            .labels
            .get(&id)
            .is_some_and(|set| any.iter().any(|l| set.contains(l)))
    });
    let ancestors_ok = q.ancestors.is_empty() || {
        let parent = data.nodes(kind).get(&id).and_then(|n| n.parent);
        let above: Vec<u64> = data.ancestors(parent).iter().map(|p| p.id()).collect();
        q.ancestors
            .iter()
            .all(|any| any.iter().any(|a| above.contains(a)))
    };
    created_ok && labels_ok && ancestors_ok
}

/// The hits of `q` among its `id` list (small): sorted, after `after`.
fn search_ids(
    data: &Data,
    q: &Cql,
    ids: &[u64],
    kinds: &[Kind],
    (field, desc): (OrderField, bool),
    after: Option<(i64, u64)>,
) -> Vec<(Kind, u64, i64)> {
    let mut all: Vec<(Kind, u64, i64)> = Vec::new();
    for &kind in kinds {
        for &id in ids {
            let Some(m) = data.meta(kind, id) else {
                continue;
            };
            if !q.lastmodified.contains(m.modified) || !matches(data, q, kind, id) {
                continue;
            }
            let value = match field {
                OrderField::LastModified => m.modified,
                OrderField::Created | OrderField::Id => id as i64,
            };
            let past = after.is_none_or(|a| {
                if desc {
                    (value, id) < a
                } else {
                    (value, id) > a
                }
            });
            if past {
                all.push((kind, id, value));
            }
        }
    }
    all
}

/// Ids of `kind` past `after` in id order (descending when `desc`).
pub fn ids_after(
    data: &Data,
    kind: Kind,
    after: Option<u64>,
    desc: bool,
) -> Box<dyn Iterator<Item = u64> + '_> {
    let range = if desc {
        (Unbounded, after.map_or(Unbounded, Excluded))
    } else {
        (after.map_or(Unbounded, Excluded), Unbounded)
    };
    fn boxed<'a, V>(
        it: std::collections::btree_map::Range<'a, u64, V>,
        desc: bool,
    ) -> Box<dyn Iterator<Item = u64> + 'a> {
        if desc {
            Box::new(it.rev().map(|(id, _)| *id))
        } else {
            Box::new(it.map(|(id, _)| *id))
        }
    }
    match kind {
        Kind::Page => boxed(data.pages.range(range), desc),
        Kind::Folder => boxed(data.folders.range(range), desc),
        Kind::Attachment => boxed(data.attachments.range(range), desc),
        Kind::BlogPost => boxed(data.blogposts.range(range), desc),
        Kind::Comment | Kind::InlineComment => Box::new(
            boxed(data.comments.range(range), desc)
                .filter(move |id| data.comments[id].kind() == kind),
        ),
    }
}

/// Runs `q` (in space `space_key`): up to `limit` hits after `after`
/// (`(sort value, id)`).
pub fn search(
    data: &Data,
    q: &Cql,
    space_key: &str,
    after: Option<(i64, u64)>,
    limit: usize,
) -> Hits {
    let (field, desc) = q.order.unwrap_or((OrderField::LastModified, true));
    let mut all: Vec<(Kind, u64, i64)> = Vec::new();
    if q.lastmodified.is_empty() || q.created.is_empty() {
        return Hits {
            hits: Vec::new(),
            more: false,
        };
    }
    let kinds = kinds(q, space_key);
    if let Some(ids) = &q.ids {
        all = search_ids(data, q, ids, &kinds, (field, desc), after);
    }
    for kind in kinds.into_iter().filter(|_| q.ids.is_none()) {
        let keep = |id: u64| matches(data, q, kind, id);
        match field {
            OrderField::LastModified => {
                let r = &q.lastmodified;
                let mut lo: Bound<(Ms, u64)> = r.lo.map_or(Unbounded, |lo| Included((lo, 0)));
                let mut hi: Bound<(Ms, u64)> = r.hi.map_or(Unbounded, |hi| Excluded((hi, 0)));
                if let Some(a) = after {
                    if desc {
                        if bound_above(&hi, a) {
                            hi = Excluded(a);
                        }
                    } else if bound_below(&lo, a) {
                        lo = Excluded(a);
                    }
                }
                if range_empty(&lo, &hi) {
                    continue;
                }
                let set = &data.modified[kind as usize];
                let it = set.range((lo, hi));
                let found: Vec<(Kind, u64, i64)> = if desc {
                    it.rev()
                        .filter(|(_, id)| keep(*id))
                        .take(limit + 1)
                        .map(|(t, id)| (kind, *id, *t))
                        .collect()
                } else {
                    it.filter(|(_, id)| keep(*id))
                        .take(limit + 1)
                        .map(|(t, id)| (kind, *id, *t))
                        .collect()
                };
                all.extend(found);
            }
            OrderField::Created | OrderField::Id => {
                // Creation order is id order.
                let after_id = after.map(|(_, id)| id);
                let past = |id: u64| after_id.is_none_or(|a| if desc { id < a } else { id > a });
                let found: Vec<u64> = if let Some(lo) = q.lastmodified.lo {
                    // A delta: the (few) changed ids, sorted.
                    let hi = q.lastmodified.hi.map_or(Unbounded, |hi| Excluded((hi, 0)));
                    let mut ids: Vec<u64> = data.modified[kind as usize]
                        .range((Included((lo, 0)), hi))
                        .map(|(_, id)| *id)
                        .filter(|id| past(*id) && keep(*id))
                        .collect();
                    ids.sort_unstable();
                    if desc {
                        ids.reverse();
                    }
                    ids.truncate(limit + 1);
                    ids
                } else {
                    let r = q.lastmodified;
                    let modified_ok = |id: u64| {
                        r.is_all() || data.meta(kind, id).is_some_and(|m| r.contains(m.modified))
                    };
                    ids_after(data, kind, after_id, desc)
                        .filter(|id| modified_ok(*id) && keep(*id))
                        .take(limit + 1)
                        .collect()
                };
                all.extend(found.into_iter().map(|id| (kind, id, id as i64)));
            }
        }
    }
    all.sort_unstable_by_key(|(_, id, v)| (*v, *id));
    if desc {
        all.reverse();
    }
    let more = all.len() > limit;
    all.truncate(limit);
    Hits { hits: all, more }
}

/// True when `a` is below the upper bound (so it tightens it).
pub fn bound_above(hi: &Bound<(Ms, u64)>, a: (Ms, u64)) -> bool {
    match hi {
        Unbounded => true,
        Included(h) | Excluded(h) => a <= *h,
    }
}

pub fn bound_below(lo: &Bound<(Ms, u64)>, a: (Ms, u64)) -> bool {
    match lo {
        Unbounded => true,
        Included(l) | Excluded(l) => a >= *l,
    }
}

pub fn range_empty(lo: &Bound<(Ms, u64)>, hi: &Bound<(Ms, u64)>) -> bool {
    match (lo, hi) {
        (Included(l), Included(h)) => l > h,
        (Included(l) | Excluded(l), Included(h) | Excluded(h)) => l >= h,
        _ => false,
    }
}

/// How many results `q` has in all (SearchPageResponse `totalSize`).
pub fn count(data: &Data, q: &Cql, space_key: &str) -> usize {
    if q.lastmodified.is_empty() || q.created.is_empty() {
        return 0;
    }
    let kinds = kinds(q, space_key);
    if let Some(ids) = &q.ids {
        let order = (OrderField::Id, false);
        return search_ids(data, q, ids, &kinds, order, None).len();
    }
    let plain = q.created.is_all() && q.labels.is_empty() && q.ancestors.is_empty();
    kinds
        .into_iter()
        .map(|kind| {
            let r = &q.lastmodified;
            let lo = r.lo.map_or(Unbounded, |lo| Included((lo, 0)));
            let hi = r.hi.map_or(Unbounded, |hi| Excluded((hi, 0)));
            let set = &data.modified[kind as usize];
            if plain && r.is_all() {
                set.len()
            } else {
                set.range((lo, hi))
                    .filter(|(_, id)| matches(data, q, kind, *id))
                    .count()
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::super::cql;
    use super::super::data::Config;
    use super::super::mutate::MutateRequest;
    use super::*;

    fn data() -> Data {
        Data::generate(&Config {
            pages: 400,
            folders: 30,
            attachments_per_page: 2,
            comments_per_page: 1,
            blogposts: 0,
            inline_comments_per_page: 0,
            seed: 3,
        })
    }

    fn drain(d: &Data, cql: &str, limit: usize) -> Vec<(Kind, u64)> {
        let q = cql::parse(cql, 0).unwrap();
        let mut after = None;
        let mut out = Vec::new();
        loop {
            let h = search(d, &q, "DOCS", after, limit);
            assert!(h.hits.len() <= limit);
            out.extend(h.hits.iter().map(|(k, id, _)| (*k, *id)));
            if !h.more {
                return out;
            }
            let (_, id, v) = *h.hits.last().unwrap();
            after = Some((v, id));
        }
    }

    #[test]
    fn full_listings_cover_each_kind_once() {
        let d = data();
        for (cql, n) in [
            ("type=page AND space=\"DOCS\"", 400),
            ("type=folder AND space=DOCS", 30),
            (
                "type=attachment AND space=\"DOCS\" ORDER BY lastmodified ASC",
                800,
            ),
            ("type=comment AND space=\"DOCS\" ORDER BY id", 400),
            (
                "type in (page, folder) AND space=\"DOCS\" ORDER BY created DESC",
                430,
            ),
            ("space=\"DOCS\"", 1630),
        ] {
            for limit in [1, 7, 200] {
                if limit == 1 && n > 500 {
                    continue;
                }
                let got = drain(&d, cql, limit);
                let set: BTreeSet<_> = got.iter().collect();
                assert_eq!(set.len(), got.len(), "{cql} limit {limit}: no duplicates");
                assert_eq!(got.len(), n, "{cql} limit {limit}");
            }
        }
        assert!(drain(&d, "type=page AND space=OTHER", 10).is_empty());
        assert!(drain(&d, "type=blogpost", 10).is_empty());
        // Order: newest change first by default, ascending when asked.
        let q = cql::parse("type=page", 0).unwrap();
        let h = search(&d, &q, "DOCS", None, 50);
        assert!(h
            .hits
            .windows(2)
            .all(|w| (w[0].2, w[0].1) > (w[1].2, w[1].1)));
        let q = cql::parse("type=page order by lastmodified asc", 0).unwrap();
        let h = search(&d, &q, "DOCS", None, 50);
        assert!(h
            .hits
            .windows(2)
            .all(|w| (w[0].2, w[0].1) < (w[1].2, w[1].1)));
    }

    #[test]
    fn delta_lists_exactly_the_changes() {
        let mut d = data();
        let now = 1_800_000_000_000; // 2027-01-15T08:00:00Z
        let m = d
            .mutate(
                MutateRequest {
                    update: 5,
                    delete: 2,
                    create: 3,
                    moves: 4,
                    attachments: 8,
                    ..Default::default()
                },
                now,
            )
            .unwrap();
        let since = "2027-01-15 07:59";
        let pages: BTreeSet<String> = drain(
            &d,
            &format!("type=page AND space=\"DOCS\" AND lastmodified >= \"{since}\" ORDER BY lastmodified ASC"),
            2,
        )
        .into_iter()
        .map(|(_, id)| id.to_string())
        .collect();
        let expect: BTreeSet<String> = m
            .updated
            .iter()
            .chain(&m.created)
            .chain(&m.moved)
            .chain(&m.reparented)
            .filter(|id| d.pages.contains_key(&id.parse().unwrap()))
            .cloned()
            .collect();
        assert_eq!(pages, expect);
        let atts: BTreeSet<String> = drain(
            &d,
            &format!("type=attachment AND lastmodified >= \"{since}\""),
            3,
        )
        .into_iter()
        .map(|(_, id)| format!("att{id}"))
        .collect();
        assert_eq!(atts, m.attachments.iter().cloned().collect());
        // Id order with a date filter, descending, paged.
        let by_id = drain(
            &d,
            &format!("type=page AND lastmodified >= \"{since}\" ORDER BY id DESC"),
            2,
        );
        assert_eq!(by_id.len(), expect.len());
        assert!(by_id.windows(2).all(|w| w[0].1 > w[1].1));
        // Nothing after the change; everything before it.
        assert!(drain(&d, "type=page AND lastmodified > \"2027-01-15 08:00\"", 10).is_empty());
        let before = drain(&d, "type=page AND lastmodified < \"2027-01-15 08:00\"", 100).len();
        assert_eq!(before + expect.len(), d.pages.len());
        let q = cql::parse(&format!("type=page AND lastmodified >= \"{since}\""), 0).unwrap();
        assert_eq!(count(&d, &q, "DOCS"), expect.len());
    }

    #[test]
    fn expand_parsing() {
        let p = Params(vec![
            ("expand".into(), "version,container".into()),
            ("expand".into(), "body.storage".into()),
        ]);
        let e = Expand::parse(&p);
        assert!(e.version && e.container && e.storage && e.any_body && !e.space);
        assert_eq!(e.limit_cap(), 50);
        assert_eq!(Expand::default().limit_cap(), 200);
        let p = Params(vec![("expand".into(), "version,body.export_view".into())]);
        assert_eq!(Expand::parse(&p).limit_cap(), 25);
    }
}
