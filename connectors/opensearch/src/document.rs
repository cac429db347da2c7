//! Source rows as OpenSearch documents: the `_id` of a key, the `_source` of a row, and the index
//! mapping of a table.
//!
//! Values ([`field`]): numbers as JSON numbers (`BIGINT UNSIGNED` too: `unsigned_long`);
//! decimals as JSON **strings** with every digit, mapped `scaled_float` (precision ≤ 18 with a
//! known scale: exact in the index too) or `double` (the index approximates, `_source` is exact);
//! timestamps as ISO 8601 text with microseconds (`Z` for timestamptz), mapped `date` (the index
//! keeps milliseconds); dates `YYYY-MM-DD` (`date`); time, timetz, interval, uuid as `keyword`
//! text; bytes base64 (`binary`); JSON columns embedded (`flat_object`/`flattened` by default,
//! see [`JsonMapping`]);
//! arrays as arrays (fields are multi-valued). NaN and ±Infinity floats are refused (no JSON
//! number holds them). Values the index cannot parse (BC dates, `infinity` timestamps, `NaN`
//! decimals) stay exact in `_source` and are left out of the index (`ignore_malformed`).
//!
//! `_id`: the key column's text; a composite key's parts joined with `:`, each part with `\`
//! written `\\` and `:` written `\:`.

use base64::Engine;
use serde_json::{json, Map, Value as Json};
use sluice_core::text::{interval_iso, scalar_text, uuid_text};
use sluice_core::{civil, Column, DataType, TableSchema, Value};

use crate::config::{JsonMapping, SearchSinkConfig};

/// The document `_id` of a row (`None`: a key column is NULL or missing).
pub fn doc_id(t: &TableSchema, row: &[Value]) -> Option<String> {
    let mut parts = Vec::with_capacity(t.key.len());
    for &i in &t.key {
        let v = row.get(i)?;
        if v.is_null() || v.is_unchanged() {
            return None;
        }
        parts.push(scalar_text(v)?);
    }
    if parts.len() == 1 {
        return parts.pop();
    }
    Some(parts.iter().map(|p| p.replace('\\', "\\\\").replace(':', "\\:")).collect::<Vec<_>>().join(":"))
}

/// One value as a `_source` field; `Err` says why it has no JSON form.
pub fn field(v: &Value) -> Result<Json, String> {
    Ok(match v {
        Value::Null | Value::Unchanged => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int16(n) => json!(n),
        Value::Int32(n) => json!(n),
        Value::Int64(n) => json!(n),
        Value::UInt64(n) => json!(n),
        Value::Float32(f) => float(f64::from(*f))?,
        Value::Float64(f) => float(*f)?,
        Value::Decimal(s) | Value::Text(s) => Json::String(s.clone()),
        Value::Json(s) => serde_json::from_str(s).unwrap_or_else(|_| Json::String(s.clone())),
        Value::Bytes(b) => Json::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Value::Uuid(u) => Json::String(uuid_text(u)),
        Value::Date(d) => Json::String(civil::date_text(i64::from(*d))),
        Value::Time(m) => Json::String(civil::time_text(*m)),
        Value::TimeTz { micros, offset_seconds } => {
            Json::String(format!("{}{}", civil::time_text(*micros), civil::utc_offset_text(*offset_seconds)))
        }
        Value::Timestamp(m) => Json::String(civil::iso_timestamp(*m, "")),
        Value::TimestampTz(m) => Json::String(civil::iso_timestamp(*m, "Z")),
        Value::Interval { months, days, micros } => Json::String(interval_iso(*months, *days, *micros)),
        Value::Array(items) => Json::Array(items.iter().map(field).collect::<Result<_, _>>()?),
    })
}

fn float(f: f64) -> Result<Json, String> {
    serde_json::Number::from_f64(f)
        .map(Json::Number)
        .ok_or_else(|| format!("{f} has no JSON number form (OpenSearch numbers are finite)"))
}

/// A row's `_source` fields, and the columns the source did not send (unchanged).
pub type Source = (Map<String, Json>, Vec<String>);

/// The `_source` of the columns of `row` that are sent (not unchanged): `Err` = (column, why).
pub fn source(t: &TableSchema, row: &[Value]) -> Result<Source, (String, String)> {
    let mut doc = Map::with_capacity(row.len());
    let mut unchanged = Vec::new();
    for (c, v) in t.columns.iter().zip(row) {
        if v.is_unchanged() {
            unchanged.push(c.name.clone());
            continue;
        }
        doc.insert(c.name.clone(), field(v).map_err(|r| (c.name.clone(), r))?);
    }
    Ok((doc, unchanged))
}

/// The mapping `properties` of a table's columns.
pub fn properties(t: &TableSchema, config: &SearchSinkConfig) -> Map<String, Json> {
    t.columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.clone(), mapping(c, &c.data_type, t.key.contains(&i), config)))
        .collect()
}

