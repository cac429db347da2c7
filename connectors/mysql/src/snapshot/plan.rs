//! Splitting each captured table into chunks, and the SQL and parameters that read one chunk.
//!
//! A table with a primary key is split into key ranges: chunk `i` holds the keys in
//! `(bounds[i-1], bounds[i]]` (the first unbounded below, the last above), so the chunks
//! partition the key space whatever rows exist — in this snapshot or a later one, which is what
//! makes a resumed load exact. Bounds are the keys of every `chunk_rows`-th row in key order,
//! read with `ORDER BY key LIMIT 1 OFFSET n` inside the snapshot and kept as typed values
//! ([`Bound`]) that go back to the server as statement parameters, so the comparison is the
//! server's own (`(a, b) > (?, ?)` orders like the key's index, with its collation).
//! A table without a primary key is one chunk, read whole.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value as My};
use serde::{Deserialize, Serialize};
use sluice_core::TableId;

use crate::error::MySqlError;

/// A key value as stored in the plan (JSON in the state topic).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", content = "v", rename_all = "snake_case")]
pub enum Bound {
    Null,
    Int(i64),
    UInt(u64),
    Float(f32),
    Double(f64),
    /// Hex of the bytes (strings arrive as UTF-8, the session's charset).
    Bytes(String),
    /// year, month, day, hour, minute, second, microsecond
    Date(u16, u8, u8, u8, u8, u8, u32),
    /// negative, days, hours, minutes, seconds, microseconds
    Time(bool, u32, u8, u8, u8, u32),
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()).collect()
}

impl From<My> for Bound {
    fn from(v: My) -> Self {
        match v {
            My::NULL => Bound::Null,
            My::Int(i) => Bound::Int(i),
            My::UInt(u) => Bound::UInt(u),
            My::Float(f) => Bound::Float(f),
            My::Double(d) => Bound::Double(d),
            My::Bytes(b) => Bound::Bytes(hex(&b)),
            My::Date(y, m, d, h, mi, s, us) => Bound::Date(y, m, d, h, mi, s, us),
            My::Time(n, d, h, m, s, us) => Bound::Time(n, d, h, m, s, us),
        }
    }
}

impl From<&Bound> for My {
    fn from(b: &Bound) -> Self {
        match b {
            Bound::Null => My::NULL,
            Bound::Int(i) => My::Int(*i),
            Bound::UInt(u) => My::UInt(*u),
            Bound::Float(f) => My::Float(*f),
            Bound::Double(d) => My::Double(*d),
            Bound::Bytes(h) => My::Bytes(unhex(h)),
            Bound::Date(y, m, d, h, mi, s, us) => My::Date(*y, *m, *d, *h, *mi, *s, *us),
            Bound::Time(n, d, h, m, s, us) => My::Time(*n, *d, *h, *m, *s, *us),
        }
    }
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bound::Null => write!(f, "NULL"),
            Bound::Int(i) => write!(f, "{i}"),
            Bound::UInt(u) => write!(f, "{u}"),
            Bound::Float(x) => write!(f, "{x}"),
            Bound::Double(x) => write!(f, "{x}"),
            Bound::Bytes(h) => write!(f, "{}", String::from_utf8_lossy(&unhex(h))),
            Bound::Date(y, m, d, h, mi, s, _) => write!(f, "{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}"),
            Bound::Time(n, d, h, m, s, _) => {
                write!(f, "{}{}:{m:02}:{s:02}", if *n { "-" } else { "" }, *d * 24 + u32::from(*h))
            }
        }
    }
}

/// How one table is split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Split {
    /// Primary-key ranges; `bounds[i]` is the key of the last row of chunk `i`.
    Key { columns: Vec<String>, bounds: Vec<Vec<Bound>> },
    /// No primary key: one chunk.
    Whole,
}

/// One table of a full load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TablePlan {
    pub database: String,
    pub table: String,
    /// Rows expected (`information_schema.TABLES.TABLE_ROWS`, or the split's count).
    pub estimated_rows: u64,
    pub split: Split,
}

pub(crate) use crate::sql::quote_ident;

impl TablePlan {
    pub fn id(&self) -> TableId {
        TableId::new(self.database.as_str(), self.table.as_str())
    }

    pub fn from_sql(&self) -> String {
        format!("{}.{}", quote_ident(&self.database), quote_ident(&self.table))
    }

    pub fn chunks(&self) -> usize {
        match &self.split {
            Split::Key { bounds, .. } => bounds.len() + 1,
            Split::Whole => 1,
        }
    }

    /// The `WHERE` condition selecting chunk `i`, with its parameters.
    pub fn chunk_filter(&self, i: usize) -> (String, Vec<My>) {
        let Split::Key { columns, bounds } = &self.split else { return ("TRUE".into(), Vec::new()) };
        let cols: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
        let cols = format!("({})", cols.join(", "));
        let marks = format!("({})", vec!["?"; columns.len()].join(", "));
        let (mut conds, mut params) = (Vec::new(), Vec::new());
        if let Some(b) = i.checked_sub(1).and_then(|j| bounds.get(j)) {
            conds.push(format!("{cols} > {marks}"));
            params.extend(b.iter().map(My::from));
        }
        if let Some(b) = bounds.get(i) {
            conds.push(format!("{cols} <= {marks}"));
            params.extend(b.iter().map(My::from));
        }
        if conds.is_empty() {
            ("TRUE".into(), params)
        } else {
            (conds.join(" AND "), params)
        }
    }

