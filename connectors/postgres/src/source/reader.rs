//! `PgSource`: pgoutput messages → change events, implementing the `Source` contract.
//!
//! Ordering and commit-only output: a non-streamed transaction reaches us only after it
//! committed, so its changes are emitted as they arrive; a streamed transaction's chunks are
//! buffered (bounded memory, spill files — see `spill`) and emitted at Stream Commit, dropped at
//! Stream Abort. Checkpoints are commit end LSNs (and, between transactions, heartbeat message
//! or keepalive LSNs), so the runner only ever acknowledges whole transactions.
//!
//! Failure: a value that does not parse is a fatal error naming table and column; connection
//! loss is retriable and the runner restarts the source, which resumes at the slot's confirmed
//! LSN.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sluice_core::{
    ChangeEvent, Error, ErrorKind, Lsn, Op, Position, Row, SnapshotMarker, Source, SourceBatch, SourceDetail,
    SourceInfo, TransactionEvent, TransactionInfo, TransactionStatus, Value,
};
use tokio_postgres::Client;

use super::config::{MigrationType, PgSourceConfig, StopPoint};
use super::incremental::Incremental;
use super::pgoutput::{pg_ts_to_unix_ms, Decoder, Message, TupleValue};
use super::relation::{Relation, RelationCache};
use super::spill::{PendingChange, Replay, TxnBuffer};
use super::wal::{create_slot_exporting, ExportedSlot, StartOptions, WalEvent, WalStream};
use super::{slot, text};
use crate::error::PgError;

/// Prefix of Sluice's heartbeat messages (`pg_logical_emit_message`).
pub const HEARTBEAT_PREFIX: &str = "sluice-heartbeat";
/// Counter: transactions committed and emitted.
pub const METRIC_TRANSACTIONS: &str = "sluice_postgres_transactions_total";
/// Gauge: bytes of WAL between the server's send position and the last commit emitted.
pub const METRIC_LAG_BYTES: &str = "sluice_postgres_replication_lag_bytes";
/// Gauge: seconds between now and the commit time of the last transaction emitted.
pub const METRIC_LAG_SECONDS: &str = "sluice_postgres_replication_lag_seconds";
/// Gauge: the last LSN acknowledged to the server.
pub const METRIC_CONFIRMED_LSN: &str = "sluice_postgres_confirmed_lsn";
/// Gauge: streamed transactions currently spilled to disk.
pub const METRIC_SPILLED_TXNS: &str = "sluice_postgres_spilled_transactions";

const BATCH_MAX: usize = 4096;

struct OpenTxn {
    xid: u32,
    final_lsn: u64,
    commit_ms: i64,
    total_order: u64,
    per_table: HashMap<sluice_core::TableId, u64>,
}

impl OpenTxn {
    fn id(&self) -> String {
        format!("{}:{}", self.xid, self.final_lsn)
    }

    fn marker(&self, status: TransactionStatus) -> TransactionEvent {
        let end = status == TransactionStatus::End;
        let mut data_collections: Vec<(String, u64)> =
            if end { self.per_table.iter().map(|(t, n)| (t.to_string(), *n)).collect() } else { Vec::new() };
        data_collections.sort();
        TransactionEvent {
            status,
            id: self.id(),
            ts_ms: self.commit_ms,
            event_count: end.then_some(self.total_order),
            data_collections,
        }
    }

    fn info(&mut self, table: &sluice_core::TableId) -> TransactionInfo {
        self.total_order += 1;
        let n = self.per_table.entry(table.clone()).or_insert(0);
        *n += 1;
        let data_collection_order = *n;
        TransactionInfo { id: self.id(), total_order: self.total_order, data_collection_order }
    }
}

struct Replaying {
    replay: Replay,
    txn: OpenTxn,
    end_lsn: u64,
    /// A BEGIN was published, so an END follows.
    announced: bool,
}

/// The PostgreSQL source.
pub struct PgSource {
    cfg: PgSourceConfig,
    client: Client,
    wal: WalStream,
    decoder: Decoder,
    relations: RelationCache,
    txn: Option<OpenTxn>,
    streams: HashMap<u32, TxnBuffer>,
    stream_xid: Option<u32>,
    replaying: Option<Replaying>,
    spill_dir: PathBuf,
    last_checkpoint: u64,
    last_commit_end: u64,
    heartbeat: Option<tokio::task::JoinHandle<()>>,
    /// Incremental re-snapshots, when a signal table is configured.
    incremental: Option<Incremental>,
    stop: StopPoint,
    /// The stop point was reached: nothing more is emitted.
    stopped: bool,
}

