//! Buffering of streamed (in-progress) transactions with bounded memory.
//!
//! pgoutput's `streaming` sends a large transaction in chunks before it commits, interleaved
//! with other transactions. Nothing may be published before the commit (an aborted transaction
//! must leave no event), so the chunks are kept here: in memory up to a byte budget, then
//! appended to a spill file in a compact binary form. At commit the events come back in order,
//! a batch at a time, so memory stays bounded however large the transaction is. Changes of an
//! aborted subtransaction are skipped on replay; an aborted transaction's buffer is dropped and
//! its file deleted.
//!
//! Invariants: replay yields events in the order they were pushed; the file is private to this
//! process (a temp file, deleted on drop) and only ever read back by it, so its format needs no
//! versioning.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::sync::Arc;

use sluice_core::{Row, TableSchema, Value};

/// One buffered change, before transaction metadata is assigned at commit.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingChange {
    /// The (sub)transaction that made the change.
    pub xid: u32,
    pub table: Arc<TableSchema>,
    pub op: sluice_core::Op,
    pub before: Option<Row>,
    pub after: Option<Row>,
    pub lsn: u64,
}

impl PendingChange {
    /// Rough heap size, for the memory budget.
    pub fn approx_bytes(&self) -> usize {
        let row = |r: &Option<Row>| r.as_ref().map_or(0, |r| r.iter().map(value_bytes).sum::<usize>());
        96 + row(&self.before) + row(&self.after)
    }
}

fn value_bytes(v: &Value) -> usize {
    32 + match v {
        Value::Decimal(s) | Value::Text(s) | Value::Json(s) => s.len(),
        Value::Bytes(b) => b.len(),
        Value::Array(a) => a.iter().map(value_bytes).sum(),
        _ => 0,
    }
}

/// The buffer of one top-level streamed transaction.
pub struct TxnBuffer {
    budget: usize,
    mem: Vec<PendingChange>,
    mem_bytes: usize,
    spill: Option<Spill>,
    aborted_subxids: HashSet<u32>,
    len: u64,
}

struct Spill {
    writer: BufWriter<File>,
    file: tempfile::NamedTempFile,
    tables: Vec<Arc<TableSchema>>,
    count: u64,
}

