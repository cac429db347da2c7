//! Portable text of values, for targets that store text or JSON rather than typed SQL columns
//! (MariaDB JSON arrays, key-value and document stores): one rendering of each logical value.
//!
//! Forms: decimals as their exact decimal text; dates `YYYY-MM-DD` (`BC` suffix before year 1);
//! times `HH:MM:SS.ffffff`; timestamps `YYYY-MM-DD HH:MM:SS.ffffff` (`+00:00` appended for
//! instants); intervals ISO 8601 with per-field signs; UUIDs hyphenated lowercase; bytes
//! `\x` + hex where text is required; arrays as JSON arrays.

use std::fmt::Write as _;

use crate::Value;

/// Hyphenated lowercase UUID text.
pub fn uuid_text(u: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, byte) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        let _ = write!(s, "{byte:02x}");
    }
    s
}

/// ISO 8601 duration with per-field signs, as PostgreSQL's `intervalstyle = iso_8601` writes
/// it: `P1Y2M3DT4H5M6.5S`, `P-1Y-2M`, `PT0S` for zero.
pub fn interval_iso(months: i32, days: i32, micros: i64) -> String {
    let mut s = String::from("P");
    let (y, mo) = (months / 12, months % 12);
    if y != 0 {
        let _ = write!(s, "{y}Y");
    }
    if mo != 0 {
        let _ = write!(s, "{mo}M");
    }
    if days != 0 {
        let _ = write!(s, "{days}D");
    }
    if micros != 0 {
        let sign = if micros < 0 { "-" } else { "" };
        let a = micros.unsigned_abs();
        let secs = a / 1_000_000;
        let (h, m, sec, frac) = (secs / 3600, (secs % 3600) / 60, secs % 60, a % 1_000_000);
        s.push('T');
        if h != 0 {
            let _ = write!(s, "{sign}{h}H");
        }
        if m != 0 {
            let _ = write!(s, "{sign}{m}M");
        }
        if sec != 0 || frac != 0 {
            let _ = write!(s, "{sign}{sec}");
            if frac != 0 {
                let f = format!("{frac:06}");
                let _ = write!(s, ".{}", f.trim_end_matches('0'));
            }
            s.push('S');
        }
    }
    if s == "P" {
        s.push_str("T0S");
    }
    s
}

/// Is `s` a JSON number (so a decimal can be written as one)?
pub fn is_json_number(s: &str) -> bool {
    let b = s.strip_prefix('-').unwrap_or(s);
    let (int, rest) = b.split_at(b.find(['.', 'e', 'E']).unwrap_or(b.len()));
    let int_ok =
        int == "0" || (!int.is_empty() && !int.starts_with('0') && int.bytes().all(|c| c.is_ascii_digit()));
    let rest_ok = match rest.strip_prefix('.') {
        Some(frac) => !frac.is_empty() && frac.bytes().all(|c| c.is_ascii_digit()),
        None => rest.is_empty(),
    };
    int_ok && rest_ok
}

pub fn json_string(s: &str, out: &mut String) {
    out.push_str(&serde_json::Value::String(s.to_owned()).to_string());
}

/// A JSON array: numbers and booleans as JSON numbers/booleans, JSON elements embedded,
/// everything else as a string in the same text form a scalar column would show.
pub fn json_array(items: &[Value], out: &mut String) {
    out.push('[');
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_value(v, out);
    }
    out.push(']');
}

/// A JSON object of named values, each as in [`json_array`].
pub fn json_object<'a>(fields: impl IntoIterator<Item = (&'a str, &'a Value)>, out: &mut String) {
    out.push('{');
    for (i, (name, v)) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(name, out);
        out.push(':');
        json_value(v, out);
    }
    out.push('}');
}

