//! Value conversion and statement text of the MariaDB/MySQL target. A table's planned deletes
//! and upserts (see [`sluice_core::relational`] for the plan) run as multi-row
//! `DELETE … WHERE (key) IN (…)` statements, then multi-row
//! `INSERT … ON DUPLICATE KEY UPDATE col = VALUES(col)` statements, one group per set of sent
//! columns: columns a group does not send are neither inserted nor updated, so the target keeps
//! them.
//!
//! Values are converted while planning ([`convert`]), so a value MariaDB cannot store fails the
//! batch with the table, column and value named, before any statement runs. Statements stay
//! under 1000 rows, 65 535 placeholders and a byte budget below `max_allowed_packet`.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params};
use sluice_core::plan::PlanCell;
use sluice_core::ChangeEvent;

use crate::error::MySqlError;
use crate::sink::ddl::TargetTable;
use crate::sink::values::{cell, Cell, Slot};

/// MariaDB's limit on placeholders per prepared statement.
const MAX_PARAMS: usize = 65_535;
/// Rows per statement, whatever the column count.
const MAX_ROWS: usize = 1_000;

type Key = Vec<Cell>;

impl PlanCell for Cell {
    fn is_unchanged(&self) -> bool {
        *self == Cell::Unchanged
    }
    fn is_null(&self) -> bool {
        *self == Cell::Null
    }
}

/// Counter: values MariaDB could not hold that were written as NULL or clamped, by policy.
pub const METRIC_UNREPRESENTABLE: &str = "sluice_sink_unrepresentable_values_total";

/// Column `i` of `ev`'s row as a cell, or a fatal error naming table, column and reason.
pub fn convert(
    ev: &ChangeEvent,
    t: &TargetTable,
    i: usize,
    v: &sluice_core::Value,
) -> Result<Cell, MySqlError> {
    use sluice_core::Unrepresentable;
    let slot = t.slots.get(i).copied().unwrap_or(Slot::Other);
    let nullable = t.nullable.get(i).copied().unwrap_or(false);
    cell(v, slot).or_else(|reason| {
        // `unrepresentable_values`: the nearest storable value, else NULL where allowed.
        let fallback = match t.unrepresentable {
            Unrepresentable::Fail => None,
            Unrepresentable::Clamp => super::values::clamped(v, slot),
            Unrepresentable::Null => None,
        }
        .or_else(|| (t.unrepresentable != Unrepresentable::Fail && nullable).then_some(Cell::Null));
        if fallback.is_some() {
            metrics::counter!(METRIC_UNREPRESENTABLE, "policy" => format!("{:?}", t.unrepresentable).to_lowercase())
                .increment(1);
        }
        fallback.ok_or(reason)
    }).map_err(|reason| {
        MySqlError::sink_fatal(format!(
            "cannot write {} event for source table {} to {}: column {}: {reason}",
            ev.op.code(),
            ev.table.id,
            t.qualified,
            t.names.get(i).map_or("?", String::as_str),
        ))
    })
}

fn key_list(t: &TargetTable, key_idx: &[usize]) -> String {
    key_idx.iter().filter_map(|&i| t.columns.get(i).cloned()).collect::<Vec<_>>().join(", ")
}

