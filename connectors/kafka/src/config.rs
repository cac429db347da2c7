//! Broker connection settings from the `[kafka]` config section.
//!
//! `properties` are handed to librdkafka unchanged (e.g. `security.protocol`, `sasl.username`,
//! `sasl.password`); they may contain secrets, so this type's `Debug` prints keys only.

use std::collections::BTreeMap;
use std::fmt;

use rdkafka::ClientConfig;
use serde::Deserialize;

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list.
    pub bootstrap_servers: String,
    /// Extra librdkafka properties for every client Sluice creates.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// Partitions of each change topic Sluice creates (default 1; existing topics are kept).
    #[serde(default = "default_partitions")]
    pub topic_partitions: i32,
    /// Compacted topic where sources keep their state (default `sluice.state`).
    #[serde(default = "default_state_topic")]
    pub state_topic: String,
    /// Producer tuning.
    #[serde(default)]
    pub producer: crate::producer::ProducerOptions,
    /// How sources write change events: `avro` (Confluent wire format, schemas in a registry;
    /// default) or `json` (what Kafka Connect's `JsonConverter` writes; no registry).
    #[serde(default)]
    pub format: ValueFormat,
    /// With `format = "json"`: embed each record's Connect schema (`schemas.enable=true`,
    /// default; sinks need it to type columns) or write the payload alone.
    #[serde(default = "default_true")]
    pub json_schemas: bool,
}

/// The serialization of keys and values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueFormat {
    #[default]
    Avro,
    Json,
}

fn default_true() -> bool {
    true
}

fn default_partitions() -> i32 {
    1
}

fn default_state_topic() -> String {
    crate::state::DEFAULT_STATE_TOPIC.to_owned()
}

impl KafkaConfig {
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.into(),
            properties: BTreeMap::new(),
            topic_partitions: default_partitions(),
            state_topic: default_state_topic(),
            producer: crate::producer::ProducerOptions::default(),
            format: ValueFormat::Avro,
            json_schemas: true,
        }
    }

    /// A librdkafka config with the bootstrap servers and the extra properties set.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap_servers);
        c.set("client.id", "sluice");
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }
}

impl fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("properties", &self.properties.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_property_values() {
        let mut k = KafkaConfig::new("b:9092");
        k.properties.insert("sasl.password".into(), "hunter2".into());
        let s = format!("{k:?}");
        assert!(s.contains("sasl.password"));
        assert!(!s.contains("hunter2"));
    }
}
