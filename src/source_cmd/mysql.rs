//! The MySQL/MariaDB source task. Unlike PostgreSQL, the server keeps no replication position
//! for Sluice, so the position acknowledged last is stored in the Kafka state topic: a source
//! resumes from it after a restart. On its very first start it begins at the server's current
//! position and stores that position before streaming.
//!
//! Invariant: a position is written to the state topic only after the broker acknowledged every
//! event up to it (it is written from `Source::acknowledge`, which the pipeline calls only with
//! released positions), so a resume never skips an unpublished event.
//!
//! Full load (`full-load-and-cdc`, as for PostgreSQL): on the first start the snapshot is opened,
//! its binlog position stored with `"snapshot": "pending"` before any row is read, the tables
//! loaded (progress under `<key>:snapshot`), the flag cleared, and streaming starts at that
//! position. A restart during the load resumes the unfinished chunks from a new snapshot and
//! then streams from the stored position, replaying the changes made meanwhile on top.

use std::collections::HashSet;

use anyhow::Context;
use sluice_avro::schema_gen::SourceKind;
use sluice_core::{BinlogPosition, GtidSet, MigrationType, Position, Source, SourceBatch};
use sluice_kafka::state::StateTopic;
use sluice_mysql::snapshot::{MySqlSnapshot, TablePlan};
use sluice_mysql::{MySqlError, MySqlSource, MySqlSourceConfig};

use super::schema_history::{KafkaHistory, Pending};
use super::snapshot::{self, FullLoad, Outcome, Started};
use crate::pipeline::publish::{self, Publisher};
use crate::service::Service;

/// MySQL/MariaDB's full load: workers in consistent snapshots; every table definition it uses
/// is stored in the schema history before its first row is published.
struct MySqlLoad<'a> {
    snapshot: MySqlSnapshot,
    pending: Pending,
    history: &'a StateTopic,
}

impl FullLoad for MySqlLoad<'_> {
    type Plan = TablePlan;
    type Error = MySqlError;

    fn snapshot_point(&self) -> String {
        self.snapshot.position.to_string()
    }

    async fn plan(&mut self) -> anyhow::Result<Vec<TablePlan>> {
        let plan = self.snapshot.plan().await?;
        self.pending.flush(self.history).await?;
        Ok(plan)
    }

    async fn start(
        self,
        plan: &[TablePlan],
        finished: &HashSet<(usize, usize)>,
    ) -> anyhow::Result<Started<MySqlError>> {
        let started = self.snapshot.start(plan, finished).await?;
        self.pending.flush(self.history).await?;
        Ok(started)
    }
}

/// Open a snapshot with the schema history from `history`.
async fn open_snapshot<'a>(my: &MySqlSourceConfig, history: &'a StateTopic) -> anyhow::Result<MySqlLoad<'a>> {
    let (h, pending) = KafkaHistory::load(history).await?;
    let snapshot = MySqlSnapshot::open(my, Box::new(h)).await?;
    if !snapshot.exact {
        tracing::warn!(
            position = %snapshot.position,
            "snapshot workers are not all at one binlog position: streaming replays the changes \
             between the earliest and their snapshots (the target converges; snapshot_locking = \
             \"minimal\" gives one exact position)"
        );
    }
    Ok(MySqlLoad { snapshot, pending, history })
}

/// Run (or resume) the full load under `load_key` from a fresh snapshot.
async fn load(
    my: &MySqlSourceConfig,
    history: &StateTopic,
    publisher: &mut Publisher,
    state: &StateTopic,
    load_key: &str,
    stop: impl std::future::Future<Output = ()> + Unpin,
) -> anyhow::Result<Outcome> {
    snapshot::run(open_snapshot(my, history), publisher, state, load_key, stop).await
}

/// `{"file": …, "pos": …, "mysql_gtid": …}` or `… "mariadb_gtid": …`.
pub fn position_to_json(p: &BinlogPosition) -> serde_json::Value {
    let mut v = serde_json::json!({"file": p.file, "pos": p.pos});
    match &p.gtid_set {
        Some(g @ GtidSet::MySql(_)) => v["mysql_gtid"] = g.to_string().into(),
        Some(g @ GtidSet::MariaDb(_)) => v["mariadb_gtid"] = g.to_string().into(),
        None => {}
    }
    v
}

pub fn position_from_json(v: &serde_json::Value) -> anyhow::Result<BinlogPosition> {
    let file = v["file"].as_str().context("stored position has no file")?.to_owned();
    let pos = v["pos"].as_u64().context("stored position has no pos")?;
    let gtid_set = match (v["mysql_gtid"].as_str(), v["mariadb_gtid"].as_str()) {
        (Some(g), _) => Some(GtidSet::parse_mysql(g)?),
        (_, Some(g)) => Some(GtidSet::parse_mariadb(g)?),
        _ => None,
    };
    Ok(BinlogPosition { file, pos, gtid_set })
}

