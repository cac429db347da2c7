//! The full load of any source: publish the snapshot's `op = r` events through the same
//! publisher as streamed changes, record finished chunks in the state topic, report progress.
//! A source plugs in through [`FullLoad`] (PostgreSQL: [`PgLoad`]; MySQL/MariaDB: in
//! `mysql.rs`): it plans its tables into chunks inside its snapshot and starts readers that send
//! [`LoadMsg`]s.
//!
//! Invariants:
//! - A chunk is recorded as finished only after the broker acknowledged every record of it: its
//!   "done" message is registered as a producer checkpoint after its last row was sent, and the
//!   producer releases checkpoints only once every earlier record is acknowledged. (The
//!   checkpoint position is a chunk sequence number wrapped in `Position::Postgres`; it never
//!   reaches the source.)
//! - The plan (chunk bounds) is stored before the first row is read, so a resumed load reads
//!   exactly the chunks that were not finished — key ranges partition the key space whatever
//!   snapshot they are read from.
//! - The load is complete only when every planned chunk is finished; then the record says so.
//!
//! Failure: a worker error, a delivery failure, or workers that stop early end the run with an
//! error; the task restarts and resumes at the finished chunks.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sluice_core::stats::{LoadState, TableStats as LiveStats};
use sluice_core::{ChangeEvent, ChunkedTable, LoadMsg, Lsn, Position, SnapshotMarker};
use sluice_kafka::state::StateTopic;
use sluice_postgres::source::snapshot::{Snapshot, SnapshotOrigin, TablePlan};
use sluice_postgres::source::wal::ExportedSlot;
use sluice_postgres::source::PgSourceConfig;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::progress::{Reporter, TableProgress};
use crate::pipeline::publish::Publisher;

/// How often released chunks are stored in the state topic.
const PERSIST_EVERY: Duration = Duration::from_millis(500);

/// Readers started by [`FullLoad::start`]: their channel, the chunks queued, and the tasks (which
/// stop when this is dropped).
pub type Started<E> = (mpsc::Receiver<LoadMsg<E>>, usize, JoinSet<()>);

/// A source's full load, opened inside its snapshot.
pub trait FullLoad {
    type Plan: ChunkedTable + Serialize + DeserializeOwned;
    type Error: Into<anyhow::Error>;
    /// Where the snapshot stands, for log lines.
    fn snapshot_point(&self) -> String;
    /// Split every captured table into chunks (inside the snapshot).
    async fn plan(&mut self) -> anyhow::Result<Vec<Self::Plan>>;
    /// Start reading every chunk of `plan` not in `finished` (pairs of table and chunk index).
    async fn start(
        self,
        plan: &[Self::Plan],
        finished: &HashSet<(usize, usize)>,
    ) -> anyhow::Result<Started<Self::Error>>;
}

/// PostgreSQL's full load: workers sharing one exported snapshot.
pub struct PgLoad<'a> {
    pg: &'a PgSourceConfig,
    snapshot: Snapshot,
}

impl FullLoad for PgLoad<'_> {
    type Plan = TablePlan;
    type Error = sluice_postgres::PgError;

    fn snapshot_point(&self) -> String {
        self.snapshot.lsn.to_string()
    }

    async fn plan(&mut self) -> anyhow::Result<Vec<TablePlan>> {
        Ok(self.snapshot.plan(self.pg).await?)
    }

    async fn start(
        self,
        plan: &[TablePlan],
        finished: &HashSet<(usize, usize)>,
    ) -> anyhow::Result<Started<Self::Error>> {
        Ok(self.snapshot.start(self.pg, plan, finished).await?.into_parts())
    }
}

/// What the state topic remembers of a full load.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Progress<P> {
    pub plan: Vec<P>,
    /// Finished chunks: (table index, chunk index, rows).
    pub done: Vec<(usize, usize, u64)>,
    pub complete: bool,
}

impl<P: Serialize + DeserializeOwned> Progress<P> {
    pub async fn load(state: &StateTopic, key: &str) -> anyhow::Result<Option<Self>> {
        match state.load(key).await? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes).context("reading full-load progress")?)),
            None => Ok(None),
        }
    }

    async fn store(&self, state: &StateTopic, key: &str) -> anyhow::Result<()> {
        state.store(key, Some(serde_json::to_string(self)?.as_bytes())).await?;
        Ok(())
    }
}

/// How a full load ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Complete,
    Stopped,
}

/// Per-table counters for progress lines.
struct TableStats {
    estimated: u64,
    /// Rows of chunks finished in earlier runs.
    resumed: u64,
    /// Rows of chunks finished in this run (acknowledged by the broker).
    acked: u64,
    /// Rows published in this run.
    sent: u64,
    chunks_left: usize,
    /// The table's row in the task statistics.
    live: Arc<LiveStats>,
}

impl TableStats {
    fn matches(&self, id: &sluice_core::TableId) -> bool {
        Arc::ptr_eq(&self.live, &sluice_core::stats::table(id))
    }
}

