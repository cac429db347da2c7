//! Configuration of the PostgreSQL source (`[source]` with `type = "postgres"`).

use std::path::PathBuf;

use serde::Deserialize;
use sluice_core::TableId;

use crate::endpoint::PgEndpoint;

fn default_slot() -> String {
    "sluice".into()
}
fn default_publication() -> String {
    "sluice".into()
}
fn default_true() -> bool {
    true
}
fn default_heartbeat_secs() -> u64 {
    10
}
fn default_max_buffered_bytes() -> usize {
    64 << 20
}
fn default_snapshot_workers() -> usize {
    2
}
fn default_snapshot_chunk_rows() -> u64 {
    50_000
}
fn default_incremental_chunk_rows() -> u64 {
    1024
}

/// What a source task does, in AWS DMS terms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MigrationType {
    /// Copy every captured table (`op = r` events) from a snapshot taken at the slot's consistent
    /// point, then stream changes from that point on.
    #[default]
    FullLoadAndCdc,
    /// Copy every captured table from one snapshot, then exit. No replication slot is used.
    FullLoad,
    /// Stream changes only, from the moment the slot is created.
    Cdc,
}

/// How a missing publication is created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublicationAutocreate {
    /// `CREATE PUBLICATION … FOR ALL TABLES` (needs superuser); table filters apply client-side.
    #[default]
    AllTables,
    /// `CREATE PUBLICATION … FOR TABLE` with the tables matching the filters at start.
    Filtered,
    /// Never create it: a missing publication is a fatal error.
    Disabled,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PgSourceConfig {
    pub connection: PgEndpoint,
    /// Logical server name: topic prefix and `source.name` (`<prefix>.<schema>.<table>`).
    pub topic_prefix: String,
    /// Replication slot name (default `sluice`). Created on first start; must exist afterwards.
    #[serde(default = "default_slot")]
    pub slot: String,
    /// Publication name (default `sluice`).
    #[serde(default = "default_publication")]
    pub publication: String,
    /// How a missing publication is created (default `all_tables`).
    #[serde(default)]
    pub publication_autocreate: PublicationAutocreate,
    /// Tables to capture, as `schema.table` globs (`*` and `?`); empty = every table.
    #[serde(default)]
    pub include_tables: Vec<String>,
    /// Tables never captured, as `schema.table` globs; wins over `include_tables`.
    #[serde(default)]
    pub exclude_tables: Vec<String>,
    /// Columns never published, as `schema.table.column` globs.
    #[serde(default)]
    pub exclude_columns: Vec<String>,
    /// Seconds between heartbeats (`pg_logical_emit_message`) that keep the slot advancing when
    /// captured tables are idle; 0 turns them off.
    #[serde(default = "default_heartbeat_secs")]
    pub heartbeat_interval_secs: u64,
    /// A statement to run as the heartbeat instead of `pg_logical_emit_message`, e.g. an upsert
    /// into a heartbeat table (useful where the user may not call that function).
    #[serde(default)]
    pub heartbeat_action_query: Option<String>,
    /// Receive large in-progress transactions in chunks (pgoutput `streaming`, PG ≥ 14).
    #[serde(default = "default_true")]
    pub streaming: bool,
    /// `logical_decoding_work_mem` for this source's walsender (e.g. `"64MB"`): how much the
    /// server decodes in memory before it streams an in-progress transaction. Default: the
    /// server's setting.
    #[serde(default)]
    pub logical_decoding_work_mem: Option<String>,
    /// Bytes of in-progress streamed transactions held in memory before spilling to disk.
    #[serde(default = "default_max_buffered_bytes")]
    pub max_buffered_bytes: usize,
    /// Where spill files go (default: the system temp dir).
    #[serde(default)]
    pub spill_dir: Option<PathBuf>,
    /// Publish BEGIN/END events to `<prefix>.transaction`, as Debezium does.
    #[serde(default)]
    pub transaction_topic: bool,
    /// Capture tables without a primary key or replica identity (events have no key).
    #[serde(default)]
    pub allow_tables_without_key: bool,
    /// `full-load-and-cdc` (default), `full-load` or `cdc`.
    #[serde(default)]
    pub migration_type: MigrationType,
    /// Connections that copy tables in parallel during a full load (default 2).
    #[serde(default = "default_snapshot_workers")]
    pub snapshot_workers: usize,
    /// Rows per full-load chunk (default 50,000): the unit of parallelism and of resumption.
    #[serde(default = "default_snapshot_chunk_rows")]
    pub snapshot_chunk_rows: u64,
    /// A table (`schema.table`) that receives signals, such as requests for an incremental
    /// re-snapshot, and the watermarks of those re-snapshots. Created when missing; it must be in
    /// the publication. Its changes are never published. Unset: no signals.
    #[serde(default)]
    pub signal_table: Option<String>,
    /// Rows per incremental re-snapshot chunk (default 1,024): what is held in memory while
    /// its window is open.
    #[serde(default = "default_incremental_chunk_rows")]
    pub incremental_chunk_rows: u64,
}

/// `*` matches any run of characters, `?` one character; everything else literally.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

impl PgSourceConfig {
    /// Whether changes of `t` are published (never those of the signal table).
    pub fn captures_table(&self, t: &TableId) -> bool {
        if self.is_signal_table(t) {
            return false;
        }
        let name = t.to_string();
        let included =
            self.include_tables.is_empty() || self.include_tables.iter().any(|p| glob_match(p, &name));
        included && !self.exclude_tables.iter().any(|p| glob_match(p, &name))
    }

    /// The signal table, `public` when no schema is given.
    pub fn signal_table_id(&self) -> Option<TableId> {
        self.signal_table.as_deref().map(|s| match s.split_once('.') {
            Some((schema, table)) => TableId::new(schema, table),
            None => TableId::new("public", s),
        })
    }

    pub fn is_signal_table(&self, t: &TableId) -> bool {
        self.signal_table_id().is_some_and(|s| s == *t)
    }

    pub fn excludes_column(&self, t: &TableId, column: &str) -> bool {
        let name = format!("{t}.{column}");
        self.exclude_columns.iter().any(|p| glob_match(p, &name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("public.*", "public.orders"));
        assert!(glob_match("*.orders", "sales.orders"));
        assert!(!glob_match("public.*", "private.orders"));
        assert!(glob_match("public.order?", "public.orders"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("a*b", "acbd"));
    }
}
