//! Incremental re-snapshots while streaming: the watermark method of DBLog (and Debezium's
//! incremental snapshots).
//!
//! A row inserted into the signal table with `type = 'execute-snapshot'` and `data` like
//! `{"data-collections": ["public.orders"], "additional-conditions": [{"data-collection":
//! "public.orders", "filter": "region = 'eu'"}]}` asks for those tables (or the rows matching a
//! filter) to be read again while streaming goes on. Each table is read in key order, one chunk
//! of `incremental_chunk_rows` rows at a time:
//!
//! 1. insert an *open* watermark row into the signal table (its own transaction);
//! 2. read the next chunk (`key > last key`, `ORDER BY key LIMIT n`) into memory;
//! 3. insert a *close* watermark row.
//!
//! The stream then delivers, in commit order, the open watermark, every change committed
//! between the two, and the close watermark. While the window is open, every streamed change of
//! the table drops its key from the chunk: the streamed change is at least as new as the chunk's
//! copy, and it is published in order anyway. At the close watermark the chunk's remaining rows
//! are emitted as `op = r` events (`source.snapshot = incremental`), before anything committed
//! after it. So a row changed during the re-read is never overwritten by its older copy.
//!
//! Invariants:
//! - Signal-table changes are never published.
//! - A chunk's progress (last key) is written back to the request's row only after the runner
//!   acknowledged the close watermark's position, i.e. after the broker acknowledged every row
//!   emitted for it. On start, unfinished requests are read from the signal table and resume at
//!   their last acknowledged chunk; a chunk read twice is harmless (it is a fresh read inside a
//!   fresh window).
//! - Watermark ids are fresh per chunk: watermarks replayed after a restart match no window and
//!   are ignored.

use std::collections::{HashMap, VecDeque};

use futures::StreamExt;
use sluice_core::{ChangeEvent, ErrorKind, Lsn, Op, Position, SnapshotMarker, SourceBatch, TableId, Value};
use tokio_postgres::Client;

use super::config::PgSourceConfig;
use super::relation::RelationCache;
use super::snapshot::plan::{self, quote_ident, Split, TablePlan};
use super::snapshot::{self, copy, query_err, InfoTemplate, TableReader};
use crate::error::PgError;

/// `type` of a row asking for a re-snapshot (Debezium's name).
pub const SIGNAL_EXECUTE_SNAPSHOT: &str = "execute-snapshot";
const WINDOW_OPEN: &str = "snapshot-window-open";
const WINDOW_CLOSE: &str = "snapshot-window-close";

/// Counter: rows emitted by incremental snapshots, by table.
pub const METRIC_INCREMENTAL_ROWS: &str = "sluice_postgres_incremental_snapshot_rows_total";

mod request;
mod signal;

use request::Request;
pub use signal::{ensure_signal_table_exists, ensure_signal_table_published, request_snapshot};

/// The chunk between a pair of watermarks.
struct Window {
    open_id: String,
    close_id: String,
    table: TableId,
    /// Whether the open watermark was seen.
    open: bool,
    rows: Vec<Option<ChangeEvent>>,
    by_key: HashMap<String, usize>,
    /// Text of the key of the chunk's last row, or `None` when the chunk was empty.
    last_key: Option<Vec<String>>,
    /// The chunk reached the table's end (its maximum key at the start of the re-read).
    last_chunk: bool,
}

impl Window {
    fn forget(&mut self, ev: &ChangeEvent) {
        if ev.op == Op::Truncate {
            self.rows.iter_mut().for_each(|r| *r = None);
            return;
        }
        for row in [&ev.before, &ev.after].into_iter().flatten() {
            if let Some(i) = self.by_key.remove(&key_string(&ev.table, row)) {
                self.rows[i] = None;
            }
        }
    }
}

fn key_string(table: &sluice_core::TableSchema, row: &[Value]) -> String {
    format!("{:?}", table.key_of(row))
}

/// Progress to write once the runner acknowledged `lsn`.
struct PendingProgress {
    lsn: u64,
    request: String,
    data: String,
}

/// The incremental-snapshot state of one source.
pub struct Incremental {
    cfg: PgSourceConfig,
    signal: TableId,
    client: Client,
    cache: RelationCache,
    requests: VecDeque<Request>,
    window: Option<Window>,
    /// The table being chunked, resolved once per table.
    reader: Option<(TableId, TableReader)>,
    unacknowledged: VecDeque<PendingProgress>,
    /// Watermark rows to delete with the next write.
    stale: Vec<String>,
}

