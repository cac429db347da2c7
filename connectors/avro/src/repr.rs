//! How each column travels: the Kafka Connect type Debezium 3.6 gives the same source column
//! under the settings Sluice mirrors, and how a [`Value`] is written in it.
//!
//! Settings mirrored (docs/avro.md lists them): `decimal.handling.mode=precise`,
//! `time.precision.mode=adaptive` (PostgreSQL) / `adaptive_time_microseconds` (MySQL/MariaDB),
//! `binary.handling.mode=bytes`, `interval.handling.mode=string` (exact, where Debezium's default
//! `numeric` approximates months), `money.fraction.digits=2`, `column.propagate.source.type=.*`.
//!
//! Invariants: a representation is a function of the column alone (name-independent), so a
//! table's schemas change only when its columns do; values that a representation cannot hold
//! exactly are an error naming the column, never a silent change. PostgreSQL's special values
//! keep their meaning: `±infinity` timestamps travel as Debezium's infinity constants (or the
//! strings `infinity`/`-infinity` in a `ZonedTimestamp`), `±infinity` dates as `i32::MAX`/`MIN`
//! days.

use sluice_core::{Column, DataType, DecimalHandling};

use crate::connect::{Kind, Schema};
use crate::schema_gen::{EnvelopeOptions, SourceKind};

