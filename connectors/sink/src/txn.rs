//! Transaction-consistent apply: holds back change events until their whole source transaction
//! has arrived, then releases transactions in source commit order.
//!
//! Inputs: the data records of every subscribed partition (in offset order per partition) and
//! the source's transaction metadata topic (BEGIN/END per transaction, one partition, in commit
//! order). The END record says how many events the transaction has per data collection
//! (`schema.table`); only collections whose topic `<prefix>.<collection>` this sink reads count.
//!
//! Invariants:
//! - A transaction is released only when its END is the oldest unreleased END and every one of
//!   its counted events has arrived; its events are released together, so the runner can apply
//!   them in one target transaction, and transactions are released in END (commit) order.
//! - Per partition, events are released in offset order. Events without a transaction block
//!   (snapshot reads, tombstones, sources without transaction metadata) are released as soon as
//!   everything before them in their partition was released.
//! - [`Assembler::committable`] gives, per partition, the offset of the first record not yet
//!   released (so a restart re-reads exactly the held-back records), and for the transaction
//!   topic the offset just after the last released END (so the held-back transactions' BEGIN/END
//!   records are read again too).
//!
//! - A record re-delivered after a rebalance (the consumer seeks back to the committed offset,
//!   which lies before held-back records) is recognized by its offset and ignored.
//!
//! Memory: held-back events stay in memory; a source transaction larger than memory cannot be
//! applied atomically (the gauge `sluice_sink_held_events` shows the backlog).

use std::collections::{BTreeMap, HashMap, VecDeque};

use sluice_core::{BrokerOffset, ChangeEvent, TransactionEvent, TransactionStatus};

/// Gauge: events received but held back until their source transaction is complete.
pub const METRIC_HELD: &str = "sluice_sink_held_events";

struct Held {
    offset: i64,
    txn: Option<String>,
    /// `None` for a record that carries no change (a tombstone).
    event: Option<ChangeEvent>,
}

#[derive(Default)]
struct PartitionQueue {
    held: VecDeque<Held>,
    /// Offset after the last record received.
    next: i64,
}

pub struct Assembler {
    txn_topic: String,
    /// Whether this sink reads the topic of a data collection, by collection name.
    consumes: Box<dyn Fn(&str) -> bool + Send>,
    consumed_cache: HashMap<String, bool>,
    queues: BTreeMap<(String, i32), PartitionQueue>,
    /// END records not yet released, in commit order, with their offsets.
    ends: VecDeque<(i64, TransactionEvent)>,
    /// Events received per transaction id, not yet released.
    received: HashMap<String, u64>,
    txn_partition: Option<i32>,
    /// Offset after the last released END.
    txn_next: Option<i64>,
    /// Offset after the last transaction-topic record received.
    txn_seen: i64,
    held_events: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum AssemblyError {
    #[error("transaction topic {topic} has more than one partition ({a} and {b}): commit order across partitions is undefined")]
    PartitionedTransactionTopic { topic: String, a: i32, b: i32 },
    #[error("transaction topic {0} must be named `<prefix>.transaction`")]
    TopicName(String),
}

impl Assembler {
    /// `consumes_topic` tells whether the sink reads a topic (its subscription).
    pub fn new(
        txn_topic: &str,
        consumes_topic: impl Fn(&str) -> bool + Send + 'static,
    ) -> Result<Self, AssemblyError> {
        let prefix = txn_topic
            .strip_suffix(".transaction")
            .filter(|p| !p.is_empty())
            .ok_or_else(|| AssemblyError::TopicName(txn_topic.to_owned()))?
            .to_owned();
        Ok(Self {
            txn_topic: txn_topic.to_owned(),
            consumes: Box::new(move |collection| consumes_topic(&format!("{prefix}.{collection}"))),
            consumed_cache: HashMap::new(),
            queues: BTreeMap::new(),
            ends: VecDeque::new(),
            received: HashMap::new(),
            txn_partition: None,
            txn_next: None,
            txn_seen: 0,
            held_events: 0,
        })
    }

    pub fn transaction_topic(&self) -> &str {
        &self.txn_topic
    }

    /// A data record (`event` `None` for a tombstone).
    pub fn push_event(&mut self, topic: &str, partition: i32, offset: i64, event: Option<ChangeEvent>) {
        let q = self.queues.entry((topic.to_owned(), partition)).or_default();
        if offset < q.next {
            // Re-delivered after a rebalance reset the position to the committed offset: the
            // record is already held or released.
            return;
        }
        q.next = offset + 1;
        let txn = event.as_ref().and_then(|e| e.transaction.as_ref()).map(|t| t.id.clone());
        if let Some(id) = &txn {
            *self.received.entry(id.clone()).or_default() += 1;
        }
        self.held_events += usize::from(event.is_some());
        q.held.push_back(Held { offset, txn, event });
    }

