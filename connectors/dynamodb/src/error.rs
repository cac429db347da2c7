//! Errors of the DynamoDB target, classified where they enter: network failures, timeouts,
//! throttling, server errors and tables still being created are retriable; authentication,
//! authorization, validation (an item over 400 KB, a bad key) and settings are fatal.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use sluice_core::{Error, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum DynamoError {
    #[error("{context}: {reason}")]
    Request { context: String, reason: String, kind: ErrorKind },
    #[error("{reason}")]
    Target { reason: String, kind: ErrorKind },
}

/// Error codes that say "try again later".
const RETRIABLE_CODES: [&str; 11] = [
    "InternalFailure",
    "UnknownError",
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "LimitExceededException",
    "ResourceInUseException",
    "TransactionConflictException",
    "TransactionInProgressException",
];

impl DynamoError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            DynamoError::Request { kind, .. } | DynamoError::Target { kind, .. } => *kind,
        }
    }

    pub(crate) fn request<E, R>(context: impl Into<String>, e: &SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let (kind, reason) = sluice_aws::classify(e, &RETRIABLE_CODES);
        DynamoError::Request { context: context.into(), reason, kind }
    }

    pub(crate) fn fatal(reason: impl Into<String>) -> Self {
        DynamoError::Target { reason: reason.into(), kind: ErrorKind::Fatal }
    }

    pub(crate) fn retriable(reason: impl Into<String>) -> Self {
        DynamoError::Target { reason: reason.into(), kind: ErrorKind::Retriable }
    }
}

impl From<DynamoError> for Error {
    fn from(e: DynamoError) -> Self {
        Error::with_kind("dynamodb", e.kind(), e.to_string())
    }
}
