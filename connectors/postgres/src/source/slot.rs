//! Publication and replication-slot setup, and the start-up checks a source runs before it
//! streams: each failure is fatal and names the fix.

use sluice_core::{ErrorKind, Lsn, TableId};
use tokio_postgres::Client;

use super::config::{PgSourceConfig, PublicationAutocreate};
use crate::error::PgError;

fn fatal(reason: impl Into<String>) -> PgError {
    PgError::Source { reason: reason.into(), kind: ErrorKind::Fatal }
}

fn query_err(context: &str, e: &tokio_postgres::Error) -> PgError {
    PgError::source_query(context, e)
}

use crate::sql::quote_ident;

/// `wal_level` must be logical and the user needs REPLICATION (or superuser).
pub async fn ensure_replication_ready(client: &Client) -> Result<(), PgError> {
    let row = client
        .query_one(
            "SELECT current_setting('wal_level'), (SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user)",
            &[],
        )
        .await
        .map_err(|e| query_err("reading wal_level", &e))?;
    let wal_level: String = row.get(0);
    if wal_level != "logical" {
        return Err(fatal(format!(
            "wal_level is {wal_level:?}, logical replication needs \"logical\": set wal_level = logical in postgresql.conf and restart the server"
        )));
    }
    let can_replicate: Option<bool> = row.get(1);
    if can_replicate != Some(true) {
        return Err(fatal("the user lacks the REPLICATION attribute: ALTER ROLE <user> WITH REPLICATION (or use a superuser)"));
    }
    Ok(())
}

/// Every table the config captures that exists now, as (oid, id).
pub async fn captured_tables(client: &Client, cfg: &PgSourceConfig) -> Result<Vec<(u32, TableId)>, PgError> {
    let rows = client
        .query(
            "SELECT c.oid, n.nspname::text, c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
             AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' ORDER BY 2, 3",
            &[],
        )
        .await
        .map_err(|e| query_err("listing tables", &e))?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<_, u32>(0), TableId::new(r.get::<_, String>(1), r.get::<_, String>(2))))
        .filter(|(_, t)| cfg.captures_table(t))
        .collect())
}

/// Captured tables must have a primary key or a replica identity (index or FULL).
pub async fn ensure_tables_have_keys(client: &Client, cfg: &PgSourceConfig) -> Result<(), PgError> {
    if cfg.allow_tables_without_key {
        return Ok(());
    }
    let mut missing = Vec::new();
    for (oid, id) in captured_tables(client, cfg).await? {
        let row = client
            .query_one(
                "SELECT c.relreplident::text, EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND (i.indisprimary OR i.indisreplident)) \
                 FROM pg_class c WHERE c.oid = $1",
                &[&oid],
            )
            .await
            .map_err(|e| query_err("reading replica identity", &e))?;
        let ident: String = row.get(0);
        let has_index: bool = row.get(1);
        if !(ident == "f" || has_index) {
            missing.push(id.to_string());
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(fatal(format!(
            "table(s) {} have no primary key or replica identity, so updates and deletes cannot be keyed: \
             add a primary key, or ALTER TABLE … REPLICA IDENTITY FULL, or exclude them (exclude_tables), \
             or set allow_tables_without_key = true",
            missing.join(", ")
        )))
    }
}

/// Create the publication when it is missing, as configured.
pub async fn ensure_publication(client: &Client, cfg: &PgSourceConfig) -> Result<(), PgError> {
    let exists = client
        .query_opt("SELECT 1 FROM pg_publication WHERE pubname = $1", &[&cfg.publication])
        .await
        .map_err(|e| query_err("reading publications", &e))?
        .is_some();
    if exists {
        return Ok(());
    }
    let name = quote_ident(&cfg.publication);
    let sql = match cfg.publication_autocreate {
        PublicationAutocreate::Disabled => {
            return Err(fatal(format!(
                "publication {:?} does not exist and publication_autocreate = \"disabled\": CREATE PUBLICATION {name} FOR TABLE …",
                cfg.publication
            )))
        }
        PublicationAutocreate::AllTables => format!("CREATE PUBLICATION {name} FOR ALL TABLES"),
        PublicationAutocreate::Filtered => {
            let tables = captured_tables(client, cfg).await?;
            if tables.is_empty() {
                return Err(fatal("no existing table matches include_tables/exclude_tables, so a filtered publication cannot be created"));
            }
            let mut list: Vec<String> =
                tables.iter().map(|(_, t)| format!("{}.{}", quote_ident(&t.schema), quote_ident(&t.table))).collect();
            if let Some(t) = cfg.signal_table_id() {
                list.push(format!("{}.{}", quote_ident(&t.schema), quote_ident(&t.table)));
            }
            format!("CREATE PUBLICATION {name} FOR TABLE {}", list.join(", "))
        }
    };
    client.batch_execute(&sql).await.map_err(|e| query_err("creating the publication", &e))?;
    tracing::info!(publication = %cfg.publication, "created publication");
    Ok(())
}

/// The slot's confirmed position, or `None` when it does not exist. A slot of another plugin or
/// database is a fatal error.
pub async fn slot_position(client: &Client, slot: &str) -> Result<Option<Lsn>, PgError> {
    let row = client
        .query_opt(
            "SELECT plugin::text, database::text = current_database(), confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .await
        .map_err(|e| query_err("reading replication slots", &e))?;
    let Some(row) = row else { return Ok(None) };
    let plugin: Option<String> = row.get(0);
    let same_db: Option<bool> = row.get(1);
    if plugin.as_deref() != Some("pgoutput") || same_db != Some(true) {
        return Err(fatal(format!(
            "replication slot {slot:?} exists but is not a pgoutput slot of this database (plugin {plugin:?}): choose another slot name"
        )));
    }
    let lsn: Option<String> = row.get(2);
    Ok(Some(lsn.and_then(|s| s.parse().ok()).unwrap_or_default()))
}

/// Create the slot; returns its consistent point.
pub async fn create_slot(client: &Client, slot: &str) -> Result<Lsn, PgError> {
    let row = client
        .query_one("SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')", &[&slot])
        .await
        .map_err(|e| query_err("creating the replication slot", &e))?;
    let lsn: String = row.get(0);
    tracing::info!(slot, lsn = %lsn, "created replication slot");
    lsn.parse().map_err(|e: sluice_core::Error| fatal(e.to_string()))
}
