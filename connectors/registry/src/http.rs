//! The Confluent-compatible HTTP API: routes, content types, and request parsing.
//!
//! [`router`] maps each Confluent endpoint to a handler in [`crate::endpoints`] and wraps them
//! all in one middleware that (a) refuses request bodies in a content type other than the
//! Schema Registry and JSON ones with 415, (b) labels every response
//! `application/vnd.schemaregistry.v1+json`, (c) turns axum's bare 405 into a Confluent error
//! body, and (d) records the request metrics. Unknown paths answer Confluent's
//! `{"error_code":404,...}`. Query flags are read the way Confluent's Java server reads them:
//! `true` in any letter case is true, anything else false (the Python client sends `True`).
//! Failures inside handlers are [`RegistryError`]s, rendered by its `IntoResponse`.

use std::collections::HashMap;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::avro::ParsedSchema;
use crate::endpoints as ep;
use crate::error::RegistryError;
use crate::metrics as m;
use crate::Registry;

/// The content type of every response.
pub const RESPONSE_CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// Request body content types accepted (a missing header is accepted too).
const ACCEPTED_CONTENT_TYPES: &[&str] = &[
    "application/vnd.schemaregistry.v1+json",
    "application/vnd.schemaregistry+json",
    "application/json",
    "application/octet-stream",
];

/// The registry's HTTP API, ready to serve or to nest into a larger router.
pub fn router(registry: Registry) -> Router {
    Router::new()
        .route("/", get(ep::root))
        .route("/schemas/types", get(ep::schema_types))
        .route("/schemas/ids/{id}", get(ep::schema_by_id))
        .route("/schemas/ids/{id}/schema", get(ep::raw_schema_by_id))
        .route("/schemas/ids/{id}/versions", get(ep::versions_by_id))
        .route("/schemas/ids/{id}/subjects", get(ep::subjects_by_id))
        .route("/subjects", get(ep::list_subjects))
        .route("/subjects/{subject}", post(ep::lookup).delete(ep::delete_subject))
        .route("/subjects/{subject}/versions", get(ep::list_versions).post(ep::register))
        .route("/subjects/{subject}/versions/{version}", get(ep::get_version).delete(ep::delete_version))
        .route("/subjects/{subject}/versions/{version}/schema", get(ep::get_version_schema))
        .route("/compatibility/subjects/{subject}/versions", post(ep::compatibility_all))
        .route("/compatibility/subjects/{subject}/versions/{version}", post(ep::compatibility_version))
        .route(
            "/config",
            get(ep::get_global_config).put(ep::put_global_config).delete(ep::delete_global_config),
        )
        .route(
            "/config/{subject}",
            get(ep::get_subject_config).put(ep::put_subject_config).delete(ep::delete_subject_config),
        )
        .fallback(not_found)
        .layer(middleware::from_fn(observe))
        .with_state(registry)
}

async fn not_found() -> RegistryError {
    RegistryError::NoSuchEndpoint
}

