//! The MariaDB/MySQL sink: applies change events to a MariaDB (or MySQL) server, exactly once.
//!
//! Invariants:
//! - One target transaction spans everything applied since the last commit; `commit` writes the
//!   consumed offsets into `sluice_offsets` (InnoDB) in that same transaction and then
//!   `COMMIT`s, so the target's rows and its stored offsets agree. After a crash the runner
//!   resumes from [`MySqlSink::stored_offsets`]; writes of uncommitted batches were rolled back
//!   with the connection. The one exception is DDL: MariaDB commits implicitly before
//!   `CREATE`/`ALTER`, so rows applied earlier in the same transaction become durable ahead of
//!   their offsets and are applied again after a crash, which is harmless (next point). The
//!   transaction is restarted right after the DDL.
//! - Writes are idempotent (upsert by key, delete by key, delete-all for truncate), so replaying
//!   a topic from the beginning, even under a new consumer group, leaves the target as it is.
//! - A source truncate runs as `DELETE FROM`, not `TRUNCATE TABLE`: `TRUNCATE` is DDL in MariaDB
//!   and would commit the open transaction implicitly (and could not be rolled back).
//! - The session runs with `time_zone = '+00:00'` (TIMESTAMP columns and `timestamptz` values are
//!   UTC), `utf8mb4`, and a strict `sql_mode`, so a value that does not fit fails instead of being
//!   truncated or zeroed.
//! - Per-key order: see [`apply`]. Target tables are created or extended per [`ddl`], with types
//!   from [`types`] and values from [`values`].
//!
//! Failure: any error rolls the open transaction back and drops the table cache; connection-level
//! errors (and deadlocks, lock wait timeouts) are retriable — the runner builds a new sink —;
//! constraint violations, bad values, unsafe schema changes and keyless tables are fatal.

pub mod apply;
pub mod config;
pub mod ddl;
pub mod offsets;
pub mod types;
pub mod values;

use std::collections::HashMap;
use std::sync::Arc;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use sluice_core::sink::FencedWrite;
use sluice_core::transactional::TransactionalTarget;
use sluice_core::{BrokerOffset, ChangeEvent, ErrorKind, OffsetFence, Op, TableId, TableSchema};
use tracing::{debug, warn};

pub use config::MySqlSinkConfig;
pub use sluice_core::SchemaChanges;

use crate::error::MySqlError;
use apply::TablePlan;
use ddl::TargetTable;

/// Counter: events applied to the target, labels `table` (target table) and `op` (c/u/d/t; r
/// counts as c). Same name as the PostgreSQL sink's.
pub const METRIC_APPLIED: &str = "sluice_sink_applied_events_total";

/// Session settings of the sink's connection (see the module invariants).
const SESSION: &str = "SET NAMES utf8mb4, time_zone = '+00:00', sql_mode = \
    'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,\
    NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO'";

struct TableState {
    schema: Arc<TableSchema>,
    target: TargetTable,
    plan: TablePlan,
}

pub struct MySqlSink {
    config: MySqlSinkConfig,
    name: String,
    conn: Conn,
    in_tx: bool,
    tables: HashMap<TableId, TableState>,
    /// Most parameter bytes per statement: a quarter of `max_allowed_packet`.
    budget: usize,
    fence: OffsetFence,
}

impl MySqlSink {
    /// Connect, set up the session, and create the offsets database and `sluice_offsets` if
    /// missing. `name` keys this sink's offsets.
    pub async fn connect(config: MySqlSinkConfig, name: impl Into<String>) -> Result<Self, MySqlError> {
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
        Ok(Self {
            config,
            name: name.into(),
            conn,
            in_tx: false,
            tables: HashMap::new(),
            budget,
            fence: OffsetFence::default(),
        })
    }

    async fn begin(&mut self) -> Result<(), MySqlError> {
        if !self.in_tx {
            self.conn
                .query_drop("START TRANSACTION")
                .await
                .map_err(|e| MySqlError::sink_query("START TRANSACTION", &e))?;
            self.in_tx = true;
        }
        Ok(())
    }