/// Run (or resume) the PostgreSQL full load recorded under `key`. `exporter`, when given, is the
/// slot's exporting connection: it is closed as soon as every worker imported its snapshot.
#[allow(clippy::too_many_arguments)]
pub async fn run_pg(
    pg: &PgSourceConfig,
    origin: SnapshotOrigin<'_>,
    slot_lsn: Lsn,
    exporter: Option<ExportedSlot>,
    publisher: &mut Publisher,
    state: &StateTopic,
    key: &str,
    stop: impl std::future::Future<Output = ()> + Unpin,
) -> anyhow::Result<Outcome> {
    let open = async {
        let snapshot = Snapshot::open(pg, origin, slot_lsn).await?;
        drop(exporter);
        Ok(PgLoad { pg, snapshot })
    };
    run(open, publisher, state, key, stop).await
}

/// Run (or resume) the full load recorded under `key`; `open` opens the snapshot (not awaited
/// when the record says the load is complete).
pub async fn run<D: FullLoad>(
    open: impl std::future::Future<Output = anyhow::Result<D>>,
    publisher: &mut Publisher,
    state: &StateTopic,
    key: &str,
    mut stop: impl std::future::Future<Output = ()> + Unpin,
) -> anyhow::Result<Outcome> {
    let stored = Progress::<D::Plan>::load(state, key).await?;
    if stored.as_ref().is_some_and(|p| p.complete) {
        tracing::info!("full load already complete");
        return Ok(Outcome::Complete);
    }
    let mut load = open.await?;
    let snapshot_point = load.snapshot_point();
    let mut progress = match stored {
        Some(p) if !p.plan.is_empty() => p,
        _ => {
            let p = Progress { plan: load.plan().await?, done: Vec::new(), complete: false };
            p.store(state, key).await?;
            p
        }
    };
    let finished: HashSet<(usize, usize)> = progress.done.iter().map(|(t, c, _)| (*t, *c)).collect();
    let mut stats: Vec<TableStats> = progress
        .plan
        .iter()
        .map(|p| TableStats {
            estimated: p.estimated_rows(),
            resumed: 0,
            acked: 0,
            sent: 0,
            chunks_left: p.chunks(),
            live: sluice_core::stats::table(&p.table_id()),
        })
        .collect();
    for (t, c, rows) in &progress.done {
        tracing::info!(table = %progress.plan[*t].name(), range = %progress.plan[*t].chunk_range(*c), rows, "skipping finished chunk");
        if let Some(s) = stats.get_mut(*t) {
            s.resumed += rows;
            s.chunks_left = s.chunks_left.saturating_sub(1);
        }
    }
    for s in &stats {
        s.live.full_load_estimated.store(s.estimated.max(s.resumed), Ordering::Relaxed);
        s.live.full_load_rows.store(s.resumed, Ordering::Relaxed);
        s.live.set_state(if s.chunks_left == 0 { LoadState::Loaded } else { LoadState::Pending });
    }
    sluice_core::stats::set_phase("full-load");
    let total_chunks: usize = progress.plan.iter().map(ChunkedTable::chunks).sum();
    let (mut rx, pending, _readers) = load.start(&progress.plan, &finished).await?;
    // Chunks skipped because their table no longer exists count as finished.
    let vanished = total_chunks - finished.len() - pending;
    tracing::info!(
        snapshot = %snapshot_point,
        tables = progress.plan.len(),
        chunks = total_chunks,
        finished = finished.len(),
        to_read = pending,
        "full load started"
    );

    let started = Instant::now();
    let mut seq = 0u64;
    let mut in_flight: Vec<(u64, usize, usize, u64)> = Vec::new();
    let mut received = 0usize;
    // The newest row is held back so the load's last row can be marked `last`; chunks that
    // finish while it is held wait in `deferred` for their checkpoint until it is published.
    let mut held: Option<ChangeEvent> = None;
    let mut deferred: Vec<(usize, usize, u64)> = Vec::new();
    let mut first = true;
    let mut last_persist = Instant::now();
    let mut reporter = Reporter::new(&progress.plan);
    let outcome = loop {
        let msg = tokio::select! {
            m = rx.recv() => m,
            () = &mut stop => break Outcome::Stopped,
        };
        match msg {
            Some(LoadMsg::Rows(events)) => {
                if let Some(s) = events.first().and_then(|e| stats.iter().find(|s| s.matches(&e.table.id))) {
                    if s.live.state() == LoadState::Pending {
                        s.live.set_state(LoadState::Loading);
                    }
                }
                for mut ev in events {
                    // Debezium marks the first snapshot event `first`, the last `last`.
                    if first {
                        ev.source.snapshot = SnapshotMarker::First;
                        first = false;
                    }
                    if let Some(prev) = held.replace(ev) {
                        publisher.publish(&prev).await?;
                        checkpoint_chunks(publisher, &mut deferred, &mut seq, &mut in_flight);
                    }
                }
            }
            Some(LoadMsg::ChunkDone { table, chunk, rows }) => {
                received += 1;
                if let Some(s) = stats.get_mut(table) {
                    s.sent += rows;
                }
                deferred.push((table, chunk, rows));
                let last_chunk = received == pending;
                if last_chunk || held.is_none() {
                    if let Some(mut last) = held.take() {
                        if last_chunk {
                            last.source.snapshot = SnapshotMarker::Last;
                        }
                        publisher.publish(&last).await?;
                    }
                    checkpoint_chunks(publisher, &mut deferred, &mut seq, &mut in_flight);
                }
            }
            Some(LoadMsg::Failed(e)) => {
                for s in &stats {
                    if s.chunks_left > 0 {
                        s.live.set_state(LoadState::Error);
                    }
                }
                // Keep what is already acknowledged; the rest is read again after the restart.
                let _ =
                    persist_released(publisher, &mut in_flight, &mut progress, &mut stats, state, key).await;
                return Err(e.into());
            }
            None => {
                // Workers that stopped early: what they finished is still finished.
                if let Some(last) = held.take() {
                    publisher.publish(&last).await?;
                }
                checkpoint_chunks(publisher, &mut deferred, &mut seq, &mut in_flight);
                break Outcome::Complete;
            }
        }
        publisher.producer().check_failed()?;
        if last_persist.elapsed() >= PERSIST_EVERY {
            persist_released(publisher, &mut in_flight, &mut progress, &mut stats, state, key).await?;
            last_persist = Instant::now();
        }
        let shown: Vec<TableProgress> = stats.iter().map(TableStats::progress).collect();
        reporter.update(&progress.plan, &shown, started);
    };
    // Everything sent gets its acknowledgement; what it releases is recorded, also on shutdown.
    let flushed = publisher.producer().flush(Duration::from_secs(120)).await;
    persist_released(publisher, &mut in_flight, &mut progress, &mut stats, state, key).await?;
    reporter.finish();
    flushed?;
    if outcome == Outcome::Stopped {
        tracing::info!(
            finished = progress.done.len(),
            chunks = total_chunks,
            "full load stopped; it resumes at the next start"
        );
        return Ok(Outcome::Stopped);
    }
    if progress.done.len() + vanished < total_chunks {
        return Err(sluice_core::Error::retriable(
            "snapshot",
            format!("full load workers stopped after {} of {total_chunks} chunks", progress.done.len()),
        )
        .into());
    }
    progress.complete = true;
    progress.store(state, key).await?;
    let rows: u64 = stats.iter().map(|s| s.acked).sum();
    let resumed: u64 = stats.iter().map(|s| s.resumed).sum();
    let secs = started.elapsed().as_secs_f64();
    tracing::info!(
        rows,
        resumed,
        seconds = format!("{secs:.1}"),
        rows_per_sec = (rows as f64 / secs.max(0.001)) as u64,
        "full load complete"
    );
    Ok(Outcome::Complete)
}

