//! Target tables from source schemas: create a missing table, add new columns, and refuse a
//! change that cannot be applied safely.
//!
//! Column types:
//! 1. PostgreSQL source: the column's `source_type` (the source's `format_type`), when it names a
//!    built-in type — same engine, so the source's own type is kept.
//! 2. Any other source: the column's [`Portable`] type through the one mapping table,
//!    [`pg_type`] (documented in `docs/sinks.md`).
//!
//! Safety rules (fatal unless `schema_changes = "ignore"`): a target column narrower than the
//! source's (`varchar(n)` shorter, `numeric(p,s)` smaller, a smaller integer), and a target NOT
//! NULL column without default that the source no longer has (every insert would fail). New
//! source columns are added as nullable columns. Nothing is ever dropped or retyped.

use std::collections::HashMap;

use sluice_core::portable::{pg_format_type, Portable};
use sluice_core::{ChangeEvent, Column, DataType};
use tokio_postgres::Client;
use tracing::{info, warn};

use crate::error::PgError;
use crate::sink::PgSinkConfig;
use sluice_core::ErrorKind;
use sluice_core::SchemaChanges;

/// Advisory lock key (transaction scope) serializing Sluice's DDL on a target database.
pub const DDL_LOCK: i64 = 0x0051_1CE0;

/// A target table as the sink writes it.
#[derive(Debug, Clone)]
pub struct TargetTable {
    /// `"schema"."table"`, quoted.
    pub qualified: String,
    /// Target type (`format_type`) of each source column, in source column order.
    pub types: Vec<String>,
    /// Quoted names of the source columns, in source column order.
    pub columns: Vec<String>,
    /// Statements prepared for this table, by SQL text (valid on the connection that made them).
    pub statements: HashMap<String, tokio_postgres::Statement>,
}

pub use crate::sql::quote_ident;

/// Portable type → PostgreSQL type: the one mapping table of this target.
pub fn pg_type(p: &Portable) -> String {
    match (&p.data_type, p.length) {
        (DataType::Text, Some(n)) if p.fixed => format!("character({n})"),
        (DataType::Text, Some(n)) => format!("character varying({n})"),
        (t, _) => logical_pg_type(t),
    }
}

fn logical_pg_type(t: &DataType) -> String {
    match t {
        DataType::Boolean => "boolean".into(),
        DataType::Int16 => "smallint".into(),
        DataType::Int32 => "integer".into(),
        DataType::Int64 => "bigint".into(),
        DataType::UInt64 => "numeric(20,0)".into(),
        DataType::Float32 => "real".into(),
        DataType::Float64 => "double precision".into(),
        DataType::Decimal { precision: Some(p), scale } => format!("numeric({p},{})", scale.unwrap_or(0)),
        DataType::Decimal { precision: None, .. } => "numeric".into(),
        DataType::Text | DataType::Enum(_) | DataType::Set(_) => "text".into(),
        DataType::Bytes => "bytea".into(),
        DataType::Json => "jsonb".into(),
        DataType::Uuid => "uuid".into(),
        DataType::Date => "date".into(),
        DataType::Time => "time without time zone".into(),
        DataType::TimeTz => "time with time zone".into(),
        DataType::Timestamp => "timestamp without time zone".into(),
        DataType::TimestampTz => "timestamp with time zone".into(),
        DataType::Interval => "interval".into(),
        DataType::Bits(n) => format!("bit varying({n})"),
        DataType::Array(inner) => format!("{}[]", logical_pg_type(inner)),
    }
}

/// Built-in PostgreSQL type names a `source_type` may start with.
const PG_BUILTINS: &[&str] = &[
    "smallint",
    "integer",
    "bigint",
    "numeric",
    "real",
    "double precision",
    "boolean",
    "text",
    "character varying",
    "character",
    "bytea",
    "json",
    "jsonb",
    "uuid",
    "date",
    "time without time zone",
    "time with time zone",
    "timestamp without time zone",
    "timestamp with time zone",
    "interval",
    "bit",
    "bit varying",
    "inet",
    "cidr",
    "macaddr",
    "money",
    "xml",
    "oid",
    "point",
    "tsvector",
];

fn pg_source_type(col: &Column) -> Option<String> {
    let st = pg_format_type(&col.source_type.trim().to_ascii_lowercase());
    // `timestamp(3) without time zone` → `timestamp without time zone`; `integer[]` → `integer`.
    let unmodified = match (st.find('('), st.find(')')) {
        (Some(a), Some(b)) if b > a => format!("{}{}", &st[..a], &st[b + 1..]),
        _ => st.clone(),
    };
    let base = unmodified.split('[').next().unwrap_or("").trim();
    let ok_chars = st.chars().all(|c| c.is_ascii_alphanumeric() || " (),[]_".contains(c));
    (ok_chars && PG_BUILTINS.contains(&base)).then_some(st)
}

