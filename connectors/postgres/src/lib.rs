//! PostgreSQL for Sluice: connection settings, preflight checks, and (in later modules) the
//! pgoutput logical-replication source and the PostgreSQL sink.

pub mod endpoint;
pub mod error;
pub mod preflight;
pub mod sink;
pub mod source;
pub mod sql;

pub use endpoint::PgEndpoint;
pub use error::PgError;
pub use sink::{PgSink, PgSinkConfig, PgTarget, SchemaChanges};
