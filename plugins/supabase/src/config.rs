//! The settings: what `configure` accepts and the manifest documents.
//!
//! Per-table settings are given once for every table (`primary_key`) and
//! overridden per table (`tasks.primary_key`, which synchost.toml writes as
//! `[sources.db.settings.tasks] primary_key = "task_id"`).

use std::collections::BTreeMap;
use synchost_sdk::{Error, SettingInfo, Settings};

/// The validated settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The project URL without a trailing `/` and without `/rest/v1`.
    pub base_url: String,
    /// The PostgreSQL schema PostgREST serves the tables from.
    pub schema: String,
    /// The tables to sync; `None`: every table of the OpenAPI root (`*`).
    pub tables: Option<Vec<String>>,
    /// Seconds a delta looks back before its watermark.
    pub overlap_seconds: u32,
    /// The per-table settings given for every table.
    defaults: Columns,
    /// Per-table overrides, by table.
    overrides: BTreeMap<String, Columns>,
}

/// How one table is read and written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    pub primary_key: String,
    pub change_column: String,
    pub version_column: Option<String>,
    pub soft_delete_column: Option<String>,
    pub title_column: Option<String>,
}

impl Table {
    /// The column whose text is a row's version: the version column, else
    /// the change column. Updates and deletes are conditional on it.
    pub fn version_column(&self) -> &str {
        self.version_column
            .as_deref()
            .unwrap_or(&self.change_column)
    }

    /// Columns the database maintains and a push never writes.
    pub fn server_managed(&self, column: &str) -> bool {
        column == self.change_column || self.version_column.as_deref() == Some(column)
    }
}

/// The per-table settings as given (absent: inherit).
#[derive(Debug, Clone, Default, PartialEq)]
struct Columns {
    primary_key: Option<String>,
    change_column: Option<String>,
    version_column: Option<String>,
    soft_delete_column: Option<String>,
    title_column: Option<String>,
}

/// The names of the per-table settings.
const PER_TABLE: [&str; 5] = [
    "primary_key",
    "change_column",
    "version_column",
    "soft_delete_column",
    "title_column",
];

pub const DEFAULT_PRIMARY_KEY: &str = "id";
pub const DEFAULT_CHANGE_COLUMN: &str = "updated_at";
pub const DEFAULT_OVERLAP_SECONDS: u32 = 300;

pub fn setting_infos() -> Vec<SettingInfo> {
    vec![
        SettingInfo::required(
            "base_url",
            "The project URL, e.g. https://PROJECT.supabase.co (the REST API is base_url/rest/v1)",
        ),
        SettingInfo::optional(
            "schema",
            "The PostgreSQL schema of the tables (other than public: sent as Accept-Profile and \
             Content-Profile)",
        )
        .default_value("public"),
        SettingInfo::required(
            "tables",
            "Comma-separated tables to sync, one stream each; `*`: every table the API lists",
        ),
        SettingInfo::optional(
            "primary_key",
            "The primary key column of every table (one column); per table: TABLE.primary_key",
        )
        .default_value(DEFAULT_PRIMARY_KEY),
        SettingInfo::optional(
            "change_column",
            "The column the database sets on every insert and update (timestamptz, NOT NULL): \
             the listing order and the delta watermark; per table: TABLE.change_column",
        )
        .default_value(DEFAULT_CHANGE_COLUMN),
        SettingInfo::optional(
            "version_column",
            "A column the database changes on every update, used as the version instead of the \
             change column; per table: TABLE.version_column",
        ),
        SettingInfo::optional(
            "soft_delete_column",
            "A boolean or timestamp column that marks deleted rows (set and not false: deleted); \
             per table: TABLE.soft_delete_column",
        ),
        SettingInfo::optional(
            "title_column",
            "The column shown as a record's title; per table: TABLE.title_column",
        ),
        SettingInfo::optional(
            "delta_overlap_seconds",
            "How far a delta looks back before its watermark, for rows committed late by long \
             transactions (already stored versions are skipped)",
        )
        .default_value(DEFAULT_OVERLAP_SECONDS.to_string()),
    ]
}

