//! `[sink]` settings of the MongoDB target.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MongoEndpoint {
    /// A MongoDB connection string, e.g. `mongodb://user:pass@host:27017/?replicaSet=rs0`.
    /// Credentials may come from the environment (`SLUICE__SINK__CONNECTION__URL`).
    pub url: String,
    /// Server selection and connect timeout (default 10 s).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
}

fn default_connect_timeout() -> u64 {
    10
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MongoSinkConfig {
    pub connection: MongoEndpoint,
    /// The target database (holds the collections and `sluice_offsets`).
    pub database: String,
    /// Collection of a source table; `{schema}` and `{table}` are replaced (default
    /// `{schema}.{table}`).
    #[serde(default = "default_collection_pattern")]
    pub collection_pattern: String,
    /// `row` (default): one document per source row; `changelog`: one document per change
    /// event, `_id` = `{topic, partition, offset}`, in collection `collection_pattern`.
    #[serde(default)]
    pub shape: sluice_core::changelog::Shape,
}

fn default_collection_pattern() -> String {
    "{schema}.{table}".into()
}

impl MongoSinkConfig {
    pub fn collection(&self, schema: &str, table: &str) -> String {
        self.collection_pattern.replace("{schema}", schema).replace("{table}", table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_keys() {
        let c: MongoSinkConfig =
            toml::from_str("database = \"r\"\n[connection]\nurl = \"mongodb://h\"\n").unwrap();
        assert_eq!(c.collection("app", "t"), "app.t");
        assert!(
            toml::from_str::<MongoSinkConfig>("[connection]\nurl = \"u\"\n").is_err(),
            "database is required"
        );
        assert!(toml::from_str::<MongoSinkConfig>(
            "database = \"r\"\nbogus = 1\n[connection]\nurl = \"u\"\n"
        )
        .is_err());
    }
}
