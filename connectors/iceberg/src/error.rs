//! Errors of the Iceberg target, classified where they enter: the store or the catalog
//! unreachable, throttled or answering 5xx, and a commit that lost a race (`CatalogCommitConflicts`)
//! are retriable (the runtime restarts from the tables' snapshots with backoff); bad settings, a
//! missing bucket, refused credentials, invalid data and schema changes Iceberg cannot take are
//! fatal.

use sluice_core::{Error, ErrorKind};

#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct IcebergError {
    pub reason: String,
    pub kind: ErrorKind,
}

impl IcebergError {
    pub fn fatal(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), kind: ErrorKind::Fatal }
    }

    pub fn retriable(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), kind: ErrorKind::Retriable }
    }

    /// An error of the `iceberg` crate met while `context`.
    pub fn from_iceberg(context: &str, e: &iceberg::Error) -> Self {
        use iceberg::ErrorKind as K;
        let text = format!("{e:#}");
        let has = |marks: &[&str]| marks.iter().any(|m| text.contains(m));
        let kind = match e.kind() {
            // S3 error codes and database refusals no retry fixes.
            _ if has(&[
                "NoSuchBucket",
                "AccessDenied",
                "InvalidAccessKeyId",
                "SignatureDoesNotMatch",
                "PermissionDenied",
                "password authentication failed",
                "permission denied",
                "unable to open database file",
            ]) =>
            {
                ErrorKind::Fatal
            }
            // A member that created the same namespace or table first: a restart finds it.
            K::CatalogCommitConflicts | K::NamespaceAlreadyExists | K::TableAlreadyExists => {
                ErrorKind::Retriable
            }
            _ if e.retryable() => ErrorKind::Retriable,
            // The crate reports I/O and catalog-connection failures as Unexpected.
            K::Unexpected => ErrorKind::Retriable,
            _ => ErrorKind::Fatal,
        };
        Self { reason: format!("{context}: {text}"), kind }
    }
}

impl From<sluice_s3::S3Error> for IcebergError {
    fn from(e: sluice_s3::S3Error) -> Self {
        Self { reason: e.reason, kind: e.kind }
    }
}

impl From<IcebergError> for Error {
    fn from(e: IcebergError) -> Self {
        Error::with_kind("iceberg", e.kind, e.reason)
    }
}
