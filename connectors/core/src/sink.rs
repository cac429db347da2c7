//! Settings every relational sink shares: how target tables are named and what to do with a
//! source schema change that cannot be applied safely.
//!
//! Invariant: the same `(schema, table)` always maps to the same target name, so a restarted or
//! scaled-out sink writes where its predecessors wrote.

use serde::Deserialize;

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

/// The default target table pattern: the source's schema and table name.
pub fn default_table_pattern() -> String {
    "{schema}.{table}".into()
}

/// `(schema, table)` of the target for a source table under `pattern`, in which `{schema}` and
/// `{table}` are replaced by the source's. The part before the first `.` is the target schema
/// (database, on MariaDB); without a `.`, `default_schema`.
pub fn target_name(pattern: &str, default_schema: &str, schema: &str, table: &str) -> (String, String) {
    let name = pattern.replace("{schema}", schema).replace("{table}", table);
    match name.split_once('.') {
        Some((s, t)) => (s.to_owned(), t.to_owned()),
        None => (default_schema.to_owned(), name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_splits_schema_and_table() {
        assert_eq!(target_name("{schema}.{table}", "public", "inv", "items"), ("inv".into(), "items".into()));
        assert_eq!(
            target_name("replica.{schema}_{table}", "public", "inv", "items"),
            ("replica".into(), "inv_items".into())
        );
        assert_eq!(target_name("{table}", "public", "inv", "items"), ("public".into(), "items".into()));
    }
}
