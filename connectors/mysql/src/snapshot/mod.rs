//! The full load of a MySQL/MariaDB source: every captured table read by several connections,
//! chunk by chunk, as `op = r` change events, with the binlog position streaming starts from.
//!
//! The position (see [`SnapshotLocking`]):
//! - `minimal`: a separate connection holds `FLUSH TABLES WITH READ LOCK` while every worker
//!   runs `START TRANSACTION WITH CONSISTENT SNAPSHOT` and the position is read, then unlocks
//!   (milliseconds). Every worker sees the database exactly at that position.
//! - `none` (default, no lock, no RELOAD privilege): on MariaDB each worker reads the position
//!   its own snapshot is consistent with (`binlog_snapshot_file` / `binlog_snapshot_position`,
//!   exact for InnoDB tables); on MySQL the position is read before the snapshots start. The
//!   load's position is the earliest; a worker whose snapshot is later makes streaming replay
//!   changes the load already contains — the target converges, because row events carry whole
//!   rows and are applied by key. [`MySqlSnapshot::exact`] says whether that can happen.
//!
//! Each worker keeps its transaction for the whole load; InnoDB serves every chunk from it, with
//! no lock on the tables. Rows come through the binary protocol and are converted by
//! [`row::convert`] to exactly what the binlog decoder produces for the column.
//!
//! Output: as PostgreSQL's full load, [`LoadMsg::Rows`] then [`LoadMsg::ChunkDone`] per chunk
//! on one bounded channel; a worker's error arrives as [`LoadMsg::Failed`]; when every worker
//! stopped the channel closes.
//!
//! Limits (docs/mysql.md): DDL on a captured table during its load is not supported (the
//! definition is read from `information_schema` when the load starts); non-transactional
//! (MyISAM) tables are not read consistently.

pub mod plan;
pub mod row;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use sluice_core::{
    BinlogPosition, ChangeEvent, ChunkQueue, ErrorKind, GtidSet, LoadMsg, Op, Position, SnapshotMarker,
    SourceDetail, SourceInfo, TableId,
};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::charset::Charsets;
use crate::config::{MySqlSourceConfig, SnapshotLocking, ZeroDateRule};
use crate::error::MySqlError;
use crate::filter::TableFilter;
use crate::schema::history::SchemaHistory;
use crate::schema::tablemap::MapRules;
use crate::schema::{SchemaTracker, TrackedTable};
use crate::server::{col, Flavor, ServerInfo};
pub use plan::{Bound, Split, TablePlan};

/// Rows per [`LoadMsg::Rows`] batch.
const ROWS_PER_MESSAGE: usize = 1024;

/// Session settings of every snapshot connection (see `row`): UTF-8 text, UTC timestamps, and
/// no server-side write timeout while the broker applies back-pressure.
const SESSION_SETTINGS: [&str; 4] = [
    "SET NAMES utf8mb4",
    "SET SESSION time_zone = '+00:00'",
    "SET SESSION net_write_timeout = 3600",
    "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
];

/// Started readers: their channel, the chunks queued, and the tasks (stopped when dropped).
pub type Started = (mpsc::Receiver<LoadMsg<MySqlError>>, usize, JoinSet<()>);

/// Worker connections, each inside its consistent snapshot.
pub struct MySqlSnapshot {
    cfg: MySqlSourceConfig,
    conns: Vec<Conn>,
    server: ServerInfo,
    tracker: SchemaTracker,
    /// Where streaming continues after the load.
    pub position: BinlogPosition,
    /// Every worker's snapshot is exactly at `position` (no change is replayed).
    pub exact: bool,
}

impl std::fmt::Debug for MySqlSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MySqlSnapshot")
            .field("position", &self.position.to_string())
            .field("exact", &self.exact)
            .field("workers", &self.conns.len())
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn load_err(reason: impl Into<String>) -> MySqlError {
    MySqlError::Load { reason: reason.into(), kind: ErrorKind::Fatal }
}

