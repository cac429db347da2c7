//! A decoder for pgoutput messages (logical replication protocol v1–v4), working on the raw
//! XLogData payloads the connection hands us.
//!
//! Sluice decodes the bytes itself instead of using `pg_walstream`'s typed events because it
//! needs what those drop: the per-change (sub)transaction xid inside streamed blocks (to apply
//! `ROLLBACK TO SAVEPOINT` in a streamed transaction) and the `u` marker of unchanged TOAST
//! columns (to publish them as unchanged instead of losing them). Decoding borrows from the frame;
//! the only allocations are the tuple's column vector and the text of non-null columns.
//!
//! Invariant: `in_stream` must mirror the server's Stream Start/Stop bracketing, because inside a
//! stream block DML, Relation, Type and transactional Message carry an xid after the tag.

use bytes::{Buf, Bytes};

/// Microseconds between 1970-01-01 and PostgreSQL's epoch 2000-01-01.
pub const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;

#[derive(Debug, Clone, PartialEq)]
pub enum TupleValue {
    Null,
    /// Unchanged TOASTed value: not sent.
    Unchanged,
    Text(Bytes),
    Binary(Bytes),
}

#[derive(Debug, Clone, PartialEq)]
pub struct RelationColumn {
    pub is_key: bool,
    pub name: String,
    pub type_oid: u32,
    pub typmod: i32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Begin {
        final_lsn: u64,
        commit_ts: i64,
        xid: u32,
    },
    Commit {
        commit_lsn: u64,
        end_lsn: u64,
        commit_ts: i64,
    },
    Origin,
    Relation {
        xid: Option<u32>,
        relid: u32,
        namespace: String,
        name: String,
        replident: u8,
        columns: Vec<RelationColumn>,
    },
    Type {
        xid: Option<u32>,
    },
    Insert {
        xid: Option<u32>,
        relid: u32,
        new: Vec<TupleValue>,
    },
    /// `old` is the key (`K`) or full old row (`O`) when the server sent one.
    Update {
        xid: Option<u32>,
        relid: u32,
        old: Option<(u8, Vec<TupleValue>)>,
        new: Vec<TupleValue>,
    },
    Delete {
        xid: Option<u32>,
        relid: u32,
        old: (u8, Vec<TupleValue>),
    },
    Truncate {
        xid: Option<u32>,
        options: u8,
        relids: Vec<u32>,
    },
    Message {
        xid: Option<u32>,
        transactional: bool,
        lsn: u64,
        prefix: String,
        content: Bytes,
    },
    StreamStart {
        xid: u32,
        first_segment: bool,
    },
    StreamStop,
    StreamCommit {
        xid: u32,
        commit_lsn: u64,
        end_lsn: u64,
        commit_ts: i64,
    },
    StreamAbort {
        xid: u32,
        subxid: u32,
    },
    /// Two-phase messages and anything newer: not requested by Sluice.
    Other(u8),
}

type R<T> = Result<T, String>;

fn need(b: &Bytes, n: usize, what: &str) -> R<()> {
    if b.remaining() < n {
        Err(format!("pgoutput message truncated in {what}"))
    } else {
        Ok(())
    }
}

fn u8_(b: &mut Bytes) -> R<u8> {
    need(b, 1, "u8")?;
    Ok(b.get_u8())
}
fn u32_(b: &mut Bytes) -> R<u32> {
    need(b, 4, "u32")?;
    Ok(b.get_u32())
}
fn i32_(b: &mut Bytes) -> R<i32> {
    need(b, 4, "i32")?;
    Ok(b.get_i32())
}
fn i16_(b: &mut Bytes) -> R<i16> {
    need(b, 2, "i16")?;
    Ok(b.get_i16())
}
fn u64_(b: &mut Bytes) -> R<u64> {
    need(b, 8, "u64")?;
    Ok(b.get_u64())
}
fn i64_(b: &mut Bytes) -> R<i64> {
    need(b, 8, "i64")?;
    Ok(b.get_i64())
}
fn cstr(b: &mut Bytes) -> R<String> {
    let end = b.iter().position(|&c| c == 0).ok_or("unterminated string in pgoutput message")?;
    let s = String::from_utf8(b.split_to(end).to_vec()).map_err(|_| "non-UTF-8 name in pgoutput message")?;
    b.advance(1);
    Ok(s)
}