impl std::fmt::Debug for Incremental {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incremental")
            .field("signal", &self.signal)
            .field("requests", &self.requests.len())
            .finish()
    }
}

pub(super) fn fatal(reason: String) -> PgError {
    PgError::Source { reason, kind: ErrorKind::Fatal }
}

fn text_of(ev: &ChangeEvent, column: &str) -> Option<String> {
    let i = ev.table.column_index(column)?;
    match ev.after.as_ref()?.get(i)? {
        Value::Text(s) | Value::Json(s) => Some(s.clone()),
        _ => None,
    }
}

impl Incremental {
    /// Connect, and queue every unfinished request recorded in the signal table.
    pub async fn open(cfg: &PgSourceConfig) -> Result<Option<Self>, PgError> {
        let Some(signal) = cfg.signal_table_id() else { return Ok(None) };
        let client = cfg.connection.connect().await?;
        // A watermark reaches the stream only once its commit is flushed: with asynchronous
        // commit that waits for the WAL writer (up to `wal_writer_delay`) on every chunk.
        client
            .batch_execute(&format!("{}; SET synchronous_commit = on", snapshot::SESSION_SETTINGS))
            .await
            .map_err(|e| query_err("incremental snapshot session settings", &e))?;
        let mut me = Self {
            cfg: cfg.clone(),
            signal,
            client,
            cache: RelationCache::default(),
            requests: VecDeque::new(),
            window: None,
            reader: None,
            unacknowledged: VecDeque::new(),
            stale: Vec::new(),
        };
        let rows = me
            .client
            .query(
                &format!("SELECT id::text, data::text FROM {} WHERE type = $1 ORDER BY id", me.signal_sql()),
                &[&SIGNAL_EXECUTE_SNAPSHOT],
            )
            .await
            .map_err(|e| query_err("reading the signal table", &e))?;
        for r in rows {
            me.queue(r.get(0), r.get::<_, Option<String>>(1).as_deref().unwrap_or(""));
        }
        // Watermarks of windows that died with the last run.
        me.client
            .execute(
                &format!("DELETE FROM {} WHERE type IN ($1, $2)", me.signal_sql()),
                &[&WINDOW_OPEN, &WINDOW_CLOSE],
            )
            .await
            .map_err(|e| query_err("clearing old watermarks", &e))?;
        me.next_chunk().await?;
        Ok(Some(me))
    }

    fn signal_sql(&self) -> String {
        format!("{}.{}", quote_ident(&self.signal.schema), quote_ident(&self.signal.table))
    }

    fn queue(&mut self, id: String, data: &str) {
        if self.requests.iter().any(|r| r.id == id) {
            return;
        }
        match Request::parse(id.clone(), data) {
            Ok(r) if r.done() => {}
            Ok(r) => {
                tracing::info!(request = %id, tables = ?r.tables.iter().map(ToString::to_string).collect::<Vec<_>>(), "incremental snapshot queued");
                self.requests.push_back(r);
            }
            Err(e) => {
                tracing::error!(request = %id, error = %e, "ignoring an invalid execute-snapshot signal")
            }
        }
    }

