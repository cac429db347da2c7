//! Shared harness for the registry's integration tests: the testbed's broker and Python, a
//! fresh registry topic per test, and a small HTTP client that returns status and JSON body.
//!
//! The broker and the Python interpreter come from the testbed contract: `SLUICE_TESTBED`
//! names a JSON file written by `scripts/testbed` (`{"kafka":{"bootstrap":...},"python":...}`).
//! Without it the tests fail at once, saying to run them through `make test`. Every test uses
//! its own topic (random suffix), so tests run in parallel against one broker.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use sluice_registry::{RegistryConfig, RunningRegistry};

pub struct Testbed {
    pub bootstrap: String,
    pub python: PathBuf,
}

/// Reads the testbed file named by `SLUICE_TESTBED`.
pub fn testbed() -> Testbed {
    let path = std::env::var("SLUICE_TESTBED").unwrap_or_else(|_| {
        panic!(
            "SLUICE_TESTBED is not set: these integration tests need the real Kafka broker and \
             Python client that scripts/testbed starts. Run them via `make test`."
        )
    });
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read testbed file {path} (SLUICE_TESTBED): {e}"));
    let json: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("testbed file {path} is not JSON: {e}"));
    let bootstrap = json["kafka"]["bootstrap"]
        .as_str()
        .unwrap_or_else(|| panic!("testbed file {path} has no kafka.bootstrap"))
        .to_owned();
    let python =
        json["python"].as_str().unwrap_or_else(|| panic!("testbed file {path} has no python")).into();
    Testbed { bootstrap, python }
}

/// A registry topic name no other test uses.
pub fn unique_topic(test: &str) -> String {
    format!("_schemas-{test}-{:016x}", rand::random::<u64>())
}

pub fn config(topic: &str) -> RegistryConfig {
    let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut config = RegistryConfig::new(listen, testbed().bootstrap);
    config.topic = topic.to_owned();
    config.timeout = Duration::from_secs(30);
    config
}

/// Starts a registry on a free port, storing in `topic`.
pub async fn start(topic: &str) -> RunningRegistry {
    sluice_registry::start(config(topic))
        .await
        .unwrap_or_else(|e| panic!("registry on topic {topic} did not start: {e}"))
}

/// A JSON client for one registry.
pub struct Api {
    pub base: String,
    client: reqwest::Client,
}

pub const CT: &str = "application/vnd.schemaregistry.v1+json";

impl Api {
    pub fn new(addr: SocketAddr) -> Self {
        Self { base: format!("http://{addr}"), client: reqwest::Client::new() }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect("registry did not answer");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(content_type, CT, "response content type");
        let text = response.text().await.expect("response body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("body {text:?} is not JSON: {e}"))
        };
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.client.get(format!("{}{path}", self.base))).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(self.client.delete(format!("{}{path}", self.base))).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", CT)
            .body(body.to_string());
        self.send(request).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let request =
            self.client.put(format!("{}{path}", self.base)).header("content-type", CT).body(body.to_string());
        self.send(request).await
    }

    /// Registers `schema` under `subject`; returns the id, panicking on any error.
    pub async fn register(&self, subject: &str, schema: &str) -> i64 {
        let (status, body) = self
            .post(&format!("/subjects/{subject}/versions"), serde_json::json!({ "schema": schema }))
            .await;
        assert_eq!(status, 200, "register {subject}: {body}");
        body["id"].as_i64().expect("id")
    }

    /// The Confluent error code of an error answer, checking the HTTP status matches.
    pub fn error_code(answer: &(u16, Value)) -> i64 {
        let code =
            answer.1["error_code"].as_i64().unwrap_or_else(|| panic!("not an error answer: {answer:?}"));
        let prefix = if code >= 1000 { code / 100 } else { code };
        assert_eq!(i64::from(answer.0), prefix, "HTTP status of {answer:?}");
        assert!(answer.1["message"].is_string(), "message in {answer:?}");
        code
    }
}

pub const USER_V1: &str =
    r#"{"type":"record","name":"User","namespace":"com.example","fields":[{"name":"id","type":"long"}]}"#;
pub const USER_V2: &str = r#"{"type":"record","name":"User","namespace":"com.example","fields":[{"name":"id","type":"long"},{"name":"email","type":"string","default":""}]}"#;
/// Adds a field without a default: not BACKWARD compatible with V1/V2.
pub const USER_BAD: &str = r#"{"type":"record","name":"User","namespace":"com.example","fields":[{"name":"id","type":"long"},{"name":"phone","type":"string"}]}"#;
