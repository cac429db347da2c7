//! Errors of the Redis target, classified where they enter: connection loss, timeouts, refused
//! connections and a server still loading are retriable; authentication, permissions, bad
//! settings and refused values are fatal.

use sluice_core::{Error, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("{context}: {reason}")]
    Command { context: String, reason: String, kind: ErrorKind },
    #[error("{reason}")]
    Target { reason: String, kind: ErrorKind },
}

impl RedisError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            RedisError::Command { kind, .. } | RedisError::Target { kind, .. } => *kind,
        }
    }

    pub(crate) fn command(context: impl Into<String>, e: &redis::RedisError) -> Self {
        RedisError::Command { context: context.into(), reason: e.to_string(), kind: classify(e) }
    }

    pub(crate) fn fatal(reason: impl Into<String>) -> Self {
        RedisError::Target { reason: reason.into(), kind: ErrorKind::Fatal }
    }

    pub(crate) fn retriable(reason: impl Into<String>) -> Self {
        RedisError::Target { reason: reason.into(), kind: ErrorKind::Retriable }
    }
}

fn classify(e: &redis::RedisError) -> ErrorKind {
    let transient = e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(e.code(), Some("LOADING" | "BUSY" | "TRYAGAIN" | "MASTERDOWN"));
    if transient {
        ErrorKind::Retriable
    } else {
        ErrorKind::Fatal
    }
}

impl From<RedisError> for Error {
    fn from(e: RedisError) -> Self {
        Error::with_kind("redis", e.kind(), e.to_string())
    }
}
