//! The full load: every captured table read inside one consistent snapshot by several
//! connections, chunk by chunk, as `op = r` change events.
//!
//! How the snapshot is shared: `snapshot_workers` connections each run
//! `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '<id>'` with the
//! id exported either by the replication connection that created the slot (so the snapshot is
//! exactly the slot's consistent point) or, without a slot, by the first worker's own
//! transaction (`pg_export_snapshot()`). [`Snapshot::open`] returns only after every worker
//! imported it; from then on the exporter may go away. Each worker keeps its transaction for the
//! whole load, so every chunk it reads sees the same data; the only locks taken are the
//! ACCESS SHARE locks of those reads, held until the load ends.
//!
//! Output: workers pull chunks from one queue and send [`SnapshotMsg::Rows`] batches and, after
//! a chunk's last row, [`SnapshotMsg::ChunkDone`] through one bounded channel, so a chunk's
//! "done" arrives after all of its rows. The caller publishes them and records a chunk as
//! finished only once the broker acknowledged all its rows. A worker's error arrives as
//! [`SnapshotMsg::Failed`]; when every worker has stopped the channel closes.

pub mod copy;
pub mod plan;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use sluice_core::{
    ChangeEvent, ChunkQueue, ErrorKind, Lsn, Op, Position, SnapshotMarker, SourceDetail, SourceInfo, TableId,
    TableSchema, Value,
};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_postgres::Client;

use super::config::PgSourceConfig;
use super::pgoutput::RelationColumn;
use super::relation::RelationCache;
use super::types::PgKind;
use super::{slot, text};
use crate::error::PgError;
pub use plan::{Split, TablePlan};

/// Output settings pinned on every snapshot connection: the same as the replication session's,
/// so a value's text is what pgoutput would send for it.
pub(crate) const SESSION_SETTINGS: &str =
    "SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC'; SET IntervalStyle = 'postgres'; \
     SET extra_float_digits = 3; SET bytea_output = 'hex'; SET statement_timeout = 0; \
     SET idle_in_transaction_session_timeout = 0; SET application_name = 'sluice-snapshot'";

/// Rows per [`SnapshotMsg::Rows`] batch.
const ROWS_PER_MESSAGE: usize = 1024;

/// Where the snapshot comes from.
#[derive(Debug, Clone, Copy)]
pub enum SnapshotOrigin<'a> {
    /// Import this exported snapshot (a slot's consistent point).
    Exported(&'a str),
    /// Take a new snapshot now, exported by the first worker.
    Fresh,
}

/// What the workers send.
pub type SnapshotMsg = sluice_core::LoadMsg<PgError>;

/// How to read and publish one planned table.
#[derive(Debug)]
pub(crate) struct TableReader {
    pub(crate) plan: TablePlan,
    pub(crate) schema: Arc<TableSchema>,
    /// Parse kind of each published column, in published order.
    pub(crate) kinds: Vec<PgKind>,
    /// The published columns, quoted, comma-separated.
    pub(crate) select: String,
}

/// Worker connections inside one snapshot.
pub struct Snapshot {
    clients: Vec<Client>,
    /// The snapshot's id as exported.
    pub id: String,
    /// `pg_current_wal_lsn()` when a fresh snapshot was taken, or the slot's consistent point.
    pub lsn: Lsn,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").field("id", &self.id).field("workers", &self.clients.len()).finish()
    }
}

