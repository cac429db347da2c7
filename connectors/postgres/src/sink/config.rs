//! `[sink]` settings of the PostgreSQL sink: where to write, how target tables are named, and
//! what to do with a schema change the sink cannot apply safely.

use serde::Deserialize;

use crate::endpoint::PgEndpoint;

/// What to do when a source schema change cannot be applied safely to the target (type
/// narrowing, a dropped NOT NULL column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SchemaChanges {
    /// Stop the sink with an error naming the table and column (default).
    #[default]
    Fail,
    /// Log a warning and go on; later writes may then fail or lose precision.
    Ignore,
}

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

pub fn default_table_pattern() -> String {
    "{schema}.{table}".into()
}

impl PgSinkConfig {
    pub fn new(connection: PgEndpoint) -> Self {
        Self { connection, table_pattern: default_table_pattern(), schema_changes: SchemaChanges::Fail }
    }

    /// (schema, table) of the target for a source table.
    pub fn target_name(&self, schema: &str, table: &str) -> (String, String) {
        let name = self.table_pattern.replace("{schema}", schema).replace("{table}", table);
        match name.split_once('.') {
            Some((s, t)) => (s.to_owned(), t.to_owned()),
            None => ("public".to_owned(), name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_splits_schema_and_table() {
        let mut c = PgSinkConfig::new(PgEndpoint {
            host: "h".into(),
            port: 5432,
            user: "u".into(),
            password: Default::default(),
            database: "d".into(),
            connect_timeout_secs: 1,
        });
        assert_eq!(c.target_name("inv", "items"), ("inv".into(), "items".into()));
        c.table_pattern = "replica.{schema}_{table}".into();
        assert_eq!(c.target_name("inv", "items"), ("replica".into(), "inv_items".into()));
        c.table_pattern = "{table}".into();
        assert_eq!(c.target_name("inv", "items"), ("public".into(), "items".into()));
    }
}
