//! Errors of the OpenSearch target, classified where they enter: connection failures, timeouts,
//! 429 (`es_rejected_execution_exception`, circuit breakers) and 5xx are retriable; 401/403,
//! mapping conflicts, documents the cluster refuses (too large, malformed) and bad settings are
//! fatal.

use sluice_core::{Error, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("{context}: {reason}")]
    Request { context: String, reason: String, kind: ErrorKind },
    #[error("{reason}")]
    Target { reason: String, kind: ErrorKind },
}

impl SearchError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            SearchError::Request { kind, .. } | SearchError::Target { kind, .. } => *kind,
        }
    }

    /// A transport failure (no HTTP status): retriable.
    pub(crate) fn transport(context: impl Into<String>, e: &reqwest::Error) -> Self {
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            reason.push_str(&format!(": {s}"));
            source = s.source();
        }
        SearchError::Request { context: context.into(), reason, kind: ErrorKind::Retriable }
    }

    /// An HTTP error status with the body's reason.
    pub(crate) fn status(context: impl Into<String>, status: u16, reason: String) -> Self {
        SearchError::Request {
            context: context.into(),
            reason: format!("HTTP {status}: {reason}"),
            kind: kind_of(status),
        }
    }

    pub(crate) fn fatal(reason: impl Into<String>) -> Self {
        SearchError::Target { reason: reason.into(), kind: ErrorKind::Fatal }
    }

    pub(crate) fn retriable(reason: impl Into<String>) -> Self {
        SearchError::Target { reason: reason.into(), kind: ErrorKind::Retriable }
    }
}

/// 408, 429 and 5xx say "try again later"; every other error status is the request's fault.
pub fn kind_of(status: u16) -> ErrorKind {
    if status == 408 || status == 429 || status >= 500 {
        ErrorKind::Retriable
    } else {
        ErrorKind::Fatal
    }
}

impl From<SearchError> for Error {
    fn from(e: SearchError) -> Self {
        Error::with_kind("opensearch", e.kind(), e.to_string())
    }
}
