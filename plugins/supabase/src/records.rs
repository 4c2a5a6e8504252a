//! Rows as records: id = the primary key's value as text, content = the
//! row's JSON object exactly as PostgREST sent it, version = the version
//! column's text (else the change column's), updated-at = the change column.

use crate::config::Table;
use serde_json::{json, Map, Value};
use synchost_sdk::http::Response;
use synchost_sdk::{Error, Record};

/// One row of an answer: its bytes as sent, and its columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Row<'a> {
    pub raw: &'a [u8],
    pub columns: Map<String, Value>,
}

/// The rows of a JSON array answer; `invalid-response` naming `what` when
/// the body is no array of objects.
pub fn rows<'a>(response: &'a Response, what: &str) -> Result<Vec<Row<'a>>, Error> {
    let bad = |why: String| Error::invalid_response(format!("{what}: {why}"));
    let elements = array_elements(&response.body).map_err(|why| bad(why.into()))?;
    elements
        .into_iter()
        .enumerate()
        .map(|(i, raw)| match serde_json::from_slice::<Value>(raw) {
            Ok(Value::Object(columns)) => Ok(Row { raw, columns }),
            Ok(_) => Err(bad(format!("row {i} is not a JSON object"))),
            Err(e) => Err(bad(format!("row {i} is not JSON: {e}"))),
        })
        .collect()
}

impl Row<'_> {
    /// The text of a key, version or title value: a string as is, a number
    /// as written; `None` for null, booleans, arrays and objects.
    pub fn text(&self, column: &str) -> Option<String> {
        match self.columns.get(column)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// The primary key as text.
    pub fn key(&self, t: &Table) -> Result<String, Error> {
        self.text(&t.primary_key)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                Error::invalid_response(format!(
                    "table \"{}\": a row without a usable primary key `{}` (a string or number)",
                    t.name, t.primary_key
                ))
            })
    }

    /// The change column as text: the listing's order and watermark. A row
    /// without one cannot be listed in order (nulls sort after every value
    /// and match no keyset): the table needs a NOT NULL change column.
    pub fn change(&self, t: &Table, key: &str) -> Result<String, Error> {
        self.text(&t.change_column).ok_or_else(|| {
            Error::invalid_config(format!(
                "table \"{}\": row {} has no value in change column `{}`; the change column must \
                 be NOT NULL and set by the database on every insert and update (setting \
                 `change_column`)",
                t.name,
                clip(key),
                t.change_column
            ))
        })
    }

    /// The version: the version column's text, else the change column's.
    pub fn version(&self, t: &Table, key: &str) -> Result<String, Error> {
        match &t.version_column {
            Some(column) => self.text(column).ok_or_else(|| {
                Error::invalid_config(format!(
                    "table \"{}\": row {} has no value in version column `{column}`",
                    t.name,
                    clip(key)
                ))
            }),
            None => self.change(t, key),
        }
    }

    /// True when the soft-delete column is set: neither null nor `false`.
    pub fn is_deleted(&self, t: &Table) -> bool {
        let Some(column) = &t.soft_delete_column else {
            return false;
        };
        !matches!(
            self.columns.get(column),
            None | Some(Value::Null) | Some(Value::Bool(false))
        )
    }

    /// The row as a record, complete (`with_content`) or partial.
    pub fn record(&self, t: &Table, with_content: bool) -> Result<Record, Error> {
        let key = self.key(t)?;
        let version = self.version(t, &key)?;
        let updated = self.change(t, &key)?;
        let title = t.title_column.as_deref().and_then(|c| self.title(c));
        let record = Record::new(key, version)
            .updated_at(updated)
            .title(title)
            .metadata_json(json!({ "table": t.name }));
        Ok(if with_content {
            record.content(self.raw.to_vec(), "application/json")
        } else {
            record
        })
    }

    fn title(&self, column: &str) -> Option<String> {
        match self.columns.get(column)? {
            Value::Bool(b) => Some(b.to_string()),
            _ => self.text(column),
        }
    }
}

/// At most 80 characters of an untrusted value, for messages.
pub fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}