    /// Chunk `i`'s range for log lines.
    pub fn chunk_range(&self, i: usize) -> String {
        match &self.split {
            Split::Key { bounds, .. } => {
                let show = |b: Option<&Vec<Bound>>| {
                    b.map(|v| v.iter().map(ToString::to_string).collect::<Vec<_>>().join(","))
                        .unwrap_or_else(|| "∞".into())
                };
                let lo = if i == 0 { "-∞".to_owned() } else { show(bounds.get(i - 1)) };
                format!("({lo}, {}]", show(bounds.get(i)))
            }
            Split::Whole => "whole table".into(),
        }
    }
}

impl sluice_core::ChunkedTable for TablePlan {
    fn table_id(&self) -> TableId {
        self.id()
    }

    fn estimated_rows(&self) -> u64 {
        self.estimated_rows
    }

    fn chunks(&self) -> usize {
        TablePlan::chunks(self)
    }

    fn chunk_range(&self, i: usize) -> String {
        TablePlan::chunk_range(self, i)
    }
}

/// Plan one table inside the snapshot: `key` is its primary key's columns (empty without one).
pub async fn plan_table(
    conn: &mut Conn,
    id: &TableId,
    key: &[String],
    estimate: u64,
    chunk_rows: u64,
) -> Result<TablePlan, MySqlError> {
    let chunk_rows = chunk_rows.max(1);
    let mut plan = TablePlan {
        database: id.schema.clone(),
        table: id.table.clone(),
        estimated_rows: estimate,
        split: Split::Whole,
    };
    if key.is_empty() {
        return Ok(plan);
    }
    let mut bounds: Vec<Vec<Bound>> = Vec::new();
    if estimate > chunk_rows / 2 {
        let cols: Vec<String> = key.iter().map(|c| quote_ident(c)).collect();
        let list = cols.join(", ");
        let from = plan.from_sql();
        let marks = vec!["?"; key.len()].join(", ");
        let offset = chunk_rows - 1;
        loop {
            let (sql, params): (String, Vec<My>) = match bounds.last() {
                None => (format!("SELECT {list} FROM {from} ORDER BY {list} LIMIT 1 OFFSET {offset}"), Vec::new()),
                Some(last) => (
                    format!(
                        "SELECT {list} FROM {from} WHERE ({list}) > ({marks}) ORDER BY {list} LIMIT 1 OFFSET {offset}"
                    ),
                    last.iter().map(My::from).collect(),
                ),
            };
            let row: Option<Row> = conn
                .exec_first(sql, params)
                .await
                .map_err(|e| MySqlError::query("splitting a table into chunks", &e))?;
            let Some(row) = row else { break };
            bounds.push(row.unwrap().into_iter().map(Bound::from).collect());
        }
    }
    plan.estimated_rows = estimate.max(bounds.len() as u64 * chunk_rows);
    plan.split = Split::Key { columns: key.to_vec(), bounds };
    Ok(plan)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn key_chunks_partition_the_key_space() {
        let p = TablePlan {
            database: "d".into(),
            table: "t`x".into(),
            estimated_rows: 3,
            split: Split::Key {
                columns: vec!["a".into(), "b".into()],
                bounds: vec![
                    vec![Bound::Int(10), Bound::Bytes(hex(b"ok"))],
                    vec![Bound::Int(20), Bound::Bytes(hex(b"z"))],
                ],
            },
        };
        assert_eq!(p.chunks(), 3);
        assert_eq!(p.from_sql(), "`d`.`t``x`");
        assert_eq!(
            p.chunk_filter(0),
            ("(`a`, `b`) <= (?, ?)".into(), vec![My::Int(10), My::Bytes(b"ok".to_vec())])
        );
        let (sql, params) = p.chunk_filter(1);
        assert_eq!(sql, "(`a`, `b`) > (?, ?) AND (`a`, `b`) <= (?, ?)");
        assert_eq!(params.len(), 4);
        assert_eq!(p.chunk_filter(2).0, "(`a`, `b`) > (?, ?)");
        assert_eq!(p.chunk_range(1), "(10,ok, 20,z]");
        let whole = TablePlan { split: Split::Whole, ..p };
        assert_eq!((whole.chunks(), whole.chunk_filter(0).0.as_str()), (1, "TRUE"));
    }

    #[test]
    fn bounds_round_trip_through_json_and_the_wire_type() {
        let vals = vec![
            My::Int(-3),
            My::UInt(u64::MAX),
            My::Bytes(vec![0, 0xff, b'a']),
            My::Date(2024, 2, 29, 1, 2, 3, 4),
            My::Time(true, 1, 2, 3, 4, 5),
            My::Double(0.5),
        ];
        let bounds: Vec<Bound> = vals.iter().cloned().map(Bound::from).collect();
        let json = serde_json::to_string(&bounds).unwrap();
        let back: Vec<Bound> = serde_json::from_str(&json).unwrap();
        assert_eq!(back.iter().map(My::from).collect::<Vec<_>>(), vals);
    }
}
