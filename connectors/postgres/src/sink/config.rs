//! `[sink]` settings of the PostgreSQL sink: where to write, how target tables are named, and
//! what to do with a schema change the sink cannot apply safely.

use serde::Deserialize;
pub use sluice_core::sink::default_table_pattern;
use sluice_core::SchemaChanges;

use crate::endpoint::PgEndpoint;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PgSinkConfig {
    pub connection: PgEndpoint,
    /// Target table name; `{schema}` and `{table}` are replaced by the source's (default
    /// `{schema}.{table}`). The part before the first `.` is the target schema, created if missing.
    #[serde(default = "default_table_pattern")]
    pub table_pattern: String,
    #[serde(default)]
    pub schema_changes: SchemaChanges,
}

impl PgSinkConfig {
    pub fn new(connection: PgEndpoint) -> Self {
        Self { connection, table_pattern: default_table_pattern(), schema_changes: SchemaChanges::Fail }
    }

    /// (schema, table) of the target for a source table (`public` when the pattern has no schema).
    pub fn target_name(&self, schema: &str, table: &str) -> (String, String) {
        sluice_core::sink::target_name(&self.table_pattern, "public", schema, table)
    }
}
