//! Roles, seeded tables and the schema cache (what PostgREST reads from
//! the catalog: tables, columns, types, defaults, primary keys).
//!
//! Setup creates Supabase's roles (`anon`, `authenticated`, `service_role`
//! with BYPASSRLS, granted to the connecting role so it may `SET ROLE`),
//! Supabase's `auth.jwt()`, `auth.uid()` and `auth.role()` for policies,
//! and each `--table`:
//! `id uuid primary key, title text, body text, done boolean default
//! false, updated_at timestamptz not null default now()`, an index on
//! `(updated_at, id)` (what a synced table has for keyset reads), a BEFORE
//! INSERT OR UPDATE trigger setting `updated_at = now()` (the transaction's
//! start), RLS with a policy letting anon read `done = false` rows, and
//! grants: anon SELECT only (so an anon write is refused with 42501),
//! authenticated and service_role everything.

use std::collections::HashMap;

use serde_json::{json, Value};
use tokio_postgres::{Client, GenericClient};

use super::pool::{refs, TextParam};
use super::query::quote_ident;
use crate::fake::words::{mix64, uuid_v4, WORDS};

pub const ANON: &str = "anon";
pub const SERVICE_ROLE: &str = "service_role";

/// Seeded rows' first `updated_at` (epoch µs of 2026-01-01T00:00:00Z);
/// each pair of rows is 1.234567 s later than the one before.
const SEED_EPOCH_US: i64 = 1_767_225_600_000_000;
const SEED_STEP_US: i64 = 1_234_567;

/// `--table [SCHEMA.]NAME:ROWS`.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSpec {
    pub schema: String,
    pub name: String,
    pub rows: u64,
}

fn valid_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 63
}

impl TableSpec {
    pub fn parse(s: &str) -> Result<TableSpec, String> {
        let (name, rows) = s.rsplit_once(':').ok_or("expected [SCHEMA.]NAME:ROWS")?;
        let rows = rows
            .parse()
            .map_err(|_| format!("bad row count {rows:?}"))?;
        let (schema, name) = name.split_once('.').unwrap_or(("public", name));
        if !valid_ident(schema) || !valid_ident(name) || ["auth", "synchost"].contains(&schema) {
            return Err(format!(
                "{s:?}: schema and table must be lower-case identifiers ([a-z_][a-z0-9_]*), not auth or synchost"
            ));
        }
        Ok(TableSpec {
            schema: schema.to_owned(),
            name: name.to_owned(),
            rows,
        })
    }

    /// `"schema"."name"`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

/// One generated row: (id, title, body, done).
pub struct GenRow {
    pub id: String,
    pub title: String,
    pub body: String,
    pub done: bool,
}

fn words(h: u64, n: usize) -> String {
    (0..n)
        .map(|i| WORDS[(mix64(h ^ (i as u64).wrapping_mul(0x9e37)) % WORDS.len() as u64) as usize])
        .collect::<Vec<_>>()
        .join(" ")
}

/// Row `n` of `table` for `seed`: a version-4 UUID, 3-word title,
/// 12-word body, one row in four done.
pub fn gen_row(seed: u64, table: &TableSpec, n: u64) -> GenRow {
    let salt = table
        .schema
        .bytes()
        .chain(*b".")
        .chain(table.name.bytes())
        .fold(mix64(seed), |h, b| mix64(h ^ u64::from(b)));
    let h = mix64(salt ^ mix64(n));
    GenRow {
        id: uuid_v4(mix64(h ^ 1), mix64(h ^ 2)),
        title: words(h ^ 3, 3),
        body: words(h ^ 4, 12),
        done: mix64(h ^ 5).is_multiple_of(4),
    }
}

/// Inserts generated rows `ns` of `table` (the trigger, if present, sets
/// `updated_at`; `with_time` gives seeded rows their fixed times) and
/// returns their ids.
pub async fn insert_rows(
    client: &impl GenericClient,
    table: &TableSpec,
    seed: u64,
    ns: impl Iterator<Item = u64>,
    with_time: bool,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let rows: Vec<Value> = ns
        .map(|n| {
            let r = gen_row(seed, table, n);
            let mut v = json!({"id": r.id, "title": r.title, "body": r.body, "done": r.done});
            if with_time {
                let us = SEED_EPOCH_US + (n as i64 / 2) * SEED_STEP_US;
                let t = chrono::DateTime::from_timestamp_micros(us).unwrap_or_default();
                v["updated_at"] = t.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string().into();
            }
            v
        })
        .collect();
    let ids = rows
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    let cols = if with_time {
        "id, title, body, done, updated_at"
    } else {
        "id, title, body, done"
    };
    let sql = format!(
        "INSERT INTO {} ({cols}) SELECT {cols} FROM jsonb_populate_recordset(NULL::{}, $1::jsonb)",
        table.qualified(),
        table.qualified()
    );
    let param = [TextParam(Value::Array(rows).to_string())];
    client.execute(&sql, &refs(&param)).await?;
    Ok(ids)
}

/// Roles, `auth.*` helpers and the seeded tables (dropped first if they exist).
pub async fn setup(
    client: &mut Client,
    tables: &[TableSpec],
    seed: u64,
) -> Result<(), tokio_postgres::Error> {
    client
        .batch_execute(
            r#"
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'anon') THEN CREATE ROLE anon NOLOGIN NOINHERIT; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticated') THEN CREATE ROLE authenticated NOLOGIN NOINHERIT; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'service_role') THEN CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS; END IF;
END $$;
GRANT anon, authenticated, service_role TO CURRENT_USER;
CREATE SCHEMA IF NOT EXISTS auth;
CREATE SCHEMA IF NOT EXISTS synchost;
CREATE OR REPLACE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS
  $$ SELECT coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb $$;
CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS
  $$ SELECT nullif(auth.jwt() ->> 'sub', '')::uuid $$;
CREATE OR REPLACE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS
  $$ SELECT auth.jwt() ->> 'role' $$;
CREATE OR REPLACE FUNCTION synchost.touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
GRANT USAGE ON SCHEMA auth, public TO anon, authenticated, service_role;
"#,
        )
        .await?;
    for t in tables {
        let qt = t.qualified();
        let tx = client.transaction().await?;
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};
             GRANT USAGE ON SCHEMA {schema} TO anon, authenticated, service_role;
             DROP TABLE IF EXISTS {qt} CASCADE;
             CREATE TABLE {qt} (id uuid PRIMARY KEY, title text, body text,
               done boolean DEFAULT false, updated_at timestamptz NOT NULL DEFAULT now());",
            schema = quote_ident(&t.schema)
        ))
        .await?;
        const CHUNK: u64 = 20_000;
        let mut start = 0;
        while start < t.rows {
            let end = (start + CHUNK).min(t.rows);
            insert_rows(&tx, t, seed, start..end, true).await?;
            start = end;
        }
        tx.batch_execute(&format!(
            "CREATE INDEX ON {qt} (updated_at, id);
             CREATE TRIGGER touch_updated_at BEFORE INSERT OR UPDATE ON {qt}
               FOR EACH ROW EXECUTE FUNCTION synchost.touch_updated_at();
             ALTER TABLE {qt} ENABLE ROW LEVEL SECURITY;
             CREATE POLICY anon_reads_open ON {qt} FOR SELECT TO anon USING (done = false);
             CREATE POLICY authenticated_all ON {qt} FOR ALL TO authenticated USING (true) WITH CHECK (true);
             GRANT SELECT ON {qt} TO anon;
             GRANT ALL ON {qt} TO authenticated, service_role;
             ANALYZE {qt};"
        ))
        .await?;
        tx.commit().await?;
    }
    Ok(())
}