    /// Take signal-table events out of `batch`, drop streamed keys from the open window, and
    /// insert a closed window's rows where its close watermark was. Then start the next chunk.
    pub async fn process(&mut self, batch: &mut SourceBatch) -> Result<(), PgError> {
        let touches = batch.events.iter().any(|e| e.table.id == self.signal)
            || self.window.as_ref().is_some_and(|w| w.open);
        if !touches {
            return Ok(());
        }
        let events = std::mem::take(&mut batch.events);
        let marks = std::mem::take(&mut batch.transactions);
        let mut marks = marks.into_iter().peekable();
        let mut out = Vec::with_capacity(events.len());
        let mut new_requests = Vec::new();
        let mut closed = false;
        for (i, ev) in events.into_iter().enumerate() {
            while let Some((_, t)) = marks.next_if(|(at, _)| *at <= i) {
                batch.transactions.push((out.len(), t));
            }
            if ev.table.id == self.signal {
                if ev.op != Op::Create {
                    continue;
                }
                let (Some(id), Some(kind)) = (text_of(&ev, "id"), text_of(&ev, "type")) else { continue };
                match kind.as_str() {
                    SIGNAL_EXECUTE_SNAPSHOT => new_requests.push(id),
                    WINDOW_OPEN => {
                        if let Some(w) = self.window.as_mut().filter(|w| w.open_id == id) {
                            w.open = true;
                        }
                    }
                    WINDOW_CLOSE if self.window.as_ref().is_some_and(|w| w.close_id == id && w.open) => {
                        if let Some(w) = self.window.take() {
                            self.close(w, &ev, &mut out);
                            closed = true;
                        }
                    }
                    _ => {}
                }
                continue;
            }
            if let Some(w) = self.window.as_mut().filter(|w| w.open && w.table == ev.table.id) {
                w.forget(&ev);
            }
            out.push(ev);
        }
        for (_, t) in marks {
            batch.transactions.push((out.len(), t));
        }
        batch.events = out;
        for id in new_requests {
            // The row as it is now: a request already finished (replayed after a restart) or
            // deleted is not run again.
            let row = self
                .client
                .query_opt(&format!("SELECT data::text FROM {} WHERE id = $1", self.signal_sql()), &[&id])
                .await
                .map_err(|e| query_err("reading a signal", &e))?;
            if let Some(r) = row {
                self.queue(id, r.get::<_, Option<String>>(0).as_deref().unwrap_or(""));
            }
        }
        if closed || self.window.is_none() {
            self.next_chunk().await?;
        }
        Ok(())
    }

    /// Emit the rows a window kept, at the close watermark's place, and advance the request.
    fn close(&mut self, w: Window, at: &ChangeEvent, out: &mut Vec<ChangeEvent>) {
        self.stale.extend([w.open_id, w.close_id]);
        let Position::Postgres(Lsn(lsn)) = at.position else { return };
        let mut emitted = 0u64;
        for mut ev in w.rows.into_iter().flatten() {
            ev.position = at.position.clone();
            ev.source.ts_ms = at.source.ts_ms;
            if let sluice_core::SourceDetail::Postgres { lsn: l, .. } = &mut ev.source.detail {
                *l = lsn;
            }
            out.push(ev);
            emitted += 1;
        }
        metrics::counter!(METRIC_INCREMENTAL_ROWS, "table" => w.table.to_string()).increment(emitted);
        let Some(req) = self.requests.front_mut() else { return };
        if w.last_chunk {
            tracing::info!(request = %req.id, table = %w.table, "incremental snapshot of table done");
            req.table += 1;
            req.last_key = None;
            req.max_key = None;
            self.reader = None;
        } else {
            req.last_key = w.last_key;
        }
        self.unacknowledged.push_back(PendingProgress {
            lsn,
            request: req.id.clone(),
            data: req.progress_data(),
        });
        if req.done() {
            tracing::info!(request = %req.id, "incremental snapshot done");
            self.requests.pop_front();
        }
    }

    /// Open the next window: open watermark, chunk read, close watermark.
    async fn next_chunk(&mut self) -> Result<(), PgError> {
        if self.window.is_some() {
            return Ok(());
        }
        loop {
            let Some(req) = self.requests.front() else { return Ok(()) };
            let Some(table) = req.tables.get(req.table).cloned() else {
                self.requests.pop_front();
                continue;
            };
            let (req_id, filter, last, req_max) =
                (req.id.clone(), req.filters.get(&table).cloned(), req.last_key.clone(), req.max_key.clone());
            if self.reader.as_ref().is_none_or(|(t, _)| *t != table) {
                match self.resolve(&table).await? {
                    Some(r) => self.reader = Some((table.clone(), r)),
                    None => {
                        self.next_table();
                        continue;
                    }
                }
            }
            let max = match req_max {
                Some(m) => m,
                None => match self.max_key(filter.as_deref()).await? {
                    Some(m) => {
                        if let Some(req) = self.requests.front_mut() {
                            req.max_key = Some(m.clone());
                        }
                        m
                    }
                    None => {
                        tracing::info!(request = %req_id, table = %table, "nothing to re-read in table");
                        self.next_table();
                        continue;
                    }
                },
            };
            let id = format!("{req_id}-{}", uuid_like());
            let (open_id, close_id) = (format!("{id}-open"), format!("{id}-close"));
            self.write_watermark(&open_id, WINDOW_OPEN).await?;
            let (rows, last_key) = self.read_chunk(last, &max, filter.as_deref()).await?;
            let last_chunk = (rows.len() as u64) < self.cfg.incremental_chunk_rows.max(1)
                || last_key.as_ref() == Some(&max);
            self.write_watermark(&close_id, WINDOW_CLOSE).await?;
            let mut by_key = HashMap::with_capacity(rows.len());
            for (i, ev) in rows.iter().enumerate() {
                if let Some(a) = &ev.after {
                    by_key.insert(key_string(&ev.table, a), i);
                }
            }
            tracing::debug!(table = %table, rows = rows.len(), last_chunk, ?last_key, "incremental snapshot window");
            self.window = Some(Window {
                open_id,
                close_id,
                table,
                open: false,
                rows: rows.into_iter().map(Some).collect(),
                by_key,
                last_key,
                last_chunk,
            });
            return Ok(());
        }
    }