/// Register a producer checkpoint for each finished chunk whose rows are all published.
fn checkpoint_chunks(
    publisher: &Publisher,
    deferred: &mut Vec<(usize, usize, u64)>,
    seq: &mut u64,
    in_flight: &mut Vec<(u64, usize, usize, u64)>,
) {
    for (table, chunk, rows) in deferred.drain(..) {
        *seq += 1;
        publisher.producer().checkpoint(Position::Postgres(Lsn(*seq)));
        in_flight.push((*seq, table, chunk, rows));
    }
}

/// Record every chunk whose records the broker acknowledged.
async fn persist_released<P: ChunkedTable + Serialize + DeserializeOwned>(
    publisher: &Publisher,
    in_flight: &mut Vec<(u64, usize, usize, u64)>,
    progress: &mut Progress<P>,
    stats: &mut [TableStats],
    state: &StateTopic,
    key: &str,
) -> anyhow::Result<()> {
    let Some(Position::Postgres(Lsn(upto))) = publisher.producer().take_released() else { return Ok(()) };
    let split = in_flight.partition_point(|(s, ..)| *s <= upto);
    let released: Vec<_> = in_flight.drain(..split).collect();
    if released.is_empty() {
        return Ok(());
    }
    for (_, t, c, rows) in &released {
        progress.done.push((*t, *c, *rows));
    }
    progress.store(state, key).await?;
    for (_, t, c, rows) in released {
        let plan = &progress.plan[t];
        tracing::info!(table = %plan.name(), range = %plan.chunk_range(c), rows, "chunk done");
        if let Some(s) = stats.get_mut(t) {
            s.acked += rows;
            s.chunks_left = s.chunks_left.saturating_sub(1);
            LiveStats::add(&s.live.full_load_rows, rows);
            if s.chunks_left == 0 {
                s.live.set_state(LoadState::Loaded);
                tracing::info!(table = %plan.name(), rows = s.resumed + s.acked, "table loaded");
            }
        }
    }
    Ok(())
}

impl TableStats {
    fn progress(&self) -> TableProgress {
        TableProgress {
            estimated: self.estimated,
            done: self.resumed + self.sent,
            sent: self.sent,
            finished: self.chunks_left == 0,
        }
    }
}
