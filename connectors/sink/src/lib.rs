//! The sink runtime every target stands on: consume change topics (consumer groups, fenced
//! offsets), decode Sluice's and Debezium's Avro and Kafka Connect JSON records, batch, assemble
//! whole source transactions when asked, dead-letter poison records, apply to a target through
//! the [`sluice_core::Sink`] trait and commit offsets in the target's transaction — exactly once.
//!
//! Invariants (written on the `Sink` trait; enforced here): a batch's offsets are committed to
//! the target together with its rows, and to the broker only afterwards; a run starts from the
//! offsets the target stored; nothing at or after a failed batch is committed.
//!
//! Targets are plug-ins ([`sluice_core::Target`]): the binary lists them as [`TargetEntry`]s and
//! runs the one `[sink] type` names; a target can be driven by this crate without the binary.

mod dlq;
mod error;
mod runtime;
pub mod target;
pub mod txn;

pub use error::RuntimeError;
pub use runtime::{run, RuntimeOptions, METRIC_BATCH_SECONDS, METRIC_CONSUMED};
pub use target::{find, RunArgs, TargetEntry};
pub use txn::{Assembler, AssemblyError};
