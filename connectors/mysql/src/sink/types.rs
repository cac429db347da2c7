//! Source column types → MariaDB column types, and when an existing target column is too narrow.
//!
//! Types (the table is in `docs/sinks.md`):
//! 1. MariaDB/MySQL source: the source's own column type, kept ([`mariadb_source_type`]), when
//!    it is a known built-in type — same engine; `ENUM`/`SET` are rebuilt from their values,
//!    quoted here.
//! 2. Any other source: the column's [`Portable`] type through the one mapping table,
//!    [`mariadb_type`].
//!
//! Then, per table ([`column_types`]): key columns of a LOB type (`*TEXT`, `*BLOB`, `JSON`)
//! become `VARCHAR(n)` / `VARBINARY(n)` sharing InnoDB's 3072-byte index key limit, and, if the
//! declared `VARCHAR` bytes would exceed MariaDB's 65 535-byte row limit, the widest non-key
//! `VARCHAR`s become `MEDIUMTEXT`.
//!
//! Invariant: every type string returned is built here from validated parts (never a source
//! string spliced into DDL unchecked), lowercase, as `information_schema` spells it.

use sluice_core::portable::{split_type, Portable};
use sluice_core::{Column, DataType, TableSchema};

/// InnoDB's index key limit with DYNAMIC rows, in bytes.
const MAX_KEY_BYTES: u64 = 3072;
/// MariaDB's row size limit (sum of declared column bytes), with headroom for lengths/NULLs.
const MAX_ROW_BYTES: u64 = 65_000;
/// Longest `VARCHAR(n)` created for a bounded source string; longer ones become MEDIUMTEXT.
const MAX_VARCHAR: u32 = 16_383;
/// utf8mb4: bytes per character at most.
const CHAR_BYTES: u64 = 4;

fn varchar(n: i64) -> String {
    match u32::try_from(n) {
        Ok(n) if n <= MAX_VARCHAR => format!("varchar({})", n.max(1)),
        _ => "mediumtext".into(),
    }
}

/// `DECIMAL(p,s)` for PostgreSQL `numeric(p,s)`, within MariaDB's limits (p ≤ 65, s ≤ 30);
/// beyond them (or unconstrained) `DECIMAL(65,30)`, whose values are checked on the way in.
fn decimal(p: Option<i64>, s: Option<i64>) -> String {
    match (p, s.unwrap_or(0)) {
        (Some(p), s) if s < 0 && p - s <= 65 => format!("decimal({},0)", p - s),
        (Some(p), s) if (1..=65).contains(&p) && (0..=30).contains(&s) && s <= p => {
            format!("decimal({p},{s})")
        }
        _ => "decimal(65,30)".into(),
    }
}

/// MariaDB/MySQL base types a source column type may be kept as (ENUM/SET apart).
const MARIADB_BUILTINS: &[&str] = &[
    "tinyint",
    "smallint",
    "mediumint",
    "int",
    "integer",
    "bigint",
    "float",
    "double",
    "real",
    "decimal",
    "numeric",
    "bit",
    "char",
    "varchar",
    "binary",
    "varbinary",
    "tinytext",
    "text",
    "mediumtext",
    "longtext",
    "tinyblob",
    "blob",
    "mediumblob",
    "longblob",
    "json",
    "date",
    "time",
    "datetime",
    "timestamp",
    "year",
    "uuid",
    "inet4",
    "inet6",
];

fn quote_value(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "''"))
}

/// A MariaDB/MySQL source column's own type, when it is a built-in type.
pub fn mariadb_source_type(col: &Column) -> Option<String> {
    let st = col.source_type.trim().to_ascii_lowercase();
    match &col.data_type {
        DataType::Enum(values) if st.starts_with("enum") && !values.is_empty() => {
            let v: Vec<String> = values.iter().map(|v| quote_value(v)).collect();
            return Some(format!("enum({})", v.join(",")));
        }
        DataType::Set(values) if st.starts_with("set") && !values.is_empty() => {
            let v: Vec<String> = values.iter().map(|v| quote_value(v)).collect();
            return Some(format!("set({})", v.join(",")));
        }
        _ => {}
    }
    let ok_chars = st.chars().all(|c| c.is_ascii_alphanumeric() || " (),_".contains(c));
    let base = st.split(['(', ' ']).next().unwrap_or("");
    (ok_chars && MARIADB_BUILTINS.contains(&base)).then_some(st)
}

