//! Errors of the Avro layer. A value that does not fit its column's type is a poison record
//! (fatal: the policy decides whether to stop or dead-letter); registry I/O failures are
//! retriable; a registry refusal (incompatible or invalid schema, unknown id) is fatal. On the
//! decoding side, bytes that are not Confluent-framed, a record that does not match its schema
//! and a schema that is not a change-event envelope are fatal too (poison records).

use sluice_core::{Error, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum AvroError {
    #[error("column {column} of {table}: {reason}")]
    Value { table: String, column: String, reason: String },
    #[error("generated schema is invalid: {0}")]
    Schema(String),
    #[error("schema registry at {url}: {reason}")]
    RegistryUnavailable { url: String, reason: String },
    #[error("schema registry refused subject {subject}: HTTP {status}, error_code {error_code}: {message}")]
    RegistryRefused { subject: String, status: u16, error_code: i64, message: String },
    #[error("not a Confluent-framed Avro message: {0}")]
    Framing(String),
    #[error("record on topic {topic} does not decode with its schema (id {schema_id}): {reason}")]
    Decode { topic: String, schema_id: u32, reason: String },
    #[error("schema id {schema_id} cannot be decoded into change events: {reason}")]
    UnsupportedSchema { schema_id: u32, reason: String },
}

impl AvroError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            AvroError::RegistryUnavailable { .. } => ErrorKind::Retriable,
            AvroError::RegistryRefused { status, .. } if *status >= 500 => ErrorKind::Retriable,
            _ => ErrorKind::Fatal,
        }
    }
}

impl From<AvroError> for Error {
    fn from(e: AvroError) -> Self {
        match e.kind() {
            ErrorKind::Retriable => Error::retriable("avro", e.to_string()),
            ErrorKind::Fatal => Error::fatal("avro", e.to_string()),
        }
    }
}
