//! Row images of WRITE/UPDATE/DELETE rows events decoded to [`Row`]s, value by value.
//!
//! A row image is a NULL bitmap over the columns present in the event's column bitmap, then the
//! non-NULL values in column order, each in its storage format ([`ColumnKind`]). Columns absent
//! from the image (only with `binlog_row_image` other than FULL) become [`Value::Unchanged`],
//! never NULL.
//!
//! Invariant: the value produced for a column always matches `ColumnKind::data_type` of that
//! column. Failure: a truncated or inconsistent image, text that is invalid in its charset, or a
//! zero date under `zero_date = "error"` is an error naming the column; nothing is guessed.

pub mod decimal;
pub mod jsonb;
pub mod reader;
pub mod temporal;

use sluice_core::{Row, Value};

use self::reader::Reader;
use self::temporal::Temporal;
use crate::config::ZeroDateRule;
use crate::schema::column::ColumnKind;
use crate::schema::TrackedTable;

/// One row image: `present[i]` says whether column i is in the image.
pub fn decode_image(
    table: &TrackedTable,
    present: &[bool],
    r: &mut Reader<'_>,
    zero_date: ZeroDateRule,
) -> Result<Row, String> {
    let columns = &table.schema.columns;
    if present.len() != columns.len() {
        return Err(format!(
            "rows event has {} columns, TABLE_MAP of {} has {}",
            present.len(),
            table.schema.id,
            columns.len()
        ));
    }
    let n_present = present.iter().filter(|p| **p).count();
    let nulls = r.take(n_present.div_ceil(8))?;
    let mut row = Vec::with_capacity(columns.len());
    let mut k = 0usize;
    for (i, (col, kind)) in columns.iter().zip(&table.kinds).enumerate() {
        if !present[i] {
            row.push(Value::Unchanged);
            continue;
        }
        let is_null = nulls[k / 8] & (1 << (k % 8)) != 0;
        k += 1;
        if is_null {
            row.push(Value::Null);
            continue;
        }
        let v = decode_value(kind, col.nullable, r, zero_date)
            .map_err(|e| format!("column {} of {}: {e}", col.name, table.schema.id))?;
        row.push(v);
    }
    Ok(row)
}

pub(crate) fn zero_value(kind: &ColumnKind, nullable: bool, rule: ZeroDateRule) -> Result<Value, String> {
    let epoch = match kind {
        ColumnKind::Date => Value::Date(0),
        ColumnKind::Timestamp | ColumnKind::Timestamp2 { .. } => Value::TimestampTz(0),
        _ => Value::Timestamp(0),
    };
    match rule {
        ZeroDateRule::Null if nullable => Ok(Value::Null),
        ZeroDateRule::Null | ZeroDateRule::Epoch => Ok(epoch),
        ZeroDateRule::Error => Err("zero or invalid date (zero_date = \"error\")".into()),
    }
}

fn text_or_bytes(kind: &ColumnKind, bytes: &[u8]) -> Result<Value, String> {
    match kind.charset() {
        Some(cs) if !cs.is_binary() => cs.decode(bytes).map(Value::Text),
        _ => Ok(Value::Bytes(bytes.to_vec())),
    }
}