/// Portable type → MariaDB type: the one mapping table of this target.
pub fn mariadb_type(p: &Portable) -> String {
    let fsp = p.fsp.unwrap_or(6);
    match (&p.data_type, p.length) {
        (DataType::Text, Some(n @ 1..=255)) if p.fixed => format!("char({n})"),
        (DataType::Text, Some(n)) => varchar(i64::from(n)),
        (DataType::Bytes, Some(n @ 1..=255)) if p.fixed => format!("binary({n})"),
        (DataType::Bytes, Some(n)) if n <= MAX_VARCHAR * 4 => format!("varbinary({})", n.max(1)),
        (DataType::Time, _) => format!("time({fsp})"),
        (DataType::Timestamp | DataType::TimestampTz, _) => format!("datetime({fsp})"),
        (DataType::Bits(n), _) if *n > 64 => format!("varbinary({})", n.div_ceil(8)),
        (t, _) => logical_mariadb_type(t),
    }
}

fn logical_mariadb_type(t: &DataType) -> String {
    match t {
        DataType::Boolean => "tinyint(1)".into(),
        DataType::Int16 => "smallint".into(),
        DataType::Int32 => "int".into(),
        DataType::Int64 => "bigint".into(),
        DataType::UInt64 => "bigint unsigned".into(),
        DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Decimal { precision, scale } => decimal(precision.map(i64::from), scale.map(i64::from)),
        DataType::Enum(_) => "varchar(255)".into(),
        DataType::Text | DataType::Set(_) => "longtext".into(),
        DataType::Bytes => "longblob".into(),
        DataType::Json | DataType::Array(_) => "json".into(),
        DataType::Uuid => "char(36)".into(),
        DataType::Date => "date".into(),
        DataType::Time => "time(6)".into(),
        DataType::TimeTz => "varchar(32)".into(),
        DataType::Timestamp | DataType::TimestampTz => "datetime(6)".into(),
        DataType::Interval => "varchar(64)".into(),
        DataType::Bits(n) if (1..=64).contains(n) => format!("bit({n})"),
        DataType::Bits(_) => "longblob".into(),
    }
}

/// The MariaDB type of one source column, before the per-table key and row-size adjustments.
pub fn target_type(connector: &str, col: &Column) -> String {
    let native = if matches!(connector, "mysql" | "mariadb") { mariadb_source_type(col) } else { None };
    native.unwrap_or_else(|| mariadb_type(&Portable::of(connector, col)))
}

/// What family a type belongs to, and how much it holds within the family.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    /// Byte width, unsigned.
    Int(u8, bool),
    /// Integer digits, fractional digits.
    Decimal(u32, u32),
    /// Bytes (4 = FLOAT, 8 = DOUBLE).
    Float(u8),
    /// Characters.
    Text(u64),
    /// Bytes.
    Binary(u64),
    /// Base name and fractional-second digits.
    Temporal(&'static str, u8),
    Other,
}

