//! Which source positions are safe to acknowledge, given which published records the broker has
//! acknowledged — the bookkeeping every producer (Kafka, Kinesis) shares.
//!
//! Invariants:
//! - Every record gets a sequence number in send order ([`AckLedger::sent`]). A position
//!   registered with [`AckLedger::checkpoint`] after record N is *released* only when every
//!   record with a sequence number ≤ N has been acknowledged, in whatever order the broker's
//!   partitions or shards acknowledged them. Released positions come out in registration order,
//!   so the caller acknowledges to the source monotonically.
//! - After a failure nothing at or beyond the failed record is ever released: the first failure
//!   is kept and reported by [`AckLedger::failure`] until the producer is dropped.

use std::collections::{BTreeSet, VecDeque};

use crate::{ErrorKind, Position};

#[derive(Debug, Default)]
pub struct AckLedger {
    /// Sequence numbers sent and not yet acknowledged.
    pending: BTreeSet<u64>,
    /// Highest sequence number sent.
    last_sent: u64,
    /// Positions waiting for every record up to their sequence number.
    checkpoints: VecDeque<(u64, Position)>,
    /// Newest position whose records are all acknowledged, not yet taken.
    released: Option<Position>,
    failed: Option<(String, ErrorKind)>,
}

impl AckLedger {
    /// A new record: its sequence number.
    pub fn sent(&mut self) -> u64 {
        self.last_sent += 1;
        self.pending.insert(self.last_sent);
        self.last_sent
    }

    /// The broker acknowledged record `seq`.
    pub fn acknowledged(&mut self, seq: u64) {
        self.pending.remove(&seq);
        if self.failed.is_none() {
            self.release();
        }
    }

    /// Record `seq` will never be acknowledged: poisons the ledger (the first failure is kept).
    pub fn fail(&mut self, seq: Option<u64>, reason: String, kind: ErrorKind) {
        if let Some(seq) = seq {
            self.pending.remove(&seq);
        }
        if self.failed.is_none() {
            self.failed = Some((reason, kind));
        }
    }

    /// `position` becomes releasable once every record sent so far is acknowledged.
    pub fn checkpoint(&mut self, position: Position) {
        self.checkpoints.push_back((self.last_sent, position));
        if self.failed.is_none() {
            self.release();
        }
    }

    /// The newest released position since the last call, if any.
    pub fn take_released(&mut self) -> Option<Position> {
        self.released.take()
    }

    /// Records sent and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// The failure that poisoned the ledger, if any.
    pub fn failure(&self) -> Option<&(String, ErrorKind)> {
        self.failed.as_ref()
    }

    fn release(&mut self) {
        let low = self.pending.first().copied().unwrap_or(self.last_sent + 1);
        while self.checkpoints.front().is_some_and(|(seq, _)| *seq < low) {
            if let Some((_, pos)) = self.checkpoints.pop_front() {
                self.released = Some(pos);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Lsn;

    #[test]
    fn positions_release_only_after_every_earlier_record() {
        let mut s = AckLedger::default();
        let seqs: Vec<u64> = (0..3).map(|_| s.sent()).collect();
        assert_eq!(seqs, [1, 2, 3]);
        s.checkpoints.push_back((2, Position::Postgres(Lsn(20))));
        s.checkpoints.push_back((3, Position::Postgres(Lsn(30))));
        // Record 2 acknowledged first (another partition): nothing may be released.
        s.acknowledged(2);
        assert_eq!(s.released, None);
        s.acknowledged(1);
        assert_eq!(s.take_released(), Some(Position::Postgres(Lsn(20))));
        s.acknowledged(3);
        assert_eq!(s.take_released(), Some(Position::Postgres(Lsn(30))));
        // A checkpoint with nothing pending releases at once.
        s.checkpoint(Position::Postgres(Lsn(40)));
        assert_eq!(s.take_released(), Some(Position::Postgres(Lsn(40))));
    }

    #[test]
    fn nothing_is_released_after_a_failure() {
        let mut s = AckLedger::default();
        let a = s.sent();
        let b = s.sent();
        s.checkpoint(Position::Postgres(Lsn(10)));
        s.fail(Some(a), "boom".into(), ErrorKind::Retriable);
        s.acknowledged(b);
        assert_eq!(s.take_released(), None);
        assert_eq!(s.failure().map(|f| f.0.as_str()), Some("boom"));
        s.fail(None, "later".into(), ErrorKind::Fatal);
        assert_eq!(s.failure().map(|f| f.0.as_str()), Some("boom"));
    }
}