    /// A record of the transaction topic.
    pub fn push_marker(
        &mut self,
        partition: i32,
        offset: i64,
        marker: TransactionEvent,
    ) -> Result<(), AssemblyError> {
        match self.txn_partition {
            Some(p) if p != partition => {
                return Err(AssemblyError::PartitionedTransactionTopic {
                    topic: self.txn_topic.clone(),
                    a: p,
                    b: partition,
                })
            }
            _ => self.txn_partition = Some(partition),
        }
        if offset < self.txn_seen {
            return Ok(()); // re-delivered after a rebalance
        }
        self.txn_seen = offset + 1;
        // BEGIN carries nothing the assembler needs: the END has the counts, and the committed
        // transaction-topic offset (after the last released END) makes a restart re-read both.
        if marker.status == TransactionStatus::End {
            self.ends.push_back((offset, marker));
        }
        Ok(())
    }

    fn required(&mut self, end: &TransactionEvent) -> u64 {
        let mut n = 0;
        for (collection, count) in &end.data_collections {
            let consumes = match self.consumed_cache.get(collection) {
                Some(c) => *c,
                None => {
                    let c = (self.consumes)(collection);
                    self.consumed_cache.insert(collection.clone(), c);
                    c
                }
            };
            if consumes {
                n += count;
            }
        }
        n
    }

    /// Release every record whose turn has come, in apply order.
    pub fn drain_ready(&mut self) -> Vec<ChangeEvent> {
        let mut out = Vec::new();
        loop {
            self.pop_heads(None, &mut out);
            let Some((offset, end)) = self.ends.front() else { break };
            let (offset, id) = (*offset, end.id.clone());
            let end = end.clone();
            let need = self.required(&end);
            if self.received.get(&id).copied().unwrap_or(0) < need {
                break;
            }
            self.pop_heads(Some(&id), &mut out);
            self.received.remove(&id);
            self.ends.pop_front();
            self.txn_next = Some(offset + 1);
        }
        self.held_events -= out.len();
        metrics::gauge!(METRIC_HELD).set(self.held_events as f64);
        out
    }

    /// Pop, from every partition, the leading records without a transaction and (when `txn` is
    /// given) those of transaction `txn`.
    fn pop_heads(&mut self, txn: Option<&str>, out: &mut Vec<ChangeEvent>) {
        for q in self.queues.values_mut() {
            while let Some(h) = q.held.front() {
                let ready = match (&h.txn, txn) {
                    (None, _) => true,
                    (Some(a), Some(b)) => a == b,
                    (Some(_), None) => false,
                };
                if !ready {
                    break;
                }
                if let Some(h) = q.held.pop_front() {
                    out.extend(h.event);
                }
            }
        }
    }

    /// Offsets that are safe to store with everything released so far.
    pub fn committable(&self) -> Vec<BrokerOffset> {
        let mut out: Vec<BrokerOffset> = self
            .queues
            .iter()
            .map(|((topic, partition), q)| BrokerOffset {
                topic: topic.clone(),
                partition: *partition,
                next_offset: q.held.front().map_or(q.next, |h| h.offset),
            })
            .collect();
        if let (Some(p), Some(next)) = (self.txn_partition, self.txn_next) {
            out.push(BrokerOffset { topic: self.txn_topic.clone(), partition: p, next_offset: next });
        }
        out
    }