impl TxnBuffer {
    pub fn new(budget: usize) -> Self {
        Self { budget, mem: Vec::new(), mem_bytes: 0, spill: None, aborted_subxids: HashSet::new(), len: 0 }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn spilled(&self) -> bool {
        self.spill.is_some()
    }

    pub fn push(&mut self, change: PendingChange, spill_dir: &Path) -> std::io::Result<()> {
        self.mem_bytes += change.approx_bytes();
        self.mem.push(change);
        self.len += 1;
        if self.mem_bytes > self.budget {
            self.spill_mem(spill_dir)?;
        }
        Ok(())
    }

    /// A subtransaction rolled back: its changes are skipped on replay.
    pub fn abort_subxact(&mut self, subxid: u32) {
        self.aborted_subxids.insert(subxid);
        self.mem.retain(|c| c.xid != subxid);
    }

    fn spill_mem(&mut self, dir: &Path) -> std::io::Result<()> {
        if self.spill.is_none() {
            let file = tempfile::Builder::new().prefix("sluice-txn-").tempfile_in(dir)?;
            let writer = BufWriter::with_capacity(1 << 20, file.reopen()?);
            self.spill = Some(Spill { writer, file, tables: Vec::new(), count: 0 });
        }
        if let Some(s) = &mut self.spill {
            for c in self.mem.drain(..) {
                let t = match s.tables.iter().position(|t| Arc::ptr_eq(t, &c.table)) {
                    Some(i) => i,
                    None => {
                        s.tables.push(c.table.clone());
                        s.tables.len() - 1
                    }
                };
                write_change(&mut s.writer, t as u32, &c)?;
                s.count += 1;
            }
        }
        self.mem_bytes = 0;
        Ok(())
    }

    /// Replay every change in push order, skipping aborted subtransactions.
    pub fn into_replay(mut self) -> std::io::Result<Replay> {
        let file = match self.spill.take() {
            Some(mut s) => {
                s.writer.flush()?;
                let reader = BufReader::with_capacity(1 << 20, s.file.reopen()?);
                Some((reader, s.tables, s.count, s.file))
            }
            None => None,
        };
        Ok(Replay { file, mem: self.mem.into_iter(), aborted: self.aborted_subxids })
    }
}

/// A spill file being read back: reader, table table, records left, and the file (deleted on
/// drop).
type SpillReader = (BufReader<File>, Vec<Arc<TableSchema>>, u64, tempfile::NamedTempFile);

/// Iterator over a committed transaction's changes.
pub struct Replay {
    file: Option<SpillReader>,
    mem: std::vec::IntoIter<PendingChange>,
    aborted: HashSet<u32>,
}

impl Replay {
    pub fn next_change(&mut self) -> std::io::Result<Option<PendingChange>> {
        loop {
            let next = match &mut self.file {
                Some((r, tables, remaining, _)) if *remaining > 0 => {
                    *remaining -= 1;
                    Some(read_change(r, tables)?)
                }
                _ => self.mem.next(),
            };
            match next {
                Some(c) if self.aborted.contains(&c.xid) => continue,
                other => return Ok(other),
            }
        }
    }
}

// --- compact binary form -------------------------------------------------------------------

fn w_u64(w: &mut impl Write, v: u64) -> std::io::Result<()> {
    w.write_all(&v.to_le_bytes())
}

fn w_bytes(w: &mut impl Write, b: &[u8]) -> std::io::Result<()> {
    w_u64(w, b.len() as u64)?;
    w.write_all(b)
}

fn r_u64(r: &mut impl Read) -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

fn r_bytes(r: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let n = r_u64(r)? as usize;
    let mut v = vec![0u8; n];
    r.read_exact(&mut v)?;
    Ok(v)
}

fn r_string(r: &mut impl Read) -> std::io::Result<String> {
    String::from_utf8(r_bytes(r)?).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

fn write_change(w: &mut impl Write, table: u32, c: &PendingChange) -> std::io::Result<()> {
    w_u64(w, u64::from(c.xid))?;
    w_u64(w, u64::from(table))?;
    w_u64(w, c.lsn)?;
    w.write_all(&[op_code(c.op)])?;
    for row in [&c.before, &c.after] {
        match row {
            None => w.write_all(&[0])?,
            Some(r) => {
                w.write_all(&[1])?;
                w_u64(w, r.len() as u64)?;
                for v in r {
                    write_value(w, v)?;
                }
            }
        }
    }
    Ok(())
}

fn read_change(r: &mut impl Read, tables: &[Arc<TableSchema>]) -> std::io::Result<PendingChange> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
    let xid = r_u64(r)? as u32;
    let t = r_u64(r)? as usize;
    let lsn = r_u64(r)?;
    let mut op = [0u8; 1];
    r.read_exact(&mut op)?;
    let mut rows = [None, None];
    for slot in &mut rows {
        let mut tag = [0u8; 1];
        r.read_exact(&mut tag)?;
        if tag[0] == 1 {
            let n = r_u64(r)? as usize;
            let mut row = Vec::with_capacity(n);
            for _ in 0..n {
                row.push(read_value(r)?);
            }
            *slot = Some(row);
        }
    }
    let [before, after] = rows;
    Ok(PendingChange {
        xid,
        table: tables.get(t).cloned().ok_or_else(|| bad("spill refers to an unknown table"))?,
        op: op_from(op[0]).ok_or_else(|| bad("bad op in spill"))?,
        before,
        after,
        lsn,
    })
}

fn op_code(op: sluice_core::Op) -> u8 {
    op.code().as_bytes()[0]
}

fn op_from(b: u8) -> Option<sluice_core::Op> {
    sluice_core::Op::from_code(std::str::from_utf8(&[b]).ok()?)
}

fn write_value(w: &mut impl Write, v: &Value) -> std::io::Result<()> {
    match v {
        Value::Null => w.write_all(&[0]),
        Value::Unchanged => w.write_all(&[1]),
        Value::Bool(b) => w.write_all(&[2, u8::from(*b)]),
        Value::Int16(i) => {
            w.write_all(&[3])?;
            w.write_all(&i.to_le_bytes())
        }
        Value::Int32(i) => {
            w.write_all(&[4])?;
            w.write_all(&i.to_le_bytes())
        }
        Value::Int64(i) => {
            w.write_all(&[5])?;
            w.write_all(&i.to_le_bytes())
        }
        Value::UInt64(i) => {
            w.write_all(&[6])?;
            w.write_all(&i.to_le_bytes())
        }
        Value::Float32(f) => {
            w.write_all(&[7])?;
            w.write_all(&f.to_le_bytes())
        }
        Value::Float64(f) => {
            w.write_all(&[8])?;
            w.write_all(&f.to_le_bytes())
        }
        Value::Decimal(s) => {
            w.write_all(&[9])?;
            w_bytes(w, s.as_bytes())
        }
        Value::Text(s) => {
            w.write_all(&[10])?;
            w_bytes(w, s.as_bytes())
        }
        Value::Bytes(b) => {
            w.write_all(&[11])?;
            w_bytes(w, b)
        }
        Value::Json(s) => {
            w.write_all(&[12])?;
            w_bytes(w, s.as_bytes())
        }
        Value::Uuid(u) => {
            w.write_all(&[13])?;
            w.write_all(u)
        }
        Value::Date(d) => {
            w.write_all(&[14])?;
            w.write_all(&d.to_le_bytes())
        }
        Value::Time(t) => {
            w.write_all(&[15])?;
            w.write_all(&t.to_le_bytes())
        }
        Value::TimeTz { micros, offset_seconds } => {
            w.write_all(&[16])?;
            w.write_all(&micros.to_le_bytes())?;
            w.write_all(&offset_seconds.to_le_bytes())
        }
        Value::Timestamp(t) => {
            w.write_all(&[17])?;
            w.write_all(&t.to_le_bytes())
        }
        Value::TimestampTz(t) => {
            w.write_all(&[18])?;
            w.write_all(&t.to_le_bytes())
        }
        Value::Interval { months, days, micros } => {
            w.write_all(&[19])?;
            w.write_all(&months.to_le_bytes())?;
            w.write_all(&days.to_le_bytes())?;
            w.write_all(&micros.to_le_bytes())
        }
        Value::Array(items) => {
            w.write_all(&[20])?;
            w_u64(w, items.len() as u64)?;
            items.iter().try_for_each(|i| write_value(w, i))
        }
    }
}

fn read_n<const N: usize>(r: &mut impl Read) -> std::io::Result<[u8; N]> {
    let mut b = [0u8; N];
    r.read_exact(&mut b)?;
    Ok(b)
}

fn read_value(r: &mut impl Read) -> std::io::Result<Value> {
    let [tag] = read_n::<1>(r)?;
    Ok(match tag {
        0 => Value::Null,
        1 => Value::Unchanged,
        2 => Value::Bool(read_n::<1>(r)?[0] != 0),
        3 => Value::Int16(i16::from_le_bytes(read_n(r)?)),
        4 => Value::Int32(i32::from_le_bytes(read_n(r)?)),
        5 => Value::Int64(i64::from_le_bytes(read_n(r)?)),
        6 => Value::UInt64(u64::from_le_bytes(read_n(r)?)),
        7 => Value::Float32(f32::from_le_bytes(read_n(r)?)),
        8 => Value::Float64(f64::from_le_bytes(read_n(r)?)),
        9 => Value::Decimal(r_string(r)?),
        10 => Value::Text(r_string(r)?),
        11 => Value::Bytes(r_bytes(r)?),
        12 => Value::Json(r_string(r)?),
        13 => Value::Uuid(read_n(r)?),
        14 => Value::Date(i32::from_le_bytes(read_n(r)?)),
        15 => Value::Time(i64::from_le_bytes(read_n(r)?)),
        16 => Value::TimeTz {
            micros: i64::from_le_bytes(read_n(r)?),
            offset_seconds: i32::from_le_bytes(read_n(r)?),
        },
        17 => Value::Timestamp(i64::from_le_bytes(read_n(r)?)),
        18 => Value::TimestampTz(i64::from_le_bytes(read_n(r)?)),
        19 => Value::Interval {
            months: i32::from_le_bytes(read_n(r)?),
            days: i32::from_le_bytes(read_n(r)?),
            micros: i64::from_le_bytes(read_n(r)?),
        },
        20 => {
            let n = r_u64(r)? as usize;
            let mut items = Vec::with_capacity(n.min(1 << 16));
            for _ in 0..n {
                items.push(read_value(r)?);
            }
            Value::Array(items)
        }
        _ => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "bad value tag in spill")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::{Column, DataType, Op, TableId};

    fn table() -> Arc<TableSchema> {
        Arc::new(TableSchema {
            id: TableId::new("public", "t"),
            columns: vec![Column::new("id", DataType::Int64, "int8", false)],
            key: vec![0],
            version: 1,
        })
    }

    fn change(xid: u32, i: i64, t: &Arc<TableSchema>) -> PendingChange {
        let all = vec![
            Value::Int64(i),
            Value::Text("x".repeat(50)),
            Value::Array(vec![Value::Null, Value::Decimal("1.5".into())]),
            Value::TimeTz { micros: 5, offset_seconds: -3600 },
            Value::Interval { months: 1, days: -2, micros: 3 },
            Value::Uuid([7; 16]),
            Value::Unchanged,
            Value::Bytes(vec![0, 1, 255]),
        ];
        PendingChange { xid, table: t.clone(), op: Op::Update, before: None, after: Some(all), lsn: i as u64 }
    }

    #[test]
    fn spills_and_replays_in_order_skipping_aborted_subxacts() {
        let dir = tempfile::tempdir().unwrap();
        let t = table();
        let mut buf = TxnBuffer::new(2_000);
        for i in 0..1000 {
            let xid = if i % 10 == 3 { 99 } else { 1 };
            buf.push(change(xid, i, &t), dir.path()).unwrap();
        }
        assert!(buf.spilled());
        buf.abort_subxact(99);
        let mut replay = buf.into_replay().unwrap();
        let mut seen = Vec::new();
        while let Some(c) = replay.next_change().unwrap() {
            assert_eq!(c, change(1, c.lsn as i64, &t));
            seen.push(c.lsn);
        }
        let want: Vec<u64> = (0..1000).filter(|i| i % 10 != 3).collect();
        assert_eq!(seen, want);
    }
}