fn tuple(b: &mut Bytes) -> R<Vec<TupleValue>> {
    let n = i16_(b)?;
    let mut out = Vec::with_capacity(n.max(0) as usize);
    for _ in 0..n {
        out.push(match u8_(b)? {
            b'n' => TupleValue::Null,
            b'u' => TupleValue::Unchanged,
            kind @ (b't' | b'b') => {
                let len = i32_(b)?;
                let len = usize::try_from(len).map_err(|_| "negative column length")?;
                need(b, len, "column value")?;
                let v = b.split_to(len);
                if kind == b't' {
                    TupleValue::Text(v)
                } else {
                    TupleValue::Binary(v)
                }
            }
            k => return Err(format!("unknown tuple column kind {k}")),
        });
    }
    Ok(out)
}

/// Stateful decoder: tracks whether we are inside a stream block.
#[derive(Debug, Default)]
pub struct Decoder {
    in_stream: bool,
}

impl Decoder {
    pub fn in_stream(&self) -> bool {
        self.in_stream
    }

    pub fn decode(&mut self, mut b: Bytes) -> R<Message> {
        let tag = u8_(&mut b)?;
        let xid = |b: &mut Bytes, in_stream: bool| -> R<Option<u32>> {
            if in_stream {
                u32_(b).map(Some)
            } else {
                Ok(None)
            }
        };
        Ok(match tag {
            b'B' => Message::Begin { final_lsn: u64_(&mut b)?, commit_ts: i64_(&mut b)?, xid: u32_(&mut b)? },
            b'C' => {
                let _flags = u8_(&mut b)?;
                Message::Commit {
                    commit_lsn: u64_(&mut b)?,
                    end_lsn: u64_(&mut b)?,
                    commit_ts: i64_(&mut b)?,
                }
            }
            b'O' => Message::Origin,
            b'R' => {
                let xid = xid(&mut b, self.in_stream)?;
                let relid = u32_(&mut b)?;
                let namespace = cstr(&mut b)?;
                let name = cstr(&mut b)?;
                let replident = u8_(&mut b)?;
                let n = i16_(&mut b)?;
                let mut columns = Vec::with_capacity(n.max(0) as usize);
                for _ in 0..n {
                    let flags = u8_(&mut b)?;
                    columns.push(RelationColumn {
                        is_key: flags & 1 == 1,
                        name: cstr(&mut b)?,
                        type_oid: u32_(&mut b)?,
                        typmod: i32_(&mut b)?,
                    });
                }
                Message::Relation { xid, relid, namespace, name, replident, columns }
            }
            b'Y' => Message::Type { xid: xid(&mut b, self.in_stream)? },
            b'I' => {
                let xid = xid(&mut b, self.in_stream)?;
                let relid = u32_(&mut b)?;
                if u8_(&mut b)? != b'N' {
                    return Err("insert without new tuple".into());
                }
                Message::Insert { xid, relid, new: tuple(&mut b)? }
            }
            b'U' => {
                let xid = xid(&mut b, self.in_stream)?;
                let relid = u32_(&mut b)?;
                let mut kind = u8_(&mut b)?;
                let mut old = None;
                if kind == b'K' || kind == b'O' {
                    old = Some((kind, tuple(&mut b)?));
                    kind = u8_(&mut b)?;
                }
                if kind != b'N' {
                    return Err("update without new tuple".into());
                }
                Message::Update { xid, relid, old, new: tuple(&mut b)? }
            }
            b'D' => {
                let xid = xid(&mut b, self.in_stream)?;
                let relid = u32_(&mut b)?;
                let kind = u8_(&mut b)?;
                Message::Delete { xid, relid, old: (kind, tuple(&mut b)?) }
            }
            b'T' => {
                let xid = xid(&mut b, self.in_stream)?;
                let n = u32_(&mut b)?;
                let options = u8_(&mut b)?;
                let mut relids = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    relids.push(u32_(&mut b)?);
                }
                Message::Truncate { xid, options, relids }
            }
            b'M' => {
                // The xid precedes the flags only for transactional messages in a stream block.
                let peek_flags = |b: &Bytes, off: usize| b.get(off).copied().unwrap_or(0);
                let transactional_in_stream = self.in_stream && peek_flags(&b, 4) & 1 == 1;
                let xid = if transactional_in_stream { Some(u32_(&mut b)?) } else { None };
                let flags = u8_(&mut b)?;
                let lsn = u64_(&mut b)?;
                let prefix = cstr(&mut b)?;
                let len = u32_(&mut b)? as usize;
                need(&b, len, "message content")?;
                Message::Message { xid, transactional: flags & 1 == 1, lsn, prefix, content: b.split_to(len) }
            }
            b'S' => {
                self.in_stream = true;
                Message::StreamStart { xid: u32_(&mut b)?, first_segment: u8_(&mut b)? == 1 }
            }
            b'E' => {
                self.in_stream = false;
                Message::StreamStop
            }
            b'c' => {
                let xid = u32_(&mut b)?;
                let _flags = u8_(&mut b)?;
                Message::StreamCommit {
                    xid,
                    commit_lsn: u64_(&mut b)?,
                    end_lsn: u64_(&mut b)?,
                    commit_ts: i64_(&mut b)?,
                }
            }
            b'A' => Message::StreamAbort { xid: u32_(&mut b)?, subxid: u32_(&mut b)? },
            other => Message::Other(other),
        })
    }
}

