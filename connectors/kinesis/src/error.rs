//! Errors of the Kinesis broker, classified where they enter: network failures, timeouts,
//! throttling (`ProvisionedThroughputExceededException`, `LimitExceededException`), server errors
//! and streams still being created are retriable; authentication, authorization, validation and
//! records Kinesis cannot hold (over 1 MiB, a key too long for a partition key) are fatal.

use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};
use sluice_core::{Error, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum KinesisError {
    #[error("Kinesis {context}: {reason}")]
    Request { context: String, reason: String, kind: ErrorKind },
    #[error(
        "a record for stream {stream} is {bytes} bytes (data + partition key); Kinesis takes at \
         most 1 MiB per record — nothing was acknowledged: shrink the row (e.g. exclude the \
         column) or publish this table to Kafka"
    )]
    RecordTooLarge { stream: String, bytes: usize },
    #[error(
        "a key for stream {stream} is {bytes} bytes; its base64 partition key would exceed \
         Kinesis's 256 characters (keys up to 192 bytes fit) — nothing was acknowledged"
    )]
    KeyTooLong { stream: String, bytes: usize },
    #[error("Kinesis: {reason}")]
    Other { reason: String, kind: ErrorKind },
}

/// Error codes that say "try again later".
pub const RETRIABLE_CODES: [&str; 8] = [
    "InternalFailure",
    "ServiceUnavailable",
    "ProvisionedThroughputExceededException",
    "LimitExceededException",
    "ResourceInUseException",
    "KMSThrottlingException",
    "ThrottlingException",
    "InternalServerError",
];

impl KinesisError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            KinesisError::Request { kind, .. } | KinesisError::Other { kind, .. } => *kind,
            KinesisError::RecordTooLarge { .. } | KinesisError::KeyTooLong { .. } => ErrorKind::Fatal,
        }
    }

    pub(crate) fn request<E, R>(context: impl Into<String>, e: &SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let (kind, reason) = sluice_aws::classify(e, &RETRIABLE_CODES);
        KinesisError::Request { context: context.into(), reason, kind }
    }

    pub(crate) fn fatal(reason: impl Into<String>) -> Self {
        KinesisError::Other { reason: reason.into(), kind: ErrorKind::Fatal }
    }

    pub(crate) fn retriable(reason: impl Into<String>) -> Self {
        KinesisError::Other { reason: reason.into(), kind: ErrorKind::Retriable }
    }
}

impl From<KinesisError> for Error {
    fn from(e: KinesisError) -> Self {
        Error::with_kind("kinesis", e.kind(), e.to_string())
    }
}
