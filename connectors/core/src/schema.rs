//! Table schemas as the source sees them: columns in source order, each with a logical
//! [`DataType`] that decides the Avro encoding and the source's own type name, which travels
//! with the event so a sink can convert types (PostgreSQL ↔ MariaDB) without guessing.
//!
//! Invariants: column names are unique within a table; `key` indexes into `columns` and is
//! empty only for tables without a primary key or replica identity (such tables are refused by
//! the source's preflight unless configured otherwise). A schema is immutable once shared: a
//! table change produces a new `TableSchema` value with a higher `version`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// `<schema>.<table>`; for MySQL/MariaDB the schema is the database.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TableId {
    pub schema: String,
    pub table: String,
}

impl TableId {
    pub fn new(schema: impl Into<String>, table: impl Into<String>) -> Self {
        Self { schema: schema.into(), table: table.into() }
    }
}

impl fmt::Display for TableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.table)
    }
}

/// Logical type of a column: what a consumer must get back exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DataType {
    Boolean,
    Int16,
    Int32,
    Int64,
    /// Unsigned 64-bit (MySQL `BIGINT UNSIGNED`), encoded as decimal(20,0).
    UInt64,
    Float32,
    Float64,
    /// `None` precision means unconstrained (PostgreSQL `numeric` without typmod).
    Decimal {
        precision: Option<u32>,
        scale: Option<u32>,
    },
    Text,
    Bytes,
    Json,
    Uuid,
    Date,
    Time,
    TimeTz,
    Timestamp,
    TimestampTz,
    Interval,
    /// Enumerated string values, in declaration order.
    Enum(Vec<String>),
    /// A MySQL `SET`: a comma-separated subset of these values.
    Set(Vec<String>),
    /// A bit string of the given length.
    Bits(u32),
    Array(Box<DataType>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub data_type: DataType,
    /// The source's type name with modifiers, e.g. `varchar(20)`, `numeric(10,2)`, `int4`.
    pub source_type: String,
    pub nullable: bool,
    /// The column's constant default as the literal's text (`42`, `x`, `true`), when the source
    /// has one; expressions (`now()`, sequences) are not carried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

impl Column {
    pub fn new(
        name: impl Into<String>,
        data_type: DataType,
        source_type: impl Into<String>,
        nullable: bool,
    ) -> Self {
        Self { name: name.into(), data_type, source_type: source_type.into(), nullable, default: None }
    }

    /// The column with its constant default.
    pub fn with_default(mut self, default: Option<String>) -> Self {
        self.default = default;
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSchema {
    pub id: TableId,
    pub columns: Vec<Column>,
    /// Indexes of the key columns (primary key or replica identity), in key order.
    pub key: Vec<usize>,
    /// Increases by one for every change of this table's columns seen by the source.
    pub version: u32,
}

impl TableSchema {
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    pub fn key_columns(&self) -> impl Iterator<Item = &Column> {
        self.key.iter().filter_map(|&i| self.columns.get(i))
    }

    /// The key values of a row image, in key order.
    pub fn key_of<'r>(&self, row: &'r [crate::Value]) -> Vec<&'r crate::Value> {
        self.key.iter().filter_map(|&i| row.get(i)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Value;

    #[test]
    fn key_of_follows_key_order() {
        let t = TableSchema {
            id: TableId::new("public", "t"),
            columns: vec![
                Column::new("a", DataType::Int32, "int4", false),
                Column::new("b", DataType::Text, "text", true),
                Column::new("c", DataType::Int64, "int8", false),
            ],
            key: vec![2, 0],
            version: 1,
        };
        let row = vec![Value::Int32(1), Value::Null, Value::Int64(9)];
        assert_eq!(t.key_of(&row), vec![&Value::Int64(9), &Value::Int32(1)]);
        assert_eq!(t.column_index("b"), Some(1));
        assert_eq!(t.id.to_string(), "public.t");
    }
}

/// How exact decimals (`numeric`, `decimal`, MySQL `BIGINT UNSIGNED`, PostgreSQL `money`) are
/// published — Debezium's `decimal.handling.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecimalHandling {
    /// Connect `Decimal` bytes (fixed scale) or `VariableScaleDecimal` (default). PostgreSQL's
    /// `NaN`/`±Infinity` have no such form: null in a nullable column, an error otherwise.
    #[default]
    Precise,
    /// The exact decimal text (`-12.30`, `NaN`, `Infinity`) as a string.
    String,
    /// A double: approximate.
    Double,
}