impl Config {
    pub fn from_settings(settings: &Settings) -> Result<Config, Error> {
        let base_url = settings.url("base_url")?;
        // `https://x.supabase.co/rest/v1` is the API, not the project.
        let base_url = match base_url.strip_suffix("/rest/v1") {
            Some(project) => project.to_owned(),
            None => base_url,
        };
        let schema = settings.get_or("schema", "public").trim().to_owned();
        check_name("schema", &schema)?;
        let raw_tables = settings.required("tables")?.trim();
        let tables = if raw_tables == "*" {
            None
        } else {
            let mut names: Vec<String> = Vec::new();
            for name in raw_tables
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
            {
                check_name("tables", name)?;
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_owned());
                }
            }
            if names.is_empty() {
                return Err(Error::invalid_config(
                    "setting `tables` names no table (comma-separated names, or `*`)",
                ));
            }
            Some(names)
        };
        let overlap_seconds =
            settings.parse_or("delta_overlap_seconds", DEFAULT_OVERLAP_SECONDS)?;
        if overlap_seconds > 7 * 86_400 {
            return Err(Error::invalid_config(format!(
                "setting `delta_overlap_seconds` must be at most 604800 (7 days), got {overlap_seconds}"
            )));
        }
        let defaults = columns(settings, "")?;
        let mut overrides: BTreeMap<String, Columns> = BTreeMap::new();
        for (name, _) in settings.iter() {
            let Some((table, key)) = name.rsplit_once('.') else {
                continue;
            };
            if !PER_TABLE.contains(&key) {
                return Err(Error::invalid_config(format!(
                    "setting `{name}`: unknown per-table setting `{key}` (per-table settings: {})",
                    PER_TABLE.join(", ")
                )));
            }
            check_name(name, table)?;
            if let Some(names) = &tables {
                if !names.iter().any(|n| n == table) {
                    return Err(Error::invalid_config(format!(
                        "setting `{name}`: table `{table}` is not in `tables` ({})",
                        names.join(", ")
                    )));
                }
            }
            if !overrides.contains_key(table) {
                let given = columns(settings, &format!("{table}."))?;
                overrides.insert(table.to_owned(), given);
            }
        }
        Ok(Config {
            base_url,
            schema,
            tables,
            overlap_seconds,
            defaults,
            overrides,
        })
    }

    /// The settings of table `name`: its overrides, else the defaults.
    pub fn table(&self, name: &str) -> Table {
        let own = self.overrides.get(name).cloned().unwrap_or_default();
        let d = &self.defaults;
        let pick = |own: Option<String>, default: &Option<String>| own.or_else(|| default.clone());
        Table {
            name: name.to_owned(),
            primary_key: pick(own.primary_key, &d.primary_key)
                .unwrap_or_else(|| DEFAULT_PRIMARY_KEY.to_owned()),
            change_column: pick(own.change_column, &d.change_column)
                .unwrap_or_else(|| DEFAULT_CHANGE_COLUMN.to_owned()),
            version_column: pick(own.version_column, &d.version_column),
            soft_delete_column: pick(own.soft_delete_column, &d.soft_delete_column),
            title_column: pick(own.title_column, &d.title_column),
        }
    }

    /// True when `name` is one of the configured tables (any table for `*`).
    pub fn has_table(&self, name: &str) -> bool {
        match &self.tables {
            Some(names) => names.iter().any(|n| n == name),
            None => valid_name(name),
        }
    }
}

/// The per-table settings with `prefix` (`""` or `TABLE.`).
fn columns(settings: &Settings, prefix: &str) -> Result<Columns, Error> {
    let get = |key: &str| -> Result<Option<String>, Error> {
        let name = format!("{prefix}{key}");
        match settings.get(&name).map(str::trim) {
            None => Ok(None),
            Some(value) => {
                check_name(&name, value)?;
                Ok(Some(value.to_owned()))
            }
        }
    };
    Ok(Columns {
        primary_key: get("primary_key")?,
        change_column: get("change_column")?,
        version_column: get("version_column")?,
        soft_delete_column: get("soft_delete_column")?,
        title_column: get("title_column")?,
    })
}

/// A table, column or schema name this plugin can put in a PostgREST query
/// without quoting: letters, digits, `_` and `$`, at most 63 bytes
/// (PostgreSQL's limit). Composite keys (`a,b`) are refused here too.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '$')
}

