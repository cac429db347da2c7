//! Logical values as DynamoDB attribute values, exactly (the table is in docs/sinks.md,
//! DynamoDB target): booleans as BOOL, integers and decimals as N (DynamoDB keeps 38
//! significant digits; more is refused, never rounded), floats as N in shortest round-trip form
//! (NaN, ±Infinity and magnitudes outside 1E-130..9.99E+125 as S text), bytes as B, JSON as
//! nested M/L, arrays as L, and everything else as S in the portable text form (dates
//! `YYYY-MM-DD`, timestamps ISO 8601 with microseconds, UUIDs hyphenated).

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ScalarAttributeType};
use sluice_core::{civil, text, DataType, Value};

/// The attribute value of a non-NULL `v`; `Err` names why DynamoDB cannot hold it exactly.
pub fn attribute(v: &Value) -> Result<AttributeValue, String> {
    Ok(match v {
        Value::Null | Value::Unchanged => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Int16(n) => AttributeValue::N(n.to_string()),
        Value::Int32(n) => AttributeValue::N(n.to_string()),
        Value::Int64(n) => AttributeValue::N(n.to_string()),
        Value::UInt64(n) => AttributeValue::N(n.to_string()),
        Value::Float32(f) => float(f64::from(*f)),
        Value::Float64(f) => float(*f),
        Value::Decimal(s) => decimal(s)?,
        Value::Text(s) => AttributeValue::S(s.clone()),
        Value::Bytes(b) => AttributeValue::B(Blob::new(b.clone())),
        Value::Json(s) => match serde_json::from_str::<serde_json::Value>(s) {
            Ok(j) => json(&j)?,
            Err(_) => AttributeValue::S(s.clone()),
        },
        Value::Uuid(u) => AttributeValue::S(text::uuid_text(u)),
        Value::Date(i32::MAX) | Value::Timestamp(i64::MAX) | Value::TimestampTz(i64::MAX) => {
            AttributeValue::S("infinity".into())
        }
        Value::Date(i32::MIN) | Value::Timestamp(i64::MIN) | Value::TimestampTz(i64::MIN) => {
            AttributeValue::S("-infinity".into())
        }
        Value::Timestamp(m) => AttributeValue::S(civil::iso_timestamp(*m, "")),
        Value::TimestampTz(m) => AttributeValue::S(civil::iso_timestamp(*m, "Z")),
        Value::Date(_) | Value::Time(_) | Value::TimeTz { .. } | Value::Interval { .. } => {
            AttributeValue::S(text::scalar_text(v).unwrap_or_default())
        }
        Value::Array(items) => AttributeValue::L(items.iter().map(attribute).collect::<Result<_, _>>()?),
    })
}

/// DynamoDB numbers: magnitudes from 1E-130 to 9.99…E+125.
fn in_number_range(f: f64) -> bool {
    f == 0.0 || (1e-130..1e126).contains(&f.abs())
}

