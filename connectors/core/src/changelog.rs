//! The change-log shape of the document and key-value targets (`shape = "changelog"`): instead
//! of keeping one record per source row, every change event is appended as one entry holding the
//! whole Debezium envelope — `op`, `ts_ms`, `before`, `after`, `source`, `transaction` — plus
//! the record's `topic`, `partition` and `offset`, for consumers that want the history.
//!
//! Invariants: an entry is identified by its record (topic, partition, offset), so writing it
//! again (a replay) is idempotent where the target keys entries by it, and atomic with the
//! offsets where the target appends (Redis streams); unchanged (TOAST) columns are left out of
//! `after` (the source did not send them); a truncate is an entry with `op = "t"` and no images.

use crate::{ChangeEvent, SourceDetail, SourceInfo, TableSchema, Value};

/// Why a target in the change-log shape refuses events without record coordinates (what
/// transaction-consistent mode hands it).
pub const NEEDS_RECORD_POSITIONS: &str =
    "shape = \"changelog\" records each record's topic, partition and offset, \
     which transaction-consistent mode does not provide; set transaction_consistent = false";

/// `shape` of a document/key-value target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    /// One record per source row, kept current (default).
    #[default]
    Row,
    /// One entry per change event, appended.
    Changelog,
}

/// The columns of a row image that the source sent, by name.
pub fn row_fields<'a>(t: &'a TableSchema, row: &'a [Value]) -> Vec<(&'a str, &'a Value)> {
    t.columns.iter().zip(row).filter(|(_, v)| !v.is_unchanged()).map(|(c, v)| (c.name.as_str(), v)).collect()
}

/// Debezium's `source` block as named values.
pub fn source_fields(s: &SourceInfo) -> Vec<(&'static str, Value)> {
    let text = |v: &str| Value::Text(v.to_owned());
    let opt_int = |v: Option<i64>| v.map_or(Value::Null, Value::Int64);
    let mut out = vec![
        ("connector", text(s.connector)),
        ("name", text(&s.name)),
        ("ts_ms", Value::Int64(s.ts_ms)),
        ("snapshot", text(s.snapshot.as_str())),
        ("db", text(&s.db)),
    ];
    if let Some(schema) = &s.schema {
        out.push(("schema", text(schema)));
    }
    out.push(("table", text(&s.table)));
    match &s.detail {
        SourceDetail::Postgres { lsn, tx_id, xmin, sequence } => {
            out.push(("lsn", Value::Int64(i64::try_from(*lsn).unwrap_or(i64::MAX))));
            out.push(("txId", opt_int(*tx_id)));
            out.push(("xmin", opt_int(*xmin)));
            out.push(("sequence", sequence.as_deref().map_or(Value::Null, text)));
        }
        SourceDetail::MySql { server_id, gtid, file, pos, row, thread, query } => {
            out.push(("server_id", Value::Int64(i64::from(*server_id))));
            out.push(("gtid", gtid.as_deref().map_or(Value::Null, text)));
            out.push(("file", text(file)));
            out.push(("pos", Value::Int64(i64::try_from(*pos).unwrap_or(i64::MAX))));
            out.push(("row", Value::Int32(i32::try_from(*row).unwrap_or(i32::MAX))));
            out.push(("thread", opt_int(*thread)));
            out.push(("query", query.as_deref().map_or(Value::Null, text)));
        }
    }
    out
}

/// Debezium's `transaction` block as named values, when the event has one.
pub fn transaction_fields(ev: &ChangeEvent) -> Option<Vec<(&'static str, Value)>> {
    let t = ev.transaction.as_ref()?;
    let n = |v: u64| Value::Int64(i64::try_from(v).unwrap_or(i64::MAX));
    Some(vec![
        ("id", Value::Text(t.id.clone())),
        ("total_order", n(t.total_order)),
        ("data_collection_order", n(t.data_collection_order)),
    ])
}
