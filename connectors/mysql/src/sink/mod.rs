//! The MariaDB/MySQL target: a [`Dialect`] of the relational layer ([`sluice_core::relational`]),
//! which owns the batch plan, the transaction and the fenced offsets. This module provides the
//! connection and its session, the offsets table ([`offsets`]), DDL ([`ddl`]), type mapping
//! ([`types`]), value conversion ([`values`]) and statement text ([`apply`]).
//!
//! Invariants:
//! - One target transaction spans everything applied since the last commit; the consumed offsets
//!   are written to `sluice_offsets` (InnoDB) in that same transaction, so the target's rows and
//!   its stored offsets agree. The one exception is DDL: MariaDB commits implicitly before
//!   `CREATE`/`ALTER`, so rows applied earlier in the same transaction become durable ahead of
//!   their offsets and are applied again after a crash, which is harmless (next point).
//!   [`Dialect::ensure_table`] says so, and the relational layer restarts the transaction.
//! - Writes are idempotent (upsert by key, delete by key, delete-all for truncate), so replaying
//!   a topic from the beginning, even under a new consumer group, leaves the target as it is.
//! - A source truncate runs as `DELETE FROM`, not `TRUNCATE TABLE`: `TRUNCATE` is DDL in MariaDB
//!   and would commit the open transaction implicitly (and could not be rolled back).
//! - The session runs with `time_zone = '+00:00'` (TIMESTAMP columns and `timestamptz` values are
//!   UTC), `utf8mb4`, and a strict `sql_mode`, so a value that does not fit fails instead of being
//!   truncated or zeroed.
//!
//! Failure: connection-level errors (and deadlocks, lock wait timeouts) are retriable — the
//! runtime connects again —; constraint violations, bad values, unsafe schema changes and
//! keyless tables are fatal.

pub mod apply;
pub mod config;
pub mod ddl;
pub mod offsets;
pub mod types;
pub mod values;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use sluice_core::relational::{Dialect, RelationalSink, Sql, SqlTarget};
use sluice_core::sink::FencedWrite;
use sluice_core::{BrokerOffset, ChangeEvent, ErrorKind, Value};

pub use apply::METRIC_UNREPRESENTABLE;
pub use config::MySqlSinkConfig;
pub use sluice_core::relational::METRIC_APPLIED;
pub use sluice_core::SchemaChanges;

use crate::error::MySqlError;
use ddl::TargetTable;
use values::Cell;

/// Session settings of the sink's connection (see the module invariants).
const SESSION: &str = "SET NAMES utf8mb4, time_zone = '+00:00', sql_mode = \
    'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,\
    NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO'";

/// The MariaDB/MySQL sink: rows and offsets commit in one InnoDB transaction.
pub type MySqlSink = RelationalSink<MySqlDialect>;

/// The `mysql` target plug-in (MariaDB or MySQL 8).
pub type MySqlTarget = Sql<MySqlDialect>;

impl SqlTarget for MySqlDialect {
    const TYPES: &'static [&'static str] = &["mysql", "mariadb"];
    type Config = MySqlSinkConfig;

    async fn checks(config: &MySqlSinkConfig, endpoint: &str) -> Vec<sluice_core::Check> {
        crate::preflight::check_sink(endpoint, &config.connection).await
    }

    /// Also sets up the session (see the module invariants) and reads `max_allowed_packet`.
    async fn connect(config: &MySqlSinkConfig) -> Result<Self, MySqlError> {
        // Without a default database, so a missing one can be created rather than refused.
        let mut endpoint = config.connection.clone();
        endpoint.database = None;
        let mut conn = endpoint.connect().await?;
        conn.query_drop(SESSION).await.map_err(|e| MySqlError::sink_query("setting up the session", &e))?;
        let packet: Option<u64> = conn
            .query_first("SELECT @@max_allowed_packet")
            .await
            .map_err(|e| MySqlError::sink_query("reading max_allowed_packet", &e))?;
        let budget = (packet.unwrap_or(4 << 20) / 4).max(64 << 10) as usize;
        offsets::ensure_table(&mut conn, config.offsets_database()).await?;
        Ok(MySqlDialect { config: config.clone(), conn, budget })
    }
}

/// A connection to the target and the sink's settings.
pub struct MySqlDialect {
    config: MySqlSinkConfig,
    conn: Conn,
    /// Most parameter bytes per statement: a quarter of `max_allowed_packet`.
    budget: usize,
}

impl Dialect for MySqlDialect {
    type Cell = Cell;
    type Table = TargetTable;
    type Error = MySqlError;

    const BEGIN: &'static str = "START TRANSACTION";

    async fn execute(&mut self, sql: &str, what: &str) -> Result<(), MySqlError> {
        self.conn.query_drop(sql).await.map_err(|e| MySqlError::sink_query(what, &e))
    }

    async fn ensure_table(&mut self, ev: &ChangeEvent) -> Result<(TargetTable, bool), MySqlError> {
        ddl::ensure(&mut self.conn, &self.config, ev).await
    }

    fn qualified(t: &TargetTable) -> &str {
        &t.qualified
    }

    fn truncate_sql(t: &TargetTable) -> String {
        format!("DELETE FROM {}", t.qualified)
    }

    fn row(ev: &ChangeEvent, t: &TargetTable, row: &[Value]) -> Result<Vec<Cell>, MySqlError> {
        row.iter().enumerate().map(|(i, v)| apply::convert(ev, t, i, v)).collect()
    }

    fn key(ev: &ChangeEvent, t: &TargetTable, row: &[Value]) -> Result<Vec<Cell>, MySqlError> {
        ev.table.key.iter().map(|&i| apply::convert(ev, t, i, row.get(i).unwrap_or(&Value::Null))).collect()
    }

    async fn delete(
        &mut self,
        t: &mut TargetTable,
        key: &[usize],
        keys: &[Vec<Cell>],
    ) -> Result<(), MySqlError> {
        apply::delete(&mut self.conn, t, key, keys, self.budget).await
    }

    async fn upsert(
        &mut self,
        t: &mut TargetTable,
        key: &[usize],
        mask: &[bool],
        rows: &[Vec<Cell>],
    ) -> Result<(), MySqlError> {
        apply::upsert(&mut self.conn, t, key, mask, rows, self.budget).await
    }

    async fn store_offsets(&mut self, name: &str, writes: &[FencedWrite<'_>]) -> Result<usize, MySqlError> {
        offsets::write(&mut self.conn, self.config.offsets_database(), name, writes).await
    }

    async fn read_offsets(&mut self, name: &str) -> Result<Vec<BrokerOffset>, MySqlError> {
        offsets::read(&mut self.conn, self.config.offsets_database(), name).await
    }

    fn fatal(reason: String) -> MySqlError {
        MySqlError::sink_fatal(reason)
    }

    fn fenced(reason: String) -> MySqlError {
        MySqlError::Sink { reason, kind: ErrorKind::Retriable }
    }
}
