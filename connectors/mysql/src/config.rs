//! Configuration of the binlog source (`[source]` with `type = "mysql"` in the config file).
//!
//! Every field is documented in `docs/mysql.md`; unknown keys are errors. Invariants checked by
//! [`MySqlSourceConfig::validate`]: a non-empty `topic_prefix`, a server id that is not 0, a
//! heartbeat between 100 ms and 1 hour, and positive limits.

use std::time::Duration;

use serde::Deserialize;
pub use sluice_core::MigrationType;

use crate::endpoint::MySqlEndpoint;
use crate::error::MySqlError;
use crate::filter::TableFilter;

/// What a zero or partly-zero date (`0000-00-00`, `2024-00-10`) becomes: such values have no
/// day number, so they cannot be carried exactly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ZeroDateRule {
    /// NULL when the column is nullable, else the epoch (1970-01-01 00:00:00), as Debezium does.
    #[default]
    Null,
    /// Always the epoch.
    Epoch,
    /// Stop with a fatal error naming the table and column.
    Error,
}

/// How the full load gets one binlog position consistent with its snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotLocking {
    /// No lock. MariaDB: each worker's `START TRANSACTION WITH CONSISTENT SNAPSHOT` reports the
    /// binlog position it is consistent with (`binlog_snapshot_file/position`); streaming starts
    /// at the earliest, so it is exact when the workers agree (always with one worker) and
    /// otherwise replays a few changes the load already saw. MySQL: the position is read before
    /// the snapshots start, with the same replay.
    #[default]
    None,
    /// `FLUSH TABLES WITH READ LOCK` held only while the workers open their snapshots and the
    /// position is read (milliseconds; needs the RELOAD privilege): one exact position.
    Minimal,
}

fn default_snapshot_workers() -> usize {
    2
}

fn default_snapshot_chunk_rows() -> u64 {
    50_000
}

fn default_heartbeat_ms() -> u64 {
    1000
}

fn default_max_transaction_bytes() -> u64 {
    512 * 1024 * 1024
}

