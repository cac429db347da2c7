//! What every source's full load shares: the migration type, the messages its readers send, and
//! what the orchestrator needs to know of a planned table.
//!
//! Invariant (kept by every reader): a chunk's [`LoadMsg::ChunkDone`] is sent after every row of
//! that chunk, on the same channel, so the orchestrator can record the chunk as finished once the
//! broker acknowledged everything published before it.

use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, PoisonError};

use serde::Deserialize;

use crate::event::ChangeEvent;
use crate::schema::TableId;

/// What a source task does, in AWS DMS terms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MigrationType {
    /// Copy every captured table (`op = r` events) from a consistent snapshot, then stream the
    /// changes made after it.
    #[default]
    FullLoadAndCdc,
    /// Copy every captured table from one snapshot, then exit.
    FullLoad,
    /// Stream changes only, from the moment the source first starts.
    Cdc,
}

/// What a full load's readers send, in order per reader.
#[derive(Debug)]
pub enum LoadMsg<E> {
    /// Rows of one chunk (`op = r` events).
    Rows(Vec<ChangeEvent>),
    /// Every row of chunk `chunk` of table `table` (indices into the plan) was sent before this.
    ChunkDone { table: usize, chunk: usize, rows: u64 },
    /// A reader failed; the others may still send.
    Failed(E),
}

/// One planned table: how many chunks it was split into and how to name them.
pub trait ChunkedTable {
    fn table_id(&self) -> TableId;
    /// Rows expected, for progress reports.
    fn estimated_rows(&self) -> u64;
    fn chunks(&self) -> usize;
    /// Chunk `i`'s range for log lines.
    fn chunk_range(&self, i: usize) -> String;
    /// `schema.table` for log lines.
    fn name(&self) -> String {
        self.table_id().to_string()
    }
}

/// The chunks a full load still has to read, `(table, chunk)` indices into its plan, taken by
/// the workers one at a time.
#[derive(Debug, Default)]
pub struct ChunkQueue(Mutex<VecDeque<(usize, usize)>>);

impl ChunkQueue {
    /// Every chunk of `plan` not in `finished` whose table is `readable`, round-robin over the
    /// tables (chunk 0 of each, then chunk 1 of each, …), so workers spread over tables and each
    /// table progresses.
    pub fn round_robin<P: ChunkedTable>(
        plan: &[P],
        finished: &HashSet<(usize, usize)>,
        readable: impl Fn(usize) -> bool,
    ) -> Self {
        let most = plan.iter().map(ChunkedTable::chunks).max().unwrap_or(0);
        let mut queue = VecDeque::new();
        for c in 0..most {
            for (t, p) in plan.iter().enumerate() {
                if c < p.chunks() && !finished.contains(&(t, c)) && readable(t) {
                    queue.push_back((t, c));
                }
            }
        }
        Self(Mutex::new(queue))
    }

    /// Chunks not taken yet.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The next chunk to read.
    pub fn take(&self) -> Option<(usize, usize)> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Plan(usize);

    impl ChunkedTable for Plan {
        fn table_id(&self) -> TableId {
            TableId::new("s", "t")
        }
        fn estimated_rows(&self) -> u64 {
            0
        }
        fn chunks(&self) -> usize {
            self.0
        }
        fn chunk_range(&self, i: usize) -> String {
            i.to_string()
        }
    }

    #[test]
    fn chunks_round_robin_over_tables_skipping_finished_and_unreadable() {
        let plan = [Plan(3), Plan(1), Plan(2), Plan(2)];
        let finished: HashSet<_> = [(0, 1)].into_iter().collect();
        let q = ChunkQueue::round_robin(&plan, &finished, |t| t != 3);
        assert_eq!(q.len(), 5);
        let order: Vec<_> = std::iter::from_fn(|| q.take()).collect();
        assert_eq!(order, vec![(0, 0), (1, 0), (2, 0), (2, 1), (0, 2)]);
        assert!(q.is_empty());
    }
}
