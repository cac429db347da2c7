//! The PostgreSQL logical-replication source: pgoutput (protocol v2, streaming) through
//! `pg_walstream`, behind Sluice's `Source` trait.

pub mod array;
pub mod config;
pub mod spill;
pub mod text;
pub mod types;

pub use config::PgSourceConfig;