/// `(file sequence number, offset)`: binlog positions in order.
fn order_key(p: &BinlogPosition) -> (u64, u64) {
    let seq = p.file.rsplit('.').next().and_then(|s| s.parse().ok()).unwrap_or(0);
    (seq, p.pos)
}

const START_SNAPSHOT: &str = "START TRANSACTION WITH CONSISTENT SNAPSHOT";

impl MySqlSnapshot {
    /// Open `cfg.snapshot_workers` connections inside consistent snapshots and find the position
    /// streaming continues from. Table definitions are versioned through `history`.
    pub async fn open(cfg: &MySqlSourceConfig, history: Box<dyn SchemaHistory>) -> Result<Self, MySqlError> {
        cfg.validate()?;
        let workers = cfg.snapshot_workers.max(1);
        let mut conns = Vec::with_capacity(workers);
        for _ in 0..workers {
            let mut c = cfg.connection.connect().await?;
            for s in SESSION_SETTINGS {
                c.query_drop(s).await.map_err(|e| MySqlError::query("snapshot session settings", &e))?;
            }
            conns.push(c);
        }
        let server = ServerInfo::detect(&mut conns[0]).await?;
        let (position, exact) = match cfg.snapshot_locking {
            SnapshotLocking::Minimal => {
                let mut lock = cfg.connection.connect().await?;
                lock.query_drop("FLUSH TABLES WITH READ LOCK").await.map_err(|e| {
                    let mut err = MySqlError::query("FLUSH TABLES WITH READ LOCK", &e);
                    if let MySqlError::Query { reason, .. } = &mut err {
                        reason.push_str(
                            " (snapshot_locking = \"minimal\" needs the RELOAD privilege; \
                             \"none\" needs no lock)",
                        );
                    }
                    err
                })?;
                let opened = async {
                    for c in &mut conns {
                        c.query_drop(START_SNAPSHOT)
                            .await
                            .map_err(|e| MySqlError::query("starting a snapshot", &e))?;
                    }
                    server.current_position(&mut lock).await
                }
                .await;
                let unlocked = lock.query_drop("UNLOCK TABLES").await;
                let position = opened?;
                unlocked.map_err(|e| MySqlError::query("UNLOCK TABLES", &e))?;
                drop(lock);
                (position, true)
            }
            SnapshotLocking::None if server.flavor == Flavor::MariaDb => {
                let mut seen = Vec::with_capacity(workers);
                for c in &mut conns {
                    c.query_drop(START_SNAPSHOT)
                        .await
                        .map_err(|e| MySqlError::query("starting a snapshot", &e))?;
                    let rows: Vec<Row> = c
                        .query("SHOW STATUS LIKE 'binlog_snapshot_%'")
                        .await
                        .map_err(|e| MySqlError::query("binlog_snapshot_file", &e))?;
                    let var = |name: &str| {
                        rows.iter()
                            .find(|r| col::<String>(r, 0).is_some_and(|n| n.eq_ignore_ascii_case(name)))
                            .and_then(|r| col::<String>(r, 1))
                    };
                    let (Some(file), Some(pos)) = (
                        var("binlog_snapshot_file"),
                        var("binlog_snapshot_position").and_then(|p| p.parse::<u64>().ok()),
                    ) else {
                        return Err(MySqlError::unsupported(
                            "the server reports no binlog_snapshot_file",
                            "enable the binary log (log_bin), or set snapshot_locking = \"minimal\"",
                        ));
                    };
                    seen.push(BinlogPosition { file, pos, gtid_set: None });
                }
                let exact = seen.windows(2).all(|w| w[0] == w[1]);
                let Some(earliest) = seen.into_iter().min_by_key(order_key) else {
                    return Err(load_err("no snapshot worker"));
                };
                let gtid: Option<Row> = conns[0]
                    .exec_first("SELECT BINLOG_GTID_POS(?, ?)", (earliest.file.as_str(), earliest.pos))
                    .await
                    .map_err(|e| MySqlError::query("BINLOG_GTID_POS", &e))?;
                let gtid: String = gtid.and_then(|r| col(&r, 0)).unwrap_or_default();
                let gtid_set =
                    GtidSet::parse_mariadb(&gtid).map_err(|e| MySqlError::Config(e.to_string()))?;
                (BinlogPosition { gtid_set: Some(gtid_set), ..earliest }, exact)
            }
            SnapshotLocking::None => {
                let position = server.current_position(&mut conns[0]).await?;
                for c in &mut conns {
                    c.query_drop(START_SNAPSHOT)
                        .await
                        .map_err(|e| MySqlError::query("starting a snapshot", &e))?;
                }
                (position, false)
            }
        };
        let charsets = Charsets::load(&mut conns[0]).await;
        let rules = MapRules { geometry_has_charset: server.is_mariadb() };
        let tracker = SchemaTracker::new(charsets, cfg.table_filter(), history, rules);
        tracing::info!(position = %position, exact, workers, locking = ?cfg.snapshot_locking, "snapshot opened by every worker");
        Ok(Self { cfg: cfg.clone(), conns, server, tracker, position, exact })
    }