fn shape(t: &str) -> Shape {
    let t = t.trim().to_ascii_lowercase();
    let (args, base) = split_type(&t);
    let unsigned = base.contains("unsigned");
    let base = base.split(' ').next().unwrap_or("").to_owned();
    let n = |default: u64| args.first().map_or(default, |&a| a.max(0) as u64);
    match base.as_str() {
        "tinyint" => Shape::Int(1, unsigned),
        "smallint" | "year" => Shape::Int(2, unsigned),
        "mediumint" => Shape::Int(3, unsigned),
        "int" | "integer" => Shape::Int(4, unsigned),
        "bigint" => Shape::Int(8, unsigned),
        "decimal" | "numeric" => {
            let p = n(10) as u32;
            let s = args.get(1).map_or(0, |&s| s.max(0) as u32);
            Shape::Decimal(p.saturating_sub(s), s)
        }
        "float" => Shape::Float(4),
        "double" | "real" => Shape::Float(8),
        "char" | "varchar" => Shape::Text(n(1)),
        "tinytext" => Shape::Text(255 / CHAR_BYTES),
        "text" => Shape::Text(65_535 / CHAR_BYTES),
        "mediumtext" => Shape::Text(16_777_215 / CHAR_BYTES),
        "longtext" | "json" => Shape::Text(u64::from(u32::MAX) / CHAR_BYTES),
        "binary" | "varbinary" => Shape::Binary(n(1)),
        "tinyblob" => Shape::Binary(255),
        "blob" => Shape::Binary(65_535),
        "mediumblob" => Shape::Binary(16_777_215),
        "longblob" => Shape::Binary(u64::from(u32::MAX)),
        "date" => Shape::Temporal("date", 0),
        "time" => Shape::Temporal("time", n(0).min(6) as u8),
        "datetime" => Shape::Temporal("datetime", n(0).min(6) as u8),
        "timestamp" => Shape::Temporal("timestamp", n(0).min(6) as u8),
        _ => Shape::Other,
    }
}

/// Why an existing target column of type `target` cannot hold what the source now sends as
/// `wanted`, if it cannot. Only comparable shapes are judged; a hand-made target of another
/// family (say `VARCHAR` for a uuid) is trusted, except that a numeric or temporal column cannot
/// take text or bytes.
pub fn narrowing(target: &str, wanted: &str) -> Option<String> {
    let narrower = || Some(format!("{target} is narrower than {wanted}"));
    match (shape(target), shape(wanted)) {
        (Shape::Int(tw, tu), Shape::Int(ww, wu)) => {
            let fits = if tu == wu {
                ww <= tw
            } else if wu {
                ww < tw // unsigned into a wider signed
            } else {
                false // signed into unsigned: negatives do not fit
            };
            if fits {
                None
            } else {
                narrower()
            }
        }
        (Shape::Int(tw, tu), Shape::Decimal(wi, 0)) => {
            // DECIMAL(p,0) fits an integer type that holds p digits.
            let digits = match (tw, tu) {
                (1, _) => 2,
                (2, _) => 4,
                (3, _) => 6,
                (4, _) => 9,
                (_, false) => 18,
                (_, true) => 19,
            };
            (wi > digits).then(|| format!("{target} cannot hold {wanted}"))
        }
        (Shape::Int(..), Shape::Decimal(..) | Shape::Float(_)) => {
            Some(format!("{target} cannot hold {wanted}"))
        }
        (Shape::Decimal(ti, ts), Shape::Decimal(wi, ws)) => (wi > ti || ws > ts).then(narrower).flatten(),
        (Shape::Decimal(ti, _), Shape::Int(ww, wu)) => {
            let digits = match ww {
                1 => 3,
                2 => 5,
                3 => 8,
                4 => 10,
                _ if wu => 20,
                _ => 19,
            };
            (digits > ti).then(|| format!("{target} cannot hold {wanted}"))
        }
        (Shape::Float(t), Shape::Float(w)) => (w > t).then(narrower).flatten(),
        (Shape::Text(t), Shape::Text(w)) | (Shape::Binary(t), Shape::Binary(w)) => {
            (w > t).then(narrower).flatten()
        }
        (Shape::Temporal(tb, tf), Shape::Temporal(wb, wf)) if tb == wb => (wf > tf).then(narrower).flatten(),
        (
            Shape::Int(..) | Shape::Decimal(..) | Shape::Float(_) | Shape::Temporal(..),
            Shape::Text(_) | Shape::Binary(_),
        ) => Some(format!("{target} cannot hold {wanted}")),
        _ => None,
    }
}

