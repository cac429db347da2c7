//! Errors of the Kafka connector, classified where they enter: librdkafka's transport, timeout
//! and "broker busy" codes are retriable; authentication, authorization, invalid config and
//! message-too-large are fatal.

use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use sluice_core::{Error, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("invalid Kafka client configuration: {0}")]
    Config(String),
    #[error("Kafka {context}: {reason}")]
    Client { context: &'static str, reason: String, kind: ErrorKind },
}

impl KafkaError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            KafkaError::Config(_) => ErrorKind::Fatal,
            KafkaError::Client { kind, .. } => *kind,
        }
    }

    pub fn client(context: &'static str, e: &RdError) -> Self {
        KafkaError::Client { context, reason: e.to_string(), kind: classify(e) }
    }
}

impl From<KafkaError> for Error {
    fn from(e: KafkaError) -> Self {
        match e.kind() {
            ErrorKind::Retriable => Error::retriable("kafka", e.to_string()),
            ErrorKind::Fatal => Error::fatal("kafka", e.to_string()),
        }
    }
}

pub fn classify(e: &RdError) -> ErrorKind {
    match e.rdkafka_error_code() {
        Some(
            RDKafkaErrorCode::Authentication
            | RDKafkaErrorCode::SaslAuthenticationFailed
            | RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::GroupAuthorizationFailed
            | RDKafkaErrorCode::ClusterAuthorizationFailed
            | RDKafkaErrorCode::TransactionalIdAuthorizationFailed
            | RDKafkaErrorCode::MessageSizeTooLarge
            | RDKafkaErrorCode::InvalidConfig
            | RDKafkaErrorCode::InvalidArgument
            | RDKafkaErrorCode::Fatal
            | RDKafkaErrorCode::FencedInstanceId
            | RDKafkaErrorCode::UnknownTopicOrPartition,
        ) => ErrorKind::Fatal,
        Some(_) => ErrorKind::Retriable,
        None => match e {
            RdError::ClientConfig(..) | RdError::ClientCreation(_) => ErrorKind::Fatal,
            _ => ErrorKind::Retriable,
        },
    }
}
