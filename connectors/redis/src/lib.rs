//! The Redis target (`[sink] type = "redis"`): each source row becomes one hash, each column one
//! field, exactly once.
//!
//! Layout ([`keys`]): key `<key_pattern>:<key part>[:<key part>…]` (`{schema}` and `{table}`
//! replaced; `\` and `:` inside a key part escaped with `\`); field = column name; value = the
//! column's portable text ([`sluice_core::text`]), bytes as they are. NULL = no field.
//!
//! Invariants:
//! - Nothing is sent while a batch is applied: writes are folded per key in memory
//!   ([`sluice_core::plan::KeyedPlan`]) and sent at commit in one `MULTI`/`EXEC` together with
//!   the offsets hash `sluice:offsets:<sink name>`, so rows and offsets are applied together or
//!   not at all. A crash before `EXEC` leaves Redis as it was.
//! - Fencing: before `MULTI` the offsets hash is `WATCH`ed and compared with what this process
//!   read or last wrote ([`sluice_core::OffsetFence`]); a member whose partition another member
//!   advanced — before the check or between it and `EXEC` — fails with a retriable error.
//! - Upserts write only the fields the event carries (`HSET`), delete the fields that are NULL
//!   (`HDEL`) and keep unchanged (TOAST) fields; deletes are `DEL`; a truncate `SCAN`s the table's
//!   keys and deletes them in the same `EXEC` (cost: one pass over the table's keys).
//! - Writes are idempotent, so a replay from offset 0 leaves Redis unchanged.
//! - A NULL key column is refused (fatal): the row would have no key of its own.

pub mod config;
pub mod error;
pub mod keys;
pub mod preflight;
pub mod sink;

pub use config::{RedisEndpoint, RedisSinkConfig};
pub use error::RedisError;
pub use sink::RedisSink;

/// The `redis` target plug-in.
pub struct RedisTarget;

impl sluice_core::Target for RedisTarget {
    const TYPES: &'static [&'static str] = &["redis", "valkey"];
    const COMMIT_MODE: sluice_core::CommitMode = sluice_core::CommitMode::Transactional;
    type Config = RedisSinkConfig;
    type Sink = RedisSink;

    async fn checks(config: &RedisSinkConfig, endpoint: &str) -> Vec<sluice_core::Check> {
        preflight::check_sink(endpoint, &config.connection).await
    }

    async fn connect(config: &RedisSinkConfig, name: &str) -> sluice_core::Result<RedisSink> {
        Ok(RedisSink::connect(config.clone(), name).await?)
    }
}
