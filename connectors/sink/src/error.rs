//! The runtime's error: what failed, classified where it entered. The broker, the registry and
//! the target classify their own errors (`kind()`); a transaction topic that cannot give a commit
//! order is a configuration error, fatal.

use sluice_core::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The broker (consumer, offset commit, dead-letter producer).
    #[error("{context}: {source}")]
    Kafka { context: &'static str, source: sluice_kafka::KafkaError },
    /// A record that does not decode (or a registry that cannot be reached).
    #[error("cannot decode {record}: {source}")]
    Decode { record: String, source: sluice_avro::AvroError },
    /// The target refused or failed.
    #[error("{context}: {source}")]
    Target { context: &'static str, source: sluice_core::Error },
    /// Transaction-consistent mode cannot order the transaction topic.
    #[error(transparent)]
    Transactions(#[from] crate::txn::AssemblyError),
    /// Wrong settings (unknown `type`, unknown or mistyped target keys).
    #[error("{0}")]
    Config(String),
    /// A preflight check of the target failed at start.
    #[error("preflight check failed: {0}")]
    Preflight(Box<sluice_core::Check>),
}

impl RuntimeError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            RuntimeError::Kafka { source, .. } => source.kind(),
            RuntimeError::Decode { source, .. } => source.kind(),
            RuntimeError::Target { source, .. } => source.kind(),
            RuntimeError::Transactions(_) | RuntimeError::Config(_) => ErrorKind::Fatal,
            RuntimeError::Preflight(c) if crate::target::check_is_transient(c) => ErrorKind::Retriable,
            RuntimeError::Preflight(_) => ErrorKind::Fatal,
        }
    }

    pub fn is_retriable(&self) -> bool {
        self.kind() == ErrorKind::Retriable
    }

    pub(crate) fn kafka(context: &'static str) -> impl FnOnce(sluice_kafka::KafkaError) -> Self {
        move |source| RuntimeError::Kafka { context, source }
    }

    pub(crate) fn target(context: &'static str) -> impl FnOnce(sluice_core::Error) -> Self {
        move |source| RuntimeError::Target { context, source }
    }
}
