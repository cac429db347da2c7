//! The schema history seam: where each new version of a table definition is recorded, and where
//! the version sequence continues from after a restart.
//!
//! Today only [`InMemoryHistory`] exists, so versions restart at 1 when the process restarts.
//! Issue 7 asks for a history persisted in a compacted Kafka topic (like Debezium's schema
//! history topic); that implementation belongs with the Kafka wiring and plugs in here through
//! [`SchemaHistory`] (`MySqlSource::start_with_history`). With `binlog_row_metadata=FULL` the
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

    fn latest(&self, table: &TableId) -> Option<Arc<TableSchema>> {
        self.latest.get(table).cloned()
    }
}
