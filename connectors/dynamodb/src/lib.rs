//! The DynamoDB target (`type = "dynamodb"`): each source row becomes one item. Tested against
//! dynalite (the DynamoDB API on LevelDB): the sink conformance suite and
//! `tests/dynamodb_sink.rs` (`kill -9`, boto3 read-back).
//!
//! Layout: table `table_pattern` (`{schema}`, `{table}` replaced), created on first use with
//! on-demand capacity; partition key = the first primary-key column, sort key = the second (three
//! or more columns: one string sort key, see [`client::KeySchema::of`]); every other column an
//! attribute of its own ([`value`]); NULL = no attribute.
//!
//! Invariants (exactly once without multi-item transactions, which a batch of thousands of items
//! could not use anyway — `TransactWriteItems` takes 100):
//! - Every item carries `__sluice_offset`, the broker offset of the change it holds; a write goes
//!   only where the item is absent or holds an older one — checked by a consistent read before
//!   `BatchWriteItem` ([`batch`], the default) or by each write's condition
//!   (`write_mode = "conditional"`). A key always maps to one partition, so this orders the
//!   writes of a key. A replay (offsets not yet stored after a crash, a fenced group member)
//!   therefore never rolls an item back: its writes are skipped. [`batch`] says the one case its
//!   read cannot cover and how it is bounded.
//! - A batch is folded per item (last write wins, unchanged columns merged, key changes delete
//!   the old key) and written at commit, `concurrency` at a time; the sink's offsets are stored
//!   after every write succeeded, compare-and-set (fenced) in the offsets table.
//! - Truncate deletes the table's items that hold changes older than the truncate.
//! - Changing a topic's partition count moves keys between partitions, whose offsets are not
//!   comparable: do not do it under a running DynamoDB sink (docs/sinks.md).

pub mod batch;
pub mod client;
pub mod config;
pub mod error;
pub mod sink;
pub mod value;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
pub use config::DynamoSinkConfig;
pub use error::DynamoError;
pub use sink::DynamoSink;
use sluice_core::Check;

/// The `dynamodb` target plug-in.
pub struct DynamoTarget;

impl sluice_core::Target for DynamoTarget {
    const TYPES: &'static [&'static str] = &["dynamodb"];
    const COMMIT_MODE: sluice_core::CommitMode = sluice_core::CommitMode::Transactional;
    type Config = DynamoSinkConfig;
    type Sink = DynamoSink;

    async fn checks(config: &DynamoSinkConfig, endpoint: &str) -> Vec<Check> {
        check_sink(endpoint, config).await
    }

    async fn connect(config: &DynamoSinkConfig, name: &str) -> sluice_core::Result<DynamoSink> {
        Ok(DynamoSink::connect(config.clone(), name).await?)
    }
}

/// `ensure_connect` (a signed `ListTables`: endpoint, region, credentials) and
/// `ensure_offsets_table` (it exists, or may be created).
pub async fn check_sink(endpoint: &str, config: &DynamoSinkConfig) -> Vec<Check> {
    let hint = "check [sink.connection] endpoint_url, region and credentials";
    let client = match client::client(&config.connection).await {
        Ok(c) => c,
        Err(e) => return vec![Check::error(endpoint, "connect", e.to_string(), hint)],
    };
    let where_ = config.connection.endpoint_url.clone().unwrap_or_else(|| "AWS".into());
    if let Err(e) = client.list_tables().limit(1).send().await {
        let e = DynamoError::request("ListTables", &e);
        return vec![match e.kind() {
            sluice_core::ErrorKind::Retriable => Check::error(endpoint, "connect", e.to_string(), hint),
            sluice_core::ErrorKind::Fatal => {
                Check::fail(endpoint, "connect", "signed requests accepted", e.to_string(), hint)
            }
        }];
    }
    let mut checks = vec![Check::pass(endpoint, "connect", where_)];
    let table = &config.offsets_table;
    checks.push(match client.describe_table().table_name(table).send().await {
        Ok(_) => Check::pass(endpoint, "offsets_table", format!("{table} exists")),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) && config.create_tables => {
            Check::pass(endpoint, "offsets_table", format!("{table} will be created"))
        }
        Err(e) => Check::fail(
            endpoint,
            "offsets_table",
            format!("{table} readable"),
            e.code().unwrap_or("error").to_owned(),
            "create it (partition key sink, sort key topic_partition, both strings) or allow dynamodb:CreateTable",
        ),
    });
    checks
}
