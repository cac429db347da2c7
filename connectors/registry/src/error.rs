//! The registry's one error type, and how each error reaches an HTTP client.
//!
//! Every failure, whether it is a client mistake answered over HTTP (subject not found, invalid
//! schema, incompatible schema) or an operator-facing one at start-up (the broker is unreachable,
//! the topic has the wrong shape), is a [`RegistryError`]. Each variant carries the Confluent
//! error code that clients such as `confluent-kafka`'s `SchemaRegistryClient` switch on, and the
//! HTTP status that goes with it; [`RegistryError::into_response`] renders the Confluent body
//! `{"error_code": N, "message": "..."}`. Messages follow Confluent's wording where clients or
//! operators may recognise it. Store failures are split into [`RegistryError::is_transient`]
//! (retry later: timeouts, broker unreachable) and definite ones (fix the configuration).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rdkafka::error::KafkaError;

/// Everything that can go wrong in the registry, with the Confluent error code of each.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// 40401: the subject has no version (or only soft-deleted ones, unless asked for).
    #[error("Subject '{0}' not found.")]
    SubjectNotFound(String),
    /// 40402: the subject exists but not this version.
    #[error("Version {0} not found.")]
    VersionNotFound(String),
    /// 40403: no schema with this id, or the schema is not registered under the subject.
    #[error("{}", schema_not_found(*.0))]
    SchemaNotFound(Option<i32>),
    /// 40404: a soft delete of a subject whose versions are all soft-deleted already.
    #[error("Subject '{0}' was soft deleted.Set permanent=true to delete permanently")]
    SubjectSoftDeleted(String),
    /// 40405: a permanent delete of a subject that still has live versions.
    #[error("Subject '{0}' was not deleted first before being permanently deleted")]
    SubjectNotSoftDeleted(String),
    /// 40406: a soft delete of a version that is soft-deleted already.
    #[error(
        "Subject '{subject}' Version {version} was soft deleted.Set permanent=true to delete permanently"
    )]
    VersionSoftDeleted { subject: String, version: i32 },
    /// 40407: a permanent delete of a version that was not soft-deleted first.
    #[error("Subject '{subject}' Version {version} was not deleted first before being permanently deleted")]
    VersionNotSoftDeleted { subject: String, version: i32 },
    /// 40408: `GET /config/{subject}` without a subject-level setting nor `defaultToGlobal`.
    #[error("Subject '{0}' does not have subject-level compatibility configured")]
    SubjectCompatibilityNotConfigured(String),
    /// 409: the schema breaks the subject's compatibility level; nothing was stored.
    #[error("Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{}]", .messages.join(", "))]
    Incompatible { subject: String, messages: Vec<String> },
    /// 42201: the schema does not parse, is empty, is not Avro, or uses references.
    #[error("Invalid schema: {0}")]
    InvalidSchema(String),
    /// 42202: a version that is neither a positive 32-bit integer nor `latest`.
    #[error("The specified version '{0}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"")]
    InvalidVersion(String),
    /// 42203: a compatibility level that is not one of the seven Confluent names.
    #[error("Invalid compatibility level '{0}'. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")]
    InvalidCompatibility(String),
    /// 400: a request body that is not the JSON object the endpoint expects.
    #[error("Malformed request body: {0}")]
    BadRequest(String),
    /// 404 with error code 404: no such endpoint (Confluent answers unknown paths this way).
    #[error("HTTP 404 Not Found")]
    NoSuchEndpoint,
    /// 415: a request body in a content type the registry does not accept.
    #[error("HTTP 415 Unsupported Media Type: {0}")]
    UnsupportedMediaType(String),
    /// 50001: the Kafka topic could not be written or read; the request may be retried.
    #[error("Error in the backend data store: {0}")]
    Store(String),
    /// 50002: the topic did not acknowledge or replay a write within the operation timeout.
    #[error("Operation timed out: {0}")]
    Timeout(String),
    /// A Kafka client call failed (start-up, topic creation, producer set-up).
    #[error("{context}: {source}")]
    Kafka {
        context: String,
        #[source]
        source: KafkaError,
    },
    /// The configuration or the existing topic cannot work (e.g. a topic with 3 partitions).
    #[error("registry configuration: {0}")]
    Config(String),
    /// The listen address could not be bound, or the HTTP server failed.
    #[error("registry HTTP server: {0}")]
    Io(#[from] std::io::Error),
}