/// Content-type check, response content type, Confluent 405 body, request metrics.
async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().clone();
    let mut response = match unsupported_content_type(&request) {
        Some(err) => err.into_response(),
        None => next.run(request).await,
    };
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        let body = serde_json::json!({"error_code": 405, "message": "HTTP 405 Method Not Allowed"});
        response = (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response();
    }
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(RESPONSE_CONTENT_TYPE));
    let status = match response.status().as_u16() {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    let method = method.as_str().to_owned();
    metrics::counter!(m::REQUESTS_TOTAL, "endpoint" => endpoint.clone(), "method" => method.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(m::REQUEST_DURATION_SECONDS, "endpoint" => endpoint, "method" => method)
        .record(started.elapsed().as_secs_f64());
    response
}

fn unsupported_content_type(request: &Request) -> Option<RegistryError> {
    if !matches!(*request.method(), Method::POST | Method::PUT) {
        return None;
    }
    let value = request.headers().get(header::CONTENT_TYPE)?;
    let media =
        value.to_str().unwrap_or_default().split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if ACCEPTED_CONTENT_TYPES.contains(&media.as_str()) {
        None
    } else {
        Some(RegistryError::UnsupportedMediaType(media))
    }
}

/// Query parameters, read leniently as Confluent does.
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    /// `?name=true` (any letter case).
    pub fn flag(&self, name: &str) -> bool {
        self.0.get(name).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Applies `offset` and `limit` (a negative or absent limit means all).
    pub fn page<T>(&self, items: Vec<T>) -> Vec<T> {
        let offset = self.get("offset").and_then(|o| o.trim().parse::<usize>().ok()).unwrap_or(0);
        let limit = self
            .get("limit")
            .and_then(|l| l.trim().parse::<i64>().ok())
            .and_then(|l| usize::try_from(l).ok())
            .unwrap_or(usize::MAX);
        items.into_iter().skip(offset).take(limit).collect()
    }
}

fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, RegistryError> {
    serde_json::from_slice(body).map_err(|e| RegistryError::BadRequest(e.to_string()))
}

/// The body of register, lookup and compatibility requests.
#[derive(Debug, Deserialize)]
struct SchemaRequest {
    schema: Option<String>,
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
    references: Option<Vec<serde_json::Value>>,
}

/// Parses a schema request body: Avro only, no references.
pub(crate) fn parse_schema_request(body: &[u8]) -> Result<ParsedSchema, RegistryError> {
    let request: SchemaRequest = parse_body(body)?;
    if let Some(kind) = &request.schema_type {
        if !kind.eq_ignore_ascii_case("AVRO") {
            return Err(RegistryError::InvalidSchema(format!(
                "schema type {kind} is not supported: this registry stores Avro schemas only"
            )));
        }
    }
    if request.references.as_ref().is_some_and(|r| !r.is_empty()) {
        return Err(RegistryError::InvalidSchema(
            "schema references are not supported by this registry yet".to_owned(),
        ));
    }
    let text = request.schema.ok_or_else(|| RegistryError::InvalidSchema("Empty schema".to_owned()))?;
    ParsedSchema::parse(&text)
}

/// The body of `PUT /config[/{s}]`.
#[derive(Debug, Deserialize)]
struct ConfigRequest {
    compatibility: Option<String>,
    #[serde(rename = "compatibilityLevel")]
    compatibility_level: Option<String>,
}

/// The compatibility level named in a config body.
pub(crate) fn parse_config_request(body: &[u8]) -> Result<crate::avro::Level, RegistryError> {
    let request: ConfigRequest = parse_body(body)?;
    let name = request.compatibility.or(request.compatibility_level).unwrap_or_default();
    name.parse()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_pages() {
        let p = Params(HashMap::from([
            ("deleted".to_owned(), "True".to_owned()),
            ("permanent".to_owned(), "yes".to_owned()),
            ("offset".to_owned(), "1".to_owned()),
            ("limit".to_owned(), "-1".to_owned()),
        ]));
        assert!(p.flag("deleted"));
        assert!(!p.flag("permanent"));
        assert!(!p.flag("absent"));
        assert_eq!(p.page(vec![1, 2, 3]), vec![2, 3]);
        let q = Params(HashMap::from([("limit".to_owned(), "1".to_owned())]));
        assert_eq!(q.page(vec![1, 2, 3]), vec![1]);
    }

    #[test]
    fn schema_requests() {
        assert!(
            parse_schema_request(br#"{"schema":"\"string\"","schemaType":"AVRO","references":[]}"#).is_ok()
        );
        let code = |b: &[u8]| parse_schema_request(b).unwrap_err().error_code();
        assert_eq!(code(br#"{"schema":"\"string\"","schemaType":"PROTOBUF"}"#), 42201);
        assert_eq!(
            code(br#"{"schema":"\"string\"","references":[{"name":"x","subject":"y","version":1}]}"#),
            42201
        );
        assert_eq!(code(br#"{"schema":"{nope"}"#), 42201);
        assert_eq!(code(br#"{}"#), 42201);
        assert_eq!(code(b"not json"), 400);
    }

    #[test]
    fn config_requests() {
        assert_eq!(parse_config_request(br#"{"compatibility":"full"}"#).unwrap(), crate::avro::Level::Full);
        assert_eq!(parse_config_request(br#"{"compatibility":"SIDEWAYS"}"#).unwrap_err().error_code(), 42203);
        assert_eq!(parse_config_request(br#"{}"#).unwrap_err().error_code(), 42203);
    }
}