/// How a source start found its slot.
#[derive(Debug)]
pub enum SlotOutcome {
    Existing(Lsn),
    Created(Lsn),
    /// Created (migration type `full-load-and-cdc`) with a snapshot to copy the tables from.
    CreatedWithSnapshot(Box<ExportedSlot>),
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl PgSource {
    /// Preflight, ensure the publication, and find (or create) the slot. A missing slot is
    /// created only when `create_slot_if_missing`; otherwise it is a fatal error. The caller
    /// records a created slot durably before calling [`PgSource::open`], so a slot that later
    /// disappears is detected.
    pub async fn prepare(cfg: &PgSourceConfig, create_slot_if_missing: bool) -> Result<SlotOutcome, PgError> {
        cfg.cdc_start().map_err(config_err)?;
        cfg.stop_point().map_err(config_err)?;
        let client = cfg.connection.connect().await?;
        slot::ensure_replication_ready(&client).await?;
        slot::ensure_tables_have_keys(&client, cfg).await?;
        // The signal table exists before a filtered publication is created with it in the list.
        super::incremental::ensure_signal_table_exists(&client, cfg).await?;
        slot::ensure_publication(&client, cfg).await?;
        super::incremental::ensure_signal_table_published(&client, cfg).await?;
        Ok(match slot::slot_position(&client, &cfg.slot).await? {
            Some(lsn) => SlotOutcome::Existing(lsn),
            None if create_slot_if_missing && cfg.migration_type == MigrationType::FullLoadAndCdc => {
                SlotOutcome::CreatedWithSnapshot(Box::new(create_slot_exporting(&cfg.connection, &cfg.slot).await?))
            }
            None if create_slot_if_missing => SlotOutcome::Created(slot::create_slot(&client, &cfg.slot).await?),
            None => {
                return Err(PgError::Source {
                    reason: format!(
                        "replication slot {:?} is missing, but this source streamed from it before: the changes since its last \
                         acknowledged position are no longer retained by the server. Re-create the slot and take a new snapshot \
                         (migration type full-load-and-cdc), or start over with `sluice source --reset-state`",
                        cfg.slot
                    ),
                    kind: ErrorKind::Fatal,
                })
            }
        })
    }

    /// Start streaming from the slot's confirmed position (the slot must exist: see `prepare`).
    pub async fn open(cfg: PgSourceConfig) -> Result<Self, PgError> {
        let client = cfg.connection.connect().await?;
        let Some(start) = slot::slot_position(&client, &cfg.slot).await? else {
            return Err(PgError::Source {
                reason: format!("replication slot {:?} disappeared while the source started", cfg.slot),
                kind: ErrorKind::Fatal,
            });
        };
        let stop = cfg.stop_point().map_err(config_err)?;
        // A CDC start point later than the slot's position skips what commits before it.
        let start = match cfg.cdc_start().map_err(config_err)? {
            Some(s) if s.0 > start.0 => {
                tracing::info!(cdc_start_position = %s, slot_position = %start, "starting at the CDC start point");
                s
            }
            _ => start,
        };
        let wal = WalStream::start(
            &cfg.connection,
            &StartOptions {
                slot: &cfg.slot,
                publication: &cfg.publication,
                streaming: cfg.streaming,
                work_mem: cfg.logical_decoding_work_mem.as_deref(),
                start_lsn: start.0,
            },
        )
        .await?;
        let heartbeat =
            if cfg.heartbeat_interval().is_some() { Some(spawn_heartbeat(&cfg).await?) } else { None };
        let spill_dir = cfg.spill_dir.clone().unwrap_or_else(std::env::temp_dir);
        let start_lsn = start.0;
        let incremental = Incremental::open(&cfg).await?;
        tracing::info!(slot = %cfg.slot, publication = %cfg.publication, start = %start, "streaming");
        Ok(Self {
            cfg,
            client,
            wal,
            decoder: Decoder::default(),
            relations: RelationCache::default(),
            txn: None,
            streams: HashMap::new(),
            stream_xid: None,
            replaying: None,
            spill_dir,
            last_checkpoint: start_lsn,
            last_commit_end: start_lsn,
            heartbeat,
            incremental,
            stop,
            stopped: false,
        })
    }

    fn reach_stop(&mut self, why: &str) {
        if !self.stopped {
            self.stopped = true;
            tracing::info!(reason = why, stop_lsn = ?self.stop.lsn.map(|l| Lsn(l).to_string()), stop_at_ms = ?self.stop.at_ms, "reached the CDC stop point");
        }
    }

    fn checkpoint(&mut self, batch: &mut SourceBatch, lsn: u64) {
        // Never acknowledge past the stop point: a later run without it resumes right there.
        let lsn = self.stop.lsn.map_or(lsn, |s| lsn.min(s));
        if lsn > self.last_checkpoint {
            self.last_checkpoint = lsn;
            batch.checkpoint = Some(Position::Postgres(Lsn(lsn)));
        }
    }

    fn source_info(&self, rel: &Relation, lsn: u64, xid: u32, commit_ms: i64) -> SourceInfo {
        SourceInfo {
            connector: "postgresql",
            name: self.cfg.topic_prefix.clone(),
            ts_ms: commit_ms,
            snapshot: SnapshotMarker::False,
            db: self.cfg.connection.database.clone(),
            schema: Some(rel.schema.id.schema.clone()),
            table: rel.schema.id.table.clone(),
            detail: SourceDetail::Postgres {
                lsn,
                tx_id: Some(i64::from(xid)),
                xmin: None,
                sequence: Some(format!("[\"{}\",\"{lsn}\"]", self.last_commit_end)),
            },
        }
    }

    /// Build a row from a tuple, in the published column order.
    fn row(rel: &Relation, tuple: &[TupleValue], fill_missing: Value) -> Result<Row, PgError> {
        let mut row = vec![fill_missing; rel.schema.columns.len()];
        for (i, tv) in tuple.iter().enumerate() {
            let Some((kind, Some(out))) = rel.wire.get(i) else { continue };
            row[*out] = match tv {
                TupleValue::Null => Value::Null,
                TupleValue::Unchanged => Value::Unchanged,
                TupleValue::Text(b) => {
                    let s = std::str::from_utf8(b).map_err(|_| value_err(rel, *out, "text is not UTF-8"))?;
                    text::parse(kind, s).map_err(|e| value_err(rel, *out, &e))?
                }
                TupleValue::Binary(_) => {
                    return Err(value_err(rel, *out, "binary tuple data was not requested"))
                }
            };
        }
        Ok(row)
    }

    /// A key-only old tuple (`K`) sends NULL for non-key columns: they are unknown, not null.
    fn key_row(rel: &Relation, tuple: &[TupleValue]) -> Result<Row, PgError> {
        let mut row = Self::row(rel, tuple, Value::Unchanged)?;
        for (i, v) in row.iter_mut().enumerate() {
            if !rel.schema.key.contains(&i) && v.is_null() {
                *v = Value::Unchanged;
            }
        }
        Ok(row)
    }

    fn change(&self, msg: &Message, lsn: u64) -> Result<Option<PendingChange>, PgError> {
        let (xid, relid, op, before, after) = match msg {
            Message::Insert { xid, relid, new } => {
                let Some(rel) = self.captured(*relid) else { return Ok(None) };
                (*xid, *relid, Op::Create, None, Some(Self::row(rel, new, Value::Null)?))
            }
            Message::Update { xid, relid, old, new } => {
                let Some(rel) = self.captured(*relid) else { return Ok(None) };
                let before = match old {
                    Some((b'O', t)) => Some(Self::row(rel, t, Value::Null)?),
                    Some((_, t)) => Some(Self::key_row(rel, t)?),
                    None => None,
                };
                (*xid, *relid, Op::Update, before, Some(Self::row(rel, new, Value::Null)?))
            }
            Message::Delete { xid, relid, old } => {
                let Some(rel) = self.captured(*relid) else { return Ok(None) };
                let before = if old.0 == b'O' {
                    Self::row(rel, &old.1, Value::Null)?
                } else {
                    Self::key_row(rel, &old.1)?
                };
                (*xid, *relid, Op::Delete, Some(before), None)
            }
            _ => return Ok(None),
        };
        let table =
            self.relations.get(relid).map(|r| r.schema.clone()).ok_or_else(|| unknown_relation(relid))?;
        Ok(Some(PendingChange { xid: xid.unwrap_or(0), table, op, before, after, lsn }))
    }

    fn captured(&self, relid: u32) -> Option<&Relation> {
        self.relations.get(relid).filter(|r| r.captured)
    }

    fn event(&self, c: PendingChange, txn: &mut OpenTxn) -> ChangeEvent {
        let info = txn.info(&c.table.id);
        let source = match self.relations.relations.values().find(|r| Arc::ptr_eq(&r.schema, &c.table)) {
            Some(rel) => self.source_info(rel, c.lsn, txn.xid, txn.commit_ms),
            None => SourceInfo {
                connector: "postgresql",
                name: self.cfg.topic_prefix.clone(),
                ts_ms: txn.commit_ms,
                snapshot: SnapshotMarker::False,
                db: self.cfg.connection.database.clone(),
                schema: Some(c.table.id.schema.clone()),
                table: c.table.id.table.clone(),
                detail: SourceDetail::Postgres {
                    lsn: c.lsn,
                    tx_id: Some(i64::from(txn.xid)),
                    xmin: None,
                    sequence: None,
                },
            },
        };
        ChangeEvent {
            table: c.table,
            op: c.op,
            before: c.before,
            after: c.after,
            source,
            ts_ms: now_ms(),
            transaction: Some(info),
            position: Position::Postgres(Lsn(txn.final_lsn)),
        }
    }

    /// Emit a change of the open (non-streamed, hence committed) transaction, announcing the
    /// transaction with its first captured change when transaction metadata is on.
    fn emit(&mut self, change: PendingChange, batch: &mut SourceBatch) -> Result<(), PgError> {
        let mut txn = self.txn.take().ok_or_else(|| protocol_err("change outside a transaction"))?;
        if self.cfg.provide_transaction_metadata && txn.total_order == 0 {
            batch.transactions.push((batch.events.len(), txn.marker(TransactionStatus::Begin)));
        }
        let ev = self.event(change, &mut txn);
        self.txn = Some(txn);
        batch.events.push(ev);
        Ok(())
    }

    /// A change inside a stream block is buffered under its top-level transaction; any other
    /// change belongs to a committed transaction and is emitted now.
    fn route(&mut self, change: PendingChange, batch: &mut SourceBatch) -> Result<(), PgError> {
        let Some(top) = self.stream_xid else { return self.emit(change, batch) };
        let budget = self.cfg.max_buffered_bytes;
        let buf = self.streams.entry(top).or_insert_with(|| TxnBuffer::new(budget));
        let was_spilled = buf.spilled();
        buf.push(change, &self.spill_dir).map_err(spill_err)?;
        if buf.spilled() && !was_spilled {
            metrics::gauge!(METRIC_SPILLED_TXNS).increment(1.0);
            tracing::debug!(xid = top, "streamed transaction spilled to disk");
        }
        Ok(())
    }

    /// Emit buffered events of a committed streamed transaction, up to the batch limit.
    fn drain_replay(&mut self, batch: &mut SourceBatch) -> Result<(), PgError> {
        let Some(mut r) = self.replaying.take() else { return Ok(()) };
        while batch.events.len() < BATCH_MAX {
            match r.replay.next_change().map_err(spill_err)? {
                Some(c) => {
                    let ev = self.event(c, &mut r.txn);
                    batch.events.push(ev);
                }
                None => {
                    if r.announced {
                        batch.transactions.push((batch.events.len(), r.txn.marker(TransactionStatus::End)));
                    }
                    self.last_commit_end = r.end_lsn;
                    self.checkpoint(batch, r.end_lsn);
                    metrics::counter!(METRIC_TRANSACTIONS).increment(1);
                    return Ok(());
                }
            }
        }
        self.replaying = Some(r);
        Ok(())
    }

    async fn handle(&mut self, ev: WalEvent, batch: &mut SourceBatch) -> Result<(), PgError> {
        let (wal_start, data) = match ev {
            WalEvent::Keepalive { wal_end } => {
                if wal_end > self.last_commit_end {
                    metrics::gauge!(METRIC_LAG_BYTES).set((wal_end - self.last_commit_end) as f64);
                }
                // Between transactions every commit before the server's send position was sent.
                if self.txn.is_none() && self.replaying.is_none() {
                    self.checkpoint(batch, wal_end);
                    // Idle past the stop point: nothing before it is still to come.
                    if self.stop.lsn.is_some_and(|s| wal_end >= s)
                        || self.stop.at_ms.is_some_and(|t| now_ms() > t)
                    {
                        self.reach_stop("idle past it");
                    }
                }
                return Ok(());
            }
            WalEvent::Data { wal_start, data, .. } => (wal_start, data),
        };
        let msg =
            self.decoder.decode(data).map_err(|e| PgError::Source { reason: e, kind: ErrorKind::Fatal })?;
        match msg {
            Message::Begin { final_lsn, commit_ts, .. }
                if self.stop.excludes(final_lsn, pg_ts_to_unix_ms(commit_ts)) =>
            {
                self.reach_stop("next transaction commits after it");
            }
            Message::Begin { final_lsn, commit_ts, xid } => {
                let txn = OpenTxn {
                    xid,
                    final_lsn,
                    commit_ms: pg_ts_to_unix_ms(commit_ts),
                    total_order: 0,
                    per_table: HashMap::new(),
                };
                self.txn = Some(txn);
            }
            Message::Commit { end_lsn, commit_ts, .. } => {
                if let Some(txn) = self.txn.take() {
                    // Transactions without captured changes are not announced (BEGIN is sent
                    // with the first captured change).
                    if self.cfg.provide_transaction_metadata && txn.total_order > 0 {
                        batch.transactions.push((batch.events.len(), txn.marker(TransactionStatus::End)));
                    }
                }
                self.last_commit_end = end_lsn;
                self.checkpoint(batch, end_lsn);
                metrics::counter!(METRIC_TRANSACTIONS).increment(1);
                let lag = (now_ms() - pg_ts_to_unix_ms(commit_ts)).max(0) as f64 / 1000.0;
                metrics::gauge!(METRIC_LAG_SECONDS).set(lag);
            }
            Message::Relation { relid, namespace, name, columns, .. } => {
                self.relations.update(&self.client, &self.cfg, relid, &namespace, &name, &columns).await?;
            }
            ref m @ (Message::Insert { .. } | Message::Update { .. } | Message::Delete { .. }) => {
                let Some(change) = self.change(m, wal_start)? else { return Ok(()) };
                self.route(change, batch)?;
            }
            Message::Truncate { xid, relids, .. } => {
                for relid in relids {
                    let Some(rel) = self.captured(relid) else { continue };
                    let change = PendingChange {
                        xid: xid.unwrap_or(0),
                        table: rel.schema.clone(),
                        op: Op::Truncate,
                        before: None,
                        after: None,
                        lsn: wal_start,
                    };
                    self.route(change, batch)?;
                }
            }
            Message::Message { transactional: false, lsn, prefix, .. }
                if prefix == HEARTBEAT_PREFIX && self.txn.is_none() && self.replaying.is_none() =>
            {
                self.checkpoint(batch, lsn);
            }
            Message::StreamStart { xid, .. } => self.stream_xid = Some(xid),
            Message::StreamStop => self.stream_xid = None,
            Message::StreamCommit { xid, commit_lsn, commit_ts, .. }
                if self.stop.excludes(commit_lsn, pg_ts_to_unix_ms(commit_ts)) =>
            {
                self.streams.remove(&xid);
                self.reach_stop("next transaction commits after it");
            }
            Message::StreamCommit { xid, end_lsn, commit_ts, .. } => {
                let buf =
                    self.streams.remove(&xid).unwrap_or_else(|| TxnBuffer::new(self.cfg.max_buffered_bytes));
                if buf.spilled() {
                    metrics::gauge!(METRIC_SPILLED_TXNS).decrement(1.0);
                }
                let txn = OpenTxn {
                    xid,
                    final_lsn: end_lsn,
                    commit_ms: pg_ts_to_unix_ms(commit_ts),
                    total_order: 0,
                    per_table: HashMap::new(),
                };
                if self.cfg.provide_transaction_metadata && !buf.is_empty() {
                    batch.transactions.push((batch.events.len(), txn.marker(TransactionStatus::Begin)));
                }
                let announced = self.cfg.provide_transaction_metadata && !buf.is_empty();
                self.replaying = Some(Replaying {
                    replay: buf.into_replay().map_err(spill_err)?,
                    txn,
                    end_lsn,
                    announced,
                });
                self.drain_replay(batch)?;
            }
            Message::StreamAbort { xid, subxid } => {
                if xid == subxid {
                    if let Some(buf) = self.streams.remove(&xid) {
                        if buf.spilled() {
                            metrics::gauge!(METRIC_SPILLED_TXNS).decrement(1.0);
                        }
                    }
                } else if let Some(buf) = self.streams.get_mut(&xid) {
                    buf.abort_subxact(subxid);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn config_err(reason: String) -> PgError {
    PgError::Source { reason, kind: ErrorKind::Fatal }
}

fn value_err(rel: &Relation, col: usize, why: &str) -> PgError {
    let column = rel.schema.columns.get(col).map(|c| c.name.as_str()).unwrap_or("?");
    PgError::Source {
        reason: format!("cannot decode column {column} of {}: {why}", rel.schema.id),
        kind: ErrorKind::Fatal,
    }
}

fn unknown_relation(relid: u32) -> PgError {
    protocol_err(&format!("change for relation {relid} before its Relation message"))
}

fn protocol_err(why: &str) -> PgError {
    PgError::Source { reason: format!("unexpected pgoutput sequence: {why}"), kind: ErrorKind::Fatal }
}

fn spill_err(e: std::io::Error) -> PgError {
    PgError::Source { reason: format!("spill file: {e}"), kind: ErrorKind::Fatal }
}

async fn spawn_heartbeat(cfg: &PgSourceConfig) -> Result<tokio::task::JoinHandle<()>, PgError> {
    let client = cfg.connection.connect().await?;
    let every = cfg.heartbeat_interval().unwrap_or(Duration::from_secs(10));
    let query = cfg
        .heartbeat_action_query
        .clone()
        .unwrap_or_else(|| format!("SELECT pg_logical_emit_message(false, '{HEARTBEAT_PREFIX}', '')"));
    Ok(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if let Err(e) = client.batch_execute(&query).await {
                tracing::warn!(error = %e, "heartbeat failed");
                if e.is_closed() {
                    return;
                }
            }
        }
    }))
}

impl PgSource {
    /// The next batch as decoded, signal-table changes included.
    async fn next_raw_batch(&mut self) -> Result<SourceBatch, Error> {
        let mut batch = SourceBatch::default();
        if self.replaying.is_some() {
            self.drain_replay(&mut batch)?;
            return Ok(batch);
        }
        // Wait for the first event, then take whatever is already queued.
        let Some(first) = self.wal.recv(Duration::from_millis(500)).await? else { return Ok(batch) };
        self.handle(first, &mut batch).await?;
        while batch.events.len() < BATCH_MAX && self.replaying.is_none() && !self.stopped {
            match self.wal.try_recv() {
                Some(ev) => self.handle(ev?, &mut batch).await?,
                None => break,
            }
        }
        Ok(batch)
    }
}

impl Drop for PgSource {
    fn drop(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
    }
}

impl Source for PgSource {
    async fn next_batch(&mut self) -> Result<SourceBatch, Error> {
        if self.stopped {
            return Ok(SourceBatch { finished: true, ..SourceBatch::default() });
        }
        let mut batch = self.next_raw_batch().await?;
        if let Some(inc) = self.incremental.as_mut() {
            inc.process(&mut batch).await?;
        }
        batch.finished = self.stopped;
        Ok(batch)
    }

    async fn acknowledge(&mut self, position: Position) -> Result<(), Error> {
        match position {
            Position::Postgres(lsn) => {
                self.wal.acknowledge(lsn.0);
                if let Some(inc) = self.incremental.as_mut() {
                    inc.acknowledged(lsn.0).await?;
                }
                metrics::gauge!(METRIC_CONFIRMED_LSN).set(lsn.0 as f64);
                Ok(())
            }
            other => {
                Err(Error::fatal("postgres", format!("cannot acknowledge a non-PostgreSQL position {other}")))
            }
        }
    }

    async fn close(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        self.wal.close().await;
    }
}
