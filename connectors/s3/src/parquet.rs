//! Parquet files: one row group per `row_group_rows`, zstd, the metadata columns then the
//! table's columns, each typed by its source type (docs/sinks.md, "Object-store target"):
//!
//! | logical type | Parquet (through Arrow) |
//! |---|---|
//! | boolean, smallint, int, bigint | BOOLEAN, INT32 (INT(16)), INT32, INT64 |
//! | `BIGINT UNSIGNED` | INT64 (INT(64, unsigned)) |
//! | float, double | FLOAT, DOUBLE |
//! | decimal(p ≤ 38, s) | DECIMAL(p, s), exact |
//! | decimal without precision, or p > 38 | STRING, the exact decimal text |
//! | text, enum, set, bits, timetz, interval | STRING (interval ISO 8601, timetz with its offset) |
//! | json / jsonb | STRING with the JSON logical type |
//! | uuid | FIXED_LEN_BYTE_ARRAY(16) with the UUID logical type |
//! | bytes | BYTE_ARRAY |
//! | date | DATE |
//! | time | TIME(MICROS) — MySQL/MariaDB `TIME` (negative or over 24 h) as INT64 microseconds |
//! | timestamp / timestamptz | TIMESTAMP(MICROS, isAdjustedToUTC = false / true) |
//! | arrays | LIST of the element's type |
//!
//! Every table column is nullable (a delete of a row holds its before image, a truncate none).

