//! The CQL the fake understands: a conjunction of
//!
//! - `type = page|folder|attachment|comment|blogpost|...` or `type IN (...)`,
//! - `space = "KEY"` (also `space.key`, and `IN (...)`),
//! - `id` (also `content`), `ancestor` and `label` with `=` or `IN (...)`
//!   (`label = a AND label = b`: both labels),
//! - `lastmodified` / `created` compared (`= != > >= < <=`) with a date:
//!   `"yyyy-MM-dd HH:mm"`, `"yyyy/MM/dd HH:mm"`, `"yyyy-MM-dd"`, `"yyyy/MM/dd"`
//!   (quoted or not) or `now("-4w")` (units y M w d h m), in UTC, the fake
//!   user's time zone,
//!
//! in any order and parenthesised, then optionally
//! `ORDER BY lastmodified|created|id [ASC|DESC]`.
//!
//! A date stands for its whole minute (or day): `>= "2026-01-02 03:04"` is
//! from 03:04:00.000, `> "2026-01-02 03:04"` from 03:05:00.000,
//! `<= "…03:04"` up to 03:04:59.999. Keywords and field names are
//! case-insensitive.
//!
//! Invalid CQL is [`CqlError::Invalid`]; valid CQL this fake does not
//! implement (`OR`, `NOT`, other fields) is [`CqlError::Unsupported`]. Both
//! are 400s.

use chrono::{Months, NaiveDate, TimeZone as _, Utc};

/// Milliseconds since the epoch.
pub type Ms = i64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OrderField {
    LastModified,
    Created,
    Id,
}

/// A half-open interval `[lo, hi)` of milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub lo: Option<Ms>,
    pub hi: Option<Ms>,
}

impl Range {
    pub const ALL: Range = Range { lo: None, hi: None };

    fn intersect(self, other: Range) -> Range {
        Range {
            lo: match (self.lo, other.lo) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
            hi: match (self.hi, other.hi) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        }
    }

    pub fn contains(&self, t: Ms) -> bool {
        self.lo.is_none_or(|lo| t >= lo) && self.hi.is_none_or(|hi| t < hi)
    }

    pub fn is_all(&self) -> bool {
        *self == Range::ALL
    }