    /// Plan every captured table (inside the snapshot).
    pub async fn plan(&mut self) -> Result<Vec<TablePlan>, MySqlError> {
        let rows: Vec<Row> = self.conns[0]
            .query(
                "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES \
                 WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_SCHEMA, TABLE_NAME",
            )
            .await
            .map_err(|e| MySqlError::query("listing tables", &e))?;
        let mut out = Vec::new();
        for r in &rows {
            let (Some(db), Some(name)) = (col::<String>(r, 0), col::<String>(r, 1)) else { continue };
            let id = TableId::new(db.as_str(), name.as_str());
            if TableFilter::is_system_schema(&db) || !self.tracker.captures(&id) {
                continue;
            }
            let Some(table) = self.tracker.table(&id, &mut self.conns[0], &self.position).await? else {
                continue;
            };
            let key: Vec<String> = table
                .schema
                .key
                .iter()
                .filter_map(|i| table.schema.columns.get(*i))
                .map(|c| c.name.clone())
                .collect();
            let estimate = col::<u64>(r, 2).unwrap_or(0);
            let p = plan::plan_table(&mut self.conns[0], &id, &key, estimate, self.cfg.snapshot_chunk_rows)
                .await?;
            tracing::info!(table = %id, chunks = p.chunks(), estimated_rows = p.estimated_rows, "planned table");
            out.push(p);
        }
        Ok(out)
    }

    /// Start reading every chunk of `plan` not in `finished` (pairs of table and chunk index).
    pub async fn start(
        mut self,
        plan: &[TablePlan],
        finished: &HashSet<(usize, usize)>,
    ) -> Result<Started, MySqlError> {
        let mut readers = Vec::with_capacity(plan.len());
        for p in plan {
            let table = self.tracker.table(&p.id(), &mut self.conns[0], &self.position).await?;
            if table.is_none() {
                tracing::warn!(table = %p.id(), "table planned for the full load no longer exists; skipped");
            }
            readers.push(table.map(|t| TableReader::new(p.clone(), t)));
        }
        let readers = Arc::new(readers);
        let queue = Arc::new(ChunkQueue::round_robin(plan, finished, |t| readers[t].is_some()));
        let pending = queue.len();
        let (tx, rx) = mpsc::channel(64);
        let info = Arc::new(Template {
            name: self.cfg.topic_prefix.clone(),
            server_id: self.server.server_id,
            position: self.position.clone(),
            ts_ms: now_ms(),
            zero: self.cfg.zero_date,
        });
        let mut tasks = JoinSet::new();
        for mut conn in self.conns {
            let (q, r, tx, info) = (queue.clone(), readers.clone(), tx.clone(), info.clone());
            tasks.spawn(async move {
                if let Err(e) = worker(&mut conn, &q, &r, &tx, &info).await {
                    let _ = tx.send(LoadMsg::Failed(e)).await;
                }
            });
        }
        Ok((rx, pending, tasks))
    }
}

