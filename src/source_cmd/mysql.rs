//! The MySQL/MariaDB source task. Unlike PostgreSQL, the server keeps no replication position
//! for Sluice, so the position acknowledged last is stored in the Kafka state topic: a source
//! resumes from it after a restart. On its very first start it begins at the server's current
//! position and stores that position before streaming.
//!
//! Invariant: a position is written to the state topic only after the broker acknowledged every
//! event up to it (it is written from `Source::acknowledge`, which the pipeline calls only with
//! released positions), so a resume never skips an unpublished event.

use anyhow::Context;
use sluice_avro::schema_gen::SourceKind;
use sluice_core::{BinlogPosition, GtidSet, Position, Source, SourceBatch};
use sluice_kafka::state::StateTopic;
use sluice_kafka::KafkaConfig;
use sluice_mysql::{MySqlSource, MySqlSourceConfig};

use super::schema_history::{KafkaHistory, Pending};
use crate::pipeline::publish;
use crate::service::Service;

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
    kafka: &KafkaConfig,
    (url, subject_strategy): (&str, sluice_avro::SubjectNameStrategy),
    state: &StateTopic,
    key: &str,
    service: &Service,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let resume = match state.load(key).await? {
        Some(bytes) => Some(position_from_json(&serde_json::from_slice(&bytes)?)?),
        None => None,
    };
    tracing::info!(resume = ?resume.as_ref().map(ToString::to_string), "starting binlog source");
    let first_start = resume.is_none();
    let history_topic = StateTopic::open(kafka, &my.history_topic()).await?;
    let (history, pending) = KafkaHistory::load(&history_topic).await?;
    let inner = MySqlSource::start_with_history(my.clone(), resume, Box::new(history)).await?;
    if first_start {
        // Record where this source starts before streaming, so a crash before the first
        // acknowledgement resumes here instead of at a later "current" position.
        let record = position_to_json(inner.committed_position()).to_string();
        state.store(key, Some(record.as_bytes())).await?;
    }
    let mut source = PersistingSource { inner, state, key, history: &history_topic, pending };
    let mut publisher = super::publisher(kafka, url, subject_strategy, &my.topic_prefix, SourceKind::MySql)?;
    service.ready.set_ready();
    tracing::info!("streaming");
    let result = publish::run(&mut source, &mut publisher, stop).await;
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
