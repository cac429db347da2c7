//! `[sink]` settings of the Iceberg target.

use serde::Deserialize;
use sluice_s3::config::S3Endpoint;

/// The Iceberg catalog: a SQL catalog (the JDBC catalog's tables, which pyiceberg's `SqlCatalog`,
/// Spark's and Trino's JDBC catalogs read) on SQLite or PostgreSQL.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    /// `sqlite:///abs/path/catalog.db` (created if missing) or `postgres://user@host/db`.
    pub uri: String,
    /// The catalog's name: part of every catalog row's key (default `sluice`).
    #[serde(default = "default_catalog_name")]
    pub name: String,
}

fn default_catalog_name() -> String {
    "sluice".into()
}

/// Iceberg partitioning of a change-log table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Partitioning {
    /// `day(__ts)`: by the change's commit day, UTC (default).
    #[default]
    Day,
    /// Unpartitioned.
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcebergSinkConfig {
    pub catalog: CatalogConfig,
    /// Where tables are created: `s3://bucket/prefix` (the bucket must exist).
    pub warehouse: String,
    /// Iceberg namespace of the tables, levels separated by `.` (default `sluice`).
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Table name per source table: `{schema}`, `{table}` (default `{schema}_{table}`).
    #[serde(default = "default_table_pattern")]
    pub table_pattern: String,
    #[serde(default)]
    pub partitioning: Partitioning,
    /// A table's staged rows are committed when they number this many (default 100,000)…
    #[serde(default = "default_commit_records")]
    pub commit_records: usize,
    /// …or the oldest waited this long (default 60 s).
    #[serde(default = "default_commit_secs")]
    pub commit_secs: u64,
    /// zstd level of the Parquet data files (default 3).
    #[serde(default = "default_zstd_level")]
    pub zstd_level: i32,
    /// How to reach the warehouse's store (as the `s3` target's).
    #[serde(default)]
    pub connection: Option<S3Endpoint>,
}

fn default_namespace() -> String {
    "sluice".into()
}
fn default_table_pattern() -> String {
    "{schema}_{table}".into()
}
fn default_commit_records() -> usize {
    100_000
}
fn default_commit_secs() -> u64 {
    60
}
fn default_zstd_level() -> i32 {
    3
}

impl IcebergSinkConfig {
    /// Settings that cannot work, named.
    pub fn ensure_valid(&self) -> Result<(), String> {
        if !self.warehouse.starts_with("s3://") && !self.warehouse.starts_with("s3a://") {
            return Err(format!("warehouse {:?} must be an s3:// location", self.warehouse));
        }
        let scheme = self.catalog.uri.split(':').next().unwrap_or_default();
        if !matches!(scheme, "sqlite" | "postgres" | "postgresql") {
            return Err(format!(
                "catalog uri {:?}: a sqlite:// or postgres:// URI (the SQL catalog)",
                self.catalog.uri
            ));
        }
        if self.namespace.is_empty() || self.namespace.split('.').any(str::is_empty) {
            return Err(format!("namespace {:?}: levels separated by '.', none empty", self.namespace));
        }
        if !self.table_pattern.contains("{table}") {
            return Err(format!("table_pattern {:?} must contain {{table}}", self.table_pattern));
        }
        if self.commit_records == 0 {
            return Err("commit_records must be at least 1".into());
        }
        if !(1..=22).contains(&self.zstd_level) {
            return Err(format!("zstd_level {} is not in 1..=22", self.zstd_level));
        }
        Ok(())
    }

    /// The warehouse's bucket and key prefix.
    pub fn warehouse_bucket(&self) -> (&str, &str) {
        let rest = self.warehouse.split_once("://").map_or("", |(_, rest)| rest);
        rest.split_once('/').unwrap_or((rest, ""))
    }

    /// The Iceberg table name of a source table.
    pub fn table_name(&self, schema: &str, table: &str) -> String {
        self.table_pattern.replace("{schema}", schema).replace("{table}", table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_refusals() {
        let base = "warehouse = \"s3://lake/wh\"\n[catalog]\nuri = \"sqlite:///tmp/c.db\"\n";
        let c: IcebergSinkConfig = toml::from_str(base).unwrap();
        assert!(c.ensure_valid().is_ok());
        assert_eq!((c.namespace.as_str(), c.partitioning), ("sluice", Partitioning::Day));
        assert_eq!(c.table_name("public", "items"), "public_items");
        let bad: IcebergSinkConfig = toml::from_str(&base.replace("s3://", "file://")).unwrap();
        assert!(bad.ensure_valid().unwrap_err().contains("s3://"));
        let bad: IcebergSinkConfig = toml::from_str(&base.replace("sqlite:", "mysql:")).unwrap();
        assert!(bad.ensure_valid().unwrap_err().contains("catalog uri"));
        assert!(toml::from_str::<IcebergSinkConfig>(&format!("bogus = 1\n{base}")).is_err());
    }
}