    pub fn is_empty(&self) -> bool {
        matches!((self.lo, self.hi), (Some(lo), Some(hi)) if lo >= hi)
    }
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Content types asked for (lower case), `None` for any.
    pub types: Option<Vec<String>>,
    /// Space keys asked for, `None` for any.
    pub spaces: Option<Vec<String>>,
    pub lastmodified: Range,
    pub created: Range,
    /// `id = N` / `id IN (...)`: content ids asked for, `None` for any.
    pub ids: Option<Vec<u64>>,
    /// `label = x` / `label IN (...)` clauses: each a set of names, one
    /// of which the content must have (all clauses must hold).
    pub labels: Vec<Vec<String>>,
    /// `ancestor = N` / `ancestor IN (...)` clauses: each a set of page or
    /// folder ids, one of which must be an ancestor.
    pub ancestors: Vec<Vec<u64>>,
    /// `ORDER BY`, if any: field and descending.
    pub order: Option<(OrderField, bool)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CqlError {
    Invalid(String),
    Unsupported(String),
}

pub const TYPES: &[&str] = &[
    "page",
    "blogpost",
    "comment",
    "attachment",
    "folder",
    "whiteboard",
    "database",
    "embed",
    "space",
    "user",
];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, CqlError> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '"' | '\'' => {
                let mut v = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(CqlError::Invalid("unterminated string".into())),
                        Some('\\') => {
                            if let Some(n) = chars.get(i + 1) {
                                v.push(*n);
                            }
                            i += 2;
                        }
                        Some(q) if *q == c => {
                            i += 1;
                            break;
                        }
                        Some(x) => {
                            v.push(*x);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(v));
            }
            '!' | '>' | '<' | '=' | '~' => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let op = match two.as_str() {
                    "!=" => "!=",
                    ">=" => ">=",
                    "<=" => "<=",
                    "!~" => "!~",
                    _ => match c {
                        '>' => ">",
                        '<' => "<",
                        '=' => "=",
                        '~' => "~",
                        _ => return Err(CqlError::Invalid("unexpected '!'".into())),
                    },
                };
                i += op.len();
                out.push(Tok::Op(op));
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !"()\",'!<>=~".contains(chars[i])
                {
                    i += 1;
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: &'a [Tok],
    pos: usize,
    now: Ms,
    q: Query,
}

fn is_kw(t: Option<&Tok>, kw: &str) -> bool {
    matches!(t, Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn invalid<T>(&self, what: &str) -> Result<T, CqlError> {
        Err(CqlError::Invalid(what.to_owned()))
    }

    /// expr := term (AND term)*
    fn expr(&mut self) -> Result<(), CqlError> {
        self.term()?;
        loop {
            if is_kw(self.peek(), "and") {
                self.pos += 1;
                self.term()?;
            } else if is_kw(self.peek(), "or") {
                return Err(CqlError::Unsupported("OR".into()));
            } else {
                return Ok(());
            }
        }
    }

    fn term(&mut self) -> Result<(), CqlError> {
        match self.peek() {
            Some(Tok::LParen) => {
                self.pos += 1;
                self.expr()?;
                match self.next() {
                    Some(Tok::RParen) => Ok(()),
                    _ => self.invalid("missing ')'"),
                }
            }
            t if is_kw(t, "not") => Err(CqlError::Unsupported("NOT".into())),
            Some(Tok::Word(_)) => self.clause(),
            _ => self.invalid("expected a field"),
        }
    }

    /// A value: a word, a string, or a function call `name(args)`.
    fn value(&mut self) -> Result<Value, CqlError> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Value::Text(s)),
            Some(Tok::Word(w)) => {
                if self.peek() == Some(&Tok::LParen) {
                    self.pos += 1;
                    let mut args = Vec::new();
                    loop {
                        match self.next() {
                            Some(Tok::RParen) => break,
                            Some(Tok::Comma) => {}
                            Some(Tok::Str(s) | Tok::Word(s)) => args.push(s),
                            _ => return self.invalid("bad function call"),
                        }
                    }
                    Ok(Value::Call(w, args))
                } else if is_reserved(&w) {
                    self.invalid("expected a value")
                } else {
                    Ok(Value::Text(w))
                }
            }
            _ => self.invalid("expected a value"),
        }
    }

    fn values_in(&mut self) -> Result<Vec<String>, CqlError> {
        if self.next() != Some(Tok::LParen) {
            return self.invalid("expected '(' after IN");
        }
        let mut out = Vec::new();
        loop {
            match self.value()? {
                Value::Text(s) => out.push(s),
                Value::Call(..) => return Err(CqlError::Unsupported("functions in IN".into())),
            }
            match self.next() {
                Some(Tok::Comma) => {}
                Some(Tok::RParen) => return Ok(out),
                _ => return self.invalid("expected ',' or ')'"),
            }
        }
    }

    fn clause(&mut self) -> Result<(), CqlError> {
        let Some(Tok::Word(field)) = self.next() else {
            return self.invalid("expected a field");
        };
        let field = field.to_ascii_lowercase();
        // Operator: = != > >= < <= ~ !~, IN, NOT IN.
        let op: &str = match self.next() {
            Some(Tok::Op(op)) => op,
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("in") => "in",
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("not") => {
                if is_kw(self.peek(), "in") {
                    return Err(CqlError::Unsupported("NOT IN".into()));
                }
                return self.invalid("expected IN after NOT");
            }
            _ => return self.invalid("expected an operator"),
        };
        match field.as_str() {
            "type" | "space" | "space.key" => {
                let values = match op {
                    "=" => match self.value()? {
                        Value::Text(s) => vec![s],
                        Value::Call(..) => {
                            return Err(CqlError::Unsupported(format!("functions on {field}")))
                        }
                    },
                    "in" => self.values_in()?,
                    "!=" => return Err(CqlError::Unsupported(format!("{field} !="))),
                    _ => return self.invalid(&format!("operator {op} is not valid for {field}")),
                };
                if field == "type" {
                    let mut types = Vec::new();
                    for v in values {
                        let t = v.to_ascii_lowercase();
                        if !TYPES.contains(&t.as_str()) {
                            return self.invalid(&format!("unknown type {v}"));
                        }
                        types.push(t);
                    }
                    self.q.types = Some(intersect_lists(self.q.types.take(), types));
                } else {
                    self.q.spaces = Some(intersect_lists(self.q.spaces.take(), values));
                }
                Ok(())
            }
            "id" | "content" | "label" | "ancestor" => {
                let values = match op {
                    "=" => match self.value()? {
                        Value::Text(s) => vec![s],
                        Value::Call(..) => {
                            return Err(CqlError::Unsupported(format!("functions on {field}")))
                        }
                    },
                    "in" => self.values_in()?,
                    "!=" => return Err(CqlError::Unsupported(format!("{field} !="))),
                    _ => return self.invalid(&format!("operator {op} is not valid for {field}")),
                };
                if field == "label" {
                    self.q.labels.push(values);
                    return Ok(());
                }
                let mut ids = Vec::with_capacity(values.len());
                for v in &values {
                    let id = v.strip_prefix("att").unwrap_or(v);
                    match id.trim().parse::<u64>() {
                        Ok(id) => ids.push(id),
                        Err(_) => {
                            return self
                                .invalid(&format!("{field} must be a content id, not {v:?}"))
                        }
                    }
                }
                if field == "ancestor" {
                    self.q.ancestors.push(ids);
                } else {
                    self.q.ids = Some(match self.q.ids.take() {
                        None => ids,
                        Some(prev) => prev.into_iter().filter(|i| ids.contains(i)).collect(),
                    });
                }
                Ok(())
            }
            "lastmodified" | "created" => {
                let (start, end) = match self.value()? {
                    Value::Text(s) => parse_date(&s)
                        .ok_or_else(|| CqlError::Invalid(format!("invalid date {s:?}")))?,
                    Value::Call(f, args) => {
                        let t = eval_function(&f, &args, self.now)?;
                        (t, t + 1)
                    }
                };
                let r = match op {
                    "=" => Range {
                        lo: Some(start),
                        hi: Some(end),
                    },
                    ">=" => Range {
                        lo: Some(start),
                        hi: None,
                    },
                    ">" => Range {
                        lo: Some(end),
                        hi: None,
                    },
                    "<" => Range {
                        lo: None,
                        hi: Some(start),
                    },
                    "<=" => Range {
                        lo: None,
                        hi: Some(end),
                    },
                    "!=" => return Err(CqlError::Unsupported(format!("{field} !="))),
                    _ => return self.invalid(&format!("operator {op} is not valid for {field}")),
                };
                if field == "created" {
                    self.q.created = self.q.created.intersect(r);
                } else {
                    self.q.lastmodified = self.q.lastmodified.intersect(r);
                }
                Ok(())
            }
            _ => Err(CqlError::Unsupported(format!("field {field}"))),
        }
    }

    fn order_by(&mut self) -> Result<(), CqlError> {
        // After ORDER: BY field [ASC|DESC] (, field [ASC|DESC])*
        if !is_kw(self.next().as_ref(), "by") {
            return self.invalid("expected BY after ORDER");
        }
        let mut first = true;
        loop {
            let Some(Tok::Word(f)) = self.next() else {
                return self.invalid("expected a field after ORDER BY");
            };
            let field = match f.to_ascii_lowercase().as_str() {
                "lastmodified" => OrderField::LastModified,
                "created" => OrderField::Created,
                "id" => OrderField::Id,
                "title" => return Err(CqlError::Unsupported("ORDER BY title".into())),
                _ => return self.invalid(&format!("cannot order by {f}")),
            };
            let mut desc = false;
            if is_kw(self.peek(), "asc") {
                self.pos += 1;
            } else if is_kw(self.peek(), "desc") {
                self.pos += 1;
                desc = true;
            }
            if first {
                self.q.order = Some((field, desc));
                first = false;
            }
            if self.peek() == Some(&Tok::Comma) {
                self.pos += 1;
            } else {
                return Ok(());
            }
        }
    }
}

