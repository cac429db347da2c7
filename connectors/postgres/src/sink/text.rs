//! Values as PostgreSQL text input.
//!
//! Every value is bound as a `text` parameter and cast to the target column's type in SQL
//! (`$1::text::numeric`), so the server's own input functions parse it and nothing is rounded on
//! the way: decimals stay their decimal text, temporal values are rendered from their integer
//! microseconds, bytea as `\x` hex, arrays as array literals, intervals as `N mons N days N secs`.
//! [`Cell::Unchanged`] is not a value: the statement builder leaves such a column out.

use std::fmt::Write as _;

use sluice_core::{DataType, Value};

/// One column of a row as it will be bound.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Cell {
    /// The source did not send it; the target keeps its value.
    Unchanged,
    Null,
    Text(String),
}

impl Cell {
    pub fn as_param(&self) -> Option<&str> {
        match self {
            Cell::Text(s) => Some(s),
            Cell::Null | Cell::Unchanged => None,
        }
    }
}

pub fn cell(v: &Value) -> Cell {
    match v {
        Value::Unchanged => Cell::Unchanged,
        Value::Null => Cell::Null,
        other => Cell::Text(render(other)),
    }
}

/// A value for a column of logical type `ty`. Bit strings (Debezium's `io.debezium.data.Bits`:
/// little-endian bytes, or a boolean for `BIT(1)`) become `0`/`1` text of the column's width,
/// which `bit varying` accepts; everything else is [`cell`].
pub fn typed_cell(ty: &DataType, v: &Value) -> Cell {
    match (ty, v) {
        (DataType::Bits(n), Value::Bytes(le)) => Cell::Text(
            (0..*n)
                .rev()
                .map(|i| {
                    let byte = le.get((i / 8) as usize).copied().unwrap_or(0);
                    if (byte >> (i % 8)) & 1 == 1 {
                        '1'
                    } else {
                        '0'
                    }
                })
                .collect(),
        ),
        (DataType::Bits(_), Value::Bool(b)) => Cell::Text(if *b { "1" } else { "0" }.into()),
        _ => cell(v),
    }
}

/// The PostgreSQL text form of a non-null value.
pub fn render(v: &Value) -> String {
    match v {
        Value::Null | Value::Unchanged => String::new(),
        Value::Bool(b) => if *b { "t" } else { "f" }.to_owned(),
        Value::Int16(n) => n.to_string(),
        Value::Int32(n) => n.to_string(),
        Value::Int64(n) => n.to_string(),
        Value::UInt64(n) => n.to_string(),
        Value::Float32(f) => float(f64::from(*f), f.to_string()),
        Value::Float64(f) => float(*f, f.to_string()),
        Value::Decimal(s) | Value::Text(s) | Value::Json(s) => s.clone(),
        Value::Bytes(b) => {
            let mut s = String::with_capacity(2 + b.len() * 2);
            s.push_str("\\x");
            for byte in b {
                let _ = write!(s, "{byte:02x}");
            }
            s
        }
        Value::Uuid(u) => {
            let mut s = String::with_capacity(36);
            for (i, byte) in u.iter().enumerate() {
                if matches!(i, 4 | 6 | 8 | 10) {
                    s.push('-');
                }
                let _ = write!(s, "{byte:02x}");
            }
            s
        }
        // The sources' stand-ins for `±infinity` (docs/avro.md, "Edge values").
        Value::Date(i32::MAX) | Value::Timestamp(i64::MAX) | Value::TimestampTz(i64::MAX) => {
            "infinity".into()
        }
        Value::Date(i32::MIN) | Value::Timestamp(i64::MIN) | Value::TimestampTz(i64::MIN) => {
            "-infinity".into()
        }
        Value::Date(days) => sluice_core::civil::date_text(i64::from(*days)),
        Value::Time(micros) => sluice_core::civil::time_text(*micros),
        Value::TimeTz { micros, offset_seconds } => {
            format!(
                "{}{}",
                sluice_core::civil::time_text(*micros),
                sluice_core::civil::utc_offset_text(*offset_seconds)
            )
        }
        Value::Timestamp(m) => sluice_core::civil::timestamp_text(*m),
        Value::TimestampTz(m) => {
            format!("{}+00", sluice_core::civil::timestamp_text(*m)).replace(" BC+00", "+00 BC")
        }
        Value::Interval { months, days, micros } => {
            format!("{months} mons {days} days {} secs", seconds(*micros))
        }
        Value::Array(items) => array(items),
    }
}

