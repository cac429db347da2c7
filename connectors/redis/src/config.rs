//! `[sink]` settings of the Redis target.

use serde::Deserialize;
use sluice_core::Secret;

/// How to reach Redis (or Valkey, ElastiCache without cluster mode).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisEndpoint {
    /// `redis://host:port[/db]` (no credentials in the URL: use `username`/`password`).
    pub url: String,
    /// ACL user name (Redis 6+); with a password only, the `default` user.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Secret,
    /// Connection timeout (default 10 s).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
}

fn default_connect_timeout() -> u64 {
    10
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSinkConfig {
    pub connection: RedisEndpoint,
    /// Key prefix of a source table's rows; `{schema}` and `{table}` are replaced by the
    /// source's (default `{schema}.{table}`). A row's key is `<prefix>:<key parts>`.
    #[serde(default = "default_key_pattern")]
    pub key_pattern: String,
    /// `row` (default): one hash per source row; `changelog`: every change event appended to
    /// the stream `<key_pattern>` with `XADD`.
    #[serde(default)]
    pub shape: sluice_core::changelog::Shape,
}

pub fn default_key_pattern() -> String {
    "{schema}.{table}".into()
}

impl RedisSinkConfig {
    /// The key prefix of source table `schema.table`.
    pub fn prefix(&self, schema: &str, table: &str) -> String {
        self.key_pattern.replace("{schema}", schema).replace("{table}", table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_keys() {
        let c: RedisSinkConfig = toml::from_str("[connection]\nurl = \"redis://h:1\"\n").unwrap();
        assert_eq!(c.prefix("app", "t"), "app.t");
        assert_eq!(c.connection.connect_timeout_secs, 10);
        assert!(toml::from_str::<RedisSinkConfig>("key_patern = \"x\"\n[connection]\nurl = \"u\"\n").is_err());
    }
}
