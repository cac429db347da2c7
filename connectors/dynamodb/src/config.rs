//! `[sink]` settings of the DynamoDB target.

use serde::Deserialize;

/// How to reach DynamoDB (`[sink.connection]`): AWS's regional endpoint by default, or a custom
/// one (DynamoDB Local, a VPC endpoint, dynalite); see [`sluice_core::aws::AwsEndpoint`].
pub use sluice_core::aws::AwsEndpoint as DynamoEndpoint;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamoSinkConfig {
    #[serde(default = "default_endpoint")]
    pub connection: DynamoEndpoint,
    /// Table of a source table; `{schema}` and `{table}` are replaced (default
    /// `{schema}.{table}`). DynamoDB names: 3–255 characters of `A-Z a-z 0-9 _ . -`.
    #[serde(default = "default_table_pattern")]
    pub table_pattern: String,
    /// The table holding every sink's offsets (created on-demand when missing).
    #[serde(default = "default_offsets_table")]
    pub offsets_table: String,
    /// Create missing tables (on-demand capacity) on first use (default true).
    #[serde(default = "default_true")]
    pub create_tables: bool,
    /// Requests in flight at once (default 32).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// `batch` (default): whole items in `BatchWriteItem`s of 25 after a consistent
    /// `BatchGetItem` of their offsets; `conditional`: one conditional write per item. See
    /// [`crate::batch`] for what each guarantees.
    #[serde(default)]
    pub write_mode: WriteMode,
    /// Batch mode: no write request is started later than this after a batch's writes began
    /// (default 60 s; keep it well under the consumer's `max.poll.interval.ms`, 300 s unless set).
    #[serde(default = "default_write_deadline")]
    pub write_deadline_secs: u64,
    /// `row` (default): one item per source row; `changelog`: one item per change event in
    /// table `table_pattern`, keyed by `topic_partition` (S) and `offset` (N).
    #[serde(default)]
    pub shape: sluice_core::changelog::Shape,
}

/// How item writes are sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteMode {
    #[default]
    Batch,
    Conditional,
}

fn default_write_deadline() -> u64 {
    60
}

fn default_endpoint() -> DynamoEndpoint {
    DynamoEndpoint::default()
}

fn default_table_pattern() -> String {
    "{schema}.{table}".into()
}

fn default_offsets_table() -> String {
    "sluice_offsets".into()
}

fn default_true() -> bool {
    true
}

fn default_concurrency() -> usize {
    32
}

impl DynamoSinkConfig {
    pub fn table(&self, schema: &str, table: &str) -> String {
        self.table_pattern.replace("{schema}", schema).replace("{table}", table)
    }
}

/// `Err` says why `name` is not a valid DynamoDB table name.
pub fn ensure_table_name(name: &str) -> Result<(), String> {
    let ok_chars = name.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if (3..=255).contains(&name.len()) && ok_chars {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid DynamoDB table name (3-255 characters of A-Z a-z 0-9 _ . -); \
             set [sink] table_pattern"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_keys() {
        let c: DynamoSinkConfig = toml::from_str("").unwrap();
        assert_eq!(c.table("app", "t"), "app.t");
        assert_eq!(c.offsets_table, "sluice_offsets");
        assert!(c.create_tables && c.concurrency == 32);
        assert_eq!((c.write_mode, c.write_deadline_secs), (WriteMode::Batch, 60));
        let c: DynamoSinkConfig = toml::from_str("write_mode = \"conditional\"\n").unwrap();
        assert_eq!(c.write_mode, WriteMode::Conditional);
        assert!(toml::from_str::<DynamoSinkConfig>("write_mode = \"fast\"\n").is_err());
        assert!(toml::from_str::<DynamoSinkConfig>("bogus = 1\n").is_err());
        assert!(toml::from_str::<DynamoSinkConfig>("[connection]\nurl = \"x\"\n").is_err());
    }

    #[test]
    fn table_names() {
        assert!(ensure_table_name("app.orders-2024_x").is_ok());
        assert!(ensure_table_name("ab").is_err());
        assert!(ensure_table_name("app.ördérs").is_err());
    }
}