/// The PostgreSQL type a source column gets in the target.
pub fn target_type(connector: &str, col: &Column) -> String {
    let native = if connector == "postgresql" { pg_source_type(col) } else { None };
    native.unwrap_or_else(|| pg_type(&Portable::of(connector, col)))
}

/// Why an existing target column cannot hold the source column, if it cannot.
fn narrowing(target: &str, wanted: &str) -> Option<String> {
    fn split(t: &str) -> (&str, Vec<u32>) {
        let base = t.split('(').next().unwrap_or(t).trim();
        let args = t
            .find('(')
            .and_then(|a| t[a + 1..].find(')').map(|b| &t[a + 1..a + 1 + b]))
            .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
            .unwrap_or_default();
        (base, args)
    }
    fn int_rank(b: &str) -> Option<u8> {
        match b {
            "smallint" => Some(1),
            "integer" => Some(2),
            "bigint" => Some(3),
            _ => None,
        }
    }
    let (tb, ta) = split(target);
    let (wb, wa) = split(wanted);
    if let (Some(t), Some(w)) = (int_rank(tb), int_rank(wb)) {
        return (w > t).then(|| format!("{target} cannot hold {wanted}"));
    }
    if tb == wb && !ta.is_empty() {
        if wa.is_empty() || wa.iter().zip(&ta).any(|(w, t)| w > t) {
            return Some(format!("{target} is narrower than {wanted}"));
        }
        if tb == "numeric" && ta.len() == 2 && wa.len() == 2 && wa[0] - wa[1] > ta[0] - ta[1] {
            return Some(format!("{target} is narrower than {wanted}"));
        }
    }
    if matches!(tb, "character varying" | "character") && !ta.is_empty() && wb == "text" {
        return Some(format!("{target} is narrower than {wanted}"));
    }
    None
}

fn unsafe_change(cfg: SchemaChanges, table: &str, reason: String) -> Result<(), PgError> {
    match cfg {
        SchemaChanges::Fail => Err(PgError::Source {
            reason: format!(
                "cannot apply the source schema to target table {table}: {reason}; fix the target table by hand or set schema_changes = \"ignore\""
            ),
            kind: ErrorKind::Fatal,
        }),
        SchemaChanges::Ignore => {
            warn!(table, reason, "unsafe schema change ignored");
            Ok(())
        }
    }
}

