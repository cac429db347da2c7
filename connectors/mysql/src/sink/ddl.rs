//! Target tables from source schemas: create a missing database and table, add new columns, and
//! refuse a change that cannot be applied safely. Types come from [`super::types`].
//!
//! Created tables are InnoDB (transactions: rows and offsets commit together) with
//! `utf8mb4_nopad_bin`, so keys compare byte for byte like PostgreSQL's and MariaDB's binary
//! strings (`'a'`, `'A'` and `'a '` stay three rows). Nullability follows the source; the primary
//! key is the source's key. A source table without a key is refused: the sink upserts and
//! deletes by key.
//!
//! Safety rules (fatal unless `schema_changes = "ignore"`): a target column narrower than the
//! source's ([`super::types::narrowing`]), a target NOT NULL column without default that the
//! source no longer sends (every insert would fail), and a target table in a non-transactional
//! engine. New source columns are added as nullable columns. Nothing is ever dropped or retyped.
//!
//! Note: MariaDB commits implicitly before `CREATE DATABASE`, `CREATE TABLE` and `ALTER TABLE`.
//! The caller runs DDL only between statements of its own transaction and restarts the
//! transaction afterwards; rows written earlier in it become durable ahead of their offsets, which
//! only means they are applied again after a crash (writes are idempotent).

use std::collections::HashMap;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use sluice_core::{ChangeEvent, SchemaChanges, TableSchema};
use tracing::{info, warn};

use crate::error::MySqlError;
use crate::sink::types::{column_types, narrowing};
use crate::sink::values::Slot;
use crate::sink::MySqlSinkConfig;

/// A target table as the sink writes it.
#[derive(Debug, Clone)]
pub struct TargetTable {
    /// `` `db`.`table` ``, quoted.
    pub qualified: String,
    /// Target type (`COLUMN_TYPE`) of each source column, in source column order.
    pub types: Vec<String>,
    /// What value conversion needs to know of each source column's target, in source order.
    pub slots: Vec<Slot>,
    /// Quoted names of the source columns, in source column order.
    pub columns: Vec<String>,
    /// Unquoted source column names, for error messages.
    pub names: Vec<String>,
    /// Source nullability of each column (a NULL written for an unrepresentable value needs it).
    pub nullable: Vec<bool>,
    /// What to write for a value MariaDB cannot hold.
    pub unrepresentable: sluice_core::Unrepresentable,
}

impl TargetTable {
    fn new(qualified: String, types: Vec<String>, source: &TableSchema, config: &MySqlSinkConfig) -> Self {
        Self {
            qualified,
            slots: types.iter().map(|t| Slot::of(t)).collect(),
            types,
            columns: source.columns.iter().map(|c| quote_ident(&c.name)).collect(),
            names: source.columns.iter().map(|c| c.name.clone()).collect(),
            nullable: source.columns.iter().map(|c| c.nullable).collect(),
            unrepresentable: config.unrepresentable_values,
        }
    }
}

pub use crate::sql::quote_ident;

/// Table options of everything the sink creates.
pub const TABLE_OPTIONS: &str = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin";

/// Create database `db` if missing.
pub async fn ensure_database(conn: &mut Conn, db: &str) -> Result<(), MySqlError> {
    let sql = format!(
        "CREATE DATABASE IF NOT EXISTS {} CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin",
        quote_ident(db)
    );
    conn.query_drop(sql).await.map_err(|e| MySqlError::sink_query(format_args!("creating database {db}"), &e))
}

fn unsafe_change(policy: SchemaChanges, table: &str, reason: String) -> Result<(), MySqlError> {
    match policy {
        SchemaChanges::Fail => Err(MySqlError::sink_fatal(format!(
            "cannot apply the source schema to target table {table}: {reason}; fix the target table \
             by hand or set schema_changes = \"ignore\""
        ))),
        SchemaChanges::Ignore => {
            warn!(table, reason, "unsafe schema change ignored");
            Ok(())
        }
    }
}

struct Existing {
    column_type: String,
    nullable: bool,
    has_default: bool,
    generated: bool,
}

