//! `[sink]` settings of the MariaDB/MySQL sink: where to write, how target tables are named, and
//! what to do with a schema change the sink cannot apply safely.
//!
//! On MariaDB the "schema" of a target name is the database: the part of `table_pattern` before
//! the first `.` names it (created if missing); a pattern without `.` writes into the
//! connection's `database`, or, when that is unset, into a database named like the source schema.

use serde::Deserialize;
pub use sluice_core::sink::default_table_pattern;
use sluice_core::SchemaChanges;

use crate::endpoint::MySqlEndpoint;

/// The database that holds `sluice_offsets` when the connection names none.
pub const DEFAULT_OFFSETS_DATABASE: &str = "sluice";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MySqlSinkConfig {
    /// The target server. Its `database` (optional) holds `sluice_offsets` (default `sluice`) and
    /// is the target database of patterns without a `.`.
    pub connection: MySqlEndpoint,
    /// Target table name; `{schema}` and `{table}` are replaced by the source's (default
    /// `{schema}.{table}`). The part before the first `.` is the target database.
    #[serde(default = "default_table_pattern")]
    pub table_pattern: String,
    #[serde(default)]
    pub schema_changes: SchemaChanges,
    /// What to write for a value MariaDB cannot hold (`fail`, `null`, `clamp`).
    #[serde(default)]
    pub unrepresentable_values: sluice_core::Unrepresentable,
}

impl MySqlSinkConfig {
    pub fn new(connection: MySqlEndpoint) -> Self {
        Self {
            connection,
            table_pattern: default_table_pattern(),
            schema_changes: SchemaChanges::Fail,
            unrepresentable_values: sluice_core::Unrepresentable::Fail,
        }
    }

    /// (database, table) of the target for a source table.
    pub fn target_name(&self, schema: &str, table: &str) -> (String, String) {
        let default_db = self.connection.database.as_deref().unwrap_or(schema);
        sluice_core::sink::target_name(&self.table_pattern, default_db, schema, table)
    }

    /// The database holding `sluice_offsets`.
    pub fn offsets_database(&self) -> &str {
        self.connection.database.as_deref().unwrap_or(DEFAULT_OFFSETS_DATABASE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<MySqlSinkConfig, toml::de::Error> {
        toml::from_str(s)
    }

    #[test]
    fn defaults_and_names() {
        let c = parse("[connection]\nhost = \"h\"\nuser = \"u\"\n").unwrap();
        assert_eq!(c.table_pattern, "{schema}.{table}");
        assert_eq!(c.schema_changes, SchemaChanges::Fail);
        assert_eq!(c.target_name("inv", "items"), ("inv".into(), "items".into()));
        assert_eq!(c.offsets_database(), "sluice");
        let c = parse(
            "table_pattern = \"{schema}_{table}\"\nschema_changes = \"ignore\"\n\
             [connection]\nhost = \"h\"\nuser = \"u\"\ndatabase = \"replica\"\n",
        )
        .unwrap();
        assert_eq!(c.target_name("inv", "items"), ("replica".into(), "inv_items".into()));
        assert_eq!(c.offsets_database(), "replica");
        assert_eq!(c.schema_changes, SchemaChanges::Ignore);
        assert!(parse("bogus = 1\n[connection]\nhost = \"h\"\nuser = \"u\"\n").is_err());
    }
}