/// One value as JSON, as in [`json_array`]; always valid JSON.
pub fn json_value(v: &Value, out: &mut String) {
    match v {
        Value::Null | Value::Unchanged => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int16(n) => out.push_str(&n.to_string()),
        Value::Int32(n) => out.push_str(&n.to_string()),
        Value::Int64(n) => out.push_str(&n.to_string()),
        Value::UInt64(n) => out.push_str(&n.to_string()),
        Value::Float32(f) if f.is_finite() => out.push_str(&f.to_string()),
        Value::Float64(f) if f.is_finite() => out.push_str(&f.to_string()),
        Value::Float32(f) => json_string(&f.to_string(), out),
        Value::Float64(f) => json_string(&f.to_string(), out),
        Value::Decimal(s) if is_json_number(s) => out.push_str(s),
        Value::Decimal(s) | Value::Text(s) => json_string(s, out),
        // Embedded as JSON when it is JSON; a placeholder such as Debezium's
        // `__debezium_unavailable_value` (unavailable TOAST values) becomes a string.
        Value::Json(s) if serde_json::from_str::<serde::de::IgnoredAny>(s).is_ok() => out.push_str(s),
        Value::Json(s) => json_string(s, out),
        Value::Bytes(b) => json_string(&hex(b), out),
        Value::Uuid(u) => json_string(&uuid_text(u), out),
        Value::Date(d) => json_string(&crate::civil::date_text(i64::from(*d)), out),
        Value::Time(m) => json_string(&crate::civil::time_text(*m), out),
        Value::TimeTz { micros, offset_seconds } => json_string(
            &format!(
                "{}{}",
                crate::civil::time_text(*micros),
                crate::civil::utc_offset_text(*offset_seconds)
            ),
            out,
        ),
        Value::Timestamp(m) => json_string(&crate::civil::timestamp_text(*m), out),
        Value::TimestampTz(m) => json_string(&format!("{}+00:00", crate::civil::timestamp_text(*m)), out),
        Value::Interval { months, days, micros } => json_string(&interval_iso(*months, *days, *micros), out),
        Value::Array(inner) => json_array(inner, out),
    }
}

/// The portable text of a scalar value (`None` for NULL and unchanged); arrays as JSON.
pub fn scalar_text(v: &Value) -> Option<String> {
    Some(match v {
        Value::Null | Value::Unchanged => return None,
        Value::Bool(b) => b.to_string(),
        Value::Int16(n) => n.to_string(),
        Value::Int32(n) => n.to_string(),
        Value::Int64(n) => n.to_string(),
        Value::UInt64(n) => n.to_string(),
        Value::Float32(f) => f.to_string(),
        Value::Float64(f) => f.to_string(),
        Value::Decimal(s) | Value::Text(s) | Value::Json(s) => s.clone(),
        Value::Bytes(b) => hex(b),
        Value::Uuid(u) => uuid_text(u),
        Value::Date(d) => crate::civil::date_text(i64::from(*d)),
        Value::Time(m) => crate::civil::time_text(*m),
        Value::TimeTz { micros, offset_seconds } => {
            format!("{}{}", crate::civil::time_text(*micros), crate::civil::utc_offset_text(*offset_seconds))
        }
        Value::Timestamp(m) => crate::civil::timestamp_text(*m),
        Value::TimestampTz(m) => format!("{}+00:00", crate::civil::timestamp_text(*m)),
        Value::Interval { months, days, micros } => interval_iso(*months, *days, *micros),
        Value::Array(items) => {
            let mut s = String::new();
            json_array(items, &mut s);
            s
        }
    })
}

/// `\x` and the bytes in lowercase hex.
pub fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(2 + b.len() * 2);
    s.push_str("\\x");
    for byte in b {
        let _ = write!(s, "{byte:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_objects_are_always_valid_json() {
        let placeholder = Value::Json("__debezium_unavailable_value".into());
        let doc = Value::Json("{\"a\":[1]}".into());
        let mut s = String::new();
        json_object([("p", &placeholder), ("d", &doc), ("n", &Value::Null)], &mut s);
        assert_eq!(s, "{\"p\":\"__debezium_unavailable_value\",\"d\":{\"a\":[1]},\"n\":null}");
        assert!(serde_json::from_str::<serde_json::Value>(&s).is_ok());
    }
}
