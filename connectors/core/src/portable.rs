//! A column's type as every target maps it: the logical [`DataType`] with what the source
//! declared about its size (length, fixed width, fractional seconds), read once per *source*
//! engine from the column's `source_type`. Each target then has one mapping table, from
//! [`Portable`], instead of one per (source engine × target); a target uses a source's own
//! type only when source and target are the same engine (PostgreSQL → PostgreSQL keeps `inet`,
//! MariaDB → MariaDB keeps `SET`).
//!
//! Refinements (where the logical type alone loses what a target needs):
//! - PostgreSQL: `character varying(n)` / `character(n)` / `bit varying(n)` carry their length;
//!   `bit(n)` is [`DataType::Bits`]; `time(p)` / `timestamp(p)` their precision; `inet`, `cidr`,
//!   `macaddr`, `macaddr8` and `money` are text of at most 64 characters.
//! - MySQL/MariaDB: `tinyint(1)` is a boolean, `year` a small integer, `time` a duration
//!   ([`DataType::Interval`]: it spans ±838 hours), `char(n)` / `varchar(n)` / `binary(n)` /
//!   `varbinary(n)` carry their length, `datetime(p)` / `timestamp(p)` their precision.
//!
//! Both spellings of PostgreSQL types are read: `format_type`'s (`character varying(20)`, what
//! Sluice's source reports) and `pg_type`'s (`VARCHAR(20)`, `INT4`, `_TEXT`, what Debezium's
//! `column.propagate.source.type` reports).

use crate::{Column, DataType};

/// A column's type, portable across targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Portable {
    pub data_type: DataType,
    /// Declared maximum length: characters for text, bytes for binary; `None` = unbounded.
    pub length: Option<u32>,
    /// Fixed width (`char(n)`, `binary(n)`).
    pub fixed: bool,
    /// Fractional-second digits of a time or timestamp; `None` = 6.
    pub fsp: Option<u8>,
}

impl Portable {
    /// The portable type of `col`, a column of a `connector` (`postgresql`, `mysql`) source.
    pub fn of(connector: &str, col: &Column) -> Self {
        let plain = Self { data_type: col.data_type.clone(), length: None, fixed: false, fsp: None };
        let st = col.source_type.trim().to_ascii_lowercase();
        match connector {
            "postgresql" => postgres(plain, &pg_format_type(&st)),
            "mysql" | "mariadb" => mysql(plain, &st),
            _ => plain,
        }
    }

    fn sized(data_type: DataType, length: Option<i64>, fixed: bool) -> Self {
        let length = length.and_then(|n| u32::try_from(n).ok());
        Self { data_type, length, fixed, fsp: None }
    }
}

fn fsp(args: &[i64]) -> Option<u8> {
    args.first().map(|&p| p.clamp(0, 6) as u8)
}

fn postgres(plain: Portable, st: &str) -> Portable {
    if st.ends_with("[]") {
        return plain;
    }
    let (args, base) = split_type(st);
    let a0 = args.first().copied();
    match base.as_str() {
        "character varying" => Portable::sized(DataType::Text, a0, false),
        "character" => Portable::sized(DataType::Text, Some(a0.unwrap_or(1)), true),
        "bit varying" => Portable::sized(DataType::Text, a0, false),
        "bit" => Portable {
            data_type: DataType::Bits(a0.unwrap_or(1).clamp(1, i64::from(u32::MAX)) as u32),
            ..plain
        },
        "inet" | "cidr" | "macaddr" | "macaddr8" | "money" => {
            Portable::sized(DataType::Text, Some(64), false)
        }
        "timestamp without time zone" | "timestamp with time zone" | "time without time zone" => {
            Portable { fsp: fsp(&args), ..plain }
        }
        _ => plain,
    }
}

fn mysql(plain: Portable, st: &str) -> Portable {
    let (args, base) = split_type(st);
    let a0 = args.first().copied();
    match base.as_str() {
        "tinyint" if a0 == Some(1) => Portable { data_type: DataType::Boolean, ..plain },
        "year" => Portable { data_type: DataType::Int16, ..plain },
        "time" => Portable { data_type: DataType::Interval, fsp: fsp(&args), ..plain },
        "char" => Portable::sized(DataType::Text, Some(a0.unwrap_or(1)), true),
        "varchar" => Portable::sized(DataType::Text, a0, false),
        "binary" => Portable::sized(DataType::Bytes, Some(a0.unwrap_or(1)), true),
        "varbinary" => Portable::sized(DataType::Bytes, a0, false),
        "datetime" | "timestamp" => Portable { fsp: fsp(&args), ..plain },
        "uuid" => Portable { data_type: DataType::Uuid, ..plain },
        _ => plain,
    }
}

