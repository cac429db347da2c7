//! Document versions: a number that grows along the source's commit order, sent with every write
//! as `version_type=external_gte`, so the cluster itself refuses a write older than the document
//! (HTTP 409: counted as stale and skipped). Replays, rebalances and re-snapshots are harmless.
//!
//! Derivation (all from the event's Debezium `source` block, so Debezium's topics work too):
//! - **PostgreSQL, streamed changes**: the first element of `source.sequence`, the LSN where the
//!   previous transaction's commit ended. It grows from one transaction to the next in commit
//!   order and is equal within a transaction, whose changes arrive in order and may each
//!   overwrite the last (`_gte`). A change LSN alone would not do: a transaction that began
//!   before the initial snapshot but committed after it has changes *below* the snapshot's LSN.
//!   Without `sequence` (older Debezium) the change's own LSN is used.
//! - **PostgreSQL, snapshot rows** (`op = r`): `source.lsn`, the snapshot's consistent point (an
//!   incremental snapshot's chunk: its close watermark), which no change committed after it is
//!   below.
//! - **MySQL / MariaDB**: `(binlog file index << 32) | position` of the change's event (snapshot
//!   rows: of the snapshot's binlog position). The binlog is written in commit order; rows of one
//!   event share a version (`_gte` again). Limits: `RESET MASTER` (or a server with a new binlog
//!   sequence) restarts the numbering, after which every write is older than the documents —
//!   re-create the indices then; a binlog file index beyond 2^31 is refused.
//!
//! Equal versions let a replay briefly show an earlier state of one transaction before its last
//! change is applied again; the end state is exact.

use sluice_core::{ChangeEvent, SnapshotMarker, SourceDetail};

/// The event's version, or why it has none.
pub fn version(ev: &ChangeEvent) -> Result<i64, String> {
    let v = match &ev.source.detail {
        SourceDetail::Postgres { lsn, sequence, .. } => {
            let committed = match (&ev.source.snapshot, sequence) {
                (SnapshotMarker::False, Some(s)) => last_commit(s),
                _ => None,
            };
            committed.unwrap_or(*lsn)
        }
        SourceDetail::MySql { file, pos, .. } => {
            let index = binlog_index(file)
                .ok_or_else(|| format!("binlog file name {file:?} has no numeric suffix"))?;
            if index >= 1 << 31 || *pos >= 1 << 32 {
                return Err(format!("binlog position {file}:{pos} is beyond what a version can hold"));
            }
            (index << 32) | pos
        }
    };
    i64::try_from(v).map_err(|_| format!("source position {v} is beyond what a version can hold (2^63)"))
}

/// `["<last commit lsn>","<lsn>"]` → the first LSN.
fn last_commit(sequence: &str) -> Option<u64> {
    let parsed: Vec<Option<String>> = serde_json::from_str(sequence).ok()?;
    parsed.first()?.as_deref()?.parse().ok()
}

/// `mysql-bin.000042` → 42.
fn binlog_index(file: &str) -> Option<u64> {
    file.rsplit_once('.')?.1.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_and_binlog_names() {
        assert_eq!(last_commit("[\"1000\",\"1200\"]"), Some(1000));
        assert_eq!(last_commit("[null,\"1200\"]"), None);
        assert_eq!(last_commit("garbage"), None);
        assert_eq!(binlog_index("mysql-bin.000042"), Some(42));
        assert_eq!(binlog_index("noindex"), None);
    }
}