#[derive(Debug)]
enum Value {
    Text(String),
    Call(String, Vec<String>),
}

fn is_reserved(w: &str) -> bool {
    ["and", "or", "not", "in", "order", "by"]
        .iter()
        .any(|k| w.eq_ignore_ascii_case(k))
}

fn intersect_lists(prev: Option<Vec<String>>, next: Vec<String>) -> Vec<String> {
    match prev {
        None => next,
        Some(p) => p
            .into_iter()
            .filter(|a| next.iter().any(|b| a.eq_ignore_ascii_case(b)))
            .collect(),
    }
}

/// Parses `cql`; `now` serves `now(...)`.
pub fn parse(cql: &str, now: Ms) -> Result<Query, CqlError> {
    let toks = tokenize(cql)?;
    let mut p = Parser {
        toks: &toks,
        pos: 0,
        now,
        q: Query {
            types: None,
            spaces: None,
            lastmodified: Range::ALL,
            created: Range::ALL,
            ids: None,
            labels: Vec::new(),
            ancestors: Vec::new(),
            order: None,
        },
    };
    if toks.is_empty() {
        return Err(CqlError::Invalid("empty query".into()));
    }
    if !is_kw(p.peek(), "order") {
        p.expr()?;
    }
    if is_kw(p.peek(), "order") {
        p.pos += 1;
        p.order_by()?;
    }
    if p.pos < toks.len() {
        return p.invalid("unexpected text after the query");
    }
    Ok(p.q)
}

