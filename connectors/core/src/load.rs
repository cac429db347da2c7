//! What every source's full load shares: the migration type, the messages its readers send, and
//! what the orchestrator needs to know of a planned table.
//!
//! Invariant (kept by every reader): a chunk's [`LoadMsg::ChunkDone`] is sent after every row of
//! that chunk, on the same channel, so the orchestrator can record the chunk as finished once the
//! broker acknowledged everything published before it.

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
