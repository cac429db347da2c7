//! Errors of the MongoDB target, classified where they enter: network errors, server selection
//! timeouts, transient transaction errors (write conflicts) and retryable writes are retriable;
//! authentication, bad settings, documents over 16 MB and refused values are fatal.

use sluice_core::{Error, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum MongoError {
    #[error("{context}: {reason}")]
    Command { context: String, reason: String, kind: ErrorKind },
    #[error("{reason}")]
    Target { reason: String, kind: ErrorKind },
}

impl MongoError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            MongoError::Command { kind, .. } | MongoError::Target { kind, .. } => *kind,
        }
    }

    pub(crate) fn command(context: impl Into<String>, e: &mongodb::error::Error) -> Self {
        MongoError::Command { context: context.into(), reason: e.to_string(), kind: classify(e) }
    }

    pub(crate) fn fatal(reason: impl Into<String>) -> Self {
        MongoError::Target { reason: reason.into(), kind: ErrorKind::Fatal }
    }
}

/// Server codes that say "try again": WriteConflict, Interrupted, NoSuchTransaction (ended by
/// `killSessions` or expired), ShutdownInProgress, PrimarySteppedDown, NotWritablePrimary,
/// InterruptedAtShutdown, NotPrimaryNoSecondaryOk, InterruptedDueToReplStateChange.
const RETRIABLE_CODES: [i32; 9] = [112, 11601, 251, 91, 189, 10107, 11600, 13435, 11602];

fn classify(e: &mongodb::error::Error) -> ErrorKind {
    use mongodb::error::ErrorKind as K;
    let transient = e.contains_label("TransientTransactionError")
        || e.contains_label("RetryableWriteError")
        || e.contains_label("UnknownTransactionCommitResult")
        || matches!(*e.kind, K::Io(_) | K::ServerSelection { .. } | K::ConnectionPoolCleared { .. })
        || matches!(&*e.kind, K::Command(c) if RETRIABLE_CODES.contains(&c.code));
    if transient {
        ErrorKind::Retriable
    } else {
        ErrorKind::Fatal
    }
}

impl From<MongoError> for Error {
    fn from(e: MongoError) -> Self {
        Error::with_kind("mongodb", e.kind(), e.to_string())
    }
}