/// `(args, base)` of a type: `numeric(10,2)` → `([10, 2], "numeric")`;
/// `timestamp(3) without time zone` → `([3], "timestamp without time zone")`.
pub fn split_type(t: &str) -> (Vec<i64>, String) {
    let mut base = String::with_capacity(t.len());
    let mut args = Vec::new();
    let mut rest = t;
    while let Some(open) = rest.find('(') {
        base.push_str(&rest[..open]);
        let Some(close) = rest[open..].find(')') else { break };
        if args.is_empty() {
            args = rest[open + 1..open + close].split(',').filter_map(|x| x.trim().parse().ok()).collect();
        }
        rest = &rest[open + close + 1..];
    }
    base.push_str(rest);
    (args, base.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// A lowercase PostgreSQL type in `format_type` spelling: `pg_type` names (`int4`, `bpchar(5)`,
/// `_text`, `timestamptz`) become `integer`, `character(5)`, `text[]`,
/// `timestamp with time zone`; other types are unchanged.
pub fn pg_format_type(st: &str) -> String {
    if st.contains(' ') {
        // Already `format_type` spelling (`timestamp(3) without time zone`).
        return st.to_owned();
    }
    let (array, st) = match st.strip_prefix('_') {
        Some(rest) => (true, rest),
        None => (false, st),
    };
    let (base, mods) = match st.find('(') {
        Some(i) => (&st[..i], &st[i..]),
        None => (st, ""),
    };
    let spelled = match base {
        "int2" => "smallint".to_owned(),
        "int4" => "integer".to_owned(),
        "int8" => "bigint".to_owned(),
        "float4" => "real".to_owned(),
        "float8" => "double precision".to_owned(),
        "bool" => "boolean".to_owned(),
        "varchar" => format!("character varying{mods}"),
        "bpchar" => format!("character{mods}"),
        "varbit" => format!("bit varying{mods}"),
        "timestamptz" => format!("timestamp{mods} with time zone"),
        "timestamp" if !mods.is_empty() => format!("timestamp{mods} without time zone"),
        "timestamp" => "timestamp without time zone".to_owned(),
        "timetz" => format!("time{mods} with time zone"),
        "time" if !mods.is_empty() => format!("time{mods} without time zone"),
        "time" => "time without time zone".to_owned(),
        _ => format!("{base}{mods}"),
    };
    if array {
        format!("{spelled}[]")
    } else {
        spelled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(connector: &str, st: &str, dt: DataType) -> Portable {
        Portable::of(connector, &Column::new("c", dt, st, true))
    }

    #[test]
    fn postgres_lengths_and_precision_in_both_spellings() {
        for st in ["character varying(20)", "VARCHAR(20)"] {
            let p = of("postgresql", st, DataType::Text);
            assert_eq!((p.length, p.fixed), (Some(20), false), "{st}");
        }
        for st in ["character(5)", "BPCHAR(5)"] {
            assert_eq!(of("postgresql", st, DataType::Text).length, Some(5), "{st}");
        }
        assert_eq!(of("postgresql", "timestamp(3) without time zone", DataType::Timestamp).fsp, Some(3));
        assert_eq!(of("postgresql", "TIMESTAMPTZ(2)", DataType::TimestampTz).fsp, Some(2));
        assert_eq!(of("postgresql", "bit(12)", DataType::Text).data_type, DataType::Bits(12));
        assert_eq!(of("postgresql", "inet", DataType::Text).length, Some(64));
        assert_eq!(of("postgresql", "_TEXT", DataType::Array(Box::new(DataType::Text))).length, None);
        assert_eq!(pg_format_type("timestamp(3) without time zone"), "timestamp(3) without time zone");
        assert_eq!(pg_format_type("timestamp(3)"), "timestamp(3) without time zone");
    }

    #[test]
    fn mysql_refinements() {
        assert_eq!(of("mysql", "tinyint(1)", DataType::Int16).data_type, DataType::Boolean);
        assert_eq!(of("mysql", "tinyint(4)", DataType::Int16).data_type, DataType::Int16);
        assert_eq!(of("mysql", "year", DataType::Int32).data_type, DataType::Int16);
        assert_eq!(of("mysql", "time(3)", DataType::Time).data_type, DataType::Interval);
        let c = of("mysql", "char(3)", DataType::Text);
        assert_eq!((c.length, c.fixed), (Some(3), true));
        assert_eq!(of("mysql", "varbinary(16)", DataType::Bytes).length, Some(16));
        assert_eq!(of("mysql", "datetime(4)", DataType::Timestamp).fsp, Some(4));
        assert_eq!(of("mysql", "longtext", DataType::Text).length, None);
    }
}