use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, FixedSizeBinaryArray, Float32Array,
    Float64Array, Int16Array, Int32Array, Int64Array, LargeBinaryArray, ListArray, RecordBatch, StringArray,
    Time64MicrosecondArray, TimestampMicrosecondArray, TimestampMillisecondArray, UInt64Array,
};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::extension::{Json, Uuid};
use arrow_schema::{DataType as A, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use sluice_core::{DataType, TableSchema, Value};

use crate::rows::FileRow;

/// How a column is written: its Arrow field.
fn field(name: &str, dt: &DataType, mysql: bool) -> Field {
    let (t, ext) = arrow_type(dt, mysql);
    let f = Field::new(name, t, true);
    match ext {
        Some(Ext::Uuid) => f.with_extension_type(Uuid),
        Some(Ext::Json) => f.with_extension_type(Json::default()),
        None => f,
    }
}

enum Ext {
    Uuid,
    Json,
}

fn arrow_type(dt: &DataType, mysql: bool) -> (A, Option<Ext>) {
    let t = match dt {
        DataType::Boolean => A::Boolean,
        DataType::Int16 => A::Int16,
        DataType::Int32 => A::Int32,
        DataType::Int64 => A::Int64,
        DataType::UInt64 => A::UInt64,
        DataType::Float32 => A::Float32,
        DataType::Float64 => A::Float64,
        DataType::Decimal { precision: Some(p), scale } if *p <= 38 => {
            A::Decimal128(*p as u8, scale.unwrap_or(0) as i8)
        }
        DataType::Json => return (A::Utf8, Some(Ext::Json)),
        DataType::Uuid => return (A::FixedSizeBinary(16), Some(Ext::Uuid)),
        DataType::Bytes => A::Binary,
        DataType::Date => A::Date32,
        DataType::Time if mysql => A::Int64,
        DataType::Time => A::Time64(TimeUnit::Microsecond),
        DataType::Timestamp => A::Timestamp(TimeUnit::Microsecond, None),
        DataType::TimestampTz => A::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        DataType::Array(inner) => {
            let (it, ext) = arrow_type(inner, mysql);
            let mut f = Field::new("element", it, true);
            f = match ext {
                Some(Ext::Uuid) => f.with_extension_type(Uuid),
                Some(Ext::Json) => f.with_extension_type(Json::default()),
                None => f,
            };
            A::List(Arc::new(f))
        }
        DataType::Decimal { .. }
        | DataType::Text
        | DataType::TimeTz
        | DataType::Interval
        | DataType::Enum(_)
        | DataType::Set(_)
        | DataType::Bits(_) => A::Utf8,
    };
    (t, None)
}

/// The file schema of table `t` (`mysql`: a MySQL/MariaDB source, whose `TIME` is a duration).
pub fn schema(t: &TableSchema, mysql: bool) -> SchemaRef {
    let mut fields = vec![
        Field::new("__op", A::Utf8, false),
        Field::new("__ts_ms", A::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
        Field::new("__source_pos", A::Utf8, false),
        Field::new("__txn_id", A::Utf8, true),
        Field::new("__topic", A::Utf8, false),
        Field::new("__partition", A::Int32, false),
        Field::new("__offset", A::Int64, false),
        Field::new("__unchanged", A::List(Arc::new(Field::new("element", A::Utf8, true))), true),
    ];
    fields.extend(t.columns.iter().map(|c| field(&c.name, &c.data_type, mysql)));
    Arc::new(Schema::new(fields))
}

/// Encode `rows` as one Parquet file.
pub fn encode(
    t: &TableSchema,
    mysql: bool,
    rows: &[FileRow],
    row_group_rows: usize,
    zstd_level: i32,
) -> Result<Vec<u8>, String> {
    let schema = schema(t, mysql);
    let mut cols = meta_arrays(&schema, rows)?;
    for (i, c) in t.columns.iter().enumerate() {
        let f = schema.field(META_LEN + i);
        let vals: Vec<Option<&Value>> =
            rows.iter().map(|r| r.image.get(i).filter(|v| !v.is_null())).collect();
        cols.push(array(f.data_type(), &vals).map_err(|e| format!("column {}: {e}", c.name))?);
    }
    let batch = RecordBatch::try_new(schema.clone(), cols).map_err(|e| e.to_string())?;
    let level = ZstdLevel::try_new(zstd_level).map_err(|e| e.to_string())?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_row_count(Some(row_group_rows))
        .build();
    let mut out = Vec::with_capacity(rows.len() * 64);
    let mut w = ArrowWriter::try_new(&mut out, schema, Some(props)).map_err(|e| e.to_string())?;
    w.write(&batch).map_err(|e| e.to_string())?;
    w.close().map_err(|e| e.to_string())?;
    Ok(out)
}

const META_LEN: usize = crate::rows::META_COLUMNS.len();

/// The metadata columns of `rows` as arrays of the first [`META_LEN`] fields of `schema`, which
/// must be [`crate::rows::META_COLUMNS`] in order: this target's files (`__ts_ms` in
/// milliseconds) and the Iceberg target's tables (`__ts_ms` a microsecond `timestamptz`, the
/// list element with its field id).
pub fn meta_arrays(schema: &Schema, rows: &[FileRow]) -> Result<Vec<ArrayRef>, String> {
    for (i, name) in crate::rows::META_COLUMNS.iter().enumerate() {
        if schema.fields().get(i).is_none_or(|f| f.name() != name) {
            return Err(format!("column {i} is not {name} (not a Sluice change log?)"));
        }
    }
    let ts: ArrayRef = match schema.field(1).data_type() {
        A::Timestamp(TimeUnit::Millisecond, tz) => Arc::new(
            TimestampMillisecondArray::from_iter_values(rows.iter().map(|r| r.meta.ts_ms))
                .with_timezone_opt(tz.clone()),
        ),
        A::Timestamp(TimeUnit::Microsecond, tz) => Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                rows.iter().map(|r| r.meta.ts_ms.saturating_mul(1000)),
            )
            .with_timezone_opt(tz.clone()),
        ),
        other => return Err(format!("__ts_ms is {other}, not a millisecond or microsecond timestamp")),
    };
    let A::List(elem) = schema.field(7).data_type() else {
        return Err("__unchanged is not a list".into());
    };
    let mut unchanged = ListBuilder::new(StringBuilder::new()).with_field(elem.clone());
    for r in rows {
        if r.meta.unchanged.is_empty() {
            unchanged.append_null();
        } else {
            for n in &r.meta.unchanged {
                unchanged.values().append_value(n);
            }
            unchanged.append(true);
        }
    }
    Ok(vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.meta.op))),
        ts,
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.meta.pos.as_str()))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.meta.txn.as_deref()))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &*r.meta.topic))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.meta.partition))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.meta.offset))),
        Arc::new(unchanged.finish()),
    ])
}