fn mapping(c: &Column, ty: &DataType, key: bool, config: &SearchSinkConfig) -> Json {
    let lenient = |ty: &str| json!({"type": ty, "ignore_malformed": true});
    match ty {
        DataType::Boolean => json!({"type": "boolean"}),
        DataType::Int16 => json!({"type": "short"}),
        DataType::Int32 => json!({"type": "integer"}),
        DataType::Int64 => json!({"type": "long"}),
        DataType::UInt64 => json!({"type": "unsigned_long"}),
        DataType::Float32 => json!({"type": "float"}),
        DataType::Float64 => json!({"type": "double"}),
        DataType::Decimal { precision: Some(p), scale: Some(s) } if *p <= 18 && *s <= 18 => {
            json!({"type": "scaled_float", "scaling_factor": 10f64.powi(*s as i32), "ignore_malformed": true})
        }
        DataType::Decimal { .. } => lenient("double"),
        DataType::Text if key || text_limit(c).is_some_and(|n| n <= config.keyword_max_chars) => {
            json!({"type": "keyword"})
        }
        DataType::Text => {
            json!({"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": config.keyword_max_chars}}})
        }
        DataType::Enum(_)
        | DataType::Set(_)
        | DataType::Uuid
        | DataType::Time
        | DataType::TimeTz
        | DataType::Interval => {
            json!({"type": "keyword"})
        }
        DataType::Bytes => json!({"type": "binary"}),
        DataType::Bits(1) => json!({"type": "boolean"}),
        DataType::Bits(_) => json!({"type": "binary"}),
        DataType::Json => match config.json_mapping {
            JsonMapping::Auto if config.connection.elasticsearch => json!({"type": "flattened"}),
            JsonMapping::Auto | JsonMapping::FlatObject => json!({"type": "flat_object"}),
            JsonMapping::Object => json!({"type": "object"}),
            JsonMapping::Flattened => json!({"type": "flattened"}),
            JsonMapping::Disabled => json!({"type": "object", "enabled": false}),
        },
        DataType::Date => lenient("date"),
        DataType::Timestamp | DataType::TimestampTz => {
            json!({"type": "date", "format": "strict_date_optional_time||epoch_millis", "ignore_malformed": true})
        }
        DataType::Array(inner) => mapping(c, inner, key, config),
    }
}

/// `n` of `varchar(n)`, `character varying(n)`, `char(n)`, `character(n)`.
fn text_limit(c: &Column) -> Option<u32> {
    let t = c.source_type.to_ascii_lowercase();
    let bounded =
        ["varchar", "character varying", "char", "character", "bpchar"].iter().any(|p| t.starts_with(p));
    if !bounded {
        return None;
    }
    t.split_once('(')?.1.split_once(')')?.0.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn table() -> Arc<TableSchema> {
        Arc::new(TableSchema {
            id: sluice_core::TableId::new("app", "t"),
            columns: vec![
                Column::new("sku", DataType::Text, "text", false),
                Column::new("wh", DataType::Int32, "integer", false),
                Column::new("code", DataType::Text, "varchar(20)", true),
                Column::new("body", DataType::Text, "text", true),
                Column::new(
                    "price",
                    DataType::Decimal { precision: Some(12), scale: Some(2) },
                    "numeric(12,2)",
                    true,
                ),
            ],
            key: vec![0, 1],
            version: 1,
        })
    }

    #[test]
    fn composite_ids_escape_their_separator() {
        let t = table();
        let row = vec![Value::Text("a:b\\c".into()), Value::Int32(7), Value::Null, Value::Null, Value::Null];
        assert_eq!(doc_id(&t, &row).unwrap(), "a\\:b\\\\c:7");
        let no_key = vec![Value::Null, Value::Int32(7), Value::Null, Value::Null, Value::Null];
        assert!(doc_id(&t, &no_key).is_none());
    }

    #[test]
    fn values_keep_every_digit_and_refuse_nan() {
        assert_eq!(
            field(&Value::Decimal("123456789012345678.90".into())).unwrap(),
            json!("123456789012345678.90")
        );
        assert_eq!(
            field(&Value::TimestampTz(1_704_164_645_123_456)).unwrap(),
            json!("2024-01-02T03:04:05.123456Z")
        );
        assert_eq!(field(&Value::Bytes(vec![0, 255, 16])).unwrap(), json!("AP8Q"));
        assert_eq!(field(&Value::Json("{\"a\":[1]}".into())).unwrap(), json!({"a": [1]}));
        assert!(field(&Value::Float64(f64::NAN)).is_err());
    }

    #[test]
    fn mappings_follow_the_source_types() {
        let config: SearchSinkConfig = toml::from_str("[connection]\nurl = \"u\"\n").unwrap();
        let p = properties(&table(), &config);
        assert_eq!(p["sku"], json!({"type": "keyword"}));
        assert_eq!(p["code"], json!({"type": "keyword"}));
        assert_eq!(p["body"]["type"], "text");
        assert_eq!(p["price"]["type"], "scaled_float");
        assert_eq!(p["price"]["scaling_factor"], json!(100.0));
    }
}
