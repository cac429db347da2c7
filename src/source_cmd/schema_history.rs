//! The MySQL/MariaDB schema history kept in a compacted Kafka topic (like Debezium's schema
//! history topic): one record per table version, keyed `<database>.<table>@<version>`, holding
//! the definition and the binlog position where it was first seen.
//!
//! Invariants: the source records a new definition (through [`SchemaHistory::record`], which is
//! synchronous and only queues it) before emitting any event that uses it; [`Pending::flush`]
//! stores every queued definition, acknowledged by the broker, before the batch holding such
//! events reaches the publisher. So after any crash the topic knows every version that was
//! published, and a restarted source continues the version sequence instead of starting at 1.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use sluice_core::{TableId, TableSchema};
use sluice_kafka::state::StateTopic;
use sluice_mysql::schema::history::{same_definition, SchemaChange, SchemaHistory};
use sluice_mysql::MySqlError;

/// What one record of the topic holds.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    schema: TableSchema,
    /// `file:pos` (and GTID set) where the definition was first seen.
    position: String,
}

/// Definitions recorded but not yet stored.
#[derive(Clone, Default)]
pub struct Pending(Arc<Mutex<Vec<SchemaChange>>>);

impl Pending {
    /// Store every queued definition; returns once the broker acknowledged them.
    pub async fn flush(&self, topic: &StateTopic) -> anyhow::Result<()> {
        let queued = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        for change in queued {
            let record = Record { schema: (*change.schema).clone(), position: change.position.to_string() };
            let key = format!("{}@{}", change.schema.id, change.schema.version);
            topic.store(&key, Some(&serde_json::to_vec(&record)?)).await?;
            tracing::info!(table = %change.schema.id, version = change.schema.version, position = %record.position, "schema history recorded");
        }
        Ok(())
    }
}

/// The history as the source sees it: loaded from the topic at start, extended in memory, with
/// new definitions queued in [`Pending`].
pub struct KafkaHistory {
    /// Every version of each table, in version order.
    versions: HashMap<TableId, Vec<Arc<TableSchema>>>,
    pending: Pending,
}

impl KafkaHistory {
    /// Read every table's latest definition from `topic`.
    pub async fn load(topic: &StateTopic) -> anyhow::Result<(Self, Pending)> {
        let mut versions: HashMap<TableId, Vec<Arc<TableSchema>>> = HashMap::new();
        for (key, bytes) in topic.load_prefix("").await? {
            match serde_json::from_slice::<Record>(&bytes) {
                Ok(r) => versions.entry(r.schema.id.clone()).or_default().push(Arc::new(r.schema)),
                Err(e) => anyhow::bail!("schema history record {key} is unreadable: {e}"),
            }
        }
        for v in versions.values_mut() {
            v.sort_by_key(|s| s.version);
        }
        tracing::info!(tables = versions.len(), "schema history loaded");
        let pending = Pending::default();
        Ok((Self { versions, pending: pending.clone() }, pending))
    }
}

impl SchemaHistory for KafkaHistory {
    fn record(&mut self, change: &SchemaChange) -> Result<(), MySqlError> {
        self.versions.entry(change.schema.id.clone()).or_default().push(change.schema.clone());
        self.pending.0.lock().unwrap_or_else(PoisonError::into_inner).push(change.clone());
        Ok(())
    }

    fn latest(&self, table: &TableId) -> Option<Arc<TableSchema>> {
        self.versions.get(table).and_then(|v| v.last()).cloned()
    }

    fn matching(&self, schema: &TableSchema) -> Option<Arc<TableSchema>> {
        let versions = self.versions.get(&schema.id)?;
        versions.iter().rev().find(|s| same_definition(s, schema)).cloned()
    }
}
