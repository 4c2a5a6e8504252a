//! PostgREST's query grammar (the subset of `api-contracts.md` §3.2–3.4)
//! and its translation into SQL.
//!
//! Parsing follows `PostgREST.ApiRequest.QueryParams`: `+` decodes to a
//! space; a top-level filter value is taken verbatim after its operator
//! (`updated_at=gte.2026-01-02T03:04:05%2B00:00`: double quotes there are
//! part of the value), while values inside `in.(…)`, `or=(…)` and
//! `and=(…)` may be double-quoted (backslash escapes) to hold `,` `.` `:`
//! `(` `)`; a parameter whose value starts with no operator is ignored (an
//! RPC argument to PostgREST). Identifiers reach SQL only through
//! [`quote_ident`], values only as bind parameters ([`TextParam`]).

use percent_encoding::percent_decode_str;

use super::errors::Pgrst;
use super::pool::TextParam;

/// `"name"` with inner quotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// SQL text plus its bind parameters, `$1`… in order.
#[derive(Debug, Default, Clone)]
pub struct Sql {
    pub text: String,
    pub params: Vec<TextParam>,
}

impl Sql {
    /// Adds a parameter and returns its placeholder.
    pub fn param(&mut self, value: &str) -> String {
        self.params.push(TextParam(value.to_owned()));
        format!("${}", self.params.len())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum SelectItem {
    Star,
    Column {
        name: String,
        alias: Option<String>,
        cast: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tri {
    Null,
    Unknown,
    True,
    False,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// `eq`, `neq`, `gt`, ...: the SQL operator and the value.
    Binary(&'static str, String),
    In(Vec<String>),
    Is(Tri),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Leaf {
        column: String,
        negate: bool,
        op: Op,
    },
    Tree {
        negate: bool,
        and: bool,
        children: Vec<Cond>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderTerm {
    pub column: String,
    pub desc: Option<bool>,
    pub nulls_first: Option<bool>,
}

/// A parsed query string.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub select: Vec<SelectItem>,
    /// ANDed.
    pub conds: Vec<Cond>,
    pub order: Vec<OrderTerm>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub columns: Option<Vec<String>>,
    pub on_conflict: Option<Vec<String>>,
}

fn binary_op(name: &str) -> Option<&'static str> {
    Some(match name {
        "eq" => "=",
        "neq" => "<>",
        "gt" => ">",
        "gte" => ">=",
        "lt" => "<",
        "lte" => "<=",
        "like" => "LIKE",
        "ilike" => "ILIKE",
        "match" => "~",
        "imatch" => "~*",
        "isdistinct" => "IS DISTINCT FROM",
        _ => return None,
    })
}

/// Whether PostgREST takes a parameter value as a filter (`hasOperator`).
fn has_operator(value: &str) -> bool {
    let mut parts = value.split('.');
    match (parts.next(), parts.next()) {
        (Some("not"), Some(_)) => true,
        (Some("is" | "in"), _) => true,
        (Some(first), _) => {
            binary_op(first).is_some()
                || [
                    "cs", "cd", "ov", "sl", "sr", "nxr", "nxl", "adj", "fts", "plfts", "phfts",
                    "wfts",
                ]
                .contains(&first)
        }
        (None, _) => false,
    }
}

/// A cursor over one parameter value; errors carry the column.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

type Parsed<T> = Result<T, (usize, String)>;

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Cursor { s, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn eat(&mut self, t: &str) -> bool {
        if self.rest().starts_with(t) {
            self.pos += t.len();
            true
        } else {
            false
        }
    }

    fn fail<T>(&self, what: impl Into<String>) -> Parsed<T> {
        Err((self.pos + 1, what.into()))
    }

    fn expect(&mut self, t: &str) -> Parsed<()> {
        if self.eat(t) {
            Ok(())
        } else {
            let found = self
                .peek()
                .map_or("end of input".to_owned(), |c| format!("{c:?}"));
            self.fail(format!("unexpected {found} expecting {t:?}"))
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    /// `"…"` with backslash escapes (the cursor at the quote).
    fn quoted(&mut self) -> Parsed<String> {
        self.expect("\"")?;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, e)) => out.push(e),
                    None => break,
                },
                c => out.push(c),
            }
        }
        self.pos = self.s.len();
        self.fail("unexpected end of input expecting closing quote")
    }

    /// Characters up to (not including) any of `stops`.
    fn until(&mut self, stops: &[char]) -> &'a str {
        let rest = self.rest();
        let end = rest.find(|c| stops.contains(&c)).unwrap_or(rest.len());
        self.pos += end;
        &rest[..end]
    }

    /// A field name: quoted, or letters, digits, `_`, `$`, spaces and
    /// dashes (not `->`), trimmed.
    fn field_name(&mut self) -> Parsed<String> {
        if self.peek() == Some('"') {
            return self.quoted();
        }
        let rest = self.rest();
        let mut end = 0;
        for (i, c) in rest.char_indices() {
            let ok = c.is_alphanumeric()
                || "_$ ".contains(c)
                || (c == '-' && !rest[i..].starts_with("->"));
            if !ok {
                break;
            }
            end = i + c.len_utf8();
        }
        let name = rest[..end].trim();
        if name.is_empty() {
            return self.fail("expecting field name (* or [a..z0..9_$])");
        }
        self.pos += end;
        Ok(name.to_owned())
    }

    /// A value inside `or`/`and`: quoted (then `,` or `)` follows), a
    /// `{…}` array literal, or everything up to `,` or `)`.
    fn logic_value(&mut self) -> Parsed<String> {
        if self.peek() == Some('"') {
            let save = self.pos;
            if let Ok(v) = self.quoted() {
                if matches!(self.peek(), Some(',' | ')')) {
                    return Ok(v);
                }
            }
            self.pos = save;
        }
        if self.peek() == Some('{') {
            let rest = self.rest();
            if let Some(end) = rest.find('}') {
                if !rest[1..end].contains('{') {
                    self.pos += end + 1;
                    return Ok(rest[..=end].to_owned());
                }
            }
        }
        Ok(self.until(&[',', ')']).to_owned())
    }

    /// `(a,"b,c",d)`.
    fn list(&mut self) -> Parsed<Vec<String>> {
        self.expect("(")?;
        let mut items = Vec::new();
        loop {
            let item = if self.peek() == Some('"') {
                let save = self.pos;
                match self.quoted() {
                    Ok(v) if matches!(self.peek(), Some(',' | ')')) => v,
                    _ => {
                        self.pos = save;
                        self.until(&[',', ')']).to_owned()
                    }
                }
            } else {
                self.until(&[',', ')']).to_owned()
            };
            items.push(item);
            if !self.eat(",") {
                break;
            }
        }
        self.expect(")")?;
        Ok(items)
    }

    /// `[not.]op.value`; `top`: the value is the rest, verbatim.
    fn op_expr(&mut self, top: bool) -> Parsed<(bool, Op)> {
        let negate = self.eat("not.");
        let op = if self.eat("in.") {
            Op::In(self.list()?)
        } else if self.eat("is.") {
            let word = self.until(&[',', ')']);
            let tri = match word.to_ascii_lowercase().as_str() {
                "null" => Tri::Null,
                "unknown" => Tri::Unknown,
                "true" => Tri::True,
                "false" => Tri::False,
                _ => {
                    self.pos -= word.len();
                    return self.fail("expecting null or trilean value (unknown, true, false)");
                }
            };
            Op::Is(tri)
        } else {
            let name = self.until(&['.']);
            if !self.eat(".") {
                self.pos -= name.len();
                return self.fail("expecting operator (eq, gt, ...)");
            }
            let Some(sql) = binary_op(name) else {
                self.pos -= name.len() + 1;
                return self.fail(format!("unknown single value operator {name}"));
            };
            let value = if top {
                let v = self.rest().to_owned();
                self.pos = self.s.len();
                v
            } else {
                self.logic_value()?
            };
            let value = if matches!(name, "like" | "ilike") {
                value.replace('*', "%")
            } else {
                value
            };
            Op::Binary(sql, value)
        };
        Ok((negate, op))
    }

    /// An element of a logic tree: a nested `[not.]and(…)`/`or(…)` or `field.op.value`.
    fn logic_item(&mut self) -> Parsed<Cond> {
        let save = self.pos;
        let negate = self.eat("not.");
        for (word, and) in [("and(", true), ("or(", false)] {
            if self.eat(word) {
                self.pos -= 1;
                return self.logic_children(negate, and);
            }
        }
        self.pos = save;
        let column = self.field_name()?;
        self.expect(".")?;
        let (negate, op) = self.op_expr(false)?;
        Ok(Cond::Leaf { column, negate, op })
    }

    /// `(item,item,…)`.
    fn logic_children(&mut self, negate: bool, and: bool) -> Parsed<Cond> {
        self.expect("(")?;
        let mut children = vec![self.logic_item()?];
        while self.eat(",") {
            children.push(self.logic_item()?);
        }
        self.expect(")")?;
        Ok(Cond::Tree {
            negate,
            and,
            children,
        })
    }
}

/// PGRST100 for `what (value)` failing at `col`.
fn parse_error(what: &str, value: &str, (col, details): (usize, String)) -> Pgrst {
    Pgrst::bad_query(
        format!("\"failed to parse {what} ({value})\" (line 1, column {col})"),
        details,
    )
}

fn whole<T>(
    what: &str,
    value: &str,
    f: impl FnOnce(&mut Cursor<'_>) -> Parsed<T>,
) -> Result<T, Pgrst> {
    let mut c = Cursor::new(value);
    let out = f(&mut c).and_then(|v| {
        if c.at_end() {
            Ok(v)
        } else {
            let found = c.peek().map(|ch| format!("{ch:?}")).unwrap_or_default();
            c.fail(format!("unexpected {found} expecting end of input"))
        }
    });
    out.map_err(|e| parse_error(what, value, e))
}

fn parse_select(value: &str) -> Result<Vec<SelectItem>, Pgrst> {
    whole("select parameter", value, |c| {
        let mut items = Vec::new();
        loop {
            if c.eat("*") {
                items.push(SelectItem::Star);
            } else {
                let first = c.field_name()?;
                let (alias, name) = if c.rest().starts_with(':') && !c.rest().starts_with("::") {
                    c.pos += 1;
                    (Some(first), c.field_name()?)
                } else {
                    (None, first)
                };
                let cast = if c.eat("::") {
                    let t = c.until(&[',']);
                    if t.is_empty()
                        || !t
                            .chars()
                            .all(|ch| ch.is_ascii_alphanumeric() || "_ $".contains(ch))
                    {
                        return c.fail("expecting letter or digit");
                    }
                    Some(t.trim().to_owned())
                } else {
                    None
                };
                if c.peek() == Some('(') {
                    return c.fail("resource embedding is not served by this fake");
                }
                items.push(SelectItem::Column { name, alias, cast });
            }
            if !c.eat(",") {
                return Ok(items);
            }
        }
    })
}

fn parse_order(value: &str) -> Result<Vec<OrderTerm>, Pgrst> {
    whole("order", value, |c| {
        let mut terms = Vec::new();
        loop {
            let column = c.field_name()?;
            let mut term = OrderTerm {
                column,
                desc: None,
                nulls_first: None,
            };
            if c.eat(".asc") {
                term.desc = Some(false);
            } else if c.eat(".desc") {
                term.desc = Some(true);
            }
            if c.eat(".nullsfirst") {
                term.nulls_first = Some(true);
            } else if c.eat(".nullslast") {
                term.nulls_first = Some(false);
            }
            terms.push(term);
            if !c.eat(",") {
                return Ok(terms);
            }
        }
    })
}

fn parse_columns(what: &str, value: &str) -> Result<Vec<String>, Pgrst> {
    whole(what, value, |c| {
        let mut cols = vec![c.field_name()?];
        while c.eat(",") {
            cols.push(c.field_name()?);
        }
        Ok(cols)
    })
}

/// `application/x-www-form-urlencoded` decoding, `+` as a space.
pub fn decode(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// Parses a request's query string.
pub fn parse_query(raw: Option<&str>) -> Result<Query, Pgrst> {
    let mut q = Query {
        select: vec![SelectItem::Star],
        conds: Vec::new(),
        order: Vec::new(),
        limit: None,
        offset: None,
        columns: None,
        on_conflict: None,
    };
    let pairs = raw
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .filter(|(_, v)| !v.is_empty());
    for (key, value) in pairs {
        match key.as_str() {
            "select" => q.select = parse_select(&value)?,
            "order" => q.order.extend(parse_order(&value)?),
            // PostgREST reads these with `readMaybe`: a non-number is ignored.
            "limit" => q.limit = value.trim().parse().ok().or(q.limit),
            "offset" => q.offset = value.trim().parse().ok().or(q.offset),
            "columns" => q.columns = Some(parse_columns("columns parameter", &value)?),
            "on_conflict" => q.on_conflict = Some(parse_columns("on_conflict parameter", &value)?),
            "or" | "and" | "not.or" | "not.and" => {
                let negate = key.starts_with("not.");
                let and = key.ends_with("and");
                let cond = whole("logic tree", &value, |c| c.logic_children(negate, and))?;
                q.conds.push(cond);
            }
            k if k.contains('.') => {
                return Err(Pgrst::bad_query(
                    format!("\"failed to parse tree path ({k})\""),
                    "filters on embedded resources are not served by this fake",
                ));
            }
            _ if !has_operator(&value) => {}
            _ => {
                let column = whole("tree path", &key, |c| c.field_name())?;
                let (negate, op) = whole("filter", &value, |c| c.op_expr(true))?;
                q.conds.push(Cond::Leaf { column, negate, op });
            }
        }
    }
    Ok(q)
}

/// `pgrst_t."col"`-style column references under `prefix`.
fn column_ref(prefix: &str, column: &str) -> String {
    format!("{prefix}{}", quote_ident(column))
}

/// The SQL of one condition on columns under `prefix`.
pub fn render_cond(cond: &Cond, prefix: &str, sql: &mut Sql) -> String {
    let (negate, text) = match cond {
        Cond::Leaf { column, negate, op } => {
            let col = column_ref(prefix, column);
            let text = match op {
                Op::Binary(op, value) => format!("{col} {op} {}", sql.param(value)),
                Op::In(values) => {
                    let ps: Vec<String> = values.iter().map(|v| sql.param(v)).collect();
                    format!("{col} IN ({})", ps.join(", "))
                }
                Op::Is(tri) => format!(
                    "{col} IS {}",
                    match tri {
                        Tri::Null => "NULL",
                        Tri::Unknown => "UNKNOWN",
                        Tri::True => "TRUE",
                        Tri::False => "FALSE",
                    }
                ),
            };
            (*negate, text)
        }
        Cond::Tree {
            negate,
            and,
            children,
        } => {
            let parts: Vec<String> = children
                .iter()
                .map(|c| render_cond(c, prefix, sql))
                .collect();
            let joined = parts.join(if *and { " AND " } else { " OR " });
            (*negate, format!("({joined})"))
        }
    };
    if negate {
        format!("NOT ({text})")
    } else {
        text
    }
}

/// ` WHERE …` for every condition (ANDed), or nothing.
pub fn render_where(conds: &[Cond], prefix: &str, sql: &mut Sql) -> String {
    if conds.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = conds.iter().map(|c| render_cond(c, prefix, sql)).collect();
    format!(" WHERE {}", parts.join(" AND "))
}

/// ` ORDER BY …`, or nothing.
pub fn render_order(order: &[OrderTerm], prefix: &str) -> String {
    if order.is_empty() {
        return String::new();
    }
    let terms: Vec<String> = order
        .iter()
        .map(|t| {
            let mut s = column_ref(prefix, &t.column);
            match t.desc {
                Some(true) => s.push_str(" DESC"),
                Some(false) => s.push_str(" ASC"),
                None => {}
            }
            match t.nulls_first {
                Some(true) => s.push_str(" NULLS FIRST"),
                Some(false) => s.push_str(" NULLS LAST"),
                None => {}
            }
            s
        })
        .collect();
    format!(" ORDER BY {}", terms.join(", "))
}

/// The select list over columns under `prefix` (e.g. `pgrst_t.` or `(pgrst_src.pgrst_row).`).
pub fn render_select(items: &[SelectItem], prefix: &str) -> String {
    items
        .iter()
        .map(|item| match item {
            SelectItem::Star => format!("{prefix}*"),
            SelectItem::Column { name, alias, cast } => {
                let col = column_ref(prefix, name);
                let expr = match cast {
                    Some(t) => format!("CAST({col} AS {t})"),
                    None => col,
                };
                format!(
                    "{expr} AS {}",
                    quote_ident(alias.as_deref().unwrap_or(name))
                )
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(column: &str, negate: bool, op: Op) -> Cond {
        Cond::Leaf {
            column: column.into(),
            negate,
            op,
        }
    }

    #[test]
    fn keyset_or_with_quoted_timestamps_and_nested_and() {
        let ts = "2026-01-02T03:04:05.123456+00:00";
        let raw = format!(
            "select=*&order=updated_at.asc,id.asc&limit=500&or=(updated_at.gt.%22{ts}%22,and(updated_at.eq.%22{ts}%22,id.gt.42))",
            ts = ts.replace('+', "%2B")
        );
        let q = parse_query(Some(&raw)).unwrap();
        assert_eq!(q.limit, Some(500));
        assert_eq!(q.order.len(), 2);
        assert_eq!(
            q.conds,
            vec![Cond::Tree {
                negate: false,
                and: false,
                children: vec![
                    leaf("updated_at", false, Op::Binary(">", ts.into())),
                    Cond::Tree {
                        negate: false,
                        and: true,
                        children: vec![
                            leaf("updated_at", false, Op::Binary("=", ts.into())),
                            leaf("id", false, Op::Binary(">", "42".into())),
                        ]
                    }
                ]
            }]
        );
        let mut sql = Sql::default();
        let w = render_where(&q.conds, "t.", &mut sql);
        assert_eq!(
            w,
            " WHERE (t.\"updated_at\" > $1 OR (t.\"updated_at\" = $2 AND t.\"id\" > $3))"
        );
        assert_eq!(sql.params.len(), 3);
        assert_eq!(sql.params[0].0, ts);
    }

    #[test]
    fn top_level_values_are_verbatim_and_plus_is_a_space() {
        let q = parse_query(Some(
            "a=gte.%222026%22&b=eq.x+y&c=not.in.(1,%22a,b%22)&d=is.null&e=like.*z*&junk=value",
        ))
        .unwrap();
        assert_eq!(
            q.conds,
            vec![
                leaf("a", false, Op::Binary(">=", "\"2026\"".into())),
                leaf("b", false, Op::Binary("=", "x y".into())),
                leaf("c", true, Op::In(vec!["1".into(), "a,b".into()])),
                leaf("d", false, Op::Is(Tri::Null)),
                leaf("e", false, Op::Binary("LIKE", "%z%".into())),
            ]
        );
    }

    #[test]
    fn select_order_and_errors() {
        let q = parse_query(Some(
            "select=id,t:title,updated_at::text&order=a.desc.nullsfirst,b",
        ))
        .unwrap();
        assert_eq!(
            render_select(&q.select, "p."),
            "p.\"id\" AS \"id\", p.\"title\" AS \"t\", CAST(p.\"updated_at\" AS text) AS \"updated_at\""
        );
        assert_eq!(
            render_order(&q.order, "p."),
            " ORDER BY p.\"a\" DESC NULLS FIRST, p.\"b\""
        );
        for bad in [
            "id=eq",
            "or=(a.eq.1",
            "or=a.eq.1",
            "order=a.up",
            "select=a(b)",
            "x=in.1",
        ] {
            let e = parse_query(Some(bad)).unwrap_err();
            assert_eq!(e.code, "PGRST100", "{bad}");
        }
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        // No operator: an RPC argument to PostgREST, ignored on tables.
        assert!(parse_query(Some("id=noop.1")).unwrap().conds.is_empty());
    }

    #[test]
    fn not_and_nested_logic() {
        let q = parse_query(Some("not.or=(a.eq.1,not.and(b.lt.2,c.is.true))")).unwrap();
        let mut sql = Sql::default();
        assert_eq!(
            render_where(&q.conds, "", &mut sql),
            " WHERE NOT ((\"a\" = $1 OR NOT ((\"b\" < $2 AND \"c\" IS TRUE))))"
        );
    }
}
