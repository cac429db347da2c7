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
/// Contract:
/// - **Ordering**: [`Sink::apply`] receives each partition's records in offset order; events for
///   one key are in one partition, so per-key order is the source's commit order. A sink may
///   batch and reorder across keys, never within a key.
/// - **Idempotence**: applying an event twice leaves the target as applying it once (upsert by
///   key, delete by key). Replaying a topic from the beginning changes nothing.
/// - **Durability**: nothing is durable until [`Sink::commit`] returns `Ok`. `commit` makes all
///   applied writes durable *together with* the given offsets (exactly once when the target can
///   store offsets transactionally); the runner commits broker-side consumer offsets only after
///   it returns.
/// - **Resume**: [`Sink::stored_offsets`] returns the offsets stored in the target, which take
///   precedence over the consumer group's broker-side offsets.
pub trait Sink: Send {
    /// Stage a batch of events (tombstones are already filtered out).
    fn apply(&mut self, events: &[ChangeEvent]) -> impl Future<Output = Result<()>> + Send;

    /// Make everything applied durable, with `offsets` recorded atomically when supported.
    fn commit(&mut self, offsets: &[BrokerOffset]) -> impl Future<Output = Result<()>> + Send;

    /// Offsets stored in the target by earlier commits.
    fn stored_offsets(&mut self) -> impl Future<Output = Result<Vec<BrokerOffset>>> + Send;
}
