//! A Confluent-compatible schema registry client with a cache keyed by subject and the schema's
//! full JSON text.
//!
//! The key is deliberately not the Avro Parsing Canonical Form fingerprint: PCF drops
//! `connect.name`, `connect.parameters` and logical types, so a column that changes from plain
//! `string` to `io.debezium.data.Json`, or an enum that gains a value, would hit the old id.
//!
//! Invariants: a cached id is returned only for the exact schema it was registered for, so an evolved table always goes to the registry and gets its own id, while
//! old ids stay valid for old events. Registration is idempotent on the server (the same schema
//! under the same subject returns the same id), so a retry after a lost response is safe.
//! Transport failures and 5xx answers are retriable; 4xx refusals are fatal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use apache_avro::Schema;
use serde::Deserialize;
use serde_json::Value as Json;

use crate::error::AvroError;

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

#[derive(Debug, Clone)]
pub struct RegistryClient {
    base: String,
    http: reqwest::Client,
    basic_auth: Option<(String, String)>,
    ids: Arc<Mutex<HashMap<(String, String), u32>>>,
    schemas: Arc<Mutex<HashMap<u32, Arc<Schema>>>>,
}

#[derive(Deserialize)]
struct IdResponse {
    id: u32,
}

#[derive(Deserialize)]
struct SchemaResponse {
    schema: String,
    /// `AVRO` when absent (the registry omits it for Avro).
    #[serde(rename = "schemaType", default)]
    schema_type: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error_code: i64,
    message: String,
}

impl RegistryClient {
    pub fn new(base_url: &str) -> Result<Self, AvroError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| AvroError::RegistryUnavailable { url: base_url.into(), reason: chain(&e) })?;
        Ok(Self {
            base: base_url.trim_end_matches('/').to_owned(),
            http,
            basic_auth: None,
            ids: Arc::default(),
            schemas: Arc::default(),
        })
    }

    /// Use HTTP basic authentication (Confluent Cloud API keys, Karapace with auth).
    pub fn with_basic_auth(mut self, user: &str, password: &str) -> Self {
        self.basic_auth = Some((user.to_owned(), password.to_owned()));
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Register `schema` under `subject` (or find it if already there); returns its global id.
    pub async fn register(&self, subject: &str, schema: &Json) -> Result<u32, AvroError> {
        let parsed = Schema::parse(schema).map_err(|e| AvroError::Schema(e.to_string()))?;
        let key = (subject.to_owned(), schema.to_string());
        if let Some(id) = self.ids.lock().unwrap_or_else(PoisonError::into_inner).get(&key) {
            return Ok(*id);
        }
        let url = format!("{}/subjects/{}/versions", self.base, urlencode(subject));
        let body = serde_json::json!({ "schema": schema.to_string() });
        let resp = self.send(self.http.post(&url).json(&body)).await?;
        let id = self.parse::<IdResponse>(subject, resp).await?.id;
        self.ids.lock().unwrap_or_else(PoisonError::into_inner).insert(key, id);
        self.schemas.lock().unwrap_or_else(PoisonError::into_inner).insert(id, Arc::new(parsed));
        Ok(id)
    }

    /// The schema with global id `id` (cached forever: ids are immutable).
    pub async fn schema_by_id(&self, id: u32) -> Result<Arc<Schema>, AvroError> {
        if let Some(s) = self.schemas.lock().unwrap_or_else(PoisonError::into_inner).get(&id) {
            return Ok(s.clone());
        }
        let url = format!("{}/schemas/ids/{id}", self.base);
        let resp = self.send(self.http.get(&url)).await?;
        let text = self.parse::<SchemaResponse>(&format!("id {id}"), resp).await?.schema;
        let schema = Arc::new(Schema::parse_str(&text).map_err(|e| AvroError::Schema(e.to_string()))?);
        self.schemas.lock().unwrap_or_else(PoisonError::into_inner).insert(id, schema.clone());
        Ok(schema)
    }

    /// The schema with global id `id` as its registered JSON, with every attribute kept
    /// (`connect.name`, `connect.parameters`, `logicalType` on primitives), which the parsed
    /// [`Schema`] of [`Self::schema_by_id`] drops. Not cached: the decoder compiles and caches
    /// what it needs. Unknown id: `RegistryRefused` with status 404 (fatal); a non-Avro schema
    /// or unparsable text: `UnsupportedSchema` (fatal).
    pub async fn schema_json_by_id(&self, id: u32) -> Result<Json, AvroError> {
        let url = format!("{}/schemas/ids/{id}", self.base);
        let resp = self.send(self.http.get(&url)).await?;
        let r = self.parse::<SchemaResponse>(&format!("id {id}"), resp).await?;
        if let Some(t) = r.schema_type.filter(|t| !t.eq_ignore_ascii_case("AVRO")) {
            return Err(AvroError::UnsupportedSchema {
                schema_id: id,
                reason: format!("a {t} schema, not Avro"),
            });
        }
        serde_json::from_str(&r.schema).map_err(|e| AvroError::UnsupportedSchema {
            schema_id: id,
            reason: format!("its text is not valid JSON ({e})"),
        })
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, AvroError> {
        let mut req = req.header(reqwest::header::ACCEPT, CONTENT_TYPE);
        if let Some((u, p)) = &self.basic_auth {
            req = req.basic_auth(u, Some(p));
        }
        req.send()
            .await
            .map_err(|e| AvroError::RegistryUnavailable { url: self.base.clone(), reason: chain(&e) })
    }

    async fn parse<T: for<'de> Deserialize<'de>>(
        &self,
        subject: &str,
        resp: reqwest::Response,
    ) -> Result<T, AvroError> {
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| AvroError::RegistryUnavailable { url: self.base.clone(), reason: chain(&e) })?;
        if status.is_success() {
            return serde_json::from_str(&text).map_err(|e| AvroError::RegistryUnavailable {
                url: self.base.clone(),
                reason: format!("unexpected response ({e})"),
            });
        }
        let (error_code, message) = match serde_json::from_str::<ErrorBody>(&text) {
            Ok(b) => (b.error_code, b.message),
            Err(_) => (i64::from(status.as_u16()), text.chars().take(200).collect()),
        };
        Err(AvroError::RegistryRefused {
            subject: subject.to_owned(),
            status: status.as_u16(),
            error_code,
            message,
        })
    }
}

fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An error with its causes (reqwest's own message hides whether the connection was refused,
/// reset or timed out).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_url_encoded() {
        assert_eq!(urlencode("a.b-c value"), "a.b-c%20value");
        assert_eq!(urlencode("x/y"), "x%2Fy");
    }
}
