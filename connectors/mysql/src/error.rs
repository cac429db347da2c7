//! Errors of the MySQL/MariaDB connector, classified where they enter.
//!
//! I/O errors, lost connections and server errors that mean "try again" (lock wait timeout,
//! deadlock, too many connections, server shutting down, no heartbeat) are retriable; access
//! denied, unknown database, a purged or unknown binlog position, undecodable events, unsupported
//! server settings and an oversized transaction are fatal, and their message says what to do.
//!
//! The one policy table is [`classify`]: every `mysql_async` error passes through it. Errors
//! this crate raises itself carry their kind explicitly.

use sluice_core::{Error, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum MySqlError {
    #[error("cannot connect to MySQL/MariaDB at {addr}: {reason}")]
    Connect { addr: String, reason: String, kind: ErrorKind },
    #[error("query failed ({context}): {reason}")]
    Query { context: &'static str, reason: String, kind: ErrorKind },
    /// The server no longer has (or never had) the binlog the stream should start at.
    #[error(
        "binlog position {position} is not available on the server ({reason}); the binlog was \
         purged or the position is unknown, so changes since then are lost to replication: a new \
         snapshot is needed (re-run the initial load), then start streaming from its position"
    )]
    BinlogUnavailable { position: String, reason: String },
    /// The replication stream failed (I/O, lost connection, protocol error).
    #[error("binlog stream at {position}: {reason}")]
    Stream { position: String, reason: String, kind: ErrorKind },
    /// An event could not be decoded; retrying reads the same bytes again.
    #[error("cannot decode binlog event at {position}: {reason}")]
    Decode { position: String, reason: String },
    /// The server uses a feature this source does not handle; the hint names the setting.
    #[error("unsupported: {what} — {hint}")]
    Unsupported { what: String, hint: String },
    #[error("invalid MySQL source configuration: {0}")]
    Config(String),
    /// The full load cannot read a row or a table (a value that does not decode, a worker gone).
    #[error("full load: {reason}")]
    Load { reason: String, kind: ErrorKind },
    #[error(
        "transaction at {position} buffers more than {limit_bytes} bytes of row events; raise \
         `max_transaction_bytes` (rows are held in memory until the commit)"
    )]
    TransactionTooLarge { position: String, limit_bytes: u64 },
    /// The sink cannot apply something: a statement failed (classified like any server error),
    /// a value does not fit MariaDB, or the target table cannot take the source's schema.
    #[error("{reason}")]
    Sink { reason: String, kind: ErrorKind },
}

impl MySqlError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            MySqlError::Connect { kind, .. }
            | MySqlError::Query { kind, .. }
            | MySqlError::Stream { kind, .. }
            | MySqlError::Sink { kind, .. }
            | MySqlError::Load { kind, .. } => *kind,
            MySqlError::BinlogUnavailable { .. }
            | MySqlError::Decode { .. }
            | MySqlError::Unsupported { .. }
            | MySqlError::Config(_)
            | MySqlError::TransactionTooLarge { .. } => ErrorKind::Fatal,
        }
    }

    pub fn is_retriable(&self) -> bool {
        self.kind() == ErrorKind::Retriable
    }

    pub(crate) fn connect(addr: String, e: &mysql_async::Error) -> Self {
        MySqlError::Connect { addr, reason: e.to_string(), kind: classify(e) }
    }

    pub(crate) fn query(context: &'static str, e: &mysql_async::Error) -> Self {
        MySqlError::Query { context, reason: e.to_string(), kind: classify(e) }
    }

    /// An error read from the binlog stream at `position` (a display string).
    pub(crate) fn stream(position: String, e: &mysql_async::Error) -> Self {
        if server_code(e) == Some(ER_MASTER_FATAL_ERROR_READING_BINLOG) {
            return MySqlError::BinlogUnavailable { position, reason: e.to_string() };
        }
        MySqlError::Stream { position, reason: e.to_string(), kind: classify(e) }
    }

    /// A failed sink statement; `context` names what was being done and to which table.
    pub(crate) fn sink_query(context: impl std::fmt::Display, e: &mysql_async::Error) -> Self {
        MySqlError::Sink { reason: format!("{context}: {e}"), kind: classify(e) }
    }

    /// A definite sink failure (bad value, unsafe schema change) with an operator-facing message.
    pub(crate) fn sink_fatal(reason: impl Into<String>) -> Self {
        MySqlError::Sink { reason: reason.into(), kind: ErrorKind::Fatal }
    }

    pub(crate) fn decode(position: impl Into<String>, reason: impl Into<String>) -> Self {
        MySqlError::Decode { position: position.into(), reason: reason.into() }
    }

    pub(crate) fn unsupported(what: impl Into<String>, hint: impl Into<String>) -> Self {
        MySqlError::Unsupported { what: what.into(), hint: hint.into() }
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

/// `ER_MASTER_FATAL_ERROR_READING_BINLOG`: the server cannot serve the requested binlog
/// (file purged or unknown, position past the end, GTID state no longer in any binlog).
pub const ER_MASTER_FATAL_ERROR_READING_BINLOG: u16 = 1236;

fn server_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

/// The policy table. Transient: I/O, a closed connection, and server codes 1040 too many
/// connections, 1053 server shutdown, 1205 lock wait timeout, 1213 deadlock, 2006/2013
/// connection lost, 1927 connection killed (MariaDB), 1317 query interrupted. Everything else
/// (access denied, unknown database, 1236 binlog unavailable, protocol errors) is definite.
pub(crate) fn classify(e: &mysql_async::Error) -> ErrorKind {
    use mysql_async::DriverError;
    match e {
        mysql_async::Error::Io(_) => ErrorKind::Retriable,
        mysql_async::Error::Driver(DriverError::ConnectionClosed | DriverError::PoolDisconnected) => {
            ErrorKind::Retriable
        }
        mysql_async::Error::Server(s) => match s.code {
            1040 | 1053 | 1205 | 1213 | 1317 | 1927 | 2006 | 2013 => ErrorKind::Retriable,
            _ => ErrorKind::Fatal,
        },
        _ => ErrorKind::Fatal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error(code: u16, message: &str) -> mysql_async::Error {
        mysql_async::Error::Server(mysql_async::ServerError {
            code,
            message: message.into(),
            state: "HY000".into(),
        })
    }

    #[test]
    fn purged_binlog_is_fatal_and_names_a_snapshot() {
        let e = MySqlError::stream(
            "mysql-bin.000001:4".into(),
            &server_error(1236, "Could not find first log file name in binary log index file"),
        );
        assert_eq!(e.kind(), ErrorKind::Fatal);
        let text = e.to_string();
        assert!(text.contains("new snapshot"), "{text}");
        assert!(text.contains("mysql-bin.000001:4"), "{text}");
        let core: Error = e.into();
        assert!(!core.is_retriable());
    }

    #[test]
    fn transient_server_errors_are_retriable() {
        assert_eq!(classify(&server_error(1213, "deadlock")), ErrorKind::Retriable);
        assert_eq!(classify(&server_error(1045, "access denied")), ErrorKind::Fatal);
        let io = mysql_async::Error::Io(mysql_async::IoError::Io(std::io::Error::other("reset")));
        assert_eq!(classify(&io), ErrorKind::Retriable);
    }
}
