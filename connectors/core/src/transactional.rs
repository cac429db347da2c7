//! The [`Sink`] every transactional target shares: targets whose row writes and stored offsets
//! commit in one transaction (the relational targets) provide the pieces of
//! [`TransactionalTarget`]; the rollback and fencing rules are written once, here.
//!
//! Invariants:
//! - An `apply` or `commit` that fails rolls the open transaction back ([`TransactionalTarget::abort`]):
//!   nothing of the batch stays in the target, and its offsets are not stored.
//! - A commit stores the batch's offsets through the [`OffsetFence`] in the same transaction as
//!   the rows; fewer offset rows written than asked means another group member advanced them
//!   since this process read them, so the commit is rolled back with a retriable error
//!   ([`fenced_message`]) and the caller resumes from the target's offsets.
//! - `stored_offsets` resets the fence to what the target holds.

use std::future::Future;

use crate::sink::{fenced_message, OffsetFence};
use crate::{BrokerOffset, ChangeEvent, Committed, Error, RecordAt, Result, Sink};

/// A target whose writes and stored offsets commit together. `Sink` comes with it.
pub trait TransactionalTarget: Send {
    type Error: Into<Error> + Send;

    /// Open the target transaction, if none is open.
    fn begin(&mut self) -> impl Future<Output = std::result::Result<(), Self::Error>> + Send;

    /// Stage `events` in the open transaction (opening it when needed).
    fn write(
        &mut self,
        events: &[ChangeEvent],
    ) -> impl Future<Output = std::result::Result<(), Self::Error>> + Send;

    /// [`Self::write`] with each event's record coordinates (`at[i]` for `events[i]`), for a
    /// target that records them (the change-log shape); the default ignores them.
    fn write_at(
        &mut self,
        events: &[ChangeEvent],
        at: &[RecordAt<'_>],
    ) -> impl Future<Output = std::result::Result<(), Self::Error>> + Send {
        let _ = at;
        self.write(events)
    }

    /// Store fenced offset `writes` in the open transaction; the number of rows it changed.
    fn store_offsets(
        &mut self,
        writes: &[crate::sink::FencedWrite<'_>],
    ) -> impl Future<Output = std::result::Result<usize, Self::Error>> + Send;

    /// Commit the open transaction.
    fn commit_transaction(&mut self) -> impl Future<Output = std::result::Result<(), Self::Error>> + Send;

    /// Roll back the open transaction and forget what was staged (errors are only logged: the
    /// connection is rebuilt on the next retriable failure anyway).
    fn abort(&mut self) -> impl Future<Output = ()> + Send;

    /// The offsets the target stores for this sink.
    fn read_offsets(
        &mut self,
    ) -> impl Future<Output = std::result::Result<Vec<BrokerOffset>, Self::Error>> + Send;

    /// The fence of this process's offset writes.
    fn fence(&mut self) -> &mut OffsetFence;

    /// The retriable error of a fenced commit, with `message`.
    fn fenced(&self, message: String) -> Self::Error;
}

impl<T: TransactionalTarget> Sink for T {
    async fn apply(&mut self, events: &[ChangeEvent]) -> Result<()> {
        match self.write(events).await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.abort().await;
                Err(e.into())
            }
        }
    }

    async fn apply_at(&mut self, events: &[ChangeEvent], at: &[RecordAt<'_>]) -> Result<()> {
        match self.write_at(events, at).await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.abort().await;
                Err(e.into())
            }
        }
    }

    async fn commit(&mut self, offsets: &[BrokerOffset]) -> Result<Committed> {
        match fenced_commit(self, offsets).await {
            Ok(()) => Ok(Committed::All),
            Err(e) => {
                self.abort().await;
                Err(e.into())
            }
        }
    }

    async fn stored_offsets(&mut self) -> Result<Vec<BrokerOffset>> {
        let stored = self.read_offsets().await.map_err(Into::into)?;
        self.fence().reset(&stored);
        Ok(stored)
    }
}

async fn fenced_commit<T: TransactionalTarget>(
    t: &mut T,
    offsets: &[BrokerOffset],
) -> std::result::Result<(), T::Error> {
    t.begin().await?;
    let writes = t.fence().writes(offsets);
    let written = t.store_offsets(&writes).await?;
    if written != writes.len() {
        return Err(t.fenced(fenced_message(written, writes.len())));
    }
    t.commit_transaction().await?;
    t.fence().advance(offsets);
    Ok(())
}
