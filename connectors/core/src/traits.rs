//! The `Source` and `Sink` contracts. Every connector implements one of them, and the task
//! runner relies only on what is written here.

use std::future::Future;

use crate::error::Result;
use crate::event::ChangeEvent;
use crate::position::Position;

/// What a source hands the runner in one call.
#[derive(Debug, Default)]
pub struct SourceBatch {
    /// Row changes in source commit order. May be empty (idle log, heartbeat).
    pub events: Vec<ChangeEvent>,
    /// Transaction boundaries, each with the number of `events` that precede it, for sources
    /// configured to publish transaction metadata.
    pub transactions: Vec<(usize, crate::event::TransactionEvent)>,
    /// A position that becomes acknowledgeable once every event of this batch and of all
    /// earlier batches is durable downstream. A batch with no events and a checkpoint is a
    /// heartbeat: it lets the source release log that contains no captured changes.
    pub checkpoint: Option<Position>,
    /// The source reached its configured stop point: this batch is its last, and the runner
    /// stops after making it durable.
    pub finished: bool,
}

/// A change-log reader (PostgreSQL slot, MySQL/MariaDB binlog).
///
/// Contract:
/// - **Ordering**: events come out in the source's commit order; within a transaction in the
///   order the statements changed rows. Only committed changes are emitted (an aborted
///   transaction yields nothing), and a transaction's events are never interleaved with
///   another's.
/// - **At least once**: after a restart the source resumes at the last *acknowledged* position.
///   Events after it may be emitted again; nothing at or before it is emitted again and nothing
///   after it is skipped.
/// - **Acknowledgement**: the runner calls [`Source::acknowledge`] with a position only after
///   the broker has acknowledged every event whose position is at or before it. Positions are
///   acknowledged in non-decreasing order. The source may then let the server discard the log up
///   to that position (standby status update, GTID checkpoint). It must never advance the
///   server-side position past what was acknowledged.
/// - **Errors** are classified: retriable errors may be followed by a reconnect and resume from
///   the last acknowledged position; fatal errors end the task.
pub trait Source: Send {
    /// The next batch; waits until changes, a heartbeat or an error arrive.
    fn next_batch(&mut self) -> impl Future<Output = Result<SourceBatch>> + Send;

    /// Every event at or before `position` is durable downstream.
    fn acknowledge(&mut self, position: Position) -> impl Future<Output = Result<()>> + Send;

    /// Stop reading and report the last acknowledged position to the server before returning.
    /// After `close` no other method is called.
    fn close(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Where one consumed record came from in the broker.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BrokerOffset {
    pub topic: String,
    pub partition: i32,
    /// Offset of the next record to consume (last applied + 1), as Kafka commits it.
    pub next_offset: i64,
}

/// A target that applies change events (PostgreSQL, MariaDB, and further stores).
///
/// Contract (the sink runtime keeps its side; a target keeps its own):
/// - **Ordering**: [`Sink::apply`] receives each partition's records in offset order; events for
///   one key are in one partition, so per-key order is the source's commit order. A sink may
///   batch and reorder across keys, never within a key.
/// - **Re-delivery and idempotence**: after a restart or a rebalance, records after the offsets
///   the target stored are delivered again, possibly to another process of the group. Applying
///   an event twice must leave the target as applying it once (upsert by key, delete by key, an
///   object named by its offsets). Replaying a topic from the beginning changes nothing.
/// - **Durability, two commit modes** ([`CommitMode`]): nothing is durable until
///   [`Sink::commit`] says so. A *transactional* target makes every applied write durable
///   together with the offsets passed, in one target transaction, and answers
///   [`Committed::All`]. A *deferred* target (append-only objects) may stage many commits and
///   answer [`Committed::Through`] with the offsets that became durable (none while staging); it
///   rolls by size, time or records, names each object by (topic, partition, first offset, last
///   offset) so a replay rewrites the same object, and stores the offsets of what it wrote as the
///   source of truth on restart. A deferred target may also keep one batch's writes in flight
///   while the runtime reads the next (OpenSearch: idempotent, versioned writes), answering
///   `Through` with the offsets of the batches whose writes all landed, in batch order (see
///   [`Sink::allow_in_flight`]). The runtime commits broker-side offsets only as far as the
///   target said, and calls `commit` after every poll, also an empty one, so time-based rolls
///   happen without traffic.
/// - **Failure**: an error from `apply` or `commit` discards everything staged since the last
///   durable commit; the runtime then drops the sink and connects again.
/// - **Resume**: [`Sink::stored_offsets`] returns the offsets stored in the target, which take
///   precedence over the consumer group's broker-side offsets. A process whose partition another
///   group member has advanced since it read them must fail its commit (retriable) rather than
///   overwrite newer writes (see [`crate::OffsetFence`]).
/// - **Close**: [`Sink::close`] runs on a clean stop; nothing staged after the last durable
///   commit may be made durable by it without its offsets.
pub trait Sink: Send {
    /// Stage a batch of events (tombstones are already filtered out).
    fn apply(&mut self, events: &[ChangeEvent]) -> impl Future<Output = Result<()>> + Send;

    /// Stage `events` with the broker coordinates of each one's record (`at[i]` for
    /// `events[i]`). A target that versions its writes by broker offset (DynamoDB: a replayed
    /// write older than the item is skipped) overrides it; the default ignores `at`. The runtime
    /// calls this outside transaction-consistent mode, and `apply` inside it (released
    /// transactions carry no single record position).
    fn apply_at(
        &mut self,
        events: &[ChangeEvent],
        at: &[RecordAt],
    ) -> impl Future<Output = Result<()>> + Send {
        let _ = at;
        self.apply(events)
    }

    /// Make applied writes durable with `offsets` (the next offset per partition after the
    /// batch), as the target's commit mode allows.
    fn commit(&mut self, offsets: &[BrokerOffset]) -> impl Future<Output = Result<Committed>> + Send;

    fn stored_offsets(&mut self) -> impl Future<Output = Result<Vec<BrokerOffset>>> + Send;

    /// Whether `commit` may return while the batch's writes are still running (a deferred
    /// target that overlaps writing one batch with reading the next answers
    /// [`Committed::Through`] as they land). The runtime turns it off when a refusal must
    /// surface at the commit of its own batch (the dead-letter policy finds poison records by
    /// committing event by event). Targets that write inside `commit` ignore it.
    fn allow_in_flight(&mut self, allowed: bool) {
        let _ = allowed;
    }

    /// Release the target's resources on a clean stop.
    fn close(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Where an event's record sits in the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordAt<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

/// How a target makes writes durable (see [`Sink`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitMode {
    /// Writes and offsets commit together at every `commit`.
    Transactional,
    /// Writes are staged across commits and made durable in rolls.
    Deferred,
}

/// What a [`Sink::commit`] made durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    /// Every write applied so far, with the offsets passed.
    All,
    /// Staged; these offsets (possibly none) became durable.
    Through(Vec<BrokerOffset>),
}