/// One column of values (`None`: null) as an array of Arrow type `t` (also used by the Iceberg
/// target, whose schemas ask for `LargeBinary` and zone `+00:00`).
pub fn array(t: &A, vals: &[Option<&Value>]) -> Result<ArrayRef, String> {
    Ok(match t {
        A::Boolean => Arc::new(BooleanArray::from(each(t, vals, |v| match v {
            Value::Bool(b) => Some(*b),
            _ => None,
        })?)),
        A::Int16 => Arc::new(Int16Array::from(each(t, vals, |v| match v {
            Value::Int16(n) => Some(*n),
            _ => None,
        })?)),
        A::Int32 => Arc::new(Int32Array::from(each(t, vals, |v| match v {
            Value::Int32(n) => Some(*n),
            Value::Int16(n) => Some(i32::from(*n)),
            _ => None,
        })?)),
        A::Int64 => Arc::new(Int64Array::from(each(t, vals, |v| match v {
            Value::Int64(n) | Value::Time(n) => Some(*n),
            Value::Int32(n) => Some(i64::from(*n)),
            _ => None,
        })?)),
        A::UInt64 => Arc::new(UInt64Array::from(each(t, vals, |v| match v {
            Value::UInt64(n) => Some(*n),
            _ => None,
        })?)),
        A::Float32 => Arc::new(Float32Array::from(each(t, vals, |v| match v {
            Value::Float32(f) => Some(*f),
            _ => None,
        })?)),
        A::Float64 => Arc::new(Float64Array::from(each(t, vals, |v| match v {
            Value::Float64(f) => Some(*f),
            Value::Float32(f) => Some(f64::from(*f)),
            _ => None,
        })?)),
        A::Date32 => Arc::new(Date32Array::from(each(t, vals, |v| match v {
            Value::Date(d) => Some(*d),
            _ => None,
        })?)),
        A::Time64(_) => Arc::new(Time64MicrosecondArray::from(each(t, vals, |v| match v {
            Value::Time(m) => Some(*m),
            _ => None,
        })?)),
        A::Timestamp(_, tz) => Arc::new(
            TimestampMicrosecondArray::from(each(t, vals, |v| match v {
                Value::Timestamp(m) | Value::TimestampTz(m) => Some(*m),
                _ => None,
            })?)
            .with_timezone_opt(tz.clone()),
        ),
        A::Decimal128(p, s) => {
            let parsed: Vec<Option<i128>> = vals
                .iter()
                .map(|v| match v {
                    None => Ok(None),
                    Some(Value::Decimal(d)) => scaled(d, *s as u32).map(Some),
                    Some(Value::UInt64(n)) => scaled(&n.to_string(), *s as u32).map(Some),
                    Some(other) => Err(format!("a {} value in a {t} column", other.kind_name())),
                })
                .collect::<Result<_, String>>()?;
            Arc::new(
                Decimal128Array::from(parsed).with_precision_and_scale(*p, *s).map_err(|e| e.to_string())?,
            )
        }
        A::Utf8 => {
            Arc::new(vals.iter().map(|v| v.and_then(sluice_core::text::scalar_text)).collect::<StringArray>())
        }
        A::Binary => Arc::new(BinaryArray::from(each(t, vals, |v| match v {
            Value::Bytes(b) => Some(b.as_slice()),
            _ => None,
        })?)),
        A::LargeBinary => Arc::new(LargeBinaryArray::from(each(t, vals, |v| match v {
            Value::Bytes(b) => Some(b.as_slice()),
            _ => None,
        })?)),
        A::FixedSizeBinary(16) => {
            let uuids = each(t, vals, |v| match v {
                Value::Uuid(u) => Some(*u),
                _ => None,
            })?;
            Arc::new(
                FixedSizeBinaryArray::try_from_sparse_iter_with_size(uuids.into_iter(), 16)
                    .map_err(|e| e.to_string())?,
            )
        }
        A::List(elem) => {
            let mut offsets = Vec::with_capacity(vals.len() + 1);
            offsets.push(0i32);
            let mut children: Vec<Option<&Value>> = Vec::new();
            let mut valid = Vec::with_capacity(vals.len());
            for v in vals {
                match v {
                    Some(Value::Array(items)) => {
                        children.extend(items.iter().map(|i| Some(i).filter(|i| !i.is_null())));
                        valid.push(true);
                    }
                    None => valid.push(false),
                    Some(other) => return Err(format!("a {} value in a list column", other.kind_name())),
                }
                offsets.push(i32::try_from(children.len()).map_err(|_| "a list column over 2^31 elements")?);
            }
            let child = array(elem.data_type(), &children)?;
            Arc::new(
                ListArray::try_new(
                    elem.clone(),
                    OffsetBuffer::new(offsets.into()),
                    child,
                    Some(NullBuffer::from(valid)),
                )
                .map_err(|e| e.to_string())?,
            )
        }
        other => return Err(format!("no encoding for {other}")),
    })
}