    fn next_table(&mut self) {
        if let Some(req) = self.requests.front_mut() {
            req.table += 1;
            req.last_key = None;
            req.max_key = None;
        }
        self.reader = None;
    }

    /// The text of the largest key of the current table (among rows matching `filter`).
    async fn max_key(&self, filter: Option<&str>) -> Result<Option<Vec<String>>, PgError> {
        let Some((_, r)) = self.reader.as_ref() else { return Ok(None) };
        let Split::Key { columns, .. } = &r.plan.split else { return Ok(None) };
        let keys: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
        let texts = key_texts(&keys);
        let desc: Vec<String> = keys.iter().map(|k| format!("{k} DESC")).collect();
        let sql = format!(
            "SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT 1",
            texts.join(", "),
            r.plan.from_sql(),
            filter.map_or_else(|| "true".to_owned(), |f| format!("({f})")),
            desc.join(", ")
        );
        let row =
            self.client.query_opt(&sql, &[]).await.map_err(|e| query_err("reading the largest key", &e))?;
        Ok(row.map(|r| (0..keys.len()).map(|i| r.get::<_, Option<String>>(i).unwrap_or_default()).collect()))
    }

    async fn write_watermark(&mut self, id: &str, kind: &str) -> Result<(), PgError> {
        let stale = std::mem::take(&mut self.stale);
        if !stale.is_empty() {
            self.client
                .execute(&format!("DELETE FROM {} WHERE id = ANY($1)", self.signal_sql()), &[&stale])
                .await
                .map_err(|e| query_err("deleting watermarks", &e))?;
        }
        self.client
            .execute(
                &format!("INSERT INTO {} (id, type, data) VALUES ($1, $2, NULL)", self.signal_sql()),
                &[&id, &kind],
            )
            .await
            .map_err(|e| query_err("writing a watermark to the signal table", &e))?;
        Ok(())
    }

    /// Resolve a table for chunked reads; `None` (logged) when it cannot be re-read.
    async fn resolve(&mut self, table: &TableId) -> Result<Option<TableReader>, PgError> {
        let name = format!("{}.{}", quote_ident(&table.schema), quote_ident(&table.table));
        let oid = self
            .client
            .query_one("SELECT to_regclass($1)::oid", &[&name])
            .await
            .map_err(|e| query_err("looking up a table", &e))?
            .get::<_, Option<u32>>(0);
        let Some(oid) = oid else {
            tracing::error!(table = %table, "incremental snapshot of a table that does not exist: skipped");
            return Ok(None);
        };
        if !self.cfg.captures_table(table) {
            tracing::error!(table = %table, "incremental snapshot of a table this source does not capture: skipped");
            return Ok(None);
        }
        let key = plan::key_columns(&self.client, oid).await?;
        if key.is_empty() {
            tracing::error!(table = %table, "incremental snapshot needs a primary key or replica-identity index: skipped");
            return Ok(None);
        }
        let (columns, types) = key.into_iter().unzip();
        let plan = TablePlan {
            schema: table.schema.clone(),
            table: table.table.clone(),
            estimated_rows: 0,
            split: Split::Key { columns, types, bounds: Vec::new() },
        };
        snapshot::table_reader(&self.client, &self.cfg, &mut self.cache, plan).await
    }