/// Make `schema.table` fit `source`: create it or add missing columns; check the rest.
pub async fn ensure(
    client: &Client,
    config: &PgSinkConfig,
    ev: &ChangeEvent,
) -> Result<TargetTable, PgError> {
    let (source, connector, policy) = (&*ev.table, ev.source.connector, config.schema_changes);
    let (schema, table) = config.target_name(&source.id.schema, &source.id.table);
    let (schema, table) = (schema.as_str(), table.as_str());
    let qualified = format!("{}.{}", quote_ident(schema), quote_ident(table));
    let q = |c: &'static str| move |e: tokio_postgres::Error| PgError::query(c, &e);
    // Held until the caller's transaction ends: sink processes sharing a target (one group
    // scaled out, or several groups) never create or alter the same table at once.
    client
        .execute("SELECT pg_advisory_xact_lock($1)", &[&DDL_LOCK])
        .await
        .map_err(q("waiting for the DDL lock"))?;
    let rows = client
        .query(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.atthasdef \
             FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
            &[&qualified],
        )
        .await
        .map_err(q("reading target columns"))?;
    let wanted: Vec<String> = source.columns.iter().map(|c| target_type(connector, c)).collect();
    if rows.is_empty() {
        let (cols, key) = sluice_core::relational::create_columns(source, &wanted, quote_ident, false);
        let ddl = format!(
            "CREATE SCHEMA IF NOT EXISTS {}; CREATE TABLE IF NOT EXISTS {qualified} ({}, PRIMARY KEY ({}))",
            quote_ident(schema),
            cols.join(", "),
            key.join(", ")
        );
        client.batch_execute(&ddl).await.map_err(q("creating target table"))?;
        info!(table = %qualified, "created target table");
        sluice_core::stats::table(&source.id).ddls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Ok(TargetTable {
            qualified,
            types: wanted,
            columns: source.columns.iter().map(|c| quote_ident(&c.name)).collect(),
            statements: HashMap::new(),
        });
    }
    let existing: HashMap<String, (String, bool, bool)> =
        rows.iter().map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3)))).collect();
    let mut types = Vec::with_capacity(source.columns.len());
    for (c, want) in source.columns.iter().zip(&wanted) {
        match existing.get(&c.name) {
            Some((have, _, _)) => {
                if let Some(reason) = narrowing(have, want) {
                    unsafe_change(policy, &qualified, format!("column {}: {reason}", c.name))?;
                }
                types.push(have.clone());
            }
            None => {
                let ddl = format!(
                    "ALTER TABLE {qualified} ADD COLUMN IF NOT EXISTS {} {want}",
                    quote_ident(&c.name)
                );
                client.batch_execute(&ddl).await.map_err(q("adding target column"))?;
                info!(table = %qualified, column = %c.name, "added target column");
                sluice_core::stats::table(&source.id).ddls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                types.push(want.clone());
            }
        }
    }
    for (name, (_, notnull, hasdef)) in &existing {
        if *notnull && !*hasdef && source.column_index(name).is_none() {
            unsafe_change(
                policy,
                &qualified,
                format!("column {name} is NOT NULL without default in the target and no longer sent by the source"),
            )?;
        }
    }
    Ok(TargetTable {
        qualified,
        types,
        columns: source.columns.iter().map(|c| quote_ident(&c.name)).collect(),
        statements: HashMap::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(st: &str, dt: DataType) -> Column {
        Column::new("c", dt, st, true)
    }

    #[test]
    fn debezium_type_names_become_postgres_types() {
        let t = |st: &str, dt| target_type("postgresql", &col(st, dt));
        assert_eq!(t("VARCHAR(20)", DataType::Text), "character varying(20)");
        assert_eq!(t("INT4", DataType::Int32), "integer");
        assert_eq!(t("BPCHAR(5)", DataType::Text), "character(5)");
        assert_eq!(t("_TEXT", DataType::Array(Box::new(DataType::Text))), "text[]");
        assert_eq!(t("TIMESTAMPTZ", DataType::TimestampTz), "timestamp with time zone");
        assert_eq!(t("INT2", DataType::Int16), "smallint");
        assert_eq!(t("MONEY", DataType::Text), "money");
    }

    #[test]
    fn postgres_source_types_are_kept() {
        assert_eq!(target_type("postgresql", &col("numeric(10,2)", DataType::Text)), "numeric(10,2)");
        assert_eq!(target_type("postgresql", &col("integer[]", DataType::Text)), "integer[]");
        assert_eq!(target_type("postgresql", &col("oid 16385", DataType::Text)), "text");
        assert_eq!(target_type("postgresql", &col("mood", DataType::Enum(vec![]))), "text");
    }

    #[test]
    fn mariadb_types_map() {
        assert_eq!(target_type("mysql", &col("tinyint(1)", DataType::Boolean)), "boolean");
        assert_eq!(target_type("mysql", &col("int(10) unsigned", DataType::Int64)), "bigint");
        assert_eq!(target_type("mysql", &col("bigint unsigned", DataType::UInt64)), "numeric(20,0)");
        assert_eq!(target_type("mysql", &col("varchar(40)", DataType::Text)), "character varying(40)");
        let dec = DataType::Decimal { precision: Some(12), scale: Some(3) };
        assert_eq!(target_type("mysql", &col("decimal(12,3)", dec)), "numeric(12,3)");
        assert_eq!(target_type("mysql", &col("char(2)", DataType::Text)), "character(2)");
        assert_eq!(target_type("mysql", &col("time(3)", DataType::Time)), "interval");
        assert_eq!(target_type("mysql", &col("year", DataType::Int32)), "smallint");
        assert_eq!(
            target_type("mysql", &col("datetime(6)", DataType::Timestamp)),
            "timestamp without time zone"
        );
        assert_eq!(target_type("mysql", &col("geometry", DataType::Bytes)), "bytea");
    }

    #[test]
    fn narrowing_is_detected() {
        assert!(narrowing("character varying(10)", "character varying(20)").is_some());
        assert!(narrowing("character varying(20)", "character varying(10)").is_none());
        assert!(narrowing("integer", "bigint").is_some());
        assert!(narrowing("bigint", "integer").is_none());
        assert!(narrowing("numeric(10,2)", "numeric(12,2)").is_some());
        assert!(narrowing("numeric(10,2)", "numeric").is_some());
        assert!(narrowing("character varying(10)", "text").is_some());
        assert!(narrowing("text", "text").is_none());
    }
}
