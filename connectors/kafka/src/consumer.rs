//! The sink consumer: reads change topics for one consumer group and commits broker-side offsets
//! only after the sink made the records durable in its target.
//!
//! Invariants:
//! - **Manual offsets**: `enable.auto.commit=false` and `enable.auto.offset.store=false`; the
//!   only broker commit is [`SinkConsumer::commit`], which the runner calls *after*
//!   `Sink::commit` returned `Ok` for the same offsets. A crash between the two leaves the broker
//!   behind the target, never ahead of it.
//! - **Target offsets win**: the consumer is created with the offsets the sink read from its
//!   target (`Sink::stored_offsets`). On every partition assignment those offsets replace the
//!   group's broker-side ones (the rebalance callback sets them in the assignment before
//!   `assign`), so records the target already holds are not applied again and records it lacks
//!   are not skipped. Partitions the target knows nothing of start at the group's committed offset,
//!   else at the earliest (`auto.offset.reset=earliest`). The in-memory map is advanced on every
//!   successful [`SinkConsumer::commit`], so a later reassignment within the process resumes at
//!   the newest committed offset.
//! - **Order**: records of one partition are returned in offset order (one fetch queue, one
//!   reader); nothing is reordered within a partition.
//! - **Static membership** (`group.instance.id`, on by default for sinks): a sink restarted after
//!   a crash takes its predecessor's place in the group at once instead of waiting for the
//!   broker to expire the dead member (some Kafka-protocol brokers never do: measured on
//!   noida-db 0.2.3, a killed member stayed group leader and blocked every later member). Two live
//!   members with the same id fence each other: the later one fails with `FencedInstanceId`.
//! - Only the eager rebalance protocols (`range`, `roundrobin`) are supported; the cooperative
//!   protocol is refused at construction because the override below assigns whole sets.
//!
//! Failure: client errors are classified by [`crate::error::classify`]; a retriable error makes the
//! runner drop this consumer and build a new one from the target's stored offsets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError as RdError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::ClientContext;
use sluice_core::BrokerOffset;
use tracing::{debug, info, warn};

use crate::config::KafkaConfig;
use crate::error::KafkaError;

/// Gauge: records of a partition not yet applied (high watermark − committed offset), labels
/// `topic`, `partition`; refreshed every `statistics.interval.ms` (5 s unless set).
pub const METRIC_LAG: &str = "sluice_sink_consumer_lag";

/// Which topics a sink reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    /// An explicit list of topic names.
    Topics(Vec<String>),
    /// A regular expression (librdkafka syntax); `^` is prepended when missing.
    Regex(String),
}

impl Subscription {
    /// Whether `topic` belongs to this subscription (the regex is evaluated with Rust's `regex`
    /// syntax, which agrees with librdkafka's for the usual patterns). An invalid regex matches
    /// nothing.
    pub fn matches(&self, topic: &str) -> bool {
        match self {
            Subscription::Topics(t) => t.iter().any(|x| x == topic),
            Subscription::Regex(_) => {
                let pattern = &self.patterns()[0];
                regex::Regex::new(pattern).is_ok_and(|r| r.is_match(topic))
            }
        }
    }

    /// The names handed to librdkafka's `subscribe`.
    fn patterns(&self) -> Vec<String> {
        match self {
            Subscription::Topics(t) => t.clone(),
            Subscription::Regex(r) if r.starts_with('^') => vec![r.clone()],
            Subscription::Regex(r) => vec![format!("^{r}")],
        }
    }
}

/// One consumed record, copied out of librdkafka's buffer.
#[derive(Debug, Clone)]
pub struct ConsumedRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
}

type OffsetMap = Arc<Mutex<HashMap<(String, i32), i64>>>;

/// Rebalance-aware context: sets the target's offsets on every assignment.
pub struct SinkContext {
    offsets: OffsetMap,
}

impl ClientContext for SinkContext {
    /// librdkafka's statistics (every `statistics.interval.ms`) carry each assigned partition's
    /// lag behind the high watermark, measured from the committed offset.
    fn stats(&self, statistics: rdkafka::Statistics) {
        for (topic, t) in statistics.topics {
            for (partition, p) in t.partitions {
                if partition >= 0 && p.consumer_lag >= 0 {
                    metrics::gauge!(METRIC_LAG, "topic" => topic.clone(), "partition" => partition.to_string())
                        .set(p.consumer_lag as f64);
                }
            }
        }
    }
}