pub(crate) fn query_err(context: &str, e: &tokio_postgres::Error) -> PgError {
    PgError::source_query(context, e)
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Snapshot {
    /// Open `cfg.snapshot_workers` connections (at least one) that all see one snapshot.
    /// `slot_lsn` is the slot's consistent point for an exported snapshot.
    pub async fn open(
        cfg: &PgSourceConfig,
        origin: SnapshotOrigin<'_>,
        slot_lsn: Lsn,
    ) -> Result<Self, PgError> {
        let workers = cfg.snapshot_workers.max(1);
        let mut clients = Vec::with_capacity(workers);
        for _ in 0..workers {
            let c = cfg.connection.connect().await?;
            c.batch_execute(SESSION_SETTINGS)
                .await
                .map_err(|e| query_err("snapshot session settings", &e))?;
            clients.push(c);
        }
        let begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
        let (id, lsn, importers) = match origin {
            SnapshotOrigin::Exported(id) => (id.to_owned(), slot_lsn, &clients[..]),
            SnapshotOrigin::Fresh => {
                let leader = &clients[0];
                leader.batch_execute(begin).await.map_err(|e| query_err("starting the snapshot", &e))?;
                let row = leader
                    .query_one("SELECT pg_export_snapshot(), pg_current_wal_lsn()::text", &[])
                    .await
                    .map_err(|e| query_err("exporting the snapshot", &e))?;
                let lsn: String = row.get(1);
                let lsn = lsn.parse().map_err(|e: sluice_core::Error| PgError::Source {
                    reason: e.to_string(),
                    kind: ErrorKind::Fatal,
                })?;
                (row.get::<_, String>(0), lsn, &clients[1..])
            }
        };
        for c in importers {
            // The id is the server's own (hex digits and dashes); quoting keeps it inert anyway.
            let sql = format!("{begin}; SET TRANSACTION SNAPSHOT '{}'", id.replace('\'', "''"));
            c.batch_execute(&sql).await.map_err(|e| query_err("importing the snapshot", &e))?;
        }
        tracing::info!(snapshot = %id, workers, "snapshot imported by every worker");
        Ok(Self { clients, id, lsn })
    }

    /// Plan every captured table (inside the snapshot).
    pub async fn plan(&self, cfg: &PgSourceConfig) -> Result<Vec<TablePlan>, PgError> {
        let client = &self.clients[0];
        let mut out = Vec::new();
        for (oid, id) in slot::captured_tables(client, cfg).await? {
            let p = plan::plan_table(client, oid, &id.schema, &id.table, cfg.snapshot_chunk_rows).await?;
            tracing::info!(table = %id, chunks = p.chunks(), estimated_rows = p.estimated_rows, "planned table");
            out.push(p);
        }
        Ok(out)
    }

    /// Start reading every chunk of `plan` not in `finished` (pairs of table and chunk index).
    /// Returns the channel the rows arrive on and the workers, which stop when it is dropped.
    pub async fn start(
        self,
        cfg: &PgSourceConfig,
        plan: &[TablePlan],
        finished: &HashSet<(usize, usize)>,
    ) -> Result<Running, PgError> {
        let readers = Arc::new(table_readers(&self.clients[0], cfg, plan).await?);
        let queue = Arc::new(ChunkQueue::round_robin(plan, finished, |t| readers[t].is_some()));
        let pending = queue.len();
        let (tx, rx) = mpsc::channel(64);
        let info = InfoTemplate {
            name: cfg.topic_prefix.clone(),
            db: cfg.connection.database.clone(),
            lsn: self.lsn.0,
            ts_ms: now_ms(),
        };
        let mut tasks = JoinSet::new();
        for client in self.clients {
            let (q, r, tx, info) = (queue.clone(), readers.clone(), tx.clone(), info.clone());
            tasks.spawn(async move {
                if let Err(e) = worker(&client, &q, &r, &tx, &info).await {
                    let _ = tx.send(SnapshotMsg::Failed(e)).await;
                }
            });
        }
        Ok(Running { rx, pending, _tasks: tasks })
    }
}

/// A running full load.
pub struct Running {
    pub rx: mpsc::Receiver<SnapshotMsg>,
    /// Chunks queued in this run.
    pub pending: usize,
    _tasks: JoinSet<()>,
}

impl Running {
    /// The channel, the chunks queued and the worker tasks (which stop when dropped).
    pub fn into_parts(self) -> (mpsc::Receiver<SnapshotMsg>, usize, JoinSet<()>) {
        (self.rx, self.pending, self._tasks)
    }
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").field("pending", &self.pending).finish()
    }
}

#[derive(Clone)]
pub(crate) struct InfoTemplate {
    pub(crate) name: String,
    pub(crate) db: String,
    pub(crate) lsn: u64,
    pub(crate) ts_ms: i64,
}

/// Resolve each planned table's published schema from the snapshot's catalog, exactly as the
/// streaming path does from Relation messages (same columns, key and types), so snapshot and
/// streamed events of a table share one schema. A table that no longer exists is `None`.
async fn table_readers(
    client: &Client,
    cfg: &PgSourceConfig,
    plan: &[TablePlan],
) -> Result<Vec<Option<TableReader>>, PgError> {
    let mut cache = RelationCache::default();
    let mut out = Vec::with_capacity(plan.len());
    for p in plan {
        let r = table_reader(client, cfg, &mut cache, p.clone()).await?;
        if r.is_none() {
            tracing::warn!(table = %p.name(), "table planned for the full load no longer exists; skipped");
        }
        out.push(r);
    }
    Ok(out)
}

/// The reader of one table as the catalog of `client`'s transaction shows it, or `None` when the
/// table does not exist.
pub(crate) async fn table_reader(
    client: &Client,
    cfg: &PgSourceConfig,
    cache: &mut RelationCache,
    plan: TablePlan,
) -> Result<Option<TableReader>, PgError> {
    let p = &plan;
    let oid = client
        .query_opt(
            "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2",
            &[&p.schema, &p.table],
        )
        .await
        .map_err(|e| query_err("looking up a table", &e))?;
    let Some(oid) = oid.map(|r| r.get::<_, u32>(0)) else { return Ok(None) };
    let rows = client
        .query(
            "SELECT a.attname::text, a.atttypid, a.atttypmod, CASE c.relreplident \
               WHEN 'f' THEN true \
               WHEN 'd' THEN EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary AND a.attnum = ANY (i.indkey::int2[])) \
               WHEN 'i' THEN EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident AND a.attnum = ANY (i.indkey::int2[])) \
               ELSE false END \
             FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid \
             WHERE c.oid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum",
            &[&oid],
        )
        .await
        .map_err(|e| query_err("reading table columns", &e))?;
    let columns: Vec<RelationColumn> = rows
        .iter()
        .map(|r| RelationColumn { name: r.get(0), type_oid: r.get(1), typmod: r.get(2), is_key: r.get(3) })
        .collect();
    cache.update(client, cfg, oid, &p.schema, &p.table, &columns).await?;
    let Some(rel) = cache.get(oid) else { return Ok(None) };
    let mut kinds: Vec<(usize, PgKind)> =
        rel.wire.iter().filter_map(|(k, out)| out.map(|o| (o, k.clone()))).collect();
    kinds.sort_by_key(|(o, _)| *o);
    let names: Vec<String> = rel.schema.columns.iter().map(|c| plan::quote_ident(&c.name)).collect();
    let select = if names.is_empty() { "NULL".to_owned() } else { names.join(", ") };
    Ok(Some(TableReader {
        schema: rel.schema.clone(),
        kinds: kinds.into_iter().map(|(_, k)| k).collect(),
        select,
        plan,
    }))
}