/// Persists every acknowledged position before acknowledging it to the reader, and every new
/// table definition before the batch that first uses it.
struct PersistingSource<'a> {
    inner: MySqlSource,
    state: &'a StateTopic,
    key: &'a str,
    history: &'a StateTopic,
    pending: Pending,
}

impl Source for PersistingSource<'_> {
    async fn next_batch(&mut self) -> sluice_core::Result<SourceBatch> {
        let batch = self.inner.next_batch().await?;
        self.pending
            .flush(self.history)
            .await
            .map_err(|e| sluice_core::Error::retriable("schema history", format!("{e:#}")))?;
        Ok(batch)
    }

    async fn acknowledge(&mut self, position: Position) -> sluice_core::Result<()> {
        if let Position::Binlog(p) = &position {
            let record = position_to_json(p).to_string();
            self.state
                .store(self.key, Some(record.as_bytes()))
                .await
                .map_err(|e| sluice_core::Error::retriable("state", e.to_string()))?;
        }
        self.inner.acknowledge(position).await
    }
}

pub(super) async fn run_once(
    my: &MySqlSourceConfig,
    brokers: &super::Brokers,
    (url, subject_strategy): (&str, sluice_avro::SubjectNameStrategy),
    state: &StateTopic,
    key: &str,
    service: &Service,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let history_topic = StateTopic::open(&brokers.kafka, &my.history_topic()).await?;
    let mut publisher = super::publisher(
        brokers,
        url,
        subject_strategy,
        &my.topic_prefix,
        SourceKind::MySql,
        my.decimal_handling_mode,
        Some(std::time::Duration::from_millis(my.heartbeat_interval_ms)),
    )
    .await?;
    tokio::pin!(stop);
    if my.migration_type == MigrationType::FullLoad {
        service.ready.set_ready();
        let key = super::full_load_key(key);
        if load(my, &history_topic, &mut publisher, state, &key, &mut stop).await? == Outcome::Complete {
            tracing::info!("migration type full-load: done, exiting");
        }
        return Ok(());
    }
    let record: Option<serde_json::Value> = match state.load(key).await? {
        Some(bytes) => Some(serde_json::from_slice(&bytes).context("reading the source state record")?),
        None => None,
    };
    let wants_load = my.migration_type == MigrationType::FullLoadAndCdc;
    let load_key = super::snapshot_key(key);
    let resume = match record {
        None if wants_load => {
            // A load of an earlier snapshot must not be resumed.
            state.store(&load_key, None).await?;
            let opened = open_snapshot(my, &history_topic).await?;
            let position = opened.snapshot.position.clone();
            let mut pending = position_to_json(&position);
            pending["snapshot"] = "pending".into();
            state.store(key, Some(pending.to_string().as_bytes())).await?;
            service.ready.set_ready();
            let done =
                snapshot::run(async { Ok(opened) }, &mut publisher, state, &load_key, &mut stop).await?;
            if done == Outcome::Stopped {
                return Ok(());
            }
            state.store(key, Some(position_to_json(&position).to_string().as_bytes())).await?;
            Some(position)
        }
        Some(r) if wants_load && r.get("snapshot").and_then(|s| s.as_str()) == Some("pending") => {
            let position = position_from_json(&r)?;
            service.ready.set_ready();
            tracing::info!(position = %position, "resuming the full load");
            if load(my, &history_topic, &mut publisher, state, &load_key, &mut stop).await?
                == Outcome::Stopped
            {
                return Ok(());
            }
            state.store(key, Some(position_to_json(&position).to_string().as_bytes())).await?;
            Some(position)
        }
        Some(r) => Some(position_from_json(&r)?),
        None => my.cdc_start()?,
    };
    tracing::info!(resume = ?resume.as_ref().map(ToString::to_string), "starting binlog source");
    let first_start = resume.is_none();
    let (history, pending) = KafkaHistory::load(&history_topic).await?;
    let inner = MySqlSource::start_with_history(my.clone(), resume, Box::new(history)).await?;
    if first_start {
        // Record where this source starts before streaming, so a crash before the first
        // acknowledgement resumes here instead of at a later "current" position.
        let record = position_to_json(inner.committed_position()).to_string();
        state.store(key, Some(record.as_bytes())).await?;
    }
    let mut source = PersistingSource { inner, state, key, history: &history_topic, pending };
    service.ready.set_ready();
    sluice_core::stats::set_phase("cdc");
    tracing::info!("streaming");
    let result = publish::run(&mut source, &mut publisher, &mut stop).await;
    source.inner.close().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_through_json() {
        for p in [
            BinlogPosition { file: "mysql-bin.000003".into(), pos: 1234, gtid_set: None },
            BinlogPosition {
                file: "mysql-bin.000003".into(),
                pos: 99,
                gtid_set: Some(GtidSet::parse_mariadb("0-1-42").unwrap()),
            },
            BinlogPosition {
                file: "binlog.000001".into(),
                pos: 4,
                gtid_set: Some(GtidSet::parse_mysql("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5").unwrap()),
            },
        ] {
            assert_eq!(position_from_json(&position_to_json(&p)).unwrap(), p);
        }
    }
}