impl ConsumerContext for SinkContext {
    fn rebalance(
        &self,
        base_consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let stored = self.offsets.lock().unwrap_or_else(PoisonError::into_inner).clone();
                let mut assignment = TopicPartitionList::new();
                for elem in tpl.elements() {
                    let key = (elem.topic().to_owned(), elem.partition());
                    let offset = match stored.get(&key) {
                        Some(next) => Offset::Offset(*next),
                        None => Offset::Stored,
                    };
                    if let Err(e) = assignment.add_partition_offset(elem.topic(), elem.partition(), offset) {
                        warn!(topic = elem.topic(), error = %e, "cannot set assignment offset");
                    }
                    info!(topic = elem.topic(), partition = elem.partition(), offset = ?offset, "partition assigned");
                }
                if let Err(e) = base_consumer.assign(&assignment) {
                    warn!(error = %e, "assign failed");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                info!(partitions = tpl.count(), "partitions revoked");
                if let Err(e) = base_consumer.unassign() {
                    warn!(error = %e, "unassign failed");
                }
            }
            other => {
                warn!(error = ?other, "rebalance error");
                if let Err(e) = base_consumer.unassign() {
                    warn!(error = %e, "unassign failed");
                }
            }
        }
    }
}

/// Consumer settings of one sink.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    pub group_id: String,
    pub subscription: Subscription,
    /// Topics read in addition to the subscription (the transaction metadata topic).
    pub extra_topics: Vec<String>,
    /// Static group membership (`group.instance.id`): stable across restarts of the same sink
    /// process, unique among the live members of the group.
    pub instance_id: Option<String>,
    /// Records fetched ahead per partition before fetching pauses (librdkafka
    /// `queued.min.messages`, unless set in `[kafka.properties]`); the sink passes two batches.
    pub prefetch_records: usize,
}

/// A group consumer with manual, target-first offset management.
pub struct SinkConsumer {
    consumer: StreamConsumer<SinkContext>,
    offsets: OffsetMap,
}

