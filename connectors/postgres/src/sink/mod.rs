//! The PostgreSQL target: a [`Dialect`] of the relational layer ([`sluice_core::relational`]),
//! which owns the batch plan, the transaction and the fenced offsets. This module provides the
//! connection, the offsets table ([`offsets`]), DDL and type mapping ([`ddl`]), value text
//! ([`text`]) and statement text ([`apply`]).
//!
//! Invariants:
//! - One target transaction spans everything applied since the last commit; the consumed offsets
//!   are written to `sluice_offsets` in that same transaction, so the target's rows and its
//!   stored offsets always agree. Writes of uncommitted batches are rolled back with the
//!   connection.
//! - Writes are idempotent (upsert by key, delete by key, `TRUNCATE` — transactional in
//!   PostgreSQL), so replaying a topic from the beginning leaves the target as it is.
//!
//! Failure: connection-level errors are retriable (the runtime connects again), constraint
//! violations, bad values and unsafe schema changes are fatal.

pub mod apply;
pub mod config;
pub mod ddl;
pub mod offsets;
pub mod text;

use sluice_core::relational::{Dialect, RelationalSink, Sql, SqlTarget};
use sluice_core::sink::FencedWrite;
use sluice_core::{BrokerOffset, ChangeEvent, ErrorKind, Value};
use tokio_postgres::Client;

pub use config::PgSinkConfig;
pub use sluice_core::relational::METRIC_APPLIED;
pub use sluice_core::SchemaChanges;

use crate::error::PgError;
use ddl::TargetTable;
use text::{cell, typed_cell, Cell};

/// The PostgreSQL sink: rows and offsets commit in one PostgreSQL transaction.
pub type PgSink = RelationalSink<PgDialect>;

/// The `postgres` target plug-in.
pub type PgTarget = Sql<PgDialect>;

impl SqlTarget for PgDialect {
    const TYPES: &'static [&'static str] = &["postgres", "postgresql"];
    type Config = PgSinkConfig;

    async fn checks(config: &PgSinkConfig, endpoint: &str) -> Vec<sluice_core::Check> {
        crate::preflight::check_sink(endpoint, &config.connection).await
    }

    async fn connect(config: &PgSinkConfig) -> Result<Self, PgError> {
        let client = config.connection.connect().await?;
        offsets::ensure_table(&client).await?;
        Ok(PgDialect { config: config.clone(), client })
    }
}

/// A connection to the target and the sink's settings.
pub struct PgDialect {
    config: PgSinkConfig,
    client: Client,
}

impl Dialect for PgDialect {
    type Cell = Cell;
    type Table = TargetTable;
    type Error = PgError;

    const BEGIN: &'static str = "BEGIN";

    async fn execute(&mut self, sql: &str, what: &str) -> Result<(), PgError> {
        self.client.batch_execute(sql).await.map_err(|e| PgError::source_query(what, &e))
    }

    async fn ensure_table(&mut self, ev: &ChangeEvent) -> Result<(TargetTable, bool), PgError> {
        // PostgreSQL DDL is transactional: the open transaction goes on.
        Ok((ddl::ensure(&self.client, &self.config, ev).await?, false))
    }

    fn qualified(t: &TargetTable) -> &str {
        &t.qualified
    }

    fn truncate_sql(t: &TargetTable) -> String {
        format!("TRUNCATE {}", t.qualified)
    }

    fn row(ev: &ChangeEvent, _: &TargetTable, row: &[Value]) -> Result<Vec<Cell>, PgError> {
        Ok(row.iter().zip(&ev.table.columns).map(|(v, c)| typed_cell(&c.data_type, v)).collect())
    }

    fn key(ev: &ChangeEvent, _: &TargetTable, row: &[Value]) -> Result<Vec<Cell>, PgError> {
        Ok(ev.table.key.iter().map(|&i| row.get(i).map(cell).unwrap_or(Cell::Null)).collect())
    }

    async fn delete(
        &mut self,
        t: &mut TargetTable,
        key: &[usize],
        keys: &[Vec<Cell>],
    ) -> Result<(), PgError> {
        apply::delete(&self.client, t, key, keys).await
    }

    async fn upsert(
        &mut self,
        t: &mut TargetTable,
        key: &[usize],
        mask: &[bool],
        rows: &[Vec<Cell>],
    ) -> Result<(), PgError> {
        apply::upsert(&self.client, t, key, mask, rows).await
    }

    async fn store_offsets(&mut self, name: &str, writes: &[FencedWrite<'_>]) -> Result<usize, PgError> {
        offsets::write(&self.client, name, writes).await
    }

    async fn read_offsets(&mut self, name: &str) -> Result<Vec<BrokerOffset>, PgError> {
        offsets::read(&self.client, name).await
    }

    fn fatal(reason: String) -> PgError {
        PgError::Source { reason, kind: ErrorKind::Fatal }
    }

    fn fenced(reason: String) -> PgError {
        PgError::Source { reason, kind: ErrorKind::Retriable }
    }
}
