//! `[kinesis]` settings: where the streams are and how Sluice names and creates them.
//!
//! Invariant: the same topic always maps to the same stream name, so a restarted source appends
//! where it appended before and sinks find the stream from the topic.

use serde::Deserialize;
use sluice_core::aws::AwsEndpoint;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KinesisConfig {
    /// Stream name of a topic: `{topic}` is replaced by the topic (`<prefix>.<schema>.<table>`,
    /// `<prefix>.transaction`, `__debezium-heartbeat.<prefix>`). Without `{topic}`, every topic
    /// goes to that one stream.
    #[serde(default = "default_pattern")]
    pub stream_pattern: String,
    /// Shards of a stream Sluice creates (an existing stream is used as it is).
    #[serde(default = "default_shards")]
    pub shard_count: i32,
    /// Records sent but not yet accepted by Kinesis, at most (the source waits beyond it).
    #[serde(default = "default_in_flight")]
    pub max_in_flight: usize,
    #[serde(default)]
    pub connection: AwsEndpoint,
}

fn default_pattern() -> String {
    "{topic}".into()
}

fn default_shards() -> i32 {
    1
}

fn default_in_flight() -> usize {
    100_000
}

impl KinesisConfig {
    /// The stream of `topic`.
    pub fn stream(&self, topic: &str) -> String {
        self.stream_pattern.replace("{topic}", topic)
    }

    /// Preflight: the settings alone are usable.
    pub fn ensure_valid(&self) -> Result<(), String> {
        if !(1..=10_000).contains(&self.shard_count) {
            return Err(format!("shard_count {} is outside 1..=10000", self.shard_count));
        }
        if self.max_in_flight == 0 {
            return Err("max_in_flight must be at least 1".into());
        }
        let sample = self.stream("prefix.schema.table");
        ensure_stream_name(&sample).map_err(|e| format!("stream_pattern {:?}: {e}", self.stream_pattern))
    }
}

/// Kinesis stream names: 1–128 characters of `[a-zA-Z0-9_.-]`.
pub fn ensure_stream_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 128 {
        return Err(format!("stream name {name:?} must be 1 to 128 characters"));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) {
        return Err(format!("stream name {name:?} has {c:?}; Kinesis allows letters, digits, '_', '.', '-'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> KinesisConfig {
        toml::from_str(text).expect("config")
    }

    #[test]
    fn streams_follow_the_pattern() {
        let c = parse("");
        assert_eq!(c.stream("shop.public.orders"), "shop.public.orders");
        assert!(c.ensure_valid().is_ok());
        let one = parse("stream_pattern = \"cdc-all\"\nshard_count = 4");
        assert_eq!(one.stream("shop.public.orders"), "cdc-all");
        assert!(one.ensure_valid().is_ok());
    }

    #[test]
    fn bad_settings_are_named() {
        let e = parse("stream_pattern = \"cdc/{topic}\"").ensure_valid().unwrap_err();
        assert!(e.contains("'/'"), "{e}");
        let e = parse("shard_count = 0").ensure_valid().unwrap_err();
        assert!(e.contains("shard_count"), "{e}");
        assert!(toml::from_str::<KinesisConfig>("shards = 2").is_err());
    }
}