async fn worker(
    client: &Client,
    queue: &ChunkQueue,
    readers: &[Option<TableReader>],
    tx: &mpsc::Sender<SnapshotMsg>,
    info: &InfoTemplate,
) -> Result<(), PgError> {
    let closed =
        || PgError::Source { reason: "snapshot consumer went away".into(), kind: ErrorKind::Retriable };
    while let Some((t, c)) = queue.take() {
        let Some(r) = readers.get(t).and_then(Option::as_ref) else { continue };
        let sql = format!(
            "COPY (SELECT {} FROM {} WHERE {}) TO STDOUT",
            r.select,
            r.plan.from_sql(),
            r.plan.chunk_filter(c)
        );
        let stream = client.copy_out(&sql).await.map_err(|e| query_err("reading a chunk", &e))?;
        futures::pin_mut!(stream);
        let mut lines = copy::LineBuffer::default();
        let mut batch = Vec::with_capacity(ROWS_PER_MESSAGE);
        let mut rows = 0u64;
        let width = r.kinds.len().max(1);
        while let Some(piece) = stream.next().await {
            let piece = piece.map_err(|e| query_err("reading a chunk", &e))?;
            lines.feed(&piece, |line| {
                let mut fields = Vec::with_capacity(width);
                copy::split_fields(line, &mut fields).map_err(|e| decode_err(r, &e))?;
                batch.push(event(r, &fields, info)?);
                Ok::<(), PgError>(())
            })?;
            if batch.len() >= ROWS_PER_MESSAGE {
                rows += batch.len() as u64;
                let full = std::mem::replace(&mut batch, Vec::with_capacity(ROWS_PER_MESSAGE));
                tx.send(SnapshotMsg::Rows(full)).await.map_err(|_| closed())?;
            }
        }
        if !lines.is_empty() {
            return Err(decode_err(r, "COPY output ended inside a row"));
        }
        rows += batch.len() as u64;
        if !batch.is_empty() {
            tx.send(SnapshotMsg::Rows(batch)).await.map_err(|_| closed())?;
        }
        tx.send(SnapshotMsg::ChunkDone { table: t, chunk: c, rows }).await.map_err(|_| closed())?;
    }
    Ok(())
}

pub(crate) fn decode_err(r: &TableReader, why: &str) -> PgError {
    PgError::Source { reason: format!("full load of {}: {why}", r.plan.name()), kind: ErrorKind::Fatal }
}

pub(crate) fn event(
    r: &TableReader,
    fields: &[Option<std::borrow::Cow<'_, str>>],
    info: &InfoTemplate,
) -> Result<ChangeEvent, PgError> {
    if fields.len() != r.kinds.len() && !(r.kinds.is_empty() && fields.len() == 1) {
        return Err(decode_err(r, &format!("{} fields in a row of {} columns", fields.len(), r.kinds.len())));
    }
    let mut row = Vec::with_capacity(r.kinds.len());
    for (i, kind) in r.kinds.iter().enumerate() {
        row.push(match &fields[i] {
            None => Value::Null,
            Some(s) => text::parse(kind, s).map_err(|e| {
                let column = r.schema.columns.get(i).map(|c| c.name.as_str()).unwrap_or("?");
                decode_err(r, &format!("cannot decode column {column}: {e}"))
            })?,
        });
    }
    let TableId { schema, table } = &r.schema.id;
    Ok(ChangeEvent {
        table: r.schema.clone(),
        op: Op::Read,
        before: None,
        after: Some(row),
        source: SourceInfo {
            connector: "postgresql",
            name: info.name.clone(),
            ts_ms: info.ts_ms,
            snapshot: SnapshotMarker::True,
            db: info.db.clone(),
            schema: Some(schema.clone()),
            table: table.clone(),
            detail: SourceDetail::Postgres { lsn: info.lsn, tx_id: None, xmin: None, sequence: None },
        },
        ts_ms: now_ms(),
        transaction: None,
        position: Position::Postgres(Lsn(info.lsn)),
    })
}
