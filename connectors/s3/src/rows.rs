//! What one file row holds: the change's metadata columns and the row image.
//!
//! Metadata (in this order, before the table's columns): `__op` (`c`, `u`, `d`, `r`, `t`),
//! `__ts_ms` (source commit time), `__source_pos` (PostgreSQL LSN `X/Y`; MySQL/MariaDB
//! `file:pos`), `__txn_id` (PostgreSQL transaction id; MySQL/MariaDB GTID; else null),
//! `__topic`, `__partition`, `__offset` (the record), `__unchanged` (names of columns the source
//! did not send — unchanged TOAST values — written as null: a reader takes them from the key's
//! previous row). The image is `after`, for a delete `before`, for a truncate every column null.

use std::sync::Arc;

use sluice_core::{ChangeEvent, Op, RecordAt, SourceDetail, Value};

/// The metadata columns' names, in file order.
pub const META_COLUMNS: [&str; 8] =
    ["__op", "__ts_ms", "__source_pos", "__txn_id", "__topic", "__partition", "__offset", "__unchanged"];

pub struct Meta {
    pub op: &'static str,
    pub ts_ms: i64,
    pub pos: String,
    pub txn: Option<String>,
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    pub unchanged: Vec<String>,
}

pub struct FileRow {
    pub meta: Meta,
    /// One value per table column (never `Unchanged`: those are `Null` and named in the meta).
    pub image: Vec<Value>,
}

impl FileRow {
    pub fn of(ev: &ChangeEvent, at: &RecordAt<'_>, topic: &Arc<str>) -> Result<Self, String> {
        let image = match ev.op {
            Op::Truncate => None,
            Op::Delete => Some(ev.before.as_deref().ok_or_else(|| ev.missing_image("before"))?),
            _ => Some(ev.after.as_deref().ok_or_else(|| ev.missing_image("after"))?),
        };
        if let Some(row) = image {
            // A change without its key cannot be replayed onto the key's earlier rows.
            for &i in &ev.table.key {
                if row.get(i).is_none_or(|v| v.is_null() || v.is_unchanged()) {
                    let c = ev.table.columns.get(i).map_or("?", |c| c.name.as_str());
                    return Err(format!(
                        "{} event for {}: key column {} is NULL or missing",
                        ev.op.code(),
                        ev.table.id,
                        c
                    ));
                }
            }
        }
        let mut unchanged = Vec::new();
        let image: Vec<Value> = match image {
            None => vec![Value::Null; ev.table.columns.len()],
            Some(row) => row
                .iter()
                .zip(&ev.table.columns)
                .map(|(v, c)| {
                    if v.is_unchanged() {
                        unchanged.push(c.name.clone());
                        Value::Null
                    } else {
                        v.clone()
                    }
                })
                .collect(),
        };
        let (pos, txn) = match &ev.source.detail {
            SourceDetail::Postgres { lsn, tx_id, .. } => {
                (sluice_core::Lsn(*lsn).to_string(), tx_id.map(|t| t.to_string()))
            }
            SourceDetail::MySql { file, pos, gtid, .. } => (format!("{file}:{pos}"), gtid.clone()),
        };
        let meta = Meta {
            op: ev.op.code(),
            ts_ms: ev.source.ts_ms,
            pos,
            txn,
            topic: topic.clone(),
            partition: at.partition,
            offset: at.offset,
            unchanged,
        };
        Ok(Self { meta, image })
    }

    /// A rough size of the row once encoded, for `roll_bytes`.
    pub fn weight(&self) -> usize {
        48 + self.meta.pos.len()
            + self
                .image
                .iter()
                .map(|v| match v {
                    Value::Text(s) | Value::Decimal(s) | Value::Json(s) => s.len() + 4,
                    Value::Bytes(b) => b.len() + 4,
                    Value::Array(items) => 8 * items.len() + 4,
                    _ => 8,
                })
                .sum::<usize>()
    }
}
