//! The signal table: created and checked at start, and written by `sluice snapshot` to ask a
//! running source for a re-snapshot.

use serde_json::{json, Value as Json};
use tokio_postgres::Client;

use super::{fatal, uuid_like, SIGNAL_EXECUTE_SNAPSHOT};
use crate::error::PgError;
use crate::source::config::PgSourceConfig;
use crate::source::snapshot::plan::quote_ident;
use crate::source::snapshot::query_err;

/// Create the signal table when it is configured and missing.
pub async fn ensure_signal_table_exists(client: &Client, cfg: &PgSourceConfig) -> Result<(), PgError> {
    let Some(t) = cfg.signal_table_id() else { return Ok(()) };
    let name = format!("{}.{}", quote_ident(&t.schema), quote_ident(&t.table));
    client
        .batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {name} (id varchar(200) PRIMARY KEY, type varchar(64) NOT NULL, data text)"
        ))
        .await
        .map_err(|e| query_err("creating the signal table", &e))
}

/// The publication must carry the signal table's changes, or signals never arrive.
pub async fn ensure_signal_table_published(client: &Client, cfg: &PgSourceConfig) -> Result<(), PgError> {
    let Some(t) = cfg.signal_table_id() else { return Ok(()) };
    let name = format!("{}.{}", quote_ident(&t.schema), quote_ident(&t.table));
    let published = client
        .query_opt(
            "SELECT 1 FROM pg_publication p WHERE p.pubname = $1 AND (p.puballtables OR EXISTS \
             (SELECT 1 FROM pg_publication_tables pt WHERE pt.pubname = p.pubname AND pt.schemaname = $2 AND pt.tablename = $3))",
            &[&cfg.publication, &t.schema, &t.table],
        )
        .await
        .map_err(|e| query_err("reading the publication's tables", &e))?;
    if published.is_none() {
        return Err(fatal(format!(
            "the signal table {t} is not in publication {:?}, so signals would never arrive: \
             ALTER PUBLICATION {} ADD TABLE {name}",
            cfg.publication,
            quote_ident(&cfg.publication)
        )));
    }
    Ok(())
}

/// Ask a running source to re-read tables: insert an `execute-snapshot` row. Returns its id.
pub async fn request_snapshot(
    client: &Client,
    cfg: &PgSourceConfig,
    tables: &[String],
    filter: Option<&str>,
) -> Result<String, PgError> {
    let Some(t) = cfg.signal_table_id() else {
        return Err(fatal("the source has no signal_table configured".into()));
    };
    let mut data = json!({"data-collections": tables, "type": "incremental"});
    if let Some(f) = filter {
        data["additional-conditions"] =
            Json::Array(tables.iter().map(|t| json!({"data-collection": t, "filter": f})).collect());
    }
    let id = format!("sluice-{}", uuid_like());
    client
        .execute(
            &format!(
                "INSERT INTO {}.{} (id, type, data) VALUES ($1, $2, $3)",
                quote_ident(&t.schema),
                quote_ident(&t.table)
            ),
            &[&id, &SIGNAL_EXECUTE_SNAPSHOT, &data.to_string()],
        )
        .await
        .map_err(|e| query_err("inserting the signal", &e))?;
    Ok(id)
}
