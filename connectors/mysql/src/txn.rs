//! Transactions between their first event and their commit, and committed transactions waiting
//! to be handed out as change events.
//!
//! Only committed transactions are emitted: a transaction's rows events are kept (as the raw row
//! images of the binlog, for captured tables only) until its XID or COMMIT, then queued with the
//! position just after the commit. A ROLLBACK, a reconnect or an error drops the open
//! transaction. Rows are decoded when handed out, a rows event at a time, so a large transaction
//! is held in memory once (as binlog bytes) and never fully as decoded events.
//!
//! Bound: the raw bytes of an open transaction are limited by `max_transaction_bytes`; a larger
//! one is a fatal [`MySqlError::TransactionTooLarge`] (spilling to disk is not implemented).
//!
//! Every event of a committed transaction carries the same position — the one after its commit —
//! so a mid-transaction position is never acknowledgeable.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use sluice_core::{
    BinlogPosition, ChangeEvent, Op, Position, SnapshotMarker, SourceDetail, SourceInfo, TableId,
    TransactionEvent, TransactionInfo, TransactionStatus,
};

use crate::config::ZeroDateRule;
use crate::decode::{decode_image, reader::Reader};
use crate::error::MySqlError;
use crate::gtid::TxnGtid;
use crate::schema::TrackedTable;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowsKind {
    Write,
    Update,
    Delete,
}

/// Where an event was read: for the `source` block.
#[derive(Debug, Clone)]
pub struct EventOrigin {
    /// Header timestamp (seconds since the epoch).
    pub timestamp: u32,
    /// Header server id: the server that originally wrote the event.
    pub server_id: u32,
    pub file: Arc<str>,
    /// Offset of the event's first byte in `file`.
    pub pos: u64,
}

#[derive(Debug)]
pub enum TxnItem {
    Rows {
        table: Arc<TrackedTable>,
        kind: RowsKind,
        before: Vec<bool>,
        after: Vec<bool>,
        data: Vec<u8>,
        origin: EventOrigin,
    },
    Truncate {
        table: Arc<TrackedTable>,
        origin: EventOrigin,
    },
}

/// A transaction whose commit has not been read yet.
#[derive(Debug)]
pub struct OpenTxn {
    pub gtid: Option<TxnGtid>,
    /// BEGIN seen (or a MariaDB GTID that is not standalone): the transaction ends at XID/COMMIT
    /// rather than after its first statement.
    pub began: bool,
    pub start_file: String,
    pub start_pos: u64,
    pub thread: Option<i64>,
    pub items: Vec<TxnItem>,
    pub bytes: u64,
}

impl OpenTxn {
    pub fn new(gtid: Option<TxnGtid>, began: bool, start_file: &str, start_pos: u64) -> Self {
        Self {
            gtid,
            began,
            start_file: start_file.to_owned(),
            start_pos,
            thread: None,
            items: Vec::new(),
            bytes: 0,
        }
    }

    pub fn push(&mut self, item: TxnItem, limit: u64) -> Result<(), MySqlError> {
        if let TxnItem::Rows { data, .. } = &item {
            self.bytes += data.len() as u64;
            if self.bytes > limit {
                return Err(MySqlError::TransactionTooLarge {
                    position: format!("{}:{}", self.start_file, self.start_pos),
                    limit_bytes: limit,
                });
            }
        }
        self.items.push(item);
        Ok(())
    }

    /// Transaction id: the GTID, or `file:pos` of its first event.
    pub fn id(&self) -> String {
        match &self.gtid {
            Some(g) => g.to_string(),
            None => format!("{}:{}", self.start_file, self.start_pos),
        }
    }

    /// `commit_ts` is the header timestamp (seconds) of the XID/COMMIT event.
    pub fn commit(self, position: BinlogPosition, commit_ts: u32) -> CommittedTxn {
        CommittedTxn {
            id: self.id(),
            gtid: self.gtid.as_ref().map(ToString::to_string),
            thread: self.thread,
            items: self.items.into(),
            position,
            commit_ts_ms: i64::from(commit_ts) * 1000,
            total_order: 0,
            per_table: Vec::new(),
            begin_sent: false,
        }
    }
}