/// The wire representation of a column's non-null values.
#[derive(Debug, Clone, PartialEq)]
pub enum Repr {
    Boolean,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    /// `org.apache.kafka.connect.data.Decimal` bytes at a fixed scale.
    Decimal {
        precision: Option<u32>,
        scale: u32,
    },
    /// PostgreSQL `money` as a decimal at scale 2 (the source's text is `$1,234.56`).
    Money,
    /// `decimal.handling.mode=string`: the exact decimal text (`NaN`, `Infinity` included).
    DecimalString,
    /// `decimal.handling.mode=double`.
    DecimalDouble,
    /// `io.debezium.data.VariableScaleDecimal` `{scale, value}`.
    VariableScaleDecimal,
    /// A string, plain or with a Debezium semantic name (`io.debezium.data.Json`, `…Xml`, `…Uuid`).
    String(Option<&'static str>),
    /// `io.debezium.data.Enum` / `io.debezium.data.EnumSet` with its `allowed` values.
    Enum {
        set: bool,
        allowed: String,
    },
    Bytes,
    /// `io.debezium.data.Bits` bytes (little-endian bit order) with its `length`.
    Bits(u32),
    /// `io.debezium.time.Date`: days since the epoch.
    Date,
    /// `io.debezium.time.Year`.
    Year,
    /// `io.debezium.time.Time`: milliseconds since midnight (precision ≤ 3).
    TimeMillis,
    /// `io.debezium.time.MicroTime`.
    MicroTime,
    /// `io.debezium.time.Timestamp`: milliseconds since the epoch, wall clock (precision ≤ 3).
    TimestampMillis,
    /// `io.debezium.time.MicroTimestamp`.
    MicroTimestamp,
    /// `io.debezium.time.ZonedTimestamp`: ISO-8601 in UTC, `infinity`/`-infinity`.
    ZonedTimestamp,
    /// `io.debezium.time.ZonedTime`.
    ZonedTime,
    /// `io.debezium.time.Interval`: ISO-8601 duration.
    Interval,
    /// `io.debezium.data.geometry.Point` `{x, y, wkb, srid}` from PostgreSQL's `(x,y)`.
    Point,
    Array(Box<Repr>),
}

/// Debezium's stand-ins for PostgreSQL `±infinity` timestamps (pgjdbc's infinity dates), in
/// microseconds; millisecond fields carry them divided by 1000, as Debezium writes them. Written
/// for `i64::MAX`/`i64::MIN`, read back as them.
pub const PG_INFINITY_MICROS: i64 = 9_223_372_036_825_200_000;
pub const PG_NEG_INFINITY_MICROS: i64 = -9_223_372_036_832_400_000;

/// A wall-clock timestamp (µs since the epoch) as Debezium writes it in an
/// `io.debezium.time.Timestamp` (`millis`) or `MicroTimestamp` field: `±infinity`
/// (`i64::MAX`/`MIN`) as its constants, others truncated to the field's unit.
pub fn timestamp_field(micros: i64, millis: bool) -> i64 {
    let unit = if millis { 1000 } else { 1 };
    match micros {
        i64::MAX => PG_INFINITY_MICROS / unit,
        i64::MIN => PG_NEG_INFINITY_MICROS / unit,
        t => t.div_euclid(unit),
    }
}

/// The precision in `timestamp(3) without time zone`, `datetime(6)`, `time(0)`.
fn fractional_precision(source_type: &str) -> Option<u32> {
    let st = source_type.trim();
    let (a, b) = (st.find('(')?, st.find(')')?);
    st.get(a + 1..b)?.trim().parse().ok()
}

fn base_type(source_type: &str) -> String {
    let st = source_type.trim().to_ascii_lowercase();
    let unmodified = match (st.find('('), st.find(')')) {
        (Some(a), Some(b)) if b > a => format!("{}{}", &st[..a], &st[b + 1..]),
        _ => st,
    };
    unmodified.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Repr {
    /// The representation of `col` under `opts` (source kind, decimal handling).
    pub fn of(col: &Column, opts: &EnvelopeOptions) -> Repr {
        let base = base_type(&col.source_type);
        let precision = fractional_precision(&col.source_type);
        let repr = Self::of_type(&col.data_type, &base, precision, opts.source);
        repr.with_decimal_handling(opts.decimal_handling)
    }

    fn with_decimal_handling(self, mode: DecimalHandling) -> Repr {
        match (self, mode) {
            (Repr::Array(inner), _) => Repr::Array(Box::new(inner.with_decimal_handling(mode))),
            (Repr::Decimal { .. } | Repr::Money | Repr::VariableScaleDecimal, DecimalHandling::String) => {
                Repr::DecimalString
            }
            (Repr::Decimal { .. } | Repr::Money | Repr::VariableScaleDecimal, DecimalHandling::Double) => {
                Repr::DecimalDouble
            }
            (r, _) => r,
        }
    }

    /// A column default (the literal's text) as the Connect/Avro default value, for the types
    /// whose default both renderings spell alike (numbers, booleans, strings); `None` otherwise.
    pub fn default_json(&self, literal: &str) -> Option<serde_json::Value> {
        use serde_json::json;
        match self {
            Repr::Int16 | Repr::Int32 | Repr::Int64 | Repr::Year => {
                literal.trim().parse::<i64>().ok().map(|v| json!(v))
            }
            Repr::Float32 | Repr::Float64 => {
                literal.trim().parse::<f64>().ok().filter(|f| f.is_finite()).map(|v| json!(v))
            }
            Repr::Boolean => match literal.trim().to_ascii_lowercase().as_str() {
                "true" | "t" | "1" | "b'1'" => Some(json!(true)),
                "false" | "f" | "0" | "b'0'" => Some(json!(false)),
                _ => None,
            },
            Repr::String(None) | Repr::Enum { .. } => Some(json!(literal)),
            _ => None,
        }
    }

    /// Whether the representation is a Connect decimal, which cannot hold `NaN`/`±Infinity`.
    pub fn is_exact_decimal(&self) -> bool {
        matches!(self, Repr::Decimal { .. } | Repr::Money | Repr::VariableScaleDecimal)
    }

    fn of_type(dt: &DataType, base: &str, precision: Option<u32>, kind: SourceKind) -> Repr {
        let pg = kind == SourceKind::Postgres;
        match dt {
            DataType::Boolean => Repr::Boolean,
            DataType::Int16 => Repr::Int16,
            DataType::Int32 if !pg && base == "year" => Repr::Year,
            DataType::Int32 => Repr::Int32,
            DataType::Int64 => Repr::Int64,
            DataType::UInt64 => Repr::Decimal { precision: Some(20), scale: 0 },
            DataType::Float32 => Repr::Float32,
            DataType::Float64 => Repr::Float64,
            DataType::Decimal { precision: Some(p), scale } => {
                Repr::Decimal { precision: Some(*p), scale: scale.unwrap_or(0) }
            }
            DataType::Decimal { precision: None, .. } => Repr::VariableScaleDecimal,
            DataType::Text if pg => match base.trim_end_matches("[]") {
                "money" => Repr::Money,
                "xml" => Repr::String(Some("io.debezium.data.Xml")),
                "point" => Repr::Point,
                // bit(1) is a boolean for Debezium; bit varying stays text (see docs/avro.md:
                // Debezium's Bits cannot tell `101` from `0101` in a varying column).
                "bit" if precision.unwrap_or(1) == 1 => Repr::Boolean,
                "bit" => Repr::Bits(precision.unwrap_or(1)),
                _ => Repr::String(None),
            },
            DataType::Text => Repr::String(None),
            DataType::Bytes => Repr::Bytes,
            DataType::Json => Repr::String(Some("io.debezium.data.Json")),
            DataType::Uuid => Repr::String(Some("io.debezium.data.Uuid")),
            DataType::Date => Repr::Date,
            DataType::Time if pg && precision.is_some_and(|p| p <= 3) => Repr::TimeMillis,
            DataType::Time => Repr::MicroTime,
            DataType::TimeTz => Repr::ZonedTime,
            // MySQL DATETIME without fractional seconds has precision 0.
            DataType::Timestamp if precision.unwrap_or(if pg { 6 } else { 0 }) <= 3 => Repr::TimestampMillis,
            DataType::Timestamp => Repr::MicroTimestamp,
            DataType::TimestampTz => Repr::ZonedTimestamp,
            DataType::Interval => Repr::Interval,
            DataType::Enum(values) => Repr::Enum { set: false, allowed: values.join(",") },
            DataType::Set(values) => Repr::Enum { set: true, allowed: values.join(",") },
            DataType::Bits(1) => Repr::Boolean,
            DataType::Bits(n) => Repr::Bits(*n),
            DataType::Array(inner) => {
                let elem = base.trim_end_matches("[]");
                Repr::Array(Box::new(Self::of_type(inner, elem, precision, kind)))
            }
        }
    }

    /// The Connect schema of a non-null value (not optional, without source-type parameters).
    pub fn connect_schema(&self) -> Schema {
        match self {
            Repr::Boolean => Schema::of(Kind::Boolean),
            Repr::Int16 => Schema::of(Kind::Int16),
            Repr::Int32 => Schema::of(Kind::Int32),
            Repr::Int64 => Schema::of(Kind::Int64),
            Repr::Float32 => Schema::of(Kind::Float32),
            Repr::Float64 => Schema::of(Kind::Float64),
            Repr::Decimal { precision, scale } => Schema::decimal(*precision, *scale),
            Repr::Money => Schema::decimal(None, 2),
            Repr::DecimalString => Schema::of(Kind::String),
            Repr::DecimalDouble => Schema::of(Kind::Float64),
            Repr::VariableScaleDecimal => Schema::semantic(
                Kind::Struct(vec![
                    crate::connect::Field::new("scale", Schema::of(Kind::Int32)),
                    crate::connect::Field::new("value", Schema::of(Kind::Bytes)),
                ]),
                "io.debezium.data.VariableScaleDecimal",
            )
            .doc("Variable scaled decimal"),
            Repr::String(None) => Schema::of(Kind::String),
            Repr::String(Some(name)) => Schema::semantic(Kind::String, name),
            Repr::Enum { set, allowed } => Schema::semantic(
                Kind::String,
                if *set { "io.debezium.data.EnumSet" } else { "io.debezium.data.Enum" },
            )
            .param("allowed", allowed.clone()),
            Repr::Bytes => Schema::of(Kind::Bytes),
            Repr::Bits(n) => {
                Schema::semantic(Kind::Bytes, "io.debezium.data.Bits").param("length", n.to_string())
            }
            Repr::Date => Schema::semantic(Kind::Int32, "io.debezium.time.Date"),
            Repr::Year => Schema::semantic(Kind::Int32, "io.debezium.time.Year"),
            Repr::TimeMillis => Schema::semantic(Kind::Int32, "io.debezium.time.Time"),
            Repr::MicroTime => Schema::semantic(Kind::Int64, "io.debezium.time.MicroTime"),
            Repr::TimestampMillis => Schema::semantic(Kind::Int64, "io.debezium.time.Timestamp"),
            Repr::MicroTimestamp => Schema::semantic(Kind::Int64, "io.debezium.time.MicroTimestamp"),
            Repr::ZonedTimestamp => Schema::semantic(Kind::String, "io.debezium.time.ZonedTimestamp"),
            Repr::ZonedTime => Schema::semantic(Kind::String, "io.debezium.time.ZonedTime"),
            Repr::Interval => Schema::semantic(Kind::String, "io.debezium.time.Interval"),
            Repr::Point => Schema::semantic(
                Kind::Struct(vec![
                    crate::connect::Field::new("x", Schema::of(Kind::Float64)),
                    crate::connect::Field::new("y", Schema::of(Kind::Float64)),
                    crate::connect::Field::new("wkb", Schema::of(Kind::Bytes).optional()),
                    crate::connect::Field::new("srid", Schema::of(Kind::Int32).optional()),
                ]),
                "io.debezium.data.geometry.Point",
            )
            .doc("Geometry (POINT)"),
            Repr::Array(inner) => Schema::of(Kind::Array(Box::new(inner.connect_schema().optional()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr(dt: DataType, st: &str, kind: SourceKind) -> Repr {
        Repr::of(&Column::new("c", dt, st, true), &EnvelopeOptions::new("p", kind))
    }

    #[test]
    fn decimal_handling_modes() {
        let col = Column::new("c", DataType::Decimal { precision: None, scale: None }, "numeric", true);
        let mut o = EnvelopeOptions::new("p", SourceKind::Postgres);
        assert_eq!(Repr::of(&col, &o), Repr::VariableScaleDecimal);
        o.decimal_handling = DecimalHandling::String;
        assert_eq!(Repr::of(&col, &o), Repr::DecimalString);
        let arr = Column::new("a", DataType::Array(Box::new(col.data_type.clone())), "numeric[]", true);
        assert_eq!(Repr::of(&arr, &o), Repr::Array(Box::new(Repr::DecimalString)));
        o.decimal_handling = DecimalHandling::Double;
        assert_eq!(Repr::of(&col, &o), Repr::DecimalDouble);
    }

    #[test]
    fn temporal_precision_follows_debezium_adaptive_modes() {
        use SourceKind::{MySql, Postgres};
        assert_eq!(repr(DataType::Timestamp, "timestamp without time zone", Postgres), Repr::MicroTimestamp);
        assert_eq!(
            repr(DataType::Timestamp, "timestamp(3) without time zone", Postgres),
            Repr::TimestampMillis
        );
        assert_eq!(repr(DataType::Time, "time(2) without time zone", Postgres), Repr::TimeMillis);
        assert_eq!(repr(DataType::Time, "time without time zone", Postgres), Repr::MicroTime);
        assert_eq!(repr(DataType::Time, "time(0)", MySql), Repr::MicroTime);
        assert_eq!(repr(DataType::Timestamp, "datetime", MySql), Repr::TimestampMillis);
        assert_eq!(repr(DataType::Timestamp, "datetime(6)", MySql), Repr::MicroTimestamp);
        assert_eq!(repr(DataType::TimestampTz, "timestamp(6)", MySql), Repr::ZonedTimestamp);
        assert_eq!(repr(DataType::Int32, "year", MySql), Repr::Year);
    }

    #[test]
    fn postgres_text_types_get_debezium_semantics() {
        let pg = SourceKind::Postgres;
        assert_eq!(repr(DataType::Text, "money", pg), Repr::Money);
        assert_eq!(repr(DataType::Text, "xml", pg), Repr::String(Some("io.debezium.data.Xml")));
        assert_eq!(repr(DataType::Text, "bit(16)", pg), Repr::Bits(16));
        assert_eq!(repr(DataType::Text, "bit(1)", pg), Repr::Boolean);
        assert_eq!(repr(DataType::Text, "bit varying(16)", pg), Repr::String(None));
        assert_eq!(repr(DataType::Text, "point", pg), Repr::Point);
        assert_eq!(repr(DataType::Text, "inet", pg), Repr::String(None));
    }
}