/// Split `rows` into statement-sized chunks: by row count, placeholders and parameter bytes.
fn chunks<R>(rows: &[R], per_row: usize, budget: usize, size: impl Fn(&R) -> usize) -> Vec<&[R]> {
    let max_rows = (MAX_PARAMS / per_row.max(1)).clamp(1, MAX_ROWS);
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, r) in rows.iter().enumerate() {
        let b = size(r);
        if i > start && (i - start >= max_rows || bytes + b > budget) {
            out.push(&rows[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += b;
    }
    if start < rows.len() {
        out.push(&rows[start..]);
    }
    out
}

/// Delete `keys` (cells in key order) from `t`.
pub async fn delete(
    conn: &mut Conn,
    t: &TargetTable,
    key_idx: &[usize],
    keys: &[Key],
    budget: usize,
) -> Result<(), MySqlError> {
    let one = format!("({})", vec!["?"; key_idx.len()].join(","));
    for part in chunks(keys, key_idx.len(), budget, |k| k.iter().map(Cell::wire_len).sum()) {
        let sql = format!(
            "DELETE FROM {} WHERE ({}) IN ({})",
            t.qualified,
            key_list(t, key_idx),
            vec![one.as_str(); part.len()].join(",")
        );
        let params: Vec<mysql_async::Value> = part.iter().flatten().map(Cell::param).collect();
        conn.exec_drop(sql, Params::Positional(params))
            .await
            .map_err(|e| MySqlError::sink_query(format_args!("deleting rows from {}", t.qualified), &e))?;
    }
    Ok(())
}

/// Upsert `rows` into `t`, writing only the columns `mask` sends.
pub async fn upsert(
    conn: &mut Conn,
    t: &TargetTable,
    key_idx: &[usize],
    mask: &[bool],
    rows: &[Vec<Cell>],
    budget: usize,
) -> Result<(), MySqlError> {
    let cols: Vec<usize> = (0..mask.len()).filter(|&i| mask[i]).collect();
    let names: Vec<&str> = cols.iter().filter_map(|&i| t.columns.get(i).map(String::as_str)).collect();
    let mut updates: Vec<String> = cols
        .iter()
        .filter(|i| !key_idx.contains(i))
        .filter_map(|&i| t.columns.get(i).map(|c| format!("{c} = VALUES({c})")))
        .collect();
    if updates.is_empty() {
        // Only key columns: the row exists or is inserted; a self-assignment is a no-op.
        updates =
            key_idx.iter().take(1).filter_map(|&i| t.columns.get(i).map(|c| format!("{c} = {c}"))).collect();
    }
    let one = format!("({})", vec!["?"; cols.len()].join(","));
    for part in
        chunks(rows, cols.len(), budget, |r| cols.iter().filter_map(|&i| r.get(i)).map(Cell::wire_len).sum())
    {
        let sql = format!(
            "INSERT INTO {} ({}) VALUES {} ON DUPLICATE KEY UPDATE {}",
            t.qualified,
            names.join(", "),
            vec![one.as_str(); part.len()].join(","),
            updates.join(", ")
        );
        let params: Vec<mysql_async::Value> = part
            .iter()
            .flat_map(|r| cols.iter().map(|&i| r.get(i).map_or(mysql_async::Value::NULL, Cell::param)))
            .collect();
        conn.exec_drop(sql, Params::Positional(params))
            .await
            .map_err(|e| MySqlError::sink_query(format_args!("upserting rows into {}", t.qualified), &e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sluice_core::relational::Dialect;
    use sluice_core::{Column, DataType, Op, TableId, TableSchema, Value};

    use super::*;

    fn schema() -> Arc<TableSchema> {
        Arc::new(TableSchema {
            id: TableId::new("public", "t"),
            columns: vec![
                Column::new("id", DataType::Int32, "integer", false),
                Column::new("a", DataType::Text, "text", true),
                Column::new("b", DataType::Text, "text", true),
            ],
            key: vec![0],
            version: 1,
        })
    }

    fn target() -> TargetTable {
        TargetTable {
            qualified: "`public`.`t`".into(),
            types: vec!["int".into(), "longtext".into(), "longtext".into()],
            slots: vec![Slot::Other; 3],
            columns: vec!["`id`".into(), "`a`".into(), "`b`".into()],
            names: vec!["id".into(), "a".into(), "b".into()],
            nullable: vec![false, true, true],
            unrepresentable: sluice_core::Unrepresentable::Fail,
        }
    }

    #[test]
    fn unrepresentable_values_follow_the_policy() {
        use sluice_core::Unrepresentable;
        let mut t = target();
        t.types[1] = "datetime(6)".into();
        let e = ev(Op::Create, None, Some(vec![Value::Int32(1), Value::Timestamp(i64::MAX), Value::Null]));
        let err = convert(&e, &t, 1, &Value::Timestamp(i64::MAX)).unwrap_err().to_string();
        assert!(err.contains("column a"), "{err}");
        t.unrepresentable = Unrepresentable::Null;
        assert_eq!(convert(&e, &t, 1, &Value::Timestamp(i64::MAX)).unwrap(), Cell::Null);
        assert!(convert(&e, &t, 0, &Value::Float64(f64::NAN)).is_err(), "NOT NULL column: no NULL");
        t.unrepresentable = Unrepresentable::Clamp;
        assert!(matches!(
            convert(&e, &t, 1, &Value::Timestamp(i64::MAX)).unwrap(),
            Cell::DateTime { year: 9999, .. }
        ));
        assert_eq!(convert(&e, &t, 2, &Value::Float64(f64::NAN)).unwrap(), Cell::Null);
    }

    fn ev(op: Op, before: Option<Vec<Value>>, after: Option<Vec<Value>>) -> ChangeEvent {
        ChangeEvent {
            table: schema(),
            op,
            before,
            after,
            source: sluice_core::SourceInfo {
                connector: "postgresql",
                name: "s".into(),
                ts_ms: 0,
                snapshot: sluice_core::SnapshotMarker::False,
                db: "d".into(),
                schema: Some("public".into()),
                table: "t".into(),
                detail: sluice_core::SourceDetail::Postgres {
                    lsn: 0,
                    tx_id: None,
                    xmin: None,
                    sequence: None,
                },
            },
            ts_ms: 0,
            transaction: None,
            position: sluice_core::Position::Postgres(sluice_core::Lsn(0)),
        }
    }

    #[test]
    fn bad_values_name_table_and_column() {
        let mut s = (*schema()).clone();
        s.columns[1] = Column::new("a", DataType::Date, "date", true);
        let mut e = ev(Op::Create, None, Some(vec![Value::Int32(1), Value::Date(-800_000), Value::Null]));
        e.table = Arc::new(s);
        let err = crate::sink::MySqlDialect::row(&e, &target(), e.after.as_deref().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("public.t") && err.contains("column a") && err.contains("BC"), "{err}");
    }

    #[test]
    fn chunks_respect_rows_and_bytes() {
        let rows: Vec<usize> = vec![10; 25];
        let c = chunks(&rows, 1, 100, |r| *r);
        assert_eq!(c.iter().map(|p| p.len()).collect::<Vec<_>>(), [10, 10, 5]);
        let big = vec![500usize; 3];
        assert_eq!(chunks(&big, 1, 100, |r| *r).len(), 3);
        let many = vec![1usize; 2500];
        assert_eq!(chunks(&many, 1, usize::MAX, |r| *r).len(), 3);
    }
}