fn default_max_batch_events() -> usize {
    4096
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MySqlSourceConfig {
    /// How to reach the server (`[source.connection]`).
    pub connection: MySqlEndpoint,
    /// The replica server id Sluice registers with (`COM_REGISTER_SLAVE`). Must differ from the
    /// server's own id and from every other replica of it: a second connection with the same id
    /// makes the server drop the first. Default: `5400 + fnv1a(topic_prefix) % 10000`, stable
    /// across restarts and different for pipelines with different prefixes.
    #[serde(default)]
    pub server_id: Option<u32>,
    /// The logical server name: the `source.name` field of every event and the first part of
    /// topic names.
    pub topic_prefix: String,
    /// `database.table` glob patterns (`*` any run of characters, `?` one character,
    /// case-sensitive) of tables to capture. Empty: every table outside the system schemas.
    #[serde(default)]
    pub include_tables: Vec<String>,
    /// `database.table` glob patterns of tables to leave out; wins over `include_tables`.
    #[serde(default)]
    pub exclude_tables: Vec<String>,
    /// Milliseconds between server heartbeats on an idle stream (`@master_heartbeat_period`).
    /// `next_batch` also returns at least this often. Without any event or heartbeat for three
    /// periods (at least 10 s) the connection counts as lost. Default 1000.
    #[serde(default = "default_heartbeat_ms")]
    pub heartbeat_interval_ms: u64,
    /// Zero dates: `"null"` (default), `"epoch"` or `"error"`.
    #[serde(default)]
    pub zero_date: ZeroDateRule,
    /// Row events of one transaction are held in memory until its commit; a transaction with
    /// more row-event bytes (as stored in the binlog, captured tables only) stops the source
    /// with a fatal error. Default 512 MiB.
    #[serde(default = "default_max_transaction_bytes")]
    pub max_transaction_bytes: u64,
    /// Most events returned by one `next_batch` call (a larger transaction spans several
    /// batches; only the last carries its checkpoint). Default 4096.
    /// (`max_batch_events` is its earlier name.)
    #[serde(default = "default_max_batch_events", alias = "max_batch_events")]
    pub batch_max_events: usize,
    /// Hand out BEGIN/END transaction records with the batches (Debezium's transaction
    /// metadata topic). Default false.
    #[serde(default)]
    pub provide_transaction_metadata: bool,
    /// How decimals and `BIGINT UNSIGNED` are published: `precise` (Connect decimals, default),
    /// `string` (exact text) or `double` — Debezium's `decimal.handling.mode`.
    #[serde(default)]
    pub decimal_handling_mode: sluice_core::DecimalHandling,
    /// The compacted topic holding the latest definition of every captured table (Debezium's
    /// schema history topic), so version numbers continue across restarts. Default
    /// `<topic_prefix>.schema-history`.
    #[serde(default)]
    pub schema_history_topic: Option<String>,
    /// `full-load-and-cdc` (default), `full-load` or `cdc` (docs/mysql.md, "Full load").
    #[serde(default)]
    pub migration_type: MigrationType,
    /// Connections reading the full load in parallel, each in its own consistent snapshot.
    /// Default 2.
    #[serde(default = "default_snapshot_workers")]
    pub snapshot_workers: usize,
    /// Rows per full-load chunk (key range); a chunk is the unit of resume. Default 50000.
    #[serde(default = "default_snapshot_chunk_rows")]
    pub snapshot_chunk_rows: u64,
    /// `"none"` (default) or `"minimal"`; see [`SnapshotLocking`].
    #[serde(default)]
    pub snapshot_locking: SnapshotLocking,
    /// With `migration_type = "cdc"`: where a source with no stored position starts, as
    /// `"<binlog file>:<offset>"`. Default: the server's current position.
    #[serde(default)]
    pub cdc_start_position: Option<String>,
}

impl MySqlSourceConfig {
    /// A configuration with defaults for everything but the endpoint and prefix.
    pub fn new(connection: MySqlEndpoint, topic_prefix: impl Into<String>) -> Self {
        Self {
            connection,
            server_id: None,
            topic_prefix: topic_prefix.into(),
            include_tables: Vec::new(),
            exclude_tables: Vec::new(),
            heartbeat_interval_ms: default_heartbeat_ms(),
            zero_date: ZeroDateRule::default(),
            max_transaction_bytes: default_max_transaction_bytes(),
            batch_max_events: default_max_batch_events(),
            provide_transaction_metadata: false,
            decimal_handling_mode: sluice_core::DecimalHandling::Precise,
            schema_history_topic: None,
            migration_type: MigrationType::default(),
            snapshot_workers: default_snapshot_workers(),
            snapshot_chunk_rows: default_snapshot_chunk_rows(),
            snapshot_locking: SnapshotLocking::default(),
            cdc_start_position: None,
        }
    }

    /// The schema history topic's name.
    pub fn history_topic(&self) -> String {
        self.schema_history_topic.clone().unwrap_or_else(|| format!("{}.schema-history", self.topic_prefix))
    }

    pub fn validate(&self) -> Result<(), MySqlError> {
        if self.topic_prefix.trim().is_empty() {
            return Err(MySqlError::Config("topic_prefix must not be empty".into()));
        }
        if self.server_id == Some(0) {
            return Err(MySqlError::Config("server_id 0 is reserved; choose another".into()));
        }
        if !(100..=3_600_000).contains(&self.heartbeat_interval_ms) {
            return Err(MySqlError::Config(format!(
                "heartbeat_interval_ms must be between 100 and 3600000, found {}",
                self.heartbeat_interval_ms
            )));
        }
        if self.cdc_start_position.is_some() && self.migration_type != MigrationType::Cdc {
            return Err(MySqlError::Config(
                "cdc_start_position needs migration_type = \"cdc\" (a full load hands off at its own position)".into(),
            ));
        }
        self.cdc_start()?;
        if self.max_transaction_bytes == 0
            || self.batch_max_events == 0
            || self.snapshot_workers == 0
            || self.snapshot_chunk_rows == 0
        {
            return Err(MySqlError::Config(
                "max_transaction_bytes, batch_max_events, snapshot_workers and snapshot_chunk_rows \
                 must be positive"
                    .into(),
            ));
        }
        Ok(())
    }

    /// `cdc_start_position` parsed (file and offset; the GTID state is derived at start).
    pub fn cdc_start(&self) -> Result<Option<sluice_core::BinlogPosition>, MySqlError> {
        let Some(s) = self.cdc_start_position.as_deref() else { return Ok(None) };
        let parsed = s.rsplit_once(':').and_then(|(file, pos)| {
            let pos = pos.trim().parse::<u64>().ok()?;
            (!file.trim().is_empty()).then(|| sluice_core::BinlogPosition {
                file: file.trim().to_owned(),
                pos,
                gtid_set: None,
            })
        });
        parsed.map(Some).ok_or_else(|| {
            MySqlError::Config(format!("cdc_start_position must be \"<binlog file>:<offset>\", found {s:?}"))
        })
    }

    /// The replica id to register with: the configured one or the documented default.
    pub fn effective_server_id(&self) -> u32 {
        self.server_id.unwrap_or_else(|| 5400 + fnv1a(self.topic_prefix.as_bytes()) % 10_000)
    }

    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_interval_ms)
    }

    /// Time without any event or heartbeat after which the connection counts as lost.
    pub fn idle_timeout(&self) -> Duration {
        (self.heartbeat() * 3).max(Duration::from_secs(10))
    }

    pub fn table_filter(&self) -> TableFilter {
        TableFilter::new(&self.include_tables, &self.exclude_tables)
    }
}

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
        topic_prefix = "shop"
        include_tables = ["shop.*"]
        exclude_tables = ["shop.tmp_*"]
        heartbeat_interval_ms = 500
        zero_date = "epoch"

        [connection]
        host = "127.0.0.1"
        port = 3306
        user = "sluice"
        password = "secret"
    "#;

    #[test]
    fn parses_and_defaults() {
        let c: MySqlSourceConfig = toml::from_str(EXAMPLE).unwrap();
        c.validate().unwrap();
        assert_eq!(c.zero_date, ZeroDateRule::Epoch);
        assert_eq!(c.heartbeat(), Duration::from_millis(500));
        assert_eq!(c.batch_max_events, 4096);
        let id = c.effective_server_id();
        assert!((5400..15400).contains(&id));
        assert_eq!(id, c.effective_server_id(), "default server id is stable");
        assert!(c.table_filter().captures("shop", "orders"));
        assert!(!c.table_filter().captures("shop", "tmp_1"));
    }

    #[test]
    fn earlier_key_names_still_parse() {
        let c: MySqlSourceConfig = toml::from_str(&format!("max_batch_events = 7\n{EXAMPLE}")).unwrap();
        assert_eq!(c.batch_max_events, 7);
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        let bad = format!("{EXAMPLE}\nserverid = 3\n");
        assert!(toml::from_str::<MySqlSourceConfig>(&bad).is_err());
        let mut c: MySqlSourceConfig = toml::from_str(EXAMPLE).unwrap();
        c.server_id = Some(0);
        assert!(c.validate().is_err());
        c.server_id = Some(7);
        c.heartbeat_interval_ms = 10;
        assert!(c.validate().is_err());
        c.heartbeat_interval_ms = 1000;
        c.cdc_start_position = Some("mysql-bin.000003:1234".into());
        assert!(c.validate().is_err(), "needs migration_type cdc");
        c.migration_type = MigrationType::Cdc;
        c.validate().unwrap();
        assert_eq!(c.cdc_start().unwrap().map(|p| (p.file, p.pos)), Some(("mysql-bin.000003".into(), 1234)));
        c.cdc_start_position = Some("mysql-bin.000003".into());
        assert!(c.validate().is_err());
    }

    #[test]
    fn docs_example_parses() {
        // The example in docs/mysql.md, between the markers, must stay valid.
        let doc = include_str!("../../../docs/mysql.md");
        let start = doc.find("```toml\n[source]").expect("docs/mysql.md has a [source] example");
        let body = &doc[start + "```toml\n".len()..];
        let end = body.find("```").expect("example is closed");
        #[derive(Deserialize)]
        struct Wrapper {
            source: toml::Table,
        }
        let w: Wrapper = toml::from_str(&body[..end]).unwrap();
        let mut source = w.source;
        assert_eq!(source.remove("type").and_then(|t| t.as_str().map(str::to_owned)), Some("mysql".into()));
        let c: MySqlSourceConfig = toml::Value::Table(source).try_into().unwrap();
        c.validate().unwrap();
    }
}
