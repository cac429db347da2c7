//! The PostgreSQL sink: applies change events to a PostgreSQL database, exactly once.
//!
//! Invariants:
//! - One target transaction spans everything applied since the last commit; `commit` writes the
//!   consumed offsets into `sluice_offsets` in that same transaction and then `COMMIT`s, so the
//!   target's rows and its stored offsets always agree. After a crash the runner resumes from
//!   [`PgSink::stored_offsets`]; writes of uncommitted batches were rolled back with the
//!   connection.
//! - Writes are idempotent (upsert by key, delete by key, truncate), so replaying a topic from
//!   the beginning, even under a new consumer group, leaves the target as it is.
//! - Per-key order: see [`apply`]. Target tables are created or extended per [`ddl`].
//!
//! - Offsets are compare-and-set against what this process read or last wrote
//!   ([`OffsetFence`]): a process whose partition another member of the group has since advanced
//!   gets a retriable error and rolls back, so a stale batch never overwrites newer rows.
//!
//! Failure: any error rolls the open transaction back and drops the table cache; connection-level
//! errors are retriable (the runner builds a new sink), constraint violations, bad values and
//! unsafe schema changes are fatal.

pub mod apply;
pub mod config;
pub mod ddl;
pub mod offsets;
pub mod text;

use std::collections::HashMap;
use std::sync::Arc;

use sluice_core::sink::FencedWrite;
use sluice_core::transactional::TransactionalTarget;
use sluice_core::{BrokerOffset, ChangeEvent, ErrorKind, OffsetFence, Op, TableId, TableSchema};
use tokio_postgres::Client;
use tracing::{debug, warn};

pub use config::PgSinkConfig;
pub use sluice_core::SchemaChanges;

use crate::error::PgError;
use apply::TablePlan;
use ddl::TargetTable;

/// Counter: events applied to the target, labels `table` (target table) and `op` (c/u/d/r/t).
pub const METRIC_APPLIED: &str = "sluice_sink_applied_events_total";

struct TableState {
    schema: Arc<TableSchema>,
    target: TargetTable,
    plan: TablePlan,
}

pub struct PgSink {
    config: PgSinkConfig,
    name: String,
    client: Client,
    in_tx: bool,
    tables: HashMap<TableId, TableState>,
    fence: OffsetFence,
}

impl PgSink {
    /// Connect, and create `sluice_offsets` if missing. `name` keys this sink's offsets.
    pub async fn connect(config: PgSinkConfig, name: impl Into<String>) -> Result<Self, PgError> {
        let client = config.connection.connect().await?;
        offsets::ensure_table(&client).await?;
        Ok(Self {
            config,
            name: name.into(),
            client,
            in_tx: false,
            tables: HashMap::new(),
            fence: OffsetFence::default(),
        })
    }

    async fn begin(&mut self) -> Result<(), PgError> {
        if !self.in_tx {
            self.client.batch_execute("BEGIN").await.map_err(|e| PgError::query("BEGIN", &e))?;
            self.in_tx = true;
        }
        Ok(())
    }

    async fn abort(&mut self) {
        self.tables.clear();
        if self.in_tx {
            self.in_tx = false;
            if let Err(e) = self.client.batch_execute("ROLLBACK").await {
                debug!(error = %e, "rollback failed");
            }
        }
    }

    async fn apply_inner(&mut self, events: &[ChangeEvent]) -> Result<(), PgError> {
        self.begin().await?;
        for ev in events {
            let id = &ev.table.id;
            let fresh = match self.tables.get(id) {
                Some(st) => st.schema.columns != ev.table.columns || st.schema.key != ev.table.key,
                None => true,
            };
            if fresh {
                if let Some(mut old) = self.tables.remove(id) {
                    old.plan.flush(&self.client, &old.target, &old.schema.key).await?;
                }
                let (schema, table) = self.config.target_name(&id.schema, &id.table);
                let target = ddl::ensure(
                    &self.client,
                    &schema,
                    &table,
                    ev.source.connector,
                    &ev.table,
                    self.config.schema_changes,
                )
                .await?;
                self.tables.insert(
                    id.clone(),
                    TableState { schema: ev.table.clone(), target, plan: TablePlan::default() },
                );
            }
            let Some(st) = self.tables.get_mut(id) else { continue };
            if ev.op == Op::Truncate {
                st.plan.clear();
                let sql = format!("TRUNCATE {}", st.target.qualified);
                self.client.batch_execute(&sql).await.map_err(|e| PgError::query("truncating", &e))?;
                metrics::counter!(METRIC_APPLIED, "table" => st.target.qualified.clone(), "op" => "t")
                    .increment(1);
            } else {
                st.plan.add(ev)?;
            }
        }
        for st in self.tables.values_mut() {
            if st.plan.is_empty() {
                continue;
            }
            st.plan.flush(&self.client, &st.target, &st.schema.key).await?;
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

/// Rows and offsets commit in one PostgreSQL transaction; `Sink` (rollback on failure, fenced
/// offsets) comes from [`TransactionalTarget`].
impl TransactionalTarget for PgSink {
    type Error = PgError;

    async fn begin(&mut self) -> Result<(), PgError> {
        PgSink::begin(self).await
    }

    async fn write(&mut self, events: &[ChangeEvent]) -> Result<(), PgError> {
        let r = self.apply_inner(events).await;
        if let Err(e) = &r {
            warn!(error = %e, "apply failed; rolling back");
        }
        r
    }

    async fn store_offsets(&mut self, writes: &[FencedWrite<'_>]) -> Result<usize, PgError> {
        offsets::write(&self.client, &self.name, writes).await
    }

    async fn commit_transaction(&mut self) -> Result<(), PgError> {
        self.client.batch_execute("COMMIT").await.map_err(|e| PgError::query("COMMIT", &e))?;
        self.in_tx = false;
        Ok(())
    }

    async fn abort(&mut self) {
        PgSink::abort(self).await;
    }

    async fn read_offsets(&mut self) -> Result<Vec<BrokerOffset>, PgError> {
        offsets::read(&self.client, &self.name).await
    }

    fn fence(&mut self) -> &mut OffsetFence {
        &mut self.fence
    }

    fn fenced(&self, message: String) -> PgError {
        PgError::Source { reason: message, kind: ErrorKind::Retriable }
    }
}