    async fn abort(&mut self) {
        self.tables.clear();
        if self.in_tx {
            self.in_tx = false;
            if let Err(e) = self.conn.query_drop("ROLLBACK").await {
                debug!(error = %e, "rollback failed");
            }
        }
    }

    async fn apply_inner(&mut self, events: &[ChangeEvent]) -> Result<(), MySqlError> {
        self.begin().await?;
        for ev in events {
            let id = &ev.table.id;
            let fresh = match self.tables.get(id) {
                Some(st) => st.schema.columns != ev.table.columns || st.schema.key != ev.table.key,
                None => true,
            };
            if fresh {
                if let Some(mut old) = self.tables.remove(id) {
                    old.plan.flush(&mut self.conn, &old.target, &old.schema.key, self.budget).await?;
                }
                let (db, table) = self.config.target_name(&id.schema, &id.table);
                let (mut target, ran_ddl) = ddl::ensure(
                    &mut self.conn,
                    &db,
                    &table,
                    ev.source.connector,
                    &ev.table,
                    self.config.schema_changes,
                )
                .await?;
                target.unrepresentable = self.config.unrepresentable_values;
                if ran_ddl {
                    // The DDL committed implicitly; keep everything after it transactional.
                    self.in_tx = false;
                    self.begin().await?;
                }
                self.tables.insert(
                    id.clone(),
                    TableState { schema: ev.table.clone(), target, plan: TablePlan::default() },
                );
            }
            let Some(st) = self.tables.get_mut(id) else { continue };
            if ev.op == Op::Truncate {
                st.plan.clear();
                let sql = format!("DELETE FROM {}", st.target.qualified);
                self.conn.query_drop(sql).await.map_err(|e| {
                    MySqlError::sink_query(format_args!("truncating {}", st.target.qualified), &e)
                })?;
                metrics::counter!(METRIC_APPLIED, "table" => st.target.qualified.clone(), "op" => "t")
                    .increment(1);
            } else {
                st.plan.add(ev, &st.target)?;
            }
        }
        for st in self.tables.values_mut() {
            if st.plan.is_empty() {
                continue;
            }
            st.plan.flush(&mut self.conn, &st.target, &st.schema.key, self.budget).await?;
            let counts = st.plan.take_counts();
            for (i, op) in ["c", "u", "d"].into_iter().enumerate() {
                let n = counts[i];
                if n > 0 {
                    metrics::counter!(METRIC_APPLIED, "table" => st.target.qualified.clone(), "op" => op)
                        .increment(n);
                }
            }
        }
        Ok(())
    }
}

/// Rows and offsets commit in one InnoDB transaction; `Sink` (rollback on failure, fenced
/// offsets) comes from [`TransactionalTarget`].
impl TransactionalTarget for MySqlSink {
    type Error = MySqlError;

    async fn begin(&mut self) -> Result<(), MySqlError> {
        MySqlSink::begin(self).await
    }

    async fn write(&mut self, events: &[ChangeEvent]) -> Result<(), MySqlError> {
        let r = self.apply_inner(events).await;
        if let Err(e) = &r {
            warn!(error = %e, "apply failed; rolling back");
        }
        r
    }

    async fn store_offsets(&mut self, writes: &[FencedWrite<'_>]) -> Result<usize, MySqlError> {
        offsets::write(&mut self.conn, self.config.offsets_database(), &self.name, writes).await
    }

    async fn commit_transaction(&mut self) -> Result<(), MySqlError> {
        self.conn.query_drop("COMMIT").await.map_err(|e| MySqlError::sink_query("COMMIT", &e))?;
        self.in_tx = false;
        Ok(())
    }

    async fn abort(&mut self) {
        MySqlSink::abort(self).await;
    }

    async fn read_offsets(&mut self) -> Result<Vec<BrokerOffset>, MySqlError> {
        offsets::read(&mut self.conn, self.config.offsets_database(), &self.name).await
    }

    fn fence(&mut self) -> &mut OffsetFence {
        &mut self.fence
    }

    fn fenced(&self, message: String) -> MySqlError {
        MySqlError::Sink { reason: message, kind: ErrorKind::Retriable }
    }
}