/// `"yyyy-MM-dd HH:mm"`, `"yyyy/MM/dd HH:mm"`, `"yyyy-MM-dd"`, `"yyyy/MM/dd"`
/// (UTC) -> `[start, end)` of that minute or day.
pub fn parse_date(s: &str) -> Option<(Ms, Ms)> {
    let s = s.trim();
    let (date, time) = match s.split_once(' ') {
        Some((d, t)) => (d, Some(t.trim())),
        None => (s, None),
    };
    let sep = if date.contains('-') { '-' } else { '/' };
    let mut parts = date.split(sep);
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || y.len() != 4
        || m.is_empty()
        || m.len() > 2
        || d.is_empty()
        || d.len() > 2
    {
        return None;
    }
    let day = NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)?;
    match time {
        None => {
            let start = Utc
                .from_utc_datetime(&day.and_hms_opt(0, 0, 0)?)
                .timestamp_millis();
            Some((start, start + 86_400_000))
        }
        Some(t) => {
            let (h, mi) = t.split_once(':')?;
            if h.is_empty() || h.len() > 2 || mi.len() != 2 {
                return None;
            }
            let dt = day.and_hms_opt(h.parse().ok()?, mi.parse().ok()?, 0)?;
            let start = Utc.from_utc_datetime(&dt).timestamp_millis();
            Some((start, start + 60_000))
        }
    }
}

