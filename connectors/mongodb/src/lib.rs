//! The MongoDB target (`type = "mongodb"` or `"documentdb"`): each source row becomes one
//! document, exactly once. Tested against SecantusDB (MongoDB wire protocol, a one-node replica
//! set): the sink conformance suite and `tests/mongodb_sink.rs` (`kill -9`, pymongo read-back).
//!
//! Layout: database `database`, collection `collection_pattern` (`{schema}`, `{table}`
//! replaced); `_id` = the key value (a composite key: a sub-document of the key columns in key
//! order); every column is also a field of its own, typed as [`bson`] documents (decimals as
//! Decimal128, UUIDs as binary subtype 4, JSON as nested documents, timestamps as ISO-8601 text
//! with microseconds — BSON dates hold milliseconds only).
//!
//! Invariants:
//! - One multi-document transaction spans a batch: the `update`/`delete` commands, in event
//!   order, and the fenced offsets documents in `sluice_offsets` (`_id: {sink, topic,
//!   partition}`), committed together; any failure aborts it.
//! - Upserts `$set` only the fields an event carries, so unchanged (TOAST) columns keep their
//!   value; a key change deletes the old document; truncate deletes every document of the
//!   collection inside the transaction.
//! - Writes are idempotent (replace-by-key, delete-by-key): a replay from offset 0 changes
//!   nothing. A NULL key column is refused (fatal).

pub mod bson_value;
pub mod config;
pub mod error;
pub mod sink;

pub use config::MongoSinkConfig;
pub use error::MongoError;
pub use sink::MongoSink;

/// The `mongodb` target plug-in.
pub struct MongoTarget;

impl sluice_core::Target for MongoTarget {
    const TYPES: &'static [&'static str] = &["mongodb", "documentdb"];
    const COMMIT_MODE: sluice_core::CommitMode = sluice_core::CommitMode::Transactional;
    type Config = MongoSinkConfig;
    type Sink = MongoSink;

    async fn checks(config: &MongoSinkConfig, endpoint: &str) -> Vec<sluice_core::Check> {
        sink::check_sink(endpoint, config).await
    }

    async fn connect(config: &MongoSinkConfig, name: &str) -> sluice_core::Result<MongoSink> {
        Ok(MongoSink::connect(config.clone(), name).await?)
    }
}
