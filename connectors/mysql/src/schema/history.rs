//! The schema history seam: where each new version of a table definition is recorded, and where
//! the version sequence continues from after a restart.
//!
//! [`InMemoryHistory`] lives as long as the process (tests, embedding); `sluice source` uses the
//! compacted Kafka topic of `src/source_cmd/schema_history.rs` (like Debezium's schema history
//! topic), plugged in through [`SchemaHistory`] (`MySqlSource::start_with_history`), so version
//! numbers continue across restarts. With `binlog_row_metadata=FULL` the
//! binlog itself carries every definition, so the history is needed for stable version numbers
//! across restarts; with MINIMAL metadata a persisted history would also let events that precede
//! a DDL decode with the column list that was valid when they were written.
//!
//! Contract: `record` is called before the first event that uses the new version is emitted,
//! with the binlog position of the TABLE_MAP (or DDL) that introduced it; versions of one table
//! increase by one per recorded change. An error from `record` stops the source.

use std::collections::HashMap;
use std::sync::Arc;

use sluice_core::{BinlogPosition, TableId, TableSchema};

use crate::error::MySqlError;

/// One new version of a table, as first seen in the binlog.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaChange {
    pub schema: Arc<TableSchema>,
    /// Where in the binlog the definition was first seen.
    pub position: BinlogPosition,
}

pub trait SchemaHistory: Send {
    /// Persist a new version (called before any event using it is emitted).
    fn record(&mut self, change: &SchemaChange) -> Result<(), MySqlError>;

    /// The latest recorded version of a table.
    fn latest(&self, table: &TableId) -> Option<Arc<TableSchema>>;

    /// A recorded version of `schema.id` with exactly these columns and key: events replayed
    /// after a restart (written before a later DDL) get the version they had the first time.
    fn matching(&self, schema: &TableSchema) -> Option<Arc<TableSchema>>;
}

/// Same columns and key (the version is what is being looked up).
pub fn same_definition(a: &TableSchema, b: &TableSchema) -> bool {
    a.id == b.id && a.columns == b.columns && a.key == b.key
}

/// Keeps every change in memory for the life of the process.
#[derive(Debug, Default)]
pub struct InMemoryHistory {
    changes: Vec<SchemaChange>,
    latest: HashMap<TableId, Arc<TableSchema>>,
}

impl InMemoryHistory {
    pub fn changes(&self) -> &[SchemaChange] {
        &self.changes
    }
}

impl SchemaHistory for InMemoryHistory {
    fn record(&mut self, change: &SchemaChange) -> Result<(), MySqlError> {
        self.latest.insert(change.schema.id.clone(), change.schema.clone());
        self.changes.push(change.clone());
        Ok(())
    }

    fn matching(&self, schema: &TableSchema) -> Option<Arc<TableSchema>> {
        self.changes.iter().rev().map(|c| &c.schema).find(|s| same_definition(s, schema)).cloned()
    }

    fn latest(&self, table: &TableId) -> Option<Arc<TableSchema>> {
        self.latest.get(table).cloned()
    }
}
