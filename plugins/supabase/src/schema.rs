//! What PostgREST's OpenAPI root (`GET /rest/v1/`, Swagger 2.0) says about
//! the tables: `definitions.<table>.properties.<column>` with its `format`
//! (`uuid`, `timestamp with time zone`, `boolean`, …) and `<pk/>` in the
//! `description` of primary key columns. The streams are checked against
//! it; the column types decide what a push writes.

use crate::config::{Config, Table};
use serde_json::Value;
use std::collections::BTreeMap;
use synchost_sdk::Error;

/// One column as the root describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Column {
    /// PostgreSQL's type name (`format`), e.g. `uuid`, `bigint`.
    pub format: String,
    pub primary_key: bool,
}

/// The tables (and views) of the schema, by name, with their columns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Described {
    pub tables: BTreeMap<String, BTreeMap<String, Column>>,
}

/// Most tables and columns taken from a root (a hostile root is bounded).
const MAX_TABLES: usize = 256;
const MAX_COLUMNS: usize = 1600; // PostgreSQL's own limit per table

impl Described {
    /// Reads the root's `definitions`; `invalid-response` when it has none.
    pub fn parse(body: &[u8], what: &str) -> Result<Described, Error> {
        let root: Value = serde_json::from_slice(body)
            .map_err(|e| Error::invalid_response(format!("{what}: not JSON: {e}")))?;
        let definitions = root
            .get("definitions")
            .and_then(Value::as_object)
            .ok_or_else(|| {
                Error::invalid_response(format!("{what}: an OpenAPI root without `definitions`"))
            })?;
        let mut tables = BTreeMap::new();
        for (name, definition) in definitions.iter().take(MAX_TABLES) {
            let properties = definition.get("properties").and_then(Value::as_object);
            let columns = properties
                .into_iter()
                .flatten()
                .take(MAX_COLUMNS)
                .map(|(column, p)| {
                    let text = |key: &str| p.get(key).and_then(Value::as_str).unwrap_or("");
                    let column_info = Column {
                        format: text("format").to_owned(),
                        primary_key: text("description").contains("<pk/>"),
                    };
                    (column.clone(), column_info)
                })
                .collect();
            tables.insert(name.clone(), columns);
        }
        Ok(Described { tables })
    }

    /// The column `column` of `table`, when described.
    pub fn column(&self, table: &str, column: &str) -> Option<&Column> {
        self.tables.get(table)?.get(column)
    }

    /// The streams: the configured tables, each checked to exist with the
    /// columns its settings name (`invalid-config` naming what is missing);
    /// for `*`, every described table that passes, and why the others
    /// were skipped.
    pub fn check(&self, config: &Config) -> Result<(Vec<String>, Vec<String>), Error> {
        let Some(names) = &config.tables else {
            let (mut streams, mut skipped) = (Vec::new(), Vec::new());
            for name in self.tables.keys() {
                match self.problem(config, name) {
                    None => streams.push(name.clone()),
                    Some(why) => skipped.push(why),
                }
            }
            return Ok((streams, skipped));
        };
        match names.iter().find_map(|name| self.problem(config, name)) {
            Some(why) => Err(Error::invalid_config(why)),
            None => Ok((names.clone(), Vec::new())),
        }
    }

    /// Why table `name` cannot be a stream, if it cannot.
    fn problem(&self, config: &Config, name: &str) -> Option<String> {
        if !crate::config::valid_name(name) {
            return Some(format!(
                "table \"{}\" has a name synchost does not support",
                crate::records::clip(name)
            ));
        }
        let Some(columns) = self.tables.get(name) else {
            return Some(format!(
                "table \"{name}\" does not exist in schema {} (setting `tables`)",
                config.schema
            ));
        };
        let table = config.table(name);
        for (setting, column) in configured_columns(&table) {
            if !columns.contains_key(column) {
                return Some(format!(
                    "table \"{name}\" has no column \"{column}\" (setting `{setting}` or \
                     `{name}.{setting}`)"
                ));
            }
        }
        let keys: Vec<&str> = columns
            .iter()
            .filter(|(_, c)| c.primary_key)
            .map(|(n, _)| n.as_str())
            .collect();
        if keys.len() > 1 && keys.contains(&table.primary_key.as_str()) {
            return Some(format!(
                "table \"{name}\" has a composite primary key ({}): not supported; set \
                 `{name}.primary_key` to a unique column",
                keys.join(", ")
            ));
        }
        None
    }
}

