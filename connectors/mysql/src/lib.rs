//! MySQL and MariaDB for Sluice: connection settings, preflight checks, and the binlog source
//! ([`MySqlSource`]), which turns row-based binlog events into change events.
//!
//! Module map: `config` (source settings), `server` (flavor, version, current position),
//! `stream` (replication connection, checksums), `source` (the event loop and the `Source`
//! implementation), `txn` (transaction buffering and event construction), `schema` (table
//! definitions from TABLE_MAP and information_schema, versions, history seam), `decode` (row
//! images and every storage format), `gtid`, `ddl`, `charset`, `filter`. See docs/mysql.md.
//!
//! The sink ([`MySqlSink`], module `sink`) applies change events to a MariaDB/MySQL target,
//! exactly once; see docs/sinks.md.

pub mod charset;
pub mod config;
pub mod ddl;
pub mod decode;
pub mod endpoint;
pub mod error;
pub mod filter;
pub mod gtid;
pub mod preflight;
pub mod schema;
pub mod server;
pub mod sink;
pub mod snapshot;
pub mod source;
pub mod sql;
pub mod stream;
pub mod txn;

pub use config::{MigrationType, MySqlSourceConfig, SnapshotLocking, ZeroDateRule};
pub use endpoint::MySqlEndpoint;
pub use error::MySqlError;
pub use schema::history::{InMemoryHistory, SchemaChange, SchemaHistory};
pub use sink::{MySqlSink, MySqlSinkConfig, MySqlTarget};
pub use source::{MySqlSource, SourceStats};