/// A column as the schema cache knows it.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    /// `format_type`: `uuid`, `timestamp with time zone`, ...
    pub type_name: String,
    pub not_null: bool,
    pub default: Option<String>,
    pub pk: bool,
}

#[derive(Debug, Clone)]
pub struct Table {
    pub schema: String,
    pub name: String,
    pub columns: Vec<Column>,
}

impl Table {
    pub fn qualified(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn pk(&self) -> Vec<&str> {
        self.columns
            .iter()
            .filter(|c| c.pk)
            .map(|c| c.name.as_str())
            .collect()
    }
}

/// (schema, table) → table, for the exposed schemas.
pub type SchemaCache = HashMap<(String, String), Table>;

/// Reads the tables and views of `schemas` from the catalog.
pub async fn load(
    client: &Client,
    schemas: &[String],
) -> Result<SchemaCache, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT n.nspname::text, c.relname::text, a.attname::text,
                    format_type(a.atttypid, a.atttypmod), a.attnotnull,
                    pg_get_expr(d.adbin, d.adrelid),
                    coalesce(a.attnum = ANY (i.indkey), false)
             FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
             LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
             LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
             WHERE n.nspname = ANY ($1) AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
             ORDER BY 1, 2, a.attnum",
            &[&schemas],
        )
        .await?;
    let mut cache = SchemaCache::new();
    for row in rows {
        let (schema, name): (String, String) = (row.get(0), row.get(1));
        cache
            .entry((schema.clone(), name.clone()))
            .or_insert_with(|| Table {
                schema,
                name,
                columns: Vec::new(),
            })
            .columns
            .push(Column {
                name: row.get(2),
                type_name: row.get(3),
                not_null: row.get(4),
                default: row.get(5),
                pk: row.get(6),
            });
    }
    Ok(cache)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_specs() {
        let t = TableSpec::parse("notes:10").unwrap();
        assert_eq!(
            (t.schema.as_str(), t.name.as_str(), t.rows),
            ("public", "notes", 10)
        );
        let t = TableSpec::parse("app.tasks:5").unwrap();
        assert_eq!(t.qualified(), "\"app\".\"tasks\"");
        for bad in ["notes", "notes:x", "No:1", "a;b:1", "auth.x:1"] {
            assert!(TableSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rows_are_deterministic_uuids() {
        let t = TableSpec::parse("notes:10").unwrap();
        let (a, b) = (gen_row(1, &t, 7), gen_row(1, &t, 7));
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, gen_row(2, &t, 7).id);
        assert_ne!(
            a.id,
            gen_row(1, &TableSpec::parse("tasks:1").unwrap(), 7).id
        );
        assert_eq!(a.id.len(), 36);
        assert_eq!(&a.id[14..15], "4");
        assert!(matches!(&a.id[19..20], "8" | "9" | "a" | "b"));
    }
}
