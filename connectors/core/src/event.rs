//! The change event: one row change in Debezium envelope terms.
//!
//! Invariants, per `op`:
//! - `Create` (`c`) and `Read` (`r`, snapshot): `after` is set, `before` is `None`;
//! - `Update` (`u`): `after` is set; `before` is set only when the source logs the old row
//!   (REPLICA IDENTITY FULL, MySQL `binlog_row_image=FULL`);
//! - `Delete` (`d`): `before` is set (at least the key columns), `after` is `None`; the broker
//!   stage writes a tombstone after it;
//! - `Truncate` (`t`): neither image.
//!
//! `position` is the source position to acknowledge once this event and every event before it
//! is durable; events of one source are emitted in non-decreasing position order.

use std::sync::Arc;

use crate::position::Position;
use crate::schema::TableSchema;
use crate::value::Row;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Create,
    Update,
    Delete,
    Read,
    Truncate,
}

impl Op {
    /// The Debezium `op` code.
    pub fn code(self) -> &'static str {
        match self {
            Op::Create => "c",
            Op::Update => "u",
            Op::Delete => "d",
            Op::Read => "r",
            Op::Truncate => "t",
        }
    }

    pub fn from_code(code: &str) -> Option<Op> {
        Some(match code {
            "c" => Op::Create,
            "u" => Op::Update,
            "d" => Op::Delete,
            "r" => Op::Read,
            "t" => Op::Truncate,
            _ => return None,
        })
    }
}

/// Debezium's `source.snapshot` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnapshotMarker {
    #[default]
    False,
    True,
    First,
    Last,
    LastInDataCollection,
    Incremental,
}

impl SnapshotMarker {
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotMarker::False => "false",
            SnapshotMarker::True => "true",
            SnapshotMarker::First => "first",
            SnapshotMarker::Last => "last",
            SnapshotMarker::LastInDataCollection => "last_in_data_collection",
            SnapshotMarker::Incremental => "incremental",
        }
    }
}

/// Connector-specific fields of the `source` block.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceDetail {
    Postgres {
        /// LSN of the change (of the commit for snapshot rows).
        lsn: u64,
        tx_id: Option<i64>,
        xmin: Option<i64>,
        /// Debezium's `["<last committed lsn>","<lsn>"]` sequence string.
        sequence: Option<String>,
    },
    MySql {
        server_id: u32,
        gtid: Option<String>,
        file: String,
        pos: u64,
        row: u32,
        thread: Option<i64>,
        query: Option<String>,
    },
}

/// The Debezium `source` block.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceInfo {
    /// `postgresql` or `mysql` (Debezium's connector names; MariaDB reports `mysql`).
    pub connector: &'static str,
    /// The logical server name: the topic prefix.
    pub name: String,
    /// Commit time of the change in the source, in milliseconds since the epoch.
    pub ts_ms: i64,
    pub snapshot: SnapshotMarker,
    pub db: String,
    /// Schema name; `None` for MySQL, where the database is the schema.
    pub schema: Option<String>,
    pub table: String,
    pub detail: SourceDetail,
}

/// Debezium's `transaction` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionInfo {
    /// `txid:lsn` for PostgreSQL, the GTID (or file:pos) for MySQL/MariaDB.
    pub id: String,
    /// 1-based position of the event among all events of the transaction.
    pub total_order: u64,
    /// 1-based position of the event among the transaction's events for this table.
    pub data_collection_order: u64,
}

/// One row change.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEvent {
    pub table: Arc<TableSchema>,
    pub op: Op,
    pub before: Option<Row>,
    pub after: Option<Row>,
    pub source: SourceInfo,
    /// When Sluice processed the event, in milliseconds since the epoch.
    pub ts_ms: i64,
    pub transaction: Option<TransactionInfo>,
    pub position: Position,
}

impl ChangeEvent {
    /// What a target says of an event that lacks the row image it needs (`before`, `after`).
    pub fn missing_image(&self, image: &str) -> String {
        format!("{} event for {} has no {image} image", self.op.code(), self.table.id)
    }

    /// What a target says of a column value it cannot hold, and why.
    pub fn bad_value(&self, column: &str, reason: &str) -> String {
        format!("cannot write {} event for {}: column {column}: {reason}", self.op.code(), self.table.id)
    }

    /// The row image the key is taken from: `after` for c/u/r, `before` for d.
    pub fn key_row(&self) -> Option<&Row> {
        match self.op {
            Op::Delete => self.before.as_ref(),
            Op::Truncate => None,
            _ => self.after.as_ref().or(self.before.as_ref()),
        }
    }
}

/// `BEGIN` or `END` of a source transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionStatus {
    Begin,
    End,
}

impl TransactionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionStatus::Begin => "BEGIN",
            TransactionStatus::End => "END",
        }
    }
}

/// A transaction boundary for Debezium's transaction metadata topic (`<prefix>.transaction`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionEvent {
    pub status: TransactionStatus,
    /// The same id as the events' `transaction.id`.
    pub id: String,
    /// Commit time in milliseconds since the epoch.
    pub ts_ms: i64,
    /// END only: events in the transaction.
    pub event_count: Option<u64>,
    /// END only: events per `schema.table`.
    pub data_collections: Vec<(String, u64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_codes_round_trip() {
        for op in [Op::Create, Op::Update, Op::Delete, Op::Read, Op::Truncate] {
            assert_eq!(Op::from_code(op.code()), Some(op));
        }
        assert_eq!(Op::from_code("x"), None);
    }
}