/// The bytes of each element of the JSON array `body`, as written. Only the
/// array's structure is checked here (brackets, commas, strings); each
/// element is parsed by the caller.
pub fn array_elements(body: &[u8]) -> Result<Vec<&[u8]>, &'static str> {
    let not_array = "the answer is not a JSON array";
    let skip_ws = |mut i: usize| {
        while i < body.len() && matches!(body[i], b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
        }
        i
    };
    let mut i = skip_ws(0);
    if body.get(i) != Some(&b'[') {
        return Err(not_array);
    }
    i = skip_ws(i + 1);
    let mut elements = Vec::new();
    if body.get(i) == Some(&b']') {
        return if skip_ws(i + 1) == body.len() {
            Ok(elements)
        } else {
            Err(not_array)
        };
    }
    loop {
        let start = i;
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        while i < body.len() {
            let b = body[i];
            if in_string {
                match (escaped, b) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_string = false,
                    _ => {}
                }
            } else {
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' if depth == 0 => break,
                    b'}' | b']' => depth -= 1,
                    b',' if depth == 0 => break,
                    _ => {}
                }
            }
            i += 1;
        }
        let mut end = i;
        while end > start && matches!(body[end - 1], b' ' | b'\t' | b'\n' | b'\r') {
            end -= 1;
        }
        if end == start || in_string {
            return Err(not_array);
        }
        elements.push(&body[start..end]);
        match body.get(i) {
            Some(b',') => i = skip_ws(i + 1),
            Some(b']') if skip_ws(i + 1) == body.len() => return Ok(elements),
            _ => return Err(not_array),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use synchost_sdk::Settings;

    fn table(pairs: &[(&str, &str)]) -> Table {
        let mut all = vec![("base_url", "https://abc.supabase.co"), ("tables", "notes")];
        all.extend_from_slice(pairs);
        Config::from_settings(&all.into_iter().collect::<Settings>())
            .unwrap()
            .table("notes")
    }

    fn response(body: &str) -> Response {
        Response::new(200, vec![], body)
    }

    #[test]
    fn elements_keep_their_bytes() {
        let body = br#" [ {"a":"x,]}\"","b":[1,{"c":2}]} ,{"id":2}
        ] "#;
        let elements = array_elements(body).unwrap();
        assert_eq!(
            elements,
            [&br#"{"a":"x,]}\"","b":[1,{"c":2}]}"#[..], br#"{"id":2}"#]
        );
        assert_eq!(array_elements(b"[]").unwrap().len(), 0);
        assert_eq!(array_elements(b" [ ] ").unwrap().len(), 0);
        for bad in [
            &b""[..],
            b"{}",
            b"[",
            b"[{}",
            b"[{},]",
            b"[,{}]",
            b"[{}] x",
            b"[] []",
            br#"["abc]"#,
            b"[{}}]",
        ] {
            assert!(
                array_elements(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    /// A row as PostgreSQL renders it: the timestamp's trailing zeros dropped.
    const ROW: &str = r#"{"id":"5f0c6a57-3f1e-4c43-9f4b-0d8a3c1b2e11","title":"Buy milk","body":"2 l","done":false,"updated_at":"2026-11-30T03:43:04.1234+00:00"}"#;

    #[test]
    fn a_row_is_a_record_with_its_bytes() {
        let body = format!("[{ROW}, {}]", ROW.replace("5f0c", "6f0c"));
        let r = response(&body);
        let rows = rows(&r, "GET x").unwrap();
        assert_eq!(rows.len(), 2);
        let t = table(&[("title_column", "title")]);
        let record = rows[0].record(&t, true).unwrap();
        assert_eq!(record.id, "5f0c6a57-3f1e-4c43-9f4b-0d8a3c1b2e11");
        assert_eq!(record.version, "2026-11-30T03:43:04.1234+00:00");
        assert_eq!(
            record.updated_at.as_deref(),
            Some("2026-11-30T03:43:04.1234+00:00")
        );
        assert_eq!(record.title.as_deref(), Some("Buy milk"));
        assert_eq!(record.content.as_deref(), Some(ROW.as_bytes()));
        assert_eq!(record.content_type, "application/json");
        assert_eq!(record.metadata, r#"{"table":"notes"}"#);
        let partial = rows[1].record(&t, false).unwrap();
        assert!(!partial.is_complete());
        assert_eq!(partial.id, "6f0c6a57-3f1e-4c43-9f4b-0d8a3c1b2e11");
    }

    #[test]
    fn versions_keys_and_soft_deletes() {
        let r = response(
            r#"[{"id":42,"rev":7,"updated_at":"2026-01-01T00:00:00+00:00","deleted":true,"t":true},
                {"id":43,"rev":8,"updated_at":"2026-01-01T00:00:00+00:00","deleted":false},
                {"id":44,"rev":9,"updated_at":"2026-01-01T00:00:00+00:00","deleted":null},
                {"id":45,"rev":9,"updated_at":"2026-01-01T00:00:00+00:00","deleted":"2026-01-02T00:00:00+00:00"}]"#,
        );
        let rows = rows(&r, "x").unwrap();
        let t = table(&[
            ("version_column", "rev"),
            ("soft_delete_column", "deleted"),
            ("title_column", "t"),
        ]);
        let record = rows[0].record(&t, true).unwrap();
        assert_eq!((record.id.as_str(), record.version.as_str()), ("42", "7"));
        assert_eq!(record.title.as_deref(), Some("true"));
        assert_eq!(
            rows.iter().map(|r| r.is_deleted(&t)).collect::<Vec<_>>(),
            [true, false, false, true]
        );
        assert!(!rows[0].is_deleted(&table(&[])));
    }

    #[test]
    fn hostile_rows_are_refused_clearly() {
        let t = table(&[]);
        for (body, needle) in [
            ("{}", "not a JSON array"),
            ("[1]", "row 0 is not a JSON object"),
            ("[{\"id\":1}, {\"id\" 2}]", "row 1 is not JSON"),
        ] {
            let r = response(body);
            let e = rows(&r, "GET x").unwrap_err();
            assert!(
                matches!(&e, Error::InvalidResponse(m) if m.contains(needle) && m.starts_with("GET x")),
                "{body}: {e:?}"
            );
        }
        let r = response(r#"[{"id":null,"updated_at":"x"},{"id":{"a":1}},{"id":""}]"#);
        for row in rows(&r, "x").unwrap() {
            assert!(
                matches!(row.record(&t, true), Err(Error::InvalidResponse(m)) if m.contains("primary key `id`"))
            );
        }
        let r = response(r#"[{"id":"a","updated_at":null}]"#);
        let e = rows(&r, "x").unwrap()[0].record(&t, true).unwrap_err();
        assert!(
            matches!(&e, Error::InvalidConfig(m) if m.contains("change column `updated_at`") && m.contains("NOT NULL")),
            "{e:?}"
        );
        let t = table(&[("version_column", "rev")]);
        let r = response(r#"[{"id":"a","updated_at":"x"}]"#);
        let e = rows(&r, "x").unwrap()[0].record(&t, true).unwrap_err();
        assert!(matches!(&e, Error::InvalidConfig(m) if m.contains("version column `rev`")));
    }
}
