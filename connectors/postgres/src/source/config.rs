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
const DEFAULT_HEARTBEAT_MS: u64 = 10_000;
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

/// What a source task does (shared by every source): with PostgreSQL, `full-load-and-cdc` loads
/// from the snapshot exported at the slot's consistent point, `full-load` uses no slot, and `cdc`
/// streams from the moment the slot is created.
pub use sluice_core::MigrationType;

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
    /// Milliseconds between heartbeats (`pg_logical_emit_message`) that keep the slot advancing
    /// when captured tables are idle, and between heartbeat events on
    /// `__debezium-heartbeat.<prefix>`; 0 turns them off. Default 10000. The same key as the
    /// MySQL source's.
    #[serde(default)]
    pub heartbeat_interval_ms: Option<u64>,
    /// The same in seconds (the key's earlier name; `heartbeat_interval_ms` wins).
    #[serde(default)]
    pub heartbeat_interval_secs: Option<u64>,
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
    /// Publish BEGIN/END events to `<prefix>.transaction` and a `transaction` block in every
    /// event, as Debezium's `provide.transaction.metadata` (the same key as the MySQL source's;
    /// `transaction_topic` is its earlier name).
    #[serde(default, alias = "transaction_topic")]
    pub provide_transaction_metadata: bool,
    /// How numerics and money are published: `precise` (Connect decimals, default), `string`
    /// (exact text; keeps `NaN` and `±Infinity`) or `double` — Debezium's `decimal.handling.mode`.
    #[serde(default)]
    pub decimal_handling_mode: sluice_core::DecimalHandling,
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
    /// CDC start point (DMS's "CDC start position"): stream only transactions that commit at or
    /// after this LSN (`16/B374D848`). Applies while the slot is behind it; a slot already past
    /// it resumes where it is.
    /// (The same key as the MySQL source's; `cdc_start_lsn` is its earlier name.)
    #[serde(default, alias = "cdc_start_lsn")]
    pub cdc_start_position: Option<String>,
    /// CDC stop point by position: the task stops (exit 0) before the first transaction that
    /// commits after this LSN, having published and acknowledged everything before it.
    #[serde(default)]
    pub cdc_stop_lsn: Option<String>,
    /// CDC stop point by commit time (`2026-11-28 21:00:00+00`): the task stops before the first
    /// transaction committed after it, or once it is idle past it.
    #[serde(default)]
    pub cdc_stop_at: Option<String>,
}

/// Where streaming stops, resolved from the config.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StopPoint {
    pub lsn: Option<u64>,
    /// Unix milliseconds.
    pub at_ms: Option<i64>,
}

impl StopPoint {
    pub fn is_set(&self) -> bool {
        self.lsn.is_some() || self.at_ms.is_some()
    }

    /// A transaction committing at `commit_lsn`, `commit_ms` lies beyond the stop point.
    pub fn excludes(&self, commit_lsn: u64, commit_ms: i64) -> bool {
        self.lsn.is_some_and(|l| commit_lsn > l) || self.at_ms.is_some_and(|t| commit_ms > t)
    }
}

pub use sluice_core::glob::matches as glob_match;

impl PgSourceConfig {
    /// The heartbeat interval (`heartbeat_interval_ms`, else `heartbeat_interval_secs`, else 10 s);
    /// `None` when heartbeats are off.
    pub fn heartbeat_interval(&self) -> Option<std::time::Duration> {
        let ms = self
            .heartbeat_interval_ms
            .or(self.heartbeat_interval_secs.map(|s| s.saturating_mul(1000)))
            .unwrap_or(DEFAULT_HEARTBEAT_MS);
        (ms > 0).then(|| std::time::Duration::from_millis(ms))
    }

    /// The CDC start LSN, if configured (a bad value is a fatal, named error).
    pub fn cdc_start(&self) -> Result<Option<sluice_core::Lsn>, String> {
        self.cdc_start_position
            .as_deref()
            .map(|s| {
                s.parse().map_err(|_| format!("cdc_start_position {s:?} is not an LSN like 16/B374D848"))
            })
            .transpose()
    }

    /// The CDC stop point (a bad value is a fatal, named error).
    pub fn stop_point(&self) -> Result<StopPoint, String> {
        let lsn = self
            .cdc_stop_lsn
            .as_deref()
            .map(|s| {
                s.parse::<sluice_core::Lsn>()
                    .map(|l| l.0)
                    .map_err(|_| format!("cdc_stop_lsn {s:?} is not an LSN like 16/B374D848"))
            })
            .transpose()?;
        let at_ms = self
            .cdc_stop_at
            .as_deref()
            .map(|s| match super::text::parse(&super::types::PgKind::TimestampTz, s) {
                Ok(sluice_core::Value::TimestampTz(us)) => Ok(us.div_euclid(1000)),
                _ => Err(format!(
                    "cdc_stop_at {s:?} is not a timestamp with time zone like 2026-11-28 21:00:00+00"
                )),
            })
            .transpose()?;
        Ok(StopPoint { lsn, at_ms })
    }

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

    fn parse(extra: &str) -> PgSourceConfig {
        toml::from_str(&format!(
            "topic_prefix = \"p\"\n{extra}\n[connection]\nhost = \"h\"\nuser = \"u\"\ndatabase = \"d\""
        ))
        .unwrap()
    }

    #[test]
    fn keys_shared_with_the_mysql_source_and_their_earlier_names() {
        let new = parse("heartbeat_interval_ms = 1500\nprovide_transaction_metadata = true\ncdc_start_position = \"0/80\"");
        let old = parse("heartbeat_interval_secs = 2\ntransaction_topic = true\ncdc_start_lsn = \"0/80\"");
        assert_eq!(new.heartbeat_interval(), Some(std::time::Duration::from_millis(1500)));
        assert_eq!(old.heartbeat_interval(), Some(std::time::Duration::from_secs(2)));
        assert!(new.provide_transaction_metadata && old.provide_transaction_metadata);
        assert_eq!(new.cdc_start().unwrap(), old.cdc_start().unwrap());
        assert_eq!(parse("").heartbeat_interval(), Some(std::time::Duration::from_secs(10)));
        assert_eq!(parse("heartbeat_interval_ms = 0").heartbeat_interval(), None);
    }

    #[test]
    fn cdc_points_parse_and_bound_transactions() {
        let mut cfg: PgSourceConfig = toml::from_str(
            "topic_prefix = \"p\"\ncdc_stop_lsn = \"0/100\"\ncdc_stop_at = \"2026-11-28 21:00:00+00\"\n\
             cdc_start_lsn = \"0/80\"\n[connection]\nhost = \"h\"\nuser = \"u\"\ndatabase = \"d\"",
        )
        .unwrap();
        assert_eq!(cfg.cdc_start().unwrap(), Some(sluice_core::Lsn(0x80)));
        let stop = cfg.stop_point().unwrap();
        assert_eq!(stop, StopPoint { lsn: Some(0x100), at_ms: Some(1_795_899_600_000) });
        assert!(!stop.excludes(0x100, 1_795_899_600_000));
        assert!(stop.excludes(0x101, 0));
        assert!(stop.excludes(0x10, 1_795_899_600_001));
        cfg.cdc_stop_at = Some("tomorrow".into());
        assert!(cfg.stop_point().unwrap_err().contains("cdc_stop_at"));
        cfg.cdc_start_position = Some("x".into());
        assert!(cfg.cdc_start().unwrap_err().contains("cdc_start_position"));
    }
}
