//! The dead-letter fallback: find the events of a refused batch that the target cannot apply.
//!
//! Invariant: events are retried one per target transaction, in batch order; after each, the
//! offsets of every record up to it are committed with it (a refusal may come from the apply or,
//! for targets that write at commit, from the commit), so a crash during the fallback resumes
//! right after the last event handled. A refused event is committed (as an offsets-only
//! transaction) only after its record was acknowledged by the dead-letter topic. A retriable
//! error ends the fallback and the task restarts from the stored offsets.

use sluice_core::Sink;
use sluice_kafka::{ConsumedRecord, DeadLetterProducer, FailureClass};

use crate::error::RuntimeError;
use crate::runtime::{offsets_through, Batch};

/// Apply `batch` event by event, dead-lettering each event the target refuses; returns the
/// indices (into `batch.events`) of the events the target took.
pub(super) async fn apply_one_by_one<S: Sink>(
    sink: &mut S,
    dlq: &DeadLetterProducer,
    records: &[ConsumedRecord],
    batch: &Batch,
) -> Result<Vec<usize>, RuntimeError> {
    let mut applied = Vec::with_capacity(batch.events.len());
    for (n, (ev, &i)) in batch.events.iter().zip(&batch.record_of).enumerate() {
        let at = [crate::runtime::record_at(&records[i])];
        let through = offsets_through(records, i + 1);
        // A target that writes at commit (Redis, MongoDB, DynamoDB) refuses there.
        let outcome = match sink.apply_at(std::slice::from_ref(ev), &at).await {
            Ok(()) => sink.commit(&through).await.map(|_| ()),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => applied.push(n),
            Err(e) if e.is_retriable() => {
                return Err(RuntimeError::target("applying a record after a refused batch")(e));
            }
            Err(e) => {
                let r = &records[i];
                tracing::warn!(error = %e, topic = %r.topic, partition = r.partition, offset = r.offset, dlq = dlq.topic(), "dead-lettering a record the target refused");
                dlq.send(r, FailureClass::Apply, &e.to_string())
                    .await
                    .map_err(RuntimeError::kafka("writing to the dead-letter topic"))?;
                sink.commit(&through)
                    .await
                    .map_err(RuntimeError::target("committing after a dead-lettered record"))?;
            }
        }
    }
    Ok(applied)
}
