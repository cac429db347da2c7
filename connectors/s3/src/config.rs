//! `[sink]` settings of the object-store target.

use serde::Deserialize;
use sluice_core::Secret;

/// How to reach the store: AWS S3 by default, or any S3-compatible endpoint (MinIO, SeaweedFS,
/// Ceph) with path-style requests. Credentials: the keys below when set, else the environment
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) or the instance role.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Endpoint {
    /// `http(s)://host:port` of an S3-compatible server; unset: AWS S3.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// AWS region (default `AWS_REGION`, else `us-east-1`).
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub access_key_id: Option<String>,
    #[serde(default)]
    pub secret_access_key: Secret,
    #[serde(default)]
    pub session_token: Secret,
    /// Virtual-hosted-style requests (`bucket.host`); default: path-style with a custom
    /// endpoint, virtual-hosted on AWS.
    #[serde(default)]
    pub virtual_hosted_style: Option<bool>,
    /// Connect timeout; a request times out after 12× this, and transient failures are retried
    /// for up to 3× this (default 10 s).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
}

fn default_connect_timeout() -> u64 {
    10
}

fn default_endpoint() -> S3Endpoint {
    S3Endpoint {
        endpoint_url: None,
        region: None,
        access_key_id: None,
        secret_access_key: Secret::default(),
        session_token: Secret::default(),
        virtual_hosted_style: None,
        connect_timeout_secs: default_connect_timeout(),
    }
}

/// File format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Apache Parquet, zstd, typed columns (default).
    #[default]
    Parquet,
    /// One JSON object per line.
    Jsonl,
    /// Avro object container files, zstd blocks, Avro logical types.
    Avro,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Jsonl => "jsonl",
            Format::Avro => "avro",
        }
    }
}

/// Directories by the change's commit time (UTC), Hive-style.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Partitioning {
    /// `<table>/<file>` (default).
    #[default]
    None,
    /// `<table>/date=YYYY-MM-DD/<file>`.
    Day,
    /// `<table>/date=YYYY-MM-DD/hour=HH/<file>`.
    Hour,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3SinkConfig {
    #[serde(default = "default_endpoint")]
    pub connection: S3Endpoint,
    pub bucket: String,
    /// Key prefix of everything the sink writes (default none).
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub format: Format,
    #[serde(default)]
    pub partitioning: Partitioning,
    /// A partition's open files are written when one holds this many records (default 100,000)…
    #[serde(default = "default_roll_records")]
    pub roll_records: usize,
    /// …or this many bytes of encoded rows (default 64 MiB)…
    #[serde(default = "default_roll_bytes")]
    pub roll_bytes: usize,
    /// …or its oldest record waited this long (default 60 s).
    #[serde(default = "default_roll_secs")]
    pub roll_secs: u64,
    /// Parquet: rows per row group; Avro: rows per block (default 100,000).
    #[serde(default = "default_row_group_rows")]
    pub row_group_rows: usize,
    /// Parquet: zstd level (default 3).
    #[serde(default = "default_zstd_level")]
    pub zstd_level: i32,
    /// Avro: deflate level, 0–9 (default 6).
    #[serde(default = "default_deflate_level")]
    pub deflate_level: u32,
}

fn default_deflate_level() -> u32 {
    6
}

fn default_roll_records() -> usize {
    100_000
}
fn default_roll_bytes() -> usize {
    64 << 20
}
fn default_roll_secs() -> u64 {
    60
}
fn default_row_group_rows() -> usize {
    100_000
}
fn default_zstd_level() -> i32 {
    3
}

impl S3SinkConfig {
    /// Settings that cannot work, named.
    pub fn ensure_valid(&self) -> Result<(), String> {
        if self.bucket.is_empty() {
            return Err("bucket must be set".into());
        }
        if self.roll_records == 0 || self.roll_bytes == 0 || self.row_group_rows == 0 {
            return Err("roll_records, roll_bytes and row_group_rows must be at least 1".into());
        }
        if !(1..=22).contains(&self.zstd_level) {
            return Err(format!("zstd_level {} is not in 1..=22", self.zstd_level));
        }
        if self.deflate_level > 9 {
            return Err(format!("deflate_level {} is not in 0..=9", self.deflate_level));
        }
        if self.prefix.starts_with('/') || self.prefix.contains("//") {
            return Err(format!("prefix {:?}: no leading or doubled '/'", self.prefix));
        }
        Ok(())
    }

    /// `prefix/rest`, without an empty leading segment.
    pub fn key(&self, rest: &str) -> String {
        let p = self.prefix.trim_end_matches('/');
        if p.is_empty() {
            rest.to_owned()
        } else {
            format!("{p}/{rest}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_refusals() {
        let c: S3SinkConfig = toml::from_str("bucket = \"b\"").unwrap();
        assert_eq!(
            (c.format, c.partitioning, c.roll_records),
            (Format::Parquet, Partitioning::None, 100_000)
        );
        assert!(c.ensure_valid().is_ok());
        assert_eq!(c.key("x/y"), "x/y");
        let c: S3SinkConfig =
            toml::from_str("bucket = \"b\"\nprefix = \"cdc/\"\nformat = \"jsonl\"").unwrap();
        assert_eq!(c.key("x"), "cdc/x");
        assert!(toml::from_str::<S3SinkConfig>("bucket = \"b\"\nbogus = 1").is_err());
        let c: S3SinkConfig = toml::from_str("bucket = \"b\"\nroll_records = 0").unwrap();
        assert!(c.ensure_valid().is_err());
    }
}