/// The values of a column of Arrow type `t` as `read` takes them (`None`: null); a value it does
/// not take is an error naming both types.
fn each<'a, T>(
    t: &A,
    vals: &[Option<&'a Value>],
    read: impl Fn(&'a Value) -> Option<T>,
) -> Result<Vec<Option<T>>, String> {
    vals.iter()
        .map(|v| match v {
            None => Ok(None),
            Some(v) => read(v).map(Some).ok_or_else(|| format!("a {} value in a {t} column", v.kind_name())),
        })
        .collect()
}

/// Whether `row` fits the file schema of `t` (decimals with a Parquet DECIMAL form), checked when
/// a change is staged so that a refusal names its record (and the dead-letter policy can take it).
pub fn check(t: &TableSchema, row: &[Value]) -> Result<(), String> {
    fn fits(dt: &DataType, v: &Value) -> Result<(), String> {
        match (dt, v) {
            (DataType::Decimal { precision: Some(p), scale }, Value::Decimal(d)) if *p <= 38 => {
                scaled(d, scale.unwrap_or(0)).map(|_| ())
            }
            (DataType::Array(inner), Value::Array(items)) => items.iter().try_for_each(|i| fits(inner, i)),
            _ => Ok(()),
        }
    }
    for (c, v) in t.columns.iter().zip(row) {
        fits(&c.data_type, v).map_err(|e| format!("column {}: {e}", c.name))?;
    }
    Ok(())
}

/// `-12.34` at scale 4 → -123400; refuses NaN/Infinity and more fractional digits than `scale`.
fn scaled(text: &str, scale: u32) -> Result<i128, String> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let frac = frac.trim_end_matches('0');
    let ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() && frac.is_empty() || !ok(int) || !ok(frac) {
        return Err(format!(
            "decimal {text:?} has no Parquet DECIMAL form (NaN and infinities cannot be stored)"
        ));
    }
    if frac.len() > scale as usize {
        return Err(format!("decimal {text:?} has more than {scale} fractional digits"));
    }
    let mut s = String::with_capacity(int.len() + scale as usize);
    s.push_str(int);
    s.push_str(frac);
    s.extend(std::iter::repeat_n('0', scale as usize - frac.len()));
    let n: i128 = if s.is_empty() { 0 } else { s.parse().map_err(|e| format!("decimal {text:?}: {e}"))? };
    Ok(if neg { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_scale_exactly() {
        assert_eq!(scaled("-12.34", 4), Ok(-123_400));
        assert_eq!(scaled("0.5", 1), Ok(5));
        assert_eq!(scaled("7", 2), Ok(700));
        assert_eq!(scaled("1.2300", 2), Ok(123));
        assert!(scaled("1.234", 2).is_err());
        assert!(scaled("NaN", 2).is_err());
        assert_eq!(scaled("99999999999999999999999999999999999999", 0).map(|n| n > 0), Ok(true));
    }
}