fn is_lob(t: &str) -> Option<bool> {
    match t {
        "tinytext" | "text" | "mediumtext" | "longtext" | "json" => Some(true),
        "tinyblob" | "blob" | "mediumblob" | "longblob" => Some(false),
        _ => None,
    }
}

/// Bytes a bounded key column takes in the index (estimate; utf8mb4 strings at 4 per char).
fn key_bytes(t: &str) -> u64 {
    match shape(t) {
        Shape::Int(w, _) => u64::from(w),
        Shape::Decimal(i, s) => u64::from(i + s) / 2 + 1,
        Shape::Float(w) => u64::from(w),
        Shape::Text(n) => n.saturating_mul(CHAR_BYTES),
        Shape::Binary(n) => n,
        Shape::Temporal(..) | Shape::Other => 8,
    }
}

/// Target types of all of `source`'s columns, in column order, adjusted per table: LOB key
/// columns become `VARCHAR`/`VARBINARY` sharing the index key limit, and wide `VARCHAR`s become
/// `MEDIUMTEXT` while the declared row would exceed the row size limit.
pub fn column_types(connector: &str, source: &TableSchema) -> Vec<String> {
    let mut types: Vec<String> = source.columns.iter().map(|c| target_type(connector, c)).collect();
    let lob_keys: Vec<usize> =
        source.key.iter().copied().filter(|&i| types.get(i).and_then(|t| is_lob(t)).is_some()).collect();
    if !lob_keys.is_empty() {
        let fixed: u64 = source
            .key
            .iter()
            .filter(|i| !lob_keys.contains(i))
            .filter_map(|&i| types.get(i))
            .map(|t| key_bytes(t))
            .sum();
        let share = (MAX_KEY_BYTES.saturating_sub(fixed) / lob_keys.len() as u64).max(CHAR_BYTES);
        for i in lob_keys {
            if let Some(t) = types.get_mut(i) {
                *t = match is_lob(t) {
                    Some(true) => format!("varchar({})", share / CHAR_BYTES),
                    _ => format!("varbinary({share})"),
                };
            }
        }
    }
    let varchar_bytes = |types: &[String]| -> u64 {
        types
            .iter()
            .filter(|t| t.starts_with("varchar") || t.starts_with("varbinary"))
            .map(|t| key_bytes(t))
            .sum()
    };
    while varchar_bytes(&types) > MAX_ROW_BYTES {
        let widest = types
            .iter()
            .enumerate()
            .filter(|(i, t)| !source.key.contains(i) && t.starts_with("varchar"))
            .max_by_key(|(_, t)| key_bytes(t))
            .map(|(i, _)| i);
        match widest.and_then(|i| types.get_mut(i)) {
            Some(t) => *t = "mediumtext".into(),
            None => break, // only key columns left: the server will say what is wrong
        }
    }
    types
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::TableId;

    fn pg(st: &str) -> String {
        target_type("postgresql", &Column::new("c", DataType::Text, st, true))
    }

    fn pg_typed(st: &str, dt: DataType) -> String {
        target_type("postgresql", &Column::new("c", dt, st, true))
    }

    fn dec(p: Option<u32>, s: Option<u32>) -> DataType {
        DataType::Decimal { precision: p, scale: s }
    }

    #[test]
    fn postgres_types_map() {
        assert_eq!(pg_typed("integer", DataType::Int32), "int");
        assert_eq!(pg_typed("numeric(14,4)", dec(Some(14), Some(4))), "decimal(14,4)");
        assert_eq!(pg_typed("numeric", dec(None, None)), "decimal(65,30)");
        assert_eq!(pg_typed("numeric(100,2)", dec(Some(100), Some(2))), "decimal(65,30)");
        assert_eq!(pg_typed("timestamp with time zone", DataType::TimestampTz), "datetime(6)");
        assert_eq!(pg_typed("timestamp(3) without time zone", DataType::Timestamp), "datetime(3)");
        assert_eq!(pg_typed("TIMESTAMP(3)", DataType::Timestamp), "datetime(3)");
        assert_eq!(pg_typed("time(0) without time zone", DataType::Time), "time(0)");
        assert_eq!(pg("inet"), "varchar(64)");
        assert_eq!(pg_typed("bit(3)", DataType::Text), "bit(3)");
        assert_eq!(pg_typed("integer[]", DataType::Array(Box::new(DataType::Int32))), "json");
        assert_eq!(pg("character varying(20)"), "varchar(20)");
        assert_eq!(pg("character varying(100000)"), "mediumtext");
        assert_eq!(pg("character varying"), "longtext");
        assert_eq!(pg("character(3)"), "char(3)");
        assert_eq!(pg_typed("jsonb", DataType::Json), "json");
        assert_eq!(pg_typed("interval day to second(3)", DataType::Interval), "varchar(64)");
        assert_eq!(pg_typed("boolean", DataType::Boolean), "tinyint(1)");
        assert_eq!(pg_typed("bytea", DataType::Bytes), "longblob");
        // user-defined (enum) → logical type
        assert_eq!(
            target_type("postgresql", &Column::new("c", DataType::Enum(vec!["a".into()]), "mood", true)),
            "varchar(255)"
        );
    }

    #[test]
    fn mariadb_types_are_kept_and_checked() {
        let c = |st: &str, dt: DataType| target_type("mysql", &Column::new("c", dt, st, true));
        assert_eq!(c("int(10) unsigned", DataType::Int64), "int(10) unsigned");
        assert_eq!(c("datetime(6)", DataType::Timestamp), "datetime(6)");
        assert_eq!(c("enum('a','b''c')", DataType::Enum(vec!["a".into(), "b'c".into()])), "enum('a','b''c')");
        assert_eq!(c("int; drop table x", DataType::Int32), "int");
        assert_eq!(c("geometry", DataType::Bytes), "longblob");
    }

    #[test]
    fn key_lobs_become_varchar() {
        let t = TableSchema {
            id: TableId::new("s", "t"),
            columns: vec![
                Column::new("a", DataType::Text, "text", false),
                Column::new("b", DataType::Bytes, "bytea", false),
                Column::new("c", DataType::Text, "text", true),
            ],
            key: vec![0, 1],
            version: 1,
        };
        assert_eq!(column_types("postgresql", &t), ["varchar(384)", "varbinary(1536)", "longtext"]);
    }

    #[test]
    fn wide_rows_fall_back_to_mediumtext() {
        let mut columns = vec![Column::new("id", DataType::Int32, "integer", false)];
        for i in 0..6 {
            columns.push(Column::new(format!("v{i}"), DataType::Text, "character varying(4000)", true));
        }
        let t = TableSchema { id: TableId::new("s", "t"), columns, key: vec![0], version: 1 };
        let types = column_types("postgresql", &t);
        assert_eq!(types.iter().filter(|t| *t == "varchar(4000)").count(), 4, "{types:?}");
    }

    #[test]
    fn narrowing_is_detected() {
        assert!(narrowing("varchar(10)", "varchar(20)").is_some());
        assert!(narrowing("varchar(20)", "varchar(10)").is_none());
        assert!(narrowing("int(11)", "bigint").is_some());
        assert!(narrowing("bigint(20)", "int").is_none());
        assert!(narrowing("int(10) unsigned", "int").is_some());
        assert!(narrowing("bigint", "int unsigned").is_none());
        assert!(narrowing("decimal(10,2)", "decimal(12,2)").is_some());
        assert!(narrowing("decimal(10,2)", "decimal(65,30)").is_some());
        assert!(narrowing("varchar(10)", "longtext").is_some());
        assert!(narrowing("longtext", "json").is_none());
        assert!(narrowing("datetime(3)", "datetime(6)").is_some());
        assert!(narrowing("float", "double").is_some());
        assert!(narrowing("int(11)", "varchar(5)").is_some());
        assert!(narrowing("varchar(36)", "char(36)").is_none());
    }
}