/// How to read and publish one planned table.
struct TableReader {
    plan: TablePlan,
    table: Arc<TrackedTable>,
    /// `SELECT <columns> FROM <table> WHERE `
    select: String,
}

impl TableReader {
    fn new(plan: TablePlan, table: Arc<TrackedTable>) -> Self {
        let cols: Vec<String> = table.schema.columns.iter().map(|c| plan::quote_ident(&c.name)).collect();
        let select = format!("SELECT {} FROM {} WHERE ", cols.join(", "), plan.from_sql());
        Self { plan, table, select }
    }
}

struct Template {
    name: String,
    server_id: u32,
    position: BinlogPosition,
    ts_ms: i64,
    zero: ZeroDateRule,
}

async fn worker(
    conn: &mut Conn,
    queue: &ChunkQueue,
    readers: &[Option<TableReader>],
    tx: &mpsc::Sender<LoadMsg<MySqlError>>,
    info: &Template,
) -> Result<(), MySqlError> {
    let closed = || MySqlError::Load {
        reason: "the full load's consumer went away".into(),
        kind: ErrorKind::Retriable,
    };
    while let Some((t, c)) = queue.take() {
        let Some(r) = readers.get(t).and_then(Option::as_ref) else { continue };
        let (filter, params) = r.plan.chunk_filter(c);
        let sql = format!("{}{filter}", r.select);
        let mut stream = conn
            .exec_stream::<Row, _, _>(sql, params)
            .await
            .map_err(|e| MySqlError::query("reading a chunk", &e))?;
        let mut batch = Vec::with_capacity(ROWS_PER_MESSAGE);
        let mut rows = 0u64;
        while let Some(row) = stream.next().await {
            let row = row.map_err(|e| MySqlError::query("reading a chunk", &e))?;
            batch.push(event(r, row, info)?);
            if batch.len() >= ROWS_PER_MESSAGE {
                rows += batch.len() as u64;
                let full = std::mem::replace(&mut batch, Vec::with_capacity(ROWS_PER_MESSAGE));
                tx.send(LoadMsg::Rows(full)).await.map_err(|_| closed())?;
            }
        }
        drop(stream);
        rows += batch.len() as u64;
        if !batch.is_empty() {
            tx.send(LoadMsg::Rows(batch)).await.map_err(|_| closed())?;
        }
        tx.send(LoadMsg::ChunkDone { table: t, chunk: c, rows }).await.map_err(|_| closed())?;
    }
    Ok(())
}

fn event(r: &TableReader, row: Row, info: &Template) -> Result<ChangeEvent, MySqlError> {
    let schema = &r.table.schema;
    let values = row.unwrap();
    if values.len() != r.table.kinds.len() {
        return Err(load_err(format!(
            "{}: {} values in a row of {} columns",
            schema.id,
            values.len(),
            r.table.kinds.len()
        )));
    }
    let mut out = Vec::with_capacity(values.len());
    for ((v, kind), column) in values.into_iter().zip(&r.table.kinds).zip(&schema.columns) {
        out.push(
            row::convert(kind, column.nullable, v, info.zero)
                .map_err(|e| load_err(format!("column {} of {}: {e}", column.name, schema.id)))?,
        );
    }
    Ok(ChangeEvent {
        table: schema.clone(),
        op: Op::Read,
        before: None,
        after: Some(out),
        source: SourceInfo {
            connector: "mysql",
            name: info.name.clone(),
            ts_ms: info.ts_ms,
            snapshot: SnapshotMarker::True,
            db: schema.id.schema.clone(),
            schema: None,
            table: schema.id.table.clone(),
            detail: SourceDetail::MySql {
                server_id: info.server_id,
                gtid: None,
                file: info.position.file.clone(),
                pos: info.position.pos,
                row: 0,
                thread: None,
                query: None,
            },
        },
        ts_ms: now_ms(),
        transaction: None,
        position: Position::Binlog(info.position.clone()),
    })
}