fn decode_value(
    kind: &ColumnKind,
    nullable: bool,
    r: &mut Reader<'_>,
    zero: ZeroDateRule,
) -> Result<Value, String> {
    let temporal = |t: Temporal, wrap: fn(i64) -> Value| match t {
        Temporal::Value(v) => Ok(wrap(v)),
        Temporal::Zero => zero_value(kind, nullable, zero),
    };
    Ok(match kind {
        ColumnKind::Int { bytes, unsigned } => {
            let n = usize::from(*bytes);
            let raw = r.uint_le(n)?;
            let signed = || {
                let shift = 64 - 8 * n as u32;
                ((raw << shift) as i64) >> shift
            };
            match (bytes, unsigned) {
                (1 | 2, false) => Value::Int16(signed() as i16),
                (1, true) => Value::Int16(raw as i16),
                (2, true) | (3, true) => Value::Int32(raw as i32),
                (3, false) | (4, false) => Value::Int32(signed() as i32),
                (4, true) => Value::Int64(raw as i64),
                (8, true) => Value::UInt64(raw),
                (8, false) => Value::Int64(raw as i64),
                _ => return Err(format!("integer of {bytes} bytes")),
            }
        }
        ColumnKind::Float => Value::Float32(f32::from_bits(r.uint_le(4)? as u32)),
        ColumnKind::Double => Value::Float64(f64::from_bits(r.uint_le(8)?)),
        ColumnKind::Decimal { precision, scale } => {
            Value::Decimal(decimal::read_decimal(r, *precision, *scale)?)
        }
        ColumnKind::Year => {
            let y = r.u8()?;
            Value::Int32(if y == 0 { 0 } else { 1900 + i32::from(y) })
        }
        ColumnKind::Date => temporal(temporal::read_date(r)?, |d| Value::Date(d as i32))?,
        ColumnKind::Time2 { fsp } => Value::Time(temporal::read_time2(r, *fsp)?),
        ColumnKind::Time => Value::Time(temporal::read_time_old(r)?),
        ColumnKind::DateTime2 { fsp } => temporal(temporal::read_datetime2(r, *fsp)?, Value::Timestamp)?,
        ColumnKind::DateTime => temporal(temporal::read_datetime_old(r)?, Value::Timestamp)?,
        ColumnKind::Timestamp2 { fsp } => temporal(temporal::read_timestamp2(r, *fsp)?, Value::TimestampTz)?,
        ColumnKind::Timestamp => temporal(temporal::read_timestamp_old(r)?, Value::TimestampTz)?,
        ColumnKind::Bit { bits } => {
            let bytes = r.take(usize::from(*bits).div_ceil(8))?;
            if *bits == 1 {
                Value::Bool(bytes.iter().any(|b| *b != 0))
            } else {
                // Stored big-endian; carried little-endian like Debezium's io.debezium.data.Bits.
                Value::Bytes(bytes.iter().rev().copied().collect())
            }
        }
        ColumnKind::Enum { pack, values } => {
            let idx = r.uint_le(usize::from(*pack))?;
            match idx {
                // Index 0 is the "invalid value" MySQL stores in non-strict mode: ''.
                0 => Value::Text(String::new()),
                i => Value::Text(
                    values
                        .get((i - 1) as usize)
                        .cloned()
                        .ok_or_else(|| format!("ENUM index {i} out of range ({} values)", values.len()))?,
                ),
            }
        }
        ColumnKind::Set { pack, values } => {
            let mask = r.uint_le(usize::from(*pack))?;
            let chosen: Vec<&str> = values
                .iter()
                .enumerate()
                .filter(|(i, _)| *i < 64 && mask & (1u64 << i) != 0)
                .map(|(_, v)| v.as_str())
                .collect();
            Value::Text(chosen.join(","))
        }
        ColumnKind::Char { max_bytes, charset } => {
            let len = if *max_bytes < 256 { r.u8()? as usize } else { r.uint_le(2)? as usize };
            let bytes = r.take(len)?;
            if charset.is_binary() {
                // The server strips BINARY(n)'s trailing zero padding from row images; the
                // stored (and selected) value is always n bytes.
                let mut v = bytes.to_vec();
                v.resize(v.len().max(usize::from(*max_bytes)), 0);
                Value::Bytes(v)
            } else {
                text_or_bytes(kind, bytes)?
            }
        }
        ColumnKind::VarChar { max_bytes, .. } => {
            let len = if *max_bytes < 256 { r.u8()? as usize } else { r.uint_le(2)? as usize };
            text_or_bytes(kind, r.take(len)?)?
        }
        ColumnKind::Blob { len_bytes, json, .. } => {
            let len = usize::try_from(r.uint_le(usize::from(*len_bytes))?).map_err(|_| "length overflow")?;
            let bytes = r.take(len)?;
            match text_or_bytes(kind, bytes)? {
                Value::Text(t) if *json => Value::Json(t),
                v => v,
            }
        }
        ColumnKind::Json { len_bytes } => {
            let len = usize::try_from(r.uint_le(usize::from(*len_bytes))?).map_err(|_| "length overflow")?;
            Value::Json(jsonb::to_text(r.take(len)?)?)
        }
        ColumnKind::Geometry { len_bytes, .. } => {
            let len = usize::try_from(r.uint_le(usize::from(*len_bytes))?).map_err(|_| "length overflow")?;
            let bytes = r.take(len)?;
            // The first 4 bytes are the SRID; the rest is standard WKB.
            Value::Bytes(bytes.get(4..).ok_or("geometry value shorter than its SRID")?.to_vec())
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;

    use sluice_core::{Column, TableId, TableSchema};

    use super::*;
    use crate::charset::Charset;

    fn table(kinds: Vec<ColumnKind>) -> TrackedTable {
        let columns = kinds
            .iter()
            .enumerate()
            .map(|(i, k)| Column::new(format!("c{i}"), k.data_type(), k.source_type(), true))
            .collect();
        TrackedTable {
            schema: Arc::new(TableSchema { id: TableId::new("d", "t"), columns, key: vec![], version: 1 }),
            kinds,
        }
    }

    #[test]
    fn integers_signed_and_unsigned() {
        let t = table(vec![
            ColumnKind::Int { bytes: 1, unsigned: false },
            ColumnKind::Int { bytes: 1, unsigned: true },
            ColumnKind::Int { bytes: 3, unsigned: false },
            ColumnKind::Int { bytes: 4, unsigned: true },
            ColumnKind::Int { bytes: 8, unsigned: true },
            ColumnKind::Int { bytes: 8, unsigned: false },
        ]);
        let mut img = vec![0u8]; // no NULLs
        img.push(0x80);
        img.push(0xff);
        img.extend_from_slice(&[0xff, 0x7f, 0xff]);
        img.extend_from_slice(&u32::MAX.to_le_bytes());
        img.extend_from_slice(&u64::MAX.to_le_bytes());
        img.extend_from_slice(&i64::MIN.to_le_bytes());
        let row = decode_image(&t, &[true; 6], &mut Reader::new(&img), ZeroDateRule::Null).unwrap();
        assert_eq!(
            row,
            vec![
                Value::Int16(-128),
                Value::Int16(255),
                Value::Int32(-32769),
                Value::Int64(4_294_967_295),
                Value::UInt64(u64::MAX),
                Value::Int64(i64::MIN),
            ]
        );
    }

    #[test]
    fn nulls_absent_columns_and_strings() {
        let latin1 = Charset::new("latin1", 1);
        let t = table(vec![
            ColumnKind::VarChar { max_bytes: 20, charset: latin1 },
            ColumnKind::Int { bytes: 4, unsigned: false },
            ColumnKind::Enum { pack: 1, values: vec!["a".into(), "b".into()] },
            ColumnKind::Set { pack: 1, values: vec!["x".into(), "y".into(), "z".into()] },
            ColumnKind::Bit { bits: 12 },
        ]);
        // Present: 0, 2, 3, 4 (column 1 absent). NULL bitmap over present columns: none.
        let mut img = vec![0u8];
        img.extend_from_slice(&[2, 0x80, b'e']);
        img.push(2);
        img.push(0b101);
        img.extend_from_slice(&[0x0a, 0xbc]);
        let row =
            decode_image(&t, &[true, false, true, true, true], &mut Reader::new(&img), ZeroDateRule::Null)
                .unwrap();
        assert_eq!(
            row,
            vec![
                Value::Text("€e".into()),
                Value::Unchanged,
                Value::Text("b".into()),
                Value::Text("x,z".into()),
                Value::Bytes(vec![0xbc, 0x0a]),
            ]
        );
        // All present, first NULL.
        let img = [0b1u8, 1, 0, 0, 0, 1, 0, 0x01, 0x00];
        let row = decode_image(&t, &[true; 5], &mut Reader::new(&img), ZeroDateRule::Null).unwrap();
        assert_eq!(row[0], Value::Null);
        assert_eq!(row[1], Value::Int32(1));
        // Truncated image is an error, not a panic.
        assert!(decode_image(&t, &[true; 5], &mut Reader::new(&img[..4]), ZeroDateRule::Null).is_err());
    }

    #[test]
    fn zero_dates_follow_the_rule() {
        let k = ColumnKind::Date;
        assert_eq!(zero_value(&k, true, ZeroDateRule::Null).unwrap(), Value::Null);
        assert_eq!(zero_value(&k, false, ZeroDateRule::Null).unwrap(), Value::Date(0));
        assert_eq!(zero_value(&k, true, ZeroDateRule::Epoch).unwrap(), Value::Date(0));
        assert!(zero_value(&k, true, ZeroDateRule::Error).is_err());
        assert_eq!(
            zero_value(&ColumnKind::Timestamp2 { fsp: 0 }, false, ZeroDateRule::Null).unwrap(),
            Value::TimestampTz(0)
        );
    }
}
