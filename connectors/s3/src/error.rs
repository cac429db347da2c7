//! Errors of the object-store target, classified where they enter: transport failures, timeouts
//! and 5xx/429 from the store are retriable (object_store already retried them with backoff);
//! a missing bucket, refused credentials or permissions, bad settings and values a file format
//! cannot hold are fatal. A manifest that another writer created first is retriable: the
//! partition moved to another group member, and the run restarts from the stored manifests.

use sluice_core::{Error, ErrorKind};

#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct S3Error {
    pub reason: String,
    pub kind: ErrorKind,
}

impl S3Error {
    pub fn fatal(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), kind: ErrorKind::Fatal }
    }

    pub fn retriable(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), kind: ErrorKind::Retriable }
    }

    /// A store error met while `context`.
    pub fn store(context: &str, e: &object_store::Error) -> Self {
        use object_store::Error as E;
        let kind = match e {
            E::NotFound { .. }
            | E::PermissionDenied { .. }
            | E::Unauthenticated { .. }
            | E::NotSupported { .. }
            | E::NotImplemented { .. }
            | E::InvalidPath { .. }
            | E::UnknownConfigurationKey { .. } => ErrorKind::Fatal,
            E::Generic { source, .. } if looks_fatal(&source.to_string()) => ErrorKind::Fatal,
            _ => ErrorKind::Retriable,
        };
        let mut reason = format!("{context}: {e}");
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            let text = s.to_string();
            if !reason.contains(&text) {
                reason.push_str(&format!(": {text}"));
            }
            source = s.source();
        }
        Self { reason, kind }
    }
}

/// S3 errors reported through object_store's generic variant that no retry fixes.
fn looks_fatal(text: &str) -> bool {
    ["NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403 Forbidden"]
        .iter()
        .any(|m| text.contains(m))
}

impl From<S3Error> for Error {
    fn from(e: S3Error) -> Self {
        Error::with_kind("s3", e.kind, e.reason)
    }
}