fn check_name(setting: &str, name: &str) -> Result<(), Error> {
    if valid_name(name) {
        return Ok(());
    }
    let composite = if name.contains(',') && setting.ends_with("primary_key") {
        " (composite primary keys are not supported)"
    } else {
        ""
    };
    Err(Error::invalid_config(format!(
        "setting `{setting}`: `{name}` is not a table or column name synchost supports \
         (letters, digits, `_` and `$`, at most 63 bytes){composite}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn settings(pairs: &[(&str, &str)]) -> Settings {
        pairs.iter().copied().collect()
    }

    fn err(pairs: &[(&str, &str)]) -> String {
        match Config::from_settings(&settings(pairs)) {
            Err(Error::InvalidConfig(m)) => m,
            other => panic!("{pairs:?}: {other:?}"),
        }
    }

    const BASE: (&str, &str) = ("base_url", "https://abc.supabase.co");

    #[test]
    fn defaults() {
        let c =
            Config::from_settings(&settings(&[BASE, ("tables", "notes, tasks,notes")])).unwrap();
        assert_eq!(c.base_url, "https://abc.supabase.co");
        assert_eq!(c.schema, "public");
        assert_eq!(c.tables, Some(vec!["notes".into(), "tasks".into()]));
        assert_eq!(c.overlap_seconds, 300);
        let t = c.table("notes");
        assert_eq!(
            t,
            Table {
                name: "notes".into(),
                primary_key: "id".into(),
                change_column: "updated_at".into(),
                version_column: None,
                soft_delete_column: None,
                title_column: None,
            }
        );
        assert_eq!(t.version_column(), "updated_at");
        assert!(t.server_managed("updated_at") && !t.server_managed("id"));
        assert!(c.has_table("tasks") && !c.has_table("other"));
        let infos = setting_infos();
        for (name, default) in [
            ("primary_key", DEFAULT_PRIMARY_KEY),
            ("change_column", DEFAULT_CHANGE_COLUMN),
            ("delta_overlap_seconds", "300"),
            ("schema", "public"),
        ] {
            let info = infos.iter().find(|s| s.name == name).unwrap();
            assert_eq!(info.default_value.as_deref(), Some(default), "{name}");
        }
    }

    #[test]
    fn per_table_settings_override_the_defaults() {
        let c = Config::from_settings(&settings(&[
            ("base_url", "https://abc.supabase.co/rest/v1/"),
            ("schema", "crm"),
            ("tables", "notes,tasks"),
            ("version_column", "rev"),
            ("title_column", "title"),
            ("tasks.primary_key", "task_id"),
            ("tasks.change_column", "modified"),
            ("tasks.soft_delete_column", "deleted_at"),
            ("delta_overlap_seconds", "0"),
        ]))
        .unwrap();
        assert_eq!(c.base_url, "https://abc.supabase.co");
        assert_eq!(c.schema, "crm");
        assert_eq!(c.overlap_seconds, 0);
        let notes = c.table("notes");
        assert_eq!(
            (notes.primary_key.as_str(), notes.change_column.as_str()),
            ("id", "updated_at")
        );
        assert_eq!(notes.version_column(), "rev");
        assert_eq!(notes.title_column.as_deref(), Some("title"));
        let tasks = c.table("tasks");
        assert_eq!(tasks.primary_key, "task_id");
        assert_eq!(tasks.change_column, "modified");
        assert_eq!(tasks.version_column(), "rev");
        assert_eq!(tasks.soft_delete_column.as_deref(), Some("deleted_at"));
        assert!(tasks.server_managed("rev") && tasks.server_managed("modified"));
    }

    #[test]
    fn every_table() {
        let c = Config::from_settings(&settings(&[
            BASE,
            ("tables", " * "),
            ("anything.primary_key", "k"),
        ]))
        .unwrap();
        assert_eq!(c.tables, None);
        assert!(c.has_table("anything") && c.has_table("other"));
        assert!(!c.has_table("bad name"));
        assert_eq!(c.table("anything").primary_key, "k");
    }

    #[test]
    fn bad_settings_name_themselves() {
        assert!(err(&[("tables", "notes")]).contains("`base_url`"));
        assert!(err(&[BASE]).contains("`tables`"));
        assert!(err(&[BASE, ("tables", " , ")]).contains("`tables`"));
        assert!(err(&[BASE, ("tables", "no tes")]).contains("`no tes`"));
        assert!(err(&[BASE, ("tables", "a"), ("schema", "x;y")]).contains("`schema`"));
        let m = err(&[BASE, ("tables", "a"), ("primary_key", "a,b")]);
        assert!(
            m.contains("`primary_key`") && m.contains("composite"),
            "{m}"
        );
        let m = err(&[BASE, ("tables", "a"), ("b.primary_key", "k")]);
        assert!(
            m.contains("`b.primary_key`") && m.contains("not in `tables`"),
            "{m}"
        );
        let m = err(&[BASE, ("tables", "a"), ("a.primary_ky", "k")]);
        assert!(m.contains("unknown per-table setting `primary_ky`"), "{m}");
        let m = err(&[BASE, ("tables", "a"), ("a.title_column", "t\"x")]);
        assert!(m.contains("`a.title_column`"), "{m}");
        assert!(
            err(&[BASE, ("tables", "a"), ("delta_overlap_seconds", "-1")])
                .contains("`delta_overlap_seconds`")
        );
        assert!(
            err(&[BASE, ("tables", "a"), ("delta_overlap_seconds", "999999")])
                .contains("`delta_overlap_seconds`")
        );
    }
}