    pub fn held_events(&self) -> usize {
        self.held_events
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sluice_core::{
        Lsn, Op, Position, SnapshotMarker, SourceDetail, SourceInfo, TableId, TableSchema, TransactionInfo,
    };

    use super::*;

    fn ev(table: &str, txn: Option<&str>) -> ChangeEvent {
        let schema = Arc::new(TableSchema {
            id: TableId::new("public", table),
            columns: vec![],
            key: vec![],
            version: 1,
        });
        ChangeEvent {
            table: schema,
            op: Op::Create,
            before: None,
            after: Some(vec![]),
            source: SourceInfo {
                connector: "postgresql",
                name: "p".into(),
                ts_ms: 0,
                snapshot: SnapshotMarker::False,
                db: "d".into(),
                schema: Some("public".into()),
                table: table.into(),
                detail: SourceDetail::Postgres { lsn: 0, tx_id: None, xmin: None, sequence: None },
            },
            ts_ms: 0,
            transaction: txn.map(|id| TransactionInfo {
                id: id.into(),
                total_order: 1,
                data_collection_order: 1,
            }),
            position: Position::Postgres(Lsn(0)),
        }
    }

    fn end(id: &str, counts: &[(&str, u64)]) -> TransactionEvent {
        TransactionEvent {
            status: TransactionStatus::End,
            id: id.into(),
            ts_ms: 0,
            event_count: Some(counts.iter().map(|c| c.1).sum()),
            data_collections: counts.iter().map(|(c, n)| ((*c).to_owned(), *n)).collect(),
        }
    }

    fn tables(v: &[ChangeEvent]) -> Vec<String> {
        v.iter().map(|e| e.table.id.table.clone()).collect()
    }

    fn offsets(a: &Assembler) -> Vec<(String, i64)> {
        a.committable().into_iter().map(|o| (o.topic, o.next_offset)).collect()
    }

    #[test]
    fn releases_whole_transactions_in_commit_order() {
        let mut a = Assembler::new("p.transaction", |t| t != "p.public.skipped").unwrap();
        a.push_event("p.public.a", 0, 0, Some(ev("a", Some("t1"))));
        a.push_event("p.public.a", 0, 1, Some(ev("a", Some("t2"))));
        // t1 has an event for b that has not arrived; nothing is released.
        a.push_marker(0, 0, end("t1", &[("public.a", 1), ("public.b", 1), ("public.skipped", 5)])).unwrap();
        a.push_marker(0, 1, end("t2", &[("public.a", 1)])).unwrap();
        assert!(a.drain_ready().is_empty());
        assert_eq!(offsets(&a), vec![("p.public.a".into(), 0)]);
        a.push_event("p.public.b", 0, 7, Some(ev("b", Some("t1"))));
        assert_eq!(tables(&a.drain_ready()), vec!["a", "b", "a"]);
        assert_eq!(
            offsets(&a),
            vec![("p.public.a".into(), 2), ("p.public.b".into(), 8), ("p.transaction".into(), 2)]
        );
        assert_eq!(a.held_events(), 0);
    }

    #[test]
    fn events_without_transaction_pass_in_partition_order() {
        let mut a = Assembler::new("p.transaction", |_| true).unwrap();
        a.push_event("p.public.a", 0, 0, Some(ev("snap", None)));
        a.push_event("p.public.a", 0, 1, Some(ev("a", Some("t1"))));
        a.push_event("p.public.a", 0, 2, None);
        a.push_event("p.public.a", 0, 3, Some(ev("after", None)));
        assert_eq!(tables(&a.drain_ready()), vec!["snap"]);
        assert_eq!(offsets(&a), vec![("p.public.a".into(), 1)]);
        a.push_marker(0, 10, end("t1", &[("public.a", 1)])).unwrap();
        assert_eq!(tables(&a.drain_ready()), vec!["a", "after"]);
        assert_eq!(offsets(&a), vec![("p.public.a".into(), 4), ("p.transaction".into(), 11)]);
    }

    #[test]
    fn redelivered_records_are_ignored() {
        let mut a = Assembler::new("p.transaction", |_| true).unwrap();
        a.push_event("p.public.a", 0, 0, Some(ev("a", Some("t1"))));
        a.push_event("p.public.a", 0, 1, Some(ev("a", Some("t2"))));
        a.push_marker(0, 0, end("t1", &[("public.a", 1)])).unwrap();
        assert_eq!(a.drain_ready().len(), 1);
        // A rebalance seeks both partitions back to the committed offsets.
        a.push_event("p.public.a", 0, 1, Some(ev("a", Some("t2"))));
        a.push_marker(0, 0, end("t1", &[("public.a", 1)])).unwrap();
        a.push_marker(0, 1, end("t2", &[("public.a", 1)])).unwrap();
        assert_eq!(a.drain_ready().len(), 1);
        assert_eq!(a.held_events(), 0);
        assert_eq!(offsets(&a), vec![("p.public.a".into(), 2), ("p.transaction".into(), 2)]);
    }

    #[test]
    fn transaction_topic_must_have_one_partition() {
        let mut a = Assembler::new("p.transaction", |_| true).unwrap();
        a.push_marker(0, 0, end("t1", &[])).unwrap();
        assert!(a.push_marker(1, 0, end("t2", &[])).is_err());
        assert!(Assembler::new("p.tx", |_| true).is_err());
    }
}
