//! Keys and field values. A row's key is `<prefix>:<part>[:<part>…]`, one part per key column
//! in key order, each part the column's portable text with `\` written `\\` and `:` written `\:`
//! (so parts can be split back unambiguously). Field values are the portable text of the value
//! ([`sluice_core::text::scalar_text`]); bytes are stored as they are.

use sluice_core::plan::PlanCell;
use sluice_core::Value;

/// A field as the plan folds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Field {
    /// Not sent by the source (unchanged TOAST): Redis keeps its value.
    Unchanged,
    /// NULL: the field is removed.
    Null,
    Bytes(Vec<u8>),
}

impl PlanCell for Field {
    fn is_unchanged(&self) -> bool {
        *self == Field::Unchanged
    }
    fn is_null(&self) -> bool {
        *self == Field::Null
    }
}

/// The field of a value.
pub fn field(v: &Value) -> Field {
    match v {
        Value::Unchanged => Field::Unchanged,
        Value::Null => Field::Null,
        Value::Bytes(b) => Field::Bytes(b.clone()),
        other => sluice_core::text::scalar_text(other).map_or(Field::Null, |s| Field::Bytes(s.into_bytes())),
    }
}

/// The key of a row whose key columns are `parts` (none NULL).
pub fn row_key(prefix: &str, parts: &[Field]) -> Vec<u8> {
    let mut key = prefix.as_bytes().to_vec();
    for p in parts {
        key.push(b':');
        if let Field::Bytes(b) = p {
            for &c in b {
                if c == b'\\' || c == b':' {
                    key.push(b'\\');
                }
                key.push(c);
            }
        }
    }
    key
}

/// A `SCAN MATCH` pattern for every row key under `prefix`.
pub fn match_pattern(prefix: &str) -> Vec<u8> {
    let mut p = Vec::with_capacity(prefix.len() + 2);
    for &c in prefix.as_bytes() {
        if matches!(c, b'*' | b'?' | b'[' | b']' | b'\\') {
            p.push(b'\\');
        }
        p.push(c);
    }
    p.extend_from_slice(b":*");
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Field {
        Field::Bytes(s.as_bytes().to_vec())
    }

    #[test]
    fn keys_escape_separators() {
        assert_eq!(row_key("app.t", &[b("1")]), b"app.t:1");
        assert_eq!(row_key("app.t", &[b("a:b"), b("c\\")]), b"app.t:a\\:b:c\\\\");
        assert_eq!(match_pattern("app.t*"), b"app.t\\*:*");
    }

    #[test]
    fn fields_use_the_portable_text() {
        assert_eq!(field(&Value::Int64(-5)), b("-5"));
        assert_eq!(field(&Value::Decimal("12.3400".into())), b("12.3400"));
        assert_eq!(field(&Value::Date(0)), b("1970-01-01"));
        assert_eq!(field(&Value::TimestampTz(1_500_000)), b("1970-01-01 00:00:01.500000+00:00"));
        assert_eq!(field(&Value::Bytes(vec![0, 255])), Field::Bytes(vec![0, 255]));
        assert_eq!(field(&Value::Null), Field::Null);
        assert_eq!(field(&Value::Unchanged), Field::Unchanged);
    }
}
