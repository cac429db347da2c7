//! Errors of the Redis target, classified where they enter: connection loss, timeouts, refused
//! connections and a server that is loading, busy, out of memory or a read-only replica are
//! retriable (a refused transaction too, when all its commands were refused that way);
//! authentication, permissions, bad settings and refused values are fatal.

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
        RedisError::Command { context: context.into(), reason: reason(e), kind: classify(e) }
    }

    pub(crate) fn fatal(reason: impl Into<String>) -> Self {
        RedisError::Target { reason: reason.into(), kind: ErrorKind::Fatal }
    }

    pub(crate) fn retriable(reason: impl Into<String>) -> Self {
        RedisError::Target { reason: reason.into(), kind: ErrorKind::Retriable }
    }
}

/// Server error codes that describe the server's state, not the command: LOADING, BUSY,
/// TRYAGAIN, MASTERDOWN; OOM (`maxmemory` with `noeviction`) and READONLY (a failover left the
/// connection on a replica). Retried, never dead-lettered.
const TRANSIENT_CODES: [&str; 6] = ["LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN", "OOM", "READONLY"];

/// The server errors inside a refused transaction or pipeline (`EXECABORT` carries one per
/// refused command), with their command's index.
fn inner_errors(e: &redis::RedisError) -> Vec<(usize, redis::ServerError)> {
    if e.kind() != redis::ErrorKind::Server(redis::ServerErrorKind::ExecAbort) {
        return Vec::new();
    }
    e.clone().into_server_errors().map(|errs| errs.to_vec()).unwrap_or_default()
}

fn classify(e: &redis::RedisError) -> ErrorKind {
    let inner = inner_errors(e);
    let transient = e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.code().is_some_and(|c| TRANSIENT_CODES.contains(&c))
        || (!inner.is_empty() && inner.iter().all(|(_, s)| TRANSIENT_CODES.contains(&s.code())));
    if transient {
        ErrorKind::Retriable
    } else {
        ErrorKind::Fatal
    }
}

/// The error's text; a refused transaction is summarised (count and first error) instead of
/// one entry per command.
fn reason(e: &redis::RedisError) -> String {
    match inner_errors(e).as_slice() {
        [] => e.to_string(),
        [(i, first), rest @ ..] => format!(
            "transaction aborted: {} of its commands refused, the first (command {i}): {first}",
            rest.len() + 1
        ),
    }
}

impl From<RedisError> for Error {
    fn from(e: RedisError) -> Self {
        Error::with_kind("redis", e.kind(), e.to_string())
    }
}
