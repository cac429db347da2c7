//! Errors of the PostgreSQL connector, classified where they enter.
//!
//! Connection-level failures (refused, reset, timeout) are retriable; authentication failures,
//! missing privileges, wrong server settings and missing slots are fatal and say what to fix.

use sluice_core::{Error, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("cannot connect to PostgreSQL at {addr}: {reason}")]
    Connect { addr: String, reason: String, kind: ErrorKind },
    #[error("query failed ({context}): {reason}")]
    Query { context: &'static str, reason: String, kind: ErrorKind },
    #[error("{reason}")]
    Source { reason: String, kind: ErrorKind },
}

impl PgError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            PgError::Connect { kind, .. } | PgError::Query { kind, .. } | PgError::Source { kind, .. } => {
                *kind
            }
        }
    }

    pub(crate) fn connect(addr: String, e: &tokio_postgres::Error) -> Self {
        PgError::Connect { addr, reason: describe(e), kind: classify(e) }
    }

    pub(crate) fn query(context: &'static str, e: &tokio_postgres::Error) -> Self {
        PgError::Query { context, reason: describe(e), kind: classify(e) }
    }

    /// A failed source-side statement: `context` and the server's message.
    pub(crate) fn source_query(context: &str, e: &tokio_postgres::Error) -> Self {
        PgError::Source { reason: format!("{context}: {}", describe(e)), kind: classify(e) }
    }
}

impl From<PgError> for Error {
    fn from(e: PgError) -> Self {
        match e.kind() {
            ErrorKind::Retriable => Error::retriable("postgres", e.to_string()),
            ErrorKind::Fatal => Error::fatal("postgres", e.to_string()),
        }
    }
}

/// The server's message when there is one (it never contains the password), else the
/// client-side cause.
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    msg
}

/// SQLSTATE classes 08 (connection), 53 (resources), 57P0x (shutdown) and 40001/40P01
/// (serialization, deadlock) are transient; every other server error is definite. Client-side
/// I/O errors without a server error are transient.
fn classify(e: &tokio_postgres::Error) -> ErrorKind {
    match e.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            if code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P0")
                || code == "40001"
                || code == "40P01"
            {
                ErrorKind::Retriable
            } else {
                ErrorKind::Fatal
            }
        }
        None => ErrorKind::Retriable,
    }
}