/// `now()`, `now("-4w")`, `now("+1d")`, `now("-2h")`: units y M w d h m.
fn eval_function(name: &str, args: &[String], now: Ms) -> Result<Ms, CqlError> {
    if !name.eq_ignore_ascii_case("now") {
        return Err(CqlError::Unsupported(format!("function {name}()")));
    }
    let Some(arg) = args.first() else {
        return Ok(now);
    };
    let bad = || CqlError::Invalid(format!("invalid now() argument {arg:?}"));
    let arg = arg.trim();
    let (sign, rest) = match arg.as_bytes().first() {
        Some(b'-') => (-1i64, &arg[1..]),
        Some(b'+') => (1, &arg[1..]),
        _ => (1, arg),
    };
    let unit = rest.chars().last().ok_or_else(bad)?;
    let n: i64 = rest[..rest.len() - unit.len_utf8()]
        .parse()
        .map_err(|_| bad())?;
    let minute = 60_000i64;
    let n_signed = sign * n;
    let t = match unit {
        'm' => now + n_signed * minute,
        'h' => now + n_signed * 60 * minute,
        'd' => now + n_signed * 1440 * minute,
        'w' => now + n_signed * 7 * 1440 * minute,
        'M' | 'y' => {
            let months = u32::try_from(if unit == 'y' { n * 12 } else { n }).map_err(|_| bad())?;
            let dt = Utc.timestamp_millis_opt(now).single().ok_or_else(bad)?;
            let shifted = if sign < 0 {
                dt.checked_sub_months(Months::new(months))
            } else {
                dt.checked_add_months(Months::new(months))
            };
            shifted.ok_or_else(bad)?.timestamp_millis()
        }
        _ => return Err(bad()),
    };
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> Ms {
        parse_date(s).unwrap().0
    }

    #[test]
    fn the_plugins_queries() {
        let q = parse(r#"type=page AND space="DOCS""#, 0).unwrap();
        assert_eq!(q.types, Some(vec!["page".to_owned()]));
        assert_eq!(q.spaces, Some(vec!["DOCS".to_owned()]));
        assert!(q.lastmodified.is_all() && q.order.is_none());

        let q = parse(
            r#"type=attachment AND space="DOCS" AND lastmodified >= "2026-01-02 03:04" ORDER BY lastmodified ASC"#,
            0,
        )
        .unwrap();
        assert_eq!(q.types, Some(vec!["attachment".to_owned()]));
        assert_eq!(
            q.lastmodified,
            Range {
                lo: Some(ms("2026-01-02 03:04")),
                hi: None
            }
        );
        assert_eq!(q.order, Some((OrderField::LastModified, false)));

        // Case, spacing, quoting and parentheses vary.
        let q = parse(
            "(TYPE = folder) and Space = DOCS and lastModified>='2025/12/31 23:59' order by id desc",
            0,
        )
        .unwrap();
        assert_eq!(q.types, Some(vec!["folder".to_owned()]));
        assert_eq!(q.spaces, Some(vec!["DOCS".to_owned()]));
        assert_eq!(q.lastmodified.lo, Some(ms("2025-12-31 23:59")));
        assert_eq!(q.order, Some((OrderField::Id, true)));

        let q = parse(r#"type in (page, "comment") AND space.key in ("A","B")"#, 0).unwrap();
        assert_eq!(q.types, Some(vec!["page".to_owned(), "comment".to_owned()]));
        assert_eq!(q.spaces.unwrap().len(), 2);
        assert!(parse("ORDER BY created", 0).unwrap().types.is_none());
    }

    #[test]
    fn ids_labels_and_ancestors() {
        let q = parse(
            r#"id in (12, "att34",56) AND label = "howto" AND label in (a, "team-b") AND ancestor = 7 AND type in (page, blogpost)"#,
            0,
        )
        .unwrap();
        assert_eq!(q.ids, Some(vec![12, 34, 56]));
        assert_eq!(
            q.labels,
            vec![
                vec!["howto".to_owned()],
                vec!["a".to_owned(), "team-b".to_owned()]
            ]
        );
        assert_eq!(q.ancestors, vec![vec![7]]);
        assert_eq!(q.types.unwrap().len(), 2);
        let q = parse("id = 5 AND content in (5, 6)", 0).unwrap();
        assert_eq!(q.ids, Some(vec![5]));
        assert!(matches!(
            parse("ancestor = home", 0),
            Err(CqlError::Invalid(_))
        ));
        assert!(matches!(
            parse("ancestor ~ 5", 0),
            Err(CqlError::Invalid(_))
        ));
    }

    #[test]
    fn date_semantics() {
        let m = ms("2026-01-02 03:04");
        assert_eq!(m, 1_767_323_040_000);
        assert_eq!(parse_date("2026/01/02 03:04"), Some((m, m + 60_000)));
        let day = ms("2026-01-02");
        assert_eq!(parse_date("2026/1/2"), Some((day, day + 86_400_000)));
        let r = |op: &str| {
            parse(&format!("lastmodified {op} \"2026-01-02 03:04\""), 0)
                .unwrap()
                .lastmodified
        };
        assert_eq!(
            r(">="),
            Range {
                lo: Some(m),
                hi: None
            }
        );
        assert_eq!(
            r(">"),
            Range {
                lo: Some(m + 60_000),
                hi: None
            }
        );
        assert_eq!(
            r("<"),
            Range {
                lo: None,
                hi: Some(m)
            }
        );
        assert_eq!(
            r("<="),
            Range {
                lo: None,
                hi: Some(m + 60_000)
            }
        );
        assert_eq!(
            r("="),
            Range {
                lo: Some(m),
                hi: Some(m + 60_000)
            }
        );
        let both = parse(
            r#"lastmodified >= "2026-01-01" AND lastmodified < "2026-01-03" AND lastmodified > 2026-01-01"#,
            0,
        )
        .unwrap()
        .lastmodified;
        assert_eq!(
            both,
            Range {
                lo: Some(ms("2026-01-02")),
                hi: Some(ms("2026-01-03"))
            }
        );
        assert!(both.contains(ms("2026-01-02")) && !both.contains(ms("2026-01-03")));
        for bad in [
            "2026-13-01",
            "2026-01-02 3",
            "26-01-02",
            "2026-01-02 03:04:05",
            "yesterday",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn now_function() {
        let now = ms("2026-03-31 12:00");
        let lo = |arg: &str| {
            parse(&format!("created >= now({arg})"), now)
                .unwrap()
                .created
                .lo
                .unwrap()
        };
        assert_eq!(lo(""), now);
        assert_eq!(lo("\"-4w\""), now - 28 * 86_400_000);
        assert_eq!(lo("'-90m'"), now - 90 * 60_000);
        assert_eq!(lo("\"+1d\""), now + 86_400_000);
        assert_eq!(lo("\"-1M\""), ms("2026-02-28 12:00"));
        assert_eq!(lo("\"-1y\""), ms("2025-03-31 12:00"));
        assert!(matches!(
            parse("created >= now(\"-4q\")", now),
            Err(CqlError::Invalid(_))
        ));
        assert!(matches!(
            parse("created >= startOfDay()", now),
            Err(CqlError::Unsupported(_))
        ));
    }

    #[test]
    fn errors() {
        for bad in [
            "",
            "type=",
            "type = page AND",
            "type page",
            "(type=page",
            "type=page)",
            "type=nonsense",
            "lastmodified >= \"tomorrow\"",
            "type=page ORDER lastmodified",
            "type=page ORDER BY colour",
            "type=\"page",
            "space ~ DOCS",
            "type IN page",
            "type=page AND AND space=X",
        ] {
            assert!(
                matches!(parse(bad, 0), Err(CqlError::Invalid(_))),
                "{bad}: {:?}",
                parse(bad, 0)
            );
        }
        for unsupported in [
            "type=page OR type=folder",
            "NOT type=page",
            "type NOT IN (page)",
            "label != x",
            "title ~ \"x\"",
            "type != page",
            "type=page ORDER BY title",
        ] {
            assert!(
                matches!(parse(unsupported, 0), Err(CqlError::Unsupported(_))),
                "{unsupported}: {:?}",
                parse(unsupported, 0)
            );
        }
    }
}
