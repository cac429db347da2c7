//! MySQL and MariaDB for Sluice: connection settings, preflight checks, and (in later modules)
//! the binlog source and the MySQL/MariaDB sink.

pub mod endpoint;
pub mod error;
pub mod preflight;

pub use endpoint::MySqlEndpoint;
pub use error::MySqlError;
