//! Logical values as BSON, exactly (the table is in docs/sinks.md, MongoDB target):
//! integers as Int32/Int64, `BIGINT UNSIGNED` and decimals as Decimal128 (refused when they do
//! not fit its 34 digits — never rounded), floats as Double, bytes as generic binary, UUIDs as
//! binary subtype 4, JSON as nested documents/arrays, dates as BSON dates at midnight UTC
//! (exact), times, timestamps and intervals as ISO-8601 text with microseconds (BSON dates hold
//! milliseconds only), arrays as arrays.

use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{Binary, Bson, DateTime, Decimal128};
use sluice_core::{civil, text, Value};

/// The BSON of `v`; `Err` names why it cannot be stored exactly.
pub fn to_bson(v: &Value) -> Result<Bson, String> {
    Ok(match v {
        Value::Null | Value::Unchanged => Bson::Null,
        Value::Bool(b) => Bson::Boolean(*b),
        Value::Int16(n) => Bson::Int32(i32::from(*n)),
        Value::Int32(n) => Bson::Int32(*n),
        Value::Int64(n) => Bson::Int64(*n),
        Value::UInt64(n) => Bson::Decimal128(decimal128(&n.to_string())?),
        Value::Float32(f) => Bson::Double(f64::from(*f)),
        Value::Float64(f) => Bson::Double(*f),
        Value::Decimal(s) => Bson::Decimal128(decimal128(s)?),
        Value::Text(s) => Bson::String(s.clone()),
        Value::Bytes(b) => Bson::Binary(Binary { subtype: BinarySubtype::Generic, bytes: b.clone() }),
        Value::Json(s) => match serde_json::from_str::<serde_json::Value>(s) {
            Ok(j) => Bson::try_from(j).map_err(|e| format!("JSON {s:?}: {e}"))?,
            Err(_) => Bson::String(s.clone()),
        },
        Value::Uuid(u) => Bson::Binary(Binary { subtype: BinarySubtype::Uuid, bytes: u.to_vec() }),
        Value::Date(i32::MAX) | Value::Timestamp(i64::MAX) | Value::TimestampTz(i64::MAX) => {
            Bson::String("infinity".into())
        }
        Value::Date(i32::MIN) | Value::Timestamp(i64::MIN) | Value::TimestampTz(i64::MIN) => {
            Bson::String("-infinity".into())
        }
        Value::Date(d) => Bson::DateTime(DateTime::from_millis(i64::from(*d) * 86_400_000)),
        Value::Timestamp(m) => Bson::String(civil::iso_timestamp(*m, "")),
        Value::TimestampTz(m) => Bson::String(civil::iso_timestamp(*m, "Z")),
        Value::Time(_) | Value::TimeTz { .. } | Value::Interval { .. } => {
            Bson::String(text::scalar_text(v).unwrap_or_default())
        }
        Value::Array(items) => Bson::Array(items.iter().map(to_bson).collect::<Result<_, _>>()?),
    })
}

/// A decimal's text (`-12.3400`, `NaN`, `Infinity`) as an exact Decimal128.
pub fn decimal128(s: &str) -> Result<Decimal128, String> {
    const NAN: u64 = 0x7C00_0000_0000_0000;
    const INF: u64 = 0x7800_0000_0000_0000;
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let sign = if neg { 1u64 << 63 } else { 0 };
    let high_low = match body {
        "NaN" => Some((NAN, 0)),
        "Infinity" | "inf" => Some((sign | INF, 0)),
        _ => None,
    };
    if let Some((high, low)) = high_low {
        return Ok(from_parts(high, low));
    }
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() && frac.is_empty() || !int.bytes().chain(frac.bytes()).all(|c| c.is_ascii_digit()) {
        return Err(format!("{s:?} is not a decimal"));
    }
    let digits = format!("{int}{frac}");
    let digits = digits.trim_start_matches('0');
    if digits.len() > 34 {
        return Err(format!("decimal {s} has more than the 34 significant digits Decimal128 holds"));
    }
    let coefficient: u128 =
        if digits.is_empty() { 0 } else { digits.parse().map_err(|e| format!("{s}: {e}"))? };
    let exponent = -(frac.len() as i64);
    let biased = u64::try_from(exponent + 6176).map_err(|_| format!("decimal {s}: exponent out of range"))?;
    let high = sign | (biased << 49) | ((coefficient >> 64) as u64 & ((1 << 49) - 1));
    Ok(from_parts(high, coefficient as u64))
}

fn from_parts(high: u64, low: u64) -> Decimal128 {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&low.to_le_bytes());
    bytes[8..].copy_from_slice(&high.to_le_bytes());
    Decimal128::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact() {
        assert_eq!(decimal128("12.3400").unwrap().to_string(), "12.3400");
        assert_eq!(decimal128("-0.5").unwrap().to_string(), "-0.5");
        assert_eq!(decimal128("0").unwrap().to_string(), "0");
        assert_eq!(
            decimal128("1234567890123456789012345678901234").unwrap().to_string(),
            "1234567890123456789012345678901234"
        );
        assert!(decimal128("12345678901234567890123456789012345").is_err());
        assert_eq!(decimal128("NaN").unwrap().to_string(), "NaN");
        assert_eq!(decimal128("-Infinity").unwrap().to_string(), "-Infinity");
    }

    #[test]
    fn values_map_to_their_bson() {
        assert_eq!(to_bson(&Value::Int16(3)).unwrap(), Bson::Int32(3));
        assert_eq!(
            to_bson(&Value::TimestampTz(1_500_001)).unwrap(),
            Bson::String("1970-01-01T00:00:01.500001Z".into())
        );
        assert_eq!(to_bson(&Value::Date(1)).unwrap(), Bson::DateTime(DateTime::from_millis(86_400_000)));
        let j = to_bson(&Value::Json("{\"a\":[1,\"x\"]}".into())).unwrap();
        assert_eq!(j.as_document().unwrap().get_array("a").unwrap().len(), 2);
    }
}