fn float(f: f64, shortest: String) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        shortest
    }
}

/// `[-]S.ffffff` seconds from microseconds.
fn seconds(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let a = micros.unsigned_abs();
    format!("{sign}{}.{:06}", a / 1_000_000, a % 1_000_000)
}

/// `HH:MM:SS.ffffff`; hours may exceed 23 (MySQL `TIME`) or be negative.
/// A PostgreSQL array literal; every element quoted, nested arrays as sub-literals.
fn array(items: &[Value]) -> String {
    let mut s = String::from("{");
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        match v {
            Value::Null | Value::Unchanged => s.push_str("NULL"),
            Value::Array(inner) => s.push_str(&array(inner)),
            other => {
                s.push('"');
                for c in render(other).chars() {
                    if c == '"' || c == '\\' {
                        s.push('\\');
                    }
                    s.push(c);
                }
                s.push('"');
            }
        }
    }
    s.push('}');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporal_values_render_as_postgres_input() {
        assert_eq!(render(&Value::Date(0)), "1970-01-01");
        assert_eq!(render(&Value::Date(i32::MAX)), "infinity");
        assert_eq!(render(&Value::Timestamp(i64::MIN)), "-infinity");
        assert_eq!(render(&Value::TimestampTz(i64::MAX)), "infinity");
        assert_eq!(
            typed_cell(&DataType::Bits(10), &Value::Bytes(vec![0x03, 0x02])),
            Cell::Text("1000000011".into())
        );
        assert_eq!(typed_cell(&DataType::Bits(1), &Value::Bool(true)), Cell::Text("1".into()));
        assert_eq!(render(&Value::Date(-719_528)), "0000-01-01".replace("0000", "0001") + " BC");
        assert_eq!(render(&Value::Date(19_000)), "2022-01-08");
        assert_eq!(render(&Value::Timestamp(1_500_000)), "1970-01-01 00:00:01.500000");
        assert_eq!(render(&Value::Timestamp(-1)), "1969-12-31 23:59:59.999999");
        assert_eq!(render(&Value::TimestampTz(0)), "1970-01-01 00:00:00.000000+00");
        assert_eq!(
            render(&Value::TimeTz { micros: 3_600_000_000, offset_seconds: -5 * 3600 - 1800 }),
            "01:00:00.000000-05:30"
        );
        assert_eq!(
            render(&Value::Interval { months: -14, days: 3, micros: -4_500_000 }),
            "-14 mons 3 days -4.500000 secs"
        );
    }

    #[test]
    fn binary_uuid_and_arrays() {
        assert_eq!(render(&Value::Bytes(vec![0, 255])), "\\x00ff");
        let u = [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(render(&Value::Uuid(u)), "12345678-9abc-def0-0102-030405060708");
        let a = Value::Array(vec![Value::Text("a\"b".into()), Value::Null, Value::Text("c\\".into())]);
        assert_eq!(render(&a), r#"{"a\"b",NULL,"c\\"}"#);
        let nested =
            Value::Array(vec![Value::Array(vec![Value::Int32(1)]), Value::Array(vec![Value::Int32(2)])]);
        assert_eq!(render(&nested), r#"{{"1"},{"2"}}"#);
        assert_eq!(render(&Value::Float64(f64::NEG_INFINITY)), "-Infinity");
        assert_eq!(render(&Value::Float64(0.1)), "0.1");
    }
}