fn schema_not_found(id: Option<i32>) -> String {
    match id {
        Some(id) => format!("Schema {id} not found"),
        None => "Schema not found".to_owned(),
    }
}

impl RegistryError {
    /// The Confluent `error_code` for this error (e.g. 40401, 42201, 50001).
    pub fn error_code(&self) -> u32 {
        match self {
            Self::SubjectNotFound(_) => 40401,
            Self::VersionNotFound(_) => 40402,
            Self::SchemaNotFound(_) => 40403,
            Self::SubjectSoftDeleted(_) => 40404,
            Self::SubjectNotSoftDeleted(_) => 40405,
            Self::VersionSoftDeleted { .. } => 40406,
            Self::VersionNotSoftDeleted { .. } => 40407,
            Self::SubjectCompatibilityNotConfigured(_) => 40408,
            Self::Incompatible { .. } => 409,
            Self::InvalidSchema(_) => 42201,
            Self::InvalidVersion(_) => 42202,
            Self::InvalidCompatibility(_) => 42203,
            Self::BadRequest(_) => 400,
            Self::NoSuchEndpoint => 404,
            Self::UnsupportedMediaType(_) => 415,
            Self::Timeout(_) => 50002,
            Self::Store(_) | Self::Kafka { .. } | Self::Config(_) | Self::Io(_) => 50001,
        }
    }

    /// The HTTP status that carries this error: the first three digits of the error code.
    pub fn status(&self) -> StatusCode {
        let code = self.error_code();
        let status = if code >= 1000 { code / 100 } else { code };
        u16::try_from(status)
            .ok()
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// True when retrying the same operation later may succeed (a timeout, a broker that is
    /// down or busy); false when the request or the configuration must change first.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Store(_) | Self::Timeout(_) => true,
            Self::Kafka { source, .. } => !matches!(
                source.rdkafka_error_code(),
                Some(
                    rdkafka::types::RDKafkaErrorCode::TopicAuthorizationFailed
                        | rdkafka::types::RDKafkaErrorCode::ClusterAuthorizationFailed
                        | rdkafka::types::RDKafkaErrorCode::TransactionalIdAuthorizationFailed
                        | rdkafka::types::RDKafkaErrorCode::SaslAuthenticationFailed
                        | rdkafka::types::RDKafkaErrorCode::InvalidConfig
                )
            ),
            _ => false,
        }
    }

    pub(crate) fn kafka(context: impl Into<String>, source: KafkaError) -> Self {
        Self::Kafka { context: context.into(), source }
    }
}

/// The Confluent error body.
#[derive(serde::Serialize)]
struct ErrorBody {
    error_code: u32,
    message: String,
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "registry request failed");
        }
        let body = ErrorBody { error_code: self.error_code(), message: self.to_string() };
        (status, axum::Json(body)).into_response()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn status_is_the_error_code_prefix() {
        assert_eq!(RegistryError::SubjectNotFound("s".into()).status(), StatusCode::NOT_FOUND);
        assert_eq!(RegistryError::InvalidSchema("x".into()).status(), StatusCode::UNPROCESSABLE_ENTITY);
        let incompatible = RegistryError::Incompatible { subject: "s".into(), messages: vec![] };
        assert_eq!(incompatible.status(), StatusCode::CONFLICT);
        assert_eq!(incompatible.error_code(), 409);
        assert_eq!(RegistryError::Store("x".into()).status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            RegistryError::UnsupportedMediaType("text/plain".into()).status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }

    #[test]
    fn messages_follow_confluent_wording() {
        assert_eq!(RegistryError::SchemaNotFound(Some(7)).to_string(), "Schema 7 not found");
        assert_eq!(RegistryError::SchemaNotFound(None).to_string(), "Schema not found");
        assert_eq!(
            RegistryError::SubjectNotFound("a-value".into()).to_string(),
            "Subject 'a-value' not found."
        );
    }
}