impl SinkConsumer {
    /// Subscribe for `options.group_id`; `stored` are the offsets read from the target.
    pub fn new(
        kafka: &KafkaConfig,
        options: &ConsumerOptions,
        stored: &[BrokerOffset],
    ) -> Result<Self, KafkaError> {
        if kafka.properties.get("partition.assignment.strategy").is_some_and(|s| s.contains("cooperative")) {
            return Err(KafkaError::Config(
                "partition.assignment.strategy: the cooperative protocol is not supported by sinks; use range or roundrobin".into(),
            ));
        }
        let map: HashMap<(String, i32), i64> =
            stored.iter().map(|o| ((o.topic.clone(), o.partition), o.next_offset)).collect();
        let offsets = Arc::new(Mutex::new(map));
        let mut cfg = kafka.client_config();
        cfg.set("group.id", &options.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false");
        // Regex subscriptions discover new topics on metadata refresh; librdkafka's default (5
        // minutes) would leave a table created after the sink started unapplied for that long.
        if !kafka.properties.contains_key("topic.metadata.refresh.interval.ms") {
            cfg.set("topic.metadata.refresh.interval.ms", "5000");
        }
        if let Some(id) = &options.instance_id {
            cfg.set("group.instance.id", id);
        }
        if !kafka.properties.contains_key("statistics.interval.ms") {
            cfg.set("statistics.interval.ms", "5000");
        }
        // Fetch ahead about two batches, not librdkafka's 100,000 records per partition: less
        // memory, and a consumer that has read to the end of the log stops fetching while its
        // queue is full instead of fetching again at once — a broker that answers an empty
        // fetch without waiting `fetch.wait.max.ms` (seen with noida-db) otherwise costs a core.
        // Above the threshold librdkafka checks again every `fetch.queue.backoff.ms` (default
        // 1 s, far too long for a fast target; 10 ms here).
        if !kafka.properties.contains_key("queued.min.messages") {
            cfg.set("queued.min.messages", options.prefetch_records.clamp(1_000, 10_000_000).to_string());
        }
        if !kafka.properties.contains_key("fetch.queue.backoff.ms") {
            cfg.set("fetch.queue.backoff.ms", "10");
        }
        let consumer: StreamConsumer<SinkContext> = cfg
            .create_with_context(SinkContext { offsets: offsets.clone() })
            .map_err(|e| KafkaError::client("creating consumer", &e))?;
        let mut patterns = options.subscription.patterns();
        patterns.extend(options.extra_topics.iter().cloned());
        let refs: Vec<&str> = patterns.iter().map(String::as_str).collect();
        consumer.subscribe(&refs).map_err(|e| KafkaError::client("subscribing", &e))?;
        Ok(Self { consumer, offsets })
    }

    /// Up to `max_records` records: waits for the first one up to `idle` (`None`: as long as it
    /// takes; an empty batch when it passes), then for at most `max_wait` for more.
    pub async fn next_batch(
        &self,
        max_records: usize,
        max_wait: Duration,
        idle: Option<Duration>,
    ) -> Result<Vec<ConsumedRecord>, KafkaError> {
        let mut out = Vec::new();
        // Giving up on the first record is safe: nothing has been received yet.
        let idle_deadline = tokio::time::Instant::now() + idle.unwrap_or(Duration::from_secs(86_400 * 365));
        loop {
            match tokio::time::timeout_at(idle_deadline, self.consumer.recv()).await {
                Err(_) => return Ok(out),
                Ok(Ok(m)) => {
                    out.push(copy(&m));
                    break;
                }
                Ok(Err(e)) if topic_not_yet_there(&e) => {
                    debug!(error = %e, "subscribed topic not available yet");
                }
                Ok(Err(e)) => return Err(recv_error(&e)),
            }
        }
        let deadline = tokio::time::Instant::now() + max_wait;
        while out.len() < max_records {
            match tokio::time::timeout_at(deadline, self.consumer.recv()).await {
                Err(_) => break,
                Ok(Ok(m)) => out.push(copy(&m)),
                Ok(Err(e)) if topic_not_yet_there(&e) => {}
                Ok(Err(e)) => return Err(recv_error(&e)),
            }
        }
        Ok(out)
    }

    /// Commit `offsets` to the broker (synchronously). Call only after the sink committed them.
    pub fn commit(&self, offsets: &[BrokerOffset]) -> Result<(), KafkaError> {
        if offsets.is_empty() {
            return Ok(());
        }
        {
            let mut map = self.offsets.lock().unwrap_or_else(PoisonError::into_inner);
            for o in offsets {
                map.insert((o.topic.clone(), o.partition), o.next_offset);
            }
        }
        let mut tpl = TopicPartitionList::new();
        for o in offsets {
            tpl.add_partition_offset(&o.topic, o.partition, Offset::Offset(o.next_offset))
                .map_err(|e| KafkaError::client("building commit list", &e))?;
        }
        match self.consumer.commit(&tpl, rdkafka::consumer::CommitMode::Sync) {
            Ok(()) => Ok(()),
            // The partition moved to another member: the target holds the offsets, which the new
            // owner reads first, so a lost broker commit is harmless.
            Err(e) if is_rebalance_commit_error(&e) => {
                debug!(error = %e, "broker commit skipped after rebalance");
                Ok(())
            }
            Err(e) => Err(KafkaError::client("committing offsets", &e)),
        }
    }
}

fn is_rebalance_commit_error(e: &RdError) -> bool {
    use rdkafka::error::RDKafkaErrorCode as C;
    matches!(e.rdkafka_error_code(), Some(C::RebalanceInProgress | C::IllegalGeneration | C::UnknownMemberId))
}

/// A subscribed topic (or none matching the regex) does not exist yet: the source creates topics
/// when it first publishes to them, so the sink waits instead of failing.
fn topic_not_yet_there(e: &RdError) -> bool {
    e.rdkafka_error_code() == Some(rdkafka::error::RDKafkaErrorCode::UnknownTopicOrPartition)
}

fn recv_error(e: &RdError) -> KafkaError {
    KafkaError::client("consuming", e)
}

fn copy<M: Message>(m: &M) -> ConsumedRecord {
    ConsumedRecord {
        topic: m.topic().to_owned(),
        partition: m.partition(),
        offset: m.offset(),
        key: m.key().map(<[u8]>::to_vec),
        payload: m.payload().map(<[u8]>::to_vec),
    }
}

/// The offsets to commit after `records`: per partition, the highest offset + 1.
pub fn next_offsets(records: &[ConsumedRecord]) -> Vec<BrokerOffset> {
    let mut map: HashMap<(&str, i32), i64> = HashMap::new();
    for r in records {
        let e = map.entry((r.topic.as_str(), r.partition)).or_insert(r.offset + 1);
        *e = (*e).max(r.offset + 1);
    }
    let mut out: Vec<BrokerOffset> = map
        .into_iter()
        .map(|((t, p), n)| BrokerOffset { topic: t.to_owned(), partition: p, next_offset: n })
        .collect();
    out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(t: &str, p: i32, o: i64) -> ConsumedRecord {
        ConsumedRecord { topic: t.into(), partition: p, offset: o, key: None, payload: None }
    }

    #[test]
    fn next_offsets_are_max_plus_one_per_partition() {
        let r = vec![rec("a", 0, 5), rec("a", 1, 2), rec("a", 0, 6), rec("b", 0, 0)];
        let o = next_offsets(&r);
        assert_eq!(
            o,
            vec![
                BrokerOffset { topic: "a".into(), partition: 0, next_offset: 7 },
                BrokerOffset { topic: "a".into(), partition: 1, next_offset: 3 },
                BrokerOffset { topic: "b".into(), partition: 0, next_offset: 1 },
            ]
        );
    }

    #[test]
    fn subscription_matches_topics() {
        let r = Subscription::Regex("shop\\.(public|inv)\\..*".into());
        assert!(r.matches("shop.public.orders"));
        assert!(!r.matches("shop.transaction"));
        assert!(!r.matches("xshop.public.orders"));
        let t = Subscription::Topics(vec!["a".into(), "b".into()]);
        assert!(t.matches("a") && !t.matches("c"));
    }

    #[test]
    fn regex_is_anchored() {
        assert_eq!(Subscription::Regex("x\\..*".into()).patterns(), vec!["^x\\..*"]);
        assert_eq!(Subscription::Regex("^y".into()).patterns(), vec!["^y"]);
    }
}
