//! The error type shared across crate boundaries and the one place that maps an error's kind to
//! a policy.
//!
//! Every error is classified where it enters the program: a [`ErrorKind::Retriable`] error
//! (connection reset, timeout, broker busy) is retried with backoff by the task runner and
//! never acknowledges anything; a [`ErrorKind::Fatal`] error (bad credentials, slot missing,
//! binlog purged, incompatible schema, poison record) stops the task with a message that tells
//! the operator what to do. Connector crates have their own `thiserror` types and convert into
//! this one at the trait boundary, keeping the classification they made.

use std::fmt;
use std::time::Duration;

/// How the task runner reacts to an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Transient: the same call may succeed later. Retried with backoff.
    Retriable,
    /// Definite: retrying cannot help. The task stops and the message names the fix.
    Fatal,
}

impl ErrorKind {
    /// Backoff before retry attempt `attempt` (0-based), or `None` if the kind must not be
    /// retried. Exponential from 200 ms, capped at 30 s.
    pub fn retry_delay(self, attempt: u32) -> Option<Duration> {
        match self {
            ErrorKind::Fatal => None,
            ErrorKind::Retriable => {
                let ms = 200u64.saturating_mul(1u64 << attempt.min(8));
                Some(Duration::from_millis(ms.min(30_000)))
            }
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Retriable => "retriable",
            ErrorKind::Fatal => "fatal",
        })
    }
}

/// An error with its classification and the component it came from.
#[derive(Debug, thiserror::Error)]
#[error("{component}: {message}")]
pub struct Error {
    kind: ErrorKind,
    component: &'static str,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    pub fn retriable(component: &'static str, message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::Retriable, component, message: message.into(), source: None }
    }

    pub fn fatal(component: &'static str, message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::Fatal, component, message: message.into(), source: None }
    }

    /// An error of `kind`, classified where it entered (a target's own error type).
    pub fn with_kind(component: &'static str, kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, component, message: message.into(), source: None }
    }

    /// Attach the underlying cause (kept for `source()` chains; never printed with secrets).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn component(&self) -> &'static str {
        self.component
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn is_retriable(&self) -> bool {
        self.kind == ErrorKind::Retriable
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Implemented by each connector's error type so the runner can classify without knowing it.
pub trait Classify {
    fn kind(&self) -> ErrorKind;
}

impl Classify for Error {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let k = ErrorKind::Retriable;
        assert_eq!(k.retry_delay(0), Some(Duration::from_millis(200)));
        assert_eq!(k.retry_delay(1), Some(Duration::from_millis(400)));
        assert_eq!(k.retry_delay(30), Some(Duration::from_millis(30_000)));
        assert_eq!(ErrorKind::Fatal.retry_delay(0), None);
    }

    #[test]
    fn display_names_component() {
        let e = Error::fatal("postgres", "replication slot \"s\" is missing");
        assert_eq!(e.to_string(), "postgres: replication slot \"s\" is missing");
        assert!(!e.is_retriable());
    }
}