fn float(f: f64) -> AttributeValue {
    if f.is_finite() && in_number_range(f) {
        // `{:e}`: the shortest text that reads back as the same f64, with an exponent (plain
        // `{}` spells 1e100 with 101 digits, more than DynamoDB's 38).
        AttributeValue::N(format!("{f:e}"))
    } else if f.is_nan() {
        AttributeValue::S("NaN".into())
    } else if f.is_infinite() {
        AttributeValue::S(if f > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else {
        AttributeValue::S(format!("{f:e}"))
    }
}

/// A decimal's text as N, exact: at most 38 significant digits.
fn decimal(s: &str) -> Result<AttributeValue, String> {
    if matches!(s, "NaN" | "Infinity" | "-Infinity") {
        return Ok(AttributeValue::S(s.to_owned()));
    }
    let body = s.trim_start_matches(['-', '+']);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() && frac.is_empty() || !int.bytes().chain(frac.bytes()).all(|c| c.is_ascii_digit()) {
        return Err(format!("{s:?} is not a decimal"));
    }
    let digits = format!("{int}{frac}");
    let significant = digits.trim_start_matches('0').trim_end_matches('0');
    if significant.len() > 38 {
        return Err(format!("decimal {s} has more than the 38 significant digits a DynamoDB number holds"));
    }
    Ok(AttributeValue::N(s.to_owned()))
}

fn json(j: &serde_json::Value) -> Result<AttributeValue, String> {
    Ok(match j {
        serde_json::Value::Null => AttributeValue::Null(true),
        serde_json::Value::Bool(b) => AttributeValue::Bool(*b),
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => float(f),
            _ => AttributeValue::N(n.to_string()),
        },
        serde_json::Value::String(s) => AttributeValue::S(s.clone()),
        serde_json::Value::Array(a) => AttributeValue::L(a.iter().map(json).collect::<Result<_, _>>()?),
        serde_json::Value::Object(o) => {
            let mut m = HashMap::with_capacity(o.len());
            for (k, v) in o {
                m.insert(k.clone(), json(v)?);
            }
            AttributeValue::M(m)
        }
    })
}

/// The key attribute type of a column: N for integers and decimals, B for bytes, S otherwise.
pub fn key_type(t: &DataType) -> ScalarAttributeType {
    match t {
        DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::UInt64 | DataType::Decimal { .. } => {
            ScalarAttributeType::N
        }
        DataType::Bytes => ScalarAttributeType::B,
        _ => ScalarAttributeType::S,
    }
}

/// The key attribute of a key column's value, of type `ty`.
pub fn key_attribute(v: &Value, ty: &ScalarAttributeType) -> Result<AttributeValue, String> {
    let a = match (ty, attribute(v)?) {
        (ScalarAttributeType::N, a @ AttributeValue::N(_))
        | (ScalarAttributeType::B, a @ AttributeValue::B(_)) => a,
        (ScalarAttributeType::S, a @ AttributeValue::S(_)) => a,
        (ScalarAttributeType::S, _) => AttributeValue::S(text::scalar_text(v).unwrap_or_default()),
        (ty, a) => return Err(format!("value {a:?} does not fit the table's key type {ty}")),
    };
    match &a {
        AttributeValue::S(s) if s.is_empty() => Err("an empty string cannot be a DynamoDB key".into()),
        AttributeValue::B(b) if b.as_ref().is_empty() => Err("empty bytes cannot be a DynamoDB key".into()),
        _ => Ok(a),
    }
}

/// Key parts after the first two joined into one sort-key string: each part's text with `\`
/// written `\\` and `#` written `\#`, joined by `#`.
pub fn composite_part(v: &Value) -> String {
    let t = text::scalar_text(v).unwrap_or_default();
    t.replace('\\', "\\\\").replace('#', "\\#")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_exact_or_text() {
        assert_eq!(attribute(&Value::Decimal("12.30".into())).unwrap(), AttributeValue::N("12.30".into()));
        assert!(attribute(&Value::Decimal(format!("1{}", "0".repeat(37)) + ".5")).is_err());
        assert_eq!(
            attribute(&Value::Decimal(format!("1{}", "0".repeat(40)))).unwrap(),
            AttributeValue::N(format!("1{}", "0".repeat(40)))
        );
        assert_eq!(attribute(&Value::Float64(1.5)).unwrap(), AttributeValue::N("1.5e0".into()));
        assert_eq!(attribute(&Value::Float64(f64::NAN)).unwrap(), AttributeValue::S("NaN".into()));
        assert_eq!(attribute(&Value::Float64(1e300)).unwrap(), AttributeValue::S("1e300".into()));
        assert_eq!(attribute(&Value::UInt64(u64::MAX)).unwrap(), AttributeValue::N(u64::MAX.to_string()));
    }

    #[test]
    fn json_nests_and_keys_refuse_empty() {
        let j = attribute(&Value::Json("{\"a\":[1,\"x\",null]}".into())).unwrap();
        let AttributeValue::M(m) = j else { panic!() };
        assert_eq!(
            m["a"],
            AttributeValue::L(vec![
                AttributeValue::N("1".into()),
                AttributeValue::S("x".into()),
                AttributeValue::Null(true)
            ])
        );
        assert!(key_attribute(&Value::Text(String::new()), &ScalarAttributeType::S).is_err());
        assert_eq!(
            key_attribute(&Value::Int32(7), &ScalarAttributeType::S).unwrap(),
            AttributeValue::S("7".into())
        );
        assert_eq!(composite_part(&Value::Text("a#b\\".into())), "a\\#b\\\\");
    }
}