/// A committed transaction, handed out as change events a rows event at a time.
#[derive(Debug)]
pub struct CommittedTxn {
    pub id: String,
    pub gtid: Option<String>,
    pub thread: Option<i64>,
    pub items: VecDeque<TxnItem>,
    /// The position after the commit: acknowledgeable once all its events are durable.
    pub position: BinlogPosition,
    /// Commit time (header timestamp of the XID/COMMIT event), milliseconds since the epoch.
    pub commit_ts_ms: i64,
    total_order: u64,
    /// Events per table, in order of first appearance.
    per_table: Vec<(TableId, u64)>,
    begin_sent: bool,
}

/// Settings that shape every event.
#[derive(Debug, Clone)]
pub struct EmitContext {
    pub topic_prefix: String,
    pub zero_date: ZeroDateRule,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl CommittedTxn {
    pub fn is_done(&self) -> bool {
        self.items.is_empty()
    }

    /// The BEGIN record, once (before the first event is handed out).
    pub fn take_begin(&mut self) -> Option<TransactionEvent> {
        if self.begin_sent {
            return None;
        }
        self.begin_sent = true;
        Some(TransactionEvent {
            status: TransactionStatus::Begin,
            id: self.id.clone(),
            ts_ms: self.commit_ts_ms,
            event_count: None,
            data_collections: Vec::new(),
        })
    }

    /// The END record (after the last event was handed out).
    pub fn end(&self) -> TransactionEvent {
        TransactionEvent {
            status: TransactionStatus::End,
            id: self.id.clone(),
            ts_ms: self.commit_ts_ms,
            event_count: Some(self.total_order),
            data_collections: self.per_table.iter().map(|(t, n)| (t.to_string(), *n)).collect(),
        }
    }

    /// Decode the next item (one rows event or a truncate) into `out`.
    pub fn emit_next(&mut self, out: &mut Vec<ChangeEvent>, ctx: &EmitContext) -> Result<(), MySqlError> {
        let Some(item) = self.items.pop_front() else { return Ok(()) };
        let now = now_ms();
        match item {
            TxnItem::Truncate { table, origin } => {
                out.push(self.event(&table, Op::Truncate, None, None, &origin, 0, now, ctx));
            }
            TxnItem::Rows { table, kind, before, after, data, origin } => {
                let mut r = Reader::new(&data);
                let mut row = 0u32;
                let at = || format!("{}:{}", origin.file, origin.pos);
                while !r.is_empty() {
                    let mut image = |cols: &[bool]| {
                        decode_image(&table, cols, &mut r, ctx.zero_date)
                            .map_err(|e| MySqlError::decode(at(), e))
                    };
                    let (op, b, a) = match kind {
                        RowsKind::Write => (Op::Create, None, Some(image(&after)?)),
                        RowsKind::Delete => (Op::Delete, Some(image(&before)?), None),
                        RowsKind::Update => {
                            let b = image(&before)?;
                            (Op::Update, Some(b), Some(image(&after)?))
                        }
                    };
                    out.push(self.event(&table, op, b, a, &origin, row, now, ctx));
                    row += 1;
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn event(
        &mut self,
        table: &Arc<TrackedTable>,
        op: Op,
        before: Option<Vec<sluice_core::Value>>,
        after: Option<Vec<sluice_core::Value>>,
        origin: &EventOrigin,
        row: u32,
        now: i64,
        ctx: &EmitContext,
    ) -> ChangeEvent {
        self.total_order += 1;
        let per_table = match self.per_table.iter_mut().position(|(t, _)| *t == table.schema.id) {
            Some(i) => &mut self.per_table[i].1,
            None => {
                self.per_table.push((table.schema.id.clone(), 0));
                let last = self.per_table.len() - 1;
                &mut self.per_table[last].1
            }
        };
        *per_table += 1;
        ChangeEvent {
            table: table.schema.clone(),
            op,
            before,
            after,
            source: SourceInfo {
                connector: "mysql",
                name: ctx.topic_prefix.clone(),
                ts_ms: i64::from(origin.timestamp) * 1000,
                snapshot: SnapshotMarker::False,
                db: table.schema.id.schema.clone(),
                schema: None,
                table: table.schema.id.table.clone(),
                detail: SourceDetail::MySql {
                    server_id: origin.server_id,
                    gtid: self.gtid.clone(),
                    file: origin.file.to_string(),
                    pos: origin.pos,
                    row,
                    thread: self.thread,
                    query: None,
                },
            },
            ts_ms: now,
            transaction: Some(TransactionInfo {
                id: self.id.clone(),
                total_order: self.total_order,
                data_collection_order: *per_table,
            }),
            position: Position::Binlog(self.position.clone()),
        }
    }
}
