//! `[sink]` settings of the OpenSearch / Elasticsearch target.

use serde::Deserialize;
use sluice_core::Secret;

/// How to reach the cluster: an `http(s)://host:port` URL, basic authentication, and an extra CA
/// for a private certificate authority (the system's roots are always trusted).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchEndpoint {
    pub url: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Secret,
    /// PEM file of a CA to trust besides the system roots.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Send Elasticsearch 8's `compatible-with=8` media types (needed by Elasticsearch 8/9 for
    /// 7.x-style requests; OpenSearch must not get them).
    #[serde(default)]
    pub elasticsearch: bool,
    /// Connect timeout; each request also times out after 6× this (default 10 s).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
}

fn default_connect_timeout() -> u64 {
    10
}

/// How JSON columns are mapped. A JSON value that is not an object (an array, a string, a
/// number) fits only `disabled`; the others refuse its document (`on_error` then applies).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JsonMapping {
    /// `flat_object` on OpenSearch, `flattened` on Elasticsearch (`connection.elasticsearch`):
    /// one field whose keys are searchable as keywords, whatever the values' types.
    #[default]
    Auto,
    /// `object`: every key a typed field of its own (dynamic mapping); a key whose values change
    /// type between rows (`[1, "x"]`) is refused by the cluster.
    Object,
    /// `flat_object` (OpenSearch 2.7+).
    FlatObject,
    /// `flattened` (Elasticsearch 7.3+).
    Flattened,
    /// Kept in `_source` only, not searchable; any JSON value is taken.
    Disabled,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSinkConfig {
    pub connection: SearchEndpoint,
    /// Index of a source table: `{prefix}` (the topic prefix), `{schema}` and `{table}` are
    /// replaced, then lowercased (default `{schema}.{table}`).
    #[serde(default = "default_index_pattern")]
    pub index_pattern: String,
    /// The index holding every sink's offsets (default `sluice_offsets`).
    #[serde(default = "default_offsets_index")]
    pub offsets_index: String,
    /// Create missing indices with mappings from the source schema (default true).
    #[serde(default = "default_true")]
    pub create_indices: bool,
    /// Text columns of at most this many characters (`varchar(n)`, `char(n)`) are `keyword`;
    /// longer or unbounded ones `text` with a `keyword` sub-field (default 256).
    #[serde(default = "default_keyword_max")]
    pub keyword_max_chars: u32,
    #[serde(default)]
    pub json_mapping: JsonMapping,
    /// Shards and replicas of created indices (default 1 and 1).
    #[serde(default = "default_one")]
    pub shards: u32,
    #[serde(default = "default_one")]
    pub replicas: u32,
    /// `index.gc_deletes` of created indices: how long a delete's version is remembered, so a
    /// late, older write cannot bring the document back (default `1d`; OpenSearch's own is 60 s).
    #[serde(default = "default_gc_deletes")]
    pub gc_deletes: String,
    /// Documents per `_bulk` request (default 1,000) and requests in flight (default 4).
    #[serde(default = "default_bulk_docs")]
    pub bulk_docs: usize,
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// `refresh` of each `_bulk`: `false` (default: searchable within the index's refresh
    /// interval, 1 s by default) or `wait_for` (searchable when the commit returns; slower).
    #[serde(default = "default_refresh")]
    pub refresh: String,
}

fn default_index_pattern() -> String {
    "{schema}.{table}".into()
}

fn default_offsets_index() -> String {
    "sluice_offsets".into()
}

fn default_true() -> bool {
    true
}

fn default_keyword_max() -> u32 {
    256
}

fn default_one() -> u32 {
    1
}

fn default_gc_deletes() -> String {
    "1d".into()
}

fn default_bulk_docs() -> usize {
    1_000
}

fn default_concurrency() -> usize {
    4
}

fn default_refresh() -> String {
    "false".into()
}

impl SearchSinkConfig {
    /// The index of source table `schema.table` published under `prefix`.
    pub fn index(&self, prefix: &str, schema: &str, table: &str) -> String {
        self.index_pattern
            .replace("{prefix}", prefix)
            .replace("{schema}", schema)
            .replace("{table}", table)
            .to_lowercase()
    }

    /// `Err` says what is wrong with the settings.
    pub fn ensure_valid(&self) -> Result<(), String> {
        ensure_index_name(&self.offsets_index)?;
        if !matches!(self.refresh.as_str(), "false" | "wait_for" | "true") {
            return Err(format!("refresh = {:?}: use \"false\", \"wait_for\" or \"true\"", self.refresh));
        }
        if self.bulk_docs == 0 || self.concurrency == 0 {
            return Err("bulk_docs and concurrency must be at least 1".into());
        }
        Ok(())
    }
}

/// `Err` says why `name` is not a valid index name.
pub fn ensure_index_name(name: &str) -> Result<(), String> {
    let bad = name.is_empty()
        || name.len() > 255
        || name.starts_with(['-', '_', '+'])
        || name == "."
        || name == ".."
        || name.chars().any(|c| c.is_uppercase() || " \"*\\<|,>/?#:".contains(c));
    if bad {
        Err(format!(
            "{name:?} is not a valid index name (lowercase, no spaces or any of \" * \\ < | , > / ? # :, \
             not starting with - _ +, at most 255 bytes); set [sink] index_pattern"
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_patterns_and_unknown_keys() {
        let c: SearchSinkConfig = toml::from_str("[connection]\nurl = \"http://h:9200\"\n").unwrap();
        assert_eq!(c.index("shop", "Public", "Orders"), "public.orders");
        assert_eq!(
            (c.offsets_index.as_str(), c.bulk_docs, c.refresh.as_str()),
            ("sluice_offsets", 1000, "false")
        );
        assert!(c.ensure_valid().is_ok());
        let c: SearchSinkConfig =
            toml::from_str("index_pattern = \"{prefix}-{table}\"\njson_mapping = \"flat_object\"\n[connection]\nurl = \"u\"\n")
                .unwrap();
        assert_eq!((c.index("shop", "s", "t"), c.json_mapping), ("shop-t".into(), JsonMapping::FlatObject));
        assert!(
            toml::from_str::<SearchSinkConfig>("index_patern = \"x\"\n[connection]\nurl = \"u\"\n").is_err()
        );
    }

    #[test]
    fn index_names() {
        assert!(ensure_index_name("app.orders-2024_x").is_ok());
        assert!(ensure_index_name("App").is_err());
        assert!(ensure_index_name("_x").is_err());
        assert!(ensure_index_name("a b").is_err());
    }
}