/// PostgreSQL timestamp (µs since 2000-01-01) → milliseconds since the Unix epoch.
pub fn pg_ts_to_unix_ms(ts: i64) -> i64 {
    (ts + PG_EPOCH_OFFSET_MICROS).div_euclid(1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};

    fn tuple_bytes(b: &mut BytesMut, cols: &[Option<&str>], unchanged_at: Option<usize>) {
        b.put_i16(cols.len() as i16);
        for (i, c) in cols.iter().enumerate() {
            if Some(i) == unchanged_at {
                b.put_u8(b'u');
                continue;
            }
            match c {
                None => b.put_u8(b'n'),
                Some(s) => {
                    b.put_u8(b't');
                    b.put_i32(s.len() as i32);
                    b.put_slice(s.as_bytes());
                }
            }
        }
    }

    #[test]
    fn relation_and_dml_in_and_out_of_streams() {
        let mut d = Decoder::default();
        let mut r = BytesMut::new();
        r.put_u8(b'R');
        r.put_u32(16384);
        r.put_slice(b"public\0t\0");
        r.put_u8(b'd');
        r.put_i16(2);
        r.put_u8(1);
        r.put_slice(b"id\0");
        r.put_u32(23);
        r.put_i32(-1);
        r.put_u8(0);
        r.put_slice(b"big\0");
        r.put_u32(25);
        r.put_i32(-1);
        let m = d.decode(r.freeze()).unwrap();
        let Message::Relation { relid, columns, xid, .. } = m else { panic!("{m:?}") };
        assert_eq!(
            (relid, xid, columns.len(), columns[0].is_key, columns[1].is_key),
            (16384, None, 2, true, false)
        );

        let mut s = BytesMut::new();
        s.put_u8(b'S');
        s.put_u32(700);
        s.put_u8(1);
        assert_eq!(d.decode(s.freeze()).unwrap(), Message::StreamStart { xid: 700, first_segment: true });

        let mut u = BytesMut::new();
        u.put_u8(b'U');
        u.put_u32(701); // subtransaction xid inside the stream block
        u.put_u32(16384);
        u.put_u8(b'N');
        tuple_bytes(&mut u, &[Some("1"), None], Some(1));
        let m = d.decode(u.freeze()).unwrap();
        assert_eq!(
            m,
            Message::Update {
                xid: Some(701),
                relid: 16384,
                old: None,
                new: vec![TupleValue::Text(Bytes::from_static(b"1")), TupleValue::Unchanged]
            }
        );
        let mut e = BytesMut::new();
        e.put_u8(b'E');
        d.decode(e.freeze()).unwrap();
        assert!(!d.in_stream());

        let mut del = BytesMut::new();
        del.put_u8(b'D');
        del.put_u32(16384);
        del.put_u8(b'K');
        tuple_bytes(&mut del, &[Some("1"), None], None);
        let Message::Delete { xid: None, old: (b'K', cols), .. } = d.decode(del.freeze()).unwrap() else {
            panic!()
        };
        assert_eq!(cols[1], TupleValue::Null);
    }

    #[test]
    fn truncated_messages_are_errors() {
        let mut d = Decoder::default();
        assert!(d.decode(Bytes::from_static(b"B\0\0")).is_err());
        assert!(d.decode(Bytes::from_static(b"")).is_err());
        assert_eq!(pg_ts_to_unix_ms(0), 946_684_800_000);
    }
}
