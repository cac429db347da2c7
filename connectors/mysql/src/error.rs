//! Errors of the MySQL/MariaDB connector, classified where they enter.
//!
//! I/O errors and server errors that mean "try again" (lock wait timeout, deadlock, too many
//! connections, server shutting down) are retriable; access denied, unknown database, purged
//! binlog and the like are fatal.

use sluice_core::{Error, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum MySqlError {
    #[error("cannot connect to MySQL/MariaDB at {addr}: {reason}")]
    Connect { addr: String, reason: String, kind: ErrorKind },
    #[error("query failed ({context}): {reason}")]
    Query { context: &'static str, reason: String, kind: ErrorKind },
}

impl MySqlError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            MySqlError::Connect { kind, .. } | MySqlError::Query { kind, .. } => *kind,
        }
    }

    pub(crate) fn connect(addr: String, e: &mysql_async::Error) -> Self {
        MySqlError::Connect { addr, reason: e.to_string(), kind: classify(e) }
    }
}

impl From<MySqlError> for Error {
    fn from(e: MySqlError) -> Self {
        match e.kind() {
            ErrorKind::Retriable => Error::retriable("mysql", e.to_string()),
            ErrorKind::Fatal => Error::fatal("mysql", e.to_string()),
        }
    }
}

/// Server error codes that are transient: 1040 too many connections, 1053 server shutdown,
/// 1205 lock wait timeout, 1213 deadlock, 2006/2013 connection lost.
fn classify(e: &mysql_async::Error) -> ErrorKind {
    match e {
        mysql_async::Error::Io(_) => ErrorKind::Retriable,
        mysql_async::Error::Server(s) => match s.code {
            1040 | 1053 | 1205 | 1213 | 2006 | 2013 => ErrorKind::Retriable,
            _ => ErrorKind::Fatal,
        },
        _ => ErrorKind::Fatal,
    }
}
