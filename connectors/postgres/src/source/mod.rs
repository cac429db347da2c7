//! The PostgreSQL logical-replication source: pgoutput (protocol v2, streaming) over
//! `pg_walstream`'s replication connection, decoded by Sluice, behind the `Source` trait.
//!
//! `reader` is the entry point ([`PgSource`]); `wal` owns the connection and acknowledgements;
//! `pgoutput` decodes messages; `relation`/`types`/`text`/`array` turn tuples into values;
//! `spill` buffers streamed transactions; `slot` sets up and checks the server side;
//! `snapshot` reads the tables for a full load.

pub mod array;
pub mod config;
pub mod incremental;
pub mod pgoutput;
pub mod reader;
pub mod relation;
pub mod slot;
pub mod snapshot;
pub mod spill;
pub mod text;
pub mod types;
pub mod wal;

pub use config::{MigrationType, PgSourceConfig};
pub use reader::{PgSource, SlotOutcome};