/// The columns a table's settings name, with the setting.
fn configured_columns(t: &Table) -> Vec<(&'static str, &str)> {
    let mut columns = vec![
        ("primary_key", t.primary_key.as_str()),
        ("change_column", t.change_column.as_str()),
    ];
    for (setting, column) in [
        ("version_column", &t.version_column),
        ("soft_delete_column", &t.soft_delete_column),
        ("title_column", &t.title_column),
    ] {
        if let Some(column) = column {
            columns.push((setting, column.as_str()));
        }
    }
    columns
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use synchost_sdk::Settings;

    /// The shape of PostgREST's root for a seeded table (Swagger 2.0).
    pub const ROOT: &str = r#"{
      "swagger": "2.0",
      "info": {"title": "standard public schema", "version": "12.2.3"},
      "paths": {"/": {}, "/notes": {}},
      "definitions": {
        "notes": {
          "required": ["id"],
          "properties": {
            "id": {"format": "uuid", "type": "string",
                   "description": "Note:\nThis is a Primary Key.<pk/>", "default": "gen_random_uuid()"},
            "title": {"format": "text", "type": "string"},
            "body": {"format": "text", "type": "string"},
            "done": {"format": "boolean", "type": "boolean"},
            "updated_at": {"format": "timestamp with time zone", "type": "string", "default": "now()"}
          },
          "type": "object"
        },
        "pairs": {
          "properties": {
            "a": {"format": "bigint", "type": "integer", "description": "Note:\nThis is a Primary Key.<pk/>"},
            "b": {"format": "bigint", "type": "integer", "description": "Note:\nThis is a Primary Key.<pk/>"},
            "updated_at": {"format": "timestamp with time zone", "type": "string"}
          },
          "type": "object"
        }
      }
    }"#;

    fn config(pairs: &[(&str, &str)]) -> Config {
        let mut all = vec![("base_url", "https://abc.supabase.co")];
        all.extend_from_slice(pairs);
        Config::from_settings(&all.into_iter().collect::<Settings>()).unwrap()
    }

    fn invalid(d: &Described, pairs: &[(&str, &str)]) -> String {
        match d.check(&config(pairs)) {
            Err(Error::InvalidConfig(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_root_names_tables_columns_and_keys() {
        let d = Described::parse(ROOT.as_bytes(), "GET /").unwrap();
        assert_eq!(d.tables.len(), 2);
        let id = d.column("notes", "id").unwrap();
        assert_eq!((id.format.as_str(), id.primary_key), ("uuid", true));
        assert!(!d.column("notes", "done").unwrap().primary_key);
        assert_eq!(d.column("notes", "missing"), None);
        assert_eq!(
            d.check(&config(&[("tables", "notes")])).unwrap(),
            (vec!["notes".to_string()], vec![])
        );
        // `*`: the tables that fit; `pairs` has no `id`, then a composite key.
        let (streams, skipped) = d.check(&config(&[("tables", "*")])).unwrap();
        assert_eq!(streams, ["notes"]);
        assert!(skipped[0].contains("has no column \"id\""), "{skipped:?}");
        let (streams, skipped) = d
            .check(&config(&[("tables", "*"), ("pairs.primary_key", "a")]))
            .unwrap();
        assert_eq!(streams, ["notes"]);
        assert!(skipped[0].contains("composite"), "{skipped:?}");
        assert_eq!(
            invalid(&d, &[("tables", "pairs"), ("pairs.primary_key", "a")]),
            "table \"pairs\" has a composite primary key (a, b): not supported; set \
             `pairs.primary_key` to a unique column"
        );
    }

    #[test]
    fn missing_tables_and_columns_are_named() {
        let d = Described::parse(ROOT.as_bytes(), "GET /").unwrap();
        assert_eq!(
            invalid(&d, &[("tables", "notes,tasks")]),
            "table \"tasks\" does not exist in schema public (setting `tables`)"
        );
        let m = invalid(&d, &[("tables", "notes"), ("notes.version_column", "rev")]);
        assert!(
            m.contains("table \"notes\" has no column \"rev\"") && m.contains("version_column"),
            "{m}"
        );
        let m = invalid(&d, &[("tables", "notes"), ("change_column", "modified")]);
        assert!(m.contains("\"modified\""), "{m}");
        for bad in ["[]", "{}", "not json", r#"{"definitions": []}"#] {
            assert!(matches!(
                Described::parse(bad.as_bytes(), "GET /"),
                Err(Error::InvalidResponse(m)) if m.starts_with("GET /")
            ));
        }
    }
}
