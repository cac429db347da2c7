//! The HTTP client of the target: one `reqwest` connection pool, basic authentication, an extra
//! CA, and Elasticsearch 8's compatibility media types when asked for. Every request returns the
//! status and the parsed JSON body; errors are classified here ([`crate::error`]).

use std::time::Duration;

use reqwest::header::{HeaderValue, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::Value as Json;

use crate::config::SearchEndpoint;
use crate::error::SearchError;

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    auth: Option<(String, String)>,
    json_type: HeaderValue,
    ndjson_type: HeaderValue,
}

impl Client {
    pub fn new(ep: &SearchEndpoint) -> Result<Self, SearchError> {
        let timeout = Duration::from_secs(ep.connect_timeout_secs.max(1));
        let mut builder = reqwest::Client::builder().connect_timeout(timeout).timeout(timeout * 6);
        if let Some(path) = &ep.ca_file {
            let pem = std::fs::read(path).map_err(|e| SearchError::fatal(format!("ca_file {path}: {e}")))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| SearchError::fatal(format!("ca_file {path}: not a PEM certificate: {e}")))?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder.build().map_err(|e| SearchError::fatal(format!("HTTP client: {e}")))?;
        let (json_type, ndjson_type) = if ep.elasticsearch {
            (
                HeaderValue::from_static("application/vnd.elasticsearch+json; compatible-with=8"),
                HeaderValue::from_static("application/vnd.elasticsearch+x-ndjson; compatible-with=8"),
            )
        } else {
            (HeaderValue::from_static("application/json"), HeaderValue::from_static("application/x-ndjson"))
        };
        let auth = ep.username.as_ref().map(|u| (u.clone(), ep.password.expose().to_owned()));
        Ok(Self { http, base: ep.url.trim_end_matches('/').to_owned(), auth, json_type, ndjson_type })
    }

    /// Send `method path` with an optional JSON body; `(status, body)` (an empty or non-JSON
    /// body reads as `null`). Transport failures are retriable errors.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Json>,
        context: &str,
    ) -> Result<(StatusCode, Json), SearchError> {
        let body = body.map(|b| (self.json_type.clone(), b.to_string().into_bytes()));
        self.send(method, path, body, context).await
    }

    /// POST an NDJSON body (`_bulk`).
    pub async fn ndjson(
        &self,
        path: &str,
        body: Vec<u8>,
        context: &str,
    ) -> Result<(StatusCode, Json), SearchError> {
        self.send(Method::POST, path, Some((self.ndjson_type.clone(), body)), context).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(HeaderValue, Vec<u8>)>,
        context: &str,
    ) -> Result<(StatusCode, Json), SearchError> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("accept", self.json_type.clone());
        if let Some((user, password)) = &self.auth {
            req = req.basic_auth(user, Some(password));
        }
        if let Some((ty, bytes)) = body {
            req = req.header(CONTENT_TYPE, ty).body(bytes);
        }
        let resp = req.send().await.map_err(|e| SearchError::transport(context, &e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| SearchError::transport(context, &e))?;
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(Json::Null)))
    }

    /// [`Self::call`], with any status outside 2xx (and `allow`) turned into a classified error.
    pub async fn expect(
        &self,
        method: Method,
        path: &str,
        body: Option<&Json>,
        allow: &[u16],
        context: &str,
    ) -> Result<(StatusCode, Json), SearchError> {
        let (status, json) = self.call(method, path, body, context).await?;
        if status.is_success() || allow.contains(&status.as_u16()) {
            Ok((status, json))
        } else {
            Err(SearchError::status(context, status.as_u16(), reason(&json)))
        }
    }
}

/// `type: reason` of an error body (`{"error": {"type", "reason"}}`, or a bulk item's `error`).
pub fn reason(body: &Json) -> String {
    let e = body.get("error").unwrap_or(body);
    match (e.get("type").and_then(Json::as_str), e.get("reason").and_then(Json::as_str)) {
        (Some(t), Some(r)) => format!("{t}: {r}"),
        _ if e.is_null() => "no response body".into(),
        _ => e.to_string(),
    }
}