/// Make `` `db`.`table` `` fit `source`: create it or add missing columns; check the rest.
/// Returns whether DDL ran (and so committed the connection's open transaction).
pub async fn ensure(
    conn: &mut Conn,
    config: &MySqlSinkConfig,
    ev: &ChangeEvent,
) -> Result<(TargetTable, bool), MySqlError> {
    let (source, connector, policy) = (&*ev.table, ev.source.connector, config.schema_changes);
    let (db, table) = config.target_name(&source.id.schema, &source.id.table);
    let (db, table) = (db.as_str(), table.as_str());
    let qualified = format!("{}.{}", quote_ident(db), quote_ident(table));
    let rows: Vec<(String, String, String, Option<String>, String)> = conn
        .exec(
            "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
             ORDER BY ORDINAL_POSITION",
            (db, table),
        )
        .await
        .map_err(|e| MySqlError::sink_query(format_args!("reading columns of {qualified}"), &e))?;
    let wanted = column_types(connector, source);
    if rows.is_empty() {
        ensure_database(conn, db).await?;
        let (mut cols, key) = sluice_core::relational::create_columns(source, &wanted, quote_ident, true);
        cols.push(format!("PRIMARY KEY ({})", key.join(", ")));
        let ddl = format!("CREATE TABLE IF NOT EXISTS {qualified} ({}) {TABLE_OPTIONS}", cols.join(", "));
        conn.query_drop(ddl)
            .await
            .map_err(|e| MySqlError::sink_query(format_args!("creating target table {qualified}"), &e))?;
        info!(table = %qualified, "created target table");
        sluice_core::stats::table(&source.id).ddls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Ok((TargetTable::new(qualified, wanted, source, config), true));
    }

    let engine: Option<String> = conn
        .exec_first(
            "SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (db, table),
        )
        .await
        .map_err(|e| MySqlError::sink_query(format_args!("reading engine of {qualified}"), &e))?;
    if let Some(engine) = engine.filter(|e| !e.eq_ignore_ascii_case("InnoDB")) {
        unsafe_change(
            policy,
            &qualified,
            format!(
                "engine {engine} is not transactional, so rows and offsets cannot commit together \
                 (ALTER TABLE … ENGINE=InnoDB)"
            ),
        )?;
    }

    // MariaDB column names are case-insensitive.
    let existing: HashMap<String, Existing> = rows
        .into_iter()
        .map(|(name, column_type, nullable, default, extra)| {
            let extra = extra.to_ascii_lowercase();
            (
                name.to_lowercase(),
                Existing {
                    column_type: column_type.to_ascii_lowercase(),
                    nullable: nullable == "YES",
                    has_default: default.is_some() || extra.contains("auto_increment"),
                    generated: extra.contains("generated"),
                },
            )
        })
        .collect();
    let mut types = Vec::with_capacity(source.columns.len());
    let mut altered = false;
    for (c, want) in source.columns.iter().zip(&wanted) {
        match existing.get(&c.name.to_lowercase()) {
            Some(have) => {
                if let Some(reason) = narrowing(&have.column_type, want) {
                    unsafe_change(policy, &qualified, format!("column {}: {reason}", c.name))?;
                }
                types.push(have.column_type.clone());
            }
            None => {
                let ddl = format!(
                    "ALTER TABLE {qualified} ADD COLUMN IF NOT EXISTS {} {want} NULL",
                    quote_ident(&c.name)
                );
                conn.query_drop(ddl).await.map_err(|e| {
                    MySqlError::sink_query(format_args!("adding column {} to {qualified}", c.name), &e)
                })?;
                altered = true;
                info!(table = %qualified, column = %c.name, "added target column");
                sluice_core::stats::table(&source.id).ddls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                types.push(want.clone());
            }
        }
    }
    let mut dropped: Vec<&String> = existing
        .iter()
        .filter(|(name, e)| {
            !e.nullable
                && !e.has_default
                && !e.generated
                && !source.columns.iter().any(|c| c.name.to_lowercase() == **name)
        })
        .map(|(name, _)| name)
        .collect();
    dropped.sort();
    for name in dropped {
        unsafe_change(
            policy,
            &qualified,
            format!(
                "column {name} is NOT NULL without default in the target and no longer sent by the source"
            ),
        )?;
    }
    Ok((TargetTable::new(qualified, types, source, config), altered))
}
