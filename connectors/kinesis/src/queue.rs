//! The records waiting for one stream, and how a `PutRecords` request is taken from them.
//!
//! Invariants (per-key order, whatever Kinesis accepts or refuses):
//! - One request per stream is in flight at a time, and a request holds at most one record per
//!   partition key. A record is taken only if no earlier record of its key is still waiting.
//! - Records a request did not get accepted go back to the front, in their order, ahead of every
//!   later record of their keys. So for each key, records reach the stream in send order; a
//!   request that failed as a whole but was in fact written is resent before anything later of
//!   its keys (a duplicate, never a reordering).
//! - A request holds at most 500 records and 5 MiB of data and partition keys (Kinesis's limits).

use std::collections::{HashSet, VecDeque};

/// Records per `PutRecords`, at most.
pub const MAX_RECORDS: usize = 500;
/// Bytes (data + partition keys) per `PutRecords`, at most.
pub const MAX_BYTES: usize = 5 << 20;
/// Records looked at when taking a request: keys repeated near the front do not stall the rest.
const SCAN: usize = 4 * MAX_RECORDS;

#[derive(Debug)]
pub struct Entry {
    /// The record's sequence number in the producer's ledger.
    pub seq: u64,
    pub partition_key: String,
    pub data: Vec<u8>,
}

impl Entry {
    pub fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}

#[derive(Debug, Default)]
pub struct StreamQueue {
    waiting: VecDeque<Entry>,
}

impl StreamQueue {
    pub fn push(&mut self, e: Entry) {
        self.waiting.push_back(e);
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// The next request's records, in send order.
    pub fn take(&mut self) -> Vec<Entry> {
        let mut batch = Vec::new();
        let mut keys = HashSet::new();
        let mut skipped: Vec<Entry> = Vec::new();
        let mut bytes = 0;
        let mut scanned = 0;
        while batch.len() < MAX_RECORDS && scanned < SCAN {
            let Some(e) = self.waiting.pop_front() else { break };
            scanned += 1;
            // A key already taken, or one whose earlier record was skipped, waits.
            if keys.contains(e.partition_key.as_str()) {
                skipped.push(e);
                continue;
            }
            if bytes + e.size() > MAX_BYTES && !batch.is_empty() {
                self.waiting.push_front(e);
                break;
            }
            bytes += e.size();
            keys.insert(e.partition_key.clone());
            batch.push(e);
        }
        self.put_back(skipped);
        batch
    }

    /// `entries` (in send order) back at the front, ahead of everything still waiting.
    pub fn put_back(&mut self, entries: Vec<Entry>) {
        for e in entries.into_iter().rev() {
            self.waiting.push_front(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, key: &str, size: usize) -> Entry {
        Entry { seq, partition_key: key.into(), data: vec![0; size] }
    }

    fn seqs(es: &[Entry]) -> Vec<u64> {
        es.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn a_request_holds_each_key_once_and_later_records_of_it_wait() {
        let mut q = StreamQueue::default();
        for (seq, key) in [(1, "a"), (2, "b"), (3, "a"), (4, "c"), (5, "a"), (6, "b")] {
            q.push(entry(seq, key, 10));
        }
        assert_eq!(seqs(&q.take()), [1, 2, 4]);
        assert_eq!(seqs(&q.take()), [3, 6]);
        assert_eq!(seqs(&q.take()), [5]);
        assert!(q.is_empty());
    }

    #[test]
    fn refused_records_go_back_ahead_of_their_keys() {
        let mut q = StreamQueue::default();
        for (seq, key) in [(1, "a"), (2, "b"), (3, "a")] {
            q.push(entry(seq, key, 10));
        }
        let mut first = q.take();
        assert_eq!(seqs(&first), [1, 2]);
        // Kinesis accepted b (2) and refused a (1): a's first record is resent before its second.
        let refused = vec![first.remove(0)];
        q.put_back(refused);
        assert_eq!(seqs(&q.take()), [1]);
        assert_eq!(seqs(&q.take()), [3]);
    }

    #[test]
    fn limits_of_a_request() {
        let mut q = StreamQueue::default();
        for seq in 0..(MAX_RECORDS as u64 + 3) {
            q.push(entry(seq, &seq.to_string(), 1));
        }
        assert_eq!(q.take().len(), MAX_RECORDS);
        assert_eq!(q.take().len(), 3);
        // 2 MiB records: two fit in 5 MiB, the third waits for the next request.
        for seq in 0..3 {
            q.push(entry(seq, &format!("k{seq}"), 2 << 20));
        }
        assert_eq!(seqs(&q.take()), [0, 1]);
        assert_eq!(seqs(&q.take()), [2]);
    }
}