    /// Read the chunk after `last` up to `max` (in key order), with the key's text of its last
    /// row.
    async fn read_chunk(
        &mut self,
        last: Option<Vec<String>>,
        max: &[String],
        filter: Option<&str>,
    ) -> Result<(Vec<ChangeEvent>, Option<Vec<String>>), PgError> {
        let Some((_, r)) = self.reader.as_mut() else { return Ok((Vec::new(), None)) };
        let Split::Key { columns, .. } = &r.plan.split else { return Ok((Vec::new(), None)) };
        let keys: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
        let key_texts = key_texts(&keys);
        // Chunk 1 of bounds [last, max] is `key > last AND key <= max`; chunk 0 of [max] is
        // `key <= max`.
        let range = if let Split::Key { bounds, .. } = &mut r.plan.split {
            match &last {
                Some(l) => {
                    *bounds = vec![l.clone(), max.to_vec()];
                    1
                }
                None => {
                    *bounds = vec![max.to_vec()];
                    0
                }
            }
        } else {
            0
        };
        let mut conds = vec![r.plan.chunk_filter(range)];
        if let Some(f) = filter {
            conds.push(format!("({f})"));
        }
        let sql = format!(
            "COPY (SELECT {}, {} FROM {} WHERE {} ORDER BY {} LIMIT {}) TO STDOUT",
            r.select,
            key_texts.join(", "),
            r.plan.from_sql(),
            if conds.is_empty() { "true".to_owned() } else { conds.join(" AND ") },
            keys.join(", "),
            self.cfg.incremental_chunk_rows.max(1)
        );
        let info = InfoTemplate {
            name: self.cfg.topic_prefix.clone(),
            db: self.cfg.connection.database.clone(),
            lsn: 0,
            ts_ms: snapshot::now_ms(),
        };
        let stream =
            self.client.copy_out(&sql).await.map_err(|e| query_err("reading a re-snapshot chunk", &e))?;
        futures::pin_mut!(stream);
        let mut lines = copy::LineBuffer::default();
        let (mut rows, mut last_key) = (Vec::new(), None);
        let width = r.kinds.len();
        let reader: &TableReader = r;
        while let Some(piece) = stream.next().await {
            let piece = piece.map_err(|e| query_err("reading a re-snapshot chunk", &e))?;
            lines.feed(&piece, |line| {
                let mut fields = Vec::with_capacity(width + keys.len());
                copy::split_fields(line, &mut fields).map_err(|e| snapshot::decode_err(reader, &e))?;
                if fields.len() < keys.len() {
                    return Err(snapshot::decode_err(reader, "short row"));
                }
                let key_fields = fields.split_off(fields.len() - keys.len());
                let mut ev = snapshot::event(reader, &fields, &info)?;
                ev.source.snapshot = SnapshotMarker::Incremental;
                rows.push(ev);
                last_key = Some(
                    key_fields.into_iter().map(|f| f.map(|c| c.into_owned()).unwrap_or_default()).collect(),
                );
                Ok::<(), PgError>(())
            })?;
        }
        if !lines.is_empty() {
            return Err(snapshot::decode_err(reader, "COPY output ended inside a row"));
        }
        Ok((rows, last_key))
    }

    /// The runner acknowledged `lsn`: record the progress of every chunk emitted at or before it.
    pub async fn acknowledged(&mut self, lsn: u64) -> Result<(), PgError> {
        let mut latest: HashMap<String, String> = HashMap::new();
        while self.unacknowledged.front().is_some_and(|p| p.lsn <= lsn) {
            if let Some(p) = self.unacknowledged.pop_front() {
                latest.insert(p.request, p.data);
            }
        }
        for (id, data) in latest {
            self.client
                .execute(&format!("UPDATE {} SET data = $2 WHERE id = $1", self.signal_sql()), &[&id, &data])
                .await
                .map_err(|e| query_err("recording re-snapshot progress", &e))?;
        }
        Ok(())
    }
}

/// The quoted key columns as text, aliased: `ORDER BY "id"` would otherwise sort by the text
/// column named like the key.
fn key_texts(keys: &[String]) -> Vec<String> {
    keys.iter().enumerate().map(|(i, k)| format!("{k}::text AS sluice_key_{i}")).collect()
}

/// A unique-enough id for watermark rows: time and a process-wide counter.
pub(super) fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{:x}-{n}", snapshot::now_ms())
}
